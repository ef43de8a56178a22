#!/usr/bin/python3
"""How long the management API takes to answer list requests over many
queues (or exchanges): starts SLUICED on free loopback ports with a fresh
data directory, declares N objects through pika (bulk-00000 ...; one gets
7 messages), then times each request 5 times and prints the median and
the maximum. The broker answers a request in one go on its event loop,
so these times are how long every other client of the broker waits.

  tools/bench/api_lists.py SLUICED [N] [queues|exchanges]   (defaults 10000 queues)

Example: tools/bench/api_lists.py build/daemon/sluiced 10000 queues
"""
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import pika

QUEUE_PATHS = [
    "/api/queues?page=1&page_size=100&sort=name&sort_reverse=false",
    "/api/queues?page=50&page_size=100&sort=name",
    "/api/queues?page=1&page_size=100&sort=messages_ready&sort_reverse=true",
    "/api/queues?page=1&page_size=100&name=bulk-0999",
    "/api/queues?page=1&page_size=100&name=%5Ebulk-0004%5B2-4%5D%24&use_regex=true",
    "/api/queues?page=1&page_size=100&columns=vhost,name,messages_ready"
    "&sort=message_stats.publish_details.rate&sort_reverse=true",
    "/api/queues?columns=name,messages",
    "/api/queues?disable_stats=true&enable_queue_totals=true",
    "/api/queues",
]
EXCHANGE_PATHS = [
    "/api/exchanges?page=1&page_size=100&sort=name",
    "/api/exchanges?page=1&page_size=100&sort=message_stats.publish_in_details.rate"
    "&sort_reverse=true",
    "/api/exchanges",
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    sluiced = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    kind = sys.argv[3] if len(sys.argv) > 3 else "queues"
    amqp, http = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="sluice-bench-")
    broker = subprocess.Popen([sluiced, "--set", "amqp.bind=127.0.0.1",
                               "--set", "amqp.port=%d" % amqp,
                               "--set", "http.bind=127.0.0.1", "--set", "http.port=%d" % http,
                               "--set", "broker.data_dir=" + data,
                               "--set", "prometheus.enabled=no", "--set", "mqtt.enabled=no"],
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", amqp))
                break
            except pika.exceptions.AMQPConnectionError:
                time.sleep(0.1)
        ch = conn.channel()
        for i in range(n):
            if kind == "queues":
                ch.queue_declare("bulk-%05d" % i)
            else:
                ch.exchange_declare("bulk-%05d" % i, "topic")
        if kind == "queues":
            for _ in range(7):
                ch.basic_publish("", "bulk-00042", b"x")
        auth = "Basic " + base64.b64encode(b"guest:guest").decode()
        for path in QUEUE_PATHS if kind == "queues" else EXCHANGE_PATHS:
            times, size = [], 0
            for _ in range(5):
                req = urllib.request.Request("http://127.0.0.1:%d%s" % (http, path),
                                             headers={"Authorization": auth})
                t = time.perf_counter()
                size = len(urllib.request.urlopen(req).read())
                times.append(time.perf_counter() - t)
            print("%-100s median %7.1f ms  max %7.1f ms  %8d bytes"
                  % (path, 1000 * statistics.median(times), 1000 * max(times), size))
        conn.close()
    finally:
        broker.terminate()
        broker.wait()
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
