/* One place that turns HTTP outcomes into rabbitmqctl's exit codes and
 * "Error:" messages, so every command fails the same way:
 *
 *   cannot connect / name lookup / TLS  69 EX_UNAVAILABLE
 *   timeout                           75 EX_TEMPFAIL
 *   401, 403                          77 EX_NOPERM
 *   404                               the command's choice (65 by default)
 *   400                               65 EX_DATAERR (RabbitMQ's bad_argument)
 *   other non-2xx, malformed answer   70 EX_SOFTWARE
 *
 * The message is the API's JSON "reason" (RabbitMQ's text) when it has one.
 * A command may ask for another code on 400 (o->bad_request_code). */
#include "ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
transport_error(const struct ctl_opts *o, int rc)
{
	const char *why = ctl_http_error();

	switch (rc) {
	case -ETIMEDOUT:
		return ctl_fail(CTL_EX_TEMPFAIL, "timed out after %d ms waiting for "
		                "the management API at %s:%d", o->timeout_ms,
		                o->host, o->port);
	case -EPROTO:
	case -EMSGSIZE:
		return ctl_fail(CTL_EX_SOFTWARE, "malformed or oversized HTTP response "
		                "from %s:%d: %s", o->host, o->port, why);
	case -ELOOP:
		return ctl_fail(CTL_EX_SOFTWARE, "too many redirects from %s:%d: %s",
		                o->host, o->port, why);
	case -ENOMEM:
		return ctl_fail(CTL_EX_SOFTWARE, "%s", why);
	case -EKEYREJECTED:
		return ctl_fail(CTL_EX_UNAVAILABLE, "TLS connection to the management "
		                "API at %s:%d failed: %s", o->host, o->port, why);
	case -EHOSTUNREACH:
		return ctl_fail(CTL_EX_UNAVAILABLE, "unable to resolve host: %s", why);
	default:
		return ctl_fail(CTL_EX_UNAVAILABLE, "unable to connect to the management "
		                "API at %s:%d: %s", o->host, o->port, why);
	}
}

/* Undoes the HTML escaping the API applies to some reasons (RabbitMQ
 * escapes a refused policy's text), in place: the terminal is no browser. */
static void
unescape_html(char *s)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&#39;", '\'' },
		{ "&amp;", '&' },
	};
	char *out = s;

	while (*s) {
		size_t k, n = 0;

		for (k = 0; *s == '&' && k < sizeof(ents) / sizeof(ents[0]); k++)
			if (!strncmp(s, ents[k].ent, n = strlen(ents[k].ent)))
				break;
		if (*s == '&' && k < sizeof(ents) / sizeof(ents[0])) {
			*out++ = ents[k].c;
			s += n;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
}

/* The "reason" of an error answer; falls back to the raw body. */
static char *
reason_of(const struct ctl_http_resp *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "reason");
	char *out;

	if (!v)
		v = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsString(v) && (out = strdup(v->valuestring)))
		unescape_html(out);
	else if (v)
		out = cJSON_PrintUnformatted(v);
	else if (r->len > 0)
		out = strndup(r->body, r->len > 500 ? 500 : r->len);
	else
		out = NULL;
	cJSON_Delete(j);
	if (!out) {
		char tmp[32];

		snprintf(tmp, sizeof(tmp), "HTTP status %d", r->status);
		out = strdup(tmp);
	}
	return out;
}

static bool
is_generic_not_found(const char *reason)
{
	return strcmp(reason, "Not Found") == 0 ||
	       strcmp(reason, "vhost_not_found") == 0 ||
	       strcmp(reason, "Object Not Found") == 0 ||
	       strncmp(reason, "HTTP status", 11) == 0;
}

static int
parse_body(const struct ctl_http_resp *r, cJSON **out)
{
	if (!out)
		return 0;
	*out = NULL;
	if (r->len == 0)
		return 0;
	*out = cJSON_ParseWithLength(r->body, r->len);
	if (!*out)
		return ctl_fail(CTL_EX_SOFTWARE, "the management API answered "
		                "with malformed JSON (HTTP %d)", r->status);
	return 0;
}

static int
status_error(const struct ctl_opts *o, const struct ctl_http_resp *r,
             const char *notfound_msg, int notfound_code)
{
	char *reason = reason_of(r);
	int code;

	switch (r->status) {
	case 401:
	case 403:
		code = ctl_fail(CTL_EX_NOPERM, "%s (HTTP %d: check --user and "
		                "--password)", reason, r->status);
		break;
	case 404:
		code = ctl_fail(notfound_code ? notfound_code : CTL_EX_DATAERR, "%s",
		                notfound_msg && is_generic_not_found(reason)
		                ? notfound_msg : reason);
		break;
	case 400:
		code = ctl_fail(o->bad_request_code ? o->bad_request_code
		                                    : CTL_EX_DATAERR, "%s", reason);
		break;
	default:
		code = ctl_fail(CTL_EX_SOFTWARE, "%s (HTTP %d)", reason, r->status);
		break;
	}
	free(reason);
	return code;
}

static int
call(const struct ctl_opts *o, const char *method, const char *path,
     const cJSON *body, const char *extra_hdr, struct ctl_http_resp *r)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL;
	int rc = ctl_http_request(o, method, path, text, extra_hdr, r);

	free(text);
	return rc < 0 ? transport_error(o, rc) : 0;
}

int
ctl_api(const struct ctl_opts *o, const char *method, const char *path,
        const cJSON *body, cJSON **out, const char *notfound_msg,
        int notfound_code)
{
	struct ctl_http_resp r;
	int code;

	if (out)
		*out = NULL;
	if ((code = call(o, method, path, body, NULL, &r)) != 0)
		return code;
	if (r.status >= 200 && r.status < 300)
		code = parse_body(&r, out);
	else
		code = status_error(o, &r, notfound_msg, notfound_code);
	ctl_http_resp_fini(&r);
	return code;
}

int
ctl_api_status(const struct ctl_opts *o, const char *method,
               const char *path, const cJSON *body, const char *extra_hdr,
               cJSON **out, int *status)
{
	struct ctl_http_resp r;
	int code;

	if (out)
		*out = NULL;
	if ((code = call(o, method, path, body, extra_hdr, &r)) != 0)
		return code;
	*status = r.status;
	if (r.status >= 200 && r.status < 300)
		code = parse_body(&r, out);
	else if (r.status != 404)
		code = status_error(o, &r, NULL, 0);
	ctl_http_resp_fini(&r);
	return code;
}

int
ctl_api_check(const struct ctl_opts *o, const char *path, cJSON **out,
              bool *passed)
{
	struct ctl_http_resp r;
	int code;

	*out = NULL;
	if ((code = call(o, "GET", path, NULL, NULL, &r)) != 0)
		return code;
	*passed = r.status >= 200 && r.status < 300;
	if (*passed || r.status == 503)
		code = parse_body(&r, out);
	else
		code = status_error(o, &r, NULL, 0);
	ctl_http_resp_fini(&r);
	return code;
}
