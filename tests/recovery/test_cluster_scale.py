"""The cluster at scale, on loopback: one etcd and up to three sluiced.

- full copy: a follower joins a leader that already holds many messages
  (CLUSTER_SYNC_MESSAGES, 20000 by default; 1000000 for the full run):
  the time and the bytes the copy took are printed, the follower ends
  with the leader's files and, once it leads, every message;
- failover under load: two publishers in confirm mode and a consumer,
  the leader killed with SIGKILL CLUSTER_KILL_ROUNDS times in a row (3
  by default; 20 for the full run): after each, a new leader (the time
  it took is printed, and their distribution at the end), no confirmed
  message lost, every confirmed message delivered, none delivered that
  was never published.

    CLUSTER_SYNC_MESSAGES=1000000 CLUSTER_KILL_ROUNDS=20 \\
        /usr/bin/python3 -m pytest -s tests/recovery/test_cluster_scale.py

Timings are printed, never asserted (the machine is shared).
"""
import os
import re
import statistics
import threading
import time

import pika
import pytest

from cluster_helpers import ClusterNode, Etcd, etcd, nodes, wait_for  # noqa: F401 (fixtures)
from recovery_helpers import Publisher

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)


def log_time(node, text):
    """Seconds (UTC, from the log's own timestamp) of the first line with text."""
    for line in node.lines:
        if text in line:
            m = re.match(r"\S+T(\d+):(\d+):(\d+\.\d+)Z", line)
            return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    raise AssertionError("%r not in the log of %s" % (text, node.name))


def queue_length(port, queue):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    n = conn.channel().queue_declare(queue, passive=True).method.message_count
    conn.close()
    return n


def fill(port, queue, total, pad):
    """total persistent messages, confirmed, from four pipelined publishers."""
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    conn.channel().queue_declare(queue, durable=True)
    conn.close()
    pubs = [Publisher(port, queue, "f%d" % i, window=2048, body_pad=pad) for i in range(4)]
    for p in pubs:
        p.start()
    wait_for(lambda: sum(len(p.confirmed) for p in pubs) >= total or
             any(p.error for p in pubs), 3600, "%d confirms" % total)
    for p in pubs:
        p.stop()
    for p in pubs:
        p.join(60)
    assert not any(p.error for p in pubs), [p.error for p in pubs]
    return sum(len(p.confirmed) for p in pubs)


def tails(trio, n=15):
    return "\n".join("--- %s:\n%s" % (x.name, "".join(x.lines[-n:])) for x in trio)


def test_full_copy_of_a_leader_holding_many_messages(nodes):
    total = int(os.environ.get("CLUSTER_SYNC_MESSAGES", "20000"))
    # a long lease: this is about the copy, not about fencing a busy leader
    a = nodes("a", ["cluster.min_in_sync_followers=0", "cluster.lease_ttl=15"]).start()
    port = a.wait_leader()
    t0 = time.time()
    try:
        confirmed = fill(port, "big", total, pad=100)
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, tails([a])))
    filled = time.time() - t0
    held = queue_length(port, "big")
    assert held >= confirmed
    b = nodes("b", ["cluster.min_in_sync_followers=0", "cluster.lease_ttl=15"]).start()
    a.wait_log("follower b caught up", timeout=3600)
    took = log_time(a, "follower b caught up") - log_time(a, "follower b (")
    sent = [int(l.split("follower b: ")[1].split()[0]) for l in a.lines
            if "follower b: " in l and "bytes of files sent" in l]
    assert len(sent) == 1
    wait_for(lambda: a.files() == b.files(), 120, "b to hold a's files")
    # only a node of the in-sync set may be elected
    a.wait_log("b is in the in-sync set", timeout=60)
    print("\nfull copy of %d messages (%d bytes of journal): %d bytes sent in %.2f s "
          "(%.1f MB/s); filling took %.1f s"
          % (held, sum(len(v) for k, v in a.files().items() if k.startswith("journal")),
             sent[0], took, sent[0] / max(took, 1e-3) / 1e6, filled))
    a.kill()
    assert queue_length(b.wait_leader(90), "big") == held


