/*
 * bk_policy_def.c: policy definitions checked as RabbitMQ 3.13 checks
 * them, and turned into the typed struct bk_pdef the broker acts on.
 *
 * The keys and their rules are RabbitMQ's built-in policy validators
 * (rabbit_policies): a policy may carry any of them, an operator policy
 * only the numeric caps (expires, message-ttl, max-length,
 * max-length-bytes, max-in-memory-length, max-in-memory-bytes,
 * delivery-limit). Keys are checked in sorted order (the order RabbitMQ
 * sees a decoded JSON object in) and the first bad value is reported;
 * only when every known key is fine are unknown keys reported, all at
 * once. Messages print values as the Erlang terms RabbitMQ prints
 * (<<"abc">> for a string), so scripts that match RabbitMQ's errors
 * match ours.
 *
 * Keys accepted with no effect here, as RabbitMQ accepts them for queue
 * types they do not apply to: queue-mode (RabbitMQ 3.12+ ignores it too),
 * queue-version, max-in-memory-length/-bytes, queue-leader-locator and
 * initial-cluster-size (there is no cluster). max-age and
 * stream-max-segment-size-bytes act on streams.
 *
 * Pure: cJSON, base/ and the stream age parser.
 */
#include "bk_policy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

enum vkind {
	V_BIN,                          /* a string */
	V_INT0,                         /* an integer >= 0 */
	V_INT1,                         /* an integer >= 1 */
	V_ENUM,                         /* one of values[] */
	V_QVERSION,                     /* 1 or 2 */
	V_MAXAGE,                       /* "<digits><Y|M|D|h|m|s>" */
};

static const char *const modes[] = { "default", "lazy", NULL };
static const char *const overflows[] = {
	"drop-head", "reject-publish", "reject-publish-dlx", NULL
};
static const char *const locators[] = {
	"client-local", "random", "least-leaders", "balanced", NULL
};

/* Sorted by key. what: "~tp is not a valid <what>". quorum and stream:
 * the key is not on that queue type's list of unsupported policy keys
 * (rabbit_quorum_queue's and rabbit_stream_queue's capabilities). */
static const struct pkey {
	const char *key;
	enum vkind kind;
	const char *what;
	const char *const *values;      /* V_ENUM */
	int num;                        /* BK_PN_*, or -1 */
	unsigned bit;                   /* BK_PD_*, or 0 */
	bool op;                        /* allowed in operator policies */
	bool quorum;                    /* applies to quorum queues */
	bool stream;                    /* applies to streams */
} pkeys[] = {
	{ "alternate-exchange", V_BIN, "alternate exchange name", NULL, -1, BK_PD_AE, false, false, true },
	{ "dead-letter-exchange", V_BIN, "dead letter exchange name", NULL, -1, BK_PD_DLX, false, true, false },
	{ "dead-letter-routing-key", V_BIN, "dead letter routing key", NULL, -1, BK_PD_DLRK, false, true, false },
	{ "delivery-limit", V_INT0, "delivery limit", NULL, BK_PN_DELIVERY_LIMIT, 0, true, true, false },
	{ "expires", V_INT1, "queue expiry", NULL, BK_PN_EXPIRES, 0, true, true, false },
	{ "initial-cluster-size", V_INT0, "cluster size", NULL, -1, 0, false, false, true },
	{ "max-age", V_MAXAGE, "max age", NULL, BK_PN_MAX_AGE, 0, false, false, true },
	{ "max-in-memory-bytes", V_INT0, "maximum memory in bytes", NULL, -1, 0, true, true, false },
	{ "max-in-memory-length", V_INT0, "maximum memory in bytes", NULL, -1, 0, true, true, false },
	{ "max-length", V_INT0, "maximum length", NULL, BK_PN_MAX_LENGTH, 0, true, true, false },
	{ "max-length-bytes", V_INT0, "maximum length in bytes", NULL, BK_PN_MAX_LENGTH_BYTES, 0, true, true, true },
	{ "message-ttl", V_INT0, "message TTL", NULL, BK_PN_MESSAGE_TTL, 0, true, true, false },
	{ "overflow", V_ENUM, "overflow value", overflows, -1, BK_PD_OVERFLOW, false, true, false },
	{ "queue-leader-locator", V_ENUM, "queue leader locator value", locators, -1, 0, false, true, true },
	{ "queue-mode", V_ENUM, "queue-mode value", modes, -1, 0, false, false, false },
	{ "queue-version", V_QVERSION, "queue-version value", NULL, -1, 0, false, false, true },
	{ "stream-max-segment-size-bytes", V_INT0, "segment size", NULL, BK_PN_SEGMENT_BYTES, 0, false, false, true },
};

