/*
 * Unit tests for shared/tg_calc.c and shared/tg_calc_profile.c, the cost calculator. The figures
 * are the analytics issue's, computed by hand: 10M input + 5M output tokens a day on GPT-4o at
 * $2.50/$10.00 per 1M cost $75.00 a day; four use cases totalling 20M input and 10.5M output
 * tokens cost $155.00 a day and $4,650.00 a month before routing, and what the comments below
 * add up after it. Profile mistakes are reported as file:line:col; replays reprice metered
 * events exactly, and reproduce them exactly on the configuration they ran under.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_calc.h"
#include "shared/tg_route.h"
#include "tests/unit/tg_config_fixture.h"

/* Dollars and micro-dollars to pico-dollars: USD(8, 200000) is $8.20. */
#define USD(dollars, micros) ((int64_t)(dollars)*1000000000000 + (int64_t)(micros)*1000000)

#define MODELS                                                                                     \
    "listen: [\"127.0.0.1:8080\"]\n"                                                               \
    "providers:\n"                                                                                 \
    "  p: {kind: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"                                   \
    "models:\n"                                                                                    \
    "  gpt-4o: {provider: p, price: {input: 2.50, output: 10.00, cached_input: 1.25}}\n"           \
    "  gpt-4o-mini: {provider: p, price: {input: 0.15, output: 0.60}}\n"                           \
    "  deepseek-chat: {provider: p, price: {input: 0.27, output: 1.10, cached_input: 0.07}}\n"     \
    "  deepseek-reasoner: {provider: p, price: {input: 0.55, output: 2.19}}\n"                     \
    "  qwen3-32b: {provider: p, price: {input: 0.10, output: 0.30}}\n"

/* FAQ_TARGET: where the faq rule sends its traffic (a proposed change moves it). */
#define ROUTES(FAQ_TARGET)                                                                         \
    "routes:\n"                                                                                    \
    "  auto:\n"                                                                                    \
    "    baseline: gpt-4o\n"                                                                       \
    "    rules:\n"                                                                                 \
    "      - {task: faq, complexity: [simple, complex], targets: [" FAQ_TARGET "]}\n"              \
    "      - {task: code_review, complexity: simple, targets: [qwen3-32b]}\n"                      \
    "      - {task: code_review, complexity: complex, targets: [deepseek-reasoner]}\n"             \
    "      - {task: content, complexity: creative, targets: [gpt-4o]}\n"                           \
    "      - {task: content, complexity: factual, targets: [deepseek-chat]}\n"                     \
    "      - {task: extraction, targets: [gpt-4o-mini]}\n"                                         \
    "      - {targets: [deepseek-chat]}\n"                                                         \
    "    fallback: [gpt-4o-mini]\n"                                                                \
    "  split:\n"                                                                                   \
    "    rules:\n"                                                                                 \
    "      - {strategy: weighted, targets: [{model: qwen3-32b, weight: 3},\n"                      \
    "                                       {model: gpt-4o-mini, weight: 1}]}\n"                   \
    "  ab:\n"                                                                                      \
    "    experiment:\n"                                                                            \
    "      name: e\n"                                                                              \
    "      variants:\n"                                                                            \
    "        - {name: control, weight: 1, targets: [gpt-4o]}\n"                                    \
    "        - {name: candidate, weight: 1, route: auto}\n"

