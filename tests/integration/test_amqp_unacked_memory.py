"""A channel's delivery-tag bookkeeping is sized by its unacked deliveries,
not by the distance between the oldest unacked tag and the newest: one
message left unacked while a million no-ack deliveries pass on the same
channel, then one more ack-mode delivery, costs nothing measurable in the
broker's memory accounting (a window spanning the tags would be 16 MB).

Raw frames: the consumer reads and drops a million deliveries faster
than any client library could parse them.
"""
import socket
import struct
import threading
import time

from amqpraw import BASIC, QUEUE, connect, header_frame, method_frame, publish_args, shortstr, table
from conftest import wait_for
from http_helpers import api

N = 1_100_000
MB = 1 << 20


def mem_used(b):
    st, nodes, _ = api(b, "GET", "/api/nodes")
    assert st == 200
    return nodes[0]["mem_used"]


def messages(b, q):
    st, body, _ = api(b, "GET", "/api/queues/%2F/" + q)
    return body.get("messages", -1) if st == 200 else -1


def get(conn, q, no_ack):
    conn.send(method_frame(1, BASIC, 70, struct.pack("!H", 0) + shortstr(q)
                           + bytes([1 if no_ack else 0])))


def publisher(b, q, n):
    conn = connect(b)
    conn.open_channel(1)
    one = (method_frame(1, BASIC, 40, publish_args("", q)) + header_frame(1, 1)
           + struct.pack("!BHI", 3, 1, 1) + b"x\xce")
    chunk = one * 10000
    for _ in range(n // 10000):
        conn.send(chunk)
    conn.open_channel(2)                # a round trip: everything was read
    conn.close()


def test_one_unacked_among_a_million_no_ack_deliveries(broker):
    b = broker
    conn = connect(b)
    conn.open_channel(1)
    old = conn.declare_queue(1, "old-unacked")
    stream = conn.declare_queue(1, "no-ack-stream")
    conn.send(method_frame(1, BASIC, 40, publish_args("", old)) + header_frame(1, 1)
              + struct.pack("!BHI", 3, 1, 1) + b"a\xce"
              + method_frame(1, BASIC, 40, publish_args("", old)) + header_frame(1, 1)
              + struct.pack("!BHI", 3, 1, 1) + b"b\xce")
    assert wait_for(lambda: messages(b, old) == 2)
    get(conn, old, no_ack=False)        # tag 1 stays unacked
    conn.expect_method(BASIC, 71)
    conn.send(method_frame(1, BASIC, 20, struct.pack("!H", 0) + shortstr(stream)
                           + shortstr("c") + b"\x02" + table({})))     # no-ack consumer
    conn.expect_method(BASIC, 21)

    # the consumer side only counts bytes: a reader thread drops them
    stop = threading.Event()
    got = [0]

    def reader():
        conn.sock.settimeout(0.2)
        while not stop.is_set():
            try:
                n = len(conn.sock.recv(1 << 20))
            except socket.timeout:
                continue
            if n == 0:
                return
            got[0] += n
    t = threading.Thread(target=reader)
    t.start()
    publisher(b, stream, N)
    assert wait_for(lambda: messages(b, stream) == 0, 120)
    time.sleep(0.5)
    stop.set()
    t.join()
    conn.sock.settimeout(5)
    assert got[0] > N * 40, "the deliveries did not come: %d bytes" % got[0]

    before = mem_used(b)
    get(conn, old, no_ack=False)        # tag N+2, with tag 1 still unacked
    time.sleep(0.3)
    after = mem_used(b)
    assert after - before < 2 * MB, "%d bytes for one more unacked delivery" % (after - before)
    conn.close()
