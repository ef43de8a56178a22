/*
 * Unit tests of a follower's front (cl_front.c, cl_front_http.c): the
 * leader's 'L' frame, built from a net's listeners and read back, and
 * what the reader refuses (it comes from the network); the HTTP first
 * request's head; the rewrite of the leader's /api/overview answer and
 * the 503 a follower gives while no leader is known; the CONNACK a
 * refused MQTT client gets (cl_front_mqtt.c), byte by byte.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "cl_int.h"
#include "net.h"
#include "testlib.h"

static const struct net_proto_ops none = { .version = NET_PROTO_OPS_V1, .name = "none" };

/* A net with listeners amqp and replication: the frame has amqp only. */
static void
test_advert_round_trip(void)
{
	struct event_base *base = event_base_new();
	struct net *n = net_new(base, NULL, &(struct net_config){ 0 });
	struct net_listen_config lc = { .name = "amqp", .protocol = "amqp",
					.bind = "127.0.0.1", .transport = NET_TCP, .ops = &none };
	struct evbuffer *b = evbuffer_new();
	struct cl_front *f = cl_front_new(base, "b");
	char err[256];
	uint8_t *p;
	size_t len;

	CHECK(net_listen(n, &lc, err, sizeof(err)) != NULL);
	lc.name = "replication";
	CHECK(net_listen(n, &lc, err, sizeof(err)) != NULL);
	cl_front_advert(n, b);
	len = evbuffer_get_length(b);
	p = evbuffer_pullup(b, -1);
	CHECK(len == 5 + 1 + 1 + 4 + 2);
	CHECK_EQ_INT(p[4], 'L');
	CHECK_EQ_INT(p[5], 1);
	CHECK(memcmp(p + 7, "amqp", 4) == 0);
	CHECK_EQ_INT(cl_front_leader(f, "127.0.0.1", p + 5, len - 5), 0);
	/* hostile payloads */
	CHECK_EQ_INT(cl_front_leader(f, "127.0.0.1", p + 5, 0), -EPROTO);
	CHECK_EQ_INT(cl_front_leader(f, "127.0.0.1", p + 5, len - 6), -EPROTO);
	{
		uint8_t zero_port[] = { 1, 4, 'a', 'm', 'q', 'p', 0, 0 };
		uint8_t nul_name[] = { 1, 4, 'a', 0, 'q', 'p', 0, 1 };
		uint8_t too_many[] = { CL_FRONT_MAX + 1 };
		uint8_t long_name[1 + 1 + 40 + 2] = { 1, 40 };

		CHECK_EQ_INT(cl_front_leader(f, "h", zero_port, sizeof(zero_port)), -EPROTO);
		CHECK_EQ_INT(cl_front_leader(f, "h", nul_name, sizeof(nul_name)), -EPROTO);
		CHECK_EQ_INT(cl_front_leader(f, "h", too_many, sizeof(too_many)), -EPROTO);
		memset(long_name + 2, 'x', 40);
		CHECK_EQ_INT(cl_front_leader(f, "h", long_name, sizeof(long_name)), -EPROTO);
	}
	CHECK_EQ_INT(cl_front_leader(f, NULL, NULL, 0), 0);
	cl_front_free(f);
	evbuffer_free(b);
	net_free(n);
	event_base_free(base);
}

static int
head(const char *text, bool *overview)
{
	struct evbuffer *b = evbuffer_new();
	int rc;

	evbuffer_add(b, text, strlen(text));
	rc = cl_front_http_head(b, overview);
	CHECK(evbuffer_get_length(b) == strlen(text));      /* nothing consumed */
	evbuffer_free(b);
	return rc;
}

