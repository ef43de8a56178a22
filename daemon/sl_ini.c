/*
 * sl_ini.c: the line syntax of sluice.conf (sl_ini.h).
 *
 * Why our own reader and not libinih: inih's behaviour depends on how it
 * was built. Debian builds it with inline comments on, so "password =
 * s3cret ;x" silently became "s3cret", with a 200-byte line buffer that
 * splits longer lines in two, and with continuation lines. A
 * configuration must mean the same thing on every machine, so the few
 * rules are written down here and nowhere else.
 */
#include "sl_ini.h"

#include <string.h>

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Trim s[0..n) in place; returns the start, NUL-terminates the end. */
static char *
trim(char *s, size_t n)
{
	while (n > 0 && is_blank(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_blank(s[n - 1]))
		n--;
	s[n] = '\0';
	return s;
}

static enum sl_ini_kind
error(struct sl_ini_line *out, const char *why)
{
	out->kind = SL_INI_ERROR;
	out->why = why;
	return out->kind;
}

static enum sl_ini_kind
section(char *s, size_t n, struct sl_ini_line *out)
{
	char *close = memchr(s, ']', n);
	char *rest;

	if (close == NULL)
		return error(out, "syntax error: expected 'key = value' or '[section]'");
	rest = trim(close + 1, n - (size_t)(close + 1 - s));
	if (*rest != '\0' && *rest != ';' && *rest != '#')
		return error(out, "syntax error: text after the section header");
	out->name = trim(s + 1, (size_t)(close - s - 1));
	if (*out->name == '\0')
		return error(out, "syntax error: empty section name");
	out->kind = SL_INI_SECTION;
	return out->kind;
}

enum sl_ini_kind
sl_ini_parse(char *line, size_t len, struct sl_ini_line *out)
{
	char *s, *sep;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (memchr(line, '\0', len) != NULL)
		return error(out, "syntax error: NUL byte in the line");
	s = trim(line, len);
	n = strlen(s);
	if (n == 0 || *s == ';' || *s == '#') {
		out->kind = SL_INI_BLANK;
		return out->kind;
	}
	if (*s == '[')
		return section(s, n, out);
	sep = s + strcspn(s, "=:");
	if (*sep == '\0')
		return error(out, "syntax error: expected 'key = value' or '[section]'");
	out->value = trim(sep + 1, (size_t)(s + n - sep - 1));
	out->key = trim(s, (size_t)(sep - s));
	if (*out->key == '\0')
		return error(out, "syntax error: a key needs a name");
	out->kind = SL_INI_KEY;
	return out->kind;
}
