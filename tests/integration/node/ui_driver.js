/*
 * ui_driver.js: headless Chromium for the UI tests, driven over stdin and
 * stdout so that pytest can interleave browser steps with API and client
 * checks (Python's playwright is not packaged for Debian; playwright-core
 * from npm is, with Debian's own chromium binary).
 *
 * Start: node ui_driver.js. It launches one Chromium for all the tests of
 * a run (a launch costs seconds); each test has a context of its own,
 * as fresh as a new profile (no cookies, storage or cache shared).
 * Then one JSON request per line on stdin, one JSON answer per line on
 * stdout: {"ok": true, "value": ...} or {"ok": false, "error": "..."}.
 *
 *   {"op": "open", "shots": DIR}             a new context and page (closing the
 *                                            last one); screenshots go to DIR
 *   {"op": "close"}                          close the context
 *   {"op": "goto", "url": U}                 load U, wait for the load event
 *   {"op": "click", "sel": S}                click the element S
 *   {"op": "fill", "sel": S, "value": V}     type V into the field S
 *   {"op": "select", "sel": S, "value": V}   choose option V in select S
 *   {"op": "check", "sel": S, "value": B}    set checkbox S
 *   {"op": "wait", "sel": S[, "state": "visible"|"hidden"|"attached"|"detached"]}
 *   {"op": "wait_text", "sel": S, "text": T} until S's text contains T
 *   {"op": "text", "sel": S}                 S's textContent
 *   {"op": "texts", "sel": S}                every match's textContent, in order
 *   {"op": "attr", "sel": S, "name": N}      an attribute of S
 *   {"op": "count", "sel": S}                how many elements match S
 *   {"op": "eval", "js": EXPR}               the value of a JS expression in the page
 *   {"op": "screenshot", "name": N}          SCREENSHOT_DIR/N.png (full page)
 *   {"op": "console"}                        console errors and page errors so far
 *   {"op": "requests"}                       every request URL the page made so far
 *   {"op": "quit"}
 *
 * Each wait has a generous deadline (30 s): the machine is shared, and
 * the tests check outcomes, not speed.
 */
"use strict";

const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const TIMEOUT = 30000;
const errors = [];
const requests = [];
let context = null;
let page = null;
let shotDir = null;

/* A new context and page: the state of a browser with a new profile. */
async function open(browser, shots) {
  await close();
  errors.length = 0;
  requests.length = 0;
  shotDir = shots;
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  /* failed loads (a 404 the page expects, a 401 at login) are not script errors */
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) errors.push("console: " + m.text());
  });
  page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), headers: r.headers() }));
}

async function close() {
  if (context !== null) {
    const c = context;
    context = page = null;
    await c.close();
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

  const ops = {
    open: (c) => open(browser, c.shots).then(() => null),
    close: () => close().then(() => null),
    goto: (c) => page.goto(c.url, { waitUntil: "load" }).then(() => null),
    click: (c) => page.click(c.sel).then(() => null),
    fill: (c) => page.fill(c.sel, c.value).then(() => null),
    select: (c) => page.selectOption(c.sel, c.value).then(() => null),
    check: (c) => page.setChecked(c.sel, !!c.value).then(() => null),
    wait: (c) => page.waitForSelector(c.sel, { state: c.state || "visible" }).then(() => null),
    wait_text: (c) => page.waitForFunction(([s, t]) => {
      const el = document.querySelector(s);
      return el !== null && el.textContent.includes(t);
    }, [c.sel, c.text], { timeout: TIMEOUT }).then(() => null),
    text: (c) => page.textContent(c.sel),
    texts: (c) => page.$$eval(c.sel, (els) => els.map((e) => e.textContent)),
    attr: (c) => page.getAttribute(c.sel, c.name),
    count: (c) => page.$$eval(c.sel, (els) => els.length),
    eval: (c) => page.evaluate(c.js),
    screenshot: (c) => page.screenshot({ path: path.join(shotDir, c.name + ".png"), fullPage: true })
      .then(() => path.join(shotDir, c.name + ".png")),
    console: () => Promise.resolve(errors.slice()),
    requests: () => Promise.resolve(requests.slice()),
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { reply({ ok: false, error: "bad request: " + e.message }); continue; }
    if (cmd.op === "quit") break;
    const fn = ops[cmd.op];
    if (!fn) { reply({ ok: false, error: "unknown op " + cmd.op }); continue; }
    if (page === null && cmd.op !== "open" && cmd.op !== "close") {
      reply({ ok: false, error: "no page: open first" });
      continue;
    }
    try {
      const v = await fn(cmd);
      reply({ ok: true, value: v === undefined ? null : v });
    } catch (e) {
      reply({ ok: false, error: String(e && e.message || e).split("\n").slice(0, 6).join("\n") });
    }
  }
  rl.close();
  await close();
  await browser.close();
  process.exit(0);
}

function reply(o) {
  process.stdout.write(JSON.stringify(o === undefined ? null : o) + "\n");
}

main().catch((e) => {
  process.stderr.write("driver: " + (e && e.stack || e) + "\n");
  process.exit(1);
});
