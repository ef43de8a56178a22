"""The management API scoped by tag and vhost, as RabbitMQ scopes it.

administrator: everything. monitoring: sees every vhost and connection,
changes nothing. management / policymaker: sees the vhosts it has
permissions on and its own connections and channels, and changes objects
there with its AMQP permissions. User-related endpoints are
administrators' only (403) and no answer to anyone else holds a
password_hash. State-changing requests must be JSON and same-origin; every
answer forbids framing.
"""
import json
import subprocess

import pika
import pytest

from authz_helpers import add_user, add_vhost, amqp, set_perms, set_tperm, user
from conftest import wait_for
from http_helpers import api, http_port, q

MGMT = ("alice", "pw")
MON = ("mona", "pw")
NOT_ADMIN = {"error": "not_authorised", "reason": "Not administrator user"}


@pytest.fixture
def world(broker):
    """v1: alice's (management); v2: nobody's but guest's; mona: monitoring."""
    b = broker
    add_vhost(b, "v1")
    add_vhost(b, "v2")
    set_perms(b, "guest", "v1")
    set_perms(b, "guest", "v2")
    user(b, "alice", tags="management", vhost="v1")
    api(b, "DELETE", "/api/permissions/%2F/alice")
    user(b, "mona", tags="monitoring", vhost="v1")
    for vh in ("v1", "v2"):
        assert api(b, "PUT", "/api/queues/%s/q-%s" % (vh, vh), {})[0] == 201
        assert api(b, "PUT", "/api/exchanges/%s/x-%s" % (vh, vh), {"type": "topic"})[0] == 201
        assert api(b, "POST", "/api/bindings/%s/e/x-%s/q/q-%s" % (vh, vh, vh),
                   {"routing_key": "k"})[0] == 201
    return b


def names(items, key="name"):
    return sorted(i[key] for i in items)


ADMIN_ONLY = ["/api/users", "/api/users/guest", "/api/users/guest/permissions",
              "/api/users/guest/topic-permissions", "/api/permissions",
              "/api/permissions/v1/alice", "/api/topic-permissions",
              "/api/topic-permissions/v1/alice", "/api/definitions",
              "/api/definitions/v1", "/api/vhosts/v1/permissions",
              "/api/vhosts/v1/topic-permissions"]


@pytest.mark.parametrize("who", [MGMT, MON], ids=["management", "monitoring"])
@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_user_endpoints_are_admin_only(world, who, path):
    st, body, _ = api(world, "GET", path, auth=who)
    assert (st, body) == (403, NOT_ADMIN)


def test_no_password_hash_for_non_admins(world):
    paths = ["/api/overview", "/api/whoami", "/api/vhosts", "/api/queues",
             "/api/exchanges", "/api/bindings", "/api/connections", "/api/channels",
             "/api/consumers", "/api/nodes"] + ADMIN_ONLY
    for who in (MGMT, MON):
        for p in paths:
            st, body, _ = api(world, "GET", p, auth=who)
            assert "password_hash" not in json.dumps(body), (who, p)
    assert "password_hash" in json.dumps(api(world, "GET", "/api/users")[1])


def test_lists_are_filtered_by_vhost(world):
    for res, key in (("queues", "name"), ("exchanges", "name")):
        mine = [i for i in api(world, "GET", "/api/" + res, auth=MGMT)[1]
                if not i[key].startswith("amq.") and i[key]]
        assert {i["vhost"] for i in mine} == {"v1"}, res
    assert {b["vhost"] for b in api(world, "GET", "/api/bindings", auth=MGMT)[1]} == {"v1"}
    assert names(api(world, "GET", "/api/vhosts", auth=MGMT)[1]) == ["v1"]
    # monitoring sees every vhost
    assert names(api(world, "GET", "/api/vhosts", auth=MON)[1]) == ["/", "v1", "v2"]
    assert "q-v2" in names(api(world, "GET", "/api/queues", auth=MON)[1])
    # pagination counts only what may be seen
    page = api(world, "GET", "/api/queues?page=1&page_size=10", auth=MGMT)[1]
    assert page["total_count"] == 1 and names(page["items"]) == ["q-v1"]


