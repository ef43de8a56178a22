/*
 * cluster.c: the cluster object. It owns the etcd thread (cl_coord.c)
 * and reacts to what it reports, on the loop's thread: follow a leader
 * (cl_follower.c), become the leader (the daemon opens storage and
 * serves, then cluster_lead starts cl_leader.c), or stop dead when etcd
 * says another node may lead.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "cl_int.h"
#include "net.h"

struct cluster {
	struct cluster_config cfg;      /* strings owned */
	struct event_base *base;
	const struct cluster_ops *ops;
	void *arg;
	struct cl_coord *coord;
	struct event *ev;
	struct cl_follower *fol;
	struct cl_front *front;         /* this node's proxies while it follows */
	struct cl_leader *lead;
	bool leading;
	struct net_tls *srv_tls;        /* cluster.tls: the listener's */
	SSL_CTX *cli_tls;               /* and the follower's */
};

struct cl_coord *
cluster_coord(struct cluster *c)
{
	return c->coord;
}

struct net_tls *
cluster_server_tls(struct cluster *c)
{
	return c->srv_tls;
}

static void
become_leader(struct cluster *c)
{
	int rc;

	cl_follower_free(c->fol);
	c->fol = NULL;
	cl_front_changed(c->front);
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
			cl_front_changed(c->front);
			c->fol = cl_follower_new(c->base, &c->cfg, c->coord, c->cli_tls, c->front,
						 host, port);
			break;
		case CL_EV_FENCED:
			if (c->leading)
				cl_leader_fenced();
			return;
		case CL_EV_FOREIGN:
			cl_follower_free(c->fol);
			c->fol = NULL;
			c->ops->stop(c->arg, CLUSTER_EXIT_FOREIGN);
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
	c->cfg.tls_cert_file = cfg->tls_cert_file ? bk_strdup(cfg->tls_cert_file) : NULL;
	c->cfg.tls_key_file = cfg->tls_key_file ? bk_strdup(cfg->tls_key_file) : NULL;
	c->cfg.tls_ca_file = cfg->tls_ca_file ? bk_strdup(cfg->tls_ca_file) : NULL;
	c->cfg.tls_ciphers = cfg->tls_ciphers ? bk_strdup(cfg->tls_ciphers) : NULL;
	c->cfg.tls_ciphersuites = cfg->tls_ciphersuites ? bk_strdup(cfg->tls_ciphersuites) : NULL;
	c->cfg.tls_peer_name = cfg->tls_peer_name ? bk_strdup(cfg->tls_peer_name) : NULL;
	c->base = base;
	c->front = cl_front_new(base, c->cfg.node_name);
	c->ops = ops;
	c->arg = arg;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (c->cfg.tls_cert_file &&
	    ((c->srv_tls = cl_tls_server(&c->cfg, err, errlen)) == NULL ||
	     (c->cli_tls = cl_tls_client(&c->cfg, err, errlen)) == NULL)) {
		cluster_free(c);
		return NULL;
	}
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
	bk_info("cluster: node %s joins through etcd at %s; replication %s", c->cfg.node_name,
		c->cfg.etcd_endpoints, c->srv_tls ? "over TLS" : "in clear (cluster.tls = no)");
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

void *
cluster_proxy_arg(struct cluster *c, const char *name)
{
	return cl_front_listener(c->front, name);
}

void
cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	cl_coord_free(c->coord);        /* a leader gives its lease back */
	cl_follower_free(c->fol);
	cl_leader_free(c->lead);
	cl_front_free(c->front);
	if (c->ev)
		event_free(c->ev);
	bk_free((char *)c->cfg.etcd_endpoints);
	bk_free((char *)c->cfg.etcd_prefix);
	bk_free((char *)c->cfg.node_name);
	bk_free((char *)c->cfg.advertised_host);
	bk_free((char *)c->cfg.replication_bind);
	bk_free((char *)c->cfg.secret);
	bk_free((char *)c->cfg.data_dir);
	bk_free((char *)c->cfg.tls_cert_file);
	bk_free((char *)c->cfg.tls_key_file);
	bk_free((char *)c->cfg.tls_ca_file);
	bk_free((char *)c->cfg.tls_ciphers);
	bk_free((char *)c->cfg.tls_ciphersuites);
	bk_free((char *)c->cfg.tls_peer_name);
	net_tls_free(c->srv_tls);
	SSL_CTX_free(c->cli_tls);
	bk_free(c);
	curl_global_cleanup();
}
