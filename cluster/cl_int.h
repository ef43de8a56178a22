/*
 * cl_int.h: what the files of cluster/ share.
 *
 *   cluster.c      the object, the role changes, fencing's timer
 *   cl_etcd.c      etcd's v3 JSON gateway over libcurl (blocking)
 *   cl_coord.c     the etcd thread: lease, election, the in-sync set
 *   cl_wire.c      replication frames and the handshake's HMAC
 *   cl_leader.c    the replication listener: full copy, then batches
 *   cl_follower.c  the follower's connection: apply, fsync, acknowledge
 *   cl_front.c     a follower's client listeners: proxies to the leader
 *   cl_front_http.c  what a follower's HTTP listener reads and rewrites
 *   cl_front_advert.c  the leader's listeners, for its followers ('L')
 */
#ifndef CL_INT_H
#define CL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <openssl/types.h>

#include "cluster.h"
#include "storage.h"

#define CL_NAME_MAX 64
#define CL_VALUE_MAX 320                /* the leader key's value */
#define CL_MAX_FOLLOWERS 16
#define CL_MAX_MEMBERS 32                /* listed by /api/nodes */
#define CL_ID_MAX 65                    /* a cluster's identity, NUL included */

/* CLOCK_MONOTONIC in milliseconds: the etcd thread and the loop's
 * fencing check read the same clock. */
uint64_t cl_mono_ms(void);

/* ---- etcd (cl_etcd.c), any one thread ------------------------------ */

struct cl_etcd;
/* endpoints: "http://h:p" list (commas or blanks). NULL on a bad list. */
struct cl_etcd *cl_etcd_new(const char *endpoints, const char *prefix, uint32_t timeout_ms);
void cl_etcd_free(struct cl_etcd *e);
int cl_etcd_grant(struct cl_etcd *e, uint32_t ttl, int64_t *id);
/* 0 with the lease's TTL renewed; -ENOENT: the lease is gone; -EIO. */
int cl_etcd_keepalive(struct cl_etcd *e, int64_t id);
int cl_etcd_revoke(struct cl_etcd *e, int64_t id);
/* The leader key: 1 with its value and lease, 0 when nobody leads, -EIO. */
int cl_etcd_leader(struct cl_etcd *e, char *val, size_t vlen, int64_t *lease);
/* Put P key (with lease, or none when 0). 0 or -EIO. */
int cl_etcd_put(struct cl_etcd *e, const char *key, const char *val, int64_t lease);
/* fn(name) for every key P dir NAME (dir ends with '/'): how many, or
 * -EIO. */
int cl_etcd_list(struct cl_etcd *e, const char *dir, void (*fn)(void *arg, const char *name),
		 void *arg);
/* Watch every key under the prefix until the stream breaks or *stop
 * (cl_etcd_watch.c): fn(created) per answer; fn < 0 ends it. -EIO. A
 * cl_etcd of its own: the call blocks. */
int cl_etcd_watch(struct cl_etcd *e, const atomic_bool *stop, int (*fn)(void *arg, bool created),
		  void *arg);
/* The endpoint in use (next: move to the following one first). */
const char *cl_etcd_endpoint(const struct cl_etcd *e, bool next);
const char *cl_etcd_prefix(const struct cl_etcd *e);
/* base64 of a followed by b, malloc'd (NULL when out of memory). */
char *cl_etcd_b64(const char *a, const char *b);
/* Any key under the prefix ("/cluster"): 1 with its value and lease, 0
 * when absent, -EIO. */
int cl_etcd_get(struct cl_etcd *e, const char *key, char *val, size_t vlen, int64_t *lease);
/*
 * Take the leader key with lease, value val, if nobody holds it and
 * <prefix>/insync/<name> exists (then every other node's in-sync entry
 * goes: they copy from this node before they count again) or, with id
 * (bootstrap), if the cluster has no identity yet (founding it with
 * that identity). 1 won, 0 lost, -EIO.
 */
int cl_etcd_campaign(struct cl_etcd *e, const char *name, const char *val, int64_t lease,
		     const char *id);
/* Add or remove name from the in-sync set, only while the leader key
 * still holds leader_val. 1 done, 0 not the leader any more, -EIO. */
int cl_etcd_insync(struct cl_etcd *e, const char *name, bool on, const char *leader_val);

/* ---- the watch thread (cl_watch.c) --------------------------------- */

struct cl_watch;
/* Keeps a watch on every key under the prefix: changed(arg, true) when
 * it is in place and at every change, changed(arg, false) when it broke
 * (from the watch thread). NULL when the thread cannot start. */
struct cl_watch *cl_watch_new(const struct cluster_config *cfg,
			      void (*changed)(void *arg, bool watching), void *arg);
/* Drop the stream and open a new one (etcd stopped answering). */
void cl_watch_restart(struct cl_watch *w);
void cl_watch_free(struct cl_watch *w);        /* accepts NULL */

/* ---- the etcd thread (cl_coord.c) ---------------------------------- */

