/*
 * test_dispatch.c -- the docker-dispatch daemon end to end, against the real
 * RabbitMQ and the real Docker daemon of the lane (lane.h: $DD_AMQP_URL,
 * $DOCKER_HOST; rabbitmqctl through $DD_RABBITMQCTL).
 *
 * The daemon under test is the built program ($DISPATCH_BIN), started as a
 * child with a queue and node name unique to this run; the test talks to it
 * as a client would (publish to <q>, replies through direct reply-to) and
 * stops it by pid.  Every container the daemon makes for this run carries
 * the node label, so teardown removes exactly those, and the topology is
 * deleted afterwards.
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

#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"
#include "itest.h"

static char g_queue[64], g_node[64], g_log[128], g_cfg[128], g_tpl[128];
static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;
static int g_seq;

#define POLICY_MAX_MEMORY (256 * 1024 * 1024)

/* Stashed replies that arrived while waiting for another one. */
#define MAX_STASH 64
static struct {
    char *corr;
    char *body;
} g_stash[MAX_STASH];

/* Starts a daemon on queue/node with config file cfg, its output
 * appended to log; waits until it consumes the queue.  Returns its pid, or
 * -1 (it exited early or never consumed). */
static pid_t spawn_daemon(const char *queue, const char *node, const char *cfg, const char *log)
{
    const char *args[] = {"-q",        queue, "--node",           node,
                          "--workers", "6",   "--queue-type",     "classic",
                          "--config",  cfg,   lane_docker_host(), lane_amqp_url(),
                          NULL};
    pid_t pid = dfx_spawn(args, log, NULL);
    if (pid < 0)
        return -1;
    if (dfx_wait_consuming(g_cli, queue, &pid, 10000, log) == 0)
        return pid;
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

/* Starts the daemon of this run (g_queue, g_node). */
static int start_daemon(void)
{
    g_pid = spawn_daemon(g_queue, g_node, g_cfg, g_log);
    if (g_pid < 0) {
        g_pid = 0;
        return -1;
    }
    return 0;
}

/* Sends sig to the daemon and waits for it (SIGKILL after 15 s); returns
 * its wait status. */
static int stop_daemon(int sig)
{
    return dfx_stop(&g_pid, sig, 15000);
}

/* Publishes body to the work queue queue with message_id =
 * correlation_id = id (a new one written to idbuf). */
static void send_msg_to(const char *queue, const char *body, char *idbuf, size_t idlen)
{
    snprintf(idbuf, idlen, "r-%ld-%d", (long)getpid(), ++g_seq);
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = idbuf,
                      .message_id = idbuf,
                      .content_type = "application/json"};
    assert_int_equal(broker_publish(g_cli, "", queue, &p, body, strlen(body), 0), 0);
}

/* The same to this run's work queue. */
static void send_msg(const char *body, char *idbuf, size_t idlen)
{
    send_msg_to(g_queue, body, idbuf, idlen);
}

/* Waits up to timeout_ms for the reply with correlation id; returns the
 * parsed reply (json_decref) or NULL. */
static json_t *recv_reply(const char *id, int timeout_ms)
{
    for (int i = 0; i < MAX_STASH; i++)
        if (g_stash[i].corr && !strcmp(g_stash[i].corr, id)) {
            json_t *j = json_loads(g_stash[i].body, 0, NULL);
            free(g_stash[i].corr);
            free(g_stash[i].body);
            g_stash[i].corr = g_stash[i].body = NULL;
            return j;
        }
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(g_cli, 100, &d);
        if (rc == 1 && d.correlation_id) {
            if (!strcmp(d.correlation_id, id)) {
                json_t *j = json_loadb((const char *)d.body, d.len, 0, NULL);
                broker_delivery_cleanup(&d);
                return j;
            }
            for (int i = 0; i < MAX_STASH; i++)
                if (g_stash[i].corr == NULL) {
                    g_stash[i].corr = strdup(d.correlation_id);
                    g_stash[i].body = strndup((const char *)d.body, d.len);
                    break;
                }
        }
        broker_delivery_cleanup(&d);
    }
    return NULL;
}

static json_t *call(const char *body, int timeout_ms)
{
    char id[64];
    send_msg(body, id, sizeof id);
    return recv_reply(id, timeout_ms);
}

/* Containers with label key=value (all states). */
static size_t count_label(const char *key, const char *value)
{
    char l[256];
    snprintf(l, sizeof l, "%s=%s", key, value);
    json_t *f = json_pack("{s:[s]}", "label", l);
    dkc_list_opts lo = {.all = true, .filters = f};
    json_t *arr = NULL;
    int rc = dkc_container_list(g_dkc, &lo, &arr);
    json_decref(f);
    assert_int_equal(rc, 0);
    size_t n = json_array_size(arr);
    json_decref(arr);
    return n;
}

/* Waits up to 5 s until no container of request id is left (a Remove
 * run's is removed after its reply); returns how many are left. */
static size_t wait_request_gone(const char *id)
{
    size_t n = count_label("io.docker-dispatch.request", id);
    for (int i = 0; i < 50 && n; i++) {
        usleep(100 * 1000);
        n = count_label("io.docker-dispatch.request", id);
    }
    return n;
}

static const char *err_code(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static json_t *result(json_t *r)
{
    return json_object_get(r, "result");
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_queue, sizeof g_queue, "dd-itest-%ld", (long)getpid());
    snprintf(g_node, sizeof g_node, "itest-node-%ld", (long)getpid());
    snprintf(g_log, sizeof g_log, "/tmp/dd-itest-%ld.log", (long)getpid());
    /* the daemon's config file: a policy on top of the secure defaults */
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-itest-%ld.json", (long)getpid());
    FILE *cf = fopen(g_cfg, "w");
    if (cf == NULL)
        return -1;
    /* a templates directory with one template */
    snprintf(g_tpl, sizeof g_tpl, "/tmp/dd-itest-tpl-%ld", (long)getpid());
    mkdir(g_tpl, 0755);
    char tp[160];
    snprintf(tp, sizeof tp, "%s/greeter.json", g_tpl);
    FILE *tf = fopen(tp, "w");
    if (tf == NULL)
        return -1;
    fputs("{\"Image\": \"busybox:${TAG:-latest}\", \"Cmd\": [\"echo\", \"${GREETING}\"],"
          " \"HostConfig\": {\"NetworkMode\": \"none\"}}\n",
          tf);
    fclose(tf);
    fprintf(cf,
            "{\"templates\": \"%s\", \"policy\": {\"images\": [\"busybox:*\", "
            "\"docker-dispatch/*/*:*\"], \"max_memory\": %d,"
            " \"default_pids\": 256, \"max_pids\": 512, \"admin_users\": [\"guest\"]}}\n",
            g_tpl, POLICY_MAX_MEMORY);
    fclose(cf);
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    if (g_cli == NULL)
        return -1;
    if (broker_rpc_begin(g_cli) != 0)
        return -1;
    g_dkc = itest_client();
    if (g_dkc == NULL)
        return -1;
    return start_daemon();
}

/* Stops the daemon, removes this run's containers and topology. */
static int teardown(void **state)
{
    (void)state;
    stop_daemon(SIGTERM);
    dfx_forget_node(g_dkc, g_queue, g_node);
    dkc_client_free(g_dkc);
    broker_free(g_cli);
    unlink(g_cfg);
    char tp[160];
    snprintf(tp, sizeof tp, "%s/greeter.json", g_tpl);
    unlink(tp);
    rmdir(g_tpl);
    for (int i = 0; i < MAX_STASH; i++) {
        free(g_stash[i].corr);
        free(g_stash[i].body);
    }
    return 0;
}

/* Seed run with Attach and Remove: exit code, stdout, container gone. */
static void test_run_attach_remove(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"
             "\"Remove\":true,\"HostConfig\":{\"NetworkMode\":\"none\"}},"
             "\"Image\":\"busybox:latest\",\"Cmd\":[\"echo\",\"hello world!\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 0);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "hello world!\n");
    assert_true(json_is_true(json_object_get(result(r), "removed")));
    assert_string_equal(json_string_value(json_object_get(r, "request_id")), id);
    json_decref(r);
    assert_int_equal(wait_request_gone(id), 0);
}

static void test_run_exit_code_stderr(void **state)
{
    (void)state;
    json_t *r = call("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"
                     "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                     "\"Cmd\":[\"sh\",\"-c\",\"echo oops >&2; exit 3\"]}",
                     30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 3);
    assert_string_equal(json_string_value(json_object_get(result(r), "stderr")), "oops\n");
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "");
    json_decref(r);
}

/* A run with a TTY: its output is one raw stream, reported as stdout
 * (the final reply reads it the way the container's inspect says). */
static void test_run_tty(void **state)
{
    (void)state;
    json_t *r = call("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"
                     "\"Tty\":true,\"Remove\":true,\"NetworkMode\":\"none\"},"
                     "\"Image\":\"busybox:latest\","
                     "\"Cmd\":[\"sh\",\"-c\",\"echo hi; echo there >&2; exit 4\"]}",
                     30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 4);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "hi\r\nthere\r\n");
    assert_string_equal(json_string_value(json_object_get(result(r), "stderr")), "");
    json_decref(r);
}

/* Seed run without Attach (reply on start), then seed stop and remove. */
static void test_run_stop_remove(void **state)
{
    (void)state;
    char name[64], body[512];
    snprintf(name, sizeof name, "dd-itest-%ld-hello", (long)getpid());
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Options\":{\"Name\":\"%s\",\"NetworkMode\":\"none\"},"
             "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"60\"]}",
             name);
    json_t *r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(result(r), "status")), "running");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(result(r), "container"), "name")), name);
    json_decref(r);

    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"stop\",\"Options\":{\"Time\":1},\"Container\":\"%s\"}", name);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);

    snprintf(body, sizeof body, "{\"Dockercmd\":\"remove\",\"Container\":\"%s\"}", name);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, name, &ins), DKC_ENOTFOUND);
}

static void test_run_timeout(void **state)
{
    (void)state;
    int64_t t0 = dfx_now_ms();
    json_t *r = call("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
                     "\"Timeout\":2,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                     "\"Cmd\":[\"sleep\",\"60\"]}",
                     30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(result(r), "timed_out")));
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 137);
    assert_true(dfx_now_ms() - t0 < 15000);
    json_decref(r);
}

/* Looks for a dead letter whose body equals body; returns its reason. */
static char *find_dead(const char *body)
{
    char dead[96];
    snprintf(dead, sizeof dead, "%s.dead", g_queue);
    char *reason = NULL;
    for (int i = 0; i < 50 && reason == NULL; i++) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_get(g_cli, dead, &d);
        if (rc == 1) {
            if (d.len == strlen(body) && !memcmp(d.body, body, d.len)) {
                const char *h = broker_delivery_header(&d, "x-dd-reason");
                reason = strdup(h ? h : "");
            }
        } else {
            usleep(100 * 1000);
        }
        broker_delivery_cleanup(&d);
    }
    return reason;
}

static void expect_error(const char *body, const char *code, int dead)
{
    json_t *r = call(body, 30000);
    assert_non_null(r);
    assert_false(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(err_code(r), code);
    json_decref(r);
    if (dead) {
        char *reason = find_dead(body);
        assert_non_null(reason);
        /* dead == 2: rejected by the broker module before it was read
         * (oversize), so RabbitMQ's own x-death says why, not x-dd-reason. */
        if (dead == 1)
            assert_true(strncmp(reason, code, strlen(code)) == 0);
        free(reason);
    }
}

static void test_bad_messages(void **state)
{
    (void)state;
    expect_error("{Dockercmd: \"run\"}", "bad_request", 1);
    expect_error("{\"Dockercmd\":\"explode\"}", "unknown_command", 1);
    expect_error("{\"Dockercmd\":\"stop\",\"Container\":\"x1\",\"Options\":{\"Time\":\"5\"}}",
                 "bad_request", 1);
    expect_error("{\"Dockercmd\":\"run\",\"Image\":\"busybox:dd-itest-no-such-tag\","
                 "\"Options\":{\"NetworkMode\":\"none\"}}",
                 "not_found", 0);
    expect_error("{\"Dockercmd\":\"stop\",\"Container\":\"dd-itest-no-such-container\"}",
                 "not_found", 0);
    /* Over the 1 MiB body limit: never read into memory, answered,
     * dead-lettered by the broker. */
    size_t big = (1u << 20) + 64;
    char *body = malloc(big + 1);
    assert_non_null(body);
    int n = snprintf(body, big + 1, "{\"Dockercmd\":\"ping\",\"Image\":\"");
    memset(body + n, 'a', big - (size_t)n - 2);
    memcpy(body + big - 2, "\"}", 3);
    expect_error(body, "too_large", 2);
    free(body);
}

/* Publishes body to the work queue as user (NULL: no user_id) with the
 * header key: value, message and correlation id id. */
static void send_with_header(const char *body, const char *id, const char *user, const char *key,
                             const char *value)
{
    broker_header h = {key, value};
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json",
                      .user_id = user,
                      .headers = &h,
                      .n_headers = 1};
    assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
}

/* One message used to kill a node: a create whose x-dd-incarnation is the
 * node's start time (every nodes reply shows it) followed by the byte
 * 0xFF; the node aborted, and again for every redelivery.  Now it is
 * answered bad_request naming the header and dead-lettered, from a
 * publisher and from the dispatchers' own user alike (there the value's
 * form refuses it), and the same process answers the next request.  An
 * x-dd-part naming this node as the asker, which used to be acked without
 * a word, is answered and dead-lettered the same way. */
static void test_a_bad_header_does_not_kill_the_node(void **state)
{
    (void)state;
    json_t *r = call("{\"Dockercmd\":\"nodes\"}", 30000);
    assert_non_null(r);
    json_int_t started =
        json_integer_value(json_object_get(json_array_get(result(r), 0), "started"));
    json_decref(r);
    assert_true(started > 0);
    char inc[64];
    snprintf(inc, sizeof inc, "%lld\xff", (long long)started);
    pid_t before = g_pid;
    const char *users[] = {NULL, broker_user(g_cli), NULL};
    for (int i = 0; i < 3; i++) {
        char id[64], body[160];
        snprintf(id, sizeof id, "hdr-%ld-%d", (long)getpid(), i);
        snprintf(
            body, sizeof body,
            "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"echo\",\"%s\"]}",
            id);
        if (i < 2)
            send_with_header(body, id, users[i], "x-dd-incarnation", inc);
        else
            send_with_header(body, id, NULL, "x-dd-part", "1");
        r = recv_reply(id, 30000);
        if (r == NULL)
            fail_msg("no reply to message %d: the node died? (log %s)", i, g_log);
        assert_string_equal(err_code(r), "bad_request");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "error"), "field")),
            i < 2 ? "headers.x-dd-incarnation" : "headers.x-dd-part");
        json_decref(r);
        char *reason = find_dead(body);
        if (reason == NULL)
            fail_msg("message %d was not dead-lettered", i);
        assert_true(strncmp(reason, "bad_request", 11) == 0);
        free(reason);
        assert_int_equal(count_label("io.docker-dispatch.request", id), 0);
    }
    assert_int_equal(g_pid, before);
    assert_int_equal(waitpid(g_pid, NULL, WNOHANG), 0); /* still running */
    r = call("{\"Dockercmd\":\"ping\"}", 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* A long run does not hold up a quick one sent after it. */
static void test_no_head_of_line_blocking(void **state)
{
    (void)state;
    char slow[64], quick[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
             "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"5\"]}",
             slow, sizeof slow);
    send_msg("{\"Dockercmd\":\"ping\"}", quick, sizeof quick);
    /* poll both: the first to arrive must be the quick one */
    json_t *q = recv_reply(quick, 4000);
    assert_non_null(q);
    assert_true(json_is_true(json_object_get(q, "ok")));
    json_decref(q);
    json_t *s = recv_reply(slow, 30000);
    assert_non_null(s);
    assert_true(json_is_true(json_object_get(s, "ok")));
    json_decref(s);
}

/* kill -9 with runs in flight; after a restart every request gets exactly
 * one final reply and exactly one container. */
static void test_crash_recovery(void **state)
{
    (void)state;
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],"
                 "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                 "\"Cmd\":[\"sh\",\"-c\",\"sleep 3; echo done\"]}",
                 ids[i], sizeof ids[i]);
    /* wait until all three exist, so that the crash comes mid-run */
    size_t n = 0;
    for (int t = 0; t < 100 && n < 3; t++) {
        n = 0;
        for (int i = 0; i < 3; i++)
            n += count_label("io.docker-dispatch.request", ids[i]);
        if (n < 3)
            usleep(50 * 1000);
    }
    assert_int_equal(n, 3);
    stop_daemon(SIGKILL);
    assert_int_equal(start_daemon(), 0);
    for (int i = 0; i < 3; i++) {
        json_t *r = recv_reply(ids[i], 30000);
        assert_non_null(r);
        assert_true(json_is_true(json_object_get(r, "ok")));
        assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "done\n");
        json_decref(r);
        assert_int_equal(count_label("io.docker-dispatch.request", ids[i]), 1);
    }
    /* no second reply for any of them */
    for (int i = 0; i < 3; i++)
        assert_null(recv_reply(ids[i], i == 0 ? 1500 : 10));
}

