"""RabbitMQ's six tutorials with pika, each with a real producer and consumer.

Consumers run in their own thread with their own connection, the way the
tutorials run them in a second terminal.
"""
import os
import threading
import time
import uuid

import pika
import pika.exceptions as pe
import pytest

from amqpraw import pika_params
from conftest import wait_for


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(6).hex())


def connect(broker, **kw):
    return pika.BlockingConnection(pika_params(broker, **kw))


class Consumer(threading.Thread):
    """Consumes on its own connection until stopped.

    setup(channel) declares what it needs and returns the queue to consume.
    Each delivery is recorded as (routing_key, body, properties).
    """

    def __init__(self, broker, setup, prefetch=None, auto_ack=False, delay=0.0,
                 on_message=None):
        super().__init__(daemon=True)
        self.broker, self.setup, self.prefetch = broker, setup, prefetch
        self.auto_ack, self.delay, self.on_message = auto_ack, delay, on_message
        self.got = []
        self.queue = None
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            conn = connect(self.broker)
            ch = conn.channel()
            if self.prefetch is not None:
                ch.basic_qos(prefetch_count=self.prefetch)
            self.queue = self.setup(ch)
            ch.basic_consume(self.queue, self._deliver, auto_ack=self.auto_ack)
            self.ready.set()
            while not self.stopping.is_set():
                conn.process_data_events(time_limit=0.05)
            conn.close()
        except Exception as e:  # reported by stop()
            self.error = e
            self.ready.set()

    def _deliver(self, ch, method, props, body):
        if self.delay:
            time.sleep(self.delay)
        if self.on_message:
            self.on_message(ch, method, props, body)
        self.got.append((method.routing_key, body, props))
        if not self.auto_ack:
            ch.basic_ack(method.delivery_tag)

    def start_and_wait(self):
        self.start()
        assert self.ready.wait(10), "consumer did not start"
        assert self.error is None, repr(self.error)
        return self

    def bodies(self):
        return [b for _, b, _ in self.got]

    def stop(self):
        self.stopping.set()
        self.join(10)
        assert not self.is_alive()
        assert self.error is None, repr(self.error)


# ---- 1: hello world ------------------------------------------------------------

def test_hello_world(broker):
    q = uniq("hello")

    def setup(ch):
        ch.queue_declare(q, auto_delete=True)
        return q

    # Tutorial order: the consumer declares too; declaring twice is harmless.
    prod = connect(broker)
    pch = prod.channel()
    pch.queue_declare(q, auto_delete=True)
    c = Consumer(broker, setup, auto_ack=True).start_and_wait()
    try:
        pch.basic_publish(exchange="", routing_key=q, body=b"Hello World!")
        assert wait_for(lambda: len(c.got) == 1)
        rk, body, props = c.got[0]
        assert body == b"Hello World!"
        assert rk == q
    finally:
        c.stop()
        prod.close()


def test_hello_world_message_waits_for_consumer(broker):
    q = uniq("hello")
    prod = connect(broker)
    pch = prod.channel()
    pch.queue_declare(q, auto_delete=True)
    for i in range(3):
        pch.basic_publish("", q, b"early %d" % i)
    c = Consumer(broker, lambda ch: ch.queue_declare(q, auto_delete=True).method.queue,
                 auto_ack=True).start_and_wait()
    try:
        assert wait_for(lambda: len(c.got) == 3)
        assert c.bodies() == [b"early 0", b"early 1", b"early 2"]
    finally:
        c.stop()
        prod.close()


# ---- 2: work queues ------------------------------------------------------------

