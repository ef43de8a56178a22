/*
 * Journal benchmarks (run directly or with meson test --benchmark):
 *
 * 1. Group-commit throughput: 1 KiB persistent messages, appended in
 *    chunks from a loop event (as connection reads would), a completion
 *    registered every 100 messages (as publisher confirms would), up to a
 *    window of unconfirmed messages; sync = batch (fdatasync per batch).
 * 2. Recovery: N small MSG records written, then open + replay timed.
 *
 * usage: bench_journal [messages=200000] [recovery_records=1000000]
 */
#include <time.h>

#include "journal_helpers.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct producer {
	struct st_journal *j;
	struct event *ev;
	uint64_t next, total, confirmed, window, chunk;
	bool parked;
};

static void
on_confirm(void *arg, int status)
{
	struct producer *p = arg;

	if (status != 0) {
		fprintf(stderr, "batch failed: %s\n", strerror(-status));
		exit(1);
	}
	p->confirmed += 100;
	if (p->parked) {
		p->parked = false;
		event_active(p->ev, EV_TIMEOUT, 1);
	}
}

static void
produce(evutil_socket_t fd, short what, void *arg)
{
	struct producer *p = arg;
	uint64_t q = 1;

	for (uint64_t k = 0; k < p->chunk && p->next < p->total; k++) {
		if (p->next - p->confirmed >= p->window) {
			p->parked = true;
			return;
		}
		append_msg(p->j, ++p->next, &q, 1, 1024);
		if (p->next % 100 == 0)
			st_journal_when_durable(p->j, on_confirm, p);
	}
	if (p->next < p->total)
		event_active(p->ev, EV_TIMEOUT, 1);
}

static void
bench_throughput(uint64_t n)
{
	struct producer p = { 0 };
	struct st_journal_stats st;
	double t0, t1;

	tmpdir_new();
	p.j = jopen_cfg(0, ST_SYNC_BATCH);
	p.total = n - n % 100;
	p.window = 20000;
	p.chunk = 1000;
	p.ev = event_new(base, -1, 0, produce, &p);
	t0 = now();
	event_active(p.ev, EV_TIMEOUT, 1);
	while (p.confirmed < p.total)
		event_base_loop(base, EVLOOP_ONCE);
	t1 = now();
	st_journal_stats_get(p.j, &st);
	printf("throughput: %llu x 1 KiB msgs, fdatasync per batch: %.3f s, %.0f msg/s, "
	       "%llu batches, %llu fdatasyncs, %.0f msgs/batch, %.1f MiB/s\n",
	       (unsigned long long)p.total, t1 - t0, p.total / (t1 - t0),
	       (unsigned long long)st.batches, (unsigned long long)st.syncs,
	       (double)p.total / (st.batches ? st.batches : 1),
	       st.disk_bytes / (t1 - t0) / (1 << 20));
	event_free(p.ev);
	st_journal_close(p.j);
	tmpdir_free();
}

static uint64_t replayed;

static int
count_msg(void *arg, const struct st_msg *m)
{
	replayed++;
	return 0;
}

static void
bench_recovery(uint64_t n)
{
	struct st_replay_ops ops = { NULL, count_msg };
	struct st_journal_stats st;
	struct st_journal *j;
	double t0, t1, t2;
	uint64_t q = 1;

	tmpdir_new();
	j = jopen_cfg(0, ST_SYNC_NONE);
	t0 = now();
	for (uint64_t i = 1; i <= n; i++) {
		append_msg(j, i, &q, 1, 16);
		if (i % 10000 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	flush(j);
	t1 = now();
	st_journal_stats_get(j, &st);
	st_journal_close(j);
	printf("recovery: wrote %llu small MSG records (%.1f MiB) in %.3f s\n",
	       (unsigned long long)n, st.disk_bytes / 1048576.0, t1 - t0);
	t0 = now();
	j = jopen_cfg(0, ST_SYNC_BATCH);
	t1 = now();
	replayed = 0;
	st_journal_replay(j, &ops, NULL);
	t2 = now();
	printf("recovery: open+scan %.3f s, replay %.3f s, total %.3f s, %llu messages replayed\n",
	       t1 - t0, t2 - t1, t2 - t0, (unsigned long long)replayed);
	st_journal_close(j);
	tmpdir_free();
}

int
main(int argc, char **argv)
{
	uint64_t n1 = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
	uint64_t n2 = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;

	base = event_base_new();
	if (n1)
		bench_throughput(n1);
	if (n2)
		bench_recovery(n2);
	event_base_free(base);
	return 0;
}
