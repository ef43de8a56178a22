"""AMQP 0-9-1 channel behaviour with pika: publish/confirm/return, tx,
consume/ack/nack/reject/recover, basic.get, qos, direct reply-to, and the
channel and connection errors RabbitMQ raises (codes and texts)."""
import threading
import time

import pika
import pytest

from conftest import wait_for


def connect(broker, **kw):
    return pika.BlockingConnection(
        pika.ConnectionParameters(broker.host, broker.port, **kw))


def closed_with(fn):
    """Run fn, expect the broker to close the channel; return (code, text)."""
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        fn()
    return e.value.reply_code, e.value.reply_text


def conn_closed_with(fn):
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        fn()
    return e.value.reply_code, e.value.reply_text


def test_confirms_and_mandatory_return(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.confirm_delivery()
    for i in range(100):
        ch.basic_publish("", q, b"m%d" % i)
    with pytest.raises(pika.exceptions.UnroutableError):
        ch.basic_publish("", "no-such-queue", b"x", mandatory=True)
    ch.basic_publish("", "no-such-queue", b"x")      # acked, dropped
    assert ch.queue_declare(q, passive=True).method.message_count == 100
    conn.close()


def test_publish_to_missing_exchange(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.confirm_delivery()
    code, text = closed_with(lambda: ch.basic_publish("nope", "k", b"x"))
    assert code == 404
    assert text == "NOT_FOUND - no exchange 'nope' in vhost '/'"
    conn.close()


def test_large_multi_frame_body(broker):
    conn = connect(broker, frame_max=4096)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    body = bytes(range(256)) * 1000
    ch.basic_publish("", q, body)
    m, props, got = None, None, None
    for _ in range(50):
        m, props, got = ch.basic_get(q, auto_ack=True)
        if m:
            break
        time.sleep(0.02)
    assert got == body
    conn.close()


def test_max_message_size(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.confirm_delivery()
    code, text = closed_with(
        lambda: ch.basic_publish("", "q", b"x" * (16 * 1024 * 1024 + 1)))
    assert code == 406
    assert text.startswith("PRECONDITION_FAILED - message size 16777217 is larger than")
    conn.close()


def test_invalid_expiration(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.confirm_delivery()
    code, text = closed_with(lambda: ch.basic_publish(
        "", "q", b"x", pika.BasicProperties(expiration="soon")))
    assert code == 406
    assert text.startswith("PRECONDITION_FAILED - invalid expiration 'soon'")
    conn.close()


def test_tx_commit_rollback(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    code, text = closed_with(ch.tx_commit)
    assert (code, text) == (406, "PRECONDITION_FAILED - channel is not transactional")
    ch = conn.channel()
    ch.tx_select()
    ch.basic_publish("", q, b"rolled back")
    ch.tx_rollback()
    ch.basic_publish("", q, b"committed")
    assert ch.queue_declare(q, passive=True).method.message_count == 0
    ch.tx_commit()
    assert ch.queue_declare(q, passive=True).method.message_count == 1
    # an ack inside a rolled back tx leaves the message unacked
    m, _, body = ch.basic_get(q)
    assert body == b"committed"
    ch.basic_ack(m.delivery_tag)
    ch.tx_rollback()
    ch.basic_ack(m.delivery_tag)
    ch.tx_commit()
    assert ch.queue_declare(q, passive=True).method.message_count == 0
    code, _ = closed_with(ch.confirm_delivery)
    assert code == 406
    conn.close()


def test_consume_ack_nack_requeue_on_close(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(10):
        ch.basic_publish("", q, b"%d" % i)
    ch.basic_qos(prefetch_count=5)
    seen = []

    def cb(c, m, p, body):
        seen.append((m.delivery_tag, m.redelivered, body))
    ch.basic_consume(q, cb)
    wait_for(lambda: conn.process_data_events(0.05) or len(seen) >= 5, 2)
    conn.process_data_events(0.2)
    assert len(seen) == 5          # prefetch
    ch.basic_ack(2)
    ch.basic_nack(3, requeue=False)
    ch.basic_reject(4, requeue=True)
    wait_for(lambda: conn.process_data_events(0.05) or len(seen) >= 8, 2)
    conn.process_data_events(0.2)
    assert len(seen) == 8
    assert seen[7] == (8, True, b"3")
    ch.close()                     # unacked go back, marked redelivered
    ch = conn.channel()
    msgs = []
    while True:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            break
        msgs.append((body, m.redelivered))
    # 2 acked, 3 dropped: the other 8 are all back
    assert sorted(b for b, _ in msgs) == sorted(b"%d" % i for i in range(10) if i not in (1, 2))
    redelivered = sorted(b for b, r in msgs if r)
    assert redelivered == [b"0", b"3", b"4", b"5", b"6"]
    assert [b for b, _ in msgs][:5] == [b"0", b"3", b"4", b"5", b"6"]   # queue order
    conn.close()


def test_unknown_delivery_tag(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.basic_ack(42)
    code, text = closed_with(lambda: ch.queue_declare("", exclusive=True))
    assert (code, text) == (406, "PRECONDITION_FAILED - unknown delivery tag 42")
    conn.close()


def test_duplicate_consumer_tag_closes_connection(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_consume(q, lambda *a: None, consumer_tag="dup")
    ch2 = conn.channel()      # tags are per channel
    ch2.basic_consume(q, lambda *a: None, consumer_tag="dup")

    def reuse():              # get past pika's own duplicate check
        ch._consumer_infos.pop("dup", None)
        ch._impl._consumers.pop("dup", None)
        ch.basic_consume(q, lambda *a: None, consumer_tag="dup")
    code, text = conn_closed_with(reuse)
    assert code == 530
    assert text == "NOT_ALLOWED - attempt to reuse consumer tag 'dup'"


def test_cancel_notify_on_queue_delete(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch2 = conn.channel()
    q = ch.queue_declare("to-delete").method.queue
    cancelled = []
    ch.add_on_cancel_callback(lambda m: cancelled.append(m.method.consumer_tag))
    ch.basic_consume(q, lambda *a: None, consumer_tag="c1")
    ch2.queue_delete(q)
    wait_for(lambda: conn.process_data_events(0.05) or cancelled, 2)
    assert cancelled == ["c1"]
    conn.close()


def test_last_declared_queue_shortcut(broker):
    conn = connect(broker)
    ch = conn.channel()
    code, text = closed_with(lambda: ch.queue_purge(""))
    assert (code, text) == (404, "NOT_FOUND - no previously declared queue")
    ch = conn.channel()
    ch.queue_declare("shortcut-q", auto_delete=True)
    ch.basic_publish("", "shortcut-q", b"x")
    assert ch.queue_purge("").method.message_count == 1
    conn.close()


def test_qos_prefetch_size_and_flow(broker):
    conn = connect(broker)
    ch = conn.channel()
    code, text = conn_closed_with(lambda: ch.basic_qos(prefetch_size=10))
    assert code == 540
    assert text == "NOT_IMPLEMENTED - prefetch_size!=0 (10)"


def test_recover_requeues(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"r")
    m, _, _ = ch.basic_get(q)
    assert not m.redelivered
    ch.basic_recover(requeue=True)
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"r" and m.redelivered
    conn.close()


def test_direct_reply_to(broker):
    conn = connect(broker)
    ch = conn.channel()
    code, text = closed_with(lambda: ch.basic_publish(
        "", "x", b"q", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
        or ch.queue_declare("", exclusive=True))
    assert (code, text) == (406, "PRECONDITION_FAILED - fast reply consumer does not exist")
    conn.close()

    # a fresh connection: pika mishandles a reused channel number here
    conn = connect(broker)
    ch = conn.channel()
    server_q = ch.queue_declare("", exclusive=True).method.queue
    replies = []
    ch.basic_consume("amq.rabbitmq.reply-to",
                     lambda c, m, p, b: replies.append(b), auto_ack=True)
    ch.basic_publish("", server_q, b"ping",
                     pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    m, props, body = ch.basic_get(server_q, auto_ack=True)
    assert props.reply_to.startswith("amq.rabbitmq.reply-to.")
    ch2 = conn.channel()
    ch2.basic_publish("", props.reply_to, b"pong")
    wait_for(lambda: conn.process_data_events(0.05) or replies, 2)
    assert replies == [b"pong"]
    conn.close()


def test_exchange_topology(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("src", "topic", auto_delete=False)
    ch.exchange_declare("dst", "fanout")
    ch.exchange_bind("dst", "src", "a.*")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "dst")
    ch.basic_publish("src", "a.b", b"via e2e")
    ch.basic_publish("src", "b.b", b"not routed")
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"via e2e"
    assert ch.basic_get(q)[0] is None
    ch.exchange_unbind("dst", "src", "a.*")
    ch.queue_unbind(q, "dst")
    ch.exchange_delete("dst")
    ch.exchange_delete("src")
    conn.close()


def test_no_ack_consumer_many(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    n = 2000
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(m.delivery_tag), auto_ack=True)
    for i in range(n):
        ch.basic_publish("", q, b"x")
    assert wait_for(lambda: conn.process_data_events(0.05) or len(got) == n, 10)
    assert got == list(range(1, n + 1))
    conn.close()
