"""Login, vhost access, connection tuning and heartbeats."""
import os
import socket
import struct
import time

import pika
import pika.exceptions as pe
import pytest

from conftest import wait_for
from amqpraw import (BASIC, CONNECTION, FRAME_HEARTBEAT, QUEUE, RawConn, assert_serves,
                     body_frame, frame, header_frame, method_frame, pika_params,
                     publish_args, queue_declare_args, shortstr)


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(6).hex())


def pika_connect(broker, **kw):
    return pika.BlockingConnection(pika_params(broker, **kw))


def refused_code(exc):
    """The reply code inside a pika connection failure, or None."""
    for cur in [exc] + list(getattr(exc, "args", ())):
        if isinstance(cur, pe.ConnectionClosedByBroker):
            return cur.reply_code
        if isinstance(cur, str):
            for code in (403, 530, 501, 503, 541):
                if "(%d)" % code in cur:
                    return code
    return None


# ---- authentication ----------------------------------------------------------

def test_server_offers_plain_and_amqplain(broker):
    conn = RawConn(broker.host, broker.port)
    conn.start()
    assert conn.version == (0, 9)
    mechs = conn.mechanisms.decode().split()
    assert "PLAIN" in mechs and "AMQPLAIN" in mechs
    assert b"en_US" in conn.locales
    caps = conn.server_properties.get("capabilities", {})
    # pika and other clients rely on these being advertised
    for cap in ("publisher_confirms", "basic.nack", "consumer_cancel_notify",
                "exchange_exchange_bindings", "authentication_failure_close",
                "connection.blocked", "consumer_priorities", "per_consumer_qos",
                "direct_reply_to"):
        assert caps.get(cap) is True, (cap, caps)
    assert "product" in conn.server_properties
    conn.close()


def test_wrong_password_refused(broker):
    with pytest.raises((pe.ProbableAuthenticationError, pe.ConnectionClosedByBroker,
                        pe.AuthenticationError)) as ei:
        pika_connect(broker, credentials=pika.PlainCredentials("guest", "not-the-password"))
    assert refused_code(ei.value) == 403, repr(ei.value)
    assert_serves(broker)


def test_unknown_user_refused(broker):
    with pytest.raises((pe.ProbableAuthenticationError, pe.ConnectionClosedByBroker,
                        pe.AuthenticationError)) as ei:
        pika_connect(broker, credentials=pika.PlainCredentials(uniq("nobody"), "x"))
    assert refused_code(ei.value) == 403, repr(ei.value)
    assert_serves(broker)


def test_wrong_password_raw_close_frame(broker):
    # A client announcing authentication_failure_close gets a real close.
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok("guest", "bad", "PLAIN")
    c = conn.wait_close()
    assert c is not None
    assert c.code == 403
    assert c.text.startswith("ACCESS_REFUSED - Login was refused using authentication "
                             "mechanism PLAIN"), c
    assert conn.wait_eof(5)
    conn.close()
    assert_serves(broker)


def test_unknown_vhost_not_allowed(broker):
    vhost = uniq("nosuch")
    with pytest.raises((pe.ProbableAccessDeniedError, pe.ConnectionClosedByBroker)) as ei:
        pika_connect(broker, virtual_host=vhost)
    assert refused_code(ei.value) == 530, repr(ei.value)
    assert_serves(broker)


def test_unknown_vhost_raw_reply(broker):
    vhost = uniq("nosuch")
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=0)
    conn.send(method_frame(0, CONNECTION, 40, shortstr(vhost) + shortstr("") + b"\x00"))
    c = conn.wait_close()
    assert c is not None
    assert (c.code, c.class_id, c.method_id) == (530, CONNECTION, 40), c
    assert c.text == "NOT_ALLOWED - vhost %s not found" % vhost, c
    conn.close()
    assert_serves(broker)


