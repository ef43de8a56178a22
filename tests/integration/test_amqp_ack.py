"""Acknowledgements: ack/nack/reject (single and multiple), requeue and the
redelivered flag, basic.recover, unknown tags, and unacked messages going
back to their queue in order when a channel or connection closes."""
from amqp_helpers import *  # noqa: F401,F403


def _fill(ch, n, prefix=b"m"):
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(n):
        ch.basic_publish("", q, prefix + b"%d" % i)
    return q


def _take(ch, q, n):
    out = []
    for _ in range(n):
        m, p, b = ch.basic_get(q, auto_ack=False)
        assert m is not None
        out.append(m)
    return out


def test_delivery_tags_count_up_per_channel(conn, ch):
    q = _fill(ch, 3)
    tags = [m.delivery_tag for m in _take(ch, q, 3)]
    assert tags == [1, 2, 3]
    ch2 = conn.channel()
    ch2.basic_publish("", q, b"x")
    m, _, _ = ch2.basic_get(q, auto_ack=False)
    assert m.delivery_tag == 1


def test_ack_single(conn, ch):
    q = _fill(ch, 2)
    ms = _take(ch, q, 2)
    ch.basic_ack(ms[1].delivery_tag)
    ch.close()
    ch = conn.channel()
    assert wait_for(lambda: ready_count(ch, q) == 1)
    assert drain(ch, q) == [b"m0"]


def test_ack_multiple(conn, ch):
    q = _fill(ch, 4)
    ms = _take(ch, q, 4)
    ch.basic_ack(ms[2].delivery_tag, multiple=True)    # acks 1..3
    ch.close()
    ch = conn.channel()
    assert wait_for(lambda: ready_count(ch, q) == 1)
    assert drain(ch, q) == [b"m3"]


def test_ack_all_with_tag_zero(conn, ch):
    q = _fill(ch, 3)
    _take(ch, q, 3)
    ch.basic_ack(0, multiple=True)
    ch.close()
    ch = conn.channel()
    time.sleep(0.1)
    assert ready_count(ch, q) == 0


def test_reject_requeue_sets_redelivered(ch):
    q = _fill(ch, 1)
    m, p, b = ch.basic_get(q, auto_ack=False)
    assert m.redelivered is False
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, p, b = ch.basic_get(q, auto_ack=False)
    assert (b, m.redelivered) == (b"m0", True)
    ch.basic_ack(m.delivery_tag)


def test_reject_without_requeue_discards(ch):
    q = _fill(ch, 1)
    m, p, b = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    assert ch.basic_get(q) == (None, None, None)


def test_nack_multiple_requeue_keeps_order(ch):
    q = _fill(ch, 4)
    ms = _take(ch, q, 3)
    ch.basic_nack(ms[2].delivery_tag, multiple=True, requeue=True)
    got = []
    for _ in range(4):
        m, p, b = ch.basic_get(q, auto_ack=True)
        got.append((b, m.redelivered))
    assert got == [(b"m0", True), (b"m1", True), (b"m2", True), (b"m3", False)]


def test_nack_multiple_discard(ch):
    q = _fill(ch, 3)
    ms = _take(ch, q, 2)
    ch.basic_nack(ms[1].delivery_tag, multiple=True, requeue=False)
    assert drain(ch, q) == [b"m2"]


def test_requeued_message_goes_to_consumer_again(conn, ch):
    q = _fill(ch, 1)
    got = []

    def on_msg(c, m, p, b):
        got.append(m.redelivered)
        if len(got) == 1:
            c.basic_reject(m.delivery_tag, requeue=True)
        else:
            c.basic_ack(m.delivery_tag)
    ch.basic_consume(q, on_msg)
    assert pump(conn, lambda: len(got) == 2)
    assert got == [False, True]


@pytest.mark.parametrize("op", ["ack", "nack", "reject"])
def test_unknown_delivery_tag(ch, op):
    q = _fill(ch, 1)
    m, p, b = ch.basic_get(q, auto_ack=False)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag 42"):
        getattr(ch, "basic_" + op)(42)
        ch.queue_declare(q, passive=True)


