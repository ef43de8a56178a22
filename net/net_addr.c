/*
 * net_addr.c: the socket work every listener does the same way (see
 * net_addr.h).
 */
#include "net_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bk_log.h"

/* Benchmarks open hundreds of connections at once. */
#define LISTEN_BACKLOG 1024

int
net_addr_local_port(evutil_socket_t fd, int fallback)
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

/* host:port as a socket address; false (errno EINVAL) if host is not numeric. */
static bool
make_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return true;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return true;
	}
	errno = EINVAL;
	return false;
}

struct evconnlistener *
net_addr_listen(struct event_base *base, const char *host, int port, bool v6only,
		evconnlistener_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	struct evconnlistener *lev;
	socklen_t len;
	int fd, one = 1, saved;

	if (!make_addr(host, port, &ss, &len))
		return NULL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && v6only)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	lev = evconnlistener_new(base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				 -1, fd);
	if (lev == NULL)
		goto fail;
	return lev;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}

void
net_addr_peer_format(const struct sockaddr *sa, char *buf, size_t cap, bool *loopback)
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
net_addr_host(const struct sockaddr *sa, char *host, size_t cap)
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
net_addr_accepted(evutil_socket_t fd)
{
	int one = 1;

	evutil_make_socket_nonblocking(fd);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

uint16_t
net_addr_local(evutil_socket_t fd, char *host, size_t cap)
{
	struct sockaddr_storage ls;
	socklen_t ll = sizeof(ls);

	snprintf(host, cap, "?");
	if (getsockname(fd, (struct sockaddr *)&ls, &ll) != 0)
		return 0;
	return net_addr_host((struct sockaddr *)&ls, host, cap);
}
