/*
 * The connection and channel registry: a connection's strings (borrowed
 * from its adapter through info(), its name built when asked for), the
 * history of a connection that keeps none while it is idle, channels
 * found by id through their table while many come and go in any order,
 * derived channel names, and the history of a channel that counts
 * nothing until late (the zeros it would have recorded are there).
 */
#include "bk_admin.h"
#include "bk_mgmt.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>

/* What an adapter holds and tells through info(): the registry copies
 * nothing, so changing it here changes the views. */
struct fake {
	const char *peer_host, *host, *user, *vhost, *client_id;
	uint16_t peer_port, port;
	struct bk_table props;
	int infos;                      /* info() calls */
};

static void
fake_info(void *ctx, struct bk_conn_info *out)
{
	struct fake *f = ctx;

	f->infos++;
	out->peer_host = f->peer_host;
	out->peer_port = f->peer_port;
	out->host = f->host;
	out->port = f->port;
	out->user = f->user;
	out->vhost = f->vhost;
	out->client_id = f->client_id;
	out->client_properties = f->props;
}

static const struct bk_conn_ops fake_ops = { .version = BK_CONN_OPS_V1, .info = fake_info };

static struct fake the_fake = { "10.1.2.3", "127.0.0.1", NULL, NULL, NULL, 40000, 5672,
				{ NULL, 0 }, 0 };
static const struct bk_conn_info info = {
	.protocol = "AMQP 0-9-1", .ops = &fake_ops, .ctx = &the_fake,
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
	char user[64] = "guest";
	struct bk_err err;
	struct seen s;

	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.name, name);
	CHECK_STR(s.user, "");          /* NULL before login */
	CHECK(s.vhost_null && s.cid_null);
	/* borrowed: what the adapter holds now is what the views show */
	the_fake.user = user;
	the_fake.vhost = "/prod";
	the_fake.client_id = "sensor-7";
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.user, "guest");
	CHECK_STR(s.vhost, "/prod");
	CHECK_STR(s.client_id, "sensor-7");
	snprintf(user, sizeof(user), "a-much-longer-user-name-than-before");
	the_fake.vhost = NULL;
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_OK);
	CHECK_STR(s.name, name);
	CHECK_STR(s.user, "a-much-longer-user-name-than-before");
	CHECK(s.vhost_null);
	CHECK_STR(s.client_id, "sensor-7");
	/* names are compared whole: a prefix or a longer name is not it */
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.3:40000 -> 127.0.0.1:567", grab_conn, &s),
		     BK_NOT_FOUND);
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.3:40000 -> 127.0.0.1:56720", grab_conn, &s),
		     BK_NOT_FOUND);
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.33:40000 -> 127.0.0.1:5672", grab_conn, &s),
		     BK_NOT_FOUND);
	/* the longest name there is fits */
	the_fake.peer_host = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
	the_fake.host = the_fake.peer_host;
	the_fake.peer_port = the_fake.port = 65535;
	CHECK_EQ_INT(bk_conn_close_by_name(b, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:65535"
					   " -> ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:65535",
					   NULL, &err), BK_OK);
	the_fake.peer_host = "10.1.2.3";
	the_fake.host = "127.0.0.1";
	the_fake.peer_port = 40000;
	the_fake.port = 5672;
	the_fake.user = NULL;
	the_fake.client_id = NULL;
	bk_conn_unregister(b, c);
	the_fake.infos = 0;
	CHECK_EQ_INT(bk_conn_inspect(b, name, grab_conn, &s), BK_NOT_FOUND);
	CHECK_EQ_INT(the_fake.infos, 0);        /* not asked once unregistered */
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
		ch[i] = bk_chan_register(b, c[i % 2], (uint32_t)(i / 2 + 1), NULL, NULL);
		id[i] = bk_chan_id(ch[i]);
	}
	/* remove two thirds in a scattered order (7919 is prime to NCH) */
	for (k = 0; k < NCH * 2 / 3; k++) {
		i = (int)(((uint64_t)k * 7919) % NCH);
		bk_chan_unregister(b, ch[i]);
		gone[i] = true;
		left--;
		if (k % 97 == 0)        /* new ones meanwhile */
			CHECK(bk_chan_register(b, c[0], 60000, NULL, NULL) != NULL);
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
	bk_conn_unregister(b, c[0]);
	bk_conn_unregister(b, c[1]);
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
	quiet = bk_chan_register(b, c, 1, NULL, NULL);
	busy = bk_chan_register(b, c, 2, NULL, NULL);
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
	bk_conn_unregister(b, c);
	bk_broker_free(b);
}

