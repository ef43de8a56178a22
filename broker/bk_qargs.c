/*
 * bk_qargs.c: queue x-arguments, parsed once at declare into a typed
 * struct, and the redeclare equivalence check.
 *
 * Validation follows RabbitMQ's queue argument checks, in its order, and
 * words errors as it does: "invalid arg 'x-max-length' for queue 'q' in
 * vhost '/': {value_negative,-1}" (the part after the colon is the Erlang
 * term RabbitMQ prints). Unknown x-arguments are accepted and ignored.
 *
 * x-queue-type: "classic" and "quorum" are accepted; a quorum queue here is
 * a classic queue (same semantics for every feature this broker supports,
 * x-delivery-limit included), which lets clients that declare quorum
 * queues run unchanged. "stream" makes a stream queue: its own arguments
 * and refusals are in bk_stream_args.c.
 *
 * Pure: no calls out of this file except the table reader.
 */
#include "bk_queueing.h"

#include <stdio.h>
#include <string.h>

#define MAX_EXPIRY_MS 315360000000LL    /* ten years, RabbitMQ's bound */

static bool
is_str(const struct bk_value *v)
{
	return v->type == BK_V_LSTR || v->type == BK_V_BYTES;
}

/* Each check writes the Erlang error term into why, or returns true. */
static bool
int_arg(const struct bk_value *v, int64_t *out, char *why, size_t n)
{
	if (v->type == BK_V_TIMESTAMP || !bk_value_int(v, out)) {
		snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
		return false;
	}
	return true;
}

static bool
non_neg_arg(const struct bk_value *v, int64_t *out, char *why, size_t n)
{
	if (!int_arg(v, out, why, n))
		return false;
	if (*out < 0) {
		snprintf(why, n, "{value_negative,%lld}", (long long)*out);
		return false;
	}
	return true;
}

static bool
expiry_arg(const struct bk_value *v, int64_t *out, bool zero_ok, char *why, size_t n)
{
	if (!int_arg(v, out, why, n))
		return false;
	if (!zero_ok && *out == 0)
		snprintf(why, n, "{value_zero,0}");
	else if (*out < 0)
		snprintf(why, n, "{value_negative,%lld}", (long long)*out);
	else if (*out > MAX_EXPIRY_MS)
		snprintf(why, n, "{value_too_large,%lld}", (long long)*out);
	else
		return true;
	return false;
}

/* RabbitMQ words a non-string where a name is expected differently from
 * other bad values ("invalid type 'signedint' for arg ..."): the leading
 * TYPE_MARK tells bk_qargs_parse to use that form. */
#define TYPE_MARK '\x01'

/*
 * A name or key: a string of at most BK_SHORTSTR_MAX octets, since it
 * becomes an exchange name or routing key that AMQP 0-9-1 clients receive
 * as a short string (a longer dead-letter routing key could never be
 * delivered to them). The length is RabbitMQ-style {value_too_long,N}.
 */
static bool
str_arg(const struct bk_value *v, char **out, char *why, size_t n)
{
	if (!is_str(v)) {
		snprintf(why, n, "%c%s", TYPE_MARK, bk_vtype_name(v->type));
		return false;
	}
	if (!bk_str_is_short(v->u.s)) {
		snprintf(why, n, "{value_too_long,%u}", v->u.s.len);
		return false;
	}
	*out = bk_strndup(v->u.s.p ? v->u.s.p : "", v->u.s.len);
	return true;
}

static bool
overflow_arg(const struct bk_value *v, enum bk_overflow *out, char *why, size_t n)
{
	if (!is_str(v)) {
		snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
		return false;
	}
	if (bk_str_eq_c(v->u.s, "drop-head"))
		*out = BK_OVERFLOW_DROP_HEAD;
	else if (bk_str_eq_c(v->u.s, "reject-publish"))
		*out = BK_OVERFLOW_REJECT_PUBLISH;
	else if (bk_str_eq_c(v->u.s, "reject-publish-dlx"))
		*out = BK_OVERFLOW_REJECT_PUBLISH_DLX;
	else {
		snprintf(why, n, "invalid_overflow_value");
		return false;
	}
	return true;
}

