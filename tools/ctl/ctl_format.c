/* Output as rabbitmqctl 3.13 prints it.
 *
 * TSV (the default): info lines ("Listing queues for vhost / ...") unless
 * -q/--silent, then a header row of column names (unless --silent or
 * --no-table-headers, and only when there are rows), then one tab-separated
 * row per object. Booleans print as true/false, tags as [a, b], AMQP
 * argument tables as [{"key",value}].
 *
 * JSON (--formatter json): no info lines; one JSON array, one object per
 * line, rows after the first led by a comma, exactly like rabbitmqctl. The
 * objects carry the requested columns in order; argument tables become
 * rabbitmqctl's [["key","type",value]] triples.
 *
 * Pretty tables (--formatter pretty_table) are drawn in ctl_pretty.c from
 * the same cell texts as TSV. */
#include "ctl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
ctl_info(const struct ctl_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet || o->silent || o->format == CTL_FMT_JSON)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

int
ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("Error:\n", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

const struct ctl_column *
ctl_column_find(const struct ctl_column *cols, const char *name)
{
	for (; cols->name; cols++)
		if (strcmp(cols->name, name) == 0)
			return cols;
	return NULL;
}

/* Follows a dotted path ("queue.name") into <obj>; NULL when absent. */
static const cJSON *
lookup(const cJSON *obj, const char *path)
{
	char key[128];

	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, key);
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

static void
print_number(FILE *f, double d)
{
	if (isfinite(d) && d == floor(d) && fabs(d) < 9e15)
		fprintf(f, "%.0f", d);
	else
		fprintf(f, "%g", d);
}

/* rabbitmqctl shows argument tables as Erlang-ish tuples: [{"k",v}]. */
static void value_to(FILE *f, const cJSON *v, int kind);

static void
print_args(FILE *f, const cJSON *v)
{
	const cJSON *it;
	bool first = true;

	if (cJSON_IsObject(v)) {
		fputc('[', f);
		cJSON_ArrayForEach(it, v) {
			fprintf(f, "%s{\"%s\",", first ? "" : ",", it->string);
			print_args(f, it);
			fputc('}', f);
			first = false;
		}
		fputc(']', f);
	} else if (cJSON_IsArray(v)) {
		fputc('[', f);
		cJSON_ArrayForEach(it, v) {
			if (!first)
				fputc(',', f);
			print_args(f, it);
			first = false;
		}
		fputc(']', f);
	} else if (cJSON_IsString(v)) {
		fprintf(f, "\"%s\"", v->valuestring);
	} else {
		value_to(f, v, CTL_COL_PLAIN);
	}
}

/* Tags arrive as ["a","b"] (RabbitMQ 3.9+) or as "a,b" (older). */
static cJSON *
tags_array(const cJSON *v)
{
	cJSON *arr = cJSON_CreateArray();
	const cJSON *it;

	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(it, v)
			if (cJSON_IsString(it) && it->valuestring[0])
				cJSON_AddItemToArray(arr, cJSON_CreateString(it->valuestring));
	} else if (cJSON_IsString(v)) {
		const char *p = v->valuestring;

		while (*p) {
			size_t n = strcspn(p, ",");
			char *t = strndup(p, n);

			if (t && *t)
				cJSON_AddItemToArray(arr, cJSON_CreateString(t));
			free(t);
			p += n + (p[n] == ',');
		}
	}
	return arr;
}

static void
value_to(FILE *f, const cJSON *v, int kind)
{
	if (kind == CTL_COL_TAGS) {
		cJSON *arr = tags_array(v);
		const cJSON *it;
		bool first = true;

		fputc('[', f);
		cJSON_ArrayForEach(it, arr) {
			fprintf(f, "%s%s", first ? "" : ", ", it->valuestring);
			first = false;
		}
		fputc(']', f);
		cJSON_Delete(arr);
		return;
	}
	if (kind == CTL_COL_ARGS) {
		if (!v || cJSON_IsNull(v))
			fputs("[]", f);
		else
			print_args(f, v);
		return;
	}
	if (!v || cJSON_IsNull(v)) {
		if (kind == CTL_COL_COUNT)
			fputc('0', f);
		return;
	}
	if (cJSON_IsString(v)) {
		fputs(v->valuestring, f);
	} else if (cJSON_IsBool(v)) {
		fputs(cJSON_IsTrue(v) ? "true" : "false", f);
	} else if (cJSON_IsNumber(v)) {
		print_number(f, v->valuedouble);
	} else {
		char *s = cJSON_PrintUnformatted(v);

		if (s)
			fputs(s, f);
		free(s);
	}
}

