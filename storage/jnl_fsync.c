/*
 * jnl_fsync.c: how long the journal's fdatasync calls take, for the
 * sluice_journal_fsync_seconds histogram of /metrics.
 *
 * The journal thread times every fdatasync it makes (a segment's header,
 * each group commit) and adds it to struct jnl_fsync_hist with relaxed
 * atomic adds; the main thread reads the counters when /metrics asks.
 * A reader may see a count without its time yet (or the reverse): each
 * counter is exact, only their snapshot is not one instant, which a
 * monitoring histogram tolerates. Nothing here allocates: the thread
 * must not call bk_malloc (its byte counter is the main thread's).
 */
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "jnl_int.h"

/* Prometheus' le bounds in microseconds: 100 us .. 2.5 s. */
const uint32_t st_fsync_bounds_us[ST_FSYNC_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000,
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
jnl_fsync_timed(struct jnl_fsync_hist *h, int fd)
{
	uint64_t t0 = mono_ns(), ns;
	int rc = fdatasync(fd) < 0 ? -errno : 0;
	size_t i = 0;

	ns = mono_ns() - t0;
	while (i < ST_FSYNC_BUCKETS && ns > (uint64_t)st_fsync_bounds_us[i] * 1000u)
		i++;
	__atomic_fetch_add(&h->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->ns, ns, __ATOMIC_RELAXED);
	return rc;
}

void
jnl_fsync_read(const struct jnl_fsync_hist *h, struct st_journal_stats *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i <= ST_FSYNC_BUCKETS; i++) {
		n += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
		if (i < ST_FSYNC_BUCKETS)
			s->fsync_bucket[i] = n;
	}
	s->fsync_count = n;
	s->fsync_ns = __atomic_load_n(&h->ns, __ATOMIC_RELAXED);
}
