/*
 * bk_stream_args.c: what a stream queue's declaration may say, checked
 * as RabbitMQ 3.13 checks it, with its words:
 *
 *   durable=false      PRECONDITION_FAILED "invalid property 'non-durable'
 *                      for queue 's' in vhost '/'"
 *   exclusive          ... 'exclusive-owner' ...
 *   auto_delete        ... 'auto-delete' ...
 *   classic-only args  "invalid arg 'x-max-length' for queue 's' in vhost
 *                      '/' of queue type rabbit_stream_queue"
 *   non-integer size   "invalid arg 'x-max-length-bytes' for queue 's' in
 *                      vhost '/': \"expected integer, got longstr\""
 *   x-max-age          a string: a positive integer and one unit of Y M D
 *                      h m s ("7D", "12h"); anything else
 *                      "... 'x-max-age' ...: invalid_max_age", a
 *                      non-string {unacceptable_type,signedint}
 *
 * Pure: no state, called from bk_qargs.c and bk_queue_decl.c.
 */
#include "bk_queueing.h"

#include <stdio.h>
#include <string.h>

/* Arguments a stream refuses (classic and quorum queue features). */
static const char *const refused[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange",
	"x-dead-letter-routing-key", "x-max-length", "x-max-priority",
	"x-overflow", "x-single-active-consumer", "x-delivery-limit",
	"x-queue-mode", "x-queue-master-locator", "x-quorum-initial-group-size",
};

/* "7D" and friends in ms; false if s is not one. */
static bool
parse_age(struct bk_str s, int64_t *ms)
{
	static const struct { char u; int64_t ms; } units[] = {
		{ 'Y', 365LL * 86400000 }, { 'M', 30LL * 86400000 },
		{ 'D', 86400000 }, { 'h', 3600000 }, { 'm', 60000 }, { 's', 1000 },
	};
	int64_t n = 0;
	uint32_t i;

	if (s.len < 2 || s.len > 12)
		return false;
	for (i = 0; i + 1 < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		n = n * 10 + (s.p[i] - '0');
	}
	if (n <= 0)
		return false;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (s.p[s.len - 1] == units[i].u) {
			*ms = n * units[i].ms;
			return true;
		}
	return false;
}

bool
bk_stream_age_parse(struct bk_str s, int64_t *ms)
{
	return parse_age(s, ms);
}

static bool
size_arg(const struct bk_value *v, int64_t *out, char *why, size_t n)
{
	if (v->type == BK_V_TIMESTAMP || !bk_value_int(v, out)) {
		snprintf(why, n, "\"expected integer, got %s\"", bk_vtype_name(v->type));
		return false;
	}
	if (*out < 0) {
		snprintf(why, n, "{value_negative,%lld}", (long long)*out);
		return false;
	}
	return true;
}

bool
bk_stream_arg(struct bk_qargs *a, const char *key, const struct bk_value *v,
	      char *why, size_t n)
{
	if (!strcmp(key, "x-max-age")) {
		if (v->type != BK_V_LSTR && v->type != BK_V_BYTES) {
			snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
			return false;
		}
		if (!parse_age(v->u.s, &a->max_age_ms)) {
			snprintf(why, n, "invalid_max_age");
			return false;
		}
		return true;
	}
	if (!strcmp(key, "x-stream-compaction-key")) {
		if ((v->type != BK_V_LSTR && v->type != BK_V_BYTES) || v->u.s.len == 0 ||
		    v->u.s.len > 255 || memchr(v->u.s.p, 0, v->u.s.len) != NULL) {
			snprintf(why, n, "{invalid_compaction_key,%s}", bk_vtype_name(v->type));
			return false;
		}
		a->compaction_key = bk_strndup(v->u.s.p, v->u.s.len);
		return true;
	}
	if (!strcmp(key, "x-stream-max-segment-size-bytes"))
		return size_arg(v, &a->max_segment_bytes, why, n);
	if (!strcmp(key, "x-stream-filter-size-bytes")) {
		if (!size_arg(v, &a->filter_size, why, n))
			return false;
		if (a->filter_size < 16 || a->filter_size > 255) {
			snprintf(why, n, "{value_out_of_range,%lld,16,255}",
				 (long long)a->filter_size);
			return false;
		}
	}
	return true;
}

static bool
is_stream(struct bk_table t)
{
	struct bk_value v;

	return bk_table_get(t, "x-queue-type", &v) &&
	       (v.type == BK_V_LSTR || v.type == BK_V_BYTES) &&
	       bk_str_eq_c(v.u.s, "stream");
}

enum bk_status
bk_stream_decl_check(const struct bk_queue_decl *d, const char *qname,
		     const char *vhname, struct bk_err *err)
{
	const char *prop = NULL;
	struct bk_value v;
	char why[96];
	int64_t i;
	size_t k;

	if (!is_stream(d->arguments))
		return BK_OK;
	if (!d->durable)
		prop = "non-durable";
	else if (d->exclusive)
		prop = "exclusive-owner";
	else if (d->auto_delete)
		prop = "auto-delete";
	if (prop != NULL)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "invalid property '%s' for queue '%s' in vhost '%s'",
				  prop, qname, vhname);
	for (k = 0; k < sizeof(refused) / sizeof(refused[0]); k++)
		if (bk_table_get(d->arguments, refused[k], &v))
			return bk_err_set(err, BK_PRECONDITION_FAILED,
					  "invalid arg '%s' for queue '%s' in vhost '%s' "
					  "of queue type rabbit_stream_queue",
					  refused[k], qname, vhname);
	if (bk_table_get(d->arguments, "x-max-length-bytes", &v) &&
	    !size_arg(&v, &i, why, sizeof(why)))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "invalid arg 'x-max-length-bytes' for queue '%s' in vhost '%s': %s",
				  qname, vhname, why);
	return BK_OK;
}
