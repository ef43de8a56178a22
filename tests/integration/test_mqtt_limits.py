"""MQTT subscribers against messages they cannot be sent, and the bounds on
what the broker keeps for MQTT clients: no in-flight slot waits for a
message that was never written, no key reaches a fixed-size buffer.
"""
import pika

from conftest import Broker
from http_helpers import api
from mqtt_helpers import *  # noqa: F401,F403


def amqp(b):
    return pika.BlockingConnection(pika.ConnectionParameters(
        b.host, b.port, heartbeat=0, connection_attempts=1, socket_timeout=5))


@sluice_only
def test_unencodable_message_frees_its_slot(mb):
    """A v5 subscriber with Receive Maximum 1 gets an AMQP message whose
    correlation data (the x-correlation-id bytes header) is longer than an
    MQTT binary can hold: it is skipped for that subscriber, and the
    message after it still arrives (the slot was not leaked)."""
    t = utopic()
    sub = Raw(mb, V5)
    sub.connect(props=[(P.RECEIVE_MAXIMUM, 1)])
    sub.subscribe([(t, 1)])
    conn = amqp(mb)
    ch = conn.channel()
    key = t.replace("/", ".")
    ch.basic_publish("amq.topic", key, b"too big",
                     pika.BasicProperties(delivery_mode=2,
                                          headers={"x-correlation-id": b"c" * 70000}))
    ch.basic_publish("amq.topic", key, b"after", pika.BasicProperties(delivery_mode=2))
    p = sub.recv_publish()
    assert p.payload == b"after" and p.qos == 1
    # and the slot after that one is free again too
    ch.basic_publish("amq.topic", key, b"third", pika.BasicProperties(delivery_mode=2))
    assert sub.recv_publish().payload == b"third"
    conn.close()
    sub.close()
    assert "not sent" in mb.log()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_dead_letter_key_longer_than_a_topic(mb, version):
    """A routing key longer than any MQTT topic (dead-lettered with a 70 KB
    x-dead-letter-routing-key to amq.topic) never reaches a topic buffer:
    the core refuses such a key, or MQTT subscribers of '#' skip the
    message; either way the broker lives and serves the next message."""
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([("#", 0)])
    conn = amqp(mb)
    ch = conn.channel()
    q = "dlk-" + uid()
    try:
        ch.queue_declare(q, arguments={"x-dead-letter-exchange": "amq.topic",
                                       "x-dead-letter-routing-key": "k" * 70000,
                                       "x-message-ttl": 0})
        ch.basic_publish("", q, b"dead")
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 406, e     # refused at the door: no such key
        ch = conn.channel()
    t = utopic()
    ch.basic_publish("amq.topic", t.replace("/", "."), b"next")
    got = [p.payload for p in sub.publishes(1.0)]
    assert b"next" in got and b"dead" not in got
    conn.close()
    sub.close()


def persistent(version):
    return {"clean": False} if version == V311 else \
        {"clean": False, "props": [(P.SESSION_EXPIRY, 3600)]}


def publish_many(c, topic, n, size=8, qos=1):
    """n QoS 1 publishes, pipelined, all acknowledged."""
    out = [c.publish(topic, b"%06d" % i + b"x" * max(0, size - 6), qos=qos,
                     pid=i % 65535 + 1, send=False) for i in range(n)]
    c.send(b"".join(out))
    for _ in range(n):
        assert c.recv(10).type == PUBACK


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_max_queued_messages(make_mqtt_broker, version):
    """Mosquitto's max_queued_messages for a session whose client is away:
    at most that many wait for it (the oldest go), so an absent client
    cannot make the broker hold an unbounded backlog."""
    b = make_mqtt_broker("--set", "mqtt.max_queued_messages=100")
    t, cid = utopic(), uid()
    sub = Raw(b, version)
    sub.connect(client_id=cid, **persistent(version))
    sub.subscribe([(t, 1)])
    sub.disconnect()
    sub.close()
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 150)
    sub = Raw(b, version)
    ack = sub.connect(client_id=cid, **persistent(version))
    assert ack.session_present
    got = [p.payload[:6] for p in sub.publishes(1.0)]
    assert got == [b"%06d" % i for i in range(50, 150)], (len(got), got[:3])
    for x in (pub, sub):
        x.close()


