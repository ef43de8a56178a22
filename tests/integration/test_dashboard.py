"""The dashboard at / renders in headless Chromium: the queue table holds
a queue the test declared and the rate chart exists. Skipped when
Chromium is not installed (Debian package chromium)."""
import os
import shutil
import subprocess
import tempfile

import pytest

from http_helpers import api, http_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")


def chromium(*args):
    profile = tempfile.mkdtemp(prefix="sluice-chromium-")
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--user-data-dir=" + profile]
    if os.geteuid() == 0:
        cmd.append("--no-sandbox")
    try:
        return subprocess.run(cmd + list(args), capture_output=True, text=True,
                              timeout=90).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_page_is_served_without_login(broker):
    st, text, h = api(broker, "GET", "/", auth=None)
    assert st == 200 and h["content-type"].startswith("text/html")
    assert "<canvas" in text and "/api/overview" in text
    assert "http://" not in text.replace("http://www.w3.org", "")  # no CDN


def test_dashboard_renders_queue_table_and_chart(broker):
    api(broker, "PUT", "/api/queues/%2F/dash-queue-1", {})
    api(broker, "POST", "/api/exchanges/%2F/amq.default/publish",
        {"properties": {}, "routing_key": "dash-queue-1", "payload": "x",
         "payload_encoding": "string"})
    url = "http://127.0.0.1:%d/?user=guest&pass=guest&interval=1000" % http_port(broker)
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", url)
    assert 'id="chart"' in dom
    assert "<td>dash-queue-1</td>" in dom, dom[-3000:]
    assert "Sluice" in dom


def test_dashboard_bad_login_shows_form(broker):
    url = "http://127.0.0.1:%d/?user=guest&pass=wrong" % http_port(broker)
    dom = chromium("--virtual-time-budget=3000", "--dump-dom", url)
    assert "Login failed" in dom
