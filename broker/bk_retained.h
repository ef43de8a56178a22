/*
 * bk_retained.h: the retained store's core-private side, shared by
 * bk_retained.c (the store and its walks), bk_retained_persist.c (its
 * journal records), bk_recover.c and vhost teardown.
 */
#ifndef SLUICE_BK_RETAINED_H
#define SLUICE_BK_RETAINED_H

#include "bk_int.h"

/* Namespaces of the core's journal key/value records. */
enum {
	BK_KV_RETAINED = 1,             /* key: vhost \0 routing key; value: see bk_retained_persist.c */
	BK_KV_MARK     = 2,             /* key: a name; value: empty. One-time upgrades done. */
};

/* The longest key a retained record can have (the journal's u16). */
#define BK_RETAINED_KEY_MAX 65535u

/* bk_retained.c */
/* Put msg back into vh's store as read from its journal record (durable,
 * nothing written). Replaces what the key held. */
void bk_retained_restore(struct bk_vhost *vh, struct bk_msg *msg);
/* vh is going: free its store; forget: its journal records too (the vhost
 * was deleted; at shutdown they stay). */
void bk_retained_drop(struct bk_vhost *vh, bool forget);

/* bk_retained_persist.c */
/* Write or delete the record of msg's key in vh: true if written. */
bool bk_retained_journal_put(struct bk_vhost *vh, const struct bk_msg *msg);
bool bk_retained_journal_del(struct bk_vhost *vh, struct bk_str key);
/* A replayed key/value record (bk_recover.c calls it for every one). */
int  bk_retained_replay(struct bk_broker *b, uint16_t ns, const void *key, uint32_t klen,
			const void *val, uint32_t vlen);
/* After the replay: delete records of vhosts that no longer exist. */
void bk_retained_replay_done(struct bk_broker *b);
/* Free what the replay kept (broker teardown). */
void bk_retained_persist_fini(struct bk_broker *b);

#endif
