"""Transactions: tx.select / tx.commit / tx.rollback for publishes and acks."""
from amqp_helpers import *  # noqa: F401,F403


def test_publishes_visible_only_at_commit(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    obs = conn.channel()
    ch.tx_select()
    ch.basic_publish("", q, b"a")
    ch.basic_publish("", q, b"b")
    ch.queue_declare(q, passive=True)               # sync point
    assert ready_count(obs, q) == 0
    assert obs.basic_get(q) == (None, None, None)
    ch.tx_commit()
    assert drain(obs, q) == [b"a", b"b"]
    ch.basic_publish("", q, b"c")                   # a new transaction
    ch.queue_declare(q, passive=True)
    assert ready_count(obs, q) == 0
    ch.tx_commit()
    assert drain(obs, q) == [b"c"]


def test_rollback_discards_publishes(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.tx_select()
    ch.basic_publish("", q, b"discarded")
    ch.tx_rollback()
    ch.tx_commit()
    assert ready_count(ch, q) == 0
    ch.basic_publish("", q, b"kept")
    ch.tx_commit()
    assert drain(conn.channel(), q) == [b"kept"]


def test_acks_applied_only_at_commit(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    for b in (b"m0", b"m1"):
        ch.basic_publish("", q, b)
    tch = conn.channel()
    tch.tx_select()
    m0, _, _ = tch.basic_get(q, auto_ack=False)
    m1, _, _ = tch.basic_get(q, auto_ack=False)
    tch.basic_ack(m0.delivery_tag)
    tch.tx_rollback()               # the ack is forgotten, m0 stays unacked
    tch.basic_ack(m1.delivery_tag)
    tch.tx_commit()                 # m1 acked for good
    tch.close()
    assert wait_for(lambda: ready_count(ch, q) == 1)
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert (b, m.redelivered) == (b"m0", True)


def test_reject_in_transaction_applied_at_commit(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_publish("", q, b"m")
    tch = conn.channel()
    tch.tx_select()
    m, _, _ = tch.basic_get(q, auto_ack=False)
    tch.basic_reject(m.delivery_tag, requeue=True)
    tch.queue_declare(q, passive=True)
    assert ready_count(ch, q) == 0
    tch.tx_commit()
    assert wait_for(lambda: ready_count(ch, q) == 1)


def test_commit_without_select(ch):
    with channel_error(406, "PRECONDITION_FAILED - channel is not transactional"):
        ch.tx_commit()


def test_rollback_without_select(ch):
    with channel_error(406, "PRECONDITION_FAILED - channel is not transactional"):
        ch.tx_rollback()


def test_confirm_on_tx_channel_refused(ch):
    ch.tx_select()
    with channel_error(406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode"):
        ch.confirm_delivery()


def test_tx_on_confirm_channel_refused(ch):
    ch.confirm_delivery()
    with channel_error(406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode"):
        ch.tx_select()


def test_uncommitted_publishes_lost_when_channel_closes(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    tch = conn.channel()
    tch.tx_select()
    tch.basic_publish("", q, b"m")
    tch.close()
    time.sleep(0.05)
    assert ready_count(ch, q) == 0


def test_rollback_restores_acks_in_tag_order(conn, ch):
    """Acks settled out of order in a transaction come back in tag order."""
    q = ch.queue_declare(uname("q")).method.queue
    for i in range(6):
        ch.basic_publish("", q, b"m%d" % i)
    tch = conn.channel()
    tch.tx_select()
    tags = [tch.basic_get(q, auto_ack=False)[0].delivery_tag for _ in range(6)]
    tch.basic_ack(tags[1])
    tch.basic_ack(tags[5])
    tch.basic_ack(tags[4])
    tch.basic_ack(tags[2])
    tch.tx_rollback()
    tch.basic_ack(tags[3], multiple=True)   # tags 1..4, whatever the tx did
    tch.tx_commit()
    with channel_error(406, "PRECONDITION_FAILED - unknown delivery tag %d" % tags[2]):
        tch.basic_ack(tags[2])
        tch.queue_declare(q, passive=True)
    tch = conn.channel()                    # closing requeued tags 5 and 6
    assert wait_for(lambda: ready_count(ch, q) == 2)
    assert drain(ch, q) == [b"m4", b"m5"]


@pytest.mark.skipif(EXTERNAL, reason="timing of this broker's core thread")
def test_rollback_of_reverse_acks_is_not_quadratic(broker, conn, ch):
    """tx.rollback puts held acks back among the unacked deliveries with one
    sort and merge. It used to insert each one by walking the unacked list
    from its tail: acks sent newest first made that a walk per delivery,
    quadratic, on the core thread every connection shares (80000 acks:
    10 s during which no other client was served)."""
    n = 80000
    q = ch.queue_declare(uname("q")).method.queue
    for _ in range(n):
        ch.basic_publish("", q, b"")
    tch = conn.channel()
    tags = []
    tch.basic_consume(q, lambda c, m, p, b: tags.append(m.delivery_tag))
    assert pump(conn, lambda: len(tags) == n, timeout=20)
    tch.tx_select()
    for tag in reversed(tags):
        tch.basic_ack(tag)
    tch.queue_declare(q, passive=True)      # every ack arrived
    start = time.time()
    tch.tx_rollback()
    assert time.time() - start < 3.0
    tch.basic_ack(tags[-1], multiple=True)  # all n are unacked again
    tch.tx_commit()
    assert ready_count(ch, q) == 0
