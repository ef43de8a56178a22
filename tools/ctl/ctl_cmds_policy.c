/* Policies and operator policies, with rabbitmqctl's arguments, banners,
 * columns and errors:
 *
 *   set_policy [-p <vhost>] [--priority <n>] [--apply-to <kind>]
 *              <name> <pattern> <definition>
 *   clear_policy [-p <vhost>] <name>
 *   list_policies [-p <vhost>]      vhost name pattern apply-to definition priority
 *
 * and set_operator_policy / clear_operator_policy / list_operator_policies
 * the same way, over /api/policies and /api/operator-policies. Listings come
 * sorted by priority, lowest first, as rabbitmqctl prints them; the
 * definition is one line of JSON (a JSON string with --formatter json).
 * The API's validation failures and "Parameter does not exist" exit 70, as
 * rabbitmqctl's do. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LEN 1200

static const struct ctl_column policy_cols[] = {
	{ "vhost", NULL, CTL_COL_PLAIN },
	{ "name", NULL, CTL_COL_PLAIN },
	{ "pattern", NULL, CTL_COL_PLAIN },
	{ "apply-to", NULL, CTL_COL_PLAIN },
	{ "definition", NULL, CTL_COL_JSON_TEXT },
	{ "priority", NULL, CTL_COL_PLAIN },
	{ NULL, NULL, 0 },
};

/* "policies" or "operator-policies" */
static const char *
kind_path(bool op)
{
	return op ? "operator-policies" : "policies";
}

static int
set_policy(struct ctl_opts *o, bool op)
{
	const char *name = o->args[0], *pattern = o->args[1], *defn = o->args[2];
	const char *prio = o->priority ? o->priority : "0";
	char path[PATH_LEN], msg[PATH_LEN];
	cJSON *body, *d;
	int code;

	ctl_info(o, "Setting %s \"%s\" for pattern \"%s\" to \"%s\" with priority "
	         "\"%s\" for vhost \"%s\" ...", op ? "operator policy override" : "policy",
	         name, pattern, defn, prio, o->vhost);
	if (!(d = cJSON_Parse(defn)))
		return ctl_fail(CTL_EX_SOFTWARE, "JSON decoding error. Reason: "
		                "invalid JSON near '%.40s'", cJSON_GetErrorPtr()
		                ? cJSON_GetErrorPtr() : defn);
	body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "pattern", pattern);
	cJSON_AddItemToObject(body, "definition", d);
	cJSON_AddNumberToObject(body, "priority", strtod(prio, NULL));
	cJSON_AddStringToObject(body, "apply-to", o->apply_to ? o->apply_to : "all");
	snprintf(path, sizeof(path), "/api/%s/%s/%s", kind_path(op),
	         ctl_url_seg(o->vhost), ctl_url_seg(name));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	o->bad_request_code = CTL_EX_SOFTWARE;
	code = ctl_api(o, "PUT", path, body, NULL, msg, CTL_EX_DATAERR);
	cJSON_Delete(body);
	return code;
}

static int
clear_policy(struct ctl_opts *o, bool op)
{
	char path[PATH_LEN];

	ctl_info(o, "Clearing %s \"%s\" on vhost \"%s\" ...",
	         op ? "operator policy" : "policy", o->args[0], o->vhost);
	snprintf(path, sizeof(path), "/api/%s/%s/%s", kind_path(op),
	         ctl_url_seg(o->vhost), ctl_url_seg(o->args[0]));
	return ctl_api(o, "DELETE", path, NULL, NULL, "Parameter does not exist",
	               CTL_EX_SOFTWARE);
}

static int
by_priority(const void *a, const void *b)
{
	const cJSON *pa = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "priority");
	const cJSON *pb = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "priority");
	double x = cJSON_IsNumber(pa) ? pa->valuedouble : 0;
	double y = cJSON_IsNumber(pb) ? pb->valuedouble : 0;

	return (x > y) - (x < y);
}

/* <rows> re-ordered by priority (stable for equal ones: qsort is not, so
 * the API's order breaks ties through the index). */
static void
sort_rows(cJSON *rows)
{
	int n = cJSON_GetArraySize(rows);
	cJSON **v = calloc((size_t)n + 1, sizeof(*v));

	if (!v)
		return;
	for (int i = n - 1; i >= 0; i--)
		v[i] = cJSON_DetachItemFromArray(rows, i);
	for (int i = 1; i < n; i++)     /* insertion sort keeps ties in order */
		for (int j = i; j > 0 && by_priority(&v[j - 1], &v[j]) > 0; j--) {
			cJSON *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(rows, v[i]);
	free(v);
}

static int
list_policies(struct ctl_opts *o, bool op)
{
	static const char *names[] = { "vhost", "name", "pattern", "apply-to",
		"definition", "priority" };
	char path[PATH_LEN], msg[PATH_LEN];
	cJSON *rows = NULL;
	int code;

	ctl_info(o, "Listing %s for vhost \"%s\" ...",
	         op ? "operator policy overrides" : "policies", o->vhost);
	snprintf(path, sizeof(path), "/api/%s/%s", kind_path(op), ctl_url_seg(o->vhost));
	snprintf(msg, sizeof(msg), "Virtual host '%s' does not exist", o->vhost);
	if ((code = ctl_api(o, "GET", path, NULL, &rows, msg, CTL_EX_DATAERR)) != 0)
		return code;
	if (!cJSON_IsArray(rows)) {
		cJSON_Delete(rows);
		return ctl_fail(CTL_EX_SOFTWARE, "unexpected answer from %s", path);
	}
	sort_rows(rows);
	ctl_print_table(o, policy_cols, names, 6, rows);
	cJSON_Delete(rows);
	return 0;
}

static int cmd_set_policy(struct ctl_opts *o) { return set_policy(o, false); }
static int cmd_set_op_policy(struct ctl_opts *o) { return set_policy(o, true); }
static int cmd_clear_policy(struct ctl_opts *o) { return clear_policy(o, false); }
static int cmd_clear_op_policy(struct ctl_opts *o) { return clear_policy(o, true); }
static int cmd_list_policies(struct ctl_opts *o) { return list_policies(o, false); }
static int cmd_list_op_policies(struct ctl_opts *o) { return list_policies(o, true); }

const struct ctl_cmd ctl_cmds_policy[] = {
	{ "set_policy", cmd_set_policy, 3, 3, "[-p <vhost>] [--priority <priority>] "
	  "[--apply-to <apply-to>] <name> <pattern> <definition>" },
	{ "clear_policy", cmd_clear_policy, 1, 1, "[-p <vhost>] <name>" },
	{ "list_policies", cmd_list_policies, 0, 0, "[-p <vhost>] [--no-table-headers]" },
	{ "set_operator_policy", cmd_set_op_policy, 3, 3, "[-p <vhost>] "
	  "[--priority <priority>] [--apply-to <apply-to>] <name> <pattern> <definition>" },
	{ "clear_operator_policy", cmd_clear_op_policy, 1, 1, "[-p <vhost>] <name>" },
	{ "list_operator_policies", cmd_list_op_policies, 0, 0,
	  "[-p <vhost>] [--no-table-headers]" },
	{ NULL, NULL, 0, 0, NULL }
};
