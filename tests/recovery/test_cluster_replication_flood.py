"""Connections to the leader's replication port that never say hello
(anyone who reaches the port can open them, no secret needed) do not
keep followers out: past a few of them the oldest is closed for the new
one, so a follower, which says hello at once, gets in while they keep
coming. Refusing new connections at a limit instead let 16 idle
sockets, reopened as the handshake deadline closed them, keep every
follower out for as long as they were held."""
import socket
import struct
import threading
import time

from cluster_helpers import etcd, nodes  # noqa: F401 (fixtures)


class Flood:
    """Keeps `n` idle connections to port open, opening a new one for
    each the leader closes."""

    def __init__(self, port, n):
        self.port, self.n = port, n
        self.opened = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        held = []
        while not self.stop.is_set():
            for s in list(held):            # closed by the leader: b"" or an error
                try:
                    if s.recv(4096) == b"":
                        raise OSError
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    held.remove(s)
            if len(held) < self.n:
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                    s.setblocking(False)
                    held.append(s)
                    self.opened += 1
                except OSError:
                    time.sleep(0.01)
            else:
                time.sleep(0.01)
        for s in held:
            s.close()

    def close(self):
        self.stop.set()
        self.thread.join(10)


def test_idle_connections_do_not_keep_a_follower_out(nodes):
    a = nodes("a")
    a.start()
    a.wait_leader()
    flood = Flood(a.repl_port, 20)
    try:
        time.sleep(1)
        assert flood.opened >= 16
        b = nodes("b")
        b.start()
        a.wait_log("follower b (", timeout=30)
        a.wait_log("replication connections without a hello: closing the oldest")
    finally:
        flood.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_hello_with_a_wrong_mac_is_refused_before_its_file_list(nodes):
    """A hello may be 8 MiB (the follower's list of files); its MAC comes
    first. 12 peers without the secret, each streaming most of an 8 MiB
    hello behind a wrong MAC, made the leader hold 96 MB until each frame
    was whole; now each is closed once its MAC is in."""
    a = nodes("a")
    a.start()
    a.wait_leader()
    before = rss_kb(a.proc.pid)
    socks, sent = [], 0
    try:
        for _ in range(12):
            s = socket.create_connection(("127.0.0.1", a.repl_port), timeout=10)
            socks.append(s)
            prefix = b"\x00" * 64 + b"\x01" + b"x"
            try:
                s.sendall(struct.pack(">I", 8 << 20) + b"H" + prefix)
                for _ in range(127):
                    s.sendall(b"\x00" * 65536)
                    sent += 65536
            except OSError:
                pass                        # refused under us: the answer wanted
        grown = rss_kb(a.proc.pid) - before
        assert grown < 24 << 10, "the leader grew %d KiB for %d bytes sent" % (grown, sent)
    finally:
        for s in socks:
            s.close()
