"""The RabbitMQ-compatible management API: URLs, JSON field names and
error bodies as RabbitMQ's management plugin writes them."""
import base64
import json
import socket
import threading
import time

import pika
import pytest

from conftest import wait_for
from http_helpers import api, q
from stall_helpers import tcp_buf_max

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


def amqp(b):
    return pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=b.port, heartbeat=0))


# ---- auth -------------------------------------------------------------

def test_no_credentials_is_401_with_challenge(broker):
    st, body, h = api(broker, "GET", "/api/overview", auth=None)
    assert st == 401
    assert body["error"] == "not_authorized"
    assert "reason" in body
    assert h["www-authenticate"].startswith("Basic ")


def test_bad_password_is_401(broker):
    st, body, h = api(broker, "GET", "/api/overview", auth=("guest", "nope"))
    assert st == 401 and body == {"error": "not_authorized", "reason": "Login failed"}
    assert "www-authenticate" in h


def test_user_without_management_tag_is_refused(broker):
    assert api(broker, "PUT", "/api/users/plain", {"password": "pw", "tags": ""})[0] == 201
    st, body, _ = api(broker, "GET", "/api/overview", auth=("plain", "pw"))
    assert st == 401 and body["error"] == "not_authorized"


def test_management_user_without_permissions_cannot_write(broker):
    assert api(broker, "PUT", "/api/users/mon",
               {"password": "pw", "tags": "management"})[0] == 201
    st, _, _ = api(broker, "GET", "/api/queues", auth=("mon", "pw"))
    assert st == 200
    # no permissions on "/": refused (403, RabbitMQ's body); see test_authz_http.py
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/nope", {}, auth=("mon", "pw"))
    assert st == 403 and body["error"] == "not_authorised"
    st, who, _ = api(broker, "GET", "/api/whoami", auth=("mon", "pw"))
    assert who == {"name": "mon", "tags": ["management"]}


def test_whoami(broker):
    st, body, _ = api(broker, "GET", "/api/whoami")
    assert st == 200 and body == {"name": "guest", "tags": ["administrator"]}


# ---- overview, nodes, health -------------------------------------------

def test_overview_fields(broker):
    st, ov, h = api(broker, "GET", "/api/overview")
    assert st == 200 and h["content-type"].startswith("application/json")
    for k in ("management_version", "rabbitmq_version", "product_name", "product_version",
              "cluster_name", "node", "message_stats", "object_totals", "queue_totals",
              "listeners", "contexts", "exchange_types", "rates_mode"):
        assert k in ov, k
    assert ov["product_name"] == "Sluice"
    for k in ("publish", "deliver_get", "ack", "deliver", "get", "redeliver"):
        assert k in ov["message_stats"], k
        assert "rate" in ov["message_stats"][k + "_details"]
    for k in ("connections", "channels", "exchanges", "queues", "consumers"):
        assert k in ov["object_totals"]
    for k in ("messages", "messages_ready", "messages_unacknowledged"):
        assert k in ov["queue_totals"] and "rate" in ov["queue_totals"][k + "_details"]
    protos = {l["protocol"]: l["port"] for l in ov["listeners"]}
    assert protos["amqp"] == broker.port and protos["http"] == broker.ports["http"]


def test_overview_counts_publishes(broker):
    c = amqp(broker)
    ch = c.channel()
    ch.queue_declare("ovq")
    for _ in range(3):
        ch.basic_publish("", "ovq", b"x")
    ch.basic_get("ovq", auto_ack=True)
    c.close()
    ov = api(broker, "GET", "/api/overview")[1]
    assert ov["message_stats"]["publish"] >= 3
    assert ov["message_stats"]["deliver_get"] >= 1
    assert ov["queue_totals"]["messages"] == 2
    assert ov["object_totals"]["queues"] == 1


def test_nodes(broker):
    st, nodes, _ = api(broker, "GET", "/api/nodes")
    assert st == 200 and len(nodes) == 1
    n = nodes[0]
    for k in ("name", "type", "running", "mem_used", "mem_alarm", "disk_free_alarm",
              "uptime", "partitions"):
        assert k in n, k
    st, one, _ = api(broker, "GET", "/api/nodes/" + q(n["name"]))
    assert st == 200 and one["name"] == n["name"]


def test_health_alarms_ok(broker):
    assert api(broker, "GET", "/api/health/checks/alarms")[:2] == (200, {"status": "ok"})


def test_health_alarms_failed_under_memory_alarm(make_broker):
    b = make_broker("--set", "broker.memory_high_watermark=1")
    st, body, _ = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(
        api(b, "GET", "/api/health/checks/alarms")), timeout=5)
    assert st == 503 and body["status"] == "failed"
    assert body["alarms"][0]["resource"] == "memory" and "reason" in body


def test_aliveness(broker):
    assert api(broker, "GET", "/api/aliveness-test/%2F")[:2] == (200, {"status": "ok"})
    assert api(broker, "GET", "/api/aliveness-test/nope")[:2] == (404, NOT_FOUND)


