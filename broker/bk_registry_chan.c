/*
 * bk_registry_chan.c: the channel half of the registry (bk_registry.c).
 *
 * A channel record holds what only the registry knows: its ids, its
 * counters and its history. Its name is derived from its connection's
 * when a view is taken; its history is made only once a counter moves
 * (bk_hist_record_lazy), so an idle channel costs one small record.
 *
 * Channels are found by id (bk_chan_inspect, once per consumer in
 * /api/consumers) through an open-addressing table of pointers in struct
 * bk_mgmt: linear probing on a hash of the id, at most half full,
 * deletion by backward shift, halved when a quarter full.
 *
 *   chan_tab: [ NULL | ch 7 | ch 12 | NULL | ch 3 | ... ]   chan_mask + 1 slots
 */
#include "bk_mgmt.h"

#include <stdio.h>
#include <string.h>

#define TAB_MIN 16

static uint32_t
slot_of(const struct bk_mgmt *m, uint64_t id)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & m->chan_mask;
}

static void
tab_put(struct bk_mgmt *m, struct bk_chan *ch)
{
	uint32_t i = slot_of(m, ch->id);

	while (m->chan_tab[i] != NULL)
		i = (i + 1) & m->chan_mask;
	m->chan_tab[i] = ch;
}

/* Rehash into cap slots (a power of two above twice the count). */
static void
tab_resize(struct bk_mgmt *m, uint32_t cap)
{
	struct bk_chan **old = m->chan_tab;
	uint32_t n = old ? m->chan_mask + 1 : 0;

	m->chan_tab = bk_calloc(cap, sizeof(*m->chan_tab));
	m->chan_mask = cap - 1;
	for (uint32_t i = 0; i < n; i++)
		if (old[i] != NULL)
			tab_put(m, old[i]);
	bk_free(old);
}

/* m->nchans already counts ch. */
static void
tab_add(struct bk_mgmt *m, struct bk_chan *ch)
{
	if (m->chan_tab == NULL)
		tab_resize(m, TAB_MIN);
	else if ((uint64_t)m->nchans * 2 > m->chan_mask + 1)
		tab_resize(m, (m->chan_mask + 1) * 2);
	tab_put(m, ch);
}

static struct bk_chan *
tab_find(const struct bk_mgmt *m, uint64_t id)
{
	if (m->chan_tab == NULL)
		return NULL;
	for (uint32_t i = slot_of(m, id); m->chan_tab[i] != NULL; i = (i + 1) & m->chan_mask)
		if (m->chan_tab[i]->id == id)
			return m->chan_tab[i];
	return NULL;
}

/* m->nchans no longer counts ch. */
static void
tab_del(struct bk_mgmt *m, struct bk_chan *ch)
{
	uint32_t i = slot_of(m, ch->id), j, home;

	while (m->chan_tab[i] != ch)
		i = (i + 1) & m->chan_mask;
	/* Backward shift: move up every entry of the run after i that may
	 * sit in the hole (its home is not cyclically in (i, j]). */
	for (j = (i + 1) & m->chan_mask; m->chan_tab[j] != NULL; j = (j + 1) & m->chan_mask) {
		home = slot_of(m, m->chan_tab[j]->id);
		if (((j - home) & m->chan_mask) >= ((j - i) & m->chan_mask)) {
			m->chan_tab[i] = m->chan_tab[j];
			i = j;
		}
	}
	m->chan_tab[i] = NULL;
	if (m->nchans == 0) {
		BK_FREE(m->chan_tab);
		m->chan_mask = 0;
	} else if (m->chan_mask + 1 > TAB_MIN && (uint64_t)m->nchans * 4 < m->chan_mask + 1) {
		tab_resize(m, (m->chan_mask + 1) / 2);
	}
}

void
bk_registry_chan_fini(struct bk_mgmt *m)
{
	BK_FREE(m->chan_tab);
	m->chan_mask = 0;
}

