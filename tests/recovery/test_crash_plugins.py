"""kill -9 and the plugin exchange types: a persistent deduplication cache
keeps a producer that retries across a crash from making a duplicate, and
persistent delayed messages fire at their original due time after a
restart (or at once, if it passed while the broker was down).
"""
import random
import time

import pika

from recovery_helpers import Node, raw_channel  # also puts amqpraw on the path
import amqpraw  # noqa: E402
from amqpraw import BASIC, CONFIRM  # noqa: E402


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def count_bodies(port, queue):
    c = connect(port)
    ch = c.channel()
    out = []
    while True:
        m, p, b = ch.basic_get(queue, auto_ack=True)
        if m is None:
            break
        out.append(b)
    c.close()
    return out


def raw_publish(port, exchange, body, headers):
    """Publish persistent, in confirm mode, and do not wait for the confirm."""
    conn = raw_channel(port)
    conn.send(amqpraw.method_frame(1, CONFIRM, 10, b"\x00"))
    conn.expect_method(CONFIRM, 11)
    props = amqpraw.table(headers) + b"\x02"          # headers, delivery-mode 2
    conn.send(amqpraw.method_frame(1, BASIC, 40, amqpraw.publish_args(exchange, ""))
              + amqpraw.header_frame(1, len(body), flags=0x3000, props=props)
              + amqpraw.body_frame(1, body))
    return conn


def test_dedup_retry_across_kill9_makes_no_duplicate(tmp_path):
    rng = random.Random()
    node = Node(str(tmp_path / "data")).start()
    c = connect(node.port)
    ch = c.channel()
    ch.exchange_declare("dedup", "x-message-deduplication", durable=True,
                        arguments={"x-cache-size": 1000, "x-cache-persistence": "disk"})
    ch.queue_declare("orders", durable=True)
    ch.queue_bind("orders", "dedup", "")
    c.close()
    try:
        values = []
        for rnd in range(6):
            v = "order-%d" % rnd
            values.append(v)
            conn = raw_publish(node.port, "dedup", v.encode(),
                               {"x-deduplication-header": v})
            time.sleep(rng.choice([0, 0.001, 0.005, 0.05]))
            node.kill()                     # between the publish and its confirm
            conn.close()
            node.start()
            c = connect(node.port)
            ch = c.channel()
            ch.confirm_delivery()           # the retry is confirmed either way
            ch.basic_publish("dedup", "", v.encode(), pika.BasicProperties(
                delivery_mode=2, headers={"x-deduplication-header": v}))
            c.close()
        bodies = count_bodies(node.port, "orders")
        assert sorted(bodies) == sorted(v.encode() for v in values), \
            "each retried message exactly once"
    finally:
        node.stop()


def test_delayed_messages_fire_at_their_time_after_kill9(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    c = connect(node.port)
    ch = c.channel()
    ch.exchange_declare("later", "x-delayed-message", durable=True,
                        arguments={"x-delayed-type": "direct"})
    ch.queue_declare("jobs", durable=True)
    ch.queue_bind("jobs", "later", "job")
    ch.confirm_delivery()
    t0 = time.time()
    for name, delay in [("passed", 500), ("soon", 4000), ("far", 600000)]:
        ch.basic_publish("later", "job", name.encode(), pika.BasicProperties(
            delivery_mode=2, headers={"x-delay": delay}))
    ch.basic_publish("later", "job", b"transient", pika.BasicProperties(
        headers={"x-delay": 500}))
    c.close()
    try:
        node.kill()
        time.sleep(1.0)                     # "passed" fell due while down
        node.start()
        got = {}
        while time.time() - t0 < 8 and "soon" not in got:
            for b in count_bodies(node.port, "jobs"):
                got[b.decode()] = time.time() - t0
            time.sleep(0.05)
        assert "passed" in got and got["passed"] < 4.0, "due while down: at once"
        assert "soon" in got and got["soon"] >= 4.0, "never before its time"
        assert "far" not in got and "transient" not in got
        node.stop()
        node.start()                        # a clean restart keeps "far" held
        c = connect(node.port)
        assert c.channel().queue_declare("jobs", durable=True).method.message_count == 0
        c.close()
    finally:
        node.stop()
