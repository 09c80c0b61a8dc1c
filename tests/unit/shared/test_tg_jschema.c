/*
 * Unit tests for shared/tg_jschema.c, the JSON Schema subset behind the `schema` validator. What
 * must hold: each supported keyword accepts what it should and rejects what it should, with the
 * exact JSONPath of the offending value in the reason; unknown or malformed keywords and
 * unresolvable references never reject; $ref cycles and combinatorial schemas stop at a limit.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/tg_jschema.h"
#include "tests/unit/tg_json_fixture.h"

/* Check instance against schema (fixtures, ' for "): want NULL to accept, else the reason. */
static void expect(const char *schema, const char *instance, const char *want)
{
    json_t *sc = J(schema), *in = J(instance);
    char why[256] = "untouched";
    int ok = tg_jschema_check(sc, in, why, sizeof(why));

    if (want == NULL)
        ck_assert_msg(ok == 1, "%s rejected %s: %s", schema, instance, why);
    else {
        ck_assert_msg(ok == 0, "%s accepted %s", schema, instance);
        ck_assert_msg(strcmp(why, want) == 0, "%s on %s:\n got  %s\n want %s", schema, instance,
                      why, want);
    }
    json_decref(sc);
    json_decref(in);
}

START_TEST(type_integer_is_a_value_not_a_spelling)
{
    expect("{'type':'integer'}", "3", NULL);
    expect("{'type':'integer'}", "3.0", NULL);
    expect("{'type':'integer'}", "-0", NULL);
    expect("{'type':'integer'}", "3.5", "$: expected integer, got number");
    expect("{'type':'integer'}", "'3'", "$: expected integer, got string");
    expect("{'type':'number'}", "3", NULL);
    expect("{'type':'number'}", "3.25", NULL);
    expect("{'type':'number'}", "null", "$: expected number, got null");
    expect("{'type':'boolean'}", "false", NULL);
    expect("{'type':'boolean'}", "0", "$: expected boolean, got integer");
    expect("{'type':'null'}", "null", NULL);
    expect("{'type':'object'}", "[]", "$: expected object, got array");
    expect("{'type':'array'}", "{}", "$: expected array, got object");
    expect("{'type':'string'}", "true", "$: expected string, got boolean");
}
END_TEST

START_TEST(type_lists_name_every_alternative)
{
    expect("{'type':['string','null']}", "null", NULL);
    expect("{'type':['string','null']}", "'x'", NULL);
    expect("{'type':['string','null']}", "1", "$: expected string or null, got integer");
    expect("{'type':['string','integer','null']}", "true",
           "$: expected string, integer or null, got boolean");
    /* a name that is not a JSON Schema type cannot be judged */
    expect("{'type':'date'}", "1", NULL);
    expect("{'type':['string','date']}", "1", NULL);
    expect("{'type':[]}", "1", NULL);
}
END_TEST

/* An order with line items, the usual shape of a structured output. */
#define ORDER                                                                                      \
    "{'type':'object','required':['id','items'],'additionalProperties':false,"                     \
    " 'properties':{'id':{'type':'integer','minimum':1},"                                          \
    "  'note':{'type':['string','null'],'maxLength':10},"                                          \
    "  'items':{'type':'array','minItems':1,'items':{'type':'object',"                             \
    "   'required':['sku','price'],'additionalProperties':false,"                                  \
    "   'properties':{'sku':{'type':'string','minLength':3},'price':{'type':'number'},"            \
    "    'qty':{'type':'integer','minimum':1,'maximum':99}}}}}}"

