/*
 * RFC 4180 CSV reading for offline tools (see tg_csv.h). Quoted fields are unescaped by
 * copying each byte at most once towards the start of the field, which is always safe in
 * place because unescaping only ever shortens the text.
 */
#include "shared/tg_csv.h"

void tg_csv_init(tg_csv_t *c, char *data, size_t len)
{
    c->p = data;
    c->end = data + len;
    c->line = 1;
    c->record_line = 1;
    c->in_record = 0;
    c->error = NULL;
    if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
        (unsigned char)data[2] == 0xBF) {
        c->p += 3;
    }
}

/* After a field: a comma continues the record, a line break or the end of data ends it. */
static tg_csv_rc_t csv_after_field(tg_csv_t *c)
{
    if (c->p == c->end) {
        c->in_record = 0;
        return TG_CSV_LAST;
    }
    if (*c->p == ',') {
        c->p++;
        c->in_record = 1;
        return TG_CSV_FIELD;
    }
    if (*c->p == '\r' || *c->p == '\n') {
        if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n') {
            c->p++;
        }
        c->p++;
        c->line++;
        c->in_record = 0;
        return TG_CSV_LAST;
    }
    c->error = "unexpected character after a closing quote";
    return TG_CSV_ERROR;
}

static tg_csv_rc_t csv_quoted(tg_csv_t *c, char **field, size_t *len)
{
    char *w = c->p + 1, *r = c->p + 1;

    *field = w;
    for (;;) {
        if (r == c->end) {
            c->error = "quoted field never closes";
            return TG_CSV_ERROR;
        }
        if (*r == '"') {
            if (r + 1 < c->end && r[1] == '"') {
                *w++ = '"';
                r += 2;
                continue;
            }
            break;
        }
        /* A CR without LF also ends a line outside quotes; count lines the same way here. */
        if (*r == '\n' || (*r == '\r' && (r + 1 == c->end || r[1] != '\n'))) {
            c->line++;
        }
        *w++ = *r++;
    }
    *len = (size_t)(w - *field);
    c->p = r + 1;
    return csv_after_field(c);
}

static tg_csv_rc_t csv_plain(tg_csv_t *c, char **field, size_t *len)
{
    char *r = c->p;

    while (r < c->end && *r != ',' && *r != '\r' && *r != '\n') {
        r++;
    }
    *field = c->p;
    *len = (size_t)(r - c->p);
    c->p = r;
    return csv_after_field(c);
}

tg_csv_rc_t tg_csv_next(tg_csv_t *c, char **field, size_t *len)
{
    tg_csv_rc_t rc;

    if (c->error != NULL) {
        return TG_CSV_ERROR;
    }
    if (!c->in_record) {
        if (c->p == c->end) {
            return TG_CSV_EOF;
        }
        c->record_line = c->line;
    }
    rc = *c->p == '"' ? csv_quoted(c, field, len) : csv_plain(c, field, len);
    if (rc == TG_CSV_ERROR) {
        c->p = c->end;
    }
    return rc;
}

tg_csv_rc_t tg_csv_skip_record(tg_csv_t *c)
{
    char *field;
    size_t len;
    tg_csv_rc_t rc = TG_CSV_LAST;

    while (c->in_record) {
        rc = tg_csv_next(c, &field, &len);
        if (rc == TG_CSV_ERROR) {
            return rc;
        }
    }
    return rc == TG_CSV_EOF ? TG_CSV_LAST : rc;
}
