// Payouts console: the only script. Pages work without it; it adds live
// refresh to elements that ask for it with data-refresh="URL".
(function () {
  "use strict";
  function refresh(el) {
    var url = el.getAttribute("data-refresh");
    if (!url) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById(el.id);
        if (fresh) { el.replaceWith(fresh); }
      })
      .catch(function () {});
  }
  window.setInterval(function () {
    document.querySelectorAll("[data-refresh][id]").forEach(refresh);
  }, 2000);
})();
