"""Names longer than an AMQP 0-9-1 short string (255 bytes) crossing
between MQTT and the rest of the broker.

MQTT allows 65535-byte topics, client identifiers and property strings;
AMQP 0-9-1 writes routing keys, queue names, header names and most basic
properties as short strings. The broker must never write a short string
over 255 bytes or cut one: an AMQP client gets a long routing key or
Response Topic in a header (x-routing-key, x-reply-to-topic) in
well-formed frames, MQTT subscribers get everything unaltered, as from
Mosquitto, and mqtt.max_client_id_length lets an operator keep session
queue names short. Frames are read byte by byte (amqpraw) where their
exact shape matters.
"""
import os
import socket
import struct
import subprocess

import amqpraw as ar
from amqp_helpers import connect, ready_count, uname
from http_helpers import api
from conftest import SLUICED
from mqtt_helpers import *  # noqa: F401,F403

SLUICECTL = os.environ.get("SLUICECTL") or os.path.join(
    os.path.dirname(os.path.dirname(SLUICED)), "tools", "sluicectl")

BASIC = 60
PROPS = ["content_type", "content_encoding", "headers", "delivery_mode", "priority",
         "correlation_id", "reply_to", "expiration", "message_id", "timestamp",
         "type", "user_id", "app_id", "cluster_id"]


def amqp_consumer(b, key="#"):
    """A raw AMQP connection consuming (no-ack) a new queue bound to
    amq.topic with key; returns (conn, consumer tag)."""
    rc = ar.RawConn("127.0.0.1", b.port).handshake()
    rc.open_channel(1)
    qn = rc.declare_queue(1, uname("q"))
    rc.send(ar.method_frame(1, ar.QUEUE, 20, struct.pack("!H", 0) + ar.shortstr(qn)
                            + ar.shortstr("amq.topic") + ar.shortstr(key) + b"\x00"
                            + ar.table({})))
    rc.expect_method(ar.QUEUE, 21)
    rc.send(ar.method_frame(1, BASIC, 20, struct.pack("!H", 0) + ar.shortstr(qn)
                            + ar.shortstr("ctag") + b"\x02" + ar.table({})))
    rc.expect_method(BASIC, 21)
    return rc


def read_props(payload):
    """A content header payload, strictly: every octet accounted for."""
    r = ar.Reader(payload)
    assert (r.short(), r.short()) == (BASIC, 0)
    body_size = struct.unpack("!Q", r.take(8))[0]
    flags = r.short()
    assert not flags & 0x3, "unexpected flag bits %#x" % flags
    props = {}
    for i, name in enumerate(PROPS):
        if not flags & (1 << (15 - i)):
            continue
        if name == "headers":
            props[name] = r.table()
        elif name in ("delivery_mode", "priority"):
            props[name] = r.octet()
        elif name == "timestamp":
            props[name] = struct.unpack("!Q", r.take(8))[0]
        else:
            props[name] = r.take(r.octet())
    assert r.pos == len(payload), "content header has trailing bytes"
    return body_size, props


def recv_delivery(rc, dtag):
    """The next basic.deliver (checked byte for byte against the routing
    key it carries), content header and body: (routing key, props, body)."""
    ftype, chan, payload = rc.recv_frame()
    assert (ftype, chan) == (ar.FRAME_METHOD, 1)
    r = ar.Reader(payload)
    assert (r.short(), r.short()) == (BASIC, 60)
    assert r.take(r.octet()) == b"ctag"
    assert struct.unpack("!Q", r.take(8))[0] == dtag
    assert r.octet() == 0
    assert r.take(r.octet()) == b"amq.topic"
    rk = r.take(r.octet())
    assert r.pos == len(payload), "basic.deliver has trailing bytes"
    ftype, chan, payload = rc.recv_frame()
    assert (ftype, chan) == (ar.FRAME_HEADER, 1)
    size, props = read_props(payload)
    body = b""
    while len(body) < size:
        ftype, chan, chunk = rc.recv_frame()
        assert (ftype, chan) == (ar.FRAME_BODY, 1)
        body += chunk
    return rk, props, body


