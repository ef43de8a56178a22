/*
 * sl_config.c: sluice.conf and --set overrides into struct sl_config.
 *
 * One table (keys[] below) names every key, its section, how its value
 * parses and its bounds; the file and --set go through the same apply()
 * so both accept and refuse exactly the same things.
 *
 * Line numbers. Debian's libinih is built without INI_HANDLER_LINENO, so
 * the handler is not told the line. We feed inih through our own reader
 * (ini_parse_stream) and count lines there: inih calls the handler for a
 * line before it asks for the next one, so the reader's count is the
 * handler's line. The reader also checks [section] headers as they pass,
 * so an unknown or empty section is reported at its own line even when
 * no key follows it (inih only calls the handler for key = value lines).
 *
 * inih reads at most 200 bytes per line and would split a longer line in
 * two; the reader refuses such a line instead of letting half of it
 * parse as something else.
 */
#include "sl_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum kind {
	K_PATH,         /* non-empty text */
	K_LEVEL,        /* debug|info|warning|error */
	K_UINT,         /* decimal integer in [min, max] */
	K_SIZE,         /* K_UINT with an optional k/M/G suffix (powers of 1024) */
	K_BOOL,         /* yes/no/true/false/on/off/1/0 */
	K_ADDR,         /* numeric IPv4 or IPv6 address */
	K_TEXT,         /* any text, may be empty */
	K_SECRET,       /* non-empty text, never echoed in errors */
	K_NAME,         /* non-empty text of at most 255 octets */
	K_WATERMARK,    /* a fraction of RAM ("0.4", "40%") or a K_SIZE */
	K_SYNC,         /* batch|none */
};

enum key_id {
	BROKER_DATA_DIR, BROKER_LOG_LEVEL, BROKER_MAX_MESSAGE_SIZE,
	BROKER_MEMORY_HIGH_WATERMARK, BROKER_LOAD_DEFINITIONS,
	AMQP_BIND, AMQP_PORT, AMQP_FRAME_MAX, AMQP_CHANNEL_MAX, AMQP_HEARTBEAT,
	AMQP_HANDSHAKE_TIMEOUT, AMQP_OUTPUT_HIGH_WATERMARK,
	USER_PASSWORD, USER_TAGS, USER_LOOPBACK_ONLY, USER_PASSWORD_HASH,
	USER_HASHING_ALGORITHM,
	MQTT_ENABLED, MQTT_BIND, MQTT_PORT, MQTT_MAX_PACKET_SIZE, MQTT_EXCHANGE,
	MQTT_VHOST, MQTT_ALLOW_ANONYMOUS, MQTT_ANONYMOUS_USER, MQTT_ANONYMOUS_PASSWORD,
	MQTT_MAX_INFLIGHT, MQTT_RECEIVE_MAXIMUM, MQTT_TOPIC_ALIAS_MAXIMUM,
	MQTT_MAX_KEEPALIVE, MQTT_CONNECT_TIMEOUT, MQTT_OUTPUT_HIGH_WATERMARK,
	MQTT_SYS_INTERVAL,
	JOURNAL_SYNC, JOURNAL_SEGMENT_SIZE, JOURNAL_MEMORY_BUDGET,
	JOURNAL_DISK_FREE_LIMIT,
	HTTP_ENABLED, HTTP_BIND, HTTP_PORT, HTTP_MAX_BODY_SIZE,
};

