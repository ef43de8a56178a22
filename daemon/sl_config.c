/*
 * sl_config.c: struct sl_config's lifecycle, its [user NAME] entries,
 * --set overrides and the checks that need every source read.
 *
 * What keys exist and how values parse is sl_config_keys.c; reading the
 * file is sl_config_file.c. This file re-enters the topology code
 * (sl_topology.c, sl_defs_load.c) only from sl_config_finish().
 */
#include "sl_config_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
sl_config_init(struct sl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = bk_strdup("./var");
	c->log_level = BK_LOG_INFO;
	c->limits.max_message_size = 16 * MIB;
	c->limits.max_queues = 0;
	c->memory_relative = 0.4;       /* RabbitMQ's default */
	c->stats_interval_ms = 5000;    /* RabbitMQ's collect_statistics_interval */
	c->journal.segment_size = 64 * MIB;
	c->journal.memory_budget = 256 * MIB;
	c->journal.disk_free_limit = 50000000;  /* RabbitMQ's 50MB */
	amqp_config_defaults(&c->amqp);
	c->amqp.max_message_size = c->limits.max_message_size;
	mqtt_config_defaults(&c->mqtt);
	http_config_defaults(&c->http);
	prometheus_config_defaults(&c->prometheus);
	c->tls.min_version = 12;
	snprintf(c->cluster.replication_bind, sizeof(c->cluster.replication_bind), "127.0.0.1");
	c->cluster.replication_port = 5679;
	c->cluster.min_in_sync = 1;
	c->cluster.lease_ttl = 5;
	c->cluster.max_lag = 64 * MIB;
	c->cluster.tls = -1;
	c->io_threads = -1;
	c->io_spin_us = 30;
	c->max_handshakes = 1000;
	sl_topo_init(&c->topo);
}

void
sl_config_fini(struct sl_config *c)
{
	for (size_t i = 0; i < c->n_users; i++) {
		bk_free(c->users[i].name);
		bk_free(c->users[i].password);
		bk_free(c->users[i].tags);
		bk_free(c->users[i].password_hash);
		bk_free(c->users[i].hashing_algorithm);
	}
	BK_FREE(c->users);
	c->n_users = 0;
	BK_FREE(c->data_dir);
	BK_FREE(c->load_definitions);
	BK_FREE(c->tls.cert_file);
	BK_FREE(c->tls.key_file);
	BK_FREE(c->tls.ca_file);
	BK_FREE(c->tls.ciphers);
	BK_FREE(c->tls.ciphersuites);
	BK_FREE(c->cluster.etcd_endpoints);
	BK_FREE(c->cluster.etcd_prefix);
	BK_FREE(c->cluster.node_name);
	BK_FREE(c->cluster.advertised_host);
	BK_FREE(c->cluster.secret);
	BK_FREE(c->cluster.tls_peer_name);
	sl_topo_fini(&c->topo);
}

struct sl_user *
sl_config_user_get(struct sl_config *c, const char *name, const char *where)
{
	struct sl_user *u;

	for (size_t i = 0; i < c->n_users; i++)
		if (strcmp(c->users[i].name, name) == 0)
			return &c->users[i];
	c->users = bk_realloc(c->users, (c->n_users + 1) * sizeof(*c->users));
	u = &c->users[c->n_users++];
	memset(u, 0, sizeof(*u));
	u->name = bk_strdup(name);
	u->tags = bk_strdup("");
	u->loopback_only = -1;
	snprintf(u->where, sizeof(u->where), "%s", where);
	return u;
}

/* ---------------------------------------------------------------- */
/* --set and the final checks                                        */
/* ---------------------------------------------------------------- */

int
sl_config_set(struct sl_config *c, const char *arg, char *err, size_t errlen)
{
	const char *eq = strchr(arg, '='), *dot;
	char section[128], name[64], why[512], where[300];
	size_t n;

	for (dot = eq; dot != NULL && dot > arg && *dot != '.'; dot--)
		;
	if (eq == NULL || dot == NULL || dot == arg || eq - dot - 1 <= 0 ||
	    (size_t)(dot - arg) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(name)) {
		sl_errf(err, errlen, "--set %s: expected SECTION.KEY=VALUE", arg);
		return -EINVAL;
	}
	n = (size_t)(dot - arg);
	memcpy(section, arg, n);
	section[n] = '\0';
	/* "user.NAME" on the command line is the file's [user NAME]. */
	if (strncmp(section, "user.", 5) == 0)
		section[4] = ' ';
	memcpy(name, dot + 1, (size_t)(eq - dot - 1));
	name[eq - dot - 1] = '\0';
	snprintf(where, sizeof(where), "--set %s", arg);
	if (sl_config_apply(c, section, name, eq + 1, where, why, sizeof(why)) < 0) {
		sl_errf(err, errlen, "--set %s: %s", arg, why);
		return -EINVAL;
	}
	return 0;
}

/* A TLS listener needs the [tls] certificate; [tls] options need a
 * listener to mean anything only in that they are checked at start. */
