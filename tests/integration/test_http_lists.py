"""Paged queue lists against the whole list: a page of /api/queues is built
from small rows (only the page's queues become JSON), the unpaged list
from every queue; both must agree for every kind of sort key (a field of
the queue, a message_stats counter or rate, any other path), with filters,
reversal and columns. Queues get distinct values so that ties cannot hide
a wrong order."""
import pika

from conftest import wait_for
from http_helpers import api

N = 23


def names(items):
    return [x["name"] for x in items]


def pages(b, query, size=5):
    """Every page of /api/queues?query, concatenated, and the envelopes."""
    out, envs, page = [], [], 1
    while True:
        st, env, _ = api(b, "GET", "/api/queues?page=%d&page_size=%d&%s" % (page, size, query))
        assert st == 200, env
        envs.append(env)
        out += env["items"]
        if page >= env["page_count"]:
            return out, envs
        page += 1


def setup_queues(b):
    api(b, "PUT", "/api/vhosts/other", {})
    api(b, "PUT", "/api/permissions/other/guest",
        {"configure": ".*", "write": ".*", "read": ".*"})
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.port))
    ch = conn.channel()
    for i in range(N):
        # names and counts in different orders; x-max-length a third order
        name = "lq-%02d" % ((i * 7) % N)
        ch.queue_declare(name, arguments={"x-max-length": 1000 - (i * 5) % N})
        for _ in range(i):
            ch.basic_publish("", name, b"m")
        # The lists are asked for over HTTP, not this channel: every
        # message must be queued first.
        assert wait_for(lambda: ch.queue_declare(name, passive=True)
                        .method.message_count == i)
    conn2 = pika.BlockingConnection(pika.ConnectionParameters(
        b.host, b.port, virtual_host="other"))
    ch2 = conn2.channel()
    ch2.queue_declare("lq-other")
    conn2.close()
    return conn


def test_pages_agree_with_the_whole_list_for_every_kind_of_key(broker):
    conn = setup_queues(broker)
    for query, key in [("sort=name", "name"),
                       ("", None),                         # vhost, then name
                       ("sort=messages_ready&sort_reverse=true", "messages_ready"),
                       ("sort=messages", "messages"),
                       ("sort=message_stats.publish", None),
                       ("sort=arguments.x-max-length", None),
                       ("sort=vhost&sort_reverse=true", None)]:
        st, whole, _ = api(broker, "GET", "/api/queues?" + query)
        assert st == 200
        paged, envs = pages(broker, query)
        assert names(paged) == names(whole), query
        assert all(e["total_count"] == N + 1 and e["filtered_count"] == N + 1
                   for e in envs)
        assert [len(e["items"]) for e in envs] == [5] * 4 + [4]
        if key:
            vals = [x[key] for x in whole]
            assert vals == sorted(vals, reverse="reverse" in query), query
    # the default order is vhost, then name
    whole = api(broker, "GET", "/api/queues")[1]
    assert [(x["vhost"], x["name"]) for x in whole] == sorted(
        (x["vhost"], x["name"]) for x in whole)
    # a counter of message_stats and a path into the arguments sort as numbers
    paged, _ = pages(broker, "sort=message_stats.publish&sort_reverse=true")
    counts = [x.get("message_stats", {}).get("publish", 0) for x in paged]
    assert counts == sorted(counts, reverse=True) and counts[0] == N - 1
    paged, _ = pages(broker, "sort=arguments.x-max-length")
    # a queue without the argument sorts first, as a missing value does
    lens = [x["arguments"].get("x-max-length", -1) for x in paged]
    assert lens == sorted(lens) and lens[0] == -1 and len(set(lens)) == N + 1
    conn.close()


