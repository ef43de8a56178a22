"""Session takeover and session lifetimes, as a client with an ordinary
account can drive them: the same client id connecting again while the
first connection is still open, still flushing after its DISCONNECT, or
holding unacknowledged QoS 1/2 deliveries; clean and persistent sessions
replacing each other; client ids of every awkward length. The broker
must neither crash (an assertion is a denial of service) nor publish a
will the client discarded [MQTT-3.1.2-10]. Run under ASan as well (the
CI does) and with broker.io_threads 0 and 1 (SLUICE_IO_THREADS).
"""
import socket
import struct

from http_helpers import api
from mqtt_helpers import *  # noqa: F401,F403
from mqttraw import Raw

pytestmark = sluice_only


def stuck_client(b, version):
    """A raw client whose socket reads almost nothing: once the broker has
    written a few hundred kilobytes to it, its output cannot drain."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((b.mqtt_host, b.mqtt_port))
    s.settimeout(3.0)
    r = Raw.__new__(Raw)
    r.version, r.sock, r.buf, r.aliases = version, s, b"", {}
    return r


def sync(r):
    """Everything r sent before has been handled by the broker."""
    r.send(packet(PINGREQ, 0, b""))
    r.recv_type(PINGRESP)


def conn_state(b, cid):
    st, conns, _ = api(b, "GET", "/api/connections")
    assert st == 200
    for c in conns:
        if c.get("client_id") == cid:
            return c.get("state")
    return None


def fill_output(b, version, victim_filter):
    """Publish enough to victim_filter that the stuck client's output is full."""
    p = Raw(b, version)
    p.connect(client_id=uid("flood"))
    body = b"x" * 65536
    for _ in range(160):
        p.publish(victim_filter, body)
    sync(p)
    return p


def marker_after_will(obs, b, version, will_topic):
    """Publish a marker to the will topic; the payloads obs received up to
    and including it (a will routed before the marker comes first)."""
    m = Raw(b, version)
    m.connect(client_id=uid("marker"))
    m.publish(will_topic, b"marker", qos=1, pid=7)
    m.recv_type(PUBACK)
    got = []
    while True:
        p = obs.recv_type(PUBLISH)
        got.append(p.payload)
        if p.payload == b"marker":
            return got


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
@pytest.mark.parametrize("said_bye", [True, False], ids=["disconnect", "no-disconnect"])
def test_takeover_of_a_connection_with_output_waiting(make_mqtt_broker, version, clean,
                                                      said_bye):
    """A DISCONNECT discards the will, even when the connection is still
    flushing its output when the same client id connects again; without
    one the will goes out before the new CONNACK. (The output limit is
    high so that the broker still reads the DISCONNECT behind the output
    the client does not take.)"""
    mb = make_mqtt_broker("--set", "mqtt.output_high_watermark=256M")
    cid, will_topic, flood = uid("tk"), utopic("will"), utopic("flood")
    obs = Raw(mb, version)
    obs.connect(client_id=uid("obs"))
    obs.subscribe([(will_topic, 0)])
    props = {P.SESSION_EXPIRY: 0 if clean else 300} if version == V5 else None
    a = stuck_client(mb, version)
    ack = a.connect(client_id=cid, clean=clean, props=props,
                    will={"topic": will_topic, "payload": b"will"})
    assert ack.rc == 0
    a.subscribe([(flood, 0)])
    p = fill_output(mb, version, flood)
    if said_bye:
        a.disconnect()
        # the broker has read the DISCONNECT; the output is still waiting
        assert wait_for(lambda: conn_state(mb, cid) == "closing", 5)
    b2 = Raw(mb, version)
    assert b2.connect(client_id=cid, clean=clean, props=props).rc == 0
    want = [b"marker"] if said_bye else [b"will", b"marker"]
    assert marker_after_will(obs, mb, version, will_topic) == want
    b2.disconnect()
    for c in (a, b2, p, obs):
        c.close()
    assert mb.alive()


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_without_disconnect_publishes_the_will(mb, version):
    """The control: a connection taken over without DISCONNECT ends
    abnormally, and its will goes out before the new CONNACK."""
    cid, will_topic = uid("tk"), utopic("will")
    obs = Raw(mb, version)
    obs.connect(client_id=uid("obs"))
    obs.subscribe([(will_topic, 0)])
    a = Raw(mb, version)
    assert a.connect(client_id=cid, will={"topic": will_topic, "payload": b"will"}).rc == 0
    b2 = Raw(mb, version)
    assert b2.connect(client_id=cid).rc == 0
    assert marker_after_will(obs, mb, version, will_topic) == [b"will", b"marker"]
    for c in (a, b2, obs):
        c.close()


