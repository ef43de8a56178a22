"""Stock MQTT clients against the broker: mosquitto_pub / mosquitto_sub
(mosquitto-clients) and libmosquitto programs (tests/integration/c_mqtt).

The C programs are built by meson; MQTTC_DIR points at them (default: the
tests/integration/c_mqtt of the build tree that holds $SLUICED, else
./build).
"""
import os
import shutil
import subprocess

from conftest import ROOT, SLUICED
from mqtt_helpers import *  # noqa: F401,F403

PUB, SUB = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
needs_clients = pytest.mark.skipif(not (PUB and SUB), reason="mosquitto-clients missing")
CLI_VERSIONS = [pytest.param("mqttv311", id="v311"), pytest.param("mqttv5", id="v5")]


def _default_dir():
    build = os.path.dirname(os.path.dirname(os.path.abspath(SLUICED)))
    beside = os.path.join(build, "tests", "integration", "c_mqtt")
    if os.path.isdir(beside):
        return beside
    return os.path.join(ROOT, "build", "tests", "integration", "c_mqtt")


MQTTC_DIR = os.environ.get("MQTTC_DIR") or _default_dir()


def conn_args(b, version="mqttv311"):
    return ["-h", b.mqtt_host, "-p", str(b.mqtt_port), "-V", version,
            "-u", USER, "-P", PASSWORD]


