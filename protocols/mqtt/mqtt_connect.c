/*
 * mqtt_connect.c: CONNECT and DISCONNECT: authentication, vhost choice,
 * client identifiers, session takeover, clean start, session expiry and
 * the CONNACK with the server's limits.
 *
 * Authentication uses the broker's users, as AMQP does. A user name of
 * the form "vhost:user" selects the vhost (RabbitMQ's MQTT plugin rule);
 * otherwise [mqtt] vhost is used. Without a user name the client is
 * refused unless [mqtt] allow_anonymous is on, in which case it logs in
 * as [mqtt] anonymous_user / anonymous_password (guest/guest by default,
 * which, being loopback-only, admits local clients only).
 *
 * Refusals get a CONNACK with the version's code and then the socket is
 * closed [MQTT-3.2.2-5/-6]: bad credentials 4 / 0x86, not authorized
 * (anonymous refused, unknown vhost, no permissions on the vhost,
 * loopback-only user, a client id whose session belongs to another user,
 * a session resumed without the rights its subscriptions need) 5 / 0x87,
 * the vhost's or the user's max-connections limit reached 5 / 0x97,
 * empty client id where not allowed 2 / 0x85.
 *
 * Sessions belong to users: the checks (session_usable) come before the
 * takeover, so a refused CONNECT leaves the session and its connection
 * as they were.
 */
#include "mqtt_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

struct connect_ctx {
	uint8_t rc;                     /* v5 reason, 0 = accepted */
	struct bk_str user;             /* logged in as: into the CONNECT, the
					   configuration or ident */
	char ident[256];                /* a certificate's identity */
	char why[320];
	char client_id[48];             /* assigned, if any */
	bool assigned;
	uint16_t server_keepalive;      /* 0 = not announced */
};

static void
refuse(struct mqtt_conn *c, uint8_t rc5, const char *why)
{
	struct mqtt_packet ack;

	memset(&ack, 0, sizeof(ack));
	ack.type = MQTT_CONNACK;
	ack.u.connack.code = c->level == MQTT_V5 ? rc5 : mqtt_connack_v3(rc5);
	if (c->level == MQTT_V5 && mqtt_conn_reason_ok(c)) {
		ack.u.connack.props.present |= MQTT_PBIT(MQTT_PROP_REASON_STRING);
		ack.u.connack.props.reason_string = bk_str_c(why);
	}
	mqtt_send(c, &ack);
	mqtt_conn_close_or(c, 0, "CONNECT refused (0x%02x): %s", ack.u.connack.code, why);
}

/*
 * "vhost:user" or "user"; vhost falls back to [mqtt] vhost. The split is
 * at the LAST colon, as RabbitMQ's MQTT plugin splits it, so a vhost
 * name may hold colons ("a:b:alice" is user alice in vhost "a:b") and a
 * user name may not.
 */
static bool
split_user(struct mqtt_conn *c, struct bk_str u, struct bk_str *user, char *vhost, size_t cap)
{
	const char *colon = u.len ? memrchr(u.p, ':', u.len) : NULL;

	if (colon) {
		size_t vn = (size_t)(colon - u.p);

		if (vn + 1 > cap)
			return false;
		memcpy(vhost, u.p, vn);
		vhost[vn] = '\0';
		user->p = colon + 1;
		user->len = u.len - (uint32_t)vn - 1;
		return true;
	}
	snprintf(vhost, cap, "%s", c->l->cfg.vhost);
	*user = u;
	return true;
}

/*
 * mqtt.use_identity_as_username (Mosquitto's option): a client without a
 * password on a TLS connection with a verified certificate is the user
 * its certificate's CN names; the user name it sent, if any, is ignored.
 * 1 = decided (ok or refused, x says), 0 = not such a login.
 */
static int
certificate_login(struct mqtt_conn *c, const struct mqtt_connect *cn,
		  struct connect_ctx *x, char *ident, size_t cap)
{
	struct bk_err err;

	if (!c->l->cfg.use_identity_as_username || cn->has_password ||
	    net_conn_peer_identity(c->nc, false, ident, cap) < 0)
		return 0;
	if (bk_user_check_identity(c->l->broker, bk_str_c(ident),
				   net_conn_peer_is_loopback(c->nc), &err) != BK_OK) {
		x->rc = MQTT_RC_NOT_AUTHORIZED;
		snprintf(x->why, sizeof(x->why), "certificate login: %s", err.text);
		return 1;
	}
	return 1;
}

