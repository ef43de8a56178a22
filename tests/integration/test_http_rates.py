"""Every *_details.rate is a real rate over the last sampling interval, and
RabbitMQ's sample windows (?lengths_age=&lengths_incr=, msg_rates_...,
data_rates_..., node_stats_...) return samples. The broker samples every
200 ms here (broker.collect_statistics_interval); tests wait for
conditions, never for fixed times."""
import threading
import time

import pytest

from amqp_helpers import connect
from conftest import wait_for
from http_helpers import api

FAST = ("--set", "broker.collect_statistics_interval=200")


@pytest.fixture
def fast(make_broker):
    return make_broker(*FAST)


def get(b, path):
    st, body, _ = api(b, "GET", path)
    assert st == 200, body
    return body


def check_window(details, age_s, incr_s, lengths=False):
    """RabbitMQ's sample window: newest first, incr apart, avg/avg_rate."""
    s = details["samples"]
    assert 1 <= len(s) <= age_s // incr_s + 1
    ts = [x["timestamp"] for x in s]
    assert all(t % (incr_s * 1000) == 0 for t in ts)
    assert all(a - b == incr_s * 1000 for a, b in zip(ts, ts[1:]))
    now = time.time() * 1000
    assert ts[0] <= now + incr_s * 1000 and ts[0] > now - 2 * incr_s * 1000
    if len(s) > 1:
        vals = [x["sample"] for x in s]
        assert details["avg"] == pytest.approx(sum(vals) / len(vals))
        assert details["avg_rate"] == pytest.approx(
            (vals[0] - vals[-1]) * 1000 / (ts[0] - ts[-1]))


def test_queue_length_and_message_rates(fast):
    conn = connect(fast)
    ch = conn.channel()
    ch.queue_declare("rq")
    for _ in range(40):
        ch.basic_publish("", "rq", b"x")
    url = "/api/queues/%2F/rq?lengths_age=3&lengths_incr=1&msg_rates_age=3&msg_rates_incr=1"
    q = wait_for(lambda: (lambda q: q if [s["sample"] for s in q["messages_details"]
                                          ["samples"][:1]] == [40] and
                          q["message_stats"]["publish_details"]["samples"]
                          else None)(get(fast, url)), timeout=10)
    assert q is not None
    check_window(q["messages_details"], 3, 1, lengths=True)
    check_window(q["message_stats"]["publish_details"], 3, 1)
    samples = [x["sample"] for x in q["messages_details"]["samples"]]
    assert all(0 <= v <= 40 for v in samples)
    assert samples == sorted(samples, reverse=True)     # only grew
    # nothing happens: the rates fall to 0
    assert wait_for(lambda: get(fast, "/api/queues/%2F/rq")["messages_details"]["rate"] == 0
                    and get(fast, "/api/queues/%2F/rq")["message_stats"]["publish_details"]
                    ["rate"] == 0, timeout=10)
    # draining: the length's rate goes negative, deliver_get's positive
    stop = threading.Event()

    def drain():
        c2 = connect(fast)
        ch2 = c2.channel()
        while not stop.is_set():
            m, _, _ = ch2.basic_get("rq", auto_ack=True)
            if m is None:
                break
            time.sleep(0.02)
        c2.close()
    t = threading.Thread(target=drain)
    t.start()
    try:
        seen = wait_for(lambda: (lambda q: q if q["messages_details"]["rate"] < 0 and
                                 q["message_stats"]["get_no_ack_details"]["rate"] > 0
                                 else None)(get(fast, "/api/queues/%2F/rq")), timeout=10)
        assert seen is not None
        assert seen["message_stats"]["deliver_get_details"]["rate"] == pytest.approx(
            seen["message_stats"]["get_no_ack_details"]["rate"])
    finally:
        stop.set()
        t.join()
    conn.close()