START_TEST(nested_objects_and_arrays_report_the_exact_path)
{
    expect(ORDER,
           "{'id':7,'note':null,'items':[{'sku':'abc','price':1.5},{'sku':'def','price':2,"
           "'qty':3}]}",
           NULL);
    expect(ORDER,
           "{'id':7,'items':[{'sku':'abc','price':1},{'sku':'def','price':2},"
           "{'sku':'ghi','price':'3.50'}]}",
           "$.items[2].price: expected number, got string");
    expect(ORDER, "{'id':7,'items':[{'sku':'abc','price':1},{'sku':'def'}]}",
           "$.items[1].price: required property missing");
    expect(ORDER, "{'items':[{'sku':'abc','price':1}]}", "$.id: required property missing");
    expect(ORDER, "{'id':7,'items':[{'sku':'abc','price':1,'qty':100}]}",
           "$.items[0].qty: greater than maximum 99");
    expect(ORDER, "{'id':7,'items':[{'sku':'ab','price':1}]}",
           "$.items[0].sku: shorter than minLength 3");
    expect(ORDER, "{'id':7,'items':[]}", "$.items: fewer items than minItems 1");
    expect(ORDER, "{'id':0,'items':[{'sku':'abc','price':1}]}", "$.id: less than minimum 1");
    expect(ORDER, "{'id':7,'note':'far too long a note','items':[{'sku':'abc','price':1}]}",
           "$.note: longer than maxLength 10");
    expect(ORDER, "{'id':7,'items':[{'sku':'abc','price':1}],'total':1}",
           "$.total: additional property not allowed");
    expect(ORDER, "{'id':7,'items':[{'sku':'abc','price':1,'colour':'red'}]}",
           "$.items[0].colour: additional property not allowed");
    expect(ORDER, "[]", "$: expected object, got array");
}
END_TEST

START_TEST(additional_properties_as_a_schema_and_odd_keys)
{
    const char *sc = "{'properties':{'a':{}},'additionalProperties':{'type':'string'}}";

    expect(sc, "{'a':1,'b':'x'}", NULL);
    expect(sc, "{'a':1,'b':2}", "$.b: expected string, got integer");
    expect(sc, "{'a b':2}", "$[\"a b\"]: expected string, got integer");
    expect(sc, "{'say \\'hi\\'':2}", "$[\"say \\\"hi\\\"\"]: expected string, got integer");
    expect(sc, "{'_x$1':2}", "$._x$1: expected string, got integer");
    expect(sc, "{'1st':2}", "$[\"1st\"]: expected string, got integer");
    /* additionalProperties: true and absent both allow anything */
    expect("{'properties':{'a':{}},'additionalProperties':true}", "{'b':1}", NULL);
    expect("{'properties':{'a':{}}}", "{'b':1}", NULL);
    /* without properties, every property is additional */
    expect("{'additionalProperties':false}", "{}", NULL);
    expect("{'additionalProperties':false}", "{'x':1}", "$.x: additional property not allowed");
    /* patternProperties is not supported, so "additional" cannot be known: not judged */
    expect("{'patternProperties':{'^x':{}},'additionalProperties':false}", "{'x1':1}", NULL);
    expect("{'minProperties':1}", "{}", "$: fewer properties than minProperties 1");
    expect("{'maxProperties':1}", "{'a':1,'b':2}", "$: more properties than maxProperties 1");
}
END_TEST

START_TEST(enum_and_const_compare_json_values)
{
    expect("{'enum':['red','green']}", "'green'", NULL);
    expect("{'enum':['red','green']}", "'blue'", "$: not one of the enum values");
    expect("{'enum':['red','green']}", "'Red'", "$: not one of the enum values");
    expect("{'enum':[1,null]}", "1.0", NULL);
    expect("{'enum':[1,null]}", "null", NULL);
    expect("{'enum':[1,null]}", "false", "$: not one of the enum values");
    expect("{'enum':[1,null]}", "'1'", "$: not one of the enum values");
    expect("{'properties':{'c':{'enum':['a']}}}", "{'c':'b'}", "$.c: not one of the enum values");
    expect("{'const':{'a':[1,2],'b':true}}", "{'b':true,'a':[1,2.0]}", NULL);
    expect("{'const':{'a':[1,2],'b':true}}", "{'a':[2,1],'b':true}", "$: not equal to const");
    expect("{'const':{'a':1}}", "{'a':1,'b':1}", "$: not equal to const");
    expect("{'const':null}", "null", NULL);
    expect("{'const':null}", "0", "$: not equal to const");
    expect("{'const':'x'}", "'x'", NULL);
    expect("{'const':'x'}", "'xy'", "$: not equal to const");
}
END_TEST

