/*
 * Gemini embeddings (embedContent, batchEmbedContents) and the Gemini model list for
 * tollgate-sim. A vector depends only on a hash of the content's text, computed exactly as
 * for OpenAI's /v1/embeddings, so one text embeds equally in both formats and every model.
 */
#include "tools/sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#define SIM_G_EMBED_DEFAULT_DIMS 8
#define SIM_G_EMBED_MAX_DIMS 4096
#define SIM_G_EMBED_MAX_BATCH 2048

/* One EmbedContentRequest (`req` holds content and outputDimensionality) as
 * {"values":[...]}. Returns NULL with a message in `err` (or an empty `err` when out of
 * memory). */
static json_t *sim_gemini_embedding(const json_t *req, const char *where, char *err, size_t errlen)
{
    const json_t *content = json_object_get(req, "content");
    const json_t *parts = json_object_get(content, "parts");
    const json_t *dims_j = sim_gemini_get(req, "outputDimensionality", "output_dimensionality");
    size_t dims = SIM_G_EMBED_DEFAULT_DIMS;
    uint64_t h = SIM_HASH_INIT;
    float *vec;
    json_t *values;
    size_t i;
    const json_t *part;

    err[0] = '\0';
    if (!json_is_array(parts) || json_array_size(parts) == 0) {
        sim_fmt(err, errlen, "* %s.content.parts: contents.parts must not be empty.", where);
        return NULL;
    }
    json_array_foreach(parts, i, part)
    {
        const json_t *t = json_object_get(part, "text");

        if (!json_is_string(t)) {
            sim_fmt(err, errlen, "* %s.content.parts[%zu].text: only text parts can be embedded",
                    where, i);
            return NULL;
        }
        h = sim_hash(h, json_string_value(t), json_string_length(t));
    }
    if (dims_j != NULL && !json_is_null(dims_j)) {
        if (!json_is_integer(dims_j) || json_integer_value(dims_j) < 1 ||
            json_integer_value(dims_j) > SIM_G_EMBED_MAX_DIMS) {
            sim_fmt(err, errlen,
                    "* %s.output_dimensionality: must be an integer between 1 and 4096", where);
            return NULL;
        }
        dims = (size_t)json_integer_value(dims_j);
    }
    if ((vec = malloc(dims * sizeof(*vec))) == NULL || (values = json_array()) == NULL) {
        free(vec);
        return NULL;
    }
    sim_embed_vector(h, vec, dims);
    for (size_t d = 0; d < dims; d++) {
        if (json_array_append_new(values, json_real(vec[d])) != 0) {
            json_decref(values);
            free(vec);
            return NULL;
        }
    }
    free(vec);
    return json_pack("{s:o}", "values", values);
}

void sim_gemini_embed(sim_req_t *r)
{
    char err[256];
    json_t *emb = sim_gemini_embedding(r->body, "EmbedContentRequest", err, sizeof(err));

    if (emb == NULL) {
        if (err[0] != '\0') {
            sim_gemini_error(r, 400, err);
            return;
        }
        fprintf(stderr, "tollgate-sim: %s: out of memory building an embedding\n", r->rid);
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    sim_reply_json(r, 200, json_pack("{s:o}", "embedding", emb), NULL, NULL);
}

void sim_gemini_batch_embed(sim_req_t *r)
{
    const json_t *reqs = json_object_get(r->body, "requests");
    json_t *out = json_array();
    char err[256];
    char where[64];
    char want[320];
    size_t i;
    const json_t *req;

    if (out == NULL) {
        goto oom;
    }
    if (!json_is_array(reqs) || json_array_size(reqs) == 0 ||
        json_array_size(reqs) > SIM_G_EMBED_MAX_BATCH) {
        sim_gemini_error(r, 400,
                         "* BatchEmbedContentsRequest.requests: between 1 and 2048 "
                         "requests are required");
        goto done;
    }
    sim_fmt(want, sizeof(want), "models/%s", r->model != NULL ? r->model : "");
    json_array_foreach(reqs, i, req)
    {
        const char *m = json_string_value(json_object_get(req, "model"));
        json_t *emb;

        sim_fmt(where, sizeof(where), "BatchEmbedContentsRequest.requests[%zu]", i);
        if (m != NULL && strcmp(m, want) != 0) {
            sim_fmt(err, sizeof(err),
                    "* %s.model: the model of every request must match the model in the URL (%s)",
                    where, want);
            sim_gemini_error(r, 400, err);
            goto done;
        }
        if ((emb = sim_gemini_embedding(req, where, err, sizeof(err))) == NULL) {
            if (err[0] == '\0') {
                goto oom;
            }
            sim_gemini_error(r, 400, err);
            goto done;
        }
        if (json_array_append_new(out, emb) != 0) {
            goto oom;
        }
    }
    sim_reply_json(r, 200, json_pack("{s:O}", "embeddings", out), NULL, NULL);
    goto done;

oom:
    fprintf(stderr, "tollgate-sim: %s: out of memory building embeddings\n", r->rid);
    sim_reply_json(r, 500, NULL, NULL, NULL);
done:
    json_decref(out);
}

static json_t *sim_gemini_model_json(const char *id)
{
    char name[320];

    sim_fmt(name, sizeof(name), "models/%s", id);
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:[s,s,s,s]}", "name", name, "version", "001",
                     "displayName", id, "description", "tollgate-sim model", "inputTokenLimit",
                     1048576, "outputTokenLimit", 8192, "supportedGenerationMethods",
                     "generateContent", "countTokens", "embedContent", "batchEmbedContents");
}

void sim_gemini_models(sim_req_t *r, const char *id)
{
    const sim_t *sim = r->sim;
    json_t *list;

    if (id != NULL) {
        char msg[400];

        for (size_t i = 0; i < sim->n_models; i++) {
            if (strcmp(sim->models[i], id) == 0) {
                sim_reply_json(r, 200, sim_gemini_model_json(id), NULL, NULL);
                return;
            }
        }
        sim_fmt(msg, sizeof(msg),
                "models/%.200s is not found for API version v1beta, or is not supported for "
                "generateContent. Call ListModels to see the list of available models and their "
                "supported methods.",
                id);
        sim_gemini_error(r, 404, msg);
        return;
    }
    if ((list = json_array()) == NULL) {
        sim_reply_json(r, 500, NULL, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < sim->n_models; i++) {
        if (json_array_append_new(list, sim_gemini_model_json(sim->models[i])) != 0) {
            json_decref(list);
            sim_reply_json(r, 500, NULL, NULL, NULL);
            return;
        }
    }
    sim_reply_json(r, 200, json_pack("{s:o}", "models", list), NULL, NULL);
}
