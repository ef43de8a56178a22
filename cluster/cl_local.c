/*
 * cl_local.c: the node's own file, ST_REPL_LOCAL in data_dir, never
 * replicated:
 *
 *   synced|syncing\n           is the copy here whole, or being rewritten?
 *   cluster ID\n               the cluster this data_dir belongs to (absent
 *                              until the node has met one)
 *
 * Only a whole copy may campaign; a data_dir of another cluster may not
 * join this one. Written by the loop (synced) and the etcd thread (the
 * identity): a lock makes each rewrite whole; the file is replaced by
 * rename after an fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cl_int.h"

static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
id_ok(const char *s, size_t n)
{
	if (n == 0 || n >= CL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

/* What the file says; nothing (not synced, no id) when it is absent. */
static void
local_read(const char *data_dir, bool *synced, char id[CL_ID_MAX])
{
	char path[4096], buf[256] = "", *nl, *line2;
	ssize_t n = -1;
	int fd;

	*synced = false;
	id[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", data_dir, ST_REPL_LOCAL);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (n <= 0 || (nl = strchr(buf, '\n')) == NULL)
		return;
	*nl = '\0';
	*synced = strcmp(buf, "synced") == 0;
	line2 = nl + 1;
	if (strncmp(line2, "cluster ", 8) == 0 && (nl = strchr(line2, '\n')) != NULL &&
	    id_ok(line2 + 8, (size_t)(nl - line2 - 8)))
		snprintf(id, CL_ID_MAX, "%.*s", (int)(nl - line2 - 8), line2 + 8);
}

static int
local_write(const char *data_dir, bool synced, const char *id)
{
	char path[4096], tmp[4200], text[CL_ID_MAX + 32];
	size_t len;
	int fd, rc = 0;

	len = (size_t)snprintf(text, sizeof(text), "%s\n", synced ? "synced" : "syncing");
	if (id[0])
		len += (size_t)snprintf(text + len, sizeof(text) - len, "cluster %s\n", id);
	snprintf(path, sizeof(path), "%s/%s", data_dir, ST_REPL_LOCAL);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		rc = -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0 && (fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	return rc;
}

bool
cl_local_synced(const char *data_dir)
{
	char id[CL_ID_MAX];
	bool synced;

	pthread_mutex_lock(&local_lock);
	local_read(data_dir, &synced, id);
	pthread_mutex_unlock(&local_lock);
	return synced;
}

void
cl_local_id(const char *data_dir, char id[CL_ID_MAX])
{
	bool synced;

	pthread_mutex_lock(&local_lock);
	local_read(data_dir, &synced, id);
	pthread_mutex_unlock(&local_lock);
}

int
cl_local_set(const char *data_dir, bool synced)
{
	char id[CL_ID_MAX];
	bool was;
	int rc;

	pthread_mutex_lock(&local_lock);
	local_read(data_dir, &was, id);
	rc = local_write(data_dir, synced, id);
	pthread_mutex_unlock(&local_lock);
	return rc;
}

int
cl_local_set_id(const char *data_dir, const char *id)
{
	char old[CL_ID_MAX];
	bool synced;
	int rc;

	if (!id_ok(id, strlen(id)))
		return -EINVAL;
	pthread_mutex_lock(&local_lock);
	local_read(data_dir, &synced, old);
	rc = local_write(data_dir, synced, id);
	pthread_mutex_unlock(&local_lock);
	return rc;
}
