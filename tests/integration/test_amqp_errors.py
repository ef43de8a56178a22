"""Errors: which failures close a channel and which the connection, that
other channels survive a channel error, and argument validation, with
RabbitMQ's reply codes and texts."""
from amqp_helpers import *  # noqa: F401,F403


def test_channel_error_leaves_other_channels_working(conn):
    a, b = conn.channel(), conn.channel()
    q = a.queue_declare(uname("q")).method.queue
    with channel_error(404):
        b.queue_declare(uname("missing"), passive=True)
    assert not b.is_open and a.is_open and conn.is_open
    a.basic_publish("", q, b"still-works")
    assert drain(a, q) == [b"still-works"]
    c = conn.channel()                 # new channels open fine afterwards
    assert drain(c, q) == []


def test_channel_number_reusable_after_error(conn):
    c = conn.channel(channel_number=7)
    with channel_error(404):
        c.exchange_declare(uname("missing"), "direct", passive=True)
    c = conn.channel(channel_number=7)
    q = c.queue_declare("", exclusive=True).method.queue
    c.basic_publish("", q, b"m")
    assert drain(c, q) == [b"m"]


def test_basic_get_missing_queue(ch):
    q = uname("missing")
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % q):
        ch.basic_get(q)


def test_purge_missing_queue(ch):
    q = uname("missing")
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % q):
        ch.queue_purge(q)


def test_purge_other_connections_exclusive_queue(broker, ch):
    q = ch.queue_declare(uname("excl"), exclusive=True).method.queue
    other = connect(broker)
    try:
        with channel_error(405, "RESOURCE_LOCKED"):
            other.channel().queue_purge(q)
    finally:
        other.close()


def test_declare_default_exchange_refused(ch):
    with channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        ch.exchange_declare("", "direct")


def test_delete_default_exchange_refused(ch):
    with channel_error(403, "ACCESS_REFUSED - operation not permitted on the default exchange"):
        ch.exchange_delete("")


def test_delete_builtin_exchange_refused(ch):
    with channel_error(403, "ACCESS_REFUSED"):
        ch.exchange_delete("amq.direct")


def test_qos_prefetch_size_not_implemented(conn, ch):
    with connection_error(540, "NOT_IMPLEMENTED - prefetch_size!=0 (1000)"):
        ch.basic_qos(prefetch_size=1000, prefetch_count=1)


def test_unknown_queue_arguments_are_ignored(ch):
    q = ch.queue_declare(uname("q"), arguments={"x-unknown-thing": "v", "foo": 1}).method.queue
    ch.basic_publish("", q, b"m")
    assert drain(ch, q) == [b"m"]


@pytest.mark.parametrize("args", [
    {"x-max-priority": -1},
    {"x-max-priority": 256},
    {"x-max-priority": "high"},
    {"x-single-active-consumer": "yes"},
    {"x-delivery-limit": -2},
])
def test_invalid_queue_arguments(ch, args):
    q = uname("q")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/'"
                       % (list(args)[0], q)):
        ch.queue_declare(q, arguments=args)


def test_string_argument_of_wrong_type(ch):
    q = uname("q")
    with channel_error(406, "PRECONDITION_FAILED - invalid type 'signedint' for arg "
                            "'x-dead-letter-exchange' in queue '%s' in vhost '/'" % q):
        ch.queue_declare(q, arguments={"x-dead-letter-exchange": 5})


def test_dead_letter_routing_key_needs_exchange(ch):
    q = uname("q")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key'"):
        ch.queue_declare(q, arguments={"x-dead-letter-routing-key": "k"})


def test_invalid_arguments_create_nothing(conn, ch):
    q = uname("q")
    with channel_error(406):
        ch.queue_declare(q, arguments={"x-max-length": -1})
    with channel_error(404):
        conn.channel().queue_declare(q, passive=True)


def test_publish_to_default_exchange_with_unknown_queue_is_silent(ch):
    ch.basic_publish("", uname("nobody"), b"m")
    q = ch.queue_declare("", exclusive=True).method.queue
    assert ch.is_open and drain(ch, q) == []


def test_channel_close_from_client_then_reopen(conn):
    c = conn.channel()
    q = c.queue_declare(uname("q")).method.queue
    c.close()
    c = conn.channel()
    c.basic_publish("", q, b"m")
    assert drain(c, q) == [b"m"]


def test_connection_close_is_clean(broker):
    c = connect(broker)
    ch = c.channel()
    ch.queue_declare("", exclusive=True)
    c.close()
    assert c.is_closed
    c2 = connect(broker)                 # the broker keeps serving
    assert c2.channel().is_open
    c2.close()


def test_many_channels_on_one_connection(conn):
    chans = [conn.channel() for _ in range(50)]
    q = chans[0].queue_declare(uname("q")).method.queue
    for i, c in enumerate(chans):
        c.basic_publish("", q, b"%d" % i)
    assert sorted(int(b) for b in drain(chans[-1], q)) == list(range(50))


def test_access_refused_text_for_exclusive_consumer_on_exclusive_queue(broker, ch):
    q = ch.queue_declare(uname("excl"), exclusive=True).method.queue
    other = connect(broker)
    try:
        with channel_error(405, "RESOURCE_LOCKED - cannot obtain exclusive access to locked "
                                "queue '%s' in vhost '/'" % q):
            other.channel().basic_get(q)
    finally:
        other.close()
