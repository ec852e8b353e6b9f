"use strict";
// The logagg dashboard: polls the API every 2 s and shows the counters, the
// checks between them, a chart of the flow, the most recently active topics
// and the latest events. It holds no data of its own; with API_KEYS set it
// asks for a key when the API answers 401 and keeps it for the tab.
(function () {
  var REFRESH_MS = 2000;
  var TOPICS_SHOWN = 20;
  var FILTER_DELAY_MS = 300;
  var CHART_SPAN_MS = 5 * 60 * 1000, CHART_MIN_SPAN_MS = 60 * 1000;
  var CHART_W = 600, CHART_H = 180, CHART_PAD = 8;
  var KEY_STORE = "logagg.apiKey";
  // The API's root, whether the page is served at /ui or under a path
  // prefix such as an API Gateway stage.
  var base = location.pathname.replace(/\/ui\/?$/, "/");
  var previous = null; // the last /stats read, for the rate
  var samples = []; // {at, rate, queued} of successive /stats reads, the last CHART_SPAN_MS
  var needKey = false;
  var refusedKey = false; // the key last entered was answered with 401
  var memoryKey = ""; // used when session storage is unavailable
  var topicFilter = ""; // the filter box's text, once typing paused
  var topicsTotal = null; // distinct topics, from /stats
  var versionShown = false;
  var refreshStarted = 0, refreshShown = 0; // rounds of refresh, so that a late answer is dropped
  var loaded = { topics: false, events: false }; // whether a table shows data yet
  var numberFormat = new Intl.NumberFormat("en-US");

  function $(id) { return document.getElementById(id); }

  // The key lasts as long as the tab (session storage). Earlier versions
  // of this page kept it in local storage, for good: drop any left there.
  try { localStorage.removeItem(KEY_STORE); } catch (e) { /* unavailable */ }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORE) || memoryKey; } catch (e) { return memoryKey; }
  }

  function saveKey(key) {
    memoryKey = key;
    try { sessionStorage.setItem(KEY_STORE, key); } catch (e) { /* unavailable: the key lasts this page only */ }
  }

  function forgetKey() {
    memoryKey = "";
    try { sessionStorage.removeItem(KEY_STORE); } catch (e) { /* nothing stored */ }
  }

  // api fetches one endpoint and answers {status, body, key}; status 0
  // means the service could not be reached at all, key is the key sent.
  function api(path) {
    var headers = { "Accept": "application/json" };
    var key = storedKey();
    if (key) headers["X-API-Key"] = key;
    return fetch(base + path, { headers: headers, cache: "no-store" }).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        try { body = JSON.parse(text); } catch (e) { body = null; }
        return { status: res.status, body: body, key: key };
      });
    }, function (err) {
      return { status: 0, body: { error: "cannot reach the service (" + err.message + ")" }, key: key };
    });
  }

  // loadTopics asks for one short page of the most recently active topics
  // (those matching the filter), not for all of them.
  function loadTopics() {
    var filter = topicFilter;
    return api("topics?order=recent&limit=" + TOPICS_SHOWN +
               (filter ? "&contains=" + encodeURIComponent(filter) : "")).then(function (res) {
      res.filter = filter;
      return res;
    });
  }

  // failure says what went wrong with one read, in the API's own words.
  function failure(name, res) {
    return name + ": " + (res.body && res.body.error ? res.body.error : "HTTP " + res.status);
  }

  function isCount(n) { return typeof n === "number" && isFinite(n); }

  function fmt(n) { return isCount(n) ? numberFormat.format(n) : "—"; }

  function fmtRate(r) { return isCount(r) ? (r >= 100 ? fmt(Math.round(r)) : r.toFixed(1)) : "—"; }

  function setText(id, text) { $(id).textContent = text; }

  function duration(seconds) {
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600),
        m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    if (d) return d + "d " + h + "h " + m + "m";
    if (h) return h + "h " + m + "m " + s + "s";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t) || t <= 0) return "—";
    var s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 2) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return new Date(t).toLocaleString();
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // clock shows a time of today as 14:03:07 and any other as 2026-11-24 14:03:07.
  function clock(iso) {
    var t = new Date(iso);
    if (isNaN(t.getTime())) return iso;
    var time = pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds());
    if (t.toDateString() === new Date().toDateString()) return time;
    return t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) + " " + time;
  }

  function cell(text, className, title) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    if (title) td.title = title;
    return td;
  }

  function fillRows(tbodyId, rows, columns, emptyText) {
    var tbody = $(tbodyId);
    tbody.textContent = "";
    if (!rows.length) {
      var tr = document.createElement("tr");
      var td = cell(emptyText, "empty");
      td.colSpan = columns;
      tr.appendChild(td);
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (td) { tr.appendChild(td); });
      tbody.appendChild(tr);
    });
  }

  // placeholder explains an empty table that has had no data yet.
  function placeholder(text) {
    if (!loaded.topics) fillRows("topic-rows", [], 4, text);
    if (!loaded.events) fillRows("event-rows", [], 6, text);
  }

  function setStatus(kind, text) {
    var el = $("status");
    el.className = "pill " + kind;
    el.textContent = text;
  }

  // showBanner shows a problem; kind is "bad" or "warn".
  function showBanner(kind, title, text) {
    setText("banner-title", title);
    setText("banner-text", text);
    $("banner").className = "banner show " + kind;
  }

  function hideBanner() { $("banner").className = "banner"; }

  function showKeyBox(show) {
    var box = $("keybox");
    var appearing = show && !box.classList.contains("show");
    needKey = show;
    box.classList.toggle("show", show);
    box.classList.toggle("refused", show && refusedKey);
    setText("key-hint", refusedKey
      ? "That key was refused: the service answered 401 Unauthorized. Check it against API_KEYS and enter it again."
      : "Enter one of the keys in API_KEYS. It is kept for this browser tab only and sent as the X-API-Key header.");
    $("forget-wrap").hidden = !storedKey();
    if (appearing) $("key").focus();
  }

  // unauthorized handles 401 answers: a key that was sent and refused is
  // forgotten and named as refused (unless another was entered meanwhile).
  function unauthorized(results) {
    var refused = results.filter(function (r) { return r.status === 401; });
    if (!refused.length) return false;
    refused.forEach(function (r) {
      if (r.key && r.key === storedKey()) {
        refusedKey = true;
        forgetKey();
      }
    });
    return true;
  }

  function renderHealth(res) {
    var deps = $("deps");
    deps.textContent = "";
    var body = res.status === 200 || res.status === 503 ? res.body || {} : {};
    Object.keys(body).sort().forEach(function (name) {
      if (body[name] !== "connected" && body[name] !== "disconnected") return;
      var span = document.createElement("span");
      span.className = "dep " + (body[name] === "connected" ? "ok" : "bad");
      span.textContent = name + " " + body[name];
      deps.appendChild(span);
    });
  }

  function setCheck(id, kind, text) {
    var el = $(id);
    el.className = "check " + kind;
    el.textContent = text;
  }

  // renderChecks computes SPEC's two equations from the numbers shown, not
  // from the server's verdict, and says in words what a difference means.
  function renderChecks(s) {
    var sum = s.unique_processed + s.duplicate_dropped;
    if (s.received === sum) {
      setCheck("check-received", "ok", "received = unique + duplicates: " + fmt(s.received) + " = " +
               fmt(s.unique_processed) + " + " + fmt(s.duplicate_dropped));
    } else {
      setCheck("check-received", "bad", "received ≠ unique + duplicates: " + fmt(s.received) + " received, but " +
               fmt(s.unique_processed) + " + " + fmt(s.duplicate_dropped) + " = " + fmt(sum) +
               ". The database's counters disagree, which they never should.");
    }

    if (!isCount(s.published)) {
      setCheck("check-published", "wait", "published = received + dead-lettered cannot be checked: " +
               "the queue's published counter cannot be read.");
      return;
    }
    var consumed = s.received + s.dead_lettered, waiting = s.published - consumed;
    var equation = fmt(s.published) + " published, " + fmt(s.received) + " received + " +
                   fmt(s.dead_lettered) + " dead-lettered";
    if (waiting === 0) {
      setCheck("check-published", "ok", "published = received + dead-lettered: " + fmt(s.published) + " = " +
               fmt(s.received) + " + " + fmt(s.dead_lettered) + "; nothing is waiting in the queue");
    } else if (waiting > 0) {
      setCheck("check-published", "wait", fmt(waiting) + (waiting === 1 ? " event is" : " events are") +
               " still waiting in the queue (" + equation + ").");
    } else {
      setCheck("check-published", "bad", "received + dead-lettered exceeds published by " + fmt(-waiting) +
               " (" + equation + "). The published counter lives in Redis: a Redis without persistence " +
               "that restarted lost it and counts again from zero. The stored events and the database's " +
               "counters are exact.");
    }
  }

  function renderStats(s) {
    ["received", "unique_processed", "duplicate_dropped", "dead_lettered", "published",
     "queued", "topics", "payload_conflicts"].forEach(function (k) { setText(k, fmt(s[k])); });
    topicsTotal = s.topics;
    setText("uptime", duration(s.uptime_seconds));
    setText("dup-share", s.received ? Math.round(100 * s.duplicate_dropped / s.received) + "% of received" : "dropped");
    setText("queued-sub", !isCount(s.queued) ? "queue counter unreadable"
                        : s.queued < 0 ? "below zero: published was lost" : "waiting to be consumed");
    $("queued-card").classList.toggle("alert", isCount(s.queued) && s.queued < 0);
    $("dead-card").classList.toggle("alert", s.dead_lettered > 0);
    $("conflict-card").classList.toggle("alert", s.payload_conflicts > 0);
    renderChecks(s);

    var now = performance.now(), rate = null;
    if (previous && s.received >= previous.received && now > previous.at) {
      rate = (s.received - previous.received) / ((now - previous.at) / 1000);
      setText("rate", fmtRate(rate));
    }
    previous = { received: s.received, at: now };
    samples.push({ at: now, rate: rate, queued: isCount(s.queued) ? s.queued : null });
    while (samples.length && samples[0].at < now - CHART_SPAN_MS) samples.shift();
    drawChart(now);
  }

  // chartSpan is the time the chart's width stands for: the samples kept,
  // at least a minute, so that the first minutes do not crowd the right edge.
  function chartSpan(now) {
    return samples.length ? Math.min(CHART_SPAN_MS, Math.max(CHART_MIN_SPAN_MS, now - samples[0].at)) : CHART_MIN_SPAN_MS;
  }

  // drawSeries draws one quantity of the samples as a polyline scaled to
  // its own range (zero included), and answers its latest and peak values.
  function drawSeries(id, name, now, span) {
    var points = samples.filter(function (p) { return p[name] !== null; });
    var values = points.map(function (p) { return p[name]; });
    var hi = Math.max.apply(null, values.concat(0)), lo = Math.min.apply(null, values.concat(0));
    var range = hi - lo || 1;
    var line = $(id);
    line.setAttribute("points", points.map(function (p) {
      var x = CHART_W * (1 - (now - p.at) / span);
      var y = CHART_H - CHART_PAD / 2 - (p[name] - lo) / range * (CHART_H - CHART_PAD);
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" "));
    line.setAttribute("data-points", String(points.length));
    line.setAttribute("data-max", String(hi));
    return { last: values.length ? values[values.length - 1] : null, max: values.length ? hi : null };
  }

  function drawChart(now) {
    var span = chartSpan(now);
    var rate = drawSeries("chart-rate", "rate", now, span), queued = drawSeries("chart-queued", "queued", now, span);
    var minutes = span / 60000;
    setText("chart-span", "−" + (minutes >= 1 && minutes % 1 < 0.05 ? Math.round(minutes) + " min" : Math.round(span / 1000) + " s"));
    setText("chart-rate-now", fmtRate(rate.last));
    setText("chart-rate-max", fmtRate(rate.max));
    setText("chart-queued-now", fmt(queued.last));
    setText("chart-queued-max", fmt(queued.max));
  }

  // renderTopics shows the most recently active topics that match the
  // filter. The server is asked for exactly those; a server that ignores
  // order, limit or contains answers more, so they are applied here too
  // (case-insensitively, which keeps whatever a stricter server matched).
  function renderTopics(list, filter) {
    if (filter !== topicFilter) return; // typing moved on; a newer read follows
    loaded.topics = true;
    var needle = filter.toLowerCase();
    var recency = function (t) { var at = Date.parse(t.last_processed_at); return isNaN(at) ? 0 : at; };
    var shown = list.filter(function (t) {
      return !needle || String(t.topic).toLowerCase().indexOf(needle) >= 0;
    }).sort(function (a, b) { return recency(b) - recency(a); }).slice(0, TOPICS_SHOWN);
    var note;
    if (filter) note = "(most recently active containing “" + filter + "”: " + shown.length + " shown)";
    else if (isCount(topicsTotal) && topicsTotal > shown.length) note = "(the " + shown.length + " most recently active of " + fmt(topicsTotal) + ")";
    else note = "(most recently active first)";
    setText("topics-note", note);
    fillRows("topic-rows", shown.map(function (t) {
      return [cell(t.topic, "mono", t.topic), cell(fmt(t.unique), "num"), cell(fmt(t.duplicates), "num"),
              cell(ago(t.last_processed_at), "time", t.last_processed_at)];
    }), 4, filter ? "No topic contains “" + filter + "”." : "No events processed yet.");
  }

  function renderEvents(list) {
    loaded.events = true;
    fillRows("event-rows", list.map(function (e) {
      var payload = JSON.stringify(e.payload);
      return [cell(clock(e.processed_at), "time", e.processed_at), cell(e.topic, "mono", e.topic),
              cell(e.event_id, "mono", e.event_id), cell(e.source, "", e.source),
              cell(clock(e.timestamp), "time", e.timestamp),
              cell(payload, "mono payload", payload)];
    }), 6, "No events yet.");
  }

  function showVersion() {
    if (versionShown) return;
    versionShown = true;
    api("").then(function (res) {
      if (res.status === 200 && res.body && res.body.version) setText("version", res.body.version);
      else versionShown = false;
    });
  }

  function refresh() {
    var round = ++refreshStarted;
    var health = api("health");
    var reads = Promise.all([api("stats"), loadTopics(), api("events?limit=20")]);
    return Promise.all([health, reads]).then(function (all) {
      // A key entered meanwhile starts another refresh; whichever of the
      // two finishes last must not undo a newer one.
      if (round < refreshShown) return;
      refreshShown = round;
      var h = all[0], stats = all[1][0], topics = all[1][1], events = all[1][2];
      renderHealth(h);
      var needsKey = unauthorized([stats, topics, events]);
      showKeyBox(needsKey);
      if (needsKey) {
        setStatus("warn", refusedKey ? "API key refused" : "API key needed");
        hideBanner();
        placeholder("Waiting for an API key.");
        previous = null;
        return;
      }
      var failed = [[stats, "/stats"], [topics, "/topics"], [events, "/events"]].filter(function (p) {
        return p[0].status !== 200;
      }).map(function (p) { return failure(p[1], p[0]); });

      if (stats.status === 200) {
        renderStats(stats.body);
        setText("updated", clock(new Date().toISOString()));
        showVersion();
      } else {
        previous = null; // a rate across a gap would mislead
        setText("rate", "—");
      }
      if (topics.status === 200) renderTopics(topics.body, topics.filter);
      if (events.status === 200) renderEvents(events.body);
      placeholder("Not available while the service is unhealthy.");

      if (h.status === 0) {
        setStatus("bad", "unreachable");
        showBanner("bad", "The service cannot be reached.", "Showing the last figures read; " + h.body.error + ".");
      } else if (h.status !== 200 || failed.length) {
        var down = Object.keys(h.body || {}).filter(function (k) { return k !== "status" && h.body[k] !== "connected"; });
        setStatus("bad", "unhealthy");
        showBanner("bad", down.length ? "Unhealthy: " + down.join(" and ") + " " + (down.length > 1 ? "are" : "is") + " down."
                               : "The service answered with an error.",
                   failed.join(" · "));
      } else if (stats.body.status === "unhealthy") {
        setStatus("warn", "unhealthy");
        showBanner("warn", "Unhealthy: the queue's published counter cannot be read.", "Published and queued are unknown until it can.");
      } else {
        setStatus("ok", "healthy");
        hideBanner();
      }
    });
  }

  function loop() {
    var run = document.hidden && !needKey ? Promise.resolve() : refresh();
    run.catch(function (err) {
      setStatus("bad", "error");
      showBanner("bad", "The dashboard failed to update.", err.message);
    }).then(function () { setTimeout(loop, REFRESH_MS); });
  }

  $("keyform").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = $("key").value.trim();
    if (!key) return;
    saveKey(key);
    refusedKey = false;
    $("key").value = "";
    previous = null;
    refresh();
  });
  $("forget").addEventListener("click", function () {
    forgetKey();
    $("forget-wrap").hidden = true;
    refresh();
  });

  var filterTimer = null;
  $("topic-filter").addEventListener("input", function () {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(function () {
      var filter = $("topic-filter").value.trim();
      if (filter === topicFilter) return;
      topicFilter = filter;
      loadTopics().then(function (res) {
        if (res.status === 200) renderTopics(res.body, res.filter);
      });
    }, FILTER_DELAY_MS);
  });

  $("forget-wrap").hidden = !storedKey();
  $("docs-link").href = base + "openapi.json";
  loop();
})();
