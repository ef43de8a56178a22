/*
 * net_tls.c: the server TLS context every TLS listener shares, built from
 * the [tls] section, reloaded on SIGHUP, and what a connection's TLS
 * state looks like to management.
 *
 * Policy: TLS 1.2 is the floor (1.3 with min_version = 1.3); SSLv3, TLS
 * 1.0 and 1.1 are never offered. No compression, no renegotiation, the
 * server's cipher order. SSL_MODE_RELEASE_BUFFERS gives an idle
 * connection's read and write buffers back to the allocator.
 *
 * Reload swaps the context pointer: SSL objects made earlier hold their
 * own reference to the context they started with (OpenSSL refcounts
 * SSL_CTX), so existing connections are untouched. The swap happens on
 * the core thread while I/O threads make SSL objects from the context:
 * a mutex guards the pointer (taken once per accepted TLS connection and
 * per reload, never per message).
 *
 * A context is complete before any I/O thread sees it: OpenSSL fills a
 * certificate's cache of its extensions (key identifiers, purposes) the
 * first time a handshake needs it, and two I/O threads' first handshakes
 * with one context raced there (ThreadSanitizer: one comparing a key
 * identifier while the other's handshake was setting it). ctx_build
 * fills the cache of every certificate the context holds.
 */
#include "net_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct net_tls {
	pthread_mutex_t lock;           /* guards ctx (the pointer) */
	SSL_CTX *ctx;                   /* owned (one reference) */
	struct net_tls_config cfg;      /* strings are owned copies */
};

static const char *
ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(buf, cap, "%s", r);
	else if (e)
		ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* A file that cannot be opened is named with errno's reason rather than
 * OpenSSL's "system library". */
static bool
readable(const char *what, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f) {
		fclose(f);
		return true;
	}
	snprintf(err, errlen, "tls.%s %s: %s", what, path, strerror(errno));
	return false;
}

/* Fill the extension cache of x (what X509_check_purpose computes first). */
static void
cert_warm(X509 *x)
{
	if (x)
		(void)X509_check_purpose(x, -1, 0);
}

/* Every certificate in ctx: its own, its chain's, the verify store's. */
static void
ctx_warm(SSL_CTX *ctx)
{
	STACK_OF(X509) *chain = NULL;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

	cert_warm(SSL_CTX_get0_certificate(ctx));
	if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
		for (int i = 0; i < sk_X509_num(chain); i++)
			cert_warm(sk_X509_value(chain, i));
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
		cert_warm(X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i)));
}

