/*
 * The core's retained store (bk_retained.c, bk_retained_persist.c): set,
 * replace and delete; walks (patterns against a reference matcher, the
 * '$' rule, snapshots, walks that survive the store changing under
 * them, expiry); and the journal: records replaced and deleted in place,
 * recovered after a restart, the upgrade mark, a deleted vhost's records
 * gone, a record that does not decode dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "testlib.h"
#include "topic_ref.h"
#include "bk_persist.h"
#include "bk_retained.h"
#include "storage.h"
#include "persist_start.h"

static char dir[64];
static struct event_base *base;

static struct bk_msg *
msg(const char *key, const char *body)
{
	struct bk_props props = { .present = BK_P_DELIVERY_MODE, .delivery_mode = 2 };
	struct bk_msg *m = bk_msg_new_x(BK_STR_LIT("amq.topic"), bk_str_c(key), &props,
					strlen(body), BK_ML_EXPIRES);

	memcpy(bk_msg_body(m), body, strlen(body));
	m->origin_flags = 0x105;
	return m;
}

static void
set(struct bk_vhost *vh, const char *key, const char *body)
{
	struct bk_msg *m = msg(key, body);
	struct bk_err err;

	CHECK_EQ_INT(bk_retained_set(vh, m, 0, NULL, &err), BK_OK);
	bk_msg_unref(m);
}

static bool
has(struct bk_vhost *vh, const char *key, const char *body)
{
	struct bk_msg *m = bk_retained_get(vh, bk_str_c(key));

	return m && m->body_len == strlen(body) && memcmp(bk_msg_body(m), body, m->body_len) == 0;
}

/* The keys a walk returns, joined by spaces. */
static const char *
walk(struct bk_vhost *vh, const char *pattern, unsigned flags)
{
	static char out[4096];
	struct bk_retained_walk *w = bk_retained_walk_new(vh, bk_str_c(pattern), flags);
	struct bk_msg *m;
	size_t n = 0;
	int count = 0;

	out[0] = '\0';
	while ((m = bk_retained_walk_next(w)) != NULL && n < sizeof(out) - 300)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%.*s", count++ ? " " : "",
				      (int)bk_msg_rk(m).len, bk_msg_rk(m).p);
	bk_retained_walk_free(w);
	return out;
}

static void
test_set_replace_delete(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_retained_stats st;

	set(vh, "a.b", "one");
	set(vh, "a.c", "two");
	set(vh, "a.b", "three");                /* replaces */
	CHECK(has(vh, "a.b", "three") && has(vh, "a.c", "two"));
	bk_retained_stats(b, NULL, &st);
	CHECK_EQ_INT(st.messages, 2);
	CHECK_EQ_INT(st.bytes, 8);
	set(vh, "a.b", "");                     /* an empty body deletes */
	CHECK(bk_retained_get(vh, BK_STR_LIT("a.b")) == NULL);
	set(vh, "nothing.here", "");            /* deleting what is not there */
	bk_retained_stats(b, vh, &st);
	CHECK_EQ_INT(st.messages, 1);
	CHECK_EQ_INT(st.bytes, 3);
	CHECK_STR(walk(vh, "#", 0), "a.c");
	bk_broker_free(b);
}

