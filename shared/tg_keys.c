/*
 * Virtual keys and tenants (see tg_keys.h): generation from OpenSSL's CSPRNG, HMAC-SHA256
 * storage, constant-time verification, and versioned msgpack records. Record fields are a map
 * keyed by name so a later version can add fields that older readers skip.
 */
#include "shared/tg_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TG_RECORD_VERSION 1

unsigned char tg_pepper[TG_PEPPER_LEN];

int tg_pepper_load(const char *path, unsigned char pepper[TG_PEPPER_LEN], char *err,
                   size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd == -1 && errno == ENOENT) {
        /* first start: make one, readable by the gateway's user only */
        if (RAND_bytes(pepper, TG_PEPPER_LEN) != 1) {
            snprintf(err, errlen, "RAND_bytes() failed");
            return -1;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd == -1 || write(fd, pepper, TG_PEPPER_LEN) != TG_PEPPER_LEN || fsync(fd) == -1) {
            snprintf(err, errlen, "cannot create the pepper file %s: %s", path, strerror(errno));
            if (fd != -1)
                close(fd);
            return -1;
        }
        close(fd);
        return 0;
    }
    if (fd == -1) {
        snprintf(err, errlen, "cannot open the pepper file %s: %s", path, strerror(errno));
        return -1;
    }
    {
        unsigned char buf[TG_PEPPER_LEN + 1]; /* one more: a longer file is refused too */
        n = read(fd, buf, sizeof(buf));
        if (n == TG_PEPPER_LEN)
            memcpy(pepper, buf, TG_PEPPER_LEN);
        explicit_bzero(buf, sizeof(buf));
    }
    close(fd);
    if (n != TG_PEPPER_LEN) {
        snprintf(err, errlen, "the pepper file %s must hold exactly %d bytes", path,
                 TG_PEPPER_LEN);
        return -1;
    }
    return 0;
}

void tg_key_hmac(const unsigned char pepper[TG_PEPPER_LEN], const char *key, size_t len,
                 unsigned char out[32])
{
    unsigned int olen = 32;

    HMAC(EVP_sha256(), pepper, TG_PEPPER_LEN, (const unsigned char *)key, len, out, &olen);
}

/* Uniform characters from an alphabet by rejection sampling on random bytes. */
static int tg_random_chars(char *out, size_t n, const char *alphabet)
{
    size_t alen = strlen(alphabet), got = 0;
    unsigned limit = 256 - 256 % (unsigned)alen;
    unsigned char buf[64];

    while (got < n) {
        if (RAND_bytes(buf, sizeof(buf)) != 1)
            return -1;
        for (size_t i = 0; i < sizeof(buf) && got < n; i++)
            if (buf[i] < limit)
                out[got++] = alphabet[buf[i] % alen];
    }
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int tg_key_generate(const unsigned char pepper[TG_PEPPER_LEN], tg_key_t *k, char *secret,
                    size_t size)
{
    static const char id_chars[] = "abcdefghijklmnopqrstuvwxyz234567";
    static const char secret_chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /* 12 base32 characters: 60 bits of id; 32 base62 characters: 190 bits of secret */
    if (size < TG_KEY_LEN + 1 || tg_random_chars(k->id, TG_KEY_ID_LEN, id_chars) == -1)
        return -1;
    k->id[TG_KEY_ID_LEN] = '\0';
    memcpy(secret, "tg_", 3);
    memcpy(secret + 3, k->id, TG_KEY_ID_LEN);
    secret[3 + TG_KEY_ID_LEN] = '_';
    if (tg_random_chars(secret + 4 + TG_KEY_ID_LEN, TG_KEY_SECRET_LEN, secret_chars) == -1)
        return -1;
    secret[TG_KEY_LEN] = '\0';
    tg_key_hmac(pepper, secret, TG_KEY_LEN, k->hmac);
    return 0;
}

/* ---- records --------------------------------------------------------------------------- */

static void tg_pk_str(msgpack_packer *pk, const char *key, const char *val)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_str(pk, strlen(val));
    msgpack_pack_str_body(pk, val, strlen(val));
}

static void tg_pk_int(msgpack_packer *pk, const char *key, int64_t val)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_int64(pk, val);
}

static void tg_pk_bin(msgpack_packer *pk, const char *key, const unsigned char *val, size_t n)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, val, n);
}

static void tg_pk_limits(msgpack_packer *pk, const tg_limits_t *l)
{
    tg_pk_int(pk, "rpm", l->rpm);
    tg_pk_int(pk, "tpm", l->tpm);
    tg_pk_int(pk, "concurrency", l->concurrency);
    tg_pk_int(pk, "daily_budget_micros", l->daily_budget_micros);
    tg_pk_int(pk, "monthly_budget_micros", l->monthly_budget_micros);
}

static int tg_pk_finish(msgpack_sbuffer *sb, char **out, size_t *len)
{
    *out = malloc(sb->size + 1);
    if (*out == NULL) {
        msgpack_sbuffer_destroy(sb);
        return -1;
    }
    (*out)[0] = TG_RECORD_VERSION;
    memcpy(*out + 1, sb->data, sb->size);
    *len = sb->size + 1;
    msgpack_sbuffer_destroy(sb);
    return 0;
}

