/*
 * mqtt_msgprops.c: MQTT 5 PUBLISH properties <-> the core's neutral
 * bk_props, both ways, so AMQP consumers see MQTT publishes with useful
 * properties and MQTT subscribers see AMQP publishes:
 *
 *   MQTT 5                      bk_props (AMQP 0-9-1 basic properties)
 *   QoS 0 / QoS 1, 2            delivery_mode 1 / 2 (persistent)
 *   Content Type                content_type
 *   Response Topic  a/b         reply_to  a.b  (mapped like a topic)
 *   Correlation Data            correlation_id (longer than 255 octets:
 *                               header "x-correlation-id", bytes)
 *   Message Expiry Interval s   expiration "s*1000" (ms as text); on the
 *                               way out the time left, rounded up
 *   Payload Format Indicator    header "x-mqtt-payload-format-indicator" (u8)
 *   User Property k=v           header k (long string v), in order; when
 *                               some k is longer than 255 octets (a field
 *                               name is a short string), also all of them
 *                               in order in header "x-mqtt-user-properties",
 *                               an array of long strings k1, v1, k2, v2...
 *
 * bk_props strings are not short strings: a Content Type or Response
 * Topic of any length is kept, so MQTT subscribers get it unaltered
 * [MQTT-3.3.2-15, -20]; only AMQP 0-9-1 cannot carry one over 255 octets
 * (amqp_channel_wire.c says what it sends instead). User properties whose
 * name is too long for a header come back to MQTT subscribers from the
 * array, in their order among the others [MQTT-3.3.2-17, -18].
 *
 * Outbound, headers that are not strings (numbers, booleans) become user
 * properties in decimal; tables, arrays, binaries and names or values
 * that are not UTF-8 are left out. Headers under "x-mqtt-" and
 * "x-correlation-id" are ours and not repeated as user properties.
 */
#include "mqtt_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PFI_HEADER  "x-mqtt-payload-format-indicator"
#define CORR_HEADER "x-correlation-id"
#define USERS_HEADER "x-mqtt-user-properties"
#define AMQP_SHORTSTR_MAX 255

#define MAX_USERS   64                  /* outbound user properties */
#define NUM_TEXT    24                  /* a decimal int64 and its NUL */

/* Whether some user property of mp has a name too long for a header. */
static bool
has_long_user_name(const struct mqtt_props *mp)
{
	struct bk_str k, v;
	uint32_t pos = 0;

	while (mp->raw && mqtt_props_user_next(mp, &pos, &k, &v) == 1)
		if (k.len > BK_SHORTSTR_MAX)
			return true;
	return false;
}

/* Every user property of mp, in order, as USERS_HEADER into hb. */
static void
put_user_array(const struct mqtt_props *mp, struct bk_table_builder *hb)
{
	struct bk_table_builder ab;
	struct bk_value val;
	struct bk_str k, v;
	uint32_t pos = 0;

	bk_tb_init(&ab);
	while (mqtt_props_user_next(mp, &pos, &k, &v) == 1) {
		val = (struct bk_value){ .type = BK_V_LSTR, .u.s = k };
		bk_tb_put_value(&ab, &val);
		val.u.s = v;
		bk_tb_put_value(&ab, &val);
	}
	val = (struct bk_value){ .type = BK_V_ARRAY, .u.a = bk_tb_view(&ab) };
	bk_tb_put(hb, USERS_HEADER, sizeof(USERS_HEADER) - 1, &val);
	bk_tb_fini(&ab);
}

void
mqtt_props_to_bk(const struct mqtt_props *mp, uint8_t qos, struct bk_table_builder *hb,
		 struct mqtt_buf *b, struct bk_props *out)
{
	struct bk_str k, v;
	struct bk_value val;
	uint32_t pos = 0;
	size_t used = 0, cap;
	char *buf;

