/*
 * fuzz_cl_wire.c: libFuzzer target for the cluster's replication wire
 * (cluster/cl_int.h draws the frames), both ends, as a stateful exchange
 * over loopback against the real code of cl_leader.c, cl_copy.c,
 * cl_follower.c and cl_wire.c:
 *
 *   byte 0, bit 0 clear: the input is what a FOLLOWER sends to a leader's
 *     replication listener: the hello (HMAC, nonce, name, file list), then
 *     acknowledgements while the leader sends its full copy.
 *   byte 0, bit 0 set: the input is what a LEADER sends to a follower:
 *     nonce, proof, full-copy ops, batches, 'E'; the ops are applied to a
 *     scratch data directory through st_mirror.
 *
 *   bit 1 set: the harness authenticates first, so the fuzzer reaches the
 *   states behind the HMAC. Leader side: the input goes on as
 *
 *     name_len u8, name, files_len u16BE, files[files_len], rest...
 *
 *   and the harness sends 'H' with the right HMAC for the leader's nonce
 *   and that name and file list, then the rest as it is. Follower side:
 *   the harness sends 'N', reads the follower's 'H' and answers with the
 *   right 'P', then the input as it is. Bit 1 clear: the input goes out
 *   raw from the first byte (wrong MACs, frames out of order).
 *
 * etcd is not involved: this file provides the coordinator's few calls
 * (nobody is fenced, nobody is recorded in sync); the connections are
 * plain TCP (TLS is OpenSSL's; the HMAC handshake runs inside it the same). Both data directories
 * are scratch directories made once; the follower's is emptied after
 * every input so nothing carries over.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bk_admin.h"
#include "cl_leader_int.h"
#include "fuzz_net.h"
#include "net.h"

#define SECRET "fuzz cluster secret"
#define TURNS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the coordinator's calls: etcd is out of scope here ------------------ */

struct cl_coord {
	int unused;
};
static struct cl_coord coord;

struct cl_coord *
cluster_coord(struct cluster *c)
{
	return &coord;
}

void
cl_coord_eligible(struct cl_coord *c, bool on)
{
}

uint64_t
cl_coord_fence(struct cl_coord *c)
{
	return UINT64_MAX;
}

void
cl_coord_want_insync(struct cl_coord *c, const char *name, bool on)
{
}

bool
cl_coord_insync(struct cl_coord *c, const char *name, bool *recorded_on)
{
	*recorded_on = false;
	return false;
}

void
cl_coord_members(struct cl_coord *c, void (*fn)(void *arg, const char *name, bool running),
		 void *arg)
{
}

struct net_tls *
cluster_server_tls(struct cluster *c)
{
	return NULL;            /* plain TCP: TLS is OpenSSL's to fuzz */
}

