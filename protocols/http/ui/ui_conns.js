/*
 * ui_conns.js: connections (paged list; one connection with its channels
 * and a button that closes it, with a reason the client is told) and the
 * channel list. AMQP and MQTT connections are both here; the MQTT page
 * shows the MQTT side again with client ids and sessions.
 */
"use strict";

(function () {
  var h = S.h;

  S.connCols = function () {
    return [
      { label: "Virtual host", key: "vhost", sort: "vhost" },
      { label: "Name", id: "name", sort: "name", cell: function (c) {
        return S.link("connection", [c.name], c.name, { class: "cname" });
      } },
      { label: "User", key: "user", sort: "user" },
      { label: "Protocol", key: "protocol", sort: "protocol" },
      { label: "State", key: "state", sort: "state" },
      { label: "Channels", key: "channels", num: true, sort: "channels" },
      { label: "From client", id: "recv", num: true, sort: "recv_oct_details.rate",
        cell: function (c) { return S.bytes(S.get(c, "recv_oct_details.rate") || 0) + "/s"; } },
      { label: "To client", id: "send", num: true, sort: "send_oct_details.rate",
        cell: function (c) { return S.bytes(S.get(c, "send_oct_details.rate") || 0) + "/s"; } }
    ];
  };

  function renderList(main) {
    S.title(main, "Connections");
    var box = h("div", { id: "connections-box" });
    S.append(main, S.section("All connections", "connections-section", box));
    var list = S.pagedList(box, {
      id: "connections", cols: S.connCols(), defaultSort: "name", vhostFilter: true, empty: "No connections.",
      pathFor: function (st) { return st.vhost ? "/api/vhosts/" + S.enc(st.vhost) + "/connections" : "/api/connections"; }
    });
    S.every(5000, list.reload);
  }

  function chanCols() {
    return [
      { label: "Channel", key: "name", sort: "name" },
      { label: "Connection", id: "connection", cell: function (c) {
        var n = S.get(c, "connection_details.name");
        return n ? S.link("connection", [n], n) : "";
      } },
      { label: "User", key: "user", sort: "user" },
      { label: "Mode", id: "mode", cell: function (c) {
        return (c.confirm ? "C" : "") + (c.transactional ? "T" : "");
      } },
      { label: "State", key: "state", sort: "state" },
      { label: "Unconfirmed", key: "messages_unconfirmed", num: true, sort: "messages_unconfirmed" },
      { label: "Prefetch", key: "prefetch_count", num: true, sort: "prefetch_count" },
      { label: "Unacked", key: "messages_unacknowledged", num: true, sort: "messages_unacknowledged" },
      { label: "Consumers", key: "consumer_count", num: true, sort: "consumer_count" },
      { label: "Publish", id: "rate_publish", num: true,
        cell: function (c) { return S.rate(S.get(c, "message_stats.publish_details.rate") || 0); } }
    ];
  }

  function renderChannels(main) {
    S.title(main, "Channels");
    var box = h("div", { id: "channels-box" });
    S.append(main, S.section("All channels", "channels-section", box));
    var list = S.pagedList(box, { id: "channels", cols: chanCols(), path: "/api/channels", defaultSort: "name",
      empty: "No channels." });
    S.every(5000, list.reload);
  }

  function renderOne(main, p) {
    var base = "/api/connections/" + S.enc(p.name);
    S.title(main, "Connection " + p.name);
    var det = h("div", { id: "connection-box" }), chans = h("div");
    var alive = S.current();
    function reload() {
      S.api("GET", base).then(function (c) {
        if (!alive()) return;
        S.append(S.clear(det), S.kv([
          ["User", c.user, "user"], ["Virtual host", c.vhost || "", "vhost"], ["Protocol", c.protocol, "protocol"],
          ["Client id", c.client_id || "", "client_id"], ["State", c.state, "state"],
          ["Peer", c.peer_host + ":" + c.peer_port, "peer"], ["TLS", String(c.ssl), "ssl"],
          ["Channels", S.num(c.channels), "channels"], ["Heartbeat / keepalive", S.num(c.timeout) + " s", "timeout"],
          ["Frame max", S.num(c.frame_max), "frame_max"],
          ["Received", S.bytes(c.recv_oct), "recv_oct"], ["Sent", S.bytes(c.send_oct), "send_oct"],
          ["Connected at", c.connected_at ? new Date(c.connected_at).toISOString() : "", "connected_at"],
          ["Client properties", S.args(c.client_properties), "client_properties"]
        ], "connection-details"));
      }, function (e) {
        if (alive()) S.append(S.clear(det), h("p", { class: "error", id: "connection-error", text: e.message }));
      });
      S.api("GET", base + "/channels").then(function (l) {
        if (alive()) S.append(S.clear(chans), S.table(chanCols(), l, { id: "channels", empty: "No channels." }));
      }, function () {});
    }
    var reason = h("input", { type: "text", id: "close-reason", value: "Closed via management UI", "aria-label": "Reason" });
    S.append(main, S.section("Details", "details-section", det), S.section("Channels", "channels-section", chans),
      S.details("Close this connection", "close-section", true, h("label", { for: "close-reason", text: "Reason " }), reason, " ",
        S.confirmButton("close-connection", "Force close", "Close connection '" + p.name + "'?", function () {
          return S.api("DELETE", base, undefined, { "X-Reason": reason.value }).then(function () {
            S.flash("Connection closed.");
            S.go("connections");
          });
        })));
    reload();
    S.every(5000, reload);
  }

  S.route("connections", renderList, "connections");
  S.route("connection/:name", renderOne, "connections");
  S.route("channels", renderChannels, "channels");
})();
