"""The transport layer under every protocol: bind lists, MQTT over
WebSockets (paho, MQTT.js), connection limits, handshake deadlines against
slow clients, what an unauthenticated or non-reading client can make the
broker buffer, and a shutdown that closes every kind of connection.
"""
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import time

import paho.mqtt.client as mqtt
import pika
import pytest

from conftest import ROOT, wait_for
from port_helpers import Ports
from stall_helpers import kernel_buffers_limit, push_until_refused, send_until_stalled
from tls_helpers import pki, tls_config  # noqa: F401 (fixture)

NODE_DIR = os.path.join(ROOT, "tests", "integration", "node")


def rss_kb(b):
    with open("/proc/%d/status" % b.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mqtt_ws_roundtrip(port, path="/ws", tls=None, client_id="ws-client"):
    got = []
    c = mqtt.Client(client_id=client_id, transport="websockets")
    c.ws_set_options(path=path)
    if tls:
        c.tls_set(ca_certs=tls)
    c.username_pw_set("guest", "guest")
    c.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    c.connect("localhost", port)
    c.loop_start()
    try:
        c.subscribe("ws/#", qos=1)
        time.sleep(0.2)
        c.publish("ws/a", b"x" * 100000, qos=1).wait_for_publish(5)
        c.publish("ws/b", b"small", qos=0)
        assert wait_for(lambda: len(got) == 2, timeout=5), got
    finally:
        c.loop_stop()
        c.disconnect()
    return got


def test_default_bind_is_both_loopbacks(make_broker):
    b = make_broker("--set", "amqp.bind=127.0.0.1, ::1")
    assert "listening amqp [::1]:%d" % b.port in b.log()
    for host in ("127.0.0.1", "::1", "localhost"):
        conn = pika.BlockingConnection(pika.ConnectionParameters(host, b.port))
        conn.close()


def test_mqtt_over_websockets_paho_and_amqp_interop(make_broker):
    held = Ports()
    port = held.new()
    b = make_broker("--set", "mqtt.ws_port=%d" % port, "--set", "mqtt.ws_bind=127.0.0.1",
                    reserved=held)
    got = mqtt_ws_roundtrip(port)
    assert got == [("ws/a", b"x" * 100000), ("ws/b", b"small")]
    # The same topics on amq.topic: an AMQP publish reaches a WS subscriber.
    seen, subacks = [], []
    c = mqtt.Client(client_id="ws-interop", transport="websockets")
    c.ws_set_options(path="/ws")
    c.username_pw_set("guest", "guest")
    c.on_message = lambda cl, u, m: seen.append(m.payload)
    c.on_subscribe = lambda cl, u, mid, granted: subacks.append(mid)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        mid = c.subscribe("from/amqp", qos=0)[1]
        assert wait_for(lambda: mid in subacks, timeout=10), "no SUBACK"
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
        conn.channel().basic_publish("amq.topic", "from.amqp", b"hello ws")
        conn.close()
        assert wait_for(lambda: seen == [b"hello ws"])
    finally:
        c.loop_stop()
        c.disconnect()


def test_websocket_over_tls(make_broker, pki):
    held = Ports()
    port = held.new()
    b = make_broker(config_text="[mqtt]\nwss_port = %d\n%s" % (port, tls_config(pki)),
                    reserved=held)
    assert b.ports["wss"] == port
    assert len(mqtt_ws_roundtrip(port, tls=pki.p("ca.crt"))) == 2


def raw_upgrade(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def test_websocket_upgrade_refusals(make_broker):
    held = Ports()
    port = held.new()
    b = make_broker("--set", "mqtt.ws_port=%d" % port, "--set", "mqtt.ws_bind=127.0.0.1",
                    reserved=held)
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    good = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
    r = raw_upgrade(port, good)
    assert r.startswith(b"HTTP/1.1 101 ")
    # RFC 6455's example key and answer.
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in r
    assert b"Sec-WebSocket-Protocol: mqtt\r\n" in r
    assert raw_upgrade(port, good.replace(b"/ws", b"/other")).startswith(b"HTTP/1.1 404")
    assert raw_upgrade(port, good.replace(b"Upgrade: websocket\r\n", b"")).startswith(
        b"HTTP/1.1 426")
    assert raw_upgrade(port, good.replace(b"mqtt\r\n", b"chat\r\n")).startswith(
        b"HTTP/1.1 400")
    assert raw_upgrade(port, good.replace(b"GET", b"POST")).startswith(b"HTTP/1.1 405")
    assert raw_upgrade(port, b"GET /ws HTTP/1.1\r\n" + b"X: " + b"y" * 9000 + b"\r\n\r\n"
                       ).startswith(b"HTTP/1.1 431")
    assert wait_for(lambda: "WebSocket upgrade refused (404)" in b.log())


def test_websocket_text_frame_is_refused(make_broker):
    held = Ports()
    port = held.new()
    make_broker("--set", "mqtt.ws_port=%d" % port, "--set", "mqtt.ws_bind=127.0.0.1",
                reserved=held)
    req = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101")
        payload, mask = b"hello", b"\x01\x02\x03\x04"
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)   # text frame
        frame = s.recv(64)
        # A close frame with 1003 (unsupported data), then the socket closes.
        assert frame[0] == 0x88 and struct.unpack("!H", frame[2:4])[0] == 1003


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_mqtt_js_over_websockets(make_broker, pki):
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mqtt")):
        pytest.skip("MQTT.js not installed (tools/dev.sh installs it)")
    held = Ports()
    ws, wss = held.new(), held.new()
    make_broker(config_text="[mqtt]\nws_port = %d\nwss_port = %d\n%s"
                % (ws, wss, tls_config(pki)), reserved=held)
    for url in ("ws://localhost:%d/ws" % ws, "wss://localhost:%d/ws" % wss):
        for version in ("4", "5"):
            r = subprocess.run(["node", os.path.join(NODE_DIR, "mqtt_ws.js"), url, version,
                                pki.p("ca.crt")], capture_output=True, text=True, timeout=30,
                               cwd=NODE_DIR)
            assert r.returncode == 0, r.stdout + r.stderr
            assert r.stdout.strip() == "ok mqtt.js/%s js/t hello from mqtt.js" % version


def test_connection_limits(make_broker):
    b = make_broker("--set", "amqp.max_connections=2", "--set", "broker.max_connections=4")
    conns = [pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
             for _ in range(2)]
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port,
                                                          connection_attempts=1))
    assert wait_for(lambda: "amqp: connection refused: the listener's max_connections (2)"
                    in b.log())
    # Broker-wide: 2 AMQP + 2 MQTT fill the 4.
    m = [mqtt.Client(client_id="lim%d" % i) for i in range(3)]
    rcs = []
    for c in m:
        c.username_pw_set("guest", "guest")
        try:
            c.connect("127.0.0.1", b.mqtt_port)
            c.loop_start()
            rcs.append("ok")
        except (ConnectionError, OSError):
            rcs.append("refused")
    assert wait_for(lambda: sum(1 for c in m if c.is_connected()) == 2, timeout=10)
    assert wait_for(lambda: "broker.max_connections (4) reached" in b.log())
    assert sum(1 for c in m if c.is_connected()) == 2
    for c in m:
        c.loop_stop()
        c.disconnect()
    conns[0].close()
    conns[1].close()


