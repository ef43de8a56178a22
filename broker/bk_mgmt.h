/*
 * bk_mgmt.h: private to the management files of the core (bk_stats.c,
 * bk_registry.c, bk_introspect.c, bk_access.c, bk_user.c, bk_mgmt.c).
 *
 * One struct bk_mgmt per broker (broker->mgmt), created by bk_broker_new
 * and freed after the vhosts. It holds the sampler, the connection and
 * channel registry and the permission table. Nothing in it is touched on
 * the message hot path: counters live in the objects they count (vhost,
 * queue, exchange; connection and channel records here, incremented
 * through pointers the adapters keep).
 */
#ifndef SLUICE_BK_MGMT_H
#define SLUICE_BK_MGMT_H

#include "bk_int.h"

#include <regex.h>

struct event;

#define BK_CONN_PROTOS 16               /* protocol names of live connections */

/*
 * One registered client connection: 104 bytes (a 112-byte malloc
 * chunk), no strings (ops->info tells them) and, while its byte counters
 * have not moved for a whole history window, no history either:
 *
 *   has_hist 0: every tick from since to the newest recorded
 *               ctr.recv_oct and ctr.send_oct as they were then, whose
 *               low 32 bits are flat[] (the full values are rebuilt
 *               from the counters, which grow by less than 2^32 between
 *               two ticks); nothing recorded yet while the broker's tick
 *               is below since (the first tick after registration)
 *   has_hist 1: hist holds them (bk_hist.c), from the first change on
 *               until the values have stayed put for a whole window
 */
struct bk_conn {
	uint64_t id;
	struct bk_conn_counters ctr;    /* the adapter adds to it */
	const struct bk_conn_ops *ops;  /* borrowed */
	void *ctx;                      /* borrowed */
	struct bk_conn *prev, *next;    /* in mgmt->conns, registration order */
	struct bk_chan *chans;          /* its channels, via cnext */
	union {
		struct bk_hist *hist;   /* owned, has_hist 1 */
		uint32_t flat[2];       /* has_hist 0 */
	} h;
	uint64_t connected_at : 48;     /* wall clock ms (2^48: year 10889) */
	uint64_t proto : 8;             /* index in mgmt->protos */
	uint64_t has_hist : 1;
	uint64_t owner : 1;             /* ctx owns exclusive queues */
	uint32_t since;                 /* tick, see above (2^32 ticks: 13 years
					   at 0.1 s) */
};

/*
 * One registered channel. Its name is derived ("<conn name> (<number>)")
 * when a view is taken; it is found by id through mgmt->chan_tab. Its
 * history is made at the first tick its counters are not all zero: until
 * then the views show the flat zeros it would have held since born.
 */
struct bk_chan {
	uint64_t id;                    /* key in mgmt->chan_tab */
	uint32_t number;
	uint32_t born;                  /* the first tick that records it
					   (2^32 ticks: 13 years at 0.1 s) */
	struct bk_conn *conn;           /* borrowed; outlives its channels */
	const struct bk_chan_ops *ops;  /* borrowed */
	void *ctx;
	struct bk_chan_counters ctr;
	struct bk_hist *hist;           /* owned; NULL while ctr is all zero */
	struct bk_chan *cprev, *cnext;  /* in conn->chans */
};

/* Byte and frame counters of the closed connections of one protocol. */
struct bk_proto_traffic {
	char protocol[32];              /* "" = unused slot */
	struct bk_conn_counters ctr;
};

/* Permissions of one user on one vhost; key = "user\0vhost". */
struct bk_perm_entry {
	char *user, *vhost;             /* owned; point into key */
	char *re_src[3];                /* owned; BK_PERM_* order */
	regex_t re[3];
	bool all[3];                    /* ".*": skip the regex */
	bool none[3];                   /* "": nothing matches */
	UT_hash_handle hh;              /* in mgmt->perms; key = key[0..keylen) */
	uint32_t keylen;
	char *key;                      /* owned */
};

#define BK_RESERVED_MAX 8
struct bk_reserved {
	char *prefix, *owner;           /* owned: "mqtt-subscription-", "MQTT sessions" */
};

/* bk_reserved.c: ACCESS_REFUSED for a reserved queue name unless user is
 * an administrator; the registrations' teardown. */
enum bk_status bk_reserved_check(struct bk_vhost *vh, struct bk_str user, struct bk_str name,
				 struct bk_err *err);
void bk_reserved_fini(struct bk_broker *b);

