/*
 * The x-delayed-message exchange's timer structure (bk_delayed.c), on a
 * real event_base: messages come out in due order whatever order they
 * went in (equal due times in publish order), nothing fires early, a
 * message without x-delay routes at once, and a timer run takes only
 * what is due: a large number held for later stays held and untouched
 * while the few due ones fire.
 */
#include "bk_int.h"
#include "queue_helpers.h"

#define XNAME "later"

static struct bk_exchange *
delayed_exchange_named(const char *name, const char *queue)
{
	struct bk_table_builder args;
	struct bk_exchange_decl d = { .name = bk_str_c(name),
				      .type = bk_str_c("x-delayed-message") };
	struct bk_binding_decl b = { .source = bk_str_c(name), .dest = bk_str_c(queue),
				     .dest_is_queue = true, .routing_key = bk_str_c("k") };
	struct bk_err err;

	bk_tb_init(&args);
	th_arg_str(&args, "x-delayed-type", "direct");
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_exchange_declare(th_vh, &d, &err), BK_OK);
	bk_tb_fini(&args);
	th_declare(queue, NULL);
	CHECK_EQ_INT(bk_bind(th_vh, &b, NULL, &err), BK_OK);
	return bk_exchange_get(th_vh, bk_str_c(name));
}

static struct bk_exchange *
delayed_exchange(const char *queue)
{
	return delayed_exchange_named(XNAME, queue);
}

/* Publish body through exchange xname; delay_ms < 0: no header. */
static void
publish_delayed_to(const char *xname, const char *body, int64_t delay_ms)
{
	struct bk_props p = { 0 };
	struct bk_table_builder h;
	struct bk_route_result res;

	bk_tb_init(&h);
	if (delay_ms >= 0) {
		th_arg_int(&h, "x-delay", delay_ms);
		p.present = BK_P_HEADERS;
		p.headers = bk_tb_view(&h);
	}
	res = th_publish_x(xname, "k", body, &p);
	CHECK_EQ_INT(res.queues, 1);            /* accepted: held or routed */
	bk_tb_fini(&h);
}

static void
publish_delayed(const char *body, int64_t delay_ms)
{
	publish_delayed_to(XNAME, body, delay_ms);
}

static void
test_due_order_and_ties(void)
{
	/* delays in a scrambled order; equal delays keep publish order */
	static const int delays[] = { 60, 20, 40, 20, 80, 0, 40, 60, 20, 80 };
	const int n = (int)(sizeof(delays) / sizeof(delays[0]));
	struct bk_exchange *x;
	struct bk_queue *q;
	struct bk_delivery *d;
	char body[16];
	int last_delay = -1, last_i = -1, got = 0;

	th_setup();
	x = delayed_exchange("q");
	q = bk_queue_get(th_vh, bk_str_c("q"));
	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "%d", i);
		publish_delayed(body, delays[i]);
	}
	/* x-delay 0 is "no delay": it routes at once, the others are held */
	CHECK_EQ_INT(bk_queue_message_count(q), 1);
	CHECK_EQ_INT(bk_delayed_count(x), (uint64_t)n - 1);
	th_run_ms(250);
	CHECK_EQ_INT(bk_delayed_count(x), 0);
	CHECK_EQ_INT(bk_queue_message_count(q), n);
	while ((d = th_get(q)) != NULL) {
		int i;

		snprintf(body, sizeof(body), "%.*s", (int)d->msg->body_len,
			 (const char *)bk_msg_body(d->msg));
		i = atoi(body);

		CHECK(i >= 0 && i < n);
		CHECK(delays[i] > last_delay || (delays[i] == last_delay && i > last_i));
		last_delay = delays[i];
		last_i = i;
		got++;
	}
	CHECK_EQ_INT(got, n);
	th_teardown();
}

static void
test_never_early(void)
{
	struct bk_exchange *x;
	struct bk_queue *q;
	uint64_t t0 = bk_clock_ms();

	th_setup();
	x = delayed_exchange("q");
	q = bk_queue_get(th_vh, bk_str_c("q"));
	publish_delayed("soon", 50);
	publish_delayed("much later", 3600 * 1000);
	publish_delayed("now", -1);
	CHECK_EQ_INT(bk_queue_message_count(q), 1);
	/* small loop runs until "soon" arrives: when it shows, at least its
	 * delay has passed (whole milliseconds: allow one) */
	while (bk_queue_message_count(q) < 2 && bk_clock_ms() - t0 < 5000)
		th_run_ms(5);
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	CHECK(bk_clock_ms() - t0 >= 49);
	CHECK_EQ_INT(bk_delayed_count(x), 1);   /* an hour away: still held */
	th_teardown();
}

