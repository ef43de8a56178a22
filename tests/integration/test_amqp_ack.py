"""Acknowledgements: ack/nack/reject (single and multiple), requeue and the
redelivered flag, basic.recover, unknown tags, and unacked messages going
back to their queue in order when a channel or connection closes."""
import socket
import struct

import pytest

import amqpraw as r
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


def _unacked_in_front(broker, unacked, ready):
    """A raw connection whose consumer "c" on channel 2 holds the queue's
    first `unacked` messages, `ready` more behind them, and a pika channel
    on another connection: (raw, channel, queue)."""
    import amqpraw as r
    c = r.connect(broker)
    c.open_channel(1)
    q = c.declare_queue(1, uname("q"))
    pub = (r.method_frame(1, r.BASIC, 40, r.publish_args("", q)) + r.header_frame(1, 1)
           + r.body_frame(1, b"x"))
    for i in range(0, unacked + ready, 10000):
        c.send(pub * min(10000, unacked + ready - i))
    c.send(r.method_frame(1, r.QUEUE, 10, r.queue_declare_args(q, passive=True)))
    c.expect_method(r.QUEUE, 11, timeout=60)
    c.open_channel(2)
    c.send(r.method_frame(2, r.BASIC, 10, struct.pack("!IHB", 0, unacked, 0)))
    c.expect_method(r.BASIC, 11)
    c.send(r.method_frame(2, r.BASIC, 20, struct.pack("!H", 0) + r.shortstr(q)
                          + r.shortstr("c") + b"\x00" + r.table({})))
    ch = connect(broker).channel()

    def delivered():
        c.discard_input()
        return ready_count(ch, q) == ready
    assert wait_for(delivered, timeout=30)
    return c, ch, q


@current_only
@pytest.mark.parametrize("how", ["close", "recover", "nack_multiple"])
def test_requeue_of_many_unacked_is_one_merge(broker, how):
    # 65,535 unacked deliveries whose slots lie in front of 300,000 ready
    # messages: put back one at a time, each shifted the 65,535-deep front
    # of the queue (6 s of the core thread, every client waiting).
    import amqpraw as r
    unacked, ready = 65535, 300000
    c, ch, q = _unacked_in_front(broker, unacked, ready)
    cpu = core_cpu_seconds(broker)
    if how == "close":
        c.send(r.method_frame(2, r.CHANNEL, 40, struct.pack("!H", 200) + r.shortstr("")
                              + struct.pack("!HH", 0, 0)))
    elif how == "recover":
        c.send(r.method_frame(2, r.BASIC, 110, b"\x01"))
    else:
        c.send(r.method_frame(2, r.BASIC, 120, struct.pack("!QB", 0, 3)))
    ch.queue_declare(q, passive=True)       # a round trip through the core
    assert wait_for(lambda: ready_count(ch, q) >= ready + (how == "close") * unacked,
                    timeout=30)
    assert core_cpu_seconds(broker) - cpu < cpu_budget(2.0)
    if how == "close":
        m, _, body = ch.basic_get(q, auto_ack=True)
        assert m.redelivered and ready_count(ch, q) == unacked + ready - 1
    c.close()


@current_only
@pytest.mark.parametrize("how", ["reject", "nack"])
def test_single_requeues_in_a_row_are_one_merge(broker, how):
    # The same 65,535 unacked in front of 300,000 ready, put back by one
    # basic.reject (or nack without multiple) each, lowest tag first: each
    # went to the 65,535-deep front's far end and shifted it (6 s of the
    # core thread). A run of settle frames is now one merge.
    import amqpraw as r
    unacked, ready = 65535, 300000
    c, ch, q = _unacked_in_front(broker, unacked, ready)
    # cancelled, so that nothing put back is delivered again
    c.send(r.method_frame(2, r.BASIC, 30, r.shortstr("c") + b"\x00"))
    cpu = core_cpu_seconds(broker)
    if how == "reject":
        frames = [r.method_frame(2, r.BASIC, 90, struct.pack("!QB", t, 1))
                  for t in range(1, unacked + 1)]
    else:
        frames = [r.method_frame(2, r.BASIC, 120, struct.pack("!QB", t, 2))
                  for t in range(1, unacked + 1)]
    c.send(b"".join(frames))
    assert wait_for(lambda: ready_count(ch, q) == ready + unacked, timeout=60)
    assert core_cpu_seconds(broker) - cpu < cpu_budget(2.0)
    # in queue order, each marked redelivered
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert m.redelivered and ready_count(ch, q) == unacked + ready - 1
    c.close()


def test_requeues_from_two_channels_keep_queue_order(conn, ch):
    # the second channel's messages go back between the first's and the rest
    q = _fill(ch, 1500)
    a, b = conn.channel(), conn.channel()
    _take(a, q, 500)
    _take(b, q, 500)
    a.basic_nack(0, multiple=True, requeue=True)
    b.close()
    assert wait_for(lambda: ready_count(ch, q) == 1500)
    assert drain(ch, q) == [b"m%d" % i for i in range(1500)]