#define NKEYS (sizeof(pkeys) / sizeof(pkeys[0]))

/* ---------------------------------------------------------------- */
/* Erlang terms                                                      */
/* ---------------------------------------------------------------- */

struct tbuf {
	char *p;
	size_t len, cap;
	bool full;
};

static void
put(struct tbuf *b, const char *s, size_t n)
{
	if (b->full)
		return;
	if (b->len + n + 4 > b->cap) {          /* room for "..." and NUL */
		b->full = true;
		snprintf(b->p + b->len, b->cap - b->len, "...");
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct tbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* A string Erlang prints in quotes: printable ASCII, tab/newline/CR, or
 * UTF-8 (then with the /utf8 suffix). */
static bool
quotable(const char *s, bool *utf8)
{
	*utf8 = false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80)
			*utf8 = true;
		else if ((*p < 32 && *p != '\n' && *p != '\t' && *p != '\r') || *p == 127)
			return false;
	}
	return true;
}

static void
term_string(struct tbuf *b, const char *s)
{
	bool utf8;
	char tmp[8];

	if (!quotable(s, &utf8)) {              /* <<1,2,3>> */
		puts_(b, "<<");
		for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
			snprintf(tmp, sizeof(tmp), "%s%u", p == (const unsigned char *)s ? "" : ",", *p);
			puts_(b, tmp);
		}
		puts_(b, ">>");
		return;
	}
	puts_(b, "<<\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			tmp[0] = '\\';
			tmp[1] = *s;
			put(b, tmp, 2);
		} else if (*s == '\n') {
			puts_(b, "\\n");
		} else if (*s == '\t') {
			puts_(b, "\\t");
		} else if (*s == '\r') {
			puts_(b, "\\r");
		} else {
			put(b, s, 1);
		}
	}
	puts_(b, utf8 ? "\"/utf8>>" : "\">>");
}

/* Erlang prints floats in their shortest exact form: 1.5, 0.1, 1.0e20. */
static void
term_number(struct tbuf *b, double d)
{
	char tmp[40], *e;
	int prec;

	if (d == floor(d) && fabs(d) < 9.3e18) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)d);
		puts_(b, tmp);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
	if ((e = strchr(tmp, 'e')) != NULL) {   /* 1e+20 -> 1.0e20 */
		char mant[sizeof(tmp) + 2], exp[8];
		int ex = atoi(e + 1);

		*e = '\0';
		snprintf(mant, sizeof(mant), "%s%s", tmp, strchr(tmp, '.') ? "" : ".0");
		snprintf(exp, sizeof(exp), "%d", ex);
		puts_(b, mant);
		puts_(b, "e");
		puts_(b, exp);
		return;
	}
	puts_(b, tmp);
	if (strchr(tmp, '.') == NULL)
		puts_(b, ".0");
}

static void
term(struct tbuf *b, const cJSON *v)
{
	const cJSON *it;
	bool first = true;

	if (v == NULL || cJSON_IsNull(v)) {
		puts_(b, "null");
	} else if (cJSON_IsBool(v)) {
		puts_(b, cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsString(v)) {
		term_string(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		term_number(b, v->valuedouble);
	} else if (cJSON_IsArray(v)) {
		puts_(b, "[");
		cJSON_ArrayForEach(it, v) {
			puts_(b, first ? "" : ",");
			term(b, it);
			first = false;
		}
		puts_(b, "]");
	} else if (cJSON_IsObject(v)) {
		puts_(b, "#{");
		cJSON_ArrayForEach(it, v) {
			puts_(b, first ? "" : ",");
			term_string(b, it->string);
			puts_(b, " => ");
			term(b, it);
			first = false;
		}
		puts_(b, "}");
	}
}

void
bk_pdef_term(const cJSON *v, char *out, size_t cap)
{
	struct tbuf b = { out, strlen(out), cap, false };

	if (cap == 0 || b.len >= cap)
		return;
	term(&b, v);
}

/* ---------------------------------------------------------------- */
/* Checks                                                            */
/* ---------------------------------------------------------------- */

static const struct pkey *
find_key(const char *k)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(pkeys[i].key, k) == 0)
			return &pkeys[i];
	return NULL;
}

static bool
is_int(const cJSON *v, int64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (d != floor(d) || fabs(d) > 9007199254740992.0)        /* 2^53 */
		return false;
	*out = (int64_t)d;
	return true;
}

