"""Prometheus the RabbitMQ way: the [prometheus] listener's /metrics,
/metrics/per-object and /metrics/detailed with RabbitMQ's names, types,
help texts and labels; and Debian's own Prometheus server scraping
sluiced, with every PromQL expression of RabbitMQ's Grafana dashboards
(../shared/ops/grafana) evaluated through Prometheus's HTTP API: each
returns data, or names a metric the README lists as not exported."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pika
import pytest

from amqp_helpers import connect
from conftest import ROOT, wait_for
from http_helpers import api
from port_helpers import Ports

PROMETHEUS = shutil.which("prometheus")
DASHBOARDS = ["RabbitMQ-Overview.json", "RabbitMQ-Stream.json"]


def prom_port(b):
    port = b.ports.get("prometheus")
    if port is None:
        pytest.skip("sluiced has no Prometheus listener")
    return port


def scrape(b, path="/metrics", auth=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (prom_port(b), path))
    if auth:
        import base64
        req.add_header("Authorization", "Basic " +
                       base64.b64encode(("%s:%s" % auth).encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def parse(text):
    """Families {name: (type, help, [(labels, value)])}, checking the format:
    HELP then TYPE before the family's samples, no family twice."""
    fams, cur = {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, help_ = line[7:].split(" ", 1)
            assert name not in fams, "family %s twice" % name
            fams[name] = [None, help_, []]
            cur = name
        elif line.startswith("# TYPE "):
            name, typ = line[7:].split(" ")
            assert name == cur and typ in ("counter", "gauge", "untyped", "histogram")
            fams[name][0] = typ
        else:
            m = SAMPLE.match(line)
            assert m, "bad sample line %r" % line
            base = m.group(1)
            fam = base if base in fams else re.sub(r"_(bucket|sum|count)$", "", base)
            assert fam == cur, "sample %s outside its family %s" % (base, cur)
            float(m.group(3))
            fams[fam][2].append((m.group(2) or "", float(m.group(3))))
    return {k: tuple(v) for k, v in fams.items()}


def traffic(b):
    conn = connect(b)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("pq1")
    for i in range(5):
        ch.basic_publish("", "pq1", b"m")
    ch.basic_publish("", "nowhere", b"x")
    m, _, _ = ch.basic_get("pq1", auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    ch.basic_get("pq1", auto_ack=True)
    ch.queue_declare("pq2")
    ch.basic_consume("pq2", lambda *a: None, auto_ack=True)
    return conn


# (name, type, help) as RabbitMQ 3.13 writes them
RABBIT = [
    ("rabbitmq_queue_messages_ready", "gauge", "Messages ready to be delivered to consumers"),
    ("rabbitmq_queue_messages_unacked", "gauge",
     "Messages delivered to consumers but not yet acknowledged"),
    ("rabbitmq_channel_messages_published_total", "counter",
     "Total number of messages published into an exchange on a channel"),
    ("rabbitmq_channel_consumers", "gauge", "Consumers on a channel"),
    ("rabbitmq_connections_opened_total", "counter", "Total number of connections opened"),
    ("rabbitmq_queues_declared_total", "counter", "Total number of queues declared"),
    ("rabbitmq_process_open_fds", "gauge", "Open file descriptors"),
    ("rabbitmq_resident_memory_limit_bytes", "gauge", "Memory high watermark in bytes"),
    ("rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info"),
    ("rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info"),
    ("rabbitmq_global_messages_confirmed_total", "counter",
     "Total number of messages confirmed to publishers"),
    ("rabbitmq_alarms_memory_used_watermark", "untyped",
     "is 1 if VM memory watermark alarm is in effect"),
]


def test_metrics_aggregated(broker):
    conn = traffic(broker)
    st, ctype, text = scrape(broker)
    assert st == 200 and ctype.startswith("text/plain; version=0.0.4")
    fams = parse(text)
    for name, typ, help_ in RABBIT:
        assert fams[name][:2] == (typ, help_), name
    one = lambda n: fams[n][2][0][1]  # noqa: E731
    assert fams["rabbitmq_queue_messages_ready"][2] == [("", 3.0)]     # one series, summed
    assert one("rabbitmq_channel_messages_published_total") == 6
    assert one("rabbitmq_channel_messages_confirmed_total") == 6
    assert one("rabbitmq_channel_messages_unroutable_dropped_total") == 1
    assert one("rabbitmq_channel_get_ack_total") == 1 and one("rabbitmq_channel_get_total") == 1
    assert one("rabbitmq_channel_messages_acked_total") == 1
    assert one("rabbitmq_channel_consumers") == 1
    assert one("rabbitmq_queue_messages_published_total") == 5
    assert one("rabbitmq_connections") == 1 and one("rabbitmq_queues") == 2
    assert one("rabbitmq_process_max_fds") > one("rabbitmq_process_open_fds") > 0
    assert one("rabbitmq_resident_memory_limit_bytes") > 0
    ident = fams["rabbitmq_identity_info"][2][0]
    node = api(broker, "GET", "/api/overview")[1]["node"]
    assert ident == ('{rabbitmq_node="%s",rabbitmq_cluster="%s"}' % (node, node), 1.0)
    assert fams["rabbitmq_global_messages_received_total"][2] == [('{protocol="amqp091"}', 6.0)]
    assert "sluice_journal_fsync_seconds" in fams
    assert fams["sluice_connections"][2] == [('{protocol="AMQP 0-9-1"}', 1.0)]
    conn.close()
    # counters never go down when a channel closes
    fams2 = parse(scrape(broker)[2])
    assert fams2["rabbitmq_channel_messages_published_total"][2][0][1] == 6
    assert fams2["rabbitmq_channel_consumers"][2][0][1] == 0
    # the management port has it too, with credentials
    assert api(broker, "GET", "/metrics", auth=None)[0] == 401
    assert "rabbitmq_identity_info 1" not in api(broker, "GET", "/metrics")[1]


def test_per_object_and_detailed(broker):
    conn = traffic(broker)
    ch = conn.channel()
    weird = 'we"ird\\q'
    ch.queue_declare(weird)
    api(broker, "PUT", "/api/vhosts/v1")
    fams = parse(scrape(broker, "/metrics/per-object")[2])
    ready = dict(fams["rabbitmq_queue_messages_ready"][2])
    assert ready['{vhost="/",queue="pq1"}'] == 3
    assert ready['{vhost="/",queue="we\\"ird\\\\q"}'] == 0
    chans = fams["rabbitmq_channel_messages_published_total"][2]
    assert sorted(v for k, v in chans if k.startswith('{channel="')) == [0.0, 6.0]
    st, _, text = scrape(broker, "/metrics/detailed?family=queue_coarse_metrics"
                                 "&family=connection_churn_metrics&vhost=v1")
    fams = parse(text)
    assert sorted(fams) == sorted([
        "rabbitmq_detailed_queue_messages_ready", "rabbitmq_detailed_queue_messages_unacked",
        "rabbitmq_detailed_queue_messages", "rabbitmq_detailed_connections_opened_total",
        "rabbitmq_detailed_connections_closed_total", "rabbitmq_detailed_channels_opened_total",
        "rabbitmq_detailed_channels_closed_total", "rabbitmq_detailed_queues_declared_total",
        "rabbitmq_detailed_queues_created_total", "rabbitmq_detailed_queues_deleted_total"])
    assert fams["rabbitmq_detailed_queue_messages_ready"][2] == []    # no queue in v1
    fams = parse(scrape(broker, "/metrics/detailed?family=queue_consumer_count&vhost=%2F")[2])
    assert dict(fams["rabbitmq_detailed_queue_consumers"][2]) == {
        '{vhost="/",queue="pq1"}': 0, '{vhost="/",queue="pq2"}': 1,
        '{vhost="/",queue="we\\"ird\\\\q"}': 0}
    assert parse(scrape(broker, "/metrics/detailed")[2]) == {}
    assert scrape(broker, "/metrics/other")[0] == 404
    assert scrape(broker, "/api/overview")[0] == 404
    conn.close()


def test_label_values_are_utf8(broker):
    """One queue named with bytes that are not UTF-8 (AMQP names are bytes)
    must not break the scrape for everyone: Prometheus refuses a whole
    scrape over one such label value. They go out as U+FFFD."""
    import amqpraw as A
    c = A.connect(broker)
    c.open_channel(1)
    c.declare_queue(1, b"pq\xff\xc3(")
    for path in ("/metrics", "/metrics/per-object",
                 "/metrics/detailed?family=queue_coarse_metrics"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (prom_port(broker), path))
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        text = raw.decode("utf-8")                  # strict
        fams = parse(text)
        if path != "/metrics":
            name = [f for f in fams if f.endswith("queue_messages_ready")][0]
            assert '{vhost="/",queue="pq\ufffd\ufffd("}' in dict(fams[name][2])
        if shutil.which("promtool"):
            out = subprocess.run(["promtool", "check", "metrics"], input=raw,
                                 capture_output=True, timeout=60)
            assert b"parsing error" not in out.stdout + out.stderr, out
    c.close()


def test_authentication_and_listener(make_broker):
    b = make_broker("--set", "prometheus.authentication=yes")
    assert scrape(b)[0] == 401
    assert scrape(b, auth=("guest", "guest"))[0] == 200
    assert scrape(b, auth=("guest", "wrong"))[0] == 401
    # the metrics name every vhost's objects: monitoring users only
    for name, tags, st in (("mgmt", "management", 403), ("mon", "monitoring", 200)):
        assert api(b, "PUT", "/api/users/" + name, {"password": "pw", "tags": tags})[0] == 201
        assert scrape(b, auth=(name, "pw"))[0] == st, tags
    b2 = make_broker()
    assert scrape(b2)[0] == 200
    st, body, _ = api(b2, "GET", "/api/health/checks/protocol-listener/prometheus")
    assert (st, body) == (200, {"status": "ok", "protocol": "http/prometheus"})
    assert api(b2, "GET", "/api/health/checks/port-listener/%d" % prom_port(b2))[0] == 200
    listeners = api(b2, "GET", "/api/overview")[1]["listeners"]
    assert {"protocol": "http/prometheus", "port": prom_port(b2)}.items() <= \
        [l for l in listeners if l["protocol"] == "http/prometheus"][0].items()
    b3 = make_broker("--set", "prometheus.return_per_object_metrics=yes")
    traffic(b3).close()
    fams = parse(scrape(b3)[2])
    assert dict(fams["rabbitmq_queue_messages_ready"][2]) == {
        '{vhost="/",queue="pq1"}': 3.0, '{vhost="/",queue="pq2"}': 0.0}


# ---------------------------------------------------------------- Prometheus


def dashboards_dir():
    for d in (os.environ.get("SLUICE_GRAFANA_DIR"),
              os.path.join(ROOT, "..", "shared", "ops", "grafana"),
              os.path.join(ROOT, "..", "..", "shared", "ops", "grafana")):
        if d and all(os.path.exists(os.path.join(d, f)) for f in DASHBOARDS):
            return d
    pytest.skip("RabbitMQ's Grafana dashboards not found (../shared/ops/grafana)")


def expressions(d):
    out = []

    def walk(o):
        if isinstance(o, dict):
            if isinstance(o.get("expr"), str) and o["expr"].strip():
                out.append(o["expr"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    for f in DASHBOARDS:
        with open(os.path.join(d, f)) as fh:
            walk(json.load(fh))
    return out


def readme_not_exported():
    """The metric names the README's list says Sluice does not export."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    sect = text.split("Dashboard metrics Sluice does not export", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"`(rabbitmq_[a-z0-9_]+)`", sect))


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def query(port, expr):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed")
def test_grafana_dashboards_through_prometheus(broker):
    exprs = expressions(dashboards_dir())
    missing = readme_not_exported()
    node = api(broker, "GET", "/api/overview")[1]["node"]
    conn = traffic(broker)
    tmp = tempfile.mkdtemp(prefix="sluice-prom-")
    held = Ports()              # until Prometheus (Go: SO_REUSEADDR) listens on it
    port = held.new()
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: sluice\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % prom_port(broker))
    proc = subprocess.Popen([PROMETHEUS, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: listening(port) or proc.poll() is not None, timeout=30)
        held.release()
        # two scrapes at least inside every [60s] window the dashboards use
        assert wait_for(lambda: _up(port) and _count(port) >= 3, timeout=60), \
            "prometheus did not scrape sluiced"
        empty = []
        for e in exprs:
            q = e.replace("$rabbitmq_cluster", node).replace("$namespace", "")
            if not query(port, q):
                empty.append(e)
        listed = [e for e in exprs if set(re.findall(r"rabbitmq_[a-z0-9_]+", e)) & missing]
        unexplained = [e for e in empty if e not in listed]
        assert not unexplained, "no data and not on the README's list:\n" + \
            "\n".join(unexplained)
        assert len(exprs) > 60 and len(exprs) - len(listed) > 40
        assert empty == listed          # what the README lists has no data indeed
        # Grafana's variables: label_values(rabbitmq_identity_info, ...)
        assert query(port, "rabbitmq_identity_info")[0]["metric"]["rabbitmq_cluster"] == node
        # the listed stream series really are absent, and every other name
        # the dashboards query is there
        names = set(re.findall(r"rabbitmq_[a-z0-9_]+", " ".join(exprs))) - {
            "rabbitmq_cluster", "rabbitmq_node"}
        for n in names:
            sel = '{__name__="%s"%s}' % (n, ',protocol="stream"' if n in missing else "")
            assert bool(query(port, "count(%s)" % sel)) == (n not in missing), n
    finally:
        held.release()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        conn.close()


def _up(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port, timeout=5) as r:
            t = json.load(r)["data"]["activeTargets"]
        return bool(t) and t[0]["health"] == "up"
    except OSError:
        return False


def _count(port):
    try:
        r = query(port, "count_over_time(rabbitmq_identity_info[60s])")
        return int(float(r[0]["value"][1])) if r else 0
    except OSError:
        return 0
