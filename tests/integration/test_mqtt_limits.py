"""MQTT subscribers against messages they cannot be sent, and the bounds on
what the broker keeps for MQTT clients: no in-flight slot waits for a
message that was never written, no key reaches a fixed-size buffer.
"""
import pika

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
