"""Health checks and the rest of the API tools use: RabbitMQ's
/api/health/checks/* bodies and codes, /api/extensions, /api/nodes
figures, permissions and bindings sub-resources."""
import shutil
import subprocess

import pika

from amqp_helpers import connect
from conftest import wait_for
from http_helpers import api, http_port, q

FAILED_503 = lambda r: r if r[0] == 503 else None  # noqa: E731


def check(b, path, auth=("guest", "guest")):
    st, body, _ = api(b, "GET", "/api/health/checks/" + path, auth=auth)
    return st, body


def status_or_reset(b, path):
    try:
        return check(b, path)[0]
    except ConnectionError:
        return None


def test_alarms_ok_and_failing(make_broker):
    b = make_broker()
    assert check(b, "alarms") == (200, {"status": "ok"})
    assert check(b, "local-alarms") == (200, {"status": "ok"})
    b2 = make_broker("--set", "broker.memory_high_watermark=1")
    st, body, _ = wait_for(lambda: FAILED_503(api(b2, "GET", "/api/health/checks/alarms")),
                           timeout=5)
    node = api(b2, "GET", "/api/overview")[1]["node"]
    assert body == {"status": "failed",
                    "reason": "There are alarms in effect in the cluster",
                    "alarms": [{"node": node, "resource": "memory"}]}
    st, body = check(b2, "local-alarms")
    assert st == 503 and body["reason"] == "There are alarms in effect on the node"


def test_port_listener(broker):
    assert check(broker, "port-listener/%d" % broker.port) == (
        200, {"status": "ok", "port": broker.port})
    assert check(broker, "port-listener/%d" % http_port(broker))[0] == 200
    st, body = check(broker, "port-listener/1")
    assert st == 503
    assert body["status"] == "failed" and body["reason"] == "No active listener"
    assert body["missing"] == 1
    assert sorted(body["ports"]) == sorted(p for p in (broker.port, broker.mqtt_port,
                                                       http_port(broker),
                                                       broker.ports.get("prometheus")) if p)
    assert check(broker, "port-listener/amqp") == (
        400, {"error": "bad_request", "reason": "Invalid port"})


def test_protocol_listener(broker):
    for proto, norm in (("amqp", "amqp"), ("AMQP091", "amqp"), ("amqp0-9-1", "amqp"),
                        ("mqtt", "mqtt"), ("mqtt311", "mqtt"), ("http", "http"),
                        ("management", "http")):
        assert check(broker, "protocol-listener/" + proto) == (
            200, {"status": "ok", "protocol": norm}), proto
    st, body = check(broker, "protocol-listener/stomp")
    assert st == 503 and body["missing"] == "stomp"
    assert body["reason"] == "No active listener"
    assert set(body["protocols"]) == {"amqp", "mqtt", "http"} | (
        {"http/prometheus"} if "prometheus" in broker.ports else set())
    if "prometheus" in broker.ports:
        assert check(broker, "protocol-listener/prometheus") == (
            200, {"status": "ok", "protocol": "http/prometheus"})


def test_protocol_listener_lists(broker):
    """RabbitMQ 4.1: a comma-separated list; every one must listen."""
    st, body = check(broker, "protocol-listener/amqp091,MQTT,management")
    assert st == 200 and body["status"] == "ok"
    assert {"amqp", "mqtt", "http"} <= set(body["protocols"])
    assert len(body["protocols"]) == len(set(body["protocols"]))
    st, body = check(broker, "protocol-listener/amqp,stomp,amqps")
    assert st == 503 and body["reason"] == "No active listener"
    assert sorted(body["missing"]) == ["amqp/ssl", "stomp"]
    assert "amqp" in body["protocols"]


