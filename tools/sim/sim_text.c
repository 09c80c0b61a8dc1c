/*
 * Deterministic text for tollgate-sim: the hash that seeds every answer, the word list
 * completions are drawn from, the token-counting rule shared by all formats, the answer
 * builder every wire format uses (so one prompt gets the same words in each), and base64 for
 * embeddings. Nothing here depends on time or global state, so the same request always
 * produces the same bytes.
 */
#include "tools/sim/sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

static const char *const sim_words[] = {
    "the",     "quick",   "brown",   "fox",     "jumps",   "over",    "lazy",   "dog",
    "gateway", "token",   "stream",  "model",   "request", "answer",  "simple", "cloud",
    "river",   "stone",   "light",   "paper",   "green",   "orange",  "signal", "window",
    "garden",  "rocket",  "silver",  "forest",  "ocean",   "thunder", "pixel",  "velvet",
    "harbor",  "meadow",  "circuit", "lantern", "compass", "marble",  "falcon", "canyon",
    "ember",   "glacier", "horizon", "island",  "jasmine", "kernel",  "lemon",  "mosaic",
    "nectar",  "orbit",   "prism",   "quartz",  "raven",   "saffron", "tundra", "umbra",
    "vortex",  "willow",  "xenon",   "yonder",  "zephyr",  "anchor",  "beacon", "cobalt",
};

#define SIM_NWORDS (sizeof(sim_words) / sizeof(sim_words[0]))

uint64_t sim_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

long sim_tokens(size_t len)
{
    /* max(1, ceil(len/4)) for non-empty text is just ceil(len/4). */
    return (long)((len + 3) / 4);
}

const char *sim_word(uint64_t seed, size_t i)
{
    return sim_words[(seed % SIM_NWORDS + i) % SIM_NWORDS];
}

uint64_t sim_mix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int sim_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len == 0) {
        return -1;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        static const char failed[] = "(message formatting failed)";

        memcpy(buf, failed, len < sizeof(failed) ? len - 1 : sizeof(failed) - 1);
        buf[len < sizeof(failed) ? len - 1 : sizeof(failed) - 1] = '\0';
        return -1;
    }
    if ((size_t)n >= len) {
        if (len >= 4) {
            memcpy(buf + len - 4, "...", 4);
        }
        return -1;
    }
    return 0;
}

char *sim_base64(const unsigned char *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t outlen = 4 * ((len + 2) / 3);
    char *out = malloc(outlen + 1);
    size_t o = 0;

    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16;
        size_t left = len - i;

        if (left > 1) {
            v |= (uint32_t)data[i + 1] << 8;
        }
        if (left > 2) {
            v |= data[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = left > 1 ? tab[(v >> 6) & 63] : '=';
        out[o++] = left > 2 ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

uint64_t sim_text_seed(const char *model, const char *text, size_t len)
{
    uint64_t h = sim_hash(SIM_HASH_INIT, model, strlen(model));

    return sim_hash(sim_hash(h, "\n", 1), text, len);
}

void sim_text_piece(uint64_t seed, size_t i, size_t n, bool json_mode, char *buf, size_t len)
{
    int w = snprintf(buf, len, "%s%s%s%s", i == 0 && json_mode ? "{\"answer\":\"" : "",
                     sim_word(seed, i), i + 1 < n ? " " : "", i + 1 == n && json_mode ? "\"}" : "");

    if (w < 0 || (size_t)w >= len) {
        buf[0] = '\0';
    }
}

/* The earliest offset in `text` where one of `stops` begins, or `len` if none does. */
static size_t sim_words_cut(const char *text, size_t len, const json_t *stops, const char **which)
{
    size_t cut = len;
    size_t i;
    const json_t *s;

    *which = NULL;
    json_array_foreach(stops, i, s)
    {
        size_t slen = json_is_string(s) ? json_string_length(s) : 0;
        const char *hit;

        if (slen == 0) {
            continue;
        }
        hit = memmem(text, len, json_string_value(s), slen);
        if (hit != NULL && (size_t)(hit - text) < cut) {
            cut = (size_t)(hit - text);
            *which = json_string_value(s);
        }
    }
    return cut;
}

int sim_words_make(sim_words_t *w, uint64_t seed, size_t n, bool json_mode, const json_t *stops)
{
    struct evbuffer *b = evbuffer_new();
    char piece[64];
    size_t len, cut;

    memset(w, 0, sizeof(*w));
    if (b == NULL || (w->end = malloc((n > 0 ? n : 1) * sizeof(*w->end))) == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        sim_text_piece(seed, i, n, json_mode, piece, sizeof(piece));
        if (evbuffer_add(b, piece, strlen(piece)) != 0) {
            goto fail;
        }
        w->end[i] = evbuffer_get_length(b);
    }
    len = evbuffer_get_length(b);
    if ((w->text = malloc(len + 1)) == NULL) {
        goto fail;
    }
    evbuffer_remove(b, w->text, len);
    evbuffer_free(b);
    b = NULL;
    cut = sim_words_cut(w->text, len, json_is_array(stops) ? stops : NULL, &w->stop);
    w->text[cut] = '\0';
    /* Keep every piece that starts before the cut; the last one may be shortened. */
    w->n = 0;
    while (w->n < n && (w->n == 0 ? 0 : w->end[w->n - 1]) < cut) {
        w->n++;
    }
    if (w->n > 0 && w->end[w->n - 1] > cut) {
        w->end[w->n - 1] = cut;
    }
    return 0;

fail:
    if (b != NULL) {
        evbuffer_free(b);
    }
    sim_words_free(w);
    return -1;
}

json_t *sim_words_piece(const sim_words_t *w, size_t i)
{
    size_t start = i == 0 ? 0 : w->end[i - 1];

    return json_stringn(w->text + start, w->end[i] - start);
}

void sim_words_free(sim_words_t *w)
{
    free(w->text);
    free(w->end);
    memset(w, 0, sizeof(*w));
}

const char *sim_text_tool_args(const json_t *schema)
{
    const json_t *props = json_object_get(schema, "properties");

    return json_object_get(props, "location") != NULL ? "{\"location\":\"Paris\"}" : "{}";
}