def test_other_vhosts_objects_are_refused(world):
    reason = {"error": "not_authorised",
              "reason": "User not authorised to access virtual host"}
    for p in ("/api/queues/v2", "/api/queues/v2/q-v2", "/api/exchanges/v2/x-v2",
              "/api/bindings/v2", "/api/consumers/v2", "/api/vhosts/v2",
              "/api/queues/v2/q-v2/bindings", "/api/vhosts/v2/connections"):
        assert api(world, "GET", p, auth=MGMT)[:2] == (403, reason), p
    assert api(world, "GET", "/api/queues/v1/q-v1", auth=MGMT)[0] == 200
    assert api(world, "GET", "/api/queues/v2/q-v2", auth=MON)[0] == 200


def test_consumers_are_filtered(world):
    c = amqp(world, "guest", "guest", vhost="v2")
    c.channel().basic_consume("q-v2", lambda *a: None)
    c2 = amqp(world, "alice", vhost="v1")
    c2.channel().basic_consume("q-v1", lambda *a: None)
    mine = api(world, "GET", "/api/consumers", auth=MGMT)[1]
    assert [x["queue"]["vhost"] for x in mine] == ["v1"]
    assert len(api(world, "GET", "/api/consumers", auth=MON)[1]) == 2
    c.close()
    c2.close()


def test_connections_are_the_users_own(world):
    g = amqp(world, "guest", "guest", vhost="v1")
    a = amqp(world, "alice", vhost="v1")
    a.channel()
    g.channel()
    conns = api(world, "GET", "/api/connections", auth=MGMT)[1]
    assert [c["user"] for c in conns] == ["alice"]
    assert {c["user"] for c in api(world, "GET", "/api/connections", auth=MON)[1]} == \
        {"alice", "guest"}
    assert [c["user"] for c in api(world, "GET", "/api/channels", auth=MGMT)[1]] == ["alice"]
    assert [c["user"] for c in api(world, "GET", "/api/vhosts/v1/connections",
                                   auth=MGMT)[1]] == ["alice"]
    guest_conn = [c for c in api(world, "GET", "/api/connections")[1]
                  if c["user"] == "guest"][0]["name"]
    mine = conns[0]["name"]
    denied = {"error": "not_authorised", "reason": "User not authorised to access object"}
    assert api(world, "GET", "/api/connections/" + q(guest_conn), auth=MGMT)[:2] == \
        (403, denied)
    assert api(world, "GET", "/api/channels/" + q(guest_conn + " (1)"),
               auth=MGMT)[0] == 403
    assert api(world, "DELETE", "/api/connections/" + q(guest_conn), auth=MGMT)[0] == 403
    assert api(world, "DELETE", "/api/connections/" + q(guest_conn), auth=MON)[0] == 403
    assert api(world, "GET", "/api/connections/" + q(guest_conn), auth=MON)[0] == 200
    assert api(world, "GET", "/api/connections/" + q(mine), auth=MGMT)[0] == 200
    assert api(world, "DELETE", "/api/connections/" + q(mine), auth=MGMT)[0] == 204
    assert g.is_open
    g.close()


def test_monitoring_changes_nothing(world):
    for method, path, body in (
            ("PUT", "/api/queues/v1/new", {}),
            ("DELETE", "/api/queues/v1/q-v1", None),
            ("PUT", "/api/exchanges/v1/nx", {"type": "direct"}),
            ("POST", "/api/exchanges/v1/x-v1/publish",
             {"routing_key": "k", "payload": "x", "properties": {}}),
            ("POST", "/api/queues/v1/q-v1/get", {"count": 1, "ackmode": "ack_requeue_true"}),
            ("PUT", "/api/vhosts/v3", {}),
            ("PUT", "/api/users/evil", {"password": "x", "tags": "administrator"})):
        st, _, _ = api(world, method, path, body, auth=MON)
        assert st == 403, (method, path)
    assert api(world, "GET", "/api/queues/v1/new")[0] == 404
    assert api(world, "GET", "/api/users/evil")[0] == 404


