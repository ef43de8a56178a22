/*
 * Management reads: message counters on the hot path (publish, deliver,
 * get, ack, redeliver, unroutable), queue/exchange/binding/consumer views,
 * the sampler's rates and ring, and RabbitMQ's binding properties_key.
 */
#include "bk_admin.h"
#include "testlib.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static struct bk_delivery *held[16];
static int nheld;

static int
deliver(void *ctx, struct bk_delivery *d)
{
	(void)ctx;
	if (d->no_ack)
		bk_delivery_settle(d, BK_SETTLE_ACK);
	else
		held[nheld++] = d;
	return 0;
}

static void
cancelled(void *ctx, enum bk_cancel_reason why)
{
	(void)ctx;
	(void)why;
}

static const struct bk_consumer_ops ops = { BK_CONSUMER_OPS_V1, deliver, cancelled };

static void
publish(struct bk_vhost *vh, const char *x, const char *key)
{
	struct bk_props p = { 0 };
	struct bk_msg *m = bk_msg_new(bk_str_c(x), bk_str_c(key), &p, 5);
	struct bk_route_result res;
	struct bk_err err;

	memcpy(bk_msg_body(m), "hello", 5);
	CHECK_EQ_INT(bk_publish(vh, bk_str_c(x), m, &res, &err), BK_OK);
	bk_msg_unref(m);
}

static struct bk_queue_view qv;
static int
grab_queue(void *arg, const struct bk_queue_view *v)
{
	(void)arg;
	qv = *v;
	return 0;
}

struct found {
	int n;
	char last_pk[64];
	char tag[32];
	uint64_t chan;
	bool ack_required;
};

static int
each_binding(void *arg, const struct bk_binding_view *v)
{
	struct found *f = arg;

	f->n++;
	if (strcmp(v->source, "amq.direct") == 0)
		snprintf(f->last_pk, sizeof(f->last_pk), "%s", v->properties_key);
	return 0;
}

static int
each_consumer(void *arg, const struct bk_consumer_view *v)
{
	struct found *f = arg;

	f->n++;
	snprintf(f->tag, sizeof(f->tag), "%s", v->consumer_tag);
	f->chan = v->channel_id;
	f->ack_required = v->ack_required;
	return 0;
}