/* SIGTERM: exit 0, the container keeps running, the next start adopts it
 * and delivers its final reply. */
static void test_sigterm_readopt(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
             "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"sh\",\"-c\",\"sleep 3; echo adopted\"]}",
             id, sizeof id);
    char l[128];
    snprintf(l, sizeof l, "io.docker-dispatch.request=%s", id);
    json_t *f = json_pack("{s:[s], s:[s]}", "label", l, "status", "running");
    int running = 0;
    for (int t = 0; t < 100 && !running; t++) {
        json_t *arr = NULL;
        dkc_list_opts lo = {.all = false, .filters = f};
        if (dkc_container_list(g_dkc, &lo, &arr) == 0)
            running = json_array_size(arr) == 1;
        json_decref(arr);
        if (!running)
            usleep(50 * 1000);
    }
    assert_true(running);
    int st = stop_daemon(SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    json_t *arr = NULL;
    dkc_list_opts lo = {.all = false, .filters = f};
    assert_int_equal(dkc_container_list(g_dkc, &lo, &arr), 0);
    assert_int_equal(json_array_size(arr), 1);
    json_decref(arr);
    json_decref(f);
    assert_int_equal(start_daemon(), 0);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "adopted\n");
    json_decref(r);
}

/* A run with Attach but no Remove leaves its container; restarts of the
 * node (clean or kill -9) must not answer it a second time. */
static void test_answered_once_across_restarts(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],"
             "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"echo\",\"kept\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_false(json_is_true(json_object_get(result(r), "removed")));
    json_decref(r);
    usleep(500 * 1000); /* the marker is written once the reply is confirmed */
    int sigs[] = {SIGTERM, SIGKILL};
    for (int k = 0; k < 2; k++) {
        stop_daemon(sigs[k]);
        assert_int_equal(start_daemon(), 0);
        /* Several supervision passes: a second answer would arrive here. */
        json_t *again = recv_reply(id, 2000);
        if (again != NULL) {
            char *t = json_dumps(again, 0);
            fprintf(stderr, "answered again after restart %d: %s\n", k, t);
            free(t);
        }
        assert_null(again);
    }
    assert_int_equal(count_label("io.docker-dispatch.request", id), 1);
}

static void test_dockermod(void **state)
{
    (void)state;
    json_t *r = call("{\"action\":\"create-container\",\"image\":\"busybox:latest\","
                     "\"cmd\":[\"sleep\",\"30\"]}",
                     30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    const char *cid = json_string_value(json_object_get(result(r), "id"));
    assert_non_null(cid);
    char id[80], body[256];
    snprintf(id, sizeof id, "%s", cid);
    json_decref(r);
    snprintf(body, sizeof body, "{\"action\":\"start-container\",\"id\":\"%s\"}", id);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    snprintf(body, sizeof body, "{\"action\":\"inspect-container\",\"id\":\"%s\"}", id);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_true(json_is_true(json_object_get(json_object_get(result(r), "State"), "Running")));
    json_decref(r);
    snprintf(body, sizeof body, "{\"action\":\"delete-container\",\"id\":\"%s\",\"force\":true}",
             id);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, id, &ins), DKC_ENOTFOUND);
}

/* DockerMod's own example, an image and nothing else, makes a container
 * that runs the image's command (the test image has busybox's Cmd, sh). */
static void test_dockermod_example(void **state)
{
    (void)state;
    json_t *r = call("{\"action\":\"create-container\",\"image\":\"busybox\"}", 30000);
    assert_non_null(r);
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fail_msg("the example was refused: %s", t ? t : "?");
    }
    char id[80], body[256];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(result(r), "id")));
    json_decref(r);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, id, &ins), 0);
    json_t *cmd = json_object_get(json_object_get(ins, "Config"), "Cmd");
    assert_int_equal(json_array_size(cmd), 1);
    assert_string_equal(json_string_value(json_array_get(cmd, 0)), "sh");
    json_decref(ins);
    snprintf(body, sizeof body, "{\"action\":\"delete-container\",\"id\":\"%s\"}", id);
    r = call(body, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* Builds a message from fmt (every %s is the container name) and calls. */
static json_t *callf(int timeout_ms, const char *fmt, const char *name)
{
    char body[1024];
    snprintf(body, sizeof body, fmt, name, name);
    return call(body, timeout_ms);
}

static void assert_ok_reply(json_t *r)
{
    assert_non_null(r);
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fprintf(stderr, "reply not ok: %s\n", t ? t : "?");
        free(t);
    }
    assert_true(json_is_true(json_object_get(r, "ok")));
}

/* A command on container name that must succeed (its result unused). */
static void verb_ok(const char *fmt, const char *name)
{
    json_t *r = callf(30000, fmt, name);
    assert_ok_reply(r);
    json_decref(r);
}

/* The reply to request id (within timeout_ms) is ok with exit_code code. */
static void expect_exit(const char *id, int timeout_ms, int code)
{
    json_t *r = recv_reply(id, timeout_ms);
    assert_ok_reply(r);
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), code);
    json_decref(r);
}

/* The container commands on one detached container: exec (output, exit
 * code, a Timeout that ends the wait), wait with each condition, kill,
 * start, logs, remove. */
static void test_container_commands(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "dd-cmds-%ld", (long)getpid());
    json_t *r = callf(30000,
                      "{\"Dockercmd\":\"run\",\"Options\":{\"Name\":\"%s\",\"NetworkMode\":"
                      "\"none\"},\"Image\":\"busybox:latest\",\"Cmd\":[\"sh\",\"-c\","
                      "\"echo hello; exec sleep 300\"]}",
                      name);
    assert_ok_reply(r);
    json_decref(r);

    /* exec: output and exit code */
    r = callf(30000,
              "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"sh\",\"-c\","
              "\"echo in; echo err >&2; exit 5\"]}",
              name);
    assert_ok_reply(r);
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 5);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "in\n");
    assert_string_equal(json_string_value(json_object_get(result(r), "stderr")), "err\n");
    assert_false(json_is_true(json_object_get(result(r), "timed_out")));
    json_decref(r);

    /* exec with Timeout: the wait ends at the deadline with what came */
    int64_t t0 = dfx_now_ms();
    r = callf(30000,
              "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"sh\",\"-c\","
              "\"echo started; sleep 60\"],\"Options\":{\"Timeout\":1}}",
              name);
    int64_t took = dfx_now_ms() - t0;
    assert_ok_reply(r);
    assert_true(json_is_true(json_object_get(result(r), "timed_out")));
    assert_true(json_is_null(json_object_get(result(r), "exit_code")));
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "started\n");
    assert_true(took >= 900 && took < 15000);
    json_decref(r);

    /* wait (not-running) while it runs: answered when it is killed */
    char wid[64];
    char body[512];
    snprintf(body, sizeof body, "{\"Dockercmd\":\"wait\",\"Container\":\"%s\"}", name);
    send_msg(body, wid, sizeof wid);
    assert_null(recv_reply(wid, 1500));
    verb_ok("{\"Dockercmd\":\"kill\",\"Container\":\"%s\"}", name);
    expect_exit(wid, 15000, 137);

    /* stopped: not-running answers at once, next-exit waits for the next
     * exit (after a start), removed for the removal */
    r = callf(10000, "{\"Dockercmd\":\"wait\",\"Container\":\"%s\"}", name);
    assert_ok_reply(r);
    assert_int_equal(json_integer_value(json_object_get(result(r), "exit_code")), 137);
    json_decref(r);
    char nid[64], rid[64];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"wait\",\"Container\":\"%s\",\"Options\":{\"Condition\":"
             "\"next-exit\"}}",
             name);
    send_msg(body, nid, sizeof nid);
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"wait\",\"Container\":\"%s\",\"Options\":{\"Condition\":"
             "\"removed\"}}",
             name);
    send_msg(body, rid, sizeof rid);
    assert_null(recv_reply(nid, 2500));
    verb_ok("{\"Dockercmd\":\"start\",\"Container\":\"%s\"}", name);
    assert_null(recv_reply(nid, 1500));
    /* (SIGKILL: sleep as the container's pid 1 ignores SIGTERM) */
    verb_ok("{\"Dockercmd\":\"kill\",\"Container\":\"%s\"}", name);
    expect_exit(nid, 15000, 137);

    /* logs: both runs said hello */
    r = callf(30000, "{\"Dockercmd\":\"logs\",\"Container\":\"%s\"}", name);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "hello\nhello\n");
    json_decref(r);

    /* remove: the removed-waiter is answered too */
    assert_null(recv_reply(rid, 100));
    verb_ok("{\"Dockercmd\":\"remove\",\"Container\":\"%s\"}", name);
    r = recv_reply(rid, 15000);
    assert_ok_reply(r);
    json_decref(r);
    r = callf(10000, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", name);
    assert_non_null(r);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
}

/* The security policy: the host is refused whatever the dialect or
 * spelling, images and resources follow the config file's policy, and a
 * refused request creates nothing. */
static void test_policy(void **state)
{
    (void)state;
    static const struct {
        const char *body, *field;
    } denied[] = {
        {"{\"Dockercmd\":\"run\",\"Options\":{\"Remove\":true,\"HostConfig\":{"
         "\"Privileged\":true}},\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"]}",
         "HostConfig.Privileged"},
        {"{\"Dockercmd\":\"run\",\"Options\":{\"Binds\":[\"/:/host\"]},\"Image\":"
         "\"busybox:latest\",\"Cmd\":[\"true\"]}",
         "HostConfig.Binds[0]"},
        {"{\"Dockercmd\":\"create\",\"Options\":{\"NetworkMode\":\"host\"},\"Image\":"
         "\"busybox:latest\"}",
         "HostConfig.NetworkMode"},
        {"{\"action\":\"create-raw-container\",\"body\":{\"Image\":\"busybox:latest\","
         "\"hostconfig\":{\"pidmode\":\"host\"}}}",
         "HostConfig.PidMode"},
        {"{\"Dockercmd\":\"run\",\"Image\":\"localhost:5000/busybox:latest\",\"Cmd\":"
         "[\"true\"]}",
         "Image"},
        {"{\"Dockercmd\":\"run\",\"Options\":{\"Memory\":300000000},\"Image\":"
         "\"busybox:latest\",\"Cmd\":[\"true\"]}",
         "HostConfig.Memory"},
        {"{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/busybox\"}", "Image"},
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        char id[64];
        send_msg(denied[i].body, id, sizeof id);
        json_t *r = recv_reply(id, 30000);
        assert_non_null(r);
        const char *code = err_code(r);
        if (code == NULL || strcmp(code, "policy_denied") != 0) {
            char *t = json_dumps(r, 0);
            fprintf(stderr, "case %zu: %s\n", i, t ? t : "?");
            free(t);
        }
        /* DockerMod replies carry the code in their own shape */
        json_t *err = json_object_get(r, "error");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "policy_denied");
        assert_string_equal(json_string_value(json_object_get(err, "field")), denied[i].field);
        assert_int_equal(count_label("io.docker-dispatch.request", id), 0);
        json_decref(r);
    }

    /* allowed: the policy's defaults and maxima reach Docker */
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"NetworkMode\":"
             "\"none\"},\"Image\":\"busybox\",\"Cmd\":[\"echo\",\"ok\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_ok_reply(r);
    const char *cid =
        json_string_value(json_object_get(json_object_get(result(r), "container"), "id"));
    assert_non_null(cid);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, cid, &ins), 0);
    json_t *hc = json_object_get(ins, "HostConfig");
    assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), POLICY_MAX_MEMORY);
    assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), 256);
    assert_false(json_is_true(json_object_get(hc, "Privileged")));
    json_decref(ins);
    json_decref(r);
}

/* max_containers: a second daemon of its own (queue, node, config file)
 * that may hold one container; the second run is refused until the first
 * container is gone. */
/* The second daemon of test_policy_max_containers; its teardown stops it
 * and removes what it made, also when the case failed half-way. */
static struct {
    char queue[64], node[64], cfg[96], log[96];
    pid_t pid;
} g_max;

static int max_teardown(void **state)
{
    (void)state;
    dfx_stop(&g_max.pid, SIGTERM, 15000);
    if (g_max.node[0])
        dfx_forget_node(g_dkc, g_max.queue, g_max.node);
    unlink(g_max.cfg);
    return 0;
}

static void test_policy_max_containers(void **state)
{
    (void)state;
    const char *queue = g_max.queue, *node = g_max.node;
    snprintf(g_max.queue, sizeof g_max.queue, "dd-itest-max-%ld", (long)getpid());
    snprintf(g_max.node, sizeof g_max.node, "itest-max-%ld", (long)getpid());
    snprintf(g_max.cfg, sizeof g_max.cfg, "/tmp/dd-itest-max-%ld.json", (long)getpid());
    snprintf(g_max.log, sizeof g_max.log, "/tmp/dd-itest-max-%ld.log", (long)getpid());
    FILE *f = fopen(g_max.cfg, "w");
    assert_non_null(f);
    fputs("{\"policy\": {\"max_containers\": 1}}\n", f);
    fclose(f);
    g_max.pid = spawn_daemon(queue, node, g_max.cfg, g_max.log);
    assert_true(g_max.pid > 0);

    static const char run[] =
        "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\"},\"Image\":"
        "\"busybox:latest\",\"Cmd\":[\"sleep\",\"60\"]}";
    json_t *r[3];
    /* both at once (the daemon has a worker for each): one is made, one
     * refused, never two made */
    char ids[2][64];
    for (int i = 0; i < 2; i++) {
        snprintf(ids[i], sizeof ids[i], "max-%ld-%d", (long)getpid(), i);
        broker_props p = {
            .reply_to = BROKER_REPLY_TO, .correlation_id = ids[i], .message_id = ids[i]};
        assert_int_equal(broker_publish(g_cli, "", queue, &p, run, strlen(run), 0), 0);
    }
    for (int i = 0; i < 2; i++) {
        r[i] = recv_reply(ids[i], 30000);
        assert_non_null(r[i]);
    }
    if (!json_is_true(json_object_get(r[0], "ok"))) {
        json_t *t = r[0];
        r[0] = r[1];
        r[1] = t;
    }
    assert_ok_reply(r[0]);
    assert_string_equal(err_code(r[1]), "policy_denied");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r[1], "error"), "message")),
               "max_containers"));
    /* once the first one is removed, there is room again */
    const char *cid =
        json_string_value(json_object_get(json_object_get(result(r[0]), "container"), "id"));
    assert_int_equal(dkc_container_remove(g_dkc, cid, true, false), 0);
    char id[64];
    snprintf(id, sizeof id, "max-%ld-2", (long)getpid());
    broker_props p = {.reply_to = BROKER_REPLY_TO, .correlation_id = id, .message_id = id};
    assert_int_equal(broker_publish(g_cli, "", queue, &p, run, strlen(run), 0), 0);
    r[2] = recv_reply(id, 30000);
    assert_ok_reply(r[2]);
    cid = json_string_value(json_object_get(json_object_get(result(r[2]), "container"), "id"));
    assert_int_equal(dkc_container_remove(g_dkc, cid, true, false), 0);
    for (int i = 0; i < 3; i++)
        json_decref(r[i]);
}

/* Runs the daemon with args (NULL-terminated, after the program name)
 * to its end; returns its exit status and its output in out. */
static int run_daemon_once(char *out, size_t outlen, const char *const *args)
{
    char path[96];
    snprintf(path, sizeof path, "/tmp/dd-itest-once-%ld.log", (long)getpid());
    unlink(path);
    pid_t pid = dfx_spawn(args, path, NULL);
    assert_true(pid >= 0);
    /* bounded: a daemon that should have refused to start would run on */
    int st = 0;
    int64_t end = dfx_now_ms() + 20000;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (dfx_now_ms() > end) {
            kill(pid, SIGTERM);
            waitpid(pid, &st, 0);
            st = -1;
            break;
        }
        usleep(50 * 1000);
    }
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* What stops the daemon at start: a policy it cannot use (exit 2, the
 * reason named) and a broker it cannot reach (exit 1, never the password). */
