/*
 * sl_text.c: the words and error formatting shared by the daemon's text
 * inputs, so the config keys (sl_config_keys.c) and the topology sections
 * (sl_topology.c) accept the same booleans and word their errors alike.
 * Pure: no state, no allocation, re-enters nothing.
 */
#include "sl_text.h"

#include <stdarg.h>
#include <stdio.h>
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
