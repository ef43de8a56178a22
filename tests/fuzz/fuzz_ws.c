/*
 * fuzz_ws.c: libFuzzer target for MQTT over WebSockets: the HTTP upgrade
 * request (request line, Upgrade, Connection, Sec-WebSocket-Version, -Key
 * and -Protocol headers), then RFC 6455 frames (masking, fragmentation,
 * ping, close, lengths of every width) carrying MQTT packets, against the
 * real transport, MQTT adapter and core.
 *
 * It is fuzz_mqtt_session.c with a WebSocket listener at /ws instead of a
 * TCP one; corpus/ws/ starts it off with a valid upgrade followed by the
 * MQTT sessions of corpus/mqtt_session/ in masked frames.
 */
#define FUZZ_MQTT_OVER_WS 1
#include "fuzz_mqtt_session.c"
