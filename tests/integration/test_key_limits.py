"""Routing keys and names are AMQP 0-9-1 short strings (at most 255 bytes).

Every place a key or name enters the core from outside AMQP refuses a
longer one with the source's own error (a queue argument: 406 with
RabbitMQ's "invalid arg" wording; HTTP: 400; definitions and sluice.conf:
the import's or the file's error). An MQTT topic may be longer: AMQP
clients get its message with routing key "" and the key in header
x-routing-key (test_mqtt_long_names.py). A message whose content header is
larger than the client's frame_max is skipped for that client: a
basic.get answers, never hangs, and a consumer gets the next message.
"""
import json
import os
import subprocess

import paho.mqtt.client as mqtt

from amqp_helpers import *  # noqa: F401,F403
from conftest import SLUICED
from http_helpers import api, q

LONG = "k" * 256


def test_dead_letter_routing_key_over_255_bytes_is_refused(ch):
    args = {"x-dead-letter-exchange": "amq.topic", "x-dead-letter-routing-key": LONG}
    with channel_error(406, "PRECONDITION_FAILED - invalid arg "
                            "'x-dead-letter-routing-key' for queue"):
        ch.queue_declare(uname("q"), arguments=args)


def test_dead_letter_routing_key_of_255_bytes_is_accepted(ch):
    args = {"x-dead-letter-exchange": "amq.topic", "x-dead-letter-routing-key": "k" * 255}
    ch.queue_declare(uname("q"), arguments=args)


def test_dead_letter_exchange_and_alternate_exchange_names_over_255_bytes(conn):
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-exchange'"):
        ch.queue_declare(uname("q"), arguments={"x-dead-letter-exchange": LONG})
    ch = conn.channel()
    with channel_error(406, "PRECONDITION_FAILED - invalid arg 'alternate-exchange'"):
        ch.exchange_declare(uname("x"), "direct", arguments={"alternate-exchange": LONG})


def test_http_refuses_long_names_and_keys(broker):
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/" + q(uname("q")),
                      {"durable": False, "arguments": {
                          "x-dead-letter-exchange": "amq.topic",
                          "x-dead-letter-routing-key": LONG}})
    assert st == 400 and "x-dead-letter-routing-key" in body["reason"], (st, body)
    st, body, _ = api(broker, "PUT", "/api/exchanges/%2F/" + q("n" * 256),
                      {"type": "direct"})
    assert st == 400 and "the limit is 255" in body["reason"], (st, body)
    st, body, _ = api(broker, "POST", "/api/exchanges/%2F/amq.topic/publish",
                      {"routing_key": LONG, "payload": "x", "payload_encoding": "string",
                       "properties": {}})
    assert st == 400, (st, body)
    st, _, _ = api(broker, "GET", "/api/exchanges/%2F/" + q("n" * 256))
    assert st == 404


def test_definitions_refuse_long_binding_key_and_exchange_name(broker):
    qn = uname("q")
    doc = {"queues": [{"name": qn, "vhost": "/", "durable": True,
                       "auto_delete": False, "arguments": {}}],
           "bindings": [{"source": "amq.topic", "vhost": "/", "destination": qn,
                         "destination_type": "queue", "routing_key": LONG,
                         "arguments": {}}]}
    st, body, _ = api(broker, "POST", "/api/definitions", doc)
    assert st == 400 and "routing_key" in json.dumps(body), (st, body)
    doc = {"exchanges": [{"name": "n" * 256, "vhost": "/", "type": "topic", "durable": True,
                          "auto_delete": False, "internal": False, "arguments": {}}]}
    st, body, _ = api(broker, "POST", "/api/definitions", doc)
    assert st == 400, (st, body)


def run_config(tmp_path, text):
    conf = tmp_path / "sluice.conf"
    conf.write_text(text)
    p = subprocess.run([SLUICED, "-c", str(conf), "--set",
                        "broker.data_dir=" + str(tmp_path / "data"),
                        "--set", "amqp.port=0", "--set", "mqtt.port=0",
                        "--set", "http.port=0", "--set", "prometheus.port=0"],
                       capture_output=True, text=True, timeout=20, input="")
    return p


def test_config_refuses_long_binding_key(tmp_path):
    p = run_config(tmp_path, "[queue q1]\n[binding b]\nsource = amq.topic\n"
                   "destination = q1\nrouting_key = %s\n" % LONG)
    assert p.returncode == 2, p.stderr
    assert "sluice.conf:5:" in p.stderr and "routing key" in p.stderr, p.stderr


def test_config_refuses_long_dead_letter_routing_key(tmp_path):
    p = run_config(tmp_path, "[queue q1]\nargument.x-dead-letter-exchange = amq.topic\n"
                   "argument.x-dead-letter-routing-key = %s\n" % LONG)
    assert p.returncode == 2, p.stderr
    assert "x-dead-letter-routing-key" in p.stderr, p.stderr


