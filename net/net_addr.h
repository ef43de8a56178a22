/*
 * net_addr.h: socket helpers of the transport layer: binding one
 * listening address, reading the port bound, and printing addresses.
 * Called at startup and once per accepted connection, never per message.
 */
#ifndef SLUICE_NET_ADDR_H
#define SLUICE_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/listener.h>
#include <event2/util.h>

struct sockaddr;

/*
 * Listen on one numeric address host:port (port 0 picks a free one) with
 * accept callback cb(arg): close-on-exec, address reuse, a deep backlog,
 * IPV6_V6ONLY on IPv6 sockets when v6only. Accept failures (EMFILE and
 * the like) are logged as warnings and the listener keeps going. Returns
 * the listener, or NULL with errno set (EAFNOSUPPORT, EADDRNOTAVAIL,
 * EADDRINUSE, EINVAL for a host that is not a numeric address, ...).
 */
struct evconnlistener *net_addr_listen(struct event_base *base, const char *host, int port,
				       bool v6only, evconnlistener_cb cb, void *arg);

/* The local port of a bound socket; fallback if it cannot be read. */
int net_addr_local_port(evutil_socket_t fd, int fallback);

/* "HOST:PORT" ("[::1]:PORT" for IPv6) of a peer for log lines, into buf;
 * *loopback: did it come from this machine? */
void net_addr_peer_format(const struct sockaddr *sa, char *buf, size_t cap, bool *loopback);

/* Numeric host (IPv4-mapped addresses as IPv4, "local" for other
 * families) into host; returns the port. */
uint16_t net_addr_host(const struct sockaddr *sa, char *host, size_t cap);

/* An accepted socket: non-blocking, TCP_NODELAY (replies are small and
 * batched per loop iteration already). */
void net_addr_accepted(evutil_socket_t fd);

/* The local numeric host and port of a connected socket ("?" and 0 when
 * unknown). */
uint16_t net_addr_local(evutil_socket_t fd, char *host, size_t cap);

#endif
