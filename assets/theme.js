// anomstack: applies the visitor's theme before the page paints (loaded without defer, from
// the head). The choice lives in localStorage, so it holds on every page, the admin panel
// included; with no choice the OS's light/dark setting rules (see app.css). A link with
// ?theme=dark or ?theme=light makes that the choice.
(function () {
  "use strict";
  var root = document.documentElement;
  try {
    var asked = new URLSearchParams(window.location.search).get("theme");
    if (asked === "dark" || asked === "light") window.localStorage.setItem("anomstack-theme", asked);
    var stored = window.localStorage.getItem("anomstack-theme");
    if (stored === "dark" || stored === "light") root.setAttribute("data-theme", stored);
  } catch (e) {
    // Storage refused (private mode): the server's data-theme or the OS setting stays.
  }
})();
