"""Clients that write and never read: how far the broker lets them get."""
import time


def tcp_buf_max(name):
    """The most the kernel autotunes a TCP socket buffer to (bytes)."""
    with open("/proc/sys/net/ipv4/" + name) as f:
        return int(f.read().split()[2])


def kernel_buffers_limit():
    """What a client that never reads can have sent once the broker stops
    reading it: the answers' path and the requests' path, each a sender's
    and a receiver's buffer (up to tcp_wmem's and tcp_rmem's maximum),
    plus a MiB of slack."""
    return 2 * (tcp_buf_max("tcp_rmem") + tcp_buf_max("tcp_wmem")) + (1 << 20)


def send_until_stalled(sock, burst, limit, stall=1.5, timeout=60):
    """Send burst over and over on sock (made non-blocking), a partial
    send's rest first so frames stay whole, until no byte is taken for
    stall seconds or more than limit bytes went. (sent, stalled)."""
    sock.setblocking(False)
    sent, since, rest = 0, None, memoryview(b"")
    deadline = time.time() + timeout
    while time.time() < deadline and sent <= limit:
        rest = rest or memoryview(burst)
        try:
            n = sock.send(rest)
            sent, rest, since = sent + n, rest[n:], None
        except BlockingIOError:
            since = since or time.time()
            if time.time() - since > stall:
                return sent, True
            time.sleep(0.05)
        except OSError:
            break
    return sent, False


def push_until_refused(sock, chunk, times):
    """sendall chunk up to times times; the bytes sent before the peer
    closed (or all of them)."""
    sent = 0
    try:
        for _ in range(times):
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    return sent
