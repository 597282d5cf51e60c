/*
 * test_service.c -- the daemon as a systemd service, end to end against the
 * real RabbitMQ and Docker: the sd_notify messages it sends to a datagram
 * socket this test made ($NOTIFY_SOCKET), the watchdog's rate, and what
 * SIGHUP does (the log file reopened, the policy and the templates
 * reloaded, a bad policy or template refused with the old ones kept).
 *
 * Each case starts its own daemon on a queue and node unique to this run;
 * teardown stops it by pid and removes its containers and topology.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"

extern char **environ;

static char g_queue[64], g_node[64], g_log[128], g_cfg[128], g_tpl[128], g_sock[108],
    g_logfile[128];
static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;
static int g_fd = -1; /* the notify socket */
static int g_seq;

/* ---- helpers ---- */

/* Writes text to path (replacing it). */
static void write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
        fail_msg("path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

/* The config file: a policy allowing images matching pattern. */
static void write_config(const char *pattern)
{
    char text[512];
    snprintf(text, sizeof text, "{\"templates\": \"%s\", \"policy\": {\"images\": [\"%s\"]}}\n",
             g_tpl, pattern);
    write_file(g_cfg, text);
}

static void write_template(const char *text)
{
    char tp[200];
    snprintf(tp, sizeof tp, "%s/greeter.json", g_tpl);
    write_file(tp, text);
}

#define GOOD_TEMPLATE                                                                              \
    "{\"Image\": \"busybox:latest\", \"Cmd\": [\"echo\", \"${GREETING}\"],"                        \
    " \"HostConfig\": {\"NetworkMode\": \"none\"}}\n"

/* Makes the notify socket g_fd bound at g_sock. */
static int open_notify_socket(void)
{
    g_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (g_fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", g_sock);
    unlink(g_sock);
    return bind(g_fd, (struct sockaddr *)&a, sizeof a);
}

/* Starts the daemon with extra arguments (NULL-terminated, up to 8) and
 * the environment variables env (NULL-terminated "K=V", up to 8) on top of
 * ours; waits until it consumes.  Fails the test when it does not. */
static void start(const char *const *extra, const char *const *env)
{
    const char *args[32] = {"-q",           g_queue,   "--node",   g_node,
                            "--queue-type", "classic", "--config", g_cfg};
    size_t n = 8;
    for (size_t i = 0; extra && extra[i] && n < 28; i++)
        args[n++] = extra[i];
    args[n++] = lane_docker_host();
    args[n++] = lane_amqp_url();
    args[n] = NULL;
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = calloc(ne + 10, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "NOTIFY_SOCKET=", 14) && strncmp(environ[i], "WATCHDOG_", 9))
            envp[k++] = environ[i];
    for (size_t i = 0; env && env[i] && i < 8; i++)
        envp[k++] = (char *)env[i];
    envp[k] = NULL;
    g_pid = dfx_spawn(args, g_log, envp);
    free(envp);
    assert_true(g_pid > 0);
    if (dfx_wait_consuming(g_cli, g_queue, &g_pid, 15000, g_log) != 0) {
        char *l = dfx_read_file(g_log);
        print_error("the daemon did not consume; its log:\n%s\n", l ? l : "");
        free(l);
        fail();
    }
}

/* The next notify datagram within timeout_ms into buf: its length, 0 on
 * timeout. */
static int recv_notify(char *buf, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = g_fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = recv(g_fd, buf, cap - 1, 0);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return (int)n;
}

/* Waits up to timeout_ms for a datagram holding the line want; counts the
 * datagrams with "WATCHDOG=1" seen on the way into *wd (may be NULL). 1
 * when it came. */
static int wait_notify(const char *want, int timeout_ms, int *wd)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    char buf[1024];
    while (dfx_now_ms() < end) {
        if (recv_notify(buf, sizeof buf, (int)(end - dfx_now_ms())) == 0)
            continue;
        if (wd != NULL && strstr(buf, "WATCHDOG=1") != NULL)
            (*wd)++;
        if (strstr(buf, want) != NULL)
            return 1;
    }
    return 0;
}

/* Counts the WATCHDOG=1 datagrams over ms milliseconds. */
static int count_watchdog(int ms)
{
    int n = 0;
    wait_notify("\x01never", ms, &n);
    return n;
}

/* Publishes body; the reply (json_decref) within timeout_ms, or NULL. */
static json_t *call(const char *body, int timeout_ms)
{
    char id[64];
    snprintf(id, sizeof id, "svc-%ld-%d", (long)getpid(), ++g_seq);
    broker_props p = {.reply_to = BROKER_REPLY_TO,
                      .correlation_id = id,
                      .message_id = id,
                      .content_type = "application/json"};
    assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(g_cli, 100, &d);
        json_t *j = NULL;
        if (rc == 1 && d.correlation_id && !strcmp(d.correlation_id, id))
            j = json_loadb((const char *)d.body, d.len, 0, NULL);
        broker_delivery_cleanup(&d);
        if (j != NULL)
            return j;
    }
    return NULL;
}

static const char *err_code(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

#define RUN_BUSYBOX                                                                                \
    "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"                 \
    "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"]}"

