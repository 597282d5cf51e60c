/*
 * test_log.c -- the shape of the log lines (src/log/log.h): text and JSON,
 * records and diagnostics, with and without a request bound to the thread,
 * and the log file (opened, reopened after a rename, a refusal keeping the
 * old one).
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

#include <jansson.h>

#include "log.h"

static FILE *g_rec, *g_diag;

static int setup(void **state)
{
    (void)state;
    g_rec = tmpfile();
    g_diag = tmpfile();
    if (g_rec == NULL || g_diag == NULL)
        return -1;
    log_set_record_stream(g_rec);
    log_set_diag_stream(g_diag);
    log_set_node("n1");
    log_bind_request(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_record_stream(NULL);
    log_set_diag_stream(NULL);
    log_set_node(NULL);
    log_bind_request(NULL);
    log_setup(false, LOG_LVL_INFO);
    fclose(g_rec);
    fclose(g_diag);
    return 0;
}

/* Line i (from 0) of f, malloc'd; NULL past the end. */
static char *line_of(FILE *f, int i)
{
    rewind(f);
    char *l = NULL;
    size_t cap = 0;
    for (int k = 0; k <= i; k++)
        if (getline(&l, &cap, f) < 0) {
            free(l);
            return NULL;
        }
    l[strcspn(l, "\n")] = '\0';
    return l;
}

/* Line i of f parsed as one JSON object (fails otherwise). */
static json_t *json_line(FILE *f, int i)
{
    char *l = line_of(f, i);
    assert_non_null(l);
    json_error_t je;
    json_t *o = json_loads(l, 0, &je);
    if (o == NULL)
        print_error("not JSON: %s (%s)\n", l, je.text);
    assert_true(json_is_object(o));
    free(l);
    return o;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void json_diagnostics(void **state)
{
    (void)state;
    log_setup(true, LOG_LVL_INFO);
    log_msg(LOG_LVL_WARN, "Docker is %s", "away");
    log_bind_request("req-1");
    log_msg(LOG_LVL_ERROR, "while doing it: \"quoted\"\n and a newline");
    log_bind_request(NULL);
    log_msg(LOG_LVL_DEBUG, "below the level: not written");

    json_t *a = json_line(g_diag, 0);
    assert_non_null(str(a, "ts"));
    assert_int_equal(strlen(str(a, "ts")), 24); /* 2026-11-23T10:00:00.123Z */
    assert_string_equal(str(a, "level"), "warn");
    assert_string_equal(str(a, "msg"), "Docker is away");
    assert_string_equal(str(a, "node"), "n1");
    assert_null(json_object_get(a, "request_id"));
    json_decref(a);

    json_t *b = json_line(g_diag, 1);
    assert_string_equal(str(b, "level"), "error");
    assert_string_equal(str(b, "msg"), "while doing it: \"quoted\"\n and a newline");
    assert_string_equal(str(b, "request_id"), "req-1");
    assert_string_equal(str(b, "node"), "n1");
    json_decref(b);
    assert_null(line_of(g_diag, 2));
}

static void json_records(void **state)
{
    (void)state;
    log_setup(true, LOG_LVL_INFO);
    json_t *r = json_pack("{s:s, s:s, s:s}", "event", "request", "id", "r-9", "cmd", "run");
    log_record("ignored in JSON", r);
    json_decref(r);
    /* a record without an id, from a thread bound to a request */
    log_bind_request("r-10");
    r = json_pack("{s:s, s:s}", "event", "output", "line", "hi");
    log_record(NULL, r);
    json_decref(r);
    log_bind_request(NULL);
    /* a record's own node wins (a reply answered by another node) */
    r = json_pack("{s:s, s:s, s:s}", "event", "reply", "id", "r-11", "node", "n2");
    log_record(NULL, r);
    json_decref(r);

    json_t *a = json_line(g_rec, 0);
    assert_string_equal(str(a, "level"), "info");
    assert_string_equal(str(a, "msg"), "request");
    assert_string_equal(str(a, "event"), "request");
    assert_string_equal(str(a, "request_id"), "r-9");
    assert_string_equal(str(a, "id"), "r-9");
    assert_string_equal(str(a, "node"), "n1");
    assert_string_equal(str(a, "cmd"), "run");
    assert_non_null(str(a, "ts"));
    /* the stable keys come first */
    const char *keys[] = {"ts", "level", "msg", "node", "request_id", "event"};
    void *it = json_object_iter(a);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++, it = json_object_iter_next(a, it))
        assert_string_equal(json_object_iter_key(it), keys[i]);
    json_decref(a);

    json_t *b = json_line(g_rec, 1);
    assert_string_equal(str(b, "request_id"), "r-10");
    assert_string_equal(str(b, "msg"), "output");
    json_decref(b);

    json_t *c = json_line(g_rec, 2);
    assert_string_equal(str(c, "node"), "n2");
    assert_string_equal(str(c, "request_id"), "r-11");
    json_decref(c);
    /* diagnostics went elsewhere */
    assert_null(line_of(g_diag, 0));
}

