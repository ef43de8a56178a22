/*
 * mqtt_retain.c: retained messages, in memory, per vhost and topic.
 *
 * The store keeps a reference to the routed bk_msg itself (one body,
 * shared with the queues that took it). A retained publish with an
 * empty payload clears the topic [MQTT-3.3.1-6/7] and is not stored.
 * On subscribe the store is walked and every topic the filter matches
 * (wildcards included, '$' topics only for filters that name the '$')
 * is sent with the retain flag at min(granted QoS, message QoS).
 *
 * The walk is linear in the number of retained topics; a topic trie
 * like the core's would make it proportional to the matches.
 * TODO(mqtt): index retained topics by level when stores grow large.
 * Restarts: mqtt_retain_log.c keeps the store in a durable queue.
 */
#include "mqtt_int.h"

#include <string.h>

static char *
make_key(struct bk_vhost *vh, struct bk_str topic, uint32_t *len)
{
	const char *vn = bk_vhost_name(vh);
	size_t n = strlen(vn);
	char *k = bk_malloc(n + 1 + topic.len + 1);

	memcpy(k, vn, n + 1);
	memcpy(k + n + 1, topic.p, topic.len);
	k[n + 1 + topic.len] = '\0';
	*len = (uint32_t)(n + 1 + topic.len);
	return k;
}

static void
entry_free(struct mqtt_listener *l, struct mqtt_retained *r)
{
	HASH_DEL(l->retained, r);
	bk_msg_unref(r->msg);
	bk_free(r->key);
	bk_free(r);
}

void
mqtt_retain_store(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg)
{
	mqtt_retain_put(l, vh, msg);
	mqtt_retain_log_append(l, vh, msg);
}

void
mqtt_retain_put(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_msg *msg)
{
	struct mqtt_retained *r = NULL;
	char topic[MQTT_KEY_MAX + 1];
	struct bk_str t;
	uint32_t len;
	char *key;

	t.len = mqtt_key_to_topic(msg->routing_key, topic);
	t.p = topic;
	key = make_key(vh, t, &len);
	HASH_FIND(hh, l->retained, key, len, r);
	if (msg->body_len == 0) {
		if (r)
			entry_free(l, r);
		bk_free(key);
		return;
	}
	if (r) {
		bk_msg_unref(r->msg);
		r->msg = bk_msg_ref(msg);
		bk_free(key);
		return;
	}
	r = bk_calloc(1, sizeof(*r));
	r->key = key;
	r->key_len = len;
	r->topic.p = key + (len - t.len);
	r->topic.len = t.len;
	r->vhost = vh;
	r->msg = bk_msg_ref(msg);
	HASH_ADD_KEYPTR(hh, l->retained, r->key, r->key_len, r);
}

void
mqtt_retain_deliver(struct mqtt_session *s, struct bk_str filter, uint8_t qos,
		    uint32_t sub_id)
{
	struct mqtt_retained *r, *tmp;
	uint64_t now = bk_now_ms();

	HASH_ITER(hh, s->l->retained, r, tmp) {
		uint8_t mq;

		if (r->vhost != s->vhost || !mqtt_topic_match(filter, r->topic))
			continue;
		if (r->msg->expires_ms > 0 && (uint64_t)r->msg->expires_ms <= now) {
			entry_free(s->l, r);    /* expired [MQTT-3.3.2-5] */
			continue;
		}
		mq = r->msg->origin_flags & MQTT_OF_MQTT ?
		     (uint8_t)(r->msg->origin_flags & MQTT_OF_QOS_MASK) :
		     (r->msg->flags & BK_MSG_PERSISTENT ? 1 : 0);
		mqtt_deliver_local(s, r->msg, mq < qos ? mq : qos, sub_id);
	}
}

void
mqtt_retain_free_all(struct mqtt_listener *l)
{
	struct mqtt_retained *r, *tmp;

	HASH_ITER(hh, l->retained, r, tmp)
		entry_free(l, r);
}