static void
test_counters(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_queue_decl qd = { .name = BK_STR_LIT("q") };
	struct bk_binding_decl bd = {
		.source = BK_STR_LIT("amq.direct"), .dest = BK_STR_LIT("q"),
		.dest_is_queue = true, .routing_key = BK_STR_LIT("a b/c"),
	};
	struct bk_consume_decl cd = { 0 };
	struct bk_consumer *c;
	struct bk_delivery *d;
	struct bk_overview ov;
	struct bk_sample s[4];
	struct found f = { 0 };
	struct bk_err err;
	const char *name;
	uint32_t m, n;

	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, &m, &n, &err), BK_OK);
	CHECK_EQ_INT(bk_bind(vh, &bd, NULL, &err), BK_OK);
	publish(vh, "", "q");
	publish(vh, "amq.direct", "a b/c");
	publish(vh, "amq.direct", "nowhere");     /* unroutable */
	publish(vh, "", "q");

	CHECK_EQ_INT(bk_queue_inspect(vh, BK_STR_LIT("q"), grab_queue, NULL, &err), BK_OK);
	CHECK_EQ_INT(qv.messages_ready, 3);
	CHECK_EQ_INT(qv.ms.n[BK_MS_PUBLISH], 3);
	CHECK_EQ_INT(qv.message_bytes, 15);
	CHECK(qv.memory > 15);
	CHECK_STR(qv.state, "running");

	/* basic.get with ack, requeue (redelivered), get again no-ack */
	CHECK_EQ_INT(bk_queue_get_one(bk_queue_get(vh, BK_STR_LIT("q")), false, &d, &m), BK_OK);
	bk_delivery_settle(d, BK_SETTLE_REQUEUE);
	CHECK_EQ_INT(bk_queue_get_one(bk_queue_get(vh, BK_STR_LIT("q")), true, &d, &m), BK_OK);
	CHECK(d->redelivered);
	bk_delivery_settle(d, BK_SETTLE_ACK);
	/* a consumer takes the other two, acks one */
	cd.queue = bk_queue_get(vh, BK_STR_LIT("q"));
	cd.ops = &ops;
	cd.tag = "ctag-1";
	cd.channel_id = 77;
	CHECK_EQ_INT(bk_consume(&cd, &c, &err), BK_OK);
	CHECK_EQ_INT(nheld, 2);
	bk_consumers_each(b, NULL, each_consumer, &f);
	CHECK_EQ_INT(f.n, 1);
	CHECK_STR(f.tag, "ctag-1");
	CHECK_EQ_INT(f.chan, 77);
	CHECK(f.ack_required);
	bk_delivery_settle(held[0], BK_SETTLE_ACK);

	bk_queue_inspect(vh, BK_STR_LIT("q"), grab_queue, NULL, &err);
	CHECK_EQ_INT(qv.ms.n[BK_MS_GET], 1);
	CHECK_EQ_INT(qv.ms.n[BK_MS_GET_NO_ACK], 1);
	CHECK_EQ_INT(qv.ms.n[BK_MS_DELIVER], 2);
	CHECK_EQ_INT(qv.ms.n[BK_MS_REDELIVER], 1);
	CHECK_EQ_INT(qv.ms.n[BK_MS_ACK], 1);
	CHECK_EQ_INT(bk_msg_stats_deliver_get(&qv.ms), 4);
	CHECK_EQ_INT(qv.messages_unacknowledged, 1);
	CHECK_EQ_INT(qv.consumers, 1);

	bk_overview_get(b, &ov);
	CHECK_EQ_INT(ov.ms.n[BK_MS_PUBLISH], 4);
	CHECK_EQ_INT(ov.ms.n[BK_MS_DROP_UNROUTABLE], 1);
	bk_stats_count(vh, BK_MS_RETURN_UNROUTABLE, 1);
	bk_overview_get(b, &ov);
	CHECK_EQ_INT(ov.ms.n[BK_MS_DROP_UNROUTABLE], 0);
	CHECK_EQ_INT(ov.ms.n[BK_MS_RETURN_UNROUTABLE], 1);
	CHECK_EQ_INT(ov.object_totals.queues, 1);
	CHECK_EQ_INT(ov.object_totals.consumers, 1);
	CHECK_EQ_INT(ov.object_totals.exchanges, 6);   /* "" and amq.* */
	CHECK_EQ_INT(ov.queue_totals.messages_unacknowledged, 1);
	CHECK_EQ_INT(ov.queue_totals.messages, 1);

	/* bindings: the implicit default one plus ours */
	memset(&f, 0, sizeof(f));
	bk_bindings_each(b, vh, each_binding, &f);
	CHECK_EQ_INT(f.n, 2);
	CHECK_STR(f.last_pk, "a+b%2Fc");

	/* samples: the first has no rate; the ring keeps them in order */
	bk_stats_sample_now(b);
	publish(vh, "", "q");
	bk_stats_sample_now(b);
	CHECK_EQ_INT(bk_stats_samples(b, s, 4), 2);
	CHECK_EQ_INT(s[0].ms.n[BK_MS_PUBLISH], 4);
	CHECK_EQ_INT(s[1].ms.n[BK_MS_PUBLISH], 5);
	CHECK_EQ_INT(bk_stats_samples(b, s, 1), 1);
	CHECK_EQ_INT(s[0].ms.n[BK_MS_PUBLISH], 5);
	bk_overview_get(b, &ov);
	CHECK(ov.rates.r[BK_MS_PUBLISH] > 0);
	for (int i = 0; i < 70; i++)
		bk_stats_sample_now(b);
	CHECK_EQ_INT(bk_stats_samples(b, s, 4), 4);

	bk_delivery_settle(held[1], BK_SETTLE_ACK);
	bk_consumer_cancel(c);
	bk_broker_free(b);
}

