// Fjord Console: refreshes a page's live region by fetching the same URL
// with ?fragment=1 (server-rendered HTML) every data-live milliseconds,
// while the tab is visible and the "live" box is checked.
(function () {
  "use strict";
  var region = document.getElementById("live");
  var toggle = document.getElementById("live-toggle");
  if (!region || !region.dataset.live) { return; }
  var period = parseInt(region.dataset.live, 10) || 2000;
  var busy = false;
  function fragmentURL() {
    var u = new URL(window.location.href);
    u.searchParams.delete("ok");
    u.searchParams.set("fragment", "1");
    return u.toString();
  }
  function refresh() {
    if (busy || document.hidden || (toggle && !toggle.checked)) { return; }
    busy = true;
    fetch(fragmentURL(), { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        region.innerHTML = html;
        region.classList.remove("stale");
        region.dataset.refreshed = String((parseInt(region.dataset.refreshed, 10) || 0) + 1);
      })
      .catch(function () { region.classList.add("stale"); })
      .finally(function () { busy = false; });
  }
  window.setInterval(refresh, period);
})();
