"""A follower fsyncs and acknowledges once per burst of the leader's
stream, not once per read: libevent hands it 4 KiB at a time, and an
fsync (plus an acknowledgement) per 4 KiB made a follower, and with it
every confirm, several times slower than the leader alone. Counted, not
timed: the follower is stopped while the leader queues ~2 MB of batches
for it, then resumed; the acknowledgements it sends while catching up
are read off a relay between the two nodes."""
import struct
import time

import pika

from cluster_helpers import wait_for
from test_cluster import etcd, nodes  # noqa: F401 (fixtures)
from test_cluster_tls import Relay


def frames(stream):
    """[(type, payload)] of the replication frames in stream."""
    out, i = [], 0
    while i + 5 <= len(stream):
        n = struct.unpack("!I", stream[i:i + 4])[0]
        if i + 4 + n > len(stream):
            break
        out.append((stream[i + 4:i + 5], stream[i + 5:i + 4 + n]))
        i += 4 + n
    return out


def acks(relay):
    return [struct.unpack("!Q", p)[0] for t, p in frames(relay.bytes(relay.upstream))
            if t == b"A"]


def test_follower_acknowledges_once_per_burst(nodes):
    a = nodes("a", ["cluster.replication_bind=127.0.0.2", "cluster.advertised_host=127.0.0.3",
                    "cluster.min_in_sync_followers=0"])
    relay = Relay("127.0.0.3", a.repl_port, ("127.0.0.2", a.repl_port))
    try:
        port = a.start().wait_leader()
        b = nodes("b").start()
        a.wait_log("b is in the in-sync set")
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        ch = conn.channel()
        ch.queue_declare("q", durable=True)
        wait_for(lambda: acks(relay), 10, "b's first acknowledgement")
        before = len(acks(relay))
        b.pause(True)
        # no confirms: the leader keeps sealing while b cannot read
        body = b"x" * 1024
        for _ in range(2000):
            ch.basic_publish("", "q", body, pika.BasicProperties(delivery_mode=2))
        conn.process_data_events(0)
        time.sleep(0.5)
        b.pause(False)
        wait_for(lambda: a.files() == b.files(), 20, "b to catch up")
        wait_for(lambda: not a.count("disconnecting it"), 1, "b to stay connected")
        # b acknowledges after its fsync, which may come after its files
        # match a's, and the relay forwards it a moment later: count once
        # its acknowledgements have come and stopped coming (0.5 s)
        wait_for(lambda: len(acks(relay)) > before, 10, "b's acknowledgements")
        seen = []

        def settled():
            seen.append(len(acks(relay)))
            return len(seen) > 10 and seen[-1] == seen[-11]
        wait_for(settled, 10, "b's acknowledgements to stop")
        conn.close()
        during = len(acks(relay)) - before
        print("acknowledgements while catching up on ~2 MB: %d" % during)
        assert 1 <= during <= 40, "one fsync and acknowledgement per read, not per burst"
        assert acks(relay) == sorted(acks(relay))
    finally:
        relay.close()