def test_filters_columns_and_pages_past_the_end(broker):
    conn = setup_queues(broker)
    st, env, _ = api(broker, "GET", "/api/queues?page=1&page_size=3&name=LQ-1&sort=name"
                     "&columns=name,messages_ready,message_stats.publish")
    assert st == 200
    assert env["filtered_count"] == 10 and env["total_count"] == N + 1
    assert env["page_count"] == 4
    assert names(env["items"]) == ["lq-10", "lq-11", "lq-12"]
    assert all(set(x) <= {"name", "messages_ready", "message_stats"} for x in env["items"])
    # regex, within one vhost
    st, env, _ = api(broker, "GET", "/api/queues/%2F?page=1&page_size=50"
                     "&name=%5Elq-0%5B0-2%5D%24&use_regex=true")
    assert names(env["items"]) == ["lq-00", "lq-01", "lq-02"]
    assert env["total_count"] == N
    # a page past the end is empty, its envelope still right
    st, env, _ = api(broker, "GET", "/api/queues?page=99&page_size=10")
    assert st == 200 and env["items"] == [] and env["page_count"] == 3
    st, env, _ = api(broker, "GET", "/api/queues?page=9223372036854775807&page_size=500")
    assert st == 200 and env["items"] == []
    for bad in ("page=0", "page=1&page_size=501", "page=1&name=%28&use_regex=true"):
        st, body, _ = api(broker, "GET", "/api/queues?" + bad)
        assert st == 400, bad
    conn.close()


def test_a_page_holds_only_what_the_caller_may_see(broker):
    conn = setup_queues(broker)
    api(broker, "PUT", "/api/users/mgr", {"password": "pw", "tags": "management"})
    api(broker, "PUT", "/api/permissions/other/mgr",
        {"configure": ".*", "write": ".*", "read": ".*"})
    for query in ("page=1&page_size=10", "page=1&page_size=10&sort=messages_ready",
                  "page=1&page_size=10&name=lq"):
        st, env, _ = api(broker, "GET", "/api/queues?" + query, auth=("mgr", "pw"))
        assert st == 200, env
        assert names(env["items"]) == ["lq-other"], query
        assert env["total_count"] == 1 and env["filtered_count"] == 1
    st, env, _ = api(broker, "GET", "/api/queues/%2F?page=1", auth=("mgr", "pw"))
    assert st in (401, 403)
    conn.close()


def test_statistics_left_out_only_where_nobody_reads_them(broker):
    conn = setup_queues(broker)
    full = {x["name"]: x for x in api(broker, "GET", "/api/queues/%2F")[1]}
    assert all("message_stats" in x and "messages_details" in x for x in full.values())
    # RabbitMQ's disable_stats: no rates, no message_stats; the counts stay
    lean = api(broker, "GET", "/api/queues/%2F?disable_stats=true&enable_queue_totals=true")[1]
    assert {x["name"] for x in lean} == set(full)
    for x in lean:
        assert "message_stats" not in x and "messages_details" not in x
        assert (x["messages"], x["messages_ready"]) == (
            full[x["name"]]["messages"], full[x["name"]]["messages_ready"])
    # columns that name no statistic: the same values as from the whole object
    cols = api(broker, "GET", "/api/queues/%2F?columns=name,messages,arguments")[1]
    assert cols == [{"name": x["name"], "messages": x["messages"],
                     "arguments": x["arguments"]} for x in sorted(
                         full.values(), key=lambda q: q["name"])]
    # ... and those that do, or a sort by one, still get them
    cols = api(broker, "GET", "/api/queues/%2F?columns=name,message_stats.publish")[1]
    assert all(x["message_stats"]["publish"] == full[x["name"]]["message_stats"]["publish"]
               for x in cols)
    cols = api(broker, "GET", "/api/queues/%2F?columns=name,messages_details.rate")[1]
    assert all("rate" in x["messages_details"] for x in cols)
    srt = api(broker, "GET", "/api/queues/%2F?columns=name&sort=message_stats.publish"
              "&sort_reverse=true")[1]
    assert srt[0]["name"] == max(full.values(),
                                 key=lambda q: q["message_stats"]["publish"])["name"]
    conn.close()


