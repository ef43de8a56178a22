"""Access control survives kill -9: topic permissions set over the API are
in the definitions file before the 2xx, and an MQTT persistent session
still belongs to its user after a restart (the owner is kept with the
session's durable queue)."""
import re
import time

import paho.mqtt.client as mqtt
import pika
import pytest

from recovery_helpers import Node  # also puts tests/integration on the path
from http_helpers import api  # noqa: E402

HTTP_RE = re.compile(r"listening http \S+:(\d+)")
MQTT_RE = re.compile(r"listening mqtt \S+:(\d+)")
SETS = ["http.enabled=yes", "http.bind=127.0.0.1", "http.port=0",
        "mqtt.enabled=yes", "mqtt.bind=127.0.0.1", "mqtt.port=0"]


class Ports:
    def __init__(self, node):
        deadline = time.time() + 10
        while True:
            h = [m for m in map(HTTP_RE.search, list(node.lines)) if m]
            q = [m for m in map(MQTT_RE.search, list(node.lines)) if m]
            if h and q:
                break
            if time.time() > deadline:
                pytest.skip("sluiced has no HTTP or MQTT listener")
            time.sleep(0.05)
        self.ports = {"http": int(h[-1].group(1))}
        self.mqtt = int(q[-1].group(1))


def mqtt_connect(port, cid, user, clean=False):
    got = {}
    c = mqtt.Client(cid, protocol=mqtt.MQTTv311, clean_session=clean)
    c.username_pw_set(user, "pw")
    c.on_connect = lambda cl, u, flags, rc: got.update(rc=rc, present=flags.get(
        "session present"))
    c.on_message = lambda cl, u, msg: got.setdefault("msgs", []).append(msg.payload)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    deadline = time.time() + 5
    while "rc" not in got and time.time() < deadline:
        time.sleep(0.02)
    return c, got


def test_topic_permissions_and_session_owner_survive_kill(tmp_path):
    node = Node(str(tmp_path / "data"), sets=SETS).start()
    try:
        b = Ports(node)
        for u in ("alice", "mallory"):
            assert api(b, "PUT", "/api/users/" + u, {"password": "pw", "tags": ""})[0] == 201
            assert api(b, "PUT", "/api/permissions/%2F/" + u,
                       {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
        assert api(b, "PUT", "/api/topic-permissions/%2F/mallory",
                   {"exchange": "amq.topic", "write": "^m\\.", "read": ".*"})[0] == 201
        c, got = mqtt_connect(b.mqtt, "dev-1", "alice")
        assert got["rc"] == 0
        c.subscribe("inbox/#", 1)
        time.sleep(0.3)
        c.disconnect()
        c.loop_stop()
        node.kill()
        node.start()
        b = Ports(node)
        assert api(b, "GET", "/api/topic-permissions/%2F/mallory")[1] == [
            {"user": "mallory", "vhost": "/", "exchange": "amq.topic",
             "write": "^m\\.", "read": ".*"}]
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", node.port, credentials=pika.PlainCredentials("mallory", "pw")))
        ch = conn.channel()
        ch.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as ei:
            ch.basic_publish("amq.topic", "x.y", b"no")
        assert ei.value.reply_code == 403
        conn.close()
        m, got = mqtt_connect(b.mqtt, "dev-1", "mallory")
        assert got["rc"] == 5
        m.loop_stop()
        a, got = mqtt_connect(b.mqtt, "dev-1", "alice")
        assert (got["rc"], got["present"]) == (0, 1)
        a.disconnect()
        a.loop_stop()
    finally:
        node.kill()
