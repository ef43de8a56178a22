"""Recovery after damage in the middle of a segment never reads a record a
client planted in a message body, and never drops confirmed records that
follow the damage, however long the stretch it has to search.

The segments are damaged on disk between a kill -9 and the restart; the
records are found by reading the segment format (drawn in
storage/jnl_int.h): 9-octet record headers in format 1, 13 in format 2.
"""
import os
import struct

import pika

from recovery_helpers import Node, drain

P = pika.BasicProperties(delivery_mode=2)


def crc32c(data, crc=0):
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
            table.append(c)
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


crc32c.table = None


def queue_id(vhost, name):
    """bk_persist_queue_id: FNV-1a over vhost, 0xff, name."""
    h = 0xcbf29ce484222325
    for b in vhost.encode() + b"\xff" + name.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h or 1


def ack_v1(qid, mid):
    """An ACK record as format 1 wrote it: plain CRC, no key."""
    payload = struct.pack("<QQ", qid, mid)
    crc = crc32c(bytes([2]) + payload)
    return struct.pack("<IIB", len(payload), crc, 2) + payload


def ack_v2_guess(qid, mid, key=0):
    """An ACK record in format 2 under a guessed key."""
    payload = struct.pack("<QQ", qid, mid)
    crc = crc32c(payload, crc32c(bytes([2]), key))
    head = struct.pack("<IIB", len(payload), crc, 2)
    return head + struct.pack("<I", crc32c(head, key)) + payload


def records(path):
    """(offset, header length, payload) of every record, in order, up to
    the first that does not parse."""
    data = open(path, "rb").read()
    version = struct.unpack_from("<I", data, 8)[0]
    hdr = 9 if version == 1 else 13
    off, out = 32, []
    while off + hdr <= len(data):
        n = struct.unpack_from("<I", data, off)[0]
        if off + hdr + n > len(data):
            break
        out.append((off, hdr, data[off + hdr:off + hdr + n]))
        off += hdr + n
    return out


def find_record(path, needle):
    for off, hdr, payload in records(path):
        if needle in payload:
            return off
    raise AssertionError("no record holds %r" % needle[:20])


def damage_length(path, off):
    """Flip a bit of the record's length field: its header no longer checks."""
    with open(path, "r+b") as f:
        f.seek(off + 1)
        b = f.read(1)[0]
        f.seek(off + 1)
        f.write(bytes([b ^ 0x04]))


def restart_damaged(node, needle):
    """kill -9, damage the header of the record holding needle, start:
    the segment's path and its size before the restart."""
    node.kill()
    seg = node.segments()[-1]
    size = os.path.getsize(seg)
    damage_length(seg, find_record(seg, needle))
    node.start()
    return seg, size


def publish(node, queue, bodies):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", node.port, socket_timeout=10, stack_timeout=30))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(queue, durable=True)
    for b in bodies:
        ch.basic_publish("", queue, b, P)
    conn.close()


def test_records_planted_in_a_body_are_not_read(tmp_path):
    """A client publishes a body made of ACK records for every message id
    1..200 of its queue (format 1 records, and format 2 under guessed
    keys). The header of that message's record is damaged, so recovery
    must search through its body: the planted ACKs must not settle the
    confirmed messages around it."""
    node = Node(str(tmp_path / "data")).start()
    queue = "resync-planted"
    qid = queue_id("/", queue)
    plant = b"PLANT" + b"".join(ack_v1(qid, i) for i in range(1, 201))
    for key in (0, 1, 0xFFFFFFFF):
        plant += b"".join(ack_v2_guess(qid, i, key) for i in range(1, 201))
    try:
        before = [b"before-%d" % i for i in range(20)]
        after = [b"after-%d" % i for i in range(20)]
        publish(node, queue, before + [plant] + after)
        restart_damaged(node, b"PLANT")
        got = [b for b, _ in drain(node.port, queue)]
        assert got == before + after, "planted ACKs settled confirmed messages: %d left" % len(got)
        assert "corrupt" in node.log(), node.log()
    finally:
        node.kill()


def test_many_confirmed_records_after_a_long_damaged_stretch(tmp_path):
    """A 2 MB body laid out as headers of 1 MB records (what a scan with a
    work budget would spend itself on), its record's header damaged, and
    1,000 confirmed messages after it: every one of them comes back, and
    the segment is not cut."""
    node = Node(str(tmp_path / "data")).start()
    queue = "resync-budget"
    unit = struct.pack("<IIB", 1 << 20, 0, 5) + b"\x00" * 7
    big = b"BIGBODY!" + unit * ((2 << 20) // len(unit))
    try:
        before = [b"b%04d" % i for i in range(100)]
        after = [b"a%04d" % i for i in range(1000)]
        publish(node, queue, before + [big] + after)
        seg, size = restart_damaged(node, b"BIGBODY!")
        # Recovery may compact the segment away right after the start, so
        # the log, not the file, tells whether its tail was cut.
        assert "truncated" not in node.log(), "the segment was truncated"
        got = [b for b, _ in drain(node.port, queue)]
        assert got == before + after, "lost %d confirmed message(s)" % (
            len(before) + len(after) - len(got))
    finally:
        node.kill()
