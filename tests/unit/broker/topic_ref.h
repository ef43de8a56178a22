/*
 * topic_ref.h: a reference topic matcher, straight from the definition
 * (words split at '.', '*' one word, '#' zero or more, the empty key has
 * no words), and random keys and patterns to check real matchers against
 * it (the topic trie, the retained store's walks).
 */
#ifndef SLUICE_TOPIC_REF_H
#define SLUICE_TOPIC_REF_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reference matcher over word arrays, straight from the definition. */
static inline bool
ref_words(char **p, int np, char **k, int nk)
{
	int i;

	if (np == 0)
		return nk == 0;
	if (strcmp(p[0], "#") == 0) {
		for (i = 0; i <= nk; i++) {
			if (ref_words(p + 1, np - 1, k + i, nk - i))
				return true;
		}
		return false;
	}
	if (nk == 0)
		return false;
	if (strcmp(p[0], "*") != 0 && strcmp(p[0], k[0]) != 0)
		return false;
	return ref_words(p + 1, np - 1, k + 1, nk - 1);
}

static inline int
split(char *s, char **w)
{
	int n = 0;

	if (*s == '\0')
		return 0;
	w[n++] = s;
	for (; *s; s++) {
		if (*s == '.') {
			*s = '\0';
			w[n++] = s + 1;
		}
	}
	return n;
}

static inline bool
ref_match(const char *pattern, const char *key)
{
	char pb[64], kb[64], *pw[32], *kw[32];

	snprintf(pb, sizeof(pb), "%s", pattern);
	snprintf(kb, sizeof(kb), "%s", key);
	return ref_words(pw, split(pb, pw), kw, split(kb, kw));
}

static inline void
random_words(char *buf, size_t n, bool pattern)
{
	static const char *words[] = { "a", "b", "c", "", "d" };
	int nw = rand() % 5, i;
	size_t len = 0;

	buf[0] = '\0';
	for (i = 0; i < nw; i++) {
		const char *w = words[rand() % 5];
		int r = rand() % 10;

		if (pattern && r == 0)
			w = "*";
		else if (pattern && r == 1)
			w = "#";
		len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "." : "", w);
	}
}

#endif
