"""A client that half-closes its socket after its last request (shutdown
for writing, then reading until the broker closes) gets every answer,
with and without I/O threads, as RabbitMQ and Mosquitto answer it.
"""
import socket
import struct

import pytest

ROUNDS = 20


def exchange(port, request):
    """Send request, half-close, return everything read until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(65536)
            if not d:
                return got
            got += d
    finally:
        s.close()


def mqtt_connect_publish(client_id):
    cid = client_id.encode()
    var = b"\x00\x04MQTT\x04\x02" + struct.pack("!H", 60)
    rest = var + struct.pack("!H", len(cid)) + cid
    connect = bytes([0x10, len(rest)]) + rest
    topic = b"half/close"
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + b"payload"
    return connect + bytes([0x32, len(body)]) + body


@pytest.mark.parametrize("io_threads", [0, 1])
def test_amqp_header_then_half_close_gets_connection_start(make_broker, io_threads):
    b = make_broker("--set", "broker.io_threads=%d" % io_threads)
    for _ in range(ROUNDS):
        got = exchange(b.port, b"AMQP\x00\x00\x09\x01")
        # method frame on channel 0: connection.start (10, 10)
        assert len(got) >= 11, got
        ftype, chan, size = struct.unpack("!BHI", got[:7])
        assert (ftype, chan) == (1, 0)
        assert struct.unpack("!HH", got[7:11]) == (10, 10)
        assert got[7 + size] == 0xCE


@pytest.mark.parametrize("io_threads", [0, 1])
def test_mqtt_publish_then_half_close_gets_connack_and_puback(make_broker, io_threads):
    b = make_broker("--set", "broker.io_threads=%d" % io_threads,
                    "--set", "mqtt.allow_anonymous=yes")
    if b.mqtt_port is None:
        pytest.skip("sluiced has no MQTT listener")
    for i in range(ROUNDS):
        got = exchange(b.mqtt_port, mqtt_connect_publish("half-%d" % i))
        assert got[:4] == b"\x20\x02\x00\x00", got      # CONNACK, accepted
        assert got[4:8] == b"\x40\x02\x00\x07", got     # PUBACK for packet id 7
