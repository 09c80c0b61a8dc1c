/*
 * Feedback records and request lookup (see tg_feedback.h).
 */
#include "shared/tg_feedback.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const tg_fb_dims[TG_FB_NDIMS] = {"tenant", "key",  "model",  "provider",
                                                     "route",  "task", "variant"};

int tg_feedback_dim(const char *by)
{
    for (int i = 0; i < TG_FB_NDIMS; i++)
        if (strcmp(by, tg_fb_dims[i]) == 0)
            return i;
    return -1;
}

static int tg_key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);

    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static void tg_copy_str(char *dst, size_t size, const msgpack_object *o)
{
    size_t n = o->type == MSGPACK_OBJECT_STR ? o->via.str.size : 0;

    if (n >= size)
        n = size - 1;
    if (n > 0)
        memcpy(dst, o->via.str.ptr, n);
    dst[n] = '\0';
}

static int64_t tg_int_of(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return 0;
}

/* Read a request event's map into out. 0, or -1 when it is not one. */
static int tg_event_decode(const MDB_val *v, tg_request_info_t *out)
{
    msgpack_unpacked up;
    char experiment[TG_FB_DIM_MAX] = "", variant[TG_FB_DIM_MAX] = "";
    int rc = -1;

    memset(out, 0, sizeof(*out));
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, v->mv_data, v->mv_size, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            const msgpack_object *k = &up.data.via.map.ptr[i].key;
            const msgpack_object *val = &up.data.via.map.ptr[i].val;

            if (tg_key_is(k, "ts_ms"))
                out->ts_ms = tg_int_of(val);
            else if (tg_key_is(k, "status"))
                out->status = (int)tg_int_of(val);
            else if (tg_key_is(k, "experiment"))
                tg_copy_str(experiment, sizeof(experiment), val);
            else if (tg_key_is(k, "variant"))
                tg_copy_str(variant, sizeof(variant), val);
            else
                for (int d = 0; d < TG_FB_NDIMS; d++)
                    if (d != TG_FB_DIM_VARIANT && tg_key_is(k, tg_fb_dims[d]))
                        tg_copy_str(out->dim[d], TG_FB_DIM_MAX, val);
        }
        if (experiment[0] != '\0')
            snprintf(out->dim[TG_FB_DIM_VARIANT], TG_FB_DIM_MAX, "%.70s/%.70s", experiment,
                     variant);
        rc = 0;
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

int tg_request_info(tg_store_t *s, MDB_txn *txn, const char *request_id, tg_request_info_t *out)
{
    MDB_val ik = {strlen(request_id), (void *)request_id}, ek, v;
    int rc;

    if (ik.mv_size == 0 || ik.mv_size > 80)
        return MDB_NOTFOUND;
    if ((rc = mdb_get(txn, s->dbi[TG_DB_REQIDX], &ik, &ek)) != 0)
        return rc;
    if ((rc = mdb_get(txn, s->dbi[TG_DB_EVENTS], &ek, &v)) != 0)
        return rc;
    return tg_event_decode(&v, out) == 0 ? 0 : MDB_NOTFOUND;
}

static void tg_pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s != NULL ? s : "", n);
}

int tg_feedback_put(tg_store_t *s, MDB_txn *txn, const char *request_id,
                    const tg_request_info_t *req, const tg_feedback_t *fb, int64_t now_ms)
{
    MDB_val k = {strlen(request_id), (void *)request_id}, v;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* [req_ts_ms, fb_ts_ms, dims..., rating, score, escalated, comment] */
    msgpack_pack_array(&pk, 2 + TG_FB_NDIMS + 4);
    msgpack_pack_int64(&pk, req->ts_ms);
    msgpack_pack_int64(&pk, now_ms);
    for (int d = 0; d < TG_FB_NDIMS; d++)
        tg_pk_str(&pk, req->dim[d]);
    msgpack_pack_int(&pk, fb->rating);
    msgpack_pack_double(&pk, fb->score);
    msgpack_pack_int(&pk, fb->escalated);
    if (fb->comment != NULL)
        tg_pk_str(&pk, fb->comment);
    else
        msgpack_pack_nil(&pk);
    v.mv_size = sb.size;
    v.mv_data = sb.data;
    rc = mdb_put(txn, s->dbi[TG_DB_FEEDBACK], &k, &v, 0);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Add one stored feedback record to its group's row (rows grow as groups appear). */
static int tg_feedback_add(const MDB_val *v, int dim, int64_t since_ms, int64_t until_ms,
                           tg_feedback_row_t **rows, size_t *nrows, size_t *cap)
{
    msgpack_unpacked up;
    const msgpack_object *a;
    tg_feedback_row_t *row = NULL;
    char group[TG_FB_DIM_MAX];
    int64_t ts;
    int rc = 0;

    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, v->mv_data, v->mv_size, NULL) != MSGPACK_UNPACK_SUCCESS ||
        up.data.type != MSGPACK_OBJECT_ARRAY || up.data.via.array.size < 2 + TG_FB_NDIMS + 3)
        goto done;
    a = up.data.via.array.ptr;
    ts = tg_int_of(&a[0]);
    if (ts < since_ms || ts >= until_ms)
        goto done;
    tg_copy_str(group, sizeof(group), &a[2 + dim]);
    for (size_t i = 0; i < *nrows; i++)
        if (strcmp((*rows)[i].group, group) == 0)
            row = &(*rows)[i];
    if (row == NULL) {
        if (*nrows == *cap) {
            tg_feedback_row_t *nr = realloc(*rows, (*cap = *cap ? *cap * 2 : 16) * sizeof(*nr));
            if (nr == NULL) {
                rc = -1;
                goto done;
            }
            *rows = nr;
        }
        row = &(*rows)[(*nrows)++];
        memset(row, 0, sizeof(*row));
        memcpy(row->group, group, sizeof(group));
    }
    row->feedback++;
    {
        int64_t rating = tg_int_of(&a[2 + TG_FB_NDIMS]);
        double score = a[3 + TG_FB_NDIMS].type == MSGPACK_OBJECT_FLOAT64 ||
                               a[3 + TG_FB_NDIMS].type == MSGPACK_OBJECT_FLOAT32
                           ? a[3 + TG_FB_NDIMS].via.f64
                           : -1;
        int64_t esc = tg_int_of(&a[4 + TG_FB_NDIMS]);

        if (rating != 0) {
            row->rated++;
            row->up += rating > 0;
        }
        if (score >= 0) {
            row->scored++;
            row->score_sum += score;
        }
        if (esc >= 0) {
            row->escalation_answers++;
            row->escalated += esc > 0;
        }
    }
done:
    msgpack_unpacked_destroy(&up);
    return rc;
}

int tg_feedback_report(tg_store_t *s, const char *by, int64_t since_ms, int64_t until_ms,
                       void (*fn)(void *arg, const tg_feedback_row_t *row), void *arg)
{
    int dim = tg_feedback_dim(by);
    tg_feedback_row_t *rows = NULL;
    size_t nrows = 0, cap = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, failed = 0;

    if (dim < 0 || mdb_txn_begin(s->meter, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_FEEDBACK], &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !failed;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        failed = tg_feedback_add(&v, dim, since_ms, until_ms, &rows, &nrows, &cap) == -1;
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    for (size_t i = 0; i < nrows && !failed; i++)
        fn(arg, &rows[i]);
    free(rows);
    return failed ? -1 : 0;
}