int tg_key_encode(const tg_key_t *k, char **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 16);
    tg_pk_str(&pk, "id", k->id);
    tg_pk_str(&pk, "tenant", k->tenant);
    tg_pk_str(&pk, "name", k->name);
    tg_pk_int(&pk, "status", k->status);
    tg_pk_int(&pk, "created", k->created);
    tg_pk_int(&pk, "expires", k->expires);
    tg_pk_bin(&pk, "hmac", k->hmac, 32);
    tg_pk_bin(&pk, "prev_hmac", k->prev_hmac, 32);
    tg_pk_int(&pk, "prev_until", k->prev_until);
    tg_pk_str(&pk, "task", k->task);
    msgpack_pack_str(&pk, 6);
    msgpack_pack_str_body(&pk, "models", 6);
    msgpack_pack_array(&pk, (size_t)k->nmodels);
    for (int i = 0; i < k->nmodels; i++) {
        msgpack_pack_str(&pk, strlen(k->models[i]));
        msgpack_pack_str_body(&pk, k->models[i], strlen(k->models[i]));
    }
    tg_pk_limits(&pk, &k->limits);
    return tg_pk_finish(&sb, out, len);
}

int tg_tenant_encode(const tg_tenant_t *t, char **out, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    tg_pk_str(&pk, "name", t->name);
    tg_pk_int(&pk, "created", t->created);
    tg_pk_int(&pk, "disabled", t->disabled);
    tg_pk_limits(&pk, &t->limits);
    return tg_pk_finish(&sb, out, len);
}

static int tg_key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);

    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static void tg_copy_str(char *dst, size_t size, const msgpack_object *v)
{
    size_t n = 0;

    if (v->type == MSGPACK_OBJECT_STR) {
        n = v->via.str.size < size - 1 ? v->via.str.size : size - 1;
        memcpy(dst, v->via.str.ptr, n);
    }
    dst[n] = '\0';
}

static int64_t tg_int_of(const msgpack_object *v)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)v->via.u64;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v->via.i64;
    return 0;
}

static int tg_limits_field(const msgpack_object *k, const msgpack_object *v, tg_limits_t *l)
{
    if (tg_key_is(k, "rpm"))
        l->rpm = tg_int_of(v);
    else if (tg_key_is(k, "tpm"))
        l->tpm = tg_int_of(v);
    else if (tg_key_is(k, "concurrency"))
        l->concurrency = tg_int_of(v);
    else if (tg_key_is(k, "daily_budget_micros"))
        l->daily_budget_micros = tg_int_of(v);
    else if (tg_key_is(k, "monthly_budget_micros"))
        l->monthly_budget_micros = tg_int_of(v);
    else
        return 0;
    return 1;
}

/* Unpack a versioned record's map; calls fn for each field. */
static int tg_record_walk(const void *data, size_t len, void *dst,
                          void (*fn)(void *dst, const msgpack_object *k, const msgpack_object *v))
{
    msgpack_unpacked up;
    int rc = -1;

    if (len < 2 || ((const unsigned char *)data)[0] != TG_RECORD_VERSION)
        return -1;
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, (const char *)data + 1, len - 1, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++)
            fn(dst, &up.data.via.map.ptr[i].key, &up.data.via.map.ptr[i].val);
        rc = 0;
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

static void tg_key_field(void *dst, const msgpack_object *k, const msgpack_object *v)
{
    tg_key_t *key = dst;

    if (tg_key_is(k, "id"))
        tg_copy_str(key->id, sizeof(key->id), v);
    else if (tg_key_is(k, "tenant"))
        tg_copy_str(key->tenant, sizeof(key->tenant), v);
    else if (tg_key_is(k, "name"))
        tg_copy_str(key->name, sizeof(key->name), v);
    else if (tg_key_is(k, "status"))
        key->status = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (tg_key_status_t)v->via.u64
                                                                  : (tg_key_status_t)255;
    else if (tg_key_is(k, "created"))
        key->created = tg_int_of(v);
    else if (tg_key_is(k, "expires"))
        key->expires = tg_int_of(v);
    else if (tg_key_is(k, "hmac") && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 32)
        memcpy(key->hmac, v->via.bin.ptr, 32);
    else if (tg_key_is(k, "prev_hmac") && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == 32)
        memcpy(key->prev_hmac, v->via.bin.ptr, 32);
    else if (tg_key_is(k, "prev_until"))
        key->prev_until = tg_int_of(v);
    else if (tg_key_is(k, "task"))
        tg_copy_str(key->task, sizeof(key->task), v);
    else if (tg_key_is(k, "models") && v->type == MSGPACK_OBJECT_ARRAY) {
        key->nmodels = 0;
        for (uint32_t i = 0; i < v->via.array.size && key->nmodels < TG_KEY_MAX_MODELS; i++)
            tg_copy_str(key->models[key->nmodels++], TG_NAME_MAX, &v->via.array.ptr[i]);
    } else
        tg_limits_field(k, v, &key->limits);
}

