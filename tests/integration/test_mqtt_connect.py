"""MQTT listener and CONNECT: protocol levels 3 (MQIsdp), 4 and 5, the v5
CONNACK properties, keepalive, and authentication."""
from mqtt_helpers import *  # noqa: F401,F403


def test_connect_v31_mqisdp_raw(mb):
    c = Raw(mb, V3)
    ack = c.connect(client_id=uid()[:20])       # 3.1: ids are 1..23 characters
    assert ack.rc == 0 and not ack.session_present
    assert len(ack.body) == 2
    c.send(packet(PINGREQ, 0, b""))
    assert c.recv().type == PINGRESP
    c.disconnect()
    assert c.closed() == []


@pytest.mark.parametrize("version", [pytest.param(V3, id="v31"), *VERSIONS])
def test_paho_connects_and_round_trips(mb, version):
    t = utopic()
    c = Paho(mb, version, client_id=uid()[:20])
    rc, present, _ = c.connect()
    assert rc == 0 and not present
    assert c.subscribe(t, 1) == [1]
    c.publish(t, b"hello", qos=1)
    msgs = c.wait(1)
    assert [(m.topic, m.payload, m.qos) for m in msgs] == [(t, b"hello", 1)]
    c.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
def test_connack_shape(mb, version):
    c = Raw(mb, version)
    ack = c.connect()
    assert ack.rc == 0 and not ack.session_present
    if version == V311:
        assert ack.body == b"\x00\x00"
    c.send(packet(PINGREQ, 0, b""))
    p = c.recv()
    assert p.type == PINGRESP and p.body == b""
    c.close()


def test_v5_connack_advertises_limits(mb):
    """Receive Maximum 20, Topic Alias Maximum 10; retain, wildcard,
    subscription-id and shared subscriptions available (absent means 1)."""
    c = Raw(mb, V5)
    ack = c.connect()
    assert ack.rc == 0
    pr = ack.props
    assert pr.get(P.RECEIVE_MAXIMUM) == 20, pr
    assert pr.get(P.TOPIC_ALIAS_MAXIMUM) == 10, pr
    for prop in (P.RETAIN_AVAILABLE, P.WILDCARD_SUB_AVAILABLE, P.SUB_ID_AVAILABLE,
                 P.SHARED_SUB_AVAILABLE):
        assert pr.get(prop, 1) == 1, (hex(prop), pr)
    assert pr.get(P.MAXIMUM_QOS, 2) == 2, pr
    c.close()


# (Mosquitto also accepts 0x83..0x85: the 0x80 bit marks its bridges.)
@pytest.mark.parametrize("level", [2, 6])
def test_unknown_protocol_level_refused(mb, level):
    """[MQTT-3.1.2-2] CONNACK return code 1 (v3 form) or 0x84, then close."""
    c = Raw(mb, V311)
    c.send(c.connect_packet(level=level, proto_name="MQTT"))
    seen = c.closed()
    acks = [p for p in seen if p.type == CONNACK]
    if acks:
        assert acks[0].body[1] in (0x01, 0x84), acks


def test_bad_protocol_name_closed(mb):
    c = Raw(mb, V311)
    c.send(c.connect_packet(proto_name="MQTX"))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen


def test_connect_reserved_flag_closed(mb):
    """[MQTT-3.1.2-3] the reserved CONNECT flag bit must be 0."""
    c = Raw(mb, V311)
    c.send(c.connect_packet(flags_extra=0x01))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen


def test_keepalive_zero_stays_open(mb):
    c = Raw(mb, V311)
    assert c.connect(keepalive=0).rc == 0
    assert c.is_open(1.6)
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_keepalive_one_and_a_half(mb, version):
    """A silent client with keepalive 1 is dropped after ~1.5 s, not 1."""
    c = Raw(mb, version)
    assert c.connect(keepalive=1).rc == 0
    t0 = time.time()
    assert c.is_open(1.0), "closed before the keepalive ran out"
    seen = c.closed(timeout=KEEPALIVE_CLOSE + 0.5)
    elapsed = time.time() - t0
    assert 1.0 <= elapsed <= KEEPALIVE_CLOSE, elapsed
    if version == V5:
        for p in seen:
            assert p.type == DISCONNECT and p.rc == 0x8D, seen   # keep alive timeout


