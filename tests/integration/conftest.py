"""Shared fixtures for the integration suites.

Every test gets its own sluiced on a free loopback port with a temporary
data directory (``--set amqp.port=0``; the broker logs the port it bound).
Set SLUICED to the binary (tools/dev.sh and meson do). Set
EXTERNAL_AMQP=host:port to point the same tests at another broker, for
example RabbitMQ, to check what a test expects.

MQTT: the broker also gets ``--set mqtt.bind=127.0.0.1 --set mqtt.port=0``
and ``mqtt_port`` comes from its "listening mqtt HOST:PORT" line (None
while the daemon has no MQTT listener: such a build refuses the [mqtt]
keys, and the broker is then started without them). Set
EXTERNAL_MQTT=host:port to point the MQTT tests at another broker, for
example Mosquitto.
"""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLUICED = os.environ.get("SLUICED", os.path.join(ROOT, "build", "daemon", "sluiced"))
LISTEN_RE = re.compile(r"listening (\w+) (\S+):(\d+)")
STARTED_RE = re.compile(r"sluiced \S+ started")
MQTT_ARGS = ["--set", "mqtt.bind=127.0.0.1", "--set", "mqtt.port=0"]
# Set once a sluiced refuses the [mqtt] section (a build without MQTT yet).
_mqtt_unsupported = []
# HTTP (management API, /metrics, dashboard): ``b.ports["http"]``, from the
# "listening http HOST:PORT" line; left out for a daemon without [http].
HTTP_ARGS = ["--set", "http.bind=127.0.0.1", "--set", "http.port=0"]
_http_unsupported = []
# Prometheus (/metrics on its own listener): ``b.ports["prometheus"]``.
PROM_ARGS = ["--set", "prometheus.bind=127.0.0.1", "--set", "prometheus.port=0"]
_prom_unsupported = []


