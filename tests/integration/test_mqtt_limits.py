"""MQTT subscribers against messages they cannot be sent, and the bounds on
what the broker keeps for MQTT clients: no in-flight slot waits for a
message that was never written, no key reaches a fixed-size buffer.
"""
import socket
import threading
import time
from urllib.parse import quote

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


def publish_many(c, topic, n, size=8, qos=1, first=0):
    """n QoS 1 publishes, pipelined, all acknowledged (payloads numbered
    from first)."""
    out = [c.publish(topic, b"%06d" % i + b"x" * max(0, size - 6), qos=qos,
                     pid=i % 65535 + 1, send=False) for i in range(first, first + n)]
    c.send(b"".join(out))
    for _ in range(n):
        assert c.recv(10).type == PUBACK


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_max_queued_messages(make_mqtt_broker, version):
    """Mosquitto's max_queued_messages for a session whose client is away:
    at most that many wait for it (as in Mosquitto, the arriving ones are
    dropped past it), so an absent client cannot make the broker hold an
    unbounded backlog."""
    b = make_mqtt_broker("--set", "mqtt.max_queued_messages=100")
    t, cid = utopic(), uid()
    sub = Raw(b, version)
    sub.connect(client_id=cid, **persistent(version))
    sub.subscribe([(t, 1)])
    sub.disconnect()
    sub.close()
    wait_gone(b, cid)               # away: nothing goes to its in-flight window
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 150)
    sub = Raw(b, version)
    ack = sub.connect(client_id=cid, **persistent(version))
    assert ack.session_present
    got = [p.payload[:6] for p in sub.publishes(1.0)]
    assert got == [b"%06d" % i for i in range(0, 100)], (len(got), got[:3])
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
    wait_gone(b, cid)
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 40, size=100)
    sub = Raw(b, V311)
    assert sub.connect(client_id=cid, clean=False).session_present
    got = [p.payload[:6] for p in sub.publishes(1.0)]
    assert got == [b"%06d" % i for i in range(0, 10)], got
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
        assert got == [b"%06d" % i for i in range(0, 50)], (len(got), got[:3])
        for x in (pub, sub):
            x.close()
    finally:
        assert b.stop() == 0


def queue_counts(b, cid):
    st, q, _ = api(b, "GET", "/api/queues/%2F/mqtt-subscription-" + cid + "qos1")
    assert st == 200, q
    return q["messages_ready"], q["messages_unacknowledged"]


def dropped_sys(b, at_least=None):
    """$SYS/broker/publish/messages/dropped as a subscriber sees it: the
    last value within 2.5 s, or the first that reaches at_least (the
    counter only grows; the retained value may be a tick old)."""
    s = Raw(b, V311)
    s.connect()
    s.subscribe([("$SYS/broker/publish/messages/dropped", 0)])
    vals, end = [], time.time() + 2.5
    try:
        while at_least is None or not vals or vals[-1] < at_least:
            vals.append(int(s.recv_publish(max(0.01, end - time.time())).payload))
    except socket.timeout:
        pass
    s.close()
    return vals[-1] if vals else None


@sluice_only
@pytest.mark.parametrize("limit", ["messages", "bytes"])
def test_max_queued_connected_client_that_never_acks(make_mqtt_broker, limit):
    """Mosquitto applies max_queued_messages / max_queued_bytes to a
    connected client too: QoS 1 messages beyond its in-flight window queue
    up to the limit, then the arriving ones are dropped for it (counted in
    $SYS/broker/publish/messages/dropped); the publisher and a subscriber
    that keeps up get everything."""
    cap = ("--set", "mqtt.max_queued_messages=40") if limit == "messages" else \
        ("--set", "mqtt.max_queued_messages=0", "--set", "mqtt.max_queued_bytes=4000")
    b = make_mqtt_broker(*cap, "--set", "mqtt.max_inflight=10", "--set", "mqtt.sys_interval=1")
    t, cid = utopic(), uid()
    stuck = Raw(b, V311)
    stuck.connect(client_id=cid)
    stuck.subscribe([(t, 1)])              # and never reads nor acknowledges again
    good = Raw(b, V311)
    good.connect()
    good.subscribe([(t, 1)])
    pub = Raw(b, V311)
    pub.connect()
    got = []
    for i in range(0, 300, 25):             # the good one keeps up
        publish_many(pub, t, 25, size=100, first=i)
        got += [good.recv_publish(5.0).payload[:6] for _ in range(25)]
    assert got == [b"%06d" % i for i in range(300)], (len(got), got[:3])
    ready, unacked = queue_counts(b, cid)
    assert (ready, unacked) == (40, 10), (ready, unacked)
    assert dropped_sys(b, at_least=300 - 40 - 10) == 300 - 40 - 10
    # what it holds are the oldest: the in-flight ten, then the next forty
    stuck.sock.settimeout(3.0)
    first = [stuck.recv_publish(1.5).payload[:6] for _ in range(50)]
    assert first[:50] == [b"%06d" % i for i in range(50)], first[:3]
    for x in (stuck, good, pub):
        x.close()


