/*
 * cl_nodes.c: what the leader says of the cluster's nodes (/api/nodes,
 * /metrics): itself, every follower that has streamed from it with its
 * in-sync state and lag, and every other member registered in etcd
 * (cl_members.c), running or not, as RabbitMQ lists a stopped node.
 */
#include <string.h>

#include "bk_admin.h"
#include "cl_leader_int.h"

void
cl_leader_lag(const struct cl_leader *l, const struct cl_member *m, uint64_t *bytes,
	      uint64_t *records)
{
	/* a new connection owes nothing sealed before it */
	uint64_t base = m->conn && m->conn->start - 1 > m->acked ? m->conn->start - 1 : m->acked;
	const struct cl_mark *k = &l->ring[base % CL_RING];
	const struct cl_mark *old = &l->ring[(st_journal_repl_sealed(l->j) + 1) % CL_RING];

	if (base == 0 || k->seq != base)
		k = base == 0 || old->seq == 0 ? &(struct cl_mark){ 0, 0, 0, 0 } : old;
	*bytes = l->bytes - k->bytes;
	*records = l->records - k->records;
}

struct nodes_walk {
	struct cl_leader *l;
	void (*fn)(void *arg, const struct bk_cluster_node *n);
	void *arg;
	bool known;                     /* the member is one of l->mb */
	bool running;                   /* its alive key is in etcd */
	const char *name;
};

/* A member etcd knows of: is it name, and is it running? */
static void
etcd_member(void *arg, const char *name, bool running)
{
	struct nodes_walk *w = arg;

	if (strcmp(name, w->name) == 0) {
		w->known = true;
		w->running = running;
	}
}

/* A member etcd knows of that never streamed from this leader. */
static void
etcd_only(void *arg, const char *name, bool running)
{
	struct nodes_walk *w = arg;
	struct bk_cluster_node n = { .name = name, .running = running };

	if (strcmp(name, w->l->cfg->node_name) == 0)
		return;
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++)
		if (w->l->mb[i].used && strcmp(w->l->mb[i].name, name) == 0)
			return;
	cl_coord_insync(w->l->coord, name, &n.in_sync);
	w->fn(w->arg, &n);
}

void
cl_leader_nodes(struct cl_leader *l, void (*fn)(void *arg, const struct bk_cluster_node *n),
		void *arg)
{
	struct bk_cluster_node n = { .name = l->cfg->node_name, .leader = true,
				     .connected = true, .running = true, .in_sync = true };
	struct nodes_walk w = { l, fn, arg, false, false, NULL };

	fn(arg, &n);
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++) {
		struct cl_member *m = &l->mb[i];

		if (!m->used)
			continue;
		memset(&n, 0, sizeof(n));
		n.name = m->name;
		n.connected = m->conn != NULL && m->conn->state == CL_F_LIVE;
		w.name = m->name;
		w.known = w.running = false;
		cl_coord_members(l->coord, etcd_member, &w);
		n.running = m->conn != NULL || w.running;
		cl_coord_insync(l->coord, m->name, &n.in_sync);
		if (n.connected)
			cl_leader_lag(l, m, &n.lag_bytes, &n.lag_records);
		fn(arg, &n);
	}
	cl_coord_members(l->coord, etcd_only, &w);
}

