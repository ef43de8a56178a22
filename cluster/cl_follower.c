/*
 * cl_follower.c: a follower's connection to its leader, on the loop's
 * thread. It answers the leader's nonce with the HMAC of the cluster's
 * secret and the list of the files it already holds (path, size,
 * CRC-32C), applies what comes back (the missing or different files,
 * then the journal's batches) to data_dir through st_mirror, and once
 * it has read all the leader has sent (more_coming) fsyncs and
 * acknowledges the last batch applied: one fsync per burst. A lost connection is retried every second.
 *
 * While a copy is being rewritten the node may not become leader: the
 * first file operation of a full copy marks the node's own file
 * ST_REPL_LOCAL "syncing" (and withdraws the node from elections) before
 * anything changes; the leader's 'E' frame, once applied and fsynced,
 * marks it "synced" again.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_int.h"

#define RETRY_MS 1000
#define FLUSH_MAX (8u << 20)
/* The longest frame before the leader's proof: 'N' (type, version,
 * nonce). A peer that has not proven it holds the secret gets no more of
 * our memory than that, not CL_FRAME_MAX. */
#define UNPROVEN_MAX (1u + 1 + CL_NONCE)

struct cl_follower {
	struct event_base *base;
	const struct cluster_config *cfg;      /* borrowed from the cluster */
	struct cl_coord *coord;
	SSL_CTX *tls;                           /* borrowed; NULL: plain TCP */
	struct cl_front *front;                 /* told where the leader listens */
	struct bufferevent *bev;
	struct st_mirror *m;
	struct event *retry;
	char host[256];
	int port;
	bool syncing;                           /* a full copy is being applied */
	bool proven;                            /* the leader sent a valid 'P' */
	uint8_t nonce[CL_NONCE];                /* ours, for the leader's proof */
	uint64_t applied;                       /* last batch applied */
	uint64_t acked;                         /* last batch acknowledged */
	bool synced;                            /* 'E' applied, not yet fsynced */
	size_t unsynced;                        /* bytes applied since the fsync */
};

static void connect_now(struct cl_follower *f);

static void
drop(struct cl_follower *f, const char *why)
{
	struct timeval tv = { RETRY_MS / 1000, (RETRY_MS % 1000) * 1000 };

	cl_front_leader(f->front, NULL, NULL, 0);
	if (f->bev) {
		bk_warn("cluster: replication from %s:%d: %s", f->host, f->port, why);
		bufferevent_free(f->bev);
		f->bev = NULL;
	}
	evtimer_add(f->retry, &tv);
}

struct hello {
	int dfd;
	struct evbuffer *out;
	uint32_t n;
};

static int
add_file(void *arg, const char *path, uint64_t size)
{
	struct hello *h = arg;
	uint8_t b[14];
	uint32_t crc;

	if (cl_file_crc(h->dfd, path, size, &crc) < 0)
		return 0;       /* gone or short: the leader sends it whole */
	cl_put_u16(b, (uint16_t)strlen(path));
	evbuffer_add(h->out, b, 2);
	evbuffer_add(h->out, path, strlen(path));
	cl_put_u64(b, size);
	cl_put_u32(b + 8, crc);
	evbuffer_add(h->out, b, 12);
	h->n++;
	return 0;
}

