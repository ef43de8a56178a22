/* The HTTP client: libcurl, one easy handle per process, so every command's
 * requests share one kept-alive connection.
 *
 * What libcurl gives that the management API's users expect from
 * rabbitmqadmin: HTTPS (--ssl; the server is verified against the system's
 * CAs or --cacert; client certificates with --cert/--key), redirects
 * (at most CTL_HTTP_MAX_REDIRS, http and https only, credentials never sent
 * to another host), proxies from http_proxy/https_proxy/no_proxy.
 *
 * Every request is bounded by the caller's timeout (connect included) and
 * every answer by CTL_HTTP_MAX_BODY. Paths go out as given (already
 * percent-encoded by ctl_url_seg; "/../" is not folded). */
#include "ctl.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTL_HTTP_MAX_BODY (256u << 20)   /* definitions of a big broker fit */
#define CTL_HTTP_MAX_REDIRS 5L

static CURL *easy;                       /* created on first use */
static char errbuf[CURL_ERROR_SIZE];

struct sink {
	struct ctl_http_resp *resp;
	size_t cap;
	bool too_big;
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	struct ctl_http_resp *r = s->resp;
	size_t len = size * n;

	if (len > CTL_HTTP_MAX_BODY - r->len) {
		s->too_big = true;
		return 0;                        /* aborts the transfer */
	}
	if (r->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *p;

		while (cap < r->len + len + 1)
			cap *= 2;
		if (!(p = realloc(r->body, cap)))
			return 0;
		r->body = p;
		s->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* scheme://host:port<prefix><path>; IPv6 literals get their brackets. */
static char *
make_url(const struct ctl_opts *o, const char *path)
{
	const char *prefix = o->path_prefix ? o->path_prefix : "";
	bool v6 = strchr(o->host, ':') && o->host[0] != '[';
	size_t n = strlen(o->host) + strlen(prefix) + strlen(path) + 32;
	char *url = malloc(n);

	if (url)
		snprintf(url, n, "%s://%s%s%s:%d%s%s", o->ssl ? "https" : "http",
		         v6 ? "[" : "", o->host, v6 ? "]" : "", o->port, prefix, path);
	return url;
}

static void
set_tls(CURL *c, const struct ctl_opts *o)
{
	if (o->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert);
	if (o->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, o->key);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST,
	                 o->insecure || o->no_verify_host ? 0L : 2L);
}

/* The settings every request shares; CURLE_OK or why not. */
static CURLcode
set_common(CURL *c, const struct ctl_opts *o)
{
	long ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
	unsigned rc = CURLE_OK;            /* any failure leaves a bit set */

	rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
	rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
	rc |= curl_easy_setopt(c, CURLOPT_USERAGENT, "sluicectl");
	rc |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	rc |= curl_easy_setopt(c, CURLOPT_USERNAME, o->user);
	rc |= curl_easy_setopt(c, CURLOPT_PASSWORD, o->password);
	rc |= curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	rc |= curl_easy_setopt(c, CURLOPT_MAXREDIRS, CTL_HTTP_MAX_REDIRS);
	rc |= curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* a PUT or POST redirected by 301/302/303 keeps its method and body */
	rc |= curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
	rc |= curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
	                       (curl_off_t)CTL_HTTP_MAX_BODY);
	set_tls(c, o);
	return rc ? CURLE_UNKNOWN_OPTION : CURLE_OK;
}

static int
errno_of(CURLcode rc, const struct sink *s)
{
	if (s->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return -EMSGSIZE;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_USE_SSL_FAILED:
		return -EKEYREJECTED;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
		return -ENOMEM;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

int
ctl_http_request(const struct ctl_opts *o, const char *method,
                 const char *path, const char *body,
                 const char *extra_hdr, struct ctl_http_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	struct sink s = { .resp = resp };
	char *url = make_url(o, path);
	long status = 0;
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	errbuf[0] = '\0';
	if (!easy)
		easy = curl_easy_init();
	if (!easy || !url) {
		rc = CURLE_OUT_OF_MEMORY;
		goto out;
	}
	curl_easy_reset(easy);
	if ((rc = set_common(easy, o)) != CURLE_OK)
		goto out;
	hdrs = curl_slist_append(hdrs, "Expect:");  /* no 100-continue round trip */
	if (body || strcmp(method, "GET") != 0) {
		if (body)
			hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(body ? strlen(body) : 0));
	}
	if (extra_hdr)
		hdrs = curl_slist_append(hdrs, extra_hdr);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(easy);
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
out:
	curl_slist_free_all(hdrs);
	free(url);
	if (rc != CURLE_OK || status < 100) {
		if (rc == CURLE_OK)
			rc = CURLE_WEIRD_SERVER_REPLY;
		if (!errbuf[0])
			snprintf(errbuf, sizeof(errbuf), "%s", curl_easy_strerror(rc));
		ctl_http_resp_fini(resp);
		return errno_of(rc, &s);
	}
	resp->status = (int)status;
	return 0;
}

const char *
ctl_http_error(void)
{
	return errbuf;
}

void
ctl_http_resp_fini(struct ctl_http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

int
ctl_http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

void
ctl_http_global_fini(void)
{
	if (easy)
		curl_easy_cleanup(easy);
	easy = NULL;
	curl_global_cleanup();
}

const char *
ctl_url_seg(const char *s)
{
	static char slots[4][1024];
	static unsigned next;
	static const char hex[] = "0123456789ABCDEF";
	char *out = slots[next++ % 4];
	size_t j = 0;

	for (; s && *s && j + 4 < sizeof(slots[0]); s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = '\0';
	return out;
}
