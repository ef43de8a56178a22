/*
 * bk_dlx.c: dead-lettering.
 *
 * A dead-lettered message is a new bk_msg: same body and properties, the
 * queue's x-dead-letter-routing-key (or the original routing key), the
 * expiration property removed (kept as "original-expiration" in x-death,
 * so the copy cannot expire again by the same rule), and headers updated
 * as RabbitMQ 3.13+ writes them:
 *
 *   x-death  array of tables, most recent first, one per (queue, reason):
 *              count        long       times died for this (queue, reason)
 *              reason       longstr    rejected | expired | maxlen | delivery_limit
 *              queue        longstr
 *              time         timestamp  first death for this (queue, reason)
 *              exchange     longstr    exchange it had been published to
 *              routing-keys array      its routing key and CC keys
 *              original-expiration longstr (when it had one)
 *            a repeated (queue, reason) moves to the front with count + 1.
 *   x-first-death-{reason,queue,exchange}  set once
 *   x-last-death-{reason,queue,exchange}   replaced every time
 *
 * The copy is routed with bk_publish() to the DLX; a missing DLX drops it.
 * While it is routed, qs->dl_msg names it so that bk_queue_enqueue() can
 * apply RabbitMQ's cycle rule per target queue (bk_dlx_is_cycle). Nested
 * dead-lettering (a publish that overflows another queue, ...) is bounded
 * by MAX_DEPTH.
 *
 * The body is copied once here: a bk_msg is one allocation, and this path
 * is not the hot one. But dead-lettering runs synchronously, inside the
 * publish or expiry that set it off, and the cycle rule does not bound
 * its breadth: a publish to a fanout of N queues with x-message-ttl 0 and
 * a DLX makes N copies of its body (where a plain fanout shares one), and
 * levels of such queues, each dead-lettering into the next, make N^8
 * (six queues a level: ten million copies and 9 s of the core thread for
 * one publish; 1000 queues and a 16 MB body: 16 GB before the memory
 * alarm's next look). So the dead-letters one root sets off share a
 * budget, DL_BUDGET units (a copy: 1 + a unit per KiB of body copied;
 * 1 per queue a copy reached): a root is a publish (bk_route_root:
 * every dead-letter from the enqueues of that publish) or a dead-letter
 * made outside any publish (an expiry timer, a reject: each message its
 * own root). Once it is spent, further dead-letters of that root are
 * dropped, with a warning at most every 10 s. The first dead-letter of a
 * root is always made, so ordinary expiry and rejects never see it.
 */
#include "bk_persist.h"

#include <string.h>

#define MAX_DEPTH 8
#define DL_BUDGET (64u * 1024)          /* ~64 MiB copied, or ~65000 enqueues */
#define DL_WARN_MS 10000

static struct bk_value
lstr(struct bk_str s)
{
	struct bk_value v = { .type = BK_V_LSTR };

	v.u.s = s;
	return v;
}

static void
put_str(struct bk_table_builder *b, const char *name, struct bk_str s)
{
	struct bk_value v = lstr(s);

	bk_tb_put(b, name, (uint32_t)strlen(name), &v);
}

/* Values as read are re-encoded by the builder. */
static void
put_copy(struct bk_table_builder *b, struct bk_str name, struct bk_value v)
{
	bk_tb_put(b, name.p, name.len, &v);
}

static bool
get_str(struct bk_table t, const char *name, struct bk_str *out)
{
	struct bk_value v;

	if (!bk_table_get(t, name, &v) ||
	    (v.type != BK_V_LSTR && v.type != BK_V_BYTES))
		return false;
	*out = v.u.s;
	return true;
}

static void
routing_keys(struct bk_table_builder *b, const struct bk_msg *m)
{
	struct bk_table_builder arr;
	struct bk_value v, cc;
	uint32_t pos = 0;

	bk_tb_init(&arr);
	v = lstr(bk_msg_rk(m));
	bk_tb_put_value(&arr, &v);
	if ((bk_msg_props(m)->present & BK_P_HEADERS) &&
	    bk_table_get(bk_msg_props(m)->headers, "CC", &cc) && cc.type == BK_V_ARRAY)
		while (bk_array_next(cc.u.a, &pos, &v))
			if (v.type == BK_V_LSTR)
				bk_tb_put_value(&arr, &v);
	v.type = BK_V_ARRAY;
	v.u.a = bk_tb_view(&arr);
	bk_tb_put(b, "routing-keys", 12, &v);
	bk_tb_fini(&arr);
}

