/*
 * cluster.c: the cluster object. It owns the etcd thread (cl_coord.c)
 * and reacts to what it reports, on the loop's thread: follow a leader
 * (cl_follower.c), become the leader (the daemon opens storage and
 * serves, then cluster_lead starts cl_leader.c), or stop dead when etcd
 * says another node may lead.
 *
 * The node's own file, ST_REPL_LOCAL in data_dir, says whether the
 * copy there is whole ("synced") or being rewritten ("syncing"); only a
 * whole copy may campaign. It is never replicated.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_int.h"

struct cluster {
	struct cluster_config cfg;      /* strings owned */
	struct event_base *base;
	const struct cluster_ops *ops;
	void *arg;
	struct cl_coord *coord;
	struct event *ev;
	struct cl_follower *fol;
	struct cl_leader *lead;
	bool leading;
};

#define LOCAL_SYNCED "synced\n"

bool
cl_local_synced(const char *data_dir)
{
	char path[4096], buf[16] = "";
	int fd;
	ssize_t n = -1;

	snprintf(path, sizeof(path), "%s/%s", data_dir, ST_REPL_LOCAL);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return n == (ssize_t)strlen(LOCAL_SYNCED) && memcmp(buf, LOCAL_SYNCED, (size_t)n) == 0;
}

int
cl_local_set(const char *data_dir, bool synced)
{
	const char *text = synced ? LOCAL_SYNCED : "syncing\n";
	char path[4096], tmp[4200];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir, ST_REPL_LOCAL);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0 && (fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	return rc;
}

struct cl_coord *
cluster_coord(struct cluster *c)
{
	return c->coord;
}

static void
become_leader(struct cluster *c)
{
	int rc;

	cl_follower_free(c->fol);
	c->fol = NULL;
	c->leading = true;
	bk_info("cluster: %s is the leader", c->cfg.node_name);
	if ((rc = cl_local_set(c->cfg.data_dir, true)) < 0)
		bk_warn("cluster: cannot write '%s/%s': %s", c->cfg.data_dir, ST_REPL_LOCAL,
			strerror(-rc));
	if (c->ops->lead(c->arg) != 0)
		event_base_loopexit(c->base, NULL);
}

static void
on_event(evutil_socket_t fd, short what, void *arg)
{
	struct cluster *c = arg;
	char host[256];
	int ev, port;

	while ((ev = cl_coord_event(c->coord, host, sizeof(host), &port)) > 0) {
		switch (ev) {
		case CL_EV_LEAD:
			become_leader(c);
			break;
		case CL_EV_FOLLOW:
			if (c->leading)
				break;
			cl_follower_free(c->fol);
			c->fol = cl_follower_new(c->base, &c->cfg, c->coord, host, port);
			break;
		case CL_EV_FENCED:
			if (c->leading)
				cl_leader_fenced();
			return;
		case CL_EV_INSYNC:
			if (c->lead)
				cl_leader_insync_changed(c->lead);
			break;
		}
	}
}

static char *
dup_or(const char *s, const char *def)
{
	return bk_strdup(s ? s : def);
}

struct cluster *
cluster_new(struct event_base *base, const struct cluster_config *cfg,
	    const struct cluster_ops *ops, void *arg, char *err, size_t errlen)
{
	struct cluster *c = bk_calloc(1, sizeof(*c));
	char value[CL_VALUE_MAX];
	int fd = -1;

	c->cfg = *cfg;
	c->cfg.etcd_endpoints = dup_or(cfg->etcd_endpoints, "");
	c->cfg.etcd_prefix = dup_or(cfg->etcd_prefix, "sluice");
	c->cfg.node_name = dup_or(cfg->node_name, "");
	c->cfg.advertised_host = dup_or(cfg->advertised_host, "127.0.0.1");
	c->cfg.replication_bind = dup_or(cfg->replication_bind, "127.0.0.1");
	c->cfg.secret = dup_or(cfg->secret, "");
	c->cfg.data_dir = dup_or(cfg->data_dir, ".");
	c->base = base;
	c->ops = ops;
	c->arg = arg;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(value, sizeof(value), "%s %s %d", c->cfg.node_name, c->cfg.advertised_host,
		 c->cfg.replication_port);
	if ((c->coord = cl_coord_new(&c->cfg, value, &fd)) == NULL) {
		snprintf(err, errlen, "cluster.etcd_endpoints: expected http://HOST:PORT, "
			 "separated by commas");
		cluster_free(c);
		return NULL;
	}
	cl_coord_eligible(c->coord, cl_local_synced(c->cfg.data_dir));
	c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_event, c);
	event_add(c->ev, NULL);
	bk_info("cluster: node %s joins through etcd at %s", c->cfg.node_name,
		c->cfg.etcd_endpoints);
	return c;
}

int
cluster_lead(struct cluster *c, struct net *n, struct st_journal *j)
{
	c->lead = cl_leader_new(c, &c->cfg, c->base, n, j);
	return c->lead ? 0 : -1;
}

void
cluster_nodes(void *ctx, void (*fn)(void *arg, const struct bk_cluster_node *n), void *arg)
{
	struct cluster *c = ctx;

	if (c->lead)
		cl_leader_nodes(c->lead, fn, arg);
}

void
cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	cl_coord_free(c->coord);        /* a leader gives its lease back */
	cl_follower_free(c->fol);
	cl_leader_free(c->lead);
	if (c->ev)
		event_free(c->ev);
	bk_free((char *)c->cfg.etcd_endpoints);
	bk_free((char *)c->cfg.etcd_prefix);
	bk_free((char *)c->cfg.node_name);
	bk_free((char *)c->cfg.advertised_host);
	bk_free((char *)c->cfg.replication_bind);
	bk_free((char *)c->cfg.secret);
	bk_free((char *)c->cfg.data_dir);
	bk_free(c);
	curl_global_cleanup();
}
