"""Users, permissions and vhosts are durable: changes made over the HTTP
API (or sluicectl, which speaks it) survive kill -9 right after the 2xx,
because the API answers only once the definitions file is written and
fsynced. Users named by the configuration file are applied again at every
start, on top of the file: the configuration wins for them."""
import json
import os
import re
import time

import pika
import pytest

from recovery_helpers import SLUICED, Node  # also puts tests/integration on the path
from http_helpers import api  # noqa: E402

HTTP_RE = re.compile(r"listening http \S+:(\d+)")
HTTP_SETS = ["http.enabled=yes", "http.bind=127.0.0.1", "http.port=0"]


class Api:
    """What http_helpers.api needs: the broker's HTTP port."""

    def __init__(self, node):
        deadline = time.time() + 10
        while True:
            found = [m for m in map(HTTP_RE.search, list(node.lines)) if m]
            if found:
                break
            if time.time() > deadline:
                pytest.skip("sluiced has no HTTP listener")
            time.sleep(0.05)
        self.ports = {"http": int(found[-1].group(1))}


def start(tmp_path):
    node = Node(str(tmp_path / "data"), sets=HTTP_SETS).start()
    return node, Api(node)


def restart(node):
    node.kill()
    node.start()
    return Api(node)


def amqp_login(node, user, password, vhost="/"):
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", node.port, virtual_host=vhost,
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=10))
    conn.close()


def test_user_and_permissions_survive_kill(tmp_path):
    node, b = start(tmp_path)
    try:
        assert api(b, "PUT", "/api/vhosts/rv")[0] in (201, 204)
        st, body, _ = api(b, "PUT", "/api/users/ru",
                          {"password": "pw1", "tags": "management"})
        assert st in (201, 204), body
        st, body, _ = api(b, "PUT", "/api/permissions/rv/ru",
                          {"configure": "^ru-", "write": ".*", "read": ".*"})
        assert st in (201, 204), body
        # kill -9 at once: the 2xx promised the change is on disk
        b = restart(node)
        st, u, _ = api(b, "GET", "/api/users/ru")
        assert st == 200 and u["tags"] == ["management"], u
        assert u["hashing_algorithm"] == "rabbit_password_hashing_sha256"
        st, p, _ = api(b, "GET", "/api/permissions/rv/ru")
        assert st == 200, p
        assert (p["configure"], p["write"], p["read"]) == ("^ru-", ".*", ".*")
        assert api(b, "GET", "/api/whoami", auth=("ru", "pw1"))[0] == 200
        amqp_login(node, "ru", "pw1", vhost="rv")
        # the file is RabbitMQ's definitions JSON, with the password hash
        with open(os.path.join(node.data_dir, "definitions.json")) as f:
            defs = json.load(f)
        user = [x for x in defs["users"] if x["name"] == "ru"][0]
        assert user["password_hash"] and user["tags"] == ["management"]
        assert {"user": "ru", "vhost": "rv", "configure": "^ru-", "write": ".*",
                "read": ".*"} in defs["permissions"]
        assert {"name": "rv"} in defs["vhosts"]
    finally:
        node.stop()


def test_changes_and_deletes_survive_kill(tmp_path):
    node, b = start(tmp_path)
    try:
        for u in ("keep", "gone"):
            assert api(b, "PUT", "/api/users/" + u, {"password": "old", "tags": ""})[0] \
                in (201, 204)
            assert api(b, "PUT", "/api/permissions/%2F/" + u,
                       {"configure": ".*", "write": ".*", "read": ".*"})[0] in (201, 204)
        b = restart(node)
        assert api(b, "PUT", "/api/users/keep",
                   {"password": "new", "tags": "monitoring"})[0] in (201, 204)
        assert api(b, "DELETE", "/api/users/gone")[0] == 204
        assert api(b, "DELETE", "/api/permissions/%2F/keep")[0] == 204
        assert api(b, "PUT", "/api/vhosts/tmpv")[0] in (201, 204)
        assert api(b, "DELETE", "/api/vhosts/tmpv")[0] == 204
        b = restart(node)
        assert api(b, "GET", "/api/users/gone")[0] == 404
        st, u, _ = api(b, "GET", "/api/users/keep")
        assert st == 200 and u["tags"] == ["monitoring"]
        assert api(b, "GET", "/api/whoami", auth=("keep", "new"))[0] == 200
        assert api(b, "GET", "/api/whoami", auth=("keep", "old"))[0] == 401
        assert api(b, "GET", "/api/permissions/%2F/keep")[0] == 404
        assert api(b, "GET", "/api/vhosts/tmpv")[0] == 404
    finally:
        node.stop()


def test_sluicectl_changes_survive_kill(tmp_path):
    ctl = os.path.join(os.path.dirname(os.path.dirname(SLUICED)),
                       "tools", "sluicectl")
    if not os.path.exists(ctl):
        pytest.skip("no sluicectl next to sluiced")
    import subprocess

    node, b = start(tmp_path)

    def run(*args):
        r = subprocess.run([ctl, "--host", "127.0.0.1", "--port", str(b.ports["http"])]
                           + list(args), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (args, r.stdout, r.stderr)

    try:
        run("add_vhost", "cv")
        run("add_user", "cu", "pw")
        run("set_user_tags", "cu", "administrator")
        run("set_permissions", "-p", "cv", "cu", ".*", ".*", ".*")
        run("change_password", "cu", "pw2")
        b = restart(node)
        st, u, _ = api(b, "GET", "/api/users/cu")
        assert st == 200 and u["tags"] == ["administrator"]
        assert api(b, "GET", "/api/whoami", auth=("cu", "pw2"))[0] == 200
        amqp_login(node, "cu", "pw2", vhost="cv")
        run("delete_user", "cu")
        b = restart(node)
        assert api(b, "GET", "/api/users/cu")[0] == 404
    finally:
        node.stop()


def test_config_users_win_at_start(tmp_path):
    # guest comes from the configuration (the default user): a password
    # changed over the API holds until the next start, which applies the
    # configuration's again; its other users keep theirs.
    node, b = start(tmp_path)
    try:
        assert api(b, "PUT", "/api/users/other", {"password": "o", "tags": "management"})[0] \
            in (201, 204)
        assert api(b, "PUT", "/api/users/guest",
                   {"password": "changed", "tags": "administrator"})[0] in (201, 204)
        assert api(b, "GET", "/api/whoami", auth=("guest", "changed"))[0] == 200
        b = restart(node)
        assert api(b, "GET", "/api/whoami", auth=("guest", "guest"))[0] == 200
        assert api(b, "GET", "/api/whoami", auth=("other", "o"))[0] == 200
    finally:
        node.stop()
