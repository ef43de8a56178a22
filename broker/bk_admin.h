/*
 * bk_admin.h: the core's admin side, for the management API, Prometheus
 * metrics, MQTT's $SYS topics and the daemon: overview figures,
 * introspection of topology, vhost / user / permission management,
 * definitions documents and the journal's figures. Protocol adapters'
 * data paths need none of it (broker.h).
 */
#ifndef SLUICE_BK_ADMIN_H
#define SLUICE_BK_ADMIN_H

#include "broker.h"

struct cJSON;                           /* <cjson/cJSON.h> */

/* ================================================================== */
/* Management (bk_stats.c, bk_registry.c, bk_introspect.c,            */
/* bk_access.c, bk_mgmt.c)                                            */
/* ================================================================== */

/*
 * Everything the HTTP management API, Prometheus /metrics, sluicectl and
 * MQTT $SYS topics read and change. Same thread rules as the rest of
 * broker.h: main thread only, no locks.
 *
 * Reading is by snapshot or by iteration with a callback. Views are
 * filled by the core; every pointer in a view is borrowed and valid only
 * until the callback returns (copy what you keep). A callback returns 0
 * to go on or non-zero to stop the walk (the walk then returns that
 * value). Callbacks must not change the broker (no declare, delete,
 * publish, settle, close) while a walk runs: collect names, walk, then
 * act.
 */

/* Limit values of a user or vhost (see "Limits" below). */
enum bk_limit {
	BK_LIMIT_MAX_CONNECTIONS, BK_LIMIT_MAX_CHANNELS, BK_LIMIT_MAX_QUEUES,
	BK_LIMIT__COUNT
};
struct bk_limit_values {
	int64_t v[BK_LIMIT__COUNT];
	unsigned set;                   /* 1u << BK_LIMIT_*: which are set */
};

/* ------------------------------------------------------------------ */
/* Overview and samples                                                */
/* ------------------------------------------------------------------ */

/*
 * The sampler: a timer on the broker's event_base (started by
 * bk_broker_new when it has a base; default every 5000 ms) that computes
 * rates for the broker, each vhost, queue and exchange, and appends one
 * bk_sample to a ring of the last BK_SAMPLES_MAX. Rates are 0 until two
 * samples exist.
 */
#define BK_SAMPLES_MAX 60
#define BK_PROTO_MAX 8                  /* protocols counted separately */

/* Logins since start, every protocol (RabbitMQ's auth_attempt_metrics). */
struct bk_auth_counters {
	uint64_t attempts, succeeded, failed;
};

/* Connection, channel and queue churn since start (RabbitMQ's
 * connection_churn_metrics). */
struct bk_churn {
	uint64_t conn_created, conn_closed;
	uint64_t chan_created, chan_closed;
	uint64_t queue_declared;        /* every successful queue.declare */
	uint64_t queue_created, queue_deleted;
};

/*
 * Histories (bk_hist.c): the values some figures of an object had at
 * each of the sampler's last ticks, for RabbitMQ's sample windows. The
 * fields, and which objects keep which:
 *   queue     READY, UNACKED and the message counters
 *   vhost     READY, UNACKED (summed over its queues) and the counters
 *   exchange  MS + PUBLISH_IN, MS + PUBLISH_OUT
 *   channel   the message counters
 *   connection RECV_OCT, SEND_OCT
 *   broker    all of them (overview, node and churn figures)
 * Objects keep BK_HIST_OBJECT ticks (one minute and more at the default
 * interval), vhosts BK_HIST_VHOST, the broker BK_HIST_BROKER.
 */
enum bk_hfield {
	BK_HF_READY, BK_HF_UNACKED,
	BK_HF_MS,                       /* + enum bk_mstat */
	BK_HF_RECV_OCT = BK_HF_MS + BK_MS__COUNT, BK_HF_SEND_OCT,
	BK_HF_MEM_USED, BK_HF_FD_USED, BK_HF_SOCKETS_USED, BK_HF_DISK_FREE,
	BK_HF_CONN_CREATED, BK_HF_CONN_CLOSED, BK_HF_CHAN_CREATED, BK_HF_CHAN_CLOSED,
	BK_HF_QUEUE_DECLARED, BK_HF_QUEUE_CREATED, BK_HF_QUEUE_DELETED,
	BK_HF__COUNT
};
#define BK_HIST_OBJECT 16
#define BK_HIST_VHOST 121
#define BK_HIST_BROKER 721
#define BK_TICKS_KEPT 1024              /* >= every history's length */