def test_work_queues_fair_dispatch(broker):
    q = uniq("task_queue")

    def setup(ch):
        ch.queue_declare(q, durable=True)
        return q

    prod = connect(broker)
    pch = prod.channel()
    pch.queue_declare(q, durable=True)
    slow = Consumer(broker, setup, prefetch=1, delay=0.25).start_and_wait()
    fast = Consumer(broker, setup, prefetch=1, delay=0.005).start_and_wait()
    try:
        assert wait_for(lambda: pch.queue_declare(q, passive=True).method.consumer_count == 2)
        n = 24
        for i in range(n):
            pch.basic_publish("", q, b"task %d" % i,
                              pika.BasicProperties(delivery_mode=2))
        assert wait_for(lambda: len(slow.got) + len(fast.got) == n, timeout=15)
        got = sorted(slow.bodies() + fast.bodies())
        assert got == sorted(b"task %d" % i for i in range(n)), "lost or duplicated tasks"
        # prefetch 1: the slow worker holds one task at a time, so the fast one
        # takes most of them (round-robin would give each 12)
        assert len(slow.got) <= 6, (len(slow.got), len(fast.got))
        assert len(fast.got) >= 18
        for _, _, props in slow.got + fast.got:
            assert props.delivery_mode == 2
        # everything acked: nothing left
        assert wait_for(lambda: pch.queue_declare(q, passive=True).method.message_count == 0)
    finally:
        slow.stop()
        fast.stop()
        pch.queue_delete(q)
        prod.close()


def test_work_queues_unacked_task_redelivered(broker):
    # A worker that dies before acking: its task goes to the other worker.
    q = uniq("task_queue")
    prod = connect(broker)
    pch = prod.channel()
    pch.queue_declare(q, durable=True)
    pch.basic_publish("", q, b"important",
                      pika.BasicProperties(delivery_mode=2))
    dying = connect(broker)
    dch = dying.channel()
    dch.basic_qos(prefetch_count=1)
    method, props, body = None, None, None
    for _ in range(100):
        method, props, body = dch.basic_get(q, auto_ack=False)
        if method:
            break
        time.sleep(0.02)
    assert body == b"important" and not method.redelivered
    dying.close()                      # no ack
    c = Consumer(broker, lambda ch: q, prefetch=1).start_and_wait()
    try:
        assert wait_for(lambda: len(c.got) == 1)
        assert c.got[0][1] == b"important"
        assert wait_for(lambda: pch.queue_declare(q, passive=True).method.message_count == 0)
    finally:
        c.stop()
        pch.queue_delete(q)
        prod.close()


# ---- 3: publish/subscribe ------------------------------------------------------

def test_publish_subscribe_fanout(broker):
    ex = uniq("logs")
    prod = connect(broker)
    pch = prod.channel()
    pch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)

    def setup(ch):
        ch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)
        name = ch.queue_declare("", exclusive=True).method.queue
        assert name.startswith("amq.gen-")
        ch.queue_bind(name, ex)
        return name

    subs = [Consumer(broker, setup, auto_ack=True).start_and_wait() for _ in range(3)]
    try:
        assert len({s.queue for s in subs}) == 3
        logs = [b"log line %d" % i for i in range(10)]
        for line in logs:
            pch.basic_publish(ex, "ignored-key", line)
        assert wait_for(lambda: all(len(s.got) == len(logs) for s in subs))
        for s in subs:
            assert s.bodies() == logs
            assert all(rk == "ignored-key" for rk, _, _ in s.got)
    finally:
        for s in subs:
            s.stop()
        prod.close()


def test_publish_subscribe_late_subscriber_misses_old_logs(broker):
    ex = uniq("logs")
    prod = connect(broker)
    pch = prod.channel()
    pch.exchange_declare(ex, exchange_type="fanout")
    try:
        pch.basic_publish(ex, "", b"nobody listening")   # dropped: no queue bound
        q = pch.queue_declare("", exclusive=True).method.queue
        pch.queue_bind(q, ex)
        pch.basic_publish(ex, "", b"heard")
        method, _, body = None, None, None
        for _ in range(100):
            method, _, body = pch.basic_get(q, auto_ack=True)
            if method:
                break
            time.sleep(0.02)
        assert body == b"heard"
        assert pch.basic_get(q, auto_ack=True)[0] is None
    finally:
        pch.exchange_delete(ex)
        prod.close()


def test_exclusive_queue_gone_when_subscriber_disconnects(broker):
    c1 = connect(broker)
    q = c1.channel().queue_declare("", exclusive=True).method.queue
    c1.close()
    c2 = connect(broker)
    ch = c2.channel()
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        ch.queue_declare(q, passive=True)
    assert ei.value.reply_code == 404
    c2.close()


# ---- 4: routing ----------------------------------------------------------------

