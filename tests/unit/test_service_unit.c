/*
 * test_service_unit.c -- the systemd unit (dist/docker-dispatch.service.in)
 * passes `systemd-analyze verify`: no unknown keys, no bad values, its
 * ExecStart program exists.  Runs where systemd is not PID 1 (a container):
 * verify reads the file offline; the unit checked is the build's copy
 * whose ExecStart is the built daemon ($SERVICE_UNIT, set by meson).
 *
 * A broken copy (a misspelt key, a missing program) must be refused too,
 * so that a verify that says nothing here cannot pass for a check.
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

#define ANALYZE "/usr/bin/systemd-analyze"

/* Runs systemd-analyze verify on path: its exit status, its output (both
 * streams, malloc'd) in *out. */
static int verify(const char *path, char **out)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, ANALYZE " verify --man=no '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = calloc(1, cap);
    assert_non_null(buf);
    size_t r;
    while (n < cap - 1 && (r = fread(buf + n, 1, cap - 1 - n, p)) > 0)
        n += r;
    buf[n] = '\0';
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 1 when out names the unit file base: verify's verdicts on other units
 * of the machine are not ours. */
static int mentions(const char *out, const char *base)
{
    return strstr(out, base) != NULL;
}

static const char *unit_path(void)
{
    const char *u = getenv("SERVICE_UNIT");
    if (u == NULL || access(u, R_OK) != 0) {
        print_error("SERVICE_UNIT (the build's docker-dispatch-test.service) is not set\n");
        fail();
    }
    return u;
}

static void need_analyze(void)
{
    if (access(ANALYZE, X_OK) != 0) {
        print_message("# " ANALYZE " missing (Debian package systemd)\n");
        skip();
    }
}

/* Writes a copy of src to dst with line `from` (a whole line) replaced by
 * `to`; fails when the line is not there. */
static void copy_with(const char *src, const char *dst, const char *from, const char *to)
{
    FILE *in = fopen(src, "r"), *o = fopen(dst, "w");
    assert_non_null(in);
    assert_non_null(o);
    char line[1024];
    int hit = 0;
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, from, strlen(from)) == 0) {
            fprintf(o, "%s\n", to);
            hit = 1;
        } else {
            fputs(line, o);
        }
    }
    fclose(in);
    fclose(o);
    assert_true(hit);
}

static void unit_verifies(void **state)
{
    (void)state;
    need_analyze();
    char *out = NULL;
    const char *u = unit_path();
    int rc = verify(u, &out);
    const char *base = strrchr(u, '/') ? strrchr(u, '/') + 1 : u;
    if (rc != 0 || mentions(out, base))
        print_error("systemd-analyze verify %s (status %d):\n%s", u, rc, out);
    assert_int_equal(rc, 0);
    assert_false(mentions(out, base));
    free(out);
}

static void broken_copies_refused(void **state)
{
    (void)state;
    need_analyze();
    const char *u = unit_path();
    char dst[64];
    snprintf(dst, sizeof dst, "/tmp/dd-unit-%ld.service", (long)getpid());
    char *out = NULL;

    copy_with(u, dst, "NoNewPrivileges=", "NoNewPrivilegs=yes");
    verify(dst, &out);
    assert_non_null(strstr(out, "NoNewPrivilegs"));
    free(out);

    copy_with(u, dst, "ExecStart=", "ExecStart=/nonexistent/docker-dispatch");
    int rc = verify(dst, &out);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "/nonexistent/docker-dispatch"));
    free(out);
    unlink(dst);
}

/* The hardening the unit promises (README, "Running as a service") is in
 * the file: a line each. */
static void unit_has_the_settings(void **state)
{
    (void)state;
    FILE *f = fopen(unit_path(), "r");
    assert_non_null(f);
    char *text = calloc(1, 1 << 16);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 16) - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *want[] = {"\nType=notify\n",
                          "\nWatchdogSec=",
                          "\nRestart=on-failure\n",
                          "\nEnvironmentFile=-/etc/default/docker-dispatch\n",
                          "\nUser=docker-dispatch\n",
                          "\nSupplementaryGroups=docker\n",
                          "\nNoNewPrivileges=yes\n",
                          "\nProtectSystem=strict\n",
                          "\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n",
                          "\nMemoryDenyWriteExecute=yes\n",
                          "\nExecReload=/bin/kill -HUP $MAINPID\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (strstr(text, want[i]) == NULL)
            print_error("missing: %s", want[i] + 1);
        assert_non_null(strstr(text, want[i]));
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unit_verifies),
        cmocka_unit_test(broken_copies_refused),
        cmocka_unit_test(unit_has_the_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
