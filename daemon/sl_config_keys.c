/*
 * sl_config_keys.c: every key sluice.conf and --set know, how each value
 * parses, and which field of struct sl_config it lands in.
 *
 * One table (keys[] below) names every key, its section, how its value
 * parses and its bounds. sl_config_apply() is the single way in: the file
 * reader (sl_config_file.c) and --set (sl_config.c) both call it, so both
 * accept and refuse exactly the same things. Parsing never modifies the
 * config; only a value that parsed is stored. Re-enters nothing but the
 * log-level parser of base/ and sl_config_user_get().
 */
#include "sl_config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind {
	K_PATH,         /* non-empty text */
	K_LEVEL,        /* debug|info|warning|error */
	K_UINT,         /* decimal integer in [min, max] */
	K_UINT_AUTO,    /* K_UINT, or "auto" (UINT64_MAX) */
	K_SIZE,         /* K_UINT with an optional k/M/G suffix (powers of 1024) */
	K_BOOL,         /* yes/no/true/false/on/off/1/0 */
	K_ADDR,         /* numeric IPv4 or IPv6 address */
	K_ADDRS,        /* K_ADDR list, separated by commas or blanks */
	K_VERIFY,       /* none|peer; u = the index of the word */
	K_TLS_VERSION,  /* 1.2|1.3 */
	K_LOGIN_FROM,   /* common_name|distinguished_name */
	K_TEXT,         /* any text, may be empty */
	K_SECRET,       /* non-empty text, never echoed in errors */
	K_NAME,         /* non-empty text of at most 255 octets */
	K_WATERMARK,    /* a fraction of RAM ("0.4", "40%") or a K_SIZE */
	K_DURATION,     /* Mosquitto's: an integer and h, d, w, m (30 d) or y (365 d);
			   a bare integer is seconds; stored in seconds <= max */
	K_SYNC,         /* batch|none */
};

enum key_id {
	BROKER_DATA_DIR, BROKER_LOG_LEVEL, BROKER_MAX_MESSAGE_SIZE,
	BROKER_MEMORY_HIGH_WATERMARK, BROKER_LOAD_DEFINITIONS,
	BROKER_COLLECT_STATISTICS_INTERVAL,
	AMQP_BIND, AMQP_PORT, AMQP_FRAME_MAX, AMQP_CHANNEL_MAX, AMQP_HEARTBEAT,
	AMQP_HANDSHAKE_TIMEOUT, AMQP_OUTPUT_HIGH_WATERMARK, AMQP_MAX_INFLIGHT_CONTENT,
	AMQP_CONTENT_TIMEOUT, AMQP_CONSUMER_MAX_PER_CHANNEL,
	USER_PASSWORD, USER_TAGS, USER_LOOPBACK_ONLY, USER_PASSWORD_HASH,
	USER_HASHING_ALGORITHM,
	MQTT_ENABLED, MQTT_BIND, MQTT_PORT, MQTT_MAX_PACKET_SIZE, MQTT_EXCHANGE,
	MQTT_VHOST, MQTT_ALLOW_ANONYMOUS, MQTT_ANONYMOUS_USER, MQTT_ANONYMOUS_PASSWORD,
	MQTT_MAX_INFLIGHT, MQTT_RECEIVE_MAXIMUM, MQTT_TOPIC_ALIAS_MAXIMUM,
	MQTT_MAX_KEEPALIVE, MQTT_CONNECT_TIMEOUT, MQTT_OUTPUT_HIGH_WATERMARK,
	MQTT_SYS_INTERVAL, MQTT_REASON_STRINGS, MQTT_RETAIN_AVAILABLE,
	MQTT_MAX_RETAINED_MESSAGES, MQTT_MAX_RETAINED_BYTES, MQTT_MAX_QUEUED_MESSAGES,
	MQTT_MAX_QUEUED_BYTES, MQTT_PERSISTENT_CLIENT_EXPIRATION,
	JOURNAL_SYNC, JOURNAL_SEGMENT_SIZE, JOURNAL_MEMORY_BUDGET,
	JOURNAL_DISK_FREE_LIMIT, JOURNAL_PREALLOCATE,
	HTTP_ENABLED, HTTP_BIND, HTTP_PORT, HTTP_MAX_BODY_SIZE,
	PROMETHEUS_ENABLED, PROMETHEUS_BIND, PROMETHEUS_PORT, PROMETHEUS_AUTHENTICATION,
	PROMETHEUS_PER_OBJECT, PROMETHEUS_TLS_BIND, PROMETHEUS_TLS_PORT,
	BROKER_MAX_CONNECTIONS, BROKER_MAX_HANDSHAKES, BROKER_IO_THREADS, BROKER_IO_SPIN_US,
	AMQP_TLS_PORT, AMQP_TLS_BIND, AMQP_MAX_CONNECTIONS,
	MQTT_TLS_PORT, MQTT_TLS_BIND, MQTT_WS_PORT, MQTT_WS_BIND, MQTT_WSS_PORT,
	MQTT_WSS_BIND, MQTT_WS_PATH, MQTT_MAX_CONNECTIONS, MQTT_MAX_CONNECT_SIZE,
	MQTT_MAX_CLIENT_ID_LENGTH,
	MQTT_USE_IDENTITY_AS_USERNAME,
	HTTP_TLS_PORT, HTTP_TLS_BIND, HTTP_MAX_CONNECTIONS, HTTP_MAX_HEADER_SIZE,
	HTTP_REQUEST_TIMEOUT,
	TLS_CERT_FILE, TLS_KEY_FILE, TLS_CA_FILE, TLS_VERIFY, TLS_FAIL_IF_NO_PEER_CERT,
	TLS_MIN_VERSION, TLS_CIPHERS, TLS_CIPHERSUITES, TLS_CERT_LOGIN_FROM,
	CLUSTER_ETCD_ENDPOINTS, CLUSTER_ETCD_PREFIX, CLUSTER_NODE_NAME,
	CLUSTER_ADVERTISED_HOST, CLUSTER_REPLICATION_BIND, CLUSTER_REPLICATION_PORT,
	CLUSTER_SECRET, CLUSTER_MIN_IN_SYNC, CLUSTER_LEASE_TTL, CLUSTER_MAX_LAG,
	CLUSTER_TLS, CLUSTER_TLS_PEER_NAME,
};

