"""A tiny hand-rolled AMQP 0-9-1 client for tests that need exact frames.

It builds frames byte by byte, so tests can send what no client library would
(oversized frames, wrong frame ends, stray content headers) and read the
broker's exact connection.close / channel.close reply.
"""
import socket
import struct
import time

import pika

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = 0xCE

CONNECTION, CHANNEL, EXCHANGE, QUEUE, BASIC, CONFIRM, TX = 10, 20, 40, 50, 60, 85, 90


# ---- encoders ----------------------------------------------------------------

def shortstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!B", len(b)) + b


def longstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!I", len(b)) + b


def table_items(d):
    """Field-table content (without its length prefix); str and int values."""
    out = b""
    for k, v in d.items():
        out += shortstr(k)
        if isinstance(v, bool):
            out += b"t" + struct.pack("!B", 1 if v else 0)
        elif isinstance(v, int):
            out += b"l" + struct.pack("!q", v)
        elif isinstance(v, dict):
            out += b"F" + table(v)
        else:
            out += b"S" + longstr(v)
    return out


def table(d):
    items = table_items(d)
    return struct.pack("!I", len(items)) + items


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack("!BHI", ftype, channel, len(payload)) + payload + bytes([end])


def method_frame(channel, class_id, method_id, args=b""):
    return frame(FRAME_METHOD, channel, struct.pack("!HH", class_id, method_id) + args)


def header_frame(channel, body_size, class_id=BASIC, flags=0, props=b""):
    return frame(FRAME_HEADER, channel,
                 struct.pack("!HHQH", class_id, 0, body_size, flags) + props)


def body_frame(channel, body):
    return frame(FRAME_BODY, channel, body)


def publish_args(exchange="", routing_key="", mandatory=False, immediate=False):
    bits = (1 if mandatory else 0) | (2 if immediate else 0)
    return struct.pack("!H", 0) + shortstr(exchange) + shortstr(routing_key) + bytes([bits])


def queue_declare_args(name="", durable=False, exclusive=False, auto_delete=False,
                       passive=False):
    bits = ((1 if passive else 0) | (2 if durable else 0) | (4 if exclusive else 0)
            | (8 if auto_delete else 0))
    return struct.pack("!H", 0) + shortstr(name) + bytes([bits]) + table({})


# ---- decoding ----------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("short payload")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def octet(self):
        return self.take(1)[0]

    def short(self):
        return struct.unpack("!H", self.take(2))[0]

    def long(self):
        return struct.unpack("!I", self.take(4))[0]

    def shortstr(self):
        return self.take(self.octet()).decode("utf-8", "replace")

    def longstr(self):
        return self.take(self.long())


    def table(self):
        """A field table as a dict (values decoded for the common types)."""
        end = self.pos + self.long()
        out = {}
        while self.pos < end:
            key = self.shortstr()
            out[key] = self.value()
        return out

    def value(self):
        t = chr(self.octet())
        fixed = {"t": "!B", "b": "!b", "B": "!B", "s": "!h", "u": "!H", "I": "!i",
                 "i": "!I", "l": "!q", "L": "!Q", "f": "!f", "d": "!d", "T": "!Q"}
        if t in fixed:
            v = struct.unpack(fixed[t], self.take(struct.calcsize(fixed[t])))[0]
            return bool(v) if t == "t" else v
        if t == "D":
            scale = self.octet()
            return struct.unpack("!i", self.take(4))[0] / (10 ** scale)
        if t in "Sx":
            return self.longstr()
        if t == "F":
            return self.table()
        if t == "A":
            end = self.pos + self.long()
            items = []
            while self.pos < end:
                items.append(self.value())
            return items
        if t == "V":
            return None
        raise ValueError("unknown field type %r" % t)


