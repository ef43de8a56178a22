/*
 * relayfloor: the latency floor of the machine for a broker-shaped path,
 * with no broker in it. Three threads on two loopback TCP connections:
 *
 *   sender --TCP--> relay --TCP--> receiver
 *
 * The sender writes an 8-byte send time at a fixed rate (as the bench's
 * latency-* scenarios publish), the relay forwards whatever it reads, the
 * receiver takes the difference with its clock. Every socket has
 * TCP_NODELAY, every thread blocks in read() as a broker's loop blocks in
 * epoll_wait(). What this prints is what the kernel and the scheduler
 * cost on their own: a broker's p99 in the same minute cannot be lower.
 *
 *   relayfloor [--rate MSG_PER_S] [--duration S]
 *
 * Output: one JSON line {"p50_us":...,"p99_us":...,"p999_us":...,"max_us":...}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct link {
	int in;                         /* the reading end */
	int out;                        /* the writing end */
};

static struct link first, second;
static double *lat;                     /* microseconds, one per message */
static size_t nmsg;

static double
now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void
die(const char *what)
{
	fprintf(stderr, "relayfloor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A connected loopback TCP pair, both ends with TCP_NODELAY. */
static struct link
link_open(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct link l;
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0 || listen(lfd, 1) < 0)
		die("listen");
	l.out = socket(AF_INET, SOCK_STREAM, 0);
	if (l.out < 0 || connect(l.out, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	l.in = accept(lfd, NULL, NULL);
	if (l.in < 0)
		die("accept");
	close(lfd);
	setsockopt(l.in, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(l.out, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return l;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *
relay_main(void *arg)
{
	char buf[4096];
	ssize_t r;

	(void)arg;
	while ((r = read(first.in, buf, sizeof(buf))) > 0)
		if (write_all(second.out, buf, (size_t)r) < 0)
			break;
	close(second.out);
	return NULL;
}

static void *
receiver_main(void *arg)
{
	char buf[512];
	size_t have = 0, got = 0;

	(void)arg;
	while (got < nmsg) {
		ssize_t r = read(second.in, buf + have, sizeof(buf) - have);
		size_t k = 0;
		double t = now_us();

		if (r <= 0)
			break;
		have += (size_t)r;
		for (; have - k >= sizeof(double) && got < nmsg; k += sizeof(double)) {
			double sent;

			memcpy(&sent, buf + k, sizeof(sent));
			lat[got++] = t - sent;
		}
		memmove(buf, buf + k, have - k);
		have -= k;
	}
	nmsg = got;
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	double rate = 10000, duration = 10, next;
	pthread_t relay, receiver;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--rate") == 0)
			rate = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = atof(argv[i + 1]);
	}
	if (rate < 1 || rate > 1e6 || duration <= 0 || duration > 3600) {
		fprintf(stderr, "usage: relayfloor [--rate 1..1000000] [--duration S]\n");
		return 2;
	}
	nmsg = (size_t)(rate * duration);
	lat = calloc(nmsg, sizeof(*lat));
	if (lat == NULL)
		die("calloc");
	first = link_open();
	second = link_open();
	if (pthread_create(&relay, NULL, relay_main, NULL) != 0 ||
	    pthread_create(&receiver, NULL, receiver_main, NULL) != 0)
		die("pthread_create");
	next = now_us();
	for (size_t i = 0; i < nmsg; i++) {
		double t;

		next += 1e6 / rate;
		while ((t = now_us()) < next) {
			struct timespec ts = { 0, (long)((next - t) * 1e3) };

			nanosleep(&ts, NULL);
		}
		t = now_us();
		if (write_all(first.out, (const char *)&t, sizeof(t)) < 0)
			die("write");
	}
	pthread_join(receiver, NULL);
	close(first.out);
	pthread_join(relay, NULL);
	if (nmsg == 0)
		return 1;
	qsort(lat, nmsg, sizeof(*lat), cmp_double);
	printf("{\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
	       lat[nmsg / 2], lat[nmsg * 99 / 100], lat[nmsg * 999 / 1000], lat[nmsg - 1]);
	return 0;
}
