"""A bounded hostile load: several clients at once announce huge bodies
and never send them, consume without ever reading their sockets,
reconnect in a loop, and subscribe to '#' over and over without reading,
while MQTT and AMQP publishers keep messages flowing to them. Meanwhile a
well-behaved client publishes persistent messages with confirms. The
load lasts until the bounded actors are through (DURATION at most).

The broker must stay under its memory watermark (no memory alarm, and
mem_used in /api/nodes below it at every sample), keep serving the
well-behaved client (its publish-to-confirm latency is reported, not
asserted: the machine is shared), and lose none of its confirmed
messages, even across a kill -9 right after the load.

Run with -s to see the figures.
"""
import os
import re
import socket
import statistics
import struct
import sys
import threading
import time

import pika

from recovery_helpers import Node, drain

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import amqpraw  # noqa: E402
import mqttraw  # noqa: E402
from amqpraw import BASIC, CHANNEL, QUEUE, header_frame, method_frame, publish_args  # noqa: E402
from amqpraw import body_frame, shortstr, table  # noqa: E402
from http_helpers import api  # noqa: E402

DURATION = 20.0
WATERMARK = 256 << 20
P = pika.BasicProperties(delivery_mode=2)


class Ports:
    """What amqpraw, mqttraw and http_helpers need of a broker."""

    def __init__(self, node):
        self.host = self.mqtt_host = "127.0.0.1"
        self.port = node.port
        self.mqtt_port = self._port(node, "mqtt")
        self.ports = {"http": self._port(node, "http")}

    @staticmethod
    def _port(node, proto):
        end = time.time() + 10
        while True:
            m = re.search(r"listening %s \S+:(\d+)" % proto, node.log())
            if m or time.time() > end:
                assert m, "no %s listener:\n%s" % (proto, node.log())
                return int(m.group(1))
            time.sleep(0.05)


def quietly(fn):
    """Run an actor until stop; a refused or dropped connection is part of
    the game (the broker may close hostile clients)."""
    def run(stop, *args):
        while not stop.is_set():
            try:
                fn(stop, *args)
            except (OSError, EOFError, AssertionError, socket.timeout):
                time.sleep(0.05)
    return run


@quietly
def announcer(stop, b, counters):
    """40 channels each announcing a 16 MB body, 32 KB sent, then gone."""
    conn = amqpraw.connect(b)
    frames = b"".join(method_frame(ch, CHANNEL, 10, shortstr("")) for ch in range(1, 41))
    for ch in range(1, 41):
        frames += (method_frame(ch, BASIC, 40, publish_args("", "nowhere"))
                   + header_frame(ch, 16 << 20) + body_frame(ch, b"\0" * 32768))
    conn.send(frames)
    counters["announced"] += 40
    stop.wait(2.0)
    conn.sock.close()


@quietly
def non_reader(stop, b, name, counters):
    """An unlimited no-ack consumer that never reads its socket."""
    conn = amqpraw.connect(b)
    conn.open_channel(1)
    conn.declare_queue(1, name, exclusive=True)
    conn.send(method_frame(1, BASIC, 20, struct.pack("!H", 0) + shortstr(name)
                           + shortstr("c") + b"\x02" + table({})))
    counters["non_readers"] += 1
    stop.wait(DURATION * 2)
    conn.sock.close()


@quietly
def flooder(stop, b, names, counters):
    """Transient 1 KB messages to the non-readers' queues, bounded."""
    conn = amqpraw.connect(b)
    conn.open_channel(1)
    frames = b"".join(method_frame(1, BASIC, 40, publish_args("", n)) + header_frame(1, 1024)
                      + body_frame(1, b"f" * 1024) for n in names)
    while not stop.is_set() and counters["flooded"] < 40000:
        conn.send(frames * 50)
        counters["flooded"] += 50 * len(names)
        time.sleep(0.02)
    conn.sock.close()
    stop.wait(DURATION * 2)


@quietly
def reconnector(stop, b, counters):
    """Log in, open a channel, drop the socket; AMQP then MQTT; again."""
    conn = amqpraw.connect(b)
    conn.open_channel(1)
    conn.sock.close()
    m = mqttraw.Raw(b)
    m.connect(client_id="recon-%d" % counters["reconnects"], clean=True)
    m.abort()
    counters["reconnects"] += 1


@quietly
def hash_subscriber(stop, b, i, counters):
    """SUBSCRIBE '#' again and again, never reading."""
    m = mqttraw.Raw(b)
    m.connect(client_id="hash-%d" % i, clean=True)
    for pid in range(1, 400):
        if stop.is_set():
            break
        m.subscribe([("#", 1)], pid=pid, wait=False)
        counters["subscribes"] += 1
        time.sleep(0.01)
    stop.wait(DURATION * 2)
    m.abort()


@quietly
def mqtt_publisher(stop, b, counters):
    """QoS 0 messages and a few retained ones, for the '#' subscribers."""
    m = mqttraw.Raw(b)
    m.connect(client_id="hostile-pub", clean=True)
    n = 0
    while not stop.is_set() and n < 20000:
        m.publish("load/%d/x" % (n % 50), b"m" * 512, retain=(n % 100 == 0))
        n += 1
        counters["mqtt_published"] += 1
        if n % 200 == 0:
            time.sleep(0.02)
    m.abort()
    stop.wait(DURATION * 2)


