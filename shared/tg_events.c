/*
 * Request events back out of the store (see tg_events.h). The decoder is table-driven: each
 * field name maps to a place in tg_event_t, so a field added to the writer is one line here, and
 * fields this reader does not know (a shadow's recorded output) are passed over.
 */
#include "shared/tg_events.h"

#include <msgpack.h>
#include <stddef.h>
#include <string.h>

#define TG_EV_STR(f)                                                                               \
    {                                                                                              \
#f, offsetof(tg_event_t, f), 1                                                             \
    }
#define TG_EV_INT(name, f)                                                                         \
    {                                                                                              \
        name, offsetof(tg_event_t, f), 0                                                           \
    }

static const struct {
    const char *name;
    size_t off;
    int is_str;
} tg_event_fields[] = {
    TG_EV_STR(request_id),
    TG_EV_STR(key),
    TG_EV_STR(tenant),
    TG_EV_STR(model),
    TG_EV_STR(provider),
    TG_EV_STR(route),
    TG_EV_STR(task),
    TG_EV_STR(complexity),
    TG_EV_STR(experiment),
    TG_EV_STR(variant),
    TG_EV_STR(shadow_of),
    TG_EV_INT("ts_ms", ts_ms),
    TG_EV_INT("status", status),
    TG_EV_INT("attempts", attempts),
    TG_EV_INT("stream", stream),
    TG_EV_INT("estimated", estimated),
    TG_EV_INT("fallback", fallback),
    TG_EV_INT("extra_attempt", extra_attempt),
    TG_EV_INT("prompt_tokens", usage.prompt),
    TG_EV_INT("completion_tokens", usage.completion),
    TG_EV_INT("cached_tokens", usage.cached),
    TG_EV_INT("cache_write_tokens", usage.cache_write),
    TG_EV_INT("cost_pico", cost_pico),
    TG_EV_INT("baseline_pico", baseline_pico),
    TG_EV_INT("latency_us", latency_us),
    TG_EV_INT("ttft_us", ttft_us),
};

static void tg_events_field(tg_event_t *ev, const msgpack_object *k, const msgpack_object *v)
{
    if (k->type != MSGPACK_OBJECT_STR)
        return;
    for (size_t i = 0; i < sizeof(tg_event_fields) / sizeof(tg_event_fields[0]); i++) {
        const char *name = tg_event_fields[i].name;
        char *at = (char *)ev + tg_event_fields[i].off;

        if (strlen(name) != k->via.str.size || memcmp(name, k->via.str.ptr, k->via.str.size) != 0)
            continue;
        if (tg_event_fields[i].is_str && v->type == MSGPACK_OBJECT_STR) {
            size_t n = v->via.str.size < TG_EVENT_STR - 1 ? v->via.str.size : TG_EVENT_STR - 1;
            memcpy(at, v->via.str.ptr, n);
            at[n] = '\0';
        } else if (!tg_event_fields[i].is_str) {
            int64_t x = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (int64_t)v->via.u64
                        : v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? v->via.i64
                                                                     : 0;
            memcpy(at, &x, sizeof(x));
        }
        return;
    }
}

int tg_events_decode(const void *data, size_t len, tg_event_t *ev)
{
    msgpack_unpacked up;
    int rc = -1;

    memset(ev, 0, sizeof(*ev));
    msgpack_unpacked_init(&up);
    if (msgpack_unpack_next(&up, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++)
            tg_events_field(ev, &up.data.via.map.ptr[i].key, &up.data.via.map.ptr[i].val);
        ev->usage.reported = !ev->estimated;
        rc = 0;
    }
    msgpack_unpacked_destroy(&up);
    return rc;
}

long tg_events_scan(tg_store_t *s, int64_t since_ms, int64_t until_ms,
                    int (*fn)(void *arg, const tg_event_t *ev), void *arg, long *bad)
{
    unsigned char start[8];
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    long seen = 0;
    int rc;

    if (bad != NULL)
        *bad = 0;
    if (since_ms < 0)
        since_ms = 0;
    if (until_ms <= since_ms)
        return 0;
    if (tg_store_begin(s, TG_DB_EVENTS, MDB_RDONLY, &txn) != 0)
        return -1;
    if (mdb_cursor_open(txn, s->dbi[TG_DB_EVENTS], &cur) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    /* keys begin with the settlement time in nanoseconds, big-endian: a range is a seek */
    tg_store_be64(start, (uint64_t)since_ms * 1000000);
    k.mv_size = sizeof(start);
    k.mv_data = start;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        tg_event_t ev;

        if (k.mv_size < 8 || tg_store_get_be64(k.mv_data) / 1000000 >= (uint64_t)until_ms)
            break;
        if (tg_events_decode(v.mv_data, v.mv_size, &ev) == -1) {
            if (bad != NULL)
                (*bad)++;
            continue;
        }
        seen++;
        if (fn(arg, &ev) != 0)
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return seen;
}
