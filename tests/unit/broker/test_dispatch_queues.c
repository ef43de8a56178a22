/*
 * The dispatcher across queues: three queues whose consumers share two
 * credits (channels with a global prefetch) or none, random publishes,
 * settles, requeues, cancels inside and outside deliver(), orphaned
 * deliveries, prefetch and credit changes, wakes and queue deletes. After
 * every step no queue may hold a ready message while one of its consumers
 * could take it, and no delivery may go to a consumer while one of higher
 * priority could have taken it. test_queue_basic.c's model has one queue;
 * room on a shared credit reaches several, which is where a wake that
 * stopped early (a served consumer moving to the credit's tail) left
 * messages waiting.
 */
#include "queue_helpers.h"
#include "bk_queueing.h"

#define NQ 3
#define MC 16

struct mcons {
	struct bk_consumer *c;
	struct bk_delivery **d;
	int n, cap;
	int eagain;
	bool ack_inline, cancel_inline;
};

static struct mcons mc[MC], orphans;
static struct bk_credit *cr[2];
static const char *qn[NQ] = { "q0", "q1", "q2" };
static int prio_bad;

static void
hold(struct mcons *m, struct bk_delivery *d)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->d = realloc(m->d, (size_t)m->cap * sizeof(*m->d));
	}
	m->d[m->n++] = d;
}

/* The oracle, written apart from the dispatcher's can_take on purpose. */
static bool
could_take(const struct bk_consumer *c)
{
	const struct bk_credit *k = c->credit;

	if (c->parked || c->cancelled)
		return false;
	if (c->no_ack)
		return true;
	if (c->prefetch != 0 && c->unacked >= c->prefetch)
		return false;
	return k == NULL || k->limit == 0 || k->used < k->limit;
}

/* Could o have taken d (with the credit as it was before d took its
 * share)? */
static bool
could_have_taken(const struct bk_consumer *o, const struct bk_delivery *d)
{
	const struct bk_credit *k = o->credit;
	uint32_t used;

	if (o->parked || o->cancelled)
		return false;
	if (o->no_ack)
		return true;
	if (o->prefetch != 0 && o->unacked >= o->prefetch)
		return false;
	if (k == NULL || k->limit == 0)
		return true;
	used = k->used;
	if (k == d->consumer->credit && !d->no_ack && used > 0)
		used--;
	return used < k->limit;
}

static void
orphan_all(struct mcons *m)
{
	for (int i = 0; i < m->n; i++)
		hold(&orphans, m->d[i]);
	m->n = 0;
}

static int
m_deliver(void *ctx, struct bk_delivery *d)
{
	struct mcons *m = ctx;

	for (const struct bk_consumer *o = d->queue->cons_head; o; o = o->next)
		if (o != d->consumer && o->priority > d->consumer->priority &&
		    could_have_taken(o, d))
			prio_bad++;
	if (m->eagain > 0) {
		m->eagain--;
		return -EAGAIN;
	}
	if (m->ack_inline && rand() % 2) {
		bk_delivery_settle(d, BK_SETTLE_ACK);
		return 0;
	}
	hold(m, d);
	if (m->cancel_inline && rand() % 8 == 0 && m->c != NULL) {
		orphan_all(m);
		bk_consumer_cancel(m->c);
		m->c = NULL;
	}
	return 0;
}

static void
m_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct mcons *m = ctx;

	(void)why;
	orphan_all(m);
	m->c = NULL;
}

static const struct bk_consumer_ops m_ops = { BK_CONSUMER_OPS_V1, m_deliver, m_cancelled };

static void
consume(struct mcons *m)
{
	const char *name = qn[rand() % NQ];
	struct bk_queue *q = bk_queue_get(th_vh, bk_str_c(name));
	struct bk_consume_decl d = {
		.prefetch = (uint32_t)(rand() % 4),
		.priority = rand() % 3,
		.no_ack = rand() % 8 == 0,
		.ops = &m_ops, .ctx = m,
	};
	struct bk_err err;

	d.credit = rand() % 4 ? cr[rand() % 2] : NULL;
	d.queue = q != NULL ? q : th_declare(name, NULL);
	m->eagain = 0;
	m->ack_inline = m->cancel_inline = false;
	if (bk_consume(&d, &m->c, &err) != BK_OK)
		abort();
}

