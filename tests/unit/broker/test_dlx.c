/*
 * Dead-lettering: x-death contents as RabbitMQ writes them, repeated
 * deaths, x-delivery-limit, expiration removal and cycle detection.
 */
#include "queue_helpers.h"

static struct bk_queue *
with_dlx(const char *name, const char *dlx, const char *dlrk, int64_t ttl,
	 int64_t limit)
{
	struct bk_table_builder args;

	bk_tb_init(&args);
	th_arg_str(&args, "x-dead-letter-exchange", dlx);
	if (dlrk)
		th_arg_str(&args, "x-dead-letter-routing-key", dlrk);
	if (ttl >= 0)
		th_arg_int(&args, "x-message-ttl", ttl);
	if (limit >= 0)
		th_arg_int(&args, "x-delivery-limit", limit);
	return th_declare(name, &args);
}

static bool
str_field(struct bk_table t, const char *k, const char *want)
{
	struct bk_value v;

	return bk_table_get(t, k, &v) && v.type == BK_V_LSTR && bk_str_eq_c(v.u.s, want);
}

/* The i-th x-death table of d's message. */
static bool
death(const struct bk_delivery *d, int i, struct bk_table *out)
{
	struct bk_value arr, v;
	uint32_t pos = 0;

	if (!d || !bk_table_get(bk_msg_props(d->msg)->headers, "x-death", &arr) ||
	    arr.type != BK_V_ARRAY)
		return false;
	while (bk_array_next(arr.u.a, &pos, &v))
		if (i-- == 0) {
			*out = v.u.t;
			return v.type == BK_V_TABLE;
		}
	return false;
}

static int64_t
death_count(struct bk_table t)
{
	struct bk_value v;
	int64_t n = -1;

	if (bk_table_get(t, "count", &v))
		bk_value_int(&v, &n);
	return n;
}

static void
test_x_death_rejected(void)
{
	struct bk_props p = { .present = BK_P_EXPIRATION };
	struct bk_queue *q, *dlq;
	struct bk_delivery *d;
	struct bk_table t;
	struct bk_value v, rk;
	uint32_t pos = 0;

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = with_dlx("work", "amq.direct", NULL, -1, -1);
	{
		struct bk_binding_decl b = { .source = BK_STR_LIT("amq.direct"),
			.dest = BK_STR_LIT("dlq"), .dest_is_queue = true,
			.routing_key = BK_STR_LIT("work") };
		struct bk_err err;

		CHECK_EQ_INT(bk_bind(th_vh, &b, NULL, &err), BK_OK);
	}
	p.expiration = BK_STR_LIT("60000");
	th_publish_x("", "work", "body", &p);
	d = th_get(q);
	bk_delivery_settle(d, BK_SETTLE_REJECT);
	CHECK_EQ_INT(bk_queue_message_count(dlq), 1);
	d = th_get(dlq);
	CHECK(th_body_is(d, "body"));
	CHECK(d && !(bk_msg_props(d->msg)->present & BK_P_EXPIRATION));
	CHECK(d && bk_msg_expires(d->msg) == 0);
	CHECK(death(d, 0, &t));
	CHECK_EQ_INT(death_count(t), 1);
	CHECK(str_field(t, "reason", "rejected"));
	CHECK(str_field(t, "queue", "work"));
	CHECK(str_field(t, "exchange", ""));
	CHECK(str_field(t, "original-expiration", "60000"));
	CHECK(bk_table_get(t, "time", &v) && v.type == BK_V_TIMESTAMP);
	CHECK(bk_table_get(t, "routing-keys", &v) && v.type == BK_V_ARRAY &&
	      bk_array_next(v.u.a, &pos, &rk) && bk_str_eq_c(rk.u.s, "work"));
	CHECK(str_field(bk_msg_props(d->msg)->headers, "x-first-death-reason", "rejected"));
	CHECK(str_field(bk_msg_props(d->msg)->headers, "x-first-death-queue", "work"));
	CHECK(str_field(bk_msg_props(d->msg)->headers, "x-first-death-exchange", ""));
	CHECK(str_field(bk_msg_props(d->msg)->headers, "x-last-death-queue", "work"));
	th_teardown();
}