struct key {
	const char *section;            /* "user" stands for every [user NAME] */
	const char *name;
	enum kind kind;
	uint64_t min, max;              /* K_UINT, K_SIZE */
	enum key_id id;
};

static const struct key keys[] = {
	{ "broker", "data_dir",              K_PATH,  0, 0, BROKER_DATA_DIR },
	{ "broker", "log_level",             K_LEVEL, 0, 0, BROKER_LOG_LEVEL },
	/* RabbitMQ caps max_message_size at 512 MiB. */
	{ "broker", "max_message_size",      K_SIZE,  1, 512 * MIB, BROKER_MAX_MESSAGE_SIZE },
	/* RabbitMQ's vm_memory_high_watermark, relative or absolute */
	{ "broker", "memory_high_watermark", K_WATERMARK, 0, UINT64_MAX,
	  BROKER_MEMORY_HIGH_WATERMARK },
	/* a RabbitMQ definitions document applied at start (sl_defs_load.c) */
	{ "broker", "load_definitions",      K_PATH,  0, 0, BROKER_LOAD_DEFINITIONS },
	/* RabbitMQ's collect_statistics_interval: how often rates are sampled */
	{ "broker", "collect_statistics_interval", K_UINT, 100, 3600000,
	  BROKER_COLLECT_STATISTICS_INTERVAL },
	{ "broker", "max_connections",       K_UINT,  0, 10000000, BROKER_MAX_CONNECTIONS },
	{ "broker", "max_handshakes",        K_UINT,  0, 10000000, BROKER_MAX_HANDSHAKES },
	{ "broker", "io_threads",            K_UINT_AUTO, 0, 256, BROKER_IO_THREADS },
	{ "broker", "io_spin_us",            K_UINT,  0, 1000, BROKER_IO_SPIN_US },
	{ "amqp",   "bind",                  K_ADDRS, 0, 0, AMQP_BIND },
	{ "amqp",   "port",                  K_UINT,  0, 65535, AMQP_PORT },
	{ "amqp",   "tls_bind",              K_ADDRS, 0, 0, AMQP_TLS_BIND },
	{ "amqp",   "tls_port",              K_UINT,  0, 65535, AMQP_TLS_PORT },
	{ "amqp",   "max_connections",       K_UINT,  0, 10000000, AMQP_MAX_CONNECTIONS },
	/* 4096 is the 0-9-1 floor (frame-min-size) [AMQP 0-9-1 §4.2.1]. */
	{ "amqp",   "frame_max",             K_SIZE,  4096, GIB, AMQP_FRAME_MAX },
	{ "amqp",   "channel_max",           K_UINT,  1, 65535, AMQP_CHANNEL_MAX },
	{ "amqp",   "heartbeat",             K_UINT,  0, 65535, AMQP_HEARTBEAT },
	{ "amqp",   "handshake_timeout",     K_UINT,  1, 86400000, AMQP_HANDSHAKE_TIMEOUT },
	{ "amqp",   "output_high_watermark", K_SIZE,  4096, GIB, AMQP_OUTPUT_HIGH_WATERMARK },
	{ "amqp",   "max_inflight_content",  K_SIZE,  4096, 64 * GIB, AMQP_MAX_INFLIGHT_CONTENT },
	{ "amqp",   "content_timeout",       K_UINT,  0, 86400000, AMQP_CONTENT_TIMEOUT },
	{ "amqp",   "consumer_max_per_channel", K_UINT, 0, 10000000, AMQP_CONSUMER_MAX_PER_CHANNEL },
	{ "mqtt",   "enabled",               K_BOOL,  0, 0, MQTT_ENABLED },
	{ "mqtt",   "bind",                  K_ADDRS, 0, 0, MQTT_BIND },
	{ "mqtt",   "port",                  K_UINT,  0, 65535, MQTT_PORT },
	{ "mqtt",   "tls_bind",              K_ADDRS, 0, 0, MQTT_TLS_BIND },
	{ "mqtt",   "tls_port",              K_UINT,  0, 65535, MQTT_TLS_PORT },
	{ "mqtt",   "ws_bind",               K_ADDRS, 0, 0, MQTT_WS_BIND },
	{ "mqtt",   "ws_port",               K_UINT,  0, 65535, MQTT_WS_PORT },
	{ "mqtt",   "wss_bind",              K_ADDRS, 0, 0, MQTT_WSS_BIND },
	{ "mqtt",   "wss_port",              K_UINT,  0, 65535, MQTT_WSS_PORT },
	{ "mqtt",   "ws_path",               K_PATH,  0, 0, MQTT_WS_PATH },
	{ "mqtt",   "max_connections",       K_UINT,  0, 10000000, MQTT_MAX_CONNECTIONS },
	{ "mqtt",   "max_connect_size",      K_SIZE,  64, 268435460, MQTT_MAX_CONNECT_SIZE },
	{ "mqtt",   "max_client_id_length",  K_UINT,  1, 65535, MQTT_MAX_CLIENT_ID_LENGTH },
	{ "mqtt",   "use_identity_as_username", K_BOOL, 0, 0, MQTT_USE_IDENTITY_AS_USERNAME },
	/* the protocol's own limit: 4 length octets plus the fixed header */
	{ "mqtt",   "max_packet_size",       K_SIZE,  64, 268435460, MQTT_MAX_PACKET_SIZE },
	{ "mqtt",   "exchange",              K_NAME,  0, 0, MQTT_EXCHANGE },
	{ "mqtt",   "vhost",                 K_NAME,  0, 0, MQTT_VHOST },
	{ "mqtt",   "allow_anonymous",       K_BOOL,  0, 0, MQTT_ALLOW_ANONYMOUS },
	{ "mqtt",   "anonymous_user",        K_NAME,  0, 0, MQTT_ANONYMOUS_USER },
	{ "mqtt",   "anonymous_password",    K_SECRET, 0, 0, MQTT_ANONYMOUS_PASSWORD },
	{ "mqtt",   "max_inflight",          K_UINT,  1, 65535, MQTT_MAX_INFLIGHT },
	{ "mqtt",   "receive_maximum",       K_UINT,  1, 65535, MQTT_RECEIVE_MAXIMUM },
	{ "mqtt",   "topic_alias_maximum",   K_UINT,  0, 65535, MQTT_TOPIC_ALIAS_MAXIMUM },
	{ "mqtt",   "max_keepalive",         K_UINT,  0, 65535, MQTT_MAX_KEEPALIVE },
	{ "mqtt",   "connect_timeout",       K_UINT,  1, 86400000, MQTT_CONNECT_TIMEOUT },
	{ "mqtt",   "output_high_watermark", K_SIZE,  4096, GIB, MQTT_OUTPUT_HIGH_WATERMARK },
	{ "mqtt",   "sys_interval",          K_UINT,  0, 86400, MQTT_SYS_INTERVAL },
	{ "mqtt",   "reason_strings",        K_BOOL,  0, 0, MQTT_REASON_STRINGS },
	{ "mqtt",   "retain_available",      K_BOOL,  0, 0, MQTT_RETAIN_AVAILABLE },
	{ "mqtt",   "max_retained_messages", K_UINT,  0, UINT32_MAX, MQTT_MAX_RETAINED_MESSAGES },
	{ "mqtt",   "max_retained_bytes",    K_SIZE,  0, 1024 * GIB, MQTT_MAX_RETAINED_BYTES },
	{ "mqtt",   "max_queued_messages",   K_UINT,  0, INT32_MAX, MQTT_MAX_QUEUED_MESSAGES },
	{ "mqtt",   "max_queued_bytes",      K_SIZE,  0, 1024 * GIB, MQTT_MAX_QUEUED_BYTES },
	{ "mqtt",   "persistent_client_expiration", K_DURATION, 0, UINT32_MAX - 1,
	  MQTT_PERSISTENT_CLIENT_EXPIRATION },
	{ "journal", "sync",                 K_SYNC,  0, 0, JOURNAL_SYNC },
	{ "journal", "segment_size",         K_SIZE,  64 * KIB, GIB, JOURNAL_SEGMENT_SIZE },
	{ "journal", "memory_budget",        K_SIZE,  64 * KIB, 1024 * GIB, JOURNAL_MEMORY_BUDGET },
	{ "journal", "disk_free_limit",      K_SIZE,  0, 1024 * 1024 * GIB, JOURNAL_DISK_FREE_LIMIT },
	{ "journal", "preallocate",          K_BOOL,  0, 0, JOURNAL_PREALLOCATE },
	{ "http",   "enabled",               K_BOOL,  0, 0, HTTP_ENABLED },
	{ "http",   "bind",                  K_ADDRS, 0, 0, HTTP_BIND },
	{ "http",   "port",                  K_UINT,  0, 65535, HTTP_PORT },
	{ "http",   "tls_bind",              K_ADDRS, 0, 0, HTTP_TLS_BIND },
	{ "http",   "tls_port",              K_UINT,  0, 65535, HTTP_TLS_PORT },
	{ "http",   "max_connections",       K_UINT,  0, 10000000, HTTP_MAX_CONNECTIONS },
	{ "http",   "max_header_size",       K_SIZE,  1024, MIB, HTTP_MAX_HEADER_SIZE },
	{ "http",   "request_timeout",       K_UINT,  100, 3600000, HTTP_REQUEST_TIMEOUT },
	{ "tls",    "cert_file",             K_PATH,  0, 0, TLS_CERT_FILE },
	{ "tls",    "key_file",              K_PATH,  0, 0, TLS_KEY_FILE },
	{ "tls",    "ca_file",               K_PATH,  0, 0, TLS_CA_FILE },
	{ "tls",    "verify",                K_VERIFY, 0, 0, TLS_VERIFY },
	{ "tls",    "fail_if_no_peer_cert",  K_BOOL,  0, 0, TLS_FAIL_IF_NO_PEER_CERT },
	{ "tls",    "min_version",           K_TLS_VERSION, 0, 0, TLS_MIN_VERSION },
	{ "tls",    "ciphers",               K_TEXT,  0, 0, TLS_CIPHERS },
	{ "tls",    "ciphersuites",          K_TEXT,  0, 0, TLS_CIPHERSUITES },
	{ "tls",    "cert_login_from",       K_LOGIN_FROM, 0, 0, TLS_CERT_LOGIN_FROM },
	{ "http",   "max_body_size",         K_SIZE,  4096, GIB, HTTP_MAX_BODY_SIZE },
	{ "prometheus", "enabled",           K_BOOL,  0, 0, PROMETHEUS_ENABLED },
	{ "prometheus", "bind",              K_ADDRS, 0, 0, PROMETHEUS_BIND },
	{ "prometheus", "port",              K_UINT,  0, 65535, PROMETHEUS_PORT },
	{ "prometheus", "tls_bind",          K_ADDRS, 0, 0, PROMETHEUS_TLS_BIND },
	{ "prometheus", "tls_port",          K_UINT,  0, 65535, PROMETHEUS_TLS_PORT },
	{ "prometheus", "authentication",    K_BOOL,  0, 0, PROMETHEUS_AUTHENTICATION },
	{ "prometheus", "return_per_object_metrics", K_BOOL, 0, 0, PROMETHEUS_PER_OBJECT },
	/* a replicated cluster coordinated by etcd (cluster/) */
	{ "cluster", "etcd_endpoints",       K_TEXT,  0, 0, CLUSTER_ETCD_ENDPOINTS },
	{ "cluster", "etcd_prefix",          K_NAME,  0, 0, CLUSTER_ETCD_PREFIX },
	{ "cluster", "node_name",            K_NAME,  0, 0, CLUSTER_NODE_NAME },
	{ "cluster", "advertised_host",      K_NAME,  0, 0, CLUSTER_ADVERTISED_HOST },
	{ "cluster", "replication_bind",     K_ADDRS, 0, 0, CLUSTER_REPLICATION_BIND },
	{ "cluster", "replication_port",     K_UINT,  1, 65535, CLUSTER_REPLICATION_PORT },
	{ "cluster", "secret",               K_SECRET, 0, 0, CLUSTER_SECRET },
	{ "cluster", "min_in_sync_followers", K_UINT, 0, 15, CLUSTER_MIN_IN_SYNC },
	{ "cluster", "lease_ttl",            K_UINT,  2, 300, CLUSTER_LEASE_TTL },
	{ "cluster", "max_follower_lag",     K_SIZE,  64 * KIB, 64 * GIB, CLUSTER_MAX_LAG },
	{ "cluster", "tls",                  K_BOOL,  0, 0, CLUSTER_TLS },
	{ "cluster", "tls_peer_name",        K_NAME,  0, 0, CLUSTER_TLS_PEER_NAME },
	{ "user",   "password",              K_SECRET, 0, 0, USER_PASSWORD },
	{ "user",   "tags",                  K_TEXT,  0, 0, USER_TAGS },
	{ "user",   "loopback_only",         K_BOOL,  0, 0, USER_LOOPBACK_ONLY },
	{ "user",   "password_hash",         K_SECRET, 0, 0, USER_PASSWORD_HASH },
	{ "user",   "hashing_algorithm",     K_NAME,  0, 0, USER_HASHING_ALGORITHM },
};

