/*
 * Unit tests for shared/tg_keys.c: the pepper file, key generation (format, uniqueness and an
 * even spread of characters), HMAC-only storage (the secret is never in a record), versioned
 * msgpack records that round-trip every field and skip fields from a later version, and
 * tg_key_verify's verdict for every kind of presented key, including rotation grace and a store
 * that cannot be read (which must never look like a bad key).
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <lmdb.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/tg_keys.h"

#define MIB (1024 * 1024)

static const char id_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* ---- helpers ---------------------------------------------------------------------------- */

typedef struct {
    char dir[96];
    char path[128];
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

static void store_open(tg_store_t *s, const char *path, unsigned readers)
{
    tg_store_opts_t o = {path, 8 * MIB, 8 * MIB, readers, 0};
    char err[512] = "";

    ck_assert_msg(tg_store_open(s, &o, err, sizeof(err)) == 0, "tg_store_open: %s", err);
}

/* A fixed pepper, so failures reproduce. */
static void test_pepper(unsigned char p[TG_PEPPER_LEN])
{
    for (int i = 0; i < TG_PEPPER_LEN; i++)
        p[i] = (unsigned char)(0xA5 ^ (i * 7));
}

static int in_alphabet(char c, const char *alphabet)
{
    return c != '\0' && strchr(alphabet, c) != NULL;
}

/* "tg_" + 12 base32 (lowercase a-z, 2-7) + "_" + 32 base62. */
static void assert_key_format(const char *key)
{
    ck_assert_msg(strlen(key) == TG_KEY_LEN, "key \"%s\" has length %zu", key, strlen(key));
    ck_assert_msg(memcmp(key, "tg_", 3) == 0, "key \"%s\" starts with tg_", key);
    for (int i = 0; i < TG_KEY_ID_LEN; i++)
        ck_assert_msg(in_alphabet(key[3 + i], id_alphabet), "id char %d of \"%s\"", i, key);
    ck_assert_msg(key[3 + TG_KEY_ID_LEN] == '_', "separator in \"%s\"", key);
    for (int i = 0; i < TG_KEY_SECRET_LEN; i++)
        ck_assert_msg(in_alphabet(key[4 + TG_KEY_ID_LEN + i], secret_alphabet),
                      "secret char %d of \"%s\"", i, key);
}

static void ref_hmac(const unsigned char pepper[TG_PEPPER_LEN], const char *key,
                     unsigned char out[32])
{
    unsigned int n = 32;

    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), pepper, TG_PEPPER_LEN, (const unsigned char *)key,
                               strlen(key), out, &n));
    ck_assert_uint_eq(n, 32);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Store k in its own committed transaction. */