def closed_at_once(s, timeout=3.0):
    """True if the broker closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def closed_now(socks, wait=0.3):
    """The sockets of socks the broker has closed (it sends nothing to a
    client that has not logged in, so readable means EOF or reset)."""
    readable, _, _ = select.select(socks, [], [], wait)
    return readable


def test_connections_not_logged_in_are_capped(make_broker):
    # A handshake deadline of 30 s: a connection may be closed for a
    # newcomer once it has waited 3 s (a tenth), which leaves a loaded
    # machine that long to show the refusals first.
    b = make_broker("--set", "broker.max_handshakes=20", "--set", "mqtt.connect_timeout=30000",
                    "--set", "amqp.handshake_timeout=30000", "--set", "broker.log_level=debug")

    def all_accepted(socks):
        """Has the broker accepted each of socks (its debug line names the peer)?"""
        log = b.log()
        return all("peer=127.0.0.1:%d proto" % s.getsockname()[1] in log for s in socks)
    # Logged-in clients leave the count: 25 of them, one after another.
    logged = []
    for i in range(25):
        c = mqtt.Client(client_id="in%d" % i)
        c.username_pw_set("guest", "guest")
        c.connect("127.0.0.1", b.mqtt_port)
        c.loop_start()
        logged.append(c)
    assert wait_for(lambda: all(c.is_connected() for c in logged))
    # 20 that do not log in, over both protocols, with a CONNECT or a
    # protocol header's worth of bytes each, all accepted; then a 21st on
    # every listener: while the 20 are young, the newcomers are closed at
    # once and the 20 held.
    t0 = time.monotonic()
    pending = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", b.mqtt_port if i % 2 else b.port))
        s.sendall(bytes([0x10, 100]) + b"\x00\x04MQTT" if i % 2 else b"AMQP")
        pending.append(s)
    assert wait_for(lambda: all_accepted(pending))
    for port in (b.mqtt_port, b.port, b.ports["http"]):
        with socket.create_connection(("127.0.0.1", port)) as s:
            assert closed_at_once(s), port
    assert time.monotonic() - t0 < 2.5, "too slow to test before the pending ones age"
    assert closed_now(pending, 0.1) == []
    assert wait_for(lambda: "connection refused: broker.max_handshakes "
                    "(connections not yet logged in) (20) reached" in b.log()), b.log()
    # Once they have waited 3 s, a client that logs in takes the place of
    # the one that waited longest, and only that one.
    time.sleep(max(0.0, t0 + 3.5 - time.monotonic()))
    late = mqtt.Client(client_id="late")
    late.username_pw_set("guest", "guest")
    late.connect("127.0.0.1", b.mqtt_port)
    late.loop_start()
    assert wait_for(late.is_connected, timeout=5)
    gone = closed_now(pending)
    assert len(gone) == 1 and gone[0] in pending[:2], (len(gone), pending.index(gone[0]))
    assert wait_for(lambda: "closing the connections not yet logged in that waited "
                    "longest" in b.log()), b.log()
    for s in pending:
        s.close()
    for c in logged + [late]:
        c.disconnect()
        c.loop_stop()


def slow_client(port, data, interval=0.2, limit=20):
    """Send data one byte at a time; return seconds until the broker closed."""
    start = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as s:
        for byte in data:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                return time.time() - start
            time.sleep(interval)
            if time.time() - start > limit:
                return None
        s.settimeout(limit)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    return time.time() - start


def test_slow_loris_dropped_on_every_listener(make_broker):
    b = make_broker("--set", "amqp.handshake_timeout=1000", "--set", "mqtt.connect_timeout=1000",
                    "--set", "http.request_timeout=1000")
    mqtt_connect = bytes([0x10, 100]) + b"\x00\x04MQTT\x04\x02\x00\x3c" + b"\x00\x58" + b"c" * 88
    cases = [
        (b.port, b"AMQP\x00\x00\x09\x01" + b"\x01" * 200),
        (b.mqtt_port, mqtt_connect),
        (b.ports["http"], b"GET /api/overview HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 40),
    ]
    for port, data in cases:
        took = slow_client(port, data)
        # Dropped near the 1 s deadline, long before the slow send ends.
        assert took is not None and took < len(data) * 0.2 / 2, (port, took)
    assert wait_for(lambda: "handshake timeout in state" in b.log())
    assert wait_for(lambda: "no CONNECT within 1000 ms" in b.log())
    assert wait_for(lambda: "request not received within 1000 ms" in b.log())


def test_huge_mqtt_connect_from_unauthenticated_client(make_broker):
    b = make_broker()
    before = rss_kb(b)
    # Fixed header announcing a 100 MB CONNECT, then data that never ends.
    remaining = 100 * 1000 * 1000
    hdr = bytearray([0x10])
    while True:
        byte = remaining % 128
        remaining //= 128
        hdr.append(byte | (0x80 if remaining else 0))
        if not remaining:
            break
    with socket.create_connection(("127.0.0.1", b.mqtt_port), timeout=5) as s:
        s.sendall(bytes(hdr) + b"\x00\x04MQTT\x04\x02\x00\x3c")
        sent = 0
        try:
            for _ in range(2000):                 # up to 100 MB, if it reads that long
                s.sendall(b"z" * 50000)
                sent += 50000
        except OSError:
            pass
    assert sent < 10 * 1000 * 1000, sent
    assert rss_kb(b) - before < 8 * 1024
    # The refusal is logged after the socket closes; give the log a moment.
    assert wait_for(lambda: "packet too large" in b.log()
                    or "malformed" in b.log()), b.log()


def test_http_refuses_bodies_before_credentials(make_broker):
    b = make_broker()
    before = rss_kb(b)
    with socket.create_connection(("127.0.0.1", b.ports["http"]), timeout=5) as s:
        s.sendall(b"POST /api/definitions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 401"), head
        sent = push_until_refused(s, b"{" * 50000, 200)
    assert sent < 10000000
    assert rss_kb(b) - before < 4 * 1024
    # Over the header limit: 431.
    with socket.create_connection(("127.0.0.1", b.ports["http"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("path", ["/", "/ui/x.js", "/api/health/checks/is-in-service",
                                  "prometheus:/metrics"])
def test_http_public_paths_take_no_body(make_broker, path):
    """Paths served without credentials (the UI's files, the in-service
    check, Prometheus without authentication) read no body: one announced
    is refused from the head (413), not buffered up to http.max_body_size
    (16 MB) on each of the 256 connections an anonymous client may open."""
    b = make_broker()
    port = b.ports["http"]
    if path.startswith("prometheus:"):
        port, path = b.ports["prometheus"], path.split(":", 1)[1]
    before = rss_kb(b)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 10000000\r\n\r\n")
        sent = push_until_refused(s, b"{" * 50000, 200)
        s.settimeout(5)
        try:
            head = s.recv(4096)
        except OSError:
            head = b""
    assert head.startswith(b"HTTP/1.1 413"), head
    assert sent < 10000000
    assert rss_kb(b) - before < 4 * 1024


def test_client_that_never_reads_is_bounded(make_broker):
    """Requests whose answers are never read stop being read: the broker
    holds at most its output watermark plus the kernel's socket buffers,
    so the client's sends stall, having sent no more than those buffers
    (the answers' path and the requests' path, each a sender's and a
    receiver's buffer, which the kernel may grow to tcp_wmem's and
    tcp_rmem's maximum) can hold."""
    from amqpraw import QUEUE, RawConn, method_frame, queue_declare_args
    b = make_broker("--set", "amqp.output_high_watermark=64k")
    r = RawConn("127.0.0.1", b.port)
    r.handshake()
    r.open_channel(1)
    q = r.declare_queue(1, "never-read", exclusive=True)
    before = rss_kb(b)
    passive = method_frame(1, QUEUE, 10, queue_declare_args(q, passive=True))
    burst = passive * 1000                       # an answer is as long as its request, +1
    limit = kernel_buffers_limit()
    sent, stalled = send_until_stalled(r.sock, burst, limit)
    assert stalled and sent <= limit, \
        f"the broker kept reading a client that never reads ({sent} bytes taken, limit {limit})"
    grown = rss_kb(b) - before
    assert grown < 24 * 1024, grown
    assert b.alive()
    r.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_does_not_spin(make_broker):
    """Connections past the broker's descriptor limit wait in the backlog
    (accept() fails with EMFILE and the listening socket stays readable):
    the broker stops accepting for a moment instead of retrying in a busy
    loop that burns a core and writes a warning per try, and accepts
    again once descriptors are free."""
    import resource
    b = make_broker()
    pid = b.proc.pid
    nfds = len(os.listdir("/proc/%d/fd" % pid))
    hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 16, hard))
    socks = []
    try:
        for _ in range(40):
            socks.append(socket.create_connection(("127.0.0.1", b.port), timeout=5))
        time.sleep(0.5)
        cpu0, warned0 = cpu_seconds(pid), b.log().count("accept failed")
        time.sleep(2)
        used = cpu_seconds(pid) - cpu0
        warned = b.log().count("accept failed") - warned0
    finally:
        for s in socks:
            s.close()
    assert used < 0.5, "the broker spun on accept for %.2f s of 2 s" % used
    assert warned <= 1, warned
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port,
                                                          connection_attempts=3,
                                                          retry_delay=1))
    c.close()
    assert b.alive()


