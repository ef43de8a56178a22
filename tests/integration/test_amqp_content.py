"""Message content: bodies of every size across frames, all basic
properties and every field-table type round trip, and the message size
limit."""
import datetime
import decimal

from amqp_helpers import *  # noqa: F401,F403


@pytest.mark.parametrize("size", [0, 1, 200 * 1024, 5 * 1024 * 1024])
def test_body_sizes_round_trip(ch, size):
    q = ch.queue_declare("", exclusive=True).method.queue
    body = bytes((i * 7 + size) & 0xFF for i in range(min(size, 65536)))
    body = (body * (size // max(len(body), 1) + 1))[:size]
    ch.basic_publish("", q, body)
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert m is not None
    assert len(b) == size and b == body


def test_large_body_to_consumer_and_fanout(conn, ch):
    x = uname("fan")
    ch.exchange_declare(x, "fanout")
    qs = [ch.queue_declare("", exclusive=True).method.queue for _ in range(2)]
    for q in qs:
        ch.queue_bind(q, x)
    body = bytes(range(256)) * (3 * 4096 + 7)          # ~3 MiB, odd tail
    ch.basic_publish(x, "", body)
    got = []
    for q in qs:
        ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    assert pump(conn, lambda: len(got) == 2, timeout=10)
    assert got[0] == body and got[1] == body


def test_small_frame_max_splits_bodies(broker):
    c = connect(broker, frame_max=4096)
    try:
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        bodies = [b"", b"x" * 4088, b"y" * 4089, bytes(range(256)) * 800]
        for b in bodies:
            ch.basic_publish("", q, b)
        assert drain(ch, q) == bodies
    finally:
        c.close()


def test_all_basic_properties_round_trip(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    sent = props(content_type="application/json", content_encoding="gzip",
                 headers={"h": "v"}, delivery_mode=2, priority=7,
                 correlation_id="corr-1", reply_to="reply.queue",
                 expiration="60000", message_id="msg-1", timestamp=1700000000,
                 type="order.created", user_id="guest", app_id="sluice-tests",
                 cluster_id="cluster-a")
    ch.basic_publish("", q, b"{}", sent)
    m, p, b = ch.basic_get(q, auto_ack=True)
    for name in ("content_type", "content_encoding", "headers", "delivery_mode",
                 "priority", "correlation_id", "reply_to", "expiration",
                 "message_id", "timestamp", "type", "user_id", "app_id",
                 "cluster_id"):
        assert getattr(p, name) == getattr(sent, name), name


def test_absent_properties_stay_absent(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"m")
    m, p, b = ch.basic_get(q, auto_ack=True)
    for name in ("content_type", "content_encoding", "headers", "delivery_mode",
                 "priority", "correlation_id", "reply_to", "expiration",
                 "message_id", "timestamp", "type", "user_id", "app_id",
                 "cluster_id"):
        assert getattr(p, name) is None, name


def test_user_id_must_match_login(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    with channel_error(406, "PRECONDITION_FAILED - user_id property set to 'mallory' "
                            "but authenticated user was 'guest'"):
        ch.basic_publish("", q, b"m", props(user_id="mallory"))
        ch.queue_declare(q, passive=True)


HEADERS = {
    "str": "hello",
    "utf8": "h\u00e9llo \u2603",
    "empty": "",
    "int": 42,
    "neg": -7,
    "zero": 0,
    "int32max": 2 ** 31 - 1,
    "long": 2 ** 40,
    "neglong": -(2 ** 40),
    "true": True,
    "false": False,
    "decimal": decimal.Decimal("3.14"),
    "decimal0": decimal.Decimal("12"),
    "void": None,
    "bytes": b"\x00\x01\xfe\xff",
    "time": datetime.datetime(2024, 5, 6, 7, 8, 9),
    "nested": {"a": 1, "b": {"c": "deep", "d": [1, "two"]}},
    "list": [1, "two", True, None, {"k": "v"}, [3, 4], 2 ** 40],
    "emptylist": [],
    "emptytable": {},
}


def _same_value(got, v):
    """Equal, with the same kind of value (pika reads 'l' back unsigned)."""
    if isinstance(v, bool):
        return isinstance(got, bool) and got == v
    if isinstance(v, int):
        return isinstance(got, int) and not isinstance(got, bool) and \
            got % 2 ** 64 == v % 2 ** 64
    if isinstance(v, dict):
        return isinstance(got, dict) and set(got) == set(v) and \
            all(_same_value(got[k], v[k]) for k in v)
    if isinstance(v, list):
        return isinstance(got, list) and len(got) == len(v) and \
            all(_same_value(a, b) for a, b in zip(got, v))
    if v is None:
        return got is None
    return type(got) is type(v) and got == v


def test_header_field_types_round_trip(ch):
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.basic_publish("", q, b"m", props(headers=HEADERS))
    m, p, b = ch.basic_get(q, auto_ack=True)
    assert set(p.headers) == set(HEADERS)
    for k, v in HEADERS.items():
        assert _same_value(p.headers[k], v), (k, p.headers[k], v)


def test_headers_reach_consumer_through_exchange(conn, ch):
    x = uname("hx")
    ch.exchange_declare(x, "headers")
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, x, arguments={"x-match": "all", "long": 2 ** 40, "true": True})
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(p.headers), auto_ack=True)
    ch.basic_publish(x, "", b"m", props(headers=HEADERS))
    assert pump(conn, lambda: got)
    assert _same_value(got[0], HEADERS), got[0]


def test_message_size_limit(make_broker):
    if EXTERNAL:
        pytest.skip("needs a broker started with max_message_size=1024")
    b = make_broker("--set", "broker.max_message_size=1024")
    c = connect(b)
    try:
        ch = c.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"x" * 1024)            # at the limit: fine
        assert drain(ch, q) == [b"x" * 1024]
        with channel_error(406, "PRECONDITION_FAILED - message size 1025 is larger "
                                "than configured max size 1024"):
            ch.basic_publish("", q, b"x" * 1025)
            ch.queue_declare(q, passive=True)
        ch = c.channel()
        assert ready_count(ch, q) == 0
        ch.basic_publish("", q, b"small")               # connection still usable
        assert drain(ch, q) == [b"small"]
    finally:
        c.close()