static void
new_death(struct bk_table_builder *b, const struct bk_queue *q,
	  const struct bk_msg *m, const char *reason)
{
	struct bk_value v = { .type = BK_V_I64 };

	v.u.i = 1;
	bk_tb_put(b, "count", 5, &v);
	put_str(b, "reason", bk_str_c(reason));
	put_str(b, "queue", bk_str_c(q->name));
	v.type = BK_V_TIMESTAMP;
	v.u.ts = bk_now_ms() / 1000;
	bk_tb_put(b, "time", 4, &v);
	put_str(b, "exchange", bk_msg_exchange(m));
	routing_keys(b, m);
	if (bk_msg_props(m)->present & BK_P_EXPIRATION)
		put_str(b, "original-expiration", bk_msg_props(m)->expiration);
}

/* The old entry with its count raised by one. */
static void
bumped_death(struct bk_table_builder *b, struct bk_table old)
{
	struct bk_str name;
	struct bk_value v;
	uint32_t pos = 0;
	int64_t n;

	while (bk_table_next(old, &pos, &name, &v)) {
		if (bk_str_eq_c(name, "count")) {
			n = bk_value_int(&v, &n) ? n : 0;
			v.type = BK_V_I64;
			v.u.i = n + 1;
		}
		put_copy(b, name, v);
	}
}

static bool
same_death(struct bk_table t, const char *qname, const char *reason)
{
	struct bk_str s;

	return get_str(t, "queue", &s) && bk_str_eq_c(s, qname) &&
	       get_str(t, "reason", &s) && bk_str_eq_c(s, reason);
}

/* The x-death array: this death first, then the others in their order. */
static void
x_death(struct bk_table_builder *out, const struct bk_queue *q,
	const struct bk_msg *m, const char *reason, const struct bk_value *old)
{
	struct bk_table_builder arr, ent;
	struct bk_value v, found = { .type = BK_V_VOID };
	uint32_t pos = 0;

	bk_tb_init(&arr);
	bk_tb_init(&ent);
	if (old != NULL)
		while (bk_array_next(old->u.a, &pos, &v))
			if (v.type == BK_V_TABLE && same_death(v.u.t, q->name, reason)) {
				found = v;
				break;
			}
	if (found.type == BK_V_TABLE)
		bumped_death(&ent, found.u.t);
	else
		new_death(&ent, q, m, reason);
	v.type = BK_V_TABLE;
	v.u.t = bk_tb_view(&ent);
	bk_tb_put_value(&arr, &v);
	pos = 0;
	if (old != NULL)
		while (bk_array_next(old->u.a, &pos, &v))
			if (!(found.type == BK_V_TABLE && v.type == BK_V_TABLE &&
			      v.u.t.p == found.u.t.p))
				bk_tb_put_value(&arr, &v);
	v.type = BK_V_ARRAY;
	v.u.a = bk_tb_view(&arr);
	bk_tb_put(out, "x-death", 7, &v);
	bk_tb_fini(&ent);
	bk_tb_fini(&arr);
}

static bool
replaced_header(struct bk_str name)
{
	return bk_str_eq_c(name, "x-death") ||
	       bk_str_eq_c(name, "x-last-death-reason") ||
	       bk_str_eq_c(name, "x-last-death-queue") ||
	       bk_str_eq_c(name, "x-last-death-exchange");
}

static void
build_headers(struct bk_table_builder *b, const struct bk_queue *q,
	      const struct bk_msg *m, const char *reason)
{
	struct bk_table h = { NULL, 0 };
	struct bk_value v, old;
	struct bk_str name;
	uint32_t pos = 0;
	bool first_seen = false, has_old = false;

	if (bk_msg_props(m)->present & BK_P_HEADERS)
		h = bk_msg_props(m)->headers;
	while (bk_table_next(h, &pos, &name, &v)) {
		if (bk_str_eq_c(name, "x-death")) {
			has_old = v.type == BK_V_ARRAY;
			old = v;
		}
		if (bk_str_eq_c(name, "x-first-death-reason"))
			first_seen = true;
		if (!replaced_header(name))
			put_copy(b, name, v);
	}
	if (!first_seen) {
		put_str(b, "x-first-death-exchange", bk_msg_exchange(m));
		put_str(b, "x-first-death-queue", bk_str_c(q->name));
		put_str(b, "x-first-death-reason", bk_str_c(reason));
	}
	put_str(b, "x-last-death-exchange", bk_msg_exchange(m));
	put_str(b, "x-last-death-queue", bk_str_c(q->name));
	put_str(b, "x-last-death-reason", bk_str_c(reason));
	x_death(b, q, m, reason, has_old ? &old : NULL);
}

