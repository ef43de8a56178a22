/*
 * http_dashboard.c: the live dashboard at "/" (and /index.html).
 *
 * The page (dashboard.html, compiled in by gen_dashboard.py) is static:
 * it asks for credentials itself (a login form, or ?user=&pass= for
 * scripted checks) and polls /api/overview, /api/queues and
 * /api/connections with basic auth, so serving it needs no login.
 * No external resources: the chart is the page's own canvas code.
 */
#include "http_int.h"

extern const unsigned char http_dashboard_html[];
extern const size_t http_dashboard_html_len;

void
http_dashboard(struct http_req *r)
{
	if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_HEAD) {
		http_reply_method_not_allowed(r);
		return;
	}
	http_reply_header(r, "Content-Security-Policy",
			  "default-src 'self'; script-src 'unsafe-inline'; "
			  "style-src 'unsafe-inline'");
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_reply_text(r, 200, "text/html; charset=utf-8",
			(const char *)http_dashboard_html, http_dashboard_html_len);
}
