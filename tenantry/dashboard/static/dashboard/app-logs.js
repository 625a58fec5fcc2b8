// Follow an instance's app logs: long-poll the page's follow URL with the last cursor and append
// what arrives (text only, never HTML). Stops while the "Follow live" box is unticked.
(function () {
  "use strict";
  function start() {
    var log = document.getElementById("app-log");
    var box = document.getElementById("logs-follow");
    var state = document.getElementById("logs-state");
    if (!log || !box) { return; }
    var cursor = log.dataset.cursor || "0";
    var running = false;

    function say(key) { state.textContent = state.dataset[key] || ""; }

    function append(lines) {
      var empty = log.querySelector(".log-empty");
      if (empty && lines.length) { empty.remove(); }
      var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      lines.forEach(function (line) {
        var row = document.createElement("span");
        row.className = "log-line";
        row.dataset.service = line.service;
        var meta = document.createElement("span");
        meta.className = "muted";
        meta.textContent = line.at + " " + line.service;
        row.appendChild(meta);
        row.appendChild(document.createTextNode(" " + line.text + "\n"));
        log.appendChild(row);
      });
      // Keep the page light: the last 2000 lines stay.
      var rows = log.querySelectorAll(".log-line");
      for (var i = 0; i < rows.length - 2000; i++) { rows[i].remove(); }
      if (atBottom) { log.scrollTop = log.scrollHeight; }
    }

    function poll() {
      if (!box.checked) { running = false; say("paused"); return; }
      running = true;
      say("following");
      var url = log.dataset.followUrl + "?after=" + encodeURIComponent(cursor) +
        "&service=" + encodeURIComponent(log.dataset.service || "");
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) {
          cursor = body.cursor || cursor;
          append(body.lines || []);
          setTimeout(poll, 200);
        })
        .catch(function () { say("failed"); setTimeout(poll, 3000); });
    }

    box.addEventListener("change", function () { if (box.checked && !running) { poll(); } });
    log.scrollTop = log.scrollHeight;
    poll();
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
