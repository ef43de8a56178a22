"""What the management API shows of MQTT connections: the user, vhost and
client id of each login (clean and persistent sessions, a "vhost:user"
login, a client id the server assigned), still right after other clients
have come and gone, after a session was taken over, and after the vhost
of another connection was deleted."""
from http_helpers import api, q
from mqtt_helpers import *  # noqa: F401,F403

VH = "/view"


def mqtt_conns(b):
    st, conns, _ = api(b, "GET", "/api/connections")
    assert st == 200, st
    return {c.get("client_id"): c for c in conns if c["protocol"].startswith("MQTT")}


def shown(b, want):
    """Wait until the MQTT connections are exactly want: client id ->
    (user, vhost, protocol)."""
    def view():
        return {cid: (c["user"], c["vhost"], c["protocol"]) for cid, c in mqtt_conns(b).items()}
    wait_for(lambda: view() == want, timeout=10)
    assert view() == want


@sluice_only
def test_connections_show_each_login(make_mqtt_broker):
    b = make_mqtt_broker()
    assert api(b, "PUT", "/api/vhosts/" + q(VH))[0] in (201, 204)
    assert api(b, "PUT", "/api/permissions/%s/guest" % q(VH),
               {"configure": ".*", "write": ".*", "read": ".*"})[0] in (201, 204)
    clean, durable, other = uid(), uid(), uid()
    a = Raw(b, V311)
    assert a.connect(client_id=clean).rc == 0
    d = Raw(b, V311)
    assert d.connect(client_id=durable, clean=False, username=VH + ":guest").rc == 0
    e = Raw(b, V5)
    ack = e.connect(client_id="")
    assert ack.rc == 0
    assigned = ack.props[P.ASSIGNED_CLIENT_ID]
    assigned = assigned.decode() if isinstance(assigned, bytes) else assigned
    # short-lived clients in between: their blocks are reused
    for _ in range(5):
        t = Raw(b, V311)
        assert t.connect(client_id=uid()).rc == 0
        t.disconnect()
    want = {clean: ("guest", "/", "MQTT 3.1.1"),
            durable: ("guest", VH, "MQTT 3.1.1"),
            assigned: ("guest", "/", "MQTT 5.0")}
    shown(b, want)

    # the clean session is taken over: the new connection shows the same
    # login, the old one goes
    a2 = Raw(b, V5)
    assert a2.connect(client_id=clean).rc == 0
    want[clean] = ("guest", "/", "MQTT 5.0")
    shown(b, want)
    # the persistent one is resumed by a clean-start client of its vhost
    d2 = Raw(b, V311)
    assert d2.connect(client_id=durable, clean=True, username=VH + ":guest").rc == 0
    shown(b, want)

    # the vhost goes: its connection with it, the others stay as shown
    assert api(b, "DELETE", "/api/vhosts/" + q(VH))[0] == 204
    del want[durable]
    shown(b, want)
    for c in (a, d, e, a2, d2):
        c.close()
    shown(b, {})
