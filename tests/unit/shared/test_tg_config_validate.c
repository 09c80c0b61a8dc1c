/*
 * Unit tests for shared/tg_config_validate.c, the `validate:` key of routes and rules. What must
 * hold: the issue's example compiles into validators that behave as configured, a rule's own
 * validate is kept beside the route's, and every mistake is reported at its file:line:col with
 * the reason (regerror()'s text for a bad regular expression); each expected error below is the
 * whole message. Leaks on error paths are caught by the sanitizer build.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_config.h"
#include "shared/tg_route.h"
#include "shared/tg_validate.h"
#include "tests/unit/tg_config_fixture.h"

/* Lines 1-6; routes start on line 7. */
#define MODELS                                                                                     \
    "listen: [\"127.0.0.1:8080\"]\n"                                                               \
    "providers:\n"                                                                                 \
    "  p: {kind: openai, base_url: \"http://127.0.0.1:1/v1\"}\n"                                   \
    "models:\n"                                                                                    \
    "  cheap: {provider: p, price: {input: 0.10, output: 0.30}, context_window: 32000}\n"          \
    "  strong: {provider: p, price: {input: 2.50, output: 10.00}, context_window: 128000}\n"

static int accepts(const tg_validators_t *v, const char *text, char *why, size_t whylen)
{
    return tg_validate_answer(v, text, strlen(text), NULL, why, whylen);
}

