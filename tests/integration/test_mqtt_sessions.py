"""MQTT sessions: clean session / clean start, persistent sessions that
collect while the client is away, takeover, v5 session expiry and
server-assigned client identifiers."""
from mqtt_helpers import *  # noqa: F401,F403


def persistent(version, expiry=60):
    """CONNECT arguments for a session that outlives the connection."""
    return {"clean": False,
            "props": {P.SESSION_EXPIRY: expiry} if version == V5 else None}


def drop_session(b, version, cid):
    c = Raw(b, version)
    c.connect(client_id=cid, clean=True)
    c.disconnect()
    c.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_clean_session_forgets(mb, version):
    t = utopic()
    cid = uid()
    c = Raw(mb, version)
    ack = c.connect(client_id=cid, clean=True)
    assert not ack.session_present
    c.subscribe([(t, 1)])
    c.disconnect()
    c.close()
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"while away", qos=1, pid=1)
    pub.recv_type(PUBACK)
    c = Raw(mb, version)
    ack = c.connect(client_id=cid, clean=True)
    assert not ack.session_present
    assert c.publishes(0.4) == []
    pub.publish(t, b"after", qos=1, pid=2)      # the subscription is gone too
    assert c.publishes(0.4) == []
    c.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_collects_while_offline(mb, version):
    t = utopic()
    cid = uid()
    c = Raw(mb, version)
    ack = c.connect(client_id=cid, **persistent(version))
    assert not ack.session_present
    c.subscribe([(t + "/#", 1)])
    c.disconnect()
    c.close()
    wait_gone(mb, cid)
    pub = Raw(mb, version)
    pub.connect()
    for i in range(5):
        pub.publish(t + "/x", "m%d" % i, qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    c = Raw(mb, version)
    ack = c.connect(client_id=cid, **persistent(version))
    assert ack.session_present
    got = [c.recv_publish() for _ in range(5)]
    assert [(p.payload, p.qos) for p in got] == [(b"m%d" % i, 1) for i in range(5)]
    pub.publish(t + "/y", b"live", qos=1, pid=9)     # subscription kept
    assert c.recv_publish().payload == b"live"
    c.disconnect()
    c.close()
    drop_session(mb, version, cid)
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_with_paho(mb, version):
    t = utopic()
    cid = uid()
    props = None
    if version == V5:
        props = props5(PacketTypes.CONNECT, SessionExpiryInterval=60)
    c = Paho(mb, version, client_id=cid, clean=False, props=props)
    assert c.connect()[1] is False
    c.subscribe(t, 1)
    c.disconnect()
    wait_gone(mb, cid)
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"offline", qos=1)
    c = Paho(mb, version, client_id=cid, clean=False, props=props)
    rc, present, _ = c.connect()
    assert present
    msgs = c.wait(1)
    assert [m.payload for m in msgs] == [b"offline"]
    c.disconnect()
    pub.disconnect()
    drop_session(mb, version, cid)


