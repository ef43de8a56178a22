/*
 * http_api_bindings.c: /api/bindings[/VHOST[/e/SRC/(q|e)/DST[/PROPS]]].
 *
 * A binding is addressed by its "properties key" (bk_binding_props_key):
 * POST answers 201 with a Location of "DST/KEY" relative to the request,
 * as RabbitMQ does, and GET/DELETE .../KEY find the binding by walking
 * the source's bindings and comparing keys.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

cJSON *
http_binding_json(const struct bk_binding_view *v)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "source", v->source);
	cJSON_AddStringToObject(o, "vhost", v->vhost);
	s = bk_malloc((size_t)v->destination.len + 1);
	memcpy(s, v->destination.p, v->destination.len);
	s[v->destination.len] = '\0';
	cJSON_AddStringToObject(o, "destination", s);
	bk_free(s);
	cJSON_AddStringToObject(o, "destination_type", v->destination_type);
	s = bk_malloc((size_t)v->routing_key.len + 1);
	memcpy(s, v->routing_key.p, v->routing_key.len);
	s[v->routing_key.len] = '\0';
	cJSON_AddStringToObject(o, "routing_key", s);
	bk_free(s);
	cJSON_AddItemToObject(o, "arguments", http_json_table(v->arguments));
	cJSON_AddStringToObject(o, "properties_key", v->properties_key);
	return o;
}

struct filter {
	const char *source, *dest, *dest_type, *props;
	cJSON *arr;
	/* a match for props, copied for the unbind after the walk */
	bool found;
	char *rk;                       /* owned */
	uint32_t rk_len;
	uint8_t *args;                  /* owned */
	uint32_t args_len;
};

static int
each_binding(void *arg, const struct bk_binding_view *v)
{
	struct filter *f = arg;

	if (f->source && strcmp(f->source, v->source) != 0)
		return 0;
	if (f->dest && !bk_str_eq_c(v->destination, f->dest))
		return 0;
	if (f->dest_type && strcmp(f->dest_type, v->destination_type) != 0)
		return 0;
	if (f->props && strcmp(f->props, v->properties_key) != 0)
		return 0;
	if (f->arr != NULL)
		cJSON_AddItemToArray(f->arr, http_binding_json(v));
	if (f->props && !f->found) {
		f->found = true;
		f->rk = bk_malloc((size_t)v->routing_key.len + 1);
		memcpy(f->rk, v->routing_key.p, v->routing_key.len);
		f->rk_len = v->routing_key.len;
		f->args = bk_malloc((size_t)v->arguments.len + 1);
		memcpy(f->args, v->arguments.p, v->arguments.len);
		f->args_len = v->arguments.len;
	}
	return 0;
}

/* ---- the list: a copy of each binding, objects a slice at a time ---- */

/* A binding as listed, copied when the rows are taken (a binding has no
 * name to find it by later): the view's strings follow it in the block. */
struct snap {
	struct bk_binding_view v;
};

static char *
put(char **at, const void *p, size_t n)
{
	char *s = *at;

	if (n > 0)                      /* an empty table or key may have no bytes */
		memcpy(s, p, n);
	s[n] = '\0';
	*at += n + 1;
	return s;
}

static struct snap *
snap_of(const struct bk_binding_view *v)
{
	size_t n = sizeof(struct snap) + strlen(v->vhost) + strlen(v->source) +
		   v->destination.len + strlen(v->destination_type) + v->routing_key.len +
		   v->arguments.len + strlen(v->properties_key) + 7;
	struct snap *s = bk_malloc(n);
	char *at = (char *)(s + 1);

	s->v.vhost = put(&at, v->vhost, strlen(v->vhost));
	s->v.source = put(&at, v->source, strlen(v->source));
	s->v.destination = (struct bk_str){ put(&at, v->destination.p, v->destination.len),
					    v->destination.len };
	s->v.destination_type = put(&at, v->destination_type, strlen(v->destination_type));
	s->v.routing_key = (struct bk_str){ put(&at, v->routing_key.p, v->routing_key.len),
					    v->routing_key.len };
	s->v.arguments = (struct bk_table){ (const uint8_t *)put(&at, v->arguments.p,
								  v->arguments.len),
					    v->arguments.len };
	s->v.properties_key = put(&at, v->properties_key, strlen(v->properties_key));
	return s;
}

