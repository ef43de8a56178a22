/*
 * cl_front_mqtt.c: what a follower tells an MQTT client of its plain
 * listener that it cannot proxy (no leader known, the leader's MQTT
 * listener unreachable; cl_front.c): a CONNACK "server unavailable",
 * the code MQTT defines for a network connection made to a server whose
 * MQTT service is unavailable, in the client's protocol version, read
 * from the start of its CONNECT:
 *
 *   0x10 | remaining length (1-4 bytes) | name_len u16 | "MQTT" or
 *   "MQIsdp" | level u8 (3: 3.1, 4: 3.1.1, 5: 5.0) | ...
 *
 *   3.1, 3.1.1: 0x20 0x02 | flags 0 | return code 3
 *   5.0:        0x20 len  | flags 0 | reason 0x88 | properties:
 *               Reason String (0x1F) with why
 *
 * Anything else (not a CONNECT, another level) is closed unanswered.
 */
#include <string.h>

#include "cl_int.h"

#define V3_SERVER_UNAVAILABLE 3
#define V5_SERVER_UNAVAILABLE 0x88
#define V5_REASON_STRING 0x1F
#define WHY_MAX 100                     /* keeps every length one byte */

/* The protocol level of the CONNECT at the start of b[0..len): 3, 4 or
 * 5; 0 if more bytes are needed; -1 if it is not one. A level byte of 0
 * is -1 too, not "more": the caller would wait, holding all the client
 * sends, for bytes that never change the answer. */
static int
connect_level(const uint8_t *b, size_t len)
{
	size_t off = 1, nl;

	if (len < 1)
		return 0;
	if (b[0] != 0x10)
		return -1;
	for (int i = 0;; i++) {         /* remaining length: skipped */
		if (off >= len)
			return 0;
		if (i == 4)
			return -1;
		if ((b[off++] & 0x80) == 0)
			break;
	}
	if (off + 2 > len)
		return 0;
	nl = (size_t)b[off] << 8 | b[off + 1];
	if (nl != 4 && nl != 6)
		return -1;
	if (off + 2 + nl + 1 > len)
		return 0;
	if (memcmp(b + off + 2, nl == 4 ? "MQTT" : "MQIsdp", nl) != 0)
		return -1;
	return b[off + 2 + nl] != 0 ? b[off + 2 + nl] : -1;
}

int
cl_front_mqtt_refuse(struct evbuffer *in, struct evbuffer *out, const char *why)
{
	uint8_t b[16], ack[8 + WHY_MAX];
	ev_ssize_t got = evbuffer_copyout(in, b, sizeof(b));
	size_t wl = strlen(why) < WHY_MAX ? strlen(why) : WHY_MAX;
	int level = connect_level(b, got > 0 ? (size_t)got : 0);

	if (level == 0)
		return 0;
	if (level == 3 || level == 4) {
		evbuffer_add(out, (uint8_t[]){ 0x20, 0x02, 0x00, V3_SERVER_UNAVAILABLE }, 4);
		return 1;
	}
	if (level != 5)
		return -1;
	ack[0] = 0x20;
	ack[1] = (uint8_t)(2 + 1 + 3 + wl);     /* flags, reason, properties */
	ack[2] = 0x00;
	ack[3] = V5_SERVER_UNAVAILABLE;
	ack[4] = (uint8_t)(3 + wl);             /* properties length */
	ack[5] = V5_REASON_STRING;
	cl_put_u16(ack + 6, (uint16_t)wl);
	memcpy(ack + 8, why, wl);
	evbuffer_add(out, ack, 8 + wl);
	return 1;
}
