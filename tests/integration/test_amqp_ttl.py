"""Message TTL (queue x-message-ttl, per-message expiration) and queue
expiry (x-expires). Times are short: 50-300 ms, polled, never slept out."""
from amqp_helpers import *  # noqa: F401,F403


def test_queue_message_ttl_expires_messages(ch):
    q = ch.queue_declare(uname("ttl"), arguments={"x-message-ttl": 300}).method.queue
    ch.basic_publish("", q, b"short-lived")
    m, _, b = ch.basic_get(q)              # still there right after publish
    assert b == b"short-lived"
    ch.basic_publish("", q, b"expires")
    assert wait_for(lambda: ready_count(ch, q) == 1, timeout=0.2)
    assert wait_for(lambda: ready_count(ch, q) == 0, timeout=3)
    assert drain(ch, q) == []


def test_queue_message_ttl_dead_letters_as_expired(ch):
    q, dlq, dlx = declare_dlx(ch, message_ttl=50)
    ch.basic_publish("", q, b"m")
    m, p, b = wait_get(ch, dlq)
    assert b == b"m"
    d = x_death(p, q, "expired")
    assert d["count"] == 1 and d["exchange"] == "" and d["routing-keys"] == [q]


def test_per_message_expiration(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"ttl", props(expiration="100"))
    ch.basic_publish("", q, b"forever")
    m, p, b = wait_get(ch, dlq)
    assert b == b"ttl"
    x_death(p, q, "expired")
    # the expired message's own TTL is recorded, not kept as a property
    assert p.expiration is None
    assert x_death(p, q, "expired")["original-expiration"] == "100"
    assert drain(ch, q) == [b"forever"]


def test_per_message_expiration_shorter_than_queue_ttl(ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=60000)
    t0 = time.time()
    ch.basic_publish("", q, b"quick", props(expiration="100"))
    m, p, b = wait_get(ch, dlq, timeout=2)
    assert b == b"quick" and time.time() - t0 < 2
    assert ready_count(ch, q) == 0


def test_queue_ttl_shorter_than_per_message_expiration(ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=100)
    ch.basic_publish("", q, b"capped", props(expiration="60000"))
    m, p, b = wait_get(ch, dlq, timeout=2)
    assert b == b"capped"


def test_expiration_zero_without_consumer_expires_at_once(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"now-or-never", props(expiration="0"))
    m, p, b = wait_get(ch, dlq, timeout=2)
    assert b == b"now-or-never"
    x_death(p, q, "expired")
    assert drain(ch, q) == []


def test_expiration_zero_with_waiting_consumer_is_delivered(conn, ch):
    q = ch.queue_declare(uname("q")).method.queue
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    ch.basic_publish("", q, b"caught", props(expiration="0"))
    assert pump(conn, lambda: got == [b"caught"])


def test_expiration_is_passed_to_consumers(ch):
    q = ch.queue_declare(uname("q")).method.queue
    ch.basic_publish("", q, b"m", props(expiration="60000"))
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert p.expiration == "60000"


def test_consumed_messages_do_not_expire_while_unacked(conn, ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=100)
    ch.basic_publish("", q, b"held")
    m, p, b = ch.basic_get(q, auto_ack=False)
    assert b == b"held"
    time.sleep(0.3)
    assert ready_count(ch, dlq) == 0           # TTL does not apply to unacked
    ch.basic_ack(m.delivery_tag)


@current_only   # sluice requirement; RabbitMQ classic queues expire only at the head
def test_expired_message_behind_head_dead_lettered_promptly(ch):
    q, dlq, _ = declare_dlx(ch)
    ch.basic_publish("", q, b"head-long", props(expiration="60000"))
    t0 = time.time()
    ch.basic_publish("", q, b"behind-short", props(expiration="100"))
    m, p, b = wait_get(ch, dlq, timeout=1.5)
    assert b == b"behind-short", "expired message behind the head not dead-lettered"
    assert time.time() - t0 < 1.5
    x_death(p, q, "expired")
    assert drain(ch, q) == [b"head-long"]


def _exists_by_publish(ch, q):
    """Probe without touching the queue (a declare would renew its lease)."""
    try:
        ch.basic_publish("", q, b"probe", mandatory=True)
        return True
    except pika.exceptions.UnroutableError:
        return False


def test_queue_expires_when_unused(conn, ch):
    q = ch.queue_declare(uname("exp"), arguments={"x-expires": 200}).method.queue
    ch.confirm_delivery()
    t0 = time.time()
    assert _exists_by_publish(ch, q)      # publishing does not count as use
    assert wait_for(lambda: not _exists_by_publish(ch, q), timeout=4)
    assert time.time() - t0 >= 0.15
    with channel_error(404):
        conn.channel().queue_declare(q, passive=True)


def test_queue_with_consumer_does_not_expire(conn, ch):
    q = ch.queue_declare(uname("exp"), arguments={"x-expires": 150}).method.queue
    ch.basic_consume(q, lambda *a: None)
    conn.process_data_events(time_limit=0.5)
    ch.queue_declare(q, passive=True)      # still there


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", ""])
def test_invalid_expiration_refused(conn, ch, bad):
    q = ch.queue_declare(uname("q")).method.queue
    with channel_error(406, "PRECONDITION_FAILED - invalid expiration"):
        ch.basic_publish("", q, b"m", props(expiration=bad))
        ch.queue_declare(q, passive=True)
    assert ready_count(conn.channel(), q) == 0


@pytest.mark.parametrize("arg,value", [
    ("x-message-ttl", -1), ("x-message-ttl", "100"),
    ("x-expires", 0), ("x-expires", -5)])
def test_invalid_ttl_arguments_refused(ch, arg, value):
    q = uname("q")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s'" % (arg, q)):
        ch.queue_declare(q, arguments={arg: value})


def test_requeued_message_keeps_its_expiry(ch):
    q, dlq, _ = declare_dlx(ch, message_ttl=150)
    ch.basic_publish("", q, b"m")
    m, _, _ = ch.basic_get(q, auto_ack=False)
    time.sleep(0.3)                            # past its TTL while unacked
    ch.basic_nack(m.delivery_tag, requeue=True)
    m, p, b = wait_get(ch, dlq, timeout=2)
    assert b == b"m"
    x_death(p, q, "expired")
    assert ready_count(ch, q) == 0


def test_queue_expiry_counts_from_last_consumer(conn, ch):
    q = ch.queue_declare(uname("exp"), arguments={"x-expires": 200}).method.queue
    tag = ch.basic_consume(q, lambda *a: None)
    conn.process_data_events(time_limit=0.3)
    ch.queue_declare(q, passive=True)            # held by the consumer
    ch.basic_cancel(tag)
    ch.confirm_delivery()
    assert wait_for(lambda: not _exists_by_publish(ch, q), timeout=4)