/* Reads the notify datagrams waiting, counting those holding RELOADING=1
 * and READY=1 (the socket's queue is short: a daemon whose datagrams are
 * not read blocks in sd_notify, as it would if systemd stopped reading). */
static int g_reloading, g_ready;
static void drain_notify(void)
{
    char buf[1024];
    while (recv_notify(buf, sizeof buf, 0) > 0) {
        g_reloading += strstr(buf, "RELOADING=1") != NULL;
        g_ready += strstr(buf, "READY=1") != NULL;
    }
}

/* Waits up to timeout_ms until file path holds needle at least n times
 * (reading the notify socket meanwhile). */
static int wait_in_file(const char *path, const char *needle, int n, int timeout_ms)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    do {
        drain_notify();
        char *t = dfx_read_file(path);
        int seen = 0;
        for (const char *p = t; p && (p = strstr(p, needle)) != NULL; p++)
            seen++;
        free(t);
        if (seen >= n)
            return 1;
        usleep(50000);
    } while (dfx_now_ms() < end);
    char *t = dfx_read_file(path);
    fprintf(stderr, "%s: no %d x \"%s\" in:\n%s\n", path, n, needle, t ? t : "");
    free(t);
    return 0;
}

/* ---- setup ---- */

static int setup(void **state)
{
    (void)state;
    long me = (long)getpid();
    snprintf(g_queue, sizeof g_queue, "dd-svc-%ld", me);
    snprintf(g_node, sizeof g_node, "svc-node-%ld", me);
    snprintf(g_log, sizeof g_log, "/tmp/dd-svc-%ld.log", me);
    snprintf(g_logfile, sizeof g_logfile, "/tmp/dd-svc-file-%ld.log", me);
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-svc-%ld.json", me);
    snprintf(g_tpl, sizeof g_tpl, "/tmp/dd-svc-tpl-%ld", me);
    snprintf(g_sock, sizeof g_sock, "/tmp/dd-svc-notify-%ld.sock", me);
    mkdir(g_tpl, 0755);
    write_config("busybox:*");
    write_template(GOOD_TEMPLATE);
    if (open_notify_socket() != 0)
        return -1;
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    if (g_cli == NULL || broker_rpc_begin(g_cli) != 0)
        return -1;
    g_dkc = dfx_docker_client(lane_docker_host());
    return g_dkc ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dfx_stop(&g_pid, SIGTERM, 15000);
    dfx_forget_node(g_dkc, g_queue, g_node);
    dkc_client_free(g_dkc);
    broker_free(g_cli);
    close(g_fd);
    unlink(g_sock);
    unlink(g_cfg);
    char p[200];
    snprintf(p, sizeof p, "%s/greeter.json", g_tpl);
    unlink(p);
    rmdir(g_tpl);
    unlink(g_logfile);
    snprintf(p, sizeof p, "%s.1", g_logfile);
    unlink(p);
    return 0;
}

/* ---- cases ---- */

/* READY=1 once it consumes; WATCHDOG=1 every half of WATCHDOG_USEC;
 * STOPPING=1 on SIGTERM. */
