/*
 * bk_retained_persist.c: retained messages as journal key/value records
 * (storage.h's st_journal_put_kv / st_journal_del_kv), one per (vhost,
 * routing key). A new value replaces the record in place, an empty body
 * deletes it, compaction copies live ones forward with the journal's own,
 * and recovery (bk_recover.c) hands every live one back here before the
 * listeners open.
 *
 *   key   (namespace BK_KV_RETAINED)
 *   +------------+------+---------------------+
 *   | vhost name | 0x00 | routing key         |     <= 65535 octets
 *   +------------+------+---------------------+
 *
 *   value (big-endian)
 *   +-----------+----------+------------------+-------------------+
 *   | format u8 | flags u8 | origin_flags u32 | published_ms u64  |
 *   +-----------+----------+------------------+-------------------+
 *   | expires_ms i64 | exch_len u16 | props_len u32 | body_len u32 |
 *   +----------------+--------------+---------------+--------------+
 *   | exchange | properties (bk_persist_props.c) | body           |
 *   +----------------------------------------------------------------+
 *   format = 1; flags bit 0 = BK_MSG_PERSISTENT. origin_flags are the
 *   adapter's bits (MQTT: QoS and retain), kept opaque.
 *
 * Namespace BK_KV_MARK holds one-time marks: "retained-store" says this
 * journal has had the store, so an older format's retained messages were
 * imported already (bk_retained_upgrade_pending). A value that does not
 * decode is reported and deleted, never trusted.
 */
#include "bk_persist.h"
#include "bk_retained.h"
#include "bk_bytes.h"
#include "storage.h"

#include <errno.h>
#include <string.h>

#define FORMAT   1
#define FIXED    32u                    /* value bytes before the exchange */
#define MARK     "retained-store"

/* A record whose vhost was deleted: its key, deleted after the replay. */
struct bk_retained_orphan {
	uint8_t *key;                   /* owned */
	uint32_t len;
	struct bk_retained_orphan *next;
};

static struct st_journal *
journal(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;

	return p && p->j && !p->stopping ? p->j : NULL;
}

/* vhost \0 key into the persist scratch; its length. */
static uint32_t
make_key(struct bk_persist *p, const char *vhost, struct bk_str key)
{
	size_t vn = strlen(vhost), n = vn + 1 + key.len;

	if (n > p->rkey_cap) {
		p->rkey_cap = n < 256 ? 256 : n;
		bk_free(p->rkey);
		p->rkey = bk_malloc(p->rkey_cap);
	}
	memcpy(p->rkey, vhost, vn + 1);
	if (key.len)
		memcpy(p->rkey + vn + 1, key.p, key.len);
	return (uint32_t)n;
}

bool
bk_retained_journal_put(struct bk_vhost *vh, const struct bk_msg *m)
{
	struct bk_broker *b = vh->broker;
	struct st_journal *j = journal(b);
	struct bk_persist *p = b->persist;
	size_t plen, n;
	uint32_t klen;
	uint8_t *v, *q;
	int rc;

	if (j == NULL || m->body_len > UINT32_MAX - 1024 || bk_msg_exchange(m).len > UINT16_MAX)
		return false;
	plen = bk_props_encoded_size(bk_msg_props(m));
	n = FIXED + bk_msg_exchange(m).len + plen + m->body_len;
	v = bk_malloc(n);
	*v = FORMAT;
	v[1] = (m->flags & BK_MSG_PERSISTENT) ? 1 : 0;
	q = bk_st32(v + 2, m->origin_flags);
	q = bk_st64(q, m->published_ms);
	q = bk_st64(q, (uint64_t)bk_msg_expires(m));
	q = bk_st16(q, (uint16_t)bk_msg_exchange(m).len);
	q = bk_st32(q, (uint32_t)plen);
	q = bk_st32(q, (uint32_t)m->body_len);
	if (bk_msg_exchange(m).len)
		memcpy(q, bk_msg_exchange(m).p, bk_msg_exchange(m).len);
	q += bk_msg_exchange(m).len;
	bk_props_encode(bk_msg_props(m), q);
	q += plen;
	if (m->body_len)
		memcpy(q, bk_msg_body(m), m->body_len);
	klen = make_key(p, vh->name, bk_msg_rk(m));
	rc = st_journal_put_kv(j, BK_KV_RETAINED, p->rkey, klen, v, (uint32_t)n);
	bk_free(v);
	if (rc < 0 && p->write_errors++ % 1000 == 0)
		bk_warn("journal: cannot write a retained message: %s", strerror(-rc));
	return rc == 0;
}

