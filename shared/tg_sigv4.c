/*
 * AWS Signature Version 4 (see tg_sigv4.h). Every piece follows AWS's "Create a signed AWS API
 * request" steps; the unit tests pin them to AWS's published test-suite vectors, because a
 * signature that is nearly right is refused by AWS with no hint of which byte differs.
 */
#include "shared/tg_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TG_LIT(b, s) tg_buf_append(b, s, sizeof(s) - 1)
#define TG_STR(b, s) tg_buf_append(b, s, strlen(s))

static const char tg_hex[] = "0123456789abcdef";

static void tg_hexify(const unsigned char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = tg_hex[in[i] >> 4];
        out[2 * i + 1] = tg_hex[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void tg_sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        out[0] = '\0'; /* never matches a real hash: the request is refused, not mis-signed */
        return;
    }
    tg_hexify(md, 32, out);
}

void tg_sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int tg_hmac(const unsigned char *key, size_t keylen, const char *data, size_t len,
                   unsigned char out[32])
{
    unsigned int olen = 0;

    return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, len, out, &olen) !=
                       NULL &&
                   olen == 32
               ? 0
               : -1;
}

int tg_sigv4_derive(tg_sigv4_key_t *k, const char *secret, const char *date, const char *region,
                    const char *service)
{
    unsigned char a[32], b[32];
    char first[256];
    int n, rc = -1;

    if (strlen(date) != 8)
        return -1;
    if (strcmp(k->date, date) == 0)
        return 0;
    n = snprintf(first, sizeof(first), "AWS4%s", secret);
    if (n > 0 && (size_t)n < sizeof(first) &&
        tg_hmac((const unsigned char *)first, (size_t)n, date, 8, a) == 0 &&
        tg_hmac(a, 32, region, strlen(region), b) == 0 &&
        tg_hmac(b, 32, service, strlen(service), a) == 0 &&
        tg_hmac(a, 32, "aws4_request", 12, k->key) == 0) {
        memcpy(k->date, date, 9);
        rc = 0;
    } else {
        k->date[0] = '\0';
    }
    explicit_bzero(first, sizeof(first));
    explicit_bzero(a, sizeof(a));
    explicit_bzero(b, sizeof(b));
    return rc;
}

/* ---- canonical request ---------------------------------------------------------------------- */

static int tg_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* Append s[0..len) percent-encoded: every byte but the unreserved ones (and '/' if keep_slash). */
static int tg_uri_encode(tg_buf_t *b, const char *s, size_t len, int keep_slash)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};

        if (tg_unreserved(c) || (keep_slash && c == '/'))
            continue;
        if (tg_buf_append(b, s + run, i - run) == -1 || tg_buf_append(b, esc, 3) == -1)
            return -1;
        run = i + 1;
    }
    return tg_buf_append(b, s + run, len - run);
}

static int tg_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Append s[0..len) with %XX escapes decoded ('+' stays itself). */
static int tg_uri_decode(tg_buf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int hi, lo;

        if (c == '%' && i + 2 < len && (hi = tg_hexval(s[i + 1])) >= 0 &&
            (lo = tg_hexval(s[i + 2])) >= 0) {
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (tg_buf_append(b, &c, 1) == -1)
            return -1;
    }
    return 0;
}

/* Append s[0..len) decoded and then encoded again (tmp is scratch). */
static int tg_uri_reencode(tg_buf_t *b, tg_buf_t *tmp, const char *s, size_t len)
{
    tg_buf_reset(tmp);
    if (tg_uri_decode(tmp, s, len) == -1)
        return -1;
    return tg_uri_encode(b, tmp->data != NULL ? tmp->data : "", tmp->len, 0);
}

typedef struct {
    size_t off, len; /* of "key=value" (both encoded) in the scratch buffer */
    size_t klen;     /* of the key */
} tg_qparam_t;

