/*
 * sl_topology.c: the topology sections of sluice.conf, read into
 * struct sl_topo (see sl_topology.h for the two steps).
 *
 *   [vhost NAME]                 name
 *   [permission USER VHOST]      configure, write, read (all required)
 *   [topic_permission USER VHOST] exchange, write, read (all required)
 *   [exchange NAME]              name, vhost, type, durable, auto_delete,
 *                                internal, alternate_exchange, argument.KEY
 *   [queue NAME]                 name, vhost, durable, auto_delete,
 *                                exclusive (= no only), argument.KEY
 *   [binding LABEL]              vhost, source, destination,
 *                                destination_type, routing_key, argument.KEY
 *   [policy NAME]                name, vhost, pattern, apply_to, priority,
 *   [operator_policy NAME]       definition.KEY or definition (JSON)
 *
 * sl_config_file.c's reader calls sl_topo_begin() for each such header as it
 * passes (so a section with no keys still counts) and sl_topo_key() for
 * each of its keys; the object being filled is always the last one begun,
 * because a section's keys come before the next header.
 *
 * argument.KEY values are typed: the x-arguments RabbitMQ wants as
 * integers or booleans get that type (bk_defs_arg_type), any other key is
 * a string, and a prefix int:, bool: or str: chooses explicitly.
 */
#include "sl_topology.h"
#include "sl_text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define K_POLICIES (K(SL_T_POLICY) | K(SL_T_OPERATOR_POLICY))

enum tkey {
	TK_NAME, TK_VHOST, TK_TYPE, TK_DURABLE, TK_AUTO_DELETE, TK_INTERNAL,
	TK_ALTERNATE_EXCHANGE, TK_EXCLUSIVE, TK_SOURCE, TK_DESTINATION,
	TK_DESTINATION_TYPE, TK_ROUTING_KEY, TK_CONFIGURE, TK_WRITE, TK_READ,
	TK_EXCHANGE,
};

#define K(kind) (1u << (kind))

static const struct {
	const char *name;
	unsigned kinds;                 /* K(SL_T_...) bits */
	enum tkey id;
} tkeys[] = {
	{ "name",               K(SL_T_VHOST) | K(SL_T_EXCHANGE) | K(SL_T_QUEUE) |
				K_POLICIES, TK_NAME },
	{ "vhost",              K(SL_T_EXCHANGE) | K(SL_T_QUEUE) | K(SL_T_BINDING) |
				K_POLICIES, TK_VHOST },
	{ "type",               K(SL_T_EXCHANGE), TK_TYPE },
	{ "durable",            K(SL_T_EXCHANGE) | K(SL_T_QUEUE), TK_DURABLE },
	{ "auto_delete",        K(SL_T_EXCHANGE) | K(SL_T_QUEUE), TK_AUTO_DELETE },
	{ "internal",           K(SL_T_EXCHANGE), TK_INTERNAL },
	{ "alternate_exchange", K(SL_T_EXCHANGE), TK_ALTERNATE_EXCHANGE },
	{ "exclusive",          K(SL_T_QUEUE), TK_EXCLUSIVE },
	{ "source",             K(SL_T_BINDING), TK_SOURCE },
	{ "destination",        K(SL_T_BINDING), TK_DESTINATION },
	{ "destination_type",   K(SL_T_BINDING), TK_DESTINATION_TYPE },
	{ "routing_key",        K(SL_T_BINDING), TK_ROUTING_KEY },
	{ "configure",          K(SL_T_PERMISSION), TK_CONFIGURE },
	{ "write",              K(SL_T_PERMISSION) | K(SL_T_TOPIC_PERMISSION), TK_WRITE },
	{ "read",               K(SL_T_PERMISSION) | K(SL_T_TOPIC_PERMISSION), TK_READ },
	{ "exchange",           K(SL_T_TOPIC_PERMISSION), TK_EXCHANGE },
};

