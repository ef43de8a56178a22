/*
 * amqp_handshake.c: channel 0. The connection handshake [AMQP 0-9-1
 * §2.2.4] and the connection class afterwards:
 *
 *   client                      server
 *   "AMQP\0\0\x09\x01"   ->
 *                        <-     connection.start
 *   connection.start-ok  ->     (authenticate: PLAIN or AMQPLAIN)
 *                        <-     connection.tune
 *   connection.tune-ok   ->     (negotiate frame_max, channel_max, heartbeat)
 *   connection.open      ->
 *                        <-     connection.open-ok       state RUNNING
 *   ...
 *   connection.close     ->     (free channels, exclusive queues)
 *                        <-     connection.close-ok      flush, free
 *
 * Wording and codes of refusals are RabbitMQ's (rabbit_reader.erl).
 * Nothing here re-enters channel code except through the channel frees.
 */
#include "amqp_conn_int.h"

#include <stdio.h>
#include <string.h>

/* The user a verified client certificate names: its CN, or its whole DN
 * with tls.cert_login_from = distinguished_name. 0, or -ENOENT. */
static int
cert_identity(struct amqp_conn *c, char *buf, size_t cap)
{
	char tmp[512];

	if (buf == NULL) {
		buf = tmp;
		cap = sizeof(tmp);
	}
	return net_conn_peer_identity(c->nc, conn_priv(c)->cfg->cert_login_dn, buf, cap);
}

void
amqp_conn_send_start(struct amqp_conn *c)
{
	struct amqp_method m = { .id = AMQP_CONNECTION_START };

	m.u.connection_start.version_major = 0;
	m.u.connection_start.version_minor = 9;
	m.u.connection_start.server_properties = c->listener->server_props;
	/* EXTERNAL only where a verified client certificate can name the
	 * user (RabbitMQ's rabbitmq_auth_mechanism_ssl). */
	m.u.connection_start.mechanisms = cert_identity(c, NULL, 0) == 0 ?
		BK_STR_LIT("PLAIN AMQPLAIN EXTERNAL") : BK_STR_LIT("PLAIN AMQPLAIN");
	m.u.connection_start.locales = BK_STR_LIT("en_US");
	amqp_conn_send_method(c, 0, &m);
	c->state = AMQP_CONN_START_OK;
}

static bool
cap_true(struct bk_table caps, const char *name)
{
	struct bk_value v;

	return bk_table_get(caps, name, &v) && v.type == BK_V_BOOL && v.u.b;
}

/* client-properties.capabilities: the extensions this client handles. */
static void
read_capabilities(struct amqp_conn *c, struct bk_table props)
{
	struct bk_value v;

	if (!bk_table_get(props, "capabilities", &v) || v.type != BK_V_TABLE)
		return;
	c->cap_consumer_cancel_notify = cap_true(v.u.t, "consumer_cancel_notify");
	c->cap_connection_blocked = cap_true(v.u.t, "connection.blocked");
	c->cap_auth_failure_close = cap_true(v.u.t, "authentication_failure_close");
	c->cap_basic_nack = cap_true(v.u.t, "basic.nack");
}

/* PLAIN [RFC 4616]: [authzid] NUL authcid NUL passwd. */
static bool
parse_plain(struct bk_str r, struct bk_str *user, struct bk_str *pass)
{
	const char *nul1 = r.len ? memchr(r.p, 0, r.len) : NULL, *nul2;

	if (!nul1)
		return false;
	nul2 = memchr(nul1 + 1, 0, (size_t)(r.p + r.len - (nul1 + 1)));
	if (!nul2)
		return false;
	user->p = nul1 + 1;
	user->len = (uint32_t)(nul2 - user->p);
	pass->p = nul2 + 1;
	pass->len = (uint32_t)(r.p + r.len - pass->p);
	return memchr(pass->p, 0, pass->len) == NULL;
}

/* AMQPLAIN: a field table without its length prefix, LOGIN and PASSWORD. */
static bool
parse_amqplain(struct bk_str r, struct bk_str *user, struct bk_str *pass)
{
	struct bk_table t = { (const uint8_t *)r.p, r.len };
	struct bk_value u, pw;

	if (bk_table_validate(t) < 0 || !bk_table_get(t, "LOGIN", &u) ||
	    !bk_table_get(t, "PASSWORD", &pw))
		return false;
	if (u.type != BK_V_LSTR || pw.type != BK_V_LSTR)
		return false;
	*user = u.u.s;
	*pass = pw.u.s;
	return true;
}

static void
send_tune(struct amqp_conn *c)
{
	const struct amqp_config *cfg = conn_priv(c)->cfg;
	struct amqp_method m = { .id = AMQP_CONNECTION_TUNE };

	m.u.connection_tune.channel_max = cfg->channel_max;
	m.u.connection_tune.frame_max = cfg->frame_max;
	m.u.connection_tune.heartbeat = cfg->heartbeat;
	amqp_conn_send_method(c, 0, &m);
	c->state = AMQP_CONN_TUNE_OK;
}