def test_routing_direct_severities(broker):
    ex = uniq("direct_logs")
    prod = connect(broker)
    pch = prod.channel()
    pch.exchange_declare(ex, exchange_type="direct", auto_delete=True)

    def binder(*severities):
        def setup(ch):
            ch.exchange_declare(ex, exchange_type="direct", auto_delete=True)
            name = ch.queue_declare("", exclusive=True).method.queue
            for sev in severities:
                ch.queue_bind(name, ex, routing_key=sev)
            return name
        return setup

    errors_only = Consumer(broker, binder("error"), auto_ack=True).start_and_wait()
    console = Consumer(broker, binder("info", "warning", "error"), auto_ack=True).start_and_wait()
    try:
        sent = [("info", b"i1"), ("error", b"e1"), ("debug", b"d1"), ("warning", b"w1"),
                ("error", b"e2"), ("info", b"i2")]
        for sev, body in sent:
            pch.basic_publish(ex, sev, body)
        assert wait_for(lambda: len(errors_only.got) == 2 and len(console.got) == 5)
        time.sleep(0.2)
        assert [(rk, b) for rk, b, _ in errors_only.got] == [("error", b"e1"), ("error", b"e2")]
        assert [(rk, b) for rk, b, _ in console.got] == [
            ("info", b"i1"), ("error", b"e1"), ("warning", b"w1"), ("error", b"e2"),
            ("info", b"i2")]
    finally:
        errors_only.stop()
        console.stop()
        prod.close()


def test_routing_multiple_bindings_same_key(broker):
    # Two queues bound with the same key both get the message (like fanout).
    ex = uniq("direct_logs")
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="direct", auto_delete=True)
    qs = []
    for _ in range(2):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, ex, routing_key="black")
        qs.append(q)
    ch.basic_publish(ex, "black", b"both")
    ch.basic_publish(ex, "green", b"none")
    for q in qs:
        assert wait_for(lambda: ch.queue_declare(q, passive=True).method.message_count == 1)
        assert ch.basic_get(q, auto_ack=True)[2] == b"both"
    conn.close()


# ---- 5: topics -----------------------------------------------------------------

TOPIC_CASES = [
    ("quick.orange.rabbit", True, True),
    ("lazy.orange.elephant", True, True),
    ("quick.orange.fox", True, False),
    ("lazy.brown.fox", False, True),
    ("lazy.pink.rabbit", False, True),        # matches both Q2 bindings: once
    ("quick.brown.fox", False, False),
    ("orange", False, False),
    ("quick.orange.new.rabbit", False, False),
    ("lazy.orange.new.rabbit", False, True),
    ("quick.orange.male.rabbit", False, False),
    ("lazy", False, True),                    # '#' matches zero words
    ("a.orange.", True, False),               # empty last word still a word
    (".orange.b", True, False),
]


def test_topics_tutorial_matches(broker):
    ex = uniq("topic_logs")
    prod = connect(broker)
    pch = prod.channel()
    pch.exchange_declare(ex, exchange_type="topic", auto_delete=True)

    def binder(*keys):
        def setup(ch):
            ch.exchange_declare(ex, exchange_type="topic", auto_delete=True)
            name = ch.queue_declare("", exclusive=True).method.queue
            for k in keys:
                ch.queue_bind(name, ex, routing_key=k)
            return name
        return setup

    q1 = Consumer(broker, binder("*.orange.*"), auto_ack=True).start_and_wait()
    q2 = Consumer(broker, binder("*.*.rabbit", "lazy.#"), auto_ack=True).start_and_wait()
    try:
        for key, _, _ in TOPIC_CASES:
            pch.basic_publish(ex, key, key.encode())
        want1 = [k for k, a, _ in TOPIC_CASES if a]
        want2 = [k for k, _, b in TOPIC_CASES if b]
        assert wait_for(lambda: len(q1.got) >= len(want1) and len(q2.got) >= len(want2))
        time.sleep(0.3)                       # no late extras or duplicates
        assert [rk for rk, _, _ in q1.got] == want1
        assert [rk for rk, _, _ in q2.got] == want2
    finally:
        q1.stop()
        q2.stop()
        prod.close()


