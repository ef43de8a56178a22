/*
 * sl_text.c: the words and error formatting shared by the daemon's text
 * inputs, so the config keys (sl_config_keys.c) and the topology sections
 * (sl_topology.c) accept the same booleans and word their errors alike.
 * Pure: no state, no allocation, re-enters nothing.
 */
#include "sl_text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
sl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

bool
sl_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

bool
sl_parse_int(const char *s, int64_t *out)
{
	long long v;
	char *end;

	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

char
sl_type_prefix(const char **value, char dflt)
{
	if (strncmp(*value, "int:", 4) == 0 || strncmp(*value, "str:", 4) == 0) {
		dflt = (*value)[0];
		*value += 4;
	} else if (strncmp(*value, "bool:", 5) == 0) {
		dflt = 'b';
		*value += 5;
	}
	return dflt;
}
