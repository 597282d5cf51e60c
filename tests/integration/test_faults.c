/*
 * test_faults.c -- the docker-dispatch daemon under injected faults: its
 * Docker daemon stops and comes back, its RabbitMQ node stops and comes
 * back, a run outlives the broker's consumer timeout; the gateway's
 * GET /readyz says not ready, and why, while Docker is away.  Both services are
 * private ones started here (scripts/private-dockerd.sh,
 * scripts/private-rabbitmq.sh), never the shared ones, and are stopped by
 * their own names at the end.
 *
 * The daemon under test is the built program ($DISPATCH_BIN), started as a
 * child with a queue and node name unique to each case and stopped by pid.
 * Scripts are found in $DD_SCRIPTS (meson sets it), else ./scripts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"

#define RUN_ECHO_REMOVE                                                                            \
    "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"                      \
    "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","                      \
    "\"Cmd\":[\"echo\",\"%s\"]}"
#define RUN_SLEEP_REMOVE                                                                           \
    "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"                      \
    "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","                      \
    "\"Cmd\":[\"sh\",\"-c\",\"sleep 4; echo done\"]}"
#define RUN_LONG_REMOVE                                                                            \
    "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],"                      \
    "\"Remove\":true,\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","                      \
    "\"Cmd\":[\"sh\",\"-c\",\"sleep 12; echo done\"]}"
/* The broker's consumer timeout in the consumer-timeout case, and how
 * often its channels check it (both ms; RabbitMQ's defaults are 30 min and
 * 60 s, too slow for a test). */
#define CONSUMER_TIMEOUT_MS 3000
#define CHANNEL_TICK_MS     500

/* One daemon under test and what it talks to. */
typedef struct fx {
    char queue[64], node[64], log[128];
    char docker_host[160]; /* unix://... */
    char amqp_url[96];
    pid_t pid;
    int gw_port;        /* the daemon's gateway on 127.0.0.1 (0: none) */
    int workers;        /* the daemon's --workers (0: 4) */
    int quorum;         /* 1: the daemon's queues are quorum queues (else classic) */
    char max_reply[24]; /* the daemon's --max-reply ("": its default) */
    broker *cli;        /* client-role handle on the daemon's broker */
    dkc_client *dkc;    /* client of the daemon's Docker */
} fx;

static char g_dockerd_name[32]; /* private dockerd, "" when not started */
static char g_rabbit_name[32];  /* private RabbitMQ node, "" when not started */
static char g_certs[96];        /* gen-certs.sh output: the node's TLS listener uses it */
static char g_other_ca[96];     /* a second CA, which did not sign the node's certificate */
static int g_tls_port;          /* the node's amqps listener */
static int g_seq;
static fx g_fx; /* the current case; its teardown cleans up */

/* Starts the daemon of f; waits until it consumes its work queue.
 * Returns 0 or -1 (one that still runs is stopped by fx_cleanup). */
static int daemon_start(fx *f)
{
    char port[16], workers[16];
    snprintf(port, sizeof port, "%d", f->gw_port);
    snprintf(workers, sizeof workers, "%d", f->workers > 0 ? f->workers : 4);
    const char *args[16] = {
        "-q",        f->queue, "--node",       f->node,
        "--workers", workers,  "--queue-type", f->quorum ? "quorum" : "classic"};
    size_t n = 8;
    if (f->gw_port > 0) { /* the gateway, for GET /readyz and /metrics */
        args[n++] = "--gateway";
        args[n++] = port;
    }
    if (f->max_reply[0]) {
        args[n++] = "--max-reply";
        args[n++] = f->max_reply;
    }
    args[n++] = f->docker_host;
    args[n++] = f->amqp_url;
    args[n] = NULL;
    f->pid = dfx_spawn(args, f->log, NULL);
    if (f->pid < 0) {
        f->pid = 0;
        return -1;
    }
    return dfx_wait_consuming(f->cli, f->queue, &f->pid, 15000, f->log);
}

/* 1 while the daemon of f runs. */
static int daemon_alive(fx *f)
{
    int st;
    if (f->pid <= 0)
        return 0;
    if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
        f->pid = 0;
        return 0;
    }
    return 1;
}

/* SIGTERM to the daemon of f, SIGKILL after 15 s; reaps it. */
static void daemon_stop(fx *f)
{
    dfx_stop(&f->pid, SIGTERM, 15000);
}

/* Fills the names of a case; tag makes them unique within the run. */
static void fx_init(fx *f, const char *tag, const char *docker_host, const char *amqp_url)
{
    memset(f, 0, sizeof *f);
    snprintf(f->queue, sizeof f->queue, "dd-ftest-%s-%ld", tag, (long)getpid());
    snprintf(f->node, sizeof f->node, "ftest-%s-%ld", tag, (long)getpid());
    snprintf(f->log, sizeof f->log, "/tmp/dd-ftest-%s-%ld.log", tag, (long)getpid());
    snprintf(f->docker_host, sizeof f->docker_host, "%s", docker_host);
    snprintf(f->amqp_url, sizeof f->amqp_url, "%s", amqp_url);
}

/* Stops the daemon, removes its containers (by node label) and, if the
 * broker answers, its topology; frees the handles. */
