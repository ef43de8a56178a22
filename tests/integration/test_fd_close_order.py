"""A socket leaves the event loop's epoll set before its descriptor is
closed.

TLS and WebSocket connections are libevent bufferevents; freeing one
deletes its events and closes the socket from a finalizer later in the
same loop iteration. Were the deletion only queued (libevent's epoll
changelist) and applied at the next epoll_wait, epoll_ctl would name a
descriptor already closed: EBADF, or, once the number is reused by
another thread (the journal threads open and close segment files all
the time), a file that is not the broker loop's at all. ThreadSanitizer
reports that as close() in the journal thread racing epoll_ctl on the
core thread.

The broker runs under strace with broker.io_threads = 0 (the sockets on
the core thread's loop) while persistent publishes with confirms keep
the journal threads opening and closing files, and TLS and WebSocket
connections come and go; then no epoll_ctl of the broker may have
failed on a closed or foreign descriptor.
"""
import re

import paho.mqtt.client as mqtt
import pika
import pytest

import conftest
from conftest import wait_for
from strace_helpers import STRACE, stop_traced, wrap_sluiced
from port_helpers import Ports
from tls_helpers import pki, tls_config  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(STRACE is None, reason="strace not installed")

ROUNDS = 4
MESSAGES = 30

# epoll_ctl(3, EPOLL_CTL_DEL, 22, 0x7ffc...) = -1 EBADF (Bad file descriptor)
CALL = re.compile(r"epoll_ctl\(\d+, (EPOLL_CTL_\w+), (\d+),.*\) += (-?\d+)(?: (\w+))?")


@pytest.fixture
def traced(tmp_path, monkeypatch, pki):
    trace = tmp_path / "epoll.trace"
    wrap_sluiced(tmp_path, monkeypatch, "-o %s -e trace=epoll_ctl" % trace)
    held = Ports()
    ports = {"amqps": held.new(), "ws": held.new()}
    conf = ("[amqp]\ntls_port = %d\n[mqtt]\nws_port = %d\nws_bind = 127.0.0.1\n%s"
            % (ports["amqps"], ports["ws"], tls_config(pki)))
    b = conftest.Broker(("--set", "broker.io_threads=0"), config_text=conf, reserved=held)
    state = {"broker": b, "trace": trace, "ports": ports, "code": None}
    yield state
    if state["code"] is None:
        stop_traced(b)


def durable_round(port, pki, i):
    """One AMQPS connection: persistent publishes to a durable queue, each
    confirmed (a journal pass each), then gone again."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "localhost", port, ssl_options=pika.SSLOptions(pki.context(), "localhost"),
        connection_attempts=1, socket_timeout=5))
    ch = conn.channel()
    ch.confirm_delivery()
    q = "fd-order-%d" % i
    ch.queue_declare(q, durable=True)
    props = pika.BasicProperties(delivery_mode=2)
    for n in range(MESSAGES):
        ch.basic_publish("", q, b"m%d" % n, props, mandatory=True)
    assert ch.queue_declare(q, passive=True).method.message_count == MESSAGES
    ch.queue_delete(q)
    conn.close()


def ws_round(port, i):
    """One MQTT-over-WebSocket connection: a QoS 1 publish, then gone."""
    done = []
    c = mqtt.Client(client_id="fd-order-%d" % i, transport="websockets")
    c.ws_set_options(path="/ws")
    c.username_pw_set("guest", "guest")
    c.on_connect = lambda cl, u, f, rc: done.append(rc)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        assert wait_for(lambda: done == [0], timeout=5), done
        c.publish("fd/order", b"x", qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_sockets_leave_epoll_before_close(traced, pki):
    b, ports = traced["broker"], traced["ports"]
    assert b.ports.get("amqps") == ports["amqps"] and b.ports.get("ws") == ports["ws"], b.log()
    for i in range(ROUNDS):
        durable_round(ports["amqps"], pki, i)
        ws_round(ports["ws"], i)
    traced["code"] = stop_traced(b)
    assert traced["code"] == 0, b.log()
    assert "Sanitizer" not in b.log() and "runtime error" not in b.log(), b.log()

    calls = [CALL.search(line) for line in traced["trace"].read_text().splitlines()]
    calls = [m for m in calls if m]
    # The trace saw the connections' own events come and go...
    assert sum(1 for m in calls if m.group(1) == "EPOLL_CTL_DEL") >= 2 * ROUNDS, calls[:20]
    # ...and none of them named a closed descriptor (EBADF) or one that was
    # no longer the loop's (a file: EPERM; a descriptor not in the set: ENOENT).
    bad = [m.group(0) for m in calls
           if m.group(4) == "EBADF" or (m.group(1) == "EPOLL_CTL_DEL" and m.group(3) != "0")]
    assert bad == [], bad
