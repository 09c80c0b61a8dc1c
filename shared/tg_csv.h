/*
 * A small RFC 4180 CSV reader for offline tools (tollgate-route-eval). It walks a mutable
 * in-memory buffer and unescapes quoted fields in place ("" becomes "), so reading a file of
 * any size needs no allocation beyond the buffer itself. Quoted fields may span lines.
 */
#ifndef TG_CSV_H
#define TG_CSV_H

#include <stddef.h>

typedef struct {
    char *p;            /* next unread byte */
    char *end;          /* one past the last byte */
    size_t line;        /* 1-based line of p */
    size_t record_line; /* line where the current record starts */
    int in_record;      /* 1 after a field that did not end its record */
    const char *error;  /* why the last call returned TG_CSV_ERROR */
} tg_csv_t;

typedef enum {
    TG_CSV_FIELD = 0, /* a field; more follow in this record */
    TG_CSV_LAST,      /* the record's last field */
    TG_CSV_EOF,       /* no more records */
    TG_CSV_ERROR      /* malformed input; see error and record_line */
} tg_csv_rc_t;

/** Start reading data[0..len). A UTF-8 byte order mark is skipped. The caller keeps data. */
void tg_csv_init(tg_csv_t *c, char *data, size_t len);

/**
 * Read the next field, unescaped in place: *field points into the buffer (not NUL-terminated)
 * for *len bytes. Records end at CRLF, LF or CR outside quotes; a line break right before the
 * end of the data ends the last record rather than starting an empty one. A quote inside an
 * unquoted field is kept as data (lenient, as most writers' readers are); in a quoted field,
 * anything but a comma or line break after the closing quote is an error, and so is a quote
 * that never closes. Once TG_CSV_ERROR or TG_CSV_EOF is returned, it is returned again.
 */
tg_csv_rc_t tg_csv_next(tg_csv_t *c, char **field, size_t *len);

/**
 * Skip the rest of the current record (after TG_CSV_FIELD) so the next call starts a record.
 * Returns TG_CSV_LAST, or TG_CSV_ERROR for a malformed field on the way.
 */
tg_csv_rc_t tg_csv_skip_record(tg_csv_t *c);

#endif
