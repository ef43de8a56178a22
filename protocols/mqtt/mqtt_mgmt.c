/*
 * mqtt_mgmt.c: the MQTT connection's side of management. A connection is
 * registered with the broker's registry once its CONNECT is accepted
 * (the protocol level is known then: "MQTT 3.1", "MQTT 3.1.1",
 * "MQTT 5.0"), with its user, vhost and client id, so /api/connections
 * lists it and sluicectl close_connection, user and vhost deletion can
 * close it.
 *
 * close() comes from outside our callbacks and must hand back every core
 * object before it returns: v5 clients get DISCONNECT 0x98
 * (administrative action), the session's consumers are cancelled and its
 * in-flight deliveries requeued. A persistent session stays (its queue
 * keeps collecting).
 *
 * Deleting a vhost closes its connections that way first, then calls
 * mqtt_mgmt_vhost_gone() (a bk_vhost_watch watcher) while the vhost still
 * exists: every session of the vhost ends (connected or not, its queue
 * deleted), pending wills of the vhost are dropped rather than published
 * into it, connections that still name it (closing, or refused after
 * login) forget it (the core drops the vhost's retained messages). Nothing
 * of the adapter points into the vhost afterwards.
 */
#include "mqtt_int.h"

#include <string.h>

static void
describe(void *ctx, struct bk_conn_state *st)
{
	const struct mqtt_conn *c = ctx;

	st->state = c->state == MQTT_CONN_RUNNING ? (c->blocked ? "blocked" : "running")
						  : "closing";
	st->timeout = c->keepalive;
	net_conn_describe(c->nc, st);
}

static void
mgmt_close(void *ctx, const char *reason)
{
	struct mqtt_conn *c = ctx;
	struct mqtt_session *s = c->session;

	mqtt_conn_close_or(c, MQTT_RC_ADMIN_ACTION, "%s", reason ? reason : "closed");
	if (!s)
		return;
	c->session = NULL;
	s->conn = NULL;
	mqtt_session_detach(s, NULL);
	if (mqtt_session_exists(c->l, s))
		mqtt_out_clear(s, BK_SETTLE_REQUEUE);
}

void
mqtt_mgmt_vhost_gone(void *arg, struct bk_vhost *vh)
{
	struct mqtt_listener *l = arg;
	struct mqtt_session *s, *nx;
	struct mqtt_shared *sh, *shtmp;
	uint32_t i;

	for (struct mqtt_conn *c = l->conns; c; c = c->next) {
		if (c->vhost != vh)
			continue;
		mqtt_will_free(mqtt_conn_take_will(c));
		if (c->session) {
			s = c->session;
			c->session = NULL;
			s->conn = NULL;
		}
		mqtt_conn_close_or(c, MQTT_RC_ADMIN_ACTION, "vhost '%s' is deleted",
				   bk_vhost_name(vh));
		c->vhost = NULL;
	}
	MQTT_SESSIONS_EACH(l, i, s, nx) {
		if (s->vhost != vh)
			continue;
		mqtt_will_free(mqtt_session_will(s));
		s->conn = NULL;
		mqtt_session_destroy(s);
	}
	HASH_ITER(hh, l->shared, sh, shtmp)
		BK_ASSERT(sh->vhost != vh);
	mqtt_sys_vhost_gone(l, vh);
}

/* The registry keeps no strings: the transport's addresses and our
 * login's copies (mqtt_conn_user) outlive the registration. */
static void
info(void *ctx, struct bk_conn_info *out)
{
	const struct mqtt_conn *c = ctx;

	net_conn_fill_info(c->nc, out);
	out->user = mqtt_conn_user(c);
	out->vhost = mqtt_conn_vhost_name(c);
	out->client_id = mqtt_conn_client_id(c);
}

static const struct bk_conn_ops conn_ops = {
	.version = BK_CONN_OPS_V1,
	.describe = describe,
	.info = info,
	.close = mgmt_close,
};

void
mqtt_mgmt_register(struct mqtt_conn *c)
{
	struct bk_conn_info info = {
		.protocol = c->level == MQTT_V5 ? "MQTT 5.0" :
			    c->level == MQTT_V311 ? "MQTT 3.1.1" : "MQTT 3.1",
		.ops = &conn_ops, .ctx = c,
	};

	c->mgmt = bk_conn_register(c->l->broker, &info);
	c->ctr = bk_conn_counters(c->mgmt);
}

void
mqtt_mgmt_unregister(struct mqtt_conn *c)
{
	bk_conn_unregister(c->l->broker, c->mgmt);
	c->mgmt = NULL;
	c->ctr = NULL;
}
