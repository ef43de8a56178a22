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
#include <time.h>
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
 * A waker: how a producer wakes a consumer thread that sleeps in its
 * loop's epoll_wait, without a system call while the consumer is awake.
 *
 *   consumer (before sleeping)             producer (after pushing)
 *   rings empty? else do not sleep         ring.tail = t + 1 (release)
 *   asleep = true                          fence
 *   fence                                  asleep? exchange(asleep, false)
 *   rings still empty? else awake, go on     and it was true: write(efd)
 *   epoll_wait (efd is one of its fds)
 *   asleep = false; read(efd) if it fired
 *
 * The two fences make it Dekker's handshake: either the consumer's
 * re-check sees the push, or the producer sees `asleep` and writes the
 * eventfd. The exchange lets one producer write per sleep; a busy
 * consumer costs its producers no system call at all.
 */
struct net_waker {
	int efd;                        /* eventfd, non-blocking */
	_Atomic bool asleep;
};

/* ThreadSanitizer does not model fences (gcc warns and ignores them).
 * Under it the fences go, and the locked exchanges on `asleep` (full
 * barriers on the hardware it runs on) do their work. */
#if defined(__SANITIZE_THREAD__)
#define NET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NET_TSAN 1
#endif
#endif

/* Producer, after its pushes. True when it had to write the eventfd. */
static inline bool
net_waker_wake(struct net_waker *w)
{
	uint64_t one = 1;

#ifndef NET_TSAN
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&w->asleep, memory_order_relaxed))
		return false;           /* awake: no locked instruction either */
#endif
	if (!atomic_exchange_explicit(&w->asleep, false, memory_order_seq_cst))
		return false;
	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at one write per sleep */
	}
	return true;
}

/* Consumer: announce the sleep; the caller re-checks its rings after. */
static inline void
net_waker_sleep(struct net_waker *w)
{
	atomic_exchange_explicit(&w->asleep, true, memory_order_seq_cst);
#ifndef NET_TSAN
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* Consumer: awake again (after epoll_wait, or a re-check found work). */
static inline void
net_waker_awake(struct net_waker *w)
{
	atomic_store_explicit(&w->asleep, false, memory_order_relaxed);
}

/* Consumer: the eventfd fired; reset it. */
static inline void
net_waker_clear(struct net_waker *w)
{
	uint64_t v;

	if (read(w->efd, &v, sizeof(v)) < 0) {
		/* nothing was pending */
	}
}

/* Anyone: wake the consumer whatever it announced (to stop it). */
static inline void
net_waker_force(struct net_waker *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* already readable */
	}
}

/* Consumer: true when the ring holds nothing (acquire: what it holds
 * after a false is visible). */
static inline bool
net_ring_empty(struct net_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_relaxed) ==
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#if defined(__x86_64__) || defined(__i386__)
#define NET_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define NET_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define NET_CPU_RELAX() atomic_signal_fence(memory_order_seq_cst)
#endif

/* Consumer: watch an empty ring, awake, for up to ns nanoseconds (the
 * clock read every 32 pauses). True as soon as it holds something. */
static inline bool
net_ring_watch(struct net_ring *r, uint64_t ns)
{
	struct timespec ts;
	uint64_t end = 0;

	for (unsigned k = 0; net_ring_empty(r); k++) {
		if ((k & 31) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;

			if (end == 0)
				end = now + ns;
			else if (now > end)
				return false;
		}
		NET_CPU_RELAX();
	}
	return true;
}

#endif
