/*
 * Unit tests for shared/tg_route.c and shared/tg_config_routes.c: the routes section compiles
 * with file:line:col errors, rules match in order on task and complexity (explicit labels or an
 * estimated score against the route's threshold), strategies order the targets (priority,
 * weighted with stickiness, cheapest, least-latency), fallbacks follow without repeats, and
 * targets that cannot serve a request are skipped with the reason.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_config.h"
#include "shared/tg_json_scan.h"
#include "shared/tg_route.h"
#include "shared/tg_route_req.h"
#include "tests/unit/tg_config_fixture.h"

#define MODELS                                                                                     \
    "listen: [\"127.0.0.1:8080\"]\n"                                                               \
    "providers:\n"                                                                                 \
    "  p: {kind: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"                                   \
    "models:\n"                                                                                    \
    "  gpt-4o: {provider: p, price: {input: 2.50, output: 10.00}, context_window: 128000,\n"       \
    "           capabilities: [tools, vision, json]}\n"                                            \
    "  deepseek-v3: {provider: p, price: {input: 0.27, output: 1.10}, context_window: 64000,\n"    \
    "                capabilities: [tools, json]}\n"                                               \
    "  qwen3-32b: {provider: p, price: {input: 0.10, output: 0.30}, context_window: 32000}\n"      \
    "  deepseek-r1: {provider: p, price: {input: 0.55, output: 2.19}, context_window: 64000}\n"    \
    "  gpt-4o-mini: {provider: p, price: {input: 0.15, output: 0.60}, context_window: 128000,\n"   \
    "                capabilities: [tools, vision, json]}\n"

/* The issue's classic table as a route. */
#define AUTO_ROUTE                                                                                 \
    "routes:\n"                                                                                    \
    "  auto:\n"                                                                                    \
    "    baseline: gpt-4o\n"                                                                       \
    "    complexity_threshold: 0.4\n"                                                              \
    "    rules:\n"                                                                                 \
    "      - {task: faq, complexity: [simple, complex], targets: [deepseek-v3]}\n"                 \
    "      - {task: code_review, complexity: simple, targets: [qwen3-32b]}\n"                      \
    "      - {task: code_review, complexity: complex, targets: [deepseek-r1]}\n"                   \
    "      - {task: content, complexity: creative, targets: [gpt-4o]}\n"                           \
    "      - {task: content, complexity: factual, targets: [deepseek-v3]}\n"                       \
    "      - {task: extraction, complexity: structured, targets: [qwen3-32b]}\n"                   \
    "      - {task: extraction, complexity: complex, targets: [gpt-4o]}\n"                         \
    "      - targets: [deepseek-v3]\n"                                                             \
    "    fallback: [gpt-4o-mini, deepseek-v3]\n"

static tg_config_t *cf;
static const tg_route_t *rt;

