/* SPDX-License-Identifier: MIT */
/*
 * test_json.c: kdb_validate_metadata(), the check every put runs.
 *
 * Goal: exactly the JSON objects of RFC 8259 pass; anything else, including
 * other JSON values, bad UTF-8, unescaped control characters, trailing bytes
 * and nesting past KDB_METADATA_DEPTH_LIMIT, is -EINVAL. Method: tables of
 * texts, and truncations of a valid text (no strict prefix of an object is
 * one). Nothing faked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kdb.h"

static void test_json_objects_pass(void **state)
{
    static const char *const valid[] = {
        "{}",
        " {\n} ",
        "{\"kind\":\"function\",\"name\":\"lua_gettop\",\"line_start\":120,\"static\":false}",
        "{\"a\":[1,-2.5e+3,0.0,1E9,true,false,null,{\"b\":[]}]}",
        "{\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"}",
        "{\"utf8\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
        "{\"dup\":1,\"dup\":2}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        if (kdb_validate_metadata(valid[i], strlen(valid[i])) != 0)
            fail_msg("rejected valid metadata: %s", valid[i]);
    }
}

static void test_json_everything_else_is_einval(void **state)
{
    static const char *const invalid[] = {
        "",
        "   ",
        "[]",
        "\"text\"",
        "42",
        "null",
        "{",
        "}",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{,}",
        "{\"a\":1}{}",
        "{\"a\":1} x",
        "{a:1}",
        "{'a':1}",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":-}",
        "{\"a\":1e}",
        "{\"a\":+1}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12g4\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"\xc3\"}",
        "{\"a\":\"\xc0\xaf\"}",         /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}",     /* surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* past U+10FFFF */
        "{\"a\":\"\xff\"}",
        "{\"a\":[1,2}",
        "{\"a\":[1 2]}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (kdb_validate_metadata(invalid[i], strlen(invalid[i])) != -EINVAL)
            fail_msg("accepted invalid metadata: %s", invalid[i]);
    }
    assert_int_equal(kdb_validate_metadata(NULL, 0), -EINVAL);
    assert_int_equal(kdb_validate_metadata("{\"a\":\"x\0y\"}", 11), -EINVAL);
}

static void test_json_length_bounds_the_text(void **state)
{
    const char *text = "{\"kind\":\"function\",\"list\":[1,2,{\"x\":\"y\"}]}";
    size_t len = strlen(text);

    (void)state;
    assert_int_equal(kdb_validate_metadata(text, len), 0);
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(kdb_validate_metadata(text, cut), -EINVAL);
}

static void test_json_depth_limit_holds(void **state)
{
    size_t depth = KDB_METADATA_DEPTH_LIMIT;
    char *text = malloc(2 * depth + 16);
    size_t len = 0;

    (void)state;
    assert_non_null(text);
    /* {"a": [[...[]...]]} with depth levels in all */
    memcpy(text, "{\"a\":", 5);
    len = 5;
    for (size_t i = 1; i < depth; i++)
        text[len++] = '[';
    for (size_t i = 1; i < depth; i++)
        text[len++] = ']';
    text[len++] = '}';
    assert_int_equal(kdb_validate_metadata(text, len), 0);
    /* One level more. */
    memmove(text + 6, text + 5, len - 5);
    text[5] = '[';
    len++;
    memmove(text + len, text + len - 1, 1);
    text[len - 1] = ']';
    len++;
    assert_int_equal(kdb_validate_metadata(text, len), -EINVAL);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_objects_pass),
        cmocka_unit_test(test_json_everything_else_is_einval),
        cmocka_unit_test(test_json_length_bounds_the_text),
        cmocka_unit_test(test_json_depth_limit_holds),
    };

    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
