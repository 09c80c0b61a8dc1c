/*
 * Unit tests for shared/tg_validate.c, the answer validators of a quality cascade. What must hold:
 * each validator accepts good answers and rejects bad ones with the documented reason; lengths
 * are characters, not bytes; a refusal counts at the start or in a short answer but not when a
 * long answer quotes it; JSON may come in one ```json fence; the schema comes from the request's
 * response_format; compile errors name the setting; any bytes are safe; chat.completion bodies
 * follow the documented tool-call and refusal rules.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_validate.h"
#include "tests/unit/tg_json_fixture.h"

static tg_validators_t *make(tg_validate_conf_t conf)
{
    tg_validate_err_t err;
    tg_validators_t *v = tg_validators_new(&conf, &err);

    ck_assert_msg(v != NULL, "%s", err.msg);
    return v;
}

/* want NULL: accepted; else the exact reason. */
static void expect_bytes(const tg_validators_t *v, const char *text, size_t len, const json_t *rf,
                         const char *want)
{
    char why[256] = "untouched";
    int ok = tg_validate_answer(v, text, len, rf, why, sizeof(why));

    if (want == NULL) {
        ck_assert_msg(ok == 1, "rejected \"%.*s\": %s", (int)len, text, why);
        ck_assert_str_eq(why, "");
    } else {
        ck_assert_msg(ok == 0, "accepted \"%.*s\"", (int)len, text);
        ck_assert_msg(strcmp(why, want) == 0, "\"%.*s\":\n got  %s\n want %s", (int)len, text, why,
                      want);
    }
}

static void expect(const tg_validators_t *v, const char *text, const char *want)
{
    expect_bytes(v, text, strlen(text), NULL, want);
}

static void expect_rf(const tg_validators_t *v, const char *text, const json_t *rf,
                      const char *want)
{
    expect_bytes(v, text, strlen(text), rf, want);
}

/* A reason that must start with prefix (parser messages are jansson's). */
static void expect_prefix(const tg_validators_t *v, const char *text, const json_t *rf,
                          const char *prefix)
{
    char why[256];

    ck_assert_msg(tg_validate_answer(v, text, strlen(text), rf, why, sizeof(why)) == 0,
                  "accepted \"%s\"", text);
    ck_assert_msg(strncmp(why, prefix, strlen(prefix)) == 0, "\"%s\": %s", text, why);
}

/* n copies of the character unit, then tail, into buf. */
static const char *repeat(char *buf, size_t size, const char *unit, int n, const char *tail)
{
    size_t off = 0;

    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s", unit);
    snprintf(buf + off, size - off, "%s", tail);
    ck_assert(strlen(buf) + 1 < size);
    return buf;
}

/* ---- min_length ------------------------------------------------------------------------- */

