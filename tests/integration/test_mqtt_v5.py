"""MQTT 5 features: subscription identifiers, no-local, shared
subscriptions, topic aliases both ways, maximum packet size, properties
passed through, message expiry, reason codes and request/response."""
from mqtt_helpers import *  # noqa: F401,F403


def connected(b, **kw):
    c = Raw(b, V5)
    ack = c.connect(**kw)
    assert ack.rc == 0, ack
    return c


def test_subscription_identifier_in_publish(mb):
    t = utopic()
    c = connected(mb)
    c.subscribe([(t + "/+", 1)], pid=1, props={P.SUBSCRIPTION_ID: 5})
    c.subscribe([(t + "/other", 1)], pid=2)
    c.publish(t + "/a", b"with id")
    p = c.recv_publish()
    assert p.props.get(P.SUBSCRIPTION_ID) == [5]
    c.publish(t + "/x/y", b"no match")
    c.close()
    c2 = connected(mb)
    c2.subscribe([(t + "/b", 0)])
    c2.publish(t + "/b", b"no id")
    assert P.SUBSCRIPTION_ID not in c2.recv_publish().props
    c2.close()


def test_subscription_identifier_large_and_overlap(mb):
    """Overlapping subscriptions with ids: every matching id is reported
    (one PUBLISH with all ids, or one PUBLISH per subscription)."""
    t = utopic()
    c = connected(mb)
    c.subscribe([(t + "/#", 0)], pid=1, props={P.SUBSCRIPTION_ID: 268435455})
    c.subscribe([(t + "/a", 0)], pid=2, props={P.SUBSCRIPTION_ID: 130})
    c.publish(t + "/a", b"both")
    got = c.publishes(0.5)
    ids = sorted(i for p in got for i in p.props.get(P.SUBSCRIPTION_ID, []))
    assert ids == [130, 268435455], got
    c.close()


def test_subscription_identifier_zero_is_protocol_error(mb):
    c = connected(mb)
    c.subscribe([(utopic(), 0)], props={P.SUBSCRIPTION_ID: 0}, wait=False)
    c.expect_close((0x81, 0x82))


def test_paho_subscription_identifier(mb):
    t = utopic()
    c = Paho(mb, V5)
    c.connect()
    c.subscribe(t, 1, props=props5(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=42))
    c.publish(t, b"x", qos=1)
    m = c.wait(1)[0]
    assert m.properties.SubscriptionIdentifier == [42]
    c.disconnect()


def test_no_local(mb):
    t = utopic()
    me = connected(mb)
    me.subscribe([(t, 0x04 | 1)])            # no local, QoS 1
    other = connected(mb)
    other.subscribe([(t, 1)])
    me.publish(t, b"mine", qos=1, pid=1)
    assert me.recv_type(PUBACK).pid == 1
    assert me.publishes(0.4) == []
    assert other.recv_publish().payload == b"mine"
    third = connected(mb)
    third.publish(t, b"theirs")
    assert me.recv_publish().payload == b"theirs"
    for c in (me, other, third):
        c.close()