static int
check_tls(const struct sl_config *c, char *err, size_t errlen)
{
	static const char *const names[] = {
		"amqp.tls_port", "mqtt.tls_port", "mqtt.wss_port", "http.tls_port",
		"prometheus.tls_port",
	};
	const int ports[] = { c->amqp.tls_port, c->mqtt.tls_port, c->mqtt.wss_port,
			      c->http.tls_port, c->prometheus.tls_port };

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (ports[i] == 0 || (c->tls.cert_file && c->tls.key_file))
			continue;
		sl_errf(err, errlen, "%s is set: the [tls] section needs cert_file and "
			"key_file", names[i]);
		return -EINVAL;
	}
	if (c->tls.verify_peer && c->tls.ca_file == NULL) {
		sl_errf(err, errlen, "tls.verify = peer needs tls.ca_file");
		return -EINVAL;
	}
	if (c->mqtt.use_identity_as_username && !c->tls.verify_peer) {
		sl_errf(err, errlen, "mqtt.use_identity_as_username needs tls.verify = peer");
		return -EINVAL;
	}
	return 0;
}

/* Replication over TLS (cluster.tls, on by default with a [tls]
 * certificate) verifies every peer against tls.ca_file. */
static int
check_cluster_tls(const struct sl_config *c, char *err, size_t errlen)
{
	bool on = c->cluster.tls == 1 || (c->cluster.tls < 0 && c->tls.cert_file);

	if (c->cluster.tls == 1 && (c->tls.cert_file == NULL || c->tls.key_file == NULL)) {
		sl_errf(err, errlen, "cluster.tls = yes needs tls.cert_file, tls.key_file "
			"and tls.ca_file");
		return -EINVAL;
	}
	if (on && (c->tls.key_file == NULL || c->tls.ca_file == NULL)) {
		sl_errf(err, errlen, "replication over TLS (cluster.tls, on with a [tls] "
			"certificate) needs tls.key_file and tls.ca_file, the CA that signs "
			"every node's certificate; or set cluster.tls = no");
		return -EINVAL;
	}
	if (c->cluster.tls_peer_name && !on) {
		sl_errf(err, errlen, "cluster.tls_peer_name needs replication over TLS "
			"(cluster.tls)");
		return -EINVAL;
	}
	return 0;
}

/* [cluster] keys mean something only with etcd_endpoints, which needs
 * a node name and the shared secret. */
static int
check_cluster(const struct sl_config *c, char *err, size_t errlen)
{
	if (c->cluster.seen && c->cluster.etcd_endpoints == NULL) {
		sl_errf(err, errlen, "the [cluster] section needs etcd_endpoints");
		return -EINVAL;
	}
	if (c->cluster.etcd_endpoints == NULL)
		return 0;
	if (c->cluster.node_name == NULL || c->cluster.secret == NULL) {
		sl_errf(err, errlen, "cluster.etcd_endpoints is set: the [cluster] section "
			"needs node_name and secret");
		return -EINVAL;
	}
	if (strlen(c->cluster.node_name) >= 64 || strpbrk(c->cluster.node_name, " \t")) {
		sl_errf(err, errlen, "cluster.node_name: at most 63 characters, no blanks");
		return -EINVAL;
	}
	return check_cluster_tls(c, err, errlen);
}

int
sl_config_finish(struct sl_config *c, char *err, size_t errlen)
{
	struct sl_user *u;

	/* one message of the largest size must be able to arrive */
	if (c->amqp.max_inflight_content < c->limits.max_message_size) {
		sl_errf(err, errlen, "amqp.max_inflight_content (%llu) is smaller than "
			"broker.max_message_size (%llu)",
			(unsigned long long)c->amqp.max_inflight_content,
			(unsigned long long)c->limits.max_message_size);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_users; i++) {
		u = &c->users[i];
		if (u->password == NULL && u->password_hash == NULL) {
			sl_errf(err, errlen, "%s: user '%s' has no password "
				"(set password or password_hash)", u->where, u->name);
			return -EINVAL;
		}
		if (u->password != NULL && u->password_hash != NULL) {
			sl_errf(err, errlen, "%s: user '%s' has both password and "
				"password_hash: set one", u->where, u->name);
			return -EINVAL;
		}
		if (u->hashing_algorithm != NULL && u->password_hash == NULL) {
			sl_errf(err, errlen, "%s: user '%s': hashing_algorithm needs "
				"password_hash", u->where, u->name);
			return -EINVAL;
		}
		if (u->loopback_only < 0)
			u->loopback_only = strcmp(u->name, "guest") == 0;
	}
	if (check_tls(c, err, errlen) < 0 || check_cluster(c, err, errlen) < 0)
		return -EINVAL;
	if (sl_topo_finish(&c->topo, err, errlen) < 0)
		return -EINVAL;
	if (c->load_definitions != NULL &&
	    sl_defs_load(&c->topo, c->load_definitions, err, errlen) < 0)
		return -EINVAL;
	if (c->n_users == 0 && sl_topo_user_count(&c->topo) == 0) {
		/* RabbitMQ's default user; loopback_users = guest. As in
		 * RabbitMQ, definitions that bring users replace it. */
		u = sl_config_user_get(c, "guest", "built-in default");
		u->password = bk_strdup("guest");
		bk_free(u->tags);
		u->tags = bk_strdup("administrator");
		u->loopback_only = 1;
	}
	return 0;
}

uint64_t
sl_config_memory_watermark(const struct sl_config *c)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	double ram;

	if (c->memory_relative <= 0)
		return c->memory_absolute;
	if (pages <= 0 || page <= 0)
		return 0;               /* RAM unknown: no relative check */
	ram = (double)pages * (double)page;
	return (uint64_t)(ram * c->memory_relative);
}