START_TEST(string_lengths_count_characters)
{
    /* "héé": 3 characters in 5 bytes; "日本": 2 in 6 */
    expect("{'minLength':3}", "'h\\u00e9\\u00e9'", NULL);
    expect("{'maxLength':3}", "'h\\u00e9\\u00e9'", NULL);
    expect("{'maxLength':2}", "'h\\u00e9\\u00e9'", "$: longer than maxLength 2");
    expect("{'maxLength':2}", "'\\u65e5\\u672c'", NULL);
    expect("{'minLength':3}", "'\\u65e5\\u672c'", "$: shorter than minLength 3");
    expect("{'minLength':1}", "''", "$: shorter than minLength 1");
    expect("{'maxLength':0}", "''", NULL);
    /* length keywords only concern strings */
    expect("{'minLength':5}", "12", NULL);
}
END_TEST

START_TEST(numeric_bounds_inclusive_and_exclusive)
{
    expect("{'minimum':0}", "0", NULL);
    expect("{'minimum':0}", "-1", "$: less than minimum 0");
    expect("{'minimum':0}", "-0.001", "$: less than minimum 0");
    expect("{'maximum':10.5}", "10.5", NULL);
    expect("{'maximum':10.5}", "10.6", "$: greater than maximum 10.5");
    expect("{'maximum':10.5}", "11", "$: greater than maximum 10.5");
    expect("{'exclusiveMinimum':0}", "0.001", NULL);
    expect("{'exclusiveMinimum':0}", "0", "$: not greater than exclusiveMinimum 0");
    expect("{'exclusiveMinimum':0}", "0.0", "$: not greater than exclusiveMinimum 0");
    expect("{'exclusiveMaximum':10}", "9", NULL);
    expect("{'exclusiveMaximum':10}", "10.0", "$: not less than exclusiveMaximum 10");
    /* integers compare exactly, beyond what a double holds */
    expect("{'maximum':9007199254740993}", "9007199254740993", NULL);
    expect("{'maximum':9007199254740992}", "9007199254740993",
           "$: greater than maximum 9007199254740992");
    /* draft 4's boolean form is not a number: ignored */
    expect("{'minimum':0,'exclusiveMinimum':true}", "0", NULL);
    /* bounds only concern numbers */
    expect("{'minimum':5}", "'1'", NULL);
}
END_TEST

START_TEST(array_items_tuples_and_bounds)
{
    expect("{'items':{'type':'integer'}}", "[1,2,3]", NULL);
    expect("{'items':{'type':'integer'}}", "[1,2,'3']", "$[2]: expected integer, got string");
    expect("{'minItems':2,'maxItems':3}", "[1]", "$: fewer items than minItems 2");
    expect("{'minItems':2,'maxItems':3}", "[1,2,3,4]", "$: more items than maxItems 3");
    expect("{'minItems':2,'maxItems':3}", "[1,2]", NULL);
    /* 2020-12 tuples: prefixItems, then items for the rest */
    const char *tuple = "{'prefixItems':[{'type':'string'},{'type':'number'}],'items':false}";
    expect(tuple, "['a',1]", NULL);
    expect(tuple, "['a']", NULL);
    expect(tuple, "[1,1]", "$[0]: expected string, got integer");
    expect(tuple, "['a',1,true]", "$[2]: not allowed (false schema)");
    expect("{'prefixItems':[{'type':'string'}],'items':{'type':'integer'}}", "['a',1,'b']",
           "$[2]: expected integer, got string");
    /* draft 7 tuples: items as a list, additionalItems for the rest */
    expect("{'items':[{'type':'string'}],'additionalItems':false}", "['a']", NULL);
    expect("{'items':[{'type':'string'}],'additionalItems':false}", "['a',2]",
           "$[1]: not allowed (false schema)");
    expect("{'items':{'items':{'type':'null'}}}", "[[null],[null,0]]",
           "$[1][1]: expected null, got integer");
}
END_TEST

