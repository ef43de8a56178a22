/*
 * stubs_channel.c: a fake connection and a fake core for test_channel.c.
 *
 * The connection records every method the channel writes (sent[]) and
 * frees the channel on amqp_conn_channel_closed(). The core routes by
 * routing key ("none": unroutable, "refuse": refused by a queue, anything
 * else: one queue), refuses exchange "missing", and records settlements
 * (settled[]). Consumers are plain records the test drives by calling
 * ops->deliver itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stubs_channel.h"

struct sent_rec sent[MAX_REC];
int nsent;
struct settle_rec settled[MAX_REC];
int nsettled;
struct fake_consumer consumers_made[16];
int nconsumers;
int closed_code;
bool channel_freed;
bool output_full;
int published;

/* ---- connection ----------------------------------------------------- */

/* The length of long-string header name in props, or -1. */
static int64_t
header_len(const struct bk_props *props, const char *name)
{
	struct bk_value v;

	if (props == NULL || !(props->present & BK_P_HEADERS) ||
	    !bk_table_get(props->headers, name, &v) || v.type != BK_V_LSTR)
		return -1;
	return v.u.s.len;
}

static void
record(const struct amqp_method *m, struct bk_msg *msg, const struct bk_props *props)
{
	struct sent_rec *r;

	if (nsent >= MAX_REC)
		return;
	r = &sent[nsent++];
	memset(r, 0, sizeof(*r));
	r->id = m->id;
	r->msg = msg;
	r->hdr_rk_len = header_len(props, "x-routing-key");
	r->hdr_reply_len = header_len(props, "x-reply-to-topic");
	r->reply_to_len = props && (props->present & BK_P_REPLY_TO) ?
			  (int64_t)props->reply_to.len : -1;
	if (props && (props->present & BK_P_HEADERS)) {
		r->headers_len = props->headers.len;
		memcpy(r->headers, props->headers.p,
		       props->headers.len < sizeof(r->headers) ? props->headers.len :
		       sizeof(r->headers));
	}
	switch (m->id) {
	case AMQP_BASIC_ACK:
		r->tag = m->u.basic_ack.delivery_tag;
		r->flag = m->u.basic_ack.multiple;
		break;
	case AMQP_BASIC_NACK:
		r->tag = m->u.basic_nack.delivery_tag;
		r->flag = m->u.basic_nack.multiple;
		break;
	case AMQP_BASIC_DELIVER:
		r->tag = m->u.basic_deliver.delivery_tag;
		r->rk_len = m->u.basic_deliver.routing_key.len;
		snprintf(r->text, sizeof(r->text), "%.*s",
			 (int)m->u.basic_deliver.consumer_tag.len,
			 m->u.basic_deliver.consumer_tag.p);
		break;
	case AMQP_BASIC_GET_OK:
		r->tag = m->u.basic_get_ok.delivery_tag;
		r->rk_len = m->u.basic_get_ok.routing_key.len;
		break;
	case AMQP_BASIC_RETURN:
		r->code = m->u.basic_return.reply_code;
		break;
	case AMQP_CHANNEL_CLOSE:
		r->code = m->u.channel_close.reply_code;
		snprintf(r->text, sizeof(r->text), "%.*s",
			 (int)m->u.channel_close.reply_text.len,
			 m->u.channel_close.reply_text.p);
		break;
	case AMQP_BASIC_CONSUME_OK:
		snprintf(r->text, sizeof(r->text), "%.*s",
			 (int)m->u.basic_consume_ok.consumer_tag.len,
			 m->u.basic_consume_ok.consumer_tag.p);
		break;
	case AMQP_QUEUE_DECLARE_OK:
		snprintf(r->text, sizeof(r->text), "%.*s",
			 (int)m->u.queue_declare_ok.queue.len,
			 m->u.queue_declare_ok.queue.p);
		break;
	}
}

void
amqp_conn_send_method(struct amqp_conn *c, uint16_t channel,
		      const struct amqp_method *m)
{
	record(m, NULL, NULL);
}

void
amqp_conn_send_content(struct amqp_conn *c, uint16_t channel,
		       const struct amqp_method *m, struct bk_msg *msg,
		       const struct bk_props *props)
{
	record(m, msg, props);
}

bool
amqp_conn_output_full(const struct amqp_conn *c)
{
	return output_full;
}

