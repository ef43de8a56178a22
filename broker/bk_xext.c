/*
 * bk_xext.c: declaring the plugin exchange types, with the arguments and
 * error texts of the RabbitMQ plugins users know:
 *
 *   x-consistent-hash        hash-header (a header name) or hash-property
 *                            (message_id, correlation_id, timestamp), not both
 *   x-message-deduplication  x-cache-size (required, > 0), x-cache-ttl (ms,
 *                            > 0), x-cache-persistence (memory | disk)
 *   x-delayed-message        x-delayed-type: direct, fanout, topic, headers
 *
 * and the per-type state's life (init when the exchange is made, free
 * when it goes).
 */
#include "bk_xext.h"

#include <string.h>

static bool
is_str(const struct bk_value *v)
{
	return v->type == BK_V_LSTR || v->type == BK_V_BYTES;
}

/* An integer > 0, as a number or a decimal string (the plugin takes both). */
static bool
positive(const struct bk_value *v)
{
	int64_t i = 0;

	if (is_str(v)) {
		if (v->u.s.len == 0 || v->u.s.len > 18)
			return false;
		for (uint32_t k = 0; k < v->u.s.len; k++) {
			if (v->u.s.p[k] < '0' || v->u.s.p[k] > '9')
				return false;
			i = i * 10 + (v->u.s.p[k] - '0');
		}
		return i > 0;
	}
	return v->type != BK_V_TIMESTAMP && bk_value_int(v, &i) && i > 0;
}

static enum bk_status
validate_dedup(struct bk_table a, struct bk_err *err)
{
	struct bk_value v;

	if (!bk_table_get(a, "x-cache-size", &v) || !positive(&v))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Missing or invalid argument, "
				  "'x-cache-size' must be an integer greater than 0");
	if (bk_table_get(a, "x-cache-ttl", &v) && !positive(&v))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument, "
				  "'x-cache-ttl' must be an integer greater than 0");
	if (bk_table_get(a, "x-cache-persistence", &v) &&
	    (!is_str(&v) || (!bk_str_eq_c(v.u.s, "disk") && !bk_str_eq_c(v.u.s, "memory"))))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument, "
				  "'x-cache-persistence' must be either 'disk' or 'memory'");
	return BK_OK;
}

static enum bk_status
validate_delayed(struct bk_table a, struct bk_err *err)
{
	static const char *const ok[] = { "direct", "fanout", "topic", "headers" };
	struct bk_value v;

	if (!bk_table_get(a, "x-delayed-type", &v) || !is_str(&v))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument, "
				  "'x-delayed-type' must be an existing exchange type");
	if (bk_str_eq_c(v.u.s, "x-delayed-message"))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument, "
				  "'x-delayed-message' can't be used for 'x-delayed-type'");
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (bk_str_eq_c(v.u.s, ok[i]))
			return BK_OK;
	return bk_err_set(err, BK_PRECONDITION_FAILED, "unknown exchange type '%.*s'",
			  (int)(v.u.s.len > 64 ? 64 : v.u.s.len), v.u.s.p);
}

static enum bk_status
validate_chash(struct bk_table a, struct bk_err *err)
{
	struct bk_value h, p;
	bool hh = bk_table_get(a, "hash-header", &h);
	bool hp = bk_table_get(a, "hash-property", &p);

	if (hh && hp)
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid arguments: "
				  "hash-header and hash-property are mutually exclusive");
	if (hh && (!is_str(&h) || h.u.s.len == 0 || h.u.s.len > 255))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument: "
				  "hash-header must be a non-empty string");
	if (hp && (!is_str(&p) || (!bk_str_eq_c(p.u.s, "message_id") &&
				    !bk_str_eq_c(p.u.s, "correlation_id") &&
				    !bk_str_eq_c(p.u.s, "timestamp"))))
		return bk_err_set(err, BK_PRECONDITION_FAILED, "Invalid argument: "
				  "hash-property must be one of message_id, correlation_id, "
				  "timestamp");
	return BK_OK;
}

enum bk_status
bk_xext_validate(const struct bk_exchange_decl *d, struct bk_err *err)
{
	if (bk_str_eq_c(d->type, "x-message-deduplication"))
		return validate_dedup(d->arguments, err);
	if (bk_str_eq_c(d->type, "x-delayed-message"))
		return validate_delayed(d->arguments, err);
	if (bk_str_eq_c(d->type, "x-consistent-hash"))
		return validate_chash(d->arguments, err);
	return BK_OK;
}

void
bk_xext_init(struct bk_exchange *x)
{
	struct bk_table a = { x->args, x->args_len };
	struct bk_value v;

	if (x->type < BK_X_CHASH)
		return;
	x->ext = bk_calloc(1, sizeof(*x->ext));
	switch (x->type) {
	case BK_X_CHASH:
		bk_chash_init(x, a);
		break;
	case BK_X_DEDUP:
		x->route = BK_X_FANOUT;
		bk_dedup_exchange_init(x, a);
		break;
	case BK_X_DELAYED:
		x->route = BK_X_DIRECT;
		if (bk_table_get(a, "x-delayed-type", &v) && is_str(&v)) {
			if (bk_str_eq_c(v.u.s, "fanout"))
				x->route = BK_X_FANOUT;
			else if (bk_str_eq_c(v.u.s, "topic"))
				x->route = BK_X_TOPIC;
			else if (bk_str_eq_c(v.u.s, "headers"))
				x->route = BK_X_HEADERS;
		}
		bk_delayed_init(x);
		break;
	default:
		break;
	}
}

void
bk_xext_free(struct bk_exchange *x)
{
	struct bk_xext *e = x->ext;

	if (e == NULL)
		return;
	bk_chash_fini(e);
	bk_dedup_cache_free(e->dedup);
	bk_delayed_exchange_gone(x);
	bk_free(e);
	x->ext = NULL;
}

void
bk_xext_bindings_changed(struct bk_exchange *x, const struct bk_binding *b, bool added)
{
	if (x->ext != NULL && x->type == BK_X_CHASH)
		bk_chash_bindings_changed(x, b, added);
}
