/*
 * queue_helpers.h: shared fixtures for the queueing unit tests: a broker
 * on a real event_base, argument tables, publishing a text body, and a
 * recording consumer whose deliver() behaviour each test can steer.
 */
#ifndef SLUICE_QUEUE_HELPERS_H
#define SLUICE_QUEUE_HELPERS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "broker.h"
#include "testlib.h"

/* Not every test uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

static struct event_base *th_base;
static struct bk_broker *th_broker;
static struct bk_vhost *th_vh;

static void
th_setup(void)
{
	th_base = event_base_new();
	th_broker = bk_broker_new(th_base, NULL);
	th_vh = bk_vhost_get(th_broker, "/");
}

static void
th_teardown(void)
{
	bk_broker_free(th_broker);
	event_base_free(th_base);
	th_broker = NULL;
}

/* Run the loop for ms milliseconds. */
static void
th_run_ms(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(th_base, &tv);
	event_base_dispatch(th_base);
}

/* Argument tables: a builder the test fills with th_arg_* calls. */
static void
th_arg_int(struct bk_table_builder *b, const char *k, int64_t i)
{
	struct bk_value v = { .type = BK_V_I64 };

	v.u.i = i;
	bk_tb_put(b, k, (uint32_t)strlen(k), &v);
}

static void
th_arg_str(struct bk_table_builder *b, const char *k, const char *s)
{
	struct bk_value v = { .type = BK_V_LSTR };

	v.u.s = bk_str_c(s);
	bk_tb_put(b, k, (uint32_t)strlen(k), &v);
}

static void
th_arg_bool(struct bk_table_builder *b, const char *k, bool x)
{
	struct bk_value v = { .type = BK_V_BOOL };

	v.u.b = x;
	bk_tb_put(b, k, (uint32_t)strlen(k), &v);
}

static enum bk_status
th_declare_args(const char *name, struct bk_table_builder *args, struct bk_err *err)
{
	struct bk_queue_decl d = { .name = bk_str_c(name) };
	const char *out;
	uint32_t mc, cc;

	if (args)
		d.arguments = bk_tb_view(args);
	return bk_queue_declare(th_vh, &d, &out, &mc, &cc, err);
}

static struct bk_queue *
th_declare(const char *name, struct bk_table_builder *args)
{
	struct bk_err err;

	if (th_declare_args(name, args, &err) != BK_OK) {
		fprintf(stderr, "declare %s: %s\n", name, err.text);
		abort();
	}
	if (args)
		bk_tb_fini(args);
	return bk_queue_get(th_vh, bk_str_c(name));
}

/* Publish body to exchange (key = routing key) with optional props. */
static struct bk_route_result
th_publish_x(const char *exchange, const char *key, const char *body,
	     const struct bk_props *props)
{
	struct bk_msg *m = bk_msg_new(bk_str_c(exchange), bk_str_c(key), props,
				      strlen(body));
	struct bk_route_result res;
	struct bk_err err;

	memcpy(bk_msg_body(m), body, strlen(body));
	bk_publish(th_vh, bk_str_c(exchange), m, &res, &err);
	bk_msg_unref(m);
	return res;
}

static struct bk_route_result
th_publish(const char *queue, const char *body)
{
	return th_publish_x("", queue, body, NULL);
}

static bool
th_body_is(const struct bk_delivery *d, const char *s)
{
	return d && d->msg->body_len == strlen(s) &&
	       memcmp(bk_msg_body(d->msg), s, strlen(s)) == 0;
}

/* basic.get with ack; returns NULL when empty. */
static struct bk_delivery *
th_get(struct bk_queue *q)
{
	struct bk_delivery *d;
	uint32_t n;

	bk_queue_get_one(q, false, &d, &n);
	return d;
}

/* A recording consumer. */
struct th_cons {
	struct bk_consumer *c;
	struct bk_delivery *d[64];
	int n;
	int eagain;                     /* refuse this many more deliveries */
	bool settle_inline;             /* no-ack style: settle inside deliver */
	bool cancel_inline;             /* cancel itself inside deliver */
	int cancelled;
};

static int
th_deliver(void *ctx, struct bk_delivery *d)
{
	struct th_cons *t = ctx;

	if (t->eagain > 0) {
		t->eagain--;
		return -EAGAIN;
	}
	if (t->n < 64)
		t->d[t->n] = d;
	t->n++;
	if (t->settle_inline) {
		t->d[t->n - 1] = NULL;
		bk_delivery_settle(d, BK_SETTLE_ACK);
	}
	if (t->cancel_inline && t->c) {
		bk_consumer_cancel(t->c);
		t->c = NULL;
	}
	return 0;
}

static void
th_cancelled(void *ctx, enum bk_cancel_reason why)
{
	struct th_cons *t = ctx;

	t->cancelled++;
	t->c = NULL;
}

static const struct bk_consumer_ops th_ops = {
	BK_CONSUMER_OPS_V1, th_deliver, th_cancelled,
};

static struct bk_consumer *
th_consume(struct bk_queue *q, struct th_cons *t, uint32_t prefetch,
	   int32_t prio, struct bk_credit *credit)
{
	struct bk_consume_decl d = {
		.queue = q, .prefetch = prefetch, .priority = prio,
		.credit = credit, .ops = &th_ops, .ctx = t,
	};
	struct bk_err err;

	if (bk_consume(&d, &t->c, &err) != BK_OK) {
		fprintf(stderr, "consume: %s\n", err.text);
		abort();
	}
	return t->c;
}

#endif
