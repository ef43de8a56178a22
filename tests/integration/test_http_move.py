"""POST /api/queues/VHOST/NAME/move (Sluice's broker-side "move messages")
and the list filter name= / use_regex= of RabbitMQ's paged lists.

Counts are checked through pika as well as the API; persistent messages
moved between durable queues are where they should be after kill -9."""
import shutil
import signal
import tempfile

import pika

from conftest import Broker, wait_for
from http_helpers import api, q


def channel(b):
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.port))
    return conn, conn.channel()


def count(ch, name):
    return ch.queue_declare(name, passive=True).method.message_count


def publish(ch, queue, n, persistent=False, prefix="m"):
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1, headers={"n": 1},
                                 content_type="text/plain")
    before = count(ch, queue)
    for i in range(n):
        ch.basic_publish("", queue, ("%s%d" % (prefix, i)).encode(), props)
    # The move below goes over HTTP, not this channel: it must not start
    # before the broker has queued every message published here.
    assert wait_for(lambda: count(ch, queue) == before + n)


def move(b, src, body, vhost="/"):
    return api(b, "POST", "/api/queues/%s/%s/move" % (q(vhost), q(src)), body)


def test_move_some_then_all_keeps_order_and_properties(broker):
    conn, ch = channel(broker)
    ch.queue_declare("src")
    ch.queue_declare("dst")
    publish(ch, "src", 10)
    st, d, _ = move(broker, "src", {"destination": "dst", "count": 4})
    assert st == 200 and d["moved"] == 4 and d["destination"] == "dst"
    assert wait_for(lambda: count(ch, "src") == 6)
    assert count(ch, "dst") == 4
    st, d, _ = move(broker, "src", {"destination": "dst"})
    assert st == 200 and d["moved"] == 6
    assert wait_for(lambda: count(ch, "src") == 0) and count(ch, "dst") == 10
    bodies = []
    for _ in range(10):
        m, props, body = ch.basic_get("dst", auto_ack=True)
        bodies.append(body.decode())
        assert props.headers == {"n": 1} and props.content_type == "text/plain"
        assert m.exchange == "" and m.routing_key == "dst"
    assert bodies == ["m%d" % i for i in range(10)]
    conn.close()


def test_move_refusals(broker):
    conn, ch = channel(broker)
    ch.queue_declare("a")
    publish(ch, "a", 2)
    st, d, _ = move(broker, "a", {"destination": "a"})
    assert st == 400 and "same queue" in d["reason"]
    st, d, _ = move(broker, "a", {"destination": "nope"})
    assert st == 404
    st, d, _ = move(broker, "nope", {"destination": "a"})
    assert st == 404
    for bad in ({}, {"destination": ""}, {"destination": 5},
                {"destination": "b", "count": 0}, {"destination": "b", "count": 1.5},
                {"destination": "b", "count": "3"}):
        st, d, _ = move(broker, "a", bad)
        assert st == 400, (bad, d)
    st, _, _ = move(broker, "a", {"destination": "b"}, vhost="no-such-vhost")
    assert st == 404
    # a user without the administrator tag may not move
    api(broker, "PUT", "/api/users/mon", {"password": "p", "tags": "monitoring"})
    api(broker, "PUT", "/api/permissions/%2F/mon", {"configure": ".*", "write": ".*", "read": ".*"})
    ch.queue_declare("b")
    st, _, _ = api(broker, "POST", "/api/queues/%2F/a/move", {"destination": "b"}, auth=("mon", "p"))
    assert st in (401, 403)
    assert count(ch, "a") == 2 and count(ch, "b") == 0
    conn.close()


def test_move_stops_where_the_destination_refuses(broker):
    conn, ch = channel(broker)
    ch.queue_declare("full", arguments={"x-max-length": 3, "x-overflow": "reject-publish"})
    ch.queue_declare("from")
    publish(ch, "from", 5)
    st, d, _ = move(broker, "from", {"destination": "full"})
    assert st == 200 and d["moved"] == 3
    assert wait_for(lambda: count(ch, "from") == 2)
    assert count(ch, "full") == 3
    # what stayed behind is the tail, in order, not redelivered twice over
    bodies = [ch.basic_get("from", auto_ack=True)[2] for _ in range(2)]
    assert bodies == [b"m3", b"m4"]
    conn.close()


def test_persistent_move_survives_kill_9():
    data = tempfile.mkdtemp(prefix="sluice-move-")
    b = Broker(["--set", "broker.data_dir=" + data])
    try:
        conn, ch = channel(b)
        ch.queue_declare("dsrc", durable=True)
        ch.queue_declare("ddst", durable=True)
        ch.confirm_delivery()
        publish(ch, "dsrc", 50, persistent=True)
        st, d, _ = move(b, "dsrc", {"destination": "ddst", "count": 30})
        assert st == 200 and d["moved"] == 30
        # the source copies go once the journal holds the destination's
        assert wait_for(lambda: count(ch, "dsrc") == 20, timeout=10)
        assert wait_for(lambda: api(b, "GET", "/api/queues/%2F/dsrc")[1]
                        ["messages_unacknowledged"] == 0, timeout=10)
        conn.close()
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait()
        b2 = Broker(["--set", "broker.data_dir=" + data])
        try:
            conn, ch = channel(b2)
            assert count(ch, "dsrc") == 20
            assert count(ch, "ddst") == 30
            got = [ch.basic_get("ddst", auto_ack=True)[2] for _ in range(30)]
            assert got == [("m%d" % i).encode() for i in range(30)]
            conn.close()
        finally:
            code = b2.stop()
        assert code == 0 and "AddressSanitizer" not in b2.log(), b2.log()
    finally:
        b.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_name_filter_and_regex_with_pagination(broker):
    conn, ch = channel(broker)
    for i in range(30):
        ch.queue_declare("orders.%02d" % i)
    for i in range(5):
        ch.queue_declare("Audit-%d" % i)
    st, d, _ = api(broker, "GET", "/api/queues?page=1&page_size=10&name=ORDERS&use_regex=false")
    assert st == 200
    assert d["total_count"] == 35 and d["filtered_count"] == 30 and d["page_count"] == 3
    assert [x["name"] for x in d["items"]] == ["orders.%02d" % i for i in range(10)]
    st, d, _ = api(broker, "GET", "/api/queues?page=2&page_size=2&name=%s&use_regex=true"
                   % q("^audit-[0-3]$"))
    assert d["filtered_count"] == 4 and [x["name"] for x in d["items"]] == ["Audit-2", "Audit-3"]
    st, d, _ = api(broker, "GET", "/api/queues?name=%s&use_regex=true&sort=name&sort_reverse=true"
                   % q("\\.2[0-9]$"))
    assert [x["name"] for x in d] == ["orders.%02d" % i for i in range(29, 19, -1)]
    for bad in ("(", "(a)\\1", "x" * 300):
        st, d, _ = api(broker, "GET", "/api/queues?name=%s&use_regex=true" % q(bad))
        assert st == 400, bad
    conn.close()


def test_sort_on_nested_rate_field(broker):
    conn, ch = channel(broker)
    for n in ("s1", "s2", "s3"):
        ch.queue_declare(n)
    publish(ch, "s2", 3)
    publish(ch, "s3", 1)
    st, d, _ = api(broker, "GET", "/api/queues?sort=messages&sort_reverse=true&columns=name,messages")
    assert [x["name"] for x in d][:2] == ["s2", "s3"]
    st, d, _ = api(broker, "GET", "/api/queues?sort=message_stats.publish_details.rate&columns=name")
    assert st == 200 and len(d) == 3
    conn.close()