static int
grab_oct(void *arg, const struct bk_conn_view *v)
{
	struct series *s = arg;

	s->n = bk_hist_series(s->b, v->hist, BK_HF_RECV_OCT, s->p, 32);
	s->p[31].v = bk_hist_series(s->b, v->hist, BK_HF_SEND_OCT, s->p + 16, 15);
	return 0;
}

/* Take one sample and check c's history (recv, send) at every tick its
 * window holds against want (kept here as the sampler would). */
static void
sample_and_check(struct bk_broker *b, struct bk_conn *c, uint64_t (*want)[2], uint32_t *n)
{
	struct series s = { .b = b };
	uint32_t from;

	bk_stats_sample_now(b);
	want[*n][0] = bk_conn_counters(c)->recv_oct;
	want[*n][1] = bk_conn_counters(c)->send_oct;
	++*n;
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.3:40000 -> 127.0.0.1:5672", grab_oct, &s),
		     BK_OK);
	from = *n > BK_HIST_OBJECT ? *n - BK_HIST_OBJECT : 0;
	CHECK_EQ_INT(s.n, *n - from);
	CHECK_EQ_INT(s.p[31].v, *n - from < 15 ? *n - from : 15);
	for (uint32_t i = 0; i < s.n; i++)
		CHECK(s.p[i].v == want[from + i][0]);
	for (uint32_t i = 0; i < s.p[31].v; i++)        /* the newest ones */
		CHECK(s.p[16 + i].v == want[*n - s.p[31].v + i][1]);
}

/*
 * A connection keeps no history while its byte counters stay put for a
 * whole window, yet its views show the same samples as if it did: after
 * its first traffic, after a change, once flat again (and its values
 * rebuilt across 2^32), and after moving again.
 */
static void
test_conn_history(void)
{
	static uint64_t want[200][2];
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_conn *c;
	struct bk_conn_counters *ctr;
	struct series s = { .b = b };
	uint32_t n = 0, i;

	bk_stats_sample_now(b);
	bk_stats_sample_now(b);
	c = bk_conn_register(b, &info);
	ctr = bk_conn_counters(c);
	/* nothing recorded before its first tick */
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.3:40000 -> 127.0.0.1:5672", grab_oct, &s),
		     BK_OK);
	CHECK_EQ_INT(s.n, 0);
	ctr->recv_oct = 31;             /* CONNECT */
	ctr->send_oct = 4;              /* CONNACK */
	sample_and_check(b, c, want, &n);
	for (i = 0; i < 3; i++)
		sample_and_check(b, c, want, &n);
	CHECK(!c->has_hist);            /* idle from its first tick: none */
	ctr->recv_oct += 2;             /* PINGREQ */
	ctr->send_oct += 2;
	sample_and_check(b, c, want, &n);
	CHECK(c->has_hist);
	for (i = 0; i < 20; i++) {      /* flat again, past a window */
		sample_and_check(b, c, want, &n);
		CHECK(c->has_hist == (i < BK_HIST_OBJECT - 2));   /* window: the change, then 15 */
	}
	ctr->send_oct += 0xFFFFFFFFull + 1 - 7;   /* past 2^32 */
	sample_and_check(b, c, want, &n);
	ctr->recv_oct += 5;
	sample_and_check(b, c, want, &n);
	for (i = 0; i < BK_HIST_OBJECT + 3; i++)
		sample_and_check(b, c, want, &n);
	CHECK(!c->has_hist);
	/* moved after the last tick: the views show the tick's values */
	ctr->recv_oct += 100;
	CHECK_EQ_INT(bk_conn_inspect(b, "10.1.2.3:40000 -> 127.0.0.1:5672", grab_oct, &s),
		     BK_OK);
	CHECK(s.p[s.n - 1].v == want[n - 1][0]);
	for (i = 0; i < 4; i++)
		sample_and_check(b, c, want, &n);
	bk_conn_unregister(b, c);
	bk_broker_free(b);
}

/* An idle connection's record is one 112-byte malloc chunk. */
_Static_assert(sizeof(struct bk_conn) <= 104, "struct bk_conn grew");

int
main(void)
{
	RUN(test_conn_strings);
	RUN(test_chan_table);
	RUN(test_chan_late_history);
	RUN(test_conn_history);
	TEST_DONE();
}
