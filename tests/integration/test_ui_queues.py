"""The management UI's queue pages in headless Chromium: the paged list
with 10,000 queues (filter, sort, pages) against what the API answers,
and every action of a queue's page checked through pika: publish, get
with each ack mode, move, bind and unbind, purge, delete."""
import pika
import pytest

from conftest import wait_for
from http_helpers import api
from ui_helpers import ui  # noqa: F401  (fixture)

QROW = '#queues tr[data-name="%s"]'


def channel(b):
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.port))
    return conn, conn.channel()


def count(ch, name):
    return ch.queue_declare(name, passive=True).method.message_count


def declare_many(b, n):
    """n queues "bulk-00000".. through one pika channel; bulk-00042 gets 7
    messages and bulk-09998 gets 3, for sorting."""
    conn, ch = channel(b)
    for i in range(n):
        ch.queue_declare("bulk-%05d" % i)
    for _ in range(7):
        ch.basic_publish("", "bulk-00042", b"x")
    for _ in range(3):
        ch.basic_publish("", "bulk-09998", b"y")
    # the page and the API read the counts over HTTP, not this channel
    assert wait_for(lambda: count(ch, "bulk-00042") == 7 and count(ch, "bulk-09998") == 3)
    return conn, ch


def test_queue_list_pages_filters_and_sorts_10000_queues(ui):
    b, br = ui
    conn, ch = declare_many(b, 10000)
    br.page("queues", QROW % "bulk-00000")
    st, d, _ = api(b, "GET", "/api/queues?page=1&page_size=100&sort=name&sort_reverse=false")
    assert d["total_count"] == 10000 and d["page_count"] == 100
    # the first page holds exactly the API's first page, in its order
    names = br.texts("#queues tbody td[data-col=name]")
    assert names == [x["name"] for x in d["items"]]
    assert br.text(".pager .page-of") == "Page 1 of 100"
    assert "10,000 total" in br.text(".list-tools .count")
    br.shot("queues-page1")
    # the ready count shown for a queue is the API's
    cells = br.row_cells("#queues", "bulk-00042")
    assert cells[5] == "7", cells
    # next page: the API's page 2
    br.click(".pager .next")
    br.wait_text(".pager .page-of", "Page 2 of 100")
    st, d2, _ = api(b, "GET", "/api/queues?page=2&page_size=100&sort=name")
    assert br.texts("#queues tbody td[data-col=name]") == [x["name"] for x in d2["items"]]
    # filter: server-side, resets to page 1
    br.fill(".list-tools .filter", "bulk-0999")
    br.wait_text(".list-tools .count", "10 of 10,000 match")
    assert br.texts("#queues tbody td[data-col=name]") == ["bulk-%05d" % i for i in range(9990, 10000)]
    # regex filter
    br.check(".list-tools .regex", True)
    br.fill(".list-tools .filter", "^bulk-0004[2-4]$")
    br.wait_text(".list-tools .count", "3 of 10,000 match")
    assert br.texts("#queues tbody td[data-col=name]") == ["bulk-00042", "bulk-00043", "bulk-00044"]
    # sort by ready, descending: two clicks on the header
    br.fill(".list-tools .filter", "")
    br.check(".list-tools .regex", False)
    br.wait_text(".list-tools .count", "10,000 total")
    br.click('#queues th[data-sort="messages_ready"]')
    br.wait("#queues th.asc[data-sort=messages_ready]")
    br.click('#queues th[data-sort="messages_ready"]')
    br.wait("#queues th.desc[data-sort=messages_ready]")
    br.wait_text("#queues tbody tr:first-child td[data-col=name]", "bulk-00042")
    assert br.texts("#queues tbody td[data-col=name]")[:2] == ["bulk-00042", "bulk-09998"]
    br.shot("queues-sorted")
    # the page asked the server for pages: no request fetched all queues
    lists = [r["url"] for r in br.requests() if "/api/queues?" in r["url"]]
    assert lists and all("page_size=" in u for u in lists), lists
    conn.close()


