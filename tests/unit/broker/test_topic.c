/*
 * Topic trie: wildcard semantics, empty words, removal and pruning, and a
 * large trie checked against a reference matcher.
 */
#include "bk_topic.h"
#include "testlib.h"
#include "topic_ref.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Count hits per value id (values are small integers cast to pointers). */
#define MAXV 20000
static int hits[MAXV];

static void
on_hit(void *val, void *ctx)
{
	(void)ctx;
	hits[(uintptr_t)val]++;
}

static int
match1(struct bk_topic *t, const char *key, uintptr_t id)
{
	memset(hits, 0, sizeof(hits));
	bk_topic_match(t, key, (uint32_t)strlen(key), on_hit, NULL);
	return hits[id];
}

/* One pattern, one key: does it match? (fresh trie each time) */
static bool
m(const char *pattern, const char *key)
{
	struct bk_topic *t = bk_topic_new();
	int n;

	bk_topic_add(t, pattern, (uint32_t)strlen(pattern), (void *)1);
	n = match1(t, key, 1);
	bk_topic_free(t);
	CHECK(n <= 1);
	return n == 1;
}

static void
test_literals(void)
{
	CHECK(m("a.b.c", "a.b.c"));
	CHECK(!m("a.b.c", "a.b"));
	CHECK(!m("a.b", "a.b.c"));
	CHECK(!m("a.b.c", "a.b.d"));
	CHECK(m("", ""));
	CHECK(!m("", "a"));
	CHECK(!m("a", ""));
}

static void
test_star(void)
{
	CHECK(m("*", "a"));
	CHECK(!m("*", ""));
	CHECK(!m("*", "a.b"));
	CHECK(m("a.*.c", "a.b.c"));
	CHECK(m("a.*.c", "a..c"));      /* empty word is a word */
	CHECK(!m("a.*.c", "a.c"));
	CHECK(m("*.*", "a.b"));
	CHECK(m("*.*", "."));
	CHECK(!m("*.*", "a"));
	CHECK(m("a.*", "a.*"));         /* a literal "*" in the key */
}

static void
test_hash(void)
{
	CHECK(m("#", ""));
	CHECK(m("#", "a"));
	CHECK(m("#", "a.b.c"));
	CHECK(m("a.#", "a"));
	CHECK(m("a.#", "a.b.c"));
	CHECK(!m("a.#", "b.a"));
	CHECK(m("#.a", "a"));
	CHECK(m("#.a", "x.y.a"));
	CHECK(!m("#.a", "a.x"));
	CHECK(m("#.a.#", "a"));
	CHECK(m("#.a.#", "x.a.y"));
	CHECK(m("#.a.#", "a.a.a"));
	CHECK(!m("#.a.#", "x.b.y"));
	CHECK(m("a.#.b", "a.b"));
	CHECK(m("a.#.b", "a.x.y.b"));
	CHECK(!m("a.#.b", "a.x.y.c"));
	CHECK(m("#.#", ""));
	CHECK(m("#.#", "a.b"));
	CHECK(m("a.#.#.b", "a.b"));
	CHECK(m("*.#", "a"));
	CHECK(!m("*.#", ""));
	CHECK(m("#.*", "a.b.c"));
	CHECK(m("a.#.*.c", "a.b.c"));
	CHECK(!m("a.#.*.c", "a.c"));
}

static void
test_empty_words(void)
{
	CHECK(m("a..b", "a..b"));
	CHECK(!m("a..b", "a.b"));
	CHECK(m("a.", "a."));
	CHECK(!m("a.", "a"));
	CHECK(m(".", "."));
	CHECK(m("#.", "x.y."));
	CHECK(!m("#.", "x.y"));
}

static void
test_dedupe_and_multi(void)
{
	struct bk_topic *t = bk_topic_new();

	/* One pattern reachable in several ways reports once. */
	bk_topic_add(t, "#.a.#", 5, (void *)1);
	CHECK_EQ_INT(match1(t, "a.a.a", 1), 1);
	/* The same value under two matching patterns reports twice. */
	bk_topic_add(t, "a.*.a", 5, (void *)1);
	CHECK_EQ_INT(match1(t, "a.a.a", 1), 2);
	/* Two values under one pattern both report. */
	bk_topic_add(t, "x", 1, (void *)2);
	bk_topic_add(t, "x", 1, (void *)3);
	CHECK_EQ_INT(match1(t, "x", 2), 1);
	CHECK_EQ_INT(hits[3], 1);
	CHECK_EQ_INT(bk_topic_count(t), 4);
	bk_topic_free(t);
}

static void
test_remove(void)
{
	struct bk_topic *t = bk_topic_new();

	bk_topic_add(t, "a.*.c", 5, (void *)1);
	bk_topic_add(t, "a.#", 3, (void *)2);
	bk_topic_add(t, "a.#.#", 5, (void *)3);  /* same as "a.#" */
	CHECK_EQ_INT(match1(t, "a.b.c", 1), 1);
	CHECK_EQ_INT(hits[2], 1);
	CHECK_EQ_INT(hits[3], 1);
	CHECK_EQ_INT(bk_topic_remove(t, "a.*.c", 5, (void *)1), 0);
	CHECK(bk_topic_remove(t, "a.*.c", 5, (void *)1) < 0);
	CHECK(bk_topic_remove(t, "a.b", 3, (void *)2) < 0);
	CHECK(bk_topic_remove(t, "a.#", 3, (void *)9) < 0);
	CHECK_EQ_INT(match1(t, "a.b.c", 1), 0);
	CHECK_EQ_INT(hits[2], 1);
	CHECK_EQ_INT(bk_topic_remove(t, "a.#.#", 5, (void *)3), 0);
	CHECK_EQ_INT(bk_topic_remove(t, "a.#", 3, (void *)2), 0);
	CHECK_EQ_INT(bk_topic_count(t), 0);
	CHECK_EQ_INT(match1(t, "a.b.c", 2), 0);
	bk_topic_add(t, "a.#", 3, (void *)2);   /* pruned path is rebuilt */
	CHECK_EQ_INT(match1(t, "a", 2), 1);
	bk_topic_free(t);
}

