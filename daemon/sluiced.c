/*
 * sluiced.c: the broker daemon, and the composition root.
 *
 * The daemon is the only layer that sees every other one: it reads the
 * configuration, opens storage, builds the core, applies the configured
 * topology, makes the protocol adapters (amqp091.h, mqtt.h, http.h) and
 * the transport's listeners for them (net.h: plain, TLS and WebSocket),
 * and runs the core's event loop on the main thread until SIGTERM or
 * SIGINT; sockets live on the transport's I/O threads (broker.io_threads).
 * Under systemd it reports readiness, reloads and shutdown through
 * sd_notify (sl_notify.c).
 *
 * Signals: SIGTERM or SIGINT stops gracefully. The transport stops
 * accepting and asks every connection of every listener to close the
 * way its protocol expects (AMQP connection.close 320
 * CONNECTION_FORCED, as RabbitMQ sends on shutdown; MQTT 5 DISCONNECT
 * 0x8B; HTTP connections close), and the loop ends once none is left; a
 * second signal ends the loop at once. SIGHUP reloads the TLS
 * certificate and key for new connections. Everything is freed before
 * exit so leak checkers see a clean run.
 *
 * Exit codes: 0 clean stop, 1 runtime failure (cannot listen, cannot
 * create data_dir), 2 usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "bk_admin.h"
#include "cluster.h"
#include "net.h"
#include "amqp091.h"
#include "mqtt.h"
#include "http.h"
#include "sl_config.h"
#include "sl_notify.h"
#include "storage.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "unknown"
#endif

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

struct daemon {
	struct sl_config cfg;
	struct event_base *base;        /* owned */
	struct bk_broker *broker;       /* owned */
	struct net *net;                /* owned: listeners and connections */
	struct net *handover;           /* owned, in promote() only: the
					   proxies' net, whose listening
					   sockets the broker's listeners take */
	struct net_tls *tls;            /* owned; NULL without [tls] */
	struct amqp_listener *amqp;     /* owned */
	struct mqtt_listener *mqtt;     /* owned; NULL when [mqtt] enabled = no */
	struct http_listener *http;     /* owned; NULL when [http] enabled = no */
	struct http_listener *prom;     /* owned; NULL when [prometheus] enabled = no */
	struct event *sig_term;         /* owned */
	struct event *sig_int;          /* owned */
	struct event *sig_hup;          /* owned */
	struct cluster *cluster;        /* owned; NULL without [cluster] */
	struct st_journal *journal;     /* borrowed from the broker */
	int exit_code;                  /* set when the loop ends on a failure */
	bool stopping;
	bool proxying;                  /* a cluster follower: d->net proxies */
	bool promote;                   /* elected: serve after this iteration */
};

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: sluiced [-c FILE] [--set SECTION.KEY=VALUE]... [--help] [--version]\n"
		"\n"
		"Run the Sluice message broker in the foreground.\n"
		"\n"
		"  -c, --config FILE          read configuration from FILE (see sluice.conf(5));\n"
		"                             without it, built-in defaults are used\n"
		"  -s, --set SECTION.KEY=VALUE\n"
		"                             override one key after FILE is read, e.g.\n"
		"                             --set amqp.port=5673 or --set user.bob.password=s3cret\n"
		"  -h, --help                 print this help and exit\n"
		"  -V, --version              print the version and exit\n"
		"\n"
		"Logs go to standard error. SIGTERM or SIGINT stops the broker: clients are\n"
		"told the broker is shutting down (AMQP reply code 320, MQTT 5 reason 0x8B)\n"
		"before it exits. SIGHUP is accepted (systemctl reload) and logged.\n"
		"Under systemd (Type=notify) it reports READY=1 once every listener is up.\n"
		"Exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n");
}

/* mkdir -p: create path and its missing parents. 0 or -errno. */
static int
make_dirs(const char *path)
{
	char *p = bk_strdup(path), *s;
	struct stat st;
	int res = 0;

	for (s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, 0750) < 0 && errno != EEXIST) {
			res = -errno;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	if (res == 0 && stat(path, &st) < 0)
		res = -errno;
	else if (res == 0 && !S_ISDIR(st.st_mode))
		res = -ENOTDIR;
	bk_free(p);
	return res;
}