void
amqp_conn_close_or(struct amqp_conn *c, uint16_t code, uint32_t method_id,
		   const char *fmt, ...)
{
	va_list ap;

	closed_code = code;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (conn close %u)\n", code);
}

void
amqp_conn_channel_closed(struct amqp_conn *c, uint16_t channel)
{
	amqp_channel_free(c->channels[channel]);
	c->channels[channel] = NULL;
	channel_freed = true;
}

void
amqp_conn_log(const struct amqp_conn *c, enum bk_log_level lvl, const char *fmt, ...)
{
}

struct amqp_config stub_cfg = {
	.max_inflight_content = 32u << 20,
	.content_timeout_ms = 60000,
};
bool stub_reading_paused;

const struct amqp_config *
amqp_conn_config(const struct amqp_conn *c)
{
	return &stub_cfg;
}

bool
amqp_conn_reading_paused(const struct amqp_conn *c)
{
	return stub_reading_paused;
}

/* ---- strings, tables (allocation is base/'s counting bk_alloc) ------ */

void
bk_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	abort();
}

struct bk_str
bk_str_c(const char *s)
{
	return (struct bk_str){ s, s ? (uint32_t)strlen(s) : 0 };
}

bool
bk_str_eq(struct bk_str a, struct bk_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

bool
bk_str_eq_c(struct bk_str a, const char *c)
{
	return bk_str_eq(a, bk_str_c(c));
}

const char *bk_vhost_name(const struct bk_vhost *vh) { return "/"; }
enum bk_status bk_queue_get_check(struct bk_queue *q, struct bk_err *err) { return BK_OK; }
uint64_t bk_now_ms(void) { return 1; }

/* ---- core ----------------------------------------------------------- */

const struct bk_limits *
bk_broker_limits(const struct bk_broker *b)
{
	static const struct bk_limits lim = { .max_message_size = 1000 };

	return &lim;
}

enum bk_status
bk_err_set(struct bk_err *err, enum bk_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return err->status = status;
}

enum bk_status
bk_publish(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
	   struct bk_route_result *res, struct bk_err *err)
{
	if (bk_str_eq_c(exchange, "missing"))
		return bk_err_set(err, BK_NOT_FOUND, "no exchange 'missing' in vhost '/'");
	published++;
	memset(res, 0, sizeof(*res));
	if (bk_str_eq_c(bk_msg_rk(msg), "refuse"))
		res->refused = 1;
	else if (!bk_str_eq_c(bk_msg_rk(msg), "none"))
		res->queues = 1;
	return BK_OK;
}

/* Durability: routing key "pending" makes a publish wait for the journal;
 * stub_durable_fire() reports the oldest waiting one. */
struct bk_confirm {
	bk_confirm_fn fn;
	void *ctx;
};
static struct { struct bk_confirm *c; uint64_t token; } waiting[64];
static unsigned nwaiting;

struct bk_confirm *
bk_confirm_new(struct bk_broker *b, bk_confirm_fn fn, void *ctx)
{
	struct bk_confirm *c = calloc(1, sizeof(*c));

	c->fn = fn;
	c->ctx = ctx;
	return c;
}

void
bk_confirm_free(struct bk_confirm *c)
{
	for (unsigned i = 0; i < nwaiting; i++)
		if (waiting[i].c == c)
			waiting[i].c = NULL;
	free(c);
}

enum bk_status
bk_publish_confirm(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
		   struct bk_confirm *c, uint64_t token, struct bk_route_result *res,
		   struct bk_err *err)
{
	enum bk_status st = bk_publish(vh, exchange, msg, res, err);

	if (st == BK_OK && bk_str_eq_c(bk_msg_rk(msg), "pending") && c != NULL &&
	    nwaiting < 64) {
		res->pending = true;
		waiting[nwaiting].c = c;
		waiting[nwaiting++].token = token;
	}
	return st;
}

enum bk_status
bk_publish_memo(struct bk_vhost *vh, struct bk_str exchange, struct bk_msg *msg,
		struct bk_confirm *c, uint64_t token, struct bk_route_memo *memo,
		struct bk_route_result *res, struct bk_err *err)
{
	return bk_publish_confirm(vh, exchange, msg, c, token, res, err);
}

void
bk_route_memo_fini(struct bk_route_memo *m)
{
}

/* With stub_defs_pending set, a durable change's -ok waits like a
 * pending publish (stub_durable_fire reports it). */
bool stub_defs_pending;
static uint64_t stub_defs_gen;

uint64_t
bk_defs_generation(const struct bk_broker *b)
{
	return stub_defs_pending ? ++stub_defs_gen : 0;        /* every read: a change */
}

int
bk_defs_commit_track(struct bk_broker *b, struct bk_confirm *c, uint64_t token)
{
	if (!stub_defs_pending || nwaiting == 64)
		return 0;
	waiting[nwaiting].c = c;
	waiting[nwaiting++].token = token;
	return 1;
}

void
amqp_conn_hold_input(struct amqp_conn *c, bool hold)
{
	c->input_held = hold;
}

/* Report the oldest waiting publish with status; false if none. */
bool stub_durable_fire(int status);
bool
stub_durable_fire(int status)
{
	struct bk_confirm *c;
	uint64_t token;

	if (nwaiting == 0)
		return false;
	c = waiting[0].c;
	token = waiting[0].token;
	memmove(waiting, waiting + 1, --nwaiting * sizeof(waiting[0]));
	if (c != NULL)
		c->fn(c->ctx, token, status);
	return true;
}

void
bk_delivery_settle(struct bk_delivery *d, enum bk_settle how)
{
	if (nsettled < MAX_REC) {
		settled[nsettled].tag = d->tag;
		settled[nsettled].how = how;
		nsettled++;
	}
	bk_msg_unref(d->msg);
	free(d);
}

void bk_delivery_sent(struct bk_delivery *d) { (void)d; }  /* no stream queues here */
void bk_settle_batch_begin(struct bk_broker *b) { (void)b; }
void bk_settle_batch_end(struct bk_broker *b) { (void)b; }

struct bk_credit { uint32_t limit; };
struct bk_credit *bk_credit_new(uint32_t limit) { struct bk_credit *c = calloc(1, sizeof(*c)); c->limit = limit; return c; }
void bk_credit_set_limit(struct bk_credit *c, uint32_t limit) { c->limit = limit; }
void bk_credit_free(struct bk_credit *c) { free(c); }

enum bk_status
bk_consume(const struct bk_consume_decl *d, struct bk_consumer **out, struct bk_err *err)
{
	struct fake_consumer *c = &consumers_made[nconsumers++ % 16];
	struct bk_delivery *early;

	c->ops = d->ops;
	c->ctx = d->ctx;
	c->live = true;
	*out = (struct bk_consumer *)c;
	/* the core may try to deliver right away: the consumer must park */
	early = fake_delivery("early");
	c->first_deliver_rc = c->ops->deliver(c->ctx, early);
	if (c->first_deliver_rc != 0) {
		bk_msg_unref(early->msg);
		free(early);
	}
	return BK_OK;
}

void bk_consumer_cancel(struct bk_consumer *c) { ((struct fake_consumer *)c)->live = false; }
void bk_consumer_wake(struct bk_consumer *c) { ((struct fake_consumer *)c)->woken++; }
void bk_consumer_set_prefetch(struct bk_consumer *c, uint32_t prefetch) {}

enum bk_status
bk_queue_lookup(struct bk_vhost *vh, struct bk_str name, bk_owner owner,
		struct bk_queue **out, struct bk_err *err)
{
	if (bk_str_eq_c(name, "nosuch"))
		return bk_err_set(err, BK_NOT_FOUND, "no queue 'nosuch' in vhost '/'");
	*out = (struct bk_queue *)1;
	return BK_OK;
}

enum bk_status
bk_queue_get_one(struct bk_queue *q, bool no_ack, struct bk_delivery **out,
		 uint32_t *message_count)
{
	*out = fake_delivery("got");
	(*out)->no_ack = no_ack;
	*message_count = 7;
	return BK_OK;
}

enum bk_status
bk_queue_declare(struct bk_vhost *vh, const struct bk_queue_decl *d,
		 const char **name_out, uint32_t *mc, uint32_t *cc, struct bk_err *err)
{
	*name_out = d->name.len ? "given" : "amq.gen-test";
	*mc = *cc = 0;
	return BK_OK;
}

enum bk_status bk_exchange_declare(struct bk_vhost *vh, const struct bk_exchange_decl *d, struct bk_err *err) { return BK_OK; }
enum bk_status bk_exchange_delete(struct bk_vhost *vh, struct bk_str name, bool if_unused, struct bk_err *err) { return BK_OK; }
enum bk_status bk_bind(struct bk_vhost *vh, const struct bk_binding_decl *d, bk_owner owner, struct bk_err *err) { return BK_OK; }
enum bk_status bk_unbind(struct bk_vhost *vh, const struct bk_binding_decl *d, bk_owner owner, struct bk_err *err) { return BK_OK; }
enum bk_status bk_queue_delete(struct bk_vhost *vh, struct bk_str name, bk_owner owner, bool if_unused, bool if_empty, uint32_t *mc, struct bk_err *err) { *mc = 0; return BK_OK; }
enum bk_status bk_queue_purge(struct bk_vhost *vh, struct bk_str name, bk_owner owner, uint32_t *mc, struct bk_err *err) { *mc = 0; return BK_OK; }

struct bk_consumer *
bk_direct_reply_consumer_new(struct bk_vhost *vh, const struct bk_consumer_ops *ops,
			     void *ctx, const char **name_out)
{
	struct fake_consumer *c = &consumers_made[nconsumers++ % 16];

	c->ops = ops;
	c->ctx = ctx;
	c->live = true;
	*name_out = "amq.rabbitmq.reply-to.TOKEN";
	return (struct bk_consumer *)c;
}

struct bk_delivery *
fake_delivery(const char *rk)
{
	struct bk_delivery *d = calloc(1, sizeof(*d));

	d->msg = bk_msg_new(BK_STR_LIT(""), bk_str_c(rk), &(struct bk_props){ 0 }, 3);
	memcpy(bk_msg_body(d->msg), "abc", 3);
	return d;
}

void
reset_records(void)
{
	nsent = 0;
	nsettled = 0;
	realloc_max = 0;
}

size_t realloc_max;
void *__real_bk_realloc(void *p, size_t n);
void *__wrap_bk_realloc(void *p, size_t n);

void *
__wrap_bk_realloc(void *p, size_t n)
{
	if (n > realloc_max)
		realloc_max = n;
	return __real_bk_realloc(p, n);
}

/* ---- management (broker.h "Management"): nothing is registered here ---- */

const char *
bk_queue_name(const struct bk_queue *q)
{
	(void)q;
	return "q";
}

struct bk_chan *
bk_chan_register(struct bk_broker *b, struct bk_conn *rc, uint32_t number,
		 const struct bk_chan_ops *ops, void *ctx)
{
	(void)b; (void)rc; (void)number; (void)ops; (void)ctx;
	return NULL;
}

void bk_chan_unregister(struct bk_broker *b, struct bk_chan *ch) { (void)b; (void)ch; }
uint64_t bk_chan_id(const struct bk_chan *ch) { (void)ch; return 0; }
struct bk_chan_counters *bk_chan_counters(struct bk_chan *ch) { (void)ch; return NULL; }
void bk_stats_count(struct bk_vhost *vh, enum bk_mstat which, uint64_t n)
{
	(void)vh; (void)which; (void)n;
}
uint64_t bk_access_generation(struct bk_broker *b) { (void)b; return 1; }
bool bk_queue_reserved(struct bk_broker *b, struct bk_str name) { (void)b; (void)name; return false; }

enum bk_status
bk_access_check(struct bk_vhost *vh, struct bk_str user, enum bk_perm what,
		const char *kind, struct bk_str name, struct bk_err *err)
{
	(void)vh; (void)user; (void)what; (void)kind; (void)name; (void)err;
	return BK_OK;
}

/* No persistence in this test: nothing durable to write. */
int bk_defs_commit(struct bk_broker *b) { (void)b; return 0; }

enum bk_status
bk_access_publish(struct bk_vhost *vh, const struct bk_who *who, struct bk_str exchange,
		  struct bk_str routing_key, bool *keyed, struct bk_err *err)
{
	(void)vh; (void)who; (void)exchange; (void)routing_key; (void)err;
	if (keyed)
		*keyed = false;
	return BK_OK;
}

enum bk_status
bk_access_bind(struct bk_vhost *vh, const struct bk_who *who,
	       const struct bk_binding_decl *d, struct bk_err *err)
{
	(void)vh; (void)who; (void)d; (void)err;
	return BK_OK;
}
