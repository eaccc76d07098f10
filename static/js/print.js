// The document page's Print button: shown only when this script runs (without JavaScript the
// page says to use the browser's Print command instead). The print stylesheet in app.css does
// the rest.
document.querySelectorAll("[data-print-hint]").forEach(function (hint) {
  hint.hidden = true;
});
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
});