START_TEST(any_one_all_of_and_not)
{
    const char *any = "{'properties':{'v':{'anyOf':[{'type':'string'},{'type':'integer'}]}}}";
    const char *one = "{'oneOf':[{'type':'number'},{'type':'integer'}]}";

    expect(any, "{'v':'x'}", NULL);
    expect(any, "{'v':2}", NULL);
    expect(any, "{'v':2.5}", "$.v: matches no anyOf alternative");
    expect(one, "2.5", NULL);
    expect(one, "2", "$: matches more than one oneOf alternative");
    expect(one, "'2'", "$: matches no oneOf alternative");
    /* allOf reports the branch's own reason */
    expect("{'allOf':[{'type':'integer'},{'minimum':5}]}", "7", NULL);
    expect("{'allOf':[{'type':'integer'},{'minimum':5}]}", "4", "$: less than minimum 5");
    expect("{'not':{'type':'null'}}", "0", NULL);
    expect("{'not':{'type':'null'}}", "null", "$: matches the schema under not");
    /* a failing branch inside anyOf does not leak its reason */
    expect("{'anyOf':[{'properties':{'a':{'type':'string'}}},{'required':['b']}]}", "{'a':1}",
           "$: matches no anyOf alternative");
    expect("{'anyOf':[]}", "1", NULL); /* invalid (must be non-empty): ignored */
}
END_TEST

START_TEST(refs_resolve_into_the_schema)
{
    const char *tree = "{'$ref':'#/$defs/node','$defs':{'node':{'type':'object',"
                       "'required':['name'],'properties':{'name':{'type':'string'},"
                       "'children':{'type':'array','items':{'$ref':'#/$defs/node'}}}}}}";

    expect(tree, "{'name':'r','children':[{'name':'a','children':[{'name':'b'}]}]}", NULL);
    expect(tree, "{'name':'r','children':[{'name':'a','children':[{'name':'b'},{'name':1}]}]}",
           "$.children[0].children[1].name: expected string, got integer");
    expect(tree, "{'name':'r','children':[{}]}", "$.children[0].name: required property missing");
    /* draft 7's definitions, escaped pointer tokens, array indexes, the root itself */
    expect("{'definitions':{'a/b':{'type':'string'}},'properties':{'x':{'$ref':"
           "'#/definitions/a~1b'}}}",
           "{'x':1}", "$.x: expected string, got integer");
    expect("{'definitions':{'t~':{'type':'string'}},'items':{'$ref':'#/definitions/t~0'}}",
           "['a',2]", "$[1]: expected string, got integer");
    expect("{'$defs':{'l':[{'type':'null'}]},'items':{'$ref':'#/$defs/l/0'}}", "[null,1]",
           "$[1]: expected null, got integer");
    expect("{'type':['array','integer'],'items':{'$ref':'#'}}", "[1,[2,[3,'x']]]",
           "$[1][1][1]: expected array or integer, got string");
    /* $ref applies together with its siblings (2020-12) */
    expect("{'$defs':{'i':{'type':'integer'}},'$ref':'#/$defs/i','minimum':3}", "2",
           "$: less than minimum 3");
}
END_TEST

START_TEST(unresolvable_refs_and_unknown_keywords_never_reject)
{
    expect("{'$ref':'#/$defs/missing'}", "1", NULL);
    expect("{'$ref':'https://example.com/schema.json'}", "1", NULL);
    expect("{'$ref':'#anchor'}", "1", NULL);
    expect("{'$ref':'#/$defs/a~2'}", "1", NULL);
    expect("{'$defs':{'l':[{}]},'$ref':'#/$defs/l/01'}", "1", NULL);
    expect("{'type':'string','pattern':'^x','format':'email','x-custom':1}", "'abc'", NULL);
    /* malformed values of known keywords */
    expect("{'minLength':'3','required':'a','enum':'a','properties':[],'items':1}", "'a'", NULL);
    expect("{'required':[1,'a']}", "{}", "$.a: required property missing");
    expect("{'minItems':-1,'maxItems':1.5}", "[1,2]", NULL);
    /* boolean schemas */
    expect("true", "{'a':1}", NULL);
    expect("false", "1", "$: not allowed (false schema)");
    expect("{'properties':{'a':false}}", "{'a':1}", "$.a: not allowed (false schema)");
}
END_TEST

