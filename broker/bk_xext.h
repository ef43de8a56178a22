/*
 * bk_xext.h: the exchange types RabbitMQ users know from plugins, built
 * into the routing half: x-consistent-hash (bk_xchash.c),
 * x-message-deduplication (bk_dedup.c) and x-delayed-message
 * (bk_delayed.c). Each keeps its state in the exchange's `ext`; the
 * rest of routing sees them through the hooks below, called from
 * bk_exchange.c, bk_binding.c and bk_route.c.
 */
#ifndef SLUICE_BK_XEXT_H
#define SLUICE_BK_XEXT_H

#include "bk_routing.h"

struct bk_dedup_cache;
struct bk_delayq;

struct bk_chash_point {
	uint32_t hash;
	struct bk_binding *b;           /* borrowed */
};

struct bk_xext {
	/* x-consistent-hash */
	struct bk_chash_point *ring;    /* owned, sorted by hash; rebuilt lazily */
	uint32_t npoints;
	uint64_t weight;                /* the bindings' weights added up */
	bool ring_dirty;
	char *hash_header;              /* owned: hash-header argument, or NULL */
	int hash_property;              /* BK_P_* bit of hash-property, or 0 */
	/* x-message-deduplication */
	struct bk_dedup_cache *dedup;   /* owned */
	/* x-delayed-message */
	struct bk_delayq *delayq;       /* ref (a message being fired holds another) */
};

/* bk_exchange.c calls these. */
enum bk_status bk_xext_validate(const struct bk_exchange_decl *d, struct bk_err *err);
void bk_xext_init(struct bk_exchange *x);       /* sets x->route and x->ext */
void bk_xext_free(struct bk_exchange *x);
/* b was just linked to (added) or unlinked from its source x. */
void bk_xext_bindings_changed(struct bk_exchange *x, const struct bk_binding *b, bool added);

/* bk_xchash.c */
enum bk_status bk_chash_check_key(struct bk_str key, struct bk_err *err);
/* Room on x's ring for a new binding with this (checked) key. */
enum bk_status bk_chash_check_room(const struct bk_exchange *x, struct bk_str key,
				   struct bk_err *err);
void bk_chash_bindings_changed(struct bk_exchange *x, const struct bk_binding *b,
			       bool added);
/* The binding the message hashes to, or NULL (no bindings, or no value
 * to hash: a missing header or property routes nowhere). */
struct bk_binding *bk_chash_pick(struct bk_exchange *x, const struct bk_msg *m);
void bk_chash_init(struct bk_exchange *x, struct bk_table args);
void bk_chash_fini(struct bk_xext *e);

/* bk_dedup.c: true when m is a duplicate through x (not to be routed);
 * otherwise m's value is remembered. */
bool bk_dedup_exchange_seen(struct bk_exchange *x, const struct bk_msg *m);
void bk_dedup_exchange_init(struct bk_exchange *x, struct bk_table args);
void bk_dedup_cache_free(struct bk_dedup_cache *c);

/* bk_delayed.c: m carries a valid x-delay for x: it is held (and, when
 * persistent and x durable, journaled with tracker c's token) and routed
 * through x once due. res as bk_publish_confirm fills it. */
bool bk_delayed_hold(struct bk_exchange *x, struct bk_msg *m, struct bk_confirm *c,
		     uint64_t token, struct bk_route_result *res);
void bk_delayed_init(struct bk_exchange *x);
void bk_delayed_exchange_gone(struct bk_exchange *x);
/* Route m through x now, as if just published there (the delay is over). */
void bk_route_after_delay(struct bk_exchange *x, struct bk_msg *m);

#endif