static void fx_cleanup(fx *f)
{
    daemon_stop(f);
    dfx_remove_containers(f->dkc, DFX_NODE_LABEL, f->node);
    dkc_client_free(f->dkc);
    f->dkc = NULL;
    broker_free(f->cli);
    f->cli = NULL;
    broker_conf c;
    broker_conf_init(&c);
    c.url = f->amqp_url;
    c.queue = f->queue;
    c.node = f->node;
    c.queue_type = BROKER_QUEUE_CLASSIC;
    c.connect_timeout_ms = 3000;
    char rq[96];
    snprintf(rq, sizeof rq, "%.63s.replies", f->queue);
    dfx_delete_topology(&c, rq);
}

/* Publishes body to f's work queue with message_id = correlation_id = a
 * new id (written to idbuf) and reply_to. */
static void send_msg(fx *f, const char *reply_to, const char *body, char *idbuf, size_t idlen)
{
    snprintf(idbuf, idlen, "f-%ld-%d", (long)getpid(), ++g_seq);
    broker_props p = {.reply_to = reply_to,
                      .correlation_id = idbuf,
                      .message_id = idbuf,
                      .content_type = "application/json"};
    assert_int_equal(broker_publish(f->cli, "", f->queue, &p, body, strlen(body), 0), 0);
}

/* Waits up to timeout_ms for direct replies to ids[0..n-1]; stores each
 * parsed reply in out[i] (NULL when none came; the first one per id is
 * kept, a second one counts in *dups). */
static void recv_replies(fx *f, char ids[][64], json_t **out, size_t n, int timeout_ms, int *dups)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    size_t got = 0;
    while (dfx_now_ms() < end && got < n) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        if (broker_poll(f->cli, 100, &d) == 1 && d.correlation_id) {
            for (size_t i = 0; i < n; i++) {
                if (strcmp(d.correlation_id, ids[i]) != 0)
                    continue;
                if (out[i] == NULL) {
                    out[i] = json_loadb((const char *)d.body, d.len, 0, NULL);
                    got++;
                } else if (dups) {
                    (*dups)++;
                }
            }
        }
        broker_delivery_cleanup(&d);
    }
}

/* Sets rabbit's key to value on the private node (scripts/
 * private-rabbitmq.sh set); 0 or the script's failure. */
static int rabbit_set(const char *key, int value)
{
    return dfx_run_script("private-rabbitmq.sh", "set %s %s %d", g_rabbit_name, key, value);
}

/* The control for the consumer timeout: a consumer of its own on the broker
 * at 127.0.0.1:port takes one message and never acks it.  Returns 1 when
 * the broker closes its channel with PRECONDITION_FAILED (the timeout is in
 * force) within timeout_ms, 0 when it does not, -1 on a setup failure. */
static int unacked_consumer_is_cut_off(int port, const char *queue, int timeout_ms)
{
    int ret = -1;
    amqp_connection_state_t conn = amqp_new_connection();
    if (conn == NULL)
        return -1;
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {.tv_sec = 5};
    if (sock == NULL || amqp_socket_open_noblock(sock, "127.0.0.1", port, &tv) != AMQP_STATUS_OK)
        goto out;
    if (amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type !=
        AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_channel_open(conn, 1);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(queue), 0, 0, 1, 1, amqp_empty_table);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0, NULL,
                           amqp_cstring_bytes("held")) != AMQP_STATUS_OK)
        goto out;
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 1,
                       amqp_empty_table);
    if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_envelope_t env;
    struct timeval wait = {.tv_sec = 5};
    if (amqp_consume_message(conn, &env, &wait, 0).reply_type != AMQP_RESPONSE_NORMAL)
        goto out;
    amqp_destroy_envelope(&env);
    /* held, never acked: wait for the broker to close the channel */
    ret = 0;
    int64_t end = dfx_now_ms() + timeout_ms;
    while (ret == 0 && dfx_now_ms() < end) {
        amqp_frame_t fr;
        struct timeval slice = {.tv_usec = 200 * 1000};
        int rc = amqp_simple_wait_frame_noblock(conn, &fr, &slice);
        if (rc == AMQP_STATUS_TIMEOUT)
            continue;
        if (rc != AMQP_STATUS_OK)
            break;
        if (fr.frame_type == AMQP_FRAME_METHOD && fr.channel == 1 &&
            fr.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *cl = fr.payload.method.decoded;
            ret = cl->reply_code == AMQP_PRECONDITION_FAILED ? 1 : -1;
            amqp_channel_close_ok_t ok = {0};
            amqp_send_method(conn, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        }
    }
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
out:
    amqp_destroy_connection(conn);
    return ret;
}

/* The port of the private RabbitMQ node: chosen free (with its
 * distribution port) at the first call, the same for every later case since
 * the node keeps running between them.  0 when none is free. */
static int rabbit_port(void)
{
    static int port;
    if (port == 0)
        port = dfx_pick_port(DD_PORTS_FAULTS_RABBIT, 1);
    return port;
}

/* Waits up to timeout_ms until a container of request id is running on
 * f's Docker; 1 if it is. */