/* Every connection is gone: the loop may end. */
static void
on_net_closed(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

/* Longest a stopping broker waits for its connections (AMQP waits 2 s
 * for close-ok, MQTT up to 2 s for its output to leave). */
#define SHUTDOWN_LINGER_MS 6000

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";

	if (d->stopping) {
		bk_warn("%s again: stopping now", name);
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = true;
	sl_notify_stopping();
	bk_info("%s received: closing connections and stopping", name);
	net_shutdown(d->net, SHUTDOWN_LINGER_MS, on_net_closed, d);
}

/*
 * SIGHUP (systemctl reload sends it): the TLS certificate and key are read
 * again for new connections; the service manager hears RELOADING=1, then
 * READY=1 again.
 */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	char err[512];

	sl_notify_reloading();
	if (d->tls == NULL)
		bk_info("SIGHUP received: no [tls] section, nothing to reload");
	else if (net_tls_reload(d->tls, err, sizeof(err)) < 0)
		bk_warn("SIGHUP: keeping the current certificate: %s", err);
	else
		bk_info("SIGHUP: reloaded tls.cert_file and tls.key_file for new connections");
	sl_notify_ready("running");
}

static void
daemon_fini(struct daemon *d)
{
	/* The transport first: it frees every connection through its
	 * adapter, which must still exist. */
	net_free(d->net);
	d->net = NULL;
	amqp_listener_free(d->amqp);
	d->amqp = NULL;
	http_listener_free(d->http);
	d->http = NULL;
	http_listener_free(d->prom);
	d->prom = NULL;
	/* before the core: sessions settle their deliveries */
	mqtt_listener_free(d->mqtt);
	d->mqtt = NULL;
	if (d->broker != NULL)
		bk_broker_free(d->broker);
	d->broker = NULL;
	/* after the journal: its replication hook is the cluster's */
	cluster_free(d->cluster);
	d->cluster = NULL;
	net_tls_free(d->tls);
	d->tls = NULL;
	if (d->sig_term != NULL)
		event_free(d->sig_term);
	if (d->sig_int != NULL)
		event_free(d->sig_int);
	if (d->sig_hup != NULL)
		event_free(d->sig_hup);
	bk_time_attach(NULL);
	if (d->base != NULL)
		event_base_free(d->base);
	d->base = NULL;
	sl_config_fini(&d->cfg);
}

/*
 * Read argv into d->cfg: the file first, then every --set in order.
 * Returns 0, or EXIT_USAGE after printing the reason; *done is set for
 * --help and --version.
 */
static int
configure(struct daemon *d, int argc, char **argv, bool *done)
{
	static const struct option opts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "set",     required_argument, NULL, 's' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	char **sets = bk_calloc((size_t)argc + 1, sizeof(*sets));
	size_t n_sets = 0;
	char err[1024];
	int opt, res = EXIT_USAGE;

	*done = false;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:s:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 's':
			sets[n_sets++] = optarg;
			break;
		case 'h':
			usage(stdout);
			*done = true;
			res = 0;
			goto out;
		case 'V':
			printf("sluiced %s\n", SLUICE_VERSION);
			*done = true;
			res = 0;
			goto out;
		case ':':
			fprintf(stderr, "sluiced: option '%s' needs an argument\n", argv[optind - 1]);
			goto usage;
		default:
			fprintf(stderr, "sluiced: unknown option '%s'\n", argv[optind - 1]);
			goto usage;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
		goto usage;
	}
	if (path != NULL && sl_config_load(&d->cfg, path, err, sizeof(err)) < 0)
		goto bad;
	for (size_t i = 0; i < n_sets; i++)
		if (sl_config_set(&d->cfg, sets[i], err, sizeof(err)) < 0)
			goto bad;
	if (sl_config_finish(&d->cfg, err, sizeof(err)) < 0)
		goto bad;
	res = 0;
	goto out;
bad:
	fprintf(stderr, "sluiced: %s\n", err);
	goto out;
usage:
	fprintf(stderr, "Try 'sluiced --help' for more information.\n");
out:
	bk_free(sets);
	return res;
}

/*
 * Open the journal and hand it to the broker, which loads the definitions
 * and the surviving messages: all before any listener opens, so no client
 * sees a half-recovered broker. 0 or -1 after logging why.
 */
