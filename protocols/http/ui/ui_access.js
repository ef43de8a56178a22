/*
 * ui_access.js: users (add, change password and tags, delete), virtual
 * hosts (add, delete), and a user's permissions and topic permissions
 * in each vhost (set, clear), through RabbitMQ's /api/users,
 * /api/vhosts, /api/permissions and /api/topic-permissions.
 */
"use strict";

(function () {
  var h = S.h;

  function tags(t) { return Array.isArray(t) ? t.join(", ") : (t || ""); }

  function userForm(id, name, reload) {
    var fields = [];
    if (!name) fields.push({ name: "name", label: "Username", required: true });
    fields.push(
      { name: "password", label: name ? "New password (empty: keep)" : "Password", type: "password" },
      { name: "tags", label: "Tags (comma separated)", placeholder: "administrator, monitoring" });
    return S.form(id, fields, name ? "Update user" : "Add user", function (v) {
      var user = name || v.name, body = { tags: v.tags };
      if (v.password) body.password = v.password;
      var pre = name && !v.password
        ? S.api("GET", "/api/users/" + S.enc(user)).then(function (u) { body.password_hash = u.password_hash;
          body.hashing_algorithm = u.hashing_algorithm; })
        : Promise.resolve();
      return pre.then(function () { return S.api("PUT", "/api/users/" + S.enc(user), body); }).then(function () {
        S.flash("User '" + user + "' " + (name ? "updated." : "added."));
        reload();
      });
    });
  }

  function renderUsers(main) {
    S.title(main, "Users");
    var box = h("div", { id: "users-box" });
    var alive = S.current();
    function reload() {
      S.api("GET", "/api/users").then(function (list) {
        if (!alive()) return;
        S.append(S.clear(box), S.table([
          { label: "Name", id: "name", cell: function (u) { return S.link("user", [u.name], u.name, { class: "uname" }); } },
          { label: "Tags", id: "tags", cell: function (u) { return tags(u.tags); } },
          { label: "Can log in with password", id: "password", cell: function (u) { return u.password_hash ? "yes" : "no"; } }
        ], list, { id: "users" }));
      }, function (e) { if (alive()) S.append(S.clear(box), h("p", { class: "error", text: e.message })); });
    }
    S.append(main, S.section("All users", "users-section", box),
      S.details("Add a user", "add-user-section", true, userForm("add-user", null, reload)));
    reload();
  }

  /* One permission row per vhost with a clear button. */
  function permTable(list, id, topic, reload) {
    var cols = [{ label: "Virtual host", key: "vhost" }];
    if (topic) cols.push({ label: "Exchange", key: "exchange" });
    else cols.push({ label: "Configure", key: "configure" });
    cols.push({ label: "Write", key: "write" }, { label: "Read", key: "read" }, { label: "", id: "clear", cell: function (p) {
      /* a topic permission is cleared per exchange */
      var path = topic ? "/api/topic-permissions/" + S.path(p.vhost, p.user, p.exchange)
        : "/api/permissions/" + S.path(p.vhost, p.user);
      return h("button", { type: "button", class: "clear-perm", onclick: function () {
        S.api("DELETE", path).then(function () {
          S.flash("Permission cleared.");
          reload();
        }, function (e) { S.flash(e.message, "error"); });
      } }, "Clear");
    } });
    return S.table(cols, list, { id: id, empty: "None." });
  }

  function permForm(user, reload) {
    return S.form("set-permission", [
      { name: "vhost", label: "Virtual host", type: "select", options: S.vhosts(), value: "/" },
      { name: "configure", label: "Configure regexp", value: ".*" },
      { name: "write", label: "Write regexp", value: ".*" },
      { name: "read", label: "Read regexp", value: ".*" }
    ], "Set permission", function (v) {
      return S.api("PUT", "/api/permissions/" + S.path(v.vhost, user),
        { configure: v.configure, write: v.write, read: v.read }).then(function () {
        S.flash("Permission set in '" + v.vhost + "'.");
        reload();
      });
    });
  }

  function topicForm(user, reload) {
    return S.form("set-topic-permission", [
      { name: "vhost", label: "Virtual host", type: "select", options: S.vhosts(), value: "/" },
      { name: "exchange", label: "Exchange", value: "amq.topic", required: true },
      { name: "write", label: "Write regexp", value: ".*" },
      { name: "read", label: "Read regexp", value: ".*" }
    ], "Set topic permission", function (v) {
      return S.api("PUT", "/api/topic-permissions/" + S.path(v.vhost, user),
        { exchange: v.exchange, write: v.write, read: v.read }).then(function () {
        S.flash("Topic permission set on '" + v.exchange + "'.");
        reload();
      });
    });
  }

  function renderUser(main, p) {
    var base = "/api/users/" + S.enc(p.name);
    S.title(main, "User " + p.name);
    var det = h("div", { id: "user-box" }), perms = h("div"), tperms = h("div");
    var alive = S.current();
    function reload() {
      S.api("GET", base).then(function (u) {
        if (alive()) S.append(S.clear(det), S.kv([["Tags", tags(u.tags), "tags"]], "user-details"));
      }, function (e) { if (alive()) S.append(S.clear(det), h("p", { class: "error", id: "user-error", text: e.message })); });
      S.api("GET", base + "/permissions").then(function (l) {
        if (alive()) S.append(S.clear(perms), permTable(l, "permissions", false, reload));
      }, function () {});
      S.api("GET", base + "/topic-permissions").then(function (l) {
        if (alive()) S.append(S.clear(tperms), permTable(l, "topic-permissions", true, reload));
      }, function (e) {
        if (alive()) S.append(S.clear(tperms), h("p", { class: "error", text: "Topic permissions: " + e.message }));
      });
    }
    S.append(main, S.section("Details", "details-section", det),
      S.section("Permissions", "permissions-section", perms,
        S.details("Set permission", "set-permission-section", false, permForm(p.name, reload))),
      S.section("Topic permissions", "topic-permissions-section", tperms,
        S.details("Set topic permission", "set-topic-permission-section", false, topicForm(p.name, reload))),
      S.details("Update this user", "update-user-section", false, userForm("update-user", p.name, reload)),
      S.details("Delete", "delete-section", false,
        S.confirmButton("delete-user", "Delete user", "Delete user '" + p.name + "'?", function () {
          return S.api("DELETE", base).then(function () { S.flash("User deleted."); S.go("users"); });
        })));
    reload();
  }

  function renderVhosts(main) {
    S.title(main, "Virtual hosts");
    var box = h("div", { id: "vhosts-box" });
    var alive = S.current();
    function reload() {
      S.api("GET", "/api/vhosts").then(function (list) {
        if (!alive()) return;
        S.append(S.clear(box), S.table([
          { label: "Name", id: "name", cell: function (v) { return S.link("vhost", [v.name], v.name, { class: "vname" }); } },
          { label: "Ready", key: "messages_ready", num: true },
          { label: "Unacked", key: "messages_unacknowledged", num: true },
          { label: "Total", key: "messages", num: true }
        ], list, { id: "vhosts" }));
      }, function (e) { if (alive()) S.append(S.clear(box), h("p", { class: "error", text: e.message })); });
    }
    S.append(main, S.section("All virtual hosts", "vhosts-section", box),
      S.details("Add a virtual host", "add-vhost-section", true, S.form("add-vhost", [
        { name: "name", label: "Name", required: true }
      ], "Add virtual host", function (v) {
        return S.api("PUT", "/api/vhosts/" + S.enc(v.name), {}).then(function () {
          S.flash("Virtual host '" + v.name + "' added.");
          reload();
        });
      })));
    reload();
  }

  function renderVhost(main, p) {
    var base = "/api/vhosts/" + S.enc(p.name);
    S.title(main, "Virtual host " + p.name);
    var perms = h("div"), tperms = h("div");
    var alive = S.current();
    function reload() {
      S.api("GET", base + "/permissions").then(function (l) {
        if (alive()) S.append(S.clear(perms), S.table([
          { label: "User", id: "user", cell: function (x) { return S.link("user", [x.user], x.user); } },
          { label: "Configure", key: "configure" }, { label: "Write", key: "write" }, { label: "Read", key: "read" }
        ], l, { id: "vhost-permissions", empty: "None." }));
      }, function (e) { if (alive()) S.append(S.clear(perms), h("p", { class: "error", id: "vhost-error", text: e.message })); });
      S.api("GET", base + "/topic-permissions").then(function (l) {
        if (alive()) S.append(S.clear(tperms), S.table([
          { label: "User", key: "user" }, { label: "Exchange", key: "exchange" },
          { label: "Write", key: "write" }, { label: "Read", key: "read" }
        ], l, { id: "vhost-topic-permissions", empty: "None." }));
      }, function () {});
    }
    S.append(main, S.section("Permissions", "permissions-section", perms),
      S.section("Topic permissions", "topic-permissions-section", tperms),
      S.details("Delete", "delete-section", false,
        S.confirmButton("delete-vhost", "Delete virtual host",
          "Delete '" + p.name + "' and every queue, exchange and message in it?", function () {
            return S.api("DELETE", base).then(function () { S.flash("Virtual host deleted."); S.go("vhosts"); });
          })));
    reload();
  }

  S.route("users", renderUsers, "users");
  S.route("user/:name", renderUser, "users");
  S.route("vhosts", renderVhosts, "vhosts");
  S.route("vhost/:name", renderVhost, "vhosts");
})();