static int
send_hello(struct cl_follower *f, const uint8_t *p, size_t len)
{
	struct hello h = { -1, NULL, 0 };
	uint8_t mac[CL_MAC], n[4], nl = (uint8_t)strlen(f->cfg->node_name);
	struct evbuffer *out = bufferevent_get_output(f->bev);
	int rc = 0;

	if (len != 1 + CL_NONCE || p[0] != CL_VERSION)
		return -EPROTO;
	h.out = evbuffer_new();
	if ((h.dfd = open(f->cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    st_repl_files(f->cfg->data_dir, add_file, &h) < 0)
		rc = -EIO;
	if (rc == 0 && evbuffer_get_length(h.out) + CL_MAC + 5 + nl > CL_HELLO_MAX)
		rc = -E2BIG;
	if (rc == 0) {
		cl_mac(f->cfg->secret, p + 1, f->cfg->node_name, mac);
		RAND_bytes(f->nonce, CL_NONCE);
		cl_frame_begin(out, 'H', CL_MAC + CL_NONCE + 1 + nl + 4 +
				    evbuffer_get_length(h.out));
		evbuffer_add(out, mac, CL_MAC);
		evbuffer_add(out, f->nonce, CL_NONCE);
		evbuffer_add(out, &nl, 1);
		evbuffer_add(out, f->cfg->node_name, nl);
		cl_put_u32(n, h.n);
		evbuffer_add(out, n, 4);
		evbuffer_add_buffer(out, h.out);
		bk_info("cluster: following %s:%d with %u files of our own", f->host, f->port,
			h.n);
	}
	if (h.dfd >= 0)
		close(h.dfd);
	evbuffer_free(h.out);
	return rc;
}

static int
apply_ops(struct cl_follower *f, const uint8_t *p, size_t len)
{
	char path[ST_REPL_PATH_MAX + 1];
	struct st_repl_op op;
	uint32_t nops;
	int rc;

	if (len < 4)
		return -EPROTO;
	nops = cl_get_u32(p);
	p += 4;
	len -= 4;
	for (uint32_t i = 0; i < nops; i++) {
		long used = cl_op_get(p, len, &op, path);

		if (used < 0)
			return -EPROTO;
		if ((rc = st_mirror_apply(f->m, &op)) < 0) {
			bk_error("cluster: cannot apply %s to '%s': %s", "a file operation", path,
				 strerror(-rc));
			return rc;
		}
		p += used;
		len -= (size_t)used;
	}
	return len == 0 ? 0 : -EPROTO;
}

/* The full copy begins to change files: not eligible until 'E'. */
static int
begin_copy(struct cl_follower *f)
{
	if (f->syncing)
		return 0;
	f->syncing = true;
	cl_coord_eligible(f->coord, false);
	bk_info("cluster: copying the leader's files");
	return cl_local_set(f->cfg->data_dir, false);
}

/* One frame; *synced set by 'E' (the copy is whole once fsynced). */
static int
frame(struct cl_follower *f, uint8_t type, const uint8_t *p, size_t len, bool *synced)
{
	int rc;

	if (type != 'N' && type != 'P' && !f->proven)
		return -EPROTO;         /* nothing before the leader's proof */
	switch (type) {
	case 'N':
		return send_hello(f, p, len);
	case 'P': {
		uint8_t mac[CL_MAC];

		cl_mac(f->cfg->secret, f->nonce, CL_PROOF_LABEL, mac);
		if (len != CL_MAC || CRYPTO_memcmp(mac, p, CL_MAC) != 0) {
			bk_error("cluster: %s:%d does not know the cluster secret", f->host,
				 f->port);
			return -EACCES;
		}
		f->proven = true;
		return 0;
	}
	case 'O':
		if ((rc = begin_copy(f)) < 0)
			return rc;
		return apply_ops(f, p, len);
	case 'B':
		if (len < 8)
			return -EPROTO;
		if ((rc = apply_ops(f, p + 8, len - 8)) < 0)
			return rc;
		f->applied = cl_get_u64(p);
		return 0;
	case 'L':
		return cl_front_leader(f->front, f->host, p, len);
	case 'E':
		if (len != 8)
			return -EPROTO;
		f->applied = cl_get_u64(p);
		*synced = true;
		return 0;
	default:
		return -EPROTO;
	}
}

/* Is more of the leader's stream already waiting on the socket? Then
 * the next read comes at once, and the fsync and acknowledgement wait
 * for it: one fsync per burst rather than per 4 KiB that libevent reads
 * at a time (up to FLUSH_MAX unsynced, to bound a confirm's wait). */
static bool
more_coming(struct cl_follower *f)
{
	int n = 0;

	return f->unsynced < FLUSH_MAX && ioctl(bufferevent_getfd(f->bev), FIONREAD, &n) == 0 &&
	       n > 0;
}

/* fsync what was applied, then acknowledge it (and a whole copy). */
static int
flush(struct cl_follower *f)
{
	struct evbuffer *out = bufferevent_get_output(f->bev);
	uint8_t a[8];
	int rc;

	if ((rc = st_mirror_sync(f->m)) < 0)
		return rc;
	if (f->synced && (rc = cl_local_set(f->cfg->data_dir, true)) < 0)
		return rc;
	if (f->synced) {
		if (f->syncing)
			bk_info("cluster: the copy of the leader's files is whole");
		f->syncing = false;
		f->synced = false;
		cl_coord_eligible(f->coord, true);
	}
	cl_put_u64(a, f->applied);
	cl_frame_begin(out, 'A', 8);
	evbuffer_add(out, a, 8);
	f->acked = f->applied;
	f->unsynced = 0;
	return 0;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct cl_follower *f = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t h[CL_HDR];
	int rc = 0;

	while (rc == 0 && evbuffer_copyout(in, h, CL_HDR) == CL_HDR) {
		uint32_t len = cl_get_u32(h);
		uint8_t *p;

		if (len < 1 || len > (f->proven ? CL_FRAME_MAX : UNPROVEN_MAX)) {
			rc = -EPROTO;
			break;
		}
		if (evbuffer_get_length(in) < CL_HDR - 1 + (size_t)len)
			break;
		p = evbuffer_pullup(in, CL_HDR - 1 + (ssize_t)len);
		rc = frame(f, h[4], p + CL_HDR, len - 1, &f->synced);
		evbuffer_drain(in, CL_HDR - 1 + (size_t)len);
		f->unsynced += CL_HDR - 1 + (size_t)len;
	}
	if (rc == 0 && (f->applied != f->acked || f->synced) && !more_coming(f))
		rc = flush(f);
	if (rc < 0)
		drop(f, rc == -EPROTO ? "protocol error" : strerror(-rc));
}

/* A TLS failure (the leader's certificate refused, or ours by it):
 * dropped with OpenSSL's reason. False when it was no TLS error. */
static bool
tls_error(struct bufferevent *bev, struct cl_follower *f)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	char why[300], msg[400];

	if (e == 0)
		return false;
	ERR_error_string_n(e, why, sizeof(why));
	while (bufferevent_get_openssl_error(bev) != 0)
		;
	snprintf(msg, sizeof(msg), "TLS: %s%s%s", why, v != X509_V_OK ? ": " : "",
		 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
	drop(f, msg);
	return true;
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct cl_follower *f = arg;

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;
		char why[400];
		SSL *ssl = f->tls ? bufferevent_openssl_get_ssl(bev) : NULL;

		/* an acknowledgement is one small frame a confirm waits for */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (ssl && cl_tls_check_leader(ssl, f->cfg->tls_peer_name, why, sizeof(why)) < 0)
			drop(f, why);
		return;
	}
	if (f->tls && (what & BEV_EVENT_ERROR) && tls_error(bev, f))
		return;
	drop(f, what & BEV_EVENT_EOF ? "the leader closed the connection"
				       : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* A TCP or TLS (cluster.tls) connection's bufferevent, not connected. */
static struct bufferevent *
new_bev(struct cl_follower *f)
{
	SSL *ssl;

	if (f->tls == NULL)
		return bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(f->tls)) == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(f->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static void
connect_now(struct cl_follower *f)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char port[16];

	snprintf(port, sizeof(port), "%d", f->port);
	if (getaddrinfo(f->host, port, &hints, &ai) != 0 || ai == NULL) {
		drop(f, "cannot resolve the leader's address");
		return;
	}
	f->proven = false;
	f->synced = false;
	f->unsynced = 0;
	if ((f->bev = new_bev(f)) == NULL) {
		bk_warn("cluster: cannot make a connection to %s:%d", f->host, f->port);
		freeaddrinfo(ai);
		drop(f, "");
		return;
	}
	bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
	/* Take everything that arrived in one read: each read ends in an
	 * fsync, so libevent's 16 KiB default would cost one per 16 KiB. */
	bufferevent_set_max_single_read(f->bev, 64u << 20);
	bufferevent_enable(f->bev, EV_READ);
	if (bufferevent_socket_connect(f->bev, ai->ai_addr, (int)ai->ai_addrlen) < 0)
		drop(f, "cannot connect");
	freeaddrinfo(ai);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	connect_now(arg);
}

struct cl_follower *
cl_follower_new(struct event_base *base, const struct cluster_config *cfg,
		struct cl_coord *coord, SSL_CTX *tls, struct cl_front *front, const char *host,
		int port)
{
	struct cl_follower *f = bk_calloc(1, sizeof(*f));
	int rc;

	f->base = base;
	f->cfg = cfg;
	f->coord = coord;
	f->tls = tls;
	f->front = front;
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->port = port;
	f->retry = evtimer_new(base, on_retry, f);
	if ((rc = st_mirror_open(cfg->data_dir, cfg->sync, &f->m)) < 0) {
		bk_error("cluster: cannot open '%s': %s", cfg->data_dir, strerror(-rc));
		cl_follower_free(f);
		return NULL;
	}
	bk_info("cluster: the leader is %s:%d", host, port);
	connect_now(f);
	return f;
}

void
cl_follower_free(struct cl_follower *f)
{
	if (f == NULL)
		return;
	if (f->bev)
		bufferevent_free(f->bev);
	if (f->retry)
		event_free(f->retry);
	if (f->m) {
		st_mirror_sync(f->m);
		st_mirror_close(f->m);
	}
	bk_free(f);
}
