/*
 * tlsbench: the same client over plain TCP and over TLS, to put a price on
 * TLS. It is a client of rabbitmq-c and libmosquitto (both speak TLS
 * through OpenSSL), so the figures compare transports, not clients.
 *
 *   tlsbench amqp  HOST PORT [--tls CAFILE] [--size N] [--duration S]
 *       1 publisher -> default exchange -> 1 queue -> 1 consumer (no-ack),
 *       each on its own connection and thread; prints delivered msg/s.
 *   tlsbench mqtt  HOST PORT [--tls CAFILE] [--size N] [--duration S]
 *       1 publisher -> 1 subscriber, QoS 1 both ways (libmosquitto's
 *       in-flight window of 20); prints delivered msg/s.
 *   tlsbench idle-amqp HOST PORT --pid BROKER_PID [--tls CAFILE] [--conns N]
 *       opens N AMQP connections (handshake done, then idle) and prints the
 *       broker's RSS growth per connection.
 *
 * Output: one line, "case=... tls=yes|no msg_per_s=..." or
 * "case=idle-amqp tls=... bytes_per_conn=...".
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <mosquitto.h>

static const char *host, *cafile;
static int port, size = 1024, duration = 5, conns = 500, broker_pid;
static atomic_long delivered;
static atomic_int stop;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "tlsbench: %s: %s\n", what, why);
	exit(1);
}

static amqp_connection_state_t
amqp_open(void)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = cafile ? amqp_ssl_socket_new(c) : amqp_tcp_socket_new(c);
	amqp_rpc_reply_t r;

	if (s == NULL)
		die("socket", "cannot create");
	if (cafile) {
		amqp_ssl_socket_set_verify_peer(s, 1);
		amqp_ssl_socket_set_verify_hostname(s, 0);
		if (amqp_ssl_socket_set_cacert(s, cafile) != AMQP_STATUS_OK)
			die("cacert", cafile);
	}
	if (amqp_socket_open(s, host, port) != AMQP_STATUS_OK)
		die("connect", "refused");
	r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		die("login", "refused");
	amqp_channel_open(c, 1);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		die("channel.open", "refused");
	return c;
}

static void *
amqp_publisher(void *arg)
{
	amqp_connection_state_t c = amqp_open();
	amqp_bytes_t q = amqp_cstring_bytes(arg), body;
	char *buf = malloc((size_t)size);

	memset(buf, 'x', (size_t)size);
	body.bytes = buf;
	body.len = (size_t)size;
	while (!atomic_load(&stop)) {
		/* Keep the queue short: the broker's delivery rate is measured,
		 * not how fast it can queue. */
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, q, 0, 0, NULL, body) != 0)
			break;
	}
	free(buf);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return NULL;
}

static void
run_amqp(void)
{
	amqp_connection_state_t c = amqp_open();
	char qname[64];
	pthread_t pub;
	struct timeval tv = { 0, 200000 };
	double start, end;
	long n = 0;

	snprintf(qname, sizeof(qname), "tlsbench-%d", (int)getpid());
	amqp_queue_declare(c, 1, amqp_cstring_bytes(qname), 0, 0, 0, 1, amqp_empty_table);
	amqp_basic_qos(c, 1, 0, 1000, 0);
	amqp_basic_consume(c, 1, amqp_cstring_bytes(qname), amqp_empty_bytes, 0, 1, 0,
			   amqp_empty_table);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		die("consume", "refused");
	pthread_create(&pub, NULL, amqp_publisher, qname);
	start = now_s();
	end = start + duration;
	while (now_s() < end) {
		amqp_envelope_t env;

		amqp_maybe_release_buffers(c);
		if (amqp_consume_message(c, &env, &tv, 0).reply_type != AMQP_RESPONSE_NORMAL)
			continue;
		n++;
		amqp_destroy_envelope(&env);
	}
	atomic_store(&stop, 1);
	pthread_join(pub, NULL);
	printf("case=amqp-1to1 size=%d tls=%s msg_per_s=%.0f\n", size, cafile ? "yes" : "no",
	       n / (now_s() - start > duration ? duration : now_s() - start));
	amqp_destroy_connection(c);
}