enum cl_event { CL_EV_LEAD = 1, CL_EV_FOLLOW, CL_EV_FENCED, CL_EV_INSYNC,
		CL_EV_FOREIGN };        /* data_dir of another cluster: stop */

struct cl_coord;
/* Starts the thread; events arrive as bytes on the returned pipe's read
 * end (*event_fd), read them with cl_coord_event. */
struct cl_coord *cl_coord_new(const struct cluster_config *cfg, const char *value,
			      int *event_fd);
/* The next event (-EAGAIN: none). FOLLOW gives the leader's host and port. */
int cl_coord_event(struct cl_coord *c, char *host, size_t hlen, int *port);
/* Whether this node may campaign (its copy is whole). */
void cl_coord_eligible(struct cl_coord *c, bool on);
/* Until when (cl_mono_ms) the leader may complete batches. */
uint64_t cl_coord_fence(struct cl_coord *c);
/* Ask for name to be in (or out of) etcd's in-sync set; an INSYNC event
 * follows each change recorded. */
void cl_coord_want_insync(struct cl_coord *c, const char *name, bool on);
/* fn for every member registered in etcd (<prefix>/members/NAME), with
 * whether it runs (its leased <prefix>/alive/NAME exists). As last read
 * by the leader. */
void cl_coord_members(struct cl_coord *c, void (*fn)(void *arg, const char *name, bool running),
		      void *arg);
/* Is name recorded in the set as on? */
bool cl_coord_insync(struct cl_coord *c, const char *name, bool *recorded_on);
/* Stop the thread; a leader revokes its lease first. */
void cl_coord_free(struct cl_coord *c);

/* ---- frames (cl_wire.c) --------------------------------------------- */

/*
 * Every frame, both ways:
 *
 *   +-----------+------+----------------------+
 *   | len u32BE | type | payload (len-1 bytes) |
 *   +-----------+------+----------------------+
 *
 *   leader -> follower
 *     'N' nonce        version u8, nonce[32]
 *     'P' proof        hmac[32]: the leader knows the secret too
 *     'O' ops          nops u32, ops (the full copy; no acknowledgement)
 *     'B' batch        seq u64, nops u32, ops (a journal batch)
 *     'E' synced       seq u64: the copy is whole once everything up to
 *                      here is applied
 *     'L' listeners    count u8, count x (name_len u8, name, port u16):
 *                      the leader's client listeners (after 'P')
 *   follower -> leader
 *     'H' hello        hmac[32], nonce[32], name_len u8, name, nfiles u32,
 *                      files (path_len u16, path, size u64, crc u32)
 *     'A' ack          seq u64: applied and fsynced up to seq
 *
 *   op: kind u8, flags u8 (1 = trunc), path_len u16, path, off u64,
 *       len u32, data[len]
 *
 * The hello's hmac is HMAC-SHA256(secret, leader's nonce || name): a
 * node without the cluster's secret gets nothing. The proof is
 * HMAC-SHA256(secret, follower's nonce || CL_PROOF_LABEL), which no node
 * name can be (names have no blank): a follower applies nothing from a
 * peer that has not proven it holds the secret.
 */
#define CL_VERSION 2
#define CL_PROOF_LABEL "leader proof"
#define CL_NONCE 32
#define CL_MAC 32
#define CL_HDR 5
#define CL_HELLO_MAX (8u << 20)
#define CL_FRAME_MAX (1u << 30)

void cl_put_u16(uint8_t *p, uint16_t v);
void cl_put_u32(uint8_t *p, uint32_t v);
void cl_put_u64(uint8_t *p, uint64_t v);
uint16_t cl_get_u16(const uint8_t *p);
uint32_t cl_get_u32(const uint8_t *p);
uint64_t cl_get_u64(const uint8_t *p);

/* Append a frame header for a payload of len bytes. */
void cl_frame_begin(struct evbuffer *out, uint8_t type, size_t len);
/* Bytes one op takes on the wire; append it. */
size_t cl_op_size(const struct st_repl_op *op);
void cl_op_put(struct evbuffer *out, const struct st_repl_op *op);
/* Decode the op at p[0..len): bytes used, or -EINVAL. op->path points
 * into path (NUL-terminated copy), data into p. */
long cl_op_get(const uint8_t *p, size_t len, struct st_repl_op *op,
	       char path[ST_REPL_PATH_MAX + 1]);
void cl_mac(const char *secret, const uint8_t nonce[CL_NONCE], const char *name,
	    uint8_t mac[CL_MAC]);
/* CRC-32C of the first size bytes of data_dir/path; -errno. */
int cl_file_crc(int dfd, const char *path, uint64_t size, uint32_t *crc);

/* ---- TLS (cl_tls.c) ------------------------------------------------- */

/* The leader's listener context: requires a client certificate signed
 * by tls_ca_file. NULL with the reason in err. */
struct net_tls *cl_tls_server(const struct cluster_config *cfg, char *err, size_t errlen);
/* The follower's context: requires the leader's certificate signed by
 * tls_ca_file. NULL with the reason in err. */