static void setup(void)
{
    char err[512];

    cf = load(MODELS AUTO_ROUTE, err, sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    rt = tg_config_route(cf, "auto", 4);
    ck_assert_ptr_nonnull(rt);
}

static void teardown(void)
{
    tg_config_unref(cf);
}

static const char *decide_first(const char *task, const char *cx, tg_route_plan_t *plan)
{
    tg_route_input_t in = {.task = task, .complexity = cx, .prompt_tokens = 100};

    tg_route_decide(rt, &in, plan);
    return plan->n > 0 ? plan->order[0]->name : "(none)";
}

START_TEST(config_compiles_the_classic_table)
{
    ck_assert_str_eq(rt->name, "auto");
    ck_assert_uint_eq(rt->nrules, 8);
    ck_assert_str_eq(rt->baseline->name, "gpt-4o");
    ck_assert(fabs(rt->complexity_threshold - 0.4) < 1e-9);
    ck_assert_int_eq(rt->max_attempts, 3);
    ck_assert_uint_eq(rt->nfallback, 2);
    ck_assert_uint_eq(rt->rules[0].ntasks, 1);
    ck_assert_uint_eq(rt->rules[0].ncomplexities, 2);
    ck_assert_uint_eq(rt->rules[7].ntasks, 0);
    ck_assert_uint_eq(rt->rules[1].line, 19);
    ck_assert_ptr_null(tg_config_route(cf, "aut", 3));
    ck_assert_ptr_null(tg_config_route(cf, "gpt-4o", 6));
}
END_TEST

START_TEST(rules_match_the_issue_table)
{
    static const char *const cases[][3] = {
        {"faq", "simple", "deepseek-v3"},          {"faq", "complex", "deepseek-v3"},
        {"code_review", "simple", "qwen3-32b"},    {"code_review", "complex", "deepseek-r1"},
        {"content", "creative", "gpt-4o"},         {"content", "factual", "deepseek-v3"},
        {"extraction", "structured", "qwen3-32b"}, {"extraction", "complex", "gpt-4o"},
        {"unknown-task", "simple", "deepseek-v3"}, {NULL, NULL, "deepseek-v3"},
    };
    tg_route_plan_t plan;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(strcmp(decide_first(cases[i][0], cases[i][1], &plan), cases[i][2]) == 0,
                      "%s/%s -> %s", cases[i][0], cases[i][1], plan.order[0]->name);
    decide_first("content", "creative", &plan);
    ck_assert_int_eq(plan.rule_index, 3);
    ck_assert_str_eq(plan.complexity, "creative");
    /* fallbacks follow, without repeating a target */
    ck_assert_uint_eq(plan.n, 3);
    ck_assert_str_eq(plan.order[1]->name, "gpt-4o-mini");
    ck_assert_str_eq(plan.order[2]->name, "deepseek-v3");
    decide_first("faq", "simple", &plan);
    ck_assert_uint_eq(plan.n, 2);
}
END_TEST

START_TEST(estimated_score_against_threshold)
{
    tg_route_input_t in = {.task = "code_review", .have_score = 1, .score = 0.39,
                           .prompt_tokens = 10};
    tg_route_plan_t plan;

    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.complexity, "simple");
    ck_assert_str_eq(plan.order[0]->name, "qwen3-32b");
    in.score = 0.4;
    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.complexity, "complex");
    ck_assert_str_eq(plan.order[0]->name, "deepseek-r1");
    /* an explicit label wins over the score */
    in.complexity = "simple";
    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.order[0]->name, "qwen3-32b");
}
END_TEST

static int no_gpt4o(const tg_model_t *m, void *arg)
{
    (void)arg;
    return strcmp(m->name, "gpt-4o") != 0;
}

START_TEST(ineligible_targets_are_skipped_with_the_reason)
{
    tg_route_input_t in = {.task = "extraction", .complexity = "structured",
                           .prompt_tokens = 40000, .max_tokens = 1000};
    tg_route_plan_t plan;

    /* qwen3-32b has 32k context: skipped; the fallbacks serve */
    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.order[0]->name, "gpt-4o-mini");
    ck_assert_uint_eq(plan.nskipped, 1);
    ck_assert_str_eq(plan.skipped[0].model->name, "qwen3-32b");
    ck_assert_str_eq(plan.skipped[0].why, "context window too small");
    /* tools: deepseek-v3 declares tools; a model declaring no capabilities is not judged */
    in.prompt_tokens = 10;
    in.needs = TG_CAP_VISION;
    in.task = "faq";
    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.order[0]->name, "gpt-4o-mini");
    ck_assert_str_eq(plan.skipped[0].why, "no image input");
    /* the key's allowed models */
    in.needs = 0;
    in.task = "content";
    in.complexity = "creative";
    in.allowed = no_gpt4o;
    tg_route_decide(rt, &in, &plan);
    ck_assert_str_eq(plan.order[0]->name, "gpt-4o-mini");
    ck_assert_str_eq(plan.skipped[0].why, "not allowed for this key");
    /* nothing eligible at all */
    in.prompt_tokens = 10000000;
    tg_route_decide(rt, &in, &plan);
    ck_assert_uint_eq(plan.n, 0);
}
END_TEST

