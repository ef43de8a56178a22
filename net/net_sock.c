/*
 * bk_net.c: the socket work every listener does the same way (see
 * bk_net.h). Called at startup and once per accepted connection, never
 * per message.
 */
#include "net_sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bk_log.h"

/* Benchmarks open hundreds of connections at once. */
#define LISTEN_BACKLOG 1024
/* libevent's 16 KiB per read / write would cost a syscall per few
 * messages; larger slices keep it near one per loop iteration. */
#define MAX_SINGLE_READ  (256 * 1024)
#define MAX_SINGLE_WRITE (1024 * 1024)

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: resource pressure, keep listening. */
	bk_warn("accept failed on port %d: %s",
		bk_net_local_port(evconnlistener_get_fd(lev), 0),
		evutil_socket_error_to_string(err));
}

int
bk_net_local_port(evutil_socket_t fd, int fallback)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return fallback;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fallback;
}

struct evconnlistener *
bk_net_listen(struct event_base *base, const char *proto, const char *bind, int port,
	      evconnlistener_cb cb, void *arg, int *bound_port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct evconnlistener *lev;
	char service[16];
	int rc;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(bind[0] ? bind : NULL, service, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s bind %s: %s", proto, bind, gai_strerror(rc));
		return NULL;
	}
	lev = evconnlistener_new_bind(base, cb, arg,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
				      LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG,
				      ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!lev) {
		snprintf(err, errlen, "%s listen on %s:%d: %s", proto, bind, port,
			 strerror(errno));
		return NULL;
	}
	evconnlistener_set_error_cb(lev, accept_error_cb);
	*bound_port = bk_net_local_port(evconnlistener_get_fd(lev), port);
	bk_info("listening %s %s:%d", proto, bind, *bound_port);
	return lev;
}

void
bk_net_peer_format(const struct sockaddr *sa, char *buf, size_t cap, bool *loopback)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
		*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
			(IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	} else {
		snprintf(buf, cap, "unix");
		*loopback = true;
	}
}

uint16_t
bk_net_host(const struct sockaddr *sa, char *host, size_t cap)
{
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, host, (socklen_t)cap);
		return ntohs(s6->sin6_port);
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, (socklen_t)cap);
		return ntohs(s4->sin_port);
	}
	snprintf(host, cap, "local");
	return 0;
}

void
bk_net_accepted(evutil_socket_t fd)
{
	int one = 1;

	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

struct bufferevent *
bk_net_bev_new(struct event_base *base, evutil_socket_t fd, bufferevent_data_cb readcb,
	       bufferevent_data_cb writecb, bufferevent_event_cb eventcb, void *arg,
	       size_t high_watermark)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	bufferevent_setcb(bev, readcb, writecb, eventcb, arg);
	bufferevent_set_max_single_read(bev, MAX_SINGLE_READ);
	bufferevent_set_max_single_write(bev, MAX_SINGLE_WRITE);
	bufferevent_setwatermark(bev, EV_WRITE, high_watermark / 2, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return bev;
}

void
bk_net_endpoints(evutil_socket_t fd, const struct sockaddr *peer_sa,
		 char *peer, size_t peer_cap, uint16_t *peer_port,
		 char *host, size_t host_cap, uint16_t *port)
{
	struct sockaddr_storage ps, ls;
	socklen_t pl = sizeof(ps), ll = sizeof(ls);

	*peer_port = *port = 0;
	if (peer_sa)
		*peer_port = bk_net_host(peer_sa, peer, peer_cap);
	else if (getpeername(fd, (struct sockaddr *)&ps, &pl) == 0)
		*peer_port = bk_net_host((struct sockaddr *)&ps, peer, peer_cap);
	if (getsockname(fd, (struct sockaddr *)&ls, &ll) == 0)
		*port = bk_net_host((struct sockaddr *)&ls, host, host_cap);
}