def test_exchange_pages_agree_with_the_whole_list(broker):
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    for i in range(N):
        name = "lx-%02d" % ((i * 7) % N)
        ch.exchange_declare(name, ("direct", "fanout", "topic")[i % 3])
        for _ in range(i % 5):
            ch.basic_publish(name, "k", b"m")
    # A round trip on the publishing channel: the broker has taken every
    # publish above before the lists are asked for over HTTP.
    ch.exchange_declare(name, passive=True)
    for query in ("sort=name", "", "sort=type&sort_reverse=true",
                  "sort=message_stats.publish_in", "name=lx-1&sort=name",
                  "columns=name,type&sort=vhost"):
        st, whole, _ = api(broker, "GET", "/api/exchanges?" + query)
        assert st == 200
        out, page = [], 1
        while True:
            st, env, _ = api(broker, "GET", "/api/exchanges?page=%d&page_size=4&%s"
                             % (page, query))
            out += env["items"]
            if page >= env["page_count"]:
                break
            page += 1
        if query.startswith("sort=type") or query.startswith("sort=message"):
            # ties in the key: the same keys in the same order, the same set
            key = query.split("&")[0][5:].split(".")
            val = (lambda x: x[key[0]] if len(key) == 1
                   else x.get("message_stats", {}).get(key[1], 0))
            assert [val(x) for x in out] == [val(x) for x in whole], query
            assert sorted(map(str, out)) == sorted(map(str, whole)), query
        else:
            assert out == whole, query
        assert env["filtered_count"] == len(whole)
    # the default exchange is listed (name "") and built for its page too
    st, env, _ = api(broker, "GET", "/api/exchanges/%2F?page=1&page_size=1&sort=name")
    assert env["items"][0]["name"] == "" and env["items"][0]["type"] == "direct"
    conn.close()


def test_a_regex_filter_costs_a_bounded_amount_per_listing(broker):
    # The name filter is matched against every object listed. A tame
    # pattern of 511 nodes over 1,000 names of 250 octets asks for 127
    # million node-octets (0.23 s here; 100,000 such queues, which a
    # management user may declare in its own vhost, were 23 s of the event
    # loop per request): past 60 million the listing is refused, whether
    # paged or not, and cheap patterns over the same names still list.
    api(broker, "PUT", "/api/vhosts/own", {})
    api(broker, "PUT", "/api/users/mgr", {"password": "pw", "tags": "management"})
    api(broker, "PUT", "/api/permissions/own/mgr",
        {"configure": ".*", "write": ".*", "read": ".*"})
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        broker.host, broker.port, virtual_host="own",
        credentials=pika.PlainCredentials("mgr", "pw")))
    ch = conn.channel()
    for i in range(1000):
        ch.queue_declare("rq-%04d-" % i + "a" * 241)
    costly = "name=%28.%3F%29%7B255%7Db&use_regex=true"      # (.?){255}b
    for path in ("/api/queues/own?page=1&" + costly, "/api/queues/own?" + costly,
                 "/api/exchanges/own?page=1&" + costly, "/api/queues?page=1&" + costly):
        st, body, _ = api(broker, "GET", path, auth=("mgr", "pw"))
        if "exchanges" in path:
            assert st == 200, body          # a handful of exchanges: cheap
            continue
        assert st == 400 and "too costly" in body["reason"], (path, body)
    st, env, _ = api(broker, "GET", "/api/queues/own?page=1&page_size=500"
                     "&use_regex=true&name=%5Erq-00%281%7C2%29", auth=("mgr", "pw"))
    assert st == 200 and env["filtered_count"] == 20, env
    st, env, _ = api(broker, "GET", "/api/queues/own?page=1&name=rq-09",
                     auth=("mgr", "pw"))
    assert st == 200 and env["filtered_count"] == 100, env
    conn.close()


def test_columns_are_bounded_before_any_object_is_projected(broker):
    # Each of columns= is looked up in every listed object: 1,900 of them
    # ("x,x,...", within a 4 KiB request target) over 5,000 queues were
    # 0.7 s of the event loop, 100,000 queues 14 s. Past 100 columns the
    # list is refused before it is built; 100 still project.
    conn = setup_queues(broker)
    many = ",".join(["x"] * 1900)
    for path in ("/api/queues?columns=", "/api/queues?page=1&columns=",
                 "/api/exchanges?columns=", "/api/bindings?columns="):
        st, body, _ = api(broker, "GET", path + many)
        assert st == 400 and "columns" in body["reason"], (path, body)
    st, items, _ = api(broker, "GET", "/api/queues/%2F?columns=" +
                       ",".join(["name"] + ["x%d" % i for i in range(99)]))
    assert st == 200 and len(items) == N and set(items[0]) == {"name"}, items[:1]
    conn.close()


# ---- long unpaged lists: built a slice per event-loop iteration ------------

