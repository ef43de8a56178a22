/*
 * fuzz_net.h: driving a whole broker from a fuzz input over loopback.
 *
 * The stateful targets (fuzz_amqp_session, fuzz_mqtt_session, fuzz_ws,
 * fuzz_http) start a fresh broker and listener for each input, connect to
 * it over 127.0.0.1 exactly as a client would, write the input, close their side
 * for writing and run the event loop until the broker closes the
 * connection or nothing moves any more; then everything is freed, so no
 * state leaks from one input to the next and LeakSanitizer sees every
 * allocation come back. The listener's own accept, reader, session and
 * core run unchanged: nothing is stubbed.
 */
#ifndef SLUICE_FUZZ_NET_H
#define SLUICE_FUZZ_NET_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct bk_broker;
struct net;
struct net_proto_ops;

/* The loop and clock every input shares (created once, logging off). */
struct event_base *fuzz_net_base(void);
/* A broker with user guest/guest (administrator, all permissions on "/"). */
struct bk_broker *fuzz_net_broker(void);
void fuzz_net_broker_free(struct bk_broker *b);
/* The transport for one input (net_free() it before the protocol's state). */
struct net *fuzz_net_new(struct bk_broker *b);
/* One TCP listener of n on 127.0.0.1 whose connections ops serve with arg:
 * the free port it got, or -1. */
int fuzz_net_listen(struct net *n, const char *name, const struct net_proto_ops *ops,
		    void *arg);
/* The same over WebSockets (the HTTP upgrade at path, subprotocol subproto). */
int fuzz_net_listen_ws(struct net *n, const char *name, const char *path,
		       const char *subproto, const struct net_proto_ops *ops, void *arg);
/*
 * Connect to 127.0.0.1:port, send head (may be NULL) then data, shut the
 * writing side and run the loop until the peer closes or nothing happens
 * for a while. Returns the bytes the broker answered (read and dropped).
 */
size_t fuzz_net_exchange(int port, const void *head, size_t hlen,
			 const uint8_t *data, size_t len);
/* Close a socket of the harness with a reset (no TIME_WAIT left behind). */
void fuzz_net_close(int fd);
/*
 * The same, with a head made once the connection is accepted (one loop
 * turn after connecting): head_fn writes at most cap bytes to buf and
 * returns how many (a handshake that answers what the server sent first).
 */
#define FUZZ_NET_HEAD_MAX 4096
typedef size_t (*fuzz_net_head_fn)(void *arg, uint8_t *buf, size_t cap);
size_t fuzz_net_exchange_fn(int port, fuzz_net_head_fn head_fn, void *arg,
			    const uint8_t *data, size_t len);

#endif
