/*
 * Shared request-translation helpers for adapters (see provider_common.h). Each exists because
 * two or more adapters need exactly the same rule; wire-format specifics stay in the adapters.
 */
#include "worker/provider_common.h"
#include "shared/tg_json_scan.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(tg_real_digits(v, 0));

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

    if (s == NULL) /* an absent string member (json_string_value gave NULL): empty */
        return 0;
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

int tg_provider_set_body(json_t *req, const char *why, tg_xfer_t *x, tg_buf_t *body)
{
    tg_buf_t nb = {0};

    if (req == NULL || tg_provider_dump(req, &nb) == -1) {
        json_decref(req);
        tg_buf_free(&nb);
        if (why != NULL && strcmp(why, "out of memory") != 0) {
            /* the client asked for something the provider cannot do: say what */
            snprintf(x->errbuf, sizeof(x->errbuf), "%s", why);
            return -2;
        }
        return -1;
    }
    json_decref(req);
    tg_buf_free(body);
    *body = nb;
    return 0;
}

int tg_provider_translate(const tg_model_t *m, int stream, tg_xfer_t *x, tg_buf_t *body,
                          tg_provider_translate_fn fn)
{
    json_t *in = json_loadb(body->data, body->len, JSON_ALLOW_NUL, NULL), *req = NULL;
    const char *why = NULL;

    if (!json_is_object(in) || !json_is_array(json_object_get(in, "messages")))
        why = "the request is not an object with a messages array";
    else if ((req = fn(m, stream, in, &why)) == NULL && why == NULL)
        why = "out of memory";
    json_decref(in);
    return tg_provider_set_body(req, why, x, body);
}

int tg_provider_str_is(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

int tg_provider_data_url(json_t *part, const char **mt, int *mtlen, const char **data,
                         const char **why)
{
    json_t *iu = json_object_get(part, "image_url");
    const char *url = json_string_value(json_is_object(iu) ? json_object_get(iu, "url") : iu);
    const char *comma, *semi;

    if (url == NULL) {
        *why = "an image_url part has no url";
        return -1;
    }
    if (strncmp(url, "data:", 5) != 0) {
        *why = "only base64 data: image URLs are supported (http(s) images are not fetched)";
        return -1;
    }
    /* data:<media type>[;params];base64,<data> */
    *mt = url + 5;
    comma = strchr(*mt, ',');
    if (comma == NULL || comma - *mt < 7 || memcmp(comma - 7, ";base64", 7) != 0) {
        *why = "an image data: URL is not base64-encoded";
        return -1;
    }
    semi = memchr(*mt, ';', (size_t)(comma - *mt));
    *mtlen = (int)(semi - *mt);
    *data = comma + 1;
    return 0;
}

json_t *tg_provider_tool_input(json_t *function, const char **why)
{
    json_t *a = json_object_get(function, "arguments"), *input;
    const char *s = json_string_value(a);
    size_t k = 0;

    while (s != NULL && (s[k] == ' ' || s[k] == '\n' || s[k] == '\t' || s[k] == '\r'))
        k++;
    if (s == NULL || s[k] == '\0')
        return json_object(); /* a call without arguments */
    input = json_loadb(s, json_string_length(a), JSON_ALLOW_NUL, NULL);
    if (!json_is_object(input)) {
        json_decref(input);
        *why = "a tool call's arguments are not a JSON object";
        return NULL;
    }
    return input;
}

int tg_provider_text_parts(json_t *content, tg_provider_image_fn image, json_t *blocks,
                           const char **why)
{
    size_t i;
    json_t *part, *b;

    if (content == NULL || json_is_null(content))
        return 0;
    if (json_is_string(content))
        return json_string_length(content) == 0
                   ? 0
                   : json_array_append_new(blocks, json_pack("{s:O}", "text", content));
    if (!json_is_array(content)) {
        *why = "a message content is neither a string nor an array of parts";
        return -1;
    }
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");

        if (tg_provider_str_is(type, "text")) {
            if (!json_is_string(text)) {
                *why = "a text part has no text";
                return -1;
            }
            if (json_string_length(text) == 0)
                continue; /* providers refuse blank text blocks */
            b = json_pack("{s:O}", "text", text);
        } else if (tg_provider_str_is(type, "refusal")) {
            continue; /* an assistant's earlier refusal: no provider has such a block */
        } else if (image != NULL && tg_provider_str_is(type, "image_url")) {
            if ((b = image(part, why)) == NULL)
                return -1;
        } else {
            *why = "a message content part has an unsupported type";
            return -1;
        }
        if (json_array_append_new(blocks, b) == -1) {
            *why = "out of memory";
            return -1;
        }
    }
    return 0;
}

