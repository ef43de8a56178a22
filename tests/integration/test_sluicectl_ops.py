"""sluicectl: policies, health checks, pretty tables, bash completion, and its
HTTP client (libcurl) through HTTPS, client certificates, redirects,
a path prefix and an HTTP proxy.

The TLS, redirecting and proxying front ends are small Python servers started
here on loopback in front of the broker's plain HTTP API; certificates come
from the openssl command line tool into a temporary directory.
"""
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.parse

import pytest

from conftest import ROOT
from test_sluicectl import SLUICECTL, Ctl, ctl, lines, queue, uniq  # noqa: F401

COMPLETION = os.path.join(ROOT, "tools", "ctl", "sluicectl.bash")


# --- policies ----------------------------------------------------------------

def test_policies_set_list_clear(ctl):
    v = uniq("pol-vh")
    ctl.ok("add_vhost", v)
    try:
        out = ctl.ok("set_policy", "-p", v, "--priority", "5", "--apply-to", "queues",
                     "cap", "^cap\\.", '{"max-length":10}')
        assert out == ('Setting policy "cap" for pattern "^cap\\." to '
                       '"{"max-length":10}" with priority "5" for vhost "%s" ...\n' % v)
        ctl.ok("set_policy", "-p", v, "ttl", "^t", '{"message-ttl":1000}')
        ctl.ok("set_policy", "-p", v, "--priority=-1", "low", ".*",
               '{"expires":60000}', "--apply-to", "all")
        out = ctl.ok("list_policies", "-p", v)
        assert lines(out) == [
            'Listing policies for vhost "%s" ...' % v,
            "vhost\tname\tpattern\tapply-to\tdefinition\tpriority",
            "%s\tlow\t.*\tall\t{\"expires\":60000}\t-1" % v,
            "%s\tttl\t^t\tall\t{\"message-ttl\":1000}\t0" % v,
            "%s\tcap\t^cap\\.\tqueues\t{\"max-length\":10}\t5" % v,
        ]
        js = ctl.json("list_policies", "-p", v)
        assert [p["name"] for p in js] == ["low", "ttl", "cap"]
        assert js[2] == {"vhost": v, "name": "cap", "pattern": "^cap\\.",
                         "apply-to": "queues", "definition": '{"max-length":10}',
                         "priority": 5}
        # the API agrees
        r = ctl.run("-q", "list_policies", "-p", v)
        assert len(lines(r.stdout)) == 4
        out = ctl.ok("clear_policy", "-p", v, "ttl")
        assert out == 'Clearing policy "ttl" on vhost "%s" ...\n' % v
        assert [p["name"] for p in ctl.json("list_policies", "-p", v)] == ["low", "cap"]
    finally:
        ctl.run("delete_vhost", v)


def test_policy_applies_to_queue(ctl, queue):
    name = uniq("pq")
    try:
        ctl.ok("set_policy", name, "^%s$" % queue, '{"max-length":3}',
               "--apply-to", "queues")
        rows = ctl.json("list_queues", "name", "policy", "effective_policy_definition")
        mine = [r for r in rows if r["name"] == queue][0]
        assert mine["policy"] == name
        assert mine["effective_policy_definition"] == {"max-length": 3}
    finally:
        ctl.run("clear_policy", name)


def test_operator_policies(ctl):
    name = uniq("op")
    try:
        out = ctl.ok("set_operator_policy", "--priority", "2", "--apply-to", "queues",
                     name, "^never-matches-", '{"max-length":100}')
        assert out.startswith('Setting operator policy override "%s" for pattern '
                              '"^never-matches-" to "{"max-length":100}" with '
                              'priority "2" for vhost "/" ...' % name)
        out = ctl.ok("list_operator_policies")
        assert lines(out)[0] == 'Listing operator policy overrides for vhost "/" ...'
        assert "%s\t%s\t^never-matches-\tqueues\t{\"max-length\":100}\t2" % ("/", name) \
            in lines(out)
        # an operator policy is not a policy
        assert name not in [p["name"] for p in ctl.json("list_policies")]
        out = ctl.ok("clear_operator_policy", name)
        assert out == 'Clearing operator policy "%s" on vhost "/" ...\n' % name
        assert name not in [p["name"] for p in ctl.json("list_operator_policies")]
    finally:
        ctl.run("clear_operator_policy", name)


