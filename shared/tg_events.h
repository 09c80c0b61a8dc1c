/*
 * Reading the request events that settlement writes (shared/tg_meter.c, database "events" of the
 * meter environment): one msgpack map per request, keyed by time. Readers that look back over
 * the traffic (the cost calculator's replay) decode them here into a fixed struct, so none of
 * them depends on the map's layout or its field names.
 */
#ifndef TG_EVENTS_H
#define TG_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_money.h"
#include "shared/tg_store.h"

#define TG_EVENT_STR 136 /* names and labels are at most 128 bytes; longer ones are cut */

/** One request event. Fields missing from an older record read as "" or 0. */
typedef struct {
    int64_t ts_ms;
    char request_id[TG_EVENT_STR];
    char key[TG_EVENT_STR]; /* key id, "" without a key */
    char tenant[TG_EVENT_STR];
    char model[TG_EVENT_STR]; /* the model that answered */
    char provider[TG_EVENT_STR];
    char route[TG_EVENT_STR]; /* the route; the model's name for a request naming a model */
    char task[TG_EVENT_STR];
    char complexity[TG_EVENT_STR]; /* the label the request was routed with, "" when none */
    char experiment[TG_EVENT_STR];
    char variant[TG_EVENT_STR];
    char shadow_of[TG_EVENT_STR]; /* a shadow request: the id of the request it mirrored */
    int64_t status;
    int64_t attempts;
    int64_t stream;
    int64_t estimated;     /* the provider reported no usage: tokens are estimates */
    int64_t fallback;      /* served by another target than the first */
    int64_t extra_attempt; /* a hedge's or a rejected cascade answer's own line */
    tg_usage_t usage;      /* prompt, completion, cached, cache_write (reported: !estimated) */
    int64_t cost_pico;
    int64_t baseline_pico;
    int64_t latency_us;
    int64_t ttft_us;
} tg_event_t;

/** Decode one stored event. Returns 0, or -1 when data is not a msgpack map. */
int tg_events_decode(const void *data, size_t len, tg_event_t *ev);

/**
 * Call fn for every event stored in [since_ms, until_ms), oldest first, inside one read
 * transaction (fn must not use the store, and must be quick: the transaction pins the pages it
 * reads). fn returns 0 to go on, anything else to stop. Records that do not decode are skipped
 * and counted in *bad (may be NULL). Returns the number of events passed to fn, or -1 when the
 * store could not be read.
 */
long tg_events_scan(tg_store_t *s, int64_t since_ms, int64_t until_ms,
                    int (*fn)(void *arg, const tg_event_t *ev), void *arg, long *bad);

#endif