class Consumer(threading.Thread):
    """Consumes `queue` with acknowledgements through whichever node
    answers (a follower proxies to the leader), reconnecting after each
    failover; `got` holds every body delivered (with redeliveries)."""

    def __init__(self, ports, queue):
        super().__init__(daemon=True)
        self.ports, self.queue = ports, queue
        self.got, self.connects = [], 0
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()

    def _session(self, port):
        params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                           connection_attempts=1, socket_timeout=5)
        conn = pika.BlockingConnection(params)
        self.connects += 1
        ch = conn.channel()
        ch.basic_qos(prefetch_count=500)
        for method, _, body in ch.consume(self.queue, inactivity_timeout=0.5):
            if self._halt.is_set():
                break
            if method is None:
                continue
            self.got.append(body)
            ch.basic_ack(method.delivery_tag)
        conn.close()

    def run(self):
        i = 0
        while not self._halt.is_set():
            i += 1
            try:
                self._session(self.ports[i % len(self.ports)])
            except (pika.exceptions.AMQPError, OSError, AttributeError):
                time.sleep(0.2)


def test_failover_under_load(nodes):
    rounds = int(os.environ.get("CLUSTER_KILL_ROUNDS", "3"))
    trio = [nodes(n) for n in "abc"]
    a, b, c = trio
    a.start().wait_leader()
    b.start()
    c.start()
    a.wait_log("b is in the in-sync set")
    a.wait_log("c is in the in-sync set")
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", a.port))
    conn.channel().queue_declare("load", durable=True)
    conn.close()
    consumer = Consumer([n.amqp_port for n in trio], "load")
    consumer.start()
    leader, pubs, times = a, [], []
    for rnd in range(rounds):
        # two publishers in confirm mode: one to the leader, one through a follower
        via = next(n for n in trio if n is not leader)
        mine = [Publisher(leader.port, "load", "r%dp0" % rnd, window=128),
                Publisher(via.amqp_port, "load", "r%dp1" % rnd, window=128)]
        for p in mine:
            p.start()
        wait_for(lambda: all(len(p.confirmed) >= 50 for p in mine) or
                 any(p.error for p in mine), 30, "confirms in round %d" % rnd)
        time.sleep(0.3)
        leader.kill()
        t0 = time.time()
        for p in mine:
            p.join(20)
        pubs += mine
        new = wait_for(lambda: next((n for n in trio if n is not leader and n.port), None),
                       60, lambda: "a new leader\n" + tails(trio))
        times.append(time.time() - t0)
        print("round %d: %s killed, %s leads after %.2f s; confirmed %s"
              % (rnd, leader.name, new.name, times[-1], [len(p.confirmed) for p in mine]))
        # the killed node comes back as a follower; every follower in sync
        # again before the next kill
        seen = new.count("%s is in the in-sync set" % leader.name)
        leader.start()
        new.wait_log("%s is in the in-sync set" % leader.name, n=seen + 1, timeout=60)
        for n in trio:
            if n is not new and n is not leader:
                wait_for(lambda: new.count("%s is in the in-sync set" % n.name) >
                         new.count("%s is out of the in-sync set" % n.name), 60,
                         "%s in sync" % n.name)
        leader = new
    confirmed = {("%s:%d" % (p.prefix, n)).encode() for p in pubs for n in p.confirmed}
    sent = {("%s:%d" % (p.prefix, n)).encode() for p in pubs for n in p.sent}
    wait_for(lambda: confirmed <= set(consumer.got), 120,
             "every confirmed message delivered (%d missing)"
             % len(confirmed - set(consumer.got)))
    consumer.stop()
    consumer.join(10)
    got = set(consumer.got)
    assert got <= sent, "delivered but never published: %s" % sorted(got - sent)[:5]
    print("%d rounds: %d confirmed, %d delivered (%d with redeliveries), consumer "
          "connected %d times" % (rounds, len(confirmed), len(got), len(consumer.got),
                                  consumer.connects))
    print("new leader after (s): min %.2f median %.2f max %.2f; all: %s"
          % (min(times), statistics.median(times), max(times),
             " ".join("%.2f" % t for t in times)))