static int wait_running(fx *f, const char *id, int timeout_ms)
{
    char l[160];
    snprintf(l, sizeof l, "io.docker-dispatch.request=%s", id);
    json_t *flt = json_pack("{s:[s], s:[s]}", "label", l, "status", "running");
    int running = 0;
    int64_t end = dfx_now_ms() + timeout_ms;
    while (!running && dfx_now_ms() < end) {
        json_t *arr = NULL;
        dkc_list_opts lo = {.all = false, .filters = flt};
        if (dkc_container_list(f->dkc, &lo, &arr) == 0)
            running = json_array_size(arr) == 1;
        json_decref(arr);
        if (!running)
            usleep(50 * 1000);
    }
    json_decref(flt);
    return running;
}

/* Fails the test unless r is an ok run reply with exit code 0 and that
 * stdout (the reply is printed when it is not ok). */
static void assert_run_ok(json_t *r, const char *stdout_text)
{
    assert_non_null(r);
    if (!json_is_true(json_object_get(r, "ok"))) {
        char *t = json_dumps(r, 0);
        fprintf(stderr, "reply not ok: %s\n", t ? t : "?");
        free(t);
    }
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *res = json_object_get(r, "result");
    assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 0);
    assert_string_equal(json_string_value(json_object_get(res, "stdout")), stdout_text);
}

/* Docker stops under the daemon: runs wait in the queue, the daemon lives,
 * and once Docker is back each gets exactly one container and one reply. */
/* GET path from the gateway on 127.0.0.1:port over HTTP/1.0: the status
 * (0 when no answer came within 5 s), the body into body (len bytes). */
static int http_get(int port, const char *path, char *body, size_t len)
{
    char buf[8192], req[160];
    body[0] = '\0';
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path, port);
    size_t n = 0;
    ssize_t k;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, req, strlen(req)) == (ssize_t)strlen(req))
        while (n < sizeof buf - 1 && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
            n += (size_t)k;
    close(fd);
    buf[n] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    const char *b = strstr(buf, "\r\n\r\n");
    snprintf(body, len, "%s", b ? b + 4 : "");
    return status;
}

/* The value of the sample line "name value" in a scrape (-1 when absent). */
static double scrape_value(int port, const char *name)
{
    char body[16384], want[128];
    if (http_get(port, "/metrics", body, sizeof body) != 200)
        return -1;
    snprintf(want, sizeof want, "\n%s ", name);
    const char *p = strstr(body, want);
    return p ? strtod(p + strlen(want), NULL) : -1;
}

static void test_docker_stopped(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char host[160];
    snprintf(host, sizeof host, "unix://" DFX_STATE_DIR "/p/%s/docker.sock", g_dockerd_name);
    fx_init(f, "dk", host, lane_amqp_url());
    f->gw_port = dfx_pick_port(DD_PORTS_FAULTS_GATEWAY, 0);
    assert_true(f->gw_port > 0);
    assert_int_equal(dfx_run_script("private-dockerd.sh", "start %s", g_dockerd_name), 0);
    f->dkc = dfx_docker_client(host);
    assert_non_null(f->dkc);
    f->cli = dfx_client_open(f->amqp_url, f->queue, 3000);
    assert_non_null(f->cli);
    assert_int_equal(broker_rpc_begin(f->cli), 0);
    assert_int_equal(daemon_start(f), 0);

    /* a run works */
    char ids[3][64], body[512];
    json_t *r[3] = {NULL, NULL, NULL};
    snprintf(body, sizeof body, RUN_ECHO_REMOVE, "before");
    send_msg(f, BROKER_REPLY_TO, body, ids[0], sizeof ids[0]);
    recv_replies(f, ids, r, 1, 30000, NULL);
    assert_run_ok(r[0], "before\n");
    json_decref(r[0]);
    r[0] = NULL;
    char text[2048];
    int st = http_get(f->gw_port, "/readyz", text, sizeof text);
    if (st != 200)
        fail_msg("GET /readyz with Docker up: %d: %s", st, text);

    /* Docker goes away; two runs come in */
    assert_int_equal(dfx_run_script("private-dockerd.sh", "stop %s", g_dockerd_name), 0);
    for (int i = 1; i <= 2; i++) {
        char word[32];
        snprintf(word, sizeof word, "fault-%d", i);
        snprintf(body, sizeof body, RUN_ECHO_REMOVE, word);
        send_msg(f, BROKER_REPLY_TO, body, ids[i], sizeof ids[i]);
    }
    recv_replies(f, ids + 1, r + 1, 2, 3000, NULL);
    assert_null(r[1]);
    assert_null(r[2]);
    assert_true(daemon_alive(f));
    /* they wait in the queue (nacked back, consumption paused) */
    uint32_t messages = 0;
    for (int i = 0; i < 100 && messages < 2; i++) {
        assert_int_equal(broker_queue_counts(f->cli, f->queue, &messages, NULL), 0);
        if (messages < 2)
            usleep(100 * 1000);
    }
    assert_int_equal(messages, 2);
    assert_true(daemon_alive(f));
    /* not ready, saying why (the flag is set just after the nack, so
     * allow it a moment); alive all the same */
    for (int i = 0; i < 50; i++) {
        st = http_get(f->gw_port, "/readyz", text, sizeof text);
        if (st == 503 && strncmp(text, "not ready\n", 10) == 0 &&
            strstr(text, "docker: unreachable") != NULL)
            break;
        if (i == 49)
            fail_msg("GET /readyz with Docker away: %d: %s", st, text);
        usleep(100 * 1000);
    }
    assert_int_equal(http_get(f->gw_port, "/healthz", text, sizeof text), 200);
    assert_true(scrape_value(f->gw_port, "docker_dispatch_docker_up") == 0);

    /* Docker comes back (same data): both runs are answered */
    int64_t back = (int64_t)time(NULL) - 1;
    assert_int_equal(dfx_run_script("private-dockerd.sh", "start %s", g_dockerd_name), 0);
    int dups = 0;
    recv_replies(f, ids + 1, r + 1, 2, 30000, &dups);
    assert_run_ok(r[1], "fault-1\n");
    assert_run_ok(r[2], "fault-2\n");
    json_decref(r[1]);
    json_decref(r[2]);
    /* no second reply, and exactly one container per request */
    json_t *late[2] = {NULL, NULL};
    recv_replies(f, ids + 1, late, 2, 1500, &dups);
    assert_null(late[0]);
    assert_null(late[1]);
    assert_int_equal(dups, 0);
    assert_int_equal(dfx_count_creates(f->dkc, ids[1], back), 1);
    assert_int_equal(dfx_count_creates(f->dkc, ids[2], back), 1);
    assert_true(daemon_alive(f));
    /* ready again; the outage counted */
    st = http_get(f->gw_port, "/readyz", text, sizeof text);
    if (st != 200)
        fail_msg("GET /readyz with Docker back: %d: %s", st, text);
    assert_true(scrape_value(f->gw_port, "docker_dispatch_docker_up") == 1);
    assert_true(scrape_value(f->gw_port, "docker_dispatch_docker_reconnects_total") >= 1);
}

