/* export_definitions and import_definitions: RabbitMQ's definitions JSON
 * (users, vhosts, permissions, queues, exchanges, bindings, ...) moved
 * between a file (or "-" for stdout/stdin) and GET/POST /api/definitions.
 * An import file is checked to be a JSON object before anything is sent, so
 * a bad file fails with EX_DATAERR and changes nothing. */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFS_MAX (256u << 20)

static int
cmd_export_definitions(struct ctl_opts *o)
{
	const char *file = o->args[0];
	bool to_stdout = strcmp(file, "-") == 0;
	cJSON *defs = NULL;
	char *text;
	FILE *f;
	int code;

	if (!to_stdout)
		ctl_info(o, "Exporting definitions in JSON to a file at \"%s\" ...", file);
	if ((code = ctl_api(o, "GET", "/api/definitions", NULL, &defs, NULL, 0)) != 0)
		return code;
	text = cJSON_PrintUnformatted(defs);
	cJSON_Delete(defs);
	if (!text)
		return ctl_fail(CTL_EX_SOFTWARE, "the management API answered "
		                "/api/definitions with no definitions");
	f = to_stdout ? stdout : fopen(file, "w");
	if (!f) {
		code = ctl_fail(CTL_EX_DATAERR, "cannot write \"%s\": %s", file,
		                strerror(errno));
		goto out;
	}
	fputs(text, f);
	fputc('\n', f);
	if ((to_stdout ? fflush(f) : fclose(f)) != 0)
		code = ctl_fail(CTL_EX_DATAERR, "cannot write \"%s\": %s", file,
		                strerror(errno));
out:
	free(text);
	return code;
}

/* Reads all of <f> (bounded by DEFS_MAX); NULL on error or overflow. */
static char *
slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap + 1), *nb;

	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			if (cap >= DEFS_MAX) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			if (!(nb = realloc(buf, cap + 1)))
				free(buf);
			buf = nb;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	if (buf)
		buf[n] = '\0';
	*len = n;
	return buf;
}

static int
cmd_import_definitions(struct ctl_opts *o)
{
	const char *file = o->args[0];
	bool from_stdin = strcmp(file, "-") == 0;
	cJSON *defs;
	FILE *f;
	size_t len = 0;
	char *text;
	int code;

	if (!from_stdin)
		ctl_info(o, "Importing definitions in JSON from a file at \"%s\" ...", file);
	else
		ctl_info(o, "Importing definitions in JSON from standard input ...");
	f = from_stdin ? stdin : fopen(file, "r");
	if (!f)
		return ctl_fail(CTL_EX_DATAERR, "cannot read \"%s\": %s", file,
		                strerror(errno));
	text = slurp(f, &len);
	if (!from_stdin)
		fclose(f);
	if (!text)
		return ctl_fail(CTL_EX_DATAERR, "cannot read \"%s\": %s", file,
		                strerror(errno));
	defs = cJSON_ParseWithLength(text, len);
	free(text);
	if (!cJSON_IsObject(defs)) {
		cJSON_Delete(defs);
		return ctl_fail(CTL_EX_DATAERR, "\"%s\" is not a JSON definitions "
		                "object", file);
	}
	code = ctl_api(o, "POST", "/api/definitions", defs, NULL, NULL, 0);
	cJSON_Delete(defs);
	return code;
}

const struct ctl_cmd ctl_cmds_defs[] = {
	{ "export_definitions", cmd_export_definitions, 1, 1, "<file> | -" },
	{ "import_definitions", cmd_import_definitions, 1, 1, "<file> | -" },
	{ NULL, NULL, 0, 0, NULL }
};