static void key_store(tg_store_t *s, const tg_key_t *k)
{
    MDB_txn *txn;

    ck_assert_int_eq(mdb_txn_begin(s->control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_key_put(s, txn, k), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* Store raw bytes as the record of id. */
static void raw_store(tg_store_t *s, const char *id, const void *data, size_t len)
{
    MDB_txn *txn;
    MDB_val k = {strlen(id), (void *)id}, v = {len, (void *)data};

    ck_assert_int_eq(mdb_txn_begin(s->control, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_put(txn, s->dbi[TG_DB_KEYS], &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* A new active key record (tenant "acme") and its secret. */
static void new_key(const unsigned char pepper[TG_PEPPER_LEN], tg_key_t *k,
                    char secret[TG_KEY_LEN + 1])
{
    memset(k, 0, sizeof(*k));
    snprintf(k->tenant, sizeof(k->tenant), "acme");
    snprintf(k->name, sizeof(k->name), "ci");
    k->created = 1700000000;
    ck_assert_int_eq(tg_key_generate(pepper, k, secret, TG_KEY_LEN + 1), 0);
}

/* Rotate as the admin command does: a new secret for the same id; the old one in prev_hmac. */
static void rotate(const unsigned char pepper[TG_PEPPER_LEN], tg_key_t *k, int64_t prev_until,
                   char secret[TG_KEY_LEN + 1])
{
    char id[TG_KEY_ID_LEN + 1];

    memcpy(k->prev_hmac, k->hmac, 32);
    k->prev_until = prev_until;
    memcpy(id, k->id, sizeof(id));
    ck_assert_int_eq(tg_key_generate(pepper, k, secret, TG_KEY_LEN + 1), 0);
    memcpy(k->id, id, sizeof(id));
    memcpy(secret + 3, id, TG_KEY_ID_LEN);
    tg_key_hmac(pepper, secret, TG_KEY_LEN, k->hmac);
}

static const char *auth_name(tg_auth_t a)
{
    static const char *const names[] = {"OK", "MISSING", "INVALID", "REVOKED", "EXPIRED", "ERROR"};

    return (unsigned)a < 6 ? names[a] : "?";
}

#define ck_assert_auth(got, want)                                                                  \
    do {                                                                                           \
        tg_auth_t g_ = (got), w_ = (want);                                                         \
        ck_assert_msg(g_ == w_, "%s: got TG_AUTH_%s, want TG_AUTH_%s", #got, auth_name(g_),        \
                      auth_name(w_));                                                              \
    } while (0)

/* ---- the pepper ------------------------------------------------------------------------- */

START_TEST(pepper_created_0600_and_reloaded)
{
    /* A missing pepper file is created: 32 random bytes, mode 0600; loading it again gives the
     * same bytes; another new file gives other bytes. */
    tmp_t t;
    char path[160], path2[160], err[512] = "";
    unsigned char p1[TG_PEPPER_LEN], p2[TG_PEPPER_LEN], p3[TG_PEPPER_LEN], disk[64];
    static const unsigned char zero[TG_PEPPER_LEN];
    struct stat st;
    FILE *f;
    size_t n;

    tmp_make(&t);
    umask(022);
    snprintf(path, sizeof(path), "%s/pepper", t.dir);
    ck_assert_msg(tg_pepper_load(path, p1, err, sizeof(err)) == 0, "create: %s", err);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_msg(S_ISREG(st.st_mode), "a regular file");
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, TG_PEPPER_LEN);
    ck_assert_ptr_nonnull(f = fopen(path, "rb"));
    n = fread(disk, 1, sizeof(disk), f);
    fclose(f);
    ck_assert_uint_eq(n, TG_PEPPER_LEN);
    ck_assert_mem_eq(disk, p1, TG_PEPPER_LEN);
    ck_assert_msg(memcmp(p1, zero, TG_PEPPER_LEN) != 0, "the pepper is not all zeros");

    memset(p2, 0, sizeof(p2));
    ck_assert_msg(tg_pepper_load(path, p2, err, sizeof(err)) == 0, "reload: %s", err);
    ck_assert_mem_eq(p2, p1, TG_PEPPER_LEN);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(st.st_size, TG_PEPPER_LEN);

    snprintf(path2, sizeof(path2), "%s/pepper2", t.dir);
    ck_assert_int_eq(tg_pepper_load(path2, p3, err, sizeof(err)), 0);
    ck_assert_msg(memcmp(p3, p1, TG_PEPPER_LEN) != 0, "two new peppers differ");
    tmp_remove(&t);
}
END_TEST

START_TEST(pepper_wrong_size_refused)
{
    /* A pepper file of any size but 32 bytes is refused with a message naming the file; it is
     * never truncated, padded or rewritten. */
    static const size_t sizes[] = {0, 1, 31, 33, 64};
    tmp_t t;
    char path[160], err[512];
    unsigned char bytes[64], p[TG_PEPPER_LEN];
    struct stat st;

    tmp_make(&t);
    snprintf(path, sizeof(path), "%s/pepper", t.dir);
    memset(bytes, 0x42, sizeof(bytes));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        write_file(path, bytes, sizes[i]);
        memset(err, 0, sizeof(err));
        memset(p, 0x11, sizeof(p));
        ck_assert_msg(tg_pepper_load(path, p, err, sizeof(err)) == -1,
                      "a %zu-byte pepper file must be refused", sizes[i]);
        ck_assert_msg(strstr(err, path) != NULL && strstr(err, "exactly 32 bytes") != NULL,
                      "err: %s", err);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_size, (off_t)sizes[i]);
        for (int j = 0; j < TG_PEPPER_LEN; j++) /* no partial pepper handed back */
            ck_assert_uint_eq(p[j], 0x11);
    }
    tmp_remove(&t);
}
END_TEST

START_TEST(pepper_cannot_be_created)
{
    /* A pepper path in a missing directory: -1 naming the file and the errno text. */
    tmp_t t;
    char path[160], err[512] = "";
    unsigned char p[TG_PEPPER_LEN];

    tmp_make(&t);
    snprintf(path, sizeof(path), "%s/missing/pepper", t.dir);
    ck_assert_int_eq(tg_pepper_load(path, p, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, path) != NULL && strstr(err, strerror(ENOENT)) != NULL, "err: %s",
                  err);
    tmp_remove(&t);
}
END_TEST

/* ---- generation --------------------------------------------------------------------------- */

START_TEST(generate_format_and_hmac)
{
    /* tg_key_generate fills id and hmac, writes "tg_<12 base32>_<32 base62>", keeps the other
     * fields, and stores HMAC-SHA256(pepper, whole key); a short buffer is refused. */
    unsigned char pepper[TG_PEPPER_LEN], mac[32], other[TG_PEPPER_LEN];
    char secret[TG_KEY_LEN + 1], small[TG_KEY_LEN];
    tg_key_t k;

    test_pepper(pepper);
    memset(&k, 0, sizeof(k));
    snprintf(k.tenant, sizeof(k.tenant), "acme");
    snprintf(k.name, sizeof(k.name), "batch");
    k.expires = 42;
    k.limits.rpm = 7;
    ck_assert_int_eq(tg_key_generate(pepper, &k, secret, sizeof(secret)), 0);
    assert_key_format(secret);
    ck_assert_uint_eq(strlen(k.id), TG_KEY_ID_LEN);
    ck_assert_mem_eq(secret + 3, k.id, TG_KEY_ID_LEN);
    ck_assert_str_eq(k.tenant, "acme");
    ck_assert_str_eq(k.name, "batch");
    ck_assert_int_eq(k.expires, 42);
    ck_assert_int_eq(k.limits.rpm, 7);

    ref_hmac(pepper, secret, mac);
    ck_assert_mem_eq(k.hmac, mac, 32);
    tg_key_hmac(pepper, secret, strlen(secret), mac);
    ck_assert_mem_eq(k.hmac, mac, 32);
    /* keyed by the pepper */
    memcpy(other, pepper, sizeof(other));
    other[0] ^= 1;
    tg_key_hmac(other, secret, strlen(secret), mac);
    ck_assert_msg(memcmp(k.hmac, mac, 32) != 0, "another pepper gives another HMAC");

    ck_assert_int_eq(tg_key_generate(pepper, &k, small, sizeof(small)), -1);
}
END_TEST

START_TEST(generate_unique_and_evenly_spread)
{
    /* 1000 keys: all ids and secrets distinct; every alphabet character is used at a rate
     * within 5 standard deviations of uniform, overall and (secret) at its first position. */
    enum { N = 1000 };
    unsigned char pepper[TG_PEPPER_LEN];
    static char keys[N][TG_KEY_LEN + 1];
    unsigned id_count[256] = {0}, secret_count[256] = {0}, first_count[256] = {0};
    tg_key_t k;

    test_pepper(pepper);
    for (int i = 0; i < N; i++) {
        memset(&k, 0, sizeof(k));
        ck_assert_int_eq(tg_key_generate(pepper, &k, keys[i], sizeof(keys[i])), 0);
        assert_key_format(keys[i]);
        for (int j = 0; j < TG_KEY_ID_LEN; j++)
            id_count[(unsigned char)keys[i][3 + j]]++;
        for (int j = 0; j < TG_KEY_SECRET_LEN; j++)
            secret_count[(unsigned char)keys[i][4 + TG_KEY_ID_LEN + j]]++;
        first_count[(unsigned char)keys[i][4 + TG_KEY_ID_LEN]]++;
    }
    qsort(keys, N, sizeof(keys[0]), (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < N; i++) {
        ck_assert_msg(strcmp(keys[i - 1], keys[i]) != 0, "duplicate key %s", keys[i]);
        ck_assert_msg(memcmp(keys[i - 1] + 3, keys[i] + 3, TG_KEY_ID_LEN) != 0, "duplicate id");
    }
    {
        /* and no two secret parts are equal either */
        static char secrets[N][TG_KEY_SECRET_LEN + 1];
        for (int i = 0; i < N; i++)
            memcpy(secrets[i], keys[i] + 4 + TG_KEY_ID_LEN, TG_KEY_SECRET_LEN + 1);
        qsort(secrets, N, sizeof(secrets[0]), (int (*)(const void *, const void *))strcmp);
        for (int i = 1; i < N; i++)
            ck_assert_str_ne(secrets[i - 1], secrets[i]);
    }
    /* id: 12000 draws over 32 symbols: mean 375, sd ~19 */
    for (const char *c = id_alphabet; *c; c++)
        ck_assert_msg(id_count[(unsigned char)*c] >= 280 && id_count[(unsigned char)*c] <= 470,
                      "id char '%c' drawn %u times of 12000", *c, id_count[(unsigned char)*c]);
    /* secret: 32000 draws over 62 symbols: mean 516, sd ~22 */
    for (const char *c = secret_alphabet; *c; c++)
        ck_assert_msg(
            secret_count[(unsigned char)*c] >= 400 && secret_count[(unsigned char)*c] <= 635,
            "secret char '%c' drawn %u times of 32000", *c, secret_count[(unsigned char)*c]);
    /* first secret position: 1000 draws over 62: every symbol seen, none over 40 (mean 16) */
    for (const char *c = secret_alphabet; *c; c++)
        ck_assert_msg(first_count[(unsigned char)*c] >= 1 && first_count[(unsigned char)*c] <= 40,
                      "first secret char '%c' drawn %u times of 1000", *c,
                      first_count[(unsigned char)*c]);
    /* nothing outside the alphabets */
    for (int c = 0; c < 256; c++) {
        if (!in_alphabet((char)c, id_alphabet))
            ck_assert_uint_eq(id_count[c], 0);
        if (!in_alphabet((char)c, secret_alphabet))
            ck_assert_uint_eq(secret_count[c], 0);
    }
}
END_TEST

/* ---- records ------------------------------------------------------------------------------ */

/* A key with every field set to something distinctive. */
static void full_key(const unsigned char pepper[TG_PEPPER_LEN], tg_key_t *k, char *secret)
{
    memset(k, 0, sizeof(*k));
    ck_assert_int_eq(tg_key_generate(pepper, k, secret, TG_KEY_LEN + 1), 0);
    memset(k->tenant, 't', TG_NAME_MAX - 1); /* the longest name that fits */
    snprintf(k->name, sizeof(k->name), "nightly-batch@ci:2.x");
    k->status = TG_KEY_REVOKED;
    k->created = 1700000000;
    k->expires = 1800000000;
    for (int i = 0; i < 32; i++)
        k->prev_hmac[i] = (unsigned char)(255 - i);
    k->prev_until = 1700003600;
    snprintf(k->task, sizeof(k->task), "summarise");
    k->nmodels = TG_KEY_MAX_MODELS;
    for (int i = 0; i < TG_KEY_MAX_MODELS; i++)
        snprintf(k->models[i], TG_NAME_MAX, "model-%02d", i);
    memset(k->models[3], 'm', TG_NAME_MAX - 1);
    k->models[3][TG_NAME_MAX - 1] = '\0';
    k->limits.rpm = 600;
    k->limits.tpm = 2000000;
    k->limits.concurrency = 8;
    k->limits.daily_budget_micros = 25000000;
    k->limits.monthly_budget_micros = INT64_MAX;
}

static void assert_keys_equal(const tg_key_t *a, const tg_key_t *b)
{
    ck_assert_str_eq(a->id, b->id);
    ck_assert_str_eq(a->tenant, b->tenant);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->status, b->status);
    ck_assert_int_eq(a->created, b->created);
    ck_assert_int_eq(a->expires, b->expires);
    ck_assert_mem_eq(a->hmac, b->hmac, 32);
    ck_assert_mem_eq(a->prev_hmac, b->prev_hmac, 32);
    ck_assert_int_eq(a->prev_until, b->prev_until);
    ck_assert_str_eq(a->task, b->task);
    ck_assert_int_eq(a->nmodels, b->nmodels);
    for (int i = 0; i < a->nmodels; i++)
        ck_assert_str_eq(a->models[i], b->models[i]);
    ck_assert_int_eq(a->limits.rpm, b->limits.rpm);
    ck_assert_int_eq(a->limits.tpm, b->limits.tpm);
    ck_assert_int_eq(a->limits.concurrency, b->limits.concurrency);
    ck_assert_int_eq(a->limits.daily_budget_micros, b->limits.daily_budget_micros);
    ck_assert_int_eq(a->limits.monthly_budget_micros, b->limits.monthly_budget_micros);
}

START_TEST(record_round_trip_every_field)
{
    /* encode -> decode gives back every field (models, limits, prev_hmac included); so does an
     * empty record; the first byte is the record version 1. */
    unsigned char pepper[TG_PEPPER_LEN];
    char secret[TG_KEY_LEN + 1], *buf;
    size_t len;
    tg_key_t k, d;

    test_pepper(pepper);
    full_key(pepper, &k, secret);
    ck_assert_int_eq(tg_key_encode(&k, &buf, &len), 0);
    ck_assert_uint_gt(len, 1);
    ck_assert_uint_eq((unsigned char)buf[0], 1);
    memset(&d, 0x5a, sizeof(d));
    ck_assert_int_eq(tg_key_decode(buf, len, &d), 0);
    assert_keys_equal(&k, &d);
    free(buf);

    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(tg_key_encode(&k, &buf, &len), 0);
    memset(&d, 0x5a, sizeof(d));
    ck_assert_int_eq(tg_key_decode(buf, len, &d), 0);
    assert_keys_equal(&k, &d);
    free(buf);
}
END_TEST

START_TEST(record_never_holds_the_secret)
{
    /* The encoded record, and the bytes LMDB stores, hold the HMAC but not the secret: not the
     * whole key, not its secret part, not any 8 consecutive characters of the secret part. */
    unsigned char pepper[TG_PEPPER_LEN];
    char secret[TG_KEY_LEN + 1], *buf;
    const char *sec = secret + 4 + TG_KEY_ID_LEN;
    size_t len;
    tg_key_t k;
    tmp_t t;
    tg_store_t s;
    MDB_txn *txn;
    MDB_val kv, vv;

    test_pepper(pepper);
    for (int round = 0; round < 50; round++) {
        full_key(pepper, &k, secret);
        ck_assert_int_eq(tg_key_encode(&k, &buf, &len), 0);
        ck_assert_ptr_null(memmem(buf, len, secret, TG_KEY_LEN));
        for (int i = 0; i + 8 <= TG_KEY_SECRET_LEN; i++)
            ck_assert_msg(memmem(buf, len, sec + i, 8) == NULL,
                          "8 secret characters at %d found in the record", i);
        ck_assert_ptr_nonnull(memmem(buf, len, k.hmac, 32));
        free(buf);
    }

    tmp_make(&t);
    store_open(&s, t.path, 16);
    new_key(pepper, &k, secret);
    key_store(&s, &k);
    ck_assert_int_eq(mdb_txn_begin(s.control, NULL, MDB_RDONLY, &txn), 0);
    kv.mv_size = TG_KEY_ID_LEN;
    kv.mv_data = k.id;
    ck_assert_int_eq(mdb_get(txn, s.dbi[TG_DB_KEYS], &kv, &vv), 0);
    ck_assert_ptr_null(memmem(vv.mv_data, vv.mv_size, sec, TG_KEY_SECRET_LEN));
    ck_assert_ptr_nonnull(memmem(vv.mv_data, vv.mv_size, k.hmac, 32));
    mdb_txn_abort(txn);
    tg_store_close(&s);
    tmp_remove(&t);
}
END_TEST

static void pk_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

START_TEST(record_with_unknown_fields_decodes)
{
    /* A record from a later version, with fields this build does not know (of every msgpack
     * type, before and after known ones) and known ones missing, still decodes: the unknown
     * fields are skipped, the missing ones are zero. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *rec;
    unsigned char hmac[32];
    tg_key_t k;

    memset(hmac, 0xab, sizeof(hmac));
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 11);
    pk_s(&pk, "future_map"); /* a nested map */
    msgpack_pack_map(&pk, 2);
    pk_s(&pk, "a");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_nil(&pk);
    pk_s(&pk, "b");
    msgpack_pack_double(&pk, 2.5);
    pk_s(&pk, "id");
    pk_s(&pk, "abcdefgh2345");
    pk_s(&pk, "region"); /* a string */
    pk_s(&pk, "eu-west");
    pk_s(&pk, "tenant");
    pk_s(&pk, "acme");
    msgpack_pack_int(&pk, 7); /* a non-string key */
    msgpack_pack_true(&pk);
    pk_s(&pk, "hmac");
    msgpack_pack_bin(&pk, 32);
    msgpack_pack_bin_body(&pk, hmac, 32);
    pk_s(&pk, "burst"); /* an unknown limit */
    msgpack_pack_int64(&pk, -3);
    pk_s(&pk, "models");
    msgpack_pack_array(&pk, 1);
    pk_s(&pk, "gpt-4o-mini");
    pk_s(&pk, "rpm");
    msgpack_pack_int(&pk, 60);
    pk_s(&pk, "blob");
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "xyz", 3);
    pk_s(&pk, "expires");
    msgpack_pack_int64(&pk, 1800000000);

    ck_assert_ptr_nonnull(rec = malloc(sb.size + 1));
    rec[0] = 1;
    memcpy(rec + 1, sb.data, sb.size);
    ck_assert_int_eq(tg_key_decode(rec, sb.size + 1, &k), 0);
    ck_assert_str_eq(k.id, "abcdefgh2345");
    ck_assert_str_eq(k.tenant, "acme");
    ck_assert_str_eq(k.name, "");
    ck_assert_mem_eq(k.hmac, hmac, 32);
    ck_assert_int_eq(k.nmodels, 1);
    ck_assert_str_eq(k.models[0], "gpt-4o-mini");
    ck_assert_int_eq(k.limits.rpm, 60);
    ck_assert_int_eq(k.limits.tpm, 0);
    ck_assert_int_eq(k.expires, 1800000000);
    ck_assert_int_eq(k.status, TG_KEY_ACTIVE);
    ck_assert_int_eq(k.prev_until, 0);
    free(rec);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(record_overlong_fields_are_cut_not_overflowed)
{
    /* A hand-made record with names longer than the fields and more models than fit decodes
     * into NUL-terminated, truncated fields (ASan catches any overflow). */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *rec, longname[300];
    tg_key_t k;

    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    pk_s(&pk, "id");
    pk_s(&pk, longname);
    pk_s(&pk, "name");
    pk_s(&pk, longname);
    pk_s(&pk, "models");
    msgpack_pack_array(&pk, 40);
    for (int i = 0; i < 40; i++)
        pk_s(&pk, longname);
    ck_assert_ptr_nonnull(rec = malloc(sb.size + 1));
    rec[0] = 1;
    memcpy(rec + 1, sb.data, sb.size);
    ck_assert_int_eq(tg_key_decode(rec, sb.size + 1, &k), 0);
    ck_assert_uint_eq(strlen(k.id), TG_KEY_ID_LEN);
    ck_assert_uint_eq(strlen(k.name), TG_NAME_MAX - 1);
    ck_assert_int_eq(k.nmodels, TG_KEY_MAX_MODELS);
    ck_assert_uint_eq(strlen(k.models[TG_KEY_MAX_MODELS - 1]), TG_NAME_MAX - 1);
    free(rec);
    msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(record_bad_version_or_shape_refused)
{
    /* A record whose version byte is not 1 is refused, as are an empty or 1-byte value, a
     * truncated body and a body that is not a map. */
    unsigned char pepper[TG_PEPPER_LEN];
    char secret[TG_KEY_LEN + 1], *buf;
    static const unsigned char versions[] = {0, 2, 0x7f, 0xff};
    size_t len;
    tg_key_t k, d;

    test_pepper(pepper);
    full_key(pepper, &k, secret);
    ck_assert_int_eq(tg_key_encode(&k, &buf, &len), 0);
    for (size_t i = 0; i < sizeof(versions); i++) {
        buf[0] = (char)versions[i];
        ck_assert_msg(tg_key_decode(buf, len, &d) == -1, "version %u refused", versions[i]);
    }
    buf[0] = 1;
    ck_assert_int_eq(tg_key_decode(buf, len, &d), 0);
    ck_assert_int_eq(tg_key_decode(buf, 0, &d), -1);
    ck_assert_int_eq(tg_key_decode(buf, 1, &d), -1);
    ck_assert_int_eq(tg_key_decode(buf, len / 2, &d), -1);
    ck_assert_int_eq(tg_key_decode("\x01\x93\x01\x02\x03", 5, &d), -1); /* an array */
    ck_assert_int_eq(tg_key_decode("\x01\xa1x", 3, &d), -1);            /* a string */
    free(buf);
}
END_TEST

START_TEST(tenant_round_trip)
{
    /* Tenant records round-trip too, and refuse another version. */
    tg_tenant_t t, d;
    char *buf;
    size_t len;

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "acme-corp");
    t.created = 1700000000;
    t.disabled = 1;
    t.limits.rpm = 1;
    t.limits.tpm = 2;
    t.limits.concurrency = 3;
    t.limits.daily_budget_micros = 4;
    t.limits.monthly_budget_micros = 5;
    ck_assert_int_eq(tg_tenant_encode(&t, &buf, &len), 0);
    ck_assert_int_eq(tg_tenant_decode(buf, len, &d), 0);
    ck_assert_str_eq(d.name, "acme-corp");
    ck_assert_int_eq(d.created, 1700000000);
    ck_assert_int_eq(d.disabled, 1);
    ck_assert_int_eq(d.limits.rpm, 1);
    ck_assert_int_eq(d.limits.tpm, 2);
    ck_assert_int_eq(d.limits.concurrency, 3);
    ck_assert_int_eq(d.limits.daily_budget_micros, 4);
    ck_assert_int_eq(d.limits.monthly_budget_micros, 5);
    buf[0] = 9;
    ck_assert_int_eq(tg_tenant_decode(buf, len, &d), -1);
    free(buf);
}
END_TEST

START_TEST(store_get_put)
{
    /* tg_key_put / tg_key_get through LMDB: the record comes back whole; an unknown id is
     * MDB_NOTFOUND; an undecodable record is MDB_CORRUPTED. Tenants likewise. */
    unsigned char pepper[TG_PEPPER_LEN];
    char secret[TG_KEY_LEN + 1];
    tg_key_t k, d;
    tg_tenant_t t, td;
    tmp_t tmp;
    tg_store_t s;
    MDB_txn *txn;

    test_pepper(pepper);
    tmp_make(&tmp);
    store_open(&s, tmp.path, 16);
    full_key(pepper, &k, secret);
    key_store(&s, &k);
    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "acme");
    t.limits.tpm = 99;
    ck_assert_int_eq(mdb_txn_begin(s.control, NULL, 0, &txn), 0);
    ck_assert_int_eq(tg_tenant_put(&s, txn, &t), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    raw_store(&s, "brokenbroken", "\x02garbage", 8);

    ck_assert_int_eq(mdb_txn_begin(s.control, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(tg_key_get(&s, txn, k.id, &d), 0);
    assert_keys_equal(&k, &d);
    ck_assert_int_eq(tg_key_get(&s, txn, "zzzzzzzzzzzz", &d), MDB_NOTFOUND);
    ck_assert_int_eq(tg_key_get(&s, txn, "brokenbroken", &d), MDB_CORRUPTED);
    ck_assert_int_eq(tg_tenant_get(&s, txn, "acme", &td), 0);
    ck_assert_int_eq(td.limits.tpm, 99);
    ck_assert_int_eq(tg_tenant_get(&s, txn, "nobody", &td), MDB_NOTFOUND);
    mdb_txn_abort(txn);
    tg_store_close(&s);
    tmp_remove(&tmp);
}
END_TEST

/* ---- verification ------------------------------------------------------------------------ */

typedef struct {
    tmp_t tmp;
    tg_store_t s;
    unsigned char pepper[TG_PEPPER_LEN];
    tg_key_t k;
    char secret[TG_KEY_LEN + 1];
} vfix_t;

static void vfix_setup(vfix_t *f)
{
    tmp_make(&f->tmp);
    store_open(&f->s, f->tmp.path, 16);
    test_pepper(f->pepper);
    new_key(f->pepper, &f->k, f->secret);
    key_store(&f->s, &f->k);
}

static void vfix_teardown(vfix_t *f)
{
    tg_store_close(&f->s);
    tmp_remove(&f->tmp);
}

#define NOW ((int64_t)1750000000)

START_TEST(verify_ok_and_missing)
{
    /* The right key is OK and fills the record; an empty key is MISSING. */
    vfix_t f;
    tg_key_t out;

    vfix_setup(&f);
    memset(&out, 0, sizeof(out));
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_OK);
    assert_keys_equal(&f.k, &out);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, "", NOW, &out), TG_AUTH_MISSING);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_invalid)
{
    /* Malformed keys, unknown ids, a wrong secret of the right shape, the right key under
     * another pepper and every one-character change of the key are all INVALID. */
    vfix_t f;
    tg_key_t out;
    char buf[128];
    unsigned char other[TG_PEPPER_LEN];
    static const char *const malformed[] = {
        "x",
        "tg_",
        "Bearer tg_abc",
        "sk-proj-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "tg_abcdefghijkl_0123456789abcdefghijklmnopqrstu",   /* one short */
        "tg_abcdefghijkl_0123456789abcdefghijklmnopqrstuvw", /* one long */
        "tg_abcdefghijkl-0123456789abcdefghijklmnopqrstuv",  /* wrong separator */
        "TG_abcdefghijkl_0123456789abcdefghijklmnopqrstuv",  /* wrong prefix */
        "tg_abcdefghijk__0123456789abcdefghijklmnopqrstuv",  /* separator inside the id */
    };

    vfix_setup(&f);
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
        ck_assert_msg(tg_key_verify(&f.s, f.pepper, malformed[i], NOW, &out) == TG_AUTH_INVALID,
                      "\"%s\" is INVALID", malformed[i]);

    /* the right secret after an id that does not exist */
    snprintf(buf, sizeof(buf), "tg_zzzzzzzzzzzz_%s", f.secret + 4 + TG_KEY_ID_LEN);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, buf, NOW, &out), TG_AUTH_INVALID);
    /* the right id, another well-formed secret */
    snprintf(buf, sizeof(buf), "%.*sAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 4 + TG_KEY_ID_LEN, f.secret);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, buf, NOW, &out), TG_AUTH_INVALID);
    /* the right key, another pepper */
    memcpy(other, f.pepper, sizeof(other));
    other[31] ^= 0x80;
    ck_assert_auth(tg_key_verify(&f.s, other, f.secret, NOW, &out), TG_AUTH_INVALID);
    /* every single-character change, at every position */
    for (int i = 0; i < TG_KEY_LEN; i++) {
        snprintf(buf, sizeof(buf), "%s", f.secret);
        buf[i] = buf[i] == 'a' ? 'b' : 'a';
        ck_assert_msg(tg_key_verify(&f.s, f.pepper, buf, NOW, &out) == TG_AUTH_INVALID,
                      "change at %d: \"%s\" is INVALID", i, buf);
    }
    /* still fine afterwards */
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_OK);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_revoked)
{
    /* A revoked key with its right secret is REVOKED; with a wrong secret it stays INVALID (a
     * guess learns nothing about the key's state). */
    vfix_t f;
    tg_key_t out;
    char wrong[TG_KEY_LEN + 1];

    vfix_setup(&f);
    f.k.status = TG_KEY_REVOKED;
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_REVOKED);
    ck_assert_str_eq(out.id, f.k.id);
    snprintf(wrong, sizeof(wrong), "%s", f.secret);
    wrong[TG_KEY_LEN - 1] = wrong[TG_KEY_LEN - 1] == 'Z' ? 'Y' : 'Z';
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, wrong, NOW, &out), TG_AUTH_INVALID);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_expired)
{
    /* expires is the first second the key no longer works; 0 means never. */
    vfix_t f;
    tg_key_t out;

    vfix_setup(&f);
    f.k.expires = NOW + 1;
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW + 1, &out), TG_AUTH_EXPIRED);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW + 100000, &out), TG_AUTH_EXPIRED);
    f.k.expires = 0;
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, INT64_MAX, &out), TG_AUTH_OK);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_rotation_grace)
{
    /* After a rotation the new secret works; the previous one works while now < prev_until and
     * is refused from prev_until on; with no grace (prev_until 0) it is refused at once. */
    vfix_t f;
    tg_key_t out;
    char old[TG_KEY_LEN + 1], fresh[TG_KEY_LEN + 1], older[TG_KEY_LEN + 1];

    vfix_setup(&f);
    memcpy(old, f.secret, sizeof(old));
    rotate(f.pepper, &f.k, NOW + 10, fresh);
    key_store(&f.s, &f.k);
    assert_key_format(fresh);
    ck_assert_mem_eq(fresh, old, 4 + TG_KEY_ID_LEN); /* same id */
    ck_assert_str_ne(fresh, old);

    ck_assert_auth(tg_key_verify(&f.s, f.pepper, fresh, NOW, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW + 9, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW + 10, &out), TG_AUTH_INVALID);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW + 11, &out), TG_AUTH_INVALID);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, fresh, NOW + 11, &out), TG_AUTH_OK);

    /* a second rotation: only the secret just replaced is in grace, not the one before it */
    memcpy(older, old, sizeof(older));
    memcpy(old, fresh, sizeof(old));
    rotate(f.pepper, &f.k, NOW + 10, fresh);
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, fresh, NOW, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW, &out), TG_AUTH_OK);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, older, NOW, &out), TG_AUTH_INVALID);

    /* grace 0 */
    memcpy(old, fresh, sizeof(old));
    rotate(f.pepper, &f.k, 0, fresh);
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW, &out), TG_AUTH_INVALID);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, 0, &out), TG_AUTH_INVALID);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, fresh, NOW, &out), TG_AUTH_OK);

    /* a revoked key's previous secret is not a way back in */
    memcpy(old, fresh, sizeof(old));
    rotate(f.pepper, &f.k, NOW + 10, fresh);
    f.k.status = TG_KEY_REVOKED;
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, old, NOW, &out), TG_AUTH_REVOKED);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, fresh, NOW, &out), TG_AUTH_REVOKED);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_zero_prev_hmac_never_matches)
{
    /* A record with a grace period but no previous HMAC (all zeros) accepts nothing extra. */
    vfix_t f;
    tg_key_t out;
    char wrong[TG_KEY_LEN + 1];

    vfix_setup(&f);
    f.k.prev_until = NOW + 100;
    memset(f.k.prev_hmac, 0, 32);
    key_store(&f.s, &f.k);
    snprintf(wrong, sizeof(wrong), "%s", f.secret);
    wrong[20] = wrong[20] == 'q' ? 'r' : 'q';
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, wrong, NOW, &out), TG_AUTH_INVALID);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_OK);
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_store_error_is_not_invalid)
{
    /* When the store cannot answer, the verdict is ERROR (a 503), never INVALID (a 401 that
     * would tell a client its good key is bad). Two real ways: (1) the key's record cannot be
     * decoded; (2) every LMDB reader slot is taken, so no read transaction can begin. */
    vfix_t f;
    tg_key_t out;
    tmp_t tmp;
    tg_store_t s1;
    MDB_txn *hold;
    tg_key_t k;
    char secret[TG_KEY_LEN + 1];

    vfix_setup(&f);
    raw_store(&f.s, f.k.id, "\x02not a record", 13);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_ERROR);
    vfix_teardown(&f);

    tmp_make(&tmp);
    store_open(&s1, tmp.path, 1); /* one reader slot */
    new_key(f.pepper, &k, secret);
    key_store(&s1, &k);
    ck_assert_auth(tg_key_verify(&s1, f.pepper, secret, NOW, &out), TG_AUTH_OK);
    ck_assert_int_eq(mdb_txn_begin(s1.control, NULL, MDB_RDONLY, &hold), 0);
    ck_assert_auth(tg_key_verify(&s1, f.pepper, secret, NOW, &out), TG_AUTH_ERROR);
    mdb_txn_abort(hold);
    ck_assert_auth(tg_key_verify(&s1, f.pepper, secret, NOW, &out), TG_AUTH_OK);
    tg_store_close(&s1);
    tmp_remove(&tmp);
}
END_TEST

