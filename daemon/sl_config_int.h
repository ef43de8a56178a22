/*
 * sl_config_int.h: what the three halves of the configuration reader share.
 *
 *   sl_config.c       the struct's lifecycle, users, --set, final checks
 *   sl_config_keys.c  the key table, value parsers and where values land
 *   sl_config_file.c  sluice.conf, line by line (syntax in sl_ini.c)
 *
 * The file and --set both end in sl_config_apply(), so they accept and
 * refuse exactly the same things.
 */
#ifndef SL_CONFIG_INT_H
#define SL_CONFIG_INT_H

#include <stddef.h>

#include "sl_config.h"
#include "sl_text.h"

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)

/*
 * "broker", "amqp", "mqtt", "journal", "http" or "user NAME". Returns the
 * key table's section name ("user" for any user section), or NULL if the
 * section is unknown; *user gets NAME (borrowed from section) for a user
 * section, else NULL.
 */
const char *sl_config_section_classify(const char *section, const char **user);

/*
 * The [user NAME] entry, created (with "" tags, loopback_only unset and
 * where copied) when it does not exist yet. Borrowed: it lives in
 * c->users, which the next creation may move.
 */
struct sl_user *sl_config_user_get(struct sl_config *c, const char *name,
				   const char *where);

/*
 * Apply section/name = value. where names the origin for a user created
 * here. 0, or -EINVAL with the reason (no location prefix) in why.
 */
int sl_config_apply(struct sl_config *c, const char *section, const char *name,
		    const char *value, const char *where, char *why, size_t whylen);

#endif
