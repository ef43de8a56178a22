/*
 * bk_hist.c: the recent history of an object's figures, for RabbitMQ's
 * sample windows (?lengths_age=&lengths_incr=, msg_rates_age=, ...).
 *
 * The sampler (bk_stats.c) ticks every interval; each tick is numbered
 * and its wall-clock time kept in the broker's tick ring. An object's
 * history is the values of some fields [lo, hi) of enum bk_hfield at its
 * last cap ticks:
 *
 *   struct bk_hist | last[nf] (u64, newest values)
 *         |
 *         +-> slots[cap][nf]   only while the window holds a change
 *
 * Most objects sit idle: their figures do not move from one tick to the
 * next. A history whose values have not changed since tick flat_since
 * keeps no slots: every tick from flat_since on holds last[]. The slots
 * are allocated at the first change (filled with the old values for the
 * ticks the window still covers) and freed once the values have stayed
 * put for a whole window, so an idle connection, channel or queue costs
 * the header and last[] only. An object may even keep no history while
 * it is flat (bk_hist_flat_state): it keeps the tick and the values, and
 * builds the history in place when a view is taken (bk_hist_flat) or
 * again at its next change (bk_hist_record_from).
 *
 * Narrow histories (queues, exchanges, channels, connections, vhosts)
 * keep 32 bits per value to stay small: counters are rebuilt from the
 * newest full value (they only grow, and grow by less than 2^32 within
 * the window), lengths fit as they are. The broker's own history is
 * wide (64 bits: memory and disk figures go up and down past 2^32).
 *
 * Nothing here runs per message; records cost O(fields) per object and
 * tick.
 */
#include "bk_mgmt.h"

#include <string.h>

struct bk_hist {
	uint16_t lo, hi;                /* fields [lo, hi) */
	uint32_t cap;                   /* ticks kept */
	bool wide;                      /* 64-bit slots */
	uint64_t first_tick;            /* tick of the first record */
	uint64_t last_tick;             /* tick of the newest record */
	uint64_t flat_since;            /* ticks flat_since..last_tick hold v[] */
	void *slots;                    /* owned; NULL while the window is flat */
	uint64_t v[];                   /* last[nf] */
};

static bool
is_gauge(unsigned f)
{
	return f == BK_HF_READY || f == BK_HF_UNACKED || f == BK_HF_MEM_USED ||
	       f == BK_HF_FD_USED || f == BK_HF_SOCKETS_USED || f == BK_HF_DISK_FREE;
}

static unsigned
nfields(const struct bk_hist *h)
{
	return (unsigned)(h->hi - h->lo);
}

static void *
slot(const struct bk_hist *h, uint64_t tick)
{
	size_t i = (size_t)(tick % h->cap) * nfields(h);

	if (h->wide)
		return (uint64_t *)h->slots + i;
	return (uint32_t *)h->slots + i;
}

static void
put_slot(struct bk_hist *h, uint64_t tick, const uint64_t *vals)
{
	unsigned nf = nfields(h);
	uint32_t *s;

	if (h->wide) {
		memcpy(slot(h, tick), vals, nf * sizeof(uint64_t));
		return;
	}
	s = slot(h, tick);
	for (unsigned i = 0; i < nf; i++)
		s[i] = vals[i] > UINT32_MAX && is_gauge(h->lo + i) ? UINT32_MAX :
		       (uint32_t)vals[i];
}

/* The oldest tick the window of h still covers at tick now. */
static uint64_t
window_start(const struct bk_hist *h, uint64_t now)
{
	uint64_t w = now + 1 >= h->cap ? now + 1 - h->cap : 0;

	return w > h->first_tick ? w : h->first_tick;
}

/* Give a flat history its slots: every tick it covers held v[]. */
static void
unflatten(struct bk_hist *h)
{
	h->slots = bk_malloc((size_t)h->cap * nfields(h) * (h->wide ? 8 : 4));
	for (uint64_t t = window_start(h, h->last_tick); t <= h->last_tick; t++)
		put_slot(h, t, h->v);
}

void
bk_hist_record(struct bk_broker *b, struct bk_hist **hp, unsigned lo, unsigned hi,
	       uint32_t cap, bool wide, const uint64_t *vals)
{
	struct bk_hist *h = *hp;
	uint64_t tick = bk_mgmt(b)->tick;
	unsigned nf = hi - lo;

	if (h == NULL) {
		h = bk_calloc(1, sizeof(*h) + nf * sizeof(uint64_t));
		h->lo = (uint16_t)lo;
		h->hi = (uint16_t)hi;
		h->cap = cap;
		h->wide = wide;
		h->first_tick = h->last_tick = h->flat_since = tick;
		memcpy(h->v, vals, nf * sizeof(uint64_t));
		*hp = h;
		return;
	}
	if (memcmp(h->v, vals, nf * sizeof(uint64_t)) != 0) {
		if (h->slots == NULL)
			unflatten(h);
		h->flat_since = tick;
		memcpy(h->v, vals, nf * sizeof(uint64_t));
	}
	h->last_tick = tick;
	if (h->slots == NULL)
		return;
	put_slot(h, tick, vals);
	if (window_start(h, tick) >= h->flat_since)
		BK_FREE(h->slots);
}

/* A flat history of vals (NULL: zeros) over ticks [born, last] in h. */
static void
flat_init(struct bk_hist *h, unsigned lo, unsigned hi, uint32_t cap, uint64_t born,
	  uint64_t last, const uint64_t *vals)
{
	memset(h, 0, sizeof(*h) + (hi - lo) * sizeof(uint64_t));
	h->lo = (uint16_t)lo;
	h->hi = (uint16_t)hi;
	h->cap = cap;
	h->first_tick = h->flat_since = born;
	h->last_tick = last;
	if (vals)
		memcpy(h->v, vals, (hi - lo) * sizeof(uint64_t));
}