def test_pings_keep_connection(mb):
    c = Raw(mb, V311)
    assert c.connect(keepalive=1).rc == 0
    for _ in range(5):                   # 2.5 s of activity at 0.5 s steps
        time.sleep(0.5)
        c.send(packet(PINGREQ, 0, b""))
        assert c.recv().type == PINGRESP
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_v5_server_keepalive_or_requested(mb, version):
    """If the broker overrides keepalive (v5 Server Keep Alive), it says so."""
    c = Raw(mb, version)
    ack = c.connect(keepalive=20)
    assert ack.rc == 0
    if version == V5:
        assert ack.props.get(P.SERVER_KEEP_ALIVE, 20) > 0
    c.close()


# ---- authentication (Sluice: anonymous off by default, users from config) ----

USERS_CONF = """
[user guest]
password = guest
tags = administrator

[user alice]
password = wonderland
loopback_only = no
"""


def _connect_user(b, version, username, password):
    c = Raw(b, version)
    ack = c.connect(username=username, password=password)
    return c, ack


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_configured_user_logs_in(make_mqtt_broker, version):
    b = make_mqtt_broker(config_text=USERS_CONF)
    c, ack = _connect_user(b, version, "alice", "wonderland")
    assert ack.rc == 0
    assert_mqtt_serves(b, version)
    c.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_bad_password_refused(make_mqtt_broker, version):
    b = make_mqtt_broker(config_text=USERS_CONF)
    c, ack = _connect_user(b, version, "alice", "queen-of-hearts")
    assert ack.rc == (4 if version == V311 else 0x86), hex(ack.rc)
    c.closed()
    c2, ack2 = _connect_user(b, version, "nobody", "x")
    assert ack2.rc == (4 if version == V311 else 0x86), hex(ack2.rc)
    c2.closed()
    assert_mqtt_serves(b)


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_vhost_colon_username(make_mqtt_broker, version):
    """RabbitMQ's "vhost:username" form: "/:alice" is alice in vhost "/"."""
    b = make_mqtt_broker(config_text=USERS_CONF)
    c, ack = _connect_user(b, version, "/:alice", "wonderland")
    assert ack.rc == 0, hex(ack.rc)
    c.close()
    c2, ack2 = _connect_user(b, version, "no-such-vhost:alice", "wonderland")
    assert ack2.rc != 0
    c2.closed()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_vhost_colon_username_splits_at_last_colon(make_mqtt_broker, version):
    """As RabbitMQ splits it: "a:b:alice" is alice in vhost "a:b"; a
    colon belongs to the vhost name, never to the user name."""
    b = make_mqtt_broker(config_text=USERS_CONF + """
[vhost a:b]

[permission alice a:b]
configure = .*
write = .*
read = .*

[permission alice /]
configure = .*
write = .*
read = .*
""")
    c, ack = _connect_user(b, version, "a:b:alice", "wonderland")
    assert ack.rc == 0, hex(ack.rc)
    t = utopic()
    c.subscribe([(t, 1)])
    other, ack2 = _connect_user(b, version, "a:b:alice", "wonderland")
    other.publish(t, b"in a:b", qos=1, pid=1)
    assert c.recv_publish().payload == b"in a:b"
    # the same topic in vhost "/" is another world
    root, ack3 = _connect_user(b, version, "alice", "wonderland")
    assert ack3.rc == 0
    root.publish(t, b"in /", qos=1, pid=1)
    assert c.publishes(0.3) == []
    # "a:b" is not a user of vhost "a"
    c4, ack4 = _connect_user(b, version, "a:b:alice", "wrong")
    assert ack4.rc == (4 if version == V311 else 0x86)
    for x in (c, other, root, c4):
        x.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_anonymous_refused_by_default(mb, version):
    c = Raw(mb, version)
    ack = c.connect(username=None, password=None)
    ok = (4, 5) if version == V311 else (0x86, 0x87)
    assert ack.rc in ok, hex(ack.rc)
    c.closed()
    assert_mqtt_serves(mb, version)


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_anonymous_allowed_when_configured(make_mqtt_broker, version):
    b = make_mqtt_broker("--set", "mqtt.allow_anonymous=yes")
    c = Raw(b, version)
    ack = c.connect(username=None, password=None)
    assert ack.rc == 0, hex(ack.rc)
    t = utopic()
    assert c.subscribe(t).codes == [1]
    c.publish(t, b"anon")
    assert c.recv_publish().payload == b"anon"
    c.close()


@sluice_only
def test_password_without_username_refused(mb):
    """[MQTT-3.1.2-22] v3.1.1: password flag without username flag."""
    c = Raw(mb, V311)
    c.send(c.connect_packet(username=None, password="guest"))
    seen = c.closed()
    assert all(p.type == CONNACK and p.body[1] != 0 for p in seen), seen


