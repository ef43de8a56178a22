/*
 * bk_mgmt_extra.c: journal and disk figures for /metrics and /api/nodes,
 * read through the core
 * because the broker owns the journal once persistence has started
 * (protocols never include storage.h).
 */
#include "bk_persist.h"
#include "storage.h"

#include <string.h>

bool
bk_journal_stats_get(struct bk_broker *b, struct bk_journal_stats *out)
{
	struct bk_persist *p = bk_persist_get(b);
	struct st_journal_stats s;

	memset(out, 0, sizeof(*out));
	if (p == NULL || p->j == NULL)
		return false;
	st_journal_stats_get(p->j, &s);
	out->segments = s.segments;
	out->disk_bytes = s.disk_bytes;
	out->live_bytes = s.live_bytes;
	out->live_msgs = s.live_msgs;
	out->records = s.records;
	out->batches = s.batches;
	out->syncs = s.syncs;
	out->compacted_records = s.compacted_records;
	out->deleted_segments = s.deleted_segments;
	out->failed = s.failed;
	_Static_assert(BK_FSYNC_BUCKETS == ST_FSYNC_BUCKETS, "one histogram layout");
	for (int i = 0; i < BK_FSYNC_BUCKETS; i++) {
		out->fsync_le[i] = st_fsync_bounds_us[i] / 1e6;
		out->fsync_bucket[i] = s.fsync_bucket[i];
	}
	out->fsync_count = s.fsync_count;
	out->fsync_sum = (double)s.fsync_ns / 1e9;
	return true;
}

bool
bk_disk_space(struct bk_broker *b, uint64_t *free_bytes, uint64_t *limit)
{
	struct bk_persist *p = bk_persist_get(b);
	uint64_t total = 0;

	*free_bytes = *limit = 0;
	if (p == NULL || p->data_dir == NULL)
		return false;
	*limit = p->disk_free_limit;
	return st_disk_space(p->data_dir, free_bytes, &total) == 0;
}
