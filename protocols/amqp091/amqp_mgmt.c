/*
 * amqp_mgmt.c: the connection's side of management. Registers each
 * accepted connection with the broker's registry (what /api/connections
 * lists and what sluicectl close_connection and vhost deletion close),
 * and implements the registry's describe and close callbacks.
 *
 * close() comes from outside our callbacks (an HTTP handler, vhost or
 * user deletion): it sends connection.close 320 CONNECTION_FORCED and
 * gives back every core object at once, channels (consumers, unacked
 * deliveries) and exclusive queues, because the caller may free the
 * vhost right after. The connection itself goes later, as always.
 *
 * The registry keeps no strings: info() tells it the addresses (the
 * transport's, which outlive the registration), and the user, client
 * properties and vhost from one block the connection owns, made at login
 * and grown by connection.open (a deleted vhost's name stays readable
 * there while the connection closes):
 *
 *   c->user: user \0 | plen (u32) | client-properties[plen] | v | [vhost \0]
 *                                                       v = 1: vhost follows
 */
#include "amqp_conn_int.h"

#include <string.h>

static const char *
rabbit_state(const struct amqp_conn *c)
{
	const struct amqp_conn_priv *p = conn_priv(c);

	switch (c->state) {
	case AMQP_CONN_HEADER:
	case AMQP_CONN_START_OK:
	case AMQP_CONN_SECURE_OK: return "starting";
	case AMQP_CONN_TUNE_OK:   return "tuning";
	case AMQP_CONN_OPEN:      return "opening";
	case AMQP_CONN_RUNNING:
		if (p->flow_blocked)
			return "blocked";
		return "running";
	case AMQP_CONN_CLOSING:   return "closing";
	default:                  return "closed";
	}
}

static void
describe(void *ctx, struct bk_conn_state *st)
{
	const struct amqp_conn *c = ctx;

	st->state = rabbit_state(c);
	st->channels = conn_priv(c)->nchannels;
	st->channel_max = c->tuned ? c->channel_max : 0;
	st->frame_max = c->frame_max;
	st->timeout = c->heartbeat;
	net_conn_describe(c->nc, st);
}

static void
mgmt_close(void *ctx, const char *reason)
{
	struct amqp_conn *c = ctx;

	amqp_conn_close_or(c, AMQP_CONNECTION_FORCED, 0, "%s", reason);
	amqp_conn_free_channels(c);
	amqp_conn_release_owner(c);
}

/* Where the client properties of c->user start (plen before them). */
static const uint8_t *
user_props(const struct amqp_conn *c, uint32_t *plen)
{
	const uint8_t *p = (const uint8_t *)c->user + strlen(c->user) + 1;

	memcpy(plen, p, sizeof(*plen));
	return p + sizeof(*plen);
}

static void
info(void *ctx, struct bk_conn_info *out)
{
	const struct amqp_conn *c = ctx;
	const uint8_t *props;
	uint32_t plen;

	net_conn_fill_info(c->nc, out);
	if (c->user == NULL)
		return;
	out->user = c->user;
	props = user_props(c, &plen);
	out->client_properties = (struct bk_table){ plen ? props : NULL, plen };
	if (props[plen])
		out->vhost = (const char *)props + plen + 1;
}

static const struct bk_conn_ops conn_ops = {
	.version = BK_CONN_OPS_V1,
	.describe = describe,
	.info = info,
	.close = mgmt_close,
};

void
amqp_conn_mgmt_login(struct amqp_conn *c, struct bk_str user, struct bk_table props)
{
	size_t ulen = strnlen(user.p ? user.p : "", user.len);
	uint32_t plen = props.len;
	char *p;

	bk_free(c->user);
	c->user = p = bk_malloc(ulen + 1 + sizeof(plen) + plen + 1);
	memcpy(p, user.p ? user.p : "", ulen);
	p[ulen] = '\0';
	p += ulen + 1;
	memcpy(p, &plen, sizeof(plen));
	p += sizeof(plen);
	if (plen)
		memcpy(p, props.p, plen);
	p[plen] = 0;                    /* no vhost yet */
}

void
amqp_conn_mgmt_open(struct amqp_conn *c, const char *vhost)
{
	size_t head, vlen = strlen(vhost);
	uint32_t plen;

	if (c->user == NULL)
		return;
	head = (size_t)(user_props(c, &plen) - (const uint8_t *)c->user) + plen;
	c->user = bk_realloc(c->user, head + 1 + vlen + 1);
	c->user[head] = 1;
	memcpy(c->user + head + 1, vhost, vlen + 1);
}

void
amqp_conn_mgmt_register(struct amqp_conn *c)
{
	struct bk_conn_info info = {
		.protocol = "AMQP 0-9-1", .ops = &conn_ops, .ctx = c,
	};

	c->mgmt = bk_conn_register(c->broker, &info);
	c->ctr = bk_conn_counters(c->mgmt);
	bk_conn_set_owner(c->mgmt, true);      /* exclusive queues' owner: (bk_owner)c */
}

void
amqp_conn_mgmt_unregister(struct amqp_conn *c)
{
	bk_conn_unregister(c->broker, c->mgmt);
	c->mgmt = NULL;
	c->ctr = NULL;
}
