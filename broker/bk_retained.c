/*
 * bk_retained.c: retained messages: at most one message per (vhost,
 * routing key), apart from queues and exchanges, and walks over the ones
 * a pattern matches.
 *
 * Each vhost has a skip list of its retained messages ordered by key
 * (bytewise): O(log n) to set, replace or delete, and in-order walks.
 *
 *   head -> [a.b] ------------------------> [c] -> NULL     level 1
 *   head -> [a.b] -> [a.b.c] -> [b.x] ----> [c] -> NULL     level 0
 *
 * A node holds a reference to the message (one body, shared with the
 * queues that took it when it was routed); the message's routing key is
 * the node's key. A walk never holds a node: it keeps the pattern and the
 * last key it returned, and finds its place again by key, so deletions
 * and insertions between steps cannot leave it dangling. While the list
 * keeps its shape (store->gen unchanged; a replace does not change it)
 * the walk continues from the node it stopped at in O(1), else it seeks
 * in O(log n). Every key matching a pattern lies in the range of keys
 * starting with the pattern's literal prefix (the words before its first
 * wildcard), so a walk visits that range only.
 *
 * Snapshot: each set stamps the node with store->seq; a walk skips nodes
 * stamped after it began. A message retained after a SUBSCRIBE reaches
 * that subscriber by routing, so sending it again as retained would
 * deliver it twice.
 *
 * Journal records: bk_retained_persist.c. Nothing here delivers or calls
 * back into adapters.
 */
#include "bk_retained.h"

#include <string.h>

#define MAX_LEVEL 24                    /* 4^24 keys before levels run out */

struct bk_rnode {
	struct bk_msg *msg;             /* ref; msg->routing_key is the key */
	uint64_t seq;                   /* when it was set (store->seq) */
	bool durable;                   /* a journal record holds it */
	bool transient;                 /* set BK_RETAINED_TRANSIENT */
	uint8_t level;                  /* links in next[] */
	struct bk_rnode *next[];        /* borrowed: the list's links */
};

struct bk_rstore {
	struct bk_rnode *head;          /* owned sentinel with MAX_LEVEL links */
	uint8_t level;                  /* levels in use, >= 1 */
	uint64_t rng;                   /* xorshift64 state for node levels */
	uint64_t seq;                   /* last set */
	uint64_t gen;                   /* bumped when a node comes or goes */
	struct bk_retained_stats st;    /* counts */
};

struct bk_retained_walk {
	struct bk_vhost *vh;            /* borrowed */
	char *pattern;                  /* owned copy */
	uint32_t plen;
	uint32_t prefix;                /* literal prefix: pattern[0..prefix) */
	bool exact;                     /* no wildcard: at most one match */
	bool no_dollar;
	bool started, done;
	uint64_t start_seq;
	char *last;                     /* owned: key of the last match */
	uint32_t last_len, last_cap;
	struct bk_rnode *at;            /* borrowed, valid while gen == at_gen */
	uint64_t at_gen;
	char *skip;                     /* owned: where skip() says to go */
	uint32_t skip_cap;
};

