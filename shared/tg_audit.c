/*
 * Audit chain (see tg_audit.h). A stored entry is [version][sha256 of body][body], the body a
 * msgpack array [seq, ts_ms, uid, pid, action, target, detail, prev_hash]. The newest sequence
 * number and hash are also kept in meta ("audit_head"), so that cutting entries off the end is
 * caught too.
 */
#include "shared/tg_audit.h"

#include <errno.h>
#include <msgpack.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TG_AUDIT_VERSION 1
static const char tg_head_key[] = "audit_head";

static void tg_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int n = 32;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

/* The head: seq (8 bytes big-endian) + hash (32). */
static int tg_head_get(tg_store_t *s, MDB_txn *txn, uint64_t *seq, unsigned char hash[32])
{
    MDB_val k = {sizeof(tg_head_key) - 1, (void *)tg_head_key}, v;
    int rc = mdb_get(txn, s->dbi[TG_DB_META], &k, &v);

    if (rc == MDB_NOTFOUND) {
        *seq = 0;
        memset(hash, 0, 32);
        return 0;
    }
    if (rc != 0)
        return rc;
    if (v.mv_size != 40)
        return MDB_CORRUPTED;
    *seq = tg_store_get_be64(v.mv_data);
    memcpy(hash, (unsigned char *)v.mv_data + 8, 32);
    return 0;
}

static void tg_pack_s(msgpack_packer *pk, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s ? s : "", n);
}

int tg_audit_append(tg_store_t *s, MDB_txn *txn, const tg_actor_t *actor, const char *action,
                    const char *target, const char *detail_json)
{
    unsigned char prev[32], hash[32], head[40], seqk[8];
    uint64_t seq;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct timespec ts;
    MDB_val k, v;
    char *val;
    int rc;

    if ((rc = tg_head_get(s, txn, &seq, prev)) != 0)
        return rc;
    seq++;
    clock_gettime(CLOCK_REALTIME, &ts);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 8);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_int64(&pk, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    msgpack_pack_int(&pk, actor->uid);
    msgpack_pack_int(&pk, actor->pid);
    tg_pack_s(&pk, action);
    tg_pack_s(&pk, target);
    tg_pack_s(&pk, detail_json ? detail_json : "{}");
    msgpack_pack_bin(&pk, 32);
    msgpack_pack_bin_body(&pk, prev, 32);
    tg_sha256(sb.data, sb.size, hash);

    if ((val = malloc(1 + 32 + sb.size)) == NULL) {
        msgpack_sbuffer_destroy(&sb);
        return ENOMEM;
    }
    val[0] = TG_AUDIT_VERSION;
    memcpy(val + 1, hash, 32);
    memcpy(val + 33, sb.data, sb.size);
    tg_store_be64(seqk, seq);
    k.mv_size = 8;
    k.mv_data = seqk;
    v.mv_size = 33 + sb.size;
    v.mv_data = val;
    rc = mdb_put(txn, s->dbi[TG_DB_AUDIT], &k, &v, MDB_NOOVERWRITE);
    msgpack_sbuffer_destroy(&sb);
    free(val);
    if (rc != 0)
        return rc;
    tg_store_be64(head, seq);
    memcpy(head + 8, hash, 32);
    k.mv_size = sizeof(tg_head_key) - 1;
    k.mv_data = (void *)tg_head_key;
    v.mv_size = sizeof(head);
    v.mv_data = head;
    return mdb_put(txn, s->dbi[TG_DB_META], &k, &v, 0);
}

static char *tg_obj_dup(const msgpack_object *o)
{
    char *s;

    if (o->type != MSGPACK_OBJECT_STR)
        return NULL;
    if ((s = malloc(o->via.str.size + 1)) == NULL)
        return NULL;
    memcpy(s, o->via.str.ptr, o->via.str.size);
    s[o->via.str.size] = '\0';
    return s;
}

static void tg_obj_copy(char *dst, size_t size, const msgpack_object *o)
{
    size_t n = 0;

    if (o->type == MSGPACK_OBJECT_STR) {
        n = o->via.str.size < size - 1 ? o->via.str.size : size - 1;
        memcpy(dst, o->via.str.ptr, n);
    }
    dst[n] = '\0';
}

