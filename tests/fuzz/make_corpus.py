#!/usr/bin/env python3
"""Write the fuzz_amqp seed corpus: a few valid AMQP 0-9-1 frame streams.

usage: make_corpus.py <dir>   (tests/fuzz/corpus/amqp is committed)
"""
import os
import struct
import sys


def frame(ftype, payload, channel=1):
    return struct.pack('>BHI', ftype, channel, len(payload)) + payload + b'\xce'


def method(cid, mid, args=b''):
    return frame(1, struct.pack('>HH', cid, mid) + args)


def sstr(s):
    return bytes([len(s)]) + s


def lstr(s):
    return struct.pack('>I', len(s)) + s


def entry(name, vtype, value):
    return sstr(name) + vtype + value


def table(*entries):
    return lstr(b''.join(entries))


CLIENT_PROPS = table(
    entry(b'product', b'S', lstr(b'pika')),
    entry(b'capabilities', b'F', table(
        entry(b'basic.nack', b't', b'\x01'),
        entry(b'consumer_cancel_notify', b't', b'\x01'))),
    entry(b'n', b's', struct.pack('>h', -2)),
    entry(b'arr', b'A', lstr(b'I' + struct.pack('>i', 5) + b'V' + b'D\x02\x00\x00\x01\x00')),
    entry(b'ts', b'T', struct.pack('>Q', 1700000000)),
    entry(b'f', b'd', struct.pack('>d', 1.5)),
)

QUEUE_ARGS = table(
    entry(b'x-message-ttl', b'I', struct.pack('>i', 60000)),
    entry(b'x-max-length', b'l', struct.pack('>q', 10)),
    entry(b'x-dead-letter-exchange', b'S', lstr(b'dlx')),
)

ALL_PROPS = (struct.pack('>HHQH', 60, 0, 5, 0xfffc) + sstr(b'text/plain') +
             sstr(b'gzip') + table(entry(b'h', b'S', lstr(b'v'))) + b'\x02\x05' +
             sstr(b'corr') + sstr(b'reply') + sstr(b'1000') + sstr(b'id') +
             struct.pack('>Q', 1700000000) + sstr(b't') + sstr(b'guest') +
             sstr(b'app') + sstr(b'c'))

SEEDS = {
    'start_ok': method(10, 11, CLIENT_PROPS + sstr(b'PLAIN') +
                       lstr(b'\0guest\0guest') + sstr(b'en_US')),
    'tune_open': method(10, 31, struct.pack('>HIH', 2047, 131072, 60)) +
                 method(10, 40, sstr(b'/') + sstr(b'') + b'\x00'),
    'queue_declare': method(50, 10, struct.pack('>H', 0) + sstr(b'q1') + b'\x02' +
                            QUEUE_ARGS),
    'exchange_declare': method(40, 10, struct.pack('>H', 0) + sstr(b'x') +
                               sstr(b'topic') + b'\x0a' + table()),
    'consume': method(60, 20, struct.pack('>H', 0) + sstr(b'q1') + sstr(b'ctag') +
                      b'\x06' + table(entry(b'x-priority', b'I', b'\x00\x00\x00\x05'))),
    'publish': method(60, 40, struct.pack('>H', 0) + sstr(b'') + sstr(b'q1') + b'\x01') +
               frame(2, ALL_PROPS) + frame(3, b'hello'),
    'publish_bare': method(60, 40, struct.pack('>H', 0) + sstr(b'amq.direct') +
                           sstr(b'k') + b'\x00') +
                    frame(2, struct.pack('>HHQH', 60, 0, 0, 0)),
    'acks': method(60, 80, struct.pack('>Q', 7) + b'\x01') +
            method(60, 120, struct.pack('>Q', 8) + b'\x02') +
            method(85, 10, b'\x00') + frame(8, b'', 0),
    'close': method(20, 40, struct.pack('>H', 404) + sstr(b'NOT_FOUND - no queue') +
                    struct.pack('>HH', 50, 10)) + method(10, 51),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else 'corpus/amqp'
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
