/*
 * bk_registry.c: the connection and channel registry.
 *
 * Adapters register each client connection and channel here so that
 * management can list and close them without knowing any protocol.
 * Records are owned by the registry; the adapter holds the pointer it got
 * from bk_conn_register()/bk_chan_register() and increments the counters
 * in it directly. Connections sit in one list (registration order),
 * channels in a hash by id and in their connection's list.
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

struct bk_conn *
bk_conn_register(struct bk_broker *b, const struct bk_conn_info *info)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_conn *c = bk_calloc(1, sizeof(*c));
	char name[256];

	c->id = m->next_conn_id++;
	c->broker = b;
	c->protocol = bk_strdup(info->protocol ? info->protocol : "");
	c->peer_host = bk_strdup(info->peer_host ? info->peer_host : "");
	c->host = bk_strdup(info->host ? info->host : "");
	c->peer_port = info->peer_port;
	c->port = info->port;
	c->ssl = info->ssl;
	c->ops = info->ops;
	c->ctx = info->ctx;
	c->user = bk_strdup("");
	c->connected_at = bk_now_ms();
	snprintf(name, sizeof(name), "%s:%u -> %s:%u", c->peer_host,
		 (unsigned)c->peer_port, c->host, (unsigned)c->port);
	c->name = bk_strdup(name);
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
bk_chan_unregister(struct bk_chan *ch)
{
	struct bk_mgmt *m;

	if (ch == NULL)
		return;
	m = bk_mgmt(ch->conn->broker);
	HASH_DEL(m->chans, ch);
	if (ch->cprev)
		ch->cprev->cnext = ch->cnext;
	else
		ch->conn->chans = ch->cnext;
	if (ch->cnext)
		ch->cnext->cprev = ch->cprev;
	m->nchans--;
	ch->conn->broker->churn.chan_closed++;
	for (int i = 0; i < BK_MS__COUNT; i++)
		m->chan_gone.n[i] += ch->ctr.ms.n[i];
	bk_hist_free(ch->hist);
	bk_free(ch->name);
	bk_free(ch);
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
	bk_free(c->name);
	bk_free(c->protocol);
	bk_free(c->peer_host);
	bk_free(c->host);
	bk_free(c->user);
	bk_free(c->vhost);
	bk_free(c->props);
	bk_free(c->client_id);
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

void
bk_conn_set_user(struct bk_conn *c, struct bk_str user)
{
	bk_free(c->user);
	c->user = bk_strndup(user.p ? user.p : "", user.len);
}

void
bk_conn_set_vhost(struct bk_conn *c, const char *vhost)
{
	bk_free(c->vhost);
	c->vhost = vhost ? bk_strdup(vhost) : NULL;
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
	bk_free(c->client_id);
	c->client_id = bk_strndup(id.p ? id.p : "", id.len);
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

/* ---- channels ---- */

struct bk_chan *
bk_chan_register(struct bk_conn *c, uint32_t number, const struct bk_chan_ops *ops,
		 void *ctx)
{
	struct bk_mgmt *m = bk_mgmt(c->broker);
	struct bk_chan *ch = bk_calloc(1, sizeof(*ch));
	char name[300];

	ch->id = m->next_chan_id++;
	ch->number = number;
	ch->conn = c;
	ch->ops = ops;
	ch->ctx = ctx;
	snprintf(name, sizeof(name), "%s (%u)", c->name, number);
	ch->name = bk_strdup(name);
	ch->cnext = c->chans;
	if (c->chans)
		c->chans->cprev = ch;
	c->chans = ch;
	HASH_ADD(hh, m->chans, id, sizeof(ch->id), ch);
	m->nchans++;
	c->broker->churn.chan_created++;
	return ch;
}

uint64_t bk_chan_id(const struct bk_chan *ch) { return ch ? ch->id : 0; }
struct bk_chan_counters *bk_chan_counters(struct bk_chan *ch) { return &ch->ctr; }

void
bk_registry_sample(struct bk_broker *b, double secs)
{
	struct bk_chan *ch, *tmp;
	uint64_t oct[2];

	HASH_ITER(hh, bk_mgmt(b)->chans, ch, tmp) {
		bk_hist_record(b, &ch->hist, BK_HF_MS, BK_HF_MS + BK_MS__COUNT,
			       BK_HIST_OBJECT, false, ch->ctr.ms.n);
	}
	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
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

static void
chan_view(struct bk_broker *b, const struct bk_chan *ch, struct bk_chan_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = ch->id;
	v->number = ch->number;
	v->name = ch->name;
	v->conn_id = ch->conn->id;
	v->conn_name = ch->conn->name;
	v->user = ch->conn->user;
	v->vhost = ch->conn->vhost;
	v->ms = ch->ctr.ms;
	bk_hist_rates(b, ch->hist, &v->rates);
	v->hist = ch->hist;
	v->st.state = "running";
	if (ch->ops && ch->ops->describe)
		ch->ops->describe(ch->ctx, &v->st);
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

int
bk_chans_each(struct bk_broker *b, const char *vhost, uint64_t conn_id,
	      bk_chan_each_fn fn, void *arg)
{
	struct bk_chan_view v;
	int rc;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		if (conn_id && c->id != conn_id)
			continue;
		if (vhost && (!c->vhost || strcmp(c->vhost, vhost) != 0))
			continue;
		for (struct bk_chan *ch = c->chans; ch != NULL; ch = ch->cnext) {
			chan_view(b, ch, &v);
			if ((rc = fn(arg, &v)) != 0)
				return rc;
		}
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

enum bk_status
bk_chan_inspect(struct bk_broker *b, uint64_t id, bk_chan_each_fn fn, void *arg)
{
	struct bk_chan *ch = NULL;
	struct bk_chan_view v;

	HASH_FIND(hh, bk_mgmt(b)->chans, &id, sizeof(id), ch);
	if (ch == NULL)
		return BK_NOT_FOUND;
	chan_view(b, ch, &v);
	fn(arg, &v);
	return BK_OK;
}