static void
test_http_head(void)
{
	bool ov;
	char *big = malloc(20000);

	CHECK_EQ_INT(head("GET /api/overview HTTP/1.1\r\nHost: x\r\n", &ov), 0);
	CHECK_EQ_INT(head("GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n", &ov), 1);
	CHECK(ov);
	CHECK_EQ_INT(head("GET /api/overview?columns=node HTTP/1.1\r\n\r\n", &ov), 1);
	CHECK(ov);
	CHECK_EQ_INT(head("GET /api/overviews HTTP/1.1\r\n\r\n", &ov), 1);
	CHECK(!ov);
	CHECK_EQ_INT(head("POST /api/overview HTTP/1.1\r\n\r\n", &ov), 1);
	CHECK(!ov);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	CHECK_EQ_INT(head(big, &ov), 1);      /* too long: the leader refuses it */
	CHECK(!ov);
	free(big);
}

static int
rewrite(const char *resp, char **out)
{
	struct evbuffer *in = evbuffer_new(), *o = evbuffer_new();
	size_t n;
	int rc;

	evbuffer_add(in, resp, strlen(resp));
	rc = cl_front_http_rewrite(in, o, "c", "10.0.0.1");
	n = evbuffer_get_length(o);
	*out = calloc(1, n + 1);
	evbuffer_remove(o, *out, n);
	evbuffer_free(in);
	evbuffer_free(o);
	return rc;
}

static void
test_http_rewrite(void)
{
	const char *body = "{\"node\":\"sluice@a\",\"cluster\":{\"node\":\"a\",\"role\":\"leader\","
			   "\"leader\":\"a\",\"followers\":2}}";
	char resp[512], *out;
	cJSON *o, *c;

	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n%s", strlen(body), body);
	/* incomplete: wait */
	resp[strlen(resp) - 3] = '\0';
	CHECK_EQ_INT(rewrite(resp, &out), 0);
	free(out);
	snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\nConnection: keep-alive\r\n\r\n%s", strlen(body), body);
	CHECK_EQ_INT(rewrite(resp, &out), 1);
	CHECK(strstr(out, "Connection: close\r\n") != NULL);
	CHECK(strstr(out, "keep-alive") == NULL);
	CHECK(strstr(out, "Content-Type: application/json\r\n") != NULL);
	o = cJSON_Parse(strstr(out, "\r\n\r\n") + 4);
	CHECK(o != NULL);
	CHECK_STR(cJSON_GetObjectItem(o, "node")->valuestring, "sluice@a");
	c = cJSON_GetObjectItem(o, "cluster");
	CHECK_STR(cJSON_GetObjectItem(c, "node")->valuestring, "c");
	CHECK_STR(cJSON_GetObjectItem(c, "role")->valuestring, "follower");
	CHECK_STR(cJSON_GetObjectItem(c, "leader")->valuestring, "a");
	CHECK_STR(cJSON_GetObjectItem(c, "leader_host")->valuestring, "10.0.0.1");
	CHECK(cJSON_GetObjectItem(c, "followers") == NULL);
	cJSON_Delete(o);
	free(out);
	/* not a 200 with a length and a JSON object: passed as is */
	CHECK_EQ_INT(rewrite("HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}", &out), -1);
	free(out);
	CHECK_EQ_INT(rewrite("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", &out), -1);
	free(out);
	CHECK_EQ_INT(rewrite("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{}", &out), -1);
	free(out);
	CHECK_EQ_INT(rewrite("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}", &out),
		     -1);
	free(out);
}

static void
test_http_unavailable(void)
{
	struct evbuffer *o = evbuffer_new();
	size_t n;
	char *s;
	cJSON *j, *c;

	cl_front_http_unavailable(o, "b", "no leader is known (election under way)");
	n = evbuffer_get_length(o);
	s = calloc(1, n + 1);
	evbuffer_remove(o, s, n);
	CHECK(strncmp(s, "HTTP/1.1 503 ", 13) == 0);
	j = cJSON_Parse(strstr(s, "\r\n\r\n") + 4);
	CHECK_STR(cJSON_GetObjectItem(j, "reason")->valuestring,
		  "no leader is known (election under way)");
	c = cJSON_GetObjectItem(j, "cluster");
	CHECK_STR(cJSON_GetObjectItem(c, "role")->valuestring, "follower");
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(c, "leader")));
	cJSON_Delete(j);
	free(s);
	evbuffer_free(o);
}

