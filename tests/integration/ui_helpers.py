"""Drive the management UI in headless Chromium from pytest.

``Browser`` runs tests/integration/node/ui_driver.js (playwright-core from
npm, installed by tools/dev.sh into tests/integration/node/node_modules,
with Debian's /usr/bin/chromium) and sends it one command at a time, so a test
can click in the page, then check the result through the API or a real
client (pika, paho), then click again.

One driver (and one Chromium) serves every test of a run: a Chromium
start costs seconds. Each Browser is a new context in it, as fresh as a
new profile (no cookies, storage or cache of an earlier test). Screenshots are test
artifacts: they go to $UI_ARTIFACTS, or build/ui-screenshots/ next to the
sluiced under test, one folder per test; nothing there is committed.

The ``ui`` fixture starts a broker and a browser logged in as guest.
"""
import atexit
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import SLUICED, Broker
from http_helpers import api, http_port

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "node", "ui_driver.js")
NODE_MODULES = os.path.join(HERE, "node", "node_modules", "playwright-core")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def missing():
    """Why the UI tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (Debian package nodejs)"
    if not os.path.exists(CHROMIUM):
        return "chromium is not installed (Debian package chromium)"
    if not os.path.isdir(NODE_MODULES):
        return "playwright-core is not installed: run tools/dev.sh (npm ci in tests/integration/node)"
    return None


def artifacts_dir(test_name):
    root = os.environ.get("UI_ARTIFACTS") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(SLUICED))), "ui-screenshots")
    path = os.path.join(root, re.sub(r"[^A-Za-z0-9_.-]", "_", test_name))
    os.makedirs(path, exist_ok=True)
    return path


class UIError(AssertionError):
    pass


class _Driver:
    """The ui_driver.js process: one Chromium, one context at a time."""

    def __init__(self):
        # stderr to a file: a pipe nobody reads during a long run could fill
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            ["node", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.err, text=True, cwd=os.path.dirname(DRIVER))
        atexit.register(self.quit)

    def alive(self):
        return self.proc.poll() is None

    def call(self, req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.err.seek(0)
            raise UIError("driver died:\n" + self.err.read()[-4000:])
        return json.loads(line)

    def quit(self):
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


_driver = []


def _the_driver():
    if not _driver or not _driver[0].alive():
        _driver[:] = [_Driver()]
    return _driver[0]


class Browser:
    def __init__(self, base_url, shots):
        self.base = base_url
        self.shots = shots
        self.driver = _the_driver()
        self.n = 0
        self.call("open", shots=shots)

    def call(self, op, **kw):
        kw["op"] = op
        r = self.driver.call(kw)
        if not r["ok"]:
            self.shot("failed-" + op)
            raise UIError("%s %s: %s" % (op, kw.get("sel", kw.get("url", "")), r["error"]))
        return r.get("value")

    # ---- the commands, by name ----
    def goto(self, frag=""):
        return self.call("goto", url=self.base + "/" + frag)

    def click(self, sel):
        return self.call("click", sel=sel)

    def fill(self, sel, value):
        return self.call("fill", sel=sel, value=value)

    def select(self, sel, value):
        return self.call("select", sel=sel, value=value)

    def check(self, sel, value=True):
        return self.call("check", sel=sel, value=value)

    def wait(self, sel, state="visible"):
        return self.call("wait", sel=sel, state=state)

    def wait_text(self, sel, text):
        return self.call("wait_text", sel=sel, text=text)

    def text(self, sel):
        return self.call("text", sel=sel)

    def texts(self, sel):
        return self.call("texts", sel=sel)

    def attr(self, sel, name):
        return self.call("attr", sel=sel, name=name)

    def count(self, sel):
        return self.call("count", sel=sel)

    def eval(self, js):
        return self.call("eval", js=js)

    def shot(self, name):
        self.n += 1
        try:
            return self.call("screenshot", name="%02d-%s" % (self.n, name))
        except UIError:
            return None

    def errors(self):
        return self.call("console")

    def requests(self):
        return self.call("requests")

    # ---- UI steps shared by the tests ----
    def login(self, user="guest", password="guest"):
        self.goto()
        self.wait("#login-user")
        self.fill("#login-user", user)
        self.fill("#login-pass", password)
        self.click("#login-submit")

    def page(self, frag, ready):
        """Open #/frag (rendered afresh, also when it is the page shown)
        and wait for the selector that shows it loaded."""
        self.call("eval", js="(h => { if (location.hash === h) S.navigate(); "
                  "else location.hash = h; })(%s)" % json.dumps("#/" + frag))
        self.wait(ready)

    def row_cells(self, table_sel, name):
        """The text of each cell of the row whose data-name is name."""
        sel = '%s tr[data-name="%s"] td' % (table_sel, name.replace('"', '\\"'))
        return self.texts(sel)

    def close(self):
        """Close this test's context; a driver that cannot is stopped (the
        next test starts another)."""
        try:
            if self.driver.alive() and self.driver.call({"op": "close"})["ok"]:
                return
        except (BrokenPipeError, UIError, ValueError):
            pass
        self.driver.proc.kill()
        self.driver.proc.wait()


@pytest.fixture
def ui(request):
    """(broker, browser) with the browser logged in as guest on the overview."""
    why = missing()
    if why:
        pytest.skip(why)
    b = Broker()
    br = Browser("http://127.0.0.1:%d" % http_port(b), artifacts_dir(request.node.name))
    try:
        br.login()
        br.wait("#overview #totals")
        yield b, br
        errs = br.errors()
        assert errs == [], "the page logged errors: %r" % errs
    finally:
        br.shot("end")
        br.close()
        alive = b.alive()
        code = b.stop()
    assert alive, "broker died during the test:\n" + b.log()
    assert code == 0, "broker exit %s:\n%s" % (code, b.log())


def wait_api(b, path, pred, timeout=10.0):
    """Poll GET path until pred(json) is true; return the last answer."""
    import time
    end = time.time() + timeout
    while True:
        st, d, _ = api(b, "GET", path)
        if st == 200 and pred(d):
            return d
        if time.time() > end:
            return d
        time.sleep(0.1)
