/*
 * x-max-length / x-max-length-bytes with each x-overflow behaviour.
 */
#include "queue_helpers.h"

static struct bk_queue *
limited(const char *name, const char *overflow, int64_t len, int64_t bytes, bool dlx)
{
	struct bk_table_builder args;

	bk_tb_init(&args);
	if (len >= 0)
		th_arg_int(&args, "x-max-length", len);
	if (bytes >= 0)
		th_arg_int(&args, "x-max-length-bytes", bytes);
	if (overflow)
		th_arg_str(&args, "x-overflow", overflow);
	if (dlx) {
		th_arg_str(&args, "x-dead-letter-exchange", "");
		th_arg_str(&args, "x-dead-letter-routing-key", "dlq");
	}
	return th_declare(name, &args);
}

static void
test_drop_head(void)
{
	struct bk_queue *q, *dlq;
	struct bk_delivery *d;
	struct bk_value v;

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = limited("q", NULL, 2, -1, true);
	th_publish("q", "1");
	th_publish("q", "2");
	th_publish("q", "3");
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	d = th_get(q);
	CHECK(th_body_is(d, "2"));
	d = th_get(dlq);
	CHECK(th_body_is(d, "1"));
	CHECK(d && bk_table_get(bk_msg_props(d->msg)->headers, "x-first-death-reason", &v) &&
	      bk_str_eq_c(v.u.s, "maxlen"));
	th_teardown();
}

static void
test_reject_publish(void)
{
	struct bk_queue *q, *dlq;
	struct bk_route_result r;
	struct th_cons a = { 0 };

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = limited("q", "reject-publish", 1, -1, true);
	r = th_publish("q", "1");
	CHECK_EQ_INT(r.queues, 1);
	r = th_publish("q", "2");
	CHECK_EQ_INT(r.refused, 1);
	CHECK_EQ_INT(r.queues, 0);
	CHECK_EQ_INT(bk_queue_message_count(dlq), 0);   /* plain reject: no DLX */
	th_consume(q, &a, 0, 0, NULL);                  /* drains: room again */
	r = th_publish("q", "3");
	CHECK_EQ_INT(r.queues, 1);
	CHECK_EQ_INT(a.n, 2);
	th_teardown();
}

static void
test_reject_publish_dlx(void)
{
	struct bk_queue *q, *dlq;
	struct bk_route_result r;
	struct bk_delivery *d;

	th_setup();
	dlq = th_declare("dlq", NULL);
	q = limited("q", "reject-publish-dlx", 1, -1, true);
	th_publish("q", "1");
	r = th_publish("q", "2");
	CHECK_EQ_INT(r.refused, 1);
	CHECK_EQ_INT(bk_queue_message_count(q), 1);
	d = th_get(dlq);
	CHECK(th_body_is(d, "2"));
	th_teardown();
}

static void
test_max_bytes(void)
{
	struct bk_queue *q;
	struct bk_delivery *d;

	th_setup();
	q = limited("q", NULL, -1, 10, false);
	th_publish("q", "aaaa");
	th_publish("q", "bbbb");
	th_publish("q", "cccc");                        /* 12 > 10: drop "aaaa" */
	CHECK_EQ_INT(bk_queue_message_count(q), 2);
	d = th_get(q);
	CHECK(th_body_is(d, "bbbb"));
	q = limited("r", "reject-publish", -1, 5, false);
	CHECK_EQ_INT(th_publish("r", "12345").queues, 1);
	CHECK_EQ_INT(th_publish("r", "6").refused, 1);
	th_teardown();
}

int
main(void)
{
	RUN(test_drop_head);
	RUN(test_reject_publish);
	RUN(test_reject_publish_dlx);
	RUN(test_max_bytes);
	TEST_DONE();
}
