/*
 * bk_defs.h: a checked definitions document (struct bk_defs, broker.h),
 * shared by its reader (bk_defs_parse.c, pure: no broker, so the daemon's
 * config tests link it) and its writer into the broker (bk_defs_apply.c).
 */
#ifndef SLUICE_BK_DEFS_H
#define SLUICE_BK_DEFS_H

#include "bk_admin.h"

/* One entry of the document. Strings are owned (bk_strdup); NULL when
 * the member was absent and optional. */
struct bk_defs_entry {
	char at[48];                    /* JSON path: "queues[3]" */
	char *name;                     /* vhost, user, exchange, queue; the
					   user of a permission; a binding's
					   destination */
	char *vhost;                    /* NULL = "/" */
	/* exchange, queue */
	char *type;
	bool durable, auto_delete, internal;
	/* binding */
	char *source, *routing_key;
	bool dest_is_queue;
	/* permission; topic permission (exchange, write, read) */
	char *configure, *write, *read;
	char *exchange;
	/* user */
	char *password, *password_hash, *algo;
	char *tags;                     /* "a,b" */
	struct bk_limit_values limits;  /* user "limits"; vhost-limits parameter */
	bool limits_given;              /* the document had them (else leave alone) */
	struct bk_table_builder args;   /* exchange, queue, binding */
	struct cJSON *policy;           /* policy: the entry as read (owned
					   copy); the core checks it at apply */
};

struct bk_defs {
	struct bk_defs_entry *e[BK_DEFS__COUNT];   /* owned arrays */
	size_t n[BK_DEFS__COUNT];
	char *note;                     /* owned, or NULL */
};

#endif
