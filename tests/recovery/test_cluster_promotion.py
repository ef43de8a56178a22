"""A follower elected leader keeps its listening sockets: the broker's
listeners take the ones its proxies listened on (net_listen_take), so the
client ports stay bound through the promotion. Clients (pika, pika over
TLS, paho) that connect while the new leader opens its storage wait in
the backlog and are then served: none is refused or reset. Each port's
listening socket (its inode, its descriptor in the process) is the one
the follower had, and the AMQPS one now terminates TLS with the new
leader's own certificate instead of passing bytes through.

The leader holds enough messages (CLUSTER_PROMOTION_MESSAGES) that the
new leader takes a while to open its journal: that is the window the
clients race. Closing the proxies' sockets and binding again, as before,
left the ports unbound all that time.
"""
import os
import threading
import time

import paho.mqtt.client as mqtt
import pika
import pytest

from cluster_helpers import ClusterNode, etcd  # noqa: F401 (fixture)
from test_cluster_scale import fill, queue_length
from tls_helpers import peer_serial, pki  # noqa: F401 (fixture)

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)

MESSAGES = int(os.environ.get("CLUSTER_PROMOTION_MESSAGES", "100000"))
SPACING = 0.01                  # seconds between two clients of the burst


def listening_socket(pid, port):
    """(descriptor, inode) of pid's socket listening on 127.0.0.1:port."""
    with open("/proc/net/tcp") as f:
        rows = [r.split() for r in f.readlines()[1:]]
    inodes = [r[9] for r in rows if r[1] == "0100007F:%04X" % port and r[3] == "0A"]
    assert len(inodes) == 1, (port, inodes)
    for n in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, n)) == "socket:[%s]" % inodes[0]:
                return int(n), inodes[0]
        except OSError:
            pass
    raise AssertionError("port %d listens, but not in process %d" % (port, pid))


def pika_client(port, ssl_ctx, out):
    """Open, count the filled queue, close: what an application does."""
    ssl_options = pika.SSLOptions(ssl_ctx, "localhost") if ssl_ctx else None
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", port, heartbeat=0, connection_attempts=1, socket_timeout=10,
            stack_timeout=60, ssl_options=ssl_options))
        n = conn.channel().queue_declare("big", passive=True).method.message_count
        conn.close()
        out.append(("amqps" if ssl_ctx else "amqp", n))
    except Exception as e:      # noqa: BLE001 (every failure is the finding)
        out.append(("amqps" if ssl_ctx else "amqp", repr(e)))


def paho_client(port, i, out):
    """Connect and wait for the CONNACK."""
    c = mqtt.Client(client_id="burst-%d" % i, clean_session=True)
    c.username_pw_set("guest", "guest")
    rc, done = [], threading.Event()
    c.on_connect = lambda cl, u, flags, code: (rc.append(code), done.set())
    c.on_disconnect = lambda cl, u, code: (rc.append("disconnected %s" % code), done.set())
    try:
        c.connect("127.0.0.1", port, keepalive=60)
        c.loop_start()
        if not done.wait(60):
            rc.append("no CONNACK")
        c.disconnect()
        c.loop_stop()
        out.append(("mqtt", rc[0]))
    except Exception as e:      # noqa: BLE001
        out.append(("mqtt", repr(e)))


@pytest.fixture
def pair(tmp_path, etcd, pki):
    """a leads holding MESSAGES persistent messages; b follows in sync.
    Each has AMQP, AMQPS (its own certificate), MQTT and HTTP."""
    serial_b = pki.server("server-b")
    made = []
    for name, cert in (("a", "server"), ("b", "server-b")):
        n = ClusterNode(etcd, name, str(tmp_path / name), [
            "cluster.min_in_sync_followers=0", "cluster.lease_ttl=2",
            "tls.cert_file=" + pki.p(cert + ".crt"), "tls.key_file=" + pki.p(cert + ".key"),
            "tls.ca_file=" + pki.p("ca.crt"), "amqp.tls_bind=127.0.0.1"], clients=True)
        n.tls_port = n.reserve_port()
        n.sets.append("amqp.tls_port=%d" % n.tls_port)
        made.append(n)
    a, b = made
    b.serial = serial_b
    try:
        fill(a.start().wait_leader(), "big", MESSAGES, pad=200)
        b.start()
        a.wait_log("b is in the in-sync set", timeout=300)
        b.wait_log("clients of this node go to the leader")
        yield made
    finally:
        for n in made:
            n.kill()


def test_clients_connecting_during_promotion_are_served_on_the_same_sockets(pair, pki):
    a, b = pair
    ctx = pki.context()
    ports = {"amqp": b.amqp_port, "amqps": b.tls_port, "mqtt": b.mqtt_port,
             "http": b.http_port}
    before = {k: listening_socket(b.proc.pid, p) for k, p in ports.items()}
    # TLS passes through the follower: the certificate is the leader's
    assert peer_serial(b.tls_port, ctx=ctx) == peer_serial(a.tls_port, ctx=ctx)
    held = queue_length(a.port, "big")
    a.kill()
    b.wait_log("cluster: b is the leader", timeout=60)

    # A client every SPACING seconds from the election until every
    # listener is the broker's ("listening http" comes last), then a few
    # more.
    def promoted():
        return b.port is not None and b.count("listening http") >= 2
    out, threads, in_window, later = [], [], 0, 0
    while later < 4:
        if promoted():
            later += 1
        else:
            in_window += 1
        i = len(threads)
        if i % 3 == 0:
            t = threading.Thread(target=pika_client, args=(b.amqp_port, None, out))
        elif i % 3 == 1:
            t = threading.Thread(target=paho_client, args=(b.mqtt_port, i, out))
        else:
            t = threading.Thread(target=pika_client, args=(b.tls_port, ctx, out))
        t.start()
        threads.append(t)
        time.sleep(SPACING)
    for t in threads:
        t.join(90)
    print("\n%d clients, %d of them while b was being promoted" % (len(threads), in_window))
    assert in_window >= 1, "the promotion was too quick to race: raise MESSAGES"
    assert len(out) == len(threads)
    bad = [r for r in out if r not in (("amqp", held), ("amqps", held), ("mqtt", 0))]
    assert bad == [], "%d of %d clients failed: %s\n%s" % (len(bad), len(out), bad[:6],
                                                            "".join(b.lines[-20:]))
    assert b.count("(socket handed over)") == 4, b.log()
    assert {k: listening_socket(b.proc.pid, p) for k, p in ports.items()} == before
    # the AMQPS socket is b's own TLS listener now
    assert peer_serial(b.tls_port, ctx=ctx) == b.serial
    # a clean stop: the taken sockets are closed once, nothing leaks
    # (under ASan, LeakSanitizer's report would change the exit status)
    b.stop()
    assert b.proc.returncode == 0, "".join(b.lines[-30:])
