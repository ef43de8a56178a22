/*
 * The append path and body reads: encode into the open batch (no
 * syscall), then update the liveness index the same way recovery will
 * when it reads the record back. Every call here refuses fast while the
 * journal is failed or replaying; none calls back.
 */
#include <errno.h>
#include <string.h>

#include "bk_assert.h"
#include "jnl_int.h"
#include "jnl_writer_int.h"

static int
ready(struct st_journal *j)
{
	if (j->state == JNL_S_REPLAYING)
		return -EBUSY;
	if (j->failed)
		return j->failed;
	j->state = JNL_S_READY;
	return 0;
}

int
st_journal_append_msg(struct st_journal *j, const struct st_msg *m)
{
	struct jnl_msg_view v = { .qraw = NULL };
	uint64_t seg;
	uint32_t off, key;
	size_t n;
	uint8_t *p;
	int rc;

	if ((rc = ready(j)) < 0)
		return rc;
	if (m->nqueues == 0 || m->queues == NULL)
		return -EINVAL;
	for (uint16_t i = 1; i < m->nqueues; i++)
		for (uint16_t k = 0; k < i; k++)
			if (m->queues[i].queue_id == m->queues[k].queue_id)
				return -EINVAL;
	if ((n = jnl_msg_size(m)) == 0)
		return -EMSGSIZE;
	if (jnl_msg_find(j, m->id))
		return -EEXIST;
	p = jnl_reserve(j, n, &seg, &off, &key);
	jnl_encode_msg(p, m, key);
	v.m = *m;
	rc = jnl_index_msg(j, &v, seg, off, (uint32_t)n, false);
	BK_ASSERT(rc == 0);
	return 0;
}

static int
append_ref(struct st_journal *j, enum jnl_type t, uint64_t qid, uint64_t mid, uint32_t count)
{
	struct jnl_ref r = { qid, mid, count };
	uint8_t *p;
	uint64_t seg;
	uint32_t off, key;
	size_t n = JNL_REC_HDR + (t == JNL_T_ACK ? 16 : t == JNL_T_COUNT ? 20 : 8);
	int rc;

	if ((rc = ready(j)) < 0)
		return rc;
	/* A dry run (cur NULL) first: nothing is written for an unknown pair. */
	if (t == JNL_T_ACK && jnl_index_ack(j, NULL, qid, mid) < 0)
		return -ENOENT;
	if (t == JNL_T_COUNT && jnl_index_count(j, NULL, qid, mid, count) < 0)
		return -ENOENT;
	p = jnl_reserve(j, n, &seg, &off, &key);
	jnl_encode_ref(p, t, &r, key);
	if (t == JNL_T_ACK)
		jnl_index_ack(j, jnl_seg_get(j, seg), qid, mid);
	else if (t == JNL_T_COUNT)
		jnl_index_count(j, jnl_seg_get(j, seg), qid, mid, count);
	else
		jnl_index_qdrop(j, jnl_seg_get(j, seg), qid);
	return 0;
}

int
st_journal_append_ack(struct st_journal *j, uint64_t queue_id, uint64_t msg_id)
{
	return append_ref(j, JNL_T_ACK, queue_id, msg_id, 0);
}

int
st_journal_append_count(struct st_journal *j, uint64_t queue_id, uint64_t msg_id,
			uint32_t delivery_count)
{
	return append_ref(j, JNL_T_COUNT, queue_id, msg_id, delivery_count);
}

int
st_journal_append_queue_drop(struct st_journal *j, uint64_t queue_id)
{
	return append_ref(j, JNL_T_QDROP, queue_id, 0, 0);
}

static int
append_kv(struct st_journal *j, uint16_t ns, const void *key, uint32_t key_len,
	  const void *val, uint32_t val_len, bool del)
{
	struct jnl_kv_view v;
	uint64_t seg;
	uint32_t off, skey;
	size_t n;
	uint8_t *p;
	int rc;

	if ((rc = ready(j)) < 0)
		return rc;
	if ((n = jnl_kv_size(key_len, del ? 0 : val_len)) == 0)
		return -EMSGSIZE;
	if (del && jnl_kv_find(j, ns, key, (uint16_t)key_len) == NULL)
		return -ENOENT;
	p = jnl_reserve(j, n, &seg, &off, &skey);
	jnl_encode_kv(p, ns, key, (uint16_t)key_len, val, val_len, del, skey);
	v.ns = ns;
	v.key_len = (uint16_t)key_len;
	v.key = p + JNL_REC_HDR + 4;
	v.val = v.key + key_len;
	v.val_len = del ? 0 : val_len;
	jnl_index_kv(j, jnl_seg_get(j, seg), &v, del, off, (uint32_t)n);
	return 0;
}

int
st_journal_put_kv(struct st_journal *j, uint16_t ns, const void *key, uint32_t key_len,
		  const void *val, uint32_t val_len)
{
	return append_kv(j, ns, key, key_len, val, val_len, false);
}

int
st_journal_del_kv(struct st_journal *j, uint16_t ns, const void *key, uint32_t key_len)
{
	return append_kv(j, ns, key, key_len, NULL, 0, true);
}

long
st_journal_read_body(struct st_journal *j, uint64_t msg_id, void *buf, size_t len)
{
	struct jnl_msg *e = jnl_msg_find(j, msg_id);
	struct jnl_msg_view v;
	struct jnl_rec r;
	int rc;

	if (e == NULL)
		return -ENOENT;
	/* While a compaction copy is in flight e->l still names the old,
	 * durable record; the old segment cannot go before the copy lands. */
	if ((rc = jnl_read_record(j, e->l.seg, e->l.off, e->l.len, &r)) < 0)
		return rc;
	if (jnl_decode_msg(&r, &v) < 0 || v.m.id != msg_id)
		return -EIO;
	if (v.m.body_len > len)
		return -EMSGSIZE;
	if (v.m.body_len)
		memcpy(buf, v.m.body, v.m.body_len);
	return (long)v.m.body_len;
}

int
st_journal_msg_loc(const struct st_journal *j, uint64_t msg_id, struct st_loc *loc)
{
	const struct jnl_msg *e = jnl_msg_find(j, msg_id);

	if (e == NULL)
		return -ENOENT;
	loc->segment = e->l.seg;
	loc->offset = e->l.off;
	loc->length = e->l.len;
	return 0;
}

uint64_t
st_journal_max_msg_id(const struct st_journal *j)
{
	return j->max_msg_id;
}

void
st_journal_stats_get(const struct st_journal *j, struct st_journal_stats *s)
{
	*s = j->st;
	if (j->active && j->active->spare_len > j->active->size)
		s->disk_bytes += j->active->spare_len - j->active->size;
	if (j->w)
		s->disk_bytes += jnl_spare_bytes(j->w);
	s->live_msgs = j->live_msgs;
	s->live_kvs = j->live_kvs;
	s->failed = j->failed;
	jnl_fsync_read(&j->fsync, s);
}
