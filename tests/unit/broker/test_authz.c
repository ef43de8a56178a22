/*
 * Topic permissions and the permissions of whole operations
 * (bk_topic_perm.c, bk_authz.c): RabbitMQ's rules ("" is "^$", no entry
 * allows, unanchored search), variables with escaping, a variable
 * without a value refusing, and the declare paths acting for a user
 * (configure on a server-named queue's generated name, DLX and
 * alternate exchange).
 */
#include "bk_admin.h"
#include "testlib.h"

#include <string.h>

static struct bk_broker *
setup(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_err err;

	bk_user_set(b, "u", "pw", "", false);
	CHECK_EQ_INT(bk_permission_set(b, "u", "/", ".*", ".*", ".*", &err), BK_OK);
	return b;
}

static enum bk_status
topic(struct bk_vhost *vh, const struct bk_who *who, enum bk_perm what, const char *x,
      const char *key, struct bk_err *err)
{
	return bk_topic_access_check(vh, who, what, bk_str_c(x), bk_str_c(key), err);
}

static void
test_topic_rules(void)
{
	struct bk_broker *b = setup();
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_who who = { BK_STR_LIT("u"), { NULL, 0 } };
	struct bk_err err;
	uint64_t gen;

	/* no entry: everything */
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_WRITE, "amq.topic", "x.y", &err), BK_OK);
	CHECK(!bk_topic_perms_apply(vh, &who, bk_str_c("amq.topic")));
	gen = bk_access_generation(b);
	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "/", "amq.topic", "^a\\.", "", &err),
		     BK_OK);
	CHECK(bk_access_generation(b) != gen);
	CHECK(bk_topic_perms_apply(vh, &who, bk_str_c("amq.topic")));
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_WRITE, "amq.topic", "a.b", &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_WRITE, "amq.topic", "b.a.c", &err),
		     BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "write access to topic 'b.a.c' in exchange topic 'amq.topic' "
		  "in vhost '/' refused for user 'u'");
	/* "" is "^$" */
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_READ, "amq.topic", "a.b", &err),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_READ, "amq.topic", "", &err), BK_OK);
	/* other exchanges are not covered */
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_READ, "other", "zz", &err), BK_OK);
	/* a key with a NUL never matches */
	CHECK_EQ_INT(bk_topic_access_check(vh, &who, BK_PERM_WRITE, bk_str_c("amq.topic"),
					   (struct bk_str){ "a.\0x", 4 }, &err),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "/", "amq.topic", "(", "", &err),
		     BK_PRECONDITION_FAILED);
	CHECK_EQ_INT(bk_topic_permission_set(b, "nobody", "/", "amq.topic", "", "", &err),
		     BK_NOT_FOUND);
	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "nov", "amq.topic", "", "", &err),
		     BK_NOT_FOUND);
	CHECK_EQ_INT(bk_topic_permission_clear(b, "u", "/", NULL, &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &who, BK_PERM_READ, "amq.topic", "a.b", &err), BK_OK);
	bk_broker_free(b);
}

static void
test_topic_variables(void)
{
	struct bk_broker *b = setup();
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_who mqtt = { BK_STR_LIT("u"), BK_STR_LIT("dev1") };
	struct bk_who amqp = { BK_STR_LIT("u"), { NULL, 0 } };
	struct bk_who dots = { BK_STR_LIT("u"), BK_STR_LIT(".*") };
	struct bk_err err;

	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "/", "amq.topic",
					     "^{username}\\.{client_id}\\.",
					     "^{vhost}", &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &mqtt, BK_PERM_WRITE, "amq.topic", "u.dev1.t", &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &mqtt, BK_PERM_WRITE, "amq.topic", "u.dev2.t", &err),
		     BK_ACCESS_REFUSED);
	/* no client id: the regex that needs one matches nothing */
	CHECK_EQ_INT(topic(vh, &amqp, BK_PERM_WRITE, "amq.topic", "u.dev1.t", &err),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(topic(vh, &amqp, BK_PERM_WRITE, "amq.topic", "u.{client_id}.t", &err),
		     BK_ACCESS_REFUSED);
	/* values are escaped: a client id ".*" matches only itself */
	CHECK_EQ_INT(topic(vh, &dots, BK_PERM_WRITE, "amq.topic", "u.dev1.t", &err),
		     BK_ACCESS_REFUSED);
	CHECK_EQ_INT(topic(vh, &dots, BK_PERM_WRITE, "amq.topic", "u..*.t", &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &mqtt, BK_PERM_READ, "amq.topic", "/x", &err), BK_OK);
	CHECK_EQ_INT(topic(vh, &mqtt, BK_PERM_READ, "amq.topic", "x/", &err),
		     BK_ACCESS_REFUSED);
	bk_broker_free(b);
}

