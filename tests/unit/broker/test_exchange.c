/*
 * Exchanges, bindings and bk_publish through broker.h only: declare and
 * equivalence errors with RabbitMQ's texts, delete rules, each exchange
 * type, e2e bindings with dedupe and cycles, alternate exchanges, internal
 * and auto-delete exchanges, messages and users.
 */
#include "broker.h"
#include "testlib.h"

static struct bk_broker *br;
static struct bk_vhost *vh;
static struct bk_err err;
static const int owner_a, owner_b;
#define OWNER_A ((bk_owner)&owner_a)
#define OWNER_B ((bk_owner)&owner_b)

static enum bk_status
xdecl(const char *name, const char *type, bool durable, bool ad, bool internal,
      struct bk_table args)
{
	struct bk_exchange_decl d = {
		.name = bk_str_c(name), .type = bk_str_c(type), .durable = durable,
		.auto_delete = ad, .internal = internal, .arguments = args,
	};

	err.text[0] = '\0';
	return bk_exchange_declare(vh, &d, &err);
}

static enum bk_status
xsimple(const char *name, const char *type)
{
	return xdecl(name, type, false, false, false, (struct bk_table){ 0 });
}

static void
qdecl(const char *name, bool exclusive, bk_owner owner)
{
	struct bk_queue_decl d = {
		.name = bk_str_c(name), .exclusive = exclusive, .owner = owner,
	};
	const char *out;
	uint32_t mc, cc;

	CHECK_EQ_INT(bk_queue_declare(vh, &d, &out, &mc, &cc, &err), BK_OK);
}

static enum bk_status
bind4(const char *src, const char *dst, bool to_queue, const char *key,
      struct bk_table args, bool unbind)
{
	struct bk_binding_decl d = {
		.source = bk_str_c(src), .dest = bk_str_c(dst),
		.dest_is_queue = to_queue, .routing_key = bk_str_c(key),
		.arguments = args,
	};

	err.text[0] = '\0';
	return unbind ? bk_unbind(vh, &d, OWNER_A, &err)
		      : bk_bind(vh, &d, OWNER_A, &err);
}

static enum bk_status
qbind(const char *x, const char *q, const char *key)
{
	return bind4(x, q, true, key, (struct bk_table){ 0 }, false);
}

static uint32_t
count(const char *q)
{
	struct bk_queue *qq = bk_queue_get(vh, bk_str_c(q));

	return qq ? bk_queue_message_count(qq) : 0xffffffff;
}

/* Publish with optional headers; returns queues reached (-1: error). */
static int
pub_h(const char *x, const char *key, struct bk_table headers)
{
	struct bk_props p = { 0 };
	struct bk_route_result res;
	struct bk_msg *m;
	enum bk_status st;

	if (headers.len) {
		p.present = BK_P_HEADERS;
		p.headers = headers;
	}
	m = bk_msg_new(bk_str_c(x), bk_str_c(key), &p, 1);
	bk_msg_body(m)[0] = 'x';
	err.text[0] = '\0';
	st = bk_publish(vh, bk_str_c(x), m, &res, &err);
	bk_msg_unref(m);
	return st == BK_OK ? (int)res.queues : -1;
}

static int
pub(const char *x, const char *key)
{
	return pub_h(x, key, (struct bk_table){ 0 });
}

static struct bk_table
str_table(struct bk_table_builder *b, const char *k, const char *v)
{
	struct bk_value val = { .type = BK_V_LSTR };

	val.u.s = bk_str_c(v);
	bk_tb_init(b);
	bk_tb_put(b, k, (uint32_t)strlen(k), &val);
	return bk_tb_view(b);
}

static void
setup(void)
{
	br = bk_broker_new(NULL, NULL);
	vh = bk_vhost_get(br, "/");
}

static void
teardown(void)
{
	bk_broker_free(br);
	br = NULL;
	vh = NULL;
}

static void
test_defaults(void)
{
	static const char *names[] = { "", "amq.direct", "amq.fanout",
		"amq.topic", "amq.headers", "amq.match" };
	size_t i;

	setup();
	CHECK_STR(bk_vhost_name(vh), "/");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(bk_exchange_get(vh, bk_str_c(names[i])) != NULL);
	CHECK(bk_exchange_get(vh, bk_str_c("nope")) == NULL);
	teardown();
}