START_TEST(min_length_counts_characters_not_bytes)
{
    tg_validators_t *v = make((tg_validate_conf_t){.min_length = 5});

    expect(v, "hello", NULL);
    expect(v, "h\xc3\xa9llo", NULL);                               /* "héllo": 5 in 6 bytes */
    expect(v, "h\xc3\xa9ll", "shorter than 5 characters (got 4)"); /* 5 bytes, 4 characters */
    expect(v, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99", NULL); /* 5 CJK */
    expect(v, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7",
           "shorter than 5 characters (got 4)");
    expect(v, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
           "shorter than 5 characters (got 2)"); /* 2 emoji */
    /* surrounding white space is not content; inner white space is */
    expect(v, "   ab  \n\t", "shorter than 5 characters (got 2)");
    expect(v, "  a b c  ", NULL);
    expect(v, "", "shorter than 5 characters (got 0)");
    /* invalid UTF-8: every byte that does not continue a sequence counts one */
    expect(v, "\xff\xfe\xfd\xfc\xc0", NULL);
    expect(v, "ab\x80\x80\x80\x80", "shorter than 5 characters (got 2)");
    tg_validators_free(v);
}
END_TEST

/* ---- refusal ---------------------------------------------------------------------------- */

START_TEST(refusal_at_the_start_is_rejected)
{
    tg_validators_t *v = make((tg_validate_conf_t){.refusal = 1});

    expect(v, "I'm sorry, but I can't help with that request.",
           "refusal: \"I'm sorry, but I can't\"");
    expect(v, "I don't know.", "refusal: \"I don't know\"");
    /* typographic apostrophes, any case, any white space */
    expect(v, "I don\xe2\x80\x99t know.", "refusal: \"I don't know\"");
    expect(v, "i DON'T   KNOW", "refusal: \"I don't know\"");
    expect(v, "I\ndo not\tknow", "refusal: \"I do not know\"");
    expect(v, "  **As an AI** language model, I have no opinions.", "refusal: \"As an AI\"");
    expect(v, "Unfortunately I'm unable to browse the web.", "refusal: \"I'm unable to\"");
    expect(v, "Sorry, I cannot help with that.", "refusal: \"I cannot help with\"");
    expect(v, "I am not able to do this", "refusal: \"I am not able to\"");
    tg_validators_free(v);
}
END_TEST

START_TEST(refusal_rule_head_and_short_answers)
{
    tg_validators_t *v = make((tg_validate_conf_t){.refusal = 1});
    char buf[2048];
    const char *long_tail = ". Here is the full answer, which goes on for a while to make the "
                            "whole text longer than two hundred characters, as good answers "
                            "usually are when a question deserves some detail.";

    /* a short answer is judged whole: a refusal anywhere in it counts */
    expect(v, "Paris is the capital of France. Beyond that, I don't know.",
           "refusal: \"I don't know\"");
    /* a long answer: only its first 100 characters (é is one character, two bytes) */
    expect(v, repeat(buf, sizeof(buf), "\xc3\xa9", 99, " I don't know"),
           "refusal: \"I don't know\""); /* short: 112 characters */
    repeat(buf, sizeof(buf), "\xc3\xa9", 99, "I don't know");
    strcat(buf, long_tail);
    expect(v, buf, "refusal: \"I don't know\""); /* starts at character 99: in the head */
    repeat(buf, sizeof(buf), "\xc3\xa9", 100, "I don't know");
    strcat(buf, long_tail);
    expect(v, buf, NULL); /* starts at character 100: past the head, in a long answer */
    /* long good answers that mention the phrase later, with or without quotes */
    snprintf(buf, sizeof(buf),
             "The capital of France is Paris, and it has been for most of the country's "
             "history. People who are unsure sometimes just say I don't know, which is honest, "
             "but that is not necessary here, since the answer is well documented in every "
             "atlas and encyclopaedia.");
    expect(v, buf, NULL);
    snprintf(buf, sizeof(buf),
             "The capital of France is Paris, and it has been for most of the country's "
             "history. People sometimes answer such questions with \"I don't know\" when they "
             "are unsure, but that is not necessary here, since the answer is well documented "
             "in every atlas.");
    expect(v, buf, NULL);
    tg_validators_free(v);
}
END_TEST

START_TEST(refusal_mentioned_or_inside_a_word_is_not_one)
{
    tg_validators_t *v = make((tg_validate_conf_t){.refusal = 1});

    /* directly after an opening quote: mentioned, not said */
    expect(v, "\"I don't know\" is a humble phrase.", NULL);
    expect(v, "The reply \xe2\x80\x9cI don't know\xe2\x80\x9d is honest.", NULL);
    expect(v, "Say 'I don't know' when unsure.", NULL);
    expect(v, "Use `I can't provide` as the template.", NULL);
    /* whole words only */
    expect(v, "I don't knowingly break rules.", NULL);
    expect(v, "Bias an AI model and it fails.", NULL);
    expect(v, "Mi don't know", NULL);
    expect(v, "Yes, I can help with that.", NULL);
    tg_validators_free(v);
}
END_TEST

START_TEST(refusal_patterns_are_the_routes_own_phrases)
{
    const char *const mine[] = {"no idea", "  Not\tSure ", "n/a"};
    tg_validators_t *v =
        make((tg_validate_conf_t){.refusal = 1, .refusal_patterns = mine, .nrefusal_patterns = 3});
    tg_validators_t *only =
        make((tg_validate_conf_t){.refusal_patterns = mine, .nrefusal_patterns = 3});

    expect(v, "No idea, sorry.", "refusal: \"no idea\"");
    expect(v, "I'm not   sure.", "refusal: \"Not Sure\"");
    expect(v, "N/A", "refusal: \"n/a\"");
    expect(v, "I don't know", "refusal: \"I don't know\""); /* built-ins still apply */
    expect(v, "Ideas: no ideation needed.", NULL);
    /* refusal off: the route's phrases alone */
    expect(only, "No idea.", "refusal: \"no idea\"");
    expect(only, "I don't know.", NULL);
    /* a phrase that does not start with a letter may follow one */
    const char *const odd[] = {"?!", "\xe2\x80\x99"
                                     "dunno"};
    tg_validators_t *punct =
        make((tg_validate_conf_t){.refusal_patterns = odd, .nrefusal_patterns = 2});
    expect(punct, "What?!", "refusal: \"?!\"");
    expect(punct, "Well 'dunno",
           "refusal: \"\xe2\x80\x99"
           "dunno\"");
    expect(punct, "What?", NULL);
    tg_validators_free(punct);
    tg_validators_free(v);
    tg_validators_free(only);
}
END_TEST

/* ---- regex -------------------------------------------------------------------------------- */

START_TEST(regex_must_match_and_forbid_must_not)
{
    tg_validators_t *v = make((tg_validate_conf_t){.regex = "^[A-Z]", .regex_forbid = "lorem"});
    tg_validators_t *vi =
        make((tg_validate_conf_t){.regex = "^[A-Z]", .regex_forbid = "lorem", .ignore_case = 1});
    tg_validators_t *z = make((tg_validate_conf_t){.regex = "b$", .regex_forbid = "secret"});

    expect(v, "Hello there", NULL);
    expect(v, "hello there", "does not match /^[A-Z]/");
    expect(v, "Lorem ipsum", NULL);
    expect(v, "Hello lorem ipsum", "matches forbidden /lorem/");
    /* ignore_case applies to both */
    expect(vi, "hello there", NULL);
    expect(vi, "Lorem ipsum", "matches forbidden /lorem/i");
    expect(vi, "1 thing", "does not match /^[A-Z]/i");
    /* the whole length is matched, NUL bytes included */
    expect_bytes(z, "a\0b", 3, NULL, NULL);
    expect_bytes(z, "b\0a", 3, NULL, "does not match /b$/");
    expect_bytes(z, "ab\0secret\0b", 11, NULL, "matches forbidden /secret/");
    expect_bytes(z, "ab\0secret\0b", 2, NULL, NULL); /* and nothing past len */
    tg_validators_free(v);
    tg_validators_free(vi);
    tg_validators_free(z);
}
END_TEST

/* ---- json and schema ---------------------------------------------------------------------- */

START_TEST(json_parses_plain_or_in_one_fence)
{
    tg_validators_t *v = make((tg_validate_conf_t){.json = 1});

    expect(v, "{\"a\": 1}", NULL);
    expect(v, "  [1, 2]\n", NULL);
    expect(v, "\"just a string\"", NULL);
    expect(v, "42", NULL);
    expect(v, "```json\n{\"a\": 1}\n```", NULL);
    expect(v, "\n```JSON \n[1]\n```\n", NULL);
    expect(v, "```\n{\"a\": 1}\n```", NULL);
    expect_prefix(v, "```python\n{\"a\": 1}\n```", NULL, "not JSON: ");
    expect_prefix(v, "```json {\"a\": 1}```", NULL, "not JSON: ");
    expect_prefix(v, "```json\n```", NULL, "not JSON: ");
    expect_prefix(v, "Here it is: {\"a\": 1}", NULL, "not JSON: ");
    expect_prefix(v, "{\"a\": 1} and more", NULL, "not JSON: ");
    expect_prefix(v, "{\"a\": 1, \"a\": 2}", NULL, "not JSON: duplicate object key");
    expect_prefix(v, "", NULL, "not JSON: ");
    expect(v, "{\"a\": }", "not JSON: unexpected token near '}' (line 1, column 7)");
    expect(v, "```json\n{\n  \"a\": tru\n}\n```",
           "not JSON: invalid token near 'tru' (line 2, column 10)");
    tg_validators_free(v);
}
END_TEST

#define ITEMS_SCHEMA                                                                               \
    "{'type':'json_schema','json_schema':{'name':'order','strict':true,'schema':"                  \
    "{'type':'object','required':['items'],'additionalProperties':false,'properties':"             \
    "{'items':{'type':'array','items':{'type':'object','required':['price'],"                      \
    "'properties':{'price':{'type':'number'}}}}}}}}"

START_TEST(schema_comes_from_the_requests_response_format)
{
    tg_validators_t *v = make((tg_validate_conf_t){.schema = 1});
    json_t *rf = J(ITEMS_SCHEMA), *obj = J("{'type':'json_object'}"), *text = J("{'type':'text'}");
    json_t *noschema = J("{'type':'json_schema','json_schema':{'name':'x'}}");

    ck_assert_int_eq(tg_validators_want_response_format(v), 1);
    expect_rf(v, "{\"items\":[{\"price\":1},{\"price\":2.5}]}", rf, NULL);
    expect_rf(v, "{\"items\":[{\"price\":1},{\"price\":2},{\"price\":\"3\"}]}", rf,
              "schema: $.items[2].price: expected number, got string");
    expect_rf(v, "```json\n{\"items\":[{}]}\n```", rf,
              "schema: $.items[0].price: required property missing");
    expect_rf(v, "{\"items\":[],\"total\":0}", rf,
              "schema: $.total: additional property not allowed");
    expect_prefix(v, "items: none", rf, "not JSON: ");
    /* json_object: any object */
    expect_rf(v, "{\"x\":1}", obj, NULL);
    expect_rf(v, "[1]", obj, "schema: expected a JSON object (response_format json_object)");
    /* json_schema without a schema: JSON of any shape */
    expect_rf(v, "[1]", noschema, NULL);
    expect_prefix(v, "nope", noschema, "not JSON: ");
    /* no JSON asked for: nothing to check */
    expect_rf(v, "plain words", NULL, NULL);
    expect_rf(v, "plain words", text, NULL);
    json_decref(rf);
    json_decref(obj);
    json_decref(text);
    json_decref(noschema);
    tg_validators_free(v);
}
END_TEST

START_TEST(checks_run_cheapest_first_and_nothing_set_accepts)
{
    const char *const mine[] = {"lorem"};
    tg_validators_t *all = make((tg_validate_conf_t){.min_length = 10,
                                                     .refusal = 1,
                                                     .refusal_patterns = mine,
                                                     .nrefusal_patterns = 1,
                                                     .json = 1,
                                                     .regex = "^[[{]",
                                                     .regex_forbid = "TODO"});
    tg_validators_t *none = make((tg_validate_conf_t){0});

    expect(all, "I don't know", "refusal: \"I don't know\""); /* long enough, then refusal */
    expect(all, "I don't", "shorter than 10 characters (got 7)");
    expect(all, "Lorem ipsum dolor", "refusal: \"lorem\"");
    expect(all, "Ipsum dolor sit", "does not match /^[[{]/");
    expect(all, "{\"a\": \"TODO\"}", "matches forbidden /TODO/");
    expect_prefix(all, "[1, 2, 3, 4", NULL, "not JSON: ");
    expect(all, "[1, 2, 3, 4]", NULL);
    expect(none, "", NULL);
    expect(none, "I don't know", NULL);
    ck_assert_int_eq(tg_validators_want_response_format(none), 0);
    ck_assert_int_eq(tg_validators_want_response_format(NULL), 0);
    /* no validators at all (a route without validate:) */
    ck_assert_int_eq(tg_validate_answer(NULL, "I don't know", 12, NULL, NULL, 0), 1);
    tg_validators_free(all);
    tg_validators_free(none);
    tg_validators_free(NULL);
}
END_TEST

/* ---- compilation -------------------------------------------------------------------------- */

START_TEST(compile_errors_name_the_setting)
{
    const char *const empty[] = {"fine", " \t "};
    const char *many[TG_VALIDATE_PATTERNS_MAX + 1];
    char longp[TG_VALIDATE_PHRASE_MAX + 2];
    const char *const toolong[] = {longp};
    tg_validate_err_t err;

    ck_assert_ptr_null(tg_validators_new(&(tg_validate_conf_t){.regex = "(ab"}, &err));
    ck_assert_int_eq(err.field, TG_VFIELD_REGEX);
    ck_assert_str_eq(err.msg, "regex: Unmatched ( or \\(");
    ck_assert_ptr_null(
        tg_validators_new(&(tg_validate_conf_t){.regex = "a", .regex_forbid = "[a"}, &err));
    ck_assert_int_eq(err.field, TG_VFIELD_REGEX_FORBID);
    ck_assert_str_eq(err.msg, "regex_forbid: Unmatched [, [^, [:, [., or [=");
    ck_assert_ptr_null(tg_validators_new(&(tg_validate_conf_t){.regex = ""}, &err));
    ck_assert_int_eq(err.field, TG_VFIELD_REGEX);
    ck_assert_str_eq(err.msg, "regex: empty pattern");
    ck_assert_ptr_null(tg_validators_new(
        &(tg_validate_conf_t){.refusal_patterns = empty, .nrefusal_patterns = 2}, &err));
    ck_assert_int_eq(err.field, TG_VFIELD_REFUSAL_PATTERNS);
    ck_assert_int_eq(err.index, 1);
    ck_assert_str_eq(err.msg, "refusal_patterns: a phrase must have 1 to 200 bytes");
    memset(longp, 'x', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_ptr_null(tg_validators_new(
        &(tg_validate_conf_t){.refusal_patterns = toolong, .nrefusal_patterns = 1}, &err));
    ck_assert_int_eq(err.index, 0);
    for (size_t i = 0; i < TG_VALIDATE_PATTERNS_MAX + 1; i++)
        many[i] = "x";
    ck_assert_ptr_null(
        tg_validators_new(&(tg_validate_conf_t){.refusal_patterns = many,
                                                .nrefusal_patterns = TG_VALIDATE_PATTERNS_MAX + 1},
                          &err));
    ck_assert_str_eq(err.msg, "refusal_patterns: at most 64 phrases");
    /* exactly at the limits compiles */
    longp[TG_VALIDATE_PHRASE_MAX] = '\0';
    tg_validators_free(make((tg_validate_conf_t){.refusal_patterns = many,
                                                 .nrefusal_patterns = TG_VALIDATE_PATTERNS_MAX}));
    tg_validators_free(
        make((tg_validate_conf_t){.refusal_patterns = toolong, .nrefusal_patterns = 1}));
}
END_TEST

/* ---- any bytes -------------------------------------------------------------------------- */

START_TEST(any_bytes_are_safe)
{
    const char *const mine[] = {"\xff\xfe", "x"};
    tg_validators_t *v = make((tg_validate_conf_t){.min_length = 3,
                                                   .refusal = 1,
                                                   .refusal_patterns = mine,
                                                   .nrefusal_patterns = 2,
                                                   .json = 1,
                                                   .schema = 1,
                                                   .regex = "[a-z]",
                                                   .regex_forbid = "zz"});
    json_t *rf = J(ITEMS_SCHEMA);
    uint64_t seed = 42;
    char buf[300], why[48];
    int accepted = 0;

    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(seed % sizeof(buf));

        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            /* half the rounds: printable text with quotes and braces, to reach the JSON parser */
            buf[i] = round % 2 ? (char)(seed >> 56) : " {}\"[]:,0aI'\n"[(seed >> 40) % 13];
        }
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        memset(why, 0x55, sizeof(why));
        int ok = tg_validate_answer(v, buf, len, round % 3 ? rf : NULL, why, sizeof(why));
        ck_assert(ok == 0 || ok == 1);
        ck_assert(memchr(why, '\0', sizeof(why)) != NULL);
        ck_assert(ok == 1 || why[0] != '\0');
        accepted += ok;
    }
    ck_assert_int_eq(accepted, 0); /* random bytes are never an order */
    /* invalid UTF-8 inside a JSON string, a NUL after a value */
    expect_prefix(v, "{\"items\": [\"\xff\"]}", NULL, "not JSON: ");
    expect_bytes(v, "{\"items\":[]}\0", 13, NULL,
                 "not JSON: end of file expected near end of "
                 "file (line 1, column 13)");
    expect_bytes(v, NULL, 0, NULL, "shorter than 3 characters (got 0)");
    /* a reason cut to the buffer, or no buffer at all */
    ck_assert_int_eq(tg_validate_answer(v, "I don't know", 12, NULL, why, 10), 0);
    ck_assert_str_eq(why, "refusal: ");
    ck_assert_int_eq(tg_validate_answer(v, "I don't know", 12, NULL, NULL, 0), 0);
    json_decref(rf);
    tg_validators_free(v);
}
END_TEST