def test_topic_hash_alone_is_fanout_and_plain_key_is_direct(broker):
    ex = uniq("topic_logs")
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="topic", auto_delete=True)
    all_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(all_q, ex, routing_key="#")
    exact_q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(exact_q, ex, routing_key="kern.critical")
    for key in ("kern.critical", "kern.info", "", "a.b.c.d"):
        ch.basic_publish(ex, key, key.encode())
    assert wait_for(lambda: ch.queue_declare(all_q, passive=True).method.message_count == 4)
    assert wait_for(lambda: ch.queue_declare(exact_q, passive=True).method.message_count == 1)
    assert ch.basic_get(exact_q, auto_ack=True)[2] == b"kern.critical"
    got = [ch.basic_get(all_q, auto_ack=True)[2] for _ in range(4)]
    assert got == [b"kern.critical", b"kern.info", b"", b"a.b.c.d"]
    conn.close()


# ---- 6: RPC --------------------------------------------------------------------

def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class RpcServer(Consumer):
    def __init__(self, broker, queue):
        self.seen_reply_to = []

        def setup(ch):
            ch.queue_declare(queue, auto_delete=True)
            return queue

        def on_request(ch, method, props, body):
            self.seen_reply_to.append(props.reply_to)
            ch.basic_publish("", props.reply_to, str(fib(int(body))).encode(),
                             pika.BasicProperties(correlation_id=props.correlation_id))

        super().__init__(broker, setup, prefetch=1, on_message=on_request)


def test_rpc_callback_queue(broker):
    rpc_q = uniq("rpc_queue")
    server = RpcServer(broker, rpc_q).start_and_wait()
    conn = connect(broker)
    try:
        ch = conn.channel()
        callback_q = ch.queue_declare("", exclusive=True).method.queue
        replies = {}

        def on_response(ch, method, props, body):
            replies[props.correlation_id] = body

        ch.basic_consume(callback_q, on_response, auto_ack=True)
        # several calls in flight, answered out of our waiting order
        calls = {}
        for n in (10, 1, 30, 0, 20):
            cid = str(uuid.uuid4())
            calls[cid] = n
            ch.basic_publish("", rpc_q, str(n).encode(),
                             pika.BasicProperties(reply_to=callback_q, correlation_id=cid))
        end = time.time() + 10
        while len(replies) < len(calls) and time.time() < end:
            conn.process_data_events(time_limit=0.05)
        assert {cid: int(replies[cid]) for cid in calls} == \
            {cid: fib(n) for cid, n in calls.items()}
        assert server.seen_reply_to == [callback_q] * 5
    finally:
        server.stop()
        conn.close()


def test_rpc_direct_reply_to(broker):
    rpc_q = uniq("rpc_queue")
    server = RpcServer(broker, rpc_q).start_and_wait()
    conn = connect(broker)
    try:
        ch = conn.channel()
        replies = []

        def on_response(ch, method, props, body):
            replies.append((props.correlation_id, body, method.routing_key))

        # direct reply-to: consume the pseudo-queue in no-ack mode, no declare
        ch.basic_consume("amq.rabbitmq.reply-to", on_response, auto_ack=True)
        for i, n in enumerate((7, 12)):
            cid = "call-%d" % i
            ch.basic_publish("", rpc_q, str(n).encode(),
                             pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                  correlation_id=cid))
            end = time.time() + 10
            while len(replies) < i + 1 and time.time() < end:
                conn.process_data_events(time_limit=0.05)
            assert len(replies) == i + 1
            assert replies[i][0] == cid
            assert int(replies[i][1]) == fib(n)
        # the server sees a per-channel generated name, not the literal one
        for rt in server.seen_reply_to:
            assert rt.startswith("amq.rabbitmq.reply-to.") and len(rt) > 25, rt
        assert replies[0][2] == server.seen_reply_to[0]
    finally:
        server.stop()
        conn.close()


def test_direct_reply_to_without_consumer_refused(broker):
    conn = connect(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"req", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        # the error arrives asynchronously; the next round trip surfaces it
        for _ in range(20):
            ch.queue_declare(q, passive=True)
            time.sleep(0.05)
    assert ei.value.reply_code == 406
    assert "fast reply consumer does not exist" in ei.value.reply_text
    conn.close()


def test_direct_reply_to_requires_no_ack(broker):
    conn = connect(broker)
    ch = conn.channel()
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        ch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=False)
    assert ei.value.reply_code == 406
    conn.close()


