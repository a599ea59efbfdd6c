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
  // The theme toggle: flips between light and dark and remembers the choice (theme.js reads
  // it on every page). Choosing what the OS already says forgets the choice, so the page
  // follows the OS again.
  var os = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function effective() {
    var chosen = document.documentElement.getAttribute("data-theme");
    if (chosen === "dark" || chosen === "light") return chosen;
    return os && os.matches ? "dark" : "light";
  }
  function show(button) {
    var dark = effective() === "dark";
    button.setAttribute("aria-pressed", dark ? "true" : "false");
    button.textContent = dark ? "☾ Dark" : "☀ Light";
    button.title = dark ? "Dark theme (click for light)" : "Light theme (click for dark)";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.hidden = false;
    show(button);
    button.addEventListener("click", function () {
      var next = effective() === "dark" ? "light" : "dark";
      var osTheme = os && os.matches ? "dark" : "light";
      try {
        if (next === osTheme) window.localStorage.removeItem("anomstack-theme");
        else window.localStorage.setItem("anomstack-theme", next);
      } catch (e) {
        // Not remembered; this page still changes.
      }
      if (next === osTheme) document.documentElement.removeAttribute("data-theme");
      else document.documentElement.setAttribute("data-theme", next);
      show(button);
    });
    if (os && os.addEventListener) os.addEventListener("change", function () { show(button); });
  });
})();
