/*
 * sl_config.h: sluiced's configuration, read from sluice.conf and --set.
 *
 * The file is sectioned "key = value" text (sl_ini.h). Every key has a
 * built-in default; a key that is not known, a section that is not known
 * and a value that does not parse all stop the start, with "FILE:LINE:
 * reason" (or "--set ARG: reason") in err. Nothing is logged here: the
 * daemon prints the error once.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "bk_admin.h"
#include "amqp091.h"
#include "mqtt.h"
#include "http.h"
#include "sl_topology.h"

/* One [user NAME] section. */
struct sl_user {
	char *name;                     /* owned */
	char *password;                 /* owned; NULL until set */
	char *password_hash;            /* owned; RabbitMQ base64 hash, or NULL */
	char *hashing_algorithm;        /* owned; NULL = rabbit_password_hashing_sha256 */
	char *tags;                     /* owned; "" by default */
	int loopback_only;              /* -1 unset: yes for guest, no for others */
	char where[320];                /* "FILE:LINE" of the section, for late errors */
};

/* [tls]: the certificate every TLS listener serves (net_tls_config). */
struct sl_tls {
	char *cert_file, *key_file;     /* owned; both needed by a TLS listener */
	char *ca_file;                  /* owned; CAs of client certificates */
	char *ciphers, *ciphersuites;   /* owned; NULL = OpenSSL's defaults */
	bool verify_peer;               /* verify = peer (default none) */
	bool fail_if_no_peer_cert;
	int min_version;                /* 12 (default) or 13 */
	bool cert_login_dn;             /* cert_login_from = distinguished_name */
};

struct sl_config {
	char *data_dir;                 /* owned; "./var" */
	uint32_t max_connections;       /* broker-wide; 0 = none */
	uint32_t max_handshakes;        /* accepted, not yet logged in; 1000; 0 = none */
	int io_threads;                 /* -1 (default): cores - 1, at least 1; 0 = none */
	uint32_t io_spin_us;            /* an I/O thread's wait for the core's answer; 30 */
	enum bk_log_level log_level;    /* info */
	struct bk_limits limits;        /* max_message_size */
	/* memory_high_watermark: a fraction of physical RAM when
	 * memory_relative > 0 (default 0.4), else memory_absolute bytes
	 * (0 = no memory alarm) */
	double memory_relative;
	uint64_t memory_absolute;
	uint32_t stats_interval_ms;     /* collect_statistics_interval: 5000 */
	struct amqp_config amqp;        /* [amqp]; max_message_size copied from limits */
	struct mqtt_config mqtt;        /* [mqtt] */
	struct http_config http;        /* [http] */
	struct prometheus_config prometheus;    /* [prometheus] */
	struct sl_tls tls;              /* [tls] */
	struct {                        /* [journal] */
		bool sync_none;         /* sync = none (UNSAFE); default batch */
		uint32_t segment_size;  /* bytes, default 64M */
		uint64_t memory_budget; /* bytes of persistent bodies in RAM, 256M */
		uint64_t disk_free_limit; /* disk alarm below this, 50000000 */
		bool no_preallocate;    /* preallocate = no; default yes */
	} journal;
	struct sl_cluster_conf {         /* [cluster]: on when etcd_endpoints is set */
		bool seen;              /* some key of the section was given */
		char *etcd_endpoints;   /* owned; NULL = a single node */
		char *etcd_prefix;      /* owned; NULL = "sluice" */
		char *node_name;        /* owned; required with etcd_endpoints */
		char *advertised_host;  /* owned; NULL = "127.0.0.1" */
		char *secret;           /* owned; required with etcd_endpoints */
		char replication_bind[256];     /* "127.0.0.1" */
		int replication_port;   /* 5679 */
		uint32_t min_in_sync;   /* min_in_sync_followers, 1 */
		uint32_t lease_ttl;     /* seconds, 5 */
		uint64_t max_lag;       /* max_follower_lag, bytes, 64M */
		int tls;                /* -1 unset: on when [tls] has cert_file */
		char *tls_peer_name;    /* owned; CN every node's certificate has */
	} cluster;
	struct sl_user *users;          /* owned array of n_users */
	size_t n_users;
	char *load_definitions;         /* owned; [broker] load_definitions, or NULL */
	struct sl_topo topo;            /* [vhost], [exchange], ... and the
					   definitions document (sl_topology.h) */
};

/* Fill every field with its built-in default. */
void sl_config_init(struct sl_config *c);
/* Free what init/load/set allocated. Accepts a half-filled config. */
void sl_config_fini(struct sl_config *c);

/*
 * Read a config file on top of what c holds. 0 on success; -EINVAL (bad
 * content) or -errno (cannot open) with the reason in err, which then
 * starts with "PATH:LINE: " or "PATH: ".
 */
int sl_config_load(struct sl_config *c, const char *path, char *err, size_t errlen);
/* The same from an open stream; path only names it in errors. */
int sl_config_load_stream(struct sl_config *c, FILE *f, const char *path,
			  char *err, size_t errlen);

/*
 * Apply one "SECTION.KEY=VALUE" override with the same checks as the file.
 * A user key is "user.NAME.KEY=VALUE". 0 or -EINVAL, with err starting
 * "--set ARG: ".
 */
int sl_config_set(struct sl_config *c, const char *arg, char *err, size_t errlen);

/* The memory high watermark in bytes (relative values resolved against
 * physical RAM); 0 = off. */
uint64_t sl_config_memory_watermark(const struct sl_config *c);

/*
 * Final checks and derived values once every source is read: each user
 * has a password or a password_hash; loopback_only defaults; topology
 * sections complete and not duplicated; load_definitions read into topo;
 * guest/guest (administrator, loopback only) when no user is configured
 * here or in the definitions. 0 or -EINVAL with err.
 */
int sl_config_finish(struct sl_config *c, char *err, size_t errlen);

#endif
