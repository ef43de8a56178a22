"""Clients on every node of a cluster: a follower proxies each client
connection (AMQP, MQTT, HTTP) to the same listener of the leader, closes
them when another node leads, and refuses new ones while it knows no
leader. Clients that know one address (a follower's) carry on across a
kill -9 of the leader by reconnecting to that same address.
"""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pika
import pytest

from cluster_helpers import (ClusterNode, amqp_connect, etcd,  # noqa: F401 (fixture)
                             publish_confirmed, wait_for)
from port_helpers import Ports
from tls_helpers import pki  # noqa: F401 (fixture)

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)

GUEST = "Basic Z3Vlc3Q6Z3Vlc3Q="        # guest:guest


@pytest.fixture
def trio(tmp_path, etcd):
    """a leads, b and c follow in sync; every node has AMQP, MQTT, HTTP."""
    made = [ClusterNode(etcd, n, str(tmp_path / n), clients=True) for n in "abc"]
    a, b, c = made
    try:
        a.start().wait_leader()
        b.start()
        c.start()
        a.wait_log("b is in the in-sync set")
        a.wait_log("c is in the in-sync set")
        for f in (b, c):
            f.wait_log("clients of this node go to the leader")
        yield made
    finally:
        for n in made:
            n.kill()


def consume(port, queue, n):
    conn = amqp_connect(port)
    ch = conn.channel()
    out = []
    for method, _, body in ch.consume(queue, inactivity_timeout=10):
        if method is None:
            break
        out.append(body)
        ch.basic_ack(method.delivery_tag)
        if len(out) >= n:
            break
    ch.cancel()
    conn.close()
    return out


def new_leader(nodes, old):
    return wait_for(lambda: next((n for n in nodes if n is not old and n.port), None),
                    30, "a new leader")


def test_pika_through_a_follower_and_across_failover(trio):
    a, b, c = trio
    assert c.port is None, "c follows"
    early = [b"early-%d" % i for i in range(200)]
    publish_confirmed(c.amqp_port, "via", early)
    # a consumer on the other follower sees what went in through c
    assert consume(b.amqp_port, "via", 100) == early[:100]
    # The leader hangs (no EOF reaches the proxy): once another node
    # leads, c closes the connection it proxies to a.
    held = amqp_connect(c.amqp_port)
    a.pause(True)
    new_leader(trio, a)
    wait_for(lambda: not _alive(held), 30, "the proxied connection to close")
    c.wait_log("proxied connections closed")
    a.kill()
    late = [b"late-%d" % i for i in range(100)]
    publish_confirmed(c.amqp_port, "via", late)
    # every confirmed message is there, in order, through the same address
    assert consume(c.amqp_port, "via", 200) == early[100:] + late


def _alive(conn):
    try:
        conn.process_data_events(0)
        return True
    except pika.exceptions.AMQPError:
        return False