static void test_startup_refusals(void **state)
{
    (void)state;
    char out[4096], cfg[96];
    snprintf(cfg, sizeof cfg, "/tmp/dd-itest-badpol-%ld.json", (long)getpid());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("{\"policy\": {\"allow_privileged\": \"yes\"}}\n", f);
    fclose(f);
    const char *bad_policy[] = {"--config", cfg, lane_amqp_url(), NULL};
    assert_int_equal(run_daemon_once(out, sizeof out, bad_policy), 2);
    unlink(cfg);
    assert_non_null(strstr(out, "policy.allow_privileged must be true or false"));

    /* a template the policy refuses stops the start, its file named */
    char tdir[96], tfile[128];
    snprintf(tdir, sizeof tdir, "/tmp/dd-itest-badtpl-%ld", (long)getpid());
    mkdir(tdir, 0755);
    snprintf(tfile, sizeof tfile, "%s/root.json", tdir);
    f = fopen(tfile, "w");
    assert_non_null(f);
    fputs("{\"Image\": \"busybox\", \"HostConfig\": {\"Privileged\": true}}\n", f);
    fclose(f);
    const char *bad_tpl[] = {"--templates", tdir, lane_amqp_url(), NULL};
    assert_int_equal(run_daemon_once(out, sizeof out, bad_tpl), 2);
    unlink(tfile);
    rmdir(tdir);
    assert_non_null(strstr(out, "root.json"));
    assert_non_null(strstr(out, "HostConfig.Privileged"));

    const char *no_broker[] = {"-q", "dd-itest-nobroker", lane_docker_host(),
                               "amqp://user:s3cr3t@127.0.0.1:1/", NULL};
    assert_int_equal(run_daemon_once(out, sizeof out, no_broker), 1);
    assert_non_null(strstr(out, "RabbitMQ at amqp://user:***@127.0.0.1:1/"));
    assert_null(strstr(out, "s3cr3t"));

    /* the same as JSON lines */
    const char *json_logs[] = {"--log-format",
                               "json",
                               "-q",
                               "dd-itest-nobroker",
                               lane_docker_host(),
                               "amqp://user:s3cr3t@127.0.0.1:1/",
                               NULL};
    assert_int_equal(run_daemon_once(out, sizeof out, json_logs), 1);
    assert_null(strstr(out, "s3cr3t"));
    int lines = 0, errors = 0;
    for (char *line = out, *nl; *line; line = nl + 1) {
        if ((nl = strchr(line, '\n')) == NULL)
            break;
        *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        lines++;
        errors += !strcmp(json_string_value(json_object_get(j, "level")), "error");
        json_decref(j);
    }
    assert_true(lines >= 2);
    assert_int_equal(errors, 1);
}

/* A request without reply_to is still carried out (and logged); nobody
 * gets the reply. */
static void test_no_reply_to(void **state)
{
    (void)state;
    char id[64];
    snprintf(id, sizeof id, "noreply-%ld", (long)getpid());
    static const char body[] = "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\"},"
                               "\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"]}";
    broker_props p = {.message_id = id, .content_type = "application/json"};
    assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
    size_t n = 0;
    for (int i = 0; i < 200 && n == 0; i++)
        if ((n = count_label("io.docker-dispatch.request", id)) == 0)
            usleep(50 * 1000);
    assert_int_equal(n, 1);
    /* and it was logged as a request and an outcome */
    int seen = 0;
    for (int i = 0; i < 100 && seen < 2; i++) {
        FILE *f = fopen(g_log, "r");
        char line[2048];
        seen = 0;
        while (f && fgets(line, sizeof line, f))
            seen += strstr(line, id) != NULL;
        if (f)
            fclose(f);
        if (seen < 2)
            usleep(50 * 1000);
    }
    assert_int_equal(seen, 2);
}

/* Takes events from watcher w for up to timeout_ms, keeping (appended to
 * the array got) those of request id (NULL: node events) until one named
 * last arrives. */
static void collect_events(broker *w, const char *id, const char *last, json_t *got, int timeout_ms)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(w, 100, &d);
        json_t *ev = NULL;
        if (rc == 1 && d.source == BROKER_SRC_EVENT)
            ev = json_loadb((const char *)d.body, d.len, 0, NULL);
        broker_delivery_cleanup(&d);
        if (ev == NULL)
            continue;
        const char *req = json_string_value(json_object_get(ev, "request_id"));
        int mine = id ? (req && !strcmp(req, id)) : json_object_get(ev, "container") == NULL;
        const char *name = json_string_value(json_object_get(ev, "event"));
        int done = mine && name && !strcmp(name, last);
        if (mine)
            json_array_append(got, ev);
        json_decref(ev);
        if (done)
            return;
    }
}

/* State changes are published on <q>.events: a run's container started,
 * exited (with its code) and removed, once each, in that order; the node
 * going down and coming up. */
static void test_events(void **state)
{
    (void)state;
    broker_conf c;
    broker_conf_init(&c);
    c.url = lane_amqp_url();
    c.role = BROKER_ROLE_CLIENT;
    c.queue = g_queue;
    broker *w = NULL;
    assert_int_equal(broker_open(&c, &w, NULL), 0);
    assert_int_equal(broker_watch(w, "#"), 0);

    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
             "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"sh\",\"-c\",\"exit 3\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    const char *cid =
        json_string_value(json_object_get(json_object_get(result(r), "container"), "id"));
    assert_non_null(cid);
    json_t *got = json_array();
    collect_events(w, id, "container.removed", got, 15000);
    static const char *const want[] = {"container.started", "container.exited",
                                       "container.removed"};
    if (json_array_size(got) != 3) {
        char *t = json_dumps(got, 0);
        fprintf(stderr, "events: %s\n", t ? t : "?");
        free(t);
    }
    assert_int_equal(json_array_size(got), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *ev = json_array_get(got, i);
        assert_string_equal(json_string_value(json_object_get(ev, "event")), want[i]);
        assert_string_equal(json_string_value(json_object_get(ev, "node")), g_node);
        assert_int_equal(json_integer_value(json_object_get(ev, "schema")), 1);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(ev, "container"), "id")), cid);
    }
    assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 1), "exit_code")), 3);
    json_decref(r);
    json_array_clear(got);

    /* the node goes down and comes back */
    int st = stop_daemon(SIGTERM);
    assert_true(WIFEXITED(st));
    collect_events(w, NULL, "node.down", got, 5000);
    assert_int_equal(start_daemon(), 0);
    collect_events(w, NULL, "node.up", got, 5000);
    assert_int_equal(json_array_size(got), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(got, 0), "event")),
                        "node.down");
    assert_string_equal(json_string_value(json_object_get(json_array_get(got, 1), "event")),
                        "node.up");
    json_decref(got);
    broker_free(w);
}

/* Two dispatchers of different queues on one Docker host, both with the
 * same node name (as two with default names on one host have): each
 * answers only its own requests, once. */
static void test_neighbours_answer_only_their_own(void **state)
{
    (void)state;
    char nq[96], nlog[128];
    snprintf(nq, sizeof nq, "%s-neighbour", g_queue);
    snprintf(nlog, sizeof nlog, "/tmp/dd-itest-neighbour-%ld.log", (long)getpid());
    unlink(nlog);
    pid_t nb = spawn_daemon(nq, g_node, g_cfg, nlog);
    assert_true(nb > 0);
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"
                 "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                 "\"Cmd\":[\"sh\",\"-c\",\"sleep 1; echo ok\"]}",
                 ids[i], sizeof ids[i]);
    for (int i = 0; i < 3; i++) {
        json_t *r = recv_reply(ids[i], 30000);
        assert_non_null(r);
        assert_true(json_is_true(json_object_get(r, "ok")));
        assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "ok\n");
        json_decref(r);
    }
    /* a second answer would come within a supervision pass or two */
    int extra = 0;
    for (int i = 0; i < 3; i++) {
        json_t *again = recv_reply(ids[i], i == 0 ? 2500 : 10);
        if (again) {
            char *t = json_dumps(again, 0);
            fprintf(stderr, "second reply to %s: %s\n", ids[i], t);
            free(t);
            extra++;
        }
        json_decref(again);
    }
    kill(nb, SIGTERM);
    waitpid(nb, NULL, 0);
    char *text = dfx_read_file(nlog);
    for (int i = 0; i < 3; i++)
        if (strstr(text, ids[i])) {
            fprintf(stderr, "the neighbour's log names %s:\n%s\n", ids[i], text);
            extra++;
        }
    free(text);
    unlink(nlog);
    dfx_forget_topology(lane_amqp_url(), nq, g_node); /* its containers are the main node's */
    assert_int_equal(extra, 0);
}

/* Starts a daemon of queue/node with a short membership interval (300 ms:
 * a node is gone after 0.9 s and adopted 0.9 s later); does not wait. */
static pid_t spawn_member(const char *queue, const char *node, const char *log)
{
    const char *args[] = {"-q",
                          queue,
                          "--node",
                          node,
                          "--workers",
                          "6",
                          "--queue-type",
                          "classic",
                          "--membership-interval",
                          "300",
                          "--config",
                          g_cfg,
                          lane_docker_host(),
                          lane_amqp_url(),
                          NULL};
    return dfx_spawn(args, log, NULL);
}

/* Waits up to timeout_ms until node has n containers that Docker lists as
 * running; 0 or -1. */
static int wait_running(const char *node, size_t n, int timeout_ms)
{
    char l[256];
    snprintf(l, sizeof l, "%s=%s", DFX_NODE_LABEL, node);
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        json_t *f = json_pack("{s:[s], s:[s]}", "label", l, "status", "running");
        dkc_list_opts lo = {.all = true, .filters = f};
        json_t *arr = NULL;
        int rc = dkc_container_list(g_dkc, &lo, &arr);
        json_decref(f);
        size_t have = rc == 0 ? json_array_size(arr) : 0;
        json_decref(arr);
        if (have == n)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

/* Two dispatchers of one cluster on one Docker host: the one that dies
 * (SIGKILL) with runs still going leaves them to the other, which sends
 * each run's final reply once (with and without Remove), answers a
 * command for the dead node's container sent by short id to the
 * containers exchange, and takes the key over from the dead node's queue:
 * the dead node restarted answers none of them again, and each request
 * made one container. */
/* What test_sibling_adopts_a_dead_nodes_containers (and
 * test_a_forward_carries_no_publisher_headers) started, for their
 * teardown (which runs when they fail too). */
static struct {
    char q[96], na[96], nd[96], la[128], ld[128];
    pid_t pa, pd;
} g_adopt;

static int adopt_teardown(void **state)
{
    (void)state;
    dfx_stop(&g_adopt.pd, SIGTERM, 15000);
    dfx_stop(&g_adopt.pa, SIGTERM, 15000);
    dfx_remove_containers(g_dkc, DFX_NODE_LABEL, g_adopt.na);
    dfx_forget_node(g_dkc, g_adopt.q, g_adopt.nd);
    dfx_forget_node(g_dkc, g_adopt.q, g_adopt.na);
    /* kept for a look after a failure: into $DD_TEST_LOGS when set */
    const char *dir = getenv("DD_TEST_LOGS");
    const char *logs[] = {g_adopt.la, g_adopt.ld};
    for (size_t i = 0; i < 2; i++) {
        char to[512];
        snprintf(to, sizeof to, "%s/%s", dir ? dir : "", strrchr(logs[i], '/') + 1);
        if (dir == NULL || rename(logs[i], to) != 0)
            unlink(logs[i]);
    }
    return 0;
}

static void test_sibling_adopts_a_dead_nodes_containers(void **state)
{
    (void)state;
    char *q = g_adopt.q, *na = g_adopt.na, *nd = g_adopt.nd, *la = g_adopt.la, *ld = g_adopt.ld;
    snprintf(q, sizeof g_adopt.q, "%s-adopt", g_queue);
    snprintf(na, sizeof g_adopt.na, "%s-a", g_node);
    snprintf(nd, sizeof g_adopt.nd, "%s-d", g_node);
    snprintf(la, sizeof g_adopt.la, "/tmp/dd-itest-adopt-a-%ld.log", (long)getpid());
    snprintf(ld, sizeof g_adopt.ld, "/tmp/dd-itest-adopt-d-%ld.log", (long)getpid());
    unlink(la);
    unlink(ld);
    int64_t since = time(NULL) - 1;
    g_adopt.pd = spawn_member(q, nd, ld);
    assert_true(g_adopt.pd > 0);
    assert_int_equal(dfx_wait_consuming(g_cli, q, &g_adopt.pd, 10000, ld), 0);
    enum { RUNS = 4 };
    char ids[RUNS][64], want[RUNS][32];
    for (int i = 0; i < RUNS; i++) {
        char body[512];
        snprintf(want[i], sizeof want[i], "adopted-%d\n", i);
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":%s,"
                 "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                 "\"Cmd\":[\"sh\",\"-c\",\"sleep 4; echo adopted-%d\"]}",
                 i % 2 ? "true" : "false", i);
        snprintf(ids[i], sizeof ids[i], "adopt-%ld-%d", (long)getpid(), i);
        broker_props p = {.reply_to = BROKER_REPLY_TO,
                          .correlation_id = ids[i],
                          .message_id = ids[i],
                          .content_type = "application/json"};
        assert_int_equal(broker_publish(g_cli, "", q, &p, body, strlen(body), 0), 0);
    }
    assert_int_equal(wait_running(nd, RUNS, 20000), 0);
    g_adopt.pa = spawn_member(q, na, la);
    assert_true(g_adopt.pa > 0);
    usleep(1500 * 1000); /* the two see each other */
    dfx_stop(&g_adopt.pd, SIGKILL, 0);

    int answers = 0;
    for (int i = 0; i < RUNS; i++) {
        json_t *r = recv_reply(ids[i], 30000);
        if (r == NULL) {
            fprintf(stderr, "no final reply for %s\n", ids[i]);
            continue;
        }
        if (json_is_true(json_object_get(r, "ok")) &&
            !strcmp(json_string_value(json_object_get(result(r), "stdout")) ?: "", want[i]) &&
            !strcmp(json_string_value(json_object_get(r, "node")) ?: "", na))
            answers++;
        else {
            char *t = json_dumps(r, 0);
            fprintf(stderr, "reply for %s: %s\n", ids[i], t);
            free(t);
        }
        json_decref(r);
    }
    assert_int_equal(answers, RUNS);

    /* a command for the dead node's container by short id reaches the
     * adopter (alone now, it takes it from the shared queue: its keys on
     * <q>.containers are bound only while it has company, and the dead
     * node's are unbound) */
    char l[256];
    snprintf(l, sizeof l, "%s=%s", DFX_REQUEST_LABEL, ids[0]);
    json_t *f = json_pack("{s:[s]}", "label", l);
    dkc_list_opts lo = {.all = true, .filters = f};
    json_t *arr = NULL;
    assert_int_equal(dkc_container_list(g_dkc, &lo, &arr), 0);
    json_decref(f);
    assert_int_equal(json_array_size(arr), 1);
    char shortid[13], xq[128], iid[64];
    snprintf(shortid, sizeof shortid, "%.12s",
             json_string_value(json_object_get(json_array_get(arr, 0), "Id")));
    json_decref(arr);
    snprintf(xq, sizeof xq, "%s.containers", q);
    snprintf(iid, sizeof iid, "adopt-inspect-%ld", (long)getpid());
    char ib[128];
    snprintf(ib, sizeof ib, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", shortid);
    broker_props ip = {.reply_to = BROKER_REPLY_TO,
                       .correlation_id = iid,
                       .message_id = iid,
                       .content_type = "application/json"};
    /* the dead node's keys were unbound: by id through <q>.containers, no
     * queue takes it */
    assert_int_equal(
        broker_publish(g_cli, xq, shortid, &ip, ib, strlen(ib), BROKER_PUBLISH_MANDATORY),
        BROKER_EUNROUTABLE);
    assert_int_equal(broker_publish(g_cli, "", q, &ip, ib, strlen(ib), 0), 0);
    json_t *ir = recv_reply(iid, 10000);
    assert_non_null(ir);
    assert_true(json_is_true(json_object_get(ir, "ok")));
    assert_string_equal(json_string_value(json_object_get(ir, "node")), na);
    json_decref(ir);

    /* the dead node back: it answers none of them again */
    g_adopt.pd = spawn_member(q, nd, ld);
    assert_true(g_adopt.pd > 0);
    int extra = 0;
    for (int i = 0; i <= RUNS; i++) {
        const char *id = i < RUNS ? ids[i] : iid;
        json_t *again = recv_reply(id, i == 0 ? 4000 : 10);
        if (again) {
            char *t = json_dumps(again, 0);
            fprintf(stderr, "second reply to %s: %s\n", id, t);
            free(t);
            extra++;
        }
        json_decref(again);
    }
    int creates = 0;
    for (int i = 0; i < RUNS; i++)
        creates += dfx_count_creates(g_dkc, ids[i], since) == 1;
    char *text = dfx_read_file(la);
    int told = strstr(text, "taking care of the containers of departed node") != NULL;
    if (!told)
        fprintf(stderr, "the adopter's log:\n%s\n", text);
    free(text);
    assert_int_equal(extra, 0);
    assert_int_equal(creates, RUNS);
    assert_true(told);
}

/* Publishes body to queue as the test's user (user 1) or as nobody, with
 * the n headers h, reply to us under id; returns the reply (NULL after
 * timeout_ms). */
static json_t *call_queue(const char *queue, const char *body, const char *id, int user,
                          const broker_header *h, size_t n, int timeout_ms)
{
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json",
                      .user_id = user ? broker_user(g_cli) : NULL,
                      .headers = h,
                      .n_headers = n};
    assert_int_equal(broker_publish(g_cli, "", queue, &p, body, strlen(body), 0), 0);
    return recv_reply(id, timeout_ms);
}

/* A message with as many headers as a delivery keeps (64), about another
 * node (register, which the node that takes it forwards to that node's
 * queue): it goes with the forwarding node's headers only, and the other
 * node answers.  The forward used to add x-dd-hop (and x-dd-user) to the
 * publisher's 64, the publish was refused, and the message was requeued
 * again and again, never answered. */