@sluice_only
def test_max_queued_bytes(make_mqtt_broker):
    b = make_mqtt_broker("--set", "mqtt.max_queued_bytes=1000")
    t, cid = utopic(), uid()
    sub = Raw(b, V311)
    sub.connect(client_id=cid, clean=False)
    sub.subscribe([(t, 1)])
    sub.close()
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 40, size=100)
    sub = Raw(b, V311)
    assert sub.connect(client_id=cid, clean=False).session_present
    got = [p.payload[:6] for p in sub.publishes(1.0)]
    assert got == [b"%06d" % i for i in range(30, 40)], got
    for x in (pub, sub):
        x.close()


@sluice_only
def test_persistent_client_expiration(make_mqtt_broker):
    """Mosquitto's persistent_client_expiration: an MQTT 3 session with
    clean session 0 whose client never comes back ends, its queue with it;
    one whose client comes back in time goes on."""
    b = make_mqtt_broker("--set", "mqtt.persistent_client_expiration=1")
    t, gone, back = utopic(), uid(), uid()
    for cid in (gone, back):
        c = Raw(b, V311)
        c.connect(client_id=cid, clean=False)
        c.subscribe([(t, 1)])
        c.close()
    c = Raw(b, V311)
    assert c.connect(client_id=back, clean=False).session_present
    queue = "mqtt-subscription-%sqos1" % gone
    names = lambda: [q["name"] for q in api(b, "GET", "/api/queues")[1]]  # noqa: E731
    assert wait_for(lambda: queue not in names(), 5), names()
    assert "mqtt-subscription-%sqos1" % back in names()
    c2 = Raw(b, V311)
    assert not c2.connect(client_id=gone, clean=False).session_present
    for x in (c, c2):
        x.close()


@sluice_only
def test_persistent_client_expiration_after_restart(tmp_path):
    """A session left from before a restart expires too: the broker gives
    it back its session at start and the clock starts then."""
    data = str(tmp_path / "data")
    b = Broker(["--set", "broker.data_dir=" + data])
    cid = uid()
    c = Raw(b, V311)
    c.connect(client_id=cid, clean=False)
    c.subscribe([("x/y", 1)])
    c.close()
    queue = "mqtt-subscription-%sqos1" % cid
    assert queue in [q["name"] for q in api(b, "GET", "/api/queues")[1]]
    assert b.stop() == 0
    b = Broker(["--set", "broker.data_dir=" + data,
                "--set", "mqtt.persistent_client_expiration=1"])
    try:
        assert wait_for(lambda: queue not in [q["name"] for q in
                                              api(b, "GET", "/api/queues")[1]], 5)
        assert "persistent sessions from before the restart" in b.log()
    finally:
        assert b.stop() == 0


@sluice_only
def test_max_queued_messages_after_restart(tmp_path):
    """A session queue left from before a restart is capped from the
    start, before its client comes back."""
    data = str(tmp_path / "data")
    t, cid = utopic(), uid()
    b = Broker(["--set", "broker.data_dir=" + data])
    sub = Raw(b, V311)
    sub.connect(client_id=cid, clean=False)
    sub.subscribe([(t, 1)])
    sub.close()
    assert b.stop() == 0
    b = Broker(["--set", "broker.data_dir=" + data, "--set", "mqtt.max_queued_messages=50"])
    try:
        pub = Raw(b, V311)
        pub.connect()
        publish_many(pub, t, 80)
        sub = Raw(b, V311)
        assert sub.connect(client_id=cid, clean=False).session_present
        got = [p.payload[:6] for p in sub.publishes(1.0)]
        assert got == [b"%06d" % i for i in range(30, 80)], (len(got), got[:3])
        for x in (pub, sub):
            x.close()
    finally:
        assert b.stop() == 0