/* ---- chat.completion bodies ------------------------------------------------------------- */

static void expect_completion(const tg_validators_t *v, const char *body, const json_t *rf,
                              const char *want)
{
    json_t *doc = J(body);
    char why[256] = "untouched";
    int ok = tg_validate_completion(v, doc, rf, why, sizeof(why));

    if (want == NULL)
        ck_assert_msg(ok == 1, "rejected %s: %s", body, why);
    else {
        ck_assert_msg(ok == 0, "accepted %s", body);
        ck_assert_msg(strcmp(why, want) == 0, "%s:\n got  %s\n want %s", body, why, want);
    }
    json_decref(doc);
}

#define MSG(m) "{'object':'chat.completion','choices':[{'index':0,'message':" m "}]}"

START_TEST(answer_text_from_a_completion)
{
    json_t *doc = J(MSG("{'role':'assistant','content':[{'type':'text','text':'Hello, '},"
                        "{'type':'image_url','image_url':{'url':'x'}},{'type':'text','text':"
                        "'world'},{'type':'text'},{'text':'untyped'}]}"));
    tg_answer_t a;

    ck_assert_int_eq(tg_answer_from_completion(doc, &a, NULL, 0), 0);
    ck_assert_str_eq(a.text, "Hello, world");
    ck_assert_int_eq(a.len, 12);
    ck_assert_ptr_nonnull(a.owned);
    ck_assert_int_eq(a.tool_calls, 0);
    ck_assert_ptr_null(a.refusal);
    tg_answer_release(&a);
    json_decref(doc);

    doc = J(MSG("{'role':'assistant','content':null,'refusal':'No.','tool_calls':[{'id':'c1',"
                "'type':'function','function':{'name':'f','arguments':'{}'}}]}"));
    ck_assert_int_eq(tg_answer_from_completion(doc, &a, NULL, 0), 0);
    ck_assert_str_eq(a.text, "");
    ck_assert_int_eq(a.len, 0);
    ck_assert_int_eq(a.tool_calls, 1);
    ck_assert_str_eq(a.refusal, "No.");
    ck_assert_ptr_null(a.owned);
    tg_answer_release(&a);
    json_decref(doc);

    doc = J(MSG("{'role':'assistant','content':'plain','tool_calls':[]}"));
    ck_assert_int_eq(tg_answer_from_completion(doc, &a, NULL, 0), 0);
    ck_assert_str_eq(a.text, "plain");
    ck_assert_int_eq(a.tool_calls, 0);
    tg_answer_release(&a);
    json_decref(doc);

    char why[64];
    doc = J("{'choices':[]}");
    ck_assert_int_eq(tg_answer_from_completion(doc, &a, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "no choices[0].message in the answer");
    tg_answer_release(&a);
    json_decref(doc);
}
END_TEST

START_TEST(completion_rules_for_tool_calls_and_refusals)
{
    tg_validators_t *text =
        make((tg_validate_conf_t){.min_length = 20, .refusal = 1, .regex = "^[A-Z]"});
    tg_validators_t *json = make((tg_validate_conf_t){.json = 1});
    tg_validators_t *schema = make((tg_validate_conf_t){.schema = 1});
    json_t *rf = J(ITEMS_SCHEMA);
    const char *call = MSG("{'role':'assistant','content':null,'tool_calls':[{'id':'c1','type':"
                           "'function','function':{'name':'f','arguments':'{}'}}]}");
    const char *legacy = MSG("{'role':'assistant','content':'','function_call':{'name':'f',"
                             "'arguments':'{}'}}");

    /* a tool call is an action, not prose: the text checks do not apply */
    expect_completion(text, call, NULL, NULL);
    expect_completion(text, legacy, NULL, NULL);
    /* but it is not the JSON answer a json or schema route wants */
    expect_completion(json, call, NULL, "not JSON: a tool call and no text");
    expect_completion(schema, call, rf, "schema: a tool call and no text");
    expect_completion(schema, call, NULL, NULL);
    /* text next to a tool call is checked as usual */
    expect_completion(text,
                      MSG("{'role':'assistant','content':'ok','tool_calls':[{'id':'c1','type':"
                          "'function','function':{'name':'f','arguments':'{}'}}]}"),
                      NULL, "shorter than 20 characters (got 2)");
    /* OpenAI's structured-output refusal field */
    expect_completion(text, MSG("{'role':'assistant','content':null,'refusal':'Cannot.'}"), NULL,
                      "refusal: the model set message.refusal");
    expect_completion(json, MSG("{'role':'assistant','content':null,'refusal':'Cannot.'}"), NULL,
                      "not JSON: unexpected token near end of file (line 1, column 0)");
    /* ordinary answers */
    expect_completion(text, MSG("{'role':'assistant','content':'Paris is the capital of France.'}"),
                      NULL, NULL);
    expect_completion(text,
                      MSG("{'role':'assistant','content':'I don\\u0027t know, sorry about that.'}"),
                      NULL, "refusal: \"I don't know\"");
    expect_completion(schema,
                      MSG("{'role':'assistant','content':'{\\'items\\':[{\\'price\\':true}]}'}"),
                      rf, "schema: $.items[0].price: expected number, got boolean");
    expect_completion(text, "{'choices':[{'message':'x'}]}", NULL,
                      "no choices[0].message in the answer");
    expect_completion(text, "[]", NULL, "no choices[0].message in the answer");
    expect_completion(NULL, "[]", NULL, NULL);
    json_decref(rf);
    tg_validators_free(text);
    tg_validators_free(json);
    tg_validators_free(schema);
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, min_length_counts_characters_not_bytes);
    tcase_add_test(tc, refusal_at_the_start_is_rejected);
    tcase_add_test(tc, refusal_rule_head_and_short_answers);
    tcase_add_test(tc, refusal_mentioned_or_inside_a_word_is_not_one);
    tcase_add_test(tc, refusal_patterns_are_the_routes_own_phrases);
    tcase_add_test(tc, regex_must_match_and_forbid_must_not);
    tcase_add_test(tc, json_parses_plain_or_in_one_fence);
    tcase_add_test(tc, schema_comes_from_the_requests_response_format);
    tcase_add_test(tc, checks_run_cheapest_first_and_nothing_set_accepts);
    tcase_add_test(tc, compile_errors_name_the_setting);
    tcase_add_test(tc, any_bytes_are_safe);
    tcase_add_test(tc, answer_text_from_a_completion);
    tcase_add_test(tc, completion_rules_for_tool_calls_and_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(validate_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
