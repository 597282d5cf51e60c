/*
 * daemon_fx.c -- the fixtures of the tests that run the built daemon; the
 * contracts are in daemon_fx.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#include "daemon_fx.h"
#include "lane.h"

extern char **environ;

int64_t dfx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t dfx_spawn(const char *const *args, const char *log, char *const *envp)
{
    const char *bin = getenv("DISPATCH_BIN");
    if (bin == NULL) {
        fprintf(stderr, "DISPATCH_BIN is not set\n");
        return -1;
    }
    size_t n = 0;
    while (args[n])
        n++;
    const char **argv = calloc(n + 2, sizeof *argv);
    if (argv == NULL)
        return -1;
    argv[0] = bin;
    memcpy(argv + 1, args, n * sizeof *argv);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    if (rc != 0) {
        fprintf(stderr, "cannot start %s: %s\n", bin, strerror(rc));
        return -1;
    }
    return pid;
}

int dfx_wait_consuming(broker *cli, const char *queue, pid_t *pid, int timeout_ms, const char *log)
{
    for (int i = 0; i < timeout_ms / 50; i++) {
        uint32_t consumers = 0;
        if (broker_queue_counts(cli, queue, NULL, &consumers) == 0 && consumers >= 1)
            return 0;
        int st;
        if (waitpid(*pid, &st, WNOHANG) == *pid) {
            *pid = 0;
            fprintf(stderr, "daemon exited early; see %s\n", log);
            return -1;
        }
        usleep(50 * 1000);
    }
    fprintf(stderr, "daemon does not consume %s; see %s\n", queue, log);
    return -1;
}

int dfx_stop(pid_t *pid, int sig, int grace_ms)
{
    int st = -1;
    if (*pid <= 0)
        return -1;
    kill(*pid, sig);
    for (int i = 0; i < grace_ms / 50; i++) {
        if (waitpid(*pid, &st, WNOHANG) == *pid) {
            *pid = 0;
            return st;
        }
        usleep(50 * 1000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, &st, 0);
    *pid = 0;
    return st;
}

broker *dfx_client_open(const char *url, const char *queue, int connect_timeout_ms)
{
    broker_conf c;
    broker_conf_init(&c);
    c.url = url;
    c.role = BROKER_ROLE_CLIENT;
    c.queue = queue;
    if (connect_timeout_ms > 0)
        c.connect_timeout_ms = connect_timeout_ms;
    broker *b = NULL;
    char *cause = NULL;
    if (broker_open(&c, &b, &cause) != 0) {
        fprintf(stderr, "broker %s: %s\n", url, cause ? cause : "?");
        free(cause);
        return NULL;
    }
    return b;
}

dkc_client *dfx_docker_client(const char *host)
{
    dkc_options o;
    dkc_options_init(&o);
    o.host = host;
    o.tls_verify = 0;
    dkc_client *c = NULL;
    char why[256] = "";
    if (dkc_client_new(&o, &c, why, sizeof why) != 0) {
        fprintf(stderr, "dkc_client_new(%s): %s\n", host, why);
        return NULL;
    }
    if (dkc_client_negotiate(c) != 0) {
        fprintf(stderr, "negotiate with %s: %s\n", host, dkc_client_last_error(c)->message);
        dkc_client_free(c);
        return NULL;
    }
    return c;
}

const char *dfx_scripts_dir(void)
{
    const char *dir = getenv("DD_SCRIPTS");
    return (dir && *dir) ? dir : "scripts";
}

int dfx_run_script(const char *script, const char *fmt, ...)
{
    char args[512], line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s/%s %s >&2", dfx_scripts_dir(), script, args);
    int st = system(line);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

void dfx_remove_private_state(const char *rabbit, const char *dockerd)
{
    char line[512];
    snprintf(line, sizeof line,
             "rm -rf " DFX_STATE_DIR "/r/%s; grep -q ' " DFX_STATE_DIR "/p/%s/' /proc/mounts || "
             "rm -rf " DFX_STATE_DIR "/p/%s",
             rabbit, dockerd, dockerd);
    if (system(line) != 0)
        fprintf(stderr, "could not remove the private services' state\n");
}

int dfx_port_free(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

int dfx_pick_port(int first, int last, int with_dist)
{
    int span = last - first + 1;
    if (span <= 0)
        return 0;
    for (int i = 0, start = (int)(getpid() % span); i < span; i++) {
        int p = first + (start + i) % span;
        if (dfx_port_free(p) && (!with_dist || dfx_port_free(p + DD_PORT_DIST_OFFSET)))
            return p;
    }
    return 0;
}

int dfx_declare_durable_queue(int port, const char *name)
{
    char url[64];
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", port);
    return dfx_declare_durable_queue_at(url, name);
}

int dfx_declare_durable_queue_at(const char *url, const char *name)
{
    int ret = -1;
    struct amqp_connection_info ci;
    char *copy = strdup(url);
    amqp_connection_state_t conn = copy ? amqp_new_connection() : NULL;
    if (conn == NULL || amqp_parse_url(copy, &ci) != AMQP_STATUS_OK || ci.ssl) {
        fprintf(stderr, "dfx: cannot declare %s at %s (a plain amqp:// URL)\n", name, url);
        goto out;
    }
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {.tv_sec = 5};
    if (sock == NULL || amqp_socket_open_noblock(sock, ci.host, ci.port, &tv) != AMQP_STATUS_OK)
        goto out;
    /* rabbitmq-c reads the vhost of "amqp://host:port/" as "", which the
     * broker refuses; the project's own URL parser takes it as "/" */
    const char *vhost = ci.vhost && *ci.vhost ? ci.vhost : "/";
    amqp_rpc_reply_t r =
        amqp_login(conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_channel_open(conn, 1);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL)
        ret = 0;
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
out:
    if (conn)
        amqp_destroy_connection(conn);
    free(copy);
    return ret;
}

