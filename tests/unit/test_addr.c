/*
 * test_addr.c -- daemon address parsing: every accepted form and the
 * refusals, table-driven.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dkc.h"

typedef struct good_case {
    const char *text;
    dkc_addr_kind kind;
    const char *path_or_host;
    int port;
    bool tls;
} good_case;

static const good_case good[] = {
    {"unix:///var/run/docker.sock", DKC_ADDR_UNIX, "/var/run/docker.sock", 0, false},
    {"/var/run/docker.sock", DKC_ADDR_UNIX, "/var/run/docker.sock", 0, false},
    {"./docker.sock", DKC_ADDR_UNIX, "./docker.sock", 0, false},
    {"172.17.0.1:2375", DKC_ADDR_TCP, "172.17.0.1", 2375, false},
    {"tcp://127.0.0.1:2376", DKC_ADDR_TCP, "127.0.0.1", 2376, false},
    {"tcp://127.0.0.1:2376/", DKC_ADDR_TCP, "127.0.0.1", 2376, false},
    {"tcp://docker.example", DKC_ADDR_TCP, "docker.example", 0, false},
    {"localhost", DKC_ADDR_TCP, "localhost", 0, false},
    {"http://localhost:80", DKC_ADDR_TCP, "localhost", 80, false},
    {"https://10.0.0.1:2376", DKC_ADDR_TCP, "10.0.0.1", 2376, true},
    {"tcp://[::1]:2375", DKC_ADDR_TCP, "::1", 2375, false},
    {"[fe80::1]", DKC_ADDR_TCP, "fe80::1", 0, false},
    {"tcp://host:65535", DKC_ADDR_TCP, "host", 65535, false},
};

static const char *const bad[] = {
    "",
    "unix://",
    "tcp://",
    "tcp://host:",
    "tcp://host:0",
    "tcp://host:65536",
    "tcp://host:-1",
    "tcp://host:12ab",
    "tcp://host:2375/path",
    "tcp://user@host:2375",
    "::1:2375",
    "[::1",
    "[::1]x",
    "ssh://user@host",
    "fd://",
    "npipe:////./pipe/docker_engine",
    "tcp://a b:1",
    "tcp://host?x=1",
    ("unix:///a/very/long/path/that/goes/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/"
     "and/on/and/on/and/on/and/on/and/on/and/on/and/on/docker.sock"),
};

static void accepted_forms(void **state)
{
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        dkc_addr a;
        int rc = dkc_addr_parse(good[i].text, &a);
        if (rc != 0)
            fprintf(stderr, "case %zu: %s\n", i, good[i].text);
        assert_int_equal(rc, 0);
        assert_int_equal(a.kind, good[i].kind);
        if (a.kind == DKC_ADDR_UNIX) {
            assert_string_equal(a.path, good[i].path_or_host);
        } else {
            assert_string_equal(a.host, good[i].path_or_host);
            assert_int_equal(a.port, good[i].port);
        }
        assert_int_equal(a.tls, good[i].tls);
    }
}

static void refused_forms(void **state)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dkc_addr a;
        int rc = dkc_addr_parse(bad[i], &a);
        if (rc != DKC_EADDR)
            fprintf(stderr, "case %zu: \"%s\" gave %d\n", i, bad[i], rc);
        assert_int_equal(rc, DKC_EADDR);
    }
}

static void null_arguments(void **state)
{
    dkc_addr a;
    assert_int_equal(dkc_addr_parse(NULL, &a), DKC_EINVAL);
    assert_int_equal(dkc_addr_parse("/x.sock", NULL), DKC_EINVAL);
}

static void every_error_code_has_a_name(void **state)
{
    for (int code = 0; code >= DKC_EUNSUPPORTED; code--) {
        const char *s = dkc_strerror(code);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
    }
    assert_string_equal(dkc_strerror(1), "unknown error");
    assert_string_equal(dkc_strerror(-1000), "unknown error");
    assert_string_equal(dkc_strerror(DKC_ENOTFOUND), "not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_forms),
        cmocka_unit_test(refused_forms),
        cmocka_unit_test(null_arguments),
        cmocka_unit_test(every_error_code_has_a_name),
    };
    return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