START_TEST(cycles_and_explosions_stop_at_a_limit)
{
    char why[256];
    json_t *sc, *in;
    char deep[64];
    size_t n = 0;

    /* a $ref cycle that never descends into the instance */
    expect("{'$defs':{'a':{'$ref':'#/$defs/b'},'b':{'$ref':'#/$defs/a'}},'$ref':'#/$defs/a'}", "1",
           "$: nested deeper than 128 schema levels");
    /*
     * 30 nested arrays (90 schema levels, under the depth limit), each level two anyOf branches
     * that both fail only at the bottom: 2^30 evaluations unless the step budget stops them
     */
    for (int i = 0; i < 30; i++)
        deep[n++] = '[';
    deep[n++] = '1';
    for (int i = 0; i < 30; i++)
        deep[n++] = ']';
    deep[n] = '\0';
    sc = J("{'anyOf':[{'type':'array','items':{'$ref':'#'}},"
           "{'type':'array','items':{'$ref':'#'}}]}");
    in = J(deep);
    ck_assert_int_eq(tg_jschema_check(sc, in, why, sizeof(why)), 0);
    ck_assert_msg(strstr(why, "too complex to check (more than 100000 steps)") != NULL, "%s", why);
    ck_assert_msg(strncmp(why, "$[0][0][0]", 10) == 0, "%s", why);
    json_decref(sc);
    json_decref(in);
}
END_TEST

START_TEST(reasons_fit_any_buffer)
{
    json_t *sc =
        J("{'properties':{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':{'properties':"
          "{'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb':"
          "{'properties':{'cccccccccccccccccccccccccccccccccccccccccccccccccccc':"
          "{'properties':{'dddddddddddddddddddddddddddddddddddddddddddddddddddd':"
          "{'type':'string'}}}}}}}}}");
    json_t *in = J("{'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa':"
                   "{'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb':"
                   "{'cccccccccccccccccccccccccccccccccccccccccccccccccccc':"
                   "{'dddddddddddddddddddddddddddddddddddddddddddddddddddd':1}}}}");
    char big[512], small[8];

    /* a path longer than TG_JSCHEMA_PATH_MAX is cut short, still a prefix of the real one */
    ck_assert_int_eq(tg_jschema_check(sc, in, big, sizeof(big)), 0);
    ck_assert_msg(strncmp(big, "$.aaaa", 6) == 0 && strlen(big) < TG_JSCHEMA_PATH_MAX + 40, "%s",
                  big);
    ck_assert_msg(strstr(big, ": expected string, got integer") != NULL, "%s", big);
    ck_assert_int_eq(tg_jschema_check(sc, in, small, sizeof(small)), 0);
    ck_assert_str_eq(small, "$.aaaaa");
    ck_assert_int_eq(tg_jschema_check(sc, in, NULL, 0), 0);
    json_decref(sc);
    json_decref(in);
}
END_TEST

static Suite *jschema_suite(void)
{
    Suite *s = suite_create("jschema");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, type_integer_is_a_value_not_a_spelling);
    tcase_add_test(tc, type_lists_name_every_alternative);
    tcase_add_test(tc, nested_objects_and_arrays_report_the_exact_path);
    tcase_add_test(tc, additional_properties_as_a_schema_and_odd_keys);
    tcase_add_test(tc, enum_and_const_compare_json_values);
    tcase_add_test(tc, string_lengths_count_characters);
    tcase_add_test(tc, numeric_bounds_inclusive_and_exclusive);
    tcase_add_test(tc, array_items_tuples_and_bounds);
    tcase_add_test(tc, any_one_all_of_and_not);
    tcase_add_test(tc, refs_resolve_into_the_schema);
    tcase_add_test(tc, unresolvable_refs_and_unknown_keywords_never_reject);
    tcase_add_test(tc, cycles_and_explosions_stop_at_a_limit);
    tcase_add_test(tc, reasons_fit_any_buffer);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jschema_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
