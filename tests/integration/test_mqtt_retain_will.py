"""Retained messages (set, replace, clear, wildcards, v5 retain handling and
retain-as-published) and wills (abnormal close, keepalive timeout, not
after DISCONNECT, v5 will delay)."""
from mqtt_helpers import *  # noqa: F401,F403


def subscriber(b, version, filters, **kw):
    c = Raw(b, version)
    c.connect(**kw)
    c.subscribe(filters)
    return c


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_set_replace_clear(mb, version, clean_retained):
    t = utopic() + "/r"
    clean_retained.append(t)
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"first", qos=1, pid=1, retain=True)
    pub.recv_type(PUBACK)
    s = subscriber(mb, version, [(t, 1)])
    p = s.recv_publish()
    assert (p.payload, p.retain, p.qos) == (b"first", True, 1)
    s.close()
    pub.publish(t, b"second", qos=1, pid=2, retain=True)
    pub.recv_type(PUBACK)
    s = subscriber(mb, version, [(t, 1)])
    got = s.publishes(0.5)
    assert [(p.payload, p.retain) for p in got] == [(b"second", True)]
    s.close()
    pub.publish(t, b"", qos=1, pid=3, retain=True)        # clears
    pub.recv_type(PUBACK)
    s = subscriber(mb, version, [(t, 1)])
    assert s.publishes(0.5) == []
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_retained_publish_still_delivered_live(mb, version, clean_retained):
    """[MQTT-3.3.1-10] a zero-byte retained PUBLISH goes to current
    subscribers as normal."""
    t = utopic()
    s = subscriber(mb, version, [(t, 0)])
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"", retain=True)
    got = s.publishes(0.5)
    assert [p.payload for p in got] == [b""]
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("filt", ["+/r", "#", "x/+", "x/#", "+/+"])
def test_retained_through_wildcards(mb, version, filt, clean_retained):
    base = utopic()
    clean_retained.extend([base + "/x/r", base + "/y/r"])
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(base + "/x/r", b"xr", retain=True)
    pub.publish(base + "/y/r", b"yr", retain=True)
    pub.send(packet(PINGREQ, 0, b""))
    pub.recv_type(PINGRESP)
    s = subscriber(mb, version, [(base + "/" + filt, 0)])
    got = sorted((p.topic, p.payload, p.retain) for p in s.publishes(0.5))
    want = {"+/r": [("/x/r", b"xr"), ("/y/r", b"yr")],
            "#": [("/x/r", b"xr"), ("/y/r", b"yr")],
            "x/+": [("/x/r", b"xr")], "x/#": [("/x/r", b"xr")],
            "+/+": [("/x/r", b"xr"), ("/y/r", b"yr")]}[filt]
    assert got == sorted((base + t, p, True) for t, p in want)
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_live_delivery_clears_retain_flag(mb, version, clean_retained):
    """A message reaching an existing subscription has RETAIN 0 (v3.1.1
    [MQTT-3.3.1-9]; v5 unless retain-as-published)."""
    t = utopic()
    clean_retained.append(t)
    s = subscriber(mb, version, [(t, 0)])
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"live", retain=True)
    p = s.recv_publish()
    assert p.payload == b"live" and not p.retain
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_qos_downgraded(mb, version, clean_retained):
    t = utopic()
    clean_retained.append(t)
    pub = Paho(mb, version)
    pub.connect()
    pub.publish(t, b"q2", qos=2, retain=True)
    s0 = subscriber(mb, version, [(t, 0)])
    s2 = subscriber(mb, version, [(t, 2)])
    assert s0.recv_publish().qos == 0
    p = s2.recv_publish()
    assert (p.payload, p.qos, p.retain) == (b"q2", 2, True)
    pub.disconnect()
    s0.close()
    s2.close()


