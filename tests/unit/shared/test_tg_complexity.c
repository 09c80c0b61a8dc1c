/*
 * Unit tests for shared/tg_complexity.c, the prompt complexity estimator. What must hold: each
 * feature sees the evidence it claims to (and not look-alikes: hyphens, markdown, words that
 * merely contain a keyword), the score stays in [0, 1] for any bytes, the breakdown adds up to
 * the score, a long multi-step math or code prompt outranks "hi", and the result never varies.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_complexity.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
/* clang-format off */
#define MSG(r, t) {.role = (r), .text = (t), .len = sizeof(t) - 1}
/* clang-format on */

static double score_of(const char *text, tg_cx_explain_t *ex)
{
    return tg_complexity_score_text(text, strlen(text), ex);
}

static tg_cx_counts_t counts_of(const char *text)
{
    tg_cx_explain_t ex;

    score_of(text, &ex);
    return ex.counts;
}

/* ---- tables and weights ------------------------------------------------------------------ */

START_TEST(self_check_passes)
{
    ck_assert_int_eq(tg_complexity_self_check(), 0);
}
END_TEST

START_TEST(weights_are_non_negative_and_sum_to_one)
{
    double sum = 0;

    for (int f = 0; f < TG_CX_NFEATURES; f++) {
        ck_assert_msg(tg_complexity_weight((tg_cx_feature_t)f) >= 0, "feature %d", f);
        ck_assert_ptr_nonnull(tg_complexity_feature_name((tg_cx_feature_t)f));
        sum += tg_complexity_weight((tg_cx_feature_t)f);
    }
    ck_assert_double_eq_tol(sum, 1.0, 1e-12);
    ck_assert_ptr_null(tg_complexity_feature_name(TG_CX_NFEATURES));
    ck_assert_double_eq(tg_complexity_weight(TG_CX_NFEATURES), 0);
    ck_assert_str_eq(tg_complexity_feature_name(TG_CX_LENGTH), "length");
    ck_assert_str_eq(tg_complexity_feature_name(TG_CX_TOOLS), "tools");
}
END_TEST

/* ---- features ---------------------------------------------------------------------------- */

START_TEST(code_counts_fences_keywords_and_marks)
{
    tg_cx_counts_t c = counts_of("Fix this Python:\n```\ndef f(x):\n    if x == 1 { y = 2; }\n"
                                 "    return x -> y && z || w :: v != u => t\n```\n");

    ck_assert_uint_eq(c.fences, 2);
    ck_assert_uint_eq(c.code_words, 2); /* python, def; "return" is too common in prose */
    /* == { ; } -> && || :: != => */
    ck_assert_uint_eq(c.code_marks, 10);
}
END_TEST

START_TEST(math_counts_numbers_operators_and_notation)
{
    tg_cx_counts_t c = counts_of("If 3 + 4 * 2 = x, what is 15% of $1,250.50? "
                                 "Simplify $\\frac{1}{2} \\cdot y$ and 7 × 6 ≤ 50.");

    /* 3 4 2 15 1,250.50 1 2 7 6 50 */
    ck_assert_uint_eq(c.numbers, 10);
    /* + * = × ≤ */
    ck_assert_uint_eq(c.operators, 5);
    ck_assert_uint_eq(c.percents, 1);
    ck_assert_uint_eq(c.currency, 1);
    /* "$\" opening inline math, \frac and \cdot */
    ck_assert_uint_eq(c.latex, 3);
}
END_TEST

START_TEST(math_ignores_hyphens_markdown_and_slashes_in_prose)
{
    tg_cx_counts_t c = counts_of("A 5-year-old and/or a **bold** <div> well-known - item");

    ck_assert_uint_eq(c.operators, 0);
    c = counts_of("10 - 4 and (3) - 1 and 2-1");
    ck_assert_uint_eq(c.operators, 3);
}
END_TEST

