/*
 * bk_proc.h: what the operating system says about this process, for the
 * management API and Prometheus (RabbitMQ's fd_used, sockets_used,
 * process_resident_memory_bytes and their limits).
 */
#ifndef SLUICE_BK_PROC_H
#define SLUICE_BK_PROC_H

#include <stdint.h>

struct bk_proc_stats {
	uint64_t rss;                   /* resident bytes (/proc/self/statm) */
	uint64_t fds_open;              /* open file descriptors */
	uint64_t fds_max;               /* RLIMIT_NOFILE (soft) */
	uint64_t sockets_open;          /* of those, sockets */
	uint64_t sockets_max;           /* RabbitMQ's rule: (fds_max - 100) * 0.9 */
};

/* Fill out: O(open descriptors) (it reads /proc/self/fd). Figures it
 * cannot read stay 0. Never fails. */
void bk_proc_stats_get(struct bk_proc_stats *out);

#endif