static void test_a_forward_carries_no_publisher_headers(void **state)
{
    (void)state;
    /* the members, their logs and pids are kept where adopt_teardown
     * stops and forgets them: b is g_adopt's second node */
    snprintf(g_adopt.q, sizeof g_adopt.q, "%s-fwd", g_queue);
    snprintf(g_adopt.na, sizeof g_adopt.na, "%s-fa", g_node);
    snprintf(g_adopt.nd, sizeof g_adopt.nd, "%s-fb", g_node);
    snprintf(g_adopt.la, sizeof g_adopt.la, "/tmp/dd-itest-fwd-a-%ld.log", (long)getpid());
    snprintf(g_adopt.ld, sizeof g_adopt.ld, "/tmp/dd-itest-fwd-b-%ld.log", (long)getpid());
    g_adopt.pd = spawn_member(g_adopt.q, g_adopt.nd, g_adopt.ld);
    assert_true(g_adopt.pd > 0);
    assert_int_equal(dfx_wait_consuming(g_cli, g_adopt.q, &g_adopt.pd, 10000, g_adopt.ld), 0);
    /* b takes no shared work: only a reads the work queue */
    char bq[256], id[64], body[200];
    snprintf(bq, sizeof bq, "%s.node.%s", g_adopt.q, g_adopt.nd);
    snprintf(id, sizeof id, "fwd-drain-%ld", (long)getpid());
    snprintf(body, sizeof body, "{\"action\":\"unregister\",\"hostname\":\"%s\"}", g_adopt.nd);
    json_t *r = call_queue(bq, body, id, 1, NULL, 0, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    g_adopt.pa = spawn_member(g_adopt.q, g_adopt.na, g_adopt.la);
    assert_true(g_adopt.pa > 0);
    assert_int_equal(dfx_wait_consuming(g_cli, g_adopt.q, &g_adopt.pa, 10000, g_adopt.la), 0);
    usleep(1500 * 1000); /* the two see each other */

    enum { N = 64 };
    broker_header h[N];
    char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "x-app-%d", i);
        h[i] = (broker_header){keys[i], "v"};
    }
    snprintf(id, sizeof id, "fwd-register-%ld", (long)getpid());
    snprintf(body, sizeof body, "{\"action\":\"register\",\"hostname\":\"%s\"}", g_adopt.nd);
    r = call_queue(g_adopt.q, body, id, 1, h, N, 20000);
    if (r == NULL)
        fail_msg("no answer to a message of %d headers for node %s (logs %s, %s)", N, g_adopt.nd,
                 g_adopt.la, g_adopt.ld);
    char *t = json_dumps(r, JSON_COMPACT);
    if (!json_is_true(json_object_get(r, "ok")) ||
        strcmp(json_string_value(json_object_get(r, "node")) ?: "", g_adopt.nd) != 0)
        fail_msg("expected %s's ok, got %s", g_adopt.nd, t);
    free(t);
    json_decref(r);
}

/* A second dispatcher with the queue and node name of a running one is
 * refused at start, with the reason; the first goes on working. */
static void test_same_identity_refused(void **state)
{
    (void)state;
    char out[4096];
    const char *args[] = {"-q",
                          g_queue,
                          "--node",
                          g_node,
                          "--queue-type",
                          "classic",
                          lane_docker_host(),
                          lane_amqp_url(),
                          NULL};
    int64_t t0 = dfx_now_ms();
    int st = run_daemon_once(out, sizeof out, args);
    fprintf(stderr, "# second start: exit %d after %lld ms: %s", st, (long long)(dfx_now_ms() - t0),
            out);
    assert_int_equal(st, 1);
    assert_non_null(strstr(out, "another dispatcher is connected as node"));
    json_t *r = call("{\"Dockercmd\":\"ping\"}", 10000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* Publishes body with message_id = correlation_id = id (a copy of an
 * earlier message when id is reused). */
static void send_copy(const char *body, const char *id)
{
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json"};
    assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
}

/* A request published again with the same message id, while the first copy
 * is in flight and after it was answered: one container, one final reply;
 * each copy is answered `duplicate`, naming the original. */
static void test_duplicate_copies(void **state)
{
    (void)state;
    static const char body[] =
        "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
        "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
        "\"Cmd\":[\"sh\",\"-c\",\"sleep 2; echo once\"]}";
    int64_t since = (int64_t)time(NULL) - 1;
    char id[64];
    send_msg(body, id, sizeof id);
    send_copy(body, id); /* at once: the first is still being created */
    usleep(800 * 1000);
    send_copy(body, id); /* while the first runs */
    int finals = 0, dups = 0;
    for (int k = 0; k < 3; k++) {
        json_t *r = recv_reply(id, 30000);
        assert_non_null(r);
        const char *code = err_code(r);
        if (code && !strcmp(code, "duplicate")) {
            dups++;
            json_t *orig = json_object_get(json_object_get(r, "error"), "original");
            assert_string_equal(json_string_value(json_object_get(orig, "request_id")), id);
            assert_non_null(json_string_value(json_object_get(orig, "container")));
        } else {
            finals++;
            assert_true(json_is_true(json_object_get(r, "ok")));
            assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "once\n");
        }
        json_decref(r);
    }
    assert_int_equal(finals, 1);
    assert_int_equal(dups, 2);
    /* after the answer and the removal: still no second container */
    usleep(500 * 1000);
    send_copy(body, id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "duplicate");
    json_decref(r);
    assert_null(recv_reply(id, 1500));
    assert_int_equal(dfx_count_creates(g_dkc, id, since), 1);
}

/* The seed's stdout: a run's attached output is copied to the
 * dispatcher's stdout, each line prefixed with the request id and stream. */
static void test_output_on_stdout(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"
             "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"sh\",\"-c\",\"echo line one; echo line two; echo warn >&2\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    json_decref(r);
    char *text = dfx_read_file(g_log);
    char want[3][240];
    /* the node comes after the request id, as on every line about a request */
    snprintf(want[0], sizeof want[0], "output id=%s node=%s stdout| line one\n", id, g_node);
    snprintf(want[1], sizeof want[1], "output id=%s node=%s stdout| line two\n", id, g_node);
    snprintf(want[2], sizeof want[2], "output id=%s node=%s stderr| warn\n", id, g_node);
    for (int i = 0; i < 3; i++) {
        if (strstr(text, want[i]) == NULL)
            fprintf(stderr, "missing in %s: %s", g_log, want[i]);
        assert_non_null(strstr(text, want[i]));
    }
    free(text);
}

/* The second daemon of a case that needs settings of its own
 * (test_replies_not_held_by_heartbeats, test_reply_over_max_reply), stopped
 * and removed by hb_teardown. */
static struct {
    char queue[96], node[96], log[160];
    pid_t pid;
} g_hb;

static int hb_teardown(void **state)
{
    (void)state;
    dfx_stop(&g_hb.pid, SIGTERM, 15000);
    if (g_hb.node[0])
        dfx_forget_node(g_dkc, g_hb.queue, g_hb.node);
    return 0;
}

/* Replies are not held back by the broker's heartbeats: with a 2 s
 * heartbeat RabbitMQ sends a heartbeat frame every second, and each run
 * below (1.5 s) finishes while the daemon's main loop waits on a quiet
 * connection.  (The main loop used to hand such a wait to rabbitmq-c,
 * which takes heartbeat frames itself and waits on, deaf to the outbox, so
 * that a reply could wait a whole minute.) */
static void test_replies_not_held_by_heartbeats(void **state)
{
    (void)state;
    snprintf(g_hb.queue, sizeof g_hb.queue, "%s-hb", g_queue);
    snprintf(g_hb.node, sizeof g_hb.node, "%s-hb", g_node);
    snprintf(g_hb.log, sizeof g_hb.log, "/tmp/dd-itest-%ld-hb.log", (long)getpid());
    const char *args[] = {"-q", g_hb.queue,     "--node",  g_hb.node,          "--heartbeat",
                          "2",  "--queue-type", "classic", lane_docker_host(), lane_amqp_url(),
                          NULL};
    g_hb.pid = dfx_spawn(args, g_hb.log, NULL);
    assert_true(g_hb.pid > 0);
    assert_int_equal(dfx_wait_consuming(g_cli, g_hb.queue, &g_hb.pid, 10000, g_hb.log), 0);
    int64_t slowest = 0;
    for (int k = 0; k < 5; k++) {
        char id[64];
        snprintf(id, sizeof id, "r-%ld-%d", (long)getpid(), ++g_seq);
        const char *body =
            "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
            "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
            "\"Cmd\":[\"sh\",\"-c\",\"sleep 1.5; echo hb\"]}";
        broker_props p = {.reply_to = BROKER_REPLY_TO,
                          .correlation_id = id,
                          .message_id = id,
                          .content_type = "application/json"};
        int64_t t = dfx_now_ms();
        assert_int_equal(broker_publish(g_cli, "", g_hb.queue, &p, body, strlen(body), 0), 0);
        json_t *r = recv_reply(id, 70000);
        int64_t ms = dfx_now_ms() - t;
        if (ms > slowest)
            slowest = ms;
        if (r == NULL || ms > 15000)
            fprintf(stderr, "run %d answered after %lld ms (%s); see %s\n", k, (long long)ms,
                    r ? "late" : "no reply", g_hb.log);
        assert_non_null(r);
        json_decref(r);
        assert_true(ms <= 15000);
    }
    fprintf(stderr, "slowest of 5 runs of 1.5 s with a 2 s heartbeat: %lld ms\n",
            (long long)slowest);
}

/* A run whose reply would be over --max-reply is answered too_large, once,
 * with both sizes and its container (the broker would have refused the
 * reply: RabbitMQ 4 takes at most 16 MiB by default); the container goes
 * as asked and the daemon answers the next run as usual. */
static void test_reply_over_max_reply(void **state)
{
    (void)state;
    snprintf(g_hb.queue, sizeof g_hb.queue, "%s-mr", g_queue);
    snprintf(g_hb.node, sizeof g_hb.node, "%s-mr", g_node);
    snprintf(g_hb.log, sizeof g_hb.log, "/tmp/dd-itest-%ld-mr.log", (long)getpid());
    const char *args[] = {"-q",          g_hb.queue, "--node",           g_hb.node,
                          "--max-reply", "65536",    "--queue-type",     "classic",
                          "--config",    g_cfg,      lane_docker_host(), lane_amqp_url(),
                          NULL};
    g_hb.pid = dfx_spawn(args, g_hb.log, NULL);
    assert_true(g_hb.pid > 0);
    assert_int_equal(dfx_wait_consuming(g_cli, g_hb.queue, &g_hb.pid, 10000, g_hb.log), 0);
    /* 1500 lines of 100 bytes: 150000 bytes of output, under the output
     * limit (1 MiB), over the reply limit */
    const char *big = "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
                      "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                      "\"Cmd\":[\"sh\",\"-c\",\"i=0; while [ $i -lt 1500 ]; do echo "
                      "012345678901234567890123456789012345678901234567890123456789012345678901234"
                      "567890123456789012345678; i=$((i+1)); done\"]}";
    const char *small = "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],"
                        "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                        "\"Cmd\":[\"echo\",\"fits\"]}";
    char id[64], id2[64];
    const char *bodies[2] = {big, small};
    char *ids[2] = {id, id2};
    for (int k = 0; k < 2; k++) {
        snprintf(ids[k], sizeof id, "r-%ld-%d", (long)getpid(), ++g_seq);
        broker_props p = {.reply_to = BROKER_REPLY_TO,
                          .correlation_id = ids[k],
                          .message_id = ids[k],
                          .content_type = "application/json"};
        assert_int_equal(broker_publish(g_cli, "", g_hb.queue, &p, bodies[k], strlen(bodies[k]), 0),
                         0);
    }
    json_t *r = recv_reply(id, 60000);
    if (r == NULL)
        fprintf(stderr, "no reply; see %s\n", g_hb.log);
    assert_non_null(r);
    char *text = json_dumps(r, JSON_COMPACT);
    fprintf(stderr, "# %s\n", text);
    free(text);
    assert_true(json_is_false(json_object_get(r, "ok")));
    assert_string_equal(err_code(r), "too_large");
    json_t *err = json_object_get(r, "error");
    assert_true(json_integer_value(json_object_get(err, "size")) > 150000);
    assert_int_equal(json_integer_value(json_object_get(err, "max")), 65536);
    const char *cid = json_string_value(json_object_get(json_object_get(err, "container"), "id"));
    assert_non_null(cid);
    json_decref(r);
    r = recv_reply(id2, 30000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "fits\n");
    json_decref(r);
    /* one answer only, and the container removed as the run asked */
    assert_null(recv_reply(id, 2000));
    assert_int_equal(wait_request_gone(id), 0);
}

/* A kill -9 after a Remove run's reply went out and its container was
 * marked (renamed answered-<id>), before the removal: the next start
 * removes the container and does not answer again.  A run killed without
 * the mark (the control) is answered after the restart. */
static void test_marked_remove_container_not_answered_again(void **state)
{
    (void)state;
    static const char body[] =
        "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
        "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
        "\"Cmd\":[\"sh\",\"-c\",\"sleep 2; echo late\"]}";
    char marked[64], control[64];
    send_msg(body, marked, sizeof marked);
    send_msg(body, control, sizeof control);
    char l[128];
    snprintf(l, sizeof l, "io.docker-dispatch.request=%s", marked);
    json_t *f = json_pack("{s:[s]}", "label", l);
    json_t *arr = NULL;
    for (int t = 0; t < 100 && json_array_size(arr) == 0; t++) {
        json_decref(arr);
        arr = NULL;
        dkc_list_opts lo = {.all = true, .filters = f};
        assert_int_equal(dkc_container_list(g_dkc, &lo, &arr), 0);
        if (json_array_size(arr) == 0 || count_label("io.docker-dispatch.request", control) == 0)
            usleep(50 * 1000);
    }
    assert_int_equal(json_array_size(arr), 1);
    char cid[80], name[100];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_array_get(arr, 0), "Id")));
    json_decref(arr);
    json_decref(f);
    stop_daemon(SIGKILL);
    snprintf(name, sizeof name, "answered-%s", cid);
    assert_int_equal(dkc_container_rename(g_dkc, cid, name), 0);
    assert_int_equal(start_daemon(), 0);
    json_t *r = recv_reply(control, 30000);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "late\n");
    json_decref(r);
    assert_null(recv_reply(marked, 3000));
    assert_int_equal(count_label("io.docker-dispatch.request", marked), 0);
}

/* A victim container and volume made outside the dispatcher (as another
 * workload of the host would be): no command of the default policy reaches
 * them, by name or id; lists do not show them; a run cannot mount the
 * volume.  A volume made through the dispatcher can be mounted. */
static void test_foreign_objects_are_out_of_reach(void **state)
{
    (void)state;
    char vname[64], vol[64], own[64];
    snprintf(vname, sizeof vname, "dd-victim-%ld", (long)getpid());
    snprintf(vol, sizeof vol, "dd-victim-vol-%ld", (long)getpid());
    snprintf(own, sizeof own, "dd-own-vol-%ld", (long)getpid());
    const char *cmd[] = {"sleep", "300", NULL};
    dkc_container_config cc = {.image = "busybox:latest", .cmd = cmd, .network_mode = "none"};
    char *vid = NULL;
    assert_int_equal(dkc_container_create(g_dkc, vname, &cc, &vid, NULL), 0);
    assert_int_equal(dkc_container_start(g_dkc, vid), 0);
    json_t *vout = NULL;
    assert_int_equal(dkc_volume_create(g_dkc, vol, NULL, NULL, &vout), 0);
    json_decref(vout);

    static const char *const verbs[] = {
        "{\"Dockercmd\":\"stop\",\"Container\":\"%s\"}",
        "{\"Dockercmd\":\"kill\",\"Container\":\"%s\"}",
        "{\"Dockercmd\":\"remove\",\"Container\":\"%s\",\"Options\":{\"Force\":true}}",
        "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}",
        "{\"Dockercmd\":\"logs\",\"Container\":\"%s\"}",
        "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"cat\",\"/etc/passwd\"]}",
        "{\"Dockercmd\":\"rename\",\"Container\":\"%s\",\"Options\":{\"Name\":\"renamed\"}}",
        "{\"action\":\"delete-container\",\"id\":\"%s\"}",
    };
    const char *refs[] = {vname, vid};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
            char body[512];
            snprintf(body, sizeof body, verbs[i], refs[k]);
            json_t *r = call(body, 30000);
            assert_non_null(r);
            if (err_code(r) == NULL || strcmp(err_code(r), "not_found") != 0) {
                char *t = json_dumps(r, 0);
                fprintf(stderr, "reached the victim: %s -> %s\n", body, t);
                free(t);
            }
            assert_string_equal(err_code(r), "not_found");
            json_decref(r);
        }
    /* still running, untouched */
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, vid, &ins), 0);
    assert_true(json_is_true(json_object_get(json_object_get(ins, "State"), "Running")));
    json_decref(ins);
    /* lists show only the cluster's containers and volumes */
    json_t *r = call("{\"Dockercmd\":\"list\",\"Options\":{\"All\":true}}", 30000);
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    assert_null(strstr(text, vid));
    free(text);
    json_decref(r);
    char body[512];
    snprintf(body, sizeof body, "{\"Dockercmd\":\"volume-inspect\",\"Volume\":\"%s\"}", vol);
    r = call(body, 30000);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    snprintf(body, sizeof body, "{\"Dockercmd\":\"volume-remove\",\"Volume\":\"%s\"}", vol);
    r = call(body, 30000);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    /* the foreign volume cannot be mounted; one made through the dispatcher can */
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
             "\"NetworkMode\":\"none\",\"Binds\":[\"%s:/x\"]},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"ls\",\"/x\"]}",
             vol);
    r = call(body, 30000);
    assert_string_equal(err_code(r), "policy_denied");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "field")),
                        "HostConfig.Binds");
    json_decref(r);
    snprintf(body, sizeof body, "{\"Dockercmd\":\"volume-create\",\"Volume\":\"%s\"}", own);
    r = call(body, 30000);
    assert_ok_reply(r);
    json_decref(r);
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
             "\"NetworkMode\":\"none\",\"Binds\":[\"%s:/x\"]},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"sh\",\"-c\",\"echo mounted\"]}",
             own);
    r = call(body, 30000);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "mounted\n");
    json_decref(r);
    /* the run's container goes just after its reply: the volume is free then */
    snprintf(body, sizeof body, "{\"Dockercmd\":\"volume-remove\",\"Volume\":\"%s\"}", own);
    for (int t = 0; t < 50; t++) {
        r = call(body, 30000);
        if (err_code(r) == NULL || strcmp(err_code(r), "conflict") != 0)
            break;
        json_decref(r);
        usleep(100 * 1000);
    }
    assert_ok_reply(r);
    json_decref(r);

    assert_int_equal(dkc_container_remove(g_dkc, vid, true, true), 0);
    assert_int_equal(dkc_volume_remove(g_dkc, vol, true), 0);
    free(vid);
}