/* Decode; also reports whether the stored hash matches the body. */
static int tg_audit_decode2(const void *data, size_t len, tg_audit_entry_t *e, int *hash_ok)
{
    const unsigned char *d = data;
    msgpack_unpacked up;
    msgpack_object *a;
    unsigned char h[32];
    int rc = -1;

    memset(e, 0, sizeof(*e));
    if (len < 34 || d[0] != TG_AUDIT_VERSION)
        return -1;
    memcpy(e->hash, d + 1, 32);
    tg_sha256(d + 33, len - 33, h);
    if (hash_ok != NULL)
        *hash_ok = memcmp(h, e->hash, 32) == 0;
    if (memcmp(h, e->hash, 32) != 0)
        return -1; /* altered: never feed tampered bytes to the decoder (sizes may be absurd) */
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, (const char *)d + 33, len - 33, NULL) != MSGPACK_UNPACK_SUCCESS ||
        up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size != 8)
        goto done;
    a = up.data.via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[7].type != MSGPACK_OBJECT_BIN ||
        a[7].via.bin.size != 32)
        goto done;
    e->seq = a[0].via.u64;
    e->ts_ms = a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)a[1].via.u64 : 0;
    e->actor.uid = a[2].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (int)a[2].via.i64
                                                                : (int)a[2].via.u64;
    e->actor.pid = a[3].type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (int)a[3].via.i64
                                                                : (int)a[3].via.u64;
    tg_obj_copy(e->action, sizeof(e->action), &a[4]);
    tg_obj_copy(e->target, sizeof(e->target), &a[5]);
    e->detail = tg_obj_dup(&a[6]);
    memcpy(e->prev, a[7].via.bin.ptr, 32);
    rc = e->detail != NULL ? 0 : -1;
done:
    msgpack_unpacked_destroy(&up);
    return rc;
}

int tg_audit_decode(const void *data, size_t len, tg_audit_entry_t *e)
{
    return tg_audit_decode2(data, len, e, NULL);
}

void tg_audit_entry_clear(tg_audit_entry_t *e)
{
    free(e->detail);
    e->detail = NULL;
}

int tg_audit_verify(tg_store_t *s, uint64_t *count, uint64_t *bad, const char **why)
{
    unsigned char prev[32] = {0}, head_hash[32];
    uint64_t expect = 1, head_seq;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, ret = -1;

    *count = 0;
    *bad = 0;
    *why = NULL;
    if (mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn) != 0) {
        *why = "cannot read the store";
        return -1;
    }
    if (tg_head_get(s, txn, &head_seq, head_hash) != 0 ||
        mdb_cursor_open(txn, s->dbi[TG_DB_AUDIT], &cur) != 0) {
        mdb_txn_abort(txn);
        *why = "cannot read the store";
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), expect++) {
        tg_audit_entry_t e;
        uint64_t seq = k.mv_size == 8 ? tg_store_get_be64(k.mv_data) : 0;
        int hash_ok = 0;

        if (seq != expect) {
            *bad = expect;
            *why = seq > expect ? "entry missing (removed)" : "unexpected entry";
            goto out;
        }
        if (tg_audit_decode2(v.mv_data, v.mv_size, &e, &hash_ok) == -1 || e.seq != seq) {
            tg_audit_entry_clear(&e);
            *bad = seq;
            *why = !hash_ok ? "entry altered: its contents do not match its hash"
                            : "entry unreadable or its sequence number altered";
            goto out;
        }
        if (memcmp(e.prev, prev, 32) != 0) {
            tg_audit_entry_clear(&e);
            /* this entry is intact, so the one before it was rewritten (hash recomputed) */
            *bad = seq - 1;
            *why = "entry altered: the next entry's link does not match it";
            goto out;
        }
        memcpy(prev, e.hash, 32);
        tg_audit_entry_clear(&e);
        (*count)++;
    }
    if (expect - 1 > head_seq) {
        *bad = head_seq + 1;
        *why = "entries beyond the recorded head (inserted, or the head was removed)";
        goto out;
    }
    if (expect - 1 < head_seq) {
        *bad = expect;
        *why = "entries missing at the end of the trail";
        goto out;
    }
    if (head_seq > 0 && memcmp(prev, head_hash, 32) != 0) {
        *bad = head_seq;
        *why = "entry altered: the recorded head does not match it";
        goto out;
    }
    ret = 0;
out:
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
}

int tg_audit_each(tg_store_t *s, uint64_t after, size_t limit,
                  int (*fn)(void *arg, const tg_audit_entry_t *e), void *arg)
{
    unsigned char start[8];
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0;
    int rc;

    if (mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_AUDIT], &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    tg_store_be64(start, after + 1);
    k.mv_size = 8;
    k.mv_data = start;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && (limit == 0 || n < limit);
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        tg_audit_entry_t e;
        int stop;

        if (tg_audit_decode(v.mv_data, v.mv_size, &e) == -1) {
            tg_audit_entry_clear(&e);
            continue;
        }
        stop = fn(arg, &e);
        tg_audit_entry_clear(&e);
        if (stop)
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return 0;
}

uint64_t tg_audit_last(tg_store_t *s)
{
    unsigned char hash[32];
    uint64_t seq = 0;
    MDB_txn *txn;

    if (mdb_txn_begin(s->control, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    if (tg_head_get(s, txn, &seq, hash) != 0)
        seq = 0;
    mdb_txn_abort(txn);
    return seq;
}