def test_v5_retain_handling(mb, clean_retained):
    """Retain Handling 0: on every subscribe; 1: only for a new
    subscription; 2: never [MQTT-3.3.1-9..11]."""
    t = utopic()
    clean_retained.append(t)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"kept", qos=1, pid=1, retain=True)
    pub.recv_type(PUBACK)
    c = Raw(mb, V5)
    c.connect()
    rh = lambda n: 1 | (n << 4)              # noqa: E731  options: QoS 1 + RH
    c.subscribe([(t, rh(0))], pid=1)
    assert [p.payload for p in c.publishes(0.4)] == [b"kept"]
    c.subscribe([(t, rh(0))], pid=2)        # existing subscription: sent again
    assert [p.payload for p in c.publishes(0.4)] == [b"kept"]
    c.subscribe([(t, rh(1))], pid=3)        # exists: not sent
    assert c.publishes(0.4) == []
    c.unsubscribe(t, pid=4)
    c.subscribe([(t, rh(1))], pid=5)        # new: sent
    assert [p.payload for p in c.publishes(0.4)] == [b"kept"]
    c.unsubscribe(t, pid=6)
    c.subscribe([(t, rh(2))], pid=7)        # never
    assert c.publishes(0.4) == []
    c.close()
    pub.close()


def test_v5_retain_handling_3_is_protocol_error(mb):
    c = Raw(mb, V5)
    c.connect()
    c.subscribe([(utopic(), 1 | (3 << 4))], wait=False)
    c.expect_close((0x81, 0x82))


def test_v5_retain_as_published(mb, clean_retained):
    t = utopic()
    clean_retained.append(t)
    rap = Raw(mb, V5)
    rap.connect()
    rap.subscribe([(t, 0x08)])                # retain as published, QoS 0
    plain = Raw(mb, V5)
    plain.connect()
    plain.subscribe([(t, 0x00)])
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"r", retain=True)
    pub.publish(t, b"n", retain=False)
    assert [(p.payload, p.retain) for p in rap.publishes(0.5)] == \
        [(b"r", True), (b"n", False)]
    assert [(p.payload, p.retain) for p in plain.publishes(0.5)] == \
        [(b"r", False), (b"n", False)]
    for c in (rap, plain, pub):
        c.close()


def test_v5_retained_keeps_properties(mb, clean_retained):
    t = utopic()
    clean_retained.append(t)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"{}", qos=1, pid=1, retain=True,
                props=[(P.CONTENT_TYPE, "application/json"),
                       (P.USER_PROPERTY, ("k", "v"))])
    pub.recv_type(PUBACK)
    s = subscriber(mb, V5, [(t, 1)])
    p = s.recv_publish()
    assert p.props.get(P.CONTENT_TYPE) == "application/json"
    assert p.props.get(P.USER_PROPERTY) == [("k", "v")]
    s.close()
    pub.close()


# ---- wills -------------------------------------------------------------------

def will_watch(b, version, topic):
    return subscriber(b, version, [(topic, 1)])


@pytest.mark.parametrize("version", VERSIONS)
def test_will_on_socket_close(mb, version):
    t = utopic() + "/will"
    w = will_watch(mb, version, t)
    c = Raw(mb, version)
    c.connect(will={"topic": t, "payload": b"gone", "qos": 1})
    c.abort()
    p = w.recv_publish(timeout=3)
    assert (p.topic, p.payload, p.qos) == (t, b"gone", 1)
    w.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_will_on_paho_connection_drop(mb, version):
    t = utopic() + "/will"
    w = will_watch(mb, version, t)
    c = Paho(mb, version, will={"topic": t, "payload": b"paho gone", "qos": 0})
    c.connect()
    c.kill()
    assert w.recv_publish(timeout=3).payload == b"paho gone"
    w.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_will_on_keepalive_timeout(mb, version):
    """keepalive 1, then silence: the will comes within ~1.5 s (+ slack)."""
    t = utopic() + "/will"
    w = will_watch(mb, version, t)
    c = Raw(mb, version)
    c.connect(keepalive=1, will={"topic": t, "payload": b"silent", "qos": 0})
    t0 = time.time()
    p = w.recv_publish(timeout=KEEPALIVE_CLOSE + 0.5)
    assert p.payload == b"silent"
    assert 1.0 <= time.time() - t0 <= KEEPALIVE_CLOSE
    c.close()
    w.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_no_will_after_disconnect(mb, version):
    t = utopic() + "/will"
    w = will_watch(mb, version, t)
    c = Raw(mb, version)
    c.connect(will={"topic": t, "payload": b"should not", "qos": 1})
    c.disconnect()
    assert c.closed() == []
    assert w.publishes(0.8) == []
    w.close()


