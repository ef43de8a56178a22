"""Retained MQTT messages across restarts, in the journal's key/value
records: every PUBACKed retained message survives SIGKILL, replaced and
cleared topics stay so, the journal stays bounded when one topic is
replaced many times (records replaced in place, compacted), and a data
directory with retained messages in the old "mqtt-retained" queue is
converted at its first start (hostile entries skipped, the queue
removed), once.
"""
import os
import re
import time

import pika

from recovery_helpers import Node
from mqttraw import PUBACK, PINGREQ, PINGRESP, V311, V5, Raw, packet

MQTT_RE = re.compile(r"listening mqtt (\S+):(\d+)")
MQTT_ON = ["mqtt.enabled=yes", "mqtt.bind=127.0.0.1", "mqtt.port=0"]


class Where:
    """What Raw needs of a broker: its MQTT address."""

    def __init__(self, node):
        m = None
        for _ in range(500):            # the MQTT listener opens after AMQP's
            m = MQTT_RE.search(node.log())
            if m:
                break
            time.sleep(0.01)
        assert m, "no MQTT listener:\n" + node.log()
        self.mqtt_host, self.mqtt_port = "127.0.0.1", int(m.group(2))


def mqtt(node, version=V311):
    c = Raw(Where(node), version)
    c.connect()
    return c


def retained(node, filt="#"):
    """{topic: payload} of every retained message the filter matches."""
    c = mqtt(node)
    c.subscribe([(filt, 1)])
    got = {p.topic: p.payload for p in c.publishes(1.0)}
    c.close()
    return got


def publish_acked(c, items):
    """Retained QoS 1 publishes; returns once every PUBACK arrived."""
    out = [c.publish(t, body, qos=1, pid=i + 1, retain=True, send=False)
           for i, (t, body) in enumerate(items)]
    c.send(b"".join(out))
    for _ in items:
        assert c.recv(10).type == PUBACK


def journal_size(node):
    """Bytes of the journal's segments now (one may go while counting)."""
    total = 0
    for s in node.segments():
        try:
            total += os.path.getsize(s)
        except FileNotFoundError:
            pass
    return total


def amqp(node):
    return pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))


def test_retained_survive_kill(tmp_path):
    node = Node(str(tmp_path), MQTT_ON).start()
    c = mqtt(node, V5)
    publish_acked(c, [("r/%03d" % i, b"v1-%d" % i) for i in range(200)])
    publish_acked(c, [("r/%03d" % i, b"v2-%d" % i) for i in range(50)])      # replaced
    publish_acked(c, [("r/%03d" % i, b"") for i in range(50, 100)])          # cleared
    node.kill()
    node.start()
    got = retained(node, "r/#")
    want = {"r/%03d" % i: (b"v2-%d" % i if i < 50 else b"v1-%d" % i)
            for i in list(range(50)) + list(range(100, 200))}
    assert got == want
    # no queue of the old format was made along the way
    ch = amqp(node).channel()
    try:
        ch.queue_declare("mqtt-retained", passive=True)
        assert False, "a queue 'mqtt-retained' exists"
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404
    node.stop()


def test_replaced_topic_keeps_journal_small(tmp_path):
    """20,000 replacements of one 1 KiB retained message with 1 MiB
    segments, after one that is never replaced: the dead versions go with
    their segments and compaction moves the cold record forward out of
    the first one, so the journal holds a few segments, not 20 MiB."""
    node = Node(str(tmp_path), MQTT_ON + ["journal.segment_size=1M"]).start()
    c = mqtt(node)
    publish_acked(c, [("cold/topic", b"cold")])
    body = b"x" * 1024
    for start in range(0, 20000, 500):
        out = [c.publish("hot/topic", body + b"%d" % i, retain=True, send=False)
               for i in range(start, start + 500)]
        c.send(b"".join(out))
        c.send(packet(PINGREQ, 0, b""))
        assert c.recv_type(PINGRESP, 30)
    # the last one at QoS 1: its PUBACK means everything before is on disk
    publish_acked(c, [("hot/topic", body + b"last")])
    c.close()
    # deletions ride the journal's next batches, one dependency level each
    for _ in range(1000):
        size = journal_size(node)
        if size < 5 << 20:
            break
        time.sleep(0.01)
    assert size < 5 << 20, "journal is %d bytes: %s" % (size, node.segments())
    assert "compacting segment 1 " in node.log()
    assert os.path.basename(node.segments()[0]) != "%020d.seg" % 1
    node.kill()
    node.start()
    assert retained(node, "hot/#") == {"hot/topic": body + b"last"}
    assert retained(node, "cold/#") == {"cold/topic": b"cold"}
    node.stop()


