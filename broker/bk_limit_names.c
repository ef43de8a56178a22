/*
 * bk_limit_names.c: the names of user and vhost limits, RabbitMQ's
 * ("max-connections", ...). Pure, so the definitions reader (which the
 * daemon's config tests link without the core) can use them; the limits
 * themselves are bk_limits.c's.
 */
#include "bk_admin.h"

#include <string.h>

static const char *const names[BK_LIMIT__COUNT] = {
	[BK_LIMIT_MAX_CONNECTIONS] = "max-connections",
	[BK_LIMIT_MAX_CHANNELS] = "max-channels",
	[BK_LIMIT_MAX_QUEUES] = "max-queues",
};

const char *
bk_limit_name(enum bk_limit l)
{
	return (unsigned)l < BK_LIMIT__COUNT ? names[l] : "";
}

bool
bk_limit_parse(const char *name, enum bk_limit *out)
{
	for (int i = 0; i < BK_LIMIT__COUNT; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum bk_limit)i;
			return true;
		}
	}
	return false;
}
