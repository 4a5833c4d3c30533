/* Live refresh for the service page: every few seconds, fetch /services/{id}/live.json and swap in the
   page's live blocks (state in words, chart, top problems, regions, comments) without a reload.
   The blocks are HTML the server rendered from the page's own template, escaped there; nothing the
   visitor typed into the form is touched. Without this script the page is plain HTML and still works. */
(function () {
  "use strict";
  var root = document.querySelector("[data-live-url]");
  if (!root || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var seconds = parseInt(root.getAttribute("data-live-seconds"), 10) || 15;
  // Same language and time zone as the page the visitor asked for.
  var asked = new URLSearchParams(window.location.search);
  var query = new URLSearchParams();
  ["lang", "tz"].forEach(function (name) {
    if (asked.get(name)) {
      query.set(name, asked.get(name));
    }
  });
  var url = root.getAttribute("data-live-url") + (query.toString() ? "?" + query.toString() : "");
  var timer = null;

  function words(node) {
    return (node.textContent || "").replace(/\s+/g, " ").trim();
  }

  function swap(name, html) {
    var block = root.querySelector('[data-live-block="' + name + '"]');
    if (!block) {
      return;
    }
    var fresh = document.createElement("template");
    fresh.innerHTML = html;
    // Only when something a reader would notice changed: a polite live region then says it once.
    if (words(fresh.content) !== words(block)) {
      block.replaceChildren(fresh.content);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, seconds * 1000);
  }

  function tick() {
    if (document.hidden) {
      schedule();
      return;
    }
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("live update: HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        Object.keys(data.html || {}).forEach(function (name) {
          swap(name, data.html[name]);
        });
        root.setAttribute("data-live-updated", data.generated_at || "");
      })
      .catch(function () {
        /* Offline or the server is busy: keep what is shown and try again next time. */
      })
      .then(schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      tick();
    }
  });
  schedule();
})();
