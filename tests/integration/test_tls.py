"""TLS on every listener: AMQPS, MQTTS, HTTPS and MQTT over WSS, with real
clients (pika, amqp-tools, rabbitmq-c, paho, mosquitto_pub/sub, curl,
rabbitmqadmin), client certificates (SASL EXTERNAL, Mosquitto's
use_identity_as_username), protocol versions, refusals and SIGHUP reloads.
"""
import json
import os
import signal
import socket
import ssl
import subprocess

import paho.mqtt.client as mqtt
import pika
import pytest

from conftest import wait_for
from mqtt_helpers import MosquittoSub
from port_helpers import Ports
from tls_helpers import peer_serial, pki, tls_config  # noqa: F401 (fixture)
from test_rabbitmq_c import RMQC_DIR

USERS = """
[user alice]
password = secret
tags = administrator
[user carol]
password = carol-pw
tags = administrator
"""


def tls_broker(make_broker, pki, verify="peer", extra_tls="", extra=""):
    held = Ports()
    ports = {k: held.new() for k in ("amqps", "mqtts", "wss", "https")}
    conf = ("[amqp]\ntls_bind = 127.0.0.1, ::1\ntls_port = %d\n"
            "[mqtt]\ntls_port = %d\nwss_port = %d\n"
            "[http]\ntls_port = %d\n%s%s%s"
            % (ports["amqps"], ports["mqtts"], ports["wss"], ports["https"],
               tls_config(pki, verify, extra_tls), USERS, extra))
    b = make_broker(config_text=conf, reserved=held)
    for k, v in ports.items():
        assert b.ports.get(k) == v, b.log()
    return b


def amqps_params(b, pki, client=None, creds=None, ctx=None, host="localhost"):
    ctx = ctx or pki.context(client)
    return pika.ConnectionParameters(
        host, b.ports["amqps"], ssl_options=pika.SSLOptions(ctx, "localhost"),
        credentials=creds or pika.PlainCredentials("alice", "secret"),
        connection_attempts=1, socket_timeout=5)


def roundtrip(conn, body=b"over tls"):
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, body)
    m = wait_for(lambda: ch.basic_get(q, auto_ack=True)[2], timeout=5)
    assert m == body
    return ch


@pytest.fixture
def tb(make_broker, pki):
    return tls_broker(make_broker, pki)


def test_amqps_pika_plain_and_ipv6(tb, pki):
    for host in ("localhost", "127.0.0.1", "::1"):
        conn = pika.BlockingConnection(amqps_params(tb, pki, host=host))
        roundtrip(conn)
        conn.close()


def test_amqps_external_with_client_certificate(tb, pki):
    params = amqps_params(tb, pki, client="alice",
                          creds=pika.credentials.ExternalCredentials())
    conn = pika.BlockingConnection(params)
    roundtrip(conn)
    conn.close()
    assert "user 'alice' authenticated" in tb.log()


def test_external_needs_an_existing_user(tb, pki):
    # bob has a valid certificate but is not a user of the broker.
    params = amqps_params(tb, pki, client="bob",
                          creds=pika.credentials.ExternalCredentials())
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)
    assert wait_for(lambda: "EXTERNAL login refused: user 'bob' does not exist"
                    in tb.log())


def test_external_not_offered_without_a_certificate(tb, pki):
    params = amqps_params(tb, pki, creds=pika.credentials.ExternalCredentials())
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)


def test_external_never_offered_on_plain_tcp(tb):
    params = pika.ConnectionParameters("127.0.0.1", tb.port,
                                       credentials=pika.credentials.ExternalCredentials(),
                                       connection_attempts=1)
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)