def mqtt_publish(broker, topic, payload):
    c = mqtt.Client("pub-" + uname(), protocol=mqtt.MQTTv311)
    c.username_pw_set("guest", "guest")
    c.connect(broker.mqtt_host, broker.mqtt_port, 30)
    c.loop_start()
    c.publish(topic, payload, qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


def test_basic_get_of_a_long_mqtt_topic_answers(broker, ch):
    """An MQTT topic of 300 bytes reaches an AMQP queue bound to '#': the
    key cannot be written in basic.get-ok, so it goes in a header and the
    method carries "" (the message used to be dropped, and before that
    basic.get sent nothing and the client hung)."""
    if broker.mqtt_port is None:
        pytest.skip("no MQTT listener")
    qn = ch.queue_declare(uname("q")).method.queue
    ch.queue_bind(qn, "amq.topic", "#")
    mqtt_publish(broker, "t/" + "x" * 300, b"long")
    mqtt_publish(broker, "t/short", b"short")
    assert wait_for(lambda: ready_count(ch, qn) == 2)
    m, p, body = ch.basic_get(qn, auto_ack=True)
    assert m is not None and body == b"long" and m.routing_key == ""
    assert p.headers["x-routing-key"] == "t." + "x" * 300
    m, _, body = ch.basic_get(qn, auto_ack=True)
    assert m is not None and body == b"short" and m.routing_key == "t.short"
    assert ch.basic_get(qn, auto_ack=True)[0] is None


def test_consumer_gets_a_long_mqtt_topic(broker, conn):
    if broker.mqtt_port is None:
        pytest.skip("no MQTT listener")
    ch = conn.channel()
    qn = ch.queue_declare(uname("q")).method.queue
    ch.queue_bind(qn, "amq.topic", "#")
    got = []
    ch.basic_consume(qn, lambda c, m, p, b: (got.append((m.routing_key, b)),
                                             c.basic_ack(m.delivery_tag)))
    mqtt_publish(broker, "t/" + "y" * 300, b"long")
    mqtt_publish(broker, "t/short", b"short")
    assert pump(conn, lambda: len(got) == 2)
    assert got == [("", b"long"), ("t.short", b"short")]
    ch.close()
    assert ready_count(conn.channel(), qn) == 0


def test_content_header_larger_than_the_consumers_frame_max(broker, ch):
    """A publisher with the default frame_max sends 8 KB of headers; a
    client that negotiated frame_max 4096 cannot receive that content
    header: the message is skipped for it and basic.get answers."""
    qn = ch.queue_declare(uname("q")).method.queue
    ch.basic_publish("", qn, b"big", props(headers={"h": "v" * 8000}))
    ch.basic_publish("", qn, b"small")
    # basic.get comes on another connection: both must be queued first
    assert wait_for(lambda: ready_count(ch, qn) == 2)
    small = connect(broker, frame_max=4096)
    try:
        sch = small.channel()
        m, _, body = sch.basic_get(qn, auto_ack=True)
        assert m is not None and body == b"small"
        assert sch.basic_get(qn, auto_ack=True)[0] is None
    finally:
        small.close()
    assert "exceeds the client's frame_max 4096" in broker.log()


def test_policy_refuses_long_dead_letter_routing_key(broker):
    st, body, _ = api(broker, "PUT", "/api/policies/%2F/" + q(uname("p")),
                      {"pattern": "^dl", "apply-to": "queues",
                       "definition": {"dead-letter-exchange": "amq.topic",
                                      "dead-letter-routing-key": LONG}})
    assert st == 400 and "dead letter routing key" in body["reason"], (st, body)
    st, body, _ = api(broker, "PUT", "/api/policies/%2F/" + q(uname("p")),
                      {"pattern": "^dl", "apply-to": "queues",
                       "definition": {"dead-letter-exchange": "amq.topic",
                                      "dead-letter-routing-key": "k" * 255}})
    assert st in (201, 204), (st, body)


def test_mqtt_client_id_longer_than_255_bytes_keeps_its_session(broker):
    """Queue names are not limited like exchange names: an MQTT session's
    queue carries its client id, which MQTT allows up to 65535 bytes."""
    if broker.mqtt_port is None:
        pytest.skip("no MQTT listener")
    got, subacks = [], []
    c = mqtt.Client("c" * 300, protocol=mqtt.MQTTv311, clean_session=False)
    c.username_pw_set("guest", "guest")
    c.on_message = lambda cl, u, m: got.append(m.payload)
    c.on_subscribe = lambda cl, u, mid, granted: subacks.append(granted)
    c.connect(broker.mqtt_host, broker.mqtt_port, 30)
    c.loop_start()
    c.subscribe("long/id", 1)
    assert wait_for(lambda: subacks == [(1,)]), subacks
    mqtt_publish(broker, "long/id", b"hello")
    assert wait_for(lambda: got == [b"hello"])
    c.disconnect()
    c.loop_stop()
