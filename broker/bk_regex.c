/*
 * bk_regex.c: compiling regular expressions that come from outside
 * (permissions, topic permissions, policy patterns, the management API's
 * name filter) without letting one of them eat the broker.
 *
 * glibc's regcomp builds a tree and copies the operand of every
 * repetition: "a+" becomes "aa*", "x{100}" a hundred copies of x, and a
 * repetition of a repetition copies the copies, so "a++++...+" with a few
 * dozen '+' or "((a{99}){99}){99}" asks for gigabytes before it returns.
 * Optional parts ("a?", "a*", the optional copies of "a{1,300}") cost
 * more: each one's epsilon closure holds every optional node after it, so
 * a run of k of them costs k * k in regcomp and in every regexec
 * ("(.?){1000}x" takes 150 ms per match of a routing key). Back-references
 * make regexec exponential.
 *
 * Neither regcomp nor regexec can be interrupted or given a memory limit
 * per call, so the pattern is judged before regcomp sees it: walked once,
 * it yields the number of tree nodes glibc will build (an atom is 1, a
 * group the sum of its branches plus 1, '+' doubles its operand, {m,n}
 * makes n copies, {m,} m + 1) and how many of them are optional (the
 * operand of '?' and '*', the second copy of '+', the n - m optional
 * copies of {m,n}). A pattern over RE_NODES nodes, RE_OPTIONAL optional
 * nodes, nested deeper than RE_DEPTH, or holding a back-reference is
 * refused as if regcomp had run out of memory. Ordinary patterns
 * ("^amq\.", ".*", "^[a-z.]{1,255}$", an alternation of a thousand
 * names) are far below both limits; at the limits regcomp takes under
 * 0.1 s and a few MB, and a match of a 255-octet key a few ms.
 */
#include "bk_int.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define RE_NODES    30000u      /* tree nodes */
#define RE_OPTIONAL 256u        /* optional nodes (a key is <= 255 octets) */
#define RE_DEPTH    64          /* nested groups */

struct walk {
	uint64_t total, opt;        /* nodes (optional nodes) of the branch read so far */
	uint64_t last, lastopt;     /* the same for its last atom, what a quantifier copies */
};

/* Parse "{m}", "{m,}" or "{m,n}" at *pp: 1 and the copies it makes and
 * how many of them are optional, 0 if it is no interval (then '{' is a
 * literal), -1 if malformed or too large. */
static int
interval(const char **pp, uint64_t *copies, uint64_t *optional)
{
	const char *p = *pp + 1;
	unsigned long m, n;
	char *end;

	if (!isdigit((unsigned char)*p))
		return 0;
	m = strtoul(p, &end, 10);
	p = end;
	n = m;
	*optional = 0;
	if (*p == ',') {
		p++;
		if (isdigit((unsigned char)*p)) {
			n = strtoul(p, &end, 10);
			p = end;
			*optional = n > m ? n - m : 0;
		} else {
			n = m + 1;          /* "{m,}": m copies and a starred one */
			*optional = 1;
		}
	}
	if (*p != '}' || m > RE_NODES || n > RE_NODES || n < m)
		return -1;
	*pp = p;
	*copies = n ? n : 1;
	if (*optional > *copies)
		*optional = *copies;
	return 1;
}

/* Skip a bracket expression starting at p ('['); the char after it. */
static const char *
bracket(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p != '\0' && *p != ']') {
		if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
			const char *close = strchr(p + 2, p[1]);

			while (close != NULL && close[1] != ']')
				close = strchr(close + 1, p[1]);
			if (close == NULL)
				return p + strlen(p);
			p = close + 2;
			continue;
		}
		p++;
	}
	return *p == ']' ? p + 1 : p;
}

static void
atom(struct walk *w, uint64_t n, uint64_t opt)
{
	w->last = n;
	w->lastopt = opt;
	w->total += n;
	w->opt += opt;
}

/* The last atom repeated: copies in all, optional of them optional. */
static void
repeat(struct walk *w, uint64_t copies, uint64_t optional)
{
	uint64_t lastopt = (copies - optional) * w->lastopt + optional * w->last;

	w->total += w->last * (copies - 1);
	w->opt += lastopt - w->lastopt;
	w->last *= copies;
	w->lastopt = lastopt;
}

/* One character of the pattern at *pp (advanced past what it consumed);
 * false if the pattern is to be refused. */
static bool
step(struct walk **wp, struct walk *stack, const char **pp)
{
	struct walk *w = *wp;
	const char *p = *pp;
	uint64_t k, o;
	int rc;

	switch (*p) {
	case '\\':
		if (p[1] >= '1' && p[1] <= '9')
			return false;       /* back-reference */
		if (p[1] != '\0')
			p++;
		atom(w, 1, 0);
		break;
	case '[':
		p = bracket(p) - 1;
		atom(w, 1, 0);
		break;
	case '(':
		if (w == stack + RE_DEPTH)
			return false;
		memset(++w, 0, sizeof(*w));
		break;
	case ')':
		if (w == stack) {       /* unmatched: a literal */
			atom(w, 1, 0);
			break;
		}
		k = w->total + 1;
		o = w->opt;
		atom(--w, k, o);
		break;
	case '|':
		w->last = w->lastopt = 0;
		break;
	case '+':
		repeat(w, 2, 1);
		break;
	case '*':
	case '?':
		repeat(w, 1, 1);
		break;
	case '{':
		if ((rc = interval(&p, &k, &o)) < 0)
			return false;
		if (rc == 0)
			atom(w, 1, 0);
		else
			repeat(w, k, o);
		break;
	default:
		atom(w, 1, 0);
		break;
	}
	*wp = w;
	*pp = p;
	return w->total <= RE_NODES && w->last <= RE_NODES &&
	       w->opt <= RE_OPTIONAL && w->lastopt <= RE_OPTIONAL;
}

/* The tree nodes of a tame pattern (groups left open counted too), or
 * 0 if it is not tame. */
static uint64_t
tame_nodes(const char *src)
{
	struct walk stack[RE_DEPTH + 1], *w = stack;
	uint64_t n = 0;

	memset(w, 0, sizeof(*w));
	for (const char *p = src; *p != '\0'; p++)
		if (!step(&w, stack, &p))
			return 0;
	for (; w >= stack; w--)
		n += w->total;
	return n ? n : 1;
}

bool
bk_regex_tame(const char *src)
{
	return tame_nodes(src) != 0;
}

uint64_t
bk_regex_nodes(const char *src)
{
	return tame_nodes(src);
}

int
bk_regcomp(regex_t *re, const char *src, int cflags)
{
	if (!bk_regex_tame(src))
		return REG_ESPACE;
	return regcomp(re, src, cflags);
}