START_TEST(the_issue_example_compiles_and_behaves)
{
    const char *text = MODELS "routes:\n"
                              "  support:\n"
                              "    targets: [cheap, strong]\n"
                              "    validate: {min_length: 20, refusal: true, refusal_patterns: "
                              "[\"no idea\"], json: false, schema: true, regex: \"^[A-Z]\", "
                              "regex_forbid: \"lorem\", ignore_case: true}\n"
                              "  plain:\n"
                              "    targets: [cheap]\n";
    char err[512], why[128];
    tg_config_t *cf = load(text, err, sizeof(err));
    const tg_route_t *rt;

    ck_assert_msg(cf != NULL, "%s", err);
    rt = tg_config_route(cf, "support", 7);
    ck_assert_ptr_nonnull(rt);
    ck_assert_ptr_nonnull(rt->validate);
    ck_assert_int_eq(tg_validators_want_response_format(rt->validate), 1);
    ck_assert_int_eq(accepts(rt->validate, "Paris is the capital of France.", why, sizeof(why)), 1);
    ck_assert_int_eq(accepts(rt->validate, "Paris.", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "shorter than 20 characters (got 6)");
    ck_assert_int_eq(accepts(rt->validate, "No idea what the capital is, sorry.", why, sizeof(why)),
                     0);
    ck_assert_str_eq(why, "refusal: \"no idea\"");
    ck_assert_int_eq(accepts(rt->validate, "I don't know the capital of France.", why, sizeof(why)),
                     0);
    ck_assert_str_eq(why, "refusal: \"I don't know\"");
    /* ignore_case, written after the patterns, still applies to them */
    ck_assert_int_eq(accepts(rt->validate, "paris is the capital of France.", why, sizeof(why)), 1);
    ck_assert_int_eq(accepts(rt->validate, "Paris is the capital. LOREM ipsum.", why, sizeof(why)),
                     0);
    ck_assert_str_eq(why, "matches forbidden /lorem/i");
    ck_assert_int_eq(accepts(rt->validate, "42 is the answer to all of it.", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "does not match /^[A-Z]/i");
    /* a route without the key has no validators */
    rt = tg_config_route(cf, "plain", 5);
    ck_assert_ptr_nonnull(rt);
    ck_assert_ptr_null(rt->validate);
    ck_assert_ptr_null(rt->rules[0].validate);
    tg_config_unref(cf);
}
END_TEST

START_TEST(rules_may_have_their_own)
{
    const char *text = MODELS "routes:\n"
                              "  auto:\n"
                              "    validate: {min_length: 5}\n"
                              "    rules:\n"
                              "      - {task: extraction, targets: [cheap, strong],\n"
                              "         validate: {json: true}}\n"
                              "      - {targets: [cheap]}\n";
    char err[512], why[128];
    tg_config_t *cf = load(text, err, sizeof(err));
    const tg_route_t *rt;

    ck_assert_msg(cf != NULL, "%s", err);
    rt = tg_config_route(cf, "auto", 4);
    ck_assert_ptr_nonnull(rt);
    ck_assert_int_eq(rt->nrules, 2);
    ck_assert_ptr_nonnull(rt->validate);
    ck_assert_ptr_nonnull(rt->rules[0].validate);
    ck_assert_ptr_null(rt->rules[1].validate);
    /* the rule's set is its own, not merged with the route's */
    ck_assert_int_eq(accepts(rt->rules[0].validate, "[1]", why, sizeof(why)), 1);
    ck_assert_int_eq(accepts(rt->rules[0].validate, "words", why, sizeof(why)), 0);
    ck_assert_int_eq(strncmp(why, "not JSON: ", 10), 0);
    ck_assert_int_eq(accepts(rt->validate, "[1]", why, sizeof(why)), 0);
    ck_assert_str_eq(why, "shorter than 5 characters (got 3)");
    /* an empty mapping compiles to a set that accepts everything */
    tg_config_unref(cf);
    cf = load(MODELS "routes:\n  r:\n    targets: [cheap]\n    validate: {}\n", err, sizeof(err));
    ck_assert_msg(cf != NULL, "%s", err);
    rt = tg_config_route(cf, "r", 1);
    ck_assert_ptr_nonnull(rt->validate);
    ck_assert_int_eq(accepts(rt->validate, "", why, sizeof(why)), 1);
    tg_config_unref(cf);
}
END_TEST

#define ROUTE MODELS "routes:\n  r:\n    targets: [cheap]\n"

START_TEST(errors_name_the_place)
{
    /* ROUTE ends on line 9: every validate below is on line 10 unless it spans lines */
    expect_error(ROUTE "    validate: {regex: \"(ab\"}\n",
                 "t.yaml:10:23: regex: Unmatched ( or \\(");
    expect_error(ROUTE "    validate: {regex: a, regex_forbid: \"[a\"}\n",
                 "t.yaml:10:40: regex_forbid: Unmatched [, [^, [:, [., or [=");
    expect_error(ROUTE "    validate: {ignore_case: true, regex: \"a{2,1}\"}\n",
                 "t.yaml:10:42: regex: Invalid content of \\{\\}");
    expect_error(ROUTE "    validate: {regex: \"\"}\n", "t.yaml:10:23: regex: empty pattern");
    expect_error(ROUTE "    validate: {regex: [a]}\n",
                 "t.yaml:10:23: regex must be a scalar value");
    expect_error(ROUTE "    validate: {min_len: 20}\n",
                 "t.yaml:10:16: unknown key \"min_len\" in validate (min_length, refusal, "
                 "refusal_patterns, json, schema, regex, regex_forbid, ignore_case)");
    expect_error(ROUTE "    validate: {min_length: twenty}\n",
                 "t.yaml:10:28: min_length must be an integer from 0 to 1000000, not \"twenty\"");
    expect_error(ROUTE "    validate: {min_length: -1}\n",
                 "t.yaml:10:28: min_length must be an integer from 0 to 1000000, not \"-1\"");
    expect_error(ROUTE "    validate: {refusal: maybe}\n",
                 "t.yaml:10:25: refusal must be true or false, not \"maybe\"");
    expect_error(ROUTE "    validate: {json: 1}\n",
                 "t.yaml:10:22: json must be true or false, not \"1\"");
    expect_error(ROUTE "    validate: {schema: [true]}\n",
                 "t.yaml:10:24: schema must be a scalar value");
    expect_error(ROUTE "    validate: {ignore_case: yes please}\n",
                 "t.yaml:10:29: ignore_case must be true or false, not \"yes please\"");
    expect_error(ROUTE "    validate: {refusal_patterns: \"no idea\"}\n",
                 "t.yaml:10:34: refusal_patterns must be a list of phrases");
    expect_error(ROUTE "    validate:\n"
                       "      refusal_patterns:\n"
                       "        - no idea\n"
                       "        - \"  \"\n",
                 "t.yaml:13:11: refusal_patterns: a phrase must have 1 to 200 bytes");
    expect_error(ROUTE "    validate: {refusal_patterns: [ok, {a: 1}]}\n",
                 "t.yaml:10:39: a refusal pattern must be a scalar value");
    expect_error(ROUTE "    validate: true\n", "t.yaml:10:15: validate must be a mapping");
    expect_error(ROUTE "    validate: {json: true, json: false}\n",
                 "t.yaml:10:28: duplicate key \"json\" in validate");
    expect_error(MODELS "routes:\n  r:\n    rules:\n      - {targets: [cheap], validate: {x: 1}}\n",
                 "t.yaml:10:39: unknown key \"x\" in validate (min_length, refusal, "
                 "refusal_patterns, json, schema, regex, regex_forbid, ignore_case)");
    expect_error(MODELS "routes:\n  r:\n    rules:\n      - {targets: [cheap], validates: {}}\n",
                 "t.yaml:10:28: unknown key \"validates\" in a rule (task, complexity, targets, "
                 "strategy, validate)");
}
END_TEST

START_TEST(too_many_phrases)
{
    char text[4096];
    size_t off = (size_t)snprintf(text, sizeof(text), "%s",
                                  ROUTE "    validate:\n      refusal_patterns: [");

    for (int i = 0; i <= TG_VALIDATE_PATTERNS_MAX; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "%sp%d", i ? ", " : "", i);
    snprintf(text + off, sizeof(text) - off, "]\n");
    expect_error(text, "t.yaml:11:25: refusal_patterns may list at most 64 phrases");
}
END_TEST

static Suite *config_validate_suite(void)
{
    Suite *s = suite_create("config_validate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, the_issue_example_compiles_and_behaves);
    tcase_add_test(tc, rules_may_have_their_own);
    tcase_add_test(tc, errors_name_the_place);
    tcase_add_test(tc, too_many_phrases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_validate_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
