/*
 * mqtt_session_table.c: the listener's sessions by vhost + client id.
 *
 * A chained hash table whose links live in the sessions themselves (one
 * pointer and the 32-bit hash each, instead of a 56-byte uthash handle):
 *
 *   slots[hash & (cap - 1)] --> session --hnext--> session --> NULL
 *
 * Client identifiers are the client's to choose, so the hash is keyed:
 * SipHash-2-4 under a key drawn at the first use, and a client cannot
 * pick ids that all land in one chain. The table doubles when it holds
 * four times as many sessions as slots (chains of 2 to 4 on average,
 * each link compared by its 32-bit hash first: lookups are per CONNECT,
 * not per message; so 2 to 4 bytes of slots per session) and never
 * shrinks, so an iteration (MQTT_SESSIONS_EACH) may end the session it
 * is at.
 */
#include "mqtt_int.h"

#include <string.h>
#include <sys/random.h>

#define SLOTS_MIN 64
#define LOAD_MAX 4              /* sessions per slot before it doubles */

static inline uint64_t
rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND do { \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
	} while (0)

/* SipHash-2-4 of p[0..n) under k (Aumasson and Bernstein, 2012). */
static uint64_t
siphash(const uint64_t k[2], const void *p, size_t n)
{
	const uint8_t *in = p;
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)n << 56;
	size_t i, tail = n & 7;

	for (i = 0; i + 8 <= n; i += 8) {
		m = 0;
		for (unsigned j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < tail; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t
hash_of(struct mqtt_session_table *t, const char *key, uint32_t len)
{
	if (!t->keyed) {
		if (getrandom(t->k, sizeof(t->k), 0) != (ssize_t)sizeof(t->k)) {
			/* no entropy yet: still unguessable from outside enough
			 * to spread ordinary ids */
			t->k[0] = bk_clock_ms() ^ (uint64_t)(uintptr_t)t;
			t->k[1] = rotl(t->k[0], 29) ^ 0x9e3779b97f4a7c15ull;
		}
		t->keyed = true;
	}
	return (uint32_t)siphash(t->k, key, len);
}

static void
grow(struct mqtt_session_table *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : SLOTS_MIN;
	struct mqtt_session **slots = bk_calloc(cap, sizeof(*slots));

	for (uint32_t i = 0; i < t->cap; i++) {
		struct mqtt_session *s = t->slots[i], *next;

		for (; s; s = next) {
			next = s->hnext;
			s->hnext = slots[s->hash & (cap - 1)];
			slots[s->hash & (cap - 1)] = s;
		}
	}
	bk_free(t->slots);
	t->slots = slots;
	t->cap = cap;
}

struct mqtt_session *
mqtt_sessions_find(struct mqtt_session_table *t, const char *key, uint32_t len)
{
	struct mqtt_session *s;
	uint32_t h;

	if (t->n == 0)
		return NULL;
	h = hash_of(t, key, len);
	for (s = t->slots[h & (t->cap - 1)]; s; s = s->hnext)
		if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
			return s;
	return NULL;
}

void
mqtt_sessions_add(struct mqtt_session_table *t, struct mqtt_session *s)
{
	struct mqtt_session **slot;

	if (t->n >= t->cap * LOAD_MAX)
		grow(t);
	s->hash = hash_of(t, s->key, s->key_len);
	slot = &t->slots[s->hash & (t->cap - 1)];
	s->hnext = *slot;
	*slot = s;
	t->n++;
}

void
mqtt_sessions_del(struct mqtt_session_table *t, struct mqtt_session *s)
{
	struct mqtt_session **pp = &t->slots[s->hash & (t->cap - 1)];

	while (*pp != s) {
		BK_ASSERT(*pp != NULL);
		pp = &(*pp)->hnext;
	}
	*pp = s->hnext;
	s->hnext = NULL;
	t->n--;
}

void
mqtt_sessions_fini(struct mqtt_session_table *t)
{
	BK_ASSERT(t->n == 0);
	BK_FREE(t->slots);
	t->cap = 0;
}
