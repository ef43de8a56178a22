/*
 * cl_leader.c: the leader's replication listener. Each follower
 * connection goes
 *
 *   AUTH --hello ok--> WAIT --batches < S written--> COPY --files sent--> LIVE
 *
 * where S is the first batch sealed after the hello: from then on every
 * sealed batch is queued for the follower (cl_copy.c sends the files,
 * then the queue, then 'E'), and in LIVE goes straight to it. Replaying
 * batches >= S over files read while those batches were being written
 * is safe because every operation is a positional write, a rename or an
 * unlink: the last one wins, in order.
 *
 * Completions. A batch completes (st_journal_repl_release) once every
 * follower that counts has acknowledged it and at least min_in_sync of
 * them are recorded in etcd's in-sync set; a follower counts from its
 * first acknowledgement at or past its 'E' until its connection ends,
 * and still holds completions back after that until etcd has recorded
 * it out of the set (the node could otherwise win an election without
 * a batch the leader confirmed). Nothing is released once the lease may
 * have run out (cl_coord_fence): a fenced leader exits at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "bk_admin.h"
#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_leader_int.h"
#include "net.h"

#define FENCE_CHECK_MS 50
/* Connections that have not said hello yet: past this many, a new one
 * closes the oldest (see conn_open). */
#define MAX_WITHOUT_HELLO 16
#define EVICT_LOG_EVERY_MS 10000

static void
fence_exit(const char *why)
{
	bk_error("cluster: %s: this node stops leading now (fenced)", why);
	_exit(1);
}

/* A follower that has not acknowledged a batch sealed lease_ttl ago
 * goes, as one too many bytes behind does (check_lag). */
static void
check_stalled(struct cl_leader *l, uint64_t now)
{
	uint64_t sealed = st_journal_repl_sealed(l->j);

	for (struct cl_fconn *c = l->conns; c; c = c->next) {
		const struct cl_mark *k;
		uint64_t since;

		if (c->state != CL_F_LIVE || c->mb->acked >= sealed || net_conn_closing(c->nc))
			continue;
		/* from the seal of the first batch it owes, or from when it
		 * went live if that is later (it owes the copy's batches only
		 * from then) */
		k = &l->ring[(c->mb->acked + 1) % CL_RING];
		since = k->seq == c->mb->acked + 1 && k->ms > c->live_ms ? k->ms : c->live_ms;
		if (now - since < l->cfg->lease_ttl * 1000u)
			continue;
		bk_warn("cluster: follower %s has not acknowledged a batch for %u s: "
			"disconnecting it", c->mb->name, l->cfg->lease_ttl);
		net_conn_close(c->nc);
	}
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct cl_leader *l = arg;
	uint64_t now = cl_mono_ms();

	if (now >= cl_coord_fence(l->coord))
		fence_exit("the etcd lease could not be renewed in time");
	check_stalled(l, now);
}

void
cl_leader_recompute(struct cl_leader *l)
{
	uint64_t rel = st_journal_repl_sealed(l->j);
	uint32_t n = 0;

	if (cl_mono_ms() >= cl_coord_fence(l->coord))
		return;
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++) {
		struct cl_member *m = &l->mb[i];
		bool rec;

		if (!m->used)
			continue;
		cl_coord_insync(l->coord, m->name, &rec);
		if ((m->counted || rec) && m->acked < rel)
			rel = m->acked;
		if (m->counted && rec && m->conn)
			n++;
	}
	if (n < l->cfg->min_in_sync || rel <= l->released)
		return;
	l->released = rel;
	st_journal_repl_release(l->j, rel);
}

void
cl_leader_insync_changed(struct cl_leader *l)
{
	cl_leader_recompute(l);
}

/* ---- the journal's hook ------------------------------------------------ */

/* A follower more than max_lag behind goes (out of the in-sync set with
 * its connection); it reconnects and fetches what changed. */
static void
check_lag(struct cl_leader *l, struct cl_fconn *c)
{
	uint64_t bytes = evbuffer_get_length(c->pending), records = 0;

	if (c->state == CL_F_LIVE)
		cl_leader_lag(l, c->mb, &bytes, &records);
	if (bytes <= l->cfg->max_lag || net_conn_closing(c->nc))
		return;
	bk_warn("cluster: follower %s is %llu bytes behind (max_follower_lag): "
		"disconnecting it", c->mb->name, (unsigned long long)bytes);
	net_conn_close(c->nc);
}