/* Takes the message with correlation id from queue rq, waiting up to
 * timeout_ms; the parsed body or NULL.  Other messages are counted in
 * *others. */
static json_t *get_reply(fx *f, const char *rq, const char *id, int timeout_ms, int *others)
{
    int64_t end = dfx_now_ms() + timeout_ms;
    while (dfx_now_ms() < end) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_get(f->cli, rq, &d);
        if (rc == 1) {
            json_t *j = NULL;
            if (d.correlation_id && !strcmp(d.correlation_id, id))
                j = json_loadb((const char *)d.body, d.len, 0, NULL);
            else
                (*others)++;
            broker_delivery_cleanup(&d);
            if (j)
                return j;
            continue;
        }
        broker_delivery_cleanup(&d);
        usleep(200 * 1000);
    }
    return NULL;
}

/* Sets up a case on the private RabbitMQ node (started if it is not) and
 * the shared Docker: f's names and handles, and the durable reply queue
 * (its name into rq).  Returns the node's port. */
static int rabbit_case(fx *f, const char *tag, char *rq, size_t rqlen)
{
    int port = rabbit_port();
    assert_true(port != 0);
    char url[96];
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", port);
    fx_init(f, tag, lane_docker_host(), url);
    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "start %s %d %d %s", g_rabbit_name, port,
                                    g_tls_port, g_certs),
                     0);
    f->dkc = dfx_docker_client(lane_docker_host());
    assert_non_null(f->dkc);
    f->cli = dfx_client_open(url, f->queue, 3000);
    assert_non_null(f->cli);
    snprintf(rq, rqlen, "%.63s.replies", f->queue);
    assert_int_equal(dfx_declare_durable_queue(port, rq), 0);
    return port;
}

/* RabbitMQ stops and starts while a run is in flight: the daemon
 * reconnects and the reply lands in the durable reply queue, once. */
static void test_rabbit_restarted(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char rq[96];
    int port = rabbit_case(f, "mq", rq, sizeof rq);
    const char *url = f->amqp_url;
    assert_int_equal(daemon_start(f), 0);

    int64_t t0 = (int64_t)time(NULL) - 1;
    char id[64];
    send_msg(f, rq, RUN_SLEEP_REMOVE, id, sizeof id);
    assert_true(wait_running(f, id, 20000));

    /* the broker goes away and comes back while the container runs */
    broker_free(f->cli);
    f->cli = NULL;
    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "stop %s", g_rabbit_name), 0);
    assert_true(daemon_alive(f));
    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "start %s %d %d %s", g_rabbit_name, port,
                                    g_tls_port, g_certs),
                     0);
    f->cli = dfx_client_open(url, f->queue, 3000);
    assert_non_null(f->cli);

    int others = 0;
    json_t *r = get_reply(f, rq, id, 60000, &others);
    if (r == NULL)
        fprintf(stderr, "no reply in %s; see %s\n", rq, f->log);
    assert_run_ok(r, "done\n");
    assert_true(json_is_true(json_object_get(json_object_get(r, "result"), "removed")));
    json_decref(r);
    /* the daemon is back on the work queue, no second reply, one container */
    uint32_t consumers = 0;
    for (int i = 0; i < 100 && consumers < 1; i++) {
        assert_int_equal(broker_queue_counts(f->cli, f->queue, NULL, &consumers), 0);
        if (consumers < 1)
            usleep(100 * 1000);
    }
    assert_int_equal(consumers, 1);
    assert_null(get_reply(f, rq, id, 1500, &others));
    assert_int_equal(others, 0);
    assert_int_equal(dfx_count_creates(f->dkc, id, t0), 1);
    assert_true(daemon_alive(f));
}