static void
test_many_bindings(void)
{
	enum { N = 10000, KEYS = 300 };
	static char pats[N][40];
	struct bk_topic *t = bk_topic_new();
	char key[40];
	int i, k, bad = 0;

	srand(7);
	for (i = 0; i < N; i++) {
		random_words(pats[i], sizeof(pats[i]), true);
		bk_topic_add(t, pats[i], (uint32_t)strlen(pats[i]),
			     (void *)(uintptr_t)i);
	}
	for (k = 0; k < KEYS; k++) {
		random_words(key, sizeof(key), false);
		memset(hits, 0, sizeof(hits));
		bk_topic_match(t, key, (uint32_t)strlen(key), on_hit, NULL);
		for (i = 0; i < N; i++) {
			if (hits[i] != (ref_match(pats[i], key) ? 1 : 0))
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	/* Remove the even ones; odd ones must still match as before. */
	for (i = 0; i < N; i += 2)
		CHECK(bk_topic_remove(t, pats[i], (uint32_t)strlen(pats[i]),
				      (void *)(uintptr_t)i) == 0);
	CHECK_EQ_INT(bk_topic_count(t), N / 2);
	for (k = 0, bad = 0; k < KEYS; k++) {
		random_words(key, sizeof(key), false);
		memset(hits, 0, sizeof(hits));
		bk_topic_match(t, key, (uint32_t)strlen(key), on_hit, NULL);
		for (i = 0; i < N; i++) {
			int want = (i % 2) && ref_match(pats[i], key);

			if (hits[i] != want)
				bad++;
		}
	}
	CHECK_EQ_INT(bad, 0);
	bk_topic_free(t);
}

/* Patterns made mostly of wildcards, stored as '*' runs then one '#',
 * still match what the reference says, and removing one by its own text
 * finds it. */
static void
test_wildcard_runs(void)
{
	enum { N = 3000, KEYS = 300 };
	static const char *words[] = { "*", "#", "*", "#", "a", "b", "" };
	static char pats[N][64];
	struct bk_topic *t = bk_topic_new();
	char key[40];
	int i, j, k, bad = 0;

	srand(11);
	for (i = 0; i < N; i++) {
		int nw = 1 + rand() % 8;
		size_t len = 0;

		for (j = 0; j < nw; j++)
			len += (size_t)snprintf(pats[i] + len, sizeof(pats[i]) - len, "%s%s",
						j ? "." : "", words[rand() % 7]);
		bk_topic_add(t, pats[i], (uint32_t)strlen(pats[i]), (void *)(uintptr_t)i);
	}
	for (k = 0; k < KEYS; k++) {
		random_words(key, sizeof(key), false);
		memset(hits, 0, sizeof(hits));
		bk_topic_match(t, key, (uint32_t)strlen(key), on_hit, NULL);
		for (i = 0; i < N; i++)
			if (hits[i] != (ref_match(pats[i], key) ? 1 : 0))
				bad++;
	}
	CHECK_EQ_INT(bad, 0);
	for (i = 0; i < N; i++)
		CHECK(bk_topic_remove(t, pats[i], (uint32_t)strlen(pats[i]),
				      (void *)(uintptr_t)i) == 0);
	CHECK_EQ_INT(bk_topic_count(t), 0);
	bk_topic_free(t);
}

/* Many '#' separated by literals against a long key stays fast. */
static void
test_pathological(void)
{
	struct bk_topic *t = bk_topic_new();
	const char *pat = "#.a.#.a.#.a.#.a.#.a.#.a.#.b";
	char key[256];
	int i;

	for (i = 0; i < 120; i++)
		memcpy(key + 2 * i, "a.", 2);
	key[239] = '\0';                     /* 120 words of "a", no "b" */
	bk_topic_add(t, pat, (uint32_t)strlen(pat), (void *)1);
	bk_topic_add(t, "#.a.#.a.#.a.#.a.#", 17, (void *)2);
	for (i = 0; i < 100; i++)
		CHECK_EQ_INT(match1(t, key, 1), 0);
	CHECK_EQ_INT(hits[2], 1);
	key[238] = 'b';
	CHECK_EQ_INT(match1(t, key, 1), 1);
	CHECK_EQ_INT(hits[2], 1);
	bk_topic_free(t);
}

int
main(void)
{
	RUN(test_literals);
	RUN(test_star);
	RUN(test_hash);
	RUN(test_empty_words);
	RUN(test_dedupe_and_multi);
	RUN(test_remove);
	RUN(test_many_bindings);
	RUN(test_wildcard_runs);
	RUN(test_pathological);
	TEST_DONE();
}
