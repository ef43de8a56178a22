/* rabbitmq-c end to end: declare, publish with every property, basic.get,
 * consume with prefetch, ack, reject + requeue, confirms with basic.return,
 * purge and delete, checking every reply field. */
#include "rmqc_util.h"

static amqp_basic_properties_t full_props(amqp_table_entry_t *entries,
                                          amqp_table_entry_t *inner,
                                          amqp_field_value_t *array) {
  amqp_basic_properties_t p;
  memset(&p, 0, sizeof p);
  inner[0].key = amqp_cstring_bytes("depth");
  inner[0].value.kind = AMQP_FIELD_KIND_I32;
  inner[0].value.value.i32 = 2;
  array[0].kind = AMQP_FIELD_KIND_UTF8;
  array[0].value.bytes = amqp_cstring_bytes("a");
  array[1].kind = AMQP_FIELD_KIND_UTF8;
  array[1].value.bytes = amqp_cstring_bytes("b");

  entries[0].key = amqp_cstring_bytes("x-str");
  entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[0].value.value.bytes = amqp_cstring_bytes("hello");
  entries[1].key = amqp_cstring_bytes("x-i32");
  entries[1].value.kind = AMQP_FIELD_KIND_I32;
  entries[1].value.value.i32 = -42;
  entries[2].key = amqp_cstring_bytes("x-i64");
  entries[2].value.kind = AMQP_FIELD_KIND_I64;
  entries[2].value.value.i64 = 1LL << 40;
  entries[3].key = amqp_cstring_bytes("x-bool");
  entries[3].value.kind = AMQP_FIELD_KIND_BOOLEAN;
  entries[3].value.value.boolean = 1;
  entries[4].key = amqp_cstring_bytes("x-table");
  entries[4].value.kind = AMQP_FIELD_KIND_TABLE;
  entries[4].value.value.table.num_entries = 1;
  entries[4].value.value.table.entries = inner;
  entries[5].key = amqp_cstring_bytes("x-array");
  entries[5].value.kind = AMQP_FIELD_KIND_ARRAY;
  entries[5].value.value.array.num_entries = 2;
  entries[5].value.value.array.entries = array;
  entries[6].key = amqp_cstring_bytes("x-double");
  entries[6].value.kind = AMQP_FIELD_KIND_F64;
  entries[6].value.value.f64 = 2.5;

  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
             AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
             AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
             AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
             AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
             AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG;
  p.content_type = amqp_cstring_bytes("text/plain");
  p.content_encoding = amqp_cstring_bytes("identity");
  p.headers.num_entries = 7;
  p.headers.entries = entries;
  p.delivery_mode = 2;
  p.priority = 3;
  p.correlation_id = amqp_cstring_bytes("corr-1");
  p.reply_to = amqp_cstring_bytes("replies");
  p.message_id = amqp_cstring_bytes("msg-1");
  p.timestamp = 1700000000;
  p.type = amqp_cstring_bytes("greeting");
  p.user_id = amqp_cstring_bytes("guest"); /* must match the login user */
  p.app_id = amqp_cstring_bytes("rmqc");
  return p;
}

static amqp_field_value_t *header(amqp_table_t *t, const char *key) {
  for (int i = 0; i < t->num_entries; i++)
    if (rmqc_bytes_is(t->entries[i].key, key))
      return &t->entries[i].value;
  return NULL;
}

static void check_props(amqp_basic_properties_t *p) {
  CHECK(p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG, "content type missing");
  CHECK(rmqc_bytes_is(p->content_type, "text/plain"), "content type");
  CHECK(rmqc_bytes_is(p->content_encoding, "identity"), "content encoding");
  CHECK(p->delivery_mode == 2, "delivery mode %u", p->delivery_mode);
  CHECK(p->priority == 3, "priority %u", p->priority);
  CHECK(rmqc_bytes_is(p->correlation_id, "corr-1"), "correlation id");
  CHECK(rmqc_bytes_is(p->reply_to, "replies"), "reply to");
  CHECK(rmqc_bytes_is(p->message_id, "msg-1"), "message id");
  CHECK(p->timestamp == 1700000000, "timestamp %llu", (unsigned long long)p->timestamp);
  CHECK(rmqc_bytes_is(p->type, "greeting"), "type");
  CHECK(rmqc_bytes_is(p->user_id, "guest"), "user id");
  CHECK(rmqc_bytes_is(p->app_id, "rmqc"), "app id");
  CHECK(!(p->_flags & AMQP_BASIC_EXPIRATION_FLAG), "expiration appeared");
  CHECK(p->_flags & AMQP_BASIC_HEADERS_FLAG, "headers missing");

  amqp_field_value_t *v;
  v = header(&p->headers, "x-str");
  CHECK(v && v->kind == AMQP_FIELD_KIND_UTF8 && rmqc_bytes_is(v->value.bytes, "hello"),
        "x-str");
  v = header(&p->headers, "x-i32");
  CHECK(v && v->kind == AMQP_FIELD_KIND_I32 && v->value.i32 == -42, "x-i32 kind %d",
        v ? v->kind : -1);
  v = header(&p->headers, "x-i64");
  CHECK(v && v->kind == AMQP_FIELD_KIND_I64 && v->value.i64 == 1LL << 40, "x-i64");
  v = header(&p->headers, "x-bool");
  CHECK(v && v->kind == AMQP_FIELD_KIND_BOOLEAN && v->value.boolean, "x-bool");
  v = header(&p->headers, "x-double");
  CHECK(v && v->kind == AMQP_FIELD_KIND_F64 && v->value.f64 == 2.5, "x-double");
  v = header(&p->headers, "x-table");
  CHECK(v && v->kind == AMQP_FIELD_KIND_TABLE && v->value.table.num_entries == 1, "x-table");
  amqp_field_value_t *d = header(&v->value.table, "depth");
  CHECK(d && d->kind == AMQP_FIELD_KIND_I32 && d->value.i32 == 2, "x-table.depth");
  v = header(&p->headers, "x-array");
  CHECK(v && v->kind == AMQP_FIELD_KIND_ARRAY && v->value.array.num_entries == 2, "x-array");
  CHECK(rmqc_bytes_is(v->value.array.entries[1].value.bytes, "b"), "x-array[1]");
}

