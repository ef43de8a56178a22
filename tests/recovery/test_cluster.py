"""A replicated cluster on loopback: one etcd, two sluiced nodes.

A follower copies the leader's files and then follows its journal live;
a confirm waits until the follower has the message; kill -9 of the
leader hands the queue to the follower with every confirmed message;
a leader cut off from etcd stops (fencing); a restarted follower fetches
only what changed. Failover times are printed (pytest -s shows them).
"""
import glob
import os
import random
import subprocess
import time

import pytest

from cluster_helpers import (ClusterNode, Etcd, etcd, nodes,  # noqa: F401 (fixtures)
                             publish_confirmed, wait_for)
from recovery_helpers import PERSISTENT_FLAGS, PERSISTENT_PROPS, SLUICED, Publisher, drain
import amqpraw  # noqa: E402 (recovery_helpers puts tests/integration on the path)
from amqpraw import BASIC, CONFIRM, QUEUE  # noqa: E402
from test_crash import check_round
from test_journal_prealloc import SpareWatch

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)


def journal_bytes(node):
    d = os.path.join(node.data_dir, "journal")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def test_follower_copies_then_follows_and_resumes(nodes):
    seg = ["journal.segment_size=64k", "cluster.min_in_sync_followers=0"]
    a = nodes("a", seg).start()
    port = a.wait_leader()
    publish_confirmed(port, "q", [b"early-%d" % i + b"x" * 1000 for i in range(600)])
    b = nodes("b", seg).start()
    a.wait_log("follower b caught up")
    publish_confirmed(port, "q", [b"live-%d" % i for i in range(300)])
    wait_for(lambda: a.files() == b.files(), 20, "b to hold a's files")
    assert len([f for f in a.files() if f.startswith("journal")]) > 3
    # b away: a keeps journaling; back, b fetches what changed only
    b.kill()
    publish_confirmed(port, "q", [b"later-%d" % i for i in range(50)])
    b.start()
    a.wait_log("follower b caught up", n=2)
    wait_for(lambda: a.files() == b.files(), 20, "b to hold a's files again")
    sent = [int(l.split("follower b: ")[1].split()[0]) for l in a.lines
            if "follower b: " in l and "bytes of files sent" in l]
    assert len(sent) == 2
    total = journal_bytes(a)
    print("full copy %d bytes, resumed copy %d bytes, journal %d bytes"
          % (sent[0], sent[1], total))
    assert sent[0] >= total * 0.5
    assert sent[1] < total / 3, "a restarted follower must not copy everything again"


def test_full_copy_leaves_the_spare_zeros_out(nodes):
    """A full copy sends no run of zeros at the end of a chunk of 1 MiB
    or of a file: the active segment, started from the spare, is mostly
    zeros; b gets it as its records and a TRUNCATE to its length, holds
    the same bytes, sparse, and promoted has every message."""
    seg = ["journal.segment_size=2m", "cluster.min_in_sync_followers=0"]
    a = nodes("a", seg).start()
    port = a.wait_leader()
    bodies = [b"z-%d-" % i + b"y" * 2000 for i in range(1300)]
    publish_confirmed(port, "zq", bodies)
    segs = sorted(glob.glob(os.path.join(a.data_dir, "journal", "*.seg")))
    active = os.path.relpath(segs[-1], a.data_dir)
    assert len(segs) >= 2 and os.path.getsize(segs[-1]) == 2 << 20, \
        "the active segment should come from the spare"
    b = nodes("b", seg).start()
    a.wait_log("follower b caught up")
    sent = [int(l.split("follower b: ")[1].split()[0]) for l in a.lines
            if "follower b: " in l and "bytes of files sent" in l]
    wait_for(lambda: a.files() == b.files(), 20, "b to hold a's files")
    files = a.files()
    total = sum(len(v) for v in files.values())
    tail = len(files[active]) - len(files[active].rstrip(b"\0"))
    print("files %d bytes, %d of them the active segment's zeros; sent %d"
          % (total, tail, sent[0]))
    assert tail > 1 << 20
    # every file's bytes, less the active segment's zeros at least
    assert len(sent) == 1 and sent[0] <= total - tail, (sent, total, tail)
    st = os.stat(os.path.join(b.data_dir, active))
    assert st.st_size == 2 << 20 and st.st_blocks * 512 < st.st_size - (1 << 20), \
        "b's copy of the active segment should be sparse"
    a.kill()
    got = [body for body, _ in drain(b.wait_leader(30), "zq")]
    assert got == bodies