START_TEST(phrases_match_any_case)
{
    tg_cx_counts_t c = counts_of("HOW MANY apples and How much money? Explain it Step By Step.");

    ck_assert_uint_eq(c.math_words, 2);
    ck_assert_uint_eq(c.reasoning, 2); /* explain, step by step */
    c = counts_of("Use at least 3 and AT MOST 5 items, no more than 2 lists; do not repeat.");
    /* at least, at most, no more than, do not; "lists" is not "list" */
    ck_assert_uint_eq(c.constraints, 4);
    c = counts_of("She has 3 more than twice his count.");
    ck_assert_uint_eq(c.step_words, 2); /* "more than", twice */
    ck_assert_uint_eq(c.constraints, 0);
}
END_TEST

START_TEST(phrases_never_span_punctuation)
{
    tg_cx_counts_t c = counts_of("I know how. Many people, at. Least of all step by, step");

    ck_assert_uint_eq(c.math_words, 0);
    ck_assert_uint_eq(c.constraints, 0);
    ck_assert_uint_eq(c.reasoning, 0);
}
END_TEST

START_TEST(keywords_are_whole_words)
{
    /* approve, proven, improve and proofs contain "prove" or "proof" but are not them. */
    tg_cx_counts_t c = counts_of("approve proven improve proofs Prove PROOF why Why");

    ck_assert_uint_eq(c.reasoning, 4);
    ck_assert_uint_eq(c.words, 8);
}
END_TEST

START_TEST(reasoning_and_steps_cues)
{
    tg_cx_counts_t c = counts_of("Compare the two, derive the bound, and justify each step. "
                                 "Then calculate the total after tax.");

    /* compare, derive, justify, calculate */
    ck_assert_uint_eq(c.reasoning, 4);
    /* each, then, total, after */
    ck_assert_uint_eq(c.step_words, 4);
    ck_assert_uint_eq(c.sentences, 2);
}
END_TEST

START_TEST(questions_and_sentences)
{
    tg_cx_counts_t c = counts_of("Who? What is 3.5 m? Why... e.g. this! Done");

    ck_assert_uint_eq(c.questions, 2);
    /* "Who?", "m?", "this!"; "3.5" and "..." are not sentence ends, "e.g." is one */
    ck_assert_uint_eq(c.sentences, 4);
}
END_TEST

START_TEST(non_ascii_text_is_words_not_numbers)
{
    /* "Janet’s" uses U+2019; Greek and accented words are words but never keywords. */
    tg_cx_counts_t c = counts_of("Janet’s café: λόγος prove");

    ck_assert_uint_eq(c.words, 4);
    ck_assert_uint_eq(c.numbers, 0);
    ck_assert_uint_eq(c.operators, 0);
    ck_assert_uint_eq(c.reasoning, 1);
}
END_TEST

START_TEST(reads_exactly_len_bytes)
{
    static const char text[] = "prove 12 ```"; /* only "prove 1" is passed */
    tg_cx_explain_t ex;

    tg_complexity_score_text(text, 7, &ex);
    ck_assert_uint_eq(ex.counts.bytes, 7);
    ck_assert_uint_eq(ex.counts.reasoning, 1);
    ck_assert_uint_eq(ex.counts.numbers, 1);
    ck_assert_uint_eq(ex.counts.fences, 0);
    ck_assert_double_eq(tg_complexity_score_text(NULL, 0, NULL), 0);
}
END_TEST

START_TEST(length_is_logarithmic_and_saturates)
{
    char *big = malloc(64 * 1024);
    tg_cx_explain_t ex;
    double prev = -1;

    ck_assert_ptr_nonnull(big);
    memset(big, 'a', 64 * 1024);
    /* 16 tokens (64 bytes) and less is 0; every doubling adds 1/7; 2048 tokens and more is 1 */
    for (size_t len = 64; len <= 8192; len *= 2) {
        tg_complexity_score_text(big, len, &ex);
        ck_assert_double_eq_tol(ex.value[TG_CX_LENGTH], (double)(__builtin_ctzl(len) - 6) / 7.0,
                                1e-12);
        ck_assert(ex.value[TG_CX_LENGTH] > prev);
        prev = ex.value[TG_CX_LENGTH];
    }
    tg_complexity_score_text(big, 40, &ex);
    ck_assert_double_eq(ex.value[TG_CX_LENGTH], 0);
    tg_complexity_score_text(big, 64 * 1024, &ex);
    ck_assert_double_eq(ex.value[TG_CX_LENGTH], 1);
    free(big);
}
END_TEST

