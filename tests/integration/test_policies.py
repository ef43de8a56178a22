"""Policies and operator policies: the HTTP API (RabbitMQ's URLs, bodies,
status codes and error texts), their effect on existing and new queues and
exchanges through pika, precedence against queue arguments, durability,
definitions, [policy] sections in sluice.conf and rabbitmqadmin."""
import json
import subprocess

import pika
import pytest

from amqp_helpers import connect, drain, ready_count, uname, wait_for, wait_get
from http_helpers import api, q
from test_rabbitmqadmin import ADMIN, admin, rows


def put_policy(b, name, pattern, definition, vhost="/", kind="policies", **extra):
    body = {"pattern": pattern, "definition": definition}
    body.update({k.replace("_", "-"): v for k, v in extra.items()})
    return api(b, "PUT", "/api/%s/%s/%s" % (kind, q(vhost), q(name)), body)


def queue_info(b, name, vhost="/"):
    s, body, _ = api(b, "GET", "/api/queues/%s/%s" % (q(vhost), q(name)))
    assert s == 200, body
    return body


def publish(ch, queue, n, prefix="m"):
    for i in range(n):
        ch.basic_publish("", queue, ("%s%d" % (prefix, i)).encode())


# ---------------------------------------------------------------- API


def test_put_get_list_delete(broker):
    s, _, _ = put_policy(broker, "p1", "^a", {"max-length": 5, "queue-mode": "lazy"},
                         priority=3, apply_to="queues")
    assert s == 201
    s, _, _ = put_policy(broker, "p1", "^b", {"max-length": 6})
    assert s == 204                                     # replaced
    s, one, _ = api(broker, "GET", "/api/policies/%2F/p1")
    assert s == 200
    assert one == {"vhost": "/", "name": "p1", "pattern": "^b", "apply-to": "all",
                   "definition": {"max-length": 6}, "priority": 0}
    api(broker, "PUT", "/api/vhosts/v2")
    assert put_policy(broker, "p0", ".*", {"expires": 1000}, vhost="v2")[0] == 201
    s, lst, _ = api(broker, "GET", "/api/policies")
    assert [(p["vhost"], p["name"]) for p in lst] == [("/", "p1"), ("v2", "p0")]
    s, lst, _ = api(broker, "GET", "/api/policies/v2")
    assert [p["name"] for p in lst] == ["p0"]
    assert api(broker, "GET", "/api/policies/nope")[0] == 404
    assert api(broker, "DELETE", "/api/policies/%2F/p1")[0] == 204
    s, body, _ = api(broker, "DELETE", "/api/policies/%2F/p1")
    assert s == 404 and body == {"error": "Object Not Found", "reason": "Not Found"}
    assert api(broker, "GET", "/api/policies/%2F/p1")[0] == 404
    s, body, _ = put_policy(broker, "p", "x", {"max-length": 1}, vhost="nope")
    assert s == 404 and body == {"error": "not_found", "reason": "vhost_not_found"}


