/*
 * amqp_channel_wire.c: what one message looks like on a channel's wire
 * (basic.deliver, basic.get-ok, basic.return) where AMQP 0-9-1 cannot
 * carry what the core holds.
 *
 * The core's routing keys and property strings are not short strings: an
 * MQTT topic (the routing key of an MQTT publish) and an MQTT Response
 * Topic (its reply_to) may have 65535 octets, and AMQP 0-9-1 writes both
 * as short strings of at most 255 [AMQP 0-9-1 §4.2.5.3]. Such a message
 * is still delivered, in well-formed frames, and nothing is cut:
 *
 *   routing key over 255 octets     routing-key "" in the method, the
 *                                   whole key in header x-routing-key
 *                                   (long string)
 *   reply_to over 255 octets        no reply-to property, the whole value
 *                                   in header x-reply-to-topic (long
 *                                   string; RabbitMQ's header for an MQTT
 *                                   Response Topic)
 *   another property string over    left out by the content header
 *   255 octets (an MQTT Content     encoder, as RabbitMQ leaves out such
 *   Type)                           a Content Type
 *
 * A header of the same name already in the message gives way to ours
 * (field names are unique in a table [AMQP 0-9-1 §4.2.5.5]). What remains
 * undeliverable is a content header larger than the client's frame_max:
 * that message is dropped for this client, with a warning at most once a
 * second per channel. Nothing here re-enters the core.
 */
#include <string.h>

#include "amqp_channel_int.h"

#define RK_HEADER    "x-routing-key"
#define REPLY_HEADER "x-reply-to-topic"

static bool
long_reply_to(const struct bk_props *p)
{
	return (p->present & BK_P_REPLY_TO) && !bk_str_is_short(p->reply_to);
}

static void
put_lstr(struct bk_table_builder *b, const char *name, struct bk_str s)
{
	struct bk_value v = { .type = BK_V_LSTR };

	v.u.s = s;
	bk_tb_put(b, name, (uint32_t)strlen(name), &v);
}

/* w->own: p with its headers rebuilt around the long routing key rk
 * and/or the long reply_to. */
static void
rebuild(struct amqp_wire *w, struct bk_str rk, const struct bk_props *p)
{
	bool long_rk = !bk_str_is_short(rk), long_reply = long_reply_to(p);
	struct bk_value v;
	struct bk_str name;
	uint32_t pos = 0;

	w->own = *p;
	while ((p->present & BK_P_HEADERS) &&
	       bk_table_next(p->headers, &pos, &name, &v) == 1) {
		if ((long_rk && bk_str_eq_c(name, RK_HEADER)) ||
		    (long_reply && bk_str_eq_c(name, REPLY_HEADER)))
			continue;
		bk_tb_put(&w->hb, name.p, name.len, &v);
	}
	if (long_rk) {
		put_lstr(&w->hb, RK_HEADER, rk);
		w->rk = BK_STR_LIT("");
	}
	if (long_reply) {
		put_lstr(&w->hb, REPLY_HEADER, p->reply_to);
		w->own.present &= ~(uint32_t)BK_P_REPLY_TO;
		w->own.reply_to = BK_STR_LIT("");
	}
	w->own.present |= BK_P_HEADERS;
	w->own.headers = bk_tb_view(&w->hb);
	w->props = &w->own;
}

/* Once a second per channel at most: a stream of such messages must not
 * become a stream of log lines. */
static void
log_dropped(struct amqp_channel *ch, size_t hn, uint32_t frame_max)
{
	uint64_t now = bk_now_ms();

	ch->skipped++;
	if (now - ch->skip_logged_ms < 1000)
		return;
	ch->skip_logged_ms = now;
	amqp_conn_log(ch->conn, BK_LOG_WARNING, "channel %u: %llu message(s) dropped: "
		      "content header of %zu bytes exceeds the client's frame_max %u",
		      ch->id, (unsigned long long)ch->skipped, hn, frame_max);
	ch->skipped = 0;
}

bool
amqp_ch_wire_init(struct amqp_channel *ch, const struct bk_msg *msg, struct amqp_wire *w)
{
	uint32_t frame_max = ch->conn->frame_max ? ch->conn->frame_max : 131072;
	const struct bk_props *p = bk_msg_props(msg);
	size_t hn;

	w->rk = bk_msg_rk(msg);
	w->props = p;
	bk_tb_init(&w->hb);
	if (!bk_str_is_short(w->rk) || long_reply_to(p))
		rebuild(w, w->rk, p);
	if ((hn = amqp_content_header_frame_size(w->props)) <= frame_max)
		return true;
	log_dropped(ch, hn, frame_max);
	amqp_ch_wire_fini(w);
	return false;
}

void
amqp_ch_wire_fini(struct amqp_wire *w)
{
	bk_tb_fini(&w->hb);
	w->props = NULL;
}
