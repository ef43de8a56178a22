"""RFC 6455 framing under MQTT over WebSockets, with raw frames: what a
client may legally send must reach the MQTT session unchanged.

- A control frame (ping) may arrive between the fragments of a binary
  message (RFC 6455 5.4); its payload is not part of the message.
- Frames before a close frame are data the client sent: a PUBLISH followed
  by a close in the same TCP segment is still published.
- A client that sends requests (MQTT PINGREQs, WebSocket pings) and never
  reads the answers stops being read once the output is over
  mqtt.output_high_watermark, as over plain TCP: what the broker framed
  into the socket's output (data frames, pongs) counts.
"""
import socket
import struct
import time

import pytest

from http_helpers import api
from mqttraw import CONNECT, PUBLISH, Raw, mstr, packet
from port_helpers import Ports
from stall_helpers import kernel_buffers_limit, send_until_stalled

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


def big_frame(opcode, payload):
    """A masked frame of any length; the mask is zero, so the payload
    goes as it is (RFC 6455 5.3 only asks that the client masks)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload


def mem_used(b):
    """What the broker's allocator holds (not RSS: under ASan freed memory
    stays in its quarantine, and every byte read is copied a few times)."""
    st, nodes, _ = api(b, "GET", "/api/nodes")
    assert st == 200, nodes
    return nodes[0]["mem_used"]


@pytest.mark.parametrize("kind", ["mqtt-pingreq", "ws-ping"])
def test_client_that_never_reads_is_bounded(make_broker, kind):
    """Answers never read stop the reading, over a WebSocket too: the
    client's sends stall having sent no more than the kernel's socket
    buffers can hold (see test_transport's AMQP twin), and the broker's
    memory does not grow with what was sent. MQTT PINGREQs are answered
    through the WebSocket filter, pings by pongs libwslay writes beneath
    it; both must count as output."""
    held = Ports()
    port = held.new()
    b = make_broker("--set", "mqtt.ws_port=%d" % port, "--set", "mqtt.ws_bind=127.0.0.1",
                    "--set", "mqtt.allow_anonymous=true",
                    "--set", "mqtt.output_high_watermark=64k", reserved=held)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(UPGRADE + frame(2, connect_packet("ws-never-reads")))
    time.sleep(0.3)
    before = mem_used(b)
    if kind == "mqtt-pingreq":
        burst = big_frame(2, b"\xc0\x00" * 32768)           # 32768 PINGREQs
    else:
        burst = big_frame(9, b"p" * 125) * 500               # 500 pings
    limit = kernel_buffers_limit()
    sent, stalled = send_until_stalled(s, burst, limit)
    grown = mem_used(b) - before
    s.close()
    assert stalled and sent <= limit, \
        f"the broker kept reading a client that never reads ({sent} bytes taken, limit {limit})"
    assert grown < 24 << 20, grown
    assert b.alive()
