/*
 * fuzz_net.h: driving a whole broker from a fuzz input over loopback.
 *
 * The stateful targets (fuzz_amqp_session, fuzz_mqtt_session, fuzz_http)
 * start a fresh broker and listener for each input, connect to it over
 * 127.0.0.1 exactly as a client would, write the input, close their side
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

/* The loop and clock every input shares (created once, logging off). */
struct event_base *fuzz_net_base(void);
/* A broker with user guest/guest (administrator, all permissions on "/"). */
struct bk_broker *fuzz_net_broker(void);
void fuzz_net_broker_free(struct bk_broker *b);
/*
 * Connect to 127.0.0.1:port, send head (may be NULL) then data, shut the
 * writing side and run the loop until the peer closes or nothing happens
 * for a while. Returns the bytes the broker answered (read and dropped).
 */
size_t fuzz_net_exchange(int port, const void *head, size_t hlen,
			 const uint8_t *data, size_t len);

#endif
