/*
 * bk_registry.c: the connection and channel registry.
 *
 * Adapters register each client connection and channel here so that
 * management can list and close them without knowing any protocol.
 * Records are owned by the registry; the adapter holds the pointer it got
 * from bk_conn_register()/bk_chan_register() and increments the counters
 * in it directly. Connections sit in one list (registration order),
 * channels in their connection's list and in a table by id
 * (bk_registry_chan.c). A connection's strings are one block (bk_mgmt.h).
 *
 * Re-entrancy: listing calls the adapters' describe() (which must not
 * change anything); bk_conn_close_by_name() and
 * bk_registry_close_matching() call ops->close(), which may unregister
 * channels (never the connection itself: that is freed later), so the
 * walks there collect first and close after.
 */
#include "bk_mgmt.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_CLOSE_REASON "Closed via management plugin"

/* Rebuild c's string block: name, peer_host and host as they are, then
 * user, vhost and client_id (each NULL: kept as it is; vhost and
 * client_id stay NULL until set). */
static void
strs_build(struct bk_conn *c, struct bk_str user, struct bk_str vhost, struct bk_str cid)
{
	struct bk_str v[6] = {
		bk_str_c(c->name), bk_str_c(c->peer_host), bk_str_c(c->host),
		user.p ? user : bk_str_c(c->user),
		vhost.p ? vhost : bk_str_c(c->vhost),
		cid.p ? cid : bk_str_c(c->client_id),
	};
	bool has[6] = { true, true, true, true, vhost.p || c->vhost, cid.p || c->client_id };
	const char **at[6] = { &c->name, &c->peer_host, &c->host, &c->user, &c->vhost,
			       &c->client_id };
	size_t len = 0;
	char *block, *p;

	for (int i = 0; i < 6; i++)
		len += has[i] ? v[i].len + 1 : 0;
	block = p = bk_malloc(len);
	for (int i = 0; i < 6; i++) {
		if (!has[i])
			continue;
		if (v[i].len)
			memcpy(p, v[i].p, v[i].len);
		p[v[i].len] = '\0';
		p += v[i].len + 1;
	}
	for (int i = 0, off = 0; i < 6; i++) {
		*at[i] = has[i] ? block + off : NULL;
		off += has[i] ? (int)v[i].len + 1 : 0;
	}
	bk_free(c->strs);
	c->strs = block;
}

struct bk_conn *
bk_conn_register(struct bk_broker *b, const struct bk_conn_info *info)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_conn *c = bk_calloc(1, sizeof(*c));
	const char *ph = info->peer_host ? info->peer_host : "";
	const char *h = info->host ? info->host : "";
	char name[256];

	c->id = m->next_conn_id++;
	c->broker = b;
	c->protocol = info->protocol ? info->protocol : "";
	c->peer_port = info->peer_port;
	c->port = info->port;
	c->ssl = info->ssl;
	c->ops = info->ops;
	c->ctx = info->ctx;
	c->connected_at = bk_now_ms();
	snprintf(name, sizeof(name), "%s:%u -> %s:%u", ph, (unsigned)c->peer_port, h,
		 (unsigned)c->port);
	c->name = name;
	c->peer_host = ph;
	c->host = h;
	c->user = "";
	strs_build(c, (struct bk_str){ NULL, 0 }, (struct bk_str){ NULL, 0 },
		   (struct bk_str){ NULL, 0 });
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

/* Keep a closing connection's traffic in its protocol's totals. */
static void
traffic_keep(struct bk_mgmt *m, const struct bk_conn *c)
{
	struct bk_proto_traffic *t = NULL;

	for (int i = 0; i < BK_PROTO_MAX && t == NULL; i++)
		if (m->traffic[i].protocol[0] == '\0' ||
		    strcmp(m->traffic[i].protocol, c->protocol) == 0)
			t = &m->traffic[i];
	if (t == NULL)
		return;                 /* more protocols than slots: not kept */
	snprintf(t->protocol, sizeof(t->protocol), "%s", c->protocol);
	t->ctr.recv_oct += c->ctr.recv_oct;
	t->ctr.recv_cnt += c->ctr.recv_cnt;
	t->ctr.send_oct += c->ctr.send_oct;
	t->ctr.send_cnt += c->ctr.send_cnt;
}

static void
conn_free(struct bk_conn *c)
{
	bk_free(c->strs);
	bk_free(c->props);
	bk_hist_free(c->hist);
	bk_free(c);
}

