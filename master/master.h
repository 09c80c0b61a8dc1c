/*
 * The master process (see master.c) and what the admin socket may ask of it.
 */
#ifndef TG_MASTER_MASTER_H
#define TG_MASTER_MASTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "shared/tg_audit.h"
#include "shared/tg_config.h"
#include "shared/tg_store.h"

struct event_base;

typedef struct {
    int slot;
    pid_t pid; /* 0 while waiting to be respawned */
    unsigned restarts;
    unsigned generation;
    int64_t uptime_ms;
} tg_worker_info_t;

/** Run the master until shutdown; cf becomes the master's. Returns the exit code. */
int tg_master_run(tg_config_t *cf);

/**
 * Reload the configuration from its file on behalf of actor (audited with the new file's
 * SHA-256, or the reason it was refused). Returns 0, or -1 with "file:line:col: reason".
 */
int tg_master_reload_by(const void *actor, char *err, size_t errlen);

/**
 * Give provider name a new API key on every worker, live (audited; the key is never logged).
 * Returns 0, or -1 with a reason in err.
 */
int tg_master_provider_key(const void *actor, const char *name, const char *key, char *err,
                           size_t errlen);

/** Begin shutdown: graceful drains with the configured deadline; otherwise kill at once. */
void tg_master_stop(int graceful);

/** Fill out with up to max worker descriptions; returns how many. */
int tg_master_workers(tg_worker_info_t *out, int max);

/** The configuration generation in force. */
const tg_config_t *tg_master_config(void);

/** The master's store, or NULL when the configuration has none. */
tg_store_t *tg_master_store(void);

/**
 * Run one admin command ({"cmd": ..., fields}, docs/admin-protocol.md) on behalf of actor: the
 * dispatcher behind both the admin socket and the admin HTTP API. The reply is the caller's.
 */
json_t *tg_admin_command(const tg_actor_t *actor, json_t *req);

/** Start the admin socket if the configuration names one. Returns 0 or -1. */
int tg_admin_start(struct event_base *base, const tg_config_t *cf);

/** Close the admin socket and its connections, and remove the socket file. */
void tg_admin_stop(void);

#endif
