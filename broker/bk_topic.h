/*
 * bk_topic.h: a trie of '.'-separated words matching AMQP topic patterns.
 *
 * Used by the topic exchange and reusable by any module that matches
 * topic filters (MQTT filters convert to the same form: '/' -> '.',
 * '+' -> '*', '#' stays).
 *
 * Pattern rules (RabbitMQ's): words are split on '.'; an empty string has
 * zero words, "a..b" has three ("a", "", "b"); '*' matches exactly one
 * word; '#' matches zero or more words and may appear anywhere.
 *
 * Values are opaque pointers; the trie never dereferences them. The same
 * value may be stored under several patterns, and several values under
 * one pattern.
 */
#ifndef SLUICE_BK_TOPIC_H
#define SLUICE_BK_TOPIC_H

#include <stddef.h>
#include <stdint.h>

struct bk_topic;

/* Called once per (matching pattern, value) pair. Must not modify the trie. */
typedef void (*bk_topic_fn)(void *val, void *ctx);

struct bk_topic *bk_topic_new(void);
void bk_topic_free(struct bk_topic *t);            /* accepts NULL */

/* Store val under pattern. Adding the same (pattern, val) twice stores it
 * twice; callers keep their own identity check. */
void bk_topic_add(struct bk_topic *t, const char *pattern, uint32_t len,
		  void *val);
/* Remove one (pattern, val). 0, or -ENOENT if it was not stored. Prunes
 * nodes left empty. */
int bk_topic_remove(struct bk_topic *t, const char *pattern, uint32_t len,
		    void *val);
/*
 * Call fn for every value whose pattern matches key. A value stored under
 * two patterns that both match is reported twice; one pattern that matches
 * in several ways ("#.a.#" against "a.a") is reported once. Cost grows
 * with the key's words and the matching branches, not with the number of
 * patterns.
 */
void bk_topic_match(struct bk_topic *t, const char *key, uint32_t len,
		    bk_topic_fn fn, void *ctx);

/* Number of (pattern, value) pairs stored. */
size_t bk_topic_count(const struct bk_topic *t);

#endif