static void notify_ready_watchdog_stopping(void **state)
{
    (void)state;
    char env_sock[160];
    snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", g_sock);
    const char *env[] = {env_sock, "WATCHDOG_USEC=400000", NULL};
    start(NULL, env);
    /* it consumed before the test looked: READY=1 is waiting already */
    assert_true(wait_notify("READY=1", 5000, NULL));
    /* 400 ms: a ping every 200 ms, 10 in 2 s (the machine is shared:
     * some slack both ways, but a loop asleep for its idle bound fails) */
    int n = count_watchdog(2000);
    print_message("# %d watchdog pings in 2 s\n", n);
    assert_in_range(n, 6, 14);
    assert_int_equal(kill(g_pid, SIGTERM), 0);
    assert_true(wait_notify("STOPPING=1", 10000, NULL));
    int st = dfx_stop(&g_pid, SIGTERM, 15000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Without WATCHDOG_USEC, or with one for another process (WATCHDOG_PID),
 * no WATCHDOG=1 at all. */
static void no_watchdog_unless_asked(void **state)
{
    (void)state;
    char env_sock[160];
    snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", g_sock);
    const char *env[] = {env_sock, NULL};
    start(NULL, env);
    int wd = 0;
    assert_true(wait_notify("READY=1", 5000, &wd));
    wd += count_watchdog(1500);
    assert_int_equal(wd, 0);
    dfx_stop(&g_pid, SIGTERM, 15000);

    const char *other[] = {env_sock, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1", NULL};
    start(NULL, other);
    wd = 0;
    assert_true(wait_notify("READY=1", 5000, &wd));
    wd += count_watchdog(1500);
    assert_int_equal(wd, 0);
}

/* SIGHUP: the log file is opened again (after logrotate renamed it), and
 * the policy and templates are reloaded; a bad one is refused by name and
 * the old rules stay. */
static void sighup_reopens_and_reloads(void **state)
{
    (void)state;
    char env_sock[160];
    snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", g_sock);
    const char *env[] = {env_sock, NULL};
    const char *extra[] = {"--log-file", g_logfile, NULL};
    start(extra, env);
    assert_true(wait_in_file(g_logfile, "consuming", 1, 5000));

    /* logrotate: rename, SIGHUP; the lines go to the new file */
    char old[160];
    snprintf(old, sizeof old, "%s.1", g_logfile);
    assert_int_equal(rename(g_logfile, old), 0);
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    assert_true(wait_in_file(g_logfile, "reloaded", 1, 5000));
    json_t *r = call(RUN_BUSYBOX, 60000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_true(wait_in_file(g_logfile, "reply id=svc-", 1, 5000));
    char *o = dfx_read_file(old);
    assert_null(strstr(o, "reply id=svc-"));
    free(o);

    /* a policy that no longer allows busybox */
    write_config("alpine:*");
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    assert_true(wait_in_file(g_logfile, "reloaded", 2, 5000));
    r = call(RUN_BUSYBOX, 30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);

    /* a broken config file: refused, the old policy stays (the defaults
     * would let busybox run) */
    write_file(g_cfg, "{\"policy\": {\"images\": [\"busybox:*\"]\n");
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    char needle[256];
    snprintf(needle, sizeof needle, "reload refused: config file %s", g_cfg);
    assert_true(wait_in_file(g_logfile, needle, 1, 5000));
    r = call(RUN_BUSYBOX, 30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);

    /* a policy that is JSON but wrong: refused too */
    write_file(g_cfg, "{\"policy\": {\"images\": 7}}\n");
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    assert_true(wait_in_file(g_logfile, needle, 2, 5000));

    /* a good policy with a bad template: neither is taken */
    write_config("busybox:*");
    write_template("{\"Image\": \n");
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    snprintf(needle, sizeof needle, "reload refused: template %s/greeter.json", g_tpl);
    assert_true(wait_in_file(g_logfile, needle, 1, 5000));
    r = call(RUN_BUSYBOX, 30000);
    assert_non_null(r);
    assert_string_equal(err_code(r), "policy_denied");
    json_decref(r);

    /* both good again: taken */
    write_template(GOOD_TEMPLATE);
    assert_int_equal(kill(g_pid, SIGHUP), 0);
    assert_true(wait_in_file(g_logfile, "reloaded", 3, 5000));
    r = call(RUN_BUSYBOX, 60000);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    /* systemctl reload waits for READY=1 after each RELOADING=1: six
     * reloads, and READY=1 after start besides */
    usleep(200000);
    drain_notify();
    assert_int_equal(g_reloading, 6);
    assert_int_equal(g_ready, 7);
}

/* Reloads while workers carry out requests: every request is answered,
 * under one policy or the other, and the swap is clean under the
 * sanitizers (a rules set freed while a job still reads it would show). */
static void reload_under_load(void **state)
{
    (void)state;
    char env_sock[160];
    snprintf(env_sock, sizeof env_sock, "NOTIFY_SOCKET=%s", g_sock);
    const char *env[] = {env_sock, NULL};
    const char *extra[] = {"--log-file", g_logfile, "--workers", "4", NULL};
    start(extra, env);
    enum { N = 40 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "svc-load-%ld-%d", (long)getpid(), i);
        broker_props p = {.reply_to = BROKER_REPLY_TO,
                          .correlation_id = ids[i],
                          .message_id = ids[i],
                          .content_type = "application/json"};
        /* list: the scope check reads the policy; pull of a denied image:
         * the image check reads it */
        const char *body = i % 2 ? "{\"Dockercmd\":\"list\",\"Options\":{\"All\":true}}"
                                 : "{\"Dockercmd\":\"pull\",\"Image\":\"nginx:1\"}";
        assert_int_equal(broker_publish(g_cli, "", g_queue, &p, body, strlen(body), 0), 0);
        if (i % 4 == 0) {
            write_config(i % 8 ? "busybox:*" : "alpine:*");
            assert_int_equal(kill(g_pid, SIGHUP), 0);
        }
        drain_notify();
    }
    int answered = 0;
    int64_t end = dfx_now_ms() + 60000;
    while (answered < N && dfx_now_ms() < end) {
        drain_notify();
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(g_cli, 100, &d);
        if (rc == 1 && d.correlation_id && !strncmp(d.correlation_id, "svc-load-", 9)) {
            json_t *r = json_loadb((const char *)d.body, d.len, 0, NULL);
            long idx = strtol(strrchr(d.correlation_id, '-') + 1, NULL, 10);
            if (idx % 2)
                assert_true(json_is_true(json_object_get(r, "ok")));
            else /* nginx is in neither policy */
                assert_string_equal(err_code(r), "policy_denied");
            json_decref(r);
            answered++;
        }
        broker_delivery_cleanup(&d);
    }
    assert_int_equal(answered, N);
    /* signals close together may make one reload */
    assert_true(wait_in_file(g_logfile, "reloaded", 1, 10000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(notify_ready_watchdog_stopping, setup, teardown),
        cmocka_unit_test_setup_teardown(no_watchdog_unless_asked, setup, teardown),
        cmocka_unit_test_setup_teardown(sighup_reopens_and_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_under_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
