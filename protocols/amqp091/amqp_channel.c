/*
 * amqp_channel.c: an AMQP 0-9-1 channel's lifecycle, its method dispatcher,
 * channel.flow/close, and channel errors.
 *
 * The connection owns every channel (conn->channels[]) and calls in here
 * with decoded methods and raw content frames. A channel ends in one of two
 * ways:
 *   client channel.close  -> we give back consumers and deliveries, reply
 *                            close-ok, and amqp_conn_channel_closed() frees us;
 *   our channel error     -> channel.close goes out, the channel is
 *                            "closing" and drops every frame but close/
 *                            close-ok [§4.2.6 / RabbitMQ], and close-ok from
 *                            the client frees it.
 * "Giving back" (amqp_channel_release) happens once: consumers are
 * cancelled first, so requeued messages cannot come straight back to this
 * channel, then unacked deliveries are requeued in tag order.
 *
 * Connection-level errors (5xx) go to amqp_conn_close_or; afterwards the
 * connection ignores input, and the channel is freed with the connection.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "amqp_channel_int.h"

static void confirm_event_cb(evutil_socket_t fd, short what, void *arg);

void
amqp_sstr_set(struct amqp_sstr *dst, struct bk_str src)
{
	uint32_t n = src.len > AMQP_SHORTSTR_MAX ? AMQP_SHORTSTR_MAX : src.len;

	if (n)
		memcpy(dst->p, src.p, n);
	dst->p[n] = '\0';
	dst->len = (uint8_t)n;
}

void
amqp_cstr_set(struct amqp_cstr *dst, struct bk_str src)
{
	uint16_t n = src.len > AMQP_SHORTSTR_MAX ? AMQP_SHORTSTR_MAX : (uint16_t)src.len;

	if (dst->p == NULL || n > dst->cap) {
		dst->cap = (uint16_t)((n | 31u) > AMQP_SHORTSTR_MAX ? AMQP_SHORTSTR_MAX : (n | 31u));
		dst->p = bk_realloc(dst->p, (size_t)dst->cap + 1);
	}
	if (n)
		memcpy(dst->p, src.p, n);
	dst->p[n] = '\0';
	dst->len = n;
}

void
amqp_cstr_fini(struct amqp_cstr *s)
{
	BK_FREE(s->p);
	s->len = s->cap = 0;
}

struct amqp_channel *
amqp_channel_new(struct amqp_conn *c, uint16_t id)
{
	struct amqp_channel *ch = bk_calloc(1, sizeof(*ch));

	ch->conn = c;
	ch->id = id;
	amqp_ch_mgmt_register(ch);
	return ch;
}

void
amqp_channel_release(struct amqp_channel *ch)
{
	if (ch->released)
		return;
	ch->released = true;
	amqp_ch_publish_reset(ch);
	amqp_ch_consumers_cancel_all(ch);
	amqp_ch_tx_discard(ch);
	amqp_ch_unacked_requeue_all(ch);
}

void
amqp_channel_free(struct amqp_channel *ch)
{
	if (!ch)
		return;
	amqp_channel_release(ch);
	amqp_ch_unacked_fini(ch);
	amqp_ch_publish_fini(ch);
	amqp_ch_topology_fini(ch);
	amqp_ch_durable_fini(ch);
	bk_credit_free(ch->credit);     /* after its consumers */
	amqp_ch_mgmt_unregister(ch);
	if (ch->cx) {
		if (ch->cx->confirm_ev)
			event_free(ch->cx->confirm_ev);
		bk_free(ch->cx->tx_pubs);
		bk_free(ch->cx);
	}
	bk_route_memo_fini(&ch->route);
	amqp_cstr_fini(&ch->pub_exchange);
	amqp_cstr_fini(&ch->pub_rkey);
	if (ch->reply) {
		amqp_cstr_fini(&ch->reply->tag);
		bk_free(ch->reply);
	}
	amqp_cstr_fini(&ch->perm_exchange);
	amqp_cstr_fini(&ch->last_queue);
	bk_free(ch);
}

bool
amqp_channel_is_closing(const struct amqp_channel *ch)
{
	return ch->closing;
}

void
amqp_channel_wake(struct amqp_channel *ch)
{
	struct amqp_consumer *c, *tmp;

	if (ch->closing)
		return;
	HASH_ITER(hh, ch->consumers, c, tmp) {
		if (!c->ok_pending)
			bk_consumer_wake(c->bc);
	}
	if (amqp_ch_reply_bc(ch))
		bk_consumer_wake(ch->reply->bc);
}