def test_management_writes_with_its_permissions(world):
    set_perms(world, "alice", "v1", configure="^a", write="^a", read="^a")
    assert api(world, "PUT", "/api/queues/v1/a-q", {}, auth=MGMT)[0] == 201
    st, body, _ = api(world, "PUT", "/api/queues/v1/b-q", {}, auth=MGMT)
    assert (st, body["reason"]) == (403, "configure access to queue 'b-q' in vhost 'v1' "
                                         "refused for user 'alice'")
    st, body, _ = api(world, "PUT", "/api/queues/v1/a-dlx", {"arguments": {
        "x-dead-letter-exchange": "x-v1"}}, auth=MGMT)
    assert (st, body["reason"]) == (403, "write access to exchange 'x-v1' in vhost 'v1' "
                                         "refused for user 'alice'")
    assert api(world, "PUT", "/api/queues/v2/a-q", {}, auth=MGMT)[0] == 403
    assert api(world, "DELETE", "/api/queues/v1/q-v1", auth=MGMT)[0] == 403
    assert api(world, "DELETE", "/api/queues/v1/q-v1/contents", auth=MGMT)[0] == 403
    assert api(world, "POST", "/api/queues/v1/q-v1/get",
               {"count": 1, "ackmode": "ack_requeue_false"}, auth=MGMT)[0] == 403
    st, body, _ = api(world, "POST", "/api/exchanges/v1/x-v1/publish",
                      {"routing_key": "k", "payload": "x", "properties": {}}, auth=MGMT)
    assert (st, body["reason"]) == (403, "write access to exchange 'x-v1' in vhost 'v1' "
                                         "refused for user 'alice'")
    st, body, _ = api(world, "POST", "/api/bindings/v1/e/x-v1/q/a-q",
                      {"routing_key": "k"}, auth=MGMT)
    assert (st, body["reason"]) == (403, "read access to exchange 'x-v1' in vhost 'v1' "
                                         "refused for user 'alice'")
    assert api(world, "DELETE", "/api/queues/v1/a-q", auth=MGMT)[0] == 204
    assert api(world, "PUT", "/api/vhosts/v1", {}, auth=MGMT)[0] == 403


def test_http_publish_checks_topic_permissions_and_user_id(world):
    set_tperm(world, "alice", "x-v1", "^ok\\.", ".*", vhost="v1")
    pub = {"payload": "x", "properties": {}}
    st, _, _ = api(world, "POST", "/api/exchanges/v1/x-v1/publish",
                   dict(pub, routing_key="ok.1"), auth=MGMT)
    assert st == 200
    st, body, _ = api(world, "POST", "/api/exchanges/v1/x-v1/publish",
                      dict(pub, routing_key="no.1"), auth=MGMT)
    assert (st, body["reason"]) == (403, "write access to topic 'no.1' in exchange topic "
                                         "'x-v1' in vhost 'v1' refused for user 'alice'")
    st, body, _ = api(world, "POST", "/api/exchanges/v1/x-v1/publish",
                      dict(pub, routing_key="ok.2", properties={"user_id": "guest"}),
                      auth=MGMT)
    assert (st, body["reason"]) == (400, "user_id property set to 'guest' but "
                                         "authenticated user was 'alice'")


def test_state_changes_must_be_json(world):
    form = b'{"users":[{"name":"evil","password":"x","tags":"administrator"}]}'
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        h = {"Content-Type": ctype} if ctype else {}
        st, _, _ = api(world, "POST", "/api/definitions", raw=form, headers=h)
        assert st == 415, ctype
    assert api(world, "GET", "/api/users/evil")[0] == 404
    # a POST without a body is refused too (no-cors fetch sends no type)
    assert api(world, "POST", "/api/queues/v1/q-v1/get")[0] == 415
    # PUT and DELETE without a body need no type (browsers preflight them)
    assert api(world, "PUT", "/api/vhosts/v9")[0] == 201
    assert api(world, "DELETE", "/api/vhosts/v9")[0] == 204
    # whatever type they name (libcurl labels an empty body as a form)
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    assert api(world, "PUT", "/api/vhosts/v9", raw=b"", headers=form_type)[0] == 201
    assert api(world, "DELETE", "/api/vhosts/v9", raw=b"", headers=form_type)[0] == 204
    # a PUT with a body must say it is JSON
    assert api(world, "PUT", "/api/vhosts/v9", raw=b"{}", headers=form_type)[0] == 415
    st, _, _ = api(world, "POST", "/api/definitions", raw=form,
                   headers={"Content-Type": "application/json; charset=utf-8"})
    assert st in (201, 204)
    assert api(world, "GET", "/api/users/evil")[0] == 200


