"""QoS 0/1/2 in both directions: the acknowledgement flows, downgrade to the
subscription's QoS, exactly-once inbound QoS 2, the v5 receive maximum and
redelivery of unacknowledged messages with DUP."""
from mqtt_helpers import *  # noqa: F401,F403


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_delivered_qos_is_min(mb, version, pub_qos, sub_qos):
    t = utopic()
    sub = Paho(mb, version)
    sub.connect()
    assert sub.subscribe(t, sub_qos) == [sub_qos]
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"m", qos=pub_qos)
    msgs = sub.wait(1)
    assert [(m.payload, m.qos) for m in msgs] == [(b"m", min(pub_qos, sub_qos))]
    sub.disconnect()
    pub.disconnect()


@pytest.mark.parametrize("version", VERSIONS)
def test_inbound_qos1_puback(mb, version):
    t = utopic()
    c = Raw(mb, version)
    c.connect()
    for pid in (1, 65535, 300):
        c.publish(t, b"x", qos=1, pid=pid)
        a = c.recv_type(PUBACK)
        assert a.pid == pid and a.flags == 0
        if version == V5:
            assert a.rc in (0x00, 0x10), hex(a.rc)   # 0x10: no matching subscribers
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_inbound_qos2_flow(mb, version):
    t = utopic()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 2)])
    c = Raw(mb, version)
    c.connect()
    c.publish(t, b"two", qos=2, pid=42)
    rec = c.recv_type(PUBREC)
    assert rec.pid == 42 and rec.flags == 0 and rec.rc == 0
    c.ack(PUBREL, 42)
    comp = c.recv_type(PUBCOMP)
    assert comp.pid == 42 and comp.flags == 0 and comp.rc == 0
    p = sub.recv_publish()
    assert (p.payload, p.qos) == (b"two", 2)
    assert sub.publishes(0.3) == []
    c.close()
    sub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_inbound_qos2_exactly_once_with_dup_resend(mb, version):
    """Re-sending PUBLISH (DUP) after PUBREC must not deliver twice; after
    PUBCOMP the packet id is free for a new message."""
    t = utopic()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 2)])
    c = Raw(mb, version)
    c.connect()
    c.publish(t, b"once", qos=2, pid=7)
    assert c.recv_type(PUBREC).pid == 7
    c.publish(t, b"once", qos=2, pid=7, dup=True)
    assert c.recv_type(PUBREC).pid == 7
    c.ack(PUBREL, 7)
    assert c.recv_type(PUBCOMP).pid == 7
    c.ack(PUBREL, 7)            # a repeated PUBREL is answered, nothing delivered
    assert c.recv_type(PUBCOMP).pid == 7
    c.publish(t, b"again", qos=2, pid=7)
    assert c.recv_type(PUBREC).pid == 7
    c.ack(PUBREL, 7)
    assert c.recv_type(PUBCOMP).pid == 7
    got = [p.payload for p in sub.publishes(0.6)]
    assert got == [b"once", b"again"]
    c.close()
    sub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_inbound_qos2_resend_after_reconnect(mb, version):
    """A persistent session keeps the received QoS 2 packet id: a DUP
    re-send after reconnect is acknowledged but not delivered again."""
    t = utopic()
    cid = uid()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 2)])
    props = {P.SESSION_EXPIRY: 60} if version == V5 else None
    c = Raw(mb, version)
    c.connect(client_id=cid, clean=False, props=props)
    c.publish(t, b"q2", qos=2, pid=11)
    assert c.recv_type(PUBREC).pid == 11
    c.abort()
    c = Raw(mb, version)
    assert c.connect(client_id=cid, clean=False, props=props).session_present
    c.publish(t, b"q2", qos=2, pid=11, dup=True)
    assert c.recv_type(PUBREC).pid == 11
    c.ack(PUBREL, 11)
    assert c.recv_type(PUBCOMP).pid == 11
    assert [p.payload for p in sub.publishes(0.6)] == [b"q2"]
    c = Raw(mb, version)
    c.connect(client_id=cid, clean=True)
    c.close()
    sub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_outbound_qos2_flow(mb, version):
    t = utopic()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 2)])
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"out2", qos=2)
    p = sub.recv_type(PUBLISH)
    assert p.qos == 2 and not p.dup and p.payload == b"out2" and p.pid
    sub.ack(PUBREC, p.pid)
    rel = sub.recv_type(PUBREL)
    assert rel.pid == p.pid and rel.flags == 2
    sub.ack(PUBCOMP, p.pid)
    assert sub.publishes(0.3) == []
    pub.disconnect()
    sub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_outbound_qos1_distinct_packet_ids(mb, version):
    t = utopic()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 1)])
    pub = Raw(mb, version)
    pub.connect()
    for i in range(8):
        pub.publish(t, str(i))
    got = [sub.recv_type(PUBLISH) for _ in range(8)]
    assert [p.payload for p in got] == [str(i).encode() for i in range(8)]
    assert [p.qos for p in got] == [0] * 8        # published at QoS 0
    for i in range(8):
        pub.publish(t, str(i), qos=1, pid=i + 1)
    got = [sub.recv_type(PUBLISH) for _ in range(8)]
    ids = [p.pid for p in got]
    assert all(ids) and len(set(ids)) == 8, ids
    for p in got:
        sub.ack(PUBACK, p.pid)
    sub.close()
    pub.close()


