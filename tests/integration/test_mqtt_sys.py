"""$SYS topics with Mosquitto's names: retained, refreshed every
[mqtt] sys_interval seconds, never matched by a filter that starts with a
wildcard [MQTT-4.7.2-1], and off with sys_interval = 0."""
from mqtt_helpers import *  # noqa: F401,F403

SYS_FAST = ("--set", "mqtt.sys_interval=1")


def latest(client, topic):
    """The newest payload received on topic (text), or None."""
    vals = [m.payload.decode() for m in client.wait(0, 0) if m.topic == topic]
    return vals[-1] if vals else None


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_sys_clients_connected(make_mqtt_broker, version):
    b = make_mqtt_broker(*SYS_FAST)
    s = Paho(b, version)
    s.connect()
    assert s.subscribe("$SYS/broker/clients/connected", 0) == [0]
    # retained: the current value arrives at once
    assert wait_for(lambda: latest(s, "$SYS/broker/clients/connected") == "1", 3)
    others = [Paho(b, version) for _ in range(2)]
    for o in others:
        o.connect()
    assert wait_for(lambda: latest(s, "$SYS/broker/clients/connected") == "3", 4), \
        [m.payload for m in s.wait(0, 0)]
    for o in others:
        o.disconnect()
    assert wait_for(lambda: latest(s, "$SYS/broker/clients/connected") == "1", 4)
    s.disconnect()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_sys_tree(make_mqtt_broker, version):
    b = make_mqtt_broker(*SYS_FAST)
    p = Paho(b, version)
    p.connect()
    t = utopic()
    p.publish(t + "/r", b"kept", qos=1, retain=True)
    s = Paho(b, version)
    s.connect()
    s.subscribe("$SYS/#", 0)
    want = ["version", "uptime", "clients/total", "clients/maximum",
            "clients/disconnected", "clients/expired", "messages/received",
            "messages/sent", "messages/stored", "publish/messages/received",
            "publish/messages/sent", "publish/messages/dropped", "bytes/received",
            "bytes/sent", "subscriptions/count", "retained messages/count",
            "heap/current", "heap/maximum", "load/messages/received/1min",
            "load/bytes/sent/15min", "load/connections/5min"]
    topics = ["$SYS/broker/" + w for w in want]
    assert wait_for(lambda: all(latest(s, x) is not None for x in topics), 4), \
        sorted(set(m.topic for m in s.wait(0, 0)))
    assert latest(s, "$SYS/broker/version").startswith("sluice version ")
    assert latest(s, "$SYS/broker/uptime").endswith(" seconds")
    assert int(latest(s, "$SYS/broker/heap/current")) > 0
    # sent from the retained store on subscribe
    assert [m.retain for m in s.wait(0, 0) if m.topic == "$SYS/broker/version"][0]
    for x in ("retained messages/count", "publish/messages/received",
              "subscriptions/count"):
        assert wait_for(lambda: int(latest(s, "$SYS/broker/" + x)) >= 1, 3), x
    float(latest(s, "$SYS/broker/load/messages/received/1min"))
    s.disconnect()
    p.disconnect()


@sluice_only
@pytest.mark.parametrize("version", VERSIONS)
def test_sys_not_matched_by_leading_wildcards(make_mqtt_broker, version):
    b = make_mqtt_broker(*SYS_FAST)
    s = Paho(b, version)
    s.connect()
    s.subscribe("#", 0)
    s.subscribe("+/broker/#", 0)
    s.subscribe("+/broker/uptime", 0)
    t = utopic()
    s.publish(t, b"mine")
    assert s.wait(1)[0].payload == b"mine"
    time.sleep(2.2)                         # two $SYS ticks
    assert [m.topic for m in s.wait(0, 0)] == [t]
    s.disconnect()


@sluice_only
def test_sys_interval_zero_disables(make_mqtt_broker):
    b = make_mqtt_broker("--set", "mqtt.sys_interval=0")
    s = Paho(b, V311)
    s.connect()
    s.subscribe("$SYS/#", 0)
    time.sleep(1.2)
    assert s.wait(0, 0) == []
    s.disconnect()
