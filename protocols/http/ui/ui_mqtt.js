/*
 * ui_mqtt.js: the MQTT side: connected clients (connections whose
 * protocol is MQTT, with their client ids) and sessions (each MQTT
 * session owns a queue "mqtt-subscription-<client id>qos1": its backlog
 * is the session's offline messages, its bindings on the MQTT exchange
 * its subscriptions), with the session's page being its queue's page.
 *
 * Streams: the page lists stream consumers with their offset lag from
 * /api/stream/consumers where the broker has streams; where that
 * endpoint answers 404 the navigation hides the page.
 */
"use strict";

(function () {
  var h = S.h;
  var SESSION_RE = "^mqtt-subscription-.*qos1$";

  function clientId(queueName) {
    return queueName.replace(/^mqtt-subscription-/, "").replace(/qos1$/, "");
  }

  function renderClients(box) {
    var alive = S.current();
    /* connections cannot be filtered by protocol on the server: the list
     * of connections is one call; MQTT ones are picked here */
    return S.api("GET", "/api/connections?columns=name,user,vhost,protocol,client_id,state,peer_host,peer_port,timeout")
      .then(function (list) {
        if (!alive()) return;
        var mqtt = list.filter(function (c) { return /^MQTT/.test(c.protocol || ""); });
        S.append(S.clear(box), S.table([
          { label: "Client id", key: "client_id" },
          { label: "Connection", id: "name", cell: function (c) { return S.link("connection", [c.name], c.name); } },
          { label: "User", key: "user" }, { label: "Virtual host", key: "vhost" },
          { label: "Protocol", key: "protocol" }, { label: "State", key: "state" },
          { label: "Keepalive", id: "keepalive", num: true, cell: function (c) { return S.num(c.timeout) + " s"; } }
        ], mqtt, { id: "mqtt-clients", empty: "No MQTT clients connected." }));
      });
  }

  var SESSION_COLS = [
    { label: "Client id", id: "client_id", sort: "name", cell: function (q) {
      return S.link("queue", [q.vhost, q.name], clientId(q.name), { class: "session" });
    } },
    { label: "Virtual host", key: "vhost", sort: "vhost" },
    { label: "Connected", id: "connected", sort: "consumers", cell: function (q) { return q.consumers > 0 ? "yes" : "no"; } },
    { label: "Persistent", id: "durable", cell: function (q) { return q.durable ? "yes" : "no"; } },
    { label: "Queued messages", key: "messages_ready", num: true, sort: "messages_ready" },
    { label: "In flight", key: "messages_unacknowledged", num: true, sort: "messages_unacknowledged" }
  ];

  function render(main) {
    S.title(main, "MQTT");
    var clients = h("div", { id: "mqtt-clients-box" }), sessions = h("div", { id: "mqtt-sessions-box" });
    S.append(main, S.section("Connected clients", "mqtt-clients-section", clients),
      S.section("Sessions", "mqtt-sessions-section", sessions));
    var list = S.pagedList(sessions, {
      id: "mqtt-sessions", cols: SESSION_COLS, defaultSort: "name", empty: "No MQTT sessions.",
      columns: "vhost,name,durable,consumers,messages_ready,messages_unacknowledged",
      pathFor: function () { return "/api/queues"; }, initial: { name: SESSION_RE, regex: true }
    });
    renderClients(clients).catch(function (e) { S.append(S.clear(clients), h("p", { class: "error", text: e.message })); });
    S.every(5000, function () { list.reload(); renderClients(clients).catch(function () {}); });
  }

  function renderStreams(main) {
    S.title(main, "Streams");
    var box = h("div", { id: "stream-consumers-box" });
    S.append(main, S.section("Stream consumers", "stream-consumers-section", box));
    var alive = S.current();
    function reload() {
      S.api("GET", "/api/stream/consumers").then(function (list) {
        if (alive()) S.append(S.clear(box), S.table([
          { label: "Stream", id: "stream", cell: function (c) { return S.get(c, "queue.name") || ""; } },
          { label: "Virtual host", id: "vhost", cell: function (c) { return S.get(c, "queue.vhost") || ""; } },
          { label: "Connection", id: "connection", cell: function (c) { return S.get(c, "connection_details.name") || ""; } },
          { label: "Subscription", key: "subscription_id" },
          { label: "Consumer name", key: "consumer_name" },
          { label: "Offset", key: "offset", num: true },
          { label: "Committed", key: "committed_offset", num: true },
          { label: "Lag", key: "offset_lag", num: true },
          { label: "Lag (s)", id: "lag_seconds", num: true, cell: function (c) {
            return c.lag_seconds == null ? "" : (Math.round(c.lag_seconds * 10) / 10) + " s"; } },
          { label: "Credits", key: "credits", num: true }
        ], list, { id: "stream-consumers", empty: "No stream consumers." }));
      }, function (e) {
        if (alive()) S.append(S.clear(box), h("p", { class: "error", text: e.message }));
      });
    }
    reload();
    S.every(5000, reload);
  }

  /* Whether this broker has streams: the nav shows the page only then. */
  S.hasStreams = function () {
    return S.api("GET", "/api/stream/consumers").then(function () { return true; }, function () { return false; });
  };

  S.route("mqtt", render, "mqtt");
  S.route("streams", renderStreams, "streams");
})();
