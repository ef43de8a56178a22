/*
 * mqtt_props.c: MQTT 5 properties [MQTT 5.0 §2.2.2].
 *
 * One table says, for every property id, its wire type, the packets it
 * may appear in and the struct mqtt_props field that holds it; decode,
 * size and encode walk that table, so no property has code of its own.
 *
 *   +-----------------+----+-------+----+-------+-----
 *   | property length | id | value | id | value | ...
 *   |  varint         | varint (all ids < 128: one octet)
 *   +-----------------+----+-------+----+-------+-----
 *
 * Rules enforced on decode (the session sees only valid blocks), in two
 * passes so that a block that cannot be read at all is malformed even
 * when an earlier property is also misplaced:
 *   1. unknown id, id not in its shortest varint form, truncated value:
 *      malformed (-EPROTO); ill-formed UTF-8: -EILSEQ;
 *   2. a property not listed for that packet: protocol error (-EBADMSG),
 *      except in SUBSCRIBE and UNSUBSCRIBE, which may carry nothing but
 *      identifiers and user properties and are malformed otherwise;
 *      a property twice, other than User Property (and Subscription
 *      Identifier in PUBLISH): protocol error; values out of range:
 *      receive maximum 0, maximum packet size 0, byte flags other than
 *      0/1, response topic with wildcards [MQTT-3.3.2-14]: protocol
 *      error; subscription identifier 0 [§3.8.2.1.2]: malformed; topic
 *      alias 0: -ERANGE, which has a reason code of its own (0x94)
 *      [MQTT-3.3.2-8].
 * These are the codes Mosquitto 2.0 answers with, so byte-exact
 * conversations recorded against it replay unchanged.
 * The repeatable properties stay in the raw block; iterators walk it.
 */
#include <stddef.h>

#include "mqtt_codec_int.h"

enum ptype { PT_NONE, PT_BYTE, PT_U16, PT_U32, PT_VARINT, PT_STR, PT_BIN, PT_PAIR };

#define C(x) (1u << MQTT_PCTX_##x)
#define ALL_ACKS (C(PUBACK) | C(SUBACK) | C(UNSUBACK))

struct pdesc {
	uint8_t type;                   /* enum ptype */
	uint8_t flag;                   /* value must be 0 or 1 */
	uint8_t nonzero;                /* value must not be 0 */
	uint16_t ctx;                   /* C(...) where allowed */
	uint16_t off;                   /* field in struct mqtt_props */
};

#define F(field) offsetof(struct mqtt_props, field)

static const struct pdesc pdesc[0x2B] = {
	[0x01] = { PT_BYTE, 1, 0, C(PUBLISH) | C(WILL), F(payload_format) },
	[0x02] = { PT_U32, 0, 0, C(PUBLISH) | C(WILL), F(message_expiry) },
	[0x03] = { PT_STR, 0, 0, C(PUBLISH) | C(WILL), F(content_type) },
	[0x08] = { PT_STR, 0, 0, C(PUBLISH) | C(WILL), F(response_topic) },
	[0x09] = { PT_BIN, 0, 0, C(PUBLISH) | C(WILL), F(correlation_data) },
	[0x0B] = { PT_VARINT, 0, 1, C(PUBLISH) | C(SUBSCRIBE), F(sub_id) },
	[0x11] = { PT_U32, 0, 0, C(CONNECT) | C(CONNACK) | C(DISCONNECT), F(session_expiry) },
	[0x12] = { PT_STR, 0, 0, C(CONNACK), F(assigned_client_id) },
	[0x13] = { PT_U16, 0, 0, C(CONNACK), F(server_keep_alive) },
	[0x15] = { PT_STR, 0, 0, C(CONNECT) | C(CONNACK) | C(AUTH), F(auth_method) },
	[0x16] = { PT_BIN, 0, 0, C(CONNECT) | C(CONNACK) | C(AUTH), F(auth_data) },
	[0x17] = { PT_BYTE, 1, 0, C(CONNECT), F(request_problem_info) },
	[0x18] = { PT_U32, 0, 0, C(WILL), F(will_delay) },
	[0x19] = { PT_BYTE, 1, 0, C(CONNECT), F(request_response_info) },
	[0x1A] = { PT_STR, 0, 0, C(CONNACK), F(response_info) },
	[0x1C] = { PT_STR, 0, 0, C(CONNACK) | C(DISCONNECT), F(server_reference) },
	[0x1F] = { PT_STR, 0, 0, C(CONNACK) | ALL_ACKS | C(DISCONNECT) | C(AUTH), F(reason_string) },
	[0x21] = { PT_U16, 0, 1, C(CONNECT) | C(CONNACK), F(receive_max) },
	[0x22] = { PT_U16, 0, 0, C(CONNECT) | C(CONNACK), F(topic_alias_max) },
	[0x23] = { PT_U16, 0, 1, C(PUBLISH), F(topic_alias) },
	[0x24] = { PT_BYTE, 1, 0, C(CONNACK), F(max_qos) },
	[0x25] = { PT_BYTE, 1, 0, C(CONNACK), F(retain_available) },
	[0x26] = { PT_PAIR, 0, 0, 0x7FF, 0 },
	[0x27] = { PT_U32, 0, 1, C(CONNECT) | C(CONNACK), F(max_packet_size) },
	[0x28] = { PT_BYTE, 1, 0, C(CONNACK), F(wildcard_sub_available) },
	[0x29] = { PT_BYTE, 1, 0, C(CONNACK), F(sub_id_available) },
	[0x2A] = { PT_BYTE, 1, 0, C(CONNACK), F(shared_sub_available) },
};

