/*
 * Request authentication with virtual keys (auth: keys). The key comes from
 * "Authorization: Bearer tg_..." (OpenAI SDKs) or, without one, "x-api-key: tg_..." (Anthropic
 * SDKs), and is checked against the store on every request, so a revocation takes effect at
 * once on every worker.
 */
#ifndef TG_WORKER_AUTH_H
#define TG_WORKER_AUTH_H

#include "shared/tg_store.h"
#include "worker/http.h"

/** Open this worker's store (after fork). Returns 0 or -1. */
int tg_auth_init(const tg_config_t *cf);

/** Close the worker's store. */
void tg_auth_shutdown(void);

/** The worker's store, or NULL. */
tg_store_t *tg_worker_store(void);

/**
 * The tenant record of an authenticated request, from the same cache as the key (valid until
 * the next write to the control store). Returns 0, MDB_NOTFOUND, or another LMDB error.
 */
int tg_auth_tenant(tg_req_t *r, tg_tenant_t *t);

/**
 * Authenticate r when its configuration requires keys. Returns 0 (r->key set, or auth off), or
 * -1 after answering 401 (missing, invalid, revoked, expired key) or 503 (store failure).
 */
int tg_auth_request(tg_req_t *r);

#endif
