/*
 * test_ctl.c -- progress messages and dispatchctl against the real daemon,
 * RabbitMQ and Docker: a pull that asks for progress gets interim
 * messages ("final": false) before its one final reply, one that does not
 * ask gets the final reply alone; a bulk run that asks gets one message
 * per piece; dispatchctl ($DISPATCHCTL_BIN) shows both when piped.
 *
 * The daemon runs on a queue and node name unique to this run, with a
 * policy that lets it pull localhost:5000/busybox from the local registry
 * (127.0.0.1:5000, which the shared services provide).  The pull leaves
 * the image as it was (it is there or it is fetched; nothing is removed);
 * the containers the bulk runs make carry the node label, and teardown
 * removes exactly those, then the topology.
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

#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"
#include "itest.h"

#define PULL_REF "localhost:5000/busybox:latest"

static char g_queue[64], g_node[64], g_log[128], g_cfg[128];
static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;
static int g_seq;

/* Publishes body to the work queue; message and correlation id written
 * to id. */
static void send_msg(const char *body, char *id, size_t idlen)
{
    snprintf(id, idlen, "ctl-%ld-%d", (long)getpid(), ++g_seq);
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json"};
    assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
}

/* Every message with correlation id id that comes within timeout_ms, and
 * then for linger_ms after the first one that is not interim: a JSON
 * array in arrival order. */
static json_t *collect(const char *id, int timeout_ms, int linger_ms)
{
    json_t *got = json_array();
    int64_t end = dfx_now_ms() + timeout_ms;
    bool final = false;
    while (dfx_now_ms() < end) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(g_cli, 100, &d);
        if (rc == 1 && d.correlation_id && strcmp(d.correlation_id, id) == 0) {
            json_t *m = json_loadb((const char *)d.body, d.len, 0, NULL);
            assert_non_null(m);
            if (!final && !json_is_false(json_object_get(m, "final"))) {
                final = true;
                end = dfx_now_ms() + linger_ms;
            }
            json_array_append_new(got, m);
        }
        broker_delivery_cleanup(&d);
    }
    return got;
}

/* Checks that got is interim messages and then exactly one final reply
 * (the last); returns the number of interim messages. */
static size_t check_order(const json_t *got, const char *command)
{
    size_t n = json_array_size(got), i;
    const json_t *m;
    assert_true(n >= 1);
    json_array_foreach(got, i, m)
    {
        bool interim = json_is_false(json_object_get(m, "final"));
        if (i + 1 < n) {
            if (!interim)
                print_error("message %zu of %zu is not interim\n", i + 1, n);
            assert_true(interim);
            assert_true(json_is_object(json_object_get(m, "progress")));
            assert_string_equal(json_string_value(json_object_get(m, "command")), command);
            assert_string_equal(json_string_value(json_object_get(m, "node")), g_node);
        } else {
            assert_false(interim);
            assert_null(json_object_get(m, "final"));
            if (!json_is_true(json_object_get(m, "ok"))) {
                char *s = json_dumps(m, 0);
                print_error("final reply: %s\n", s);
                free(s);
            }
            assert_true(json_is_true(json_object_get(m, "ok")));
        }
    }
    return n - 1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_queue, sizeof g_queue, "dd-ctltest-%ld", (long)getpid());
    snprintf(g_node, sizeof g_node, "ctltest-node-%ld", (long)getpid());
    snprintf(g_log, sizeof g_log, "/tmp/dd-ctltest-%ld.log", (long)getpid());
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-ctltest-%ld.json", (long)getpid());
    FILE *cf = fopen(g_cfg, "w");
    if (cf == NULL)
        return -1;
    fputs("{\"policy\": {\"images\": [\"busybox:*\", \"localhost:5000/busybox:*\"],"
          " \"registries\": [\"localhost:5000\"]}}\n",
          cf);
    fclose(cf);
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    if (g_cli == NULL || broker_rpc_begin(g_cli) != 0)
        return -1;
    g_dkc = itest_client();
    if (g_dkc == NULL)
        return -1;
    g_pid = dfx_start_classic(g_cli, g_queue, g_node, g_cfg, g_log);
    return g_pid < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    dfx_stop(&g_pid, SIGTERM, 15000);
    dfx_forget_node(g_dkc, g_queue, g_node);
    dkc_client_free(g_dkc);
    broker_free(g_cli);
    unlink(g_cfg);
    return 0;
}