def test_policy_errors(ctl):
    r = ctl.run("clear_policy", uniq("missing"))
    assert r.returncode == 70 and r.stderr == "Error:\nParameter does not exist\n"
    r = ctl.run("clear_operator_policy", uniq("missing"))
    assert r.returncode == 70 and "Parameter does not exist" in r.stderr
    r = ctl.run("set_policy", uniq("bad"), ".*", '{"max-length":"x"}')
    assert r.returncode == 70
    # the API escapes the reason for HTML; the terminal shows it as it is
    assert '<<"x">> is not a valid maximum length' in r.stderr, r.stderr
    r = ctl.run("set_policy", uniq("bad"), ".*", "{not json")
    assert r.returncode == 70 and "JSON decoding error" in r.stderr
    r = ctl.run("set_policy", uniq("bad"), ".*", '{"max-length":1}',
                "--apply-to", "everything")
    assert r.returncode == 70 and r.stderr.startswith("Error:\n")
    r = ctl.run("set_policy", "-p", uniq("no-vhost"), uniq("p"), ".*", '{"max-length":1}')
    assert r.returncode == 65 and "does not exist" in r.stderr
    r = ctl.run("list_policies", "-p", uniq("no-vhost"))
    assert r.returncode == 65 and "does not exist" in r.stderr
    for args in (["set_policy", "a", "b"], ["set_policy", "--priority", "high", "a", "b", "{}"],
                 ["clear_policy"], ["list_policies", "extra"]):
        r = ctl.run(*args)
        assert r.returncode == 64 and r.stdout == "", (args, r.stderr)


# --- health checks -------------------------------------------------------------

def node_of(ctl):
    return ctl.json("status")["node"]


def test_health_checks_pass(ctl):
    node = node_of(ctl)
    cases = [
        (["check_running"], "Checking if RabbitMQ is running on node %s ..." % node,
         "RabbitMQ on node %s is fully booted and running" % node),
        (["check_alarms"], "Asking node %s to report any local resource alarms ..." % node,
         "Node %s reported no alarms, local or clusterwide" % node),
        (["check_local_alarms"], "Asking node %s to report any local resource alarms ..."
         % node, "Node %s reported no local alarms" % node),
        (["check_port_listener", str(ctl.port)],
         "Asking node %s if there's an active listener on port %d ..." % (node, ctl.port),
         "A listener for port %d is running on node %s." % (ctl.port, node)),
        (["check_protocol_listener", "amqp091"],
         "Asking node %s if there's an active listener for protocol amqp091 ..." % node,
         "A listener for protocol amqp091 is running on node %s." % node),
        (["check_virtual_hosts"], "Checking if all vhosts are running on node %s ..." % node,
         "Node %s reported all vhosts as running" % node),
        (["check_certificate_expiration"],
         "Checking certificate expiration on node %s ..." % node,
         "No certificates are expiring within 4 weeks."),
        (["check_certificate_expiration", "--within", "1", "--unit", "days"],
         "Checking certificate expiration on node %s ..." % node,
         "No certificates are expiring within 1 day."),
        (["check_if_node_is_quorum_critical"],
         "Checking if node %s is critical for quorum of any quorum queues ..." % node,
         "Node %s reported no quorum queues with minimum quorum" % node),
        (["check_if_metadata_store_is_initialized"],
         "Checking if the metadata store on node %s is initialized ..." % node,
         "Metadata store on node %s is initialized" % node),
        (["check_if_metadata_store_is_initialized_with_data"],
         "Checking if the metadata store on node %s is initialized with data ..." % node,
         "Metadata store on node %s is initialized and has data" % node),
        (["check_if_node_is_below_connection_limit"],
         "Checking if node %s is below its connection limit ..." % node,
         "Node %s is below its connection limit" % node),
        (["check_if_node_is_ready_to_serve_clients"],
         "Checking if node %s is ready to serve clients ..." % node,
         "Node %s is ready to serve clients" % node),
    ]
    for args, banner, answer in cases:
        assert lines(ctl.ok(*args)) == [banner, answer], args
        assert ctl.ok("-q", *args) == answer + "\n"
        assert ctl.ok("-s", *args) == ""
        assert ctl.json(*args) == {"result": "ok"}


