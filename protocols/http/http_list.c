/*
 * http_list.c: the query options of a list, as RabbitMQ's management API
 * reads them: name= (with use_regex=), sort= and sort_reverse=, page= and
 * page_size=, columns=. A paged answer is RabbitMQ's envelope:
 *
 *   {"filtered_count": 312, "item_count": 100, "items": [...],
 *    "page": 2, "page_count": 4, "page_size": 100, "total_count": 10000}
 *
 * A listing holds one row per object: its two sort keys' values, and
 * either the object already built (cJSON) or just its vhost and name for
 * a list that builds only the objects of the page it sends (queues: with
 * 10,000 of them, building every object for one page of 100 held the
 * event loop for a second). Each row's sort values are taken once when
 * the row is added, so sorting is plain value comparisons; all state
 * lives in the listing (no static variables: requests never share it).
 */
#include "http_int.h"

#include <stdlib.h>
#include <string.h>

#define NAME_FILTER_MAX 256
/* columns= is applied to every object listed, each column a lookup among
 * the object's ~40 fields: 1,900 columns ("x,x,...", within a 4 KiB
 * request target) over 5,000 queues were 0.7 s (100,000 queues: 14 s).
 * RabbitMQ's UI and rabbitmqadmin ask for a few dozen at most. */
#define COLUMNS_MAX 100
#define PAGE_SIZE_MAX 500
/* Node-octets (bk_regex_nodes) a regex name filter may spend over one
 * listing: regexec costs up to a few ns each, so at most a few tenths of
 * a second of the event loop. A tame pattern of 500 nodes over 2,000
 * names of 250 octets was half a second (100,000 such names: 23 s); a
 * filter of 10 nodes over 100,000 names of 50 octets is 50 million. */
#define FILTER_WORK_MAX 60000000u

void
http_sortval_set(struct http_sortval *sv, const cJSON *v)
{
	sv->kind = HTTP_SV_NONE;
	if (cJSON_IsNumber(v)) {
		sv->kind = HTTP_SV_NUM;
		sv->num = v->valuedouble;
	} else if (cJSON_IsString(v)) {
		sv->kind = HTTP_SV_STR;
		sv->str = bk_strdup(v->valuestring);
	}
}

void
http_sortval_str(struct http_sortval *sv, const char *s)
{
	sv->kind = s != NULL ? HTTP_SV_STR : HTTP_SV_NONE;
	sv->str = s != NULL ? bk_strdup(s) : NULL;
}

void
http_sortval_num(struct http_sortval *sv, double n)
{
	sv->kind = HTTP_SV_NUM;
	sv->num = n;
}

