"""Authorization on AMQP 0-9-1 exactly where RabbitMQ checks it.

Server-named queues need configure on the generated amq.gen-... name; a
queue with a dead-letter exchange needs read on itself and write on the
DLX; an exchange with an alternate exchange read on itself and write on
the alternate. Topic permissions (per user, vhost and exchange) restrict
routing keys on publish and on bind/unbind from topic exchanges, with
RabbitMQ's texts. The user_id property must be the logged-in user.
"""
import pika
import pytest

from authz_helpers import amqp, refused, set_perms, set_tperm, user
from http_helpers import api


def test_server_named_queue_needs_configure(broker):
    user(broker, "bob", perms=("^c", ".*", ".*"))
    c = amqp(broker, "bob")
    text = refused(lambda: c.channel().queue_declare(""))
    assert text.startswith("ACCESS_REFUSED - configure access to queue 'amq.gen-")
    assert text.endswith("' in vhost '/' refused for user 'bob'")
    c.close()
    set_perms(broker, "bob", configure="^amq\\.gen-")
    c = amqp(broker, "bob")
    assert c.channel().queue_declare("", exclusive=True).method.queue.startswith("amq.gen-")
    c.close()


def test_dead_letter_exchange_needs_write(broker):
    user(broker, "bob", perms=(".*", "^w", ".*"))
    c = amqp(broker, "bob")
    args = {"x-dead-letter-exchange": "dlx"}
    text = refused(lambda: c.channel().queue_declare("cq", arguments=args))
    assert text == ("ACCESS_REFUSED - write access to exchange 'dlx' in vhost '/' "
                    "refused for user 'bob'")
    ch = c.channel()
    ch.queue_declare("cq2", arguments={"x-dead-letter-exchange": "wdlx"})
    c.close()


def test_dead_letter_exchange_needs_read_on_queue(broker):
    user(broker, "bob", perms=(".*", ".*", "^r"))
    c = amqp(broker, "bob")
    text = refused(lambda: c.channel().queue_declare(
        "cq", arguments={"x-dead-letter-exchange": "dlx"}))
    assert text == ("ACCESS_REFUSED - read access to queue 'cq' in vhost '/' "
                    "refused for user 'bob'")
    # an existing queue is not checked again (RabbitMQ: new queues only)
    g = amqp(broker, "guest", "guest")
    g.channel().queue_declare("cq", arguments={"x-dead-letter-exchange": "dlx"})
    g.close()
    c = amqp(broker, "bob")
    c.channel().queue_declare("cq", arguments={"x-dead-letter-exchange": "dlx"})
    c.close()


def test_alternate_exchange_needs_write(broker):
    user(broker, "bob", perms=(".*", "^w", ".*"))
    c = amqp(broker, "bob")
    text = refused(lambda: c.channel().exchange_declare(
        "cx", "fanout", arguments={"alternate-exchange": "ae"}))
    assert text == ("ACCESS_REFUSED - write access to exchange 'ae' in vhost '/' "
                    "refused for user 'bob'")
    c.close()


def topic_setup(b):
    user(b, "bob")
    set_tperm(b, "bob", "amq.topic", "^allowed\\.", "^mine\\.")
    g = amqp(b, "guest", "guest")
    ch = g.channel()
    ch.queue_declare("tq")
    ch.queue_bind("tq", "amq.topic", "#")
    g.close()


def test_topic_publish(broker):
    topic_setup(broker)
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "allowed.x", b"ok")
    text = refused(lambda: ch.basic_publish("amq.topic", "other.x", b"no"))
    assert text == ("ACCESS_REFUSED - write access to topic 'other.x' in exchange "
                    "topic 'amq.topic' in vhost '/' refused for user 'bob'")
    # an exchange without a topic permission entry is not restricted
    ch = c.channel()
    ch.exchange_declare("t2", "topic")
    ch.confirm_delivery()
    ch.basic_publish("t2", "other.x", b"ok")
    # a direct exchange is never restricted by topic permissions
    set_tperm(broker, "bob", "amq.direct", "^nothing$", "^nothing$")
    ch.basic_publish("amq.direct", "other.x", b"ok")
    c.close()
    g = amqp(broker, "guest", "guest")
    m, _, body = g.channel().basic_get("tq", auto_ack=True)
    assert body == b"ok"
    g.close()


def test_topic_bind(broker):
    topic_setup(broker)
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.queue_declare("bq")
    ch.queue_bind("bq", "amq.topic", "mine.#")
    text = refused(lambda: ch.queue_bind("bq", "amq.topic", "#"))
    assert text == ("ACCESS_REFUSED - read access to topic '#' in exchange topic "
                    "'amq.topic' in vhost '/' refused for user 'bob'")
    ch = c.channel()
    refused(lambda: ch.queue_unbind("bq", "amq.topic", "other"))
    ch = c.channel()
    ch.queue_unbind("bq", "amq.topic", "mine.#")
    ch.exchange_declare("sink", "fanout")
    text = refused(lambda: ch.exchange_bind("sink", "amq.topic", "other.#"))
    assert "read access to topic 'other.#' in exchange topic 'amq.topic'" in text
    ch = c.channel()
    ch.exchange_bind("sink", "amq.topic", "mine.#")
    ch.exchange_unbind("sink", "amq.topic", "mine.#")
    c.close()


def test_topic_permission_revoked_takes_effect(broker):
    """A granted publish is cached per channel; a change must end the grant."""
    topic_setup(broker)
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "allowed.1", b"a")
    set_tperm(broker, "bob", "amq.topic", "^nothing$", "")
    text = refused(lambda: ch.basic_publish("amq.topic", "allowed.1", b"b"))
    assert "write access to topic 'allowed.1'" in text
    c.close()


