"""MQTT <-> AMQP 0-9-1 on one core (pika and paho/raw MQTT clients).

MQTT topics map onto amq.topic routing keys as RabbitMQ's MQTT plugin
does: "/" and "." swap, "+" becomes "*", "#" stays. Properties map both
ways: MQTT 5 user properties <-> headers, content type, response topic <->
reply_to, correlation data <-> correlation_id, message expiry (s) <->
expiration (ms), QoS 1 -> delivery_mode 2. Sluice only (needs AMQP).
"""
import pika

from mqtt_helpers import *  # noqa: F401,F403

pytestmark = sluice_only


def amqp(b):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=b.host, port=b.port, heartbeat=0, connection_attempts=1, socket_timeout=5))


def bound_queue(ch, key, exchange="amq.topic"):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, exchange, key)
    return q


def get(ch, q, timeout=3.0):
    end = time.time() + timeout
    while True:
        m, p, body = ch.basic_get(q, auto_ack=True)
        if m is not None or time.time() > end:
            return m, p, body
        time.sleep(0.02)


def rk(topic):
    return topic.replace("/", "\x00").replace(".", "/").replace("\x00", ".")


@pytest.mark.parametrize("version", VERSIONS)
def test_mqtt_publish_reaches_amqp_bindings(mb, version):
    conn = amqp(mb)
    ch = conn.channel()
    t = "a%s/b" % uid("").replace("-", "")
    exact = bound_queue(ch, rk(t))
    star = bound_queue(ch, rk(t).split(".")[0] + ".*")
    hash_ = bound_queue(ch, "#")
    other = bound_queue(ch, rk(t) + ".c")
    c = Raw(mb, version)
    c.connect()
    c.publish(t, b"from mqtt", qos=1, pid=1)
    assert c.recv_type(PUBACK).pid == 1
    for q in (exact, star, hash_):
        m, p, body = get(ch, q)
        assert body == b"from mqtt", q
        assert m.exchange == "amq.topic" and m.routing_key == rk(t)
    assert ch.basic_get(other, auto_ack=True)[0] is None
    c.close()
    conn.close()


def test_topic_dots_and_slashes_swap(mb):
    conn = amqp(mb)
    ch = conn.channel()
    q = bound_queue(ch, "x/y.z")
    c = Raw(mb, V311)
    c.connect()
    c.publish("x.y/z", b"swapped", qos=1, pid=1)
    c.recv_type(PUBACK)
    m, p, body = get(ch, q)
    assert body == b"swapped" and m.routing_key == "x/y.z"
    sub = Raw(mb, V311)
    sub.connect()
    sub.subscribe([("x.y/+", 0)])
    ch.basic_publish("amq.topic", "x/y.w", b"back")
    p = sub.recv_publish()
    assert (p.topic, p.payload) == ("x.y/w", b"back")
    c.close()
    sub.close()
    conn.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_amqp_publish_reaches_mqtt_filters(mb, version):
    base = "k" + uid("").replace("-", "")
    subs = {}
    for f in (base + "/b", base + "/+", "#", "+/b", base + "/#"):
        s = Raw(mb, version)
        s.connect()
        s.subscribe([(f, 1)])
        subs[f] = s
    none = Raw(mb, version)
    none.connect()
    none.subscribe([(base + "/c", 1), (base, 1)])
    conn = amqp(mb)
    ch = conn.channel()
    ch.basic_publish("amq.topic", base + ".b", b"from amqp")
    for f, s in subs.items():
        p = s.recv_publish()
        assert (p.topic, p.payload) == (base + "/b", b"from amqp"), f
    assert none.publishes(0.3) == []
    conn.close()


@pytest.mark.parametrize("qos,mode", [(0, (None, 1)), (1, (2,)), (2, (2,))])
def test_qos_to_delivery_mode(mb, qos, mode):
    conn = amqp(mb)
    ch = conn.channel()
    q = bound_queue(ch, "dm.#")
    c = Paho(mb, V311)
    c.connect()
    c.publish("dm/x", b"m", qos=qos)
    m, p, body = get(ch, q)
    assert body == b"m" and p.delivery_mode in mode, p.delivery_mode
    c.disconnect()
    conn.close()


