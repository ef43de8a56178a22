"""Shared pieces of the MQTT suites (test_mqtt_*.py).

Two ways to talk MQTT:
  * ``Raw``: a hand-rolled client over a socket that builds every packet
    byte by byte (3.1, 3.1.1 and 5.0) and parses what comes back, for tests
    where the exact packets matter or that send what no library would.
  * ``Paho``: a thin synchronous wrapper around paho-mqtt 1.6 (Debian's).

Test modules import names from here (``from mqtt_helpers import *``) so
pytest sees the fixtures as their own. Topics and client ids are unique per
test, so the suites also run against a long-lived external broker:
EXTERNAL_MQTT=host:port (for example Mosquitto) skips the AMQP interop and
Sluice-specific tests. The broker's default user is guest/guest and
anonymous access is off, so every client logs in as guest unless a test
says otherwise (Mosquitto with allow_anonymous ignores the credentials).
"""
import os
import signal
import socket
import struct
import threading
import time
import uuid

import pytest

from conftest import Broker, wait_for

__all__ = ["EXTERNAL", "sluice_only", "mosquitto_differs", "VERSIONS", "V3", "V311", "V5", "mb",
           "make_mqtt_broker", "utopic", "uid", "Raw", "Pkt", "Paho", "props5",
           "assert_mqtt_serves", "wait_for", "pytest", "time", "deadline",
           "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
           "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
           "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH", "P", "varint",
           "mstr", "mbin", "encode_props", "packet", "USER", "PASSWORD",
           "clean_retained", "mqtt", "PacketTypes", "Properties", "KEEPALIVE_CLOSE"]

import paho.mqtt.client as mqtt                       # noqa: E402
from paho.mqtt.packettypes import PacketTypes         # noqa: E402
from paho.mqtt.properties import Properties           # noqa: E402

EXTERNAL = bool(os.environ.get("EXTERNAL_MQTT"))
sluice_only = pytest.mark.skipif(
    EXTERNAL, reason="Sluice-specific (AMQP interop, configuration or limits)")



def mosquitto_differs(reason):
    """The spec's behaviour, which Mosquitto 2.0.11 does not follow."""
    return pytest.mark.xfail(EXTERNAL, reason="Mosquitto 2.0.11: " + reason,
                             strict=False)


V3, V311, V5 = 3, 4, 5
VERSIONS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]
USER, PASSWORD = "guest", "guest"
TEST_SECONDS = 30
# Latest a silent keepalive-1 client may be dropped (1.5 x keepalive plus
# slack). Mosquitto 2.0.11 checks on a coarse timer and takes 3..6 s: the spec's
# 1.5 s is held against Sluice, Mosquitto's granularity tolerated.
KEEPALIVE_CLOSE = 7.0 if EXTERNAL else 2.4

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


# ---- paho --------------------------------------------------------------------

def props5(ptype=PacketTypes.PUBLISH, **kw):
    """paho Properties; user properties as UserProperty=[(k, v), ...]."""
    p = Properties(ptype)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class Paho:
    """paho-mqtt 1.6 driven synchronously. ``messages`` collects every
    PUBLISH received (paho MQTTMessage objects)."""

    def __init__(self, b, version=V311, client_id=None, clean=True, keepalive=30,
                 username=USER, password=PASSWORD, will=None, props=None):
        self.b, self.version = b, version
        self.client_id = uid() if client_id is None else client_id
        self.clean = clean
        self.keepalive = keepalive
        self.connect_props = props
        proto = {V3: mqtt.MQTTv31, V311: mqtt.MQTTv311, V5: mqtt.MQTTv5}[version]
        kw = {} if version == V5 else {"clean_session": clean}
        self.c = mqtt.Client(self.client_id, protocol=proto,
                             reconnect_on_failure=False, **kw)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(will["topic"], will.get("payload"), will.get("qos", 0),
                            will.get("retain", False), will.get("props"))
        self.messages = []
        self.lock = threading.Lock()
        self.connack = None
        self.subacks = {}
        self.unsubacks = {}
        self.disconnected = threading.Event()
        self.disconnect_rcs = []      # paho: a DISCONNECT's reason, then 7 (lost)
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_disconnect = self._on_disconnect

    def _on_connect(self, c, u, flags, rc, properties=None):
        self.connack = (rc, flags, properties)

    def _on_message(self, c, u, msg):
        with self.lock:
            self.messages.append(msg)

    def _on_subscribe(self, c, u, mid, granted, properties=None):
        self.subacks[mid] = [getattr(g, "value", g) for g in granted]

    def _on_unsubscribe(self, c, u, mid, properties=None, reasons=None):
        self.unsubacks[mid] = reasons

    def _on_disconnect(self, c, u, rc, properties=None):
        self.disconnect_rcs.append(getattr(rc, "value", rc))
        self.disconnected.set()

    def connect(self, expect_ok=True):
        """Connect and wait for the CONNACK: (rc as int, session_present, props)."""
        kw = {}
        if self.version == V5:
            kw["clean_start"] = self.clean
            if self.connect_props is not None:
                kw["properties"] = self.connect_props
        self.c.connect(self.b.mqtt_host, self.b.mqtt_port, self.keepalive, **kw)
        self.c.loop_start()
        assert wait_for(lambda: self.connack is not None or self.disconnected.is_set(),
                        5), "no CONNACK"
        assert self.connack is not None, "closed without CONNACK"
        rc, flags, props = self.connack
        rc = getattr(rc, "value", rc)
        if expect_ok:
            assert rc == 0, "CONNACK %r" % (rc,)
        return rc, bool(flags.get("session present")), props

    def subscribe(self, topic, qos=1, options=None, props=None):
        """Subscribe; wait for the SUBACK and return its codes (ints)."""
        if self.version == V5:
            opts = options or mqtt.SubscribeOptions(qos=qos)
            r, mid = self.c.subscribe(topic, options=opts, properties=props)
        else:
            r, mid = self.c.subscribe(topic, qos)
        assert r == 0
        assert wait_for(lambda: mid in self.subacks, 5), "no SUBACK"
        return self.subacks[mid]

    def unsubscribe(self, topic):
        r, mid = self.c.unsubscribe(topic)
        assert wait_for(lambda: mid in self.unsubacks, 5), "no UNSUBACK"
        return self.unsubacks[mid]

    def publish(self, topic, payload=b"", qos=0, retain=False, props=None):
        info = self.c.publish(topic, payload, qos, retain, properties=props)
        info.wait_for_publish(5)
        assert info.is_published(), "publish not completed (qos %d)" % qos
        return info

    def wait(self, n=1, timeout=5.0):
        """Wait for at least n messages; return a copy of all received."""
        wait_for(lambda: len(self.messages) >= n, timeout)
        with self.lock:
            return list(self.messages)

    def payloads(self):
        with self.lock:
            return [m.payload for m in self.messages]

    def disconnect(self, props=None):
        if self.c.is_connected():
            self.c.disconnect(properties=props) if self.version == V5 else \
                self.c.disconnect()
            self.disconnected.wait(3)
        self.c.loop_stop()

    def kill(self):
        """Drop the TCP connection without DISCONNECT."""
        s = self.c.socket()
        self.c.loop_stop()              # paho's thread must not see the close
        if s is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()


