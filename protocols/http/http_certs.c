/*
 * http_certs.c: which TLS listeners serve a certificate that expires
 * within a period, for /api/health/checks/certificate-expiration/N/UNIT,
 * as RabbitMQ's check reads them: every certificate of the listener's
 * certificate file and of its CA file, read from disk now (what a reload
 * would serve). One entry per listener with a certificate that expires
 * before now + period, is not yet valid, or cannot be read:
 *
 *   {"node": "sluice@host", "protocol": "amqp/ssl", "interface": "0.0.0.0",
 *    "port": 5671, "certfile": "/etc/sluice/server.pem",
 *    "cacertfile": "/etc/sluice/ca.pem",
 *    "certfile_expires_on": ["2026-12-08 9:05:03"],
 *    "cacertfile_expires_on": []}
 *
 * Dates are UTC in RabbitMQ's format (hour not zero-padded). A file that
 * cannot be read or holds no certificate gives {"error": "why"} in place
 * of its list; a certificate not valid yet gives "Certificate is not yet
 * valid" in it.
 */
#include "http_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

/* A certificate time as seconds since the epoch; false if unreadable. */
static bool
cert_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return false;
	*out = timegm(&tm);
	return true;
}

static cJSON *
date_json(time_t t)
{
	struct tm tm;
	char buf[40];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%d-%02d-%02d %d:%02d:%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return cJSON_CreateString(buf);
}

static cJSON *
error_json(const char *why)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", why);
	return o;
}

/*
 * What in file path expires before limit (or is not valid at now): a
 * JSON array, or {"error": ...}; *bad is set when it is not an empty
 * array. NULL path: an empty array.
 */
static cJSON *
file_expiries(const char *path, time_t now, time_t limit, bool *bad)
{
	cJSON *list = cJSON_CreateArray();
	BIO *in;
	X509 *x;
	int n = 0;

	if (path == NULL)
		return list;
	errno = 0;
	if ((in = BIO_new_file(path, "r")) == NULL) {
		int e = errno ? errno : EIO;

		ERR_clear_error();
		cJSON_Delete(list);
		*bad = true;
		return error_json(strerror(e));
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		time_t from, until;

		n++;
		if (cert_time(X509_get0_notBefore(x), &from) && from > now)
			cJSON_AddItemToArray(list, cJSON_CreateString("Certificate is not yet valid"));
		else if (!cert_time(X509_get0_notAfter(x), &until))
			cJSON_AddItemToArray(list, cJSON_CreateString("Unreadable expiry date"));
		else if (until < limit)
			cJSON_AddItemToArray(list, date_json(until));
		X509_free(x);
	}
	ERR_clear_error();                      /* the end of the file reads as an error */
	BIO_free(in);
	if (n == 0) {
		cJSON_Delete(list);
		*bad = true;
		return error_json("The certificate file provided does not contain any PEM entry.");
	}
	*bad = *bad || cJSON_GetArraySize(list) > 0;
	return list;
}

struct scan {
	const char *node;
	time_t now, limit;
	cJSON *out;
};

static int
scan_listener(void *arg, const struct net_listener_view *v)
{
	struct scan *s = arg;
	const char *cert, *ca;
	cJSON *c, *a, *o;
	bool bad = false;

	if (!v->tls || v->ctx == NULL)
		return 0;
	net_tls_files(v->ctx, &cert, &ca);
	c = file_expiries(cert, s->now, s->limit, &bad);
	a = file_expiries(ca, s->now, s->limit, &bad);
	if (!bad) {
		cJSON_Delete(c);
		cJSON_Delete(a);
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "node", s->node);
	cJSON_AddStringToObject(o, "protocol", v->protocol);
	cJSON_AddStringToObject(o, "interface", v->bind);
	cJSON_AddNumberToObject(o, "port", v->port);
	cJSON_AddItemToObject(o, "certfile", cert ? cJSON_CreateString(cert) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "cacertfile", ca ? cJSON_CreateString(ca) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "certfile_expires_on", c);
	cJSON_AddItemToObject(o, "cacertfile_expires_on", a);
	cJSON_AddItemToArray(s->out, o);
	return 0;
}

cJSON *
http_certs_expiring(struct http_req *r, double seconds)
{
	struct scan s = { r->l->node, time(NULL), 0, cJSON_CreateArray() };

	if (seconds > 1e15)                     /* beyond any certificate */
		seconds = 1e15;
	else if (seconds < -1e15)
		seconds = -1e15;
	s.limit = s.now + (time_t)seconds;
	if (r->l->net != NULL)
		net_listeners_each(r->l->net, scan_listener, &s);
	return s.out;
}
