// wxpush's own page behaviour. Pages carry no inline script or event
// handler attributes (the Content-Security-Policy allows scripts from
// /static/ only), so the few that need one mark their elements with data
// attributes, handled here by delegation: swapped-in fragments work too.
(function () {
  "use strict";

  // data-confirm on a form or a submit button: ask before submitting.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var msg = form.getAttribute("data-confirm");
    var btn = e.submitter;
    if (!msg && btn) msg = btn.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  document.addEventListener("click", function (e) {
    // data-copy="#id": copy that element's text, then say whether it
    // worked in the box's .copy-result (a live region).
    var copy = e.target.closest("[data-copy]");
    if (copy) copyText(copy, document.querySelector(copy.getAttribute("data-copy")));
  });

  function copyText(button, src) {
    if (!src) return;
    var text = src.textContent.trim();
    var box = button.closest(".copy-box");
    var result = box && box.querySelector(".copy-result");
    var say = function (ok) {
      if (ok) button.textContent = "已复制";
      if (result) result.textContent = ok ? "已复制到剪贴板。" : "无法自动复制，请选中上面的文字后手动复制。";
    };
    // The selection fallback: pages served over plain http from another
    // host have no navigator.clipboard.
    var bySelection = function () {
      var range = document.createRange();
      range.selectNodeContents(src);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
      say(ok);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say(true); }, bySelection);
    } else {
      bySelection();
    }
  }

  // data-filter="selector" on a text input: show only the elements
  // matching selector whose text contains what is typed (any case).
  document.addEventListener("input", function (e) {
    var sel = e.target.getAttribute && e.target.getAttribute("data-filter");
    if (!sel) return;
    var q = e.target.value.trim().toLowerCase();
    document.querySelectorAll(sel).forEach(function (el) {
      el.hidden = q !== "" && !el.textContent.toLowerCase().includes(q);
    });
  });

  // data-tick-selects="#radio" on a container: ticking a checkbox inside it
  // selects that radio button (compose: ticking a user means "these users").
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (box.type !== "checkbox" || !box.checked) return;
    var area = box.closest("[data-tick-selects]");
    if (!area) return;
    var radio = document.querySelector(area.getAttribute("data-tick-selects"));
    if (radio) radio.checked = true;
  });
})();
