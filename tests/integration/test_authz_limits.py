"""User limits (max-connections, max-channels) and vhost limits
(max-connections, max-queues) as RabbitMQ has them: through
/api/user-limits and /api/vhost-limits, definitions and sluicectl,
enforced on AMQP and MQTT with RabbitMQ's errors. A negative value is no
limit, 0 allows none."""
import pika
import pika.exceptions as pe
import pytest

from authz_helpers import add_vhost, amqp, refused, user
from conftest import wait_for
from http_helpers import api
from mqtt_helpers import V311, V5, Raw
from test_sluicectl import ctl, lines, uniq  # noqa: F401 (fixture)

QUOTA_EXCEEDED = 0x97


def user_limit(b, u, name, value):
    return api(b, "PUT", "/api/user-limits/%s/%s" % (u, name), {"value": value})


def vhost_limit(b, vh, name, value):
    return api(b, "PUT", "/api/vhost-limits/%s/%s" % (vh, name), {"value": value})


def wait_no_conns(b, u):
    """Until the broker lists no connection of user u: a closed connection
    counts towards the limits until the broker has let it go, which may
    come after the client saw close-ok."""
    assert wait_for(lambda: all(c.get("user") != u for c in
                                api(b, "GET", "/api/connections?columns=user")[1]),
                    timeout=10), "connections of %s still listed" % u


def refused_open(fn):
    with pytest.raises(pe.AMQPConnectionError) as ei:
        fn()
    return str(ei.value)


def test_user_max_connections(broker):
    user(broker, "bob")
    assert user_limit(broker, "bob", "max-connections", 1)[0] == 204
    c1 = amqp(broker, "bob")
    text = refused_open(lambda: amqp(broker, "bob"))
    assert ("NOT_ALLOWED - Connection refused for user 'bob': user connection limit (1) "
            "is reached") in text
    for version, code in ((V311, 5), (V5, QUOTA_EXCEEDED)):
        m = Raw(broker, version)
        assert m.connect(username="bob", password="pw").rc == code
    c1.close()
    wait_no_conns(broker, "bob")
    amqp(broker, "bob").close()
    # negative: no limit
    user_limit(broker, "bob", "max-connections", -1)
    conns = [amqp(broker, "bob") for _ in range(3)]
    for c in conns:
        c.close()
    wait_no_conns(broker, "bob")
    # other users are not counted
    user_limit(broker, "bob", "max-connections", 1)
    g = [amqp(broker, "guest", "guest") for _ in range(2)]
    amqp(broker, "bob").close()
    for c in g:
        c.close()


def test_vhost_max_connections(broker):
    add_vhost(broker, "v1")
    user(broker, "bob", vhost="v1")
    assert vhost_limit(broker, "v1", "max-connections", 0)[0] == 204
    text = refused_open(lambda: amqp(broker, "bob", vhost="v1"))
    assert ("NOT_ALLOWED - access to vhost 'v1' refused for user 'bob': connection limit "
            "(0) is reached") in text
    m = Raw(broker, V5)
    assert m.connect(username="v1:bob", password="pw").rc == QUOTA_EXCEEDED
    vhost_limit(broker, "v1", "max-connections", 1)
    c = amqp(broker, "bob", vhost="v1")
    m = Raw(broker, V311)
    assert m.connect(username="v1:bob", password="pw").rc == 5
    amqp(broker, "guest", "guest").close()          # "/" is another vhost
    c.close()


def test_user_max_channels_across_connections(broker):
    user(broker, "bob")
    assert user_limit(broker, "bob", "max-channels", 2)[0] == 204
    c1 = amqp(broker, "bob")
    c1.channel()
    c2 = amqp(broker, "bob")
    c2.channel()
    text = refused(lambda: c2.channel(), 530)
    assert text == ("NOT_ALLOWED - number of channels opened for user 'bob' has reached "
                    "the maximum allowed user limit of (2)")
    c1.close()
    c3 = amqp(broker, "bob")
    c3.channel()
    c3.close()


def test_vhost_max_queues(broker):
    user(broker, "bob")
    c = amqp(broker, "bob")
    ch = c.channel()
    ch.queue_declare("q1")
    existing = len([q for q in api(broker, "GET", "/api/queues/%2F")[1]])
    assert vhost_limit(broker, "%2F", "max-queues", existing)[0] == 204
    ch.queue_declare("q1")                          # redeclaring is fine
    text = refused(lambda: ch.queue_declare("q2"), 406)
    assert text == ("PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in "
                    "vhost '/' (%d) is reached" % existing)
    # MQTT: a subscription that needs a new queue gets quota exceeded
    m = Raw(broker, V5)
    m.connect(username="bob", password="pw")
    assert m.subscribe("a/b").codes == [QUOTA_EXCEEDED]
    # the API's declare is bound by it too
    st, body, _ = api(broker, "PUT", "/api/queues/%2F/q3", {})
    assert st == 400 and "queue limit in vhost '/'" in body["reason"]
    assert api(broker, "DELETE", "/api/vhost-limits/%2F/max-queues")[0] == 204
    c.channel().queue_declare("q2")
    c.close()


