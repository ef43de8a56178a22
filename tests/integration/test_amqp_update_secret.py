"""connection.update-secret as RabbitMQ 3.13/4.x answers it (OAuth 2
clients refresh their token with it): the new secret is checked for the
connection's user as a login would check it; accepted, update-secret-ok
and the connection goes on; refused, 530 NOT_ALLOWED "New secret was
refused by one of the backends" on the method (10, 70).

Through pika (update_secret; Debian's pika 1.2 predates it, so the test
gives it the method the way pika 1.3 does), amqplib (updateSecret, Node,
from tests/integration/node, which tools/dev.sh installs with npm ci) and
raw frames for the exact close.
"""
import json
import os
import shutil
import subprocess

from amqp_helpers import *  # noqa: F401,F403
from amqpraw import CONNECTION, RawConn, longstr, method_frame, shortstr
from pika import amqp_object, spec
from pika.compat import str_or_bytes

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
REFUSED = "NOT_ALLOWED - New secret was refused by one of the backends"


# ---- pika 1.2 lacks connection.update-secret: add it as pika 1.3 has it ------

class _UpdateSecret(amqp_object.Method):
    INDEX = 0x000A0046  # 10, 70
    NAME = "Connection.UpdateSecret"

    def __init__(self, new_secret=None, reason=None):
        self.new_secret = new_secret
        self.reason = reason

    @property
    def synchronous(self):
        return True

    def decode(self, encoded, offset=0):
        raise NotImplementedError("server method only")

    def encode(self):
        secret = self.new_secret
        secret = secret.encode() if isinstance(secret, str) else secret
        assert isinstance(self.reason, str_or_bytes)
        return [longstr(secret), shortstr(self.reason)]


class _UpdateSecretOk(amqp_object.Method):
    INDEX = 0x000A0047  # 10, 71
    NAME = "Connection.UpdateSecretOk"

    @property
    def synchronous(self):
        return False

    def decode(self, encoded, offset=0):
        return self

    def encode(self):
        return []


def update_secret(conn, new_secret, reason):
    """BlockingConnection.update_secret(new_secret, reason) of pika >= 1.3,
    or the same RPC through pika's own connection machinery."""
    if hasattr(conn, "update_secret"):
        return conn.update_secret(new_secret, reason)
    spec.methods.setdefault(_UpdateSecretOk.INDEX, _UpdateSecretOk)
    done = []
    conn._impl._rpc(0, _UpdateSecret(new_secret, reason),
                    lambda frame: done.append(frame), [_UpdateSecretOk])
    conn._flush_output(lambda: bool(done) or conn.is_closed)
    if conn.is_closed:
        # surfaces ConnectionClosedByBroker with the broker's code and text
        conn.process_data_events(0)
    return done[0]


def test_pika_update_secret_accepted(broker):
    c = connect(broker)
    update_secret(c, "guest", "token refresh")
    ch = c.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"after update")
    assert wait_get(ch, q)[2] == b"after update"
    update_secret(c, b"guest", "and again")
    assert c.is_open
    c.close()


@pytest.mark.skipif(EXTERNAL, reason="RabbitMQ's internal backend accepts any secret")
def test_pika_update_secret_refused(broker):
    c = connect(broker)
    ch = c.channel()
    with connection_error(530, REFUSED):
        update_secret(c, "not-the-password", "token refresh")
    assert c.is_closed and not ch.is_open
    # the broker lives on and a correct login still works
    c2 = connect(broker)
    update_secret(c2, "guest", "fine")
    c2.close()


@pytest.mark.skipif(EXTERNAL, reason="RabbitMQ's internal backend accepts any secret")
def test_refused_close_names_the_method(broker):
    r = RawConn(broker.host, broker.port)
    r.handshake()
    r.send(method_frame(0, CONNECTION, 70, longstr(b"wrong") + shortstr("rotate")))
    close = r.wait_close()
    assert (close.code, close.text) == (530, REFUSED)
    assert (close.class_id, close.method_id) == (10, 70)
    assert r.wait_eof()
    r.close()


def test_raw_update_secret_ok(broker):
    r = RawConn(broker.host, broker.port)
    r.handshake()
    r.send(method_frame(0, CONNECTION, 70, longstr(b"guest") + shortstr("rotate")))
    ch, payload = r.expect_method(CONNECTION, 71)
    assert ch == 0 and payload == bytes.fromhex("000a0047")
    r.open_channel(1)
    r.close()


def test_update_secret_before_open_is_unexpected(broker):
    """Only on a running connection, as in RabbitMQ: 504 during the handshake."""
    r = RawConn(broker.host, broker.port)
    r.start()
    r.start_ok()
    r.tune()
    r.send(method_frame(0, CONNECTION, 70, longstr(b"guest") + shortstr("early")))
    close = r.wait_close()
    assert close.code == 504, close
    r.close()


def _amqplib(broker, secret):
    if not shutil.which("node"):
        pytest.skip("node is not installed (tools/dev.sh installs nodejs)")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "amqplib")):
        pytest.skip("amqplib is not installed: run tools/dev.sh test (npm ci in %s)"
                    % NODE_DIR)
    url = "amqp://guest:guest@%s:%d" % (broker.host, broker.port)
    out = subprocess.run(["node", os.path.join(NODE_DIR, "update_secret.js"), url, secret],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_amqplib_update_secret_accepted(broker):
    res = _amqplib(broker, "guest")
    assert res == {"ok": True, "body": "after update"}, res


@pytest.mark.skipif(EXTERNAL, reason="RabbitMQ's internal backend accepts any secret")
def test_amqplib_update_secret_refused(broker):
    res = _amqplib(broker, "wrong")
    assert res["ok"] is False
    assert res["code"] == 530 and REFUSED in res["message"], res