/* A parsed value, by kind. */
struct value {
	uint64_t u;                     /* K_UINT, K_SIZE, K_BOOL, K_LEVEL */
	double frac;                    /* K_WATERMARK: fraction of RAM, 0 = bytes in u */
	const char *s;                  /* text kinds: borrowed from the input */
};

const char *
sl_config_section_classify(const char *section, const char **user)
{
	*user = NULL;
	if (strcmp(section, "broker") == 0 || strcmp(section, "amqp") == 0 ||
	    strcmp(section, "mqtt") == 0 || strcmp(section, "journal") == 0 ||
	    strcmp(section, "http") == 0 || strcmp(section, "prometheus") == 0 ||
	    strcmp(section, "tls") == 0 || strcmp(section, "cluster") == 0)
		return section;
	if (strncmp(section, "user", 4) == 0 && (section[4] == ' ' || section[4] == '\t')) {
		const char *name = section + 4;

		while (*name == ' ' || *name == '\t')
			name++;
		if (*name == '\0')
			return NULL;
		*user = name;
		return "user";
	}
	return NULL;
}

/* ---------------------------------------------------------------- */
/* Values                                                            */
/* ---------------------------------------------------------------- */

static bool
parse_u64(const char *s, uint64_t mult, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	if (mult > 1) {
		if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0)
			mult = KIB;
		else if (strcmp(end, "m") == 0 || strcmp(end, "M") == 0)
			mult = MIB;
		else if (strcmp(end, "g") == 0 || strcmp(end, "G") == 0)
			mult = GIB;
		else if (*end == '\0')
			mult = 1;
		else
			return false;
	} else if (*end != '\0') {
		return false;
	}
	if (v > UINT64_MAX / mult)
		return false;
	*out = (uint64_t)v * mult;
	return true;
}