struct bk_hist;                         /* opaque */
struct bk_hist_point {
	uint64_t at_ms;                 /* wall clock of the tick */
	uint64_t v;                     /* counter or length at that tick */
};
/*
 * The last (at most max) values of field f that h holds, oldest first;
 * returns how many. 0 when h is NULL (not sampled yet) or does not keep
 * f.
 */
uint32_t bk_hist_series(struct bk_broker *b, const struct bk_hist *h,
			enum bk_hfield f, struct bk_hist_point *out, uint32_t max);

struct bk_sample {
	uint64_t at_ms;                 /* wall clock */
	struct bk_msg_stats ms;         /* broker-wide counters at at_ms */
	uint64_t messages, messages_ready, messages_unacknowledged;
	uint64_t message_bytes;
	uint32_t connections, channels, queues, consumers;
	uint64_t mem_used;              /* bk_alloc_used() */
};

struct bk_object_totals {
	uint32_t connections, channels, exchanges, queues, consumers, vhosts;
};

struct bk_queue_totals {
	uint64_t messages;              /* ready + unacknowledged */
	uint64_t messages_ready;
	uint64_t messages_unacknowledged;
	uint64_t message_bytes;         /* bytes of ready messages */
};

struct bk_overview {
	struct bk_msg_stats ms;         /* broker-wide, since start */
	struct bk_msg_rates rates;
	struct bk_object_totals object_totals;
	struct bk_queue_totals queue_totals;
	/* connections and channels per protocol, as registered */
	struct {
		const char *protocol;       /* "AMQP 0-9-1", "MQTT 3.1.1", ... */
		uint32_t connections, channels;
	} proto[BK_PROTO_MAX];
	uint32_t nproto;
	uint64_t started_ms;            /* wall clock of bk_broker_new */
	uint64_t uptime_ms;
	uint64_t mem_used;              /* bk_alloc_used() */
	uint64_t mem_high_watermark;    /* bytes; 0 = none */
	unsigned alarms;                /* bk_alarms() */
	uint32_t sample_interval_ms;
	struct bk_churn churn;
	struct bk_auth_counters auth;
	/* AMQP channel counters of every channel since start, open or
	 * closed: monotonic, for Prometheus counters */
	struct bk_msg_stats chan_ms;
	/* queue counters (PUBLISH: messages enqueued, ...) of every queue
	 * since start, deleted ones too */
	struct bk_msg_stats queue_ms;
	const struct bk_hist *hist;     /* the broker's history */
	struct bk_retained_stats retained;      /* every vhost's retained messages */
};

/* Fill out (O(queues): queue totals are summed now). Never fails. */
void bk_overview_get(struct bk_broker *b, struct bk_overview *out);

/*
 * Copy up to max of the most recent samples into out, oldest first;
 * returns how many were copied (0 before the first tick).
 */
uint32_t bk_stats_samples(struct bk_broker *b, struct bk_sample *out, uint32_t max);

/*
 * Bytes and frames read and written per protocol since start, by open
 * and closed connections ("AMQP 0-9-1", "MQTT 3.1.1", ...), with the
 * open connections counted. Fills at most max; returns how many.
 */
struct bk_traffic {
	const char *protocol;           /* borrowed until the next change */
	struct bk_conn_counters ctr;
	uint32_t connections;           /* open now */
};
uint32_t bk_traffic_get(struct bk_broker *b, struct bk_traffic *out, uint32_t max);

/* Change the interval (ms >= 100; tests use short ones) and restart the
 * timer. Take a sample now, outside the timer (tests, or a dashboard that
 * wants fresh rates). */
void bk_stats_set_interval(struct bk_broker *b, uint32_t ms);
void bk_stats_sample_now(struct bk_broker *b);

/* ------------------------------------------------------------------ */
/* Introspection of topology (bk_introspect.c)                         */
/* ------------------------------------------------------------------ */

struct bk_vhost_view {
	const char *name;
	struct bk_limit_values limits;  /* max-connections, max-queues */
	struct bk_msg_stats ms;
	struct bk_msg_rates rates;
	struct bk_queue_totals queue_totals;
	uint32_t queues, exchanges, connections;
	const struct bk_hist *hist;
};

struct bk_exchange_view {
	const char *vhost;
	const char *name;               /* "" for the default exchange */
	const char *type;               /* "direct", "fanout", "topic", "headers" */
	bool durable, auto_delete, internal;
	struct bk_table arguments;      /* as declared */
	const char *policy;             /* the policy that applies, or NULL */
	const char *operator_policy;    /* the operator policy, or NULL */
	uint64_t publish_in, publish_out;
	double publish_in_rate, publish_out_rate;
	const struct bk_hist *hist;
};