def test_segments_from_the_spare_replicate_byte_for_byte(nodes):
    """Live, with b in the in-sync set: a's segments started from the
    spare reach b as a header, a TRUNCATE to the spare's length, the
    records, and a cut when rolled, so both hold the same bytes; b,
    promoted, has every confirmed message."""
    seg = ["journal.segment_size=64k"]
    a = nodes("a", seg).start()
    port = a.wait_leader()
    b = nodes("b", seg).start()
    a.wait_log("b is in the in-sync set")
    watch = SpareWatch(a.data_dir)
    watch.start()
    try:
        bodies = [b"s-%d-" % i + b"x" * 1000 for i in range(900)]
        for i in range(0, len(bodies), 50):     # batches: segments roll live
            publish_confirmed(port, "sp", bodies[i:i + 50])
            time.sleep(0.02)                    # a spare ready at most rolls
    finally:
        watch.stop()
    segs = sorted(glob.glob(os.path.join(a.data_dir, "journal", "*.seg")))
    spared = [p for p in segs if os.stat(p).st_ino in watch.inodes]
    assert len(segs) > 8 and len(spared) >= 3, (len(segs), len(spared))
    # rolled segments from the spare cut to their records; the active
    # one, if from the spare, as long as the spare
    for p in spared:
        size = os.path.getsize(p)
        assert size == 64 * 1024 if p == segs[-1] else 0 < size < 64 * 1024, (p, size)
    journal = lambda n: {k: v for k, v in n.files().items() if k.startswith("journal")}
    wait_for(lambda: journal(a) == journal(b), 20, "b to hold a's journal")
    assert not os.path.exists(os.path.join(b.data_dir, "journal", "spare.tmp"))
    a.kill()
    port = b.wait_leader(30)
    got = [body for body, _ in drain(port, "sp")]
    assert got == bodies


def raw_confirm_channel(port):
    conn = amqpraw.RawConn("127.0.0.1", port, timeout=10)
    conn.handshake()
    conn.open_channel(1)
    conn.send(amqpraw.method_frame(1, CONFIRM, 10, b"\x00"))
    conn.expect_method(CONFIRM, 11)
    return conn


def test_confirm_waits_for_the_follower(nodes):
    a = nodes("a").start()
    port = a.wait_leader()
    conn = raw_confirm_channel(port)
    body = b"held-until-replicated"
    conn.send(amqpraw.method_frame(1, QUEUE, 10, amqpraw.queue_declare_args("held",
                                                                          durable=True))
              + amqpraw.method_frame(1, BASIC, 40, amqpraw.publish_args("", "held"))
              + amqpraw.header_frame(1, len(body), flags=PERSISTENT_FLAGS,
                                     props=PERSISTENT_PROPS)
              + amqpraw.body_frame(1, body))
    # no in-sync follower: min_in_sync_followers = 1 holds declare-ok and
    # the confirm alike
    with pytest.raises(Exception):
        conn.recv_frame(timeout=1.5)
    b = nodes("b").start()
    conn.expect_method(QUEUE, 11, timeout=30)
    ftype, _, payload = conn.recv_frame(timeout=30)
    assert payload[:4] == b"\x00\x3c\x00\x50", "expected basic.ack"
    # the line is logged before the confirm leaves, but the test reads
    # a's log on a thread of its own, which may not have reached it yet
    a.wait_log("follower b caught up", timeout=10)
    assert a.count("follower b caught up") == 1
    # the confirmed message is on b: kill the leader at once
    a.kill()
    got = drain(b.wait_leader(), "held")
    assert [m for m, _ in got] == [body]


