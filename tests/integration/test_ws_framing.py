"""RFC 6455 framing under MQTT over WebSockets, with raw frames: what a
client may legally send must reach the MQTT session unchanged.

- A control frame (ping) may arrive between the fragments of a binary
  message (RFC 6455 5.4); its payload is not part of the message.
- Frames before a close frame are data the client sent: a PUBLISH followed
  by a close in the same TCP segment is still published.
"""
import socket
import struct

import pytest

from mqttraw import CONNECT, PUBLISH, Raw, mstr, packet
from port_helpers import Ports

MASK = b"\x37\xfa\x21\x3d"
UPGRADE = (b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")


def frame(opcode, payload, fin=True):
    assert len(payload) < 126
    masked = bytes(c ^ MASK[i % 4] for i, c in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode, 0x80 | len(payload)]) + MASK + masked


def connect_packet(client_id):
    var = mstr("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 30)
    return packet(CONNECT, 0, var + mstr(client_id))


def ws_broker(make_broker):
    held = Ports()
    port = held.new()
    b = make_broker("--set", "mqtt.ws_port=%d" % port, "--set", "mqtt.ws_bind=127.0.0.1",
                    "--set", "mqtt.allow_anonymous=true", reserved=held)
    return b, port


def frames_until_close(s):
    """Every frame the broker sends until it closes: [(opcode, payload)]."""
    data, out = b"", []
    s.settimeout(3)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    data = data[data.index(b"\r\n\r\n") + 4:]
    while len(data) >= 2:
        n = data[1] & 0x7F
        out.append((data[0] & 0x0F, data[2:2 + n]))
        data = data[2 + n:]
    return out


def test_ping_between_fragments_is_not_message_data(make_broker):
    b, port = ws_broker(make_broker)
    conn = connect_packet("ws-frag")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(UPGRADE + frame(2, conn[:7], fin=False) + frame(9, b"hi")
                  + frame(0, conn[7:]))
        got = frames_until_close(s)             # the broker keeps it open: 3 s
    assert (10, b"hi") in got                       # the pong
    assert (2, b"\x20\x02\x00\x00") in got          # CONNACK, accepted


def test_publish_followed_by_close_in_one_segment_is_published(make_broker):
    b, port = ws_broker(make_broker)
    pub = packet(PUBLISH, 1, mstr("ws/kept") + b"kept")          # QoS 0, retained
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(UPGRADE + frame(2, connect_packet("ws-close") + pub)
                  + frame(8, struct.pack("!H", 1000)))
        frames_until_close(s)
    sub = Raw(b)
    sub.connect()
    sub.subscribe("ws/kept")
    p = sub.recv_publish()
    assert (p.topic, p.payload) == ("ws/kept", b"kept")