struct bk_queue_view {
	const char *vhost;
	const char *name;
	bool durable, exclusive, auto_delete;
	struct bk_table arguments;      /* as declared */
	uint64_t owner_conn_id;         /* exclusive: bk_conn_id of the owner
					   connection if registered, else 0 */
	const char *state;              /* "running" */
	const char *type;               /* "classic", "quorum" (as declared) */
	const char *policy;             /* the policy that applies, or NULL */
	const char *operator_policy;    /* the operator policy, or NULL */
	const struct cJSON *policy_definition;    /* of policy, or NULL */
	const struct cJSON *operator_definition;  /* of operator_policy, or NULL */
	uint64_t messages_ready, messages_unacknowledged, messages;
	uint64_t message_bytes, message_bytes_ready;
	uint32_t consumers;
	uint64_t memory;                /* approximate bytes held by the queue */
	struct bk_msg_stats ms;
	struct bk_msg_rates rates;
	const struct bk_hist *hist;
	/* stream queues (type "stream"): the log */
	bool is_stream;
	uint64_t stream_first;          /* oldest offset kept */
	uint64_t stream_next;           /* offset the next message gets; the
					   newest readable one is stream_next - 1 */
	uint64_t stream_bytes, stream_segments;
};

/*
 * Consumers of stream queues and their lag (bk_stream_view.c): one entry
 * per registered consumer, and one per named consumer (x-stream-consumer-name)
 * with a stored offset and no registered consumer (an idle group).
 * offsets are -1 when there is none (an empty stream, nothing acked).
 * lag = messages after the consumer's position (its stored offset for a
 * named consumer, else what it was last delivered); lag_seconds = age of
 * the oldest of them (its chunk's timestamp), 0 when lag is 0.
 */
struct bk_stream_consumer_view {
	const char *vhost;
	const char *queue;
	const char *name;               /* x-stream-consumer-name or NULL */
	const char *consumer_tag;       /* NULL: no registered consumer */
	uint64_t channel_id;            /* of the registered consumer, else 0 */
	bool active;                    /* reading (a group's standby is not) */
	int64_t offset;                 /* last delivered, or -1 */
	int64_t committed_offset;       /* last acked and stored (named), or -1 */
	int64_t last_offset;            /* the stream's newest readable, or -1 */
	uint64_t lag;
	double lag_seconds;
	uint32_t credits;               /* prefetch - unacked */
};
typedef int (*bk_stream_consumer_each_fn)(void *arg, const struct bk_stream_consumer_view *v);
/* vh NULL: every vhost; queue NULL: every stream. */
int bk_stream_consumers_each(struct bk_broker *b, struct bk_vhost *vh, const char *queue,
			     bk_stream_consumer_each_fn fn, void *arg);

/*
 * A binding. The default exchange's implicit bindings (source "", every
 * queue, routing key = queue name) are listed first for each vhost, as
 * RabbitMQ lists them.
 */
struct bk_binding_view {
	const char *vhost;
	const char *source;
	struct bk_str destination;
	const char *destination_type;   /* "queue" or "exchange" */
	struct bk_str routing_key;
	struct bk_table arguments;
	const char *properties_key;     /* RabbitMQ's: bk_binding_props_key() */
};

struct bk_consumer_view {
	const char *vhost;
	const char *queue;
	const char *consumer_tag;       /* "" if the adapter gave none */
	uint64_t channel_id;            /* from bk_consume_decl; 0 if none */
	bool ack_required;              /* !no_ack */
	bool exclusive;
	bool active;                    /* false while parked (output full) */
	uint32_t prefetch_count;        /* per consumer; 0 = unlimited */
	int32_t priority;               /* x-priority */
	uint32_t unacked;
};

typedef int (*bk_vhost_each_fn)(void *arg, const struct bk_vhost_view *v);
typedef int (*bk_exchange_each_fn)(void *arg, const struct bk_exchange_view *v);
typedef int (*bk_queue_each_fn)(void *arg, const struct bk_queue_view *v);
typedef int (*bk_binding_each_fn)(void *arg, const struct bk_binding_view *v);
typedef int (*bk_consumer_each_fn)(void *arg, const struct bk_consumer_view *v);

/* All walks: vh NULL = every vhost (sorted by name), else that vhost.
 * Objects within a vhost come in no particular order (sort in the
 * caller if the API promises an order). */
int bk_vhosts_each(struct bk_broker *b, bk_vhost_each_fn fn, void *arg);
int bk_exchanges_each(struct bk_broker *b, struct bk_vhost *vh,
		      bk_exchange_each_fn fn, void *arg);
