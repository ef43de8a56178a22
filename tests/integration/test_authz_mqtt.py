"""Authorization on MQTT as RabbitMQ's MQTT plugin checks it.

Topic permissions on PUBLISH, SUBSCRIBE, UNSUBSCRIBE and wills (the will
topic must be publishable by its user when the will goes out); joining an
existing shared subscription runs the same checks as starting one; a
session belongs to the user that created it (another user presenting its
client id is refused and the session is left alone); resuming a session
re-checks its subscriptions.
"""
import time

import pytest

from authz_helpers import set_perms, set_tperm, user
from mqtt_helpers import (CONNACK, PUBACK, V311, V5, P, Paho, Raw, uid,
                          wait_for, wait_gone)

NOT_AUTHORIZED = 0x87
NO_SUBSCRIBERS = 0x10       # accepted, nobody subscribed


def raw(b, version, name, password="pw", **kw):
    r = Raw(b, version)
    ack = r.connect(username=name, password=password, **kw)
    return r, ack


def tperm_setup(b):
    user(b, "bob")
    set_tperm(b, "bob", "amq.topic", "^allowed\\.", "^mine\\.")


# ---- PUBLISH -------------------------------------------------------------

def test_publish_v5_refused_with_0x87(broker):
    tperm_setup(broker)
    sub, _ = raw(broker, V311, "guest", "guest")
    sub.subscribe("#")
    r, ack = raw(broker, V5, "bob")
    assert ack.rc == 0
    r.publish("allowed/x", b"ok", qos=1, pid=1)
    assert r.recv_type(PUBACK).rc == 0
    r.publish("other/x", b"no", qos=1, pid=2)
    p = r.recv_type(PUBACK)
    assert (p.pid, p.rc) == (2, NOT_AUTHORIZED)
    r.publish("other/x", b"no", qos=0)
    got = [p.payload for p in sub.publishes(timeout=0.5)]
    assert got == [b"ok"]
    assert r.is_open()


def test_publish_v311_refused_closes(broker):
    tperm_setup(broker)
    r, _ = raw(broker, V311, "bob")
    r.publish("other/x", b"no", qos=1, pid=1)
    r.closed()


def test_publish_cache_follows_permission_changes(broker):
    tperm_setup(broker)
    r, _ = raw(broker, V5, "bob")
    r.publish("allowed/x", b"1", qos=1, pid=1)
    assert r.recv_type(PUBACK).rc == NO_SUBSCRIBERS
    set_tperm(broker, "bob", "amq.topic", "^nothing$", "")
    r.publish("allowed/x", b"2", qos=1, pid=2)
    assert r.recv_type(PUBACK).rc == NOT_AUTHORIZED


def test_client_id_variable(broker):
    user(broker, "bob")
    set_tperm(broker, "bob", "amq.topic", "^dev\\.{client_id}\\.", ".*")
    r, _ = raw(broker, V5, "bob", client_id="d1")
    r.publish("dev/d1/temp", b"ok", qos=1, pid=1)
    assert r.recv_type(PUBACK).rc == NO_SUBSCRIBERS
    r.publish("dev/d2/temp", b"no", qos=1, pid=2)
    assert r.recv_type(PUBACK).rc == NOT_AUTHORIZED
    # a client id full of regex characters matches only itself
    r2, _ = raw(broker, V5, "bob", client_id=".*")
    r2.publish("dev/d1/temp", b"no", qos=1, pid=1)
    assert r2.recv_type(PUBACK).rc == NOT_AUTHORIZED


# ---- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------

@pytest.mark.parametrize("version,refused", [(V311, 0x80), (V5, NOT_AUTHORIZED)])
def test_subscribe(broker, version, refused):
    tperm_setup(broker)
    r, _ = raw(broker, version, "bob")
    p = r.subscribe([("mine/#", 1), ("#", 1), ("other/+", 0)])
    assert p.codes == [1, refused, refused]


