"""Operations over TLS: the certificate-expiration health check (HTTP API and
sluicectl) against the broker's TLS listeners, sluicectl over the broker's
own HTTPS listener, and Prometheus over its TLS listener.

The certificates come from tls_helpers' throwaway PKI: they are valid for two
days, so they expire "within 1 weeks" and not "within 1 days".
"""
import datetime
import json
import subprocess

import pytest

from conftest import ROOT  # noqa: F401
from http_helpers import api
from test_sluicectl import SLUICECTL
from port_helpers import Ports
from tls_helpers import pki, tls_config  # noqa: F401 (fixture)


@pytest.fixture
def tb(make_broker, pki):
    held = Ports()
    ports = {k: held.new() for k in ("amqps", "https", "prometheus_tls")}
    conf = ("[amqp]\ntls_bind = 127.0.0.1\ntls_port = %d\n"
            "[http]\ntls_bind = 127.0.0.1\ntls_port = %d\n"
            "[prometheus]\ntls_bind = 127.0.0.1\ntls_port = %d\n%s"
            % (ports["amqps"], ports["https"], ports["prometheus_tls"], tls_config(pki)))
    b = make_broker(config_text=conf, reserved=held)
    for k, v in ports.items():
        assert b.ports.get(k) == v, (k, b.ports, b.log())
    b.tls_ports = ports
    return b


def not_after(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", path],
                         capture_output=True, text=True, check=True).stdout
    t = datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return "%d-%02d-%02d %d:%02d:%02d" % (t.year, t.month, t.day, t.hour, t.minute, t.second)


def test_certificate_expiration_api(tb, pki):
    assert api(tb, "GET", "/api/health/checks/certificate-expiration/1/days")[:2] == (
        200, {"status": "ok"})
    s, body, _ = api(tb, "GET", "/api/health/checks/certificate-expiration/1/weeks")
    assert s == 503
    assert body["status"] == "failed" and body["reason"] == "Certificates expiring"
    by_port = {e["port"]: e for e in body["expired"]}
    assert set(by_port) == set(tb.tls_ports.values()), body
    e = by_port[tb.tls_ports["amqps"]]
    node = api(tb, "GET", "/api/overview")[1]["node"]
    assert e == {"node": node, "protocol": "amqp/ssl", "interface": "127.0.0.1",
                 "port": tb.tls_ports["amqps"], "certfile": pki.p("server.crt"),
                 "cacertfile": pki.p("ca.crt"),
                 "certfile_expires_on": [not_after(pki.p("server.crt"))],
                 "cacertfile_expires_on": [not_after(pki.p("ca.crt"))]}
    assert by_port[tb.tls_ports["https"]]["protocol"] == "https"
    assert by_port[tb.tls_ports["prometheus_tls"]]["protocol"] == "https/prometheus"
    # months and years count too; a bad period is still RabbitMQ's 400
    assert api(tb, "GET", "/api/health/checks/certificate-expiration/1/months")[0] == 503
    assert api(tb, "GET", "/api/health/checks/certificate-expiration/0/years")[0] == 200
    s, body, _ = api(tb, "GET", "/api/health/checks/certificate-expiration/x/days")
    assert s == 400 and body["reason"] == "Invalid expiration value."


def ctl(b, *args, **kw):
    argv = [SLUICECTL, "--port", str(kw.pop("port", b.ports["http"]))] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def test_certificate_expiration_sluicectl(tb, pki):
    r = ctl(tb, "check_certificate_expiration", "--within", "1", "--unit", "days")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[1] == "No certificates are expiring within 1 day."
    r = ctl(tb, "check_certificate_expiration")
    assert r.returncode == 69 and r.stderr.startswith("Error:\n")
    lines = r.stderr.split("\n")[1:-1]
    want = "amqp/ssl listener on 127.0.0.1 port %d: %s: %s" % (
        tb.tls_ports["amqps"], pki.p("server.crt"), not_after(pki.p("server.crt")))
    assert want in lines, lines
    assert len(lines) == 2 * len(tb.tls_ports)           # certificate and CA file each
    r = ctl(tb, "--formatter", "json", "check_certificate_expiration")
    assert r.returncode == 69
    out = json.loads(r.stdout)
    assert out["result"] == "error" and len(out["expired"]) == len(tb.tls_ports)


def test_sluicectl_over_the_brokers_https(tb, pki):
    port = tb.tls_ports["https"]
    for host in ("localhost", "127.0.0.1"):
        r = ctl(tb, "--host", host, "--ssl", "--cacert", pki.p("ca.crt"), "-q",
                "list_vhosts", port=port)
        assert r.returncode == 0 and r.stdout.split("\n")[1] == "/", r.stderr
    r = ctl(tb, "--host", "localhost", "--ssl", "--cacert", pki.p("rogue-ca.crt"),
            "list_vhosts", port=port)
    assert r.returncode == 69 and "TLS connection" in r.stderr
    r = ctl(tb, "--ssl", "--cacert", pki.p("ca.crt"), "--cert", pki.p("alice.crt"),
            "--key", pki.p("alice.key"), "check_port_listener", str(port), port=port)
    assert r.returncode == 0, r.stderr


def test_prometheus_over_tls(tb, pki):
    url = "https://localhost:%d/metrics" % tb.tls_ports["prometheus_tls"]
    r = subprocess.run(["curl", "-s", "-S", "--cacert", pki.p("ca.crt"), url],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "# TYPE rabbitmq_identity_info untyped" in r.stdout
