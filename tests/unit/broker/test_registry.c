/*
 * The connection and channel registry: a connection's strings (one block
 * rebuilt as user, vhost and client id are set), channels found by id
 * through their table while many come and go in any order, derived
 * channel names, and the history of a channel that counts nothing until
 * late (the zeros it would have recorded are there).
 */
#include "bk_admin.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

static const struct bk_conn_info info = {
	"AMQP 0-9-1", "10.1.2.3", 40000, "127.0.0.1", 5672, false, NULL, NULL,
};

struct seen {
	char name[200], user[64], vhost[64], client_id[64];
	bool vhost_null, cid_null;
	uint32_t number;
	uint64_t conn_id;
};

static int
grab_conn(void *arg, const struct bk_conn_view *v)
{
	struct seen *s = arg;

	snprintf(s->name, sizeof(s->name), "%s", v->name);
	snprintf(s->user, sizeof(s->user), "%s", v->user);
	s->vhost_null = v->vhost == NULL;
	snprintf(s->vhost, sizeof(s->vhost), "%s", v->vhost ? v->vhost : "");
	s->cid_null = v->client_id == NULL;
	snprintf(s->client_id, sizeof(s->client_id), "%s", v->client_id ? v->client_id : "");
	CHECK_STR(v->peer_host, "10.1.2.3");
	CHECK_STR(v->host, "127.0.0.1");
	CHECK_STR(v->protocol, "AMQP 0-9-1");
	CHECK_EQ_INT(v->peer_port, 40000);
	CHECK_EQ_INT(v->port, 5672);
	return 0;
}

static void
test_conn_strings(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_conn *c = bk_conn_register(b, &info);
	const char *name = "10.1.2.3:40000 -> 127.0.0.1:5672";
	struct seen s;

	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.name, name);
	CHECK_STR(s.user, "");
	CHECK(s.vhost_null && s.cid_null);
	bk_conn_set_user(c, bk_str_c("guest"));
	bk_conn_set_vhost(c, "/prod");
	bk_conn_set_client_id(c, bk_str_c("sensor-7"));
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.user, "guest");
	CHECK_STR(s.vhost, "/prod");
	CHECK_STR(s.client_id, "sensor-7");
	/* a longer user, then the vhost unset: the rest stays */
	bk_conn_set_user(c, bk_str_c("a-much-longer-user-name-than-before"));
	bk_conn_set_vhost(c, NULL);
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.name, name);
	CHECK_STR(s.user, "a-much-longer-user-name-than-before");
	CHECK(s.vhost_null);
	CHECK_STR(s.client_id, "sensor-7");
	bk_conn_set_user(c, (struct bk_str){ NULL, 0 });
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.user, "");
	bk_conn_unregister(c);
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_NOT_FOUND);
	bk_broker_free(b);
}

static int
grab_chan(void *arg, const struct bk_chan_view *v)
{
	struct seen *s = arg;

	snprintf(s->name, sizeof(s->name), "%s", v->name);
	s->number = v->number;
	s->conn_id = v->conn_id;
	return 0;
}

#define NCH 3000

/* Channels by id while thousands come and go in a scattered order. */
static void
test_chan_table(void)
{
	static struct bk_chan *ch[NCH];
	static uint64_t id[NCH];
	static bool gone[NCH];
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_conn *c[2] = { bk_conn_register(b, &info), bk_conn_register(b, &info) };
	char want[200];
	struct seen s;
	int i, k, left = NCH;

	for (i = 0; i < NCH; i++) {
		ch[i] = bk_chan_register(c[i % 2], (uint32_t)(i / 2 + 1), NULL, NULL);
		id[i] = bk_chan_id(ch[i]);
	}
	/* remove two thirds in a scattered order (7919 is prime to NCH) */
	for (k = 0; k < NCH * 2 / 3; k++) {
		i = (int)(((uint64_t)k * 7919) % NCH);
		bk_chan_unregister(ch[i]);
		gone[i] = true;
		left--;
		if (k % 97 == 0)        /* new ones meanwhile */
			CHECK(bk_chan_register(c[0], 60000, NULL, NULL) != NULL);
	}
	for (i = 0; i < NCH; i++) {
		enum bk_status st = bk_chan_inspect(b, id[i], grab_chan, &s);

		CHECK_EQ_INT(st, gone[i] ? BK_NOT_FOUND : BK_OK);
		if (gone[i])
			continue;
		snprintf(want, sizeof(want), "10.1.2.3:40000 -> 127.0.0.1:5672 (%d)", i / 2 + 1);
		CHECK_STR(s.name, want);
		CHECK_EQ_INT(s.number, i / 2 + 1);
		CHECK(s.conn_id == bk_conn_id(c[i % 2]));
	}
	CHECK(left > 0);
	/* the rest go with their connections; the table empties */
	bk_conn_unregister(c[0]);
	bk_conn_unregister(c[1]);
	for (i = 0; i < NCH; i++)
		CHECK_EQ_INT(bk_chan_inspect(b, id[i], grab_chan, &s), BK_NOT_FOUND);
	bk_broker_free(b);
}

struct series {
	struct bk_broker *b;
	uint32_t n;
	struct bk_hist_point p[32];
};

static int
grab_series(void *arg, const struct bk_chan_view *v)
{
	struct series *s = arg;

	s->n = bk_hist_series(s->b, v->hist, BK_HF_MS + BK_MS_PUBLISH, s->p, 32);
	return 0;
}

/* A channel that publishes only after a few ticks has the zeros before. */
static void
test_chan_late_history(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_conn *c = bk_conn_register(b, &info);
	struct bk_chan *quiet, *busy;
	struct series s = { .b = b };

	bk_stats_sample_now(b);                 /* ticks before the channels */
	quiet = bk_chan_register(c, 1, NULL, NULL);
	busy = bk_chan_register(c, 2, NULL, NULL);
	bk_stats_sample_now(b);
	bk_stats_sample_now(b);
	bk_stats_sample_now(b);
	bk_chan_counters(busy)->ms.n[BK_MS_PUBLISH] = 5;
	bk_stats_sample_now(b);
	bk_chan_counters(busy)->ms.n[BK_MS_PUBLISH] = 9;
	bk_stats_sample_now(b);
	CHECK_EQ_INT(bk_chan_inspect(b, bk_chan_id(busy), grab_series, &s), BK_OK);
	CHECK_EQ_INT(s.n, 5);
	CHECK(s.p[0].v == 0 && s.p[1].v == 0 && s.p[2].v == 0);
	CHECK(s.p[3].v == 5 && s.p[4].v == 9);
	CHECK_EQ_INT(bk_chan_inspect(b, bk_chan_id(quiet), grab_series, &s), BK_OK);
	CHECK_EQ_INT(s.n, 5);
	for (uint32_t i = 0; i < s.n; i++)
		CHECK(s.p[i].v == 0);
	bk_conn_unregister(c);
	bk_broker_free(b);
}

int
main(void)
{
	RUN(test_conn_strings);
	RUN(test_chan_table);
	RUN(test_chan_late_history);
	TEST_DONE();
}
