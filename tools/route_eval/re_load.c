/*
 * Loading labelled prompts for tollgate-route-eval: each file is read whole, walked with the
 * shared CSV reader, and every record after the header becomes a row (prompt, weak correct,
 * strong correct; further columns are ignored, as RouteLLM's GSM8K responses must be).
 */
#include "tools/route_eval/route_eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/tg_csv.h"

static int re_read_file(re_file_t *f)
{
    FILE *fp = fopen(f->path, "rb");
    size_t cap = 1 << 16, n;
    char *data = NULL, *nd;

    if (fp == NULL) {
        fprintf(stderr, "tollgate-route-eval: %s: %s\n", f->path, strerror(errno));
        return -1;
    }
    f->len = 0;
    for (;;) {
        if ((nd = realloc(data, cap)) == NULL) {
            fprintf(stderr, "tollgate-route-eval: %s: out of memory\n", f->path);
            goto fail;
        }
        data = nd;
        n = fread(data + f->len, 1, cap - f->len, fp);
        f->len += n;
        if (f->len < cap) {
            break;
        }
        cap *= 2;
    }
    if (ferror(fp)) {
        fprintf(stderr, "tollgate-route-eval: %s: read error\n", f->path);
        goto fail;
    }
    fclose(fp);
    f->data = data;
    return 0;

fail:
    free(data);
    fclose(fp);
    return -1;
}

/* True/False as pandas writes them; 1/0 and any case are accepted too. */
static int re_bool(const char *s, size_t len, unsigned char *out)
{
    if ((len == 4 && strncasecmp(s, "true", 4) == 0) || (len == 1 && s[0] == '1')) {
        *out = 1;
        return 0;
    }
    if ((len == 5 && strncasecmp(s, "false", 5) == 0) || (len == 1 && s[0] == '0')) {
        *out = 0;
        return 0;
    }
    return -1;
}

static re_row_t *re_new_row(re_t *re)
{
    if (re->nrows == re->cap) {
        size_t cap = re->cap ? re->cap * 2 : 1024;
        re_row_t *nr = realloc(re->rows, cap * sizeof(*nr));

        if (nr == NULL) {
            return NULL;
        }
        re->rows = nr;
        re->cap = cap;
    }
    memset(&re->rows[re->nrows], 0, sizeof(re->rows[0]));
    return &re->rows[re->nrows++];
}

/* Fields 0..2 of one record into a row; the rest of the record is skipped. */
static int re_record(re_t *re, re_file_t *f, tg_csv_t *csv, char *text, size_t len, tg_csv_rc_t rc)
{
    unsigned char label[2];
    re_row_t *row;

    for (int col = 0; col < 2; col++) {
        char *field;
        size_t flen;

        if (rc != TG_CSV_FIELD) {
            fprintf(stderr, "tollgate-route-eval: %s:%zu: expected 3 columns, got %d\n", f->path,
                    csv->record_line, col + 1);
            return -1;
        }
        rc = tg_csv_next(csv, &field, &flen);
        if (rc == TG_CSV_ERROR) {
            return -2;
        }
        if (re_bool(field, flen, &label[col]) != 0) {
            fprintf(stderr,
                    "tollgate-route-eval: %s:%zu: column %d: expected True or False, "
                    "got \"%.*s\"\n",
                    f->path, csv->record_line, col + 2, (int)(flen > 20 ? 20 : flen), field);
            return -1;
        }
    }
    if (rc == TG_CSV_FIELD && tg_csv_skip_record(csv) == TG_CSV_ERROR) {
        return -2;
    }
    if ((row = re_new_row(re)) == NULL) {
        fprintf(stderr, "tollgate-route-eval: out of memory\n");
        return -1;
    }
    row->text = text;
    row->len = len;
    row->weak = label[0];
    row->strong = label[1];
    return 0;
}

static int re_load_file(re_t *re, re_file_t *f)
{
    tg_csv_t csv;
    int header = 1;

    if (re_read_file(f) != 0) {
        return -1;
    }
    f->first = re->nrows;
    tg_csv_init(&csv, f->data, f->len);
    for (;;) {
        char *field;
        size_t len;
        tg_csv_rc_t rc = tg_csv_next(&csv, &field, &len);
        int err;

        if (rc == TG_CSV_EOF) {
            break;
        }
        if (rc == TG_CSV_ERROR) {
            goto malformed;
        }
        if (header || (rc == TG_CSV_LAST && len == 0)) {
            /* The header, or a blank line (pandas skips those too). */
            header = 0;
            if (rc == TG_CSV_FIELD && tg_csv_skip_record(&csv) == TG_CSV_ERROR) {
                goto malformed;
            }
            continue;
        }
        err = re_record(re, f, &csv, field, len, rc);
        if (err == -2) {
            goto malformed;
        }
        if (err != 0) {
            return -1;
        }
    }
    f->count = re->nrows - f->first;
    if (f->count == 0) {
        fprintf(stderr, "tollgate-route-eval: %s: no rows after the header\n", f->path);
        return -1;
    }
    return 0;

malformed:
    fprintf(stderr, "tollgate-route-eval: %s:%zu: %s\n", f->path, csv.record_line, csv.error);
    return -1;
}

int re_load(re_t *re)
{
    for (size_t i = 0; i < re->nfiles; i++) {
        if (re_load_file(re, &re->files[i]) != 0) {
            return -1;
        }
    }
    /* The exact curve has up to one point per row, a binned one bins + 1; plus p = 0. */
    re->items = malloc(re->nrows * sizeof(*re->items));
    re->pts = malloc(((re->nrows > re->bins ? re->nrows : re->bins) + 1) * sizeof(*re->pts));
    if (re->items == NULL || re->pts == NULL) {
        fprintf(stderr, "tollgate-route-eval: out of memory\n");
        return -1;
    }
    return 0;
}
