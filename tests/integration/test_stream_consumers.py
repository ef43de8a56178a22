"""Beyond RabbitMQ: named stream consumers with stored offsets, single
active consumer groups on a stream, and their lag where operators look
(/api/queues/VHOST/NAME, /api/stream/consumers, /metrics, sluicectl).
"""
import json
import subprocess

from amqp_helpers import *  # noqa: F401,F403
from http_helpers import api, q as pq
from test_sluicectl import SLUICECTL

S = {"x-queue-type": "stream"}


def stream_with(ch, n):
    name = uname("s")
    ch.queue_declare(name, durable=True, arguments=S)
    ch.confirm_delivery()
    for i in range(n):
        ch.basic_publish("", name, b"m%d" % i)
    return name


def consumer(conn, q, args, got, ack_below=None, prefetch=50):
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)

    def on(c, m, p, b):
        off = p.headers["x-stream-offset"]
        got.append(off)
        if ack_below is None or off < ack_below:
            c.basic_ack(m.delivery_tag)
    tag = ch.basic_consume(q, on, arguments=args)
    return ch, tag


def test_named_consumer_resumes_after_its_last_ack(conn):
    ch = conn.channel()
    q = stream_with(ch, 30)
    got = []
    c1, tag = consumer(conn, q, {"x-stream-offset": "first",
                                 "x-stream-consumer-name": "billing"}, got, ack_below=12)
    pump(conn, lambda: len(got) >= 30)
    c1.basic_cancel(tag)
    again = []
    consumer(conn, q, {"x-stream-consumer-name": "billing"}, again)
    assert pump(conn, lambda: len(again) >= 18)
    assert again == list(range(12, 30))
    # an explicit x-stream-offset wins over the stored one
    explicit = []
    consumer(conn, q, {"x-stream-consumer-name": "billing", "x-stream-offset": 25}, explicit)
    assert pump(conn, lambda: len(explicit) >= 5) and explicit[0] == 25
    ch.queue_delete(q)


def test_single_active_group_takes_over_at_the_stored_offset(broker):
    c = connect(broker)
    ch = c.channel()
    q = stream_with(ch, 40)
    args = {"x-stream-offset": "first", "x-stream-consumer-name": "workers",
            "x-single-active-consumer": True}
    a, b = [], []
    ca = connect(broker)
    cha, taga = consumer(ca, q, args, a, prefetch=5, ack_below=20)
    cb = connect(broker)
    consumer(cb, q, args, b, prefetch=5)
    # a acks everything below 20, then holds 20..24 unacked and stops
    assert pump(ca, lambda: len(a) >= 25)
    ca.process_data_events(0.3)
    cb.process_data_events(0.3)
    assert a == list(range(25)) and b == [], "one member of the group reads"
    ca.close()            # unacked offsets are not stored
    assert pump(cb, lambda: len(b) >= 20), b
    assert b == list(range(20, 40)), "b takes over where a's acks ended"
    cb.close()
    ch.queue_delete(q)
    c.close()


