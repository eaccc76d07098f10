// The portal's only script: after an htmx swap, move focus to the new content so keyboard
// and screen-reader users land where the page changed. Everything works without it.
// On settle, not on swap: htmx wires up the new content's forms and links only when it
// settles, and an Enter pressed before that would submit the form without htmx.
document.addEventListener("htmx:afterSettle", function (event) {
  var target = event.detail.target;
  if (target && !target.isConnected) {
    // An outerHTML swap replaced the target: the new element is where the event fired.
    target = event.target;
  }
  if (!target || target.id === "flashes") {
    return;
  }
  var heading = target.querySelector("h1, h2, [data-focus]");
  var focusable = heading || target;
  if (!focusable.hasAttribute("tabindex")) {
    focusable.setAttribute("tabindex", "-1");
  }
  focusable.focus({ preventScroll: false });
});
