/*
 * http_int.h: the contract between the HTTP server (http_server.c), its
 * helpers (http_reply.c, http_json.c, http_auth.c) and the resource
 * handlers (http_api_*.c, http_prom*.c, http_ui.c).
 *
 * A request is parsed once into struct http_req: the method, the path
 * split at '/' and percent-decoded segment by segment (so "%2F" is the
 * vhost "/", never a separator), the query, and the authenticated user.
 * A handler answers exactly once through one of the http_reply_*()
 * functions; every error body is RabbitMQ's {"error": ..., "reason": ...}.
 */
#ifndef SLUICE_HTTP_INT_H
#define SLUICE_HTTP_INT_H

#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bk_admin.h"
#include "net.h"
#include "http.h"

#define HTTP_MAX_SEGS 12
#define HTTP_JSON_DEPTH 16              /* nesting accepted in request bodies */
/* What RabbitMQ 3.13 announces; clients compare against it. */
#define HTTP_RABBITMQ_VERSION "3.13.0"

struct net;
struct http_conn;
struct http_head;

/* RabbitMQ's sample windows (http_stats.c): ?lengths_age=&lengths_incr=, ... */
enum http_win {
	HTTP_WIN_LENGTHS, HTTP_WIN_MSG_RATES, HTTP_WIN_DATA_RATES, HTTP_WIN_NODE_STATS,
	HTTP_WIN__COUNT
};

struct http_range {
	bool set;
	uint64_t first, last, incr;     /* wall-clock ms */
};

/* Listeners a health check looks at, at most. */
#define HTTP_MAX_LISTENERS 16

/* The HTTP adapter's broker-wide state; the sockets are the transport's
 * (every HTTP listener, plain or TLS, hands connections to http_net_ops
 * with this as arg). */
struct http_listener {
	struct event_base *base;        /* borrowed */
	struct bk_broker *broker;       /* borrowed; outlives the listener */
	struct net *net;                /* borrowed: every listener, for /api/overview */
	struct http_config cfg;
	char node[128];                 /* "sluice@HOST": RabbitMQ's node name */
	bool prometheus;                /* the [prometheus] listener: /metrics only */
	bool prom_auth;                 /* prometheus.authentication */
	bool prom_per_object;           /* prometheus.return_per_object_metrics */
	/* scratch for one request's sample series (http_stats.c) */
	struct bk_hist_point pts[BK_HIST_BROKER], pts_tmp[BK_HIST_BROKER];
	struct http_move *moves;        /* owned; moves waiting for confirms */
	struct http_pending *pending;   /* owned list: answers waiting for the
					   definitions file (http_commit.c) */
	struct http_slices *slices;     /* owned list: long lists being built
					   (http_slices.c) */
	/* borrowed (the transport owns them): every open connection, whose
	 * unsent answers together bound what the next request may add
	 * (http_conn.c) */
	TAILQ_HEAD(http_conns, http_conn) conns;
};

/* Which items of a list the caller may see (http_authz.c). */
enum http_filter {
	HTTP_FILTER_NONE,
	HTTP_FILTER_VHOST,              /* "vhost" (or "queue"."vhost") it has permissions on */
	HTTP_FILTER_VHOST_NAME,         /* "name" is such a vhost (/api/vhosts) */
	HTTP_FILTER_USER,               /* "user" is the caller (connections, channels) */
};

struct http_req {
	struct http_listener *l;        /* borrowed */
	struct http_conn *conn;         /* borrowed; answered once */
	enum evhttp_cmd_type method;
	char *seg[HTTP_MAX_SEGS];       /* owned, decoded; seg[0] is after "/api/" */
	int nseg;
	struct evkeyvalq query;         /* owned (evhttp_clear_headers) */
	struct evkeyvalq *in_headers;   /* borrowed from the request head */
	struct evkeyvalq out_headers;   /* owned: headers of the answer */
	struct evbuffer *body;          /* borrowed: the whole body, once read */
	bool peer_loopback;             /* the client is on this machine */
	char user[256];                 /* authenticated user */
	bool admin;                     /* has the administrator tag */
	bool monitor;                   /* administrator or monitoring: sees every vhost */
	bool policymaker;               /* administrator or policymaker */
	bool writer;                    /* administrator, management or policymaker:
					   may change objects in its vhosts */
	/* whose permissions data-plane operations (declare, bind, publish,
	 * get, purge, delete) check: &who_buf, or NULL for administrators */
	const struct bk_who *who;
	struct bk_who who_buf;
	enum http_filter filter;        /* how http_reply_list narrows lists */
	bool answered;
	struct http_range range[HTTP_WIN__COUNT];   /* asked-for sample windows */
};

