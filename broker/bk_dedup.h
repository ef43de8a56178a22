/*
 * bk_dedup.h: queue-level deduplication (bk_dedup.c), for the queueing
 * files, and the journal namespace of persistent deduplication caches.
 * The exchange level is reached through bk_xext.h.
 */
#ifndef SLUICE_BK_DEDUP_H
#define SLUICE_BK_DEDUP_H

#include "bk_queueing.h"

#define BK_NS_DEDUP 0x4444              /* "DD": journal key/value namespace */

/* A message with m's x-deduplication-header value is in q already. */
bool bk_dedup_queue_has(struct bk_queue *q, const struct bk_msg *m);
/* m entered q: remember its value. */
void bk_dedup_queue_add(struct bk_queue *q, const struct bk_msg *m);
/* q emptied (purge) or deleted: forget every value. */
void bk_dedup_queue_clear(struct bk_queue *q);
/* Journal replay: one remembered value of a persistent exchange cache. */
int bk_dedup_load(struct bk_broker *b, const void *key, uint32_t klen,
		  const void *val, uint32_t vlen);

#endif
