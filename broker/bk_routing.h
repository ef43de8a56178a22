/*
 * bk_routing.h: private to the routing half (exchanges, bindings, the
 * per-type indexes and bk_publish). The queueing half sees none of this;
 * it knows exchanges only through broker.h and bk_int.h.
 *
 * Object graph of one vhost:
 *
 *   vhost->exchanges (uthash by name)
 *      exchange --src list--> binding --dest--> queue | exchange
 *      exchange <--dst list-- binding            (e2e bindings into it)
 *   vhost->routing->ids     (uthash: binding identity -> binding)
 *   vhost->routing->queues  (uthash: queue pointer -> bindings into it)
 *
 * A binding is owned by the routing state and linked into four places:
 * its source's list, its destination's list, the identity hash and its
 * source's type index (direct key bucket or topic trie; fanout and headers
 * scan the source list). bk_binding_remove() unlinks all four at once.
 */
#ifndef SLUICE_BK_ROUTING_H
#define SLUICE_BK_ROUTING_H

#include "bk_int.h"
#include "bk_topic.h"

struct bk_binding;

/* Direct exchange index: one bucket per distinct binding key. */
struct bk_dkey {
	struct bk_binding *head;        /* borrowed bindings, via idx_next */
	UT_hash_handle hh;              /* in exchange->direct; key = key[] */
	uint32_t len;
	char key[];
};

struct bk_exchange {
	char *name;                     /* owned; uthash key */
	uint32_t name_len;
	struct bk_vhost *vhost;         /* borrowed; outlives its exchanges */
	enum bk_xtype type;             /* as declared */
	enum bk_xtype route;            /* how bindings match: type, but the
					   x-delayed-type for x-delayed-message and
					   fanout for x-message-deduplication */
	struct bk_xext *ext;            /* owned: the plugin types' state (bk_xext.h) */
	bool durable, auto_delete, internal;
	bool is_default;                /* "" : routes by queue name */
	bool deleting;                  /* being deleted: no auto-delete recursion */
	uint8_t *args;                  /* owned copy of the declare arguments */
	uint32_t args_len;
	char *alt;                      /* owned alternate-exchange name or NULL:
					   the argument's, else the policy's */
	uint32_t alt_len;
	const struct bk_policy *policy; /* borrowed; the vhost's, or NULL */
	const struct bk_policy *op_policy;  /* borrowed operator policy, or NULL */
	uint64_t visit;                 /* route pass that last visited it */
	struct bk_binding *src_head;    /* bindings with this source (owned by routing) */
	struct bk_binding *src_tail;
	uint32_t nsrc;
	struct bk_binding *dst_head;    /* e2e bindings with this destination */
	struct bk_dkey *direct;         /* direct: owned buckets */
	struct bk_topic *topic;         /* topic: owned trie */
	uint64_t publish_in, publish_out;   /* message_stats (bk_route.c) */
	uint64_t last_in, last_out;     /* at the previous sample */
	float rate_in, rate_out;
	struct bk_hist *hist;           /* owned (bk_hist.c) */
	UT_hash_handle hh;              /* in vhost->exchanges */
};

/* Headers exchange x-match modes. */
enum bk_xmatch { BK_XM_ALL, BK_XM_ANY, BK_XM_ALL_WITH_X, BK_XM_ANY_WITH_X };

struct bk_binding {
	struct bk_exchange *source;     /* borrowed */
	union {
		struct bk_queue *q;         /* borrowed; queueing half owns it */
		struct bk_exchange *x;      /* borrowed */
	} dest;
	bool dest_is_queue;
	uint8_t xmatch;                 /* enum bk_xmatch, headers only */
	struct bk_str key;              /* points into idkey */
	struct bk_table args;           /* points into idkey */
	struct bk_binding *src_prev, *src_next;   /* in source's list */
	struct bk_binding *dst_prev, *dst_next;   /* in destination's list */
	struct bk_binding *idx_prev, *idx_next;   /* in dkey bucket (direct) */
	struct bk_dkey *dkey;           /* borrowed bucket (direct) */
	UT_hash_handle hh;              /* in routing->ids; key = idkey */
	uint32_t idkey_len;
	uint8_t idkey[];                /* source ptr, dest ptr, kind, key, args */
};

/* Bindings whose destination is one queue (for queue deletion). */
struct bk_qbinds {
	struct bk_queue *q;             /* borrowed; uthash key (the pointer) */
	struct bk_binding *head;        /* via dst_next */
	UT_hash_handle hh;              /* in routing->queues */
};

/* Per-vhost routing state. */
struct bk_routing {
	struct bk_binding *ids;         /* uthash, owns every binding */
	struct bk_qbinds *queues;       /* uthash, owned entries */
	/* Destination stack of bk_publish. A nested publish (dead-lettering
	 * from inside an enqueue) pushes above the outer one's entries, so
	 * outer code indexes it and never keeps a pointer into it. */
	struct bk_queue **dests;        /* owned array */
	uint32_t ndests, dcap;
	/* Exchanges still to visit in the current pass (not re-entrant:
	 * nothing calls out while it is in use). */
	struct bk_exchange **work;      /* owned array */
	uint32_t nwork, wcap;
	/* exchanges of the vhost deleted so far: a route memo's exchange
	 * pointer is good while this has not moved (bk_route.c) */
	uint64_t xgen;
	/* A message's headers sorted by name while a headers exchange's
	 * bindings are matched (collect phase only, like work). */
	struct bk_headers_index *hidx;  /* owned */
};

/* bk_user.c */
void bk_users_free(struct bk_broker *b);

/* bk_exchange.c */
struct bk_exchange *bk_exchange_find(struct bk_vhost *vh, const char *name,
				     uint32_t len);
/* Delete x with all its bindings; cascades to auto-delete exchanges. */
void bk_exchange_destroy(struct bk_exchange *x);
/* Called after a binding with source x was removed. */
void bk_exchange_maybe_autodelete(struct bk_exchange *x);
/* Declare the default exchanges of a new vhost. */
void bk_exchanges_create_defaults(struct bk_vhost *vh);
/* Free every exchange and binding of vh without cascades. */
void bk_exchanges_free_all(struct bk_vhost *vh);

/* bk_binding.c */
void bk_binding_remove(struct bk_binding *b, bool cascade);
void bk_routing_free(struct bk_routing *r);

/* bk_headers.c */
enum bk_status bk_headers_parse_xmatch(struct bk_table args, uint8_t *mode,
				       struct bk_err *err);
bool bk_headers_match(uint8_t mode, struct bk_table binding_args,
		      struct bk_table headers);
/*
 * The same against headers indexed once per message: a binding then
 * costs O(pattern entries x log headers), not O(pattern entries x
 * headers). bk_headers_index_set returns the index to pass (ix itself,
 * or NULL when the table is small enough to scan).
 */
struct bk_headers_index;
struct bk_headers_index *bk_headers_index_set(struct bk_headers_index **ix,
					      struct bk_table headers);
bool bk_headers_match_ix(uint8_t mode, struct bk_table binding_args,
			 struct bk_table headers, const struct bk_headers_index *ix);
void bk_headers_index_free(struct bk_headers_index *ix);
bool bk_value_equal(const struct bk_value *a, const struct bk_value *b);

#endif