/* The reply address a run keeps in its labels for supervision never leaves
 * the dispatcher: not in inspect, not in list, not by a label filter; the
 * final reply still comes (and after a restart: test_sigterm_readopt). */
static void test_reply_address_hidden(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],"
             "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\",\"Cmd\":[\"echo\",\"kept\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_ok_reply(r);
    char cid[80];
    const char *c0 =
        json_string_value(json_object_get(json_object_get(result(r), "container"), "id"));
    assert_non_null(c0);
    snprintf(cid, sizeof cid, "%s", c0);
    char body[512];
    snprintf(body, sizeof body, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", cid);
    json_decref(r);
    r = call(body, 30000);
    assert_ok_reply(r);
    json_t *labels = json_object_get(json_object_get(result(r), "Config"), "Labels");
    assert_non_null(json_object_get(labels, "io.docker-dispatch.request"));
    assert_null(json_object_get(labels, "io.docker-dispatch.reply-to"));
    assert_null(json_object_get(labels, "io.docker-dispatch.correlation-id"));
    json_decref(r);
    r = call("{\"Dockercmd\":\"list\",\"Options\":{\"All\":true}}", 30000);
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    assert_null(strstr(text, "reply-to"));
    assert_null(strstr(text, "correlation-id"));
    free(text);
    json_decref(r);
    r = call("{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,\"Filters\":{\"label\":"
             "[\"io.docker-dispatch.reply-to=amq.rabbitmq.reply-to\"]}}}",
             30000);
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);
    verb_ok("{\"Dockercmd\":\"remove\",\"Container\":\"%s\"}", cid);
}

/* What needs the real daemon to matter: an --internal network of the host
 * (made outside the dispatcher) cannot be joined, a log driver that would
 * have dockerd connect to an address cannot be chosen, and a field the
 * policy does not know cannot be sent; the refusal names the field, and
 * no container is made. */
/* A run whose create body the policy allows and the Docker daemon
 * refuses (a swap limit below the memory limit: Docker answers 400 at
 * create, which from API 1.44 on is where every check of the body is made)
 * is answered with Docker's reason as bad_request, not as an error of
 * ours, and leaves no container.  Podman answers it 500 with a cause of
 * its own: docker_error, with the same reason. */
static void test_run_refused_at_create(void **state)
{
    (void)state;
    char id[64];
    send_msg("{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\",\"HostConfig\":{"
             "\"Memory\":10000000,\"MemorySwap\":5000000}},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"true\"]}",
             id, sizeof id);
    json_t *r = recv_reply(id, 30000);
    assert_non_null(r);
    char *t = json_dumps(r, 0);
    fprintf(stderr, "reply: %s\n", t ? t : "?");
    free(t);
    assert_false(json_is_true(json_object_get(r, "ok")));
    assert_string_equal(err_code(r), lane_podman_differs("Podman answers it 500 with its cause")
                                         ? "docker_error"
                                         : "bad_request");
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    assert_non_null(msg);
    assert_non_null(strcasestr(msg, "memoryswap"));
    assert_int_equal(count_label("io.docker-dispatch.request", id), 0);
    json_decref(r);
}

static void test_host_network_and_log_driver_refused(void **state)
{
    (void)state;
    char net[64], body[768];
    snprintf(net, sizeof net, "dd-internal-%ld", (long)getpid());
    char *nid = NULL;
    assert_int_equal(dkc_network_create(g_dkc, net, "bridge", true, NULL, &nid), 0);
    int64_t since = (int64_t)time(NULL) - 1;
    static const struct {
        const char *options, *field;
    } cases[] = {
        {"\"NetworkMode\":\"%s\"", "HostConfig.NetworkMode"},
        {"\"HostConfig\":{\"LogConfig\":{\"Type\":\"syslog\",\"Config\":{\"syslog-address\":"
         "\"tcp://127.0.0.1:1\"}}}%.0s",
         "HostConfig.LogConfig.Type"},
        {"\"HostConfig\":{\"NewDockerField\":1}%.0s", "HostConfig.NewDockerField"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char opts[384];
        snprintf(opts, sizeof opts, cases[i].options, net);
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"run\",\"Options\":{%s},\"Image\":\"busybox:latest\","
                 "\"Cmd\":[\"true\"]}",
                 opts);
        char id[64];
        send_msg(body, id, sizeof id);
        json_t *r = recv_reply(id, 30000);
        assert_non_null(r);
        assert_string_equal(err_code(r), "policy_denied");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "error"), "field")),
            cases[i].field);
        json_decref(r);
        assert_int_equal(dfx_count_creates(g_dkc, id, since), 0);
    }
    assert_int_equal(dkc_network_remove(g_dkc, nid), 0);
    free(nid);
}

/* Runs rabbitmqctl ($DD_RABBITMQCTL) with args (a printf format); 0 on
 * success. */
static int rabbitmqctl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int rabbitmqctl(const char *fmt, ...)
{
    char args[256], line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s -q %s >/dev/null 2>&1", lane_rabbitmqctl(), args);
    int st = system(line);
    return st == 0 ? 0 : -1;
}

/* A user's request to queue rk: published by b (connected as that user)
 * with user_id (NULL: anonymous), the reply returned (json_decref). */
static json_t *user_call_to(broker *b, const char *user_id, const char *rk, const char *body)
{
    char id[64];
    snprintf(id, sizeof id, "u-%ld-%d", (long)getpid(), ++g_seq);
    broker_props p = {.correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json",
                      .user_id = user_id};
    broker_delivery reply;
    memset(&reply, 0, sizeof reply);
    int rc = broker_call(b, "", rk, &p, body, strlen(body), 30000, &reply);
    if (rc != 0)
        fprintf(stderr, "broker_call as %s: %s\n", user_id ? user_id : "(anonymous)",
                broker_error(b));
    assert_int_equal(rc, 0);
    json_t *j = json_loadb((const char *)reply.body, reply.len, 0, NULL);
    broker_delivery_cleanup(&reply);
    return j;
}

/* A broker handle connected as RabbitMQ user (password "pw-<user>"),
 * ready for user_call(). */
static broker *user_broker(const char *user)
{
    char pw[48], url[256];
    snprintf(pw, sizeof pw, "pw-%s", user);
    assert_non_null(lane_amqp_url_as(url, sizeof url, user, pw, ""));
    broker *b = dfx_client_open(url, g_queue, 0);
    assert_non_null(b);
    assert_int_equal(broker_rpc_begin(b), 0);
    return b;
}

/* The RabbitMQ users dd-alice-<pid> and dd-bob-<pid> (names into users),
 * each with a handle connected as itself in b; users_close() deletes them. */
static void users_open(char users[2][32], broker *b[2])
{
    snprintf(users[0], 32, "dd-alice-%ld", (long)getpid());
    snprintf(users[1], 32, "dd-bob-%ld", (long)getpid());
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rabbitmqctl("add_user %s pw-%s", users[i], users[i]), 0);
        assert_int_equal(rabbitmqctl("set_permissions -p / %s '.*' '.*' '.*'", users[i]), 0);
        b[i] = user_broker(users[i]);
    }
}

static void users_close(char users[2][32], broker *b[2])
{
    for (int i = 0; i < 2; i++) {
        broker_free(b[i]);
        rabbitmqctl("delete_user %s", users[i]);
    }
}

/* A user's request to the work queue (user_call_to). */
static json_t *user_call(broker *b, const char *user_id, const char *body)
{
    return user_call_to(b, user_id, g_queue, body);
}

/* Two RabbitMQ users: what one creates, the other cannot reach (nor can
 * an anonymous message); an admin user can; lists show each user theirs. */
static void test_users_own_their_containers(void **state)
{
    (void)state;
    char users[2][32];
    broker *b[2] = {NULL, NULL};
    users_open(users, b);
    const char *alice = users[0], *bob = users[1];
    /* alice's detached container */
    json_t *r = user_call(b[0], alice,
                          "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\"},"
                          "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"300\"]}");
    assert_ok_reply(r);
    char cid[80], body[256];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_object_get(result(r), "container"), "id")));
    json_decref(r);
    /* bob, and an anonymous message, cannot reach it */
    snprintf(body, sizeof body, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", cid);
    r = user_call(b[1], bob, body);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    r = user_call(b[1], NULL, body);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    /* a message may not claim another user: RabbitMQ refuses it */
    broker_props forged = {.message_id = "forged", .user_id = alice};
    assert_true(broker_publish(b[1], "", g_queue, &forged, body, strlen(body), 0) != 0);
    broker_free(b[1]);
    b[1] = user_broker(bob);
    /* lists: alice sees it, bob does not */
    r = user_call(b[0], alice, "{\"Dockercmd\":\"list\"}");
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    assert_non_null(strstr(text, cid));
    free(text);
    json_decref(r);
    r = user_call(b[1], bob, "{\"Dockercmd\":\"list\"}");
    assert_ok_reply(r);
    text = json_dumps(result(r), 0);
    assert_null(strstr(text, cid));
    free(text);
    json_decref(r);
    /* the admin user (guest here) can */
    r = user_call(g_cli, "guest", body);
    assert_ok_reply(r);
    json_decref(r);
    /* alice can */
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"remove\",\"Container\":\"%s\",\"Options\":{\"Force\":true}}", cid);
    r = user_call(b[0], alice, body);
    assert_ok_reply(r);
    json_decref(r);
    users_close(users, b);
}

/* A RabbitMQ user of this run ("dd-<who>-<pid>", into name), made with
 * rabbitmqctl, and a client connection as that user ready for calls. */
static broker *user_open(const char *who, char *name, size_t len)
{
    char pw[80], url[256];
    snprintf(name, len, "dd-%s-%ld", who, (long)getpid());
    assert_int_equal(rabbitmqctl("add_user %s pw-%s", name, name), 0);
    assert_int_equal(rabbitmqctl("set_permissions -p / %s '.*' '.*' '.*'", name), 0);
    snprintf(pw, sizeof pw, "pw-%s", name);
    assert_non_null(lane_amqp_url_as(url, sizeof url, name, pw, ""));
    broker *b = dfx_client_open(url, g_queue, 0);
    assert_non_null(b);
    assert_int_equal(broker_rpc_begin(b), 0);
    return b;
}

static void user_close(broker *b, const char *name)
{
    broker_free(b);
    rabbitmqctl("delete_user %s", name);
}

/* user's request with id to queue, its reply returned (json_decref; NULL
 * when none came in timeout_ms). */
static json_t *user_call_id(broker *b, const char *queue, const char *user_id, const char *id,
                            const char *body, int timeout_ms)
{
    broker_props p = {.correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json",
                      .user_id = user_id};
    broker_delivery reply;
    memset(&reply, 0, sizeof reply);
    int rc = broker_call(b, "", queue, &p, body, strlen(body), timeout_ms, &reply);
    if (rc != 0) {
        fprintf(stderr, "no reply to %s's %s: %s\n", user_id, id, broker_error(b));
        return NULL;
    }
    json_t *j = json_loadb((const char *)reply.body, reply.len, 0, NULL);
    broker_delivery_cleanup(&reply);
    return j;
}

/* user's run or create with id (to queue), answered ok: the id of its
 * container into cid. */
static void user_make(broker *b, const char *queue, const char *user_id, const char *id,
                      const char *body, char *cid, size_t len)
{
    json_t *r = user_call_id(b, queue, user_id, id, body, 30000);
    assert_ok_reply(r);
    json_t *res = result(r);
    json_t *ct = json_object_get(res, "container"); /* run; create: the result itself */
    snprintf(cid, len, "%s", json_string_value(json_object_get(ct ? ct : res, "id")));
    json_decref(r);
}

/* Takes the next message of g_queue as a dispatcher would and drops its
 * connection without acking it: RabbitMQ hands it out again, redelivered
 * (the daemon must be stopped). */
static void redeliver_next(void)
{
    char node[64];
    snprintf(node, sizeof node, "grab-%ld", (long)getpid());
    broker_conf c;
    broker_conf_init(&c);
    c.url = lane_amqp_url();
    c.queue = g_queue;
    c.node = node;
    c.queue_type = BROKER_QUEUE_CLASSIC;
    broker *b = NULL;
    char *cause = NULL;
    if (broker_open(&c, &b, &cause) != 0)
        fail_msg("grabbing consumer: %s", cause ? cause : "?");
    broker_delivery d;
    memset(&d, 0, sizeof d);
    int got = 0;
    for (int i = 0; i < 100 && got != 1; i++)
        got = broker_poll(b, 100, &d);
    assert_int_equal(got, 1);
    broker_delivery_cleanup(&d);
    broker_queue_delete(b, broker_name_node(b));
    broker_free(b); /* unacked: requeued */
}

#define RUN_ECHO(word)                                                                             \
    "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"echo\",\"" word "\"],"         \
    "\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,\"NetworkMode\":\"none\"}}"

/* Request ids are per user: mallory's request with the id of alice's
 * container is carried out as mallory's, fresh (not `duplicate` naming
 * hers) and redelivered (not adopting, i.e. starting, hers). */
static void test_another_users_request_id_is_not_theirs(void **state)
{
    (void)state;
    char alice[48], mallory[48], id[64];
    broker *a = user_open("ids-alice", alice, sizeof alice);
    broker *m = user_open("ids-mallory", mallory, sizeof mallory);
    snprintf(id, sizeof id, "shared-%ld", (long)getpid());
    char cid[80];
    user_make(a, g_queue, alice, id,
              "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":"
              "[\"echo\",\"alice\"],\"Options\":{\"NetworkMode\":\"none\"}}",
              cid, sizeof cid);
    json_t *r = user_call_id(m, g_queue, mallory, id, RUN_ECHO("mallory"), 30000);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "mallory\n");
    json_decref(r);

    /* the same id redelivered: mallory's own run again, alice's untouched
     * (once mallory's first container is gone, as a Remove run's goes) */
    for (int i = 0; i < 50 && count_label("io.docker-dispatch.request", id) > 1; i++)
        usleep(100 * 1000);
    assert_int_equal(count_label("io.docker-dispatch.request", id), 1);
    assert_int_equal(stop_daemon(SIGTERM), 0);
    broker_props p = {.correlation_id = id,
                      .message_id = id,
                      .reply_to = BROKER_REPLY_TO,
                      .content_type = "application/json",
                      .user_id = mallory};
    assert_int_equal(
        broker_publish(m, "", g_queue, &p, RUN_ECHO("again"), strlen(RUN_ECHO("again")), 0), 0);
    redeliver_next();
    assert_int_equal(start_daemon(), 0);
    json_t *again = NULL;
    for (int i = 0; i < 300 && again == NULL; i++) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        if (broker_poll(m, 100, &d) == 1 && d.correlation_id && !strcmp(d.correlation_id, id))
            again = json_loadb((const char *)d.body, d.len, 0, NULL);
        broker_delivery_cleanup(&d);
    }
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, cid, &ins), 0);
    const char *st = json_string_value(json_object_get(json_object_get(ins, "State"), "Status"));
    if (again == NULL || strcmp(st, "created") != 0)
        fprintf(stderr, "mallory's redelivered copy: %s; alice's container is %s\n",
                again ? "answered" : "no reply", st);
    assert_string_equal(st, "created");
    json_decref(ins);
    assert_ok_reply(again);
    assert_string_equal(json_string_value(json_object_get(result(again), "stdout")), "again\n");
    json_decref(again);
    dkc_container_remove(g_dkc, cid, true, false);
    user_close(a, alice);
    user_close(m, mallory);
}

