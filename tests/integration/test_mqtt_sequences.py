"""Byte-exact MQTT conversations: every case of the shared sequence data
(``mqtt-sequences``, 1,483 raw-packet conversations that Mosquitto 2.0
passes) replayed against one sluiced started for the run, in the data's
order, one pytest case each.

Where the data lives: ``$SLUICE_MQTT_SEQUENCES`` if set, else
``<repository>/../shared/conformance/mqtt-sequences`` (for a git worktree,
also beside the main checkout). The data is read at test time and never
copied into the repository; without it the run is skipped with a message
that says where it looked.

The format is the data's README: each case connects (unless
``connect`` is false) with a default CONNECT whose client id is the
case's full name, then sends and receives byte strings in order; a
``recv`` must match byte for byte within 2 s; ``publish`` has a second
client ("helper", 3.1.1) publish with the full QoS flow; at the end the
server must have closed the connection (``expect_disconnect``, the
default) or must still answer PINGREQ.

The broker runs as Mosquitto's defaults do for these cases: anonymous
access on, Receive Maximum 20 and Topic Alias Maximum 10 announced to v5
clients. The few cases where Sluice differs on purpose are listed, with
the reason, in README.md (between the "mqtt-sequences-skip" markers) and
skipped here.
"""
import json
import os
import socket
import subprocess
import time

import pytest

from conftest import ROOT, Broker, wait_for
from http_helpers import api
from mqttraw import mstr, varint

RECV_TIMEOUT = 2.0
ENV = "SLUICE_MQTT_SEQUENCES"


