"""What happens to messages across restarts when time passes, files are
damaged, space runs low, or a steady load runs for a while."""
import glob
import os
import time

import pika
import pytest

from recovery_helpers import Node, Publisher, drain

P = pika.BasicProperties(delivery_mode=2)


def connect(node):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", node.port, socket_timeout=10, stack_timeout=20))


def publish_confirmed(node, queue, bodies, props=P, **declare):
    conn = connect(node)
    ch = conn.channel()
    ch.confirm_delivery()
    if declare is not None:
        ch.queue_declare(queue, durable=True, **declare)
    for b in bodies:
        ch.basic_publish("", queue, b, props)
    conn.close()


def test_ttl_counts_from_publish_and_dead_letters_at_start(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = connect(node)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("dlq", durable=True)
        ch.queue_declare("ttlq", durable=True, arguments={
            "x-message-ttl": 1500, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "dlq"})
        ch.queue_declare("perq", durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"})
        ch.basic_publish("", "ttlq", b"queue-ttl", P)
        ch.basic_publish("", "perq", b"msg-ttl",
                         pika.BasicProperties(delivery_mode=2, expiration="1500"))
        ch.basic_publish("", "perq", b"long-ttl",
                         pika.BasicProperties(delivery_mode=2, expiration="600000"))
        conn.close()
        node.kill()
        time.sleep(2.0)                           # both TTLs run out while down
        node.start()
        assert drain(node.port, "ttlq") == []
        assert [b for b, _ in drain(node.port, "perq")] == [b"long-ttl"]
        conn = connect(node)
        ch = conn.channel()
        got = []
        for _ in range(2):
            m, props, body = ch.basic_get("dlq", auto_ack=True)
            assert m is not None, "expired message was not dead-lettered"
            got.append((body, props.headers["x-death"][0]["reason"],
                        props.headers["x-death"][0]["queue"]))
        assert sorted(got) == [(b"msg-ttl", "expired", "perq"),
                               (b"queue-ttl", "expired", "ttlq")]
        conn.close()
    finally:
        node.kill()


def test_delivery_count_and_x_death_survive(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = connect(node)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.queue_declare("src", durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dst"})
        ch.queue_declare("dst", durable=True)
        ch.basic_publish("", "src", b"m", P)
        m, _, _ = ch.basic_get("src")
        ch.basic_reject(m.delivery_tag, requeue=False)   # -> dst with x-death
        ch.basic_publish("", "dst", b"probe", P)          # orders after the copy
        conn.close()
        node.kill()
        node.start()
        conn = connect(node)
        ch = conn.channel()
        m, props, body = ch.basic_get("dst", auto_ack=True)
        assert body == b"m"
        death = props.headers["x-death"][0]
        assert death["reason"] == "rejected" and death["queue"] == "src"
        assert props.delivery_mode == 2
        conn.close()
    finally:
        node.kill()


def last_segment(node):
    segs = node.segments()
    assert segs, "no journal segment"
    return segs[-1]


def test_torn_tail_is_truncated(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        publish_confirmed(node, "torn", [b"m%d" % i for i in range(50)])
        node.kill()
        with open(last_segment(node), "ab") as f:
            f.write(b"\x40\x00\x00\x00\xde\xad\xbe\xef\x01partial record")
        node.start()
        assert [b for b, _ in drain(node.port, "torn")] == [b"m%d" % i for i in range(50)]
        publish_confirmed(node, "torn", [b"after"])
        node.kill()
        node.start()
        assert [b for b, _ in drain(node.port, "torn")] == [b"after"]
    finally:
        node.kill()


def test_mid_segment_corruption_is_skipped(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        bodies = [(b"%04d" % i) + b"." * 1000 for i in range(200)]
        publish_confirmed(node, "bad", bodies)
        node.kill()
        seg = last_segment(node)
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:
            f.seek(size // 2)
            f.write(b"\xff" * 16)
        node.start()
        got = [b for b, _ in drain(node.port, "bad")]
        assert 190 <= len(got) < 200, "one or two records lost, the rest served"
        assert got == sorted(got), "order kept"
        assert set(got) <= set(bodies)
        log = node.log().lower()
        assert "crc" in log or "corrupt" in log or "skipp" in log, node.log()
    finally:
        node.kill()


def test_disk_alarm_blocks_publishers(tmp_path):
    huge = "journal.disk_free_limit=%d" % (1024 ** 5)   # 1 PiB: always low
    node = Node(str(tmp_path / "data"), sets=[huge]).start()
    try:
        time.sleep(0.2)
        blocked = []
        conn = connect(node)
        conn.add_on_connection_blocked_callback(lambda c, m: blocked.append(m))
        ch = conn.channel()
        ch.queue_declare("alarm", durable=True)
        ch.basic_publish("", "alarm", b"x", P)
        deadline = time.time() + 5
        while not blocked and time.time() < deadline:
            conn.process_data_events(0.1)
        assert "disk" in node.log().lower(), node.log()
        if not blocked:
            pytest.skip("the AMQP adapter does not send connection.blocked yet")
        # a blocked connection is not read from, not even its close: leave it
    finally:
        node.kill()


def test_steady_load_does_not_grow_the_journal(tmp_path):
    node = Node(str(tmp_path / "data"), sets=["journal.segment_size=64k"]).start()
    try:
        conn = connect(node)
        ch = conn.channel()
        ch.queue_declare("steady", durable=True)
        ch.basic_qos(prefetch_count=500)
        conn.close()
        sizes = []
        for rnd in range(4):
            pub = Publisher(node.port, "steady", "s%d" % rnd, window=256, body_pad=200)
            pub.start()
            time.sleep(1.0)
            pub.stop()
            pub.join(10)
            assert len(drain(node.port, "steady")) >= len(pub.confirmed)
            time.sleep(0.5)
            sizes.append(node.journal_bytes())
        # each round writes megabytes; settled segments must go away
        assert max(sizes[1:]) < 4 * 1024 * 1024, sizes
        assert len(node.segments()) < 40, node.segments()
    finally:
        node.kill()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_backlog_ten_times_the_memory_budget(tmp_path):
    budget = 2 * 1024 * 1024
    node = Node(str(tmp_path / "data"), sets=["journal.memory_budget=2M"]).start()
    try:
        conn = connect(node)
        conn.channel().queue_declare("big", durable=True)
        conn.close()
        base = rss_kb(node.proc.pid)
        pub = Publisher(node.port, "big", "b", window=512, body_pad=4000)
        pub.start()
        deadline = time.time() + 20
        while len(pub.confirmed) < 10 * budget // 4000 and time.time() < deadline:
            time.sleep(0.1)
        pub.stop()
        pub.join(10)
        n = len(pub.confirmed)
        assert n * 4000 >= 10 * budget, "backlog not accepted"
        grown = rss_kb(node.proc.pid) - base
        if not {"ASAN_OPTIONS", "TSAN_OPTIONS"} & set(os.environ):  # sanitizers keep freed memory
            assert grown * 1024 < 6 * budget, "bodies stayed in RAM (%d KiB)" % grown
        got = drain(node.port, "big")
        seqs = [int(b.split(b":")[1][:-4000]) for b, _ in got]
        assert seqs[:n] == list(range(1, n + 1))
        assert all(len(b) > 4000 for b, _ in got)
        # again, across a restart: recovery keeps bodies on disk too
        pub = Publisher(node.port, "big", "c", window=512, body_pad=4000)
        pub.start()
        while len(pub.confirmed) < 10 * budget // 4000 and time.time() < deadline + 20:
            time.sleep(0.1)
        pub.stop()
        pub.join(10)
        node.kill()
        node.start()
        got = drain(node.port, "big")
        seqs = [int(b.split(b":")[1][:-4000]) for b, _ in got]
        assert set(pub.confirmed) <= set(seqs) and seqs == sorted(seqs)
    finally:
        node.kill()
