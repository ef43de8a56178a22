/*
 * bk_limits.c: RabbitMQ's per-user and per-vhost limits.
 *
 *   user   max-connections   connections of the user, every protocol
 *          max-channels      AMQP channels of the user, all connections
 *   vhost  max-connections   connections to the vhost, every protocol
 *          max-queues        queues in the vhost (checked on declare)
 *
 * A negative value is no limit, 0 allows none, as in RabbitMQ. The values
 * live with their user (bk_user.c) and vhost (struct bk_vhost); counts
 * come from the connection registry, so a connection counts once it has
 * registered with its user (and vhost). Limits are durable: users carry
 * theirs in the definitions document, vhosts in a "vhost-limits"
 * parameter, as RabbitMQ exports them.
 */
#include "bk_mgmt.h"

#include <string.h>

/* A limit that applies: set and not negative. */
static bool
limited(const struct bk_limit_values *v, enum bk_limit l, int64_t *max)
{
	if (!(v->set & (1u << l)) || v->v[l] < 0)
		return false;
	*max = v->v[l];
	return true;
}


enum bk_status
bk_vhost_limit_set(struct bk_broker *b, const char *vhost, enum bk_limit l, int64_t value,
		   struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(b, vhost);

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	if (l == BK_LIMIT_MAX_CHANNELS)
		return bk_err_set(err, BK_PRECONDITION_FAILED,
				  "Unrecognised terms [{<<\"%s\">>}] in vhost-limits",
				  bk_limit_name(l));
	vh->limits.v[l] = value;
	vh->limits.set |= 1u << l;
	bk_access_changed(b);
	return BK_OK;
}

enum bk_status
bk_vhost_limit_clear(struct bk_broker *b, const char *vhost, int l, struct bk_err *err)
{
	struct bk_vhost *vh = bk_vhost_get(b, vhost);

	if (vh == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	vh->limits.set &= l < 0 ? 0u : ~(1u << l);
	bk_access_changed(b);
	return BK_OK;
}

void
bk_vhost_limits_get(const struct bk_vhost *vh, struct bk_limit_values *out)
{
	*out = vh->limits;
}

/* ---- enforcement ------------------------------------------------------- */

/* Registered connections (but self) of vhost, or of user when vhost is NULL. */
static int64_t
count_conns(struct bk_broker *b, const struct bk_conn *self, const char *vhost,
	    struct bk_str user)
{
	int64_t n = 0;

	struct bk_conn_info ci;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		if (c == self)
			continue;
		bk_registry_info(b, c, &ci);
		if (vhost != NULL ? (ci.vhost && strcmp(ci.vhost, vhost) == 0)
				  : bk_str_eq_c(user, ci.user))
			n++;
	}
	return n;
}

enum bk_status
bk_conn_limits_check(struct bk_broker *b, const struct bk_conn *self, struct bk_str user,
		     const char *vhost, struct bk_err *err)
{
	struct bk_vhost *vh = vhost ? bk_vhost_get(b, vhost) : NULL;
	struct bk_limit_values ul;
	int64_t max;

	if (vh != NULL && limited(&vh->limits, BK_LIMIT_MAX_CONNECTIONS, &max) &&
	    count_conns(b, self, vhost, user) >= max)
		return bk_err_set(err, BK_NOT_ALLOWED, "access to vhost '%s' refused for user "
				  "'%.*s': connection limit (%lld) is reached", vhost,
				  (int)user.len, user.p, (long long)max);
	if (bk_user_limits_get(b, user, &ul) && limited(&ul, BK_LIMIT_MAX_CONNECTIONS, &max) &&
	    count_conns(b, self, NULL, user) >= max)
		return bk_err_set(err, BK_NOT_ALLOWED, "Connection refused for user '%.*s': "
				  "user connection limit (%lld) is reached", (int)user.len,
				  user.p, (long long)max);
	return BK_OK;
}

enum bk_status
bk_chan_limit_check(struct bk_broker *b, struct bk_str user, struct bk_err *err)
{
	struct bk_limit_values ul;
	int64_t max, n = 0;

	if (!bk_user_limits_get(b, user, &ul) || !limited(&ul, BK_LIMIT_MAX_CHANNELS, &max))
		return BK_OK;
	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		struct bk_conn_info ci;

		if (c->chans == NULL)
			continue;
		bk_registry_info(b, c, &ci);
		if (bk_str_eq_c(user, ci.user))
			for (struct bk_chan *ch = c->chans; ch != NULL; ch = ch->cnext)
				n++;
	}
	if (n < max)
		return BK_OK;
	return bk_err_set(err, BK_NOT_ALLOWED, "number of channels opened for user '%.*s' "
			  "has reached the maximum allowed user limit of (%lld)",
			  (int)user.len, user.p, (long long)max);
}
