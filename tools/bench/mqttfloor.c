/*
 * mqttfloor: the most a one-thread MQTT broker can move through the bench's
 * QoS 1 scenarios on this machine, with nothing of a broker in it but the
 * wire. It speaks just enough MQTT 3.1.1 for ../shared/bench's loadgen:
 *
 *   CONNECT     -> CONNACK accepted
 *   SUBSCRIBE   -> SUBACK with the QoS asked for; the connection becomes
 *                  a subscriber of every topic
 *   PUBLISH     -> PUBACK at once (QoS 1), and the packet to every
 *                  subscriber at once while fewer than --window of its
 *                  deliveries are unacknowledged, else queued in order
 *   PUBACK      -> frees a slot of that subscriber's window
 *   PINGREQ     -> PINGRESP; DISCONNECT closes
 *
 * No topic matching, no session, no copy but the kernel's: what it prints
 * is the ceiling the client itself sets (its own naps and wake-ups) for a
 * broker that costs nothing, with the same in-flight window as the broker
 * measured (20, Mosquitto's default).
 *
 *   mqttfloor --port N [--window N] [--duration S]
 *
 * It serves until --duration seconds have passed (default 60), then exits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64

struct buf {
	unsigned char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	struct buf in, out;
	int sub_qos;                    /* -1: not a subscriber */
	unsigned inflight;
	uint16_t next_id;
	struct buf queued;              /* whole PUBLISH packets, in order */
	size_t queued_head;
};

static struct conn conns[MAXC];
static unsigned window = 20;

