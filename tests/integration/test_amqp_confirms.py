"""Publisher confirms, mandatory returns, and publishing to exchanges that
do not exist."""
from amqp_helpers import *  # noqa: F401,F403
from pika import spec


def test_confirms_ack_every_publish(ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("", q, b"m%d" % i)        # raises on nack
    assert ready_count(ch, q) == 20


def test_confirms_persistent_to_durable_queue(ch):
    q = ch.queue_declare(uname("dq"), durable=True).method.queue
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish("", q, b"p%d" % i, props(delivery_mode=2))
    assert drain(ch, q) == [b"p%d" % i for i in range(5)]
    ch.queue_delete(q)


def test_confirm_unroutable_is_acked(ch):
    ch.confirm_delivery()
    ch.basic_publish("amq.direct", uname("nobody"), b"m")   # no exception
    assert ch.is_open


def test_confirm_tags_and_multiple(conn, ch):
    # low level: count the acks by delivery tag for a burst of publishes
    q = ch.queue_declare(uname("q")).method.queue
    acked = set()

    def on_ack(frame):
        m = frame.method
        if m.multiple:
            acked.update(range(1, m.delivery_tag + 1))
        else:
            acked.add(m.delivery_tag)
    impl = ch._impl
    selected = []
    impl.confirm_delivery(on_ack, callback=selected.append)
    assert pump(conn, lambda: selected)
    for i in range(100):
        impl.basic_publish("", q, b"m")
    assert pump(conn, lambda: len(acked) == 100)
    assert acked == set(range(1, 101))


def test_mandatory_unroutable_returned_with_confirms(ch):
    ch.confirm_delivery()
    key = uname("nobody")
    with pytest.raises(pika.exceptions.UnroutableError) as ei:
        ch.basic_publish("amq.direct", key, b"lost", props(message_id="m1"), mandatory=True)
    ret = ei.value.messages[0]
    assert ret.method.reply_code == 312 and ret.method.reply_text == "NO_ROUTE"
    assert (ret.method.exchange, ret.method.routing_key) == ("amq.direct", key)
    assert ret.properties.message_id == "m1" and ret.body == b"lost"


def test_mandatory_unroutable_returned_without_confirms(conn, ch):
    returned = []
    ch.add_on_return_callback(lambda c, m, p, b: returned.append((m.reply_code, b)))
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", uname("nobody"), b"back", mandatory=True)
    ch.basic_publish("", q, b"routed", mandatory=True)
    assert pump(conn, lambda: returned)
    assert returned == [(312, b"back")]
    assert drain(ch, q) == [b"routed"]


def test_mandatory_not_returned_when_routed(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"m", mandatory=True)
    assert drain(ch, q) == [b"m"]


def test_publish_to_missing_exchange_with_confirms(conn, ch):
    x = uname("missing")
    ch.confirm_delivery()
    with channel_error(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % x):
        ch.basic_publish(x, "k", b"m")
    assert conn.is_open and conn.channel().is_open


def test_publish_to_missing_exchange_without_confirms(conn, ch):
    x = uname("missing")
    with channel_error(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % x):
        ch.basic_publish(x, "k", b"m")
        ch.queue_declare("", exclusive=True)           # sync: error arrives
    assert conn.is_open


def test_confirm_select_twice_is_fine(ch):
    ch.confirm_delivery()
    ch._impl._send_method(spec.Confirm.Select(nowait=True))
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"m")
    assert drain(ch, q) == [b"m"]
