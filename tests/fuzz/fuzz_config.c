/*
 * fuzz_config.c: libFuzzer target for sluice.conf: the line syntax
 * (sl_ini.c), every key's value parser, [user], [vhost], [permission],
 * [topic_permission], [policy], [exchange], [queue] and [binding]
 * sections with their argument typing, and the final checks
 * (sl_config_finish).
 *
 * The input is the file, up to the first line that starts with '!'; that
 * line and each later "!SECTION.KEY=VALUE" line are applied as --set
 * overrides after the file. load_definitions is
 * dropped before the final checks: it names a file to read, and the
 * definitions reader has a target of its own (fuzz_defs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_alloc.h"
#include "bk_log.h"
#include "sl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_config c;
	char err[1024];
	char *copy = malloc(size + 1);
	char *sets = NULL;
	FILE *f;

	bk_log_set_level(BK_LOG_ERROR);
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* the file is what comes before the first "\n!" */
	for (size_t i = 0; i + 1 < size; i++)
		if (copy[i] == '\n' && copy[i + 1] == '!') {
			copy[i] = '\0';
			sets = copy + i + 2;
			break;
		}
	sl_config_init(&c);
	f = fmemopen(copy, strlen(copy) ? strlen(copy) : 1, "r");
	if (f != NULL && sl_config_load_stream(&c, f, "fuzz.conf", err, sizeof(err)) == 0) {
		for (char *line = sets; line != NULL && *line != '\0'; ) {
			char *next = strstr(line, "\n!");

			if (next != NULL)
				*next = '\0';
			sl_config_set(&c, line, err, sizeof(err));
			line = next ? next + 2 : NULL;
		}
		BK_FREE(c.load_definitions);
		sl_config_finish(&c, err, sizeof(err));
		(void)sl_config_memory_watermark(&c);
	}
	if (f != NULL)
		fclose(f);
	sl_config_fini(&c);
	free(copy);
	return 0;
}