def test_amqplain_login(broker):
    conn = RawConn(broker.host, broker.port)
    conn.handshake(mechanism="AMQPLAIN")
    conn.open_channel(1)
    name = conn.declare_queue(1, "", exclusive=True)
    assert name.startswith("amq.gen-")
    conn.send(method_frame(0, CONNECTION, 50, struct.pack("!H", 200) + shortstr("bye")
                           + struct.pack("!HH", 0, 0)))
    conn.expect_method(CONNECTION, 51)
    conn.close()
    assert_serves(broker)


def test_amqplain_wrong_password(broker):
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok("guest", "bad", "AMQPLAIN")
    c = conn.wait_close()
    assert c is not None and c.code == 403, c
    assert "AMQPLAIN" in c.text
    conn.close()
    assert_serves(broker)


def test_unknown_mechanism_refused(broker):
    # RabbitMQ answers a handshake error by closing the socket (after a short
    # delay); a connection.close first is fine too. It must never open.
    conn = RawConn(broker.host, broker.port, timeout=10)
    conn.start()
    conn.send(method_frame(0, CONNECTION, 11, b"\x00\x00\x00\x00" + shortstr("CRAM-MD5")
                           + b"\x00\x00\x00\x0b\x00guest\x00guest" + shortstr("en_US")))
    c = conn.wait_close(timeout=8)
    assert c is None or c.code in (403, 503, 504), c
    conn.close()
    assert_serves(broker)


# ---- tuning ------------------------------------------------------------------

def test_tune_proposes_sane_limits(broker):
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=0)
    chmax, fmax, hb = conn.server_tune
    assert fmax >= 4096
    assert chmax == 0 or chmax >= 1
    conn.open()
    conn.close()


def test_frame_max_below_minimum_refused(broker):
    conn = RawConn(broker.host, broker.port, timeout=10)
    conn.start()
    conn.start_ok()
    conn.tune(frame_max=1000, heartbeat=0)
    conn.send_quietly(method_frame(0, CONNECTION, 40, shortstr("/") + shortstr("") + b"\x00"))
    c = conn.wait_close(timeout=8)
    # RabbitMQ: socket closed, no open-ok ("negotiated frame_max = 1000 is
    # lower than the minimum allowed value (4096)")
    assert c is None or c.code in (501, 503, 530), c
    conn.close()
    assert_serves(broker)


def test_frame_max_above_server_maximum_refused(broker):
    conn = RawConn(broker.host, broker.port, timeout=10)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=0)
    server_max = conn.server_tune[1]
    if server_max == 0:
        pytest.skip("server sets no frame_max limit")
    conn.close()
    conn = RawConn(broker.host, broker.port, timeout=10)
    conn.start()
    conn.start_ok()
    conn.tune(frame_max=server_max + 4096, heartbeat=0)
    conn.send_quietly(method_frame(0, CONNECTION, 40, shortstr("/") + shortstr("") + b"\x00"))
    c = conn.wait_close(timeout=8)
    assert c is None or c.code in (501, 503, 530), c
    conn.close()
    assert_serves(broker)


def test_pika_small_frame_max_large_body(broker):
    body = bytes(range(256)) * 80          # 20 KiB: six body frames at 4096
    conn = pika_connect(broker, frame_max=4096)
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        props = pika.BasicProperties(content_type="application/octet-stream",
                                     headers={"h": "x" * 1000}, message_id="m1")
        ch.basic_publish("", q, body, props)
        method, got_props, got = None, None, None
        for _ in range(100):
            method, got_props, got = ch.basic_get(q, auto_ack=True)
            if method:
                break
            time.sleep(0.02)
        assert got == body
        assert got_props.headers == {"h": "x" * 1000}
        assert got_props.message_id == "m1"
    finally:
        conn.close()


