"""sluicectl against the management HTTP API.

Each test runs the sluicectl binary (SLUICECTL, or tools/sluicectl next to
SLUICED's build) against the HTTP port of a sluiced started with
``--set http.port=0`` (read from its "listening http HOST:PORT" line); the
tests skip while the daemon has no [http] section. Set
EXTERNAL_HTTP=host:port to run against another broker instead, for example
RabbitMQ with the management plugin (AMQP then comes from EXTERNAL_AMQP, or
port 5672 on the same host). Names carry a random suffix so a shared broker
is left as it was found.
"""
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import uuid

import pika
import pytest

from conftest import ROOT, SLUICED, wait_for
from port_helpers import Ports

EXTERNAL_HTTP = os.environ.get("EXTERNAL_HTTP")
HTTP_ARGS = ("--set", "http.port=0")
# Set once a sluiced refuses the [http] keys (a build without the API yet).
_http_unsupported = []


def _sluicectl_path():
    if os.environ.get("SLUICECTL"):
        return os.environ["SLUICECTL"]
    build = os.path.dirname(os.path.dirname(SLUICED))
    for cand in (os.path.join(build, "tools", "sluicectl"),
                 os.path.join(ROOT, "build", "tools", "sluicectl")):
        if os.path.exists(cand):
            return cand
    return os.path.join(ROOT, "build", "tools", "sluicectl")


SLUICECTL = _sluicectl_path()


class Ctl:
    """Runs sluicectl with the connection options of one broker."""

    def __init__(self, host, port, amqp_host, amqp_port):
        self.host, self.port = host, port
        self.amqp_host, self.amqp_port = amqp_host, amqp_port

    def run(self, *args, conn=True, stdin=None, env=None, timeout=30):
        argv = [SLUICECTL]
        if conn:
            argv += ["--host", self.host, "--port", str(self.port)]
        argv += list(args)
        full_env = dict(os.environ)
        for k in list(full_env):
            if k.startswith("SLUICECTL_"):
                del full_env[k]
        full_env.update(env or {})
        return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=full_env)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r.stdout

    def json(self, *args):
        return json.loads(self.ok("--formatter", "json", *args))

    def amqp(self, vhost="/"):
        return pika.BlockingConnection(pika.ConnectionParameters(
            self.amqp_host, self.amqp_port, virtual_host=vhost,
            client_properties={"connection_name": "sluicectl-test"}))


@pytest.fixture
def ctl(request):
    if not os.path.exists(SLUICECTL):
        pytest.skip("sluicectl not built: " + SLUICECTL)
    if EXTERNAL_HTTP:
        host, port = EXTERNAL_HTTP.rsplit(":", 1)
        amqp = os.environ.get("EXTERNAL_AMQP", host + ":5672")
        ahost, aport = amqp.rsplit(":", 1)
        yield Ctl(host, int(port), ahost, int(aport))
        return
    if _http_unsupported:
        pytest.skip("this sluiced has no HTTP listener yet")
    make = request.getfixturevalue("make_broker")
    try:
        b = make(*HTTP_ARGS)
    except RuntimeError as e:
        if "[http]" in str(e) or "http." in str(e):
            _http_unsupported.append(True)
            pytest.skip("this sluiced has no HTTP listener yet")
        raise
    wait_for(lambda: "http" in b.ports, timeout=5)
    if "http" not in b.ports:
        pytest.skip("this sluiced logs no 'listening http' line")
    yield Ctl("127.0.0.1", b.ports["http"], "127.0.0.1", b.port)
    assert b.alive(), "broker died during the test:\n" + b.log()
    assert "AddressSanitizer" not in b.log() and "runtime error" not in b.log(), b.log()


