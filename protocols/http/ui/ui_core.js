/*
 * ui_core.js: the management UI's base: the API client, credentials, DOM
 * building, the hash router, periodic refresh and number formatting.
 *
 * Credentials live in this tab's sessionStorage only (never in a URL,
 * never in localStorage): they go with every API call as basic auth, with
 * X-Requested-With so that a 401 does not make the browser show its own
 * login dialog. Every state-changing call sends Content-Type:
 * application/json, which a form on another site cannot send without a
 * CORS preflight that this origin never grants.
 *
 * Every value shown comes from the API and enters the page as text
 * (textContent, attribute values), never as markup.
 */
"use strict";

var S = {};

(function () {
  var KEY = "sluice-auth";

  /* ---------------- credentials ---------------- */

  function utf8b64(s) {
    var bytes = new TextEncoder().encode(s), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  S.login = function (user, pass) {
    sessionStorage.setItem(KEY, JSON.stringify({ user: user, token: utf8b64(user + ":" + pass) }));
  };
  S.logout = function () { sessionStorage.removeItem(KEY); };
  S.user = function () {
    var a = S.auth();
    return a ? a.user : null;
  };
  S.auth = function () {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; }
  };

  /* ---------------- API client ---------------- */

  function ApiError(status, reason) {
    this.status = status;
    this.message = reason;
  }
  ApiError.prototype = Object.create(Error.prototype);
  S.ApiError = ApiError;

  /*
   * S.api(method, path[, body[, headers]]) -> Promise of the parsed JSON
   * (null for an empty answer). A non-2xx answer rejects with ApiError
   * (status, RabbitMQ's "reason"); a 401 also ends the session.
   */
  S.api = function (method, path, body, extra) {
    if (dotSegment(path))
      return Promise.reject(new ApiError(400, "A name of '.' or '..' cannot be used from a browser " +
        "(it would address another object): use rabbitmqadmin or a client library."));
    var a = S.auth(), h = { "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" };
    var opts = { method: method, headers: h, credentials: "omit", cache: "no-store" };
    if (a) h.Authorization = "Basic " + a.token;
    if (method !== "GET" && method !== "HEAD") {
      h["Content-Type"] = "application/json";
      if (body !== undefined) opts.body = JSON.stringify(body);
    }
    Object.keys(extra || {}).forEach(function (k) { h[k] = extra[k]; });
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = text; }
        }
        if (res.ok) return data;
        var reason = data && data.reason ? data.reason : res.status + " " + res.statusText;
        if (res.status === 401 && path !== "/api/whoami" && S.onUnauthorized) S.onUnauthorized();
        throw new ApiError(res.status, reason);
      });
    });
  };

  /*
   * A browser resolves "." and ".." path segments (also written %2E) before
   * it sends a request, whatever the encoding: the path of a queue named
   * "." plus "/contents" (purge) would become the queue "contents" itself.
   * An object so named is refused here, never addressed elsewhere.
   */
  function dotSegment(path) {
    return path.split(/[?#]/)[0].split("/").some(function (seg) {
      seg = seg.replace(/%2e/gi, ".");
      return seg === "." || seg === "..";
    });
  }

  /* Path pieces: "%2F" for the vhost "/". */
  S.enc = function (s) { return encodeURIComponent(s); };
  S.path = function () {
    return Array.prototype.map.call(arguments, S.enc).join("/");
  };

  /* ---------------- DOM ---------------- */

  /*
   * S.h(tag, attrs, children...): an element. attrs: "text" sets
   * textContent, "on<event>" adds a listener, "class", "for", other keys
   * become attributes (false/null/undefined skipped, true = ""). Children
   * are nodes, strings (text) or arrays of either; null is skipped.
   */
  S.h = function (tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === false || v === null || v === undefined) return;
      if (k === "text") el.textContent = String(v);
      else if (k.slice(0, 2) === "on" && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "value") el.value = v;
      else if (k === "checked") el.checked = !!v;
      else el.setAttribute(k, v === true ? "" : String(v));
    });
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  };

  function append(el, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(el, x); }); return; }
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  /* S.append(el, children...): the children as S.h takes them. */
  S.append = function (el) {
    for (var i = 1; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  };

  S.clear = function (el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  };

  /* A link to a page of the UI: S.link("queue", [vhost, name], text). */
  S.href = function (page, args) {
    return "#/" + [page].concat((args || []).map(S.enc)).join("/");
  };
  S.link = function (page, args, text, attrs) {
    var a = Object.assign({ href: S.href(page, args), text: text }, attrs || {});
    return S.h("a", a);
  };

  /* A message above the page: kind "ok" or "error". */
  S.flash = function (text, kind) {
    var box = document.getElementById("flash");
    S.clear(box);
    box.className = kind === "error" ? "flash error" : "flash ok";
    box.textContent = text;
    box.hidden = false;
    clearTimeout(S._flashTimer);
    S._flashTimer = setTimeout(function () { box.hidden = true; }, 8000);
  };

  /* ---------------- router ---------------- */

  var routes = [], timers = [], generation = 0;

  /* S.route("queue/:vhost/:name", render): render(main, params). */
  S.route = function (pattern, render, nav) {
    routes.push({ parts: pattern ? pattern.split("/") : [], render: render, nav: nav || pattern.split("/")[0] });
  };

  function match(parts) {
    for (var i = 0; i < routes.length; i++) {
      var r = routes[i], params = {};
      if (r.parts.length !== parts.length) continue;
      var ok = r.parts.every(function (p, j) {
        if (p.charAt(0) === ":") { params[p.slice(1)] = parts[j]; return true; }
        return p === parts[j];
      });
      if (ok) return { route: r, params: params };
    }
    return null;
  }

  /* Periodic refresh for the current page only: cleared on navigation. */
  S.every = function (ms, fn) {
    var gen = generation;
    var id = setInterval(function () {
      if (gen !== generation || document.hidden) return;
      fn();
    }, ms);
    timers.push(id);
  };

  /* True while the page that asked is still the one shown. */
  S.current = function () {
    var gen = generation;
    return function () { return gen === generation; };
  };

  S.navigate = function () {
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash === "" ? [] : hash.split("/").map(function (p) {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    var m = match(parts) || match([]);
    timers.forEach(clearInterval);
    timers = [];
    generation++;
    var main = S.clear(document.getElementById("page"));
    S.markNav(m.route.nav);
    try {
      m.route.render(main, m.params);
    } catch (e) {
      S.append(main, S.h("p", { class: "error", text: String(e) }));
    }
  };

  /* Highlight the navigation entry of the page shown. */
  var shownNav = null;
  S.markNav = function (nav) {
    if (nav !== undefined) shownNav = nav;
    document.querySelectorAll("#nav a").forEach(function (a) {
      a.classList.toggle("active", a.getAttribute("data-nav") === shownNav);
    });
  };

  S.go = function (page, args) {
    var h = S.href(page, args);
    if (location.hash === h) S.navigate();
    else location.hash = h;
  };

  /* ---------------- formatting ---------------- */

  S.num = function (n) {
    if (n === undefined || n === null || n === "") return "";
    if (typeof n !== "number") return String(n);
    return n.toLocaleString("en-US", { maximumFractionDigits: 0 });
  };
  S.rate = function (n) {
    if (typeof n !== "number") return "";
    return n.toLocaleString("en-US", { minimumFractionDigits: n < 10 ? 1 : 0, maximumFractionDigits: n < 10 ? 1 : 0 }) + "/s";
  };
  S.bytes = function (n) {
    if (typeof n !== "number") return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  };
  S.duration = function (ms) {
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60);
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  };
  /* obj.a.b, or undefined */
  S.get = function (obj, path) {
    return path.split(".").reduce(function (o, k) { return o === undefined || o === null ? undefined : o[k]; }, obj);
  };
  S.json = function (v) { return JSON.stringify(v === undefined ? null : v); };
})();
