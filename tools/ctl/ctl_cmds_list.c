/* The list_* commands: rabbitmqctl's column names mapped onto the fields of
 * the management API's objects. Columns are given as arguments (separate or
 * comma-separated); the defaults are rabbitmqctl's. A column the API leaves
 * out prints empty (null in JSON), as rabbitmqctl prints an unknown value. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 64

static const struct ctl_column queue_cols[] = {
	{ "name", NULL, 0 }, { "vhost", NULL, 0 }, { "type", NULL, 0 },
	{ "durable", NULL, 0 }, { "auto_delete", NULL, 0 },
	{ "exclusive", NULL, 0 }, { "arguments", NULL, CTL_COL_ARGS },
	{ "policy", NULL, 0 }, { "effective_policy_definition", NULL, 0 },
	{ "owner_pid", "owner_pid_details.name", 0 },
	{ "exclusive_consumer_tag", NULL, 0 },
	{ "messages", NULL, CTL_COL_COUNT }, { "messages_ready", NULL, CTL_COL_COUNT },
	{ "messages_unacknowledged", NULL, CTL_COL_COUNT },
	{ "messages_ram", NULL, CTL_COL_COUNT }, { "messages_ready_ram", NULL, CTL_COL_COUNT },
	{ "messages_unacknowledged_ram", NULL, CTL_COL_COUNT },
	{ "messages_persistent", NULL, CTL_COL_COUNT }, { "message_bytes", NULL, CTL_COL_COUNT },
	{ "message_bytes_ready", NULL, CTL_COL_COUNT },
	{ "message_bytes_unacknowledged", NULL, CTL_COL_COUNT },
	{ "message_bytes_ram", NULL, CTL_COL_COUNT }, { "message_bytes_persistent", NULL, CTL_COL_COUNT },
	{ "head_message_timestamp", NULL, 0 },
	{ "consumers", NULL, CTL_COL_COUNT }, { "consumer_utilisation", NULL, 0 },
	{ "consumer_capacity", NULL, 0 }, { "memory", NULL, 0 },
	{ "state", NULL, 0 }, { "node", NULL, 0 },
	{ "single_active_consumer_tag", NULL, 0 },
	{ NULL, NULL, 0 }
};
static const char *queue_defaults[] = { "name", "messages", NULL };

static const struct ctl_column exchange_cols[] = {
	{ "name", NULL, 0 }, { "vhost", NULL, 0 }, { "type", NULL, 0 },
	{ "durable", NULL, 0 }, { "auto_delete", NULL, 0 },
	{ "internal", NULL, 0 }, { "arguments", NULL, CTL_COL_ARGS },
	{ "policy", NULL, 0 }, { NULL, NULL, 0 }
};
static const char *exchange_defaults[] = { "name", "type", NULL };

static const struct ctl_column binding_cols[] = {
	{ "source_name", "source", 0 },
	{ "source_kind", NULL, CTL_COL_CONST_EXCHANGE },
	{ "destination_name", "destination", 0 },
	{ "destination_kind", "destination_type", 0 },
	{ "routing_key", NULL, 0 }, { "arguments", NULL, CTL_COL_ARGS },
	{ "vhost", NULL, 0 }, { "properties_key", NULL, 0 }, { NULL, NULL, 0 }
};
static const char *binding_defaults[] = { "source_name", "source_kind",
	"destination_name", "destination_kind", "routing_key", "arguments", NULL };

static const struct ctl_column conn_cols[] = {
	{ "name", NULL, 0 }, { "pid", "name", 0 }, { "user", NULL, 0 },
	{ "vhost", NULL, 0 }, { "peer_host", NULL, 0 }, { "peer_port", NULL, 0 },
	{ "host", NULL, 0 }, { "port", NULL, 0 }, { "state", NULL, 0 },
	{ "channels", NULL, CTL_COL_COUNT }, { "protocol", NULL, 0 }, { "type", NULL, 0 },
	{ "node", NULL, 0 }, { "auth_mechanism", NULL, 0 },
	{ "user_who_performed_action", NULL, 0 },
	{ "timeout", NULL, 0 }, { "frame_max", NULL, 0 },
	{ "channel_max", NULL, 0 }, { "client_properties", NULL, 0 },
	{ "recv_oct", NULL, 0 }, { "recv_cnt", NULL, 0 },
	{ "send_oct", NULL, 0 }, { "send_cnt", NULL, 0 },
	{ "send_pend", NULL, 0 }, { "connected_at", NULL, 0 },
	{ "ssl", NULL, 0 }, { NULL, NULL, 0 }
};
static const char *conn_defaults[] = { "user", "peer_host", "peer_port",
	"state", NULL };

static const struct ctl_column channel_cols[] = {
	{ "pid", "name", 0 }, { "name", NULL, 0 },
	{ "connection", "connection_details.name", 0 },
	{ "number", NULL, 0 }, { "user", NULL, 0 }, { "vhost", NULL, 0 },
	{ "transactional", NULL, 0 }, { "confirm", NULL, 0 },
	{ "consumer_count", NULL, CTL_COL_COUNT }, { "messages_unacknowledged", NULL, CTL_COL_COUNT },
	{ "messages_uncommitted", NULL, CTL_COL_COUNT }, { "acks_uncommitted", NULL, CTL_COL_COUNT },
	{ "messages_unconfirmed", NULL, CTL_COL_COUNT }, { "prefetch_count", NULL, 0 },
	{ "global_prefetch_count", NULL, 0 }, { "state", NULL, 0 },
	{ NULL, NULL, 0 }
};
static const char *channel_defaults[] = { "pid", "user", "consumer_count",
	"messages_unacknowledged", NULL };

static const struct ctl_column consumer_cols[] = {
	{ "queue_name", "queue.name", 0 },
	{ "channel_pid", "channel_details.name", 0 },
	{ "connection_name", "channel_details.connection_name", 0 },
	{ "consumer_tag", NULL, 0 }, { "ack_required", NULL, 0 },
	{ "prefetch_count", NULL, 0 }, { "active", NULL, 0 },
	{ "activity_status", NULL, 0 }, { "exclusive", NULL, 0 },
	{ "arguments", NULL, CTL_COL_ARGS }, { NULL, NULL, 0 }
};
static const char *consumer_defaults[] = { "queue_name", "channel_pid",
	"consumer_tag", "ack_required", "prefetch_count", "active", "arguments",
	NULL };

/* /api/stream/consumers: stream consumers, named ones with their lag */
static const struct ctl_column stream_consumer_cols[] = {
	{ "queue_name", "queue.name", 0 }, { "consumer_name", NULL, 0 },
	{ "subscription_id", NULL, 0 }, { "connection_name", "connection_details.name", 0 },
	{ "active", NULL, 0 }, { "offset", NULL, 0 }, { "committed_offset", NULL, 0 },
	{ "last_offset", NULL, 0 }, { "offset_lag", NULL, 0 }, { "lag_seconds", NULL, 0 },
	{ "credits", NULL, 0 }, { NULL, NULL, 0 }
};
static const char *stream_consumer_defaults[] = { "queue_name", "consumer_name",
	"subscription_id", "active", "committed_offset", "last_offset", "offset_lag",
	"lag_seconds", NULL };