class Close:
    """A decoded connection.close or channel.close."""

    def __init__(self, channel, payload):
        r = Reader(payload[4:])
        self.channel = channel
        self.code = r.short()
        self.text = r.shortstr()
        self.class_id = r.short()
        self.method_id = r.short()

    def __repr__(self):
        return "Close(ch=%d, %d %r, class=%d, method=%d)" % (
            self.channel, self.code, self.text, self.class_id, self.method_id)


# ---- the connection ------------------------------------------------------------

class RawConn:
    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.frame_max = 131072
        self.heartbeat = 0
        self.server_properties = None
        self.mechanisms = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def send_quietly(self, data):
        """Send, tolerating a broker that already closed the socket."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def discard_input(self, quiet=0.05):
        """Read and drop what has arrived, until nothing comes for quiet
        seconds (deliveries a test does not look at, so that the broker's
        output to this connection keeps draining)."""
        self.buf = b""
        self.sock.settimeout(quiet)
        try:
            while self.sock.recv(1 << 20):
                pass
        except socket.timeout:
            pass

    def _fill(self, deadline):
        remaining = deadline - time.time()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError("socket closed")
        self.buf += chunk

    def recv_bytes(self, n, timeout=5.0):
        deadline = time.time() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=5.0, skip_heartbeats=True):
        """Next frame as (type, channel, payload); raises EOFError on close."""
        deadline = time.time() + timeout
        while True:
            while len(self.buf) < 7:
                self._fill(deadline)
            ftype, channel, size = struct.unpack("!BHI", self.buf[:7])
            while len(self.buf) < 8 + size:
                self._fill(deadline)
            payload = self.buf[7:7 + size]
            end = self.buf[7 + size]
            self.buf = self.buf[8 + size:]
            assert end == FRAME_END, "broker sent a bad frame end %#x" % end
            if ftype == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            return ftype, channel, payload

    def recv_method(self, timeout=5.0):
        """Next method frame as (channel, class_id, method_id, payload)."""
        while True:
            ftype, channel, payload = self.recv_frame(timeout)
            if ftype == FRAME_METHOD:
                cid, mid = struct.unpack("!HH", payload[:4])
                return channel, cid, mid, payload

    def expect_method(self, class_id, method_id, timeout=5.0):
        ch, cid, mid, payload = self.recv_method(timeout)
        if (cid, mid) == (CONNECTION, 50) or (cid, mid) == (CHANNEL, 40):
            raise AssertionError("expected %d.%d, got %r" % (
                class_id, method_id, Close(ch, payload)))
        assert (cid, mid) == (class_id, method_id), \
            "expected %d.%d, got %d.%d" % (class_id, method_id, cid, mid)
        return ch, payload

    def wait_close(self, timeout=5.0, allow_timeout=False):
        """Read until connection.close; answer close-ok; return Close.

        Returns None if the socket closed without a connection.close. If
        nothing happens within timeout, that fails the test unless
        allow_timeout (then None too).
        """
        try:
            while True:
                ch, cid, mid, payload = self.recv_method(timeout)
                if (cid, mid) == (CONNECTION, 50):
                    c = Close(ch, payload)
                    self.send_quietly(method_frame(0, CONNECTION, 51))
                    return c
        except socket.timeout:
            if allow_timeout:
                return None
            raise AssertionError("broker neither closed nor answered in %.1f s" % timeout)
        except (EOFError, OSError):
            return None

    def wait_channel_close(self, timeout=5.0):
        """Read until channel.close or connection.close; return Close."""
        while True:
            ch, cid, mid, payload = self.recv_method(timeout)
            if (cid, mid) in ((CHANNEL, 40), (CONNECTION, 50)):
                return Close(ch, payload)

    def wait_eof(self, timeout=5.0):
        """True once the broker closes the socket (data before it is skipped)."""
        deadline = time.time() + timeout
        try:
            while True:
                self.buf = b""
                self._fill(deadline)
        except EOFError:
            return True
        except (socket.timeout, OSError):
            return False

    # -- handshake

    def start(self, header=PROTOCOL_HEADER):
        self.send(header)
        ch, payload = self.expect_method(CONNECTION, 10)
        r = Reader(payload[4:])
        self.version = (r.octet(), r.octet())
        self.server_properties = r.table()
        self.mechanisms = r.longstr()
        self.locales = r.longstr()
        return payload

    def start_ok(self, user="guest", password="guest", mechanism="PLAIN"):
        if mechanism == "PLAIN":
            response = b"\x00" + user.encode() + b"\x00" + password.encode()
        elif mechanism == "AMQPLAIN":
            response = table_items({"LOGIN": user, "PASSWORD": password})
        else:
            raise ValueError(mechanism)
        props = table({"product": "sluice-raw-test",
                       "capabilities": {"publisher_confirms": True,
                                        "authentication_failure_close": True}})
        self.send(method_frame(0, CONNECTION, 11, props + shortstr(mechanism)
                               + longstr(response) + shortstr("en_US")))

    def tune(self, frame_max=None, heartbeat=None, channel_max=None):
        """Read connection.tune and answer tune-ok; None keeps the server's value."""
        ch, payload = self.expect_method(CONNECTION, 30)
        r = Reader(payload[4:])
        s_chmax, s_fmax, s_hb = r.short(), r.long(), r.short()
        self.server_tune = (s_chmax, s_fmax, s_hb)
        chmax = s_chmax if channel_max is None else channel_max
        fmax = s_fmax if frame_max is None else frame_max
        hb = s_hb if heartbeat is None else heartbeat
        self.frame_max, self.heartbeat = fmax, hb
        self.send(method_frame(0, CONNECTION, 31, struct.pack("!HIH", chmax, fmax, hb)))

    def open(self, vhost="/"):
        self.send(method_frame(0, CONNECTION, 40, shortstr(vhost) + shortstr("") + b"\x00"))
        self.expect_method(CONNECTION, 41)

    def handshake(self, user="guest", password="guest", vhost="/", mechanism="PLAIN",
                  frame_max=None, heartbeat=0):
        self.start()
        self.start_ok(user, password, mechanism)
        self.tune(frame_max=frame_max, heartbeat=heartbeat)
        self.open(vhost)
        return self

    def open_channel(self, channel=1):
        self.send(method_frame(channel, CHANNEL, 10, shortstr("")))
        self.expect_method(CHANNEL, 11)

    def declare_queue(self, channel, name="", **flags):
        self.send(method_frame(channel, QUEUE, 10, queue_declare_args(name, **flags)))
        ch, payload = self.expect_method(QUEUE, 11)
        return Reader(payload[4:]).shortstr()