# ---- fixtures and small helpers ---------------------------------------------

def uid(prefix="c"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def utopic(prefix="t"):
    """A topic prefix no other test uses (no trailing slash)."""
    return "sl%s/%s" % (uuid.uuid4().hex[:10], prefix)


class _External:
    def __init__(self):
        host, port = os.environ["EXTERNAL_MQTT"].rsplit(":", 1)
        self.mqtt_host, self.mqtt_port = host, int(port)
        self.host, self.port, self.proc = None, None, None

    def log(self):
        return ""

    def alive(self):
        return True


def _check_stopped(b):
    if getattr(b, "stopped_by_test", False):
        b.stop()
        return
    alive = b.alive()
    code = b.stop()
    assert alive, "broker died during the test:\n" + b.log()
    assert code in (0, None), "broker exit %s:\n%s" % (code, b.log())
    assert "AddressSanitizer" not in b.log() and "runtime error" not in b.log(), b.log()


@pytest.fixture
def mb():
    """The broker under test, as seen by MQTT (``mqtt_host``/``mqtt_port``).
    A fresh sluiced (AMQP ``port`` too), or the EXTERNAL_MQTT broker."""
    if EXTERNAL:
        yield _External()
        return
    b = Broker()
    if b.mqtt_port is None:
        b.stop()
        pytest.skip("sluiced has no MQTT listener (no 'listening mqtt' line)")
    yield b
    _check_stopped(b)


@pytest.fixture
def make_mqtt_broker():
    """Start sluiced with extra args / config text (Sluice-specific tests)."""
    if EXTERNAL:
        pytest.skip("Sluice-specific configuration")
    started = []

    def make(*extra_args, config_text=None):
        b = Broker(extra_args, config_text)
        started.append(b)
        if b.mqtt_port is None:
            pytest.skip("sluiced has no MQTT listener")
        return b
    yield make
    for b in started:
        _check_stopped(b)


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def deadline():
    """Fail a hung test instead of blocking."""
    def on_alarm(signum, frame):
        raise DeadlineExceeded("test exceeded %d s" % TEST_SECONDS)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def clean_retained(mb):
    """Topics appended to the returned list get their retained message
    cleared at the end (keeps a long-lived external broker tidy)."""
    topics = []
    yield topics
    if not topics:
        return
    try:
        c = Raw(mb, V311)
        c.connect()
        for t in topics:
            c.publish(t, b"", retain=True)
        c.disconnect()
        c.close()
    except Exception:
        pass


def assert_mqtt_serves(b, version=V311):
    """A fresh client can still connect, subscribe and get its own message."""
    t = utopic("alive")
    c = Raw(b, version)
    ack = c.connect()
    assert ack.rc == 0, ack
    sub = c.subscribe(t)
    assert sub.codes == [1], sub
    c.publish(t, b"ping", qos=1, pid=9)
    got = {}
    for _ in range(2):
        p = c.recv()
        got[p.type] = p
        if p.type == PUBLISH:
            c.ack(PUBACK, p.pid)
    assert got[PUBACK].pid == 9
    assert got[PUBLISH].payload == b"ping" and got[PUBLISH].topic == t
    c.disconnect()
    c.close()