/* The answer to the first len bytes of connect: the return, and what
 * went out in *out (up to 64 bytes). */
static int
mqtt_refused(const uint8_t *connect, size_t len, uint8_t *out, size_t *outlen)
{
	struct evbuffer *in = evbuffer_new(), *o = evbuffer_new();
	int rc;

	evbuffer_add(in, connect, len);
	rc = cl_front_mqtt_refuse(in, o, "why");
	*outlen = evbuffer_get_length(o);
	evbuffer_remove(o, out, 64);
	CHECK_EQ_INT((int)evbuffer_get_length(in), (int)len);        /* not consumed */
	evbuffer_free(in);
	evbuffer_free(o);
	return rc;
}

static void
test_mqtt_refuse(void)
{
	static const uint8_t v311[] = { 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60,
					0, 4, 'm', 'q', 't', 't' };
	static const uint8_t v31[] = { 0x10, 0x12, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2 };
	static const uint8_t v5[] = { 0x10, 0xff, 0x01, 0, 4, 'M', 'Q', 'T', 'T', 5, 2 };
	static const uint8_t v5_ack[] = { 0x20, 9, 0, 0x88, 6, 0x1f, 0, 3, 'w', 'h', 'y' };
	static const uint8_t bad_name[] = { 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'X', 4 };
	static const uint8_t bad_level[] = { 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 6 };
	static const uint8_t zero_level[] = { 0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 0 };
	static const uint8_t long_len[] = { 0x10, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 4 };
	uint8_t out[64];
	size_t n;

	/* every prefix of a CONNECT up to its level asks for more */
	for (size_t len = 0; len < 9; len++) {
		CHECK_EQ_INT(mqtt_refused(v311, len, out, &n), 0);
		CHECK_EQ_INT((int)n, 0);
	}
	CHECK_EQ_INT(mqtt_refused(v311, sizeof(v311), out, &n), 1);
	CHECK(n == 4 && memcmp(out, "\x20\x02\x00\x03", 4) == 0);
	CHECK_EQ_INT(mqtt_refused(v31, sizeof(v31), out, &n), 1);
	CHECK(n == 4 && memcmp(out, "\x20\x02\x00\x03", 4) == 0);
	CHECK_EQ_INT(mqtt_refused(v5, 9, out, &n), 0);    /* two length bytes */
	CHECK_EQ_INT(mqtt_refused(v5, sizeof(v5), out, &n), 1);
	CHECK(n == sizeof(v5_ack) && memcmp(out, v5_ack, n) == 0);
	/* not a CONNECT of 3.1, 3.1.1 or 5.0: nothing */
	CHECK_EQ_INT(mqtt_refused((const uint8_t *)"AMQP\0\0\x09\x01", 8, out, &n), -1);
	CHECK_EQ_INT(mqtt_refused(bad_name, sizeof(bad_name), out, &n), -1);
	CHECK_EQ_INT(mqtt_refused(bad_level, sizeof(bad_level), out, &n), -1);
	/* decided at its level byte: "more" would hold whatever follows */
	CHECK_EQ_INT(mqtt_refused(zero_level, sizeof(zero_level), out, &n), -1);
	CHECK_EQ_INT(mqtt_refused(long_len, sizeof(long_len), out, &n), -1);
	CHECK_EQ_INT((int)n, 0);
}

int
main(void)
{
	net_global_init();
	RUN(test_advert_round_trip);
	RUN(test_http_head);
	RUN(test_http_rewrite);
	RUN(test_http_unavailable);
	RUN(test_mqtt_refuse);
	TEST_DONE();
}