/* The four use cases: $75 + $20 + $35 + $25 = $155 a day on GPT-4o. */
#define FOUR_CASES                                                                                 \
    "baseline: gpt-4o\n"                                                                           \
    "route: auto\n"                                                                                \
    "use_cases:\n"                                                                                 \
    "  - name: FAQ bot\n"                                                                          \
    "    input_tokens_per_day: 10M\n"                                                              \
    "    output_tokens_per_day: 5M\n"                                                              \
    "    split:\n"                                                                                 \
    "      - {task: faq, complexity: simple, share: 80%}\n"                                        \
    "      - {task: faq, complexity: complex, share: 20%}\n"                                       \
    "  - name: Code review\n"                                                                      \
    "    input_tokens_per_day: 4M\n"                                                               \
    "    output_tokens_per_day: 1M\n"                                                              \
    "    split:\n"                                                                                 \
    "      - {task: code_review, complexity: simple, share: 60%}\n"                                \
    "      - {task: code_review, complexity: complex, share: 40%}\n"                               \
    "  - name: Content\n"                                                                          \
    "    input_tokens_per_day: 2000000\n"                                                          \
    "    output_tokens_per_day: 3M\n"                                                              \
    "    split:\n"                                                                                 \
    "      - {task: content, complexity: creative, share: 0.5}\n"                                  \
    "      - {task: content, complexity: factual, share: 0.5}\n"                                   \
    "  - name: Extraction\n"                                                                       \
    "    input_tokens_per_day: 4M\n"                                                               \
    "    output_tokens_per_day: 1.5M\n"                                                            \
    "    split:\n"                                                                                 \
    "      - {task: extraction, share: 75%}\n"                                                     \
    "      - {model: qwen3-32b, share: 25%}\n"

static tg_config_t *cf, *proposed;