void
ctl_print_value(const cJSON *v, int kind)
{
	value_to(stdout, v, kind);
}

char *
ctl_cell_dup(const cJSON *row, const struct ctl_column *c)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (c->kind == CTL_COL_CONST_EXCHANGE)
		fputs("exchange", f);
	else
		value_to(f, lookup(row, c->path ? c->path : c->name), c->kind);
	fclose(f);
	return out;
}

static const char *
amqp_type(const cJSON *v)
{
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsNumber(v))
		return v->valuedouble == floor(v->valuedouble) ? "long" : "double";
	if (cJSON_IsObject(v))
		return "table";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsNull(v))
		return "void";
	return "longstr";
}

/* {"k": v} -> [["k","long",v]], recursively for nested tables. */
static cJSON *
args_triples(const cJSON *v)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *it;

	if (!cJSON_IsObject(v))
		return out;
	cJSON_ArrayForEach(it, v) {
		cJSON *t = cJSON_CreateArray();

		cJSON_AddItemToArray(t, cJSON_CreateString(it->string));
		cJSON_AddItemToArray(t, cJSON_CreateString(amqp_type(it)));
		cJSON_AddItemToArray(t, cJSON_IsObject(it) ? args_triples(it)
		                                           : cJSON_Duplicate(it, 1));
		cJSON_AddItemToArray(out, t);
	}
	return out;
}

static cJSON *
json_value(const cJSON *row, const struct ctl_column *c)
{
	const cJSON *v;

	if (c->kind == CTL_COL_CONST_EXCHANGE)
		return cJSON_CreateString("exchange");
	v = lookup(row, c->path ? c->path : c->name);
	if (c->kind == CTL_COL_TAGS)
		return tags_array(v);
	if (c->kind == CTL_COL_ARGS)
		return args_triples(v);
	if (c->kind == CTL_COL_COUNT && (!v || cJSON_IsNull(v)))
		return cJSON_CreateNumber(0);
	if (c->kind == CTL_COL_JSON_TEXT && v && !cJSON_IsString(v)) {
		char *s = cJSON_PrintUnformatted(v);
		cJSON *str = cJSON_CreateString(s ? s : "");

		free(s);
		return str;
	}
	return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

static void
print_json(const struct ctl_column *cols, const char **names, int nnames,
           const cJSON *rows)
{
	const cJSON *row;
	bool first = true;

	puts("[");
	cJSON_ArrayForEach(row, rows) {
		cJSON *obj = cJSON_CreateObject();
		char *s;

		for (int i = 0; i < nnames; i++) {
			const struct ctl_column *c = ctl_column_find(cols, names[i]);

			cJSON_AddItemToObject(obj, names[i], json_value(row, c));
		}
		s = cJSON_PrintUnformatted(obj);
		printf("%s%s\n", first ? "" : ",", s ? s : "{}");
		free(s);
		cJSON_Delete(obj);
		first = false;
	}
	puts("]");
}

void
ctl_print_table(const struct ctl_opts *o, const struct ctl_column *cols,
                const char **names, int nnames, const cJSON *rows)
{
	const cJSON *row;

	if (o->format == CTL_FMT_JSON) {
		print_json(cols, names, nnames, rows);
		return;
	}
	if (o->format == CTL_FMT_PRETTY) {
		ctl_print_pretty(cols, names, nnames, rows);
		return;
	}
	if (!o->silent && !o->no_headers && cJSON_GetArraySize(rows) > 0)
		for (int i = 0; i < nnames; i++)
			printf("%s%s", names[i], i + 1 < nnames ? "\t" : "\n");
	cJSON_ArrayForEach(row, rows) {
		for (int i = 0; i < nnames; i++) {
			const struct ctl_column *c = ctl_column_find(cols, names[i]);

			if (c->kind == CTL_COL_CONST_EXCHANGE)
				fputs("exchange", stdout);
			else
				ctl_print_value(lookup(row, c->path ? c->path : c->name),
				                c->kind);
			putchar(i + 1 < nnames ? '\t' : '\n');
		}
	}
}