def test_lag_in_api_metrics_and_sluicectl(broker, conn):
    ch = conn.channel()
    q = stream_with(ch, 50)
    got = []
    consumer(conn, q, {"x-stream-offset": "first", "x-stream-consumer-name": "report"},
             got, ack_below=20)
    pump(conn, lambda: len(got) >= 50)
    # a round trip on this connection: the acks sent above are in before
    # the API, /metrics and sluicectl (other connections) are asked
    ch.queue_declare(q, passive=True)
    st, body, _ = api(broker, "GET", "/api/queues/%2F/" + pq(q))
    assert st == 200 and body["type"] == "stream" and body["messages"] == 50
    s = body["stream"]
    assert s["first_offset"] == 0 and s["last_offset"] == 49
    named = [x for x in s["consumers"] if x["consumer_name"] == "report"]
    assert named and named[0]["committed_offset"] == 19
    assert named[0]["offset_lag"] == 30 and named[0]["offset"] == 49
    assert named[0]["lag_seconds"] >= 0 and named[0]["connection_details"]["name"]
    st, lst, _ = api(broker, "GET", "/api/stream/consumers/%2F")
    assert st == 200 and any(x["consumer_name"] == "report" and x["offset_lag"] == 30
                             for x in lst)
    st, text, _ = api(broker, "GET", "/metrics")
    line = [x for x in text.splitlines() if x.startswith("sluice_stream_consumer_lag{")
            and 'consumer="report"' in x and 'queue="%s"' % q in x]
    assert line and line[0].endswith(" 30"), line
    out = subprocess.run([SLUICECTL, "--host", "127.0.0.1", "--port",
                          str(broker.ports["http"]), "--formatter", "json",
                          "list_stream_consumers"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert any(r["consumer_name"] == "report" and r["offset_lag"] == 30 for r in rows)
    # the consumer goes: its stored offset and lag stay visible
    conn.close()
    st, lst, _ = api(broker, "GET", "/api/stream/consumers/%2F")
    idle = [x for x in lst if x["consumer_name"] == "report"]
    assert idle and idle[0]["active"] is False and idle[0]["offset_lag"] == 30
    c2 = connect(broker)
    c2.channel().queue_delete(q)
    c2.close()


def test_stream_consumers_scoped_by_vhost(broker, conn):
    from authz_helpers import add_vhost, user
    ch = conn.channel()
    q = stream_with(ch, 5)
    got = []
    consumer(conn, q, {"x-stream-offset": "first", "x-stream-consumer-name": "audit"}, got)
    pump(conn, lambda: len(got) >= 5)
    add_vhost(broker, "elsewhere")
    user(broker, "sc-outsider", tags="management", vhost="elsewhere")
    user(broker, "sc-insider", tags="management", vhost="/")
    auth = ("sc-outsider", "pw")
    st, lst, _ = api(broker, "GET", "/api/stream/consumers", auth=auth)
    assert st == 200 and not any(x["queue"]["name"] == q for x in lst)
    st, _, _ = api(broker, "GET", "/api/stream/consumers/%2F", auth=auth)
    assert st == 403
    st, lst, _ = api(broker, "GET", "/api/stream/consumers", auth=("sc-insider", "pw"))
    assert st == 200 and any(x["consumer_name"] == "audit" for x in lst)
    ch.queue_delete(q)


def test_group_of_three_hands_over_in_order(broker, conn):
    """Members of one group read one at a time, in the order they came:
    cancelling the reader hands over to the next, not to a later one."""
    name = stream_with(conn.channel(), 3)
    args = {"x-stream-consumer-name": "g", "x-single-active-consumer": True,
            "x-stream-offset": "first"}
    got = {k: [] for k in "abc"}
    chans = {}
    for k in "abc":
        chans[k] = conn.channel()
        chans[k].basic_qos(prefetch_count=10)
        chans[k].basic_consume(name, lambda c, m, p, b, k=k: got[k].append(b),
                               arguments=args, consumer_tag=k)
    assert pump(conn, lambda: len(got["a"]) == 3)
    assert got["b"] == got["c"] == []
    chans["b"].basic_cancel("b")            # a waiting member leaves
    chans["a"].basic_cancel("a")            # the reader leaves: c reads
    chans["a"].basic_publish("", name, b"more")
    assert pump(conn, lambda: got["c"] != [])
    assert got["b"] == []


def test_many_named_single_active_consumers_stay_cheap(broker):
    """Each consume and each dispatch used to ask, for every single-active
    consumer, whether an earlier one of its name existed by walking the
    consumer list: with 3000 distinct names setting them up took the core
    thread about 20 s (cubic) and every publish a walk of 4.5 million
    steps."""
    import struct
    from amqpraw import BASIC, connect as raw_connect, method_frame, shortstr, table
    ch = connect(broker).channel()
    name = stream_with(ch, 0)
    raw = raw_connect(broker)
    n = 3000
    per_channel = 1000                  # amqp.consumer_max_per_channel
    for chan in range(1, n // per_channel + 1):
        raw.open_channel(chan)
        raw.send(method_frame(chan, BASIC, 10, struct.pack("!IHB", 0, 10, 0)))
        raw.expect_method(BASIC, 11)
    frames = b"".join(
        method_frame(1 + i // per_channel, BASIC, 20, struct.pack("!H", 0) + shortstr(name)
                     + shortstr("c%d" % i) + b"\x00"
                     + table({"x-single-active-consumer": True,
                              "x-stream-consumer-name": "n%d" % i}))
        for i in range(n))
    start = time.time()
    raw.send(frames)
    for _ in range(n):
        raw.expect_method(BASIC, 21, timeout=20)
    assert time.time() - start < 5.0
    raw.close()
