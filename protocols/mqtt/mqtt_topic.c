/*
 * mqtt_topic.c: how MQTT topics meet the core's topic exchange.
 *
 * The mapping, written down once (RabbitMQ's MQTT plugin maps the same):
 *
 *   MQTT topic      a/b/c        routing key   a.b.c
 *   MQTT filter     a/+/#        binding key   a.*.#
 *   '/'  <->  '.'   (the level separators swap, so an MQTT topic holding
 *                    '.' becomes a key holding '/': "v1.2/x" -> "v1/2.x")
 *   '+'   ->  '*'   (one level)
 *   '#'   ->  '#'   (any number of levels, zero included)
 *
 * Every MQTT publish goes to one topic exchange (amq.topic unless
 * [mqtt] exchange says otherwise) with the mapped key, and every session
 * is a queue bound with its mapped filters. Because the swap is a
 * bijection, a routing key maps back to exactly one topic for delivery,
 * and AMQP publishes to the exchange reach MQTT subscribers.
 *
 * A key longer than an MQTT string can hold (65535 octets) has no topic:
 * mqtt_key_to_topic() says so and the message is skipped for MQTT
 * subscribers. Conversions write into a growable struct mqtt_buf owned
 * by the caller's object (a connection, the $SYS publisher), never into
 * process-wide storage.
 *
 * The core's topic matcher does not know MQTT's rule that a filter
 * starting with a wildcard does not match a topic starting with '$'
 * [MQTT-4.7.2-1], nor per-subscription options, so deliveries are checked
 * again against the session's own filters with mqtt_topic_match().
 */
#include "mqtt_int.h"

#include <errno.h>

static inline char
swap(char ch)
{
	return ch == '/' ? '.' : ch == '.' ? '/' : ch;
}

void
mqtt_topic_swap_into(char *out, struct bk_str s)
{
	for (uint32_t i = 0; i < s.len; i++)
		out[i] = swap(s.p[i]);
}

char *
mqtt_buf_grow(struct mqtt_buf *b, size_t n)
{
	size_t cap = mqtt_buf_cap(b), *blk;

	cap = cap ? cap : 256 - sizeof(size_t);
	while (cap < n)
		cap = cap * 2 + sizeof(size_t);
	mqtt_buf_fini(b);       /* nothing in it is kept */
	blk = bk_malloc(sizeof(size_t) + cap);
	blk[0] = cap;
	b->p = (char *)(blk + 1);
	return b->p;
}

void
mqtt_buf_fini(struct mqtt_buf *b)
{
	if (b->p) {
		bk_free((size_t *)(void *)b->p - 1);
		b->p = NULL;
	}
}

/* Map s into b: '/' and '.' swap, and wildcards as asked. */
static struct bk_str
map(struct bk_str s, struct mqtt_buf *b, char from_wild, char to_wild)
{
	char *out = mqtt_buf_get(b, (size_t)s.len + 1);

	for (uint32_t i = 0; i < s.len; i++)
		out[i] = from_wild && s.p[i] == from_wild ? to_wild : swap(s.p[i]);
	out[s.len] = '\0';
	return (struct bk_str){ out, s.len };
}

struct bk_str
mqtt_topic_to_key(struct bk_str topic, struct mqtt_buf *b)
{
	return map(topic, b, 0, 0);
}

struct bk_str
mqtt_filter_to_key(struct bk_str filter, struct mqtt_buf *b)
{
	return map(filter, b, '+', '*');
}

int
mqtt_key_to_topic(struct bk_str key, struct mqtt_buf *b, struct bk_str *topic)
{
	if (key.len > MQTT_TOPIC_MAX)
		return -EMSGSIZE;
	*topic = map(key, b, 0, 0);     /* the swap is its own inverse */
	return 0;
}

int
mqtt_key_to_filter(struct bk_str key, struct mqtt_buf *b, struct bk_str *filter)
{
	if (key.len > MQTT_TOPIC_MAX)
		return -EMSGSIZE;
	*filter = map(key, b, '*', '+');
	return 0;
}

/*
 * Level by level: '+' eats one level, '#' (last, syntax checked on
 * subscribe) eats the rest including none: "a/#" matches "a".
 */
bool
mqtt_topic_match(struct bk_str f, struct bk_str t)
{
	uint32_t fi = 0, ti = 0;

	if (t.len > 0 && t.p[0] == '$' && f.len > 0 && (f.p[0] == '+' || f.p[0] == '#'))
		return false;
	for (;;) {
		if (fi < f.len && f.p[fi] == '#')
			return true;
		if (fi < f.len && f.p[fi] == '+') {
			fi++;
			while (ti < t.len && t.p[ti] != '/')
				ti++;
		} else {
			while (fi < f.len && ti < t.len && f.p[fi] != '/' && f.p[fi] == t.p[ti]) {
				fi++;
				ti++;
			}
			if ((fi < f.len && f.p[fi] != '/') || (ti < t.len && t.p[ti] != '/'))
				return false;
		}
		/* both at a level end: '/' or the end of the string */
		if (fi == f.len && ti == t.len)
			return true;
		if (fi == f.len)
			return false;
		if (ti == t.len)
			/* "a/#" matches "a": the filter's rest must be exactly "/#" */
			return f.len - fi == 2 && f.p[fi + 1] == '#';
		fi++;
		ti++;
	}
}
