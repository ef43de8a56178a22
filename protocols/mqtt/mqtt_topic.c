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
 * The core's topic matcher does not know MQTT's rule that a filter
 * starting with a wildcard does not match a topic starting with '$'
 * [MQTT-4.7.2-1], nor per-subscription options, so deliveries are checked
 * again against the session's own filters with mqtt_topic_match().
 */
#include "mqtt_int.h"

static inline char
swap(char ch)
{
	return ch == '/' ? '.' : ch == '.' ? '/' : ch;
}

uint32_t
mqtt_topic_to_key(struct bk_str t, char *buf)
{
	for (uint32_t i = 0; i < t.len; i++)
		buf[i] = swap(t.p[i]);
	buf[t.len] = '\0';
	return t.len;
}

uint32_t
mqtt_filter_to_key(struct bk_str f, char *buf)
{
	for (uint32_t i = 0; i < f.len; i++)
		buf[i] = f.p[i] == '+' ? '*' : swap(f.p[i]);
	buf[f.len] = '\0';
	return f.len;
}

uint32_t
mqtt_key_to_topic(struct bk_str k, char *buf)
{
	return mqtt_topic_to_key(k, buf);   /* the swap is its own inverse */
}

uint32_t
mqtt_key_to_filter(struct bk_str k, char *buf)
{
	for (uint32_t i = 0; i < k.len; i++)
		buf[i] = k.p[i] == '*' ? '+' : swap(k.p[i]);
	buf[k.len] = '\0';
	return k.len;
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
