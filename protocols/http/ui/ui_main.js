/*
 * ui_main.js: start-up: the login form, the navigation, and the router
 * once logged in. Loaded last: every page has registered its route.
 */
"use strict";

(function () {
  var NAV = [
    ["overview", "Overview", ""], ["connections", "Connections"], ["channels", "Channels"],
    ["exchanges", "Exchanges"], ["queues", "Queues"], ["mqtt", "MQTT"], ["streams", "Streams"],
    ["users", "Users"], ["vhosts", "Virtual hosts"], ["policies", "Policies"],
    ["operator-policies", "Operator policies"], ["definitions", "Definitions"]
  ];

  function showLogin(message) {
    document.getElementById("app").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("login-user").focus();
  }

  /* Pages whose API answers only some tags (403 to the others, which is
   * what the page shows if opened by its address anyway). */
  var NAV_TAGS = {
    "users": ["administrator"], "operator-policies": ["administrator"],
    "definitions": ["administrator"], "policies": ["administrator", "policymaker"]
  };
  var tags = [];

  function allowed(page) {
    var need = NAV_TAGS[page];
    return !need || need.some(function (t) { return tags.indexOf(t) >= 0; });
  }

  function buildNav(streams) {
    var nav = S.clear(document.getElementById("nav"));
    NAV.forEach(function (n) {
      if ((n[0] === "streams" && !streams) || !allowed(n[0])) return;
      nav.appendChild(S.h("a", { href: "#/" + (n[2] === undefined ? n[0] : n[2]), "data-nav": n[0], text: n[1] }));
    });
  }

  function showApp(who) {
    document.getElementById("login").hidden = true;
    document.getElementById("app").hidden = false;
    tags = Array.isArray(who.tags) ? who.tags : String(who.tags || "").split(/\s*,\s*/);
    document.getElementById("whoami").textContent = who.name + (tags.length && tags[0] ? " (" +
      tags.join(", ") + ")" : "");
    buildNav(false);
    S.navigate();
    S.hasStreams().then(function (yes) {
      if (!yes) return;
      buildNav(true);
      S.markNav();
    });
  }

  function start() {
    S.onUnauthorized = function () {
      S.logout();
      showLogin("Your session ended: log in again.");
    };
    document.getElementById("login-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var user = document.getElementById("login-user").value;
      var pass = document.getElementById("login-pass").value;
      S.login(user, pass);
      S.api("GET", "/api/whoami").then(function (who) {
        document.getElementById("login-pass").value = "";
        showApp(who);
      }, function (e) {
        S.logout();
        showLogin(e.status === 401 ? "Login failed: wrong user name or password, or not allowed from here."
          : "Login failed: " + e.message);
      });
    });
    document.getElementById("logout").addEventListener("click", function () {
      S.logout();
      location.hash = "";
      showLogin("Logged out.");
    });
    window.addEventListener("hashchange", function () { if (S.auth()) S.navigate(); });
    if (!S.auth()) return showLogin();
    S.api("GET", "/api/whoami").then(showApp, function () { S.logout(); showLogin(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
