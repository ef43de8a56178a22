/*
 * bk_user.c: the user table and login checks.
 *
 * Users live in broker->users (uthash by name). A password is kept only
 * as RabbitMQ's salted hash (bk_access.c computes and checks it), so the
 * same hashes go in and out of definitions files unchanged. Checking is
 * constant time with respect to the password's content, and an unknown
 * or passwordless user costs the same hash as a wrong password. Refusal texts
 * stay neutral: the adapter knows the mechanism and words the reply
 * (RabbitMQ names the mechanism in its own text).
 */
#include "bk_mgmt.h"
#include "bk_routing.h"

#include <stdlib.h>
#include <string.h>

/* A well-formed SHA-256 hash nobody's password produces in practice,
 * checked against when the user does not exist. */
#define NO_USER_HASH "AAAAAH9jzDJqUxRbPuW/wL2Z3hBn8GKSJ1Xy9oK9vvlZ/CYw"

struct bk_user {
	char *name;                     /* owned; uthash key */
	char *hash;                     /* owned; base64, "" = no password login */
	enum bk_hash_algo algo;
	char *tags;                     /* owned; comma-separated */
	bool loopback_only;
	struct bk_limit_values limits;  /* max-connections, max-channels (bk_limits.c) */
	UT_hash_handle hh;              /* in broker->users */
};

static void
user_free(struct bk_user *u)
{
	if (u == NULL)
		return;
	bk_free(u->name);
	bk_free(u->hash);
	bk_free(u->tags);
	bk_free(u);
}

static struct bk_user *
user_find(struct bk_broker *b, const char *name)
{
	struct bk_user *u = NULL;

	HASH_FIND_STR(b->users, name, u);
	return u;
}

bool
bk_user_exists(struct bk_broker *b, const char *name)
{
	return user_find(b, name) != NULL;
}

/* "a b,c" -> "a,b,c" (RabbitMQ accepts both separators). */
static char *
tags_normalise(const char *tags)
{
	char *out = bk_strdup(tags ? tags : ""), *r, *w;

	for (r = w = out; *r; r++) {
		char c = *r == ' ' ? ',' : *r;

		if (c == ',' && (w == out || w[-1] == ','))
			continue;
		*w++ = c;
	}
	if (w > out && w[-1] == ',')
		w--;
	*w = '\0';
	return out;
}

static struct bk_user *
user_put(struct bk_broker *b, const char *name)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL) {
		u = bk_calloc(1, sizeof(*u));
		u->name = bk_strdup(name);
		u->hash = bk_strdup("");
		u->tags = bk_strdup("");
		HASH_ADD_KEYPTR(hh, b->users, u->name, strlen(u->name), u);
	}
	bk_access_changed(b);
	return u;
}

static void
user_set_password(struct bk_user *u, const char *password)
{
	char hash[128];

	bk_free(u->hash);
	u->algo = BK_HASH_SHA256;
	if (password == NULL || password[0] == '\0' ||
	    bk_password_hash(BK_HASH_SHA256, password, NULL, hash, sizeof(hash)) < 0)
		hash[0] = '\0';
	u->hash = bk_strdup(hash);
}

void
bk_user_set(struct bk_broker *b, const char *name, const char *password,
	    const char *tags, bool loopback_only)
{
	struct bk_user *u = user_put(b, name);

	user_set_password(u, password);
	bk_free(u->tags);
	u->tags = tags_normalise(tags);
	u->loopback_only = loopback_only;
	if (bk_vhost_get(b, "/") != NULL && !bk_perms_any(b, name, "/"))
		bk_permission_set(b, name, "/", ".*", ".*", ".*", NULL);
}

enum bk_status
bk_user_add(struct bk_broker *b, const char *name, const char *password,
	    const char *tags, struct bk_err *err)
{
	struct bk_user *u;

	if (name == NULL || name[0] == '\0')
		return bk_err_set(err, BK_PRECONDITION_FAILED, "user name must not be empty");
	u = user_put(b, name);
	user_set_password(u, password);
	bk_free(u->tags);
	u->tags = tags_normalise(tags);
	return BK_OK;
}

enum bk_status
bk_user_check_identity(struct bk_broker *b, struct bk_str user, bool peer_is_loopback,
		       struct bk_err *err)
{
	struct bk_user *u = NULL;

	if (user.len > 0)
		HASH_FIND(hh, b->users, user.p, user.len, u);
	if (u == NULL)
		return bk_err_set(err, BK_ACCESS_REFUSED, "user '%.*s' does not exist",
				  (int)(user.len > 255 ? 255 : user.len), user.p);
	if (u->loopback_only && !peer_is_loopback)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "user '%s' can only connect via localhost", u->name);
	return BK_OK;
}

enum bk_status
bk_user_add_hash(struct bk_broker *b, const char *name, const char *password_hash,
		 enum bk_hash_algo algo, const char *tags, struct bk_err *err)
{
	struct bk_user *u;
	const char *h = password_hash ? password_hash : "";

	if (name == NULL || name[0] == '\0')
		return bk_err_set(err, BK_PRECONDITION_FAILED, "user name must not be empty");
	if (h[0] != '\0' && !bk_password_hash_valid(h, algo))
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "invalid password_hash for user '%s'", name);
	u = user_put(b, name);
	bk_free(u->hash);
	u->hash = bk_strdup(h);
	u->algo = algo;
	bk_free(u->tags);
	u->tags = tags_normalise(tags);
	return BK_OK;
}

