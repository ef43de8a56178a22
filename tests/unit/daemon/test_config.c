/*
 * sl_config: defaults, every key, value syntax, users and error texts.
 * The AMQP and MQTT adapters are not linked: amqp_config_defaults() and
 * mqtt_config_defaults() below stand in for them with the contracts'
 * documented defaults.
 */
#include "testlib.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "sl_config.h"

void
amqp_config_defaults(struct amqp_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->bind, sizeof(c->bind), "127.0.0.1");
	c->port = 5672;
	c->frame_max = 131072;
	c->channel_max = 2047;
	c->heartbeat = 60;
	c->max_message_size = 16u << 20;
	c->output_high_watermark = 1u << 20;
	c->handshake_timeout_ms = 10000;
	c->max_inflight_content = 32u << 20;
	c->content_timeout_ms = 60000;
}

void
mqtt_config_defaults(struct mqtt_config *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = true;
	snprintf(c->bind, sizeof(c->bind), "127.0.0.1");
	c->port = 1883;
	c->max_packet_size = 268435460;
	snprintf(c->exchange, sizeof(c->exchange), "amq.topic");
	snprintf(c->vhost, sizeof(c->vhost), "/");
	snprintf(c->anonymous_user, sizeof(c->anonymous_user), "guest");
	snprintf(c->anonymous_password, sizeof(c->anonymous_password), "guest");
	c->max_inflight = 20;
	c->receive_maximum = 20;
	c->topic_alias_maximum = 10;
	c->connect_timeout_ms = 10000;
	c->output_high_watermark = 1u << 20;
}

static char path[] = "/tmp/sluice-test-config-XXXXXX";

/* Write text to the temp file and load it into a fresh config. */
static int
load(struct sl_config *c, const char *text, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	sl_config_init(c);
	return sl_config_load(c, path, err, errlen);
}