# ---- queues -----------------------------------------------------------

def test_queue_put_get_delete(broker):
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/q1",
                      {"durable": True, "auto_delete": False, "arguments": {"x-max-length": 10}})
    assert st == 201, body
    assert api(broker, "PUT", "/api/queues/%2F/q1",
               {"durable": True, "arguments": {"x-max-length": 10}})[0] == 204
    st, qv, _ = api(broker, "GET", "/api/queues/%2F/q1")
    assert st == 200
    assert qv["name"] == "q1" and qv["vhost"] == "/" and qv["durable"] is True
    assert qv["arguments"] == {"x-max-length": 10}
    for k in ("auto_delete", "exclusive", "consumers", "messages", "messages_ready",
              "messages_unacknowledged", "messages_details", "message_stats", "state",
              "type", "node", "memory", "message_bytes"):
        assert k in qv, k
    lst = api(broker, "GET", "/api/queues")[1]
    assert [x["name"] for x in lst] == ["q1"]
    assert [x["name"] for x in api(broker, "GET", "/api/queues/%2F")[1]] == ["q1"]
    assert api(broker, "DELETE", "/api/queues/%2F/q1")[0] == 204
    assert api(broker, "GET", "/api/queues/%2F/q1")[:2] == (404, NOT_FOUND)
    assert api(broker, "DELETE", "/api/queues/%2F/q1")[0] == 404


def test_queue_inequivalent_is_400_with_core_text(broker):
    api(broker, "PUT", "/api/queues/%2F/qe", {"durable": False})
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/qe", {"durable": True})
    assert st == 400 and body == {
        "error": "bad_request",
        "reason": "inequivalent arg 'durable' for queue 'qe' in vhost '/': "
                  "received 'true' but current is 'false'"}


def test_malformed_json_is_400(broker):
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/qm", raw=b'{"durable":',
                      headers={"Content-Type": "application/json"})
    assert st == 400 and body == {"error": "bad_request", "reason": "not_json"}
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/qm", raw=b'[1,2]',
                      headers={"Content-Type": "application/json"})
    assert st == 400
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/qm", {"durable": "maybe"})
    assert st == 400 and body["error"] == "bad_request"


def test_unknown_vhost_is_404(broker):
    assert api(broker, "GET", "/api/queues/nope")[:2] == (404, NOT_FOUND)
    assert api(broker, "PUT", "/api/queues/nope/q", {})[0] == 404


def test_vhost_and_names_are_percent_decoded(broker):
    assert api(broker, "PUT", "/api/vhosts/a%2Fb")[0] == 201
    assert api(broker, "PUT", "/api/queues/a%2Fb/" + q("x y/z"), {})[0] == 201
    lst = api(broker, "GET", "/api/queues/" + q("a/b"))[1]
    assert [(x["vhost"], x["name"]) for x in lst] == [("a/b", "x y/z")]
    assert api(broker, "GET", "/api/queues/%2F/a%00b")[0] == 400


def test_queue_delete_if_empty_and_purge(broker):
    api(broker, "PUT", "/api/queues/%2F/qp", {})
    api(broker, "POST", "/api/exchanges/%2F/amq.default/publish",
        {"properties": {}, "routing_key": "qp", "payload": "m", "payload_encoding": "string"})
    st, body, _ = api(broker, "DELETE", "/api/queues/%2F/qp?if-empty=true")
    assert st == 400 and body == {"error": "bad_request",
                                  "reason": "queue 'qp' in vhost '/' not empty"}
    assert api(broker, "DELETE", "/api/queues/%2F/qp/contents")[0] == 204
    assert api(broker, "GET", "/api/queues/%2F/qp")[1]["messages"] == 0
    assert api(broker, "DELETE", "/api/queues/%2F/qp?if-empty=true")[0] == 204


def test_queue_delete_if_unused(broker):
    c = amqp(broker)
    ch = c.channel()
    ch.queue_declare("qu")
    ch.basic_consume("qu", lambda *a: None)
    st, body, _ = api(broker, "DELETE", "/api/queues/%2F/qu?if-unused=true")
    assert st == 400 and body["error"] == "bad_request"
    c.close()


def test_queue_columns_sort_and_pagination(broker):
    for n in ("b", "a", "c"):
        api(broker, "PUT", "/api/queues/%2F/" + n, {})
    lst = api(broker, "GET", "/api/queues?columns=name,vhost")[1]
    assert lst == [{"name": "a", "vhost": "/"}, {"name": "b", "vhost": "/"},
                   {"name": "c", "vhost": "/"}]
    lst = api(broker, "GET", "/api/queues?columns=name&sort=name&sort_reverse=true")[1]
    assert [x["name"] for x in lst] == ["c", "b", "a"]
    page = api(broker, "GET", "/api/queues?page=2&page_size=2&columns=name")[1]
    assert page["items"] == [{"name": "c"}] and page["total_count"] == 3
    assert page["page_count"] == 2


# ---- messages ----------------------------------------------------------

