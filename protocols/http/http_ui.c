/*
 * http_ui.c: the management UI: "/" (and /index.html) is the page, and
 * /ui/NAME its scripts and style sheet, all compiled in from
 * protocols/http/ui/ (gen_ui.py), so the broker needs no files at run
 * time and the page loads nothing from elsewhere.
 *
 * The files are served without a login: the page asks for credentials
 * with its own form and sends them with every API call (basic auth,
 * never in a URL). The Content-Security-Policy allows scripts and styles
 * from this origin only (no inline script, no eval), API calls to this
 * origin only, and no framing.
 */
#include "http_int.h"
#include "http_ui.h"

#include <string.h>

static const struct http_ui_file *
ui_find(const char *name)
{
	for (size_t i = 0; i < http_ui_nfiles; i++)
		if (strcmp(http_ui_files[i].name, name) == 0)
			return &http_ui_files[i];
	return NULL;
}

bool
http_ui_serve(struct http_req *r)
{
	const struct http_ui_file *f = NULL;

	if (r->nseg == 0 || (r->nseg == 1 && strcmp(r->seg[0], "index.html") == 0))
		f = ui_find("index.html");
	else if (r->nseg == 2 && strcmp(r->seg[0], "ui") == 0 &&
		 strcmp(r->seg[1], "index.html") != 0)
		f = ui_find(r->seg[1]);
	if (f == NULL) {
		if (r->nseg >= 1 && strcmp(r->seg[0], "ui") == 0) {
			http_reply_not_found(r);
			return true;
		}
		return false;
	}
	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		http_reply_method_not_allowed(r);
		return true;
	}
	http_reply_header(r, "Content-Security-Policy",
			  "default-src 'none'; script-src 'self'; style-src 'self'; "
			  "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
			  "frame-ancestors 'none'; base-uri 'none'");
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_reply_header(r, "X-Frame-Options", "DENY");
	http_reply_header(r, "Referrer-Policy", "no-referrer");
	http_reply_text(r, 200, f->type, (const char *)f->data, f->len);
	return true;
}
