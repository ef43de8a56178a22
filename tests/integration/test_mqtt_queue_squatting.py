"""MQTT session and shared-group queue names are reserved for MQTT.

"mqtt-subscription-<client id>qos1" and "mqtt-shared-<group>-<filter>" can
be declared, bound, consumed, read, purged or deleted, and published to
through the default exchange, only by the MQTT adapter itself or an
administrator, the way RabbitMQ reserves "amq." names: a user with
configure permission on every name (".*") may otherwise declare a
victim's session queue before the victim connects, or read it while the
victim is away. AMQP answers 403 ACCESS_REFUSED, the HTTP API 403 with a
JSON reason; the victim's session keeps every message.
"""
import pika
import pytest

from amqpraw import pika_params
from conftest import wait_for
from authz_helpers import amqp, refused, user
from http_helpers import api, q
from mqtt_helpers import V311, Paho, uid

RESERVED = "reserved prefix"


def victim_away(b):
    """alice's persistent session with a subscription, now offline, and
    the queue that holds its messages."""
    user(b, "alice")
    cid = "victim-" + uid()
    c = Paho(b, V311, client_id=cid, clean=False, username="alice", password="pw")
    c.connect()
    c.subscribe("squat/#", qos=1)
    c.disconnect()
    # offline once the broker has closed the connection: a message that
    # comes before stays in the session's in-flight window, not the queue
    assert wait_for(lambda: api(b, "GET", "/api/connections?columns=name")[1] == [])
    return cid, "mqtt-subscription-%sqos1" % cid


def publish_mqtt(b, topic, payloads):
    p = Paho(b, V311)
    p.connect()
    for m in payloads:
        p.publish(topic, m, qos=1)
    p.disconnect()


def resume(b, cid, n):
    c = Paho(b, V311, client_id=cid, clean=False, username="alice", password="pw")
    c.connect()
    c.wait(n)
    got = c.payloads()
    c.disconnect()
    return got


def test_declare_before_the_victim_is_refused(broker):
    user(broker, "mallory")
    conn = amqp(broker, "mallory")
    for name in ("mqtt-subscription-bobqos1", "mqtt-shared-g-a.b"):
        ch = conn.channel()
        text = refused(lambda: ch.queue_declare(name, durable=True))
        assert RESERVED in text and name in text, text
    # a name that only looks alike is anyone's
    conn.channel().queue_declare("mqtt-subscriptions-of-mine")
    conn.close()
    # the MQTT client then gets its own session and every message
    user(broker, "bob")
    c = Paho(broker, V311, client_id="bob", clean=False, username="bob", password="pw")
    c.connect()
    c.subscribe("squat/#", qos=1)
    publish_mqtt(broker, "squat/x", [b"1", b"2"])
    c.wait(2)
    assert c.payloads() == [b"1", b"2"]
    c.disconnect()


def test_amqp_cannot_reach_an_offline_session(broker):
    cid, qname = victim_away(broker)
    publish_mqtt(broker, "squat/a", [b"m1", b"m2"])
    user(broker, "mallory")
    conn = amqp(broker, "mallory")
    # passive declare only says the queue exists, as for "amq." names
    ok = conn.channel().queue_declare(qname, passive=True)
    assert ok.method.message_count == 2
    attempts = {
        "basic.get": lambda ch: ch.basic_get(qname, auto_ack=True),
        "basic.consume": lambda ch: ch.basic_consume(qname, lambda *a: None),
        "queue.bind": lambda ch: ch.queue_bind(qname, "amq.topic", "squat.#"),
        "queue.unbind": lambda ch: ch.queue_unbind(qname, "amq.topic", "squat.#"),
        "queue.purge": lambda ch: ch.queue_purge(qname),
        "queue.delete": lambda ch: ch.queue_delete(qname),
        "queue.declare": lambda ch: ch.queue_declare(qname, durable=True),
    }
    for what, fn in attempts.items():
        ch = conn.channel()
        text = refused(lambda: fn(ch))
        assert RESERVED in text, (what, text)
    # publishing into it through the default exchange is refused too
    ch = conn.channel()
    ch.confirm_delivery()
    text = refused(lambda: ch.basic_publish("", qname, b"forged"))
    assert RESERVED in text, text
    conn.close()
    assert resume(broker, cid, 2) == [b"m1", b"m2"]


