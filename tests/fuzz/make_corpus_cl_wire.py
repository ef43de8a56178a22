#!/usr/bin/env python3
"""Write the fuzz_cl_wire seed corpus from a real data directory (the files
a leader copies to a joining follower: a journal segment and
definitions.json of a broker that held a durable queue with persistent
messages). Frames as cluster/cl_int.h draws them; the first byte of each
seed picks the side and whether the harness authenticates
(tests/fuzz/fuzz_cl_wire.c).

usage: make_corpus_cl_wire.py <data dir> <dir>   (tests/fuzz/corpus/cl_wire is committed)
"""
import os
import struct
import sys

WRITE, REPLACE, UNLINK, RMDIR, TRUNCATE = 1, 2, 3, 4, 5
LEADER_RAW, FOLLOWER_RAW, LEADER_AUTH, FOLLOWER_AUTH = 0, 1, 2, 3


def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff


def frame(kind, payload):
    return struct.pack('>IB', len(payload) + 1, ord(kind)) + payload


def op(kind, path, off=0, data=b'', trunc=False):
    p = path.encode()
    return struct.pack('>BBHQI', kind, 1 if trunc else 0, len(p), off, len(data)) + p + data


def ops(seq, items):
    body = struct.pack('>I', len(items)) + b''.join(items)
    return frame('B', struct.pack('>Q', seq) + body) if seq is not None else frame('O', body)


def listeners(items):
    body = bytes([len(items)])
    for name, port in items:
        body += bytes([len(name)]) + name.encode() + struct.pack('>H', port)
    return frame('L', body)


def ack(seq):
    return frame('A', struct.pack('>Q', seq))


def files_of(root):
    out = []
    for d, _, names in sorted(os.walk(root)):
        for n in sorted(names):
            full = os.path.join(d, n)
            with open(full, 'rb') as f:
                out.append((os.path.relpath(full, root), f.read()))
    return out


def file_list(entries):
    b = struct.pack('>I', len(entries))
    for path, size, crc in entries:
        p = path.encode()
        b += struct.pack('>H', len(p)) + p + struct.pack('>QI', size, crc)
    return b


def auth_hello(name, entries):
    fl = file_list(entries)
    return bytes([len(name)]) + name.encode() + struct.pack('>H', len(fl)) + fl


def seeds(files):
    seg = next((p, d) for p, d in files if p.endswith('.seg'))
    defs = next((p, d) for p, d in files if p == 'definitions.json')
    same = [(p, len(d), crc32c(d)) for p, d in files]
    other = [(seg[0], len(seg[1]) // 2, crc32c(seg[1][:len(seg[1]) // 2])),
             ('journal/00000000000000000009.seg', 4096, 0)]
    acks = b''.join(ack(i) for i in range(4))
    out = {
        # a follower holding nothing, then acknowledging
        'leader-empty': bytes([LEADER_AUTH]) + auth_hello('node-b', []) + acks,
        # one holding the same files (nothing to copy) and a stale one
        'leader-same': bytes([LEADER_AUTH]) + auth_hello('node-b', same) + acks,
        'leader-stale': bytes([LEADER_AUTH]) + auth_hello('node-c', other) + acks,
        # a path that leaves the data directory, and a hello with no MAC
        'leader-badpath': bytes([LEADER_AUTH]) + auth_hello('node-b', [('../x', 1, 0)]),
        'leader-raw': bytes([LEADER_RAW]) + frame('H', bytes(64) + b'\x06node-b' +
                                                  file_list(same)) + acks,
    }
    half = len(seg[1]) // 2
    copy = ops(None, [op(WRITE, seg[0], 0, seg[1][:half], trunc=True),
                      op(REPLACE, defs[0], 0, defs[1])])
    live = (ops(1, [op(WRITE, seg[0], half, seg[1][half:])]) +
            ops(2, [op(TRUNCATE, seg[0], len(seg[1]))]) +
            ops(3, [op(WRITE, 'streams/7/00000000000000000001.seg', 0, seg[1][:64], trunc=True),
                    op(UNLINK, 'streams/7/00000000000000000001.seg'),
                    op(RMDIR, 'streams/7')]))
    out.update({
        # a full copy, 'E', then live batches
        'follower-copy': bytes([FOLLOWER_AUTH]) + copy + frame('E', struct.pack('>Q', 0)) + live,
        'follower-batches': bytes([FOLLOWER_AUTH]) + live,
        # the leader's client listeners, right after the proof
        'follower-listeners': bytes([FOLLOWER_AUTH]) + listeners([('amqp', 5672), ('mqtt', 1883),
                                                                  ('http', 15672)]) + live,
        # what a follower must refuse: a path out of its directory, an op
        # longer than its frame, anything before the proof
        'follower-badpath': bytes([FOLLOWER_AUTH]) + ops(1, [op(WRITE, '../../etc/x', 0, b'x')]),
        'follower-short': bytes([FOLLOWER_AUTH]) + ops(1, [op(WRITE, seg[0], 0, b'x')])[:-1],
        'follower-raw': bytes([FOLLOWER_RAW]) + frame('N', bytes([2]) + bytes(32)) +
        frame('P', bytes(32)) + copy,
    })
    return out


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, data in seeds(files_of(src)).items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
