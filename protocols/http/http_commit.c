/*
 * http_commit.c: a 2xx to a change leaves once the change is on disk.
 *
 * RabbitMQ answers a management change once it is committed; here the
 * durable definitions file is written by the journal thread with the loop
 * iteration's batch (bk_defs_commit_track), so the answer is kept until
 * that write completes and the event loop never waits on the disk. A kept
 * answer holds the status, content type and body; its connection holds
 * the request (with the answer's headers) and reads no further request
 * meanwhile (http_conn_hold). A client that goes away first detaches the
 * answer (its hold.detach), which is then dropped. The listener lists
 * the kept answers, so freeing it silences their trackers first.
 */
#include "http_int.h"

#include <errno.h>
#include <string.h>

struct http_pending {
	struct http_hold hold;          /* first: what the connection holds */
	struct http_listener *l;        /* borrowed */
	struct http_conn *hc;           /* borrowed; NULL once the client left */
	struct bk_confirm *c;           /* owned */
	int code;
	bool head;
	char *ctype;                    /* owned; NULL for none */
	char *body;                     /* owned */
	size_t len;
	struct http_pending *prev, *next;   /* in l->pending */
};

static void
pending_free(struct http_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->l->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	bk_confirm_free(p->c);
	bk_free(p->ctype);
	bk_free(p->body);
	bk_free(p);
}

static void
on_durable(void *ctx, uint64_t token, int status)
{
	struct http_pending *p = ctx;

	if (p->hc == NULL)
		;                       /* the client left */
	else if (status < 0)
		http_conn_release(p->hc, 500, "application/json", HTTP_DEFS_FAILED,
				  strlen(HTTP_DEFS_FAILED));
	else
		http_conn_release(p->hc, p->code, p->ctype, p->body, p->len);
	pending_free(p);
}

/* The kept answer's connection is gone: drop the answer when it comes. */
static void
commit_detach(struct http_hold *h)
{
	((struct http_pending *)h)->hc = NULL;
}

int
http_commit_defer(struct http_req *r, int code, const char *ctype,
		  const char *body, size_t len)
{
	struct http_pending *p = bk_calloc(1, sizeof(*p));
	int rc;

	p->l = r->l;
	p->c = bk_confirm_new(r->l->broker, on_durable, p);
	rc = bk_defs_commit_track(r->l->broker, p->c, 0);
	if (rc <= 0) {
		bk_confirm_free(p->c);
		bk_free(p);
		return rc;
	}
	p->hc = r->conn;
	p->hold.detach = commit_detach;
	http_conn_hold(r->conn, &p->hold);
	p->code = code;
	p->head = r->method == EVHTTP_REQ_HEAD;
	p->ctype = ctype ? bk_strdup(ctype) : NULL;
	p->body = bk_malloc(len ? len : 1);
	if (len)
		memcpy(p->body, body, len);
	p->len = len;
	p->next = r->l->pending;
	if (p->next)
		p->next->prev = p;
	r->l->pending = p;
	return 1;
}


/* The broker stops before the write completed: answer 503 to clients
 * still there. */
void
http_commit_cancel_all(struct http_listener *l)
{
	static const char body[] = "{\"error\":\"unavailable\",\"reason\":\"shutting down\"}";

	while (l->pending != NULL) {
		struct http_pending *p = l->pending;

		if (p->hc)
			http_conn_release(p->hc, 503, "application/json", body, sizeof(body) - 1);
		pending_free(p);
	}
}
