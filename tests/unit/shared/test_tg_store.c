/*
 * Unit tests for shared/tg_store.c: opening the LMDB store in a fresh directory (both
 * environments, every named database, private modes, the schema byte), reopening it, refusing a
 * store written by another schema with a message an operator can act on, the big-endian key
 * helpers that keep sequence numbers sorted, and syncing the meter environment.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/tg_store.h"

#define MIB (1024 * 1024)

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    char dir[96];   /* the mkdtemp directory */
    char path[128]; /* the store inside it (not yet existing) */
} tmp_t;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* Every test's directory is made inside this one, which main() removes at the end even when a
 * failed test (a forked child) could not clean up after itself. */
static char tmp_root[64];

static void tmp_make(tmp_t *t)
{
    snprintf(t->dir, sizeof(t->dir), "%s/XXXXXX", tmp_root);
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/data", t->dir);
}

static void tmp_remove(tmp_t *t)
{
    nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static tg_store_opts_t opts_for(const char *path)
{
    tg_store_opts_t o = {path, 8 * MIB, 8 * MIB, 16, 0};

    return o;
}

static void open_ok(tg_store_t *s, const char *path)
{
    tg_store_opts_t o = opts_for(path);
    char err[512] = "";

    ck_assert_msg(tg_store_open(s, &o, err, sizeof(err)) == 0, "tg_store_open: %s", err);
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    ck_assert_msg(stat(path, &st) == 0, "stat(%s): %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* Put one value under key in db, in its own committed transaction. */
static void put(tg_store_t *s, tg_db_t db, const char *key, const void *val, size_t len)
{
    MDB_txn *txn;
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};

    ck_assert_int_eq(tg_store_begin(s, db, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->dbi[db], &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* Read key from db: returns the LMDB code, copies the value into out (size bytes at most). */
static int get(tg_store_t *s, tg_db_t db, const char *key, void *out, size_t size, size_t *len)
{
    MDB_txn *txn;
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc;

    ck_assert_int_eq(tg_store_begin(s, db, MDB_RDONLY, &txn), 0);
    rc = mdb_get(txn, s->dbi[db], &k, &v);
    if (rc == 0) {
        *len = v.mv_size;
        memcpy(out, v.mv_data, v.mv_size < size ? v.mv_size : size);
    }
    mdb_txn_abort(txn);
    return rc;
}

static const char *const control_dbs[] = {"meta", "keys", "tenants", "audit"};
static const char *const meter_dbs[] = {"limits", "inflight", "usage", "events"};

/* Every name must already exist in env (opened without MDB_CREATE). */
static void expect_named_dbs(MDB_env *env, const char *const *names, size_t n)
{
    MDB_txn *txn;
    MDB_dbi dbi;

    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    for (size_t i = 0; i < n; i++) {
        int rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        ck_assert_msg(rc == 0, "named database \"%s\" missing: %s", names[i], mdb_strerror(rc));
    }
    ck_assert_int_eq(mdb_dbi_open(txn, "no-such-db", 0, &dbi), MDB_NOTFOUND);
    mdb_txn_abort(txn);
}

/* ---- opening ------------------------------------------------------------------------------ */

START_TEST(open_creates_everything)
{
    /* A first open makes the directory (0700), both environments (0700 directories, 0600
     * files), every named database in the right environment, and writes the schema byte. */
    tmp_t t;
    tg_store_t s;
    char p[256];
    unsigned char ver = 0;
    size_t len = 0;
    unsigned flags = 0;

    tmp_make(&t);
    open_ok(&s, t.path);
    ck_assert_ptr_nonnull(s.control);
    ck_assert_ptr_nonnull(s.meter);
    ck_assert_int_eq(s.pid, (int)getpid());

    ck_assert_uint_eq(mode_of(t.path), 0700);
    snprintf(p, sizeof(p), "%s/control", t.path);
    ck_assert_uint_eq(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/meter", t.path);
    ck_assert_uint_eq(mode_of(p), 0700);
    snprintf(p, sizeof(p), "%s/control/data.mdb", t.path);
    ck_assert_uint_eq(mode_of(p), 0600);
    snprintf(p, sizeof(p), "%s/meter/data.mdb", t.path);
    ck_assert_uint_eq(mode_of(p), 0600);

    expect_named_dbs(s.control, control_dbs, 4);
    expect_named_dbs(s.meter, meter_dbs, 4);
    for (int db = 0; db < TG_DB_COUNT; db++)
        ck_assert_ptr_eq(tg_store_env(&s, (tg_db_t)db), db <= TG_DB_AUDIT ? s.control : s.meter);

    ck_assert_int_eq(get(&s, TG_DB_META, "schema", &ver, 1, &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(ver, TG_STORE_SCHEMA);

    /* control is synchronous; meter is NOSYNC (flushed by tg_store_sync) */
    ck_assert_int_eq(mdb_env_get_flags(s.control, &flags), 0);
    ck_assert_uint_eq(flags & MDB_NOSYNC, 0);
    ck_assert_int_eq(mdb_env_get_flags(s.meter, &flags), 0);
    ck_assert_uint_ne(flags & MDB_NOSYNC, 0);
    {
        unsigned readers = 0;
        ck_assert_int_eq(mdb_env_get_maxreaders(s.control, &readers), 0);
        ck_assert_uint_eq(readers, 16);
    }
    tg_store_close(&s);
    ck_assert_ptr_null(s.control);
    ck_assert_ptr_null(s.meter);
    tg_store_close(&s); /* closing twice is harmless */
    tmp_remove(&t);
}
END_TEST

START_TEST(open_existing_empty_directory)
{
    /* An existing (empty) directory is used as it is. */
    tmp_t t;
    tg_store_t s;

    tmp_make(&t);
    open_ok(&s, t.dir);
    expect_named_dbs(s.control, control_dbs, 4);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

START_TEST(reopen_keeps_data)
{
    /* Closing and opening again finds what both environments held, and the schema once. */
    tmp_t t;
    tg_store_t s;
    char buf[32];
    size_t len = 0;

    tmp_make(&t);
    open_ok(&s, t.path);
    put(&s, TG_DB_KEYS, "abc", "control-value", 13);
    put(&s, TG_DB_USAGE, "minute", "meter-value", 11);
    tg_store_close(&s);

    open_ok(&s, t.path);
    ck_assert_int_eq(get(&s, TG_DB_KEYS, "abc", buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 13);
    ck_assert_mem_eq(buf, "control-value", 13);
    ck_assert_int_eq(get(&s, TG_DB_USAGE, "minute", buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 11);
    ck_assert_mem_eq(buf, "meter-value", 11);
    /* a database of one environment is not visible through the other's handle */
    ck_assert_int_eq(get(&s, TG_DB_TENANTS, "abc", buf, sizeof(buf), &len), MDB_NOTFOUND);
    tg_store_close(&s);

    /* a third open: still one schema byte of the same version */
    open_ok(&s, t.path);
    ck_assert_int_eq(get(&s, TG_DB_META, "schema", buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq((unsigned char)buf[0], TG_STORE_SCHEMA);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

START_TEST(writemap_meter_keeps_data_across_modes)
{
    /* store.meter_writemap: a meter environment written through the map reads back the same
       when opened without it (and the other way round): one file format, two write paths */
    tmp_t t;
    tg_store_t s;
    tg_store_opts_t o;
    char buf[32], err[512];
    size_t len = 0;

    tmp_make(&t);
    o = opts_for(t.path);
    o.meter_writemap = 1;
    ck_assert_msg(tg_store_open(&s, &o, err, sizeof(err)) == 0, "%s", err);
    put(&s, TG_DB_USAGE, "minute", "through-map", 11);
    tg_store_close(&s);
    open_ok(&s, t.path);
    ck_assert_int_eq(get(&s, TG_DB_USAGE, "minute", buf, sizeof(buf), &len), 0);
    ck_assert_mem_eq(buf, "through-map", 11);
    put(&s, TG_DB_USAGE, "minute2", "by-pwrite", 9);
    tg_store_close(&s);
    ck_assert_msg(tg_store_open(&s, &o, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(get(&s, TG_DB_USAGE, "minute2", buf, sizeof(buf), &len), 0);
    ck_assert_mem_eq(buf, "by-pwrite", 9);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

START_TEST(other_schema_refused)
{
    /* A store written by another schema is refused, naming the path and both versions; the
     * store is left unchanged and nothing leaks on the failure path. */
    tmp_t t;
    tg_store_t s;
    tg_store_opts_t o;
    char err[512], want[256];
    unsigned char ver = TG_STORE_SCHEMA + 1, got = 0;
    size_t len = 0;

    tmp_make(&t);
    o = opts_for(t.path);
    open_ok(&s, t.path);
    put(&s, TG_DB_META, "schema", &ver, 1);
    tg_store_close(&s);

    memset(err, 'X', sizeof(err));
    ck_assert_int_eq(tg_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_ptr_null(s.control);
    ck_assert_ptr_null(s.meter);
    snprintf(want, sizeof(want), "store %s has schema %d; this build reads %d", t.path,
             TG_STORE_SCHEMA + 1, TG_STORE_SCHEMA);
    ck_assert_str_eq(err, want);

    /* the refused open did not "upgrade" the byte */
    {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = {6, "schema"}, v;
        char p[256];

        snprintf(p, sizeof(p), "%s/control", t.path);
        ck_assert_int_eq(mdb_env_create(&env), 0);
        ck_assert_int_eq(mdb_env_set_maxdbs(env, 8), 0);
        ck_assert_int_eq(mdb_env_open(env, p, MDB_RDONLY, 0600), 0);
        ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
        ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
        ck_assert_int_eq(mdb_get(txn, dbi, &k, &v), 0);
        got = *(unsigned char *)v.mv_data;
        len = v.mv_size;
        mdb_txn_abort(txn);
        mdb_env_close(env);
    }
    ck_assert_uint_eq(len, 1);
    ck_assert_uint_eq(got, TG_STORE_SCHEMA + 1);
    tmp_remove(&t);
}
END_TEST

START_TEST(malformed_schema_refused)
{
    /* A schema value that is not one byte is refused too (shown as -1). */
    tmp_t t;
    tg_store_t s;
    tg_store_opts_t o;
    char err[512];

    tmp_make(&t);
    o = opts_for(t.path);
    open_ok(&s, t.path);
    put(&s, TG_DB_META, "schema", "\x01\x00", 2);
    tg_store_close(&s);

    ck_assert_int_eq(tg_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "has schema -1; this build reads 1") != NULL, "err: %s", err);
    tmp_remove(&t);
}
END_TEST

START_TEST(open_failures_are_explained)
{
    /* A path below a regular file cannot be made: -1 with the failed call and path. */
    tmp_t t;
    tg_store_t s;
    tg_store_opts_t o;
    char file[160], path[200], err[512];
    FILE *f;

    tmp_make(&t);
    snprintf(file, sizeof(file), "%s/plain", t.dir);
    ck_assert_ptr_nonnull(f = fopen(file, "w"));
    fclose(f);
    snprintf(path, sizeof(path), "%s/data", file);
    o = opts_for(path);
    ck_assert_int_eq(tg_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "mkdir(\"") != NULL && strstr(err, path) != NULL, "err: %s", err);
    ck_assert_ptr_null(s.control);

    /* the store path itself is a regular file */
    o = opts_for(file);
    ck_assert_int_eq(tg_store_open(&s, &o, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, file) != NULL, "err names the path: %s", err);
    tmp_remove(&t);
}
END_TEST

START_TEST(begin_uses_the_right_environment)
{
    /* tg_store_begin opens the transaction on the database's own environment. */
    tmp_t t;
    tg_store_t s;
    MDB_txn *txn;

    tmp_make(&t);
    open_ok(&s, t.path);
    for (int db = 0; db < TG_DB_COUNT; db++) {
        ck_assert_int_eq(tg_store_begin(&s, (tg_db_t)db, MDB_RDONLY, &txn), 0);
        ck_assert_ptr_eq(mdb_txn_env(txn), tg_store_env(&s, (tg_db_t)db));
        mdb_txn_abort(txn);
    }
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

START_TEST(reused_read_transactions_see_later_commits)
{
    /* a read transaction ended with tg_store_read_end is renewed by the next read_begin: it
       must see what was committed in between, and two reads may be open at once */
    tmp_t t;
    tg_store_t s;
    MDB_txn *r1, *r2, *w;
    MDB_val k = {4, (void *)"name"}, v;
    unsigned char one = 1, two = 2;

    tmp_make(&t);
    open_ok(&s, t.path);
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(tg_store_begin(&s, TG_DB_HEALTH, 0, &w), 0);
        v.mv_size = 1;
        v.mv_data = round ? &two : &one;
        ck_assert_int_eq(mdb_put(w, s.dbi[TG_DB_HEALTH], &k, &v, 0), 0);
        ck_assert_int_eq(mdb_txn_commit(w), 0);
        ck_assert_int_eq(tg_store_read_begin(&s, TG_DB_HEALTH, &r1), 0);
        ck_assert_ptr_eq(mdb_txn_env(r1), s.meter);
        ck_assert_int_eq(mdb_get(r1, s.dbi[TG_DB_HEALTH], &k, &v), 0);
        ck_assert_int_eq(*(unsigned char *)v.mv_data, round ? 2 : 1);
        ck_assert_int_eq(tg_store_read_begin(&s, TG_DB_HEALTH, &r2), 0);
        ck_assert_ptr_ne(r1, r2);
        tg_store_read_end(&s, TG_DB_HEALTH, r2);
        tg_store_read_end(&s, TG_DB_HEALTH, r1);
    }
    ck_assert_int_eq(tg_store_read_begin(&s, TG_DB_KEYS, &r1), 0);
    ck_assert_ptr_eq(mdb_txn_env(r1), s.control);
    tg_store_read_end(&s, TG_DB_KEYS, r1);
    tg_store_close(&s); /* frees the idle transactions */
    tmp_remove(&t);
}
END_TEST

/* ---- big-endian keys --------------------------------------------------------------------- */

START_TEST(be64_round_trip)
{
    /* Encoding then decoding gives the value back; the bytes are big-endian. */
    static const uint64_t vals[] = {0,
                                    1,
                                    0xff,
                                    0x100,
                                    0x0102030405060708ULL,
                                    (uint64_t)INT64_MAX,
                                    (uint64_t)INT64_MAX + 1,
                                    UINT64_MAX - 1,
                                    UINT64_MAX};
    unsigned char b[8];

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        tg_store_be64(b, vals[i]);
        ck_assert_uint_eq(tg_store_get_be64(b), vals[i]);
    }
    tg_store_be64(b, 0x0102030405060708ULL);
    ck_assert_mem_eq(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    /* a pseudo-random sweep */
    for (uint64_t x = 88172645463325252ULL, i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        tg_store_be64(b, x);
        ck_assert_uint_eq(tg_store_get_be64(b), x);
    }
}
END_TEST

START_TEST(be64_sorts_numerically)
{
    /* memcmp order (LMDB's default key order) equals numeric order, so sequence numbers and
     * timestamps iterate in order; checked on neighbours across byte boundaries and at random. */
    unsigned char a[8], b[8];
    uint64_t x = 0x9E3779B97F4A7C15ULL, y = 0xD1B54A32D192ED03ULL;

    for (uint64_t v = 0; v < 70000; v++) {
        tg_store_be64(a, v);
        tg_store_be64(b, v + 1);
        ck_assert_int_lt(memcmp(a, b, 8), 0);
    }
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        y ^= y << 13, y ^= y >> 7, y ^= y << 17;
        tg_store_be64(a, x);
        tg_store_be64(b, y);
        int c = memcmp(a, b, 8);
        ck_assert_int_eq(c < 0 ? -1 : c > 0, x < y ? -1 : x > y);
    }
}
END_TEST

START_TEST(be64_keys_iterate_in_order_in_lmdb)
{
    /* Keys written out of order come back from a cursor in numeric order. */
    static const uint64_t vals[] = {256, 1, 65536, 255, 2, UINT64_MAX, 257, 0, 1ULL << 40};
    static const uint64_t sorted[] = {0, 1, 2, 255, 256, 257, 65536, 1ULL << 40, UINT64_MAX};
    tmp_t t;
    tg_store_t s;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v = {1, "x"};
    unsigned char b[8];
    size_t n = 0;
    int rc;

    tmp_make(&t);
    open_ok(&s, t.path);
    ck_assert_int_eq(tg_store_begin(&s, TG_DB_EVENTS, 0, &txn), 0);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        tg_store_be64(b, vals[i]);
        k.mv_size = 8;
        k.mv_data = b;
        ck_assert_int_eq(mdb_put(txn, s.dbi[TG_DB_EVENTS], &k, &v, 0), 0);
    }
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    ck_assert_int_eq(tg_store_begin(&s, TG_DB_EVENTS, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_cursor_open(txn, s.dbi[TG_DB_EVENTS], &cur), 0);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        ck_assert_uint_lt(n, 9);
        ck_assert_uint_eq(k.mv_size, 8);
        ck_assert_uint_eq(tg_store_get_be64(k.mv_data), sorted[n]);
        n++;
    }
    ck_assert_uint_eq(n, 9);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

/* ---- sync ----------------------------------------------------------------------------------- */

START_TEST(sync_flushes_meter)
{
    /* tg_store_sync succeeds on an open store and what it flushed is there after a reopen;
     * on a closed store it reports -1 instead of touching a NULL environment. */
    tmp_t t;
    tg_store_t s;
    char buf[16];
    size_t len = 0;

    tmp_make(&t);
    open_ok(&s, t.path);
    ck_assert_int_eq(tg_store_sync(&s), 0);
    put(&s, TG_DB_LIMITS, "k/1/60", "counter", 7);
    ck_assert_int_eq(tg_store_sync(&s), 0);
    ck_assert_int_eq(tg_store_sync(&s), 0); /* nothing new: still fine */
    tg_store_close(&s);
    ck_assert_int_eq(tg_store_sync(&s), -1);

    open_ok(&s, t.path);
    ck_assert_int_eq(get(&s, TG_DB_LIMITS, "k/1/60", buf, sizeof(buf), &len), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(buf, "counter", 7);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

START_TEST(another_process_sees_commits)
{
    /* Master and workers each open the store after fork; a commit in one process is visible
     * to a read transaction begun afterwards in another (what makes revocation immediate). */
    tmp_t t;
    tg_store_t a, b;
    char buf[16];
    size_t len = 0;

    tmp_make(&t);
    open_ok(&a, t.path);
    /* LMDB forbids opening one environment twice in a process; a forked child is how the
     * gateway does it, so do the same. */
    put(&a, TG_DB_KEYS, "k1", "v1", 2);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        /* no check assertions here: report through the exit status only */
        tg_store_opts_t o = opts_for(t.path);
        MDB_txn *txn;
        MDB_val k1 = {2, "k1"}, k2 = {2, "k2"}, v, v2 = {2, "v2"};
        char err[512];
        int ok;

        if (tg_store_open(&b, &o, err, sizeof(err)) != 0 ||
            tg_store_begin(&b, TG_DB_KEYS, 0, &txn) != 0)
            _exit(2);
        ok = mdb_get(txn, b.dbi[TG_DB_KEYS], &k1, &v) == 0 && v.mv_size == 2 &&
             memcmp(v.mv_data, "v1", 2) == 0;
        ok = ok && mdb_put(txn, b.dbi[TG_DB_KEYS], &k2, &v2, 0) == 0;
        ok = mdb_txn_commit(txn) == 0 && ok;
        tg_store_close(&b);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child saw the first commit");
    ck_assert_int_eq(get(&a, TG_DB_KEYS, "k2", buf, sizeof(buf), &len), 0);
    ck_assert_mem_eq(buf, "v2", 2);
    tg_store_close(&a);
    tmp_remove(&t);
}
END_TEST

static Suite *tg_store_suite(void)
{
    Suite *s = suite_create("tg_store");
    TCase *tc = tcase_create("open");

    tcase_add_test(tc, open_creates_everything);
    tcase_add_test(tc, open_existing_empty_directory);
    tcase_add_test(tc, reopen_keeps_data);
    tcase_add_test(tc, writemap_meter_keeps_data_across_modes);
    tcase_add_test(tc, other_schema_refused);
    tcase_add_test(tc, malformed_schema_refused);
    tcase_add_test(tc, open_failures_are_explained);
    tcase_add_test(tc, begin_uses_the_right_environment);
    tcase_add_test(tc, reused_read_transactions_see_later_commits);
    tcase_add_test(tc, another_process_sees_commits);
    suite_add_tcase(s, tc);

    tc = tcase_create("be64");
    tcase_add_test(tc, be64_round_trip);
    tcase_add_test(tc, be64_sorts_numerically);
    tcase_add_test(tc, be64_keys_iterate_in_order_in_lmdb);
    suite_add_tcase(s, tc);

    tc = tcase_create("sync");
    tcase_add_test(tc, sync_flushes_meter);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_store_suite());
    int failed;

    snprintf(tmp_root, sizeof(tmp_root), "/tmp/tg-store-XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
