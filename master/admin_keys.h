/*
 * Admin commands on the store: keys.*, tenants.*, audit.* (docs/admin-protocol.md).
 */
#ifndef TG_MASTER_ADMIN_KEYS_H
#define TG_MASTER_ADMIN_KEYS_H

#include <jansson.h>

#include "shared/tg_audit.h"
#include "shared/tg_store.h"

/**
 * Run cmd if it is a keys/tenants/audit command: returns the reply (owned by the caller), or
 * NULL when cmd is not one of them. s may be NULL (no store configured: an error reply).
 */
json_t *tg_admin_keys(tg_store_t *s, const char *cmd, json_t *req, const tg_actor_t *actor);

/** An error reply: {"ok":false,"error":MESSAGE}. */
json_t *tg_admin_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Append a standalone audit entry (reloads, drains, security events). Returns 0 or -1. */
int tg_admin_audit(tg_store_t *s, const tg_actor_t *actor, const char *action,
                   const char *target, const char *detail_json);

#endif