def test_cert_login_from_distinguished_name(make_broker, pki):
    # RFC 4514 order, most specific first, as RabbitMQ's ssl_cert_login_from.
    users = "[user CN=alice,O=Sluice Test]\npassword = unused\n"
    b = tls_broker(make_broker, pki, extra_tls="cert_login_from = distinguished_name\n",
                   extra=users)
    params = amqps_params(b, pki, client="alice",
                          creds=pika.credentials.ExternalCredentials())
    conn = pika.BlockingConnection(params)
    roundtrip(conn)
    conn.close()
    assert wait_for(lambda: "user 'CN=alice,O=Sluice Test' authenticated" in b.log()), b.log()
    # carol has no certificate naming her; bob's DN is no user.
    params = amqps_params(b, pki, client="bob", creds=pika.credentials.ExternalCredentials())
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(params)
    assert wait_for(lambda: "user 'CN=bob,O=Sluice Test' does not exist" in b.log())


def test_amqp_tools_over_tls(tb, pki):
    url = "amqps://alice:secret@localhost:%d" % tb.ports["amqps"]
    tls = ["--ssl", "--cacert=" + pki.p("ca.crt")]
    subprocess.run(["amqp-declare-queue", "-u", url, *tls, "-q", "tools-tls"],
                   check=True, capture_output=True, timeout=10)
    subprocess.run(["amqp-publish", "-u", url, *tls, "-r", "tools-tls", "-b", "hi"],
                   check=True, capture_output=True, timeout=10)
    out = subprocess.run(["amqp-get", "-u", url, *tls, "-q", "tools-tls"],
                         check=True, capture_output=True, timeout=10)
    assert out.stdout == b"hi"
    # The wrong CA: the tool refuses the server.
    r = subprocess.run(["amqp-get", "-u", url, "--ssl", "--cacert=" + pki.p("rogue-ca.crt"),
                        "-q", "tools-tls"], capture_output=True, timeout=10)
    assert r.returncode != 0


def rmqc(*args):
    path = os.path.join(RMQC_DIR, "rmqc_tls")
    if not os.access(path, os.X_OK):
        pytest.skip("rmqc_tls not built")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=30)


def test_rabbitmq_c_over_tls(tb, pki):
    port = str(tb.ports["amqps"])
    r = rmqc("localhost", port, pki.p("ca.crt"))
    assert r.returncode == 0 and "OK tls" in r.stdout, r.stderr
    r = rmqc("localhost", port, pki.p("ca.crt"), pki.p("alice.crt"), pki.p("alice.key"))
    assert r.returncode == 0 and "OK tls" in r.stdout, r.stderr


def test_mqtts_paho_and_mosquitto_clients(tb, pki):
    got, subacks = [], []
    c = mqtt.Client(client_id="tls-sub")
    c.tls_set(ca_certs=pki.p("ca.crt"))
    c.username_pw_set("alice", "secret")
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    c.on_subscribe = lambda cl, u, mid, granted: subacks.append(mid)
    c.connect("localhost", tb.ports["mqtts"])
    c.loop_start()
    try:
        mid = c.subscribe("tls/#", qos=1)[1]
        assert wait_for(lambda: mid in subacks, timeout=10), "no SUBACK"
        subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(tb.ports["mqtts"]),
                        "--cafile", pki.p("ca.crt"), "-u", "alice", "-P", "secret",
                        "-t", "tls/a", "-m", "from mosquitto_pub", "-q", "1"],
                       check=True, capture_output=True, timeout=10)
        assert wait_for(lambda: ("tls/a", b"from mosquitto_pub") in got)
    finally:
        c.loop_stop()
        c.disconnect()
    sub = MosquittoSub(["mosquitto_sub", "-h", "localhost", "-p", str(tb.ports["mqtts"]),
                        "--cafile", pki.p("ca.crt"), "-u", "alice", "-P", "secret",
                        "-t", "tls/b", "-C", "1"])
    sub.wait_subscribed()
    p = mqtt.Client(client_id="tls-pub")
    p.tls_set(ca_certs=pki.p("ca.crt"))
    p.username_pw_set("alice", "secret")
    p.connect("localhost", tb.ports["mqtts"])
    p.loop_start()
    p.publish("tls/b", b"to mosquitto_sub", qos=1).wait_for_publish(5)
    p.loop_stop()
    p.disconnect()
    assert sub.communicate(timeout=10)[0].strip() == "to mosquitto_sub"