static void
settle_one(struct mcons *m, enum bk_settle how)
{
	int i = rand() % m->n;
	struct bk_delivery *d = m->d[i];

	m->d[i] = m->d[--m->n];
	bk_delivery_settle(d, how);
}

/* Ready messages waiting while a consumer of their queue could take. */
static int
stuck(void)
{
	int n = 0;

	for (int i = 0; i < NQ; i++) {
		struct bk_queue *q = bk_queue_get(th_vh, bk_str_c(qn[i]));

		if (q == NULL || bk_queue_message_count(q) == 0 || q->requeue_pending > 0)
			continue;
		for (const struct bk_consumer *c = q->cons_head; c; c = c->next)
			n += could_take(c);
	}
	return n;
}

static int
run(unsigned seed)
{
	int bad = 0, i;

	srand(seed);
	memset(mc, 0, sizeof(mc));
	memset(&orphans, 0, sizeof(orphans));
	th_setup();
	for (i = 0; i < NQ; i++)
		th_declare(qn[i], NULL);
	cr[0] = bk_credit_new(3);
	cr[1] = bk_credit_new(5);
	for (i = 0; i < MC; i++)
		consume(&mc[i]);
	for (int step = 0; step < 5000; step++) {
		struct mcons *m = &mc[rand() % MC];
		int op = m->c == NULL ? -1 : rand() % 11;

		switch (op) {
		case -1:
			consume(m);
			break;
		case 0:
		case 1:
			th_publish(qn[rand() % NQ], "m");
			break;
		case 2:
		case 3:
			if (m->n > 0)
				settle_one(m, BK_SETTLE_ACK);
			break;
		case 4:
			if (m->n > 0)
				settle_one(m, BK_SETTLE_REQUEUE);
			break;
		case 5:
			m->eagain = rand() % 3;
			m->ack_inline = rand() % 4 == 0;
			m->cancel_inline = rand() % 6 == 0;
			if (rand() % 2)
				bk_consumer_wake(m->c);
			break;
		case 6:         /* basic.qos global: raised, lowered, unlimited */
			bk_credit_set_limit(cr[rand() % 2], (uint32_t)(rand() % 8));
			break;
		case 7:         /* cancel: its deliveries settle later */
			orphan_all(m);
			bk_consumer_cancel(m->c);
			m->c = NULL;
			break;
		case 8:
			if (orphans.n > 0)
				settle_one(&orphans, rand() % 2 ? BK_SETTLE_ACK : BK_SETTLE_REQUEUE);
			break;
		case 9:
			if (rand() % 20 == 0) {
				uint32_t n;
				struct bk_err err;

				bk_queue_delete(th_vh, bk_str_c(qn[rand() % NQ]), 0, false,
						false, &n, &err);
			}
			break;
		case 10:
			bk_consumer_set_prefetch(m->c, (uint32_t)(rand() % 5));
			break;
		}
		bad += stuck();
	}
	for (i = 0; i < MC; i++) {
		while (mc[i].n > 0)
			settle_one(&mc[i], BK_SETTLE_ACK);
		if (mc[i].c != NULL)
			bk_consumer_cancel(mc[i].c);
	}
	while (orphans.n > 0)
		settle_one(&orphans, BK_SETTLE_ACK);
	bk_credit_free(cr[0]);
	bk_credit_free(cr[1]);
	th_teardown();
	for (i = 0; i < MC; i++)
		free(mc[i].d);
	free(orphans.d);
	return bad;
}

static void
test_queues_sharing_credits(void)
{
	int stuck_seeds = 0;

	prio_bad = 0;
	for (unsigned seed = 1; seed <= 60; seed++)
		stuck_seeds += run(seed) > 0;
	CHECK_EQ_INT(stuck_seeds, 0);
	CHECK_EQ_INT(prio_bad, 0);
}

int
main(void)
{
	RUN(test_queues_sharing_credits);
	TEST_DONE();
}
