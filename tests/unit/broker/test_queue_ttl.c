/*
 * Message TTL (per queue, per message, TTL 0) and queue expiry, with a
 * real event_base loop driving the timers.
 */
#include "queue_helpers.h"
#include "bk_queueing.h"

static void
test_queue_ttl_dead_letters(void)
{
	struct bk_table_builder args;
	struct bk_queue *q, *dlq;
	struct bk_delivery *d;

	th_setup();
	dlq = th_declare("dlq", NULL);
	bk_tb_init(&args);
	th_arg_int(&args, "x-message-ttl", 40);
	th_arg_str(&args, "x-dead-letter-exchange", "");
	th_arg_str(&args, "x-dead-letter-routing-key", "dlq");
	q = th_declare("q", &args);
	th_publish("q", "a");
	th_publish("q", "b");
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	th_run_ms(120);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	CHECK_EQ_INT(bk_queue_message_count(dlq), 2);
	d = th_get(dlq);
	CHECK(th_body_is(d, "a"));
	CHECK(d && bk_str_eq_c(bk_msg_rk(d->msg), "dlq"));
	th_teardown();
}

static void
test_per_message_ttl_not_at_head(void)
{
	struct bk_props p = { .present = BK_P_EXPIRATION };
	struct bk_queue *q;
	struct bk_delivery *d;

	th_setup();
	q = th_declare("q", NULL);
	th_publish("q", "keep1");
	p.expiration = BK_STR_LIT("30");
	th_publish_x("", "q", "short", &p);
	p.expiration = BK_STR_LIT("100000");
	th_publish_x("", "q", "long", &p);
	th_publish("q", "keep2");
	th_run_ms(90);
	CHECK_EQ_INT(bk_queue_message_count(q), 3);     /* "short" left promptly */
	d = th_get(q);
	CHECK(th_body_is(d, "keep1"));
	d = th_get(q);
	CHECK(th_body_is(d, "long"));
	d = th_get(q);
	CHECK(th_body_is(d, "keep2"));
	th_teardown();
}

static void
test_lower_ttl_wins(void)
{
	struct bk_table_builder args;
	struct bk_props p = { .present = BK_P_EXPIRATION };
	struct bk_queue *q;

	th_setup();
	bk_tb_init(&args);
	/* Margins wide enough for a loaded machine to stall a while: the
	 * first check fails only after a stall of most of a second. */
	th_arg_int(&args, "x-message-ttl", 1000);
	q = th_declare("q", &args);
	p.expiration = BK_STR_LIT("100000");
	th_publish_x("", "q", "a", &p);
	p.expiration = BK_STR_LIT("10");
	th_publish_x("", "q", "b", &p);
	th_run_ms(100);
	CHECK_EQ_INT(bk_queue_message_count(q), 1);
	th_run_ms(1100);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_teardown();
}

static void
test_ttl_zero(void)
{
	struct bk_table_builder args;
	struct th_cons a = { 0 };
	struct bk_queue *q;

	th_setup();
	bk_tb_init(&args);
	th_arg_int(&args, "x-message-ttl", 0);
	q = th_declare("q", &args);
	th_publish("q", "nobody");                      /* no consumer: gone */
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_consume(q, &a, 1, 0, NULL);
	th_publish("q", "taken");
	CHECK_EQ_INT(a.n, 1);
	th_publish("q", "no-credit");                   /* consumer is full */
	CHECK_EQ_INT(a.n, 1);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	/* requeued after its TTL: expired, not redelivered */
	bk_delivery_settle(a.d[0], BK_SETTLE_REQUEUE);
	CHECK_EQ_INT(bk_queue_message_count(q), 0);
	th_teardown();
}

static void
test_queue_expires(void)
{
	struct bk_table_builder args;
	struct th_cons a = { 0 };
	struct bk_queue *q;

	th_setup();
	bk_tb_init(&args);
	th_arg_int(&args, "x-expires", 600);
	q = th_declare("idle", &args);
	th_consume(q, &a, 0, 0, NULL);
	th_run_ms(700);
	CHECK(bk_queue_get(th_vh, bk_str_c("idle")) != NULL);   /* in use */
	bk_consumer_cancel(a.c);
	th_run_ms(50);          /* fails only after a stall of half a second */
	CHECK(bk_queue_get(th_vh, bk_str_c("idle")) != NULL);
	th_run_ms(800);
	CHECK(bk_queue_get(th_vh, bk_str_c("idle")) == NULL);
	th_teardown();
}

/* A ready entry packs its expiry, flags and delivery count in one word. */
static void
test_entry_packing(void)
{
	struct bk_entry e = bk_entry_make(NULL, INT64_C(1700000000123), 42, 7,
					  BK_E_REDELIVERED);

	CHECK_EQ_INT(sizeof(struct bk_entry), 24);
	CHECK_EQ_INT(bk_entry_expires(&e), INT64_C(1700000000123));
	CHECK_EQ_INT(e.seq, 42);
	CHECK_EQ_INT(bk_entry_count(&e), 7);
	CHECK_EQ_INT(bk_entry_flags(&e), BK_E_REDELIVERED);
	bk_entry_flag_set(&e, BK_E_HEAP);
	CHECK_EQ_INT(bk_entry_flags(&e), BK_E_REDELIVERED | BK_E_HEAP);
	CHECK_EQ_INT(bk_entry_expires(&e), INT64_C(1700000000123));
	CHECK_EQ_INT(bk_entry_count(&e), 7);
	/* far expiries and high counts are kept at their maximum */
	e = bk_entry_make(NULL, INT64_C(1) << 62, 1, 100000, 0);
	CHECK_EQ_INT(bk_entry_expires(&e), BK_E_AT_MAX);
	CHECK_EQ_INT(bk_entry_count(&e), 65535);
	CHECK_EQ_INT(bk_entry_flags(&e), 0);
	e = bk_entry_make(NULL, 0, 1, 0, BK_E_HEAP);
	CHECK_EQ_INT(bk_entry_expires(&e), 0);
	CHECK_EQ_INT(bk_entry_flags(&e), BK_E_HEAP);
}

int
main(void)
{
	RUN(test_entry_packing);
	RUN(test_queue_ttl_dead_letters);
	RUN(test_per_message_ttl_not_at_head);
	RUN(test_lower_ttl_wins);
	RUN(test_ttl_zero);
	RUN(test_queue_expires);
	TEST_DONE();
}
