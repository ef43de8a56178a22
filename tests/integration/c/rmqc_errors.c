/* Channel and connection errors as rabbitmq-c sees them: each case prints
 *   ERR <case> <code> <class>.<method> <reply text>
 * after checking code and ids, then reopens the channel and carries on. */
#include "rmqc_util.h"

static amqp_connection_state_t conn;

static void print_close(const char *name, amqp_channel_close_t *c) {
  printf("ERR %s %u %u.%u %.*s\n", name, c->reply_code, c->class_id, c->method_id,
         (int)c->reply_text.len, (const char *)c->reply_text.bytes);
  fflush(stdout);
}

/* After a synchronous call that should have failed with channel.close. */
static void expect_rpc_close(const char *name, amqp_channel_t ch, uint16_t code,
                             uint16_t class_id, uint16_t method_id) {
  amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "%s: %s", name, rmqc_reply_str(r));
  CHECK(r.reply.id == AMQP_CHANNEL_CLOSE_METHOD, "%s: %s", name, rmqc_reply_str(r));
  amqp_channel_close_t *c = r.reply.decoded;
  print_close(name, c);
  CHECK(c->reply_code == code && c->class_id == class_id && c->method_id == method_id,
        "%s: %s", name, rmqc_reply_str(r));
  amqp_channel_close_ok_t close_ok;
  CHECK_OK(amqp_send_method(conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "close-ok");
  amqp_maybe_release_buffers(conn);
  rmqc_open_channel(conn, ch); /* the channel number is usable again */
}

