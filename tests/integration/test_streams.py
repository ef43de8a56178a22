"""Stream queues over AMQP 0-9-1 with pika, as RabbitMQ 3.13 exposes them:
declaration and its refusals (RabbitMQ's texts), non-destructive
consumption with x-stream-offset, the x-stream-offset header, filtering,
retention, and streams fed through exchanges, MQTT and dead-lettering.

The texts were checked against RabbitMQ 3.10 (EXTERNAL_AMQP); where 3.10
crashes on input (a bad x-max-age string answers 541) the test is marked
current_only.
"""
import datetime
import time

from amqp_helpers import *  # noqa: F401,F403

S = {"x-queue-type": "stream"}


def stream(ch, name=None, **args):
    name = name or uname("s")
    ch.queue_declare(name, durable=True, arguments=dict(S, **args))
    return name


def publish(ch, q, bodies, headers=None, exchange=""):
    if not getattr(ch, "_confirming", False):
        ch.confirm_delivery()
        ch._confirming = True
    for b in bodies:
        ch.basic_publish(exchange, q, b, props(headers=headers or {}))


def consume(conn, ch, q, n, prefetch=100, ack=True, timeout=5.0, **args):
    """n deliveries from q as (offset header, body, redelivered)."""
    got = []

    def on(c, m, p, b):
        got.append(((p.headers or {}).get("x-stream-offset"), b, m.redelivered))
        if ack:
            c.basic_ack(m.delivery_tag)
    ch.basic_qos(prefetch_count=prefetch)
    tag = ch.basic_consume(q, on, arguments=args)
    pump(conn, lambda: len(got) >= n, timeout)
    ch.basic_cancel(tag)
    return got


# ---- declaration ---------------------------------------------------------

@pytest.mark.parametrize("kw,prop", [
    ({"durable": False}, "non-durable"),
    ({"durable": True, "exclusive": True}, "exclusive-owner"),
    ({"durable": True, "auto_delete": True}, "auto-delete"),
])
def test_declare_refuses_properties(ch, kw, prop):
    q = uname("s")
    with channel_error(406, "PRECONDITION_FAILED - invalid property '%s' for queue '%s' "
                       "in vhost '/'" % (prop, q)):
        ch.queue_declare(q, arguments=S, **kw)


@pytest.mark.parametrize("arg,val", [
    ("x-max-length", 10), ("x-message-ttl", 10), ("x-overflow", "reject-publish"),
    ("x-dead-letter-exchange", "x"), ("x-max-priority", 5),
    ("x-single-active-consumer", True), ("x-expires", 1000),
])
def test_declare_refuses_classic_arguments(ch, arg, val):
    q = uname("s")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in "
                       "vhost '/' of queue type rabbit_stream_queue" % (arg, q)):
        ch.queue_declare(q, durable=True, arguments=dict(S, **{arg: val}))


@pytest.mark.parametrize("val,why", [
    ("0D", "invalid_max_age"), ("1h2m", "invalid_max_age"), ("1.5h", "invalid_max_age"),
    (10, "{unacceptable_type,signedint}"),
])
def test_declare_refuses_bad_max_age(ch, val, why):
    q = uname("s")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue '%s' "
                       "in vhost '/': %s" % (q, why)):
        ch.queue_declare(q, durable=True, arguments=dict(S, **{"x-max-age": val}))


@current_only
@pytest.mark.parametrize("val", ["foo", "-1h", "D"])
def test_declare_refuses_nonsense_max_age(ch, val):
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-max-age'"):
        ch.queue_declare(uname("s"), durable=True, arguments=dict(S, **{"x-max-age": val}))


@pytest.mark.parametrize("arg,val,why", [
    ("x-stream-max-segment-size-bytes", "a", '"expected integer, got longstr"'),
    ("x-stream-max-segment-size-bytes", -1, "{value_negative,-1}"),
    ("x-max-length-bytes", "x", '"expected integer, got longstr"'),
])
def test_declare_refuses_bad_sizes(ch, arg, val, why):
    q = uname("s")
    with channel_error(406, "PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in "
                       "vhost '/': %s" % (arg, q, why)):
        ch.queue_declare(q, durable=True, arguments=dict(S, **{arg: val}))