static void
test_operations(void)
{
	struct bk_broker *b = setup();
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_who who = { BK_STR_LIT("u"), { NULL, 0 } };
	struct bk_exchange_decl xd = { .name = BK_STR_LIT("tx"), .type = BK_STR_LIT("topic") };
	struct bk_binding_decl bd = { .source = BK_STR_LIT("tx"), .dest = BK_STR_LIT("q"),
				      .dest_is_queue = true, .routing_key = BK_STR_LIT("b.x") };
	struct bk_queue_decl qd = { .who = &who };
	struct bk_table_builder tb;
	struct bk_value v = { .type = BK_V_LSTR };
	const char *name;
	struct bk_err err;
	bool keyed;

	CHECK_EQ_INT(bk_exchange_declare(vh, &xd, &err), BK_OK);
	/* configure on the generated name of a server-named queue */
	CHECK_EQ_INT(bk_permission_set(b, "u", "/", "^named$", ".*", ".*", &err), BK_OK);
	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, NULL, NULL, &err), BK_ACCESS_REFUSED);
	CHECK(strncmp(err.text, "configure access to queue 'amq.gen-", 35) == 0);
	qd.who = NULL;
	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, NULL, NULL, &err), BK_OK);
	/* DLX: read on the queue, write on the exchange */
	CHECK_EQ_INT(bk_permission_set(b, "u", "/", ".*", "^q", ".*", &err), BK_OK);
	bk_tb_init(&tb);
	v.u.s = BK_STR_LIT("dlx");
	bk_tb_put(&tb, "x-dead-letter-exchange", 22, &v);
	qd = (struct bk_queue_decl){ .name = BK_STR_LIT("q"), .arguments = bk_tb_view(&tb),
				     .who = &who };
	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, NULL, NULL, &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "write access to exchange 'dlx' in vhost '/' refused for user 'u'");
	/* alternate exchange: read on the new exchange, write on the alternate */
	xd = (struct bk_exchange_decl){ .name = BK_STR_LIT("ax"), .type = BK_STR_LIT("fanout"),
					.who = &who };
	bk_tb_fini(&tb);
	bk_tb_init(&tb);
	v.u.s = BK_STR_LIT("alt");
	bk_tb_put(&tb, "alternate-exchange", 18, &v);
	xd.arguments = bk_tb_view(&tb);
	CHECK_EQ_INT(bk_exchange_declare(vh, &xd, &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "write access to exchange 'alt' in vhost '/' refused for user 'u'");
	bk_tb_fini(&tb);
	/* bind and publish on a topic exchange with a topic permission */
	qd = (struct bk_queue_decl){ .name = BK_STR_LIT("q") };
	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, NULL, NULL, &err), BK_OK);
	CHECK_EQ_INT(bk_permission_set(b, "u", "/", ".*", ".*", ".*", &err), BK_OK);
	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "/", "tx", "^a", "^a", &err), BK_OK);
	CHECK_EQ_INT(bk_access_bind(vh, &who, &bd, &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "read access to topic 'b.x' in exchange topic 'tx' in vhost '/' "
		  "refused for user 'u'");
	bd.routing_key = BK_STR_LIT("a.x");
	CHECK_EQ_INT(bk_access_bind(vh, &who, &bd, &err), BK_OK);
	CHECK_EQ_INT(bk_access_publish(vh, &who, BK_STR_LIT("tx"), BK_STR_LIT("b"), &keyed,
				       &err), BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_access_publish(vh, &who, BK_STR_LIT("tx"), BK_STR_LIT("a"), &keyed,
				       &err), BK_OK);
	CHECK(keyed);
	/* not a topic exchange: the key does not matter */
	CHECK_EQ_INT(bk_topic_permission_set(b, "u", "/", "amq.direct", "^a", "^a", &err),
		     BK_OK);
	CHECK_EQ_INT(bk_access_publish(vh, &who, BK_STR_LIT("amq.direct"), BK_STR_LIT("b"),
				       &keyed, &err), BK_OK);
	CHECK(!keyed);
	bk_broker_free(b);
}

int
main(void)
{
	RUN(test_topic_rules);
	RUN(test_topic_variables);
	RUN(test_operations);
	TEST_DONE();
}
