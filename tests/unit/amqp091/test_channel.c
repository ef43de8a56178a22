/*
 * test_channel.c: the AMQP channel layer against a fake connection and a
 * fake core (stubs_channel.c): content assembly and its frame errors,
 * confirms coalescing, mandatory returns, the unacked map (in-order,
 * out-of-order, multiple, unknown tags, sparse tags), tx commit/rollback,
 * consume-ok before the first delivery, channel close.
 */
#include <stdlib.h>

#include "testlib.h"
#include "stubs_channel.h"

static struct event_base *base;
static struct amqp_conn conn;
static struct amqp_channel *channels[4];

static struct amqp_channel *
open_ch(void)
{
	memset(&conn, 0, sizeof(conn));
	conn.base = base;
	conn.channels = channels;
	conn.chan_cap = 4;
	conn.vhost = (struct bk_vhost *)1;
	conn.cap_consumer_cancel_notify = true;
	channels[1] = amqp_channel_new(&conn, 1);
	reset_records();
	closed_code = 0;
	channel_freed = false;
	return channels[1];
}

static void
close_ch(void)
{
	amqp_channel_free(channels[1]);
	channels[1] = NULL;
}

static void
method(struct amqp_channel *ch, struct amqp_method *m)
{
	amqp_channel_on_method(ch, m);
}

static void
publish(struct amqp_channel *ch, const char *rk, bool mandatory, const char *body)
{
	struct amqp_method m = { .id = AMQP_BASIC_PUBLISH };
	struct bk_props props = { 0 };
	uint8_t hdr[256];
	size_t n = strlen(body);
	int len;

	m.u.basic_publish.routing_key = bk_str_c(rk);
	m.u.basic_publish.mandatory = mandatory;
	method(ch, &m);
	len = amqp_content_header_frame_encode(hdr, sizeof(hdr), 1, n, &props);
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	if (n) {
		struct evbuffer *in = evbuffer_new();

		evbuffer_add(in, body, n);
		amqp_channel_on_body(ch, in, n);
		evbuffer_free(in);
	}
}

static void
simple(struct amqp_channel *ch, uint32_t id)
{
	struct amqp_method m = { .id = id };

	method(ch, &m);
}

static int
count_sent(uint32_t id)
{
	int n = 0;

	for (int i = 0; i < nsent; i++)
		n += sent[i].id == id;
	return n;
}