	memset(out, 0, sizeof(*out));
	out->present = BK_P_DELIVERY_MODE;
	out->delivery_mode = qos > 0 ? 2 : 1;
	if (!mp)
		return;
	cap = (size_t)mp->response_topic.len + 1 + NUM_TEXT;
	buf = mqtt_buf_get(b, cap);
	if (MQTT_HAS(mp, MQTT_PROP_CONTENT_TYPE)) {
		out->present |= BK_P_CONTENT_TYPE;
		out->content_type = mp->content_type;
	}
	if (MQTT_HAS(mp, MQTT_PROP_RESPONSE_TOPIC)) {
		/* mapped like a topic, at the start of buf */
		mqtt_topic_swap_into(buf, mp->response_topic);
		out->present |= BK_P_REPLY_TO;
		out->reply_to = (struct bk_str){ buf, mp->response_topic.len };
		used = out->reply_to.len + 1;
	}
	if (MQTT_HAS(mp, MQTT_PROP_CORRELATION_DATA)) {
		if (mp->correlation_data.len <= AMQP_SHORTSTR_MAX) {
			out->present |= BK_P_CORRELATION_ID;
			out->correlation_id = mp->correlation_data;
		} else {
			val = (struct bk_value){ .type = BK_V_BYTES, .u.s = mp->correlation_data };
			bk_tb_put(hb, CORR_HEADER, sizeof(CORR_HEADER) - 1, &val);
		}
	}
	if (MQTT_HAS(mp, MQTT_PROP_MESSAGE_EXPIRY)) {
		int n = snprintf(buf + used, cap - used, "%" PRIu64,
				 (uint64_t)mp->message_expiry * 1000);

		out->present |= BK_P_EXPIRATION;
		out->expiration = (struct bk_str){ buf + used, (uint32_t)n };
	}
	if (MQTT_HAS(mp, MQTT_PROP_PAYLOAD_FORMAT)) {
		val = (struct bk_value){ .type = BK_V_U8, .u.i = mp->payload_format };
		bk_tb_put(hb, PFI_HEADER, sizeof(PFI_HEADER) - 1, &val);
	}
	/* a name over 255 octets is left out here (bk_tb_put refuses it) */
	while (mp->raw && mqtt_props_user_next(mp, &pos, &k, &v) == 1) {
		val = (struct bk_value){ .type = BK_V_LSTR, .u.s = v };
		bk_tb_put(hb, k.p, k.len, &val);
	}
	if (has_long_user_name(mp))
		put_user_array(mp, hb);
	if (hb->len > 0) {
		out->present |= BK_P_HEADERS;
		out->headers = bk_tb_view(hb);
	}
}

static bool
utf8_ok(struct bk_str s)
{
	return s.len <= 65535 && mqtt_utf8_check((const uint8_t *)s.p, s.len) >= 0;
}

static bool
is_ours(struct bk_str name)
{
	return (name.len >= 7 && memcmp(name.p, "x-mqtt-", 7) == 0) ||
	       bk_str_eq_c(name, CORR_HEADER);
}

/* The pairs of a USERS_HEADER array into users[n..cap); returns the new n.
 * A pair that is not two UTF-8 long strings is skipped. */
static uint32_t
users_from_array(struct bk_table a, struct mqtt_user_prop *users, uint32_t n, uint32_t cap)
{
	struct bk_value k, v;
	uint32_t pos = 0;

	while (n < cap && bk_array_next(a, &pos, &k) == 1 && bk_array_next(a, &pos, &v) == 1) {
		if (k.type != BK_V_LSTR || v.type != BK_V_LSTR || !utf8_ok(k.u.s) ||
		    !utf8_ok(v.u.s))
			continue;
		users[n].key = k.u.s;
		users[n].value = v.u.s;
		n++;
	}
	return n;
}

