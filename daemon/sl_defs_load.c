/*
 * sl_defs_load.c: load_definitions = FILE, a RabbitMQ definitions document
 * (what `rabbitmqctl export_definitions` and GET /api/definitions write).
 *
 * This file only reads the file and parses the JSON (malformed JSON names
 * the line and column where parsing stopped); the document itself is
 * checked by the core's reader (bk_defs_parse) into a plan that
 * sl_topology_apply.c hands to bk_defs_apply, kind by kind, before the
 * file's own sections of the same kind. Every refusal names the file and
 * the JSON path of the value:
 *   defs.json: queues[3].arguments.x-max-length: expected an integer
 */
#include "sl_topology.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#define MAX_FILE (256u << 20)           /* larger than any sane export */

/* The whole file into a NUL-terminated buffer (owned). 0 or -errno. */
static int
read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;
	size_t n;
	int rc;

	if (f == NULL)
		return -errno;
	rc = 0;
	if (fstat(fileno(f), &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	else if ((uint64_t)st.st_size > MAX_FILE)
		rc = -EFBIG;
	if (rc < 0) {
		fclose(f);
		return rc;
	}
	buf = bk_malloc((size_t)st.st_size + 1);
	n = fread(buf, 1, (size_t)st.st_size, f);
	rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc < 0) {
		bk_free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int
sl_defs_load(struct sl_topo *t, const char *path, char *err, size_t errlen)
{
	const char *end = NULL;
	char why[512];
	cJSON *doc;
	char *buf = NULL;
	size_t len = 0;
	int rc, line = 1, col = 1;

	if ((rc = read_all(path, &buf, &len)) < 0) {
		snprintf(err, errlen, "%s: cannot read definitions: %s", path,
			 strerror(-rc));
		return rc;
	}
	/* len + 1: cJSON wants to see the NUL to accept the end */
	doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (doc == NULL) {
		if (end == NULL || end < buf || end > buf + len)
			end = buf + len;
		for (const char *p = buf; p < end; p++, col++)
			if (*p == '\n') {
				line++;
				col = 0;
			}
		snprintf(err, errlen, "%s:%d:%d: malformed JSON (byte %zu)", path, line,
			 col, (size_t)(end - buf));
		bk_free(buf);
		return -EINVAL;
	}
	bk_defs_free(t->defs);
	t->defs = bk_defs_parse(doc, false, why, sizeof(why));
	cJSON_Delete(doc);
	bk_free(buf);
	if (t->defs == NULL) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -EINVAL;
	}
	bk_free(t->defs_path);
	t->defs_path = bk_strdup(path);
	if (bk_defs_note(t->defs) != NULL)
		sl_topo_note(t, "%s: %s", path, bk_defs_note(t->defs));
	return 0;
}
