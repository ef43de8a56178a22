/*
 * bk_user.c: the user table and login checks.
 *
 * Users live in broker->users (uthash by name). Passwords are compared in
 * constant time with respect to their content, so a peer cannot learn a
 * password prefix from reply timing. Refusal texts stay neutral: the
 * adapter knows the mechanism and words the reply (RabbitMQ names the
 * mechanism in its own text).
 */
#include "bk_routing.h"

#include <string.h>

struct bk_user {
	char *name;                     /* owned; uthash key */
	char *password;                 /* owned */
	char *tags;                     /* owned */
	bool loopback_only;
	UT_hash_handle hh;              /* in broker->users */
};

static void
user_free(struct bk_user *u)
{
	if (u == NULL)
		return;
	bk_free(u->name);
	bk_free(u->password);
	bk_free(u->tags);
	bk_free(u);
}

void
bk_user_set(struct bk_broker *b, const char *name, const char *password,
	    const char *tags, bool loopback_only)
{
	struct bk_user *u = NULL;

	HASH_FIND_STR(b->users, name, u);
	if (u != NULL) {
		HASH_DEL(b->users, u);
		user_free(u);
	}
	u = bk_calloc(1, sizeof(*u));
	u->name = bk_strdup(name);
	u->password = bk_strdup(password ? password : "");
	u->tags = bk_strdup(tags ? tags : "");
	u->loopback_only = loopback_only;
	HASH_ADD_KEYPTR(hh, b->users, u->name, strlen(u->name), u);
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

static bool
secret_eq(struct bk_str given, const char *stored)
{
	size_t n = strlen(stored), i;
	unsigned diff = given.len != n;

	for (i = 0; i < given.len; i++)
		diff |= (unsigned char)given.p[i] ^ (unsigned char)stored[i < n ? i : 0];
	return diff == 0;
}

enum bk_status
bk_user_check(struct bk_broker *b, struct bk_str user, struct bk_str password,
	      bool peer_is_loopback, struct bk_err *err)
{
	struct bk_user *u = NULL;

	if (user.len > 0)
		HASH_FIND(hh, b->users, user.p, user.len, u);
	if (u == NULL || !secret_eq(password, u->password))
		return bk_err_set(err, BK_ACCESS_REFUSED, "invalid credentials");
	if (u->loopback_only && !peer_is_loopback)
		return bk_err_set(err, BK_ACCESS_REFUSED,
				  "user '%s' can only connect via localhost",
				  u->name);
	return BK_OK;
}
