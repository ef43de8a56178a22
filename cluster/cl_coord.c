/*
 * cl_coord.c: the etcd thread. It keeps this node's lease alive, watches
 * the leader key (a range every poll), campaigns when the key is gone,
 * and, on the leader, writes the in-sync set the loop asks for.
 *
 * Fencing. etcd expires a lease no sooner than TTL after the last
 * keepalive it answered, and that keepalive left here at `renewed`; a
 * new leader can only be elected after that. The leader may therefore
 * complete batches until renewed + 3/4 TTL (cl_coord_fence), a quarter
 * of the TTL kept for clock drift and for the completions of the
 * current loop iteration. Keepalives go every TTL/5, so one slow or lost
 * answer does not fence a healthy leader, and two or three in a row do.
 *
 * The loop hears of changes through a pipe (one byte per event; the
 * state itself is read under the lock with cl_coord_event).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bk_log.h"
#include "cl_coord_int.h"

void
cl_coord_post(struct cl_coord *c, bool *flag)
{
	char b = 1;

	*flag = true;
	if (write(c->pipe_w, &b, 1) < 0 && errno != EAGAIN)
		bk_warn("cluster: cannot wake the event loop: %s", strerror(errno));
}

/* The identity a founder gives the cluster: data_dir's, or a new one. */
static void
new_id(const struct cl_coord *c, char id[CL_ID_MAX])
{
	unsigned char rnd[16];

	if (c->id[0]) {
		snprintf(id, CL_ID_MAX, "%s", c->id);
		return;
	}
	RAND_bytes(rnd, sizeof(rnd));
	for (int i = 0; i < 16; i++)
		snprintf(id + 2 * i, 3, "%02x", rnd[i]);
}

static void
sleep_ms(struct cl_coord *c, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

/* A follower's turn: follow whoever leads, or campaign. Lock held. */
static void
follower_step(struct cl_coord *c, int64_t lease, uint64_t renewed)
{
	char val[CL_VALUE_MAX], who[CL_NAME_MAX], id[CL_ID_MAX];
	bool eligible = c->eligible, founded = false;
	int64_t klease = 0;
	int rc, won = 0;

	new_id(c, id);
	pthread_mutex_unlock(&c->lock);
	rc = cl_etcd_leader(c->etcd, val, sizeof(val), &klease);
	if (rc == 0) {
		if (eligible)
			won = cl_etcd_campaign(c->etcd, c->name, c->value, lease, NULL);
		if (won == 0)
			founded = (won = cl_etcd_campaign(c->etcd, c->name, c->value, lease, id)) == 1;
	}
	if (founded && cl_local_set_id(c->cfg->data_dir, id) < 0)
		bk_warn("cluster: cannot record cluster %s in '%s'", id, c->cfg->data_dir);
	pthread_mutex_lock(&c->lock);
	if (rc < 0 || won < 0)
		c->dirty = true;        /* etcd did not answer: again next turn */
	if (founded) {
		snprintf(c->id, sizeof(c->id), "%s", id);
		bk_info("cluster: %s founds cluster %s", c->name, id);
	}
	if (won == 1) {
		c->leader = true;
		c->dirty = true;        /* read the member list */
		c->fence_until = renewed + c->ttl * 750u;
		cl_coord_post(c, &c->ev_lead);
		return;
	}
	if (rc != 1 || sscanf(val, "%63s", who) != 1)
		return;
	/* Our own key from before a restart: wait for its lease to end. */
	if (strcmp(who, c->name) == 0 && klease != lease)
		return;
	if (strcmp(val, c->follow) != 0) {
		snprintf(c->follow, sizeof(c->follow), "%s", val);
		cl_coord_post(c, &c->ev_follow);
	}
}

/* The leader's turn: record the in-sync changes asked for. Lock held. */
static void
leader_step(struct cl_coord *c)
{
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++) {
		struct want *w = &c->w[i];
		char name[CL_NAME_MAX];
		bool on = w->on;
		int rc;

		if (!w->used || w->on == w->recorded)
			continue;
		snprintf(name, sizeof(name), "%s", w->name);
		pthread_mutex_unlock(&c->lock);
		rc = cl_etcd_insync(c->etcd, name, on, c->value);
		pthread_mutex_lock(&c->lock);
		if (rc == 1 && w->used && strcmp(w->name, name) == 0) {
			w->recorded = on;
			bk_info("cluster: %s is %s the in-sync set", name, on ? "in" : "out of");
			cl_coord_post(c, &c->ev_insync);
		} else if (rc == 0) {
			cl_coord_post(c, &c->ev_fenced);
		}
	}
}