int bk_queues_each(struct bk_broker *b, struct bk_vhost *vh,
		   bk_queue_each_fn fn, void *arg);
int bk_bindings_each(struct bk_broker *b, struct bk_vhost *vh,
		     bk_binding_each_fn fn, void *arg);
int bk_consumers_each(struct bk_broker *b, struct bk_vhost *vh,
		      bk_consumer_each_fn fn, void *arg);

/* One object by name: BK_OK with fn called once, or NOT_FOUND with
 * RabbitMQ's text ("no queue 'q' in vhost '/'"). */
enum bk_status bk_exchange_inspect(struct bk_vhost *vh, struct bk_str name,
				   bk_exchange_each_fn fn, void *arg, struct bk_err *err);
enum bk_status bk_queue_inspect(struct bk_vhost *vh, struct bk_str name,
				bk_queue_each_fn fn, void *arg, struct bk_err *err);

/*
 * RabbitMQ's binding "properties_key" (the last segment of
 * /api/bindings/.../props/KEY): "~" for an empty routing key without
 * arguments; else the routing key form-escaped (bytes other than
 * A-Z a-z 0-9 - . _ as %XX, space as "+": "a b/c" -> "a+b%2Fc"); with
 * arguments, "~" and 6 base64url characters hashing the arguments follow
 * ("kk~ZMA7qQ"). The hash is stable for equal arguments but not
 * RabbitMQ's own (Erlang phash2), so clients must take keys from
 * listings, as rabbitmqadmin does. Writes a NUL-terminated string
 * (truncated to cap); returns out.
 */
char *bk_binding_props_key(struct bk_str routing_key, struct bk_table args,
			   char *out, size_t cap);

/* ------------------------------------------------------------------ */
/* Management writes (bk_mgmt.c, bk_access.c)                          */
/* ------------------------------------------------------------------ */

/*
 * Vhosts. bk_vhost_add creates name with its default exchanges (BK_OK
 * also if it exists: PUT semantics). bk_vhost_delete closes every
 * registered connection on it (ops->close, "vhost 'x' is deleted"),
 * tells the vhost watchers (bk_vhost_watch below), deletes its queues (dropping their messages), exchanges, bindings and
 * permissions, then the vhost; NOT_FOUND "no vhost 'x'" if absent. The
 * vhost pointer is invalid afterwards. Both update the definitions file
 * when persistence is on.
 */
enum bk_status bk_vhost_add(struct bk_broker *b, const char *name, struct bk_err *err);
enum bk_status bk_vhost_delete(struct bk_broker *b, const char *name, struct bk_err *err);

/*
 * Users. Passwords are stored only as a RabbitMQ password hash:
 * base64(salt(4 bytes) ++ H(salt ++ utf8 password)) with H = SHA-256
 * (rabbit_password_hashing_sha256, the default) or SHA-512
 * (rabbit_password_hashing_sha512). tags: space- or comma-separated
 * ("administrator management"); kept as given, normalised to commas in
 * views. An empty password (NULL or "") means the user cannot log in
 * with a password (RabbitMQ's passwordless user).
 *
 * bk_user_add adds or replaces (PUT semantics; a replaced user keeps its
 * permissions). bk_user_add_hash takes an existing hash (definitions
 * import): PRECONDITION_FAILED if it does not decode to more than 4
 * bytes or the algorithm is unknown. bk_user_delete removes the user,
 * its permissions, and closes its registered connections; NOT_FOUND
 * "no user 'u'" if absent.
 *
 * bk_user_set (above, the configuration file's path) is bk_user_add plus
 * full permissions (".*" ".*" ".*") on vhost "/" unless the user already
 * has permissions there; the default guest user gets the same.
 */
enum bk_hash_algo { BK_HASH_SHA256, BK_HASH_SHA512 };
const char *bk_hash_algo_name(enum bk_hash_algo a);  /* "rabbit_password_hashing_sha256" */
/* Parse RabbitMQ's name (also "sha256"/"sha512"); false if unknown. */
bool bk_hash_algo_parse(const char *name, enum bk_hash_algo *out);

enum bk_status bk_user_add(struct bk_broker *b, const char *name,
			   const char *password, const char *tags,
			   struct bk_err *err);
enum bk_status bk_user_add_hash(struct bk_broker *b, const char *name,
				const char *password_hash, enum bk_hash_algo algo,
				const char *tags, struct bk_err *err);
enum bk_status bk_user_set_password(struct bk_broker *b, const char *name,
				    const char *password, struct bk_err *err);
