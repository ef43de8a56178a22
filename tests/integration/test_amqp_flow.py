"""Resource alarms: the memory high watermark blocks publishers.

A broker with a 2 MiB watermark takes one 3 MiB message into a queue
nobody consumes. The memory alarm goes up within a check interval; the
connection that published gets connection.blocked ("low on memory") and
stops being read at its next basic.publish. A connection that only
consumes is not told and keeps working, so it can drain the queue; its
ack frees the message, the alarm clears, the publisher gets
connection.unblocked and the publish it left pending arrives.
"""
import pika

from amqp_helpers import *  # noqa: F401,F403

WATERMARK = ("--set", "broker.memory_high_watermark=2M")
BIG = b"x" * (3 << 20)


def open_conn(broker, events, **kw):
    params = pika.ConnectionParameters(host=broker.host, port=broker.port,
                                       connection_attempts=1, socket_timeout=5,
                                       **kw)
    c = pika.BlockingConnection(params)
    c.add_on_connection_blocked_callback(
        lambda conn, m: events.append(("blocked", m.method.reason)))
    c.add_on_connection_unblocked_callback(
        lambda conn, m: events.append(("unblocked",)))
    return c


def test_memory_alarm_blocks_publisher_until_consumer_drains(make_broker):
    b = make_broker(*WATERMARK)
    pub_events, con_events = [], []
    # heartbeat=1: the broker would drop a peer silent for 2 s, but not
    # one it stopped reading from itself.
    pub = open_conn(b, pub_events, heartbeat=1, blocked_connection_timeout=20)
    con = open_conn(b, con_events, heartbeat=0)
    pch, cch = pub.channel(), con.channel()
    q = pch.queue_declare(uname("flow")).method.queue

    pch.basic_publish("", q, BIG)
    assert pump(pub, lambda: pub_events, timeout=3.0), b.log()
    assert pub_events == [("blocked", "low on memory")]
    assert wait_for(lambda: "memory resource limit alarm set on node" in b.log())

    # The next publish is taken in as far as its method frame, then the
    # broker stops reading: its content waits in the socket.
    pch.basic_publish("", q, b"after")
    assert wait_for(lambda: "blocked: publishing while a resource alarm" in b.log())
    pump(pub, lambda: False, timeout=2.5)        # longer than 2 heartbeats
    assert pub.is_open
    assert ready_count(cch, q) == 1

    # The consumer-only connection was not blocked; its ack is read.
    m, _, body = cch.basic_get(q, auto_ack=False)
    assert body == BIG
    cch.basic_ack(m.delivery_tag)
    assert pump(pub, lambda: len(pub_events) == 2, timeout=3.0), b.log()
    assert pub_events[1] == ("unblocked",)
    assert wait_for(lambda: "memory resource limit alarm cleared on node" in b.log())

    m, _, body = wait_get(cch, q, timeout=3.0)
    assert body == b"after"
    assert con_events == []

    # Both connections are in order afterwards.
    pch.basic_publish("", q, b"later")
    assert wait_get(cch, q)[2] == b"later"
    pub.close()
    con.close()
    assert b.alive()


def test_connection_without_publishes_is_not_blocked(make_broker):
    b = make_broker(*WATERMARK)
    events = []
    pub = open_conn(b, [], heartbeat=0)
    idle = open_conn(b, events, heartbeat=0)
    ich = idle.channel()
    q = ich.queue_declare(uname("flow")).method.queue
    pub.channel().basic_publish("", q, BIG)
    assert wait_for(lambda: "alarm set on node" in b.log(), timeout=3.0)
    # Declares, gets and acks all work during the alarm. The alarm may
    # come while the body is still arriving (input buffers count too), so
    # the message shows up when its last frame is in.
    ich.queue_declare(uname("flow2"))
    got = []
    assert wait_for(lambda: got.append(ich.basic_get(q, auto_ack=False)) or got[-1][0],
                    timeout=5.0)
    m, _, body = got[-1]
    assert body == BIG
    ich.basic_ack(m.delivery_tag)
    assert wait_for(lambda: "alarm cleared on node" in b.log(), timeout=3.0)
    idle.process_data_events(time_limit=0.1)
    assert events == []
    pub.close()
    idle.close()


def test_blocked_publisher_survives_broker_shutdown(make_broker):
    """A connection the alarm stopped reading still closes promptly."""
    b = make_broker(*WATERMARK)
    events = []
    pub = open_conn(b, events, heartbeat=0)
    ch = pub.channel()
    q = ch.queue_declare(uname("flow")).method.queue
    ch.basic_publish("", q, BIG)
    assert pump(pub, lambda: events, timeout=3.0)
    ch.basic_publish("", q, b"pending")
    assert wait_for(lambda: "blocked: publishing" in b.log())
    start = time.time()
    assert b.stop() == 0, b.log()
    assert time.time() - start < 5
