/* sluicectl internals: the HTTP client, the output formatter and the command
 * table share these declarations. Nothing here links broker code: sluicectl
 * only speaks the management HTTP API (RabbitMQ's /api URLs and JSON). */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Exit codes, as rabbitmqctl uses them (BSD sysexits.h). */
enum {
	CTL_EX_OK = 0,
	CTL_EX_USAGE = 64,       /* bad command line */
	CTL_EX_DATAERR = 65,     /* bad input data, object (vhost, queue) not found */
	CTL_EX_NOUSER = 67,      /* no such user */
	CTL_EX_UNAVAILABLE = 69, /* cannot reach the broker */
	CTL_EX_SOFTWARE = 70,    /* the API refused or answered nonsense */
	CTL_EX_TEMPFAIL = 75,    /* timed out */
	CTL_EX_NOPERM = 77,      /* credentials refused (HTTP 401/403) */
};

enum ctl_format { CTL_FMT_TSV, CTL_FMT_JSON, CTL_FMT_PRETTY };

/* Everything the command line and the environment decided. */
struct ctl_opts {
	const char *host;        /* borrowed from argv/env */
	int port;
	const char *user;
	const char *password;
	const char *vhost;
	int timeout_ms;
	const char *path_prefix; /* --path-prefix: the API behind a proxy */
	bool ssl;                /* --ssl: https */
	const char *cacert;      /* --cacert: CA bundle (PEM) for the server */
	const char *cert, *key;  /* --cert/--key: client certificate (PEM) */
	bool no_verify_host;     /* --ssl-disable-hostname-verification */
	bool insecure;           /* --insecure: no verification at all */
	enum ctl_format format;
	bool quiet;              /* no info lines */
	bool silent;             /* no info lines, no table header */
	bool no_headers;         /* --no-table-headers */
	bool help;               /* --help/-h */
	/* command-specific flags */
	bool durable, auto_delete, internal, if_empty, if_unused, ack;
	bool global;             /* list_user_limits / list_vhost_limits --global */
	const char *arguments;   /* JSON object text, or NULL */
	const char *properties;  /* JSON object text, or NULL */
	const char *dest_type;   /* "queue" (default) or "exchange" */
	const char *ackmode;     /* overrides --ack */
	const char *apply_to;    /* set_policy --apply-to */
	const char *priority;    /* set_policy --priority (validated text) */
	const char *unit;        /* check_certificate_expiration --unit */
	const char *within;      /* check_certificate_expiration --within */
	const char *node;        /* --node: the name banners use */
	int bad_request_code;    /* exit code for HTTP 400 (0: CTL_EX_DATAERR) */
	const char **args;       /* positional arguments after the command name */
	int nargs;
};

struct ctl_http_resp {
	int status;              /* HTTP status code */
	char *body;              /* owned, NUL-terminated, may be empty */
	size_t len;
};

/* Once per process, before and after every request. */
int ctl_http_global_init(void);
void ctl_http_global_fini(void);

/* Performs one request (redirects followed); <body> (JSON text or NULL) is
 * sent with Content-Type application/json, <extra_hdr> (one "Name: value"
 * line without CRLF, or NULL) is added as is. 0 with <resp> filled (free it
 * with ctl_http_resp_fini), or a negative errno: -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH (name lookup), -EKEYREJECTED (TLS handshake or certificate),
 * -ELOOP (too many redirects), -ECONNRESET, -ENOMEM, -EPROTO (malformed
 * response), -EMSGSIZE (response over the size limit); ctl_http_error()
 * then says what went wrong in libcurl's words. */
int ctl_http_request(const struct ctl_opts *o, const char *method,
                     const char *path, const char *body,
                     const char *extra_hdr, struct ctl_http_resp *resp);
void ctl_http_resp_fini(struct ctl_http_resp *resp);
const char *ctl_http_error(void);

/* Percent-encodes <s> for one path segment ("/" -> "%2F"). Returns a static
 * rotating buffer (four slots) so one printf may use several; NULL-safe. */
const char *ctl_url_seg(const char *s);