static void
test_patterns(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	static const char *keys[] = { "a", "a.b", "a.b.c", "a.c", "b", "b.a", "ab",
				      "$SYS.x", "$SYS", "a..b", "", "x.$y" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		set(vh, keys[i], "v");
	CHECK_STR(walk(vh, "a", 0), "a");
	CHECK_STR(walk(vh, "a.#", 0), "a a..b a.b a.b.c a.c");
	CHECK_STR(walk(vh, "a.*", 0), "a.b a.c");
	CHECK_STR(walk(vh, "a.*.*", 0), "a..b a.b.c");
	CHECK_STR(walk(vh, "*.b", 0), "a.b");
	CHECK_STR(walk(vh, "#.c", 0), "a.b.c a.c");
	/* the empty key sorts first */
	CHECK_STR(walk(vh, "*", 0), "$SYS a ab b");      /* "" has no word */
	CHECK_STR(walk(vh, "*", BK_RETAINED_NO_DOLLAR), "a ab b");
	CHECK_STR(walk(vh, "#", BK_RETAINED_NO_DOLLAR), " a a..b a.b a.b.c a.c ab b b.a x.$y");
	CHECK_STR(walk(vh, "$SYS.#", BK_RETAINED_NO_DOLLAR), "$SYS $SYS.x");
	CHECK_STR(walk(vh, "x.*", BK_RETAINED_NO_DOLLAR), "x.$y");
	CHECK_STR(walk(vh, "a.b.c.d", 0), "");
	CHECK_STR(walk(vh, "#.#", 0), walk(vh, "#", 0));
	bk_broker_free(b);
}

static void
test_random_against_reference(void)
{
	enum { KEYS = 400, PATTERNS = 400 };
	static char keys[KEYS][32];
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	int bad = 0;

	srand(7);
	for (int i = 0; i < KEYS; i++) {
		random_words(keys[i], sizeof(keys[i]), false);
		set(vh, keys[i], "v");
	}
	for (int i = 0; i < PATTERNS; i++) {
		char pat[32];
		struct bk_retained_walk *w;
		struct bk_msg *m;
		int got = 0, want = 0;

		random_words(pat, sizeof(pat), true);
		w = bk_retained_walk_new(vh, bk_str_c(pat), 0);
		while ((m = bk_retained_walk_next(w)) != NULL) {
			char k[32];

			snprintf(k, sizeof(k), "%.*s", (int)bk_msg_rk(m).len, bk_msg_rk(m).p);
			got++;
			if (!ref_match(pat, k) && bad++ < 5)
				fprintf(stderr, "pattern '%s' matched '%s'\n", pat, k);
		}
		bk_retained_walk_free(w);
		/* every stored key the reference matches, once (keys repeat) */
		for (int j = 0; j < KEYS; j++) {
			bool dup = false;

			for (int k = 0; k < j && !dup; k++)
				dup = strcmp(keys[k], keys[j]) == 0;
			want += !dup && ref_match(pat, keys[j]);
		}
		if (got != want && bad++ < 5)
			fprintf(stderr, "pattern '%s': %d matches, reference %d\n", pat, got, want);
	}
	CHECK_EQ_INT(bad, 0);
	bk_broker_free(b);
}

/* Words made of what sorts just before and after '.', of prefixes of
 * one another, and '$': the walk jumps over ranges of keys that cannot
 * match, and a jump must never pass one that does. */
static void
tricky_words(char *buf, size_t n, bool pattern)
{
	static const char *words[] = { "a", "ab", "a-", "a0", "-", "", "$", "b", "/" };
	int nw = rand() % 5;
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < nw; i++) {
		const char *w = words[rand() % 9];
		int r = rand() % 8;

		if (pattern && r == 0)
			w = "*";
		else if (pattern && r == 1 && i == nw - 1)
			w = "#";
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "." : "", w);
	}
}

static void
test_skips_against_reference(void)
{
	enum { KEYS = 600, PATTERNS = 2000 };
	static char keys[KEYS][32];
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	int bad = 0, nkeys = 0;

	srand(11);
	for (int i = 0; i < KEYS; i++) {
		tricky_words(keys[nkeys], sizeof(keys[0]), false);
		if (bk_retained_get(vh, bk_str_c(keys[nkeys])) == NULL)
			set(vh, keys[nkeys++], "v");
	}
	for (int i = 0; i < PATTERNS; i++) {
		unsigned flags = i % 2 ? BK_RETAINED_NO_DOLLAR : 0;
		struct bk_retained_walk *w;
		int got = 0, want = 0;
		char pat[32];

		tricky_words(pat, sizeof(pat), true);
		w = bk_retained_walk_new(vh, bk_str_c(pat), flags);
		while (bk_retained_walk_next(w) != NULL)
			got++;
		bk_retained_walk_free(w);
		for (int j = 0; j < nkeys; j++) {
			char k[sizeof(keys[0])];

			memcpy(k, keys[j], sizeof(k));
			want += ref_match(pat, k) &&
				!(flags && k[0] == '$' && (pat[0] == '*' || pat[0] == '#'));
		}
		if (got != want && bad++ < 5)
			fprintf(stderr, "pattern '%s' flags %u: %d matches, reference %d\n",
				pat, flags, got, want);
	}
	CHECK_EQ_INT(bad, 0);
	bk_broker_free(b);
}

static void
test_walk_survives_changes(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_retained_walk *w;
	struct bk_msg *m;
	char key[32];
	int n = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "t.%04d", i);
		set(vh, key, "old");
	}
	w = bk_retained_walk_new(vh, BK_STR_LIT("t.#"), 0);
	while ((m = bk_retained_walk_next(w)) != NULL) {
		int i = atoi(bk_msg_rk(m).p + 2);

		CHECK(m->body_len == 3 || m->body_len == 7);
		n++;
		/* behind the walk and ahead of it: deletes, replaces, new keys */
		snprintf(key, sizeof(key), "t.%04d", i);
		set(vh, key, "");
		if (i + 1 < 1000) {
			snprintf(key, sizeof(key), "t.%04d", i + 1);
			set(vh, key, "replace");        /* set after the walk began */
		}
		snprintf(key, sizeof(key), "t.%04d.new", i);
		set(vh, key, "new");
	}
	bk_retained_walk_free(w);
	/* each match replaced the next key after the walk began, so every
	 * other one is left out: 0, 2, ..., 998 */
	CHECK_EQ_INT(n, 500);
	/* now: 500 replaced odd keys and 500 "t.N.new"; a walk sees each
	 * once, except one deleted before the walk reaches it */
	w = bk_retained_walk_new(vh, BK_STR_LIT("#"), 0);
	n = 0;
	while ((m = bk_retained_walk_next(w)) != NULL) {
		n++;
		set(vh, "t.0999", "");
	}
	bk_retained_walk_free(w);
	CHECK_EQ_INT(n, 999);
	bk_broker_free(b);
}

