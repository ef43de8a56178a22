"""Bad MQTT input over raw sockets. Each case closes that connection (v5:
with a DISCONNECT and the right reason code first, read and checked here),
and afterwards a fresh client still works and the broker is alive."""
import socket

from mqtt_helpers import *  # noqa: F401,F403

MALFORMED, PROTOCOL_ERROR = 0x81, 0x82
TOPIC_INVALID, TOO_LARGE = 0x90, 0x95


def session(b, version):
    c = Raw(b, version)
    assert c.connect().rc == 0
    return c


def check(b, c, codes, version):
    c.expect_close(codes)
    assert_mqtt_serves(b, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_remaining_length_five_bytes(mb, version):
    c = session(mb, version)
    c.send(bytes([PUBLISH << 4, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) + b"\x00" * 16)
    check(mb, c, MALFORMED, version)


def test_remaining_length_five_bytes_before_connect(mb):
    c = Raw(mb, V311)
    c.send(bytes([CONNECT << 4, 0x80, 0x80, 0x80, 0x80, 0x01]))
    assert [p for p in c.closed() if p.type != CONNACK] == []
    assert_mqtt_serves(mb)


@pytest.mark.parametrize("version", VERSIONS)
def test_remaining_length_beyond_body(mb, version):
    """A PUBLISH whose topic length runs past the packet end."""
    c = session(mb, version)
    c.send(packet(PUBLISH, 0, b"\x00\x50abc"))
    check(mb, c, MALFORMED, version)


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_packet_over_max_packet_size(make_mqtt_broker, version):
    b = make_mqtt_broker("--set", "mqtt.max_packet_size=1024")
    c = Raw(b, version)
    ack = c.connect()
    assert ack.rc == 0
    if version == V5:
        assert ack.props.get(P.MAXIMUM_PACKET_SIZE) == 1024, ack.props
    t = utopic()
    c.subscribe([(t, 0)])
    c.publish(t, b"x" * 900)                 # under the limit: fine
    assert len(c.recv_publish().payload) == 900
    c.publish(t, b"x" * 2000)
    check(b, c, TOO_LARGE, version)


@sluice_only
def test_oversized_header_refused_before_body(make_mqtt_broker):
    """The size check uses the fixed header alone: a 1 GB claim is refused
    without the broker waiting for (or allocating) the body."""
    b = make_mqtt_broker("--set", "mqtt.max_packet_size=1024")
    c = Raw(b, V5)
    c.connect()
    c.send(bytes([PUBLISH << 4]) + varint(1 << 28 - 1))
    check(b, c, TOO_LARGE, V5)


@sluice_only
def test_publish_over_max_message_size_refused_before_body(make_mqtt_broker):
    """mqtt.max_packet_size (256 MiB by default) is not what a logged-in
    client may make the broker buffer for one PUBLISH: one that cannot
    pass broker.max_message_size whatever its topic is refused (0x95)
    from its fixed header, not read whole first (a publisher that has
    not published yet is not held back by the memory alarm either)."""
    b = make_mqtt_broker("--set", "broker.max_message_size=1M")
    c = Raw(b, V5)
    c.connect()
    with open("/proc/%d/status" % b.proc.pid) as f:
        before = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    # 100 MB announced, then sent while the broker reads
    c.send(bytes([PUBLISH << 4]) + varint(100 * 1000 * 1000) + mstr("big/t"))
    sent = 0
    try:
        for _ in range(2000):
            c.sock.sendall(b"z" * 50000)
            sent += 50000
    except OSError:
        pass
    with open("/proc/%d/status" % b.proc.pid) as f:
        grown = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0] - before
    assert sent < 10 * 1000 * 1000, sent
    assert grown < 8 * 1024, grown
    assert_mqtt_serves(b, V5)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("topic", ["a/+", "a/#", "+", "#", "a/b+"])
@mosquitto_differs("2.0.11 answers 0x82; 2.0.20 answers 0x81, as Sluice does")
def test_publish_with_wildcard_topic(mb, version, topic):
    """[MQTT-3.3.2-2] a wildcard in a topic name: malformed (0x81), the
    code Mosquitto 2.0.20 sends."""
    c = session(mb, version)
    c.publish(topic, b"x")
    check(mb, c, (MALFORMED,) if version == V5 else (), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_topic_over_201_levels(mb, version):
    """A topic name of more than 201 levels (200 '/', Mosquitto's
    TOPIC_HIERARCHY_LIMIT) is malformed (v5 0x81); one of 201 is routed.
    Each level was a step per '#' subscription on the core thread for
    every publish, and a level of its stack."""
    t = utopic()
    sub = session(mb, version)
    sub.subscribe([(t + "/#", 0)])
    c = session(mb, version)
    ok = t + "/x" * (200 - t.count("/"))
    assert ok.count("/") == 200
    c.publish(ok, b"201 levels")
    assert sub.recv_publish().topic == ok
    c.publish(ok + "/x", b"202 levels")
    check(mb, c, (MALFORMED,) if version == V5 else (), version)
    assert sub.publishes(0.3) == []
    sub.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("raw_topic", [b"a/\xff", b"a/\xc0\xaf", b"a/\xed\xa0\x80",
                                       b"a\x00b"],
                         ids=["ff", "overlong", "surrogate", "nul"])
def test_publish_topic_bad_utf8(mb, version, raw_topic):
    """[MQTT-1.5.4-1/2] ill-formed UTF-8 or U+0000: malformed (v5 0x81 or
    the topic-specific 0x90)."""
    c = session(mb, version)
    body = mstr(raw_topic) + (b"\x00" if version == V5 else b"") + b"payload"
    c.send(packet(PUBLISH, 0, body))
    check(mb, c, (MALFORMED, TOPIC_INVALID), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_subscribe_filter_bad_utf8(mb, version):
    c = session(mb, version)
    body = b"\x00\x01" + (b"\x00" if version == V5 else b"") + mstr(b"a/\xff") + b"\x00"
    c.send(packet(SUBSCRIBE, 2, body))
    check(mb, c, MALFORMED, version)


@pytest.mark.parametrize("first", [
    pytest.param(packet(PINGREQ, 0, b""), id="pingreq"),
    pytest.param(packet(PUBLISH, 0, mstr("a/b") + b"x"), id="publish"),
    pytest.param(packet(SUBSCRIBE, 2, b"\x00\x01" + mstr("a") + b"\x00"), id="subscribe"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
    pytest.param(b"AMQP\x00\x00\x09\x01", id="amqp-header"),
])
def test_first_packet_not_connect(mb, first):
    """[MQTT-3.1.0-1] the first packet must be CONNECT: close, no reply."""
    c = Raw(mb, V311)
    c.send(first)
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[-1] != 0 for p in seen), seen
    assert_mqtt_serves(mb)


@pytest.mark.parametrize("version", VERSIONS)
def test_second_connect(mb, version):
    """[MQTT-3.1.0-2] a second CONNECT is a protocol violation."""
    c = session(mb, version)
    c.send(c.connect_packet())
    check(mb, c, PROTOCOL_ERROR, version)


IGNORES_FLAGS = mosquitto_differs("ignores reserved flags of PINGREQ and PUBACK")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ptype,flags,body", [
    (SUBSCRIBE, 0, b"\x00\x01" + mstr("a") + b"\x00"),
    (UNSUBSCRIBE, 0, b"\x00\x01" + mstr("a")),
    (PUBREL, 0, b"\x00\x01"),
    pytest.param(PINGREQ, 1, b"", marks=IGNORES_FLAGS),
    (DISCONNECT, 2, b""),
    pytest.param(PUBACK, 4, b"\x00\x01", marks=IGNORES_FLAGS),
], ids=["subscribe-0", "unsubscribe-0", "pubrel-0", "pingreq-1", "disconnect-2",
        "puback-4"])
def test_reserved_flag_bits(mb, version, ptype, flags, body):
    """[MQTT-2.2.2-2] wrong fixed-header flags: malformed."""
    c = session(mb, version)
    if version == V5 and ptype in (SUBSCRIBE, UNSUBSCRIBE):
        body = body[:2] + b"\x00" + body[2:]
    c.send(packet(ptype, flags, body))
    check(mb, c, MALFORMED, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_qos3(mb, version):
    c = session(mb, version)
    c.send(packet(PUBLISH, 6, mstr("a/b") + b"\x00\x01" +
                  (b"\x00" if version == V5 else b"") + b"x"))
    check(mb, c, MALFORMED, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_publish_qos1_packet_id_zero(mb, version):
    """[MQTT-2.3.1-1] a packet id is non-zero."""
    c = session(mb, version)
    c.publish(utopic(), b"x", qos=1, pid=0)
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ptype", [0, AUTH])
def test_unknown_or_reserved_packet_type(mb, version, ptype):
    """Type 0 is reserved; AUTH (15) exists only in v5 (there it needs an
    authentication method, so both are errors here)."""
    if ptype == AUTH and version == V5:
        pytest.skip("covered by test_mqtt_v5")
    c = session(mb, version)
    c.send(packet(ptype, 0, b""))
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_subscribe_without_filters(mb, version):
    """[MQTT-3.8.3-3] a SUBSCRIBE must hold at least one filter."""
    c = session(mb, version)
    c.send(packet(SUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if version == V5 else b"")))
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_subscribe_reserved_option_bits(mb, version):
    """[MQTT-3.8.3-5] reserved bits of the options byte must be 0 (v3:
    upper six bits; v5: upper two); QoS 3 is malformed."""
    c = session(mb, version)
    opts = 0xC0 if version == V5 else 0x04
    body = b"\x00\x01" + (b"\x00" if version == V5 else b"") + mstr("a") + bytes([opts])
    c.send(packet(SUBSCRIBE, 2, body))
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), version)


