/*
 * sl_topology_policy.c: [policy NAME] and [operator_policy NAME] sections
 * of sluice.conf, the file's form of `rabbitmqctl set_policy`:
 *
 *   [policy ttl-and-dlx]
 *   vhost = /                        (default "/")
 *   pattern = ^orders\.              (required; a regular expression)
 *   apply_to = queues                (all, queues, classic_queues,
 *                                     quorum_queues, streams, exchanges)
 *   priority = 1                     (default 0)
 *   definition.message-ttl = 60000   (one key per line, typed as RabbitMQ
 *   definition.dead-letter-exchange = dlx   wants it: integers for the
 *                                     numeric keys; int:/str:/bool: force)
 *   definition = {"max-length": 1000}   (or the whole definition as JSON)
 *
 * Keys are collected here (step 1 of sl_topology.h); the values are
 * checked by the core when the section is applied at start
 * (sl_topology_apply.c), with the section's FILE:LINE in front of
 * RabbitMQ's reason. Nothing here calls the core.
 */
#include "sl_topology.h"
#include "sl_text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Definition keys whose values are integers (RabbitMQ's validators). */
static bool
int_key(const char *k)
{
	static const char *const ints[] = {
		"message-ttl", "expires", "max-length", "max-length-bytes",
		"delivery-limit", "max-in-memory-length", "max-in-memory-bytes",
		"initial-cluster-size", "stream-max-segment-size-bytes", "queue-version",
	};

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (strcmp(k, ints[i]) == 0)
			return true;
	return false;
}

static cJSON *
defn(struct sl_topo_obj *o)
{
	if (o->definition == NULL)
		o->definition = cJSON_CreateObject();
	return o->definition;
}

/* definition.KEY = [int:|str:|bool:]VALUE */
static int
def_key(struct sl_topo_obj *o, const char *k, const char *v, char *why, size_t whylen)
{
	char type;
	int64_t i;
	bool b;

	if (*k == '\0' || cJSON_HasObjectItem(defn(o), k)) {
		sl_errf(why, whylen, "%s: definition key '%s' %s", o->header, k,
			*k ? "given twice" : "is empty");
		return -EINVAL;
	}
	type = sl_type_prefix(&v, int_key(k) ? 'i' : 's');
	if (type == 'i' && !sl_parse_int(v, &i)) {
		sl_errf(why, whylen, "invalid value '%s' for definition.%s in %s: "
			"expected an integer", v, k, o->header);
		return -EINVAL;
	}
	if (type == 'b' && !sl_parse_bool(v, &b)) {
		sl_errf(why, whylen, "invalid value '%s' for definition.%s in %s: "
			"expected true or false", v, k, o->header);
		return -EINVAL;
	}
	if (type == 'i')
		cJSON_AddNumberToObject(o->definition, k, (double)i);
	else if (type == 'b')
		cJSON_AddBoolToObject(o->definition, k, b);
	else
		cJSON_AddStringToObject(o->definition, k, v);
	return 0;
}

/* definition = {JSON}: its members join the definition. */
static int
def_json(struct sl_topo_obj *o, const char *v, char *why, size_t whylen)
{
	cJSON *doc = cJSON_Parse(v), *it;

	if (!cJSON_IsObject(doc)) {
		cJSON_Delete(doc);
		sl_errf(why, whylen, "invalid value for definition in %s: expected a "
			"JSON object such as {\"message-ttl\": 60000}", o->header);
		return -EINVAL;
	}
	while ((it = doc->child) != NULL) {
		cJSON_DetachItemViaPointer(doc, it);
		if (cJSON_HasObjectItem(defn(o), it->string)) {
			sl_errf(why, whylen, "%s: definition key '%s' given twice",
				o->header, it->string);
			cJSON_Delete(it);
			cJSON_Delete(doc);
			return -EINVAL;
		}
		cJSON_AddItemToObject(o->definition, it->string, it);
	}
	cJSON_Delete(doc);
	return 0;
}

static void
set_str(char **slot, const char *v)
{
	bk_free(*slot);
	*slot = bk_strdup(v);
}

int
sl_topo_policy_key(struct sl_topo_obj *o, const char *key, const char *value,
		   char *why, size_t whylen)
{
	if (strncmp(key, "definition.", 11) == 0)
		return def_key(o, key + 11, value, why, whylen);
	if (strcmp(key, "definition") == 0)
		return def_json(o, value, why, whylen);
	if (strcmp(key, "pattern") == 0) {
		set_str(&o->pattern, value);
		return 0;
	}
	if (strcmp(key, "apply_to") == 0 || strcmp(key, "apply-to") == 0) {
		set_str(&o->apply_to, value);
		return 0;
	}
	if (strcmp(key, "priority") == 0) {
		if (sl_parse_int(value, &o->priority))
			return 0;
		sl_errf(why, whylen, "invalid value '%s' for priority in %s: expected "
			"an integer", value, o->header);
		return -EINVAL;
	}
	return 1;
}
