/*
 * test_examples.c -- the client examples of examples/ against the real
 * daemon, RabbitMQ and Docker, each as a user runs it: Python
 * (examples/python/dispatch_run.py under Debian's /usr/bin/python3 with
 * python3-pika), Node (examples/node/dispatch-run.js with amqplib, which
 * `npm ci` installs from package-lock.json when it is missing) and C
 * ($EXAMPLE_C_BIN, examples/c/dispatch_run.c).
 *
 * For each: a run gets exactly one reply for its correlation id, with the
 * container's output, and makes one container; the same request id
 * published twice makes one container, one copy's reply is the result
 * and the other's is `duplicate` naming the request; an image the policy
 * refuses ends with status 1 and the error code on stderr; a queue nobody
 * consumes ends with status 3 (no reply in time), one that does not exist
 * with status 2.  The examples print one "publishing request R
 * (correlation C)" line per copy and one "reply C: ..." line per reply.
 *
 * The daemon runs on a queue and node name of this run, with a policy
 * that admits busybox:* only; teardown removes its containers (by node
 * label) and its topology, and the idle queue of the timeout cases.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"
#include "itest.h"

#define PYTHON  "/usr/bin/python3" /* Debian's, whose python3-pika the example uses */
#define REFUSED "localhost:5000/busybox:latest"

typedef struct {
    const char *name;
    char cmd[1024]; /* the command line that runs it, without arguments */
    int ready;      /* 0 not checked, 1 ready, -1 not installed */
} example;

static example g_examples[] = {{.name = "python"}, {.name = "node"}, {.name = "c"}};

static char g_queue[64], g_node[64], g_idle[80], g_log[128], g_cfg[128];
/* What the last run of an example printed, and its exit status: freed by
 * the next run and by teardown, so that a failed check leaks nothing. */
typedef struct {
    int status;
    char *out, *err;
} ex_run;

static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;
static ex_run g_run;

static void ex_run_cleanup(ex_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

/* Runs ex with the arguments args (a printf format, shell words) and the
 * broker and queue in DISPATCH_AMQP_URL / DISPATCH_QUEUE, killed after
 * 60 s; returns its output (g_run). */
static const ex_run *run_example(const example *ex, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const ex_run *run_example(const example *ex, const char *fmt, ...)
{
    ex_run *r = &g_run;
    char args[512], out[128], err[128], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(out, sizeof out, "/tmp/dd-examples-%ld.out", (long)getpid());
    snprintf(err, sizeof err, "/tmp/dd-examples-%ld.err", (long)getpid());
    snprintf(cmd, sizeof cmd, "timeout 60 %s %s >%s 2>%s </dev/null", ex->cmd, args, out, err);
    setenv("DISPATCH_AMQP_URL", lane_amqp_url(), 1);
    setenv("DISPATCH_QUEUE", g_queue, 1);
    ex_run_cleanup(r);
    int64_t t0 = dfx_now_ms();
    int st = system(cmd);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r->out = dfx_read_file(out);
    r->err = dfx_read_file(err);
    unlink(out);
    unlink(err);
    assert_non_null(r->out);
    assert_non_null(r->err);
    dfx_note("%s %s: status %d in %lld ms", ex->name, args, r->status,
             (long long)(dfx_now_ms() - t0));
    return r;
}

/* Fails the test with what the example printed; never returns, so no check
 * after it reads a reply line that was not found. */
static void show(const ex_run *r, const char *why) __attribute__((noreturn));
static void show(const ex_run *r, const char *why)
{
    print_error("%s\n--- stdout:\n%s--- stderr:\n%s---\n", why, r->out, r->err);
    fail();
    abort(); /* fail() leaves the test by longjmp */
}

/* The number of lines of text that begin with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        n += strncmp(l, prefix, len) == 0;
    return n;
}

/* The correlation ids of the copies of request_id the example published,
 * into corrs (up to max, 33 bytes each); their number. */
static int published(const char *out, const char *request_id, char (*corrs)[33], int max)
{
    char prefix[160];
    int n = 0;
    snprintf(prefix, sizeof prefix, "publishing request %s (correlation ", request_id);
    for (const char *l = strstr(out, prefix); l && n < max; l = strstr(l + 1, prefix)) {
        if (l != out && l[-1] != '\n')
            continue;
        if (sscanf(l + strlen(prefix), "%32[0-9a-f])", corrs[n]) == 1)
            n++;
    }
    return n;
}

/* The number of replies shown for corr, and in *line the first one (0
 * and NULL when there is none). */
static int replies(const char *out, const char *corr, const char **line)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "reply %s: ", corr);
    *line = strstr(out, prefix);
    return *line != NULL ? count_lines(out, prefix) : 0;
}

/* Whether ex can run here: the interpreter and its AMQP library, which
 * for Node `npm ci` installs once; fails the test when not. */
