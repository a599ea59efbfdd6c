// anomstack: the page behaviours that are not htmx attributes. They live here rather than in
// inline handlers so the Content-Security-Policy can forbid inline script and eval.
(function () {
  "use strict";
  // <select data-navigate>: choosing an option opens its value.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select instanceof HTMLSelectElement && select.hasAttribute("data-navigate") && select.value) {
      window.location.href = select.value;
    }
  });
  // An htmx request from an element with data-open-dialog="id" opens that dialog once it
  // succeeded (the expand buttons fill the dialog, then show it).
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail || {};
    var source = detail.elt;
    var id = source && source.getAttribute && source.getAttribute("data-open-dialog");
    if (!id || !detail.successful) return;
    var dialog = document.getElementById(id);
    if (dialog && typeof dialog.showModal === "function" && !dialog.open) dialog.showModal();
  });
})();
