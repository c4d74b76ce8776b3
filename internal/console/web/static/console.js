// Fjord Console: refreshes a page's live region by fetching the same URL
// with ?fragment=1 (server-rendered HTML) every data-live milliseconds,
// while the tab is visible and the "live" box is checked; and, on the
// message browser, runs the live tail: with the "Live tail" box checked
// an EventSource on the tail URL prepends each record's row (rendered by
// the server) to the table, until the box is unchecked or the server
// ends the stream.
(function () {
  "use strict";
  var region = document.getElementById("live");
  var toggle = document.getElementById("live-toggle");
  var tail = null; // the open EventSource, if any
  var maxTailRows = 500;

  function fragmentURL() {
    var u = new URL(window.location.href);
    u.searchParams.delete("ok");
    u.searchParams.set("fragment", "1");
    return u.toString();
  }

  if (region && region.dataset.live) {
    var period = parseInt(region.dataset.live, 10) || 2000;
    var busy = false;
    var refresh = function () {
      // While tailing, the tailed rows are the page: a refresh would drop them.
      if (busy || tail || document.hidden || (toggle && !toggle.checked)) { return; }
      busy = true;
      fetch(fragmentURL(), { headers: { "Accept": "text/html" }, cache: "no-store" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (tail) { return; } // the tail began meanwhile
          region.innerHTML = html;
          region.classList.remove("stale");
          region.dataset.refreshed = String((parseInt(region.dataset.refreshed, 10) || 0) + 1);
        })
        .catch(function () { region.classList.add("stale"); })
        .finally(function () { busy = false; });
    };
    window.setInterval(refresh, period);
  }

  function tailStatus(text) {
    var st = document.getElementById("tail-status");
    if (st) { st.textContent = text; }
  }

  function stopTail(text) {
    if (tail) { tail.close(); tail = null; }
    var box = document.getElementById("tail-toggle");
    if (box) { box.checked = false; }
    tailStatus(text);
  }

  function addRow(html) {
    var body = document.querySelector("#messages tbody");
    if (!body) { return; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    body.insertAdjacentHTML("afterbegin", html);
    if (body.firstElementChild) { body.firstElementChild.classList.add("tailed"); }
    while (body.rows.length > maxTailRows) { body.deleteRow(body.rows.length - 1); }
  }

  function startTail(url) {
    var received = 0;
    tail = new EventSource(url);
    tailStatus("connecting…");
    tail.addEventListener("ready", function (e) { tailStatus(e.data); });
    tail.addEventListener("record", function (e) {
      received++;
      addRow(e.data);
      tailStatus(received + " new records");
    });
    tail.addEventListener("dropped", function (e) { tailStatus(e.data); });
    tail.addEventListener("note", function (e) { tailStatus(e.data); });
    tail.addEventListener("end", function (e) { stopTail(e.data); });
    tail.onerror = function () {
      if (tail && tail.readyState === EventSource.CLOSED) {
        stopTail("the live tail failed: the topic or its partition may be gone, or the console stopped");
      } else {
        tailStatus("reconnecting…");
      }
    };
  }

  // The box may be re-rendered by a refresh: listen on the document.
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box || box.id !== "tail-toggle") { return; }
    if (box.checked && !tail) {
      startTail(box.dataset.url);
    } else if (!box.checked) {
      stopTail("");
    }
  });
  window.addEventListener("pagehide", function () { if (tail) { tail.close(); tail = null; } });
})();