bool
bk_retained_journal_del(struct bk_vhost *vh, struct bk_str key)
{
	struct st_journal *j = journal(vh->broker);
	uint32_t klen;
	int rc;

	if (j == NULL)
		return false;
	klen = make_key(vh->broker->persist, vh->name, key);
	rc = st_journal_del_kv(j, BK_KV_RETAINED, vh->broker->persist->rkey, klen);
	if (rc < 0 && rc != -ENOENT && vh->broker->persist->write_errors++ % 1000 == 0)
		bk_warn("journal: cannot delete a retained message: %s", strerror(-rc));
	return rc == 0;
}

/* The message in a record's value, or NULL when it does not decode. */
static struct bk_msg *
decode(struct bk_str key, const uint8_t *v, uint32_t n)
{
	struct bk_props props;
	uint32_t plen, blen;
	uint16_t xlen;
	struct bk_msg *m;

	if (n < FIXED || v[0] != FORMAT)
		return NULL;
	xlen = bk_ld16(v + 22);
	plen = bk_ld32(v + 24);
	blen = bk_ld32(v + 28);
	if ((uint64_t)FIXED + xlen + plen + blen != n || blen == 0 ||
	    bk_props_decode(v + FIXED + xlen, plen, &props) < 0)
		return NULL;
	m = bk_msg_new_x((struct bk_str){ (const char *)v + FIXED, xlen }, key, &props, blen,
			 bk_ld64(v + 14) != 0 ? BK_ML_EXPIRES : 0);
	memcpy(bk_msg_body(m), v + FIXED + xlen + plen, blen);
	if (v[1] & 1)
		m->flags |= BK_MSG_PERSISTENT;
	m->origin_flags = bk_ld32(v + 2) & 0x3ffu;
	m->published_ms = bk_ld64(v + 6);
	bk_msg_set_expires(m, (int64_t)bk_ld64(v + 14));
	return m;
}

static void
orphan_add(struct bk_persist *p, const void *key, uint32_t len)
{
	struct bk_retained_orphan *o = bk_calloc(1, sizeof(*o));

	o->key = bk_malloc(len ? len : 1);
	memcpy(o->key, key, len);
	o->len = len;
	o->next = p->retained_orphans;
	p->retained_orphans = o;
}

int
bk_retained_replay(struct bk_broker *b, uint16_t ns, const void *key, uint32_t klen,
		   const void *val, uint32_t vlen)
{
	struct bk_persist *p = b->persist;
	const char *k = key, *nul = klen ? memchr(k, 0, klen) : NULL;
	struct bk_vhost *vh;
	struct bk_msg *m;

	if (ns == BK_KV_MARK) {
		if (klen == sizeof(MARK) - 1 && memcmp(key, MARK, klen) == 0)
			p->retained_marked = true;
		return 0;
	}
	if (ns != BK_KV_RETAINED)
		return 0;
	if (nul == NULL || (vh = bk_vhost_get(b, k)) == NULL) {
		orphan_add(p, key, klen);       /* no such vhost any more */
		return 0;
	}
	m = decode((struct bk_str){ nul + 1, (uint32_t)(klen - (uint32_t)(nul + 1 - k)) },
		   val, vlen);
	if (m == NULL) {
		if (p->retained_bad++ == 0)
			bk_warn("journal: a retained message in vhost '%s' does not decode; "
				"dropped", vh->name);
		orphan_add(p, key, klen);
		return 0;
	}
	bk_retained_restore(vh, m);
	bk_msg_unref(m);
	return 0;
}

void
bk_retained_replay_done(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;
	struct bk_retained_orphan *o;

	while ((o = p->retained_orphans) != NULL) {
		p->retained_orphans = o->next;
		if (p->j)
			st_journal_del_kv(p->j, BK_KV_RETAINED, o->key, o->len);
		bk_free(o->key);
		bk_free(o);
	}
}

void
bk_retained_persist_fini(struct bk_broker *b)
{
	struct bk_persist *p = b->persist;

	if (p == NULL)
		return;
	bk_retained_replay_done(b);
	BK_FREE(p->rkey);
	p->rkey_cap = 0;
}

bool
bk_retained_upgrade_pending(struct bk_broker *b)
{
	return journal(b) != NULL && !b->persist->retained_marked;
}

void
bk_retained_upgrade_done(struct bk_broker *b)
{
	struct st_journal *j = journal(b);

	if (j == NULL || b->persist->retained_marked)
		return;
	if (st_journal_put_kv(j, BK_KV_MARK, MARK, sizeof(MARK) - 1, "", 0) == 0)
		b->persist->retained_marked = true;
}
