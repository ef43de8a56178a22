"""kill -9 and stream queues: confirmed messages are in the stream after a
restart, in order, with the same offsets, and a consumer replays them from
"first"; a named consumer's stored offset survives too.

Each round publishes into a stream with a pipelined confirm-mode
publisher, kills sluiced with SIGKILL at a random moment, starts it again
on the same data directory and reads the whole stream from "first".
"""
import random
import time

import pika

from recovery_helpers import Node, Publisher

S = {"x-queue-type": "stream"}
ROUNDS = 3
PREFETCH, ACK_EVERY = 500, 100


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))


def mark_end(port, queue, marker):
    """Append marker to the stream, confirmed: a reader from "first" that
    reaches it has read everything the broker recovered before it."""
    conn = connect(port)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("", queue, marker, pika.BasicProperties(delivery_mode=2))
    conn.close()


def read_all(port, queue, args=None, want=None, timeout=60, ack_upto=None, until=None):
    """(offset, body) of everything readable now, from args' start: until
    the body until arrives, want deliveries, or (neither given) 2 s
    without anything new. Each
    delivery below ack_upto is acknowledged by itself; without ack_upto
    (nothing stored by name) one ack(multiple) per ACK_EVERY deliveries
    keeps the credit flowing at a fraction of the cost."""
    conn = connect(port)
    ch = conn.channel()
    ch.basic_qos(prefetch_count=PREFETCH)
    got = []

    def on(c, m, p, b):
        got.append((p.headers["x-stream-offset"], b))
        if ack_upto is None:
            if len(got) % ACK_EVERY == 0:
                c.basic_ack(m.delivery_tag, multiple=True)
        elif p.headers["x-stream-offset"] < ack_upto:
            c.basic_ack(m.delivery_tag)
    ch.basic_consume(queue, on, arguments=args or {"x-stream-offset": "first"})
    end = time.time() + timeout
    last, idle = -1, 0
    while time.time() < end:
        conn.process_data_events(0.2)
        if want is not None and len(got) >= want:
            break
        if until is not None:
            if got and got[-1][1] == until:
                break
            continue
        idle = idle + 1 if len(got) == last else 0
        if want is None and idle >= 10:     # 2 s without anything new
            break
        last = len(got)
    conn.close()
    return got


def test_kill9_keeps_confirmed_stream_messages_and_offsets(tmp_path):
    rng = random.Random()
    node = Node(str(tmp_path / "data")).start()
    c = connect(node.port)
    c.channel().queue_declare("events", durable=True, arguments=S)
    c.close()
    confirmed_total = set()
    try:
        for rnd in range(ROUNDS):
            pub = Publisher(node.port, "events", "r%d" % rnd,
                            window=rng.choice([1, 64, 512]))
            pub.start()
            time.sleep(rng.uniform(0.2, 0.6))
            node.kill()
            pub.join(10)
            node.start()
            end = b"end-%d" % rnd
            mark_end(node.port, "events", end)
            got = read_all(node.port, "events", until=end)
            assert got and got[-1][1] == end, "the stream's end was not reached"
            offs = [o for o, _ in got]
            assert offs == list(range(len(got))), "offsets are 0.. without gaps"
            bodies = [b.decode() for _, b in got]
            mine = [int(b.split(":")[1]) for b in bodies if b.startswith("r%d:" % rnd)]
            assert mine == sorted(mine), "publish order kept"
            assert len(mine) == len(set(mine))
            missing = pub.confirmed - set(mine)
            assert not missing, "confirmed but lost: %d" % len(missing)
            confirmed_total |= {(rnd, n) for n in pub.confirmed}
            # the same offsets after one more crash, with nothing published
            node.kill()
            node.start()
            assert read_all(node.port, "events", want=len(got)) == got, \
                "offsets moved on restart"
        assert confirmed_total
    finally:
        node.stop()


def test_stored_offset_survives_kill9(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    c = connect(node.port)
    ch = c.channel()
    ch.queue_declare("orders", durable=True, arguments=S)
    ch.confirm_delivery()
    for i in range(50):
        ch.basic_publish("", "orders", b"o%d" % i)
    c.close()
    try:
        named = {"x-stream-offset": "first", "x-stream-consumer-name": "billing"}
        got = read_all(node.port, "orders", named, want=50, ack_upto=30)
        assert len(got) == 50
        time.sleep(1.5)             # stored offsets are written once a second
        node.kill()
        node.start()
        # no x-stream-offset: a known name resumes after its last ack
        again = read_all(node.port, "orders", {"x-stream-consumer-name": "billing"}, want=20)
        assert [o for o, _ in again] == list(range(30, 50))
        # another name has no stored offset: it starts at "next"
        other = read_all(node.port, "orders", {"x-stream-consumer-name": "audit"}, timeout=1)
        assert other == []
    finally:
        node.stop()
