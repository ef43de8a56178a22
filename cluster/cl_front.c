/*
 * cl_front.c: a follower's client listeners. Every listener the node is
 * configured with (AMQP, AMQPS, MQTT, MQTTS, WebSockets, HTTP) accepts
 * as on a leader, and each connection is a transparent TCP proxy to the
 * same listener of the leader, so a client or load balancer that knows
 * one address reaches the leader through any node.
 *
 *   client --net_conn--> [follower: cl_proxy] --bufferevent--> leader's
 *          <-------------  bytes both ways, unchanged  <------  listener
 *
 * Where the leader listens: its host is the one its etcd key advertises
 * (the replication connection's), its port per listener name comes in
 * the leader's 'L' frame (cl_front_advert) right after its proof. Until
 * that frame arrives, and from the moment the replication connection
 * drops, there is no target: a new connection is refused at once (closed
 * before any byte) rather than left hanging. So is one whose connection
 * to the leader's listener fails (at once or within CONNECT_MS). A plain
 * HTTP client is answered 503 instead (cl_front_http.c), a plain MQTT
 * client a CONNACK "server unavailable" (cl_front_mqtt.c), whichever the
 * reason. When another node leads
 * (cl_front_changed), every proxied connection is closed: its client
 * reconnects, through the same address, to the new leader. An HTTP
 * request that went to no leader yet is answered instead.
 *
 * TLS (AMQPS, MQTTS, WSS, HTTPS) is forwarded as raw bytes, not
 * terminated here: the client's TLS session is with the leader, so a
 * client certificate (EXTERNAL, verify = peer) reaches the node that
 * checks it, the follower never sees plaintext, and nothing is
 * encrypted twice. Every node serves the same certificate, so a client
 * that verifies the host name sees the name it asked for. WebSocket
 * upgrades are forwarded the same way.
 *
 * Back-pressure both ways: the client is not read while more than
 * PROXY_HIGH bytes wait for the leader; the leader is not read while the
 * client's output is over its listener's high watermark.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "bk_log.h"
#include "cl_int.h"
#include "net.h"

#define PROXY_HIGH (1u << 20)           /* client bytes waiting for the leader */
#define CONNECT_MS 5000                 /* connecting to the leader */
#define LINGER_MS 5000                  /* last bytes of a closed client */

enum px_mode {
	PX_RAW,                         /* bytes both ways */
	PX_HTTP_HEAD,                   /* reading the first request's head */
	PX_HTTP_OVERVIEW,               /* rewriting the leader's answer */
	PX_MQTT_REFUSING,               /* reading a CONNECT to refuse */
	PX_DONE,                        /* answered here; closing */
};

struct cl_proxy {
	struct cl_front *f;
	struct cl_front_ln *ln;
	enum px_mode mode;
	struct net_conn *nc;            /* NULL once the client is gone */
	struct bufferevent *up;         /* to the leader */
	bool up_connected;              /* the leader accepted the connection */
	bool http;                      /* the plain HTTP listener's */
	bool mqtt;                      /* the plain MQTT listener's */
	const char *why;                /* PX_MQTT_REFUSING: the reason */
	struct cl_proxy *prev, *next;   /* f->conns, or f->lingering */
};


struct cl_front_ln {
	struct cl_front *f;
	char name[CL_FRONT_NAME];
};

struct cl_front {
	struct event_base *base;
	char node[CL_NAME_MAX];         /* this node's cluster.node_name */
	struct sockaddr_storage addr;   /* the leader, port 0 */
	socklen_t addrlen;              /* 0: no leader to proxy to */
	char host[256];
	struct cl_front_tgt tgt[CL_FRONT_MAX];
	int ntgt;
	struct cl_front_ln ln[CL_FRONT_MAX];    /* the arg of each local listener */
	int nln;
	struct cl_proxy *conns, *lingering;
};

