/*
 * test_tls_threads.c: the server TLS context (net/net_tls.c) shared by
 * I/O threads. Two threads make their first handshakes with one context
 * at the same moment, the server verifying a client certificate against
 * the context's CA and sending a chain it builds from that CA, on a fresh
 * context each round and on one reloaded under them. Every handshake
 * must succeed with the client's certificate verified; under
 * ThreadSanitizer the test also fails on a race between the two first
 * handshakes (OpenSSL fills a certificate's extension cache on first use,
 * which net_tls does before any thread sees the context).
 */
#include "net_int.h"
#include "testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define ROUNDS   12
#define THREADS  2

static char dir[] = "/tmp/sluice-tls-threads-XXXXXX";
static char ca_pem[64], cert_pem[64], key_pem[64], ccert_pem[64], ckey_pem[64];

static void
add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);

	CHECK(e != NULL);
	CHECK(X509_add_ext(x, e, -1) == 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed),
 * with key identifiers, so verifying compares them. */
static X509 *
cert_new(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, long serial)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX v3;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	add_ext(x, &v3, NID_basic_constraints, issuer ? "CA:FALSE" : "critical,CA:TRUE");
	add_ext(x, &v3, NID_subject_key_identifier, "hash");
	add_ext(x, &v3, NID_authority_key_identifier, "keyid:always");
	CHECK(X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	CHECK(x ? PEM_write_X509(f, x) == 1 :
	      PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
}

/* The CA, the server's certificate (alone: the chain comes from the CA
 * file) and a client's, as PEM files in dir. */
static void
make_pki(void)
{
	EVP_PKEY *cak = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *sk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ck = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *ca, *srv, *cli;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(cert_pem, sizeof(cert_pem), "%s/cert.pem", dir);
	snprintf(key_pem, sizeof(key_pem), "%s/key.pem", dir);
	snprintf(ccert_pem, sizeof(ccert_pem), "%s/client.pem", dir);
	snprintf(ckey_pem, sizeof(ckey_pem), "%s/client-key.pem", dir);
	CHECK(cak && sk && ck);
	ca = cert_new(cak, "test ca", NULL, NULL, 1);
	srv = cert_new(sk, "localhost", ca, cak, 2);
	cli = cert_new(ck, "client", ca, cak, 3);
	write_pem(ca_pem, ca, NULL);
	write_pem(cert_pem, srv, NULL);
	write_pem(key_pem, NULL, sk);
	write_pem(ccert_pem, cli, NULL);
	write_pem(ckey_pem, NULL, ck);
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
}

static void
remove_pki(void)
{
	const char *files[] = { ca_pem, cert_pem, key_pem, ccert_pem, ckey_pem };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	rmdir(dir);
}

struct round {
	struct net_tls *tls;
	pthread_barrier_t start;
	_Atomic int ok;                 /* handshakes done and verified */
	_Atomic int bad;                /* client contexts that failed to build */
};

/* One handshake over a memory BIO pair: a client of its own against a
 * server SSL from the shared context. True when both ends finished and
 * the server verified the client's certificate. */
static bool
handshake(struct round *r, SSL_CTX *cctx)
{
	SSL *s = net_tls_ssl_new(r->tls), *c = SSL_new(cctx);
	BIO *sb, *cb;
	bool sdone = false, cdone = false, ok = false;

	if (s == NULL || c == NULL || BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		goto out;
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int i = 0; i < 100 && !(sdone && cdone); i++) {
		int rc = 0;

		if (!cdone && (rc = SSL_do_handshake(c)) != 1 &&
		    SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
			goto out;
		cdone = cdone || rc == 1;
		if (!sdone && (rc = SSL_do_handshake(s)) != 1 &&
		    SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
			goto out;
		sdone = sdone || rc == 1;
	}
	if (sdone && cdone && SSL_get_verify_result(s) == X509_V_OK &&
	    SSL_get_verify_result(c) == X509_V_OK) {
		X509 *peer = SSL_get1_peer_certificate(s);

		ok = peer != NULL;
		X509_free(peer);
	}
out:
	SSL_free(s);
	SSL_free(c);
	return ok;
}

static void *
worker(void *arg)
{
	struct round *r = arg;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());

	/* no CHECK here: its counters are not for threads */
	if (cctx == NULL || SSL_CTX_load_verify_locations(cctx, ca_pem, NULL) != 1 ||
	    SSL_CTX_use_certificate_file(cctx, ccert_pem, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(cctx, ckey_pem, SSL_FILETYPE_PEM) != 1)
		atomic_fetch_add(&r->bad, 1);
	else
		SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	pthread_barrier_wait(&r->start);
	for (int i = 0; i < 2 && atomic_load(&r->bad) == 0; i++)
		if (handshake(r, cctx))
			atomic_fetch_add(&r->ok, 1);
	SSL_CTX_free(cctx);
	return NULL;
}

/* THREADS threads' first handshakes with r->tls, at once. */
static void
race(struct round *r)
{
	pthread_t th[THREADS];

	atomic_store(&r->ok, 0);
	atomic_store(&r->bad, 0);
	pthread_barrier_init(&r->start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&th[i], NULL, worker, r) == 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r->start);
	CHECK_EQ_INT(atomic_load(&r->bad), 0);
	CHECK_EQ_INT(atomic_load(&r->ok), THREADS * 2);
}

static struct net_tls *
tls_new(void)
{
	struct net_tls_config cfg = {
		.cert_file = cert_pem, .key_file = key_pem, .ca_file = ca_pem,
		.verify = NET_VERIFY_PEER, .fail_if_no_peer_cert = true, .min_version = 12,
	};
	char err[256] = "";
	struct net_tls *t = net_tls_new(&cfg, err, sizeof(err));

	if (t == NULL)
		fprintf(stderr, "net_tls_new: %s\n", err);
	CHECK(t != NULL);
	return t;
}

static void
test_first_handshakes_on_a_fresh_context(void)
{
	for (int i = 0; i < ROUNDS; i++) {
		struct round r = { .tls = tls_new() };

		race(&r);
		net_tls_free(r.tls);
	}
}

static void
test_first_handshakes_after_a_reload(void)
{
	struct round r = { .tls = tls_new() };
	char err[256];

	for (int i = 0; i < ROUNDS; i++) {
		CHECK_EQ_INT(net_tls_reload(r.tls, err, sizeof(err)), 0);
		race(&r);
	}
	net_tls_free(r.tls);
}

int
main(void)
{
	make_pki();
	RUN(test_first_handshakes_on_a_fresh_context);
	RUN(test_first_handshakes_after_a_reload);
	remove_pki();
	TEST_DONE();
}
