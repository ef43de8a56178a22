"""RabbitMQ's own rabbitmqadmin (Debian's rabbitmq-server ships it)
against Sluice's management API: list, declare, delete, publish, get,
export and import."""
import glob
import json
import os

import pytest

import rabbitmqadmin_runner
from http_helpers import http_port


def find_rabbitmqadmin():
    cands = ["/usr/bin/rabbitmqadmin"] + sorted(glob.glob(
        "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_management-*"
        "/priv/www/cli/rabbitmqadmin"))
    for c in cands:
        if os.path.exists(c):
            return c
    return None


ADMIN = find_rabbitmqadmin()
pytestmark = pytest.mark.skipif(ADMIN is None, reason="rabbitmqadmin not installed "
                                "(Debian package rabbitmq-server)")


def run(b, user, *args):
    """rabbitmqadmin ARGS as user against b. Each call is a process of its
    own, forked from one that loaded the script already (see
    rabbitmqadmin_runner: a Python start per call made this file slow)."""
    argv = ["-H", "127.0.0.1", "-P", str(http_port(b)),
            "-u", user[0], "-p", user[1]] + list(args)
    return rabbitmqadmin_runner.run(ADMIN, argv, timeout=30)


def admin(b, *args, check=True, user=("guest", "guest")):
    r = run(b, user, *args)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def rows(b, *args):
    return json.loads(admin(b, "-f", "raw_json", *args))


def test_declare_list_publish_get_delete(broker):
    assert "queue declared" in admin(broker, "declare", "queue", "name=aq", "durable=true")
    assert "exchange declared" in admin(broker, "declare", "exchange", "name=ax", "type=topic")
    assert "binding declared" in admin(broker, "declare", "binding", "source=ax",
                                       "destination=aq", "routing_key=a.#")
    assert "Message published" in admin(broker, "publish", "exchange=ax",
                                        "routing_key=a.b", "payload=hello")
    qs = rows(broker, "list", "queues", "name", "messages", "durable")
    assert qs == [{"name": "aq", "messages": 1, "durable": True}]
    xs = [x["name"] for x in rows(broker, "list", "exchanges", "name")]
    assert "ax" in xs and "amq.topic" in xs
    bs = rows(broker, "list", "bindings", "source", "destination", "routing_key")
    assert {"source": "ax", "destination": "aq", "routing_key": "a.#"} in bs
    got = rows(broker, "get", "queue=aq", "ackmode=ack_requeue_false")
    assert got[0]["payload"] == "hello" and got[0]["routing_key"] == "a.b"
    assert rows(broker, "list", "queues", "messages") == [{"messages": 0}]
    for what in ("users", "vhosts", "permissions", "connections", "channels",
                 "consumers", "nodes"):
        admin(broker, "list", what)
    assert "Object" not in admin(broker, "show", "overview")
    admin(broker, "delete", "binding", "source=ax", "destination=aq",
          "destination_type=queue", "properties_key=a.%23")
    assert {"source": "ax", "destination": "aq", "routing_key": "a.#"} not in rows(
        broker, "list", "bindings", "source", "destination", "routing_key")
    assert "queue deleted" in admin(broker, "delete", "queue", "name=aq")
    assert "exchange deleted" in admin(broker, "delete", "exchange", "name=ax")
    assert rows(broker, "list", "queues") == []


def test_users_vhosts_permissions(broker):
    admin(broker, "declare", "vhost", "name=av")
    admin(broker, "declare", "user", "name=au", "password=pw", "tags=management")
    admin(broker, "declare", "permission", "vhost=av", "user=au",
          "configure=.*", "write=.*", "read=.*")
    assert {"name": "av"} in rows(broker, "list", "vhosts", "name")
    assert {"user": "au", "vhost": "av"} in rows(broker, "list", "permissions", "user", "vhost")
    admin(broker, "delete", "user", "name=au")
    admin(broker, "delete", "vhost", "name=av")
    assert {"name": "av"} not in rows(broker, "list", "vhosts", "name")


def test_export_import(broker, make_broker, tmp_path):
    admin(broker, "declare", "queue", "name=eq", "durable=true",
          'arguments={"x-max-length": 5}')
    admin(broker, "declare", "exchange", "name=ex", "type=fanout")
    admin(broker, "declare", "binding", "source=ex", "destination=eq")
    path = str(tmp_path / "defs.json")
    admin(broker, "export", path)
    d = json.load(open(path))
    assert {"name": "eq", "vhost": "/", "durable": True, "auto_delete": False,
            "arguments": {"x-max-length": 5}} in d["queues"]
    b2 = make_broker()
    admin(b2, "import", path)
    assert rows(b2, "list", "queues", "name", "arguments") == [
        {"name": "eq", "arguments": {"x-max-length": 5}}]
    assert {"source": "ex", "destination": "eq"} in rows(
        b2, "list", "bindings", "source", "destination")


def test_management_user_works_in_its_vhost_only(broker):
    """A user tagged management, with permissions on v1 only: rabbitmqadmin
    declares, lists and deletes there (DELETE without a body), and the
    administrators' lists and other vhosts answer 403."""
    from authz_helpers import add_vhost, user
    add_vhost(broker, "v1")
    user(broker, "alice", tags="management", vhost="v1")
    admin(broker, "declare", "queue", "name=root-q")
    alice = ("alice", "pw")
    assert "queue declared" in admin(broker, "-V", "v1", "declare", "queue", "name=aq",
                                     user=alice)
    assert json.loads(admin(broker, "-f", "raw_json", "list", "queues", "name", "vhost",
                            user=alice)) == [{"name": "aq", "vhost": "v1"}]
    assert "queue deleted" in admin(broker, "-V", "v1", "delete", "queue", "name=aq",
                                    user=alice)
    for args in (("list", "users"), ("export", "/dev/null"),
                 ("-V", "/", "delete", "queue", "name=root-q")):
        r = run(broker, alice, *args)
        assert r.returncode != 0 and "403" in r.stdout + r.stderr, args
    assert [q["name"] for q in rows(broker, "list", "queues", "name")] == ["root-q"]
