// The sandbox phone's chat: scrolled to the newest message, and refreshed
// every 3 s as new messages arrive (a real phone is pushed them).
(function () {
  "use strict";
  window.scrollTo(0, document.body.scrollHeight);
  setInterval(function () {
    fetch(location.href, { cache: "no-store" }).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("messages");
      var cur = document.getElementById("messages");
      if (fresh && cur && fresh.innerHTML !== cur.innerHTML) {
        cur.replaceWith(fresh);
        window.scrollTo(0, document.body.scrollHeight);
      }
    }).catch(function () {});
  }, 3000);
})();
