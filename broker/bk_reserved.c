/*
 * bk_reserved.c: queue names an adapter keeps for its own queues, as
 * RabbitMQ keeps "amq.". MQTT reserves "mqtt-subscription-" (a session's
 * queue) and "mqtt-shared-" (a shared subscription group's): a user who
 * could declare, bind or consume such a queue before the session exists
 * would read another client's messages.
 *
 * bk_access_check (every adapter's permission check on a queue: declare,
 * delete, purge, consume, get, bind as destination, move) refuses a
 * reserved name to everyone but administrators; the adapter checks its
 * own users on its own queues with bk_perm_check. Calls made without a
 * user (configuration, definitions import, the adapter's own declares)
 * never come here.
 */
#include "bk_mgmt.h"
#include "bk_routing.h"

#include <string.h>

#define ADMIN_TAG "administrator"

void
bk_queue_prefix_reserve(struct bk_broker *b, const char *prefix, const char *owner)
{
	struct bk_mgmt *m = bk_mgmt(b);

	for (unsigned i = 0; i < m->nreserved; i++)
		if (strcmp(m->reserved[i].prefix, prefix) == 0)
			return;
	BK_ASSERT(m->nreserved < BK_RESERVED_MAX);
	m->reserved[m->nreserved].prefix = bk_strdup(prefix);
	m->reserved[m->nreserved].owner = bk_strdup(owner);
	m->nreserved++;
}

void
bk_reserved_fini(struct bk_broker *b)
{
	struct bk_mgmt *m = bk_mgmt(b);

	for (unsigned i = 0; i < m->nreserved; i++) {
		bk_free(m->reserved[i].prefix);
		bk_free(m->reserved[i].owner);
	}
	m->nreserved = 0;
}

static const struct bk_reserved *
reserved_find(struct bk_broker *b, struct bk_str name)
{
	struct bk_mgmt *m = bk_mgmt(b);

	for (unsigned i = 0; i < m->nreserved; i++) {
		size_t n = strlen(m->reserved[i].prefix);

		if (name.len >= n && memcmp(name.p, m->reserved[i].prefix, n) == 0)
			return &m->reserved[i];
	}
	return NULL;
}

bool
bk_queue_reserved(struct bk_broker *b, struct bk_str name)
{
	return bk_mgmt(b)->nreserved != 0 && reserved_find(b, name) != NULL;
}

static bool
is_admin(struct bk_broker *b, struct bk_str user)
{
	char stack[256], *s;
	bool yes;

	if (user.len == 0 || memchr(user.p, 0, user.len) != NULL)
		return false;
	s = user.len < sizeof(stack) ? stack : bk_malloc(user.len + 1);
	memcpy(s, user.p, user.len);
	s[user.len] = '\0';
	yes = bk_user_has_tag(b, s, ADMIN_TAG);
	if (s != stack)
		bk_free(s);
	return yes;
}

enum bk_status
bk_reserved_check(struct bk_vhost *vh, struct bk_str user, struct bk_str name,
		  struct bk_err *err)
{
	const struct bk_reserved *r;

	if (bk_mgmt(vh->broker)->nreserved == 0 || (r = reserved_find(vh->broker, name)) == NULL ||
	    is_admin(vh->broker, user))
		return BK_OK;
	bk_err_set(err, BK_ACCESS_REFUSED,
		   "queue name '%.*s' contains reserved prefix '%s*' (%s)", (int)name.len,
		   name.p, r->prefix, r->owner);
	if (err != NULL)
		err->permission = true;
	return BK_ACCESS_REFUSED;
}