def qos1_in_flight(c, n):
    """Read n QoS 1 publishes without acknowledging them: their ids."""
    return [c.recv_publish(ack=False).pid for _ in range(n)]


@pytest.mark.parametrize("version", VERSIONS)
def test_clean_and_persistent_take_over_each_other(mb, version):
    """One client id swapped between a persistent session with deliveries
    in flight, a clean one (held in its connection's block) and back,
    each taking over the last while it is connected; then the same with
    the connection that held the clean session half-closed."""
    cid, topic = uid("swap"), utopic("swap")
    pub = Raw(mb, version)
    pub.connect(client_id=uid("pub"))

    def persistent():
        props = {P.SESSION_EXPIRY: 600} if version == V5 else None
        c = Raw(mb, version)
        ack = c.connect(client_id=cid, clean=False, props=props)
        assert ack.rc == 0
        return c, ack

    def clean():
        c = Raw(mb, version)
        assert c.connect(client_id=cid, clean=True).rc == 0
        return c

    p1, _ = persistent()
    p1.subscribe([(topic, 1)])
    for i in range(3):
        pub.publish(topic, b"m%d" % i, qos=1, pid=i + 1)
        pub.recv_type(PUBACK)
    qos1_in_flight(p1, 3)
    p2, ack = persistent()                     # takes over with 3 in flight
    assert ack.session_present
    got = sorted(p2.recv_publish().payload for _ in range(3))
    assert got == [b"m0", b"m1", b"m2"]
    c1 = clean()                               # ends the persistent session
    c1.subscribe([(topic, 1)])
    pub.publish(topic, b"c", qos=1, pid=9)
    pub.recv_type(PUBACK)
    qos1_in_flight(c1, 1)
    c2 = clean()                               # clean takes over clean
    c2.subscribe([(topic, 1)])
    p3, ack = persistent()                     # persistent takes over clean
    assert not ack.session_present
    p3.subscribe([(topic, 1)])
    c3 = clean()
    c3.subscribe([(topic, 1)])
    c3.sock.shutdown(socket.SHUT_WR)           # half-closed, not yet freed
    p4, ack = persistent()
    assert not ack.session_present
    pub.publish(topic, b"last", qos=1, pid=10)
    pub.recv_type(PUBACK)
    p4.subscribe([(topic, 1)])
    for c in (p1, p2, c1, c2, p3, c3):
        c.closed()
    p4.disconnect()
    p4.close()
    pub.close()
    assert_mqtt_serves(mb, version)


# 0 is assigned (clean only in 3.1.1); 23 is 3.1's limit; 65535 the most a
# string holds
CID_LENGTHS = [0, 1, 7, 8, 9, 15, 16, 23, 24, 255, 256, 65535]


