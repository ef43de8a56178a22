"""The permission matrix: every AMQP 0-9-1 method and MQTT packet RabbitMQ
checks, run once by a user allowed to (it must work) and once by a user
refused exactly the permission in question (it must fail with RabbitMQ's
code and text, naming that permission and that resource).

The refused user "eve" has configure, write and read on names starting
with "ok-" only (and on amq.topic and the MQTT session queues, which MQTT
needs), and topic permissions on amq.topic and the topic exchange
ok-t allowing keys starting with "ok." only; "ada" may do everything.
Each case names its resources so that only the one under test is outside
eve's rights.
"""
import pytest

from authz_helpers import add_vhost, amqp, refused, set_perms, set_tperm, user
from mqtt_helpers import PUBACK, V5, V311, Paho, Raw, uid, wait_gone

NOT_AUTHORIZED = 0x87


@pytest.fixture
def world(broker):
    user(broker, "ada")
    # MQTT needs its exchange and the session queues as well
    user(broker, "eve", perms=("^(ok-|mqtt-)", "^(ok-|mqtt-|amq\\.topic$)",
                               "^(ok-|mqtt-|amq\\.topic$)"))
    for x in ("amq.topic", "ok-t"):
        set_tperm(broker, "eve", x, "^ok\\.", "^ok\\.")
    g = amqp(broker, "guest", "guest")
    ch = g.channel()
    for x, t in (("ok-x", "direct"), ("deny-x", "direct"), ("ok-t", "topic"),
                 ("ok-x2", "fanout"), ("deny-x2", "fanout")):
        ch.exchange_declare(x, t)
    for q in ("ok-q", "deny-q", "ok-q2"):
        ch.queue_declare(q)
        ch.basic_publish("", q, b"m")
    ch.queue_bind("ok-q", "ok-x", "k")
    ch.queue_bind("deny-q", "ok-x", "k")
    ch.queue_bind("ok-q", "deny-x", "k")
    ch.exchange_bind("ok-x2", "ok-x", "k")
    ch.exchange_bind("deny-x2", "ok-x", "k")
    ch.exchange_bind("ok-x2", "deny-x", "k")
    ch.queue_bind("ok-q", "ok-t", "deny.k")
    g.close()
    return broker


def text(perm, kind, name, u="eve"):
    return "ACCESS_REFUSED - %s access to %s '%s' in vhost '/' refused for user '%s'" % (
        perm, kind, name, u)


def topic_text(perm, key, x="ok-t", u="eve"):
    return ("ACCESS_REFUSED - %s access to topic '%s' in exchange topic '%s' in vhost '/' "
            "refused for user '%s'" % (perm, key, x, u))


def publish(ch, x, key):
    ch.confirm_delivery()
    ch.basic_publish(x, key, b"p", mandatory=False)