def test_v5_disconnect_with_will(mb):
    """DISCONNECT reason 0x04: close normally but publish the will."""
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    c = Raw(mb, V5)
    c.connect(will={"topic": t, "payload": b"asked for", "qos": 1})
    c.disconnect(rc=0x04)
    assert w.recv_publish().payload == b"asked for"
    w.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_will_retained(mb, version, clean_retained):
    t = utopic() + "/will"
    clean_retained.append(t)
    cid = uid()
    c = Raw(mb, version)
    c.connect(client_id=cid, will={"topic": t, "payload": b"last words", "qos": 1,
                                   "retain": True})
    c.abort()
    time.sleep(0.3)
    wait_gone(mb, cid)      # the will is out (and retained) before the subscribe
    late = subscriber(mb, version, [(t, 1)])
    p = late.recv_publish()
    assert (p.payload, p.retain) == (b"last words", True)
    late.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_will_on_protocol_error(mb, version):
    """A connection closed for bad input is not a normal disconnect: will."""
    t = utopic() + "/will"
    w = will_watch(mb, version, t)
    c = Raw(mb, version)
    c.connect(will={"topic": t, "payload": b"broken", "qos": 0})
    c.send(packet(SUBSCRIBE, 0, b"\x00\x01\x00\x01a\x00"))   # reserved flags 0
    c.closed()
    assert w.recv_publish().payload == b"broken"
    w.close()


def test_v5_will_properties(mb):
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    c = Raw(mb, V5)
    c.connect(will={"topic": t, "payload": b"{}", "qos": 1,
                    "props": [(P.CONTENT_TYPE, "application/json"),
                              (P.USER_PROPERTY, ("why", "crash"))]})
    c.abort()
    p = w.recv_publish()
    assert p.props.get(P.CONTENT_TYPE) == "application/json"
    assert p.props.get(P.USER_PROPERTY) == [("why", "crash")]
    w.close()


def test_v5_will_delay(mb):
    """Will Delay Interval 2 (session expiry 10): not at the close, but ~2 s
    later [MQTT-3.1.3-9]."""
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    cid = uid()
    c = Raw(mb, V5)
    c.connect(client_id=cid, clean=False, props={P.SESSION_EXPIRY: 10},
              will={"topic": t, "payload": b"delayed", "props": [(P.WILL_DELAY, 2)]})
    c.abort()
    t0 = time.time()
    assert w.publishes(1.2) == []
    p = w.recv_publish(timeout=3)
    assert p.payload == b"delayed"
    assert 1.5 <= time.time() - t0 <= 4.0
    w.close()
    Raw(mb, V5).connect(client_id=cid, clean=True)


def test_v5_will_delay_cancelled_by_reconnect(mb):
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    cid = uid()
    args = dict(client_id=cid, clean=False, props={P.SESSION_EXPIRY: 10},
                will={"topic": t, "payload": b"cancelled", "props": [(P.WILL_DELAY, 2)]})
    c = Raw(mb, V5)
    c.connect(**args)
    c.abort()
    time.sleep(0.3)
    c = Raw(mb, V5)
    assert c.connect(client_id=cid, clean=False,
                     props={P.SESSION_EXPIRY: 10}).session_present
    assert w.publishes(2.8) == []
    c.disconnect()
    c.close()
    w.close()
    Raw(mb, V5).connect(client_id=cid, clean=True)


def test_v5_will_sent_at_session_end_if_sooner(mb):
    """Will delay 10 but session expiry 1: the will goes when the session
    ends [MQTT-3.1.3-9 note]."""
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    c = Raw(mb, V5)
    c.connect(clean=False, props={P.SESSION_EXPIRY: 1},
              will={"topic": t, "payload": b"session over", "props": [(P.WILL_DELAY, 10)]})
    c.abort()
    p = w.recv_publish(timeout=4)
    assert p.payload == b"session over"
    w.close()