/* ---- requests ---------------------------------------------------------------------------- */

START_TEST(only_user_text_is_scanned)
{
    tg_cx_msg_t msgs[] = {
        MSG(TG_CX_ROLE_SYSTEM, "Always prove everything step by step in JSON."),
        MSG(TG_CX_ROLE_USER, "hello"),
        MSG(TG_CX_ROLE_ASSISTANT, "Let me derive 2 + 2 = 4."),
        MSG(TG_CX_ROLE_TOOL, "{\"x\": 1}"),
        MSG(TG_CX_ROLE_USER, "why?"),
    };
    tg_cx_explain_t ex;

    tg_complexity_score(msgs, NELEM(msgs), 0, &ex);
    ck_assert_uint_eq(ex.counts.bytes, 9);
    ck_assert_uint_eq(ex.counts.reasoning, 1); /* "why", not the system's or assistant's */
    ck_assert_uint_eq(ex.counts.numbers, 0);
    ck_assert_uint_eq(ex.counts.constraints, 0);
    ck_assert_uint_eq(ex.counts.code_marks, 0);
    ck_assert_uint_eq(ex.counts.turns, 3);
}
END_TEST

START_TEST(turns_count_runs_of_a_role)
{
    tg_cx_msg_t parts[] = {
        MSG(TG_CX_ROLE_USER, "part one"),
        MSG(TG_CX_ROLE_USER, "part two"),
    };
    tg_cx_msg_t chat[8];
    tg_cx_explain_t ex;

    tg_complexity_score(parts, NELEM(parts), 0, &ex);
    ck_assert_uint_eq(ex.counts.turns, 1);
    ck_assert_double_eq(ex.value[TG_CX_TURNS], 0);
    for (size_t i = 0; i < NELEM(chat); i++) {
        chat[i] = (tg_cx_msg_t){
            .role = i % 2 ? TG_CX_ROLE_ASSISTANT : TG_CX_ROLE_USER, .text = "ok", .len = 2};
    }
    tg_complexity_score(chat, NELEM(chat), 0, &ex);
    ck_assert_uint_eq(ex.counts.turns, 8);
    /* 7 turns beyond the first, half-saturated at 4: 7 / 11 */
    ck_assert_double_eq_tol(ex.value[TG_CX_TURNS], 7.0 / 11.0, 1e-12);
}
END_TEST

START_TEST(request_flags_raise_tools_and_constraints)
{
    tg_cx_msg_t msg = MSG(TG_CX_ROLE_USER, "list the planets");
    tg_cx_explain_t plain, flagged;

    tg_complexity_score(&msg, 1, 0, &plain);
    tg_complexity_score(&msg, 1, TG_CX_REQ_TOOLS | TG_CX_REQ_JSON, &flagged);
    ck_assert_double_eq(plain.value[TG_CX_TOOLS], 0);
    ck_assert_double_eq(flagged.value[TG_CX_TOOLS], 1);
    ck_assert(flagged.value[TG_CX_CONSTRAINTS] > plain.value[TG_CX_CONSTRAINTS]);
    ck_assert(flagged.score > plain.score);
}
END_TEST