static void
unlink_proxy(struct cl_proxy **head, struct cl_proxy *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		*head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void
link_proxy(struct cl_proxy **head, struct cl_proxy *p)
{
	p->prev = NULL;
	p->next = *head;
	if (*head)
		(*head)->prev = p;
	*head = p;
}

static void
up_free(struct cl_proxy *p)
{
	if (p->up)
		bufferevent_free(p->up);
	p->up = NULL;
}

/* ---- the leader's side ------------------------------------------------ */

/* Leader bytes to the client, unless its output is full. */
static void
pump_down(struct cl_proxy *p)
{
	struct evbuffer *in = bufferevent_get_input(p->up);

	if (p->nc == NULL || net_conn_closing(p->nc)) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (p->mode == PX_HTTP_OVERVIEW) {
		int rc = cl_front_http_rewrite(in, net_conn_output(p->nc), p->f->node,
					       p->f->host);

		if (rc == 0)
			return;
		p->mode = PX_RAW;
		if (rc == 1) {          /* one answer, rewritten: the end */
			p->mode = PX_DONE;
			evbuffer_drain(in, evbuffer_get_length(in));
			net_conn_close_after_flush(p->nc, 2000);
			return;
		}
	}
	evbuffer_add_buffer(net_conn_output(p->nc), in);
	if (net_conn_output_full(p->nc))
		bufferevent_disable(p->up, EV_READ);
}

static void
on_up_read(struct bufferevent *bev, void *arg)
{
	pump_down(arg);
}

/* The leader took what waited: read the client again. A lingering
 * proxy is done once nothing waits. */
static void
on_up_write(struct bufferevent *bev, void *arg)
{
	struct cl_proxy *p = arg;

	if (p->nc == NULL) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
			unlink_proxy(&p->f->lingering, p);
			up_free(p);
			bk_free(p);
		}
		return;
	}
	net_conn_pause(p->nc, NET_PAUSE_PROTO, false);
}

/* An HTTP client answered here: 503 with why, then closed. Its request
 * is not read further. */
static void
http_refuse(struct cl_proxy *p, const char *why)
{
	bk_info("conn=%llu peer=%s proto=%s: refused: %s", (unsigned long long)net_conn_id(p->nc),
		net_conn_peer(p->nc), p->ln->name, why);
	cl_front_http_unavailable(net_conn_output(p->nc), p->f->node, why);
	p->mode = PX_DONE;
	net_conn_close_after_flush(p->nc, 2000);
}

/* PX_MQTT_REFUSING: a CONNACK "server unavailable" once the CONNECT's
 * start is in (cl_front_mqtt.c), then closed. */
static void
mqtt_refuse(struct cl_proxy *p)
{
	struct evbuffer *in = net_conn_input(p->nc);
	int rc = cl_front_mqtt_refuse(in, net_conn_output(p->nc), p->why);

	if (rc == 0)
		return;
	evbuffer_drain(in, evbuffer_get_length(in));
	p->mode = PX_DONE;
	net_conn_close_after_flush(p->nc, 2000);
}

/* The leader's listener could not be reached (refused, unreachable,
 * CONNECT_MS without an answer): an HTTP client gets the 503 of a
 * follower without a leader, an MQTT one its CONNACK, rather than a
 * connection closed unanswered. */
static void
up_unreachable(struct cl_proxy *p, short what)
{
	char why[160];
	int err = EVUTIL_SOCKET_ERROR();

	/* what the client sent is read again, to answer it */
	if (p->up && p->mqtt)
		evbuffer_prepend_buffer(net_conn_input(p->nc), bufferevent_get_output(p->up));
	up_free(p);
	snprintf(why, sizeof(why), "the leader cannot be reached: %s",
		 (what & BEV_EVENT_TIMEOUT) ? "timed out" :
		 err ? evutil_socket_error_to_string(err) : "connection failed");
	if (p->http && p->mode != PX_DONE) {
		http_refuse(p, why);
		return;
	}
	bk_info("conn=%llu peer=%s proto=%s: refused: %s", (unsigned long long)net_conn_id(p->nc),
		net_conn_peer(p->nc), p->ln->name, why);
	if (p->mqtt && p->mode != PX_DONE) {
		p->mode = PX_MQTT_REFUSING;
		p->why = "the leader cannot be reached";
		mqtt_refuse(p);
		return;
	}
	net_conn_close_after_flush(p->nc, 2000);
}

static void
on_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct cl_proxy *p = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		bufferevent_set_timeouts(bev, NULL, NULL);
		p->up_connected = true;
		if (p->nc)
			net_conn_ready(p->nc);
		return;
	}
	if (p->nc == NULL) {            /* lingering: give up */
		unlink_proxy(&p->f->lingering, p);
		up_free(p);
		bk_free(p);
		return;
	}
	if (!p->up_connected) {
		up_unreachable(p, what);
		return;
	}
	pump_down(p);
	up_free(p);
	/* the leader closed or died: so does the client */
	net_conn_close_after_flush(p->nc, 2000);
}

/* ---- the client's side (net_proto_ops) -------------------------------- */

static int
target_port(const struct cl_front *f, const char *name)
{
	for (int i = 0; i < f->ntgt; i++)
		if (strcmp(f->tgt[i].name, name) == 0)
			return f->tgt[i].port;
	return 0;
}