#define NPROPS (sizeof(pdesc) / sizeof(pdesc[0]))

static const struct pdesc *
desc_of(uint32_t id)
{
	return id < NPROPS && pdesc[id].type != PT_NONE ? &pdesc[id] : NULL;
}

static bool
has_wildcard(struct bk_str s)
{
	return memchr(s.p, '+', s.len) != NULL || memchr(s.p, '#', s.len) != NULL;
}

/* One value of type d->type at r into the struct field (pairs: skipped). */
static int
read_value(struct mqtt_rd *r, const struct pdesc *d, struct mqtt_props *out)
{
	uint8_t *field = (uint8_t *)out + d->off;
	struct bk_str k, v;
	uint32_t n = 0;
	uint16_t s = 0;
	uint8_t b = 0;
	int res;

	switch (d->type) {
	case PT_BYTE:
		if (rd_u8(r, &b) < 0)
			return -EPROTO;
		if (d->flag && b > 1)
			return -EBADMSG;
		*field = b;
		return 0;
	case PT_U16:
		if (rd_u16(r, &s) < 0)
			return -EPROTO;
		if (d->nonzero && s == 0)
			return d == &pdesc[MQTT_PROP_TOPIC_ALIAS] ? -ERANGE : -EBADMSG;
		memcpy(field, &s, sizeof(s));
		return 0;
	case PT_U32:
	case PT_VARINT:
		res = d->type == PT_U32 ? rd_u32(r, &n) : rd_varint(r, &n, true);
		if (res < 0)
			return -EPROTO;
		if (d->nonzero && n == 0)
			/* a subscription identifier of 0 cannot be one [MQTT-3.8.2.1.2] */
			return d->type == PT_VARINT ? -EPROTO : -EBADMSG;
		memcpy(field, &n, sizeof(n));
		return 0;
	case PT_STR:
		if ((res = rd_str(r, &v)) < 0)
			return res;
		memcpy(field, &v, sizeof(v));
		return 0;
	case PT_BIN:
		if (rd_bin(r, &v) < 0)
			return -EPROTO;
		memcpy(field, &v, sizeof(v));
		return 0;
	case PT_PAIR:
		if ((res = rd_str(r, &k)) < 0 || (res = rd_str(r, &v)) < 0)
			return res;
		return 0;
	}
	return -EPROTO;
}

/*
 * Pass 1, the block's structure: every id known and every value whole
 * and well formed. A fault here is malformed (-EPROTO, -EILSEQ) even
 * when a property before it is also misplaced: the packet as a whole
 * cannot be read, which outranks what it says (Mosquitto answers so).
 */
static int
check_structure(struct mqtt_rd b)
{
	struct mqtt_props scratch;
	int res;

	while (rd_left(&b) > 0) {
		const struct pdesc *d;
		uint32_t id;

		/* The id is a varint [§2.2.2.2]; every defined id fits in one octet. */
		if (rd_varint(&b, &id, true) < 0 || (d = desc_of(id)) == NULL)
			return -EPROTO;
		memset(&scratch, 0, sizeof(scratch));
		if ((res = read_value(&b, d, &scratch)) < 0 && res != -EBADMSG && res != -ERANGE)
			return res;
	}
	return 0;
}

/* A property not allowed where it stands. SUBSCRIBE and UNSUBSCRIBE
 * carry only identifiers and user properties, and anything else makes
 * the packet malformed; elsewhere it is a protocol error. */
static int
misplaced(enum mqtt_pctx ctx)
{
	return ctx == MQTT_PCTX_SUBSCRIBE || ctx == MQTT_PCTX_UNSUBSCRIBE ? -EPROTO : -EBADMSG;
}