static const struct {
	const char *word;
	enum sl_topo_kind kind;
} section_words[] = {
	{ "vhost", SL_T_VHOST }, { "permission", SL_T_PERMISSION },
	{ "topic_permission", SL_T_TOPIC_PERMISSION },
	{ "exchange", SL_T_EXCHANGE }, { "queue", SL_T_QUEUE },
	{ "binding", SL_T_BINDING }, { "policy", SL_T_POLICY },
	{ "operator_policy", SL_T_OPERATOR_POLICY },
};

static void
replace(char **slot, const char *v)
{
	bk_free(*slot);
	*slot = v != NULL ? bk_strdup(v) : NULL;
}

void
sl_topo_init(struct sl_topo *t)
{
	memset(t, 0, sizeof(*t));
}

static void
obj_free(struct sl_topo_obj *o)
{
	char **strs[] = { &o->header, &o->name, &o->vhost, &o->type, &o->source,
			  &o->destination, &o->routing_key, &o->configure, &o->write,
			  &o->read, &o->pattern, &o->apply_to, &o->exchange };

	if (o == NULL)
		return;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		BK_FREE(*strs[i]);
	bk_tb_fini(&o->args);
	cJSON_Delete(o->definition);
	bk_free(o);
}

void
sl_topo_fini(struct sl_topo *t)
{
	for (size_t i = 0; i < t->n; i++)
		obj_free(t->objs[i]);
	for (size_t i = 0; i < t->n_notes; i++)
		bk_free(t->notes[i]);
	bk_defs_free(t->defs);
	bk_free(t->defs_path);
	bk_free(t->objs);
	bk_free(t->notes);
	memset(t, 0, sizeof(*t));
}

static struct sl_topo_obj *
topo_add(struct sl_topo *t, enum sl_topo_kind kind, const char *where)
{
	struct sl_topo_obj *o = bk_calloc(1, sizeof(*o));

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->objs = bk_realloc(t->objs, t->cap * sizeof(*t->objs));
	}
	t->objs[t->n++] = o;
	o->kind = kind;
	o->durable = true;              /* declared at every start: durable unless told */
	snprintf(o->where, sizeof(o->where), "%s", where);
	bk_tb_init(&o->args);
	return o;
}

void
sl_topo_note(struct sl_topo *t, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	t->notes = bk_realloc(t->notes, (t->n_notes + 1) * sizeof(*t->notes));
	t->notes[t->n_notes++] = bk_strdup(buf);
}

/* ---------------------------------------------------------------- */
/* Arguments                                                         */
/* ---------------------------------------------------------------- */

void
sl_topo_put_int(struct bk_table_builder *b, const char *key, int64_t v)
{
	/* 'I' when it fits, as client libraries send small integers and as
	 * the durable definitions file reads them back: a headers binding
	 * declared here then has the same arguments after a restart. */
	struct bk_value val = { .type = v >= INT32_MIN && v <= INT32_MAX ?
					BK_V_I32 : BK_V_I64 };

	val.u.i = v;
	bk_tb_put(b, key, (uint32_t)strlen(key), &val);
}

void
sl_topo_put_bool(struct bk_table_builder *b, const char *key, bool v)
{
	struct bk_value val = { .type = BK_V_BOOL };

	val.u.b = v;
	bk_tb_put(b, key, (uint32_t)strlen(key), &val);
}

void
sl_topo_put_str(struct bk_table_builder *b, const char *key, const char *v)
{
	struct bk_value val = { .type = BK_V_LSTR };

	val.u.s = (struct bk_str){ v, (uint32_t)strlen(v) };
	bk_tb_put(b, key, (uint32_t)strlen(key), &val);
}