static int
key_cmp(struct bk_str a, struct bk_str b)
{
	uint32_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;

	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static struct bk_str
key_of(const struct bk_rnode *n)
{
	return bk_msg_rk(n->msg);
}

static struct bk_rstore *
store_get(struct bk_vhost *vh, bool create)
{
	struct bk_rstore *st = vh->retained;

	if (st || !create)
		return st;
	st = bk_calloc(1, sizeof(*st));
	st->head = bk_calloc(1, sizeof(*st->head) + MAX_LEVEL * sizeof(struct bk_rnode *));
	st->head->level = MAX_LEVEL;
	st->level = 1;
	st->rng = (uintptr_t)st ^ 0x9E3779B97F4A7C15ull;
	vh->retained = st;
	return st;
}

/* A level with P(l) = 4^-l, from xorshift64. */
static uint8_t
random_level(struct bk_rstore *st)
{
	uint64_t x = st->rng;
	uint8_t l = 1;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	st->rng = x;
	while (l < MAX_LEVEL && (x & 3) == 0) {
		l++;
		x >>= 2;
	}
	return l;
}

/*
 * The first node whose key is >= key (after, when strictly: > key), or
 * NULL; upd (may be NULL) gets, per level, the last node before it.
 */
static struct bk_rnode *
seek(struct bk_rstore *st, struct bk_str key, bool strictly, struct bk_rnode **upd)
{
	struct bk_rnode *x = st->head;

	for (int l = st->level - 1; l >= 0; l--) {
		while (x->next[l]) {
			int c = key_cmp(key_of(x->next[l]), key);

			if (c > 0 || (c == 0 && !strictly))
				break;
			x = x->next[l];
		}
		if (upd)
			upd[l] = x;
	}
	return x->next[0];
}

static struct bk_rnode *
find(struct bk_rstore *st, struct bk_str key, struct bk_rnode **upd)
{
	struct bk_rnode *n = seek(st, key, false, upd);

	return n && key_cmp(key_of(n), key) == 0 ? n : NULL;
}

/* Add (sign 1) or take away (-1) n's message from the counts. */
static void
count(struct bk_rstore *st, const struct bk_rnode *n, int sign)
{
	uint64_t b = n->msg->body_len;

	st->st.messages += (uint64_t)(int64_t)sign;
	st->st.bytes += (uint64_t)((int64_t)sign * (int64_t)b);
	if (n->transient) {
		st->st.transient += (uint64_t)(int64_t)sign;
		st->st.transient_bytes += (uint64_t)((int64_t)sign * (int64_t)b);
	}
}

static void
unlink_node(struct bk_rstore *st, struct bk_rnode *n, struct bk_rnode **upd)
{
	for (uint8_t l = 0; l < n->level; l++)
		if (upd[l]->next[l] == n)
			upd[l]->next[l] = n->next[l];
	while (st->level > 1 && st->head->next[st->level - 1] == NULL)
		st->level--;
	st->gen++;
	count(st, n, -1);
}

/* Remove the node of key and its journal record: true if a deletion
 * record was written. */
static bool
remove_key(struct bk_vhost *vh, struct bk_rstore *st, struct bk_str key)
{
	struct bk_rnode *upd[MAX_LEVEL], *n = find(st, key, upd);
	bool journaled = false;

	if (n == NULL)
		return false;
	unlink_node(st, n, upd);
	if (n->durable)
		journaled = bk_retained_journal_del(vh, key);
	bk_msg_unref(n->msg);
	bk_free(n);
	return journaled;
}

static struct bk_rnode *
insert(struct bk_rstore *st, struct bk_msg *msg, struct bk_rnode **upd)
{
	uint8_t lvl = random_level(st);
	struct bk_rnode *n = bk_calloc(1, sizeof(*n) + lvl * sizeof(struct bk_rnode *));

	for (uint8_t l = st->level; l < lvl; l++)
		upd[l] = st->head;
	if (lvl > st->level)
		st->level = lvl;
	n->level = lvl;
	n->msg = bk_msg_ref(msg);
	for (uint8_t l = 0; l < lvl; l++) {
		n->next[l] = upd[l]->next[l];
		upd[l]->next[l] = n;
	}
	st->gen++;
	return n;
}

/* Make msg the key's message (its journal record is the caller's). */
static struct bk_rnode *
put(struct bk_vhost *vh, struct bk_rstore *st, struct bk_msg *msg, bool transient)
{
	struct bk_rnode *upd[MAX_LEVEL], *n = find(st, bk_msg_rk(msg), upd);

	if (n == NULL) {
		n = insert(st, msg, upd);
	} else {
		count(st, n, -1);
		bk_msg_ref(msg);
		bk_msg_unref(n->msg);
		n->msg = msg;
	}
	n->transient = transient;
	count(st, n, 1);
	n->seq = ++st->seq;
	if (transient && n->durable)
		bk_retained_journal_del(vh, bk_msg_rk(msg));
	n->durable = false;
	return n;
}

enum bk_status
bk_retained_set(struct bk_vhost *vh, struct bk_msg *msg, unsigned flags, bool *journaled,
		struct bk_err *err)
{
	bool transient = (flags & BK_RETAINED_TRANSIENT) != 0;
	struct bk_rstore *st;
	struct bk_rnode *n;

	if (journaled)
		*journaled = false;
	if (!transient && strlen(vh->name) + 1 + (size_t)bk_msg_rk(msg).len > BK_RETAINED_KEY_MAX)
		return bk_err_set(err, BK_RESOURCE_ERROR,
				  "routing key of %u bytes too long to retain in vhost '%s'",
				  bk_msg_rk(msg).len, vh->name);
	if (msg->body_len == 0) {
		if ((st = store_get(vh, false)) != NULL && remove_key(vh, st, bk_msg_rk(msg)) &&
		    journaled)
			*journaled = true;
		return BK_OK;
	}
	st = store_get(vh, true);
	n = put(vh, st, msg, transient);
	/* journal off or failed: memory only */
	n->durable = !transient && bk_retained_journal_put(vh, msg);
	if (journaled)
		*journaled = n->durable;
	return BK_OK;
}

void
bk_retained_restore(struct bk_vhost *vh, struct bk_msg *msg)
{
	put(vh, store_get(vh, true), msg, false)->durable = true;
}

static bool
expired(const struct bk_msg *m, uint64_t now)
{
	return bk_msg_expires(m) > 0 && (uint64_t)bk_msg_expires(m) <= now;
}

struct bk_msg *
bk_retained_get(struct bk_vhost *vh, struct bk_str key)
{
	struct bk_rstore *st = store_get(vh, false);
	struct bk_rnode *n = st ? find(st, key, NULL) : NULL;

	return n && !expired(n->msg, bk_now_ms()) ? n->msg : NULL;
}

void
bk_retained_stats(struct bk_broker *b, struct bk_vhost *vh, struct bk_retained_stats *out)
{
	struct bk_vhost *it, *tmp;

	memset(out, 0, sizeof(*out));
	HASH_ITER(hh, b->vhosts, it, tmp) {
		if ((vh && it != vh) || it->retained == NULL)
			continue;
		out->messages += it->retained->st.messages;
		out->bytes += it->retained->st.bytes;
		out->transient += it->retained->st.transient;
		out->transient_bytes += it->retained->st.transient_bytes;
	}
}

void
bk_retained_drop(struct bk_vhost *vh, bool forget)
{
	struct bk_rstore *st = vh->retained;
	struct bk_rnode *n, *next;

	if (st == NULL)
		return;
	for (n = st->head->next[0]; n; n = next) {
		next = n->next[0];
		if (forget && n->durable)
			bk_retained_journal_del(vh, key_of(n));
		bk_msg_unref(n->msg);
		bk_free(n);
	}
	bk_free(st->head);
	bk_free(st);
	vh->retained = NULL;
}

/* ---- walks ----------------------------------------------------------- */

/* The end of the word starting at i (a '.' or n). */
static uint32_t
word_end(const char *s, uint32_t n, uint32_t i)
{
	while (i < n && s[i] != '.')
		i++;
	return i;
}

/* Step past the word ending at e: *more = another word starts at *i. */
static void
step(uint32_t n, uint32_t e, uint32_t *i, bool *more)
{
	*more = e < n;
	*i = e + 1;
}

/*
 * Topic-exchange matching over words ('.'-separated; "a." has an empty
 * last word, "" none at all, as for the topic exchange): '*' one word,
 * '#' zero or more. Glob matching with words
 * for characters: on a mismatch the most recent '#' takes one more word
 * of the key, which is enough for any number of '#'. O(pattern x key)
 * at worst, no recursion.
 */
static bool
match(const char *p, uint32_t pn, const char *k, uint32_t kn)
{
	uint32_t pi = 0, ki = 0, bp = 0, bk = 0;
	bool pm = pn > 0, km = kn > 0, back = false, bpm = false, bkm = false;

	for (;;) {
		uint32_t pe = pm ? word_end(p, pn, pi) : pi;
		uint32_t ke = km ? word_end(k, kn, ki) : ki;

		if (pm && pe - pi == 1 && p[pi] == '#') {
			step(pn, pe, &pi, &pm);         /* zero words first */
			if (!pm)
				return true;            /* a last '#' takes the rest */
			back = true;
			bp = pi, bpm = pm, bk = ki, bkm = km;
			continue;
		}
		if (!pm && !km)
			return true;
		if (pm && km && ((pe - pi == 1 && p[pi] == '*') ||
				 (pe - pi == ke - ki && memcmp(p + pi, k + ki, pe - pi) == 0))) {
			step(pn, pe, &pi, &pm);
			step(kn, ke, &ki, &km);
			continue;
		}
		if (!back || !bkm)
			return false;
		step(kn, word_end(k, kn, bk), &bk, &bkm);
		pi = bp, pm = bpm, ki = bk, km = bkm;
	}
}

struct bk_retained_walk *
bk_retained_walk_new(struct bk_vhost *vh, struct bk_str pattern, unsigned flags)
{
	struct bk_retained_walk *w = bk_calloc(1, sizeof(*w));
	struct bk_rstore *st = store_get(vh, false);
	uint32_t i = 0;

	w->vh = vh;
	w->pattern = bk_malloc((size_t)pattern.len + 1);
	memcpy(w->pattern, pattern.p, pattern.len);
	w->pattern[pattern.len] = '\0';
	w->plen = pattern.len;
	w->no_dollar = (flags & BK_RETAINED_NO_DOLLAR) != 0;
	w->start_seq = st ? st->seq : 0;
	/* the literal prefix: whole words up to the first wildcard word */
	for (uint32_t s = 0; s <= pattern.len; ) {
		uint32_t e = s;

		while (e < pattern.len && pattern.p[e] != '.')
			e++;
		if (e - s == 1 && (pattern.p[s] == '*' || pattern.p[s] == '#'))
			break;
		i = e;                          /* through this word */
		s = e + 1;
		if (e == pattern.len) {
			w->exact = true;
			break;
		}
	}
	w->prefix = i;
	return w;
}

/* Remember n's key as the walk's place. */
static void
mark(struct bk_retained_walk *w, struct bk_rstore *st, struct bk_rnode *n)
{
	struct bk_str k = key_of(n);

	if (w->last_cap < k.len + 1) {
		w->last_cap = k.len + 1;
		bk_free(w->last);
		w->last = bk_malloc(w->last_cap);
	}
	if (k.len)
		memcpy(w->last, k.p, k.len);
	w->last_len = k.len;
	w->at = n;
	w->at_gen = st->gen;
}

/* Where to look next: the node after the last match. */
static struct bk_rnode *
resume(struct bk_retained_walk *w, struct bk_rstore *st)
{
	if (!w->started) {
		w->started = true;
		return seek(st, (struct bk_str){ w->pattern, w->prefix }, false, NULL);
	}
	if (w->at && w->at_gen == st->gen)
		return w->at->next[0];
	return seek(st, (struct bk_str){ w->last, w->last_len }, true, NULL);
}

static bool
wanted(const struct bk_retained_walk *w, const struct bk_rnode *n)
{
	struct bk_str k = key_of(n);

	if (n->seq > w->start_seq)
		return false;
	if (w->exact)
		return k.len == w->plen && memcmp(k.p, w->pattern, k.len) == 0;
	if (w->no_dollar && w->prefix == 0 && k.len > 0 && k.p[0] == '$')
		return false;
	return match(w->pattern, w->plen, k.p, k.len);
}

enum skip { SKIP_STEP, SKIP_TO, SKIP_END };

/* w->skip = a[0..alen) b[0..blen) tail[0..tlen) */
static struct bk_str
skip_key(struct bk_retained_walk *w, struct bk_str a, struct bk_str b, const char *tail,
	 uint32_t tlen)
{
	uint32_t len = a.len + b.len + tlen;

	if (w->skip_cap < len) {
		w->skip_cap = len;
		bk_free(w->skip);
		w->skip = bk_malloc(len);
	}
	if (a.len)
		memcpy(w->skip, a.p, a.len);
	if (b.len)
		memcpy(w->skip + a.len, b.p, b.len);
	if (tlen)
		memcpy(w->skip + a.len + b.len, tail, tlen);
	return (struct bk_str){ w->skip, len };
}

/*
 * k did not match: how far the walk may jump. The keys starting with the
 * same bytes k[0..ki) (whole words, up to the first pattern word k fails)
 * form one range of the list, and in it only those going on with that
 * pattern word can match: so seek to them (*to) when they lie ahead, else
 * past the range. SKIP_END: no later key can match; SKIP_STEP: no jump
 * known (a '#' comes first, k is shorter than the pattern, or k matches
 * and was refused for another reason). Every jump lands past k. Without
 * this a filter such as "+/x" read every retained key of the vhost per
 * SUBSCRIBE entry, where Mosquitto's topic tree reads one key a
 * first-level name.
 */
static enum skip
skip(struct bk_retained_walk *w, struct bk_str k, struct bk_str *to)
{
	const char *p = w->pattern;
	uint32_t pi = 0, ki = 0, pe, ke;
	bool pm = w->plen > 0, km = k.len > 0;
	struct bk_str pre, word;

	if (w->no_dollar && w->prefix == 0 && k.len > 0 && k.p[0] == '$') {
		*to = skip_key(w, bk_str_c("%"), (struct bk_str){ NULL, 0 }, NULL, 0);
		return SKIP_TO;                 /* '%' follows '$' */
	}
	for (;;) {
		if (!pm) {
			if (!km || ki == 0)
				return SKIP_STEP;
			/* more words than the pattern: so has every key
			 * starting with k[0..ki), which ends with '.' */
			*to = skip_key(w, (struct bk_str){ k.p, ki - 1 }, bk_str_c("/"), NULL, 0);
			return SKIP_TO;
		}
		if (!km)
			return SKIP_STEP;
		pe = word_end(p, w->plen, pi);
		ke = word_end(k.p, k.len, ki);
		if (pe - pi == 1 && p[pi] == '#')
			return SKIP_STEP;
		if ((pe - pi == 1 && p[pi] == '*') ||
		    (pe - pi == ke - ki && memcmp(p + pi, k.p + ki, pe - pi) == 0)) {
			step(w->plen, pe, &pi, &pm);
			step(k.len, ke, &ki, &km);
			continue;
		}
		pre = (struct bk_str){ k.p, ki };
		word = (struct bk_str){ p + pi, pe - pi };
		*to = skip_key(w, pre, word, NULL, 0);
		if (key_cmp(*to, k) > 0)
			return SKIP_TO;         /* the word itself */
		*to = skip_key(w, pre, word, ".", 1);
		if (key_cmp(*to, k) > 0)
			return SKIP_TO;         /* the word and more words */
		if (ki == 0)
			return SKIP_END;
		*to = skip_key(w, (struct bk_str){ k.p, ki - 1 }, bk_str_c("/"), NULL, 0);
		return SKIP_TO;                 /* past the range */
	}
}

struct bk_msg *
bk_retained_walk_next(struct bk_retained_walk *w)
{
	struct bk_rstore *st = store_get(w->vh, false);
	struct bk_rnode *n, *next;
	uint64_t now = bk_now_ms();

	if (w->done || st == NULL)
		return NULL;
	for (n = resume(w, st); n; n = next) {
		struct bk_str k = key_of(n);

		next = n->next[0];
		if (k.len < w->prefix || memcmp(k.p, w->pattern, w->prefix) != 0)
			break;                  /* past the prefix's range */
		if (!wanted(w, n)) {
			struct bk_str to;

			switch (skip(w, k, &to)) {
			case SKIP_STEP:
				break;
			case SKIP_TO:
				next = seek(st, to, false, NULL);
				break;
			case SKIP_END:
				next = NULL;
				break;
			}
			continue;
		}
		if (expired(n->msg, now)) {     /* [MQTT-3.3.2-5] */
			remove_key(w->vh, st, k);
			continue;
		}
		mark(w, st, n);
		if (w->exact)
			w->done = true;
		return n->msg;
	}
	w->done = true;
	return NULL;
}

void
bk_retained_walk_free(struct bk_retained_walk *w)
{
	if (w == NULL)
		return;
	bk_free(w->pattern);
	bk_free(w->last);
	bk_free(w->skip);
	bk_free(w);
}