uint64_t
cl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A frame header (cl_frame_begin's, into a buffer). */
static void
frame_head(uint8_t *buf, uint8_t type, size_t len)
{
	cl_put_u32(buf, (uint32_t)(len + 1));
	buf[4] = type;
}

/* ---- scratch directories ------------------------------------------------- */

static char leader_dir[64] = "/tmp/fuzz_cl_wire.L.XXXXXX";
static char follower_dir[64] = "/tmp/fuzz_cl_wire.F.XXXXXX";
static struct st_journal *journal;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void
rm_dirs(void)
{
	nftw(follower_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(leader_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(follower_dir);
	rmdir(leader_dir);
}

static int
setup(void)
{
	struct st_journal_config jc;

	if (journal)
		return 0;
	fuzz_net_base();
	if (mkdtemp(leader_dir) == NULL || mkdtemp(follower_dir) == NULL)
		return -1;
	atexit(rm_dirs);
	st_journal_config_init(&jc);
	jc.data_dir = leader_dir;
	jc.sync = ST_SYNC_NONE;
	if (st_journal_open(&jc, fuzz_net_base(), &journal) < 0)
		return -1;
	/* one file besides the journal for the copy to send */
	int fd = open(leader_dir, O_RDONLY | O_DIRECTORY);
	int f2 = openat(fd, "definitions.json", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (f2 >= 0) {
		(void)!write(f2, "{\"queues\":[]}\n", 14);
		close(f2);
	}
	close(fd);
	return 0;
}

static void
config(struct cluster_config *cfg, const char *name, const char *dir)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->node_name = name;
	cfg->replication_bind = "127.0.0.1";
	cfg->secret = SECRET;
	cfg->min_in_sync = 1;
	cfg->lease_ttl = 10;
	cfg->max_lag = 1u << 30;
	cfg->data_dir = dir;
}

/* ---- a follower talking to the real leader ------------------------------- */

struct hello_arg {
	struct cl_leader *l;
	const uint8_t *name, *files;
	size_t nl, fl;
};

/* Split name_len, name, files_len, files off the input: bytes used, 0 if
 * the input is too short for it. */
static size_t
hello_parse(struct hello_arg *h, const uint8_t *p, size_t len)
{
	if (len < 1 || (h->nl = p[0]) > CL_NAME_MAX || len < 3 + h->nl)
		return 0;
	h->name = p + 1;
	h->fl = cl_get_u16(p + 1 + h->nl);
	if (h->fl > len - 3 - h->nl)
		h->fl = len - 3 - h->nl;
	h->files = p + 3 + h->nl;
	return 3 + h->nl + h->fl;
}

/* The 'H' a follower holding the secret sends for the leader's nonce. */
static size_t
signed_hello(void *arg, uint8_t *buf, size_t cap)
{
	struct hello_arg *h = arg;
	size_t plen = CL_MAC + CL_NONCE + 1 + h->nl + h->fl;
	char name[CL_NAME_MAX + 1];

	for (int i = 0; i < TURNS && h->l->conns == NULL; i++)
		event_base_loop(fuzz_net_base(), EVLOOP_NONBLOCK);
	if (h->l->conns == NULL || CL_HDR + plen > cap)
		return 0;
	memcpy(name, h->name, h->nl);
	name[h->nl] = '\0';
	frame_head(buf, 'H', plen);
	cl_mac(SECRET, h->l->conns->nonce, name, buf + CL_HDR);
	memset(buf + CL_HDR + CL_MAC, 0x5a, CL_NONCE);
	buf[CL_HDR + CL_MAC + CL_NONCE] = (uint8_t)h->nl;
	memcpy(buf + CL_HDR + CL_MAC + CL_NONCE + 1, h->name, h->nl);
	memcpy(buf + CL_HDR + CL_MAC + CL_NONCE + 1 + h->nl, h->files, h->fl);
	return CL_HDR + plen;
}

static void
leader_side(bool auth, const uint8_t *data, size_t size)
{
	struct bk_broker *b = fuzz_net_broker();
	struct net *n = fuzz_net_new(b);
	struct cluster_config cfg;
	struct cl_leader *l;

	config(&cfg, "leader", leader_dir);
	if ((l = cl_leader_new(NULL, &cfg, fuzz_net_base(), n, journal)) != NULL) {
		struct hello_arg h = { .l = l };
		int port = net_listener_port(l->ln);
		size_t used = auth ? hello_parse(&h, data, size) : 0;

		if (used)
			fuzz_net_exchange_fn(port, signed_hello, &h, data + used, size - used);
		else
			fuzz_net_exchange(port, NULL, 0, data, size);
	}
	net_free(n);
	cl_leader_free(l);
	st_journal_repl_attach(journal, NULL, NULL);
	fuzz_net_broker_free(b);
}

/* ---- the real follower talking to a leader ------------------------------- */

static int
listen_any(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Turn the loop until fd is readable (or TURNS turns): 1 readable, 0 not. */
static int
wait_readable(int fd)
{
	for (int i = 0; i < TURNS; i++) {
		struct pollfd p = { fd, POLLIN, 0 };

		event_base_loop(fuzz_net_base(), EVLOOP_NONBLOCK);
		if (poll(&p, 1, i < 8 ? 0 : 1) > 0)
			return 1;
	}
	return 0;
}

/* Read the follower's first frame into buf: its length, or 0. */
static size_t
read_frame(int fd, uint8_t *buf, size_t cap)
{
	size_t got = 0, want = CL_HDR;

	while (got < want && wait_readable(fd)) {
		ssize_t r = read(fd, buf + got, want - got);

		if (r <= 0 && !(r < 0 && errno == EAGAIN))
			return 0;
		got += r > 0 ? (size_t)r : 0;
		if (got == CL_HDR && want == CL_HDR) {
			want = CL_HDR - 1 + (size_t)cl_get_u32(buf);
			if (want > cap || want < CL_HDR)
				return 0;
		}
	}
	return got == want ? got : 0;
}

/* 'N', then the follower's 'H', then the 'P' that proves the secret. */
static int
prove(int fd)
{
	uint8_t n[CL_HDR + 1 + CL_NONCE], h[1024], p[CL_HDR + CL_MAC];

	frame_head(n, 'N', 1 + CL_NONCE);
	n[CL_HDR] = CL_VERSION;
	memset(n + CL_HDR + 1, 0xa5, CL_NONCE);
	if (write(fd, n, sizeof(n)) != (ssize_t)sizeof(n))
		return -1;
	if (read_frame(fd, h, sizeof(h)) < CL_HDR + CL_MAC + CL_NONCE || h[4] != 'H')
		return -1;
	frame_head(p, 'P', CL_MAC);
	cl_mac(SECRET, h + CL_HDR + CL_MAC, CL_PROOF_LABEL, p + CL_HDR);
	return write(fd, p, sizeof(p)) == (ssize_t)sizeof(p) ? 0 : -1;
}

/* Send data, shut the writing side, read until the follower hangs up. */
static void
pump(int fd, const uint8_t *data, size_t size)
{
	uint8_t buf[65536];
	bool shut = false;

	for (int idle = 0; idle < TURNS;) {
		ssize_t w = size ? write(fd, data, size) : 0, r;
		int moved = w > 0;

		if (w > 0) {
			data += w;
			size -= (size_t)w;
		}
		if (size == 0 && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		event_base_loop(fuzz_net_base(), EVLOOP_NONBLOCK);
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			moved = 1;
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
		idle = moved ? 0 : idle + 1;
	}
}

static void
follower_side(bool auth, const uint8_t *data, size_t size)
{
	struct cluster_config cfg;
	struct cl_follower *f;
	struct cl_front *front;
	int port, lfd = listen_any(&port), fd = -1;

	config(&cfg, "follower", follower_dir);
	if (lfd < 0)
		return;
	front = cl_front_new(fuzz_net_base(), "follower");  /* parses the leader's 'L' */
	if ((f = cl_follower_new(fuzz_net_base(), &cfg, &coord, NULL, front, "127.0.0.1",
				   port)) != NULL) {
		if (wait_readable(lfd) && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0 &&
		    (!auth || prove(fd) == 0))
			pump(fd, data, size);
		if (fd >= 0)
			fuzz_net_close(fd);
		cl_follower_free(f);
	}
	cl_front_free(front);
	close(lfd);
	event_base_loop(fuzz_net_base(), EVLOOP_NONBLOCK);
	nftw(follower_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || setup() < 0)
		return 0;
	if (data[0] & 1)
		follower_side(data[0] & 2, data + 1, size - 1);
	else
		leader_side(data[0] & 2, data + 1, size - 1);
	return 0;
}
