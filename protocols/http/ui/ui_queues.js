/*
 * ui_queues.js: the queue list (paged on the server, so 10,000 queues
 * cost one page of JSON: filter by name or regex, sort by any column,
 * choose the page size, narrow to one vhost) and the form that adds a
 * queue.
 */
"use strict";

(function () {
  var h = S.h;

  S.queueCols = function () {
    return [
      { label: "Virtual host", key: "vhost", sort: "vhost" },
      { label: "Name", id: "name", sort: "name", cell: function (q) { return S.link("queue", [q.vhost, q.name], q.name, { class: "qname" }); } },
      { label: "Type", key: "type", sort: "type" },
      { label: "Features", id: "features", cell: function (q) {
        var f = [];
        if (q.durable) f.push("D");
        if (q.auto_delete) f.push("AD");
        if (q.exclusive) f.push("Excl");
        if (q.arguments && Object.keys(q.arguments).length) f.push("Args");
        return f.join(" ");
      } },
      { label: "State", key: "state", sort: "state" },
      { label: "Ready", key: "messages_ready", num: true, sort: "messages_ready" },
      { label: "Unacked", key: "messages_unacknowledged", num: true, sort: "messages_unacknowledged" },
      { label: "Total", key: "messages", num: true, sort: "messages" },
      { label: "Consumers", key: "consumers", num: true, sort: "consumers" },
      { label: "Incoming", id: "rate_in", num: true, sort: "message_stats.publish_details.rate",
        cell: function (q) { return S.rate(S.get(q, "message_stats.publish_details.rate") || 0); } },
      { label: "Deliver / get", id: "rate_out", num: true, sort: "message_stats.deliver_get_details.rate",
        cell: function (q) { return S.rate(S.get(q, "message_stats.deliver_get_details.rate") || 0); } },
      { label: "Ack", id: "rate_ack", num: true, sort: "message_stats.ack_details.rate",
        cell: function (q) { return S.rate(S.get(q, "message_stats.ack_details.rate") || 0); } }
    ];
  };

  var QUEUE_COLUMNS = "vhost,name,type,durable,auto_delete,exclusive,arguments,state,messages,messages_ready," +
    "messages_unacknowledged,consumers,message_stats.publish_details,message_stats.deliver_get_details,message_stats.ack_details";

  function addQueueForm(reload) {
    return S.form("add-queue", [
      { name: "vhost", label: "Virtual host", type: "select", options: S.vhosts(), value: "/" },
      { name: "name", label: "Name", required: true },
      { name: "type", label: "Type", type: "select", options: [["classic", "Classic"], ["quorum", "Quorum"]], value: "classic" },
      { name: "durable", label: "Durable", type: "checkbox", value: true },
      { name: "auto_delete", label: "Auto delete", type: "checkbox", value: false },
      { name: "arguments", label: "Arguments (JSON)", type: "json", placeholder: "{\"x-message-ttl\": 60000}" }
    ], "Add queue", function (v) {
      var args = v.arguments;
      if (v.type !== "classic") args["x-queue-type"] = v.type;
      return S.api("PUT", "/api/queues/" + S.path(v.vhost, v.name),
        { durable: v.durable, auto_delete: v.auto_delete, arguments: args }).then(function () {
        S.flash("Queue '" + v.name + "' declared.");
        reload();
      });
    });
  }

  function render(main) {
    S.title(main, "Queues");
    var box = h("div", { id: "queues-box" });
    S.append(main, S.section("All queues", "queues-section", box));
    var list = S.pagedList(box, {
      id: "queues", cols: S.queueCols(), columns: QUEUE_COLUMNS, defaultSort: "name", vhostFilter: true,
      empty: "No queues match.",
      pathFor: function (st) { return st.vhost ? "/api/queues/" + S.enc(st.vhost) : "/api/queues"; }
    });
    S.append(main, S.details("Add a queue", "add-queue-section", false, addQueueForm(list.reload)));
    S.every(5000, list.reload);
  }

  S.route("queues", render, "queues");
})();
