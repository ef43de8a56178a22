/*
 * cluster.h: a replicated Sluice: one leader, followers that hold a copy
 * of its data directory, failover coordinated by etcd.
 *
 * Who leads is decided by etcd (its v3 API through the JSON gateway,
 * cl_etcd.c): the leader holds <prefix>/leader with a lease it keeps
 * alive; a node may take the key only when it is listed under
 * <prefix>/insync/ (or when it founds the cluster). Nothing but that
 * goes through etcd: the journal's batches travel from the leader to
 * its followers over the replication port (cl_leader.c, cl_follower.c;
 * frames in cl_wire.c).
 *
 *   node starts --> follower: copy of the leader's files, then its
 *        |          batches live, each fsynced and acknowledged
 *        |                 | leader key gone, this node in sync
 *        v                 v
 *      leader: opens the journal, serves clients, holds every
 *      completion (confirm, tx.commit-ok, PUBACK) until the in-sync
 *      followers have written the batch; stops dead when its lease
 *      cannot be renewed in time (fencing)
 *
 * Threads: the etcd calls run on the cluster's own thread (blocking
 * libcurl); everything else, and every callback here, on the loop's.
 */
#ifndef SLUICE_CLUSTER_H
#define SLUICE_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct net;
struct net_tls;
struct st_journal;
struct cluster;

struct cluster_config {
	const char *etcd_endpoints;     /* "http://127.0.0.1:2379, http://h2:2379" */
	const char *etcd_prefix;        /* key prefix, "sluice" */
	const char *node_name;          /* unique in the cluster */
	const char *advertised_host;    /* where followers reach this node */
	const char *replication_bind;   /* addresses of the replication listener */
	int replication_port;           /* its port (0 picks one) */
	const char *secret;             /* shared by every node: authenticates
					   replication connections */
	uint32_t min_in_sync;           /* followers that must hold a batch
					   before it completes */
	uint32_t lease_ttl;             /* seconds */
	uint64_t max_lag;               /* bytes a follower may fall behind */
	const char *data_dir;
	bool sync;                      /* journal.sync = batch: fsync the copy */
	/* Replication over TLS when tls_cert_file is set: the [tls] files;
	 * every peer is verified against tls_ca_file and, when
	 * tls_peer_name is set, must have it as its certificate's CN. */
	const char *tls_cert_file, *tls_key_file, *tls_ca_file;
	const char *tls_ciphers, *tls_ciphersuites;     /* NULL: OpenSSL's */
	int tls_min_version;                            /* 12 or 13 */
	const char *tls_peer_name;
};

struct cluster_ops {
	/* This node won the election: open storage and serve, then call
	 * cluster_lead(). A non-zero return stops the daemon with it. */
	int (*lead)(void *arg);
	/* The node must stop with this exit status (CLUSTER_EXIT_FOREIGN:
	 * data_dir belongs to another cluster than etcd's), logged already. */
	void (*stop)(void *arg, int status);
};

#define CLUSTER_EXIT_FOREIGN 3

/* Strings are copied. Starts the etcd thread; the node follows whoever
 * leads, or leads. NULL with the reason in err. */
struct cluster *cluster_new(struct event_base *base, const struct cluster_config *cfg,
			    const struct cluster_ops *ops, void *arg, char *err, size_t errlen);

/*
 * The leader's half, once storage is open: replicate j (st_journal_repl_
 * attach) and accept followers on the replication listener of n. 0 or -1
 * after logging why.
 */
int cluster_lead(struct cluster *c, struct net *n, struct st_journal *j);

/* bk_cluster_each_fn (bk_admin.h) for ctx = the cluster: this node, then
 * every follower the leader knows, with its in-sync state and lag. */
struct bk_cluster_node;
void cluster_nodes(void *ctx, void (*fn)(void *arg, const struct bk_cluster_node *n),
		   void *arg);

/*
 * Clients on a follower (cl_front.c): the daemon opens each of its
 * client listeners with cluster_proxy_ops, arg cluster_proxy_arg(c,
 * listener name), and plain TCP whatever the listener's transport (TLS
 * and WebSockets pass through to the leader unchanged). Each connection
 * is proxied to the same listener of the leader; none is accepted while
 * no leader is known, and all are closed when another node leads. Once
 * this node leads, its real listeners take that net's listening sockets
 * (net_listen_take: the ports stay bound, the backlogs kept); free it
 * then, before cluster_free. NULL: too many listeners.
 */
struct net_proto_ops;
extern const struct net_proto_ops cluster_proxy_ops;
void *cluster_proxy_arg(struct cluster *c, const char *name);

/* Stop following or leading; a leader gives its lease back so another
 * node takes over at once. Call after the journal is closed. */
void cluster_free(struct cluster *c);     /* accepts NULL */

#endif
