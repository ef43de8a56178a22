/*
 * sl_config_file.c: sluice.conf, read line by line (sl_ini.c has the
 * syntax) into struct sl_config: keys through sl_config_apply(),
 * topology sections through sl_topology.c.
 *
 * A [section] header is checked when it is read, so an unknown or empty
 * section is reported at its own line even when no key follows it. Every
 * error names the file and line; only the first is kept, and reading
 * stops there.
 */
#include "sl_config_int.h"
#include "sl_ini.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest line and section name accepted: far above any real value, low
 * enough that a stray binary file is refused quickly. */
#define LINE_MAX_LEN    65535
#define SECTION_MAX_LEN 511

/* State of one file read. */
struct parse {
	struct sl_config *c;            /* borrowed */
	const char *path;               /* borrowed */
	int line;
	char *section;                  /* owned; "" before the first header */
	bool failed;                    /* err holds the first error */
	char *err;                      /* borrowed */
	size_t errlen;
};

static void
parse_fail(struct parse *p, const char *why)
{
	if (p->failed)
		return;
	p->failed = true;
	sl_errf(p->err, p->errlen, "%s:%d: %s", p->path, p->line, why);
}

/* A [section] header: check it and make it the current section. */
static void
on_header(struct parse *p, const char *section)
{
	const char *user;
	char why[600], where[320];

	if (strlen(section) > SECTION_MAX_LEN) {
		snprintf(why, sizeof(why), "section name too long (at most %d characters)",
			 SECTION_MAX_LEN);
		parse_fail(p, why);
		return;
	}
	free(p->section);
	p->section = strdup(section);
	if (p->section == NULL) {
		parse_fail(p, strerror(ENOMEM));
		return;
	}
	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(section) != SL_T_NONE) {
		/* [vhost], [permission], [exchange], [queue], [binding] */
		if (sl_topo_begin(&p->c->topo, section, where, why, sizeof(why)) < 0)
			parse_fail(p, why);
		return;
	}
	if (sl_config_section_classify(section, &user) == NULL) {
		if (strcmp(section, "user") == 0)
			snprintf(why, sizeof(why), "section [user] needs a name: [user NAME]");
		else
			snprintf(why, sizeof(why), "unknown section [%.*s]", 300, section);
		parse_fail(p, why);
		return;
	}
	if (user != NULL)
		sl_config_user_get(p->c, user, where);
}

static void
on_key(struct parse *p, const char *name, const char *value)
{
	char why[600], where[320];

	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(p->section) != SL_T_NONE) {
		if (sl_topo_key(&p->c->topo, p->section, name, value, why, sizeof(why)) < 0)
			parse_fail(p, why);
		return;
	}
	if (sl_config_apply(p->c, p->section, name, value, where, why, sizeof(why)) < 0)
		parse_fail(p, why);
}

static void
on_line(struct parse *p, char *buf, size_t n)
{
	struct sl_ini_line l;

	if (p->line == 1 && n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) {
		buf += 3;               /* UTF-8 byte order mark */
		n -= 3;
	}
	switch (sl_ini_parse(buf, n, &l)) {
	case SL_INI_BLANK:
		break;
	case SL_INI_SECTION:
		on_header(p, l.name);
		break;
	case SL_INI_KEY:
		on_key(p, l.key, l.value);
		break;
	case SL_INI_ERROR:
		parse_fail(p, l.why);
		break;
	}
}

int
sl_config_load_stream(struct sl_config *c, FILE *f, const char *path,
		      char *err, size_t errlen)
{
	struct parse p = { .c = c, .path = path, .err = err, .errlen = errlen };
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	p.section = strdup("");
	if (p.section == NULL)
		return -ENOMEM;
	while (!p.failed && (n = getline(&buf, &cap, f)) >= 0) {
		p.line++;
		if (n > LINE_MAX_LEN + 1 || (n == LINE_MAX_LEN + 1 && buf[n - 1] != '\n')) {
			char why[64];

			snprintf(why, sizeof(why), "line too long (at most %d characters)",
				 LINE_MAX_LEN);
			parse_fail(&p, why);
			break;
		}
		on_line(&p, buf, (size_t)n);
	}
	if (!p.failed && ferror(f)) {
		p.line++;
		parse_fail(&p, strerror(EIO));
	}
	free(buf);
	free(p.section);
	return p.failed ? -EINVAL : 0;
}

int
sl_config_load(struct sl_config *c, const char *path, char *err, size_t errlen)
{
	FILE *f;
	int res;

	if ((f = fopen(path, "r")) == NULL) {
		res = -errno;
		sl_errf(err, errlen, "%s: %s", path, strerror(-res));
		return res;
	}
	res = sl_config_load_stream(c, f, path, err, errlen);
	fclose(f);
	return res;
}
