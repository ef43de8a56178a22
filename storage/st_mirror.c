/*
 * st_mirror.c: a follower's copy of the leader's data directory: the
 * file operations of storage.h's "Replication" section applied to a
 * data_dir (a stream segment's compaction is redone by strm_compact.c),
 * the list of the files that belong to the copy, and the check every
 * path from the wire goes through.
 *
 * Threads: a mirror is used by one thread, usually not the main one
 * (cluster/'s applier), so nothing here allocates through bk_malloc; all
 * memory is malloc'd and the structure is fixed-size.
 *
 * Durability: writes land in the page cache; st_mirror_sync fdatasyncs
 * every file written since the last sync and fsyncs every directory whose
 * entries changed (a created, replaced or removed file), so a follower
 * acknowledges a batch only once it would survive a power cut, as the
 * leader's own journal does. A file pushed out of the descriptor cache
 * while dirty is synced on the way out.
 *
 * Paths never leave data_dir: st_repl_path_ok refuses absolute paths,
 * "." and ".." components and control characters, the node's own
 * ST_REPL_LOCAL and *.tmp names are refused too, and the last component
 * is opened with O_NOFOLLOW.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jnl_int.h"
#include "strm_int.h"

#define MIRROR_FDS  16
#define MIRROR_DIRS 16
#define WALK_DEPTH  3

struct mfile {
	char path[ST_REPL_PATH_MAX + 1];
	int fd;                         /* -1: free slot */
	bool dirty;                     /* written since the last sync */
	uint64_t used;
};

struct st_mirror {
	int dfd;                        /* data_dir */
	bool sync;
	struct mfile f[MIRROR_FDS];
	uint64_t clock;
	char dirs[MIRROR_DIRS][ST_REPL_PATH_MAX + 1];   /* "" = data_dir itself */
	int ndirs;
	bool dirs_overflow;             /* more changed than fit: sync them all */
};