static void
on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	atomic_fetch_add(&delivered, 1);
}

static struct mosquitto *
mqtt_open(const char *id)
{
	struct mosquitto *m = mosquitto_new(id, true, NULL);

	if (m == NULL)
		die("mosquitto_new", "failed");
	mosquitto_username_pw_set(m, "guest", "guest");
	if (cafile && mosquitto_tls_set(m, cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS)
		die("tls_set", cafile);
	if (cafile)
		mosquitto_tls_insecure_set(m, true);    /* the CA is checked, not the name */
	if (mosquitto_connect(m, host, port, 60) != MOSQ_ERR_SUCCESS)
		die("mqtt connect", "refused");
	return m;
}

static void
run_mqtt(void)
{
	struct mosquitto *sub, *pub;
	char *buf = malloc((size_t)size);
	double start, end;
	long sent = 0;

	memset(buf, 'x', (size_t)size);
	mosquitto_lib_init();
	sub = mqtt_open("tlsbench-sub");
	mosquitto_message_callback_set(sub, on_message);
	mosquitto_subscribe(sub, NULL, "tlsbench/t", 1);
	mosquitto_loop_start(sub);
	pub = mqtt_open("tlsbench-pub");
	mosquitto_loop_start(pub);
	usleep(200000);
	start = now_s();
	end = start + duration;
	while (now_s() < end) {
		/* libmosquitto queues without bound: stay a window ahead. */
		if (sent - atomic_load(&delivered) > 200) {
			usleep(100);
			continue;
		}
		if (mosquitto_publish(pub, NULL, "tlsbench/t", size, buf, 1, false) ==
		    MOSQ_ERR_SUCCESS)
			sent++;
	}
	printf("case=mqtt-qos1 size=%d tls=%s msg_per_s=%.0f\n", size, cafile ? "yes" : "no",
	       atomic_load(&delivered) / (now_s() - start));
	mosquitto_disconnect(pub);
	mosquitto_disconnect(sub);
	mosquitto_loop_stop(pub, true);
	mosquitto_loop_stop(sub, true);
	mosquitto_destroy(pub);
	mosquitto_destroy(sub);
	mosquitto_lib_cleanup();
	free(buf);
}

static long
rss_bytes(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void
run_idle(void)
{
	amqp_connection_state_t *cs = calloc((size_t)conns, sizeof(*cs));
	long before, after;

	if (broker_pid == 0)
		die("idle-amqp", "needs --pid");
	before = rss_bytes(broker_pid);
	for (int i = 0; i < conns; i++)
		cs[i] = amqp_open();
	sleep(1);
	after = rss_bytes(broker_pid);
	printf("case=idle-amqp conns=%d tls=%s bytes_per_conn=%ld\n", conns,
	       cafile ? "yes" : "no", (after - before) / conns);
	for (int i = 0; i < conns; i++)
		amqp_destroy_connection(cs[i]);
	free(cs);
}

int
main(int argc, char **argv)
{
	const char *mode;

	if (argc < 4) {
		fprintf(stderr, "usage: tlsbench amqp|mqtt|idle-amqp HOST PORT [--tls CAFILE] "
			"[--size N] [--duration S] [--conns N] [--pid PID]\n");
		return 2;
	}
	mode = argv[1];
	host = argv[2];
	port = atoi(argv[3]);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--tls") == 0)
			cafile = argv[i + 1];
		else if (strcmp(argv[i], "--size") == 0)
			size = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--duration") == 0)
			duration = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--conns") == 0)
			conns = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--pid") == 0)
			broker_pid = atoi(argv[i + 1]);
	}
	if (strcmp(mode, "amqp") == 0)
		run_amqp();
	else if (strcmp(mode, "mqtt") == 0)
		run_mqtt();
	else if (strcmp(mode, "idle-amqp") == 0)
		run_idle();
	else
		die("mode", mode);
	return 0;
}