static int
open_storage(struct daemon *d)
{
	struct st_journal_config jc;
	struct bk_persist_config pc = { d->cfg.data_dir, d->cfg.journal.disk_free_limit,
					d->cfg.journal.memory_budget };
	struct st_journal *j = NULL;
	char err[512] = "";
	int res;

	st_journal_config_init(&jc);
	jc.data_dir = d->cfg.data_dir;
	jc.sync = d->cfg.journal.sync_none ? ST_SYNC_NONE : ST_SYNC_BATCH;
	jc.segment_size = d->cfg.journal.segment_size;
	jc.mem_budget = d->cfg.journal.memory_budget;
	jc.preallocate = !d->cfg.journal.no_preallocate;
	jc.disk_free_limit = d->cfg.journal.disk_free_limit;
	if (jc.sync == ST_SYNC_NONE)
		bk_warn("journal: sync = none: confirmed messages can be lost on a "
			"crash (for benchmarks only)");
	if ((res = st_journal_open(&jc, d->base, &j)) < 0) {
		bk_error("cannot open the journal in '%s/journal': %s",
			 d->cfg.data_dir, strerror(-res));
		return -1;
	}
	if ((res = bk_broker_persist_start(d->broker, j, &pc, err, sizeof(err))) < 0) {
		bk_error("cannot recover from '%s': %s", d->cfg.data_dir,
			 err[0] ? err : strerror(-res));
		return -1;
	}
	d->journal = j;
	return 0;
}

/*
 * The event loop: libevent on epoll, every change applied when it is made
 * (no EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST). A freed TLS or WebSocket
 * bufferevent deletes its events, then closes its socket from a finalizer
 * in the same iteration; with the changelist the deletion would reach
 * epoll only at the next epoll_wait, naming a descriptor already closed,
 * and by then perhaps reused by a journal thread for a segment file.
 * Plain TCP sockets wait in their own epoll set (net_sock_plain.c), so
 * the changelist saved little.
 */
static struct event_base *
new_base(void)
{
	return event_base_new();
}

/* The configured port of a plain listener that may be 0 (any free one). */
static int *
plain_port(struct daemon *d, const char *name)
{
	if (strcmp(name, "amqp") == 0)
		return &d->cfg.amqp.port;
	if (strcmp(name, "mqtt") == 0)
		return &d->cfg.mqtt.port;
	if (strcmp(name, "http") == 0)
		return &d->cfg.http.port;
	if (strcmp(name, "prometheus") == 0)
		return &d->cfg.prometheus.port;
	return NULL;
}

/* One listener of the transport; 0 or -1 after logging why. A cluster
 * follower's listener proxies its clients to the leader, TLS and
 * WebSockets included, as plain bytes (cluster.h). */
static int
listen_one(struct daemon *d, const struct net_listen_config *lc)
{
	struct net_listen_config pc;
	struct net_listener *l;
	char err[512] = "";
	int *port;

	if (d->proxying) {
		pc = *lc;
		pc.ops = &cluster_proxy_ops;
		pc.arg = cluster_proxy_arg(d->cluster, lc->name);
		pc.transport = NET_TCP;
		pc.tls = NULL;
		lc = &pc;
		if (pc.arg == NULL)
			snprintf(err, sizeof(err), "too many listeners");
	}
	if (lc->arg != NULL &&
	    (l = net_listen_take(d->net, lc, d->handover, err, sizeof(err))) != NULL) {
		/* a port picked by the follower stays this node's once it leads */
		if (d->proxying && lc->port == 0 && (port = plain_port(d, lc->name)))
			*port = net_listener_port(l);
		return 0;
	}
	bk_error("cannot start the %s listener: %s", lc->name, err[0] ? err : "unknown error");
	return -1;
}

/* The plain listener of lc, then (tls_port != 0) its TLS twin. */
static int
listen_plain_and_tls(struct daemon *d, struct net_listen_config *lc, const char *tls_name,
		     const char *tls_protocol, const char *tls_bind, int tls_port)
{
	if (listen_one(d, lc) < 0)
		return -1;
	if (tls_port == 0)
		return 0;
	lc->name = tls_name;
	lc->protocol = tls_protocol;
	lc->bind = tls_bind;
	lc->port = tls_port;
	lc->transport = NET_TLS;
	lc->tls = d->tls;
	return listen_one(d, lc);
}

