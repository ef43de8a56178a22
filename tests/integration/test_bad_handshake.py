"""Handshake order, negotiated limits, awkward-but-legal framing, malformed
content properties and peer strings in the log: raw sockets, as in
test_bad_input.py. Every case ends by checking the broker still serves.
"""
import os
import random
import struct
import time

import pika
import pytest

from amqpraw import (BASIC, CHANNEL, CONNECTION, QUEUE, FRAME_BODY, FRAME_HEADER,
                     FRAME_METHOD, PROTOCOL_HEADER, RawConn, assert_serves, body_frame,
                     connect, expect_close, frame, header_frame, method_frame,
                     publish_args, pika_params, queue_declare_args, shortstr)


# ---- handshake order and limits --------------------------------------------------

def _tune_ok_early(conn):
    conn.send(method_frame(0, CONNECTION, 31, struct.pack("!HIH", 0, 131072, 0)))


def _open_before_tune_ok(conn):
    conn.start_ok()
    conn.recv_method()                    # connection.tune, not answered
    conn.send(method_frame(0, CONNECTION, 40, shortstr("/") + shortstr("") + b"\x00"))


def _truncated_start_ok(conn):
    conn.send(method_frame(0, CONNECTION, 11, b"\x00\x00\x00\x10abc"))


def _huge_frame_before_tune(conn):
    conn.send_quietly(frame(FRAME_METHOD, 0, b"\x00" * 20000))


@pytest.mark.parametrize("step", [_tune_ok_early, _open_before_tune_ok, _truncated_start_ok,
                                  _huge_frame_before_tune])
def test_handshake_out_of_order(broker, step):
    # RabbitMQ closes the socket (a few seconds later) without connection.close
    # during the handshake; an error close is fine too. Never open-ok.
    conn = RawConn(broker.host, broker.port, timeout=10)
    conn.start()
    step(conn)
    c = conn.wait_close(timeout=8)
    assert c is None or 500 <= c.code < 600 or c.code == 403, c
    conn.close()
    assert_serves(broker)


def test_channel_open_before_connection_open(broker):
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=0)
    conn.send(method_frame(1, CHANNEL, 10, shortstr("")))
    c = conn.wait_close(timeout=8)
    # RabbitMQ: 505 "UNEXPECTED_FRAME - type 1, all octets = ..."
    assert c is not None and c.code == 505 and c.text.startswith("UNEXPECTED_FRAME"), c
    conn.close()
    assert_serves(broker)


def test_channel_count_limited_by_channel_max(broker):
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(channel_max=2, heartbeat=0)
    conn.open()
    conn.open_channel(1)
    conn.open_channel(2)
    conn.send(method_frame(3, CHANNEL, 10, shortstr("")))
    c = expect_close(conn, 530, "NOT_ALLOWED")
    assert c.text == ("NOT_ALLOWED - number of channels opened (2) has reached the "
                      "negotiated channel_max (2)"), c
    assert_serves(broker)


def test_channel_close_and_reuse(broker):
    conn = connect(broker)
    conn.open_channel(1)
    conn.send(method_frame(1, CHANNEL, 40, struct.pack("!H", 200) + shortstr("bye")
                           + struct.pack("!HH", 0, 0)))
    conn.expect_method(CHANNEL, 41)
    conn.open_channel(1)
    conn.declare_queue(1, "", exclusive=True)
    conn.send(method_frame(0, CONNECTION, 50, struct.pack("!H", 200) + shortstr("bye")
                           + struct.pack("!HH", 0, 0)))
    conn.expect_method(CONNECTION, 51)
    conn.close()
    assert_serves(broker)


