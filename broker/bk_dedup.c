/*
 * bk_dedup.c: deduplication with the interface of RabbitMQ's message
 * deduplication plugin (which LavinMQ implements too).
 *
 * Exchange level (type x-message-deduplication, routes as fanout): a
 * message whose x-deduplication-header value was seen through the
 * exchange within x-cache-ttl ms (the message's own x-cache-ttl header
 * wins; no TTL = until evicted) is not routed. It is still confirmed to
 * its publisher: a producer that retries gets its ack and no duplicate.
 * The cache holds at most x-cache-size values; the oldest goes first.
 * With x-cache-persistence = disk on a durable exchange, each value is a
 * journal key/value (namespace BK_NS_DEDUP) written in the same batch as
 * the publish's own records, so the value is on disk before the publish
 * is confirmed: a producer that retries across a crash finds it.
 *
 * Queue level (queue argument x-message-deduplication = true): a message
 * is not enqueued while another with the same header value is in the
 * queue. The set follows the queue: a value leaves it when its message
 * leaves the queue for good (bk_persist_ack's hook), and after a restart
 * it is rebuilt from the recovered messages on first use.
 */
#include "bk_dedup.h"
#include "bk_persist.h"
#include "bk_routing.h"
#include "bk_xext.h"
#include "storage.h"

#include <stdio.h>
#include <string.h>

struct bk_dedup_ent {
	int64_t expires;                /* ms; 0 = never */
	uint64_t msg_id;                /* queue level: the message holding it */
	struct bk_dedup_ent *older, *newer;     /* FIFO for eviction */
	UT_hash_handle hh;
	uint32_t klen;
	uint8_t key[];
};

struct bk_dedup_cache {
	struct bk_dedup_ent *tab;       /* uthash, owned entries */
	struct bk_dedup_ent *oldest, *newest;
	uint32_t n, size;               /* size 0 = no limit (queue level) */
	int64_t ttl;                    /* ms; 0 = none */
	bool disk;
	uint64_t jid;                   /* key prefix of the journal records */
	struct bk_broker *broker;       /* borrowed */
	bool stale;                     /* queue level: rebuild from the queue */
};

/* The header's value as bytes: strings as they are, numbers in decimal. */
static bool
dedup_value(const struct bk_msg *m, char *buf, size_t cap, struct bk_str *out)
{
	struct bk_value v;
	int64_t i;

	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, "x-deduplication-header", &v))
		return false;
	if (v.type == BK_V_LSTR || v.type == BK_V_BYTES) {
		*out = v.u.s;
		return out->len <= 65000;
	}
	if (v.type == BK_V_TIMESTAMP)
		i = (int64_t)v.u.ts;
	else if (!bk_value_int(&v, &i))
		return false;
	out->len = (uint32_t)snprintf(buf, cap, "#%lld", (long long)i);
	out->p = buf;
	return true;
}

static struct bk_dedup_cache *
cache_new(struct bk_broker *b, uint32_t size, int64_t ttl)
{
	struct bk_dedup_cache *c = bk_calloc(1, sizeof(*c));

	c->broker = b;
	c->size = size;
	c->ttl = ttl;
	return c;
}

static void
unlink_ent(struct bk_dedup_cache *c, struct bk_dedup_ent *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	HASH_DEL(c->tab, e);
	c->n--;
}

/* The journal key of value k: jid (8, LE) + k. */
static uint32_t
jkey(const struct bk_dedup_cache *c, const void *k, uint32_t klen, uint8_t *out)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(c->jid >> (8 * i));
	memcpy(out + 8, k, klen);
	return klen + 8;
}

static struct st_journal *
journal(const struct bk_dedup_cache *c)
{
	struct bk_persist *p = c->broker->persist;

	return c->disk && p != NULL && p->j != NULL && !p->stopping ? p->j : NULL;
}

