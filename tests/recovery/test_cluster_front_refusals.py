"""A follower whose leader is known but whose client listeners cannot be
reached: the leader's replication connection works (a stand-in speaks
its handshake and advertises its listeners) while each advertised port
refuses connections. An HTTP client gets the same 503 as on a follower
without a leader, an MQTT client a CONNACK "server unavailable", not a
connection closed unanswered; AMQP clients are closed before any byte
(as while no leader is known) and the follower carries on. And an HTTP request half read when the
follower learns its leader is answered, not cut off.
"""
import hashlib
import hmac
import json
import os
import resource
import socket
import struct
import subprocess
import threading
import urllib.error
import urllib.request

import pika
import pytest

from cluster_helpers import SECRET, ClusterNode, etcd, wait_for  # noqa: F401 (fixture)
from port_helpers import Ports

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)


def frame(kind, payload):
    return struct.pack(">I", len(payload) + 1) + kind + payload


def read_frame(conn):
    head = b""
    while len(head) < 5:
        got = conn.recv(5 - len(head))
        if not got:
            return None, None
        head += got
    n = struct.unpack(">I", head[:4])[0] - 1
    body = b""
    while len(body) < n:
        got = conn.recv(min(65536, n - len(body)))
        if not got:
            return None, None
        body += got
    return head[4:5], body


class StandInLeader:
    """The replication side of a leader (cluster/cl_int.h): nonce, the
    follower's hello, proof, then an 'L' frame naming `ports`; nothing
    more. Listens on a port the kernel picks."""

    def __init__(self, ports):
        self.ports = ports
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.sendall(frame(b"N", b"\x02" + os.urandom(32)))
            kind, body = read_frame(conn)
            if kind != b"H":
                return
            proof = hmac.new(SECRET.encode(), body[32:64] + b"leader proof",
                             hashlib.sha256).digest()
            adv = bytes([len(self.ports)]) + b"".join(
                bytes([len(n)]) + n.encode() + struct.pack(">H", p)
                for n, p in self.ports.items())
            conn.sendall(frame(b"P", proof) + frame(b"L", adv))
            while read_frame(conn)[0] is not None:
                pass
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def put(etcd, key, val):
    subprocess.run(["etcdctl", "--endpoints", etcd.url, "put", key, val], check=True,
                   env=dict(os.environ, ETCDCTL_API="3"), capture_output=True)


@pytest.fixture
def lost(tmp_path, etcd):
    """b follows a stand-in whose client ports refuse: each is bound and
    held (so no other process takes it) but never listens."""
    dead = Ports()
    port = dead.new()
    leader = StandInLeader({"amqp": port, "mqtt": port, "http": port})
    put(etcd, "sluice/cluster", "stand-in")
    put(etcd, "sluice/leader", "x 127.0.0.1 %d" % leader.port)
    b = ClusterNode(etcd, "b", str(tmp_path / "b"), clients=True).start()
    try:
        b.wait_log("clients of this node go to the leader at 127.0.0.1 (3 listeners)")
        b.wait_log("listening http")
        yield b
        assert_clean(b)
    finally:
        b.kill()
        leader.close()
        dead.release()


def assert_clean(b):
    """Nothing from the sanitizers (an ASan build) in b's log."""
    assert "AddressSanitizer" not in b.log() and "runtime error" not in b.log(), b.log()


def http_get(port, path):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def assert_unavailable(b, path, reason):
    status, headers, body = http_get(b.http_port, path)
    assert status == 503, body
    assert headers["Retry-After"] == "1" and headers["Connection"] == "close"
    assert body["error"] == "service_unavailable"
    assert body["reason"].startswith(reason), body
    assert body["cluster"] == {"node": "b", "role": "follower", "leader": None}


def test_http_gets_503_when_the_leader_refuses(lost):
    b = lost
    for path in ("/api/overview", "/api/queues"):
        assert_unavailable(b, path, "the leader cannot be reached: Connection refused")
    # AMQP is closed before any byte, as while no leader is known
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", b.amqp_port, connection_attempts=1, socket_timeout=5))
    assert b.alive()
    b.wait_log("refused: the leader cannot be reached", n=3)
    assert_unavailable(b, "/api/overview", "the leader cannot be reached")


def mqtt_connect(name, level):
    """A CONNECT: clean session, keepalive 60, client id "mqtt"."""
    head = struct.pack(">H", len(name)) + name + bytes([level, 0x02]) + struct.pack(">H", 60)
    body = head + (b"\x00" if level == 5 else b"") + b"\x00\x04mqtt"
    return bytes([0x10, len(body)]) + body


def mqtt_answer(port, connect):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(connect)
        return read_all(s)


