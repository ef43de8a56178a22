"""Queues: naming, passive declare, equivalence, exclusive and auto-delete
queues, purge, conditional delete, bind errors, priority queues."""
from amqp_helpers import *  # noqa: F401,F403


def test_server_named_queue(ch):
    a = ch.queue_declare("", exclusive=True).method.queue
    b = ch.queue_declare("", exclusive=True).method.queue
    assert a.startswith("amq.gen-") and b.startswith("amq.gen-")
    assert a != b
    assert ch.queue_declare(a, passive=True).method.queue == a
    ch.basic_publish("", a, b"m")
    assert drain(ch, a) == [b"m"]


def test_passive_declare_missing_queue(ch):
    q = uname("missing")
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % q):
        ch.queue_declare(q, passive=True)


def test_declare_ok_counts(conn, ch):
    q = uname("q")
    ok = ch.queue_declare(q).method
    assert (ok.queue, ok.message_count, ok.consumer_count) == (q, 0, 0)
    for i in range(3):
        ch.basic_publish("", q, b"m%d" % i)
    # a redeclare reports counts too (polled: RabbitMQ may answer before the
    # publishes land)
    assert wait_for(lambda: ch.queue_declare(q).method.message_count == 3)
    assert ch.queue_declare(q).method.consumer_count == 0
    cch = conn.channel()
    cch.basic_qos(prefetch_count=1)
    cch.basic_consume(q, lambda *a: None)
    # one message is now unacked at the consumer: only ready ones count
    assert wait_for(lambda: ch.queue_declare(q, passive=True).method.message_count == 2)
    ok = ch.queue_declare(q, passive=True).method
    assert (ok.message_count, ok.consumer_count) == (2, 1)


def test_durable_flag_must_be_equivalent(ch):
    q = uname("q")
    ch.queue_declare(q, durable=False)
    ch.queue_declare(q, durable=False)
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'durable' for queue '%s' "
                            "in vhost '/': received 'true' but current is 'false'" % q):
        ch.queue_declare(q, durable=True)


def test_arguments_must_be_equivalent(conn, ch):
    q = uname("q")
    ch.queue_declare(q, arguments={"x-max-length": 10})
    ch.queue_declare(q, arguments={"x-max-length": 10})
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '%s'" % q):
        ch.queue_declare(q, arguments={"x-max-length": 20})
    # a passive declare ignores arguments
    conn.channel().queue_declare(q, passive=True, arguments={"x-max-length": 99})


def test_exclusive_queue_locked_to_its_connection(broker, ch):
    q = uname("excl")
    ch.queue_declare(q, exclusive=True)
    other = connect(broker)
    try:
        locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s'" % q
        with channel_error(405, locked):
            other.channel().queue_declare(q, exclusive=True)
        with channel_error(405, locked):
            other.channel().queue_declare(q)
        with channel_error(405, locked):
            other.channel().basic_consume(q, lambda *a: None)
        with channel_error(405, locked):
            other.channel().queue_delete(q)
        # the owner still uses it normally
        ch.basic_publish("", q, b"mine")
        assert drain(ch, q) == [b"mine"]
    finally:
        other.close()


def test_exclusive_queue_deleted_with_its_connection(broker):
    owner = connect(broker)
    q = uname("excl")
    owner.channel().queue_declare(q, exclusive=True)
    other = connect(broker)
    try:
        owner.close()

        def gone():
            c = other.channel()
            try:
                c.queue_declare(q, passive=True)
                c.close()
                return False
            except ChannelClosedByBroker as e:
                assert e.reply_code in (404, 405), e
                return e.reply_code == 404
        assert wait_for(gone)
    finally:
        other.close()


def test_auto_delete_after_last_consumer_cancels(conn, ch):
    q = uname("autodel")
    ch.queue_declare(q, auto_delete=True)
    ch.queue_declare(q, passive=True)          # no consumer yet: it stays
    c1 = ch.basic_consume(q, lambda *a: None)
    c2 = ch.basic_consume(q, lambda *a: None)
    ch.basic_cancel(c1)
    ch.queue_declare(q, passive=True)          # one consumer left
    ch.basic_cancel(c2)

    def gone():
        c = conn.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except ChannelClosedByBroker as e:
            assert e.reply_code == 404, e
            return True
    assert wait_for(gone)


def test_purge_reports_and_removes_ready_messages(conn):
    ch = conn.channel()
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(5):
        ch.basic_publish("", q, b"m%d" % i)
    m, _, _ = ch.basic_get(q, auto_ack=False)      # one unacked: not purged
    assert m.message_count == 4
    assert ch.queue_purge(q).method.message_count == 4
    assert ready_count(ch, q) == 0
    assert ch.queue_purge(q).method.message_count == 0
    ch.close()                                     # the unacked one returns
    ch = conn.channel()
    assert wait_for(lambda: ready_count(ch, q) == 1)
    assert drain(ch, q) == [b"m0"]


