/*
 * bk_topic_perm.c: topic permissions, as RabbitMQ's internal backend keeps
 * them: per user, vhost and exchange, a write and a read regular
 * expression matched against routing keys.
 *
 *   key "user\0vhost\0exchange" -> { write, read }
 *
 * The rules (RabbitMQ's check_topic_access):
 *  - no entry for (user, vhost, exchange): allowed;
 *  - "" means "^$": only the empty routing key;
 *  - otherwise the regex is searched (not anchored) in the routing key,
 *    after "{username}", "{vhost}" and "{client_id}" in it are replaced by
 *    the connection's values.
 * Two departures, both towards refusing: a replaced value is escaped, so a
 * client id or user name made of regex characters (".*") matches only
 * itself; and a variable the connection has no value for (an AMQP client
 * has no client id) makes the regex match nothing, where RabbitMQ would
 * leave the placeholder in as literal text. The regexes are POSIX
 * extended, like the other permissions (bk_access.c).
 *
 * A regex without variables is compiled once when set; one with variables
 * is expanded and compiled at each check (the values differ per
 * connection). Every change bumps the access generation, so adapters that
 * cache a granted publish drop it.
 */
#include "bk_mgmt.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bk_tperm {
	char *key;                      /* owned: user \0 vhost \0 exchange \0; uthash key */
	uint32_t keylen;                /* up to the last NUL, excluded */
	const char *user, *vhost, *exchange;    /* into key */
	char *src[2];                   /* owned; [0] write, [1] read, as set */
	bool vars[2];                   /* has a {variable}: compiled per check */
	regex_t re[2];                  /* compiled when !vars */
	UT_hash_handle hh;              /* in mgmt->tperms */
};

static const char *const var_names[] = { "{username}", "{vhost}", "{client_id}" };

static int
slot(enum bk_perm what)
{
	return what == BK_PERM_WRITE ? 0 : 1;
}

/* RabbitMQ's "" is "^$". */
static const char *
pattern(const char *src)
{
	return src[0] == '\0' ? "^$" : src;
}

static bool
has_vars(const char *s)
{
	for (size_t i = 0; i < sizeof(var_names) / sizeof(var_names[0]); i++)
		if (strstr(s, var_names[i]) != NULL)
			return true;
	return false;
}

static void
tperm_free(struct bk_tperm *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (t->src[i] != NULL && !t->vars[i])
			regfree(&t->re[i]);
		bk_free(t->src[i]);
	}
	bk_free(t->key);
	bk_free(t);
}

/* "user\0vhost\0exchange" into a new buffer; *len excludes the last NUL. */
static char *
make_key(struct bk_str user, const char *vhost, struct bk_str exchange, uint32_t *len)
{
	size_t vl = strlen(vhost), n = user.len + 1 + vl + 1 + exchange.len;
	char *k = bk_malloc(n + 1);

	memcpy(k, user.p ? user.p : "", user.len);
	k[user.len] = '\0';
	memcpy(k + user.len + 1, vhost, vl + 1);
	memcpy(k + user.len + 1 + vl + 1, exchange.p ? exchange.p : "", exchange.len);
	k[n] = '\0';
	*len = (uint32_t)n;
	return k;
}

static struct bk_tperm *
tperm_find(struct bk_broker *b, struct bk_str user, const char *vhost,
	   struct bk_str exchange)
{
	struct bk_tperm *t = NULL;
	uint32_t len;
	char *k = make_key(user, vhost, exchange, &len);

	HASH_FIND(hh, bk_mgmt(b)->tperms, k, len, t);
	bk_free(k);
	return t;
}

/* Every variable replaced by "x": the shape regcomp checks at set time. */
static bool
regex_valid(const char *src)
{
	char *s = bk_strdup(pattern(src)), *p;
	regex_t re;
	bool ok;

	for (size_t i = 0; i < sizeof(var_names) / sizeof(var_names[0]); i++) {
		size_t vl = strlen(var_names[i]);

		while ((p = strstr(s, var_names[i])) != NULL) {
			*p = 'x';
			memmove(p + 1, p + vl, strlen(p + vl) + 1);
		}
	}
	ok = bk_regcomp(&re, s, REG_EXTENDED | REG_NOSUB) == 0;
	if (ok)
		regfree(&re);
	bk_free(s);
	return ok;
}

