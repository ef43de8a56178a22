/*
 * sl_config_file.c: sluice.conf, read through libinih into struct
 * sl_config (keys via sl_config_apply(), topology sections via
 * sl_topology.c).
 *
 * Line numbers. Debian's libinih is built without INI_HANDLER_LINENO, so
 * the handler is not told the line. We feed inih through our own reader
 * (ini_parse_stream) and count lines there: inih calls the handler for a
 * line before it asks for the next one, so the reader's count is the
 * handler's line. The reader also checks [section] headers as they pass,
 * so an unknown or empty section is reported at its own line even when
 * no key follows it (inih only calls the handler for key = value lines).
 *
 * inih reads at most 200 bytes per line and would split a longer line in
 * two; the reader refuses such a line instead of letting half of it
 * parse as something else.
 *
 * Only the first error is kept; after it the reader ends the stream.
 */
#include "sl_config_int.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* State of one ini_parse_stream() run. */
struct parse {
	struct sl_config *c;            /* borrowed */
	const char *path;               /* borrowed */
	FILE *f;                        /* borrowed */
	int line;                       /* line of the text last handed to inih */
	bool at_line_start;
	bool failed;                    /* err holds the first error */
	char *err;                      /* borrowed */
	size_t errlen;
};

static void
parse_fail(struct parse *p, int line, const char *why)
{
	if (p->failed)
		return;
	p->failed = true;
	sl_errf(p->err, p->errlen, "%s:%d: %s", p->path, line, why);
}

/* A [section] header passing through the reader: check it now. */
static void
check_header(struct parse *p, const char *s)
{
	const char *end = strchr(s, ']');
	const char *user;
	char section[50], why[160], where[320];
	size_t n;

	if (end == NULL)
		return;                 /* inih reports the syntax error */
	n = (size_t)(end - s - 1);
	/* inih keeps 50 bytes of a section name and cuts the rest silently. */
	if (n >= sizeof(section)) {
		parse_fail(p, p->line, "section name too long (at most 49 characters)");
		return;
	}
	memcpy(section, s + 1, n);
	section[n] = '\0';
	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(section) != SL_T_NONE) {
		/* [vhost], [permission], [exchange], [queue], [binding] */
		if (sl_topo_begin(&p->c->topo, section, where, why, sizeof(why)) < 0)
			parse_fail(p, p->line, why);
		return;
	}
	if (sl_config_section_classify(section, &user) == NULL) {
		if (strcmp(section, "user") == 0)
			snprintf(why, sizeof(why), "section [user] needs a name: [user NAME]");
		else
			snprintf(why, sizeof(why), "unknown section [%s]", section);
		parse_fail(p, p->line, why);
		return;
	}
	if (user != NULL)
		sl_config_user_get(p->c, user, where);
}

/* fgets for inih that counts lines, refuses long ones and checks headers. */
static char *
reader(char *buf, int size, void *arg)
{
	struct parse *p = arg;
	const char *s = buf;
	size_t n;
	int ch;

	if (p->failed || fgets(buf, size, p->f) == NULL)
		return NULL;
	if (p->at_line_start)
		p->line++;
	n = strlen(buf);
	p->at_line_start = n > 0 && buf[n - 1] == '\n';
	if (!p->at_line_start && (ch = getc(p->f)) != EOF) {
		ungetc(ch, p->f);
		parse_fail(p, p->line, "line too long (at most 197 characters)");
		return NULL;
	}
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;                 /* UTF-8 byte order mark */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[')
		check_header(p, s);
	return p->failed ? NULL : buf;
}

static int
handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parse *p = arg;
	char why[512], where[320];

	if (p->failed)
		return 0;
	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(section) != SL_T_NONE) {
		if (sl_topo_key(&p->c->topo, section, name, value, why, sizeof(why)) < 0) {
			parse_fail(p, p->line, why);
			return 0;
		}
		return 1;
	}
	if (sl_config_apply(p->c, section, name, value, where, why, sizeof(why)) < 0) {
		parse_fail(p, p->line, why);
		return 0;
	}
	return 1;
}

int
sl_config_load(struct sl_config *c, const char *path, char *err, size_t errlen)
{
	struct parse p = { .c = c, .path = path, .at_line_start = true,
			   .err = err, .errlen = errlen };
	int res;

	if ((p.f = fopen(path, "r")) == NULL) {
		res = -errno;
		sl_errf(err, errlen, "%s: %s", path, strerror(-res));
		return res;
	}
#ifdef SL_INIH_RUNTIME_OPTIONS
	/* Values are taken literally: a password may hold ';' or '#', and
	 * an indented line is a key of its own, not a continuation. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_stop_on_first_error = true;
#endif
	res = ini_parse_stream(reader, &p, handler, &p);
	if (!p.failed && ferror(p.f))
		parse_fail(&p, p.line, strerror(EIO));
	fclose(p.f);
	if (!p.failed && res > 0)
		parse_fail(&p, res, "syntax error: expected 'key = value' or '[section]'");
	else if (!p.failed && res < 0)
		sl_errf(err, errlen, "%s: %s", path, strerror(ENOMEM));
	return p.failed || res != 0 ? -EINVAL : 0;
}