enum bk_status bk_user_set_tags(struct bk_broker *b, const char *name,
				const char *tags, struct bk_err *err);
enum bk_status bk_user_delete(struct bk_broker *b, const char *name,
			      struct bk_err *err);
/* Has the user tag (e.g. "administrator") — for the HTTP API's basic
 * auth; false if no such user. */
bool bk_user_has_tag(struct bk_broker *b, const char *name, const char *tag);

/*
 * Compute a RabbitMQ password hash of password with a random 4-byte salt
 * (or the given salt when salt is non-NULL, for tests) into out as
 * base64, NUL-terminated. 0, or -ENOSPC if cap is too small (>= 93 is
 * always enough). Check a password against a stored hash: true on match
 * (constant time in the password's content).
 */
int bk_password_hash(enum bk_hash_algo algo, const char *password,
		     const uint8_t *salt4, char *out, size_t cap);
bool bk_password_verify(enum bk_hash_algo algo, const char *password_hash,
			struct bk_str password);

struct bk_user_view {
	const char *name;
	const char *password_hash;      /* base64; "" for a passwordless user */
	const char *hashing_algorithm;  /* "rabbit_password_hashing_sha256" */
	const char *tags;               /* comma-separated: "administrator,management" */
	bool loopback_only;
	struct bk_limit_values limits;  /* max-connections, max-channels */
};
typedef int (*bk_user_each_fn)(void *arg, const struct bk_user_view *v);
/* Sorted by name. */
int bk_users_each(struct bk_broker *b, bk_user_each_fn fn, void *arg);
enum bk_status bk_user_inspect(struct bk_broker *b, const char *name,
			       bk_user_each_fn fn, void *arg, struct bk_err *err);

/*
 * Permissions per user and vhost: three regular expressions (POSIX
 * extended). As RabbitMQ's, a regex is searched, not anchored: ".*"
 * grants everything, "^amq\\.gen" a prefix, "" nothing. NOT_FOUND
 * "no user 'u'" / "no vhost 'v'"; PRECONDITION_FAILED for a regex that
 * does not compile. Setting replaces the user's entry on that vhost.
 */
enum bk_status bk_permission_set(struct bk_broker *b, const char *user,
				 const char *vhost, const char *configure,
				 const char *write, const char *read,
				 struct bk_err *err);
enum bk_status bk_permission_clear(struct bk_broker *b, const char *user,
				   const char *vhost, struct bk_err *err);

struct bk_permission_view {
	const char *user, *vhost;
	const char *configure, *write, *read;
};
typedef int (*bk_permission_each_fn)(void *arg, const struct bk_permission_view *v);
/* user and/or vhost NULL: any. Sorted by user, then vhost. */
int bk_permissions_each(struct bk_broker *b, const char *user, const char *vhost,
			bk_permission_each_fn fn, void *arg);

/*
 * Topic permissions per user, vhost and exchange (bk_topic_perm.c; the
 * check is in broker.h): write and read regexes, POSIX extended, with
 * {username}, {vhost} and {client_id} variables. NOT_FOUND "no user 'u'"
 * / "no vhost 'v'"; PRECONDITION_FAILED "invalid regular expression
 * '...'". Setting replaces the entry for that exchange; clearing with
 * exchange NULL drops all of the user's entries on the vhost.
 */
enum bk_status bk_topic_permission_set(struct bk_broker *b, const char *user,
				       const char *vhost, const char *exchange,
				       const char *write, const char *read,
				       struct bk_err *err);
enum bk_status bk_topic_permission_clear(struct bk_broker *b, const char *user,
					 const char *vhost, const char *exchange,
					 struct bk_err *err);

struct bk_topic_permission_view {
	const char *user, *vhost, *exchange;
	const char *write, *read;
};
typedef int (*bk_topic_permission_each_fn)(void *arg,
					   const struct bk_topic_permission_view *v);
/* user and/or vhost NULL: any. Sorted by user, vhost, exchange. */
int bk_topic_permissions_each(struct bk_broker *b, const char *user, const char *vhost,
			      bk_topic_permission_each_fn fn, void *arg);

/*
 * Limits (bk_limits.c, bk_user.c), RabbitMQ's: a user's max-connections
 * and max-channels, a vhost's max-connections and max-queues. A negative
 * value means no limit, 0 allows none; an unset limit is no limit. The
 * broker.h checks enforce them. Set/clear: NOT_FOUND "no user 'u'" / "no
 * vhost 'v'"; a limit of the other kind is PRECONDITION_FAILED
 * ("Unrecognised terms ... in user-limits"). clear with l < 0: every limit.
 */