def test_unsubscribe_refused_keeps_subscription(broker):
    tperm_setup(broker)
    r, _ = raw(broker, V5, "bob")
    assert r.subscribe("mine/x").codes == [1]
    set_tperm(broker, "bob", "amq.topic", "", "^nothing$")
    assert r.unsubscribe("mine/x").codes == [NOT_AUTHORIZED]
    set_tperm(broker, "bob", "amq.topic", "", "^mine\\.")
    assert r.unsubscribe("mine/x").codes == [0]


def test_shared_subscription_join_is_checked(broker):
    tperm_setup(broker)
    user(broker, "alice")
    a, _ = raw(broker, V5, "alice")
    assert a.subscribe("$share/g/secret/#").codes == [1]
    b, _ = raw(broker, V5, "bob")
    assert b.subscribe("$share/g/secret/#").codes == [NOT_AUTHORIZED]
    g, _ = raw(broker, V311, "guest", "guest")
    for i in range(4):
        g.publish("secret/%d" % i, b"s%d" % i, qos=0)
    assert len(a.publishes(timeout=1.0)) == 4
    assert b.publishes(timeout=0.3) == []


def test_shared_groups_with_dashes_stay_apart(broker):
    """A share name may contain '-': "$share/g-x/mine/#" is another group
    than "$share/g/x-mine/#", though both read "g-x-mine/#" once joined
    by a dash. bob, who may read mine/# only, must not become a member of
    alice's group (he would take, and drop, half of its messages) and
    must get his own group's messages."""
    tperm_setup(broker)
    user(broker, "alice")
    a, _ = raw(broker, V5, "alice")
    assert a.subscribe("$share/g/x-mine/#").codes == [1]
    b, _ = raw(broker, V5, "bob")
    assert b.subscribe("$share/g-x/mine/#").codes == [1]
    g, _ = raw(broker, V311, "guest", "guest")
    for i in range(4):
        g.publish("x-mine/%d" % i, b"a%d" % i, qos=0)
    g.publish("mine/b", b"b", qos=0)
    assert sorted(p.payload for p in a.publishes(timeout=1.0)) == [b"a0", b"a1", b"a2", b"a3"]
    assert [p.payload for p in b.publishes(timeout=0.5)] == [b"b"]


# ---- wills -----------------------------------------------------------------

def will_of(b, version, topic, retain=False, setup_after=None):
    sub, _ = raw(b, V311, "guest", "guest")
    sub.subscribe("#")
    cid = uid()
    r, _ = raw(b, version, "bob", client_id=cid, will={"topic": topic, "payload": b"gone",
                                                       "retain": retain})
    if setup_after:
        setup_after()
    r.abort()
    wait_gone(b, cid)           # the broker has handled the close: will sent or not
    return [(p.topic, p.payload) for p in sub.publishes(timeout=0.8)]


@pytest.mark.parametrize("version", [V311, V5])
def test_will_needs_write(broker, version):
    tperm_setup(broker)
    assert will_of(broker, version, "other/will") == []
    assert will_of(broker, version, "allowed/will") == [("allowed/will", b"gone")]


def test_will_checked_when_it_goes_out(broker):
    tperm_setup(broker)
    revoke = lambda: set_tperm(broker, "bob", "amq.topic", "^nothing$", "")  # noqa: E731
    assert will_of(broker, V5, "allowed/will", setup_after=revoke) == []


def test_retained_will_needs_write(broker):
    tperm_setup(broker)
    assert will_of(broker, V311, "other/will", retain=True) == []
    r, _ = raw(broker, V311, "guest", "guest")
    r.subscribe("other/will")
    assert r.publishes(timeout=0.3) == []      # nothing was retained either


# ---- sessions belong to their user -----------------------------------------