def expect_close(conn, code, text_prefix, class_id=None, method_id=None):
    c = conn.wait_close()
    assert c is not None, "socket closed without connection.close"
    assert c.channel == 0
    assert c.code == code, c
    assert c.text.startswith(text_prefix), c
    if class_id is not None:
        assert (c.class_id, c.method_id) == (class_id, method_id), c
    # after close-ok the broker closes the socket
    assert conn.wait_eof(5), "socket still open after close-ok"
    conn.close()
    return c


def connect(broker, **kw):
    """A RawConn after a full PLAIN guest/guest handshake."""
    return RawConn(broker.host, broker.port).handshake(**kw)


def pika_params(broker, **kw):
    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    kw.setdefault("connection_attempts", 1)
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("blocked_connection_timeout", 10)
    return pika.ConnectionParameters(host=broker.host, port=broker.port, **kw)


def assert_serves(broker, body=b"still here"):
    """The broker is alive and a fresh client can declare, publish and get."""
    assert broker.alive(), "broker died:\n" + broker.log()
    conn = pika.BlockingConnection(pika_params(broker))
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, body)
        method, props, got = None, None, None
        deadline = time.time() + 5
        while method is None and time.time() < deadline:
            method, props, got = ch.basic_get(q, auto_ack=True)
            if method is None:
                time.sleep(0.02)
        assert got == body
    finally:
        conn.close()
    assert broker.alive(), "broker died:\n" + broker.log()
