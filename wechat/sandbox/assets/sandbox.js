// The sandbox's forms: a button says it is working from the click until
// the next page arrives (following waits for the app's reply; injected
// latency slows everything), and a second click does not post twice.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.getAttribute("data-busy") === "1") {
      e.preventDefault();
      return;
    }
    form.setAttribute("data-busy", "1");
    var btn = e.submitter;
    if (btn) {
      // Not disabled: a disabled submitter would drop its name=value
      // from the form being posted.
      btn.setAttribute("aria-disabled", "true");
      btn.classList.add("busy");
    }
  });
  // Back to a page kept in the back-forward cache: ready again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-busy]").forEach(function (f) { f.removeAttribute("data-busy"); });
    document.querySelectorAll(".btn.busy").forEach(function (b) {
      b.classList.remove("busy");
      b.removeAttribute("aria-disabled");
    });
  });
})();