/* argument.KEY = [int:|bool:|str:]VALUE */
static int
put_arg(struct sl_topo_obj *o, const char *key, const char *value, char *why,
	size_t whylen)
{
	struct bk_value old;
	char type;
	int64_t i;
	bool b;

	if (*key == '\0' || strlen(key) > 255) {
		sl_errf(why, whylen, "argument name must be 1..255 characters");
		return -EINVAL;
	}
	if (bk_table_get(bk_tb_view(&o->args), key, &old)) {
		sl_errf(why, whylen, "argument '%s' given twice", key);
		return -EINVAL;
	}
	type = sl_type_prefix(&value, bk_defs_arg_type(key));
	if (type == 'i') {
		if (!sl_parse_int(value, &i)) {
			sl_errf(why, whylen, "invalid value '%s' for argument %s: "
				"expected an integer", value, key);
			return -EINVAL;
		}
		sl_topo_put_int(&o->args, key, i);
	} else if (type == 'b') {
		if (!sl_parse_bool(value, &b)) {
			sl_errf(why, whylen, "invalid value '%s' for argument %s: "
				"expected true or false", value, key);
			return -EINVAL;
		}
		sl_topo_put_bool(&o->args, key, b);
	} else {
		sl_topo_put_str(&o->args, key, value);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Sections and keys                                                 */
/* ---------------------------------------------------------------- */

/* "queue  q1" -> SL_T_QUEUE, *rest = "q1" (NULL when nothing follows). */
static enum sl_topo_kind
split_section(const char *section, const char **rest)
{
	for (size_t i = 0; i < sizeof(section_words) / sizeof(section_words[0]); i++) {
		size_t n = strlen(section_words[i].word);

		if (strncmp(section, section_words[i].word, n) != 0)
			continue;
		if (section[n] != '\0' && section[n] != ' ' && section[n] != '\t')
			continue;
		section += n;
		while (*section == ' ' || *section == '\t')
			section++;
		*rest = *section ? section : NULL;
		return section_words[i].kind;
	}
	*rest = NULL;
	return SL_T_NONE;
}

/* Sections named by a user and a vhost. */
static bool
two_names(enum sl_topo_kind kind)
{
	return kind == SL_T_PERMISSION || kind == SL_T_TOPIC_PERMISSION;
}

enum sl_topo_kind
sl_topo_section_kind(const char *section)
{
	const char *rest;

	return split_section(section, &rest);
}

int
sl_topo_begin(struct sl_topo *t, const char *section, const char *where,
	      char *why, size_t whylen)
{
	const char *rest, *sp;
	enum sl_topo_kind kind = split_section(section, &rest);
	struct sl_topo_obj *o;
	size_t n;

	if (kind == SL_T_NONE)
		return -EINVAL;
	if (rest == NULL && two_names(kind)) {
		sl_errf(why, whylen, "section [%s] needs a user and a vhost: "
			"[%s USER VHOST]", section, section);
		return -EINVAL;
	}
	if (rest == NULL) {
		sl_errf(why, whylen, "section [%s] needs a name: [%s NAME]", section, section);
		return -EINVAL;
	}
	o = topo_add(t, kind, where);
	t->cur = o;
	n = strlen(section) + 3;
	o->header = bk_malloc(n);
	snprintf(o->header, n, "[%s]", section);
	if (!two_names(kind)) {
		o->name = bk_strdup(rest);
		return 0;
	}
	for (sp = rest; *sp && *sp != ' ' && *sp != '\t'; sp++)
		;
	o->name = bk_strndup(rest, (size_t)(sp - rest));
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (*sp == '\0') {
		sl_errf(why, whylen, "section %s needs a user and a vhost: "
			"[%s USER VHOST]", o->header,
			kind == SL_T_PERMISSION ? "permission" : "topic_permission");
		return -EINVAL;
	}
	o->vhost = bk_strdup(sp);
	return 0;
}

/* Store one fixed key's value into o. */
static int
store_key(struct sl_topo_obj *o, enum tkey id, const char *key, const char *v,
	  char *why, size_t whylen)
{
	static const char *const xtypes[] = { "direct", "fanout", "topic", "headers" };
	bool b = false;
	size_t i;

	switch (id) {
	case TK_DURABLE: case TK_AUTO_DELETE: case TK_INTERNAL: case TK_EXCLUSIVE:
		if (!sl_parse_bool(v, &b)) {
			sl_errf(why, whylen, "invalid value '%s' for %s in %s: "
				"expected yes or no", v, key, o->header);
			return -EINVAL;
		}
		if (id == TK_DURABLE)
			o->durable = b;
		else if (id == TK_AUTO_DELETE)
			o->auto_delete = b;
		else if (id == TK_INTERNAL)
			o->internal = b;
		else if (b) {
			sl_errf(why, whylen, "%s: exclusive queues cannot be declared "
				"in the configuration (an exclusive queue belongs to the "
				"connection that declares it)", o->header);
			return -EINVAL;
		}
		return 0;
	case TK_TYPE:
		for (i = 0; i < 4 && strcmp(v, xtypes[i]) != 0; i++)
			;
		if (i == 4) {
			sl_errf(why, whylen, "unknown exchange type '%s' in %s: expected "
				"direct, fanout, topic or headers", v, o->header);
			return -EINVAL;
		}
		replace(&o->type, v);
		return 0;
	case TK_DESTINATION_TYPE:
		if (strcmp(v, "queue") != 0 && strcmp(v, "exchange") != 0) {
			sl_errf(why, whylen, "invalid value '%s' for destination_type in "
				"%s: expected queue or exchange", v, o->header);
			return -EINVAL;
		}
		o->dest_is_exchange = strcmp(v, "exchange") == 0;
		return 0;
	case TK_ALTERNATE_EXCHANGE:
		return put_arg(o, "alternate-exchange", v, why, whylen);
	case TK_ROUTING_KEY:
		if (strlen(v) > BK_SHORTSTR_MAX) {
			sl_errf(why, whylen, "invalid value for %s in %s: a routing key "
				"is at most %d bytes", key, o->header, BK_SHORTSTR_MAX);
			return -EINVAL;
		}
		replace(&o->routing_key, v);
		return 0;
	case TK_CONFIGURE:
		replace(&o->configure, v);
		return 0;
	case TK_WRITE:
		replace(&o->write, v);
		return 0;
	case TK_READ:
		replace(&o->read, v);
		return 0;
	case TK_EXCHANGE:
		replace(&o->exchange, v);
		return 0;
	default:
		break;
	}
	/* the rest are names: not empty, at most 255 octets (shortstr) */
	if (*v == '\0' || strlen(v) > 255) {
		sl_errf(why, whylen, "invalid value '%s' for %s in %s: expected a name "
			"of 1..255 characters", v, key, o->header);
		return -EINVAL;
	}
	replace(id == TK_NAME ? &o->name : id == TK_VHOST ? &o->vhost :
		id == TK_SOURCE ? &o->source : &o->destination, v);
	return 0;
}

int
sl_topo_key(struct sl_topo *t, const char *section, const char *key,
	    const char *value, char *why, size_t whylen)
{
	struct sl_topo_obj *o = t->cur;

	if (o == NULL) {                /* the reader begins every section */
		sl_errf(why, whylen, "key '%s' outside a section", key);
		return -EINVAL;
	}
	if (strncmp(key, "argument.", 9) == 0 && (o->kind == SL_T_EXCHANGE ||
	    o->kind == SL_T_QUEUE || o->kind == SL_T_BINDING))
		return put_arg(o, key + 9, value, why, whylen);
	if (K(o->kind) & K_POLICIES) {
		int rc = sl_topo_policy_key(o, key, value, why, whylen);

		if (rc <= 0)
			return rc;
	}
	for (size_t i = 0; i < sizeof(tkeys) / sizeof(tkeys[0]); i++) {
		if (strcmp(tkeys[i].name, key) != 0 || !(tkeys[i].kinds & K(o->kind)))
			continue;
		if (o->seen & (1u << tkeys[i].id)) {
			sl_errf(why, whylen, "key '%s' given twice in section [%s]",
				key, section);
			return -EINVAL;
		}
		o->seen |= 1u << tkeys[i].id;
		return store_key(o, tkeys[i].id, key, value, why, whylen);
	}
	sl_errf(why, whylen, "unknown key '%s' in section [%s]", key, section);
	return -EINVAL;
}

/* ---------------------------------------------------------------- */
/* Whole-file checks                                                 */
/* ---------------------------------------------------------------- */

static const char *
vhost_of(const struct sl_topo_obj *o)
{
	return o->vhost != NULL ? o->vhost : "/";
}

/* Do a and b declare the same thing (same kind, vhost and name)? */
static bool
same_object(const struct sl_topo_obj *a, const struct sl_topo_obj *b)
{
	if (a->kind != b->kind || strcmp(a->name, b->name) != 0)
		return false;
	if (a->kind == SL_T_VHOST)
		return true;
	if (a->kind == SL_T_BINDING)    /* the label names the section */
		return strcmp(a->header, b->header) == 0;
	if (a->kind == SL_T_TOPIC_PERMISSION && (a->exchange == NULL || b->exchange == NULL ||
						 strcmp(a->exchange, b->exchange) != 0))
		return false;
	return strcmp(vhost_of(a), vhost_of(b)) == 0;
}

static int
check_required(const struct sl_topo_obj *o, char *err, size_t errlen)
{
	const char *missing = NULL;

	if (o->kind == SL_T_PERMISSION)
		missing = o->configure == NULL ? "configure" : o->write == NULL ? "write" :
			  o->read == NULL ? "read" : NULL;
	else if (o->kind == SL_T_TOPIC_PERMISSION)
		missing = o->exchange == NULL ? "exchange" : o->write == NULL ? "write" :
			  o->read == NULL ? "read" : NULL;
	else if (o->kind == SL_T_BINDING)
		missing = o->source == NULL ? "source" :
			  o->destination == NULL ? "destination" : NULL;
	else if (K(o->kind) & K_POLICIES)
		missing = o->pattern == NULL ? "pattern" :
			  o->definition == NULL ? "definition" : NULL;
	if (missing == NULL)
		return 0;
	snprintf(err, errlen, "%s: section %s needs '%s'", o->where, o->header, missing);
	return -EINVAL;
}

int
sl_topo_finish(struct sl_topo *t, char *err, size_t errlen)
{
	struct sl_topo_obj *a, *b;

	t->cur = NULL;
	for (size_t i = 0; i < t->n; i++) {
		a = t->objs[i];
		if (check_required(a, err, errlen) < 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++) {
			b = t->objs[j];
			if (!same_object(a, b))
				continue;
			if (a->kind == SL_T_VHOST || a->kind == SL_T_BINDING)
				snprintf(err, errlen, "%s: duplicate section %s "
					 "(first at %s)", a->where, a->header, b->where);
			else
				snprintf(err, errlen, "%s: duplicate section %s: '%s' in "
					 "vhost '%s' is already declared at %s", a->where,
					 a->header, a->name, vhost_of(a), b->where);
			return -EINVAL;
		}
	}
	return 0;
}

bool
sl_topo_has_permissions(const struct sl_topo *t, const char *user)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->objs[i]->kind == SL_T_PERMISSION &&
		    strcmp(t->objs[i]->name, user) == 0)
			return true;
	for (size_t i = 0; i < bk_defs_count(t->defs, BK_DEFS_PERMISSIONS); i++)
		if (strcmp(bk_defs_name(t->defs, BK_DEFS_PERMISSIONS, i), user) == 0)
			return true;
	return false;
}

size_t
sl_topo_user_count(const struct sl_topo *t)
{
	return bk_defs_count(t->defs, BK_DEFS_USERS);
}