SSL_CTX *cl_tls_client(const struct cluster_config *cfg, char *err, size_t errlen);
/* After the follower's handshake: 0, or -EACCES with why when the
 * leader's certificate is unverified or (peer_name set) has another CN. */
int cl_tls_check_leader(SSL *ssl, const char *peer_name, char *why, size_t whylen);

/* ---- the two sides --------------------------------------------------- */

struct cl_leader;
struct cl_leader *cl_leader_new(struct cluster *c, const struct cluster_config *cfg,
				struct event_base *base, struct net *n, struct st_journal *j);
void cl_leader_free(struct cl_leader *l);
/* etcd recorded a change of the in-sync set. */
void cl_leader_insync_changed(struct cl_leader *l);
/* cluster_nodes for the leader. */
struct bk_cluster_node;
void cl_leader_nodes(struct cl_leader *l, void (*fn)(void *arg, const struct bk_cluster_node *n),
		     void *arg);
/* etcd took the leader key away: exit at once. */
void cl_leader_fenced(void);

/* ---- a follower's client listeners (cl_front.c) ---------------------- */

#define CL_FRONT_MAX 16                 /* listeners */
#define CL_FRONT_NAME 32                /* their names, with the NUL */

struct cl_front;
struct net;
/* node: this node's name, for what HTTP says of it. */
struct cl_front *cl_front_new(struct event_base *base, const char *node);
/* cluster_proxy_ops's arg for the local listener called name (owned by
 * f); NULL when there are too many. */
void *cl_front_listener(struct cl_front *f, const char *name);
/* The leader at host listens where its 'L' payload p[0..len) says;
 * host NULL: no leader to proxy to until the next call. 0 or -EPROTO. */
int cl_front_leader(struct cl_front *f, const char *host, const uint8_t *p, size_t len);
/* Another node leads (or this one): close every proxied connection. */
void cl_front_changed(struct cl_front *f);
/* After the net of the proxies is freed. Accepts NULL. */
void cl_front_free(struct cl_front *f);
/* The leader's 'L' frame: n's listeners but replication (cl_front_advert.c). */
void cl_front_advert(struct net *n, struct evbuffer *out);
/* One listener of a leader's 'L' frame. */
struct cl_front_tgt {
	char name[CL_FRONT_NAME];
	int port;
};
/* Decode an 'L' frame's payload p[0..len) into tgt: the number of
 * listeners, or -EPROTO (a name empty, too long or with a NUL, a port
 * 0, more than CL_FRONT_MAX, bytes missing). */
int cl_front_advert_parse(const uint8_t *p, size_t len, struct cl_front_tgt tgt[CL_FRONT_MAX]);

/* cl_front_http.c. The first request's head in `in`: 0 incomplete, 1
 * complete (or too long to read: the leader refuses it); overview set
 * for GET /api/overview. */
int cl_front_http_head(struct evbuffer *in, bool *overview);
/* A 503 answer with this node's "cluster" object and why as its reason;
 * Connection: close. */
void cl_front_http_unavailable(struct evbuffer *out, const char *node, const char *why);
/* cl_front_mqtt.c. An MQTT client refused a proxy, from what it sent so
 * far (in, not consumed): 1 a CONNACK "server unavailable" in its
 * protocol version is in out (why as its reason string, 5.0); 0 more
 * bytes needed; -1 not a CONNECT of MQTT 3.1, 3.1.1 or 5.0: close. */
int cl_front_mqtt_refuse(struct evbuffer *in, struct evbuffer *out, const char *why);
/* The leader's answer to /api/overview in `in`: 0 incomplete; 1 moved to
 * out with "cluster" replaced by this node's view and Connection:
 * close; -1 not a 200 JSON object with a length: pass it unchanged. */
int cl_front_http_rewrite(struct evbuffer *in, struct evbuffer *out, const char *node,
			  const char *leader_host);

struct cl_follower;
/* tls: the client context (NULL: plain TCP), borrowed. */
struct cl_follower *cl_follower_new(struct event_base *base, const struct cluster_config *cfg,
				    struct cl_coord *coord, SSL_CTX *tls, struct cl_front *front,
				    const char *host, int port);
void cl_follower_free(struct cl_follower *f);   /* accepts NULL */

/* The node's own file, ST_REPL_LOCAL (cl_local.c): "synced" once a copy
 * is whole, and the identity of the cluster the data_dir belongs to
 * ("" when none yet). Any thread. */
bool cl_local_synced(const char *data_dir);
int cl_local_set(const char *data_dir, bool synced);
void cl_local_id(const char *data_dir, char id[CL_ID_MAX]);
int cl_local_set_id(const char *data_dir, const char *id);

/* The cluster object's pieces the leader needs: the etcd thread, the
 * replication listener's TLS context (NULL: plain TCP). */
struct cl_coord *cluster_coord(struct cluster *c);
struct net_tls *cluster_server_tls(struct cluster *c);

#endif
