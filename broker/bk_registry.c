/*
 * bk_registry.c: the connection and channel registry.
 *
 * Adapters register each client connection and channel here so that
 * management can list and close them without knowing any protocol.
 * Records are owned by the registry; the adapter holds the pointer it got
 * from bk_conn_register()/bk_chan_register() and increments the counters
 * in it directly. Connections sit in one list (registration order),
 * channels in their connection's list and in a table by id
 * (bk_registry_chan.c). A connection's record keeps no strings: the
 * adapter tells them (ops->info) and names are built when needed; it
 * keeps no history while its byte counters stay put (bk_mgmt.h).
 *
 * Re-entrancy: listing calls the adapters' describe() (which must not
 * change anything); bk_conn_close_by_name() and
 * bk_registry_close_matching() call ops->close(), which may unregister
 * channels (never the connection itself: that is freed later), so the
 * walks there collect first and close after.
 */
#include "bk_mgmt.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_CLOSE_REASON "Closed via management plugin"

/* The index of protocol in m->protos, added if new; BK_CONN_PROTOS
 * when the table is full (shown as ""). */
static unsigned
proto_index(struct bk_mgmt *m, const char *protocol)
{
	unsigned i;

	for (i = 0; i < BK_CONN_PROTOS && m->protos[i] != NULL; i++)
		if (m->protos[i] == protocol || strcmp(m->protos[i], protocol) == 0)
			return i;
	if (i < BK_CONN_PROTOS)
		m->protos[i] = protocol;
	return i;
}

struct bk_conn *
bk_conn_register(struct bk_broker *b, const struct bk_conn_info *info)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_conn *c = bk_calloc(1, sizeof(*c));

	c->id = m->next_conn_id++;
	c->proto = proto_index(m, info->protocol ? info->protocol : "");
	c->ops = info->ops;
	c->ctx = info->ctx;
	c->connected_at = bk_now_ms();
	c->since = (uint32_t)(m->tick + 1);     /* the sampler counts ticks, then records */
	c->prev = m->conns_tail;
	if (m->conns_tail)
		m->conns_tail->next = c;
	else
		m->conns_head = c;
	m->conns_tail = c;
	m->nconns++;
	b->churn.conn_created++;
	return c;
}

void
bk_registry_info(struct bk_broker *b, const struct bk_conn *c, struct bk_conn_info *out)
{
	memset(out, 0, sizeof(*out));
	if (c->ops && c->ops->info)
		c->ops->info(c->ctx, out);
	out->protocol = bk_registry_protocol(bk_mgmt(b), c);
	out->ops = c->ops;
	out->ctx = c->ctx;
	if (out->peer_host == NULL)
		out->peer_host = "";
	if (out->host == NULL)
		out->host = "";
	if (out->user == NULL)
		out->user = "";
}

const char *
bk_registry_name(const struct bk_conn_info *ci, char buf[BK_CONN_NAME_MAX])
{
	snprintf(buf, BK_CONN_NAME_MAX, "%s:%u -> %s:%u", ci->peer_host,
		 (unsigned)ci->peer_port, ci->host, (unsigned)ci->port);
	return buf;
}

/* Keep a closing connection's traffic in its protocol's totals. */
static void
traffic_keep(struct bk_mgmt *m, const struct bk_conn *c)
{
	struct bk_proto_traffic *t = NULL;
	const char *protocol = bk_registry_protocol(m, c);

	for (int i = 0; i < BK_PROTO_MAX && t == NULL; i++)
		if (m->traffic[i].protocol[0] == '\0' ||
		    strcmp(m->traffic[i].protocol, protocol) == 0)
			t = &m->traffic[i];
	if (t == NULL)
		return;                 /* more protocols than slots: not kept */
	snprintf(t->protocol, sizeof(t->protocol), "%s", protocol);
	t->ctr.recv_oct += c->ctr.recv_oct;
	t->ctr.recv_cnt += c->ctr.recv_cnt;
	t->ctr.send_oct += c->ctr.send_oct;
	t->ctr.send_cnt += c->ctr.send_cnt;
}

void
bk_conn_unregister(struct bk_broker *b, struct bk_conn *c)
{
	struct bk_mgmt *m;

	if (c == NULL)
		return;
	m = bk_mgmt(b);
	while (c->chans)
		bk_chan_unregister(b, c->chans);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		m->conns_tail = c->prev;
	m->nconns--;
	b->churn.conn_closed++;
	traffic_keep(m, c);
	if (c->has_hist)
		bk_hist_free(c->h.hist);
	bk_free(c);
}