/* The dispatcher of the quota tests: its own queue (g_queue-quota), six
 * workers, every user half of them, two containers and 256 MiB. */
static char g_qqueue[96], g_qlog[128], g_qcfg[128];
static pid_t g_qpid;

static void quota_daemon_start(void)
{
    snprintf(g_qqueue, sizeof g_qqueue, "%s-quota", g_queue);
    snprintf(g_qlog, sizeof g_qlog, "/tmp/dd-itest-quota-%ld.log", (long)getpid());
    snprintf(g_qcfg, sizeof g_qcfg, "/tmp/dd-itest-quota-%ld.json", (long)getpid());
    FILE *cf = fopen(g_qcfg, "w");
    assert_non_null(cf);
    fputs("{\"policy\": {\"images\": [\"busybox:*\"], \"default_memory\": 67108864,"
          " \"quotas\": {\"default\": {\"worker_share\": 0.5, \"containers\": 2,"
          " \"memory\": 268435456}}}}\n",
          cf);
    fclose(cf);
    unlink(g_qlog);
    g_qpid = spawn_daemon(g_qqueue, g_node, g_qcfg, g_qlog);
    if (g_qpid <= 0) {
        char *text = dfx_read_file(g_qlog);
        fprintf(stderr, "the quota dispatcher did not start:\n%s\n", text ? text : "");
        free(text);
    }
    assert_true(g_qpid > 0);
}

static int quota_teardown(void **state)
{
    (void)state;
    if (g_qpid > 0)
        dfx_stop(&g_qpid, SIGTERM, 15000);
    dfx_remove_containers(g_dkc, "io.docker-dispatch.cluster", g_qqueue);
    dfx_forget_topology(lane_amqp_url(), g_qqueue, g_node);
    unlink(g_qcfg);
    unlink(g_qlog);
    return 0;
}

/* alice's six long execs may hold three of the six workers: bob's quick
 * run is answered while they run, and every exec of hers is answered. */
static void test_a_users_long_execs_leave_workers_to_others(void **state)
{
    (void)state;
    quota_daemon_start();
    char alice[48], bob[48], id[64], body[512];
    broker *a = user_open("share-alice", alice, sizeof alice);
    broker *b = user_open("share-bob", bob, sizeof bob);
    snprintf(id, sizeof id, "sleeper-%ld", (long)getpid());
    char cid[80];
    user_make(a, g_qqueue, alice, id,
              "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":"
              "[\"sleep\",\"120\"],\"Options\":{\"NetworkMode\":\"none\"}}",
              cid, sizeof cid);
    json_t *r;
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"sleep\",\"8\"]}", cid);
    for (int i = 0; i < 6; i++) {
        char eid[64];
        snprintf(eid, sizeof eid, "exec-%d-%ld", i, (long)getpid());
        broker_props p = {.correlation_id = eid,
                          .message_id = eid,
                          .reply_to = BROKER_REPLY_TO,
                          .content_type = "application/json",
                          .user_id = alice};
        assert_int_equal(broker_publish(a, "", g_qqueue, &p, body, strlen(body), 0), 0);
    }
    usleep(500 * 1000); /* the execs on their workers */
    int64_t t0 = dfx_now_ms();
    snprintf(id, sizeof id, "quick-%ld", (long)getpid());
    r = user_call_id(b, g_qqueue, bob, id, RUN_ECHO("quick"), 30000);
    int64_t took = dfx_now_ms() - t0;
    assert_ok_reply(r);
    json_decref(r);
    if (took > 6000)
        fprintf(stderr, "bob's run waited %lld ms behind alice's execs\n", (long long)took);
    assert_true(took <= 6000);
    int answered = 0;
    for (int i = 0; i < 400 && answered < 6; i++) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        if (broker_poll(a, 100, &d) == 1 && d.correlation_id &&
            !strncmp(d.correlation_id, "exec-", 5))
            answered++;
        broker_delivery_cleanup(&d);
    }
    assert_int_equal(answered, 6);
    user_close(a, alice);
    user_close(b, bob);
}

/* bob's containers and memory are bounded on the quota dispatcher: a
 * create over either is answered `quota` naming the bound. */
static void test_a_users_container_and_memory_bounds(void **state)
{
    (void)state;
    quota_daemon_start();
    char bob[48], id[64];
    broker *b = user_open("bounds-bob", bob, sizeof bob);
    const char *create =
        "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
        "\"Options\":{\"NetworkMode\":\"none\"}}";
    snprintf(id, sizeof id, "c1-%ld", (long)getpid());
    json_t *r = user_call_id(b, g_qqueue, bob, id, create, 30000);
    assert_ok_reply(r);
    json_decref(r);
    snprintf(id, sizeof id, "c2-%ld", (long)getpid());
    r = user_call_id(b, g_qqueue, bob, id,
                     "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
                     "\"Options\":{\"NetworkMode\":\"none\",\"Memory\":230686720}}",
                     30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "quota");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "field")),
                        "quotas.memory");
    json_decref(r);
    snprintf(id, sizeof id, "c3-%ld", (long)getpid());
    r = user_call_id(b, g_qqueue, bob, id, create, 30000);
    assert_ok_reply(r);
    json_decref(r);
    snprintf(id, sizeof id, "c4-%ld", (long)getpid());
    r = user_call_id(b, g_qqueue, bob, id, create, 30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "quota");
    json_t *err = json_object_get(r, "error");
    assert_string_equal(json_string_value(json_object_get(err, "field")), "quotas.containers");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "2 containers"));
    json_decref(r);
    user_close(b, bob);
}

/* This run's node queue. */
static const char *node_queue(void)
{
    static char q[160];
    snprintf(q, sizeof q, "%s.node.%s", g_queue, g_node);
    return q;
}

/* Resumes the node (the admin user, guest here, on its node queue), so
 * that a failed drain case leaves the daemon taking work for the next. */
static int drain_teardown(void **state)
{
    (void)state;
    char body[200];
    snprintf(body, sizeof body, "{\"action\":\"register\",\"hostname\":\"%s\"}", g_node);
    broker_props p = {.message_id = "drain-teardown", .user_id = "guest"};
    broker_publish(g_cli, "", node_queue(), &p, body, strlen(body), 0);
    rabbitmqctl("delete_user dd-mallory-%ld", (long)getpid());
    return 0;
}

/* Draining a node is an admin's: a user not in admin_users and an
 * anonymous message are refused (policy_denied, field user_id) and the
 * node goes on taking work; the admin user drains it, and then, though
 * nothing consumes the work queue any more, resumes it through the
 * node's own queue. */
static void test_only_admins_drain_a_node(void **state)
{
    (void)state;
    char mallory[32], unreg[200], reg[200];
    broker *b = user_open("mallory", mallory, sizeof mallory);
    snprintf(unreg, sizeof unreg, "{\"action\":\"unregister\",\"hostname\":\"%s\"}", g_node);
    snprintf(reg, sizeof reg, "{\"action\":\"register\",\"hostname\":\"%s\"}", g_node);
    const char *users[] = {mallory, NULL};
    for (int i = 0; i < 2; i++) {
        json_t *r = user_call(b, users[i], unreg);
        if (err_code(r) == NULL || strcmp(err_code(r), "policy_denied") != 0) {
            char *t = json_dumps(r, 0);
            fail_msg("unregister by %s: not refused: %s", users[i] ? users[i] : "anonymous", t);
        }
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(r, "error"), "field")), "user_id");
        json_decref(r);
    }
    /* still taking work */
    json_t *r = user_call(b, mallory, "{\"Dockercmd\":\"ping\"}");
    assert_ok_reply(r);
    json_decref(r);
    /* the admin drains it: the work queue is not served any more (the
     * admin's calls on a connection of their own, so that they do not
     * read the reply of the ping sent meanwhile) */
    broker *admin = dfx_client_open(lane_amqp_url(), g_queue, 0);
    assert_non_null(admin);
    assert_int_equal(broker_rpc_begin(admin), 0);
    r = user_call(admin, "guest", unreg);
    assert_ok_reply(r);
    json_decref(r);
    char id[64];
    send_msg("{\"Dockercmd\":\"ping\"}", id, sizeof id);
    r = recv_reply(id, 2000);
    if (r != NULL)
        fail_msg("a drained node answered from the work queue: %s", node_queue());
    /* register there would never be answered; on the node queue it is */
    r = user_call_to(b, mallory, node_queue(), reg);
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);
    /* as docs/cluster.md says: dispatchctl --user-id to the node queue */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' --amqp '%s' -q %s --node %s --user-id --json send '%s' >&2",
             getenv("DISPATCHCTL_BIN"), lane_amqp_url(), g_queue, g_node, reg);
    int st = system(cmd);
    if (st != 0)
        fail_msg("dispatchctl --user-id register on %s: status %d", node_queue(), st);
    r = recv_reply(id, 30000); /* the waiting ping, now taken */
    if (r == NULL)
        fail_msg("the node took no work after register on %s", node_queue());
    assert_ok_reply(r);
    json_decref(r);
    broker_free(admin);
    user_close(b, mallory);
}

static json_t *callv(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *callv(const char *fmt, ...)
{
    char *body = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    assert_true(n > 0);
    json_t *r = call(body, 60000);
    free(body);
    return r;
}

static const char *err_field(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "field"));
}

/* The victim deployment's volume (another cluster's label) holding a file
 * "secret", made outside the dispatcher. */
static void make_victim_volume(const char *vol)
{
    const char *labels[] = {"io.docker-dispatch.cluster=dd-victim-cluster", NULL};
    json_t *out = NULL;
    assert_int_equal(dkc_volume_create(g_dkc, vol, NULL, labels, &out), 0);
    json_decref(out);
    char bind[128];
    snprintf(bind, sizeof bind, "%s:/v", vol);
    const char *binds[] = {bind, NULL};
    const char *cmd[] = {"sh", "-c", "echo s3cret > /v/secret", NULL};
    dkc_container_config cc = {
        .image = "busybox:latest", .cmd = cmd, .binds = binds, .network_mode = "none"};
    char *id = NULL;
    int64_t code = -1;
    assert_int_equal(dkc_container_create(g_dkc, NULL, &cc, &id, NULL), 0);
    assert_int_equal(dkc_container_start(g_dkc, id), 0);
    assert_int_equal(dkc_container_wait(g_dkc, id, NULL, &code, NULL), 0);
    assert_int_equal(code, 0);
    dkc_container_remove(g_dkc, id, true, false);
    free(id);
}

/* The volume check has no cut-off: a run binding its own volume 512 times
 * and then the victim's is refused, and lists nothing of the victim's. */
static void test_foreign_volume_after_512_binds(void **state)
{
    (void)state;
    char vol[64], own[64];
    snprintf(vol, sizeof vol, "dd-victim-vol513-%ld", (long)getpid());
    snprintf(own, sizeof own, "dd-own-vol513-%ld", (long)getpid());
    make_victim_volume(vol);
    json_t *r = callv("{\"Dockercmd\":\"volume-create\",\"Volume\":\"%s\"}", own);
    assert_ok_reply(r);
    json_decref(r);
    size_t cap = 512 * 96 + 512, n = 0;
    char *binds = malloc(cap);
    assert_non_null(binds);
    for (int i = 0; i < 512; i++)
        n += (size_t)snprintf(binds + n, cap - n, "\"%s:/m%d\",", own, i);
    snprintf(binds + n, cap - n, "\"%s:/x\"", vol);
    r = callv("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
              "\"NetworkMode\":\"none\",\"HostConfig\":{\"Binds\":[%s]}},"
              "\"Image\":\"busybox:latest\",\"Cmd\":[\"ls\",\"/x\"]}",
              binds);
    free(binds);
    assert_non_null(r);
    char code[32], field[64];
    snprintf(code, sizeof code, "%s", err_code(r) ? err_code(r) : "(none)");
    snprintf(field, sizeof field, "%s", err_field(r) ? err_field(r) : "(none)");
    if (strcmp(code, "policy_denied") != 0) {
        char *t = json_dumps(r, 0);
        fprintf(stderr, "the 513th bind mounted the victim's volume: %s\n", t);
        free(t);
        wait_request_gone(json_string_value(json_object_get(r, "request_id")));
    }
    json_decref(r);
    /* both volumes go before the verdict, which may end the test */
    assert_int_equal(dkc_volume_remove(g_dkc, vol, true), 0);
    r = callv("{\"Dockercmd\":\"volume-remove\",\"Volume\":\"%s\"}", own);
    assert_ok_reply(r);
    json_decref(r);
    assert_string_equal(code, "policy_denied");
    assert_string_equal(field, "HostConfig.Binds");
}

/* A detached busybox container through the dispatcher (sleeping, on
 * network mode net); its id into id. */
static void run_sleeper(char *id, size_t len, const char *net)
{
    json_t *r = callv("{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"%s\"},"
                      "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"300\"]}",
                      net);
    assert_ok_reply(r);
    snprintf(id, len, "%s",
             json_string_value(json_object_get(json_object_get(result(r), "container"), "id")));
    json_decref(r);
}

/* A container made outside the dispatcher (the host's other workload). */
static char *foreign_sleeper(const char *name)
{
    const char *cmd[] = {"sleep", "300", NULL};
    dkc_container_config cc = {.image = "busybox:latest", .cmd = cmd, .network_mode = "none"};
    char *id = NULL;
    assert_int_equal(dkc_container_create(g_dkc, name, &cc, &id, NULL), 0);
    assert_int_equal(dkc_container_start(g_dkc, id), 0);
    return id;
}