/* A queue dead-lettering into itself by rejection is not a cycle. */
static void
test_reject_loop_counts(void)
{
	struct bk_queue *q;
	struct bk_delivery *d;
	struct bk_table t;

	th_setup();
	q = with_dlx("self", "", NULL, -1, -1);
	th_publish("self", "m");
	bk_delivery_settle(th_get(q), BK_SETTLE_REJECT);
	bk_delivery_settle(th_get(q), BK_SETTLE_REJECT);
	d = th_get(q);
	CHECK(th_body_is(d, "m"));
	CHECK(death(d, 0, &t));
	CHECK_EQ_INT(death_count(t), 2);
	CHECK(!death(d, 1, &t));                        /* one entry, counted */
	th_teardown();
}

/* Expiring into itself is a cycle: dropped, not looping. */
static void
test_expired_cycle_dropped(void)
{
	struct bk_queue *q;

	th_setup();
	q = with_dlx("loop", "", NULL, 10, -1);
	th_publish("loop", "m");
	th_run_ms(60);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_teardown();
}

/* a -> b -> a by expiry: dropped when it would return to a. */
static void
test_two_queue_cycle(void)
{
	struct bk_queue *a, *b;

	th_setup();
	a = with_dlx("a", "", "b", 10, -1);
	b = with_dlx("b", "", "a", 10, -1);
	th_publish("a", "m");
	th_run_ms(40);
	th_run_ms(40);
	CHECK_EQ_INT(bk_queue_message_count(a), 0);
	CHECK_EQ_INT(bk_queue_message_count(b), 0);
	th_teardown();
}

static void
test_delivery_limit(void)
{
	struct bk_queue *q, *dlq;
	struct bk_delivery *d;
	struct bk_table t;

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = with_dlx("q", "", "dlq", -1, 1);
	th_publish("q", "m");
	d = th_get(q);
	CHECK(d && d->delivery_count == 0);
	bk_delivery_settle(d, BK_SETTLE_REQUEUE);
	d = th_get(q);
	CHECK(d && d->delivery_count == 1);
	bk_delivery_settle(d, BK_SETTLE_REQUEUE);       /* over the limit */
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	d = th_get(dlq);
	CHECK(th_body_is(d, "m"));
	CHECK(death(d, 0, &t) && str_field(t, "reason", "delivery_limit"));
	th_teardown();
}

/* A queue entry counts deliveries up to 65,535: a larger limit acts as
 * that, rather than never being reached. */
static void
test_delivery_limit_past_the_count(void)
{
	struct bk_queue *q, *dlq;
	struct bk_delivery *d;
	uint32_t n = 0;

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = with_dlx("q", "", "dlq", -1, 100000);
	th_publish("q", "m");
	while ((d = th_get(q)) != NULL && n < 70000) {
		bk_delivery_settle(d, BK_SETTLE_REQUEUE);
		n++;
	}
	CHECK_EQ_INT(n, 65536);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	CHECK(th_body_is(th_get(dlq), "m"));
	th_teardown();
}

static void
test_no_dlx_drops(void)
{
	struct bk_queue *q;

	th_setup();
	q = th_declare("q", NULL);
	th_publish("q", "m");
	bk_delivery_settle(th_get(q), BK_SETTLE_REJECT);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	q = with_dlx("r", "missing-exchange", NULL, -1, -1);
	th_publish("r", "m");
	bk_delivery_settle(th_get(q), BK_SETTLE_REJECT);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_teardown();
}

int
main(void)
{
	RUN(test_x_death_rejected);
	RUN(test_reject_loop_counts);
	RUN(test_expired_cycle_dropped);
	RUN(test_two_queue_cycle);
	RUN(test_delivery_limit);
	RUN(test_delivery_limit_past_the_count);
	RUN(test_no_dlx_drops);
	TEST_DONE();
}