struct bk_chan *
bk_chan_register(struct bk_broker *b, struct bk_conn *c, uint32_t number,
		 const struct bk_chan_ops *ops, void *ctx)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_chan *ch = bk_calloc(1, sizeof(*ch));

	ch->id = m->next_chan_id++;
	ch->number = number;
	ch->conn = c;
	ch->ops = ops;
	ch->ctx = ctx;
	ch->born = (uint32_t)(m->tick + 1);     /* the sampler counts ticks, then records */
	ch->cnext = c->chans;
	if (c->chans)
		c->chans->cprev = ch;
	c->chans = ch;
	m->nchans++;
	tab_add(m, ch);
	b->churn.chan_created++;
	return ch;
}

void
bk_chan_unregister(struct bk_broker *b, struct bk_chan *ch)
{
	struct bk_mgmt *m;

	if (ch == NULL)
		return;
	m = bk_mgmt(b);
	if (ch->cprev)
		ch->cprev->cnext = ch->cnext;
	else
		ch->conn->chans = ch->cnext;
	if (ch->cnext)
		ch->cnext->cprev = ch->cprev;
	m->nchans--;
	tab_del(m, ch);
	b->churn.chan_closed++;
	for (int i = 0; i < BK_MS__COUNT; i++)
		m->chan_gone.n[i] += ch->ctr.ms.n[i];
	bk_hist_free(ch->hist);
	bk_free(ch);
}

uint64_t bk_chan_id(const struct bk_chan *ch) { return ch ? ch->id : 0; }
struct bk_chan_counters *bk_chan_counters(struct bk_chan *ch) { return &ch->ctr; }

void
bk_registry_sample_chans(struct bk_broker *b, struct bk_conn *c)
{
	for (struct bk_chan *ch = c->chans; ch != NULL; ch = ch->cnext)
		bk_hist_record_lazy(b, &ch->hist, BK_HF_MS, BK_HF_MS + BK_MS__COUNT,
				    BK_HIST_OBJECT, ch->born, ch->ctr.ms.n);
}

static void
chan_view(struct bk_broker *b, const struct bk_chan *ch, struct bk_chan_view *v)
{
	struct bk_conn_info ci;

	memset(v, 0, offsetof(struct bk_chan_view, name_buf));
	bk_registry_info(b, ch->conn, &ci);
	v->id = ch->id;
	v->number = ch->number;
	v->conn_name = bk_registry_name(&ci, v->conn_name_buf);
	snprintf(v->name_buf, sizeof(v->name_buf), "%s (%u)", v->conn_name,
		 (unsigned)ch->number);
	v->name = v->name_buf;
	v->conn_id = ch->conn->id;
	v->user = ci.user;
	v->vhost = ci.vhost;
	v->ms = ch->ctr.ms;
	v->hist = ch->hist;
	if (v->hist == NULL)
		v->hist = bk_hist_flat_zero(b, v->hist_space, BK_HIST_FLAT_WORDS, BK_HF_MS,
					    BK_HF_MS + BK_MS__COUNT, BK_HIST_OBJECT, ch->born);
	bk_hist_rates(b, v->hist, &v->rates);
	v->st.state = "running";
	if (ch->ops && ch->ops->describe)
		ch->ops->describe(ch->ctx, &v->st);
}

int
bk_chans_each(struct bk_broker *b, const char *vhost, uint64_t conn_id,
	      bk_chan_each_fn fn, void *arg)
{
	struct bk_chan_view v;
	int rc;

	struct bk_conn_info ci;

	for (struct bk_conn *c = bk_mgmt(b)->conns_head; c != NULL; c = c->next) {
		if ((conn_id && c->id != conn_id) || c->chans == NULL)
			continue;
		if (vhost) {
			bk_registry_info(b, c, &ci);
			if (!ci.vhost || strcmp(ci.vhost, vhost) != 0)
				continue;
		}
		for (struct bk_chan *ch = c->chans; ch != NULL; ch = ch->cnext) {
			chan_view(b, ch, &v);
			if ((rc = fn(arg, &v)) != 0)
				return rc;
		}
	}
	return 0;
}

enum bk_status
bk_chan_inspect(struct bk_broker *b, uint64_t id, bk_chan_each_fn fn, void *arg)
{
	struct bk_chan *ch = tab_find(bk_mgmt(b), id);
	struct bk_chan_view v;

	if (ch == NULL)
		return BK_NOT_FOUND;
	chan_view(b, ch, &v);
	fn(arg, &v);
	return BK_OK;
}