static void
on_sealed(void *arg, const struct st_repl_batch *b)
{
	struct cl_leader *l = arg;
	struct evbuffer *f = evbuffer_new();
	uint8_t h[12];
	size_t len = 12;

	for (size_t i = 0; i < b->nops; i++)
		len += cl_op_size(&b->ops[i]);
	cl_frame_begin(f, 'B', len);
	cl_put_u64(h, b->seq);
	cl_put_u32(h + 8, (uint32_t)b->nops);
	evbuffer_add(f, h, sizeof(h));
	for (size_t i = 0; i < b->nops; i++)
		cl_op_put(f, &b->ops[i]);
	l->bytes += b->bytes;
	l->records += b->records;
	l->ring[b->seq % CL_RING] = (struct cl_mark){ b->seq, l->bytes, l->records,
						      cl_mono_ms() };
	for (struct cl_fconn *c = l->conns; c; c = c->next) {
		if (c->state == CL_F_LIVE)
			evbuffer_add(net_conn_output(c->nc), evbuffer_pullup(f, -1),
				     evbuffer_get_length(f));
		else if (c->state != CL_F_AUTH)
			evbuffer_add(c->pending, evbuffer_pullup(f, -1), evbuffer_get_length(f));
		if (c->state != CL_F_AUTH)
			check_lag(l, c);
	}
	evbuffer_free(f);
	cl_leader_recompute(l);
}

/* Followers waiting for batches < their start to be written: copy now? */
static void
start_waiting(struct cl_leader *l)
{
	bool waiting = false;

	for (struct cl_fconn *c = l->conns, *next; c; c = next) {
		next = c->next;
		if (c->state != CL_F_WAIT)
			continue;
		if (st_journal_repl_written(l->j, c->start - 1))
			cl_copy_begin(c);
		else
			waiting = true;
	}
	/* batches sealed before the attach have no written call: poll */
	if (waiting && !evtimer_pending(l->wait_ev, NULL)) {
		struct timeval tv = { 0, 10000 };

		evtimer_add(l->wait_ev, &tv);
	}
}

static void
on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
	start_waiting(arg);
}

static void
on_written(void *arg, uint64_t seq, int status)
{
	start_waiting(arg);
}

static const struct st_repl_ops repl_ops = { on_sealed, on_written };

/* ---- connections ------------------------------------------------------- */

static struct cl_member *
member_get(struct cl_leader *l, const char *name)
{
	struct cl_member *slot = NULL;

	for (int i = 0; i < CL_MAX_FOLLOWERS; i++) {
		if (l->mb[i].used && strcmp(l->mb[i].name, name) == 0)
			return &l->mb[i];
		if (!l->mb[i].used && slot == NULL)
			slot = &l->mb[i];
	}
	if (slot) {
		memset(slot, 0, sizeof(*slot));
		slot->used = true;
		snprintf(slot->name, sizeof(slot->name), "%s", name);
	}
	return slot;
}

/*
 * Anyone who reaches the replication port can open a connection and say
 * nothing until the handshake deadline, then open another. Were those
 * refused once a limit is reached, a few idle sockets would keep every
 * follower out for as long as someone cares to hold them (and the leader
 * would complete no batch that needs a follower). So the listener has no
 * limit of its own; authenticated followers are limited by their slots
 * (member_get), and past MAX_WITHOUT_HELLO connections that have not
 * proven the secret yet, the oldest of them goes for the new one: a
 * follower, which says hello as soon as it gets the nonce, is never the
 * oldest for long.
 */
static void
evict_oldest_unproven(struct cl_leader *l)
{
	struct cl_fconn *oldest = NULL;
	int n = 0;
	uint64_t now;

	for (struct cl_fconn *c = l->conns; c; c = c->next) {
		if (c->state != CL_F_AUTH || net_conn_closing(c->nc))
			continue;
		n++;
		oldest = c;             /* the list is newest first */
	}
	if (n < MAX_WITHOUT_HELLO)
		return;
	now = cl_mono_ms();
	if (now - l->evicted_logged_ms >= EVICT_LOG_EVERY_MS) {
		l->evicted_logged_ms = now;
		bk_warn("cluster: %d replication connections without a hello: closing the "
			"oldest (from %s) for a new one", n, net_conn_peer(oldest->nc));
	}
	net_conn_close(oldest->nc);
}

static void *
conn_open(void *arg, struct net_conn *nc)
{
	struct cl_leader *l = arg;
	struct cl_fconn *c;
	uint8_t v = CL_VERSION;

	evict_oldest_unproven(l);
	c = bk_calloc(1, sizeof(*c));

	c->l = l;
	c->nc = nc;
	c->fd = -1;
	c->pending = evbuffer_new();
	RAND_bytes(c->nonce, CL_NONCE);
	cl_frame_begin(net_conn_output(nc), 'N', 1 + CL_NONCE);
	evbuffer_add(net_conn_output(nc), &v, 1);
	evbuffer_add(net_conn_output(nc), c->nonce, CL_NONCE);
	c->next = l->conns;
	l->conns = c;
	return c;
}

static void
refuse(struct cl_fconn *c, const char *why)
{
	bk_warn("cluster: replication connection from %s refused: %s", net_conn_peer(c->nc),
		why);
	net_conn_close(c->nc);
}