def declare_many(b, n, prefix):
    """n queues named prefix-NNNNN (declare nowait, one raw connection)."""
    import struct
    import amqpraw as r
    c = r.connect(b)
    c.open_channel(1)
    c.send(b"".join(r.method_frame(1, r.QUEUE, 10, struct.pack("!H", 0)
                                   + r.shortstr("%s-%05d" % (prefix, i)) + bytes([16])
                                   + r.table({}))
                    for i in range(n)))
    assert wait_for(lambda: api(b, "GET", "/api/overview")[1]["object_totals"]["queues"] >= n,
                    timeout=60)
    return c


def test_a_long_unpaged_list_is_whole_and_in_order(broker):
    # 700 queues: more than two slices. The unpaged list holds every queue
    # once, in the order the pages give, for the default order, a sort on
    # a counter and a name filter; columns= applies to every slice.
    c = declare_many(broker, 700, "sl")
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    for i in range(0, 700, 7):
        ch.basic_publish("", "sl-%05d" % i, b"m" * (i % 5))
    ch.queue_declare("sl-00000", passive=True)      # every publish taken
    for query in ("", "sort=messages&sort_reverse=true", "name=sl-001&sort=name",
                  "columns=name,messages&sort=name"):
        st, whole, _ = api(broker, "GET", "/api/queues?" + query)
        assert st == 200 and isinstance(whole, list)
        paged, envs = pages(broker, query, size=500)
        assert whole == paged, query
        assert len(whole) == envs[0]["filtered_count"]
    whole = api(broker, "GET", "/api/queues")[1]
    assert [x["name"] for x in whole] == ["sl-%05d" % i for i in range(700)]
    assert sum(x["messages"] for x in whole) == 100
    assert set(api(broker, "GET", "/api/queues?columns=name,messages")[1][0]) == {
        "name", "messages"}
    assert len(api(broker, "GET", "/api/queues?name=sl-001")[1]) == 100
    # HEAD: the headers of the same answer, no body
    st, body, _ = api(broker, "HEAD", "/api/queues")
    assert st == 200 and not body
    conn.close()
    c.close()


def test_other_clients_are_served_while_a_long_list_is_built(broker):
    # 20,000 queues: building their list held the core thread for about
    # 0.4 s (100,000: 1.9 s), and no message moved meanwhile. Now an AMQP
    # round trip made while the list is built is answered before it is.
    import base64
    import select
    import socket
    from http_helpers import http_port
    c = declare_many(broker, 20000, "ol")
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True).method.queue
    s = socket.create_connection(("127.0.0.1", http_port(broker)), timeout=30)
    s.sendall(b"GET /api/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
              + base64.b64encode(b"guest:guest") + b"\r\n\r\n")
    assert not select.select([s], [], [], 0.05)[0]      # still being built
    ch.basic_publish("", q, b"ping")
    assert ch.basic_get(q, auto_ack=True)[2] == b"ping"
    # the round trip is done; the list is not out yet
    assert not select.select([s], [], [], 0)[0], "the list came first"
    s.settimeout(60)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(65536)
    head, body = got.split(b"\r\n\r\n", 1)
    length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    while len(body) < length:
        body += s.recv(1 << 20)
    import json
    items = json.loads(body)
    assert len([x for x in items if x["name"].startswith("ol-")]) == 20000
    s.close()
    conn.close()
    c.close()


def test_a_client_that_leaves_during_a_long_list(broker):
    # The client goes before the last slice: the job stops, the broker
    # answers the next client, and shutdown with a job still running frees
    # it (ASan checks both).
    import base64
    import socket
    from http_helpers import http_port
    c = declare_many(broker, 3000, "lv")
    req = (b"GET /api/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
           + base64.b64encode(b"guest:guest") + b"\r\n\r\n")
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", http_port(broker)))
        s.sendall(req)
        s.close()
    st, items, _ = api(broker, "GET", "/api/queues?columns=name")
    assert st == 200 and len(items) >= 3000
    s = socket.create_connection(("127.0.0.1", http_port(broker)))
    s.sendall(req)                  # still running when the test's broker stops
    c.close()