/* Counts the lines of f's log that contain text. */
static int log_count(fx *f, const char *text)
{
    FILE *lf = fopen(f->log, "r");
    if (lf == NULL)
        return 0;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, lf))
        n += strstr(line, text) != NULL;
    fclose(lf);
    return n;
}

/* A run outlives RabbitMQ's consumer timeout (set low on the private node,
 * with a control consumer showing it is in force): the daemon acked the
 * message when the container started, so its channel stays open, other
 * work flows meanwhile, and the run ends with exactly one reply and one
 * container. */
static void test_consumer_timeout(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char rq[96];
    int port = rabbit_case(f, "ct", rq, sizeof rq);
    assert_int_equal(rabbit_set("consumer_timeout", CONSUMER_TIMEOUT_MS), 0);
    assert_int_equal(rabbit_set("channel_tick_interval", CHANNEL_TICK_MS), 0);

    /* the control: a consumer that holds a message is cut off */
    char held[96];
    snprintf(held, sizeof held, "%.63s.held", f->queue);
    int64_t t = dfx_now_ms();
    assert_int_equal(unacked_consumer_is_cut_off(port, held, 4 * CONSUMER_TIMEOUT_MS), 1);
    fprintf(stderr, "# unacked consumer cut off after %lld ms\n", (long long)(dfx_now_ms() - t));

    assert_int_equal(daemon_start(f), 0);

    int64_t t0 = (int64_t)time(NULL) - 1;
    char id[64], quick[64], body[512];
    send_msg(f, rq, RUN_LONG_REMOVE, id, sizeof id);
    assert_true(wait_running(f, id, 20000));
    int64_t started = dfx_now_ms();

    /* past the timeout and a few checks, the daemon still takes work */
    usleep((CONSUMER_TIMEOUT_MS + 4 * CHANNEL_TICK_MS + 1000) * 1000);
    snprintf(body, sizeof body, RUN_ECHO_REMOVE, "meanwhile");
    send_msg(f, rq, body, quick, sizeof quick);
    int others = 0;
    json_t *r = get_reply(f, rq, quick, 30000, &others);
    assert_run_ok(r, "meanwhile\n");
    json_decref(r);
    assert_int_equal(others, 0);

    /* the long run ends with its one reply */
    r = get_reply(f, rq, id, 60000, &others);
    if (r == NULL)
        fprintf(stderr, "no reply in %s; see %s\n", rq, f->log);
    assert_run_ok(r, "done\n");
    assert_true(dfx_now_ms() - started > CONSUMER_TIMEOUT_MS + 4 * CHANNEL_TICK_MS);
    json_decref(r);
    assert_null(get_reply(f, rq, id, 1500, &others));
    assert_int_equal(others, 0);
    assert_int_equal(dfx_count_creates(f->dkc, id, t0), 1);
    /* the daemon kept its connection and its consumer throughout */
    assert_int_equal(log_count(f, "connection lost"), 0);
    uint32_t consumers = 0, messages = 0;
    assert_int_equal(broker_queue_counts(f->cli, f->queue, &messages, &consumers), 0);
    assert_int_equal(consumers, 1);
    assert_int_equal(messages, 0);
    assert_true(daemon_alive(f));
}

/* Takes every message of reply queue rq for timeout_ms, or until each of
 * ids[0..n-1] has a reply and settle_ms more passed: counts[i] is how many
 * replies came for ids[i], out[i] the first (parsed; NULL: none); a reply
 * for no id of these counts in *others. */
static void collect_replies(fx *f, const char *rq, char ids[][64], size_t n, int *counts,
                            json_t **out, int timeout_ms, int settle_ms, int *others)
{
    int64_t end = dfx_now_ms() + timeout_ms, settle_end = 0;
    while (dfx_now_ms() < end && (settle_end == 0 || dfx_now_ms() < settle_end)) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_get(f->cli, rq, &d);
        if (rc == 1) {
            size_t i = 0;
            while (i < n && (d.correlation_id == NULL || strcmp(d.correlation_id, ids[i]) != 0))
                i++;
            if (i == n)
                (*others)++;
            else if (counts[i]++ == 0)
                out[i] = json_loadb((const char *)d.body, d.len, 0, NULL);
        }
        broker_delivery_cleanup(&d);
        size_t have = 0;
        for (size_t i = 0; i < n; i++)
            have += counts[i] > 0;
        if (have == n && settle_end == 0)
            settle_end = dfx_now_ms() + settle_ms;
        if (rc != 1)
            usleep(100 * 1000);
    }
}

