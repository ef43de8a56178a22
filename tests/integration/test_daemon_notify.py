"""sd_notify (systemd's Type=notify): sluiced says READY=1 once its
listeners accept connections, RELOADING=1 then READY=1 on SIGHUP (and
keeps running), STOPPING=1 on SIGTERM. The test plays systemd's part: a
datagram socket named by NOTIFY_SOCKET. Skipped for a build without
libsystemd (-Dsystemd=disabled)."""
import os
import signal
import socket
import subprocess
import tempfile

import pika
import pytest

from conftest import SLUICED, Broker, wait_for


def has_systemd():
    out = subprocess.run(["ldd", SLUICED], capture_output=True, text=True).stdout
    return "libsystemd" in out


pytestmark = pytest.mark.skipif(not os.path.exists(SLUICED) or not has_systemd(),
                                reason="sluiced built without libsystemd")


def recv_until(sock, word, timeout=10):
    """Datagrams until one holds the line word; all of them, in order."""
    sock.settimeout(timeout)
    got = []
    while True:
        msg = sock.recv(4096).decode()
        got.append(msg)
        if word in msg.split("\n"):
            return got


def test_ready_reload_stopping(monkeypatch):
    d = tempfile.mkdtemp(prefix="sluice-notify-")
    path = os.path.join(d, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    b = Broker()
    try:
        msgs = recv_until(sock, "READY=1")
        ready = msgs[-1].split("\n")
        assert "MAINPID=%d" % b.proc.pid in ready
        assert any(line.startswith("STATUS=") for line in ready)
        assert not [m for m in msgs[:-1] if "READY=1" in m]
        # ready means ready: every listener was bound first
        log = b.log()
        assert "listening amqp" in log and "listening http" in log
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
        conn.close()

        b.proc.send_signal(signal.SIGHUP)
        msgs = recv_until(sock, "READY=1")
        assert "RELOADING=1" in msgs[0].split("\n")
        assert b.alive(), b.log()
        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
        conn.close()

        b.proc.send_signal(signal.SIGTERM)
        msgs = recv_until(sock, "STOPPING=1")
        assert b.proc.wait(20) == 0
    finally:
        b.stop()
        sock.close()
        os.unlink(path)
        os.rmdir(d)


def test_without_notify_socket_sighup_is_harmless(broker):
    broker.proc.send_signal(signal.SIGHUP)
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", broker.port))
    conn.close()
    assert wait_for(lambda: "SIGHUP received" in broker.log())
    assert broker.alive()