static void
test_expiry(void)
{
	struct bk_broker *b = bk_broker_new(NULL, NULL);
	struct bk_vhost *vh = bk_vhost_get(b, "/");
	struct bk_msg *m = msg("gone", "x");
	struct bk_retained_stats st;
	struct bk_err err;

	bk_msg_set_expires(m, 1);                    /* long ago */
	CHECK_EQ_INT(bk_retained_set(vh, m, 0, NULL, &err), BK_OK);
	bk_msg_unref(m);
	set(vh, "kept", "y");
	CHECK(bk_retained_get(vh, BK_STR_LIT("gone")) == NULL);
	CHECK_STR(walk(vh, "#", 0), "kept");    /* and the walk dropped it */
	bk_retained_stats(b, vh, &st);
	CHECK_EQ_INT(st.messages, 1);
	bk_broker_free(b);
}

static struct bk_broker *
start(void)
{
	return persist_broker_start(dir, base, 0);
}

static void
test_journal(void)
{
	struct bk_broker *b = start();
	struct bk_vhost *vh = bk_vhost_get(b, "/"), *other;
	struct bk_retained_stats st;
	struct bk_msg *m = msg("kept", "body");
	struct bk_err err;
	bool journaled = false;

	CHECK(bk_retained_upgrade_pending(b));
	bk_retained_upgrade_done(b);
	CHECK(!bk_retained_upgrade_pending(b));
	bk_msg_set_expires(m, 4102444800000LL);      /* 2100 */
	CHECK_EQ_INT(bk_retained_set(vh, m, 0, &journaled, &err), BK_OK);
	CHECK(journaled);
	bk_msg_unref(m);
	set(vh, "replaced", "first");
	set(vh, "replaced", "second");
	set(vh, "deleted", "x");
	set(vh, "deleted", "");
	m = msg("transient", "t");
	CHECK_EQ_INT(bk_retained_set(vh, m, BK_RETAINED_TRANSIENT, &journaled, &err), BK_OK);
	CHECK(!journaled);
	bk_msg_unref(m);
	CHECK_EQ_INT(bk_vhost_add(b, "gone", &err), BK_OK);
	other = bk_vhost_get(b, "gone");
	set(other, "x", "in gone");
	CHECK_EQ_INT(bk_vhost_delete(b, "gone", &err), BK_OK);
	bk_broker_free(b);

	b = start();
	vh = bk_vhost_get(b, "/");
	CHECK(!bk_retained_upgrade_pending(b));
	CHECK(has(vh, "kept", "body") && has(vh, "replaced", "second"));
	CHECK(bk_retained_get(vh, BK_STR_LIT("deleted")) == NULL);
	CHECK(bk_retained_get(vh, BK_STR_LIT("transient")) == NULL);
	m = bk_retained_get(vh, BK_STR_LIT("kept"));
	CHECK(m && m->origin_flags == 0x105 && bk_msg_expires(m) == 4102444800000LL &&
	      (m->flags & BK_MSG_PERSISTENT) && bk_str_eq_c(bk_msg_exchange(m), "amq.topic"));
	bk_retained_stats(b, NULL, &st);
	CHECK_EQ_INT(st.messages, 2);
	/* the deleted vhost's record did not come back with it */
	CHECK_EQ_INT(bk_vhost_add(b, "gone", &err), BK_OK);
	CHECK(bk_retained_get(bk_vhost_get(b, "gone"), BK_STR_LIT("x")) == NULL);
	bk_broker_free(b);
}

static void
test_journal_bad_record(void)
{
	struct bk_broker *b = start();
	struct st_journal *j = b->persist->j;
	static const char key[] = "/\0bad";
	struct bk_retained_stats before, st;

	/* a value in no format we write: reported, dropped, deleted */
	bk_retained_stats(b, NULL, &before);
	CHECK_EQ_INT(st_journal_put_kv(j, BK_KV_RETAINED, key, sizeof(key) - 1, "junk", 4), 0);
	bk_broker_free(b);
	b = start();
	bk_retained_stats(b, NULL, &st);
	CHECK_EQ_INT(st.messages, before.messages);
	CHECK(bk_retained_get(bk_vhost_get(b, "/"), BK_STR_LIT("bad")) == NULL);
	bk_broker_free(b);
	b = start();                            /* and its record is gone for good */
	CHECK_EQ_INT(b->persist->retained_bad, 0);
	bk_broker_free(b);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-retained-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	base = event_base_new();
	RUN(test_set_replace_delete);
	RUN(test_patterns);
	RUN(test_random_against_reference);
	RUN(test_skips_against_reference);
	RUN(test_walk_survives_changes);
	RUN(test_expiry);
	RUN(test_journal);
	RUN(test_journal_bad_record);
	event_base_free(base);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	TEST_DONE();
}
