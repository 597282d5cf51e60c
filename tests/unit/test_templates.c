/*
 * test_templates.c -- container templates: parameters filled, defaults,
 * a missing or unknown parameter refused by name, and the checks at load
 * (bad JSON, bad syntax, a body the policy refuses: file and reason
 * named; an unknown template not_found).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "templates.h"

static char g_dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void clear_dir(void)
{
    char line[128];
    snprintf(line, sizeof line, "rm -f %s/*.json", g_dir);
    assert_int_equal(system(line), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/dd-tpl-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clear_dir();
    rmdir(g_dir);
    return 0;
}

static void t_render(void **state)
{
    (void)state;
    clear_dir();
    write_file("web.json", "{\"Image\":\"busybox:${TAG:-latest}\",\"Cmd\":[\"echo\",\"${MSG}\","
                           "\"$${HOME}\"],\"HostConfig\":{\"NetworkMode\":\"none\"}}");
    write_file("notes.txt", "not a template");
    dd_policy p;
    policy_init(&p);
    dd_templates *t = NULL;
    char err[600], field[128];
    assert_int_equal(templates_load(g_dir, &p, &t, err, sizeof err), 0);
    assert_int_equal(templates_count(t), 1);
    int code = 0;
    json_t *params = json_pack("{s:s}", "MSG", "hello ${X}");
    json_t *b = templates_render(t, "web", params, &code, err, sizeof err, field, sizeof field);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "Image")), "busybox:latest");
    json_t *cmd = json_object_get(b, "Cmd");
    /* a value is put in as it is: never expanded again */
    assert_string_equal(json_string_value(json_array_get(cmd, 1)), "hello ${X}");
    assert_string_equal(json_string_value(json_array_get(cmd, 2)), "${HOME}");
    json_decref(b);
    json_decref(params);
    /* a default overridden */
    params = json_pack("{s:s, s:s}", "MSG", "m", "TAG", "musl");
    b = templates_render(t, "web", params, &code, err, sizeof err, field, sizeof field);
    assert_string_equal(json_string_value(json_object_get(b, "Image")), "busybox:musl");
    json_decref(b);
    json_decref(params);
    /* missing, unknown */
    assert_null(templates_render(t, "web", NULL, &code, err, sizeof err, field, sizeof field));
    assert_int_equal(code, PROTO_EBADREQUEST);
    assert_string_equal(field, "params.MSG");
    params = json_pack("{s:s, s:s}", "MSG", "m", "TYPO", "x");
    assert_null(templates_render(t, "web", params, &code, err, sizeof err, field, sizeof field));
    assert_string_equal(field, "params.TYPO");
    json_decref(params);
    assert_null(templates_render(t, "nope", NULL, &code, err, sizeof err, field, sizeof field));
    assert_int_equal(code, PROTO_ENOTFOUND);
    templates_free(t);
    templates_free(NULL);
    policy_cleanup(&p);
}

/* What stops the start: each names its file. */
static void t_load_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body, *says;
    } bad[] = {
        {"{\"Image\":", "line"},
        {"[1,2]", "not a JSON object"},
        {"{\"Image\":\"x\",\"image\":\"y\"}", "duplicate"},
        {"{\"Image\":\"busybox\",\"Cmd\":[\"${}\"]}", "needs a name"},
        {"{\"Image\":\"busybox\",\"Cmd\":[\"${A\"]}", "expected }"},
        {"{\"Image\":\"busybox\",\"HostConfig\":{\"Privileged\":true}}", "policy"},
        {"{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"${SRC:-/}:/host\"]}}", "policy"},
    };
    dd_policy p;
    policy_init(&p);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clear_dir();
        write_file("bad.json", bad[i].body);
        dd_templates *t = NULL;
        char err[600] = "";
        assert_int_equal(templates_load(g_dir, &p, &t, err, sizeof err), -1);
        assert_null(t);
        if (strstr(err, "bad.json") == NULL || strstr(err, bad[i].says) == NULL)
            fail_msg("template %zu: %s", i, err);
    }
    /* a parameter without default: the policy is checked at each request */
    clear_dir();
    write_file("free.json", "{\"Image\":\"${IMG}\"}");
    dd_templates *t = NULL;
    char err[600];
    assert_int_equal(templates_load(g_dir, &p, &t, err, sizeof err), 0);
    templates_free(t);
    assert_int_equal(templates_load("/nonexistent-dir", &p, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir"));
    policy_cleanup(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_render),
        cmocka_unit_test(t_load_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
