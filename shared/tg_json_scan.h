/*
 * A validating, non-allocating JSON scanner for the request hot path. It checks that a document
 * is exactly one well-formed JSON value (RFC 8259, UTF-8) and reports where the values of chosen
 * top-level object keys lie, so the gateway can read "model" and "stream" and splice a new
 * "model" into the body without building and re-serialising a whole DOM: every other byte the
 * client sent reaches the provider unchanged (numbers keep their exact spelling).
 */
#ifndef TG_JSON_SCAN_H
#define TG_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define TG_JSON_MAX_DEPTH 512

typedef enum {
    TG_JT_NONE = 0, /* key absent */
    TG_JT_OBJECT,
    TG_JT_ARRAY,
    TG_JT_STRING,
    TG_JT_NUMBER,
    TG_JT_TRUE,
    TG_JT_FALSE,
    TG_JT_NULL,
} tg_jtype_t;

/** Where one value lies in the document: [off, off + len). Strings include their quotes. */
typedef struct {
    tg_jtype_t type;
    size_t off;
    size_t len;
    int escaped; /* strings: contains a backslash escape */
} tg_jspan_t;

/** A top-level key to look for, and where to put its value's span. */
typedef struct {
    const char *key;
    tg_jspan_t *out;
} tg_jfield_t;

typedef struct {
    tg_jtype_t root;    /* type of the document's value */
    size_t root_close;  /* objects: offset of the closing '}' */
    const char *dup;    /* a listed key that occurs more than once at the top level, or NULL */
    size_t err_off;     /* on error: byte offset of the problem */
    const char *err;    /* on error: what is wrong */
} tg_jscan_t;

/**
 * Validate doc and, when it is an object, fill the spans of the listed top-level keys (absent
 * keys get TG_JT_NONE). Keys are compared after decoding their escapes, as the provider's JSON
 * parser will decode them ("mo\u0064el" is "model"). A listed key that occurs twice is reported
 * in res->dup (its last occurrence fills the span): parsers disagree on which duplicate wins,
 * so a caller that acts on a key should refuse duplicates rather than guess.
 * Returns 0, or -1 with res->err and res->err_off set.
 */
int tg_json_scan(const char *doc, size_t len, tg_jfield_t *fields, size_t nfields,
                 tg_jscan_t *res);

/** Line and column (1-based) of a byte offset, for error messages. */
void tg_json_position(const char *doc, size_t off, int *line, int *col);

/**
 * Parse a number span as a non-negative integer. Returns 0, or -1 if it is not an integer in
 * [0, INT64_MAX].
 */
int tg_json_span_int(const char *doc, const tg_jspan_t *s, int64_t *out);

#endif