static bool
is_loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return sa->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* Refused before any byte: no leader, or a remote client that would
 * pass for a local one (the leader sees this node as the peer, and
 * guest is loopback-only by default). */
static const char *
refusal(struct cl_front *f, struct net_conn *nc, int port)
{
	if (f->addrlen == 0)
		return "no leader is known (election under way)";
	if (port == 0)
		return "the leader has no such listener";
	if (!net_conn_peer_is_loopback(nc) && is_loopback(&f->addr))
		return "a remote client is not proxied to a leader on loopback, where it "
		       "would pass for a local one";
	return NULL;
}

/* Connect p to the leader's listener; what the client sent waits in
 * the bufferevent's output meanwhile. 0, or -1 with errno set (the
 * connect failed at once: no descriptor, no route). */
static int
connect_up(struct cl_proxy *p, int port)
{
	struct cl_front *f = p->f;
	struct sockaddr_storage sa = f->addr;
	struct timeval tv = { CONNECT_MS / 1000, 0 };

	if (sa.ss_family == AF_INET)
		((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
	p->up = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(p->up, on_up_read, on_up_write, on_up_event, p);
	bufferevent_setwatermark(p->up, EV_WRITE, PROXY_HIGH / 2, 0);
	bufferevent_set_timeouts(p->up, &tv, &tv);
	bufferevent_enable(p->up, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(p->up, (struct sockaddr *)&sa, (int)f->addrlen) < 0) {
		int err = errno;

		up_free(p);
		errno = err;
		return -1;
	}
	return 0;
}

static void *
proxy_open(void *arg, struct net_conn *nc)
{
	struct cl_front_ln *ln = arg;
	struct cl_front *f = ln->f;
	int port = target_port(f, ln->name);
	const char *why = refusal(f, nc, port);
	struct cl_proxy *p;

	bool http = strcmp(ln->name, "http") == 0, mqtt = strcmp(ln->name, "mqtt") == 0;

	/* HTTP reads its first request's head first (cl_front_http.c); MQTT
	 * is answered a CONNACK (cl_front_mqtt.c); the others are closed */
	if (why != NULL && !http) {
		bk_info("conn=%llu peer=%s proto=%s: refused: %s",
			(unsigned long long)net_conn_id(nc), net_conn_peer(nc), ln->name, why);
		if (!mqtt)
			return NULL;
	}
	p = bk_calloc(1, sizeof(*p));
	p->f = f;
	p->nc = nc;
	p->ln = ln;
	p->http = http;
	p->mqtt = mqtt;
	p->why = why;
	p->mode = http ? PX_HTTP_HEAD : why ? PX_MQTT_REFUSING : PX_RAW;
	if (p->mode == PX_RAW && connect_up(p, port) < 0) {
		bk_info("conn=%llu peer=%s proto=%s: refused: the leader cannot be reached: %s",
			(unsigned long long)net_conn_id(nc), net_conn_peer(nc), ln->name,
			strerror(errno));
		if (!mqtt) {
			bk_free(p);
			return NULL;
		}
		p->mode = PX_MQTT_REFUSING;
		p->why = "the leader cannot be reached";
	}
	link_proxy(&f->conns, p);
	return p;
}

/* The first request's head is in: answer 503, or go to the leader. */
static void
http_first(struct cl_proxy *p)
{
	struct cl_front *f = p->f;
	int port = target_port(f, p->ln->name);
	const char *why;
	bool overview;

	if (cl_front_http_head(net_conn_input(p->nc), &overview) == 0)
		return;
	if ((why = refusal(f, p->nc, port)) != NULL) {
		http_refuse(p, why);
		return;
	}
	p->mode = overview ? PX_HTTP_OVERVIEW : PX_RAW;
	if (connect_up(p, port) < 0)
		up_unreachable(p, 0);
}

static void
proxy_read(void *ctx)
{
	struct cl_proxy *p = ctx;
	struct evbuffer *in = net_conn_input(p->nc);

	if (p->mode == PX_MQTT_REFUSING) {
		mqtt_refuse(p);
		return;
	}
	if (p->mode == PX_HTTP_HEAD)
		http_first(p);
	if (p->mode == PX_HTTP_HEAD)
		return;
	if (p->up == NULL) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	evbuffer_add_buffer(bufferevent_get_output(p->up), in);
	if (evbuffer_get_length(bufferevent_get_output(p->up)) > PROXY_HIGH)
		net_conn_pause(p->nc, NET_PAUSE_PROTO, true);
}

static void
proxy_writable(void *ctx)
{
	struct cl_proxy *p = ctx;

	if (p->up == NULL)
		return;
	bufferevent_enable(p->up, EV_READ);
	pump_down(p);
}

static void
proxy_shutdown(void *ctx)
{
	struct cl_proxy *p = ctx;

	net_conn_close_after_flush(p->nc, 1000);
}

/* The client is gone. What it sent last (an MQTT DISCONNECT, an AMQP
 * connection.close) still goes to the leader: a will must not fire for
 * a client that said goodbye. */
static void
proxy_free(void *ctx, enum net_end why)
{
	struct cl_proxy *p = ctx;
	struct cl_front *f = p->f;
	struct timeval tv = { LINGER_MS / 1000, 0 };

	unlink_proxy(&f->conns, p);
	p->nc = NULL;
	if (p->up && why != NET_END_SHUTDOWN &&
	    evbuffer_get_length(bufferevent_get_output(p->up)) > 0) {
		bufferevent_disable(p->up, EV_READ);
		bufferevent_setwatermark(p->up, EV_WRITE, 0, 0);
		bufferevent_set_timeouts(p->up, NULL, &tv);
		link_proxy(&f->lingering, p);
		return;
	}
	up_free(p);
	bk_free(p);
}

const struct net_proto_ops cluster_proxy_ops = {
	.version = NET_PROTO_OPS_V1, .open = proxy_open, .read = proxy_read,
	.writable = proxy_writable, .shutdown = proxy_shutdown, .free = proxy_free,
	.name = "proxy",
};

/* ---- the front ---------------------------------------------------------- */

struct cl_front *
cl_front_new(struct event_base *base, const char *node)
{
	struct cl_front *f = bk_calloc(1, sizeof(*f));

	f->base = base;
	snprintf(f->node, sizeof(f->node), "%s", node);
	return f;
}

void *
cl_front_listener(struct cl_front *f, const char *name)
{
	for (int i = 0; i < f->nln; i++)
		if (strcmp(f->ln[i].name, name) == 0)
			return &f->ln[i];
	if (f->nln == CL_FRONT_MAX || strlen(name) >= CL_FRONT_NAME)
		return NULL;
	f->ln[f->nln].f = f;
	snprintf(f->ln[f->nln].name, CL_FRONT_NAME, "%s", name);
	return &f->ln[f->nln++];
}

int
cl_front_leader(struct cl_front *f, const char *host, const uint8_t *p, size_t len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int n;

	f->addrlen = 0;
	f->ntgt = 0;
	if (host == NULL)
		return 0;
	if ((n = cl_front_advert_parse(p, len, f->tgt)) < 0)
		return n;
	if (getaddrinfo(host, "0", &hints, &ai) != 0 || ai == NULL ||
	    ai->ai_addrlen > sizeof(f->addr)) {
		bk_warn("cluster: cannot resolve the leader's address %s: clients are refused",
			host);
		if (ai)
			freeaddrinfo(ai);
		return 0;
	}
	memcpy(&f->addr, ai->ai_addr, ai->ai_addrlen);
	f->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	f->ntgt = n;
	snprintf(f->host, sizeof(f->host), "%s", host);
	bk_info("cluster: clients of this node go to the leader at %s (%d listeners)", host, n);
	return 0;
}

/* Proxied connections are closed; an HTTP request that reached no
 * leader yet is not: one still being read is answered once whole, with
 * what is known then, one waiting for the old leader to accept gets a
 * 503. A connection closed with its request unread would reach the
 * client as a reset, not an answer. */
void
cl_front_changed(struct cl_front *f)
{
	uint64_t n = 0;

	f->addrlen = 0;
	f->ntgt = 0;
	/* each leaves the list in proxy_free, from the reaper */
	for (struct cl_proxy *p = f->conns; p; p = p->next) {
		if (p->mode == PX_DONE || p->mode == PX_HTTP_HEAD || p->mode == PX_MQTT_REFUSING ||
		    net_conn_closing(p->nc))
			continue;
		if (p->http && !p->up_connected) {
			up_free(p);
			http_refuse(p, "the leader changed");
			continue;
		}
		p->mode = PX_DONE;
		up_free(p);
		net_conn_close(p->nc);
		n++;
	}
	if (n)
		bk_info("cluster: the leader changed: %llu proxied connections closed",
			(unsigned long long)n);
}

void
cl_front_free(struct cl_front *f)
{
	if (f == NULL)
		return;
	BK_ASSERT(f->conns == NULL);    /* the net of the proxies is freed first */
	while (f->lingering) {
		struct cl_proxy *p = f->lingering;

		unlink_proxy(&f->lingering, p);
		up_free(p);
		bk_free(p);
	}
	bk_free(f);
}
