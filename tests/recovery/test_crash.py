"""kill -9 during a stream of confirmed persistent publishes.

Each round starts sluiced on the same data directory, publishes to a
durable queue with a pipelined confirm-mode publisher, kills the broker
with SIGKILL at a random moment, starts it again and drains the queue:
every confirmed message must be there, in publish order, none twice, and
nothing that was never published. Rounds are bounded so the whole test
stays under about a minute.
"""
import random
import time

import pika
import pytest

from recovery_helpers import Node, Publisher, drain

ROUNDS = 6


def declare(port, queue):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    conn.channel().queue_declare(queue, durable=True)
    conn.close()


def check_round(prefix, pub, got):
    mine = [b for b, _ in got if b.split(b":")[0] == prefix.encode()]
    seqs = [int(b.split(b":")[1]) for b in mine]
    assert len(mine) == len(got), "messages of another round came back"
    assert seqs == sorted(seqs), "recovered out of publish order"
    assert len(seqs) == len(set(seqs)), "a message came back twice"
    sent = set(pub.sent)
    assert set(seqs) <= sent, "a message that was never published"
    missing = pub.confirmed - set(seqs)
    assert not missing, "confirmed but lost: %d of %d (e.g. %s)" % (
        len(missing), len(pub.confirmed), sorted(missing)[:5])
    assert all(r for _, r in got), "recovered messages must be redelivered"
    return len(pub.confirmed), len(seqs)


def test_kill9_loses_no_confirmed_message(tmp_path):
    rng = random.Random()
    node = Node(str(tmp_path / "data")).start()
    declare(node.port, "crash")
    total_confirmed = 0
    try:
        for rnd in range(ROUNDS):
            prefix = "r%d" % rnd
            pub = Publisher(node.port, "crash", prefix, window=rng.choice([1, 64, 512]))
            pub.start()
            time.sleep(rng.uniform(0.2, 1.5))
            node.kill()
            pub.join(10)
            node.start()
            got = drain(node.port, "crash")
            confirmed, recovered = check_round(prefix, pub, got)
            total_confirmed += confirmed
            assert recovered >= confirmed
            print("round %d: %d sent, %d confirmed, %d recovered" % (
                rnd, len(pub.sent), confirmed, recovered))
        assert total_confirmed > 0, "nothing was ever confirmed"
    finally:
        node.kill()


def test_unacked_deliveries_come_back_redelivered(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("rd", durable=True)
        for i in range(5):
            ch.basic_publish("", "rd", b"m%d" % i, pika.BasicProperties(delivery_mode=2))
        got = [ch.basic_get("rd", auto_ack=False) for _ in range(3)]
        assert [b for _, _, b in got] == [b"m0", b"m1", b"m2"]
        assert not any(m.redelivered for m, _, _ in got)
        ch.basic_ack(got[0][0].delivery_tag)     # m0 is done
        conn.process_data_events(0.2)
        node.kill()
        node.start()
        back = drain(node.port, "rd")
        assert [b for b, _ in back] == [b"m1", b"m2", b"m3", b"m4"]
        assert all(r for _, r in back)
    finally:
        node.kill()


def test_transient_messages_do_not_survive(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("mix", durable=True)
        ch.basic_publish("", "mix", b"t1", pika.BasicProperties(delivery_mode=1))
        ch.basic_publish("", "mix", b"p1", pika.BasicProperties(delivery_mode=2))
        ch.basic_publish("", "mix", b"t2")
        ch.basic_publish("", "mix", b"p2", pika.BasicProperties(delivery_mode=2))
        node.kill()
        node.start()
        assert [b for b, _ in drain(node.port, "mix")] == [b"p1", b"p2"]
    finally:
        node.kill()


def test_tx_commit_is_durable(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        ch = conn.channel()
        ch.queue_declare("txq", durable=True)
        ch.tx_select()
        for i in range(100):
            ch.basic_publish("", "txq", b"%d" % i, pika.BasicProperties(delivery_mode=2))
        ch.tx_commit()
        node.kill()
        node.start()
        assert [b for b, _ in drain(node.port, "txq")] == [b"%d" % i for i in range(100)]
    finally:
        node.kill()
