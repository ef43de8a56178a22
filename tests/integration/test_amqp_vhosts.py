"""Multiple vhosts, users and permissions over AMQP.

The broker starts from a definitions file (vhosts, users with RabbitMQ
password hashes, permissions) in its data directory, as RabbitMQ would
import it. Texts and codes are RabbitMQ's (checked against 3.10).
"""
import base64
import hashlib
import json
import os

import pika
import pika.exceptions as pe
import pytest

from amqpraw import pika_params


def rabbit_hash(password, salt=b"\x01\x02\x03\x04"):
    """rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


DEFS = {
    "vhosts": [{"name": "/"}, {"name": "v1"}, {"name": "v2"}],
    "users": [
        {"name": "alice", "password_hash": rabbit_hash("apw"),
         "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "management"},
        {"name": "bob", "password_hash": rabbit_hash("bpw"),
         "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []},
        {"name": "carol", "password_hash":
            # a hash computed by RabbitMQ 3.10 (rabbitmqctl) for "pw"
            "CodEd+OM7G5n2EQi65IfO2kcC6PIUb7byDe+joYeT96MlKSF",
         "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""},
    ],
    "permissions": [
        {"user": "alice", "vhost": "v1", "configure": ".*", "write": ".*", "read": ".*"},
        {"user": "bob", "vhost": "v1", "configure": "^c", "write": "^w", "read": "^r"},
        {"user": "carol", "vhost": "v2", "configure": ".*", "write": ".*", "read": ".*"},
    ],
}


@pytest.fixture
def vbroker(make_broker, tmp_path):
    if os.environ.get("EXTERNAL_AMQP"):
        pytest.skip("needs its own definitions file")
    (tmp_path / "definitions.json").write_text(json.dumps(DEFS))
    return make_broker("--set", "broker.data_dir=%s" % tmp_path)


def connect(b, user, pw, vhost):
    return pika.BlockingConnection(pika_params(
        b, credentials=pika.PlainCredentials(user, pw), virtual_host=vhost))


def close_text(exc):
    for cur in [exc] + list(getattr(exc, "args", ())):
        if isinstance(cur, (pe.ConnectionClosedByBroker, pe.ChannelClosedByBroker)):
            return cur.reply_code, cur.reply_text
        if isinstance(cur, Exception):
            r = close_text(cur)
            if r:
                return r
        if isinstance(cur, str) and "NOT_ALLOWED" in cur:
            return 530, cur
    return None


def test_vhost_access_granted(vbroker):
    c = connect(vbroker, "alice", "apw", "v1")
    ch = c.channel()
    q = ch.queue_declare("a-q").method.queue
    ch.basic_publish("", q, b"hi")
    m, _, body = ch.basic_get(q, auto_ack=True)
    assert body == b"hi"
    c.close()


def test_vhosts_are_separate(vbroker):
    a = connect(vbroker, "alice", "apw", "v1")
    a.channel().queue_declare("only-in-v1")
    c = connect(vbroker, "carol", "pw", "v2")     # RabbitMQ-made hash
    ch = c.channel()
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        ch.queue_declare("only-in-v1", passive=True)
    assert ei.value.reply_code == 404
    assert "in vhost 'v2'" in ei.value.reply_text
    a.close()
    c.close()


def test_vhost_access_refused(vbroker):
    with pytest.raises(Exception) as ei:
        connect(vbroker, "alice", "apw", "v2")
    assert "NOT_ALLOWED - access to vhost 'v2' refused for user 'alice'" in str(ei.value)


def test_unknown_vhost(vbroker):
    with pytest.raises(Exception) as ei:
        connect(vbroker, "alice", "apw", "nosuch")
    assert "NOT_ALLOWED - vhost nosuch not found" in str(ei.value)


def test_wrong_password(vbroker):
    with pytest.raises(pe.ProbableAuthenticationError):
        connect(vbroker, "alice", "nope", "v1")


def test_guest_keeps_default_vhost(vbroker):
    c = connect(vbroker, "guest", "guest", "/")
    c.channel().queue_declare("", exclusive=True)
    c.close()


@pytest.mark.parametrize("op,text", [
    ("qdecl", "configure access to queue 'zz' in vhost 'v1' refused for user 'bob'"),
    ("xdecl", "configure access to exchange 'zz' in vhost 'v1' refused for user 'bob'"),
    ("pub", "write access to exchange 'zz' in vhost 'v1' refused for user 'bob'"),
    ("pubdef", "write access to exchange 'amq.default' in vhost 'v1' refused for user 'bob'"),
    ("consume", "read access to queue 'cq' in vhost 'v1' refused for user 'bob'"),
])
def test_permissions_refused(vbroker, op, text):
    c = connect(vbroker, "bob", "bpw", "v1")
    ch = c.channel()
    ch.queue_declare("cq")              # configure ^c
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        if op == "qdecl":
            ch.queue_declare("zz")
        elif op == "xdecl":
            ch.exchange_declare("zz", "direct")
        elif op in ("pub", "pubdef"):
            ch.confirm_delivery()
            ch.basic_publish("zz" if op == "pub" else "", "k", b"x")
        elif op == "consume":
            ch.basic_consume("cq", lambda *a: None)
    assert ei.value.reply_code == 403
    assert ei.value.reply_text == "ACCESS_REFUSED - " + text
    c.close()


def test_permissions_granted(vbroker):
    c = connect(vbroker, "bob", "bpw", "v1")
    ch = c.channel()
    ch.exchange_declare("cx", "fanout")
    ch.queue_declare("c-r")
    ch.confirm_delivery()
    with pytest.raises(pe.ChannelClosedByBroker):
        ch.basic_publish("cx", "", b"x")     # write needs ^w
    c.close()


def setup_objects(b):
    """As alice (full rights): objects named for bob's ^c / ^w / ^r rights."""
    c = connect(b, "alice", "apw", "v1")
    ch = c.channel()
    for x in ("rx", "cx", "wx"):
        ch.exchange_declare(x, "direct")
    for q in ("rq", "cq", "wq"):
        ch.queue_declare(q)
    ch.confirm_delivery()
    ch.basic_publish("", "rq", b"m")
    ch.basic_publish("", "rq", b"m2")
    c.close()


