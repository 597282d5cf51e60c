/*
 * test_buf_query.c -- the bounded buffer, reference checks, query strings and
 * string-list conversions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkc_internal.h"

static void buffer_refuses_to_grow_past_its_cap(void **state)
{
    dkc__buf b;
    dkc__buf_init(&b, 10);
    assert_int_equal(dkc__buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(dkc__buf_append(&b, "x", 1), DKC_ETOOBIG);
    assert_int_equal(b.len, 10); /* unchanged */
    assert_memory_equal(b.data, "0123456789", 11);
    dkc__buf_consume(&b, 4);
    assert_string_equal(b.data, "456789");
    assert_int_equal(dkc__buf_append(&b, "abcd", 4), 0);
    assert_string_equal(b.data, "456789abcd");
    assert_int_equal(dkc__buf_printf(&b, "%d", 1), DKC_ETOOBIG);
    dkc__buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_int_equal(dkc__buf_printf(&b, "%s-%d", "ab", 42), 0);
    assert_string_equal(b.data, "ab-42");
    char *s = dkc__buf_steal(&b);
    assert_string_equal(s, "ab-42");
    assert_null(b.data);
    free(s);
    /* A huge request cannot overflow the size arithmetic. */
    dkc__buf_init(&b, 0);
    assert_int_equal(dkc__buf_append(&b, "", SIZE_MAX), DKC_ETOOBIG);
    dkc__buf_cleanup(&b);
    dkc__buf_cleanup(NULL);
}

static void buffer_grows_without_cap(void **state)
{
    dkc__buf b;
    dkc__buf_init(&b, 0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(dkc__buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 30000);
    assert_int_equal(b.data[b.len], '\0');
    dkc__buf_cleanup(&b);
}

static void references(void **state)
{
    const char *ok[] = {"abc", "a1b2c3", "my_container.1-x", "0123456789abcdef"};
    const char *bad[] = {"",     "../x", "..",   "a/b",         "a?b", "a#b",
                         "a%2f", "a b",  "a\nb", "caf\xc3\xa9", "."};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(dkc__check_ref(ok[i], false), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (dkc__check_ref(bad[i], false) != DKC_EINVAL)
            fprintf(stderr, "accepted \"%s\"\n", bad[i]);
        assert_int_equal(dkc__check_ref(bad[i], false), DKC_EINVAL);
    }
    assert_int_equal(dkc__check_ref(NULL, false), DKC_EINVAL);
    /* Image references may carry registry, path, tag and digest. */
    assert_int_equal(dkc__check_ref("localhost:5000/team/busybox:1.0", true), 0);
    assert_int_equal(dkc__check_ref("busybox@sha256:0123abcd", true), 0);
    assert_int_equal(dkc__check_ref("a/../b", true), DKC_EINVAL);
    assert_int_equal(dkc__check_ref("a//b", true), DKC_EINVAL);
    assert_int_equal(dkc__check_ref("/a", true), DKC_EINVAL);
    assert_int_equal(dkc__check_ref("a/./b", true), DKC_EINVAL);
    char longref[300];
    memset(longref, 'a', sizeof longref - 1);
    longref[sizeof longref - 1] = '\0';
    assert_int_equal(dkc__check_ref(longref, false), DKC_EINVAL);
}

static void query_strings_are_encoded(void **state)
{
    dkc__buf b;
    dkc__buf_init(&b, 0);
    assert_int_equal(dkc__buf_printf(&b, "/containers/json"), 0);
    assert_int_equal(dkc__query_add(&b, "all", "1"), 0);
    assert_int_equal(dkc__query_add(&b, "skip", NULL), 0);
    assert_int_equal(dkc__query_add(&b, "name", "a b&c=d/é"), 0);
    assert_int_equal(dkc__query_addf(&b, "t", "%d", 10), 0);
    assert_string_equal(b.data, "/containers/json?all=1&name=a%20b%26c%3Dd%2F%C3%A9&t=10");

    dkc__buf_reset(&b);
    assert_int_equal(dkc__buf_printf(&b, "/events"), 0);
    json_t *empty = json_object();
    assert_int_equal(dkc__query_add_json(&b, "filters", empty), 0);
    assert_string_equal(b.data, "/events");
    json_t *f = json_pack("{s:[s]}", "label", "a=b");
    assert_int_equal(dkc__query_add_json(&b, "filters", f), 0);
    assert_string_equal(b.data, "/events?filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
    json_decref(f);
    json_decref(empty);
    dkc__buf_cleanup(&b);
}

static void string_lists(void **state)
{
    assert_null(dkc__strv_to_json(NULL));
    const char *argv[] = {"sh", "-c", "echo hi", NULL};
    json_t *a = dkc__strv_to_json(argv);
    assert_int_equal(json_array_size(a), 3);
    assert_string_equal(json_string_value(json_array_get(a, 2)), "echo hi");
    json_decref(a);

    int err = 0;
    const char *kv[] = {"a=1", "b=", "c=x=y", NULL};
    json_t *o = dkc__kv_to_json(kv, &err);
    assert_int_equal(err, 0);
    assert_string_equal(json_string_value(json_object_get(o, "a")), "1");
    assert_string_equal(json_string_value(json_object_get(o, "b")), "");
    assert_string_equal(json_string_value(json_object_get(o, "c")), "x=y");
    json_decref(o);
    const char *nokey[] = {"=1", NULL};
    assert_null(dkc__kv_to_json(nokey, &err));
    assert_int_equal(err, DKC_EINVAL);
    const char *noeq[] = {"a=1", "novalue", NULL};
    assert_null(dkc__kv_to_json(noeq, &err));
    assert_int_equal(err, DKC_EINVAL);
}

static void membuf_reader(void **state)
{
    dkc_membuf_reader r = {.data = "hello world", .len = 11, .pos = 0};
    char buf[4];
    assert_int_equal(dkc_membuf_read(&r, buf, sizeof buf), 4);
    assert_memory_equal(buf, "hell", 4);
    assert_int_equal(dkc_membuf_read(&r, buf, sizeof buf), 4);
    assert_int_equal(dkc_membuf_read(&r, buf, sizeof buf), 3);
    assert_memory_equal(buf, "rld", 3);
    assert_int_equal(dkc_membuf_read(&r, buf, sizeof buf), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buffer_refuses_to_grow_past_its_cap),
        cmocka_unit_test(buffer_grows_without_cap),
        cmocka_unit_test(references),
        cmocka_unit_test(query_strings_are_encoded),
        cmocka_unit_test(string_lists),
        cmocka_unit_test(membuf_reader),
    };
    return cmocka_run_group_tests_name("buf_query", tests, NULL, NULL);
}
