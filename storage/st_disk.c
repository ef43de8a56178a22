/*
 * Free space of the file system under data_dir, for the core's disk
 * alarm (RabbitMQ's disk_free_limit). A statvfs is a cheap syscall; the
 * core calls it from a timer, not per message.
 */
#include <errno.h>
#include <sys/statvfs.h>

#include "storage.h"

int
st_disk_space(const char *path, uint64_t *free_bytes, uint64_t *total_bytes)
{
	struct statvfs v;

	if (statvfs(path, &v) < 0)
		return -errno;
	/* f_bavail: what an unprivileged writer may still use. */
	if (free_bytes)
		*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	if (total_bytes)
		*total_bytes = (uint64_t)v.f_blocks * v.f_frsize;
	return 0;
}