def test_one_user_builds_one_long_list_at_a_time(broker):
    # While a long list is built for a user, that user's other requests
    # wait until it is sent (so n connections cannot hold n lists being
    # built), and another user's are answered meanwhile.
    import base64
    import select
    import socket
    from http_helpers import http_port
    c = declare_many(broker, 20000, "ou")
    assert api(broker, "PUT", "/api/users/other", {"password": "pw", "tags": "monitoring"})[0] in (201, 204)

    def request(path, user, pw):
        s = socket.create_connection(("127.0.0.1", http_port(broker)), timeout=30)
        s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
                  % (path.encode(), base64.b64encode(("%s:%s" % (user, pw)).encode())))
        return s
    big = request("/api/queues", "guest", "guest")
    assert not select.select([big], [], [], 0.05)[0]        # being built
    same = request("/api/overview", "guest", "guest")
    other = request("/api/overview", "other", "pw")
    assert select.select([other], [], [], 10)[0]            # the other user: at once
    assert other.recv(12) == b"HTTP/1.1 200"
    assert not select.select([big], [], [], 0)[0], "the list was sent already"
    assert not select.select([same], [], [], 0)[0], "the same user was not held back"
    assert select.select([big], [], [], 30)[0]
    big.settimeout(30)
    while big.recv(1 << 20):        # read the list to its end: its user's
        if select.select([same], [], [], 0)[0]:   # request is answered once it
            break                                 # is sent (or being sent)
    assert select.select([same], [], [], 30)[0]
    assert same.recv(12) == b"HTTP/1.1 200"
    for s in (big, same, other):
        s.close()
    c.close()


def _raw_get(b, s, path):
    import base64
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\n\r\n"
              % (path.encode(), base64.b64encode(b"guest:guest")))


def _read_answer(s):
    """Status line and body of one answer (Content-Length framed)."""
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        if not chunk:
            return got, b""
        got += chunk
    head, body = got.split(b"\r\n\r\n", 1)
    length = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                 .split(b":")[1])
    while len(body) < length:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        body += chunk
    return head.split(b"\r\n")[0], body


def test_a_long_list_late_in_the_request_window_is_answered(make_broker):
    # The request deadline runs from the previous answer; a list asked for
    # near its end was built past it and the connection was closed with no
    # answer. The deadline stops while an answer is made.
    import json
    import socket
    import time
    from http_helpers import http_port
    b = make_broker("--set", "http.request_timeout=1000")
    c = declare_many(b, 20000, "dl")
    s = socket.create_connection(("127.0.0.1", http_port(b)), timeout=30)
    _raw_get(b, s, "/api/overview")
    assert _read_answer(s)[0] == b"HTTP/1.1 200 OK"
    time.sleep(0.9)                 # the list's slices run past the 1 s
    _raw_get(b, s, "/api/queues")
    status, body = _read_answer(s)
    assert status == b"HTTP/1.1 200 OK"
    assert len(json.loads(body)) == 20000
    c.close()


def test_shutdown_while_a_long_list_is_built_answers_503(make_broker):
    import socket
    import time
    from http_helpers import http_port
    b = make_broker()
    c = declare_many(b, 20000, "sd")
    s = socket.create_connection(("127.0.0.1", http_port(b)), timeout=30)
    _raw_get(b, s, "/api/queues")
    time.sleep(0.05)
    b.stopped_by_test = True
    assert b.stop() == 0, b.log()
    status, body = _read_answer(s)
    assert status == b"HTTP/1.1 503 Service Unavailable", (status, body[:100])
    assert b"shutting down" in body
    c.close()


