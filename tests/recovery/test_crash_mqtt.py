"""kill -9 during a stream of MQTT QoS 1 publishes (paho).

A PUBACK for a QoS 1 message that reaches a durable queue is sent only
after the journal's fsync covers it, so every acknowledged publish must
survive SIGKILL. The messages go to amq.topic, where a durable AMQP queue
is bound to the mapped key, and are drained with pika after the restart:
every PUBACKed message must be there, in publish order, none twice, and
nothing that was never published.
"""
import random
import re
import threading
import time

import paho.mqtt.client as mqtt
import pika

from recovery_helpers import Node, drain

ROUNDS = 4
MQTT_RE = re.compile(r"listening mqtt (\S+):(\d+)")
MQTT_SETS = ["mqtt.enabled=yes", "mqtt.bind=127.0.0.1", "mqtt.port=0"]


def mqtt_port(node):
    m = MQTT_RE.search(node.log())
    assert m, "no MQTT listener:\n" + node.log()
    return int(m.group(2))


def declare(port):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    ch.queue_declare("mcrash", durable=True)
    ch.queue_bind("mcrash", "amq.topic", "crash.#")
    conn.close()


class MqttPublisher(threading.Thread):
    """Publishes prefix:seq at QoS 1 until the broker goes away; acked()
    gives the sequence numbers whose PUBACK arrived. At most 60000 per
    round, so packet ids (16 bits) never repeat within one round."""

    LIMIT = 60000

    def __init__(self, port, prefix):
        super().__init__(daemon=True)
        self.prefix = prefix
        self.sent = []
        self.mids = {}                  # packet id -> seq
        self.acked_mids = set()         # filled by paho's network thread
        self.gone = threading.Event()
        self.client = mqtt.Client("crash-" + prefix, protocol=mqtt.MQTTv311,
                                  clean_session=True)
        self.client.username_pw_set("guest", "guest")
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(400)
        # paho calls on_publish holding its own lock: take none here.
        self.client.on_publish = lambda c, u, mid: self.acked_mids.add(mid)
        self.client.on_disconnect = lambda *a: self.gone.set()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def run(self):
        seq = 0
        while not self.gone.is_set() and seq < self.LIMIT:
            info = self.client.publish("crash/" + self.prefix,
                                       "%s:%d" % (self.prefix, seq), qos=1)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                time.sleep(0.001)
                continue
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            self.mids[info.mid] = seq
            self.sent.append(seq)
            seq += 1

    def finish(self):
        self.join(10)
        self.client.loop_stop()
        self.client.disconnect()

    def acked(self):
        return {self.mids[m] for m in self.acked_mids if m in self.mids}


def test_kill9_loses_no_acknowledged_mqtt_publish(tmp_path):
    rng = random.Random()
    node = Node(str(tmp_path / "data"), sets=MQTT_SETS).start()
    declare(node.port)
    total_acked = 0
    try:
        for rnd in range(ROUNDS):
            prefix = "m%d" % rnd
            pub = MqttPublisher(mqtt_port(node), prefix)
            pub.start()
            time.sleep(rng.uniform(0.3, 1.5))
            node.kill()
            pub.finish()
            node.start()
            got = drain(node.port, "mcrash")
            seqs = [int(b.split(b":")[1]) for b, _ in got]
            assert all(b.startswith(prefix.encode() + b":") for b, _ in got), \
                "messages of another round came back"
            assert seqs == sorted(seqs), "recovered out of publish order"
            assert len(seqs) == len(set(seqs)), "a message came back twice"
            assert set(seqs) <= set(pub.sent), "a message that was never published"
            acked = pub.acked()
            missing = acked - set(seqs)
            assert not missing, "PUBACKed but lost: %d of %d (e.g. %s)" % (
                len(missing), len(acked), sorted(missing)[:5])
            total_acked += len(acked)
            print("round %d: %d sent, %d acked, %d recovered" % (
                rnd, len(pub.sent), len(acked), len(seqs)))
        assert total_acked > 0, "no publish was ever acknowledged"
    finally:
        node.kill()