def test_health_checks_fail(ctl):
    node = node_of(ctl)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    r = ctl.run("check_port_listener", str(free))
    assert r.returncode == 69
    msg = r.stderr.split("\n")[1]
    assert msg.startswith("No listener for port %d is active on node %s. Found listeners "
                          "that use the following ports: " % (free, node))
    ports = [int(p) for p in msg.split(": ", 1)[1].split(", ")]
    assert ctl.port in ports and ctl.amqp_port in ports and ports == sorted(ports)
    r = ctl.run("--formatter", "json", "check_port_listener", str(free))
    assert r.returncode == 69
    body = json.loads(r.stdout)
    assert body["result"] == "error" and body["missing"] == free
    assert ctl.amqp_port in body["ports"]
    r = ctl.run("-s", "check_port_listener", str(free))
    assert r.returncode == 69 and r.stdout == "" and r.stderr == ""
    r = ctl.run("check_protocol_listener", "stomp")
    assert r.returncode == 69
    assert ("No listener for protocol stomp is active on node %s. Found listeners for "
            "the following protocols: " % node) in r.stderr
    assert "amqp" in r.stderr and "http" in r.stderr
    for args in (["check_port_listener", "0"], ["check_port_listener", "x"],
                 ["check_certificate_expiration", "--unit", "fortnights"],
                 ["check_certificate_expiration", "--within", "soon"],
                 ["check_alarms", "extra"]):
        r = ctl.run(*args)
        assert r.returncode == 64, (args, r.stderr)
    r = ctl.run("check_protocol_listener", "amqp,stomp")
    assert r.returncode == 69 and '["stomp"]' in r.stderr
    assert ctl.ok("-q", "check_protocol_listener", "amqp,http") == (
        "A listener for protocol amqp,http is running on node %s.\n" % node)
    r = ctl.run("check_certificate_expiration", "--unit", "fortnights")
    assert ("unit 'fortnights' is not supported. Please use one of: days, weeks, "
            "months, years") in r.stderr