START_TEST(cheapest_orders_by_expected_cost)
{
    char err[512];
    tg_config_t *c2 = load(MODELS "routes:\n  cheap:\n    strategy: cheapest\n"
                                  "    targets: [gpt-4o, deepseek-r1, qwen3-32b, gpt-4o-mini]\n",
                           err, sizeof(err));
    tg_route_input_t in = {.prompt_tokens = 1000, .max_tokens = 100};
    tg_route_plan_t plan;

    ck_assert_msg(c2 != NULL, "%s", err);
    tg_route_decide(tg_config_route(c2, "cheap", 5), &in, &plan);
    ck_assert_uint_eq(plan.n, 4);
    ck_assert_str_eq(plan.order[0]->name, "qwen3-32b");
    ck_assert_str_eq(plan.order[1]->name, "gpt-4o-mini");
    ck_assert_str_eq(plan.order[2]->name, "deepseek-r1");
    ck_assert_str_eq(plan.order[3]->name, "gpt-4o");
    ck_assert_str_eq(tg_strategy_name(plan.strategy), "cheapest");
    /* 1000 in + 100 out on gpt-4o: $0.0025 + $0.001 */
    ck_assert_int_eq(tg_route_expected_cost(plan.order[3], 1000, 100), 3500000000LL);
    tg_config_unref(c2);
}
END_TEST

static double fake_latency(const tg_model_t *m, void *arg)
{
    (void)arg;
    if (strcmp(m->name, "gpt-4o") == 0)
        return 900;
    if (strcmp(m->name, "deepseek-v3") == 0)
        return 300;
    return -1; /* unmeasured */
}

START_TEST(least_latency_puts_unmeasured_then_fastest_first)
{
    char err[512];
    tg_config_t *c2 = load(MODELS "routes:\n  fast:\n    strategy: least-latency\n"
                                  "    targets: [gpt-4o, deepseek-v3, qwen3-32b]\n",
                           err, sizeof(err));
    tg_route_input_t in = {.latency = fake_latency};
    tg_route_plan_t plan;

    ck_assert_msg(c2 != NULL, "%s", err);
    tg_route_decide(tg_config_route(c2, "fast", 4), &in, &plan);
    ck_assert_str_eq(plan.order[0]->name, "qwen3-32b");
    ck_assert_str_eq(plan.order[1]->name, "deepseek-v3");
    ck_assert_str_eq(plan.order[2]->name, "gpt-4o");
    tg_config_unref(c2);
}
END_TEST

START_TEST(weighted_split_is_sticky_and_follows_the_weights)
{
    char err[512];
    tg_config_t *c2 = load(MODELS "routes:\n  ab:\n    strategy: weighted\n    targets:\n"
                                  "      - {model: deepseek-v3, weight: 80}\n"
                                  "      - {model: gpt-4o, weight: 20}\n",
                           err, sizeof(err));
    const tg_route_t *ab;
    tg_route_plan_t plan;
    int first = 0;

    ck_assert_msg(c2 != NULL, "%s", err);
    ab = tg_config_route(c2, "ab", 2);
    for (int i = 0; i < 10000; i++) {
        char who[32];
        tg_route_input_t in = {.sticky = who};
        const tg_model_t *pick;

        snprintf(who, sizeof(who), "key-%d", i);
        tg_route_decide(ab, &in, &plan);
        ck_assert_uint_eq(plan.n, 2); /* the other target stays as the fallback */
        pick = plan.order[0];
        first += strcmp(pick->name, "deepseek-v3") == 0;
        /* the same key always gets the same pick */
        tg_route_decide(ab, &in, &plan);
        ck_assert_ptr_eq(plan.order[0], pick);
    }
    /* 80% +- 2% over 10,000 keys */
    ck_assert_msg(first > 7800 && first < 8200, "deepseek-v3 first for %d of 10000", first);
    tg_config_unref(c2);
}
END_TEST

