"""Durable topology survives a restart (kill -9 or clean stop); transient
topology does not. The definitions file is RabbitMQ's definitions JSON."""
import json
import os

import pika
import pytest

from recovery_helpers import Node, drain


def connect(node):
    return pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", node.port, socket_timeout=10, stack_timeout=20))


def build_topology(ch):
    ch.exchange_declare("dx", "topic", durable=True,
                        arguments={"alternate-exchange": "dae"})
    ch.exchange_declare("dae", "fanout", durable=True)
    ch.exchange_declare("dhx", "headers", durable=True)
    ch.exchange_declare("de2e", "direct", durable=True)
    ch.exchange_declare("tx", "fanout", durable=False)
    ch.queue_declare("dq", durable=True, arguments={
        "x-max-length": 1000, "x-message-ttl": 600000,
        "x-dead-letter-exchange": "dae", "x-overflow": "reject-publish",
        "x-max-length-bytes": 10 * 1024 * 1024 * 1024})
    ch.queue_declare("dq_ae", durable=True)
    ch.queue_declare("dq_h", durable=True)
    ch.queue_declare("tq", durable=False)
    ch.queue_bind("dq", "dx", "a.*.c")
    ch.queue_bind("dq_ae", "dae", "")
    ch.queue_bind("dq_h", "dhx", "", arguments={"x-match": "all", "k": 7, "s": "v"})
    ch.exchange_bind("dx", "de2e", "route")      # de2e --route--> dx
    ch.queue_bind("tq", "dx", "t.#")             # transient destination
    ch.queue_bind("dq", "tx", "")                # transient source


def check_topology(node):
    conn = connect(node)
    ch = conn.channel()
    for name, kind in (("dx", "topic"), ("dae", "fanout"), ("dhx", "headers"),
                       ("de2e", "direct")):
        ch.exchange_declare(name, kind, durable=True,
                            arguments={"alternate-exchange": "dae"} if name == "dx" else None)
    # same arguments: equivalent after the round trip through JSON
    ch.queue_declare("dq", durable=True, arguments={
        "x-max-length": 1000, "x-message-ttl": 600000,
        "x-dead-letter-exchange": "dae", "x-overflow": "reject-publish",
        "x-max-length-bytes": 10 * 1024 * 1024 * 1024})
    for q in ("dq_ae", "dq_h"):
        ch.queue_declare(q, durable=True, passive=True)
    for name, passive in (("tq", "queue"), ("tx", "exchange")):
        c2 = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
            if passive == "queue":
                c2.queue_declare(name, passive=True)
            else:
                c2.exchange_declare(name, passive=True)
        assert e.value.reply_code == 404
    props = pika.BasicProperties(headers={"k": 7, "s": "v"})
    ch.basic_publish("de2e", "route", b"via-e2e", pika.BasicProperties())
    ch.basic_publish("dx", "nomatch", b"via-ae")
    ch.basic_publish("dhx", "", b"via-headers", props)
    ch.basic_publish("dhx", "", b"no-match", pika.BasicProperties(headers={"k": 8}))
    conn.close()
    return drain(node.port, "dq"), drain(node.port, "dq_ae"), drain(node.port, "dq_h")


