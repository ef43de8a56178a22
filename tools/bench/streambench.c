/*
 * streambench: one AMQP 0-9-1 client (rabbitmq-c) for stream queues, so
 * Sluice and RabbitMQ are measured with the same code. One JSON line per
 * run on stdout.
 *
 *   streambench HOST PORT publish QUEUE N SIZE WINDOW
 *       declare the stream (durable, x-queue-type=stream) and publish N
 *       messages of SIZE bytes with confirms, WINDOW unconfirmed at most
 *   streambench HOST PORT consume QUEUE N OFFSET PREFETCH
 *       consume N messages from OFFSET ("first", "last", "next" or a
 *       number), acking every PREFETCH/2 (multiple); reports the time to
 *       the first delivery (opening at OFFSET) and the rate
 *   streambench HOST PORT delayed EXCHANGE N DELAY_MS
 *       publish N persistent 100-byte messages with x-delay to an
 *       x-delayed-message exchange, with confirms
 *   streambench HOST PORT delete QUEUE
 *       delete the queue (if it exists), so a run starts empty
 *
 * Any failure (refused publish, closed connection, no confirm or delivery
 * for STALL_S seconds) ends it with a message on stderr and status 1: a
 * broker that blocks publishers or stops answering never hangs a run.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { STALL_S = 120 };

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die_rpc(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "%s failed: %s\n", what, amqp_error_string2(r.library_error));
	else
		fprintf(stderr, "%s failed (reply type %d)\n", what, r.reply_type);
	exit(1);
}

static amqp_connection_state_t
open_conn(const char *host, int port)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);

	if (amqp_socket_open(s, host, port) != 0) {
		fprintf(stderr, "cannot connect to %s:%d\n", host, port);
		exit(1);
	}
	die_rpc(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
		"login");
	amqp_channel_open(c, 1);
	die_rpc(amqp_get_rpc_reply(c), "channel.open");
	return c;
}

static void
declare_stream(amqp_connection_state_t c, const char *q)
{
	amqp_table_entry_t e = { amqp_cstring_bytes("x-queue-type"),
				 { AMQP_FIELD_KIND_UTF8, { .bytes = amqp_cstring_bytes("stream") } } };
	amqp_table_t args = { 1, &e };

	amqp_queue_declare(c, 1, amqp_cstring_bytes(q), 0, 1, 0, 0, args);
	die_rpc(amqp_get_rpc_reply(c), "queue.declare");
}

static void
die_status(int status, const char *what)
{
	fprintf(stderr, "%s failed: %s\n", what, amqp_error_string2(status));
	exit(1);
}

/* Count confirms in the frames waiting (waiting up to STALL_S for the first
 * when block). */
static uint64_t
read_confirms(amqp_connection_state_t c, uint64_t confirmed, int block)
{
	amqp_frame_t f;
	struct timeval zero = { 0, 0 }, stall = { STALL_S, 0 };
	int st;

	while ((st = amqp_simple_wait_frame_noblock(c, &f, block ? &stall : &zero)) ==
	       AMQP_STATUS_OK) {
		block = 0;
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
		    f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
			fprintf(stderr, "broker closed the %s\n",
				f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ? "channel"
										 : "connection");
			exit(1);
		}
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
			amqp_basic_ack_t *a = f.payload.method.decoded;

			confirmed = a->multiple ? a->delivery_tag : confirmed + 1;
		} else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
			fprintf(stderr, "nack\n");
			exit(1);
		}
	}
	if (block || (st != AMQP_STATUS_TIMEOUT && st != AMQP_STATUS_OK))
		die_status(st, "waiting for confirms");
	return confirmed;
}

static int
publish(amqp_connection_state_t c, const char *exchange, const char *key, uint64_t n,
	size_t size, uint64_t window, int64_t delay)
{
	amqp_basic_properties_t p;
	amqp_table_entry_t e = { amqp_cstring_bytes("x-delay"),
				 { AMQP_FIELD_KIND_I64, { .i64 = delay } } };
	char *body = malloc(size);
	uint64_t sent = 0, confirmed = 0;
	double t0;

	memset(body, 'x', size);
	memset(&p, 0, sizeof(p));
	p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
	p.delivery_mode = 2;
	if (delay > 0) {
		p._flags |= AMQP_BASIC_HEADERS_FLAG;
		p.headers = (amqp_table_t){ 1, &e };
	}
	amqp_confirm_select(c, 1);
	die_rpc(amqp_get_rpc_reply(c), "confirm.select");
	t0 = now();
	while (confirmed < n) {
		while (sent < n && sent - confirmed < window) {
			int st = amqp_basic_publish(c, 1, amqp_cstring_bytes(exchange),
						    amqp_cstring_bytes(key), 0, 0, &p,
						    (amqp_bytes_t){ size, body });

			if (st != AMQP_STATUS_OK)
				die_status(st, "basic.publish");
			sent++;
		}
		confirmed = read_confirms(c, confirmed, 1);
	}
	printf("{\"op\":\"publish\",\"n\":%llu,\"size\":%zu,\"window\":%llu,\"seconds\":%.3f,"
	       "\"msg_per_s\":%.0f}\n", (unsigned long long)n, size,
	       (unsigned long long)window, now() - t0, (double)n / (now() - t0));
	free(body);
	return 0;
}