static bool
authenticate(struct mqtt_conn *c, const struct mqtt_connect *cn, struct connect_ctx *x)
{
	const struct mqtt_config *cfg = &c->l->cfg;
	struct bk_str user, pass;
	char vhost[256], *ident = x->ident;
	struct bk_err err;

	ident[0] = '\0';
	if (certificate_login(c, cn, x, ident, sizeof(x->ident))) {
		if (x->rc)
			return false;
		user = bk_str_c(ident);
		snprintf(vhost, sizeof(vhost), "%s", cfg->vhost);
	} else if (!cn->has_username) {
		if (!cfg->allow_anonymous) {
			x->rc = MQTT_RC_NOT_AUTHORIZED;
			snprintf(x->why, sizeof(x->why), "anonymous access is not allowed");
			return false;
		}
		snprintf(vhost, sizeof(vhost), "%s", cfg->vhost);
		user = bk_str_c(cfg->anonymous_user);
		pass = bk_str_c(cfg->anonymous_password);
	} else {
		if (!split_user(c, cn->username, &user, vhost, sizeof(vhost))) {
			x->rc = MQTT_RC_NOT_AUTHORIZED;
			snprintf(x->why, sizeof(x->why), "vhost name too long");
			return false;
		}
		pass = cn->has_password ? cn->password : (struct bk_str){ "", 0 };
	}
	if (ident[0] == '\0' &&
	    bk_user_check(c->l->broker, user, pass, net_conn_peer_is_loopback(c->nc),
			  &err) != BK_OK) {
		/* anonymous login failing is an authorisation matter, not a
		 * credential the client could fix */
		x->rc = cn->has_username ? MQTT_RC_BAD_USER_OR_PASS : MQTT_RC_NOT_AUTHORIZED;
		snprintf(x->why, sizeof(x->why), "%s", err.text);
		return false;
	}
	/* the vhost's and the user's max-connections, as RabbitMQ's MQTT
	 * plugin answers them: quota exceeded (v3: not authorized) */
	if (bk_conn_limits_check(c->l->broker, NULL, user, vhost, &err) != BK_OK) {
		x->rc = MQTT_RC_QUOTA_EXCEEDED;
		snprintf(x->why, sizeof(x->why), "%s", err.text);
		return false;
	}
	/* RabbitMQ's rule: any permission entry on the vhost admits */
	if (bk_vhost_access(c->l->broker, user, vhost, &err) != BK_OK ||
	    !(c->vhost = bk_vhost_get(c->l->broker, vhost))) {
		x->rc = MQTT_RC_NOT_AUTHORIZED;
		snprintf(x->why, sizeof(x->why), "%s", err.text);
		return false;
	}
	x->user = user;
	return true;
}

/* A server-assigned identifier, as Mosquitto shapes them: "auto-" + UUID. */
static void
assign_client_id(struct connect_ctx *x)
{
	uint8_t r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = bk_now_ms() ^ (uint64_t)(uintptr_t)x;

		memcpy(r, &t, 8);
		memcpy(r + 8, &t, 8);
	}
	snprintf(x->client_id, sizeof(x->client_id),
		 "auto-%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10],
		 r[11], r[12], r[13], r[14], r[15]);
	x->assigned = true;
}

static bool
check_client_id(struct mqtt_conn *c, const struct mqtt_connect *cn, struct connect_ctx *x)
{
	uint32_t max = c->l->cfg.max_client_id_length;

	/* The session's queue is named after the id: an operator may keep ids
	 * short enough to name that queue over AMQP (232 octets) or in a
	 * management API URL, as HiveMQ's max-client-id-length does. */
	if (max && cn->client_id.len > max) {
		x->rc = MQTT_RC_CLIENT_ID_INVALID;
		snprintf(x->why, sizeof(x->why), "client identifier of %u octets is longer "
			 "than mqtt.max_client_id_length %u", cn->client_id.len, max);
		return false;
	}
	if (cn->client_id.len > 0)
		return true;
	/* 3.1 requires 1..23 characters; 3.1.1 allows empty only with a
	 * clean session [MQTT-3.1.3-8]; v5 always assigns [MQTT-3.1.3-6]. */
	if (c->level == MQTT_V31 || (c->level == MQTT_V311 && !cn->clean)) {
		x->rc = MQTT_RC_CLIENT_ID_INVALID;
		snprintf(x->why, sizeof(x->why), "empty client identifier%s",
			 c->level == MQTT_V311 ? " without clean session" : "");
		return false;
	}
	assign_client_id(x);
	return true;
}

