/*
 * http_auth.c: HTTP basic auth against the broker's users.
 *
 * As RabbitMQ's management plugin: the user must log in (password, and
 * loopback-only users such as guest only from 127.0.0.0/8 or ::1) and
 * carry a management tag ("administrator", "monitoring", "management" or
 * "policymaker"; what each may do is http_authz.c's). Every refusal is 401 with
 * RabbitMQ's JSON body and a WWW-Authenticate challenge, so browsers and
 * curl know to send credentials.
 */
#include "http_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode standard base64 into out (NUL-terminated). Length or -1. */
static int
b64_decode(const char *s, char *out, size_t cap)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0, v;

	for (; *s != '\0' && *s != '='; s++) {
		if ((v = b64_val((unsigned char)*s)) < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	return (int)o;
}

bool
http_auth_check(struct http_req *r)
{
	const char *h = http_req_header(r, "Authorization");
	struct bk_broker *b = r->l->broker;
	char cred[1024], *colon;
	struct bk_err err;
	int n;

	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0) {
		http_reply_error(r, 401, "not_authorized", "Not_Authorized");
		return false;
	}
	h += 6;
	while (*h == ' ')
		h++;
	n = b64_decode(h, cred, sizeof(cred));
	if (n < 0 || (size_t)n != strlen(cred) || (colon = strchr(cred, ':')) == NULL ||
	    (size_t)(colon - cred) >= sizeof(r->user)) {
		http_reply_error(r, 401, "not_authorized", "Login failed");
		return false;
	}
	*colon = '\0';
	memset(&err, 0, sizeof(err));
	if (bk_user_check(b, bk_str_c(cred), bk_str_c(colon + 1),
			  r->peer_loopback, &err) != BK_OK) {
		http_reply_error(r, 401, "not_authorized", "Login failed");
		return false;
	}
	snprintf(r->user, sizeof(r->user), "%s", cred);
	r->admin = bk_user_has_tag(b, cred, "administrator");
	r->monitor = r->admin || bk_user_has_tag(b, cred, "monitoring");
	r->policymaker = r->admin || bk_user_has_tag(b, cred, "policymaker");
	r->writer = r->policymaker || bk_user_has_tag(b, cred, "management");
	if (!r->writer && !r->monitor) {
		http_reply_error(r, 401, "not_authorized", "Not management user");
		return false;
	}
	return true;
}