START_TEST(scan_budget_reads_the_newest_text)
{
    size_t big = 3 * TG_CX_SCAN_MAX;
    char *old = malloc(big), *last = malloc(big);
    tg_cx_msg_t msgs[2];
    tg_cx_explain_t ex;

    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_nonnull(last);
    /* The old message is all "why " cues; the newest is filler ending in one "prove". */
    for (size_t i = 0; i + 4 <= big; i += 4) {
        memcpy(old + i, "why ", 4);
        memcpy(last + i, "xxx ", 4);
    }
    memcpy(last + big - 7, " prove.", 7);
    msgs[0] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER, .text = old, .len = big};
    msgs[1] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER, .text = last, .len = big};
    tg_complexity_score(msgs, 2, 0, &ex);
    ck_assert_uint_eq(ex.counts.bytes, 2 * big);
    ck_assert_uint_eq(ex.counts.scanned, TG_CX_SCAN_MAX);
    ck_assert_uint_eq(ex.counts.reasoning, 1);
    ck_assert_double_eq(ex.value[TG_CX_LENGTH], 1);
    free(old);
    free(last);
}
END_TEST

START_TEST(tails_with_skipped_bytes_score_as_the_whole_text)
{
    /* What a caller that decodes only the tail the scan reads passes gives the same answer. */
    static const char sys[] = "Be brief.", first[] = "Compute 17 * 23 and explain why.";
    size_t big = TG_CX_SCAN_MAX + 1000;
    char *last = malloc(big);
    tg_cx_msg_t whole[4], tails[4];
    tg_cx_explain_t a, b;

    ck_assert_ptr_nonnull(last);
    for (size_t i = 0; i < big; i++)
        last[i] = "step by step, then prove it: 3 + 4 = 7. "[i % 40];
    whole[0] = (tg_cx_msg_t){.role = TG_CX_ROLE_SYSTEM, .text = sys, .len = sizeof(sys) - 1};
    whole[1] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER, .text = first, .len = sizeof(first) - 1};
    whole[2] = (tg_cx_msg_t){.role = TG_CX_ROLE_ASSISTANT, .text = "ok", .len = 2};
    whole[3] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER, .text = last, .len = big};
    memcpy(tails, whole, sizeof(whole));
    /* the newest message: its last TG_CX_SCAN_MAX bytes; then nothing of the older one */
    tails[3] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER,
                             .text = last + big - TG_CX_SCAN_MAX,
                             .len = TG_CX_SCAN_MAX,
                             .skipped = big - TG_CX_SCAN_MAX};
    tails[1] = (tg_cx_msg_t){.role = TG_CX_ROLE_USER, .text = "", .skipped = sizeof(first) - 1};
    tg_complexity_score(whole, 4, TG_CX_REQ_TOOLS, &a);
    tg_complexity_score(tails, 4, TG_CX_REQ_TOOLS, &b);
    ck_assert(memcmp(&a.counts, &b.counts, sizeof(a.counts)) == 0);
    ck_assert(a.score == b.score);
    ck_assert_uint_eq(b.counts.bytes, big + sizeof(first) - 1);
    ck_assert_uint_eq(b.counts.scanned, TG_CX_SCAN_MAX);
    free(last);
}
END_TEST

/* ---- the score --------------------------------------------------------------------------- */

static const char *const samples[] = {
    "",
    "hi",
    "What is the capital of France?",
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' "
    "market daily for $2 per fresh duck egg. How much in dollars does she make every day?",
    "Write a Python function that parses RFC 4180 CSV. It must handle quoted fields, \"\" "
    "escapes and CRLF.\n```python\ndef parse(text):\n    rows = []\n    for line in text:\n"
    "        if line == '': continue\n    return rows\n```\nExplain why each step is needed, "
    "then prove it terminates. Return exactly one JSON object; do not use regex.",
    "Prove step by step that the sum of the first n odd numbers is n^2. Then derive a "
    "closed form for \\sum_{k=1}^{n} k^3, compare both proofs, and explain why induction "
    "works. Show at least 3 steps. What is 1 + 3 + 5 + 7? How many terms sum to 400?",
};

