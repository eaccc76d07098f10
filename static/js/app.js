// The portal's only script, for what an htmx swap changes; everything works without it.
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
