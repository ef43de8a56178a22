/* Large bodies over a small negotiated frame_max (4096): publish, basic.get
 * and consume a body that spans many frames, and check that every body frame
 * the broker sends fits the negotiated size. */
#include "rmqc_util.h"

#define BODY_LEN (100 * 1024 + 123)

static void check_body(amqp_bytes_t got, const unsigned char *want) {
  CHECK(got.len == BODY_LEN, "body length %zu", got.len);
  CHECK(memcmp(got.bytes, want, BODY_LEN) == 0, "body content differs");
}

/* Read one message by hand: method already consumed; header + body frames. */
static void read_frames(amqp_connection_state_t conn, const unsigned char *want) {
  amqp_frame_t f;
  CHECK(amqp_simple_wait_frame(conn, &f) == AMQP_STATUS_OK, "header frame");
  CHECK(f.frame_type == AMQP_FRAME_HEADER, "expected header, got %u", f.frame_type);
  CHECK(f.payload.properties.body_size == BODY_LEN, "body size %llu",
        (unsigned long long)f.payload.properties.body_size);
  size_t got = 0;
  int frames = 0;
  while (got < BODY_LEN) {
    CHECK(amqp_simple_wait_frame(conn, &f) == AMQP_STATUS_OK, "body frame");
    CHECK(f.frame_type == AMQP_FRAME_BODY, "expected body, got %u", f.frame_type);
    size_t n = f.payload.body_fragment.len;
    CHECK(n > 0 && n <= 4096 - 8, "body frame of %zu bytes exceeds frame_max", n);
    CHECK(got + n <= BODY_LEN, "too much body");
    CHECK(memcmp(f.payload.body_fragment.bytes, want + got, n) == 0, "fragment at %zu", got);
    got += n;
    frames++;
  }
  CHECK(frames >= BODY_LEN / 4088, "only %d body frames", frames);
}

int main(int argc, char **argv) {
  const char *host;
  int port;
  char qbuf[128];
  rmqc_args(argc, argv, &host, &port);
  amqp_connection_state_t conn = rmqc_connect(host, port, 4096);
  CHECK(amqp_get_frame_max(conn) == 4096, "negotiated frame_max %d",
        amqp_get_frame_max(conn));
  rmqc_open_channel(conn, 1);
  amqp_bytes_t q = rmqc_name("rmqc-frames", qbuf, sizeof qbuf);
  amqp_queue_declare(conn, 1, q, 0, 0, 0, 1, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare");

  static unsigned char body[BODY_LEN];
  for (size_t i = 0; i < BODY_LEN; i++)
    body[i] = (unsigned char)((i * 7 + i / 251) & 0xff);
  amqp_bytes_t b = {BODY_LEN, body};
  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.content_type = amqp_cstring_bytes("application/octet-stream");
  for (int i = 0; i < 3; i++)
    CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, &props, b), "publish");

  /* 1: basic.get read by the library */
  amqp_rpc_reply_t r = amqp_basic_get(conn, 1, q, 1);
  CHECK_REPLY(r, "basic.get");
  CHECK(r.reply.id == AMQP_BASIC_GET_OK_METHOD, "get-ok");
  amqp_message_t msg;
  CHECK_REPLY(amqp_read_message(conn, 1, &msg, 0), "read message");
  check_body(msg.body, body);
  CHECK(rmqc_bytes_is(msg.properties.content_type, "application/octet-stream"), "ctype");
  amqp_destroy_message(&msg);
  printf("get ok\n");

  /* 2: basic.get with the frames read one by one */
  r = amqp_basic_get(conn, 1, q, 1);
  CHECK_REPLY(r, "basic.get 2");
  CHECK(r.reply.id == AMQP_BASIC_GET_OK_METHOD, "get-ok 2");
  read_frames(conn, body);
  printf("frames ok\n");

  /* 3: consume */
  amqp_basic_consume(conn, 1, q, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "basic.consume");
  amqp_envelope_t env;
  struct timeval tv = {5, 0};
  CHECK_REPLY(amqp_consume_message(conn, &env, &tv, 0), "consume");
  check_body(env.message.body, body);
  amqp_destroy_envelope(&env);
  printf("consume ok\n");

  rmqc_close(conn);
  printf("OK frames\n");
  return 0;
}