def test_kill9_of_the_leader_repeated(nodes):
    rng = random.Random()
    a = nodes("a").start()
    a.wait_leader()
    b = nodes("b").start()
    leader, follower = a, b
    leader.wait_log("follower b caught up")
    leader.wait_log("b is in the in-sync set")
    publish_confirmed(leader.port, "fo", [])
    times = []
    for rnd in range(int(os.environ.get("CLUSTER_KILL_ROUNDS", "4"))):
        pub = Publisher(leader.port, "fo", "r%d" % rnd, window=rng.choice([1, 64, 256]))
        pub.start()
        wait_for(lambda: len(pub.confirmed) >= 20 or pub.error, 20, "confirms")
        time.sleep(rng.uniform(0.1, 0.6))
        leader.kill()
        t0 = time.time()
        pub.join(15)
        port = follower.wait_leader(30)
        times.append(time.time() - t0)
        got = drain(port, "fo")
        confirmed, recovered = check_round("r%d" % rnd, pub, got)
        print("round %d: %d sent, %d confirmed, %d delivered, new leader after %.2f s"
              % (rnd, len(pub.sent), confirmed, recovered, times[-1]))
        assert confirmed > 0
        # the old leader comes back as a follower of the new one
        joined = "%s is in the in-sync set" % leader.name
        seen = follower.count(joined)
        leader.start()
        follower.wait_log(joined, n=seen + 1)
        leader, follower = follower, leader
    print("failover times (s): %s" % ", ".join("%.2f" % t for t in times))


def test_leader_cut_off_from_etcd_stops_confirming(nodes, etcd):
    a = nodes("a").start()
    port = a.wait_leader()
    b = nodes("b").start()
    a.wait_log("b is in the in-sync set")
    publish_confirmed(port, "fence", [])
    pub = Publisher(port, "fence", "f", window=64)
    pub.start()
    wait_for(lambda: len(pub.confirmed) >= 20, 20, "confirms")
    etcd.pause(True)
    try:
        wait_for(lambda: not a.alive(), 30, "the leader to fence itself")
        assert a.proc.returncode == 1
        assert a.count("(fenced)") == 1
        pub.join(15)
        assert b.port is None, "no leader can be elected while etcd is away"
    finally:
        etcd.pause(False)
    got = drain(b.wait_leader(30), "fence")
    check_round("f", pub, got)
    # the old leader stopped before the new one was elected
    fenced = [l[:24] for l in a.lines if "(fenced)" in l][0]
    elected = [l[:24] for l in b.lines if "b is the leader" in l][0]
    assert fenced < elected, (fenced, elected)


def test_a_follower_far_behind_leaves_the_in_sync_set_and_rejoins(nodes):
    # a long lease: only the byte bound can drop b here
    sets = ["cluster.min_in_sync_followers=0", "cluster.max_follower_lag=128k",
            "cluster.lease_ttl=20"]
    a = nodes("a", sets).start()
    port = a.wait_leader()
    b = nodes("b", sets).start()
    a.wait_log("b is in the in-sync set")
    publish_confirmed(port, "lag", [])
    b.pause(True)
    try:
        # each publisher has up to 64 KiB unconfirmed: 256 KiB in all
        pubs = [Publisher(port, "lag", "l%d" % i, window=512, body_pad=1024)
                for i in range(4)]
        for pub in pubs:
            pub.start()
        a.wait_log("b is out of the in-sync set")
        assert a.count("follower b is ") == 1 and a.count("bytes behind") == 1, a.log()
        # the leader confirms again without b
        n = len(pubs[0].confirmed)
        wait_for(lambda: len(pubs[0].confirmed) > n + 1000, 30, "confirms without b")
        for pub in pubs:
            pub.stop()
            pub.join(10)
    finally:
        b.pause(False)
    a.wait_log("b is in the in-sync set", n=2)
    wait_for(lambda: a.files() == b.files(), 20, "b to hold a's files")


def test_a_stalled_follower_leaves_the_in_sync_set(nodes):
    a = nodes("a", ["cluster.min_in_sync_followers=0"]).start()
    port = a.wait_leader()
    b = nodes("b").start()
    a.wait_log("b is in the in-sync set")
    b.pause(True)
    try:
        publish_confirmed(port, "stall", [b"one"])
        assert a.count("follower b has not acknowledged a batch") == 1
        assert a.count("b is out of the in-sync set") == 1
    finally:
        b.pause(False)
    a.wait_log("b is in the in-sync set", n=2)


