// signaldesk's own script: live updates from the event feed, decisions without a reload,
// and the equity chart. No inline script anywhere (the Content-Security-Policy forbids it);
// everything the server sends is inserted as the server rendered (and escaped) it.
(function () {
  "use strict";

  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var live = document.getElementById("live");

  function setLive(state) {
    if (live) {
      live.dataset.state = state;
      live.title = "live updates: " + state;
    }
  }

  function partUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("part", "1");
    url.hash = "";
    return url.toString();
  }

  function fetchHtml(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-Part": "1" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      if (response.status === 401 || response.redirected) {
        window.location.reload(); // signed out: the page goes to the sign-in form
        throw new Error("signed out");
      }
      return response.text();
    });
  }

  // ---- live parts: <section data-live="Kind Kind ..."> refetches the page's part (or its
  // data-src) on those kinds
  var pending = new Map();

  function refreshPart(section) {
    if (pending.has(section)) return;
    pending.set(section, setTimeout(function () {
      pending.delete(section);
      // A section may name its own source (data-src), when its page has another live part.
      fetchHtml(section.dataset.src || partUrl()).then(function (html) {
        // Keep what the reader has open (a body, an edit form) if nothing changed.
        if (section.innerHTML !== html) {
          section.innerHTML = html;
          drawCharts(section);
        }
      }).catch(function () {});
    }, 100));
  }

  // ---- approval cards: <article data-card="17"> is refetched on any event of signal 17
  function cardsBox() {
    return document.querySelector("[data-cards]");
  }

  function replaceCard(id, html) {
    var box = cardsBox();
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var card = holder.firstElementChild;
    if (!card) return;
    // A leg of an alert on several accounts answers with its alert's one card.
    var old = document.querySelector('[data-card="' + (card.dataset.card || id) + '"]');
    if (old) {
      // An edit form the reader is filling in stays as it is while the card is pending.
      var openEdit = old.querySelector("details.edit[open]");
      var stillPending = card.querySelector("details.edit");
      if (openEdit && stillPending) {
        stillPending.open = true;
        var typed = openEdit.querySelectorAll("input, select");
        var fresh = stillPending.querySelectorAll("input, select");
        for (var i = 0; i < typed.length && i < fresh.length; i++) {
          if (typed[i].name === fresh[i].name && typed[i].type !== "hidden") fresh[i].value = typed[i].value;
        }
      }
      old.replaceWith(card);
    } else if (box) {
      box.insertBefore(card, box.querySelector("[data-empty]"));
    }
    var empty = box && box.querySelector("[data-empty]");
    if (empty) empty.textContent = box.querySelector("[data-card]") ? "" : "Nothing awaits approval.";
    drawCharts(card);  // the card's chart, redrawn with the card
  }

  function refreshCard(id) {
    fetchHtml("/approvals/" + id + "/card").then(function (html) {
      replaceCard(id, html);
    }).catch(function () {});
  }

  function onEvent(event) {
    var id = event.signal_id;
    if (id != null) {
      var known = document.querySelector('[data-card="' + id + '"], [data-legs~="' + id + '"]');
      if (known || (event.kind === "ApprovalRequested" && cardsBox())) refreshCard(id);
    }
    document.querySelectorAll("[data-live]").forEach(function (section) {
      var kinds = section.dataset.live.split(/\s+/);
      if (kinds.indexOf(event.kind) < 0) return;
      if (section.dataset.signal && String(id) !== section.dataset.signal) return;
      refreshPart(section);
    });
  }

  function connect() {
    var seq = document.body.dataset.seq;
    if (seq === undefined || !window.EventSource) return;
    var stream = new EventSource("/api/events/stream?after=" + encodeURIComponent(seq));
    stream.onopen = function () { setLive("open"); };
    stream.onerror = function () { setLive(stream.readyState === EventSource.CLOSED ? "closed" : "reconnecting"); };
    stream.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      document.body.dataset.seq = String(event.seq);
      onEvent(event);
    };
  }

  // ---- live cards: each pending card's countdown ticks here every second (from the seconds
  // left when the card was drawn, so the browser's clock does not matter); the quote and its
  // drift come from /approvals/live every data-live-every seconds (docs/web.md)
  function leftWords(seconds) {
    seconds = Math.floor(seconds);
    if (seconds <= 0) return "expiring";
    var hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60), rest = seconds % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return hours ? hours + "h " + two(minutes) + "m left" : minutes + "m " + two(rest) + "s left";
  }

  function tickCountdowns() {
    document.querySelectorAll("[data-left]").forEach(function (el) {
      if (!el.dataset.deadline) el.dataset.deadline = String(Date.now() + Number(el.dataset.left) * 1000);
      el.textContent = leftWords((Number(el.dataset.deadline) - Date.now()) / 1000);
    });
  }

  function refreshLiveCards() {
    if (!document.querySelector("[data-card] [data-quote]")) return;  // nothing pending on the page
    fetch("/approvals/live", { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (answer) {
      if (!answer) return;
      answer.cards.forEach(function (live) {
        var card = document.querySelector('[data-card="' + live.signal_id + '"]');
        if (!card) return;
        var quote = card.querySelector("[data-quote]");
        var drift = card.querySelector("[data-drift]");
        var left = card.querySelector("[data-left]");
        if (quote) quote.textContent = live.quote;
        if (drift && live.drift) drift.textContent = ", " + live.drift;
        if (left && live.seconds_left != null) {
          left.dataset.left = String(live.seconds_left);
          delete left.dataset.deadline;
        }
      });
      tickCountdowns();
    }).catch(function () {});
  }

  function startLiveCards() {
    var box = cardsBox();
    var every = Number(box && box.dataset.liveEvery);
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
    if (every > 0) setInterval(refreshLiveCards, every * 1000);
  }

  // ---- decisions on a card: sent by fetch (with the CSRF header), answered with the card
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("[data-card-form]")) return;
    var card = form.closest("[data-card]");
    if (!card) return;
    e.preventDefault();
    var buttons = card.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetchHtml(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-CSRF-Token": csrf },
    }).then(function (html) {
      replaceCard(card.dataset.card, html);
    }).catch(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  // ---- the equity curve (uPlot, vendored): <div class="chart" data-points="[[t, v], ...]">
  // Times in UTC, 24-hour, as everywhere else on the desk (uPlot would draw the browser's zone).
  function utc(seconds, withTime) {
    var iso = new Date(seconds * 1000).toISOString();  // 2026-11-01T12:00:00.000Z
    return withTime ? iso.slice(0, 10) + " " + iso.slice(11, 19) : iso.slice(0, 10);
  }

  // An axis label as short as the span allows: the day, the day and hour, or the time alone.
  function utcTick(seconds, span) {
    var iso = new Date(seconds * 1000).toISOString();
    if (span >= 3 * 86400) return iso.slice(0, 10);
    if (span >= 86400) return iso.slice(5, 10) + " " + iso.slice(11, 16);
    return span >= 600 ? iso.slice(11, 16) : iso.slice(11, 19);
  }

  function drawCharts(root) {
    if (!window.uPlot) return;
    var found = Array.prototype.slice.call((root || document).querySelectorAll(".chart[data-points]"));
    if (root && root.matches && root.matches(".chart[data-points]")) found.push(root);
    found.forEach(function (el) {
      var points;
      try { points = JSON.parse(el.dataset.points); } catch (e) { return; }
      if (!points.length) return;
      el.textContent = "";
      var xs = points.map(function (p) { return p[0]; });
      // One line a column after the time: data-labels names them (the Decisions page draws
      // the desk and the bot alone on one chart); without it, the realized running total.
      var labels = null;
      try { labels = el.dataset.labels ? JSON.parse(el.dataset.labels) : null; } catch (e) { labels = null; }
      var colours = ["#2e7d32", "#1565c0", "#ef6c00"];
      try { colours = el.dataset.colours ? JSON.parse(el.dataset.colours) : colours; } catch (e) { /* the defaults */ }
      var lines = (labels || ["Realized, running total"]).map(function (label, i) {
        var line = { label: label, stroke: colours[i % colours.length], width: 2 };
        if (!labels) line.fill = "rgba(46,125,50,0.08)";
        return line;
      });
      var columns = lines.map(function (_, i) { return points.map(function (p) { return p[i + 1]; }); });
      var width = Math.max(280, el.clientWidth || 600);
      var opts = {
        width: width,
        height: Math.min(320, Math.round(width * 0.5)),
        series: [{ label: "Closed (UTC)", value: function (u, v) { return v == null ? "—" : utc(v, true); } }].concat(lines),
        axes: [
          {
            label: "UTC",
            space: 100,
            values: function (u, splits) {
              var span = u.scales.x.max - u.scales.x.min;
              return splits.map(function (s) { return utcTick(s, span); });
            },
          },
          { size: 70 },
        ],
        legend: { show: true },
      };
      el.chart = new window.uPlot(opts, [xs].concat(columns), el);
      el.dataset.drawn = String(points.length);
    });
  }

  window.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    connect();
    startLiveCards();
  });
})();