static void
login_done(struct amqp_conn *c, struct bk_str user, struct bk_table client_properties)
{
	amqp_conn_mgmt_login(c, user, client_properties);
	send_tune(c);
}

/* SASL EXTERNAL [RFC 4422 App. A]: the user is who the verified client
 * certificate says; the response (an authorization identity) is ignored,
 * as RabbitMQ does. */
static void
on_start_ok_external(struct amqp_conn *c, const struct amqp_connection_start_ok *so,
		     char *ident, size_t cap)
{
	struct bk_err err = { 0 };

	if (cert_identity(c, ident, cap) < 0) {
		amqp_conn_close_or(c, AMQP_COMMAND_INVALID, AMQP_CONNECTION_START_OK,
				   "unknown authentication mechanism 'EXTERNAL'");
		return;
	}
	if (bk_user_check_identity(c->broker, bk_str_c(ident), c->peer_is_loopback,
				   &err) != BK_OK) {
		amqp_conn_log(c, BK_LOG_INFO, "EXTERNAL login refused: %s", err.text);
		amqp_conn_close_or(c, AMQP_ACCESS_REFUSED, 0,
				   "Login was refused using authentication mechanism EXTERNAL. "
				   "For details see the broker logfile.");
		return;
	}
	login_done(c, bk_str_c(ident), so->client_properties);
}

static void
on_start_ok(struct amqp_conn *c, const struct amqp_method *m)
{
	const struct amqp_connection_start_ok *so = &m->u.connection_start_ok;
	const char *mech;
	struct bk_str user, pass;
	struct bk_err err = { 0 };
	char ident[512];
	bool ok;

	read_capabilities(c, so->client_properties);
	if (bk_str_eq_c(so->mechanism, "EXTERNAL")) {
		on_start_ok_external(c, so, ident, sizeof(ident));
		return;
	}
	if (bk_str_eq_c(so->mechanism, "PLAIN")) {
		mech = "PLAIN";
		ok = parse_plain(so->response, &user, &pass);
	} else if (bk_str_eq_c(so->mechanism, "AMQPLAIN")) {
		mech = "AMQPLAIN";
		ok = parse_amqplain(so->response, &user, &pass);
	} else {
		amqp_conn_close_or(c, AMQP_COMMAND_INVALID, m->id,
				   "unknown authentication mechanism '%.*s'",
				   (int)so->mechanism.len, so->mechanism.p);
		return;
	}
	if (!ok) {
		amqp_conn_close_or(c, AMQP_SYNTAX_ERROR, m->id,
				   "%s response is malformed", mech);
		return;
	}
	if (bk_user_check(c->broker, user, pass, c->peer_is_loopback, &err) != BK_OK) {
		amqp_conn_log(c, BK_LOG_INFO, "%s login refused: %s", mech, err.text);
		amqp_conn_close_or(c, AMQP_ACCESS_REFUSED, 0,
				   "Login was refused using authentication mechanism %s. "
				   "For details see the broker logfile.", mech);
		return;
	}
	login_done(c, user, so->client_properties);
}

/*
 * RabbitMQ's rule for each negotiated limit: the client's value may not
 * be below the minimum, nor 0 ("no limit") or above the server's value
 * when the server has a limit. 530 NOT_ALLOWED otherwise.
 */
static bool
negotiate(struct amqp_conn *c, const char *field, uint32_t min, uint32_t server,
	  uint32_t client)
{
	if (client != 0 && client < min) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_TUNE,
				   "negotiated %s = %u is lower than the minimum allowed value (%u)",
				   field, client, min);
		return false;
	}
	if (server != 0 && (client == 0 || client > server)) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, AMQP_CONNECTION_TUNE,
				   "negotiated %s = %u%s is higher than the maximum allowed value (%u)",
				   field, client,
				   client == 0 && strcmp(field, "channel_max") == 0 ? " (no limit)" : "",
				   server);
		return false;
	}
	return true;
}

static void
on_tune_ok(struct amqp_conn *c, const struct amqp_method *m)
{
	const struct amqp_connection_tune_ok *t = &m->u.connection_tune_ok;
	const struct amqp_config *cfg = conn_priv(c)->cfg;

	if (!negotiate(c, "frame_max", AMQP_FRAME_MIN_SIZE, cfg->frame_max, t->frame_max) ||
	    !negotiate(c, "channel_max", 1, cfg->channel_max, t->channel_max))
		return;
	c->frame_max = t->frame_max;
	c->channel_max = t->channel_max ? t->channel_max : UINT16_MAX;
	c->heartbeat = t->heartbeat;
	c->tuned = true;
	c->state = AMQP_CONN_OPEN;
}

