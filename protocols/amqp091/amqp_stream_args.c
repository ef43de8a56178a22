/*
 * amqp_stream_args.c: basic.consume's stream arguments, as RabbitMQ's
 * AMQP 0-9-1 clients pass them, into the core's bk_consume_stream:
 *
 *   x-stream-offset            "first" | "last" | "next" | an integer offset
 *                              | a timestamp (AMQP 'T', seconds) | an
 *                              interval string "<n><Y|M|D|h|m|s>" (that
 *                              long ago, e.g. "1h")
 *   x-stream-filter            a string or an array of strings
 *   x-stream-match-unfiltered  bool
 *   x-stream-consumer-name     string (named consumer: stored offsets)
 *   x-single-active-consumer   bool (with a name: a consumer group)
 *
 * A value of the wrong kind fails the channel with PRECONDITION_FAILED
 * naming the argument. Pure: fills *o, borrowing strings from args.
 */
#include <stdio.h>
#include <string.h>

#include "amqp_channel_int.h"

static bool
is_str(const struct bk_value *v)
{
	return v->type == BK_V_LSTR || v->type == BK_V_BYTES;
}

/* "<n><unit>" into ms; false if s is not one. */
static bool
interval_ms(struct bk_str s, uint64_t *ms)
{
	static const char units[] = "YMDhms";
	static const uint64_t unit_ms[] = { 365ull * 86400000, 30ull * 86400000,
					    86400000, 3600000, 60000, 1000 };
	const char *u;
	uint64_t n = 0;

	if (s.len < 2 || s.len > 12)
		return false;
	for (uint32_t i = 0; i + 1 < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(s.p[i] - '0');
	}
	if ((u = memchr(units, s.p[s.len - 1], 6)) == NULL)
		return false;
	*ms = n * unit_ms[u - units];
	return true;
}

static bool
offset_arg(const struct bk_value *v, struct bk_consume_stream *o)
{
	uint64_t ms, now = bk_now_ms();
	int64_t i;

	if (v->type == BK_V_TIMESTAMP) {
		o->from = BK_SFROM_TIME;
		o->value = v->u.ts * 1000;
		return true;
	}
	if (bk_value_int(v, &i)) {
		o->from = BK_SFROM_OFFSET;
		o->value = i < 0 ? 0 : (uint64_t)i;
		return true;
	}
	if (!is_str(v))
		return false;
	if (bk_str_eq_c(v->u.s, "first"))
		o->from = BK_SFROM_FIRST;
	else if (bk_str_eq_c(v->u.s, "last"))
		o->from = BK_SFROM_LAST;
	else if (bk_str_eq_c(v->u.s, "next"))
		o->from = BK_SFROM_NEXT;
	else if (interval_ms(v->u.s, &ms)) {
		o->from = BK_SFROM_TIME;
		o->value = ms > now ? 0 : now - ms;
	} else
		return false;
	return true;
}

static bool
filter_arg(const struct bk_value *v, struct bk_consume_stream *o, struct bk_str *buf,
	   uint32_t max)
{
	struct bk_value e;
	uint32_t pos = 0;

	if (is_str(v)) {
		buf[0] = v->u.s;
		o->nfilters = 1;
		o->filters = buf;
		return true;
	}
	if (v->type != BK_V_ARRAY)
		return false;
	o->nfilters = 0;
	while (bk_array_next(v->u.a, &pos, &e) == 1) {
		if (!is_str(&e) || o->nfilters == max)
			return false;
		buf[o->nfilters++] = e.u.s;
	}
	o->filters = buf;
	return true;
}

const char *
amqp_stream_args_parse(struct bk_table args, struct bk_consume_stream *o,
		       struct bk_str *filters, uint32_t max_filters)
{
	struct bk_value v;

	memset(o, 0, sizeof(*o));
	if (args.len == 0)
		return NULL;
	if (bk_table_get(args, "x-stream-offset", &v) && !offset_arg(&v, o))
		return "x-stream-offset";
	if (bk_table_get(args, "x-stream-filter", &v) && !filter_arg(&v, o, filters, max_filters))
		return "x-stream-filter";
	if (bk_table_get(args, "x-stream-match-unfiltered", &v)) {
		if (v.type != BK_V_BOOL)
			return "x-stream-match-unfiltered";
		o->match_unfiltered = v.u.b;
	}
	if (bk_table_get(args, "x-stream-consumer-name", &v)) {
		if (!is_str(&v) || v.u.s.len == 0 || v.u.s.len > 255 ||
		    memchr(v.u.s.p, 0, v.u.s.len) != NULL)
			return "x-stream-consumer-name";
		o->name = v.u.s;
	}
	if (bk_table_get(args, "x-single-active-consumer", &v)) {
		if (v.type != BK_V_BOOL)
			return "x-single-active-consumer";
		o->single_active = v.u.b;
	}
	return NULL;
}
