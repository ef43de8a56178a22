#!/usr/bin/python3
"""Retained delivery on SUBSCRIBE: publish N retained messages (16-byte
payloads, topics bench/<k/1000>/<k>) at QoS q, then three times connect a
fresh MQTT 3.1.1 client, SUBSCRIBE '#' at QoS q and read until all N
arrived (acknowledging QoS 1). Prints the wall time of each round and,
with BROKER_PID set, the broker's CPU time (utime + stime) it took: the
client is plain Python, so the wall time is mostly the client's.

  tools/bench/retained_subscribe.py PORT [N] [QOS]     (defaults 100000 0)

The broker must let the client in as guest/guest (the default) or
anonymously. Example, against a build in ./build:

  build/daemon/sluiced --set mqtt.port=1899 --set broker.data_dir=/tmp/rb &
  BROKER_PID=$! tools/bench/retained_subscribe.py 1899 100000 0
"""
import os
import socket
import struct
import sys
import time


def varint(n):
    out = b""
    while True:
        d, n = n % 128, n // 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out


def mstr(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def pkt(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def connect(port, cid):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = mstr("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 0)
    body += mstr(cid) + mstr("guest") + mstr("guest")
    s.sendall(pkt(1, 0, body))
    ack = s.recv(4)
    if len(ack) < 4 or ack[3] != 0:
        sys.exit("CONNECT refused: %r" % ack)
    return s


def cpu_seconds():
    pid = os.environ.get("BROKER_PID")
    if not pid:
        return None
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_publishes(s, n):
    """Read until n PUBLISH packets arrived, acknowledging QoS 1 ones."""
    buf, got = b"", 0
    s.settimeout(120)
    while got < n:
        data = s.recv(1 << 20)
        if not data:
            sys.exit("closed after %d publishes" % got)
        buf += data
        i, acks = 0, []
        while len(buf) - i >= 2:
            m, mul, j = 0, 1, i + 1
            while j < len(buf):
                m += (buf[j] & 127) * mul
                mul *= 128
                j += 1
                if not buf[j - 1] & 128:
                    break
            else:
                break
            if len(buf) - j < m:
                break
            if buf[i] >> 4 == 3:
                got += 1
                if (buf[i] >> 1) & 3:
                    tl = struct.unpack("!H", buf[j:j + 2])[0]
                    acks.append(b"\x40\x02" + buf[j + 2 + tl:j + 4 + tl])
            i = j + m
        buf = buf[i:]
        if acks:
            s.sendall(b"".join(acks))


def publish(port, n, qos):
    pub = connect(port, "bench-retained-pub")
    batch = []
    for k in range(n):
        topic = mstr("bench/%d/%d" % (k // 1000, k))
        pid = struct.pack("!H", k % 65535 + 1) if qos else b""
        batch.append(pkt(3, 1 | qos << 1, topic + pid + b"x" * 16))
        if len(batch) == 1000:
            pub.sendall(b"".join(batch))
            batch = []
    pub.sendall(b"".join(batch))
    pub.settimeout(120)
    if qos:
        left = 4 * n                    # every PUBACK: all stored
        while left > 0:
            left -= len(pub.recv(1 << 20))
    else:
        pub.sendall(b"\xc0\x00")        # PINGRESP follows every publish
        seen = b""
        while not seen.endswith(b"\xd0\x00"):
            seen += pub.recv(1 << 16)
    pub.close()


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    qos = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    publish(port, n, qos)
    for rnd in range(3):
        sub = connect(port, "bench-retained-sub-%d" % rnd)
        c0, t0 = cpu_seconds(), time.monotonic()
        sub.sendall(pkt(8, 2, struct.pack("!H", 1) + mstr("#") + bytes([qos])))
        read_publishes(sub, n)
        wall, c1 = time.monotonic() - t0, cpu_seconds()
        sub.close()
        cpu = "" if c0 is None else ", broker CPU %.2f s" % (c1 - c0)
        print("%d retained at QoS %d on SUBSCRIBE #: %.3f s%s" % (n, qos, wall, cpu))


if __name__ == "__main__":
    main()
