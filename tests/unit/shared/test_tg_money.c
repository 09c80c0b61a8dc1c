/*
 * Unit tests for shared/tg_money.c: price parsing into pico-dollars per token, exact integer
 * cost arithmetic with saturation, rounding to micro-dollars and the USD formatting used in
 * reports. Every figure here is checked to the last pico-dollar: money must never be approximate.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_money.h"

#define PICO_PER_USD_PER_MTOK 1000000LL /* $1 per 1M tokens, in pico-dollars per token */

/* GPT-4o list prices: $2.50 input, $10.00 output, $1.25 cached input per 1M tokens. */
static const tg_price_t gpt4o = {.input = 2500000, .output = 10000000, .cached = 1250000};

/* ---- tg_price_parse ------------------------------------------------------------------------ */

START_TEST(price_parse_accepts_decimal_prices)
{
    /* Each accepted price is X * 1e6 pico-dollars per token, exactly. */
    static const struct {
        const char *text;
        int64_t pico;
    } cases[] = {
        {"2.50", 2500000},
        {"0.075", 75000},
        {"10", 10000000},
        {"0.000001", 1},
        {"0", 0},
        {"0.0", 0},
        {"10.00", 10000000},
        {"1000000", 1000000LL * PICO_PER_USD_PER_MTOK},
        {"0.15", 150000},
        {"123.456789", 123456789},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t pico = -42;
        ck_assert_msg(tg_price_parse(cases[i].text, &pico) == 0, "\"%s\" must parse",
                      cases[i].text);
        ck_assert_msg(pico == cases[i].pico, "\"%s\" must be %lld pico, got %lld", cases[i].text,
                      (long long)cases[i].pico, (long long)pico);
    }
}
END_TEST

START_TEST(price_parse_rejects_malformed_text)
{
    /* No sign, no exponent, digits on both sides of a dot, at most 6 decimals, no junk. */
    static const char *const bad[] = {
        "",   "-1",   "+1",   "1e3",  "1.",   ".5",    "1.1234567", "abc", " 1",
        "1 ", "1,50", "1..5", "0x10", "1.5.", "$2.50", "2.50\n",    ".",   "1000001",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t pico = -42;
        ck_assert_msg(tg_price_parse(bad[i], &pico) == -1, "\"%s\" must be rejected", bad[i]);
        ck_assert_msg(pico == -42, "a rejected price must not write the output (\"%s\")", bad[i]);
    }
    ck_assert_int_eq(tg_price_parse(NULL, &(int64_t){0}), -1);
}
END_TEST

START_TEST(price_parse_caps_at_one_million_dollars)
{
    /* The header allows at most $1,000,000 per 1M tokens: exactly that passes, a cent more not. */
    int64_t pico = -42;

    ck_assert_int_eq(tg_price_parse("1000000.000000", &pico), 0);
    ck_assert_int_eq(pico, 1000000LL * PICO_PER_USD_PER_MTOK);
    pico = -42;
    ck_assert_msg(tg_price_parse("1000000.01", &pico) == -1,
                  "$1,000,000.01 per 1M tokens exceeds the documented maximum");
    ck_assert_msg(tg_price_parse("1000000.000001", &pico) == -1,
                  "$1,000,000.000001 per 1M tokens exceeds the documented maximum");
}
END_TEST

/* ---- tg_cost_pico -------------------------------------------------------------------------- */

START_TEST(cost_gpt4o_small_request_is_exact)
{
    /* 10 prompt + 16 completion tokens at $2.50/$10.00 cost 25 + 160 = 185 micro-dollars. */
    tg_usage_t u = {.prompt = 10, .completion = 16};

    ck_assert_int_eq(tg_cost_pico(&gpt4o, &u), 185000000LL);
    ck_assert_int_eq(tg_pico_to_micros(tg_cost_pico(&gpt4o, &u)), 185);
}
END_TEST

START_TEST(cost_gpt4o_brief_example_is_75_dollars)
{
    /* 10M input + 5M output tokens on GPT-4o at $2.50/$10.00 is $25 + $50 = $75.00 exactly. */
    tg_usage_t u = {.prompt = 10000000, .completion = 5000000};
    char buf[32];
    int64_t cost = tg_cost_pico(&gpt4o, &u);

    ck_assert_int_eq(cost, 75LL * 1000000 * 1000000);
    ck_assert_int_eq(tg_pico_to_micros(cost), 75000000);
    ck_assert_int_eq(tg_money_format(cost, buf, sizeof(buf)), 9);
    ck_assert_str_eq(buf, "75.000000");
}
END_TEST

START_TEST(cost_cached_tokens_use_cached_price)
{
    /* Of 1000 prompt tokens, 400 cached: 600 * 2.50 + 400 * 1.25 + 100 * 10.00 per 1M. */
    tg_usage_t u = {.prompt = 1000, .completion = 100, .cached = 400};

    ck_assert_int_eq(tg_cost_pico(&gpt4o, &u),
                     600LL * 2500000 + 400LL * 1250000 + 100LL * 10000000);
}
END_TEST