def nothing_more(rc, wait=0.3):
    try:
        rc.recv_frame(timeout=wait)
    except socket.timeout:
        return True
    return False


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_long_topic_reaches_amqp_in_well_formed_frames(mb, version):
    """A topic of 255 bytes is the routing key; one of 256, 300 or 65000
    bytes is delivered with routing key "" and the whole key in header
    x-routing-key (the old broker dropped the message)."""
    rc = amqp_consumer(mb)
    t = utopic("L")
    pub = Raw(mb, version)
    pub.connect()
    lengths = [255, 256, 300, 65000]
    for i, n in enumerate(lengths):
        pub.publish(t + "/" + "x" * (n - len(t) - 1), b"m%d" % n, qos=1, pid=i + 1)
        assert pub.recv_type(PUBACK).pid == i + 1
    key = t.replace("/", ".")
    for i, n in enumerate(lengths):
        rk, props, body = recv_delivery(rc, i + 1)
        assert body == b"m%d" % n
        whole = (key + "." + "x" * (n - len(t) - 1)).encode()
        if n <= 255:
            assert rk == whole and "x-routing-key" not in props.get("headers", {})
        else:
            assert rk == b"" and props["headers"]["x-routing-key"] == whole
    assert nothing_more(rc)
    rc.close()
    pub.close()


@sluice_only
def test_basic_get_of_a_long_topic_carries_its_key(mb):
    conn = connect(mb)
    ch = conn.channel()
    qn = ch.queue_declare(uname("q")).method.queue
    ch.queue_bind(qn, "amq.topic", "#")
    t = utopic("G")
    pub = Raw(mb, V311)
    pub.connect()
    pub.publish(t + "/" + "g" * 400, b"long", qos=1, pid=1)
    pub.recv_type(PUBACK)
    assert wait_for(lambda: ready_count(ch, qn) == 1)
    m, props, body = ch.basic_get(qn, auto_ack=True)
    assert m is not None and body == b"long" and m.routing_key == ""
    assert props.headers["x-routing-key"] == t.replace("/", ".") + "." + "g" * 400
    assert mb.alive()
    conn.close()
    pub.close()


def long_props():
    return [(P.CONTENT_TYPE, "c" * 300), (P.RESPONSE_TOPIC, "r/" + "y" * 298),
            (P.USER_PROPERTY, ("a", "1")), (P.USER_PROPERTY, ("k" * 300, "2")),
            (P.USER_PROPERTY, ("b", "3")), (P.USER_PROPERTY, ("K" * 65000, "4"))]


@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
def test_long_properties_between_mqtt_clients_unaltered(mb, retain):
    """MQTT 5 [MQTT-3.3.2-15, -17, -18, -20]: Response Topic, User
    Properties (in order) and Content Type reach a subscriber unaltered,
    whatever their length (the old broker cut names to 255 bytes and
    dropped the two strings)."""
    t = utopic("P")
    sub = Raw(mb, V5)
    sub.connect()
    pub = Raw(mb, V5)
    pub.connect()
    if retain:
        pub.publish(t + "/x", b"p", qos=1, pid=1, retain=True, props=long_props())
        pub.recv_type(PUBACK)
    sub.subscribe([(t + "/#", 1)])
    if not retain:
        pub.publish(t + "/x", b"p", qos=1, pid=1, props=long_props())
    got = sub.recv_publish()
    assert got.payload == b"p"
    assert got.props[P.CONTENT_TYPE] == "c" * 300
    assert got.props[P.RESPONSE_TOPIC] == "r/" + "y" * 298
    assert got.props[P.USER_PROPERTY] == [("a", "1"), ("k" * 300, "2"), ("b", "3"),
                                          ("K" * 65000, "4")]
    if retain:
        pub.publish(t + "/x", b"", qos=1, pid=2, retain=True)
    sub.close()
    pub.close()


