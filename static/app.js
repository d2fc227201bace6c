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
  // #live announces to screen readers; the same text twice in a row is
  // said once.
  var lastSaid = "";
  function announce(text) {
    var live = document.getElementById("live");
    if (!live || !text || text === lastSaid) return;
    lastSaid = text;
    live.textContent = text;
  }

  // data-busy="正在…" on an element that issues an htmx request (a button
  // with hx-post, a boosted form): say what is being done while it runs.
  // hx-disabled-elt disables the button and the spinner (.htmx-indicator)
  // shows; this adds the words.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var busy = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest("[data-busy]");
    if (busy) announce(busy.getAttribute("data-busy"));
  });

  // data-announce="…" on swapped-in content: say it once it settles
  // (progress, a binding that completed).
  document.addEventListener("htmx:afterSettle", function (e) {
    var root = e.detail.elt;
    if (!root || !root.querySelectorAll) return;
    var el = root.matches && root.matches("[data-announce]") ? root : root.querySelector("[data-announce]");
    if (el) announce(el.getAttribute("data-announce"));
  });

  // Polling pages (hx-trigger="every …") keep polling when the server is
  // unreachable: say so, and take the message away once a poll succeeds.
  // A proxy's 5xx page is not swapped over the poller, which would end
  // the polling.
  function isPoller(detail) {
    // The element that asked: after an outerHTML swap htmx reports the
    // request's end on an ancestor, the poller being gone.
    var elt = (detail.requestConfig && detail.requestConfig.elt) || detail.elt;
    return !!(elt && elt.getAttribute && /(^|,)\s*every\s/.test(elt.getAttribute("hx-trigger") || ""));
  }
  function connection(lost) {
    var box = document.getElementById("conn-status");
    if (!box) return;
    if (lost) {
      if (box.hidden) {
        box.textContent = "连接中断，正在重试…";
        box.hidden = false;
      }
    } else if (!box.hidden) {
      box.hidden = true;
      box.textContent = "";
      announce("已重新连接。");
    }
  }
  document.addEventListener("htmx:sendError", function (e) {
    if (isPoller(e.detail)) connection(true);
  });
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (isPoller(e.detail) && xhr && (xhr.status === 0 || xhr.status >= 500) && !xhr.getResponseHeader("HX-Retarget")) {
      e.detail.shouldSwap = false;
      connection(true);
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    if (isPoller(e.detail) && e.detail.successful) connection(false);
  });

  // Live-checked forms (compose): the server checks the whole form as it
  // changes and fills each [data-field]'s .field-error; a field's error
  // shows (app.css) and marks its controls aria-invalid only once the
  // admin has touched that field.
  function touch(e) {
    var field = e.target.closest && e.target.closest("[data-field]");
    if (field && !field.hasAttribute("data-touched")) {
      field.setAttribute("data-touched", "");
      markInvalid();
    }
  }
  document.addEventListener("input", touch);
  document.addEventListener("change", touch);
  function markInvalid() {
    document.querySelectorAll("[data-field]").forEach(function (field) {
      var err = field.querySelector(".field-error");
      var bad = field.hasAttribute("data-touched") && !!err && err.textContent.trim() !== "";
      field.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (c) {
        if (bad) c.setAttribute("aria-invalid", "true");
        else c.removeAttribute("aria-invalid");
      });
    });
  }
  document.addEventListener("htmx:oobAfterSwap", markInvalid);
  document.addEventListener("htmx:afterSwap", markInvalid);
  document.addEventListener("DOMContentLoaded", markInvalid);
})();
