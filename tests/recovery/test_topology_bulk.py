"""Many durable queues declared and bound back to back (pipelined on one
channel, as a deploy script does) survive kill -9 right after the last
-ok, deletions among them stay deleted, and a clean stop leaves every one
in the definitions file. Enough of them that the declares are journal
records and the file absorbs them more than once along the way."""
import json
import os
import struct

import pika
import pytest

import amqpraw as raw
from amqpraw import QUEUE
from recovery_helpers import Node, raw_channel

N = 600


def qname(i):
    return "bulk.q.%d" % i


def declare_and_bind(port, names):
    """queue.declare (durable) + queue.bind to bulk.x for every name, pipelined."""
    c = raw_channel(port)
    out = b""
    for name in names:
        out += raw.method_frame(1, QUEUE, 10, raw.queue_declare_args(name, durable=True))
        out += raw.method_frame(1, QUEUE, 20, struct.pack("!H", 0) + raw.shortstr(name)
                                + raw.shortstr("bulk.x") + raw.shortstr(name) + b"\x00"
                                + raw.table({}))
    c.send(out)
    for _ in names:
        c.expect_method(QUEUE, 11, timeout=120)
        c.expect_method(QUEUE, 21, timeout=120)
    return c                            # left open: the kill comes first


def check_present(port, names):
    """Each queue exists (passive declare) and its binding routes."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", port, socket_timeout=30, stack_timeout=60))
    ch = conn.channel()
    for name in names:
        ch.queue_declare(name, passive=True)
    for name in names[::97]:
        ch.basic_publish("bulk.x", name, b"routed")
        assert ch.queue_declare(name, passive=True).method.message_count == 1, name
        ch.queue_purge(name)
    conn.close()


def check_absent(port, names):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    for name in names:
        ch = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
            ch.queue_declare(name, passive=True)
        assert e.value.reply_code == 404, name
    conn.close()


def test_bulk_durable_declares_survive(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        conn.channel().exchange_declare("bulk.x", "direct", durable=True)
        conn.close()
        declare_and_bind(node.port, [qname(i) for i in range(N)])
        node.kill()

        node.start()
        check_present(node.port, [qname(i) for i in range(N)])
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        ch = conn.channel()
        for i in range(0, 40, 4):
            ch.queue_delete(qname(i))
        ch.queue_unbind(qname(1), "bulk.x", qname(1))
        conn.close()
        declare_and_bind(node.port, [qname(i) for i in range(N, N + 50)])
        node.kill()

        gone = [qname(i) for i in range(0, 40, 4)]
        kept = [qname(i) for i in range(N + 50) if qname(i) not in gone]
        node.start()
        check_absent(node.port, gone)
        check_present(node.port, [n for n in kept if n != qname(1)])
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        ch = conn.channel()
        ch.basic_publish("bulk.x", qname(1), b"unbound")
        assert ch.queue_declare(qname(1), passive=True).method.message_count == 0
        conn.close()
        node.stop()

        with open(os.path.join(node.data_dir, "definitions.json")) as f:
            doc = json.load(f)
        assert {q["name"] for q in doc["queues"]} == set(kept)
        bound = {b["destination"] for b in doc["bindings"] if b["source"] == "bulk.x"}
        assert bound == set(kept) - {qname(1)}
        node.start()                    # once more: nothing stale comes back
        check_absent(node.port, gone)
        check_present(node.port, kept[-3:])
    finally:
        node.kill()
