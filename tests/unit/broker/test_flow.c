/*
 * Flow control: the alarm mask, watchers (including unwatching from inside
 * a notification) and the memory watermark timer on a real event_base.
 */
#include "broker.h"
#include "testlib.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct seen {
	int calls;
	unsigned last;
};

static void
on_alarm(void *arg, unsigned alarms)
{
	struct seen *s = arg;

	s->calls++;
	s->last = alarms;
}

static struct bk_broker *unwatch_broker;

/* Removes itself on its first call. */
static void
on_alarm_once(void *arg, unsigned alarms)
{
	on_alarm(arg, alarms);
	bk_alarm_unwatch(unwatch_broker, on_alarm_once, arg);
}

static void
test_mask(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct seen a = { 0 }, c = { 0 };

	CHECK_EQ_INT(bk_alarms(b), 0);
	bk_alarm_watch(b, on_alarm, &a);
	bk_alarm_watch(b, on_alarm, &c);
	bk_alarm_set(b, BK_ALARM_MEMORY, true);
	CHECK_EQ_INT(bk_alarms(b), BK_ALARM_MEMORY);
	CHECK_EQ_INT(a.calls, 1);
	CHECK_EQ_INT(a.last, BK_ALARM_MEMORY);
	CHECK_EQ_INT(c.calls, 1);
	/* Raising a raised source changes nothing: no call. */
	bk_alarm_set(b, BK_ALARM_MEMORY, true);
	CHECK_EQ_INT(a.calls, 1);
	bk_alarm_set(b, BK_ALARM_DISK, true);
	CHECK_EQ_INT(bk_alarms(b), BK_ALARM_MEMORY | BK_ALARM_DISK);
	CHECK_EQ_INT(a.calls, 2);
	CHECK_EQ_INT(a.last, BK_ALARM_MEMORY | BK_ALARM_DISK);
	bk_alarm_set(b, BK_ALARM_MEMORY, false);
	CHECK_EQ_INT(bk_alarms(b), BK_ALARM_DISK);
	CHECK_EQ_INT(a.last, BK_ALARM_DISK);
	bk_alarm_unwatch(b, on_alarm, &c);
	bk_alarm_set(b, BK_ALARM_DISK, false);
	CHECK_EQ_INT(bk_alarms(b), 0);
	CHECK_EQ_INT(a.calls, 4);
	CHECK_EQ_INT(a.last, 0);
	CHECK_EQ_INT(c.calls, 3);
	/* Clearing a clear source: no call. */
	bk_alarm_set(b, BK_ALARM_DISK, false);
	CHECK_EQ_INT(a.calls, 4);
	/* Unwatching something never watched is harmless. */
	bk_alarm_unwatch(b, on_alarm, &c);
	bk_broker_free(b);
}

static void
test_unwatch_inside(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct seen once = { 0 }, after = { 0 };

	unwatch_broker = b;
	bk_alarm_watch(b, on_alarm_once, &once);
	bk_alarm_watch(b, on_alarm, &after);
	bk_alarm_set(b, BK_ALARM_DISK, true);
	CHECK_EQ_INT(once.calls, 1);
	CHECK_EQ_INT(after.calls, 1);     /* the one behind it still heard */
	bk_alarm_set(b, BK_ALARM_DISK, false);
	CHECK_EQ_INT(once.calls, 1);
	CHECK_EQ_INT(after.calls, 2);
	bk_broker_free(b);
}

struct run {
	struct event_base *base;
	struct bk_broker *b;
	unsigned want;
	bool reached;
};

static void
on_watch_stop(void *arg, unsigned alarms)
{
	struct run *r = arg;

	if (alarms == r->want) {
		r->reached = true;
		event_base_loopbreak(r->base);
	}
}

/* Run the loop until the mask equals want, or limit_ms passes. */
static bool
run_until(struct run *r, unsigned want, int limit_ms)
{
	struct timeval tv = { limit_ms / 1000, (limit_ms % 1000) * 1000 };

	if (bk_alarms(r->b) == want)
		return true;
	r->want = want;
	r->reached = false;
	event_base_loopexit(r->base, &tv);
	event_base_dispatch(r->base);
	return r->reached;
}

static void
test_watermark(void)
{
	struct run r = { 0 };
	struct seen s = { 0 };
	void *hog;
	size_t used;

	r.base = event_base_new();
	r.b = bk_broker_new(r.base, NULL);
	bk_alarm_watch(r.b, on_watch_stop, &r);
	bk_alarm_watch(r.b, on_alarm, &s);
	used = bk_alloc_used();

	/* Comfortably above current use: no alarm. */
	bk_memory_watermark_set(r.b, used + (4u << 20));
	CHECK(!run_until(&r, BK_ALARM_MEMORY, 250));
	CHECK_EQ_INT(s.calls, 0);

	/* Allocate past it: the timer raises the alarm. */
	hog = bk_malloc(5u << 20);
	CHECK(run_until(&r, BK_ALARM_MEMORY, 500));
	CHECK_EQ_INT(s.calls, 1);
	CHECK_EQ_INT(s.last, BK_ALARM_MEMORY);

	/* Free it: back under 90% of the watermark, cleared. */
	bk_free(hog);
	CHECK(run_until(&r, 0, 500));
	CHECK_EQ_INT(s.calls, 2);
	CHECK_EQ_INT(s.last, 0);

	/* A watermark below current use alarms; raising it clears. */
	bk_memory_watermark_set(r.b, 1);
	CHECK(run_until(&r, BK_ALARM_MEMORY, 500));
	bk_memory_watermark_set(r.b, bk_alloc_used() * 4 + 4096);
	CHECK(run_until(&r, 0, 500));

	/* Hysteresis: between 90% and 100% a raised alarm stays raised. */
	used = bk_alloc_used();
	bk_memory_watermark_set(r.b, used * 100 / 95);     /* used is ~95% */
	bk_alarm_set(r.b, BK_ALARM_MEMORY, true);
	CHECK(!run_until(&r, 0, 300));
	CHECK_EQ_INT(bk_alarms(r.b), BK_ALARM_MEMORY);

	/* 0 turns the check off and clears the alarm. */
	bk_memory_watermark_set(r.b, 0);
	CHECK_EQ_INT(bk_alarms(r.b), 0);
	hog = bk_malloc(1u << 20);
	CHECK(!run_until(&r, BK_ALARM_MEMORY, 250));
	bk_free(hog);

	bk_broker_free(r.b);
	event_base_free(r.base);
}

int
main(void)
{
	RUN(test_mask);
	RUN(test_unwatch_inside);
	RUN(test_watermark);
	TEST_DONE();
}