START_TEST(cost_cached_price_unset_bills_input_price)
{
    /* price.cached < 0 means "same as input": caching then changes nothing. */
    tg_price_t p = gpt4o;
    tg_usage_t cached = {.prompt = 1000, .completion = 100, .cached = 400};
    tg_usage_t plain = {.prompt = 1000, .completion = 100};

    p.cached = -1;
    ck_assert_int_eq(tg_cost_pico(&p, &cached), 1000LL * 2500000 + 100LL * 10000000);
    ck_assert_int_eq(tg_cost_pico(&p, &cached), tg_cost_pico(&p, &plain));
}
END_TEST

START_TEST(cost_zero_cached_price_is_free)
{
    /* A cached price of exactly 0 is a real price (free cache hits), not "unset". */
    tg_price_t p = gpt4o;
    tg_usage_t u = {.prompt = 1000, .cached = 1000};

    p.cached = 0;
    ck_assert_int_eq(tg_cost_pico(&p, &u), 0);
}
END_TEST

START_TEST(cost_cached_above_prompt_is_clamped)
{
    /* A provider reporting more cached than prompt tokens: all prompt tokens bill as cached. */
    tg_usage_t u = {.prompt = 100, .completion = 0, .cached = 500};

    ck_assert_int_eq(tg_cost_pico(&gpt4o, &u), 100LL * 1250000);
}
END_TEST

START_TEST(cost_cache_writes_bill_at_their_own_price)
{
    /* Anthropic: 1000 prompt tokens = 300 uncached + 400 cache reads + 300 cache writes. */
    tg_price_t p = {.input = 3000000, .output = 15000000, .cached = 300000,
                    .cache_write = 3750000};
    tg_usage_t u = {.prompt = 1000, .completion = 10, .cached = 400, .cache_write = 300};

    ck_assert_int_eq(tg_cost_pico(&p, &u),
                     300LL * 3000000 + 400LL * 300000 + 300LL * 3750000 + 10LL * 15000000);
    /* unset (< 0): cache writes bill as ordinary input */
    p.cache_write = -1;
    ck_assert_int_eq(tg_cost_pico(&p, &u),
                     600LL * 3000000 + 400LL * 300000 + 10LL * 15000000);
}
END_TEST

START_TEST(cost_cache_writes_are_clamped_to_the_uncached_prompt)
{
    /* Reads and writes reported above the prompt never bill a token twice or go negative. */
    tg_price_t p = {.input = 3000000, .output = 0, .cached = 300000, .cache_write = 3750000};
    tg_usage_t u = {.prompt = 100, .cached = 70, .cache_write = 50};

    ck_assert_int_eq(tg_cost_pico(&p, &u), 70LL * 300000 + 30LL * 3750000);
    u.cache_write = -5;
    ck_assert_int_eq(tg_cost_pico(&p, &u), 70LL * 300000 + 30LL * 3000000);
}
END_TEST

START_TEST(cost_negative_counts_do_not_reduce_cost)
{
    /* Negative cached/completion counts are nonsense and must not produce a refund. */
    tg_usage_t u = {.prompt = 100, .completion = -50, .cached = -10};

    ck_assert_int_eq(tg_cost_pico(&gpt4o, &u), 100LL * 2500000);
}
END_TEST

START_TEST(cost_saturates_at_int64_max)
{
    /* Overflow must saturate (wrong but visible), never wrap to a small or negative figure. */
    tg_usage_t huge = {.prompt = INT64_MAX, .completion = INT64_MAX};
    tg_usage_t edge = {.prompt = INT64_MAX / 2500000 + 1};
    tg_price_t max = {.input = 1000000LL * PICO_PER_USD_PER_MTOK,
                      .output = 1000000LL * PICO_PER_USD_PER_MTOK,
                      .cached = -1};

    ck_assert_int_eq(tg_cost_pico(&gpt4o, &huge), INT64_MAX);
    ck_assert_int_eq(tg_cost_pico(&max, &huge), INT64_MAX);
    ck_assert_int_eq(tg_cost_pico(&gpt4o, &edge), INT64_MAX);
    /* just below the edge is still exact */
    edge.prompt = INT64_MAX / 2500000;
    ck_assert_int_eq(tg_cost_pico(&gpt4o, &edge), (INT64_MAX / 2500000) * 2500000);
}
END_TEST

/* ---- tg_pico_to_micros --------------------------------------------------------------------- */

START_TEST(pico_to_micros_rounds_half_away_from_zero)
{
    static const struct {
        int64_t pico, micros;
    } cases[] =
        {
            {0, 0},         {1, 0},           {499999, 0},   {500000, 1},
            {500001, 1},    {999999, 1},      {1000000, 1},  {1499999, 1},
            {1500000, 2},   {2500000, 3}, /* half away from zero, not half to even */
            {-1, 0},        {-499999, 0},     {-500000, -1}, {-1500000, -2},
            {-2500000, -3}, {185000000, 185},
        };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(tg_pico_to_micros(cases[i].pico) == cases[i].micros,
                      "%lld pico must round to %lld micros, got %lld", (long long)cases[i].pico,
                      (long long)cases[i].micros, (long long)tg_pico_to_micros(cases[i].pico));
}
END_TEST