const char *bk_limit_name(enum bk_limit l);          /* "max-connections" */
bool bk_limit_parse(const char *name, enum bk_limit *out);
enum bk_status bk_user_limit_set(struct bk_broker *b, const char *user, enum bk_limit l,
				 int64_t value, struct bk_err *err);
enum bk_status bk_user_limit_clear(struct bk_broker *b, const char *user, int l,
				   struct bk_err *err);
/* false when there is no such user. */
bool bk_user_limits_get(struct bk_broker *b, struct bk_str user,
			struct bk_limit_values *out);
enum bk_status bk_vhost_limit_set(struct bk_broker *b, const char *vhost, enum bk_limit l,
				  int64_t value, struct bk_err *err);
enum bk_status bk_vhost_limit_clear(struct bk_broker *b, const char *vhost, int l,
				    struct bk_err *err);
void bk_vhost_limits_get(const struct bk_vhost *vh, struct bk_limit_values *out);

/* ------------------------------------------------------------------ */
/* Policies and operator policies (bk_policy.c, bk_policy_def.c)        */
/* ------------------------------------------------------------------ */

/*
 * RabbitMQ's policies: per vhost, by name, a pattern (a regular
 * expression searched in queue and exchange names), apply-to, priority
 * and a definition of queue and exchange settings. A change applies at
 * once to every matching object and is durable. See bk_policy.c for
 * matching and bk_queue_policy.c for how a definition combines with a
 * queue's own x-arguments.
 */
enum bk_policy_kind { BK_POLICY_USER, BK_POLICY_OPERATOR, BK_POLICY__COUNT };

/*
 * What a policy is set from: the values as the JSON the API received (so
 * a wrong type is reported as RabbitMQ reports it). pattern a string and
 * definition an object (both required), priority a number or NULL/null
 * (0), apply_to a string or NULL/null ("all").
 */
struct bk_policy_args {
	const struct cJSON *pattern, *definition, *priority, *apply_to;
};

/*
 * Add or replace policy name of vhost. BK_OK; NOT_FOUND with "no vhost
 * 'v'" in why; PRECONDITION_FAILED with RabbitMQ's text in why:
 * "Validation failed\n\n<reason>\n" with one line per bad value, e.g.
 * "<<\"x\">> is not a valid message TTL" (truncated to whylen). Nothing
 * is kept of a refused policy. Re-applies the vhost's objects before
 * returning.
 */
enum bk_status bk_policy_set(struct bk_broker *b, enum bk_policy_kind k,
			     const char *vhost, const char *name,
			     const struct bk_policy_args *a, char *why, size_t whylen);
/* Remove one: NOT_FOUND "no vhost 'v'" or "Parameter does not exist"
 * (RabbitMQ's text). */
enum bk_status bk_policy_clear(struct bk_broker *b, enum bk_policy_kind k,
			       const char *vhost, const char *name, struct bk_err *err);

struct bk_policy_view {
	const char *vhost, *name, *pattern;
	const char *apply_to;           /* "all", "queues", "classic_queues", ... */
	double priority;
	const struct cJSON *definition; /* keys sorted */
};
typedef int (*bk_policy_each_fn)(void *arg, const struct bk_policy_view *v);
/* vhost NULL: every vhost, sorted by vhost then name. */
int bk_policies_each(struct bk_broker *b, enum bk_policy_kind k, const char *vhost,
		     bk_policy_each_fn fn, void *arg);
/* One policy: BK_OK with fn called once, or NOT_FOUND. */
enum bk_status bk_policy_inspect(struct bk_broker *b, enum bk_policy_kind k,
				 const char *vhost, const char *name,
				 bk_policy_each_fn fn, void *arg, struct bk_err *err);
/*
 * RabbitMQ's effective_policy_definition of an object: the union of its
 * policy's and operator policy's definitions (either may be NULL), the
 * lower value where both set a key. A new object, keys sorted.
 */
struct cJSON *bk_policy_effective_json(const struct cJSON *def,
				       const struct cJSON *op_def);

/* ------------------------------------------------------------------ */
/* Definitions documents: RabbitMQ's definitions JSON (bk_defs_*.c)     */
/* ------------------------------------------------------------------ */

/*
 * One codec for the format `rabbitmqctl export_definitions` writes, used
 * by the durable definitions file, GET/POST /api/definitions and the
 * daemon's load_definitions. Documents are cJSON trees (<cjson/cJSON.h>).
 */
struct cJSON;