static void
drop_ent(struct bk_dedup_cache *c, struct bk_dedup_ent *e)
{
	struct st_journal *j = journal(c);
	uint8_t key[8 + 65536];

	unlink_ent(c, e);
	if (j != NULL)
		st_journal_del_kv(j, BK_NS_DEDUP, key, jkey(c, e->key, e->klen, key));
	bk_free(e);
}

static struct bk_dedup_ent *
remember(struct bk_dedup_cache *c, const void *k, uint32_t klen, int64_t expires)
{
	struct bk_dedup_ent *e = bk_calloc(1, sizeof(*e) + klen);

	memcpy(e->key, k, klen);
	e->klen = klen;
	e->expires = expires;
	HASH_ADD(hh, c->tab, key, klen, e);
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->n++;
	while (c->size != 0 && c->n > c->size)
		drop_ent(c, c->oldest);
	return e;
}

void
bk_dedup_cache_free(struct bk_dedup_cache *c)
{
	struct bk_dedup_ent *e, *tmp;

	if (c == NULL)
		return;
	HASH_ITER(hh, c->tab, e, tmp) {
		HASH_DEL(c->tab, e);
		bk_free(e);
	}
	bk_free(c);
}

/* ---- exchange level --------------------------------------------------- */

static int64_t
arg_int(struct bk_table a, const char *name)
{
	struct bk_value v;
	int64_t i = 0;

	if (!bk_table_get(a, name, &v))
		return 0;
	if (v.type == BK_V_LSTR || v.type == BK_V_BYTES) {
		for (uint32_t k = 0; k < v.u.s.len && k < 18; k++)
			i = i * 10 + (v.u.s.p[k] - '0');
		return i;
	}
	return bk_value_int(&v, &i) ? i : 0;
}

void
bk_dedup_exchange_init(struct bk_exchange *x, struct bk_table args)
{
	struct bk_dedup_cache *c;
	struct bk_value v;
	char idname[300];

	c = cache_new(x->vhost->broker, (uint32_t)arg_int(args, "x-cache-size"),
		      arg_int(args, "x-cache-ttl"));
	c->disk = x->durable && bk_table_get(args, "x-cache-persistence", &v) &&
		  (v.type == BK_V_LSTR || v.type == BK_V_BYTES) && bk_str_eq_c(v.u.s, "disk");
	snprintf(idname, sizeof(idname), "\001dedup\001%s", x->name);
	c->jid = bk_persist_queue_id(x->vhost->name, idname);
	x->ext->dedup = c;
}

bool
bk_dedup_exchange_seen(struct bk_exchange *x, const struct bk_msg *m)
{
	struct bk_dedup_cache *c = x->ext ? x->ext->dedup : NULL;
	struct bk_dedup_ent *e = NULL;
	struct st_journal *j;
	struct bk_str k;
	char buf[32];
	int64_t now = (int64_t)bk_now_ms(), ttl, exp;
	uint8_t key[8 + 65536], val[8];
	struct bk_value v;

	if (c == NULL || !dedup_value(m, buf, sizeof(buf), &k))
		return false;
	HASH_FIND(hh, c->tab, k.p ? k.p : "", k.len, e);
	if (e != NULL && (e->expires == 0 || e->expires > now))
		return true;
	if (e != NULL)
		drop_ent(c, e);
	ttl = c->ttl;
	if ((bk_msg_props(m)->present & BK_P_HEADERS) &&
	    bk_table_get(bk_msg_props(m)->headers, "x-cache-ttl", &v) && bk_value_int(&v, &exp) && exp > 0)
		ttl = exp;
	exp = ttl > 0 ? now + ttl : 0;
	remember(c, k.p ? k.p : "", k.len, exp);
	if ((j = journal(c)) != NULL) {
		for (int i = 0; i < 8; i++)
			val[i] = (uint8_t)((uint64_t)exp >> (8 * i));
		st_journal_put_kv(j, BK_NS_DEDUP, key, jkey(c, k.p ? k.p : "", k.len, key),
				  val, sizeof(val));
	}
	return false;
}