def test_client_readiness_and_metadata_store(make_broker):
    b = make_broker("--set", "amqp.max_connections=1")
    for path in ("below-node-connection-limit", "ready-to-serve-clients",
                 "metadata-store/initialized", "metadata-store/initialized/with-data"):
        assert check(b, path) == (200, {"status": "ok"}), path
    assert check(b, "metadata-store/initialized/without-data")[0] == 404
    # the one AMQP connection the listener takes is open: a probe must fail
    c = connect(b)
    assert check(b, "below-node-connection-limit") == (
        503, {"status": "failed", "reason": "node connection limit is reached"})
    assert check(b, "ready-to-serve-clients") == (
        503, {"status": "failed", "reason": "node connection limit is reached",
              "connections": 1})
    c.close()
    wait_for(lambda: check(b, "ready-to-serve-clients")[0] == 200)
    # the broker-wide limit counts every protocol's connections
    b2 = make_broker("--set", "broker.max_connections=2")
    assert check(b2, "below-node-connection-limit")[0] == 200
    c = connect(b2)
    # this request's own HTTP connection is the second (until the broker
    # has seen the last check's connection close, it refuses a third)
    assert wait_for(lambda: status_or_reset(b2, "below-node-connection-limit") == 503)
    c.close()
    # without an AMQP listener nothing can serve AMQP clients
    api(b, "DELETE", "/api/vhosts/%2F")
    assert check(b, "metadata-store/initialized") == (200, {"status": "ok"})
    assert check(b, "metadata-store/initialized/with-data") == (
        503, {"status": "failed", "reason": "Metadata store has not yet been "
              "initialized: it reports to have no virtual hosts"})


def test_other_checks(broker):
    assert check(broker, "virtual-hosts") == (200, {"status": "ok"})
    assert check(broker, "node-is-quorum-critical") == (200, {"status": "ok"})
    # is-in-service answers load balancers without credentials
    assert check(broker, "is-in-service", auth=None) == (200, {"status": "ok"})
    assert check(broker, "alarms", auth=None)[0] == 401
    assert check(broker, "certificate-expiration/1/weeks") == (200, {"status": "ok"})
    assert check(broker, "certificate-expiration/3/MONTHS")[0] == 200
    assert check(broker, "certificate-expiration/x/days") == (
        400, {"error": "bad_request", "reason": "Invalid expiration value."})
    assert check(broker, "certificate-expiration/1/fortnights") == (
        400, {"error": "bad_request", "reason": "Time unit not recognised. "
              "Supported units: days, weeks, months, years."})
    assert check(broker, "no-such-check")[0] == 404


def test_nodes_extensions_whoami(broker):
    st, nodes, _ = api(broker, "GET", "/api/nodes")
    n = nodes[0]
    for k in ("fd_used", "fd_total", "sockets_used", "sockets_total", "mem_used",
              "mem_limit", "disk_free", "disk_free_limit", "uptime", "listeners"):
        assert k in n, k
    assert 0 < n["fd_used"] < n["fd_total"]
    assert 0 < n["sockets_used"] <= n["sockets_total"]
    assert n["disk_free"] > n["disk_free_limit"] > 0
    for k in ("fd_used", "sockets_used", "mem_used", "disk_free"):
        assert "rate" in n[k + "_details"]
    assert [m["name"] for m in n["auth_mechanisms"]] == ["AMQPLAIN", "PLAIN"]
    assert api(broker, "GET", "/api/nodes/" + q(n["name"]))[1]["name"] == n["name"]
    assert api(broker, "GET", "/api/nodes/rabbit@elsewhere")[0] == 404
    assert api(broker, "GET", "/api/extensions")[:2] == (200, [])
    assert api(broker, "GET", "/api/whoami")[1] == {"name": "guest",
                                                    "tags": ["administrator"]}


