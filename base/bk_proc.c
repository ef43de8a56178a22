/*
 * bk_proc.c: this process's resident memory and descriptors, from /proc
 * and getrlimit. sockets_max follows RabbitMQ's file handle cache, which
 * keeps 100 descriptors for files and allows 90 % of the rest as sockets,
 * so dashboards that show "sockets available" mean the same thing.
 * Stateless; safe from any thread.
 */
#include "bk_proc.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static uint64_t
rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	long page = sysconf(_SC_PAGESIZE);

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

/* Count /proc/self/fd entries, and those that are sockets. */
static void
count_fds(uint64_t *fds, uint64_t *sockets)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], link[64];
	int self;

	*fds = *sockets = 0;
	if (d == NULL)
		return;
	self = dirfd(d);
	while ((e = readdir(d)) != NULL) {
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		(*fds)++;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 7 && memcmp(link, "socket:", 7) == 0)
			(*sockets)++;
	}
	closedir(d);
}

void
bk_proc_stats_get(struct bk_proc_stats *out)
{
	struct rlimit rl;

	memset(out, 0, sizeof(*out));
	out->rss = rss_bytes();
	count_fds(&out->fds_open, &out->sockets_open);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		out->fds_max = (uint64_t)rl.rlim_cur;
	if (out->fds_max > 100)
		out->sockets_max = (out->fds_max - 100) * 9 / 10;
}