def test_v5_bad_property_length(mb):
    c = session(mb, V5)
    # PUBLISH whose property length claims more than the packet holds
    c.send(packet(PUBLISH, 0, mstr("a/b") + b"\x10\x01"))
    check(mb, c, MALFORMED, V5)


def test_v5_duplicate_property(mb):
    c = session(mb, V5)
    props = [(P.CONTENT_TYPE, "a"), (P.CONTENT_TYPE, "b")]
    c.publish(utopic(), b"x", props=props)
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), V5)


def test_v5_property_not_allowed_in_packet(mb):
    """Session Expiry Interval inside a PUBLISH: malformed/protocol error."""
    c = session(mb, V5)
    c.publish(utopic(), b"x", props=[(P.SESSION_EXPIRY, 5)])
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), V5)


def test_v5_unknown_property_id(mb):
    c = session(mb, V5)
    c.send(packet(PUBLISH, 0, mstr("a/b") + b"\x02\x7f\x00" + b"x"))
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), V5)


@pytest.mark.parametrize("version", VERSIONS)
def test_truncated_connect_then_close(mb, version):
    """Half a CONNECT then EOF: the broker cleans up; others unaffected."""
    c = Raw(mb, version)
    pk = c.connect_packet()
    c.send(pk[:len(pk) // 2])
    c.abort()
    assert_mqtt_serves(mb, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_connect_string_length_past_end(mb, version):
    c = Raw(mb, version)
    pk = bytearray(c.connect_packet(client_id="abc"))
    # client id length field: bump it past the end of the packet
    i = pk.index(b"\x00\x03abc")
    pk[i:i + 2] = b"\x01\x00"
    c.send(bytes(pk))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen
    assert_mqtt_serves(mb, version)


def test_many_garbage_connections(mb):
    """A burst of junk connections does not hurt the broker."""
    import os
    for i in range(30):
        s = socket.create_connection((mb.mqtt_host, mb.mqtt_port))
        s.sendall(os.urandom(64 + i))
        s.close()
    assert_mqtt_serves(mb)
    assert_mqtt_serves(mb, V5)


@pytest.mark.parametrize("version", VERSIONS)
def test_slowloris_byte_by_byte(mb, version):
    """A CONNECT and a PUBLISH trickled one byte at a time still work."""
    t = utopic()
    s = Raw(mb, version)
    s.connect()
    s.subscribe([(t, 0)])
    c = Raw(mb, version)
    data = c.connect_packet() + c.publish(t, b"slow", send=False)
    for i in range(len(data)):
        c.send(data[i:i + 1])
    assert c.recv().type == CONNACK
    assert s.recv_publish().payload == b"slow"
    c.close()
    s.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("flags", [0x18, 0x08, 0x20, 0x10 | 0x04 | 0x18],
                         ids=["will-qos3", "qos-without-will", "retain-without-will",
                              "will-qos3-with-will"])
def test_connect_bad_will_flags(mb, version, flags):
    """[MQTT-3.1.2-11/13/15] will QoS/retain without the will flag, or will
    QoS 3: malformed CONNECT, refused and closed."""
    c = Raw(mb, version)
    will = None
    if flags & 0x04:
        will = {"topic": "w", "payload": b"x"}
        flags &= ~0x04
    c.send(c.connect_packet(flags_extra=flags, will=will))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen
    assert_mqtt_serves(mb, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_unsubscribe_without_filters(mb, version):
    """[MQTT-3.10.3-2] an UNSUBSCRIBE must hold at least one filter."""
    c = session(mb, version)
    c.send(packet(UNSUBSCRIBE, 2, b"\x00\x01" + (b"\x00" if version == V5 else b"")))
    check(mb, c, (MALFORMED, PROTOCOL_ERROR), version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("topic", ["w/#", "w" + "/w" * 201], ids=["wildcard", "202-levels"])
def test_will_topic_with_wildcard(mb, version, topic):
    """A will topic must be a valid topic name (no wildcard, at most 201
    levels): CONNECT refused."""
    c = Raw(mb, version)
    c.send(c.connect_packet(will={"topic": topic, "payload": b"x"}))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen
    assert_mqtt_serves(mb, version)