@pytest.mark.parametrize("age", ["7D", "1Y", "10s", "12h", "3M", "30m"])
def test_declare_accepts_rabbitmq_units(ch, age):
    q = stream(ch, **{"x-max-age": age})
    ch.queue_delete(q)


def test_redeclare_must_match(conn):
    ch = conn.channel()
    q = stream(ch)
    with channel_error(406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue "
                       "'%s' in vhost '/': received none but current is the value 'stream' "
                       "of type 'longstr'" % q):
        ch.queue_declare(q, durable=True)
    ch = conn.channel()
    ch.queue_declare(q, durable=True, arguments=S)
    ch.queue_delete(q)


# ---- what streams refuse --------------------------------------------------

def test_basic_get_refused(conn):
    ch = conn.channel()
    q = stream(ch)
    with connection_error(540, "NOT_IMPLEMENTED - basic.get not supported by stream queues "
                          "queue '%s' in vhost '/'" % q):
        ch.basic_get(q)


def test_purge_refused(broker):
    c = connect(broker)
    ch = c.channel()
    q = stream(ch)
    with connection_error(540, "NOT_IMPLEMENTED - queue.purge not supported by stream "
                          "queues queue '%s' in vhost '/'" % q):
        ch.queue_purge(q)
    c = connect(broker)
    c.channel().queue_delete(q)
    c.close()


def test_no_ack_consumer_refused(conn):
    ch = conn.channel()
    q = stream(ch)
    ch.basic_qos(prefetch_count=10)
    with connection_error(540, "NOT_IMPLEMENTED - automatic acknowledgement not supported "
                          "by stream queues queue '%s' in vhost '/'" % q):
        ch.basic_consume(q, lambda *a: None, auto_ack=True)
        conn.process_data_events(1)


@pytest.mark.parametrize("qos", [None, "global"])
def test_prefetch_required(conn, qos):
    ch = conn.channel()
    q = stream(ch)
    if qos == "global":
        ch.basic_qos(prefetch_count=10, global_qos=True)
    with channel_error(406, "PRECONDITION_FAILED - consumer prefetch count is not set for "
                       "'queue '%s' in vhost '/''" % q):
        ch.basic_consume(q, lambda *a: None)
        conn.process_data_events(1)
    conn.channel().queue_delete(q)


# ---- consumption ------------------------------------------------------------

def test_every_consumer_reads_everything_with_offsets(conn):
    ch = conn.channel()
    q = stream(ch)
    publish(ch, q, [b"m%d" % i for i in range(20)])
    a = consume(conn, conn.channel(), q, 20, **{"x-stream-offset": "first"})
    b = consume(conn, conn.channel(), q, 20, prefetch=3, **{"x-stream-offset": "first"})
    assert [x[1] for x in a] == [b"m%d" % i for i in range(20)]
    assert [x[0] for x in a] == list(range(20))
    assert a == b, "consumption is not destructive"
    # and still all there for a third
    assert len(consume(conn, conn.channel(), q, 20, **{"x-stream-offset": "first"})) == 20
    ch.queue_delete(q)


def test_offset_specs(conn):
    ch = conn.channel()
    q = stream(ch)
    publish(ch, q, [b"a%d" % i for i in range(10)])
    from_5 = consume(conn, conn.channel(), q, 5, **{"x-stream-offset": 5})
    assert [x[0] for x in from_5] == [5, 6, 7, 8, 9]
    # interval and timestamp: everything published within the last hour
    hour = consume(conn, conn.channel(), q, 10, **{"x-stream-offset": "1h"})
    assert [x[0] for x in hour] == list(range(10))
    # a timestamp in the future: only what comes next
    future = consume(conn, conn.channel(), q, 1, timeout=0.5,
                     **{"x-stream-offset": datetime.datetime(2100, 1, 1)})
    assert future == [] or future[0][0] >= 10
    last = consume(conn, conn.channel(), q, 1, **{"x-stream-offset": "last"})
    assert last and last[0][0] <= 9
    # next: only new messages
    c2 = conn.channel()
    got = []
    c2.basic_qos(prefetch_count=10)
    c2.basic_consume(q, lambda c, m, p, b: (got.append(p.headers["x-stream-offset"]),
                                            c.basic_ack(m.delivery_tag)),
                     arguments={"x-stream-offset": "next"})
    conn.process_data_events(0.3)
    assert got == []
    publish(ch, q, [b"new"])
    assert pump(conn, lambda: got == [10])
    ch.queue_delete(q)


