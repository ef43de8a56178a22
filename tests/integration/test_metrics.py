"""Prometheus /metrics on the management port (authenticated): text format
0.0.4, RabbitMQ's metric names where RabbitMQ's prometheus plugin has one,
sluice_* otherwise. test_prometheus.py covers the [prometheus] listener."""
import re

import pika

from http_helpers import api

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')


def scrape(b, path="/metrics"):
    st, text, h = api(b, "GET", path)
    assert st == 200
    assert h["content-type"].startswith("text/plain; version=0.0.4")
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, t = line.split(" ", 3)
            types[name] = t
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "bad line: %r" % line
        float(m.group(4))
        samples[(m.group(1), m.group(3) or "")] = float(m.group(4))
    return samples, types


def test_metrics_requires_auth(broker):
    assert api(broker, "GET", "/metrics", auth=None)[0] == 401


def test_queue_and_global_metrics(broker):
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    ch = c.channel()
    ch.queue_declare('m"q')
    for _ in range(4):
        ch.basic_publish("", 'm"q', b"abc")
    ch.basic_qos(prefetch_count=1)
    ch.basic_consume('m"q', lambda *a: None)
    c.process_data_events(0.3)
    s, types = scrape(broker, "/metrics/per-object")
    lbl = 'vhost="/",queue="m\\"q"'
    assert s[("rabbitmq_queue_messages_ready", lbl)] == 3
    assert s[("rabbitmq_queue_messages_unacked", lbl)] == 1
    assert s[("rabbitmq_queue_messages", lbl)] == 4
    assert s[("rabbitmq_queue_consumers", lbl)] == 1
    assert s[("rabbitmq_queue_messages_published_total", 'queue_vhost="/",queue="m\\"q"')] == 4
    assert types["rabbitmq_queue_messages_ready"] == "gauge"
    assert types["rabbitmq_global_messages_routed_total"] == "counter"
    amqp = 'protocol="amqp091"'
    assert s[("rabbitmq_global_messages_routed_total", amqp)] == 4
    assert s[("rabbitmq_global_messages_delivered_total",
              amqp + ',queue_type="rabbit_classic_queue"')] == 1
    assert s[("sluice_messages_delivered_total", "")] == 1
    assert s[("rabbitmq_connections", "")] == 1
    assert s[("rabbitmq_channels", "")] == 1
    assert any(k[0] == "sluice_connections" and "AMQP" in k[1] and v == 1
               for k, v in s.items())
    assert s[("rabbitmq_process_resident_memory_bytes", "")] > 0
    assert s[("sluice_memory_allocated_bytes", "")] > 0
    assert ("rabbitmq_alarms_memory_used_watermark", "") in s
    c.close()


def test_journal_metrics(broker):
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    ch = c.channel()
    ch.queue_declare("durable-q", durable=True)
    ch.confirm_delivery()
    ch.basic_publish("", "durable-q", b"x" * 100,
                     pika.BasicProperties(delivery_mode=2))
    c.close()
    s, types = scrape(broker)
    if ("sluice_journal_segments", "") not in s:
        import pytest
        pytest.skip("broker runs without a journal")
    assert s[("sluice_journal_segments", "")] >= 1
    assert s[("sluice_journal_disk_bytes", "")] > 100
    assert s[("sluice_journal_fsyncs_total", "")] >= 1
    assert types["sluice_journal_records_total"] == "counter"


def test_journal_fsync_histogram(broker):
    """sluice_journal_fsync_seconds: a Prometheus histogram of the journal
    thread's fdatasync times (cumulative buckets, +Inf = _count)."""
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    ch = c.channel()
    ch.queue_declare("fsync-q", durable=True)
    ch.confirm_delivery()
    for _ in range(3):
        ch.basic_publish("", "fsync-q", b"y" * 50, pika.BasicProperties(delivery_mode=2))
    c.close()
    s, types = scrape(broker)
    if ("sluice_journal_segments", "") not in s:
        import pytest
        pytest.skip("broker runs without a journal")
    name = "sluice_journal_fsync_seconds"
    assert types[name] == "histogram"
    buckets = sorted((float(lbl.split('"')[1]), v) for (n, lbl), v in s.items()
                     if n == name + "_bucket" and "+Inf" not in lbl)
    assert len(buckets) >= 10
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "buckets must be cumulative"
    count = s[(name + "_count", "")]
    assert s[(name + "_bucket", 'le="+Inf"')] == count
    assert count >= 1 and counts[-1] <= count
    # every batch sync is measured (segment creation adds more)
    assert count >= s[("sluice_journal_fsyncs_total", "")]
    assert 0 < s[(name + "_sum", "")] < 60 * count