/* Deliveries wait in the daemon longer than RabbitMQ's consumer timeout
 * (one worker, busy with an exec that outlasts it, and quick requests
 * queued behind it in the prefetch window): RabbitMQ closes the daemon's
 * channel (PRECONDITION_FAILED, "delivery acknowledgement timed out") and
 * requeues every unacked delivery, so each comes again, redelivered, while
 * the daemon still holds its first copy.  The daemon reopens the channel
 * and goes on: every request gets exactly one reply, the exec ran once,
 * each run made one container, and the queue ends empty with the daemon
 * consuming it. */
static void test_consumer_timeout_closes_the_channel(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char rq[96];
    int port = rabbit_case(f, "cc", rq, sizeof rq);
    assert_int_equal(rabbit_set("consumer_timeout", CONSUMER_TIMEOUT_MS), 0);
    assert_int_equal(rabbit_set("channel_tick_interval", CHANNEL_TICK_MS), 0);
    char held[96];
    snprintf(held, sizeof held, "%.63s.held", f->queue);
    assert_int_equal(unacked_consumer_is_cut_off(port, held, 4 * CONSUMER_TIMEOUT_MS), 1);
    f->workers = 1;
    f->quorum = 1;
    assert_int_equal(daemon_start(f), 0);

    /* a container to exec in (a run without Attach is answered at its start) */
    char sid[1][64], body[512];
    int count[6] = {0}, others = 0;
    json_t *r[6] = {NULL};
    send_msg(f, rq,
             "{\"Dockercmd\":\"run\",\"Options\":{\"NetworkMode\":\"none\"},"
             "\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"300\"]}",
             sid[0], sizeof sid[0]);
    collect_replies(f, rq, sid, 1, count, r, 30000, 0, &others);
    assert_non_null(r[0]);
    assert_true(json_is_true(json_object_get(r[0], "ok")));
    char cid[80];
    snprintf(cid, sizeof cid, "%s",
             json_string_value(json_object_get(
                 json_object_get(json_object_get(r[0], "result"), "container"), "id")));
    json_decref(r[0]);
    r[0] = NULL;
    count[0] = 0;

    /* the exec counts its runs in a file, then holds the one worker for
     * twice the consumer timeout; four requests wait behind it */
    int64_t t0 = (int64_t)time(NULL) - 1;
    char ids[6][64];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"sh\",\"-c\","
             "\"echo x >> /tmp/runs; sleep %d; echo done\"],\"Options\":{\"Timeout\":120}}",
             cid, 2 * CONSUMER_TIMEOUT_MS / 1000);
    send_msg(f, rq, body, ids[0], sizeof ids[0]);
    for (int i = 1; i <= 3; i++) {
        char word[32];
        snprintf(word, sizeof word, "queued-%d", i);
        snprintf(body, sizeof body, RUN_ECHO_REMOVE, word);
        send_msg(f, rq, body, ids[i], sizeof ids[i]);
    }
    send_msg(f, rq, "{\"Dockercmd\":\"ping\"}", ids[4], sizeof ids[4]);
    collect_replies(f, rq, ids, 5, count, r, 90000, 3000, &others);
    for (int i = 0; i < 5; i++)
        if (count[i] != 1)
            fprintf(stderr, "request %d (%s): %d replies; see %s\n", i, ids[i], count[i], f->log);
    for (int i = 0; i < 5; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(others, 0);
    assert_run_ok(r[0], "done\n");
    for (int i = 1; i <= 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "queued-%d\n", i);
        assert_run_ok(r[i], want);
        assert_int_equal(dfx_count_creates(f->dkc, ids[i], t0), 1);
    }
    assert_true(json_is_true(json_object_get(r[4], "ok")));
    /* the broker did close the channel over the timeout */
    if (log_count(f, "acknowledgement") == 0)
        fprintf(stderr, "no channel closed for the consumer timeout; see %s\n", f->log);
    assert_true(log_count(f, "acknowledgement") >= 1);

    /* the exec ran once */
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"exec\",\"Container\":\"%s\",\"Cmd\":[\"cat\",\"/tmp/runs\"]}", cid);
    send_msg(f, rq, body, ids[5], sizeof ids[5]);
    collect_replies(f, rq, ids + 5, 1, count + 5, r + 5, 30000, 0, &others);
    assert_run_ok(r[5], "x\n");
    for (int i = 0; i < 6; i++)
        json_decref(r[i]);

    /* nothing left behind, still consuming */
    uint32_t consumers = 0, messages = 1;
    for (int i = 0; i < 50 && (messages != 0 || consumers != 1); i++) {
        assert_int_equal(broker_queue_counts(f->cli, f->queue, &messages, &consumers), 0);
        usleep(100 * 1000);
    }
    assert_int_equal(messages, 0);
    assert_int_equal(consumers, 1);
    assert_true(daemon_alive(f));
}

/* 1 when the broker refuses a message of len bytes (published to queue q
 * through f's client), 0 when it takes it (and it is taken back out). */
static int broker_refuses(fx *f, const char *q, size_t len)
{
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, 'x', len);
    int rc = broker_publish(f->cli, "", q, NULL, body, len, 0);
    free(body);
    if (rc == 0) {
        broker_delivery d;
        for (int i = 0; i < 50 && broker_get(f->cli, q, &d) != 1; i++)
            usleep(100 * 1000);
        broker_delivery_cleanup(&d);
        return 0;
    }
    if (rc != BROKER_ETOOBIG)
        fprintf(stderr, "publishing %zu bytes: %s\n", len, broker_error(f->cli));
    assert_int_equal(rc, BROKER_ETOOBIG);
    return 1;
}

