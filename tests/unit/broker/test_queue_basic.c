/*
 * Queue semantics: FIFO, basic.get, round-robin, prefetch and shared
 * credit, ordered requeue, priority queues, consumer priorities, single
 * active consumer, -EAGAIN parking, re-entrant cancel, auto-delete.
 */
#include "queue_helpers.h"
#include "bk_queueing.h"

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

/*
 * A random model of consumers that fill up, park, settle, requeue and get
 * more prefetch or credit, some sharing a credit, checking after every
 * step that no message waits while a consumer could take it (the rule
 * the full lists of bk_cgroup.c rest on) and that no message
 * is lost or doubled.
 */
#define MC 12
struct mcons {
	struct bk_consumer *c;
	struct bk_delivery **d;
	int n, cap;
	int eagain;
	int32_t prio;
	bool ack_inline;                /* acks inside deliver: dispatch re-entered */
};

static uint64_t m_inline_acks;
static int m_order_bad, m_prio_bad;

/* Could o have taken d instead of d->consumer (the credit they share
 * as it was before d took its share)? */
static bool
could_have_taken(const struct bk_consumer *o, const struct bk_delivery *d)
{
	const struct bk_credit *cr = o->credit;
	uint32_t used;

	if (o->parked || o->cancelled)
		return false;
	if (o->prefetch != 0 && o->unacked >= o->prefetch)
		return false;
	if (cr == NULL || cr->limit == 0)
		return true;
	used = cr->used;
	if (cr == d->consumer->credit && !d->no_ack && used > 0)
		used--;
	return used < cr->limit;
}

/* Given to d->consumer: no requeue of its queue is still pending (the
 * message would pass it by), and no consumer of higher priority could
 * have taken it. */
static void
m_check_choice(const struct bk_delivery *d)
{
	const struct bk_queue *q = d->queue;

	if (q == NULL || d->consumer == NULL)
		return;
	if (q->requeue_pending > 0)
		m_order_bad++;
	for (const struct bk_consumer *o = q->cons_head; o != NULL; o = o->next)
		if (o != d->consumer && o->priority > d->consumer->priority &&
		    could_have_taken(o, d))
			m_prio_bad++;
}

static void
m_hold(struct mcons *m, struct bk_delivery *d)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->d = realloc(m->d, (size_t)m->cap * sizeof(*m->d));
	}
	m->d[m->n++] = d;
}

static int
m_deliver(void *ctx, struct bk_delivery *d)
{
	struct mcons *m = ctx;

	if (m->eagain > 0) {
		m->eagain--;
		return -EAGAIN;
	}
	m_check_choice(d);
	if (m->ack_inline && rand() % 2) {
		m_inline_acks++;
		bk_delivery_settle(d, BK_SETTLE_ACK);
		return 0;
	}
	m_hold(m, d);
	return 0;
}

static void
m_cancelled(void *ctx, enum bk_cancel_reason why)
{
	(void)ctx;
	(void)why;
}

static const struct bk_consumer_ops m_ops = {
	BK_CONSUMER_OPS_V1, m_deliver, m_cancelled,
};

static bool
could_take(const struct bk_consumer *c)
{
	const struct bk_credit *cr = c->credit;

	if (c->parked || c->cancelled)
		return false;
	if (c->prefetch != 0 && c->unacked >= c->prefetch)
		return false;
	return cr == NULL || cr->limit == 0 || cr->used < cr->limit;
}

static void
m_consume(struct bk_queue *q, struct mcons *m, struct bk_credit *cr, int prios,
	  bool shared)
{
	struct bk_consume_decl d = {
		.queue = q, .prefetch = 1 + (uint32_t)(rand() % 3),
		.priority = rand() % prios - prios / 2,
		.credit = shared || rand() % 3 == 0 ? cr : NULL,
		.ops = &m_ops, .ctx = m,
	};
	struct bk_err err;

	m->prio = d.priority;
	if (bk_consume(&d, &m->c, &err) != BK_OK)
		abort();
}

static void
m_settle_one(struct mcons *m, enum bk_settle how)
{
	int i = rand() % m->n;
	struct bk_delivery *d = m->d[i];

	m->d[i] = m->d[--m->n];
	bk_delivery_settle(d, how);
}

