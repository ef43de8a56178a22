/*
 * sluiced.c: the broker daemon, and the composition root.
 *
 * This is the only file that sees both the core (broker.h) and the
 * protocol adapters (amqp.h, mqtt.h). It reads the configuration, builds the
 * broker, registers users, starts the listeners and runs the event loop
 * on the main thread until SIGTERM or SIGINT. Under systemd it reports
 * readiness, reloads and shutdown through sd_notify (sl_notify.c).
 *
 * Shutdown: the first signal stops the listeners gracefully (every AMQP
 * client gets connection.close 320 CONNECTION_FORCED, as RabbitMQ sends
 * on shutdown; MQTT 5 clients get DISCONNECT 0x8B) and the loop ends once
 * both listeners have no connections left; a second signal
 * ends the loop at once. Everything is freed before exit so leak checkers
 * see a clean run.
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

#include <event2/event.h>

#include "bk_admin.h"
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
	struct amqp_listener *amqp;     /* owned */
	struct mqtt_listener *mqtt;     /* owned; NULL when [mqtt] enabled = no */
	struct http_listener *http;     /* owned; NULL when [http] enabled = no */
	struct http_listener *prom;     /* owned; NULL when [prometheus] enabled = no */
	int listeners_open;             /* shutting down: listeners not done yet */
	struct event *sig_term;         /* owned */
	struct event *sig_int;          /* owned */
	struct event *sig_hup;          /* owned */
	bool stopping;
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

static void
on_listener_closed(void *arg)
{
	struct daemon *d = arg;

	if (--d->listeners_open <= 0)
		event_base_loopexit(d->base, NULL);
}

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
	d->listeners_open = d->mqtt ? 2 : 1;
	amqp_listener_shutdown(d->amqp, on_listener_closed, d);
	if (d->mqtt)
		mqtt_listener_shutdown(d->mqtt, on_listener_closed, d);
}

/*
 * SIGHUP: systemctl reload (ExecReload sends it). Nothing the running
 * broker reads from files can change under it yet, so a reload only tells
 * the service manager it happened; a SIGHUP no longer ends the process.
 */
static void
on_sighup(evutil_socket_t sig, short what, void *arg)
{
	sl_notify_reloading();
	bk_info("SIGHUP received: nothing to reload");
	sl_notify_ready("running");
}

static void
daemon_fini(struct daemon *d)
{
	if (d->amqp != NULL)
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
	return 0;
}

/*
 * The event loop. With epoll's changelist, a write event that a
 * connection drops after flushing and adds back when the next read
 * produces output (the steady state of every busy connection) cancels out
 * within one loop iteration instead of costing two epoll_ctl calls.
 */
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* Build everything and listen. 0, or EXIT_RUNTIME after logging why. */
static int
start(struct daemon *d)
{
	char err[1024];
	int res;

	if ((d->base = new_base()) == NULL) {
		bk_error("cannot create the event loop");
		return EXIT_RUNTIME;
	}
	bk_time_attach(d->base);
	d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, on_sighup, d);
	if (d->sig_term == NULL || d->sig_int == NULL || d->sig_hup == NULL ||
	    evsignal_add(d->sig_term, NULL) < 0 || evsignal_add(d->sig_int, NULL) < 0 ||
	    evsignal_add(d->sig_hup, NULL) < 0) {
		bk_error("cannot install signal handlers");
		return EXIT_RUNTIME;
	}
	if ((res = make_dirs(d->cfg.data_dir)) < 0) {
		bk_error("cannot create data_dir '%s': %s", d->cfg.data_dir, strerror(-res));
		return EXIT_RUNTIME;
	}
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
	err[0] = '\0';
	d->amqp = amqp_listener_new(d->base, d->broker, &d->cfg.amqp, err, sizeof(err));
	if (d->amqp == NULL) {
		/* The adapter's reason names the address and port. */
		bk_error("cannot start the AMQP listener: %s",
			 err[0] ? err : "unknown error");
		return EXIT_RUNTIME;
	}
	if (!d->cfg.mqtt.enabled)
		return 0;
	err[0] = '\0';
	d->mqtt = mqtt_listener_new(d->base, d->broker, &d->cfg.mqtt, err, sizeof(err));
	if (d->mqtt == NULL) {
		bk_error("cannot start the MQTT listener: %s",
			 err[0] ? err : "unknown error");
		return EXIT_RUNTIME;
	}
	return 0;
}

/*
 * The HTTP management listener, once the others are up so /api/overview
 * can list them. 0, or EXIT_RUNTIME after logging why.
 */
static int
start_http(struct daemon *d)
{
	char err[512] = "";

	if (!d->cfg.http.enabled)
		return 0;
	d->http = http_listener_new(d->base, d->broker, &d->cfg.http, err, sizeof(err));
	if (d->http == NULL) {
		bk_error("cannot start the HTTP listener: %s", err[0] ? err : "unknown error");
		return EXIT_RUNTIME;
	}
	http_listener_announce(d->http, "amqp", d->cfg.amqp.bind,
			       amqp_listener_port(d->amqp));
	if (d->mqtt != NULL)
		http_listener_announce(d->http, "mqtt", d->cfg.mqtt.bind,
				       mqtt_listener_port(d->mqtt));
	return 0;
}

/* The Prometheus listener, announced to the management API as
 * "http/prometheus" (RabbitMQ's name). 0, or EXIT_RUNTIME. */
static int
start_prometheus(struct daemon *d)
{
	char err[512] = "", first[64];

	if (!d->cfg.prometheus.enabled)
		return 0;
	d->prom = http_prometheus_new(d->base, d->broker, &d->cfg.prometheus, err,
				      sizeof(err));
	if (d->prom == NULL) {
		bk_error("cannot start the Prometheus listener: %s",
			 err[0] ? err : "unknown error");
		return EXIT_RUNTIME;
	}
	snprintf(first, sizeof(first), "%.*s",
		 (int)strcspn(d->cfg.prometheus.bind, ", \t"), d->cfg.prometheus.bind);
	http_listener_announce(d->http, "http/prometheus", first,
			       http_listener_port(d->prom));
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	bool done;
	int res;

	memset(&d, 0, sizeof(d));
	signal(SIGPIPE, SIG_IGN);
	sl_config_init(&d.cfg);
	if ((res = configure(&d, argc, argv, &done)) != 0 || done)
		goto out;
	bk_log_set_level(d.cfg.log_level);
	if ((res = start(&d)) != 0 || (res = start_http(&d)) != 0 ||
	    (res = start_prometheus(&d)) != 0)
		goto out;
	bk_info("sluiced %s started", SLUICE_VERSION);
	sl_notify_ready("accepting connections");
	if (event_base_dispatch(d.base) < 0) {
		bk_error("event loop failed");
		res = EXIT_RUNTIME;
		goto out;
	}
	bk_info("sluiced stopped");
out:
	daemon_fini(&d);
	return res;
}
