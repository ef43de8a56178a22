/*
 * mqtt_session_recover.c: sessions rebuilt from their queues after a
 * restart. What survives a restart is a session's queue (durable for
 * persistent sessions) with its bindings and persistent messages, as
 * RabbitMQ's MQTT plugin keeps subscriptions as bindings (with their
 * options in the binding arguments, mqtt_subscribe.c) and the session's
 * owner in the queue's arguments ("x-mqtt-owner").
 */
#include "mqtt_int.h"
#include "bk_admin.h"

#include <string.h>

struct recover_walk {
	struct mqtt_session *s;
	const char *exchange;
	struct mqtt_buf buf;            /* owned: filter conversions */
};

static int
recover_binding(void *arg, const struct bk_binding_view *v)
{
	struct recover_walk *w = arg;
	struct mqtt_session *s = w->s;
	struct mqtt_sub *sub;
	struct bk_str f;

	if (strcmp(v->destination_type, "queue") != 0 || strcmp(v->source, w->exchange) != 0 ||
	    !bk_str_eq_c(v->destination, s->rx->queue))
		return 0;
	/* bound by someone else with a key no MQTT filter can be: not ours */
	if (mqtt_key_to_filter(v->routing_key, &w->buf, &f) < 0)
		return 0;
	/* bindings are unique per key, so filters come out unique too */
	sub = bk_calloc(1, sizeof(*sub));
	sub->filter = bk_malloc(f.len + 1);
	memcpy(sub->filter, f.p, f.len + 1);
	sub->match = (struct bk_str){ sub->filter, f.len };
	mqtt_sub_opts_from_args(sub, v->arguments);
	sub->s = s;
	HASH_ADD_KEYPTR(hh, mqtt_session_rx(s)->subs, sub->filter, f.len, sub);
	s->rx->nsubs++;
	s->rx->nlocal++;
	return 0;
}

/* The owner kept in the session queue's arguments (arg: a char *,
 * set to a copy). */
static int
owner_of_queue(void *arg, const struct bk_queue_view *v)
{
	char **owner = arg;
	struct bk_value val;

	if (*owner == NULL && bk_table_get(v->arguments, MQTT_OWNER_ARG, &val) &&
	    val.type == BK_V_LSTR && memchr(val.u.s.p, '\0', val.u.s.len) == NULL)
		*owner = bk_strndup(val.u.s.p, val.u.s.len);
	return 0;
}

struct mqtt_session *
mqtt_session_recover(struct mqtt_listener *l, struct bk_vhost *vh, struct bk_str cid)
{
	struct recover_walk w;
	struct mqtt_session *s;
	char *cstr = bk_malloc(cid.len + 1), *name, *owner = NULL;

	memcpy(cstr, cid.p, cid.len);
	cstr[cid.len] = '\0';
	name = mqtt_session_queue_name(cstr);
	bk_free(cstr);
	if (strlen(name) != cid.len + 22 || !bk_queue_get(vh, bk_str_c(name))) {
		bk_free(name);
		return NULL;
	}
	bk_queue_inspect(vh, bk_str_c(name), owner_of_queue, &owner, NULL);
	s = mqtt_session_new(l, vh, cid, owner);
	bk_free(owner);
	mqtt_session_rx(s)->queue = name;
	s->expiry = MQTT_SESSION_NEVER;
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.exchange = l->cfg.exchange;
	bk_bindings_each(l->broker, vh, recover_binding, &w);
	mqtt_buf_fini(&w.buf);
	return s;
}

/* Session queues without a consumer, collected to be recovered. */
struct recover_all {
	struct mqtt_listener *l;
	char **vhost, **cid;            /* owned arrays of owned strings */
	size_t n, cap;
};

#define QPREFIX MQTT_SESSION_QPREFIX
#define QSUFFIX "qos1"

static int
collect_session_queue(void *arg, const struct bk_queue_view *v)
{
	struct recover_all *ra = arg;
	size_t n = strlen(v->name), pn = sizeof(QPREFIX) - 1, sn = sizeof(QSUFFIX) - 1;

	if (!v->durable || v->consumers || n <= pn + sn || strncmp(v->name, QPREFIX, pn) != 0 ||
	    strcmp(v->name + n - sn, QSUFFIX) != 0)
		return 0;
	if (ra->n == ra->cap) {
		ra->cap = ra->cap ? ra->cap * 2 : 16;
		ra->vhost = bk_realloc(ra->vhost, ra->cap * sizeof(*ra->vhost));
		ra->cid = bk_realloc(ra->cid, ra->cap * sizeof(*ra->cid));
	}
	ra->vhost[ra->n] = bk_strdup(v->vhost);
	ra->cid[ra->n] = bk_strndup(v->name + pn, n - pn - sn);
	ra->n++;
	return 0;
}

void
mqtt_session_recover_all(struct mqtt_listener *l)
{
	struct recover_all ra = { .l = l };
	struct mqtt_session *s;
	struct bk_vhost *vh;
	char *q;

	bk_queues_each(l->broker, NULL, collect_session_queue, &ra);
	for (size_t i = 0; i < ra.n; i++) {
		struct bk_str cid = bk_str_c(ra.cid[i]);

		if ((vh = bk_vhost_get(l->broker, ra.vhost[i])) != NULL) {
			q = mqtt_session_queue_name(ra.cid[i]);
			mqtt_queue_cap(l, vh, q);
			bk_free(q);
			if (l->cfg.persistent_client_expiration && !mqtt_session_find(l, vh, cid) &&
			    (s = mqtt_session_recover(l, vh, cid)))
				mqtt_session_arm_expiry(s);
		}
		bk_free(ra.vhost[i]);
		bk_free(ra.cid[i]);
	}
	if (ra.n && l->cfg.persistent_client_expiration)
		bk_info("mqtt: %zu persistent sessions from before the restart end unless "
			"their clients come back within %u s", ra.n,
			l->cfg.persistent_client_expiration);
	bk_free(ra.vhost);
	bk_free(ra.cid);
}