static void need(example *ex)
{
    const char *dir = getenv("EXAMPLES_DIR"), *cbin = getenv("EXAMPLE_C_BIN");
    assert_non_null(dir);
    assert_non_null(cbin);
    char probe[1024], lib[512];
    struct stat st;
    if (ex->ready == 0 && strcmp(ex->name, "python") == 0) {
        snprintf(ex->cmd, sizeof ex->cmd, PYTHON " '%s/python/dispatch_run.py'", dir);
        ex->ready = system(PYTHON " -c 'import pika' 2>/dev/null") == 0 ? 1 : -1;
    } else if (ex->ready == 0 && strcmp(ex->name, "node") == 0) {
        snprintf(ex->cmd, sizeof ex->cmd, "node '%s/node/dispatch-run.js'", dir);
        snprintf(lib, sizeof lib, "%s/node/node_modules/amqplib/package.json", dir);
        snprintf(probe, sizeof probe, "cd '%s/node' && timeout 300 npm ci --no-audit --no-fund >&2",
                 dir);
        if (stat(lib, &st) != 0) {
            dfx_note("installing amqplib: %s", probe);
            if (system(probe) != 0)
                dfx_note("npm ci failed");
        }
        ex->ready = stat(lib, &st) == 0 && system("node --version >/dev/null") == 0 ? 1 : -1;
    } else if (ex->ready == 0) {
        snprintf(ex->cmd, sizeof ex->cmd, "'%s'", cbin);
        ex->ready = access(cbin, X_OK) == 0 ? 1 : -1;
    }
    if (ex->ready < 0)
        print_error("the %s example cannot run here (%s): scripts/install-deps.sh installs what "
                    "it needs\n",
                    ex->name, ex->cmd);
    assert_int_equal(ex->ready, 1);
}

/* A request id of this run for case what of ex. */
static const char *request_id(const example *ex, const char *what)
{
    static char id[96];
    snprintf(id, sizeof id, "ex-%s-%s-%ld-%lld", ex->name, what, (long)getpid(),
             (long long)dfx_now_ms());
    return id;
}

/* Checks that want containers were made for request id since since_s. */
static void containers_made(const char *id, int64_t since_s, int want)
{
    int n = dfx_count_creates(g_dkc, id, since_s);
    if (n != want)
        print_error("%d containers made for request %s, %d expected\n", n, id, want);
    assert_int_equal(n, want);
}

/* A run: one reply for its correlation id, the output, one container. */
static void check_run(example *ex)
{
    need(ex);
    char id[96], corrs[2][33];
    const char *line = NULL;
    snprintf(id, sizeof id, "%s", request_id(ex, "run"));
    int64_t since = time(NULL) - 1;
    const ex_run *r = run_example(ex, "--id %s --linger 0.5", id);
    if (r->status != 0 || published(r->out, id, corrs, 2) != 1)
        show(r, "one request published and a reply with status 0 expected");
    if (replies(r->out, corrs[0], &line) != 1 || strncmp(strchr(line, ':'), ": ok, container ", 16))
        show(r, "exactly one reply, ok, expected for the correlation id");
    if (count_lines(r->out, "hello world!\n") != 1)
        show(r, "the container's output \"hello world!\" expected once");
    containers_made(id, since, 1);
}

/* The same request id twice: one container; one copy's reply is the
 * result, the other's `duplicate` naming the request. */
static void check_duplicate(example *ex)
{
    need(ex);
    char id[96], corrs[3][33], dup[160];
    const char *a = NULL, *b = NULL;
    snprintf(id, sizeof id, "%s", request_id(ex, "dup"));
    snprintf(dup, sizeof dup, ": duplicate of request %s (container ", id);
    int64_t since = time(NULL) - 1;
    const ex_run *r = run_example(ex, "--twice --id %s --linger 0.5", id);
    if (r->status != 0 || published(r->out, id, corrs, 3) != 2 || strcmp(corrs[0], corrs[1]) == 0)
        show(r, "two copies with their own correlation ids and status 0 expected");
    if (replies(r->out, corrs[0], &a) != 1 || replies(r->out, corrs[1], &b) != 1)
        show(r, "exactly one reply for each correlation id expected");
    int ok_a = strncmp(strchr(a, ':'), ": ok, container ", 16) == 0;
    int ok_b = strncmp(strchr(b, ':'), ": ok, container ", 16) == 0;
    if (ok_a == ok_b || strncmp(strchr(ok_a ? b : a, ':'), dup, strlen(dup)) != 0)
        show(r, "one reply ok and the other duplicate of the request expected");
    if (count_lines(r->out, "hello world!\n") != 1)
        show(r, "the container's output \"hello world!\" expected once");
    containers_made(id, since, 1);
}