@pytest.mark.parametrize("version", VERSIONS)
def test_clean_start_discards_persistent_session(mb, version):
    t = utopic()
    cid = uid()
    c = Raw(mb, version)
    c.connect(client_id=cid, **persistent(version))
    c.subscribe([(t, 1)])
    c.close()
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"lost", qos=1, pid=1)
    pub.recv_type(PUBACK)
    c = Raw(mb, version)
    assert not c.connect(client_id=cid, clean=True).session_present
    assert c.publishes(0.4) == []
    c.disconnect()
    c.close()
    c = Raw(mb, version)
    assert not c.connect(client_id=cid, **persistent(version)).session_present
    c.close()
    drop_session(mb, version, cid)
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_closes_first_connection(mb, version):
    cid = uid()
    t = utopic()
    a = Raw(mb, version)
    assert a.connect(client_id=cid).rc == 0
    a.subscribe([(t, 0)])
    b = Raw(mb, version)
    assert b.connect(client_id=cid).rc == 0
    # v5: DISCONNECT 0x8E Session taken over [MQTT-3.1.4-3]
    a.expect_close(0x8E)
    b.subscribe([(t, 0)])
    b.publish(t, b"to b")
    assert b.recv_publish().payload == b"to b"
    b.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_keeps_persistent_session(mb, version):
    cid = uid()
    t = utopic()
    a = Raw(mb, version)
    a.connect(client_id=cid, **persistent(version))
    a.subscribe([(t, 1)])
    b = Raw(mb, version)
    ack = b.connect(client_id=cid, **persistent(version))
    assert ack.session_present
    a.closed()
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"after takeover", qos=1, pid=1)
    p = b.recv_publish()
    assert p.payload == b"after takeover" and p.qos == 1
    b.close()
    pub.close()
    drop_session(mb, version, cid)


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_by_paho_while_other_active(mb, version):
    """paho sees its connection end. (paho 1.6 reads a DISCONNECT's reason
    code only when properties follow it; the 2-octet form Mosquitto and
    Sluice send, E0 01 8E, is checked byte for byte with the raw client.)"""
    cid = uid()
    first = Paho(mb, version, client_id=cid)
    first.connect()
    second = Paho(mb, version, client_id=cid)
    second.connect()
    assert first.disconnected.wait(3)
    assert second.c.is_connected()
    second.disconnect()
    first.c.loop_stop()


@sluice_only
def test_takeover_disconnect_is_short_form(mb):
    cid = uid()
    a = Raw(mb, V5)
    a.connect(client_id=cid)
    b = Raw(mb, V5)
    b.connect(client_id=cid)
    assert a.read_raw_until_close() == bytes.fromhex("e0018e")
    b.close()


def test_v5_session_expiry_elapses(mb):
    t = utopic()
    cid = uid()
    c = Raw(mb, V5)
    c.connect(client_id=cid, **persistent(V5, expiry=1))
    c.subscribe([(t, 1)])
    c.disconnect()
    c.close()
    wait_gone(mb, cid)      # the expiry runs from the broker's close
    time.sleep(2.2)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"too late", qos=1, pid=1)
    pub.recv_type(PUBACK)
    c = Raw(mb, V5)
    ack = c.connect(client_id=cid, **persistent(V5, expiry=1))
    assert not ack.session_present
    assert c.publishes(0.4) == []
    c.close()
    pub.close()


def test_v5_session_expiry_within_interval(mb):
    t = utopic()
    cid = uid()
    c = Raw(mb, V5)
    c.connect(client_id=cid, **persistent(V5, expiry=3))
    c.subscribe([(t, 1)])
    c.abort()
    wait_gone(mb, cid)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"in time", qos=1, pid=1)
    pub.recv_type(PUBACK)
    time.sleep(0.5)
    c = Raw(mb, V5)
    assert c.connect(client_id=cid, **persistent(V5, expiry=0)).session_present
    assert c.recv_publish().payload == b"in time"
    c.disconnect()
    c.close()
    pub.close()


def test_v5_session_expiry_zero_ends_with_connection(mb):
    """clean start 0 with no Session Expiry Interval: the session ends
    when the network connection closes [MQTT-3.1.2-23 note]."""
    cid = uid()
    t = utopic()
    c = Raw(mb, V5)
    c.connect(client_id=cid, clean=False)
    c.subscribe([(t, 1)])
    c.disconnect()
    c.close()
    time.sleep(0.2)
    c = Raw(mb, V5)
    assert not c.connect(client_id=cid, clean=False).session_present
    c.close()


def test_v5_disconnect_can_set_session_expiry(mb):
    """A DISCONNECT may raise a non-zero expiry set at CONNECT; the session
    then survives the disconnect."""
    cid = uid()
    t = utopic()
    c = Raw(mb, V5)
    c.connect(client_id=cid, **persistent(V5, expiry=1))
    c.subscribe([(t, 1)])
    c.disconnect(rc=0, props={P.SESSION_EXPIRY: 60})
    c.closed()
    time.sleep(1.6)
    c = Raw(mb, V5)
    assert c.connect(client_id=cid, **persistent(V5)).session_present
    c.close()
    drop_session(mb, V5, cid)


