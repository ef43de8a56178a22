/*
 * ui_policies.js: policies and operator policies (list, add or replace,
 * edit, delete) through RabbitMQ's /api/policies and
 * /api/operator-policies: name, pattern, apply-to, priority and the
 * definition as JSON.
 */
"use strict";

(function () {
  var h = S.h;
  var APPLY_TO = [["all", "Exchanges and queues"], ["queues", "Queues"], ["classic_queues", "Classic queues"],
    ["quorum_queues", "Quorum queues"], ["streams", "Streams"], ["exchanges", "Exchanges"]];

  function kinds(operator) {
    return operator
      ? { api: "/api/operator-policies", id: "operator-policies", title: "Operator policies" }
      : { api: "/api/policies", id: "policies", title: "Policies" };
  }

  function policyForm(k, current, reload) {
    var p = current || {};
    var form = S.form("add-" + k.id, [
      { name: "vhost", label: "Virtual host", type: "select", options: S.vhosts(), value: p.vhost || "/" },
      { name: "name", label: "Name", required: true, value: p.name },
      { name: "pattern", label: "Pattern (regexp)", required: true, value: p.pattern === undefined ? "" : p.pattern },
      { name: "apply_to", label: "Apply to", type: "select", options: APPLY_TO, value: p["apply-to"] || "all" },
      { name: "priority", label: "Priority", type: "number", value: p.priority === undefined ? 0 : p.priority },
      { name: "definition", label: "Definition (JSON)", type: "json", rows: 4,
        value: p.definition ? JSON.stringify(p.definition, null, 1) : "", placeholder: "{\"max-length\": 1000}" }
    ], current ? "Update policy" : "Add / update policy", function (v) {
      return S.api("PUT", k.api + "/" + S.path(v.vhost, v.name), {
        pattern: v.pattern, "apply-to": v.apply_to, priority: v.priority || 0, definition: v.definition
      }).then(function () {
        S.flash("Policy '" + v.name + "' set.");
        reload();
      });
    });
    return form;
  }

  function render(main, operator) {
    var k = kinds(operator);
    S.title(main, k.title);
    var box = h("div", { id: k.id + "-box" }), edit = h("div", { id: k.id + "-edit" });
    var alive = S.current();
    function reload() {
      S.api("GET", k.api).then(function (list) {
        if (!alive()) return;
        S.append(S.clear(box), S.table([
          { label: "Virtual host", key: "vhost" }, { label: "Name", key: "name" },
          { label: "Pattern", key: "pattern" }, { label: "Apply to", key: "apply-to" },
          { label: "Definition", id: "definition", cell: function (p) { return S.args(p.definition); } },
          { label: "Priority", key: "priority", num: true },
          { label: "", id: "actions", cell: function (p) {
            return h("span", null,
              h("button", { type: "button", class: "edit", onclick: function () {
                S.append(S.clear(edit), S.section("Edit policy " + p.name, "edit-section", policyForm(k, p, reload)));
              } }, "Edit"), " ",
              h("button", { type: "button", class: "danger delete", onclick: function () {
                S.api("DELETE", k.api + "/" + S.path(p.vhost, p.name)).then(function () {
                  S.flash("Policy '" + p.name + "' deleted.");
                  S.clear(edit);
                  reload();
                }, function (e) { S.flash(e.message, "error"); });
              } }, "Delete"));
          } }
        ], list, { id: k.id, empty: "No policies." }));
      }, function (e) {
        if (alive()) S.append(S.clear(box), h("p", { class: "error", id: k.id + "-error", text: e.message }));
      });
    }
    S.append(main, S.section("All " + k.title.toLowerCase(), k.id + "-section", box), edit,
      S.details("Add / update a policy", "add-" + k.id + "-section", true, policyForm(k, null, reload)));
    reload();
  }

  S.route("policies", function (main) { render(main, false); }, "policies");
  S.route("operator-policies", function (main) { render(main, true); }, "policies");
})();