static void text_lines(void **state)
{
    (void)state;
    log_setup(false, LOG_LVL_INFO);
    log_record("request id=r-1 dialect=docker-dispatch cmd=run", NULL);
    log_record("reply id=r-1 cmd=run node=n9 ok", NULL); /* names its node already */
    log_record("something without an id", NULL);
    /* node= and id= inside an output line's text or a quoted value are not the line's */
    log_record("output id=r-3 stdout| a node=x id=y", NULL);
    log_record("reply id=r-4 cmd=run error=x msg=\"node=q\"", NULL);
    log_msg(LOG_LVL_INFO, "plain");
    log_bind_request("r-2");
    log_msg(LOG_LVL_WARN, "about a request");
    log_bind_request(NULL);

    char *l = line_of(g_rec, 0);
    assert_non_null(strstr(l, "Z request id=r-1 node=n1 dialect=docker-dispatch cmd=run"));
    free(l);
    l = line_of(g_rec, 1);
    assert_non_null(strstr(l, "Z reply id=r-1 cmd=run node=n9 ok"));
    assert_null(strstr(l, "node=n1"));
    free(l);
    l = line_of(g_rec, 2);
    assert_non_null(strstr(l, "Z something without an id node=n1"));
    free(l);
    l = line_of(g_rec, 3);
    assert_non_null(strstr(l, "Z output id=r-3 node=n1 stdout| a node=x id=y"));
    free(l);
    l = line_of(g_rec, 4);
    assert_non_null(strstr(l, "Z reply id=r-4 node=n1 cmd=run error=x msg=\"node=q\""));
    free(l);
    l = line_of(g_diag, 0);
    assert_non_null(strstr(l, "Z info  plain"));
    assert_null(strstr(l, "id="));
    free(l);
    l = line_of(g_diag, 1);
    assert_non_null(strstr(l, "Z warn  about a request id=r-2 node=n1"));
    free(l);
}

/* Counts the lines of path holding needle. */
static int count_in(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char buf[4096];
    int n = 0;
    while (fgets(buf, sizeof buf, f))
        n += strstr(buf, needle) != NULL;
    fclose(f);
    return n;
}

static void log_file_reopen(void **state)
{
    (void)state;
    log_set_record_stream(NULL);
    log_set_diag_stream(NULL);
    log_setup(false, LOG_LVL_INFO);
    char path[64], moved[80];
    snprintf(path, sizeof path, "/tmp/dd-logtest-%ld.log", (long)getpid());
    snprintf(moved, sizeof moved, "%s.1", path);
    unlink(path);
    char *cause = NULL;
    assert_int_equal(log_open_file(path, &cause), 0);
    log_record("request id=a", NULL);
    log_msg(LOG_LVL_INFO, "diag one");
    assert_int_equal(count_in(path, "request id=a"), 1);
    assert_int_equal(count_in(path, "diag one"), 1);

    assert_int_equal(rename(path, moved), 0);
    log_msg(LOG_LVL_INFO, "still the old file");
    assert_int_equal(log_reopen(&cause), 0);
    log_record("request id=b", NULL);
    assert_int_equal(count_in(moved, "still the old file"), 1);
    assert_int_equal(count_in(path, "request id=b"), 1);
    assert_int_equal(count_in(moved, "request id=b"), 0);

    /* a file that cannot be opened: refused with the path, the old kept */
    char bad[80];
    snprintf(bad, sizeof bad, "/nonexistent-dir/%ld.log", (long)getpid());
    assert_int_equal(log_open_file(bad, &cause), -1);
    assert_non_null(cause);
    assert_non_null(strstr(cause, bad));
    free(cause);
    cause = NULL;
    log_record("request id=c", NULL);
    assert_int_equal(count_in(path, "request id=c"), 1);

    log_close_file();
    unlink(path);
    unlink(moved);
    /* no file: reopen does nothing */
    assert_int_equal(log_reopen(&cause), 0);
    assert_null(cause);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(json_diagnostics, setup, teardown),
        cmocka_unit_test_setup_teardown(json_records, setup, teardown),
        cmocka_unit_test_setup_teardown(text_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(log_file_reopen, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
