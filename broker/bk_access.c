/*
 * bk_access.c: password hashes and permissions.
 *
 * Password hashes are RabbitMQ's (rabbit_password_hashing_sha256/512):
 *
 *   base64( salt[4] | H(salt[4] | password) )     H = SHA-256 or SHA-512
 *
 * so definitions exported by RabbitMQ load here and ours load there.
 *
 * Permissions are three POSIX extended regexes per user and vhost,
 * searched (not anchored) in resource names as RabbitMQ does. Entries sit
 * in one hash keyed by "user\0vhost"; ".*" and "" are recognised so the
 * common grants never run a regex. access_gen changes on every change so
 * adapters can cache granted checks.
 */
#include "bk_mgmt.h"
#include "bk_routing.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

/* ---- password hashes ---- */

const char *
bk_hash_algo_name(enum bk_hash_algo a)
{
	return a == BK_HASH_SHA512 ? "rabbit_password_hashing_sha512"
				   : "rabbit_password_hashing_sha256";
}

bool
bk_hash_algo_parse(const char *name, enum bk_hash_algo *out)
{
	if (name == NULL || !strcmp(name, "rabbit_password_hashing_sha256") ||
	    !strcmp(name, "sha256") || !strcmp(name, "")) {
		*out = BK_HASH_SHA256;
		return true;
	}
	if (!strcmp(name, "rabbit_password_hashing_sha512") || !strcmp(name, "sha512")) {
		*out = BK_HASH_SHA512;
		return true;
	}
	return false;
}

/* salt ++ H(salt ++ password) into out; returns its length. */
static unsigned
salted_digest(enum bk_hash_algo algo, const uint8_t salt[4], const void *pw,
	      size_t pwlen, uint8_t out[4 + 64])
{
	unsigned dlen = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	memcpy(out, salt, 4);
	EVP_DigestInit_ex(md, algo == BK_HASH_SHA512 ? EVP_sha512() : EVP_sha256(), NULL);
	EVP_DigestUpdate(md, salt, 4);
	EVP_DigestUpdate(md, pw, pwlen);
	EVP_DigestFinal_ex(md, out + 4, &dlen);
	EVP_MD_CTX_free(md);
	return 4 + dlen;
}

int
bk_password_hash(enum bk_hash_algo algo, const char *password, const uint8_t *salt4,
		 char *out, size_t cap)
{
	uint8_t salt[4], raw[4 + 64];
	unsigned n;

	if (salt4 != NULL)
		memcpy(salt, salt4, 4);
	else if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	n = salted_digest(algo, salt, password, strlen(password), raw);
	if (cap < 4 * ((n + 2) / 3) + 1)
		return -ENOSPC;
	EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
	return 0;
}

/* Decode base64 into raw (cap 4 + 64); returns its length or -1. */
static int
hash_decode(const char *b64, uint8_t raw[4 + 64 + 3])
{
	size_t len = strlen(b64);
	int n, pad = 0;

	if (len == 0 || len % 4 != 0 || len > 4 * ((4 + 64 + 2) / 3))
		return -1;
	if ((n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len)) < 0)
		return -1;
	pad = (b64[len - 1] == '=') + (b64[len - 2] == '=');
	return n - pad;
}

bool
bk_password_hash_valid(const char *hash, enum bk_hash_algo algo)
{
	uint8_t raw[4 + 64 + 3];
	int n = hash_decode(hash, raw);

	return n == 4 + (algo == BK_HASH_SHA512 ? 64 : 32);
}

bool
bk_password_verify(enum bk_hash_algo algo, const char *password_hash,
		   struct bk_str password)
{
	uint8_t stored[4 + 64 + 3], mine[4 + 64];
	int n = hash_decode(password_hash, stored);
	unsigned m;

	if (n <= 4)
		return false;
	m = salted_digest(algo, stored, password.p ? password.p : "", password.len, mine);
	return (unsigned)n == m && CRYPTO_memcmp(stored, mine, m) == 0;
}

/* ---- permissions ---- */

static void
perm_free(struct bk_perm_entry *e)
{
	if (e == NULL)
		return;
	for (int i = 0; i < 3; i++) {
		if (e->re_src[i] && !e->all[i] && !e->none[i])
			regfree(&e->re[i]);
		bk_free(e->re_src[i]);
	}
	bk_free(e->key);
	bk_free(e);
}

