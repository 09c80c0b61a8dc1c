/*
 * The audit trail: every admin mutation and security event is an entry in the control
 * environment, linked to the one before it by SHA-256, so that editing or deleting any entry
 * breaks the chain at that point. Entries are written in the same transaction as the change they
 * describe, so a change is never on disk without its audit entry (or the reverse).
 */
#ifndef TG_AUDIT_H
#define TG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_store.h"

/**
 * Who did it: the admin socket peer's credentials, the gateway itself (uid TG_ACTOR_GATEWAY:
 * signals, security events) or a caller of the admin HTTP API (uid TG_ACTOR_HTTP, pid 0).
 */
typedef struct {
    int uid;
    int pid;
} tg_actor_t;

#define TG_ACTOR_GATEWAY (-1)
#define TG_ACTOR_HTTP (-2)

/** One decoded entry. detail is a JSON object text (never holding a secret). */
typedef struct {
    uint64_t seq;
    int64_t ts_ms;
    tg_actor_t actor;
    char action[64];
    char target[128];
    char *detail; /* malloc'd */
    unsigned char prev[32];
    unsigned char hash[32];
} tg_audit_entry_t;

/**
 * Append an entry inside write transaction txn (control environment). Returns 0 or an LMDB
 * error (or ENOMEM).
 */
int tg_audit_append(tg_store_t *s, MDB_txn *txn, const tg_actor_t *actor, const char *action,
                    const char *target, const char *detail_json);

/** Decode a stored entry (value bytes). Returns 0 or -1. */
int tg_audit_decode(const void *data, size_t len, tg_audit_entry_t *e);

/** Free what a decoded entry owns. */
void tg_audit_entry_clear(tg_audit_entry_t *e);

/**
 * Walk the whole chain. Returns 0 if intact; otherwise -1 with *bad set to the sequence number
 * of the first entry that was altered, inserted or whose predecessor was removed, and why set.
 * *count receives the number of entries checked.
 */
int tg_audit_verify(tg_store_t *s, uint64_t *count, uint64_t *bad, const char **why);

/**
 * Call fn for each entry with seq > after (ascending), at most limit (0: all). For tail, pass
 * after = last - n. Returns 0 or -1.
 */
int tg_audit_each(tg_store_t *s, uint64_t after, size_t limit,
                  int (*fn)(void *arg, const tg_audit_entry_t *e), void *arg);

/** The sequence number of the newest entry (0 when empty). */
uint64_t tg_audit_last(tg_store_t *s);

#endif