# (case, operation on a channel, resources for ada, resources for eve, expected text)
AMQP = [
    ("exchange.declare", lambda ch, n: ch.exchange_declare(n, "direct"),
     "ok-new-x", "deny-new-x", text("configure", "exchange", "deny-new-x")),
    ("exchange.declare alternate", lambda ch, n: ch.exchange_declare(
        "ok-ae-" + n, "direct", arguments={"alternate-exchange": n}),
     "ok-x", "deny-x", text("write", "exchange", "deny-x")),
    ("exchange.delete", lambda ch, n: ch.exchange_delete(n),
     "ok-x2", "deny-x2", text("configure", "exchange", "deny-x2")),
    ("exchange.bind destination", lambda ch, n: ch.exchange_bind(n, "ok-x", "k2"),
     "ok-x2", "deny-x2", text("write", "exchange", "deny-x2")),
    ("exchange.bind source", lambda ch, n: ch.exchange_bind("ok-x2", n, "k2"),
     "ok-x", "deny-x", text("read", "exchange", "deny-x")),
    ("exchange.unbind destination", lambda ch, n: ch.exchange_unbind(n, "ok-x", "k"),
     "ok-x2", "deny-x2", text("write", "exchange", "deny-x2")),
    ("exchange.unbind source", lambda ch, n: ch.exchange_unbind("ok-x2", n, "k"),
     "ok-x", "deny-x", text("read", "exchange", "deny-x")),
    ("exchange.bind topic key", lambda ch, n: ch.exchange_bind("ok-x2", "ok-t", n),
     "ok.k", "deny.k", topic_text("read", "deny.k")),
    ("queue.declare", lambda ch, n: ch.queue_declare(n),
     "ok-new-q", "deny-new-q", text("configure", "queue", "deny-new-q")),
    ("queue.declare dead-letter exchange", lambda ch, n: ch.queue_declare(
        "ok-dl-" + n, arguments={"x-dead-letter-exchange": n}),
     "ok-x", "deny-x", text("write", "exchange", "deny-x")),
    ("queue.bind destination", lambda ch, n: ch.queue_bind(n, "ok-x", "k3"),
     "ok-q", "deny-q", text("write", "queue", "deny-q")),
    ("queue.bind source", lambda ch, n: ch.queue_bind("ok-q", n, "k3"),
     "ok-x", "deny-x", text("read", "exchange", "deny-x")),
    ("queue.bind topic key", lambda ch, n: ch.queue_bind("ok-q", "ok-t", n),
     "ok.k", "deny.k", topic_text("read", "deny.k")),
    ("queue.unbind destination", lambda ch, n: ch.queue_unbind(n, "ok-x", "k"),
     "ok-q", "deny-q", text("write", "queue", "deny-q")),
    ("queue.unbind source", lambda ch, n: ch.queue_unbind("ok-q", n, "k"),
     "ok-x", "deny-x", text("read", "exchange", "deny-x")),
    ("queue.unbind topic key", lambda ch, n: ch.queue_unbind("ok-q", "ok-t", n),
     "ok.k", "deny.k", topic_text("read", "deny.k")),
    ("queue.purge", lambda ch, n: ch.queue_purge(n),
     "ok-q2", "deny-q", text("read", "queue", "deny-q")),
    ("queue.delete", lambda ch, n: ch.queue_delete(n),
     "ok-q2", "deny-q", text("configure", "queue", "deny-q")),
    ("basic.publish", lambda ch, n: publish(ch, n, "k"),
     "ok-x", "deny-x", text("write", "exchange", "deny-x")),
    ("basic.publish default exchange", lambda ch, n: publish(ch, "", n),
     None, None, text("write", "exchange", "amq.default")),
    ("basic.publish topic key", lambda ch, n: publish(ch, "ok-t", n),
     "ok.k", "deny.k", topic_text("write", "deny.k")),
    ("basic.consume", lambda ch, n: ch.basic_consume(n, lambda *a: None),
     "ok-q", "deny-q", text("read", "queue", "deny-q")),
    ("basic.get", lambda ch, n: ch.basic_get(n, auto_ack=True),
     "ok-q", "deny-q", text("read", "queue", "deny-q")),
]


@pytest.mark.parametrize("case,op,ok_name,deny_name,expected", AMQP,
                         ids=[c[0] for c in AMQP])
def test_amqp_matrix(world, case, op, ok_name, deny_name, expected):
    a = amqp(world, "ada")
    op(a.channel(), ok_name if ok_name is not None else "ok-q")
    a.close()
    e = amqp(world, "eve")
    if ok_name is not None:                 # eve may do it on her own names
        op(e.channel(), ok_name)
    assert refused(lambda: op(e.channel(), deny_name or "ok-q")) == expected
    e.close()


def test_amqp_server_named_queue(world):
    a = amqp(world, "ada")
    a.channel().queue_declare("", exclusive=True)
    a.close()
    e = amqp(world, "eve")
    t = refused(lambda: e.channel().queue_declare("", exclusive=True))
    assert t.startswith("ACCESS_REFUSED - configure access to queue 'amq.gen-")
    e.close()


def test_amqp_read_on_the_declared_object(world):
    """alternate-exchange and x-dead-letter-exchange also need read on the
    exchange or queue being declared (it is the one messages leave)."""
    user(world, "rex", perms=(".*", ".*", "^ok-"))
    r = amqp(world, "rex")
    ae = {"alternate-exchange": "ok-x"}
    dlx = {"x-dead-letter-exchange": "ok-x"}
    r.channel().exchange_declare("ok-ae", "direct", arguments=ae)
    assert refused(lambda: r.channel().exchange_declare("no-ae", "direct", arguments=ae)) \
        == text("read", "exchange", "no-ae", "rex")
    r.channel().queue_declare("ok-dlq", arguments=dlx)
    assert refused(lambda: r.channel().queue_declare("no-dlq", arguments=dlx)) == \
        text("read", "queue", "no-dlq", "rex")
    r.close()