static struct bk_perm_entry *
perm_find(struct bk_broker *b, const char *user, size_t ulen, const char *vhost)
{
	struct bk_perm_entry *e = NULL;
	size_t vlen = strlen(vhost);
	char stack[512], *key = ulen + vlen + 1 <= sizeof(stack) ? stack
						: bk_malloc(ulen + vlen + 1);

	memcpy(key, user, ulen);
	key[ulen] = '\0';
	memcpy(key + ulen + 1, vhost, vlen);
	HASH_FIND(hh, bk_mgmt(b)->perms, key, ulen + 1 + vlen, e);
	if (key != stack)
		bk_free(key);
	return e;
}

enum bk_status
bk_permission_set(struct bk_broker *b, const char *user, const char *vhost,
		  const char *configure, const char *write, const char *read,
		  struct bk_err *err)
{
	const char *src[3] = { configure ? configure : "", write ? write : "",
			       read ? read : "" };
	struct bk_perm_entry *e, *old;
	size_t ulen = strlen(user), vlen = strlen(vhost);

	if (!bk_user_exists(b, user))
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", user);
	if (bk_vhost_get(b, vhost) == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	e = bk_calloc(1, sizeof(*e));
	for (int i = 0; i < 3; i++) {
		e->re_src[i] = bk_strdup(src[i]);
		e->all[i] = strcmp(src[i], ".*") == 0;
		e->none[i] = src[i][0] == '\0';
		if (e->all[i] || e->none[i])
			continue;
		if (bk_regcomp(&e->re[i], src[i], REG_EXTENDED | REG_NOSUB) != 0) {
			e->none[i] = true;      /* nothing to regfree */
			perm_free(e);
			return bk_err_set(err, BK_PRECONDITION_FAILED,
					  "invalid regular expression '%s'", src[i]);
		}
	}
	e->keylen = (uint32_t)(ulen + 1 + vlen);
	e->key = bk_malloc(e->keylen + 1);
	memcpy(e->key, user, ulen + 1);
	memcpy(e->key + ulen + 1, vhost, vlen + 1);
	e->user = e->key;
	e->vhost = e->key + ulen + 1;
	if ((old = perm_find(b, user, ulen, vhost)) != NULL) {
		HASH_DEL(bk_mgmt(b)->perms, old);
		perm_free(old);
	}
	HASH_ADD_KEYPTR(hh, bk_mgmt(b)->perms, e->key, e->keylen, e);
	bk_access_changed(b);
	return BK_OK;
}

enum bk_status
bk_permission_clear(struct bk_broker *b, const char *user, const char *vhost,
		    struct bk_err *err)
{
	struct bk_perm_entry *e = perm_find(b, user, strlen(user), vhost);