struct bk_mgmt {
	uint64_t started_ms;
	/* sampler */
	struct event *timer;            /* owned; NULL without an event_base */
	uint32_t interval_ms;
	uint64_t last_sample_ms;        /* 0 before the first sample */
	struct bk_sample ring[BK_SAMPLES_MAX];
	uint32_t ring_head, ring_count;
	struct bk_msg_stats ms_gone;    /* counters of deleted vhosts */
	struct bk_msg_stats ms_last;    /* broker-wide, at the previous sample */
	struct bk_msg_rates rates;
	uint64_t tick;                  /* samples taken */
	uint64_t tick_at[BK_TICKS_KEPT];    /* wall clock of tick t at t % KEPT */
	struct bk_hist *hist;           /* owned: the broker's history */
	struct bk_msg_stats chan_gone;  /* counters of closed channels */
	struct bk_proto_traffic traffic[BK_PROTO_MAX];  /* closed connections' */
	/* protocol names of registered connections (borrowed constants);
	 * struct bk_conn.proto indexes it */
	const char *protos[BK_CONN_PROTOS];
	/* registry */
	struct bk_conn *conns_head, *conns_tail;
	uint32_t nconns, nchans;
	uint64_t next_conn_id, next_chan_id;
	/* channels by id: open addressing, linear probing, chan_mask + 1
	 * slots (a power of two, at most half full); NULL when none */
	struct bk_chan **chan_tab;
	uint32_t chan_mask;
	/* access */
	struct bk_perm_entry *perms;    /* uthash, owned */
	struct bk_tperm *tperms;        /* uthash, owned (bk_topic_perm.c) */
	uint64_t access_gen;
	/* vhost deletion watchers (bk_vhost_watch) */
	struct bk_vhost_watcher *vwatch; /* owned list, registration order */
	/* queue name prefixes adapters keep for themselves (bk_reserved.c) */
	struct bk_reserved reserved[BK_RESERVED_MAX];
	unsigned nreserved;
};

struct bk_vhost_watcher {
	bk_vhost_gone_fn fn;
	void *arg;
	struct bk_vhost_watcher *next;
};

static inline struct bk_mgmt *
bk_mgmt(struct bk_broker *b)
{
	return b->mgmt;
}

/* bk_registry.c */
void bk_registry_fini(struct bk_broker *b);
/* c's protocol name ("" when the table was full). */
static inline const char *
bk_registry_protocol(const struct bk_mgmt *m, const struct bk_conn *c)
{
	return c->proto < BK_CONN_PROTOS ? m->protos[c->proto] : "";
}
/* bk_registry_chan.c: the channel table's teardown (channels are gone). */
void bk_registry_chan_fini(struct bk_mgmt *m);
/* Sampler pass over the channels of c. */
void bk_registry_sample_chans(struct bk_broker *b, struct bk_conn *c);
/* Sampler pass over channels (rates). */
void bk_registry_sample(struct bk_broker *b, double secs);
/* Connection id of the registered connection owning token, or 0. */
uint64_t bk_registry_owner_id(struct bk_broker *b, bk_owner owner);
/* Count connections on vhost (NULL: all). */
uint32_t bk_registry_count(struct bk_broker *b, const char *vhost);
/* What c's adapter tells of it (ops->info; the strings borrowed until
 * the adapter next runs; protocol, ops and ctx set, user never NULL). */
void bk_registry_info(struct bk_broker *b, const struct bk_conn *c, struct bk_conn_info *out);
/* c's name "peer:port -> host:port" into buf; returns buf. */
const char *bk_registry_name(const struct bk_conn_info *ci, char buf[BK_CONN_NAME_MAX]);
/* Close every connection matching vhost or user (either NULL = any). */
void bk_registry_close_matching(struct bk_broker *b, const char *vhost,
				const char *user, const char *reason);

/* bk_mgmt.c */
void bk_vhost_watchers_fini(struct bk_broker *b);

/* bk_access.c */
void bk_perms_fini(struct bk_broker *b);
/* Drop every entry for vhost or user (either NULL = any). */
void bk_perms_drop(struct bk_broker *b, const char *user, const char *vhost);
bool bk_perms_any(struct bk_broker *b, const char *user, const char *vhost);
/* bk_topic_perm.c: drop topic permissions matching user, vhost and
 * exchange (each NULL = any); free them all at teardown. */
void bk_tperms_drop(struct bk_broker *b, const char *user, const char *vhost,
		    const char *exchange);
void bk_tperms_fini(struct bk_broker *b);
/* bk_user.c: make an existing user loopback-only (definitions import of
 * guest, RabbitMQ's default loopback_users). No-op if absent. */
void bk_user_loopback_set(struct bk_broker *b, const char *name, bool loopback_only);
/* A user or permission changed: new access generation, and the durable
 * definitions file is rewritten (users and permissions are durable). */
static inline void
bk_access_changed(struct bk_broker *b)
{
	bk_mgmt(b)->access_gen++;
	bk_defs_changed(b);
}
/* The base64 decodes to salt + a digest of algo's size. */
bool bk_password_hash_valid(const char *hash, enum bk_hash_algo algo);
/* bk_user.c */
bool bk_user_exists(struct bk_broker *b, const char *name);

/* bk_stats.c: sum the queue totals of vh. */
void bk_stats_queue_totals(struct bk_vhost *vh, struct bk_queue_totals *t,
			   uint32_t *nqueues, uint32_t *nconsumers);
/* Rate helper: (cur - last) / secs, then last = cur. */
void bk_stats_rates_step(struct bk_msg_stats *last, const struct bk_msg_stats *cur,
			 struct bk_msg_rates *rates, double secs);

#endif
