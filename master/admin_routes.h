/*
 * Admin commands on routes: routes.list (the routes in force) and routes.explain (the decision
 * a request would get, step by step). docs/admin-protocol.md.
 */
#ifndef TG_MASTER_ADMIN_ROUTES_H
#define TG_MASTER_ADMIN_ROUTES_H

#include <jansson.h>

#include "shared/tg_config.h"
#include "shared/tg_store.h"

/** Run cmd if it is a routes.list/routes.explain command (reply owned by the caller), else
 * NULL. s (for breaker states) may be NULL. */
json_t *tg_admin_route_cmds(const tg_config_t *cf, tg_store_t *s, const char *cmd, json_t *req);

#endif
