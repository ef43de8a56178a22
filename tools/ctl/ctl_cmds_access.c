/* Topic permissions, with rabbitmqctl's arguments, banners and columns:
 *
 *   set_topic_permissions [-p <vhost>] <username> <exchange> <write> <read>
 *   clear_topic_permissions [-p <vhost>] <username> [<exchange>]
 *   list_topic_permissions [-p <vhost>]        user exchange write read
 *   list_user_topic_permissions <username>     vhost exchange write read
 *
 * over /api/topic-permissions, /api/vhosts/<v>/topic-permissions and
 * /api/users/<u>/topic-permissions. */
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

const struct ctl_cmd ctl_cmds_access[] = {
	{ "set_topic_permissions", cmd_set_topic_permissions, 4, 4,
	  "[-p <vhost>] <username> <exchange> <write> <read>" },
	{ "clear_topic_permissions", cmd_clear_topic_permissions, 1, 2,
	  "[-p <vhost>] <username> [<exchange>]" },
	{ "list_topic_permissions", cmd_list_topic_permissions, 0, 0, "[-p <vhost>]" },
	{ "list_user_topic_permissions", cmd_list_user_topic_permissions, 1, 1,
	  "<username>" },
	{ NULL, NULL, 0, 0, NULL }
};