def test_shared_subscription_splits_round_robin(mb):
    t = utopic()
    group = uid("g").replace("-", "")
    a = connected(mb)
    b = connected(mb)
    for c in (a, b):
        assert c.subscribe([("$share/%s/%s" % (group, t), 1)]).codes == [1]
    everyone = connected(mb)
    everyone.subscribe([(t, 1)])
    pub = connected(mb)
    for i in range(10):
        pub.publish(t, str(i), qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    ga = [p.payload for p in a.publishes(0.6)]
    gb = [p.payload for p in b.publishes(0.2)]
    assert sorted(ga + gb, key=int) == [str(i).encode() for i in range(10)]
    assert abs(len(ga) - len(gb)) <= 1, (ga, gb)
    assert [p.payload for p in everyone.publishes(0.3)] == \
        [str(i).encode() for i in range(10)]
    for c in (a, b, everyone, pub):
        c.close()


def test_shared_subscription_wildcard_and_unsubscribe(mb):
    t = utopic()
    group = uid("g").replace("-", "")
    share = "$share/%s/%s/+" % (group, t)
    a = connected(mb)
    b = connected(mb)
    a.subscribe([(share, 0)])
    b.subscribe([(share, 0)])
    assert b.unsubscribe(share).codes == [0]
    pub = connected(mb)
    for i in range(4):
        pub.publish(t + "/k", str(i))
    assert len(a.publishes(0.5)) == 4
    assert b.publishes(0.1) == []
    for c in (a, b, pub):
        c.close()


LAX = mosquitto_differs("takes it as an ordinary subscription [MQTT-4.8.2-1]")


@pytest.mark.parametrize("bad", [pytest.param("$share/g", marks=LAX),
                                 pytest.param("$share//t", marks=LAX),
                                 "$share/g+/t", "$share/g#/t"])
def test_shared_subscription_bad_names(mb, bad):
    """Malformed share names fail (SUBACK >= 0x80 or a protocol close)."""
    c = connected(mb)
    c.subscribe([(bad, 0)], wait=False)
    try:
        p = c.recv()
        if p.type == SUBACK:
            assert p.codes[0] >= 0x80, p
        else:
            assert p.type == DISCONNECT and p.rc >= 0x80, p
    except Exception as e:                   # closed without a word
        assert "closed" in str(e), e
    c.close()
    assert_mqtt_serves(mb, V5)


@mosquitto_differs("accepts no-local on a shared subscription")
def test_shared_subscription_no_local_is_protocol_error(mb):
    """[MQTT-3.8.3-4] no-local on a shared subscription: Protocol Error."""
    c = connected(mb)
    c.subscribe([("$share/g/" + utopic(), 0x04)], wait=False)
    c.expect_close(0x82, strict=False)


def test_topic_alias_from_client(mb):
    t = utopic()
    s = connected(mb)
    s.subscribe([(t, 0)])
    c = connected(mb)
    c.publish(t, b"sets alias", props=[(P.TOPIC_ALIAS, 1)])
    c.publish("", b"uses alias", props=[(P.TOPIC_ALIAS, 1)])
    c.publish(t + "/other", b"remapped", props=[(P.TOPIC_ALIAS, 1)])
    got = s.publishes(0.5)
    assert [(p.topic, p.payload) for p in got] == [(t, b"sets alias"), (t, b"uses alias")]
    c.close()
    s.close()


def test_topic_alias_over_maximum(mb):
    """An alias above the server's Topic Alias Maximum: DISCONNECT 0x94."""
    c = Raw(mb, V5)
    ack = c.connect()
    top = ack.props.get(P.TOPIC_ALIAS_MAXIMUM, 0)
    c.publish(utopic(), b"x", props=[(P.TOPIC_ALIAS, top + 1)])
    c.expect_close(0x94)
    assert_mqtt_serves(mb, V5)


def test_unknown_topic_alias(mb):
    """An empty topic with an alias never set: Protocol Error 0x82."""
    c = connected(mb)
    c.publish("", b"x", props=[(P.TOPIC_ALIAS, 3)])
    c.expect_close((0x82, 0x94))


@mosquitto_differs("sends 0x81 Malformed Packet")
def test_topic_alias_zero(mb):
    """[MQTT-3.3.2-8] alias 0 is not permitted: 0x94 Topic Alias invalid or
    0x82 Protocol Error (the spec names no code for 0 itself)."""
    c = connected(mb)
    c.publish(utopic(), b"x", props=[(P.TOPIC_ALIAS, 0)])
    c.expect_close((0x94, 0x82))


def test_server_topic_aliases_only_when_allowed(mb):
    """The server never sends an alias to a client that allowed none; to a
    client that allows 2, every alias is within 1..2 and resolves to the
    right topic (Raw tracks the mapping)."""
    t = utopic()
    no = connected(mb)
    no.subscribe([(t + "/#", 0)])
    yes = connected(mb, props={P.TOPIC_ALIAS_MAXIMUM: 2})
    yes.subscribe([(t + "/#", 0)])
    pub = connected(mb)
    topics = [t + "/%d" % (i % 3) for i in range(9)]
    for i, x in enumerate(topics):
        pub.publish(x, str(i))
    got_no = no.publishes(0.5)
    assert [p.topic for p in got_no] == topics
    assert all(P.TOPIC_ALIAS not in p.props for p in got_no)
    got_yes = yes.publishes(0.3)
    assert [(p.topic, p.payload) for p in got_yes] == \
        [(x, str(i).encode()) for i, x in enumerate(topics)]
    assert all(1 <= p.props.get(P.TOPIC_ALIAS, 1) <= 2 for p in got_yes)
    for c in (no, yes, pub):
        c.close()


def test_server_topic_aliases_hold_a_bounded_amount(mb):
    """A client allowing 65535 aliases cannot make the broker keep every
    distinct topic it is sent: aliases stop after about 64 KB of topics
    (later topics go by name), and those given keep working."""
    t = utopic()
    sub = connected(mb, props={P.TOPIC_ALIAS_MAXIMUM: 65535})
    sub.subscribe([(t + "/#", 0)])
    pub = connected(mb)
    topics = ["%s/%04d/%s" % (t, i, "x" * 1000) for i in range(200)]
    for x in topics + topics[:1]:
        pub.publish(x, b"")
        pub.send(packet(PINGREQ, 0, b""))
        pub.recv_type(PINGRESP)
    got = [sub.recv_publish() for _ in range(201)]
    assert [p.topic for p in got] == topics + topics[:1]
    named = [p.body[:2] != b"\x00\x00" for p in got]
    aliased = [P.TOPIC_ALIAS in p.props and n for p, n in zip(got, named)]
    held = sum(len(x) for x, a in zip(topics, aliased) if a)
    assert 0 < aliased.count(True) < 200 and held <= 64 * 1024
    # aliases go to the first topics only, and the first is used again
    assert aliased == [True] * aliased.count(True) + [False] * (201 - aliased.count(True))
    assert not named[200] and got[200].props[P.TOPIC_ALIAS] == got[0].props[P.TOPIC_ALIAS]
    for c in (sub, pub):
        c.close()


def test_maximum_packet_size_respected(mb):
    """A client with Maximum Packet Size 100 is not sent a 200-byte
    message (it is discarded for that client) but gets small ones."""
    t = utopic()
    small = connected(mb, props={P.MAXIMUM_PACKET_SIZE: 100})
    small.subscribe([(t, 1)])
    big = connected(mb)
    big.subscribe([(t, 1)])
    pub = connected(mb)
    pub.publish(t, b"B" * 200, qos=1, pid=1)
    pub.publish(t, b"tiny", qos=1, pid=2)
    assert [p.payload for p in small.publishes(0.5)] == [b"tiny"]
    assert [len(p.payload) for p in big.publishes(0.2)] == [200, 4]
    for c in (small, big, pub):
        c.close()


def test_properties_pass_through(mb):
    t = utopic()
    s = connected(mb)
    s.subscribe([(t, 1)])
    c = connected(mb)
    props = [(P.PAYLOAD_FORMAT, 1), (P.CONTENT_TYPE, "text/plain; charset=utf-8"),
             (P.RESPONSE_TOPIC, t + "/reply"), (P.CORRELATION_DATA, b"\x00\x01corr"),
             (P.USER_PROPERTY, ("b", "2")), (P.USER_PROPERTY, ("a", "1")),
             (P.USER_PROPERTY, ("a", "dup"))]
    c.publish(t, "h\u00e9llo", qos=1, pid=1, props=props)
    p = s.recv_publish()
    assert p.payload == "h\u00e9llo".encode()
    assert p.props[P.PAYLOAD_FORMAT] == 1
    assert p.props[P.CONTENT_TYPE] == "text/plain; charset=utf-8"
    assert p.props[P.RESPONSE_TOPIC] == t + "/reply"
    assert p.props[P.CORRELATION_DATA] == b"\x00\x01corr"
    # user properties keep their order and duplicates [MQTT-3.3.2-18]
    assert p.props[P.USER_PROPERTY] == [("b", "2"), ("a", "1"), ("a", "dup")]
    c.close()
    s.close()


def test_payload_format_utf8_with_bad_payload(mb):
    """Payload Format 1 with a non-UTF-8 payload: the server may check it
    (PUBACK 0x99 Payload format invalid) or pass it on unchanged."""
    t = utopic()
    s = connected(mb)
    s.subscribe([(t, 1)])
    c = connected(mb)
    c.publish(t, b"\xff\xfe", qos=1, pid=1, props=[(P.PAYLOAD_FORMAT, 1)])
    try:
        a = c.recv()
    except Exception:
        a = None
    if a is not None and a.type == PUBACK:
        if a.rc == 0x99:
            assert s.publishes(0.3) == []
        else:
            assert a.rc in (0, 0x10)
            assert [p.payload for p in s.publishes(0.3)] == [b"\xff\xfe"]
    c.close()
    s.close()


def test_message_expiry(mb):
    """A message whose expiry passes while queued is not delivered; one
    still alive arrives with the remaining interval [MQTT-3.3.2-6]."""
    t = utopic()
    cid = uid()
    s = connected(mb, client_id=cid, clean=False, props={P.SESSION_EXPIRY: 30})
    s.subscribe([(t, 1)])
    s.disconnect()
    s.close()
    wait_gone(mb, cid)      # queued, not in flight: in-flight messages do not expire
    pub = connected(mb)
    pub.publish(t, b"short", qos=1, pid=1, props=[(P.MESSAGE_EXPIRY, 1)])
    pub.publish(t, b"long", qos=1, pid=2, props=[(P.MESSAGE_EXPIRY, 60)])
    pub.recv_type(PUBACK)
    pub.recv_type(PUBACK)
    time.sleep(2.1)
    s = Raw(mb, V5)
    assert s.connect(client_id=cid, clean=False, props={P.SESSION_EXPIRY: 0}).session_present
    got = s.publishes(0.6)
    assert [p.payload for p in got] == [b"long"]
    assert 55 <= got[0].props[P.MESSAGE_EXPIRY] <= 59
    s.close()
    pub.close()


def test_message_expiry_live_delivery(mb):
    t = utopic()
    s = connected(mb)
    s.subscribe([(t, 0)])
    pub = connected(mb)
    pub.publish(t, b"e", props=[(P.MESSAGE_EXPIRY, 100)])
    p = s.recv_publish()
    assert 99 <= p.props[P.MESSAGE_EXPIRY] <= 100
    s.close()
    pub.close()


def test_request_response(mb):
    """Requester and responder (paho) with response topic and correlation
    data round-tripping through the broker."""
    base = utopic()
    responder = Paho(mb, V5)
    responder.connect()
    responder.subscribe(base + "/service", 1)

    def answer(c, u, msg):
        p = msg.properties
        reply = props5(CorrelationData=p.CorrelationData)
        c.publish(p.ResponseTopic, b"re:" + msg.payload, 1, properties=reply)
    responder.c.on_message = answer
    requester = Paho(mb, V5)
    requester.connect()
    requester.subscribe(base + "/reply/me", 1)
    for i in range(3):
        requester.publish(base + "/service", b"q%d" % i, qos=1,
                          props=props5(ResponseTopic=base + "/reply/me",
                                       CorrelationData=b"id-%d" % i))
    msgs = requester.wait(3)
    assert sorted((m.payload, m.properties.CorrelationData) for m in msgs) == \
        [(b"re:q%d" % i, b"id-%d" % i) for i in range(3)]
    requester.disconnect()
    responder.disconnect()


def test_response_information_requested(mb):
    """Request Response Information 1: the CONNACK may carry Response
    Information; if it does, it is a usable topic prefix."""
    c = Raw(mb, V5)
    ack = c.connect(props={P.REQUEST_RESPONSE_INFO: 1})
    assert ack.rc == 0
    info = ack.props.get(P.RESPONSE_INFO)
    if info is not None:
        t = info.rstrip("/") + "/x"
        c.subscribe([(t, 0)])
        c.publish(t, b"r")
        assert c.recv_publish().payload == b"r"
    c.close()


@mosquitto_differs("disconnects on an invalid filter")
def test_reason_string_not_sent_when_problem_info_off(mb):
    """Request Problem Information 0: no Reason String on PUBACK/SUBACK
    [MQTT-3.1.2-29]; the codes themselves still come."""
    c = connected(mb, props={P.REQUEST_PROBLEM_INFO: 0})
    t = utopic()
    ack = c.subscribe([(t, 1), (t + "/#/x", 1)])
    assert P.REASON_STRING not in ack.props
    assert ack.codes[0] == 1 and ack.codes[1] >= 0x80
    c.close()


def test_puback_reason_codes(mb):
    t = utopic()
    c = connected(mb)
    c.publish(t + "/nobody", b"x", qos=1, pid=1)
    a = c.recv_type(PUBACK)
    assert a.rc in (0x00, 0x10)
    c.subscribe([(t + "/somebody", 0)])
    c.publish(t + "/somebody", b"y", qos=1, pid=2)
    pk = [c.recv(), c.recv()]
    acks = [p for p in pk if p.type == PUBACK]
    assert acks and acks[0].rc == 0x00, pk
    c.close()


def test_maximum_qos_or_qos2_accepted(mb):
    c = Raw(mb, V5)
    ack = c.connect()
    if ack.props.get(P.MAXIMUM_QOS, 2) == 2:
        c.publish(utopic(), b"x", qos=2, pid=1)
        assert c.recv_type(PUBREC).pid == 1
    c.close()


def test_auth_packet_without_method_is_protocol_error(mb):
    """AUTH when no authentication method was used: Protocol Error."""
    c = connected(mb)
    c.send(packet(AUTH, 0, b"\x18\x00"))
    c.expect_close((0x82, 0x81), strict=False)
