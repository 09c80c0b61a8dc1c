/*
 * Opening and closing the LMDB store (see tg_store.h). The control environment is fully
 * synchronous: a committed admin mutation is on disk when mdb_txn_commit returns. The meter
 * environment uses MDB_NOSYNC and MDB_NORDAHEAD (B-tree pages are read at random; with
 * WRITEMAP a new page of the sparse map would fault in a readahead window of zeroed holes, 7 %
 * of a worker's CPU under load) and is flushed by tg_store_sync on the master's timer. Opt-in
 * MDB_WRITEMAP (store.meter_writemap) writes the shared map in place instead of pwrite()ing the
 * dirty pages: ~2 % less CPU per request with group commit, but LMDB then no longer keeps the
 * file consistent through a system crash even on a file system that preserves write order, so
 * it is off by default (docs/storage.md). Either way a process crash loses nothing committed.
 */
#include "shared/tg_store.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    int meter;
} tg_dbs[TG_DB_COUNT] = {
    [TG_DB_META] = {"meta", 0},       [TG_DB_KEYS] = {"keys", 0},
    [TG_DB_TENANTS] = {"tenants", 0}, [TG_DB_AUDIT] = {"audit", 0},
    [TG_DB_LIMITS] = {"limits", 1},   [TG_DB_INFLIGHT] = {"inflight", 1},
    [TG_DB_USAGE] = {"usage", 1},     [TG_DB_EVENTS] = {"events", 1},
    [TG_DB_HEALTH] = {"health", 1},   [TG_DB_REQIDX] = {"reqidx", 1},
    [TG_DB_FEEDBACK] = {"feedback", 1},
};

static int tg_env_open(MDB_env **env, const char *dir, const char *name, size_t map,
                       unsigned readers, unsigned flags, char *err, size_t errlen)
{
    char path[4096];
    int rc, dead = 0;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (mkdir(path, 0700) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(\"%s\"): %s", path, strerror(errno));
        return -1;
    }
    if ((rc = mdb_env_create(env)) != 0 || (rc = mdb_env_set_mapsize(*env, map)) != 0 ||
        (rc = mdb_env_set_maxdbs(*env, 8)) != 0 ||
        (rc = mdb_env_set_maxreaders(*env, readers)) != 0 ||
        (rc = mdb_env_open(*env, path, flags | MDB_NOTLS, 0600)) != 0) {
        snprintf(err, errlen, "LMDB environment %s: %s", path, mdb_strerror(rc));
        if (*env != NULL)
            mdb_env_close(*env);
        *env = NULL;
        return -1;
    }
    /* reader slots of processes that died (a killed worker) would pin old pages forever */
    mdb_reader_check(*env, &dead);
    return 0;
}

int tg_store_open(tg_store_t *s, const tg_store_opts_t *o, char *err, size_t errlen)
{
    MDB_txn *txn = NULL;
    int rc;

    memset(s, 0, sizeof(*s));
    if (mkdir(o->path, 0700) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir(\"%s\"): %s", o->path, strerror(errno));
        return -1;
    }
    if (tg_env_open(&s->control, o->path, "control", o->control_map_size, o->max_readers, 0, err,
                    errlen) == -1 ||
        tg_env_open(&s->meter, o->path, "meter", o->meter_map_size, o->max_readers,
                    MDB_NOSYNC | MDB_NORDAHEAD | (o->meter_writemap ? MDB_WRITEMAP : 0),
                    err, errlen) == -1)
        goto fail;
    for (int env = 0; env < 2; env++) {
        if ((rc = mdb_txn_begin(env ? s->meter : s->control, NULL, 0, &txn)) != 0)
            goto lmdb_fail;
        for (int i = 0; i < TG_DB_COUNT; i++) {
            if (tg_dbs[i].meter != env)
                continue;
            if ((rc = mdb_dbi_open(txn, tg_dbs[i].name, MDB_CREATE, &s->dbi[i])) != 0)
                goto lmdb_fail;
        }
        if (!env) {
            MDB_val k = {6, (void *)"schema"}, v;
            unsigned char ver = TG_STORE_SCHEMA;
            rc = mdb_get(txn, s->dbi[TG_DB_META], &k, &v);
            if (rc == MDB_NOTFOUND) {
                v.mv_size = 1;
                v.mv_data = &ver;
                rc = mdb_put(txn, s->dbi[TG_DB_META], &k, &v, 0);
            } else if (rc == 0 && (v.mv_size != 1 || *(unsigned char *)v.mv_data != ver)) {
                snprintf(err, errlen, "store %s has schema %d; this build reads %d", o->path,
                         v.mv_size == 1 ? *(unsigned char *)v.mv_data : -1, TG_STORE_SCHEMA);
                mdb_txn_abort(txn);
                goto fail;
            }
            if (rc != 0)
                goto lmdb_fail;
        }
        if ((rc = mdb_txn_commit(txn)) != 0) {
            txn = NULL;
            goto lmdb_fail;
        }
        txn = NULL;
    }
    s->pid = (int)getpid();
    return 0;

lmdb_fail:
    snprintf(err, errlen, "LMDB store %s: %s", o->path, mdb_strerror(rc));
    if (txn != NULL)
        mdb_txn_abort(txn);
fail:
    tg_store_close(s);
    return -1;
}

void tg_store_close(tg_store_t *s)
{
    for (int i = 0; i < 2; i++)
        if (s->idle[i] != NULL)
            mdb_txn_abort(s->idle[i]);
    s->idle[0] = s->idle[1] = NULL;
    if (s->control != NULL)
        mdb_env_close(s->control);
    if (s->meter != NULL) {
        mdb_env_sync(s->meter, 1);
        mdb_env_close(s->meter);
    }
    s->control = s->meter = NULL;
}

MDB_env *tg_store_env(const tg_store_t *s, tg_db_t db)
{
    return tg_dbs[db].meter ? s->meter : s->control;
}

int tg_store_sync(tg_store_t *s)
{
    return s->meter != NULL && mdb_env_sync(s->meter, 1) == 0 ? 0 : -1;
}

int tg_store_begin(tg_store_t *s, tg_db_t db, unsigned flags, MDB_txn **txn)
{
    return mdb_txn_begin(tg_store_env(s, db), NULL, flags, txn);
}

int tg_store_read_begin(tg_store_t *s, tg_db_t db, MDB_txn **txn)
{
    int env = tg_dbs[db].meter;
    int rc;

    if ((*txn = s->idle[env]) != NULL) {
        s->idle[env] = NULL;
        if ((rc = mdb_txn_renew(*txn)) == 0)
            return 0;
        mdb_txn_abort(*txn);
    }
    return mdb_txn_begin(env ? s->meter : s->control, NULL, MDB_RDONLY, txn);
}

void tg_store_read_end(tg_store_t *s, tg_db_t db, MDB_txn *txn)
{
    int env = tg_dbs[db].meter;

    if (s->idle[env] == NULL) {
        mdb_txn_reset(txn);
        s->idle[env] = txn;
    } else {
        mdb_txn_abort(txn);
    }
}

void tg_store_be64(unsigned char out[8], uint64_t v)
{
    v = htobe64(v);
    memcpy(out, &v, 8);
}

uint64_t tg_store_get_be64(const unsigned char in[8])
{
    uint64_t v;

    memcpy(&v, in, 8);
    return be64toh(v);
}
