/*
 * Users, password hashes, permissions and vhost management: RabbitMQ's
 * hash format (checked against a hash RabbitMQ 3.10 made), vhost access
 * and resource checks with RabbitMQ's texts, and vhost deletion closing
 * registered connections.
 */
#include "bk_admin.h"
#include "testlib.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* `rabbitmqctl hash_password pw` / PUT /api/users on RabbitMQ 3.10.8. */
#define RMQ_HASH_PW "CodEd+OM7G5n2EQi65IfO2kcC6PIUb7byDe+joYeT96MlKSF"

static void
test_hash_vectors(void)
{
	const uint8_t salt[4] = { 0x0a, 0x87, 0x44, 0x77 };
	char out[128];

	CHECK(bk_password_verify(BK_HASH_SHA256, RMQ_HASH_PW, BK_STR_LIT("pw")));
	CHECK(!bk_password_verify(BK_HASH_SHA256, RMQ_HASH_PW, BK_STR_LIT("pW")));
	CHECK(!bk_password_verify(BK_HASH_SHA256, RMQ_HASH_PW, BK_STR_LIT("")));
	/* Same salt as RabbitMQ's hash above: same bytes. */
	CHECK_EQ_INT(bk_password_hash(BK_HASH_SHA256, "pw", salt, out, sizeof(out)), 0);
	CHECK_STR(out, RMQ_HASH_PW);
	CHECK_EQ_INT(bk_password_hash(BK_HASH_SHA256, "pw", salt, out, 10), -ENOSPC);
	/* SHA-512 round trip and a random salt. */
	CHECK_EQ_INT(bk_password_hash(BK_HASH_SHA512, "s3cret", NULL, out, sizeof(out)), 0);
	CHECK_EQ_INT(strlen(out), 92);
	CHECK(bk_password_verify(BK_HASH_SHA512, out, BK_STR_LIT("s3cret")));
	CHECK(!bk_password_verify(BK_HASH_SHA256, out, BK_STR_LIT("s3cret")));
	/* Garbage never verifies. */
	CHECK(!bk_password_verify(BK_HASH_SHA256, "", BK_STR_LIT("")));
	CHECK(!bk_password_verify(BK_HASH_SHA256, "!!!!", BK_STR_LIT("")));
	CHECK(!bk_password_verify(BK_HASH_SHA256, "AAAA", BK_STR_LIT("")));
}

struct ulist {
	int n;
	char names[8][32];
	char hash[128];
	char tags[64];
};

static int
each_user(void *arg, const struct bk_user_view *v)
{
	struct ulist *l = arg;

	snprintf(l->names[l->n++], sizeof(l->names[0]), "%s", v->name);
	if (strcmp(v->name, "u1") == 0) {
		snprintf(l->hash, sizeof(l->hash), "%s", v->password_hash);
		snprintf(l->tags, sizeof(l->tags), "%s", v->tags);
	}
	return 0;
}

