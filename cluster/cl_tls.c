/*
 * cl_tls.c: replication over TLS (cluster.tls). Both ends present the
 * [tls] certificate and verify the other's against tls.ca_file: the
 * leader's replication listener is a net/ TLS listener that requires a
 * client certificate, the follower's connection a libevent OpenSSL
 * bufferevent that requires the server's. With cluster.tls_peer_name
 * set, the verified certificate's subject CN must also equal it, on both
 * ends. The HMAC handshake of cl_wire.c runs inside the TLS session as
 * it does over plain TCP.
 *
 * These contexts are built once, at start: a SIGHUP reloads the client
 * listeners' certificate, not these (a node restarts to take a new one).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "bk_alloc.h"
#include "cl_int.h"
#include "net.h"

struct net_tls *
cl_tls_server(const struct cluster_config *cfg, char *err, size_t errlen)
{
	struct net_tls_config tc = {
		.cert_file = cfg->tls_cert_file, .key_file = cfg->tls_key_file,
		.ca_file = cfg->tls_ca_file, .verify = NET_VERIFY_PEER,
		.fail_if_no_peer_cert = true, .min_version = cfg->tls_min_version,
		.ciphers = cfg->tls_ciphers, .ciphersuites = cfg->tls_ciphersuites,
	};

	return net_tls_new(&tc, err, errlen);
}

static const char *
ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

SSL_CTX *
cl_tls_client(const struct cluster_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	const char *what = "tls.cert_file";
	char why[256];

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s", ssl_reason(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version == 13 ? TLS1_3_VERSION
								     : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((cfg->tls_ciphers && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) ||
	    (cfg->tls_ciphersuites &&
	     SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1)) {
		what = "tls.ciphers";
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1)
		goto fail;
	what = "tls.key_file";
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	what = "tls.ca_file";
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file, NULL) != 1)
		goto fail;
	return ctx;
fail:
	snprintf(err, errlen, "%s: %s", what, ssl_reason(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return NULL;
}

/* The subject CN of cert into buf; false when it has none that fits. */
static bool
cert_cn(X509 *cert, char *buf, size_t cap)
{
	const X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	int n;
	bool ok;

	if (i < 0)
		return false;
	n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
	ok = n >= 0 && (size_t)n < cap && memchr(utf8, '\0', (size_t)n) == NULL;
	if (ok)
		snprintf(buf, cap, "%.*s", n, (const char *)utf8);
	OPENSSL_free(utf8);
	return ok;
}

int
cl_tls_check_leader(SSL *ssl, const char *peer_name, char *why, size_t whylen)
{
	char cn[256] = "";
	X509 *cert = SSL_get1_peer_certificate(ssl);
	long v = SSL_get_verify_result(ssl);
	int rc = 0;

	if (cert == NULL || v != X509_V_OK) {
		snprintf(why, whylen, "its certificate is not verified: %s",
			 cert ? X509_verify_cert_error_string(v) : "none presented");
		rc = -EACCES;
	} else if (peer_name && (!cert_cn(cert, cn, sizeof(cn)) || strcmp(cn, peer_name) != 0)) {
		snprintf(why, whylen, "its certificate's CN '%s' is not cluster.tls_peer_name "
			 "'%s'", cn, peer_name);
		rc = -EACCES;
	}
	X509_free(cert);
	return rc;
}
