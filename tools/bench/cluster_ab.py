#!/usr/bin/python3
"""cluster_ab.py: what replication costs, for one or more builds side by
side. Confirmed persistent 1 KiB messages (the bench's loadgen
amqp-confirm-persistent: durable queue, delivery mode 2, confirm window
100) against a single node and a leader with 1 and 2 in-sync followers
(etcd and the nodes on loopback, as the recovery tests start them), every
build and setup interleaved in each round; prints each cluster's rate as
a ratio to the single node of the same round and build (the ratio is what
survives this machine's load, not the absolute rates).

  tools/bench/cluster_ab.py ROUNDS DURATION PUBLISHERS LABEL=SLUICED...
  Env: LOADGEN (the bench's loadgen binary, /tmp/bench/loadgen)

  e.g. cluster_ab.py 3 5 1 before=/tmp/sluiced.old after=build/daemon/sluiced
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINS = [a.split("=", 1) for a in sys.argv[4:]]
if len(sys.argv) < 5 or any(len(b) != 2 for b in BINS):
    sys.exit(__doc__)
os.environ.setdefault("SLUICED", BINS[0][1])
sys.path.insert(0, os.path.join(ROOT, "tests", "recovery"))
import cluster_helpers as ch  # noqa: E402
from cluster_helpers import ClusterNode, Etcd  # noqa: E402

LOADGEN = os.environ.get("LOADGEN", "/tmp/bench/loadgen")
ROUNDS, DUR, PUBS = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def loadgen(port, pid):
    r = subprocess.run([LOADGEN, "amqp-confirm-persistent", "--port", str(port),
                        "--duration", DUR, "--pubs", PUBS, "--broker-pid", str(pid)],
                       capture_output=True, text=True, timeout=300)
    return json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])


def single(tmp):
    p = subprocess.Popen([ch.SLUICED, "--set", "amqp.bind=127.0.0.1", "--set", "amqp.port=0",
                          "--set", "broker.data_dir=" + tmp, "--set", "mqtt.enabled=no",
                          "--set", "http.enabled=no", "--set", "prometheus.enabled=no"],
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening amqp \S+:(\d+)", line)
        if m:
            break
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    try:
        return loadgen(int(m.group(1)), p.pid)
    finally:
        p.terminate()
        p.wait()


def cluster(tmp, followers):
    e = Etcd(tmp + "/etcd").start()
    ns = []
    try:
        a = ClusterNode(e, "a", tmp + "/a",
                        ["cluster.min_in_sync_followers=%d" % followers]).start()
        ns.append(a)
        port = a.wait_leader()
        for i in range(followers):
            ns.append(ClusterNode(e, "f%d" % i, tmp + "/f%d" % i).start())
            a.wait_log("f%d is in the in-sync set" % i)
        return loadgen(port, a.proc.pid)
    finally:
        for n in ns:
            n.kill()
        e.stop()


rates = {}
for r in range(ROUNDS):
    for label, binary in BINS:
        ch.SLUICED = binary
        for what in ("single", "f1", "f2"):
            with tempfile.TemporaryDirectory(prefix="cluster-ab-") as tmp:
                out = single(tmp) if what == "single" else cluster(tmp, int(what[1]))
            rates.setdefault((label, what), []).append(out["msg_per_s"])
            print("round %d %s %s: %d msg/s (host busy %s%%)"
                  % (r, label, what, out["msg_per_s"], out.get("host_busy_pct")), flush=True)
for label, _ in BINS:
    base = rates[(label, "single")]
    for what in ("f1", "f2"):
        ratios = [x / b for x, b in zip(rates[(label, what)], base)]
        print("%s: %s follower(s) / single node: %s" % (label, what[1],
              " ".join("%.2f" % x for x in ratios)))