static void
test_declare(void)
{
	struct bk_exchange_decl pd = { .name = BK_STR_LIT("x1"), .passive = true };
	struct bk_table_builder b1, b2;

	setup();
	CHECK_EQ_INT(bk_exchange_declare(vh, &pd, &err), BK_NOT_FOUND);
	CHECK_STR(err.text, "no exchange 'x1' in vhost '/'");
	CHECK_EQ_INT(xdecl("x1", "direct", true, false, false,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(bk_exchange_declare(vh, &pd, &err), BK_OK);
	CHECK_EQ_INT(xdecl("x1", "direct", true, false, false,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(xsimple("x1", "fanout"), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'type' for exchange 'x1' in vhost "
		  "'/': received 'fanout' but current is 'direct'");
	CHECK_EQ_INT(xsimple("x1", "direct"), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'durable' for exchange 'x1' in "
		  "vhost '/': received 'false' but current is 'true'");
	CHECK_EQ_INT(xdecl("x1", "direct", true, true, false,
			   (struct bk_table){ 0 }), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'auto_delete' for exchange 'x1' in "
		  "vhost '/': received 'true' but current is 'false'");
	CHECK_EQ_INT(xdecl("x1", "direct", true, false, true,
			   (struct bk_table){ 0 }), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'internal' for exchange 'x1' in "
		  "vhost '/': received 'true' but current is 'false'");
	CHECK_EQ_INT(xsimple("x2", "foo"), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "unknown exchange type 'foo'");
	CHECK_EQ_INT(xsimple("amq.foo", "direct"), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "exchange name 'amq.foo' contains reserved prefix "
		  "'amq.*'");
	CHECK_EQ_INT(xdecl("amq.direct", "direct", true, false, false,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(xsimple("amq.direct", "direct"), BK_PRECONDITION_FAILED);
	CHECK_EQ_INT(xsimple("", "direct"), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "operation not permitted on the default exchange");
	/* alternate-exchange takes part in equivalence */
	CHECK_EQ_INT(xdecl("x3", "fanout", false, false, false,
			   str_table(&b1, "alternate-exchange", "ae1")), BK_OK);
	CHECK_EQ_INT(xdecl("x3", "fanout", false, false, false,
			   str_table(&b2, "alternate-exchange", "ae2")),
		     BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'alternate-exchange' for exchange "
		  "'x3' in vhost '/': received the value 'ae2' of type 'longstr' "
		  "but current is the value 'ae1' of type 'longstr'");
	CHECK_EQ_INT(xsimple("x3", "fanout"), BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "inequivalent arg 'alternate-exchange' for exchange "
		  "'x3' in vhost '/': received none but current is the value "
		  "'ae1' of type 'longstr'");
	bk_tb_fini(&b1);
	bk_tb_fini(&b2);
	teardown();
}

static void
test_delete(void)
{
	setup();
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c("absent"), false, &err), BK_OK);
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c(""), false, &err),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c("amq.topic"), false, &err),
		     BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "deletion of system exchange 'amq.topic' in vhost '/' "
		  "not allowed");
	CHECK_EQ_INT(xsimple("x", "direct"), BK_OK);
	qdecl("q", false, OWNER_A);
	CHECK_EQ_INT(qbind("x", "q", "k"), BK_OK);
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c("x"), true, &err),
		     BK_PRECONDITION_FAILED);
	CHECK_STR(err.text, "exchange 'x' in vhost '/' in use");
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c("x"), false, &err), BK_OK);
	CHECK(bk_exchange_get(vh, bk_str_c("x")) == NULL);
	CHECK_EQ_INT(pub("x", "k"), -1);
	CHECK_STR(err.text, "no exchange 'x' in vhost '/'");
	/* recreated exchange has no old bindings */
	CHECK_EQ_INT(xsimple("x", "direct"), BK_OK);
	CHECK_EQ_INT(pub("x", "k"), 0);
	teardown();
}

