/*
 * Queue semantics: FIFO, basic.get, round-robin, prefetch and shared
 * credit, ordered requeue, priority queues, consumer priorities, single
 * active consumer, -EAGAIN parking, re-entrant cancel, auto-delete.
 */
#include "queue_helpers.h"

static void
test_fifo_get(void)
{
	struct bk_queue *q;
	struct bk_delivery *d;
	uint32_t n;

	th_setup();
	q = th_declare("q", NULL);
	th_publish("q", "a");
	th_publish("q", "b");
	th_publish("q", "c");
	CHECK_EQ_INT(bk_queue_message_count(q), 3);
	bk_queue_get_one(q, false, &d, &n);
	CHECK(th_body_is(d, "a"));
	CHECK_EQ_INT(n, 2);
	CHECK(!d->redelivered);
	bk_delivery_settle(d, BK_SETTLE_ACK);
	d = th_get(q);
	CHECK(th_body_is(d, "b"));
	bk_delivery_settle(d, BK_SETTLE_REQUEUE);       /* goes back in front */
	d = th_get(q);
	CHECK(th_body_is(d, "b"));
	CHECK(d && d->redelivered);
	CHECK(d && d->delivery_count == 1);
	bk_delivery_settle(d, BK_SETTLE_ACK);
	bk_queue_get_one(q, true, &d, &n);
	CHECK(th_body_is(d, "c"));
	CHECK_EQ_INT(n, 0);
	bk_delivery_settle(d, BK_SETTLE_ACK);
	CHECK(th_get(q) == NULL);
	th_teardown();
}

static void
test_round_robin(void)
{
	struct th_cons a = { 0 }, b = { 0 };
	struct bk_queue *q;
	int i;

	th_setup();
	q = th_declare("q", NULL);
	th_consume(q, &a, 0, 0, NULL);
	th_consume(q, &b, 0, 0, NULL);
	CHECK_EQ_INT(bk_queue_consumer_count(q), 2);
	th_publish("q", "1");
	th_publish("q", "2");
	th_publish("q", "3");
	th_publish("q", "4");
	CHECK_EQ_INT(a.n, 2);
	CHECK_EQ_INT(b.n, 2);
	CHECK(th_body_is(a.d[0], "1") && th_body_is(b.d[0], "2"));
	CHECK(th_body_is(a.d[1], "3") && th_body_is(b.d[1], "4"));
	for (i = 0; i < 2; i++) {
		bk_delivery_settle(a.d[i], BK_SETTLE_ACK);
		bk_delivery_settle(b.d[i], BK_SETTLE_ACK);
	}
	th_teardown();
}