/* After an asynchronous method (publish, ack) that should close the channel. */
static void expect_async_close(const char *name, amqp_channel_t ch, uint16_t code,
                               uint16_t class_id, uint16_t method_id) {
  amqp_frame_t f;
  struct timeval tv = {5, 0};
  for (;;) {
    int st = amqp_simple_wait_frame_noblock(conn, &f, &tv);
    CHECK(st == AMQP_STATUS_OK, "%s: waiting for channel.close: %s", name,
          amqp_error_string2(st));
    if (f.frame_type == AMQP_FRAME_METHOD)
      break;
  }
  CHECK(f.channel == ch, "%s: close on channel %u", name, f.channel);
  CHECK(f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD, "%s: got method %#x", name,
        f.payload.method.id);
  amqp_channel_close_t *c = f.payload.method.decoded;
  print_close(name, c);
  CHECK(c->reply_code == code && c->class_id == class_id && c->method_id == method_id,
        "%s: %u %u.%u", name, c->reply_code, c->class_id, c->method_id);
  amqp_channel_close_ok_t close_ok;
  CHECK_OK(amqp_send_method(conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "close-ok");
  amqp_maybe_release_buffers(conn);
  rmqc_open_channel(conn, ch);
}

int main(int argc, char **argv) {
  const char *host;
  int port;
  char b1[128], b2[128], b3[128];
  rmqc_args(argc, argv, &host, &port);
  conn = rmqc_connect(host, port, 131072);
  rmqc_open_channel(conn, 1);

  amqp_bytes_t missing = rmqc_name("rmqc-missing", b1, sizeof b1);
  amqp_queue_declare(conn, 1, missing, 1, 0, 0, 0, amqp_empty_table);
  expect_rpc_close("passive_declare_missing", 1, 404, 50, 10);

  amqp_bytes_t ex = rmqc_name("rmqc-ex", b2, sizeof b2);
  amqp_exchange_declare(conn, 1, ex, amqp_cstring_bytes("direct"), 0, 0, 1, 0,
                        amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "exchange.declare");
  amqp_exchange_declare(conn, 1, ex, amqp_cstring_bytes("fanout"), 0, 0, 1, 0,
                        amqp_empty_table);
  expect_rpc_close("exchange_type_mismatch", 1, 406, 40, 10);

  amqp_exchange_declare(conn, 1, amqp_cstring_bytes("x-bogus-type-ex"),
                        amqp_cstring_bytes("no-such-type"), 0, 0, 1, 0, amqp_empty_table);
  {
    /* RabbitMQ 4.x: channel-level 406 PRECONDITION_FAILED "unknown exchange
     * type"; 3.x sent a connection-level 503 COMMAND_INVALID. Both are
     * handled here; the test script decides which it expects. */
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, "bad exchange type: %s",
          rmqc_reply_str(r));
    amqp_channel_close_t *c = r.reply.decoded; /* same layout for both closes */
    printf("ERR exchange_bad_type %u %u.%u %.*s\n", c->reply_code, c->class_id,
           c->method_id, (int)c->reply_text.len, (const char *)c->reply_text.bytes);
    CHECK(c->class_id == 40 && c->method_id == 10, "ids");
    if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      CHECK(c->reply_code == 406, "channel close code");
      amqp_channel_close_ok_t ok;
      CHECK_OK(amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), "close-ok");
      amqp_maybe_release_buffers(conn);
      rmqc_open_channel(conn, 1);
    } else {
      CHECK(r.reply.id == AMQP_CONNECTION_CLOSE_METHOD && c->reply_code == 503,
            "connection close");
      amqp_connection_close_ok_t ok;
      amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
      amqp_destroy_connection(conn);
      conn = rmqc_connect(host, port, 131072);
      rmqc_open_channel(conn, 1);
    }
  }

  CHECK_OK(amqp_basic_publish(conn, 1, amqp_cstring_bytes("rmqc-no-such-exchange"),
                              amqp_cstring_bytes("k"), 0, 0, NULL,
                              amqp_cstring_bytes("x")), "publish");
  expect_async_close("publish_missing_exchange", 1, 404, 60, 40);

  CHECK_OK(amqp_basic_ack(conn, 1, 99, 0), "ack");
  expect_async_close("ack_unknown_tag", 1, 406, 60, 80);

  amqp_bytes_t q = rmqc_name("rmqc-q", b3, sizeof b3);
  amqp_queue_declare(conn, 1, q, 0, 0, 0, 1, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare");
  amqp_queue_bind(conn, 1, q, amqp_cstring_bytes("rmqc-no-such-exchange"),
                  amqp_cstring_bytes("k"), amqp_empty_table);
  expect_rpc_close("bind_missing_exchange", 1, 404, 50, 20);

  amqp_queue_declare(conn, 1, amqp_cstring_bytes("amq.rmqc-reserved"), 0, 0, 0, 1,
                     amqp_empty_table);
  expect_rpc_close("reserved_queue_name", 1, 403, 50, 10);

  /* an exclusive queue is locked to its connection */
  amqp_queue_declare(conn, 1, q, 0, 0, 0, 1, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare again");
  amqp_queue_declare_ok_t *dok =
      amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "exclusive declare");
  amqp_bytes_t excl = amqp_bytes_malloc_dup(dok->queue);
  amqp_connection_state_t other = rmqc_connect(host, port, 131072);
  rmqc_open_channel(other, 1);
  amqp_basic_consume(other, 1, excl, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
  {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(other);
    CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
              r.reply.id == AMQP_CHANNEL_CLOSE_METHOD,
          "exclusive consume: %s", rmqc_reply_str(r));
    amqp_channel_close_t *c = r.reply.decoded;
    print_close("exclusive_other_connection", c);
    CHECK(c->reply_code == 405 && c->class_id == 60 && c->method_id == 20, "ids");
  }
  amqp_destroy_connection(other);
  amqp_bytes_free(excl);

  amqp_queue_delete(conn, 1, q, 0, 1);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.delete");
  amqp_exchange_delete(conn, 1, ex, 0);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "exchange.delete");

  /* a second channel.open on an open channel is a connection error */
  amqp_channel_open(conn, 1);
  {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(conn);
    CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
              r.reply.id == AMQP_CONNECTION_CLOSE_METHOD,
          "second channel.open: %s", rmqc_reply_str(r));
    amqp_connection_close_t *c = r.reply.decoded;
    printf("ERR channel_open_twice %u %u.%u %.*s\n", c->reply_code, c->class_id,
           c->method_id, (int)c->reply_text.len, (const char *)c->reply_text.bytes);
    CHECK(c->reply_code == 504 && c->class_id == 20 && c->method_id == 10, "ids");
    amqp_connection_close_ok_t ok;
    amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
  }
  amqp_destroy_connection(conn);
  printf("OK errors\n");
  return 0;
}