/* Event callback: counts the events it sees in *(int *)ud. */
static int count_cb(void *ud, const dkc_event *ev)
{
    (void)ev;
    (*(int *)ud)++;
    return 0;
}

int dfx_count_creates(dkc_client *dkc, const char *request_id, int64_t since_s)
{
    char l[160];
    snprintf(l, sizeof l, DFX_REQUEST_LABEL "=%s", request_id);
    json_t *flt =
        json_pack("{s:[s], s:[s], s:[s]}", "type", "container", "event", "create", "label", l);
    dkc_events_opts eo = {.since = since_s, .until = (int64_t)time(NULL) + 1, .filters = flt};
    int count = 0;
    int rc = dkc_events(dkc, &eo, count_cb, &count);
    json_decref(flt);
    assert_int_equal(rc, 0);
    return count;
}

void dfx_remove_containers(dkc_client *dkc, const char *key, const char *value)
{
    if (dkc == NULL)
        return;
    char l[256];
    snprintf(l, sizeof l, "%s=%s", key, value);
    json_t *flt = json_pack("{s:[s]}", "label", l);
    dkc_list_opts lo = {.all = true, .filters = flt};
    json_t *arr = NULL;
    if (dkc_container_list(dkc, &lo, &arr) == 0) {
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c)
            dkc_container_remove(dkc, json_string_value(json_object_get(c, "Id")), true, true);
    }
    json_decref(arr);
    json_decref(flt);
}

int dfx_delete_topology(const broker_conf *c, const char *also_queue)
{
    broker *nb = NULL;
    if (broker_open(c, &nb, NULL) != 0)
        return -1;
    if (also_queue)
        broker_queue_delete(nb, also_queue);
    broker_topology_delete(nb);
    broker_free(nb);
    return 0;
}

char *dfx_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = '\0';
    fclose(f);
    return buf;
}

/* printf of fmt/ap after prefix, as one line on stdout, flushed. */
static void tap_comment(const char *prefix, const char *fmt, va_list ap)
{
    printf("# %s", prefix);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
}

void dfx_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_comment("", fmt, ap);
    va_end(ap);
}

void dfx_figure(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_comment("figure: ", fmt, ap);
    va_end(ap);
}

void dfx_forget_topology(const char *url, const char *queue, const char *node)
{
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = url;
    bc.queue = queue;
    bc.node = node;
    bc.queue_type = BROKER_QUEUE_CLASSIC;
    dfx_delete_topology(&bc, NULL);
}

void dfx_forget_node(dkc_client *dkc, const char *queue, const char *node)
{
    dfx_remove_containers(dkc, DFX_NODE_LABEL, node);
    dfx_forget_topology(lane_amqp_url(), queue, node);
}

pid_t dfx_start_classic(broker *cli, const char *queue, const char *node, const char *cfg,
                        const char *log)
{
    const char *args[] = {"-q",        queue, "--node",           node,
                          "--workers", "4",   "--queue-type",     "classic",
                          "--config",  cfg,   lane_docker_host(), lane_amqp_url(),
                          NULL};
    pid_t pid = dfx_spawn(args, log, NULL);
    if (pid < 0 || dfx_wait_consuming(cli, queue, &pid, 10000, log) != 0) {
        dfx_stop(&pid, SIGKILL, 0);
        return -1;
    }
    return pid;
}
