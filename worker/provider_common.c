/*
 * Shared request-translation helpers for adapters (see provider_common.h).
 */
#include "worker/provider_common.h"
#include "shared/tg_json_scan.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The fewest significant digits (15..17) that print every real in v exactly. jansson prints
 * reals with one fixed precision; 17 turns a client's 0.7 into 0.69999999999999996, which is
 * the same double but not what anyone wrote.
 */
static int tg_real_digits(json_t *v, int depth)
{
    int need = 15, d;

    if (json_is_real(v)) {
        double x = json_real_value(v);
        char buf[40];

        for (d = 15; d < 17; d++) {
            snprintf(buf, sizeof(buf), "%.*g", d, x);
            if (strtod(buf, NULL) == x)
                return d;
        }
        return 17;
    }
    if (depth > TG_JSON_MAX_DEPTH)
        return 17;
    if (json_is_object(v)) {
        const char *k;
        json_t *e;

        json_object_foreach(v, k, e)
        {
            if ((d = tg_real_digits(e, depth + 1)) > need)
                need = d;
            if (need == 17)
                break;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;

        json_array_foreach(v, i, e)
        {
            if ((d = tg_real_digits(e, depth + 1)) > need)
                need = d;
            if (need == 17)
                break;
        }
    }
    return need;
}

/* json_dump_callback_t: append to a tg_buf_t. */
static int tg_dump_cb(const char *buffer, size_t size, void *data)
{
    return tg_buf_append(data, buffer, size);
}

/* Append v as compact JSON, reals as short as exactness allows. Returns 0 or -1. */
int tg_provider_dump(json_t *v, tg_buf_t *out)
{
    size_t flags =
        JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(tg_real_digits(v, 0));

    return json_dump_callback(v, tg_dump_cb, out, flags);
}


int64_t tg_provider_max_tokens(json_t *req)
{
    json_t *v = json_object_get(req, "max_completion_tokens");

    if (!json_is_integer(v) || json_integer_value(v) < 1)
        v = json_object_get(req, "max_tokens");
    return json_is_integer(v) && json_integer_value(v) >= 1 ? json_integer_value(v) : 0;
}

int tg_provider_stop(json_t *req, json_t **out, const char **why)
{
    json_t *v = json_object_get(req, "stop"), *seqs, *s;
    size_t k;

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        if (json_string_length(v) > 0)
            *out = json_pack("[O]", v);
        return 0;
    }
    if (!json_is_array(v) || (seqs = json_array()) == NULL) {
        *why = "stop must be a string or an array of strings";
        return -1;
    }
    json_array_foreach(v, k, s)
    {
        if (!json_is_string(s)) {
            json_decref(seqs);
            *why = "stop must be a string or an array of strings";
            return -1;
        }
        if (json_string_length(s) > 0)
            json_array_append(seqs, s);
    }
    if (json_array_size(seqs) > 0)
        *out = seqs;
    else
        json_decref(seqs);
    return 0;
}

int tg_provider_url(const char *base_url, tg_provider_url_t *out)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    CURLU *u = curl_url();
    int rc = -1, n;

    if (u == NULL || curl_url_set(u, CURLUPART_URL, base_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto done;
    n = snprintf(out->origin, sizeof(out->origin), "%s://%s:%s", scheme, host, port);
    if (n < 0 || (size_t)n >= sizeof(out->origin))
        goto done;
    if (strcmp(port, strcmp(scheme, "https") == 0 ? "443" : "80") != 0)
        n = snprintf(out->host, sizeof(out->host), "%s:%s", host, port);
    else
        n = snprintf(out->host, sizeof(out->host), "%s", host);
    if (n < 0 || (size_t)n >= sizeof(out->host))
        goto done;
    n = (int)strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    if ((size_t)n >= sizeof(out->path))
        goto done;
    memcpy(out->path, path, (size_t)n);
    out->path[n] = '\0';
    rc = 0;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

/* Append s[0..len) escaped for a JSON string, without quotes. Returns 0 or -1. */
int tg_provider_json_esc(tg_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        size_t elen = 6;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (tg_buf_append(b, s + run, i - run) == -1)
            return -1;
        run = i + 1;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            elen = 2;
            break;
        case '\n':
            esc[1] = 'n';
            elen = 2;
            break;
        case '\r':
            esc[1] = 'r';
            elen = 2;
            break;
        case '\t':
            esc[1] = 't';
            elen = 2;
            break;
        default:
            break;
        }
        if (tg_buf_append(b, esc, elen) == -1)
            return -1;
    }
    return tg_buf_append(b, s + run, len - run);
}

/* Append s[0..len) as a JSON string. Returns 0 or -1. */
int tg_provider_json_str(tg_buf_t *b, const char *s, size_t len)
{
    return tg_buf_append(b, "\"", 1) == -1 || tg_provider_json_esc(b, s, len) == -1 ||
                   tg_buf_append(b, "\"", 1) == -1
               ? -1
               : 0;
}

/* The base64 text of the little-endian float32s of a list of numbers (a new reference). */
static json_t *tg_embedding_base64(json_t *values)
{
    size_t n = json_array_size(values), i;
    unsigned char *raw = malloc(n * 4 + 1);
    char *text = malloc((n * 4 + 2) / 3 * 4 + 1);
    json_t *v, *res = NULL;

    if (raw == NULL || text == NULL)
        goto done;
    json_array_foreach(values, i, v)
    {
        float f = (float)json_number_value(v);
        uint32_t bits;

        if (!json_is_number(v))
            goto done;
        memcpy(&bits, &f, 4);
        raw[i * 4] = (unsigned char)bits;
        raw[i * 4 + 1] = (unsigned char)(bits >> 8);
        raw[i * 4 + 2] = (unsigned char)(bits >> 16);
        raw[i * 4 + 3] = (unsigned char)(bits >> 24);
    }
    EVP_EncodeBlock((unsigned char *)text, raw, (int)(n * 4));
    res = json_string(text);
done:
    free(raw);
    free(text);
    return res;
}

int tg_provider_embeddings_base64(tg_buf_t *list)
{
    json_t *root = json_loadb(list->data, list->len, 0, NULL), *item, *b64;
    tg_buf_t out = {0};
    size_t i;
    int rc = -1;

    if (!json_is_array(json_object_get(root, "data")))
        goto done;
    json_array_foreach(json_object_get(root, "data"), i, item)
    {
        if ((b64 = tg_embedding_base64(json_object_get(item, "embedding"))) == NULL ||
            json_object_set_new(item, "embedding", b64) != 0)
            goto done;
    }
    if (tg_provider_dump(root, &out) == -1)
        goto done;
    tg_buf_free(list);
    *list = out;
    memset(&out, 0, sizeof(out));
    rc = 0;
done:
    tg_buf_free(&out);
    json_decref(root);
    return rc;
}