def test_default_offset_is_next(conn):
    ch = conn.channel()
    q = stream(ch)
    publish(ch, q, [b"old"])
    c2 = conn.channel()
    got = []
    c2.basic_qos(prefetch_count=10)
    c2.basic_consume(q, lambda c, m, p, b: (got.append(b), c.basic_ack(m.delivery_tag)))
    conn.process_data_events(0.3)
    publish(ch, q, [b"new"])
    assert pump(conn, lambda: got == [b"new"])
    ch.queue_delete(q)


@current_only   # 3.10 refused them (540); 3.13 treats them as acks
def test_nack_and_reject_count_as_ack(conn):
    ch = conn.channel()
    q = stream(ch)
    publish(ch, q, [b"x%d" % i for i in range(5)])
    c2 = conn.channel()
    seen = []

    def on(c, m, p, b):
        seen.append((p.headers["x-stream-offset"], m.redelivered))
        if len(seen) % 2:
            c.basic_nack(m.delivery_tag, requeue=True)
        else:
            c.basic_reject(m.delivery_tag, requeue=False)
    c2.basic_qos(prefetch_count=1)
    c2.basic_consume(q, on, arguments={"x-stream-offset": "first"})
    pump(conn, lambda: len(seen) >= 5)
    conn.process_data_events(0.3)
    assert seen == [(i, False) for i in range(5)], "nothing is redelivered"
    ch.queue_delete(q)


def test_prefetch_paces_the_consumer(conn):
    ch = conn.channel()
    q = stream(ch)
    publish(ch, q, [b"p%d" % i for i in range(10)])
    got = consume(conn, conn.channel(), q, 10, prefetch=3, ack=False, timeout=0.5,
                  **{"x-stream-offset": "first"})
    assert len(got) == 3, "unacked deliveries stop at the prefetch"
    ch.queue_delete(q)


# ---- filtering ----------------------------------------------------------------

@current_only
def test_filtering(conn):
    ch = conn.channel()
    q = stream(ch)
    # separate confirmed publishes: separate chunks, each with its filter
    for colour in ["red", "blue", "red", "green"] * 5:
        publish(ch, q, [colour.encode()], headers={"x-stream-filter-value": colour})
    publish(ch, q, [b"plain"])
    red = consume(conn, conn.channel(), q, 10, timeout=1,
                  **{"x-stream-offset": "first", "x-stream-filter": "red"})
    assert [x[1] for x in red] == [b"red"] * 10
    two = consume(conn, conn.channel(), q, 15, timeout=1,
                  **{"x-stream-offset": "first", "x-stream-filter": ["red", "green"]})
    assert sorted(set(x[1] for x in two)) == [b"green", b"red"] and len(two) == 15
    unf = consume(conn, conn.channel(), q, 6, timeout=1,
                  **{"x-stream-offset": "first", "x-stream-filter": "blue",
                     "x-stream-match-unfiltered": True})
    assert [x[1] for x in unf] == [b"blue"] * 5 + [b"plain"]
    ch.queue_delete(q)


# ---- fed like any queue ----------------------------------------------------------

