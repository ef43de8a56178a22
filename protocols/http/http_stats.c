/*
 * http_stats.c: counters and lengths with their "_details", as RabbitMQ's
 * management API writes them.
 *
 *   "messages": 12,
 *   "messages_details": {"rate": -0.4}                       (always)
 *   "messages_details": {"rate": -0.4,                       (with a window)
 *       "samples": [{"sample": 12, "timestamp": 1700000005000}, ...],
 *       "avg_rate": -0.2, "avg": 13.5}
 *
 * rate is the change per second over the last sampling interval, from
 * the object's history (bk_hist.c). A window is asked for with
 * lengths_age & lengths_incr (queue lengths), msg_rates_age &
 * msg_rates_incr (message_stats), data_rates_age & data_rates_incr
 * (connection bytes) and node_stats_age & node_stats_incr (/api/nodes),
 * in seconds. Samples are newest first at multiples of incr: the last is
 * now rounded to incr (up for lengths, down for the rest, as RabbitMQ),
 * back to last - age; each holds the value at the latest sampler tick
 * not after it, and the list stops where the history does. avg_rate is
 * (newest - oldest) per second over the samples, avg their mean (both
 * only with two samples or more).
 */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE 500                   /* samples a window may ask for */

static const char *const win_prefix[HTTP_WIN__COUNT] = {
	[HTTP_WIN_LENGTHS] = "lengths", [HTTP_WIN_MSG_RATES] = "msg_rates",
	[HTTP_WIN_DATA_RATES] = "data_rates", [HTTP_WIN_NODE_STATS] = "node_stats",
};

/* A decimal integer query value; false when absent or not one. */
static bool
query_int(struct http_req *r, const char *key, long long *out)
{
	const char *v = http_query(r, key);
	char *end;

	if (v == NULL || *v == '\0')
		return false;
	*out = strtoll(v, &end, 10);
	return *end == '\0';
}

bool
http_ranges_parse(struct http_req *r)
{
	uint64_t now = bk_now_ms();

	for (int w = 0; w < HTTP_WIN__COUNT; w++) {
		char ka[40], ki[40], why[160];
		long long age, incr;
		uint64_t last;

		snprintf(ka, sizeof(ka), "%s_age", win_prefix[w]);
		snprintf(ki, sizeof(ki), "%s_incr", win_prefix[w]);
		if (!query_int(r, ka, &age) || !query_int(r, ki, &incr))
			continue;
		if (age <= 0 || incr <= 0 || age / incr > MAX_RANGE || age > 31622400) {
			snprintf(why, sizeof(why), "Invalid range parameters: age %lld, incr %lld",
				 age, incr);
			http_reply_error(r, 400, "invalid_range_parameters", why);
			return false;
		}
		incr *= 1000;
		last = now / (uint64_t)incr * (uint64_t)incr;
		if (w == HTTP_WIN_LENGTHS && last != now)
			last += (uint64_t)incr;
		r->range[w].set = true;
		r->range[w].incr = (uint64_t)incr;
		r->range[w].last = last;
		r->range[w].first = last - (uint64_t)age * 1000;
	}
	return true;
}

/* The sum of up to four fields of h, point by point: n points, oldest
 * first, into pts (the caller's, BK_HIST_BROKER long). */
static uint32_t
series(struct http_req *r, const struct bk_hist *h, const enum bk_hfield *f, int nf,
       struct bk_hist_point *pts)
{
	struct bk_hist_point *tmp = r->l->pts_tmp;
	uint32_t n = bk_hist_series(r->l->broker, h, f[0], pts, BK_HIST_BROKER);

	for (int k = 1; k < nf; k++) {
		uint32_t m = bk_hist_series(r->l->broker, h, f[k], tmp, BK_HIST_BROKER);

		for (uint32_t i = 0; i < n && i < m; i++)
			pts[i].v += tmp[i].v;
	}
	return n;
}

/* Per second between the last two points; 0 with fewer. Lengths may
 * fall, so the difference is signed. */
static double
last_rate(const struct bk_hist_point *p, uint32_t n)
{
	if (n < 2 || p[n - 1].at_ms <= p[n - 2].at_ms)
		return 0;
	return ((double)p[n - 1].v - (double)p[n - 2].v) * 1000.0 /
	       (double)(p[n - 1].at_ms - p[n - 2].at_ms);
}