def test_mqtt5_properties_to_amqp(mb):
    conn = amqp(mb)
    ch = conn.channel()
    q = bound_queue(ch, "props.in")
    c = Raw(mb, V5)
    c.connect()
    c.publish("props/in", b"{\"a\":1}", qos=1, pid=1, props=[
        (P.CONTENT_TYPE, "application/json"),
        (P.RESPONSE_TOPIC, "reply/here"),
        (P.CORRELATION_DATA, b"corr-42"),
        (P.MESSAGE_EXPIRY, 60),
        (P.PAYLOAD_FORMAT, 1),
        (P.USER_PROPERTY, ("k1", "v1")),
        (P.USER_PROPERTY, ("k2", "v2"))])
    c.recv_type(PUBACK)
    m, p, body = get(ch, q)
    assert body == b"{\"a\":1}"
    assert p.content_type == "application/json"
    assert p.reply_to in ("reply/here", "reply.here", "/topic/reply.here"), p.reply_to
    assert p.correlation_id == "corr-42"
    assert p.expiration is not None and 55000 <= int(p.expiration) <= 60000, p.expiration
    assert p.delivery_mode == 2
    h = p.headers or {}
    assert h.get("k1") in ("v1", b"v1") and h.get("k2") in ("v2", b"v2"), h
    c.close()
    conn.close()


def test_amqp_properties_to_mqtt5(mb):
    s = Raw(mb, V5)
    s.connect()
    s.subscribe([("props/out", 1)])
    conn = amqp(mb)
    ch = conn.channel()
    ch.basic_publish("amq.topic", "props.out", b"payload", pika.BasicProperties(
        content_type="text/plain", reply_to="reply.topic", correlation_id="cid-7",
        expiration="60000", delivery_mode=2, headers={"hk": "hv", "n": 5}))
    p = s.recv_publish()
    assert p.payload == b"payload" and p.qos == 1
    assert p.props.get(P.CONTENT_TYPE) == "text/plain"
    assert p.props.get(P.RESPONSE_TOPIC) in ("reply/topic", "reply.topic"), p.props
    assert p.props.get(P.CORRELATION_DATA) == b"cid-7"
    assert 55 <= p.props.get(P.MESSAGE_EXPIRY, 0) <= 60, p.props
    up = dict(p.props.get(P.USER_PROPERTY, []))
    assert up.get("hk") == "hv" and up.get("n") == "5", up
    s.close()
    conn.close()


def test_amqp_persistent_to_mqtt_qos(mb):
    """An AMQP message reaches a QoS 1 subscriber at QoS 1 and a QoS 0
    subscriber at QoS 0 (delivered QoS = min(publish, subscription))."""
    s1 = Raw(mb, V311)
    s1.connect()
    s1.subscribe([("q/x", 1)])
    s0 = Raw(mb, V311)
    s0.connect()
    s0.subscribe([("q/x", 0)])
    conn = amqp(mb)
    ch = conn.channel()
    ch.basic_publish("amq.topic", "q.x", b"p", pika.BasicProperties(delivery_mode=2))
    assert s1.recv_publish().qos == 1
    assert s0.recv_publish().qos == 0
    conn.close()


def test_mqtt_to_amqp_consumer_binary(mb):
    conn = amqp(mb)
    ch = conn.channel()
    q = bound_queue(ch, "bin.#")
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    c = Paho(mb, V5)
    c.connect()
    blob = bytes(range(256)) * 100
    c.publish("bin/x", blob, qos=1)
    end = time.time() + 3
    while not got and time.time() < end:
        conn.process_data_events(time_limit=0.05)
    assert got == [blob]
    c.disconnect()
    conn.close()