def pub(b, version, *args, timeout=10):
    r = subprocess.run([PUB] + conn_args(b, version) + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


@needs_clients
@pytest.mark.parametrize("version", CLI_VERSIONS)
def test_pub_qos1_sub_count(mb, version):
    t = utopic()
    sub = MosquittoSub([SUB] + conn_args(mb, version) +
                       ["-t", t, "-q", "1", "-C", "3", "-W", "8", "-v"])
    sub.wait_subscribed()
    for i in range(3):
        pub(mb, version, "-t", t, "-q", "1", "-m", "msg-%d" % i)
    out, err = sub.communicate(timeout=10)
    assert sub.returncode == 0, err
    assert out.splitlines() == ["%s msg-%d" % (t, i) for i in range(3)]


@needs_clients
@pytest.mark.parametrize("version", CLI_VERSIONS)
def test_retained_with_pub_r(mb, version, clean_retained):
    t = utopic()
    clean_retained.append(t)
    pub(mb, version, "-t", t, "-q", "1", "-r", "-m", "retained one")
    r = subprocess.run([SUB] + conn_args(mb, version) +
                       ["-t", t, "-q", "1", "-C", "1", "-W", "5", "-F", "%r %q %t %p"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1 1 %s retained one" % t
    # clear with an empty payload (QoS 1: cleared before the next
    # subscriber, on another connection, comes)
    pub(mb, version, "-t", t, "-q", "1", "-r", "-n")
    r = subprocess.run([SUB] + conn_args(mb, version) + ["-t", t, "-C", "1", "-W", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.stdout == ""                           # timed out with nothing


@needs_clients
def test_v5_user_property_to_mosquitto_sub(mb):
    t = utopic()
    sub = MosquittoSub([SUB] + conn_args(mb, "mqttv5") +
                       ["-t", t, "-C", "1", "-W", "8", "-F", "%P|%C|%p"])
    sub.wait_subscribed()
    pub(mb, "mqttv5", "-t", t, "-q", "1", "-m", "with props",
        "-D", "publish", "user-property", "k", "v",
        "-D", "publish", "content-type", "text/plain")
    out, err = sub.communicate(timeout=10)
    assert sub.returncode == 0, err
    assert out.strip() == "k:v|text/plain|with props"


@needs_clients
def test_v5_user_property_to_paho(mb):
    t = utopic()
    c = Paho(mb, V5)
    c.connect()
    c.subscribe(t, 1)
    pub(mb, "mqttv5", "-t", t, "-q", "1", "-m", "x",
        "-D", "publish", "user-property", "k", "v",
        "-D", "publish", "user-property", "k2", "v2",
        "-D", "publish", "correlation-data", "abc",
        "-D", "publish", "response-topic", t + "/reply")
    m = c.wait(1)[0]
    assert m.payload == b"x" and m.qos == 1
    assert m.properties.UserProperty == [("k", "v"), ("k2", "v2")]
    assert m.properties.CorrelationData == b"abc"
    assert m.properties.ResponseTopic == t + "/reply"
    c.disconnect()


@needs_clients
@pytest.mark.parametrize("version", CLI_VERSIONS)
def test_mosquitto_sub_wildcard_and_qos2(mb, version):
    t = utopic()
    sub = MosquittoSub([SUB] + conn_args(mb, version) +
                       ["-t", t + "/+/x", "-t", t + "/all/#", "-q", "2",
                        "-C", "2", "-W", "8", "-F", "%t %q %p"])
    sub.wait_subscribed()
    pub(mb, version, "-t", t + "/a/x", "-q", "2", "-m", "one")
    pub(mb, version, "-t", t + "/a/y", "-q", "2", "-m", "skipped")
    pub(mb, version, "-t", t + "/all/deep/er", "-q", "1", "-m", "two")
    out, err = sub.communicate(timeout=10)
    assert sub.returncode == 0, err
    assert out.splitlines() == ["%s/a/x 2 one" % t, "%s/all/deep/er 1 two" % t]


@needs_clients
def test_mosquitto_sub_persistent_session(mb):
    """-c (clean session off) with -i: messages sent while it is away come
    on the next run."""
    t = utopic()
    cid = uid("cli")
    args = conn_args(mb) + ["-t", t, "-q", "1", "-c", "-i", cid]
    # -E: exit once the SUBACK came (with -W 1 a slow SUBACK left no session)
    r = subprocess.run([SUB] + args + ["-E"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    wait_gone(mb, cid)
    pub(mb, "mqttv311", "-t", t, "-q", "1", "-m", "queued")
    r = subprocess.run([SUB] + args + ["-C", "1", "-W", "5"], capture_output=True,
                       text=True, timeout=10)
    assert r.stdout.strip() == "queued", (r.stdout, r.stderr)
    drop = Raw(mb, V311)
    drop.connect(client_id=cid, clean=True)
    drop.close()


@needs_clients
def test_mosquitto_pub_bad_credentials(make_mqtt_broker):
    b = make_mqtt_broker()
    r = subprocess.run([PUB, "-h", b.mqtt_host, "-p", str(b.mqtt_port), "-u", "guest",
                        "-P", "wrong", "-t", "x", "-m", "y"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "not authorised" in r.stderr.lower() or "bad user" in r.stderr.lower() \
        or "refused" in r.stderr.lower(), r.stderr


# ---- libmosquitto programs ----------------------------------------------------

def run_prog(b, name, timeout=30):
    path = os.path.join(MQTTC_DIR, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built (set MQTTC_DIR)" % path)
    r = subprocess.run([path, b.mqtt_host, str(b.mqtt_port), utopic(), USER, PASSWORD],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "%s exit %d\nstdout:\n%s\nstderr:\n%s" % (
        name, r.returncode, r.stdout, r.stderr)
    return r.stdout.splitlines()


def test_libmosquitto_qos_and_retain(mb):
    assert run_prog(mb, "mqttc_qos") == ["qos ok", "retain ok", "OK qos"]


def test_libmosquitto_v5_properties(mb):
    out = run_prog(mb, "mqttc_v5")
    assert out[0] == ("connack receive-maximum=20 topic-alias-maximum=10 retain=1 "
                      "wildcard=1 sub-id=1 shared=1")
    assert out[1] == ("message payload=hello qos=1 sub-id=17 user=k:v "
                      "content-type=text/plain correlation=c-1 response-topic-ok=1 "
                      "expiry-ok=1")
    assert out[2] == "OK v5"