static void
test_users(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_err err;
	struct ulist l = { 0 };

	CHECK_EQ_INT(bk_user_add(b, "u1", "one", "administrator management", &err), BK_OK);
	CHECK_EQ_INT(bk_user_add_hash(b, "u0", RMQ_HASH_PW, BK_HASH_SHA256, "", &err), BK_OK);
	CHECK_EQ_INT(bk_user_add_hash(b, "bad", "xyz", BK_HASH_SHA256, "", &err),
		     BK_PRECONDITION_FAILED);
	CHECK_EQ_INT(bk_user_check(b, BK_STR_LIT("u1"), BK_STR_LIT("one"), false, &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(b, BK_STR_LIT("u0"), BK_STR_LIT("pw"), false, &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(b, BK_STR_LIT("u1"), BK_STR_LIT("two"), false, &err),
		     BK_ACCESS_REFUSED);
	CHECK(bk_user_has_tag(b, "u1", "management"));
	CHECK(bk_user_has_tag(b, "u1", "administrator"));
	CHECK(!bk_user_has_tag(b, "u1", "admin"));
	CHECK_EQ_INT(bk_user_set_password(b, "u1", "two", &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(b, BK_STR_LIT("u1"), BK_STR_LIT("two"), false, &err), BK_OK);
	CHECK_EQ_INT(bk_user_set_password(b, "nobody", "x", &err), BK_NOT_FOUND);
	CHECK_STR(err.text, "no user 'nobody'");
	bk_users_each(b, each_user, &l);
	CHECK_EQ_INT(l.n, 2);
	CHECK_STR(l.names[0], "u0");
	CHECK_STR(l.names[1], "u1");
	CHECK_STR(l.tags, "administrator,management");
	CHECK(bk_password_verify(BK_HASH_SHA256, l.hash, BK_STR_LIT("two")));
	CHECK_EQ_INT(bk_user_delete(b, "u1", &err), BK_OK);
	CHECK_EQ_INT(bk_user_check(b, BK_STR_LIT("u1"), BK_STR_LIT("two"), false, &err),
		     BK_ACCESS_REFUSED);
	bk_broker_free(b);
}

static void
test_permissions(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh;
	struct bk_err err;
	uint64_t gen;

	bk_user_set(b, "guest", "guest", "administrator", true);
	CHECK_EQ_INT(bk_vhost_access(b, BK_STR_LIT("guest"), "/", &err), BK_OK);
	CHECK_EQ_INT(bk_vhost_add(b, "v", &err), BK_OK);
	CHECK_EQ_INT(bk_vhost_access(b, BK_STR_LIT("guest"), "v", &err), BK_NOT_ALLOWED);
	CHECK_STR(err.text, "access to vhost 'v' refused for user 'guest'");
	CHECK_EQ_INT(bk_vhost_access(b, BK_STR_LIT("guest"), "x", &err), BK_NOT_ALLOWED);
	CHECK_STR(err.text, "vhost x not found");

	gen = bk_access_generation(b);
	CHECK_EQ_INT(bk_permission_set(b, "guest", "v", "^c", "^w", "", &err), BK_OK);
	CHECK(bk_access_generation(b) != gen);
	CHECK_EQ_INT(bk_permission_set(b, "guest", "v", "(", "", "", &err),
		     BK_PRECONDITION_FAILED);
	CHECK_EQ_INT(bk_permission_set(b, "nobody", "v", "", "", "", &err), BK_NOT_FOUND);
	CHECK_EQ_INT(bk_permission_set(b, "guest", "nov", "", "", "", &err), BK_NOT_FOUND);
	vh = bk_vhost_get(b, "v");
	CHECK_EQ_INT(bk_vhost_access(b, BK_STR_LIT("guest"), "v", &err), BK_OK);
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("guest"), BK_PERM_CONFIGURE, "queue",
				     BK_STR_LIT("cq"), &err), BK_OK);
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("guest"), BK_PERM_CONFIGURE, "queue",
				     BK_STR_LIT("xq"), &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "configure access to queue 'xq' in vhost 'v' refused for user 'guest'");
	/* unanchored, as RabbitMQ: "^w" matches "wx", and "c" alone would match "xc" */
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("guest"), BK_PERM_WRITE, "exchange",
				     BK_STR_LIT("wx"), &err), BK_OK);
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("guest"), BK_PERM_WRITE, "exchange",
				     BK_STR_LIT(""), &err), BK_ACCESS_REFUSED);
	CHECK_STR(err.text, "write access to exchange 'amq.default' in vhost 'v' refused "
		  "for user 'guest'");
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("guest"), BK_PERM_READ, "queue",
				     BK_STR_LIT("anything"), &err), BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_permission_clear(b, "guest", "v", &err), BK_OK);
	CHECK_EQ_INT(bk_vhost_access(b, BK_STR_LIT("guest"), "v", &err), BK_NOT_ALLOWED);
	bk_broker_free(b);
}

/* Reserved queue names: refused to all but administrators; bk_perm_check
 * (the owning adapter's) ignores the reservation. */
static void
test_reserved(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_str name = BK_STR_LIT("mqtt-subscription-bobqos1");
	struct bk_err err;

	bk_user_set(b, "admin", "pw", "administrator", false);
	bk_user_set(b, "eve", "pw", "management", false);
	CHECK_EQ_INT(bk_permission_set(b, "admin", "/", ".*", ".*", ".*", &err), BK_OK);
	CHECK_EQ_INT(bk_permission_set(b, "eve", "/", ".*", ".*", ".*", &err), BK_OK);
	CHECK(!bk_queue_reserved(b, name));
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("eve"), BK_PERM_READ, "queue", name, &err),
		     BK_OK);
	bk_queue_prefix_reserve(b, "mqtt-subscription-", "MQTT sessions");
	bk_queue_prefix_reserve(b, "mqtt-subscription-", "MQTT sessions");     /* once */
	CHECK(bk_queue_reserved(b, name));
	CHECK(!bk_queue_reserved(b, BK_STR_LIT("mqtt-subscription")));
	for (int p = BK_PERM_CONFIGURE; p <= BK_PERM_READ; p++) {
		CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("eve"), (enum bk_perm)p, "queue", name,
					     &err), BK_ACCESS_REFUSED);
		CHECK(err.permission);
		CHECK_STR(err.text, "queue name 'mqtt-subscription-bobqos1' contains reserved "
			  "prefix 'mqtt-subscription-*' (MQTT sessions)");
		CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("admin"), (enum bk_perm)p, "queue",
					     name, &err), BK_OK);
		CHECK_EQ_INT(bk_perm_check(vh, BK_STR_LIT("eve"), (enum bk_perm)p, "queue", name,
					   &err), BK_OK);
	}
	/* exchanges of that name are not queues */
	CHECK_EQ_INT(bk_access_check(vh, BK_STR_LIT("eve"), BK_PERM_WRITE, "exchange", name,
				     &err), BK_OK);
	/* into it through the default exchange: refused; elsewhere, a key */
	CHECK_EQ_INT(bk_access_publish(vh, &(struct bk_who){ BK_STR_LIT("eve"), { NULL, 0 } },
				       BK_STR_LIT(""), name, NULL, &err), BK_ACCESS_REFUSED);
	CHECK_EQ_INT(bk_access_publish(vh, &(struct bk_who){ BK_STR_LIT("eve"), { NULL, 0 } },
				       BK_STR_LIT("amq.direct"), name, NULL, &err), BK_OK);
	CHECK_EQ_INT(bk_access_publish(vh, &(struct bk_who){ BK_STR_LIT("admin"), { NULL, 0 } },
				       BK_STR_LIT(""), name, NULL, &err), BK_OK);
	bk_broker_free(b);
}