static void
test_prefetch_and_requeue_order(void)
{
	struct th_cons a = { 0 };
	struct bk_queue *q;
	struct bk_delivery *d;
	const char *want[] = { "m0", "m1", "m2", "m3", "m4" };
	char body[8];
	int i;

	th_setup();
	q = th_declare("q", NULL);
	th_consume(q, &a, 3, 0, NULL);
	for (i = 0; i < 5; i++) {
		snprintf(body, sizeof(body), "m%d", i);
		th_publish("q", body);
	}
	CHECK_EQ_INT(a.n, 3);
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	bk_consumer_cancel(a.c);
	/* requeue out of order: the queue order must come back */
	bk_delivery_settle(a.d[2], BK_SETTLE_REQUEUE);
	bk_delivery_settle(a.d[0], BK_SETTLE_REQUEUE);
	bk_delivery_settle(a.d[1], BK_SETTLE_REQUEUE);
	CHECK_EQ_INT(bk_queue_message_count(q), 5);
	for (i = 0; i < 5; i++) {
		d = th_get(q);
		CHECK(th_body_is(d, want[i]));
		CHECK(d && d->redelivered == (i < 3));
		if (d)
			bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	th_teardown();
}

static void
test_prefetch_refill(void)
{
	struct th_cons a = { 0 };
	struct bk_queue *q;

	th_setup();
	q = th_declare("q", NULL);
	th_consume(q, &a, 1, 0, NULL);
	th_publish("q", "x");
	th_publish("q", "y");
	CHECK_EQ_INT(a.n, 1);
	bk_delivery_settle(a.d[0], BK_SETTLE_ACK);
	CHECK_EQ_INT(a.n, 2);
	CHECK(th_body_is(a.d[1], "y"));
	bk_delivery_settle(a.d[1], BK_SETTLE_ACK);
	(void)q;
	th_teardown();
}

static void
test_shared_credit(void)
{
	struct th_cons a = { 0 }, b = { 0 };
	struct bk_credit *cr;
	struct bk_queue *q1, *q2;

	th_setup();
	q1 = th_declare("q1", NULL);
	q2 = th_declare("q2", NULL);
	cr = bk_credit_new(1);
	th_consume(q1, &a, 0, 0, cr);
	th_consume(q2, &b, 0, 0, cr);
	th_publish("q1", "a");
	th_publish("q2", "b");
	CHECK_EQ_INT(a.n + b.n, 1);
	bk_delivery_settle(a.d[0], BK_SETTLE_ACK);      /* frees credit for q2 */
	CHECK_EQ_INT(b.n, 1);
	bk_credit_set_limit(cr, 0);
	th_publish("q1", "c");
	th_publish("q1", "d");
	CHECK_EQ_INT(a.n, 3);
	bk_consumer_cancel(a.c);
	bk_consumer_cancel(b.c);
	bk_credit_free(cr);
	bk_delivery_settle(b.d[0], BK_SETTLE_ACK);
	bk_delivery_settle(a.d[1], BK_SETTLE_REQUEUE);
	bk_delivery_settle(a.d[2], BK_SETTLE_ACK);
	CHECK_EQ_INT(bk_queue_message_count(q1), 1);
	(void)q2;
	th_teardown();
}

static void
test_priority_queue(void)
{
	struct bk_table_builder args;
	struct bk_props p = { .present = BK_P_PRIORITY };
	struct bk_queue *q;
	struct bk_delivery *d;
	const char *want[] = { "p9", "p5", "p5b", "p1", "none" };
	int i;

	th_setup();
	bk_tb_init(&args);
	th_arg_int(&args, "x-max-priority", 5);
	q = th_declare("pq", &args);
	p.priority = 1;
	th_publish_x("", "pq", "p1", &p);
	th_publish_x("", "pq", "none", NULL);
	p.priority = 9;                                 /* capped at 5 */
	th_publish_x("", "pq", "p9", &p);
	p.priority = 5;
	th_publish_x("", "pq", "p5", &p);
	th_publish_x("", "pq", "p5b", &p);
	for (i = 0; i < 5; i++) {
		d = th_get(q);
		CHECK(th_body_is(d, want[i]));
		if (d)
			bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	th_teardown();
}

static void
test_consumer_priority(void)
{
	struct th_cons lo = { 0 }, hi = { 0 };
	struct bk_queue *q;

	th_setup();
	q = th_declare("q", NULL);
	th_consume(q, &lo, 0, 0, NULL);
	th_consume(q, &hi, 2, 10, NULL);
	th_publish("q", "1");
	th_publish("q", "2");
	th_publish("q", "3");
	CHECK_EQ_INT(hi.n, 2);
	CHECK_EQ_INT(lo.n, 1);
	CHECK(th_body_is(lo.d[0], "3"));
	bk_delivery_settle(hi.d[0], BK_SETTLE_ACK);
	th_publish("q", "4");
	CHECK_EQ_INT(hi.n, 3);
	th_teardown();
}

static void
test_single_active(void)
{
	struct bk_table_builder args;
	struct th_cons a = { 0 }, b = { 0 };
	struct bk_queue *q;

	th_setup();
	bk_tb_init(&args);
	th_arg_bool(&args, "x-single-active-consumer", true);
	q = th_declare("sac", &args);
	th_consume(q, &a, 1, 0, NULL);
	th_consume(q, &b, 0, 5, NULL);
	th_publish("sac", "1");
	th_publish("sac", "2");
	CHECK_EQ_INT(a.n, 1);
	CHECK_EQ_INT(b.n, 0);
	bk_consumer_cancel(a.c);
	CHECK_EQ_INT(b.n, 1);
	CHECK(th_body_is(b.d[0], "2"));
	bk_delivery_settle(a.d[0], BK_SETTLE_REQUEUE);
	CHECK_EQ_INT(b.n, 2);
	CHECK(b.n == 2 && th_body_is(b.d[1], "1") && b.d[1]->redelivered);
	th_teardown();
}

static void
test_park_and_wake(void)
{
	struct th_cons a = { 0 };
	struct bk_queue *q;

	th_setup();
	q = th_declare("q", NULL);
	a.eagain = 1;
	th_consume(q, &a, 0, 0, NULL);
	th_publish("q", "1");
	th_publish("q", "2");
	CHECK_EQ_INT(a.n, 0);
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	bk_consumer_wake(a.c);
	CHECK_EQ_INT(a.n, 2);
	CHECK(th_body_is(a.d[0], "1") && !a.d[0]->redelivered);
	th_teardown();
}

static void
test_reentrant_cancel_and_delete(void)
{
	struct th_cons a = { 0 }, b = { 0 };
	struct bk_queue *q;
	struct bk_err err;
	uint32_t n;

	th_setup();
	q = th_declare("q", NULL);
	th_publish("q", "1");
	th_publish("q", "2");
	a.cancel_inline = true;
	th_consume(q, &a, 0, 0, NULL);
	CHECK_EQ_INT(a.n, 1);
	CHECK_EQ_INT(bk_queue_consumer_count(q), 0);
	b.settle_inline = true;                         /* no-ack style */
	th_consume(q, &b, 0, 0, NULL);
	CHECK_EQ_INT(b.n, 1);
	th_publish("q", "3");
	CHECK_EQ_INT(b.n, 2);
	CHECK_EQ_INT(bk_queue_delete(th_vh, bk_str_c("q"), NULL, false, false, &n, &err), BK_OK);
	CHECK_EQ_INT(b.cancelled, 1);
	/* unacked delivery of a deleted queue settles into nothing */
	bk_delivery_settle(a.d[0], BK_SETTLE_REQUEUE);
	CHECK(bk_queue_get(th_vh, bk_str_c("q")) == NULL);
	th_teardown();
}

static void
test_auto_delete(void)
{
	struct bk_queue_decl d = { .name = BK_STR_LIT("ad"), .auto_delete = true };
	struct th_cons a = { 0 };
	struct bk_err err;
	const char *name;

	th_setup();
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	th_consume(bk_queue_get(th_vh, bk_str_c("ad")), &a, 0, 0, NULL);
	bk_consumer_cancel(a.c);
	CHECK(bk_queue_get(th_vh, bk_str_c("ad")) == NULL);
	th_teardown();
}

static void
test_direct_reply(void)
{
	struct th_cons a = { 0 };
	struct bk_consumer *c;
	const char *addr;
	struct bk_route_result r;

	th_setup();
	c = bk_direct_reply_consumer_new(th_vh, &th_ops, &a, &addr);
	CHECK(strncmp(addr, "amq.rabbitmq.reply-to.", 22) == 0);
	r = th_publish(addr, "reply");
	CHECK(r.direct_reply);
	CHECK_EQ_INT(a.n, 1);
	CHECK(a.n == 1 && a.d[0]->queue == NULL && a.d[0]->no_ack);
	bk_delivery_settle(a.d[0], BK_SETTLE_ACK);
	r = th_publish("amq.rabbitmq.reply-to.nobody", "x");
	CHECK(!r.direct_reply);
	bk_consumer_cancel(c);
	th_teardown();
}

int
main(void)
{
	RUN(test_fifo_get);
	RUN(test_round_robin);
	RUN(test_prefetch_and_requeue_order);
	RUN(test_prefetch_refill);
	RUN(test_shared_credit);
	RUN(test_priority_queue);
	RUN(test_consumer_priority);
	RUN(test_single_active);
	RUN(test_park_and_wake);
	RUN(test_reentrant_cancel_and_delete);
	RUN(test_auto_delete);
	RUN(test_direct_reply);
	TEST_DONE();
}
