/*
 * net_int.h: private to net/.
 *
 * A connection has two halves:
 *
 *   struct net_conn   the core's half (net_conn.c): what protocols see, the
 *                     protocol's ctx, deadlines, the reaper, close requests.
 *                     Lives on the core thread.
 *   struct net_sock   the socket's half (net_sock.c): plain TCP with
 *                     events and buffers made on demand (net_sock_plain.c),
 *                     or a bufferevent (TLS, or a WebSocket filter over a
 *                     socket or TLS), the transport handshakes, output
 *                     back-pressure, flushing before a close. Lives on the
 *                     thread that owns the socket.
 *
 * With no I/O threads (broker.io_threads = 0) both halves live on the
 * core's loop and the socket's upcalls (struct net_sock_up) call the
 * protocol directly: the input the protocol reads is the socket's.
 * With I/O threads (net_io.c) each socket lives on one I/O thread; its
 * upcalls turn into messages on a ring to the core, the core's half has
 * input and output buffers of its own, and chains move between the two
 * through the rings, a batch per loop iteration.
 *
 * Ownership:
 *
 *   struct net ----owns----> listeners (list) ----owns----> listening sockets
 *        \---------owns----> connections (list, all listeners), I/O threads
 *   struct net_conn --holds--> its net_sock and net_io_conn (one block,
 *                             see struct net_conn); owns the timer (while
 *                             armed), input and output buffers (with I/O
 *                             threads, while they hold bytes), protocol ctx
 *                             (freed by ops->free)
 *   struct net_io_conn (I/O thread) --runs--> the block's net_sock
 */
#ifndef SLUICE_NET_INT_H
#define SLUICE_NET_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "broker.h"
#include "net.h"
#include "net_addr.h"

#define NET_MAX_BINDS 8

struct net_listener {
	struct net *net;                        /* borrowed: the owner */
	struct net_listen_config cfg;           /* strings below are owned copies */
	char *name, *protocol, *bind, *ws_path, *ws_protocol;
	struct evconnlistener *lev[NET_MAX_BINDS];   /* owned */
	int nlev;
	int port;
	uint32_t nconns;                        /* live connections it accepted */
	uint64_t refused_logged_ms;             /* last "limit reached" warning */
	uint64_t accept_err_logged_ms;          /* last "accept failed" warning */
	struct event *accept_retry;             /* owned: accepting again after an error */
	struct net_listener *next;
};

struct net_io;                                  /* net_io.c: the I/O threads */
struct net_poll;                                /* net_sock_plain.c: a loop's poll set */

struct net {
	struct event_base *base;                /* borrowed: the core's loop */
	struct bk_broker *broker;               /* borrowed */
	struct net_config cfg;
	struct net_listener *listeners, **ltail;   /* owned, in creation order */
	/* Every connection is on one of two lists (next/pprev): hs while
	 * its timer is NET_TIMER_HANDSHAKE (accepted, not logged in; newest
	 * first, hs_oldest its last), conns otherwise. */
	struct net_conn *conns;                 /* owned */
	struct net_conn *hs, *hs_oldest;        /* owned; hs_oldest borrowed */
	uint32_t nconns;                        /* on either list */
	uint32_t nhandshakes;                   /* on hs */
	uint64_t evict_logged_ms;               /* max_handshakes' last eviction warning */
	uint64_t next_id;
	bool shutting_down;
	void (*done)(void *arg);
	void *done_arg;
	struct event *done_ev;                  /* owned; calls done once conns is empty */
	struct event *linger_ev;                /* owned; frees what shutdown left */
	struct net_io *io;                      /* owned; NULL without I/O threads */
	struct net_poll *poll;                  /* owned; the core loop's poll set
						   (made at the first accept without
						   I/O threads) */
	bool io_stopped;                        /* the I/O threads are gone (net_free) */
	struct net_conn *dirty;                 /* connections with output to write or
						   ship at the end of the iteration */
	/* Connections whose reaper is due (net_conn_reap_soon), and the
	 * batch the reap event is running; one event serves them all. */
	struct net_conn *reap, *reaping;
	struct event *reap_ev;                  /* owned */
	/* Every NET_TICK_MS while there are connections: each open one's
	 * ops->tick (net_conn_lists.c). */
	struct event *tick_ev;                  /* owned */
};

