/*
 * net_listener.c: the transport set (struct net), its listeners, and the
 * list of every connection they accepted.
 *
 * A listener binds each address of its bind list to one port: with port
 * 0 the first address picks a free port and the others bind that same
 * one, so a client resolving "localhost" to either 127.0.0.1 or ::1
 * reaches the same listener. IPv6 sockets are IPV6_V6ONLY when the list
 * also holds an IPv4 address (so "0.0.0.0, ::" binds both), and dual
 * stack when "::" stands alone.
 *
 * Limits: a connection over its listener's max_connections, the
 * broker-wide one, or max_handshakes (connections accepted and not yet
 * logged in, which an unauthenticated client can hold for the handshake
 * deadline with buffers of up to a TLS record and a CONNECT each; past
 * it the oldest of them goes instead if it has waited a second:
 * evict_oldest) is accepted and closed at once (the client sees a reset,
 * not a hang in the backlog), with a warning at most every 10 s per
 * listener. A failed accept() (out of descriptors: the connection
 * stays in the backlog) stops that socket's accepting for 100 ms rather
 * than spinning on it.
 *
 * A listener may take another net's listening sockets instead of
 * binding (net_listen_take: a cluster follower's proxies hand theirs to
 * the broker's listeners once it leads), so the port is never unbound
 * and no connection waiting in the backlog is reset.
 *
 * Shutdown stops accepting, hands every connection to its protocol's
 * shutdown op and calls done() from a deferred event once the list is
 * empty; whatever is left after the linger time is freed.
 */
#include "net_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bk_time.h"

#define LIMIT_LOG_EVERY_MS 10000
/* A connection that has waited this share of its handshake deadline (a
 * second of the default 10 s) to log in may be closed for a newcomer at
 * max_handshakes. */
#define HS_EVICT_AFTER_DIV 10
/* How long a listener stops accepting after accept() failed. */
#define ACCEPT_RETRY_MS 100
/* A random free port may be free on 127.0.0.1 and taken on ::1. */
#define PORT_TRIES 8

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	void (*done)(void *) = n->done;

	n->done = NULL;
	if (n->linger_ev)
		event_del(n->linger_ev);
	if (done)
		done(n->done_arg);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;

	if (n->nconns > 0)
		bk_warn("shutdown: closing %u connections that did not close in time",
			n->nconns);
	/* conns first: a close may move a connection from hs to conns */
	for (int k = 0; k < 2; k++) {
		for (struct net_conn *nc = k ? n->hs : n->conns, *next; nc; nc = next) {
			next = nc->next;
			if (!nc->free_pending)
				nc->end = NET_END_SHUTDOWN;
			net_conn_close(nc);
		}
	}
}

struct net *
net_new(struct event_base *base, struct bk_broker *broker, const struct net_config *cfg)
{
	struct net *n = bk_calloc(1, sizeof(*n));

	n->base = base;
	n->broker = broker;
	if (cfg)
		n->cfg = *cfg;
	n->ltail = &n->listeners;
	n->next_id = 1;
	n->done_ev = event_new(base, -1, 0, done_cb, n);
	n->linger_ev = event_new(base, -1, 0, linger_cb, n);
	n->reap_ev = event_new(base, -1, 0, net_conn_reap_cb, n);
	n->tick_ev = event_new(base, -1, EV_PERSIST, net_conn_tick_cb, n);
	return n;
}

int
net_start_io(struct net *n, unsigned threads, char *err, size_t errlen)
{
	int res;

	if (threads == 0)
		return 0;
	if ((res = net_io_start(n, threads)) < 0)
		snprintf(err, errlen, "cannot start %u I/O threads: %s", threads, strerror(-res));
	return res;
}

/*
 * broker.max_handshakes is reached: close the connection that has waited
 * longest to log in if it has waited a tenth of its handshake deadline (a
 * second by default: HS_EVICT_AFTER_DIV), so that a new one
 * may come in. Connections that hold their handshake open (a flood of
 * idle sockets, each kept to its deadline) then cannot keep clients
 * that log in at once out, unless they come faster than one per
 * max_handshakes per that time; a burst of clients that are all
 * still in their handshake (a reconnect storm) is not thinned by itself,
 * the newcomers are refused instead. false: none was old enough.
 */
