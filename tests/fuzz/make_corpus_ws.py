#!/usr/bin/env python3
"""Write the fuzz_ws seed corpus: each MQTT session of corpus/mqtt_session/
behind a valid WebSocket upgrade, in masked RFC 6455 frames: the session
split in a fragmented binary message followed by a ping; one seed sends
it as a single frame with a 16-bit length after an upgrade that asks for a
subprotocol list.

usage: make_corpus_ws.py <mqtt_session dir> <dir>   (tests/fuzz/corpus/ws is committed)
"""
import os
import struct
import sys

MASK = b'\x37\xfa\x21\x3d'


def frame(opcode, payload, fin=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack('>H', n)
    else:
        head += bytes([0x80 | 127]) + struct.pack('>Q', n)
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def upgrade(protocols='mqtt'):
    return ('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n'
            % protocols).encode()


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(src)):
        with open(os.path.join(src, name), 'rb') as f:
            mqtt = f.read()
        half = len(mqtt) // 2
        data = (upgrade() + frame(2, mqtt[:half], fin=False) + frame(0, mqtt[half:])
                + frame(9, b'hi'))
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    mqtt = open(os.path.join(src, sorted(os.listdir(src))[0]), 'rb').read()
    pad = mqtt + bytes([0xc0, 0]) * 80          # PINGREQs past 126 octets
    with open(os.path.join(out, 'one_frame_16bit_length'), 'wb') as f:
        f.write(upgrade('mqttv3.1, mqtt') + frame(2, pad))


main()
