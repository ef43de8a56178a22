"""Dead-lettering: reasons, x-death and x-first-death-* headers as RabbitMQ
writes them, dead-letter routing keys, cycles, and x-delivery-limit."""
import datetime

from amqp_helpers import *  # noqa: F401,F403
from amqpraw import assert_serves


def _settle(ch, how, tag):
    if how == "reject":
        ch.basic_reject(tag, requeue=False)
    else:
        ch.basic_nack(tag, requeue=False)


@pytest.mark.parametrize("how", ["reject", "nack"])
def test_rejected_message_dead_lettered_with_x_death(ch, how):
    x = uname("src-x")
    ch.exchange_declare(x, "direct")
    q, dlq, dlx = declare_dlx(ch)
    ch.queue_bind(q, x, "orig.key")
    ch.basic_publish(x, "orig.key", b"payload",
                     props(headers={"app": "kept"}, message_id="id-1",
                           content_type="text/plain"))
    m, p, b = ch.basic_get(q, auto_ack=False)
    before = datetime.datetime.utcnow().replace(microsecond=0)
    _settle(ch, how, m.delivery_tag)
    m, p, b = wait_get(ch, dlq)
    assert b == b"payload"
    assert m.exchange == dlx and m.routing_key == "orig.key"
    assert m.redelivered is False
    assert (p.message_id, p.content_type) == ("id-1", "text/plain")
    assert p.headers["app"] == "kept"
    deaths = x_death(p)
    assert len(deaths) == 1
    d = deaths[0]
    assert d["count"] == 1
    assert d["reason"] == "rejected"
    assert d["queue"] == q
    assert d["exchange"] == x
    assert d["routing-keys"] == ["orig.key"]
    assert isinstance(d["time"], datetime.datetime)
    assert abs((d["time"] - before).total_seconds()) <= 5
    assert p.headers["x-first-death-reason"] == "rejected"
    assert p.headers["x-first-death-queue"] == q
    assert p.headers["x-first-death-exchange"] == x


@current_only   # x-last-death-* headers appeared in RabbitMQ 3.13
def test_x_last_death_headers(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, dlq)
    assert p.headers["x-last-death-reason"] == "rejected"
    assert p.headers["x-last-death-queue"] == q
    assert p.headers["x-last-death-exchange"] == ""


def test_cc_routing_keys_recorded(ch):
    x = uname("x")
    ch.exchange_declare(x, "direct")
    q, dlq, _ = declare_dlx(ch)
    ch.queue_bind(q, x, "k1")
    ch.basic_publish(x, "k1", b"m", props(headers={"CC": ["k2"]}))
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, dlq)
    assert x_death(p)[0]["routing-keys"] == ["k1", "k2"]


def test_requeue_true_does_not_dead_letter(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=True)
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert b == b"m" and m.redelivered
    assert drain(ch, dlq) == []


def test_dead_letter_routing_key(ch):
    dlx = uname("dlx")
    ch.exchange_declare(dlx, "direct")
    dlq = ch.queue_declare(uname("dlq")).method.queue
    ch.queue_bind(dlq, dlx, "dead")
    q = ch.queue_declare(uname("q"), arguments={
        "x-dead-letter-exchange": dlx,
        "x-dead-letter-routing-key": "dead"}).method.queue
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, dlq)
    assert b == b"m" and m.routing_key == "dead"
    assert x_death(p)[0]["routing-keys"] == [q]     # the original key is recorded


def test_dead_letter_keeps_original_key_without_override(ch):
    q, dlq, dlx = declare_dlx(ch, dlx_type="direct", dlq_key="orig")
    ch.queue_bind(q, "amq.direct", "orig")
    ch.basic_publish("amq.direct", "orig", b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, dlq)
    assert b == b"m" and m.routing_key == "orig"


def test_dead_letter_to_default_exchange(ch):
    dlq = ch.queue_declare(uname("dlq")).method.queue
    q = ch.queue_declare(uname("q"), arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}).method.queue
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, dlq)
    assert b == b"m"


def test_missing_dead_letter_exchange_drops(ch):
    q = ch.queue_declare(uname("q"), arguments={
        "x-dead-letter-exchange": uname("nope")}).method.queue
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    assert ch.is_open
    assert drain(ch, q) == []


def test_expired_reason(ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=50)
    ch.basic_publish("", q, b"m")
    m, p, b = wait_get(ch, dlq)
    d = x_death(p)[0]
    assert (d["reason"], d["queue"], d["count"]) == ("expired", q, 1)
    assert p.headers["x-first-death-reason"] == "expired"