START_TEST(config_errors_name_the_place)
{
    expect_error(MODELS "routes:\n  r:\n    targets: [nope]\n",
                 "t.yaml:15:15: target \"nope\" is not a configured model");
    expect_error(MODELS "routes:\n  gpt-4o:\n    targets: [gpt-4o]\n",
                 "t.yaml:14:3: route \"gpt-4o\" has the name of a model");
    expect_error(MODELS "routes:\n  r:\n    targets: [{model: gpt-4o, weight: 5}]\n",
                 "weights only apply with strategy: weighted");
    expect_error(MODELS "routes:\n  r:\n    strategy: weighted\n    targets: [gpt-4o]\n",
                 "strategy weighted needs targets with a positive weight");
    expect_error(MODELS "routes:\n  r:\n    strategy: fastest\n    targets: [gpt-4o]\n",
                 "t.yaml:15:15: strategy must be priority, weighted, cheapest, least-latency or cascade");
    expect_error(MODELS "routes:\n  r:\n    rules: [{task: faq}]\n", "a rule needs targets");
    expect_error(MODELS "routes:\n  r: {rules: [{targets: [gpt-4o]}], targets: [gpt-4o]}\n",
                 "a route needs one of rules, targets or experiment");
    expect_error(MODELS "routes:\n  r:\n    targets: [gpt-4o, gpt-4o]\n",
                 "model \"gpt-4o\" is listed twice in targets");
    expect_error(MODELS "routes:\n  r:\n    complexity_threshold: 1.5\n    targets: [gpt-4o]\n",
                 "complexity_threshold must be a number from 0 to 1");
    expect_error(MODELS "routes:\n  r:\n    rules: [{task: \"a b\", targets: [gpt-4o]}]\n",
                 "task \"a b\" must be 1-128");
    expect_error(MODELS "routes:\n  r:\n    hedging: 1\n    targets: [gpt-4o]\n",
                 "unknown key \"hedging\" in a route");
    expect_error(MODELS "routes:\n  r:\n    hedge: {delay: soon}\n    targets: [gpt-4o]\n",
                 "t.yaml:15:20: delay (a duration or p95) must be a duration");
    expect_error(MODELS "routes:\n  r:\n    hedge: {max: 9}\n    targets: [gpt-4o]\n",
                 "max must be an integer from 0 to 3");
    expect_error(MODELS "routes:\n  r:\n    shadow: {target: gpt-4o}\n    targets: [gpt-4o]\n",
                 "shadow needs a target and a percent");
    expect_error(MODELS "routes:\n  r:\n    shadow: {target: gpt-4o, percent: 101}\n"
                        "    targets: [gpt-4o]\n",
                 "percent must be a number from 0 to 100");
    expect_error(MODELS "breaker: {error_rate: 2}\n", "t.yaml:13:23: error_rate must be a number");
    expect_error(MODELS "breaker: {cooldown: soon}\n", "cooldown must be a duration");
}
END_TEST

START_TEST(breaker_settings_and_defaults)
{
    char err[512];
    tg_config_t *c2;

    /* defaults (setup's config has no breaker section) */
    ck_assert_int_eq(cf->breaker.failures, 5);
    ck_assert(fabs(cf->breaker.error_rate - 0.5) < 1e-9);
    ck_assert_int_eq(cf->breaker.min_requests, 20);
    ck_assert_int_eq(cf->breaker.window_ms, 60000);
    ck_assert_int_eq(cf->breaker.cooldown_ms, 30000);
    c2 = load(MODELS "breaker: {failures: 2, error_rate: 0.25, min_requests: 4, window: 10s,"
                     " cooldown: 5s, probe_timeout: 2s}\n",
              err, sizeof(err));
    ck_assert_msg(c2 != NULL, "%s", err);
    ck_assert_int_eq(c2->breaker.failures, 2);
    ck_assert(fabs(c2->breaker.error_rate - 0.25) < 1e-9);
    ck_assert_int_eq(c2->breaker.min_requests, 4);
    ck_assert_int_eq(c2->breaker.window_ms, 10000);
    ck_assert_int_eq(c2->breaker.cooldown_ms, 5000);
    ck_assert_int_eq(c2->breaker.probe_ms, 2000);
    tg_config_unref(c2);
    c2 = load(MODELS "breaker: {enabled: false}\n", err, sizeof(err));
    ck_assert_msg(c2 != NULL, "%s", err);
    ck_assert_int_eq(c2->breaker.failures, 0);
    ck_assert(c2->breaker.error_rate == 0);
    tg_config_unref(c2);
}
END_TEST