/* Expect text to fail at line with reason. */
static void
check_error(const char *text, int line, const char *reason)
{
	struct sl_config c;
	char err[512], want[512];

	CHECK_EQ_INT(load(&c, text, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: %s", path, line, reason);
	CHECK_STR(err, want);
	sl_config_fini(&c);
}

static void
test_defaults(void)
{
	struct sl_config c;
	char err[256];

	sl_config_init(&c);
	CHECK_STR(c.data_dir, "./var");
	CHECK_EQ_INT(c.log_level, BK_LOG_INFO);
	CHECK_EQ_INT(c.limits.max_message_size, 16u << 20);
	CHECK_EQ_INT(c.amqp.max_message_size, 16u << 20);
	CHECK_EQ_INT(c.amqp.port, 5672);
	CHECK_EQ_INT(c.mqtt.enabled, 1);
	CHECK_EQ_INT(c.mqtt.port, 1883);
	CHECK_STR(c.mqtt.exchange, "amq.topic");
	CHECK_EQ_INT(c.mqtt.allow_anonymous, 0);
	CHECK_EQ_INT(c.io_threads, -1);
	CHECK_EQ_INT(c.io_spin_us, 30);
	CHECK_EQ_INT(c.max_handshakes, 1000);
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_users, 1);
	CHECK_STR(c.users[0].name, "guest");
	CHECK_STR(c.users[0].password, "guest");
	CHECK_STR(c.users[0].tags, "administrator");
	CHECK_EQ_INT(c.users[0].loopback_only, 1);
	sl_config_fini(&c);
}

static void
test_every_key(void)
{
	struct sl_config c;
	char err[256];

	CHECK_EQ_INT(load(&c,
		"\xEF\xBB\xBF# all keys\n"
		"[broker]\n"
		"data_dir = /srv/sluice\n"
		"log_level = WARNING\n"
		"max_message_size = 2M\n"
		"memory_high_watermark = 512M\n"
		"io_threads = 3\n"
		"io_spin_us = 0\n"
		"max_handshakes = 0\n"
		"  ; indented comment\n"
		"[amqp]\n"
		"bind = ::1\n"
		"port = 0\n"
		"frame_max = 4k\n"
		"channel_max = 1\n"
		"heartbeat = 0\n"
		"handshake_timeout = 250\n"
		"output_high_watermark = 65536\n"
		"max_inflight_content = 4M\n"
		"content_timeout = 0\n"
		"[mqtt]\n"
		"enabled = no\n"
		"bind = 0.0.0.0\n"
		"port = 1884\n"
		"max_packet_size = 1M\n"
		"exchange = mqtt.x\n"
		"vhost = iot\n"
		"allow_anonymous = yes\n"
		"anonymous_user = anon\n"
		"anonymous_password = pw\n"
		"max_inflight = 5\n"
		"receive_maximum = 7\n"
		"topic_alias_maximum = 0\n"
		"max_keepalive = 120\n"
		"connect_timeout = 500\n"
		"output_high_watermark = 8k\n"
		"[user guest]\n"
		"password = p;w#1 x\n"
		"[user  bob]\n"
		"password = b\n"
		"tags = management monitoring\n"
		"loopback_only = On\n"
		"[user carol]\n"
		"password = c\n", err, sizeof(err)), 0);
	CHECK_STR(c.data_dir, "/srv/sluice");
	CHECK_EQ_INT(c.log_level, BK_LOG_WARNING);
	CHECK_EQ_INT(c.limits.max_message_size, 2u << 20);
	CHECK_EQ_INT(c.amqp.max_message_size, 2u << 20);
	CHECK_EQ_INT(c.memory_absolute, 512u << 20);
	CHECK(c.memory_relative == 0);
	CHECK_EQ_INT(c.io_threads, 3);
	CHECK_EQ_INT(c.io_spin_us, 0);
	CHECK_EQ_INT(c.max_handshakes, 0);
	CHECK_STR(c.amqp.bind, "::1");
	CHECK_EQ_INT(c.amqp.port, 0);
	CHECK_EQ_INT(c.mqtt.enabled, 0);
	CHECK_STR(c.mqtt.bind, "0.0.0.0");
	CHECK_EQ_INT(c.mqtt.port, 1884);
	CHECK_EQ_INT(c.mqtt.max_packet_size, 1u << 20);
	CHECK_STR(c.mqtt.exchange, "mqtt.x");
	CHECK_STR(c.mqtt.vhost, "iot");
	CHECK_EQ_INT(c.mqtt.allow_anonymous, 1);
	CHECK_STR(c.mqtt.anonymous_user, "anon");
	CHECK_STR(c.mqtt.anonymous_password, "pw");
	CHECK_EQ_INT(c.mqtt.max_inflight, 5);
	CHECK_EQ_INT(c.mqtt.receive_maximum, 7);
	CHECK_EQ_INT(c.mqtt.topic_alias_maximum, 0);
	CHECK_EQ_INT(c.mqtt.max_keepalive, 120);
	CHECK_EQ_INT(c.mqtt.connect_timeout_ms, 500);
	CHECK_EQ_INT(c.mqtt.output_high_watermark, 8192);
	CHECK_EQ_INT(c.amqp.frame_max, 4096);
	CHECK_EQ_INT(c.amqp.channel_max, 1);
	CHECK_EQ_INT(c.amqp.heartbeat, 0);
	CHECK_EQ_INT(c.amqp.handshake_timeout_ms, 250);
	CHECK_EQ_INT(c.amqp.output_high_watermark, 65536);
	CHECK_EQ_INT(c.amqp.max_inflight_content, 4u << 20);
	CHECK_EQ_INT(c.amqp.content_timeout_ms, 0);
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_users, 3);
	CHECK_STR(c.users[0].password, "p;w#1 x");
	CHECK_EQ_INT(c.users[0].loopback_only, 1);      /* guest */
	CHECK_STR(c.users[1].name, "bob");
	CHECK_STR(c.users[1].tags, "management monitoring");
	CHECK_EQ_INT(c.users[1].loopback_only, 1);
	CHECK_STR(c.users[2].tags, "");
	CHECK_EQ_INT(c.users[2].loopback_only, 0);      /* not guest */
	sl_config_fini(&c);
}

/* Relative (fraction or percent of RAM) or absolute; 0 = off. */
static void
test_memory_watermark(void)
{
	struct sl_config c;
	char err[512];
	uint64_t ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);

	sl_config_init(&c);
	CHECK(c.memory_relative == 0.4);
	CHECK_EQ_INT(sl_config_memory_watermark(&c), (uint64_t)((double)ram * 0.4));
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=25%", err, sizeof(err)), 0);
	CHECK(c.memory_relative == 0.25);
	CHECK_EQ_INT(sl_config_memory_watermark(&c), (uint64_t)((double)ram * 0.25));
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=0.5", err, sizeof(err)), 0);
	CHECK(c.memory_relative == 0.5);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=2M", err, sizeof(err)), 0);
	CHECK(c.memory_relative == 0);
	CHECK_EQ_INT(sl_config_memory_watermark(&c), 2u << 20);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=0", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_memory_watermark(&c), 0);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=1.5", err, sizeof(err)),
		     -EINVAL);
	CHECK_STR(err, "--set broker.memory_high_watermark=1.5: invalid value '1.5' for "
		  "broker.memory_high_watermark: expected a fraction of RAM (0.4 or 40%) "
		  "or a size in bytes (suffix k, M or G allowed; 0 = off)");
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=0%", err, sizeof(err)),
		     -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=40 %", err, sizeof(err)),
		     -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=.4", err, sizeof(err)),
		     -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "broker.memory_high_watermark=2MB", err, sizeof(err)),
		     -EINVAL);
	sl_config_fini(&c);
}