/* The owner token the API declares, binds and deletes with: exclusive
 * queues of client connections stay theirs. */
extern const char http_owner[];

/* ---- http_auth.c ---- */
/* Check basic auth. true when the request may go on; otherwise a 401 has
 * been sent. */
bool http_auth_check(struct http_req *r);

/* ---- http_commit.c ---- */
/* The body of a 500 for a change the definitions file could not keep. */
#define HTTP_DEFS_FAILED \
	"{\"error\":\"internal_error\",\"reason\":\"cannot write the definitions file\"}"
/*
 * Keep the answer (code, ctype, body: copied) to a change until the
 * definitions file holding it is on disk, then send it (or a 500 if it
 * could not be written). 1 = kept, 0 = nothing waits for the disk (send
 * now), <0 = nothing can be made durable (send a 500).
 */
int http_commit_defer(struct http_req *r, int code, const char *ctype,
		      const char *body, size_t len);
/* Listener teardown: answer 503 to what is kept, trackers silenced. */
void http_commit_cancel_all(struct http_listener *l);
/* What a held connection's answer waits for (a disk write, the slices of
 * a long list); detach is called if the client goes first. */
struct http_hold {
	void (*detach)(struct http_hold *h);
	/* counts as a full answer towards its user's unsent answers (a long
	 * list being built): that user's next request waits until it is
	 * sent, as when such a list was built in one go */
	bool counts_full;
	/* when the broker stops, the connection answers 503 at once and
	 * detaches h (a long list); else the answer goes unsent */
	bool stop_answers;
};
/* http_conn.c: the current request's answer waits for h (the connection
 * reads nothing more meanwhile); release writes it and goes on. */
void http_conn_hold(struct http_conn *hc, struct http_hold *h);
void http_conn_release(struct http_conn *hc, int code, const char *ctype,
		       const char *body, size_t len);
void http_conn_release_buffer(struct http_conn *hc, int code, const char *ctype,
			      struct evbuffer *body);

/* ---- http_authz.c ---- */
/*
 * After authentication: may the caller make this request (r->seg[0] is
 * the resource under /api)? Sets r->who and r->filter. false after a 403
 * (or 415 for a state-changing request that is not JSON).
 */
bool http_authz_request(struct http_req *r);
/* /metrics: administrators and monitoring users. false after a 403. */
bool http_authz_metrics(struct http_req *r);
/* May the caller see this list item (r->filter)? */
bool http_authz_keep(struct http_req *r, const cJSON *item);
/* The same for an item that has a "vhost" and nothing else the filter
 * reads (a binding). */
bool http_authz_keep_vhost(struct http_req *r, const char *vhost);
/*
 * The outcome of a core call made for r->who: true for BK_OK; a refused
 * permission answers 403 with the core's text, anything else
 * http_reply_status.
 */
bool http_permitted(struct http_req *r, enum bk_status st, const struct bk_err *err);
/* One permission of r->who on a resource (always true for
 * administrators); false after a 403 with RabbitMQ's text. */
bool http_may(struct http_req *r, struct bk_vhost *vh, enum bk_perm what, const char *kind,
	      struct bk_str name);

/* ---- http_reply.c ---- */
/* Add Content-Type (unless NULL), Cache-Control, the anti-framing headers
 * (unless the handler set its own) and the body (unless head) to r's
 * answer and send it. */
void http_reply_write(struct http_req *r, int code, const char *ctype, const char *body,
		      size_t len);
/* The same with the body's bytes moved out of body (no copy). */
void http_reply_write_buffer(struct http_req *r, int code, const char *ctype,
			     struct evbuffer *body);
