#!/usr/bin/env python3
"""Write seed corpora for the stateful fuzz targets:
  corpus/amqp_session/  frame streams after the harness's login (channels 1-3)
  corpus/http/          requests in fuzz_http's format
  corpus/defs/          definitions documents
  corpus/config/        sluice.conf files
  corpus/mqtt_session/  whole MQTT 3.1, 3.1.1 and 5.0 sessions

usage: make_corpus_stateful.py <tests/fuzz/corpus>
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from amqpraw import (BASIC, CHANNEL, CONFIRM, EXCHANGE, QUEUE, TX,  # noqa: E402
                     body_frame, header_frame, method_frame, publish_args,
                     queue_declare_args, shortstr, table)
import mqttraw  # noqa: E402
from mqttraw import (DISCONNECT, PINGREQ, PUBREL, SUBSCRIBE, UNSUBSCRIBE,  # noqa: E402
                     V3, V311, V5, P, encode_props, mstr, packet)


def m(ch, cid, mid, args=b""):
    return method_frame(ch, cid, mid, args)


def publish(ch, rk, body, exchange="", mandatory=False, props=b"", flags=0, split=None):
    out = m(ch, BASIC, 40, publish_args(exchange, rk, mandatory))
    out += header_frame(ch, len(body), flags=flags, props=props)
    step = split or max(len(body), 1)
    for i in range(0, len(body), step):
        out += body_frame(ch, body[i:i + step])
    return out


def amqp_seeds():
    q = queue_declare_args("q1")
    qd = queue_declare_args("qd", durable=True)
    yield "publish_get", (m(1, QUEUE, 10, q) + publish(1, "q1", b"hello")
                          + m(1, BASIC, 70, struct.pack("!H", 0) + shortstr("q1") + b"\x00")
                          + m(1, BASIC, 80, struct.pack("!QB", 1, 0)))
    yield "split_body", m(1, QUEUE, 10, q) + publish(1, "q1", b"x" * 10000, split=3000)
    yield "interleaved", (m(1, QUEUE, 10, q) + m(2, BASIC, 40, publish_args("", "q1"))
                          + m(1, BASIC, 40, publish_args("", "q1")) + header_frame(1, 5)
                          + header_frame(2, 3) + body_frame(2, b"abc") + body_frame(1, b"hello"))
    yield "confirm", (m(1, CONFIRM, 10, b"\x00") + m(1, QUEUE, 10, qd)
                      + publish(1, "qd", b"p", props=b"\x02", flags=0x1000)
                      + publish(1, "nowhere", b"m", mandatory=True))
    yield "tx", (m(1, TX, 10) + m(1, QUEUE, 10, q) + publish(1, "q1", b"t") + m(1, TX, 20)
                 + publish(1, "q1", b"r") + m(1, TX, 30))
    yield "consume_ack", (m(1, QUEUE, 10, q) + m(1, BASIC, 10, struct.pack("!IHB", 0, 2, 0))
                          + m(1, BASIC, 20, struct.pack("!H", 0) + shortstr("q1") + shortstr("c1")
                              + b"\x00" + table({}))
                          + publish(2, "q1", b"a") + publish(2, "q1", b"b")
                          + m(1, BASIC, 80, struct.pack("!QB", 2, 1))
                          + m(1, BASIC, 120, struct.pack("!QB", 1, 1))
                          + m(1, BASIC, 110, b"\x01"))
    yield "topology", (m(1, EXCHANGE, 10, struct.pack("!H", 0) + shortstr("x1") + shortstr("topic")
                         + b"\x02" + table({"alternate-exchange": "amq.fanout"}))
                       + m(1, QUEUE, 10, queue_declare_args("dl"))
                       + m(1, QUEUE, 10, struct.pack("!H", 0) + shortstr("q2") + b"\x00"
                           + table({"x-dead-letter-exchange": "amq.fanout",
                                    "x-message-ttl": 0, "x-max-length": 1}))
                       + m(1, QUEUE, 20, struct.pack("!H", 0) + shortstr("q2") + shortstr("x1")
                           + shortstr("a.#") + b"\x00" + table({}))
                       + publish(1, "a.b", b"z", exchange="x1")
                       + m(1, QUEUE, 40, struct.pack("!H", 0) + shortstr("q2") + b"\x00")
                       + m(1, EXCHANGE, 20, struct.pack("!H", 0) + shortstr("x1") + b"\x00"))
    yield "close_reopen", m(1, CHANNEL, 40, struct.pack("!H", 200) + shortstr("bye")
                            + struct.pack("!HH", 0, 0)) + m(1, CHANNEL, 41)


def mqtt_session(version, anonymous=False):
    raw = mqttraw.Raw.__new__(mqttraw.Raw)         # its builders, no socket
    raw.version = version
    user = None if anonymous else "guest"
    pw = None if anonymous else "guest"
    props = {P.SESSION_EXPIRY: 60, P.RECEIVE_MAXIMUM: 5, P.TOPIC_ALIAS_MAXIMUM: 4} \
        if version == V5 else None
    out = raw.connect_packet(client_id="fz-%d" % version, clean=(version != V311),
                             keepalive=30, username=user, password=pw, props=props,
                             will={"topic": "will/t", "payload": b"gone", "qos": 1})
    sub_body = struct.pack("!H", 1) + (encode_props(None) if version == V5 else b"")
    for f, o in (("#", 1), ("a/+/c", 2), ("$share/g/s/#", 0) if version == V5 else ("s/#", 0)):
        sub_body += mstr(f) + bytes([o])
    out += packet(SUBSCRIBE, 2, sub_body)
    out += raw.publish("a/b/c", b"q0", send=False)
    out += raw.publish("a/b/c", b"q1", qos=1, pid=2, send=False)
    out += raw.publish("a/x/c", b"q2", qos=2, pid=3, retain=True, send=False)
    out += packet(PUBREL, 2, struct.pack("!H", 3) + (b"\x00" if version == V5 else b""))
    if version == V5:
        out += raw.publish("t/alias", b"al", qos=1, pid=4,
                           props=[(P.TOPIC_ALIAS, 1), (P.USER_PROPERTY, ("k", "v")),
                                  (P.CORRELATION_DATA, b"c" * 300)], send=False)
    unsub = struct.pack("!H", 5) + (encode_props(None) if version == V5 else b"") + mstr("#")
    out += packet(UNSUBSCRIBE, 2, unsub)
    out += packet(PINGREQ, 0, b"")
    out += packet(DISCONNECT, 0, b"")
    return out


def mqtt_seeds():
    yield "v31", mqtt_session(V3)
    yield "v311", mqtt_session(V311)
    yield "v311_anonymous", mqtt_session(V311, anonymous=True)
    yield "v5", mqtt_session(V5)


def http_seeds():
    def req(method, target, body=b"", headers=b""):
        return bytes([method]) + target + b"\n" + headers + b"\n" + body
    yield "overview", req(0, b"api/overview")
    yield "queue_put", req(1, b"api/queues/%2F/q1", json.dumps(
        {"durable": True, "arguments": {"x-max-length": 3}}).encode())
    yield "publish", (req(1, b"api/queues/%2F/q1", b"{}") + b"\0\0"
                      + req(2, b"api/exchanges/%2F/amq.default/publish", json.dumps(
                          {"routing_key": "q1", "payload": "hi", "payload_encoding": "string",
                           "properties": {"headers": {"a": 1}}}).encode()) + b"\0\0"
                      + req(2, b"api/queues/%2F/q1/get", json.dumps(
                          {"count": 2, "ackmode": "ack_requeue_false",
                           "encoding": "auto"}).encode()))
    yield "users", req(1, b"api/users/alice", b'{"password":"x","tags":"management"}')
    yield "perms", req(1, b"api/permissions/%2F/guest",
                       b'{"configure":".*","write":".*","read":".*"}')
    yield "policy", req(1, b"api/policies/%2F/p1",
                        b'{"pattern":"^q","definition":{"max-length":1},"apply-to":"queues"}')
    yield "bindings", req(2, b"api/bindings/%2F/e/amq.topic/q/q1", b'{"routing_key":"a.*"}')
    yield "list", req(0, b"api/queues?columns=name,messages&sort=name&page=1&page_size=10")
    yield "defs", req(2, b"api/definitions", json.dumps(
        {"queues": [{"name": "d", "vhost": "/", "durable": True, "auto_delete": False,
                     "arguments": {}}]}).encode())
    yield "metrics", req(0, b"metrics")
    yield "noauth", req(0, b"!api/whoami")


def defs_seeds():
    yield "full", {
        "vhosts": [{"name": "/"}, {"name": "v2"}],
        "users": [{"name": "u", "password": "p", "tags": ["management"]}],
        "permissions": [{"user": "u", "vhost": "v2", "configure": ".*", "write": ".*",
                         "read": ".*"}],
        "topic_permissions": [{"user": "u", "vhost": "v2", "exchange": "amq.topic",
                               "write": "^a", "read": ".*"}],
        "policies": [{"vhost": "/", "name": "p", "pattern": "^q", "apply-to": "queues",
                      "definition": {"message-ttl": 1000}, "priority": 1}],
        "exchanges": [{"name": "x", "vhost": "/", "type": "headers", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}],
        "queues": [{"name": "q", "vhost": "/", "durable": True, "auto_delete": False,
                    "arguments": {"x-queue-type": "quorum", "x-delivery-limit": 3}}],
        "bindings": [{"source": "x", "vhost": "/", "destination": "q",
                      "destination_type": "queue", "routing_key": "",
                      "arguments": {"x-match": "any", "a": 1}}],
    }


def config_seeds():
    yield "topology", (b"[broker]\nmax_message_size = 1M\n[amqp]\nport = 0\n"
                       b"[user alice]\npassword = a;b#c\ntags = administrator\n"
                       b"[vhost v]\n[permission alice v]\nconfigure = .*\nwrite = .*\nread = .*\n"
                       b"[exchange x]\nvhost = v\ntype = topic\n"
                       b"[queue q]\nvhost = v\nargument.x-max-length = 3\n"
                       b"[binding b]\nvhost = v\nsource = x\ndestination = q\nrouting_key = a.#\n"
                       b"!amqp.heartbeat=30\n!user.bob.password=x")


def write(d, name, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main(root):
    for name, data in amqp_seeds():
        write(os.path.join(root, "amqp_session"), name, data)
    for name, data in http_seeds():
        write(os.path.join(root, "http"), name, data)
    for name, doc in defs_seeds():
        write(os.path.join(root, "defs"), name + ".json", json.dumps(doc).encode())
    for name, data in config_seeds():
        write(os.path.join(root, "config"), name + ".conf", data)
    with open(os.path.join(HERE, "..", "..", "etc", "sluice.conf"), "rb") as f:
        write(os.path.join(root, "config"), "sluice.conf", f.read())
    for name, data in mqtt_seeds():
        write(os.path.join(root, "mqtt_session"), name, data)


if __name__ == "__main__":
    main(sys.argv[1])