static void
test_file_errors(void)
{
	check_error("[amqp]\nprot = 1\n", 2, "unknown key 'prot' in section [amqp]");
	check_error("[a]\n", 1, "unknown section [a]");
	check_error("[amqp]\n\n[a]\nx=1\n", 3, "unknown section [a]");
	check_error("[amqp]\nport = abc\n", 2,
		    "invalid value 'abc' for amqp.port: expected an integer 0..65535");
	check_error("[amqp]\nport = -1\n", 2,
		    "invalid value '-1' for amqp.port: expected an integer 0..65535");
	check_error("[amqp]\nport = 99999999999999999999999\n", 2,
		    "invalid value '99999999999999999999999' for amqp.port: expected an integer 0..65535");
	check_error("[amqp]\nport = 5672x\n", 2,
		    "invalid value '5672x' for amqp.port: expected an integer 0..65535");
	check_error("[amqp]\nheartbeat = 65536\n", 2,
		    "invalid value '65536' for amqp.heartbeat: expected an integer 0..65535");
	check_error("[amqp]\nframe_max = 4095\n", 2,
		    "invalid value '4095' for amqp.frame_max: expected a size in bytes "
		    "4096..1073741824 (suffix k, M or G allowed)");
	check_error("[broker]\nmax_message_size = 1kB\n", 2,
		    "invalid value '1kB' for broker.max_message_size: expected a size in "
		    "bytes 1..536870912 (suffix k, M or G allowed)");
	check_error("[broker]\nmax_message_size = 99999999999G\n", 2,
		    "invalid value '99999999999G' for broker.max_message_size: expected a size in "
		    "bytes 1..536870912 (suffix k, M or G allowed)");
	check_error("[broker]\nio_spin_us = 1001\n", 2,
		    "invalid value '1001' for broker.io_spin_us: expected an integer 0..1000");
	check_error("[broker]\ndata_dir =\n", 2,
		    "invalid value '' for broker.data_dir: expected a path");
	check_error("[broker]\nlog_level = trace\n", 2,
		    "invalid value 'trace' for broker.log_level: expected debug, info, warning or error");
	check_error("[amqp]\nbind = 1.2.3\n", 2,
		    "invalid value '1.2.3' for amqp.bind: expected IPv4 or IPv6 addresses separated by commas");
	check_error("[user x]\npassword =\n", 2,
		    "invalid value '' for user.x.password: expected a non-empty password");
	check_error("[user x]\nloopback_only = 2\n", 2,
		    "invalid value '2' for user.x.loopback_only: expected yes or no");
	check_error("[user x]\nsecret = 2\n", 2, "unknown key 'secret' in section [user x]");
	check_error("[user]\n", 1, "section [user] needs a name: [user NAME]");
	check_error("a = 1\n", 1, "key 'a' is outside any section");
	check_error("[amqp]\nport\n", 2, "syntax error: expected 'key = value' or '[section]'");
	check_error("[amqp\n", 1, "syntax error: expected 'key = value' or '[section]'");
	check_error("[amqp] x\n", 1, "syntax error: text after the section header");
	check_error("[ ]\n", 1, "syntax error: empty section name");
	check_error("[amqp]\n = 1\n", 2, "syntax error: a key needs a name");
	check_error("[amqp]\nport = 1\n\n[nope] ; trailing comment\n", 4,
		    "unknown section [nope]");
}

/* Long lines are read whole (inih cut them at 200 bytes); only a line
 * past 64 KiB, or a section name past 511 characters, is refused. */
