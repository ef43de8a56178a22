/*
 * ui_widgets.js: the pieces every page is built from: tables, the
 * server-side paged list (RabbitMQ's page=, page_size=, name=,
 * use_regex=, sort=, sort_reverse= query), forms, two-step confirm
 * buttons and key/value panels.
 */
"use strict";

(function () {
  var h = S.h;

  /*
   * S.table(cols, rows[, opts]): cols are {label, key (for the cell text),
   * cell(row) -> node or text, num (right aligned), sort (the API's sort
   * key)}. opts.sort = {key, reverse} and opts.onSort(key) make the
   * headers of sortable columns clickable. Each row gets data-name when
   * it has a name, for tests and styling.
   */
  S.table = function (cols, rows, opts) {
    opts = opts || {};
    var head = h("tr", null, cols.map(function (c) {
      var th = h("th", { class: c.num ? "n" : null }, c.label);
      if (c.sort && opts.onSort) {
        th.classList.add("sortable");
        th.setAttribute("data-sort", c.sort);
        if (opts.sort && opts.sort.key === c.sort) th.classList.add(opts.sort.reverse ? "desc" : "asc");
        th.addEventListener("click", function () { opts.onSort(c.sort); });
      }
      return th;
    }));
    var body = h("tbody", null, rows.map(function (r) {
      return h("tr", { "data-name": r && r.name !== undefined ? r.name : null }, cols.map(function (c) {
        var v = c.cell ? c.cell(r) : S.get(r, c.key);
        if (c.num && typeof v === "number") v = S.num(v);
        return h("td", { class: c.num ? "n" : null, "data-col": c.id || c.key || null }, v);
      }));
    }));
    if (rows.length === 0)
      body.appendChild(h("tr", { class: "empty" }, h("td", { colspan: cols.length, text: opts.empty || "Nothing here." })));
    return h("table", { class: "list" + (opts.cls ? " " + opts.cls : ""), id: opts.id || null }, h("thead", null, head), body);
  };

  /*
   * S.pagedList(container, opts): a list fetched a page at a time from the
   * API: opts.path (e.g. "/api/queues" or "/api/queues/%2F"), opts.cols,
   * opts.id, opts.defaultSort, opts.columns (the API's columns=, to keep
   * answers small with many objects), opts.pathFor(state) to pick the
   * path from the state (vhost filter), opts.initial the first state
   * (e.g. {name: "^x", regex: true}). State (page, size, filter, sort)
   * survives refreshes and navigation. Returns {reload(), state}.
   */
  var listState = {};
  S.pagedList = function (box, opts) {
    var st = listState[opts.id] || (listState[opts.id] = Object.assign({
      page: 1, size: 100, name: "", regex: false,
      sort: opts.defaultSort || "name", reverse: false, vhost: ""
    }, opts.initial || {}));
    var filter = h("input", { type: "search", class: "filter", placeholder: "Filter by name", value: st.name, "aria-label": "Filter" });
    var regex = h("input", { type: "checkbox", class: "regex", checked: st.regex });
    var size = h("select", { class: "page-size", "aria-label": "Page size" }, [20, 50, 100, 500].map(function (n) {
      return h("option", { value: n, selected: n === st.size ? "selected" : null, text: n });
    }));
    var vhostSel = opts.vhostFilter ? h("select", { class: "vhost-filter", "aria-label": "Virtual host" },
      h("option", { value: "", text: "All virtual hosts" })) : null;
    var info = h("span", { class: "count" });
    var pager = h("span", { class: "pager" });
    var tableBox = h("div", { class: "table-box" });
    var timer = null;
    S.append(S.clear(box), h("div", { class: "list-tools" },
      vhostSel, filter, h("label", { class: "inline" }, regex, " Regex"),
      h("label", { class: "inline" }, "Page size ", size), info, pager), tableBox);

    if (vhostSel) S.vhosts().then(function (vs) {
      vs.forEach(function (v) {
        vhostSel.appendChild(h("option", { value: v, text: v, selected: v === st.vhost ? "selected" : null }));
      });
    });

    function query() {
      var q = ["page=" + st.page, "page_size=" + st.size, "sort=" + S.enc(st.sort),
        "sort_reverse=" + st.reverse, "pagination=true"];
      if (st.name) q.push("name=" + S.enc(st.name), "use_regex=" + st.regex);
      if (opts.columns) q.push("columns=" + S.enc(opts.columns));
      var path = opts.pathFor ? opts.pathFor(st) : opts.path;
      return path + "?" + q.join("&");
    }

    function render(d) {
      if (d.page_count < st.page && st.page > 1) {       /* the list shrank */
        st.page = d.page_count;
        return reload();
      }
      S.append(S.clear(tableBox), S.table(opts.cols, d.items, {
        id: opts.id, sort: { key: st.sort, reverse: st.reverse }, empty: opts.empty,
        onSort: function (k) {
          if (st.sort === k) st.reverse = !st.reverse;
          else { st.sort = k; st.reverse = false; }
          st.page = 1;
          reload();
        }
      }));
      info.textContent = d.filtered_count === d.total_count
        ? S.num(d.total_count) + " total"
        : S.num(d.filtered_count) + " of " + S.num(d.total_count) + " match";
      S.append(S.clear(pager),
        h("button", { type: "button", class: "prev", disabled: st.page <= 1 ? true : null,
          onclick: function () { st.page--; reload(); } }, "\u2039 Prev"),
        h("span", { class: "page-of", text: "Page " + d.page + " of " + d.page_count }),
        h("button", { type: "button", class: "next", disabled: st.page >= d.page_count ? true : null,
          onclick: function () { st.page++; reload(); } }, "Next \u203a"));
    }

    var alive = S.current();
    function reload() {
      return S.api("GET", query()).then(function (d) {
        if (alive()) render(d);
      }, function (e) {
        if (alive()) S.append(S.clear(tableBox), h("p", { class: "error", text: e.message }));
      });
    }

    filter.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { st.name = filter.value; st.page = 1; reload(); }, 250);
    });
    regex.addEventListener("change", function () { st.regex = regex.checked; st.page = 1; reload(); });
    size.addEventListener("change", function () { st.size = Number(size.value); st.page = 1; reload(); });
    if (vhostSel) vhostSel.addEventListener("change", function () { st.vhost = vhostSel.value; st.page = 1; reload(); });
    reload();
    return { reload: reload, state: st };
  };

  /* The vhost names, from /api/vhosts. */
  S.vhosts = function () {
    return S.api("GET", "/api/vhosts?columns=name").then(function (vs) {
      return vs.map(function (v) { return v.name; });
    });
  };

  /*
   * S.form(id, fields, submit, onSubmit): fields are {name, label, type
   * ("text", "password", "number", "checkbox", "select", "textarea",
   * "json"), value, options ([value, text] pairs or a Promise of them),
   * placeholder, required}. onSubmit(values) returns a Promise; its
   * rejection is shown in the form. A "json" field must parse (empty is
   * {}). Returns the form element.
   */
  S.form = function (id, fields, submit, onSubmit) {
    var inputs = {}, err = h("p", { class: "form-error", role: "alert" });
    var rows = fields.map(function (f) {
      var el, common = { name: f.name, id: id + "-" + f.name, placeholder: f.placeholder || null,
        required: f.required ? true : null };
      if (f.type === "select") {
        el = h("select", common);
        var fill = function (opts) {
          opts.forEach(function (o) {
            var v = Array.isArray(o) ? o[0] : o, t = Array.isArray(o) ? o[1] : o;
            el.appendChild(h("option", { value: v, text: t, selected: v === f.value ? "selected" : null }));
          });
        };
        if (f.options && typeof f.options.then === "function") f.options.then(fill);
        else fill(f.options || []);
      } else if (f.type === "textarea" || f.type === "json") {
        el = h("textarea", Object.assign({ rows: f.rows || 3 }, common));
        el.value = f.value === undefined ? "" : f.value;
      } else if (f.type === "checkbox") {
        el = h("input", Object.assign({ type: "checkbox", checked: !!f.value }, common));
      } else {
        el = h("input", Object.assign({ type: f.type || "text", value: f.value === undefined ? "" : f.value,
          autocomplete: f.type === "password" ? "new-password" : "off" }, common));
      }
      inputs[f.name] = { el: el, f: f };
      return h("div", { class: "field" + (f.type === "checkbox" ? " check" : "") },
        h("label", { for: common.id, text: f.label }), el, f.help ? h("small", { text: f.help }) : null);
    });
    var button = h("button", { type: "submit", class: "primary", id: id + "-submit" }, submit);
    var form = h("form", { id: id, class: "form", novalidate: true }, rows, h("div", { class: "actions" }, button), err);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      err.textContent = "";
      var values = {};
      try {
        Object.keys(inputs).forEach(function (k) {
          var i = inputs[k];
          if (i.f.type === "checkbox") values[k] = i.el.checked;
          else if (i.f.type === "number") values[k] = i.el.value === "" ? undefined : Number(i.el.value);
          else if (i.f.type === "json") values[k] = S.parseJson(i.el.value, i.f.label);
          else values[k] = i.el.value;
          if (i.f.required && (values[k] === "" || values[k] === undefined))
            throw new Error(i.f.label + " is required");
        });
      } catch (e) {
        err.textContent = e.message;
        return;
      }
      button.disabled = true;
      Promise.resolve().then(function () { return onSubmit(values); }).then(function () {
        button.disabled = false;
      }, function (e) {
        button.disabled = false;
        err.textContent = e.message || String(e);
      });
    });
    return form;
  };

  /* A JSON object from a text field; empty text is {}. */
  S.parseJson = function (text, what) {
    if (!text || !text.trim()) return {};
    var v;
    try { v = JSON.parse(text); } catch (e) { throw new Error(what + ": not valid JSON (" + e.message + ")"); }
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(what + ": must be a JSON object");
    return v;
  };

  /*
   * A button that asks once more before acting: the first click shows
   * "Really <label>?" with Yes / No; Yes runs action() (a Promise).
   */
  S.confirmButton = function (id, label, question, action) {
    var box = h("span", { class: "confirm", id: id });
    function idle() {
      S.append(S.clear(box), h("button", { type: "button", class: "danger", id: id + "-button", onclick: ask }, label));
    }
    function ask() {
      S.append(S.clear(box), h("span", { class: "question", text: question + " " }),
        h("button", { type: "button", class: "danger", id: id + "-yes", onclick: run }, "Yes"),
        h("button", { type: "button", id: id + "-no", onclick: idle }, "No"));
    }
    function run() {
      box.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      Promise.resolve().then(action).then(idle, function (e) {
        idle();
        S.flash(e.message || String(e), "error");
      });
    }
    idle();
    return box;
  };

  /* A titled panel. */
  S.section = function (title, id) {
    var body = Array.prototype.slice.call(arguments, 2);
    return h("section", { id: id || null }, h("h2", { text: title }), body);
  };

  /* A collapsible panel for forms. */
  S.details = function (title, id, open) {
    var body = Array.prototype.slice.call(arguments, 3);
    return h("details", { id: id || null, open: open ? true : null }, h("summary", { text: title }), body);
  };

  /* Key/value rows: pairs of [label, value-or-node, id]. */
  S.kv = function (pairs, id) {
    return h("table", { class: "kv", id: id || null }, h("tbody", null, pairs.map(function (p) {
      return h("tr", null, h("th", { text: p[0] }), h("td", { "data-key": p[2] || null }, p[1]));
    })));
  };

  /* A table's worth of "key: value" lines for an arguments object. */
  S.args = function (obj) {
    var keys = Object.keys(obj || {});
    if (keys.length === 0) return "";
    return h("ul", { class: "args" }, keys.map(function (k) {
      return h("li", null, h("code", { text: k }), " = ", h("code", { text: S.json(obj[k]) }));
    }));
  };

  /* The page heading. */
  S.title = function (main, text, sub) {
    document.title = text + " - Sluice";
    S.append(main, h("h1", null, text, sub ? h("small", { text: " " + sub }) : null));
  };
})();
