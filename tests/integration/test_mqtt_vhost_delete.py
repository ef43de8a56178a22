"""Deleting a vhost through the management API ends the MQTT state in it:
sessions whose client is away, connected sessions, wills waiting for
their delay, shared subscriptions and retained messages. The broker goes
on serving other vhosts (run under an ASan build to see that nothing
points at the freed vhost)."""
from http_helpers import api, q
from mqtt_helpers import *  # noqa: F401,F403

VH = "/v"
USER_IN_VH = VH + ":guest"           # "vhost:user" (RabbitMQ's MQTT rule)


def make_vhost(b):
    st, _, _ = api(b, "PUT", "/api/vhosts/" + q(VH))
    assert st in (201, 204), st
    st, _, _ = api(b, "PUT", "/api/permissions/%s/guest" % q(VH),
                   {"configure": ".*", "write": ".*", "read": ".*"})
    assert st in (201, 204), st


def delete_vhost(b):
    st, body, _ = api(b, "DELETE", "/api/vhosts/" + q(VH))
    assert st == 204, (st, body)


def connect_in_vh(b, version, cid, clean=False, **kw):
    c = Raw(b, version)
    props = {P.SESSION_EXPIRY: 3600} if version == V5 and not clean else None
    ack = c.connect(client_id=cid, clean=clean, username=USER_IN_VH, props=props, **kw)
    assert ack.rc == 0, hex(ack.rc)
    return c


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_vhost_delete_ends_mqtt_state(make_mqtt_broker, version):
    b = make_mqtt_broker()
    make_vhost(b)
    t = utopic("vd")
    away, online = uid(), uid()
    # a persistent session whose client has gone, with a subscription,
    # a shared subscription, queued messages and a retained message
    c = connect_in_vh(b, version, away)
    c.subscribe([(t + "/#", 1)])
    c.subscribe([("$share/g/" + t + "/s", 1)], pid=2)
    c.disconnect()
    c.close()
    wait_gone(b, away)
    # a connected persistent session with a will (v5: with a delay)
    will = {"topic": t + "/will", "payload": b"gone", "qos": 1}
    if version == V5:
        will["props"] = {P.WILL_DELAY: 60}
    o = connect_in_vh(b, version, online, will=will)
    o.subscribe([(t + "/x", 2)])
    p = Raw(b, version)
    p.connect(username=USER_IN_VH)
    p.publish(t + "/r", b"retained", qos=1, pid=3, retain=True)
    p.recv_type(PUBACK)
    for i in range(5):
        p.publish(t + "/q", b"m%d" % i, qos=1, pid=10 + i)
        p.recv_type(PUBACK)
    p.close()

    delete_vhost(b)
    o.expect_close([0x98])
    st, _, _ = api(b, "GET", "/api/vhosts/" + q(VH))
    assert st == 404
    assert_mqtt_serves(b, version)

    # the vhost again, empty: no session, no retained message
    make_vhost(b)
    c = Raw(b, version)
    ack = c.connect(client_id=away, clean=False, username=USER_IN_VH,
                    props={P.SESSION_EXPIRY: 3600} if version == V5 else None)
    assert ack.rc == 0 and not ack.session_present
    c.subscribe([(t + "/#", 1)])
    assert c.publishes(0.5) == []
    c.disconnect()
    c.close()
    delete_vhost(b)
    assert_mqtt_serves(b, version)
    assert b.alive()