def long_id(n):
    """n octets of UTF-8, two-octet characters among them from 4 on."""
    head = ("%d-" % n)[:n]
    rest = n - len(head)
    return head + "\u00e9" * (rest // 2) + "z" * (rest % 2)


@pytest.mark.parametrize("version", VERSIONS)
def test_client_ids_of_every_length(make_mqtt_broker, version):
    """Each length as a clean and a persistent session, taken over by the
    same id, with a message through the persistent one. (A CONNECT with
    a 65535-octet id is over the default max_connect_size of 64k.)"""
    mb = make_mqtt_broker("--set", "mqtt.max_connect_size=128k")
    topic = utopic("len")
    pub = Raw(mb, version)
    pub.connect(client_id=uid("pub"))
    for n in CID_LENGTHS:
        cid = long_id(n)
        assert len(cid.encode()) == n
        for clean in (True, False):
            if n == 0 and not clean and version == V311:
                continue
            props = {P.SESSION_EXPIRY: 0 if clean else 60} if version == V5 else None
            a = Raw(mb, version)
            assert a.connect(client_id=cid, clean=clean, props=props).rc == 0, (n, clean)
            sa = a.subscribe([(topic, 1)])
            b2 = Raw(mb, version)
            ack = b2.connect(client_id=cid, clean=clean, props=props)
            assert ack.rc == 0
            # the same session when named; a new one when assigned
            assert ack.session_present == (not clean and n > 0), (n, clean)
            if n == 0:
                assert a.is_open()
                a.disconnect()
            else:
                a.closed()
            if sa.codes[0] < 0x80 and not clean and n > 0:
                pub.publish(topic, b"to %d" % n, qos=1, pid=1)
                pub.recv_type(PUBACK)
                assert b2.recv_publish().payload == b"to %d" % n
            b2.disconnect()
            a.close()
            b2.close()
            if not clean:
                c = Raw(mb, version)
                assert c.connect(client_id=cid, clean=True).rc == 0
                c.disconnect()
                c.close()
    pub.close()
    assert_mqtt_serves(mb, version)


def test_odd_bytes_in_client_id_close_the_connection(mb):
    """A client id that is not UTF-8, or holds U+0000, is a malformed
    packet: closed, and the login's strings (client id then user, one
    after the other in one block) cannot be shifted by it."""
    for cid in (b"\xff\xfe", b"ab\x00guest", b"\xc0\x80", b"\xed\xa0\x80"):
        c = Raw(mb, V311)
        body = (mstr("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 30) +
                mstr(cid) + mstr(USER) + mbin(PASSWORD))
        c.send(packet(CONNECT, 0, body))
        c.closed()
        c.close()
    assert_mqtt_serves(mb, V311)



def acks_on_an_empty_session(c, version):
    """Every acknowledgement and UNSUBSCRIBE a session that never
    subscribed can be sent (its receive part is the shared empty one)."""
    c.ack(PUBACK, 5)
    c.ack(PUBCOMP, 7)
    if version == V5:
        c.ack(PUBREC, 6, rc=0x80)           # refused: nothing to release
    c.ack(PUBREC, 6)                        # released anyway
    assert c.recv_type(PUBREL).pid == 6
    c.ack(PUBREL, 8)
    assert c.recv_type(PUBCOMP).pid == 8
    u = c.unsubscribe(["never/" + uid()])
    if version == V5:
        assert u.codes == [0x11]
    s = c.subscribe([("bad/#/filter", 1)])  # malformed: not made
    assert s.codes == [0x8F if version == V5 else 0x80]
    c.publish(utopic("q2"), b"x", qos=2, pid=9)
    assert c.recv_type(PUBREC).pid == 9
    c.ack(PUBREL, 9)
    assert c.recv_type(PUBCOMP).pid == 9


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
def test_sessions_that_never_subscribed(mb, version, clean):
    cid, topic = uid("empty"), utopic("ret")
    props = {P.SESSION_EXPIRY: 0 if clean else 60} if version == V5 else None
    will = {"topic": utopic("w"), "payload": b"w", "props": {P.WILL_DELAY: 30}}
    a = Raw(mb, version)
    assert a.connect(client_id=cid, clean=clean, props=props, will=will).rc == 0
    acks_on_an_empty_session(a, version)
    a.abort()                               # the will waits (v5) or goes
    b2 = Raw(mb, version)
    ack = b2.connect(client_id=cid, clean=clean, props=props)
    assert ack.session_present == (not clean)
    acks_on_an_empty_session(b2, version)
    b2.publish(topic, b"kept", qos=1, pid=3, retain=True)
    assert b2.recv_type(PUBACK).pid == 3
    b2.subscribe([(topic, 1)])              # the first subscription
    p = b2.recv_publish()
    assert p.payload == b"kept" and p.retain
    b2.unsubscribe([topic])
    b2.publish(topic, b"", qos=1, pid=4, retain=True)
    assert b2.recv_type(PUBACK).pid == 4
    b2.disconnect()
    b2.close()
    assert_mqtt_serves(mb, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_long_and_empty_login_names(mb, version):
    """The login's strings share one block with the session's key: a long
    user name owns its sessions like a short one, and a vhost part that is
    empty or too long is refused, not truncated into another vhost."""
    from authz_helpers import user
    long_user = "u" * 900
    user(mb, long_user)
    user(mb, long_user[:-1])                 # one octet shorter: someone else
    cid = "x"
    a = Raw(mb, version)
    ack = a.connect(client_id=cid, clean=False, username=long_user, password="pw",
                    props={P.SESSION_EXPIRY: 60} if version == V5 else None)
    assert ack.rc == 0
    a.subscribe([(utopic("l"), 1)])
    other = Raw(mb, version)
    refused = other.connect(client_id=cid, username=long_user[:-1], password="pw")
    assert refused.rc == (0x87 if version == V5 else 5)
    assert a.is_open()
    b2 = Raw(mb, version)
    assert b2.connect(client_id=cid, clean=False, username="/:" + long_user,
                      password="pw").session_present
    a.closed()
    for name in (":guest", "v" * 300 + ":guest", "nosuchvhost:guest"):
        c = Raw(mb, version)
        assert c.connect(client_id=uid(), username=name).rc == (0x87 if version == V5 else 5)
        c.close()
    b2.disconnect()
    for c in (a, b2, other):
        c.close()
    assert_mqtt_serves(mb, version)


def test_session_table_grows_under_takeovers(mb):
    """Over 512 sessions (the table doubles at 256 and 512), made while
    others are taken over and ended: each is found again afterwards."""
    base = uid("grow")
    held = []
    for i in range(520):
        c = Raw(mb, V311)
        assert c.connect(client_id="%s-%d" % (base, i), clean=False).rc == 0
        if i % 8 == 0:
            held.append(c)                  # stays connected: taken over below
        else:
            c.disconnect()
            c.close()
        if i % 64 == 63:                    # a clean session in between
            t = Raw(mb, V311)
            assert t.connect(client_id="%s-%d" % (base, i - 1), clean=True).rc == 0
            t.disconnect()
            t.close()
    for clean in (False, True):
        for i in range(520):
            c = Raw(mb, V311)
            ack = c.connect(client_id="%s-%d" % (base, i), clean=clean)
            assert ack.rc == 0
            # ended by the clean session in between, or now by clean
            assert ack.session_present == (not clean and i % 64 != 62), i
            c.disconnect()
            c.close()
    for c in held:
        c.closed()
    c = Raw(mb, V311)
    assert not c.connect(client_id="%s-%d" % (base, 5), clean=False).session_present
    c.disconnect()
    c.close()
    assert_mqtt_serves(mb, V311)


@pytest.mark.parametrize("version", VERSIONS)
def test_takeover_in_the_middle_of_a_retained_walk(mb, version):
    """A subscriber that stops acknowledging holds its retained walk at the
    in-flight window; a persistent takeover resumes the walk where it
    stopped (re-sending what was in flight), and a clean one ends it."""
    base = utopic("walk")
    n = 60
    pub = Raw(mb, version)
    pub.connect(client_id=uid("pub"))
    for i in range(n):
        pub.publish("%s/%02d" % (base, i), b"r%02d" % i, qos=1, pid=i + 1, retain=True)
        pub.recv_type(PUBACK)
    cid = uid("walker")
    props = {P.SESSION_EXPIRY: 600, P.RECEIVE_MAXIMUM: 5} if version == V5 else None
    a = Raw(mb, version)
    assert a.connect(client_id=cid, clean=False, props=props).rc == 0
    a.subscribe([(base + "/#", 1)])
    first = [a.recv_publish(ack=False) for _ in range(5 if version == V5 else 20)]
    b2 = Raw(mb, version)
    assert b2.connect(client_id=cid, clean=False, props=props).session_present
    got = set()
    while len(got) < n:
        p = b2.recv_publish()
        got.add(p.payload)
    assert got == {b"r%02d" % i for i in range(n)}
    assert {p.payload for p in first} <= got
    a.closed()
    # again, held, and a clean session takes over: the walk ends with it
    b2.subscribe([(base + "/#", 1)])
    [b2.recv_publish(ack=False) for _ in range(5 if version == V5 else 20)]
    c = Raw(mb, version)
    assert not c.connect(client_id=cid, clean=True).session_present
    b2.closed()
    c.disconnect()
    c.close()
    for i in range(n):
        pub.publish("%s/%02d" % (base, i), b"", qos=1, pid=i + 1, retain=True)
        pub.recv_type(PUBACK)
    pub.close()
    assert_mqtt_serves(mb, version)