static bool
name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n >= CL_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return false;
	return true;
}

/* cluster.tls_peer_name: the follower's verified certificate has it as
 * its CN (net/ verified the certificate against tls.ca_file). */
static bool
peer_name_ok(struct cl_fconn *c)
{
	const char *want = c->l->cfg->tls_peer_name;
	char cn[256], why[400];

	if (want == NULL)
		return true;
	if (net_conn_peer_identity(c->nc, false, cn, sizeof(cn)) < 0)
		snprintf(cn, sizeof(cn), "(none)");
	else if (strcmp(cn, want) == 0)
		return true;
	snprintf(why, sizeof(why), "its certificate's CN '%s' is not cluster.tls_peer_name "
		 "'%s'", cn, want);
	refuse(c, why);
	return false;
}

/* 'H': the secret's proof, the follower's nonce, its name, its files. */
static int
hello(struct cl_fconn *c, const uint8_t *p, size_t len)
{
	struct cl_leader *l = c->l;
	const uint8_t *theirs = p + CL_MAC, *np = p + CL_MAC + CL_NONCE;
	uint8_t mac[CL_MAC];
	char name[CL_NAME_MAX];
	size_t nl, fixed = CL_MAC + CL_NONCE + 1;

	if (len < fixed || (nl = np[0]) > len - fixed || !name_ok(np + 1, nl))
		return -EPROTO;
	memcpy(name, np + 1, nl);
	name[nl] = '\0';
	cl_mac(l->cfg->secret, c->nonce, name, mac);
	if (CRYPTO_memcmp(mac, p, CL_MAC) != 0) {
		refuse(c, "wrong cluster secret");
		return 0;
	}
	if (!peer_name_ok(c))
		return 0;
	if (strcmp(name, l->cfg->node_name) == 0 ||
	    ((c->mb = member_get(l, name)) != NULL && c->mb->conn != NULL)) {
		refuse(c, "a node of that name is connected already");
		c->mb = NULL;
		return 0;
	}
	if (c->mb == NULL) {
		refuse(c, "too many followers");
		return 0;
	}

	if (cl_copy_theirs(c, np + 1 + nl, len - fixed - nl) < 0)
		return -EPROTO;
	cl_mac(l->cfg->secret, theirs, CL_PROOF_LABEL, mac);
	cl_frame_begin(net_conn_output(c->nc), 'P', CL_MAC);
	evbuffer_add(net_conn_output(c->nc), mac, CL_MAC);
	cl_front_advert(l->net, net_conn_output(c->nc));
	c->mb->conn = c;
	net_conn_ready(c->nc);
	c->state = CL_F_WAIT;
	c->start = st_journal_repl_sealed(l->j) + 1;
	bk_info("cluster: follower %s (%s) connected", name, net_conn_peer(c->nc));
	start_waiting(l);
	return 0;
}

/*
 * A hello not all in yet: its MAC and name come first, the file list
 * (up to CL_HELLO_MAX) after them. Checked as soon as they are in, so a
 * peer without the secret is closed before it has made us buffer the
 * rest. 0, or -EPROTO (the prefix is not a hello's); closed (refused)
 * when the MAC is wrong.
 */
static int
hello_prefix(struct cl_fconn *c, struct evbuffer *in, uint32_t len)
{
	size_t fixed = CL_HDR + CL_MAC + CL_NONCE + 1, nl;
	uint8_t mac[CL_MAC], *p;
	char name[CL_NAME_MAX];

	if (c->proven || evbuffer_get_length(in) < fixed)
		return 0;
	if (len - 1 < fixed - CL_HDR)
		return -EPROTO;
	nl = evbuffer_pullup(in, (ev_ssize_t)fixed)[fixed - 1];
	if (nl > len - 1 - (fixed - CL_HDR))
		return -EPROTO;
	if (evbuffer_get_length(in) < fixed + nl)
		return 0;
	p = evbuffer_pullup(in, (ev_ssize_t)(fixed + nl));
	if (!name_ok(p + fixed, nl))
		return -EPROTO;
	memcpy(name, p + fixed, nl);
	name[nl] = '\0';
	cl_mac(c->l->cfg->secret, c->nonce, name, mac);
	if (CRYPTO_memcmp(mac, p + CL_HDR, CL_MAC) != 0)
		refuse(c, "wrong cluster secret");
	else
		c->proven = true;
	return 0;
}

static void
ack(struct cl_fconn *c, uint64_t seq)
{
	struct cl_member *m = c->mb;

	if (c->state != CL_F_LIVE)
		return;
	if (seq > m->acked)
		m->acked = seq;
	if (!m->counted && m->acked >= m->live_from) {
		m->counted = true;
		bk_info("cluster: follower %s caught up", m->name);
		cl_coord_want_insync(c->l->coord, m->name, true);
	}
	cl_leader_recompute(c->l);
}