static void
dispatch_model(int prios, bool shared, unsigned seed)
{
	struct mcons mc[MC];
	struct bk_credit *cr;
	struct bk_queue *q;
	struct mcons got = { 0 };           /* basic.get deliveries */
	struct mcons orphans = { 0 };       /* of consumers cancelled before settling */
	uint64_t published = 0, acked = 0;
	int step, i, bad = 0, lost = 0;

	srand(seed);
	memset(mc, 0, sizeof(mc));
	m_inline_acks = 0;
	m_order_bad = m_prio_bad = 0;
	th_setup();
	q = th_declare("q", NULL);
	cr = bk_credit_new(4);
	for (i = 0; i < MC; i++)
		m_consume(q, &mc[i], cr, prios, shared);
	for (step = 0; step < 20000; step++) {
		struct mcons *m = &mc[rand() % MC];
		uint64_t held = 0;

		int op = m->c == NULL ? -1 : rand() % 13;

		switch (op) {
		case -1:
			m_consume(q, m, cr, prios, shared);
			break;
		case 12:        /* a run of settles, as from one read (amqp_reader.c) */
			bk_settle_batch_begin(th_broker);
			for (int k = 0; k < 4; k++) {
				struct mcons *o = &mc[rand() % MC];

				if (o->n == 0)
					continue;
				if (rand() % 2) {
					m_settle_one(o, BK_SETTLE_ACK);
					acked++;
				} else {
					m_settle_one(o, BK_SETTLE_REQUEUE);
				}
			}
			bk_settle_batch_end(th_broker);
			break;
		case 0:
		case 1:
			th_publish("q", "m");
			published++;
			break;
		case 2:
		case 3:
			if (m->n > 0) {
				m_settle_one(m, BK_SETTLE_ACK);
				acked++;
			}
			break;
		case 4:
			if (m->n > 0)
				m_settle_one(m, BK_SETTLE_REQUEUE);
			break;
		case 5:
			m->eagain = rand() % 3;
			m->ack_inline = rand() % 4 == 0;
			if (rand() % 2)
				bk_consumer_wake(m->c);
			break;
		case 6:
			bk_consumer_set_prefetch(m->c, 1 + (uint32_t)(rand() % 4));
			break;
		case 7:
			bk_credit_set_limit(cr, (uint32_t)(rand() % 8));
			break;
		case 8: {       /* a consumer goes, its deliveries back now or later; another comes */
			struct bk_delivery **d = m->d;
			int n = m->n;
			bool later = rand() % 2;

			m->d = NULL;
			m->n = m->cap = 0;
			/* deliveries settled later keep their share of the
			 * credit until then */
			bk_consumer_cancel(m->c);
			while (n > 0) {
				if (later)
					m_hold(&orphans, d[--n]);
				else
					bk_delivery_settle(d[--n], BK_SETTLE_REQUEUE);
			}
			free(d);
			m->c = NULL;            /* another comes in a later step */
			break;
		}
		case 9: {       /* basic.get */
			struct bk_delivery *d;
			uint32_t left;

			if (bk_queue_get_one(q, false, &d, &left) == BK_OK && d != NULL)
				m_hold(&got, d);
			break;
		}
		case 10: {
			struct mcons *o = rand() % 2 ? &got : &orphans;

			if (o->n > 0 && rand() % 2) {
				m_settle_one(o, BK_SETTLE_ACK);
				acked++;
			} else if (o->n > 0) {
				m_settle_one(o, BK_SETTLE_REQUEUE);
			}
			break;
		}
		case 11: {      /* purge */
			uint32_t n;
			struct bk_err err;

			if (rand() % 4 == 0 &&
			    bk_queue_purge(th_vh, bk_str_c("q"), NULL, &n, &err) == BK_OK)
				published -= n;
			break;
		}
		}
		if (bk_queue_message_count(q) > 0)
			for (i = 0; i < MC; i++)
				if (mc[i].c != NULL && could_take(mc[i].c))
					bad++;
		for (i = 0; i < MC; i++)
			held += (uint64_t)mc[i].n;
		held += (uint64_t)got.n + (uint64_t)orphans.n;
		if (published != acked + m_inline_acks + held + bk_queue_message_count(q))
			lost++;
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(lost, 0);
	CHECK_EQ_INT(m_order_bad, 0);
	CHECK_EQ_INT(m_prio_bad, 0);
	while (got.n > 0)
		m_settle_one(&got, BK_SETTLE_ACK);
	while (orphans.n > 0)
		m_settle_one(&orphans, BK_SETTLE_ACK);
	free(got.d);
	free(orphans.d);
	for (i = 0; i < MC; i++) {
		while (mc[i].n > 0)
			m_settle_one(&mc[i], BK_SETTLE_ACK);
		if (mc[i].c != NULL)
			bk_consumer_cancel(mc[i].c);
		free(mc[i].d);
	}
	bk_credit_free(cr);
	th_teardown();
}

static void
test_dispatch_model(void)
{
	dispatch_model(1, false, 1);
	dispatch_model(1, false, 2);
	dispatch_model(3, false, 3);
	dispatch_model(3, false, 4);
	/* nearly one priority each: groups come and go with their consumers */
	dispatch_model(9, false, 7);
	/* every consumer on one credit, as on a channel with global prefetch */
	dispatch_model(1, true, 5);
	dispatch_model(3, true, 6);
	dispatch_model(9, true, 8);
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
	RUN(test_dispatch_model);
	TEST_DONE();
}
