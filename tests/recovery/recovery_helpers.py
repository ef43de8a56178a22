"""Helpers for the recovery suite: a sluiced that can be killed with
SIGKILL and started again on the same data directory, and a pipelined
publisher in confirm mode that knows exactly which publishes were
confirmed when the broker died.

SLUICED names the binary (tools/dev.sh and meson set it).
"""
import glob
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import amqpraw  # noqa: E402
from amqpraw import BASIC, CONFIRM, QUEUE  # noqa: E402

SLUICED = os.environ.get("SLUICED", os.path.join(ROOT, "build", "broker", "daemon", "sluiced"))
LISTEN_RE = re.compile(r"listening amqp (\S+):(\d+)")

# basic properties: delivery-mode is flag bit 12
PERSISTENT_FLAGS, PERSISTENT_PROPS = 0x1000, b"\x02"
OPTIONAL_OFF = ["mqtt.enabled=no", "http.enabled=no", "prometheus.enabled=no"]


class Node:
    """One sluiced process on data_dir. start() again after kill()."""

    def __init__(self, data_dir, sets=()):
        self.data_dir = data_dir
        self.sets = list(sets)
        self.proc = None
        self.port = None
        self.lines = []
        self._reader = None

    def start(self, timeout=30):
        # Only AMQP: other listeners off (a daemon that does not know a
        # section yet refuses the key, and is started without it).
        for _ in range(len(OPTIONAL_OFF) + 1):
            self._spawn(timeout)
            if self.port is not None:
                return self
            bad = [s for s in OPTIONAL_OFF if "unknown section [%s]" % s.split(".")[0]
                   in self.log()]
            if not bad:
                break
            OPTIONAL_OFF.remove(bad[0])
        raise RuntimeError("sluiced did not start:\n" + self.log())

    def _spawn(self, timeout):
        args = [SLUICED, "--set", "amqp.bind=127.0.0.1", "--set", "amqp.port=0",
                "--set", "broker.data_dir=" + self.data_dir,
                "--set", "broker.log_level=info"]
        for s in OPTIONAL_OFF + self.sets:
            args += ["--set", s]
        self.lines = []
        self.port = None
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        got = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                m = LISTEN_RE.search(line)
                if m and self.port is None:
                    self.port = int(m.group(2))
                    got.set()
            got.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        got.wait(timeout)
        if self.port is None:
            self.kill()

    def log(self):
        return "".join(self.lines)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
            self._reader.join(5)
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self._reader.join(5)
        self.proc = None

    def segments(self):
        return sorted(glob.glob(os.path.join(self.data_dir, "journal", "*.seg")))

    def journal_bytes(self):
        return sum(os.path.getsize(p) for p in self.segments())


def raw_channel(port):
    conn = amqpraw.RawConn("127.0.0.1", port, timeout=10)
    conn.handshake()
    conn.open_channel(1)
    return conn


class Publisher(threading.Thread):
    """Publishes persistent messages "<prefix>:<n>" (n = 1, 2, ...) to the
    default exchange with routing key `queue`, in confirm mode, keeping up
    to `window` unconfirmed. `sent` and `confirmed` hold n values; a nack
    goes to `nacked`. Runs until the broker dies or stop() is called."""

    def __init__(self, port, queue, prefix, window=256, body_pad=0):
        super().__init__(daemon=True)
        self.port, self.queue, self.prefix = port, queue, prefix
        self.window, self.pad = window, b"x" * body_pad
        self.sent, self.confirmed, self.nacked = [], set(), set()
        self.error = None
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()

    def _frames(self, n):
        body = ("%s:%d" % (self.prefix, n)).encode() + self.pad
        return (amqpraw.method_frame(1, BASIC, 40, amqpraw.publish_args("", self.queue))
                + amqpraw.header_frame(1, len(body), flags=PERSISTENT_FLAGS,
                                       props=PERSISTENT_PROPS)
                + amqpraw.body_frame(1, body))

    def _on_frame(self, payload):
        cid, mid = struct.unpack("!HH", payload[:4])
        if cid != BASIC or mid not in (80, 120):
            return
        tag, bits = struct.unpack("!QB", payload[4:13])
        upto = tag if bits & 1 else None
        target = self.confirmed if mid == 80 else self.nacked
        if upto is None:
            target.add(tag)
        else:
            for t in range(self._low, upto + 1):
                if t not in self.confirmed and t not in self.nacked:
                    target.add(t)
        while self._low in self.confirmed or self._low in self.nacked:
            self._low += 1

    def run(self):
        self._low = 1
        try:
            conn = raw_channel(self.port)
            conn.send(amqpraw.method_frame(1, CONFIRM, 10, b"\x00"))
            conn.expect_method(CONFIRM, 11)
            n = 0
            while not self._halt.is_set():
                batch = b""
                while n - (self._low - 1) < self.window and len(batch) < 65536:
                    n += 1
                    self.sent.append(n)
                    batch += self._frames(n)
                if batch:
                    conn.send(batch)
                ftype, ch, payload = conn.recv_frame(timeout=10)
                if ftype == amqpraw.FRAME_METHOD:
                    self._on_frame(payload)
                while len(conn.buf) >= 8:
                    ftype, ch, payload = conn.recv_frame(timeout=10)
                    if ftype == amqpraw.FRAME_METHOD:
                        self._on_frame(payload)
            conn.close()
        except (EOFError, OSError, socket.timeout, AssertionError) as e:
            self.error = e


