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
 * (field names are unique in a table [AMQP 0-9-1 §4.2.5.5]); the other
 * headers go out as the message holds them, octet for octet. What remains
 * undeliverable is a content header larger than the client's frame_max:
 * that message is dropped for this client, with a warning at most once a
 * second per channel. Its size is measured before anything is copied, so
 * a message with large headers costs no copy per delivery and consumer
 * that then drops it; a copy is made only of headers that fit frame_max.
 * Nothing here re-enters the core.
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

/* The octets of a long-string table entry name = s. */
static uint64_t
lstr_entry_len(const char *name, struct bk_str s)
{
	return 1 + strlen(name) + 1 + 4 + (uint64_t)s.len;
}

static void
put_lstr(struct bk_table_builder *b, const char *name, struct bk_str s)
{
	struct bk_value v = { .type = BK_V_LSTR };

	v.u.s = s;
	bk_tb_put(b, name, (uint32_t)strlen(name), &v);
}

/* Octets [from, to) of table t into b (none: b is NULL or the run empty). */
static void
copy_run(struct bk_table_builder *b, struct bk_table t, uint32_t from, uint32_t to)
{
	if (b && to > from)
		bk_tb_put_raw(b, t.p + from, to - from);
}

/*
 * p's headers but those ours replace: their length, and with b a copy of
 * them into b. Entries are copied as they are, in runs (the message's
 * octets, not re-encoded), so the length measured without b is the
 * length b gets.
 */
static uint64_t
kept_headers(const struct bk_props *p, bool long_rk, bool long_reply,
	     struct bk_table_builder *b)
{
	struct bk_str name;
	struct bk_value v;
	uint32_t pos = 0, at = 0, run = 0;
	uint64_t n = 0;

	if (!(p->present & BK_P_HEADERS))
		return 0;
	for (; bk_table_next(p->headers, &pos, &name, &v) == 1; at = pos) {
		if ((long_rk && bk_str_eq_c(name, RK_HEADER)) ||
		    (long_reply && bk_str_eq_c(name, REPLY_HEADER))) {
			copy_run(b, p->headers, run, at);
			run = pos;
			continue;
		}
		n += pos - at;
	}
	copy_run(b, p->headers, run, pos);
	return n;
}

/*
 * w->own: p with its headers rebuilt around the long routing key rk
 * and/or the long reply_to, all but the headers' octets; the length of
 * those. Nothing is copied yet: a message too large for the client costs
 * no copy of its headers, per delivery and consumer.
 */
static uint64_t
measure(struct amqp_wire *w, struct bk_str rk, const struct bk_props *p)
{
	bool long_rk = !bk_str_is_short(rk), long_reply = long_reply_to(p);
	uint64_t n = kept_headers(p, long_rk, long_reply, NULL);

	w->own = *p;
	if (long_rk)
		n += lstr_entry_len(RK_HEADER, rk);
	if (long_reply) {
		n += lstr_entry_len(REPLY_HEADER, p->reply_to);
		w->own.present &= ~(uint32_t)BK_P_REPLY_TO;
		w->own.reply_to = BK_STR_LIT("");
	}
	w->own.present |= BK_P_HEADERS;
	w->own.headers = (struct bk_table){ NULL, 0 };
	return n;
}

/* w->own's headers (measure() gave their length, n), and w->rk. */
static void
rebuild(struct amqp_wire *w, struct bk_str rk, const struct bk_props *p, uint64_t n)
{
	bool long_rk = !bk_str_is_short(rk), long_reply = long_reply_to(p);

	kept_headers(p, long_rk, long_reply, &w->hb);
	if (long_rk) {
		put_lstr(&w->hb, RK_HEADER, rk);
		w->rk = BK_STR_LIT("");
	}
	if (long_reply)
		put_lstr(&w->hb, REPLY_HEADER, p->reply_to);
	BK_ASSERT(w->hb.len == n);
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
	bool adjust;
	uint64_t n = 0;
	size_t hn;

	w->rk = bk_msg_rk(msg);
	w->props = p;
	bk_tb_init(&w->hb);
	adjust = !bk_str_is_short(w->rk) || long_reply_to(p);
	if (adjust) {
		n = measure(w, w->rk, p);
		hn = amqp_content_header_frame_size(&w->own) + n;
	} else {
		hn = amqp_content_header_frame_size(p);
	}
	if (hn > frame_max) {
		log_dropped(ch, hn, frame_max);
		return false;
	}
	if (adjust)
		rebuild(w, w->rk, p, n);
	return true;
}

void
amqp_ch_wire_fini(struct amqp_wire *w)
{
	bk_tb_fini(&w->hb);
	w->props = NULL;
}
