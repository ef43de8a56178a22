/*
 * bk_hist.c: the recent history of an object's figures, for RabbitMQ's
 * sample windows (?lengths_age=&lengths_incr=, msg_rates_age=, ...).
 *
 * The sampler (bk_stats.c) ticks every interval; each tick is numbered
 * and its wall-clock time kept in the broker's tick ring. An object's
 * history is a ring of the values of some fields [lo, hi) of enum
 * bk_hfield at its last cap ticks, allocated at its first tick:
 *
 *   struct bk_hist | last[nf] (u64, newest values) | slots[cap][nf]
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
	uint64_t v[];                   /* last[nf], then the slots */
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
	const uint64_t *base = h->v + nfields(h);

	if (h->wide)
		return (void *)(base + i);
	return (void *)((const uint32_t *)base + i);
}

void
bk_hist_record(struct bk_broker *b, struct bk_hist **hp, unsigned lo, unsigned hi,
	       uint32_t cap, bool wide, const uint64_t *vals)
{
	struct bk_hist *h = *hp;
	uint64_t tick = bk_mgmt(b)->tick;
	unsigned nf = hi - lo;

	if (h == NULL) {
		size_t slots = (size_t)cap * nf * (wide ? 8 : 4);

		h = bk_calloc(1, sizeof(*h) + nf * sizeof(uint64_t) + slots);
		h->lo = (uint16_t)lo;
		h->hi = (uint16_t)hi;
		h->cap = cap;
		h->wide = wide;
		h->first_tick = tick;
		*hp = h;
	}
	h->last_tick = tick;
	memcpy(h->v, vals, nf * sizeof(uint64_t));
	if (wide) {
		memcpy(slot(h, tick), vals, nf * sizeof(uint64_t));
		return;
	}
	uint32_t *s = slot(h, tick);

	for (unsigned i = 0; i < nf; i++)
		s[i] = vals[i] > UINT32_MAX && is_gauge(lo + i) ? UINT32_MAX : (uint32_t)vals[i];
}

void
bk_hist_free(struct bk_hist *h)
{
	bk_free(h);
}

/* The value of field f (lo <= f < hi) at a tick h holds. */
static uint64_t
value_at(const struct bk_hist *h, unsigned f, uint64_t tick)
{
	unsigned i = f - h->lo;
	uint32_t low;

	if (h->wide)
		return ((const uint64_t *)slot(h, tick))[i];
	low = ((const uint32_t *)slot(h, tick))[i];
	if (is_gauge(f))
		return low;
	/* the newest full value minus what was added since that tick */
	return h->v[i] - (uint32_t)((uint32_t)h->v[i] - low);
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