def test_repeated_cycles_increment_count(ch):
    # q --reject--> dlq (ttl 50) --expire--> back to q, twice round
    dlq = uname("retry")
    q = ch.queue_declare(uname("work"), arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}).method.queue
    ch.queue_declare(dlq, arguments={
        "x-message-ttl": 50, "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": q})
    ch.basic_publish("", q, b"job")
    for round_ in (1, 2, 3):
        m, p, b = wait_get(ch, q, auto_ack=False)
        assert b == b"job", "round %d" % round_
        if round_ > 1:
            assert x_death(p, q, "rejected")["count"] == round_ - 1
            assert x_death(p, dlq, "expired")["count"] == round_ - 1
            assert len(x_death(p)) == 2
            assert p.headers["x-first-death-queue"] == q
            assert p.headers["x-first-death-reason"] == "rejected"
        ch.basic_reject(m.delivery_tag, requeue=False)


def test_automatic_cycle_is_broken(ch):
    # expiring into itself with no rejection in between: dropped after one lap
    q = uname("loop")
    ch.queue_declare(q, arguments={"x-message-ttl": 50, "x-dead-letter-exchange": "",
                                   "x-dead-letter-routing-key": q})
    ch.basic_publish("", q, b"m")
    # a message going round forever is in the queue nearly all the time:
    # it must soon be absent for a whole run of samples
    zeros, end = 0, time.time() + 3
    while zeros < 10 and time.time() < end:
        zeros = zeros + 1 if ready_count(ch, q) == 0 else 0
        time.sleep(0.03)
    assert zeros == 10


def test_cycle_detection_drops_only_the_looping_copy(ch):
    # q expires into a fanout that leads back to q and to a monitor queue:
    # the copy for q would close a cycle without any rejection, so only the
    # monitor gets the message
    fan = uname("fan")
    ch.exchange_declare(fan, "fanout")
    q = ch.queue_declare(uname("loop"), arguments={
        "x-message-ttl": 50, "x-dead-letter-exchange": fan}).method.queue
    mon = ch.queue_declare(uname("mon")).method.queue
    ch.queue_bind(q, fan)
    ch.queue_bind(mon, fan)
    ch.basic_publish("", q, b"m")
    m, p, b = wait_get(ch, mon)
    assert x_death(p, q, "expired")["count"] == 1
    time.sleep(0.2)
    assert ready_count(ch, mon) == 0 and ready_count(ch, q) == 0


def _delivery_limit_queue(ch, limit):
    dlx = uname("dlx")
    ch.exchange_declare(dlx, "fanout")
    dlq = ch.queue_declare(uname("dlq")).method.queue
    ch.queue_bind(dlq, dlx)
    args = {"x-delivery-limit": limit, "x-dead-letter-exchange": dlx}
    if EXTERNAL:    # RabbitMQ enforces delivery limits on quorum queues only
        args["x-queue-type"] = "quorum"
    q = ch.queue_declare(uname("q"), durable=EXTERNAL, arguments=args).method.queue
    return q, dlq


def test_delivery_limit_dead_letters_after_limit(conn, ch):
    q, dlq = _delivery_limit_queue(ch, 2)
    ch.basic_publish("", q, b"poison")
    deliveries = 0
    for _ in range(10):
        m, p, b = wait_get(ch, q, timeout=1, auto_ack=False)
        if m is None:
            break
        deliveries += 1
        assert m.redelivered == (deliveries > 1)
        ch.basic_nack(m.delivery_tag, requeue=True)
    # a limit of 2 allows the first delivery plus 2 redeliveries
    assert deliveries == 3
    m, p, b = wait_get(ch, dlq)
    assert b == b"poison"
    d = x_death(p)[0]
    assert (d["reason"], d["queue"], d["count"]) == ("delivery_limit", q, 1)
    assert p.headers["x-first-death-reason"] == "delivery_limit"


def test_delivery_limit_counts_channel_close_returns(broker, ch):
    q, dlq = _delivery_limit_queue(ch, 1)
    ch.basic_publish("", q, b"m")
    for _ in range(2):
        c = connect(broker)
        cc = c.channel()
        m, p, b = wait_get(cc, q, auto_ack=False)
        assert b == b"m"
        c.close()                       # unacked: returned, counted
    m, p, b = wait_get(ch, dlq)
    assert b == b"m"
    assert ready_count(ch, q) == 0


