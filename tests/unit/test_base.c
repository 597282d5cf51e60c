/*
 * test_base.c -- the bottom of the daemon (src/base/base.h): the capped
 * buffer refuses what would pass its cap and keeps what it had, stays
 * NUL-terminated, hands its bytes over; the x allocators never return
 * NULL for a size of 0, and out of memory aborts with one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base.h"

/* Up to the cap exactly is taken; one byte more is refused whole. */
static void a_buffer_refuses_past_its_cap(void **state)
{
    (void)state;
    xbuf b;
    xbuf_init(&b, 8);
    assert_int_equal(xbuf_add(&b, "abcde", 5), 0);
    assert_int_equal(xbuf_add(&b, "xyzw", 4), -1);
    assert_string_equal(b.data, "abcde");
    assert_int_equal(b.len, 5);
    assert_int_equal(xbuf_add(&b, "fgh", 3), 0);
    assert_string_equal(b.data, "abcdefgh");
    assert_int_equal(xbuf_add(&b, "", 0), 0);
    assert_int_equal(xbuf_add(&b, "i", 1), -1);
    assert_int_equal(xbuf_printf(&b, "%d", 1), -1);
    assert_string_equal(b.data, "abcdefgh");
    xbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_int_equal(xbuf_printf(&b, "%s-%d", "ab", 12345), 0);
    assert_string_equal(b.data, "ab-12345");
    xbuf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(xbuf_add(&b, "123456789", 9), -1); /* the cap outlives cleanup */
    xbuf_cleanup(&b);
    xbuf_cleanup(NULL);
}

/* Without a cap a buffer grows as far as it is fed; steal hands the
 * bytes over ("" when none) and leaves it empty. */
static void a_buffer_without_cap_grows_and_hands_over(void **state)
{
    (void)state;
    xbuf b;
    xbuf_init(&b, 0);
    char *empty = xbuf_steal(&b);
    assert_string_equal(empty, "");
    free(empty);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(xbuf_printf(&b, "%04d", i % 10000), 0);
    assert_int_equal(b.len, 40000);
    assert_int_equal(strlen(b.data), 40000);
    assert_memory_equal(b.data + 39996, "9999", 4);
    size_t len = b.len;
    char *s = xbuf_steal(&b);
    assert_int_equal(strlen(s), len);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(s);
}

/* A zeroed xbuf is an empty one without a cap, as the structs that hold
 * one start (calloc, = {0}). */
static void a_zeroed_buffer_is_empty_and_uncapped(void **state)
{
    (void)state;
    xbuf b = {0};
    assert_null(b.data);
    char big[5000];
    memset(big, 'x', sizeof big);
    assert_int_equal(xbuf_add(&b, big, sizeof big), 0);
    assert_int_equal(xbuf_add(&b, "y", 1), 0);
    assert_int_equal(b.len, sizeof big + 1);
    assert_int_equal(b.data[b.len - 1], 'y');
    assert_int_equal(b.data[b.len], '\0');
    xbuf_cleanup(&b);
}

static void allocators_never_return_null(void **state)
{
    (void)state;
    void *p = xmalloc(0), *q = xcalloc(0, 0);
    assert_non_null(p);
    assert_non_null(q);
    free(p);
    free(q);
    unsigned char *z = xcalloc(4, 8);
    for (int i = 0; i < 32; i++)
        assert_int_equal(z[i], 0);
    free(z);
    assert_null(xstrdup(NULL));
    char *s = xstrdup("dd");
    assert_string_equal(s, "dd");
    free(s);
}

/* Out of memory ends the process with SIGABRT after one line on stderr. */
static void out_of_memory_aborts_with_a_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        signal(SIGABRT, SIG_DFL);
        xoom();
    }
    close(fds[1]);
    char line[128] = "";
    ssize_t n = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
        fail_msg("xoom did not abort: status %d", st);
    assert_true(n > 0);
    assert_string_equal(line, "docker-dispatch: out of memory\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_buffer_refuses_past_its_cap),
        cmocka_unit_test(a_buffer_without_cap_grows_and_hands_over),
        cmocka_unit_test(a_zeroed_buffer_is_empty_and_uncapped),
        cmocka_unit_test(allocators_never_return_null),
        cmocka_unit_test(out_of_memory_aborts_with_a_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