def check_file(node):
    """The definitions file holds the durable topology, RabbitMQ's format."""
    with open(os.path.join(node.data_dir, "definitions.json")) as f:
        doc = json.load(f)
    for key in ("rabbit_version", "vhosts", "users", "permissions", "queues",
                "exchanges", "bindings"):
        assert key in doc
    qs = {q["name"]: q for q in doc["queues"]}
    assert set(qs) == {"dq", "dq_ae", "dq_h"}
    assert qs["dq"]["arguments"]["x-max-length"] == 1000
    assert qs["dq"]["arguments"]["x-dead-letter-exchange"] == "dae"
    assert qs["dq"]["durable"] is True and qs["dq"]["vhost"] == "/"
    xs = {x["name"]: x for x in doc["exchanges"]}
    assert set(xs) == {"dx", "dae", "dhx", "de2e"}
    assert xs["dx"]["type"] == "topic"
    assert xs["dx"]["arguments"] == {"alternate-exchange": "dae"}
    bs = {(b["source"], b["destination"], b["destination_type"], b["routing_key"])
          for b in doc["bindings"]}
    assert bs == {("dx", "dq", "queue", "a.*.c"), ("dae", "dq_ae", "queue", ""),
                  ("dhx", "dq_h", "queue", ""), ("de2e", "dx", "exchange", "route")}
    hb = [b for b in doc["bindings"] if b["source"] == "dhx"][0]
    assert hb["arguments"] == {"x-match": "all", "k": 7, "s": "v"}


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_durable_topology_survives(tmp_path, how):
    """After kill -9 durable queues and bindings may still be journal
    records; after a clean stop (and after a restart absorbed them) the
    file holds all of it."""
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = connect(node)
        build_topology(conn.channel())
        conn.close()
        node.kill() if how == "kill" else node.stop()
        if how == "stop":
            check_file(node)
        node.start()
        dq, dq_ae, dq_h = check_topology(node)
        assert [b for b, _ in dq] == []          # "route" reaches dx, but no a.*.c
        assert sorted(b for b, _ in dq_ae) == [b"via-ae", b"via-e2e"]
        assert [b for b, _ in dq_h] == [b"via-headers"]
        node.stop()
        check_file(node)
    finally:
        node.kill()


def test_deleted_topology_stays_deleted(tmp_path):
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = connect(node)
        ch = conn.channel()
        ch.exchange_declare("gone_x", "direct", durable=True)
        ch.queue_declare("gone_q", durable=True)
        ch.queue_declare("kept_q", durable=True)
        ch.queue_bind("kept_q", "amq.direct", "k")
        ch.confirm_delivery()
        ch.basic_publish("", "gone_q", b"x", pika.BasicProperties(delivery_mode=2))
        ch.exchange_delete("gone_x")
        ch.queue_delete("gone_q")
        ch.queue_unbind("kept_q", "amq.direct", "k")
        conn.close()
        node.kill()
        node.start()
        conn = connect(node)
        for name in ("gone_q",):
            c = conn.channel()
            with pytest.raises(pika.exceptions.ChannelClosedByBroker):
                c.queue_declare(name, passive=True)
        c = conn.channel()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            c.exchange_declare("gone_x", passive=True)
        c = conn.channel()
        c.queue_declare("kept_q", durable=True, passive=True)
        c.basic_publish("amq.direct", "k", b"unbound")
        c.queue_declare("gone_q", durable=True)   # a new, empty queue
        assert c.queue_declare("gone_q", passive=True).method.message_count == 0
        assert c.queue_declare("kept_q", passive=True).method.message_count == 0
        conn.close()
    finally:
        node.kill()


def test_declare_ok_means_on_disk(tmp_path):
    """kill -9 right after the -ok replies: a durable declare, bind or
    delete that was answered is in the definitions file."""
    node = Node(str(tmp_path / "data")).start()
    try:
        conn = connect(node)
        ch = conn.channel()
        ch.exchange_declare("okx", "direct", durable=True)
        ch.queue_declare("okq", durable=True)
        ch.queue_bind("okq", "okx", "k")
        ch.queue_declare("gone", durable=True)
        ch.queue_delete("gone")
        node.kill()                      # no loop iteration after the replies
        node.start()
        conn = connect(node)
        ch = conn.channel()
        ch.exchange_declare("okx", "direct", durable=True, passive=True)
        ch.queue_declare("okq", durable=True, passive=True)
        ch.basic_publish("okx", "k", b"routed")
        method, _, body = ch.basic_get("okq", auto_ack=True)
        assert body == b"routed", "the binding was lost"
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
            ch.queue_declare("gone", passive=True)
        assert e.value.reply_code == 404
        conn.close()
    finally:
        node.kill()