static bool
evict_oldest(struct net *n)
{
	struct net_conn *old = n->hs_oldest;
	struct timeval due, now, left;
	uint64_t now_ms = bk_now_ms();
	long waited;

	if (old == NULL || old->timer == NULL ||
	    !event_pending(old->timer, EV_TIMEOUT, &due))
		return false;
	event_base_gettimeofday_cached(n->base, &now);
	evutil_timersub(&due, &now, &left);
	waited = (long)old->l->cfg.handshake_ms - (long)(left.tv_sec * 1000 + left.tv_usec / 1000);
	if (waited < (long)(old->l->cfg.handshake_ms / HS_EVICT_AFTER_DIV))
		return false;
	if (now_ms - n->evict_logged_ms >= LIMIT_LOG_EVERY_MS) {
		n->evict_logged_ms = now_ms;
		bk_warn("broker.max_handshakes (%u) reached: closing the connections not yet "
			"logged in that waited longest (%ld ms or more) for new ones",
			n->cfg.max_handshakes, waited);
	}
	net_conn_log(old, BK_LOG_INFO, "not logged in after %ld ms with broker.max_handshakes "
		     "reached: closing for a new connection", waited);
	net_conn_deadline_stop(old);
	old->end = NET_END_DEADLINE;
	net_conn_close(old);
	return true;
}

static bool
over_limit(struct net_listener *l)
{
	struct net *n = l->net;
	uint64_t now;
	const char *which;
	uint32_t limit;

	if (l->cfg.max_connections && l->nconns >= l->cfg.max_connections) {
		which = "the listener's max_connections";
		limit = l->cfg.max_connections;
	} else if (n->cfg.max_connections && n->nconns >= n->cfg.max_connections) {
		which = "broker.max_connections";
		limit = n->cfg.max_connections;
	} else if (l->cfg.handshake_ms && n->cfg.max_handshakes &&
		   n->nhandshakes >= n->cfg.max_handshakes && !evict_oldest(n)) {
		which = "broker.max_handshakes (connections not yet logged in)";
		limit = n->cfg.max_handshakes;
	} else {
		return false;
	}
	now = bk_now_ms();
	if (now - l->refused_logged_ms >= LIMIT_LOG_EVERY_MS) {
		l->refused_logged_ms = now;
		bk_warn("%s: connection refused: %s (%u) reached", l->name, which, limit);
	}
	return true;
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
	  int salen, void *arg)
{
	struct net_listener *l = arg;

	if (l->net->shutting_down || over_limit(l)) {
		evutil_closesocket(fd);
		return;
	}
	net_conn_accept(l, fd, sa, salen);
}

static void
accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net_listener *l = arg;

	if (l->net->shutting_down)
		return;
	for (int i = 0; i < l->nlev; i++)
		evconnlistener_enable(l->lev[i]);
}

/*
 * accept() failed for another reason than "try again": out of
 * descriptors (EMFILE, ENFILE) or memory (ENOBUFS, ENOMEM), mostly. The
 * connection stays in the backlog and the listening socket readable, so
 * accepting again at once would spin the loop (and log) as fast as it
 * runs. Stop accepting on that socket for ACCEPT_RETRY_MS, as nginx and
 * Erlang's ranch do, with a warning at most every 10 s; the backlog
 * waits meanwhile.
 */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct net_listener *l = arg;
	struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
	int err = EVUTIL_SOCKET_ERROR();
	uint64_t now = bk_now_ms();

	if (now - l->accept_err_logged_ms >= LIMIT_LOG_EVERY_MS) {
		l->accept_err_logged_ms = now;
		bk_warn("%s: accept failed on port %d: %s (accepting again every %d ms)",
			l->name, l->port, evutil_socket_error_to_string(err), ACCEPT_RETRY_MS);
	}
	evconnlistener_disable(lev);
	if (l->accept_retry == NULL)
		l->accept_retry = evtimer_new(l->net->base, accept_retry_cb, l);
	if (l->accept_retry)
		evtimer_add(l->accept_retry, &tv);
}

void
net_conn_gone(struct net_conn *nc)
{
	struct net *n = nc->l->net;

	net_conn_unlink(nc);
	n->nconns--;
	nc->l->nconns--;
	if (n->shutting_down && n->nconns == 0 && n->done)
		event_active(n->done_ev, 0, 0);
}