/*
 * Tables as JSON values, as RabbitMQ writes arguments: integers and
 * floats as numbers, strings as strings, tables as objects, arrays as
 * arrays, void as null, timestamps as numbers. bk_table_to_json returns
 * a new object (the caller's).
 *
 * bk_table_from_json appends obj's members to b: an integral number
 * becomes a signed 32-bit integer when it fits and a signed 64-bit one
 * otherwise (the types client libraries send), other numbers doubles,
 * strings long strings. NULL or null adds nothing. 0, or -EINVAL with
 * why = "SUFFIX: reason" where SUFFIX is the path below obj (".a.b[2]",
 * "" for obj itself): ": expected an object", ".k: nested too deeply".
 */
struct cJSON *bk_table_to_json(struct bk_table t);
int bk_table_from_json(const struct cJSON *obj, struct bk_table_builder *b,
		       char *why, size_t whylen);

/*
 * The JSON type RabbitMQ expects for a well-known x-argument: 'i' integer
 * (x-message-ttl, x-expires, x-max-length, x-max-length-bytes,
 * x-max-priority, x-delivery-limit), 'b' boolean
 * (x-single-active-consumer), 's' string (x-dead-letter-*, x-overflow,
 * x-queue-type, x-queue-mode, x-match, alternate-exchange), 0 for any
 * other key.
 */
char bk_defs_arg_type(const char *key);

/* The kinds of a document, in the order an import applies them. */
enum bk_defs_kind {
	BK_DEFS_VHOSTS, BK_DEFS_USERS, BK_DEFS_PERMISSIONS, BK_DEFS_TOPIC_PERMISSIONS,
	BK_DEFS_EXCHANGES, BK_DEFS_POLICIES, BK_DEFS_OPERATOR_POLICIES, BK_DEFS_QUEUES,
	BK_DEFS_BINDINGS,
	BK_DEFS_VHOST_LIMITS,           /* "parameters" of component "vhost-limits";
					   last, so a restart restores every queue */
	BK_DEFS__COUNT
};
#define BK_DEFS_ALL ((1u << BK_DEFS__COUNT) - 1)

/*
 * Export (bk_defs_json.c): a new document (the caller's). vh NULL: the
 * whole broker (vhosts, users with password_hash, hashing_algorithm and
 * tags, permissions, policies, then the objects of every vhost); vh set:
 * that vhost's policies, exchanges, queues and bindings only, without
 * "vhost" members (RabbitMQ's per-vhost export). Operator policies are
 * written ("operator_policies", a list like "policies") with
 * BK_DEFS_DURABLE only: RabbitMQ's exports leave them out, but the
 * durable file must keep them; an import reads them when present.
 *
 * Objects: as RabbitMQ's export, every queue but exclusive ones, every
 * exchange but the built-in ones ("" and amq.*), every binding whose
 * source is not the default exchange; durable or not. With
 * BK_DEFS_DURABLE only what a restart keeps: durable exchanges, durable
 * non-exclusive queues, bindings from a durable exchange to a durable
 * destination.
 */
#define BK_DEFS_DURABLE 1u
struct cJSON *bk_defs_export(struct bk_broker *b, struct bk_vhost *vh,
			     unsigned flags);
/* One user as the document (and GET /api/users) writes it: name,
 * password_hash, hashing_algorithm, tags as a list, limits. New object. */
struct cJSON *bk_defs_user_json(const struct bk_user_view *v);
/* One policy as exports and GET /api/policies write it: vhost (unless
 * !with_vhost), name, pattern, apply-to, definition, priority. New object. */
struct cJSON *bk_defs_policy_json(const struct bk_policy_view *v, bool with_vhost);
/* One permission entry: user, vhost, configure, write, read. New object. */
struct cJSON *bk_defs_permission_json(const struct bk_permission_view *v);
/* Limits as RabbitMQ writes them: {"max-connections": 10}. New object. */
struct cJSON *bk_defs_limits_json(const struct bk_limit_values *l);
/* One topic permission: user, vhost, exchange, write, read. New object. */
struct cJSON *bk_defs_topic_permission_json(const struct bk_topic_permission_view *v);
/* Tags "a,b" (or "a b") as a JSON list ["a","b"]. New array. */
struct cJSON *bk_defs_tags_json(const char *tags);

