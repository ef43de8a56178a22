/*
 * http_api_params.c: /api/parameters[/COMPONENT[/VHOST[/NAME]]],
 * /api/global-parameters[/NAME] and /api/cluster-name, as a RabbitMQ
 * node without the plugins that own runtime parameters answers them.
 *
 * Runtime parameters belong to components (federation-upstream,
 * shovel, ...) that Sluice does not have: lists are empty, a parameter
 * is 404, and setting one is RabbitMQ's 400 for a component that is not
 * there ("Validation failed\n\ncomponent federation-upstream not
 * found\n"), so rabbitmqadmin and definitions tools see a broker
 * without those plugins rather than an unknown resource.
 *
 * The one global parameter is cluster_name, the node name (as
 * /api/overview's cluster_name); it and /api/cluster-name are read-only
 * here: a write is 405.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

static bool
is_read(const struct http_req *r)
{
	return r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;
}

void
http_api_parameters(struct http_req *r)
{
	if (r->nseg >= 3 && http_vhost_arg(r, 2) == NULL)
		return;                         /* 404 sent */
	if (r->nseg > 4) {
		http_reply_not_found(r);
		return;
	}
	if (r->nseg == 4 && r->method == EVHTTP_REQ_PUT) {
		char why[300];

		/* RabbitMQ's escaping of the component name is not needed:
		 * the reason is JSON-encoded as it is */
		if (strlen(r->seg[1]) > 200) {
			http_reply_bad_request(r, "component name too long");
			return;
		}
		snprintf(why, sizeof(why), "Validation failed\n\ncomponent %s not found\n",
			 r->seg[1]);
		http_reply_error(r, 400, "bad_request", why);
		return;
	}
	if (r->nseg == 4) {                     /* GET or DELETE of one */
		if (is_read(r) || r->method == EVHTTP_REQ_DELETE)
			http_reply_not_found(r);
		else
			http_reply_method_not_allowed(r);
		return;
	}
	if (!is_read(r)) {
		http_reply_method_not_allowed(r);
		return;
	}
	http_reply_list(r, cJSON_CreateArray(), "vhost", "name");
}

static cJSON *
cluster_name_param(struct http_req *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", "cluster_name");
	cJSON_AddStringToObject(o, "value", r->l->node);
	return o;
}

void
http_api_global_parameters(struct http_req *r)
{
	cJSON *arr;

	if (!is_read(r)) {
		http_reply_method_not_allowed(r);
		return;
	}
	if (r->nseg == 1) {
		arr = cJSON_CreateArray();
		cJSON_AddItemToArray(arr, cluster_name_param(r));
		http_reply_list(r, arr, "name", NULL);
	} else if (r->nseg == 2 && strcmp(r->seg[1], "cluster_name") == 0) {
		http_reply_object(r, cluster_name_param(r));
	} else {
		http_reply_not_found(r);
	}
}

void
http_api_cluster_name(struct http_req *r)
{
	cJSON *o;

	if (r->nseg != 1) {
		http_reply_not_found(r);
		return;
	}
	if (!is_read(r)) {
		http_reply_method_not_allowed(r);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", r->l->node);
	http_reply_json(r, 200, o);
}