def test_cross_origin_state_changes_are_refused(world):
    st, body, _ = api(world, "PUT", "/api/vhosts/v8", {},
                      headers={"Origin": "http://evil.example"})
    assert st == 403 and body["reason"] == "Origin does not match this server"
    assert api(world, "GET", "/api/vhosts/v8")[0] == 404
    host = "127.0.0.1:%d" % world.ports["http"]
    assert api(world, "PUT", "/api/vhosts/v8", {},
               headers={"Origin": "http://" + host})[0] == 201
    # reading from another origin is harmless (no CORS: the page cannot read it)
    assert api(world, "GET", "/api/overview", headers={"Origin": "http://evil.example"})[0] == 200


@pytest.mark.parametrize("path,auth", [("/api/overview", ("guest", "guest")),
                                       ("/api/overview", None), ("/", None)])
def test_no_framing(world, path, auth):
    _, _, h = api(world, "GET", path, auth=auth)
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]


def test_metrics_and_nodes_need_monitoring(world):
    assert api(world, "GET", "/metrics", auth=MGMT)[0] == 403
    assert api(world, "GET", "/metrics", auth=MON)[0] == 200
    st, body, _ = api(world, "GET", "/api/nodes", auth=MGMT)
    assert (st, body["reason"]) == (403, "Not monitor user")
    assert api(world, "GET", "/api/nodes", auth=MON)[0] == 200


def test_policymaker_is_management_for_objects(world):
    add_user(world, "pol", "pw", "policymaker")
    set_perms(world, "pol", "v1")
    assert api(world, "PUT", "/api/queues/v1/p-q", {}, auth=("pol", "pw"))[0] == 201
    assert api(world, "GET", "/api/users", auth=("pol", "pw"))[0] == 403
    assert names(api(world, "GET", "/api/vhosts", auth=("pol", "pw"))[1]) == ["v1"]


def test_amqp_login_still_works_for_tagged_users(world):
    c = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", world.port, "v1", pika.PlainCredentials("mona", "pw")))
    c.close()


def test_queue_move_needs_read_and_write(world):
    """Moving messages is a basic.get from the source and a publish through
    the default exchange: a user without read on a queue cannot drain it
    into one of its own."""
    set_perms(world, "alice", "v1", configure="^my-", write="^my-", read="^my-")
    for name in ("my-src", "my-dst"):
        assert api(world, "PUT", "/api/queues/v1/" + name, {}, auth=MGMT)[0] == 201
    pub = {"routing_key": "k", "payload": "secret", "properties": {}}
    assert api(world, "POST", "/api/exchanges/v1/x-v1/publish", pub)[1] == {"routed": True}
    move = {"destination": "my-dst"}
    st, body, _ = api(world, "POST", "/api/queues/v1/q-v1/move", move, auth=MGMT)
    assert (st, body["reason"]) == (403, "read access to queue 'q-v1' in vhost 'v1' "
                                         "refused for user 'alice'")
    assert api(world, "GET", "/api/queues/v1/q-v1")[1]["messages"] == 1
    st, body, _ = api(world, "POST", "/api/queues/v1/my-src/move", move, auth=MGMT)
    assert (st, body["reason"]) == (403, "write access to exchange 'amq.default' in vhost "
                                         "'v1' refused for user 'alice'")
    set_perms(world, "alice", "v1", configure="^my-", write=".*", read="^my-")
    assert api(world, "POST", "/api/queues/v1/my-src/move", move, auth=MGMT)[:2] == \
        (200, {"moved": 0, "destination": "my-dst"})
    assert api(world, "POST", "/api/queues/v1/q-v1/move", move)[1]["moved"] == 1