def test_limits_api(broker):
    user(broker, "bob")
    assert api(broker, "GET", "/api/user-limits")[1] == []
    user_limit(broker, "bob", "max-connections", 10)
    user_limit(broker, "bob", "max-channels", 20)
    assert api(broker, "GET", "/api/user-limits")[1] == [
        {"user": "bob", "value": {"max-connections": 10, "max-channels": 20}}]
    assert api(broker, "GET", "/api/user-limits/bob")[1] == [
        {"user": "bob", "value": {"max-connections": 10, "max-channels": 20}}]
    assert api(broker, "GET", "/api/users/bob")[1]["limits"] == {
        "max-connections": 10, "max-channels": 20}
    assert api(broker, "GET", "/api/user-limits/nobody")[0] == 404
    assert user_limit(broker, "nobody", "max-connections", 1)[0] == 404
    st, body, _ = user_limit(broker, "bob", "max-queues", 1)
    assert st == 400 and body["reason"] == ('Unrecognised terms [{<<"max-queues">>}] in '
                                            'user-limits')
    assert user_limit(broker, "bob", "max-connections", "ten")[0] == 400
    assert api(broker, "DELETE", "/api/user-limits/bob/max-channels")[0] == 204
    assert api(broker, "GET", "/api/user-limits/bob")[1] == [
        {"user": "bob", "value": {"max-connections": 10}}]
    assert vhost_limit(broker, "%2F", "max-queues", 100)[0] == 204
    assert vhost_limit(broker, "%2F", "max-channels", 1)[0] == 400
    assert vhost_limit(broker, "nov", "max-queues", 1)[0] == 404
    assert api(broker, "GET", "/api/vhost-limits")[1] == [
        {"vhost": "/", "value": {"max-queues": 100}}]
    assert api(broker, "GET", "/api/vhost-limits/%2F")[1] == [
        {"vhost": "/", "value": {"max-queues": 100}}]
    # administrators set them; user limits are administrators' to see
    user(broker, "mgr", tags="management")
    assert api(broker, "GET", "/api/user-limits", auth=("mgr", "pw"))[0] == 403
    assert api(broker, "GET", "/api/vhost-limits", auth=("mgr", "pw"))[0] == 200
    assert vhost_limit(broker, "%2F", "max-queues", 1)[0] == 204
    st, _, _ = api(broker, "PUT", "/api/vhost-limits/%2F/max-queues", {"value": 5},
                   auth=("mgr", "pw"))
    assert st == 403


def test_limits_in_definitions(broker):
    user(broker, "bob")
    user_limit(broker, "bob", "max-connections", 3)
    add_vhost(broker, "v1")
    vhost_limit(broker, "v1", "max-queues", 7)
    defs = api(broker, "GET", "/api/definitions")[1]
    bob = [u for u in defs["users"] if u["name"] == "bob"][0]
    assert bob["limits"] == {"max-connections": 3}
    assert {"value": {"max-queues": 7}, "vhost": "v1", "component": "vhost-limits",
            "name": "limits"} in defs["parameters"]
    api(broker, "DELETE", "/api/user-limits/bob/max-connections")
    api(broker, "DELETE", "/api/vhost-limits/v1/max-queues")
    bob["limits"] = {"max-connections": 4}
    defs["parameters"][0]["value"] = {"max-connections": 9}
    assert api(broker, "POST", "/api/definitions", defs)[0] in (201, 204)
    assert api(broker, "GET", "/api/user-limits/bob")[1][0]["value"] == {"max-connections": 4}
    assert api(broker, "GET", "/api/vhost-limits/v1")[1][0]["value"] == {"max-connections": 9}
    bad = {"users": [{"name": "x", "password": "p", "limits": {"max-queues": 1}}]}
    st, body, _ = api(broker, "POST", "/api/definitions", bad)
    assert st == 400 and "users[0].limits.max-queues: not a user limit" in body["reason"]


def test_sluicectl_limits(ctl):  # noqa: F811
    u = uniq("lu")
    ctl.ok("-q", "add_user", u, "pw")
    out = ctl.ok("set_user_limits", u, '{"max-connections": 10, "max-channels": 5}')
    assert out == ('Setting user limits to "{"max-connections": 10, "max-channels": 5}" '
                   'for user "%s" ...\n' % u)
    out = ctl.ok("list_user_limits", u)
    assert lines(out) == ['Listing limits for user "%s" ...' % u, "user\tlimits",
                          '%s\t{"max-connections":10,"max-channels":5}' % u]
    out = ctl.ok("clear_user_limits", u, "max-channels")
    assert out == 'Clearing "max-channels" limit for user "%s" ...\n' % u
    assert '%s\t{"max-connections":10}' % u in ctl.ok("list_user_limits", "--global")
    out = ctl.ok("clear_user_limits", u, "all")
    assert out == 'Clearing all limits for user "%s" ...\n' % u
    assert ctl.ok("-q", "list_user_limits", u) == ""
    r = ctl.run("set_user_limits", u, '{"max-queues": 1}')
    assert r.returncode != 0 and "Unrecognised terms" in r.stderr
    r = ctl.run("set_user_limits", uniq("nobody"), '{"max-connections": 1}')
    assert r.returncode == 67
    v = uniq("lv")
    ctl.ok("-q", "add_vhost", v)
    out = ctl.ok("set_vhost_limits", "-p", v, '{"max-queues": 3}')
    assert out == 'Setting vhost limits to "{"max-queues": 3}" for vhost "%s" ...\n' % v
    ctl.ok("-q", "set_vhost_limits", "-p", v, '{"max-connections": 2}')
    out = ctl.ok("list_vhost_limits", "-p", v)
    # set_vhost_limits replaces the vhost's limits, as rabbitmqctl's
    assert lines(out) == ['Listing limits for vhost "%s" ...' % v, "vhost\tlimits",
                          '%s\t{"max-connections":2}' % v]
    out = ctl.ok("clear_vhost_limits", "-p", v)
    assert out == 'Clearing vhost "%s" limits ...\n' % v
    assert ctl.ok("-q", "list_vhost_limits", "-p", v) == ""
    r = ctl.run("set_user_limits", u, "not json")
    assert r.returncode == 64
    ctl.ok("-q", "delete_vhost", v)
    ctl.ok("-q", "delete_user", u)