static void
headers_out(struct bk_table t, struct mqtt_props *mp, struct mqtt_user_prop *users,
	    uint32_t cap, char (*num)[NUM_TEXT])
{
	struct bk_str name;
	struct bk_value v, all;
	uint32_t pos = 0, n = 0;
	int64_t i;
	/* every user property in order, when the headers could not hold them */
	bool from_array = bk_table_get(t, USERS_HEADER, &all) && all.type == BK_V_ARRAY;

	while (n < cap && bk_table_next(t, &pos, &name, &v) == 1) {
		if (bk_str_eq_c(name, PFI_HEADER)) {
			if (bk_value_int(&v, &i) && (i == 0 || i == 1)) {
				mp->present |= MQTT_PBIT(MQTT_PROP_PAYLOAD_FORMAT);
				mp->payload_format = (uint8_t)i;
			}
			continue;
		}
		if (bk_str_eq_c(name, CORR_HEADER) && v.type == BK_V_BYTES &&
		    !MQTT_HAS(mp, MQTT_PROP_CORRELATION_DATA)) {
			mp->present |= MQTT_PBIT(MQTT_PROP_CORRELATION_DATA);
			mp->correlation_data = v.u.s;
			continue;
		}
		if (from_array || is_ours(name) || !utf8_ok(name))
			continue;
		users[n].key = name;
		if (v.type == BK_V_LSTR) {
			if (!utf8_ok(v.u.s))
				continue;
			users[n].value = v.u.s;
		} else if (v.type == BK_V_BOOL) {
			users[n].value = v.u.b ? BK_STR_LIT("true") : BK_STR_LIT("false");
		} else if (bk_value_int(&v, &i)) {
			int k = snprintf(num[n], NUM_TEXT, "%" PRId64, i);

			users[n].value = (struct bk_str){ num[n], (uint32_t)k };
		} else {
			continue;
		}
		n++;
	}
	if (from_array)
		n = users_from_array(all.u.a, users, n, cap);
	if (n) {
		mp->users = users;
		mp->n_users = n;
	}
}

void
mqtt_props_from_bk(const struct bk_msg *msg, struct mqtt_props *mp,
		   struct mqtt_user_prop *users, uint32_t cap, struct mqtt_buf *b)
{
	const struct bk_props *p = bk_msg_props(msg);
	size_t rt = (p->present & BK_P_REPLY_TO) ? p->reply_to.len : 0;
	char *buf;

	if (cap > MAX_USERS)
		cap = MAX_USERS;
	/* the response topic, then the numeric user property values */
	buf = mqtt_buf_get(b, rt + 1 + (size_t)MAX_USERS * NUM_TEXT);
	if ((p->present & BK_P_CONTENT_TYPE) && utf8_ok(p->content_type)) {
		mp->present |= MQTT_PBIT(MQTT_PROP_CONTENT_TYPE);
		mp->content_type = p->content_type;
	}
	if (rt > 0 && rt <= MQTT_TOPIC_MAX && utf8_ok(p->reply_to)) {
		struct bk_str t = { buf, (uint32_t)rt };

		mqtt_topic_swap_into(buf, p->reply_to);
		if (mqtt_topic_name_check(t) == 0) {
			mp->present |= MQTT_PBIT(MQTT_PROP_RESPONSE_TOPIC);
			mp->response_topic = t;
		}
	}
	if (p->present & BK_P_CORRELATION_ID) {
		mp->present |= MQTT_PBIT(MQTT_PROP_CORRELATION_DATA);
		mp->correlation_data = p->correlation_id;
	}
	if (bk_msg_expires(msg) > 0) {
		uint64_t now = bk_now_ms(), left;

		left = (uint64_t)bk_msg_expires(msg) > now ? (uint64_t)bk_msg_expires(msg) - now : 0;
		mp->present |= MQTT_PBIT(MQTT_PROP_MESSAGE_EXPIRY);
		mp->message_expiry = (uint32_t)((left + 999) / 1000);
	}
	if ((p->present & BK_P_HEADERS) && p->headers.len)
		headers_out(p->headers, mp, users, cap, (char (*)[NUM_TEXT])(buf + rt + 1));
}