ERRORS = [
    ({"pattern": "x", "definition": {"message-ttl": "abc"}},
     'Validation failed\n\n&lt;&lt;"abc"&gt;&gt; is not a valid message TTL\n'),
    ({"pattern": "x", "definition": {"max-length": -1}},
     "Validation failed\n\n-1 is not a valid maximum length\n"),
    ({"pattern": "x", "definition": {"expires": 0}},
     "Validation failed\n\n0 is not a valid queue expiry\n"),
    ({"pattern": "x", "definition": {"overflow": "drop-tail"}},
     'Validation failed\n\n&lt;&lt;"drop-tail"&gt;&gt; is not a valid overflow value\n'),
    ({"pattern": "x", "definition": {"queue-mode": "eager"}},
     'Validation failed\n\n&lt;&lt;"eager"&gt;&gt; is not a valid queue-mode value\n'),
    ({"pattern": "x", "definition": {"dead-letter-exchange": 5}},
     "Validation failed\n\n5 is not a valid dead letter exchange name\n"),
    ({"pattern": "x", "definition": {"max-length": 1, "foo": "bar"}},
     'Validation failed\n\n[{&lt;&lt;"foo"&gt;&gt;,&lt;&lt;"bar"&gt;&gt;}] are not '
     "recognised policy settings\n"),
    ({"pattern": "x", "definition": {}}, "Validation failed\n\nno policy provided\n"),
    ({"pattern": "x", "definition": {"max-length": 1}, "apply-to": "topics"},
     "Validation failed\n\napply-to 'topics' unrecognised; should be one of: 'queues', "
     "'classic_queues',  'quorum_queues', 'streams', 'exchanges', or 'all'\n"),
    ({"pattern": "x", "definition": {"max-length": 1}, "priority": "high"},
     'Validation failed\n\npriority should be a number, actually was '
     '&lt;&lt;"high"&gt;&gt;\n'),
    ({"pattern": 7, "definition": {"max-length": 1}},
     "Validation failed\n\npattern should be a binary but was 7\n"),
    ({"definition": {"max-length": 1}}, "[{key_missing,pattern}]"),
    ({"pattern": "x"}, "[{key_missing,definition}]"),
]


@pytest.mark.parametrize("body,reason", ERRORS)
def test_validation_errors(broker, body, reason):
    s, got, _ = api(broker, "PUT", "/api/policies/%2F/bad", body)
    assert s == 400, got
    assert got == {"error": "bad_request", "reason": reason}
    assert api(broker, "GET", "/api/policies/%2F/bad")[0] == 404


def test_operator_policy_keys(broker):
    s, got, _ = put_policy(broker, "op", ".*", {"max-length": 5, "dead-letter-exchange": "x"},
                           kind="operator-policies")
    assert s == 400
    assert got["reason"] == ('Validation failed\n\n[{&lt;&lt;"dead-letter-exchange"&gt;&gt;,'
                             '&lt;&lt;"x"&gt;&gt;}] are not recognised policy settings\n')
    assert put_policy(broker, "op", ".*", {"max-length": 5, "message-ttl": 10,
                                           "expires": 9000, "delivery-limit": 3,
                                           "max-length-bytes": 100},
                      kind="operator-policies")[0] == 201
    s, lst, _ = api(broker, "GET", "/api/operator-policies")
    assert [p["name"] for p in lst] == ["op"]
    assert api(broker, "GET", "/api/policies")[1] == []


def test_who_may(broker):
    for user, tags in (("pm", "policymaker"), ("mon", "monitoring")):
        api(broker, "PUT", "/api/users/" + user, {"password": "pw", "tags": tags})
    pm, mon = ("pm", "pw"), ("mon", "pw")
    body = {"pattern": ".*", "definition": {"max-length": 1}}
    # a policymaker works in the vhosts it has permissions on, as RabbitMQ's
    assert api(broker, "PUT", "/api/policies/%2F/a", body, auth=pm)[0] == 403
    api(broker, "PUT", "/api/permissions/%2F/pm",
        {"configure": ".*", "write": ".*", "read": ".*"})
    assert api(broker, "PUT", "/api/policies/%2F/a", body, auth=pm)[0] == 201
    assert api(broker, "GET", "/api/policies", auth=pm)[0] == 200
    # refusals of a logged-in user are 403 (RabbitMQ: 401)
    s, got, _ = api(broker, "GET", "/api/policies", auth=mon)
    assert s == 403 and got["reason"] == "User not authorised to access object"
    assert api(broker, "PUT", "/api/policies/%2F/b", body, auth=mon)[0] == 403
    # operator policies are the administrator's
    assert api(broker, "PUT", "/api/operator-policies/%2F/o", body, auth=pm)[0] == 403
    assert api(broker, "GET", "/api/operator-policies", auth=pm)[0] == 403


# ---------------------------------------------------------------- effect