/*
 * "40%" or "0.4": a fraction of physical RAM in (0, 1]; otherwise a size
 * with an optional k/M/G suffix. Fractions use '.' whatever the locale
 * (the daemon never calls setlocale).
 */
static bool
parse_watermark(const char *s, struct value *out)
{
	size_t n = strlen(s);
	bool pct = n > 0 && s[n - 1] == '%';
	char *end;
	double d;

	out->frac = 0;
	if (!pct && strchr(s, '.') == NULL)
		return parse_u64(s, 2, &out->u);
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end != s + n - (pct ? 1 : 0))
		return false;
	if (pct)
		d /= 100;
	if (!(d > 0 && d <= 1))
		return false;
	out->frac = d;
	return true;
}

/*
 * Mosquitto's duration: "14d", "2m" (months), "1y"; units h, d, w, m
 * (30 days) and y (365 days), as its persistent_client_expiration reads
 * them. A bare integer is seconds. Into seconds.
 */
static bool
parse_duration(const char *s, uint64_t *out)
{
	static const struct { char unit; uint64_t secs; } units[] = {
		{ 'h', 3600 }, { 'd', 86400 }, { 'w', 7 * 86400 },
		{ 'm', 30 * 86400 }, { 'y', 365 * 86400 },
	};
	size_t n = strlen(s);
	char num[24];

	if (n == 0 || n >= sizeof(num))
		return false;
	if (isdigit((unsigned char)s[n - 1]))
		return parse_u64(s, 1, out);
	memcpy(num, s, n - 1);
	num[n - 1] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[n - 1] != units[i].unit)
			continue;
		if (!parse_u64(num, 1, out) || *out > UINT64_MAX / units[i].secs)
			return false;
		*out *= units[i].secs;
		return true;
	}
	return false;
}