@mosquitto_differs("lets a third PUBLISH out after the first PUBACK")
def test_receive_maximum_bounds_inflight(mb):
    """A v5 client with Receive Maximum 2 that does not ack gets 2 PUBLISH;
    each PUBACK lets one more through [MQTT-3.3.4-9]."""
    t = utopic()
    sub = Raw(mb, V5)
    sub.connect(props={P.RECEIVE_MAXIMUM: 2})
    sub.subscribe([(t, 1)])
    pub = Raw(mb, V5)
    pub.connect()
    for i in range(6):
        pub.publish(t, str(i), qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    first = sub.publishes(0.6, ack=False)
    assert [p.payload for p in first] == [b"0", b"1"]
    sub.ack(PUBACK, first[0].pid)
    more = sub.publishes(0.4, ack=False)
    assert [p.payload for p in more] == [b"2"]
    sub.ack(PUBACK, first[1].pid)
    sub.ack(PUBACK, more[0].pid)
    rest = sub.publishes(0.5, ack=True)
    assert [p.payload for p in rest] == [b"3", b"4", b"5"]
    sub.close()
    pub.close()


def test_receive_maximum_does_not_limit_qos0(mb):
    t = utopic()
    sub = Raw(mb, V5)
    sub.connect(props={P.RECEIVE_MAXIMUM: 1})
    sub.subscribe([(t, 0)])
    pub = Raw(mb, V5)
    pub.connect()
    for i in range(5):
        pub.publish(t, str(i))
    assert len(sub.publishes(0.5, ack=False)) == 5
    sub.close()
    pub.close()


@mosquitto_differs("answers PUBREC 0x97 instead of DISCONNECT 0x93")
def test_client_exceeding_server_receive_maximum(mb):
    """More unacknowledged inbound QoS 2 than the advertised Receive
    Maximum: v5 DISCONNECT 0x93 Receive Maximum exceeded [MQTT-3.3.4-7]."""
    c = Raw(mb, V5)
    ack = c.connect()
    limit = ack.props.get(P.RECEIVE_MAXIMUM, 65535)
    if limit > 1000:
        pytest.skip("broker advertises no small receive maximum")
    t = utopic()
    for i in range(limit + 1):
        c.publish(t, b"x", qos=2, pid=i + 1)
    seen = c.expect_close(0x93)
    assert len([p for p in seen if p.type == PUBREC]) <= limit


@pytest.mark.parametrize("version", VERSIONS)
def test_unacked_resent_with_dup_on_reconnect(mb, version):
    """[MQTT-4.4.0-1] unacknowledged QoS 1 PUBLISH is re-sent with DUP and
    the original packet id when a persistent session resumes."""
    t = utopic()
    cid = uid()
    props = {P.SESSION_EXPIRY: 60} if version == V5 else None
    sub = Raw(mb, version)
    sub.connect(client_id=cid, clean=False, props=props)
    sub.subscribe([(t, 1)])
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"unacked", qos=1, pid=3)
    first = sub.recv_publish(ack=False)
    assert not first.dup and first.payload == b"unacked"
    sub.abort()
    sub = Raw(mb, version)
    ack = sub.connect(client_id=cid, clean=False, props=props)
    assert ack.session_present
    again = sub.recv_type(PUBLISH)
    assert again.dup and again.pid == first.pid and again.payload == b"unacked"
    assert again.qos == 1
    sub.ack(PUBACK, again.pid)
    assert sub.publishes(0.4) == []
    sub.disconnect()
    sub.close()
    Raw(mb, version).connect(client_id=cid, clean=True)   # drop the session
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_outbound_qos2_pubrel_resent_on_reconnect(mb, version):
    """After PUBREC the broker owes a PUBREL; on resume it re-sends the
    PUBREL, not the PUBLISH [MQTT-4.4.0-1]."""
    t = utopic()
    cid = uid()
    props = {P.SESSION_EXPIRY: 60} if version == V5 else None
    sub = Raw(mb, version)
    sub.connect(client_id=cid, clean=False, props=props)
    sub.subscribe([(t, 2)])
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"q2", qos=2)
    p = sub.recv_type(PUBLISH)
    sub.ack(PUBREC, p.pid)
    assert sub.recv_type(PUBREL).pid == p.pid
    sub.abort()
    sub = Raw(mb, version)
    assert sub.connect(client_id=cid, clean=False, props=props).session_present
    rel = sub.recv_type(PUBREL)
    assert rel.pid == p.pid
    sub.ack(PUBCOMP, p.pid)
    assert sub.publishes(0.4) == []
    sub.close()
    pub.disconnect()
    Raw(mb, version).connect(client_id=cid, clean=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_order_preserved_qos1(mb, version):
    t = utopic()
    sub = Paho(mb, version)
    sub.connect()
    sub.subscribe(t, 1)
    pub = Raw(mb, version)
    pub.connect()
    for i in range(200):
        pub.publish(t, str(i), qos=1, pid=i + 1)
    for i in range(200):
        pub.recv_type(PUBACK)
    msgs = sub.wait(200)
    assert [m.payload for m in msgs] == [str(i).encode() for i in range(200)]
    sub.disconnect()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_unreceived_qos2_publish_resent_with_dup(mb, version):
    """A QoS 2 PUBLISH not yet PUBREC'd is re-sent (DUP, same id) on resume."""
    t = utopic()
    cid = uid()
    props = {P.SESSION_EXPIRY: 60} if version == V5 else None
    sub = Raw(mb, version)
    sub.connect(client_id=cid, clean=False, props=props)
    sub.subscribe([(t, 2)])
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"q2 again", qos=2)
    first = sub.recv_type(PUBLISH)
    sub.abort()
    sub = Raw(mb, version)
    assert sub.connect(client_id=cid, clean=False, props=props).session_present
    again = sub.recv_type(PUBLISH)
    assert (again.dup, again.pid, again.qos, again.payload) == \
        (True, first.pid, 2, b"q2 again")
    sub.ack(PUBREC, again.pid)
    assert sub.recv_type(PUBREL).pid == again.pid
    sub.ack(PUBCOMP, again.pid)
    assert sub.publishes(0.4) == []
    sub.close()
    pub.disconnect()
    Raw(mb, version).connect(client_id=cid, clean=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_puback_for_unknown_id_ignored(mb, version):
    c = Raw(mb, version)
    c.connect()
    c.ack(PUBACK, 999)
    c.ack(PUBCOMP, 998)
    assert c.is_open(0.4)
    assert_mqtt_serves(mb, version)
    c.close()


def test_receive_maximum_on_resume(mb):
    """Messages queued for an offline session are sent within the receive
    maximum given on the new CONNECT."""
    t = utopic()
    cid = uid()
    sub = Raw(mb, V5)
    sub.connect(client_id=cid, clean=False, props={P.SESSION_EXPIRY: 60})
    sub.subscribe([(t, 1)])
    sub.disconnect()
    sub.close()
    wait_gone(mb, cid)      # offline: the messages below are queued, none in flight
    pub = Raw(mb, V5)
    pub.connect()
    for i in range(5):
        pub.publish(t, str(i), qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    sub = Raw(mb, V5)
    sub.connect(client_id=cid, clean=False,
                props={P.SESSION_EXPIRY: 0, P.RECEIVE_MAXIMUM: 2})
    first = sub.publishes(0.5, ack=False)
    assert [p.payload for p in first] == [b"0", b"1"]
    for p in first:
        sub.ack(PUBACK, p.pid)
    assert [p.payload for p in sub.publishes(0.5)] == [b"2", b"3", b"4"]
    sub.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_many_qos1_pipelined(mb, version):
    """1000 QoS 1 publishes sent back to back: every one acknowledged and
    delivered once, in order. (The subscriber reads only afterwards: the
    burst stays within what its session may queue beyond its in-flight
    window, max_queued_messages, 1000 by default as in Mosquitto.)"""
    t = utopic()
    sub = Raw(mb, version)
    sub.connect()
    sub.subscribe([(t, 1)])
    pub = Raw(mb, version)
    pub.connect()
    n = 1000
    pub.send(b"".join(pub.publish(t, str(i), qos=1, pid=i % 60000 + 1, send=False)
                      for i in range(n)))
    acks = [pub.recv_type(PUBACK, 5).pid for _ in range(n)]
    assert acks == [i % 60000 + 1 for i in range(n)]
    got = [sub.recv_publish(5).payload for _ in range(n)]
    assert got == [str(i).encode() for i in range(n)]
    sub.close()
    pub.close()
