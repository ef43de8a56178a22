/*
 * http_api_defs.c: GET and POST /api/definitions[/VHOST] in RabbitMQ's
 * definitions format (what rabbitmqadmin export/import and
 * `rabbitmqctl export_definitions` use).
 *
 * The document is the core's (bk_defs_export, bk_defs_import): export
 * lists what RabbitMQ's does (every vhost, user and permission, every
 * queue that is not exclusive, every exchange but the built-in ones,
 * every binding whose source is not the default exchange; durable or
 * not). Import checks the whole document first (400 naming the JSON
 * path), then applies vhosts, users, permissions, exchanges, queues and
 * bindings in that order through the same core calls as the
 * single-object endpoints, and stops at the first refusal with 400 and
 * the core's reason (what was applied before stays, as in RabbitMQ).
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

static cJSON *
defs_export(struct http_req *r, struct bk_vhost *vh)
{
	cJSON *doc = bk_defs_export(r->l->broker, vh, 0);

	cJSON_AddStringToObject(doc, "product_version", SLUICE_VERSION);
	return doc;
}

static void
defs_import(struct http_req *r, struct bk_vhost *vh)
{
	char why[512] = "";
	cJSON *doc;

	if ((doc = http_body_json(r)) == NULL)
		return;
	if (bk_defs_import(r->l->broker, doc, vh ? bk_vhost_name(vh) : NULL, 0, why,
			   sizeof(why)) == 0)
		http_reply_empty(r, 204);
	else
		http_reply_bad_request(r, "%s", why);
	cJSON_Delete(doc);
}

void
http_api_definitions(struct http_req *r)
{
	struct bk_vhost *vh = NULL;

	if (r->nseg > 2) {
		http_reply_not_found(r);
		return;
	}
	if (r->nseg == 2 && (vh = http_vhost_arg(r, 1)) == NULL)
		return;
	if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD) {
		const char *fn = http_query(r, "download");

		if (fn != NULL && strlen(fn) < 200 && strpbrk(fn, "\"\\\r\n") == NULL) {
			char disp[300];

			snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", fn);
			http_reply_header(r, "Content-Disposition", disp);
		}
		http_reply_json(r, 200, defs_export(r, vh));
	} else if (r->method == EVHTTP_REQ_POST) {
		defs_import(r, vh);
	} else {
		http_reply_method_not_allowed(r);
	}
}