static bool
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static bool
value_ok(const struct pkey *k, const cJSON *v, int64_t *num)
{
	switch (k->kind) {
	case V_BIN:
		/* names and routing keys: AMQP 0-9-1 short strings */
		return cJSON_IsString(v) && strlen(v->valuestring) <= BK_SHORTSTR_MAX;
	case V_INT0:
		return is_int(v, num) && *num >= 0;
	case V_INT1:
		return is_int(v, num) && *num >= 1;
	case V_ENUM:
		return cJSON_IsString(v) && in_list(v->valuestring, k->values);
	case V_QVERSION:
		return is_int(v, num) && (*num == 1 || *num == 2);
	case V_MAXAGE:
		/* RabbitMQ's check_max_age: a positive integer and one unit */
		return cJSON_IsString(v) && bk_stream_age_parse(bk_str_c(v->valuestring), num);
	}
	return false;
}

static enum bk_overflow
overflow_of(const char *s)
{
	if (strcmp(s, "reject-publish") == 0)
		return BK_OVERFLOW_REJECT_PUBLISH;
	if (strcmp(s, "reject-publish-dlx") == 0)
		return BK_OVERFLOW_REJECT_PUBLISH_DLX;
	return BK_OVERFLOW_DROP_HEAD;
}

/* Store one good value into out. */
static void
store(const struct pkey *k, const cJSON *v, int64_t num, struct bk_pdef *out)
{
	if (k->num >= 0) {
		out->num[k->num] = num;
		out->has |= 1u << k->num;
	}
	switch (k->bit) {
	case BK_PD_AE:
		out->ae = bk_strdup(v->valuestring);
		break;
	case BK_PD_DLX:
		out->dlx = bk_strdup(v->valuestring);
		break;
	case BK_PD_DLRK:
		out->dlrk = bk_strdup(v->valuestring);
		break;
	case BK_PD_OVERFLOW:
		out->overflow = overflow_of(v->valuestring);
		break;
	default:
		break;
	}
	out->has |= k->bit;
	if (!k->quorum)
		out->quorum_ok = false;
	if (!k->stream)
		out->stream_ok = false;
}

/* "[{<<"k">>,V},...] are not recognised policy settings" */
static void
unknown_keys(const cJSON *def, bool op, char *why, size_t whylen)
{
	static const char tail[] = "] are not recognised policy settings";
	struct tbuf b = { why, 0, whylen > sizeof(tail) ? whylen - sizeof(tail) : 0, false };
	const cJSON *it;
	bool first = true;

	why[0] = '\0';
	puts_(&b, "[");
	cJSON_ArrayForEach(it, def) {
		const struct pkey *k = find_key(it->string);

		if (k != NULL && (!op || k->op))
			continue;
		puts_(&b, first ? "{" : ",{");
		term_string(&b, it->string);
		puts_(&b, ",");
		term(&b, it);
		puts_(&b, "}");
		first = false;
	}
	snprintf(why + strlen(why), whylen - strlen(why), "%s", tail);
}

int
bk_pdef_parse(const cJSON *def, bool op, struct bk_pdef *out, char *why, size_t whylen)
{
	const cJSON *it;
	bool unknown = false;
	int64_t num = 0;

	memset(out, 0, sizeof(*out));
	out->quorum_ok = out->stream_ok = true;
	if (!cJSON_IsObject(def)) {
		snprintf(why, whylen, "definition must be a dictionary: ");
		bk_pdef_term(def, why, whylen);
		return -EINVAL;
	}
	if (def->child == NULL) {
		snprintf(why, whylen, "no policy provided");
		return -EINVAL;
	}
	/* the caller sorted def's keys: report the first bad value in that order */
	cJSON_ArrayForEach(it, def) {
		const struct pkey *k = find_key(it->string);

		if (k == NULL || (op && !k->op)) {
			unknown = true;
			continue;
		}
		if (!value_ok(k, it, &num)) {
			why[0] = '\0';
			bk_pdef_term(it, why, whylen);
			snprintf(why + strlen(why), whylen - strlen(why), " is not a valid %s",
				 k->what);
			bk_pdef_fini(out);
			return -EINVAL;
		}
		store(k, it, num, out);
	}
	if (unknown) {
		unknown_keys(def, op, why, whylen);
		bk_pdef_fini(out);
		return -EINVAL;
	}
	return 0;
}

void
bk_pdef_fini(struct bk_pdef *d)
{
	BK_FREE(d->dlx);
	BK_FREE(d->dlrk);
	BK_FREE(d->ae);
	d->has = 0;
}