struct amqp_ch_cx *
amqp_ch_cx(struct amqp_channel *ch)
{
	if (ch->cx == NULL)
		ch->cx = bk_calloc(1, sizeof(*ch->cx));
	return ch->cx;
}

static void
confirm_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct amqp_channel *ch = arg;

	ch->cx->confirm_ev_armed = false;
	amqp_ch_confirm_flush(ch);
}

void
amqp_ch_confirm_later(struct amqp_channel *ch)
{
	struct amqp_ch_cx *x = amqp_ch_cx(ch);

	if (x->confirm_ev_armed)
		return;
	if (x->confirm_ev == NULL) {
		x->confirm_ev = event_new(ch->conn->base, -1, 0, confirm_event_cb, ch);
		BK_ASSERT(x->confirm_ev != NULL);
	}
	x->confirm_ev_armed = true;
	event_active(x->confirm_ev, 0, 0);
}

void
amqp_channel_send_simple(struct amqp_channel *ch, uint32_t method_id)
{
	struct amqp_method m;

	memset(&m, 0, sizeof(m));
	m.id = method_id;
	amqp_conn_send_method(ch->conn, ch->id, &m);
}

static void
fail_v(struct amqp_channel *ch, uint16_t code, uint32_t method_id,
       const char *fmt, va_list ap)
{
	char text[AMQP_SHORTSTR_MAX + 1];
	char reply[AMQP_SHORTSTR_MAX + 1];
	struct amqp_method m;
	int n;

	vsnprintf(text, sizeof(text), fmt, ap);
	if (amqp_code_is_hard(code)) {
		amqp_conn_close_or(ch->conn, code, method_id, "%s", text);
		return;
	}
	if (ch->closing)
		return;
	amqp_conn_log(ch->conn, BK_LOG_INFO,
		      "channel %u: operation %s caused a channel exception %s: %s",
		      ch->id, amqp_method_name(method_id), amqp_code_name(code), text);
	amqp_ch_confirm_flush(ch);
	n = snprintf(reply, sizeof(reply), "%s - %s", amqp_code_name(code), text);
	if (n < 0)
		n = 0;
	memset(&m, 0, sizeof(m));
	m.id = AMQP_CHANNEL_CLOSE;
	m.u.channel_close.reply_code = code;
	m.u.channel_close.reply_text = (struct bk_str){ reply,
		(uint32_t)(n > AMQP_SHORTSTR_MAX ? AMQP_SHORTSTR_MAX : n) };
	m.u.channel_close.class_id = (uint16_t)(method_id >> 16);
	m.u.channel_close.method_id = (uint16_t)(method_id & 0xffff);
	amqp_conn_send_method(ch->conn, ch->id, &m);
	ch->closing = true;
	amqp_channel_release(ch);
}

void
amqp_channel_fail(struct amqp_channel *ch, uint16_t code, uint32_t method_id,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(ch, code, method_id, fmt, ap);
	va_end(ap);
}

void
amqp_channel_fail_err(struct amqp_channel *ch, uint32_t method_id,
		      const struct bk_err *err)
{
	amqp_channel_fail(ch, amqp_status_code(err->status), method_id, "%s",
			  err->text);
}

/* channel.close from the client [§1.5.2.5]: close-ok, then the slot is free. */
static void
on_channel_close(struct amqp_channel *ch)
{
	amqp_ch_confirm_flush(ch);
	amqp_channel_release(ch);
	amqp_channel_send_simple(ch, AMQP_CHANNEL_CLOSE_OK);
	amqp_conn_channel_closed(ch->conn, ch->id);   /* frees ch */
}

/*
 * RabbitMQ never stops a publisher with channel.flow and refuses
 * active=false from a client with 540 "active=false".
 */
static void
on_channel_flow(struct amqp_channel *ch, const struct amqp_method *m)
{
	struct amqp_method ok;

	if (!m->u.channel_flow.active) {
		amqp_channel_fail(ch, AMQP_NOT_IMPLEMENTED, m->id, "active=false");
		return;
	}
	memset(&ok, 0, sizeof(ok));
	ok.id = AMQP_CHANNEL_FLOW_OK;
	ok.u.channel_flow_ok.active = true;
	amqp_conn_send_method(ch->conn, ch->id, &ok);
}

/*
 * While a channel is closing only close and close-ok matter: a crossing
 * channel.close gets its close-ok, and close-ok ends the channel.
 */
static void
on_method_closing(struct amqp_channel *ch, const struct amqp_method *m)
{
	if (m->id == AMQP_CHANNEL_CLOSE_OK)
		amqp_conn_channel_closed(ch->conn, ch->id);   /* frees ch */
	else if (m->id == AMQP_CHANNEL_CLOSE)
		amqp_channel_send_simple(ch, AMQP_CHANNEL_CLOSE_OK);
}

