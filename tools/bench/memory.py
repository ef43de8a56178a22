#!/usr/bin/python3
"""Memory per object and topology speed of sluiced, each on a fresh broker.

    /usr/bin/python3 tools/bench/memory.py [--sluiced PATH] [--set KEY=VALUE]... CASE...

Cases (each starts its own sluiced on free ports with a temporary data
directory, measures, stops it):

  queued N SIZE   N transient messages of SIZE octets in one queue, nobody
                  consuming: RSS growth per message, and that minus SIZE
  durable Q       Q durable queues with no messages: RSS growth per queue
                  ("transient Q": the same with transient queues)
  topology Q      Q queues declared and bound to a direct exchange, each
                  awaiting nothing (pipelined, as a deploy script's client
                  library does with nowait off): wall time to the last
                  bind-ok, and RSS per queue; "topology-durable Q" the same
                  with durable queues
  idle-amqp C     C idle AMQP connections with one open channel each
                  (heartbeats off); "idle-amqp-hb C" the same with the
                  60 s heartbeat most client libraries negotiate
  idle-mqtt C     C idle MQTT 3.1.1 connections (clean session)

RSS is read from /proc/PID/status (VmRSS) after the broker has answered the
last request, so what it holds is counted, not what it will allocate.
The connection cases also print the growth of RssAnon: VmRSS counts the
pages of shared libraries too, which the broker's periodic work (the
statistics sample every 5 s, MQTT's $SYS values every 10 s) touches for
the first time, about 160 KB of libm alone, a fixed cost that a per-
connection figure must not include. --steady S waits S seconds before
the baseline and again after the last connection, so both readings come
after that periodic work has run with the connections in place (12 or
more covers a sample and a $SYS tick; the default 0 reads at once).
Prints one line per case. Default PATH: build-release/daemon/sluiced.
--set passes a configuration key on to every broker started (for instance
--set broker.io_threads=0 for the single-threaded mode).
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import amqpraw as raw  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no " + field)


class Broker:
    def __init__(self, sluiced, sets=()):
        self.dir = tempfile.mkdtemp(prefix="sluice-mem.")
        self.amqp, self.mqtt = free_port(), free_port()
        self.proc = subprocess.Popen(
            [sluiced, "--set", "amqp.port=%d" % self.amqp,
             "--set", "mqtt.port=%d" % self.mqtt, "--set", "mqtt.allow_anonymous=yes",
             "--set", "http.port=0", "--set", "prometheus.port=0",
             "--set", "broker.data_dir=%s/data" % self.dir,
             "--set", "broker.log_level=warning"] +
            [x for kv in sets for x in ("--set", kv)],
            stdin=subprocess.DEVNULL, stdout=open(self.dir + "/log", "w"),
            stderr=subprocess.STDOUT)
        for _ in range(2400):
            try:
                socket.create_connection(("127.0.0.1", self.amqp), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sluiced did not listen")

    def rss(self):
        return rss(self.proc.pid)

    def anon(self):
        return rss(self.proc.pid, "RssAnon")

    def conn(self, heartbeat=0):
        c = raw.RawConn("127.0.0.1", self.amqp, timeout=60)
        c.handshake(heartbeat=heartbeat)
        c.open_channel(1)
        return c

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        subprocess.run(["rm", "-rf", self.dir])


def drain_methods(c, class_id, method_id, n):
    """Read n replies class_id.method_id (pipelined requests)."""
    for _ in range(n):
        c.expect_method(class_id, method_id, timeout=120)


def case_queued(b, n, size):
    c = b.conn()
    c.declare_queue(1, "mem")
    body = b"x" * size
    one = (raw.method_frame(1, raw.BASIC, 40, raw.publish_args("", "mem"))
           + raw.header_frame(1, size) + raw.body_frame(1, body))
    before = b.rss()
    batch = one * 1000
    for _ in range(n // 1000):
        c.send(batch)
    c.send(one * (n % 1000))
    while True:
        c.send(raw.method_frame(1, raw.QUEUE, 10,
                                raw.queue_declare_args("mem", passive=True)))
        _, payload = c.expect_method(raw.QUEUE, 11, timeout=120)
        r = raw.Reader(payload[4:])
        r.shortstr()
        if r.long() >= n:
            break
        time.sleep(0.2)
    per = (b.rss() - before) / n
    return "queued %d x %d B: %.1f B RSS per message, %.1f B beyond the body" % (
        n, size, per, per - size)


def declare_all(c, q, durable, bind):
    """Declare q queues (and bind each to exchange "mem.x"), pipelined."""
    window = 500
    for i in range(0, q, window):
        k = min(window, q - i)
        out = b""
        for j in range(i, i + k):
            name = "mem.q.%d" % j
            out += raw.method_frame(1, raw.QUEUE, 10,
                                    raw.queue_declare_args(name, durable=durable))
            if bind:
                out += raw.method_frame(1, raw.QUEUE, 20, struct.pack("!H", 0)
                                        + raw.shortstr(name) + raw.shortstr("mem.x")
                                        + raw.shortstr(name) + b"\x00" + raw.table({}))
        c.send(out)
        for _ in range(k):
            c.expect_method(raw.QUEUE, 11, timeout=120)
            if bind:
                c.expect_method(raw.QUEUE, 21, timeout=120)


def case_queues(b, q, durable):
    c = b.conn()
    before = settle(b)
    declare_all(c, q, durable, False)
    kind = "durable" if durable else "transient"
    return "%s queues %d: %.0f B RSS per empty %s queue" % (
        kind, q, (settle(b) - before) / q, kind)


def case_topology(b, q, durable):
    c = b.conn()
    c.send(raw.method_frame(1, raw.EXCHANGE, 10, struct.pack("!H", 0)
                            + raw.shortstr("mem.x") + raw.shortstr("direct")
                            + bytes([2 if durable else 0]) + raw.table({})))
    c.expect_method(raw.EXCHANGE, 11)
    before = b.rss()
    t0 = time.monotonic()
    declare_all(c, q, durable, True)
    wall = time.monotonic() - t0
    return "%s queues %d declared and bound: %.2f s, %.0f B RSS per queue" % (
        "durable" if durable else "transient", q, wall, (b.rss() - before) / q)


def settle(b):
    """RSS once it stops moving (the broker finished its replies)."""
    last = -1
    while True:
        time.sleep(0.5)
        now = b.rss()
        if now == last:
            return now
        last = now


STEADY = 0.0


def idle_growth(b, n, connect):
    """(VmRSS, RssAnon) growth per connection over n connect(i) calls,
    each reading taken STEADY seconds after the broker's start or the
    last connection, once RSS stops moving."""
    keep = []
    time.sleep(STEADY)
    before = settle(b), b.anon()
    for i in range(n):
        keep.append(connect(i))
    time.sleep(STEADY)
    after = settle(b), b.anon()
    return [(after[k] - before[k]) / n for k in (0, 1)]


def idle_line(what, n, per):
    steady = ", %.0f s after" % STEADY if STEADY else ""
    return "%s %d: %.0f B RSS per connection (anonymous %.0f B%s)" % (
        what, n, per[0], per[1], steady)


def case_idle_amqp(b, n, heartbeat=0):
    per = idle_growth(b, n, lambda i: b.conn(heartbeat))
    return idle_line("idle AMQP connections (one channel each, heartbeat %d)" % heartbeat,
                     n, per)


def mqtt_connect(port, i):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    cid = ("mem-%d" % i).encode()
    var = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 300)
    payload = struct.pack("!H", len(cid)) + cid
    rest = var + payload
    s.sendall(bytes([0x10, len(rest)]) + rest)
    ack = s.recv(4)
    if ack[:2] != b"\x20\x02" or ack[3] != 0:
        raise RuntimeError("CONNACK %r" % ack)
    return s


def case_idle_mqtt(b, n):
    return idle_line("idle MQTT connections", n,
                     idle_growth(b, n, lambda i: mqtt_connect(b.mqtt, i)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sluiced", default=os.path.join(ROOT, "build-release/daemon/sluiced"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration key for every broker started")
    ap.add_argument("--steady", type=float, default=0.0, metavar="S",
                    help="idle cases: wait S s before each reading")
    ap.add_argument("case", nargs="+")
    a = ap.parse_args()
    global STEADY
    STEADY = a.steady
    args = a.case
    i = 0
    while i < len(args):
        name = args[i]
        b = Broker(a.sluiced, a.set)
        try:
            if name == "queued":
                print(case_queued(b, int(args[i + 1]), int(args[i + 2])), flush=True)
                i += 3
                continue
            n = int(args[i + 1])
            i += 2
            if name in ("durable", "transient"):
                print(case_queues(b, n, name == "durable"), flush=True)
            elif name in ("topology", "topology-durable"):
                print(case_topology(b, n, name == "topology-durable"), flush=True)
            elif name == "idle-amqp":
                print(case_idle_amqp(b, n), flush=True)
            elif name == "idle-amqp-hb":
                print(case_idle_amqp(b, n, 60), flush=True)
            elif name == "idle-mqtt":
                print(case_idle_mqtt(b, n), flush=True)
            else:
                sys.exit("unknown case %s" % name)
        finally:
            b.stop()


if __name__ == "__main__":
    main()