int
mqtt_props_decode(struct mqtt_rd *r, enum mqtt_pctx ctx, struct mqtt_props *out)
{
	struct mqtt_rd b;
	uint32_t len;
	int res;

	memset(out, 0, sizeof(*out));
	if (rd_varint(r, &len, true) < 0 || rd_left(r) < len)
		return -EPROTO;
	b = (struct mqtt_rd){ r->p + r->pos, len, 0 };
	r->pos += len;
	out->raw = b.p;
	out->raw_len = len;
	if ((res = check_structure(b)) < 0)
		return res;
	/* Pass 2: place, repetition and values. */
	while (rd_left(&b) > 0) {
		const struct pdesc *d;
		uint32_t id = 0;
		uint32_t sub_id = out->sub_id;

		(void)rd_varint(&b, &id, true);
		d = desc_of(id);
		if (!(d->ctx & (1u << ctx)))
			return misplaced(ctx);
		if ((res = read_value(&b, d, out)) < 0)
			return res;
		if (id == MQTT_PROP_USER) {
			out->n_users++;
			continue;
		}
		if (id == MQTT_PROP_SUBSCRIPTION_ID) {
			if (out->sub_id > MQTT_MAX_SUB_ID)
				return -EPROTO;
			if (out->n_sub_ids++ > 0) {
				if (ctx != MQTT_PCTX_PUBLISH)
					return -EBADMSG;
				out->sub_id = sub_id;   /* keep the first */
			}
			out->present |= MQTT_PBIT(id);
			continue;
		}
		if (out->present & MQTT_PBIT(id))
			return -EBADMSG;
		out->present |= MQTT_PBIT(id);
		if (id == MQTT_PROP_RESPONSE_TOPIC && has_wildcard(out->response_topic))
			return -EBADMSG;
	}
	return 0;
}

/* Walk raw for entries of one id; 1 = the value starts at *at. */
static int
raw_next(const struct mqtt_props *props, uint32_t *pos, uint32_t want, struct mqtt_rd *val)
{
	struct mqtt_rd r;

	if (props->raw == NULL)
		return 0;
	r = (struct mqtt_rd){ props->raw, props->raw_len, *pos };
	while (rd_left(&r) > 0) {
		struct mqtt_props scratch;
		const struct pdesc *d;
		uint32_t id;
		size_t start;

		if (rd_varint(&r, &id, false) < 0 || (d = desc_of(id)) == NULL)
			return 0;
		start = r.pos;
		if (read_value(&r, d, &scratch) < 0)
			return 0;
		if (id == want) {
			*val = (struct mqtt_rd){ r.p, r.pos, start };
			*pos = (uint32_t)r.pos;
			return 1;
		}
	}
	*pos = (uint32_t)r.pos;
	return 0;
}

int
mqtt_props_user_next(const struct mqtt_props *props, uint32_t *pos,
		     struct bk_str *key, struct bk_str *value)
{
	struct mqtt_rd v;

	if (raw_next(props, pos, MQTT_PROP_USER, &v) != 1)
		return 0;
	(void)rd_bin(&v, key);
	(void)rd_bin(&v, value);
	return 1;
}

int
mqtt_props_sub_id_next(const struct mqtt_props *props, uint32_t *pos, uint32_t *id)
{
	struct mqtt_rd v;

	if (raw_next(props, pos, MQTT_PROP_SUBSCRIPTION_ID, &v) != 1)
		return 0;
	return rd_varint(&v, id, false) == 0;
}

/* ---- encode ---------------------------------------------------------- */

static size_t
value_size(const struct pdesc *d, const struct mqtt_props *props)
{
	const uint8_t *field = (const uint8_t *)props + d->off;
	struct bk_str s;
	uint32_t n;

	switch (d->type) {
	case PT_BYTE: return 1;
	case PT_U16: return 2;
	case PT_U32: return 4;
	case PT_VARINT:
		memcpy(&n, field, sizeof(n));
		return n == 0 || n > MQTT_MAX_SUB_ID ? SIZE_MAX : varint_size(n);
	case PT_STR:
	case PT_BIN:
		memcpy(&s, field, sizeof(s));
		return s.len > 0xFFFF ? SIZE_MAX : 2 + (size_t)s.len;
	}
	return SIZE_MAX;
}

/* Size of the raw entries of one id (user properties, sub ids). */
static size_t
raw_entries_size(const struct mqtt_props *props, uint32_t want)
{
	struct mqtt_rd v;
	uint32_t pos = 0;
	size_t n = 0;

	while (raw_next(props, &pos, want, &v) == 1)
		n += 1 + (pos - v.pos);
	return n;
}

