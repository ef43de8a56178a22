"""rabbitmq-c programs (tests/integration/c) run against the broker.

The programs are built by meson; RMQC_DIR points at them (default: the
tests/integration/c of the build tree that holds $SLUICED, else ./build).
"""
import os
import re
import subprocess

import pytest

from amqpraw import assert_serves
from conftest import ROOT, SLUICED


def _default_dir():
    # Next to the sluiced under test (<build>/daemon/sluiced), else ./build.
    build = os.path.dirname(os.path.dirname(os.path.abspath(SLUICED)))
    beside = os.path.join(build, "tests", "integration", "c")
    if os.path.isdir(beside):
        return beside
    return os.path.join(ROOT, "build", "tests", "integration", "c")


RMQC_DIR = os.environ.get("RMQC_DIR") or _default_dir()


def run_prog(broker, name, timeout=30):
    path = os.path.join(RMQC_DIR, name)
    if not os.access(path, os.X_OK):
        pytest.skip("%s not built (set RMQC_DIR)" % path)
    r = subprocess.run([path, broker.host, str(broker.port)], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, "%s exit %d\nstdout:\n%s\nstderr:\n%s" % (
        name, r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_basic_roundtrip(broker):
    out = run_prog(broker, "rmqc_basic")
    assert out.splitlines() == ["get ok", "consume ok", "confirms ok", "purge delete ok",
                                "OK basic"]
    assert_serves(broker)


def test_large_body_small_frame_max(broker):
    out = run_prog(broker, "rmqc_frames")
    assert out.splitlines() == ["get ok", "frames ok", "consume ok", "OK frames"]
    assert_serves(broker)


# The reply texts RabbitMQ writes; generated names are matched by pattern.
EXPECTED_ERRORS = [
    ("passive_declare_missing", "404 50.10",
     r"NOT_FOUND - no queue 'rmqc-missing-[\d-]+' in vhost '/'"),
    ("exchange_type_mismatch", "406 40.10",
     r"PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'rmqc-ex-[\d-]+' "
     r"in vhost '/': received 'fanout' but current is 'direct'"),
    # 4.x: a channel error 406; 3.x (Debian's 3.10) closed the connection
    # with 503 COMMAND_INVALID, accepted only when EXTERNAL_AMQP is set
    ("exchange_bad_type", "406 40.10",
     r"PRECONDITION_FAILED - unknown exchange type 'no-such-type'"),
    ("publish_missing_exchange", "404 60.40",
     r"NOT_FOUND - no exchange 'rmqc-no-such-exchange' in vhost '/'"),
    ("ack_unknown_tag", "406 60.80", r"PRECONDITION_FAILED - unknown delivery tag 99"),
    ("bind_missing_exchange", "404 50.20",
     r"NOT_FOUND - no exchange 'rmqc-no-such-exchange' in vhost '/'"),
    ("reserved_queue_name", "403 50.10",
     r"ACCESS_REFUSED - queue name 'amq.rmqc-reserved' contains reserved prefix 'amq.\*'"),
    ("exclusive_other_connection", "405 60.20",
     r"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue "
     r"'amq.gen-[\w-]+' in vhost '/'"),
    ("channel_open_twice", "504 20.10", r"CHANNEL_ERROR - second 'channel.open' seen"),
]


def test_channel_and_connection_errors(broker):
    out = run_prog(broker, "rmqc_errors")
    lines = out.splitlines()
    assert lines[-1] == "OK errors"
    errs = [ln for ln in lines if ln.startswith("ERR ")]
    assert len(errs) == len(EXPECTED_ERRORS), out
    for line, (name, ids, text) in zip(errs, EXPECTED_ERRORS):
        _, got_name, code, cm, got_text = line.split(" ", 4)
        assert got_name == name
        if name == "exchange_bad_type" and broker.external and code == "503":
            ids, text = "503 40.10", r"COMMAND_INVALID - unknown exchange type"
        assert "%s %s" % (code, cm) == ids, line
        assert re.match(text, got_text), line
    assert_serves(broker)