static void
test_many_held_few_due(void)
{
	const int held = 100000, due = 50;
	struct bk_exchange *x;
	struct bk_queue *q;
	char body[16];

	th_setup();
	x = delayed_exchange("q");
	q = bk_queue_get(th_vh, bk_str_c("q"));
	for (int i = 0; i < held; i++) {
		snprintf(body, sizeof(body), "h%d", i);
		publish_delayed(body, 3600 * 1000 + (i * 7919) % 100000);
	}
	for (int i = 0; i < due; i++) {
		snprintf(body, sizeof(body), "d%d", i);
		publish_delayed(body, 1 + (i * 13) % 30);
	}
	CHECK_EQ_INT(bk_delayed_count(x), (uint64_t)(held + due));
	th_run_ms(120);
	CHECK_EQ_INT(bk_queue_message_count(q), due);
	CHECK_EQ_INT(bk_delayed_count(x), (uint64_t)held);
	for (int i = 0; i < due; i++) {
		struct bk_delivery *d = th_get(q);

		CHECK(d != NULL && bk_msg_body(d->msg)[0] == 'd');
	}
	th_teardown();                  /* frees every held message (ASan: no leak) */
}

static void
test_exchange_deleted_while_holding(void)
{
	struct bk_queue *q;
	struct bk_err err;

	th_setup();
	delayed_exchange("q");
	q = bk_queue_get(th_vh, bk_str_c("q"));
	publish_delayed("orphan", 20);
	CHECK_EQ_INT(bk_exchange_delete(th_vh, bk_str_c(XNAME), false, &err), BK_OK);
	th_run_ms(80);                  /* comes due with no exchange: dropped */
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_teardown();
}

/* Each exchange holds its own messages: across exchanges they still
 * fire in due order (ties in publish order), and deleting one drops what
 * it holds at once while the others' keep their times. */
static void
test_several_exchanges(void)
{
	static const struct { const char *x, *body; int delay; } pubs[] = {
		{ "a", "a1", 60 }, { "a", "a2", 20 }, { "b", "b1", 40 }, { "b", "b2", 20 },
		{ "c", "c1", 30 }, { "b", "b3", 80 }, { "a", "a3", 80 }, { "c", "c2", 3600000 },
	};
	static const char *const order[] = { "a2", "b2", "b1", "a1", "b3", "a3" };
	struct bk_exchange *a, *b, *c;
	struct bk_queue *q;
	struct bk_delivery *d;
	struct bk_err err;

	th_setup();
	a = delayed_exchange_named("a", "q");
	b = delayed_exchange_named("b", "q");
	c = delayed_exchange_named("c", "q");
	q = bk_queue_get(th_vh, bk_str_c("q"));
	for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++)
		publish_delayed_to(pubs[i].x, pubs[i].body, pubs[i].delay);
	CHECK_EQ_INT(bk_delayed_count(a), 3);
	CHECK_EQ_INT(bk_delayed_count(b), 3);
	CHECK_EQ_INT(bk_delayed_count(c), 2);
	CHECK_EQ_INT(bk_exchange_delete(th_vh, bk_str_c("c"), false, &err), BK_OK);
	th_run_ms(200);
	CHECK_EQ_INT(bk_delayed_count(a), 0);
	CHECK_EQ_INT(bk_delayed_count(b), 0);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		d = th_get(q);
		CHECK(d != NULL && d->msg->body_len == 2 &&
		      memcmp(bk_msg_body(d->msg), order[i], 2) == 0);
	}
	CHECK(th_get(q) == NULL);               /* c's never came */
	th_teardown();                          /* ASan: c's were freed, nothing leaks */
}

int
main(void)
{
	RUN(test_due_order_and_ties);
	RUN(test_never_early);
	RUN(test_many_held_few_due);
	RUN(test_exchange_deleted_while_holding);
	RUN(test_several_exchanges);
	TEST_DONE();
}