START_TEST(experiment_splits_sticky_and_runs_variant_routes)
{
    char err[512];
    tg_config_t *c2 = load(MODELS AUTO_ROUTE
                           "  ab:\n"
                           "    experiment:\n"
                           "      name: cheap-vs-4o\n"
                           "      variants:\n"
                           "        - {name: control, weight: 30, targets: [gpt-4o]}\n"
                           "        - {name: routed, weight: 70, route: auto}\n"
                           "    fallback: [gpt-4o-mini]\n",
                           err, sizeof(err));
    const tg_route_t *ab;
    tg_route_plan_t plan;
    int control = 0;

    ck_assert_msg(c2 != NULL, "%s", err);
    ab = tg_config_route(c2, "ab", 2);
    ck_assert_str_eq(ab->experiment, "cheap-vs-4o");
    ck_assert_ptr_eq(ab->variants[1].route, tg_config_route(c2, "auto", 4));
    for (int i = 0; i < 4000; i++) {
        char who[32];
        tg_route_input_t in = {.sticky = who, .task = "faq", .complexity = "simple"};
        const char *v;

        snprintf(who, sizeof(who), "k%d", i);
        tg_route_decide(ab, &in, &plan);
        ck_assert_str_eq(plan.experiment, "cheap-vs-4o");
        v = plan.variant;
        if (strcmp(v, "control") == 0) {
            control++;
            ck_assert_str_eq(plan.order[0]->name, "gpt-4o");
            ck_assert_str_eq(plan.order[1]->name, "gpt-4o-mini"); /* the experiment's fallback */
        } else {
            /* the variant's route decided: its faq rule, its fallback, then the experiment's */
            ck_assert_str_eq(plan.order[0]->name, "deepseek-v3");
            ck_assert_int_eq(plan.rule_index, 0);
            ck_assert_str_eq(plan.order[1]->name, "gpt-4o-mini");
        }
        tg_route_decide(ab, &in, &plan);
        ck_assert_str_eq(plan.variant, v); /* sticky */
    }
    ck_assert_msg(control > 1080 && control < 1320, "control got %d of 4000", control);
    tg_config_unref(c2);
    expect_error(MODELS "routes:\n  ab:\n    experiment:\n      variants:\n"
                        "        - {name: a, weight: 1, route: nope}\n"
                        "        - {name: b, weight: 1, targets: [gpt-4o]}\n",
                 "t.yaml:17:39: route \"nope\" is not a configured route");
    expect_error(MODELS "routes:\n  ab:\n    experiment:\n      variants:\n"
                        "        - {name: a, weight: 1, targets: [gpt-4o]}\n",
                 "an experiment needs variants: a list of two or more");
    expect_error(MODELS "routes:\n  ab:\n    experiment:\n      variants:\n"
                        "        - {name: a, weight: 1, targets: [gpt-4o]}\n"
                        "        - {name: a, weight: 1, targets: [gpt-4o]}\n",
                 "variant \"a\" is listed twice");
    expect_error(MODELS "routes:\n  ab:\n    experiment:\n      variants:\n"
                        "        - {name: a, weight: 1, targets: [gpt-4o], route: x}\n"
                        "        - {name: b, weight: 1, targets: [gpt-4o]}\n",
                 "variant \"a\" needs either a route or targets");
}
END_TEST

static tg_route_req_t facts(const char *body, const char *hdr_task, const char *hdr_cx,
                            const char *key_task)
{
    tg_jscan_t scan;
    tg_route_req_t q;

    ck_assert_msg(tg_json_scan(body, strlen(body), NULL, 0, &scan) == 0, "fixture is not JSON: %s",
                  body);
    tg_route_req_read(body, strlen(body), hdr_task, hdr_cx, key_task, &q);
    return q;
}

