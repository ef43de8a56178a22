"""A few end-to-end checks of the MQTT adapter with real clients (paho,
pika), written next to the adapter; the full suites are test_mqtt_*.py."""
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pika
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import wait_for
from mqtt_helpers import wait_gone
from mqttraw import V5, Raw


def client(b, version=mqtt.MQTTv5, cid=None, clean=True, expiry=None):
    got, done = [], threading.Event()
    kw = {} if version == mqtt.MQTTv5 else {"clean_session": clean}
    c = mqtt.Client(client_id=cid or "smoke-" + uuid.uuid4().hex[:8], protocol=version, **kw)
    c.username_pw_set("guest", "guest")
    c.on_message = lambda c_, u, m: got.append(m)
    c.on_connect = lambda *a: done.set()
    c.subacks = set()
    c.on_subscribe = lambda c_, u, mid, granted, p=None: c.subacks.add(mid)
    c.disconnects = []
    c.on_disconnect = lambda c_, u, rc, p=None: c.disconnects.append(rc)
    if version == mqtt.MQTTv5:
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        c.connect("127.0.0.1", b.mqtt_port, clean_start=clean, properties=props)
    else:
        c.connect("127.0.0.1", b.mqtt_port)
    c.loop_start()
    assert done.wait(5)
    c.got = got
    return c


def subscribe(c, topic, qos):
    """Subscribe and wait for the SUBACK (a publish from another connection
    may otherwise reach the broker first)."""
    r, mid = c.subscribe(topic, qos=qos)
    assert r == mqtt.MQTT_ERR_SUCCESS, r
    assert wait_for(lambda: mid in c.subacks, timeout=10), "no SUBACK"


def amqp(b):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", b.port, credentials=pika.PlainCredentials("guest", "guest")))


def test_amqp_properties_reach_mqtt5(broker):
    c = client(broker)
    subscribe(c, "smoke/+", qos=2)
    conn = amqp(broker)
    conn.channel().basic_publish(
        "amq.topic", "smoke.a", b"hello",
        pika.BasicProperties(delivery_mode=2, content_type="text/plain",
                             reply_to="replies.x", correlation_id="c-1",
                             headers={"k": "v", "n": 7}))
    assert wait_for(lambda: c.got)
    m = c.got[0]
    assert (m.topic, m.payload, m.qos) == ("smoke/a", b"hello", 1)
    p = m.properties
    assert p.ContentType == "text/plain"
    assert p.ResponseTopic == "replies/x"
    assert p.CorrelationData == b"c-1"
    assert ("k", "v") in p.UserProperty and ("n", "7") in p.UserProperty
    conn.close()
    c.disconnect()


def test_mqtt_qos2_both_ways_and_to_amqp(broker):
    conn = amqp(broker)
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, "amq.topic", "smoke2.*")
    sub = client(broker, mqtt.MQTTv311)
    subscribe(sub, "smoke2/#", qos=2)
    pub = client(broker, mqtt.MQTTv311)
    pub.publish("smoke2/x", b"exactly", qos=2).wait_for_publish()
    assert wait_for(lambda: sub.got)
    assert (sub.got[0].payload, sub.got[0].qos) == (b"exactly", 2)
    method, props, body = None, None, None
    for _ in range(50):
        method, props, body = ch.basic_get(q, auto_ack=True)
        if method:
            break
        time.sleep(0.05)
    assert body == b"exactly" and props.delivery_mode == 2
    assert method.routing_key == "smoke2.x"
    conn.close()
    for c in (sub, pub):
        c.disconnect()


def test_persistent_session_collects_amqp_publishes(broker):
    cid = "smoke-keep-" + uuid.uuid4().hex[:6]
    c = client(broker, mqtt.MQTTv311, cid=cid, clean=False)
    subscribe(c, "keep/#", qos=1)
    c.disconnect()
    c.loop_stop()
    wait_gone(broker, cid)
    conn = amqp(broker)
    for i in range(3):
        conn.channel().basic_publish("amq.topic", "keep.%d" % i, b"m%d" % i,
                                     pika.BasicProperties(delivery_mode=2))
    conn.close()
    c = client(broker, mqtt.MQTTv311, cid=cid, clean=False)
    assert wait_for(lambda: len(c.got) == 3)
    assert [m.payload for m in c.got] == [b"m0", b"m1", b"m2"]
    c.disconnect()


def test_sigterm_sends_server_shutting_down(make_broker):
    """DISCONNECT 0x8B in its 2-octet form (E0 01 8B), as Mosquitto sends
    it; paho 1.6 reads a reason code only when properties follow, so the
    bytes are checked with the raw client, and paho just sees the end."""
    b = make_broker()
    c = client(b)
    raw = Raw(b, V5)
    raw.connect()
    assert b.stop() == 0
    assert raw.read_raw_until_close() == bytes.fromhex("e0018b")
    assert wait_for(lambda: c.disconnects)