/* v's value for the sort key k: its own fields straight, a path into its
 * arguments from their table. */
static void
binding_sort_value(const struct bk_binding_view *v, const char *k, struct http_sortval *sv)
{
	const char *str = NULL;
	char *own = NULL;
	cJSON *o;

	if (k == NULL)
		return;
	if (strcmp(k, "vhost") == 0)
		str = v->vhost;
	else if (strcmp(k, "source") == 0)
		str = v->source;
	else if (strcmp(k, "destination_type") == 0)
		str = v->destination_type;
	else if (strcmp(k, "properties_key") == 0)
		str = v->properties_key;
	else if (strcmp(k, "destination") == 0 || strcmp(k, "routing_key") == 0) {
		struct bk_str b = k[0] == 'd' ? v->destination : v->routing_key;

		str = own = bk_malloc((size_t)b.len + 1);
		memcpy(own, b.p, b.len);
		own[b.len] = '\0';
	}
	if (str != NULL) {
		http_sortval_str(sv, str);
		bk_free(own);
		return;
	}
	/* Else only a path into the arguments holds a value (a binding's
	 * object has no other key; "arguments" itself is an object): the
	 * table alone is built, not the binding's object. */
	if (strncmp(k, "arguments.", 10) != 0 || v->arguments.len == 0)
		return;
	o = http_json_table(v->arguments);
	http_sortval_set(sv, http_json_path(o, k + 10));
	cJSON_Delete(o);
}

struct rows {
	struct filter f;
	struct http_listing *ls;
};

static int
each_binding_row(void *arg, const struct bk_binding_view *v)
{
	struct rows *w = arg;
	struct filter *f = &w->f;
	struct http_row *row;

	if ((f->source && strcmp(f->source, v->source) != 0) ||
	    (f->dest && !bk_str_eq_c(v->destination, f->dest)) ||
	    (f->dest_type && strcmp(f->dest_type, v->destination_type) != 0))
		return 0;
	if ((row = http_listing_admit_vhost(w->ls, v->vhost)) == NULL)
		return 0;
	row->snap = snap_of(v);
	for (int k = 0; k < 2; k++)
		binding_sort_value(v, w->ls->key[k], &row->key[k]);
	return 0;
}

static void
page_binding(struct http_req *r, const struct http_row *row, cJSON *arr)
{
	(void)r;
	cJSON_AddItemToArray(arr, http_binding_json(&((const struct snap *)row->snap)->v));
}

void
http_bindings_reply(struct http_req *r, struct bk_vhost *vh, const char *source,
		    const char *dest, const char *dest_type)
{
	struct http_listing ls;
	struct rows w = { { source, dest, dest_type, NULL, NULL, false, NULL, 0, NULL, 0 },
			  &ls };

	if (http_listing_init(&ls, r, NULL, NULL)) {
		bk_bindings_each(r->l->broker, vh, each_binding_row, &w);
		http_listing_send_page(&ls, page_binding);
	}
	http_listing_fini(&ls);
}

/* A non-administrator binds with its AMQP permissions (bk_access_bind). */
static bool
bind_allowed(struct http_req *r, struct bk_vhost *vh, const struct bk_binding_decl *d)
{
	struct bk_err err;

	return r->who == NULL || http_permitted(r, bk_access_bind(vh, r->who, d, &err), &err);
}

