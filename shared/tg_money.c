/*
 * Exact price parsing and cost arithmetic (see tg_money.h for the units). Overflow is checked
 * rather than assumed away: a saturated figure is wrong but visible, a wrapped one is a lie.
 */
#include "shared/tg_money.h"

#include <stdio.h>
#include <string.h>

#define TG_PICO_PER_MICRO 1000000

int tg_price_parse(const char *s, int64_t *pico)
{
    int64_t whole = 0, frac = 0;
    int digits = 0, fdigits = 0;

    if (s == NULL || *s == '\0')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (*s - '0');
        if (whole > 1000000)
            return -1;
        digits++;
    }
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++) {
            if (++fdigits > 6)
                return -1;
            frac = frac * 10 + (*s - '0');
        }
        if (fdigits == 0)
            return -1;
    }
    if (*s != '\0' || digits == 0)
        return -1;
    for (int i = fdigits; i < 6; i++)
        frac *= 10;
    if (whole * 1000000 + frac > (int64_t)1000000 * 1000000)
        return -1;
    *pico = whole * 1000000 + frac;
    return 0;
}

static int64_t tg_mul_add(int64_t acc, int64_t tokens, int64_t price)
{
    __int128 v = (__int128)tokens * price + acc;

    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < 0)
        return 0;
    return (int64_t)v;
}

int64_t tg_cost_pico(const tg_price_t *price, const tg_usage_t *usage)
{
    int64_t prompt = usage->prompt > 0 ? usage->prompt : 0;
    int64_t cached = usage->cached, written = usage->cache_write, cost = 0;
    int64_t cached_price = price->cached >= 0 ? price->cached : price->input;
    int64_t write_price = price->cache_write >= 0 ? price->cache_write : price->input;

    /* a provider's counts are clamped so no token is billed twice: reads, then writes */
    cached = cached < 0 ? 0 : cached > prompt ? prompt : cached;
    written = written < 0 ? 0 : written > prompt - cached ? prompt - cached : written;
    cost = tg_mul_add(cost, prompt - cached - written, price->input);
    cost = tg_mul_add(cost, cached, cached_price);
    cost = tg_mul_add(cost, written, write_price);
    cost = tg_mul_add(cost, usage->completion > 0 ? usage->completion : 0, price->output);
    return cost;
}

int64_t tg_pico_to_micros(int64_t pico)
{
    /* divide first: adding half a micro-dollar before dividing overflows near INT64_MAX */
    int64_t q = pico / TG_PICO_PER_MICRO, r = pico % TG_PICO_PER_MICRO;

    if (r >= TG_PICO_PER_MICRO / 2)
        q++;
    else if (r <= -TG_PICO_PER_MICRO / 2)
        q--;
    return q;
}

int tg_money_format(int64_t pico, char *buf, size_t size)
{
    int64_t micros = tg_pico_to_micros(pico);
    uint64_t u = micros < 0 ? (uint64_t)(-(micros + 1)) + 1 : (uint64_t)micros;
    char tmp[32];
    size_t n = sizeof(tmp), len;

    /* digits from the right: six decimals, the point, then at least one whole digit */
    for (int i = 0; i < 6; i++, u /= 10)
        tmp[--n] = (char)('0' + u % 10);
    tmp[--n] = '.';
    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u > 0);
    if (micros < 0)
        tmp[--n] = '-';
    len = sizeof(tmp) - n;
    if (len + 1 > size) {
        if (size > 0)
            buf[0] = '\0';
        return -1;
    }
    memcpy(buf, tmp + n, len);
    buf[len] = '\0';
    return (int)len;
}
