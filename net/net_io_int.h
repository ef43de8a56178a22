/*
 * net_io_int.h: what the two sides of the I/O threads share, private to
 * net/: the messages, the I/O thread's half of a connection, a thread's
 * rings and wakers. net_io.c is the threads' side (and their start and
 * stop), net_io_core.c the core's.
 */
#ifndef SLUICE_NET_IO_INT_H
#define SLUICE_NET_IO_INT_H

#include "net_int.h"
#include "net_ring.h"

#define RING_SLOTS   2048            /* 64 KiB a ring; more waits in a spill list */
#define NET_IO_CREDIT (512 * 1024)

enum {
	/* core -> I/O */
	NET_M_ATTACH = 1, NET_M_OUTPUT, NET_M_PAUSE, NET_M_CLOSE, NET_M_CONSUMED, NET_M_FREE,
	/* I/O -> core */
	NET_M_OPENED, NET_M_INPUT, NET_M_DRAINED, NET_M_CLOSED, NET_M_RELEASE,
};

/* Messages a ring could not take yet. */
struct spill {
	struct net_msg *m;
	uint32_t n, cap;
};

struct net_io_thread {
	struct net_io *io;              /* borrowed */
	unsigned index;
	pthread_t tid;
	struct event_base *base;        /* owned: the thread's loop */
	struct net_ring to_io, to_core;
	struct net_waker io_waker;      /* wakes this thread */
	struct event *io_ev;            /* on base: io_waker's eventfd */
	struct net_poll *poll;          /* owned: the plain sockets' poll set */
	_Atomic bool stop;
	uint32_t nconns;                /* core's count, for placement */
	struct spill core_spill;        /* core side: waiting for to_io */
	bool io_wake_due;               /* core side */
	struct spill io_spill;          /* I/O side: waiting for to_core */
	bool core_wake_due;             /* I/O side */
	void **rel;                     /* I/O side: bodies written, to release */
	uint32_t nrel, relcap;
	size_t input_bytes;             /* I/O side: handed to the core this pass */
	uint32_t spin_skip, spin_backoff;  /* I/O side: see io_spin() */
};

struct net_io {
	struct net *net;                /* borrowed */
	unsigned n;
	struct net_io_thread *t;        /* owned array */
	struct net_waker core_waker;    /* wakes the core (every thread's producer) */
	struct event *core_ev;          /* on the core's base: core_waker's eventfd */
	uint64_t spin_ns;               /* see io_spin(); 0: never */
};


/* Push m to ring r, behind anything already spilled to s (r's producer). */
void net_io_push(struct net_ring *r, struct spill *s, const struct net_msg *m);
/* Move what waits in s to r while r has room. */
void net_io_unspill(struct net_ring *r, struct spill *s);
/* The loop flags for a loop's next iteration: block only when the sleep
 * is announced on w and `empty` still says nothing waits in its rings. */
int net_io_loop_flags(struct net_waker *w, bool (*empty)(void *), void *arg);
/* An eventfd woke a loop (arg: its waker); messages are handled after. */
void net_io_wake_cb(evutil_socket_t fd, short what, void *arg);
/* The core: one message from an I/O thread. */
void net_io_core_handle(const struct net_msg *m);
/* The core at a stop: a message from a thread that will not be handled
 * lets go of what it carries (a RELEASE's bodies, an INPUT's chains). */
void net_io_core_discard(const struct net_msg *m);
/* The I/O half is done: finish its socket and free the connection's
 * block (its thread on FREE, or the core once the threads are gone). */
void net_io_conn_free(struct net_io_conn *c);

#endif
