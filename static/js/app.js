// The portal's only script, for what an htmx swap changes and for the warning before a session
// ends; everything works without it.
// After a swap that answers a click or a submitted form, focus moves to the new content (what
// is marked data-focus, such as a form's error, else its heading), so keyboard and
// screen-reader users land where the page changed.
// Swaps nobody clicked for leave focus alone: a search that runs as its field is typed in
// would take the field away mid-word, and a page that polls would pull focus back each time.
// On settle, not on swap: htmx wires up the new content's forms and links only when it
// settles, and an Enter pressed before that would submit the form without htmx.
document.addEventListener("htmx:afterSettle", function (event) {
  var config = event.detail.requestConfig;
  var cause = config && config.triggeringEvent;
  if (!cause || (cause.type !== "click" && cause.type !== "submit")) {
    return;
  }
  var target = event.detail.target;
  if (target && !target.isConnected) {
    // An outerHTML swap replaced the target: the new element has its id (the event itself
    // may fire on an element above it).
    target = (target.id && document.getElementById(target.id)) || event.target;
  }
  if (!target || target.id === "flashes") {
    return;
  }
  var focusable = markedFor(target) || target.querySelector("h1, h2") || target;
  if (!focusable.hasAttribute("tabindex")) {
    focusable.setAttribute("tabindex", "-1");
  }
  focusable.focus({ preventScroll: false });
});

// The element marked data-focus for a swap of `target`. A mark inside a block that swaps on
// its own (the payments list, the documents' results: some hx-target names its id) is for
// that block's filter and pager: when a whole contract tab comes in, the Payments tab's
// "3 payments" line under the balance would scroll a phone past the balance and the tabs.
function markedFor(target) {
  var marks = target.querySelectorAll("[data-focus]");
  for (var i = 0; i < marks.length; i++) {
    var node = marks[i].parentElement;
    while (node && node !== target && !swapsOnItsOwn(node)) {
      node = node.parentElement;
    }
    if (!node || node === target) {
      return marks[i];
    }
  }
  return null;
}

function swapsOnItsOwn(element) {
  return (
    element.id !== "" &&
    document.querySelector('[data-hx-target="#' + CSS.escape(element.id) + '"]') !== null
  );
}

// A page loaded after a form was sent (post/redirect/get, or without htmx) says what happened
// in its message at the top, which a live region does not announce when the page arrives with
// it. Focus goes to the message, so that it is read out and the next Tab goes on from there;
// a page that has put focus elsewhere already (a form's first error) keeps it.
(function () {
  var message = document.querySelector("#flashes .flash");
  if (!message || (document.activeElement && document.activeElement !== document.body)) {
    return;
  }
  if (document.querySelector("[autofocus]")) {
    return;
  }
  message.setAttribute("tabindex", "-1");
  message.focus({ preventScroll: true });
})();

// Forms that bring the customer back to the page they were on (the language, resending the
// confirmation) carry its address. When htmx has changed the address in place (a contract
// tab, a page of a list), that is the new address, not the one the page was loaded with.
document.addEventListener("htmx:pushedIntoHistory", function () {
  document.querySelectorAll("input[data-current-address]").forEach(function (input) {
    input.value = location.pathname + location.search;
  });
});

// The Back button within addresses htmx pushed has htmx fetch the page again (base.html keeps
// no history cache) and put its body in place. When the session has ended meanwhile, the
// answer is the way to sign-in (204 and HX-Redirect), which htmx does not follow there: the
// page would go blank. It is followed here, as htmx follows it for any other request.
document.addEventListener("htmx:historyCacheMissLoad", function (event) {
  var redirect = event.detail.xhr.getResponseHeader("HX-Redirect");
  if (redirect) {
    location.href = redirect;
  }
});

var ACTIVITY = "lkapp-session-activity";
var SIGNED_OUT = "lkapp-signed-out";

// Signing out in one tab ends the session of every tab (one cookie): the page that says so
// tells the others, which leave the account's pages for sign-in at once instead of showing
// them, on a shared computer, to whoever comes next.
if (document.querySelector(".flash-signed-out")) {
  try {
    localStorage.setItem(SIGNED_OUT, String(Date.now()));
  } catch (error) {
    // storage refused (private mode): the other tabs find out at their next request
  }
}

// And signing in again in one tab takes the tabs that were sent to sign-in back to where
// they were: a page of the signed-in portal (it has the sign-out button), remembered session
// or not, tells the others that it loaded, and the sign-in page loads again, which the
// portal, signed in now, answers with its ?next=.
var SIGNED_IN = "lkapp-signed-in";
if (document.getElementById("sign-out-form")) {
  try {
    localStorage.setItem(SIGNED_IN, String(Date.now()));
  } catch (error) {
    // storage refused (private mode): the other tabs stay where they are
  }
}
if (document.getElementById("login-form")) {
  window.addEventListener("storage", function (event) {
    if (event.key === SIGNED_IN && event.newValue) {
      location.reload();
    }
  });
}

