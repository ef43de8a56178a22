/*
 * mqtt_retain.c: retained messages, in memory, per vhost and topic.
 *
 * The store keeps a reference to the routed bk_msg itself (one body,
 * shared with the queues that took it). A retained publish with an
 * empty payload clears the topic [MQTT-3.3.1-6/7] and is not stored.
 * On subscribe every stored topic the filter matches (wildcards
 * included, '$' topics only for filters that name the '$'
 * [MQTT-4.7.2-1]) is sent with the retain flag at min(granted QoS,
 * message QoS).
 *
 * Each vhost has a tree of topic levels: "a/b" and "a/c" share the
 * node "a", whose children are hashed by level. This is the inverse of
 * the core's topic trie (bk_topic.c), which holds patterns and is
 * walked by a key: here the tree holds topics and is walked by a
 * pattern, so a filter costs one hash lookup per level of a plain
 * level, the children of the nodes it reaches for "+", and the subtree
 * for "#": proportional to what matches, not to the store. Walks use
 * an explicit stack, so a topic of 30000 levels cannot exhaust the C
 * stack. A node without a message and without children is pruned.
 *
 * Restarts: mqtt_retain_log.c keeps the store in a durable queue.
 */
#include "mqtt_int.h"

#include <string.h>

struct mqtt_rnode {
	char *level;                    /* owned; uthash key in parent->kids */
	uint32_t len;
	struct mqtt_rnode *parent;      /* borrowed; NULL for the root */
	struct mqtt_rnode *kids;        /* owned uthash by level */
	struct bk_msg *msg;             /* ref; NULL: no message on this topic */
	UT_hash_handle hh;              /* in parent->kids */
};

/* One vhost's retained messages. */
struct mqtt_rstore {
	struct bk_vhost *vhost;         /* borrowed; uthash key (the pointer) */
	struct mqtt_rnode root;         /* level "" above the first level */
	uint32_t count;                 /* messages stored */
	UT_hash_handle hh;              /* in l->retained */
};

/* A walk frame: a node and where its level ends in the filter; ALL
 * stands for "this node and every node below it". */
#define ALL UINT32_MAX
struct frame {
	struct mqtt_rnode *n;
	uint32_t pos;
};

struct walk {
	struct frame *v;                /* owned */
	uint32_t len, cap;
};

static void
push(struct walk *w, struct mqtt_rnode *n, uint32_t pos)
{
	if (w->len == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 32;
		w->v = bk_realloc(w->v, w->cap * sizeof(*w->v));
	}
	w->v[w->len++] = (struct frame){ n, pos };
}

static struct mqtt_rstore *
store_get(struct mqtt_listener *l, struct bk_vhost *vh, bool create)
{
	struct mqtt_rstore *st = NULL;

	HASH_FIND_PTR(l->retained, &vh, st);
	if (st || !create)
		return st;
	st = bk_calloc(1, sizeof(*st));
	st->vhost = vh;
	HASH_ADD_PTR(l->retained, vhost, st);
	return st;
}

/* Level [p, p + len) of a topic: the child of n, created if asked. */
static struct mqtt_rnode *
child(struct mqtt_rnode *n, const char *p, uint32_t len, bool create)
{
	struct mqtt_rnode *k = NULL;

	HASH_FIND(hh, n->kids, p, len, k);
	if (k || !create)
		return k;
	k = bk_calloc(1, sizeof(*k));
	k->level = bk_malloc(len + 1);
	memcpy(k->level, p, len);
	k->level[len] = '\0';
	k->len = len;
	k->parent = n;
	HASH_ADD_KEYPTR(hh, n->kids, k->level, k->len, k);
	return k;
}

/* The node of topic t (every level, empty ones too). */
static struct mqtt_rnode *
find(struct mqtt_rstore *st, struct bk_str t, bool create)
{
	struct mqtt_rnode *n = &st->root;
	uint32_t i = 0;

	for (;;) {
		const char *slash = memchr(t.p + i, '/', t.len - i);
		uint32_t end = slash ? (uint32_t)(slash - t.p) : t.len;

		if (!(n = child(n, t.p + i, end - i, create)))
			return NULL;
		if (!slash)
			return n;
		i = end + 1;
	}
}

/* Drop n's message and the nodes left empty above it. */
static void
clear(struct mqtt_rstore *st, struct mqtt_rnode *n)
{
	if (n->msg) {
		bk_msg_unref(n->msg);
		n->msg = NULL;
		st->count--;
	}
	while (n != &st->root && !n->msg && !n->kids) {
		struct mqtt_rnode *up = n->parent;

		HASH_DEL(up->kids, n);
		bk_free(n->level);
		bk_free(n);
		n = up;
	}
}

/* Free the whole tree, bottom-up without recursion, then the store. */
static void
store_free(struct mqtt_listener *l, struct mqtt_rstore *st)
{
	struct mqtt_rnode *n = &st->root;

	while (n) {
		struct mqtt_rnode *up;

		if (n->kids) {
			n = n->kids;
			continue;
		}
		bk_msg_unref(n->msg);
		if (n == &st->root)
			break;
		up = n->parent;
		HASH_DEL(up->kids, n);
		bk_free(n->level);
		bk_free(n);
		n = up;
	}
	HASH_DEL(l->retained, st);
	bk_free(st);
}