def _deliveries(c, n, timeout=3.0):
    """The next n basic.deliver as (channel, tag, redelivered, body)."""
    out = []
    while len(out) < n:
        ch, cid, mid, payload = c.recv_method(timeout)
        if (cid, mid) != (r.BASIC, 60):
            continue
        rd = r.Reader(payload[4:])
        rd.shortstr()
        tag = struct.unpack("!Q", rd.take(8))[0]
        red = rd.octet()
        _, _, hp = c.recv_frame(timeout)
        size = struct.unpack("!Q", hp[4:12])[0]
        body = b""
        while len(body) < size:
            _, _, bp = c.recv_frame(timeout)
            body += bp
        out.append((ch, tag, bool(red), body))
    return out


def _setup(broker, n=6):
    """n messages, then two raw channels' consumers (prefetch 1) holding
    m0 and m1: (raw, pika channel, queue, the two deliveries)."""
    c = r.connect(broker)
    pch = connect(broker).channel()
    q = pch.queue_declare(uname("q")).method.queue
    for i in range(n):
        pch.basic_publish("", q, b"m%d" % i)
    assert wait_for(lambda: ready_count(pch, q) == n)
    for chan in (1, 2):
        c.open_channel(chan)
        c.send(r.method_frame(chan, r.BASIC, 10, struct.pack("!IHB", 0, 1, 0)))
        c.expect_method(r.BASIC, 11)
    for chan in (1, 2):
        c.send(r.method_frame(chan, r.BASIC, 20, struct.pack("!H", 0) + r.shortstr(q)
                              + r.shortstr("c%d" % chan) + b"\x00" + r.table({})))
    got = _deliveries(c, 2)
    return c, pch, q, got


def _reject(chan, tag, requeue=True):
    return r.method_frame(chan, r.BASIC, 90, struct.pack("!QB", tag, 1 if requeue else 0))


def _ack(chan, tag):
    return r.method_frame(chan, r.BASIC, 80, struct.pack("!QB", tag, 0))


# A run of settle frames (one read, nothing else between them) settles as
# one batch: what it puts back is merged at the run's end.

def test_requeue_then_ack_other_channel_keeps_order(broker):
    c, pch, q, got = _setup(broker)
    by_chan = {ch: (tag, body) for ch, tag, _, body in got}
    # ch1 puts its message back, ch2 acks its own: one run
    c.send(_reject(1, by_chan[1][0]) + _ack(2, by_chan[2][0]))
    nxt = _deliveries(c, 2)
    bodies = [b for _, _, _, b in nxt]
    assert bodies[0] == by_chan[1][1] and nxt[0][2], nxt
    assert bodies[1] == b"m2", nxt


def test_heartbeat_and_channel_error_inside_a_run(broker):
    c, pch, q, got = _setup(broker)
    by_chan = {ch: (tag, body) for ch, tag, _, body in got}
    hb = r.frame(8, 0, b"")
    c.send(_reject(1, by_chan[1][0]) + hb + _ack(2, 999) + _ack(2, by_chan[2][0]))
    # ch2 fails (unknown tag): its consumer goes, its m1 comes back
    nxt = _deliveries(c, 1)
    assert nxt[0][3] == by_chan[1][1] and nxt[0][0] == 1, nxt
    r.assert_serves(broker)


def test_bad_frame_inside_a_run(broker):
    c, pch, q, got = _setup(broker)
    by_chan = {ch: (tag, body) for ch, tag, _, body in got}
    bad = r.method_frame(1, r.BASIC, 80, b"\x00")      # ack too short to decode
    c.send(_reject(1, by_chan[1][0]) + _reject(2, by_chan[2][0]) + bad + _reject(1, 5))
    assert wait_for(lambda: ready_count(pch, q) == 6, timeout=5)
    r.assert_serves(broker)
    m, _, b = pch.basic_get(q, auto_ack=True)
    assert b == b"m0" and m.redelivered


def test_close_inside_a_run(broker):
    c, pch, q, got = _setup(broker)
    by_chan = {ch: (tag, body) for ch, tag, _, body in got}
    close = r.method_frame(0, r.CONNECTION, 50, struct.pack("!H", 200) + r.shortstr("bye")
                           + struct.pack("!HH", 0, 0))
    c.send(_reject(1, by_chan[1][0]) + close + _reject(2, by_chan[2][0]))
    c.sock.shutdown(socket.SHUT_WR)
    assert wait_for(lambda: ready_count(pch, q) == 6, timeout=5)
    r.assert_serves(broker)
    assert [pch.basic_get(q, auto_ack=True)[2] for _ in range(3)] == [b"m0", b"m1", b"m2"]