static void
put(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
put_varint(struct buf *b, size_t v)
{
	do {
		unsigned char c = v & 127;

		v >>= 7;
		if (v)
			c |= 128;
		put(b, &c, 1);
	} while (v);
}

/* A PUBLISH of topic/payload to subscriber s, with s's next packet id. */
static void
deliver_now(struct conn *s, const unsigned char *topic, size_t tlen,
	    const unsigned char *payload, size_t plen, int qos)
{
	unsigned char h = (unsigned char)(0x30 | (qos << 1));
	unsigned char tl[2] = { (unsigned char)(tlen >> 8), (unsigned char)tlen };

	put(&s->out, &h, 1);
	put_varint(&s->out, 2 + tlen + (qos ? 2 : 0) + plen);
	put(&s->out, tl, 2);
	put(&s->out, topic, tlen);
	if (qos) {
		unsigned char id[2];

		if (++s->next_id == 0)
			s->next_id = 1;
		id[0] = (unsigned char)(s->next_id >> 8);
		id[1] = (unsigned char)s->next_id;
		put(&s->out, id, 2);
		s->inflight++;
	}
	put(&s->out, payload, plen);
}

/* Queued form: 2-byte topic length, topic, 4-byte payload length, payload. */
static void
enqueue(struct conn *s, const unsigned char *topic, size_t tlen,
	const unsigned char *payload, size_t plen)
{
	unsigned char tl[2] = { (unsigned char)(tlen >> 8), (unsigned char)tlen };
	uint32_t pl = (uint32_t)plen;

	put(&s->queued, tl, 2);
	put(&s->queued, topic, tlen);
	put(&s->queued, &pl, 4);
	put(&s->queued, payload, plen);
}

static void
release(struct conn *s)
{
	while ((window == 0 || s->inflight < window) && s->queued_head < s->queued.len) {
		unsigned char *q = s->queued.p + s->queued_head;
		size_t tlen = (size_t)q[0] << 8 | q[1];
		uint32_t plen;

		memcpy(&plen, q + 2 + tlen, 4);
		deliver_now(s, q + 2, tlen, q + 6 + tlen, plen, s->sub_qos);
		s->queued_head += 6 + tlen + plen;
	}
	if (s->queued_head == s->queued.len)
		s->queued.len = s->queued_head = 0;
}

static void
on_publish(struct conn *c, unsigned char flags, const unsigned char *p, size_t n)
{
	int qos = (flags >> 1) & 3;
	size_t tlen, off;

	if (n < 2)
		return;
	tlen = (size_t)p[0] << 8 | p[1];
	off = 2 + tlen + (qos ? 2 : 0);
	if (off > n)
		return;
	if (qos == 1) {
		unsigned char ack[4] = { 0x40, 2, p[2 + tlen], p[3 + tlen] };

		put(&c->out, ack, 4);
	}
	for (int i = 0; i < MAXC; i++) {
		struct conn *s = &conns[i];
		int q;

		if (s->fd < 0 || s->sub_qos < 0)
			continue;
		q = qos < s->sub_qos ? qos : s->sub_qos;
		if (q == 0 || ((window == 0 || s->inflight < window) && s->queued.len == 0))
			deliver_now(s, p + 2, tlen, p + off, n - off, q);
		else
			enqueue(s, p + 2, tlen, p + off, n - off);
	}
}

/* One whole packet: type/flags byte, its body. False: close. */
static int
on_packet(struct conn *c, unsigned char h, const unsigned char *p, size_t n)
{
	switch (h >> 4) {
	case 1: {                               /* CONNECT */
		static const unsigned char ack[4] = { 0x20, 2, 0, 0 };

		put(&c->out, ack, 4);
		return 1;
	}
	case 3:
		on_publish(c, h & 15, p, n);
		return 1;
	case 4:                                 /* PUBACK */
		if (c->inflight > 0)
			c->inflight--;
		release(c);
		return 1;
	case 8: {                               /* SUBSCRIBE: id, then filters */
		unsigned char ack[5] = { 0x90, 3, n > 0 ? p[0] : 0, n > 1 ? p[1] : 0, 0 };
		size_t flen = n >= 4 ? (size_t)p[2] << 8 | p[3] : 0;

		if (n >= 5 + flen)
			ack[4] = p[4 + flen] & 3;
		if (ack[4] == 3)
			return 0;       /* QoS 3 does not exist */
		c->sub_qos = ack[4];
		put(&c->out, ack, 5);
		return 1;
	}
	case 12: {                              /* PINGREQ */
		static const unsigned char resp[2] = { 0xd0, 0 };

		put(&c->out, resp, 2);
		return 1;
	}
	case 14:                                /* DISCONNECT */
		return 0;
	default:
		return 1;
	}
}

/* Every whole packet in c->in. False: close. */
static int
parse(struct conn *c)
{
	size_t pos = 0;

	for (;;) {
		size_t len = 0, i = 1;
		unsigned shift = 0;

		while (pos + i < c->in.len && i <= 4) {
			len |= (size_t)(c->in.p[pos + i] & 127) << shift;
			shift += 7;
			if ((c->in.p[pos + i++] & 128) == 0)
				goto have_len;
		}
		if (i > 4)
			return 0;       /* a fifth length byte: not MQTT */
		break;
have_len:
		if (pos + i + len > c->in.len)
			break;
		if (!on_packet(c, c->in.p[pos], c->in.p + pos + i, len))
			return 0;
		pos += i + len;
	}
	memmove(c->in.p, c->in.p + pos, c->in.len - pos);
	c->in.len -= pos;
	return 1;
}

static void
drop(struct conn *c)
{
	close(c->fd);
	free(c->in.p);
	free(c->out.p);
	free(c->queued.p);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	int port = 0, one = 1, lfd;
	double duration = 60, end;
	struct sockaddr_in a = { .sin_family = AF_INET };

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--window") == 0)
			window = (unsigned)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = atof(argv[i + 1]);
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: mqttfloor --port N [--window N] [--duration S]\n");
		return 2;
	}
	for (int i = 0; i < MAXC; i++)
		conns[i].fd = -1;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 64) < 0) {
		perror("mqttfloor: listen");
		return 1;
	}
	end = now_s() + duration;
	while (now_s() < end) {
		struct pollfd pf[MAXC + 1];
		int map[MAXC + 1], n = 0;

		pf[n].fd = lfd;
		pf[n].events = POLLIN;
		map[n++] = -1;
		for (int i = 0; i < MAXC; i++)
			if (conns[i].fd >= 0) {
				pf[n].fd = conns[i].fd;
				pf[n].events = POLLIN | (conns[i].out.len ? POLLOUT : 0);
				map[n++] = i;
			}
		if (poll(pf, (nfds_t)n, 200) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);

			for (int i = 0; fd >= 0 && i < MAXC; i++)
				if (conns[i].fd < 0) {
					conns[i].fd = fd;
					conns[i].sub_qos = -1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					fcntl(fd, F_SETFL, O_NONBLOCK);
					fd = -1;
				}
			if (fd >= 0)
				close(fd);
		}
		for (int k = 1; k < n; k++) {
			struct conn *c = &conns[map[k]];
			unsigned char tmp[65536];
			ssize_t r;

			if (c->fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(c->fd, tmp, sizeof(tmp));
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				drop(c);
				continue;
			}
			if (r > 0) {
				put(&c->in, tmp, (size_t)r);
				if (!parse(c))
					drop(c);
			}
		}
		/* Once per iteration, every connection's output: what a broker's
		 * loop does. */
		for (int i = 0; i < MAXC; i++) {
			struct conn *c = &conns[i];
			ssize_t w;

			if (c->fd < 0 || c->out.len == 0)
				continue;
			w = write(c->fd, c->out.p, c->out.len);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				drop(c);
				continue;
			}
			if (w > 0) {
				memmove(c->out.p, c->out.p + w, c->out.len - (size_t)w);
				c->out.len -= (size_t)w;
			}
		}
	}
	return 0;
}