START_TEST(request_facts_precedence)
{
    const char *body = "{\"model\":\"auto\",\"metadata\":{\"task\":\"faq\","
                       "\"complexity\":\"creative\"},\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"}],\"max_tokens\":50,\"user\":\"u7\"}";
    tg_route_req_t q;

    /* headers win over metadata, metadata over the key's default */
    q = facts(body, "code_review", "complex", "content");
    ck_assert_str_eq(q.task, "code_review");
    ck_assert_str_eq(q.task_source, "header");
    ck_assert_str_eq(q.complexity, "complex");
    ck_assert_str_eq(q.complexity_source, "header");
    q = facts(body, NULL, NULL, "content");
    ck_assert_str_eq(q.task, "faq");
    ck_assert_str_eq(q.task_source, "metadata");
    ck_assert_str_eq(q.complexity, "creative");
    ck_assert_int_eq(q.have_score, 0);
    ck_assert_int_eq(q.max_tokens, 50);
    ck_assert_str_eq(q.user, "u7");
    ck_assert_int_eq(q.prompt_tokens, ((int64_t)strlen(body) + 3) / 4);
    q = facts("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL,
              "content");
    ck_assert_str_eq(q.task, "content");
    ck_assert_str_eq(q.task_source, "key");
    /* a number is a score */
    q = facts(body, NULL, "0.75", NULL);
    ck_assert_int_eq(q.have_score, 1);
    ck_assert(fabs(q.score - 0.75) < 1e-9);
    ck_assert_str_eq(q.complexity, "");
}
END_TEST

START_TEST(request_facts_estimator_and_needs)
{
    tg_route_req_t easy = facts("{\"messages\":[{\"role\":\"system\",\"content\":\"Be "
                                "helpful.\"},{\"role\":\"user\",\"content\":\"hi\"}]}",
                                NULL, NULL, NULL);
    tg_route_req_t hard = facts(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"A train leaves at 3:15 pm at 80 km/h; a second leaves 45 minutes later at 110 km/h. "
        "Step by step, derive when the second overtakes the first, then prove your answer is "
        "correct and explain why the distance must be exactly equal.\"},{\"type\":"
        "\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
        "\"response_format\":{\"type\":\"json_object\"}}",
        NULL, NULL, NULL);

    ck_assert_int_eq(easy.have_score, 1);
    ck_assert_str_eq(easy.complexity_source, "estimator");
    ck_assert_int_eq(hard.have_score, 1);
    ck_assert_msg(hard.score > easy.score + 0.2, "hard %f easy %f", hard.score, easy.score);
    ck_assert_uint_eq(hard.needs, TG_CAP_TOOLS | TG_CAP_VISION | TG_CAP_JSON);
    ck_assert_uint_eq(easy.needs, 0);
    ck_assert(fabs(hard.cx.score - hard.score) < 1e-12);
    /* embeddings carry no text to judge: no complexity at all */
    easy = facts("{\"input\":\"x\"}", NULL, NULL, NULL);
    ck_assert_int_eq(easy.have_score, 0);
    ck_assert_ptr_null(easy.complexity_source);
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("route");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_compiles_the_classic_table);
    tcase_add_test(tc, rules_match_the_issue_table);
    tcase_add_test(tc, estimated_score_against_threshold);
    tcase_add_test(tc, ineligible_targets_are_skipped_with_the_reason);
    tcase_add_test(tc, cheapest_orders_by_expected_cost);
    tcase_add_test(tc, least_latency_puts_unmeasured_then_fastest_first);
    tcase_add_test(tc, weighted_split_is_sticky_and_follows_the_weights);
    tcase_add_test(tc, config_errors_name_the_place);
    tcase_add_test(tc, breaker_settings_and_defaults);
    tcase_add_test(tc, request_facts_precedence);
    tcase_add_test(tc, experiment_splits_sticky_and_runs_variant_routes);
    tcase_add_test(tc, request_facts_estimator_and_needs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