@sluice_only
def test_subscriber_that_keeps_acknowledging_is_waited_for(make_mqtt_broker):
    """A publisher far faster than a subscriber that keeps acknowledging:
    2,000 QoS 1 publishes written at once, against max_queued_messages 40
    and an in-flight window of 10. Read at full speed they would fill the
    subscriber's queue and most would be dropped for it; the broker reads
    the publisher more slowly while that queue is half full, so the
    subscriber gets every message, in order, and nothing is dropped. (The
    subscriber that stops acknowledging is not waited for: the test
    above.)"""
    b = make_mqtt_broker("--set", "mqtt.max_queued_messages=40", "--set", "mqtt.max_inflight=10",
                         "--set", "mqtt.sys_interval=1")
    t, n = utopic(), 2000
    sub = Raw(b, V311)
    sub.connect()
    sub.subscribe([(t, 1)])
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 1, size=16, first=n)      # one round trip: the subscriber acknowledges
    assert sub.recv_publish(5.0).payload[:6] == b"%06d" % n
    got = []

    def take():
        for _ in range(n):
            got.append(sub.recv_publish(20.0).payload[:6])

    th = threading.Thread(target=take)
    th.start()
    publish_many(pub, t, n, size=16)
    th.join(60)
    assert got == [b"%06d" % i for i in range(n)], (len(got), got[-3:])
    assert dropped_sys(b) == 0
    for x in (sub, pub):
        x.close()


@sluice_only
def test_max_queued_connected_qos0_reader_that_stops(make_mqtt_broker):
    """A QoS 0 subscriber that stops reading its socket: once the socket and
    the connection's output limit are full, at most max_queued_messages
    wait for it and later ones are dropped for it; a subscriber that keeps
    up gets every message."""
    b = make_mqtt_broker("--set", "mqtt.max_queued_messages=20")
    t, cid = utopic(), uid()
    stuck = Raw(b, V311)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(client_id=cid)
    stuck.subscribe([(t, 0)])
    good = Raw(b, V311)
    good.connect()
    good.subscribe([(t, 0)])
    pub = Raw(b, V311)
    pub.connect()
    got = []
    for i in range(0, 400, 10):
        publish_many(pub, t, 10, size=32 * 1024, first=i)
        got += [good.recv_publish(5.0) for _ in range(10)]
    assert [p.payload[:6] for p in got] == [b"%06d" % i for i in range(400)]
    assert all(p.qos == 0 for p in got)
    ready, _ = queue_counts(b, cid)
    assert ready == 20, ready
    for x in (stuck, good, pub):
        x.close()


@sluice_only
def test_max_queued_shared_group_that_stops_reading(make_mqtt_broker):
    """A shared subscription group whose only member never acknowledges:
    its group queue holds at most max_queued_messages beyond the member's
    in-flight window, like a session's."""
    b = make_mqtt_broker("--set", "mqtt.max_queued_messages=30", "--set", "mqtt.max_inflight=5")
    t = utopic()
    stuck = Raw(b, V311)
    stuck.connect()
    stuck.subscribe([("$share/g/" + t, 1)])
    pub = Raw(b, V311)
    pub.connect()
    publish_many(pub, t, 100)
    st, q, _ = api(b, "GET", "/api/queues/%2F/" + quote("mqtt-shared-g-" + t,
                                                           safe=""))
    assert st == 200, q
    assert (q["messages_ready"], q["messages_unacknowledged"]) == (30, 5), q
    for x in (stuck, pub):
        x.close()
