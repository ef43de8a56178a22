/*
 * cl_front_advert.c: the leader's side of a follower's front (cl_front.c):
 * the 'L' frame that tells a follower which client listeners the leader
 * has and on which ports, sent right after the leader's proof.
 *
 *   'L' | count u8 | count x ( name_len u8 | name | port u16 )
 *
 * Every listener of the leader's net but the replication listener itself.
 * A follower decodes it with cl_front_advert_parse (cl_front.c).
 */
#include <errno.h>
#include <string.h>

#include <event2/buffer.h>

#include "cl_int.h"
#include "net.h"

struct advert {
	struct evbuffer *out;
	uint8_t n;
};

static int
advert_one(void *arg, const struct net_listener_view *v)
{
	struct advert *a = arg;
	uint8_t b[2], nl = (uint8_t)strlen(v->name);

	if (strcmp(v->name, "replication") == 0 || nl == 0 || nl >= CL_FRONT_NAME ||
	    a->n == CL_FRONT_MAX || v->port <= 0)
		return 0;
	evbuffer_add(a->out, &nl, 1);
	evbuffer_add(a->out, v->name, nl);
	cl_put_u16(b, (uint16_t)v->port);
	evbuffer_add(a->out, b, 2);
	a->n++;
	return 0;
}

void
cl_front_advert(struct net *n, struct evbuffer *out)
{
	struct advert a = { evbuffer_new(), 0 };

	net_listeners_each(n, advert_one, &a);
	cl_frame_begin(out, 'L', 1 + evbuffer_get_length(a.out));
	evbuffer_add(out, &a.n, 1);
	evbuffer_add_buffer(out, a.out);
	evbuffer_free(a.out);
}

int
cl_front_advert_parse(const uint8_t *p, size_t len, struct cl_front_tgt tgt[CL_FRONT_MAX])
{
	int n = 0;

	if (len < 1 || p[0] > CL_FRONT_MAX)
		return -EPROTO;
	for (size_t off = 1, i = 0; i < p[0]; i++) {
		size_t nl;

		if (off >= len || (nl = p[off]) == 0 || nl >= CL_FRONT_NAME || off + 1 + nl + 2 > len)
			return -EPROTO;
		memcpy(tgt[n].name, p + off + 1, nl);
		tgt[n].name[nl] = '\0';
		tgt[n].port = cl_get_u16(p + off + 1 + nl);
		if (tgt[n].port == 0 || strlen(tgt[n].name) != nl)
			return -EPROTO;
		n++;
		off += 1 + nl + 2;
	}
	return n;
}