static void
on_open(struct amqp_conn *c, const struct amqp_method *m)
{
	const struct bk_str vh = m->u.connection_open.virtual_host;
	struct amqp_method ok = { .id = AMQP_CONNECTION_OPEN_OK };
	char name[256];
	struct bk_err err = { 0 };

	snprintf(name, sizeof(name), "%.*s", (int)vh.len, vh.p);
	if ((vh.len && memchr(vh.p, 0, vh.len)) || !(c->vhost = bk_vhost_get(c->broker, name))) {
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, m->id, "vhost %s not found", name);
		return;
	}
	/* Any vhost may be opened; the user needs permissions on it. The
	 * limits come first, as RabbitMQ checks them. */
	if (bk_conn_limits_check(c->broker, c->mgmt, bk_str_c(c->user), name, &err) != BK_OK ||
	    bk_vhost_access(c->broker, bk_str_c(c->user), name, &err) != BK_OK) {
		c->vhost = NULL;
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, m->id, "%s", err.text);
		return;
	}
	amqp_conn_mgmt_open(c, name);
	amqp_conn_send_method(c, 0, &ok);
	c->state = AMQP_CONN_RUNNING;
	amqp_conn_log(c, BK_LOG_INFO,
		      "user '%s' authenticated and granted access to vhost '%s'",
		      c->user, name);
	net_conn_ready(c->nc);
	amqp_conn_heartbeat_start(c);
}

/* The client closes: requeue and free everything, then close-ok. */
static void
on_close(struct amqp_conn *c, const struct amqp_method *m)
{
	struct amqp_method ok = { .id = AMQP_CONNECTION_CLOSE_OK };

	if (c->state == AMQP_CONN_RUNNING) {
		const struct amqp_connection_close *cl = &m->u.connection_close;

		amqp_conn_log(c, BK_LOG_INFO, "client closed the connection: %u %.*s",
			      cl->reply_code, (int)cl->reply_text.len, cl->reply_text.p);
		amqp_conn_free_channels(c);
		amqp_conn_release_owner(c);
	}
	amqp_conn_send_method(c, 0, &ok);
	amqp_conn_flush_then_free(c);
}

/*
 * connection.update-secret (RabbitMQ 3.13/4.x; OAuth 2 clients refresh
 * their token with it): the new secret is checked for the connection's
 * user exactly as a login would check it (bk_user_check, loopback rule
 * included). Accepted: update-secret-ok and the connection goes on.
 * Refused: 530 NOT_ALLOWED with RabbitMQ's text, and the connection
 * closes. (RabbitMQ's internal backend accepts any secret here, as it
 * does not expire; we hold the secret to the login's standard.)
 */
static void
on_update_secret(struct amqp_conn *c, const struct amqp_method *m)
{
	const struct amqp_connection_update_secret *us = &m->u.connection_update_secret;
	struct amqp_method ok = { .id = AMQP_CONNECTION_UPDATE_SECRET_OK };
	struct bk_err err = { 0 };

	if (bk_user_check(c->broker, bk_str_c(c->user), us->new_secret, c->peer_is_loopback,
			  &err) != BK_OK) {
		amqp_conn_log(c, BK_LOG_INFO, "secret update was refused for user '%s': %s",
			      c->user, err.text);
		amqp_conn_close_or(c, AMQP_NOT_ALLOWED, m->id,
				   "New secret was refused by one of the backends");
		return;
	}
	amqp_conn_send_method(c, 0, &ok);
	amqp_conn_log(c, BK_LOG_INFO, "user '%s' updated secret, reason: %.*s", c->user,
		      (int)us->reason.len, us->reason.p);
}

/* Does method m belong to channel 0 in state st? */
static bool
expected_in(const struct amqp_conn *c, uint32_t id)
{
	switch (id) {
	case AMQP_CONNECTION_START_OK:  return c->state == AMQP_CONN_START_OK;
	case AMQP_CONNECTION_TUNE_OK:   return c->state == AMQP_CONN_TUNE_OK;
	case AMQP_CONNECTION_OPEN:      return c->state == AMQP_CONN_OPEN;
	case AMQP_CONNECTION_CLOSE:     return c->state == AMQP_CONN_RUNNING ||
					       c->state == AMQP_CONN_CLOSING;
	case AMQP_CONNECTION_CLOSE_OK:  return c->state == AMQP_CONN_CLOSING;
	case AMQP_CONNECTION_UPDATE_SECRET: return c->state == AMQP_CONN_RUNNING;
	default:                        return false;
	}
}

void
amqp_conn_on_method0(struct amqp_conn *c, const struct amqp_method *m)
{
	if (!expected_in(c, m->id)) {
		/* Closing: RabbitMQ ignores everything but close and close-ok. */
		if (c->state < AMQP_CONN_CLOSING)
			amqp_conn_close_or(c, AMQP_CHANNEL_ERROR, m->id,
					   "unexpected method in connection state %s",
					   amqp_conn_state_name(c->state));
		return;
	}
	switch (m->id) {
	case AMQP_CONNECTION_START_OK:
		on_start_ok(c, m);
		break;
	case AMQP_CONNECTION_TUNE_OK:
		on_tune_ok(c, m);
		break;
	case AMQP_CONNECTION_OPEN:
		on_open(c, m);
		break;
	case AMQP_CONNECTION_CLOSE:
		on_close(c, m);
		break;
	case AMQP_CONNECTION_CLOSE_OK:
		amqp_conn_free_later(c);
		break;
	case AMQP_CONNECTION_UPDATE_SECRET:
		on_update_secret(c, m);
		break;
	}
}