def _rss_kib(broker):
    if broker.proc is None:
        return None
    with open("/proc/%d/status" % broker.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


@pytest.mark.parametrize("size", [1 << 40, (1 << 64) - 1, 200 * 1024 * 1024])
def test_content_header_announcing_huge_body(broker, size):
    # Nothing may be allocated for the announced size. RabbitMQ just waits
    # for the body; refusing with a close is fine too.
    before = _rss_kib(broker)
    conn = connect(broker)
    conn.open_channel(1)
    conn.send(method_frame(1, BASIC, 40, publish_args("", "nowhere")))
    conn.send(header_frame(1, size))
    conn.send_quietly(body_frame(1, b"x" * 1000))
    c = conn.wait_close(timeout=1, allow_timeout=True)
    assert c is None or c.code in (406, 501, 505, 506), c
    assert_serves(broker)
    after = _rss_kib(broker)
    if before is not None:
        assert after - before < 64 * 1024, (before, after)
    conn.close()
    assert_serves(broker)


def test_message_larger_than_max_message_size(make_broker):
    # RabbitMQ 4.x refuses bodies over max_message_size (default 16 MiB) with
    # 406 "PRECONDITION_FAILED - message size N is larger than configured max
    # size M" on the channel. Needs a configurable limit: sluiced only.
    broker = make_broker("--set", "broker.max_message_size=1M")
    if broker.external:
        pytest.skip("needs the broker's max_message_size set to 1M")
    conn = connect(broker)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    body = b"y" * (1024 * 1024 + 1)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, len(body)))
    step = conn.frame_max - 8
    for i in range(0, len(body), step):
        conn.send_quietly(body_frame(1, body[i:i + step]))
    c = conn.wait_channel_close()
    assert (c.channel, c.code, c.class_id, c.method_id) == (1, 406, BASIC, 40), c
    assert c.text.startswith("PRECONDITION_FAILED - message size 1048577 is larger than "), c
    conn.close()
    # exactly the limit is fine
    conn = connect(broker)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    body = b"z" * (1024 * 1024)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, len(body)))
    for i in range(0, len(body), step):
        conn.send(body_frame(1, body[i:i + step]))
    conn.send(method_frame(1, QUEUE, 10, queue_declare_args(q, passive=True)))
    ch, payload = conn.expect_method(QUEUE, 11)    # round trip: no close came
    assert struct.unpack("!I", payload[-8:-4])[0] == 1   # message count
    conn.close()
    assert_serves(broker)


def test_handshake_timeout(make_broker):
    # RabbitMQ's handshake_timeout is 10 s; sluiced's is configurable.
    broker = make_broker("--set", "amqp.handshake_timeout=500")
    if broker.external:
        pytest.skip("needs a short handshake_timeout")
    silent = RawConn(broker.host, broker.port)               # sends nothing
    stalled = RawConn(broker.host, broker.port)
    stalled.start()                                          # never answers start
    t0 = time.time()
    assert silent.wait_eof(5) and stalled.wait_eof(5)
    assert time.time() - t0 < 4
    silent.close()
    stalled.close()
    assert_serves(broker)


# ---- legal but awkward framing --------------------------------------------------

def _session_bytes(q, body):
    """channel.open, queue.declare, a publish and a basic.get in one buffer."""
    return (method_frame(1, CHANNEL, 10, shortstr(""))
            + method_frame(1, QUEUE, 10, queue_declare_args(q, exclusive=True))
            + method_frame(1, BASIC, 40, publish_args("", q))
            + header_frame(1, len(body)) + body_frame(1, body[:3]) + body_frame(1, body[3:])
            + method_frame(1, BASIC, 70, b"\x00\x00" + shortstr(q) + b"\x01"))


def _read_session(conn, body):
    conn.expect_method(CHANNEL, 11)
    conn.expect_method(QUEUE, 11)
    conn.expect_method(BASIC, 71)
    ftype, ch, hdr = conn.recv_frame()
    assert ftype == FRAME_HEADER and struct.unpack("!Q", hdr[4:12])[0] == len(body)
    got = b""
    while len(got) < len(body):
        ftype, ch, payload = conn.recv_frame()
        assert ftype == FRAME_BODY
        got += payload
    assert got == body


def test_pipelined_frames_in_one_write(broker):
    conn = connect(broker)
    body = b"pipelined body"
    conn.send(_session_bytes("pipe-" + os.urandom(4).hex(), body))
    _read_session(conn, body)
    conn.close()
    assert_serves(broker)


