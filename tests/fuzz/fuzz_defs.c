/*
 * fuzz_defs.c: libFuzzer target for definitions documents (what POST
 * /api/definitions, broker.load_definitions and the durable definitions
 * file read): the JSON, the reader's checks (bk_defs_parse) and the
 * import of every kind into a real broker (vhosts, users with passwords
 * or hashes, permissions, topic permissions, policies, exchanges, queues
 * with their arguments, bindings), then the export of what was kept.
 *
 * The invariant: whatever one import kept, its export imports again into
 * a fresh broker with every entry accepted, and exports to the same
 * document (an export is a fixed point). Any difference aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bk_admin.h"
#include "bk_log.h"
#include "fuzz_net.h"

#define REQUIRE(x) do { \
	if (!(x)) { \
		fprintf(stderr, "fuzz_defs: %s:%d: %s\n", __FILE__, __LINE__, #x); \
		abort(); \
	} \
} while (0)

/* Import doc into a fresh broker; its export as text (NULL if refused). */
static char *
round_trip(const cJSON *doc, unsigned flags, int *rc)
{
	struct bk_broker *b = fuzz_net_broker();
	char why[512];
	char *text = NULL;
	cJSON *out;

	*rc = bk_defs_import(b, doc, NULL, flags, why, sizeof(why));
	out = bk_defs_export(b, NULL, 0);
	text = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	fuzz_net_broker_free(b);
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *doc = cJSON_ParseWithLength((const char *)data, size), *again;
	char *first, *second;
	int rc;

	(void)fuzz_net_base();
	if (doc == NULL)
		return 0;
	first = round_trip(doc, BK_DEFS_KEEP_GOING, &rc);
	cJSON_Delete(doc);
	REQUIRE(first != NULL);
	again = cJSON_Parse(first);
	REQUIRE(again != NULL);
	second = round_trip(again, 0, &rc);
	if (rc != 0 || strcmp(first, second) != 0)
		fprintf(stderr, "fuzz_defs: export does not import back the same:\n%s\n%s\n",
			first, second);
	REQUIRE(rc == 0);
	REQUIRE(strcmp(first, second) == 0);
	cJSON_Delete(again);
	free(first);
	free(second);
	return 0;
}
