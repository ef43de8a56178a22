"""Incomplete AMQP publishes cannot make the broker hold memory they have
not sent: a body grows as its frames arrive (not to the size its header
announces), a connection's incomplete bodies are capped
(amqp.max_inflight_content, 506 RESOURCE_ERROR), and an incomplete
publish that stalls past amqp.content_timeout closes the connection (506).

Raw frames (amqpraw.py): no client library announces a body and then
withholds it.
"""
import time

import pytest

from amqpraw import (BASIC, CHANNEL, body_frame, connect, expect_close, header_frame,
                     method_frame, publish_args, shortstr, assert_serves)
from conftest import wait_for
from http_helpers import api

MB = 1 << 20


def node(b):
    st, nodes, _ = api(b, "GET", "/api/nodes")
    assert st == 200, nodes
    return nodes[0]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def bodies(channel, data, chunk=131072 - 8):
    return b"".join(body_frame(channel, data[i:i + chunk])
                    for i in range(0, len(data), chunk))


def announce(conn, channel, size, routing_key="nowhere", body=b""):
    conn.send(method_frame(channel, BASIC, 40, publish_args("", routing_key))
              + header_frame(channel, size) + bodies(channel, body))


def open_channels(conn, n):
    conn.send(b"".join(method_frame(i, CHANNEL, 10, shortstr("")) for i in range(1, n + 1)))
    for _ in range(n):
        conn.expect_method(CHANNEL, 11)


@pytest.mark.parametrize("sent", [0, 100])
def test_announced_bodies_cost_nothing_until_sent(make_broker, sent):
    """200 channels each announce a 16 MB body and send none (or 100
    bytes) of it, and the connection stays open: no memory alarm (the
    watermark is 1 GB, so holding the 3.2 GB announced would raise it),
    neither mem_used nor RSS grows by more than a few MB, and other
    clients are served."""
    b = make_broker("--set", "broker.memory_high_watermark=1G")
    base_used, base_rss = node(b)["mem_used"], rss_kb(b.proc.pid)
    conn = connect(b)
    open_channels(conn, 200)
    for ch in range(1, 201):
        announce(conn, ch, 16 * MB, body=b"x" * sent)
    conn.open_channel(201)              # answered after every frame above
    time.sleep(0.3)                     # the alarm check runs every 100 ms
    n = node(b)
    assert not n["mem_alarm"], n
    assert n["mem_used"] - base_used < 4 * MB, (base_used, n["mem_used"])
    assert rss_kb(b.proc.pid) - base_rss < 8 * 1024
    assert_serves(b)
    conn.close()


def test_inflight_content_is_capped_per_connection(make_broker):
    b = make_broker("--set", "amqp.max_inflight_content=1M", "--set", "broker.max_message_size=1M")
    conn = connect(b)
    open_channels(conn, 3)
    # the room held grows with what arrived: 600 KB of a 900 KB body
    # holds at most the 900 KB, then 200 KB more on another channel is over
    announce(conn, 1, 900 * 1024, body=b"a" * 600 * 1024)
    announce(conn, 2, 900 * 1024, body=b"b" * 200 * 1024)
    c = expect_close(conn, 506, "RESOURCE_ERROR - incomplete messages on this connection")
    assert "amqp.max_inflight_content (1048576)" in c.text, c
    assert_serves(b)


def test_inflight_cap_counts_only_incomplete_messages(make_broker):
    """Complete messages leave the count: many bodies of 600 KB one after
    another on one connection, and two of 400 KB interleaved, pass a 1 MB
    cap."""
    b = make_broker("--set", "amqp.max_inflight_content=1M", "--set", "broker.max_message_size=1M")
    conn = connect(b)
    open_channels(conn, 2)
    q = conn.declare_queue(1, "")
    for _ in range(5):
        announce(conn, 1, 600 * 1024, q, b"z" * 600 * 1024)
    announce(conn, 1, 400 * 1024, q, b"1" * 200 * 1024)
    announce(conn, 2, 400 * 1024, q, b"2" * 200 * 1024)
    conn.send(bodies(1, b"1" * 200 * 1024) + bodies(2, b"2" * 200 * 1024))
    conn.open_channel(3)
    assert wait_for(lambda: api(b, "GET", "/api/queues/%2F/" + q)[1].get("messages") == 7)
    conn.close()


def test_stalled_body_closes_the_connection(make_broker):
    b = make_broker("--set", "amqp.content_timeout=300")
    conn = connect(b)
    conn.open_channel(1)
    announce(conn, 1, 1000, body=b"x" * 10)
    c = expect_close(conn, 506, "RESOURCE_ERROR - channel 1: no content body frame for")
    assert "amqp.content_timeout" in c.text, c
    assert_serves(b)


def test_stalled_header_closes_the_connection(make_broker):
    b = make_broker("--set", "amqp.content_timeout=300")
    conn = connect(b)
    conn.open_channel(1)
    conn.send(method_frame(1, BASIC, 40, publish_args("", "q")))
    expect_close(conn, 506, "RESOURCE_ERROR - channel 1: no content header for")


def test_slow_but_steady_body_is_not_a_stall(make_broker):
    """Frames that keep coming, each well within the timeout, for longer
    than two timeouts in total: the message arrives."""
    b = make_broker("--set", "amqp.content_timeout=2000")
    conn = connect(b)
    conn.open_channel(1)
    q = conn.declare_queue(1, "")
    announce(conn, 1, 25, q)
    start = time.time()
    for _ in range(25):
        conn.send(body_frame(1, b"s"))
        time.sleep(0.2)
    assert time.time() - start > 4.0
    assert wait_for(lambda: api(b, "GET", "/api/queues/%2F/" + q)[1].get("messages") == 1)
    conn.open_channel(2)                # still open
    conn.close()