def test_nodes_and_metrics_show_the_followers(nodes):
    import json
    import re
    import urllib.request
    a = nodes("a", ["http.enabled=yes", "http.port=0", "prometheus.enabled=yes",
                    "prometheus.port=0"]).start()
    a.wait_leader()
    b = nodes("b").start()
    a.wait_log("b is in the in-sync set")
    http = int(re.search(r"listening http \S+:(\d+)", a.log()).group(1))
    prom = int(re.search(r"listening prometheus \S+:(\d+)", a.log()).group(1))
    req = urllib.request.Request("http://127.0.0.1:%d/api/nodes" % http)
    req.add_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")      # guest:guest
    got = {n["name"]: n for n in json.load(urllib.request.urlopen(req, timeout=10))}
    me = [n for n in got.values() if n.get("cluster_role") == "leader"]
    assert len(me) == 1 and me[0]["cluster_node_name"] == "a"
    assert got["b"]["cluster_role"] == "follower" and got["b"]["running"] is True
    assert got["b"]["in_sync"] is True and got["b"]["replication_lag_bytes"] == 0
    metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % prom,
                                     timeout=10).read().decode()
    assert "sluice_cluster_leader 1" in metrics
    assert 'sluice_cluster_follower_in_sync{follower="b"} 1' in metrics
    # b gone: out of the set once etcd has it so, not running once its
    # lease (and with it its alive key in etcd) has run out
    b.kill()
    a.wait_log("b is out of the in-sync set")

    def b_now():
        return {n["name"]: n for n in
                json.load(urllib.request.urlopen(req, timeout=10))}["b"]
    wait_for(lambda: b_now()["running"] is False, 15, "b to be listed as not running")
    assert b_now()["in_sync"] is False


def test_wrong_secret_gets_nothing(nodes):
    a = nodes("a").start()
    a.wait_leader()
    b = nodes("b", ["cluster.secret=not-the-secret"]).start()
    a.wait_log("wrong cluster secret")
    assert b.count("copying") == 0
    assert not os.path.exists(os.path.join(b.data_dir, "definitions.json"))


def test_follower_applies_nothing_from_a_leader_without_the_secret(nodes, etcd, tmp_path):
    import socket
    import struct
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def frame(t, payload):
        return struct.pack("!I", len(payload) + 1) + t + payload

    def fake_leader():
        conn, _ = srv.accept()
        conn.sendall(frame(b"N", b"\x02" + b"n" * 32))
        conn.recv(65536)                        # the hello
        path = b"evil"
        op = struct.pack("!BBHQI", 1, 1, len(path), 0, 3) + path + b"bad"
        conn.sendall(frame(b"P", b"\x00" * 32) + frame(b"O", struct.pack("!I", 1) + op))
        time.sleep(2)
        conn.close()
    t = threading.Thread(target=fake_leader, daemon=True)
    t.start()
    for key, val in (("sluice/cluster", "fake"), ("sluice/leader", "x 127.0.0.1 %d" % port)):
        subprocess.run(["etcdctl", "--endpoints", etcd.url, "put", key, val], check=True,
                       env=dict(os.environ, ETCDCTL_API="3"), capture_output=True)
    b = nodes("b").start()
    b.wait_log("does not know the cluster secret")
    t.join(5)
    srv.close()
    assert not os.path.exists(os.path.join(b.data_dir, "evil"))


@pytest.mark.parametrize("sets,why", [
    (["cluster.node_name=x"], "the [cluster] section needs etcd_endpoints"),
    (["cluster.etcd_endpoints=http://127.0.0.1:1"], "needs node_name and secret"),
    (["cluster.etcd_endpoints=http://127.0.0.1:1", "cluster.node_name=a b",
      "cluster.secret=s"], "cluster.node_name"),
    (["cluster.etcd_endpoints=127.0.0.1:1", "cluster.node_name=a",
      "cluster.secret=s"], "cluster.etcd_endpoints: expected http://"),
    (["cluster.lease_ttl=1"], "invalid value '1' for cluster.lease_ttl"),
])
def test_cluster_config_errors(tmp_path, sets, why):
    args = [SLUICED, "--set", "broker.data_dir=" + str(tmp_path / "d")]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert why in r.stderr