def test_raw_frame_max_4096_receives_split_body(broker):
    conn = RawConn(broker.host, broker.port)
    conn.handshake(frame_max=4096)
    conn.open_channel(1)
    q = conn.declare_queue(1, "", exclusive=True)
    body = os.urandom(20 * 1024)
    conn.send(method_frame(1, BASIC, 40, publish_args("", q)))
    conn.send(header_frame(1, len(body)))
    for i in range(0, len(body), 4088):
        conn.send(body_frame(1, body[i:i + 4088]))
    conn.send(method_frame(1, BASIC, 70, b"\x00\x00" + shortstr(q) + b"\x01"))
    conn.expect_method(BASIC, 71)
    ftype, ch, hdr = conn.recv_frame()
    assert ftype == 2 and struct.unpack("!Q", hdr[4:12])[0] == len(body)
    got = b""
    while len(got) < len(body):
        ftype, ch, payload = conn.recv_frame()
        assert ftype == 3
        assert len(payload) + 8 <= 4096, "body frame exceeds negotiated frame_max"
        got += payload
    assert got == body
    conn.close()


# ---- heartbeats --------------------------------------------------------------

def test_silent_client_dropped_after_missed_heartbeats(make_broker):
    broker = make_broker("--set", "amqp.heartbeat=1")
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=1)
    conn.open()
    t0 = time.time()
    # Send nothing from now on; the broker must notice and drop us.
    assert conn.wait_eof(timeout=6), "broker kept a silent connection open"
    elapsed = time.time() - t0
    assert 1.0 <= elapsed <= 5.0, elapsed
    conn.close()
    if not broker.external:
        # the log line may reach our reader a moment after the socket closed
        assert wait_for(lambda: "heartbeat" in broker.log().lower(), timeout=3), broker.log()
    assert_serves(broker)


def test_broker_sends_heartbeats_and_keeps_live_client(make_broker):
    broker = make_broker("--set", "amqp.heartbeat=1")
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=1)
    conn.open()
    beats = 0
    end = time.time() + 3.5
    while time.time() < end:
        conn.send(frame(FRAME_HEARTBEAT, 0, b""))
        try:
            ftype, ch, payload = conn.recv_frame(timeout=0.4, skip_heartbeats=False)
            if ftype == FRAME_HEARTBEAT:
                assert ch == 0 and payload == b""
                beats += 1
        except socket.timeout:
            pass
    assert beats >= 2, beats
    # still open and usable
    conn.open_channel(1)
    conn.send(method_frame(1, QUEUE, 10, queue_declare_args("", exclusive=True)))
    conn.expect_method(QUEUE, 11)
    conn.close()


def test_pika_heartbeat_client_stays_connected(make_broker):
    broker = make_broker("--set", "amqp.heartbeat=1")
    conn = pika_connect(broker, heartbeat=1)
    try:
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        conn.sleep(4.0)                       # keeps pika's I/O loop running
        assert conn.is_open
        ch.basic_publish("", q, b"after sleep")
        method, _, body = None, None, None
        for _ in range(100):
            method, _, body = ch.basic_get(q, auto_ack=True)
            if method:
                break
            time.sleep(0.02)
        assert body == b"after sleep"
    finally:
        conn.close()


def test_heartbeat_zero_disables(make_broker):
    broker = make_broker("--set", "amqp.heartbeat=1")
    conn = RawConn(broker.host, broker.port)
    conn.start()
    conn.start_ok()
    conn.tune(heartbeat=0)
    conn.open()
    # No heartbeats agreed: a quiet client is not dropped.
    assert not conn.wait_eof(timeout=3.5)
    conn.open_channel(1)
    conn.close()


# ---- configured users (sluiced only) --------------------------------------------

USERS_CONF = """
[user alice]
password = s3cr#t;x
tags = administrator
"""


def test_configured_user_replaces_guest(make_broker):
    broker = make_broker(config_text=USERS_CONF)
    if broker.external:
        pytest.skip("needs a broker configured with user alice")
    conn = pika_connect(broker, credentials=pika.PlainCredentials("alice", "s3cr#t;x"))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"from alice")
    assert conn.is_open
    conn.close()
    with pytest.raises((pe.ProbableAuthenticationError, pe.ConnectionClosedByBroker)) as ei:
        pika_connect(broker)                      # guest/guest
    assert refused_code(ei.value) == 403, repr(ei.value)
    raw = RawConn(broker.host, broker.port)
    raw.handshake(user="alice", password="s3cr#t;x", mechanism="AMQPLAIN")
    raw.close()
