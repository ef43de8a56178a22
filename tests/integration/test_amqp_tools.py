"""Debian's amqp-tools (rabbitmq-c command line programs) against the broker."""
import os
import shutil
import subprocess
import time

import pika
import pika.exceptions as pe
import pytest

from amqpraw import pika_params
from conftest import wait_for

pytestmark = pytest.mark.skipif(shutil.which("amqp-publish") is None,
                                reason="amqp-tools not installed")


def uniq(prefix):
    return "%s-%s" % (prefix, os.urandom(6).hex())


def url(broker):
    return ["--url", "amqp://guest:guest@%s:%d" % (broker.host, broker.port)]


def server(broker):
    return ["--server", broker.host, "--port", str(broker.port)]


def run(tool, *args, stdin=None, timeout=20):
    return subprocess.run([tool] + list(args), input=stdin, capture_output=True,
                          timeout=timeout)


def ok(tool, *args, **kw):
    r = run(tool, *args, **kw)
    assert r.returncode == 0, (tool, args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def pika_conn(broker):
    return pika.BlockingConnection(pika_params(broker))


def get_one(ch, q):
    for _ in range(100):
        method, props, body = ch.basic_get(q, auto_ack=True)
        if method:
            return method, props, body
        time.sleep(0.02)
    raise AssertionError("no message in %s" % q)


def test_declare_publish_get_delete(broker):
    q = uniq("tools")
    assert ok("amqp-declare-queue", *url(broker), "-q", q).decode().strip() == q
    for i in range(5):
        ok("amqp-publish", *url(broker), "-r", q, "-b", "message %d" % i)
    for i in range(5):
        assert ok("amqp-get", *url(broker), "-q", q) == b"message %d" % i
    # empty queue: amqp-get exits 2
    r = run("amqp-get", *url(broker), "-q", q)
    assert r.returncode == 2, r
    assert ok("amqp-delete-queue", *url(broker), "-q", q).decode().strip() == "0"
    # gone: basic.get on it is a 404 channel error
    r = run("amqp-get", *url(broker), "-q", q)
    assert r.returncode != 0
    assert b"404" in r.stderr and b"NOT_FOUND" in r.stderr, r.stderr


def test_server_and_port_options(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *server(broker), "-q", q)
    ok("amqp-publish", *server(broker), "--username", "guest", "--password", "guest",
       "--vhost", "/", "-r", q, "-b", "via --server")
    assert ok("amqp-get", *server(broker), "-q", q) == b"via --server"
    ok("amqp-delete-queue", *server(broker), "-q", q)


def test_server_named_queue(broker):
    name = ok("amqp-declare-queue", *url(broker), "-q", "").decode().strip()
    assert name.startswith("amq.gen-")


def test_durable_declare(broker):
    q = uniq("tools-durable")
    ok("amqp-declare-queue", *url(broker), "-q", q, "-d")
    conn = pika_conn(broker)
    try:
        ch = conn.channel()
        ch.queue_declare(q, durable=True)         # equivalent: accepted
        with pytest.raises(pe.ChannelClosedByBroker) as ei:
            ch.queue_declare(q, durable=False)
        assert ei.value.reply_code == 406
    finally:
        conn.close()
    ok("amqp-delete-queue", *url(broker), "-q", q)


def test_publish_properties_seen_by_pika(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    ok("amqp-publish", *url(broker), "-r", q, "-b", '{"a": 1}', "-C", "application/json",
       "-E", "utf-8", "-t", "reply-here", "-p", "-H", "x-trace: abc", "-H", "tenant: 7")
    conn = pika_conn(broker)
    try:
        ch = conn.channel()
        method, props, body = get_one(ch, q)
        assert body == b'{"a": 1}'
        assert props.content_type == "application/json"
        assert props.content_encoding == "utf-8"
        assert props.reply_to == "reply-here"
        assert props.delivery_mode == 2
        assert props.headers == {"x-trace": "abc", "tenant": "7"}
        assert method.routing_key == q and method.exchange == ""
    finally:
        ch.queue_delete(q)
        conn.close()


def test_publish_line_buffered_stdin(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    ok("amqp-publish", *url(broker), "-r", q, "-l", stdin=b"alpha\nbeta\ngamma\n")
    for word in (b"alpha\n", b"beta\n", b"gamma\n"):      # each line keeps its newline
        assert ok("amqp-get", *url(broker), "-q", q) == word
    assert run("amqp-get", *url(broker), "-q", q).returncode == 2
    ok("amqp-delete-queue", *url(broker), "-q", q)


def test_publish_body_from_stdin_binary(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    body = bytes(range(256)) * 600               # 150 KiB: several frames
    ok("amqp-publish", *url(broker), "-r", q, stdin=body)
    assert ok("amqp-get", *url(broker), "-q", q) == body
    ok("amqp-delete-queue", *url(broker), "-q", q)


def test_consume_bounded_count_with_command(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    for i in range(5):
        ok("amqp-publish", *url(broker), "-r", q, "-b", "m%d;" % i)
    out = ok("amqp-consume", *url(broker), "-q", q, "-c", "3", "--", "cat")
    assert out == b"m0;m1;m2;"
    out = ok("amqp-consume", *url(broker), "-q", q, "-c", "2", "-p", "1", "--",
             "sh", "-c", "cat; echo")
    assert out == b"m3;\nm4;\n"
    assert ok("amqp-delete-queue", *url(broker), "-q", q).decode().strip() == "0"


def test_consume_no_ack_leaves_nothing(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    for i in range(3):
        ok("amqp-publish", *url(broker), "-r", q, "-b", "n%d" % i)
    assert ok("amqp-consume", *url(broker), "-q", q, "-A", "-c", "3", "--", "cat") == b"n0n1n2"
    assert run("amqp-get", *url(broker), "-q", q).returncode == 2
    ok("amqp-delete-queue", *url(broker), "-q", q)


def test_consume_from_exchange_with_binding(broker):
    ex = uniq("tools-ex")
    conn = pika_conn(broker)
    ch = conn.channel()
    ch.exchange_declare(ex, exchange_type="topic", auto_delete=False)
    ch.confirm_delivery()
    proc = subprocess.Popen(["amqp-consume", *url(broker), "-e", ex, "-r", "logs.*", "-x",
                             "-c", "3", "--", "sh", "-c", "cat; echo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait until the consumer's queue is bound: a mandatory publish stops
        # being returned
        def routed():
            try:
                ch.basic_publish(ex, "logs.first", b"first", mandatory=True)
                return True
            except pe.UnroutableError:
                return False
        assert wait_for(routed, timeout=10, interval=0.1)
        ok("amqp-publish", *url(broker), "-e", ex, "-r", "other.key", "-b", "dropped")
        ok("amqp-publish", *url(broker), "-e", ex, "-r", "logs.second", "-b", "second")
        ok("amqp-publish", *url(broker), "-e", ex, "-r", "logs.third", "-b", "third")
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert out == b"first\nsecond\nthird\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        ch.exchange_delete(ex)
        conn.close()


def test_wrong_password_fails(broker):
    r = run("amqp-get", "--url", "amqp://guest:wrong@%s:%d" % (broker.host, broker.port),
            "-q", "whatever")
    assert r.returncode != 0
    r = run("amqp-get", *server(broker), "--vhost", uniq("novhost"), "-q", "whatever")
    assert r.returncode != 0


def test_delete_queue_if_empty(broker):
    q = uniq("tools")
    ok("amqp-declare-queue", *url(broker), "-q", q)
    ok("amqp-publish", *url(broker), "-r", q, "-b", "keep me")
    r = run("amqp-delete-queue", *url(broker), "-q", q, "--if-empty")
    assert r.returncode != 0
    assert b"406" in r.stderr and b"PRECONDITION_FAILED" in r.stderr, r.stderr
    assert ok("amqp-get", *url(broker), "-q", q) == b"keep me"
    ok("amqp-delete-queue", *url(broker), "-q", q, "--if-empty")