const cJSON *
http_json_path(const cJSON *o, const char *k)
{
	char head[128];
	const char *dot;
	size_t n;

	if (k == NULL)
		return NULL;
	while ((dot = strchr(k, '.')) != NULL && o != NULL) {
		n = (size_t)(dot - k);
		if (n >= sizeof(head))
			return NULL;
		memcpy(head, k, n);
		head[n] = '\0';
		o = cJSON_GetObjectItemCaseSensitive(o, head);
		k = dot + 1;
	}
	return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

/* Numbers by value, strings bytewise; an absent value (or null, or a
 * kind the other side does not share) sorts first. */
static int
cmp_val(const struct http_sortval *a, const struct http_sortval *b)
{
	if (a->kind != b->kind)
		return (a->kind != HTTP_SV_NONE) - (b->kind != HTTP_SV_NONE);
	if (a->kind == HTTP_SV_NUM)
		return (a->num > b->num) - (a->num < b->num);
	if (a->kind == HTTP_SV_STR)
		return strcmp(a->str, b->str);
	return 0;
}

static int
cmp_rows(const void *pa, const void *pb)
{
	const struct http_row *a = pa, *b = pb;
	int c = cmp_val(&a->key[0], &b->key[0]);

	return c != 0 ? c : cmp_val(&a->key[1], &b->key[1]);
}

/* name= and use_regex=: a case-insensitive substring, or a POSIX
 * extended regex (no match anchors implied), of each item's "name".
 * false after a 400 for a filter too long or a regex that does not
 * compile. */
static bool
name_filter_init(struct http_listing *ls)
{
	struct http_req *r = ls->r;

	ls->filter = http_query(r, "name");
	ls->use_regex = http_query_true(r, "use_regex");
	if (ls->filter != NULL && *ls->filter == '\0')
		ls->filter = NULL;
	if (ls->filter == NULL)
		return true;
	if (strlen(ls->filter) > NAME_FILTER_MAX) {
		http_reply_bad_request(r, "name filter longer than %d bytes", NAME_FILTER_MAX);
		ls->filter = NULL;
		return false;
	}
	/* Back-references make glibc's matcher exponential: an
	 * authenticated reader could stall the loop with one request. */
	for (const char *c = ls->filter; ls->use_regex && *c != '\0'; c++) {
		if (c[0] == '\\' && c[1] >= '1' && c[1] <= '9') {
			http_reply_bad_request(r, "back-references are not allowed "
					       "in the name filter");
			ls->filter = NULL;
			return false;
		}
		if (c[0] == '\\' && c[1] != '\0')
			c++;
	}
	if (ls->use_regex &&
	    bk_regcomp(&ls->re, ls->filter, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
		http_reply_bad_request(r, "invalid regular expression in name filter");
		ls->filter = NULL;
		return false;
	}
	ls->re_nodes = ls->use_regex ? bk_regex_nodes(ls->filter) : 0;
	return true;
}

/* Does name pass the regex filter? Each match is paid for from the
 * listing's budget first; past it the listing is refused (400), and
 * nothing more is admitted. */
static bool
regex_admits(struct http_listing *ls, const char *name)
{
	ls->re_work += ls->re_nodes * (strlen(name) + 1);
	if (ls->re_work > FILTER_WORK_MAX) {
		http_reply_bad_request(ls->r, "regular expression in name filter too costly "
				       "for this many objects; use a simpler one");
		ls->refused = true;
		return false;
	}
	return regexec(&ls->re, name, 0, NULL, 0) == 0;
}

/* columns=: false after a 400 for more than COLUMNS_MAX of them. */
static bool
columns_arg(struct http_req *r)
{
	const char *c = http_query(r, "columns");
	int n = 1;

	for (; c != NULL && *c != '\0'; c++)
		if (*c == ',' && ++n > COLUMNS_MAX) {
			http_reply_bad_request(r, "columns names more than %d columns",
					       COLUMNS_MAX);
			return false;
		}
	return true;
}

/* page= and page_size=: false after a 400. */
static bool
page_args(struct http_listing *ls)
{
	const char *page_s = http_query(ls->r, "page"), *ps = http_query(ls->r, "page_size");

	ls->paged = page_s != NULL;
	ls->page = 1;
	ls->page_size = 100;
	if (!ls->paged)
		return true;
	ls->page = strtol(page_s, NULL, 10);
	if (ps != NULL)
		ls->page_size = strtol(ps, NULL, 10);
	if (ls->page < 1 || ls->page_size < 1 || ls->page_size > PAGE_SIZE_MAX) {
		http_reply_bad_request(ls->r, "page and page_size must be positive "
				       "(page_size at most %d)", PAGE_SIZE_MAX);
		return false;
	}
	return true;
}

bool
http_listing_init(struct http_listing *ls, struct http_req *r, const char *key1,
		  const char *key2)
{
	const char *sort = http_query(r, "sort");

	memset(ls, 0, sizeof(*ls));
	ls->r = r;
	ls->key[0] = key1;
	ls->key[1] = key2;
	if (sort != NULL && *sort != '\0') {
		ls->key[0] = sort;
		ls->key[1] = NULL;
	}
	ls->reverse = http_query_true(r, "sort_reverse");
	return columns_arg(r) && page_args(ls) && name_filter_init(ls);
}

/* Past the caller's view (kept): count it, apply the name filter (name
 * NULL: the object has none), and give it a row. */
static struct http_row *
admit(struct http_listing *ls, bool kept, const char *name)
{
	struct http_row *row;

	/* what the caller may not see is not counted either */
	if (ls->refused || !kept)
		return NULL;
	ls->total++;
	if (ls->filter != NULL) {
		if (name == NULL)
			return NULL;
		if (ls->use_regex ? !regex_admits(ls, name) :
		    strcasestr(name, ls->filter) == NULL)
			return NULL;
	}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 64;
		ls->rows = bk_realloc(ls->rows, ls->cap * sizeof(*ls->rows));
	}
	row = &ls->rows[ls->n++];
	memset(row, 0, sizeof(*row));
	return row;
}

struct http_row *
http_listing_admit(struct http_listing *ls, const cJSON *item)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(item, "name");

	return admit(ls, !ls->refused && http_authz_keep(ls->r, item),
		     cJSON_IsString(n) ? n->valuestring : NULL);
}

struct http_row *
http_listing_admit_vhost(struct http_listing *ls, const char *vhost)
{
	return admit(ls, !ls->refused && http_authz_keep_vhost(ls->r, vhost), NULL);
}

