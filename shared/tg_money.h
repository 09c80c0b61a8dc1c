/*
 * Money and token usage. Prices are exact integers in pico-dollars per token (a price of
 * $X per 1M tokens is X * 1e6 pico-dollars per token), so per-request costs are exact sums of
 * integer products and never touch floating point. Reports round to micro-dollars.
 */
#ifndef TG_MONEY_H
#define TG_MONEY_H

#include <stddef.h>
#include <stdint.h>

/** Token usage of one upstream exchange, as reported by the provider (or estimated). */
typedef struct {
    int64_t prompt;     /* prompt tokens, cached ones included */
    int64_t completion; /* completion tokens, reasoning included */
    int64_t cached;     /* prompt tokens served from the provider's cache */
    int64_t cache_write; /* prompt tokens written to the provider's cache (Anthropic, Bedrock) */
    int64_t reasoning;  /* completion tokens spent on reasoning (informational) */
    int reported;       /* 1 when the provider reported usage, 0 when estimated */
} tg_usage_t;

/**
 * Per-token prices of one model in pico-dollars. cached or cache_write < 0 means "same as
 * input". Prompt tokens split three ways: cache reads (cached), cache writes, and the rest.
 */
typedef struct {
    int64_t input;
    int64_t output;
    int64_t cached;
    int64_t cache_write;
} tg_price_t;

/**
 * Parse a decimal USD-per-1M-tokens price ("2.50", "0.075", "10") into pico-dollars per token.
 * At most 6 decimals, no sign, no exponent, at most $1,000,000 per 1M tokens.
 * Returns 0, or -1 when the text is not such a number.
 */
int tg_price_parse(const char *s, int64_t *pico);

/** Exact cost of usage at price, in pico-dollars. Saturates at INT64_MAX. */
int64_t tg_cost_pico(const tg_price_t *price, const tg_usage_t *usage);

/** Round pico-dollars to the nearest micro-dollar (half away from zero). */
int64_t tg_pico_to_micros(int64_t pico);

/**
 * Format pico-dollars as a USD decimal with 6 places ("0.001250"), rounded to micro-dollars.
 * Returns the length written, or -1 when buf is too small.
 */
int tg_money_format(int64_t pico, char *buf, size_t size);

#endif