/* Send doc (taken: freed here) with code and application/json. */
void http_reply_json(struct http_req *r, int code, cJSON *doc);
void http_reply_text(struct http_req *r, int code, const char *content_type,
		     const char *body, size_t len);
void http_reply_empty(struct http_req *r, int code);
void http_reply_error(struct http_req *r, int code, const char *error,
		      const char *reason);
void http_reply_bad_request(struct http_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void http_reply_not_found(struct http_req *r);
void http_reply_method_not_allowed(struct http_req *r);
/* A core outcome as RabbitMQ's management plugin answers it. */
void http_reply_status(struct http_req *r, const struct bk_err *err);
/* obj (taken) reduced to the comma-separated columns= ("a,b.c"). */
cJSON *http_json_project(cJSON *obj, const char *columns);

/* ---- http_list.c ---- */
/* A list (arr, taken) after the query's name=, sort= (else key1 then
 * key2, either NULL), sort_reverse=, page=, page_size= and columns=. */
void http_reply_list(struct http_req *r, cJSON *arr, const char *key1,
		     const char *key2);

/* The same, for a list that builds only its page's objects:
 *     http_listing_init (false: a 400 was sent; still call _fini)
 *     for each object: row = http_listing_admit(ls, item or a stub of it
 *         holding at least "vhost" and "name", for http_authz_keep and
 *         the name filter), or http_listing_admit_vhost for an object
 *         without a name; when not NULL, set the row's item, vhost/name
 *         or snap, and its key[0..1] for ls->key[0..1]
 *     http_listing_sort -> [lo, hi) of ls->rows is the page
 *     http_listing_reply(ls, the page's built objects in order)
 *     http_listing_fini */
struct http_sortval {
	enum { HTTP_SV_NONE, HTTP_SV_NUM, HTTP_SV_STR } kind;
	double num;
	char *str;                      /* owned */
};
struct http_row {
	cJSON *item;                    /* built, or NULL */
	char *vhost, *name;             /* owned; for building it later */
	void *snap;                     /* owned (one block): a copy of an object
					   without a name (a binding), or NULL */
	struct http_sortval key[2];
};
struct http_listing {
	struct http_req *r;
	const char *key[2];             /* sort keys (dotted paths) or NULL */
	bool reverse, paged, use_regex;
	long page, page_size;
	const char *filter;             /* name=, or NULL */
	regex_t re;
	uint64_t re_nodes, re_work;     /* the regex's size; what matching cost */
	bool refused;                   /* the filter cost too much: 400 sent */
	struct http_row *rows;
	size_t n, cap;                  /* rows admitted: filtered_count */
	size_t total;                   /* objects offered: total_count */
};
bool http_listing_init(struct http_listing *ls, struct http_req *r, const char *key1,
		       const char *key2);
struct http_row *http_listing_admit(struct http_listing *ls, const cJSON *item);
void http_listing_sort(struct http_listing *ls, size_t *lo, size_t *hi);
void http_listing_reply(struct http_listing *ls, cJSON *arr);
/* http_listing_admit with a stub of vhost and name, which the row keeps. */
struct http_row *http_listing_admit_named(struct http_listing *ls, const char *vhost,
					  const char *name);
/* Admit an object of vhost that has no name (a binding): a name filter
 * keeps none of them. */
struct http_row *http_listing_admit_vhost(struct http_listing *ls, const char *vhost);
/* Sort, build the page's objects (build adds the row's object to arr,
 * unless it went meanwhile) and reply. */
typedef void (*http_page_build_fn)(struct http_req *r, const struct http_row *row,
				   cJSON *arr);
void http_listing_send_page(struct http_listing *ls, http_page_build_fn build);
/* http_slices.c: unpaged and longer than one slice, rows [lo, hi) are
 * built a slice per loop iteration and answered at the end (the rows
 * move out of ls); false to build them now. */
bool http_slices_start(struct http_listing *ls, size_t lo, size_t hi,
		       http_page_build_fn build);
void http_slices_cancel_all(struct http_listener *l);
void http_listing_fini(struct http_listing *ls);
/* A sort value from a JSON value (copied), a string (copied) or a number. */
void http_sortval_set(struct http_sortval *sv, const cJSON *v);
void http_sortval_str(struct http_sortval *sv, const char *s);
void http_sortval_num(struct http_sortval *sv, double n);
/* o's member at the dotted path k ("message_stats.ack_details.rate"). */
const cJSON *http_json_path(const cJSON *o, const char *k);
/* One object after columns=. */
void http_reply_object(struct http_req *r, cJSON *obj);
/* arr's first element as one object (http_reply_object), or 404 when arr
 * is empty. Takes arr. */
void http_reply_first(struct http_req *r, cJSON *arr);

/* ---- requests (http_server.c), on connections (http_conn.c) ---- */
/* Fill r from a parsed head: path split and decoded, query parsed. On a
 * bad path r->answered is set (400 sent). */
void http_req_init(struct http_req *r, struct http_listener *l, struct http_conn *conn,
		   struct http_head *h, bool peer_loopback);
/* Does the path need no credentials (the UI's page)? */
bool http_req_public(const struct http_req *r);
/* Route to the resource handler; credentials were checked already. */
void http_req_dispatch(struct http_req *r);
void http_req_fini(struct http_req *r);
/* Write the answer: status line, headers, Content-Length, body (left
 * out for HEAD). The connection closes after it when the request asked
 * for that (HTTP/1.0, Connection: close) or a refusal ended it. */
void http_conn_respond(struct http_conn *hc, int code, struct evkeyvalq *headers,
		       const void *body, size_t len, bool head_only);
void http_conn_respond_buffer(struct http_conn *hc, int code, struct evkeyvalq *headers,
			      struct evbuffer *body, bool head_only);

/* ---- http_req helpers (http_server.c) ---- */
/* A request header (case-insensitive name), or NULL. Borrowed. */
const char *http_req_header(struct http_req *r, const char *name);
/* Add a header to the reply (copied). Before the reply is sent. */
void http_reply_header(struct http_req *r, const char *name, const char *value);
/* The request body (bounded by max_body_size). Borrowed. */
struct evbuffer *http_req_body(struct http_req *r);
const char *http_query(struct http_req *r, const char *key);
bool http_query_true(struct http_req *r, const char *key);
/* Parse the JSON body; an empty body is {}. NULL after a 400. */
cJSON *http_body_json(struct http_req *r);
/* The vhost named by seg[i], or NULL after a 404. */
struct bk_vhost *http_vhost_arg(struct http_req *r, int i);
/* An exchange name from a URL: "amq.default" is the default exchange. */
struct bk_str http_exchange_arg(const char *s);

/* ---- http_json.c ---- */
cJSON *http_json_table(struct bk_table t);
/* Build an AMQP table from a JSON object (or null). 0, or -EINVAL with
 * the reason in why. */
int http_json_to_table(const cJSON *obj, struct bk_table_builder *b,
		       char *why, size_t whylen);
/* ---- http_stats.c ---- */
/* Read the request's sample windows; false after a 400. */
bool http_ranges_parse(struct http_req *r);
/*
 * obj[name] = value and obj[name_details] = {"rate", and with window w
 * asked for "samples", "avg_rate", "avg"}, from the sum of the nf fields
 * f of h (NULL: rate 0, no samples).
 */
void http_json_stat(struct http_req *r, cJSON *obj, const char *name, double value,
		    const struct bk_hist *h, const enum bk_hfield *f, int nf,
		    enum http_win w);
void http_json_stat1(struct http_req *r, cJSON *obj, const char *name, double value,
		     const struct bk_hist *h, enum bk_hfield f, enum http_win w);
/* RabbitMQ's message_stats object with the counters in mask (1u << BK_MS_*);
 * deliver_get added when with_deliver_get. h: the object's history. */
cJSON *http_json_msg_stats(struct http_req *r, const struct bk_msg_stats *ms,
			   const struct bk_hist *h, uint32_t mask, bool with_deliver_get);
/* messages, messages_ready, messages_unacknowledged with details. */
void http_json_lengths(struct http_req *r, cJSON *o, uint64_t ready, uint64_t unacked,
		       const struct bk_hist *h);
/* tags "a,b" -> ["a","b"] */
cJSON *http_json_tags(const char *tags);
/* Typed getters for bodies: false after a 400 for a present field of
 * the wrong type; absent fields keep *out. */
bool http_json_bool(struct http_req *r, const cJSON *o, const char *k, bool *out);
bool http_json_string(struct http_req *r, const cJSON *o, const char *k, const char **out);
bool http_json_object(struct http_req *r, const cJSON *o, const char *k, const cJSON **out);
/* Percent-encode for URLs (Location headers) into out. */
void http_url_encode(const char *s, char *out, size_t cap);

/* ---- resource handlers: route on r->seg[1..] and r->method ---- */
void http_api_overview(struct http_req *r);
void http_api_nodes(struct http_req *r);
void http_api_whoami(struct http_req *r);
void http_api_health(struct http_req *r);
void http_api_aliveness(struct http_req *r);
void http_api_extensions(struct http_req *r);
/* http_api_params.c */
void http_api_parameters(struct http_req *r);
void http_api_global_parameters(struct http_req *r);
void http_api_cluster_name(struct http_req *r);
void http_api_queues(struct http_req *r);
/* http_api_streams.c: /api/stream/consumers; a stream's part of a queue object */
void http_api_stream(struct http_req *r);
void http_stream_queue_json(struct http_req *r, cJSON *o, const struct bk_queue_view *v);
void http_api_exchanges(struct http_req *r);
void http_api_bindings(struct http_req *r);
void http_api_connections(struct http_req *r);
void http_api_channels(struct http_req *r);
void http_api_consumers(struct http_req *r);
void http_api_users(struct http_req *r);
void http_api_vhosts(struct http_req *r);
void http_api_permissions(struct http_req *r);
void http_api_topic_permissions(struct http_req *r);
void http_api_user_limits(struct http_req *r);
void http_api_vhost_limits(struct http_req *r);
void http_api_definitions(struct http_req *r);
void http_api_policies(struct http_req *r);
void http_api_operator_policies(struct http_req *r);
/* http_certs.c: the TLS listeners with a certificate expiring within
 * seconds from now (RabbitMQ's "expired" list; empty: none). Owned by the
 * caller. */
cJSON *http_certs_expiring(struct http_req *r, double seconds);
/* http_prom.c: /metrics, /metrics/per-object, /metrics/detailed */
void http_prometheus(struct http_req *r);
/* The management UI's files (http_ui.c): true when the path named one
 * and it was answered. */
bool http_ui_serve(struct http_req *r);

/* http_api_overview.c: lists /api/overview and /api/nodes share. */
cJSON *http_exchange_types_json(void);
cJSON *http_listeners_json(struct http_listener *l);
cJSON *http_contexts_json(struct http_listener *l);

/* Shared by the listing handlers. */
cJSON *http_queue_json(struct http_req *r, const struct bk_queue_view *v);
cJSON *http_binding_json(const struct bk_binding_view *v);
/* Reply with the bindings of vh (NULL: every vhost), filtered (NULL =
 * any), with the list options (sort, columns, pages; long ones in
 * slices, http_slices.c). */
void http_bindings_reply(struct http_req *r, struct bk_vhost *vh, const char *source,
			 const char *dest, const char *dest_type);
/* /api/permissions filtered (NULL = any). */
void http_permissions_list(struct http_req *r, const char *user, const char *vhost);
/* /api/topic-permissions filtered (NULL = any; http_api_tperms.c). */
void http_topic_permissions_list(struct http_req *r, const char *user, const char *vhost);
/* /api/vhosts/VHOST/connections */
void http_connections_of_vhost(struct http_req *r, const char *vhost);
/* POST .../get and .../publish (http_api_message.c) */
void http_api_queue_get(struct http_req *r, struct bk_vhost *vh);
void http_api_exchange_publish(struct http_req *r, struct bk_vhost *vh);
/* POST .../move (http_api_move.c), and the listener's end: moves still
 * waiting for their confirms give their messages back to the source. */
void http_api_queue_move(struct http_req *r, struct bk_vhost *vh);
void http_moves_free(struct http_listener *l);

#endif
