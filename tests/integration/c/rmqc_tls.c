/* rabbitmq-c over TLS: rmqc_tls host port cacert [cert key]
 *
 * Connects with amqp_ssl_socket (peer and host name verified against
 * cacert), logs in with PLAIN as alice/secret, or with EXTERNAL when a
 * client certificate is given, then declares a queue, publishes, gets the
 * message back and closes. Prints "OK tls" on success.
 */
#include "rmqc_util.h"

#include <amqp_ssl_socket.h>

int main(int argc, char **argv) {
  const char *host, *cacert, *cert = NULL, *key = NULL;
  char qbuf[96];
  int port;

  rmqc_args(argc, argv, &host, &port);
  CHECK(argc >= 4, "usage: host port cacert [cert key]");
  cacert = argv[3];
  if (argc >= 6) {
    cert = argv[4];
    key = argv[5];
  }
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t *sock = amqp_ssl_socket_new(conn);
  CHECK(sock != NULL, "ssl socket");
  amqp_ssl_socket_set_verify_peer(sock, 1);
  amqp_ssl_socket_set_verify_hostname(sock, 1);
  CHECK_OK(amqp_ssl_socket_set_cacert(sock, cacert), "cacert");
  if (cert)
    CHECK_OK(amqp_ssl_socket_set_key(sock, cert, key), "client key");
  CHECK_OK(amqp_socket_open(sock, host, port), "socket open");
  amqp_rpc_reply_t r =
      cert ? amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "alice")
           : amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "alice", "secret");
  CHECK_REPLY(r, "login");
  rmqc_open_channel(conn, 1);
  amqp_bytes_t q = rmqc_name("rmqc-tls", qbuf, sizeof qbuf);
  amqp_queue_declare(conn, 1, q, 0, 0, 0, 1, amqp_empty_table);
  CHECK_REPLY(amqp_get_rpc_reply(conn), "queue.declare");
  CHECK_OK(amqp_basic_publish(conn, 1, amqp_empty_bytes, q, 0, 0, NULL,
                              amqp_cstring_bytes("over tls")), "publish");
  r = amqp_basic_get(conn, 1, q, 1);
  CHECK_REPLY(r, "basic.get");
  CHECK(r.reply.id == AMQP_BASIC_GET_OK_METHOD, "basic.get-empty");
  amqp_message_t msg;
  CHECK_REPLY(amqp_read_message(conn, 1, &msg, 0), "read message");
  CHECK(rmqc_bytes_is(msg.body, "over tls"), "body '%.*s'", (int)msg.body.len,
        (char *)msg.body.bytes);
  amqp_destroy_message(&msg);
  rmqc_close(conn);
  printf("OK tls\n");
  return 0;
}