def test_aliveness_test_runs_with_the_callers_permissions(world):
    set_perms(world, "alice", "v1", configure="^my-", write=".*", read=".*")
    st, body, _ = api(world, "GET", "/api/aliveness-test/v1", auth=MGMT)
    assert (st, body["reason"]) == (403, "configure access to queue 'aliveness-test' in "
                                         "vhost 'v1' refused for user 'alice'")
    assert api(world, "GET", "/api/aliveness-test/v2", auth=MON)[0] == 403
    set_perms(world, "alice", "v1")
    assert api(world, "GET", "/api/aliveness-test/v1", auth=MGMT)[:2] == \
        (200, {"status": "ok"})


def test_overview_counts_only_what_the_user_sees(world):
    g = amqp(world, "guest", "guest", vhost="v2")
    g.channel().basic_consume("q-v2", lambda *a: None)
    a = amqp(world, "alice", vhost="v1")
    a.channel()
    ov = api(world, "GET", "/api/overview", auth=MGMT)[1]
    assert ov["object_totals"] == {
        "vhosts": 1, "queues": 1, "connections": 1, "channels": 1, "consumers": 0,
        "exchanges": len(api(world, "GET", "/api/exchanges/v1")[1])}
    assert "listeners" not in ov and "contexts" not in ov
    full = api(world, "GET", "/api/overview", auth=MON)[1]
    assert full["object_totals"]["vhosts"] == 3 and full["object_totals"]["consumers"] == 1
    assert full["object_totals"]["connections"] == 2 and full["listeners"]
    g.close()
    a.close()


def curl(b, method, path, *args, auth="alice:pw"):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", auth,
                        "-X", method, "http://127.0.0.1:%d%s" % (http_port(b), path)] +
                       list(args), capture_output=True, text=True, timeout=30)
    return int(r.stdout)


def test_curl_as_operators_use_it(world):
    """curl's habits: PUT and DELETE without a body (no type, or libcurl's
    form type for an empty -d), JSON bodies with -H; a form POST is refused."""
    set_perms(world, "alice", "v1")
    assert curl(world, "PUT", "/api/queues/v1/c-q") == 201
    assert curl(world, "DELETE", "/api/queues/v1/c-q") == 204
    assert curl(world, "PUT", "/api/queues/v1/c-q", "-d", "") == 201
    assert curl(world, "DELETE", "/api/queues/v1/c-q", "-d", "") == 204
    assert curl(world, "PUT", "/api/queues/v1/c-q", "-H", "content-type: application/json",
                "-d", '{"durable": true}') == 201
    assert curl(world, "POST", "/api/queues/v1/c-q/get",
                "-d", '{"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}') == 415
    assert curl(world, "DELETE", "/api/queues/v2/q-v2") == 403
    assert curl(world, "GET", "/api/users") == 403
    assert curl(world, "GET", "/api/users", auth="alice:wrong") == 401


def test_overview_rates_over_several_vhosts(make_broker):
    """Over two vhosts the overview's current rates are the sum of the
    vhosts' (one history would tell only one vhost's)."""
    b = make_broker("--set", "broker.collect_statistics_interval=1000")
    for vh in ("v1", "v2"):
        add_vhost(b, vh)
        set_perms(b, "guest", vh)
    user(b, "alice", tags="management", vhost="v1")
    set_perms(b, "alice", "v2")

    def rate(path, auth=("guest", "guest")):
        return api(b, "GET", path, auth=auth)[1]["message_stats"]["publish_details"]["rate"]
    chans = [amqp(b, "guest", "guest", vhost=vh).channel() for vh in ("v1", "v2")]
    for ch in chans:
        ch.queue_declare("q")

    def summed():
        for ch, n in zip(chans, (3, 7)):     # a steady flow across the ticks
            for _ in range(n):
                ch.basic_publish("", "q", b"m")
        got = rate("/api/overview", MGMT)
        v1, v2 = rate("/api/vhosts/v1"), rate("/api/vhosts/v2")
        return v1 > 0 and v2 > 0 and got == pytest.approx(v1 + v2, rel=0.02)
    assert wait_for(summed, 15)
    for ch in chans:
        ch.connection.close()