def test_frames_dribbled_byte_by_byte(broker):
    conn = RawConn(broker.host, broker.port)
    for b in PROTOCOL_HEADER:
        conn.send(bytes([b]))
        time.sleep(0.001)
    conn.expect_method(CONNECTION, 10)
    conn.start_ok()
    conn.tune(heartbeat=0)
    conn.open()
    body = b"dribbled body"
    data = _session_bytes("dribble-" + os.urandom(4).hex(), body)
    for i in range(len(data)):
        conn.send(data[i:i + 1])
        if i % 7 == 0:
            time.sleep(0.001)
    _read_session(conn, body)
    conn.close()
    assert_serves(broker)


def test_frame_exactly_frame_max_accepted(broker):
    conn = connect(broker, frame_max=4096)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    body = os.urandom(4096 - 8)              # the whole frame is 4096 octets
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, len(body)))
    conn.send(body_frame(1, body))
    conn.send(method_frame(1, BASIC, 70, b"\x00\x00" + shortstr(q) + b"\x01"))
    conn.expect_method(BASIC, 71)
    conn.recv_frame()
    got = b""
    while len(got) < len(body):
        ftype, ch, payload = conn.recv_frame()
        assert ftype == FRAME_BODY and len(payload) <= 4096 - 8
        got += payload
    assert got == body
    conn.close()


def test_frame_payload_limit_matches_rabbitmq(broker):
    # RabbitMQ tolerates payloads up to frame_max itself (8 octets of fudge
    # for clients that forget the frame overhead) and refuses anything larger,
    # naming the limit as frame_max - 8.
    conn = connect(broker, frame_max=4096)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, 4096))
    conn.send(body_frame(1, b"a" * 4096))
    conn.send(method_frame(1, QUEUE, 10, queue_declare_args(q, passive=True)))
    conn.expect_method(QUEUE, 11)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, 4097))
    conn.send_quietly(body_frame(1, b"b" * 4097))
    c = expect_close(conn, 501, "FRAME_ERROR")
    assert c.text == "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,4097,4088}", c
    assert_serves(broker)


def test_garbage_from_many_clients_while_one_works(broker):
    good = pika.BlockingConnection(pika_params(broker))
    ch = good.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    rng = random.Random(99)
    bad = []
    for i in range(20):
        c = connect(broker)
        c.send_quietly(bytes(rng.getrandbits(8) for _ in range(200)))
        bad.append(c)
        ch.basic_publish("", q, b"%d" % i)
    for c in bad:
        c.close()
    got = []
    for _ in range(200):
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method:
            got.append(body)
        if len(got) == 20:
            break
        if not method:
            time.sleep(0.01)
    assert got == [b"%d" % i for i in range(20)]
    good.close()
    assert_serves(broker)


@pytest.mark.parametrize("flags,props", [
    (0x8000, b""),                       # content-type flagged, no bytes
    (0x8000, b"\x10ab"),                 # shortstr longer than the frame
    (0x2000, b"\x00\x00\x00\x20abc"),    # headers table longer than the frame
])
def test_malformed_content_properties(broker, flags, props):
    # RabbitMQ 3.10 fails to decode and closes with 541 INTERNAL_ERROR; a
    # 501/502 naming the bad frame is better. Any hard-error close will do.
    conn = connect(broker)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, 3, flags=flags, props=props))
    conn.send(body_frame(1, b"abc"))
    conn.send(method_frame(1, BASIC, 70, b"\x00\x00" + shortstr(q) + b"\x01"))
    c = conn.wait_close()
    assert c is not None and c.code in (501, 502, 541), c
    conn.close()
    assert_serves(broker)


def test_peer_strings_cannot_forge_log_lines(broker):
    # Names come from the peer; logging them raw would let a client write
    # its own log lines (and control characters) into the broker's log.
    fake = "FORGED-LOG-LINE error everything is on fire"
    name = "q\n" + fake + "\r\x1b[31m"
    conn = pika.BlockingConnection(pika_params(broker))
    ch = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
        ch.basic_get(name)
    assert ei.value.reply_code == 404
    conn.close()
    assert_serves(broker)
    if broker.external:
        return
    time.sleep(0.2)
    for line in broker.log().splitlines():
        assert not line.startswith(fake), "peer text became its own log line"
        assert "\x1b" not in line and "\r" not in line, repr(line)