void
mqtt_retain_store(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg)
{
	mqtt_retain_put(l, vh, msg);
	mqtt_retain_log_append(l, vh, msg);
}

void
mqtt_retain_put(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg)
{
	struct mqtt_rstore *st = store_get(l, vh, msg->body_len > 0);
	struct mqtt_buf buf = { NULL, 0 };
	struct mqtt_rnode *n;
	struct bk_str t;

	if (!st || mqtt_key_to_topic(msg->routing_key, &buf, &t) < 0)
		goto out;
	n = find(st, t, msg->body_len > 0);
	if (msg->body_len == 0) {
		if (n)
			clear(st, n);
		goto out;
	}
	if (!n->msg)
		st->count++;
	bk_msg_unref(n->msg);
	n->msg = bk_msg_ref(msg);
out:
	mqtt_buf_fini(&buf);
}

/* A level of n that a leading wildcard may match ([MQTT-4.7.2-1]). */
static bool
wild_ok(const struct mqtt_rstore *st, const struct mqtt_rnode *n, const struct mqtt_rnode *k)
{
	return n != &st->root || k->len == 0 || k->level[0] != '$';
}

void
mqtt_retain_deliver(struct mqtt_session *s, struct bk_str filter, uint8_t qos,
		    uint32_t sub_id)
{
	struct mqtt_rstore *st = store_get(s->l, s->vhost, false);
	struct walk w = { 0 }, expired = { 0 };
	uint64_t now = bk_now_ms();

	if (!st || filter.len == 0)
		return;
	push(&w, &st->root, 0);
	while (w.len) {
		struct frame f = w.v[--w.len];
		struct mqtt_rnode *n = f.n, *k, *tmp;
		struct bk_msg *m = NULL;

		if (f.pos == ALL || f.pos > filter.len) {
			/* the filter is used up here (or "#" reached it) */
			m = n->msg;
			if (f.pos == ALL)
				HASH_ITER(hh, n->kids, k, tmp)
					push(&w, k, ALL);
		} else {
			const char *lv = filter.p + f.pos;
			const char *slash = memchr(lv, '/', filter.len - f.pos);
			uint32_t end = slash ? (uint32_t)(slash - filter.p) : filter.len;
			uint32_t len = end - f.pos, next = end + 1;

			if (len == 1 && lv[0] == '#') {
				/* "a/#" also matches "a" [MQTT-4.7.1-2] */
				m = n->msg;
				HASH_ITER(hh, n->kids, k, tmp)
					if (wild_ok(st, n, k))
						push(&w, k, ALL);
			} else if (len == 1 && lv[0] == '+') {
				HASH_ITER(hh, n->kids, k, tmp)
					if (wild_ok(st, n, k))
						push(&w, k, next);
			} else if ((k = child(n, lv, len, false)) != NULL) {
				push(&w, k, next);
			}
		}
		if (!m)
			continue;
		if (m->expires_ms > 0 && (uint64_t)m->expires_ms <= now) {
			push(&expired, n, 0);           /* [MQTT-3.3.2-5] */
			continue;
		}
		{
			uint8_t mq = m->origin_flags & MQTT_OF_MQTT ?
				     (uint8_t)(m->origin_flags & MQTT_OF_QOS_MASK) :
				     (m->flags & BK_MSG_PERSISTENT ? 1 : 0);

			mqtt_deliver_local(s, m, mq < qos ? mq : qos, sub_id);
		}
	}
	/* after the walk: clearing prunes nodes a frame could still name */
	for (uint32_t i = 0; i < expired.len; i++)
		clear(st, expired.v[i].n);
	bk_free(w.v);
	bk_free(expired.v);
	if (st->count == 0)
		store_free(s->l, st);
}

void
mqtt_retain_each(struct mqtt_listener *l, struct bk_vhost *vh, mqtt_retain_fn fn, void *arg)
{
	struct mqtt_rstore *st = store_get(l, vh, false);
	struct walk w = { 0 };

	if (!st)
		return;
	push(&w, &st->root, ALL);
	while (w.len) {
		struct mqtt_rnode *n = w.v[--w.len].n, *k, *tmp;

		if (n->msg)
			fn(arg, n->msg);
		HASH_ITER(hh, n->kids, k, tmp)
			push(&w, k, ALL);
	}
	bk_free(w.v);
}

uint32_t
mqtt_retain_count(struct mqtt_listener *l, struct bk_vhost *vh)
{
	struct mqtt_rstore *st = store_get(l, vh, false);

	return st ? st->count : 0;
}

uint64_t
mqtt_retain_total(struct mqtt_listener *l)
{
	struct mqtt_rstore *st, *tmp;
	uint64_t n = 0;

	HASH_ITER(hh, l->retained, st, tmp)
		n += st->count;
	return n;
}

void
mqtt_retain_drop_vhost(struct mqtt_listener *l, struct bk_vhost *vh)
{
	struct mqtt_rstore *st = store_get(l, vh, false);

	if (st)
		store_free(l, st);
}

void
mqtt_retain_free_all(struct mqtt_listener *l)
{
	struct mqtt_rstore *st, *tmp;

	HASH_ITER(hh, l->retained, st, tmp)
		store_free(l, st);
}