/* RabbitMQ refuses a message over its max_message_size by closing the
 * channel (4.0 lowered the default from 128 MiB to 16 MiB), and the
 * daemon's --max-reply may be set above it: a reply the broker refuses is
 * answered too_large in its place, naming the broker's limit, once; the
 * next reply goes out as usual.  RabbitMQ 3 takes a limit of 64 KiB set
 * on the running node; RabbitMQ 4 reads it at boot only, so there the
 * reply is over its default of 16 MiB (--max-reply 32 MiB). */
static void test_reply_over_the_broker_limit(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char rq[96];
    rabbit_case(f, "ms", rq, sizeof rq);
    assert_int_equal(rabbit_set("max_message_size", 65536), 0);
    /* a channel sees the setting when it opens */
    broker_free(f->cli);
    f->cli = dfx_client_open(f->amqp_url, f->queue, 3000);
    assert_non_null(f->cli);
    size_t limit = 65536, size = 150000;
    /* 1500 lines of 100 bytes, or 16 MiB in one line */
    const char *big = "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
                      "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
                      "\"Cmd\":[\"sh\",\"-c\",\"i=0; while [ $i -lt 1500 ]; do echo "
                      "012345678901234567890123456789012345678901234567890123456789012345678901234"
                      "567890123456789012345678; i=$((i+1)); done\"]}";
    if (!broker_refuses(f, rq, limit + 1024)) {
        limit = 16u << 20;
        size = limit;
        assert_int_equal(broker_refuses(f, rq, limit + 1024), 1);
        snprintf(f->max_reply, sizeof f->max_reply, "%u", 32u << 20);
        big = "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
              "\"NetworkMode\":\"none\",\"OutputLimit\":16777216},\"Image\":\"busybox:latest\","
              "\"Cmd\":[\"sh\",\"-c\",\"i=0; s=0123456789abcdef; while [ $i -lt 20 ]; do s=$s$s; "
              "i=$((i+1)); done; echo $s\"]}";
    }
    fprintf(stderr, "# the broker refuses messages over %zu bytes\n", limit);
    assert_int_equal(daemon_start(f), 0);
    char ids[2][64], body[512];
    int count[2] = {0}, others = 0;
    json_t *r[2] = {NULL};
    send_msg(f, rq, big, ids[0], sizeof ids[0]);
    snprintf(body, sizeof body, RUN_ECHO_REMOVE, "small");
    send_msg(f, rq, body, ids[1], sizeof ids[1]);
    collect_replies(f, rq, ids, 2, count, r, 90000, 2000, &others);
    if (count[0] != 1)
        fprintf(stderr, "%d replies to the big run; see %s\n", count[0], f->log);
    assert_int_equal(count[0], 1);
    assert_int_equal(count[1], 1);
    assert_int_equal(others, 0);
    json_t *err = json_object_get(r[0], "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    char *text = json_dumps(err ? err : r[0], JSON_COMPACT);
    fprintf(stderr, "# %.300s\n", text ? text : "?");
    free(text);
    assert_non_null(code);
    assert_string_equal(code, "too_large");
    assert_int_equal(json_integer_value(json_object_get(err, "max")), limit);
    assert_true(json_integer_value(json_object_get(err, "size")) > (json_int_t)size);
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "max_message_size"));
    assert_run_ok(r[1], "small\n");
    json_decref(r[0]);
    json_decref(r[1]);
    assert_true(daemon_alive(f));
    assert_int_equal(rabbit_set("max_message_size", 134217728), 0); /* 3.10's default */
}

/* Runs the daemon with args to its end (at most 20 s); its exit status
 * (-1: killed at the limit) and what it printed, in out. */