static void tg_tenant_field(void *dst, const msgpack_object *k, const msgpack_object *v)
{
    tg_tenant_t *t = dst;

    if (tg_key_is(k, "name"))
        tg_copy_str(t->name, sizeof(t->name), v);
    else if (tg_key_is(k, "created"))
        t->created = tg_int_of(v);
    else if (tg_key_is(k, "disabled"))
        t->disabled = (int)tg_int_of(v);
    else
        tg_limits_field(k, v, &t->limits);
}

int tg_key_decode(const void *data, size_t len, tg_key_t *k)
{
    memset(k, 0, sizeof(*k));
    return tg_record_walk(data, len, k, tg_key_field);
}

int tg_tenant_decode(const void *data, size_t len, tg_tenant_t *t)
{
    memset(t, 0, sizeof(*t));
    return tg_record_walk(data, len, t, tg_tenant_field);
}

/* ---- store access -------------------------------------------------------------------------- */

int tg_key_get(tg_store_t *s, MDB_txn *txn, const char *id, tg_key_t *k)
{
    MDB_val key = {strlen(id), (void *)id}, val;
    int rc = mdb_get(txn, s->dbi[TG_DB_KEYS], &key, &val);

    if (rc != 0)
        return rc;
    return tg_key_decode(val.mv_data, val.mv_size, k) == 0 ? 0 : MDB_CORRUPTED;
}

int tg_key_put(tg_store_t *s, MDB_txn *txn, const tg_key_t *k)
{
    MDB_val key = {strlen(k->id), (void *)k->id}, val;
    char *buf;
    size_t len;
    int rc;

    if (tg_key_encode(k, &buf, &len) == -1)
        return ENOMEM;
    val.mv_size = len;
    val.mv_data = buf;
    rc = mdb_put(txn, s->dbi[TG_DB_KEYS], &key, &val, 0);
    free(buf);
    return rc;
}

int tg_tenant_get(tg_store_t *s, MDB_txn *txn, const char *name, tg_tenant_t *t)
{
    MDB_val key = {strlen(name), (void *)name}, val;
    int rc = mdb_get(txn, s->dbi[TG_DB_TENANTS], &key, &val);

    if (rc != 0)
        return rc;
    return tg_tenant_decode(val.mv_data, val.mv_size, t) == 0 ? 0 : MDB_CORRUPTED;
}

int tg_tenant_put(tg_store_t *s, MDB_txn *txn, const tg_tenant_t *t)
{
    MDB_val key = {strlen(t->name), (void *)t->name}, val;
    char *buf;
    size_t len;
    int rc;

    if (tg_tenant_encode(t, &buf, &len) == -1)
        return ENOMEM;
    val.mv_size = len;
    val.mv_data = buf;
    rc = mdb_put(txn, s->dbi[TG_DB_TENANTS], &key, &val, 0);
    free(buf);
    return rc;
}

tg_auth_t tg_key_verify(tg_store_t *s, const unsigned char pepper[TG_PEPPER_LEN],
                        const char *presented, int64_t now, tg_key_t *k)
{
    static const unsigned char zero[32];
    unsigned char mac[32];
    char id[TG_KEY_ID_LEN + 1];
    size_t len = strlen(presented);
    MDB_txn *txn;
    int rc, ok;

    if (len == 0)
        return TG_AUTH_MISSING;
    if (len != TG_KEY_LEN || memcmp(presented, "tg_", 3) != 0 ||
        presented[3 + TG_KEY_ID_LEN] != '_')
        return TG_AUTH_INVALID;
    memcpy(id, presented + 3, TG_KEY_ID_LEN);
    id[TG_KEY_ID_LEN] = '\0';
    if (mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn) != 0)
        return TG_AUTH_ERROR;
    rc = tg_key_get(s, txn, id, k);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return TG_AUTH_INVALID;
    if (rc != 0)
        return TG_AUTH_ERROR;
    tg_key_hmac(pepper, presented, len, mac);
    ok = CRYPTO_memcmp(mac, k->hmac, 32) == 0;
    if (!ok && k->prev_until > now && CRYPTO_memcmp(k->prev_hmac, zero, 32) != 0)
        ok = CRYPTO_memcmp(mac, k->prev_hmac, 32) == 0; /* the old secret, still in grace */
    explicit_bzero(mac, sizeof(mac));
    if (!ok)
        return TG_AUTH_INVALID;
    if (k->status != TG_KEY_ACTIVE)
        return TG_AUTH_REVOKED; /* any status this build does not know fails closed */
    if (k->expires != 0 && k->expires <= now)
        return TG_AUTH_EXPIRED;
    return TG_AUTH_OK;
}

int tg_key_allows(const tg_key_t *k, const char *model)
{
    if (k->nmodels == 0)
        return 1;
    for (int i = 0; i < k->nmodels; i++)
        if (strcmp(k->models[i], model) == 0)
            return 1;
    return 0;
}
