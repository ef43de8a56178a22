"""Topology in sluice.conf and load_definitions: what the file declares is
there when clients connect, a restart with the same file changes nothing,
and a file that cannot be applied stops the start with exit status 2 and
"FILE:LINE: reason" (or the JSON path) on stderr.
"""
import base64
import hashlib
import json
import os
import subprocess

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ProbableAuthenticationError

from conftest import SLUICED
from http_helpers import api

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("EXTERNAL_AMQP")), reason="tests sluiced's configuration")


def rabbit_hash(password, salt=b"\x90\x8d\xc6\x0a", algo=hashlib.sha256):
    """RabbitMQ's password hash: base64(salt ++ H(salt ++ password))."""
    return base64.b64encode(salt + algo(salt + password.encode()).digest()).decode()


def connect(b, user, password, vhost="/"):
    params = pika.ConnectionParameters(
        host=b.host, port=b.port, virtual_host=vhost,
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5)
    return pika.BlockingConnection(params)


ADMIN = """
[user admin]
password = admin-pw
tags = administrator
"""

TOPOLOGY = ADMIN + """
[vhost /staging]

[user app]
password = app-pw

[user hashed]
password_hash = {hash}

[user hashed512]
password_hash = {hash512}
hashing_algorithm = rabbit_password_hashing_sha512

[permission hashed /staging]
configure = .*
write = .*
read = .*

[binding orders-from-events]
source = events
destination = orders
routing_key = order.#

[exchange events]
type = topic
alternate_exchange = unrouted

[exchange unrouted]
type = fanout

[binding unrouted]
source = unrouted
destination = lost

[queue lost]

[queue orders]
argument.x-message-ttl = 60000
argument.x-max-length = 1000
argument.x-overflow = reject-publish
argument.x-dead-letter-exchange = unrouted

[queue staged]
vhost = /staging

[binding headers]
source = amq.headers
destination = orders
argument.x-match = all
argument.format = pdf
argument.size = int:5
"""


def topology_text():
    return TOPOLOGY.format(hash=rabbit_hash("hashed-pw"),
                           hash512=rabbit_hash("pw512", algo=hashlib.sha512))


def get_body(ch, queue):
    method, _props, body = ch.basic_get(queue, auto_ack=True)
    return body if method else None


def check_topology(b):
    conn = connect(b, "app", "app-pw")
    try:
        ch = conn.channel()
        ch.exchange_declare("events", "topic", passive=True)
        ch.queue_declare("orders", passive=True)
        # The same arguments from a client are equivalent (typed as
        # RabbitMQ types them).
        ch.queue_declare("orders", durable=True, arguments={
            "x-message-ttl": 60000, "x-max-length": 1000,
            "x-overflow": "reject-publish", "x-dead-letter-exchange": "unrouted"})
        ch.basic_publish("events", "order.new", b"o1")
        assert get_body(ch, "orders") == b"o1"
        ch.basic_publish("events", "nothing.here", b"lost1")   # alternate exchange
        assert get_body(ch, "lost") == b"lost1"
        ch.basic_publish("amq.headers", "", b"h1",
                         pika.BasicProperties(headers={"format": "pdf", "size": 5}))
        assert get_body(ch, "orders") == b"h1"
        with pytest.raises(ChannelClosedByBroker) as e:
            ch.queue_declare("orders", durable=True, arguments={"x-max-length": 5})
        assert e.value.reply_code == 406
        assert "inequivalent arg" in e.value.reply_text
    finally:
        conn.close()


def test_declared_topology(make_broker):
    b = make_broker(config_text=topology_text())
    check_topology(b)
    assert "topology applied: 1 vhosts, 4 users, 1 permissions, 0 topic permissions, " \
           "2 exchanges, 0 policies, 0 operator policies, 3 queues, 3 bindings" in b.log()
    # password_hash users log in with their password; explicit permissions
    # replace the default full access to "/".
    conn = connect(b, "hashed", "hashed-pw", vhost="/staging")
    conn.channel().queue_declare("staged", passive=True)
    conn.close()
    with pytest.raises(Exception):
        connect(b, "hashed", "hashed-pw", vhost="/")
    with pytest.raises(ProbableAuthenticationError):
        connect(b, "hashed", "wrong")
    connect(b, "hashed512", "pw512").close()
    # guest is gone once users are configured
    with pytest.raises(ProbableAuthenticationError):
        connect(b, "guest", "guest")


def test_restart_is_idempotent(make_broker, tmp_path):
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_broker("--set", data, config_text=topology_text())
    conn = connect(b, "app", "app-pw")
    conn.channel().basic_publish("events", "order.kept", b"kept",
                                 pika.BasicProperties(delivery_mode=2))
    conn.close()
    assert b.stop() == 0
    b2 = make_broker("--set", data, config_text=topology_text())
    conn = connect(b2, "app", "app-pw")
    assert get_body(conn.channel(), "orders") == b"kept"
    conn.close()
    check_topology(b2)