# ---- Sluice configuration keys -------------------------------------------------

@sluice_only
def test_connect_timeout(make_mqtt_broker):
    """A connection that never sends CONNECT is closed after
    mqtt.connect_timeout milliseconds."""
    b = make_mqtt_broker("--set", "mqtt.connect_timeout=500")
    c = Raw(b, V311)
    t0 = time.time()
    assert c.closed(timeout=3) == []
    assert 0.3 <= time.time() - t0 <= 2.0
    assert_mqtt_serves(b)


@sluice_only
def test_max_keepalive_v5_server_keep_alive(make_mqtt_broker):
    b = make_mqtt_broker("--set", "mqtt.max_keepalive=5")
    c = Raw(b, V5)
    ack = c.connect(keepalive=60)
    assert ack.rc == 0 and ack.props.get(P.SERVER_KEEP_ALIVE) == 5, ack.props
    c.close()
    c = Raw(b, V5)
    ack = c.connect(keepalive=3)
    assert ack.props.get(P.SERVER_KEEP_ALIVE, 3) == 3, ack.props
    c.close()


@sluice_only
def test_receive_and_alias_maximum_configurable(make_mqtt_broker):
    b = make_mqtt_broker("--set", "mqtt.receive_maximum=3",
                         "--set", "mqtt.topic_alias_maximum=0")
    c = Raw(b, V5)
    ack = c.connect()
    assert ack.props.get(P.RECEIVE_MAXIMUM) == 3, ack.props
    assert ack.props.get(P.TOPIC_ALIAS_MAXIMUM, 0) == 0, ack.props
    c.publish(utopic(), b"x", props=[(P.TOPIC_ALIAS, 1)])
    c.expect_close(0x94)


def assert_refused_as_too_large(c, version):
    """The publisher of a message over broker.max_message_size is told:
    v5 PUBACK >= 0x80 or DISCONNECT 0x95; v3 has no negative ack, so the
    connection closes."""
    try:
        p = c.recv()
    except Exception:
        p = None                                  # closed
    if p is not None:
        assert version == V5 and (
            (p.type == PUBACK and p.rc >= 0x80) or
            (p.type == DISCONNECT and p.rc == 0x95)), p


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_publish_over_max_message_size(make_mqtt_broker, version):
    """broker.max_message_size applies to MQTT too: the message is not
    delivered, and the publisher is told (v5 PUBACK >= 0x80 or DISCONNECT
    0x95; v3 has no negative ack, so the connection closes)."""
    b = make_mqtt_broker("--set", "broker.max_message_size=1000")
    t = utopic()
    s = Raw(b, version)
    s.connect()
    s.subscribe([(t, 1)])
    c = Raw(b, version)
    c.connect()
    c.publish(t, b"y" * 2000, qos=1, pid=1)
    assert_refused_as_too_large(c, version)
    assert s.publishes(0.4) == []
    c.close()
    assert_mqtt_serves(b, version)


@sluice_only
def test_publish_properties_count_toward_max_message_size(make_mqtt_broker):
    """A v5 message's properties are held with it, so they count toward
    broker.max_message_size: a 10-byte payload with 2,000 bytes of user
    properties is refused like a 2,010-byte payload, and one with 500
    bytes of them still goes through."""
    b = make_mqtt_broker("--set", "broker.max_message_size=1000")
    t = utopic()
    s = Raw(b, V5)
    s.connect()
    s.subscribe([(t, 1)])
    c = Raw(b, V5)
    c.connect()
    c.publish(t, b"x" * 10, qos=1, pid=1, props=[(P.USER_PROPERTY, ("k", "v" * 500))])
    p = c.recv()
    assert p.type == PUBACK and p.rc == 0, p
    assert len(s.publishes(2.0)) == 1
    c.publish(t, b"y" * 10, qos=1, pid=2, props=[(P.USER_PROPERTY, ("k", "v" * 2000))])
    assert_refused_as_too_large(c, V5)
    assert s.publishes(0.4) == []
    assert "properties" in b.log() and "larger than max size 1000" in b.log()
    c.close()
    assert_mqtt_serves(b, V5)


@sluice_only
def test_mqtt_disabled(make_mqtt_broker):
    if EXTERNAL:
        pytest.skip("Sluice-specific")
    from conftest import Broker
    b = Broker(("--set", "mqtt.enabled=no"))
    try:
        assert b.mqtt_port is None
        assert "listening mqtt" not in b.log()
    finally:
        b.stop()