def test_queue_page_actions_take_effect(ui):
    b, br = ui
    conn, ch = channel(b)
    ch.queue_declare("work", durable=True, arguments={"x-max-length": 100})
    ch.queue_declare("other")
    ch.exchange_declare("xt", "topic")
    for i in range(5):
        ch.basic_publish("", "work", ("msg-%d" % i).encode())
    assert wait_for(lambda: count(ch, "work") == 5)
    br.page("queue/%2F/work", "#queue-details")
    st, qd, _ = api(b, "GET", "/api/queues/%2F/work")
    assert br.text('#queue-details td[data-key=messages_ready]') == str(qd["messages_ready"]) == "5"
    assert br.text('#queue-details td[data-key=durable]') == "true"
    assert "x-max-length" in br.text('#queue-details td[data-key=arguments]')

    # get with requeue: shown, still in the queue
    br.select("#get-messages-ackmode", "ack_requeue_true")
    br.fill("#get-messages-count", "2")
    br.click("#get-messages-submit")
    br.wait("#messages .message[data-index='1']")
    assert [t for t in br.texts("#messages pre.payload")] == ["msg-0", "msg-1"]
    assert count(ch, "work") == 5
    # get with automatic ack: removed
    br.select("#get-messages-ackmode", "ack_requeue_false")
    br.fill("#get-messages-count", "1")
    br.click("#get-messages-submit")
    br.wait_text("#messages pre.payload", "msg-0")
    assert wait_for(lambda: count(ch, "work") == 4)
    br.shot("get")

    # publish from the page: pika reads it back with its properties
    br.click("#publish-section summary")
    br.select("#publish-delivery_mode", "2")
    br.fill("#publish-headers", '{"origin": "ui"}')
    br.fill("#publish-payload", "from the browser")
    br.click("#publish-submit")
    br.wait_text("#flash", "Message published.")
    assert wait_for(lambda: count(ch, "work") == 5)

    # consumers: a pika consumer shows with its tag
    conn2, ch2 = channel(b)
    ch2.basic_consume("other", lambda *a: None, consumer_tag="ui-test-tag")
    br.page("queue/%2F/other", "#consumers")
    br.wait_text("#consumers", "ui-test-tag")
    conn2.close()

    # bind from the page, then unbind
    br.page("queue/%2F/work", "#queue-details")
    br.click("#bind-section summary")
    br.fill("#bind-queue-source", "xt")
    br.fill("#bind-queue-routing_key", "a.#")
    br.click("#bind-queue-submit")
    br.wait_text("#bindings", "a.#")
    st, bl, _ = api(b, "GET", "/api/queues/%2F/work/bindings")
    assert [(x["source"], x["routing_key"]) for x in bl] == [("", "work"), ("xt", "a.#")]
    ch.basic_publish("xt", "a.b", b"routed")
    assert wait_for(lambda: count(ch, "work") == 6)
    br.click("#bindings .unbind")
    br.wait("#bindings .unbind", state="detached")
    st, bl, _ = api(b, "GET", "/api/queues/%2F/work/bindings")
    assert [x["source"] for x in bl] == [""]

    # move 2 to "other"
    br.click("#move-section summary")
    br.fill("#move-messages-destination", "other")
    br.fill("#move-messages-count", "2")
    br.click("#move-messages-submit")
    br.wait_text("#flash", "Moved 2 message(s)")
    assert wait_for(lambda: count(ch, "work") == 4 and count(ch, "other") == 2)
    assert ch.basic_get("other", auto_ack=True)[2] == b"msg-1"

    # purge: the queue is empty as pika sees it
    br.click("#purge-section summary")
    br.click("#purge-button")
    br.click("#purge-yes")
    br.wait_text("#flash", "purged")
    assert count(ch, "work") == 0
    br.wait_text("#queue-details td[data-key=messages_ready]", "0")
    br.shot("purged")

    # delete: gone for pika too
    br.click("#delete-section summary")
    br.click("#delete-queue-button")
    br.click("#delete-queue-yes")
    br.wait(QROW % "other")                  # back on the list
    ch3 = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        ch3.queue_declare("work", passive=True)
    assert e.value.reply_code == 404
    conn.close()


def test_add_queue_form(ui):
    b, br = ui
    api(b, "PUT", "/api/vhosts/vh2", {})
    br.page("queues", "#queues")
    br.click("#add-queue-section summary")
    br.wait("#add-queue-vhost option[value=vh2]", state="attached")
    br.select("#add-queue-vhost", "vh2")
    br.fill("#add-queue-name", "made-in-ui")
    br.fill("#add-queue-arguments", '{"x-message-ttl": 60000}')
    br.click("#add-queue-submit")
    br.wait_text("#flash", "declared")
    st, d, _ = api(b, "GET", "/api/queues/vh2/made-in-ui")
    assert st == 200 and d["durable"] is True and d["arguments"] == {"x-message-ttl": 60000}
    # a bad JSON argument is refused in the form, nothing is sent
    br.fill("#add-queue-name", "bad-args")
    br.fill("#add-queue-arguments", "{nope")
    br.click("#add-queue-submit")
    br.wait_text("#add-queue .form-error", "not valid JSON")
    assert api(b, "GET", "/api/queues/vh2/bad-args")[0] == 404
    # the broker's refusal is shown in the form
    br.fill("#add-queue-name", "made-in-ui")
    br.fill("#add-queue-arguments", '{"x-message-ttl": 5}')
    br.click("#add-queue-submit")
    br.wait_text("#add-queue .form-error", "inequivalent arg")


def test_dot_names_do_not_act_on_other_queues(ui):
    """A browser resolves "." and ".." path segments (also written %2E)
    before it sends a request, so a queue named "." cannot be addressed
    from the page: purging it would DELETE /api/queues/VHOST/contents, the
    queue "contents". The page says so and sends nothing."""
    b, br = ui
    api(b, "PUT", "/api/vhosts/own")
    api(b, "PUT", "/api/users/low", {"password": "p", "tags": ""})
    for user in ("low", "guest"):
        api(b, "PUT", "/api/permissions/own/" + user,
            {"configure": ".*", "write": ".*", "read": ".*"})
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        b.host, b.port, virtual_host="own", credentials=pika.PlainCredentials("low", "p")))
    ch = conn.channel()
    for name in (".", "..", "contents", "get"):
        ch.queue_declare(name)
    ch.basic_publish("", ".", b"m")
    br.page("queue/own/.", "#queue-error")
    assert "cannot" in br.text("#queue-error")
    br.click("#purge-section summary")
    br.click("#purge-button")
    br.click("#purge-yes")
    br.wait_text("#flash", "cannot")
    br.click("#get-messages-submit")
    br.wait_text("#get-messages .form-error", "cannot")
    br.click("#delete-section summary")
    br.click("#delete-queue-button")
    br.click("#delete-queue-yes")
    br.wait_text("#flash", "cannot")
    br.page("queue/own/..", "#queue-error")
    br.click("#purge-section summary")
    br.click("#purge-button")
    br.click("#purge-yes")
    br.wait_text("#flash", "cannot")
    names = sorted(q["name"] for q in api(b, "GET", "/api/queues/own")[1])
    assert names == [".", "..", "contents", "get"]
    assert count(ch, ".") == 1
    changes = [(r["method"], r["url"]) for r in br.requests() if r["method"] != "GET"]
    assert changes == [], changes
    conn.close()
