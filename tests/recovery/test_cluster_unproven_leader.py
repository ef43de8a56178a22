"""What a follower takes from a peer at its leader's address before that
peer has proven it holds the cluster's secret (its 'P' frame): the
'N' frame and the proof, nothing longer. A peer that announces a frame
of hundreds of megabytes and streams it is dropped at the header, not
read into memory until the frame is whole."""
import os
import socket
import struct
import subprocess
import threading

import pytest

from cluster_helpers import ClusterNode, etcd, wait_for  # noqa: F401 (fixture)

if not os.path.exists("/usr/bin/etcd"):
    pytest.skip("etcd-server is not installed", allow_module_level=True)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_huge_frame_before_the_proof_is_refused_at_its_header(tmp_path, etcd):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    accepted, go, measured, sent = threading.Event(), threading.Event(), threading.Event(), []

    def serve():
        conn, _ = srv.accept()
        accepted.set()
        go.wait(30)
        n = 0
        try:
            conn.sendall(struct.pack(">I", 512 << 20) + b"N")
            while n < 64 << 20:
                conn.sendall(b"\x00" * 65536)
                n += 65536
        except OSError:
            pass                            # dropped: the answer wanted
        sent.append(n)
        measured.wait(30)                   # held open: what b read stays read
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    env = dict(os.environ, ETCDCTL_API="3")
    for key, val in (("sluice/cluster", "stand-in"),
                     ("sluice/leader", "x 127.0.0.1 %d" % srv.getsockname()[1])):
        subprocess.run(["etcdctl", "--endpoints", etcd.url, "put", key, val], check=True,
                       env=env, capture_output=True)
    b = ClusterNode(etcd, "b", str(tmp_path / "b")).start()
    try:
        assert accepted.wait(30)
        before = rss_kb(b.proc.pid)
        go.set()
        wait_for(lambda: sent, 60, "the stand-in to send")
        grown = rss_kb(b.proc.pid) - before
        measured.set()
        assert grown < 16 << 10, "the follower grew %d KiB for %d bytes sent" % (grown, sent[0])
        assert "AddressSanitizer" not in b.log()
    finally:
        measured.set()
        b.kill()
        srv.close()
