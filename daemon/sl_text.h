/*
 * sl_text.h: the words and error formatting shared by the daemon's text
 * inputs (sluice.conf keys, --set, topology sections).
 */
#ifndef SL_TEXT_H
#define SL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* vsnprintf into err (errlen > 0): err always ends up NUL-terminated. */
void sl_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * yes/true/on/1 or no/false/off/0, any case. true with *out set, or false
 * (and *out untouched) for any other word.
 */
bool sl_parse_bool(const char *s, bool *out);

/* A signed decimal integer, nothing else. true with *out set. */
bool sl_parse_int(const char *s, int64_t *out);

/*
 * A typed value's prefix: "int:5", "bool:true", "str:0042". Returns 'i',
 * 'b' or 's' and moves *value past the prefix, or returns dflt and leaves
 * *value alone when there is none.
 */
char sl_type_prefix(const char **value, char dflt);

#endif