/* Split "a, b ,c" into at most NET_MAX_BINDS trimmed words in buf. */
static int
split_binds(char *buf, char **out)
{
	int k = 0;

	for (char *tok = strtok(buf, ", \t"); tok && k < NET_MAX_BINDS;
	     tok = strtok(NULL, ", \t"))
		out[k++] = tok;
	return k;
}

static void
close_all(struct net_listener *l)
{
	for (int i = 0; i < l->nlev; i++)
		evconnlistener_free(l->lev[i]);
	l->nlev = 0;
}

/* Bind every address to one port. 0, or -errno with the reason in err. */
static int
bind_all(struct net_listener *l, char **addrs, int naddrs, char *err, size_t errlen)
{
	bool has4 = false;
	int port = l->cfg.port;

	for (int i = 0; i < naddrs; i++)
		has4 |= strchr(addrs[i], ':') == NULL;
	for (int i = 0; i < naddrs; i++) {
		struct evconnlistener *lev;

		lev = net_addr_listen(l->net->base, addrs[i], port, has4, accept_cb, l);
		if (lev == NULL) {
			int e = errno;

			if ((e == EAFNOSUPPORT || e == EADDRNOTAVAIL) && naddrs > 1) {
				bk_warn("%s: not listening on %s: %s", l->name, addrs[i], strerror(e));
				continue;
			}
			snprintf(err, errlen, "%s listen on %s:%d: %s", l->name, addrs[i], port,
				 e == EINVAL ? "not a numeric address" : strerror(e));
			close_all(l);
			return -e;
		}
		evconnlistener_set_error_cb(lev, accept_error_cb);
		if (port == 0)
			port = net_addr_local_port(evconnlistener_get_fd(lev), 0);
		l->lev[l->nlev++] = lev;
	}
	if (l->nlev == 0) {
		snprintf(err, errlen, "%s: no address to listen on", l->name);
		return -EADDRNOTAVAIL;
	}
	l->port = port;
	return 0;
}

static void
listener_free(struct net_listener *l)
{
	if (l->accept_retry)
		event_free(l->accept_retry);
	close_all(l);
	bk_free(l->name);
	bk_free(l->protocol);
	bk_free(l->bind);
	bk_free(l->ws_path);
	bk_free(l->ws_protocol);
	bk_free(l);
}

static char *
dup_or_null(const char *s)
{
	return s ? bk_strdup(s) : NULL;
}

/*
 * The sockets of from's listener named like l, bound to l's addresses and
 * port, move to l with what waits in their backlogs: the evconnlisteners
 * themselves change hands, so the descriptors stay the same. false when
 * from has no such listener (l then binds its own).
 */
static bool
take_socks(struct net_listener *l, struct net *from)
{
	struct net_listener *o;

	for (o = from ? from->listeners : NULL; o; o = o->next)
		if (strcmp(o->name, l->name) == 0)
			break;
	if (o == NULL || o->nlev == 0 || from->base != l->net->base ||
	    strcmp(o->bind, l->bind) != 0 || (l->cfg.port != 0 && l->cfg.port != o->port))
		return false;
	for (int i = 0; i < o->nlev; i++) {
		l->lev[i] = o->lev[i];
		evconnlistener_set_cb(l->lev[i], accept_cb, l);
		evconnlistener_set_error_cb(l->lev[i], accept_error_cb);
		evconnlistener_enable(l->lev[i]);
	}
	l->nlev = o->nlev;
	l->port = o->port;
	o->nlev = 0;
	return true;
}

struct net_listener *
net_listen(struct net *n, const struct net_listen_config *cfg, char *err, size_t errlen)
{
	return net_listen_take(n, cfg, NULL, err, errlen);
}

