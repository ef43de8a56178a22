"""A channel remembers the exchange and queue its last publish went to:
what it remembers must never outlive a delete, a re-declare or a change
of vhost topology made on another channel."""
import pika
import pytest

from amqp_helpers import *  # noqa: F401,F403


def test_queue_deleted_and_redeclared_gets_the_next_publish(conn, ch):
    q = uname("memo-q")
    other = conn.channel()
    ch.queue_declare(q)
    ch.basic_publish("", q, b"one")
    assert ready_count(other, q) == 1
    other.queue_delete(q)
    other.queue_declare(q)
    ch.basic_publish("", q, b"two")
    assert drain(other, q) == [b"two"]
    other.queue_delete(q)
    # gone: a publish to the default exchange is dropped, not kept
    ch.basic_publish("", q, b"three")
    other.queue_declare(q)
    ch.basic_publish("", q, b"four")
    assert drain(other, q) == [b"four"]
    other.queue_delete(q)


def test_exchange_redeclared_with_another_type_routes_as_the_new_one(conn, ch):
    x, qa, qb = uname("memo-x"), uname("memo-a"), uname("memo-b")
    other = conn.channel()
    for q in (qa, qb):
        ch.queue_declare(q, auto_delete=True)
    ch.exchange_declare(x, "direct")
    ch.queue_bind(qa, x, "k")
    ch.basic_publish(x, "k", b"direct")
    other.exchange_delete(x)
    other.exchange_declare(x, "fanout")
    other.queue_bind(qb, x, "")
    ch.basic_publish(x, "k", b"fanout")
    assert drain(other, qa) == [b"direct"]
    assert drain(other, qb) == [b"fanout"]
    other.exchange_delete(x)
    with channel_error(404, "NOT_FOUND - no exchange"):
        ch.basic_publish(x, "k", b"gone")
        ch.queue_declare(qa, passive=True)      # the close arrives
