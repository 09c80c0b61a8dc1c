/*
 * The LMDB store shared by the master and every worker. Two environments in one directory:
 * "control" (keys, tenants, audit, meta: few writes, each synced to disk before the caller
 * answers) and "meter" (rate-limit windows, in-flight reservations, usage rollups, request
 * events: a write per request, opened with MDB_NOSYNC and synced by the master on a timer).
 * Every process opens the environments itself after fork, as LMDB requires.
 *
 * Caveats: never hold a transaction across event-loop callbacks; never use a tg_store_t in a
 * process other than the one that opened it (a forked child opens its own and ignores the
 * inherited one, without closing it).
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define TG_STORE_SCHEMA 1

typedef enum {
    TG_DB_META = 0,  /* control: "schema" -> version, ... */
    TG_DB_KEYS,      /* control: key id -> key record */
    TG_DB_TENANTS,   /* control: tenant name -> tenant record */
    TG_DB_AUDIT,     /* control: sequence (u64 big-endian) -> audit entry */
    TG_DB_LIMITS,    /* meter: scope/id/window -> counters */
    TG_DB_INFLIGHT,  /* meter: pid/request id -> reservation */
    TG_DB_USAGE,     /* meter: minute/dimension -> rollup counters */
    TG_DB_EVENTS,    /* meter: time (u64 ns big-endian)/request id -> event record */
    TG_DB_HEALTH,    /* meter: model name -> circuit breaker and latency (tg_health_t) */
    TG_DB_REQIDX,    /* meter: request id -> its event's key (for feedback) */
    TG_DB_FEEDBACK,  /* meter: request id -> feedback on it (tg_feedback.h) */
    TG_DB_COUNT
} tg_db_t;

typedef struct {
    MDB_env *control;
    MDB_env *meter;
    MDB_dbi dbi[TG_DB_COUNT];
    int pid; /* the process that opened it */
    MDB_txn *idle[2]; /* a reset read transaction per environment (control, meter) for reuse */
} tg_store_t;

typedef struct {
    const char *path;        /* directory; created (0700) if missing */
    size_t control_map_size; /* bytes */
    size_t meter_map_size;
    unsigned max_readers;
    int meter_writemap; /* open the meter environment with MDB_WRITEMAP (see tg_store.c) */
} tg_store_opts_t;

/**
 * Open (creating if needed) both environments and every named database, and clear reader
 * slots left by dead processes (mdb_reader_check). Returns 0, or -1 with a reason in err.
 */
int tg_store_open(tg_store_t *s, const tg_store_opts_t *o, char *err, size_t errlen);

/** Close both environments. Only in the process that opened them. */
void tg_store_close(tg_store_t *s);

/** The environment a database lives in. */
MDB_env *tg_store_env(const tg_store_t *s, tg_db_t db);

/** Flush the meter environment to disk (the master calls this on a timer). Returns 0 or -1. */
int tg_store_sync(tg_store_t *s);

/** Begin a transaction on db's environment (flags: 0 or MDB_RDONLY). Returns an LMDB code. */
int tg_store_begin(tg_store_t *s, tg_db_t db, unsigned flags, MDB_txn **txn);

/**
 * A short read-only transaction on db's environment, renewed from a reset one where possible
 * (no allocation, no reader-table scan: the hot path reads breaker state per request). End it
 * with tg_store_read_end, never with abort or commit. Returns an LMDB code.
 */
int tg_store_read_begin(tg_store_t *s, tg_db_t db, MDB_txn **txn);
void tg_store_read_end(tg_store_t *s, tg_db_t db, MDB_txn *txn);

/** Big-endian u64, for keys that must sort numerically. */
void tg_store_be64(unsigned char out[8], uint64_t v);
uint64_t tg_store_get_be64(const unsigned char in[8]);

#endif