def test_v5_disconnect_expiry_from_zero_is_protocol_error(mb):
    """[MQTT-3.14.2-2] expiry 0 at CONNECT, non-zero at DISCONNECT:
    Protocol Error (0x82)."""
    c = Raw(mb, V5)
    c.connect(clean=False)
    c.disconnect(rc=0, props={P.SESSION_EXPIRY: 30})
    c.expect_close(0x82, strict=False)


def test_v5_assigned_client_identifier(mb):
    c = Raw(mb, V5)
    ack = c.connect(client_id="")
    assert ack.rc == 0
    assigned = ack.props.get(P.ASSIGNED_CLIENT_ID)
    assert assigned, ack.props
    c2 = Raw(mb, V5)
    ack2 = c2.connect(client_id="")
    assert ack2.props.get(P.ASSIGNED_CLIENT_ID) not in (None, assigned)
    # the assigned id is a real client id: reusing it takes the session over
    c3 = Raw(mb, V5)
    assert c3.connect(client_id=assigned).rc == 0
    c.expect_close(0x8E)
    assert c2.is_open(0.2)
    c2.close()
    c3.close()


def test_v311_empty_client_id_with_clean_session(mb):
    c = Raw(mb, V311)
    ack = c.connect(client_id="", clean=True)
    assert ack.rc == 0 and not ack.session_present
    t = utopic()
    c.subscribe([(t, 0)])
    c.publish(t, b"anon id")
    assert c.recv_publish().payload == b"anon id"
    c.close()


def test_v311_empty_client_id_without_clean_session_refused(mb):
    """[MQTT-3.1.3-8] CONNACK return code 2 (identifier rejected), close."""
    c = Raw(mb, V311)
    ack = c.connect(client_id="", clean=False)
    assert ack.rc == 2 and not ack.session_present
    c.closed()
    assert_mqtt_serves(mb)


@pytest.mark.parametrize("version", VERSIONS)
def test_long_client_id(mb, version):
    """Ids longer than 23 characters may be accepted; if refused, then with
    the right code (v3 2, v5 0x85)."""
    c = Raw(mb, version)
    ack = c.connect(client_id="x" * 100 + uid())
    assert ack.rc in (0, 2 if version == V311 else 0x85)
    c.close()