uint64_t bk_conn_id(const struct bk_conn *c) { return c ? c->id : 0; }
struct bk_conn_counters *bk_conn_counters(struct bk_conn *c) { return &c->ctr; }

void
bk_conn_set_owner(struct bk_conn *c, bool owner)
{
	c->owner = owner;
}

/* Does c's name equal name? Builds it only when the peer host matches. */
static bool
name_is(struct bk_broker *b, const struct bk_conn *c, const char *name)
{
	struct bk_conn_info ci;
	char buf[BK_CONN_NAME_MAX];
	size_t n;

	bk_registry_info(b, c, &ci);
	n = strlen(ci.peer_host);
	if (strncmp(name, ci.peer_host, n) != 0 || name[n] != ':')
		return false;
	return strcmp(bk_registry_name(&ci, buf), name) == 0;
}

/* Is c on vhost (NULL: any) and of user (NULL: any)? */
static bool
conn_matches(struct bk_broker *b, const struct bk_conn *c, const char *vhost,
	     const char *user)
{
	struct bk_conn_info ci;

	if (vhost == NULL && user == NULL)
		return true;
	bk_registry_info(b, c, &ci);
	if (vhost && (!ci.vhost || strcmp(ci.vhost, vhost) != 0))
		return false;
	return !user || strcmp(ci.user, user) == 0;
}

static struct bk_conn *
find_by_name(struct bk_broker *b, const char *name)
{
	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next)
		if (name_is(b, c, name))
			return c;
	return NULL;
}

enum bk_status
bk_conn_close_by_name(struct bk_broker *b, const char *name, const char *reason,
		      struct bk_err *err)
{
	struct bk_conn *c = find_by_name(b, name);

	if (c == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "connection '%s' not found", name);
	if (c->ops && c->ops->close)
		c->ops->close(c->ctx, reason ? reason : DEFAULT_CLOSE_REASON);
	return BK_OK;
}

void
bk_registry_close_matching(struct bk_broker *b, const char *vhost,
			   const char *user, const char *reason)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_conn **v = NULL;
	uint32_t n = 0, i;

	/* Collect first: close() may unregister channels (and, in tests,
	 * connections). */
	v = bk_calloc(m->nconns + 1, sizeof(*v));
	for (struct bk_conn *c = m->conns_head; c != NULL; c = c->next)
		if (conn_matches(b, c, vhost, user))
			v[n++] = c;
	for (i = 0; i < n; i++) {
		struct bk_conn *c;

		/* Still registered? (an earlier close may have unregistered it) */
		for (c = m->conns_head; c != NULL && c != v[i]; c = c->next)
			;
		if (c != NULL && c->ops && c->ops->close)
			c->ops->close(c->ctx, reason);
	}
	bk_free(v);
}

uint64_t
bk_registry_owner_id(struct bk_broker *b, bk_owner owner)
{
	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next)
		if (owner != NULL && c->owner && c->ctx == owner)
			return c->id;
	return 0;
}

uint32_t
bk_registry_count(struct bk_broker *b, const char *vhost)
{
	uint32_t n = 0;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next)
		n += conn_matches(b, c, vhost, NULL);
	return n;
}

/* c's byte counters, in BK_HF_RECV_OCT, BK_HF_SEND_OCT order. */
static void
conn_octets(const struct bk_conn *c, uint64_t oct[2])
{
	oct[0] = c->ctr.recv_oct;
	oct[1] = c->ctr.send_oct;
}

/* The values the flat window of c holds (has_hist 0), rebuilt from the
 * counters and their low 32 bits then. */
static void
flat_values(const struct bk_conn *c, uint64_t old[2])
{
	conn_octets(c, old);
	for (int i = 0; i < 2; i++)
		old[i] -= (uint32_t)((uint32_t)old[i] - c->h.flat[i]);
}

/* Record c's byte counters at the current tick: nothing is allocated
 * while they stay put (bk_mgmt.h). */
static void
sample_conn(struct bk_broker *b, struct bk_conn *c, uint64_t tick)
{
	uint64_t oct[2], old[2], since;

	conn_octets(c, oct);
	if (!c->has_hist) {
		if (tick == c->since || (c->h.flat[0] == (uint32_t)oct[0] &&
					 c->h.flat[1] == (uint32_t)oct[1])) {
			c->h.flat[0] = (uint32_t)oct[0];
			c->h.flat[1] = (uint32_t)oct[1];
			return;
		}
		flat_values(c, old);
		c->h.hist = NULL;
		c->has_hist = 1;
		bk_hist_record_from(b, &c->h.hist, BK_HF_RECV_OCT, BK_HF_SEND_OCT + 1,
				    BK_HIST_OBJECT, c->since, old, oct);
		return;
	}
	bk_hist_record(b, &c->h.hist, BK_HF_RECV_OCT, BK_HF_SEND_OCT + 1, BK_HIST_OBJECT,
		       false, oct);
	if (!bk_hist_flat_state(c->h.hist, &since, old))
		return;
	bk_hist_free(c->h.hist);
	c->has_hist = 0;
	c->since = (uint32_t)since;
	c->h.flat[0] = (uint32_t)old[0];
	c->h.flat[1] = (uint32_t)old[1];
}