static void
test_props_key(void)
{
	char out[64];
	const uint8_t args[] = { 1, 'a', 'I', 0, 0, 0, 1 };

	CHECK_STR(bk_binding_props_key(BK_STR_LIT(""), (struct bk_table){ NULL, 0 },
				       out, sizeof(out)), "~");
	CHECK_STR(bk_binding_props_key(BK_STR_LIT("bq"), (struct bk_table){ NULL, 0 },
				       out, sizeof(out)), "bq");
	/* RabbitMQ 3.10 gives "a+b%2Fc%25%7E%C3%A9" for this key */
	CHECK_STR(bk_binding_props_key(bk_str_c("a b/c%~\xc3\xa9"),
				       (struct bk_table){ NULL, 0 }, out, sizeof(out)),
		  "a+b%2Fc%25%7E%C3%A9");
	bk_binding_props_key(BK_STR_LIT("kk"), (struct bk_table){ args, sizeof(args) },
			     out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 9);
	CHECK(strncmp(out, "kk~", 3) == 0);
	bk_binding_props_key(BK_STR_LIT(""), (struct bk_table){ args, sizeof(args) },
			     out, sizeof(out));
	CHECK_EQ_INT(strlen(out), 7);
	CHECK(out[0] == '~');
}

/* The queue's history series of field f, oldest first; returns how many. */
static uint32_t
queue_series(struct bk_broker *b, struct bk_vhost *vh, enum bk_hfield f,
	     struct bk_hist_point *pts)
{
	struct bk_err err;

	CHECK_EQ_INT(bk_queue_inspect(vh, BK_STR_LIT("h"), grab_queue, NULL, &err), BK_OK);
	return bk_hist_series(b, qv.hist, f, pts, BK_HIST_OBJECT);
}

/*
 * Histories keep no slots while idle: a series must read the same through
 * a change, through a whole idle window (slots freed) and a change after.
 */
static void
test_history(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_queue_decl qd = { .name = BK_STR_LIT("h") };
	struct bk_hist_point pts[BK_HIST_OBJECT];
	struct bk_err err;
	const char *name;
	uint32_t m, n, k;
	int i;

	CHECK_EQ_INT(bk_queue_declare(vh, &qd, &name, &m, &n, &err), BK_OK);
	for (i = 0; i < 3; i++)
		bk_stats_sample_now(b);
	CHECK_EQ_INT(queue_series(b, vh, BK_HF_READY, pts), 3);
	CHECK_EQ_INT(pts[0].v, 0);
	CHECK_EQ_INT(pts[2].v, 0);
	publish(vh, "", "h");
	publish(vh, "", "h");
	bk_stats_sample_now(b);
	/* rates come from the last two ticks of the history */
	queue_series(b, vh, BK_HF_READY, pts);
	CHECK(qv.rates.r[BK_MS_PUBLISH] > 0);
	CHECK(qv.rates.r[BK_MS_ACK] == 0);
	bk_stats_sample_now(b);
	CHECK_EQ_INT(queue_series(b, vh, BK_HF_READY, pts), 5);
	CHECK(qv.rates.r[BK_MS_PUBLISH] == 0);
	CHECK_EQ_INT(pts[2].v, 0);
	CHECK_EQ_INT(pts[3].v, 2);
	CHECK_EQ_INT(pts[4].v, 2);
	CHECK_EQ_INT(queue_series(b, vh, BK_HF_MS + BK_MS_PUBLISH, pts), 5);
	CHECK_EQ_INT(pts[2].v, 0);
	CHECK_EQ_INT(pts[3].v, 2);
	/* a whole window without change, then one more publish */
	for (i = 0; i < BK_HIST_OBJECT; i++)
		bk_stats_sample_now(b);
	k = queue_series(b, vh, BK_HF_MS + BK_MS_PUBLISH, pts);
	CHECK_EQ_INT(k, BK_HIST_OBJECT);
	CHECK_EQ_INT(pts[0].v, 2);
	CHECK_EQ_INT(pts[k - 1].v, 2);
	publish(vh, "", "h");
	bk_stats_sample_now(b);
	k = queue_series(b, vh, BK_HF_READY, pts);
	CHECK_EQ_INT(k, BK_HIST_OBJECT);
	CHECK_EQ_INT(pts[0].v, 2);
	CHECK_EQ_INT(pts[k - 2].v, 2);
	CHECK_EQ_INT(pts[k - 1].v, 3);
	CHECK(pts[k - 2].at_ms <= pts[k - 1].at_ms);
	bk_broker_free(b);
}

int
main(void)
{
	RUN(test_counters);
	RUN(test_history);
	RUN(test_props_key);
	TEST_DONE();
}