/* The base64 of a tar holding one file, name, with text (made by tar). */
static char *tar_base64(const char *name, const char *text)
{
    char dir[] = "/tmp/dd-tar-XXXXXX", path[128], line[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(line, sizeof line, "tar -C %s -cf - %s | base64 -w0; rm -rf %s", dir, name, dir);
    FILE *p = popen(line, "r");
    assert_non_null(p);
    char *out = calloc(1, 65536);
    assert_non_null(out);
    size_t n = fread(out, 1, 65535, p);
    assert_int_equal(pclose(p), 0);
    assert_true(n > 0);
    return out;
}

/* The error code of r (or "ok"), and its message with name taken out,
 * into code and msg. */
static void outcome(json_t *r, const char *name, char *code, size_t clen, char *msg, size_t mlen)
{
    snprintf(code, clen, "%s", r == NULL ? "(no reply)" : err_code(r) ? err_code(r) : "ok");
    const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    snprintf(msg, mlen, "%s", m ? m : "");
    char *at = strstr(msg, name);
    if (at != NULL)
        memmove(at, at + strlen(name), strlen(at + strlen(name)) + 1);
    json_decref(r);
}

/* Against the real Docker: another workload's volume and container names
 * tell nothing beyond being taken (volume-create is refused, not answered
 * with the volume; a list before or since another's container is answered
 * as for a missing one, the publisher's own works), top takes only known
 * ps options, and a dot segment does not lead an archive into /proc. */
static void test_foreign_names_tell_nothing(void **state)
{
    (void)state;
    char vol[64], vname[64], nosuch[64], cid[80];
    snprintf(vol, sizeof vol, "dd-oracle-vol-%ld", (long)getpid());
    snprintf(vname, sizeof vname, "dd-oracle-victim-%ld", (long)getpid());
    snprintf(nosuch, sizeof nosuch, "dd-oracle-nosuch-%ld", (long)getpid());
    json_t *out = NULL;
    assert_int_equal(dkc_volume_create(g_dkc, vol, NULL, NULL, &out), 0);
    json_decref(out);
    char *vid = foreign_sleeper(vname);
    run_sleeper(cid, sizeof cid, "none");
    char code[6][32], msg[6][320];
    json_t *r = callv("{\"Dockercmd\":\"volume-create\",\"Volume\":\"%s\"}", vol);
    char *text = json_dumps(r, 0);
    int leaked = text != NULL && strstr(text, "Mountpoint") != NULL;
    free(text);
    outcome(r, vol, code[0], sizeof code[0], msg[0], sizeof msg[0]);
    outcome(
        callv("{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"before\":[\"%s\"]}}}", vname),
        vname, code[1], sizeof code[1], msg[1], sizeof msg[1]);
    outcome(
        callv("{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"before\":[\"%s\"]}}}", nosuch),
        nosuch, code[2], sizeof code[2], msg[2], sizeof msg[2]);
    outcome(callv("{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,"
                  "\"Filters\":{\"since\":[\"%s\"]}}}",
                  cid),
            cid, code[3], sizeof code[3], msg[3], sizeof msg[3]);
    r = callv(
        "{\"Dockercmd\":\"top\",\"Container\":\"%s\",\"Options\":{\"PsArgs\":\"-o pid,args\"}}",
        cid);
    int titled = json_array_size(json_object_get(result(r), "Titles")) == 2;
    outcome(r, cid, code[4], sizeof code[4], msg[4], sizeof msg[4]);
    outcome(callv("{\"Dockercmd\":\"top\",\"Container\":\"%s\",\"Options\":{\"PsArgs\":\"aux e\"}}",
                  cid),
            cid, code[5], sizeof code[5], msg[5], sizeof msg[5]);
    r = callv("{\"Dockercmd\":\"archive-get\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/./proc/1/environ\"}}",
              cid);
    char acode[32], amsg[320];
    outcome(r, cid, acode, sizeof acode, amsg, sizeof amsg);
    /* what the test made goes before the verdicts, which may end it */
    dkc_container_remove(g_dkc, vid, true, true);
    free(vid);
    dkc_container_remove(g_dkc, cid, true, true);
    assert_int_equal(dkc_volume_remove(g_dkc, vol, true), 0);
    static const char *const what[] = {"volume-create of another's volume",
                                       "list before another's container",
                                       "list before a missing container",
                                       "list since the publisher's own",
                                       "top -o pid,args",
                                       "top aux e"};
    static const char *const want[] = {"conflict", "not_found", "not_found",
                                       "ok",       "ok",        "bad_request"};
    int bad = leaked || !titled || strcmp(msg[1], msg[2]) != 0 || strcmp(acode, "bad_request");
    for (size_t i = 0; i < 6; i++)
        bad |= strcmp(code[i], want[i]) != 0;
    for (size_t i = 0; bad && i < 6; i++)
        fprintf(stderr, "%s: %s (want %s) %s\n", what[i], code[i], want[i], msg[i]);
    if (bad)
        fprintf(stderr, "archive-get /./proc/1/environ: %s (want bad_request); %s\n", acode,
                leaked ? "volume-create answered with another's volume" : "");
    assert_false(bad);
}

/* archive-put and archive-get through the queue: a file in, the same
 * file out (its tar decoded by tar); too large, foreign, kernel paths and
 * bad base64 refused, nothing written. */
static void test_archives(void **state)
{
    (void)state;
    char cid[80];
    run_sleeper(cid, sizeof cid, "none");
    char *b64 = tar_base64("note.txt", "carried by the queue\n");
    json_t *r = callv("{\"Dockercmd\":\"archive-put\",\"Container\":\"%s\","
                      "\"Options\":{\"Path\":\"/tmp\",\"Archive\":\"%s\"}}",
                      cid, b64);
    assert_ok_reply(r);
    json_decref(r);
    free(b64);
    r = callv("{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"cat\",\"/tmp/note.txt\"]}",
              cid);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")),
                        "carried by the queue\n");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"archive-get\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/tmp/note.txt\"}}",
              cid);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "Path")), "/tmp/note.txt");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(result(r), "Stat"), "name")), "note.txt");
    const char *got = json_string_value(json_object_get(result(r), "Archive"));
    assert_non_null(got);
    char line[65536 + 128];
    snprintf(line, sizeof line, "echo '%s' | base64 -d | tar -xOf - note.txt", got);
    FILE *p = popen(line, "r");
    char text[128] = "";
    size_t n = fread(text, 1, sizeof text - 1, p);
    text[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_string_equal(text, "carried by the queue\n");
    json_decref(r);
    /* the busybox binary is over the default limit (768 KiB) */
    r = callv("{\"Dockercmd\":\"archive-get\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/bin/busybox\"}}",
              cid);
    assert_string_equal(err_code(r), "too_large");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"archive-get\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/proc/1/environ\"}}",
              cid);
    assert_string_equal(err_code(r), "bad_request");
    assert_string_equal(err_field(r), "Options.Path");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"archive-put\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/tmp\",\"Archive\":\"not base64!\"}}",
              cid);
    assert_string_equal(err_code(r), "bad_request");
    assert_string_equal(err_field(r), "Options.Archive");
    json_decref(r);
    /* another workload's container: neither read nor written */
    char vname[64];
    snprintf(vname, sizeof vname, "dd-arch-victim-%ld", (long)getpid());
    char *vid = foreign_sleeper(vname);
    b64 = tar_base64("planted", "x\n");
    r = callv("{\"Dockercmd\":\"archive-put\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/tmp\",\"Archive\":\"%s\"}}",
              vname, b64);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    free(b64);
    r = callv("{\"Dockercmd\":\"archive-get\",\"Container\":\"%s\","
              "\"Options\":{\"Path\":\"/etc/passwd\"}}",
              vname);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    json_t *stat = NULL;
    assert_int_equal(dkc_container_archive_get(g_dkc, vid, "/tmp/planted", NULL, NULL, &stat),
                     DKC_ENOTFOUND);
    dkc_container_remove(g_dkc, vid, true, true);
    free(vid);
    dkc_container_remove(g_dkc, cid, true, true);
}

/* The labels of image ref (new reference; fails the test when missing). */
static json_t *image_labels(const char *ref)
{
    json_t *ins = NULL;
    assert_int_equal(dkc_image_inspect(g_dkc, ref, &ins), 0);
    json_t *l = json_incref(json_object_get(json_object_get(ins, "Config"), "Labels"));
    json_decref(ins);
    return l;
}

/* Reply r is the refusal code with field (NULL: not checked) and a
 * message holding words; otherwise the test fails, showing the reply. */
static void expect_refusal(json_t *r, const char *code, const char *field, const char *words)
{
    assert_non_null(r);
    const char *msg = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    const char *got = err_code(r), *f = err_field(r);
    if (got == NULL || strcmp(got, code) != 0 || (field && (f == NULL || strcmp(f, field))) ||
        msg == NULL || strstr(msg, words) == NULL) {
        char *t = json_dumps(r, 0);
        fail_msg("expected %s (field %s, \"%s\"), got %s", code, field ? field : "-", words,
                 t ? t : "?");
    }
}

/* Image references a test made, removed (forced) by images_teardown also
 * when the test failed half-way; the neighbour deployment some tests start. */
static char *g_made[16];
static struct {
    char queue[96], cfg[128], log[128];
    pid_t pid;
} g_nb;

static void made_image(const char *ref)
{
    for (size_t i = 0; i < sizeof g_made / sizeof g_made[0]; i++)
        if (g_made[i] == NULL) {
            g_made[i] = strdup(ref);
            return;
        }
    fail_msg("more than %zu images made", sizeof g_made / sizeof g_made[0]);
}

static int images_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_made / sizeof g_made[0]; i++) {
        json_t *out = NULL;
        if (g_made[i])
            dkc_image_remove(g_dkc, g_made[i], true, false, &out);
        json_decref(out);
        free(g_made[i]);
        g_made[i] = NULL;
    }
    if (g_nb.queue[0]) {
        dfx_stop(&g_nb.pid, SIGTERM, 15000);
        dfx_forget_node(g_dkc, g_nb.queue, g_node);
        unlink(g_nb.cfg);
        unlink(g_nb.log);
        g_nb.queue[0] = '\0';
    }
    return 0;
}

/* The Id of image ref (malloc'd); fails the test when it is missing. */
static char *image_id(const char *ref)
{
    json_t *ins = NULL;
    int rc = dkc_image_inspect(g_dkc, ref, &ins);
    if (rc != 0)
        fail_msg("image %s: %s", ref, dkc_strerror(rc));
    char *id = strdup(json_string_value(json_object_get(ins, "Id")));
    json_decref(ins);
    return id;
}

/* commit: a container of this cluster into a name under the cluster's
 * commit prefix (docker-dispatch/<queue> by default); the image carries
 * none of the run's labels (a container made from it is not answered for)
 * and is this cluster's; names outside the prefix or the image list and
 * foreign containers are refused; an image another cluster committed is
 * out of reach. */
static void test_commit(void **state)
{
    (void)state;
    char cid[80], ref[160], repo[128];
    snprintf(repo, sizeof repo, "docker-dispatch/%s/out", g_queue);
    snprintf(ref, sizeof ref, "%s:v1", repo);
    made_image(ref);
    run_sleeper(cid, sizeof cid, "none");
    char *b64 = tar_base64("made-here", "committed\n");
    json_t *r = callv("{\"Dockercmd\":\"archive-put\",\"Container\":\"%s\","
                      "\"Options\":{\"Path\":\"/\",\"Archive\":\"%s\"}}",
                      cid, b64);
    assert_ok_reply(r);
    json_decref(r);
    free(b64);
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\","
              "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"v1\"}}",
              cid, repo);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "Image")), ref);
    json_decref(r);
    json_t *l = image_labels(ref);
    assert_string_equal(json_string_value(json_object_get(l, "io.docker-dispatch.image-cluster")),
                        g_queue);
    assert_string_equal(json_string_value(json_object_get(l, "io.docker-dispatch.request")), "");
    assert_string_equal(json_string_value(json_object_get(l, "io.docker-dispatch.reply-to")), "");
    json_decref(l);
    /* the image runs, with the file, answered once like any run */
    r = callv("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
              "\"NetworkMode\":\"none\"},\"Image\":\"%s\",\"Cmd\":[\"cat\",\"/made-here\"]}",
              ref);
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "committed\n");
    json_decref(r);
    /* a second commit to the same name re-points the cluster's own image */
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\","
              "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"v1\",\"Pause\":false}}",
              cid, repo);
    assert_ok_reply(r);
    json_decref(r);
    /* refused: a name outside the prefix, one under it the image list lacks */
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"alpine\"}}",
              cid);
    expect_refusal(r, "policy_denied", "Options.Repo", "(policy commit_prefix)");
    json_decref(r);
    r = callv(
        "{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s/deeper\"}}", cid,
        repo);
    expect_refusal(r, "policy_denied", "Options.Repo", "(policy images)");
    json_decref(r);
    /* a foreign container cannot be committed */
    char vname[64], vref[96], vtag[80];
    snprintf(vname, sizeof vname, "dd-commit-victim-%ld", (long)getpid());
    char *vid = foreign_sleeper(vname);
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\","
              "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"v\"}}",
              vname, repo);
    expect_refusal(r, "not_found", NULL, "No such container");
    json_decref(r);
    /* an image another cluster committed is out of reach */
    snprintf(vtag, sizeof vtag, "dd-commit-%ld-other", (long)getpid());
    snprintf(vref, sizeof vref, "busybox:%s", vtag);
    made_image(vref);
    json_t *cfg = json_pack("{s:{s:s}}", "Labels", "io.docker-dispatch.image-cluster", "other");
    dkc_commit_opts o = {.repo = "busybox", .tag = vtag, .config = cfg};
    char *img = NULL;
    assert_int_equal(dkc_container_commit(g_dkc, vid, &o, &img), 0);
    free(img);
    json_decref(cfg);
    r = callv("{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\"}", vref);
    expect_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    /* the cluster's own image can be removed through the queue */
    r = callv("{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\",\"Options\":{\"Force\":true}}",
              ref);
    assert_ok_reply(r);
    json_decref(r);
    dkc_container_remove(g_dkc, vid, true, true);
    free(vid);
    dkc_container_remove(g_dkc, cid, true, true);
}

/* The host's images (a tag made with the docker CLI, here through the
 * library) are used, never removed, tagged or re-pointed: image-remove
 * and image-tag of one are refused, commit and image-tag write only under
 * the cluster's commit prefix, so a free name elsewhere cannot be taken
 * either (a later `docker run` of it on the host would run the
 * publisher's content). */
static void test_host_images_are_not_removed_or_re_pointed(void **state)
{
    (void)state;
    char host_tag[64], host_ref[96], free_ref[96], own[160], cid[80];
    snprintf(host_tag, sizeof host_tag, "dd-host-%ld", (long)getpid());
    snprintf(host_ref, sizeof host_ref, "busybox:%s", host_tag);
    snprintf(free_ref, sizeof free_ref, "busybox:dd-free-%ld", (long)getpid());
    snprintf(own, sizeof own, "docker-dispatch/%s/kept", g_queue);
    made_image(host_ref);
    made_image(free_ref);
    assert_int_equal(dkc_image_tag(g_dkc, "busybox:latest", "busybox", host_tag), 0);
    char *busybox = image_id("busybox:latest");

    json_t *r = callv("{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\","
                      "\"Options\":{\"Force\":true}}",
                      host_ref);
    expect_refusal(r, "policy_denied", "Image", "is the host's, not one this cluster committed");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"image-tag\",\"Image\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}",
              host_ref, own);
    expect_refusal(r, "policy_denied", "Image", "it cannot be tagged");
    json_decref(r);
    /* neither commit nor image-tag of the cluster's own image writes over
     * the host's tag or to a free name outside the prefix */
    run_sleeper(cid, sizeof cid, "none");
    made_image(own);
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}", cid,
              own);
    assert_ok_reply(r);
    json_decref(r);
    const char *tags[] = {host_tag, free_ref + strlen("busybox:")};
    static const char *const writes[] = {
        "{\"Dockercmd\":\"commit\",\"Container\":\"%s\","
        "\"Options\":{\"Repo\":\"busybox\",\"Tag\":\"%s\"}}",
        "{\"Dockercmd\":\"image-tag\",\"Image\":\"%s\","
        "\"Options\":{\"Repo\":\"busybox\",\"Tag\":\"%s\"}}",
    };
    for (int i = 0; i < 4; i++) {
        char body[512];
        snprintf(body, sizeof body, writes[i / 2], i < 2 ? cid : own, tags[i % 2]);
        r = call(body, 60000);
        expect_refusal(r, "policy_denied", "Options.Repo", "(policy commit_prefix)");
        json_decref(r);
    }
    /* the host's tag still names busybox; the free name is still free */
    char *now = image_id(host_ref);
    assert_string_equal(now, busybox);
    free(now);
    json_t *ins = NULL;
    assert_int_equal(dkc_image_inspect(g_dkc, free_ref, &ins), DKC_ENOTFOUND);
    /* under the prefix the cluster's image takes a second name, removed again */
    r = callv("{\"Dockercmd\":\"image-tag\",\"Image\":\"%s\","
              "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"v2\"}}",
              own, own);
    assert_ok_reply(r);
    json_decref(r);
    r = callv("{\"Dockercmd\":\"image-remove\",\"Image\":\"%s:v2\"}", own);
    assert_ok_reply(r);
    json_decref(r);
    free(busybox);
    dkc_container_remove(g_dkc, cid, true, true);
}

/* Publishes body to queue (another deployment's) and waits for its reply. */
static json_t *call_on(const char *queue, const char *body)
{
    char id[64];
    send_msg_to(queue, body, id, sizeof id);
    return recv_reply(id, 60000);
}

/* Starts the neighbour deployment: a dispatcher of its own queue (and so
 * its own cluster) on this Docker host, with policy (a JSON object). */
static void nb_start(const char *policy)
{
    snprintf(g_nb.queue, sizeof g_nb.queue, "%s-nb", g_queue);
    snprintf(g_nb.cfg, sizeof g_nb.cfg, "/tmp/dd-itest-nb-%ld.json", (long)getpid());
    snprintf(g_nb.log, sizeof g_nb.log, "/tmp/dd-itest-nb-%ld.log", (long)getpid());
    FILE *f = fopen(g_nb.cfg, "w");
    assert_non_null(f);
    fprintf(f, "{\"policy\": %s}\n", policy);
    fclose(f);
    g_nb.pid = spawn_daemon(g_nb.queue, g_node, g_nb.cfg, g_nb.log);
    assert_true(g_nb.pid > 0);
}

/* Two deployments on one Docker host: the image the neighbour committed
 * (its environment holding a token) is not this cluster's to list,
 * inspect (by name or id), run, remove, tag or commit over; it stays
 * the neighbour's. */
static void test_committed_images_of_another_cluster_are_out_of_reach(void **state)
{
    (void)state;
    nb_start("{\"images\": [\"busybox:*\", \"docker-dispatch/*/*:*\"]}");
    char body[512], token[64], victim[192], cid[80], own[160];
    snprintf(token, sizeof token, "dd-token-%ld", (long)getpid());
    snprintf(victim, sizeof victim, "docker-dispatch/%s/victim", g_nb.queue);
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\",\"Env\":[\"TOKEN=%s\"]},"
             "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"300\"]}",
             token);
    json_t *r = call_on(g_nb.queue, body);
    assert_ok_reply(r);
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(json_object_get(result(r), "container"), "id")));
    json_decref(r);
    made_image(victim);
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}", cid,
             victim);
    r = call_on(g_nb.queue, body);
    assert_ok_reply(r);
    char vid[80];
    snprintf(vid, sizeof vid, "%s", json_string_value(json_object_get(result(r), "Id")));
    json_decref(r);
    /* the neighbour reads its own */
    snprintf(body, sizeof body, "{\"Dockercmd\":\"image-inspect\",\"Image\":\"%s\"}", victim);
    r = call_on(g_nb.queue, body);
    assert_ok_reply(r);
    json_decref(r);

    r = callv("{\"Dockercmd\":\"images\"}");
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    if (strstr(text, victim) || strstr(text, vid + strlen("sha256:")))
        fail_msg("the neighbour's image is listed: %s", text);
    free(text);
    json_decref(r);
    const char *refs[] = {victim, vid};
    for (int i = 0; i < 2; i++) {
        r = callv("{\"Dockercmd\":\"image-inspect\",\"Image\":\"%s\"}", refs[i]);
        expect_refusal(r, "not_found", NULL, "No such image");
        text = json_dumps(r, 0);
        assert_null(strstr(text, token));
        free(text);
        json_decref(r);
    }
    r = callv("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
              "\"NetworkMode\":\"none\"},\"Image\":\"%s\",\"Cmd\":[\"env\"]}",
              victim);
    expect_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\",\"Options\":{\"Force\":true}}",
              victim);
    expect_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    snprintf(own, sizeof own, "docker-dispatch/%s/stolen", g_queue);
    r = callv("{\"Dockercmd\":\"image-tag\",\"Image\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}",
              victim, own);
    expect_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    char mine[80];
    run_sleeper(mine, sizeof mine, "none");
    r = callv("{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}", mine,
              victim);
    expect_refusal(r, "policy_denied", "Options.Repo", "(policy commit_prefix)");
    json_decref(r);
    char *still = image_id(victim);
    assert_string_equal(still, vid);
    free(still);
    dkc_container_remove(g_dkc, mine, true, true);
    dkc_container_remove(g_dkc, cid, true, true);
}