/*
 * May c take the existing session s? A session belongs to the user that
 * created it: another user presenting its client id is refused (not
 * authorized), so it can neither receive, take over nor (clean start)
 * delete the session's queued and in-flight messages, nor disconnect its
 * owner. A session resumed (not clean) must still be allowed every
 * subscription it holds.
 */
static bool
session_usable(struct mqtt_conn *c, struct mqtt_session **sp, bool clean, struct bk_str cid,
	       struct connect_ctx *x)
{
	struct mqtt_session *s = *sp;
	const char *user = mqtt_conn_user(c);
	struct bk_who who = { bk_str_c(user), cid };
	struct bk_err err;

	if (s->has_owner && strcmp(mqtt_session_owner(s), user) != 0) {
		x->rc = MQTT_RC_NOT_AUTHORIZED;
		snprintf(x->why, sizeof(x->why), "client id in use by another user");
		return false;
	}
	if (!clean && mqtt_subs_recheck(s, &who, &err) != BK_OK) {
		x->rc = MQTT_RC_NOT_AUTHORIZED;
		snprintf(x->why, sizeof(x->why), "session not resumed: %s", err.text);
		return false;
	}
	if (!s->has_owner)              /* recovered from an older queue */
		*sp = mqtt_session_set_owner(s, user);
	return true;
}