/* "127.0.0.1, ::1": at most 8 numeric addresses, 255 octets in all. */
static bool
parse_addrs(const char *v, char *why, size_t whylen)
{
	unsigned char addr[16];
	char buf[256], *tok, *save = NULL;
	int n = 0;

	if (strlen(v) >= sizeof(buf)) {
		sl_errf(why, whylen, "expected at most 255 characters of addresses");
		return false;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (++n > 8 || (inet_pton(AF_INET, tok, addr) != 1 &&
				inet_pton(AF_INET6, tok, addr) != 1)) {
			sl_errf(why, whylen, n > 8 ? "expected at most 8 addresses" :
				"expected IPv4 or IPv6 addresses separated by commas");
			return false;
		}
	}
	if (n == 0) {
		sl_errf(why, whylen, "expected IPv4 or IPv6 addresses separated by commas");
		return false;
	}
	return true;
}

/* One of "a|b|c": out->u = its index. */
static bool
parse_choice(const char *choices, const char *v, struct value *out, char *why,
	     size_t whylen)
{
	size_t vlen = strlen(v);
	uint64_t i = 0;
	char list[128];

	for (const char *p = choices; ; i++) {
		size_t n = strcspn(p, "|");

		if (n == vlen && strncmp(p, v, n) == 0) {
			out->u = i;
			return true;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	snprintf(list, sizeof(list), "%s", choices);
	for (char *p = list; *p; p++)
		if (*p == '|')
			*p = '/';
	sl_errf(why, whylen, "expected one of %s", list);
	return false;
}

/* Parse v for k. false with the expectation in why. */
static bool
parse_value(const struct key *k, const char *v, struct value *out,
	    char *why, size_t whylen)
{
	unsigned char addr[16];
	bool b;
	int lvl;

	out->s = v;
	switch (k->kind) {
	case K_PATH:
		if (*v != '\0')
			return true;
		sl_errf(why, whylen, "expected a path");
		return false;
	case K_LEVEL:
		if ((lvl = bk_log_level_parse(v)) >= 0) {
			out->u = (uint64_t)lvl;
			return true;
		}
		sl_errf(why, whylen, "expected debug, info, warning or error");
		return false;
	case K_UINT_AUTO:
		if (strcmp(v, "auto") == 0) {
			out->u = UINT64_MAX;
			return true;
		}
		/* fall through */
	case K_UINT:
	case K_SIZE:
		if (parse_u64(v, k->kind == K_SIZE ? 2 : 1, &out->u) &&
		    out->u >= k->min && out->u <= k->max)
			return true;
		if (k->kind == K_SIZE)
			sl_errf(why, whylen, "expected a size in bytes %llu..%llu "
				"(suffix k, M or G allowed)",
				(unsigned long long)k->min, (unsigned long long)k->max);
		else
			sl_errf(why, whylen, "expected %san integer %llu..%llu",
				k->kind == K_UINT_AUTO ? "auto or " : "",
				(unsigned long long)k->min, (unsigned long long)k->max);
		return false;
	case K_BOOL:
		if (sl_parse_bool(v, &b)) {
			out->u = b;
			return true;
		}
		sl_errf(why, whylen, "expected yes or no");
		return false;
	case K_ADDR:
		if (strlen(v) < 64 &&
		    (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1))
			return true;
		sl_errf(why, whylen, "expected an IPv4 or IPv6 address");
		return false;
	case K_ADDRS:
		return parse_addrs(v, why, whylen);
	case K_VERIFY:
		return parse_choice("none|peer", v, out, why, whylen);
	case K_TLS_VERSION:
		return parse_choice("1.2|1.3", v, out, why, whylen);
	case K_LOGIN_FROM:
		return parse_choice("common_name|distinguished_name", v, out, why, whylen);
	case K_TEXT:
		return true;
	case K_SECRET:
		if (*v != '\0')
			return true;
		sl_errf(why, whylen, "expected a non-empty password");
		return false;
	case K_NAME:
		if (*v != '\0' && strlen(v) <= 255)
			return true;
		sl_errf(why, whylen, "expected a name of 1..255 characters");
		return false;
	case K_SYNC:
		if (strcmp(v, "batch") == 0 || strcmp(v, "none") == 0) {
			out->u = strcmp(v, "none") == 0;
			return true;
		}
		sl_errf(why, whylen, "expected batch or none");
		return false;
	case K_DURATION:
		if (parse_duration(v, &out->u) && out->u <= k->max)
			return true;
		sl_errf(why, whylen, "expected a duration: an integer followed by h, d, w, "
			"m (months) or y, or seconds alone");
		return false;
	case K_WATERMARK:
		if (parse_watermark(v, out))
			return true;
		sl_errf(why, whylen, "expected a fraction of RAM (0.4 or 40%%) or a size "
			"in bytes (suffix k, M or G allowed; 0 = off)");
		return false;
	}
	return false;
}

/* [broker]: true if id was one of its keys. */
static bool
store_broker(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case BROKER_DATA_DIR:
		bk_free(c->data_dir);
		c->data_dir = bk_strdup(v->s);
		break;
	case BROKER_LOG_LEVEL:
		c->log_level = (enum bk_log_level)v->u;
		break;
	case BROKER_MAX_MESSAGE_SIZE:
		c->limits.max_message_size = v->u;
		c->amqp.max_message_size = v->u;
		break;
	case BROKER_MEMORY_HIGH_WATERMARK:
		c->memory_relative = v->frac;
		c->memory_absolute = v->frac > 0 ? 0 : v->u;
		break;
	case BROKER_LOAD_DEFINITIONS:
		bk_free(c->load_definitions);
		c->load_definitions = bk_strdup(v->s);
		break;
	case BROKER_COLLECT_STATISTICS_INTERVAL:
		c->stats_interval_ms = (uint32_t)v->u;
		break;
	default:
		return false;
	}
	return true;
}

/* [amqp]: true if id was one of its keys. */
static bool
store_amqp(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case AMQP_BIND:
		snprintf(c->amqp.bind, sizeof(c->amqp.bind), "%s", v->s);
		break;
	case AMQP_PORT:
		c->amqp.port = (int)v->u;
		break;
	case AMQP_FRAME_MAX:
		c->amqp.frame_max = (uint32_t)v->u;
		break;
	case AMQP_CHANNEL_MAX:
		c->amqp.channel_max = (uint16_t)v->u;
		break;
	case AMQP_HEARTBEAT:
		c->amqp.heartbeat = (uint16_t)v->u;
		break;
	case AMQP_HANDSHAKE_TIMEOUT:
		c->amqp.handshake_timeout_ms = (uint32_t)v->u;
		break;
	case AMQP_OUTPUT_HIGH_WATERMARK:
		c->amqp.output_high_watermark = (size_t)v->u;
		break;
	case AMQP_MAX_INFLIGHT_CONTENT:
		c->amqp.max_inflight_content = v->u;
		break;
	case AMQP_CONTENT_TIMEOUT:
		c->amqp.content_timeout_ms = (uint32_t)v->u;
		break;
	case AMQP_CONSUMER_MAX_PER_CHANNEL:
		c->amqp.consumer_max_per_channel = (uint32_t)v->u;
		break;
	default:
		return false;
	}
	return true;
}

