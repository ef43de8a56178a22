"""Loopback ports reserved for a listener that starts later.

Finding a free port (bind to 0, read the number, close) and handing it to
sluiced races with every other process on the machine: the ASan tree's
suites run alongside the plain tree's, the recovery suite alongside the
integration suite, and any of their brokers, clients or bind(0) calls can
take the port between the close and sluiced's bind.

A reservation closes that window. Its port stays bound in this process
with SO_REUSEADDR and never listens, on 127.0.0.1 and (where the machine
has it) on ::1, as the listeners' default bind "127.0.0.1, ::1" needs.
Sluiced (net_addr_listen), etcd and Prometheus set SO_REUSEADDR on their
listening sockets, so they can bind and listen on it while it is held.
Checked on Linux 6.18: the kernel hands a reserved port to no other
bind(0) on 127.0.0.1, 0.0.0.0, ::1 or :: (with SO_REUSEADDR or without,
so no other reservation either) and to no outgoing connection; a
listener without SO_REUSEADDR fails with EADDRINUSE. A connect to a
reserved port nobody listens on is refused, so a reservation is also a
port that stays dead.

Hold a reservation until the process using it is listening (a process
started again on the same port, such as a cluster node after a kill,
keeps it for its lifetime), then release it. make_broker (conftest)
does that for the ports it is given:

    held = Ports()
    port = held.new()
    b = make_broker("--set", "mqtt.ws_port=%d" % port, reserved=held)

or, for a port that must stay dead:

    with Ports() as dead:
        port = dead.new()
        ...

The recovery suite imports this module too (recovery_helpers puts
tests/integration on sys.path).
"""
import errno
import socket

# Errors binding ::1 that mean "no IPv6 loopback here", not "port taken".
_NO_V6 = (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


def _reserving_socket(family):
    s = socket.socket(family)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return s


class Ports:
    """Loopback ports held until release() (or the end of a with block)."""

    def __init__(self):
        self.held = []          # sockets
        self.ports = []         # their port numbers, in the order reserved

    def new(self):
        """Reserve a port on 127.0.0.1 and ::1; return its number."""
        tried = []              # kept bound while looking, so bind(0) moves on
        try:
            while True:
                s4 = _reserving_socket(socket.AF_INET)
                s4.bind(("127.0.0.1", 0))
                port = s4.getsockname()[1]
                try:
                    s6 = _reserving_socket(socket.AF_INET6)
                except OSError as e:
                    if e.errno not in _NO_V6:
                        s4.close()
                        raise
                    s6 = None
                if s6 is not None:
                    try:
                        s6.bind(("::1", port))
                    except OSError as e:
                        s6.close()
                        s6 = None
                        if e.errno not in _NO_V6:
                            tried.append(s4)        # taken on ::1: another one
                            continue
                self.held += [s for s in (s4, s6) if s is not None]
                self.ports.append(port)
                return port
        finally:
            for s in tried:
                s.close()

    def release(self):
        for s in self.held:
            s.close()
        self.held, self.ports = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        self.release()