def uniq(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def lines(out):
    return [l for l in out.split("\n") if l]


def rows(out):
    """TSV body without the header: list of column lists."""
    return [l.split("\t") for l in lines(out)[1:]]


@pytest.fixture
def queue(ctl):
    name = uniq("ctlq")
    ctl.ok("declare_queue", name)
    yield name
    ctl.run("delete_queue", name)


# --- status and listings -------------------------------------------------

def test_status(ctl):
    out = ctl.ok("status")
    assert out.startswith("Status of node ")
    for section in ("Runtime", "Alarms", "Totals", "Listeners"):
        assert section in out
    assert "Queue count: " in out
    st = ctl.json("status")
    assert isinstance(st, dict) and "listeners" in st and "alarms" in st


def test_list_queues_default_and_columns(ctl, queue):
    out = ctl.ok("list_queues")
    ls = lines(out)
    assert ls[0] == "Timeout: 60.0 seconds ..."
    assert ls[1] == "Listing queues for vhost / ..."
    assert ls[2] == "name\tmessages"
    assert [queue, "0"] in rows("\n".join(ls[2:])) or [queue, ""] in rows("\n".join(ls[2:]))
    out = ctl.ok("-q", "list_queues", "name", "durable", "auto_delete",
                 "exclusive", "arguments", "consumers")
    assert lines(out)[0] == "name\tdurable\tauto_delete\texclusive\targuments\tconsumers"
    assert [queue, "false", "false", "false", "[]", "0"] in rows(out)
    # comma-separated columns, --silent drops the header too
    out = ctl.ok("--silent", "list_queues", "name,durable")
    assert [queue, "false"] in [l.split("\t") for l in lines(out)]
    assert "name\tdurable" not in out


def test_list_queues_json_and_arguments(ctl):
    name = uniq("ctlq")
    ctl.ok("declare_queue", name, "--durable", "--arguments",
           '{"x-max-length": 10, "x-overflow": "reject-publish"}')
    try:
        data = ctl.json("list_queues", "name", "durable", "arguments")
        mine = [q for q in data if q["name"] == name]
        assert mine == [{"name": name, "durable": True, "arguments": [
            ["x-max-length", "long", 10], ["x-overflow", "longstr", "reject-publish"]]}]
        out = ctl.ok("-q", "list_queues", "name", "arguments")
        assert [name, '[{"x-max-length",10},{"x-overflow","reject-publish"}]'] in rows(out)
    finally:
        ctl.ok("delete_queue", name)


def test_json_shape_is_rabbitmqctls(ctl, queue):
    out = ctl.ok("--formatter", "json", "list_queues", "name")
    ls = out.rstrip("\n").split("\n")
    assert ls[0] == "[" and ls[-1] == "]"
    assert all(l.startswith(",{") for l in ls[2:-1]) and ls[1].startswith("{")
    assert "Listing" not in out


def test_list_exchanges_and_bindings(ctl, queue):
    x = uniq("ctlx")
    ctl.ok("declare_exchange", x, "topic", "--durable")
    try:
        out = ctl.ok("list_exchanges")
        assert lines(out)[0] == "Listing exchanges for vhost / ..."
        assert lines(out)[1] == "name\ttype"
        assert [x, "topic"] in rows(out[out.index("\n") + 1:])
        assert ["amq.fanout", "fanout"] in rows(out[out.index("\n") + 1:])
        data = ctl.json("list_exchanges", "name", "type", "durable", "internal")
        assert {"name": x, "type": "topic", "durable": True, "internal": False} in data
        ctl.ok("declare_binding", x, queue, "a.*.c")
        out = ctl.ok("list_bindings")
        assert lines(out)[0] == "Listing bindings for vhost /..."
        assert lines(out)[1] == ("source_name\tsource_kind\tdestination_name\t"
                                 "destination_kind\trouting_key\targuments")
        body = rows(out[out.index("\n") + 1:])
        assert [x, "exchange", queue, "queue", "a.*.c", "[]"] in body
        assert ["", "exchange", queue, "queue", queue, "[]"] in body
        data = ctl.json("list_bindings")
        assert {"source_name": x, "source_kind": "exchange", "destination_name": queue,
                "destination_kind": "queue", "routing_key": "a.*.c",
                "arguments": []} in data
        ctl.ok("delete_exchange", x)
        assert x not in [e["name"] for e in ctl.json("list_exchanges")]
        r = ctl.run("delete_exchange", x)
        assert r.returncode == 65
    finally:
        ctl.run("delete_exchange", x)


# --- messages: publish, get, purge, delete -------------------------------

def test_publish_get_purge_delete(ctl, queue):
    assert ctl.ok("publish", "", queue, "hello") == "Message published\n"
    assert "NOT routed" in ctl.ok("publish", "amq.direct", uniq("nokey"), "x")
    ctl.ok("-q", "publish", "amq.default", queue, "second")
    out = ctl.ok("get", queue, "5")
    assert lines(out)[0].split("\t")[:4] == ["routing_key", "exchange",
                                              "message_count", "payload"]
    got = rows(out)
    assert [r[3] for r in got] == ["hello", "second"]
    # the default get requeues: the messages are still there
    msgs = ctl.json("get", queue)
    assert msgs[0]["payload"] == "hello" and msgs[0]["redelivered"] is True

    def count():
        q = [q for q in ctl.json("list_queues", "name", "messages") if q["name"] == queue]
        return q and q[0]["messages"]
    assert wait_for(lambda: count() == 2, timeout=10) is True
    out = ctl.ok("purge_queue", queue)
    assert out == "Purging queue '%s' in vhost '/' ...\n" % queue
    assert ctl.json("get", queue) == []
    ctl.ok("-q", "publish", "", queue, "third")
    ctl.ok("get", queue, "--ack")
    assert ctl.json("get", queue) == []
    out = ctl.ok("delete_queue", queue)
    # RabbitMQ's API may still show an older sample of the count
    assert re.search(r"^Queue was successfully deleted with \d+ ready messages$", out, re.M)
    assert queue not in [q["name"] for q in ctl.json("list_queues")]


def test_unknown_queue_errors(ctl):
    name = uniq("noq")
    for cmd in (["purge_queue", name], ["delete_queue", name], ["get", name]):
        r = ctl.run(*cmd)
        assert r.returncode == 65, (cmd, r.stdout, r.stderr)
        assert r.stderr.startswith("Error:\n")
        assert name in r.stderr or "not found" in r.stderr.lower()


# --- users, vhosts, permissions ------------------------------------------

def test_users(ctl):
    u = uniq("ctlu")
    try:
        out = ctl.ok("add_user", u, "pw1")
        assert out.startswith('Adding user "%s" ...\n' % u)
        r = ctl.run("add_user", u, "pw1")
        assert r.returncode == 70 and "already exists" in r.stderr
        ctl.ok("set_user_tags", u, "management", "monitoring")
        out = ctl.ok("list_users")
        assert lines(out)[:2] == ["Listing users ...", "user\ttags"]
        assert [u, "[management, monitoring]"] in rows(out[out.index("\n") + 1:])
        assert {"user": u, "tags": ["management", "monitoring"]} in ctl.json("list_users")
        # tags kept the password: the user can still log in
        ctl.ok("set_permissions", u, ".*", ".*", ".*")
        ctl.ok("--user", u, "--password", "pw1", "list_vhosts")
        ctl.ok("change_password", u, "pw2")
        r = ctl.run("--user", u, "--password", "pw1", "list_vhosts")
        assert r.returncode == 77, (r.stdout, r.stderr)
        ctl.ok("--user", u, "--password", "pw2", "list_vhosts")
        # and the password change kept the tags
        assert {"user": u, "tags": ["management", "monitoring"]} in ctl.json("list_users")
        assert ctl.ok("delete_user", u) == 'Deleting user "%s" ...\n' % u
        for cmd in (["delete_user", u], ["change_password", u, "x"],
                    ["set_user_tags", u, "a"]):
            r = ctl.run(*cmd)
            assert r.returncode == 67, (cmd, r.stdout, r.stderr)
            assert 'User "%s" does not exist' % u in r.stderr
    finally:
        ctl.run("delete_user", u)


def test_vhosts_and_permissions(ctl):
    v, u = uniq("ctlv"), uniq("ctlu")
    try:
        assert ctl.ok("add_vhost", v) == 'Adding vhost "%s" ...\n' % v
        out = ctl.ok("list_vhosts")
        assert lines(out)[:2] == ["Listing vhosts ...", "name"]
        assert v in lines(out) and "/" in lines(out)
        assert {"name": v} in ctl.json("list_vhosts")
        ctl.ok("-q", "add_user", u, "pw")
        ctl.ok("set_permissions", "-p", v, u, "^conf", "", ".*")
        out = ctl.ok("list_permissions", "-p", v)
        assert lines(out)[0] == 'Listing permissions for vhost "%s" ...' % v
        assert lines(out)[1] == "user\tconfigure\twrite\tread"
        assert [u, "^conf", "", ".*"] in rows(out[out.index("\n") + 1:])
        assert {"user": u, "configure": "^conf", "write": "", "read": ".*"} in \
            ctl.json("list_permissions", "--vhost", v)
        # -p applies to the other vhost-scoped commands
        q = uniq("ctlq")
        ctl.ok("declare_queue", "-p", v, q)
        assert [q] in [r[:1] for r in rows(ctl.ok("-q", "list_queues", "-p", v))]
        assert q not in ctl.ok("-q", "list_queues")
        ctl.ok("-p", v, "publish", "", q, "in-v")
        assert ctl.json("get", "-p", v, q)[0]["payload"] == "in-v"
        ctl.ok("purge_queue", "-p", v, q)
        r = ctl.run("set_permissions", "-p", uniq("nov"), u, ".*", ".*", ".*")
        assert r.returncode == 65 and "does not exist" in r.stderr
        r = ctl.run("set_permissions", "-p", v, uniq("nou"), ".*", ".*", ".*")
        assert r.returncode == 67
        out = ctl.ok("delete_vhost", v)
        assert out == 'Deleting vhost "%s" ...\n' % v
        r = ctl.run("delete_vhost", v)
        assert r.returncode == 65 and "Virtual host '%s' does not exist" % v in r.stderr
        r = ctl.run("list_queues", "-p", v)
        assert r.returncode == 65
    finally:
        ctl.run("delete_vhost", v)
        ctl.run("delete_user", u)


# --- connections, channels, consumers ------------------------------------

def _mine(ctl, cmd, *cols):
    return ctl.json(cmd, *cols)


def test_connections_channels_consumers_close(ctl, queue):
    conn = ctl.amqp()
    try:
        ch = conn.channel()
        ch.basic_qos(prefetch_count=7)
        tag = ch.basic_consume(queue, lambda *a: None)
        local_port = conn._impl._transport._sock.getsockname()[1]

        def my_conn():
            for c in ctl.json("list_connections", "name", "user", "peer_host",
                              "peer_port", "state"):
                if c["peer_port"] == local_port:
                    return c
        c = wait_for(my_conn, timeout=10)
        assert c and c["user"] == "guest" and c["state"] == "running"
        out = ctl.ok("list_connections")
        assert lines(out)[:2] == ["Listing connections ...",
                                  "user\tpeer_host\tpeer_port\tstate"]
        assert any(r[2] == str(local_port) for r in rows(out[out.index("\n") + 1:]))
        out = ctl.ok("list_channels")
        assert lines(out)[:2] == ["Listing channels ...",
                                  "pid\tuser\tconsumer_count\tmessages_unacknowledged"]
        assert wait_for(lambda: any(
            x["consumer_count"] == 1 and x["connection"] == c["name"]
            for x in ctl.json("list_channels", "connection", "consumer_count")),
            timeout=10)

        def my_consumer():
            return [x for x in ctl.json("list_consumers") if x["consumer_tag"] == tag]
        cons = wait_for(my_consumer, timeout=10)
        assert cons and cons[0]["queue_name"] == queue
        assert cons[0]["ack_required"] is True and cons[0]["prefetch_count"] == 7
        out = ctl.ok("list_consumers")
        assert lines(out)[:2] == [
            "Listing consumers in vhost / ...",
            "queue_name\tchannel_pid\tconsumer_tag\tack_required\tprefetch_count\tactive\targuments"]
        out = ctl.ok("close_connection", c["name"], "closed by test")
        assert out == "Closing connection %s, reason: closed by test...\n" % c["name"]
        with pytest.raises(pika.exceptions.AMQPError):
            for _ in range(100):
                conn.process_data_events(0.1)
        assert wait_for(lambda: my_conn() is None, timeout=10) is True
    finally:
        if conn.is_open:
            conn.close()
    r = ctl.run("close_connection", "no such connection", "x")
    assert r.returncode == 65 and r.stderr.startswith("Error:\n")


# --- definitions ----------------------------------------------------------

def test_export_import_definitions(ctl, tmp_path):
    q = uniq("ctlq")
    ctl.ok("declare_queue", q, "--durable")
    try:
        path = str(tmp_path / "defs.json")
        out = ctl.ok("export_definitions", path)
        assert out == 'Exporting definitions in JSON to a file at "%s" ...\n' % path
        defs = json.load(open(path))
        for key in ("users", "vhosts", "permissions", "queues", "exchanges", "bindings"):
            assert key in defs, key
        assert any(x["name"] == q for x in defs["queues"])
        stdout_defs = json.loads(ctl.ok("export_definitions", "-"))
        assert any(x["name"] == q for x in stdout_defs["queues"])
        ctl.ok("delete_queue", q)
        q2 = uniq("ctlq")
        imp = {"queues": [{"name": q, "vhost": "/", "durable": True,
                           "auto_delete": False, "arguments": {}}]}
        with open(path, "w") as f:
            json.dump(imp, f)
        out = ctl.ok("import_definitions", path)
        assert out.startswith('Importing definitions in JSON from a file at "%s" ...' % path)
        imp["queues"][0]["name"] = q2
        ctl.ok("-q", "import_definitions", "-", stdin=json.dumps(imp))
        names = [x["name"] for x in ctl.json("list_queues")]
        assert q in names and q2 in names
        ctl.ok("-q", "delete_queue", q2)
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        r = ctl.run("import_definitions", str(bad))
        assert r.returncode == 65 and r.stderr.startswith("Error:\n")
        r = ctl.run("import_definitions", str(tmp_path / "missing.json"))
        assert r.returncode == 65
        r = ctl.run("import_definitions", "-", stdin="[1, 2]")
        assert r.returncode == 65
    finally:
        ctl.run("delete_queue", q)


# --- errors and options -----------------------------------------------------

def test_bad_credentials(ctl):
    r = ctl.run("--user", "guest", "--password", "wrong-" + uniq("pw"), "list_queues")
    assert r.returncode == 77
    assert r.stderr.startswith("Error:\n") and "401" in r.stderr


def test_connection_refused(ctl):
    with Ports() as dead:          # reserved: nothing listens there
        port = dead.new()
        r = ctl.run("--host", "127.0.0.1", "--port", str(port), "status", conn=False)
    assert r.returncode == 69
    assert "unable to connect" in r.stderr and str(port) in r.stderr


def test_timeout(ctl):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)                    # accepts, never answers
    try:
        t0 = time.time()
        r = ctl.run("--port", str(s.getsockname()[1]), "--timeout", "0.5",
                    "list_users", conn=False)
        assert r.returncode == 75 and "timed out" in r.stderr
        assert time.time() - t0 < 5
    finally:
        s.close()