/* An image the policy refuses: status 1, the code on stderr, nothing made. */
static void check_refused(example *ex)
{
    need(ex);
    char id[96], corrs[2][33];
    const char *line = NULL;
    snprintf(id, sizeof id, "%s", request_id(ex, "refused"));
    int64_t since = time(NULL) - 1;
    const ex_run *r = run_example(ex, "--id %s " REFUSED, id);
    if (r->status != 1 || published(r->out, id, corrs, 2) != 1 ||
        replies(r->out, corrs[0], &line) != 1)
        show(r, "one reply and status 1 expected");
    if (strncmp(strchr(line, ':'), ": error policy_denied\n", 22) != 0 ||
        strstr(r->err, "failed: policy_denied: ") == NULL || strstr(r->err, id) == NULL)
        show(r, "the error code policy_denied and the request id expected");
    containers_made(id, since, 0);
}

/* No reply in time (a queue nobody consumes): status 3, the request id. */
static void check_no_reply(example *ex)
{
    need(ex);
    char id[96];
    snprintf(id, sizeof id, "%s", request_id(ex, "idle"));
    const ex_run *r = run_example(ex, "--id %s -q %s --timeout 0.5", id, g_idle);
    if (r->status != 3 || strstr(r->err, "no reply within") == NULL || strstr(r->err, id) == NULL ||
        count_lines(r->out, "reply ") != 0)
        show(r, "status 3, \"no reply within\" and the request id expected");
}

/* A queue that does not exist: status 2 at once, saying so. */
static void check_no_queue(example *ex)
{
    need(ex);
    const ex_run *r = run_example(ex, "-q %s.missing", g_queue);
    if (r->status != 2 || strstr(r->err, "does not exist: is docker-dispatch running?") == NULL)
        show(r, "status 2 and \"does not exist\" expected");
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_queue, sizeof g_queue, "dd-examples-%ld", (long)getpid());
    snprintf(g_node, sizeof g_node, "examples-node-%ld", (long)getpid());
    snprintf(g_idle, sizeof g_idle, "%s.idle", g_queue);
    snprintf(g_log, sizeof g_log, "/tmp/dd-examples-%ld.log", (long)getpid());
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-examples-%ld.json", (long)getpid());
    FILE *cf = fopen(g_cfg, "w");
    if (cf == NULL)
        return -1;
    fputs("{\"policy\": {\"images\": [\"busybox:*\"]}}\n", cf);
    fclose(cf);
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    g_dkc = itest_client();
    if (g_cli == NULL || g_dkc == NULL || dfx_declare_durable_queue_at(lane_amqp_url(), g_idle))
        return -1;
    g_pid = dfx_start_classic(g_cli, g_queue, g_node, g_cfg, g_log);
    return g_pid < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    dfx_stop(&g_pid, SIGTERM, 15000);
    dfx_forget_node(g_dkc, g_queue, g_node);
    if (g_cli)
        broker_queue_delete(g_cli, g_idle);
    ex_run_cleanup(&g_run);
    dkc_client_free(g_dkc);
    broker_free(g_cli);
    unlink(g_cfg);
    /* kept for a look after a failure: into $DD_TEST_LOGS when set */
    const char *dir = getenv("DD_TEST_LOGS");
    char to[512];
    snprintf(to, sizeof to, "%s/%s", dir ? dir : "", strrchr(g_log, '/') + 1);
    if (dir == NULL || rename(g_log, to) != 0)
        unlink(g_log);
    return 0;
}

/* The cases of example i, named after its language. */
#define EXAMPLE_CASES(lang, i)                                                                     \
    static void test_##lang##_run(void **state)                                                    \
    {                                                                                              \
        check_run(&g_examples[i]);                                                                 \
    }                                                                                              \
    static void test_##lang##_duplicate(void **state)                                              \
    {                                                                                              \
        check_duplicate(&g_examples[i]);                                                           \
    }                                                                                              \
    static void test_##lang##_refused(void **state)                                                \
    {                                                                                              \
        check_refused(&g_examples[i]);                                                             \
    }                                                                                              \
    static void test_##lang##_no_reply(void **state)                                               \
    {                                                                                              \
        check_no_reply(&g_examples[i]);                                                            \
    }                                                                                              \
    static void test_##lang##_no_queue(void **state)                                               \
    {                                                                                              \
        check_no_queue(&g_examples[i]);                                                            \
    }
#define EXAMPLE_TESTS(lang)                                                                        \
    cmocka_unit_test(test_##lang##_run), cmocka_unit_test(test_##lang##_duplicate),                \
        cmocka_unit_test(test_##lang##_refused), cmocka_unit_test(test_##lang##_no_reply),         \
        cmocka_unit_test(test_##lang##_no_queue)

EXAMPLE_CASES(python, 0)
EXAMPLE_CASES(node, 1)
EXAMPLE_CASES(c, 2)

int main(void)
{
    const struct CMUnitTest tests[] = {EXAMPLE_TESTS(python), EXAMPLE_TESTS(node),
                                       EXAMPLE_TESTS(c)};
    if (getenv("CMOCKA_TEST_FILTER")) /* e.g. "test_node_*" while working on one example */
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