struct net_listener *
net_listen_take(struct net *n, const struct net_listen_config *cfg, struct net *from,
		char *err, size_t errlen)
{
	struct net_listener *l = bk_calloc(1, sizeof(*l));
	char *addrs[NET_MAX_BINDS], *copy = bk_strdup(cfg->bind ? cfg->bind : "");
	int naddrs = split_binds(copy, addrs), res = 0;
	bool taken;

	l->net = n;
	l->cfg = *cfg;
	l->name = bk_strdup(cfg->name);
	l->protocol = bk_strdup(cfg->protocol ? cfg->protocol : cfg->name);
	l->bind = bk_strdup(cfg->bind ? cfg->bind : "");
	l->ws_path = dup_or_null(cfg->ws_path ? cfg->ws_path : "/ws");
	l->ws_protocol = dup_or_null(cfg->ws_protocol);
	if (naddrs == 0) {
		snprintf(err, errlen, "%s: empty bind list", l->name);
		goto fail;
	}
	if ((cfg->transport == NET_TLS || cfg->transport == NET_WSS) && cfg->tls == NULL) {
		snprintf(err, errlen, "%s: TLS listener without a [tls] section", l->name);
		goto fail;
	}
	taken = take_socks(l, from);
	for (int tries = 0; !taken && tries < PORT_TRIES; tries++) {
		res = bind_all(l, addrs, naddrs, err, errlen);
		if (res != -EADDRINUSE || cfg->port != 0)
			break;
	}
	if (res < 0)
		goto fail;
	for (int i = 0; i < naddrs; i++) {
		if (strchr(addrs[i], ':'))
			bk_info("listening %s [%s]:%d%s", l->name, addrs[i], l->port,
				taken ? " (socket handed over)" : "");
		else
			bk_info("listening %s %s:%d%s", l->name, addrs[i], l->port,
				taken ? " (socket handed over)" : "");
	}
	bk_free(copy);
	*n->ltail = l;
	n->ltail = &l->next;
	return l;
fail:
	bk_free(copy);
	listener_free(l);
	return NULL;
}

int
net_listener_port(const struct net_listener *l)
{
	return l->port;
}

int
net_listeners_each(struct net *n, net_listener_each_fn fn, void *arg)
{
	int rc;

	for (struct net_listener *l = n->listeners; l; l = l->next) {
		struct net_listener_view v = {
			.name = l->name, .protocol = l->protocol, .bind = l->bind,
			.port = l->port, .tls = l->cfg.transport == NET_TLS ||
						l->cfg.transport == NET_WSS,
			.ctx = l->cfg.tls, .connections = l->nconns,
		};

		if ((rc = fn(arg, &v)) != 0)
			return rc;
	}
	return 0;
}

void
net_shutdown(struct net *n, uint32_t linger_ms, void (*done)(void *arg), void *arg)
{
	struct net_conn *nc, *next;
	struct timeval tv = { linger_ms / 1000, (linger_ms % 1000) * 1000 };

	n->shutting_down = true;
	n->done = done;
	n->done_arg = arg;
	for (struct net_listener *l = n->listeners; l; l = l->next)
		for (int i = 0; i < l->nlev; i++)
			evconnlistener_disable(l->lev[i]);
	/* conns first: a close may move a connection from hs to conns */
	for (int k = 0; k < 2; k++) {
		for (nc = k ? n->hs : n->conns; nc; nc = next) {
			next = nc->next;
			if (nc->free_pending || nc->flush_then_free)
				continue;
			if (nc->opened && nc->l->cfg.ops->shutdown)
				nc->l->cfg.ops->shutdown(nc->ctx);
			else
				net_conn_close(nc);
		}
	}
	event_add(n->linger_ev, &tv);
	if (n->nconns == 0 && n->done)
		event_active(n->done_ev, 0, 0);
}

void
net_free(struct net *n)
{
	struct net_listener *l, *next;

	if (!n)
		return;
	n->done = NULL;
	n->shutting_down = true;
	/* Every protocol lets go first; then the I/O threads close their
	 * sockets and stop; then the core halves go. */
	for (int k = 0; k < 2; k++)
		for (struct net_conn *nc = k ? n->hs : n->conns, *next; nc; nc = next) {
			next = nc->next;
			net_conn_drop_protocol(nc, NET_END_SHUTDOWN);
		}
	if (n->io)
		net_io_stop(n);
	n->io_stopped = true;
	while (n->hs)                   /* each goes to conns, then is freed */
		net_conn_free(n->hs, NET_END_SHUTDOWN);
	while (n->conns)
		net_conn_free(n->conns, NET_END_SHUTDOWN);
	net_io_free(n);
	net_poll_free(n->poll);
	for (l = n->listeners; l; l = next) {
		next = l->next;
		listener_free(l);
	}
	if (n->done_ev)
		event_free(n->done_ev);
	if (n->linger_ev)
		event_free(n->linger_ev);
	if (n->reap_ev)
		event_free(n->reap_ev);
	if (n->tick_ev)
		event_free(n->tick_ev);
	bk_free(n);
}
