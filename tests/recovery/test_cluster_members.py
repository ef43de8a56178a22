"""Members and watch: every node registers in etcd (<prefix>/members/NAME,
and <prefix>/alive/NAME on its lease); /api/nodes on the leader lists
every member etcd knows, down ones as running: false, including nodes
that never streamed from it. The nodes watch etcd (/v3/watch) instead of
polling it: counted with etcd's own request counters, not a clock. With
the watch refused (a relay in front of etcd that drops /v3/watch) they
fall back to polling, and a failover still happens."""
import http.server
import json
import re
import socketserver
import threading
import urllib.request

from cluster_helpers import LEASE_TTL, wait_for
from test_cluster import etcd, nodes  # noqa: F401 (fixtures)


def api_nodes(node):
    port = int(re.search(r"listening http \S+:(\d+)", node.log()).group(1))
    req = urllib.request.Request("http://127.0.0.1:%d/api/nodes" % port)
    req.add_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")      # guest:guest
    return {n.get("cluster_node_name", n["name"]): n
            for n in json.load(urllib.request.urlopen(req, timeout=10))}


def etcd_calls(etcd, method):
    """Calls of method etcd has started (a watch is handled only once it
    ends)."""
    text = urllib.request.urlopen(etcd.url + "/metrics", timeout=10).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(
        r'^grpc_server_started_total\{[^}]*grpc_method="%s"[^}]*\} (\S+)' % method, text,
        re.M))


def idle_ranges(etcd, seconds):
    """Range requests etcd answered during seconds of an idle cluster."""
    import time
    before = etcd_calls(etcd, "Range")
    time.sleep(seconds)
    return etcd_calls(etcd, "Range") - before


HTTP = ["http.enabled=yes", "http.port=0"]


def test_api_nodes_lists_every_member_and_nodes_watch_etcd(nodes, etcd):
    a = nodes("a", HTTP).start()
    a.wait_leader()
    b = nodes("b", HTTP).start()
    c = nodes("c", HTTP).start()
    a.wait_log("b is in the in-sync set")
    a.wait_log("c is in the in-sync set")
    wait_for(lambda: sorted(api_nodes(a)) == ["a", "b", "c"], 10, "three members")
    assert all(n["running"] for n in api_nodes(a).values())
    # watching: three idle nodes for 2 TTLs (20 polls each when polling)
    ranges = idle_ranges(etcd, 2 * LEASE_TTL)
    print("etcd ranges in %d s of an idle 3-node cluster, watching: %d"
          % (2 * LEASE_TTL, ranges))
    # polling would be about 60; an etcd call that times out on a loaded
    # machine makes a node poll until its new watch is in place (1 s),
    # which costs a few reads, not tens
    assert ranges <= 12
    assert etcd_calls(etcd, "Watch") >= 3
    # c down: listed, not running, once its lease has run out
    c.kill()
    wait_for(lambda: api_nodes(a)["c"]["running"] is False, 4 * LEASE_TTL, "c down")
    # the leader down: b, the only in-sync node left, takes
    # over through the watch; it lists a and c, which never streamed
    # from it, as down
    a.kill()
    b.wait_leader(timeout=8 * LEASE_TTL)
    wait_for(lambda: sorted(api_nodes(b)) == ["a", "b", "c"], 10, "b to list every member")
    got = api_nodes(b)
    assert got["b"]["cluster_role"] == "leader"
    assert got["a"]["running"] is False and got["c"]["running"] is False


class NoWatchProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def no_watch_proxy(target):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/v3/watch"):
                self.send_error(503)
                return
            req = urllib.request.Request(target + self.path, data=body,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    out, status = r.read(), r.status
            except urllib.error.HTTPError as e:
                out, status = e.read(), e.code
            self.send_response(status)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
    srv = NoWatchProxy(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_without_a_watch_the_nodes_poll_and_fail_over(nodes, etcd):
    proxy = no_watch_proxy(etcd.url)
    try:
        via = ["cluster.etcd_endpoints=http://127.0.0.1:%d" % proxy.server_address[1]]
        a = nodes("a", via).start()
        a.wait_leader()
        b = nodes("b", via).start()
        a.wait_log("b is in the in-sync set")
        ranges = idle_ranges(etcd, LEASE_TTL)
        print("etcd ranges in %d s of an idle 2-node cluster, polling: %d"
              % (LEASE_TTL, ranges))
        assert ranges >= 5, "with no watch the follower must poll"
        assert etcd_calls(etcd, "Watch") == 0
        a.kill()
        b.wait_leader(timeout=8 * LEASE_TTL)
    finally:
        proxy.shutdown()
        proxy.server_close()