struct key {
	const char *section;            /* "user" stands for every [user NAME] */
	const char *name;
	enum kind kind;
	uint64_t min, max;              /* K_UINT, K_SIZE */
	enum key_id id;
};

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)

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
	{ "amqp",   "bind",                  K_ADDR,  0, 0, AMQP_BIND },
	{ "amqp",   "port",                  K_UINT,  0, 65535, AMQP_PORT },
	/* 4096 is the 0-9-1 floor (frame-min-size) [AMQP 0-9-1 §4.2.1]. */
	{ "amqp",   "frame_max",             K_SIZE,  4096, GIB, AMQP_FRAME_MAX },
	{ "amqp",   "channel_max",           K_UINT,  1, 65535, AMQP_CHANNEL_MAX },
	{ "amqp",   "heartbeat",             K_UINT,  0, 65535, AMQP_HEARTBEAT },
	{ "amqp",   "handshake_timeout",     K_UINT,  1, 86400000, AMQP_HANDSHAKE_TIMEOUT },
	{ "amqp",   "output_high_watermark", K_SIZE,  4096, GIB, AMQP_OUTPUT_HIGH_WATERMARK },
	{ "mqtt",   "enabled",               K_BOOL,  0, 0, MQTT_ENABLED },
	{ "mqtt",   "bind",                  K_ADDR,  0, 0, MQTT_BIND },
	{ "mqtt",   "port",                  K_UINT,  0, 65535, MQTT_PORT },
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
	{ "journal", "sync",                 K_SYNC,  0, 0, JOURNAL_SYNC },
	{ "journal", "segment_size",         K_SIZE,  64 * KIB, GIB, JOURNAL_SEGMENT_SIZE },
	{ "journal", "memory_budget",        K_SIZE,  64 * KIB, 1024 * GIB, JOURNAL_MEMORY_BUDGET },
	{ "journal", "disk_free_limit",      K_SIZE,  0, 1024 * 1024 * GIB, JOURNAL_DISK_FREE_LIMIT },
	{ "http",   "enabled",               K_BOOL,  0, 0, HTTP_ENABLED },
	{ "http",   "bind",                  K_ADDR,  0, 0, HTTP_BIND },
	{ "http",   "port",                  K_UINT,  0, 65535, HTTP_PORT },
	{ "http",   "max_body_size",         K_SIZE,  4096, GIB, HTTP_MAX_BODY_SIZE },
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

/* State of one ini_parse_stream() run. */
struct parse {
	struct sl_config *c;            /* borrowed */
	const char *path;               /* borrowed */
	FILE *f;                        /* borrowed */
	int line;                       /* line of the text last handed to inih */
	bool at_line_start;
	bool failed;                    /* err holds the first error */
	char *err;                      /* borrowed */
	size_t errlen;
};

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void
sl_config_init(struct sl_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = bk_strdup("./var");
	c->log_level = BK_LOG_INFO;
	c->limits.max_message_size = 16 * MIB;
	c->limits.max_queues = 0;
	c->memory_relative = 0.4;       /* RabbitMQ's default */
	c->journal.segment_size = 64 * MIB;
	c->journal.memory_budget = 256 * MIB;
	c->journal.disk_free_limit = 50000000;  /* RabbitMQ's 50MB */
	amqp_config_defaults(&c->amqp);
	c->amqp.max_message_size = c->limits.max_message_size;
	mqtt_config_defaults(&c->mqtt);
	http_config_defaults(&c->http);
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
	sl_topo_fini(&c->topo);
}

/* ---------------------------------------------------------------- */
/* Sections and users                                                */
/* ---------------------------------------------------------------- */

/*
 * "broker", "amqp" or "user NAME". Returns the table's section name, or
 * NULL if unknown; *user gets NAME for a user section.
 */
static const char *
classify_section(const char *section, const char **user)
{
	*user = NULL;
	if (strcmp(section, "broker") == 0 || strcmp(section, "amqp") == 0 ||
	    strcmp(section, "mqtt") == 0 || strcmp(section, "journal") == 0 ||
	    strcmp(section, "http") == 0)
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

static struct sl_user *
user_get(struct sl_config *c, const char *name, const char *where)
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

static bool
parse_bool(const char *s, uint64_t *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return true;
		}
	}
	return false;
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

/* Parse v for k. false with the expectation in why. */
static bool
parse_value(const struct key *k, const char *v, struct value *out,
	    char *why, size_t whylen)
{
	unsigned char addr[16];
	int lvl;

	out->s = v;
	switch (k->kind) {
	case K_PATH:
		if (*v != '\0')
			return true;
		set_err(why, whylen, "expected a path");
		return false;
	case K_LEVEL:
		if ((lvl = bk_log_level_parse(v)) >= 0) {
			out->u = (uint64_t)lvl;
			return true;
		}
		set_err(why, whylen, "expected debug, info, warning or error");
		return false;
	case K_UINT:
	case K_SIZE:
		if (parse_u64(v, k->kind == K_SIZE ? 2 : 1, &out->u) &&
		    out->u >= k->min && out->u <= k->max)
			return true;
		if (k->kind == K_SIZE)
			set_err(why, whylen, "expected a size in bytes %llu..%llu "
				"(suffix k, M or G allowed)",
				(unsigned long long)k->min, (unsigned long long)k->max);
		else
			set_err(why, whylen, "expected an integer %llu..%llu",
				(unsigned long long)k->min, (unsigned long long)k->max);
		return false;
	case K_BOOL:
		if (parse_bool(v, &out->u))
			return true;
		set_err(why, whylen, "expected yes or no");
		return false;
	case K_ADDR:
		if (strlen(v) < sizeof(((struct amqp_config *)0)->bind) &&
		    (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1))
			return true;
		set_err(why, whylen, "expected an IPv4 or IPv6 address");
		return false;
	case K_TEXT:
		return true;
	case K_SECRET:
		if (*v != '\0')
			return true;
		set_err(why, whylen, "expected a non-empty password");
		return false;
	case K_NAME:
		if (*v != '\0' && strlen(v) <= 255)
			return true;
		set_err(why, whylen, "expected a name of 1..255 characters");
		return false;
	case K_SYNC:
		if (strcmp(v, "batch") == 0 || strcmp(v, "none") == 0) {
			out->u = strcmp(v, "none") == 0;
			return true;
		}
		set_err(why, whylen, "expected batch or none");
		return false;
	case K_WATERMARK:
		if (parse_watermark(v, out))
			return true;
		set_err(why, whylen, "expected a fraction of RAM (0.4 or 40%%) or a size "
			"in bytes (suffix k, M or G allowed; 0 = off)");
		return false;
	}
	return false;
}

