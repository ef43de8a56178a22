"""What the management API shows of an idle connection's traffic: the
broker keeps no history for a connection whose byte counters have not
moved for a whole window (16 samples), yet /api/connections/NAME shows
the same samples as for one it recorded all along, before and after the
connection moves again. The broker samples every 200 ms here; tests wait
for conditions, never for fixed times."""
from http_helpers import api, q
from mqtt_helpers import *  # noqa: F401,F403

FAST = ("--set", "broker.collect_statistics_interval=200")
WINDOW = "?data_rates_age=3&data_rates_incr=1"


def conn_view(b, name):
    st, body, _ = api(b, "GET", "/api/connections/" + q(name) + WINDOW)
    assert st == 200, body
    return body


def samples(view, key):
    """Sample values, newest first."""
    return [s["sample"] for s in view[key + "_details"]["samples"]]


def flat_for_a_while(b, name, recv=None, send=None):
    """Wait until the window holds one value each (recv / send when given)
    for four whole seconds (more than the 3.2 s the broker's history
    covers at 200 ms); return the view."""
    seen = {}

    def flat():
        v = conn_view(b, name)
        r, s = samples(v, "recv_oct"), samples(v, "send_oct")
        if (len(r) < 3 or len(set(r)) != 1 or len(set(s)) != 1 or
                (recv is not None and r[0] != recv) or (send is not None and s[0] != send)):
            seen.clear()
            return False
        newest = v["recv_oct_details"]["samples"][0]["timestamp"]
        seen.setdefault("first", newest)
        return newest - seen["first"] >= 4000 and v
    v = wait_for(flat, timeout=30, interval=0.1)
    assert v, conn_view(b, name)
    assert v["recv_oct_details"]["rate"] == 0
    assert v["send_oct_details"]["rate"] == 0
    return v


@sluice_only
def test_idle_connection_keeps_its_samples(make_mqtt_broker):
    b = make_mqtt_broker(*FAST)
    r = Raw(b, V311)
    cid = uid()
    pkt = r.connect_packet(client_id=cid)
    r.send(pkt)
    assert r.recv().rc == 0
    me, peer = r.sock.getsockname(), r.sock.getpeername()
    name = "%s:%d -> %s:%d" % (me[0], me[1], peer[0], peer[1])
    st, conns, _ = api(b, "GET", "/api/connections")
    assert [c["name"] for c in conns if c.get("client_id") == cid] == [name]

    # idle past a window: the same values all along
    v = flat_for_a_while(b, name)
    recv, send = samples(v, "recv_oct")[0], samples(v, "send_oct")[0]
    assert v["client_id"] == cid and v["user"] == "guest" and v["vhost"] == "/"

    # it moves (PINGREQ in, PINGRESP out, 2 bytes each): the window shows
    # the step, the older values before the newer
    r.send(bytes([PINGREQ << 4, 0]))
    assert r.recv().type == PINGRESP

    def stepped():
        v = conn_view(b, name)
        rs, ss = samples(v, "recv_oct"), samples(v, "send_oct")
        return (rs and rs[0] == recv + 2 and ss[0] == send + 2 and rs[-1] == recv and
                ss[-1] == send and (rs, ss))
    rs, ss = wait_for(stepped, timeout=10, interval=0.1)
    assert rs, conn_view(b, name)
    assert set(rs) == {recv, recv + 2} and rs == sorted(rs, reverse=True)
    assert set(ss) == {send, send + 2} and ss == sorted(ss, reverse=True)

    # and idle again past a window: the new values all along
    flat_for_a_while(b, name, recv + 2, send + 2)

    # found by its name, built when asked for
    assert api(b, "DELETE", "/api/connections/" + q(name))[0] == 204
    wait_for(lambda: api(b, "GET", "/api/connections/" + q(name))[0] == 404, timeout=10)
    assert api(b, "GET", "/api/connections/" + q(name))[0] == 404
    r.close()
