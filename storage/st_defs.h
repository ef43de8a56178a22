/*
 * st_defs.h: the definitions file, <data_dir>/definitions.json.
 *
 * One JSON document in RabbitMQ's definitions format (what
 * `rabbitmqctl export_definitions` writes): the durable vhosts, users,
 * permissions, exchanges, queues and bindings. The core builds and reads
 * the document (cJSON, broker/bk_defs.c); storage owns the file: how it is
 * written so that a crash leaves either the old or the new document, never
 * a mix, and how it is read back.
 */
#ifndef SLUICE_ST_DEFS_H
#define SLUICE_ST_DEFS_H

#include <stddef.h>

struct cJSON;

#define ST_DEFS_FILE "definitions.json"

/*
 * Replace data_dir/definitions.json by doc: write a temporary file in the
 * same directory, fsync it, rename it over the old one, fsync the
 * directory. Blocks for those syncs: only where the event loop may wait
 * (shutdown, a broker without a journal); otherwise the core hands the
 * text from st_defs_render to the journal thread (st_journal_put_file).
 * 0 or a negative errno; on error the old file is untouched.
 */
int st_defs_write(const char *data_dir, const struct cJSON *doc);

/* The file's bytes for doc: *text (bk_malloc'd, the caller's) of *len
 * bytes. 0 or -ENOMEM. */
int st_defs_render(const struct cJSON *doc, char **text, size_t *len);

/*
 * Read and parse data_dir/definitions.json. *doc is the caller's
 * (cJSON_Delete). -ENOENT when there is no file (a fresh data_dir),
 * -EPROTO when it is not a JSON object (why says where), other negative
 * errno for I/O errors.
 */
int st_defs_read(const char *data_dir, struct cJSON **doc, char *why, size_t whylen);

#endif