static void
store(struct sl_config *c, struct sl_user *u, enum key_id id, const struct value *v)
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
	case BROKER_LOAD_DEFINITIONS:
		bk_free(c->load_definitions);
		c->load_definitions = bk_strdup(v->s);
		break;
	}
}

/*
 * Apply section/name = value. where names the origin for a user created
 * here. 0, or -EINVAL with the reason (no location prefix) in why.
 */
static int
apply(struct sl_config *c, const char *section, const char *name,
      const char *value, const char *where, char *why, size_t whylen)
{
	const char *kind, *user_name;
	const struct key *k = NULL;
	struct sl_user *u = NULL;
	struct value v = { 0, 0, NULL };
	char expect[128];

	if (*section == '\0') {
		set_err(why, whylen, "key '%s' is outside any section", name);
		return -EINVAL;
	}
	if ((kind = classify_section(section, &user_name)) == NULL) {
		set_err(why, whylen, "unknown section [%s]", section);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].section, kind) == 0 && strcmp(keys[i].name, name) == 0)
			k = &keys[i];
	if (k == NULL) {
		set_err(why, whylen, "unknown key '%s' in section [%s]", name, section);
		return -EINVAL;
	}
	if (!parse_value(k, value, &v, expect, sizeof(expect))) {
		if (user_name != NULL)
			set_err(why, whylen, "invalid value '%s' for user.%s.%s: %s",
				k->kind == K_SECRET ? "" : value, user_name, name, expect);
		else
			set_err(why, whylen, "invalid value '%s' for %s.%s: %s",
				value, section, name, expect);
		return -EINVAL;
	}
	if (user_name != NULL)
		u = user_get(c, user_name, where);
	store(c, u, k->id, &v);
	return 0;
}

/* ---------------------------------------------------------------- */
/* The file                                                          */
/* ---------------------------------------------------------------- */

static void
parse_fail(struct parse *p, int line, const char *why)
{
	if (p->failed)
		return;
	p->failed = true;
	set_err(p->err, p->errlen, "%s:%d: %s", p->path, line, why);
}

/* A [section] header passing through the reader: check it now. */
static void
check_header(struct parse *p, const char *s)
{
	const char *end = strchr(s, ']');
	const char *user;
	char section[50], why[160], where[320];
	size_t n;

	if (end == NULL)
		return;                 /* inih reports the syntax error */
	n = (size_t)(end - s - 1);
	/* inih keeps 50 bytes of a section name and cuts the rest silently. */
	if (n >= sizeof(section)) {
		parse_fail(p, p->line, "section name too long (at most 49 characters)");
		return;
	}
	memcpy(section, s + 1, n);
	section[n] = '\0';
	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(section) != SL_T_NONE) {
		/* [vhost], [permission], [exchange], [queue], [binding] */
		if (sl_topo_begin(&p->c->topo, section, where, why, sizeof(why)) < 0)
			parse_fail(p, p->line, why);
		return;
	}
	if (classify_section(section, &user) == NULL) {
		if (strcmp(section, "user") == 0)
			snprintf(why, sizeof(why), "section [user] needs a name: [user NAME]");
		else
			snprintf(why, sizeof(why), "unknown section [%s]", section);
		parse_fail(p, p->line, why);
		return;
	}
	if (user != NULL)
		user_get(p->c, user, where);
}