static bool
qtype_arg(const struct bk_value *v, enum bk_qtype *out, char *why, size_t n)
{
	if (!is_str(v)) {
		snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
		return false;
	}
	if (bk_str_eq_c(v->u.s, "classic"))
		*out = BK_QTYPE_CLASSIC;
	else if (bk_str_eq_c(v->u.s, "quorum"))
		*out = BK_QTYPE_QUORUM;
	else if (bk_str_eq_c(v->u.s, "stream"))
		*out = BK_QTYPE_STREAM;
	else {
		snprintf(why, n, "{unsupported_queue_type,<<\"%.*s\">>}",
			 (int)(v->u.s.len > 64 ? 64 : v->u.s.len), v->u.s.p);
		return false;
	}
	return true;
}

/* One argument; false with why set when invalid. */
static bool
parse_one(struct bk_qargs *a, struct bk_table t, const char *key,
	  const struct bk_value *v, char *why, size_t n)
{
	int64_t i;

	if (!strcmp(key, "x-expires"))
		return expiry_arg(v, &a->expires, false, why, n);
	if (!strcmp(key, "x-message-ttl"))
		return expiry_arg(v, &a->message_ttl, true, why, n);
	if (!strcmp(key, "x-dead-letter-exchange")) {
		a->has_dlx = str_arg(v, &a->dlx, why, n);
		return a->has_dlx;
	}
	if (!strcmp(key, "x-dead-letter-routing-key")) {
		struct bk_value x;

		if (!str_arg(v, &a->dlrk, why, n))
			return false;
		if (bk_table_get(t, "x-dead-letter-exchange", &x))
			return true;
		snprintf(why, n, "routing_key_but_no_dlx_defined");
		return false;
	}
	if (!strcmp(key, "x-max-length"))
		return non_neg_arg(v, &a->max_length, why, n);
	if (!strcmp(key, "x-max-length-bytes"))
		return non_neg_arg(v, &a->max_length_bytes, why, n);
	if (!strcmp(key, "x-delivery-limit"))
		return non_neg_arg(v, &a->delivery_limit, why, n);
	if (!strcmp(key, "x-max-priority")) {
		if (!non_neg_arg(v, &i, why, n))
			return false;
		if (i > 255) {
			snprintf(why, n, "{max_value_exceeded,%lld}", (long long)i);
			return false;
		}
		a->max_priority = (uint8_t)i;
		return true;
	}
	if (!strcmp(key, "x-overflow"))
		return (a->has_overflow = overflow_arg(v, &a->overflow, why, n));
	if (!strcmp(key, "x-single-active-consumer")) {
		if (v->type != BK_V_BOOL) {
			snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
			return false;
		}
		a->single_active = v->u.b;
		return true;
	}
	if (!strcmp(key, "x-queue-type"))
		return qtype_arg(v, &a->type, why, n);
	if (!strcmp(key, "x-message-deduplication")) {
		if (v->type != BK_V_BOOL) {
			snprintf(why, n, "{unacceptable_type,%s}", bk_vtype_name(v->type));
			return false;
		}
		a->dedup = v->u.b;
		return true;
	}
	return bk_stream_arg(a, key, v, why, n);
}

/* RabbitMQ's check order; also the keys compared on redeclare. */
static const char *const known[] = {
	"x-expires", "x-message-ttl", "x-dead-letter-exchange",
	"x-dead-letter-routing-key", "x-max-length", "x-max-length-bytes",
	"x-max-priority", "x-overflow", "x-single-active-consumer",
	"x-queue-type", "x-delivery-limit", "x-max-age",
	"x-stream-max-segment-size-bytes", "x-stream-filter-size-bytes",
	"x-message-deduplication", "x-stream-compaction-key",
};