def test_v5_retained_message_expiry(mb, clean_retained):
    """A retained message with Message Expiry 1 is gone after 2 s."""
    t = utopic()
    clean_retained.append(t)
    pub = Raw(mb, V5)
    pub.connect()
    pub.publish(t, b"short-lived", qos=1, pid=1, retain=True,
                props=[(P.MESSAGE_EXPIRY, 1)])
    pub.recv_type(PUBACK)
    s = subscriber(mb, V5, [(t, 1)])
    assert s.recv_publish().payload == b"short-lived"
    s.close()
    time.sleep(2.1)
    s = subscriber(mb, V5, [(t, 1)])
    assert s.publishes(0.4) == []
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_retained_topic_with_dots(mb, version, clean_retained):
    base = utopic()
    t = base + "/a.b/c"
    clean_retained.append(t)
    pub = Raw(mb, version)
    pub.connect()
    pub.publish(t, b"dotted", qos=1, pid=1, retain=True)
    pub.recv_type(PUBACK)
    s = subscriber(mb, version, [(base + "/a.b/+", 1)])
    p = s.recv_publish()
    assert (p.topic, p.payload, p.retain) == (t, b"dotted", True)
    s.close()
    s = subscriber(mb, version, [(base + "/a/b/+", 1)])
    assert s.publishes(0.4) == []
    s.close()
    pub.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_many_retained_on_wildcard_subscribe(mb, version, clean_retained):
    base = utopic()
    pub = Raw(mb, version)
    pub.connect()
    for i in range(50):
        clean_retained.append(base + "/%d" % i)
        pub.publish(base + "/%d" % i, str(i), retain=True)
    pub.send(packet(PINGREQ, 0, b""))
    pub.recv_type(PINGRESP)
    s = subscriber(mb, version, [(base + "/+", 0)])
    got = sorted(int(p.payload) for p in s.publishes(0.8))
    assert got == list(range(50))
    s.close()
    pub.close()


def test_v5_will_on_takeover(mb):
    """A taken-over connection's will (no delay) is published [MQTT-3.1.4-3
    with 3.1.3.2.2]."""
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    cid = uid()
    a = Raw(mb, V5)
    a.connect(client_id=cid, will={"topic": t, "payload": b"taken"})
    b = Raw(mb, V5)
    b.connect(client_id=cid)
    assert w.recv_publish().payload == b"taken"
    b.close()
    w.close()


@mosquitto_differs("waits for the will delay although the session has ended")
def test_v5_will_delay_without_session_expiry(mb):
    """Will delay 5 with session expiry 0: the session ends at the close,
    so the will goes at once."""
    t = utopic() + "/will"
    w = will_watch(mb, V5, t)
    c = Raw(mb, V5)
    c.connect(will={"topic": t, "payload": b"now", "props": [(P.WILL_DELAY, 5)]})
    c.abort()
    assert w.recv_publish(timeout=1.5).payload == b"now"
    w.close()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_retained_tree_edges(mb, version, clean_retained):
    """The retained store's topic tree: "a/#" also matches "a", empty
    levels are levels, a cleared topic leaves its neighbours, and only
    filters that name the '$' see '$' topics [MQTT-4.7.2-1]."""
    base = utopic()
    topics = {base: b"root", base + "/a": b"a", base + "//e": b"empty",
              base + "/a/b/c": b"abc", "$" + base[2:] + "/d": b"dollar"}
    clean_retained.extend(topics)
    pub = Raw(mb, version)
    pub.connect()
    for t, body in topics.items():
        pub.publish(t, body, retain=True)
    pub.publish(base + "/a/b/c", b"", retain=True)      # cleared
    pub.send(packet(PINGREQ, 0, b""))
    pub.recv_type(PINGRESP)

    def seen(filt):
        s = subscriber(mb, version, [(filt, 0)])
        got = sorted(p.payload for p in s.publishes(0.4))
        s.close()
        return got

    assert seen(base + "/#") == sorted([b"root", b"a", b"empty"])
    assert seen(base + "/+/e") == [b"empty"]
    assert seen(base + "/+") == [b"a"]
    assert seen(base + "/a/b/c") == []
    assert b"dollar" not in seen("#") and b"dollar" not in seen("+/d")
    assert seen("$" + base[2:] + "/#") == [b"dollar"]
    pub.close()