static void
test_types(void)
{
	struct bk_table_builder b, h;

	setup();
	qdecl("q1", false, OWNER_A);
	qdecl("q2", false, OWNER_A);
	CHECK_EQ_INT(xsimple("d", "direct"), BK_OK);
	CHECK_EQ_INT(qbind("d", "q1", "k1"), BK_OK);
	CHECK_EQ_INT(qbind("d", "q2", "k2"), BK_OK);
	CHECK_EQ_INT(qbind("d", "q1", "k2"), BK_OK);
	CHECK_EQ_INT(qbind("d", "q1", "k2"), BK_OK);     /* duplicate: no-op */
	CHECK_EQ_INT(pub("d", "k2"), 2);
	CHECK_EQ_INT(pub("d", "k1"), 1);
	CHECK_EQ_INT(pub("d", "k3"), 0);
	CHECK_EQ_INT(count("q1"), 2);
	CHECK_EQ_INT(count("q2"), 1);
	CHECK_EQ_INT(qbind("amq.fanout", "q1", "ignored"), BK_OK);
	CHECK_EQ_INT(qbind("amq.fanout", "q2", ""), BK_OK);
	CHECK_EQ_INT(pub("amq.fanout", "anything"), 2);
	CHECK_EQ_INT(qbind("amq.topic", "q1", "a.*.c"), BK_OK);
	CHECK_EQ_INT(qbind("amq.topic", "q2", "a.#"), BK_OK);
	CHECK_EQ_INT(pub("amq.topic", "a.b.c"), 2);
	CHECK_EQ_INT(pub("amq.topic", "a"), 1);
	CHECK_EQ_INT(pub("amq.topic", "b"), 0);
	CHECK_EQ_INT(bind4("amq.match", "q1", true, "",
			   str_table(&b, "color", "red"), false), BK_OK);
	CHECK_EQ_INT(pub_h("amq.match", "", str_table(&h, "color", "red")), 1);
	bk_tb_fini(&h);
	CHECK_EQ_INT(pub_h("amq.match", "", str_table(&h, "color", "blue")), 0);
	bk_tb_fini(&h);
	bk_tb_fini(&b);
	CHECK_EQ_INT(bind4("amq.headers", "q1", true, "",
			   str_table(&b, "x-match", "bogus"), false),
		     BK_PRECONDITION_FAILED);
	bk_tb_fini(&b);
	/* default exchange routes by queue name */
	CHECK_EQ_INT(pub("", "q2"), 1);
	CHECK_EQ_INT(pub("", "nope"), 0);
	teardown();
}

