/* Users, virtual hosts and permissions.
 *
 * The API's PUT /api/users/<name> replaces the whole user: tags left out are
 * cleared and a missing password clears the password. So change_password
 * re-sends the current tags, and set_user_tags re-sends the current
 * password_hash; both read the user first (which also gives rabbitmqctl's
 * "does not exist" answer, exit 67). */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 1200

/* GET /api/users/<user>; 0 with *<out>, or the exit code (67 if missing). */
static int
fetch_user(const struct ctl_opts *o, const char *user, cJSON **out)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];

	snprintf(path, sizeof(path), "/api/users/%s", ctl_url_seg(user));
	snprintf(msg, sizeof(msg), "User \"%s\" does not exist", user);
	return ctl_api(o, "GET", path, NULL, out, msg, CTL_EX_NOUSER);
}

static int
fetch_vhost(const struct ctl_opts *o, const char *vhost)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];
	cJSON *vh = NULL;
	int code;

	snprintf(path, sizeof(path), "/api/vhosts/%s", ctl_url_seg(vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", vhost);
	code = ctl_api(o, "GET", path, NULL, &vh, msg, CTL_EX_DATAERR);
	cJSON_Delete(vh);
	return code;
}

/* The user's tags as the comma-separated string PUT accepts. */
static char *
tags_string(const cJSON *user)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(user, "tags"), *t;
	size_t len = 1;
	char *s;

	if (cJSON_IsString(tags))
		return strdup(tags->valuestring);
	cJSON_ArrayForEach(t, tags)
		if (cJSON_IsString(t))
			len += strlen(t->valuestring) + 1;
	s = calloc(1, len);
	cJSON_ArrayForEach(t, tags) {
		if (!s || !cJSON_IsString(t))
			continue;
		if (s[0])
			strcat(s, ",");
		strcat(s, t->valuestring);
	}
	return s;
}

static int
put_user(const struct ctl_opts *o, const char *user, cJSON *body)
{
	char path[PATH_MAX_LEN];
	int code;

	snprintf(path, sizeof(path), "/api/users/%s", ctl_url_seg(user));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_add_user(struct ctl_opts *o)
{
	const char *user = o->args[0];
	char path[PATH_MAX_LEN];
	cJSON *body, *existing = NULL;
	int status = 0, code;

	ctl_info(o, "Adding user \"%s\" ...", user);
	snprintf(path, sizeof(path), "/api/users/%s", ctl_url_seg(user));
	code = ctl_api_status(o, "GET", path, NULL, NULL, &existing, &status);
	cJSON_Delete(existing);
	if (code != 0)
		return code;
	if (status != 404)
		return ctl_fail(CTL_EX_SOFTWARE, "User \"%s\" already exists", user);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "password", o->args[1]);
	cJSON_AddStringToObject(body, "tags", "");
	if ((code = put_user(o, user, body)) != 0)
		return code;
	ctl_info(o, "Done. Don't forget to grant the user permissions to some "
	         "virtual hosts! See 'sluicectl help set_permissions' to learn more.");
	return 0;
}

static int
cmd_delete_user(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];

	ctl_info(o, "Deleting user \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/users/%s", ctl_url_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "User \"%s\" does not exist", o->args[0]);
	return ctl_api(o, "DELETE", path, NULL, NULL, msg, CTL_EX_NOUSER);
}

static int
cmd_change_password(struct ctl_opts *o)
{
	cJSON *user = NULL, *body;
	char *tags;
	int code;

	ctl_info(o, "Changing password for user \"%s\" ...", o->args[0]);
	if ((code = fetch_user(o, o->args[0], &user)) != 0)
		return code;
	tags = tags_string(user);
	cJSON_Delete(user);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "password", o->args[1]);
	cJSON_AddStringToObject(body, "tags", tags ? tags : "");
	free(tags);
	return put_user(o, o->args[0], body);
}