json_t *tg_provider_tools(json_t *tools, tg_provider_tool_fn fn, const char **why)
{
    json_t *out = json_array(), *t;
    size_t i;

    if (out == NULL || !json_is_array(tools))
        TG_FAIL("tools must be an array");
    json_array_foreach(tools, i, t)
    {
        json_t *f = json_object_get(t, "function"), *name = json_object_get(f, "name");
        json_t *desc = json_object_get(f, "description"),
               *params = json_object_get(f, "parameters");

        if (!tg_provider_str_is(json_object_get(t, "type"), "function") || !json_is_string(name))
            TG_FAIL("only tools of type function with a name are supported");
        if (json_array_append_new(out, fn(t, name, json_is_string(desc) ? desc : NULL,
                                          json_is_object(params) ? params : NULL)) == -1)
            TG_FAIL("out of memory");
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *tg_provider_schema(json_t *params)
{
    return params != NULL ? json_incref(params)
                          : json_pack("{s:s,s:{}}", "type", "object", "properties");
}

/* Append an assistant message's tool_calls to blocks, one call(...) each. 0 or -1. */
static int tg_provider_tool_calls(json_t *msg, int need_id, tg_provider_call_fn call,
                                  json_t *blocks, const char **why)
{
    json_t *calls = json_object_get(msg, "tool_calls"), *c;
    size_t i;

    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls)) {
        *why = "tool_calls must be an array";
        return -1;
    }
    json_array_foreach(calls, i, c)
    {
        json_t *fn = json_object_get(c, "function"), *id = json_object_get(c, "id");
        json_t *name = json_object_get(fn, "name"), *input;

        if (!json_is_string(name) || (need_id && !json_is_string(id))) {
            *why = "a tool call has no id or function name";
            return -1;
        }
        if ((input = tg_provider_tool_input(fn, why)) == NULL)
            return -1;
        if (json_array_append_new(blocks, call(id, name, input)) == -1) {
            *why = "out of memory";
            return -1;
        }
    }
    return 0;
}

int tg_provider_assistant(json_t *msg, json_t *turns, const char *role, const char *key,
                          tg_provider_parts_fn parts, int need_id, tg_provider_call_fn call,
                          const char **why)
{
    json_t *blocks = json_array(), *fc = json_object_get(msg, "function_call");
    json_t *content = json_object_get(msg, "content");

    if (blocks == NULL)
        TG_FAIL("out of memory");
    if (fc != NULL && !json_is_null(fc))
        TG_FAIL("the legacy function_call is not supported; use tool_calls");
    if ((parts != NULL ? parts(content, blocks, why)
                       : tg_provider_text_parts(content, NULL, blocks, why)) == -1 ||
        tg_provider_tool_calls(msg, need_id, call, blocks, why) == -1)
        goto fail;
    if (tg_provider_add(turns, role, key, blocks) == -1) {
        *why = "out of memory";
        return -1;
    }
    return 0;
fail:
    json_decref(blocks);
    return -1;
}

int tg_provider_completion(json_t *id, const char *model, const tg_buf_t *text, json_t *calls,
                           const char *finish, json_t *usage, tg_buf_t *out)
{
    json_t *msg, *res = NULL;
    int rc = -1;

    msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
                    text != NULL ? json_stringn(text->data ? text->data : "", text->len)
                                 : json_null(),
                    "refusal");
    if (msg != NULL && json_array_size(calls) > 0)
        json_object_set(msg, "tool_calls", calls);
    if (msg != NULL)
        res = json_pack("{s:O,s:s,s:I,s:s,s:[{s:i,s:O,s:n,s:s?}]}", "id", id, "object",
                        "chat.completion", "created", (json_int_t)time(NULL), "model",
                        model != NULL ? model : "", "choices", "index", 0, "message", msg,
                        "logprobs", "finish_reason", finish);
    if (res != NULL && (usage == NULL || json_object_set(res, "usage", usage) == 0))
        rc = tg_provider_dump(res, out);
    json_decref(res);
    json_decref(msg);
    json_decref(id);
    json_decref(usage);
    return rc;
}

