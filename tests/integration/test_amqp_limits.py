"""Queue length limits: x-max-length and x-max-length-bytes with the
x-overflow behaviours drop-head, reject-publish and reject-publish-dlx."""
from amqp_helpers import *  # noqa: F401,F403


def test_max_length_drops_oldest(ch):
    q = ch.queue_declare(uname("q"), arguments={"x-max-length": 2}).method.queue
    for i in range(5):
        ch.basic_publish("", q, b"m%d" % i)
    assert wait_for(lambda: ready_count(ch, q) == 2)
    assert drain(ch, q) == [b"m3", b"m4"]


def test_max_length_drop_head_dead_letters_as_maxlen(ch):
    q, dlq, dlx = declare_dlx(ch, max_length=1)
    ch.basic_publish("", q, b"first")
    ch.basic_publish("", q, b"second")
    m, p, b = wait_get(ch, dlq)
    assert b == b"first"
    d = x_death(p, q, "maxlen")
    assert d["count"] == 1 and d["routing-keys"] == [q]
    assert p.headers["x-first-death-reason"] == "maxlen"
    assert drain(ch, q) == [b"second"]


def test_max_length_zero_keeps_nothing(ch):
    q, dlq, _ = declare_dlx(ch, max_length=0)
    ch.basic_publish("", q, b"m")
    m, p, b = wait_get(ch, dlq)
    assert b == b"m"
    assert ready_count(ch, q) == 0


def test_max_length_counts_ready_messages_only(conn, ch):
    q = ch.queue_declare(uname("q"), arguments={"x-max-length": 1}).method.queue
    ch.basic_publish("", q, b"a")
    m, _, _ = ch.basic_get(q, auto_ack=False)     # unacked does not count
    ch.basic_publish("", q, b"b")
    assert drain(ch, q) == [b"b"]
    ch.basic_ack(m.delivery_tag)


def test_reject_publish_nacks_and_keeps_queue(ch):
    q = ch.queue_declare(uname("q"), arguments={
        "x-max-length": 2, "x-overflow": "reject-publish"}).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"m1")
    ch.basic_publish("", q, b"m2")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"m3")
    assert drain(ch, q) == [b"m1", b"m2"]
    ch.basic_publish("", q, b"m4")                # room again: acked
    assert drain(ch, q) == [b"m4"]


def test_reject_publish_does_not_dead_letter(ch):
    q, dlq, _ = declare_dlx(ch, max_length=1, overflow="reject-publish")
    ch.confirm_delivery()
    ch.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"refused")
    assert drain(ch, q) == [b"kept"]
    assert drain(ch, dlq) == []


def test_reject_publish_without_confirms_drops_silently(ch):
    q = ch.queue_declare(uname("q"), arguments={
        "x-max-length": 1, "x-overflow": "reject-publish"}).method.queue
    ch.basic_publish("", q, b"m1")
    ch.basic_publish("", q, b"m2")
    assert drain(ch, q) == [b"m1"]
    assert ch.is_open


def test_reject_publish_dlx_nacks_and_dead_letters(ch):
    q, dlq, _ = declare_dlx(ch, max_length=1, overflow="reject-publish-dlx")
    ch.confirm_delivery()
    ch.basic_publish("", q, b"kept")
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"refused")
    m, p, b = wait_get(ch, dlq)
    assert b == b"refused"
    x_death(p, q, "maxlen")
    assert drain(ch, q) == [b"kept"]


def test_reject_publish_with_two_queues_nacks_but_delivers_to_other(ch):
    x = uname("fan")
    ch.exchange_declare(x, "fanout")
    full = ch.queue_declare(uname("full"), arguments={
        "x-max-length": 0, "x-overflow": "reject-publish"}).method.queue
    other = ch.queue_declare(uname("other")).method.queue
    ch.queue_bind(full, x)
    ch.queue_bind(other, x)
    ch.confirm_delivery()
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish(x, "", b"m")
    assert drain(ch, other) == [b"m"]
    assert drain(ch, full) == []


def test_max_length_bytes_drops_oldest(ch):
    q = ch.queue_declare(uname("q"), arguments={"x-max-length-bytes": 10}).method.queue
    for body in (b"aaaa", b"bbbb", b"cccc"):           # 12 bytes > 10
        ch.basic_publish("", q, body)
    assert drain(ch, q) == [b"bbbb", b"cccc"]


def test_max_length_bytes_counts_bodies_only(ch):
    q = ch.queue_declare(uname("q"), arguments={"x-max-length-bytes": 8}).method.queue
    big_headers = props(headers={"h": "x" * 500}, content_type="text/plain")
    for body in (b"1234", b"5678"):                      # exactly 8 body bytes
        ch.basic_publish("", q, body, big_headers)
    assert drain(ch, q) == [b"1234", b"5678"]


def test_max_length_bytes_reject_publish(ch):
    q = ch.queue_declare(uname("q"), arguments={
        "x-max-length-bytes": 10, "x-overflow": "reject-publish"}).method.queue
    ch.confirm_delivery()
    ch.basic_publish("", q, b"123456")
    ch.basic_publish("", q, b"7890")                     # exactly at the limit
    with pytest.raises(pika.exceptions.NackError):
        ch.basic_publish("", q, b"x")
    assert drain(ch, q) == [b"123456", b"7890"]


def test_both_limits_apply(ch):
    q = ch.queue_declare(uname("q"), arguments={
        "x-max-length": 3, "x-max-length-bytes": 5}).method.queue
    for body in (b"aa", b"bb", b"cc"):                   # bytes limit hits first
        ch.basic_publish("", q, body)
    assert drain(ch, q) == [b"bb", b"cc"]


@pytest.mark.parametrize("args", [
    {"x-max-length": -1}, {"x-max-length-bytes": -1},
    {"x-max-length": "10"}, {"x-overflow": "drop-tail"}])
def test_invalid_limit_arguments_refused(ch, args):
    q = uname("q")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s'"
                       % (list(args)[0], q)):
        ch.queue_declare(q, arguments=args)