/* ------------------------------------------------------------------ */
/* The socket's half (net_sock.c)                                      */
/* ------------------------------------------------------------------ */

struct net_sock;

/* What a socket tells its owner, on the socket's thread (the owner finds
 * its half from s: net_sock_conn). */
struct net_sock_up {
	/* The transport is up (TLS handshake, WebSocket upgrade done); info
	 * (TLS state, the peer certificate) is filled, owned by the sock. */
	void (*open)(struct net_sock *s);
	/* Bytes wait in in (the bufferevent's input). */
	void (*input)(struct net_sock *s, struct evbuffer *in);
	/* The output drained to the low watermark. */
	void (*writable)(struct net_sock *s);
	/* The socket is done (EOF, error, or a requested close completed):
	 * the owner frees the sock when it is ready to. */
	void (*end)(struct net_sock *s, enum net_end why);
};

/* TLS state of a connection, read once at the end of the handshake. */
struct net_tls_info {
	char protocol[16], cipher[64];
	char *subject, *issuer, *validity;      /* owned; NULL without a peer certificate */
	char *cn, *dn;                          /* owned; a verified peer certificate's names */
};

struct net_ws;                                  /* net_ws.c */

/* Part of its connection's block (struct net_conn); the id and the peer
 * for log lines are the connection's. */
struct net_sock {
	struct net_listener *l;                 /* borrowed: transport, TLS, WS, limits */
	struct net_poll *poll;                  /* borrowed: the owning thread's loop
						   and its poll set (net_sock_plain.c) */
	const struct net_sock_up *up;           /* borrowed; NULL when not set up */
	struct bufferevent *bev;                /* owned: what is read and written;
						   NULL on plain TCP (net_sock_plain.c) */
	struct bufferevent *raw;                /* in bev's stack: socket or TLS */
	/* plain TCP only (net_sock_plain.c), each owned and made when needed */
	struct evbuffer *in, *out;
	struct net_ws *ws;                      /* owned by the filter bev; NULL unless WS */
	struct net_tls_info *tls;               /* owned; made and filled at open on TLS
						   sockets, NULL on others */
	struct event *linger;                   /* owned, made when a flush before a close
						   starts: a flush that takes too long */
	evutil_socket_t fd;                     /* set by the core before the socket's
						   thread sees it, never written after */
	unsigned paused;                        /* NET_PAUSE_* and SOCK_PAUSE_* */
	uint8_t ev;                             /* plain TCP: NET_POLL_*, what the poll
						   set waits for; 0: not in it */
	bool kicked;                            /* plain TCP: on the poll's kick list */
	bool tls_up;                            /* TLS handshake completed */
	bool open;                              /* up->open was called */
	bool flushing;                          /* closing once the output is written */
	bool ended;                             /* up->end was called */
	bool end_due;                           /* plain TCP: the socket cannot go on;
						   it ends from the loop (kick list) */
};

#define NET_POLL_IN  1u
#define NET_POLL_OUT 2u
/* Sockets a poll set serves per pass of its callback: a busy set does not
 * keep the loop from its other events (rings, timers, other sets). */
#define NET_POLL_BATCH 64

/* The socket's own reasons to stop reading. */
#define SOCK_PAUSE_OUTPUT (1u << 7)             /* output over the high watermark */
#define SOCK_PAUSE_CREDIT (1u << 8)             /* the core holds enough input (net_io.c) */

/* Set up s (zeroed, in its connection's block, s->fd the accepted
 * socket) on poll's loop (TLS as l says): 0, or -1 (fd closed, s left as
 * net_sock_fini expects) when the socket cannot be set up. Nothing is
 * called back before net_sock_start(). */
int net_sock_init(struct net_sock *s, struct net_listener *l, struct net_poll *poll,
		  const struct net_sock_up *up);
/* Go: on a plain TCP listener up->open is called from here. */
void net_sock_start(struct net_sock *s);
/* Close and free what s holds (the struct is the block's); no upcall.
 * Accepts NULL and a sock never set up or already finished. */
void net_sock_fini(struct net_sock *s);
/* Write the output now, at the end of the iteration that produced it,
 * rather than an epoll round later; what does not fit waits for the
 * socket as before. Plain TCP sockets only (no-op otherwise). The one
 * upcall it may make is up->writable (the write drained the output to
 * the low watermark); it never calls up->end: an error, a failed
 * epoll_ctl or a flush it completes ends the socket from the loop. */
