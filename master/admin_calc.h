/*
 * The calc admin command: the cost calculator (shared/tg_calc.h) over the admin protocol, on
 * the running configuration or a proposed one that is compiled and never applied.
 * docs/admin-protocol.md, docs/analytics.md.
 */
#ifndef TG_MASTER_ADMIN_CALC_H
#define TG_MASTER_ADMIN_CALC_H

#include <jansson.h>

#include "shared/tg_audit.h"
#include "shared/tg_config.h"
#include "shared/tg_store.h"

/**
 * Run cmd if it is "calc": price a profile ({"profile": YAML text}) or replay the metered
 * events of a period ({"replay": true, "since": unix seconds}), on cf or on the configuration
 * named by "config". Returns the reply (owned by the caller), or NULL when cmd is another
 * command. s (the events, for a replay) may be NULL. A caller over HTTP (actor uid
 * TG_ACTOR_HTTP) may give a proposed configuration as YAML text only, never as a path: the
 * network does not get to make the gateway read its files.
 */
json_t *tg_admin_calc(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req,
                      const tg_actor_t *actor);

#endif