static int
listen_amqp(struct daemon *d)
{
	const struct amqp_config *c = &d->cfg.amqp;
	struct net_listen_config lc = {
		.name = "amqp", .protocol = "amqp", .bind = c->bind, .port = c->port,
		.transport = NET_TCP, .max_connections = c->max_connections,
		.handshake_ms = c->handshake_timeout_ms, .output_high = c->output_high_watermark,
		.ops = &amqp_net_ops, .arg = d->amqp,
	};

	return listen_plain_and_tls(d, &lc, "amqps", "amqp/ssl", c->tls_bind, c->tls_port);
}

static int
listen_mqtt(struct daemon *d)
{
	const struct mqtt_config *c = &d->cfg.mqtt;
	struct net_listen_config lc = {
		.max_connections = c->max_connections, .handshake_ms = c->connect_timeout_ms,
		.output_high = c->output_high_watermark, .ops = &mqtt_net_ops, .arg = d->mqtt,
		.tls = d->tls, .ws_path = c->ws_path, .ws_protocol = "mqtt",
	};
	const struct {
		const char *name, *protocol, *bind;
		int port;
		enum net_transport t;
	} each[] = {
		{ "mqtt", "mqtt", c->bind, c->port, NET_TCP },
		{ "mqtts", "mqtt/ssl", c->tls_bind, c->tls_port, NET_TLS },
		{ "ws", "http/web-mqtt", c->ws_bind, c->ws_port, NET_WS },
		{ "wss", "https/web-mqtt", c->wss_bind, c->wss_port, NET_WSS },
	};

	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
		if (i > 0 && each[i].port == 0)
			continue;
		lc.name = each[i].name;
		lc.protocol = each[i].protocol;
		lc.bind = each[i].bind;
		lc.port = each[i].port;
		lc.transport = each[i].t;
		if (listen_one(d, &lc) < 0)
			return -1;
	}
	return 0;
}

static int
listen_http(struct daemon *d)
{
	const struct http_config *c = &d->cfg.http;
	struct net_listen_config lc = {
		.name = "http", .protocol = "http", .bind = c->bind, .port = c->port,
		.transport = NET_TCP, .max_connections = c->max_connections,
		.handshake_ms = c->request_timeout_ms, .output_high = 1u << 20,
		.ops = &http_net_ops, .arg = d->http,
	};

	return listen_plain_and_tls(d, &lc, "https", "https", c->tls_bind, c->tls_port);
}

/* RabbitMQ's Prometheus listener (port 15692): /metrics only, RabbitMQ's
 * protocol name "http/prometheus". */
static int
listen_prometheus(struct daemon *d)
{
	const struct prometheus_config *c = &d->cfg.prometheus;
	struct net_listen_config lc = {
		.name = "prometheus", .protocol = "http/prometheus", .bind = c->bind,
		.port = c->port, .transport = NET_TCP, .max_connections = 64,
		.handshake_ms = d->cfg.http.request_timeout_ms, .output_high = 1u << 20,
		.ops = &http_net_ops, .arg = d->prom,
	};

	return listen_plain_and_tls(d, &lc, "prometheus_tls", "https/prometheus",
				    c->tls_bind, c->tls_port);
}

