/*
 * bk_policy.h: private to the core's policy files (bk_policy.c the store
 * and matching, bk_policy_def.c definitions and their checks,
 * bk_queue_policy.c the queueing half's effective arguments, and
 * bk_exchange.c's alternate exchange).
 *
 * A policy lives in its vhost (vh->policies[kind], uthash by name). Every
 * queue and exchange holds borrowed pointers to the policy and operator
 * policy that apply to it (or NULL); a change to a vhost's policies
 * re-matches every object of that vhost before the old policy is freed,
 * so those pointers never dangle.
 */
#ifndef SLUICE_BK_POLICY_H
#define SLUICE_BK_POLICY_H

#include "bk_queueing.h"

#include <regex.h>

struct cJSON;

/* The numeric keys a definition can carry, in one array. */
enum bk_pnum {
	BK_PN_MESSAGE_TTL,              /* ms, >= 0 */
	BK_PN_EXPIRES,                  /* ms, >= 1 */
	BK_PN_MAX_LENGTH,               /* messages, >= 0 */
	BK_PN_MAX_LENGTH_BYTES,         /* body bytes, >= 0 */
	BK_PN_DELIVERY_LIMIT,           /* >= 0 */
	BK_PN_MAX_AGE,                  /* ms (streams), from "7D" and friends */
	BK_PN_SEGMENT_BYTES,            /* stream-max-segment-size-bytes */
	BK_PN__COUNT
};

/* Bits of bk_pdef.has beyond the numeric keys (1u << BK_PN_*). */
#define BK_PD_OVERFLOW  (1u << 8)
#define BK_PD_DLX       (1u << 9)
#define BK_PD_DLRK      (1u << 10)
#define BK_PD_AE        (1u << 11)

/* A policy definition, typed: what the broker acts on. Keys RabbitMQ
 * accepts that have no effect here (queue-mode, cluster keys, ...) are
 * checked and kept in the JSON only. */
struct bk_pdef {
	unsigned has;                   /* 1u << BK_PN_* | BK_PD_* */
	int64_t num[BK_PN__COUNT];
	enum bk_overflow overflow;
	char *dlx, *dlrk, *ae;          /* owned or NULL */
	bool quorum_ok;                 /* every key applies to quorum queues */
	bool stream_ok;                 /* every key applies to streams */
};

enum bk_apply_to {
	BK_AT_ALL, BK_AT_QUEUES, BK_AT_CLASSIC, BK_AT_QUORUM, BK_AT_STREAMS,
	BK_AT_EXCHANGES,
};

struct bk_policy {
	char *name;                     /* owned; uthash key */
	char *vhost;                    /* owned */
	enum bk_policy_kind kind;
	char *pattern;                  /* owned */
	regex_t re;                     /* compiled pattern */
	enum bk_apply_to apply_to;
	double priority;
	struct cJSON *definition;       /* owned; keys sorted */
	struct bk_pdef def;
	UT_hash_handle hh;              /* in vh->policies[kind] */
};

/* ---- bk_policy_def.c ---- */

/*
 * Check a definition (the JSON the API got) as RabbitMQ's policy
 * validators do, for a policy (op false) or an operator policy (op true).
 * 0 with out filled (its strings owned), or -EINVAL with RabbitMQ's text
 * in why ("<<\"x\">> is not a valid message TTL").
 */
int bk_pdef_parse(const struct cJSON *def, bool op, struct bk_pdef *out,
		  char *why, size_t whylen);
void bk_pdef_fini(struct bk_pdef *d);

/*
 * v as Erlang's ~tp prints the term RabbitMQ decodes from JSON: strings
 * as <<"s">>, numbers, true/false/null, lists, maps as #{...}. Appends
 * to out (NUL-terminated, truncated with "..." at cap).
 */
void bk_pdef_term(const struct cJSON *v, char *out, size_t cap);

/* ---- bk_policy.c ---- */

/* The policy of kind k that applies to queue name (of type t) or to
 * exchange name in vh: the matching one of highest priority, the first by
 * name among equals. A policy applies to a quorum queue or a stream only
 * when each of its keys does, as RabbitMQ's queue types decide. NULL if
 * none. */
const struct bk_policy *bk_policy_match_queue(struct bk_vhost *vh,
					      enum bk_policy_kind k,
					      const char *name, enum bk_qtype t);
const struct bk_policy *bk_policy_match_exchange(struct bk_vhost *vh,
						 enum bk_policy_kind k,
						 const char *name);
/* Accessors for views; NULL for no policy. */
const char *bk_policy_name(const struct bk_policy *p);
const struct cJSON *bk_policy_definition(const struct bk_policy *p);
/* Free every policy of vh (vhost teardown, after its objects). */
void bk_policies_free_vhost(struct bk_vhost *vh);

/* ---- the two halves ---- */

/* [Q] bk_queue_policy.c: match q again and apply its effective
 * arguments now (see there). */
void bk_queue_policy_refresh(struct bk_queue *q);
void bk_queues_policy_refresh(struct bk_vhost *vh);
/* [R] bk_exchange.c: match x again (alternate exchange). */
void bk_exchange_policy_refresh(struct bk_exchange *x);
void bk_exchanges_policy_refresh(struct bk_vhost *vh);

#endif
