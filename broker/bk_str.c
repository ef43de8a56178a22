/*
 * bk_str.c: small helpers every core file uses: error filling, counted
 * strings and the clock. Kept apart from bk_broker.c so that modules like
 * the headers matcher link without the whole broker.
 */
#include "bk_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum bk_status
bk_err_set(struct bk_err *err, enum bk_status status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return status;
	err->status = status;
	err->permission = false;
	err->quota = false;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return status;
}

struct bk_str
bk_str_c(const char *s)
{
	if (s == NULL)
		return (struct bk_str){ NULL, 0 };
	return (struct bk_str){ s, (uint32_t)strlen(s) };
}

bool
bk_str_eq(struct bk_str a, struct bk_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
bk_str_eq_c(struct bk_str a, const char *c)
{
	return bk_str_eq(a, bk_str_c(c));
}

enum bk_status
bk_name_check(const char *kind, struct bk_str name, const char *vhost,
	      struct bk_err *err)
{
	if (strcmp(kind, "exchange") == 0 && !bk_str_is_short(name))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "%s name '%.64s...' in vhost '%s' is %u bytes long; "
				  "the limit is %d", kind, name.p, vhost, name.len,
				  BK_SHORTSTR_MAX);
	if (name.len > 0 && memchr(name.p, '\0', name.len) != NULL)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "%s name '%.*s' in vhost '%s' contains a NUL byte",
				  kind, (int)strnlen(name.p, name.len), name.p, vhost);
	return BK_OK;
}
