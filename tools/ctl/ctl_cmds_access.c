/* Topic permissions and limits, with rabbitmqctl's arguments, banners and
 * columns:
 *
 *   set_topic_permissions [-p <vhost>] <username> <exchange> <write> <read>
 *   clear_topic_permissions [-p <vhost>] <username> [<exchange>]
 *   list_topic_permissions [-p <vhost>]        user exchange write read
 *   list_user_topic_permissions <username>     vhost exchange write read
 *   set_user_limits <username> <definition>    merged into the user's
 *   clear_user_limits <username> <limit>|all
 *   list_user_limits [--global] [<username>]   user limits
 *   set_vhost_limits [-p <vhost>] <definition> replaces the vhost's
 *   clear_vhost_limits [-p <vhost>]
 *   list_vhost_limits [-p <vhost>] [--global]  vhost limits
 *
 * over /api/topic-permissions, /api/user-limits and /api/vhost-limits. A
 * definition is a JSON object: '{"max-connections": 10}'. rabbitmqctl
 * names the user of list_user_limits with --user, which is sluicectl's
 * login option: here it is the positional argument. */
#include "ctl.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define PATH_LEN 1200

static const struct ctl_column tperm_cols[] = {
	{ "user", NULL, CTL_COL_PLAIN },
	{ "vhost", NULL, CTL_COL_PLAIN },
	{ "exchange", NULL, CTL_COL_PLAIN },
	{ "write", NULL, CTL_COL_PLAIN },
	{ "read", NULL, CTL_COL_PLAIN },
	{ NULL, NULL, 0 },
};

/* GET <path> (404: <msg>, exit <nf>) and print <names> of each row. */
static int
list_rows(struct ctl_opts *o, const struct ctl_column *cols, const char *path,
          const char **names, const char *msg, int nf)
{
	cJSON *rows = NULL;
	int n = 0, code;

	while (names[n])
		n++;
	code = ctl_api(o, "GET", path, NULL, &rows, msg, nf);
	if (code == 0 && cJSON_IsArray(rows))
		ctl_print_table(o, cols, names, n, rows);
	else if (code == 0)
		code = ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from %s", path);
	cJSON_Delete(rows);
	return code;
}

/* GET /api/<kind>/<name>: 0 when it exists, else the exit code with
 * rabbitmqctl's message. */
static int
exists(struct ctl_opts *o, bool user, const char *name)
{
	char path[PATH_LEN], msg[PATH_LEN];
	cJSON *v = NULL;
	int code;

	snprintf(path, sizeof(path), "/api/%s/%s", user ? "users" : "vhosts",
	         ctl_url_seg(name));
	snprintf(msg, sizeof(msg), user ? "User \"%s\" does not exist"
	                                : "Virtual host '%s' does not exist", name);
	code = ctl_api(o, "GET", path, NULL, &v, msg, user ? CTL_EX_NOUSER : CTL_EX_DATAERR);
	cJSON_Delete(v);
	return code;
}

/* The vhost (-p) and the user both exist: 0, or the exit code. */
static int
vhost_and_user(struct ctl_opts *o, const char *user)
{
	int code = exists(o, false, o->vhost);

	return code != 0 ? code : exists(o, true, user);
}

