"""MQTT on the wire, byte for byte, where the specification leaves a
choice: what Mosquitto 2.0 writes (minimal CONNACK, 2-octet acks and
DISCONNECT, no Reason String by default), and [mqtt] reason_strings.
The conversations of test_mqtt_sequences.py cover the rest; these check
the configuration and the paths those conversations do not reach.
"""
from mqtt_helpers import *  # noqa: F401,F403


def reason_string(pkt):
    return pkt.props.get(P.REASON_STRING)


def bad_login(c, props=None):
    c.send(c.connect_packet(username="guest", password="wrong", props=props))
    return c.recv()


@sluice_only
def test_connack_minimal_by_default(mb):
    """v5 CONNACK: Topic Alias Maximum 10, then Receive Maximum 20, and
    nothing at its default (the sequences' default CONNACK)."""
    c = Raw(mb, V5)
    c.send(c.connect_packet())
    assert c.read_bytes(11) == bytes.fromhex("20 09 00 00 06 22 00 0a 21 00 14")
    c.close()


@sluice_only
def test_connack_order_with_every_property(make_mqtt_broker):
    """Server Keep Alive, Assigned Client Id and Maximum Packet Size come
    in Mosquitto 2.0.11's order: 22, 13, 12, 27, 21."""
    b = make_mqtt_broker("--set", "mqtt.max_keepalive=30",
                         "--set", "mqtt.max_packet_size=1000")
    c = Raw(b, V5)
    ack = c.connect(client_id="", keepalive=100)
    body = ack.body
    props = body[3:]
    ids, i = [], 0
    while i < len(props):
        pid = props[i]
        ids.append(pid)
        i += 1 + {0x22: 2, 0x13: 2, 0x21: 2, 0x27: 4}.get(pid, 0)
        if pid == 0x12:
            i += 2 + int.from_bytes(props[i:i + 2], "big")
    assert ids == [0x22, 0x13, 0x12, 0x27, 0x21], [hex(x) for x in ids]
    assert ack.props[P.SERVER_KEEP_ALIVE] == 30
    assert ack.props[P.MAXIMUM_PACKET_SIZE] == 1000
    assert ack.props[P.ASSIGNED_CLIENT_ID].startswith("auto-")
    c.close()


@sluice_only
def test_refusal_has_no_reason_string_by_default(mb):
    c = Raw(mb, V5)
    c.send(c.connect_packet(username="guest", password="wrong"))
    assert c.read_raw_until_close() == bytes.fromhex("20 03 00 86 00")


@sluice_only
def test_reason_strings_on(make_mqtt_broker):
    b = make_mqtt_broker("--set", "mqtt.reason_strings=yes")
    ack = bad_login(Raw(b, V5))
    assert ack.type == CONNACK and ack.rc == 0x86
    assert reason_string(ack)
    # a protocol error after CONNECT: DISCONNECT 0x82 with a Reason String
    c = Raw(b, V5)
    c.connect()
    c.send(c.connect_packet())  # a second CONNECT [MQTT-3.1.0-2]
    seen = c.expect_close(0x82)
    assert reason_string(seen[-1])


@sluice_only
def test_reason_strings_on_but_problem_information_off(make_mqtt_broker):
    """Request Problem Information 0 [MQTT-3.1.2-29]: the reason code only."""
    b = make_mqtt_broker("--set", "mqtt.reason_strings=yes")
    c = Raw(b, V5)
    c.send(c.connect_packet(username="guest", password="wrong",
                            props=[(P.REQUEST_PROBLEM_INFO, 0)]))
    assert c.read_raw_until_close() == bytes.fromhex("20 03 00 86 00")
    c = Raw(b, V5)
    c.connect(props=[(P.REQUEST_PROBLEM_INFO, 0)])
    c.send(c.connect_packet())  # a second CONNECT [MQTT-3.1.0-2]
    assert c.read_raw_until_close() == bytes.fromhex("e0 01 82")


@sluice_only
def test_acks_short_form(mb):
    """PUBACK for a message that reached a subscriber: 40 02 id; without
    one, 0x10; PUBREC of QoS 2 always 50 02 id; PUBCOMP 70 02 id."""
    t = utopic()
    sub = Raw(mb, V5)
    sub.connect()
    sub.subscribe([(t, 1)])
    c = Raw(mb, V5)
    c.connect()
    c.publish(t, b"x", qos=1, pid=7)
    assert c.read_bytes(4) == bytes.fromhex("40 02 00 07")
    c.publish(t + "/none", b"x", qos=1, pid=8)
    assert c.read_bytes(5) == bytes.fromhex("40 03 00 08 10")
    c.publish(t + "/none", b"x", qos=2, pid=9)
    assert c.read_bytes(4) == bytes.fromhex("50 02 00 09")
    c.ack(PUBREL, 9)
    assert c.read_bytes(4) == bytes.fromhex("70 02 00 09")
    # the subscriber's QoS 1 delivery, acknowledged in the short form too
    p = sub.recv_publish(ack=False)
    sub.send(bytes([0x40, 2]) + p.pid.to_bytes(2, "big"))
    assert sub.is_open()
    for x in (c, sub):
        x.close()


@sluice_only
@pytest.mark.parametrize("level,name", [(6, "MQTT"), (9, "MQTT"), (2, "MQIsdp"),
                                        (4, "MQIsdp")])
def test_unknown_level_gets_v3_connack(mb, level, name):
    """[MQTT-3.1.2-2]: 20 02 00 01 whatever the level, then close."""
    c = Raw(mb, V5)
    c.send(c.connect_packet(level=level, proto_name=name))
    assert c.read_raw_until_close() == bytes.fromhex("20 02 00 01")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("where", ["client id", "user name", "will topic", "topic",
                                   "filter"])
@pytest.mark.parametrize("char", ["\x01", "\x1f", "\x7f", "\u0080", "\u009f"],
                         ids=["01", "1f", "7f", "80", "9f"])
def test_control_characters_close(mb, version, where, char):
    """Control characters in client ids, user names and topics close the
    connection (v5: DISCONNECT 0x81 once connected), as Mosquitto does."""
    bad = "a" + char + "b"
    c = Raw(mb, version)
    if where == "client id":
        c.send(c.connect_packet(client_id=bad))
        assert c.closed() == []
        return
    if where == "user name":
        c.send(c.connect_packet(username=bad))
        assert c.closed() == []
        return
    if where == "will topic":
        c.send(c.connect_packet(will={"topic": bad, "payload": b"w"}))
        assert c.closed() == []
        return
    c.connect()
    if where == "topic":
        c.publish(bad, b"x")
    else:
        c.subscribe([(bad, 0)], wait=False)
    c.expect_close(0x81)