START_TEST(pico_to_micros_handles_int64_extremes)
{
    /*
     * tg_cost_pico saturates at INT64_MAX, so the saturated figure must still convert (without
     * signed overflow): INT64_MAX pico = 9223372036854.775807 micros -> 9223372036855.
     */
    ck_assert_int_eq(tg_pico_to_micros(INT64_MAX), 9223372036855LL);
    ck_assert_int_eq(tg_pico_to_micros(INT64_MAX - 1), 9223372036855LL);
    ck_assert_int_eq(tg_pico_to_micros(INT64_MIN), -9223372036855LL);
    ck_assert_int_eq(tg_pico_to_micros(INT64_MIN + 1), -9223372036855LL);
}
END_TEST

/* ---- tg_money_format ----------------------------------------------------------------------- */

START_TEST(money_format_six_places)
{
    static const struct {
        int64_t pico;
        const char *text;
    } cases[] = {
        {185000000, "0.000185"},   {0, "0.000000"},
        {1250000000, "0.001250"},  {75000000000000LL, "75.000000"},
        {-185000000, "-0.000185"}, {-75000000000000LL, "-75.000000"},
        {499999, "0.000000"},  /* rounds down to zero */
        {500000, "0.000001"},  /* rounds up */
        {-400000, "0.000000"}, /* rounds to zero: no "-0.000000" */
        {-500000, "-0.000001"},    {123456789012345678LL, "123456.789012"},
    };
    char buf[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = tg_money_format(cases[i].pico, buf, sizeof(buf));
        ck_assert_msg(n == (int)strlen(cases[i].text), "length for %lld: %d",
                      (long long)cases[i].pico, n);
        ck_assert_str_eq(buf, cases[i].text);
    }
}
END_TEST

START_TEST(money_format_small_buffer_fails)
{
    /* "0.000185" needs 9 bytes with its NUL: 9 fits, 8 and less must fail with -1. */
    char buf[16];

    ck_assert_int_eq(tg_money_format(185000000, buf, 9), 8);
    ck_assert_str_eq(buf, "0.000185");
    ck_assert_int_eq(tg_money_format(185000000, buf, 8), -1);
    ck_assert_int_eq(tg_money_format(185000000, buf, 1), -1);
    ck_assert_int_eq(tg_money_format(185000000, NULL, 0), -1);
    /* the sign counts too */
    ck_assert_int_eq(tg_money_format(-185000000, buf, 10), 9);
    ck_assert_int_eq(tg_money_format(-185000000, buf, 9), -1);
}
END_TEST

START_TEST(money_format_saturated_cost)
{
    /* A saturated cost must format as a (huge, visible) figure, not crash or wrap. */
    char buf[64];

    ck_assert_int_eq(tg_money_format(INT64_MAX, buf, sizeof(buf)), 14);
    ck_assert_str_eq(buf, "9223372.036855");
    ck_assert_int_eq(tg_money_format(INT64_MIN, buf, sizeof(buf)), 15);
    ck_assert_str_eq(buf, "-9223372.036855");
}
END_TEST

static Suite *tg_money_suite(void)
{
    Suite *s = suite_create("tg_money");
    TCase *tc = tcase_create("price_parse");

    tcase_add_test(tc, price_parse_accepts_decimal_prices);
    tcase_add_test(tc, price_parse_rejects_malformed_text);
    tcase_add_test(tc, price_parse_caps_at_one_million_dollars);
    suite_add_tcase(s, tc);

    tc = tcase_create("cost");
    tcase_add_test(tc, cost_gpt4o_small_request_is_exact);
    tcase_add_test(tc, cost_gpt4o_brief_example_is_75_dollars);
    tcase_add_test(tc, cost_cached_tokens_use_cached_price);
    tcase_add_test(tc, cost_cached_price_unset_bills_input_price);
    tcase_add_test(tc, cost_zero_cached_price_is_free);
    tcase_add_test(tc, cost_cached_above_prompt_is_clamped);
    tcase_add_test(tc, cost_cache_writes_bill_at_their_own_price);
    tcase_add_test(tc, cost_cache_writes_are_clamped_to_the_uncached_prompt);
    tcase_add_test(tc, cost_negative_counts_do_not_reduce_cost);
    tcase_add_test(tc, cost_saturates_at_int64_max);
    suite_add_tcase(s, tc);

    tc = tcase_create("report");
    tcase_add_test(tc, pico_to_micros_rounds_half_away_from_zero);
    tcase_add_test(tc, pico_to_micros_handles_int64_extremes);
    tcase_add_test(tc, money_format_six_places);
    tcase_add_test(tc, money_format_small_buffer_fails);
    tcase_add_test(tc, money_format_saturated_cost);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_money_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