def test_mqtt_session_queue_visible_to_amqp(mb):
    """A persistent session owns a durable queue bound with its converted
    filters: AMQP publishes collect there while the client is away."""
    cid = uid()
    c = Raw(mb, V311)
    c.connect(client_id=cid, clean=False)
    c.subscribe([("dur/+", 1)])
    c.disconnect()
    c.close()
    wait_gone(mb, cid)
    conn = amqp(mb)
    ch = conn.channel()
    for i in range(3):
        ch.basic_publish("amq.topic", "dur.k", b"%d" % i,
                         pika.BasicProperties(delivery_mode=2))
    c = Raw(mb, V311)
    assert c.connect(client_id=cid, clean=False).session_present
    assert [c.recv_publish().payload for _ in range(3)] == [b"0", b"1", b"2"]
    c.close()
    conn.close()


def test_amqp_unroutable_mqtt_filter_plus_hash(mb):
    """MQTT "a/#" matches "a" itself; the AMQP binding "a.#" does too."""
    s = Raw(mb, V311)
    s.connect()
    s.subscribe([("top/#", 0)])
    conn = amqp(mb)
    ch = conn.channel()
    ch.basic_publish("amq.topic", "top", b"parent")
    ch.basic_publish("amq.topic", "top.a.b", b"child")
    assert [p.payload for p in s.publishes(0.5)] == [b"parent", b"child"]
    conn.close()


def test_mqtt_retained_not_replayed_to_amqp(mb):
    """Retained messages belong to MQTT subscribers; an AMQP queue bound
    later does not get them, but a later MQTT subscriber does."""
    pub = Raw(mb, V311)
    pub.connect()
    pub.publish("ret/x", b"kept", qos=1, pid=1, retain=True)
    pub.recv_type(PUBACK)
    conn = amqp(mb)
    ch = conn.channel()
    q = bound_queue(ch, "ret.x")
    assert get(ch, q, 0.3)[0] is None
    s = Raw(mb, V311)
    s.connect()
    s.subscribe([("ret/x", 1)])
    assert s.recv_publish().payload == b"kept"
    conn.close()


def test_mqtt_publish_from_amqp_to_dollar_topic_not_hash(mb):
    """An AMQP publish with key "$sys.x" is not seen by MQTT "#"."""
    s = Raw(mb, V311)
    s.connect()
    s.subscribe([("#", 0)])
    conn = amqp(mb)
    ch = conn.channel()
    ch.basic_publish("amq.topic", "$sys.x", b"hidden")
    ch.basic_publish("amq.topic", "vis.x", b"visible")
    assert [p.payload for p in s.publishes(0.5)] == [b"visible"]
    conn.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_amqp_routing_key_not_utf8_is_not_sent_to_mqtt(mb, version):
    """AMQP routing keys are bytes; an MQTT topic is UTF-8 without U+0000,
    and a client MUST close the connection on one that is not
    [MQTT-1.5.3-1] (paho's loop dies on it). A message whose routing key
    is not a topic is skipped for MQTT subscribers, as an over-long one
    is: otherwise any AMQP publisher to amq.topic could disconnect every
    "#" subscriber, and a QoS 1 session would get it again at each
    reconnect."""
    import amqpraw as A
    base = "u" + uid("").replace("-", "")
    s = Raw(mb, version)
    s.connect()
    s.subscribe([(base + "/#", 1)])
    c = A.connect(mb)
    c.open_channel(1)
    for key in (b"\xff", b"a\x00b", b"\xed\xa0\x80", b"ok"):
        c.send(A.method_frame(1, A.BASIC, 40, A.publish_args("amq.topic", base.encode() + b"." + key))
               + A.header_frame(1, 1, flags=0x1000, props=b"\x02") + A.body_frame(1, b"x"))
    p = s.recv_publish()
    assert p.topic == base + "/ok"
    assert s.publishes(0.3) == []
    assert s.is_open()
    c.close()