def restart(make_mqtt_broker, b, data):
    b.stopped_by_test = True
    assert b.stop() == 0, b.log()
    return make_mqtt_broker("--set", data)


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_persistent_session_survives_restart(make_mqtt_broker, tmp_path, version):
    """The durable subscription and its queued QoS 1 messages outlive a
    broker restart on the same data directory."""
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_mqtt_broker("--set", data)
    t = utopic()
    cid = uid()
    c = Raw(b, version)
    c.connect(client_id=cid, **persistent(version, expiry=3600))
    c.subscribe([(t + "/+", 1)])
    c.disconnect()
    c.close()
    wait_gone(b, cid)
    pub = Raw(b, version)
    pub.connect()
    pub.publish(t + "/q", b"queued", qos=1, pid=1)
    pub.recv_type(PUBACK)
    pub.close()
    b2 = restart(make_mqtt_broker, b, data)
    c = Raw(b2, version)
    ack = c.connect(client_id=cid, **persistent(version, expiry=3600))
    assert ack.session_present
    assert [p.payload for p in c.publishes(0.8)] == [b"queued"]
    pub = Raw(b2, version)
    pub.connect()
    pub.publish(t + "/after", b"still subscribed")
    assert c.recv_publish().payload == b"still subscribed"
    c.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_subscription_options_survive_restart(make_mqtt_broker, tmp_path, version):
    """Each subscription keeps its granted QoS (and v5 subscription
    identifier) across a restart: the options live in the binding's
    arguments. Changing them replaces the binding instead of adding one."""
    from http_helpers import api
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_mqtt_broker("--set", data)
    t = utopic()
    cid = uid()
    c = Raw(b, version)
    c.connect(client_id=cid, **persistent(version, expiry=3600))
    c.subscribe([(t + "/zero", 2)])
    c.subscribe([(t + "/zero", 0)], pid=2)      # replaces: QoS 0 now
    props = {P.SUBSCRIPTION_ID: 7} if version == V5 else None
    c.subscribe([(t + "/two", 2)], pid=3, props=props)
    c.disconnect()
    c.close()
    queue = "mqtt-subscription-%sqos1" % cid
    k = t.replace("/", ".")
    st, binds, _ = api(b, "GET", "/api/bindings")
    mine = [x for x in binds if x["destination"] == queue and x["source"]]
    assert sorted(x["routing_key"] for x in mine) == sorted([k + ".zero", k + ".two"])
    assert {x["routing_key"]: x["arguments"]["x-mqtt-subscription-opts"]["qos"]
            for x in mine} == {k + ".zero": 0, k + ".two": 2}
    b2 = restart(make_mqtt_broker, b, data)
    c = Raw(b2, version)
    ack = c.connect(client_id=cid, **persistent(version, expiry=3600))
    assert ack.session_present
    pub = Raw(b2, version)
    pub.connect()
    for pid, topic in enumerate((t + "/zero", t + "/two"), 1):
        pub.publish(topic, b"x", qos=2, pid=pid)
        pub.recv_type(PUBREC)
        pub.ack(PUBREL, pid)
        pub.recv_type(PUBCOMP)
    got = {p.topic: p for p in c.publishes(0.8)}
    assert {k: p.qos for k, p in got.items()} == {t + "/zero": 0, t + "/two": 2}
    if version == V5:
        assert got[t + "/two"].props.get(P.SUBSCRIPTION_ID) in (7, [7])
    # unsubscribing a recovered subscription removes its binding
    c.unsubscribe([t + "/two"], pid=4)
    st, binds, _ = api(b2, "GET", "/api/bindings")
    assert [x["routing_key"] for x in binds
            if x["destination"] == queue and x["source"]] == [k + ".zero"]
    c.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_retained_survives_restart(make_mqtt_broker, tmp_path, version):
    data = "broker.data_dir=" + str(tmp_path / "data")
    b = make_mqtt_broker("--set", data)
    t = utopic()
    pub = Raw(b, version)
    pub.connect()
    pub.publish(t, b"retained", qos=1, pid=2, retain=True)
    pub.recv_type(PUBACK)
    pub.close()
    b2 = restart(make_mqtt_broker, b, data)
    s = Raw(b2, version)
    s.connect()
    s.subscribe([(t, 1)])
    p = s.recv_publish()
    assert (p.payload, p.retain) == (b"retained", True)
    s.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_storm_keeps_qos1_messages(mb, version):
    """Twenty rapid takeovers of one persistent session while messages
    flow: no QoS 1 message is lost (duplicates are allowed), and the
    broker stays healthy."""
    t = utopic()
    cid = uid()
    args = persistent(version)
    c = Raw(mb, version)
    c.connect(client_id=cid, **args)
    c.subscribe([(t, 1)])
    pub = Raw(mb, version)
    pub.connect()
    seen = set()
    clients = [c]
    for i in range(20):
        pub.publish(t, str(i), qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
        n = Raw(mb, version)
        assert n.connect(client_id=cid, **args).session_present
        clients.append(n)
        # read what the newest connection gets, without acking some
        for p in n.publishes(0.05, ack=bool(i % 3)):
            seen.add(p.payload)
    last = Raw(mb, version)
    assert last.connect(client_id=cid, **args).session_present
    for p in last.publishes(1.0):
        seen.add(p.payload)
    assert {str(i).encode() for i in range(20)} <= seen
    for x in clients + [last, pub]:
        x.close()
    drop_session(mb, version, cid)
    assert_mqtt_serves(mb, version)