def http_get(ctl, path):
    conn = http.client.HTTPConnection(ctl.host, ctl.port, timeout=10)
    conn.request("GET", path, headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    body = conn.getresponse().read()
    conn.close()
    return body


def test_cluster_status(ctl):
    """A single broker is a cluster of one disc node, as RabbitMQ reports
    a node that joined none; listeners and cores are the API's."""
    nodes = json.loads(http_get(ctl, "/api/nodes"))
    node = nodes[0]["name"]
    rep = ctl.json("cluster_status")
    assert rep["cluster_name"] == node
    assert rep["disk_nodes"] == [node] and rep["running_nodes"] == [node]
    assert rep["ram_nodes"] == [] and rep["alarms"] == [] and rep["partitions"] == {}
    assert rep["cpu_cores"] == {node: nodes[0]["processors"]}
    assert rep["maintenance_status"] == {node: "not under maintenance"}
    assert rep["versions"][node]["rabbitmq_name"] == "Sluice"
    amqp = [x for x in rep["listeners"][node] if x["port"] == ctl.amqp_port]
    assert amqp and amqp[0]["protocol"] == "amqp"
    assert amqp[0]["purpose"] == "AMQP 0-9-1 and AMQP 1.0"
    http = [x for x in rep["listeners"][node] if x["port"] == ctl.port]
    assert http[0]["purpose"] == "HTTP API"
    out = ctl.ok("cluster_status").split("\n")
    assert out[0] == "Cluster status of node %s ..." % node
    assert out[1:5] == ["Basics", "", "Cluster name: %s" % node,
                        "Total CPU cores available cluster-wide: %d" % nodes[0]["processors"]]
    for title in ("Disk Nodes", "Running Nodes", "Versions", "CPU Cores",
                  "Maintenance status", "Alarms", "Network Partitions", "Listeners",
                  "Feature flags"):
        assert out[out.index(title) + 1] == "", title
    assert out[out.index("Disk Nodes") + 2] == node
    assert ("Node: %s, interface: 127.0.0.1, port: %d, protocol: amqp, purpose: AMQP "
            "0-9-1 and AMQP 1.0" % (node, ctl.amqp_port)) in out
    assert out[out.index("Alarms") + 2] == "(none)"


def test_ping_needs_no_credentials(ctl):
    out = ctl.ok("--password", "wrong", "ping")
    assert lines(out)[-1] == "Ping succeeded"
    assert lines(out)[0].startswith("Will ping ")
    # but a check that reads the node name does
    r = ctl.run("--password", "wrong", "check_alarms")
    assert r.returncode == 77


# --- pretty_table ----------------------------------------------------------------

def test_pretty_table(ctl):
    v = uniq("pretty")
    ctl.ok("add_vhost", v)
    try:
        ctl.ok("set_policy", "-p", v, "ä-policy", "^a", '{"max-length":1}')
        ctl.ok("set_policy", "-p", v, "--priority", "10", "b", ".*", '{"expires":1000}')
        out = ctl.ok("--formatter", "pretty_table", "list_policies", "-p", v)
        w = len(v)
        head = 'Listing policies for vhost "%s" ...' % v
        bar = lambda l, m, r: (l + m.join("─" * (n + 2) for n in (max(w, 5), 8, 7, 8, 16, 8))
                               + r)
        row = lambda *c: "│" + "│".join(" %-*s " % (n, x) for n, x in zip(
            (max(w, 5), 8, 7, 8, 16, 8), c)) + "│"
        assert lines(out) == [
            head,
            bar("┌", "┬", "┐"),
            row("vhost", "name", "pattern", "apply-to", "definition", "priority"),
            bar("├", "┼", "┤"),
            row(v, "ä-policy", "^a", "all", '{"max-length":1}', "0"),
            bar("├", "┼", "┤"),
            row(v, "b", ".*", "all", '{"expires":1000}', "10"),
            bar("└", "┴", "┘"),
        ], out
        # nothing to list: just the banner
        ctl.ok("clear_policy", "-p", v, "b")
        ctl.ok("clear_policy", "-p", v, "ä-policy")
        assert ctl.ok("--formatter", "pretty_table", "list_policies", "-p", v) == head + "\n"
        out = ctl.ok("--formatter", "pretty_table", "list_vhosts", "name")
        assert "│ %s" % v in out and out.count("┌") == 1
    finally:
        ctl.run("delete_vhost", v)


# --- bash completion ---------------------------------------------------------------

def complete(ctl, *words):
    """The completions bash would offer after <words> (the last is the
    word being completed), against the test broker."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); '
              'COMPREPLY=(); _sluicectl; printf "%s\\n" "${COMPREPLY[@]}"')
    argv = ["bash", "-c", script, "bash", COMPLETION, SLUICECTL, "--port", str(ctl.port)]
    r = subprocess.run(argv + list(words), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.split("\n") if l]


def test_bash_completion(ctl, queue):
    if not shutil.which("bash"):
        pytest.skip("no bash")
    assert complete(ctl, "list_pol") == ["list_policies"]
    cmds = complete(ctl, "")
    for c in ("list_queues", "set_policy", "check_port_listener", "help"):
        assert c in cmds
    assert complete(ctl, "set_policy", "--apply") == ["--apply-to"]
    assert complete(ctl, "set_policy", "--apply-to", "q") == ["queues", "quorum_queues"]
    assert complete(ctl, "--formatter", "pr") == ["pretty_table"]
    assert complete(ctl, "check_certificate_expiration", "--unit", "d") == ["days"]
    v = uniq("comp vh")
    ctl.ok("add_vhost", v)
    try:
        assert v in complete(ctl, "list_queues", "-p", "")
        assert queue in complete(ctl, "delete_queue", "")
        assert complete(ctl, "delete_vhost", v[:8]) == [v]
        pol = uniq("comp-pol")
        ctl.ok("set_policy", "-p", v, pol, ".*", '{"max-length":1}')
        assert complete(ctl, "-p", v, "clear_policy", "") == [pol]
    finally:
        ctl.run("delete_vhost", v)
    # a broker that is not there: no completions, no noise
    r = subprocess.run(["bash", "-c", 'source "$1"; COMP_WORDS=("$2" --port 1 delete_queue ""); '
                        'COMP_CWORD=4; _sluicectl; echo "${#COMPREPLY[@]}"', "bash",
                        COMPLETION, SLUICECTL], capture_output=True, text=True, timeout=30)
    assert r.stdout == "0\n" and r.stderr == ""


# --- the HTTP client: TLS, redirects, a prefix, a proxy ------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki():
    """A CA, a server certificate for 127.0.0.1/localhost, one for another
    name, and a client certificate, in a temporary directory."""
    if not shutil.which("openssl"):
        pytest.skip("no openssl command")
    d = tempfile.mkdtemp(prefix="sluicectl-pki-")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=test ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)

    def issue(name, cn, san):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san if san else "basicConstraints=CA:FALSE\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", name + ".ext",
                "-out", name + ".pem", cwd=d)
    issue("server", "localhost", "IP:127.0.0.1,DNS:localhost")
    issue("other", "elsewhere.invalid", "DNS:elsewhere.invalid")
    issue("client", "sluicectl client", None)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Front:
    """An HTTP(S) server in front of the API. Paths under <prefix> are
    forwarded to the API (prefix removed); /api/... answers a redirect to the
    same path under <prefix> when <redirect> is set; /away/... redirects to
    <away> (another origin). Every request head is kept in .seen."""

    def __init__(self, api_port, prefix="/mgmt", redirect=None, away=None, tls=None,
                 proxy=False):
        front = self
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                front.seen.append((self.command, self.path, dict(self.headers)))
                path = self.path
                if proxy:              # absolute-form: http://host:port/path
                    path = urllib.parse.urlsplit(path).path or "/"
                    path = prefix + path if path.startswith("/api") else path
                if redirect and path.startswith("/api"):
                    return self.reply(redirect, b"", {"Location": prefix + path})
                if away and path.startswith("/away"):
                    return self.reply(302, b"", {"Location": away})
                if not path.startswith(prefix + "/"):
                    return self.reply(404, b"{}", {})
                c = http.client.HTTPConnection("127.0.0.1", api_port, timeout=10)
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() in ("authorization", "content-type")}
                c.request(self.command, path[len(prefix):], body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                c.close()
                self.reply(r.status, data, {"Content-Type": "application/json"})

            def reply(self, status, data, hdrs):
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = handle_any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        if tls:
            self.srv.socket = tls.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def tls_context(pki, cert="server", client_ca=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(os.path.join(pki, cert + ".pem"), os.path.join(pki, cert + ".key"))
    if client_ca:
        c.verify_mode = ssl.CERT_REQUIRED
        c.load_verify_locations(os.path.join(pki, "ca.pem"))
    return c


@pytest.fixture
def front_factory(ctl):
    made = []

    def make(**kw):
        f = Front(ctl.port, **kw)
        made.append(f)
        return f
    yield make
    for f in made:
        f.close()


def test_https(ctl, pki, front_factory):
    f = front_factory(tls=tls_context(pki))
    ca = os.path.join(pki, "ca.pem")
    via = ["--port", str(f.port), "--path-prefix", "/mgmt"]
    out = ctl.run(*via, "--ssl", "--cacert", ca, "-q", "list_vhosts", conn=False)
    assert out.returncode == 0 and "/" in lines(out.stdout), out.stderr
    assert f.seen[-1][2]["Authorization"].startswith("Basic ")
    # rabbitmqadmin's option names work too
    r = ctl.run(*via, "--ssl", "--ssl-ca-cert-file", ca, "-q", "list_vhosts", conn=False)
    assert r.returncode == 0, r.stderr
    # a certificate nobody vouches for
    r = ctl.run(*via, "--ssl", "list_vhosts", conn=False)
    assert r.returncode == 69 and "TLS connection to the management API" in r.stderr
    assert "certificate" in r.stderr.lower()
    r = ctl.run(*via, "--ssl", "--insecure", "-q", "list_vhosts", conn=False)
    assert r.returncode == 0, r.stderr
    # plain HTTP to a TLS port is no answer
    r = ctl.run(*via, "list_vhosts", conn=False)
    assert r.returncode in (69, 70), r.stderr


def test_https_hostname_verification(ctl, pki, front_factory):
    f = front_factory(tls=tls_context(pki, cert="other"))
    via = ["--port", str(f.port), "--path-prefix", "/mgmt", "--ssl",
           "--cacert", os.path.join(pki, "ca.pem")]
    r = ctl.run(*via, "list_vhosts", conn=False)
    assert r.returncode == 69, r.stderr
    r = ctl.run(*via, "--ssl-disable-hostname-verification", "-q", "list_vhosts", conn=False)
    assert r.returncode == 0, r.stderr


def test_https_client_certificate(ctl, pki, front_factory):
    f = front_factory(tls=tls_context(pki, client_ca=True))
    via = ["--port", str(f.port), "--path-prefix", "/mgmt/", "--ssl",
           "--cacert", os.path.join(pki, "ca.pem")]
    r = ctl.run(*via, "list_vhosts", conn=False)
    assert r.returncode == 69, r.stderr
    r = ctl.run(*via, "--cert", os.path.join(pki, "client.pem"),
                "--key", os.path.join(pki, "client.key"), "-q", "list_vhosts", conn=False)
    assert r.returncode == 0, r.stderr
    r = ctl.run(*via, "--ssl-cert-file", os.path.join(pki, "client.pem"),
                "--ssl-key-file", os.path.join(pki, "nonexistent.key"), "list_vhosts",
                conn=False)
    assert r.returncode == 69, r.stderr


def test_redirects_keep_method_body_and_credentials(ctl, front_factory):
    for status in (301, 302, 307, 308):
        f = front_factory(redirect=status)
        v = uniq("redir-%d" % status)
        r = ctl.run("--port", str(f.port), "add_vhost", v, conn=False)
        assert r.returncode == 0, (status, r.stderr)
        assert v in [x["name"] for x in ctl.json("list_vhosts")]
        # first the redirect, then the same PUT with the body under /mgmt
        assert [s[0] for s in f.seen] == ["PUT", "PUT"], (status, f.seen)
        assert f.seen[1][1].startswith("/mgmt/api/vhosts/")
        assert "Authorization" in f.seen[1][2]
        ctl.ok("delete_vhost", v)


def test_redirect_elsewhere_gets_no_credentials(ctl, front_factory):
    other = front_factory()                      # another origin, nothing under /away
    f = front_factory(away="http://localhost:%d/mgmt/api/vhosts" % other.port)
    r = ctl.run("--port", str(f.port), "--path-prefix", "/away", "list_vhosts", conn=False)
    # followed, but without the password: the API refuses
    assert other.seen and "Authorization" not in other.seen[0][2]
    assert r.returncode == 77, r.stderr


def test_redirect_loop(ctl):
    class Loop(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Loop)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = ctl.run("--port", str(srv.server_address[1]), "list_vhosts", conn=False)
        assert r.returncode == 70 and "too many redirects" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()


def test_http_proxy(ctl, front_factory):
    p = front_factory(proxy=True)
    env = {"http_proxy": "http://127.0.0.1:%d" % p.port, "no_proxy": "", "NO_PROXY": ""}
    r = ctl.run("-q", "list_vhosts", env=env)
    assert r.returncode == 0 and "/" in lines(r.stdout), r.stderr
    method, target, head = p.seen[-1]
    assert method == "GET"
    assert target == "http://127.0.0.1:%d/api/vhosts" % ctl.port
    assert head["Authorization"].startswith("Basic ")
    # no_proxy wins
    n = len(p.seen)
    env["no_proxy"] = "127.0.0.1"
    assert ctl.run("-q", "list_vhosts", env=env).returncode == 0
    assert len(p.seen) == n


def test_path_prefix_validation(ctl):
    for bad in ("mgmt", "/a b", "/a?b"):
        r = ctl.run("--path-prefix", bad, "list_vhosts")
        assert r.returncode == 64, (bad, r.stderr)
