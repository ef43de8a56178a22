/*
 * sl_topology.h: topology declared in sluice.conf ([vhost], [permission],
 * [topic_permission], [exchange], [queue], [binding], [policy] and
 * [operator_policy] sections) and in a RabbitMQ definitions
 * document (load_definitions = FILE), applied to the broker at every start.
 *
 * Two steps, so that nothing half-applies because of a typo:
 *
 *   1. Collect (sl_config_file.c's reader, sl_defs_load.c): every section
 *      becomes one struct sl_topo_obj carrying its origin ("FILE:LINE" of
 *      the section header); a definitions document becomes the core's
 *      checked plan (bk_defs_parse: errors name "FILE: queues[3]..."). Syntax,
 *      unknown keys, value types, required keys and duplicate sections are
 *      refused here, before the broker exists. This half calls nothing in
 *      the core but the pure table and definitions codecs, so the config
 *      unit test can link it.
 *
 *   2. Apply (sl_topology_apply.c), once the durable definitions are loaded
 *      and before any listener opens: vhosts, users, permissions, topic
 *      permissions, exchanges, queues, bindings, in that order whatever the order in the
 *      file, the document's entries of a kind (bk_defs_apply) before the
 *      file's, through the same core calls a client's declare goes through.
 *      Declaring what exists and is equivalent is a no-op, so a restart
 *      with the same file changes nothing; an inequivalent existing object
 *      or a binding to a missing queue is refused with the object's origin
 *      and the core's reason.
 */
#ifndef SL_TOPOLOGY_H
#define SL_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#include "bk_admin.h"

enum sl_topo_kind {
	SL_T_NONE,
	SL_T_VHOST,
	SL_T_USER,                      /* counted only: [user] sections live in
					   sl_config, a document's users in defs */
	SL_T_PERMISSION,
	SL_T_EXCHANGE,
	SL_T_QUEUE,
	SL_T_BINDING,
	SL_T_POLICY,
	SL_T_OPERATOR_POLICY,
	SL_T_TOPIC_PERMISSION,
	SL_T__COUNT
};

/* One declared object. Strings are owned; NULL where unset. */
struct sl_topo_obj {
	enum sl_topo_kind kind;
	char where[320];                /* "FILE:LINE" or "FILE: queues[3]" */
	char *header;                   /* "[queue q1]": for messages */
	char *name;                     /* vhost, exchange, queue or user name;
					   binding label; (topic) permission user */
	char *vhost;                    /* NULL = "/" */
	/* exchange */
	char *type;                     /* NULL = "direct" */
	bool durable, auto_delete, internal;
	/* binding */
	char *source, *destination, *routing_key;
	bool dest_is_exchange;
	/* permission; topic permission (exchange, write, read) */
	char *configure, *write, *read;
	/* policy (sl_topology_policy.c) */
	char *pattern, *apply_to;
	struct cJSON *definition;       /* owned object, or NULL */
	int64_t priority;
	char *exchange;
	/* x-arguments (exchange, queue, binding): encoded table, owned */
	struct bk_table_builder args;
	unsigned seen;                  /* keys given, one bit per key (sl_topology.c) */
};

struct sl_topo {
	struct sl_topo_obj **objs;      /* owned array of owned objects */
	size_t n, cap;
	struct sl_topo_obj *cur;        /* borrowed: the section being read */
	char **notes;                   /* owned: warnings to log at apply */
	size_t n_notes;
	struct bk_defs *defs;           /* owned: load_definitions, or NULL */
	char *defs_path;                /* owned: its file, for messages */
};

void sl_topo_init(struct sl_topo *t);
void sl_topo_fini(struct sl_topo *t);

/* The kind a config section name opens ("queue q1" -> SL_T_QUEUE), or
 * SL_T_NONE when it is not a topology section. */
enum sl_topo_kind sl_topo_section_kind(const char *section);

/*
 * A topology section header seen at where ("FILE:LINE"): start a new
 * object that the following keys fill. 0, or -EINVAL with the reason
 * (no location prefix) in why.
 */
int sl_topo_begin(struct sl_topo *t, const char *section, const char *where,
		  char *why, size_t whylen);

/* One "key = value" of the section last begun. 0 or -EINVAL with why. */
int sl_topo_key(struct sl_topo *t, const char *section, const char *key,
		const char *value, char *why, size_t whylen);

/*
 * After the whole file: required keys and duplicate sections. 0, or
 * -EINVAL with "FILE:LINE: reason" in err.
 */
int sl_topo_finish(struct sl_topo *t, char *err, size_t errlen);

/*
 * sl_topology_policy.c: one key of a [policy NAME] or [operator_policy
 * NAME] section (pattern, apply_to, priority, definition = {JSON} or
 * definition.KEY = VALUE). 0 stored, 1 not a policy key (the caller
 * tries the common ones: name, vhost), -EINVAL with why.
 */
int sl_topo_policy_key(struct sl_topo_obj *o, const char *key, const char *value,
		       char *why, size_t whylen);
/* sl_topology_apply.c: apply one policy section; 0, or -EINVAL with
 * "ORIGIN: [policy p]: reason" in err. */
int sl_topo_policy_apply(const struct sl_topo_obj *o, struct bk_broker *b,
			 char *err, size_t errlen);

/* Does any permission entry (file or JSON) name this user? */
bool sl_topo_has_permissions(const struct sl_topo *t, const char *user);
/* How many user entries came from a definitions document. */
size_t sl_topo_user_count(const struct sl_topo *t);

/* Keep a warning to log when the topology is applied. */
void sl_topo_note(struct sl_topo *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Put one integer, boolean or string argument into b. */
void sl_topo_put_int(struct bk_table_builder *b, const char *key, int64_t v);
void sl_topo_put_bool(struct bk_table_builder *b, const char *key, bool v);
void sl_topo_put_str(struct bk_table_builder *b, const char *key, const char *v);

/*
 * Read a RabbitMQ definitions document (JSON) at path into t->defs (the
 * core's checked plan, bk_defs_parse). Errors name the file and the JSON path
 * ("defs.json: queues[3].arguments.x-max-length: expected an integer"),
 * or the line and column of malformed JSON. 0, or -EINVAL / -errno with
 * err set.
 */
int sl_defs_load(struct sl_topo *t, const char *path, char *err, size_t errlen);

/*
 * Apply everything to b (see the top of this file). users/n_users are
 * sl_config's [user] sections. 0, or -EINVAL with "ORIGIN: reason" in err.
 * What was applied before a refusal stays (the daemon then exits).
 */
struct sl_user;
int sl_topo_apply(const struct sl_topo *t, struct bk_broker *b,
		  const struct sl_user *users, size_t n_users,
		  char *err, size_t errlen);

#endif