START_TEST(verify_unknown_status_fails_closed)
{
    /* A record whose status this build does not know (a later version's "suspended", or a
     * damaged field) must not authenticate: unknown means refused, never active. */
    static const int64_t statuses[] = {2, 3, 255, -1};
    vfix_t f;
    tg_key_t out;

    vfix_setup(&f);
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        f.k.status = (tg_key_status_t)statuses[i];
        key_store(&f.s, &f.k);
        ck_assert_msg(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out) != TG_AUTH_OK,
                      "a key with status %lld is accepted as active", (long long)statuses[i]);
    }
    vfix_teardown(&f);
}
END_TEST

START_TEST(verify_sees_changes_at_once)
{
    /* Verification opens a fresh read transaction each time: a revocation committed after one
     * verification applies to the very next. */
    vfix_t f;
    tg_key_t out;

    vfix_setup(&f);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_OK);
    f.k.status = TG_KEY_REVOKED;
    key_store(&f.s, &f.k);
    ck_assert_auth(tg_key_verify(&f.s, f.pepper, f.secret, NOW, &out), TG_AUTH_REVOKED);
    vfix_teardown(&f);
}
END_TEST

/* ---- models ----------------------------------------------------------------------------- */

START_TEST(allows_models)
{
    /* No list: every model. A list: exactly its names (case-sensitive, no prefixes). */
    tg_key_t k;

    memset(&k, 0, sizeof(k));
    ck_assert_int_eq(tg_key_allows(&k, "gpt-4o"), 1);
    ck_assert_int_eq(tg_key_allows(&k, "anything-at-all"), 1);
    k.nmodels = 2;
    snprintf(k.models[0], TG_NAME_MAX, "gpt-4o-mini");
    snprintf(k.models[1], TG_NAME_MAX, "text-embedding-3-small");
    ck_assert_int_eq(tg_key_allows(&k, "gpt-4o-mini"), 1);
    ck_assert_int_eq(tg_key_allows(&k, "text-embedding-3-small"), 1);
    ck_assert_int_eq(tg_key_allows(&k, "gpt-4o"), 0);
    ck_assert_int_eq(tg_key_allows(&k, "gpt-4o-mini-2024"), 0);
    ck_assert_int_eq(tg_key_allows(&k, "GPT-4O-MINI"), 0);
    ck_assert_int_eq(tg_key_allows(&k, ""), 0);
    /* a name in the third slot (beyond nmodels) is not allowed */
    snprintf(k.models[2], TG_NAME_MAX, "deepseek-chat");
    ck_assert_int_eq(tg_key_allows(&k, "deepseek-chat"), 0);
}
END_TEST