def _candidates():
    if os.environ.get(ENV):
        return [os.environ[ENV]]
    rel = os.path.join("shared", "conformance", "mqtt-sequences")
    out = [os.path.join(os.path.dirname(ROOT), rel)]
    try:    # a worktree: also beside the main checkout
        common = subprocess.run(["git", "-C", ROOT, "rev-parse", "--git-common-dir"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if common:
            main = os.path.dirname(os.path.abspath(os.path.join(ROOT, common)))
            out.append(os.path.join(os.path.dirname(main), rel))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _data_dir():
    for d in _candidates():
        if os.path.isdir(d):
            return d
    return None


def _hex(s):
    return bytes.fromhex(s.replace(" ", ""))


def _skips():
    """{full name: reason} from README.md's table between the
    "mqtt-sequences-skip" markers: one row per case, name in backquotes."""
    out = {}
    readme = os.path.join(ROOT, "README.md")
    inside = False
    with open(readme, encoding="utf-8") as f:
        for line in f:
            if "mqtt-sequences-skip: begin" in line:
                inside = True
            elif "mqtt-sequences-skip: end" in line:
                break
            elif inside and line.startswith("| `"):
                name, _, reason = line[3:].partition("` |")
                out[name] = "README: " + reason.strip(" |\n")
    return out


def _load():
    d = _data_dir()
    if d is None:
        return None, []
    cases = []
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(d, fn), encoding="utf-8") as f:
            groups = json.load(f)
        for g in groups:
            if g.get("disable"):
                continue
            for t in g["tests"]:
                case = {
                    "name": g["group"] + " " + t["name"],
                    "ver": t.get("ver", g.get("ver", 4)),
                    "connect": t.get("connect", g.get("connect", True)),
                    "expect_disconnect": t.get("expect_disconnect",
                                               g.get("expect_disconnect", True)),
                    "msgs": t["msgs"],
                    "file": fn,
                }
                cases.append(case)
    return d, cases


DATA_DIR, CASES = _load()
SKIPS = _skips()


# ---- the default packets -------------------------------------------------------

def default_connect(client_id, ver):
    """The README's default CONNECT: clean, keepalive 60, v5 Receive Maximum 20."""
    name = b"MQIsdp" if ver == 3 else b"MQTT"
    body = mstr(name) + bytes([ver, 0x02]) + (60).to_bytes(2, "big")
    if ver == 5:
        body += bytes([3, 0x21, 0x00, 0x14])
    body += mstr(client_id.encode("utf-8"))
    return bytes([0x10]) + varint(len(body)) + body


def default_connack(ver):
    if ver == 5:
        return _hex("20 09 00 00 06 22 00 0A 21 00 14")
    return _hex("20 02 00 00")


# ---- socket steps ---------------------------------------------------------------

class CaseFailed(Exception):
    pass


def recv_exact(sock, n, what):
    buf = b""
    deadline = time.monotonic() + RECV_TIMEOUT
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CaseFailed("%s: timed out after %r" % (what, buf.hex(" ")))
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            continue
        except ConnectionResetError:
            raise CaseFailed("%s: connection reset after %r" % (what, buf.hex(" ")))
        if not chunk:
            raise CaseFailed("%s: connection closed after %r" % (what, buf.hex(" ")))
        buf += chunk
    return buf


def expect(sock, want, what):
    got = recv_exact(sock, len(want), what)
    if got != want:
        raise CaseFailed("%s: expected %s, got %s" % (what, want.hex(" "), got.hex(" ")))


def check_closed(sock):
    sock.settimeout(RECV_TIMEOUT)
    try:
        data = sock.recv(64)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise CaseFailed("the server did not close the connection")
    if data:
        raise CaseFailed("expected the connection closed, got %s" % data.hex(" "))


def check_open(sock):
    try:
        sock.sendall(b"\xc0\x00")
    except OSError as e:
        raise CaseFailed("connection not open: %s" % e)
    expect(sock, b"\xd0\x00", "PINGRESP (connection still open)")


def helper_publish(host, port, m):
    """A second 3.1.1 client publishes with the full QoS flow."""
    qos = int(m.get("qos", 0))
    topic = m["topic"].encode("utf-8")
    payload = m.get("payload", "").encode("utf-8")
    with socket.create_connection((host, port), timeout=RECV_TIMEOUT) as s:
        s.sendall(default_connect("helper", 4))
        expect(s, _hex("20 02 00 00"), "helper CONNACK")
        body = mstr(topic) + (b"\x00\x01" if qos else b"") + payload
        s.sendall(bytes([0x30 | qos << 1]) + varint(len(body)) + body)
        if qos == 1:
            expect(s, _hex("40 02 00 01"), "helper PUBACK")
        elif qos == 2:
            expect(s, _hex("50 02 00 01"), "helper PUBREC")
            s.sendall(_hex("62 02 00 01"))
            expect(s, _hex("70 02 00 01"), "helper PUBCOMP")
        s.sendall(b"\xe0\x00")


def run_case(host, port, case):
    with socket.create_connection((host, port), timeout=RECV_TIMEOUT) as sock:
        if case["connect"]:
            sock.sendall(default_connect(case["name"], case["ver"]))
            expect(sock, default_connack(case["ver"]), "default CONNACK")
        for i, m in enumerate(case["msgs"]):
            what = "step %d (%s%s)" % (i + 1, m["type"],
                                       ": " + m["comment"] if m.get("comment") else "")
            if m["type"] == "send":
                try:
                    sock.sendall(_hex(m["payload"]))
                except OSError as e:
                    raise CaseFailed("%s: %s" % (what, e))
            elif m["type"] == "recv":
                expect(sock, _hex(m["payload"]), what)
            elif m["type"] == "publish":
                helper_publish(host, port, m)
            else:
                raise CaseFailed("unknown step type %r" % m["type"])
        if case["expect_disconnect"]:
            check_closed(sock)
        else:
            check_open(sock)


# ---- pytest ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def seq_broker():
    b = Broker(["--set", "mqtt.allow_anonymous=yes"])
    yield b
    alive = b.alive()
    log = b.log()
    code = b.stop()
    assert alive, "broker died during the run:\n" + log[-20000:]
    assert code in (0, None), "broker exit %s:\n%s" % (code, log[-20000:])
    assert "AddressSanitizer" not in log and "runtime error" not in log, log[-20000:]


if DATA_DIR is None:
    @pytest.mark.skip(reason="MQTT sequence data not found (looked in %s; set %s)"
                      % (", ".join(_candidates()), ENV))
    def test_mqtt_sequences_absent():
        pass
else:
    @pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
    def test_sequence(seq_broker, case):
        if case["name"] in SKIPS:
            pytest.skip(SKIPS[case["name"]])
        assert seq_broker.alive(), "broker died:\n" + seq_broker.log()[-5000:]
        failure = None
        try:
            run_case(seq_broker.mqtt_host, seq_broker.mqtt_port, case)
        except CaseFailed as e:
            failure = str(e)
        # The cases share one broker: the next one starts once the broker
        # has dropped every connection of this one, so no subscription of
        # this case is still there (a PUBLISH expecting "no matching
        # subscribers" got a plain PUBACK under load).
        assert wait_for(lambda: api(seq_broker, "GET", "/api/connections?columns=name")[1] == [],
                        timeout=10), "connections of %s still open" % case["name"]
        if failure:
            pytest.fail("%s (%s): %s" % (case["name"], case["file"], failure), pytrace=False)


@pytest.mark.skipif(DATA_DIR is None, reason="MQTT sequence data not found")
def test_skip_list_names_real_cases():
    """Every case README.md excuses exists in the data (the list cannot rot)."""
    names = {c["name"] for c in CASES}
    assert SKIPS, "README.md lists no skipped case: markers missing?"
    assert set(SKIPS) <= names, sorted(set(SKIPS) - names)