/* [mqtt]: true if id was one of its keys. */
static bool
store_mqtt(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case MQTT_ENABLED:
		c->mqtt.enabled = v->u != 0;
		break;
	case MQTT_BIND:
		snprintf(c->mqtt.bind, sizeof(c->mqtt.bind), "%s", v->s);
		break;
	case MQTT_PORT:
		c->mqtt.port = (int)v->u;
		break;
	case MQTT_MAX_PACKET_SIZE:
		c->mqtt.max_packet_size = (uint32_t)v->u;
		break;
	case MQTT_EXCHANGE:
		snprintf(c->mqtt.exchange, sizeof(c->mqtt.exchange), "%s", v->s);
		break;
	case MQTT_VHOST:
		snprintf(c->mqtt.vhost, sizeof(c->mqtt.vhost), "%s", v->s);
		break;
	case MQTT_ALLOW_ANONYMOUS:
		c->mqtt.allow_anonymous = v->u != 0;
		break;
	case MQTT_ANONYMOUS_USER:
		snprintf(c->mqtt.anonymous_user, sizeof(c->mqtt.anonymous_user), "%s", v->s);
		break;
	case MQTT_ANONYMOUS_PASSWORD:
		snprintf(c->mqtt.anonymous_password, sizeof(c->mqtt.anonymous_password),
			 "%s", v->s);
		break;
	case MQTT_MAX_INFLIGHT:
		c->mqtt.max_inflight = (uint16_t)v->u;
		break;
	case MQTT_RECEIVE_MAXIMUM:
		c->mqtt.receive_maximum = (uint16_t)v->u;
		break;
	case MQTT_TOPIC_ALIAS_MAXIMUM:
		c->mqtt.topic_alias_maximum = (uint16_t)v->u;
		break;
	case MQTT_MAX_KEEPALIVE:
		c->mqtt.max_keepalive = (uint16_t)v->u;
		break;
	case MQTT_CONNECT_TIMEOUT:
		c->mqtt.connect_timeout_ms = (uint32_t)v->u;
		break;
	case MQTT_OUTPUT_HIGH_WATERMARK:
		c->mqtt.output_high_watermark = (size_t)v->u;
		break;
	case MQTT_SYS_INTERVAL:
		c->mqtt.sys_interval = (uint32_t)v->u;
		break;
	case MQTT_REASON_STRINGS:
		c->mqtt.reason_strings = v->u != 0;
		break;
	case MQTT_RETAIN_AVAILABLE:
		c->mqtt.retain_available = v->u != 0;
		break;
	case MQTT_MAX_RETAINED_MESSAGES:
		c->mqtt.max_retained_messages = v->u;
		break;
	case MQTT_MAX_RETAINED_BYTES:
		c->mqtt.max_retained_bytes = v->u;
		break;
	case MQTT_MAX_QUEUED_MESSAGES:
		c->mqtt.max_queued_messages = (uint32_t)v->u;
		break;
	case MQTT_MAX_QUEUED_BYTES:
		c->mqtt.max_queued_bytes = v->u;
		break;
	case MQTT_PERSISTENT_CLIENT_EXPIRATION:
		c->mqtt.persistent_client_expiration = (uint32_t)v->u;
		break;
	default:
		return false;
	}
	return true;
}