static void
test_long_line(void)
{
	static char text[70000];
	struct sl_config c;
	char err[512];

	snprintf(text, sizeof(text), "[broker]\ndata_dir = /%0250d\n", 0);
	CHECK_EQ_INT(load(&c, text, err, sizeof(err)), 0);
	CHECK_EQ_INT(strlen(c.data_dir), 251);
	sl_config_fini(&c);
	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "[broker]\ndata_dir = ", 20);
	check_error(text, 2, "line too long (at most 65535 characters)");
	snprintf(text, sizeof(text), "[user %0600d]\n", 0);
	check_error(text, 1, "section name too long (at most 511 characters)");
}

/*
 * Values are taken whole: ';' and '#' inside a value (a password) are
 * not comments, with or without blanks before them; only a line that
 * starts with one is a comment. A key may also be set with ':'.
 */
static void
test_inline_comment_characters(void)
{
	struct sl_config c;
	char err[512];

	CHECK_EQ_INT(load(&c,
		"; comment\n"
		"  # indented comment\n"
		"[user alice] ; her section\n"
		"password = s3cret ;not a comment # nor this\n"
		"tags = administrator\n"
		"[user bob]\n"
		"password: a:b=c #1\n"
		"[user carol]\n"
		"password =   ;\t\r\n", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_users, 3);
	CHECK_STR(c.users[0].password, "s3cret ;not a comment # nor this");
	CHECK_STR(c.users[0].tags, "administrator");
	CHECK_STR(c.users[1].password, "a:b=c #1");
	CHECK_STR(c.users[2].password, ";");
	sl_config_fini(&c);
	check_error("[amqp]\nport = 5672 ; the default\n", 2,
		    "invalid value '5672 ; the default' for amqp.port: expected an "
		    "integer 0..65535");
}

/* A cap on incomplete bodies below the largest message could never let
 * such a message arrive. */
static void
test_inflight_below_max_message_size(void)
{
	struct sl_config c;
	char err[512];

	sl_config_init(&c);
	CHECK_EQ_INT(c.amqp.max_inflight_content, 32u << 20);
	CHECK_EQ_INT(c.amqp.content_timeout_ms, 60000);
	CHECK_EQ_INT(sl_config_set(&c, "amqp.max_inflight_content=8M", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "amqp.max_inflight_content (8388608) is smaller than "
		  "broker.max_message_size (16777216)");
	sl_config_fini(&c);
}

static void
test_missing_password(void)
{
	struct sl_config c;
	char err[512], want[512];

	CHECK_EQ_INT(load(&c, "[amqp]\n[user bob]\ntags = x\n", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: user 'bob' has no password (set password or password_hash)", path);
	CHECK_STR(err, want);
	sl_config_fini(&c);
}

static void
test_set(void)
{
	struct sl_config c;
	char err[512];

	sl_config_init(&c);
	CHECK_EQ_INT(sl_config_set(&c, "amqp.port=5673", err, sizeof(err)), 0);
	CHECK_EQ_INT(c.amqp.port, 5673);
	CHECK_EQ_INT(sl_config_set(&c, "broker.data_dir=/a.b/c", err, sizeof(err)), 0);
	CHECK_STR(c.data_dir, "/a.b/c");
	CHECK_EQ_INT(sl_config_set(&c, "user.dave.password=x=y", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_set(&c, "user.a.b.tags=t", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_set(&c, "user.a.b.password=p", err, sizeof(err)), 0);
	CHECK_EQ_INT(sl_config_set(&c, "amqp.port=abc", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--set amqp.port=abc: invalid value 'abc' for amqp.port: "
		  "expected an integer 0..65535");
	CHECK_EQ_INT(sl_config_set(&c, "amqp=1", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--set amqp=1: expected SECTION.KEY=VALUE");
	CHECK_EQ_INT(sl_config_set(&c, ".port=1", err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "amqp.=1", err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "amqp.port", err, sizeof(err)), -EINVAL);
	CHECK_EQ_INT(sl_config_set(&c, "x.y=1", err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "--set x.y=1: unknown section [x]");
	CHECK_EQ_INT(sl_config_finish(&c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_users, 2);                     /* no guest added */
	CHECK_STR(c.users[0].name, "dave");
	CHECK_STR(c.users[0].password, "x=y");
	CHECK_STR(c.users[1].name, "a.b");
	sl_config_fini(&c);
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);
	RUN(test_defaults);
	RUN(test_every_key);
	RUN(test_memory_watermark);
	RUN(test_file_errors);
	RUN(test_long_line);
	RUN(test_inline_comment_characters);
	RUN(test_inflight_below_max_message_size);
	RUN(test_missing_password);
	RUN(test_set);
	unlink(path);
	TEST_DONE();
}