static int tg_qparam_cmp(const tg_buf_t *sb, const tg_qparam_t *a, const tg_qparam_t *b)
{
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(sb->data + a->off, sb->data + b->off, n);

    if (c != 0 || a->klen != b->klen)
        return c != 0 ? c : (a->klen < b->klen ? -1 : 1);
    /* equal keys: by value */
    n = a->len - a->klen < b->len - b->klen ? a->len - a->klen : b->len - b->klen;
    c = memcmp(sb->data + a->off + a->klen, sb->data + b->off + b->klen, n);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

/* Each parameter's key and value decoded, encoded again, sorted by key then value. */
static int tg_canonical_query(tg_buf_t *out, const char *q)
{
    tg_qparam_t params[64];
    tg_buf_t sb = {0}, tmp = {0};
    size_t n = 0;
    int rc = -1;

    while (q != NULL && *q != '\0') {
        size_t len = strcspn(q, "&"), klen = strcspn(q, "=");
        const char *v = klen < len ? q + klen + 1 : q + len;

        if (klen > len)
            klen = len;
        if (len > 0) {
            if (n == sizeof(params) / sizeof(params[0]))
                goto done;
            params[n].off = sb.len;
            if (tg_uri_reencode(&sb, &tmp, q, klen) == -1)
                goto done;
            params[n].klen = sb.len - params[n].off;
            if (TG_LIT(&sb, "=") || tg_uri_reencode(&sb, &tmp, v, (size_t)(q + len - v)) == -1)
                goto done;
            params[n].len = sb.len - params[n].off;
            n++;
        }
        q += len + (q[len] == '&');
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of parameters */
        for (size_t j = i; j > 0 && tg_qparam_cmp(&sb, &params[j - 1], &params[j]) > 0; j--) {
            tg_qparam_t t = params[j];
            params[j] = params[j - 1];
            params[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        if ((i > 0 && TG_LIT(out, "&")) ||
            tg_buf_append(out, sb.data + params[i].off, params[i].len) == -1)
            goto done;
    rc = 0;
done:
    tg_buf_free(&sb);
    tg_buf_free(&tmp);
    return rc;
}

/* Append a header value trimmed, with runs of spaces inside collapsed to one. */
static int tg_header_value(tg_buf_t *b, const char *v)
{
    int space = 0, any = 0;

    for (; *v != '\0'; v++) {
        if (*v == '\r' || *v == '\n')
            return -1;
        if (*v == ' ' || *v == '\t') {
            space = any;
            continue;
        }
        if ((space && TG_LIT(b, " ")) || tg_buf_append(b, v, 1) == -1)
            return -1;
        space = 0;
        any = 1;
    }
    return 0;
}

/* Append a header name in lower case. */
static int tg_header_name(tg_buf_t *b, const char *name)
{
    for (; *name != '\0'; name++) {
        char c = *name >= 'A' && *name <= 'Z' ? (char)(*name + 32) : *name;
        if (tg_buf_append(b, &c, 1) == -1)
            return -1;
    }
    return 0;
}

/* The canonical header lines (sorted by name, values of a repeated name joined by ',') */
static int tg_canonical_headers(const tg_sigv4_request_t *r, tg_buf_t *creq, tg_buf_t *sh)
{
    size_t order[TG_SIGV4_MAX_HEADERS];

    if (r->nheaders > TG_SIGV4_MAX_HEADERS)
        return -1;
    for (size_t i = 0; i < r->nheaders; i++) {
        size_t j = i;
        /* insertion sort, stable: repeated names keep their order */
        while (j > 0 && strcasecmp(r->headers[order[j - 1]].name, r->headers[i].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        const tg_sigv4_header_t *h = &r->headers[order[i]];
        int again = i > 0 && strcasecmp(r->headers[order[i - 1]].name, h->name) == 0;

        if (again) {
            if (TG_LIT(creq, ",") || tg_header_value(creq, h->value) == -1)
                return -1;
            continue;
        }
        if ((i > 0 && (TG_LIT(creq, "\n") || TG_LIT(sh, ";"))) || tg_header_name(creq, h->name) ||
            TG_LIT(creq, ":") || tg_header_value(creq, h->value) || tg_header_name(sh, h->name))
            return -1;
    }
    return r->nheaders > 0 ? TG_LIT(creq, "\n") : 0;
}

int tg_sigv4_canonical(const tg_sigv4_request_t *r, tg_buf_t *creq, tg_buf_t *sh)
{
    const char *path = r->path != NULL && r->path[0] != '\0' ? r->path : "/";

    if (r->method == NULL || r->payload_hash == NULL)
        return -1;
    tg_buf_reset(creq);
    tg_buf_reset(sh);
    if (TG_STR(creq, r->method) || TG_LIT(creq, "\n") ||
        tg_uri_encode(creq, path, strlen(path), 1) || TG_LIT(creq, "\n") ||
        tg_canonical_query(creq, r->query) || TG_LIT(creq, "\n") ||
        tg_canonical_headers(r, creq, sh) || TG_LIT(creq, "\n") ||
        tg_buf_append(creq, sh->data ? sh->data : "", sh->len) || TG_LIT(creq, "\n") ||
        TG_STR(creq, r->payload_hash))
        return -1;
    return 0;
}

/* ---- signing -------------------------------------------------------------------------------- */

int tg_sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
                            const char *creq, size_t len, tg_buf_t *out)
{
    char hash[65];

    if (strlen(amz_date) != 16)
        return -1;
    tg_sigv4_sha256_hex(creq, len, hash);
    tg_buf_reset(out);
    return TG_LIT(out, "AWS4-HMAC-SHA256\n") || tg_buf_append(out, amz_date, 16) ||
                   TG_LIT(out, "\n") || tg_buf_append(out, amz_date, 8) || TG_LIT(out, "/") ||
                   TG_STR(out, region) || TG_LIT(out, "/") || TG_STR(out, service) ||
                   TG_LIT(out, "/aws4_request\n") || TG_STR(out, hash)
               ? -1
               : 0;
}

int tg_sigv4_signature(const tg_sigv4_key_t *k, const char *sts, size_t len, char out[65])
{
    unsigned char mac[32];

    if (k->date[0] == '\0' || tg_hmac(k->key, 32, sts, len, mac) == -1)
        return -1;
    tg_hexify(mac, 32, out);
    return 0;
}

int tg_sigv4_authorization(const tg_sigv4_key_t *k, const char *access_key_id, const char *region,
                           const char *service, const char *amz_date, const tg_sigv4_request_t *r,
                           tg_buf_t *out)
{
    tg_buf_t creq = {0}, sh = {0}, sts = {0};
    char sig[65];
    int rc = -1;

    if (strlen(amz_date) != 16 || strncmp(k->date, amz_date, 8) != 0)
        return -1;
    if (tg_sigv4_canonical(r, &creq, &sh) == -1 ||
        tg_sigv4_string_to_sign(amz_date, region, service, creq.data, creq.len, &sts) == -1 ||
        tg_sigv4_signature(k, sts.data, sts.len, sig) == -1)
        goto done;
    if (TG_LIT(out, "AWS4-HMAC-SHA256 Credential=") || TG_STR(out, access_key_id) ||
        TG_LIT(out, "/") || tg_buf_append(out, amz_date, 8) || TG_LIT(out, "/") ||
        TG_STR(out, region) || TG_LIT(out, "/") || TG_STR(out, service) ||
        TG_LIT(out, "/aws4_request, SignedHeaders=") || tg_buf_append(out, sh.data, sh.len) ||
        TG_LIT(out, ", Signature=") || tg_buf_append(out, sig, 64))
        goto done;
    rc = 0;
done:
    tg_buf_free(&creq);
    tg_buf_free(&sh);
    tg_buf_free(&sts);
    return rc;
}