@pytest.mark.parametrize("args", [
    [], ["no_such_command"], ["add_user"], ["add_user", "a", "b", "c"],
    ["list_queues", "no_such_column"], ["--formatter", "xml", "list_queues"],
    ["--port", "notaport", "status"], ["--bogus-option", "status"],
    ["declare_queue", "q", "--arguments", "[1]"], ["get", "q", "zero"],
    ["list_queues", "--vhost"],
])
def test_usage_errors(ctl, args):
    r = ctl.run(*args)
    assert r.returncode == 64, (args, r.stdout, r.stderr)
    assert r.stderr
    assert r.stdout == ""


def test_help_and_version(ctl):
    r = ctl.run("help")
    assert r.returncode == 0 and "list_queues" in r.stdout and "import_definitions" in r.stdout
    r = ctl.run("help", "set_permissions")
    assert r.returncode == 0 and "<conf> <write> <read>" in r.stdout
    r = ctl.run("--version")
    assert r.returncode == 0 and r.stdout.strip()


def test_environment_variables(ctl):
    r = ctl.run("-q", "list_vhosts", conn=False,
                env={"SLUICECTL_HOST": ctl.host, "SLUICECTL_PORT": str(ctl.port),
                     "SLUICECTL_USER": "guest", "SLUICECTL_PASSWORD": "guest"})
    assert r.returncode == 0 and "/" in lines(r.stdout)
    r = ctl.run("status", conn=False, env={"SLUICECTL_HOST": ctl.host,
                                           "SLUICECTL_PORT": str(ctl.port),
                                           "SLUICECTL_PASSWORD": "nope"})
    assert r.returncode == 77
    # options win over the environment
    r = ctl.run("--port", str(ctl.port), "-q", "list_vhosts", conn=False,
                env={"SLUICECTL_PORT": "1"})
    assert r.returncode == 0


