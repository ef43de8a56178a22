/*
 * cl_wire.c: the replication frames (drawn in cl_int.h): integers, file
 * operations, the handshake's HMAC and the checksums of the full copy.
 * Pure functions over bytes, except cl_file_crc.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cl_int.h"

#define OP_FIXED 16     /* kind, flags, path_len, off, len */

void
cl_put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
cl_put_u32(uint8_t *p, uint32_t v)
{
	cl_put_u16(p, (uint16_t)(v >> 16));
	cl_put_u16(p + 2, (uint16_t)v);
}

void
cl_put_u64(uint8_t *p, uint64_t v)
{
	cl_put_u32(p, (uint32_t)(v >> 32));
	cl_put_u32(p + 4, (uint32_t)v);
}

uint16_t
cl_get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t
cl_get_u32(const uint8_t *p)
{
	return (uint32_t)cl_get_u16(p) << 16 | cl_get_u16(p + 2);
}

uint64_t
cl_get_u64(const uint8_t *p)
{
	return (uint64_t)cl_get_u32(p) << 32 | cl_get_u32(p + 4);
}

void
cl_frame_begin(struct evbuffer *out, uint8_t type, size_t len)
{
	uint8_t h[CL_HDR];

	cl_put_u32(h, (uint32_t)(len + 1));
	h[4] = type;
	evbuffer_add(out, h, sizeof(h));
}

size_t
cl_op_size(const struct st_repl_op *op)
{
	return OP_FIXED + strlen(op->path) + (op->data ? op->len : 0);
}

void
cl_op_put(struct evbuffer *out, const struct st_repl_op *op)
{
	uint8_t h[OP_FIXED];
	size_t pl = strlen(op->path), len = op->data ? op->len : 0;

	h[0] = op->kind;
	h[1] = op->trunc ? 1 : 0;
	cl_put_u16(h + 2, (uint16_t)pl);
	cl_put_u64(h + 4, op->off);
	cl_put_u32(h + 12, (uint32_t)len);
	evbuffer_add(out, h, sizeof(h));
	evbuffer_add(out, op->path, pl);
	if (len)
		evbuffer_add(out, op->data, len);
}

long
cl_op_get(const uint8_t *p, size_t len, struct st_repl_op *op,
	  char path[ST_REPL_PATH_MAX + 1])
{
	size_t pl, dl;

	if (len < OP_FIXED)
		return -EINVAL;
	pl = cl_get_u16(p + 2);
	dl = cl_get_u32(p + 12);
	if (pl > ST_REPL_PATH_MAX || len - OP_FIXED < pl || len - OP_FIXED - pl < dl)
		return -EINVAL;
	memcpy(path, p + OP_FIXED, pl);
	path[pl] = '\0';
	if (memchr(path, '\0', pl) != NULL || !st_repl_path_ok(path, pl))
		return -EINVAL;
	memset(op, 0, sizeof(*op));
	op->kind = p[0];
	op->trunc = p[1] & 1;
	op->path = path;
	op->off = cl_get_u64(p + 4);
	op->data = p + OP_FIXED + pl;
	op->len = dl;
	return (long)(OP_FIXED + pl + dl);
}

void
cl_mac(const char *secret, const uint8_t nonce[CL_NONCE], const char *name,
       uint8_t mac[CL_MAC])
{
	uint8_t msg[CL_NONCE + CL_NAME_MAX];
	size_t nl = strnlen(name, CL_NAME_MAX);
	unsigned int ml = CL_MAC;

	memcpy(msg, nonce, CL_NONCE);
	memcpy(msg + CL_NONCE, name, nl);
	HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, CL_NONCE + nl, mac, &ml);
}

int
cl_file_crc(int dfd, const char *path, uint64_t size, uint32_t *crc)
{
	int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	uint8_t *buf;
	uint32_t c = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if ((buf = malloc(1 << 20)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (size > 0) {
		ssize_t n = read(fd, buf, size < (1u << 20) ? (size_t)size : (1u << 20));

		if (n <= 0) {
			rc = n < 0 ? -errno : -ENODATA;
			break;
		}
		c = st_crc32c(c, buf, (size_t)n);
		size -= (uint64_t)n;
	}
	free(buf);
	close(fd);
	*crc = c;
	return rc;
}