def test_direct_reply_to_reply_after_requester_left_is_dropped(broker):
    # The RPC server answers after the client went away: the reply vanishes,
    # the server's channel stays usable.
    rpc_q = uniq("rpc_queue")
    server = connect(broker)
    sch = server.channel()
    sch.queue_declare(rpc_q, auto_delete=True)
    client = connect(broker)
    cch = client.channel()
    cch.basic_consume("amq.rabbitmq.reply-to", lambda *a: None, auto_ack=True)
    cch.basic_publish("", rpc_q, b"5", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    method, props = None, None
    for _ in range(100):
        method, props, _ = sch.basic_get(rpc_q, auto_ack=True)
        if method:
            break
        time.sleep(0.02)
    assert props.reply_to.startswith("amq.rabbitmq.reply-to.")
    client.close()
    sch.basic_publish("", props.reply_to, b"5")
    sch.queue_declare(rpc_q, passive=True)            # round trip: channel still open
    assert sch.is_open
    sch.queue_delete(rpc_q)
    server.close()


# ---- the same patterns under some load ------------------------------------------

def test_work_queues_many_tasks_exactly_once(broker):
    q = uniq("task_queue")
    prod = connect(broker)
    pch = prod.channel()
    pch.queue_declare(q, durable=True)
    workers = [Consumer(broker, lambda ch: ch.queue_declare(q, durable=True).method.queue,
                        prefetch=10).start_and_wait() for _ in range(3)]
    try:
        n = 1500
        for i in range(n):
            pch.basic_publish("", q, b"t%d" % i, pika.BasicProperties(delivery_mode=2))
        assert wait_for(lambda: sum(len(w.got) for w in workers) >= n, timeout=30)
        time.sleep(0.2)
        got = [b for w in workers for b in w.bodies()]
        assert len(got) == n and set(got) == {b"t%d" % i for i in range(n)}
        assert all(len(w.got) > 0 for w in workers), [len(w.got) for w in workers]
        for w in workers:                  # each worker sees its share in order
            nums = [int(b[1:]) for b in w.bodies()]
            assert nums == sorted(nums)
        assert all(not props.headers for _, _, props in workers[0].got)
    finally:
        for w in workers:
            w.stop()
        pch.queue_delete(q)
        prod.close()


def test_fanout_many_subscribers_keep_order(broker):
    ex = uniq("logs")
    prod = connect(broker)
    pch = prod.channel()
    pch.exchange_declare(ex, exchange_type="fanout", auto_delete=True)

    def setup(ch):
        name = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(name, ex)
        return name

    subs = [Consumer(broker, setup, auto_ack=True).start_and_wait() for _ in range(8)]
    try:
        logs = [b"line %d" % i for i in range(300)]
        for line in logs:
            pch.basic_publish(ex, "", line)
        assert wait_for(lambda: all(len(s.got) >= len(logs) for s in subs), timeout=20)
        for s in subs:
            assert s.bodies() == logs
    finally:
        for s in subs:
            s.stop()
        prod.close()


def test_rpc_direct_reply_to_concurrent_clients(broker):
    rpc_q = uniq("rpc_queue")
    server = RpcServer(broker, rpc_q).start_and_wait()
    results, errors = {}, []

    def client(cid):
        try:
            conn = connect(broker)
            ch = conn.channel()
            got = []
            ch.basic_consume("amq.rabbitmq.reply-to",
                             lambda c, m, p, b: got.append((p.correlation_id, int(b))),
                             auto_ack=True)
            for i in range(15):
                n = (cid * 7 + i) % 25
                ch.basic_publish("", rpc_q, str(n).encode(),
                                 pika.BasicProperties(reply_to="amq.rabbitmq.reply-to",
                                                      correlation_id="%d-%d" % (cid, i)))
            end = time.time() + 15
            while len(got) < 15 and time.time() < end:
                conn.process_data_events(time_limit=0.05)
            results[cid] = got
            conn.close()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    server.stop()
    assert not errors, errors
    for cid in range(5):
        want = [("%d-%d" % (cid, i), fib((cid * 7 + i) % 25)) for i in range(15)]
        assert sorted(results[cid]) == sorted(want), cid
