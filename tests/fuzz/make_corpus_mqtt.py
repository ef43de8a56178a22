#!/usr/bin/env python3
"""Write the fuzz_mqtt seed corpus: a few valid MQTT packet streams.

Each file is one level octet (0 = 3.1, 1 = 3.1.1, 2 = 5.0) followed by
packets, as fuzz_mqtt.c reads them.

usage: make_corpus_mqtt.py <dir>   (tests/fuzz/corpus/mqtt is committed)
"""
import os
import struct
import sys


def varint(n):
    out = b''
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def pkt(type_, flags, body):
    return bytes([type_ << 4 | flags]) + varint(len(body)) + body


def s(x):
    return struct.pack('>H', len(x)) + x


def props(*items):
    blob = b''.join(items)
    return varint(len(blob)) + blob


def p_u8(i, v): return bytes([i, v])
def p_u16(i, v): return bytes([i]) + struct.pack('>H', v)
def p_u32(i, v): return bytes([i]) + struct.pack('>I', v)
def p_str(i, v): return bytes([i]) + s(v)
def p_user(k, v): return b'\x26' + s(k) + s(v)
def p_subid(v): return b'\x0b' + varint(v)


def connect(level, v5props=b'', will=False, user=None, password=None):
    name = b'MQIsdp' if level == 3 else b'MQTT'
    flags = 0x02 | (0x04 | 0x08 | 0x20 if will else 0)
    flags |= 0x80 if user is not None else 0
    flags |= 0x40 if password is not None else 0
    body = s(name) + bytes([level, flags]) + struct.pack('>H', 30)
    if level == 5:
        body += v5props
    body += s(b'seed-client')
    if will:
        if level == 5:
            body += props(p_u32(0x18, 10), p_str(0x03, b'text/plain'))
        body += s(b'will/topic') + s(b'bye')
    if user is not None:
        body += s(user)
    if password is not None:
        body += s(password)
    return pkt(1, 0, body)


def publish(level, qos, topic, payload, pid=1, v5props=b''):
    body = s(topic) + (struct.pack('>H', pid) if qos else b'')
    if level == 5:
        body += v5props
    return pkt(3, qos << 1 | 1, body + payload)


def ack(type_, pid, tail=b''):
    return pkt(type_, 2 if type_ == 6 else 0, struct.pack('>H', pid) + tail)


def subscribe(level, pid, entries, v5props=b''):
    body = struct.pack('>H', pid) + (v5props if level == 5 else b'')
    for f, o in entries:
        body += s(f) + bytes([o])
    return pkt(8, 2, body)


def unsubscribe(level, pid, filters):
    body = struct.pack('>H', pid) + (b'\x00' if level == 5 else b'')
    return pkt(10, 2, body + b''.join(s(f) for f in filters))


SEEDS = {
    'v31_session': b'\x00' + connect(3, user=b'guest', password=b'guest') +
        subscribe(3, 1, [(b'a/+', 1), (b'b/#', 2)]) +
        publish(3, 1, b'a/x', b'hello', 2) + ack(4, 2) + pkt(12, 0, b'') +
        pkt(14, 0, b''),
    'v311_session': b'\x01' + connect(4, will=True, user=b'u', password=b'p') +
        publish(4, 0, b'sensors/t', b'21.5') + publish(4, 2, b's/q2', b'x', 9) +
        ack(5, 9) + ack(6, 9) + ack(7, 9) +
        unsubscribe(4, 3, [b'a/+']) + pkt(13, 0, b''),
    'v311_server': b'\x01' + pkt(2, 0, b'\x01\x00') +
        pkt(9, 0, b'\x00\x01\x00\x01\x02\x80') + pkt(11, 0, b'\x00\x03'),
    'v5_connect': b'\x02' + connect(5, props(p_u32(0x11, 3600), p_u16(0x21, 20),
                                            p_u16(0x22, 10), p_u32(0x27, 65536),
                                            p_u8(0x17, 1), p_user(b'k', b'v')),
                                    will=True, password=b'pw'),
    'v5_publish': b'\x02' + publish(5, 1, b'a/b', b'{}', 5, props(
        p_u8(0x01, 1), p_u32(0x02, 60), p_str(0x03, b'application/json'),
        p_str(0x08, b'reply/to'), p_str(0x09, b'corr'), p_u16(0x23, 1),
        p_user(b'a', b'1'), p_user(b'a', b'2'))) +
        publish(5, 0, b'', b'aliased', 0, props(p_u16(0x23, 1))) +
        ack(4, 5, b'\x10' + props(p_str(0x1f, b'no subscribers'))),
    'v5_server': b'\x02' + pkt(2, 0, b'\x01\x00' + props(
        p_str(0x12, b'auto-id'), p_u16(0x13, 60), p_u8(0x24, 1), p_u8(0x25, 1),
        p_u8(0x28, 1), p_u8(0x29, 1), p_u8(0x2a, 0), p_str(0x1a, b'ri'))) +
        publish(5, 2, b'x/y', b'z', 7, props(p_subid(1), p_subid(300))) +
        pkt(9, 0, b'\x00\x01' + props(p_str(0x1f, b'ok')) + b'\x00\x01\x8f') +
        pkt(11, 0, b'\x00\x02\x00\x00\x11') +
        pkt(14, 0, b'\x8e' + props(p_str(0x1f, b'taken over'))),
    'v5_subscribe': b'\x02' + subscribe(5, 4, [(b'a/+', 0x2d), (b'$share/g/b/#', 2)],
                                        props(p_subid(12), p_user(b'x', b'y'))) +
        unsubscribe(5, 5, [b'a/+', b'$share/g/b/#']) +
        pkt(15, 0, b'\x18' + props(p_str(0x15, b'SCRAM-SHA-1'), p_str(0x16, b'\x00\x01'))) +
        pkt(14, 0, b''),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