void net_sock_write_now(struct net_sock *s);
/* Stop reading and writing now, with no upcall (a close the owner asked
 * for without flushing). */
void net_sock_shut(struct net_sock *s);
void net_sock_pause(struct net_sock *s, unsigned why, bool on);
/* Stop reading; up->end(NET_END_LOCAL) once the output is written, or
 * after ms. */
void net_sock_close_after_flush(struct net_sock *s, uint32_t ms);
size_t net_sock_output_len(struct net_sock *s);
/* Everything in in (the input an up->input call gave) as a buffer of the
 * caller's: on plain TCP the socket's own input buffer, which it makes
 * anew at its next read. */
struct evbuffer *net_sock_take_input(struct net_sock *s, struct evbuffer *in);
/* Append buf's chains to the output (buf is taken) and write now (as
 * net_sock_write_now: up->writable at most, never up->end). */
void net_sock_send(struct net_sock *s, struct evbuffer *buf);
struct evbuffer *net_sock_output(struct net_sock *s);
struct evbuffer *net_sock_input(struct net_sock *s);
void net_sock_log(const struct net_sock *s, enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* net_ws.c calls it once the upgrade is done and s->bev is the filter. */
void net_sock_ws_ready(struct net_sock *s);
/* Deliver what waits in the input (after open, or when reading resumes). */
void net_sock_kick(struct net_sock *s);
/* For net_sock_plain.c: the bufferevent callbacks' common steps. End now
 * (up->end); hand input up (or hold it while paused); the output drained
 * to the low watermark (or, flushing, to empty). */
void net_sock_end(struct net_sock *s, enum net_end why);
void net_sock_deliver(struct net_sock *s, struct evbuffer *in);
void net_sock_drained(struct net_sock *s);

/* net_sock_plain.c: a plain TCP socket without a bufferevent or event.
 * new adds it to its poll set, reading (0 or -errno); free takes it out
 * and closes the fd. */
int net_sock_plain_new(struct net_sock *s);
void net_sock_plain_free(struct net_sock *s);
/* Read on or off; writing off, or on (wait for the socket while output
 * remains). */
void net_sock_plain_events(struct net_sock *s, bool reading, bool writing);
/* Deliver what waits in s->in from the loop (the poll's event made active). */
void net_sock_plain_kick(struct net_sock *s);
void net_sock_plain_write_now(struct net_sock *s);
/* A loop's poll set: one epoll set that libevent watches as one read
 * event (each I/O thread's loop, the core's at io_threads 0). new: NULL
 * when no set or event could be made; free: its sockets are gone. */
struct net_poll *net_poll_new(struct event_base *base);
void net_poll_free(struct net_poll *p);
struct event_base *net_poll_base(const struct net_poll *p);

/* ------------------------------------------------------------------ */
/* The core's half (net_conn.c)                                        */
/* ------------------------------------------------------------------ */

/* The one timer of a connection's core half. */
enum net_timer_mode {
	NET_TIMER_OFF,
	NET_TIMER_HANDSHAKE,                    /* accept to net_conn_ready(): counted
						   in net's nhandshakes */
	NET_TIMER_DEADLINE,                     /* a deadline the protocol set */
	NET_TIMER_LINGER,                       /* close_in ran out */
};

struct net_io_thread;                           /* net_io_int.h */

/* The I/O thread's half of a connection (net_io.c, net_io_core.c), part of
 * its block. The core half is its container (net_io_conn_nc). */
struct net_io_conn {
	struct net_io_thread *t;        /* borrowed */
	_Atomic size_t transit;         /* core adds at flush, I/O subtracts on append */
	_Atomic size_t queued;          /* the socket's output, as the I/O thread saw it */
	_Atomic bool wake_wanted;       /* the core wants DRAINED */
	bool dead;                      /* I/O thread: CLOSED sent; waiting for FREE */
	bool peer_eof;                  /* I/O thread: dead because the peer stopped
					   sending; what the core still ships for the
					   requests before it is written as it comes */
	bool report;                    /* core: CONSUMED due at the next flush */
	uint32_t held;                  /* I/O thread: what the core holds, as it said */
	uint64_t shipped, consumed;     /* I/O thread */
	uint64_t core_consumed;         /* core: total the protocol took from nc->in */
};

/*
 * One allocation per connection, exactly sized:
 *
 *   +-----------------+------------------+------------------+---------------+
 *   | core half       | io_half          | sock_half        | peer[]        |
 *   | (core thread)   | (I/O thread; the | (the socket's    | "HOST:PORT\0" |
 *   |                 | atomics: both)   | thread)          | "host\0local\0"|
 *   +-----------------+------------------+------------------+---------------+
 *
 * Without I/O threads the core frees the block. With them the core
 * finishes first (it waits for CLOSED, then sends FREE and never touches
 * the block again) and the I/O thread frees it on FREE; the ring's
 * release/acquire hands every core write over before that. The I/O thread
 * reads only what never changes after ATTACH: l, id, peer[].
 */
struct net_conn {
	struct net_listener *l;                 /* borrowed; l->net is the net */
	uint64_t id;
	/* Owned, with I/O threads: the core's buffers, made when bytes come
	 * and freed once empty, so an idle connection holds none. */
	struct evbuffer *in, *out;
	struct event *timer;                    /* owned; NULL while OFF */
	void *ctx;                              /* the protocol's, NULL until open */
	const struct net_tls_info *tls;         /* borrowed from the sock / the open message */
	uint8_t paused;                         /* NET_PAUSE_* set by the protocol */
	uint8_t timer_mode;                     /* enum net_timer_mode */
	uint8_t end;                            /* enum net_end: why, once free_pending */
	bool direct;                            /* sock_half is the core's (no I/O threads) */
	bool threaded;                          /* io_half is in use (I/O threads) until
						   the core half is done */
	bool free_pending;                      /* ops->free is due (reaper) */
	bool flush_then_free;
	bool deferred_wanted;
	bool opened;                            /* ops->open returned a ctx */
	bool sock_gone;                         /* the socket half has ended */
	bool dirty;                             /* on net's dirty list */
	bool peer_loopback;
	uint16_t peer_port, local_port;
	struct net_conn *next, **pprev;         /* in net's conns or hs */
	struct net_conn *dirty_next;            /* in net's dirty list, */
	struct net_conn **dirty_pprev;          /* doubly linked: a free unlinks */
	struct net_conn *reap_next;             /* in net's reap or reaping list; */
	struct net_conn **reap_pprev;           /* NULL when in neither */
	struct net_io_conn io_half;             /* used with I/O threads */
	struct net_sock sock_half;
	/* "HOST:PORT" for logs, then the peer's and the local host for
	 * management, each NUL-terminated:
	 * "10.0.0.7:51234\0" "10.0.0.7\0" "10.0.0.1\0" */
	char peer[];
};

/* The socket half, when it runs on the core's loop (no I/O threads). */
static inline struct net_sock *
net_conn_sock(struct net_conn *nc)
{
	return nc->direct ? &nc->sock_half : NULL;
}

/* The I/O half, while the core half uses I/O threads. */
static inline struct net_io_conn *
net_conn_io(struct net_conn *nc)
{
	return nc->threaded ? &nc->io_half : NULL;
}

static inline struct net_conn *
net_sock_conn(struct net_sock *s)
{
	return (struct net_conn *)((char *)s - offsetof(struct net_conn, sock_half));
}

static inline const struct net_conn *
net_sock_conn_const(const struct net_sock *s)
{
	return (const struct net_conn *)((const char *)s - offsetof(struct net_conn, sock_half));
}

static inline struct net_conn *
net_io_conn_nc(struct net_io_conn *c)
{
	return (struct net_conn *)((char *)c - offsetof(struct net_conn, io_half));
}

/* A socket accepted on l: make the connection. */
void net_conn_accept(struct net_listener *l, evutil_socket_t fd,
		     const struct sockaddr *sa, int salen);
/* Free the core half now (ops->free first if due). */
void net_conn_free(struct net_conn *nc, enum net_end why);
/* ops->free now, if the protocol has the connection (idempotent). */
void net_conn_drop_protocol(struct net_conn *nc, enum net_end why);
void net_conn_log(const struct net_conn *nc, enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The socket half's news, on the core thread (direct upcalls without I/O
 * threads, messages with them). */
void net_conn_on_open(struct net_conn *nc);
void net_conn_on_input(struct net_conn *nc);
void net_conn_on_writable(struct net_conn *nc);
void net_conn_on_end(struct net_conn *nc, enum net_end why);

/* Run the connection's reaper (deferred work, the free, input that
 * waited) from net's reap event, after every callback of this iteration. */
void net_conn_reap_soon(struct net_conn *nc);
/* net's reap event (arg: the net). */
void net_conn_reap_cb(evutil_socket_t fd, short what, void *arg);
/* What the reap event does for one connection (net_conn.c). */
void net_conn_reap(struct net_conn *nc);
/* Off the reap lists (a free). */
void net_conn_reap_unlink(struct net_conn *nc);

/* net_listener.c: the connection left (freed). */
void net_conn_gone(struct net_conn *nc);
/* Put nc at the head of net's hs (handshake) or conns list; take it off
 * whichever it is on (net_conn_lists.c). */
void net_conn_link(struct net_conn *nc, bool handshake);
/* Its handshake deadline stops, and it leaves hs (net_conn.c). */
void net_conn_deadline_stop(struct net_conn *nc);
void net_conn_unlink(struct net_conn *nc);
/* Output was appended: write it (or, with I/O threads, ship it) at the
 * end of this loop iteration; unlink from that list. */
void net_conn_mark_dirty(struct net_conn *nc);
void net_conn_dirty_unlink(struct net_conn *nc);
/* Take the first connection off the dirty list, or NULL. */
struct net_conn *net_conn_dirty_pop(struct net *n);
/* net's tick event (arg: the net): ops->tick of every open connection.
 * net_conn_tick_start arms it (a connection was accepted). */
void net_conn_tick_cb(evutil_socket_t fd, short what, void *arg);
void net_conn_tick_start(struct net *n);

/* ------------------------------------------------------------------ */
/* I/O threads (net_io.c)                                              */
/* ------------------------------------------------------------------ */

/* Start n I/O threads for net (0 = none). 0 or -errno. */
int net_io_start(struct net *net, unsigned n);
/* Stop and join them (their connections stay until net_free frees the
 * core halves); then free what is left of them. */
void net_io_stop(struct net *net);
void net_io_free(struct net *net);
/* Hand an accepted fd to an I/O thread (the core half exists). */
void net_io_attach(struct net_conn *nc, evutil_socket_t fd);
/* Requests from the core half. */
void net_io_pause(struct net_conn *nc, unsigned why, bool on);
void net_io_close(struct net_conn *nc, bool flush, uint32_t ms);
/* The protocol read from nc->in: give the I/O thread credit. */
void net_io_consumed(struct net_conn *nc, size_t before);
/* Bytes not yet written: the core's buffer, in transit, the socket's. */
size_t net_io_output_len(struct net_conn *nc);
/* The core half is done: the I/O half frees the block once it has
 * finished too (or now, if the threads are gone). The caller touches nc
 * no more. */
void net_io_release(struct net_conn *nc);

/* ------------------------------------------------------------------ */
/* TLS (net_tls.c)                                                     */
/* ------------------------------------------------------------------ */

struct ssl_st;
/* A new SSL object for an accepted connection (the current context). */
struct ssl_st *net_tls_ssl_new(struct net_tls *t);
/* OpenSSL's reason for a failed handshake, into buf. */
const char *net_tls_error(struct bufferevent *bev, char *buf, size_t cap);
/* Fill info from the connection's SSL (after the handshake). */
void net_tls_info_fill(struct bufferevent *bev, struct net_tls_info *info);
void net_tls_info_fini(struct net_tls_info *info);

/* ------------------------------------------------------------------ */
/* WebSockets (net_ws.c)                                               */
/* ------------------------------------------------------------------ */

/* Read the HTTP upgrade request from s->bev's input; on success wrap
 * s->bev in the WebSocket filter and call net_sock_ws_ready(). Called from
 * the read callback until the upgrade is done or refused. */
void net_ws_handshake(struct net_sock *s);
/* The peer closed the WebSocket after data the protocol has not read yet:
 * close once it has (net_sock.c's read callback). */
bool net_ws_close_pending(const struct net_sock *s);

#endif
