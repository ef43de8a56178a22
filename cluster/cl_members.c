/*
 * cl_members.c: what the etcd thread keeps in etcd besides the election
 * (cl_coord.c):
 *
 *   <prefix>/cluster        the cluster's identity, checked against the
 *                           one the data_dir belongs to (cl_local.c)
 *   <prefix>/members/NAME   "NAME HOST PORT", put by each node when it
 *                           starts and kept: the member list
 *   <prefix>/alive/NAME     on the node's lease: present while it runs
 *
 * The leader reads the last two for /api/nodes, which lists a member that
 * is down as not running, as RabbitMQ does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bk_log.h"
#include "cl_coord_int.h"

/*
 * The cluster's identity in etcd against the one data_dir belongs to: a
 * data_dir of another cluster must not be copied over (ev_foreign stops
 * the node); a data_dir of none yet takes etcd's before anything is
 * copied into it. Lock held.
 */
void
cl_identity_step(struct cl_coord *c)
{
	char val[CL_VALUE_MAX];
	int64_t l = 0;
	int rc, wr = 0;

	pthread_mutex_unlock(&c->lock);
	rc = cl_etcd_get(c->etcd, "/cluster", val, sizeof(val), &l);
	if (rc == 1 && c->id[0] == '\0' && (wr = cl_local_set_id(c->cfg->data_dir, val)) == 0)
		bk_info("cluster: data_dir '%s' joins cluster %s", c->cfg->data_dir, val);
	pthread_mutex_lock(&c->lock);
	if (rc < 0 || (wr < 0 && wr != -EINVAL)) {
		if (wr < 0)
			bk_warn("cluster: cannot write '%s/%s': %s", c->cfg->data_dir,
				ST_REPL_LOCAL, strerror(-wr));
		return;                 /* again next turn */
	}
	if (rc == 1 && c->id[0] == '\0' && wr == 0)
		snprintf(c->id, sizeof(c->id), "%.64s", val);
	if (rc == 1 && strcmp(c->id, val) != 0) {
		bk_error("cluster: data_dir '%s' belongs to cluster %s, but etcd (prefix '%s') "
			 "holds cluster %.64s: this node will not join it and overwrite its "
			 "data; give it an empty data_dir to join as a new member",
			 c->cfg->data_dir, c->id[0] ? c->id : "(none)", c->cfg->etcd_prefix, val);
		cl_coord_post(c, &c->ev_foreign);
		return;
	}
	c->checked = true;
}

/* Register this node: members/NAME for good, alive/NAME on its lease
 * (gone once the node is). Lock held. */
void
cl_register_step(struct cl_coord *c, int64_t lease)
{
	char mk[CL_NAME_MAX + 16], ak[CL_NAME_MAX + 16];
	bool ok;

	snprintf(mk, sizeof(mk), "/members/%s", c->name);
	snprintf(ak, sizeof(ak), "/alive/%s", c->name);
	pthread_mutex_unlock(&c->lock);
	ok = cl_etcd_put(c->etcd, mk, c->value, 0) == 0 && cl_etcd_put(c->etcd, ak, "1", lease) == 0;
	pthread_mutex_lock(&c->lock);
	c->registered = ok;
}

struct mlist {
	char name[CL_MAX_MEMBERS][CL_NAME_MAX];
	bool running[CL_MAX_MEMBERS];
	int n;
};

static void
add_member(void *arg, const char *name)
{
	struct mlist *m = arg;

	if (m->n < CL_MAX_MEMBERS)
		snprintf(m->name[m->n++], CL_NAME_MAX, "%s", name);
}

static void
mark_alive(void *arg, const char *name)
{
	struct mlist *m = arg;

	for (int i = 0; i < m->n; i++)
		if (strcmp(m->name[i], name) == 0)
			m->running[i] = true;
}

/* The leader reads the member list and who runs. Lock held. */
void
cl_members_step(struct cl_coord *c)
{
	struct mlist m = { .n = 0 };
	bool ok;

	pthread_mutex_unlock(&c->lock);
	ok = cl_etcd_list(c->etcd, "/members/", add_member, &m) >= 0 &&
	     cl_etcd_list(c->etcd, "/alive/", mark_alive, &m) >= 0;
	pthread_mutex_lock(&c->lock);
	if (!ok) {
		c->dirty = true;
		return;
	}
	for (int i = 0; i < m.n; i++) {
		snprintf(c->mem[i].name, CL_NAME_MAX, "%s", m.name[i]);
		c->mem[i].running = m.running[i];
	}
	c->nmem = m.n;
}


void
cl_coord_members(struct cl_coord *c, void (*fn)(void *arg, const char *name, bool running),
		 void *arg)
{
	struct mlist m;

	pthread_mutex_lock(&c->lock);
	m.n = c->nmem;
	for (int i = 0; i < m.n; i++) {
		memcpy(m.name[i], c->mem[i].name, CL_NAME_MAX);
		m.running[i] = c->mem[i].running;
	}
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < m.n; i++)
		fn(arg, m.name[i], m.running[i]);
}

