"""The management UI's other pages in headless Chromium, each checked
against the API and real clients: login and where credentials go,
overview, exchanges, connections and channels (close one: pika sees
320), MQTT clients and sessions (paho), definitions export and import."""
import json
import threading
import time

import paho.mqtt.client as mqtt
import pika
import pytest

from conftest import Broker, wait_for
from http_helpers import api, http_port
from ui_helpers import Browser, artifacts_dir, missing, ui  # noqa: F401


def channel(b, name=None):
    params = pika.ConnectionParameters(b.host, b.port, client_properties=(
        {"connection_name": name} if name else None))
    conn = pika.BlockingConnection(params)
    return conn, conn.channel()


def test_files_are_served_without_login_with_a_strict_policy(broker):
    st, text, h = api(broker, "GET", "/", auth=None)
    assert st == 200 and h["content-type"].startswith("text/html")
    csp = h["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert h["x-frame-options"] == "DENY"
    scripts = [s.split('"')[0] for s in text.split('<script src="')[1:]]
    assert "/ui/ui_core.js" in scripts and "/ui/ui_main.js" in scripts
    for path in scripts + ["/ui/app.css"]:
        st, body, h = api(broker, "GET", path, auth=None)
        assert st == 200, path
        # nothing from elsewhere: no CDN, no absolute URL at all
        assert "http://" not in body and "https://" not in body and "//cdn" not in body, path
        assert "innerHTML" not in body and "eval(" not in body, path
    assert api(broker, "GET", "/ui/nope.js", auth=None)[0] == 404
    assert api(broker, "GET", "/ui/../api/overview", auth=None)[0] in (400, 404)
    assert api(broker, "POST", "/", auth=None, raw=b"")[0] == 405
    # the API itself still needs credentials
    assert api(broker, "GET", "/api/overview", auth=None)[0] == 401


def test_login_form_keeps_credentials_out_of_urls_and_local_storage(request):
    why = missing()
    if why:
        pytest.skip(why)
    b = Broker()
    br = Browser("http://127.0.0.1:%d" % http_port(b), artifacts_dir(request.node.name))
    try:
        br.login("guest", "wrong")
        br.wait_text("#login-error", "Login failed")
        assert br.eval("document.getElementById('app').hidden") is True
        br.shot("login-failed")
        br.login("guest", "guest")
        br.wait("#overview #totals")
        assert br.eval("localStorage.length") == 0
        assert br.eval("document.cookie") == ""
        # a state-changing call from the UI: JSON content type, basic auth header
        br.page("vhosts", "#vhosts")
        br.fill("#add-vhost-name", "from-ui")
        br.click("#add-vhost-submit")
        br.wait('#vhosts tr[data-name="from-ui"]')
        reqs = br.requests()
        assert not [r for r in reqs if "guest" in r["url"]]
        puts = [r for r in reqs if r["method"] == "PUT"]
        assert puts and all(r["headers"].get("content-type") == "application/json" and
                            r["headers"].get("authorization", "").startswith("Basic ")
                            for r in puts)
        # log out: the tab forgets the credentials
        br.click("#logout")
        br.wait("#login-form")
        assert br.eval("sessionStorage.length") == 0
        br.goto("#/queues")
        br.wait("#login-form")
        assert br.errors() == []
    finally:
        br.shot("end")
        br.close()
        b.stop()


def test_overview_matches_the_api(ui):
    b, br = ui
    conn, ch = channel(b, "overview-conn")
    ch.queue_declare("ov1")
    for _ in range(4):
        ch.basic_publish("", "ov1", b"x")

    def shown_matches():
        st, ov, _ = api(b, "GET", "/api/overview")
        want = {"queues": str(ov["object_totals"]["queues"]),
                "connections": str(ov["object_totals"]["connections"]),
                "messages": str(ov["queue_totals"]["messages"])}
        got = {k: br.text('#totals b[data-total="%s"]' % k) for k in want}
        return got == want and want["messages"] == "4" and want["connections"] == "1"
    br.goto("#/")
    assert wait_for(shown_matches, timeout=20)
    st, ov, _ = api(b, "GET", "/api/overview")
    ports = sorted(str(x["port"]) for x in ov["listeners"])
    assert sorted(br.texts("#listeners td[data-col=port]")) == sorted(
        "{:,}".format(int(p)) for p in ports)
    assert br.attr("#alarms", "data-alarms") == "none"
    assert br.count("#chart") == 1
    br.shot("overview")
    conn.close()


def test_exchange_pages(ui):
    b, br = ui
    conn, ch = channel(b)
    ch.queue_declare("xq")
    br.page("exchanges", '#exchanges tr[data-name="amq.topic"]')
    st, d, _ = api(b, "GET", "/api/exchanges?page=1&page_size=100&sort=name")
    assert br.texts("#exchanges tbody td[data-col=type]") == [x["type"] for x in d["items"]]
    # add one through the form
    br.click("#add-exchange-section summary")
    br.fill("#add-exchange-name", "ui-x")
    br.select("#add-exchange-type", "fanout")
    br.click("#add-exchange-submit")
    br.wait('#exchanges tr[data-name="ui-x"]')
    st, x, _ = api(b, "GET", "/api/exchanges/%2F/ui-x")
    assert st == 200 and x["type"] == "fanout" and x["durable"] is True
    # its page: bind to a queue, publish through it, pika gets the message
    br.click('#exchanges tr[data-name="ui-x"] a')
    br.wait("#exchange-details")
    br.click("#bind-from-section summary")
    br.fill("#bind-from-destination", "xq")
    br.click("#bind-from-submit")
    br.wait_text("#bindings-source", "xq")
    br.fill("#publish-routing_key", "anything")
    br.fill("#publish-payload", "via exchange page")
    br.click("#publish-submit")
    br.wait_text("#flash", "Message published.")
    m = wait_for(lambda: ch.basic_get("xq", auto_ack=True)[2])
    assert m == b"via exchange page"
    br.shot("exchange")
    # delete it: gone for pika
    br.click("#delete-section summary")
    br.click("#delete-exchange-button")
    br.click("#delete-exchange-yes")
    br.wait('#exchanges tr[data-name="amq.topic"]')
    assert api(b, "GET", "/api/exchanges/%2F/ui-x")[0] == 404
    conn.close()


def test_connections_channels_and_force_close(ui):
    b, br = ui
    conn, ch = channel(b, "victim")
    ch.confirm_delivery()
    conn.channel()
    st, conns, _ = api(b, "GET", "/api/connections")
    name = conns[0]["name"]
    br.page("connections", '#connections tr[data-name="%s"]' % name)
    cells = br.row_cells("#connections", name)
    assert cells[2] == "guest" and cells[3] == conns[0]["protocol"] and cells[5] == "2"
    br.page("channels", "#channels tbody tr")
    st, chans, _ = api(b, "GET", "/api/channels")
    assert sorted(br.texts("#channels tbody tr td:first-child")) == sorted(c["name"] for c in chans)
    br.click('#connections-box a, #channels a')  # a link to the connection
    br.wait("#connection-details")
    assert br.text("#connection-details td[data-key=channels]") == "2"
    assert "victim" in br.text("#connection-details td[data-key=client_properties]")
    assert br.count("#channels tbody tr") == 2
    br.shot("connection")
    br.fill("#close-reason", "maintenance window")
    br.click("#close-connection-button")
    br.click("#close-connection-yes")
    br.wait("#connections-box")
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        for _ in range(50):
            conn.process_data_events(0.1)
    assert e.value.reply_code == 320 and "maintenance window" in e.value.reply_text
    assert wait_for(lambda: api(b, "GET", "/api/connections")[1] == [])


def test_mqtt_clients_and_sessions(ui):
    b, br = ui
    if b.mqtt_port is None:
        pytest.skip("no MQTT listener")
    c = mqtt.Client(client_id="ui-sensor", clean_session=False, protocol=mqtt.MQTTv311)
    c.username_pw_set("guest", "guest")
    c.connect("127.0.0.1", b.mqtt_port)
    c.loop_start()
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.subscribe("plant/+/temp", qos=1)
    assert subscribed.wait(10)
    br.page("mqtt", '#mqtt-clients tr')
    br.wait_text("#mqtt-clients", "ui-sensor")
    br.wait_text("#mqtt-sessions", "ui-sensor")
    st, conns, _ = api(b, "GET", "/api/connections")
    assert conns[0]["client_id"] == "ui-sensor"
    assert br.text("#mqtt-clients td[data-col=client_id]") == "ui-sensor"
    assert br.text("#mqtt-sessions td[data-col=connected]") == "yes"
    c.loop_stop()
    c.disconnect()
    # once the broker has closed the connection: a message that comes
    # before goes to the session's in-flight window, not its queue
    assert wait_for(lambda: all(x.get("client_id") != "ui-sensor" for x in
                                api(b, "GET", "/api/connections?columns=client_id")[1]),
                    timeout=10)
    # offline: messages queue up in the session, the page says so
    p = mqtt.Client(client_id="ui-pub", protocol=mqtt.MQTTv311)
    p.username_pw_set("guest", "guest")
    p.connect("127.0.0.1", b.mqtt_port)
    p.loop_start()
    for i in range(3):
        p.publish("plant/%d/temp" % i, b"21", qos=1).wait_for_publish(10)
    p.loop_stop()
    p.disconnect()
    br.page("mqtt", "#mqtt-sessions")
    br.wait_text("#mqtt-sessions td[data-col=connected]", "no")
    br.wait_text("#mqtt-sessions td[data-col=messages_ready]", "3")
    br.shot("mqtt")
    # the session's page is its queue's: subscriptions are the bindings
    br.click("#mqtt-sessions a.session")
    br.wait("#queue-details")
    br.wait_text("#bindings", "plant.*.temp")


def test_streams_page_shows_consumer_lag(ui):
    b, br = ui
    c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    ch = c.channel()
    ch.queue_declare("ui-stream", durable=True, arguments={"x-queue-type": "stream"})
    ch.confirm_delivery()
    for i in range(10):
        ch.basic_publish("", "ui-stream", b"e%d" % i)
    ch.basic_qos(prefetch_count=20)
    got = []

    def on(chan, m, p, body):
        got.append(body)
        if len(got) <= 4:
            chan.basic_ack(m.delivery_tag)
    ch.basic_consume("ui-stream", on, arguments={"x-stream-offset": "first",
                                                  "x-stream-consumer-name": "ui-reader"})
    while len(got) < 10:
        c.process_data_events(0.1)
    br.page("streams", "#stream-consumers")
    br.wait_text("#stream-consumers td[data-col=consumer_name]", "ui-reader")
    br.wait_text("#stream-consumers td[data-col=offset_lag]", "6")
    br.wait_text("#stream-consumers td[data-col=committed_offset]", "3")
    br.shot("streams")
    c.close()


def test_definitions_export_and_import(ui):
    b, br = ui
    api(b, "PUT", "/api/queues/%2F/def-q", {"durable": True})
    br.page("definitions", "#export-button")
    br.click("#export-button")
    br.wait_text("#export-preview", "def-q")
    shown = json.loads(br.text("#export-preview"))
    st, d, _ = api(b, "GET", "/api/definitions")
    assert sorted(q["name"] for q in shown["queues"]) == sorted(q["name"] for q in d["queues"])
    assert sorted(u["name"] for u in shown["users"]) == sorted(u["name"] for u in d["users"])
    assert br.attr("#export-download", "download") == "sluice-definitions.json"
    new = {"queues": [{"name": "imported-q", "vhost": "/", "durable": True, "auto_delete": False,
                       "arguments": {"x-max-length": 10}}],
           "exchanges": [{"name": "imported-x", "vhost": "/", "type": "topic", "durable": True,
                          "auto_delete": False, "internal": False, "arguments": {}}],
           "bindings": [{"source": "imported-x", "vhost": "/", "destination": "imported-q",
                         "destination_type": "queue", "routing_key": "k.#", "arguments": {}}]}
    br.fill("#import-text", json.dumps(new))
    br.click("#import-button")
    br.wait_text("#flash", "Definitions imported.")
    st, qd, _ = api(b, "GET", "/api/queues/%2F/imported-q")
    assert st == 200 and qd["arguments"] == {"x-max-length": 10}
    conn, ch = channel(b)
    ch.basic_publish("imported-x", "k.1", b"through imported binding")
    assert wait_for(lambda: ch.basic_get("imported-q", auto_ack=True)[2]) == b"through imported binding"
    conn.close()
    br.fill("#import-text", "[1, 2]")
    br.click("#import-button")
    br.wait_text("#import-error", "must be a JSON object")
    br.shot("definitions")


def test_overview_shows_a_resource_alarm(request):
    """A memory alarm (a watermark below what the broker uses) is on the
    overview, as /api/nodes and the health check report it."""
    why = missing()
    if why:
        pytest.skip(why)
    b = Broker(["--set", "broker.memory_high_watermark=64k"])
    br = Browser("http://127.0.0.1:%d" % http_port(b), artifacts_dir(request.node.name))
    try:
        assert wait_for(lambda: api(b, "GET", "/api/nodes")[1][0]["mem_alarm"], timeout=20)
        assert api(b, "GET", "/api/health/checks/alarms")[0] == 503
        assert api(b, "GET", "/api/nodes")[1][0]["mem_limit"] == 64 * 1024
        br.login()
        br.wait("#overview #totals")
        br.wait_text("#alarms", "Memory alarm")
        assert "limit 64.0 KiB" in br.text("#alarms")
        assert br.attr("#alarms", "data-alarms") == "1"
        assert "Disk alarm" not in br.text("#alarms")
        br.shot("alarm")
        assert br.errors() == []
    finally:
        br.close()
        b.stop()
