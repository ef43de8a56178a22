/*
 * test_session_table.c: the listener's session table
 * (mqtt_session_table.c): keys that differ only in their vhost part or in
 * one octet, growth with every session still found, removal from the
 * middle of a chain, and an iteration that ends each session it visits.
 */
#include "testlib.h"
#include "mqtt_int.h"

#include <stdio.h>

#define N 5000

static struct mqtt_session *
session(const char *vhost, const char *cid)
{
	size_t vn = strlen(vhost), cn = strlen(cid);
	struct mqtt_session *s = calloc(1, sizeof(*s) + vn + 1 + cn + 1);

	memcpy(s->key, vhost, vn + 1);
	memcpy(s->key + vn + 1, cid, cn + 1);
	s->key_len = (uint32_t)(vn + 1 + cn);
	return s;
}

static void
drop(struct mqtt_session *s)
{
	free(s);
}

static struct mqtt_session *
find(struct mqtt_listener *l, const struct mqtt_session *like)
{
	return mqtt_sessions_find(&l->sessions, like->key, like->key_len);
}

static void
test_find_add_del(void)
{
	struct mqtt_listener l;
	struct mqtt_session *a = session("/", "c1"), *b = session("/c", "1");
	struct mqtt_session *c = session("/", "c2");

	memset(&l, 0, sizeof(l));
	CHECK(find(&l, a) == NULL);
	mqtt_sessions_add(&l.sessions, a);
	CHECK(find(&l, a) == a);
	CHECK(find(&l, b) == NULL);         /* same octets but the vhost split */
	CHECK(find(&l, c) == NULL);         /* one octet apart */
	mqtt_sessions_add(&l.sessions, b);
	mqtt_sessions_add(&l.sessions, c);
	CHECK(find(&l, b) == b && find(&l, c) == c && find(&l, a) == a);
	mqtt_sessions_del(&l.sessions, a);
	CHECK(find(&l, a) == NULL && find(&l, b) == b && find(&l, c) == c);
	mqtt_sessions_del(&l.sessions, b);
	mqtt_sessions_del(&l.sessions, c);
	CHECK_EQ_INT(l.sessions.n, 0);
	mqtt_sessions_fini(&l.sessions);
	drop(a);
	drop(b);
	drop(c);
}

static void
test_many(void)
{
	static struct mqtt_session *all[N];
	struct mqtt_listener l;
	struct mqtt_session *s, *nx;
	char cid[32];
	uint32_t i, seen = 0, found = 0;

	memset(&l, 0, sizeof(l));
	for (i = 0; i < N; i++) {
		snprintf(cid, sizeof(cid), "client-%u", i);
		all[i] = session("/", cid);
		mqtt_sessions_add(&l.sessions, all[i]);
	}
	CHECK_EQ_INT(l.sessions.n, N);
	CHECK(l.sessions.cap * 4 >= N && l.sessions.cap * 2 < N &&
	      (l.sessions.cap & (l.sessions.cap - 1)) == 0);
	for (i = 0; i < N; i++)
		found += find(&l, all[i]) == all[i];
	CHECK_EQ_INT(found, N);
	/* every other one out, from wherever it sits in its chain */
	for (i = 0; i < N; i += 2)
		mqtt_sessions_del(&l.sessions, all[i]);
	found = 0;
	for (i = 0; i < N; i++)
		found += find(&l, all[i]) == (i % 2 ? all[i] : NULL);
	CHECK_EQ_INT(found, N);
	for (i = 0; i < N; i += 2)
		drop(all[i]);
	/* an iteration that ends every session it is at */
	MQTT_SESSIONS_EACH(&l, i, s, nx) {
		mqtt_sessions_del(&l.sessions, s);
		drop(s);
		seen++;
	}
	CHECK_EQ_INT(seen, N / 2);
	CHECK_EQ_INT(l.sessions.n, 0);
	mqtt_sessions_fini(&l.sessions);
}

int
main(void)
{
	RUN(test_find_add_del);
	RUN(test_many);
	TEST_DONE();
}
