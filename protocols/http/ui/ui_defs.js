/*
 * ui_defs.js: export and import definitions (RabbitMQ's definitions.json:
 * users, vhosts, permissions, topic permissions, policies, queues,
 * exchanges, bindings), for the whole broker or one vhost.
 */
"use strict";

(function () {
  var h = S.h;

  function defsPath(vhost) {
    return vhost ? "/api/definitions/" + S.enc(vhost) : "/api/definitions";
  }

  function vhostSelect(id) {
    var sel = h("select", { id: id }, h("option", { value: "", text: "All virtual hosts" }));
    S.vhosts().then(function (vs) {
      vs.forEach(function (v) { sel.appendChild(h("option", { value: v, text: v })); });
    });
    return sel;
  }

  function exportPanel() {
    var vh = vhostSelect("export-vhost"), out = h("pre", { id: "export-preview", class: "payload" });
    var link = h("a", { id: "export-download", hidden: true, text: "Download" });
    var button = h("button", { type: "button", id: "export-button", class: "primary", onclick: function () {
      S.api("GET", defsPath(vh.value)).then(function (d) {
        var text = JSON.stringify(d, null, 2);
        out.textContent = text;
        if (link.href) URL.revokeObjectURL(link.href);
        link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
        link.download = "sluice-definitions" + (vh.value ? "-" + vh.value.replace(/[^A-Za-z0-9_.-]/g, "_") : "") + ".json";
        link.hidden = false;
        link.click();
      }, function (e) { S.flash(e.message, "error"); });
    } }, "Export definitions");
    return h("div", null, h("label", { for: "export-vhost", text: "Virtual host " }), vh, " ", button, " ", link, out);
  }

  function importPanel() {
    var vh = vhostSelect("import-vhost");
    var file = h("input", { type: "file", id: "import-file", accept: "application/json,.json" });
    var text = h("textarea", { id: "import-text", rows: 6, placeholder: "or paste definitions JSON here" });
    var err = h("p", { class: "form-error", id: "import-error", role: "alert" });
    file.addEventListener("change", function () {
      if (!file.files.length) return;
      file.files[0].text().then(function (t) { text.value = t; });
    });
    var button = h("button", { type: "button", id: "import-button", class: "primary", onclick: function () {
      err.textContent = "";
      var body;
      try { body = S.parseJson(text.value, "Definitions"); } catch (e) { err.textContent = e.message; return; }
      S.api("POST", defsPath(vh.value), body).then(function () {
        S.flash("Definitions imported.");
      }, function (e) { err.textContent = e.message; });
    } }, "Import definitions");
    return h("div", null, h("div", { class: "field" }, h("label", { for: "import-vhost", text: "Into virtual host" }), vh),
      h("div", { class: "field" }, h("label", { for: "import-file", text: "File" }), file),
      h("div", { class: "field" }, h("label", { for: "import-text", text: "JSON" }), text), button, err);
  }

  S.route("definitions", function (main) {
    S.title(main, "Definitions");
    S.append(main, S.section("Export", "export-section", exportPanel()),
      S.section("Import", "import-section", importPanel()));
  }, "definitions");
})();