void
bk_hist_record_lazy(struct bk_broker *b, struct bk_hist **hp, unsigned lo, unsigned hi,
		    uint32_t cap, uint64_t born, const uint64_t *vals)
{
	uint64_t tick = bk_mgmt(b)->tick;
	unsigned i, nf = hi - lo;

	if (*hp == NULL) {
		for (i = 0; i < nf && vals[i] == 0; i++)
			;
		if (i == nf)
			return;
		if (born < tick) {
			/* the zeros every tick since born would have recorded */
			*hp = bk_malloc(sizeof(**hp) + nf * sizeof(uint64_t));
			flat_init(*hp, lo, hi, cap, born, tick - 1, NULL);
		}
	}
	bk_hist_record(b, hp, lo, hi, cap, false, vals);
}

const struct bk_hist *
bk_hist_flat(struct bk_broker *b, uint64_t *space, size_t words, unsigned lo, unsigned hi,
	     uint32_t cap, uint64_t born, const uint64_t *vals)
{
	struct bk_hist *h = (struct bk_hist *)space;
	uint64_t tick = bk_mgmt(b)->tick;

	if (born > tick || born == 0 ||
	    sizeof(*h) + (hi - lo) * sizeof(uint64_t) > words * sizeof(uint64_t))
		return NULL;
	flat_init(h, lo, hi, cap, born, tick, vals);
	return h;
}

const struct bk_hist *
bk_hist_flat_zero(struct bk_broker *b, uint64_t *space, size_t words, unsigned lo,
		  unsigned hi, uint32_t cap, uint64_t born)
{
	return bk_hist_flat(b, space, words, lo, hi, cap, born, NULL);
}

void
bk_hist_record_from(struct bk_broker *b, struct bk_hist **hp, unsigned lo, unsigned hi,
		    uint32_t cap, uint64_t since, const uint64_t *old, const uint64_t *vals)
{
	uint64_t tick = bk_mgmt(b)->tick;

	if (*hp == NULL && since < tick) {
		*hp = bk_malloc(sizeof(**hp) + (hi - lo) * sizeof(uint64_t));
		flat_init(*hp, lo, hi, cap, since, tick - 1, old);
	}
	bk_hist_record(b, hp, lo, hi, cap, false, vals);
}

bool
bk_hist_flat_state(const struct bk_hist *h, uint64_t *since, uint64_t *vals)
{
	if (h == NULL || h->slots != NULL || h->wide)
		return false;
	*since = window_start(h, h->last_tick);
	memcpy(vals, h->v, nfields(h) * sizeof(uint64_t));
	return true;
}

void
bk_hist_free(struct bk_hist *h)
{
	if (h != NULL)
		bk_free(h->slots);
	bk_free(h);
}

/* The value of field f (lo <= f < hi) at a tick h holds. */
static uint64_t
value_at(const struct bk_hist *h, unsigned f, uint64_t tick)
{
	unsigned i = f - h->lo;
	uint32_t low;

	if (h->slots == NULL || tick >= h->flat_since) {
		if (!h->wide && is_gauge(f) && h->v[i] > UINT32_MAX)
			return UINT32_MAX;
		return h->v[i];
	}
	if (h->wide)
		return ((const uint64_t *)slot(h, tick))[i];
	low = ((const uint32_t *)slot(h, tick))[i];
	if (is_gauge(f))
		return low;
	/* the newest full value minus what was added since that tick */
	return h->v[i] - (uint32_t)((uint32_t)h->v[i] - low);
}

void
bk_hist_rates(struct bk_broker *b, const struct bk_hist *h, struct bk_msg_rates *out)
{
	const struct bk_mgmt *m = bk_mgmt(b);
	uint64_t t, at, prev_at, cur, before;
	double secs;

	memset(out, 0, sizeof(*out));
	if (h == NULL || h->last_tick != m->tick || m->tick == 0 ||
	    h->lo > BK_HF_MS || h->hi < BK_HF_MS + BK_MS__COUNT)
		return;
	t = h->last_tick;
	at = m->tick_at[t % BK_TICKS_KEPT];
	prev_at = m->tick_at[(t - 1) % BK_TICKS_KEPT];
	if (prev_at == 0)
		return;                 /* the first tick: no interval yet */
	secs = at > prev_at ? (double)(at - prev_at) / 1000.0 : m->interval_ms / 1000.0;
	for (unsigned i = 0; i < BK_MS__COUNT; i++) {
		/* counters start at 0 before the object's first tick */
		cur = value_at(h, BK_HF_MS + i, t);
		before = t > h->first_tick ? value_at(h, BK_HF_MS + i, t - 1) : 0;
		out->r[i] = cur > before && secs > 0 ? (double)(cur - before) / secs : 0;
	}
}

uint32_t
bk_hist_series(struct bk_broker *b, const struct bk_hist *h, enum bk_hfield f,
	       struct bk_hist_point *out, uint32_t max)
{
	const struct bk_mgmt *m = bk_mgmt(b);
	uint64_t n, first, t;
	uint32_t k = 0;

	if (h == NULL || (unsigned)f < h->lo || (unsigned)f >= h->hi || max == 0)
		return 0;
	n = h->last_tick - h->first_tick + 1;
	if (n > h->cap)
		n = h->cap;
	if (n > BK_TICKS_KEPT)
		n = BK_TICKS_KEPT;
	if (n > max)
		n = max;
	first = h->last_tick + 1 - n;
	for (t = first; t <= h->last_tick; t++, k++) {
		out[k].at_ms = m->tick_at[t % BK_TICKS_KEPT];
		out[k].v = value_at(h, (unsigned)f, t);
	}
	return k;
}