static void
conn_read(void *ctx)
{
	struct cl_fconn *c = ctx;
	struct evbuffer *in = net_conn_input(c->nc);
	uint8_t h[CL_HDR];

	while (!net_conn_closing(c->nc) && evbuffer_copyout(in, h, CL_HDR) == CL_HDR) {
		uint32_t len = cl_get_u32(h);
		uint8_t *p;
		int rc = -EPROTO;

		if (len < 1 || len > (c->state == CL_F_AUTH ? CL_HELLO_MAX : 9u))
			goto bad;
		if (evbuffer_get_length(in) < CL_HDR - 1 + (size_t)len) {
			if (c->state == CL_F_AUTH && h[4] == 'H' && hello_prefix(c, in, len) < 0)
				goto bad;
			return;
		}
		p = evbuffer_pullup(in, CL_HDR - 1 + (ssize_t)len);
		if (c->state == CL_F_AUTH && h[4] == 'H')
			rc = hello(c, p + CL_HDR, len - 1);
		else if (c->state != CL_F_AUTH && h[4] == 'A' && len == 9) {
			ack(c, cl_get_u64(p + CL_HDR));
			rc = 0;
		}
		evbuffer_drain(in, CL_HDR - 1 + (size_t)len);
		if (rc < 0)
			goto bad;
	}
	return;
bad:
	refuse(c, "protocol error");
}

static void
conn_writable(void *ctx)
{
	struct cl_fconn *c = ctx;

	if (c->state == CL_F_COPY)
		cl_copy_pump(c);
}

static void
conn_shutdown(void *ctx)
{
	struct cl_fconn *c = ctx;

	/* The broker stops: its followers stay in the in-sync set, so one
	 * of them takes over as soon as the lease is given back. */
	c->l->stopping = true;
	net_conn_close(c->nc);
}

static void
conn_free(void *ctx, enum net_end why)
{
	struct cl_fconn *c = ctx, **pp;
	struct cl_leader *l = c->l;

	for (pp = &l->conns; *pp && *pp != c; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = c->next;
	if (c->mb) {
		bk_info("cluster: follower %s disconnected", c->mb->name);
		c->mb->conn = NULL;
		if (c->mb->counted && !l->stopping && why != NET_END_SHUTDOWN) {
			c->mb->counted = false;
			cl_coord_want_insync(l->coord, c->mb->name, false);
		}
	}
	cl_copy_end(c);
	evbuffer_free(c->pending);
	bk_free(c);
	if (l->j)
		cl_leader_recompute(l);
}

static const struct net_proto_ops ops = {
	.version = NET_PROTO_OPS_V1, .open = conn_open, .read = conn_read,
	.writable = conn_writable, .shutdown = conn_shutdown, .free = conn_free,
	.name = "replication",
};

struct cl_leader *
cl_leader_new(struct cluster *cl, const struct cluster_config *cfg,
	      struct event_base *base, struct net *n, struct st_journal *j)
{
	struct cl_leader *l = bk_calloc(1, sizeof(*l));
	struct timeval tv = { 0, FENCE_CHECK_MS * 1000 };
	struct net_listen_config lc = {
		.name = "replication", .protocol = "sluice/replication",
		.bind = cfg->replication_bind, .port = cfg->replication_port,
		.transport = cluster_server_tls(cl) ? NET_TLS : NET_TCP,
		.tls = cluster_server_tls(cl), .max_connections = 0,    /* evict_oldest_unproven */
		.handshake_ms = 10000, .output_high = 64u << 20, .ops = &ops, .arg = l,
	};
	char err[256] = "";

	l->dfd = -1;
	l->cfg = cfg;
	l->coord = cluster_coord(cl);
	l->j = j;
	l->base = base;
	l->net = n;
	if ((l->dfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (l->ln = net_listen(n, &lc, err, sizeof(err))) == NULL) {
		bk_error("cluster: cannot start the replication listener: %s",
			 err[0] ? err : strerror(errno));
		cl_leader_free(l);
		return NULL;
	}
	l->fence_ev = event_new(l->base, -1, EV_PERSIST, on_tick, l);
	l->wait_ev = evtimer_new(l->base, on_wait_timer, l);
	event_add(l->fence_ev, &tv);
	st_journal_repl_attach(j, &repl_ops, l);
	return l;
}

void
cl_leader_free(struct cl_leader *l)
{
	if (l == NULL)
		return;
	if (l->fence_ev)
		event_free(l->fence_ev);
	if (l->wait_ev)
		event_free(l->wait_ev);
	if (l->dfd >= 0)
		close(l->dfd);
	bk_free(l);
}

void
cl_leader_fenced(void)
{
	fence_exit("etcd says this node no longer leads");
}
