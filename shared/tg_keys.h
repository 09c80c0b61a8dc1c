/*
 * Virtual keys and tenants. A key is "tg_<id>_<secret>": the id finds the record, and only
 * HMAC-SHA256(pepper, key) is stored, so a copy of the database reveals no usable key. Records
 * are versioned msgpack in the control environment of the store. Verification is constant-time
 * and distinguishes "no such key" (401) from "the store failed" (503).
 */
#ifndef TG_KEYS_H
#define TG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_store.h"

#define TG_KEY_ID_LEN 12
#define TG_KEY_SECRET_LEN 32
#define TG_KEY_LEN (3 + TG_KEY_ID_LEN + 1 + TG_KEY_SECRET_LEN) /* tg_ + id + _ + secret */
#define TG_KEY_MAX_MODELS 16
#define TG_NAME_MAX 64
#define TG_PEPPER_LEN 32

/** Limits and budgets shared by keys and tenants; 0 means unlimited. */
typedef struct {
    int64_t rpm;                  /* requests per minute */
    int64_t tpm;                  /* tokens per minute */
    int64_t concurrency;          /* requests in flight */
    int64_t daily_budget_micros;  /* USD per UTC day, in micro-dollars */
    int64_t monthly_budget_micros; /* USD per UTC month */
} tg_limits_t;

typedef enum { TG_KEY_ACTIVE = 0, TG_KEY_REVOKED = 1 } tg_key_status_t;

typedef struct {
    char id[TG_KEY_ID_LEN + 1];
    char tenant[TG_NAME_MAX];
    char name[TG_NAME_MAX];
    tg_key_status_t status;
    int64_t created;    /* unix seconds */
    int64_t expires;    /* unix seconds; 0: never */
    unsigned char hmac[32];
    unsigned char prev_hmac[32]; /* the secret before the last rotation */
    int64_t prev_until;          /* ...accepted until then (unix seconds); 0: not at all */
    char task[TG_NAME_MAX];      /* default task label */
    char models[TG_KEY_MAX_MODELS][TG_NAME_MAX]; /* allowed models/routes; none: all */
    int nmodels;
    tg_limits_t limits;
} tg_key_t;

typedef struct {
    char name[TG_NAME_MAX];
    int64_t created;
    int disabled;
    tg_limits_t limits;
} tg_tenant_t;

typedef enum {
    TG_AUTH_OK = 0,
    TG_AUTH_MISSING,  /* no key presented */
    TG_AUTH_INVALID,  /* malformed, unknown or wrong secret */
    TG_AUTH_REVOKED,
    TG_AUTH_EXPIRED,
    TG_AUTH_ERROR,    /* the store failed: answer 503, never 401 */
} tg_auth_t;

/** The process's pepper (loaded by the master before any fork; workers inherit it). */
extern unsigned char tg_pepper[TG_PEPPER_LEN];

/**
 * Load the pepper from path, creating it (32 random bytes, mode 0600) if it does not exist.
 * Returns 0, or -1 with a reason in err.
 */
int tg_pepper_load(const char *path, unsigned char pepper[TG_PEPPER_LEN], char *err,
                   size_t errlen);

/** HMAC-SHA256(pepper, key). */
void tg_key_hmac(const unsigned char pepper[TG_PEPPER_LEN], const char *key, size_t len,
                 unsigned char out[32]);

/**
 * Make a new key: fills k->id and k->hmac (keeping the other fields the caller set) and
 * writes the secret ("tg_<id>_<secret>", NUL-terminated) into secret (>= TG_KEY_LEN + 1).
 */
int tg_key_generate(const unsigned char pepper[TG_PEPPER_LEN], tg_key_t *k, char *secret,
                    size_t size);

/** Encode a record (version byte + msgpack) into a malloc'd buffer. Returns 0 or -1. */
int tg_key_encode(const tg_key_t *k, char **out, size_t *len);
int tg_key_decode(const void *data, size_t len, tg_key_t *k);
int tg_tenant_encode(const tg_tenant_t *t, char **out, size_t *len);
int tg_tenant_decode(const void *data, size_t len, tg_tenant_t *t);

/** Read a key record by id inside txn. Returns 0, MDB_NOTFOUND, or another LMDB error. */
int tg_key_get(tg_store_t *s, MDB_txn *txn, const char *id, tg_key_t *k);

/** Write a key record inside a write txn. Returns 0 or an LMDB error. */
int tg_key_put(tg_store_t *s, MDB_txn *txn, const tg_key_t *k);

int tg_tenant_get(tg_store_t *s, MDB_txn *txn, const char *name, tg_tenant_t *t);
int tg_tenant_put(tg_store_t *s, MDB_txn *txn, const tg_tenant_t *t);

/**
 * Verify a presented key (the text after "Bearer ") at time now: a short read transaction,
 * constant-time comparison against the current and (within its grace period) previous secret.
 * On TG_AUTH_OK, k holds the record.
 */
tg_auth_t tg_key_verify(tg_store_t *s, const unsigned char pepper[TG_PEPPER_LEN],
                        const char *presented, int64_t now, tg_key_t *k);

/** Does the key allow this model (or route) name? */
int tg_key_allows(const tg_key_t *k, const char *model);

#endif