def test_mqtt_certificate_login(make_broker, pki):
    b = tls_broker(make_broker, pki, extra="[mqtt]\nuse_identity_as_username = yes\n")
    # No password: the certificate's CN (alice) is the user.
    r = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(b.ports["mqtts"]),
                        "--cafile", pki.p("ca.crt"), "--cert", pki.p("alice.crt"),
                        "--key", pki.p("alice.key"), "-t", "cert/a", "-m", "x", "-q", "1",
                        "-d"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "CONNACK (0)" in r.stdout or "CONNACK" in r.stdout
    # bob's certificate is valid but bob is not a user: not authorized.
    r = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(b.ports["mqtts"]),
                        "--cafile", pki.p("ca.crt"), "--cert", pki.p("bob.crt"),
                        "--key", pki.p("bob.key"), "-t", "cert/a", "-m", "x", "-q", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert wait_for(lambda: "certificate login: user 'bob' does not exist" in b.log())


def curl(*args):
    return subprocess.run(["curl", "-s", "-S", *args], capture_output=True, text=True,
                          timeout=15)


def test_https_curl_and_rabbitmqadmin(tb, pki):
    url = "https://localhost:%d/api/overview" % tb.ports["https"]
    r = curl("--cacert", pki.p("ca.crt"), "-u", "alice:secret", url)
    assert r.returncode == 0, r.stderr
    ov = json.loads(r.stdout)
    protos = {(x["protocol"], x["port"]) for x in ov["listeners"]}
    for proto, name in (("amqp/ssl", "amqps"), ("mqtt/ssl", "mqtts"),
                        ("https/web-mqtt", "wss"), ("https", "https"), ("amqp", "amqp"),
                        ("mqtt", "mqtt"), ("http", "http")):
        assert (proto, tb.ports[name]) in protos, (proto, ov["listeners"])
    # An untrusting client fails the handshake.
    r = curl("--cacert", pki.p("rogue-ca.crt"), "-u", "alice:secret", url)
    assert r.returncode != 0
    r = subprocess.run(["rabbitmqadmin", "--host", "localhost", "--port",
                        str(tb.ports["https"]), "--ssl", "--ssl-ca-cert-file",
                        pki.p("ca.crt"), "-u", "alice", "-p", "secret",
                        "list", "queues", "name"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_connections_api_shows_tls_state(tb, pki):
    params = amqps_params(tb, pki, client="alice",
                          creds=pika.credentials.ExternalCredentials())
    conn = pika.BlockingConnection(params)
    try:
        def tls_conn():
            r = curl("-u", "alice:secret",
                     "http://127.0.0.1:%d/api/connections" % tb.ports["http"])
            cs = [c for c in json.loads(r.stdout) if c.get("ssl")]
            return cs[0] if cs else None
        c = wait_for(tls_conn)
        assert c, "no TLS connection listed"
        assert c["ssl_protocol"] in ("tlsv1.3", "tlsv1.2")
        assert c["ssl_cipher"]
        assert c["peer_cert_subject"] == "CN=alice,O=Sluice Test"
        assert c["peer_cert_issuer"] == "CN=Sluice Test CA"
        assert " - " in c["peer_cert_validity"]
        assert c["user"] == "alice"
        assert c["recv_oct"] > 0 and c["send_oct"] > 0
    finally:
        conn.close()


def test_plain_client_on_tls_port_gets_nothing(tb, pki):
    with socket.create_connection(("127.0.0.1", tb.ports["amqps"]), timeout=5) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert not data.startswith(b"AMQP") and b"connection.start" not in data
    # At most a TLS alert (record type 21), never protocol data.
    assert data == b"" or data[0] == 21, data
    assert wait_for(lambda: "TLS handshake failed" in tb.log())
    conn = pika.BlockingConnection(amqps_params(tb, pki))
    roundtrip(conn)
    conn.close()


def test_versions_and_untrusted_clients(make_broker, pki):
    b = tls_broker(make_broker, pki, extra_tls="fail_if_no_peer_cert = yes\n")
    port = b.ports["amqps"]
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = pki.context("alice", minimum=v, maximum=v)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                       ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
    # TLS 1.1 (with a client willing to use it) is refused.
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-cert", pki.p("alice.crt"),
                        "-key", pki.p("alice.key")], input="", capture_output=True,
                       text=True, timeout=10)
    assert "Cipher is (NONE)" in r.stdout, r.stdout
    assert r.returncode != 0
    # No client certificate, and one from a CA the broker does not trust.
    for client in (None, "mallory"):
        ctx = ssl.create_default_context(cafile=pki.p("ca.crt"))
        if client:
            ctx.load_cert_chain(pki.p(client + ".crt"), pki.p(client + ".key"))
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"AMQP\x00\x00\x09\x01")
                    if not s.recv(1):
                        raise ConnectionResetError("closed")
    assert wait_for(lambda: b.log().count("TLS handshake failed") >= 3), b.log()
    assert "peer did not return a certificate" in b.log()
    assert "certificate verify failed" in b.log()


