/*
 * net_int.h: private to net/ (net_listener.c, net_conn.c, net_tls.c,
 * net_ws.c, net_mem.c).
 *
 * Ownership:
 *
 *   struct net ----owns----> listeners (list) ----owns----> sockets
 *        \---------owns----> connections (list, all listeners)
 *   struct net_conn --owns--> bufferevent (socket, TLS or WebSocket
 *                             filter over either), timer, reaper,
 *                             protocol ctx (freed by ops->free)
 *   struct net_conn --borrows--> its listener (listeners outlive
 *                                connections: net_free frees conns first)
 */
#ifndef SLUICE_NET_INT_H
#define SLUICE_NET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "broker.h"
#include "net.h"
#include "net_sock.h"

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
	struct net_listener *next;
};

struct net {
	struct event_base *base;                /* borrowed */
	struct bk_broker *broker;               /* borrowed */
	struct net_config cfg;
	struct net_listener *listeners, **ltail;   /* owned, in creation order */
	struct net_conn *conns;                 /* owned list, linked by next/prev */
	uint32_t nconns;
	uint64_t next_id;
	bool shutting_down;
	void (*done)(void *arg);
	void *done_arg;
	struct event *done_ev;                  /* owned; calls done once conns is empty */
	struct event *linger_ev;                /* owned; frees what shutdown left */
};

/* The one timer of a connection: what it does when it fires. */
enum net_timer_mode {
	NET_TIMER_OFF,
	NET_TIMER_DEADLINE,                     /* handshake or request deadline */
	NET_TIMER_LINGER,                       /* close_in / close_after_flush ran out */
};

struct net_ws;                                  /* net_ws.c */

struct net_conn {
	struct net *net;                        /* borrowed */
	struct net_listener *l;                 /* borrowed */
	uint64_t id;
	struct bufferevent *bev;                /* owned: what the protocol reads and writes */
	struct bufferevent *raw;                /* borrowed from bev's stack: socket or TLS */
	struct event *timer;                    /* owned */
	enum net_timer_mode timer_mode;
	struct event *reaper;                   /* owned */
	void *ctx;                              /* the protocol's, NULL until open */
	struct net_ws *ws;                      /* owned by the filter bev; NULL unless WS */
	evutil_socket_t fd;
	unsigned paused;                        /* NET_PAUSE_* and PAUSE_OUTPUT */
	enum net_end end;                       /* why, once free_pending */
	bool free_pending;
	bool flush_then_free;
	bool deferred_wanted;
	bool opened;                            /* ops->open returned a ctx */
	bool tls_up;                            /* TLS handshake completed */
	bool peer_loopback;
	char peer[64];                          /* "HOST:PORT" for logs */
	char peer_host[48], local_host[48];
	uint16_t peer_port, local_port;
	struct net_tls_info *tls;               /* owned; filled on first describe */
	struct net_conn *next, *prev;
};

/* The transport's own reason to stop reading: output over the watermark. */
#define NET_PAUSE_OUTPUT (1u << 7)

/* net_conn.c */
/* A socket accepted on l: make the connection (TLS/WS set up as l says). */
void net_conn_accept(struct net_listener *l, evutil_socket_t fd,
		     const struct sockaddr *sa, int salen);
/* Free now (from the reaper, a timer, or net_free). */
void net_conn_free(struct net_conn *nc, enum net_end why);
/* The transport is up: call ops->open (TLS handshake done, or at once). */
void net_conn_open(struct net_conn *nc);
/* The WebSocket upgrade is done and nc->bev is the filter: set it up,
 * open, and run what already waits in the raw input through it. */
void net_conn_ws_ready(struct net_conn *nc);
void net_conn_log(const struct net_conn *nc, enum bk_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* net_listener.c: the connection left (the reaper freed it). */
void net_conn_gone(struct net_conn *nc);

/* net_tls.c */
struct ssl_st;
/* A new SSL object for an accepted connection (the current context). */
struct ssl_st *net_tls_ssl_new(struct net_tls *t);
/* OpenSSL's reason for a failed handshake, into buf. */
const char *net_tls_error(struct bufferevent *bev, char *buf, size_t cap);
struct net_tls_info {
	char protocol[16], cipher[64];
	char *subject, *issuer, *validity;      /* owned; NULL without a peer certificate */
	bool verified;
};
/* Fill info from the connection's SSL (after the handshake). */
void net_tls_info_fill(struct bufferevent *bev, struct net_tls_info *info);
void net_tls_info_free(struct net_tls_info *info);  /* accepts NULL */
/* The peer certificate's CN or DN: see net_conn_peer_identity. */
int net_tls_peer_identity(struct bufferevent *bev, bool want_dn, char *buf, size_t cap);

/* net_ws.c */
/* Read the HTTP upgrade request from nc->bev's input; on success wrap
 * nc->bev in the WebSocket filter and call net_conn_open(). Called from
 * the read callback until the upgrade is done or refused. */
void net_ws_handshake(struct net_conn *nc);

#endif