/* POST .../e/SRC/(q|e)/DST: bind with {"routing_key", "arguments"}. */
static void
binding_create(struct http_req *r, struct bk_vhost *vh, struct bk_binding_decl *d)
{
	struct bk_table_builder tb;
	const cJSON *args = NULL;
	const char *rk = "";
	char why[256], key[1024], dst[768], loc[2048];
	struct bk_err err;
	cJSON *body;

	if ((body = http_body_json(r)) == NULL)
		return;
	bk_tb_init(&tb);
	if (!http_json_string(r, body, "routing_key", &rk) ||
	    !http_json_object(r, body, "arguments", &args))
		goto out;
	if (strlen(rk) > 255) {
		http_reply_bad_request(r, "routing key longer than 255 bytes");
		goto out;
	}
	if (http_json_to_table(args, &tb, why, sizeof(why)) < 0) {
		http_reply_bad_request(r, "%s", why);
		goto out;
	}
	d->routing_key = bk_str_c(rk);
	d->arguments = bk_tb_view(&tb);
	if (!bind_allowed(r, vh, d) ||
	    !http_permitted(r, bk_bind(vh, d, http_owner, &err), &err))
		goto out;
	bk_binding_props_key(d->routing_key, d->arguments, key, sizeof(key));
	http_url_encode(r->seg[5], dst, sizeof(dst));
	snprintf(loc, sizeof(loc), "%s/%s", dst, key);
	http_reply_header(r, "Location", loc);
	http_reply_empty(r, 201);
out:
	bk_tb_fini(&tb);
	cJSON_Delete(body);
}

void
http_api_bindings(struct http_req *r)
{
	struct bk_binding_decl d;
	struct bk_vhost *vh = NULL;
	struct filter f;
	struct bk_err err;
	const char *dtype;

	if (r->nseg >= 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (r->nseg <= 2) {
		if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD)
			http_reply_method_not_allowed(r);
		else
			http_bindings_reply(r, vh, NULL, NULL, NULL);
		return;
	}
	if ((r->nseg != 6 && r->nseg != 7) || strcmp(r->seg[2], "e") != 0 ||
	    (strcmp(r->seg[4], "q") != 0 && strcmp(r->seg[4], "e") != 0)) {
		http_reply_not_found(r);
		return;
	}
	memset(&d, 0, sizeof(d));
	d.source = http_exchange_arg(r->seg[3]);
	d.dest = bk_str_c(r->seg[5]);
	d.dest_is_queue = strcmp(r->seg[4], "q") == 0;
	dtype = d.dest_is_queue ? "queue" : "exchange";
	if (bk_exchange_get(vh, d.source) == NULL ||
	    (d.dest_is_queue ? bk_queue_get(vh, d.dest) == NULL
			     : bk_exchange_get(vh, d.dest) == NULL)) {
		http_reply_not_found(r);
		return;
	}
	if (r->nseg == 6) {
		if (r->method == EVHTTP_REQ_POST)
			binding_create(r, vh, &d);
		else if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)
			http_bindings_reply(r, vh, d.source.p, r->seg[5], dtype);
		else
			http_reply_method_not_allowed(r);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.source = d.source.p;
	f.dest = r->seg[5];
	f.dest_type = dtype;
	f.props = r->seg[6];
	if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD)
		f.arr = cJSON_CreateArray();
	bk_bindings_each(r->l->broker, vh, each_binding, &f);
	if (!f.found) {
		cJSON_Delete(f.arr);
		http_reply_not_found(r);
	} else if (f.arr != NULL) {
		cJSON *one = cJSON_DetachItemFromArray(f.arr, 0);

		cJSON_Delete(f.arr);
		http_reply_object(r, one);
	} else if (r->method == EVHTTP_REQ_DELETE) {
		d.routing_key = (struct bk_str){ f.rk, f.rk_len };
		d.arguments = (struct bk_table){ f.args, f.args_len };
		if (bind_allowed(r, vh, &d) &&
		    http_permitted(r, bk_unbind(vh, &d, http_owner, &err), &err))
			http_reply_empty(r, 204);
	} else {
		http_reply_method_not_allowed(r);
	}
	bk_free(f.rk);
	bk_free(f.args);
}
