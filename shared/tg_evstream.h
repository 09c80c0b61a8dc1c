/*
 * AWS event-stream framing (content type application/vnd.amazon.eventstream), the binary format
 * Bedrock's ConverseStream answers in. A message is a 12-byte prelude (total length, headers
 * length, CRC32 of those 8 bytes), typed headers, a payload and a CRC32 of everything before it.
 * An incremental decoder turns bytes in arbitrary pieces into whole, checked messages; an encoder
 * writes them (for tollgate-sim and tests). CRC32 is IEEE's, as zlib computes it.
 */
#ifndef TG_EVSTREAM_H
#define TG_EVSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tg_buf.h"

/** AWS's limits: a message of at most 16 MiB, with at most 128 KiB of headers. */
#define TG_EVSTREAM_MAX_MESSAGE (16 * 1024 * 1024)
#define TG_EVSTREAM_MAX_HEADERS (128 * 1024)

/** Header value types (the type byte on the wire). */
enum {
    TG_EVH_TRUE = 0,
    TG_EVH_FALSE = 1,
    TG_EVH_BYTE = 2,
    TG_EVH_SHORT = 3,
    TG_EVH_INT = 4,
    TG_EVH_LONG = 5,
    TG_EVH_BYTES = 6,
    TG_EVH_STRING = 7,
    TG_EVH_TIMESTAMP = 8, /* milliseconds since the epoch */
    TG_EVH_UUID = 9,      /* 16 bytes */
};

/**
 * One header. Decoded: name/value point into the message (not NUL-terminated). Numbers (byte,
 * short, int, long, timestamp) are in num; booleans in num as 1/0; bytes, strings and UUIDs in
 * value/value_len. To encode, fill the same fields.
 */
typedef struct {
    const char *name;
    size_t name_len;
    int type;
    int64_t num;
    const void *value;
    size_t value_len;
} tg_evheader_t;

/** A whole message, valid only during the callback. Absent string headers are "". */
typedef struct {
    char event_type[64];          /* ":event-type" */
    char message_type[32];        /* ":message-type": "event", "exception" or "error" */
    char exception_type[64];      /* ":exception-type" */
    char error_code[64];          /* ":error-code" (message type "error") */
    const unsigned char *headers; /* the raw header block, for tg_evstream_header_next */
    size_t headers_len;
    const char *payload; /* not NUL-terminated */
    size_t payload_len;
} tg_evmsg_t;

/** Called once per whole, checked message. Return 0 to go on, -1 to stop. */
typedef int (*tg_evstream_cb)(void *arg, const tg_evmsg_t *m);

/** The decoder. */
typedef struct {
    unsigned char *buf; /* bytes of the message being assembled (and any after it) */
    size_t len, cap;
    size_t max; /* largest message accepted */
    int failed; /* the stream was corrupt: every later feed fails */
} tg_evstream_t;

/** Initialise a decoder that accepts messages up to max bytes (0: TG_EVSTREAM_MAX_MESSAGE). */
void tg_evstream_init(tg_evstream_t *d, size_t max);

/** Free the decoder's buffer. */
void tg_evstream_free(tg_evstream_t *d);

/**
 * Feed bytes; calls cb for every message they complete. Returns 0; -1 when cb stopped or memory
 * ran out; -2 when the stream is corrupt (a CRC mismatch, impossible lengths, a message over the
 * limit, malformed headers): the decoder then refuses everything after.
 */
int tg_evstream_feed(tg_evstream_t *d, const void *bytes, size_t len, tg_evstream_cb cb, void *arg);

/** Bytes held that do not yet form a whole message. */
size_t tg_evstream_pending(const tg_evstream_t *d);

/**
 * The header at *off of a header block (p, len) into h, advancing *off. Returns 1 when a header
 * was read, 0 at the end of the block, -1 when the block is malformed (an unknown type, a value
 * running past the end).
 */
int tg_evstream_header_next(const unsigned char *p, size_t len, size_t *off, tg_evheader_t *h);

/**
 * Append one message with headers h[0..nh) and the payload to out. Returns 0, or -1 (a name over
 * 255 bytes, a value over 32767 bytes, a UUID not 16 bytes, an unknown type, out of memory).
 */
int tg_evstream_encode(tg_buf_t *out, const tg_evheader_t *h, size_t nh, const void *payload,
                       size_t payload_len);

/** Continue an IEEE CRC32 (zlib's crc32: start with 0). */
uint32_t tg_crc32(uint32_t crc, const void *data, size_t len);

#endif
