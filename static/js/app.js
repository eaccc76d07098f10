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
    // An outerHTML swap replaced the target: the new element is where the event fired.
    target = event.target;
  }
  if (!target || target.id === "flashes") {
    return;
  }
  var focusable =
    target.querySelector("[data-focus]") || target.querySelector("h1, h2") || target;
  if (!focusable.hasAttribute("tabindex")) {
    focusable.setAttribute("tabindex", "-1");
  }
  focusable.focus({ preventScroll: false });
});

// Forms that bring the customer back to the page they were on (the language, resending the
// confirmation) carry its address. When htmx has changed the address in place (a contract
// tab, a page of a list), that is the new address, not the one the page was loaded with.
document.addEventListener("htmx:pushedIntoHistory", function () {
  document.querySelectorAll("input[data-current-address]").forEach(function (input) {
    input.value = location.pathname + location.search;
  });
});

// The warning before the session ends (WCAG 2.2.1): two minutes before, a bar says so, and
// "Stay signed in" counts as activity; past the end it says the session has ended. Every
// request of this tab (htmx) or of another tab of the portal (through localStorage) pushes
// the end back, to the session's absolute limit, which nothing extends.
(function () {
  var warning = document.getElementById("session-warning");
  if (!warning) {
    return;
  }
  var WARN_BEFORE = 2 * 60 * 1000;
  var ACTIVITY = "lkapp-session-activity";
  var loaded = Date.now();
  var absoluteEnd = loaded + Number(warning.dataset.absolute) * 1000;
  var afterActivity = Number(warning.dataset.afterActivity) * 1000;
  var end = loaded + Number(warning.dataset.left) * 1000;
  var timer = null;

  function show(state) {
    warning.querySelectorAll("[data-session-state]").forEach(function (part) {
      part.hidden = part.dataset.sessionState !== state;
    });
    warning.hidden = state === null;
  }

  function check() {
    clearTimeout(timer);
    var now = Date.now();
    if (now >= end) {
      var back = location.pathname + location.search;
      var link = warning.querySelector("[data-sign-in]");
      link.href = link.pathname + "?next=" + encodeURIComponent(back);
      show("ended");
      return;
    }
    if (now >= end - WARN_BEFORE) {
      show(end >= absoluteEnd ? "absolute" : "idle");
      timer = setTimeout(check, end - now);
    } else {
      show(null);
      timer = setTimeout(check, end - WARN_BEFORE - now);
    }
  }

  function activity(at) {
    end = Math.min(at + afterActivity, absoluteEnd);
    check();
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status === 0) {
      return; // it never reached the server
    }
    var at = Date.now();
    activity(at);
    try {
      localStorage.setItem(ACTIVITY, String(at));
    } catch (error) {
      // storage refused (private mode): other tabs just do not hear of it
    }
  });
  window.addEventListener("storage", function (event) {
    if (event.key === ACTIVITY && event.newValue) {
      activity(Number(event.newValue));
    }
  });
  // A hidden tab's timers may run late: look again when it is shown.
  document.addEventListener("visibilitychange", check);
  try {
    localStorage.setItem(ACTIVITY, String(loaded));
  } catch (error) {
    // as above
  }
  check();
})();
