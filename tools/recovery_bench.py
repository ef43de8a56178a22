#!/usr/bin/python3
"""Recovery time of a big journal: publish N small persistent messages
(confirmed) to one durable queue, kill -9 the broker, start it again and
report how long it takes until it listens, and the broker's own
"recovered N messages in S s" line.

  SLUICED=build-rel/daemon/sluiced tools/recovery_bench.py [N] [BODY_BYTES]

Defaults: N = 1000000, BODY_BYTES = 16. Uses a fresh temporary data_dir.
"""
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "recovery"))
from recovery_helpers import Node, Publisher  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    pad = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    with tempfile.TemporaryDirectory(prefix="sluice-recovery-") as tmp:
        node = Node(os.path.join(tmp, "data")).start()
        import pika
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        conn.channel().queue_declare("bench", durable=True)
        conn.close()
        t0 = time.time()
        pub = Publisher(node.port, "bench", "m", window=2048, body_pad=pad)
        pub.start()
        while len(pub.confirmed) < n and pub.is_alive():
            time.sleep(0.05)
        pub.stop()
        pub.join(30)
        took = time.time() - t0
        print("published %d confirmed messages in %.1f s (%.0f msg/s); journal %.1f MiB"
              % (len(pub.confirmed), took, len(pub.confirmed) / took,
                 node.journal_bytes() / 1048576.0))
        node.kill()
        t1 = time.time()
        node.start(timeout=600)
        ready = time.time() - t1
        m = re.search(r"recovered (\d+) messages in ([0-9.]+) s", node.log())
        print("restart: listening after %.2f s; %s" % (
            ready, m.group(0) if m else "no recovery line"))
        node.kill()


if __name__ == "__main__":
    main()