/* Another connection holds the session: it goes [MQTT-3.1.4-3]. */
static void
take_over(struct mqtt_conn *old, struct mqtt_conn *c)
{
	struct mqtt_session *s = old->session;
	struct mqtt_will *will = mqtt_conn_take_will(old);

	mqtt_send_disconnect(old, MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
	mqtt_conn_log(old, BK_LOG_INFO, "closing: session taken over by conn=%llu",
		      (unsigned long long)net_conn_id(c->nc));
	old->session = NULL;
	old->will_suppressed = true;
	mqtt_session_detach(s, will);
	mqtt_conn_flush_then_free(old);
}

/*
 * The v5 CONNACK carries only what differs from the specification's
 * defaults [MQTT-3.2.2.3], in the order Mosquitto writes them, so
 * captures taken against it match byte for byte:
 *
 *   0x22 Topic Alias Maximum   (default 0)       when > 0
 *   0x13 Server Keep Alive                       when the keepalive was lowered
 *   0x12 Assigned Client Id                      when the client sent none
 *   0x25 Retain Available      (default 1)       0 when [mqtt] retain_available = no
 *   0x27 Maximum Packet Size   (default none)    when limited
 *   0x21 Receive Maximum       (default 65535)   when < 65535
 *
 * Maximum QoS (2), Wildcard, Subscription Identifier and Shared
 * Subscription Available (1) are at their defaults and left out.
 */
static const uint8_t connack_order[] = {
	MQTT_PROP_TOPIC_ALIAS_MAX, MQTT_PROP_SERVER_KEEP_ALIVE, MQTT_PROP_ASSIGNED_CLIENT_ID,
	MQTT_PROP_RETAIN_AVAILABLE, MQTT_PROP_MAX_PACKET_SIZE, MQTT_PROP_RECEIVE_MAX, 0,
};

/* The accepting CONNACK, session present still 0; strings borrow from x. */
static void
connack_build(struct mqtt_conn *c, const struct connect_ctx *x, struct mqtt_packet *ack)
{
	const struct mqtt_config *cfg = &c->l->cfg;
	struct mqtt_props *p = &ack->u.connack.props;

	memset(ack, 0, sizeof(*ack));
	ack->type = MQTT_CONNACK;
	if (c->level == MQTT_V5) {
		p->order = connack_order;
		if (cfg->topic_alias_maximum) {
			p->present |= MQTT_PBIT(MQTT_PROP_TOPIC_ALIAS_MAX);
			p->topic_alias_max = cfg->topic_alias_maximum;
		}
		if (x->server_keepalive) {
			p->present |= MQTT_PBIT(MQTT_PROP_SERVER_KEEP_ALIVE);
			p->server_keep_alive = x->server_keepalive;
		}
		if (x->assigned) {
			p->present |= MQTT_PBIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
			p->assigned_client_id = bk_str_c(x->client_id);
		}
		if (!cfg->retain_available) {
			p->present |= MQTT_PBIT(MQTT_PROP_RETAIN_AVAILABLE);
			p->retain_available = 0;
		}
		if (cfg->max_packet_size < MQTT_MAX_REMAINING + MQTT_MAX_FIXED) {
			p->present |= MQTT_PBIT(MQTT_PROP_MAX_PACKET_SIZE);
			p->max_packet_size = cfg->max_packet_size;
		}
		if (cfg->receive_maximum < 65535) {
			p->present |= MQTT_PBIT(MQTT_PROP_RECEIVE_MAX);
			p->receive_max = cfg->receive_maximum;
		}
	}
}

static void
read_v5_props(struct mqtt_conn *c, const struct mqtt_props *p)
{
	if (MQTT_HAS(p, MQTT_PROP_MAX_PACKET_SIZE))
		mqtt_conn_x(c)->client_max_packet = p->max_packet_size;
	if (MQTT_HAS(p, MQTT_PROP_TOPIC_ALIAS_MAX) && p->topic_alias_max)
		mqtt_conn_x(c)->client_alias_max = p->topic_alias_max;
	if (MQTT_HAS(p, MQTT_PROP_REQUEST_PROBLEM_INFO))
		if (p->request_problem_info == 0)
			mqtt_conn_x(c)->no_problem_info = true;
}

static void
set_keepalive(struct mqtt_conn *c, const struct mqtt_connect *cn, struct connect_ctx *x)
{
	uint16_t max = c->l->cfg.max_keepalive;

	c->keepalive = cn->keepalive;
	if (max && (cn->keepalive > max || cn->keepalive == 0)) {
		c->keepalive = max;
		if (c->level == MQTT_V5)
			x->server_keepalive = max;
	}
}

/*
 * Everything decided before a session is touched: enhanced
 * authentication (refused), credentials, client id, keepalive, the
 * CONNACK (built now: a client that could not read it is closed at once
 * [MQTT-3.1.2-24]) and the will. false = refused and closing.
 */
static bool
admit(struct mqtt_conn *c, const struct mqtt_connect *cn, struct connect_ctx *x,
      struct mqtt_packet *ack)
{
	uint8_t rc = 0;

	if (c->level == MQTT_V5 && MQTT_HAS(&cn->props, MQTT_PROP_AUTH_METHOD)) {
		/* no enhanced authentication method is supported [MQTT-4.12.0-1] */
		refuse(c, MQTT_RC_BAD_AUTH_METHOD, "authentication method not supported");
		return false;
	}
	uint32_t key_len;

	if (!authenticate(c, cn, x) || !check_client_id(c, cn, x)) {
		refuse(c, x->rc, x->why);
		return false;
	}
	c->names = mqtt_names_new(bk_vhost_name(c->vhost),
				  x->assigned ? bk_str_c(x->client_id) : cn->client_id,
				  &x->user, &key_len);
	set_keepalive(c, cn, x);
	connack_build(c, x, ack);
	if (mqtt_conn_max_packet(c) && mqtt_packet_size(c->level, ack) > mqtt_conn_max_packet(c)) {
		mqtt_conn_close_or(c, 0, "CONNACK larger than the client's maximum packet size %u",
				   mqtt_conn_max_packet(c));
		return false;
	}
	if (cn->will && cn->will_retain && !c->l->cfg.retain_available) {
		/* [MQTT-3.2.2-12]; an MQTT 3 client just sees the close, as
		 * Mosquitto does it */
		if (c->level == MQTT_V5)
			refuse(c, MQTT_RC_RETAIN_NOT_SUPPORTED, "retain is not available");
		else
			mqtt_conn_close_or(c, 0, "will with retain: retain is not available");
		return false;
	}
	if (cn->will) {
		struct mqtt_will *w = mqtt_will_new(c, cn, x->assigned ? bk_str_c(x->client_id)
								   : cn->client_id, &rc);

		if (!w) {
			refuse(c, rc, "invalid will");
			return false;
		}
		mqtt_conn_x(c)->will = w;
	}
	return true;
}

/* The session's expiry as this CONNECT asks (v5 Session Expiry Interval,
 * v3 clean session 0 = never). */
static uint32_t
connect_expiry(const struct mqtt_conn *c, const struct mqtt_connect *cn)
{
	if (c->level == MQTT_V5)
		return MQTT_HAS(&cn->props, MQTT_PROP_SESSION_EXPIRY) ?
		       cn->props.session_expiry : 0;
	return cn->clean ? 0 : MQTT_SESSION_NEVER;
}

/* Set it; a pending expiry is called off. */
static void
set_expiry(const struct mqtt_conn *c, struct mqtt_session *s, const struct mqtt_connect *cn)
{
	s->expiry = connect_expiry(c, cn);
	if (s->x && s->x->expiry_ev)
		event_del(s->x->expiry_ev);
}

void
mqtt_on_connect(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_connect *cn = &pkt->u.connect;
	struct mqtt_listener *l = c->l;
	struct connect_ctx x;
	struct mqtt_packet ack;
	struct mqtt_session *s;
	struct bk_str cid;
	uint16_t window;
	bool present = false;

	memset(&x, 0, sizeof(x));
	c->level = cn->level;
	if (c->level == MQTT_V5)
		read_v5_props(c, &cn->props);
	if (!admit(c, cn, &x, &ack))
		return;
	cid = x.assigned ? bk_str_c(x.client_id) : cn->client_id;
	s = mqtt_session_find(l, c->vhost, cid);
	if (!s)
		s = mqtt_session_recover(l, c->vhost, cid);
	if (s && !session_usable(c, &s, cn->clean, cid, &x)) {
		refuse(c, x.rc, x.why);
		return;
	}
	if (s && s->conn) {
		take_over(s->conn, c);
		s = mqtt_session_find(l, c->vhost, cid);
	}
	if (s && cn->clean) {
		mqtt_session_destroy(s);
		s = NULL;
	}
	if (s) {
		present = true;
		/* back before the will delay ran out: no will [MQTT-3.1.3-9] */
		mqtt_will_free(mqtt_session_will(s));
	} else if (connect_expiry(c, cn) == 0) {
		/* ends with this connection: one block with its login */
		s = mqtt_session_new_own(c);
	} else {
		s = mqtt_session_new(l, c->vhost, cid, mqtt_conn_user(c));
	}
	set_expiry(c, s, cn);
	ack.u.connack.session_present = present;
	mqtt_send(c, &ack);
	c->state = MQTT_CONN_RUNNING;
	net_conn_ready(c->nc);
	mqtt_mgmt_register(c);
	window = l->cfg.max_inflight;
	if (c->level == MQTT_V5)
		window = MQTT_HAS(&cn->props, MQTT_PROP_RECEIVE_MAX) ?
			 cn->props.receive_max : 65535;
	mqtt_conn_log(c, BK_LOG_DEBUG, "client '%.*s' connected, level %u, user '%s'%s",
		      (int)(cid.len > 200 ? 200 : cid.len), cid.p, c->level, mqtt_conn_user(c),
		      present ? ", session resumed" : "");
	mqtt_session_attach(s, c, window);
}

void
mqtt_on_disconnect(struct mqtt_conn *c, const struct mqtt_packet *pkt)
{
	const struct mqtt_reason *r = &pkt->u.reason;
	struct mqtt_session *s = c->session;

	if (c->level == MQTT_V5 && MQTT_HAS(&r->props, MQTT_PROP_SESSION_EXPIRY) && s) {
		/* 0 at CONNECT cannot become non-zero here [MQTT-3.14.2-2] */
		if (s->expiry == 0 && r->props.session_expiry != 0) {
			mqtt_conn_close_or(c, MQTT_RC_PROTOCOL_ERROR,
					   "session expiry set on DISCONNECT after 0 on CONNECT");
			return;
		}
		s->expiry = r->props.session_expiry;
	}
	/* v5 0x04 asks for the will; every other DISCONNECT discards it */
	c->will_suppressed = !(c->level == MQTT_V5 && r->code == MQTT_RC_DISCONNECT_WITH_WILL);
	mqtt_conn_log(c, BK_LOG_DEBUG, "DISCONNECT (0x%02x)", r->code);
	mqtt_conn_flush_then_free(c);
}