int
bk_dedup_load(struct bk_broker *b, const void *key, uint32_t klen, const void *val,
	      uint32_t vlen)
{
	const uint8_t *kp = key, *vp = val;
	struct bk_vhost *vh, *vtmp;
	struct bk_exchange *x, *xtmp;
	uint64_t jid = 0;
	int64_t exp = 0;

	if (klen < 8 || vlen != 8)
		return 0;
	for (int i = 0; i < 8; i++) {
		jid |= (uint64_t)kp[i] << (8 * i);
		exp |= (int64_t)((uint64_t)vp[i] << (8 * i));
	}
	if (exp != 0 && exp <= (int64_t)bk_now_ms())
		return 0;
	HASH_ITER(hh, b->vhosts, vh, vtmp)
		HASH_ITER(hh, vh->exchanges, x, xtmp) {
			struct bk_dedup_cache *c = x->ext ? x->ext->dedup : NULL;
			struct bk_dedup_ent *e = NULL;

			if (c == NULL || c->jid != jid)
				continue;
			HASH_FIND(hh, c->tab, kp + 8, klen - 8, e);
			if (e != NULL)
				unlink_ent(c, e), bk_free(e);
			remember(c, kp + 8, klen - 8, exp);
			return 0;
		}
	return 0;
}

/* ---- queue level ------------------------------------------------------- */

static struct bk_dedup_cache *
queue_set(struct bk_queue *q)
{
	if (q->dedup == NULL) {
		q->dedup = cache_new(q->broker, 0, 0);
		q->dedup->stale = q->ready > 0 || q->unacked > 0;
	}
	if (q->dedup->stale) {
		char buf[32];
		struct bk_str k;

		q->dedup->stale = false;
		for (uint32_t l = 0; l < q->nlevels; l++)
			for (uint32_t i = 0; i < q->levels[l].count; i++) {
				struct bk_entry *e = bk_ring_at(&q->levels[l], i);

				if (e->msg && dedup_value(e->msg, buf, sizeof(buf), &k))
					bk_dedup_queue_add(q, e->msg);
			}
	}
	return q->dedup;
}

bool
bk_dedup_queue_has(struct bk_queue *q, const struct bk_msg *m)
{
	struct bk_dedup_ent *e = NULL;
	struct bk_str k;
	char buf[32];

	if (!q->args.dedup || !dedup_value(m, buf, sizeof(buf), &k))
		return false;
	HASH_FIND(hh, queue_set(q)->tab, k.p ? k.p : "", k.len, e);
	return e != NULL && e->msg_id != m->id;
}

void
bk_dedup_queue_add(struct bk_queue *q, const struct bk_msg *m)
{
	struct bk_dedup_cache *c;
	struct bk_dedup_ent *e = NULL;
	struct bk_str k;
	char buf[32];

	if (!q->args.dedup || !dedup_value(m, buf, sizeof(buf), &k))
		return;
	c = queue_set(q);
	HASH_FIND(hh, c->tab, k.p ? k.p : "", k.len, e);
	if (e == NULL)
		e = remember(c, k.p ? k.p : "", k.len, 0);
	e->msg_id = m->id;
}

void
bk_dedup_queue_forget_slow(struct bk_queue *q, const struct bk_msg *m)
{
	struct bk_dedup_ent *e = NULL;
	struct bk_str k;
	char buf[32];

	if (q->dedup == NULL || !dedup_value(m, buf, sizeof(buf), &k))
		return;
	HASH_FIND(hh, q->dedup->tab, k.p ? k.p : "", k.len, e);
	if (e != NULL && e->msg_id == m->id) {
		unlink_ent(q->dedup, e);
		bk_free(e);
	}
}

void
bk_dedup_queue_clear(struct bk_queue *q)
{
	bk_dedup_cache_free(q->dedup);
	q->dedup = NULL;
}
