/*
 * sl_text.h: the words and error formatting shared by the daemon's text
 * inputs (sluice.conf keys, --set, topology sections).
 */
#ifndef SL_TEXT_H
#define SL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* vsnprintf into err (errlen > 0): err always ends up NUL-terminated. */
void sl_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * yes/true/on/1 or no/false/off/0, any case. true with *out set, or false
 * (and *out untouched) for any other word.
 */
bool sl_parse_bool(const char *s, bool *out);

#endif
