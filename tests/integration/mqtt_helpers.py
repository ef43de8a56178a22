"""Shared pieces of the MQTT suites (test_mqtt_*.py).

Two ways to talk MQTT:
  * ``Raw`` (mqttraw.py): a hand-rolled client over a socket that builds
    every packet byte by byte (3.1, 3.1.1 and 5.0) and parses what comes
    back, for tests where the exact packets matter or that send what no
    library would.
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
import subprocess
import threading
import time
import uuid

import pytest

from conftest import Broker, wait_for
from mqttraw import (  # noqa: F401  (re-exported)
    AUTH, CONNACK, CONNECT, DISCONNECT, EXTERNAL, P, PASSWORD, PINGREQ, PINGRESP,
    PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK, SUBSCRIBE, UNSUBACK,
    UNSUBSCRIBE, USER, V3, V311, V5, Pkt, Raw, encode_props, mbin, mstr, packet,
    uid, varint)

__all__ = ["EXTERNAL", "sluice_only", "mosquitto_differs", "VERSIONS", "V3", "V311", "V5", "mb",
           "make_mqtt_broker", "utopic", "uid", "Raw", "Pkt", "Paho", "props5",
           "assert_mqtt_serves", "wait_for", "pytest", "time", "deadline",
           "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
           "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
           "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH", "P", "varint",
           "mstr", "mbin", "encode_props", "packet", "USER", "PASSWORD",
           "clean_retained", "mqtt", "PacketTypes", "Properties", "KEEPALIVE_CLOSE",
           "MosquittoSub", "wait_gone"]

import paho.mqtt.client as mqtt                       # noqa: E402
from paho.mqtt.packettypes import PacketTypes         # noqa: E402
from paho.mqtt.properties import Properties           # noqa: E402

sluice_only = pytest.mark.skipif(
    EXTERNAL, reason="Sluice-specific (AMQP interop, configuration or limits)")


def mosquitto_differs(reason):
    """The spec's behaviour, which Mosquitto 2.0.11 does not follow."""
    return pytest.mark.xfail(EXTERNAL, reason="Mosquitto 2.0.11: " + reason,
                             strict=False)


VERSIONS = [pytest.param(V311, id="v311"), pytest.param(V5, id="v5")]
TEST_SECONDS = 30
# Latest a silent keepalive-1 client may be dropped (1.5 x keepalive plus
# slack). Mosquitto 2.0.11 checks on a coarse timer and takes 3..6 s: the spec's
# 1.5 s is held against Sluice, Mosquitto's granularity tolerated.
KEEPALIVE_CLOSE = 7.0 if EXTERNAL else 2.4


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


# ---- mosquitto_sub ------------------------------------------------------------

class MosquittoSub:
    """mosquitto_sub (argv: its path, then its arguments) run with -d, so a
    test can wait for its SUBACK before publishing from another connection.
    Its debug lines share stdout with the messages: stdbuf makes stdout line
    buffered (a pipe would hold the SUBACK line until exit), and
    communicate() returns stdout without the debug lines."""

    DEBUG = ("Client ", "Subscribed (mid:")

    def __init__(self, argv):
        self.proc = subprocess.Popen(["stdbuf", "-oL", argv[0], "-d"] + list(argv[1:]),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = []
        self.subacked = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(self.DEBUG):
                if "received SUBACK" in line:
                    self.subacked.set()
            else:
                self.lines.append(line)

    def wait_subscribed(self, timeout=10):
        wait_for(lambda: self.subacked.is_set() or self.proc.poll() is not None, timeout)
        if not self.subacked.is_set():
            self.proc.kill()
            out, err = self.communicate(5)
            raise AssertionError("mosquitto_sub: no SUBACK (exit %s)\n%s%s"
                                 % (self.proc.returncode, out, err))

    def communicate(self, timeout=10):
        """Wait for the exit: (stdout without the debug lines, stderr)."""
        self.proc.wait(timeout)
        self.reader.join(timeout)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return "".join(self.lines), err

    @property
    def returncode(self):
        return self.proc.returncode


# ---- fixtures and small helpers ---------------------------------------------

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


def wait_gone(b, client_id, timeout=10.0):
    """Wait until the broker lists no connection of client_id
    (/api/connections), so that it has handled the connection's close: its
    session is offline (or ended) and its will is out (or waits for its
    delay). Input from two
    connections has no order in the broker, so a publish or CONNECT sent
    from another connection right after a DISCONNECT (or close) may
    otherwise be handled first. Nothing to wait on with EXTERNAL_MQTT."""
    if EXTERNAL:
        return
    from http_helpers import api

    def gone():
        st, conns, _ = api(b, "GET", "/api/connections?columns=client_id")
        return st == 200 and all(c.get("client_id") != client_id for c in conns)
    assert wait_for(gone, timeout), "broker still lists client %r" % client_id


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