OLD = "mqtt-retained"


def old_entry(ch, topic_key, body, qos=1, extra=None, headers=None):
    """One entry as earlier versions logged it (see mqtt_retain_upgrade.c)."""
    h = dict(extra or {})
    if headers is None:
        h.update({"x-mqtt-retained-topic": topic_key, "x-mqtt-publish-qos": qos})
    else:
        h.update(headers)
    ch.basic_publish("", OLD, body, pika.BasicProperties(delivery_mode=2, headers=h))


def test_old_queue_converted_once(tmp_path):
    # a data directory as earlier versions left it: a durable queue
    # "mqtt-retained" holding the log, written without an MQTT listener
    # (so no conversion ran yet)
    node = Node(str(tmp_path)).start()
    conn = amqp(node)
    ch = conn.channel()
    ch.confirm_delivery()               # on disk before the kill below
    ch.queue_declare(OLD, durable=True)
    old_entry(ch, "old.a", b"first a")
    old_entry(ch, "old.b", b"b", qos=0, extra={"app": "kept"})
    old_entry(ch, "old.a", b"second a")                  # the last one wins
    old_entry(ch, "old.c", b"c")
    old_entry(ch, "old.c", b"")                          # cleared
    old_entry(ch, "old/dot", b"dotted")                  # key "old/dot" = topic "old.dot"
    # hostile entries anyone could have published into that queue
    old_entry(ch, "k" * 70000, b"key longer than a topic")
    old_entry(ch, "old.#", b"wildcard")
    old_entry(ch, "", b"empty topic")
    old_entry(ch, "old.\x01ctl", b"control character")
    old_entry(ch, "old.q", b"bad qos", qos=7)
    old_entry(ch, None, b"no headers at all", headers={})
    old_entry(ch, None, b"topic not a string", headers={"x-mqtt-retained-topic": 42})
    conn.close()
    node.kill()

    node.sets += MQTT_ON
    node.start()
    Where(node)                         # up, conversion logged
    log = node.log()
    assert re.search(r"vhost '/': 13 entries of the queue 'mqtt-retained' read: 5 "
                     r"retained messages set, 1 cleared, 7 invalid entries skipped", log), log
    assert retained(node, "old/#") == {"old/a": b"second a", "old/b": b"b"}
    assert retained(node, "old.dot") == {"old.dot": b"dotted"}
    c = Raw(Where(node), V5)
    c.connect()
    c.subscribe([("old/b", 2)])
    p = c.recv_publish()
    assert p.qos == 0 and p.retain and p.props.get(0x26) == [("app", "kept")]
    c.close()
    ch = amqp(node).channel()
    try:
        ch.queue_declare(OLD, passive=True)
        assert False, "the old queue is still there"
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404

    # converted once: a queue of that name made later is an ordinary queue
    conn = amqp(node)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(OLD, durable=True)
    old_entry(ch, "old.injected", b"must stay a queued message")
    conn.close()
    node.kill()
    node.start()
    assert "moved from the queue" not in node.log()
    assert "old/injected" not in retained(node, "old/#")
    ch = amqp(node).channel()
    method = ch.queue_declare(OLD, passive=True).method
    assert method.message_count == 1
    node.stop()