def run_config(tmp_path, text, *extra):
    path = tmp_path / "sluice.conf"
    path.write_text(text)
    res = subprocess.run(
        [SLUICED, "-c", str(path), "--set", "amqp.port=0", "--set", "mqtt.port=0",
         "--set", "http.port=0", "--set", "prometheus.port=0",
         "--set", "broker.data_dir=" + str(tmp_path / "data"),
         *extra],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    return str(path), res


def test_inequivalent_after_restart(make_broker, tmp_path):
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_broker("--set", data, config_text=ADMIN + "[queue q]\nargument.x-max-length = 10\n")
    assert b.stop() == 0
    path, res = run_config(tmp_path, ADMIN + "[queue q]\nargument.x-max-length = 20\n")
    assert res.returncode == 2, res.stderr
    assert "%s:5: [queue q]: inequivalent arg 'x-max-length' for queue 'q' in " \
           "vhost '/'" % path in res.stderr


BAD = [
    ("[queue q]\nfoo = 1\n", 2, "unknown key 'foo' in section [queue q]"),
    ("[queue q]\ndurable = perhaps\n", 2,
     "invalid value 'perhaps' for durable in [queue q]: expected yes or no"),
    ("[exchange x]\ntype = x-random\n", 2, "unknown exchange type 'x-random'"),
    ("[queue q]\nargument.x-max-length = lots\n", 2,
     "invalid value 'lots' for argument x-max-length: expected an integer"),
    ("[queue q]\nexclusive = yes\n", 2, "[queue q]: exclusive queues cannot be declared"),
    ("[queue q]\n\n[queue q]\n", 3, "duplicate section [queue q]"),
    ("[binding b]\nsource = amq.topic\ndestination = missing\n", 1,
     "[binding b]: no queue 'missing' in vhost '/'"),
    ("[binding b]\nsource = amq.topic\n", 1, "section [binding b] needs 'destination'"),
    ("[queue q]\nvhost = /nope\n", 1, "[queue q]: no vhost '/nope'"),
    ("[permission nobody /]\nconfigure = .*\nwrite = .*\nread = .*\n", 1,
     "[permission nobody /]: no user 'nobody'"),
    ("[queue q]\nargument.x-max-length = -1\n", 1,
     "[queue q]: invalid arg 'x-max-length' for queue 'q' in vhost '/'"),
    ("[user u]\npassword_hash = not-base64!\n", 1, "[user u]: invalid password_hash"),
]


@pytest.mark.parametrize("text,line,reason", BAD)
def test_config_errors(tmp_path, text, line, reason):
    path, res = run_config(tmp_path, text)
    assert res.returncode == 2, res.stderr
    assert "sluiced: %s:%d: %s" % (path, line, reason) in res.stderr, res.stderr


DEFINITIONS = {
    "rabbit_version": "3.13.7",
    "users": [
        {"name": "ops", "password_hash": rabbit_hash("ops-pw"),
         "hashing_algorithm": "rabbit_password_hashing_sha256",
         "tags": ["administrator"], "limits": {}},
    ],
    "vhosts": [{"name": "/"}, {"name": "prod", "limits": [], "metadata": {}}],
    "permissions": [
        {"user": "ops", "vhost": "prod", "configure": ".*", "write": ".*", "read": ".*"},
    ],
    "topic_permissions": [],
    "parameters": [],
    "global_parameters": [],
    "policies": [{"vhost": "prod", "name": "ttl", "pattern": ".*",
                  "definition": {"message-ttl": 1000}}],
    "exchanges": [
        {"name": "billing", "vhost": "prod", "type": "direct", "durable": True,
         "auto_delete": False, "internal": False, "arguments": {}},
    ],
    "queues": [
        {"name": "invoices", "vhost": "prod", "durable": True, "auto_delete": False,
         "arguments": {"x-queue-type": "classic", "x-max-length": 100}},
    ],
    "bindings": [
        {"source": "billing", "vhost": "prod", "destination": "invoices",
         "destination_type": "queue", "routing_key": "invoice", "arguments": {}},
    ],
}


def test_load_definitions(make_broker, tmp_path):
    defs = tmp_path / "definitions.json"
    defs.write_text(json.dumps(DEFINITIONS))
    b = make_broker(config_text="[broker]\nload_definitions = %s\n" % defs)
    assert "ignored" not in b.log()
    conn = connect(b, "ops", "ops-pw", vhost="prod")
    ch = conn.channel()
    ch.queue_declare("invoices", passive=True)
    ch.basic_publish("billing", "invoice", b"i1")
    assert get_body(ch, "invoices") == b"i1"
    conn.close()
    # the document's policy applies to the queue it declares
    s, info, _ = api(b, "GET", "/api/queues/prod/invoices", auth=("ops", "ops-pw"))
    assert s == 200 and info["policy"] == "ttl"
    # the document's users replace the default guest
    with pytest.raises(ProbableAuthenticationError):
        connect(b, "guest", "guest")


def test_load_definitions_errors(tmp_path):
    defs = tmp_path / "defs.json"
    bad = json.loads(json.dumps(DEFINITIONS))
    bad["queues"].append({"name": "q2", "vhost": "prod",
                          "arguments": {"x-max-length": "many"}})
    defs.write_text(json.dumps(bad))
    _, res = run_config(tmp_path, "[broker]\nload_definitions = %s\n" % defs)
    assert res.returncode == 2
    assert "%s: queues[1].arguments.x-max-length: expected an integer" % defs \
        in res.stderr, res.stderr

    defs.write_text('{"queues": [\n  {"name": "q",, }]}')
    _, res = run_config(tmp_path, "[broker]\nload_definitions = %s\n" % defs)
    assert res.returncode == 2
    assert "%s:2:" % defs in res.stderr and "malformed JSON" in res.stderr, res.stderr

    bad = {"bindings": [{"source": "amq.direct", "vhost": "/", "destination": "none",
                         "destination_type": "queue", "routing_key": ""}]}
    defs.write_text(json.dumps(bad))
    _, res = run_config(tmp_path, "[broker]\nload_definitions = %s\n" % defs)
    assert res.returncode == 2
    assert "%s: bindings[0]: no queue 'none' in vhost '/'" % defs in res.stderr, res.stderr

    _, res = run_config(tmp_path, "[broker]\nload_definitions = %s\n" % (tmp_path / "no"))
    assert res.returncode == 2
    assert "cannot read definitions: No such file or directory" in res.stderr
