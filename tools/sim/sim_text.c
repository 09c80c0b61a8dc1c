/*
 * Deterministic text for tollgate-sim: the hash that seeds every answer, the word list
 * completions are drawn from, the token-counting rule shared by all formats, and base64
 * for embeddings. Nothing here depends on time or global state, so the same request always
 * produces the same bytes.
 */
#include "tools/sim/sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