// The warning before the session ends (WCAG 2.2.1): two minutes before, a bar says so, and
// "Stay signed in" counts as activity; past the end it says the session has ended. Every
// request of this tab (htmx) or of another tab of the portal (through localStorage) that the
// session answered pushes the end back, to the session's absolute limit, which nothing extends.
(function () {
  // Looked up each time, never kept: the Back button within htmx's pushed addresses puts a
  // new body in place (htmx:historyRestore), and a bar kept from before would be a node no
  // longer in the page, shown to nobody.
  function bar() {
    return document.getElementById("session-warning");
  }
  if (!bar()) {
    return;
  }
  var WARN_BEFORE = 2 * 60 * 1000;
  var loaded = Date.now();
  var absoluteEnd = 0;
  var afterActivity = 0;
  var end = 0;
  var timer = null;
  var returnTo = null; // what had focus when the bar came up

  // The page's numbers count from when the server answered for it: from `at`.
  function read(warning, at) {
    absoluteEnd = at + Number(warning.dataset.absolute) * 1000;
    afterActivity = Number(warning.dataset.afterActivity) * 1000;
    end = at + Number(warning.dataset.left) * 1000;
  }

  // When the bar goes (or the part with the button, at the absolute limit or the end), the
  // button that had focus goes with it and focus would fall to the body, back at the top of
  // the page: it goes back to where the customer was when the bar came, else to the content.
  function giveFocusBack() {
    var back = returnTo;
    returnTo = null;
    var usable = back && back.isConnected && back !== document.body;
    if (usable && !back.closest("#session-warning")) {
      back.focus();
      if (document.activeElement === back) {
        return;
      }
    }
    var main = document.getElementById("main"); // focusable: tabindex -1, for the skip link
    if (main) {
      main.focus({ preventScroll: true });
    }
  }

  function show(warning, state) {
    var focused = document.activeElement;
    var hadFocus = focused && focused !== document.body && warning.contains(focused);
    if (state !== null && warning.hidden) {
      returnTo = focused;
    }
    warning.querySelectorAll("[data-session-state]").forEach(function (part) {
      part.hidden = part.dataset.sessionState !== state;
    });
    warning.hidden = state === null;
    if (hadFocus) {
      var part = focused.closest("[data-session-state]");
      if (warning.hidden || (part && part.hidden)) {
        giveFocusBack();
      }
    }
  }

  // The sign-in page, which brings the customer back to this page.
  function signInAndBack(link) {
    return link.pathname + "?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function check() {
    clearTimeout(timer);
    var warning = bar();
    if (!warning) {
      return; // a page brought back without the bar: nothing to say on it
    }
    var now = Date.now();
    if (now >= end) {
      var link = warning.querySelector("[data-sign-in]");
      link.href = signInAndBack(link);
      show(warning, "ended");
      return;
    }
    if (now >= end - WARN_BEFORE) {
      show(warning, end >= absoluteEnd ? "absolute" : "idle");
      timer = setTimeout(check, end - now);
    } else {
      show(warning, null);
      timer = setTimeout(check, end - WARN_BEFORE - now);
    }
  }

  function activity(at) {
    end = Math.min(at + afterActivity, absoluteEnd);
    check();
  }

  function tellOtherTabs(at) {
    try {
      localStorage.setItem(ACTIVITY, String(at));
    } catch (error) {
      // storage refused (private mode): other tabs just do not hear of it
    }
  }

  // Only an answer the session gave counts: not one that never reached the server (status 0),
  // nor a refusal or a fault (4xx, 5xx, a form's 422 too), which need not have passed through
  // the session, nor the way to sign-in of a session that has ended. The app answers htmx with
  // that as 204 and HX-Redirect, which the status alone would count; any HX-Redirect or
  // HX-Refresh replaces the whole page, and the page that comes tells this tab and the others
  // itself if the session is alive (sign-out's or sign-in's has no bar and tells nothing). A
  // redirect that the request followed to the sign-in page is 200 at its end: its address
  // tells. Counting too little only brings the bar early; too much would hide an ended session.
  function answeredInSession(xhr, warning) {
    if (!xhr || xhr.status < 200 || xhr.status >= 400) {
      return false;
    }
    if (xhr.getResponseHeader("HX-Redirect") || xhr.getResponseHeader("HX-Refresh")) {
      return false;
    }
    var signIn = warning.querySelector("[data-sign-in]");
    var answeredBy = xhr.responseURL ? new URL(xhr.responseURL) : null;
    return !(answeredBy && signIn && answeredBy.pathname === signIn.pathname);
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var warning = bar();
    if (!warning || !answeredInSession(event.detail.xhr, warning)) {
      return;
    }
    var at = Date.now();
    activity(at);
    tellOtherTabs(at);
  });

  document.addEventListener("htmx:historyRestore", function (event) {
    var warning = bar();
    if (warning && event.detail.cacheMiss) {
      // htmx asked the server for the page just now (base.html keeps no history cache): its
      // numbers are the server's word on the session, as on a page load, and the request was
      // one of the session's like any other.
      var at = Date.now();
      read(warning, at);
      tellOtherTabs(at);
    }
    // From htmx's history cache, the numbers are those of when the page was first loaded;
    // counted from now they would put the end later than it is by all the time since, and
    // could call an ended session alive. The tab's own reckoning is kept: it has counted
    // every request of this tab and of the others since.
    check();
  });

  window.addEventListener("storage", function (event) {
    if (event.key === ACTIVITY && event.newValue) {
      activity(Number(event.newValue));
    }
    var warning = bar();
    if (event.key === SIGNED_OUT && event.newValue && warning) {
      location.replace(signInAndBack(warning.querySelector("[data-sign-in]")));
    }
  });
  // A hidden tab's timers may run late: look again when it is shown.
  document.addEventListener("visibilitychange", check);
  read(bar(), loaded);
  tellOtherTabs(loaded);
  check();
})();

