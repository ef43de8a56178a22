"""Replication over TLS (cluster.tls): two nodes with the [tls] certificate
replicate and confirm; the bytes between them are encrypted (a relay the
follower reaches the leader through records them); a node whose
certificate another CA signed, or whose CN is not cluster.tls_peer_name,
gets nothing."""
import os
import socket
import threading

import pytest

from cluster_helpers import etcd, nodes, publish_confirmed, wait_for  # noqa: F401 (fixtures)
from tls_helpers import pki  # noqa: F401 (fixture)

MARKER = b"cleartext-marker-7f3a9c"


def tls_sets(pki, cert="server", extra=()):
    return ["tls.cert_file=" + pki.p(cert + ".crt"), "tls.key_file=" + pki.p(cert + ".key"),
            "tls.ca_file=" + pki.p("ca.crt")] + list(extra)


class Relay(threading.Thread):
    """Listens on (host, port), forwards every connection to target and
    keeps every byte it forwarded: both ways in captured, and each way
    in upstream (towards target) and downstream."""

    def __init__(self, host, port, target):
        super().__init__(daemon=True)
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind((host, port))
        self.srv.listen(4)
        self.target = target
        self.captured = bytearray()
        self.upstream, self.downstream = bytearray(), bytearray()
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            b = socket.create_connection(self.target)
            for src, dst, way in ((a, b, self.upstream), (b, a, self.downstream)):
                threading.Thread(target=self.pump, args=(src, dst, way),
                                 daemon=True).start()

    def pump(self, src, dst, way):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.captured += data
                    way += data
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def bytes(self, way=None):
        with self.lock:
            return bytes(self.captured if way is None else way)

    def close(self):
        self.srv.close()


def test_replication_over_tls_confirms_and_is_encrypted(nodes, pki):
    # a binds 127.0.0.2 but advertises 127.0.0.3, where the relay listens
    named = ["cluster.tls_peer_name=localhost"]
    a = nodes("a", tls_sets(pki, extra=named + ["cluster.replication_bind=127.0.0.2",
                                                "cluster.advertised_host=127.0.0.3"]))
    relay = Relay("127.0.0.3", a.repl_port, ("127.0.0.2", a.repl_port))
    try:
        port = a.start().wait_leader()
        assert a.count("replication over TLS") == 1
        b = nodes("b", tls_sets(pki, extra=named)).start()
        a.wait_log("follower b caught up")
        # min_in_sync_followers = 1: each confirm means b has the message
        publish_confirmed(port, "q", [MARKER + b"-%d" % i for i in range(50)])
        wait_for(lambda: any(MARKER in v for k, v in b.files().items()
                             if k.startswith("journal")), 10, "the bodies on b")
        seen = relay.bytes()
        assert len(seen) > 50 * len(MARKER), "the relay saw no replication traffic"
        assert seen[:1] == b"\x16", "expected a TLS handshake record first"
        assert MARKER not in seen
        assert b"cluster-test-secret" not in seen
    finally:
        relay.close()


def test_replication_refuses_certificates_it_cannot_trust(nodes, pki):
    # the leader's own certificate has CN alice while it expects
    # localhost of its followers
    a = nodes("a", tls_sets(pki, cert="alice",
                            extra=["cluster.tls_peer_name=localhost"])).start()
    a.wait_leader()
    # signed by a CA the cluster does not trust: the TLS handshake fails
    rogue = nodes("rogue", tls_sets(pki, cert="mallory")).start()
    rogue.wait_log("TLS: ")
    # signed by the right CA, but not the CN the leader expects
    other = nodes("other", tls_sets(pki, cert="bob")).start()
    a.wait_log("its certificate's CN 'bob' is not cluster.tls_peer_name 'localhost'")
    # the follower checks the leader's CN too
    b = nodes("b", tls_sets(pki, extra=["cluster.tls_peer_name=localhost"])).start()
    b.wait_log("its certificate's CN 'alice' is not cluster.tls_peer_name 'localhost'")
    for n in (rogue, other, b):
        assert n.count("copying") == 0
        assert not os.path.exists(os.path.join(n.data_dir, "definitions.json"))
        assert a.count("follower %s (" % n.name) == 0


@pytest.mark.parametrize("sets,why", [
    (["cluster.tls=yes"], "cluster.tls = yes needs tls.cert_file"),
    (["tls.cert_file=/x.crt", "tls.key_file=/x.key"], "or set cluster.tls = no"),
    (["cluster.tls=no", "cluster.tls_peer_name=n"], "cluster.tls_peer_name needs"),
])
def test_cluster_tls_config_errors(tmp_path, sets, why):
    import subprocess
    from recovery_helpers import SLUICED
    args = [SLUICED, "--set", "broker.data_dir=" + str(tmp_path / "d"),
            "--set", "cluster.etcd_endpoints=http://127.0.0.1:1",
            "--set", "cluster.node_name=a", "--set", "cluster.secret=s"]
    for s in sets:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r.stderr
    assert why in r.stderr
