/*
 * ui_exchanges.js: the exchange list (paged on the server), the form
 * that adds an exchange, and one exchange: its figures, bindings from it
 * and to it (add and remove), publishing through it, and delete.
 */
"use strict";

(function () {
  var h = S.h;

  function xname(x) { return x.name === "" ? "(AMQP default)" : x.name; }
  /* The default exchange is "amq.default" in URLs. */
  function xurl(x) { return x === "" ? "amq.default" : x; }

  var COLS = [
    { label: "Virtual host", key: "vhost", sort: "vhost" },
    { label: "Name", id: "name", sort: "name", cell: function (x) {
      return S.link("exchange", [x.vhost, xurl(x.name)], xname(x), { class: "xname" });
    } },
    { label: "Type", key: "type", sort: "type" },
    { label: "Features", id: "features", cell: function (x) {
      var f = [];
      if (x.durable) f.push("D");
      if (x.auto_delete) f.push("AD");
      if (x.internal) f.push("I");
      if (x.arguments && Object.keys(x.arguments).length) f.push("Args");
      return f.join(" ");
    } },
    { label: "In", id: "rate_in", num: true, sort: "message_stats.publish_in_details.rate",
      cell: function (x) { return S.rate(S.get(x, "message_stats.publish_in_details.rate") || 0); } },
    { label: "Out", id: "rate_out", num: true, sort: "message_stats.publish_out_details.rate",
      cell: function (x) { return S.rate(S.get(x, "message_stats.publish_out_details.rate") || 0); } }
  ];

  function addForm(reload) {
    return S.form("add-exchange", [
      { name: "vhost", label: "Virtual host", type: "select", options: S.vhosts(), value: "/" },
      { name: "name", label: "Name", required: true },
      { name: "type", label: "Type", type: "select",
        options: [["direct", "direct"], ["fanout", "fanout"], ["headers", "headers"], ["topic", "topic"]] },
      { name: "durable", label: "Durable", type: "checkbox", value: true },
      { name: "auto_delete", label: "Auto delete", type: "checkbox" },
      { name: "internal", label: "Internal", type: "checkbox" },
      { name: "arguments", label: "Arguments (JSON)", type: "json", placeholder: "{\"alternate-exchange\": \"ae\"}" }
    ], "Add exchange", function (v) {
      return S.api("PUT", "/api/exchanges/" + S.path(v.vhost, v.name), {
        type: v.type, durable: v.durable, auto_delete: v.auto_delete, internal: v.internal, arguments: v.arguments
      }).then(function () {
        S.flash("Exchange '" + v.name + "' declared.");
        reload();
      });
    });
  }

  function renderList(main) {
    S.title(main, "Exchanges");
    var box = h("div", { id: "exchanges-box" });
    S.append(main, S.section("All exchanges", "exchanges-section", box));
    var list = S.pagedList(box, {
      id: "exchanges", cols: COLS, defaultSort: "name", vhostFilter: true, empty: "No exchanges match.",
      pathFor: function (st) { return st.vhost ? "/api/exchanges/" + S.enc(st.vhost) : "/api/exchanges"; }
    });
    S.append(main, S.details("Add an exchange", "add-exchange-section", false, addForm(list.reload)));
    S.every(5000, list.reload);
  }

  function renderOne(main, p) {
    var base = "/api/exchanges/" + S.path(p.vhost, p.name);
    var isDefault = p.name === "amq.default";
    S.title(main, "Exchange " + (isDefault ? "(AMQP default)" : p.name), "in " + p.vhost);
    var det = h("div", { id: "exchange-box" }), src = h("div"), dst = h("div");
    var alive = S.current();
    function reload() {
      S.api("GET", base).then(function (x) {
        if (!alive()) return;
        S.append(S.clear(det), S.kv([
          ["Virtual host", x.vhost, "vhost"], ["Type", x.type, "type"], ["Durable", String(x.durable), "durable"],
          ["Auto delete", String(x.auto_delete), "auto_delete"], ["Internal", String(x.internal), "internal"],
          ["Arguments", S.args(x.arguments), "arguments"], ["Policy", x.policy || "", "policy"],
          ["In", S.rate(S.get(x, "message_stats.publish_in_details.rate") || 0), "rate_in"],
          ["Out", S.rate(S.get(x, "message_stats.publish_out_details.rate") || 0), "rate_out"]
        ], "exchange-details"));
      }, function (e) {
        if (alive()) S.append(S.clear(det), h("p", { class: "error", id: "exchange-error", text: e.message }));
      });
      if (isDefault) return;
      S.api("GET", base + "/bindings/source").then(function (l) {
        if (alive()) S.append(S.clear(src), S.bindingsTable(l, "bindings-source", reload));
      }, function () {});
      S.api("GET", base + "/bindings/destination").then(function (l) {
        if (alive()) S.append(S.clear(dst), S.bindingsTable(l, "bindings-destination", reload));
      }, function () {});
    }
    S.append(main, S.section("Details", "details-section", det));
    if (!isDefault) {
      S.append(main,
        S.section("Bindings from this exchange", "source-section", src,
          S.details("Add binding from this exchange", "bind-from-section", false, bindFrom(p, reload))),
        S.section("Bindings to this exchange", "destination-section", dst,
          S.details("Add binding to this exchange", "bind-to-section", false,
            S.bindForm("bind-exchange", p.vhost, "e", p.name, reload))));
    }
    S.append(main, S.details("Publish message", "publish-section", true, S.publishForm("publish", p.vhost, p.name)));
    if (!isDefault && p.name.indexOf("amq.") !== 0) {
      S.append(main, S.details("Delete", "delete-section", false,
        S.confirmButton("delete-exchange", "Delete exchange", "Delete exchange '" + p.name + "'?", function () {
          return S.api("DELETE", base).then(function () {
            S.flash("Exchange '" + p.name + "' deleted.");
            S.go("exchanges");
          });
        })));
    }
    reload();
    S.every(5000, reload);
  }

  /* Bind from this exchange to a queue or an exchange. */
  function bindFrom(p, reload) {
    return S.form("bind-from", [
      { name: "dest_type", label: "To", type: "select", options: [["q", "Queue"], ["e", "Exchange"]] },
      { name: "destination", label: "Name", required: true },
      { name: "routing_key", label: "Routing key" },
      { name: "arguments", label: "Arguments (JSON)", type: "json" }
    ], "Bind", function (v) {
      return S.api("POST", "/api/bindings/" + S.path(p.vhost, "e", p.name, v.dest_type, v.destination),
        { routing_key: v.routing_key, arguments: v.arguments }).then(function () {
        S.flash("Bound to '" + v.destination + "'.");
        reload();
      });
    });
  }

  S.route("exchanges", renderList, "exchanges");
  S.route("exchange/:vhost/:name", renderOne, "exchanges");
})();