def test_double_ack(conn, ch):
    q = _fill(ch, 1)
    m, p, b = ch.basic_get(q, auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag %d" % m.delivery_tag):
        ch.basic_ack(m.delivery_tag)
        ch.queue_declare(q, passive=True)
    assert ready_count(conn.channel(), q) == 0


def test_ack_of_auto_acked_delivery(ch):
    q = _fill(ch, 1)
    m, p, b = ch.basic_get(q, auto_ack=True)
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag"):
        ch.basic_ack(m.delivery_tag)
        ch.queue_declare(q, passive=True)


def test_recover_requeue(conn, ch):
    q = _fill(ch, 2)
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append((b, m.redelivered)))
    assert pump(conn, lambda: len(got) == 2)
    ch.basic_recover(requeue=True)
    assert pump(conn, lambda: len(got) == 4)
    assert got == [(b"m0", False), (b"m1", False), (b"m0", True), (b"m1", True)]


def test_unacked_return_in_order_when_channel_closes(conn, ch):
    q = _fill(ch, 5)
    cch = conn.channel()
    got = []
    cch.basic_consume(q, lambda c, m, p, b: got.append(b))
    assert pump(conn, lambda: len(got) == 5)
    cch.basic_ack(2, multiple=False)                 # m1 done
    cch.close()
    assert wait_for(lambda: ready_count(ch, q) == 4)
    out = []
    for _ in range(4):
        m, p, b = ch.basic_get(q, auto_ack=True)
        out.append((b, m.redelivered))
    assert out == [(b"m0", True), (b"m2", True), (b"m3", True), (b"m4", True)]


def test_unacked_return_before_newer_messages(conn, ch):
    q = _fill(ch, 2)
    cch = conn.channel()
    _take(cch, q, 1)
    ch.basic_publish("", q, b"late")
    cch.close()
    assert wait_for(lambda: ready_count(ch, q) == 3)
    assert drain(ch, q) == [b"m0", b"m1", b"late"]


def test_unacked_return_in_order_when_connection_closes(broker, ch):
    q = _fill(ch, 4)
    other = connect(broker)
    och = other.channel()
    _take(och, q, 3)
    other.close()
    assert wait_for(lambda: ready_count(ch, q) == 4)
    out = []
    for _ in range(4):
        m, p, b = ch.basic_get(q, auto_ack=True)
        out.append((b, m.redelivered))
    assert out == [(b"m0", True), (b"m1", True), (b"m2", True), (b"m3", False)]


def test_unacked_return_when_channel_closed_by_error(conn, ch):
    q = _fill(ch, 2)
    ech = conn.channel()
    _take(ech, q, 2)
    with channel_error(404):
        ech.queue_declare(uname("missing"), passive=True)
    assert wait_for(lambda: ready_count(ch, q) == 2)
    assert drain(ch, q) == [b"m0", b"m1"]


def test_auto_ack_consumer_leaves_nothing_unacked(conn, ch):
    q = _fill(ch, 3)
    cch = conn.channel()
    got = []
    cch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert pump(conn, lambda: len(got) == 3)
    cch.close()
    time.sleep(0.1)
    assert ready_count(ch, q) == 0


def test_requeued_messages_return_to_their_position(ch):
    q = _fill(ch, 4)
    m0, m1 = _take(ch, q, 2)
    ch.basic_nack(m1.delivery_tag, requeue=True)    # m1 first, then m0:
    ch.basic_nack(m0.delivery_tag, requeue=True)    # still m0 m1 m2 m3
    assert drain(ch, q) == [b"m0", b"m1", b"m2", b"m3"]


def test_recover_without_requeue_not_implemented(ch):
    with connection_error(540, "NOT_IMPLEMENTED - requeue=false"):
        ch.basic_recover(requeue=False)


def test_channel_flow_off_not_implemented(ch):
    with connection_error(540, "NOT_IMPLEMENTED - active=false"):
        ch.flow(False)


def test_bulk_publish_and_consume_in_order(conn, ch):
    q = ch.queue_declare(uname("bulk")).method.queue
    n = 5000
    for i in range(n):
        ch.basic_publish("", q, b"%d" % i)
    got = []
    ch.basic_qos(prefetch_count=200)

    def on_msg(c, m, p, b):
        got.append(int(b))
        if len(got) % 50 == 0:
            c.basic_ack(m.delivery_tag, multiple=True)
    ch.basic_consume(q, on_msg)
    assert pump(conn, lambda: len(got) == n, timeout=20)
    assert got == list(range(n))