@current_only   # 3.10 drops a message dead-lettered into a stream
def test_fed_through_exchange_and_dead_lettering(conn):
    ch = conn.channel()
    q = stream(ch)
    x = uname("x")
    ch.exchange_declare(x, "topic")
    ch.queue_bind(q, x, "ev.#")
    publish(ch, "ev.a", [b"via-exchange"], exchange=x)
    src = uname("dlsrc")
    ch.queue_declare(src, arguments={"x-dead-letter-exchange": x,
                                     "x-dead-letter-routing-key": "ev.dead"})
    ch.basic_publish("", src, b"dead-lettered")
    m, p, b = wait_get(ch, src, auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    got = consume(conn, conn.channel(), q, 2, **{"x-stream-offset": "first"})
    assert [g[1] for g in got] == [b"via-exchange", b"dead-lettered"]
    ch.queue_delete(q)
    ch.queue_delete(src)
    ch.exchange_delete(x)


def test_fed_by_mqtt(broker, conn):
    if broker.mqtt_port is None:
        pytest.skip("no MQTT listener")
    from mqtt_helpers import Paho
    ch = conn.channel()
    q = stream(ch)
    ch.queue_bind(q, "amq.topic", "sensors.#")
    p = Paho(broker)
    p.connect()
    p.c.publish("sensors/t1", b"21.5", qos=1).wait_for_publish(5)
    p.c.disconnect()
    got = consume(conn, conn.channel(), q, 1, **{"x-stream-offset": "first"})
    assert [g[1] for g in got] == [b"21.5"]
    ch.queue_delete(q)


# ---- retention --------------------------------------------------------------------

@current_only
def test_retention_by_size_deletes_whole_segments(conn):
    ch = conn.channel()
    q = stream(ch, **{"x-max-length-bytes": 20000,
                      "x-stream-max-segment-size-bytes": 4000})
    for i in range(100):
        publish(ch, q, [b"r%03d" % i + b"." * 400])
    got = consume(conn, conn.channel(), q, 100, timeout=1, **{"x-stream-offset": "first"})
    offs = [g[0] for g in got]
    assert offs and offs[0] > 0, "old segments were deleted"
    assert offs == list(range(offs[0], 100)), "what is left is whole and in order"
    assert len(offs) >= (20000 - 4000) // 600, "no more than needed is deleted"
    ch.queue_delete(q)


@current_only
def test_consumer_behind_retention_continues_from_oldest_kept(conn):
    ch = conn.channel()
    q = stream(ch, **{"x-max-length-bytes": 20000,
                      "x-stream-max-segment-size-bytes": 4000})
    publish(ch, q, [b"b%03d" % i + b"." * 400 for i in range(5)])
    # a slow reader holds offset 0 unacked (prefetch 1) while the stream rolls on
    slow = conn.channel()
    seen = []
    slow.basic_qos(prefetch_count=1)
    slow.basic_consume(q, lambda c, m, p, b: seen.append((p.headers["x-stream-offset"],
                                                          m.delivery_tag)),
                       arguments={"x-stream-offset": "first"})
    assert pump(conn, lambda: len(seen) == 1) and seen[0][0] == 0
    publish(ch, q, [b"b%03d" % i + b"." * 400 for i in range(5, 100)])
    oldest = consume(conn, conn.channel(), q, 1, **{"x-stream-offset": "first"})[0][0]
    assert oldest > 1, "retention deleted the slow reader's segment"
    slow.basic_ack(seen[0][1])
    assert pump(conn, lambda: len(seen) == 2)
    assert seen[1][0] >= oldest, "it goes on from the oldest offset still kept"
    # a numeric offset before the retention point starts there too
    early = consume(conn, conn.channel(), q, 1, **{"x-stream-offset": 1})
    assert early[0][0] >= oldest
    ch.queue_delete(q)


@current_only
def test_retention_by_age(conn):
    ch = conn.channel()
    q = stream(ch, **{"x-max-age": "1s", "x-stream-max-segment-size-bytes": 1000})
    for i in range(10):
        publish(ch, q, [b"old%d" % i + b"." * 300])
    time.sleep(2.5)
    for i in range(10):
        publish(ch, q, [b"new%d" % i + b"." * 300])
    got = consume(conn, conn.channel(), q, 20, timeout=1, **{"x-stream-offset": "first"})
    bodies = [g[1][:4] for g in got]
    assert b"old0" not in bodies and bodies[-1] == b"new9"
    ch.queue_delete(q)


# ---- policies ------------------------------------------------------------------

def test_policy_sets_stream_retention(broker, conn):
    from http_helpers import api
    st, _, _ = api(broker, "PUT", "/api/policies/%2F/stream-retention", {
        "pattern": "^pol-", "apply-to": "streams",
        "definition": {"max-length-bytes": 20000, "stream-max-segment-size-bytes": 4000,
                       "max-age": "7D"}})
    assert st in (201, 204)
    ch = conn.channel()
    q = stream(ch, "pol-" + uname("s"))
    st, body, _ = api(broker, "GET", "/api/queues/%2F/" + q)
    assert body["policy"] == "stream-retention"
    for i in range(100):
        publish(ch, q, [b"p%03d" % i + b"." * 400])
    got = consume(conn, conn.channel(), q, 100, timeout=1, **{"x-stream-offset": "first"})
    assert got and got[0][0] > 0, "the policy's retention deleted old segments"
    st, body, _ = api(broker, "GET", "/api/queues/%2F/" + q)
    assert body["stream"]["bytes"] <= 20000 and body["stream"]["segments"] >= 4
    ch.queue_delete(q)
    api(broker, "DELETE", "/api/policies/%2F/stream-retention")


# ---- compaction -------------------------------------------------------------------

def test_compaction_keeps_the_newest_value_per_key(conn):
    ch = conn.channel()
    q = stream(ch, **{"x-stream-compaction-key": "k",
                      "x-stream-max-segment-size-bytes": 3000})
    for rnd in range(10):
        for key in ["a", "b", "c"]:
            publish(ch, q, [b"%s-%d" % (key.encode(), rnd)], headers={"k": key})
    publish(ch, q, [b""], headers={"k": "b"})              # tombstone: b is deleted
    for i in range(40):                                     # roll on past the keys
        publish(ch, q, [b"f" * 200], headers={"k": "filler"})

    def live():
        got = consume(conn, conn.channel(), q, 1000, timeout=1,
                      **{"x-stream-offset": "first"})
        return [(o, b) for o, b, _ in got if not b.startswith(b"f")]
    kept = wait_for(lambda: (lambda v: v if len(v) == 3 else None)(live()), timeout=10)
    assert kept, live()
    assert [b for _, b in kept] == [b"a-9", b"c-9", b""], "newest per key, tombstone last"
    assert [o for o, _ in kept] == [27, 29, 30], "offsets do not change"
    ch.queue_delete(q)


@pytest.mark.skipif(EXTERNAL, reason="this broker's memory accounting")
def test_unacked_stream_deliveries_do_not_hold_copies(broker, conn):
    """Each stream delivery is a message decoded from the log, not a
    reference to one shared copy: 40 consumers with prefetch 1 that leave
    one 4 MB message unacked used to hold 40 copies of it and 40 chunk
    buffers (320 MB for one 4 MB publish; a consumer per channel, and
    channels are cheap). Settling a stream delivery never needs its body,
    so it is let go once written, and so is a large chunk's read buffer."""
    from http_helpers import api
    ch = conn.channel()
    name = stream(ch)
    publish(ch, name, [b"x" * (4 << 20)])
    st, nodes, _ = api(broker, "GET", "/api/nodes")
    base = nodes[0]["mem_used"]
    got = []
    for _ in range(40):
        c = conn.channel()
        c.basic_qos(prefetch_count=1)
        c.basic_consume(name, lambda c_, m, p, b: got.append(len(b)),
                        arguments={"x-stream-offset": "first"})
    assert pump(conn, lambda: len(got) == 40, timeout=20)
    st, nodes, _ = api(broker, "GET", "/api/nodes")
    assert nodes[0]["mem_used"] - base < 32 << 20, (base, nodes[0]["mem_used"])