void
bk_registry_sample(struct bk_broker *b, double secs)
{
	struct bk_mgmt *m = bk_mgmt(b);

	(void)secs;
	for (struct bk_conn *c = m->conns_head; c != NULL; c = c->next) {
		bk_registry_sample_chans(b, c);
		sample_conn(b, c, m->tick);
	}
}

uint32_t
bk_traffic_get(struct bk_broker *b, struct bk_traffic *out, uint32_t max)
{
	struct bk_mgmt *m = bk_mgmt(b);
	uint32_t n = 0, i;

	for (int k = 0; k < BK_PROTO_MAX && m->traffic[k].protocol[0] && n < max; k++) {
		out[n].protocol = m->traffic[k].protocol;
		out[n].ctr = m->traffic[k].ctr;
		out[n++].connections = 0;
	}
	for (struct bk_conn *c = m->conns_head; c != NULL; c = c->next) {
		const char *protocol = bk_registry_protocol(m, c);

		for (i = 0; i < n && strcmp(out[i].protocol, protocol) != 0; i++)
			;
		if (i == n) {
			if (n == max)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			out[n++].protocol = protocol;
		}
		out[i].ctr.recv_oct += c->ctr.recv_oct;
		out[i].ctr.recv_cnt += c->ctr.recv_cnt;
		out[i].ctr.send_oct += c->ctr.send_oct;
		out[i].ctr.send_cnt += c->ctr.send_cnt;
		out[i].connections++;
	}
	return n;
}

void
bk_registry_fini(struct bk_broker *b)
{
	struct bk_mgmt *m = bk_mgmt(b);

	/* Adapters normally unregister before the broker goes; whatever is
	 * left is freed without calling anyone. */
	while (m->conns_head)
		bk_conn_unregister(b, m->conns_head);
	bk_registry_chan_fini(m);
}

/* ---- views ---- */

/* The history of c for a view, built in space while it keeps none. */
static const struct bk_hist *
conn_hist(struct bk_broker *b, const struct bk_conn *c, uint64_t *space)
{
	uint64_t old[2];

	if (c->has_hist)
		return c->h.hist;
	flat_values(c, old);
	return bk_hist_flat(b, space, BK_HIST_FLAT_WORDS, BK_HF_RECV_OCT, BK_HF_SEND_OCT + 1,
			    BK_HIST_OBJECT, c->since, old);
}

static void
conn_view(struct bk_broker *b, const struct bk_conn *c, struct bk_conn_view *v)
{
	struct bk_conn_info ci;

	memset(v, 0, offsetof(struct bk_conn_view, name_buf));
	bk_registry_info(b, c, &ci);
	v->id = c->id;
	v->name = bk_registry_name(&ci, v->name_buf);
	v->protocol = ci.protocol;
	v->peer_host = ci.peer_host;
	v->host = ci.host;
	v->peer_port = ci.peer_port;
	v->port = ci.port;
	v->ssl = ci.ssl;
	v->user = ci.user;
	v->vhost = ci.vhost;
	v->connected_at = c->connected_at;
	v->client_properties = ci.client_properties;
	v->client_id = ci.client_id;
	v->ctr = c->ctr;
	v->hist = conn_hist(b, c, v->hist_space);
	v->st.state = "running";
	if (c->ops && c->ops->describe)
		c->ops->describe(c->ctx, &v->st);
}

int
bk_conns_each(struct bk_broker *b, const char *vhost, bk_conn_each_fn fn, void *arg)
{
	struct bk_conn_view v;
	int rc;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		if (!conn_matches(b, c, vhost, NULL))
			continue;
		conn_view(b, c, &v);
		if ((rc = fn(arg, &v)) != 0)
			return rc;
	}
	return 0;
}

enum bk_status
bk_conn_inspect(struct bk_broker *b, const char *name, bk_conn_each_fn fn, void *arg)
{
	struct bk_conn *c = find_by_name(b, name);
	struct bk_conn_view v;

	if (c == NULL)
		return BK_NOT_FOUND;
	conn_view(b, c, &v);
	fn(arg, &v);
	return BK_OK;
}