@sluice_only
def test_long_properties_reach_amqp_in_headers(mb):
    rc = amqp_consumer(mb)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(utopic("H") + "/x", b"h", qos=1, pid=1, props=long_props())
    pub.recv_type(PUBACK)
    rk, props, body = recv_delivery(rc, 1)
    h = props["headers"]
    assert body == b"h" and "content_type" not in props and "reply_to" not in props
    assert h["x-reply-to-topic"] == b"r." + b"y" * 298
    assert h["a"] == b"1" and h["b"] == b"3"
    assert all(len(k) <= 255 for k in h)
    assert h["x-mqtt-user-properties"] == [b"a", b"1", b"k" * 300, b"2", b"b", b"3",
                                           b"K" * 65000, b"4"]
    rc.close()
    pub.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_max_client_id_length(make_mqtt_broker, version):
    b = make_mqtt_broker("--set", "mqtt.max_client_id_length=300")
    c = Raw(b, version)
    assert c.connect(client_id="i" * 300).rc == 0
    c.close()
    c = Raw(b, version)
    assert c.connect(client_id="i" * 301).rc == (0x85 if version == V5 else 2)
    c.closed()
    c.close()
    assert "longer than mqtt.max_client_id_length 300" in b.log()


@sluice_only
def test_longest_client_id_needs_max_connect_size(make_mqtt_broker):
    """A 65535-byte identifier (the default mqtt.max_client_id_length) makes
    a CONNECT over the default mqtt.max_connect_size (64k): the connection
    is closed before any CONNACK, as the documentation says; with 128k the
    identifier is accepted."""
    cid = "m" * 65535
    c = Raw(make_mqtt_broker(), V311)
    c.send(c.connect_packet(client_id=cid))
    assert c.closed() == []
    c.close()
    c = Raw(make_mqtt_broker("--set", "mqtt.max_connect_size=128k"), V311)
    assert c.connect(client_id=cid).rc == 0
    c.close()


def test_max_client_id_length_is_bounded(tmp_path):
    for bad in ("0", "65536"):
        p = subprocess.run([SLUICED, "--set", "mqtt.max_client_id_length=" + bad,
                            "--set", "broker.data_dir=" + str(tmp_path / "d"),
                            "--set", "amqp.port=0", "--set", "mqtt.port=0",
                            "--set", "http.port=0", "--set", "prometheus.port=0"],
                           capture_output=True, text=True, timeout=20, input="")
        assert p.returncode == 2 and "max_client_id_length" in p.stderr, p.stderr


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_long_client_id_session_survives_restart(make_mqtt_broker, tmp_path, version):
    """Sessions of 300- and 60000-byte client ids: queued QoS 1 messages
    and subscriptions outlive a restart; the API and sluicectl list the
    queues by their whole names; AMQP, which cannot name them, gets 404."""
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_mqtt_broker("--set", data)
    t = utopic("S")
    props = {P.SESSION_EXPIRY: 3600} if version == V5 else None
    ids = ["p" * 300, "P" * 60000]
    for i, cid in enumerate(ids):
        c = Raw(b, version)
        c.connect(client_id=cid, clean=False, props=props)
        c.subscribe([(t + "/%d" % i, 1)])
        c.disconnect()
        c.close()
        wait_gone(b, cid)
    pub = Raw(b, version)
    pub.connect()
    for i in range(len(ids)):
        pub.publish(t + "/%d" % i, b"queued%d" % i, qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    pub.close()
    names = ["mqtt-subscription-%sqos1" % cid for cid in ids]
    conn = connect(b)
    ch = conn.channel()
    # The longest name AMQP can send is the first 255 bytes: it must not
    # find the session's queue (as it would if the broker kept queue
    # names cut to a short string).
    with pytest.raises(Exception) as e:
        ch.queue_declare(names[0][:255], passive=True)
    assert "404" in str(e.value)
    conn.close()
    b.stopped_by_test = True
    assert b.stop() == 0, b.log()
    assert "AddressSanitizer" not in "".join(b.lines)
    b = make_mqtt_broker("--set", data)
    st, body, _ = api(b, "GET", "/api/queues")
    assert st == 200
    listed = {q["name"]: q["messages"] for q in body}
    assert all(listed.get(n) == 1 for n in names), {len(k): v for k, v in listed.items()}
    r = subprocess.run([SLUICECTL, "--host", "127.0.0.1", "--port", str(b.ports["http"]),
                        "list_queues", "name"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert set(names) <= set(r.stdout.split())
    for i, cid in enumerate(ids):
        c = Raw(b, version)
        assert c.connect(client_id=cid, clean=False, props=props).session_present
        assert [p.payload for p in c.publishes(0.8)] == [b"queued%d" % i]
        c.close()
