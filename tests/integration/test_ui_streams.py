"""The management UI's Streams page in headless Chromium, reached the way a
user does (the navigation's entry), against what /api/stream/consumers
answers, and followed while the consumer acks: the page refreshes itself
and the lag it shows falls to 0."""
import pika

from conftest import wait_for
from http_helpers import api
from ui_helpers import ui  # noqa: F401  (fixture)


def lag_row(b, name):
    lst = api(b, "GET", "/api/stream/consumers")[1]
    return next(c for c in lst if c.get("consumer_name") == name)


def test_streams_page_follows_the_lag(ui):
    b, br = ui
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    ch = c.channel()
    ch.queue_declare("ui-lag", durable=True, arguments={"x-queue-type": "stream"})
    ch.confirm_delivery()
    for i in range(20):
        ch.basic_publish("", "ui-lag", b"e%d" % i)
    ch.basic_qos(prefetch_count=50)
    got = []
    ch.basic_consume("ui-lag", lambda chan, m, p, body: got.append(m.delivery_tag),
                     arguments={"x-stream-offset": "first",
                                "x-stream-consumer-name": "lagging"})
    while len(got) < 20:
        c.process_data_events(0.1)
    for t in got[:5]:                           # offsets 0..4
        ch.basic_ack(t)
    c.process_data_events(0.2)
    wait_for(lambda: lag_row(b, "lagging").get("committed_offset") == 4, timeout=10)
    row = lag_row(b, "lagging")
    # the navigation offers the page where the broker has streams
    br.goto()
    br.wait('#nav a[data-nav="streams"]')
    br.click('#nav a[data-nav="streams"]')
    br.wait("#stream-consumers")
    br.wait_text("#stream-consumers td[data-col=consumer_name]", "lagging")
    br.wait_text("#stream-consumers td[data-col=offset_lag]", str(row["offset_lag"]))
    assert br.text("#stream-consumers td[data-col=committed_offset]") == "4"
    assert br.text("#stream-consumers td[data-col=stream]") == "ui-lag"
    assert br.text("#stream-consumers td[data-col=vhost]") == "/"
    assert row["offset_lag"] == 15
    br.shot("streams-lagging")
    # the consumer catches up: the page, left open, shows it within a refresh
    for t in got[5:]:
        ch.basic_ack(t)
    c.process_data_events(0.2)
    wait_for(lambda: lag_row(b, "lagging")["offset_lag"] == 0, timeout=10)
    br.wait_text("#stream-consumers td[data-col=offset_lag]", "0")
    assert br.text("#stream-consumers td[data-col=committed_offset]") == "19"
    br.shot("streams-caught-up")
    assert br.errors() == []
    c.close()
