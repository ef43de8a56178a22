/* Queues, topology helpers, messages and connections: purge_queue,
 * delete_queue, declare_queue, declare_exchange, declare_binding, publish,
 * get and close_connection. The default exchange ("") is "amq.default" in
 * API paths, as RabbitMQ's management API names it. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 1400

static const char *
exchange_seg(const char *name)
{
	return ctl_url_seg(name[0] ? name : "amq.default");
}

/* Parses --arguments/--properties: a JSON object, or NULL with an error. */
static int
parse_object(const char *text, const char *opt, cJSON **out)
{
	*out = cJSON_Parse(text ? text : "{}");
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return ctl_usage_error("%s must be a JSON object, got '%s'", opt, text);
	}
	return 0;
}

static void
queue_not_found(char *msg, size_t len, const char *queue, const char *vhost)
{
	snprintf(msg, len, "NOT_FOUND - no queue '%s' in vhost '%s'", queue, vhost);
}

static int
cmd_purge_queue(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];

	ctl_info(o, "Purging queue '%s' in vhost '%s' ...", o->args[0], o->vhost);
	snprintf(path, sizeof(path), "/api/queues/%s/%s/contents",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	queue_not_found(msg, sizeof(msg), o->args[0], o->vhost);
	return ctl_api(o, "DELETE", path, NULL, NULL, msg, CTL_EX_DATAERR);
}

static int
cmd_delete_queue(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];
	cJSON *q = NULL;
	const cJSON *ready;
	double n = 0;
	int code;

	ctl_info(o, "Deleting queue '%s' on vhost '%s' ...", o->args[0], o->vhost);
	snprintf(path, sizeof(path), "/api/queues/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	queue_not_found(msg, sizeof(msg), o->args[0], o->vhost);
	/* rabbitmqctl reports how many ready messages went with the queue. */
	if ((code = ctl_api(o, "GET", path, NULL, &q, msg, CTL_EX_DATAERR)) != 0)
		return code;
	ready = cJSON_GetObjectItemCaseSensitive(q, "messages_ready");
	if (cJSON_IsNumber(ready))
		n = ready->valuedouble;
	cJSON_Delete(q);
	if (o->if_empty || o->if_unused)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "?%s%s%s",
		         o->if_empty ? "if-empty=true" : "",
		         o->if_empty && o->if_unused ? "&" : "",
		         o->if_unused ? "if-unused=true" : "");
	if ((code = ctl_api(o, "DELETE", path, NULL, NULL, msg, CTL_EX_DATAERR)) != 0)
		return code;
	ctl_info(o, "Queue was successfully deleted with %.0f ready messages", n);
	return 0;
}

static int
cmd_declare_queue(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN];
	cJSON *body, *args;
	int code;

	if ((code = parse_object(o->arguments, "--arguments", &args)) != 0)
		return code;
	ctl_info(o, "Declaring queue '%s' in vhost '%s' ...", o->args[0], o->vhost);
	body = cJSON_CreateObject();
	cJSON_AddBoolToObject(body, "durable", o->durable);
	cJSON_AddBoolToObject(body, "auto_delete", o->auto_delete);
	cJSON_AddItemToObject(body, "arguments", args);
	snprintf(path, sizeof(path), "/api/queues/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_declare_exchange(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN];
	cJSON *body, *args;
	int code;

	if ((code = parse_object(o->arguments, "--arguments", &args)) != 0)
		return code;
	ctl_info(o, "Declaring exchange '%s' of type '%s' in vhost '%s' ...",
	         o->args[0], o->args[1], o->vhost);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "type", o->args[1]);
	cJSON_AddBoolToObject(body, "durable", o->durable);
	cJSON_AddBoolToObject(body, "auto_delete", o->auto_delete);
	cJSON_AddBoolToObject(body, "internal", o->internal);
	cJSON_AddItemToObject(body, "arguments", args);
	snprintf(path, sizeof(path), "/api/exchanges/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_delete_exchange(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];

	ctl_info(o, "Deleting exchange '%s' in vhost '%s' ...", o->args[0], o->vhost);
	snprintf(path, sizeof(path), "/api/exchanges/%s/%s%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]),
	         o->if_unused ? "?if-unused=true" : "");
	snprintf(msg, sizeof(msg), "NOT_FOUND - no exchange '%s' in vhost '%s'",
	         o->args[0], o->vhost);
	return ctl_api(o, "DELETE", path, NULL, NULL, msg, CTL_EX_DATAERR);
}

static int
cmd_declare_binding(struct ctl_opts *o)
{
	const char *dtype = o->dest_type ? o->dest_type : "queue";
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];
	cJSON *body, *args;
	int code;

	if (strcmp(dtype, "queue") != 0 && strcmp(dtype, "exchange") != 0)
		return ctl_usage_error("--destination-type must be queue or exchange");
	if ((code = parse_object(o->arguments, "--arguments", &args)) != 0)
		return code;
	ctl_info(o, "Binding %s '%s' to exchange '%s' in vhost '%s' ...", dtype,
	         o->args[1], o->args[0], o->vhost);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "routing_key", o->nargs > 2 ? o->args[2] : "");
	cJSON_AddItemToObject(body, "arguments", args);
	snprintf(path, sizeof(path), "/api/bindings/%s/e/%s/%c/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]), dtype[0],
	         ctl_url_seg(o->args[1]));
	snprintf(msg, sizeof(msg), "NOT_FOUND - no exchange '%s' or %s '%s' in "
	         "vhost '%s'", o->args[0], dtype, o->args[1], o->vhost);
	code = ctl_api(o, "POST", path, body, NULL, msg, CTL_EX_DATAERR);
	cJSON_Delete(body);
	return code;
}