def amqp_binder(stop, b, counters):
    """queue.bind to amq.topic '#' over and over on one queue."""
    conn = amqpraw.connect(b)
    conn.open_channel(1)
    q = conn.declare_queue(1, "bound-to-everything", exclusive=True)
    while not stop.is_set() and counters["binds"] < 2000:
        conn.send(method_frame(1, QUEUE, 20, struct.pack("!H", 0) + shortstr(q)
                               + shortstr("amq.topic") + shortstr("#") + b"\x00" + table({})))
        conn.expect_method(QUEUE, 21)
        counters["binds"] += 1
    stop.wait(DURATION * 2)
    conn.sock.close()


def monitor(stop, node, b, samples):
    pid = node.proc.pid
    while not stop.is_set():
        st, nodes, _ = api(b, "GET", "/api/nodes")
        if st == 200:
            with open("/proc/%d/status" % pid) as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
            samples.append((nodes[0]["mem_used"], nodes[0]["mem_alarm"], rss))
        stop.wait(0.25)


def well_behaved(stop, b, confirmed, latency):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, heartbeat=0, blocked_connection_timeout=30))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("well-behaved", durable=True)
    i = 0
    while not stop.is_set():
        body = b"wb-%06d" % i
        t = time.perf_counter()
        ch.basic_publish("", "well-behaved", body, P)   # returns once confirmed
        latency.append(time.perf_counter() - t)
        confirmed.append(body)
        i += 1
    conn.close()


def load_done(counters, confirmed):
    """Every bounded actor has finished, every unbounded one has had a few
    turns, and the well-behaved client has been served a while."""
    return (counters["flooded"] >= 40000 and counters["mqtt_published"] >= 20000
            and counters["binds"] >= 2000 and counters["subscribes"] >= 2 * 399
            and counters["announced"] >= 3 * 40 * 3 and counters["reconnects"] >= 100
            and len(confirmed) > 500)


def test_hostile_load(tmp_path):
    node = Node(str(tmp_path / "data"), sets=[
        "mqtt.enabled=yes", "mqtt.bind=127.0.0.1", "mqtt.port=0",
        "http.enabled=yes", "http.bind=127.0.0.1", "http.port=0",
        "broker.memory_high_watermark=%d" % WATERMARK]).start()
    try:
        b = Ports(node)
        stop, done = threading.Event(), threading.Event()
        counters = {k: 0 for k in ("announced", "non_readers", "flooded", "reconnects",
                                   "subscribes", "mqtt_published", "binds")}
        names = ["never-read-%d" % i for i in range(2)]
        samples, confirmed, latency = [], [], []
        actors = ([(announcer, (b, counters)) for _ in range(3)]
                  + [(non_reader, (b, n, counters)) for n in names]
                  + [(flooder, (b, names, counters))]
                  + [(reconnector, (b, counters)) for _ in range(2)]
                  + [(hash_subscriber, (b, i, counters)) for i in range(2)]
                  + [(mqtt_publisher, (b, counters)), (amqp_binder, (b, counters))])
        threads = [threading.Thread(target=fn, args=(stop,) + args, daemon=True)
                   for fn, args in actors]
        threads.append(threading.Thread(target=monitor, args=(done, node, b, samples),
                                        daemon=True))
        for t in threads:
            t.start()
        time.sleep(1.0)                 # the load is on before the client comes
        good = threading.Thread(target=well_behaved, args=(done, b, confirmed, latency))
        good.start()
        # The load lasts until every bounded actor has done all it does
        # (the unbounded ones go on meanwhile), DURATION at most.
        start = time.time()
        while time.time() < start + DURATION and not load_done(counters, confirmed):
            time.sleep(0.1)
        took = time.time() - start
        done.set()
        good.join(60)
        stop.set()
        for t in threads:
            t.join(10)
        assert node.proc.poll() is None, "the broker died:\n" + node.log()[-3000:]

        lat = sorted(latency)
        print("\nhostile load %.1fs: %s" % (took, counters))
        assert len(lat) > 50, "the well-behaved client was not served (%d confirms)" % len(lat)
        print("well-behaved: %d confirmed; publish-to-confirm p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms" % (len(lat), 1000 * statistics.median(lat),
                               1000 * lat[int(len(lat) * 0.99)], 1000 * lat[-1]))
        print("broker: max mem_used %.1f MB (watermark %d MB), max RSS %.1f MB" % (
            max(s[0] for s in samples) / 2**20, WATERMARK >> 20,
            max(s[2] for s in samples) / 1024))
        assert samples and not any(s[1] for s in samples), "memory alarm raised"
        assert max(s[0] for s in samples) < WATERMARK
        assert counters["announced"] and counters["reconnects"] and counters["subscribes"]

        node.kill()                     # kill -9 right after the load
        node.start()
        got = {body for body, _ in drain(node.port, "well-behaved")}
        lost = [c for c in confirmed if c not in got]
        assert not lost, "%d confirmed message(s) lost, first %r" % (len(lost), lost[:3])
    finally:
        node.kill()
