/*
 * Segment bookkeeping on the main thread: the table of segments by
 * number, their dependencies, file names, the directory listing, and the
 * read descriptors used for body reads and compaction.
 *
 * Why dependencies. An ACK, COUNT, QDROP, KV or KVDEL record, and a MSG
 * copy written by compaction, changes the meaning of an OLDER record that
 * may live in another segment S. If the segment holding the change were
 * deleted while S still exists, recovery would read S's record unchanged:
 * an acked message would come back. So every such record adds S to its own
 * segment's dependency list, and a segment may be deleted only when
 * nothing in it is live AND every segment in its list is already gone
 * (deleted and the directory fsynced). Deleting S first is always safe:
 * the changes then refer to records nobody will read. Chains resolve from
 * the oldest end; compaction empties old, mostly dead segments so they do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_alloc.h"
#include "bk_assert.h"
#include "jnl_int.h"

struct jnl_seg *
jnl_seg_get(const struct st_journal *j, uint64_t no)
{
	if (no < j->seg_first || no - j->seg_first >= j->nsegs)
		return NULL;
	return j->segs[no - j->seg_first];
}

struct jnl_seg *
jnl_seg_add(struct st_journal *j, uint64_t no)
{
	struct jnl_seg *s;

	if (j->nsegs == 0)
		j->seg_first = no;
	BK_ASSERT(j->nsegs == 0 || no >= j->seg_first + j->nsegs);
	while (j->seg_first + j->nsegs <= no) {
		if (j->nsegs == j->segcap) {
			j->segcap = j->segcap ? j->segcap * 2 : 16;
			j->segs = bk_realloc(j->segs, j->segcap * sizeof(*j->segs));
		}
		j->segs[j->nsegs++] = NULL;
	}
	s = bk_calloc(1, sizeof(*s));
	s->no = no;
	s->rfd = -1;
	j->segs[no - j->seg_first] = s;
	j->st.segments++;
	return s;
}

/* Drop a segment from the table (its file is gone); trims the front. */
void
jnl_seg_forget(struct st_journal *j, struct jnl_seg *s)
{
	size_t lead = 0;

	BK_ASSERT(s->head == NULL);
	j->segs[s->no - j->seg_first] = NULL;
	j->st.segments--;
	j->st.disk_bytes -= s->size;
	if (s->rfd >= 0)
		close(s->rfd);
	bk_free(s->deps);
	bk_free(s);
	while (lead < j->nsegs && j->segs[lead] == NULL)
		lead++;
	if (lead == j->nsegs) {
		j->seg_first += j->nsegs;
		j->nsegs = 0;
	} else if (lead) {
		memmove(j->segs, j->segs + lead, (j->nsegs - lead) * sizeof(*j->segs));
		j->nsegs -= lead;
		j->seg_first += lead;
	}
}

void
jnl_seg_dep_add(struct jnl_seg *s, uint64_t target)
{
	if (target == s->no)
		return;
	/* Acks mostly point at the few newest segments: scan from the end. */
	for (uint32_t i = s->ndeps; i-- > 0;)
		if (s->deps[i] == target)
			return;
	if (s->ndeps == s->depcap) {
		s->depcap = s->depcap ? s->depcap * 2 : 4;
		s->deps = bk_realloc(s->deps, s->depcap * sizeof(*s->deps));
	}
	s->deps[s->ndeps++] = target;
}

/* True when every dependency is gone; prunes the ones that are. */
bool
jnl_seg_deps_gone(const struct st_journal *j, struct jnl_seg *s)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < s->ndeps; i++)
		if (jnl_seg_get(j, s->deps[i]) != NULL)
			s->deps[k++] = s->deps[i];
	s->ndeps = k;
	return k == 0;
}

void
jnl_seg_name(char out[32], uint64_t no)
{
	snprintf(out, 32, "%020" PRIu64 ".seg", no);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Segment numbers present in the directory, ascending. Other files are ignored. */
int
jnl_seg_list(int dirfd, uint64_t **nos, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	*nos = NULL;
	*n = 0;
	if ((fd = dup(dirfd)) < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long long v;

		if (strlen(de->d_name) != 24 || strcmp(de->d_name + 20, ".seg") != 0)
			continue;
		errno = 0;
		v = strtoull(de->d_name, &end, 10);
		if (errno || end != de->d_name + 20 || v == 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*nos = bk_realloc(*nos, cap * sizeof(**nos));
		}
		(*nos)[(*n)++] = v;
	}
	closedir(d);
	if (*n)
		qsort(*nos, *n, sizeof(**nos), cmp_u64);
	return 0;
}

int
jnl_seg_read_fd(struct st_journal *j, struct jnl_seg *s)
{
	char name[32];

	if (s->rfd >= 0)
		return s->rfd;
	jnl_seg_name(name, s->no);
	s->rfd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
	return s->rfd >= 0 ? s->rfd : -errno;
}

/* pread exactly len bytes: 0, -EIO on a short file, or -errno. */
int
jnl_read_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t r = pread(fd, buf, len, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		buf += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

/* pwrite exactly n bytes: 0, or -errno (-EIO for a write of nothing). */
int
jnl_write_full(int fd, const void *buf, size_t n, uint64_t off)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}