enum bk_status
bk_topic_permission_set(struct bk_broker *b, const char *user, const char *vhost,
			const char *exchange, const char *write, const char *read,
			struct bk_err *err)
{
	const char *src[2] = { write ? write : "", read ? read : "" };
	struct bk_tperm *t, *old;

	if (!bk_user_exists(b, user))
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", user);
	if (bk_vhost_get(b, vhost) == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	if (exchange == NULL)
		return bk_err_set(err, BK_PRECONDITION_FAILED, "exchange is required");
	for (int i = 0; i < 2; i++)
		if (!regex_valid(src[i]))
			return bk_err_set(err, BK_PRECONDITION_FAILED,
					  "invalid regular expression '%s'", src[i]);
	t = bk_calloc(1, sizeof(*t));
	t->key = make_key(bk_str_c(user), vhost, bk_str_c(exchange), &t->keylen);
	t->user = t->key;
	t->vhost = t->key + strlen(user) + 1;
	t->exchange = t->vhost + strlen(vhost) + 1;
	for (int i = 0; i < 2; i++) {
		t->src[i] = bk_strdup(src[i]);
		t->vars[i] = has_vars(src[i]);
		/* validated above, so this compiles */
		if (!t->vars[i] && bk_regcomp(&t->re[i], pattern(src[i]),
					   REG_EXTENDED | REG_NOSUB) != 0)
			t->vars[i] = true;
	}
	if ((old = tperm_find(b, bk_str_c(user), vhost, bk_str_c(exchange))) != NULL) {
		HASH_DEL(bk_mgmt(b)->tperms, old);
		tperm_free(old);
	}
	HASH_ADD_KEYPTR(hh, bk_mgmt(b)->tperms, t->key, t->keylen, t);
	bk_access_changed(b);
	return BK_OK;
}

enum bk_status
bk_topic_permission_clear(struct bk_broker *b, const char *user, const char *vhost,
			  const char *exchange, struct bk_err *err)
{
	if (!bk_user_exists(b, user))
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", user);
	if (bk_vhost_get(b, vhost) == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	bk_tperms_drop(b, user, vhost, exchange);
	return BK_OK;
}

void
bk_tperms_drop(struct bk_broker *b, const char *user, const char *vhost,
	       const char *exchange)
{
	struct bk_tperm *t, *tmp;

	HASH_ITER(hh, bk_mgmt(b)->tperms, t, tmp) {
		if ((user && strcmp(t->user, user) != 0) ||
		    (vhost && strcmp(t->vhost, vhost) != 0) ||
		    (exchange && strcmp(t->exchange, exchange) != 0))
			continue;
		HASH_DEL(bk_mgmt(b)->tperms, t);
		tperm_free(t);
	}
	bk_access_changed(b);
}

void
bk_tperms_fini(struct bk_broker *b)
{
	struct bk_tperm *t, *tmp;

	HASH_ITER(hh, bk_mgmt(b)->tperms, t, tmp) {
		HASH_DEL(bk_mgmt(b)->tperms, t);
		tperm_free(t);
	}
}

static int
cmp_tperm(const void *a, const void *b)
{
	const struct bk_tperm *x = *(struct bk_tperm *const *)a;
	const struct bk_tperm *y = *(struct bk_tperm *const *)b;
	int c = strcmp(x->user, y->user);

	if (c == 0)
		c = strcmp(x->vhost, y->vhost);
	return c ? c : strcmp(x->exchange, y->exchange);
}

int
bk_topic_permissions_each(struct bk_broker *b, const char *user, const char *vhost,
			  bk_topic_permission_each_fn fn, void *arg)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_tperm **v = bk_calloc(HASH_COUNT(m->tperms) + 1, sizeof(*v));
	struct bk_tperm *t, *tmp;
	struct bk_topic_permission_view view;
	uint32_t n = 0;
	int rc = 0;

	HASH_ITER(hh, m->tperms, t, tmp)
		if ((!user || !strcmp(t->user, user)) && (!vhost || !strcmp(t->vhost, vhost)))
			v[n++] = t;
	qsort(v, n, sizeof(*v), cmp_tperm);
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		view = (struct bk_topic_permission_view){ v[i]->user, v[i]->vhost,
			v[i]->exchange, v[i]->src[0], v[i]->src[1] };
		rc = fn(arg, &view);
	}
	bk_free(v);
	return rc;
}