def test_permissions_and_bindings_subresources(broker):
    api(broker, "PUT", "/api/vhosts/v2")
    api(broker, "PUT", "/api/users/u1", {"password": "pw", "tags": ""})
    perm = {"configure": "^u1", "write": ".*", "read": ""}
    assert api(broker, "PUT", "/api/permissions/v2/u1", perm)[0] == 201
    one = api(broker, "GET", "/api/permissions/v2/u1")[1]
    assert one == dict(perm, user="u1", vhost="v2")
    assert api(broker, "GET", "/api/permissions/v2/guest")[0] == 404
    assert api(broker, "GET", "/api/vhosts/v2/permissions")[1] == [one]
    assert api(broker, "GET", "/api/users/u1/permissions")[1] == [one]
    assert api(broker, "GET", "/api/users/nobody/permissions")[0] == 404
    assert api(broker, "GET", "/api/vhosts/nope/permissions")[0] == 404
    conn = connect(broker)
    ch = conn.channel()
    ch.exchange_declare("src", "topic")
    ch.exchange_declare("dst", "fanout")
    ch.queue_declare("bq")
    ch.queue_bind("bq", "src", "a.#")
    ch.exchange_bind("dst", "src", "b.*")
    conn.close()
    qb = api(broker, "GET", "/api/queues/%2F/bq/bindings")[1]
    assert [(b["source"], b["routing_key"]) for b in qb] == [("", "bq"), ("src", "a.#")]
    src = api(broker, "GET", "/api/exchanges/%2F/src/bindings/source")[1]
    assert sorted((b["destination"], b["destination_type"]) for b in src) == [
        ("bq", "queue"), ("dst", "exchange")]
    dst = api(broker, "GET", "/api/exchanges/%2F/dst/bindings/destination")[1]
    assert [(b["source"], b["routing_key"]) for b in dst] == [("src", "b.*")]
    assert api(broker, "GET", "/api/queues/%2F/nope/bindings")[0] == 404
    assert api(broker, "GET", "/api/exchanges/%2F/nope/bindings/source")[0] == 404


def test_parameters_as_a_node_without_their_plugins(broker):
    for path in ("/api/parameters", "/api/parameters/federation-upstream",
                 "/api/parameters/federation-upstream/%2F"):
        assert api(broker, "GET", path)[:2] == (200, []), path
    assert api(broker, "GET", "/api/parameters/shovel/nope")[0] == 404
    assert api(broker, "GET", "/api/parameters/shovel/%2F/s1")[0] == 404
    st, body, _ = api(broker, "PUT", "/api/parameters/federation-upstream/%2F/up",
                      {"value": {"uri": "amqp://elsewhere"}})
    assert (st, body) == (400, {"error": "bad_request", "reason": "Validation failed\n\n"
                                "component federation-upstream not found\n"})
    assert api(broker, "DELETE", "/api/parameters/shovel/%2F/s1")[0] == 404
    # rabbitmqadmin lists them as RabbitMQ's empty list
    if shutil.which("rabbitmqadmin"):
        out = subprocess.run(["rabbitmqadmin", "-P", str(http_port(broker)), "-f",
                              "raw_json", "list", "parameters"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0 and out.stdout.strip() == "[]", out


def test_cluster_name_and_global_parameters(broker):
    node = api(broker, "GET", "/api/overview")[1]["cluster_name"]
    assert api(broker, "GET", "/api/cluster-name")[:2] == (200, {"name": node})
    assert api(broker, "GET", "/api/global-parameters")[:2] == (
        200, [{"name": "cluster_name", "value": node}])
    assert api(broker, "GET", "/api/global-parameters/cluster_name")[:2] == (
        200, {"name": "cluster_name", "value": node})
    assert api(broker, "GET", "/api/global-parameters/nope")[0] == 404
    assert api(broker, "PUT", "/api/cluster-name", {"name": "x"})[0] == 405
    assert api(broker, "PUT", "/api/global-parameters/cluster_name", {"value": "x"})[0] == 405
    assert api(broker, "GET", "/api/cluster-name")[1] == {"name": node}
    # a management user may read the cluster name, not the global parameters
    api(broker, "PUT", "/api/users/mon", {"password": "pw", "tags": "management"})
    assert api(broker, "GET", "/api/cluster-name", auth=("mon", "pw"))[0] == 200
    assert api(broker, "GET", "/api/global-parameters", auth=("mon", "pw"))[0] in (401, 403)