	if (!bk_user_exists(b, user))
		return bk_err_set(err, BK_NOT_FOUND, "no user '%s'", user);
	if (bk_vhost_get(b, vhost) == NULL)
		return bk_err_set(err, BK_NOT_FOUND, "no vhost '%s'", vhost);
	if (e != NULL) {
		HASH_DEL(bk_mgmt(b)->perms, e);
		perm_free(e);
	}
	bk_access_changed(b);
	return BK_OK;
}

bool
bk_perms_any(struct bk_broker *b, const char *user, const char *vhost)
{
	return perm_find(b, user, strlen(user), vhost) != NULL;
}

void
bk_perms_drop(struct bk_broker *b, const char *user, const char *vhost)
{
	struct bk_perm_entry *e, *tmp;

	HASH_ITER(hh, bk_mgmt(b)->perms, e, tmp) {
		if ((user && strcmp(e->user, user) != 0) ||
		    (vhost && strcmp(e->vhost, vhost) != 0))
			continue;
		HASH_DEL(bk_mgmt(b)->perms, e);
		perm_free(e);
	}
	bk_access_changed(b);
}

void
bk_perms_fini(struct bk_broker *b)
{
	struct bk_perm_entry *e, *tmp;

	HASH_ITER(hh, bk_mgmt(b)->perms, e, tmp) {
		HASH_DEL(bk_mgmt(b)->perms, e);
		perm_free(e);
	}
	bk_reserved_fini(b);
}

static int
cmp_perm(const void *a, const void *b)
{
	const struct bk_perm_entry *x = *(struct bk_perm_entry *const *)a;
	const struct bk_perm_entry *y = *(struct bk_perm_entry *const *)b;
	int c = strcmp(x->user, y->user);

	return c ? c : strcmp(x->vhost, y->vhost);
}

int
bk_permissions_each(struct bk_broker *b, const char *user, const char *vhost,
		    bk_permission_each_fn fn, void *arg)
{
	struct bk_mgmt *m = bk_mgmt(b);
	struct bk_perm_entry **v = bk_calloc(HASH_COUNT(m->perms) + 1, sizeof(*v));
	struct bk_perm_entry *e, *tmp;
	struct bk_permission_view view;
	uint32_t n = 0, i;
	int rc = 0;

	HASH_ITER(hh, m->perms, e, tmp)
		if ((!user || !strcmp(e->user, user)) && (!vhost || !strcmp(e->vhost, vhost)))
			v[n++] = e;
	qsort(v, n, sizeof(*v), cmp_perm);
	for (i = 0; i < n && rc == 0; i++) {
		view = (struct bk_permission_view){ v[i]->user, v[i]->vhost,
			v[i]->re_src[0], v[i]->re_src[1], v[i]->re_src[2] };
		rc = fn(arg, &view);
	}
	bk_free(v);
	return rc;
}

/* ---- enforcement ---- */

static const char *const perm_names[3] = { "configure", "write", "read" };

uint64_t
bk_access_generation(struct bk_broker *b)
{
	return bk_mgmt(b)->access_gen;
}

enum bk_status
bk_vhost_access(struct bk_broker *b, struct bk_str user, const char *vhost,
		struct bk_err *err)
{
	if (bk_vhost_get(b, vhost) == NULL)
		return bk_err_set(err, BK_NOT_ALLOWED, "vhost %s not found", vhost);
	if (perm_find(b, user.p ? user.p : "", user.len, vhost) == NULL)
		return bk_err_set(err, BK_NOT_ALLOWED,
				  "access to vhost '%s' refused for user '%.*s'",
				  vhost, (int)user.len, user.p);
	return BK_OK;
}

enum bk_status
bk_access_check(struct bk_vhost *vh, struct bk_str user, enum bk_perm what,
		const char *kind, struct bk_str name, struct bk_err *err)
{
	enum bk_status st;

	if (strcmp(kind, "queue") == 0 &&
	    (st = bk_reserved_check(vh, user, name, err)) != BK_OK)
		return st;
	return bk_perm_check(vh, user, what, kind, name, err);
}

enum bk_status
bk_perm_check(struct bk_vhost *vh, struct bk_str user, enum bk_perm what,
	      const char *kind, struct bk_str name, struct bk_err *err)
{
	struct bk_perm_entry *e = perm_find(vh->broker, user.p ? user.p : "", user.len,
					    vh->name);
	bool ok = false;

	if (name.len == 0 && strcmp(kind, "exchange") == 0)
		name = BK_STR_LIT("amq.default");
	if (e != NULL && (unsigned)what < 3) {
		if (e->all[what]) {
			ok = true;
		} else if (!e->none[what]) {
			char stack[256], *s = name.len < sizeof(stack) ? stack
							 : bk_malloc(name.len + 1);

			memcpy(s, name.p, name.len);
			s[name.len] = '\0';
			/* A name with a NUL in it never matches. */
			ok = memchr(name.p, 0, name.len) == NULL &&
			     regexec(&e->re[what], s, 0, NULL, 0) == 0;
			if (s != stack)
				bk_free(s);
		}
	}
	if (ok)
		return BK_OK;
	bk_err_set(err, BK_ACCESS_REFUSED,
		   "%s access to %s '%.*s' in vhost '%s' refused for user '%.*s'",
		   perm_names[(unsigned)what < 3 ? what : 0], kind, (int)name.len,
		   name.p, vh->name, (int)user.len, user.p);
	if (err != NULL)
		err->permission = true;
	return BK_ACCESS_REFUSED;
}
