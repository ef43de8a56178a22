/*
 * queue.declare / delete / purge: RabbitMQ's checks and reply texts.
 */
#include "queue_helpers.h"

static void
test_server_named(void)
{
	struct bk_queue_decl d = { .name = BK_STR_LIT("") };
	struct bk_err err;
	const char *name;
	size_t i;

	th_setup();
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	CHECK(strncmp(name, "amq.gen-", 8) == 0);
	CHECK_EQ_INT(strlen(name), 30);
	for (i = 8; i < strlen(name); i++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
			     name[i]) != NULL);
	d.name = bk_str_c(name);
	d.passive = true;
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	th_teardown();
}

static void
test_errors(void)
{
	struct bk_queue_decl d = { .name = BK_STR_LIT("q") };
	struct bk_table_builder args;
	struct bk_err err;
	const char *name;
	int owner1, owner2;

	th_setup();
	d.passive = true;
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_NOT_FOUND);
	CHECK_STR(err.text, "no queue 'q' in vhost '/'");
	d.passive = false;
	d.name = BK_STR_LIT("amq.x");
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "queue name 'amq.x' contains reserved prefix 'amq.*'");
	d.name = BK_STR_LIT("q");
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	d.durable = true;
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'durable' for queue 'q' in vhost '/': "
		  "received 'true' but current is 'false'");
	d.durable = false;
	bk_tb_init(&args);
	th_arg_int(&args, "x-message-ttl", 2000);
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': "
		  "received the value '2000' of type 'long' but current is none");
	bk_tb_fini(&args);
	d.arguments = (struct bk_table){ NULL, 0 };

	/* exclusive queues */
	d.name = BK_STR_LIT("ex");
	d.exclusive = true;
	d.owner = &owner1;
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	d.owner = &owner2;
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_RESOURCE_LOCKED);
	CHECK_STR(err.text, "cannot obtain exclusive access to locked queue 'ex' in vhost '/'. "
		  "It could be originally declared on another connection or the exclusive "
		  "property value does not match that of the original declaration.");
	bk_owner_gone(th_broker, &owner1);
	CHECK(bk_queue_get(th_vh, bk_str_c("ex")) == NULL);

	/* invalid arguments */
	d.name = BK_STR_LIT("bad");
	d.exclusive = false;
	bk_tb_init(&args);
	th_arg_int(&args, "x-max-length", -1);
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "invalid arg 'x-max-length' for queue 'bad' in vhost '/': "
		  "{value_negative,-1}");
	bk_tb_fini(&args);
	bk_tb_init(&args);
	th_arg_str(&args, "x-overflow", "sideways");
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "invalid arg 'x-overflow' for queue 'bad' in vhost '/': "
		  "invalid_overflow_value");
	bk_tb_fini(&args);
	bk_tb_init(&args);
	th_arg_int(&args, "x-expires", 0);
	th_arg_str(&args, "x-unknown", "ignored");
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "invalid arg 'x-expires' for queue 'bad' in vhost '/': {value_zero,0}");
	bk_tb_fini(&args);
	bk_tb_init(&args);
	th_arg_int(&args, "x-max-priority", 256);
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "invalid arg 'x-max-priority' for queue 'bad' in vhost '/': "
		  "{max_value_exceeded,256}");
	bk_tb_fini(&args);
	bk_tb_init(&args);
	th_arg_str(&args, "x-dead-letter-routing-key", "k");
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "invalid arg 'x-dead-letter-routing-key' for queue 'bad' in vhost '/': "
		  "routing_key_but_no_dlx_defined");
	bk_tb_fini(&args);
	bk_tb_init(&args);
	th_arg_str(&args, "x-queue-type", "quorum");
	th_arg_int(&args, "x-delivery-limit", 3);
	th_arg_str(&args, "x-other", "fine");
	d.arguments = bk_tb_view(&args);
	CHECK_EQ_INT(bk_queue_declare(th_vh, &d, &name, NULL, NULL, &err), BK_OK);
	bk_tb_fini(&args);
	th_teardown();
}

static void
test_delete_purge(void)
{
	struct th_cons a = { 0 };
	struct bk_queue *q;
	struct bk_err err;
	uint32_t n;

	th_setup();
	q = th_declare("q", NULL);
	th_publish("q", "1");
	th_publish("q", "2");
	CHECK_EQ_INT(bk_queue_delete(th_vh, bk_str_c("q"), NULL, false, true, &n, &err),
		     BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "queue 'q' in vhost '/' not empty");
	th_consume(q, &a, 1, 0, NULL);
	CHECK_EQ_INT(bk_queue_delete(th_vh, bk_str_c("q"), NULL, true, false, &n, &err),
		     BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "queue 'q' in vhost '/' in use");
	CHECK_EQ_INT(bk_queue_purge(th_vh, bk_str_c("q"), NULL, &n, &err), BK_OK);
	CHECK_EQ_INT(n, 1);                             /* one is unacked */
	bk_delivery_settle(a.d[0], BK_SETTLE_REQUEUE);
	CHECK_EQ_INT(a.n, 2);                           /* redelivered */
	CHECK_EQ_INT(bk_queue_delete(th_vh, bk_str_c("q"), NULL, false, false, &n, &err), BK_OK);
	CHECK_EQ_INT(a.cancelled, 1);
	CHECK_EQ_INT(bk_queue_delete(th_vh, bk_str_c("q"), NULL, false, false, &n, &err), BK_OK);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(bk_queue_purge(th_vh, bk_str_c("q"), NULL, &n, &err), BK_NOT_FOUND);
	bk_delivery_settle(a.d[1], BK_SETTLE_ACK);
	th_teardown();
}

static void
test_exclusive_consumer(void)
{
	struct bk_consume_decl d = { .ops = &th_ops, .exclusive = true };
	struct th_cons a = { 0 }, b = { 0 };
	struct bk_consumer *c;
	struct bk_err err;

	th_setup();
	d.queue = th_declare("q", NULL);
	th_consume(d.queue, &a, 0, 0, NULL);
	d.ctx = &b;
	CHECK_EQ_INT(bk_consume(&d, &c, &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "queue 'q' in vhost '/' in exclusive use");
	bk_consumer_cancel(a.c);
	CHECK_EQ_INT(bk_consume(&d, &c, &err), BK_OK);
	d.exclusive = false;
	CHECK_EQ_INT(bk_consume(&d, &c, &err), BK_ACCESS_REFUSED);
	th_teardown();
}

int
main(void)
{
	RUN(test_server_named);
	RUN(test_errors);
	RUN(test_delete_purge);
	RUN(test_exclusive_consumer);
	TEST_DONE();
}