bool
st_repl_path_ok(const char *path, size_t len)
{
	size_t start = 0;

	if (len == 0 || len > ST_REPL_PATH_MAX || path[0] == '/')
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/') {
			if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
				return false;
			continue;
		}
		if (i == start)
			return false;           /* empty component: "a//b", "a/" */
		if ((i - start == 1 && path[start] == '.') ||
		    (i - start == 2 && path[start] == '.' && path[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/* Names a node never takes from, or gives to, another. */
static bool
is_local(const char *path, size_t len)
{
	size_t l = strlen(ST_REPL_LOCAL);

	if (len == l && memcmp(path, ST_REPL_LOCAL, l) == 0)
		return true;
	return len >= 4 && memcmp(path + len - 4, ".tmp", 4) == 0;
}

int
st_mirror_open(const char *data_dir, bool sync, struct st_mirror **out)
{
	struct st_mirror *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return -ENOMEM;
	if ((m->dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		int rc = -errno;

		free(m);
		return rc;
	}
	m->sync = sync;
	for (int i = 0; i < MIRROR_FDS; i++)
		m->f[i].fd = -1;
	*out = m;
	return 0;
}

/* Remember that path's directory entries changed. */
static void
dir_changed(struct st_mirror *m, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	for (int i = 0; i < m->ndirs; i++)
		if (strlen(m->dirs[i]) == n && memcmp(m->dirs[i], path, n) == 0)
			return;
	if (m->ndirs == MIRROR_DIRS) {
		m->dirs_overflow = true;
		return;
	}
	memcpy(m->dirs[m->ndirs], path, n);
	m->dirs[m->ndirs][n] = '\0';
	m->ndirs++;
}

static int
fsync_dir(struct st_mirror *m, const char *dir)
{
	int fd, rc = 0;

	if (dir[0] == '\0')
		return fsync(m->dfd) < 0 ? -errno : 0;
	if ((fd = openat(m->dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* mkdir -p of path's parent directories, each new one noted. */
static int
make_parents(struct st_mirror *m, const char *path)
{
	char buf[ST_REPL_PATH_MAX + 1];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(m->dfd, buf, 0700) == 0)
			dir_changed(m, buf);
		else if (errno != EEXIST)
			return -errno;
		*s = '/';
	}
	return 0;
}

static int
slot_close(struct st_mirror *m, struct mfile *f)
{
	int rc = 0;

	if (f->fd < 0)
		return 0;
	if (f->dirty && m->sync && fdatasync(f->fd) < 0)
		rc = -errno;
	close(f->fd);
	f->fd = -1;
	f->dirty = false;
	f->path[0] = '\0';
	return rc;
}

static struct mfile *
slot_find(struct st_mirror *m, const char *path)
{
	for (int i = 0; i < MIRROR_FDS; i++)
		if (m->f[i].fd >= 0 && strcmp(m->f[i].path, path) == 0)
			return &m->f[i];
	return NULL;
}

/* A write descriptor for path, created (with its directories) when
 * missing. *rc set on failure (NULL returned). */
static struct mfile *
slot_get(struct st_mirror *m, const char *path, int *rc)
{
	struct mfile *f = slot_find(m, path), *victim = &m->f[0];
	int fd;

	if (f) {
		f->used = ++m->clock;
		return f;
	}
	fd = openat(m->dfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		if ((*rc = make_parents(m, path)) < 0)
			return NULL;
		fd = openat(m->dfd, path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			dir_changed(m, path);
	}
	if (fd < 0) {
		*rc = -errno;
		return NULL;
	}
	for (int i = 0; i < MIRROR_FDS; i++)
		if (m->f[i].fd < 0 || m->f[i].used < victim->used)
			victim = &m->f[i];
	if ((*rc = slot_close(m, victim)) < 0) {
		close(fd);
		return NULL;
	}
	victim->fd = fd;
	victim->used = ++m->clock;
	snprintf(victim->path, sizeof(victim->path), "%s", path);
	return victim;
}

static int
do_write(struct st_mirror *m, const struct st_repl_op *op)
{
	struct mfile *f;
	int rc = 0;

	if ((f = slot_get(m, op->path, &rc)) == NULL)
		return rc;
	if (op->trunc && ftruncate(f->fd, 0) < 0)
		return -errno;
	if (op->kind == ST_REPL_TRUNCATE && ftruncate(f->fd, (off_t)op->off) < 0)
		return -errno;
	if (op->kind == ST_REPL_WRITE &&
	    (rc = jnl_write_full(f->fd, op->data, op->len, op->off)) < 0)
		return rc;
	f->dirty = true;
	return 0;
}

static int
do_replace(struct st_mirror *m, const struct st_repl_op *op)
{
	char tmp[ST_REPL_PATH_MAX + 8];
	struct mfile *f = slot_find(m, op->path);
	int fd, rc;

	if (f)
		slot_close(m, f);
	if ((rc = make_parents(m, op->path)) < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", op->path);
	fd = openat(m->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	rc = jnl_write_full(fd, op->data, op->len, 0);
	if (rc == 0 && m->sync && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(m->dfd, tmp, m->dfd, op->path) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(m->dfd, tmp, 0);
	else
		dir_changed(m, op->path);
	return rc;
}

static int
do_remove(struct st_mirror *m, const struct st_repl_op *op)
{
	struct mfile *f = slot_find(m, op->path);
	int flags = op->kind == ST_REPL_RMDIR ? AT_REMOVEDIR : 0;

	if (f) {
		close(f->fd);           /* its bytes are going: no sync */
		f->fd = -1;
		f->dirty = false;
		f->path[0] = '\0';
	}
	if (unlinkat(m->dfd, op->path, flags) < 0)
		return errno == ENOENT ? 0 : -errno;
	dir_changed(m, op->path);
	return 0;
}

/* A stream segment's compaction, redone here (strm_compact.c): the
 * segment's and its index's descriptors go first (the files are
 * replaced), synced if written since the last sync. */
static int
do_compact(struct st_mirror *m, const struct st_repl_op *op)
{
	char idx[ST_REPL_PATH_MAX + 1];
	size_t len = strlen(op->path);
	struct mfile *f;
	int rc;

	if (len < 4 || strcmp(op->path + len - 4, ".seg") != 0)
		return -EINVAL;
	snprintf(idx, sizeof(idx), "%.*s.idx", (int)(len - 4), op->path);
	if ((f = slot_find(m, op->path)) != NULL && (rc = slot_close(m, f)) < 0)
		return rc;
	if ((f = slot_find(m, idx)) != NULL && (rc = slot_close(m, f)) < 0)
		return rc;
	rc = strm_compact_apply(m->dfd, op->path, op->off, op->data, op->len, m->sync);
	if (rc == 0)
		dir_changed(m, op->path);
	return rc;
}

int
st_mirror_apply(struct st_mirror *m, const struct st_repl_op *op)
{
	size_t len = op->path ? strlen(op->path) : 0;

	if (!st_repl_path_ok(op->path ? op->path : "", len) || is_local(op->path, len))
		return -EINVAL;
	switch (op->kind) {
	case ST_REPL_WRITE:
	case ST_REPL_TRUNCATE:
		return do_write(m, op);
	case ST_REPL_REPLACE:
		return do_replace(m, op);
	case ST_REPL_UNLINK:
	case ST_REPL_RMDIR:
		return do_remove(m, op);
	case ST_REPL_COMPACT:
		return do_compact(m, op);
	default:
		return -EINVAL;
	}
}

/* Every directory of the copy (when the list of changed ones overflowed). */
static int
sync_all_dirs(struct st_mirror *m, const char *dir, int depth)
{
	int fd, rc;
	DIR *d;
	struct dirent *de;

	if ((rc = fsync_dir(m, dir)) < 0 || depth == WALK_DEPTH)
		return rc;
	fd = openat(m->dfd, dir[0] ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char sub[ST_REPL_PATH_MAX + 1];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s%s%s", dir, dir[0] ? "/" : "", de->d_name) <
		    (int)sizeof(sub))
			rc = sync_all_dirs(m, sub, depth + 1);
	}
	closedir(d);
	return rc;
}

int
st_mirror_sync(struct st_mirror *m)
{
	int rc = 0;

	if (!m->sync) {
		m->ndirs = 0;
		m->dirs_overflow = false;
		return 0;
	}
	for (int i = 0; i < MIRROR_FDS; i++) {
		struct mfile *f = &m->f[i];

		if (f->fd >= 0 && f->dirty) {
			if (fdatasync(f->fd) < 0 && rc == 0)
				rc = -errno;
			f->dirty = false;
		}
	}
	if (m->dirs_overflow) {
		if (rc == 0)
			rc = sync_all_dirs(m, "", 0);
	} else {
		for (int i = 0; i < m->ndirs && rc == 0; i++)
			rc = fsync_dir(m, m->dirs[i]);
	}
	m->ndirs = 0;
	m->dirs_overflow = false;
	return rc;
}

void
st_mirror_close(struct st_mirror *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < MIRROR_FDS; i++)
		if (m->f[i].fd >= 0)
			close(m->f[i].fd);
	close(m->dfd);
	free(m);
}

/* ---- the files of the copy ---------------------------------------------- */

static int
walk(int dfd, char *path, size_t plen, int depth, st_repl_file_fn fn, void *arg)
{
	int fd = openat(dfd, plen ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name), full = plen + (plen ? 1 : 0) + nl;
		struct stat st;

		if (de->d_name[0] == '.' || full > ST_REPL_PATH_MAX)
			continue;
		if (plen)
			path[plen] = '/';
		memcpy(path + plen + (plen ? 1 : 0), de->d_name, nl + 1);
		if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = errno == ENOENT ? 0 : -errno;
		} else if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH) {
			rc = walk(dfd, path, full, depth + 1, fn, arg);
		} else if (S_ISREG(st.st_mode) && !is_local(path, full) &&
			   st_repl_path_ok(path, full)) {
			rc = fn(arg, path, (uint64_t)st.st_size);
		}
		path[plen] = '\0';
	}
	closedir(d);
	return rc;
}

int
st_repl_files(const char *data_dir, st_repl_file_fn fn, void *arg)
{
	char path[ST_REPL_PATH_MAX + 1] = "";
	int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (dfd < 0)
		return -errno;
	rc = walk(dfd, path, 0, 0, fn, arg);
	close(dfd);
	return rc;
}