static bool
wants_pending(const struct cl_coord *c)
{
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++)
		if (c->w[i].used && c->w[i].on != c->w[i].recorded)
			return true;
	return false;
}

/* Grant or renew the lease. Lock held. */
static void
lease_step(struct cl_coord *c, int64_t *lease, uint64_t *renewed)
{
	uint64_t t0 = cl_mono_ms();
	bool grant = *lease == 0;
	int rc;

	if (!grant && t0 - *renewed < c->ttl * 200u)
		return;
	pthread_mutex_unlock(&c->lock);
	rc = grant ? cl_etcd_grant(c->etcd, c->ttl, lease) : cl_etcd_keepalive(c->etcd, *lease);
	pthread_mutex_lock(&c->lock);
	if (rc == 0) {
		if (grant) {
			c->registered = false;  /* alive/NAME on the new lease */
			c->dirty = true;        /* campaign with it */
		}
		*renewed = t0;
		if (c->leader)
			c->fence_until = t0 + c->ttl * 750u;
	} else if (rc == -EIO && c->watching) {
		/* etcd does not answer: poll until the watch is back, on a
		 * new connection (the old one may be half-open) */
		c->watching = false;
		cl_watch_restart(c->watch);
	} else if (rc == -ENOENT) {
		bk_warn("cluster: etcd no longer has this node's lease");
		*lease = 0;
		if (c->leader)
			cl_coord_post(c, &c->ev_fenced);
	}
}

/* The watch thread says: in place and something changed (watching), or
 * broken (poll again). */
static void
on_watch(void *arg, bool watching)
{
	struct cl_coord *c = arg;

	pthread_mutex_lock(&c->lock);
	c->watching = watching;
	c->dirty = true;
	c->woken++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* One turn: etcd is read when the watch saw a change or is not in
 * place (polling); the lease and the in-sync wishes every turn. */
static void
turn(struct cl_coord *c, int64_t *lease, uint64_t *renewed)
{
	bool poll;

	lease_step(c, lease, renewed);
	if (*lease == 0)
		return;
	if (!c->registered)
		cl_register_step(c, *lease);
	poll = c->dirty || !c->watching;
	if (c->leader) {
		leader_step(c);
		if (poll) {
			c->dirty = false;
			cl_members_step(c);
		}
		return;
	}
	if (c->ev_fenced || c->ev_foreign)
		return;
	if (!c->checked || c->id[0] == '\0')
		cl_identity_step(c);
	if (c->checked && !c->ev_foreign && poll) {
		c->dirty = false;
		follower_step(c, *lease, *renewed);
	}
}

static void *
run(void *arg)
{
	struct cl_coord *c = arg;
	int64_t lease = 0;
	uint64_t renewed = 0;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		uint64_t woken = c->woken;

		turn(c, &lease, &renewed);
		/* at once again only if woken during the turn (a failed etcd
		 * call waits like a poll) */
		if (!c->stop && !wants_pending(c) && woken == c->woken)
			sleep_ms(c, lease == 0 ? 250 : c->ttl * 100u);
	}
	pthread_mutex_unlock(&c->lock);
	if (lease != 0 && c->leader && !c->ev_fenced)
		cl_etcd_revoke(c->etcd, lease);
	return NULL;
}