/* [journal] and [http]: true if id was one of their keys. */
static bool
store_journal_http(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case JOURNAL_SYNC:
		c->journal.sync_none = v->u != 0;
		break;
	case JOURNAL_SEGMENT_SIZE:
		c->journal.segment_size = (uint32_t)v->u;
		break;
	case JOURNAL_MEMORY_BUDGET:
		c->journal.memory_budget = v->u;
		break;
	case JOURNAL_DISK_FREE_LIMIT:
		c->journal.disk_free_limit = v->u;
		break;
	case JOURNAL_PREALLOCATE:
		c->journal.no_preallocate = v->u == 0;
		break;
	case HTTP_ENABLED:
		c->http.enabled = v->u != 0;
		break;
	case HTTP_BIND:
		snprintf(c->http.bind, sizeof(c->http.bind), "%s", v->s);
		break;
	case HTTP_PORT:
		c->http.port = (int)v->u;
		break;
	case HTTP_MAX_BODY_SIZE:
		c->http.max_body_size = (uint32_t)v->u;
		break;
	case PROMETHEUS_ENABLED:
		c->prometheus.enabled = v->u != 0;
		break;
	case PROMETHEUS_BIND:
		snprintf(c->prometheus.bind, sizeof(c->prometheus.bind), "%s", v->s);
		break;
	case PROMETHEUS_PORT:
		c->prometheus.port = (int)v->u;
		break;
	case PROMETHEUS_AUTHENTICATION:
		c->prometheus.authentication = v->u != 0;
		break;
	case PROMETHEUS_PER_OBJECT:
		c->prometheus.per_object = v->u != 0;
		break;
	default:
		return false;
	}
	return true;
}

static void
set_text(char **dst, const char *s)
{
	bk_free(*dst);
	*dst = *s ? bk_strdup(s) : NULL;
}

/* Listener keys of every protocol, [tls], broker.max_connections and
 * broker.max_handshakes:
 * true if id was one of them. */
static bool
store_net(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case BROKER_MAX_CONNECTIONS: c->max_connections = (uint32_t)v->u; break;
	case BROKER_MAX_HANDSHAKES: c->max_handshakes = (uint32_t)v->u; break;
	case BROKER_IO_THREADS: c->io_threads = v->u == UINT64_MAX ? -1 : (int)v->u; break;
	case BROKER_IO_SPIN_US: c->io_spin_us = (uint32_t)v->u; break;
	case AMQP_TLS_PORT: c->amqp.tls_port = (int)v->u; break;
	case AMQP_TLS_BIND: snprintf(c->amqp.tls_bind, sizeof(c->amqp.tls_bind), "%s", v->s); break;
	case AMQP_MAX_CONNECTIONS: c->amqp.max_connections = (uint32_t)v->u; break;
	case MQTT_TLS_PORT: c->mqtt.tls_port = (int)v->u; break;
	case MQTT_TLS_BIND: snprintf(c->mqtt.tls_bind, sizeof(c->mqtt.tls_bind), "%s", v->s); break;
	case MQTT_WS_PORT: c->mqtt.ws_port = (int)v->u; break;
	case MQTT_WS_BIND: snprintf(c->mqtt.ws_bind, sizeof(c->mqtt.ws_bind), "%s", v->s); break;
	case MQTT_WSS_PORT: c->mqtt.wss_port = (int)v->u; break;
	case MQTT_WSS_BIND: snprintf(c->mqtt.wss_bind, sizeof(c->mqtt.wss_bind), "%s", v->s); break;
	case MQTT_WS_PATH: snprintf(c->mqtt.ws_path, sizeof(c->mqtt.ws_path), "%s", v->s); break;
	case MQTT_MAX_CONNECTIONS: c->mqtt.max_connections = (uint32_t)v->u; break;
	case MQTT_MAX_CONNECT_SIZE: c->mqtt.max_connect_size = (uint32_t)v->u; break;
	case MQTT_MAX_CLIENT_ID_LENGTH: c->mqtt.max_client_id_length = (uint32_t)v->u; break;
	case MQTT_USE_IDENTITY_AS_USERNAME: c->mqtt.use_identity_as_username = v->u != 0; break;
	case HTTP_TLS_PORT: c->http.tls_port = (int)v->u; break;
	case HTTP_TLS_BIND: snprintf(c->http.tls_bind, sizeof(c->http.tls_bind), "%s", v->s); break;
	case HTTP_MAX_CONNECTIONS: c->http.max_connections = (uint32_t)v->u; break;
	case HTTP_MAX_HEADER_SIZE: c->http.max_header_size = (uint32_t)v->u; break;
	case HTTP_REQUEST_TIMEOUT: c->http.request_timeout_ms = (uint32_t)v->u; break;
	case PROMETHEUS_TLS_BIND:
		snprintf(c->prometheus.tls_bind, sizeof(c->prometheus.tls_bind), "%s", v->s);
		break;
	case PROMETHEUS_TLS_PORT: c->prometheus.tls_port = (int)v->u; break;
	case TLS_CERT_FILE: set_text(&c->tls.cert_file, v->s); break;
	case TLS_KEY_FILE: set_text(&c->tls.key_file, v->s); break;
	case TLS_CA_FILE: set_text(&c->tls.ca_file, v->s); break;
	case TLS_CIPHERS: set_text(&c->tls.ciphers, v->s); break;
	case TLS_CIPHERSUITES: set_text(&c->tls.ciphersuites, v->s); break;
	case TLS_VERIFY: c->tls.verify_peer = v->u == 1; break;
	case TLS_FAIL_IF_NO_PEER_CERT: c->tls.fail_if_no_peer_cert = v->u != 0; break;
	case TLS_MIN_VERSION: c->tls.min_version = v->u == 1 ? 13 : 12; break;
	case TLS_CERT_LOGIN_FROM:
		c->tls.cert_login_dn = v->u == 1;
		c->amqp.cert_login_dn = v->u == 1;
		break;
	default:
		return false;
	}
	return true;
}

