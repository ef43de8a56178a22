/*
 * bk_net.h: socket helpers every listener shares (AMQP, MQTT, HTTP):
 * binding a listening socket from the configuration's address and port,
 * the port actually bound, and printing socket addresses. Protocol
 * neutral; uses libevent's evconnlistener and nothing of the core.
 */
#ifndef SLUICE_BK_NET_H
#define SLUICE_BK_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>

struct sockaddr;

/*
 * Listen on bind:port ("" binds every address; port 0 picks a free one)
 * with accept callback cb(arg), close-on-exec, address reuse and a deep
 * backlog. Accept failures (EMFILE and the like) are logged as warnings
 * naming proto and the listener keeps going. On success logs "listening
 * PROTO HOST:PORT" with the real port (tests read that line), stores it
 * in *bound_port and returns the listener (the caller frees it with
 * evconnlistener_free). On failure writes "PROTO ..." with the reason to
 * err and returns NULL.
 */
struct evconnlistener *bk_net_listen(struct event_base *base, const char *proto,
				     const char *bind, int port, evconnlistener_cb cb,
				     void *arg, int *bound_port, char *err, size_t errlen);

/* The local port of a bound socket; fallback if it cannot be read. */
int bk_net_local_port(evutil_socket_t fd, int fallback);

/* "HOST:PORT" ("[::1]:PORT" for IPv6, "unix" otherwise) of a peer for
 * log lines, into buf; *loopback: did it come from this machine? */
void bk_net_peer_format(const struct sockaddr *sa, char *buf, size_t cap, bool *loopback);

/* Numeric host (IPv4-mapped addresses as IPv4, "local" for other
 * families) into host; returns the port. */
uint16_t bk_net_host(const struct sockaddr *sa, char *host, size_t cap);

/* An accepted socket: non-blocking, TCP_NODELAY (replies are small and
 * batched per loop iteration already). */
void bk_net_accepted(evutil_socket_t fd);

/*
 * The bufferevent of an accepted connection, owning fd (closed on free,
 * callbacks deferred), reading and writing, with large read and write
 * slices and the write callback armed once the output drains below
 * half of high_watermark.
 */
struct bufferevent *bk_net_bev_new(struct event_base *base, evutil_socket_t fd,
				   bufferevent_data_cb readcb, bufferevent_data_cb writecb,
				   bufferevent_event_cb eventcb, void *arg,
				   size_t high_watermark);

/* Peer and local numeric host and port of a connected socket, as
 * bk_net_host() prints them; peer_sa (may be NULL: asked from the
 * socket) saves a system call when the accept callback has it. Hosts
 * stay "?" when unknown. */
void bk_net_endpoints(evutil_socket_t fd, const struct sockaddr *peer_sa,
		      char *peer, size_t peer_cap, uint16_t *peer_port,
		      char *host, size_t host_cap, uint16_t *port);

#endif