/* A pull that asks: Docker's progress first, then the final reply once. */
static void test_pull_progress(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"pull\",\"Image\":\"" PULL_REF "\",\"Options\":{\"Progress\":true}}",
             id, sizeof id);
    json_t *got = collect(id, 120000, 1500);
    size_t interim = check_order(got, "pull");
    /* at least "Pulling from ..." (the first always goes), each bounded */
    assert_true(interim >= 1);
    for (size_t i = 0; i < interim; i++) {
        const json_t *m = json_array_get(got, i);
        const json_t *p = json_object_get(m, "progress");
        assert_string_equal(json_string_value(json_object_get(m, "request_id")), id);
        assert_non_null(json_string_value(json_object_get(p, "status")));
        assert_true(json_string_length(json_object_get(p, "status")) < 128);
        assert_true(json_is_integer(json_object_get(p, "current")));
        assert_true(json_is_integer(json_object_get(p, "total")));
    }
    const json_t *last = json_array_get(got, interim);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(last, "result"), "image")), PULL_REF);
    json_decref(got);
}

/* A pull that does not ask gets its final reply alone, as before. */
static void test_pull_without_progress(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"pull\",\"Image\":\"" PULL_REF "\"}", id, sizeof id);
    json_t *got = collect(id, 120000, 1500);
    assert_int_equal(check_order(got, "pull"), 0);
    json_decref(got);
}

/* A bulk run that asks: one message per piece, then the final reply. */
static void test_bulk_progress(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
             "\"Options\":{\"Instances\":3,\"Progress\":true,\"HostConfig\":{\"NetworkMode\":"
             "\"none\"}}}",
             id, sizeof id);
    json_t *got = collect(id, 120000, 1500);
    size_t interim = check_order(got, "run");
    assert_int_equal(interim, 3);
    int seen[3] = {0};
    for (size_t i = 0; i < interim; i++) {
        const json_t *p = json_object_get(json_array_get(got, i), "progress");
        json_int_t k = json_integer_value(json_object_get(p, "piece"));
        assert_in_range(k, 0, 2);
        seen[k]++;
        assert_int_equal(json_integer_value(json_object_get(p, "of")), 3);
        assert_true(json_is_true(json_object_get(p, "ok")));
        assert_string_equal(json_string_value(json_object_get(p, "node")), g_node);
    }
    assert_memory_equal(seen, ((int[]){1, 1, 1}), sizeof seen);
    const json_t *res = json_object_get(json_array_get(got, interim), "result");
    assert_int_equal(json_integer_value(json_object_get(res, "created")), 3);
    json_decref(got);
}

/* Runs dispatchctl (stdout piped to us, so no terminal) with args after
 * the connection options; returns its exit status and its stdout in out. */
static int ctl(char *out, size_t outlen, const char *args)
{
    const char *bin = getenv("DISPATCHCTL_BIN");
    char cmd[1024];
    if (bin == NULL)
        bin = "dispatchctl";
    snprintf(cmd, sizeof cmd, "%s --amqp %s -q %s --timeout 120 %s", bin, lane_amqp_url(), g_queue,
             args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* dispatchctl pull, piped: plain status lines, then the reference. */
static void test_dispatchctl_pull(void **state)
{
    (void)state;
    char out[16384];
    int st = ctl(out, sizeof out, "pull " PULL_REF);
    if (st != 0 || strstr(out, "Pulling from") == NULL)
        print_error("dispatchctl pull exited %d:\n%s\n", st, out);
    assert_int_equal(st, 0);
    if (!lane_podman_differs("Podman's pull stream has no \"Pulling from\" line"))
        assert_non_null(strstr(out, "latest: Pulling from"));
    assert_non_null(strstr(out, "\n" PULL_REF "\n"));
    assert_null(strchr(out, '\033')); /* no terminal: no cursor movement */
    assert_null(strchr(out, '['));    /* nor bars */
}

/* dispatchctl run --instances: a line per piece, then the table. */
static void test_dispatchctl_bulk(void **state)
{
    (void)state;
    char out[16384];
    int st = ctl(out, sizeof out, "run --instances 2 busybox:latest true");
    if (st != 0)
        print_error("dispatchctl run --instances exited %d:\n%s\n", st, out);
    assert_int_equal(st, 0);
    /* a line per piece, "[done/of] piece k on NODE: ...": pieces answered
     * in the same moment both say 2 done, so only the last count is sure */
    assert_non_null(strstr(out, "] piece 0 on "));
    assert_non_null(strstr(out, "] piece 1 on "));
    assert_non_null(strstr(out, "[2/2] piece "));
    assert_non_null(strstr(out, "NODE "));
    assert_non_null(strstr(out, "2 of 2 created\n"));
    /* the piece lines come before the table */
    assert_true(strstr(out, "[2/2] piece ") < strstr(out, "NODE "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_progress),    cmocka_unit_test(test_pull_without_progress),
        cmocka_unit_test(test_bulk_progress),    cmocka_unit_test(test_dispatchctl_pull),
        cmocka_unit_test(test_dispatchctl_bulk),
    };
    return cmocka_run_group_tests_name("ctl", tests, setup, teardown);
}
