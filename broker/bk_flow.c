/*
 * bk_flow.c: broker-wide resource alarms and the memory watermark.
 *
 * Alarm sources (memory here, disk from the storage layer) are bits of
 * one mask. Adapters watch the mask: while it is non-zero they stop
 * reading from publishers (RabbitMQ's rabbit_alarm and its reader's
 * blocking/blocked states), and they resume once it is back to 0.
 *
 * The memory source compares bk_alloc_used() with the high watermark on
 * a 100 ms timer. It clears below 90% of the watermark: messages leave
 * in bursts (a consumer acking a batch), and without the gap a broker
 * sitting at the line would block and unblock its publishers on every
 * tick.
 *
 * The state is created on first use and hangs off broker->flow; the
 * watcher array is compacted only outside a notification, so a watcher
 * may unwatch itself (or another) while being called.
 */
#include "bk_int.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHECK_INTERVAL_MS 100
/* Clear at 90% of the high watermark (hysteresis). */
#define LOW_PERCENT 90

struct watcher {
	bk_alarm_fn fn;                 /* NULL: unwatched during a notification */
	void *arg;                      /* borrowed */
};

struct bk_flow {
	unsigned alarms;                /* BK_ALARM_* raised */
	uint64_t mem_high, mem_low;     /* bytes; mem_high 0 = no check */
	struct event *timer;            /* owned; persistent while mem_high > 0 */
	struct watcher *watchers;       /* owned array */
	uint32_t nwatchers, cap;
	uint32_t notifying;             /* nesting depth of notify() */
	bool holes;                     /* some watchers[].fn is NULL */
};

static struct bk_flow *
flow_get(struct bk_broker *b)
{
	if (b->flow == NULL)
		b->flow = bk_calloc(1, sizeof(*b->flow));
	return b->flow;
}

static const char *
alarm_name(unsigned alarm)
{
	switch (alarm) {
	case BK_ALARM_MEMORY: return "memory";
	case BK_ALARM_DISK:   return "disk";
	default:              return "unknown";
	}
}

/* "sluice@HOST", the node name the alarm lines carry (RabbitMQ's
 * "rabbit@HOST"). */
static const char *
node_name(char *buf, size_t cap)
{
	char host[128];

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(buf, cap, "sluice@%s", host);
	return buf;
}

static void
compact(struct bk_flow *f)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < f->nwatchers; i++)
		if (f->watchers[i].fn != NULL)
			f->watchers[k++] = f->watchers[i];
	f->nwatchers = k;
	f->holes = false;
}

static void
notify(struct bk_flow *f, unsigned alarms)
{
	/* Watchers added during the calls hear of the next change only. */
	uint32_t n = f->nwatchers;

	f->notifying++;
	for (uint32_t i = 0; i < n; i++) {
		struct watcher w = f->watchers[i];

		if (w.fn != NULL)
			w.fn(w.arg, alarms);
	}
	if (--f->notifying == 0 && f->holes)
		compact(f);
}

void
bk_alarm_set(struct bk_broker *b, unsigned alarm, bool on)
{
	struct bk_flow *f = flow_get(b);
	unsigned next = on ? f->alarms | alarm : f->alarms & ~alarm;
	char node[160];

	if (next == f->alarms)
		return;
	for (unsigned bit = 1; bit != 0 && bit <= alarm; bit <<= 1) {
		if (!(alarm & bit) || !((f->alarms ^ next) & bit))
			continue;
		if (on)
			bk_warn("%s resource limit alarm set on node %s: publishers "
				"will be blocked until this alarm clears",
				alarm_name(bit), node_name(node, sizeof(node)));
		else
			bk_warn("%s resource limit alarm cleared on node %s",
				alarm_name(bit), node_name(node, sizeof(node)));
	}
	f->alarms = next;
	notify(f, next);
}

unsigned
bk_alarms(const struct bk_broker *b)
{
	return b->flow ? b->flow->alarms : 0;
}

void
bk_alarm_watch(struct bk_broker *b, bk_alarm_fn fn, void *arg)
{
	struct bk_flow *f = flow_get(b);

	if (f->nwatchers == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 4;
		f->watchers = bk_realloc(f->watchers, f->cap * sizeof(*f->watchers));
	}
	f->watchers[f->nwatchers++] = (struct watcher){ fn, arg };
}

void
bk_alarm_unwatch(struct bk_broker *b, bk_alarm_fn fn, void *arg)
{
	struct bk_flow *f = b->flow;

	if (f == NULL)
		return;
	for (uint32_t i = 0; i < f->nwatchers; i++) {
		if (f->watchers[i].fn != fn || f->watchers[i].arg != arg)
			continue;
		f->watchers[i].fn = NULL;
		f->holes = true;
		break;
	}
	if (f->notifying == 0 && f->holes)
		compact(f);
}

static void
memory_check(struct bk_broker *b)
{
	struct bk_flow *f = b->flow;
	uint64_t used = bk_alloc_used();
	bool raised = (f->alarms & BK_ALARM_MEMORY) != 0;

	if (!raised && used > f->mem_high) {
		bk_warn("memory use %llu bytes is above the high watermark %llu",
			(unsigned long long)used, (unsigned long long)f->mem_high);
		bk_alarm_set(b, BK_ALARM_MEMORY, true);
	} else if (raised && used < f->mem_low) {
		bk_alarm_set(b, BK_ALARM_MEMORY, false);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct bk_broker *b = arg;

	(void)fd;
	(void)what;
	if (b->flow->mem_high > 0)
		memory_check(b);
}

void
bk_memory_watermark_set(struct bk_broker *b, uint64_t high_bytes)
{
	struct bk_flow *f = flow_get(b);
	struct timeval tv = { 0, CHECK_INTERVAL_MS * 1000 };

	f->mem_high = high_bytes;
	f->mem_low = high_bytes / 100 * LOW_PERCENT + high_bytes % 100 * LOW_PERCENT / 100;
	if (high_bytes == 0) {
		if (f->timer)
			event_del(f->timer);
		bk_alarm_set(b, BK_ALARM_MEMORY, false);
		return;
	}
	bk_info("memory high watermark set to %llu bytes",
		(unsigned long long)high_bytes);
	if (b->base == NULL)
		return;
	if (f->timer == NULL)
		f->timer = event_new(b->base, -1, EV_PERSIST, timer_cb, b);
	event_add(f->timer, &tv);
	/* Check now as well: a watermark below current use alarms at once. */
	memory_check(b);
}

uint64_t
bk_memory_watermark(struct bk_broker *b)
{
	return b->flow != NULL ? b->flow->mem_high : 0;
}

void
bk_flow_fini(struct bk_broker *b)
{
	struct bk_flow *f = b->flow;

	if (f == NULL)
		return;
	if (f->timer)
		event_free(f->timer);
	bk_free(f->watchers);
	BK_FREE(b->flow);
}
