/*
 * ui_overview.js: the overview page: totals, message rates (the API's
 * *_details.rate figures and a chart of them over the last minutes),
 * resource alarms (memory, disk) and the listeners.
 */
"use strict";

(function () {
  var h = S.h;
  var SERIES = [
    { key: "publish", label: "Publish", color: "#e07a1f" },
    { key: "deliver_get", label: "Deliver / get", color: "#2a9d8f" },
    { key: "ack", label: "Ack", color: "#3a5ba0" }
  ];
  var MAX_POINTS = 120;
  var history = [];                 /* survives navigation: [{t, publish, ...}] */

  function drawChart(canvas) {
    var ctx = canvas.getContext("2d"), w = canvas.width, hh = canvas.height, pad = 36;
    ctx.clearRect(0, 0, w, hh);
    var max = 1;
    history.forEach(function (p) {
      SERIES.forEach(function (s) { max = Math.max(max, p[s.key]); });
    });
    ctx.strokeStyle = "#d8dee8";
    ctx.fillStyle = "#5b6575";
    ctx.font = "12px sans-serif";
    for (var i = 0; i <= 4; i++) {
      var y = hh - pad / 2 - (hh - pad) * i / 4;
      ctx.beginPath();
      ctx.moveTo(pad, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      var v = max * i / 4;
      ctx.fillText(max < 10 ? v.toFixed(1) : S.num(v), 2, y + 4);
    }
    SERIES.forEach(function (s) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      history.forEach(function (p, j) {
        var x = pad + (w - pad) * j / (MAX_POINTS - 1);
        var y = hh - pad / 2 - (hh - pad) * p[s.key] / max;
        if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
    });
  }

  function rate(ms, key) {
    return S.get(ms, key + "_details.rate") || 0;
  }

  function totals(ov) {
    var o = ov.object_totals || {}, q = ov.queue_totals || {};
    var items = [
      ["Connections", o.connections, "connections"], ["Channels", o.channels, "channels"],
      ["Exchanges", o.exchanges, "exchanges"], ["Queues", o.queues, "queues"],
      ["Consumers", o.consumers, "consumers"], ["Messages", q.messages, "messages"],
      ["Ready", q.messages_ready, "messages_ready"], ["Unacked", q.messages_unacknowledged, "messages_unacknowledged"]
    ];
    return h("div", { class: "totals", id: "totals" }, items.map(function (i) {
      return h("div", null, i[0], h("b", { "data-total": i[2], text: S.num(i[1] || 0) }));
    }));
  }

  function rates(ms) {
    var keys = [["publish", "Publish"], ["deliver_get", "Deliver / get"], ["ack", "Ack"],
      ["confirm", "Confirm"], ["redeliver", "Redelivered"], ["return_unroutable", "Unroutable (return)"]];
    return h("div", { class: "totals rates", id: "rates" }, keys.map(function (k) {
      return h("div", null, k[1], h("b", { "data-rate": k[0], text: S.rate(rate(ms, k[0])) }));
    }));
  }

  function alarms(node) {
    var list = [];
    if (node.mem_alarm) list.push("Memory alarm: publishers are blocked (" + S.bytes(node.mem_used) +
      " used, limit " + S.bytes(node.mem_limit) + ")");
    if (node.disk_free_alarm) list.push("Disk alarm: free disk space is below the limit; publishers are blocked");
    if (list.length === 0) return h("p", { class: "ok", id: "alarms", "data-alarms": "none", text: "No resource alarms." });
    return h("ul", { class: "alarms", id: "alarms", "data-alarms": list.length }, list.map(function (t) {
      return h("li", { text: t });
    }));
  }

  function render(main) {
    S.title(main, "Overview");
    var box = h("div", { id: "overview" });
    var canvas = h("canvas", { id: "chart", width: 1200, height: 240 });
    var legend = h("div", { class: "legend" }, SERIES.map(function (s) {
      return h("span", null, h("i", { class: "swatch", "data-color": s.key }), s.label);
    }));
    S.append(main, box, S.section("Message rates (messages/s)", "chart-section", legend, canvas));
    var alive = S.current();

    function load() {
      /* /api/nodes is for monitoring users and administrators (403 to
       * others, as RabbitMQ's): without it, no alarms and node figures */
      var nodes = S.api("GET", "/api/nodes").catch(function (e) {
        if (e.status === 403) return null;
        throw e;
      });
      return Promise.all([S.api("GET", "/api/overview"), nodes]).then(function (r) {
        if (!alive()) return;
        var ov = r[0], node = r[1] ? r[1][0] || {} : null, ms = ov.message_stats || {};
        history.push({ t: Date.now(), publish: rate(ms, "publish"), deliver_get: rate(ms, "deliver_get"), ack: rate(ms, "ack") });
        if (history.length > MAX_POINTS) history.shift();
        S.append(S.clear(box),
          node && S.section("Alarms", "alarms-section", alarms(node)),
          S.section("Totals", "totals-section", totals(ov)),
          S.section("Rates now", "rates-section", rates(ms)),
          node && S.section("Node", "node-section", S.kv([
            ["Name", ov.node, "node"], ["Version", ov.product_name + " " + ov.product_version, "version"],
            ["Uptime", S.duration(node.uptime || 0), "uptime"],
            ["Memory", S.bytes(node.mem_used) + (node.mem_limit ? " of " + S.bytes(node.mem_limit) + " limit" : ""), "memory"]
          ])),
          ov.listeners && S.section("Listeners", "listeners-section", S.table([
            { label: "Protocol", key: "protocol" }, { label: "Bound to", key: "ip_address" }, { label: "Port", key: "port", num: true }
          ], ov.listeners, { id: "listeners" })));
        drawChart(canvas);
      }, function (e) {
        if (alive()) S.append(S.clear(box), h("p", { class: "error", text: e.message }));
      });
    }
    load();
    S.every(5000, load);
  }

  S.route("", render, "overview");
})();