static void
test_confirms_coalesce(void)
{
	struct amqp_channel *ch = open_ch();

	simple(ch, AMQP_CONFIRM_SELECT);
	CHECK_EQ_INT(sent[0].id, AMQP_CONFIRM_SELECT_OK);
	publish(ch, "q", false, "a");
	publish(ch, "q", false, "bb");
	publish(ch, "none", true, "");          /* return first, then its ack */
	CHECK_EQ_INT(published, 3);
	CHECK_EQ_INT(count_sent(AMQP_BASIC_ACK), 0);
	CHECK_EQ_INT(sent[1].id, AMQP_BASIC_RETURN);
	CHECK_EQ_INT(sent[1].code, 312);
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(sent[2].id, AMQP_BASIC_ACK);
	CHECK_EQ_INT(sent[2].tag, 3);
	CHECK(sent[2].flag);
	publish(ch, "q", false, "x");           /* 4: ack pending */
	publish(ch, "refuse", false, "x");      /* 5: flushes ack 4, nack 5 */
	CHECK_EQ_INT(sent[3].id, AMQP_BASIC_ACK);
	CHECK_EQ_INT(sent[3].tag, 4);
	CHECK(!sent[3].flag);
	CHECK_EQ_INT(sent[4].id, AMQP_BASIC_NACK);
	CHECK_EQ_INT(sent[4].tag, 5);
	simple(ch, AMQP_TX_SELECT);
	CHECK_EQ_INT(sent[5].id, AMQP_CHANNEL_CLOSE);
	CHECK_EQ_INT(sent[5].code, 406);
	CHECK_STR(sent[5].text, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
	close_ch();
	published = 0;
}

bool stub_durable_fire(int status);

/* A publish waiting for the journal holds every later decision back. */
static void
test_confirms_wait_for_durability(void)
{
	struct amqp_channel *ch = open_ch();

	simple(ch, AMQP_CONFIRM_SELECT);
	reset_records();
	publish(ch, "q", false, "a");           /* 1: decided at once */
	publish(ch, "pending", false, "b");     /* 2: waits for the journal */
	publish(ch, "q", false, "c");           /* 3: decided, held behind 2 */
	publish(ch, "refuse", false, "d");      /* 4: nack, held behind 2 */
	publish(ch, "pending", false, "e");     /* 5: waits */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(nsent, 1);
	CHECK_EQ_INT(sent[0].id, AMQP_BASIC_ACK);
	CHECK_EQ_INT(sent[0].tag, 1);
	CHECK(stub_durable_fire(0));            /* 2 durable: 2, 3 acked, 4 nacked */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(nsent, 3);
	CHECK_EQ_INT(sent[1].id, AMQP_BASIC_ACK);
	CHECK_EQ_INT(sent[1].tag, 3);
	CHECK(sent[1].flag);
	CHECK_EQ_INT(sent[2].id, AMQP_BASIC_NACK);
	CHECK_EQ_INT(sent[2].tag, 4);
	CHECK(stub_durable_fire(-ENOSPC));      /* 5 could not be written */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_EQ_INT(nsent, 4);
	CHECK_EQ_INT(sent[3].id, AMQP_BASIC_NACK);
	CHECK_EQ_INT(sent[3].tag, 5);
	publish(ch, "pending", false, "f");     /* 6: freed before it is durable */
	close_ch();
	CHECK(stub_durable_fire(0));            /* no call into the freed channel */
	published = 0;

	ch = open_ch();                         /* tx: commit-ok waits too */
	simple(ch, AMQP_TX_SELECT);
	reset_records();
	publish(ch, "pending", false, "t1");
	publish(ch, "q", false, "t2");
	simple(ch, AMQP_TX_COMMIT);
	CHECK_EQ_INT(count_sent(AMQP_TX_COMMIT_OK), 0);
	CHECK(stub_durable_fire(0));
	CHECK_EQ_INT(count_sent(AMQP_TX_COMMIT_OK), 1);
	close_ch();
	published = 0;
}

static void
test_body_frames(void)
{
	struct amqp_channel *ch = open_ch();
	struct amqp_method m = { .id = AMQP_BASIC_PUBLISH };
	struct bk_props props = { 0 };
	struct evbuffer *in = evbuffer_new();
	uint8_t hdr[256];
	int len;

	m.u.basic_publish.routing_key = BK_STR_LIT("q");
	method(ch, &m);
	len = amqp_content_header_frame_encode(hdr, sizeof(hdr), 1, 6, &props);
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	evbuffer_add(in, "abcdefgh", 8);
	amqp_channel_on_body(ch, in, 4);
	CHECK_EQ_INT(published, 0);
	amqp_channel_on_body(ch, in, 4);        /* 2 bytes too many */
	CHECK_EQ_INT(closed_code, 501);
	CHECK_EQ_INT(evbuffer_get_length(in), 0);
	close_ch();

	ch = open_ch();
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	CHECK_EQ_INT(closed_code, 505);         /* header without publish */
	close_ch();

	ch = open_ch();
	method(ch, &m);
	simple(ch, AMQP_BASIC_QOS);             /* method instead of header */
	CHECK_EQ_INT(closed_code, 505);
	close_ch();

	ch = open_ch();                         /* too large: channel error */
	method(ch, &m);
	len = amqp_content_header_frame_encode(hdr, sizeof(hdr), 1, 5000, &props);
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	CHECK_EQ_INT(sent[0].id, AMQP_CHANNEL_CLOSE);
	CHECK_STR(sent[0].text, "PRECONDITION_FAILED - message size 5000 is "
		  "larger than configured max size 1000");
	CHECK(amqp_channel_is_closing(ch));
	simple(ch, AMQP_CHANNEL_CLOSE_OK);
	CHECK(channel_freed);
	evbuffer_free(in);
}

static struct fake_consumer *
consume(struct amqp_channel *ch, const char *tag, bool no_ack)
{
	struct amqp_method m = { .id = AMQP_BASIC_CONSUME };

	m.u.basic_consume.queue = BK_STR_LIT("q");
	m.u.basic_consume.consumer_tag = bk_str_c(tag);
	m.u.basic_consume.no_ack = no_ack;
	method(ch, &m);
	return &consumers_made[(nconsumers - 1) % 16];
}

static void
ack(struct amqp_channel *ch, uint32_t id, uint64_t tag, bool multiple, bool requeue)
{
	struct amqp_method m = { .id = id };

	if (id == AMQP_BASIC_ACK) {
		m.u.basic_ack.delivery_tag = tag;
		m.u.basic_ack.multiple = multiple;
	} else if (id == AMQP_BASIC_NACK) {
		m.u.basic_nack.delivery_tag = tag;
		m.u.basic_nack.multiple = multiple;
		m.u.basic_nack.requeue = requeue;
	} else {
		m.u.basic_reject.delivery_tag = tag;
		m.u.basic_reject.requeue = requeue;
	}
	method(ch, &m);
}

static void
test_consume_and_ack(void)
{
	struct amqp_channel *ch = open_ch();
	struct fake_consumer *c = consume(ch, "", false);
	struct bk_delivery *d;
	int i;

	CHECK_EQ_INT(c->first_deliver_rc, -EAGAIN);   /* before consume-ok */
	CHECK_EQ_INT(sent[0].id, AMQP_BASIC_CONSUME_OK);
	CHECK(strncmp(sent[0].text, "amq.ctag-", 9) == 0);
	CHECK_EQ_INT(strlen(sent[0].text), 31);
	CHECK(c->woken >= 1);
	for (i = 0; i < 200; i++)               /* forces map growth */
		CHECK_EQ_INT(c->ops->deliver(c->ctx, fake_delivery("k")), 0);
	CHECK_EQ_INT(sent[200].id, AMQP_BASIC_DELIVER);
	CHECK_EQ_INT(sent[200].tag, 200);
	reset_records();
	ack(ch, AMQP_BASIC_ACK, 1, false, false);
	ack(ch, AMQP_BASIC_ACK, 150, false, false);
	ack(ch, AMQP_BASIC_ACK, 100, true, false);      /* 2..100 */
	CHECK_EQ_INT(nsettled, 101);
	CHECK_EQ_INT(settled[100].tag, 100);
	ack(ch, AMQP_BASIC_REJECT, 101, false, true);
	CHECK_EQ_INT(settled[101].how, BK_SETTLE_REQUEUE);
	ack(ch, AMQP_BASIC_NACK, 0, true, false);       /* all the rest */
	CHECK_EQ_INT(nsettled, 102 + 98);
	CHECK_EQ_INT(settled[nsettled - 1].tag, 200);
	CHECK_EQ_INT(settled[nsettled - 1].how, BK_SETTLE_REJECT);
	CHECK_EQ_INT(nsent, 0);
	output_full = true;
	d = fake_delivery("k");
	CHECK_EQ_INT(c->ops->deliver(c->ctx, d), -EAGAIN);
	bk_delivery_settle(d, BK_SETTLE_REQUEUE);
	output_full = false;
	nsettled--;
	ack(ch, AMQP_BASIC_ACK, 150, false, false);      /* acked already */
	CHECK_EQ_INT(sent[0].id, AMQP_CHANNEL_CLOSE);
	CHECK_STR(sent[0].text, "PRECONDITION_FAILED - unknown delivery tag 150");
	CHECK(!c->live);
	close_ch();
}

static void
test_wrap_and_close_requeue(void)
{
	struct amqp_channel *ch = open_ch();
	struct fake_consumer *c = consume(ch, "ack", false);
	struct fake_consumer *na = consume(ch, "noack", true);
	int i;

	CHECK_EQ_INT(c->ops->deliver(c->ctx, fake_delivery("k")), 0); /* tag 1 */
	for (i = 0; i < 100; i++)               /* no-ack tags 2..101 */
		na->ops->deliver(na->ctx, fake_delivery("k"));
	CHECK_EQ_INT(nsettled, 100);
	c->ops->deliver(c->ctx, fake_delivery("k"));    /* tag 102 */
	reset_records();
	ack(ch, AMQP_BASIC_ACK, 65, false, false);      /* a no-ack tag */
	CHECK_EQ_INT(sent[0].id, AMQP_CHANNEL_CLOSE);
	CHECK_EQ_INT(nsettled, 2);              /* the error requeued 1 and 102 */
	CHECK_EQ_INT(settled[0].tag, 1);
	CHECK_EQ_INT(settled[1].tag, 102);
	CHECK_EQ_INT(settled[0].how, BK_SETTLE_REQUEUE);
	close_ch();
}

/*
 * The map is sized by the unacked count: one delivery left unacked while
 * millions of no-ack ones pass, then one more ack-mode delivery, costs a
 * few slots (a window between the oldest and newest tag would be 32 MB).
 */
static void
test_sparse_tags_cost_no_window(void)
{
	struct amqp_channel *ch = open_ch();
	struct fake_consumer *c = consume(ch, "ack", false);
	struct fake_consumer *na = consume(ch, "noack", true);
	size_t before;
	int i;

	CHECK_EQ_INT(c->ops->deliver(c->ctx, fake_delivery("k")), 0);  /* tag 1 */
	before = bk_alloc_used();
	for (i = 0; i < 3000000; i++)
		na->ops->deliver(na->ctx, fake_delivery("k"));
	CHECK_EQ_INT(c->ops->deliver(c->ctx, fake_delivery("k")), 0);  /* tag 3000002 */
	CHECK(bk_alloc_used() - before < 4096);
	reset_records();
	ack(ch, AMQP_BASIC_ACK, 3000002, false, false);
	ack(ch, AMQP_BASIC_ACK, 1, false, false);
	CHECK_EQ_INT(nsettled, 2);
	CHECK_EQ_INT(settled[0].tag, 3000002);
	CHECK_EQ_INT(settled[1].tag, 1);
	CHECK_EQ_INT(nsent, 0);
	close_ch();
}

/* What one message of fake_delivery costs the allocator's count. */
static size_t
msg_cost(void)
{
	size_t before = bk_alloc_used();
	struct bk_delivery *d = fake_delivery("k");
	size_t n = bk_alloc_used() - before;

	bk_msg_unref(d->msg);
	free(d);
	return n;
}

/*
 * Tags left unacked in a pattern a client chooses (every 64th, acked
 * last and out of order) are all still found, and the map shrinks again.
 */
static void
test_sparse_tags_lookup(void)
{
	struct amqp_channel *ch = open_ch();
	struct fake_consumer *c = consume(ch, "ack", false);
	size_t start = bk_alloc_used();
	int i, n = 20000;

	for (i = 0; i < n; i++)
		c->ops->deliver(c->ctx, fake_delivery("k"));
	reset_records();
	for (i = n; i >= 1; i--)
		if (i % 64 != 0)
			ack(ch, AMQP_BASIC_ACK, (uint64_t)i, false, false);
	CHECK_EQ_INT(nsent, 0);
	/* a map of at most 8 slots per unacked delivery, beside the
	 * deliveries' messages */
	CHECK(bk_alloc_used() - start <= (n / 64) * (8 * sizeof(void *) + msg_cost()));
	for (i = 64; i <= n; i += 128)
		ack(ch, AMQP_BASIC_ACK, (uint64_t)i, false, false);
	for (i = 128; i <= n; i += 128)
		ack(ch, AMQP_BASIC_ACK, (uint64_t)i, false, false);
	CHECK_EQ_INT(nsent, 0);
	CHECK_EQ_INT(bk_alloc_used(), start);   /* every message settled, map freed */
	ack(ch, AMQP_BASIC_ACK, 64, false, false);
	CHECK_EQ_INT(sent[0].id, AMQP_CHANNEL_CLOSE);
	CHECK_STR(sent[0].text, "PRECONDITION_FAILED - unknown delivery tag 64");
	close_ch();
}

/*
 * A durable change's -ok waits for the definitions file: the connection's
 * input is held meanwhile, the -ok (with the queue name) leaves once the
 * write completes, a nowait method holds nothing, and a write that fails
 * closes the connection with 541.
 */
static void
test_durable_ok_waits(void)
{
	struct amqp_channel *ch = open_ch();
	struct amqp_method m = { .id = AMQP_QUEUE_DECLARE };

	stub_defs_pending = true;
	m.u.queue_declare.queue = bk_str_c("dq");
	m.u.queue_declare.durable = true;
	method(ch, &m);
	CHECK_EQ_INT(nsent, 0);
	CHECK(conn.input_held);
	CHECK(stub_durable_fire(0));
	CHECK(!conn.input_held);
	CHECK_EQ_INT(nsent, 1);
	CHECK_EQ_INT(sent[0].id, AMQP_QUEUE_DECLARE_OK);
	CHECK_STR(sent[0].text, "given");
	reset_records();
	m.u.queue_declare.nowait = true;
	method(ch, &m);
	CHECK(!conn.input_held);
	CHECK_EQ_INT(nsent, 0);
	CHECK(stub_durable_fire(0) == false);
	simple(ch, AMQP_EXCHANGE_DELETE);
	CHECK(conn.input_held);
	CHECK(stub_durable_fire(-EIO));
	CHECK(!conn.input_held);
	CHECK_EQ_INT(closed_code, 541);
	CHECK_EQ_INT(nsent, 0);
	/* a channel freed while its -ok waits lets the input go */
	closed_code = 0;
	simple(ch, AMQP_EXCHANGE_DELETE);
	CHECK(conn.input_held);
	stub_defs_pending = false;
	close_ch();
	CHECK(!conn.input_held);
	CHECK(stub_durable_fire(0));            /* the tracker was freed: silent */
	CHECK_EQ_INT(closed_code, 0);
}

static void
test_tx(void)
{
	struct amqp_channel *ch = open_ch();
	struct fake_consumer *c = consume(ch, "t", false);
	int i;

	simple(ch, AMQP_TX_COMMIT);
	CHECK_STR(sent[1].text, "PRECONDITION_FAILED - channel is not transactional");
	close_ch();
	ch = open_ch();
	c = consume(ch, "t", false);
	simple(ch, AMQP_TX_SELECT);
	for (i = 0; i < 3; i++)
		c->ops->deliver(c->ctx, fake_delivery("k"));
	publish(ch, "q", false, "m1");
	publish(ch, "none", true, "m2");
	ack(ch, AMQP_BASIC_ACK, 2, false, false);
	CHECK_EQ_INT(published, 0);
	CHECK_EQ_INT(nsettled, 0);
	simple(ch, AMQP_TX_ROLLBACK);
	CHECK_EQ_INT(published, 0);
	ack(ch, AMQP_BASIC_ACK, 3, true, false);         /* 2 is back */
	reset_records();
	publish(ch, "none", true, "m3");
	simple(ch, AMQP_TX_COMMIT);
	CHECK_EQ_INT(published, 1);
	CHECK_EQ_INT(nsettled, 3);
	CHECK_EQ_INT(settled[1].tag, 2);
	CHECK_EQ_INT(sent[0].id, AMQP_BASIC_RETURN);
	CHECK_EQ_INT(sent[1].id, AMQP_TX_COMMIT_OK);
	published = 0;
	close_ch();
}

static void
test_get_recover_close(void)
{
	struct amqp_channel *ch = open_ch();
	struct amqp_method m = { .id = AMQP_BASIC_GET };
	struct amqp_method r = { .id = AMQP_BASIC_RECOVER };

	method(ch, &m);                         /* no previously declared queue */
	CHECK_STR(sent[0].text, "NOT_FOUND - no previously declared queue");
	close_ch();
	ch = open_ch();
	m.u.basic_get.queue = BK_STR_LIT("q");
	method(ch, &m);
	method(ch, &m);
	CHECK_EQ_INT(sent[1].id, AMQP_BASIC_GET_OK);
	CHECK_EQ_INT(sent[1].tag, 2);
	r.u.basic_recover.requeue = true;
	method(ch, &r);
	CHECK_EQ_INT(nsettled, 2);
	CHECK_EQ_INT(sent[2].id, AMQP_BASIC_RECOVER_OK);
	method(ch, &m);
	simple(ch, AMQP_CHANNEL_CLOSE);
	CHECK_EQ_INT(nsettled, 3);
	CHECK_EQ_INT(sent[4].id, AMQP_CHANNEL_CLOSE_OK);
	CHECK(channel_freed);
}

static void
test_reply_to(void)
{
	struct amqp_channel *ch = open_ch();
	struct amqp_method m = { .id = AMQP_BASIC_CONSUME };
	struct amqp_method p = { .id = AMQP_BASIC_PUBLISH };
	struct bk_props props = { .present = BK_P_REPLY_TO,
				  .reply_to = BK_STR_LIT("amq.rabbitmq.reply-to") };
	uint8_t hdr[256];
	int len = amqp_content_header_frame_encode(hdr, sizeof(hdr), 1, 0, &props);

	p.u.basic_publish.routing_key = BK_STR_LIT("q");
	method(ch, &p);
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	CHECK_STR(sent[0].text, "PRECONDITION_FAILED - fast reply consumer does not exist");
	close_ch();
	ch = open_ch();
	m.u.basic_consume.queue = BK_STR_LIT("amq.rabbitmq.reply-to");
	method(ch, &m);
	CHECK_STR(sent[0].text, "PRECONDITION_FAILED - reply consumer cannot acknowledge");
	close_ch();
	ch = open_ch();
	m.u.basic_consume.no_ack = true;
	method(ch, &m);
	CHECK_EQ_INT(sent[0].id, AMQP_BASIC_CONSUME_OK);
	method(ch, &p);
	amqp_channel_on_header(ch, hdr + 7, (size_t)len - 8);
	CHECK_EQ_INT(published, 1);
	close_ch();
}

/* A routing key or reply-to over 255 octets (an MQTT topic) goes out as
 * "" / no reply-to, the whole value in a header, replacing a header of the
 * same name; short ones go out as they are. */
static struct bk_delivery *
long_delivery(const char *rk, const struct bk_props *props)
{
	struct bk_delivery *d = calloc(1, sizeof(*d));

	d->msg = bk_msg_new(BK_STR_LIT(""), bk_str_c(rk), props, 3);
	memcpy(bk_msg_body(d->msg), "abc", 3);
	return d;
}

static void
test_long_names(void)
{
	struct amqp_channel *ch;
	struct fake_consumer *c;
	struct bk_table_builder hb;
	struct bk_value v = { .type = BK_V_LSTR, .u.s = BK_STR_LIT("old") };
	struct bk_props props = { .present = BK_P_REPLY_TO | BK_P_HEADERS };
	char rk[301], reply[401];

	memset(rk, 'k', 300);
	rk[300] = '\0';
	memset(reply, 'r', 400);
	reply[400] = '\0';
	bk_tb_init(&hb);
	bk_tb_put(&hb, "x-routing-key", 13, &v);
	bk_tb_put(&hb, "other", 5, &v);
	props.headers = bk_tb_view(&hb);
	props.reply_to = bk_str_c(reply);
	ch = open_ch();
	c = consume(ch, "", true);
	reset_records();
	CHECK_EQ_INT(c->ops->deliver(c->ctx, long_delivery(rk, &props)), 0);
	CHECK_EQ_INT(sent[0].id, AMQP_BASIC_DELIVER);
	CHECK_EQ_INT(sent[0].rk_len, 0);
	CHECK_EQ_INT(sent[0].hdr_rk_len, 300);          /* ours, not "old" */
	CHECK_EQ_INT(sent[0].hdr_reply_len, 400);
	CHECK_EQ_INT(sent[0].reply_to_len, -1);
	rk[255] = '\0';
	reply[255] = '\0';
	props.reply_to = bk_str_c(reply);
	CHECK_EQ_INT(c->ops->deliver(c->ctx, long_delivery(rk, &props)), 0);
	CHECK_EQ_INT(sent[1].rk_len, 255);
	CHECK_EQ_INT(sent[1].hdr_rk_len, 3);            /* the message's own */
	CHECK_EQ_INT(sent[1].hdr_reply_len, -1);
	CHECK_EQ_INT(sent[1].reply_to_len, 255);
	close_ch();
	bk_tb_fini(&hb);
}

/* The message's other headers go out octet for octet (a 'U' value stays
 * 'U'), the one ours replaces left out. A content header larger than the
 * client's frame_max is measured, not built: the delivery is dropped
 * without a copy of the message's headers. */
static void
test_long_names_headers(void)
{
	static const uint8_t a[] = { 1, 'a', 'U', 0, 7 };
	static const uint8_t old[] = { 13, 'x', '-', 'r', 'o', 'u', 't', 'i', 'n', 'g', '-',
				       'k', 'e', 'y', 'S', 0, 0, 0, 3, 'o', 'l', 'd' };
	static const uint8_t b[] = { 1, 'b', 'L', 0, 0, 0, 0, 0, 0, 0, 9 };
	struct amqp_channel *ch;
	struct fake_consumer *c;
	struct bk_delivery *d;
	struct bk_table_builder hb;
	struct bk_value big = { .type = BK_V_LSTR };
	struct bk_props props = { .present = BK_P_HEADERS };
	char rk[301], *fill = malloc(8000);

	memset(rk, 'k', 300);
	rk[300] = '\0';
	bk_tb_init(&hb);
	bk_tb_put_raw(&hb, a, sizeof(a));
	bk_tb_put_raw(&hb, old, sizeof(old));
	bk_tb_put_raw(&hb, b, sizeof(b));
	props.headers = bk_tb_view(&hb);
	CHECK_EQ_INT(bk_table_validate(props.headers), 0);
	ch = open_ch();
	c = consume(ch, "", true);
	reset_records();
	CHECK_EQ_INT(c->ops->deliver(c->ctx, long_delivery(rk, &props)), 0);
	CHECK_EQ_INT(nsent, 1);
	CHECK_EQ_INT(sent[0].rk_len, 0);
	CHECK_EQ_INT(sent[0].hdr_rk_len, 300);
	CHECK_EQ_INT(sent[0].headers_len, sizeof(a) + sizeof(b) + 1 + 13 + 1 + 4 + 300);
	CHECK(memcmp(sent[0].headers, a, sizeof(a)) == 0);
	CHECK(memcmp(sent[0].headers + sizeof(a), b, sizeof(b)) == 0);

	/* 8000 octets of headers, frame_max 4096 */
	memset(fill, 'f', 8000);
	big.u.s = (struct bk_str){ fill, 8000 };
	bk_tb_put(&hb, "big", 3, &big);
	props.headers = bk_tb_view(&hb);
	conn.frame_max = 4096;
	d = long_delivery(rk, &props);
	reset_records();
	CHECK_EQ_INT(c->ops->deliver(c->ctx, d), 0);
	CHECK_EQ_INT(nsent, 0);
	CHECK_EQ_INT(nsettled, 1);
	CHECK(realloc_max < 1024);
	/* the same headers with a short key are dropped alike */
	CHECK_EQ_INT(c->ops->deliver(c->ctx, long_delivery("short", &props)), 0);
	CHECK_EQ_INT(nsent, 0);
	CHECK_EQ_INT(nsettled, 2);
	close_ch();
	bk_tb_fini(&hb);
	free(fill);
}

int
main(void)
{
	base = event_base_new();
	RUN(test_confirms_coalesce);
	RUN(test_confirms_wait_for_durability);
	RUN(test_body_frames);
	RUN(test_consume_and_ack);
	RUN(test_wrap_and_close_requeue);
	RUN(test_sparse_tags_cost_no_window);
	RUN(test_sparse_tags_lookup);
	RUN(test_durable_ok_waits);
	RUN(test_tx);
	RUN(test_get_recover_close);
	RUN(test_reply_to);
	RUN(test_long_names);
	RUN(test_long_names_headers);
	event_base_free(base);
	TEST_DONE();
}
