/*
 * Unit tests for shared/tg_audit.c: appending entries (each in its own transaction, or several
 * in one), sequence numbers and hash links, reading the trail with tg_audit_each, and — with
 * direct LMDB writes that play the attacker — that every way of editing, rewriting, deleting or
 * truncating the trail is reported by tg_audit_verify at the right sequence number.
 */
#include <check.h>
#include <ftw.h>
#include <lmdb.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shared/tg_audit.h"

#define MIB (1024 * 1024)

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    char dir[96];
    char path[128];
    tg_store_t s;
} fix_t;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* Every test's directory is made inside this one, which main() removes at the end even when a
 * failed test (a forked child) could not clean up after itself. */
static char tmp_root[64];

static void fix_open(fix_t *f)
{
    tg_store_opts_t o;
    char err[512] = "";

    snprintf(f->dir, sizeof(f->dir), "%s/XXXXXX", tmp_root);
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
    o = (tg_store_opts_t){f->path, 16 * MIB, 8 * MIB, 16, 0};
    ck_assert_msg(tg_store_open(&f->s, &o, err, sizeof(err)) == 0, "tg_store_open: %s", err);
    /* hundreds of tampering commits: no fsync each (durability is not what is tested here) */
    ck_assert_int_eq(mdb_env_set_flags(f->s.control, MDB_NOSYNC, 1), 0);
}

