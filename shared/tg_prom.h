/*
 * A writer for Prometheus' text exposition format 0.0.4: metric families with their # HELP and
 * # TYPE lines, samples with escaped label values, and histograms in the shape Prometheus
 * requires (cumulative _bucket series ending at le="+Inf", then _sum and _count). It checks
 * names and refuses a family written twice, so a scrape never holds duplicate families.
 */
#ifndef TG_PROM_H
#define TG_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_buf.h"

#define TG_PROM_MAX_FAMILIES 64

typedef struct {
    tg_buf_t out;                     /* the exposition text */
    char family[128];                 /* the family being written */
    char *seen[TG_PROM_MAX_FAMILIES]; /* families written so far */
    size_t nseen;
    int failed; /* a call failed: the text is incomplete */
} tg_prom_t;

/** A label: name and value (the value is escaped on output). */
typedef struct {
    const char *name;
    const char *value;
} tg_prom_label_t;

/** Start empty. */
void tg_prom_init(tg_prom_t *p);

/** Free the text and the bookkeeping. */
void tg_prom_free(tg_prom_t *p);

/**
 * Begin family name of type ("counter", "gauge", "histogram") with its help text (escaped).
 * Returns 0, or -1 (and marks p failed) when the name is invalid, the type unknown or the family
 * was already written.
 */
int tg_prom_family(tg_prom_t *p, const char *name, const char *type, const char *help);

/**
 * One sample of the current family: its name plus suffix ("" or "_bucket", "_sum", "_count"),
 * nlabels labels and value (a Prometheus number: "12", "0.25", "+Inf"). Returns 0 or -1 (invalid
 * label name, no family, out of memory).
 */
int tg_prom_sample(tg_prom_t *p, const char *suffix, const tg_prom_label_t *labels, size_t nlabels,
                   const char *value);

/** tg_prom_sample with an integer value. */
int tg_prom_sample_i(tg_prom_t *p, const tg_prom_label_t *labels, size_t nlabels, int64_t v);

/**
 * One histogram series of the current family: n per-bucket counts (not cumulative) with their
 * upper bounds le[] as Prometheus numbers, the last of which must be "+Inf"; sum is the _sum
 * value. Writes the cumulative buckets with an extra "le" label, then _sum and _count (the total
 * of the counts). nlabels must be below 8. Returns 0 or -1.
 */
int tg_prom_histogram(tg_prom_t *p, const tg_prom_label_t *labels, size_t nlabels,
                      const int64_t *counts, const char *const *le, size_t n, const char *sum);

/** An integer amount in units of 10^-digits as exact decimal text ("0.0000025"); digits <= 18. */
void tg_prom_fixed(int64_t v, int digits, char *buf, size_t size);

#endif