static SSL_CTX *
ctx_build(const struct net_tls_config *c, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, c->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
			    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sluice", 6);
	if (c->ciphers && SSL_CTX_set_cipher_list(ctx, c->ciphers) != 1) {
		snprintf(err, errlen, "tls.ciphers '%s': %s", c->ciphers, ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (c->ciphersuites && SSL_CTX_set_ciphersuites(ctx, c->ciphersuites) != 1) {
		snprintf(err, errlen, "tls.ciphersuites '%s': %s", c->ciphersuites,
			 ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (!readable("cert_file", c->cert_file, err, errlen))
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
		snprintf(err, errlen, "tls.cert_file %s: %s", c->cert_file,
			 ssl_reason(why, sizeof(why)));
		goto fail;
	}
	if (!readable("key_file", c->key_file, err, errlen))
		goto fail;
	if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_reason(why, sizeof(why));
		if (strstr(why, "mismatch") == NULL) {
			snprintf(err, errlen, "tls.key_file %s: %s", c->key_file, why);
			goto fail;
		}
		snprintf(err, errlen, "tls.key_file %s does not match tls.cert_file %s: %s",
			 c->key_file, c->cert_file, why);
		goto fail;
	}
	if (c->ca_file) {
		STACK_OF(X509_NAME) *names;

		if (!readable("ca_file", c->ca_file, err, errlen))
			goto fail;
		if (SSL_CTX_load_verify_locations(ctx, c->ca_file, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(c->ca_file)) == NULL) {
			snprintf(err, errlen, "tls.ca_file %s: %s", c->ca_file,
				 ssl_reason(why, sizeof(why)));
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	if (c->verify == NET_VERIFY_PEER)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (c->fail_if_no_peer_cert ?
					SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ctx_warm(ctx);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static char *
dup_opt(const char *s)
{
	return s && *s ? bk_strdup(s) : NULL;
}

static void
cfg_free(struct net_tls_config *c)
{
	bk_free((char *)c->cert_file);
	bk_free((char *)c->key_file);
	bk_free((char *)c->ca_file);
	bk_free((char *)c->ciphers);
	bk_free((char *)c->ciphersuites);
}

struct net_tls *
net_tls_new(const struct net_tls_config *cfg, char *err, size_t errlen)
{
	struct net_tls *t;

	if (cfg->cert_file == NULL || cfg->key_file == NULL) {
		snprintf(err, errlen, "[tls] needs cert_file and key_file");
		return NULL;
	}
	if (cfg->verify == NET_VERIFY_PEER && cfg->ca_file == NULL) {
		snprintf(err, errlen, "tls.verify = peer needs tls.ca_file");
		return NULL;
	}
	t = bk_calloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->cfg = *cfg;
	t->cfg.cert_file = dup_opt(cfg->cert_file);
	t->cfg.key_file = dup_opt(cfg->key_file);
	t->cfg.ca_file = dup_opt(cfg->ca_file);
	t->cfg.ciphers = dup_opt(cfg->ciphers);
	t->cfg.ciphersuites = dup_opt(cfg->ciphersuites);
	if ((t->ctx = ctx_build(&t->cfg, err, errlen)) == NULL) {
		net_tls_free(t);
		return NULL;
	}
	return t;
}

int
net_tls_reload(struct net_tls *t, char *err, size_t errlen)
{
	SSL_CTX *ctx = ctx_build(&t->cfg, err, errlen), *old;

	if (ctx == NULL)
		return -EINVAL;
	pthread_mutex_lock(&t->lock);
	old = t->ctx;
	t->ctx = ctx;
	pthread_mutex_unlock(&t->lock);
	SSL_CTX_free(old);
	return 0;
}

void
net_tls_free(struct net_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	cfg_free(&t->cfg);
	pthread_mutex_destroy(&t->lock);
	bk_free(t);
}

SSL *
net_tls_ssl_new(struct net_tls *t)
{
	SSL *ssl;

	pthread_mutex_lock(&t->lock);
	ssl = SSL_new(t->ctx);                  /* takes its own reference */
	pthread_mutex_unlock(&t->lock);
	return ssl;
}

int64_t
net_tls_expires_in(const struct net_tls *t)
{
	X509 *cert;
	int days = 0, secs = 0, ok;

	/* Only the core reloads, and this runs on the core: no lock needed
	 * against the swap, but the pointer is read under it all the same. */
	pthread_mutex_lock((pthread_mutex_t *)&t->lock);
	cert = SSL_CTX_get0_certificate(t->ctx);
	ok = cert != NULL && ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1;
	pthread_mutex_unlock((pthread_mutex_t *)&t->lock);
	return ok ? (int64_t)days * 86400 + secs : 0;
}

void
net_tls_files(const struct net_tls *t, const char **cert_file, const char **ca_file)
{
	*cert_file = t->cfg.cert_file;
	*ca_file = t->cfg.ca_file;
}

const char *
net_tls_error(struct bufferevent *bev, char *buf, size_t cap)
{
	unsigned long e, last = 0;
	const char *r;

	/* libevent queues libssl's error codes, and SSL_get_error()'s small
	 * result (lib 0) beside them: keep OpenSSL's own reason. */
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (last == 0 && ERR_GET_LIB(e) != 0)
			last = e;
	if (last == 0) {
		int se = EVUTIL_SOCKET_ERROR();

		snprintf(buf, cap, "%s", se ? evutil_socket_error_to_string(se) :
			 "connection closed during the handshake");
		return buf;
	}
	r = ERR_reason_error_string(last);
	if (r)
		snprintf(buf, cap, "%s", r);
	else
		ERR_error_string_n(last, buf, cap);
	return buf;
}

static char *
name_text(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (bio == NULL)
		return NULL;
	X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_get_mem_data(bio, &data);
	out = bk_strndup(data, n > 0 ? (size_t)n : 0);
	BIO_free(bio);
	return out;
}

static void
time_text(const ASN1_TIME *t, char *buf, size_t cap)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(buf, cap, "?");
}

/* The CN of name into a new string, or NULL. */
static char *
common_name(const X509_NAME *name)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *out = NULL;
	int n;

	if (i < 0)
		return NULL;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	if (n >= 0 && memchr(utf8, '\0', (size_t)n) == NULL)
		out = bk_strndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return out;
}

void
net_tls_info_fill(struct bufferevent *bev, struct net_tls_info *info)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	char from[32], until[32], both[80];
	X509 *cert;

	if (ssl == NULL)
		return;
	snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(ssl));
	for (char *p = info->protocol; *p; p++)          /* RabbitMQ's "tlsv1.3" */
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(ssl));
	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return;
	info->subject = name_text(X509_get_subject_name(cert));
	info->issuer = name_text(X509_get_issuer_name(cert));
	time_text(X509_get0_notBefore(cert), from, sizeof(from));
	time_text(X509_get0_notAfter(cert), until, sizeof(until));
	snprintf(both, sizeof(both), "%s - %s", from, until);
	info->validity = bk_strdup(both);
	/* Only a verified certificate may name a user (SASL EXTERNAL,
	 * use_identity_as_username). */
	if (SSL_get_verify_result(ssl) == X509_V_OK) {
		info->cn = common_name(X509_get_subject_name(cert));
		info->dn = info->subject ? bk_strdup(info->subject) : NULL;
	}
	X509_free(cert);
}

void
net_tls_info_fini(struct net_tls_info *info)
{
	BK_FREE(info->subject);
	BK_FREE(info->issuer);
	BK_FREE(info->validity);
	BK_FREE(info->cn);
	BK_FREE(info->dn);
}
