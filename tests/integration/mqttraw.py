"""A hand-rolled MQTT client (3.1, 3.1.1, 5.0) for tests where the exact
packets matter or that send what no client library would: ``Raw`` builds
every packet byte by byte and parses what comes back (``Pkt``), including
v5 properties and the server's topic aliases.
"""
import os
import socket
import struct
import time
import uuid

EXTERNAL = bool(os.environ.get("EXTERNAL_MQTT"))
V3, V311, V5 = 3, 4, 5
USER, PASSWORD = "guest", "guest"

(CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK,
 UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH) = range(1, 16)

class P:
    """MQTT 5 property identifiers [MQTT-2.2.2.2]."""
    PAYLOAD_FORMAT = 0x01
    MESSAGE_EXPIRY = 0x02
    CONTENT_TYPE = 0x03
    RESPONSE_TOPIC = 0x08
    CORRELATION_DATA = 0x09
    SUBSCRIPTION_ID = 0x0B
    SESSION_EXPIRY = 0x11
    ASSIGNED_CLIENT_ID = 0x12
    SERVER_KEEP_ALIVE = 0x13
    AUTH_METHOD = 0x15
    AUTH_DATA = 0x16
    REQUEST_PROBLEM_INFO = 0x17
    WILL_DELAY = 0x18
    REQUEST_RESPONSE_INFO = 0x19
    RESPONSE_INFO = 0x1A
    SERVER_REFERENCE = 0x1C
    REASON_STRING = 0x1F
    RECEIVE_MAXIMUM = 0x21
    TOPIC_ALIAS_MAXIMUM = 0x22
    TOPIC_ALIAS = 0x23
    MAXIMUM_QOS = 0x24
    RETAIN_AVAILABLE = 0x25
    USER_PROPERTY = 0x26
    MAXIMUM_PACKET_SIZE = 0x27
    WILDCARD_SUB_AVAILABLE = 0x28
    SUB_ID_AVAILABLE = 0x29
    SHARED_SUB_AVAILABLE = 0x2A


_BYTE = {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}
_TWO = {0x13, 0x21, 0x22, 0x23}
_FOUR = {0x02, 0x11, 0x18, 0x27}
_STR = {0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F}
_BIN = {0x09, 0x16}


# ---- encoders ----------------------------------------------------------------

def varint(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


mbin = mstr


def encode_props(props):
    """Properties from a list of (id, value) pairs (or a dict); user
    properties are (P.USER_PROPERTY, (key, value))."""
    items = props.items() if isinstance(props, dict) else (props or [])
    out = b""
    for pid, v in items:
        out += varint(pid)
        if pid in _BYTE:
            out += bytes([v])
        elif pid in _TWO:
            out += struct.pack("!H", v)
        elif pid in _FOUR:
            out += struct.pack("!I", v)
        elif pid in _STR or pid in _BIN:
            out += mstr(v)
        elif pid == P.SUBSCRIPTION_ID:
            out += varint(v)
        elif pid == P.USER_PROPERTY:
            out += mstr(v[0]) + mstr(v[1])
        else:
            raise ValueError("property %#x" % pid)
    return varint(len(out)) + out


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


# ---- decoding ----------------------------------------------------------------

def decode_varint(b, i):
    n, mult = 0, 1
    for k in range(4):
        d = b[i + k]
        n += (d & 0x7F) * mult
        if not d & 0x80:
            return n, i + k + 1
        mult *= 128
    raise ValueError("varint too long")


def _str(b, i):
    n = struct.unpack_from("!H", b, i)[0]
    return b[i + 2:i + 2 + n], i + 2 + n


def decode_props(b, i):
    """(dict, next index). User properties and subscription ids are lists."""
    n, i = decode_varint(b, i)
    end, d = i + n, {}
    while i < end:
        pid, i = decode_varint(b, i)
        if pid in _BYTE:
            v, i = b[i], i + 1
        elif pid in _TWO:
            v, i = struct.unpack_from("!H", b, i)[0], i + 2
        elif pid in _FOUR:
            v, i = struct.unpack_from("!I", b, i)[0], i + 4
        elif pid in _STR:
            v, i = _str(b, i)
            v = v.decode()
        elif pid in _BIN:
            v, i = _str(b, i)
        elif pid == P.SUBSCRIPTION_ID:
            v, i = decode_varint(b, i)
            d.setdefault(pid, []).append(v)
            continue
        elif pid == P.USER_PROPERTY:
            k, i = _str(b, i)
            v, i = _str(b, i)
            d.setdefault(pid, []).append((k.decode(), v.decode()))
            continue
        else:
            raise ValueError("unknown property %#x" % pid)
        assert pid not in d, "property %#x twice" % pid
        d[pid] = v
    assert i == end, "property length mismatch"
    return d, i


class Pkt:
    """One parsed packet: type, flags, body and the decoded fields."""

    def __init__(self, ptype, flags, body, version):
        self.type, self.flags, self.body = ptype, flags, body
        self.props = {}
        self.rc = 0
        self.pid = None
        b = body
        if ptype == CONNACK:
            self.session_present = bool(b[0] & 1)
            self.rc = b[1]
            if version == V5 and len(b) > 2:
                self.props, _ = decode_props(b, 2)
        elif ptype == PUBLISH:
            self.qos = (flags >> 1) & 3
            self.dup = bool(flags & 8)
            self.retain = bool(flags & 1)
            t, i = _str(b, 0)
            self.topic = t.decode()
            if self.qos:
                self.pid, i = struct.unpack_from("!H", b, i)[0], i + 2
            if version == V5:
                self.props, i = decode_props(b, i)
            self.payload = b[i:]
        elif ptype in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, SUBACK):
            self.pid = struct.unpack_from("!H", b, 0)[0]
            i = 2
            if ptype in (SUBACK, UNSUBACK):
                if version == V5:
                    self.props, i = decode_props(b, i)
                self.codes = list(b[i:])
            else:
                if version == V5 and len(b) > 2:
                    self.rc = b[2]
                    if len(b) > 3:
                        self.props, _ = decode_props(b, 3)
        elif ptype == DISCONNECT:
            if version == V5 and len(b) >= 1:
                self.rc = b[0]
                if len(b) > 1:
                    self.props, _ = decode_props(b, 1)

    def __repr__(self):
        return "Pkt(type=%d flags=%#x rc=%#x pid=%s props=%r body=%r)" % (
            self.type, self.flags, self.rc, self.pid, self.props, self.body[:60])