def test_paho_through_a_follower_and_across_failover(trio):
    import paho.mqtt.client as mqtt
    a, b, c = trio
    got, lock = [], threading.Lock()
    connected = threading.Event()

    def on_connect(cl, userdata, flags, rc):
        if rc == 0:
            cl.subscribe("t/#", qos=1)

    def on_subscribe(cl, userdata, mid, granted):
        connected.set()

    def on_message(cl, userdata, msg):
        with lock:
            got.append(msg.payload)
    sub = mqtt.Client(client_id="sub-1", clean_session=False)
    sub.on_connect, sub.on_subscribe, sub.on_message = on_connect, on_subscribe, on_message
    sub.username_pw_set("guest", "guest")
    sub.reconnect_delay_set(0.2, 1)
    sub.connect("127.0.0.1", c.mqtt_port, keepalive=5)
    sub.loop_start()
    try:
        assert connected.wait(20), c.log() + a.log()
        pub = mqtt.Client(client_id="pub-1")
        pub.username_pw_set("guest", "guest")
        pub.connect("127.0.0.1", b.mqtt_port)
        pub.loop_start()
        for i in range(50):
            pub.publish("t/x", b"m-%d" % i, qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        wait_for(lambda: len(got) >= 50, 20, "messages through the follower")
        assert got[:50] == [b"m-%d" % i for i in range(50)]
        connected.clear()
        a.kill()
        new_leader(trio, a)
        # paho reconnects by itself to the same address
        assert connected.wait(40), "the subscriber did not reconnect"
        # b may not know the new leader yet: it then closes new connections
        # at once (after TCP accepted them), so wait for a CONNACK
        pub_up = threading.Event()
        pub = mqtt.Client(client_id="pub-2")
        pub.username_pw_set("guest", "guest")
        pub.on_connect = lambda cl, userdata, flags, rc: rc == 0 and pub_up.set()
        deadline = time.time() + 30
        while True:
            try:
                pub.connect("127.0.0.1", b.mqtt_port)
                pub.loop_start()
                if pub_up.wait(3):
                    break
                pub.loop_stop()
                pub.disconnect()
            except OSError:
                pass
            assert time.time() < deadline, "no CONNACK through b after the failover"
            time.sleep(0.2)
        for i in range(50, 80):
            assert pub.publish("t/x", b"m-%d" % i, qos=1).wait_for_publish(10) is not False
        pub.disconnect()
        pub.loop_stop()
        want = [b"m-%d" % i for i in range(50, 80)]
        wait_for(lambda: all(w in got for w in want), 20, "messages after failover")
        # at least once: nothing that was never published
        assert set(got) <= {b"m-%d" % i for i in range(80)}
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_a_follower_without_a_leader_refuses_at_once(tmp_path, etcd):
    # the leader key names a node that does not answer (a reserved port
    # nothing listens on): b knows no target
    dead = Ports()
    dead_port = dead.new()
    for key, val in (("sluice/cluster", "fake"),
                     ("sluice/leader", "x 127.0.0.1 %d" % dead_port)):
        subprocess.run(["etcdctl", "--endpoints", etcd.url, "put", key, val], check=True,
                       env=dict(os.environ, ETCDCTL_API="3"), capture_output=True)
    b = ClusterNode(etcd, "b", str(tmp_path / "b"), clients=True).start()
    try:
        b.wait_log("the leader is 127.0.0.1")
        # AMQP: closed without a byte (a reset when the bytes sent were
        # never read), not left waiting for a leader
        s = socket.create_connection(("127.0.0.1", b.amqp_port), timeout=10)
        try:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()
        # MQTT 3.1.1: CONNACK "server unavailable" (3), then closed
        with socket.create_connection(("127.0.0.1", b.mqtt_port), timeout=10) as s:
            s.sendall(bytes.fromhex("101000044d5154540402003c0004") + b"mqtt")
            assert s.recv(100) == b"\x20\x02\x00\x03"
            assert s.recv(100) == b""
        b.wait_log("refused: no leader is known", n=2)
    finally:
        b.kill()
        dead.release()


def http_get(port, path, auth=GUEST):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_management_api_on_a_follower(trio):
    a, b, c = trio
    status, ov = http_get(a.http_port, "/api/overview")
    assert status == 200
    assert ov["cluster"] == {"node": "a", "role": "leader", "leader": "a",
                             "followers": 2, "in_sync_followers": 2}
    # the follower says it follows, and who leads; the rest is the leader's
    status, ov = http_get(c.http_port, "/api/overview")
    assert status == 200, ov
    assert ov["cluster"] == {"node": "c", "role": "follower", "leader": "a",
                             "leader_host": "127.0.0.1"}
    assert ov["product_name"] == "Sluice" and "queue_totals" in ov
    # the leader authenticates what goes through a follower
    status, _ = http_get(c.http_port, "/api/overview", auth="Basic Z3Vlc3Q6bm8=")
    assert status == 401
    status, nodes = http_get(c.http_port, "/api/nodes")
    assert status == 200
    assert {n.get("cluster_node_name", n["name"]): n["cluster_role"] for n in nodes} == \
        {"a": "leader", "b": "follower", "c": "follower"}
    status, health = http_get(c.http_port, "/api/health/checks/alarms")
    assert status == 200 and health["status"] == "ok"
    # the leader gone (while nobody leads, a follower answers 503, as in
    # the next test): the follower names the new leader
    a.kill()
    new = new_leader(trio, a)
    other = b if new is c else c
    status, ov = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
        http_get(other.http_port, "/api/overview")), 30, "the overview again")
    assert ov["cluster"]["role"] == "follower" and ov["cluster"]["leader"] == new.name


def test_http_on_a_follower_without_a_leader(tmp_path, etcd):
    for key, val in (("sluice/cluster", "fake"), ("sluice/leader", "x 127.0.0.1 1")):
        subprocess.run(["etcdctl", "--endpoints", etcd.url, "put", key, val], check=True,
                       env=dict(os.environ, ETCDCTL_API="3"), capture_output=True)
    b = ClusterNode(etcd, "b", str(tmp_path / "b"), clients=True).start()
    try:
        b.wait_log("listening http")
        for path in ("/api/overview", "/api/health/checks/alarms"):
            status, body = http_get(b.http_port, path)
            assert status == 503
            assert body["cluster"] == {"node": "b", "role": "follower", "leader": None}
    finally:
        b.kill()


def test_tls_passes_through_a_follower_to_the_leader(tmp_path, etcd, pki):
    from tls_helpers import peer_serial
    own = {"a": "server", "b": "server-b"}
    pki.server("server-b")
    made = []
    try:
        for name in "ab":
            n = ClusterNode(etcd, name, str(tmp_path / name), [
                "tls.cert_file=" + pki.p(own[name] + ".crt"),
                "tls.key_file=" + pki.p(own[name] + ".key"),
                "tls.ca_file=" + pki.p("ca.crt"), "amqp.tls_bind=127.0.0.1"])
            n.tls_port = n.reserve_port()
            n.sets.append("amqp.tls_port=%d" % n.tls_port)
            made.append(n.start())
            if name == "a":
                n.wait_leader()
        a, b = made
        a.wait_log("b is in the in-sync set")
        b.wait_log("clients of this node go to the leader")
        # the follower does not terminate TLS: the certificate a client
        # sees on b's AMQPS port is a's
        ctx = pki.context()
        assert peer_serial(b.tls_port, ctx=ctx) == peer_serial(a.tls_port, ctx=ctx)
        assert peer_serial(b.tls_port, ctx=ctx) != serial_of(pki, "server-b")
        params = pika.ConnectionParameters("127.0.0.1", b.tls_port,
                                           ssl_options=pika.SSLOptions(ctx, "localhost"))
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("tls-q", durable=True)
        ch.basic_publish("", "tls-q", b"secret", pika.BasicProperties(delivery_mode=2))
        conn.close()
        assert consume(b.amqp_port, "tls-q", 1) == [b"secret"]
    finally:
        for n in made:
            n.kill()


def serial_of(pki, name):
    out = subprocess.run(["openssl", "x509", "-in", pki.p(name + ".crt"), "-noout", "-serial"],
                         capture_output=True, check=True, text=True).stdout
    return int(out.strip().split("=")[1], 16)