/* The [tls] context, when a certificate is configured. 0 or -1. */
static int
make_tls(struct daemon *d)
{
	const struct sl_tls *t = &d->cfg.tls;
	struct net_tls_config tc = {
		.cert_file = t->cert_file, .key_file = t->key_file, .ca_file = t->ca_file,
		.verify = t->verify_peer ? NET_VERIFY_PEER : NET_VERIFY_NONE,
		.fail_if_no_peer_cert = t->fail_if_no_peer_cert, .min_version = t->min_version,
		.ciphers = t->ciphers, .ciphersuites = t->ciphersuites,
	};
	char err[512] = "";

	if (t->cert_file == NULL)
		return 0;
	if ((d->tls = net_tls_new(&tc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sluiced: %s\n", err);
		return -1;
	}
	return 0;
}

/* broker.io_threads: -1 means the machine's cores less the core's own. */
static unsigned
io_thread_count(int configured)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (configured >= 0)
		return (unsigned)configured;
	return cores > 2 ? (unsigned)(cores - 1) : 1;
}

static int serve(struct daemon *d);
static int start_cluster(struct daemon *d);

/* Every client listener the configuration enables. 0 or an exit code. */
static int
listen_all(struct daemon *d)
{
	if (listen_amqp(d) < 0 || (d->cfg.mqtt.enabled && listen_mqtt(d) < 0) ||
	    (d->cfg.http.enabled && listen_http(d) < 0) ||
	    (d->cfg.prometheus.enabled && listen_prometheus(d) < 0))
		return EXIT_RUNTIME;
	return 0;
}

/* Build everything and listen (a cluster follower: once elected). 0, or
 * an exit code after logging why. */
static int
start(struct daemon *d)
{
	int res;

	if ((d->base = new_base()) == NULL) {
		bk_error("cannot create the event loop");
		return EXIT_RUNTIME;
	}
	bk_time_attach(d->base);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
	if (d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    evsignal_add(d->sig_term, NULL) < 0 || evsignal_add(d->sig_int, NULL) < 0 ||
	    evsignal_add(d->sig_hup, NULL) < 0) {
		bk_error("cannot install signal handlers");
		return EXIT_RUNTIME;
	}
	/* A certificate that cannot be used is a configuration error. */
	if (make_tls(d) < 0)
		return EXIT_USAGE;
	if ((res = make_dirs(d->cfg.data_dir)) < 0) {
		bk_error("cannot create data_dir '%s': %s", d->cfg.data_dir, strerror(-res));
		return EXIT_RUNTIME;
	}
	if (d->cfg.cluster.etcd_endpoints != NULL)
		return start_cluster(d);
	return serve(d);
}

/* Storage, the core, the topology and every listener. 0 or an exit code. */
static int
serve(struct daemon *d)
{
	char err[1024];

	if ((d->broker = bk_broker_new(d->base, &d->cfg.limits)) == NULL) {
		bk_error("cannot create the broker");
		return EXIT_RUNTIME;
	}
	bk_memory_watermark_set(d->broker, sl_config_memory_watermark(&d->cfg));
	bk_stats_set_interval(d->broker, d->cfg.stats_interval_ms);
	if (open_storage(d) < 0)
		return EXIT_RUNTIME;
	/* Users and the configured topology, over what the durable
	 * definitions brought back; a refusal is a configuration error. */
	if (sl_topo_apply(&d->cfg.topo, d->broker, d->cfg.users, d->cfg.n_users,
			  err, sizeof(err)) < 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		return EXIT_USAGE;
	}
	d->net = net_new(d->base, d->broker, &(struct net_config){ .max_connections = d->cfg.max_connections,
							       .max_handshakes = d->cfg.max_handshakes,
							       .io_spin_us = d->cfg.io_spin_us });
	unsigned io = io_thread_count(d->cfg.io_threads);

	if (net_start_io(d->net, io, err, sizeof(err)) < 0) {
		bk_error("%s", err);
		return EXIT_RUNTIME;
	}
	if (io > 0)
		bk_info("sockets on %u I/O thread%s beside the core thread", io, io == 1 ? "" : "s");
	else
		bk_info("sockets on the core thread (broker.io_threads = 0)");
	d->amqp = amqp_listener_new(d->base, d->broker, &d->cfg.amqp);
	if (d->cfg.mqtt.enabled)
		d->mqtt = mqtt_listener_new(d->base, d->broker, &d->cfg.mqtt);
	d->cfg.http.node_max_connections = d->cfg.max_connections;
	d->cfg.http.amqp_max_connections = d->cfg.amqp.max_connections;
	if (d->cfg.http.enabled)
		d->http = http_listener_new(d->base, d->broker, d->net, &d->cfg.http);
	if (d->cfg.prometheus.enabled)
		d->prom = http_prometheus_new(d->base, d->broker, d->net, &d->cfg.http,
					      &d->cfg.prometheus);
	return listen_all(d);
}

/* The cluster elected this node: serve, and replicate to followers. */
static int
on_cluster_lead(void *arg)
{
	struct daemon *d = arg;

	/* A node already stopping does not take up serving (its listeners
	 * are closing, and the stop must go on): it leaves the lead to the
	 * next node when it exits. */
	if (d->stopping) {
		bk_info("elected while stopping: not taking the lead");
		return 0;
	}
	/* d->net is the one the loop iteration under way runs: it is freed
	 * once that iteration has returned (run_loop) */
	d->promote = true;
	return 0;
}

/*
 * Elected, between two loop iterations: serve and replicate. Each of the
 * broker's listeners takes the listening sockets of the follower's proxy
 * on the same port (net_listen_take) instead of binding anew: a client
 * that connects while storage opens waits in the backlog and is served
 * once it is open, none is reset, and the port is never free for another
 * process to take. Then the proxies go, with the connections they still
 * hold (their leader is gone).
 */
static int
promote(struct daemon *d)
{
	int res;

	d->promote = false;
	d->handover = d->net;
	d->net = NULL;
	d->proxying = false;
	res = serve(d);
	net_free(d->handover);
	d->handover = NULL;

	if (res == 0 && cluster_lead(d->cluster, d->net, d->journal) < 0)
		res = EXIT_RUNTIME;
	if (res == 0)
		bk_cluster_set(d->broker, cluster_nodes, d->cluster);
	if (res == 0)
		sl_notify_ready("leading the cluster");
	d->exit_code = res;
	return res;
}

/* The cluster refuses this node (it logged why): stop with status. */
static void
on_cluster_stop(void *arg, int status)
{
	struct daemon *d = arg;

	d->exit_code = status;
	event_base_loopexit(d->base, NULL);
}

static const struct cluster_ops cluster_ops = { on_cluster_lead, on_cluster_stop };

/* [cluster]: follow until etcd elects this node (sluice.conf(5)). */
static int
start_cluster(struct daemon *d)
{
	const struct sl_cluster_conf *k = &d->cfg.cluster;
	struct cluster_config cc = {
		.etcd_endpoints = k->etcd_endpoints, .etcd_prefix = k->etcd_prefix,
		.node_name = k->node_name, .advertised_host = k->advertised_host,
		.replication_bind = k->replication_bind, .replication_port = k->replication_port,
		.secret = k->secret, .min_in_sync = k->min_in_sync, .lease_ttl = k->lease_ttl,
		.max_lag = k->max_lag,
		.data_dir = d->cfg.data_dir, .sync = !d->cfg.journal.sync_none,
	};
	const struct sl_tls *t = &d->cfg.tls;
	char err[512] = "";

	/* cluster.tls: on by default when [tls] has a certificate */
	if (k->tls == 1 || (k->tls < 0 && t->cert_file)) {
		cc.tls_cert_file = t->cert_file;
		cc.tls_key_file = t->key_file;
		cc.tls_ca_file = t->ca_file;
		cc.tls_ciphers = t->ciphers;
		cc.tls_ciphersuites = t->ciphersuites;
		cc.tls_min_version = t->min_version;
		cc.tls_peer_name = k->tls_peer_name;
	}

	if ((d->cluster = cluster_new(d->base, &cc, &cluster_ops, d, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sluiced: %s\n", err);
		return EXIT_USAGE;
	}
	/* Until elected, the client listeners proxy to the leader. */
	d->net = net_new(d->base, NULL, &(struct net_config){ .max_connections = d->cfg.max_connections,
							    .max_handshakes = d->cfg.max_handshakes });
	d->proxying = true;
	return listen_all(d);
}


/*
 * The core's loop. Each iteration runs every event that is ready, takes
 * in what the I/O threads sent, then hands the output it produced to them
 * in one batch per thread (net_loop_once). 0, or -1 if the loop failed.
 */
static int
run_loop(struct daemon *d)
{
	while (!event_base_got_exit(d->base) && !event_base_got_break(d->base)) {
		if (net_loop_once(d->net, d->base) < 0)
			return -1;
		if (d->promote && promote(d) != 0)
			break;          /* d->exit_code says why */
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	bool done;
	int res;

	/* Before anything else touches libevent or OpenSSL. */
	net_global_init();
	memset(&d, 0, sizeof(d));
	signal(SIGPIPE, SIG_IGN);
	sl_config_init(&d.cfg);
	if ((res = configure(&d, argc, argv, &done)) != 0 || done)
		goto out;
	bk_log_set_level(d.cfg.log_level);
	if ((res = start(&d)) != 0)
		goto out;
	bk_info("sluiced %s started", SLUICE_VERSION);
	sl_notify_ready("accepting connections");
	if (run_loop(&d) < 0) {
		bk_error("event loop failed");
		res = EXIT_RUNTIME;
		goto out;
	}
	if ((res = d.exit_code) != 0)
		goto out;
	bk_info("sluiced stopped");
out:
	daemon_fini(&d);
	return res;
}