// Attachments over what the server takes in one request (the 413 answer, from the app or from
// nginx in front of it) would replace the form, and what the customer typed with it. A file
// input that says how much it may carry (data-max-total, in bytes, for its files together) is
// checked when files are chosen and again before the form goes: too much, and the message
// (data-too-large) stands beside the field and nothing is sent. Without JavaScript the server
// answers as before.
function tooLargeMessage(input) {
  return input.dataset.tooLarge || "";
}

function chosenBytes(input) {
  var total = 0;
  Array.prototype.forEach.call(input.files || [], function (file) {
    total += file.size;
  });
  return total;
}

function filesTooLarge(input) {
  var limit = Number(input.dataset.maxTotal);
  return limit > 0 && chosenBytes(input) > limit;
}

// The message in the field's own error paragraph (the one the server would fill), so that
// the input's aria-describedby reads it; taken away again when the choice fits.
function showFileError(input, message) {
  var field = input.closest(".field") || input.parentElement;
  var id = input.id + "-error";
  var error = document.getElementById(id);
  if (!message) {
    if (error && error.hasAttribute("data-client-error")) {
      error.remove();
      field.classList.remove("has-error");
      input.setAttribute("aria-invalid", "false");
      var rest = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (part) {
        return part && part !== id;
      });
      if (rest.length) {
        input.setAttribute("aria-describedby", rest.join(" "));
      } else {
        input.removeAttribute("aria-describedby");
      }
    }
    return;
  }
  if (!error) {
    error = document.createElement("p");
    error.className = "error";
    error.id = id;
    field.appendChild(error);
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.push(id);
    input.setAttribute("aria-describedby", described.join(" "));
  }
  error.setAttribute("data-client-error", "");
  error.setAttribute("role", "alert");
  error.textContent = message;
  field.classList.add("has-error");
  input.setAttribute("aria-invalid", "true");
}

document.addEventListener("change", function (event) {
  var input = event.target;
  if (input.type === "file") {
    showFileError(input, filesTooLarge(input) ? tooLargeMessage(input) : "");
  }
});