/* With images ["*:latest"] a name runs, an image id does not: Docker reads
 * a bare run of hex digits as an id when no image has that name, and an id
 * names no repository for a pattern to vouch for. */
static void test_image_ids_need_a_pattern_of_their_own(void **state)
{
    (void)state;
    nb_start("{\"images\": [\"*:latest\"]}");
    char *id = image_id("busybox:latest");
    char body[512];
    const char *refs[] = {id + strlen("sha256:"), id};
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
                 "\"NetworkMode\":\"none\"},\"Image\":\"%.*s\",\"Cmd\":[\"echo\",\"ran\"]}",
                 i == 0 ? 12 : 200, refs[i]);
        json_t *r = call_on(g_nb.queue, body);
        expect_refusal(r, "policy_denied", "Image", "admit ids");
        json_decref(r);
    }
    json_t *r = call_on(
        g_nb.queue, "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
                    "\"NetworkMode\":\"none\"},\"Image\":\"busybox\",\"Cmd\":[\"echo\",\"ran\"]}");
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "ran\n");
    json_decref(r);
    free(id);
}

/* Users of one cluster: alice's committed image is hers; bob neither
 * lists, inspects, runs, removes nor commits over it, nor does an
 * anonymous message; the admin user inspects it; alice removes it. */
static void test_users_own_their_committed_images(void **state)
{
    (void)state;
    char users[2][32], ref[192], body[512], cid[2][80];
    broker *b[2] = {NULL, NULL};
    users_open(users, b);
    snprintf(ref, sizeof ref, "docker-dispatch/%s/%s", g_queue, users[0]);
    made_image(ref);
    static const char sleeper[] = "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\"},"
                                  "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"300\"]}";
    for (int i = 0; i < 2; i++) {
        json_t *r = user_call(b[i], users[i], sleeper);
        assert_ok_reply(r);
        snprintf(cid[i], sizeof cid[i], "%s",
                 json_string_value(json_object_get(json_object_get(result(r), "container"), "id")));
        json_decref(r);
    }
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}",
             cid[0], ref);
    json_t *r = user_call(b[0], users[0], body);
    assert_ok_reply(r);
    json_decref(r);

    r = user_call(b[1], users[1], "{\"Dockercmd\":\"images\"}");
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    if (strstr(text, ref))
        fail_msg("bob lists alice's image: %s", text);
    free(text);
    json_decref(r);
    static const char *const reach[] = {
        "{\"Dockercmd\":\"image-inspect\",\"Image\":\"%s\"}",
        "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
        "\"NetworkMode\":\"none\"},\"Image\":\"%s\",\"Cmd\":[\"true\"]}",
        "{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\",\"Options\":{\"Force\":true}}",
    };
    for (size_t i = 0; i < sizeof reach / sizeof reach[0]; i++) {
        snprintf(body, sizeof body, reach[i], ref);
        r = user_call(b[1], users[1], body);
        expect_refusal(r, "not_found", NULL, "No such image");
        json_decref(r);
    }
    snprintf(body, sizeof body, reach[0], ref);
    r = user_call(b[1], NULL, body);
    expect_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    r = user_call(g_cli, "guest", body); /* the admin user */
    assert_ok_reply(r);
    json_decref(r);
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"commit\",\"Container\":\"%s\",\"Options\":{\"Repo\":\"%s\"}}",
             cid[1], ref);
    r = user_call(b[1], users[1], body);
    expect_refusal(r, "policy_denied", "Options.Repo", "it would be re-pointed");
    json_decref(r);
    snprintf(body, sizeof body, reach[2], ref);
    r = user_call(b[0], users[0], body);
    assert_ok_reply(r);
    json_decref(r);
    users_close(users, b);
    for (int i = 0; i < 2; i++)
        dkc_container_remove(g_dkc, cid[i], true, true);
}

/* 1 if container id is attached to network (by name). */
static int on_network(const char *id, const char *network)
{
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, id, &ins), 0);
    int on = json_object_get(json_object_get(json_object_get(ins, "NetworkSettings"), "Networks"),
                             network) != NULL;
    json_decref(ins);
    return on;
}

/* Networks through the queue: create (this cluster's), list, connect and
 * disconnect of the cluster's containers, remove; other workloads'
 * networks and containers out of reach; drivers other than bridge
 * refused. */
static void test_networks(void **state)
{
    (void)state;
    char net[64], vnet[64], vname[64], cid[80];
    snprintf(net, sizeof net, "dd-net-%ld", (long)getpid());
    snprintf(vnet, sizeof vnet, "dd-victim-net-%ld", (long)getpid());
    snprintf(vname, sizeof vname, "dd-net-victim-%ld", (long)getpid());
    char *vnid = NULL;
    assert_int_equal(dkc_network_create(g_dkc, vnet, NULL, true, NULL, &vnid), 0);
    char *vid = foreign_sleeper(vname);
    run_sleeper(cid, sizeof cid, "bridge");

    json_t *r = callv("{\"Dockercmd\":\"network-create\",\"Network\":\"%s\","
                      "\"Options\":{\"Internal\":true}}",
                      net);
    assert_ok_reply(r);
    json_decref(r);
    r = callv("{\"Dockercmd\":\"network-create\",\"Network\":\"%s-m\","
              "\"Options\":{\"Driver\":\"macvlan\"}}",
              net);
    assert_string_equal(err_code(r), "policy_denied");
    assert_string_equal(err_field(r), "Options.Driver");
    json_decref(r);
    /* the list shows the cluster's network, not the victim's */
    r = callv("{\"Dockercmd\":\"network-list\"}");
    assert_ok_reply(r);
    char *text = json_dumps(result(r), 0);
    assert_non_null(strstr(text, net));
    assert_null(strstr(text, vnet));
    free(text);
    json_decref(r);
    /* connect and disconnect the cluster's container */
    r = callv("{\"Dockercmd\":\"network-connect\",\"Network\":\"%s\",\"Container\":\"%s\"}", net,
              cid);
    assert_ok_reply(r);
    json_decref(r);
    assert_true(on_network(cid, net));
    /* out of reach: the victim's network, the victim's container, and a
     * network of the host's (bridge is not a listed network) */
    const char *pairs[][2] = {{vnet, cid}, {net, vname}, {vnid, cid}, {"bridge", cid}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        r = callv("{\"Dockercmd\":\"network-connect\",\"Network\":\"%s\",\"Container\":\"%s\"}",
                  pairs[i][0], pairs[i][1]);
        assert_string_equal(err_code(r), "not_found");
        json_decref(r);
    }
    assert_false(on_network(vid, net));
    assert_false(on_network(cid, vnet));
    r = callv("{\"Dockercmd\":\"network-inspect\",\"Network\":\"%s\"}", vnet);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"network-remove\",\"Network\":\"%s\"}", vnet);
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    r = callv("{\"Dockercmd\":\"network-disconnect\",\"Network\":\"%s\",\"Container\":\"%s\"}", net,
              cid);
    assert_ok_reply(r);
    json_decref(r);
    assert_false(on_network(cid, net));
    r = callv("{\"Dockercmd\":\"network-remove\",\"Network\":\"%s\"}", net);
    assert_ok_reply(r);
    json_decref(r);
    json_t *ins = NULL;
    assert_int_equal(dkc_network_inspect(g_dkc, net, &ins), DKC_ENOTFOUND);
    assert_int_equal(dkc_network_inspect(g_dkc, vnet, &ins), 0); /* untouched */
    json_decref(ins);
    dkc_container_remove(g_dkc, vid, true, true);
    dkc_container_remove(g_dkc, cid, true, true);
    dkc_network_remove(g_dkc, vnid);
    free(vid);
    free(vnid);
}

/* Volumes labelled with this forged owner (a label filter); each removed
 * when remove is set.  Returns how many there were. */
static size_t forged_volumes(const char *owner, bool remove)
{
    char l[128];
    snprintf(l, sizeof l, "io.docker-dispatch.user=%s", owner);
    json_t *f = json_pack("{s:[s]}", "label", l), *out = NULL;
    assert_int_equal(dkc_volume_list(g_dkc, f, &out), 0);
    json_decref(f);
    json_t *vols = json_object_get(out, "Volumes");
    size_t n = json_array_size(vols);
    for (size_t i = 0; remove && i < n; i++)
        dkc_volume_remove(
            g_dkc, json_string_value(json_object_get(json_array_get(vols, i), "Name")), true);
    json_decref(out);
    return n;
}

/* What a create body may not say about a volume or a network, against the
 * real daemon: a mount's VolumeOptions.Labels would make a volume with the
 * dispatcher's ownership labels (a forged owner, shown in that user's
 * volume-list), and an endpoint's NetworkID would join the network it
 * names, an --internal one of the host, whatever the entry's key says;
 * volume-create may not choose a volume plugin.  Each is refused naming
 * the field, and nothing is made. */
static void test_volume_labels_and_network_id_refused(void **state)
{
    (void)state;
    char net[64], owner[64], body[2][768];
    snprintf(net, sizeof net, "dd-hidden-%ld", (long)getpid());
    snprintf(owner, sizeof owner, "dd-forged-%ld", (long)getpid());
    char *nid = NULL;
    assert_int_equal(dkc_network_create(g_dkc, net, "bridge", true, NULL, &nid), 0);
    int64_t since = (int64_t)time(NULL) - 1;
    snprintf(body[0], sizeof body[0],
             "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\",\"HostConfig\":"
             "{\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/x\",\"VolumeOptions\":{\"Labels\":"
             "{\"io.docker-dispatch.user\":\"%s\"}}}]}},\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"true\"]}",
             owner);
    snprintf(body[1], sizeof body[1],
             "{\"action\":\"create-raw-container\",\"body\":{\"Image\":\"busybox:latest\","
             "\"Cmd\":[\"true\"],\"HostConfig\":{\"NetworkMode\":\"bridge\"},"
             "\"NetworkingConfig\":{\"EndpointsConfig\":{\"bridge\":{\"NetworkID\":\"%s\"}}}}}",
             nid);
    static const char *const fields[] = {"HostConfig.Mounts[0].VolumeOptions.Labels",
                                         "NetworkingConfig.EndpointsConfig.bridge.NetworkID"};
    for (size_t i = 0; i < 2; i++) {
        char id[64];
        send_msg(body[i], id, sizeof id);
        json_t *r = recv_reply(id, 30000);
        assert_non_null(r);
        char *t = json_dumps(r, 0);
        if (err_code(r) == NULL || strcmp(err_code(r), "policy_denied") != 0)
            fail_msg("not refused: %s -> %s", body[i], t ? t : "?");
        free(t);
        assert_string_equal(err_field(r), fields[i]);
        json_decref(r);
        assert_int_equal(dfx_count_creates(g_dkc, id, since), 0);
    }
    /* volume-create: a volume plugin is not the policy's to hand out */
    json_t *r = callv("{\"Dockercmd\":\"volume-create\",\"Volume\":\"%s\","
                      "\"Options\":{\"Driver\":\"vieux/sshfs\"}}",
                      owner);
    assert_string_equal(err_code(r), "policy_denied");
    assert_string_equal(err_field(r), "Options.Driver");
    json_decref(r);
    size_t forged = forged_volumes(owner, true);
    if (forged != 0)
        fail_msg("%zu volumes carry the forged owner %s", forged, owner);
    assert_int_equal(dkc_network_remove(g_dkc, nid), 0);
    free(nid);
}

/* Templates: a run from a template with its parameter, the DockerMod
 * create-container from it, a missing parameter and an unknown template
 * refused; the request's own fields lay over the template's. */
static void test_templates(void **state)
{
    (void)state;
    json_t *r = callv("{\"Dockercmd\":\"run\",\"Options\":{\"Template\":\"greeter\","
                      "\"Params\":{\"GREETING\":\"hi from a template\"},\"Attach\":[\"STDOUT\"],"
                      "\"Remove\":true}}");
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")),
                        "hi from a template\n");
    json_decref(r);
    /* the request's Cmd replaces the template's */
    r = callv("{\"Dockercmd\":\"run\",\"Cmd\":[\"echo\",\"mine\"],\"Options\":{\"Template\":"
              "\"greeter\",\"Params\":{\"GREETING\":\"unused\"},\"Attach\":[\"STDOUT\"],"
              "\"Remove\":true}}");
    assert_ok_reply(r);
    assert_string_equal(json_string_value(json_object_get(result(r), "stdout")), "mine\n");
    json_decref(r);
    r = callv("{\"action\":\"create-container\",\"template\":\"greeter\","
              "\"params\":{\"GREETING\":\"x\"}}");
    assert_ok_reply(r);
    assert_int_equal(json_integer_value(json_object_get(r, "statusCode")), 201);
    const char *id = json_string_value(json_object_get(result(r), "id"));
    assert_non_null(id);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, id, &ins), 0);
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(ins, "Config"), "Cmd"), 1)),
                        "x");
    json_decref(ins);
    dkc_container_remove(g_dkc, id, true, true);
    json_decref(r);
    r = callv("{\"action\":\"create-container\",\"template\":\"greeter\"}");
    assert_string_equal(err_code(r), "bad_request");
    assert_string_equal(err_field(r), "params.GREETING");
    json_decref(r);
    r = callv("{\"action\":\"create-container\",\"template\":\"nosuch\"}");
    assert_string_equal(err_code(r), "not_found");
    json_decref(r);
    /* a parameter cannot open what the policy closes: the tag must match busybox:* */
    r = callv("{\"action\":\"create-container\",\"template\":\"greeter\","
              "\"params\":{\"GREETING\":\"x\",\"TAG\":\"5000/evil\"}}");
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_attach_remove),
        cmocka_unit_test(test_run_exit_code_stderr),
        cmocka_unit_test(test_run_tty),
        cmocka_unit_test(test_run_stop_remove),
        cmocka_unit_test(test_run_timeout),
        cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_a_bad_header_does_not_kill_the_node),
        cmocka_unit_test(test_no_head_of_line_blocking),
        cmocka_unit_test(test_dockermod),
        cmocka_unit_test(test_dockermod_example),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_container_commands),
        cmocka_unit_test(test_policy),
        cmocka_unit_test_teardown(test_policy_max_containers, max_teardown),
        cmocka_unit_test(test_startup_refusals),
        cmocka_unit_test(test_no_reply_to),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_sigterm_readopt),
        cmocka_unit_test(test_answered_once_across_restarts),
        cmocka_unit_test(test_neighbours_answer_only_their_own),
        cmocka_unit_test_teardown(test_sibling_adopts_a_dead_nodes_containers, adopt_teardown),
        cmocka_unit_test(test_same_identity_refused),
        cmocka_unit_test_teardown(test_a_forward_carries_no_publisher_headers, adopt_teardown),
        cmocka_unit_test(test_duplicate_copies),
        cmocka_unit_test(test_output_on_stdout),
        cmocka_unit_test_teardown(test_replies_not_held_by_heartbeats, hb_teardown),
        cmocka_unit_test_teardown(test_reply_over_max_reply, hb_teardown),
        cmocka_unit_test(test_marked_remove_container_not_answered_again),
        cmocka_unit_test(test_foreign_objects_are_out_of_reach),
        cmocka_unit_test(test_foreign_volume_after_512_binds),
        cmocka_unit_test(test_reply_address_hidden),
        cmocka_unit_test(test_users_own_their_containers),
        cmocka_unit_test(test_another_users_request_id_is_not_theirs),
        cmocka_unit_test_teardown(test_a_users_long_execs_leave_workers_to_others, quota_teardown),
        cmocka_unit_test_teardown(test_a_users_container_and_memory_bounds, quota_teardown),
        cmocka_unit_test_teardown(test_only_admins_drain_a_node, drain_teardown),
        cmocka_unit_test(test_host_network_and_log_driver_refused),
        cmocka_unit_test(test_run_refused_at_create),
        cmocka_unit_test(test_archives),
        cmocka_unit_test(test_foreign_names_tell_nothing),
        cmocka_unit_test_teardown(test_commit, images_teardown),
        cmocka_unit_test_teardown(test_host_images_are_not_removed_or_re_pointed, images_teardown),
        cmocka_unit_test_teardown(test_committed_images_of_another_cluster_are_out_of_reach,
                                  images_teardown),
        cmocka_unit_test_teardown(test_image_ids_need_a_pattern_of_their_own, images_teardown),
        cmocka_unit_test_teardown(test_users_own_their_committed_images, images_teardown),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_volume_labels_and_network_id_refused),
        cmocka_unit_test(test_templates),
    };
    if (getenv("CMOCKA_TEST_FILTER")) /* e.g. "test_dup*" while working on one case */
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    dkc_global_cleanup();
    return rc;
}
