/*
 * fuzz_net.c: the loopback driver of the stateful fuzz targets
 * (fuzz_net.h).
 */
#include "fuzz_net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "bk_admin.h"
#include "bk_log.h"
#include "bk_time.h"
#include "net.h"

/* Loop turns without any progress before the input is given up on. */
#define IDLE_TURNS 64

struct event_base *
fuzz_net_base(void)
{
	static struct event_base *base;

	if (base == NULL) {
		base = event_base_new();
		bk_time_attach(base);
		/* FUZZ_LOG=1 shows what the broker says about an input */
		bk_log_set_level(getenv("FUZZ_LOG") ? BK_LOG_DEBUG : BK_LOG_ERROR);
	}
	return base;
}

struct bk_broker *
fuzz_net_broker(void)
{
	struct bk_limits lim = { .max_message_size = 1u << 20 };
	struct bk_broker *b = bk_broker_new(fuzz_net_base(), &lim);
	struct bk_err err;

	bk_user_set(b, "guest", "guest", "administrator", false);
	bk_permission_set(b, "guest", "/", ".*", ".*", ".*", &err);
	return b;
}

void
fuzz_net_broker_free(struct bk_broker *b)
{
	bk_broker_free(b);
	/* deferred frees and timers the teardown scheduled */
	event_base_loop(fuzz_net_base(), EVLOOP_NONBLOCK);
}

struct net *
fuzz_net_new(struct bk_broker *b)
{
	struct net_config nc = { 0 };

	return net_new(fuzz_net_base(), b, &nc);
}

static int
listen_on(struct net *n, struct net_listen_config *lc)
{
	struct net_listener *l;
	char err[256];

	lc->bind = "127.0.0.1";
	lc->port = 0;
	lc->handshake_ms = 10000;
	lc->output_high = 1u << 20;
	if ((l = net_listen(n, lc, err, sizeof(err))) == NULL)
		return -1;
	return net_listener_port(l);
}

int
fuzz_net_listen(struct net *n, const char *name, const struct net_proto_ops *ops, void *arg)
{
	struct net_listen_config lc = {
		.name = name, .protocol = name, .transport = NET_TCP, .ops = ops, .arg = arg,
	};

	return listen_on(n, &lc);
}

int
fuzz_net_listen_ws(struct net *n, const char *name, const char *path, const char *subproto,
		   const struct net_proto_ops *ops, void *arg)
{
	struct net_listen_config lc = {
		.name = name, .protocol = name, .transport = NET_WS, .ws_path = path,
		.ws_protocol = subproto, .ops = ops, .arg = arg,
	};

	return listen_on(n, &lc);
}

static int
dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

void
fuzz_net_close(int fd)
{
	struct linger lg = { 1, 0 };

	/* a reset, not a FIN: thousands of inputs a second would otherwise
	 * leave as many sockets in TIME_WAIT and run the machine out of
	 * loopback ports (the RST also ends the broker's side) */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* Read what is there; 1 = progress, 0 = nothing, -1 = the peer closed. */
static int
drain(int fd, size_t *got)
{
	char buf[65536];
	int moved = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*got += (size_t)n;
		moved = 1;
	}
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
		return -1;
	return moved;
}

/* Write what fits; advances *p / *n. 1 = progress. */
static int
feed(int fd, const uint8_t **p, size_t *n)
{
	ssize_t w;
	int moved = 0;

	while (*n > 0 && (w = write(fd, *p, *n)) > 0) {
		*p += w;
		*n -= (size_t)w;
		moved = 1;
	}
	return moved;
}

size_t
fuzz_net_exchange_fn(int port, fuzz_net_head_fn head_fn, void *arg, const uint8_t *data,
		     size_t len)
{
	struct event_base *base = fuzz_net_base();
	uint8_t head[FUZZ_NET_HEAD_MAX];
	const uint8_t *hp = head;
	size_t got = 0, hlen = 0;
	int fd = dial(port), idle = 0;
	bool shut = false;

	if (fd < 0)
		return 0;
	/* accept the connection before anything else */
	event_base_loop(base, EVLOOP_NONBLOCK);
	if (head_fn)
		hlen = head_fn(arg, head, sizeof(head));
	while (idle < IDLE_TURNS) {
		int moved = feed(fd, &hp, &hlen);

		if (hlen == 0)
			moved |= feed(fd, &data, &len);
		if (hlen == 0 && len == 0 && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		int d = drain(fd, &got);
		if (d < 0)
			break;
		idle = moved || d ? 0 : idle + 1;
	}
	fuzz_net_close(fd);
	event_base_loop(base, EVLOOP_NONBLOCK);
	return got;
}

struct fixed_head {
	const void *p;
	size_t len;
};

static size_t
fixed_head(void *arg, uint8_t *buf, size_t cap)
{
	struct fixed_head *h = arg;
	size_t n = h->len < cap ? h->len : cap;

	if (n)
		memcpy(buf, h->p, n);
	return n;
}

size_t
fuzz_net_exchange(int port, const void *head, size_t hlen, const uint8_t *data, size_t len)
{
	struct fixed_head h = { head, hlen };

	return fuzz_net_exchange_fn(port, fixed_head, &h, data, len);
}