static const struct ctl_column user_cols[] = {
	{ "user", "name", 0 }, { "tags", NULL, CTL_COL_TAGS }, { NULL, NULL, 0 }
};
static const char *user_defaults[] = { "user", "tags", NULL };

static const struct ctl_column vhost_cols[] = {
	{ "name", NULL, 0 }, { "description", NULL, 0 },
	{ "tags", NULL, CTL_COL_TAGS }, { "tracing", NULL, 0 },
	{ "default_queue_type", NULL, 0 }, { "cluster_state", NULL, 0 },
	{ NULL, NULL, 0 }
};
static const char *vhost_defaults[] = { "name", NULL };

static const struct ctl_column perm_cols[] = {
	{ "user", NULL, 0 }, { "configure", NULL, 0 }, { "write", NULL, 0 },
	{ "read", NULL, 0 }, { "vhost", NULL, 0 }, { NULL, NULL, 0 }
};
static const char *perm_defaults[] = { "user", "configure", "write", "read",
	NULL };

/* Fills <names> from the arguments ("a b" or "a,b") or the defaults.
 * <store> keeps the split copies alive; the caller frees it. */
static int
pick_columns(const struct ctl_opts *o, const struct ctl_column *cols,
             const char **defaults, const char **names, int *n, char **store)
{
	char bad[512] = "";

	*n = 0;
	*store = NULL;
	if (o->nargs == 0) {
		while (defaults[*n]) {
			names[*n] = defaults[*n];
			(*n)++;
		}
		return 0;
	}
	{
		size_t total = 1;

		for (int i = 0; i < o->nargs; i++)
			total += strlen(o->args[i]) + 1;
		*store = calloc(1, total);
		if (!*store)
			return ctl_fail(CTL_EX_SOFTWARE, "out of memory");
	}
	char *p = *store;

	for (int i = 0; i < o->nargs; i++) {
		char *save = NULL, *tok;

		strcpy(p, o->args[i]);
		for (tok = strtok_r(p, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (!ctl_column_find(cols, tok)) {
				if (strlen(bad) + strlen(tok) + 3 < sizeof(bad)) {
					if (bad[0])
						strcat(bad, ", ");
					strcat(bad, tok);
				}
				continue;
			}
			if (*n < MAX_COLS)
				names[(*n)++] = tok;
		}
		p += strlen(o->args[i]) + 1;
	}
	if (bad[0])
		return ctl_usage_error("Info key(s) %s are not supported", bad);
	return 0;
}

static int
list(struct ctl_opts *o, const struct ctl_column *cols, const char **defaults,
     const char *path)
{
	const char *names[MAX_COLS];
	char *store;
	cJSON *rows = NULL;
	int n, code;

	if ((code = pick_columns(o, cols, defaults, names, &n, &store)) != 0)
		goto out;
	code = ctl_api(o, "GET", path, NULL, &rows, NULL, 0);
	if (code != 0)
		goto out;
	if (!cJSON_IsArray(rows)) {
		code = ctl_fail(CTL_EX_SOFTWARE, "the management API answered %s "
		                "with something other than a JSON array", path);
		goto out;
	}
	ctl_print_table(o, cols, names, n, rows);
out:
	cJSON_Delete(rows);
	free(store);
	return code;
}

/* Lists scoped to one vhost: a missing vhost is rabbitmqctl's no_such_vhost. */
static int
list_in_vhost(struct ctl_opts *o, const struct ctl_column *cols,
              const char **defaults, const char *what)
{
	char path[1200], msg[1200];
	cJSON *vh = NULL;
	int code;

	snprintf(path, sizeof(path), "/api/vhosts/%s", ctl_url_seg(o->vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	code = ctl_api(o, "GET", path, NULL, &vh, msg, CTL_EX_DATAERR);
	cJSON_Delete(vh);
	if (code != 0)
		return code;
	snprintf(path, sizeof(path), "/api/%s/%s", what, ctl_url_seg(o->vhost));
	return list(o, cols, defaults, path);
}

/* Validates the requested columns before any info line, as rabbitmqctl does. */
static int
check_columns(const struct ctl_opts *o, const struct ctl_column *cols,
              const char **defaults)
{
	const char *names[MAX_COLS];
	char *store;
	int n, code = pick_columns(o, cols, defaults, names, &n, &store);

	free(store);
	return code;
}

#define CHECK_COLUMNS(cols, defaults) do { \
		int c_ = check_columns(o, cols, defaults); \
		if (c_ != 0) \
			return c_; \
	} while (0)

static int
cmd_list_queues(struct ctl_opts *o)
{
	CHECK_COLUMNS(queue_cols, queue_defaults);
	ctl_info(o, "Timeout: %.1f seconds ...", o->timeout_ms / 1000.0);
	ctl_info(o, "Listing queues for vhost %s ...", o->vhost);
	return list_in_vhost(o, queue_cols, queue_defaults, "queues");
}

static int
cmd_list_exchanges(struct ctl_opts *o)
{
	CHECK_COLUMNS(exchange_cols, exchange_defaults);
	ctl_info(o, "Listing exchanges for vhost %s ...", o->vhost);
	return list_in_vhost(o, exchange_cols, exchange_defaults, "exchanges");
}

static int
cmd_list_bindings(struct ctl_opts *o)
{
	CHECK_COLUMNS(binding_cols, binding_defaults);
	ctl_info(o, "Listing bindings for vhost %s...", o->vhost);
	return list_in_vhost(o, binding_cols, binding_defaults, "bindings");
}

static int
cmd_list_consumers(struct ctl_opts *o)
{
	CHECK_COLUMNS(consumer_cols, consumer_defaults);
	ctl_info(o, "Listing consumers in vhost %s ...", o->vhost);
	return list_in_vhost(o, consumer_cols, consumer_defaults, "consumers");
}

static int
cmd_list_stream_consumers(struct ctl_opts *o)
{
	CHECK_COLUMNS(stream_consumer_cols, stream_consumer_defaults);
	ctl_info(o, "Listing stream consumers in vhost %s ...", o->vhost);
	return list_in_vhost(o, stream_consumer_cols, stream_consumer_defaults,
			     "stream/consumers");
}

static int
cmd_list_connections(struct ctl_opts *o)
{
	CHECK_COLUMNS(conn_cols, conn_defaults);
	ctl_info(o, "Listing connections ...");
	return list(o, conn_cols, conn_defaults, "/api/connections");
}

static int
cmd_list_channels(struct ctl_opts *o)
{
	CHECK_COLUMNS(channel_cols, channel_defaults);
	ctl_info(o, "Listing channels ...");
	return list(o, channel_cols, channel_defaults, "/api/channels");
}

static int
cmd_list_users(struct ctl_opts *o)
{
	CHECK_COLUMNS(user_cols, user_defaults);
	ctl_info(o, "Listing users ...");
	return list(o, user_cols, user_defaults, "/api/users");
}

static int
cmd_list_vhosts(struct ctl_opts *o)
{
	CHECK_COLUMNS(vhost_cols, vhost_defaults);
	ctl_info(o, "Listing vhosts ...");
	return list(o, vhost_cols, vhost_defaults, "/api/vhosts");
}

/* A listing with fixed columns whose scope object (vhost or user) may be
 * missing: <msg> and <nf_code> are the 404 answer. */
static int
list_fixed(struct ctl_opts *o, const char *path, const char **names,
           const char *msg, int nf_code)
{
	cJSON *rows = NULL;
	int n = 0, code;

	while (names[n])
		n++;
	code = ctl_api(o, "GET", path, NULL, &rows, msg, nf_code);
	if (code == 0 && cJSON_IsArray(rows))
		ctl_print_table(o, perm_cols, names, n, rows);
	else if (code == 0)
		code = ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from %s", path);
	cJSON_Delete(rows);
	return code;
}

static int
cmd_list_permissions(struct ctl_opts *o)
{
	char path[1200], msg[1200];

	ctl_info(o, "Listing permissions for vhost \"%s\" ...", o->vhost);
	snprintf(path, sizeof(path), "/api/vhosts/%s/permissions",
	         ctl_url_seg(o->vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	return list_fixed(o, path, perm_defaults, msg, CTL_EX_DATAERR);
}

static int
cmd_list_user_permissions(struct ctl_opts *o)
{
	static const char *names[] = { "vhost", "configure", "write", "read", NULL };
	char path[1200], msg[1200];

	ctl_info(o, "Listing permissions for user \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/users/%s/permissions",
	         ctl_url_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "User \"%s\" does not exist", o->args[0]);
	return list_fixed(o, path, names, msg, CTL_EX_NOUSER);
}

int ctl_cmd_status(struct ctl_opts *o);

const struct ctl_cmd ctl_cmds_list[] = {
	{ "status", ctl_cmd_status, 0, 0, "" },
	{ "list_queues", cmd_list_queues, 0, -1, "[-p <vhost>] [<column> ...]" },
	{ "list_exchanges", cmd_list_exchanges, 0, -1, "[-p <vhost>] [<column> ...]" },
	{ "list_bindings", cmd_list_bindings, 0, -1, "[-p <vhost>] [<column> ...]" },
	{ "list_connections", cmd_list_connections, 0, -1, "[<column> ...]" },
	{ "list_channels", cmd_list_channels, 0, -1, "[<column> ...]" },
	{ "list_consumers", cmd_list_consumers, 0, -1, "[-p <vhost>] [<column> ...]" },
	{ "list_stream_consumers", cmd_list_stream_consumers, 0, -1,
	  "[-p <vhost>] [<column> ...]" },
	{ "list_users", cmd_list_users, 0, -1, "[<column> ...]" },
	{ "list_vhosts", cmd_list_vhosts, 0, -1, "[<column> ...]" },
	{ "list_permissions", cmd_list_permissions, 0, 0, "[-p <vhost>]" },
	{ "list_user_permissions", cmd_list_user_permissions, 1, 1, "<username>" },
	{ NULL, NULL, 0, 0, NULL }
};