START_TEST(score_is_in_unit_interval_and_explained)
{
    for (size_t i = 0; i < NELEM(samples); i++) {
        tg_cx_explain_t ex;
        double s = score_of(samples[i], &ex), sum = 0;

        ck_assert_msg(s >= 0 && s <= 1, "sample %zu: %f", i, s);
        ck_assert(s == ex.score);
        for (int f = 0; f < TG_CX_NFEATURES; f++) {
            ck_assert(ex.value[f] >= 0 && ex.value[f] <= 1);
            ck_assert_double_eq_tol(ex.contrib[f],
                                    tg_complexity_weight((tg_cx_feature_t)f) * ex.value[f], 1e-15);
            sum += ex.contrib[f];
        }
        ck_assert_double_eq_tol(sum, s, 1e-12);
    }
}
END_TEST

START_TEST(score_of_any_bytes_is_in_unit_interval)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    unsigned char buf[512];
    tg_cx_msg_t msg = {.role = TG_CX_ROLE_USER, .text = (const char *)buf};

    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(x % sizeof(buf));
        double s;

        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        msg.len = len;
        s = tg_complexity_score(&msg, 1, (unsigned)round & 3u, NULL);
        ck_assert_msg(s >= 0 && s <= 1, "round %d: %f", round, s);
    }
}
END_TEST

START_TEST(complex_prompts_outrank_simple_ones)
{
    double hi = score_of("hi", NULL);
    double capital = score_of(samples[2], NULL);
    double code = score_of(samples[4], NULL);
    double proof = score_of(samples[5], NULL);

    /* Short questions sit at the bottom of the scale; the two long tasks well above them. */
    ck_assert(hi < 0.05);
    ck_assert(capital < 0.05);
    ck_assert_msg(code > capital + 0.3, "code %f capital %f", code, capital);
    ck_assert_msg(proof > capital + 0.3, "proof %f capital %f", proof, capital);
    ck_assert_double_eq(score_of("", NULL), 0);
}
END_TEST

START_TEST(score_is_deterministic)
{
    for (size_t i = 0; i < NELEM(samples); i++) {
        tg_cx_explain_t a, b;

        memset(&a, 0xAA, sizeof(a));
        memset(&b, 0x55, sizeof(b));
        score_of(samples[i], &a);
        score_of(samples[i], &b);
        ck_assert_msg(memcmp(&a, &b, sizeof(a)) == 0, "sample %zu", i);
    }
}
END_TEST

static Suite *tg_complexity_suite(void)
{
    Suite *s = suite_create("tg_complexity");
    TCase *tc = tcase_create("tables");

    tcase_add_test(tc, self_check_passes);
    tcase_add_test(tc, weights_are_non_negative_and_sum_to_one);
    suite_add_tcase(s, tc);

    tc = tcase_create("features");
    tcase_add_test(tc, code_counts_fences_keywords_and_marks);
    tcase_add_test(tc, math_counts_numbers_operators_and_notation);
    tcase_add_test(tc, math_ignores_hyphens_markdown_and_slashes_in_prose);
    tcase_add_test(tc, phrases_match_any_case);
    tcase_add_test(tc, phrases_never_span_punctuation);
    tcase_add_test(tc, keywords_are_whole_words);
    tcase_add_test(tc, reasoning_and_steps_cues);
    tcase_add_test(tc, questions_and_sentences);
    tcase_add_test(tc, non_ascii_text_is_words_not_numbers);
    tcase_add_test(tc, reads_exactly_len_bytes);
    tcase_add_test(tc, length_is_logarithmic_and_saturates);
    suite_add_tcase(s, tc);

    tc = tcase_create("requests");
    tcase_add_test(tc, only_user_text_is_scanned);
    tcase_add_test(tc, turns_count_runs_of_a_role);
    tcase_add_test(tc, request_flags_raise_tools_and_constraints);
    tcase_add_test(tc, scan_budget_reads_the_newest_text);
    tcase_add_test(tc, tails_with_skipped_bytes_score_as_the_whole_text);
    suite_add_tcase(s, tc);

    tc = tcase_create("score");
    tcase_add_test(tc, score_is_in_unit_interval_and_explained);
    tcase_add_test(tc, score_of_any_bytes_is_in_unit_interval);
    tcase_add_test(tc, complex_prompts_outrank_simple_ones);
    tcase_add_test(tc, score_is_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tg_complexity_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