def test_mqtt_gets_connack_server_unavailable_when_the_leader_refuses(lost):
    import paho.mqtt.client as mqtt
    b = lost
    # 3.1.1 and 3.1: return code 3, "server unavailable"
    assert mqtt_answer(b.mqtt_port, mqtt_connect(b"MQTT", 4)) == b"\x20\x02\x00\x03"
    assert mqtt_answer(b.mqtt_port, mqtt_connect(b"MQIsdp", 3)) == b"\x20\x02\x00\x03"
    # 5.0: reason code 0x88, "server unavailable", and a reason string
    why = b"the leader cannot be reached"
    assert mqtt_answer(b.mqtt_port, mqtt_connect(b"MQTT", 5)) == (
        bytes([0x20, 6 + len(why), 0, 0x88, 3 + len(why), 0x1F, 0, len(why)]) + why)
    # not a CONNECT: closed unanswered
    assert mqtt_answer(b.mqtt_port, b"AMQP\x00\x00\x09\x01") == b""
    # paho reports the broker unavailable
    codes = []
    done = threading.Event()
    c = mqtt.Client(client_id="refused")
    c.on_connect = lambda cl, userdata, flags, rc: (codes.append(rc), done.set())
    c.connect("127.0.0.1", b.mqtt_port)
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.loop_stop()
    assert codes == [mqtt.CONNACK_REFUSED_SERVER_UNAVAILABLE]
    b.wait_log("proto=mqtt: refused: the leader cannot be reached", n=5)


def read_all(s):
    got = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return got
        got += chunk


def reason_503(answer):
    """The reason of a 503 answer (raw bytes, Connection: close)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 "), answer
    return json.loads(body)["reason"]


def open_fds(pid):
    return {int(n) for n in os.listdir("/proc/%d/fd" % pid)}


def accepted_fd(pid, port, client):
    """The descriptor in pid of the connection of client to its port."""
    ends = ("0100007F:%04X" % port, "0100007F:%04X" % client.getsockname()[1])
    with open("/proc/net/tcp") as f:
        rows = [r.split() for r in f.readlines()[1:]]
    inode = next((r[9] for r in rows if (r[1], r[2]) == ends), None)
    for n in os.listdir("/proc/%d/fd" % pid) if inode else ():
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, n)) == "socket:[%s]" % inode:
                return int(n)
        except OSError:
            pass
    return None


def test_http_gets_503_when_no_socket_is_left_for_the_leader(lost):
    """The connect to the leader fails at once (no descriptor left):
    the client still gets its 503. Once accepted, sluiced may open no
    descriptor until the head is whole. Should one it holds close in
    between (its etcd client's), the connect fails later instead, also
    a 503: tried again, a few times at most."""
    b = lost
    hard = resource.prlimit(b.proc.pid, resource.RLIMIT_NOFILE)[1]
    reasons = []
    while len(reasons) < 5 and "Too many open files" not in "".join(reasons):
        with socket.create_connection(("127.0.0.1", b.http_port), timeout=10) as s:
            s.sendall(b"GET /api/over")
            wait_for(lambda: accepted_fd(b.proc.pid, b.http_port, s), 10, "the accept")
            fds = open_fds(b.proc.pid)
            lowest_free = min(set(range(max(fds) + 2)) - fds)
            resource.prlimit(b.proc.pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
            try:
                s.sendall(b"view HTTP/1.1\r\nHost: x\r\n\r\n")
                reasons.append(reason_503(read_all(s)))
            finally:
                resource.prlimit(b.proc.pid, resource.RLIMIT_NOFILE, (hard, hard))
    assert reasons[-1] == "the leader cannot be reached: Too many open files", reasons
    assert set(reasons[:-1]) <= {"the leader cannot be reached: Connection refused"}, reasons


def test_a_request_being_read_when_the_leader_becomes_known_is_answered(tmp_path, etcd):
    """The follower learns its leader while an HTTP request's head is
    half in: the request is not cut off (a reset, for the client), it is
    answered once whole."""
    put(etcd, "sluice/cluster", "stand-in")     # b may not lead it: it waits
    b = ClusterNode(etcd, "b", str(tmp_path / "b"), clients=True).start()
    try:
        b.wait_log("joins cluster stand-in")
        before = open_fds(b.proc.pid)
        with socket.create_connection(("127.0.0.1", b.http_port), timeout=10) as s:
            s.sendall(b"GET /api/overview HTTP/1.1\r\n")
            wait_for(lambda: open_fds(b.proc.pid) - before, 10, "the accept")
            put(etcd, "sluice/leader", "x 127.0.0.1 1")
            b.wait_log("the leader is 127.0.0.1:1")
            s.sendall(b"Host: x\r\n\r\n")
            got = read_all(s)
        assert reason_503(got) == "no leader is known (election under way)"
        assert_clean(b)
    finally:
        b.kill()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_an_mqtt_connect_of_level_0_is_closed_not_held(lost):
    """A CONNECT whose level byte is 0 is no MQTT the follower answers:
    closed, not waited on while everything the client sends after it
    piles up in the follower's memory."""
    b = lost
    before = rss_kb(b.proc.pid)
    sent = 0
    with socket.create_connection(("127.0.0.1", b.mqtt_port), timeout=10) as s:
        s.sendall(b"\x10\x10\x00\x04MQTT\x00")
        try:
            while sent < 64 << 20:
                s.sendall(b"\x00" * 65536)
                sent += 65536
        except OSError:
            pass                            # closed under us: the answer wanted
    grown = rss_kb(b.proc.pid) - before
    assert grown < 16 << 10, "the follower grew %d KiB for %d bytes sent" % (grown, sent)