/* access.request is obsolete; RabbitMQ still answers it with ticket 1. */
static void
on_access_request(struct amqp_channel *ch)
{
	struct amqp_method ok;

	memset(&ok, 0, sizeof(ok));
	ok.id = AMQP_ACCESS_REQUEST_OK;
	ok.u.access_request_ok.reserved_1 = 1;
	amqp_conn_send_method(ch->conn, ch->id, &ok);
}

/* A method arrived where content was due [RabbitMQ command assembler]. */
static void
unexpected_method(struct amqp_channel *ch)
{
	if (ch->cstate == AMQP_CONTENT_HEADER)
		amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
				  "expected content header for class 60, "
				  "got non content header frame instead");
	else
		amqp_channel_fail(ch, AMQP_UNEXPECTED_FRAME, AMQP_BASIC_PUBLISH,
				  "expected content body, "
				  "got non content body frame instead");
}

static bool
dispatch_channel(struct amqp_channel *ch, const struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_CHANNEL_CLOSE:
		on_channel_close(ch);
		return true;
	case AMQP_CHANNEL_FLOW:
		on_channel_flow(ch, m);
		return true;
	case AMQP_CHANNEL_FLOW_OK:      /* we never send channel.flow */
		return true;
	case AMQP_CHANNEL_OPEN:
		amqp_channel_fail(ch, AMQP_CHANNEL_ERROR, m->id,
				  "second 'channel.open' seen");
		return true;
	case AMQP_EXCHANGE_DECLARE: amqp_ch_exchange_declare(ch, m); return true;
	case AMQP_EXCHANGE_DELETE:  amqp_ch_exchange_delete(ch, m); return true;
	case AMQP_EXCHANGE_BIND:
	case AMQP_EXCHANGE_UNBIND:  amqp_ch_exchange_bind(ch, m); return true;
	case AMQP_QUEUE_DECLARE:    amqp_ch_queue_declare(ch, m); return true;
	case AMQP_QUEUE_BIND:
	case AMQP_QUEUE_UNBIND:     amqp_ch_queue_bind(ch, m); return true;
	case AMQP_QUEUE_PURGE:      amqp_ch_queue_purge(ch, m); return true;
	case AMQP_QUEUE_DELETE:     amqp_ch_queue_delete(ch, m); return true;
	case AMQP_TX_SELECT:        amqp_ch_tx_select(ch); return true;
	case AMQP_TX_COMMIT:        amqp_ch_tx_commit(ch); return true;
	case AMQP_TX_ROLLBACK:      amqp_ch_tx_rollback(ch); return true;
	case AMQP_CONFIRM_SELECT:   amqp_ch_confirm_select(ch, m); return true;
	case AMQP_ACCESS_REQUEST:   on_access_request(ch); return true;
	}
	return false;
}

static bool
dispatch_basic(struct amqp_channel *ch, const struct amqp_method *m)
{
	switch (m->id) {
	case AMQP_BASIC_PUBLISH:    amqp_ch_basic_publish(ch, m); return true;
	case AMQP_BASIC_ACK:        amqp_ch_basic_ack(ch, m); return true;
	case AMQP_BASIC_NACK:       amqp_ch_basic_nack(ch, m); return true;
	case AMQP_BASIC_REJECT:     amqp_ch_basic_reject(ch, m); return true;
	case AMQP_BASIC_QOS:        amqp_ch_basic_qos(ch, m); return true;
	case AMQP_BASIC_CONSUME:    amqp_ch_basic_consume(ch, m); return true;
	case AMQP_BASIC_CANCEL:     amqp_ch_basic_cancel(ch, m); return true;
	case AMQP_BASIC_GET:        amqp_ch_basic_get(ch, m); return true;
	case AMQP_BASIC_RECOVER:
	case AMQP_BASIC_RECOVER_ASYNC: amqp_ch_basic_recover(ch, m); return true;
	}
	return false;
}

void
amqp_channel_on_method(struct amqp_channel *ch, const struct amqp_method *m)
{
	if (ch->closing) {
		on_method_closing(ch, m);
		return;
	}
	if (ch->cstate != AMQP_CONTENT_IDLE) {
		unexpected_method(ch);
		return;
	}
	/* a -ok waits for the disk only if its method changed durable state */
	ch->defs_gen0 = bk_defs_generation(ch->conn->broker);
	if (dispatch_basic(ch, m) || dispatch_channel(ch, m))
		return;
	/* close-ok without our close, server-only methods: RabbitMQ's
	 * catch-all */
	amqp_channel_fail(ch, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
}