/* ---- checking ------------------------------------------------------------ */

/* A growing string. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static void
sbuf_put(struct sbuf *b, char c)
{
	if (b->len + 2 > b->cap) {
		b->cap = b->cap * 2 + 16;
		b->p = bk_realloc(b->p, b->cap);
	}
	b->p[b->len++] = c;
}

/* s appended regex-escaped: each ERE special character gets a backslash. */
static void
sbuf_put_escaped(struct sbuf *b, struct bk_str s)
{
	for (uint32_t i = 0; i < s.len; i++) {
		if (strchr(".[]{}()\\*+?^$|", s.p[i]) != NULL)
			sbuf_put(b, '\\');
		sbuf_put(b, s.p[i]);
	}
}

/*
 * src with its variables replaced (escaped): a new string, or NULL when a
 * variable has no value here or a value holds a NUL.
 */
static char *
expand(const char *src, const struct bk_who *who, const char *vhost)
{
	struct bk_str vals[3] = { who->user, bk_str_c(vhost), who->client_id };
	struct sbuf b = { NULL, 0, 0 };
	const char *p = src;
	size_t i, vl = 0;

	while (*p != '\0') {
		for (i = 0; i < 3; i++) {
			vl = strlen(var_names[i]);
			if (strncmp(p, var_names[i], vl) == 0)
				break;
		}
		if (i == 3) {
			sbuf_put(&b, *p++);
			continue;
		}
		if (vals[i].p == NULL || memchr(vals[i].p, '\0', vals[i].len) != NULL) {
			bk_free(b.p);
			return NULL;
		}
		sbuf_put_escaped(&b, vals[i]);
		p += vl;
	}
	sbuf_put(&b, '\0');
	return b.p;
}

static bool
key_matches(const struct bk_tperm *t, int i, const struct bk_who *who,
	    struct bk_str key)
{
	char stack[256], *k;
	bool ok = false;
	regex_t re;

	/* a key with a NUL in it never matches (regexec stops at it) */
	if (key.len > 0 && memchr(key.p, '\0', key.len) != NULL)
		return false;
	k = key.len < sizeof(stack) ? stack : bk_malloc(key.len + 1);
	memcpy(k, key.p ? key.p : "", key.len);
	k[key.len] = '\0';
	if (!t->vars[i]) {
		ok = regexec(&t->re[i], k, 0, NULL, 0) == 0;
	} else {
		char *src = expand(pattern(t->src[i]), who, t->vhost);

		if (src != NULL && bk_regcomp(&re, src, REG_EXTENDED | REG_NOSUB) == 0) {
			ok = regexec(&re, k, 0, NULL, 0) == 0;
			regfree(&re);
		}
		bk_free(src);
	}
	if (k != stack)
		bk_free(k);
	return ok;
}

bool
bk_topic_perms_apply(struct bk_vhost *vh, const struct bk_who *who,
		     struct bk_str exchange)
{
	struct bk_broker *b = vh->broker;

	return HASH_COUNT(bk_mgmt(b)->tperms) > 0 &&
	       tperm_find(b, who->user, vh->name, exchange) != NULL;
}

enum bk_status
bk_topic_access_check(struct bk_vhost *vh, const struct bk_who *who, enum bk_perm what,
		      struct bk_str exchange, struct bk_str routing_key,
		      struct bk_err *err)
{
	struct bk_broker *b = vh->broker;
	struct bk_tperm *t;

	if (HASH_COUNT(bk_mgmt(b)->tperms) == 0)
		return BK_OK;
	t = tperm_find(b, who->user, vh->name, exchange);
	if (t == NULL || key_matches(t, slot(what), who, routing_key))
		return BK_OK;
	bk_err_set(err, BK_ACCESS_REFUSED,
		   "%s access to topic '%.*s' in exchange topic '%.*s' in vhost "
		   "'%s' refused for user '%.*s'",
		   what == BK_PERM_WRITE ? "write" : "read",
		   (int)routing_key.len, routing_key.p ? routing_key.p : "",
		   (int)exchange.len, exchange.p ? exchange.p : "", vh->name,
		   (int)who->user.len, who->user.p ? who->user.p : "");
	if (err != NULL)
		err->permission = true;
	return BK_ACCESS_REFUSED;
}