class Broker:
    """A running sluiced. ``port`` is its AMQP port; ``log()`` its stderr so far."""

    def __init__(self, extra_args=(), config_text=None, reserved=None):
        """reserved: the port_helpers.Ports the configuration names, held
        until the broker listens on each of them (or gives up), then
        released."""
        try:
            self._start(extra_args, config_text)
            if reserved is not None:
                wait_for(lambda: set(reserved.ports) <= set(self.ports.values())
                         or self.proc is None or self.proc.poll() is not None,
                         timeout=30)
        finally:
            if reserved is not None:
                reserved.release()

    def _start(self, extra_args, config_text):
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-test-")
        self.ports = {}
        self.lines = []
        self.external = os.environ.get("EXTERNAL_AMQP")
        self.external_mqtt = os.environ.get("EXTERNAL_MQTT")
        self.mqtt_host, self.mqtt_port = None, None
        if self.external_mqtt:
            mhost, mport = self.external_mqtt.rsplit(":", 1)
            self.mqtt_host, self.mqtt_port = mhost, int(mport)
        if self.external:
            host, port = self.external.rsplit(":", 1)
            self.host, self.port, self.proc = host, int(port), None
            self.ports["amqp"] = self.port
            return
        args = [SLUICED]
        if config_text is not None:
            path = os.path.join(self.tmp.name, "sluice.conf")
            with open(path, "w") as f:
                f.write(config_text)
            args += ["-c", path]
        args += ["--set", "amqp.bind=127.0.0.1", "--set", "amqp.port=0",
                 "--set", "broker.data_dir=" + os.path.join(self.tmp.name, "data"),
                 "--set", "broker.log_level=info"]
        if os.environ.get("SLUICE_IO_THREADS"):
            # tools/dev.sh runs the suite once per threading mode.
            args += ["--set", "broker.io_threads=" + os.environ["SLUICE_IO_THREADS"]]
        self.want_mqtt = not _mqtt_unsupported
        if self.want_mqtt:
            args += MQTT_ARGS
        self.want_http = not _http_unsupported
        if self.want_http:
            args += HTTP_ARGS
        self.want_prom = not _prom_unsupported
        if self.want_prom:
            args += PROM_ARGS
        args += list(extra_args)
        self._spawn(args)
        if (self.want_mqtt and "amqp" not in self.ports
                and "unknown section [mqtt]" in self.log()):
            # A daemon without MQTT yet: run it (and the rest) without it.
            _mqtt_unsupported.append(True)
            self.proc.wait()
            self._reader.join(2)
            self.lines, self.ports = [], {}
            self.want_mqtt = False
            self._spawn(_without_mqtt_args(args))
        if (self.want_http and "amqp" not in self.ports
                and "unknown section [http]" in self.log()):
            _http_unsupported.append(True)
            self.proc.wait()
            self._reader.join(2)
            self.lines, self.ports = [], {}
            self.want_http = False
            self._spawn(_without_args(args, HTTP_ARGS))
        if (self.want_prom and "amqp" not in self.ports
                and "unknown section [prometheus]" in self.log()):
            _prom_unsupported.append(True)
            self.proc.wait()
            self._reader.join(2)
            self.lines, self.ports = [], {}
            self.want_prom = False
            self._spawn(_without_args(args, PROM_ARGS))
        if "amqp" not in self.ports:
            self.stop()
            raise RuntimeError("sluiced did not start:\n" + self.log())
        self.host = "127.0.0.1"
        self.port = self.ports["amqp"]
        if "mqtt" in self.ports and not self.external_mqtt:
            self.mqtt_host, self.mqtt_port = "127.0.0.1", self.ports["mqtt"]

    def _spawn(self, args):
        # stderr goes to a file: log() reads what the broker has written,
        # however far a reader thread on a busy machine has got.
        self.logpath = os.path.join(self.tmp.name, "sluiced.log")
        with open(self.logpath, "w") as err:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._ready.wait(10)

    def _read(self):
        """Follow the log for the ports and the start line."""
        with open(self.logpath, errors="replace") as f:
            partial = ""
            while True:
                chunk = f.readline()
                if not chunk:
                    if self.proc.poll() is not None:
                        rest = f.read()
                        if not rest:
                            break
                        chunk = rest
                    else:
                        time.sleep(0.01)
                        continue
                partial += chunk
                if not partial.endswith("\n") and self.proc.poll() is None:
                    continue
                line, partial = partial, ""
                self.lines.append(line)
                m = LISTEN_RE.search(line)
                if m:
                    self.ports[m.group(1)] = int(m.group(3))
                # Every listener is up once the daemon says it started.
                if STARTED_RE.search(line):
                    self._ready.set()
        self._ready.set()

    def log(self):
        if self.proc is not None and os.path.exists(self.logpath):
            with open(self.logpath, errors="replace") as f:
                return f.read()
        return "".join(self.lines)

    def alive(self):
        return self.proc is None or self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stop the broker; return its exit code (None for an external one)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        self.tmp.cleanup()
        return self.proc.returncode


def _without_mqtt_args(args):
    return _without_args(args, MQTT_ARGS)


def _without_args(args, drop):
    out, i = [], 0
    while i < len(args):
        if args[i] == "--set" and i + 1 < len(args) and args[i + 1] in drop:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


@pytest.fixture
def broker():
    b = Broker()
    yield b
    alive = b.alive()
    code = b.stop()
    assert alive, "broker died during the test:\n" + b.log()
    assert code in (0, None), "broker exit %s:\n%s" % (code, b.log())
    assert "AddressSanitizer" not in b.log() and "runtime error" not in b.log(), b.log()


@pytest.fixture
def make_broker():
    """Start brokers with extra args or a config text; all are stopped at the end.
    reserved=: the Ports (port_helpers) of listeners the args name, released
    once the broker listens on them."""
    started = []

    def make(*extra_args, config_text=None, reserved=None):
        b = Broker(extra_args, config_text, reserved)
        started.append(b)
        return b
    yield make
    for b in started:
        b.stop()


def wait_for(pred, timeout=5.0, interval=0.02):
    """Poll pred until true or timeout; return its last value."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() > end:
            return v
        time.sleep(interval)