@pytest.mark.parametrize("version,code", [(V311, 5), (V5, NOT_AUTHORIZED)])
def test_session_of_another_user(broker, version, code):
    user(broker, "alice")
    user(broker, "mallory")
    cid = uid()
    a = Paho(broker, V311, client_id=cid, clean=False, username="alice", password="pw")
    a.connect()
    a.subscribe("inbox/alice", qos=1)
    a.disconnect()
    wait_gone(broker, cid)
    g, _ = raw(broker, V311, "guest", "guest")
    g.publish("inbox/alice", b"queued-1", qos=1, pid=1)
    g.recv_type(PUBACK)
    # another user, same client id: refused, resuming or clean
    for clean in (False, True):
        m = Raw(broker, version)
        ack = m.connect(client_id=cid, clean=clean, username="mallory", password="pw")
        assert (ack.type, ack.rc, ack.session_present) == (CONNACK, code, False)
        m.closed()
    # the owner gets the session back with the message queued for it
    a = Paho(broker, V311, client_id=cid, clean=False, username="alice", password="pw")
    rc, present, _ = a.connect()
    assert present
    assert [m.payload for m in a.wait(1)] == [b"queued-1"]
    # while the owner is connected, another user neither takes it over nor
    # disconnects the owner
    m = Raw(broker, V311)
    assert m.connect(client_id=cid, username="mallory", password="pw").rc == 5
    g.publish("inbox/alice", b"still-mine", qos=1, pid=2)
    assert [m.payload for m in a.wait(2)][-1] == b"still-mine"
    a.disconnect()


def test_session_in_flight_not_handed_over(broker):
    """Messages sent but not acknowledged stay with the session's owner."""
    user(broker, "alice")
    user(broker, "mallory")
    cid = uid()
    a = Raw(broker, V311)
    a.connect(client_id=cid, clean=False, username="alice", password="pw")
    a.subscribe("inbox/x")
    g, _ = raw(broker, V311, "guest", "guest")
    g.publish("inbox/x", b"in-flight", qos=1, pid=1)
    p = a.recv_publish(ack=False)
    assert p.payload == b"in-flight"
    a.abort()
    m = Raw(broker, V311)
    assert m.connect(client_id=cid, clean=False, username="mallory", password="pw").rc == 5
    a = Raw(broker, V311)
    assert a.connect(client_id=cid, clean=False, username="alice",
                     password="pw").session_present
    p = a.recv_publish()
    assert (p.payload, p.dup) == (b"in-flight", True)


def test_session_resume_rechecks_subscriptions(broker):
    user(broker, "alice")
    cid = uid()
    a = Raw(broker, V5)
    a.connect(client_id=cid, clean=False, username="alice", password="pw",
              props=[(P.SESSION_EXPIRY, 300)])
    a.subscribe("news/#")
    a.disconnect()
    set_tperm(broker, "alice", "amq.topic", ".*", "^weather\\.")
    a = Raw(broker, V5)
    ack = a.connect(client_id=cid, clean=False, username="alice", password="pw",
                    props=[(P.SESSION_EXPIRY, 300)])
    assert (ack.rc, ack.session_present) == (NOT_AUTHORIZED, False)
    a.closed()
    # losing read on the session's queue refuses it too
    set_tperm(broker, "alice", "amq.topic", ".*", ".*")
    set_perms(broker, "alice", read="^nothing$")
    a = Raw(broker, V5)
    assert a.connect(client_id=cid, clean=False, username="alice", password="pw",
                     props=[(P.SESSION_EXPIRY, 300)]).rc == NOT_AUTHORIZED
    set_perms(broker, "alice")
    a = Raw(broker, V5)
    ack = a.connect(client_id=cid, clean=False, username="alice", password="pw",
                    props=[(P.SESSION_EXPIRY, 300)])
    assert (ack.rc, ack.session_present) == (0, True)
    # a clean start is always possible
    set_perms(broker, "alice", read="^nothing$")
    a.disconnect()
    a = Raw(broker, V5)
    assert a.connect(client_id=cid, clean=True, username="alice", password="pw").rc == 0


def test_same_user_still_takes_over(broker):
    user(broker, "alice")
    cid = uid()
    a1 = Raw(broker, V311)
    a1.connect(client_id=cid, username="alice", password="pw")
    a2 = Raw(broker, V311)
    assert a2.connect(client_id=cid, username="alice", password="pw").rc == 0
    a1.closed()
    time.sleep(0)
    assert wait_for(lambda: a2.is_open(), 2)