static int
cmd_publish(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];
	cJSON *body, *props, *res = NULL;
	const cJSON *routed;
	int code;

	if ((code = parse_object(o->properties, "--properties", &props)) != 0)
		return code;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "properties", props);
	cJSON_AddStringToObject(body, "routing_key", o->args[1]);
	cJSON_AddStringToObject(body, "payload", o->args[2]);
	cJSON_AddStringToObject(body, "payload_encoding", "string");
	snprintf(path, sizeof(path), "/api/exchanges/%s/%s/publish",
	         ctl_url_seg(o->vhost), exchange_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "NOT_FOUND - no exchange '%s' in vhost '%s'",
	         o->args[0], o->vhost);
	code = ctl_api(o, "POST", path, body, &res, msg, CTL_EX_DATAERR);
	cJSON_Delete(body);
	if (code != 0)
		goto out;
	routed = cJSON_GetObjectItemCaseSensitive(res, "routed");
	if (o->format == CTL_FMT_JSON)
		printf("{\"routed\":%s}\n", cJSON_IsTrue(routed) ? "true" : "false");
	else if (!o->silent)
		puts(cJSON_IsTrue(routed) ? "Message published"
		                          : "Message published but NOT routed");
out:
	cJSON_Delete(res);
	return code;
}

static const struct ctl_column get_cols[] = {
	{ "routing_key", NULL, 0 }, { "exchange", NULL, 0 },
	{ "message_count", NULL, 0 }, { "payload", NULL, 0 },
	{ "payload_bytes", NULL, 0 }, { "payload_encoding", NULL, 0 },
	{ "redelivered", NULL, 0 }, { "properties", NULL, 0 },
	{ NULL, NULL, 0 }
};

static int
cmd_get(struct ctl_opts *o)
{
	static const char *names[] = { "routing_key", "exchange", "message_count",
		"payload", "payload_bytes", "payload_encoding", "redelivered" };
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN], *end;
	cJSON *body, *res = NULL;
	long count = 1;
	int code;

	if (o->nargs > 1) {
		count = strtol(o->args[1], &end, 10);
		if (*end || count < 1 || count > 100000)
			return ctl_usage_error("COUNT must be a positive number, got '%s'",
			                       o->args[1]);
	}
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "count", (double)count);
	cJSON_AddStringToObject(body, "ackmode", o->ackmode ? o->ackmode
	                        : o->ack ? "ack_requeue_false" : "ack_requeue_true");
	cJSON_AddStringToObject(body, "encoding", "auto");
	snprintf(path, sizeof(path), "/api/queues/%s/%s/get",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	queue_not_found(msg, sizeof(msg), o->args[0], o->vhost);
	code = ctl_api(o, "POST", path, body, &res, msg, CTL_EX_DATAERR);
	cJSON_Delete(body);
	if (code == 0 && !cJSON_IsArray(res))
		code = ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from %s", path);
	if (code == 0)
		ctl_print_table(o, get_cols, names, 7, res);
	cJSON_Delete(res);
	return code;
}

static int
cmd_close_connection(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], hdr[1200], msg[PATH_MAX_LEN];

	ctl_info(o, "Closing connection %s, reason: %s...", o->args[0], o->args[1]);
	snprintf(path, sizeof(path), "/api/connections/%s", ctl_url_seg(o->args[0]));
	/* The reason travels in a header: keep it on one line. */
	snprintf(hdr, sizeof(hdr), "X-Reason: %s", o->args[1]);
	for (char *p = hdr; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	snprintf(msg, sizeof(msg), "connection '%s' not found", o->args[0]);
	{
		int status = 0, code;

		code = ctl_api_status(o, "DELETE", path, NULL, hdr, NULL, &status);
		if (code == 0 && status == 404)
			code = ctl_fail(CTL_EX_DATAERR, "%s", msg);
		return code;
	}
}

const struct ctl_cmd ctl_cmds_queue[] = {
	{ "purge_queue", cmd_purge_queue, 1, 1, "[-p <vhost>] <queue>" },
	{ "delete_queue", cmd_delete_queue, 1, 1,
	  "[-p <vhost>] <queue> [--if-empty] [--if-unused]" },
	{ "declare_queue", cmd_declare_queue, 1, 1,
	  "[-p <vhost>] <queue> [--durable] [--auto-delete] [--arguments <json>]" },
	{ "declare_exchange", cmd_declare_exchange, 2, 2,
	  "[-p <vhost>] <exchange> <type> [--durable] [--auto-delete] [--internal] "
	  "[--arguments <json>]" },
	{ "delete_exchange", cmd_delete_exchange, 1, 1,
	  "[-p <vhost>] <exchange> [--if-unused]" },
	{ "declare_binding", cmd_declare_binding, 2, 3,
	  "[-p <vhost>] <source> <destination> [<routing_key>] "
	  "[--destination-type queue|exchange] [--arguments <json>]" },
	{ "publish", cmd_publish, 3, 3,
	  "[-p <vhost>] <exchange> <routing_key> <payload> [--properties <json>]" },
	{ "get", cmd_get, 1, 2,
	  "[-p <vhost>] <queue> [<count>] [--ack | --ackmode <mode>]" },
	{ "close_connection", cmd_close_connection, 2, 2, "<connection_name> <reason>" },
	{ NULL, NULL, 0, 0, NULL }
};
