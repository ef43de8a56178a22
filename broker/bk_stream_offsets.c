/*
 * bk_stream_offsets.c: stored offsets of named stream consumers.
 *
 * One table for the broker, keyed by (stream queue's journal id, consumer
 * name). An ack moves a name's offset in memory only (a few adds); a
 * timer writes the names that moved, at most once a second each, as
 * journal key/values (namespace BK_NS_STREAM_OFFSET): durable with the
 * next batch, so thousands of acks per second cost one small record per
 * name per second and no fsync of their own. After a crash a consumer
 * resumes at most one second of acks early: at-least-once, as Kafka's
 * committed offsets are.
 *
 * Key/value record: key = jid u64 LE + name; value = next u64 LE (the
 * offset after the last one acked) + acked_ts u64 LE (ms).
 */
#include "bk_persist.h"
#include "bk_stream.h"
#include "storage.h"

#include <event2/event.h>
#include <string.h>

struct bk_soffsets {
	struct bk_soffset *tab;         /* uthash, owned entries */
	struct event *ev;               /* owned: 1 s flush */
	bool armed;
};

static struct bk_soffsets *
state(struct bk_broker *b, bool create)
{
	struct bk_qstate *qs = bk_qs(b);

	if (qs->soffsets == NULL && create)
		qs->soffsets = bk_calloc(1, sizeof(struct bk_soffsets));
	return qs->soffsets;
}

struct bk_soffset *
bk_soffsets_table(struct bk_soffsets *t)
{
	return t->tab;
}

static uint32_t
make_key(uint8_t *out, uint64_t jid, const char *name, size_t nlen)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(jid >> (8 * i));
	memcpy(out + 8, name, nlen);
	return (uint32_t)(8 + nlen);
}

static struct bk_soffset *
find(struct bk_soffsets *t, const uint8_t *key, uint32_t klen)
{
	struct bk_soffset *o = NULL;

	HASH_FIND(hh, t->tab, key, klen, o);
	return o;
}

static struct bk_soffset *
add(struct bk_soffsets *t, const uint8_t *key, uint32_t klen)
{
	struct bk_soffset *o = bk_calloc(1, sizeof(*o) + klen);

	memcpy(o->key, key, klen);
	o->klen = klen;
	o->jid = 0;
	for (int i = 0; i < 8; i++)
		o->jid |= (uint64_t)key[i] << (8 * i);
	o->name = bk_strndup((const char *)key + 8, klen - 8);
	HASH_ADD(hh, t->tab, key, klen, o);
	return o;
}

struct bk_soffset *
bk_soffset_get(struct bk_broker *b, uint64_t jid, const char *name, bool create)
{
	struct bk_soffsets *t = state(b, create);
	size_t nlen = strlen(name);
	uint8_t key[8 + 256];
	struct bk_soffset *o;
	uint32_t klen;

	if (t == NULL || nlen > 255)
		return NULL;
	klen = make_key(key, jid, name, nlen);
	if ((o = find(t, key, klen)) == NULL && create)
		o = add(t, key, klen);
	return o;
}

void
bk_soffsets_flush(struct bk_broker *b)
{
	struct bk_soffsets *t = state(b, false);
	struct bk_persist *p = b->persist;
	struct bk_soffset *o, *tmp;
	uint8_t val[16];

	if (t == NULL || p == NULL || p->j == NULL || p->stopping)
		return;
	HASH_ITER(hh, t->tab, o, tmp) {
		if (!o->dirty)
			continue;
		for (int i = 0; i < 8; i++) {
			val[i] = (uint8_t)(o->next >> (8 * i));
			val[8 + i] = (uint8_t)(o->acked_ts >> (8 * i));
		}
		if (st_journal_put_kv(p->j, BK_NS_STREAM_OFFSET, o->key, o->klen,
				      val, sizeof(val)) == 0)
			o->dirty = false;
	}
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk_broker *b = arg;

	bk_qs(b)->soffsets->armed = false;
	bk_soffsets_flush(b);
}

void
bk_soffset_ack(struct bk_broker *b, struct bk_soffset *o, uint64_t offset, uint64_t ts)
{
	struct bk_soffsets *t = state(b, true);
	struct timeval one = { 1, 0 };

	if (o->stored && offset + 1 <= o->next)
		return;
	o->next = offset + 1;
	o->acked_ts = ts;
	o->stored = true;
	o->dirty = true;
	if (t->armed || b->persist == NULL)
		return;
	if (t->ev == NULL)
		t->ev = evtimer_new(b->base, flush_cb, b);
	t->armed = evtimer_add(t->ev, &one) == 0;
}

int
bk_soffset_load(struct bk_broker *b, const void *key, uint32_t klen,
		const void *val, uint32_t vlen)
{
	struct bk_soffsets *t = state(b, true);
	const uint8_t *v = val;
	struct bk_soffset *o;

	if (klen <= 8 || klen > 8 + 255 || vlen != 16)
		return 0;                       /* not ours to judge: skip */
	if ((o = find(t, key, klen)) == NULL)
		o = add(t, key, klen);
	o->next = o->acked_ts = 0;
	for (int i = 0; i < 8; i++) {
		o->next |= (uint64_t)v[i] << (8 * i);
		o->acked_ts |= (uint64_t)v[8 + i] << (8 * i);
	}
	o->stored = true;
	return 0;
}

void
bk_soffsets_drop(struct bk_broker *b, uint64_t jid)
{
	struct bk_soffsets *t = state(b, false);
	struct bk_persist *p = b->persist;
	struct bk_soffset *o, *tmp;

	if (t == NULL)
		return;
	HASH_ITER(hh, t->tab, o, tmp) {
		if (o->jid != jid)
			continue;
		if (p != NULL && p->j != NULL && !p->stopping)
			st_journal_del_kv(p->j, BK_NS_STREAM_OFFSET, o->key, o->klen);
		HASH_DEL(t->tab, o);
		bk_free(o->name);
		bk_free(o);
	}
}

void
bk_soffsets_fini(struct bk_broker *b)
{
	struct bk_soffsets *t = state(b, false);
	struct bk_soffset *o, *tmp;

	if (t == NULL)
		return;
	HASH_ITER(hh, t->tab, o, tmp) {
		HASH_DEL(t->tab, o);
		bk_free(o->name);
		bk_free(o);
	}
	if (t->ev)
		event_free(t->ev);
	bk_free(t);
	bk_qs(b)->soffsets = NULL;
}