def test_applies_to_existing_and_new_queues(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("dlx", "fanout")
    ch.queue_declare("dlq")
    ch.queue_bind("dlq", "dlx")
    ch.queue_declare("pol.old")
    publish(ch, "pol.old", 10)
    assert ready_count(ch, "pol.old") == 10
    assert put_policy(broker, "cap", r"^pol\.", {"max-length": 3,
                                                "dead-letter-exchange": "dlx"})[0] == 201
    # at once: the oldest 7 leave, dead-lettered
    assert ready_count(ch, "pol.old") == 3
    assert wait_for(lambda: ready_count(ch, "dlq") == 7)
    assert drain(ch, "pol.old") == [b"m7", b"m8", b"m9"]
    info = queue_info(broker, "pol.old")
    assert info["policy"] == "cap" and info["operator_policy"] is None
    assert info["effective_policy_definition"] == {"dead-letter-exchange": "dlx",
                                                   "max-length": 3}
    assert info["arguments"] == {}
    ch.queue_declare("pol.new")                         # created after the policy
    publish(ch, "pol.new", 5)
    assert drain(ch, "pol.new") == [b"m2", b"m3", b"m4"]
    ch.queue_declare("other")
    publish(ch, "other", 5)
    assert ready_count(ch, "other") == 5
    assert queue_info(broker, "other")["policy"] is None
    # cleared: the limit goes
    assert api(broker, "DELETE", "/api/policies/%2F/cap")[0] == 204
    publish(ch, "pol.new", 5)
    assert ready_count(ch, "pol.new") == 5
    assert queue_info(broker, "pol.new")["effective_policy_definition"] == {}
    conn.close()


def test_arguments_and_operator_policies(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("argq", arguments={"x-max-length": 5, "x-overflow": "reject-publish"})
    # numeric limits: the lower wins; names and modes: the argument wins
    put_policy(broker, "p", "^argq$", {"max-length": 2, "overflow": "drop-head"})
    publish(ch, "argq", 4)
    assert ready_count(ch, "argq") == 2                 # reject-publish kept them out
    assert drain(ch, "argq") == [b"m0", b"m1"]
    put_policy(broker, "p", "^argq$", {"max-length": 50})
    publish(ch, "argq", 8)
    assert ready_count(ch, "argq") == 5                 # the argument's 5
    drain(ch, "argq")
    # an operator policy caps both
    put_policy(broker, "ops", ".*", {"max-length": 3}, kind="operator-policies")
    publish(ch, "argq", 8)
    assert ready_count(ch, "argq") == 3
    info = queue_info(broker, "argq")
    assert info["policy"] == "p" and info["operator_policy"] == "ops"
    assert info["effective_policy_definition"] == {"max-length": 3}
    put_policy(broker, "p", "^argq$", {"max-length": 1})
    assert queue_info(broker, "argq")["effective_policy_definition"] == {"max-length": 1}
    conn.close()


def test_priority_apply_to_and_quorum(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("cq")
    ch.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
    put_policy(broker, "low", ".*", {"max-length": 10}, priority=1)
    put_policy(broker, "high", "q$", {"max-length": 20}, priority=5)
    put_policy(broker, "xonly", ".*", {"alternate-exchange": "ae"}, priority=9,
               apply_to="exchanges")
    assert queue_info(broker, "cq")["policy"] == "high"
    put_policy(broker, "quorum", ".*", {"delivery-limit": 2}, priority=7,
               apply_to="quorum_queues")
    assert queue_info(broker, "cq")["policy"] == "high"
    assert queue_info(broker, "qq")["policy"] == "quorum"
    # a key quorum queues do not support keeps a policy off them
    put_policy(broker, "quorum", ".*", {"delivery-limit": 2, "queue-mode": "lazy"},
               priority=7, apply_to="queues")
    assert queue_info(broker, "qq")["policy"] == "high"
    assert queue_info(broker, "cq")["policy"] == "quorum"
    conn.close()


def test_streams(broker):
    """Streams take a policy only when each key applies to streams; its
    max-length-bytes, max-age and segment size win over the arguments
    (RabbitMQ's stream rule), an operator policy caps max-length-bytes, and
    retention acts as soon as the policy changes."""
    import time
    from test_streams import consume, publish as spublish, stream
    conn = connect(broker)
    ch = conn.channel()
    seg = {"stream-max-segment-size-bytes": 4000}
    put_policy(broker, "st", "^st-", seg, apply_to="streams")
    put_policy(broker, "classic", ".*", {"max-length": 5}, apply_to="classic_queues",
               priority=9)
    put_policy(broker, "ttl", ".*", {"message-ttl": 5}, apply_to="queues", priority=8)
    s = stream(ch, "st-size", **{"x-max-length-bytes": 10 ** 9})
    assert queue_info(broker, s)["policy"] == "st"
    ch.queue_declare("cq-beside")
    assert queue_info(broker, "cq-beside")["policy"] == "classic"
    for i in range(100):
        spublish(ch, s, [b"r%03d" % i + b"." * 400])

    def offsets():
        got = consume(conn, conn.channel(), s, 100, timeout=1, **{"x-stream-offset": "first"})
        return [g[0] for g in got]
    assert offsets() == list(range(100))
    # the policy's max-length-bytes wins over the argument, at once
    put_policy(broker, "st", "^st-", dict(seg, **{"max-length-bytes": 20000}),
               apply_to="streams")
    info = queue_info(broker, s)
    assert info["effective_policy_definition"] == dict(seg, **{"max-length-bytes": 20000})
    offs = offsets()
    assert offs[0] > 0 and offs == list(range(offs[0], 100))
    assert len(offs) >= (20000 - 4000) // 600, "the segment size came from the policy"
    # an operator policy caps it
    put_policy(broker, "cap", ".*", {"max-length-bytes": 8000}, kind="operator-policies")
    assert queue_info(broker, s)["operator_policy"] == "cap"
    offs2 = offsets()
    assert offs2[0] > offs[0] and offs2[-1] == 99
    # max-age from a policy: what is older goes when the policy arrives
    a = stream(ch, "st-age")
    for i in range(20):
        spublish(ch, a, [b"o%02d" % i + b"." * 400])
    time.sleep(1.5)                      # every message is now older than 1s
    put_policy(broker, "st", "^st-", dict(seg, **{"max-age": "1s"}), apply_to="streams")
    got = consume(conn, conn.channel(), a, 20, timeout=1, **{"x-stream-offset": "first"})
    assert not got or got[0][0] > 0
    s2, body, _ = put_policy(broker, "bad-age", "^st-", {"max-age": "0D"})
    assert s2 == 400 and "is not a valid max age" in body["reason"]
    conn.close()


def test_message_ttl_and_expires(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("ttlq")
    ch.basic_publish("", "ttlq", b"before")
    # queued before the policy: the publish and the HTTP request come on
    # two connections, which the broker may read in either order
    assert ready_count(ch, "ttlq") == 1
    put_policy(broker, "ttl", "^ttlq$", {"message-ttl": 100})
    ch.basic_publish("", "ttlq", b"after")
    # the new message expires; the one queued before keeps having no TTL
    assert wait_for(lambda: ready_count(ch, "ttlq") == 1, timeout=10)
    assert drain(ch, "ttlq") == [b"before"]
    ch.queue_declare("idle.q")
    put_policy(broker, "exp", r"^idle\.", {"expires": 200})
    assert wait_for(lambda: api(broker, "GET", "/api/queues/%2F/idle.q")[0] == 404,
                    timeout=10)
    conn.close()


def test_dead_letter_and_delivery_limit(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.queue_declare("dead")
    put_policy(broker, "dl", "^work$", {"dead-letter-exchange": "",
                                         "dead-letter-routing-key": "dead",
                                         "delivery-limit": 1})
    ch.queue_declare("work")
    ch.basic_publish("", "work", b"job")
    m, _, _ = wait_get(ch, "work", auto_ack=False)
    ch.basic_reject(m.delivery_tag, requeue=False)
    m, p, body = wait_get(ch, "dead")
    assert body == b"job" and p.headers["x-death"][0]["queue"] == "work"
    # delivery-limit 1: the second return dead-letters it
    ch.basic_publish("", "work", b"job2")
    for _ in range(2):
        m, _, _ = wait_get(ch, "work", auto_ack=False)
        assert m is not None
        ch.basic_nack(m.delivery_tag, requeue=True)
    assert wait_get(ch, "dead")[2] == b"job2"
    assert ready_count(ch, "work") == 0
    conn.close()


def test_alternate_exchange(broker):
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("main", "direct")
    ch.exchange_declare("ae", "fanout")
    ch.queue_declare("unrouted")
    ch.queue_bind("unrouted", "ae")
    put_policy(broker, "ae", "^main$", {"alternate-exchange": "ae"},
               apply_to="exchanges")
    ch.basic_publish("main", "nowhere", b"lost?")
    assert wait_get(ch, "unrouted")[2] == b"lost?"
    s, x, _ = api(broker, "GET", "/api/exchanges/%2F/main")
    assert x["policy"] == "ae"
    assert "policy" not in api(broker, "GET", "/api/exchanges/%2F/ae")[1]
    # the argument wins over the policy
    ch.exchange_declare("ae2", "fanout")
    ch.queue_declare("unrouted2")
    ch.queue_bind("unrouted2", "ae2")
    ch.exchange_declare("main2", "direct", arguments={"alternate-exchange": "ae2"})
    put_policy(broker, "ae", "^main", {"alternate-exchange": "ae"}, apply_to="exchanges")
    ch.basic_publish("main2", "nowhere", b"to ae2")
    assert wait_get(ch, "unrouted2")[2] == b"to ae2"
    api(broker, "DELETE", "/api/policies/%2F/ae")
    ch.basic_publish("main", "nowhere", b"dropped")
    assert wait_get(ch, "unrouted", timeout=0.3)[0] is None
    conn.close()


# ---------------------------------------------------------------- durability


def test_durable_and_definitions(make_broker, tmp_path):
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_broker("--set", data)
    put_policy(b, "cap", "^d", {"max-length": 2}, priority=4, apply_to="queues")
    put_policy(b, "ocap", ".*", {"max-length": 1}, kind="operator-policies")
    conn = connect(b)
    conn.channel().queue_declare("dq", durable=True)
    conn.close()
    s, doc, _ = api(b, "GET", "/api/definitions")
    assert doc["policies"] == [{"vhost": "/", "name": "cap", "pattern": "^d",
                                "apply-to": "queues", "definition": {"max-length": 2},
                                "priority": 4}]
    assert "operator_policies" not in doc               # as RabbitMQ's export
    assert b.stop() == 0
    b2 = make_broker("--set", data)
    info = queue_info(b2, "dq")
    assert (info["policy"], info["operator_policy"]) == ("cap", "ocap")
    conn = connect(b2)
    ch = conn.channel()
    publish(ch, "dq", 3)
    assert ready_count(ch, "dq") == 1
    conn.close()
    # import into a fresh broker: policies and the per-vhost form
    b3 = make_broker()
    doc["policies"].append({"vhost": "/", "name": "ttl", "pattern": "^t",
                            "definition": {"message-ttl": 5}})
    assert api(b3, "POST", "/api/definitions", doc)[0] == 204
    assert [p["name"] for p in api(b3, "GET", "/api/policies")[1]] == ["cap", "ttl"]
    s, vdoc, _ = api(b3, "GET", "/api/definitions/%2F")
    assert [p["name"] for p in vdoc["policies"]] == ["cap", "ttl"]
    assert "vhost" not in vdoc["policies"][0]
    bad = {"policies": [{"vhost": "/", "name": "b", "pattern": "x",
                         "definition": {"message-ttl": -5}}]}
    s, got, _ = api(b3, "POST", "/api/definitions", bad)
    assert s == 400 and "policies[0]: Validation failed" in got["reason"]


CONF = """
[vhost prod]
[permission guest prod]
configure = .*
write = .*
read = .*
[policy limits]
vhost = prod
pattern = ^orders\\.
apply_to = queues
priority = 2
definition.max-length = 2
definition.overflow = reject-publish
definition.queue-mode = lazy
[operator_policy caps]
vhost = prod
pattern = .*
definition = {"message-ttl": 600000}
"""


def test_config_sections(make_broker, tmp_path):
    b = make_broker(config_text=CONF)
    s, lst, _ = api(b, "GET", "/api/policies/prod")
    assert lst == [{"vhost": "prod", "name": "limits", "pattern": "^orders\\.",
                    "apply-to": "queues", "priority": 2,
                    "definition": {"max-length": 2, "overflow": "reject-publish",
                                   "queue-mode": "lazy"}}]
    s, lst, _ = api(b, "GET", "/api/operator-policies/prod")
    assert lst[0]["definition"] == {"message-ttl": 600000}
    assert "2 policies" not in b.log() and "1 policies, 1 operator policies" in b.log()
    conn = connect(b, virtual_host="prod")
    ch = conn.channel()
    ch.queue_declare("orders.eu")
    publish(ch, "orders.eu", 4)
    assert drain(ch, "orders.eu") == [b"m0", b"m1"]     # reject-publish
    conn.close()


@pytest.mark.parametrize("text,reason", [
    ("[policy p]\ndefinition.max-length = 1\n", "section [policy p] needs 'pattern'"),
    ("[policy p]\npattern = x\n", "section [policy p] needs 'definition'"),
    ("[policy p]\npattern = x\ndefinition.max-length = many\n",
     "invalid value 'many' for definition.max-length in [policy p]: expected an integer"),
    ("[policy p]\npattern = x\ndefinition.message-ttl = -4\n",
     "[policy p]: Validation failed: -4 is not a valid message TTL"),
    ("[operator_policy p]\npattern = x\ndefinition.overflow = drop-head\n",
     "[operator_policy p]: Validation failed: [{<<\"overflow\">>,<<\"drop-head\">>}] "
     "are not recognised policy settings"),
])
def test_config_errors(tmp_path, text, reason):
    from test_config_topology import run_config
    path, res = run_config(tmp_path, text)
    assert res.returncode == 2, res.stderr
    assert reason in res.stderr, res.stderr


# ---------------------------------------------------------------- rabbitmqadmin


@pytest.mark.skipif(ADMIN is None, reason="rabbitmqadmin not installed")
def test_rabbitmqadmin(broker):
    assert "policy declared" in admin(broker, "declare", "policy", "name=ra",
                                      "pattern=^ra", 'definition={"max-length": 7}',
                                      "priority=3", "apply-to=queues")
    assert "operator_policy declared" in admin(broker, "declare", "operator_policy",
                                               "name=ro", "pattern=.*",
                                               'definition={"max-length-bytes": 100}')
    ps = rows(broker, "list", "policies")
    assert ps == [{"vhost": "/", "name": "ra", "pattern": "^ra", "apply-to": "queues",
                   "definition": {"max-length": 7}, "priority": 3}]
    assert rows(broker, "list", "operator_policies")[0]["name"] == "ro"
    admin(broker, "declare", "queue", "name=raq")
    assert rows(broker, "list", "queues", "name", "policy") == [
        {"name": "raq", "policy": "ra"}]
    assert "policy deleted" in admin(broker, "delete", "policy", "name=ra")
    assert "operator_policy deleted" in admin(broker, "delete", "operator_policy", "name=ro")
    assert rows(broker, "list", "policies") == []