def test_publish_rate_while_publishing(fast):
    conn = connect(fast)
    ch = conn.channel()
    ch.queue_declare("pq")
    ch.queue_bind("pq", "amq.direct", "pq")
    stop = threading.Event()

    def publish():
        c2 = connect(fast)
        ch2 = c2.channel()
        while not stop.is_set():
            ch2.basic_publish("amq.direct", "pq", b"y")
            time.sleep(0.005)
        c2.close()
    t = threading.Thread(target=publish)
    t.start()
    try:
        for path, key in (("/api/queues/%2F/pq", "publish"),
                          ("/api/overview", "publish"),
                          ("/api/vhosts/%2F", "publish"),
                          ("/api/exchanges/%2F/amq.direct", "publish_in"),
                          ("/api/exchanges/%2F/amq.direct", "publish_out")):
            assert wait_for(lambda: get(fast, path)["message_stats"][key + "_details"]
                            ["rate"] > 0, timeout=10), path
        assert wait_for(lambda: get(fast, "/api/overview")["queue_totals"]
                        ["messages_details"]["rate"] > 0, timeout=10)
        c = wait_for(lambda: [x for x in get(fast, "/api/connections?data_rates_age=2"
                                             "&data_rates_incr=1")
                              if x["recv_oct_details"]["rate"] > 0 and
                              x["recv_oct_details"]["samples"]], timeout=10)
        check_window(c[0]["recv_oct_details"], 2, 1)
    finally:
        stop.set()
        t.join()
    conn.close()


def test_channel_counters_and_churn(fast):
    before = get(fast, "/api/overview")["churn_rates"]
    conn = connect(fast)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare("cq")
    ch.queue_declare("cq")                              # declared again, not created
    for _ in range(3):
        ch.basic_publish("", "cq", b"z")
    ch.basic_publish("", "no-such-queue", b"lost")
    m, _, _ = ch.basic_get("cq", auto_ack=False)
    ch.basic_ack(m.delivery_tag)
    ch.basic_get("cq", auto_ack=True)
    ch.basic_get("cq", auto_ack=True)
    assert ch.basic_get("cq", auto_ack=True)[0] is None
    chans = wait_for(lambda: [c for c in get(fast, "/api/channels")
                              if c["message_stats"].get("get_empty") == 1], timeout=5)
    ms = chans[0]["message_stats"]
    assert (ms["publish"], ms["confirm"], ms["get"], ms["get_no_ack"], ms["ack"],
            ms["get_empty"]) == (4, 4, 1, 2, 1, 1)
    qms = get(fast, "/api/queues/%2F/cq")["message_stats"]
    assert (qms["get"], qms["get_no_ack"], qms["get_empty"], qms["deliver_get"]) == (1, 2, 1, 3)
    assert get(fast, "/api/overview")["message_stats"]["confirm"] == 4
    conn.close()
    after = wait_for(lambda: (lambda c: c if c["connection_closed"] > before["connection_closed"]
                              else None)(get(fast, "/api/overview")["churn_rates"]), timeout=5)
    delta = {k: after[k] - before[k] for k in after if not k.endswith("_details")}
    assert delta == {"connection_created": 1, "connection_closed": 1, "channel_created": 1,
                     "channel_closed": 1, "queue_declared": 2, "queue_created": 1,
                     "queue_deleted": 0}
    api(fast, "DELETE", "/api/queues/%2F/cq")
    assert get(fast, "/api/overview")["churn_rates"]["queue_deleted"] == \
        before["queue_deleted"] + 1


def test_node_stats_window_and_bad_ranges(fast):
    n = wait_for(lambda: (lambda n: n if len(n["mem_used_details"].get("samples", [])) >= 2
                          else None)(get(fast, "/api/nodes?node_stats_age=3&node_stats_incr=1")[0]),
                 timeout=10)
    check_window(n["mem_used_details"], 3, 1)
    check_window(n["fd_used_details"], 3, 1)
    for qs in ("lengths_age=10&lengths_incr=0", "msg_rates_age=-5&msg_rates_incr=1",
               "lengths_age=100000&lengths_incr=1"):
        st, body, _ = api(fast, "GET", "/api/overview?" + qs)
        assert st == 400 and body["error"] == "invalid_range_parameters", qs
        assert body["reason"].startswith("Invalid range parameters: age ")
    # not a number: no window, as RabbitMQ
    st, body, _ = api(fast, "GET", "/api/overview?lengths_age=x&lengths_incr=1")
    assert st == 200 and "samples" not in body["queue_totals"]["messages_details"]
