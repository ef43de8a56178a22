/*
 * test_listen_take.c: a listener that takes another net's listening
 * sockets (net_listen_take, net/net_listener.c), on a real libevent loop
 * and loopback. A client that connected to the first net's listener and
 * waits in its backlog is accepted by the new listener, with the new
 * listener's ops, after the first net is freed: the socket (descriptor)
 * is the same and was never closed. A listener of another name, or the
 * same name on another port, takes nothing and binds its own; the first
 * net keeps its socket then.
 */
#include "net_int.h"
#include "testlib.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

struct side {
	unsigned opened;                /* ops->open calls with this side's arg */
};

static struct side before, after;

static void *
t_open(void *arg, struct net_conn *nc)
{
	struct side *s = arg;

	s->opened++;
	return s;
}

static void
t_read(void *ctx)
{
	(void)ctx;
}

static void
t_free(void *ctx, enum net_end why)
{
}

static const struct net_proto_ops ops = {
	.version = NET_PROTO_OPS_V1, .open = t_open, .read = t_read, .free = t_free,
	.name = "test",
};

static int
connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/*
 * A loopback port reserved in *fd: bound with SO_REUSEADDR and never
 * listening, so the kernel gives it to no other bind(0) (the suites of
 * other build trees run alongside) while a listener, which sets
 * SO_REUSEADDR too (net_addr_listen), can still bind it. Close *fd once
 * that listener is up. tests/integration/port_helpers.py does the same
 * for the Python suites.
 */
static int
reserve_port(int *fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;

	*fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(*fd >= 0);
	CHECK_EQ_INT(setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	CHECK_EQ_INT(bind(*fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ_INT(getsockname(*fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

static void
run_until(struct event_base *base, const unsigned *count)
{
	for (int i = 0; i < 2000 && *count == 0; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Two nets on one loop; old listens as "amqp" on 127.0.0.1, any port. */
struct two {
	struct event_base *base;
	struct net *old, *n;
	struct net_listen_config lc;
	struct net_listener *lo;        /* old's */
};

static void
two_init(struct two *t)
{
	char err[256];

	t->base = event_base_new();
	t->old = net_new(t->base, NULL, &(struct net_config){ 0 });
	t->n = net_new(t->base, NULL, &(struct net_config){ 0 });
	t->lc = (struct net_listen_config){ .name = "amqp", .bind = "127.0.0.1",
					    .transport = NET_TCP, .output_high = 1 << 16,
					    .ops = &ops, .arg = &before };
	t->lo = net_listen(t->old, &t->lc, err, sizeof(err));
	CHECK(t->lo != NULL);
}

static void
two_fini(struct two *t)
{
	net_free(t->old);
	net_free(t->n);
	event_base_free(t->base);
}

static void
test_backlog_moves_to_the_new_listener(void)
{
	struct two t;
	struct net_listener *l;
	char err[256];
	int fd, cl;

	two_init(&t);
	fd = evconnlistener_get_fd(t.lo->lev[0]);
	cl = connect_to(t.lo->port);            /* waits in the backlog */
	t.lc.port = t.lo->port;
	t.lc.arg = &after;
	l = net_listen_take(t.n, &t.lc, t.old, err, sizeof(err));
	CHECK(l != NULL);
	CHECK_EQ_INT(net_listener_port(l), t.lo->port);
	CHECK_EQ_INT(l->nlev, 1);
	CHECK_EQ_INT(evconnlistener_get_fd(l->lev[0]), fd);
	CHECK_EQ_INT(t.lo->nlev, 0);
	net_free(t.old);                        /* closes nothing of l's */
	t.old = NULL;
	run_until(t.base, &after.opened);
	CHECK_EQ_INT(before.opened, 0);
	CHECK_EQ_INT(after.opened, 1);
	CHECK_EQ_INT(l->nconns, 1);
	close(cl);
	two_fini(&t);
}

static void
test_nothing_to_take_binds(void)
{
	struct two t;
	struct net_listener *l;
	char err[256];
	int held;

	two_init(&t);
	/* another name */
	t.lc.name = "mqtt";
	l = net_listen_take(t.n, &t.lc, t.old, err, sizeof(err));
	CHECK(l != NULL && l->port != t.lo->port);
	/* the same name, another port */
	t.lc.name = "amqp";
	t.lc.port = reserve_port(&held);
	l = net_listen_take(t.n, &t.lc, t.old, err, sizeof(err));
	close(held);
	CHECK(l != NULL && l->port == t.lc.port);
	CHECK_EQ_INT(t.lo->nlev, 1);
	/* no net to take from */
	t.lc.port = 0;
	CHECK(net_listen_take(t.n, &t.lc, NULL, err, sizeof(err)) != NULL);
	two_fini(&t);
}

int
main(void)
{
	net_global_init();
	RUN(test_backlog_moves_to_the_new_listener);
	RUN(test_nothing_to_take_binds);
	TEST_DONE();
}