class Closed(Exception):
    pass


class Raw:
    """A raw MQTT client: ``Raw(b, V5).connect(...)`` then send/recv packets."""

    def __init__(self, b, version=V311, timeout=3.0):
        self.version = version
        self.sock = socket.create_connection((b.mqtt_host, b.mqtt_port), timeout=5)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.aliases = {}

    # -- packets
    def connect_packet(self, client_id=None, clean=True, keepalive=30, props=None,
                       will=None, username=USER, password=PASSWORD,
                       proto_name=None, level=None, flags_extra=0):
        """will: dict(topic, payload, qos=0, retain=False, props=None)."""
        level = level or self.version
        name = proto_name or ("MQIsdp" if level == V3 else "MQTT")
        if client_id is None:
            client_id = uid()
        flags = flags_extra | (0x02 if clean else 0)
        payload = mstr(client_id)
        if will:
            flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
            if level == V5:
                payload += encode_props(will.get("props"))
            payload += mstr(will["topic"]) + mbin(will["payload"])
        if username is not None:
            flags |= 0x80
            payload += mstr(username)
        if password is not None:
            flags |= 0x40
            payload += mbin(password)
        var = mstr(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
        if level == V5:
            var += encode_props(props)
        return packet(CONNECT, 0, var + payload)

    def connect(self, *a, **kw):
        """Send CONNECT and return the CONNACK."""
        self.send(self.connect_packet(*a, **kw))
        p = self.recv()
        assert p.type == CONNACK, p
        return p

    def publish(self, topic, payload=b"", qos=0, pid=None, retain=False, dup=False,
                props=None, send=True):
        payload = payload.encode() if isinstance(payload, str) else payload
        flags = (qos << 1) | (1 if retain else 0) | (8 if dup else 0)
        body = mstr(topic)
        if qos:
            body += struct.pack("!H", pid if pid is not None else 1)
        if self.version == V5:
            body += encode_props(props)
        pk = packet(PUBLISH, flags, body + payload)
        if send:
            self.send(pk)
        return pk

    def ack(self, ptype, pid, rc=None):
        flags = 2 if ptype == PUBREL else 0
        body = struct.pack("!H", pid)
        if rc is not None and self.version == V5:
            body += bytes([rc])
        self.send(packet(ptype, flags, body))

    def subscribe(self, filters, pid=1, props=None, wait=True):
        """filters: list of (filter, options byte) or a single filter (QoS 1)."""
        if isinstance(filters, str):
            filters = [(filters, 1)]
        body = struct.pack("!H", pid)
        if self.version == V5:
            body += encode_props(props)
        for f, opts in filters:
            body += mstr(f) + bytes([opts])
        self.send(packet(SUBSCRIBE, 2, body))
        if wait:
            p = self.recv_type(SUBACK)
            assert p.pid == pid, p
            return p

    def unsubscribe(self, filters, pid=2):
        if isinstance(filters, str):
            filters = [filters]
        body = struct.pack("!H", pid)
        if self.version == V5:
            body += encode_props(None)
        for f in filters:
            body += mstr(f)
        self.send(packet(UNSUBSCRIBE, 2, body))
        p = self.recv_type(UNSUBACK)
        assert p.pid == pid
        return p

    def disconnect(self, rc=None, props=None):
        body = b""
        if self.version == V5 and (rc is not None or props):
            body = bytes([rc or 0]) + (encode_props(props) if props else b"")
        self.send(packet(DISCONNECT, 0, body))

    # -- I/O
    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.time()
        if remaining <= 0:
            raise socket.timeout("no packet in time")
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            d = b""
        if not d:
            raise Closed("connection closed by the broker")
        self.buf += d

    def recv(self, timeout=3.0):
        """The next packet; raises socket.timeout or Closed."""
        deadline = time.time() + timeout
        while True:
            if len(self.buf) >= 2:
                try:
                    n, i = decode_varint(self.buf, 1)
                except IndexError:
                    n = None
                if n is not None and len(self.buf) >= i + n:
                    b0, body = self.buf[0], self.buf[i:i + n]
                    self.buf = self.buf[i + n:]
                    p = Pkt(b0 >> 4, b0 & 15, body, self.version)
                    if p.type == PUBLISH and P.TOPIC_ALIAS in p.props:
                        a = p.props[P.TOPIC_ALIAS]
                        if p.topic:
                            self.aliases[a] = p.topic
                        else:
                            p.topic = self.aliases[a]
                    return p
            self._fill(deadline)

    def recv_type(self, ptype, timeout=3.0):
        """The next packet of ``ptype``, answering PUBLISHes on the way is not
        done: any other packet in between fails the test."""
        p = self.recv(timeout)
        assert p.type == ptype, "expected type %d, got %r" % (ptype, p)
        return p

    def recv_publish(self, timeout=3.0, ack=True):
        """The next PUBLISH; acknowledged (PUBACK / PUBREC) if ack. A PUBREL
        arriving first is answered with PUBCOMP; any other packet fails."""
        deadline = time.time() + timeout
        while True:
            p = self.recv(max(0.01, deadline - time.time()))
            if p.type == PUBREL and ack:
                assert p.flags == 2, p
                self.ack(PUBCOMP, p.pid)
                continue
            assert p.type == PUBLISH, "expected PUBLISH, got %r" % p
            if ack and p.qos == 1:
                self.ack(PUBACK, p.pid)
            elif ack and p.qos == 2:
                self.ack(PUBREC, p.pid)
            return p

    def publishes(self, timeout=0.5, ack=True):
        """Every PUBLISH arriving within ``timeout`` (other packets fail)."""
        out = []
        end = time.time() + timeout
        while True:
            try:
                out.append(self.recv_publish(max(0.01, end - time.time()), ack))
            except socket.timeout:
                return out

    def closed(self, timeout=3.0):
        """Read until the broker closes; return the packets seen before.
        Fails if the connection is still open after ``timeout``."""
        seen = []
        deadline = time.time() + timeout
        while True:
            try:
                seen.append(self.recv(max(0.01, deadline - time.time())))
            except Closed:
                return seen
            except socket.timeout:
                raise AssertionError("connection still open after %.1f s; got %r"
                                     % (timeout, seen))

    def read_bytes(self, n, timeout=3.0):
        """The next n octets the broker sends, as they are."""
        deadline = time.time() + timeout
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_raw_until_close(self, timeout=3.0):
        """Every byte the broker sends until it closes (for byte-exact checks)."""
        deadline = time.time() + timeout
        while True:
            try:
                self._fill(deadline)
            except Closed:
                out, self.buf = self.buf, b""
                return out
            except socket.timeout:
                raise AssertionError("connection still open after %.1f s; got %r"
                                     % (timeout, self.buf))

    def expect_close(self, v5_codes, timeout=3.0, strict=None):
        """The broker closes the connection; a v5 client must see a DISCONNECT
        with a reason code in ``v5_codes`` first (against Sluice; an external
        broker may close without one, but a DISCONNECT it sends must match)."""
        if isinstance(v5_codes, int):
            v5_codes = (v5_codes,)
        seen = self.closed(timeout)
        disc = [p for p in seen if p.type == DISCONNECT]
        if self.version == V5:
            if strict if strict is not None else not EXTERNAL:
                assert disc, "no DISCONNECT before close: %r" % seen
            for d in disc:
                assert d.rc in v5_codes, "DISCONNECT %#x, expected %s" % (
                    d.rc, [hex(c) for c in v5_codes])
        else:
            assert not disc, "a server never sends DISCONNECT in v3: %r" % seen
        return seen

    def is_open(self, wait=0.3):
        """True if nothing but silence comes within ``wait`` seconds."""
        try:
            self.recv(wait)
        except socket.timeout:
            return True
        except Closed:
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close abruptly (RST), as a crashed client would."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


def uid(prefix="c"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])