static Suite *tg_keys_suite(void)
{
    Suite *s = suite_create("tg_keys");
    TCase *tc = tcase_create("pepper");

    tcase_add_test(tc, pepper_created_0600_and_reloaded);
    tcase_add_test(tc, pepper_wrong_size_refused);
    tcase_add_test(tc, pepper_cannot_be_created);
    suite_add_tcase(s, tc);

    tc = tcase_create("generate");
    tcase_add_test(tc, generate_format_and_hmac);
    tcase_add_test(tc, generate_unique_and_evenly_spread);
    suite_add_tcase(s, tc);

    tc = tcase_create("records");
    tcase_add_test(tc, record_round_trip_every_field);
    tcase_add_test(tc, record_never_holds_the_secret);
    tcase_add_test(tc, record_with_unknown_fields_decodes);
    tcase_add_test(tc, record_overlong_fields_are_cut_not_overflowed);
    tcase_add_test(tc, record_bad_version_or_shape_refused);
    tcase_add_test(tc, tenant_round_trip);
    tcase_add_test(tc, store_get_put);
    suite_add_tcase(s, tc);

    tc = tcase_create("verify");
    tcase_add_test(tc, verify_ok_and_missing);
    tcase_add_test(tc, verify_invalid);
    tcase_add_test(tc, verify_revoked);
    tcase_add_test(tc, verify_expired);
    tcase_add_test(tc, verify_rotation_grace);
    tcase_add_test(tc, verify_zero_prev_hmac_never_matches);
    tcase_add_test(tc, verify_store_error_is_not_invalid);
    tcase_add_test(tc, verify_unknown_status_fails_closed);
    tcase_add_test(tc, verify_sees_changes_at_once);
    tcase_add_test(tc, allows_models);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_keys_suite());
    int failed;

    snprintf(tmp_root, sizeof(tmp_root), "/tmp/tg-keys-XXXXXX");
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
