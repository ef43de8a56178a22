/*
 * test_ring.c: the SPSC ring and its waker (net/net_ring.h) between two
 * real threads: every message arrives once, in order, through a ring much
 * smaller than the stream; a consumer that sleeps on the eventfd is always
 * woken for what was pushed (a lost wake-up shows as a stall); and the
 * producer writes the eventfd at most once per announced sleep (a busy
 * consumer costs it no system call). Under ThreadSanitizer it also checks
 * the memory ordering.
 */
#include "net_ring.h"
#include "testlib.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#define COUNT  1000000u
#define SLOTS  64u

struct pair {
	struct net_ring ring;
	struct net_waker waker;
	_Atomic unsigned writes;        /* eventfd writes by the producer */
};

static void
wake(struct pair *p)
{
	if (net_waker_wake(&p->waker))
		atomic_fetch_add(&p->writes, 1);
}

static void *
producer(void *arg)
{
	struct pair *p = arg;
	struct net_msg m = { 0 };

	for (uint32_t i = 0; i < COUNT; i++) {
		m.u64 = i;
		m.kind = i & 7;
		while (!net_ring_push(&p->ring, &m))
			wake(p);                        /* full: make sure it drains */
		if ((i & 15) == 15)                     /* a batch of 16 */
			wake(p);
	}
	wake(p);
	return NULL;
}

/* The consumer's loop, as net_io.c runs it: drain, announce the sleep,
 * re-check, sleep on the eventfd only when still empty. */
static void
test_order_and_wakeups(void)
{
	struct pair p;
	pthread_t th;
	uint64_t next = 0;
	unsigned stalls = 0, announced = 0;
	bool bad_order = false;

	net_ring_init(&p.ring, SLOTS);
	p.waker.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&p.waker.asleep, false);
	atomic_init(&p.writes, 0);
	CHECK(p.waker.efd >= 0);
	pthread_create(&th, NULL, producer, &p);
	while (next < COUNT) {
		struct pollfd pfd = { .fd = p.waker.efd, .events = POLLIN };
		struct net_msg m;

		while (net_ring_pop(&p.ring, &m)) {
			if (m.u64 != next || m.kind != (next & 7))
				bad_order = true;
			next++;
		}
		if (next == COUNT)
			break;
		net_waker_sleep(&p.waker);
		announced++;
		if (!net_ring_empty(&p.ring)) {
			net_waker_awake(&p.waker);
			continue;               /* a write may still come: harmless */
		}
		/* If a wake-up were lost, this would time out with messages
		 * in the ring. */
		if (poll(&pfd, 1, 5000) == 0) {
			stalls++;
			net_waker_awake(&p.waker);
			continue;               /* drain without it: finish */
		}
		net_waker_awake(&p.waker);
		net_waker_clear(&p.waker);
	}
	pthread_join(th, NULL);
	CHECK_EQ_INT(stalls, 0);
	CHECK(!bad_order);
	CHECK_EQ_INT(next, COUNT);
	CHECK(atomic_load(&p.writes) <= announced);
	close(p.waker.efd);
	net_ring_fini(&p.ring);
}

static void
test_full_and_empty(void)
{
	struct net_ring r;
	struct net_msg m = { 0 };
	unsigned pushed = 0;

	net_ring_init(&r, 8);
	CHECK(!net_ring_pop(&r, &m));
	CHECK(net_ring_empty(&r));
	while (net_ring_push(&r, &m))
		pushed++;
	CHECK_EQ_INT(pushed, 8);
	CHECK(!net_ring_empty(&r));
	CHECK(net_ring_pop(&r, &m));
	CHECK(net_ring_push(&r, &m));
	CHECK(!net_ring_push(&r, &m));
	net_ring_fini(&r);
}

/* A consumer that never announced a sleep is never written to. */
static void
test_awake_consumer_costs_nothing(void)
{
	struct net_waker w;
	uint64_t v;

	w.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&w.asleep, false);
	CHECK(!net_waker_wake(&w));
	CHECK(read(w.efd, &v, sizeof(v)) < 0);  /* nothing written */
	net_waker_sleep(&w);
	CHECK(net_waker_wake(&w));
	CHECK(!net_waker_wake(&w));             /* once per sleep */
	CHECK(read(w.efd, &v, sizeof(v)) == sizeof(v) && v == 1);
	close(w.efd);
}

int
main(void)
{
	RUN(test_full_and_empty);
	RUN(test_awake_consumer_costs_nothing);
	RUN(test_order_and_wakeups);
	TEST_DONE();
}
