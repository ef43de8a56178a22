"""sluiced as a program: command line, configuration errors, users,
signals and exit codes.

Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration
error. Configuration errors name FILE:LINE (or the --set argument) and the
reason on stderr.
"""
import os
import re
import signal
import socket
import subprocess

import pika
import pytest

from conftest import ROOT, SLUICED, wait_for

needs_binary = pytest.mark.skipif(
    bool(os.environ.get("EXTERNAL_AMQP")), reason="tests sluiced itself")

pytestmark = needs_binary


def run(*args, timeout=10):
    return subprocess.run([SLUICED, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def run_config(tmp_path, text, *extra):
    """Run sluiced on a config file; never let it listen on a fixed port."""
    path = tmp_path / "sluice.conf"
    path.write_text(text)
    res = run("-c", str(path), *extra, "--set", "amqp.port=0",
              "--set", "broker.data_dir=" + str(tmp_path / "data"))
    return str(path), res


def connect(b, user="guest", password="guest"):
    params = pika.ConnectionParameters(
        host=b.host, port=b.port, credentials=pika.PlainCredentials(user, password),
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=5)
    return pika.BlockingConnection(params)


# ------------------------------------------------------------------
# Command line

def test_help():
    res = run("--help")
    assert res.returncode == 0
    assert res.stdout.startswith("Usage: sluiced")
    for opt in ("-c", "--set", "--help", "--version"):
        assert opt in res.stdout


def test_version():
    res = run("--version")
    assert res.returncode == 0
    assert re.fullmatch(r"sluiced \d+\.\d+\.\d+\S*\n", res.stdout), res.stdout


@pytest.mark.parametrize("args,reason", [
    (["--bogus"], "unknown option '--bogus'"),
    (["-c"], "needs an argument"),
    (["stray"], "unexpected argument 'stray'"),
])
def test_usage_errors(args, reason):
    res = run(*args)
    assert res.returncode == 2
    assert reason in res.stderr


def test_missing_config_file(tmp_path):
    path = str(tmp_path / "nope.conf")
    res = run("-c", path)
    assert res.returncode == 2
    assert "sluiced: %s: No such file or directory" % path in res.stderr


# ------------------------------------------------------------------
# Configuration errors: exit 2 with FILE:LINE: reason

BAD_CONFIGS = [
    ("[amqp]\nport = 5672\nprot = 1\n", 3,
     "unknown key 'prot' in section [amqp]"),
    ("[broker]\nlog_level = info\n\n[bogus]\n", 4,
     "unknown section [bogus]"),
    ("[broker]\n[bogus]\nkey = 1\n", 2,
     "unknown section [bogus]"),
    ("# comment\n[amqp]\nport = abc\n", 3,
     "invalid value 'abc' for amqp.port: expected an integer 0..65535"),
    ("[amqp]\nport = 65536\n", 2,
     "invalid value '65536' for amqp.port: expected an integer 0..65535"),
    ("[amqp]\nframe_max = 1024\n", 2,
     "invalid value '1024' for amqp.frame_max: expected a size in bytes 4096.."),
    ("[amqp]\nchannel_max = 0\n", 2,
     "invalid value '0' for amqp.channel_max: expected an integer 1..65535"),
    ("[amqp]\nbind = localhost\n", 2,
     "invalid value 'localhost' for amqp.bind: expected IPv4 or IPv6 addresses separated by commas"),
    ("[broker]\nlog_level = loud\n", 2,
     "invalid value 'loud' for broker.log_level: expected debug, info, warning or error"),
    ("[broker]\nmax_message_size = 12X\n", 2,
     "invalid value '12X' for broker.max_message_size: expected a size in bytes"),
    ("[user bob]\npassword = x\nloopback_only = maybe\n", 3,
     "invalid value 'maybe' for user.bob.loopback_only: expected yes or no"),
    ("[user bob]\ntags = management\n", 1,
     "user 'bob' has no password"),
    ("[user]\npassword = x\n", 1,
     "section [user] needs a name: [user NAME]"),
    ("port = 5672\n", 1,
     "key 'port' is outside any section"),
    ("[amqp]\nport\n", 2,
     "syntax error"),
    ("[amqp]\nbind = " + "1" * 300 + "\n", 2,
     "invalid value '" + "1" * 300 + "' for amqp.bind: expected at most 255 characters of addresses"),
    ("[amqp]\nbind = " + "1" * 70000 + "\n", 2,
     "line too long"),
]


@pytest.mark.parametrize("text,line,reason", BAD_CONFIGS)
def test_config_errors(tmp_path, text, line, reason):
    path, res = run_config(tmp_path, text)
    assert res.returncode == 2, res.stderr
    assert "sluiced: %s:%d: %s" % (path, line, reason) in res.stderr, res.stderr


@pytest.mark.parametrize("arg,reason", [
    ("amqp.port=abc", "invalid value 'abc' for amqp.port: expected an integer 0..65535"),
    ("amqp.prot=1", "unknown key 'prot' in section [amqp]"),
    ("bogus.key=1", "unknown section [bogus]"),
    ("amqpport=1", "expected SECTION.KEY=VALUE"),
    ("amqp.heartbeat", "expected SECTION.KEY=VALUE"),
    ("user.bob.loopback_only=perhaps", "invalid value 'perhaps' for user.bob.loopback_only"),
])
def test_bad_set(arg, reason):
    res = run("--set", arg)
    assert res.returncode == 2
    assert "sluiced: --set %s: %s" % (arg, reason) in res.stderr, res.stderr


def test_set_after_file_is_validated(tmp_path):
    """--set is applied after the file, with the same checks."""
    path, res = run_config(tmp_path, "[amqp]\nport = 5672\n", "--set", "amqp.heartbeat=-1")
    assert res.returncode == 2
    assert "--set amqp.heartbeat=-1: invalid value '-1' for amqp.heartbeat" in res.stderr


# ------------------------------------------------------------------
# Starting

def test_shipped_config_starts(make_broker):
    with open(os.path.join(ROOT, "etc", "sluice.conf")) as f:
        b = make_broker(config_text=f.read())
    assert wait_for(lambda: re.search(r"sluiced \S+ started", b.log())), b.log()
    assert b.stop() == 0


def test_creates_data_dir(make_broker, tmp_path):
    data = tmp_path / "a" / "b" / "data"
    b = make_broker("--set", "broker.data_dir=" + str(data))
    assert data.is_dir()
    assert b.stop() == 0


def test_data_dir_not_creatable(tmp_path):
    (tmp_path / "file").write_text("")
    res = run("--set", "amqp.port=0", "--set",
              "broker.data_dir=" + str(tmp_path / "file" / "data"))
    assert res.returncode == 1
    assert "data_dir" in res.stderr and "Not a directory" in res.stderr


def test_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = run("--set", "amqp.bind=127.0.0.1", "--set", "amqp.port=%d" % port,
                  "--set", "broker.data_dir=" + str(tmp_path / "data"))
    assert res.returncode == 1, res.stderr
    assert "in use" in res.stderr.lower(), res.stderr
    assert str(port) in res.stderr


def test_default_user_is_guest(make_broker):
    b = make_broker()
    conn = connect(b)
    assert conn.is_open
    conn.close()
    assert b.stop() == 0, b.log()


def test_configured_users_replace_guest(make_broker):
    b = make_broker(config_text=(
        "[user alice]\npassword = wonder;land#1\ntags = administrator\n"))
    conn = connect(b, "alice", "wonder;land#1")
    conn.channel().queue_declare("q-alice", auto_delete=True)
    conn.close()
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        connect(b)
    assert b.stop() == 0, b.log()


def test_user_from_set(make_broker):
    b = make_broker("--set", "user.carol.password=pw")
    connect(b, "carol", "pw").close()
    assert b.stop() == 0, b.log()


# ------------------------------------------------------------------
# Stopping: every client gets connection.close 320, then exit 0

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_clients_with_320(make_broker, sig):
    b = make_broker()
    conn = connect(b)
    ch = conn.channel()
    ch.queue_declare("q-stop", auto_delete=True)
    b.proc.send_signal(sig)
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as e:
        for _ in range(100):
            conn.process_data_events(time_limit=0.1)
    assert e.value.reply_code == 320
    assert "CONNECTION_FORCED" in e.value.reply_text
    assert b.proc.wait(10) == 0, b.log()
    assert b.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_without_clients(make_broker, sig):
    b = make_broker()
    b.proc.send_signal(sig)
    assert b.proc.wait(10) == 0, b.log()
    assert wait_for(lambda: "stopped" in b.log(), 2), b.log()
