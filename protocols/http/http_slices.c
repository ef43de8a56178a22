/*
 * http_slices.c: a long unpaged list answered in slices.
 *
 * GET /api/queues without page= over 100,000 queues built and printed
 * every queue's object in one go: 1.9 s of the core thread per request,
 * during which no message moved, and about 300 MB of cJSON nodes at once
 * (/api/bindings over 300,000 bindings: 0.4 s). A user with the
 * management tag and its own vhost could repeat it without end. Lists of
 * queues, exchanges, bindings and consumers go through here. A listing of more than SLICE_ROWS rows is now built
 * SLICE_ROWS objects per event-loop iteration, printed into one buffer,
 * and the answer leaves once the last slice is in (so its Content-Length
 * is known, as before). The rows (vhost, name, sort values) are taken
 * and sorted at the request, as for a page, and each object is built
 * when its slice comes: the list is no longer one instant's. An object
 * deleted before its slice is left out (a vhost deleted meanwhile: the
 * rest of its queues), one declared meanwhile is not listed, and a list
 * sorted by a figure that changes (messages) shows the order of the
 * request's instant with the figures of each slice's.
 *
 * The connection is held meanwhile (http_conn_hold), reading no further
 * request, and the job counts as a full answer towards its user's unsent
 * answers: that user's other requests wait until the list is sent, so
 * one user builds one long list at a time, as before. A client that goes
 * away detaches the job, which stops at its next slice. When the broker
 * stops, the client gets a 503 at once (conn_shutdown) and the job ends
 * the same way; the listener's teardown frees what is left.
 */
#include "http_int.h"
#include "bk_utf8.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

/* About 5 ms of the core thread per slice for queues (18 us each). */
#define SLICE_ROWS 256

struct http_slices {
	struct http_hold hold;          /* first: what the connection holds */
	struct http_listener *l;        /* borrowed */
	struct http_req *r;             /* the held connection's; NULL once it left */
	struct http_listing ls;         /* owned: the sorted rows */
	http_page_build_fn build;
	const char *columns;            /* r's columns=, copied: owned */
	size_t next, hi;                /* rows still to build */
	bool first;                     /* no item printed yet */
	struct evbuffer *out;           /* owned: the answer so far */
	struct event *ev;               /* owned: the next slice */
	struct http_slices *prev, *lnext;   /* in l->slices */
};

static void
slices_free(struct http_slices *s)
{
	if (s->prev)
		s->prev->lnext = s->lnext;
	else
		s->l->slices = s->lnext;
	if (s->lnext)
		s->lnext->prev = s->prev;
	event_free(s->ev);
	evbuffer_free(s->out);
	s->ls.filter = NULL;            /* r's, and no regex is held */
	http_listing_fini(&s->ls);
	bk_free((char *)s->columns);
	bk_free(s);
}

static void
detach(struct http_hold *h)
{
	((struct http_slices *)h)->r = NULL;
}

/* One item, as http_reply_json would have printed it within the list. */
static void
print_item(struct http_slices *s, cJSON *it)
{
	char *txt, *fixed;
	size_t len;

	if (s->columns != NULL)
		it = http_json_project(it, s->columns);
	txt = cJSON_PrintUnformatted(it);
	cJSON_Delete(it);
	if (txt == NULL)
		return;
	len = strlen(txt);
	fixed = bk_utf8_repair(txt, len, &len);
	if (!s->first)
		evbuffer_add(s->out, ",", 1);
	s->first = false;
	evbuffer_add(s->out, fixed ? fixed : txt, len);
	bk_free(fixed);
	cJSON_free(txt);
}

static void
slice(evutil_socket_t fd, short what, void *arg)
{
	struct http_slices *s = arg;
	size_t end = s->hi - s->next > SLICE_ROWS ? s->next + SLICE_ROWS : s->hi;
	cJSON *arr, *it;

	(void)fd;
	(void)what;
	if (s->r == NULL) {             /* the client left */
		slices_free(s);
		return;
	}
	arr = cJSON_CreateArray();
	for (; s->next < end; s->next++)
		s->build(s->r, &s->ls.rows[s->next], arr);     /* gone: left out */
	while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL)
		print_item(s, it);
	cJSON_Delete(arr);
	if (s->next < s->hi) {
		static const struct timeval now = { 0, 0 };

		evtimer_add(s->ev, &now);       /* after this iteration's I/O */
		return;
	}
	evbuffer_add(s->out, "]", 1);
	http_conn_release_buffer(s->r->conn, 200, "application/json", s->out);
	slices_free(s);
}

bool
http_slices_start(struct http_listing *ls, size_t lo, size_t hi,
		  http_page_build_fn build)
{
	struct http_req *r = ls->r;
	struct http_listener *l = r->l;
	const char *columns = http_query(r, "columns");
	struct http_slices *s;

	if (ls->paged || hi - lo <= SLICE_ROWS || r->answered)
		return false;
	s = bk_calloc(1, sizeof(*s));
	s->hold.detach = detach;
	s->hold.counts_full = true;
	s->hold.stop_answers = true;
	s->l = l;
	s->r = r;
	s->ls = *ls;                    /* the rows move to the job */
	memset(ls, 0, sizeof(*ls));
	if (s->ls.use_regex && s->ls.filter != NULL)
		regfree(&s->ls.re);     /* matched already */
	s->ls.use_regex = false;
	s->build = build;
	s->columns = columns != NULL ? bk_strdup(columns) : NULL;
	s->next = lo;
	s->hi = hi;
	s->first = true;
	s->out = evbuffer_new();
	evbuffer_add(s->out, "[", 1);
	s->ev = evtimer_new(l->base, slice, s);
	s->lnext = l->slices;
	if (s->lnext)
		s->lnext->prev = s;
	l->slices = s;
	r->answered = true;
	http_conn_hold(r->conn, &s->hold);
	slice(-1, 0, s);
	return true;
}

/* The listener goes: conn_shutdown answered every client already; one
 * still attached gets its 503 here (which lets go of its hold). */
void
http_slices_cancel_all(struct http_listener *l)
{
	static const char body[] = "{\"error\":\"unavailable\",\"reason\":\"shutting down\"}";

	while (l->slices != NULL) {
		struct http_slices *s = l->slices;

		if (s->r != NULL)
			http_conn_release(s->r->conn, 503, "application/json", body,
					  sizeof(body) - 1);
		slices_free(s);
	}
}