struct cl_coord *
cl_coord_new(const struct cluster_config *cfg, const char *value, int *event_fd)
{
	struct cl_coord *c = calloc(1, sizeof(*c));
	int p[2];

	if (c == NULL)
		return NULL;
	c->pipe_r = c->pipe_w = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->cfg = cfg;
	cl_local_id(cfg->data_dir, c->id);
	snprintf(c->name, sizeof(c->name), "%s", cfg->node_name);
	snprintf(c->value, sizeof(c->value), "%s", value);
	c->ttl = cfg->lease_ttl;
	c->etcd = cl_etcd_new(cfg->etcd_endpoints, cfg->etcd_prefix,
			      cfg->lease_ttl * 1000u / 3);
	if (c->etcd == NULL || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	c->pipe_r = p[0];
	c->pipe_w = p[1];
	c->dirty = true;
	if ((c->watch = cl_watch_new(cfg, on_watch, c)) == NULL ||
	    pthread_create(&c->th, NULL, run, c) != 0)
		goto fail;
	c->started = true;
	*event_fd = c->pipe_r;
	return c;
fail:
	cl_coord_free(c);
	return NULL;
}

int
cl_coord_event(struct cl_coord *c, char *host, size_t hlen, int *port)
{
	int ev = -EAGAIN;
	char b[64];

	while (read(c->pipe_r, b, sizeof(b)) > 0)
		;
	pthread_mutex_lock(&c->lock);
	if (c->ev_fenced) {
		ev = CL_EV_FENCED;      /* stays set: the node is done */
	} else if (c->ev_foreign) {
		ev = CL_EV_FOREIGN;     /* as final */
	} else if (c->ev_lead) {
		c->ev_lead = false;
		c->ev_follow = false;
		ev = CL_EV_LEAD;
	} else if (c->ev_follow) {
		char name[CL_NAME_MAX];

		c->ev_follow = false;
		if (sscanf(c->follow, "%63s %255s %d", name, host, port) == 3 && hlen > 255)
			ev = CL_EV_FOLLOW;
	} else if (c->ev_insync) {
		c->ev_insync = false;
		ev = CL_EV_INSYNC;
	}
	pthread_mutex_unlock(&c->lock);
	return ev;
}

void
cl_coord_eligible(struct cl_coord *c, bool on)
{
	pthread_mutex_lock(&c->lock);
	c->eligible = on;
	c->dirty = true;                /* may campaign now */
	c->woken++;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

uint64_t
cl_coord_fence(struct cl_coord *c)
{
	uint64_t t;

	pthread_mutex_lock(&c->lock);
	t = c->ev_fenced ? 0 : c->fence_until;
	pthread_mutex_unlock(&c->lock);
	return t;
}

void
cl_coord_want_insync(struct cl_coord *c, const char *name, bool on)
{
	struct want *free_slot = NULL;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++) {
		struct want *w = &c->w[i];

		if (w->used && strcmp(w->name, name) == 0) {
			w->on = on;
			goto out;
		}
		if (!w->used && free_slot == NULL)
			free_slot = w;
	}
	if (free_slot && on) {
		free_slot->used = true;
		free_slot->on = true;
		free_slot->recorded = false;
		snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
	}
out:
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

bool
cl_coord_insync(struct cl_coord *c, const char *name, bool *recorded_on)
{
	bool found = false;

	*recorded_on = false;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CL_MAX_FOLLOWERS; i++)
		if (c->w[i].used && strcmp(c->w[i].name, name) == 0) {
			*recorded_on = c->w[i].recorded;
			found = true;
		}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void
cl_coord_free(struct cl_coord *c)
{
	if (c == NULL)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->th, NULL);
	}
	cl_watch_free(c->watch);
	cl_etcd_free(c->etcd);
	if (c->pipe_r >= 0)
		close(c->pipe_r);
	if (c->pipe_w >= 0)
		close(c->pipe_w);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