def drain(port, queue, expect=None, timeout=60):
    """Every message of queue, consumed with auto-ack: list of
    (body bytes, redelivered). Stops once as many messages as the queue
    held have arrived, or after 5 s without one. A raw no-ack consumer:
    recovered queues hold up to hundreds of thousands of messages."""
    conn = raw_channel(port)
    conn.send(amqpraw.method_frame(1, QUEUE, 10, amqpraw.queue_declare_args(queue, passive=True)))
    _, payload = conn.expect_method(QUEUE, 11, timeout=timeout)
    r = amqpraw.Reader(payload[4:])
    r.shortstr()
    n = r.long()
    out = []
    if n:
        conn.send(amqpraw.method_frame(1, BASIC, 20, struct.pack("!H", 0)
                                       + amqpraw.shortstr(queue) + amqpraw.shortstr("drain")
                                       + b"\x02" + amqpraw.table({})))       # no-ack
        conn.expect_method(BASIC, 21, timeout=timeout)
        _consume(conn, n, out, time.time() + timeout)
    conn.close()
    return out


def _consume(conn, n, out, deadline):
    """Read deliveries (method, header, bodies) into out until n or 5 s of
    silence; frames are parsed in place (a recovered queue can be large)."""
    buf, pos = bytearray(conn.buf), 0
    body, size, redelivered = None, 0, False
    while len(out) < n:
        if len(buf) - pos < 7 or len(buf) - pos < 8 + struct.unpack_from("!I", buf, pos + 3)[0]:
            del buf[:pos]
            pos = 0
            conn.sock.settimeout(max(0.01, min(5.0, deadline - time.time())))
            try:
                chunk = conn.sock.recv(1 << 20)
            except socket.timeout:
                break
            if not chunk:
                raise EOFError("the broker closed the connection while draining")
            buf += chunk
            continue
        ftype, size_f = buf[pos], struct.unpack_from("!I", buf, pos + 3)[0]
        payload = bytes(buf[pos + 7:pos + 7 + size_f])
        assert buf[pos + 7 + size_f] == amqpraw.FRAME_END, "bad frame end"
        pos += 8 + size_f
        if ftype == amqpraw.FRAME_METHOD:
            cid, mid = struct.unpack_from("!HH", payload)
            assert (cid, mid) == (BASIC, 60), "expected basic.deliver, got %d.%d" % (cid, mid)
            r = amqpraw.Reader(payload[4:])
            r.shortstr()                            # consumer tag
            r.take(8)                               # delivery tag
            redelivered = bool(r.octet() & 1)
            body = None
        elif ftype == amqpraw.FRAME_HEADER:
            size = struct.unpack_from("!Q", payload, 4)[0]
            body = b""
            if size == 0:
                out.append((body, redelivered))
        elif ftype == amqpraw.FRAME_BODY:
            body += payload
            if len(body) >= size:
                out.append((body, redelivered))