def test_publish_and_get_message_json(broker):
    api(broker, "PUT", "/api/queues/%2F/mq", {})
    st, body, _ = api(broker, "POST", "/api/exchanges/%2F/amq.default/publish", {
        "properties": {"headers": {"a": 1, "b": "x"}, "delivery_mode": 2,
                       "content_type": "text/plain", "message_id": "m1"},
        "routing_key": "mq", "payload": "hello", "payload_encoding": "string"})
    assert (st, body) == (200, {"routed": True})
    st, body, _ = api(broker, "POST", "/api/exchanges/%2F/amq.default/publish", {
        "properties": {}, "routing_key": "mq", "payload": "AP8=",
        "payload_encoding": "base64"})
    assert body == {"routed": True}
    st, body, _ = api(broker, "POST", "/api/exchanges/%2F/amq.default/publish", {
        "properties": {}, "routing_key": "nowhere", "payload": "x",
        "payload_encoding": "string"})
    assert body == {"routed": False}
    st, msgs, _ = api(broker, "POST", "/api/queues/%2F/mq/get",
                      {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert st == 200 and len(msgs) == 2
    m = msgs[0]
    assert m == {"payload_bytes": 5, "redelivered": False, "exchange": "",
                 "routing_key": "mq", "message_count": 1,
                 "properties": {"headers": {"a": 1, "b": "x"}, "delivery_mode": 2,
                                "content_type": "text/plain", "message_id": "m1"},
                 "payload": "hello", "payload_encoding": "string"}
    assert msgs[1]["payload"] == "AP8=" and msgs[1]["payload_encoding"] == "base64"
    # requeued: still there, now redelivered
    msgs = api(broker, "POST", "/api/queues/%2F/mq/get",
               {"count": 1, "ackmode": "ack_requeue_false", "encoding": "base64",
                "truncate": 2})[1]
    assert msgs[0]["redelivered"] is True and msgs[0]["payload"] == "aGU="
    assert msgs[0]["payload_bytes"] == 5
    assert api(broker, "GET", "/api/queues/%2F/mq")[1]["messages"] == 1


def test_bytes_that_are_not_utf8_give_valid_json(broker):
    """AMQP names, client properties and header values are bytes. A user
    with permissions on its own vhost only declares a queue named
    "q\\xFF": every listing of queues (an administrator's, rabbitmqadmin's)
    must stay valid UTF-8 JSON, the byte shown as U+FFFD; a payload that
    is not strictly UTF-8 (an overlong form) comes as base64."""
    import amqpraw as A
    api(broker, "PUT", "/api/vhosts/own")
    api(broker, "PUT", "/api/users/low", {"password": "p", "tags": ""})
    api(broker, "PUT", "/api/permissions/own/low",
        {"configure": ".*", "write": ".*", "read": ".*"})
    c = A.RawConn(broker.host, broker.port)
    c.start()
    props = A.table({"product": b"p\xff", "connection_name": b"c\xc3("})
    c.send(A.method_frame(0, A.CONNECTION, 11, props + A.shortstr("PLAIN")
                          + A.longstr(b"\x00low\x00p") + A.shortstr("en_US")))
    c.tune(heartbeat=0)
    c.open("own")
    c.open_channel(1)
    c.declare_queue(1, b"q\xff\xfe")
    body = b"\xe0\x80\x80"                       # U+0000, overlong: not UTF-8
    c.send(A.method_frame(1, A.BASIC, 40, A.publish_args("", b"q\xff\xfe"))
           + A.header_frame(1, len(body), flags=0x2000, props=A.table({"h": b"v\xff"}))
           + A.body_frame(1, body))
    wait_for(lambda: api(broker, "GET", "/api/queues/own/q%FF%FE")[1].get("messages") == 1)
    st, qs, _ = api(broker, "GET", "/api/queues")
    assert st == 200 and [x["name"] for x in qs] == ["q\ufffd\ufffd"]
    st, conns, _ = api(broker, "GET", "/api/connections")
    assert conns[0]["client_properties"]["product"] == "p\ufffd"
    assert conns[0]["client_properties"]["connection_name"] == "c\ufffd("
    st, msgs, _ = api(broker, "POST", "/api/queues/own/q%FF%FE/get",
                      {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert st == 200 and msgs[0]["routing_key"] == "q\ufffd\ufffd"
    assert msgs[0]["properties"]["headers"] == {"h": "v\ufffd"}
    assert (msgs[0]["payload"], msgs[0]["payload_encoding"]) == ("4ICA", "base64")
    # the queue is still reached by its bytes
    assert api(broker, "DELETE", "/api/queues/own/q%FF%FE")[0] == 204
    c.close()


def test_get_bad_ackmode_and_missing_queue(broker):
    api(broker, "PUT", "/api/queues/%2F/gq", {})
    st, body, _ = api(broker, "POST", "/api/queues/%2F/gq/get",
                      {"count": 1, "ackmode": "bogus", "encoding": "auto"})
    assert st == 400 and body["error"] == "bad_request"
    st, body, _ = api(broker, "POST", "/api/queues/%2F/none/get",
                      {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert st == 404


def test_publish_to_missing_exchange_is_404(broker):
    st, body, _ = api(broker, "POST", "/api/exchanges/%2F/nope/publish", {
        "properties": {}, "routing_key": "", "payload": "", "payload_encoding": "string"})
    assert st == 404


def test_message_reaches_amqp_consumer(broker):
    c = amqp(broker)
    ch = c.channel()
    ch.queue_declare("interop")
    api(broker, "POST", "/api/exchanges/%2F/amq.default/publish", {
        "properties": {"headers": {"k": "v"}}, "routing_key": "interop",
        "payload": "from http", "payload_encoding": "string"})
    m, props, body = ch.basic_get("interop", auto_ack=True)
    assert body == b"from http" and props.headers == {"k": "v"}
    c.close()


# ---- exchanges and bindings --------------------------------------------

def test_exchanges(broker):
    lst = api(broker, "GET", "/api/exchanges/%2F")[1]
    names = [x["name"] for x in lst]
    assert "" in names and "amq.topic" in names
    st, x, _ = api(broker, "GET", "/api/exchanges/%2F/amq.default")
    assert st == 200 and x["name"] == "" and x["type"] == "direct"
    assert api(broker, "PUT", "/api/exchanges/%2F/x1",
               {"type": "topic", "durable": False, "arguments": {}})[0] == 201
    x = api(broker, "GET", "/api/exchanges/%2F/x1")[1]
    for k in ("name", "vhost", "type", "durable", "auto_delete", "internal", "arguments"):
        assert k in x, k
    assert x["type"] == "topic" and x["durable"] is False
    st, body, _ = api(broker, "PUT", "/api/exchanges/%2F/x2", {"type": "bogus"})
    assert (st, body) == (400, {"error": "bad_request",
                                "reason": "unknown exchange type 'bogus'"})
    st, body, _ = api(broker, "PUT", "/api/exchanges/%2F/amq.foo", {"type": "direct"})
    assert st == 401 and body == {"error": "not_authorised", "reason": "Access refused."}
    assert api(broker, "DELETE", "/api/exchanges/%2F/x1")[0] == 204
    assert api(broker, "DELETE", "/api/exchanges/%2F/x1")[:2] == (404, NOT_FOUND)


def test_bindings_queue(broker):
    api(broker, "PUT", "/api/queues/%2F/bq", {})
    st, _, h = api(broker, "POST", "/api/bindings/%2F/e/amq.direct/q/bq",
                   {"routing_key": "rk", "arguments": {"x": 1}})
    assert st == 201
    loc = h["location"]
    assert loc.startswith("bq/rk~")
    lst = api(broker, "GET", "/api/bindings/%2F/e/amq.direct/q/bq")[1]
    assert len(lst) == 1
    b = lst[0]
    assert b == {"source": "amq.direct", "vhost": "/", "destination": "bq",
                 "destination_type": "queue", "routing_key": "rk", "arguments": {"x": 1},
                 "properties_key": loc.split("/", 1)[1]}
    st, one, _ = api(broker, "GET", "/api/bindings/%2F/e/amq.direct/q/bq/" + q(b["properties_key"]))
    assert st == 200 and one == b
    all_b = api(broker, "GET", "/api/bindings")[1]
    assert {"source": "", "vhost": "/", "destination": "bq", "destination_type": "queue",
            "routing_key": "bq", "arguments": {}, "properties_key": "bq"} in all_b
    assert b in api(broker, "GET", "/api/bindings/%2F")[1]
    assert b in api(broker, "GET", "/api/queues/%2F/bq/bindings")[1]
    assert api(broker, "DELETE", "/api/bindings/%2F/e/amq.direct/q/bq/" +
               q(b["properties_key"]))[0] == 204
    assert api(broker, "GET", "/api/bindings/%2F/e/amq.direct/q/bq")[1] == []
    assert api(broker, "GET", "/api/bindings/%2F/e/amq.direct/q/bq/rk")[0] == 404


def test_bindings_exchange_to_exchange(broker):
    api(broker, "PUT", "/api/exchanges/%2F/src", {"type": "fanout"})
    api(broker, "PUT", "/api/exchanges/%2F/dst", {"type": "fanout"})
    api(broker, "PUT", "/api/queues/%2F/eq", {})
    assert api(broker, "POST", "/api/bindings/%2F/e/dst/q/eq", {})[0] == 201
    assert api(broker, "POST", "/api/bindings/%2F/e/src/e/dst", {"routing_key": ""})[0] == 201
    lst = api(broker, "GET", "/api/bindings/%2F/e/src/e/dst")[1]
    assert lst[0]["destination_type"] == "exchange" and lst[0]["properties_key"] == "~"
    r = api(broker, "POST", "/api/exchanges/%2F/src/publish", {
        "properties": {}, "routing_key": "", "payload": "e2e", "payload_encoding": "string"})
    assert r[1] == {"routed": True}
    assert api(broker, "GET", "/api/exchanges/%2F/src/bindings/source")[1] == lst
    assert api(broker, "DELETE", "/api/bindings/%2F/e/src/e/dst/~")[0] == 204
    assert api(broker, "POST", "/api/bindings/%2F/e/src/q/none", {})[0] == 404


# ---- connections, channels, consumers -----------------------------------

def test_connections_channels_consumers(broker):
    c = amqp(broker)
    ch = c.channel()
    ch.queue_declare("cq")
    ch.basic_qos(prefetch_count=7)
    ch.basic_consume("cq", lambda *a: None, consumer_tag="ctag")
    conns = wait_for(lambda: api(broker, "GET", "/api/connections")[1])
    assert len(conns) == 1
    cv = conns[0]
    for k in ("name", "user", "vhost", "protocol", "peer_host", "peer_port", "host", "port",
              "state", "channels", "client_properties", "recv_oct", "send_oct",
              "connected_at", "node", "ssl", "timeout", "frame_max"):
        assert k in cv, k
    assert cv["user"] == "guest" and cv["vhost"] == "/" and cv["port"] == broker.port
    assert cv["protocol"].startswith("AMQP")
    assert "product" in cv["client_properties"]
    st, one, _ = api(broker, "GET", "/api/connections/" + q(cv["name"]))
    assert st == 200 and one["name"] == cv["name"]
    chans = api(broker, "GET", "/api/channels")[1]
    assert len(chans) == 1
    assert chans[0]["connection_details"]["name"] == cv["name"]
    assert chans[0]["name"] == cv["name"] + " (1)" and chans[0]["number"] == 1
    assert chans[0]["consumer_count"] == 1 and chans[0]["prefetch_count"] == 7
    assert api(broker, "GET", "/api/connections/" + q(cv["name"]) + "/channels")[1] == chans
    cons = api(broker, "GET", "/api/consumers")[1]
    assert len(cons) == 1
    assert cons[0]["consumer_tag"] == "ctag" and cons[0]["queue"] == {"name": "cq", "vhost": "/"}
    assert cons[0]["ack_required"] is True
    assert cons[0]["channel_details"]["name"] == chans[0]["name"]
    assert api(broker, "GET", "/api/consumers/%2F")[1] == cons
    assert [x["name"] for x in api(broker, "GET", "/api/vhosts/%2F/connections")[1]] == [cv["name"]]
    st, _, _ = api(broker, "DELETE", "/api/connections/" + q(cv["name"]),
                   headers={"X-Reason": "bye now"})
    assert st == 204
    with pytest.raises(pika.exceptions.ConnectionClosed) as e:
        for _ in range(50):
            c.process_data_events(0.1)
    assert "bye now" in str(e.value)
    assert wait_for(lambda: api(broker, "GET", "/api/connections")[1] == [])
    assert api(broker, "DELETE", "/api/connections/nope")[0] == 404


# ---- users, vhosts, permissions ----------------------------------------

def test_users(broker):
    lst = api(broker, "GET", "/api/users")[1]
    assert lst[0]["name"] == "guest"
    for k in ("name", "password_hash", "hashing_algorithm", "tags", "limits"):
        assert k in lst[0], k
    assert lst[0]["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert api(broker, "PUT", "/api/users/bob", {"password": "s3", "tags": "administrator"})[0] == 201
    bob = api(broker, "GET", "/api/users/bob")[1]
    assert bob["tags"] == ["administrator"] and bob["password_hash"]
    assert api(broker, "PUT", "/api/users/bob", {"password": "s4", "tags": ["management"]})[0] == 204
    assert api(broker, "GET", "/api/whoami", auth=("bob", "s4"))[1]["tags"] == ["management"]
    # password_hash round trip: copy bob's hash to carol
    h = api(broker, "GET", "/api/users/bob")[1]["password_hash"]
    assert api(broker, "PUT", "/api/users/carol",
               {"password_hash": h, "tags": "monitoring"})[0] == 201
    assert api(broker, "GET", "/api/whoami", auth=("carol", "s4"))[0] == 200
    st, body, _ = api(broker, "PUT", "/api/users/dave", {"tags": ""})
    assert st == 400 and body["error"] == "bad_request"
    assert api(broker, "DELETE", "/api/users/bob")[0] == 204
    assert api(broker, "GET", "/api/users/bob")[:2] == (404, NOT_FOUND)
    assert api(broker, "DELETE", "/api/users/bob")[0] == 404


def test_vhosts_and_permissions(broker):
    assert api(broker, "PUT", "/api/vhosts/v2")[0] == 201
    assert api(broker, "PUT", "/api/vhosts/v2")[0] == 204
    vs = api(broker, "GET", "/api/vhosts")[1]
    assert [v["name"] for v in vs] == ["/", "v2"]
    for k in ("name", "messages", "messages_ready", "messages_unacknowledged", "tracing",
              "cluster_state", "description", "tags", "metadata"):
        assert k in vs[0], k
    assert api(broker, "GET", "/api/vhosts/v2")[1]["name"] == "v2"
    api(broker, "PUT", "/api/users/u1", {"password": "p", "tags": ""})
    assert api(broker, "GET", "/api/permissions/v2/u1")[0] == 404
    assert api(broker, "PUT", "/api/permissions/v2/u1",
               {"configure": "^a", "write": ".*", "read": ""})[0] == 201
    p = api(broker, "GET", "/api/permissions/v2/u1")[1]
    assert p == {"user": "u1", "vhost": "v2", "configure": "^a", "write": ".*", "read": ""}
    assert p in api(broker, "GET", "/api/permissions")[1]
    assert api(broker, "GET", "/api/users/u1/permissions")[1] == [p]
    assert api(broker, "GET", "/api/vhosts/v2/permissions")[1] == [p]
    st, body, _ = api(broker, "PUT", "/api/permissions/v2/u1",
                      {"configure": "(", "write": "", "read": ""})
    assert st == 400
    assert api(broker, "PUT", "/api/permissions/v2/nobody",
               {"configure": "", "write": "", "read": ""})[0] == 404
    assert api(broker, "DELETE", "/api/permissions/v2/u1")[0] == 204
    assert api(broker, "GET", "/api/permissions/v2/u1")[0] == 404
    # AMQP sees the vhost
    assert api(broker, "PUT", "/api/queues/v2/inv2", {})[0] == 201
    assert api(broker, "DELETE", "/api/vhosts/v2")[0] == 204
    assert api(broker, "GET", "/api/vhosts/v2")[0] == 404
    assert api(broker, "DELETE", "/api/vhosts/v2")[0] == 404


# ---- definitions --------------------------------------------------------

def test_definitions_export_import(broker, make_broker):
    api(broker, "PUT", "/api/vhosts/dv")
    api(broker, "PUT", "/api/users/du", {"password": "pw", "tags": "management"})
    api(broker, "PUT", "/api/permissions/dv/du", {"configure": ".*", "write": ".*", "read": ".*"})
    api(broker, "PUT", "/api/exchanges/dv/dx", {"type": "topic", "durable": True})
    api(broker, "PUT", "/api/queues/dv/dq", {"durable": True, "arguments": {"x-message-ttl": 5000}})
    api(broker, "POST", "/api/bindings/dv/e/dx/q/dq", {"routing_key": "a.*"})
    st, d, _ = api(broker, "GET", "/api/definitions")
    assert st == 200
    for k in ("rabbit_version", "rabbitmq_version", "product_name", "product_version",
              "users", "vhosts", "permissions", "topic_permissions", "parameters",
              "global_parameters", "policies", "queues", "exchanges", "bindings"):
        assert k in d, k
    assert {"name": "dq", "vhost": "dv", "durable": True, "auto_delete": False,
            "arguments": {"x-message-ttl": 5000}} in d["queues"]
    assert {"name": "dx", "vhost": "dv", "type": "topic", "durable": True,
            "auto_delete": False, "internal": False, "arguments": {}} in d["exchanges"]
    assert {"source": "dx", "vhost": "dv", "destination": "dq", "destination_type": "queue",
            "routing_key": "a.*", "arguments": {}} in d["bindings"]
    assert all(not x["name"].startswith("amq.") and x["name"] for x in d["exchanges"])
    assert {"name": "dv"} in d["vhosts"]
    # import into a fresh broker
    b2 = make_broker()
    st, body, _ = api(b2, "POST", "/api/definitions", d)
    assert st in (201, 204), body
    d2 = api(b2, "GET", "/api/definitions")[1]
    for k in ("queues", "exchanges", "bindings", "vhosts", "permissions"):
        assert sorted(map(json.dumps, d2[k])) == sorted(map(json.dumps, d[k])), k
    assert api(b2, "GET", "/api/whoami", auth=("du", "pw"))[0] == 200
    # per-vhost export has no vhost field in objects
    dv = api(broker, "GET", "/api/definitions/dv")[1]
    assert dv["queues"] == [{"name": "dq", "durable": True, "auto_delete": False,
                             "arguments": {"x-message-ttl": 5000}}]


def test_definitions_import_errors(broker):
    st, body, _ = api(broker, "POST", "/api/definitions", raw=b"nope",
                      headers={"Content-Type": "application/json"})
    assert st == 400
    st, body, _ = api(broker, "POST", "/api/definitions",
                      {"queues": [{"name": "q", "vhost": "missing"}]})
    assert st == 400 and body["error"] == "bad_request"


# ---- hostile input -------------------------------------------------------

def test_huge_body_refused(make_broker):
    b = make_broker("--set", "http.max_body_size=65536")
    st, _, _ = api(b, "PUT", "/api/queues/%2F/big", raw=b"{" + b" " * 100000 + b"}")
    assert st == 413
    assert api(b, "GET", "/api/overview")[0] == 200


def test_deep_json_refused(broker):
    deep = {"arguments": {}}
    cur = deep["arguments"]
    for _ in range(40):
        cur["x"] = {}
        cur = cur["x"]
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/deep", deep)
    assert st == 400


def test_unknown_paths(broker):
    assert api(broker, "GET", "/api/nothing")[:2] == (404, NOT_FOUND)
    assert api(broker, "GET", "/nothing")[0] == 404
    assert api(broker, "GET", "/api/queues/%2F/a/b/c/d/e/f/g/h/i/j/k/l/m/n")[0] in (400, 404)


def test_get_with_numbers_out_of_range(broker):
    # Numbers no integer type holds (found by fuzz_http under UBSan): a 400
    # for the count, a whole message for a huge truncate; the broker lives.
    api(broker, "PUT", "/api/queues/%2F/hugeq", {})
    api(broker, "POST", "/api/exchanges/%2F/amq.default/publish", {
        "properties": {}, "routing_key": "hugeq", "payload": "hello",
        "payload_encoding": "string"})
    for count in (1e34, -1e34):
        st, body, _ = api(broker, "POST", "/api/queues/%2F/hugeq/get",
                          {"count": count, "ackmode": "ack_requeue_true", "encoding": "auto"})
        assert st == 400 and "'count' must be 1.." in body["reason"], body
    st, msgs, _ = api(broker, "POST", "/api/queues/%2F/hugeq/get",
                      {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto",
                       "truncate": 1e34})
    assert st == 200 and msgs[0]["payload"] == "hello", msgs
    assert broker.alive()


# ---- answers nobody reads ---------------------------------------------

# Each /get below takes GET_COUNT messages whose JSON (every byte escaped
# as \u0001) is about 1 MB: a 16 MB answer, well past what the kernel's
# buffers take from a client that reads nothing (it keeps a 4 KiB
# receive buffer), so most of each answer stays in the broker.
GET_COUNT = 16
GET_BODY = json.dumps({"count": GET_COUNT, "ackmode": "ack_requeue_false",
                       "encoding": "auto"}).encode()


def unread_answers_broker(make_broker, messages):
    if tcp_buf_max("tcp_wmem") > 8 << 20:
        pytest.skip("the kernel could take most of each answer off the broker")
    b = make_broker("--set", "http.request_timeout=60000")
    api(b, "PUT", "/api/vhosts/own", {})
    api(b, "PUT", "/api/users/mgr", {"password": "mgr", "tags": "management"})
    api(b, "PUT", "/api/permissions/own/mgr", {"configure": ".*", "write": ".*", "read": ".*"})
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=b.port, heartbeat=0, virtual_host="own",
        credentials=pika.PlainCredentials("mgr", "mgr")))
    ch = conn.channel()
    ch.queue_declare("big")
    for _ in range(messages):
        ch.basic_publish("", "big", b"\x01" * 175000)
    conn.close()
    return b


def get_request(b):
    token = base64.b64encode(b"mgr:mgr").decode()
    return ("POST /api/queues/own/big/get HTTP/1.1\r\nHost: x\r\n"
            "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (token, len(GET_BODY))).encode() + GET_BODY


def non_reader(b):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", b.ports["http"]))
    return s


def taken_once_settled(b, total):
    """Messages the /gets took once the count stops moving for a second
    (asked over AMQP: the management API may be waiting for room too)."""
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        host="127.0.0.1", port=b.port, heartbeat=0, virtual_host="own",
        credentials=pika.PlainCredentials("mgr", "mgr")))
    ch = conn.channel()
    last, since = None, time.time()
    while time.time() - since < 1.0:
        left = ch.queue_declare("big", passive=True).method.message_count
        if left != last:
            last, since = left, time.time()
        time.sleep(0.1)
    conn.close()
    return total - last


def read_answers(socks, each=1):
    """Read each socket's answers (each of them) at once: a waiting
    connection goes on when the others' output drains. The number of
    whole answers of GET_COUNT messages."""
    oks = []

    def one(s):
        s.settimeout(60)
        f = s.makefile("rb")
        for _ in range(each):
            status = int(f.readline().split()[1])
            length, line = 0, None
            while line != b"\r\n":
                line = f.readline()
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msgs = json.loads(f.read(length))
            oks.append(status == 200 and len(msgs) == GET_COUNT)
    threads = [threading.Thread(target=one, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return sum(oks)


def test_pipelined_requests_wait_for_the_client_to_read(make_broker):
    # One connection pipelines 10 gets and reads nothing. All 10 were
    # answered into memory (160 messages taken, 170 MB held for a client
    # that reads none of it; 200 pipelined lists of 5,000 queues were
    # 1.27 GB); the next request now waits until the previous answer has
    # mostly gone out.
    pipelined = 10
    b = unread_answers_broker(make_broker, pipelined * GET_COUNT)
    s = non_reader(b)
    s.sendall(get_request(b) * pipelined)
    taken = taken_once_settled(b, pipelined * GET_COUNT)
    assert taken <= 3 * GET_COUNT, taken
    assert read_answers([s], pipelined) == pipelined
    assert taken_once_settled(b, pipelined * GET_COUNT) == pipelined * GET_COUNT


def test_many_clients_that_do_not_read_wait_for_room(make_broker):
    # 20 connections each ask for a 16 MB answer and read nothing: all 20
    # answers were built and kept (340 MB; 256 connections of a list of
    # 100,000 queues would be 32 GB). Past 64 MB of one user's unsent
    # answers, that user's next request waits for some of its output to
    # drain; once the clients read, every one is answered.
    clients = 20
    b = unread_answers_broker(make_broker, clients * GET_COUNT)
    socks = [non_reader(b) for _ in range(clients)]
    for s in socks:
        s.sendall(get_request(b))
    taken = taken_once_settled(b, clients * GET_COUNT)
    assert taken <= 12 * GET_COUNT, taken
    # what one user leaves unread does not hold up another user
    assert api(b, "GET", "/api/queues/own/big")[0] == 200
    assert read_answers(socks) == clients
    assert taken_once_settled(b, clients * GET_COUNT) == clients * GET_COUNT


def test_get_answer_stops_at_its_payload_bound(broker):
    # Every octet of these 1 MB bodies prints as "\u0001": 6 MB of JSON a
    # message. count=20 built all 20 (120 MB; count messages of 16 MB were
    # count * 96 MB, 7 s of the event loop for ten of 8 MB); now no message
    # is taken once the answer's payloads print as 32 MB, and the rest stay
    # queued in order.
    api(broker, "PUT", "/api/queues/%2F/bigget", {})
    conn = amqp(broker)
    ch = conn.channel()
    for i in range(20):
        ch.basic_publish("", "bigget", bytes([i + 1]) * (1 << 20))
    conn.close()
    st, msgs, _ = api(broker, "POST", "/api/queues/%2F/bigget/get",
                      {"count": 20, "ackmode": "ack_requeue_false", "encoding": "auto"})
    assert st == 200 and 1 <= len(msgs) <= 6, (st, len(msgs))
    assert [m["payload"][0] for m in msgs] == [chr(i + 1) for i in range(len(msgs))]
    assert msgs[-1]["message_count"] == 20 - len(msgs)
    st, rest, _ = api(broker, "POST", "/api/queues/%2F/bigget/get",
                      {"count": 20, "ackmode": "ack_requeue_false", "encoding": "base64",
                       "truncate": 10})
    assert st == 200 and len(rest) == 20 - len(msgs), len(rest)
    # small messages: count is what bounds the answer
    api(broker, "PUT", "/api/queues/%2F/smallget", {})
    conn = amqp(broker)
    ch = conn.channel()
    for i in range(300):
        ch.basic_publish("", "smallget", b"m%d" % i)
    conn.close()
    st, msgs, _ = api(broker, "POST", "/api/queues/%2F/smallget/get",
                      {"count": 300, "ackmode": "ack_requeue_true", "encoding": "auto"})
    assert st == 200 and [m["payload"] for m in msgs] == ["m%d" % i for i in range(300)]


def mgr_put_head(b, name, length):
    """A PUT /api/queues/own/NAME head as mgr, its body to come."""
    token = base64.b64encode(b"mgr:mgr").decode()
    s = socket.create_connection(("127.0.0.1", b.ports["http"]), timeout=10)
    s.sendall(("PUT /api/queues/own/%s HTTP/1.1\r\nHost: x\r\n"
               "Authorization: Basic %s\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (name, token, length)).encode())
    return s


def status(s):
    return int(s.makefile("rb").readline().split()[1])


def mgr_put_refused(b, name, body):
    """Is a PUT of body as mgr refused with 429 (before its body is read)?"""
    s = mgr_put_head(b, name, len(body))
    try:
        s.sendall(body)
    except OSError:
        pass                            # refused before its body: fine
    try:
        return status(s) == 429
    finally:
        s.close()


def test_one_users_bodies_in_flight_are_bounded(make_broker):
    # Every connection may be sent a body of up to http.max_body_size, and
    # the body is buffered until it is whole: one management user's 64
    # connections each sent all but the last byte of 16 MB held 1 GB (256
    # of them 4 GB) until the body deadline, minutes later. Now the
    # bodies one user's connections are reading may announce at most
    # twice max_body_size in all; past that, 429 before the body is read.
    size = 1 << 20
    b = make_broker("--set", "http.max_body_size=1M")
    api(b, "PUT", "/api/vhosts/own", {})
    api(b, "PUT", "/api/users/mgr", {"password": "mgr", "tags": "management"})
    api(b, "PUT", "/api/permissions/own/mgr", {"configure": ".*", "write": ".*", "read": ".*"})
    body = b"{" + b" " * (size - 2) + b"}"
    slow = [mgr_put_head(b, "slow%d" % i, size) for i in range(2)]
    for s in slow:
        s.sendall(body[:-1])
    time.sleep(0.5)
    assert mgr_put_refused(b, "third", b"{}")
    # another user is not held up by them
    assert api(b, "PUT", "/api/queues/own/other", {})[0] in (201, 204)
    for s in slow:
        s.sendall(body[-1:])
        assert status(s) in (201, 204)
        s.close()
    st, _, _ = api(b, "PUT", "/api/queues/own/after", {}, auth=("mgr", "mgr"))
    assert st in (201, 204)
