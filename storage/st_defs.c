/*
 * st_defs.c: writing and reading the definitions file (st_defs.h).
 *
 * Atomic replacement, the classic sequence: the new text goes to
 * "definitions.json.tmp", which is fsynced before the rename so the name
 * never points at a file whose data is not on disk; the directory is
 * fsynced after it so the rename itself survives power loss. A stale
 * temporary file from a crash is simply overwritten next time.
 */
#include "st_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bk_alloc.h"

#define MAX_DEFS (64u << 20)

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int res = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		res = -errno;
	close(fd);
	return res;
}

int
st_defs_render(const struct cJSON *doc, char **text, size_t *len)
{
	char *s = cJSON_Print(doc);
	size_t n;

	if (s == NULL)
		return -ENOMEM;
	n = strlen(s);
	*text = bk_malloc(n + 1);
	memcpy(*text, s, n);
	(*text)[n] = '\n';
	*len = n + 1;
	free(s);
	return 0;
}

int
st_defs_write(const char *data_dir, const struct cJSON *doc)
{
	char path[4096], tmp[4096];
	char *text = NULL;
	size_t len = 0;
	int fd = -1, res;

	if ((res = st_defs_render(doc, &text, &len)) < 0)
		return res;
	if (snprintf(path, sizeof(path), "%s/%s", data_dir, ST_DEFS_FILE) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		res = -ENAMETOOLONG;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		res = -errno;
		goto out;
	}
	if ((res = write_all(fd, text, len)) < 0)
		goto err_unlink;
	if (fsync(fd) < 0) {
		res = -errno;
		goto err_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		res = -errno;
		goto err_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		res = -errno;
		goto err_unlink;
	}
	res = sync_dir(data_dir);
	goto out;
err_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	bk_free(text);
	return res;
}

int
st_defs_read(const char *data_dir, struct cJSON **doc, char *why, size_t whylen)
{
	char path[4096];
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	cJSON *root;
	int fd, res = 0;

	*doc = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", data_dir, ST_DEFS_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		res = -errno;
		goto out;
	}
	if (st.st_size > MAX_DEFS) {
		snprintf(why, whylen, "%s: larger than %u bytes", path, MAX_DEFS);
		res = -EPROTO;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		res = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			res = r < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	root = cJSON_ParseWithLength(buf, got);
	if (root == NULL || !cJSON_IsObject(root)) {
		const char *at = cJSON_GetErrorPtr();

		snprintf(why, whylen, "%s: not a JSON object (at byte %ld)", path,
			 at && root == NULL ? (long)(at - buf) : 0L);
		cJSON_Delete(root);
		res = -EPROTO;
		goto out;
	}
	*doc = root;
out:
	free(buf);
	close(fd);
	return res;
}