def test_x_death_not_added_by_ack(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    time.sleep(0.1)
    assert drain(ch, dlq) == []


def test_nack_multiple_dead_letters_in_order(ch):
    q, dlq, _ = declare_dlx(ch)
    for i in range(4):
        ch.basic_publish("", q, b"m%d" % i)
    last = None
    for _ in range(3):
        last, _, _ = ch.basic_get(q, auto_ack=False)
    ch.basic_nack(last.delivery_tag, multiple=True, requeue=False)
    assert wait_for(lambda: ready_count(ch, dlq) == 3)
    assert drain(ch, dlq) == [b"m0", b"m1", b"m2"]
    assert drain(ch, q) == [b"m3"]


def test_x_death_newest_first_across_queues(ch):
    # q1 -reject-> q2 -reject-> q3: q2's death is listed first
    q3 = ch.queue_declare(uname("q3")).method.queue
    q2 = ch.queue_declare(uname("q2"), arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": q3}).method.queue
    q1 = ch.queue_declare(uname("q1"), arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": q2}).method.queue
    ch.basic_publish("", q1, b"m")
    m, _, _ = wait_get(ch, q1, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, _, _ = wait_get(ch, q2, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, b = wait_get(ch, q3)
    deaths = x_death(p)
    assert [(d["queue"], d["reason"], d["count"]) for d in deaths] == \
        [(q2, "rejected", 1), (q1, "rejected", 1)]
    assert deaths[0]["routing-keys"] == [q2]
    assert p.headers["x-first-death-queue"] == q1


# Dead-lettering runs inside the publish or expiry that sets it off, and
# each dead-lettered copy is a message of its own (its body copied). One
# root (a publish, or a dead-letter made outside any publish) may set off
# about 64 MiB of copies and enqueues; past that its dead-letters are
# dropped with a warning.

def _ttl0_fanout(ch, n, dlx, dlrk=None):
    fan = uname("fan")
    ch.exchange_declare(fan, "fanout")
    args = {"x-message-ttl": 0, "x-dead-letter-exchange": dlx}
    if dlrk is not None:
        args["x-dead-letter-routing-key"] = dlrk
    for i in range(n):
        q = ch.queue_declare(uname("ttl0-%d" % i), arguments=args).method.queue
        ch.queue_bind(q, fan)
    return fan


def test_fanout_of_ttl0_queues_dead_letters_every_copy(ch):
    sink = ch.queue_declare(uname("sink")).method.queue
    fan = _ttl0_fanout(ch, 40, "", sink)
    ch.confirm_delivery()
    ch.basic_publish(fan, "", b"x" * 1000)
    assert wait_for(lambda: ready_count(ch, sink) == 40)


@pytest.mark.skipif(EXTERNAL, reason="this broker's dead-letter budget")
def test_dead_letter_copies_of_one_publish_are_bounded(broker, ch):
    """40 queues with TTL 0 dead-letter a 4 MB body each: 160 MB of copies
    from one 4 MB publish used to be made at once, past any memory alarm
    (1000 queues and a 16 MB body: 16 GB)."""
    sink = ch.queue_declare(uname("sink")).method.queue
    fan = _ttl0_fanout(ch, 40, "", sink)
    ch.confirm_delivery()
    ch.basic_publish(fan, "", b"x" * (4 << 20))
    n = ready_count(ch, sink)
    assert 1 <= n <= 17, n
    assert "dead-lettering from queue" in broker.log()
    ch.basic_publish(fan, "", b"small")     # the next publish has its own budget
    assert wait_for(lambda: ready_count(ch, sink) == n + 40)


@pytest.mark.skipif(EXTERNAL, reason="timing of this broker's core thread")
def test_dead_letter_tree_of_one_publish_is_bounded(broker, ch):
    """Eight levels of six queues with TTL 0, each level dead-lettering
    into a fanout to the next: the cycle rule does not apply (no queue
    twice on a path) and one publish made 6^9 enqueues, 9 s during which
    the core thread served nobody else."""
    k, depth = 6, 8
    fans = [uname("lvl%d" % i) for i in range(depth + 1)]
    for f in fans:
        ch.exchange_declare(f, "fanout")
    for i, f in enumerate(fans):
        for j in range(k):
            args = {"x-message-ttl": 0}
            if i < depth:
                args["x-dead-letter-exchange"] = fans[i + 1]
            q = ch.queue_declare(uname("l%d-%d" % (i, j)), arguments=args).method.queue
            ch.queue_bind(q, f)
    ch.confirm_delivery()
    start = time.time()
    ch.basic_publish(fans[0], "", b"x")
    assert time.time() - start < 2.0
    assert_serves(broker)