/* fgets for inih that counts lines, refuses long ones and checks headers. */
static char *
reader(char *buf, int size, void *arg)
{
	struct parse *p = arg;
	const char *s = buf;
	size_t n;
	int ch;

	if (p->failed || fgets(buf, size, p->f) == NULL)
		return NULL;
	if (p->at_line_start)
		p->line++;
	n = strlen(buf);
	p->at_line_start = n > 0 && buf[n - 1] == '\n';
	if (!p->at_line_start && (ch = getc(p->f)) != EOF) {
		ungetc(ch, p->f);
		parse_fail(p, p->line, "line too long (at most 197 characters)");
		return NULL;
	}
	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;                 /* UTF-8 byte order mark */
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[')
		check_header(p, s);
	return p->failed ? NULL : buf;
}

static int
handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parse *p = arg;
	char why[512], where[320];

	if (p->failed)
		return 0;
	snprintf(where, sizeof(where), "%s:%d", p->path, p->line);
	if (sl_topo_section_kind(section) != SL_T_NONE) {
		if (sl_topo_key(&p->c->topo, section, name, value, why, sizeof(why)) < 0) {
			parse_fail(p, p->line, why);
			return 0;
		}
		return 1;
	}
	if (apply(p->c, section, name, value, where, why, sizeof(why)) < 0) {
		parse_fail(p, p->line, why);
		return 0;
	}
	return 1;
}

int
sl_config_load(struct sl_config *c, const char *path, char *err, size_t errlen)
{
	struct parse p = { .c = c, .path = path, .at_line_start = true,
			   .err = err, .errlen = errlen };
	int res;

	if ((p.f = fopen(path, "r")) == NULL) {
		res = -errno;
		set_err(err, errlen, "%s: %s", path, strerror(-res));
		return res;
	}
#ifdef SL_INIH_RUNTIME_OPTIONS
	/* Values are taken literally: a password may hold ';' or '#', and
	 * an indented line is a key of its own, not a continuation. */
	ini_allow_multiline = false;
	ini_allow_inline_comments = false;
	ini_stop_on_first_error = true;
#endif
	res = ini_parse_stream(reader, &p, handler, &p);
	if (!p.failed && ferror(p.f))
		parse_fail(&p, p.line, strerror(EIO));
	fclose(p.f);
	if (!p.failed && res > 0)
		parse_fail(&p, res, "syntax error: expected 'key = value' or '[section]'");
	else if (!p.failed && res < 0)
		set_err(err, errlen, "%s: %s", path, strerror(ENOMEM));
	return p.failed || res != 0 ? -EINVAL : 0;
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
		set_err(err, errlen, "--set %s: expected SECTION.KEY=VALUE", arg);
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
	if (apply(c, section, name, eq + 1, where, why, sizeof(why)) < 0) {
		set_err(err, errlen, "--set %s: %s", arg, why);
		return -EINVAL;
	}
	return 0;
}

int
sl_config_finish(struct sl_config *c, char *err, size_t errlen)
{
	struct sl_user *u;

	for (size_t i = 0; i < c->n_users; i++) {
		u = &c->users[i];
		if (u->password == NULL && u->password_hash == NULL) {
			set_err(err, errlen, "%s: user '%s' has no password "
				"(set password or password_hash)", u->where, u->name);
			return -EINVAL;
		}
		if (u->password != NULL && u->password_hash != NULL) {
			set_err(err, errlen, "%s: user '%s' has both password and "
				"password_hash: set one", u->where, u->name);
			return -EINVAL;
		}
		if (u->hashing_algorithm != NULL && u->password_hash == NULL) {
			set_err(err, errlen, "%s: user '%s': hashing_algorithm needs "
				"password_hash", u->where, u->name);
			return -EINVAL;
		}
		if (u->loopback_only < 0)
			u->loopback_only = strcmp(u->name, "guest") == 0;
	}
	if (sl_topo_finish(&c->topo, err, errlen) < 0)
		return -EINVAL;
	if (c->load_definitions != NULL &&
	    sl_defs_load(&c->topo, c->load_definitions, err, errlen) < 0)
		return -EINVAL;
	if (c->n_users == 0 && sl_topo_user_count(&c->topo) == 0) {
		/* RabbitMQ's default user; loopback_users = guest. As in
		 * RabbitMQ, definitions that bring users replace it. */
		u = user_get(c, "guest", "built-in default");
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