def test_options_after_command_and_equals_form(ctl, queue):
    out = ctl.ok("list_queues", "name", "--formatter=json", "--quiet")
    assert queue in [q["name"] for q in json.loads(out)]
    out = ctl.ok("list_queues", "--vhost=/", "--no-table-headers", "-q", "name")
    assert queue in lines(out) and "name" not in lines(out)


# --- the HTTP client against a scripted server ------------------------------

def _one_shot_server(reply):
    """Serves <reply> (raw bytes) to each connection; returns (port, stop)."""
    import threading
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    done = threading.Event()
    seen = []

    def loop():
        while not done.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            seen.append(data)
            c.sendall(reply)
            c.close()
        srv.close()
    threading.Thread(target=loop, daemon=True).start()
    return srv.getsockname()[1], done, seen


def test_http_client_chunked_and_auth_header():
    if not os.path.exists(SLUICECTL):
        pytest.skip("sluicectl not built")
    body = b'[{"name":"/"},{"name":"v\\u00e9"}]'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:5], body[5:])) + b"0\r\n\r\n"
    port, done, seen = _one_shot_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n" + chunked)
    try:
        r = subprocess.run([SLUICECTL, "--port", str(port), "--user", "u",
                            "--password", "p:w", "-q", "list_vhosts"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "name\n/\nv\u00e9\n"
        head = seen[0].decode()
        assert head.startswith("GET /api/vhosts HTTP/1.1\r\n")
        assert "Authorization: Basic dTpwOnc=\r\n" in head
    finally:
        done.set()


@pytest.mark.parametrize("reply,code", [
    (b"garbage\r\n\r\n", 70),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[]", 70),   # cut short
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n[{]}}", 70),   # bad JSON
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 40\r\n\r\n"
     b'{"error":"boom","reason":"broken thing"}', 70),
])
def test_http_client_bad_answers(reply, code):
    if not os.path.exists(SLUICECTL):
        pytest.skip("sluicectl not built")
    port, done, _ = _one_shot_server(reply)
    try:
        r = subprocess.run([SLUICECTL, "--port", str(port), "list_users"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == code, (r.stdout, r.stderr)
        assert r.stderr.startswith("Error:\n")
    finally:
        done.set()


def test_url_encoding_of_names(ctl):
    v = uniq("ctl v/ä")
    q = "q with/slash%" + uniq("")
    try:
        ctl.ok("add_vhost", v)
        ctl.ok("set_permissions", "-p", v, "guest", ".*", ".*", ".*")
        ctl.ok("declare_queue", "-p", v, q)
        assert [q] == [x["name"] for x in ctl.json("list_queues", "-p", v)]
        ctl.ok("-p", v, "publish", "", q, "x")
        assert ctl.json("get", "-p", v, q)[0]["payload"] == "x"
        ctl.ok("delete_queue", "-p", v, q)
    finally:
        ctl.run("delete_vhost", v)