static void
add_samples(cJSON *d, const struct http_range *rg, const struct bk_hist_point *p,
	    uint32_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(d, "samples");
	double sum = 0, newest = 0, oldest = 0;
	uint64_t t_new = 0, t_old = 0;
	uint32_t k = n, count = 0;

	for (uint64_t t = rg->last; n > 0 && t >= rg->first; t -= rg->incr) {
		cJSON *s;

		while (k > 0 && p[k - 1].at_ms > t)
			k--;
		if (k == 0)
			break;                  /* before the history */
		s = cJSON_CreateObject();
		cJSON_AddNumberToObject(s, "sample", (double)p[k - 1].v);
		cJSON_AddNumberToObject(s, "timestamp", (double)t);
		cJSON_AddItemToArray(arr, s);
		if (count++ == 0) {
			newest = (double)p[k - 1].v;
			t_new = t;
		}
		oldest = (double)p[k - 1].v;
		t_old = t;
		sum += (double)p[k - 1].v;
		if (t < rg->incr)
			break;
	}
	if (count < 2)
		return;
	cJSON_AddNumberToObject(d, "avg_rate", (newest - oldest) * 1000.0 /
				(double)(t_new - t_old));
	cJSON_AddNumberToObject(d, "avg", sum / count);
}

void
http_json_stat(struct http_req *r, cJSON *obj, const char *name, double value,
	       const struct bk_hist *h, const enum bk_hfield *f, int nf, enum http_win w)
{
	struct bk_hist_point *pts = r->l->pts;
	char key[96];
	cJSON *d;
	uint32_t n;

	cJSON_AddNumberToObject(obj, name, value);
	snprintf(key, sizeof(key), "%s_details", name);
	d = cJSON_AddObjectToObject(obj, key);
	n = h != NULL ? series(r, h, f, nf, pts) : 0;
	cJSON_AddNumberToObject(d, "rate", last_rate(pts, n));
	if (r->range[w].set)
		add_samples(d, &r->range[w], pts, n);
}

void
http_json_stat1(struct http_req *r, cJSON *obj, const char *name, double value,
		const struct bk_hist *h, enum bk_hfield f, enum http_win w)
{
	http_json_stat(r, obj, name, value, h, &f, 1, w);
}

cJSON *
http_json_msg_stats(struct http_req *r, const struct bk_msg_stats *ms,
		    const struct bk_hist *h, uint32_t mask, bool with_deliver_get)
{
	static const enum bk_hfield dg[4] = {
		BK_HF_MS + BK_MS_DELIVER, BK_HF_MS + BK_MS_DELIVER_NO_ACK,
		BK_HF_MS + BK_MS_GET, BK_HF_MS + BK_MS_GET_NO_ACK,
	};
	cJSON *o = cJSON_CreateObject();

	for (int i = 0; i < BK_MS__COUNT; i++) {
		if (!(mask & (1u << i)))
			continue;
		http_json_stat1(r, o, bk_mstat_name((enum bk_mstat)i), (double)ms->n[i], h,
				(enum bk_hfield)(BK_HF_MS + i), HTTP_WIN_MSG_RATES);
	}
	if (with_deliver_get)
		http_json_stat(r, o, "deliver_get", (double)bk_msg_stats_deliver_get(ms), h,
			       dg, 4, HTTP_WIN_MSG_RATES);
	return o;
}

void
http_json_lengths(struct http_req *r, cJSON *o, uint64_t ready, uint64_t unacked,
		  const struct bk_hist *h)
{
	static const enum bk_hfield both[2] = { BK_HF_READY, BK_HF_UNACKED };

	http_json_stat(r, o, "messages", (double)(ready + unacked), h, both, 2,
		       HTTP_WIN_LENGTHS);
	http_json_stat1(r, o, "messages_ready", (double)ready, h, BK_HF_READY,
			HTTP_WIN_LENGTHS);
	http_json_stat1(r, o, "messages_unacknowledged", (double)unacked, h, BK_HF_UNACKED,
			HTTP_WIN_LENGTHS);
}