static void get_full(amqp_connection_state_t conn, amqp_bytes_t q) {
  amqp_rpc_reply_t r = amqp_basic_get(conn, 1, q, 0);
  CHECK_REPLY(r, "basic.get");
  CHECK(r.reply.id == AMQP_BASIC_GET_OK_METHOD, "expected get-ok, got %#x", r.reply.id);
  amqp_basic_get_ok_t *ok = r.reply.decoded;
  CHECK(ok->delivery_tag == 1, "delivery tag %llu", (unsigned long long)ok->delivery_tag);
  CHECK(!ok->redelivered, "redelivered");
  CHECK(rmqc_bytes_is(ok->exchange, ""), "exchange");
  CHECK(ok->routing_key.len == q.len && !memcmp(ok->routing_key.bytes, q.bytes, q.len),
        "routing key");
  CHECK(ok->message_count == 0, "message count %u", ok->message_count);
  amqp_message_t msg;
  CHECK_REPLY(amqp_read_message(conn, 1, &msg, 0), "read message");
  CHECK(rmqc_bytes_is(msg.body, "full properties"), "body");
  check_props(&msg.properties);
  amqp_destroy_message(&msg);
  CHECK_OK(amqp_basic_ack(conn, 1, 1, 0), "ack");

  r = amqp_basic_get(conn, 1, q, 0);
  CHECK_REPLY(r, "basic.get empty");
  CHECK(r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD, "expected get-empty");
}

static void consume_with_prefetch(amqp_connection_state_t conn, amqp_bytes_t q) {
  char body[32];
  for (int i = 0; i < 10; i++) {
    snprintf(body, sizeof body, "msg %d", i);
    CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, NULL,
                                amqp_cstring_bytes(body)), "publish");
  }
  amqp_basic_qos(conn, 1, 0, 1, 0); /* one in flight: a requeued message is next */
  CHECK_REPLY(amqp_get_rpc_reply(conn), "basic.qos");
  amqp_basic_consume_ok_t *cok = amqp_basic_consume(
      conn, 1, q, amqp_cstring_bytes("rmqc-ctag"), 0, 0, 0, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "basic.consume");
  CHECK(rmqc_bytes_is(cok->consumer_tag, "rmqc-ctag"), "consumer tag");

  struct timeval tv = {5, 0};
  int rejected = 0;
  for (int i = 0; i < 10; i++) {
    amqp_envelope_t env;
    amqp_maybe_release_buffers(conn);
    CHECK_REPLY(amqp_consume_message(conn, &env, &tv, 0), "consume message");
    CHECK(rmqc_bytes_is(env.consumer_tag, "rmqc-ctag"), "deliver consumer tag");
    snprintf(body, sizeof body, "msg %d", i);
    if (i == 4 && !rejected) {
      /* first time round: reject with requeue; it comes back redelivered,
       * ahead of the messages not yet delivered */
      CHECK(rmqc_bytes_is(env.message.body, body), "body %d", i);
      CHECK(!env.redelivered, "first delivery flagged redelivered");
      CHECK_OK(amqp_basic_reject(conn, 1, env.delivery_tag, 1), "reject");
      rejected = 1;
      i--;
    } else {
      CHECK(rmqc_bytes_is(env.message.body, body), "body %d: got '%.*s'", i,
            (int)env.message.body.len, (char *)env.message.body.bytes);
      CHECK(env.redelivered == (i == 4), "redelivered flag at %d", i);
      CHECK_OK(amqp_basic_ack(conn, 1, env.delivery_tag, 0), "ack");
    }
    amqp_destroy_envelope(&env);
  }
  amqp_basic_cancel(conn, 1, amqp_cstring_bytes("rmqc-ctag"));
  CHECK_REPLY(amqp_get_rpc_reply(conn), "basic.cancel");
}

