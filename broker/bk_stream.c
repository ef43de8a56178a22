/*
 * bk_stream.c: a stream queue's log: opening it when the queue is
 * declared (or recreated from the definitions at start), appending what
 * routing enqueues, retention as chunks become durable, and the record
 * format of a message in the log.
 *
 * Every message that reaches a stream is stored, persistent or not (a
 * stream is a log on disk, as RabbitMQ's are): the publisher's confirm
 * waits for the chunk (bk_persist_publish tracks it). Nothing is kept in
 * memory once the chunk is written: consumers read it back through their
 * cursors.
 *
 * Record payload (the storage layer's "opaque payload"), little-endian:
 *
 *   +------------------+----------+--------------+------------+---------------+
 *   | published_ms u64 | flags u32| exch_len u16 | rk_len u16 | props_len u32 |
 *   +------------------+----------+--------------+------------+---------------+
 *   | exchange | routing key | properties (bk_props_encode) | body            |
 *   +-------------------------------------------------------------------------+
 */
#include "bk_persist.h"
#include "bk_stream.h"
#include "storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define REC_FIXED 20u

static inline void
put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void
put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static inline void
put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t
get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t
get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static inline uint64_t
get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

void
bk_stream_retain_now(struct bk_queue *q)
{
	if (q->deleted || q->stream == NULL)
		return;
	st_stream_retain(q->stream->log, q->args.max_length_bytes > 0 ?
			 (uint64_t)q->args.max_length_bytes : 0,
			 (uint64_t)q->args.max_age_ms, bk_now_ms());
}

static void
notify(void *arg, int status)
{
	struct bk_queue *q = arg;
	struct st_stream_info i;

	if (q->deleted || q->stream == NULL)
		return;
	bk_stream_retain_now(q);
	st_stream_info_get(q->stream->log, &i);
	q->stream->last_ts = bk_now_ms();
	(void)status;
	bk_queue_dispatch(q);
}

enum bk_status
bk_stream_attach(struct bk_queue *q, struct bk_err *err)
{
	struct bk_persist *p = q->broker->persist;
	struct st_stream_config cfg = { 0, 0, false };
	struct bk_stream *st;
	int rc;

	if (p == NULL || p->j == NULL)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "cannot declare stream queue '%s' in vhost '%s': "
				  "streams need a data directory", q->name, q->vhost->name);
	cfg.max_segment_bytes = (uint64_t)q->args.max_segment_bytes;
	cfg.filter_bytes = (uint16_t)q->args.filter_size;
	cfg.compact = q->args.compaction_key != NULL;
	st = bk_calloc(1, sizeof(*st));
	st->q = q;
	if ((rc = st_stream_open(p->j, q->jid, &cfg, notify, q, &st->log)) < 0) {
		bk_free(st);
		return bk_err_set(err, BK_INTERNAL_ERROR,
				  "cannot open stream '%s' in vhost '%s': %s", q->name,
				  q->vhost->name, strerror(-rc));
	}
	q->stream = st;
	return BK_OK;
}

void
bk_stream_detach(struct bk_queue *q)
{
	struct bk_stream *st = q->stream;
	struct bk_persist *p = q->broker->persist;

	if (st == NULL)
		return;
	if (p != NULL && p->stopping) {
		st_stream_close(st->log);
	} else {
		st_stream_destroy(st->log);
		bk_soffsets_drop(q->broker, q->jid);
	}
	bk_free(st);
	q->stream = NULL;
}

uint64_t
bk_stream_count(const struct bk_queue *q)
{
	struct st_stream_info i;

	if (q->stream == NULL)
		return 0;
	st_stream_info_get(q->stream->log, &i);
	return i.committed - i.first;
}

/* The record of m, encoded by fill straight into the stream's open chunk
 * (the body is copied once on its way to disk, not through a scratch
 * buffer). */
struct enc {
	const struct bk_msg *m;
	uint16_t xl, rl;
	uint32_t plen;
};

static size_t
encode_size(struct enc *e, const struct bk_msg *m)
{
	e->m = m;
	e->plen = (uint32_t)bk_props_encoded_size(bk_msg_props(m));
	e->xl = (uint16_t)(bk_msg_exchange(m).len > UINT16_MAX ? UINT16_MAX : bk_msg_exchange(m).len);
	e->rl = (uint16_t)(bk_msg_rk(m).len > UINT16_MAX ? UINT16_MAX : bk_msg_rk(m).len);
	return (size_t)REC_FIXED + e->xl + e->rl + e->plen + m->body_len;
}