size_t
mqtt_props_size(const struct mqtt_props *props)
{
	size_t n = 0;

	for (uint32_t id = 1; id < NPROPS; id++) {
		size_t v;

		if (pdesc[id].type == PT_NONE || pdesc[id].type == PT_PAIR ||
		    id == MQTT_PROP_SUBSCRIPTION_ID || !(props->present & MQTT_PBIT(id)))
			continue;
		if ((v = value_size(&pdesc[id], props)) == SIZE_MAX)
			return SIZE_MAX;
		n += 1 + v;
	}
	if (props->sub_ids) {
		for (uint32_t i = 0; i < props->n_sub_ids; i++) {
			if (props->sub_ids[i] == 0 || props->sub_ids[i] > MQTT_MAX_SUB_ID)
				return SIZE_MAX;
			n += 1 + varint_size(props->sub_ids[i]);
		}
	} else if (props->raw) {
		n += raw_entries_size(props, MQTT_PROP_SUBSCRIPTION_ID);
	} else if (props->present & MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID)) {
		size_t v = value_size(&pdesc[MQTT_PROP_SUBSCRIPTION_ID], props);

		if (v == SIZE_MAX)
			return SIZE_MAX;
		n += 1 + v;
	}
	if (props->users) {
		for (uint32_t i = 0; i < props->n_users; i++) {
			if (props->users[i].key.len > 0xFFFF || props->users[i].value.len > 0xFFFF)
				return SIZE_MAX;
			n += 5 + (size_t)props->users[i].key.len + props->users[i].value.len;
		}
	} else if (props->raw) {
		n += raw_entries_size(props, MQTT_PROP_USER);
	}
	return n;
}

static uint8_t *
write_value(uint8_t *p, const struct pdesc *d, const struct mqtt_props *props)
{
	const uint8_t *field = (const uint8_t *)props + d->off;
	struct bk_str s;
	uint32_t n;
	uint16_t h;

	switch (d->type) {
	case PT_BYTE:
		*p++ = *field;
		return p;
	case PT_U16:
		memcpy(&h, field, sizeof(h));
		return bk_st16(p, h);
	case PT_U32:
		memcpy(&n, field, sizeof(n));
		return bk_st32(p, n);
	case PT_VARINT:
		memcpy(&n, field, sizeof(n));
		return wr_varint(p, n);
	default:
		memcpy(&s, field, sizeof(s));
		return wr_bin(p, s);
	}
}

/* Copy the raw entries of one id as they are. */
static uint8_t *
copy_raw(uint8_t *p, const struct mqtt_props *props, uint32_t want)
{
	struct mqtt_rd v;
	uint32_t pos = 0;

	while (raw_next(props, &pos, want, &v) == 1) {
		*p++ = (uint8_t)want;
		memcpy(p, v.p + v.pos, pos - v.pos);
		p += pos - v.pos;
	}
	return p;
}

/* A single-valued property that is present and encodable by the table. */
static bool
single_present(const struct mqtt_props *props, uint32_t id)
{
	return id < NPROPS && pdesc[id].type != PT_NONE && pdesc[id].type != PT_PAIR &&
	       id != MQTT_PROP_SUBSCRIPTION_ID && (props->present & MQTT_PBIT(id));
}

static bool
listed(const uint8_t *order, uint32_t id)
{
	return order && memchr(order, (int)id, strlen((const char *)order)) != NULL;
}

uint8_t *
mqtt_props_write(uint8_t *p, const struct mqtt_props *props, size_t size)
{
	p = wr_varint(p, (uint32_t)size);
	for (const uint8_t *o = props->order; o && *o; o++) {
		if (!single_present(props, *o))
			continue;
		*p++ = *o;
		p = write_value(p, &pdesc[*o], props);
	}
	for (uint32_t id = 1; id < NPROPS; id++) {
		if (!single_present(props, id) || listed(props->order, id))
			continue;
		*p++ = (uint8_t)id;
		p = write_value(p, &pdesc[id], props);
	}
	if (props->sub_ids) {
		for (uint32_t i = 0; i < props->n_sub_ids; i++) {
			*p++ = MQTT_PROP_SUBSCRIPTION_ID;
			p = wr_varint(p, props->sub_ids[i]);
		}
	} else if (props->raw) {
		p = copy_raw(p, props, MQTT_PROP_SUBSCRIPTION_ID);
	} else if (props->present & MQTT_PBIT(MQTT_PROP_SUBSCRIPTION_ID)) {
		*p++ = MQTT_PROP_SUBSCRIPTION_ID;
		p = wr_varint(p, props->sub_id);
	}
	if (props->users) {
		for (uint32_t i = 0; i < props->n_users; i++) {
			*p++ = MQTT_PROP_USER;
			p = wr_bin(p, props->users[i].key);
			p = wr_bin(p, props->users[i].value);
		}
	} else if (props->raw) {
		p = copy_raw(p, props, MQTT_PROP_USER);
	}
	return p;
}
