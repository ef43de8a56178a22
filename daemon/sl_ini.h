/*
 * sl_ini.h: one line of sluice.conf, parsed in place. Pure: no I/O, no
 * allocation, so the fuzz target and the unit tests drive it directly.
 *
 * The format, exactly:
 *   - leading and trailing blanks (space, tab, CR) are ignored;
 *   - an empty line, or one whose first non-blank character is ';' or
 *     '#', is a comment;
 *   - "[NAME]" opens a section (blanks inside the brackets are trimmed;
 *     a ';' or '#' comment may follow the closing bracket);
 *   - "KEY = VALUE" (or "KEY: VALUE") sets a key: the separator is the
 *     first '=' or ':'; KEY and VALUE are trimmed, and VALUE is taken
 *     whole, so a password may hold ';', '#', '=' or ':'. There are no
 *     inline comments, no quoting and no continuation lines.
 * Anything else, and a line holding a NUL byte, is a syntax error.
 */
#ifndef SL_INI_H
#define SL_INI_H

#include <stddef.h>

enum sl_ini_kind {
	SL_INI_BLANK,           /* empty or a comment */
	SL_INI_SECTION,         /* name */
	SL_INI_KEY,             /* key, value */
	SL_INI_ERROR,           /* why */
};

struct sl_ini_line {
	enum sl_ini_kind kind;
	char *name;             /* section name, in the line's buffer */
	char *key, *value;      /* in the line's buffer */
	const char *why;        /* static text */
};

/*
 * Parse line[0..len) (no terminating newline needed; a trailing "\n" or
 * "\r\n" is ignored). The buffer must have room for one more byte: names,
 * keys and values are NUL-terminated inside it. Returns out->kind.
 */
enum sl_ini_kind sl_ini_parse(char *line, size_t len, struct sl_ini_line *out);

#endif
