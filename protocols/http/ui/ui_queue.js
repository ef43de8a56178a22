/*
 * ui_queue.js: one queue: its figures, consumers and bindings (add and
 * remove), and what an operator does to it: publish a message, get
 * messages (with the ack mode: requeue, ack, reject), move messages to
 * another queue (POST .../move, Sluice's broker-side move), purge, and
 * delete.
 */
"use strict";

(function () {
  var h = S.h;

  S.ACKMODES = [
    ["ack_requeue_true", "Nack message requeue true"],
    ["ack_requeue_false", "Automatic ack"],
    ["reject_requeue_true", "Reject requeue true"],
    ["reject_requeue_false", "Reject requeue false"]
  ];

  function details(q) {
    var ms = q.message_stats || {};
    return S.kv([
      ["Virtual host", q.vhost, "vhost"], ["Type", q.type, "type"], ["State", q.state, "state"],
      ["Durable", String(q.durable), "durable"], ["Auto delete", String(q.auto_delete), "auto_delete"],
      ["Exclusive", String(q.exclusive), "exclusive"],
      ["Ready", S.num(q.messages_ready), "messages_ready"],
      ["Unacked", S.num(q.messages_unacknowledged), "messages_unacknowledged"],
      ["Total", S.num(q.messages), "messages"], ["Consumers", S.num(q.consumers), "consumers"],
      ["Message bytes", S.bytes(q.message_bytes), "message_bytes"],
      ["Incoming", S.rate(S.get(ms, "publish_details.rate") || 0), "rate_publish"],
      ["Deliver / get", S.rate(S.get(ms, "deliver_get_details.rate") || 0), "rate_deliver_get"],
      ["Ack", S.rate(S.get(ms, "ack_details.rate") || 0), "rate_ack"],
      ["Arguments", S.args(q.arguments), "arguments"],
      ["Policy", q.policy || "", "policy"],
      ["Operator policy", q.operator_policy || "", "operator_policy"],
      ["Effective policy definition", S.args(q.effective_policy_definition), "effective_policy_definition"]
    ], "queue-details");
  }

  function consumersTable(list) {
    return S.table([
      { label: "Channel", id: "channel", cell: function (c) {
        var cd = c.channel_details || {};
        return cd.connection_name ? S.link("connection", [cd.connection_name], cd.name || cd.connection_name) : "";
      } },
      { label: "Consumer tag", key: "consumer_tag" },
      { label: "Ack required", id: "ack", cell: function (c) { return String(c.ack_required); } },
      { label: "Exclusive", id: "exclusive", cell: function (c) { return String(c.exclusive); } },
      { label: "Prefetch", key: "prefetch_count", num: true },
      { label: "Active", key: "activity_status" },
      { label: "Arguments", id: "arguments", cell: function (c) { return S.args(c.arguments); } }
    ], list, { id: "consumers", empty: "No consumers." });
  }

  /* Bindings to a queue or exchange with an unbind button each. */
  S.bindingsTable = function (list, id, reload) {
    return S.table([
      { label: "From", id: "source", cell: function (b) {
        return b.source === "" ? "(default exchange)" : S.link("exchange", [b.vhost, b.source], b.source);
      } },
      { label: "To", id: "destination", cell: function (b) {
        var page = b.destination_type === "queue" ? "queue" : "exchange";
        return S.link(page, [b.vhost, b.destination], b.destination);
      } },
      { label: "Routing key", key: "routing_key" },
      { label: "Arguments", id: "arguments", cell: function (b) { return S.args(b.arguments); } },
      { label: "", id: "unbind", cell: function (b) {
        if (b.source === "") return "";
        var path = "/api/bindings/" + S.path(b.vhost, "e", b.source, b.destination_type === "queue" ? "q" : "e",
          b.destination, b.properties_key);
        return h("button", { type: "button", class: "unbind", onclick: function () {
          S.api("DELETE", path).then(function () { S.flash("Binding removed."); reload(); },
            function (e) { S.flash(e.message, "error"); });
        } }, "Unbind");
      } }
    ], list, { id: id, empty: "No bindings." });
  };

  /* The form that binds from an exchange to this queue or exchange. */
  S.bindForm = function (id, vhost, destType, dest, reload) {
    return S.form(id, [
      { name: "source", label: "From exchange", required: true },
      { name: "routing_key", label: "Routing key" },
      { name: "arguments", label: "Arguments (JSON)", type: "json" }
    ], "Bind", function (v) {
      return S.api("POST", "/api/bindings/" + S.path(vhost, "e", v.source, destType, dest),
        { routing_key: v.routing_key, arguments: v.arguments }).then(function () {
        S.flash("Bound from '" + v.source + "'.");
        reload();
      });
    });
  };

  /* The publish form of a queue (default exchange) or an exchange. */
  S.publishForm = function (id, vhost, exchange, fixedKey) {
    var fields = [];
    if (fixedKey === undefined) fields.push({ name: "routing_key", label: "Routing key" });
    fields.push(
      { name: "delivery_mode", label: "Delivery mode", type: "select",
        options: [["1", "1 - Non-persistent"], ["2", "2 - Persistent"]], value: "1" },
      { name: "headers", label: "Headers (JSON)", type: "json", placeholder: "{\"x-key\": \"value\"}" },
      { name: "properties", label: "Properties (JSON)", type: "json", placeholder: "{\"content_type\": \"text/plain\"}" },
      { name: "payload", label: "Payload", type: "textarea", rows: 4 },
      { name: "payload_encoding", label: "Payload encoding", type: "select", options: [["string", "String"], ["base64", "Base64"]] });
    return S.form(id, fields, "Publish message", function (v) {
      var props = v.properties;
      props.delivery_mode = Number(v.delivery_mode);
      if (Object.keys(v.headers).length) props.headers = v.headers;
      return S.api("POST", "/api/exchanges/" + S.path(vhost, exchange || "amq.default") + "/publish", {
        routing_key: fixedKey !== undefined ? fixedKey : v.routing_key, properties: props,
        payload: v.payload, payload_encoding: v.payload_encoding
      }).then(function (r) {
        S.flash(r && r.routed ? "Message published." : "Message published, but not routed to any queue.",
          r && r.routed ? "ok" : "error");
      });
    });
  };

  function messageView(m, i) {
    return h("div", { class: "message", "data-index": i },
      h("h3", { text: "Message " + (i + 1) }),
      S.kv([
        ["Exchange", m.exchange === "" ? "(default exchange)" : m.exchange, "exchange"],
        ["Routing key", m.routing_key, "routing_key"], ["Redelivered", String(m.redelivered), "redelivered"],
        ["Properties", S.args(m.properties), "properties"],
        ["Payload", h("pre", { class: "payload", text: m.payload }), "payload"],
        ["Payload bytes", S.num(m.payload_bytes), "payload_bytes"], ["Encoding", m.payload_encoding, "payload_encoding"],
        ["Left in queue", S.num(m.message_count), "message_count"]
      ]));
  }

  function getForm(vhost, name, out, reload) {
    return S.form("get-messages", [
      { name: "ackmode", label: "Ack mode", type: "select", options: S.ACKMODES, value: "ack_requeue_true" },
      { name: "encoding", label: "Encoding", type: "select", options: [["auto", "Auto string / base64"], ["base64", "Base64"]] },
      { name: "count", label: "Messages", type: "number", value: 1 },
      { name: "truncate", label: "Truncate payload at (bytes)", type: "number", value: 50000 }
    ], "Get message(s)", function (v) {
      return S.api("POST", "/api/queues/" + S.path(vhost, name) + "/get",
        { count: v.count || 1, ackmode: v.ackmode, encoding: v.encoding, truncate: v.truncate }).then(function (msgs) {
        S.append(S.clear(out), msgs.length === 0 ? h("p", { class: "none", text: "Queue is empty." }) : msgs.map(messageView));
        reload();
      });
    });
  }

  function moveForm(vhost, name, reload) {
    return S.form("move-messages", [
      { name: "destination", label: "Destination queue", required: true },
      { name: "count", label: "Messages (empty: all ready)", type: "number" }
    ], "Move messages", function (v) {
      var body = { destination: v.destination };
      if (v.count !== undefined) body.count = v.count;
      return S.api("POST", "/api/queues/" + S.path(vhost, name) + "/move", body).then(function (r) {
        S.flash("Moved " + r.moved + " message(s) to '" + v.destination + "'.");
        reload();
      });
    });
  }

  function deletePanel(vhost, name) {
    var ifEmpty = h("input", { type: "checkbox", id: "delete-if-empty" });
    var ifUnused = h("input", { type: "checkbox", id: "delete-if-unused" });
    return h("div", null,
      h("label", { class: "inline" }, ifEmpty, " Only if empty"), " ",
      h("label", { class: "inline" }, ifUnused, " Only if unused"), " ",
      S.confirmButton("delete-queue", "Delete queue", "Delete queue '" + name + "'?", function () {
        var q = [];
        if (ifEmpty.checked) q.push("if-empty=true");
        if (ifUnused.checked) q.push("if-unused=true");
        return S.api("DELETE", "/api/queues/" + S.path(vhost, name) + (q.length ? "?" + q.join("&") : "")).then(function () {
          S.flash("Queue '" + name + "' deleted.");
          S.go("queues");
        });
      }));
  }

  function render(main, p) {
    var base = "/api/queues/" + S.path(p.vhost, p.name);
    S.title(main, "Queue " + p.name, "in " + p.vhost);
    var det = h("div", { id: "queue-box" }), cons = h("div"), binds = h("div"), got = h("div", { id: "messages" });
    var alive = S.current();
    function reload() {
      S.api("GET", base).then(function (q) {
        if (alive()) S.append(S.clear(det), details(q));
      }, function (e) {
        if (alive()) S.append(S.clear(det), h("p", { class: "error", id: "queue-error", text: e.message }));
      });
      S.api("GET", "/api/consumers/" + S.enc(p.vhost)).then(function (list) {
        if (!alive()) return;
        S.append(S.clear(cons), consumersTable(list.filter(function (c) { return c.queue && c.queue.name === p.name; })));
      }, function () {});
      S.api("GET", base + "/bindings").then(function (list) {
        if (alive()) S.append(S.clear(binds), S.bindingsTable(list, "bindings", reload));
      }, function () {});
    }
    S.append(main,
      S.section("Details", "details-section", det),
      S.section("Consumers", "consumers-section", cons),
      S.section("Bindings", "bindings-section", binds, S.details("Add binding to this queue", "bind-section", false,
        S.bindForm("bind-queue", p.vhost, "q", p.name, reload))),
      S.details("Publish message", "publish-section", false, S.publishForm("publish", p.vhost, "amq.default", p.name)),
      S.details("Get messages", "get-section", true, getForm(p.vhost, p.name, got, reload), got),
      S.details("Move messages", "move-section", false, moveForm(p.vhost, p.name, reload)),
      S.details("Purge", "purge-section", false,
        S.confirmButton("purge", "Purge messages", "Remove every ready message of '" + p.name + "'?", function () {
          return S.api("DELETE", base + "/contents").then(function () {
            S.flash("Queue '" + p.name + "' purged.");
            reload();
          });
        })),
      S.details("Delete", "delete-section", false, deletePanel(p.vhost, p.name)));
    reload();
    S.every(5000, reload);
  }

  S.route("queue/:vhost/:name", render, "queues");
})();
