"""A compacted stream in a two-node cluster: the leader's compaction of a
sealed segment reaches the follower (ST_REPL_COMPACT: the follower redoes
the rewrite on its copy), so the follower's stream files end byte for
byte like the leader's, and once promoted it serves from `first` only the
live keys, at the offsets the leader gave them.
"""
import os
import time

import pika
import pytest

from cluster_helpers import wait_for

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)

from test_cluster import etcd, nodes  # noqa: E402,F401 (fixtures)


def read_from_first(port, queue, idle=1.0):
    """[(offset, key, body)] of everything a consumer from first gets."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    got = []

    def on(c, method, props, body):
        h = props.headers or {}
        got.append((h["x-stream-offset"], h.get("k"), body))
        c.basic_ack(method.delivery_tag)
    ch.basic_consume(queue, on, arguments={"x-stream-offset": "first"})
    last, n = time.time(), 0
    while time.time() - last < idle:
        conn.process_data_events(time_limit=0.1)
        if len(got) != n:
            n, last = len(got), time.time()
    conn.close()
    return got


def stream_files(node):
    return {p: b for p, b in node.files().items() if p.startswith("streams/")}


def test_compaction_reaches_the_follower_and_survives_promotion(nodes):
    a = nodes("a").start()
    port = a.wait_leader()
    b = nodes("b").start()
    a.wait_log("follower b caught up")
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("state", durable=True, arguments={
        "x-queue-type": "stream", "x-stream-compaction-key": "k",
        "x-stream-max-segment-size-bytes": 3000})

    def pub(key, body):
        ch.basic_publish("", "state", body, pika.BasicProperties(headers={"k": key}))
    for rnd in range(10):
        for key in ["a", "b", "c"]:
            pub(key, b"%s-%d" % (key.encode(), rnd))
    pub("b", b"")                                   # tombstone: b goes
    for i in range(40):                             # seal segments past the keys
        pub("filler", b"f%d-" % i + b"f" * 200)
    conn.close()

    def compacted():
        got = read_from_first(port, "state", idle=0.5)
        keyed = [(o, bd) for o, k, bd in got if k != "filler"]
        return got if len(keyed) == 3 else None
    on_a = wait_for(compacted, 20, "the leader to compact")
    keyed = [(o, bd) for o, k, bd in on_a if k != "filler"]
    assert keyed == [(27, b"a-9"), (29, b"c-9"), (30, b"")], keyed
    # the follower's copy ends byte for byte like the leader's
    wait_for(lambda: stream_files(a) == stream_files(b), 20,
             "b's stream files to match a's (compaction replicated)")
    segs = [p for p in stream_files(b) if p.endswith(".seg")]
    assert len(segs) > 2
    # promoted, b serves the live keys once, at the same offsets
    a.kill()
    on_b = read_from_first(b.wait_leader(30), "state")
    assert on_b == on_a