def test_sigterm_closes_every_connection_and_exits_0(make_broker):
    b = make_broker()
    http = socket.create_connection(("127.0.0.1", b.ports["http"]), timeout=5)
    http.sendall(b"GET /api/overview HTTP/1.1\r\nHost: x\r\n"
                 b"Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n")
    assert http.recv(65536).startswith(b"HTTP/1.1 200")      # keep-alive, left open
    amqp = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    closed = []
    m = mqtt.Client(client_id="stop", protocol=mqtt.MQTTv5)
    m.username_pw_set("guest", "guest")
    m.on_disconnect = lambda c, u, rc, props=None: closed.append(rc)
    connected = []
    m.on_connect = lambda c, u, f, rc, props=None: connected.append(rc)
    m.connect("127.0.0.1", b.mqtt_port)
    m.loop_start()
    assert wait_for(lambda: connected)      # the CONNACK, before the signal
    start = time.time()
    b.proc.send_signal(signal.SIGTERM)
    assert b.proc.wait(10) == 0
    assert time.time() - start < 6
    http.settimeout(5)
    assert http.recv(100) == b""                               # the server closed it
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        amqp.channel()
        amqp.process_data_events(1)
    assert e.value.reply_code == 320
    assert wait_for(lambda: closed)
    m.loop_stop()