static void
test_e2e_dedupe_cycles(void)
{
	setup();
	qdecl("q", false, OWNER_A);
	CHECK_EQ_INT(xsimple("x1", "fanout"), BK_OK);
	CHECK_EQ_INT(xsimple("x2", "fanout"), BK_OK);
	CHECK_EQ_INT(xsimple("x3", "topic"), BK_OK);
	CHECK_EQ_INT(bind4("x1", "x2", false, "", (struct bk_table){ 0 }, false),
		     BK_OK);
	CHECK_EQ_INT(bind4("x1", "x3", false, "", (struct bk_table){ 0 }, false),
		     BK_OK);
	CHECK_EQ_INT(qbind("x2", "q", ""), BK_OK);
	CHECK_EQ_INT(qbind("x3", "q", "#"), BK_OK);
	CHECK_EQ_INT(qbind("x1", "q", ""), BK_OK);
	CHECK_EQ_INT(pub("x1", "k"), 1);                 /* three paths, one copy */
	CHECK_EQ_INT(count("q"), 1);
	/* cycle x2 -> x1 */
	CHECK_EQ_INT(bind4("x2", "x1", false, "", (struct bk_table){ 0 }, false),
		     BK_OK);
	CHECK_EQ_INT(pub("x2", "k"), 1);
	CHECK_EQ_INT(count("q"), 2);
	/* errors */
	CHECK_EQ_INT(bind4("x1", "", false, "", (struct bk_table){ 0 }, false),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(qbind("", "q", "q"), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "operation not permitted on the default exchange");
	CHECK_EQ_INT(qbind("nox", "q", ""), BK_NOT_FOUND);
	CHECK_STR(err.text, "no exchange 'nox' in vhost '/'");
	CHECK_EQ_INT(qbind("x1", "noq", ""), BK_NOT_FOUND);
	CHECK_STR(err.text, "no queue 'noq' in vhost '/'");
	CHECK_EQ_INT(bind4("x1", "nox", false, "", (struct bk_table){ 0 }, false),
		     BK_NOT_FOUND);
	CHECK_STR(err.text, "no exchange 'nox' in vhost '/'");
	qdecl("excl", true, OWNER_B);
	CHECK_EQ_INT(qbind("x1", "excl", ""), BK_RESOURCE_LOCKED);
	/* unbind: absent things are fine, present binding goes */
	CHECK_EQ_INT(bind4("nox", "noq", true, "", (struct bk_table){ 0 }, true),
		     BK_OK);
	CHECK_EQ_INT(bind4("x1", "q", true, "zz", (struct bk_table){ 0 }, true),
		     BK_OK);
	CHECK_EQ_INT(bind4("x2", "q", true, "", (struct bk_table){ 0 }, true),
		     BK_OK);
	CHECK_EQ_INT(bind4("x3", "q", true, "#", (struct bk_table){ 0 }, true),
		     BK_OK);
	CHECK_EQ_INT(bind4("x1", "q", true, "", (struct bk_table){ 0 }, true),
		     BK_OK);
	CHECK_EQ_INT(pub("x1", "k"), 0);
	/* deleting an exchange drops e2e bindings in both directions */
	CHECK_EQ_INT(qbind("x2", "q", ""), BK_OK);
	CHECK_EQ_INT(bk_exchange_delete(vh, bk_str_c("x1"), false, &err), BK_OK);
	CHECK_EQ_INT(pub("x2", "k"), 1);
	teardown();
}

static void
test_alternate(void)
{
	struct bk_table_builder b1, b2, b3;

	setup();
	qdecl("q", false, OWNER_A);
	qdecl("qae", false, OWNER_A);
	qdecl("qae2", false, OWNER_A);
	CHECK_EQ_INT(xdecl("main", "direct", false, false, false,
			   str_table(&b1, "alternate-exchange", "ae")), BK_OK);
	CHECK_EQ_INT(xdecl("ae", "direct", false, false, false,
			   str_table(&b2, "alternate-exchange", "ae2")), BK_OK);
	CHECK_EQ_INT(xdecl("ae2", "fanout", false, false, false,
			   str_table(&b3, "alternate-exchange", "main")), BK_OK);
	CHECK_EQ_INT(pub("main", "k"), 0);               /* loop main->ae->ae2->main */
	CHECK_EQ_INT(qbind("main", "q", "k"), BK_OK);
	CHECK_EQ_INT(qbind("ae", "qae", "other"), BK_OK);
	CHECK_EQ_INT(pub("main", "k"), 1);
	CHECK_EQ_INT(count("q"), 1);
	CHECK_EQ_INT(pub("main", "other"), 1);           /* via ae */
	CHECK_EQ_INT(count("qae"), 1);
	CHECK_EQ_INT(pub("main", "zzz"), 0);             /* ae2 has no bindings */
	CHECK_EQ_INT(qbind("ae2", "qae2", ""), BK_OK);
	CHECK_EQ_INT(pub("main", "zzz"), 1);             /* main->ae->ae2 */
	CHECK_EQ_INT(count("qae2"), 1);
	bk_tb_fini(&b1);
	bk_tb_fini(&b2);
	bk_tb_fini(&b3);
	teardown();
}

static void
test_internal_and_autodelete(void)
{
	setup();
	qdecl("q", false, OWNER_A);
	CHECK_EQ_INT(xdecl("int", "fanout", false, false, true,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(qbind("int", "q", ""), BK_OK);
	CHECK_EQ_INT(pub("int", "k"), -1);
	CHECK_STR(err.text, "cannot publish to internal exchange 'int' in vhost '/'");
	CHECK_EQ_INT(xsimple("front", "fanout"), BK_OK);
	CHECK_EQ_INT(bind4("front", "int", false, "", (struct bk_table){ 0 }, false),
		     BK_OK);
	CHECK_EQ_INT(pub("front", "k"), 1);
	/* auto-delete goes with its last binding */
	CHECK_EQ_INT(xdecl("ad", "direct", false, true, false,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(qbind("ad", "q", "a"), BK_OK);
	CHECK_EQ_INT(qbind("ad", "q", "b"), BK_OK);
	CHECK_EQ_INT(bind4("ad", "q", true, "a", (struct bk_table){ 0 }, true), BK_OK);
	CHECK(bk_exchange_get(vh, bk_str_c("ad")) != NULL);
	CHECK_EQ_INT(bind4("ad", "q", true, "b", (struct bk_table){ 0 }, true), BK_OK);
	CHECK(bk_exchange_get(vh, bk_str_c("ad")) == NULL);
	/* queue deletion removes its bindings and cascades */
	CHECK_EQ_INT(xdecl("ad2", "fanout", false, true, false,
			   (struct bk_table){ 0 }), BK_OK);
	CHECK_EQ_INT(qbind("ad2", "q", ""), BK_OK);
	CHECK_EQ_INT(bk_queue_delete(vh, bk_str_c("q"), OWNER_A, false, false,
				     NULL, &err), BK_OK);
	CHECK(bk_exchange_get(vh, bk_str_c("ad2")) == NULL);
	CHECK_EQ_INT(pub("front", "k"), 0);
	teardown();
}

static void
test_msg(void)
{
	struct bk_props p = { 0 };
	struct bk_msg *m;
	uint64_t ms;

	CHECK_EQ_INT(bk_expiration_parse(bk_str_c("1500"), &ms), 0);
	CHECK_EQ_INT(ms, 1500);
	CHECK_EQ_INT(bk_expiration_parse(bk_str_c("0"), &ms), 0);
	CHECK(bk_expiration_parse(bk_str_c("-1"), &ms) < 0);
	CHECK(bk_expiration_parse(bk_str_c(""), &ms) < 0);
	CHECK(bk_expiration_parse(bk_str_c("1.5"), &ms) < 0);
	CHECK(bk_expiration_parse(bk_str_c(" 1"), &ms) < 0);
	p.present = BK_P_CONTENT_TYPE | BK_P_DELIVERY_MODE | BK_P_EXPIRATION |
		    BK_P_REPLY_TO;
	p.content_type = bk_str_c("text/plain");
	p.delivery_mode = 2;
	p.expiration = bk_str_c("1000");
	p.reply_to = bk_str_c("rq");
	p.app_id = bk_str_c("not present");
	m = bk_msg_new(bk_str_c("ex"), bk_str_c("rk"), &p, 3);
	CHECK(m->flags & BK_MSG_PERSISTENT);
	CHECK_EQ_INT(bk_msg_expires(m), (int64_t)m->published_ms + 1000);
	CHECK(bk_str_eq_c(bk_msg_props(m)->content_type, "text/plain"));
	CHECK(bk_str_eq_c(bk_msg_props(m)->reply_to, "rq"));
	CHECK(bk_msg_props(m)->app_id.len == 0);
	CHECK(bk_str_eq_c(bk_msg_exchange(m), "ex"));
	CHECK(bk_str_eq_c(bk_msg_rk(m), "rk"));
	CHECK((uint8_t *)bk_msg_props(m)->content_type.p > (uint8_t *)m &&
	      (uint8_t *)bk_msg_props(m)->content_type.p < bk_msg_body(m));
	CHECK_EQ_INT(m->body_len, 3);
	CHECK_EQ_INT(m->refs, 1);
	bk_msg_ref(m);
	bk_msg_unref(m);
	CHECK_EQ_INT(m->refs, 1);
	bk_msg_unref(m);
	bk_msg_unref(NULL);
}

static void
test_users(void)
{
	setup();
	bk_user_set(br, "guest", "guest", "administrator", true);
	bk_user_set(br, "app", "s3cret", "", false);
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("guest"), bk_str_c("guest"), true,
				   &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("guest"), bk_str_c("guest"), false,
				   &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "user 'guest' can only connect via localhost");
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("app"), bk_str_c("s3cret"), false,
				   &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("app"), bk_str_c("s3cre"), false,
				   &err), BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("nobody"), bk_str_c(""), true,
				   &err), BK_ACCESS_REFUSED);
	bk_user_set(br, "app", "new", "", false);
	CHECK_EQ_INT(bk_user_check(br, bk_str_c("app"), bk_str_c("new"), false,
				   &err), BK_OK);
	teardown();
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_declare);
	RUN(test_delete);
	RUN(test_types);
	RUN(test_e2e_dedupe_cycles);
	RUN(test_alternate);
	RUN(test_internal_and_autodelete);
	RUN(test_msg);
	RUN(test_users);
	CHECK_EQ_INT(bk_alloc_used(), 0);
	TEST_DONE();
}