static void fix_close(fix_t *f)
{
    tg_store_close(&f->s);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Append entry number i (1-based) in its own committed transaction. */
static void append_one(fix_t *f, int i)
{
    tg_actor_t a = {1000 + i, 4000 + i};
    char target[32], detail[64];
    MDB_txn *txn;

    snprintf(target, sizeof(target), "target-%d", i);
    snprintf(detail, sizeof(detail), "{\"i\":%d,\"note\":\"entry %d\"}", i, i);
    ck_assert_int_eq(mdb_txn_begin(f->s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_audit_append(&f->s, txn, &a, "test.action", target, detail), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void append_n(fix_t *f, int n)
{
    for (int i = 1; i <= n; i++)
        append_one(f, i);
}

typedef struct {
    uint64_t seq[256];
    unsigned char hash[256][32];
    unsigned char prev[256][32];
    char action[256][64];
    size_t n;
    size_t stop_after; /* 0: never stop */
} collect_t;

static int collect(void *arg, const tg_audit_entry_t *e)
{
    collect_t *c = arg;

    ck_assert_uint_lt(c->n, 256);
    c->seq[c->n] = e->seq;
    memcpy(c->hash[c->n], e->hash, 32);
    memcpy(c->prev[c->n], e->prev, 32);
    snprintf(c->action[c->n], sizeof(c->action[0]), "%s", e->action);
    c->n++;
    return c->stop_after != 0 && c->n >= c->stop_after;
}

static void each(fix_t *f, uint64_t after, size_t limit, collect_t *c)
{
    memset(c, 0, sizeof(*c));
    ck_assert_int_eq(tg_audit_each(&f->s, after, limit, collect, c), 0);
}

/* The stored value of entry seq, copied into buf. */
static size_t raw_get(fix_t *f, uint64_t seq, unsigned char *buf, size_t size)
{
    unsigned char key[8];
    MDB_txn *txn;
    MDB_val k = {8, key}, v;
    size_t n;

    tg_store_be64(key, seq);
    ck_assert_int_eq(mdb_txn_begin(f->s.control, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_get(txn, f->s.dbi[TG_DB_AUDIT], &k, &v), 0);
    ck_assert_uint_le(v.mv_size, size);
    memcpy(buf, v.mv_data, v.mv_size);
    n = v.mv_size;
    mdb_txn_abort(txn);
    return n;
}

static void raw_put(fix_t *f, tg_db_t db, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};

    ck_assert_int_eq(mdb_txn_begin(f->s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, f->s.dbi[db], &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void raw_put_entry(fix_t *f, uint64_t seq, const void *val, size_t len)
{
    unsigned char key[8];

    tg_store_be64(key, seq);
    raw_put(f, TG_DB_AUDIT, key, 8, val, len);
}

static void raw_del(fix_t *f, tg_db_t db, const void *key, size_t klen)
{
    MDB_txn *txn;
    MDB_val k = {klen, (void *)key};

    ck_assert_int_eq(mdb_txn_begin(f->s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_del(txn, f->s.dbi[db], &k, NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void raw_del_entry(fix_t *f, uint64_t seq)
{
    unsigned char key[8];

    tg_store_be64(key, seq);
    raw_del(f, TG_DB_AUDIT, key, 8);
}

static void sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;

    ck_assert_int_eq(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
}

static void pk_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* Build a well-formed stored entry (as an attacker who knows the format would): body
 * [seq, ts_ms, uid, pid, action, target, detail, prev], value [1][sha256(body)][body]. */
static size_t forge(uint64_t seq, const char *action, const char *target, const char *detail,
                    const unsigned char prev[32], unsigned char *out, size_t size,
                    unsigned char hash[32])
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t n;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_int64(&pk, 1700000000000LL);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_int(&pk, 1);
    pk_s(&pk, action);
    pk_s(&pk, target);
    pk_s(&pk, detail);
    msgpack_pack_bin(&pk, 32);
    msgpack_pack_bin_body(&pk, prev, 32);
    sha256(sb.data, sb.size, hash);
    n = 33 + sb.size;
    ck_assert_uint_le(n, size);
    out[0] = 1;
    memcpy(out + 1, hash, 32);
    memcpy(out + 33, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* verify must fail at first_bad (and say why). */
static void expect_broken(fix_t *f, uint64_t first_bad, const char *why_part)
{
    uint64_t count = 99, bad = 99;
    const char *why = NULL;

    ck_assert_msg(tg_audit_verify(&f->s, &count, &bad, &why) == -1,
                  "the trail must not verify intact");
    ck_assert_msg(bad == first_bad, "first_bad is %llu (%s), expected %llu",
                  (unsigned long long)bad, why ? why : "(no reason)",
                  (unsigned long long)first_bad);
    ck_assert_ptr_nonnull(why);
    if (why_part != NULL)
        ck_assert_msg(strstr(why, why_part) != NULL, "why \"%s\" mentions \"%s\"", why, why_part);
}

static void expect_intact(fix_t *f, uint64_t n)
{
    uint64_t count = 99, bad = 99;
    const char *why = "x";

    ck_assert_msg(tg_audit_verify(&f->s, &count, &bad, &why) == 0, "verify: first_bad %llu: %s",
                  (unsigned long long)bad, why ? why : "");
    ck_assert_uint_eq(count, n);
    ck_assert_uint_eq(bad, 0);
    ck_assert_ptr_null(why);
}

#define N 12

/* ---- appending and reading ------------------------------------------------------------- */

START_TEST(empty_trail_is_intact)
{
    /* A new store has an intact, empty trail. */
    fix_t f;
    collect_t c;

    fix_open(&f);
    expect_intact(&f, 0);
    ck_assert_uint_eq(tg_audit_last(&f.s), 0);
    each(&f, 0, 0, &c);
    ck_assert_uint_eq(c.n, 0);
    fix_close(&f);
}
END_TEST

START_TEST(append_separate_transactions)
{
    /* N entries appended in N transactions verify intact with count N; sequence numbers run
     * 1..N without gaps; each entry links to the hash of the one before (the first to zeros). */
    static const unsigned char zero[32];
    fix_t f;
    collect_t c;

    fix_open(&f);
    append_n(&f, 40);
    expect_intact(&f, 40);
    ck_assert_uint_eq(tg_audit_last(&f.s), 40);
    each(&f, 0, 0, &c);
    ck_assert_uint_eq(c.n, 40);
    for (size_t i = 0; i < c.n; i++) {
        ck_assert_uint_eq(c.seq[i], i + 1);
        ck_assert_mem_eq(c.prev[i], i == 0 ? zero : c.hash[i - 1], 32);
        ck_assert_str_eq(c.action[i], "test.action");
    }
    /* the stored value starts with version 1 and the sha256 of the rest */
    {
        unsigned char buf[1024], h[32];
        size_t n = raw_get(&f, 5, buf, sizeof(buf));
        ck_assert_uint_eq(buf[0], 1);
        sha256(buf + 33, n - 33, h);
        ck_assert_mem_eq(buf + 1, h, 32);
        ck_assert_mem_eq(buf + 1, c.hash[4], 32);
    }
    fix_close(&f);
}
END_TEST

START_TEST(append_several_in_one_transaction)
{
    /* Several entries in one transaction (a key.create with its implicit tenant.create) get
     * consecutive numbers and a correct chain, continuing the entries before them. */
    fix_t f;
    tg_actor_t a = {0, 1};
    MDB_txn *txn;
    collect_t c;

    fix_open(&f);
    append_n(&f, 3);
    ck_assert_int_eq(mdb_txn_begin(f.s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &a, "tenant.create", "acme", "{}"), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &a, "key.create", "abc", "{}"), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &a, "key.set", "abc", NULL), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    append_one(&f, 7);
    expect_intact(&f, 7);
    each(&f, 3, 0, &c);
    ck_assert_uint_eq(c.n, 4);
    ck_assert_str_eq(c.action[0], "tenant.create");
    ck_assert_str_eq(c.action[1], "key.create");
    ck_assert_str_eq(c.action[2], "key.set");
    ck_assert_uint_eq(c.seq[3], 7);
    fix_close(&f);
}
END_TEST

START_TEST(each_after_limit_and_stop)
{
    /* tg_audit_each goes in ascending order from after+1; limit caps the count; a non-zero
     * return from fn stops the walk; tail n is after = last - n. */
    fix_t f;
    collect_t c;

    fix_open(&f);
    append_n(&f, N);
    each(&f, 0, 0, &c);
    ck_assert_uint_eq(c.n, N);
    each(&f, N - 5, 0, &c); /* the tail of 5 */
    ck_assert_uint_eq(c.n, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(c.seq[i], N - 4 + i);
    each(&f, 3, 4, &c);
    ck_assert_uint_eq(c.n, 4);
    ck_assert_uint_eq(c.seq[0], 4);
    ck_assert_uint_eq(c.seq[3], 7);
    each(&f, 0, 1, &c);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(c.seq[0], 1);
    each(&f, N, 0, &c);
    ck_assert_uint_eq(c.n, 0);
    each(&f, N + 1000, 0, &c);
    ck_assert_uint_eq(c.n, 0);
    each(&f, UINT64_MAX - 1, 0, &c);
    ck_assert_uint_eq(c.n, 0);

    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    ck_assert_int_eq(tg_audit_each(&f.s, 0, 0, collect, &c), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_uint_eq(c.seq[1], 2);
    fix_close(&f);
}
END_TEST

START_TEST(aborted_transaction_leaves_nothing)
{
    /* An append in a transaction that is aborted leaves no entry and does not move the head:
     * the next committed entry takes the number the aborted one had. */
    fix_t f;
    tg_actor_t a = {0, 1};
    MDB_txn *txn;
    collect_t c;

    fix_open(&f);
    append_n(&f, 5);
    ck_assert_int_eq(mdb_txn_begin(f.s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &a, "key.revoke", "abc", "{}"), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &a, "key.revoke", "def", "{}"), 0);
    mdb_txn_abort(txn);
    ck_assert_uint_eq(tg_audit_last(&f.s), 5);
    expect_intact(&f, 5);
    each(&f, 0, 0, &c);
    ck_assert_uint_eq(c.n, 5);
    for (size_t i = 0; i < c.n; i++)
        ck_assert_str_ne(c.action[i], "key.revoke");

    append_one(&f, 6);
    ck_assert_uint_eq(tg_audit_last(&f.s), 6);
    expect_intact(&f, 6);
    fix_close(&f);
}
END_TEST

typedef struct {
    tg_audit_entry_t got;
    int n;
} one_t;

static int keep_one(void *arg, const tg_audit_entry_t *e)
{
    one_t *o = arg;

    o->n++;
    o->got = *e;
    o->got.detail = strdup(e->detail);
    return 1;
}

START_TEST(detail_and_fields_round_trip)
{
    /* Every field comes back as appended: the detail JSON text byte for byte (escapes, UTF-8,
     * nesting, 64 KiB), a NULL detail as "{}", the gateway's own actor uid -1, and a
     * timestamp in milliseconds taken at append time. */
    static const char *const details[] = {
        "{}",
        "{\"a\":1,\"s\":\"quote \\\" backslash \\\\ newline \\n\",\"u\":\"caf\xc3\xa9 "
        "\xe2\x82\xac\"}",
        "{\"nested\":{\"list\":[1,2.5,null,true,{\"x\":\"y\"}]},\"empty\":\"\"}",
        NULL,
    };
    fix_t f;
    tg_actor_t gateway = {-1, 0}, admin = {1000, 31337};
    MDB_txn *txn;
    one_t o;
    struct timespec t0, t1;
    char *big;

    fix_open(&f);
    for (size_t i = 0; i < sizeof(details) / sizeof(details[0]); i++) {
        clock_gettime(CLOCK_REALTIME, &t0);
        ck_assert_int_eq(mdb_txn_begin(f.s.control, NULL, 0, &txn), 0);
        ck_assert_int_eq(tg_audit_append(&f.s, txn, i % 2 ? &gateway : &admin, "config.reload",
                                         "/etc/tollgate/tollgate.yaml", details[i]),
                         0);
        ck_assert_int_eq(mdb_txn_commit(txn), 0);
        clock_gettime(CLOCK_REALTIME, &t1);

        memset(&o, 0, sizeof(o));
        ck_assert_int_eq(tg_audit_each(&f.s, i, 0, keep_one, &o), 0);
        ck_assert_int_eq(o.n, 1);
        ck_assert_uint_eq(o.got.seq, i + 1);
        ck_assert_str_eq(o.got.detail, details[i] ? details[i] : "{}");
        ck_assert_str_eq(o.got.action, "config.reload");
        ck_assert_str_eq(o.got.target, "/etc/tollgate/tollgate.yaml");
        ck_assert_int_eq(o.got.actor.uid, i % 2 ? -1 : 1000);
        ck_assert_int_eq(o.got.actor.pid, i % 2 ? 0 : 31337);
        ck_assert_int_ge(o.got.ts_ms, (int64_t)t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
        ck_assert_int_le(o.got.ts_ms, (int64_t)t1.tv_sec * 1000 + t1.tv_nsec / 1000000);
        tg_audit_entry_clear(&o.got);
        ck_assert_ptr_null(o.got.detail);
    }

    /* a 64 KiB detail (larger than an LMDB page: an overflow page) */
    ck_assert_ptr_nonnull(big = malloc(65536 + 16));
    memcpy(big, "{\"blob\":\"", 9);
    memset(big + 9, 'z', 65536);
    memcpy(big + 9 + 65536, "\"}", 3);
    ck_assert_int_eq(mdb_txn_begin(f.s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_audit_append(&f.s, txn, &admin, "big", "t", big), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    memset(&o, 0, sizeof(o));
    ck_assert_int_eq(tg_audit_each(&f.s, 4, 0, keep_one, &o), 0);
    ck_assert_int_eq(o.n, 1);
    ck_assert_str_eq(o.got.detail, big);
    tg_audit_entry_clear(&o.got);
    free(big);
    expect_intact(&f, 5);
    fix_close(&f);
}
END_TEST

START_TEST(decode_refuses_garbage)
{
    /* tg_audit_decode refuses short values, another version and bodies of the wrong shape;
     * clearing after a failed decode is safe. A real entry decodes. */
    fix_t f;
    unsigned char buf[1024];
    size_t n;
    tg_audit_entry_t e;

    fix_open(&f);
    append_n(&f, 1);
    n = raw_get(&f, 1, buf, sizeof(buf));
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), 0);
    ck_assert_uint_eq(e.seq, 1);
    ck_assert_str_eq(e.detail, "{\"i\":1,\"note\":\"entry 1\"}");
    tg_audit_entry_clear(&e);

    ck_assert_int_eq(tg_audit_decode(buf, 0, &e), -1);
    tg_audit_entry_clear(&e);
    ck_assert_int_eq(tg_audit_decode(buf, 33, &e), -1);
    tg_audit_entry_clear(&e);
    ck_assert_int_eq(tg_audit_decode(buf, n - 1, &e), -1); /* truncated body */
    tg_audit_entry_clear(&e);
    buf[0] = 2;
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), -1);
    tg_audit_entry_clear(&e);
    buf[0] = 1;
    buf[33] = 0x97; /* an array of 7, not 8 */
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), -1);
    tg_audit_entry_clear(&e);
    fix_close(&f);
}
END_TEST

/* ---- tampering ------------------------------------------------------------------------- */

START_TEST(tamper_flip_any_byte)
{
    /* Changing any single byte of a stored entry (version, stored hash, or body) is reported at
     * that entry, for the first, a middle and the last entry; restoring it makes the trail
     * intact again. */
    static const uint64_t which[] = {1, 7, N};
    unsigned char orig[1024], buf[1024];
    fix_t f;

    fix_open(&f);
    append_n(&f, N);
    for (size_t w = 0; w < sizeof(which) / sizeof(which[0]); w++) {
        uint64_t k = which[w];
        size_t n = raw_get(&f, k, orig, sizeof(orig));
        for (size_t off = 0; off < n; off++) {
            for (int bit = 0; bit < 8; bit += 7) { /* the lowest and the highest bit */
                memcpy(buf, orig, n);
                buf[off] ^= (unsigned char)(1u << bit);
                raw_put_entry(&f, k, buf, n);
                expect_broken(&f, k, NULL);
            }
        }
        raw_put_entry(&f, k, orig, n);
        expect_intact(&f, N);
    }
    fix_close(&f);
}
END_TEST

START_TEST(tamper_body_change_reported_as_altered)
{
    /* A one-byte change in entry k's action text (still valid msgpack) is "altered". */
    unsigned char buf[1024];
    unsigned char *p;
    fix_t f;
    size_t n;

    fix_open(&f);
    append_n(&f, N);
    n = raw_get(&f, 5, buf, sizeof(buf));
    ck_assert_ptr_nonnull(p = memmem(buf, n, "test.action", 11));
    p[0] = 'b'; /* "best.action" */
    raw_put_entry(&f, 5, buf, n);
    expect_broken(&f, 5, "altered");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_consistent_rewrite)
{
    /* Rewriting entry k's body and recomputing its stored hash (so k checks out on its own) is
     * still reported at k, through entry k+1's link to it; for the last entry, through the
     * head anchor. */
    unsigned char buf[1024], hash[32];
    tg_audit_entry_t e;
    fix_t f;
    size_t n;
    uint64_t k = 6;

    fix_open(&f);
    append_n(&f, N);
    n = raw_get(&f, k, buf, sizeof(buf));
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), 0);
    n = forge(k, "key.create", e.target, "{\"forged\":true}", e.prev, buf, sizeof(buf), hash);
    tg_audit_entry_clear(&e);
    raw_put_entry(&f, k, buf, n);
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), 0); /* well-formed on its own */
    tg_audit_entry_clear(&e);
    expect_broken(&f, k, "link");
    fix_close(&f);

    /* the last entry */
    fix_open(&f);
    append_n(&f, N);
    n = raw_get(&f, N, buf, sizeof(buf));
    ck_assert_int_eq(tg_audit_decode(buf, n, &e), 0);
    n = forge(N, "key.create", e.target, "{}", e.prev, buf, sizeof(buf), hash);
    tg_audit_entry_clear(&e);
    raw_put_entry(&f, N, buf, n);
    expect_broken(&f, N, "head");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_delete_entry)
{
    /* Deleting entry k (the first, a middle one, or several in a row) is reported at k. */
    fix_t f;

    fix_open(&f);
    append_n(&f, N);
    raw_del_entry(&f, 4);
    expect_broken(&f, 4, "missing");
    fix_close(&f);

    fix_open(&f);
    append_n(&f, N);
    raw_del_entry(&f, 1);
    expect_broken(&f, 1, "missing");
    fix_close(&f);

    fix_open(&f);
    append_n(&f, N);
    raw_del_entry(&f, 8);
    raw_del_entry(&f, 9);
    raw_del_entry(&f, 10);
    expect_broken(&f, 8, "missing");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_delete_last_entries)
{
    /* Cutting entries off the end is caught by the head anchor: reported at the first one
     * missing; deleting every entry is reported at 1. */
    fix_t f;

    fix_open(&f);
    append_n(&f, N);
    raw_del_entry(&f, N);
    expect_broken(&f, N, "missing");
    fix_close(&f);

    fix_open(&f);
    append_n(&f, N);
    raw_del_entry(&f, N);
    raw_del_entry(&f, N - 1);
    raw_del_entry(&f, N - 2);
    expect_broken(&f, N - 2, "missing");
    fix_close(&f);

    fix_open(&f);
    append_n(&f, N);
    for (uint64_t k = 1; k <= N; k++)
        raw_del_entry(&f, k);
    expect_broken(&f, 1, "missing");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_forged_entry_after_head)
{
    /* An entry appended behind the gateway's back (well-formed, correctly linked to the last
     * real entry, but not in the head anchor) is reported at its own number, N+1: entry N is
     * intact and must not be blamed. */
    unsigned char buf[1024], hash[32];
    collect_t c;
    fix_t f;
    size_t n;

    fix_open(&f);
    append_n(&f, N);
    each(&f, N - 1, 0, &c);
    n = forge(N + 1, "key.create", "forged", "{}", c.hash[0], buf, sizeof(buf), hash);
    raw_put_entry(&f, N + 1, buf, n);
    expect_broken(&f, N + 1, "beyond the recorded head");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_head_removed)
{
    /* Removing the head anchor (meta "audit_head") while every entry is intact is reported,
     * at the first entry the (now empty) anchor does not cover: 1 — never at 0, which is no
     * entry's number. */
    fix_t f;

    fix_open(&f);
    append_n(&f, N);
    raw_del(&f, TG_DB_META, "audit_head", 10);
    expect_broken(&f, 1, "beyond the recorded head");
    fix_close(&f);
}
END_TEST

START_TEST(tamper_entry_renumbered)
{
    /* Moving entry k to another key (its body still says k) is reported. */
    unsigned char buf[1024];
    fix_t f;
    size_t n;

    fix_open(&f);
    append_n(&f, N);
    n = raw_get(&f, 3, buf, sizeof(buf));
    raw_put_entry(&f, 4, buf, n); /* entry 3's bytes under key 4 */
    expect_broken(&f, 4, NULL);
    fix_close(&f);
}
END_TEST

static Suite *tg_audit_suite(void)
{
    Suite *s = suite_create("tg_audit");
    TCase *tc = tcase_create("append");

    tcase_add_test(tc, empty_trail_is_intact);
    tcase_add_test(tc, append_separate_transactions);
    tcase_add_test(tc, append_several_in_one_transaction);
    tcase_add_test(tc, each_after_limit_and_stop);
    tcase_add_test(tc, aborted_transaction_leaves_nothing);
    tcase_add_test(tc, detail_and_fields_round_trip);
    tcase_add_test(tc, decode_refuses_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("tamper");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tamper_flip_any_byte);
    tcase_add_test(tc, tamper_body_change_reported_as_altered);
    tcase_add_test(tc, tamper_consistent_rewrite);
    tcase_add_test(tc, tamper_delete_entry);
    tcase_add_test(tc, tamper_delete_last_entries);
    tcase_add_test(tc, tamper_forged_entry_after_head);
    tcase_add_test(tc, tamper_head_removed);
    tcase_add_test(tc, tamper_entry_renumbered);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_audit_suite());
    int failed;

    snprintf(tmp_root, sizeof(tmp_root), "/tmp/tg-audit-XXXXXX");
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