static void
encode_fill(void *arg, uint8_t *p)
{
	const struct enc *e = arg;
	const struct bk_msg *m = e->m;
	uint16_t xl = e->xl, rl = e->rl;
	uint32_t plen = e->plen;

	put64(p, m->published_ms);
	put32(p + 8, m->flags & BK_MSG_PERSISTENT);
	put16(p + 12, xl);
	put16(p + 14, rl);
	put32(p + 16, (uint32_t)plen);
	p += REC_FIXED;
	memcpy(p, bk_msg_exchange(m).p, xl);
	p += xl;
	memcpy(p, bk_msg_rk(m).p, rl);
	p += rl;
	bk_props_encode(bk_msg_props(m), p);
	p += plen;
	if (m->body_len)
		memcpy(p, bk_msg_body(m), m->body_len);
}

/* The filter value a publisher gave (x-stream-filter-value), if any. */
static bool
filter_value(const struct bk_msg *m, struct bk_str *out)
{
	struct bk_value v;

	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, "x-stream-filter-value", &v) ||
	    (v.type != BK_V_LSTR && v.type != BK_V_BYTES) || v.u.s.len > UINT16_MAX)
		return false;
	*out = v.u.s;
	return true;
}

/* The compaction key: the value of the header x-stream-compaction-key
 * names (a string, or an integer in decimal). */
static bool
compaction_key(const struct bk_queue *q, const struct bk_msg *m, char *buf, size_t cap,
	       struct bk_str *out)
{
	struct bk_value v;
	int64_t i;

	if (q->args.compaction_key == NULL || !(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, q->args.compaction_key, &v))
		return false;
	if (v.type == BK_V_LSTR || v.type == BK_V_BYTES) {
		*out = v.u.s;
		return v.u.s.len > 0 && v.u.s.len <= UINT16_MAX;
	}
	if (v.type == BK_V_TIMESTAMP || !bk_value_int(&v, &i))
		return false;
	out->len = (uint32_t)snprintf(buf, cap, "#%lld", (long long)i);
	out->p = buf;
	return true;
}

int
bk_stream_enqueue(struct bk_queue *q, struct bk_msg *m)
{
	struct bk_stream *st = q->stream;
	struct st_stream_rec r;
	struct bk_str fv, key;
	struct enc e;
	char kbuf[32];
	uint64_t off;
	size_t n;

	if ((m->flags & BK_MSG_PAGED) && m->body_len > 0)
		return -ENOSPC;                 /* a paged stub has no body here */
	n = encode_size(&e, m);
	if (n > UINT32_MAX)
		return -ENOSPC;
	memset(&r, 0, sizeof(r));
	r.fill = encode_fill;
	r.fill_arg = &e;
	r.len = (uint32_t)n;
	r.ts_ms = bk_now_ms();
	if (filter_value(m, &fv)) {
		r.filter = fv.p;
		r.filter_len = (uint16_t)fv.len;
		r.has_filter = true;
	}
	if (compaction_key(q, m, kbuf, sizeof(kbuf), &key)) {
		r.key = key.p;
		r.klen = (uint16_t)key.len;
		r.tombstone = m->body_len == 0;
	}
	if (st_stream_append(st->log, &r, &off) < 0)
		return -ENOSPC;
	q->ms.n[BK_MS_PUBLISH]++;
	return 0;
}

struct bk_msg *
bk_stream_msg_decode(const void *payload, uint32_t len, uint64_t offset)
{
	const uint8_t *p = payload;
	struct bk_table_builder tb;
	struct bk_value v = { .type = BK_V_I64 };
	struct bk_props props;
	struct bk_msg *m;
	uint32_t plen;
	uint16_t xl, rl;
	size_t body;

	if (len < REC_FIXED)
		return NULL;
	xl = get16(p + 12);
	rl = get16(p + 14);
	plen = get32(p + 16);
	if ((uint64_t)REC_FIXED + xl + rl + plen > len ||
	    bk_props_decode(p + REC_FIXED + xl + rl, plen, &props) < 0)
		return NULL;
	body = len - REC_FIXED - xl - rl - plen;
	bk_tb_init(&tb);
	if (props.present & BK_P_HEADERS)
		bk_tb_put_raw(&tb, props.headers.p, props.headers.len);
	v.u.i = (int64_t)offset;
	bk_tb_put(&tb, "x-stream-offset", 15, &v);
	props.headers = bk_tb_view(&tb);
	props.present |= BK_P_HEADERS;
	m = bk_msg_new((struct bk_str){ (const char *)p + REC_FIXED, xl },
		       (struct bk_str){ (const char *)p + REC_FIXED + xl, rl }, &props, body);
	bk_tb_fini(&tb);
	if (body)
		memcpy(bk_msg_body(m), p + REC_FIXED + xl + rl + plen, body);
	m->published_ms = get64(p);
	return m;
}

enum bk_status
bk_queue_get_check(struct bk_queue *q, struct bk_err *err)
{
	if (q->stream == NULL)
		return BK_OK;
	return bk_err_set(err, BK_NOT_IMPLEMENTED,
			  "basic.get not supported by stream queues queue '%s' in vhost '%s'",
			  q->name, q->vhost->name);
}
