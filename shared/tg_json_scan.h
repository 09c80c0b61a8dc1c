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

/*
 * Reading inside a document that tg_json_scan() has accepted. These functions do not validate
 * again: they only find where values end (string quotes, bracket depth), so walking into a
 * container costs a fraction of a scan, and nothing allocates.
 *
 * Caveats: give them only a document the scanner accepted, and spans it or these functions
 * reported in that document. On other bytes what they report is meaningless, but they never
 * read outside the span they are given (or, for tg_json_root, outside [doc, doc + len)).
 */

/** A cursor over the elements of an array or the members of an object. */
typedef struct {
    const char *doc;
    size_t p;   /* where the next element starts (whitespace or a comma may come first) */
    size_t end; /* the offset of the container's closing bracket */
    int object;
} tg_jiter_t;

/** The document's value as a span (its type, and where it lies without surrounding space). */
void tg_json_root(const char *doc, size_t len, tg_jspan_t *out);

/** Start a cursor at container c. Any other type (or TG_JT_NONE) has no elements. */
void tg_json_iter(tg_jiter_t *it, const char *doc, const tg_jspan_t *c);

/**
 * Step to the next element: its value's span in *val and, in an object, its key's span (a
 * string) in *key; key may be NULL, and gets TG_JT_NONE in an array. Returns 1, or 0 after the
 * last element.
 */
int tg_json_next(tg_jiter_t *it, tg_jspan_t *key, tg_jspan_t *val);

/**
 * Fill the spans of the listed members of object obj in one pass, as tg_json_scan() does for
 * the top level: absent keys (all of them when obj is not an object) get TG_JT_NONE, keys are
 * compared after decoding their escapes, and a key that occurs more than once gives its last
 * value, which is also the one jansson keeps.
 */
void tg_json_members(const char *doc, const tg_jspan_t *obj, tg_jfield_t *fields, size_t nfields);

/**
 * tg_json_next() for an array of objects: step to the next element (its span in *val) and, when
 * it is an object, fill the listed members' spans as tg_json_members() does, in the same walk
 * (otherwise they get TG_JT_NONE). Returns 1, or 0 after the last element.
 */
int tg_json_next_members(tg_jiter_t *it, tg_jspan_t *val, tg_jfield_t *fields, size_t nfields);

/**
 * Decode string span s: escapes become the characters they stand for, \uXXXX becomes UTF-8 (a
 * surrogate pair one 4-byte character, an unpaired surrogate U+FFFD, \u0000 a NUL byte). The
 * first skip decoded bytes are dropped and at most size of the next ones written to buf (no NUL
 * is added); *len receives the whole decoded length, whatever skip and size are, so a first call
 * with size 0 measures. A span without escapes (s->escaped == 0) is its own text, s->len - 2
 * bytes at doc + s->off + 1: read it in place rather than copy it.
 * Returns 0, or -1 if s is not a string.
 */
int tg_json_str(const char *doc, const tg_jspan_t *s, size_t skip, char *buf, size_t size,
                size_t *len);

/** Whether span s is a string whose decoded text is lit. */
int tg_json_str_eq(const char *doc, const tg_jspan_t *s, const char *lit);

#endif