enum bk_status
bk_qargs_parse(struct bk_qargs *a, struct bk_table t, const char *qname,
	       const char *vhname, struct bk_err *err)
{
	char why[128];
	size_t k;

	memset(a, 0, sizeof(*a));
	a->message_ttl = a->max_length = a->max_length_bytes = -1;
	a->delivery_limit = -1;
	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		struct bk_value v;

		if (!bk_table_get(t, known[k], &v))
			continue;
		if (!parse_one(a, t, known[k], &v, why, sizeof(why))) {
			bk_qargs_fini(a);
			if (why[0] == TYPE_MARK)
				return bk_err_set(err, BK_PRECONDITION_FAILED,
						  "invalid type '%s' for arg '%s' in queue '%s' in vhost '%s'",
						  why + 1, known[k], qname, vhname);
			return bk_err_set(err, BK_PRECONDITION_FAILED,
					  "invalid arg '%s' for queue '%s' in vhost '%s': %s",
					  known[k], qname, vhname, why);
		}
	}
	return BK_OK;
}

void
bk_qargs_fini(struct bk_qargs *a)
{
	BK_FREE(a->dlx);
	BK_FREE(a->dlrk);
	BK_FREE(a->compaction_key);
	a->has_dlx = false;
}

/* ---- equivalence ---- */

static bool
same_value(const struct bk_value *a, const struct bk_value *b)
{
	int64_t x, y;

	if (a->type != BK_V_TIMESTAMP && b->type != BK_V_TIMESTAMP &&
	    bk_value_int(a, &x) && bk_value_int(b, &y))
		return x == y;
	if (is_str(a) && is_str(b))
		return bk_str_eq(a->u.s, b->u.s);
	if (a->type == BK_V_BOOL && b->type == BK_V_BOOL)
		return a->u.b == b->u.b;
	return false;
}

static void
describe(const struct bk_value *v, bool found, char *out, size_t n)
{
	int64_t i;

	if (!found)
		snprintf(out, n, "none");
	else if (v->type != BK_V_TIMESTAMP && bk_value_int(v, &i))
		snprintf(out, n, "the value '%lld' of type '%s'", (long long)i,
			 bk_vtype_name(v->type));
	else if (is_str(v))
		snprintf(out, n, "the value '%.*s' of type '%s'",
			 (int)(v->u.s.len > 64 ? 64 : v->u.s.len), v->u.s.p,
			 bk_vtype_name(v->type));
	else if (v->type == BK_V_BOOL)
		snprintf(out, n, "the value '%s' of type 'bool'", v->u.b ? "true" : "false");
	else
		snprintf(out, n, "a value of type '%s'", bk_vtype_name(v->type));
}

enum bk_status
bk_qargs_equivalent(struct bk_table cur, struct bk_table got, const char *qname,
		    const char *vhname, struct bk_err *err)
{
	char a[100], b[100];
	size_t k;

	for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		struct bk_value vc, vg;
		bool hc = bk_table_get(cur, known[k], &vc);
		bool hg = bk_table_get(got, known[k], &vg);

		if (!hc && !hg)
			continue;
		if (hc && hg && same_value(&vc, &vg))
			continue;
		/* an absent x-queue-type means the default, classic */
		if (!strcmp(known[k], "x-queue-type") &&
		    ((hc && !hg && is_str(&vc) && bk_str_eq_c(vc.u.s, "classic")) ||
		     (hg && !hc && is_str(&vg) && bk_str_eq_c(vg.u.s, "classic"))))
			continue;
		describe(&vg, hg, a, sizeof(a));
		describe(&vc, hc, b, sizeof(b));
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "inequivalent arg '%s' for queue '%s' in vhost '%s': "
				  "received %s but current is %s",
				  known[k], qname, vhname, a, b);
	}
	return BK_OK;
}
