/*
 * net_ring.h: a bounded single-producer single-consumer ring of messages
 * between two threads, lock-free.
 *
 *        producer                               consumer
 *   slot[tail & mask] = m                  h = head; t = tail (acquire)
 *   tail = tail + 1 (release) ------------> m = slot[h & mask]
 *                                           head = h + 1 (release)
 *   h = head (acquire) <--------------------
 *
 * head and tail only grow (uint32_t wraps; tail - head is the fill); each
 * is written by one side only, on its own cache line. The release store of
 * tail publishes the slot and everything the producer wrote before it (a
 * whole evbuffer handed over, say) to the consumer's acquire load.
 */
#ifndef SLUICE_NET_RING_H
#define SLUICE_NET_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "bk_alloc.h"

struct net_msg {
	uint32_t kind;                  /* NET_M_* (net_io.c) */
	uint32_t u32;
	uint64_t u64;
	void *conn;                     /* the receiving side's connection half */
	void *ptr;                      /* an evbuffer, an array, ... (handed over) */
};

/* head and tail 64 bytes apart, so they never share a cache line; padded
 * rather than aligned, because the ring lives in heap memory that malloc
 * aligns to 16 bytes only. */
struct net_ring {
	_Atomic uint32_t head;                  /* the consumer's */
	char pad_head[64 - sizeof(uint32_t)];
	_Atomic uint32_t tail;                  /* the producer's */
	char pad_tail[64 - sizeof(uint32_t)];
	uint32_t mask;
	struct net_msg *slot;                   /* owned: mask + 1 slots */
};

/* cap: a power of two. */
static inline void
net_ring_init(struct net_ring *r, uint32_t cap)
{
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->mask = cap - 1;
	r->slot = bk_calloc(cap, sizeof(*r->slot));
}

static inline void
net_ring_fini(struct net_ring *r)
{
	BK_FREE(r->slot);
}

/* Producer: false when full. */
static inline bool
net_ring_push(struct net_ring *r, const struct net_msg *m)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);

	if (t - h > r->mask)
		return false;
	r->slot[t & r->mask] = *m;
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return true;
}

/* Consumer: false when empty. */
static inline bool
net_ring_pop(struct net_ring *r, struct net_msg *m)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (h == t)
		return false;
	*m = r->slot[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return true;
}

/*
 * A doorbell: how a producer wakes the consumer of a ring once per batch.
 * The producer pushes, then net_bell_ring: it raises `signaled` and writes
 * the eventfd only if the flag was down. The consumer, woken by the
 * eventfd, calls net_bell_clear (reads the eventfd, then lowers the flag)
 * and then pops everything. Lowering after the read matters: lowered
 * first, a producer could raise it and write between the two, the read
 * would eat that write, and the flag would stay up with nobody coming.
 * The fences order each side's ring access against the flag (a store
 * followed by a load needs a full fence on both sides).
 */
struct net_bell {
	int efd;                        /* eventfd, non-blocking */
	_Atomic bool signaled;
};

static inline void
net_bell_ring(struct net_bell *b)
{
	uint64_t one = 1;

	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_exchange_explicit(&b->signaled, true, memory_order_seq_cst) &&
	    write(b->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at one write per batch */
	}
}

static inline void
net_bell_clear(struct net_bell *b)
{
	uint64_t v;

	if (read(b->efd, &v, sizeof(v)) < 0) {
		/* nothing was pending */
	}
	atomic_store_explicit(&b->signaled, false, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
}

#endif