/*
 * Import in two steps. bk_defs_parse checks a whole document before
 * anything is applied and keeps it as a plan (the caller's; free with
 * bk_defs_free): NULL with err naming the JSON path,
 * "queues[3].arguments.x-max-length: expected an integer". With
 * one_vhost only exchanges, queues and bindings are read and their
 * "vhost" members are ignored (POST /api/definitions/VHOST). Built-in
 * exchanges and bindings from the default exchange are left out.
 *
 * bk_defs_apply applies the kinds in the mask (1u << BK_DEFS_*) in
 * dependency order: vhosts, users (with their limits), permissions, topic
 * permissions, exchanges, queues, bindings, vhost limits. vhost non-NULL replaces every entry's vhost. Each entry goes
 * through the ordinary core call (declare, bind, bk_user_add...), so
 * applying what exists and is equivalent changes nothing. A refusal
 * stops the apply with -EINVAL and err = "queues[3]: <the core's text>"
 * (what was applied before stays), unless BK_DEFS_KEEP_GOING: then it is
 * logged and skipped. A user named guest is loopback-only, as RabbitMQ's
 * default loopback_users.
 *
 * bk_defs_import: parse, then apply everything.
 */
struct bk_defs;
#define BK_DEFS_KEEP_GOING 2u
/* The broker's own definitions store or its journal: a binding made
 * before a limit on new ones (BK_TOPIC_MAX_HASHES) came is kept. */
#define BK_DEFS_STORED 4u
struct bk_defs *bk_defs_parse(const struct cJSON *doc, bool one_vhost,
			      char *err, size_t errlen);
int bk_defs_apply(struct bk_broker *b, const struct bk_defs *d, const char *vhost,
		  unsigned kinds, unsigned flags, char *err, size_t errlen);
void bk_defs_free(struct bk_defs *d);         /* accepts NULL */
int bk_defs_import(struct bk_broker *b, const struct cJSON *doc, const char *vhost,
		   unsigned flags, char *err, size_t errlen);
/* Entries of kind k in a plan, and the name of entry i (the user of a
 * permission, the destination of a binding). */
size_t bk_defs_count(const struct bk_defs *d, enum bk_defs_kind k);
const char *bk_defs_name(const struct bk_defs *d, enum bk_defs_kind k, size_t i);
/* "3 policies ignored (not supported)" when the document held lists the
 * broker does not apply; NULL otherwise. Borrowed from d. */
const char *bk_defs_note(const struct bk_defs *d);

/* ------------------------------------------------------------------ */
/* Journal figures for /metrics (bk_mgmt_extra.c)                      */
/* ------------------------------------------------------------------ */

/* A copy of the journal's counters (storage.h's st_journal_stats). */
struct bk_journal_stats {
	uint64_t segments, disk_bytes, live_bytes, live_msgs;
	uint64_t records, batches, syncs;   /* since open */
	uint64_t compacted_records, deleted_segments;
	int failed;                         /* 0, or the failed state's -errno */
	/* fdatasync latency histogram (journal thread), since open */
#define BK_FSYNC_BUCKETS 14
	double fsync_le[BK_FSYNC_BUCKETS];  /* bucket upper bounds, seconds */
	uint64_t fsync_bucket[BK_FSYNC_BUCKETS];  /* cumulative: took <= fsync_le[i] */
	uint64_t fsync_count;               /* every measured fdatasync (le="+Inf") */
	double fsync_sum;                   /* seconds */
};
/* false (out zeroed) when the broker has no journal. */
bool bk_journal_stats_get(struct bk_broker *b, struct bk_journal_stats *out);
/* Free bytes on data_dir's file system now, and the disk alarm's limit
 * (journal.disk_free_limit). false (both 0) without persistence. */
bool bk_disk_space(struct bk_broker *b, uint64_t *free_bytes, uint64_t *limit);

/*
 * Replication (cluster/): what this node knows of its cluster, for
 * /api/nodes and /metrics. The daemon sets each() once the node leads;
 * it reports this node first, then every follower the leader knows.
 */
struct bk_cluster_node {
	const char *name;               /* the node's cluster.node_name */
	bool leader;
	bool connected;                 /* a follower: streaming from this leader */
	bool running;                   /* up: connected, or alive in etcd */
	bool in_sync;                   /* in etcd's in-sync set */
	uint64_t lag_bytes;             /* a follower: journal bytes, and */
	uint64_t lag_records;           /* records, sealed but not acknowledged */
};
typedef void (*bk_cluster_node_fn)(void *arg, const struct bk_cluster_node *n);
typedef void (*bk_cluster_each_fn)(void *ctx, bk_cluster_node_fn fn, void *arg);
void bk_cluster_set(struct bk_broker *b, bk_cluster_each_fn each, void *ctx);
/* fn for every node; false (nothing called) on a broker that is not in a
 * cluster. */
bool bk_cluster_each(struct bk_broker *b, bk_cluster_node_fn fn, void *arg);

#endif