json_t *tg_provider_turn(json_t *turns, const char *role, const char *key)
{
    size_t n = json_array_size(turns);
    json_t *last = n > 0 ? json_array_get(turns, n - 1) : NULL, *blocks;

    if (last != NULL && tg_provider_str_is(json_object_get(last, "role"), role))
        return json_object_get(last, key);
    if ((blocks = json_array()) == NULL ||
        json_array_append_new(turns, json_pack("{s:s,s:o}", "role", role, key, blocks)))
        return NULL;
    return blocks;
}

int tg_provider_add(json_t *turns, const char *role, const char *key, json_t *blocks)
{
    json_t *to = json_array_size(blocks) > 0 ? tg_provider_turn(turns, role, key) : NULL;
    int rc =
        json_array_size(blocks) == 0 || (to != NULL && json_array_extend(to, blocks) == 0) ? 0 : -1;

    json_decref(blocks);
    return rc;
}

int tg_provider_add_result(json_t *turns, json_t *result, const char *member, const char *value)
{
    json_t *turn = tg_provider_turn(turns, "user", "content"), *m;
    size_t at = 0;

    if (turn == NULL)
        return -1;
    while ((m = json_object_get(json_array_get(turn, at), member)) != NULL &&
           (value == NULL || tg_provider_str_is(m, value)))
        at++;
    return json_array_insert(turn, at, result);
}

json_t *tg_provider_format_instruction(json_t *rf, const char **why)
{
    static const char tail[] = "Do not wrap it in Markdown code fences and do not write anything "
                               "before or after it.";
    static const char head[] = "Respond only with a single valid JSON value that conforms "
                               "to this JSON Schema";
    json_t *type = json_object_get(rf, "type"), *js, *schema, *text;
    const char *name;
    tg_buf_t b = {0};

    if (rf == NULL || json_is_null(rf) || tg_provider_str_is(type, "text"))
        return NULL;
    if (tg_provider_str_is(type, "json_object"))
        return json_sprintf("Respond only with a single valid JSON object. %s", tail);
    if (!tg_provider_str_is(type, "json_schema")) {
        *why = "response_format has an unsupported type";
        return NULL;
    }
    js = json_object_get(rf, "json_schema");
    schema = json_object_get(js, "schema");
    name = json_string_value(json_object_get(js, "name"));
    if (!json_is_object(schema)) {
        *why = "response_format json_schema has no schema object";
        return NULL;
    }
    if (tg_buf_append(&b, head, sizeof(head) - 1) ||
        (name != NULL && (tg_buf_append(&b, " (", 2) || tg_buf_append(&b, name, strlen(name)) ||
                          tg_buf_append(&b, ")", 1))) ||
        tg_buf_append(&b, ":\n", 2) || tg_provider_dump(schema, &b) || tg_buf_append(&b, "\n", 1) ||
        tg_buf_append(&b, tail, sizeof(tail) - 1)) {
        tg_buf_free(&b);
        *why = "out of memory";
        return NULL;
    }
    text = json_stringn(b.data, b.len);
    tg_buf_free(&b);
    if (text == NULL)
        *why = "out of memory";
    return text;
}

json_t *tg_provider_usage_json(const tg_usage_t *u)
{
    json_t *j = json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)u->prompt,
                          "completion_tokens", (json_int_t)u->completion, "total_tokens",
                          (json_int_t)u->prompt + (json_int_t)u->completion,
                          "prompt_tokens_details", "cached_tokens", (json_int_t)u->cached);

    if (j != NULL && u->cache_write > 0 &&
        json_object_set_new(json_object_get(j, "prompt_tokens_details"), "cache_write_tokens",
                            json_integer(u->cache_write)) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}