static void setup(void)
{
    char err[512];

    cf = load(MODELS ROUTES("deepseek-chat"), err, sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    proposed = load(MODELS ROUTES("qwen3-32b"), err, sizeof(err));
    ck_assert_msg(proposed != NULL, "%s", err);
}

static void teardown(void)
{
    tg_config_unref(cf);
    tg_config_unref(proposed);
}

static tg_calc_profile_t *parse(const char *text)
{
    char err[512];
    tg_calc_profile_t *p = tg_calc_profile_parse("p.yaml", text, strlen(text), err, sizeof(err));

    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

static tg_calc_profile_t *tg_test_profile; /* what the last price() result points into */

/* Price text on c; done() frees r and its profile. */
static void price(const char *text, const tg_config_t *c, tg_calc_result_t *r)
{
    char err[512];

    tg_test_profile = parse(text);
    ck_assert_msg(tg_calc_profile(tg_test_profile, c, NULL, NULL, r, err, sizeof(err)) == 0, "%s",
                  err);
}

static void done(tg_calc_result_t *r)
{
    tg_calc_result_free(r);
    tg_calc_profile_free(tg_test_profile);
    tg_test_profile = NULL;
}

START_TEST(ten_million_in_five_million_out_on_gpt4o_is_75_dollars)
{
    static const char text[] = "baseline: gpt-4o\n"
                               "use_cases:\n"
                               "  - name: FAQ bot\n"
                               "    input_tokens_per_day: 10M\n"
                               "    output_tokens_per_day: 5M\n"
                               "    split: [{model: gpt-4o}]\n";
    tg_calc_profile_t *p = parse(text);
    tg_calc_result_t r;
    char err[512], usd[32];

    ck_assert_int_eq(tg_calc_profile(p, cf, NULL, NULL, &r, err, sizeof(err)), 0);
    /* 10M x $2.50/1M + 5M x $10.00/1M */
    ck_assert_int_eq(r.total.before_pico, USD(75, 0));
    ck_assert_int_eq(r.total.after_pico, USD(75, 0));
    ck_assert_int_eq(r.total.input_tokens, 10000000);
    ck_assert_int_eq(r.total.output_tokens, 5000000);
    tg_money_format(r.total.before_pico, usd, sizeof(usd));
    ck_assert_str_eq(usd, "75.000000");
    ck_assert_int_eq(r.month.before_pico, USD(2250, 0)); /* 30 days by default */
    ck_assert_str_eq(r.baseline->name, "gpt-4o");
    ck_assert_ptr_eq(r.route, tg_config_route(cf, "auto", 4)); /* auto, when there is one */
    tg_calc_result_free(&r);
    tg_calc_profile_free(p);
}
END_TEST

START_TEST(four_use_cases_cost_155_a_day_and_4650_a_month_before)
{
    tg_calc_profile_t *p = parse(FOUR_CASES);
    tg_calc_result_t r;
    char err[512];

    ck_assert_int_eq(tg_calc_profile(p, cf, NULL, NULL, &r, err, sizeof(err)), 0);
    ck_assert_int_eq(r.total.input_tokens, 20000000);
    ck_assert_int_eq(r.total.output_tokens, 10500000);
    ck_assert_int_eq(r.total.before_pico, USD(155, 0));
    ck_assert_int_eq(r.month.before_pico, USD(4650, 0));
    ck_assert_int_eq(r.cases[0].before_pico, USD(75, 0));
    ck_assert_int_eq(r.cases[1].before_pico, USD(20, 0)); /* 4M x 2.50 + 1M x 10.00 */
    ck_assert_int_eq(r.cases[2].before_pico, USD(35, 0)); /* 2M x 2.50 + 3M x 10.00 */
    ck_assert_int_eq(r.cases[3].before_pico, USD(25, 0)); /* 4M x 2.50 + 1.5M x 10.00 */
    /* after, on the route's picks:
     * FAQ, all deepseek-chat: 10M x 0.27 + 5M x 1.10 = 2.70 + 5.50 = $8.20
     * Code review: qwen3-32b 2.4M x 0.10 + 0.6M x 0.30 = $0.42, deepseek-reasoner
     *   1.6M x 0.55 + 0.4M x 2.19 = $1.756: $2.176
     * Content: gpt-4o 1M x 2.50 + 1.5M x 10.00 = $17.50, deepseek-chat 1M x 0.27 +
     *   1.5M x 1.10 = $1.92: $19.42
     * Extraction: gpt-4o-mini 3M x 0.15 + 1.125M x 0.60 = $1.125, qwen3-32b named directly
     *   1M x 0.10 + 0.375M x 0.30 = $0.2125: $1.3375
     * total $31.1335 a day, $934.005 a month */
    ck_assert_int_eq(r.cases[0].after_pico, USD(8, 200000));
    ck_assert_int_eq(r.cases[1].after_pico, USD(2, 176000));
    ck_assert_int_eq(r.cases[2].after_pico, USD(19, 420000));
    ck_assert_int_eq(r.cases[3].after_pico, USD(1, 337500));
    ck_assert_int_eq(r.total.after_pico, USD(31, 133500));
    ck_assert_int_eq(r.month.after_pico, USD(934, 5000));
    ck_assert_double_eq_tol(tg_calc_percent(r.total.before_pico, r.total.after_pico), 79.9139,
                            0.0001);
    /* rows: tokens by share, the model and the rule that picked it */
    ck_assert_uint_eq(r.nlines, 8);
    ck_assert_int_eq(r.lines[0].sum.input_tokens, 8000000);
    ck_assert_int_eq(r.lines[0].sum.output_tokens, 4000000);
    ck_assert_int_eq(r.lines[0].sum.before_pico, USD(60, 0));
    ck_assert_uint_eq(r.lines[0].nparts, 1);
    ck_assert_str_eq(r.lines[0].parts[0].model->name, "deepseek-chat");
    ck_assert_int_eq(r.lines[0].parts[0].rule, 0);
    ck_assert_str_eq(r.lines[3].parts[0].model->name, "deepseek-reasoner");
    ck_assert_int_eq(r.lines[3].parts[0].rule, 2);
    ck_assert_int_eq(r.lines[3].sum.after_pico, USD(1, 756000));
    ck_assert_str_eq(r.lines[7].parts[0].model->name, "qwen3-32b");
    ck_assert_int_eq(r.lines[7].parts[0].rule, -1); /* named, not routed */
    ck_assert_str_eq(r.lines[7].use_case->name, "Extraction");
    tg_calc_result_free(&r);
    tg_calc_profile_free(p);
}
END_TEST

START_TEST(a_proposed_configuration_and_overrides_change_the_after_cost)
{
    tg_calc_profile_t *p = parse(FOUR_CASES);
    tg_calc_result_t r;
    char err[512];

    /* faq moves to qwen3-32b: 10M x 0.10 + 5M x 0.30 = $2.50 instead of $8.20 */
    ck_assert_int_eq(tg_calc_profile(p, proposed, NULL, NULL, &r, err, sizeof(err)), 0);
    ck_assert_int_eq(r.cases[0].after_pico, USD(2, 500000));
    ck_assert_int_eq(r.total.after_pico, USD(25, 433500));
    ck_assert_int_eq(r.total.before_pico, USD(155, 0));
    tg_calc_result_free(&r);
    /* --baseline gpt-4o-mini: before is 20M x 0.15 + 10.5M x 0.60 = 3.00 + 6.30 */
    ck_assert_int_eq(tg_calc_profile(p, cf, NULL, "gpt-4o-mini", &r, err, sizeof(err)), 0);
    ck_assert_int_eq(r.total.before_pico, USD(9, 300000));
    tg_calc_result_free(&r);
    /* --route split: every routed row goes 3:1 to qwen3-32b and gpt-4o-mini */
    ck_assert_int_eq(tg_calc_profile(p, cf, "split", NULL, &r, err, sizeof(err)), 0);
    ck_assert_str_eq(r.route->name, "split");
    ck_assert_uint_eq(r.lines[0].nparts, 2);
    ck_assert_int_eq(r.lines[0].parts[0].usage.prompt, 6000000);
    ck_assert_int_eq(r.lines[0].parts[1].usage.prompt, 2000000);
    tg_calc_result_free(&r);
    ck_assert_int_eq(tg_calc_profile(p, cf, "nope", NULL, &r, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "p.yaml: route \"nope\" is not in the configuration");
    tg_calc_result_free(&r);
    tg_calc_profile_free(p);
}
END_TEST

START_TEST(weighted_rules_and_experiments_split_by_weight)
{
    tg_calc_result_t r;

    /* 3:1 over qwen3-32b (3M in, 3M out: 0.30 + 0.90) and gpt-4o-mini (1M, 1M: 0.15 + 0.60) */
    price("baseline: gpt-4o\nroute: split\nuse_cases:\n"
          "  - {name: w, input_tokens_per_day: 4M, output_tokens_per_day: 4M,\n"
          "     split: [{task: faq}]}\n",
          cf, &r);
    ck_assert_int_eq(r.total.before_pico, USD(50, 0));
    ck_assert_int_eq(r.total.after_pico, USD(1, 950000));
    ck_assert_uint_eq(r.lines[0].nparts, 2);
    ck_assert_str_eq(r.lines[0].parts[0].model->name, "qwen3-32b");
    ck_assert_int_eq(r.lines[0].parts[0].usage.prompt, 3000000);
    ck_assert_int_eq(r.lines[0].parts[0].cost_pico, USD(1, 200000));
    ck_assert_str_eq(r.lines[0].parts[1].model->name, "gpt-4o-mini");
    ck_assert_int_eq(r.lines[0].parts[1].cost_pico, USD(0, 750000));
    done(&r);
    /* half on gpt-4o (2M, 2M: 5 + 20), half through auto to deepseek-chat (0.54 + 2.20) */
    price("baseline: gpt-4o\nroute: ab\nuse_cases:\n"
          "  - {name: e, input_tokens_per_day: 4M, output_tokens_per_day: 4M,\n"
          "     split: [{task: faq, complexity: simple}]}\n",
          cf, &r);
    ck_assert_int_eq(r.total.after_pico, USD(27, 740000));
    ck_assert_uint_eq(r.lines[0].nparts, 2);
    ck_assert_str_eq(r.lines[0].parts[0].variant, "control");
    ck_assert_str_eq(r.lines[0].parts[1].variant, "candidate");
    ck_assert_str_eq(r.lines[0].parts[1].model->name, "deepseek-chat");
    ck_assert_int_eq(r.lines[0].parts[1].rule, 0);
    done(&r);
}
END_TEST

START_TEST(cached_share_per_request_sizes_and_exact_rounding)
{
    tg_calc_result_t r;

    /* half of 10M input from the cache: deepseek-chat 5M x 0.27 + 5M x 0.07 + 1M x 1.10;
     * gpt-4o 5M x 2.50 + 5M x 1.25 + 1M x 10.00 */
    price("use_cases:\n"
          "  - name: cached\n"
          "    input_tokens_per_day: 10M\n"
          "    output_tokens_per_day: 1M\n"
          "    cached_share: 50%\n"
          "    split: [{task: faq, complexity: simple}]\n",
          cf, &r);
    ck_assert_int_eq(r.total.cached_tokens, 5000000);
    ck_assert_int_eq(r.total.after_pico, USD(2, 800000));
    ck_assert_int_eq(r.total.before_pico, USD(28, 750000));
    done(&r);
    /* 1000 requests of 2000 in, 500 out: 2M x 0.10 + 0.5M x 0.30 on qwen3-32b */
    price("days_per_month: 31\n"
          "use_cases:\n"
          "  - name: per request\n"
          "    requests_per_day: 1K\n"
          "    input_tokens_per_request: 2000\n"
          "    output_tokens_per_request: 500\n"
          "    split: [{model: qwen3-32b}]\n",
          cf, &r);
    ck_assert_int_eq(r.total.input_tokens, 2000000);
    ck_assert_int_eq(r.total.after_pico, USD(0, 350000));
    ck_assert_int_eq(r.month.after_pico, USD(10, 850000));
    done(&r);
    /* thirds of 10 tokens: the rows add up to exactly 10 */
    price("use_cases:\n"
          "  - name: thirds\n"
          "    input_tokens_per_day: 10\n"
          "    output_tokens_per_day: 1.5K\n"
          "    split:\n"
          "      - {task: a, share: 33.3333%}\n"
          "      - {task: b, share: 33.3333%}\n"
          "      - {task: c, share: 0.333334}\n",
          cf, &r);
    ck_assert_int_eq(r.lines[0].sum.input_tokens, 3);
    ck_assert_int_eq(r.lines[1].sum.input_tokens, 4);
    ck_assert_int_eq(r.lines[2].sum.input_tokens, 3);
    ck_assert_int_eq(r.lines[0].sum.output_tokens + r.lines[1].sum.output_tokens +
                         r.lines[2].sum.output_tokens,
                     1500);
    done(&r);
}
END_TEST

/* text must be refused with want: when it is parsed, or (priced) when it is priced on cf */
static void refused(const char *text, int priced, const char *want)
{
    char err[512];
    tg_calc_profile_t *p = tg_calc_profile_parse("p.yaml", text, strlen(text), err, sizeof(err));
    tg_calc_result_t r;

    ck_assert_msg((p == NULL) == !priced, "%s: %s", p == NULL ? "refused" : "accepted", text);
    if (p != NULL) {
        ck_assert_int_eq(tg_calc_profile(p, cf, NULL, NULL, &r, err, sizeof(err)), -1);
        tg_calc_result_free(&r);
        tg_calc_profile_free(p);
    }
    ck_assert_msg(strcmp(err, want) == 0, "error \"%s\", wanted \"%s\"", err, want);
}

#define CASE_HEAD                                                                                  \
    "use_cases:\n"                                                                                 \
    "  - name: FAQ bot\n"                                                                          \
    "    input_tokens_per_day: 10M\n"                                                              \
    "    output_tokens_per_day: 5M\n"

START_TEST(profile_mistakes_are_reported_with_file_line_and_column)
{
    refused("use_cases: [\n", 0, "p.yaml:2:1: did not find expected node content");
    refused("", 0, "p.yaml:1:1: the profile is empty");
    refused("route: auto\n", 0, "p.yaml:1:1: a profile needs use_cases");
    refused("rout: auto\nuse_cases: []\n", 0,
                 "p.yaml:1:1: unknown key \"rout\" (baseline, route, days_per_month, "
                 "use_cases)");
    refused(CASE_HEAD "    splits: []\n", 0,
                 "p.yaml:5:5: unknown key \"splits\" in a use case");
    refused(CASE_HEAD "    split:\n"
                           "      - {task: faq, complexity: simple, share: 80%}\n"
                           "      - {task: faq, complexity: complex, share: 10%}\n",
                 0, "p.yaml:6:7: the shares of use case \"FAQ bot\" add up to 90%, not 100%");
    refused(CASE_HEAD "    split:\n"
                           "      - {task: faq, share: 0.5}\n"
                           "      - {task: x, share: 50.0001%}\n",
                 0,
                 "p.yaml:6:7: the shares of use case \"FAQ bot\" add up to 100.0001%, "
                 "not 100%");
    refused(CASE_HEAD "    split: []\n", 0,
                 "p.yaml:5:12: split must be a list of rows ({task, complexity, share})");
    refused(CASE_HEAD "    split: [{task: faq, share: 80}]\n", 0,
                 "p.yaml:5:32: share must be a percentage like 80% or a fraction like "
                 "0.8, not \"80\"");
    refused(CASE_HEAD "    split: [{task: faq, share: 50%}, {task: x}]\n", 0,
                 "p.yaml:5:38: a split row needs a share (e.g. share: 80%)");
    refused(CASE_HEAD "    split: [{task: faq, model: gpt-4o}]\n", 0,
                 "p.yaml:5:13: a split row names a model or task and complexity, not "
                 "both");
    refused(CASE_HEAD "    split: [{task: faq, when: now}]\n", 0,
                 "p.yaml:5:25: unknown key \"when\" in a split row (task, complexity, "
                 "model, share)");
    refused("use_cases:\n  - name: x\n    input_tokens_per_day: 10X\n"
                 "    output_tokens_per_day: 1\n    split: [{task: a}]\n",
                 0,
                 "p.yaml:3:27: input_tokens_per_day must be a whole number of tokens like "
                 "2500000, 10K, 1.5M or 2B (at most 10^15), not \"10X\"");
    refused("use_cases:\n  - name: x\n    input_tokens_per_day: 1.2345K\n"
                 "    output_tokens_per_day: 1\n    split: [{task: a}]\n",
                 0,
                 "p.yaml:3:27: input_tokens_per_day must be a whole number of tokens like "
                 "2500000, 10K, 1.5M or 2B (at most 10^15), not \"1.2345K\"");
    refused("use_cases:\n  - name: x\n    input_tokens_per_day: 10M\n"
                 "    requests_per_day: 5\n    split: [{task: a}]\n",
                 0,
                 "p.yaml:2:5: use case \"x\" needs input_tokens_per_day and "
                 "output_tokens_per_day, or requests_per_day, input_tokens_per_request "
                 "and output_tokens_per_request");
    refused("days_per_month: 40\n" CASE_HEAD "    split: [{task: a}]\n", 0,
                 "p.yaml:1:17: days_per_month must be an integer from 1 to 31, not "
                 "\"40\"");
    /* what needs the configuration is reported at the place it is written, too */
    refused(CASE_HEAD "    split:\n"
                           "      - {task: faq, complexity: simple, share: 50%}\n"
                           "      - {model: gpt-5-ultra, share: 50%}\n",
                 1,
                 "p.yaml:7:9: model \"gpt-5-ultra\" is not in the configuration's "
                 "catalog");
    refused("route: autopilot\n" CASE_HEAD "    split: [{task: faq}]\n", 1,
                 "p.yaml:1:8: route \"autopilot\" is not in the configuration");
    refused("baseline: gpt-3\n" CASE_HEAD "    split: [{task: faq}]\n", 1,
                 "p.yaml:1:11: baseline \"gpt-3\" is not a model of the configuration");
    /* route split has no baseline of its own, and the gateway has none */
    refused("route: split\n" CASE_HEAD "    split: [{task: faq}]\n", 1,
                 "p.yaml: no baseline: name one in the profile (baseline: MODEL) or give "
                 "the route or the gateway a baseline");
}
END_TEST

/* An event as metering would record it: its cost at the model's prices in cfg. */
static tg_event_t event(const tg_config_t *cfg, const char *route, const char *model,
                        const char *task, const char *complexity, int64_t prompt,
                        int64_t completion)
{
    tg_event_t ev;
    const tg_model_t *m = tg_config_model(cfg, model, strlen(model));

    memset(&ev, 0, sizeof(ev));
    snprintf(ev.route, sizeof(ev.route), "%s", route);
    snprintf(ev.model, sizeof(ev.model), "%s", model);
    snprintf(ev.task, sizeof(ev.task), "%s", task);
    snprintf(ev.complexity, sizeof(ev.complexity), "%s", complexity);
    ev.status = 200;
    ev.usage.prompt = prompt;
    ev.usage.completion = completion;
    ev.usage.reported = 1;
    ev.cost_pico = m != NULL ? tg_cost_pico(&m->price, &ev.usage) : 12345;
    return ev;
}

START_TEST(replay_reproduces_actual_costs_and_reprices_a_proposal)
{
    tg_event_t ev[8];
    tg_replay_t rp;
    int64_t actual = 0;

    /* 1000 x 0.27 + 500 x 1.10 = $0.00082 */
    ev[0] = event(cf, "auto", "deepseek-chat", "faq", "simple", 1000, 500);
    /* deepseek-reasoner has no cached price: 2000 x 0.55 + 1000 x 2.19 = $0.00329 */
    ev[1] = event(cf, "auto", "deepseek-reasoner", "code_review", "complex", 2000, 1000);
    ev[1].usage.cached = 500;
    ev[2] = event(cf, "gpt-4o-mini", "gpt-4o-mini", "", "", 100, 100); /* named: $0.000075 */
    ev[3] = event(cf, "auto:shadow", "qwen3-32b", "faq", "simple", 1000, 500);
    snprintf(ev[3].shadow_of, sizeof(ev[3].shadow_of), "r1");
    ev[4] = event(cf, "auto", "gpt-4o-mini", "faq", "simple", 1000, 0);
    ev[4].extra_attempt = 1; /* a hedge that lost */
    ev[5] = event(cf, "auto", "deepseek-chat", "faq", "simple", 0, 0);
    ev[5].status = 502;
    ev[6] = event(cf, "legacy", "gpt-4o", "faq", "simple", 10, 10);
    ev[7] = event(cf, "gone", "gone", "", "", 10, 10);
    ck_assert_int_eq(ev[0].cost_pico, USD(0, 820));
    ck_assert_int_eq(ev[1].cost_pico, USD(0, 3290));

    /* on the configuration the events ran under, the replay is the actual cost, exactly */
    tg_replay_init(&rp, cf, NULL);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(tg_replay_add(&rp, &ev[i]), 0);
    for (int i = 0; i < 3; i++)
        actual += ev[i].cost_pico;
    ck_assert_int_eq(rp.total.requests, 3);
    ck_assert_int_eq(rp.total.actual_pico, actual);
    ck_assert_int_eq(rp.total.replayed_pico, actual);
    ck_assert_int_eq(rp.total.moved, 0);
    ck_assert_int_eq(rp.nskipped[TG_REPLAY_SHADOW], 1);
    ck_assert_int_eq(rp.nskipped[TG_REPLAY_EXTRA], 1);
    ck_assert_int_eq(rp.nskipped[TG_REPLAY_NO_TOKENS], 1);
    ck_assert_int_eq(rp.nskipped[TG_REPLAY_UNKNOWN_ROUTE], 1);
    ck_assert_int_eq(rp.nskipped[TG_REPLAY_UNKNOWN_MODEL], 1);
    ck_assert_int_eq(rp.skipped_pico, ev[4].cost_pico + ev[6].cost_pico + ev[7].cost_pico);
    ck_assert_uint_eq(rp.skipped.n, 2);
    ck_assert_str_eq(rp.skipped.v[0].name, "legacy");
    ck_assert_int_eq(rp.skipped.v[0].why, TG_REPLAY_UNKNOWN_ROUTE);
    ck_assert_str_eq(rp.skipped.v[1].name, "gone");
    ck_assert_uint_eq(rp.routes.n, 2);
    ck_assert_str_eq(rp.routes.v[0].name, "auto");
    ck_assert_int_eq(rp.routes.v[0].requests, 2);
    ck_assert_str_eq(rp.routes.v[1].name, "gpt-4o-mini");
    ck_assert_uint_eq(rp.tasks.n, 3);
    tg_replay_free(&rp);

    /* faq moved to qwen3-32b: 1000 x 0.10 + 500 x 0.30 = $0.00025 instead of $0.00082 */
    tg_replay_init(&rp, proposed, NULL);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(tg_replay_add(&rp, &ev[i]), 0);
    ck_assert_int_eq(rp.total.actual_pico, actual);
    ck_assert_int_eq(rp.total.replayed_pico, actual - USD(0, 820) + USD(0, 250));
    ck_assert_int_eq(rp.total.moved, 1);
    ck_assert_int_eq(rp.tasks.v[0].moved, 1);
    ck_assert_str_eq(rp.tasks.v[0].name, "faq");
    tg_replay_free(&rp);

    /* --route auto: the legacy route's faq request is decided on auto too */
    tg_replay_init(&rp, proposed, "auto");
    ck_assert_int_eq(tg_replay_add(&rp, &ev[6]), 0);
    ck_assert_int_eq(rp.total.requests, 1);
    ck_assert_int_eq(rp.total.replayed_pico, 10 * 100000 + 10 * 300000);
    tg_replay_free(&rp);
}
END_TEST

START_TEST(replay_sticks_to_the_key_or_splits_by_weight)
{
    const tg_route_t *rt = tg_config_route(cf, "split", 5);
    tg_event_t ev = event(cf, "split", "qwen3-32b", "faq", "", 1000, 400);
    tg_calc_part_t parts[TG_CALC_MAX_PARTS];
    tg_route_input_t in = {.task = "faq", .prompt_tokens = 1000, .max_tokens = 400};
    tg_route_plan_t plan;
    size_t n;
    int64_t cost;

    /* with a key, the gateway's pick is sticky: the replay makes the same one */
    for (int k = 0; k < 20; k++) {
        snprintf(ev.key, sizeof(ev.key), "key%d", k);
        in.sticky = ev.key;
        tg_route_decide(rt, &in, &plan);
        ck_assert_int_eq(tg_calc_replay_event(cf, NULL, &ev, parts, &n, &cost), TG_REPLAY_OK);
        ck_assert_uint_eq(n, 1);
        ck_assert_ptr_eq(parts[0].model, plan.order[0]);
        ck_assert_int_eq(cost, tg_cost_pico(&plan.order[0]->price, &ev.usage));
    }
    /* without one it was random: the replay takes the expectation, 3:1 */
    ev.key[0] = '\0';
    ck_assert_int_eq(tg_calc_replay_event(cf, NULL, &ev, parts, &n, &cost), TG_REPLAY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(parts[0].usage.prompt, 750);
    ck_assert_int_eq(parts[0].usage.completion, 300);
    ck_assert_int_eq(parts[1].usage.prompt, 250);
    ck_assert_int_eq(parts[1].usage.completion, 100);
    /* 750 x 0.10 + 300 x 0.30 + 250 x 0.15 + 100 x 0.60 */
    ck_assert_int_eq(cost, 75000000 + 90000000 + 37500000 + 60000000);
}
END_TEST

static Suite *calc_suite(void)
{
    Suite *s = suite_create("calc");
    TCase *tc = tcase_create("calc");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ten_million_in_five_million_out_on_gpt4o_is_75_dollars);
    tcase_add_test(tc, four_use_cases_cost_155_a_day_and_4650_a_month_before);
    tcase_add_test(tc, a_proposed_configuration_and_overrides_change_the_after_cost);
    tcase_add_test(tc, weighted_rules_and_experiments_split_by_weight);
    tcase_add_test(tc, cached_share_per_request_sizes_and_exact_rounding);
    tcase_add_test(tc, profile_mistakes_are_reported_with_file_line_and_column);
    tcase_add_test(tc, replay_reproduces_actual_costs_and_reprices_a_proposal);
    tcase_add_test(tc, replay_sticks_to_the_key_or_splits_by_weight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(calc_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