def test_delete_reports_message_count(ch):
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(3):
        ch.basic_publish("", q, b"m")
    assert ch.queue_delete(q).method.message_count == 3
    with channel_error(404):
        ch.queue_declare(q, passive=True)


def test_delete_if_unused(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    tag = ch.basic_consume(q, lambda *a: None)
    ch2 = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - queue '%s' in vhost '/' in use" % q):
        ch2.queue_delete(q, if_unused=True)
    ch.basic_cancel(tag)
    ch.queue_delete(q, if_unused=True)
    with channel_error(404):
        ch.queue_declare(q, passive=True)


def test_delete_if_empty(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_publish("", q, b"m")
    ch2 = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - queue '%s' in vhost '/' not empty" % q):
        ch2.queue_delete(q, if_empty=True)
    ch.queue_purge(q)
    ch.queue_delete(q, if_empty=True)
    with channel_error(404):
        ch.queue_declare(q, passive=True)


def test_bind_missing_queue(ch):
    q = uname("missing")
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % q):
        ch.queue_bind(q, "amq.direct", "k")


def test_bind_missing_exchange(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    x = uname("missing")
    with channel_error(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % x):
        ch.queue_bind(q, x, "k")


def test_unbind_and_delete_of_missing_things_are_idempotent(ch):
    # RabbitMQ answers unbind-ok / delete-ok here (no 404): clients rely on
    # cleanup code being safe to run twice
    q = ch.queue_declare("", exclusive=True).method.queue
    x = uname("missing")
    ch.queue_unbind(q, x, "k")
    ch.queue_unbind(uname("missing"), "amq.direct", "k")
    ch.exchange_unbind(uname("missing"), "amq.direct", "k")
    assert ch.queue_delete(uname("missing")).method.message_count == 0
    ch.exchange_delete(x)
    assert ch.is_open


def test_unbind_stops_routing(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.direct", q)
    ch.basic_publish("amq.direct", q, b"1")
    ch.queue_unbind(q, "amq.direct", q)
    ch.queue_unbind(q, "amq.direct", q)   # unbinding an absent binding is fine
    ch.basic_publish("amq.direct", q, b"2")
    assert drain(ch, q) == [b"1"]


def test_reserved_amq_prefix_refused(ch):
    q = "amq.x-" + uname()
    with channel_error(403, "ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'" % q):
        ch.queue_declare(q)


def test_priority_queue_serves_highest_first(ch):
    q = ch.queue_declare(uname("prio"), arguments={"x-max-priority": 10}).method.queue
    for body, prio in ((b"p1", 1), (b"p5a", 5), (b"p9", 9), (b"none", None),
                       (b"p5b", 5), (b"p200", 200), (b"p10", 10), (b"p0", 0)):
        ch.basic_publish("", q, body, props(priority=prio))
    # above x-max-priority counts as the maximum; no priority counts as 0
    assert drain(ch, q) == [b"p200", b"p10", b"p9", b"p5a", b"p5b", b"p1", b"none", b"p0"]


def test_priority_queue_to_consumer(conn, ch):
    q = ch.queue_declare(uname("prio"), arguments={"x-max-priority": 5}).method.queue
    for i, prio in enumerate((0, 3, 5, 1)):
        ch.basic_publish("", q, b"m%d" % prio, props(priority=prio))
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert pump(conn, lambda: len(got) == 4)
    assert got == [b"m5", b"m3", b"m1", b"m0"]


def test_queue_without_priority_is_fifo(ch):
    q = ch.queue_declare(uname("fifo")).method.queue
    for prio in (1, 9, 5):
        ch.basic_publish("", q, b"m%d" % prio, props(priority=prio))
    assert drain(ch, q) == [b"m1", b"m9", b"m5"]


def test_auto_delete_when_consumer_channel_closes(conn, ch):
    q = uname("autodel")
    ch.queue_declare(q, auto_delete=True)
    cch = conn.channel()
    cch.basic_consume(q, lambda *a: None)
    cch.close()

    def gone():
        c = conn.channel()
        try:
            c.queue_declare(q, passive=True)
            c.close()
            return False
        except ChannelClosedByBroker as e:
            return e.reply_code == 404
    assert wait_for(gone)


def test_exclusive_queue_usable_from_other_channel_of_owner(conn, ch):
    q = ch.queue_declare(uname("excl"), exclusive=True).method.queue
    other = conn.channel()
    other.queue_declare(q, exclusive=True)
    other.basic_publish("", q, b"m")
    assert drain(other, q) == [b"m"]


def test_ack_after_queue_deleted_is_harmless(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    conn.channel().queue_delete(q)
    ch.basic_ack(m.delivery_tag)
    ch.queue_declare("", exclusive=True)       # sync: the channel is fine
    assert ch.is_open