/* confirm.select; an unroutable mandatory publish gets basic.return then
 * basic.ack; routable ones get basic.ack with increasing tags. */
static void confirms_and_return(amqp_connection_state_t conn, amqp_bytes_t q) {
  amqp_confirm_select(conn, 2);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "confirm.select");
  CHECK_OK(amqp_basic_publish(conn, 2, amqp_empty_bytes,
                              amqp_cstring_bytes("no-such-queue-rmqc"), 1, 0, NULL,
                              amqp_cstring_bytes("bounce")), "publish mandatory");
  CHECK_OK(amqp_basic_publish(conn, 2, amqp_empty_bytes, q, 1, 0, NULL,
                              amqp_cstring_bytes("lands")), "publish routable");

  amqp_frame_t f;
  struct timeval tv = {5, 0};
  CHECK(amqp_simple_wait_frame_noblock(conn, &f, &tv) == AMQP_STATUS_OK, "wait return");
  CHECK(f.frame_type == AMQP_FRAME_METHOD && f.channel == 2, "frame type");
  CHECK(f.payload.method.id == AMQP_BASIC_RETURN_METHOD, "expected basic.return, got %#x",
        f.payload.method.id);
  amqp_basic_return_t *ret = f.payload.method.decoded;
  CHECK(ret->reply_code == 312, "return code %u", ret->reply_code);
  CHECK(rmqc_bytes_is(ret->reply_text, "NO_ROUTE"), "return text");
  CHECK(rmqc_bytes_is(ret->routing_key, "no-such-queue-rmqc"), "return key");
  amqp_message_t msg;
  CHECK_REPLY(amqp_read_message(conn, 2, &msg, 0), "returned message");
  CHECK(rmqc_bytes_is(msg.body, "bounce"), "returned body");
  amqp_destroy_message(&msg);

  uint64_t acked = 0;
  while (acked < 2) {
    CHECK(amqp_simple_wait_frame_noblock(conn, &f, &tv) == AMQP_STATUS_OK, "wait ack");
    CHECK(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD,
          "expected basic.ack, got %#x", f.payload.method.id);
    amqp_basic_ack_t *ack = f.payload.method.decoded;
    CHECK(ack->delivery_tag > acked && ack->delivery_tag <= 2, "ack tag");
    CHECK(ack->multiple || ack->delivery_tag == acked + 1, "ack skipped a tag");
    acked = ack->delivery_tag;
  }
  CHECK_REPLY(amqp_channel_close(conn, 2, AMQP_REPLY_SUCCESS), "channel.close 2");
}

int main(int argc, char **argv) {
  const char *host;
  int port;
  char qbuf[128];
  rmqc_args(argc, argv, &host, &port);
  amqp_connection_state_t conn = rmqc_connect(host, port, 131072);
  rmqc_open_channel(conn, 1);
  rmqc_open_channel(conn, 2);

  amqp_bytes_t q = rmqc_name("rmqc-basic", qbuf, sizeof qbuf);
  amqp_queue_declare_ok_t *dok = amqp_queue_declare(conn, 1, q, 0, 0, 1, 0, amqp_empty_table); /* exclusive: survives basic.cancel */
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare");
  CHECK(dok->queue.len == q.len && !memcmp(dok->queue.bytes, q.bytes, q.len), "queue name");
  CHECK(dok->message_count == 0 && dok->consumer_count == 0, "fresh queue counts");

  amqp_table_entry_t entries[7], inner[1];
  amqp_field_value_t array[2];
  amqp_basic_properties_t props = full_props(entries, inner, array);
  CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, &props,
                              amqp_cstring_bytes("full properties")), "publish");
  /* publishing is asynchronous: the count may lag for a moment */
  for (int i = 0; i < 200; i++) {
    dok = amqp_queue_declare(conn, 1, q, 1, 0, 0, 0, amqp_empty_table);
    CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare passive");
    if (dok->message_count == 1)
      break;
    usleep(10000);
  }
  CHECK(dok->message_count == 1, "message count after publish: %u", dok->message_count);
  get_full(conn, q);
  printf("get ok\n");

  consume_with_prefetch(conn, q);
  printf("consume ok\n");

  confirms_and_return(conn, q);
  printf("confirms ok\n");

  for (int i = 0; i < 4; i++)
    CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, NULL,
                                amqp_cstring_bytes("to purge")), "publish");
  /* the routable message from the confirm step is still there */
  amqp_queue_purge_ok_t *pok = amqp_queue_purge(conn, 1, q);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.purge");
  CHECK(pok->message_count == 5, "purged %u", pok->message_count);
  CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, NULL,
                              amqp_cstring_bytes("left")), "publish");
  amqp_queue_delete_ok_t *delok = amqp_queue_delete(conn, 1, q, 0, 0);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.delete");
  CHECK(delok->message_count == 1, "deleted with %u", delok->message_count);
  printf("purge delete ok\n");

  CHECK_REPLY(amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS), "channel.close");
  rmqc_close(conn);
  printf("OK basic\n");
  return 0;
}