@pytest.mark.parametrize("op,text", [
    # bindings: write on the destination first, then read on the source
    ("qbind-dest", "write access to queue 'cq' in vhost 'v1' refused for user 'bob'"),
    ("qbind-src", "read access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("qunbind-dest", "write access to queue 'cq' in vhost 'v1' refused for user 'bob'"),
    ("qunbind-src", "read access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("xbind-dest", "write access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("xbind-src", "read access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("xunbind-dest", "write access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("xunbind-src", "read access to exchange 'cx' in vhost 'v1' refused for user 'bob'"),
    ("get", "read access to queue 'wq' in vhost 'v1' refused for user 'bob'"),
    ("purge", "read access to queue 'wq' in vhost 'v1' refused for user 'bob'"),
    ("qdelete", "configure access to queue 'wq' in vhost 'v1' refused for user 'bob'"),
    ("xdelete", "configure access to exchange 'wx' in vhost 'v1' refused for user 'bob'"),
    # RabbitMQ refuses the default and system exchanges before reading rights
    ("qbind-default", "operation not permitted on the default exchange"),
    ("xdelete-system", "deletion of system exchange 'amq.direct' in vhost 'v1' not allowed"),
])
def test_permissions_refused_more(vbroker, op, text):
    setup_objects(vbroker)
    c = connect(vbroker, "bob", "bpw", "v1")
    ch = c.channel()
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        if op == "qbind-dest":
            ch.queue_bind("cq", "rx", "k")
        elif op == "qbind-src":
            ch.queue_bind("wq", "cx", "k")
        elif op == "qunbind-dest":
            ch.queue_unbind("cq", "rx", "k")
        elif op == "qunbind-src":
            ch.queue_unbind("wq", "cx", "k")
        elif op == "xbind-dest":
            ch.exchange_bind("cx", "rx", "k")
        elif op == "xbind-src":
            ch.exchange_bind("wx", "cx", "k")
        elif op == "xunbind-dest":
            ch.exchange_unbind("cx", "rx", "k")
        elif op == "xunbind-src":
            ch.exchange_unbind("wx", "cx", "k")
        elif op == "get":
            ch.basic_get("wq")
        elif op == "purge":
            ch.queue_purge("wq")
        elif op == "qdelete":
            ch.queue_delete("wq")
        elif op == "xdelete":
            ch.exchange_delete("wx")
        elif op == "qbind-default":
            ch.queue_bind("wq", "", "k")
        elif op == "xdelete-system":
            ch.exchange_delete("amq.direct")
    assert ei.value.reply_code == 403
    assert ei.value.reply_text == "ACCESS_REFUSED - " + text
    c.close()


def test_permissions_granted_more(vbroker):
    setup_objects(vbroker)
    c = connect(vbroker, "bob", "bpw", "v1")
    ch = c.channel()
    ch.queue_bind("wq", "rx", "k")           # write ^w on wq, read ^r on rx
    ch.queue_unbind("wq", "rx", "k")
    ch.exchange_bind("wx", "rx", "k")
    ch.exchange_unbind("wx", "rx", "k")
    m, _, body = ch.basic_get("rq", auto_ack=True)
    assert body == b"m"
    assert ch.queue_purge("rq").method.message_count == 1
    assert ch.queue_delete("cq").method.message_count == 0
    ch.exchange_delete("cx")
    c.close()
    a = connect(vbroker, "alice", "apw", "v1")
    ach = a.channel()
    with pytest.raises(pe.ChannelClosedByBroker) as ei:
        ach.queue_declare("cq", passive=True)
    assert ei.value.reply_code == 404
    a.close()
