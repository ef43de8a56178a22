/*
 * persist_start.h: a broker with the real journal in dir, as the daemon
 * starts one (st_journal_open, then bk_broker_persist_start), for the
 * core's persistence tests.
 */
#ifndef SLUICE_PERSIST_START_H
#define SLUICE_PERSIST_START_H

#include "testlib.h"
#include "broker.h"
#include "storage.h"

static inline struct bk_broker *
persist_broker_start(const char *dir, struct event_base *base, uint64_t budget)
{
	struct bk_persist_config pc = { dir, 0, budget };
	struct st_journal_config jc;
	struct st_journal *j;
	struct bk_broker *b = bk_broker_new(base, NULL);
	char err[256];

	st_journal_config_init(&jc);
	jc.data_dir = dir;
	CHECK_EQ_INT(st_journal_open(&jc, base, &j), 0);
	CHECK_EQ_INT(bk_broker_persist_start(b, j, &pc, err, sizeof(err)), 0);
	return b;
}

#endif