void
bk_conn_unregister(struct bk_conn *c)
{
	struct bk_mgmt *m;

	if (c == NULL)
		return;
	m = bk_mgmt(c->broker);
	while (c->chans)
		bk_chan_unregister(c->chans);
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		m->conns_tail = c->prev;
	m->nconns--;
	c->broker->churn.conn_closed++;
	traffic_keep(m, c);
	conn_free(c);
}

uint64_t bk_conn_id(const struct bk_conn *c) { return c ? c->id : 0; }
struct bk_conn_counters *bk_conn_counters(struct bk_conn *c) { return &c->ctr; }

static const struct bk_str keep = { NULL, 0 };

void
bk_conn_set_user(struct bk_conn *c, struct bk_str user)
{
	strs_build(c, (struct bk_str){ user.p ? user.p : "", user.p ? user.len : 0 }, keep,
		   keep);
}

void
bk_conn_set_vhost(struct bk_conn *c, const char *vhost)
{
	if (vhost) {
		strs_build(c, keep, bk_str_c(vhost), keep);
		return;
	}
	c->vhost = NULL;
	strs_build(c, keep, keep, keep);
}

void
bk_conn_set_client_properties(struct bk_conn *c, struct bk_table props)
{
	BK_FREE(c->props);
	c->props_len = 0;
	if (props.len == 0)
		return;
	c->props = bk_malloc(props.len);
	memcpy(c->props, props.p, props.len);
	c->props_len = props.len;
}

void
bk_conn_set_client_id(struct bk_conn *c, struct bk_str id)
{
	strs_build(c, keep, keep, (struct bk_str){ id.p ? id.p : "", id.p ? id.len : 0 });
}

void
bk_conn_set_owner(struct bk_conn *c, bk_owner owner)
{
	c->owner = owner;
}

static struct bk_conn *
find_by_name(struct bk_mgmt *m, const char *name)
{
	for (struct bk_conn *c = m->conns_head; c != NULL; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

enum bk_status
bk_conn_close_by_name(struct bk_broker *b, const char *name, const char *reason,
		      struct bk_err *err)
{
	struct bk_conn *c = find_by_name(bk_mgmt(b), name);

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
	for (struct bk_conn *c = m->conns_head; c != NULL; c = c->next) {
		if (vhost && (!c->vhost || strcmp(c->vhost, vhost) != 0))
			continue;
		if (user && strcmp(c->user, user) != 0)
			continue;
		v[n++] = c;
	}
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
		if (owner != NULL && c->owner == owner)
			return c->id;
	return 0;
}

uint32_t
bk_registry_count(struct bk_broker *b, const char *vhost)
{
	uint32_t n = 0;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next)
		if (!vhost || (c->vhost && strcmp(c->vhost, vhost) == 0))
			n++;
	return n;
}

void
bk_registry_sample(struct bk_broker *b, double secs)
{
	uint64_t oct[2];

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		bk_registry_sample_chans(b, c);
		oct[0] = c->ctr.recv_oct;
		oct[1] = c->ctr.send_oct;
		bk_hist_record(b, &c->hist, BK_HF_RECV_OCT, BK_HF_SEND_OCT + 1,
			       BK_HIST_OBJECT, false, oct);
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
		for (i = 0; i < n && strcmp(out[i].protocol, c->protocol) != 0; i++)
			;
		if (i == n) {
			if (n == max)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			out[n++].protocol = c->protocol;
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
		bk_conn_unregister(m->conns_head);
	bk_registry_chan_fini(m);
}

/* ---- views ---- */

static void
conn_view(const struct bk_conn *c, struct bk_conn_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = c->id;
	v->name = c->name;
	v->protocol = c->protocol;
	v->peer_host = c->peer_host;
	v->host = c->host;
	v->peer_port = c->peer_port;
	v->port = c->port;
	v->ssl = c->ssl;
	v->user = c->user;
	v->vhost = c->vhost;
	v->connected_at = c->connected_at;
	v->client_properties = (struct bk_table){ c->props, c->props_len };
	v->client_id = c->client_id;
	v->ctr = c->ctr;
	v->hist = c->hist;
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
		if (vhost && (!c->vhost || strcmp(c->vhost, vhost) != 0))
			continue;
		conn_view(c, &v);
		if ((rc = fn(arg, &v)) != 0)
			return rc;
	}
	return 0;
}

enum bk_status
bk_conn_inspect(struct bk_broker *b, const char *name, bk_conn_each_fn fn, void *arg)
{
	struct bk_conn *c = find_by_name(bk_mgmt(b), name);
	struct bk_conn_view v;

	if (c == NULL)
		return BK_NOT_FOUND;
	conn_view(c, &v);
	fn(arg, &v);
	return BK_OK;
}
