"""Regular expressions from users cannot make the broker spend unbounded
CPU or memory.

Permission, topic-permission and policy patterns and the management API's
name filter are compiled by glibc, which copies the operand of every
repetition and gives every optional node an epsilon closure over the
optional nodes after it: "(a{1,300}){300}" alone costs regcomp seconds
and hundreds of MB, and every match seconds more. Such patterns are refused
with the texts an invalid pattern gets; ordinary ones keep working.
"""
import pika

from authz_helpers import add_user, set_perms, set_tperm
from http_helpers import api, q

# 90,000 nodes, 89,700 of them optional; a dozen '+' doubles a dozen times
EXPLOSIVE = ["(a{1,300}){300}", "(.?){1000}x", "a" + "+" * 24]


def rss_kb(b):
    with open("/proc/%d/status" % b.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_explosive_patterns_are_refused_everywhere(broker):
    add_user(broker, "bob", "pw")
    set_perms(broker, "bob")
    before = rss_kb(broker)
    for pat in EXPLOSIVE:
        st, err, _ = api(broker, "PUT", "/api/permissions/%2F/bob",
                         {"configure": pat, "write": ".*", "read": ".*"})
        assert st == 400 and "invalid regular expression" in err["reason"], (pat, err)
        st, err, _ = api(broker, "PUT", "/api/topic-permissions/%2F/bob",
                         {"exchange": "amq.topic", "write": pat, "read": ""})
        assert st == 400 and "invalid regular expression" in err["reason"], (pat, err)
        st, err, _ = api(broker, "PUT", "/api/policies/%2F/p",
                         {"pattern": pat, "definition": {"max-length": 5}})
        assert st == 400 and "pattern should be regular expression" in err["reason"], \
            (pat, err)
        st, err, _ = api(broker, "GET", "/api/queues?use_regex=true&name=" + q(pat))
        assert st == 400 and "invalid regular expression" in err["reason"], (pat, err)
    assert api(broker, "GET", "/api/policies")[1] == []
    assert rss_kb(broker) - before < 32 * 1024
    # bob's permissions are the ones set before the refusals
    c = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, credentials=pika.PlainCredentials("bob", "pw")))
    c.channel().queue_declare("bobq")
    c.close()


def test_ordinary_patterns_still_work(broker):
    add_user(broker, "bob", "pw")
    set_perms(broker, "bob", configure="^[a-z.]{1,255}$")
    set_tperm(broker, "bob", "amq.topic", write="^(orders|invoices)\\.[a-z]+$", read=".*")
    st, _, _ = api(broker, "PUT", "/api/policies/%2F/p",
                   {"pattern": "^[a-z]{1,10}q$", "definition": {"max-length": 5},
                    "apply-to": "queues"})
    assert st in (201, 204)
    c = pika.BlockingConnection(pika.ConnectionParameters(
        "127.0.0.1", broker.port, credentials=pika.PlainCredentials("bob", "pw")))
    ch = c.channel()
    ch.queue_declare("abcq")
    ch.basic_publish("amq.topic", "orders.new", b"x")
    c.close()
    st, body, _ = api(broker, "GET", "/api/queues/%2F/abcq")
    assert st == 200 and body.get("policy") == "p"
    st, body, _ = api(broker, "GET", "/api/queues?use_regex=true&name=" + q("^ab{1,3}cq$"))
    assert st == 200 and [x["name"] for x in body] == ["abcq"]