static int daemon_once(const char *const *args, char *out, size_t outlen)
{
    char log[96];
    snprintf(log, sizeof log, "/tmp/dd-ftest-once-%ld.log", (long)getpid());
    unlink(log);
    pid_t pid = dfx_spawn(args, log, NULL);
    assert_true(pid > 0);
    int st = 0, done = 0;
    for (int i = 0; i < 400 && !done; i++) {
        done = waitpid(pid, &st, WNOHANG) == pid;
        if (!done)
            usleep(50 * 1000);
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    char *text = dfx_read_file(log);
    snprintf(out, outlen, "%s", text ? text : "");
    free(text);
    unlink(log);
    return done && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* amqps for real: the dispatcher connects to a RabbitMQ TLS listener that
 * requires client certificates, consumes, runs and replies over it; a
 * broker certificate from another CA is refused, and so is the connection
 * without a client certificate, each with the reason. */
static void test_amqps(void **state)
{
    (void)state;
    fx *f = &g_fx;
    char rq[96], url[128], ca[160], cert[160], key[160], other[160], out[4096];
    rabbit_case(f, "tls", rq, sizeof rq);
    /* the certificate names "localhost" (rabbitmq-c 0.11 checks DNS names only) */
    snprintf(url, sizeof url, "amqps://guest:guest@localhost:%d/", g_tls_port);
    snprintf(ca, sizeof ca, "%s/ca.pem", g_certs);
    snprintf(cert, sizeof cert, "%s/cert.pem", g_certs);
    snprintf(key, sizeof key, "%s/key.pem", g_certs);
    snprintf(other, sizeof other, "%s/ca.pem", g_other_ca);

    const char *args[] = {"-q",
                          f->queue,
                          "--node",
                          f->node,
                          "--queue-type",
                          "classic",
                          "--amqp-cacert",
                          ca,
                          "--amqp-cert",
                          cert,
                          "--amqp-key",
                          key,
                          lane_docker_host(),
                          url,
                          NULL};
    f->pid = dfx_spawn(args, f->log, NULL);
    assert_true(f->pid > 0);
    assert_int_equal(dfx_wait_consuming(f->cli, f->queue, &f->pid, 15000, f->log), 0);
    /* a client over TLS too */
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = url;
    bc.role = BROKER_ROLE_CLIENT;
    bc.queue = f->queue;
    bc.tls_ca_file = ca;
    bc.tls_cert_file = cert;
    bc.tls_key_file = key;
    broker *tls = NULL;
    char *cause = NULL;
    if (broker_open(&bc, &tls, &cause) != 0)
        fprintf(stderr, "TLS client: %s\n", cause ? cause : "?");
    free(cause);
    assert_non_null(tls);
    char id[64], body[512];
    snprintf(id, sizeof id, "tls-%ld", (long)getpid());
    snprintf(body, sizeof body, RUN_ECHO_REMOVE, "over tls");
    broker_props p = {.reply_to = rq, .correlation_id = id, .message_id = id};
    assert_int_equal(broker_publish(tls, "", f->queue, &p, body, strlen(body), 0), 0);
    broker_free(tls);
    int others = 0;
    json_t *r = get_reply(f, rq, id, 30000, &others);
    assert_run_ok(r, "over tls\n");
    json_decref(r);
    dfx_stop(&f->pid, SIGTERM, 15000);

    /* a broker certificate the given CA did not sign */
    const char *untrusted[] = {
        "-q",          f->queue, "--node",     f->node, "--amqp-cacert",    other,
        "--amqp-cert", cert,     "--amqp-key", key,     lane_docker_host(), url,
        NULL};
    assert_int_equal(daemon_once(untrusted, out, sizeof out), 1);
    if (strstr(out, "not trusted by the given CA file") == NULL)
        fprintf(stderr, "untrusted broker: %s\n", out);
    assert_non_null(strstr(out, "not trusted by the given CA file"));
    /* no client certificate, where the broker requires one */
    const char *nocert[] = {"-q", f->queue,           "--node", f->node, "--amqp-cacert",
                            ca,   lane_docker_host(), url,      NULL};
    assert_int_equal(daemon_once(nocert, out, sizeof out), 1);
    if (strstr(out, "client certificate") == NULL)
        fprintf(stderr, "without a client certificate: %s\n", out);
    assert_non_null(strstr(out, "client certificate"));
    assert_null(strstr(out, "guest:guest"));
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_dockerd_name, sizeof g_dockerd_name, "ft%ld", (long)getpid());
    snprintf(g_rabbit_name, sizeof g_rabbit_name, "ft%ld", (long)getpid());
    snprintf(g_certs, sizeof g_certs, "/tmp/dd-ftest-certs-%ld", (long)getpid());
    snprintf(g_other_ca, sizeof g_other_ca, "/tmp/dd-ftest-other-ca-%ld", (long)getpid());
    g_tls_port = dfx_pick_port(DD_PORTS_FAULTS_AMQPS, 0);
    if (g_tls_port == 0 || dfx_run_script("gen-certs.sh", "%s", g_certs) != 0 ||
        dfx_run_script("gen-certs.sh", "%s", g_other_ca) != 0)
        return -1;
    return 0;
}

/* Per case: stops its daemon, removes its containers and topology. */
static int case_teardown(void **state)
{
    (void)state;
    fx_cleanup(&g_fx);
    return 0;
}

/* Stops the private services by their names (a no-op for those that are
 * not running) and removes their state. */
static int group_teardown(void **state)
{
    (void)state;
    dfx_run_script("private-rabbitmq.sh", "stop %s", g_rabbit_name);
    dfx_run_script("private-dockerd.sh", "stop %s", g_dockerd_name);
    /* their state, once nothing is mounted below it any more */
    dfx_remove_private_state(g_rabbit_name, g_dockerd_name);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", g_certs, g_other_ca);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s, %s\n", g_certs, g_other_ca);
    return 0;
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_docker_stopped, case_teardown),
        cmocka_unit_test_teardown(test_rabbit_restarted, case_teardown),
        cmocka_unit_test_teardown(test_consumer_timeout, case_teardown),
        cmocka_unit_test_teardown(test_consumer_timeout_closes_the_channel, case_teardown),
        cmocka_unit_test_teardown(test_reply_over_the_broker_limit, case_teardown),
        cmocka_unit_test_teardown(test_amqps, case_teardown),
    };
    if (getenv("CMOCKA_TEST_FILTER")) /* e.g. "test_consumer*" while working on one case */
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