// In the capture phase, before htmx hears of the submit: a refused form is neither posted by
// htmx nor by the browser.
document.addEventListener(
  "submit",
  function (event) {
    var form = event.target;
    var refused = Array.prototype.filter.call(
      form.querySelectorAll("input[type=file][data-max-total]"),
      filesTooLarge
    );
    if (!refused.length) {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    refused.forEach(function (input) {
      showFileError(input, tooLargeMessage(input));
    });
    refused[0].focus();
  },
  true
);

// Where no limit was said, or the server's is smaller: a 413 answer to a form with files
// leaves the form as it is, with the message beside its files, instead of replacing it.
document.addEventListener("htmx:beforeSwap", function (event) {
  var form = event.detail.elt;
  if (event.detail.xhr.status !== 413 || !form || !form.querySelectorAll) {
    return;
  }
  var inputs = Array.prototype.filter.call(
    form.querySelectorAll("input[type=file]"),
    function (input) {
      return input.files && input.files.length && tooLargeMessage(input);
    }
  );
  if (!inputs.length) {
    return;
  }
  event.detail.shouldSwap = false;
  event.detail.isError = false; // answered: not a fault to log
  inputs.forEach(function (input) {
    showFileError(input, tooLargeMessage(input));
  });
  inputs[0].focus();
});

// A form the customer typed into (a question, a reply, readings, the profile) that the server
// could not take stays as it was typed. Its session may have ended: the answer is the way to
// sign-in (HX-Redirect), which would leave the page. Or its CSRF token went stale (400): a
// sign-out or a sign-in in another tab starts a new session, and with it a new token; the
// error page would replace the main area. Either answer carries a note (a <template
// data-form-kept>, lkapp/main/errors.py), which goes beside the form's buttons instead; a form
// with nothing typed in it follows the answer as before.
function keptNote(xhr) {
  var type = xhr.getResponseHeader("Content-Type") || "";
  if (type.indexOf("text/html") !== 0 || !xhr.responseText) {
    return null;
  }
  var answer = new DOMParser().parseFromString(xhr.responseText, "text/html");
  return answer.querySelector("template[data-form-kept]");
}

function typedInto(form) {
  return Array.prototype.some.call(form.elements, function (field) {
    if (field.tagName === "TEXTAREA") {
      return field.value.trim() !== "";
    }
    if (field.tagName !== "INPUT") {
      return false;
    }
    if (field.type === "file") {
      return Boolean(field.files && field.files.length);
    }
    var typedKind = /^(text|email|tel|number|search|url|password)$/.test(field.type);
    return typedKind && field.value.trim() !== "";
  });
}

document.addEventListener("htmx:beforeOnLoad", function (event) {
  var form = event.detail.elt;
  var xhr = event.detail.xhr;
  if (!form || form.tagName !== "FORM" || !form.closest("#main")) {
    return;
  }
  var signIn = xhr.status === 200 && xhr.getResponseHeader("HX-Redirect");
  if (xhr.status !== 400 && !signIn) {
    return;
  }
  var template = keptNote(xhr);
  if (!template || !typedInto(form)) {
    return;
  }
  event.preventDefault(); // neither the sign-in page nor the error page: the form stays
  // The page was a signed-in account's (it has the sign-out button), and the answer was not.
  var signedOut =
    template.dataset.signedIn !== "true" && document.getElementById("sign-out-form") !== null;
  var note = document.importNode(template.content, true).firstElementChild;
  note.querySelectorAll("[data-kept]").forEach(function (part) {
    part.hidden = part.dataset.kept !== (signedOut ? "signed-out" : "expired");
  });
  var before = form.querySelector(".form-kept");
  if (before) {
    before.remove();
  }
  var actions = form.querySelector(".actions");
  form.insertBefore(note, actions && actions.parentElement === form ? actions : null);
  form.setAttribute("data-token-stale", "");
  note.focus();
});

// Sent again, such a form first takes the current token of the session (signed in again in
// another tab, that is a new one) from the page as the server gives it now.
document.addEventListener("htmx:confirm", function (event) {
  var form = event.detail.elt;
  if (!form || !form.hasAttribute || !form.hasAttribute("data-token-stale")) {
    return;
  }
  event.preventDefault();
  form.removeAttribute("data-token-stale");
  function send() {
    event.detail.issueRequest(true);
  }
  fetch(location.href, { credentials: "same-origin", cache: "no-store" })
    .then(function (response) {
      return response.text();
    })
    .then(function (html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var token = JSON.parse(page.body.getAttribute("data-hx-headers") || "{}")["X-CSRFToken"];
      if (token) {
        useToken(token);
      }
    })
    .then(send, send);
});

function useToken(token) {
  var headers = JSON.parse(document.body.getAttribute("data-hx-headers") || "{}");
  headers["X-CSRFToken"] = token;
  document.body.setAttribute("data-hx-headers", JSON.stringify(headers));
  document.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
    input.value = token;
  });
}

// A form that writes is sent once at a time: a double click had htmx queue a second copy and
// send it after the first answer (the server answers such a copy as the first, but the page
// could show the copy's answer). Forms that only read (filters) keep htmx's own way: the
// latest values win.
document.addEventListener("htmx:beforeSend", function (event) {
  if (writes(event.detail.elt)) {
    event.detail.elt.setAttribute("data-sending", "");
  }
});
document.addEventListener("htmx:afterRequest", function (event) {
  if (writes(event.detail.elt)) {
    event.detail.elt.removeAttribute("data-sending");
  }
});
document.addEventListener("htmx:confirm", function (event) {
  var form = event.detail.elt;
  if (writes(form) && form.hasAttribute("data-sending")) {
    event.preventDefault();
  }
});

function writes(elt) {
  var method = elt && elt.tagName === "FORM" ? elt.getAttribute("method") || "" : "";
  return method.toLowerCase() === "post";
}