static int
cmd_set_topic_permissions(struct ctl_opts *o)
{
	char path[PATH_LEN];
	cJSON *body;
	int code;

	ctl_info(o, "Setting topic permissions on \"%s\" for user \"%s\" in vhost \"%s\" ...",
	         o->args[1], o->args[0], o->vhost);
	if ((code = vhost_and_user(o, o->args[0])) != 0)
		return code;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "exchange", o->args[1]);
	cJSON_AddStringToObject(body, "write", o->args[2]);
	cJSON_AddStringToObject(body, "read", o->args[3]);
	snprintf(path, sizeof(path), "/api/topic-permissions/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_clear_topic_permissions(struct ctl_opts *o)
{
	char path[PATH_LEN];
	int code, status = 0;

	if (o->nargs == 2)
		ctl_info(o, "Clearing topic permissions on \"%s\" for user \"%s\" in vhost "
		         "\"%s\" ...", o->args[1], o->args[0], o->vhost);
	else
		ctl_info(o, "Clearing topic permissions for user \"%s\" in vhost \"%s\" ...",
		         o->args[0], o->vhost);
	if ((code = vhost_and_user(o, o->args[0])) != 0)
		return code;
	snprintf(path, sizeof(path), "/api/topic-permissions/%s/%s%s%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]), o->nargs == 2 ? "/" : "",
	         o->nargs == 2 ? ctl_url_seg(o->args[1]) : "");
	/* nothing to clear is fine, as in rabbitmqctl */
	return ctl_api_status(o, "DELETE", path, NULL, NULL, NULL, &status);
}

static int
cmd_list_topic_permissions(struct ctl_opts *o)
{
	static const char *names[] = { "user", "exchange", "write", "read", NULL };
	char path[PATH_LEN], msg[PATH_LEN];

	ctl_info(o, "Listing topic permissions for vhost \"%s\" ...", o->vhost);
	snprintf(path, sizeof(path), "/api/vhosts/%s/topic-permissions",
	         ctl_url_seg(o->vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	return list_rows(o, tperm_cols, path, names, msg, CTL_EX_DATAERR);
}

static int
cmd_list_user_topic_permissions(struct ctl_opts *o)
{
	static const char *names[] = { "vhost", "exchange", "write", "read", NULL };
	char path[PATH_LEN], msg[PATH_LEN];

	ctl_info(o, "Listing topic permissions for user \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/users/%s/topic-permissions",
	         ctl_url_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "User \"%s\" does not exist", o->args[0]);
	return list_rows(o, tperm_cols, path, names, msg, CTL_EX_NOUSER);
}

/* ---- limits ------------------------------------------------------------- */

static const char *const user_limits[] = { "max-connections", "max-channels", NULL };
static const char *const vhost_limits[] = { "max-connections", "max-queues", NULL };

/* PUT or DELETE /api/<kind>-limits/<name>/<limit>. */
static int
limit_call(struct ctl_opts *o, const char *kind, const char *name, const char *limit,
           const cJSON *value)
{
	char path[PATH_LEN];
	cJSON *body = NULL;
	int code, status = 0;

	snprintf(path, sizeof(path), "/api/%s-limits/%s/%s", kind, ctl_url_seg(name),
	         ctl_url_seg(limit));
	if (value == NULL)
		return ctl_api_status(o, "DELETE", path, NULL, NULL, NULL, &status);
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "value", cJSON_Duplicate(value, true));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

/* The definition argument: a JSON object, or a usage error. */
static int
definition(const char *text, cJSON **out)
{
	*out = cJSON_Parse(text);
	if (cJSON_IsObject(*out))
		return 0;
	cJSON_Delete(*out);
	return ctl_usage_error("the definition must be a JSON object, e.g. "
	                       "'{\"max-connections\": 10}'");
}

/* Set every limit of def on name; with replace, clear the others. */
static int
set_limits(struct ctl_opts *o, const char *kind, const char *name, const cJSON *def,
           const char *const *all, bool replace)
{
	const cJSON *v;
	int code = 0;

	cJSON_ArrayForEach(v, def)
		if (code == 0)
			code = limit_call(o, kind, name, v->string, v);
	for (int i = 0; replace && all[i] && code == 0; i++)
		if (!cJSON_HasObjectItem(def, all[i]))
			code = limit_call(o, kind, name, all[i], NULL);
	return code;
}

static int
cmd_set_user_limits(struct ctl_opts *o)
{
	cJSON *def;
	int code;

	ctl_info(o, "Setting user limits to \"%s\" for user \"%s\" ...", o->args[1],
	         o->args[0]);
	if ((code = definition(o->args[1], &def)) != 0)
		return code;
	if ((code = exists(o, true, o->args[0])) == 0)
		code = set_limits(o, "user", o->args[0], def, user_limits, false);
	cJSON_Delete(def);
	return code;
}

static int
cmd_clear_user_limits(struct ctl_opts *o)
{
	bool all = strcmp(o->args[1], "all") == 0;
	cJSON *none = cJSON_CreateObject();
	int code;

	if (all)
		ctl_info(o, "Clearing all limits for user \"%s\" ...", o->args[0]);
	else
		ctl_info(o, "Clearing \"%s\" limit for user \"%s\" ...", o->args[1],
		         o->args[0]);
	if ((code = exists(o, true, o->args[0])) == 0)
		code = all ? set_limits(o, "user", o->args[0], none, user_limits, true)
		           : limit_call(o, "user", o->args[0], o->args[1], NULL);
	cJSON_Delete(none);
	return code;
}

static int
cmd_set_vhost_limits(struct ctl_opts *o)
{
	cJSON *def;
	int code;

	ctl_info(o, "Setting vhost limits to \"%s\" for vhost \"%s\" ...", o->args[0],
	         o->vhost);
	if ((code = definition(o->args[0], &def)) != 0)
		return code;
	if ((code = exists(o, false, o->vhost)) == 0)
		code = set_limits(o, "vhost", o->vhost, def, vhost_limits, true);
	cJSON_Delete(def);
	return code;
}

static int
cmd_clear_vhost_limits(struct ctl_opts *o)
{
	cJSON *none = cJSON_CreateObject();
	int code;

	ctl_info(o, "Clearing vhost \"%s\" limits ...", o->vhost);
	if ((code = exists(o, false, o->vhost)) == 0)
		code = set_limits(o, "vhost", o->vhost, none, vhost_limits, true);
	cJSON_Delete(none);
	return code;
}

static const struct ctl_column limit_cols[] = {
	{ "user", NULL, CTL_COL_PLAIN },
	{ "vhost", NULL, CTL_COL_PLAIN },
	{ "limits", NULL, CTL_COL_PLAIN },
	{ NULL, NULL, 0 },
};

/* GET path; print "<key> limits" rows with the limits as compact JSON. */
static int
list_limits(struct ctl_opts *o, const char *path, const char *key, const char *msg,
            int nf)
{
	const char *names[] = { key, "limits", NULL };
	cJSON *rows = NULL, *row;
	int code = ctl_api(o, "GET", path, NULL, &rows, msg, nf);

	if (code == 0 && !cJSON_IsArray(rows))
		code = ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from %s", path);
	if (code != 0) {
		cJSON_Delete(rows);
		return code;
	}
	cJSON_ArrayForEach(row, rows) {
		char *js = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(row, "value"));

		cJSON_AddStringToObject(row, "limits", js ? js : "{}");
		cJSON_free(js);
	}
	ctl_print_table(o, limit_cols, names, 2, rows);
	cJSON_Delete(rows);
	return 0;
}

static int
cmd_list_user_limits(struct ctl_opts *o)
{
	char path[PATH_LEN], msg[PATH_LEN];

	if (o->nargs == 0 || o->global) {
		ctl_info(o, "Listing limits for all users ...");
		return list_limits(o, "/api/user-limits", "user", NULL, 0);
	}
	ctl_info(o, "Listing limits for user \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/user-limits/%s", ctl_url_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "User \"%s\" does not exist", o->args[0]);
	return list_limits(o, path, "user", msg, CTL_EX_NOUSER);
}

static int
cmd_list_vhost_limits(struct ctl_opts *o)
{
	char path[PATH_LEN], msg[PATH_LEN];

	if (o->global) {
		ctl_info(o, "Listing limits for all vhosts ...");
		return list_limits(o, "/api/vhost-limits", "vhost", NULL, 0);
	}
	ctl_info(o, "Listing limits for vhost \"%s\" ...", o->vhost);
	snprintf(path, sizeof(path), "/api/vhost-limits/%s", ctl_url_seg(o->vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	return list_limits(o, path, "vhost", msg, CTL_EX_DATAERR);
}

const struct ctl_cmd ctl_cmds_access[] = {
	{ "set_topic_permissions", cmd_set_topic_permissions, 4, 4,
	  "[-p <vhost>] <username> <exchange> <write> <read>" },
	{ "clear_topic_permissions", cmd_clear_topic_permissions, 1, 2,
	  "[-p <vhost>] <username> [<exchange>]" },
	{ "list_topic_permissions", cmd_list_topic_permissions, 0, 0, "[-p <vhost>]" },
	{ "list_user_topic_permissions", cmd_list_user_topic_permissions, 1, 1,
	  "<username>" },
	{ "set_user_limits", cmd_set_user_limits, 2, 2, "<username> <definition>" },
	{ "clear_user_limits", cmd_clear_user_limits, 2, 2, "<username> <limit>|all" },
	{ "list_user_limits", cmd_list_user_limits, 0, 1, "[--global] [<username>]" },
	{ "set_vhost_limits", cmd_set_vhost_limits, 1, 1, "[-p <vhost>] <definition>" },
	{ "clear_vhost_limits", cmd_clear_vhost_limits, 0, 0, "[-p <vhost>]" },
	{ "list_vhost_limits", cmd_list_vhost_limits, 0, 0, "[-p <vhost>] [--global]" },
	{ NULL, NULL, 0, 0, NULL }
};