def test_sorting_by_a_counter_whose_name_extends_another(broker):
    # get_no_ack is not get, get_empty not get, deliver_no_ack not deliver:
    # a sort by each orders by that counter, paged or not, and with
    # disable_stats (no statistics in the objects) the order is the default.
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    for i in range(300):
        q = "gn-%03d" % i
        ch.queue_declare(q)
        for _ in range((i * 37) % 5):
            ch.basic_get(q, auto_ack=True)      # an empty get each
    for i in range(0, 300, 3):
        q = "gn-%03d" % i
        ch.basic_publish("", q, b"m")
        ch.basic_get(q, auto_ack=True)          # one get_no_ack each
    ch.queue_declare("gn-000", passive=True)
    for key in ("get_empty", "get_no_ack"):
        whole = api(broker, "GET", "/api/queues?name=gn-&sort=message_stats.%s" % key)[1]
        vals = [x.get("message_stats", {}).get(key, 0) for x in whole]
        assert vals == sorted(vals) and len(set(vals)) > 1, key
        paged, _ = pages(broker, "name=gn-&sort=message_stats.%s" % key, size=100)
        assert [x["name"] for x in paged] == [x["name"] for x in whole], key
    off = api(broker, "GET", "/api/queues?name=gn-&disable_stats=true"
                             "&sort=message_stats.get_empty")[1]
    by_count = api(broker, "GET", "/api/queues?name=gn-&sort=message_stats.get_empty")[1]
    assert sorted(x["name"] for x in off) == sorted(x["name"] for x in by_count)
    assert not any("message_stats" in x for x in off)
    assert [x["name"] for x in off] != [x["name"] for x in by_count]
    conn.close()


def test_a_held_connection_is_not_read(broker):
    # While its list is built the connection reads nothing more: what the
    # client pipelines waits in the socket (a few MB of kernel buffers),
    # not in the broker (185 MB in the time a list of 60,000 took).
    import select
    import socket
    import time
    from http_helpers import http_port
    c = declare_many(broker, 20000, "hd")
    s = socket.create_connection(("127.0.0.1", http_port(broker)), timeout=30)
    _raw_get(broker, s, "/api/queues")
    s.setblocking(False)
    junk = b"x" * 65536
    sent, end = 0, time.time() + 0.3
    while time.time() < end and not select.select([s], [], [], 0)[0]:
        try:
            sent += s.send(junk)
        except BlockingIOError:
            select.select([], [s], [], 0.01)
    assert sent < 32 << 20, "%d MB taken in while the list was built" % (sent >> 20)
    s.close()
    c.close()


def _bind_many(b, n, queue, exchange="amq.direct", prefix="k"):
    import struct
    import amqpraw as r
    c = r.connect(b)
    c.open_channel(1)
    c.send(b"".join(r.method_frame(1, r.QUEUE, 20, struct.pack("!H", 0) + r.shortstr(queue)
                                   + r.shortstr(exchange)
                                   + r.shortstr("%s-%05d" % (prefix, (i * 7919) % n))
                                   + bytes([1]) + r.table({"i": i} if i % 3 == 0 else {}))
                    for i in range(n)))
    return c


def test_a_long_binding_list_is_whole_and_in_order(broker):
    # 700 bindings of one queue (more than two slices), every listing of
    # them: the same as its pages, sorted when asked, columns applied.
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    ch.queue_declare("bl-q")
    ch.exchange_declare("bl-x", "topic")
    c = _bind_many(broker, 700, "bl-q", "bl-x")
    ch.queue_declare("bl-q", passive=True)
    assert wait_for(lambda: len(api(broker, "GET", "/api/queues/%2F/bl-q/bindings")[1]) == 701)
    for path in ("/api/bindings", "/api/bindings/%2F", "/api/queues/%2F/bl-q/bindings",
                 "/api/exchanges/%2F/bl-x/bindings/source",
                 "/api/bindings/%2F/e/bl-x/q/bl-q"):
        for query in ("", "sort=routing_key", "sort=routing_key&sort_reverse=true",
                      "sort=arguments.i", "columns=routing_key,arguments&sort=routing_key"):
            st, whole, _ = api(broker, "GET", path + "?" + query)
            assert st == 200 and isinstance(whole, list), (path, query)
            out, page = [], 1
            while True:
                st, env, _ = api(broker, "GET", "%s?page=%d&page_size=300&%s"
                                 % (path, page, query))
                out += env["items"]
                if page >= env["page_count"]:
                    break
                page += 1
            if query.startswith("sort=arguments"):
                # ties: the same keys in the same order, the same set
                assert ([x["arguments"].get("i", -1) for x in out]
                        == [x["arguments"].get("i", -1) for x in whole])
                assert sorted(map(str, out)) == sorted(map(str, whole))
            else:
                assert out == whole, (path, query)
    keys = [x["routing_key"] for x in api(broker, "GET",
                                          "/api/exchanges/%2F/bl-x/bindings/source")[1]]
    assert sorted(keys) == ["k-%05d" % i for i in range(700)]
    rk = [x["routing_key"] for x in api(broker, "GET", "/api/bindings?sort=routing_key")[1]]
    assert rk == sorted(rk)
    args = api(broker, "GET", "/api/queues/%2F/bl-q/bindings?columns=routing_key,arguments")[1]
    assert all(set(x) == {"routing_key", "arguments"} for x in args)
    assert sum(1 for x in args if "i" in x["arguments"]) == 234
    c.close()
    conn.close()


