"""broker.io_spin_us: an I/O thread that handed the core a few requests
may wait awake for the answer instead of sleeping. Whatever it is set
to, round trips, QoS 1 flows and large messages arrive whole and in
order, and a value out of range is refused at start.
"""
import subprocess
import threading

import pika
import pytest

from conftest import SLUICED

paho = pytest.importorskip("paho.mqtt.client")

SPINS = [0, 1000]


def broker_with(make_broker, spin):
    return make_broker("--set", "broker.io_threads=1",
                       "--set", "broker.io_spin_us=%d" % spin,
                       "--set", "mqtt.allow_anonymous=yes")


@pytest.mark.parametrize("spin", SPINS)
def test_amqp_request_reply_round_trips(make_broker, spin):
    b = broker_with(make_broker, spin)
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", b.port))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    for i in range(300):
        ch.basic_publish("", q, b"req-%d" % i)
        method, _, body = ch.basic_get(q, auto_ack=True)
        assert method is not None and body == b"req-%d" % i
    # a stream of large bodies (no small input, no waiting) arrives whole
    big = [bytes([i]) * (256 * 1024) for i in range(8)]
    for body in big:
        ch.basic_publish("", q, body)
    got = []
    while len(got) < len(big):
        method, _, body = ch.basic_get(q, auto_ack=True)
        if method is not None:
            got.append(body)
    assert got == big
    conn.close()


@pytest.mark.parametrize("spin", SPINS)
def test_mqtt_qos1_flow_in_order(make_broker, spin):
    b = broker_with(make_broker, spin)
    if b.mqtt_port is None:
        pytest.skip("sluiced has no MQTT listener")
    n = 500
    got = []
    done = threading.Event()

    def on_message(_c, _u, msg):
        got.append(msg.payload)
        if len(got) == n:
            done.set()

    sub = paho.Client(client_id="spin-sub", protocol=paho.MQTTv311)
    sub.on_message = on_message
    sub.connect("127.0.0.1", b.mqtt_port)
    sub.loop_start()
    r, _ = sub.subscribe("spin/t", qos=1)
    assert r == 0
    pub = paho.Client(client_id="spin-pub", protocol=paho.MQTTv311)
    pub.connect("127.0.0.1", b.mqtt_port)
    pub.loop_start()
    try:
        # the subscription is in place once a probe comes back
        probe = threading.Event()
        sub.message_callback_add("spin/probe", lambda *_: probe.set())
        sub.subscribe("spin/probe", qos=1)
        for _ in range(50):
            pub.publish("spin/probe", b"p", qos=1).wait_for_publish(5)
            if probe.wait(0.2):
                break
        assert probe.is_set()
        infos = [pub.publish("spin/t", b"m-%d" % i, qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(10)
            assert info.rc == 0
        assert done.wait(20), "%d of %d arrived" % (len(got), n)
        assert got == [b"m-%d" % i for i in range(n)]
    finally:
        pub.loop_stop()
        sub.loop_stop()
        pub.disconnect()
        sub.disconnect()


def test_out_of_range_is_refused(tmp_path):
    p = subprocess.run([SLUICED, "--set", "broker.io_spin_us=1001",
                        "--set", "broker.data_dir=%s" % tmp_path],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "invalid value '1001' for broker.io_spin_us: expected an integer 0..1000" in p.stderr
