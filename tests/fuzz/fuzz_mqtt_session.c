/*
 * fuzz_mqtt_session.c: libFuzzer target for a whole MQTT connection as a
 * stateful sequence: the reader, CONNECT for 3.1, 3.1.1 and 5.0 (with
 * properties, wills and credentials), PUBLISH at every QoS with the
 * acknowledgement flows, retained messages, SUBSCRIBE and UNSUBSCRIBE with
 * wildcards and shared groups, topic aliases, PINGREQ and DISCONNECT,
 * against the real core.
 *
 * Each input runs on a fresh broker and MQTT listener (fuzz_net.c) and is
 * sent as it is: the fuzzer writes the packets (corpus/mqtt_session/
 * starts it off with sessions of each version). Anonymous login is on,
 * so inputs need no credentials to get past CONNECT; ones that carry
 * guest/guest log in as guest. fuzz_ws.c builds this file again with
 * FUZZ_MQTT_OVER_WS: the same over a WebSocket listener.
 */
#include <stdint.h>
#include <string.h>

#include "bk_admin.h"
#include "fuzz_net.h"
#include "mqtt.h"
#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bk_broker *b = fuzz_net_broker();
	struct mqtt_listener *l;
	struct mqtt_config cfg;
	struct net *n;
	int port;

	mqtt_config_defaults(&cfg);
	cfg.port = 0;
	cfg.allow_anonymous = true;
	cfg.max_packet_size = 1u << 20;
	cfg.sys_interval = 0;
	l = mqtt_listener_new(fuzz_net_base(), b, &cfg);
	n = fuzz_net_new(b);
#ifdef FUZZ_MQTT_OVER_WS
	port = fuzz_net_listen_ws(n, "ws", "/ws", "mqtt", &mqtt_net_ops, l);
#else
	port = fuzz_net_listen(n, "mqtt", &mqtt_net_ops, l);
#endif
	if (port > 0)
		fuzz_net_exchange(port, NULL, 0, data, size);
	net_free(n);
	mqtt_listener_free(l);
	fuzz_net_broker_free(b);
	return 0;
}
