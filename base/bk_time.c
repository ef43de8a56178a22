/*
 * bk_time.c: the per-iteration clock cache (see bk_time.h). libevent
 * already caches the time at the start of each loop iteration for its
 * own timers; event_base_gettimeofday_cached() hands that value out
 * while a callback runs and falls back to gettimeofday() otherwise.
 */
#include "bk_time.h"

#include <stddef.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

static _Thread_local struct event_base *attached;

void
bk_time_attach(struct event_base *base)
{
	attached = base;
}

uint64_t
bk_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
bk_now_ms(void)
{
	struct timeval tv;

	if (attached == NULL || event_base_gettimeofday_cached(attached, &tv) != 0)
		return bk_clock_ms();
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}
