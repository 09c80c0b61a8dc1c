/*
 * OpenAI embeddings and the model list for tollgate-sim. An embedding is a unit vector
 * derived only from a hash of its input, so equal inputs embed equally across requests and
 * models. The openai SDKs ask for base64 by default, so both encodings are supported: the
 * base64 form is the little-endian float32 bytes of exactly the vector the float form prints.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_EMBED_DEFAULT_DIMS 8
#define SIM_EMBED_MAX_DIMS 4096
#define SIM_MODELS_CREATED 1700000000

/* Newton's method, so the target needs no libm (the build does not link it). */
static double sim_embed_sqrt(double x)
{
    double y = x > 1 ? x : 1;

    for (int i = 0; i < 64 && x > 0; i++) {
        y = 0.5 * (y + x / y);
    }
    return x > 0 ? y : 0;
}

/* Fills `vec` with a deterministic unit vector for the input hash `h`. Gemini embeddings use
 * it too, so one text embeds equally in both formats. */
void sim_embed_vector(uint64_t h, float *vec, size_t dims)
{
    uint64_t state = h;
    double norm = 0;

    for (size_t d = 0; d < dims; d++) {
        double u = (double)(sim_mix(&state) >> 11) * (1.0 / 9007199254740992.0);

        vec[d] = (float)(u * 2.0 - 1.0);
        norm += (double)vec[d] * vec[d];
    }
    norm = sim_embed_sqrt(norm);
    for (size_t d = 0; norm > 0 && d < dims; d++) {
        vec[d] = (float)(vec[d] / norm);
    }
}

static json_t *sim_embed_encode(const float *vec, size_t dims, bool base64)
{
    if (base64) {
        unsigned char *bytes = malloc(dims * 4);
        char *text;
        json_t *s;

        if (bytes == NULL) {
            return NULL;
        }
        for (size_t d = 0; d < dims; d++) {
            uint32_t bits;

            memcpy(&bits, &vec[d], sizeof(bits));
            bytes[4 * d] = (unsigned char)(bits & 0xff);
            bytes[4 * d + 1] = (unsigned char)((bits >> 8) & 0xff);
            bytes[4 * d + 2] = (unsigned char)((bits >> 16) & 0xff);
            bytes[4 * d + 3] = (unsigned char)(bits >> 24);
        }
        text = sim_base64(bytes, dims * 4);
        free(bytes);
        s = text != NULL ? json_string(text) : NULL;
        free(text);
        return s;
    }
    json_t *arr = json_array();
    for (size_t d = 0; arr != NULL && d < dims; d++) {
        if (json_array_append_new(arr, json_real(vec[d])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Hash and token count of one input: a string, or an array of token ids. */
static int sim_embed_input(const json_t *in, uint64_t *h, long *tokens)
{
    size_t i;
    const json_t *tok;

    if (json_is_string(in)) {
        *h = sim_hash(SIM_HASH_INIT, json_string_value(in), json_string_length(in));
        *tokens = sim_tokens(json_string_length(in));
        return 0;
    }
    if (!json_is_array(in) || json_array_size(in) == 0) {
        return -1;
    }
    *h = SIM_HASH_INIT;
    json_array_foreach(in, i, tok)
    {
        json_int_t v;

        if (!json_is_integer(tok)) {
            return -1;
        }
        v = json_integer_value(tok);
        *h = sim_hash(*h, &v, sizeof(v));
    }
    *tokens = (long)json_array_size(in);
    return 0;
}

void sim_openai_embeddings(sim_req_t *r)
{
    const json_t *input = json_object_get(r->body, "input");
    const json_t *dims_j = json_object_get(r->body, "dimensions");
    const json_t *fmt = json_object_get(r->body, "encoding_format");
    size_t dims = SIM_EMBED_DEFAULT_DIMS;
    bool base64 = false;
    bool single;
    size_t count;
    float *vec = NULL;
    json_t *data = NULL;
    long prompt = 0;

    if (r->model == NULL) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "you must provide a model parameter (a string)", "model", NULL);
        return;
    }
    if (dims_j != NULL && !json_is_null(dims_j)) {
        if (!json_is_integer(dims_j) || json_integer_value(dims_j) < 1 ||
            json_integer_value(dims_j) > SIM_EMBED_MAX_DIMS) {
            sim_reply_error(r, 400, "invalid_request_error",
                            "'dimensions' must be an integer between 1 and 4096", "dimensions",
                            NULL);
            return;
        }
        dims = (size_t)json_integer_value(dims_j);
    }
    if (fmt != NULL && !json_is_null(fmt)) {
        const char *f = json_string_value(fmt);

        if (f == NULL || (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0)) {
            sim_reply_error(r, 400, "invalid_request_error",
                            "'encoding_format' must be 'float' or 'base64'", "encoding_format",
                            NULL);
            return;
        }
        base64 = strcmp(f, "base64") == 0;
    }
    /* One input is a string or a flat array of token ids; otherwise an array of inputs. */
    single = json_is_string(input) ||
             (json_is_array(input) && json_is_integer(json_array_get(input, 0)));
    count = single ? 1 : json_array_size(input);
    if (input == NULL || (!single && (!json_is_array(input) || count == 0))) {
        sim_reply_error(r, 400, "invalid_request_error",
                        "'input' must be a string, an array of strings or an array of token "
                        "arrays, and not empty",
                        "input", NULL);
        return;
    }
    if ((vec = malloc(dims * sizeof(*vec))) == NULL || (data = json_array()) == NULL) {
        goto oom;
    }
    for (size_t i = 0; i < count; i++) {
        const json_t *in = single ? input : json_array_get(input, i);
        uint64_t h;
        long tokens;
        json_t *emb;

        if (sim_embed_input(in, &h, &tokens) != 0) {
            sim_reply_error(r, 400, "invalid_request_error",
                            "each input must be a string or a non-empty array of token ids",
                            "input", NULL);
            goto done;
        }
        prompt += tokens;
        sim_embed_vector(h, vec, dims);
        emb = sim_embed_encode(vec, dims, base64);
        if (emb == NULL ||
            json_array_append_new(data, json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                                  (json_int_t)i, "embedding", emb)) != 0) {
            goto oom;
        }
    }
    sim_reply_json(r, 200,
                   json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data, "model",
                             r->model, "usage", "prompt_tokens", (json_int_t)prompt, "total_tokens",
                             (json_int_t)prompt),
                   NULL, NULL);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory building embeddings\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    json_decref(data);
    free(vec);
}

static json_t *sim_model_json(const char *id)
{
    return json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "model", "created",
                     (json_int_t)SIM_MODELS_CREATED, "owned_by", "tollgate-sim");
}

void sim_openai_models(sim_req_t *r, const char *id)
{
    const sim_t *sim = r->sim;
    json_t *data;

    if (id != NULL) {
        char msg[320];

        for (size_t i = 0; i < sim->n_models; i++) {
            if (strcmp(sim->models[i], id) == 0) {
                sim_reply_json(r, 200, sim_model_json(id), NULL, NULL);
                return;
            }
        }
        sim_fmt(msg, sizeof(msg),
                "The model '%.200s' does not exist or you do not have access to it.", id);
        sim_reply_error(r, 404, "invalid_request_error", msg, "model", "model_not_found");
        return;
    }
    if ((data = json_array()) == NULL) {
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < sim->n_models; i++) {
        if (json_array_append_new(data, sim_model_json(sim->models[i])) != 0) {
            json_decref(data);
            sim_reply_json(r, 500, NULL, NULL, NULL);
            return;
        }
    }
    sim_reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data), NULL, NULL);
}