def test_http_cannot_reach_an_offline_session(broker):
    cid, qname = victim_away(broker)
    publish_mqtt(broker, "squat/a", [b"h1"])
    user(broker, "mallory", tags="management")
    auth = ("mallory", "pw")
    path = "/api/queues/%2F/" + q(qname)
    calls = [
        ("PUT", path, {"durable": True}),
        ("DELETE", path, None),
        ("DELETE", path + "/contents", None),
        ("POST", path + "/get", {"count": 5, "ackmode": "ack_requeue_false",
                                 "encoding": "auto"}),
        ("POST", "/api/bindings/%2F/e/amq.topic/q/" + q(qname), {"routing_key": "x"}),
        ("POST", path + "/move", {"destination": "mine"}),
        ("PUT", "/api/queues/%2F/" + q("mqtt-shared-g-squat.#"), {}),
    ]
    api(broker, "PUT", "/api/queues/%2F/mine", {}, auth=auth)
    for method, p, body in calls:
        st, reply, _ = api(broker, method, p, body, auth=auth)
        assert st == 403, (method, p, st, reply)
        assert RESERVED in reply["reason"], (method, p, reply)
    # into it: a move towards it and a publish through amq.default
    st, reply, _ = api(broker, "POST", "/api/queues/%2F/mine/move",
                       {"destination": qname}, auth=auth)
    assert st == 403 and RESERVED in reply["reason"], reply
    st, reply, _ = api(broker, "POST", "/api/exchanges/%2F/amq.default/publish",
                       {"routing_key": qname, "payload": "forged", "payload_encoding": "string",
                        "properties": {}}, auth=auth)
    assert st == 403 and RESERVED in reply["reason"], reply
    assert resume(broker, cid, 1) == [b"h1"]


def test_administrator_still_may(broker):
    cid, qname = victim_away(broker)
    publish_mqtt(broker, "squat/a", [b"a1", b"a2"])
    conn = pika.BlockingConnection(pika_params(broker))
    ch = conn.channel()
    m, _, body = ch.basic_get(qname, auto_ack=False)
    assert body == b"a1"
    ch.basic_nack(m.delivery_tag, requeue=True)
    conn.close()
    st, reply, _ = api(broker, "POST", "/api/queues/%2F/" + q(qname) + "/get",
                       {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert st == 200 and reply[0]["payload"] == "a1", reply
    assert resume(broker, cid, 2) == [b"a1", b"a2"]


@pytest.mark.parametrize("shared", [False, True])
def test_mqtt_users_keep_their_own_queues(broker, shared):
    # MQTT users without any administrator tag still subscribe: the
    # reservation does not apply to the MQTT adapter's own checks
    user(broker, "carol")
    c = Paho(broker, V311, username="carol", password="pw")
    c.connect()
    c.subscribe("$share/g/squat/s" if shared else "squat/s", qos=1)
    publish_mqtt(broker, "squat/s", [b"s1"])
    c.wait(1)
    assert c.payloads() == [b"s1"]
    c.disconnect()


def test_dead_letters_do_not_reach_a_session(broker):
    cid, qname = victim_away(broker)
    user(broker, "mallory")
    conn = amqp(broker, "mallory")
    ch = conn.channel()
    ch.queue_declare("trap", arguments={"x-dead-letter-exchange": "",
                                        "x-dead-letter-routing-key": qname})
    ch.queue_declare("trap2", arguments={"x-dead-letter-exchange": ""})
    ch.queue_bind("trap2", "amq.direct", qname)
    ch.basic_publish("", "trap", b"forged1")
    ch.basic_publish("amq.direct", qname, b"forged2")
    for qn in ("trap", "trap2"):
        m, _, _ = ch.basic_get(qn)
        ch.basic_reject(m.delivery_tag, requeue=False)
    # a marker behind them, the legitimate way
    publish_mqtt(broker, "squat/a", [b"real"])
    admin = pika.BlockingConnection(pika_params(broker))
    ok = admin.channel().queue_declare(qname, passive=True)
    assert ok.method.message_count == 1
    admin.close()
    conn.close()
    assert resume(broker, cid, 1) == [b"real"]


def test_session_queue_without_owner_goes_to_its_first_user(broker):
    # a session queue without "x-mqtt-owner" (as an older version left
    # it, here made by an administrator): the first user to resume the
    # session owns it from then on, with its binding as a subscription
    # and the messages it held
    cid = "ownerless-" + uid()
    qname = "mqtt-subscription-%sqos1" % cid
    conn = pika.BlockingConnection(pika_params(broker))
    ch = conn.channel()
    ch.queue_declare(qname, durable=True)
    ch.queue_bind(qname, "amq.topic", routing_key="squat.owner")
    ch.basic_publish("amq.topic", "squat.owner", b"held")
    conn.close()
    user(broker, "alice")
    user(broker, "mallory")
    c = Paho(broker, V311, client_id=cid, clean=False, username="alice", password="pw")
    assert c.connect()[1] is True           # session present: recovered
    c.wait(1)
    publish_mqtt(broker, "squat/owner", [b"live"])
    c.wait(2)
    assert c.payloads() == [b"held", b"live"]
    c.disconnect()
    publish_mqtt(broker, "squat/owner", [b"away"])
    m = Paho(broker, V311, client_id=cid, clean=False, username="mallory", password="pw")
    assert m.connect(expect_ok=False)[0] == 5
    m.kill()
    assert resume(broker, cid, 1) == [b"away"]