def test_other_clients_are_served_while_a_long_binding_list_is_built(broker):
    # 30,000 bindings of one queue: their list held the core thread in one
    # go (300,000: 0.41 s). An AMQP round trip made meanwhile is answered
    # before the list is.
    import select
    import socket
    from http_helpers import http_port
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    ch.queue_declare("bo-q")
    c = _bind_many(broker, 30000, "bo-q")
    ch.queue_declare("bo-q", passive=True)
    assert wait_for(lambda: ch.queue_declare("bo-q", passive=True) and len(
        api(broker, "GET", "/api/queues/%2F/bo-q/bindings?columns=routing_key")[1]) == 30001,
        timeout=60)
    q = ch.queue_declare("", exclusive=True).method.queue
    s = socket.create_connection(("127.0.0.1", http_port(broker)), timeout=30)
    _raw_get(broker, s, "/api/bindings")
    assert not select.select([s], [], [], 0.02)[0]
    ch.basic_publish("", q, b"ping")
    assert ch.basic_get(q, auto_ack=True)[2] == b"ping"
    assert not select.select([s], [], [], 0)[0], "the list came first"
    import json
    status, body = _read_answer(s)
    assert status == b"HTTP/1.1 200 OK"
    assert len([x for x in json.loads(body) if x["destination"] == "bo-q"]) == 30001
    s.close()
    c.close()
    conn.close()


def test_a_long_consumer_list_is_whole_and_in_order_and_others_go_on(broker):
    # 20,000 consumers (20 channels x 1,000): their list is the same as
    # its pages, sorted when asked, and an AMQP round trip made while it
    # is built is answered first (it was built in one go).
    import json
    import select
    import socket
    import struct
    import amqpraw as r
    from http_helpers import http_port
    from test_amqp_consumers import prefetch_one_consumers
    c = r.connect(broker)
    c.open_channel(1)
    q = c.declare_queue(1, "cl-q")
    prefetch_one_consumers(c, q, 20, 1000)
    conn = pika.BlockingConnection(pika.ConnectionParameters(broker.host, broker.port))
    ch = conn.channel()
    assert wait_for(lambda: ch.queue_declare(q, passive=True).method.consumer_count == 20000,
                    timeout=60)
    for query in ("sort=consumer_tag", "sort=channel_details.number&sort_reverse=true",
                  "columns=consumer_tag,queue.name&sort=consumer_tag"):
        st, whole, _ = api(broker, "GET", "/api/consumers?" + query)
        paged, envs = pages_of(broker, "/api/consumers", query, 500)
        assert st == 200 and whole == paged, query
        assert len(whole) == 20000
    tags = [x["consumer_tag"] for x in api(broker, "GET", "/api/consumers?sort=consumer_tag")[1]]
    assert tags == sorted(tags) and len(set(tags)) == 20000
    mine = ch.queue_declare("", exclusive=True).method.queue
    s = socket.create_connection(("127.0.0.1", http_port(broker)), timeout=30)
    _raw_get(broker, s, "/api/consumers")
    assert not select.select([s], [], [], 0.02)[0]
    ch.basic_publish("", mine, b"ping")
    assert ch.basic_get(mine, auto_ack=True)[2] == b"ping"
    assert not select.select([s], [], [], 0)[0], "the list came first"
    status, body = _read_answer(s)
    assert status == b"HTTP/1.1 200 OK" and len(json.loads(body)) == 20000
    s.close()
    conn.close()
    c.close()


def pages_of(b, path, query, size):
    out, envs, page = [], [], 1
    while True:
        st, env, _ = api(b, "GET", "%s?page=%d&page_size=%d&%s" % (path, page, size, query))
        assert st == 200, env
        envs.append(env)
        out += env["items"]
        if page >= env["page_count"]:
            return out, envs
        page += 1