/* [cluster]: true if id was one of its keys. */
static bool
store_cluster(struct sl_config *c, enum key_id id, const struct value *v)
{
	switch (id) {
	case CLUSTER_ETCD_ENDPOINTS: set_text(&c->cluster.etcd_endpoints, v->s); break;
	case CLUSTER_ETCD_PREFIX: set_text(&c->cluster.etcd_prefix, v->s); break;
	case CLUSTER_NODE_NAME: set_text(&c->cluster.node_name, v->s); break;
	case CLUSTER_ADVERTISED_HOST: set_text(&c->cluster.advertised_host, v->s); break;
	case CLUSTER_SECRET: set_text(&c->cluster.secret, v->s); break;
	case CLUSTER_REPLICATION_BIND:
		snprintf(c->cluster.replication_bind, sizeof(c->cluster.replication_bind),
			 "%s", v->s);
		break;
	case CLUSTER_REPLICATION_PORT: c->cluster.replication_port = (int)v->u; break;
	case CLUSTER_MIN_IN_SYNC: c->cluster.min_in_sync = (uint32_t)v->u; break;
	case CLUSTER_LEASE_TTL: c->cluster.lease_ttl = (uint32_t)v->u; break;
	case CLUSTER_MAX_LAG: c->cluster.max_lag = v->u; break;
	case CLUSTER_TLS: c->cluster.tls = v->u ? 1 : 0; break;
	case CLUSTER_TLS_PEER_NAME: set_text(&c->cluster.tls_peer_name, v->s); break;
	default:
		return false;
	}
	c->cluster.seen = true;
	return true;
}

/* [user NAME]: true if id was one of its keys. */
static bool
store_user(struct sl_user *u, enum key_id id, const struct value *v)
{
	switch (id) {
	case USER_PASSWORD:
		bk_free(u->password);
		u->password = bk_strdup(v->s);
		break;
	case USER_TAGS:
		bk_free(u->tags);
		u->tags = bk_strdup(v->s);
		break;
	case USER_LOOPBACK_ONLY:
		u->loopback_only = (int)v->u;
		break;
	case USER_PASSWORD_HASH:
		bk_free(u->password_hash);
		u->password_hash = bk_strdup(v->s);
		break;
	case USER_HASHING_ALGORITHM:
		bk_free(u->hashing_algorithm);
		u->hashing_algorithm = bk_strdup(v->s);
		break;
	default:
		return false;
	}
	return true;
}

/* Store a parsed value; u is the [user NAME] entry for a user key. */
static void
store(struct sl_config *c, struct sl_user *u, enum key_id id, const struct value *v)
{
	if (store_broker(c, id, v) || store_amqp(c, id, v) || store_mqtt(c, id, v) ||
	    store_journal_http(c, id, v) || store_net(c, id, v) || store_cluster(c, id, v))
		return;
	store_user(u, id, v);
}

int
sl_config_apply(struct sl_config *c, const char *section, const char *name,
		const char *value, const char *where, char *why, size_t whylen)
{
	const char *kind, *user_name;
	const struct key *k = NULL;
	struct sl_user *u = NULL;
	struct value v = { 0, 0, NULL };
	char expect[128];

	if (*section == '\0') {
		sl_errf(why, whylen, "key '%s' is outside any section", name);
		return -EINVAL;
	}
	if ((kind = sl_config_section_classify(section, &user_name)) == NULL) {
		sl_errf(why, whylen, "unknown section [%s]", section);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, kind) == 0 && strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (k == NULL) {
		sl_errf(why, whylen, "unknown key '%s' in section [%s]", name, section);
		return -EINVAL;
	}
	if (!parse_value(k, value, &v, expect, sizeof(expect))) {
		if (user_name != NULL)
			sl_errf(why, whylen, "invalid value '%s' for user.%s.%s: %s",
				k->kind == K_SECRET ? "" : value, user_name, name, expect);
		else
			sl_errf(why, whylen, "invalid value '%s' for %s.%s: %s",
				value, section, name, expect);
		return -EINVAL;
	}
	if (user_name != NULL)
		u = sl_config_user_get(c, user_name, where);
	store(c, u, k->id, &v);
	return 0;
}