def test_sighup_reloads_certificate(make_broker, pki):
    b = tls_broker(make_broker, pki)
    port = b.ports["amqps"]
    old = peer_serial(port)
    conn = pika.BlockingConnection(amqps_params(b, pki))
    ch = roundtrip(conn, b"before")
    new = pki.server("server")          # replaces server.crt / server.key
    assert new != old
    b.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "SIGHUP: reloaded" in b.log())
    assert peer_serial(port) == new
    assert peer_serial(b.ports["https"]) == new
    # The connection made before the reload keeps working.
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"after")
    assert wait_for(lambda: ch.basic_get(q, auto_ack=True)[2]) == b"after"
    conn.close()
    # A broken certificate: the old one stays, and the log says why.
    with open(pki.p("server.crt"), "w") as f:
        f.write("not a certificate\n")
    try:
        b.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "SIGHUP: keeping the current certificate" in b.log())
        assert peer_serial(port) == new
    finally:
        pki.server("server")


@pytest.mark.parametrize("case,expect", [
    ("missing", "tls.cert_file %s: No such file or directory"),
    ("mismatch", "does not match tls.cert_file"),
    ("no-section", "amqp.tls_port is set: the [tls] section needs cert_file and key_file"),
])
def test_bad_certificates_stop_the_start(tmp_path, pki, case, expect):
    from conftest import SLUICED
    held = Ports()              # for a sluiced that would start after all
    port = held.new()
    missing = str(tmp_path / "nope.crt")
    if case == "missing":
        tls = "[tls]\ncert_file = %s\nkey_file = %s\n" % (missing, pki.p("server.key"))
        expect = expect % missing
    elif case == "mismatch":
        tls = "[tls]\ncert_file = %s\nkey_file = %s\n" % (pki.p("server.crt"), pki.p("alice.key"))
    else:
        tls = ""
    conf = tmp_path / "sluice.conf"
    conf.write_text("[amqp]\ntls_port = %d\n%s" % (port, tls))
    r = subprocess.run([SLUICED, "-c", str(conf), "--set", "amqp.port=0", "--set",
                        "mqtt.enabled=no", "--set", "http.enabled=no", "--set",
                        "broker.data_dir=" + str(tmp_path / "data")],
                       capture_output=True, text=True, timeout=20)
    held.release()
    assert r.returncode == 2, r.stderr
    assert expect in r.stderr, r.stderr
