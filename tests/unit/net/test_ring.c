/*
 * test_ring.c: the SPSC ring and its doorbell (net/net_ring.h) between two
 * real threads: every message arrives once, in order, through a ring much
 * smaller than the stream, and a consumer that sleeps on the eventfd is
 * always woken for what was pushed (a lost wake-up shows as a stall).
 * Under ThreadSanitizer it also checks the ring's memory ordering.
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
	struct net_bell bell;
	_Atomic bool done;
};

static void *
producer(void *arg)
{
	struct pair *p = arg;
	struct net_msg m = { 0 };

	for (uint32_t i = 0; i < COUNT; i++) {
		m.u64 = i;
		m.kind = i & 7;
		while (!net_ring_push(&p->ring, &m))
			net_bell_ring(&p->bell);        /* full: make sure it drains */
		if ((i & 15) == 15)                     /* a batch of 16 */
			net_bell_ring(&p->bell);
	}
	net_bell_ring(&p->bell);
	atomic_store(&p->done, true);
	return NULL;
}

static void
test_order_and_wakeups(void)
{
	struct pair p;
	pthread_t th;
	uint64_t next = 0;
	unsigned stalls = 0;
	bool bad_order = false;

	net_ring_init(&p.ring, SLOTS);
	p.bell.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	atomic_init(&p.bell.signaled, false);
	atomic_init(&p.done, false);
	CHECK(p.bell.efd >= 0);
	pthread_create(&th, NULL, producer, &p);
	while (next < COUNT) {
		struct pollfd pfd = { .fd = p.bell.efd, .events = POLLIN };
		struct net_msg m;

		/* Sleep only on the doorbell: if a wake-up were lost, this
		 * would time out with messages in the ring. */
		if (poll(&pfd, 1, 5000) == 0) {
			stalls++;
			/* Drain without the bell so the producer can finish. */
			while (next < COUNT)
				if (net_ring_pop(&p.ring, &m))
					next++;
			break;
		}
		net_bell_clear(&p.bell);
		while (net_ring_pop(&p.ring, &m)) {
			if (m.u64 != next || m.kind != (next & 7))
				bad_order = true;
			next++;
		}
	}
	pthread_join(th, NULL);
	CHECK_EQ_INT(stalls, 0);
	CHECK(!bad_order);
	CHECK_EQ_INT(next, COUNT);
	close(p.bell.efd);
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
	while (net_ring_push(&r, &m))
		pushed++;
	CHECK_EQ_INT(pushed, 8);
	CHECK(net_ring_pop(&r, &m));
	CHECK(net_ring_push(&r, &m));
	CHECK(!net_ring_push(&r, &m));
	net_ring_fini(&r);
}

int
main(void)
{
	RUN(test_full_and_empty);
	RUN(test_order_and_wakeups);
	TEST_DONE();
}