static int
cmd_set_user_tags(struct ctl_opts *o)
{
	cJSON *user = NULL, *body, *v;
	char tags[4096] = "", shown[4096] = "";
	int code;

	for (int i = 1; i < o->nargs; i++) {
		if (strlen(tags) + strlen(o->args[i]) + 3 >= sizeof(tags))
			return ctl_usage_error("too many tags");
		strcat(tags, i > 1 ? "," : "");
		strcat(tags, o->args[i]);
		strcat(shown, i > 1 ? ", " : "");
		strcat(shown, o->args[i]);
	}
	ctl_info(o, "Setting tags for user \"%s\" to [%s] ...", o->args[0], shown);
	if ((code = fetch_user(o, o->args[0], &user)) != 0)
		return code;
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "tags", tags);
	/* Keep the password: re-send its hash (absent for a passwordless user). */
	v = cJSON_GetObjectItemCaseSensitive(user, "password_hash");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(body, "password_hash", v->valuestring);
	v = cJSON_GetObjectItemCaseSensitive(user, "hashing_algorithm");
	if (cJSON_IsString(v))
		cJSON_AddStringToObject(body, "hashing_algorithm", v->valuestring);
	cJSON_Delete(user);
	return put_user(o, o->args[0], body);
}

static int
cmd_set_permissions(struct ctl_opts *o)
{
	const char *user = o->args[0];
	char path[PATH_MAX_LEN];
	cJSON *u = NULL, *body;
	int code;

	ctl_info(o, "Setting permissions for user \"%s\" in vhost \"%s\" ...",
	         user, o->vhost);
	if ((code = fetch_vhost(o, o->vhost)) != 0)
		return code;
	if ((code = fetch_user(o, user, &u)) != 0)
		return code;
	cJSON_Delete(u);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "configure", o->args[1]);
	cJSON_AddStringToObject(body, "write", o->args[2]);
	cJSON_AddStringToObject(body, "read", o->args[3]);
	snprintf(path, sizeof(path), "/api/permissions/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(user));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_clear_permissions(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN];
	cJSON *u = NULL;
	int code, status = 0;

	ctl_info(o, "Clearing permissions for user \"%s\" in vhost \"%s\" ...",
	         o->args[0], o->vhost);
	if ((code = fetch_vhost(o, o->vhost)) != 0)
		return code;
	snprintf(path, sizeof(path), "/api/permissions/%s/%s",
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	code = ctl_api_status(o, "DELETE", path, NULL, NULL, NULL, &status);
	if (code != 0 || status != 404)
		return code;
	/* Nothing to clear is fine, as in rabbitmqctl; a missing user is not. */
	code = fetch_user(o, o->args[0], &u);
	cJSON_Delete(u);
	return code;
}

static int
cmd_add_vhost(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN];
	cJSON *body = cJSON_CreateObject();    /* an empty object, not no body */
	int code;

	ctl_info(o, "Adding vhost \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/vhosts/%s", ctl_url_seg(o->args[0]));
	code = ctl_api(o, "PUT", path, body, NULL, NULL, 0);
	cJSON_Delete(body);
	return code;
}

static int
cmd_delete_vhost(struct ctl_opts *o)
{
	char path[PATH_MAX_LEN], msg[PATH_MAX_LEN];

	ctl_info(o, "Deleting vhost \"%s\" ...", o->args[0]);
	snprintf(path, sizeof(path), "/api/vhosts/%s", ctl_url_seg(o->args[0]));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->args[0]);
	return ctl_api(o, "DELETE", path, NULL, NULL, msg, CTL_EX_DATAERR);
}

const struct ctl_cmd ctl_cmds_admin[] = {
	{ "add_user", cmd_add_user, 2, 2, "<username> <password>" },
	{ "delete_user", cmd_delete_user, 1, 1, "<username>" },
	{ "change_password", cmd_change_password, 2, 2, "<username> <new_password>" },
	{ "set_user_tags", cmd_set_user_tags, 1, -1, "<username> <tag> [...]" },
	{ "set_permissions", cmd_set_permissions, 4, 4,
	  "[-p <vhost>] <username> <conf> <write> <read>" },
	{ "clear_permissions", cmd_clear_permissions, 1, 1, "[-p <vhost>] <username>" },
	{ "add_vhost", cmd_add_vhost, 1, 1, "<vhost>" },
	{ "delete_vhost", cmd_delete_vhost, 1, 1, "<vhost>" },
	{ NULL, NULL, 0, 0, NULL }
};
