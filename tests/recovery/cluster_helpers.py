"""Helpers for the cluster tests: one etcd and sluiced nodes with a
[cluster] section, each on free loopback ports with its own data
directory. Every node listens on its client ports, which stay the same
across restarts: a follower proxies its clients to the leader. `port`
is set once the node leads (its "listening amqp" after "is the
leader").

Ports are reserved, not just found free: a port a node or etcd is to
listen on (again after a restart, or only once elected, as replication)
stays bound in this process for the owner's lifetime (Ports, from
tests/integration/port_helpers.py), so other suites' brokers and clients
running alongside cannot take it between the choice and the bind."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pika
import pytest

from recovery_helpers import SLUICED  # first: it puts tests/integration on sys.path
from port_helpers import Ports

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
SECRET = "cluster-test-secret"
LEASE_TTL = 3


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + (what() if callable(what) else what))


def amqp_connect(port, timeout=30):
    """pika to 127.0.0.1:port, retried (as an application does) while the
    cluster elects a leader."""
    params = pika.ConnectionParameters("127.0.0.1", port, heartbeat=0,
                                       connection_attempts=1, socket_timeout=5)
    deadline = time.time() + timeout
    while True:
        try:
            return pika.BlockingConnection(params)
        except pika.exceptions.AMQPError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def publish_confirmed(port, queue, bodies):
    """Declare the durable queue and publish bodies to it, persistent, in
    confirm mode: each publish returns once the broker confirmed it."""
    conn = amqp_connect(port)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    for b in bodies:
        ch.basic_publish("", queue, b, pika.BasicProperties(delivery_mode=2))
    conn.close()


class Etcd:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.ports = Ports()
        self.port, self.peer = self.ports.new(), self.ports.new()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        args = [ETCD, "--name", "t", "--data-dir", self.data_dir,
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer,
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer,
                "--initial-cluster", "t=http://127.0.0.1:%d" % self.peer,
                "--log-level", "warn"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def healthy():
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    return b'"true"' in r.read()
            except OSError:
                return False
        wait_for(healthy, 30, "etcd")
        return self

    def pause(self, on):
        self.proc.send_signal(signal.SIGSTOP if on else signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)


class ClusterNode:
    """One sluiced of the cluster; start() again after kill()."""

    def __init__(self, etcd, name, data_dir, sets=(), clients=False):
        """clients: MQTT and HTTP listeners too (mqtt_port, http_port)."""
        self.etcd, self.name, self.data_dir = etcd, name, data_dir
        self.ports = Ports()            # reserve_port() for the node's other listeners
        self.repl_port, self.amqp_port = self.ports.new(), self.ports.new()
        self.mqtt_port = self.http_port = None
        self.sets = list(sets)
        if clients:
            self.mqtt_port, self.http_port = self.ports.new(), self.ports.new()
            self.sets = ["mqtt.enabled=yes", "mqtt.bind=127.0.0.1",
                         "mqtt.port=%d" % self.mqtt_port, "http.enabled=yes",
                         "http.bind=127.0.0.1", "http.port=%d" % self.http_port] + self.sets
        self.proc, self.port, self.lines = None, None, []
        self._elected = False

    def reserve_port(self):
        """A loopback port held for this node (a TLS listener's, say)."""
        return self.ports.new()

    def start(self):
        args = [SLUICED, "--set", "amqp.bind=127.0.0.1",
                "--set", "amqp.port=%d" % self.amqp_port,
                "--set", "broker.data_dir=" + self.data_dir,
                "--set", "mqtt.enabled=no", "--set", "http.enabled=no",
                "--set", "prometheus.enabled=no",
                "--set", "cluster.etcd_endpoints=" + self.etcd.url,
                "--set", "cluster.node_name=" + self.name,
                "--set", "cluster.secret=" + SECRET,
                "--set", "cluster.lease_ttl=%d" % LEASE_TTL,
                "--set", "cluster.replication_port=%d" % self.repl_port]
        if os.environ.get("SLUICE_IO_THREADS"):
            # tools/dev.sh runs the suites once per threading mode.
            args += ["--set", "broker.io_threads=" + os.environ["SLUICE_IO_THREADS"]]
        for s in self.sets:
            args += ["--set", s]
        self.lines, self.port, self._elected = [], None, False
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                                     errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if "cluster: %s is the leader" % self.name in line:
                self._elected = True
            m = re.search(r"listening amqp \S+:(\d+)", line)
            if m and self._elected:
                self.port = int(m.group(1))

    def log(self):
        return "".join(self.lines)

    def count(self, text):
        return sum(text in line for line in list(self.lines))

    def wait_log(self, text, timeout=30, n=1):
        wait_for(lambda: self.count(text) >= n, timeout,
                 "%r in the log of %s:\n%s" % (text, self.name, self.log()))

    def wait_leader(self, timeout=30):
        wait_for(lambda: self.port, timeout, "%s to lead:\n%s" % (self.name, self.log()))
        return self.port

    def pause(self, on):
        self.proc.send_signal(signal.SIGSTOP if on else signal.SIGCONT)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()
            self._reader.join(5)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._reader.join(5)

    def files(self):
        """{relative path: bytes} of the replicated files."""
        out = {}
        for root, _, names in os.walk(self.data_dir):
            for n in names:
                if n == "cluster.node" or n.endswith(".tmp"):
                    continue
                p = os.path.join(root, n)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, self.data_dir)] = f.read()
        return out


@pytest.fixture
def etcd(tmp_path):
    e = Etcd(str(tmp_path / "etcd")).start()
    yield e
    e.stop()


@pytest.fixture
def nodes(tmp_path, etcd):
    made = []

    def make(name, sets=()):
        n = ClusterNode(etcd, name, str(tmp_path / name), sets)
        made.append(n)
        return n
    yield make
    for n in made:
        n.kill()