/* Calls the API and handles every failure the same way: prints
 * "Error:\n<reason>" to stderr and returns the exit code, or 0 with <out>
 * set to the parsed JSON body (owned by the caller; NULL for an empty body).
 * <notfound_msg> replaces RabbitMQ's generic "Not Found" reason on a 404 and
 * <notfound_code> is the exit code then (0 means CTL_EX_DATAERR). */
int ctl_api(const struct ctl_opts *o, const char *method, const char *path,
            const cJSON *body, cJSON **out, const char *notfound_msg,
            int notfound_code);

/* Same as ctl_api() with an extra header and the 404 left to the caller:
 * returns 0 and sets *<status> for 2xx and 404, an exit code otherwise. */
int ctl_api_status(const struct ctl_opts *o, const char *method,
                   const char *path, const cJSON *body, const char *extra_hdr,
                   cJSON **out, int *status);

/* GET <path> of a health check: 0 with *<passed> (2xx: true, 503: false)
 * and *<out> the parsed body (owned by the caller), or the exit code of any
 * other outcome (message printed). */
int ctl_api_check(const struct ctl_opts *o, const char *path, cJSON **out,
                  bool *passed);

/* Prints an info line ("Listing queues ...") unless quiet, silent or JSON. */
void ctl_info(const struct ctl_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints "Error:\n<msg>" to stderr; returns <code>. */
int ctl_fail(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Usage error: "Error (argument validation): <msg>" plus the usage line of
 * the current command; returns CTL_EX_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One column of a listing: rabbitmqctl's name and where the API has it
 * (a dotted path into each object; NULL means the same as <name>). */
struct ctl_column {
	const char *name;
	const char *path;
	int kind;                /* CTL_COL_* */
};

enum {
	CTL_COL_PLAIN = 0,
	CTL_COL_TAGS,            /* array of strings or "a,b" string: [a, b] */
	CTL_COL_ARGS,            /* AMQP table: [{"k",v}] / [["k","type",v]] */
	CTL_COL_CONST_EXCHANGE,  /* always "exchange" (binding source kind) */
	CTL_COL_COUNT,           /* a counter: 0 while the API has no sample yet */
	CTL_COL_JSON_TEXT,       /* a JSON value shown as its one-line text (a
	                          * string in JSON output, as rabbitmqctl does) */
};

/* Prints <rows> (an array of API objects) with the columns named in
 * <names> (each must be in <cols>; caller validated) in the chosen format:
 * TSV with a header row (unless silent, or no rows) or rabbitmqctl's JSON. */
void ctl_print_table(const struct ctl_opts *o, const struct ctl_column *cols,
                     const char **names, int nnames, const cJSON *rows);

/* Looks up a column by name; NULL if unknown. */
const struct ctl_column *ctl_column_find(const struct ctl_column *cols,
                                         const char *name);

/* Prints one value as rabbitmqctl's TSV would. */
void ctl_print_value(const cJSON *v, int kind);

/* The TSV text of column <c> of <row>; owned by the caller (NULL: no
 * memory). */
char *ctl_cell_dup(const cJSON *row, const struct ctl_column *c);

/* Draws <rows> as rabbitmqctl's pretty_table: a box around every cell, the
 * column names on top (bold on a terminal); nothing when there are no rows. */
void ctl_print_pretty(const struct ctl_column *cols, const char **names,
                      int nnames, const cJSON *rows);

/* Command handlers: argument count was checked by the table in sluicectl.c;
 * return an exit code. */
struct ctl_cmd {
	const char *name;
	int (*run)(struct ctl_opts *o);
	int min_args, max_args;  /* max -1: unlimited */
	const char *usage;       /* after the command name */
};

extern const struct ctl_cmd ctl_cmds_list[];
extern const struct ctl_cmd ctl_cmds_admin[];
extern const struct ctl_cmd ctl_cmds_queue[];
extern const struct ctl_cmd ctl_cmds_defs[];
extern const struct ctl_cmd ctl_cmds_access[];
extern const struct ctl_cmd ctl_cmds_policy[];
extern const struct ctl_cmd ctl_cmds_health[];
extern const struct ctl_cmd ctl_cmds_cluster[];

#endif