static struct bk_msg *
dead_copy(const struct bk_queue *q, const struct bk_msg *m, const char *reason,
	  struct bk_table_builder *hb)
{
	struct bk_props props = *bk_msg_props(m);
	struct bk_str rk = q->args.dlrk ? bk_str_c(q->args.dlrk) : bk_msg_rk(m);
	struct bk_msg *nm;

	build_headers(hb, q, m, reason);
	props.present |= BK_P_HEADERS;
	props.headers = bk_tb_view(hb);
	props.present &= ~(uint32_t)BK_P_EXPIRATION;
	props.expiration = (struct bk_str){ NULL, 0 };
	nm = bk_msg_new(bk_str_c(q->args.dlx), rk, &props, m->body_len);
	if (m->body_len > 0)
		memcpy(bk_msg_body(nm), bk_msg_body(m), m->body_len);
	return nm;
}

/* Start a new budget at a root, charge a copy of m; false: spent, drop. */
static bool
budget_take(struct bk_queue *q, const struct bk_msg *m)
{
	struct bk_qstate *qs = bk_qs(q->broker);
	uint64_t root = bk_route_root(), now;

	if (qs->dl_depth == 0 && (root == 0 || root != qs->dl_root)) {
		qs->dl_root = root;
		qs->dl_work = 0;
	} else if (qs->dl_work >= DL_BUDGET) {
		now = bk_now_ms();
		if (qs->dl_warned_ms == 0 || now - qs->dl_warned_ms >= DL_WARN_MS) {
			qs->dl_warned_ms = now;
			bk_warn("dead-lettering from queue '%s' in vhost '%s' dropped: "
				"one publish or expiry set off more dead-lettering "
				"than %u units (copies, KiB copied, queues reached)",
				q->name, q->vhost->name, DL_BUDGET);
		}
		return false;
	}
	qs->dl_work += 1 + m->body_len / 1024;
	return true;
}

void
bk_dlx_dead_letter(struct bk_queue *q, struct bk_msg *m, const char *reason)
{
	struct bk_qstate *qs = bk_qs(q->broker);
	struct bk_table_builder hb;
	struct bk_route_result res;
	struct bk_err err;
	struct bk_msg *nm, *saved;

	struct bk_msg *full = NULL;

	if (!q->args.has_dlx || q->deleted || qs->dl_depth >= MAX_DEPTH)
		return;
	if (!budget_take(q, m))
		return;
	/* a paged-out original: the copy needs its body */
	if ((m->flags & BK_MSG_PAGED) && (m = full = bk_persist_page_in(q->broker, m)) == NULL)
		return;
	bk_tb_init(&hb);
	nm = dead_copy(q, m, reason, &hb);
	bk_tb_fini(&hb);                        /* bk_msg_new copied the headers */
	/* through the default exchange, never into a queue an adapter keeps
	 * for itself (an MQTT session's): nobody may publish there that way */
	if (q->args.dlx[0] == '\0' && bk_queue_reserved(q->broker, bk_msg_rk(nm))) {
		bk_msg_unref(nm);
		bk_msg_unref(full);
		return;
	}
	saved = qs->dl_msg;
	qs->dl_msg = nm;
	qs->dl_depth++;
	bk_publish(q->vhost, bk_str_c(q->args.dlx), nm, &res, &err);
	qs->dl_work += res.queues;
	qs->dl_depth--;
	qs->dl_msg = saved;
	bk_msg_unref(nm);
	bk_msg_unref(full);
}

/*
 * RabbitMQ's rule: walking x-death from the most recent death, the copy
 * would cycle into qname if it meets a death in qname before any death
 * with reason "rejected" (a client decision breaks the cycle).
 */
bool
bk_dlx_is_cycle(const struct bk_msg *m, const char *qname)
{
	struct bk_value deaths, v;
	struct bk_str s;
	uint32_t pos = 0;

	if (!(bk_msg_props(m)->present & BK_P_HEADERS) ||
	    !bk_table_get(bk_msg_props(m)->headers, "x-death", &deaths) ||
	    deaths.type != BK_V_ARRAY)
		return false;
	while (bk_array_next(deaths.u.a, &pos, &v)) {
		if (v.type != BK_V_TABLE)
			continue;
		if (get_str(v.u.t, "reason", &s) && bk_str_eq_c(s, "rejected"))
			return false;
		if (get_str(v.u.t, "queue", &s) && bk_str_eq_c(s, qname))
			return true;
	}
	return false;
}