enum bk_status
bk_user_set_password(struct bk_broker *b, const char *name, const char *password,
		     struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	user_set_password(u, password);
	bk_access_changed(b);
	return BK_OK;
}

enum bk_status
bk_user_set_tags(struct bk_broker *b, const char *name, const char *tags,
		 struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	bk_free(u->tags);
	u->tags = tags_normalise(tags);
	bk_access_changed(b);
	return BK_OK;
}

void
bk_user_loopback_set(struct bk_broker *b, const char *name, bool loopback_only)
{
	struct bk_user *u = user_find(b, name);

	if (u != NULL && u->loopback_only != loopback_only) {
		u->loopback_only = loopback_only;
		bk_access_changed(b);
	}
}

enum bk_status
bk_user_delete(struct bk_broker *b, const char *name, struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	HASH_DEL(b->users, u);
	bk_perms_drop(b, u->name, NULL);
	bk_tperms_drop(b, u->name, NULL, NULL);
	bk_registry_close_matching(b, NULL, u->name, "user deleted");
	user_free(u);
	bk_access_changed(b);
	return BK_OK;
}

bool
bk_user_has_tag(struct bk_broker *b, const char *name, const char *tag)
{
	struct bk_user *u = user_find(b, name);
	size_t n = strlen(tag);
	const char *p;

	if (u == NULL || n == 0)
		return false;
	for (p = u->tags; (p = strstr(p, tag)) != NULL; p += n)
		if ((p == u->tags || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

void
bk_users_free(struct bk_broker *b)
{
	struct bk_user *u, *tmp;

	HASH_ITER(hh, b->users, u, tmp) {
		HASH_DEL(b->users, u);
		user_free(u);
	}
}

static void
user_view(const struct bk_user *u, struct bk_user_view *v)
{
	v->name = u->name;
	v->password_hash = u->hash;
	v->hashing_algorithm = bk_hash_algo_name(u->algo);
	v->tags = u->tags;
	v->loopback_only = u->loopback_only;
	v->limits = u->limits;
}

/* ---- limits (their rules: bk_limits.c) ---- */

enum bk_status
bk_user_limit_set(struct bk_broker *b, const char *name, enum bk_limit l, int64_t value,
		  struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	if (l == BK_LIMIT_MAX_QUEUES)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "Unrecognised terms [{<<\"%s\">>}] in user-limits",
				  bk_limit_name(l));
	u->limits.v[l] = value;
	u->limits.set |= 1u << l;
	bk_access_changed(b);
	return BK_OK;
}

enum bk_status
bk_user_limit_clear(struct bk_broker *b, const char *name, int l, struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	u->limits.set &= l < 0 ? 0u : ~(1u << l);
	bk_access_changed(b);
	return BK_OK;
}

bool
bk_user_limits_get(struct bk_broker *b, struct bk_str name, struct bk_limit_values *out)
{
	struct bk_user *u = NULL;

	if (name.len > 0)
		HASH_FIND(hh, b->users, name.p, name.len, u);
	if (u == NULL)
		return false;
	*out = u->limits;
	return true;
}

static int
cmp_user(const void *a, const void *b)
{
	return strcmp((*(struct bk_user *const *)a)->name,
		      (*(struct bk_user *const *)b)->name);
}

int
bk_users_each(struct bk_broker *b, bk_user_each_fn fn, void *arg)
{
	struct bk_user **v = bk_calloc(HASH_COUNT(b->users) + 1, sizeof(*v));
	struct bk_user *u, *tmp;
	struct bk_user_view view;
	uint32_t n = 0, i;
	int rc = 0;

	HASH_ITER(hh, b->users, u, tmp)
		v[n++] = u;
	qsort(v, n, sizeof(*v), cmp_user);
	for (i = 0; i < n && rc == 0; i++) {
		user_view(v[i], &view);
		rc = fn(arg, &view);
	}
	bk_free(v);
	return rc;
}

enum bk_status
bk_user_inspect(struct bk_broker *b, const char *name, bk_user_each_fn fn,
		void *arg, struct bk_err *err)
{
	struct bk_user *u = user_find(b, name);
	struct bk_user_view view;

	if (u == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", name);
	user_view(u, &view);
	fn(arg, &view);
	return BK_OK;
}

enum bk_status
bk_user_check(struct bk_broker *b, struct bk_str user, struct bk_str password,
	      bool peer_is_loopback, struct bk_err *err)
{
	struct bk_user *u = NULL;

	b->auth.attempts++;
	b->auth.failed++;               /* until it succeeds */
	if (user.len > 0)
		HASH_FIND(hh, b->users, user.p, user.len, u);
	if (u == NULL || u->hash[0] == '\0') {
		/* the same hash as a wrong password costs: timing must not
		 * tell which user names exist */
		bk_password_verify(BK_HASH_SHA256, NO_USER_HASH, password);
		return bk_err_set(err, BK_ACCESS_REFUSED, "invalid credentials");
	}
	if (!bk_password_verify(u->algo, u->hash, password))
		return bk_err_set(err, BK_ACCESS_REFUSED, "invalid credentials");
	if (u->loopback_only && !peer_is_loopback)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "user '%s' can only connect via localhost",
				  u->name);
	b->auth.failed--;
	b->auth.succeeded++;
	return BK_OK;
}
