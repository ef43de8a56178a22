/*
 * bk_time.h: the wall clock, read once per loop iteration.
 *
 * Every message stamps its publish time and every TTL check compares
 * against "now", so reading the clock is on the hot path. A thread that
 * runs a libevent loop attaches it here once; bk_now_ms() then returns
 * the time libevent cached when the current iteration's events came in
 * (no system call inside a callback). A thread with no attached loop, or
 * a call made outside the loop's callbacks, reads the clock directly.
 */
#ifndef SLUICE_BK_TIME_H
#define SLUICE_BK_TIME_H

#include <stdint.h>

struct event_base;

/* Use base's cached time for this thread's bk_now_ms() (NULL detaches). */
void bk_time_attach(struct event_base *base);

/* Wall-clock milliseconds since the epoch, as of this loop iteration. */
uint64_t bk_now_ms(void);

/* Wall-clock milliseconds now, always from the clock (timing, logs). */
uint64_t bk_clock_ms(void);

#endif
