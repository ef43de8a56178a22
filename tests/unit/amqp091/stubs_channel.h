/* stubs_channel.h: what test_channel.c sees of its fake conn and core. */
#ifndef SLUICE_STUBS_CHANNEL_H
#define SLUICE_STUBS_CHANNEL_H

#include "amqp_int.h"

#define MAX_REC 256

struct sent_rec {
	uint32_t id;
	uint64_t tag;
	bool flag;
	uint16_t code;
	char text[256];
	struct bk_msg *msg;             /* borrowed, for content methods */
	uint32_t rk_len;                /* deliver, get-ok: the routing-key's */
	int64_t hdr_rk_len;             /* header x-routing-key's length, or -1 */
	int64_t hdr_reply_len;          /* header x-reply-to-topic's, or -1 */
	int64_t reply_to_len;           /* the reply-to property's, or -1 */
	uint32_t headers_len;           /* the headers table's octets, or 0 */
	uint8_t headers[512];           /* its first octets */
};

struct settle_rec {
	uint64_t tag;
	enum bk_settle how;
};

struct fake_consumer {
	const struct bk_consumer_ops *ops;
	void *ctx;
	bool live;
	int woken;
	int first_deliver_rc;
};

extern struct sent_rec sent[MAX_REC];
extern int nsent;
extern struct settle_rec settled[MAX_REC];
extern int nsettled;
extern struct fake_consumer consumers_made[16];
extern int nconsumers;
extern int closed_code;
extern bool channel_freed;
extern bool output_full;
extern int published;
extern struct amqp_config stub_cfg;     /* what amqp_conn_config() returns */
extern bool stub_reading_paused;
extern bool stub_defs_pending;          /* durable -oks wait for stub_durable_fire */
/* The largest size bk_realloc was asked for since reset_records(): the
 * test links with --wrap=bk_realloc, so every call from the code under
 * test (the table builder included) passes through the stub. */
extern size_t realloc_max;
bool stub_durable_fire(int status);

struct bk_delivery *fake_delivery(const char *rk);
void reset_records(void);

#endif
