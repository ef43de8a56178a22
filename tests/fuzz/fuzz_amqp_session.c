/*
 * fuzz_amqp_session.c: libFuzzer target for a whole AMQP 0-9-1 connection
 * as a stateful sequence: framing, channels, every method's handler, and
 * content assembly (basic.publish, content header, body frames, in any
 * order and split any way) against the real core.
 *
 * Each input runs on a fresh broker and listener (fuzz_net.c). The harness
 * logs in (protocol header, start-ok PLAIN guest/guest, tune-ok with
 * frame_max 4096 and channel_max 8, connection.open "/", channel.open 1
 * to 3) and then sends the input as it is: a stream of frames the fuzzer
 * writes (the corpus, corpus/amqp_session/, starts it off with publishes,
 * confirms, transactions, consumers, gets, acks and topology). Small
 * limits (max message 1 MiB, 1 MiB of incomplete content, frame_max
 * 4096) let inputs reach every limit. ASan, UBSan and LeakSanitizer watch
 * the broker; an assertion in the broker aborts.
 */
#include <stdint.h>
#include <string.h>

#include "amqp091.h"
#include "bk_admin.h"
#include "fuzz_net.h"
#include "net.h"

static size_t
frame(uint8_t *p, uint8_t type, uint16_t ch, const void *payload, uint32_t n)
{
	p[0] = type;
	p[1] = (uint8_t)(ch >> 8);
	p[2] = (uint8_t)ch;
	p[3] = (uint8_t)(n >> 24);
	p[4] = (uint8_t)(n >> 16);
	p[5] = (uint8_t)(n >> 8);
	p[6] = (uint8_t)n;
	memcpy(p + 7, payload, n);
	p[7 + n] = 0xCE;
	return 8 + n;
}

/* The login and three open channels, built once. */
static size_t
handshake(uint8_t *out)
{
	static const uint8_t start_ok[] =
		"\x00\x0a\x00\x0b"              /* connection.start-ok */
		"\x00\x00\x00\x00"              /* client-properties: {} */
		"\x05PLAIN"
		"\x00\x00\x00\x0c\x00guest\x00guest"
		"\x05" "en_US";              /* split: "\x05e" would be one escape */
	static const uint8_t tune_ok[] =
		"\x00\x0a\x00\x1f\x00\x08\x00\x00\x10\x00\x00\x00";
	static const uint8_t open[] = "\x00\x0a\x00\x28\x01/\x00\x00";
	static const uint8_t ch_open[] = "\x00\x14\x00\x0a\x00";
	size_t n = 0;

	memcpy(out, "AMQP\x00\x00\x09\x01", 8);
	n += 8;
	n += frame(out + n, 1, 0, start_ok, sizeof(start_ok) - 1);
	n += frame(out + n, 1, 0, tune_ok, sizeof(tune_ok) - 1);
	n += frame(out + n, 1, 0, open, sizeof(open) - 1);
	for (uint16_t ch = 1; ch <= 3; ch++)
		n += frame(out + n, 1, ch, ch_open, sizeof(ch_open) - 1);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t head[256];
	static size_t hlen;
	struct bk_broker *b = fuzz_net_broker();
	struct amqp_listener *l;
	struct amqp_config cfg;
	struct net *n;
	int port;

	if (hlen == 0)
		hlen = handshake(head);
	amqp_config_defaults(&cfg);
	cfg.port = 0;
	cfg.channel_max = 8;
	cfg.max_message_size = 1u << 20;
	cfg.max_inflight_content = 1u << 20;
	cfg.content_timeout_ms = 0;
	cfg.heartbeat = 0;
	l = amqp_listener_new(fuzz_net_base(), b, &cfg);
	n = fuzz_net_new(b);
	if ((port = fuzz_net_listen(n, "amqp", &amqp_net_ops, l)) > 0)
		fuzz_net_exchange(port, head, hlen, data, size);
	net_free(n);
	amqp_listener_free(l);
	fuzz_net_broker_free(b);
	return 0;
}
