/*
 * bk_topic.c: the topic trie (contract in bk_topic.h).
 *
 * One node per pattern prefix. A node's literal children live in a uthash
 * keyed by the word bytes; the '*' and '#' children are held apart (star,
 * hash) because they are wildcards, not words: a routing key word "*" is a
 * literal and never looks them up. Values sit in a small array on the node
 * where their pattern ends.
 *
 * Matching walks the key once per live branch: at each node it follows the
 * literal child for the next word, the '*' child, and the '#' child with
 * every possible number of consumed words. A run of wildcards is stored
 * as its '*' words then at most one '#' (run_nodes), a '#' node that ends
 * its pattern emits without walking the rest of the key, and a '#' node
 * remembers how far it was walked in the current match, which keeps the
 * walk polynomial in the key's words whatever the patterns. A
 * node reached at the end of the key by several paths emits its values
 * once per match, thanks to a per-match generation stamp.
 *
 * Invariants: every non-root node has a value, a child, or a wildcard
 * child (empty nodes are pruned on removal); a node's word is the uthash
 * key and never changes while hashed.
 */
#include "bk_topic.h"

#include "bk_alloc.h"
#include "bk_assert.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <uthash.h>

enum kind { LITERAL, STAR, HASH };

struct node {
	struct node *parent;            /* borrowed; NULL for the root */
	struct node *children;          /* uthash of literal children, owned */
	struct node *star, *hash;       /* owned wildcard children */
	void **vals;                    /* owned array of borrowed values */
	uint32_t nvals, cap;
	uint64_t emitted;               /* generation of the last emission */
	uint64_t hash_gen;              /* '#' node: generation of hash_min */
	uint32_t hash_min;              /* '#' node: lowest position walked */
	enum kind kind;
	uint32_t wlen;
	UT_hash_handle hh;              /* in parent->children (LITERAL only) */
	char word[];                    /* the uthash key */
};

struct bk_topic {
	struct node *root;              /* owned */
	uint64_t gen;                   /* current match generation */
	size_t count;
};

static struct node *
node_new(struct node *parent, enum kind kind, const char *w, uint32_t wlen)
{
	struct node *n = bk_calloc(1, sizeof(*n) + wlen + 1);

	n->parent = parent;
	n->kind = kind;
	n->wlen = wlen;
	memcpy(n->word, w, wlen);
	return n;
}

static void
node_free(struct node *n)
{
	struct node *c, *tmp;

	if (n == NULL)
		return;
	HASH_ITER(hh, n->children, c, tmp) {
		HASH_DEL(n->children, c);
		node_free(c);
	}
	node_free(n->star);
	node_free(n->hash);
	bk_free(n->vals);
	bk_free(n);
}

struct bk_topic *
bk_topic_new(void)
{
	struct bk_topic *t = bk_calloc(1, sizeof(*t));

	t->root = node_new(NULL, LITERAL, "", 0);
	return t;
}

void
bk_topic_free(struct bk_topic *t)
{
	if (t == NULL)
		return;
	node_free(t->root);
	bk_free(t);
}

size_t
bk_topic_count(const struct bk_topic *t)
{
	return t->count;
}

/*
 * Word iteration. pos is the offset where the next word starts; pos ==
 * len + 1 means no words are left. An empty key therefore starts at 1
 * (zero words) while "a." yields "a" then "".
 */
static uint32_t
first_pos(uint32_t len)
{
	return len == 0 ? 1 : 0;
}

static uint32_t
word_end(const char *s, uint32_t len, uint32_t pos)
{
	const char *dot = memchr(s + pos, '.', len - pos);

	return dot ? (uint32_t)(dot - s) : len;
}

static enum kind
word_kind(const char *w, uint32_t wlen)
{
	if (wlen == 1 && w[0] == '*')
		return STAR;
	if (wlen == 1 && w[0] == '#')
		return HASH;
	return LITERAL;
}

/* Child of n for one pattern word; created when create is set. */
static struct node *
child(struct node *n, const char *w, uint32_t wlen, bool create)
{
	enum kind k = word_kind(w, wlen);
	struct node *c = NULL;

	if (k == STAR) {
		if (n->star == NULL && create)
			n->star = node_new(n, STAR, w, wlen);
		return n->star;
	}
	if (k == HASH) {
		if (n->hash == NULL && create)
			n->hash = node_new(n, HASH, w, wlen);
		return n->hash;
	}
	HASH_FIND(hh, n->children, w, wlen, c);
	if (c == NULL && create) {
		c = node_new(n, LITERAL, w, wlen);
		HASH_ADD_KEYPTR(hh, n->children, c->word, c->wlen, c);
	}
	return c;
}

/*
 * The wildcard run of a pattern, in its stored form: stars '*' then, if
 * the run held any '#', one '#'. A run of k '*' and at least one '#', in
 * any order, matches any k or more words, as "*.….*.#" does, so "#.*.#.*"
 * is stored as "*.*.#" and "#.#" as "#". Each run then holds one '#' node
 * at most, at its end, and the match walks that node's positions once,
 * not once per '#' of the run.
 */