def test_connection_open_matrix(world):
    """connection.open and MQTT CONNECT: any permission entry on the vhost
    admits, none refuses (AMQP 530, MQTT 3.1.1 rc 5, MQTT 5 0x87)."""
    add_vhost(world, "v")
    set_perms(world, "ada", "v")
    amqp(world, "ada", vhost="v").close()
    with pytest.raises(Exception) as ei:
        amqp(world, "eve", vhost="v")
    assert "NOT_ALLOWED - access to vhost 'v' refused for user 'eve'" in str(ei.value)
    for ver, no in ((V311, 5), (V5, NOT_AUTHORIZED)):
        for u, rc in (("ada", 0), ("eve", no)):
            p = Paho(world, ver, username="v:" + u, password="pw")
            assert p.connect(expect_ok=False)[0] == rc, (ver, u)
            p.disconnect()


@pytest.mark.parametrize("ver,no", [(V311, 0x80), (V5, NOT_AUTHORIZED)], ids=["3.1.1", "5"])
def test_mqtt_subscribe_matrix_paho(world, ver, no):
    """The same SUBSCRIBE refusals as paho sees them (3.1.1: 0x80)."""
    for u, flt, code in (("ada", "deny/#", 1), ("eve", "ok/#", 1), ("eve", "deny/#", no)):
        p = Paho(world, ver, username=u, password="pw")
        p.connect()
        assert p.subscribe(flt, qos=1) == [code], (u, flt)
        p.disconnect()


def test_amqp_unchecked_methods(world):
    """What RabbitMQ does not check: passive declares, qos, confirm, tx, acks."""
    e = amqp(world, "eve")
    ch = e.channel()
    ch.queue_declare("deny-q", passive=True)
    ch.exchange_declare("deny-x", "direct", passive=True)
    ch.basic_qos(prefetch_count=5)
    ch.confirm_delivery()
    m, _, _ = ch.basic_get("ok-q", auto_ack=False)
    ch.basic_nack(m.delivery_tag, requeue=True)
    e.close()


# ---- MQTT -----------------------------------------------------------------

def mqtt(b, u):
    r = Raw(b, V5)
    assert r.connect(username=u, password="pw").rc == 0
    return r


def test_mqtt_publish_matrix(world):
    for u, topic, rc in (("ada", "deny/k", 0x10), ("eve", "ok/k", 0x10),
                         ("eve", "deny/k", NOT_AUTHORIZED)):
        r = mqtt(world, u)
        r.publish(topic, b"x", qos=1, pid=1)
        assert r.recv_type(PUBACK).rc == rc, (u, topic)


def test_mqtt_subscribe_matrix(world):
    for u, flt, code in (("ada", "deny/#", 1), ("eve", "ok/#", 1),
                         ("eve", "deny/#", NOT_AUTHORIZED),
                         ("eve", "$share/g/deny/#", NOT_AUTHORIZED),
                         ("eve", "$share/g/ok/#", 1)):
        r = mqtt(world, u)
        assert r.subscribe(flt).codes == [code], (u, flt)


def test_mqtt_unsubscribe_matrix(world):
    r = mqtt(world, "eve")
    assert r.subscribe("ok/x").codes == [1]
    set_tperm(world, "eve", "amq.topic", "^ok\\.", "^other\\.")
    assert r.unsubscribe("ok/x").codes == [NOT_AUTHORIZED]
    a = mqtt(world, "ada")
    a.subscribe("ok/x")
    assert a.unsubscribe("ok/x").codes == [0]


def test_mqtt_session_queue_matrix(world):
    """SUBSCRIBE needs configure, write and read on the session's queue."""
    user(world, "sam", perms=("^nothing$", ".*", ".*"))
    r = Raw(world, V5)
    r.connect(username="sam", password="pw")
    assert r.subscribe("a/b").codes == [NOT_AUTHORIZED]


def test_mqtt_will_matrix(world):
    sub = mqtt(world, "ada")
    sub.subscribe("#")
    cids = []
    for u, topic in (("eve", "deny/will"), ("eve", "ok/will"), ("ada", "deny/will")):
        cids.append(uid())
        r = Raw(world, V5)
        r.connect(client_id=cids[-1], username=u, password="pw",
                  will={"topic": topic, "payload": ("%s:%s" % (u, topic)).encode()})
        r.abort()
    for cid in cids:            # each close handled: its will sent or refused
        wait_gone(world, cid)
    got = sorted(p.payload for p in sub.publishes(timeout=1.0))
    assert got == [b"ada:deny/will", b"eve:ok/will"]