struct fake_conn {
	int closes;
	char reason[128];
	struct bk_conn *rc;
	const char *vhost;              /* what info() tells */
};

static void
fake_close(void *ctx, const char *reason)
{
	struct fake_conn *f = ctx;

	f->closes++;
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

static void
fake_info(void *ctx, struct bk_conn_info *out)
{
	const struct fake_conn *f = ctx;

	out->peer_host = out->host = "127.0.0.1";
	out->peer_port = 5555;
	out->port = 5672;
	out->vhost = f->vhost;
}

static const struct bk_conn_ops fake_ops = {
	.version = BK_CONN_OPS_V1, .close = fake_close, .info = fake_info,
};

static int
count_conn(void *arg, const struct bk_conn_view *v)
{
	(*(int *)arg)++;
	CHECK_STR(v->name, "127.0.0.1:5555 -> 127.0.0.1:5672");
	CHECK_STR(v->protocol, "AMQP 0-9-1");
	return 0;
}

static void
test_vhost_delete(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct fake_conn a = { .vhost = "v" }, other = { .vhost = "/" };
	struct bk_conn_info info = { .protocol = "AMQP 0-9-1", .ops = &fake_ops, .ctx = &a };
	struct bk_err err;
	struct bk_queue_decl qd = { .name = BK_STR_LIT("q1"), .durable = false };
	const char *name;
	uint32_t m, c;
	int n = 0;

	CHECK_EQ_INT(bk_vhost_add(b, "v", &err), BK_OK);
	CHECK_EQ_INT(bk_queue_declare(bk_vhost_get(b, "v"), &qd, &name, &m, &c, &err), BK_OK);
	a.rc = bk_conn_register(b, &info);
	info.ctx = &other;
	other.rc = bk_conn_register(b, &info);
	bk_conns_each(b, NULL, count_conn, &n);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(bk_vhost_delete(b, "v", &err), BK_OK);
	a.vhost = NULL;                 /* info() no longer names it */
	CHECK_EQ_INT(a.closes, 1);
	CHECK_STR(a.reason, "vhost 'v' is deleted");
	CHECK_EQ_INT(other.closes, 0);
	CHECK(bk_vhost_get(b, "v") == NULL);
	CHECK_EQ_INT(bk_vhost_delete(b, "v", &err), BK_NOT_FOUND);
	CHECK_STR(err.text, "no vhost 'v'");
	CHECK_EQ_INT(bk_conn_close_by_name(b, "127.0.0.1:5555 -> 127.0.0.1:5672", NULL, &err),
		     BK_OK);
	CHECK_STR(a.reason, "Closed via management plugin");   /* first one matching */
	CHECK_EQ_INT(bk_conn_close_by_name(b, "nope", NULL, &err), BK_NOT_FOUND);
	bk_conn_unregister(b, a.rc);
	bk_conn_unregister(b, other.rc);
	bk_broker_free(b);
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Time of n logins of user with a wrong password. */
static double
login_cost(struct bk_broker *b, const char *user, int n)
{
	struct bk_err err;
	double t0 = cpu_now();

	for (int i = 0; i < n; i++)
		bk_user_check(b, bk_str_c(user), BK_STR_LIT("wrong"), true, &err);
	return cpu_now() - t0;
}

/*
 * An unknown user name costs the same hash as a wrong password, so the
 * answer's timing does not tell which names exist. Compared as a ratio
 * of CPU time over interleaved batches, never against a clock.
 */
static void
test_login_timing(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	double known = 0, unknown = 0, ratio;
	struct bk_err err;

	bk_user_set(b, "real", "right", "", false);
	CHECK_EQ_INT(bk_user_add(b, "nopw", NULL, "", &err), BK_OK);
	for (int round = 0; round < 10; round++) {
		known += login_cost(b, "real", 2000);
		unknown += login_cost(b, "ghost", 2000);
	}
	ratio = unknown / known;
	CHECK(ratio > 0.5 && ratio < 2.0);
	ratio = login_cost(b, "nopw", 10000) / login_cost(b, "real", 10000);
	CHECK(ratio > 0.5 && ratio < 2.0);
	bk_broker_free(b);
}

int
main(void)
{
	RUN(test_hash_vectors);
	RUN(test_users);
	RUN(test_permissions);
	RUN(test_reserved);
	RUN(test_vhost_delete);
	RUN(test_login_timing);
	TEST_DONE();
}