static int
consume(amqp_connection_state_t c, const char *q, uint64_t n, const char *offset,
	uint16_t prefetch)
{
	amqp_table_entry_t e = { amqp_cstring_bytes("x-stream-offset"), { 0 } };
	amqp_table_t args = { 1, &e };
	uint64_t got = 0, last_tag = 0;
	double t0, tfirst = 0;
	char *end;
	long long num = strtoll(offset, &end, 10);

	if (*end == '\0') {
		e.value.kind = AMQP_FIELD_KIND_I64;
		e.value.value.i64 = num;
	} else {
		e.value.kind = AMQP_FIELD_KIND_UTF8;
		e.value.value.bytes = amqp_cstring_bytes(offset);
	}
	amqp_basic_qos(c, 1, 0, prefetch, 0);
	die_rpc(amqp_get_rpc_reply(c), "basic.qos");
	t0 = now();
	amqp_basic_consume(c, 1, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0, args);
	die_rpc(amqp_get_rpc_reply(c), "basic.consume");
	while (got < n) {
		amqp_envelope_t env;
		amqp_rpc_reply_t r;
		struct timeval stall = { STALL_S, 0 };

		amqp_maybe_release_buffers(c);
		r = amqp_consume_message(c, &env, &stall, 0);
		if (r.reply_type != AMQP_RESPONSE_NORMAL)
			die_rpc(r, "consume");
		if (got++ == 0)
			tfirst = now() - t0;
		last_tag = env.delivery_tag;
		amqp_destroy_envelope(&env);
		if (got % (prefetch / 2 ? prefetch / 2 : 1) == 0)
			amqp_basic_ack(c, 1, last_tag, 1);
	}
	printf("{\"op\":\"consume\",\"n\":%llu,\"offset\":\"%s\",\"prefetch\":%u,"
	       "\"first_delivery_ms\":%.1f,\"seconds\":%.3f,\"msg_per_s\":%.0f}\n",
	       (unsigned long long)n, offset, prefetch, tfirst * 1000, now() - t0,
	       (double)n / (now() - t0));
	return 0;
}

int
main(int argc, char **argv)
{
	amqp_connection_state_t c;
	int rc = 1;

	if (argc == 5 && !strcmp(argv[3], "delete")) {
		c = open_conn(argv[1], atoi(argv[2]));
		amqp_queue_delete(c, 1, amqp_cstring_bytes(argv[4]), 0, 0);
		die_rpc(amqp_get_rpc_reply(c), "queue.delete");
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(c);
		return 0;
	}
	if (argc < 7) {
		fprintf(stderr, "usage: streambench HOST PORT publish QUEUE N SIZE WINDOW\n"
			"       streambench HOST PORT consume QUEUE N OFFSET PREFETCH\n"
			"       streambench HOST PORT delayed EXCHANGE N DELAY_MS\n"
			"       streambench HOST PORT delete QUEUE\n");
		return 2;
	}
	c = open_conn(argv[1], atoi(argv[2]));
	if (!strcmp(argv[3], "publish") && argc >= 8) {
		declare_stream(c, argv[4]);
		rc = publish(c, "", argv[4], strtoull(argv[5], NULL, 10),
			     strtoull(argv[6], NULL, 10), strtoull(argv[7], NULL, 10), 0);
	} else if (!strcmp(argv[3], "consume") && argc >= 8) {
		rc = consume(c, argv[4], strtoull(argv[5], NULL, 10), argv[6],
			     (uint16_t)atoi(argv[7]));
	} else if (!strcmp(argv[3], "delayed")) {
		rc = publish(c, argv[4], "k", strtoull(argv[5], NULL, 10), 100, 1000,
			     strtoll(argv[6], NULL, 10));
	}
	else
		fprintf(stderr, "unknown operation %s\n", argv[3]);
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return rc;
}
