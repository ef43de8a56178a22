"""Shared pieces of the AMQP 0-9-1 feature suites (test_amqp_*.py).

Test modules import the fixtures below by name (``from amqp_helpers import
*``) so pytest sees them as their own. Names are unique per test so the
same tests also run against a long-lived external broker (EXTERNAL_AMQP).
"""
import contextlib
import os
import signal
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ConnectionClosedByBroker

from conftest import wait_for

__all__ = ["EXTERNAL", "current_only", "uname", "connect", "conn", "ch",
           "deadline", "channel_error", "connection_error", "drain",
           "wait_get", "ready_count", "pump", "props", "declare_dlx",
           "x_death", "pika", "wait_for", "ChannelClosedByBroker",
           "ConnectionClosedByBroker", "TEST_SECONDS", "pytest", "time",
           "core_cpu_seconds", "cpu_budget"]

EXTERNAL = bool(os.environ.get("EXTERNAL_AMQP"))

# For behaviour of current RabbitMQ (3.13/4.x) where the 3.10 that Debian
# ships (our usual external reference) differs: skipped against it.
current_only = pytest.mark.skipif(
    EXTERNAL, reason="RabbitMQ 3.13/4.x behaviour; older external brokers differ")

TEST_SECONDS = 30


def uname(prefix="t"):
    """A name no other test (or earlier run against the same broker) uses."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def connect(broker, **kw):
    params = pika.ConnectionParameters(host=broker.host, port=broker.port,
                                       heartbeat=0, connection_attempts=1,
                                       socket_timeout=5, **kw)
    return pika.BlockingConnection(params)


@pytest.fixture
def conn(broker):
    c = connect(broker)
    yield c
    if c.is_open:
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def ch(conn):
    return conn.channel()


class DeadlineExceeded(Exception):
    pass


@pytest.fixture(autouse=True)
def deadline():
    """Fail a hung test (a broker that never answers) instead of blocking."""
    def on_alarm(signum, frame):
        raise DeadlineExceeded("test exceeded %d s" % TEST_SECONDS)
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def channel_error(code, text_prefix=None):
    """Expect the broker to close the channel with ``code``."""
    with pytest.raises(ChannelClosedByBroker) as ei:
        yield ei
    assert ei.value.reply_code == code, (ei.value.reply_code, ei.value.reply_text)
    if text_prefix is not None:
        assert ei.value.reply_text.startswith(text_prefix), ei.value.reply_text


@contextlib.contextmanager
def connection_error(code, text_prefix=None):
    """Expect the broker to close the whole connection with ``code``."""
    with pytest.raises(ConnectionClosedByBroker) as ei:
        yield ei
    assert ei.value.reply_code == code, (ei.value.reply_code, ei.value.reply_text)
    if text_prefix is not None:
        assert ei.value.reply_text.startswith(text_prefix), ei.value.reply_text


def drain(ch, queue, ack=True):
    """Bodies of every message basic.get can take from ``queue`` now."""
    out = []
    while True:
        m, p, b = ch.basic_get(queue, auto_ack=ack)
        if m is None:
            return out
        out.append(b)


def wait_get(ch, queue, timeout=3.0, auto_ack=True):
    """basic.get until a message arrives; (method, properties, body) or Nones."""
    end = time.time() + timeout
    while True:
        m, p, b = ch.basic_get(queue, auto_ack=auto_ack)
        if m is not None or time.time() > end:
            return m, p, b
        time.sleep(0.02)


def ready_count(ch, queue):
    """Ready messages in ``queue`` (queue.declare-ok message_count)."""
    return ch.queue_declare(queue, passive=True).method.message_count


def cpu_budget(seconds):
    """A bound on the core thread's CPU for some work, as given for a plain
    build and four times it under a sanitizer (ASan or TSan slows the
    broker several times over); the costs these bounds guard against are
    larger still there."""
    return seconds * 4 if {"ASAN_OPTIONS", "TSAN_OPTIONS"} & set(os.environ) else seconds


def core_cpu_seconds(broker):
    """CPU seconds of the broker's core thread (its main thread) so far."""
    pid = broker.proc.pid
    with open("/proc/%d/task/%d/stat" % (pid, pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pump(conn, pred, timeout=3.0):
    """Run the connection's I/O (consumer callbacks) until pred() or timeout."""
    end = time.time() + timeout
    while not pred() and time.time() < end:
        conn.process_data_events(time_limit=0.02)
    return pred()


def props(**kw):
    return pika.BasicProperties(**kw)


def declare_dlx(ch, dlx_type="fanout", dlq_key="", **queue_args):
    """A dead-letter exchange, a queue bound to it, and a source queue.

    Returns (source queue, dead-letter queue, dead-letter exchange); the
    source has x-dead-letter-exchange set plus ``queue_args`` (names with
    underscores become x- argument names: message_ttl -> x-message-ttl).
    """
    dlx = uname("dlx")
    ch.exchange_declare(dlx, dlx_type)
    dlq = ch.queue_declare(uname("dlq")).method.queue
    ch.queue_bind(dlq, dlx, dlq_key)
    args = {"x-dead-letter-exchange": dlx}
    for k, v in queue_args.items():
        args["x-" + k.replace("_", "-")] = v
    q = ch.queue_declare(uname("src"), arguments=args).method.queue
    return q, dlq, dlx


def x_death(p, queue=None, reason=None):
    """The x-death entry of properties ``p`` for (queue, reason), or the list."""
    deaths = (p.headers or {}).get("x-death")
    assert isinstance(deaths, list) and deaths, p.headers
    if queue is None and reason is None:
        return deaths
    for d in deaths:
        if (queue is None or d["queue"] == queue) and \
                (reason is None or d["reason"] == reason):
            return d
    raise AssertionError("no x-death for %s/%s in %r" % (queue, reason, deaths))