def test_topic_variables_username(broker):
    user(broker, "bob")
    set_tperm(broker, "bob", "amq.topic", "^{username}\\.", "^{vhost}$")
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "bob.x", b"ok")
    refused(lambda: ch.basic_publish("amq.topic", "alice.x", b"no"))
    ch = c.channel()
    ch.queue_declare("vq")
    ch.queue_bind("vq", "amq.topic", "/")
    c.close()


def test_topic_client_id_without_value_refuses(broker):
    """AMQP has no client id: a regex using {client_id} matches nothing."""
    user(broker, "bob")
    set_tperm(broker, "bob", "amq.topic", "^{client_id}", ".*")
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    refused(lambda: ch.basic_publish("amq.topic", "{client_id}", b"no"))
    c.close()


def test_user_id_must_match(broker):
    user(broker, "bob")
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("", "nowhere", b"x", pika.BasicProperties(user_id="bob"))
    text = refused(lambda: ch.basic_publish("", "nowhere", b"x",
                                            pika.BasicProperties(user_id="guest")), 406)
    assert text == ("PRECONDITION_FAILED - user_id property set to 'guest' but "
                    "authenticated user was 'bob'")
    c.close()


def test_topic_permissions_api(broker):
    user(broker, "bob")
    assert api(broker, "GET", "/api/topic-permissions/%2F/bob")[0] == 404
    assert set_tperm(broker, "bob", "amq.topic", "^a", "^b") == 201
    assert set_tperm(broker, "bob", "x2", "", "") == 204
    st, body, _ = api(broker, "GET", "/api/topic-permissions/%2F/bob")
    assert st == 200
    assert body == [
        {"user": "bob", "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": "^b"},
        {"user": "bob", "vhost": "/", "exchange": "x2", "write": "", "read": ""}]
    st, all_, _ = api(broker, "GET", "/api/topic-permissions")
    assert all_ == body
    assert api(broker, "GET", "/api/users/bob/topic-permissions")[1] == body
    assert api(broker, "GET", "/api/vhosts/%2F/topic-permissions")[1] == body
    st, err, _ = api(broker, "PUT", "/api/topic-permissions/%2F/bob",
                     {"exchange": "x", "write": "(", "read": ""})
    assert st == 400 and "invalid regular expression" in err["reason"]
    st, err, _ = api(broker, "PUT", "/api/topic-permissions/%2F/nobody",
                     {"exchange": "x", "write": "", "read": ""})
    assert (st, err["reason"]) == (400, "vhost_or_user_not_found")
    assert api(broker, "PUT", "/api/topic-permissions/%2F/bob", {"exchange": "x"})[0] == 400
    assert api(broker, "DELETE", "/api/topic-permissions/%2F/bob/x2")[0] == 204
    assert api(broker, "DELETE", "/api/topic-permissions/%2F/bob/x2")[0] == 404
    assert len(api(broker, "GET", "/api/topic-permissions/%2F/bob")[1]) == 1
    assert api(broker, "DELETE", "/api/topic-permissions/%2F/bob")[0] == 204
    assert api(broker, "GET", "/api/topic-permissions/%2F/bob")[0] == 404
    # deleting the user drops its topic permissions
    set_tperm(broker, "bob", "amq.topic", "^a", "^b")
    assert api(broker, "DELETE", "/api/users/bob")[0] == 204
    assert api(broker, "GET", "/api/topic-permissions")[1] == []


def test_topic_permissions_in_definitions(broker):
    user(broker, "bob")
    set_tperm(broker, "bob", "amq.topic", "^a", "^b")
    st, defs, _ = api(broker, "GET", "/api/definitions")
    assert defs["topic_permissions"] == [
        {"user": "bob", "vhost": "/", "exchange": "amq.topic", "write": "^a", "read": "^b"}]
    api(broker, "DELETE", "/api/topic-permissions/%2F/bob")
    defs["topic_permissions"][0]["write"] = "^imported"
    assert api(broker, "POST", "/api/definitions", defs)[0] in (201, 204)
    st, body, _ = api(broker, "GET", "/api/topic-permissions/%2F/bob")
    assert body[0]["write"] == "^imported"
    bad = {"topic_permissions": [{"user": "bob", "vhost": "/", "write": "", "read": ""}]}
    st, err, _ = api(broker, "POST", "/api/definitions", bad)
    assert st == 400 and "topic_permissions[0]: missing 'exchange'" in err["reason"]


CONF = """
[user bob]
password = pw

[permission bob /]
configure = .*
write = .*
read = .*

[topic_permission bob /]
exchange = amq.topic
write = ^conf\\.
read = .*
"""


def test_topic_permission_section_in_config(make_broker):
    b = make_broker(config_text=CONF)
    c = amqp(b, "bob")
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "conf.x", b"ok")
    text = refused(lambda: ch.basic_publish("amq.topic", "other", b"no"))
    assert "write access to topic 'other'" in text
    c.close()


def test_topic_permission_section_errors(make_broker):
    with pytest.raises(RuntimeError) as ei:
        make_broker(config_text="[topic_permission bob /]\nwrite = x\nread = y\n")
    assert "section [topic_permission bob /] needs 'exchange'" in str(ei.value)
    with pytest.raises(RuntimeError) as ei:
        make_broker(config_text="[topic_permission bob]\n")
    assert "needs a user and a vhost: [topic_permission USER VHOST]" in str(ei.value)