static struct node *
run_nodes(struct node *n, uint32_t stars, bool hash, bool create)
{
	while (stars-- > 0 && n != NULL)
		n = child(n, "*", 1, create);
	if (hash && n != NULL)
		n = child(n, "#", 1, create);
	return n;
}

/* The node where pattern ends, or NULL when absent and !create. */
static struct node *
find_node(struct bk_topic *t, const char *p, uint32_t len, bool create)
{
	struct node *n = t->root;
	uint32_t pos, end, stars = 0;
	bool hash = false;

	for (pos = first_pos(len); pos <= len && n != NULL; pos = end + 1) {
		end = word_end(p, len, pos);
		switch (word_kind(p + pos, end - pos)) {
		case STAR:
			stars++;
			break;
		case HASH:
			hash = true;
			break;
		case LITERAL:
			n = run_nodes(n, stars, hash, create);
			stars = 0;
			hash = false;
			if (n != NULL)
				n = child(n, p + pos, end - pos, create);
			break;
		}
	}
	return n != NULL ? run_nodes(n, stars, hash, create) : NULL;
}

void
bk_topic_add(struct bk_topic *t, const char *pattern, uint32_t len, void *val)
{
	struct node *n = find_node(t, pattern, len, true);

	if (n->nvals == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 2;
		n->vals = bk_realloc(n->vals, n->cap * sizeof(*n->vals));
	}
	n->vals[n->nvals++] = val;
	t->count++;
}

static bool
node_is_empty(const struct node *n)
{
	return n->nvals == 0 && n->children == NULL && n->star == NULL &&
	       n->hash == NULL;
}

/* Free n and its ancestors while they hold nothing. */
static void
prune(struct node *n)
{
	struct node *parent;

	while (n->parent != NULL && node_is_empty(n)) {
		parent = n->parent;
		if (n->kind == STAR)
			parent->star = NULL;
		else if (n->kind == HASH)
			parent->hash = NULL;
		else
			HASH_DEL(parent->children, n);
		bk_free(n->vals);
		bk_free(n);
		n = parent;
	}
}

int
bk_topic_remove(struct bk_topic *t, const char *pattern, uint32_t len,
		void *val)
{
	struct node *n = find_node(t, pattern, len, false);
	uint32_t i;

	if (n == NULL)
		return -ENOENT;
	for (i = 0; i < n->nvals; i++) {
		if (n->vals[i] == val)
			break;
	}
	if (i == n->nvals)
		return -ENOENT;
	n->vals[i] = n->vals[--n->nvals];
	t->count--;
	prune(n);
	return 0;
}

struct walk {
	struct bk_topic *t;
	const char *key;
	uint32_t len;
	bk_topic_fn fn;
	void *ctx;
};

static void walk(const struct walk *w, struct node *n, uint32_t pos);

static void
emit(const struct walk *w, struct node *n)
{
	uint32_t i;

	if (n->emitted == w->t->gen)
		return;
	n->emitted = w->t->gen;
	for (i = 0; i < n->nvals; i++)
		w->fn(n->vals[i], w->ctx);
}

/*
 * h is a '#' node: let it consume zero, one, ... all remaining words.
 * Walking h from pos covers every later position too, so a second arrival
 * at h in the same match only walks the positions before the first one.
 * This bounds the work per '#' node by the key's words and stops patterns
 * such as "#.a.#.a.#.a" from multiplying the cost.
 */
static void
walk_hash(const struct walk *w, struct node *h, uint32_t pos)
{
	uint32_t stop = UINT32_MAX;

	if (h->hash_gen == w->t->gen) {
		if (h->hash_min <= pos)
			return;
		stop = h->hash_min;
	}
	h->hash_gen = w->t->gen;
	h->hash_min = pos;
	/* A pattern's last '#' matches whatever is left: no walk. */
	if (h->children == NULL && h->star == NULL && h->hash == NULL) {
		emit(w, h);
		return;
	}
	while (pos < stop) {
		walk(w, h, pos);
		if (pos > w->len)
			break;
		pos = word_end(w->key, w->len, pos) + 1;
	}
}

static void
walk(const struct walk *w, struct node *n, uint32_t pos)
{
	struct node *c = NULL;
	uint32_t end;

	if (n->hash != NULL)
		walk_hash(w, n->hash, pos);
	if (pos > w->len) {
		emit(w, n);
		return;
	}
	end = word_end(w->key, w->len, pos);
	HASH_FIND(hh, n->children, w->key + pos, end - pos, c);
	if (c != NULL)
		walk(w, c, end + 1);
	if (n->star != NULL)
		walk(w, n->star, end + 1);
}

void
bk_topic_match(struct bk_topic *t, const char *key, uint32_t len,
	       bk_topic_fn fn, void *ctx)
{
	struct walk w = { t, key, len, fn, ctx };

	t->gen++;
	walk(&w, t->root, first_pos(len));
}