void
http_listing_sort(struct http_listing *ls, size_t *lo, size_t *hi)
{
	size_t i, from, to;

	if (ls->key[0] != NULL && ls->n > 1)
		qsort(ls->rows, ls->n, sizeof(*ls->rows), cmp_rows);
	for (i = 0; ls->reverse && i < ls->n / 2; i++) {
		struct http_row t = ls->rows[i];

		ls->rows[i] = ls->rows[ls->n - 1 - i];
		ls->rows[ls->n - 1 - i] = t;
	}
	from = 0;
	to = ls->n;
	if (ls->paged) {
		size_t ps = (size_t)ls->page_size, pg = (size_t)(ls->page - 1);

		from = pg > ls->n / ps ? ls->n : pg * ps;       /* no overflow */
		to = ls->n - from < ps ? ls->n : from + ps;
	}
	*lo = from;
	*hi = to;
}

struct http_row *
http_listing_admit_named(struct http_listing *ls, const char *vhost, const char *name)
{
	cJSON *stub = cJSON_CreateObject();
	struct http_row *row;

	cJSON_AddStringToObject(stub, "name", name);
	cJSON_AddStringToObject(stub, "vhost", vhost);
	row = http_listing_admit(ls, stub);
	cJSON_Delete(stub);
	if (row != NULL) {
		row->vhost = bk_strdup(vhost);
		row->name = bk_strdup(name);
	}
	return row;
}

void
http_listing_send_page(struct http_listing *ls, http_page_build_fn build)
{
	cJSON *arr;
	size_t lo, hi;

	http_listing_sort(ls, &lo, &hi);
	if (http_slices_start(ls, lo, hi, build))
		return;
	arr = cJSON_CreateArray();
	for (size_t i = lo; i < hi; i++)
		build(ls->r, &ls->rows[i], arr);
	http_listing_reply(ls, arr);
}

void
http_listing_reply(struct http_listing *ls, cJSON *arr)
{
	const char *columns = http_query(ls->r, "columns");
	cJSON *out = arr, *env;

	if (columns != NULL) {
		cJSON *it;

		out = cJSON_CreateArray();
		while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL)
			cJSON_AddItemToArray(out, http_json_project(it, columns));
		cJSON_Delete(arr);
	}
	if (!ls->paged) {
		http_reply_json(ls->r, 200, out);
		return;
	}
	env = cJSON_CreateObject();
	cJSON_AddNumberToObject(env, "filtered_count", (double)ls->n);
	cJSON_AddNumberToObject(env, "item_count", cJSON_GetArraySize(out));
	cJSON_AddItemToObject(env, "items", out);
	cJSON_AddNumberToObject(env, "page", (double)ls->page);
	cJSON_AddNumberToObject(env, "page_count", (double)(ls->n == 0 ? 1 :
				(ls->n + (size_t)ls->page_size - 1) / (size_t)ls->page_size));
	cJSON_AddNumberToObject(env, "page_size", (double)ls->page_size);
	cJSON_AddNumberToObject(env, "total_count", (double)ls->total);
	http_reply_json(ls->r, 200, env);
}

void
http_listing_fini(struct http_listing *ls)
{
	for (size_t i = 0; i < ls->n; i++) {
		struct http_row *row = &ls->rows[i];

		cJSON_Delete(row->item);
		bk_free(row->vhost);
		bk_free(row->name);
		bk_free(row->snap);
		for (int k = 0; k < 2; k++)
			if (row->key[k].kind == HTTP_SV_STR)
				bk_free(row->key[k].str);
	}
	bk_free(ls->rows);
	if (ls->filter != NULL && ls->use_regex)
		regfree(&ls->re);
	memset(ls, 0, sizeof(*ls));
}

void
http_reply_list(struct http_req *r, cJSON *arr, const char *key1, const char *key2)
{
	struct http_listing ls;
	struct http_row *row;
	size_t lo, hi;
	cJSON *it;

	if (!http_listing_init(&ls, r, key1, key2)) {
		http_listing_fini(&ls);
		cJSON_Delete(arr);
		return;
	}
	while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL) {
		if ((row = http_listing_admit(&ls, it)) == NULL) {
			cJSON_Delete(it);
			continue;
		}
		row->item = it;
		for (int k = 0; k < 2; k++)
			http_sortval_set(&row->key[k], http_json_path(it, ls.key[k]));
	}
	http_listing_sort(&ls, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		cJSON_AddItemToArray(arr, ls.rows[i].item);
		ls.rows[i].item = NULL;
	}
	http_listing_reply(&ls, arr);
	http_listing_fini(&ls);
}
