/*
 * AWS Signature Version 4 for request headers (AWS4-HMAC-SHA256): the canonical request, the
 * string to sign, the derived signing key and the Authorization header value. The Bedrock
 * adapter signs with it; tollgate-sim verifies with it. Hashes and MACs are OpenSSL's.
 *
 * Caveats: paths are encoded for services other than S3 (every byte outside A-Z a-z 0-9 - _ . ~
 * and '/' is percent-encoded, so an already encoded "%3A" is signed as "%253A", as AWS expects),
 * and "." / ".." / "//" segments are not normalised: callers never send such paths.
 */
#ifndef TG_SIGV4_H
#define TG_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "shared/tg_buf.h"

/** The most headers one request may sign. */
#define TG_SIGV4_MAX_HEADERS 16

/** One header to sign: the name in any case, the value as sent (it is trimmed for signing). */
typedef struct {
    const char *name;
    const char *value;
} tg_sigv4_header_t;

/** What of a request is signed. */
typedef struct {
    const char *method;               /* "POST" */
    const char *path;                 /* as on the request line, without the query; "" is "/" */
    const char *query;                /* without the '?', or NULL */
    const tg_sigv4_header_t *headers; /* the signed headers, in any order; names may repeat */
    size_t nheaders;
    const char *payload_hash; /* lower-case hex SHA-256 of the body */
} tg_sigv4_request_t;

/**
 * A derived signing key: HMAC chain of the secret over date, region, service and
 * "aws4_request". Valid for one UTC day; holds no trace of the secret itself.
 */
typedef struct {
    char date[9]; /* YYYYMMDD it signs for; "" when not derived yet */
    unsigned char key[32];
} tg_sigv4_key_t;

/** Lower-case hex SHA-256 of len bytes into out (65 bytes with the NUL). */
void tg_sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/** t (UTC) as an x-amz-date value, 20150830T123600Z, into out (17 bytes with the NUL). */
void tg_sigv4_amz_date(time_t t, char out[17]);

/**
 * Derive the signing key for date (YYYYMMDD), region and service into k, unless k already holds
 * that date's key (region and service are fixed per caller). Returns 0, or -1 (bad date, or
 * OpenSSL failed).
 */
int tg_sigv4_derive(tg_sigv4_key_t *k, const char *secret, const char *date, const char *region,
                    const char *service);

/**
 * The canonical request of r into creq, and the signed header list ("content-type;host;...")
 * into signed_headers. Returns 0, or -1 when r has no method, more than TG_SIGV4_MAX_HEADERS
 * headers, a header value with a line break, or memory ran out.
 */
int tg_sigv4_canonical(const tg_sigv4_request_t *r, tg_buf_t *creq, tg_buf_t *signed_headers);

/** The string to sign for a canonical request (creq, len bytes). Returns 0 or -1. */
int tg_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
                            const char *creq, size_t len, tg_buf_t *out);

/** The hex signature of a string to sign with k. Returns 0 or -1. */
int tg_sigv4_signature(const tg_sigv4_key_t *k, const char *sts, size_t len, char out[65]);

/**
 * Sign r: the value of its Authorization header ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders
 * =..., Signature=...") into out. k must hold the key for amz_date's day (tg_sigv4_derive).
 * Returns 0, or -1 (bad input, wrong day's key, out of memory).
 */
int tg_sigv4_authorization(const tg_sigv4_key_t *k, const char *access_key_id, const char *region,
                           const char *service, const char *amz_date, const tg_sigv4_request_t *r,
                           tg_buf_t *out);

#endif
