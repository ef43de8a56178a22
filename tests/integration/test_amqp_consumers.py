"""Consumers: round robin, prefetch (per consumer and global), basic.get,
consumer priorities, single active consumer, exclusive consumers, cancel
and cancel notifications, and direct reply-to."""
from amqp_helpers import *  # noqa: F401,F403
from http_helpers import api
from pika import spec


def _collector(sink, tag_key=None):
    def on_msg(c, m, p, b):
        sink.append((m.consumer_tag, b, m.delivery_tag))
    return on_msg


def test_round_robin_between_consumers(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    got = []
    ta = ch.basic_consume(q, _collector(got), auto_ack=True)
    tb = ch.basic_consume(q, _collector(got), auto_ack=True)
    for i in range(6):
        ch.basic_publish("", q, b"m%d" % i)
    assert pump(conn, lambda: len(got) == 6)
    tags = [t for t, _, _ in got]
    assert tags.count(ta) == 3 and tags.count(tb) == 3
    assert all(tags[i] != tags[i + 1] for i in range(5)), tags
    assert [b for _, b, _ in got] == [b"m%d" % i for i in range(6)]


def test_prefetch_limits_unacked_per_consumer(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(5):
        ch.basic_publish("", q, b"m%d" % i)
    ch.basic_qos(prefetch_count=2)
    got = []
    ch.basic_consume(q, _collector(got))
    assert pump(conn, lambda: len(got) == 2)
    conn.process_data_events(time_limit=0.2)
    assert len(got) == 2
    assert ready_count(ch, q) == 3
    ch.basic_ack(got[0][2])
    assert pump(conn, lambda: len(got) == 3)
    ch.basic_ack(got[2][2], multiple=True)
    assert pump(conn, lambda: len(got) == 5)
    assert [b for _, b, _ in got] == [b"m%d" % i for i in range(5)]


def test_prefetch_applies_to_each_consumer(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(10):
        ch.basic_publish("", q, b"m%d" % i)
    ch.basic_qos(prefetch_count=2)
    got = []
    ch.basic_consume(q, _collector(got))
    ch.basic_consume(q, _collector(got))
    assert pump(conn, lambda: len(got) == 4)
    conn.process_data_events(time_limit=0.2)
    assert len(got) == 4


def test_global_prefetch_shared_by_channel(conn, ch):
    q1 = ch.queue_declare(uname("q1")).method.queue
    q2 = ch.queue_declare(uname("q2")).method.queue
    for i in range(5):
        ch.basic_publish("", q1, b"a")
        ch.basic_publish("", q2, b"b")
    ch.basic_qos(prefetch_count=3, global_qos=True)
    got = []
    ch.basic_consume(q1, _collector(got))
    ch.basic_consume(q2, _collector(got))
    assert pump(conn, lambda: len(got) == 3)
    conn.process_data_events(time_limit=0.2)
    assert len(got) == 3
    assert ready_count(ch, q1) + ready_count(ch, q2) == 7
    ch.basic_ack(0, multiple=True)
    assert pump(conn, lambda: len(got) == 6)


def test_prefetch_zero_is_unlimited(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(50):
        ch.basic_publish("", q, b"m")
    ch.basic_qos(prefetch_count=0)
    got = []
    ch.basic_consume(q, _collector(got))
    assert pump(conn, lambda: len(got) == 50)


def test_basic_get_ok_and_empty(ch):
    q = ch.queue_declare(uname("q")).method.queue
    assert ch.basic_get(q) == (None, None, None)
    for i in range(3):
        ch.basic_publish("", q, b"m%d" % i)
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert (b, m.message_count, m.redelivered, m.exchange, m.routing_key) == \
        (b"m0", 2, False, "", q)
    m, p, b = ch.basic_get(q, auto_ack=False)
    assert (b, m.message_count) == (b"m1", 1)
    ch.basic_ack(m.delivery_tag)
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert (b, m.message_count) == (b"m2", 0)
    assert ch.basic_get(q) == (None, None, None)


def test_consumer_priorities(broker, conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    high_ch = conn.channel()
    high_ch.basic_qos(prefetch_count=2)
    low, high = [], []
    ch.basic_consume(q, _collector(low), auto_ack=True, arguments={"x-priority": 1})
    high_ch.basic_consume(q, _collector(high), arguments={"x-priority": 10})
    for i in range(5):
        ch.basic_publish("", q, b"m%d" % i)
    # the high priority consumer gets all it can take, the rest go lower
    assert pump(conn, lambda: len(high) == 2 and len(low) == 3)
    assert [b for _, b, _ in high] == [b"m0", b"m1"]
    high_ch.basic_ack(0, multiple=True)
    ch.basic_publish("", q, b"m5")
    assert pump(conn, lambda: len(high) == 3)
    assert len(low) == 3


def test_single_active_consumer(conn, ch):
    q = ch.queue_declare(uname("sac"), arguments={"x-single-active-consumer": True}).method.queue
    a, b = [], []
    ta = ch.basic_consume(q, _collector(a), auto_ack=True)
    ch.basic_consume(q, _collector(b), auto_ack=True)
    for i in range(4):
        ch.basic_publish("", q, b"m%d" % i)
    assert pump(conn, lambda: len(a) == 4)
    conn.process_data_events(time_limit=0.1)
    assert b == []
    ch.basic_cancel(ta)
    for i in range(4, 6):
        ch.basic_publish("", q, b"m%d" % i)
    assert pump(conn, lambda: len(b) == 2)
    assert [x for _, x, _ in b] == [b"m4", b"m5"]
    assert len(a) == 4


def test_single_active_consumer_hands_over_unacked(broker, conn, ch):
    q = ch.queue_declare(uname("sac"), arguments={"x-single-active-consumer": True}).method.queue
    first = connect(broker)
    fch = first.channel()
    fa = []
    fch.basic_consume(q, _collector(fa))
    later = []
    ch.basic_consume(q, _collector(later))
    ch.basic_publish("", q, b"x")
    assert pump(first, lambda: len(fa) == 1)
    first.close()                                      # unacked goes back
    assert pump(conn, lambda: len(later) == 1)
    assert later[0][1] == b"x"


def test_cancel_stops_deliveries(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    got = []
    tag = ch.basic_consume(q, _collector(got), auto_ack=True)
    ch.basic_publish("", q, b"1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_cancel(tag)
    ch.basic_publish("", q, b"2")
    conn.process_data_events(time_limit=0.1)
    assert len(got) == 1
    assert drain(ch, q) == [b"2"]


def test_cancel_notification_when_queue_deleted(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    cancelled = []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
    tag = ch.basic_consume(q, lambda *a: None)
    conn.channel().queue_delete(q)
    assert pump(conn, lambda: cancelled == [tag])
    assert ch.is_open


def test_consume_missing_queue(ch):
    q = uname("missing")
    with channel_error(404, "NOT_FOUND - no queue '%s' in vhost '/'" % q):
        ch.basic_consume(q, lambda *a: None)


def test_exclusive_consumer_refuses_others(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_consume(q, lambda *a: None, exclusive=True)
    with channel_error(403, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % q):
        conn.channel().basic_consume(q, lambda *a: None)


def test_exclusive_consume_refused_when_consumers_exist(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_consume(q, lambda *a: None)
    with channel_error(403, "ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use" % q):
        conn.channel().basic_consume(q, lambda *a: None, exclusive=True)


def test_consumer_tag_reuse_closes_connection(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_consume(q, lambda *a: None, consumer_tag="dup")
    # pika refuses a duplicate tag itself; send the method directly
    ch._impl._send_method(spec.Basic.Consume(queue=q, consumer_tag="dup"))
    with connection_error(530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'"):
        pump(conn, lambda: False, timeout=2)


def test_same_tag_on_two_channels_is_fine(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    got = []
    ch.basic_consume(q, _collector(got), consumer_tag="same", auto_ack=True)
    conn.channel().basic_consume(q, _collector(got), consumer_tag="same", auto_ack=True)
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    assert pump(conn, lambda: len(got) == 2)


def test_direct_reply_to_rpc(conn, ch):
    server_q = ch.queue_declare(uname("rpc")).method.queue
    server = conn.channel()

    def serve(c, m, p, b):
        assert p.reply_to.startswith("amq.rabbitmq.reply-to.")
        c.basic_publish("", p.reply_to, b"re:" + b,
                        props(correlation_id=p.correlation_id))
        c.basic_ack(m.delivery_tag)
    server.basic_consume(server_q, serve)
    replies = []
    ch.basic_consume("amq.rabbitmq.reply-to",
                     lambda c, m, p, b: replies.append((p.correlation_id, b)),
                     auto_ack=True)
    ch.basic_publish("", server_q, b"ping",
                     props(reply_to="amq.rabbitmq.reply-to", correlation_id="c1"))
    ch.basic_publish("", server_q, b"pong",
                     props(reply_to="amq.rabbitmq.reply-to", correlation_id="c2"))
    assert pump(conn, lambda: len(replies) == 2)
    assert replies == [("c1", b"re:ping"), ("c2", b"re:pong")]


def test_direct_reply_to_requires_consumer(conn, ch):
    q = ch.queue_declare(uname("rpc")).method.queue
    with channel_error(406, "PRECONDITION_FAILED - fast reply consumer does not exist"):
        ch.basic_publish("", q, b"m", props(reply_to="amq.rabbitmq.reply-to"))
        ch.queue_declare(q, passive=True)


def test_direct_reply_to_needs_auto_ack(ch):
    with channel_error(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge"):
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)


def test_dead_lettered_message_reaches_waiting_consumer(conn, ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=50)
    got = []
    ch.basic_consume(dlq, lambda c, m, p, b: got.append(b), auto_ack=True)
    ch.basic_publish("", q, b"late")
    assert pump(conn, lambda: got == [b"late"], timeout=2)


def test_priority_order_while_consumer_busy(conn, ch):
    q = ch.queue_declare(uname("prio"), arguments={"x-max-priority": 9}).method.queue
    ch.basic_qos(prefetch_count=1)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.delivery_tag)))
    ch.basic_publish("", q, b"first", props(priority=1))
    assert pump(conn, lambda: len(got) == 1)
    for body, prio in ((b"low", 1), (b"high", 9), (b"mid", 5)):
        ch.basic_publish("", q, body, props(priority=prio))
    ch.queue_declare(q, passive=True)
    for i in range(3):
        ch.basic_ack(got[-1][1])
        assert pump(conn, lambda: len(got) == i + 2)
    assert [b for b, _ in got] == [b"first", b"high", b"mid", b"low"]


def test_cancel_notification_with_unacked_then_ack(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    cancelled, got = [], []
    ch.add_on_cancel_callback(lambda frame: cancelled.append(1))
    ch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag))
    ch.basic_publish("", q, b"m")
    assert pump(conn, lambda: got)
    conn.channel().queue_delete(q)
    assert pump(conn, lambda: cancelled)
    ch.basic_ack(got[0])
    ch.queue_declare("", exclusive=True)
    assert ch.is_open


def test_consumers_on_two_connections_share_queue(broker, conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    other = connect(broker)
    try:
        a, b = [], []
        ch.basic_consume(q, lambda c, m, p, body: a.append(body), auto_ack=True)
        other.channel().basic_consume(q, lambda c, m, p, body: b.append(body), auto_ack=True)
        for i in range(10):
            ch.basic_publish("", q, b"%d" % i)
        end = time.time() + 3
        while len(a) + len(b) < 10 and time.time() < end:
            conn.process_data_events(time_limit=0.01)
            other.process_data_events(time_limit=0.01)
        assert len(a) + len(b) == 10 and a and b
        assert sorted(a + b, key=int) == [b"%d" % i for i in range(10)]
    finally:
        other.close()


@current_only
def test_consumers_per_channel_are_capped(broker):
    # Without a cap one channel took consumers without end (0.6 KB each,
    # beyond the memory alarm), and each queue's consumer list grew with them.
    import struct
    import amqpraw as r
    c = r.connect(broker)
    c.open_channel(1)
    q = c.declare_queue(1, uname("q"))

    def consume(tag):
        return r.method_frame(1, r.BASIC, 20, struct.pack("!H", 0) + r.shortstr(q)
                              + r.shortstr(tag) + b"\x08" + r.table({}))
    # 255-byte tags, no consume-ok (nowait): the broker answers nothing
    c.send(b"".join(consume(("%d-" % i).ljust(255, "t")) for i in range(1000)))
    c.send(r.method_frame(1, r.QUEUE, 10, r.queue_declare_args(q, passive=True)))
    _, payload = c.expect_method(r.QUEUE, 11)
    reply = r.Reader(payload[4:])
    reply.shortstr(), reply.long()
    assert reply.long() == 1000                 # consumer_count
    c.send(consume("one-more"))
    r.expect_close(c, 530, "NOT_ALLOWED - reached maximum (1000) of consumers per channel",
                   r.BASIC, 20)
    ch = connect(broker).channel()
    assert ch.queue_declare(q, passive=True).method.consumer_count == 0


def prefetch_one_consumers(c, q, channels, per_channel, args=None):
    """On raw connection c (channel 1 open): per_channel consumers of q with
    a prefetch of 1 on each of channels 1..channels, consume-ok not awaited."""
    import struct
    import amqpraw as r
    for n in range(1, channels + 1):
        if n > 1:
            c.open_channel(n)
        c.send(r.method_frame(n, r.BASIC, 10, struct.pack("!IHB", 0, 1, 0)))
        c.expect_method(r.BASIC, 11)
        c.send(r.method_frame(n, r.BASIC, 20, struct.pack("!H", 0) + r.shortstr(q)
                              + r.shortstr("") + b"\x08" + r.table(args or {})) * per_channel)


@current_only
def test_publishes_to_a_queue_whose_consumers_are_all_full_cost_no_walk(broker):
    # 50 channels x 1000 consumers of one queue, each holding its one
    # allowed unacked message: every publish walked all 50,000 to find
    # none could take it (0.3 ms of the core thread each).
    import struct
    import amqpraw as r
    channels, per_channel = 50, 1000
    c = r.connect(broker)
    c.open_channel(1)
    q = c.declare_queue(1, uname("q"))
    prefetch_one_consumers(c, q, channels, per_channel)
    ch = connect(broker).channel()
    assert ch.queue_declare(q, passive=True).method.consumer_count == channels * per_channel
    pub = (r.method_frame(1, r.BASIC, 40, r.publish_args("", q)) + r.header_frame(1, 1)
           + r.body_frame(1, b"x"))
    c.send(pub * (channels * per_channel))

    def all_taken():
        # each consumer holds one: every publish arrived and was delivered
        # (none ready can also mean some publishes are still on their way)
        c.discard_input()
        _, info, _ = api(broker, "GET", "/api/queues/%2F/" + q)
        return info["messages_ready"] == 0 and info["messages_unacknowledged"] == channels * per_channel
    assert wait_for(all_taken, timeout=60)
    cpu = core_cpu_seconds(broker)
    for i in range(4000):
        ch.basic_publish("", q, b"m")
    assert ready_count(ch, q) == 4000
    assert core_cpu_seconds(broker) - cpu < cpu_budget(0.4)
    # one ack makes room: the next message goes out at once
    c.send(r.method_frame(7, r.BASIC, 80, struct.pack("!QB", 1, 0)))
    assert wait_for(lambda: ready_count(ch, q) == 3999)
    c.close()


@current_only
def test_many_equal_priority_consumers_of_one_queue_cost_no_walks(broker):
    # Every basic.consume walked the queue's whole consumer list to find its
    # place, and every delivery walked it again to move the consumer behind
    # its equals: 40 channels x 1000 consumers of one queue took about 5 s
    # of the core thread to set up.
    import struct
    import amqpraw as r
    channels, per_channel = 40, 1000
    c = r.connect(broker)
    c.open_channel(1)
    q = c.declare_queue(1, uname("q"))
    cpu = core_cpu_seconds(broker)
    prefetch_one_consumers(c, q, channels, per_channel)
    ch = connect(broker).channel()
    assert ch.queue_declare(q, passive=True).method.consumer_count == channels * per_channel
    for i in range(2000):
        ch.basic_publish("", q, b"m")
    assert wait_for(lambda: ready_count(ch, q) == 0, timeout=30)
    assert core_cpu_seconds(broker) - cpu < cpu_budget(2.0)
    c.close()


@current_only
def test_mixed_priority_consumers_cost_no_walks(broker):
    # 50 channels x 1000 prefetch-1 consumers of priority 10 above one
    # no-ack consumer of priority 0. Each basic.consume walked the list to
    # its place (9.3 s of the core thread for the 50,000), and each message
    # walked past every full consumer above the one with room (the fill
    # stalled the broker for minutes).
    import struct
    import amqpraw as r
    channels, per_channel = 50, 1000
    low = r.connect(broker)
    low.open_channel(1)
    q = low.declare_queue(1, uname("q"))
    low.send(r.method_frame(1, r.BASIC, 20, struct.pack("!H", 0) + r.shortstr(q)
                            + r.shortstr("low") + b"\x02" + r.table({"x-priority": 0})))
    low.expect_method(r.BASIC, 21)
    c = r.connect(broker)
    c.open_channel(1)
    cpu = core_cpu_seconds(broker)
    prefetch_one_consumers(c, q, channels, per_channel, {"x-priority": 10})
    ch = connect(broker).channel()
    assert ch.queue_declare(q, passive=True).method.consumer_count == 1 + channels * per_channel
    pub = (r.method_frame(1, r.BASIC, 40, r.publish_args("", q)) + r.header_frame(1, 1)
           + r.body_frame(1, b"x"))
    c.send(pub * (channels * per_channel))

    def delivered():
        c.discard_input()
        low.discard_input()
        _, info, _ = api(broker, "GET", "/api/queues/%2F/" + q)
        return info["messages_ready"] == 0 and info["message_stats"]["publish"] == channels * per_channel
    assert wait_for(delivered, timeout=60)
    for i in range(4000):
        ch.basic_publish("", q, b"m")
    low.discard_input()
    assert wait_for(lambda: ready_count(ch, q) == 0)
    assert core_cpu_seconds(broker) - cpu < cpu_budget(1.0)
    c.close()
    low.close()


# ---- global prefetch: room on a shared credit ------------------------------

def _sink(got):
    """on_message recording (consumer tag, body, delivery tag)."""
    def on_msg(c, m, p, b):
        got.append((m.consumer_tag, b, m.delivery_tag))
    return on_msg


def test_cancel_frees_global_credit_for_other_queue(conn, ch):
    # One channel, global prefetch 1; consumer A on qa, B on qb. A holds the
    # channel's one credit, so qb's message waits. Once A is cancelled and
    # its message acked, qb's messages must reach B (a queue found full
    # once must be looked at again when the credit's room comes back).
    qa = ch.queue_declare(uname("qa")).method.queue
    qb = ch.queue_declare(uname("qb")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    ta = ch.basic_consume(qa, _sink(got))
    tb = ch.basic_consume(qb, _sink(got))
    ch.basic_publish("", qa, b"a1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_publish("", qb, b"b1")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1                     # the credit is A's
    ch.basic_cancel(ta)
    # A's delivery settled too: nothing holds the channel's credit now
    ch.basic_ack(got[0][2])
    ch.basic_publish("", qb, b"b2")
    pump(conn, lambda: len(got) >= 2, timeout=2.0)
    other = [b for t, b, _ in got if t == tb]
    assert other[:1] == [b"b1"], ("qb's messages wait although B may take: got %r, "
                                  "qb ready %d" % (got, ready_count(ch, qb)))


def test_cancelled_consumers_deliveries_keep_their_global_prefetch(conn, ch):
    # As on RabbitMQ, a channel's global prefetch counts its unacknowledged
    # deliveries whoever consumed them: A's message, out when A is
    # cancelled, holds the channel's one credit until it is settled, and
    # qb's message waits for it; requeueing it frees the credit.
    qa = ch.queue_declare(uname("qa")).method.queue
    qb = ch.queue_declare(uname("qb")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    ta = ch.basic_consume(qa, _sink(got))
    tb = ch.basic_consume(qb, _sink(got))
    ch.basic_publish("", qa, b"a1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_cancel(ta)
    ch.basic_publish("", qb, b"b1")
    pump(conn, lambda: len(got) > 1, timeout=0.5)   # runs the whole 0.5 s unless b1 comes
    assert len(got) == 1, "the channel's prefetch of 1 was exceeded: %r" % (got,)
    ch.basic_nack(got[0][2], requeue=True)
    assert pump(conn, lambda: len(got) == 2)
    assert got[1][:2] == (tb, b"b1")
    assert ready_count(ch, qa) == 1         # a1 back in its queue


def test_raising_global_prefetch_serves_every_queue(conn, ch):
    # Global prefetch 1: A (q1) holds the credit, a2 and b1 wait. Raising
    # the prefetch to 10 serves both queues: the wake walked the channel's
    # consumers and stopped at A once A, served, moved behind B.
    q1 = ch.queue_declare(uname("q1")).method.queue
    q2 = ch.queue_declare(uname("q2")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    ta = ch.basic_consume(q1, _sink(got))
    tb = ch.basic_consume(q2, _sink(got))
    ch.basic_publish("", q1, b"a1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_publish("", q1, b"a2")
    ch.basic_publish("", q2, b"b1")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1
    ch.basic_qos(prefetch_count=10, global_qos=True)
    pump(conn, lambda: len(got) == 3, timeout=2)
    assert sorted((t, b) for t, b, _ in got) == sorted(
        [(ta, b"a1"), (ta, b"a2"), (tb, b"b1")]), \
        "ready q1 %d, q2 %d" % (ready_count(ch, q1), ready_count(ch, q2))


def test_cancel_frees_global_credit_same_queue(conn, ch):
    # The same with both consumers on one queue.
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    ta = ch.basic_consume(q, _sink(got))
    tb = ch.basic_consume(q, _sink(got))
    ch.basic_publish("", q, b"m1")
    assert pump(conn, lambda: len(got) == 1)
    first = got[0][0]
    ch.basic_publish("", q, b"m2")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1
    ch.basic_cancel(first)
    ch.basic_ack(got[0][2])             # what the cancelled consumer held
    ch.basic_publish("", q, b"m3")
    ok = pump(conn, lambda: len(got) >= 2, timeout=2.0)
    assert ok, "m2, m3 wait while the remaining consumer may take: ready %d" % ready_count(ch, q)


def test_queue_delete_frees_global_credit(conn, ch):
    # A's queue is deleted while A holds the channel's credit: then B (qb)
    # may take.
    qa = ch.queue_declare(uname("qa")).method.queue
    qb = ch.queue_declare(uname("qb")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    ch.basic_consume(qa, _sink(got))
    tb = ch.basic_consume(qb, _sink(got))
    ch.basic_publish("", qa, b"a1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_publish("", qb, b"b1")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1
    ch2 = conn.channel()
    ch2.queue_delete(qa)
    ch.basic_ack(got[0][2])
    ch2.basic_publish("", qb, b"b2")
    pump(conn, lambda: len(got) >= 2, timeout=2.0)
    assert [b for t, b, _ in got if t == tb][:1] == [b"b1"], \
        "qb ready %d, got %r" % (ready_count(ch2, qb), got)


def test_credit_wake_serves_consumers_by_priority(conn, ch):
    # One channel, global prefetch 1. X on qx holds the credit; q's m1 waits
    # with two consumers blocked only by the shared credit, H (x-priority
    # 10) and L (priority 0). When X's ack frees the credit, m1 goes to H.
    qx = ch.queue_declare(uname("qx")).method.queue
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    tx = ch.basic_consume(qx, _sink(got))
    th = ch.basic_consume(q, _sink(got), arguments={"x-priority": 10})
    tl = ch.basic_consume(q, _sink(got), arguments={"x-priority": 0})
    ch.basic_publish("", qx, b"x1")
    assert pump(conn, lambda: len(got) == 1)
    ch.basic_publish("", q, b"m1")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1
    ch.basic_ack(got[0][2])
    assert pump(conn, lambda: len(got) == 2)
    assert got[1][0] == th, "m1 went to the priority 0 consumer: %r" % (got,)


def test_settle_serves_settler_over_higher_priority(conn, ch):
    # Global prefetch 1: L (priority 0) holds the credit with m1; H
    # (priority 10) comes after, blocked by the credit only; m2 waits.
    # L's ack frees the credit for both, and m2 goes to H, not back to L.
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []
    tl = ch.basic_consume(q, _sink(got), arguments={"x-priority": 0})
    ch.basic_publish("", q, b"m1")
    assert pump(conn, lambda: len(got) == 1)
    th = ch.basic_consume(q, _sink(got), arguments={"x-priority": 10})
    ch.basic_publish("", q, b"m2")
    pump(conn, lambda: len(got) > 1, timeout=0.5)
    assert len(got) == 1
    ch.basic_ack(got[0][2])
    assert pump(conn, lambda: len(got) == 2)
    assert got[1][0] == th, "m2 went to the priority 0 consumer: %r" % (got,)


def test_global_prefetch_round_robin(conn, ch):
    # Global prefetch 1, two equal consumers of q, ten messages, each acked
    # as it comes: both get a share, not only the one that acks.
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_qos(prefetch_count=1, global_qos=True)
    got = []

    def on_msg(c, m, p, b):
        got.append(m.consumer_tag)
        c.basic_ack(m.delivery_tag)
    ta = ch.basic_consume(q, on_msg)
    tb = ch.basic_consume(q, on_msg)
    for i in range(10):
        ch.basic_publish("", q, b"m%d" % i)
    assert pump(conn, lambda: len(got) == 10)
    assert got.count(ta) >= 3 and got.count(tb) >= 3, got
