/* Small checking helpers shared by the rabbitmq-c test programs.
 *
 * Every program takes "host port" arguments, exits 0 and prints "OK <name>"
 * when all checks pass, and exits 1 with a "FAIL file:line: ..." line on the
 * first failed check.
 */
#ifndef RMQC_UTIL_H
#define RMQC_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static inline const char *rmqc_reply_str(amqp_rpc_reply_t r) {
  static char buf[512];
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL:
    return "normal";
  case AMQP_RESPONSE_NONE:
    return "no reply";
  case AMQP_RESPONSE_LIBRARY_EXCEPTION:
    return amqp_error_string2(r.library_error);
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD ||
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      /* channel.close and connection.close share their field layout */
      amqp_channel_close_t *c = r.reply.decoded;
      snprintf(buf, sizeof buf, "server close %u '%.*s' %u.%u", c->reply_code,
               (int)c->reply_text.len, (const char *)c->reply_text.bytes,
               c->class_id, c->method_id);
      return buf;
    }
    return "server exception";
  }
  return "?";
}

#define CHECK_REPLY(r, what)                                               \
  CHECK((r).reply_type == AMQP_RESPONSE_NORMAL, "%s: %s", what,            \
        rmqc_reply_str(r))

#define CHECK_OK(status, what)                                             \
  CHECK((status) == AMQP_STATUS_OK, "%s: %s", what,                        \
        amqp_error_string2(status))

static inline int rmqc_bytes_is(amqp_bytes_t b, const char *s) {
  size_t n = strlen(s);
  return b.len == n && (n == 0 || memcmp(b.bytes, s, n) == 0);
}

static inline amqp_connection_state_t rmqc_connect(const char *host, int port,
                                                   int frame_max) {
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *sock = amqp_tcp_socket_new(conn);
  CHECK(sock != NULL, "socket");
  CHECK_OK(amqp_socket_open(sock, host, port), "socket open");
  amqp_rpc_reply_t r = amqp_login(conn, "/", 0, frame_max, 0,
                                  AMQP_SASL_METHOD_PLAIN, "guest", "guest");
  CHECK_REPLY(r, "login");
  return conn;
}

static inline void rmqc_open_channel(amqp_connection_state_t conn,
                                     amqp_channel_t ch) {
  amqp_channel_open(conn, ch);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "channel.open");
}

static inline void rmqc_close(amqp_connection_state_t conn) {
  CHECK_REPLY(amqp_connection_close(conn, AMQP_REPLY_SUCCESS), "connection.close");
  amqp_destroy_connection(conn);
}

/* A unique name: prefix plus pid and time, for brokers that keep state. */
static inline amqp_bytes_t rmqc_name(const char *prefix, char *buf, size_t len) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  snprintf(buf, len, "%s-%ld-%ld%06ld", prefix, (long)getpid(), (long)tv.tv_sec,
           (long)tv.tv_usec);
  return amqp_cstring_bytes(buf);
}

static inline void rmqc_args(int argc, char **argv, const char **host, int *port) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s host port\n", argv[0]);
    exit(2);
  }
  *host = argv[1];
  *port = atoi(argv[2]);
}

#endif
