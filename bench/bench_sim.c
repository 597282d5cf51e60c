/*
 * bench_sim.c -- the cluster past this machine's three hosts, by
 * simulation: N dispatcher nodes (3, 10, 25, 50 by default) on this
 * machine, each against the stand-in Engine API (stub_engine, which
 * answers at once), all sharing one RabbitMQ (the shared one on 5672).
 * For each N, in one run:
 *
 *   convergence  from the moment every node consumes its queue until every
 *                node's view holds all N (asked on each node's own queue)
 *   heartbeats   messages and bytes of node.heartbeat per node per second,
 *                and what each node receives (N heartbeats per interval)
 *   spread       5 requests of 1000 instances each (5000 pieces): pieces
 *                per second and how evenly they landed (min, max per node)
 *
 * Usage: bench_sim [N,N,...]     $DISPATCH_BIN, $STUB_ENGINE (paths)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"

#define MAX_NODES 64
#define INTERVAL  2000

/* The reply to body on queue rk through client b (borrowed JSON in *out,
 * json_decref), or NULL. */
static json_t *ask(broker *b, const char *rk, const char *body, int timeout_ms)
{
    static int seq;
    char id[64];
    snprintf(id, sizeof id, "sim-%ld-%d", (long)getpid(), ++seq);
    broker_props p = {.correlation_id = id, .message_id = id, .content_type = "application/json"};
    broker_delivery r;
    memset(&r, 0, sizeof r);
    if (broker_call(b, "", rk, &p, body, strlen(body), timeout_ms, &r) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)r.body, r.len, 0, NULL);
    broker_delivery_cleanup(&r);
    return j;
}

static int round_n(int n, const char *stub_port, broker *cli)
{
    char queue[64], node_q[MAX_NODES][128], names[MAX_NODES][16], logf[128], host[64];
    pid_t pid[MAX_NODES] = {0};
    snprintf(queue, sizeof queue, "sim-%ld-%d", (long)getpid(), n);
    snprintf(host, sizeof host, "tcp://127.0.0.1:%s", stub_port);
    snprintf(logf, sizeof logf, "/tmp/dd-sim-%ld-%d.log", (long)getpid(), n);
    char interval[16];
    snprintf(interval, sizeof interval, "%d", INTERVAL);
    int64_t t0 = dfx_now_ms();
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i + 1);
        snprintf(node_q[i], sizeof node_q[i], "%s.node.%s", queue, names[i]);
        const char *args[] = {"-q",
                              queue,
                              "--node",
                              names[i],
                              "--workers",
                              "2",
                              "--membership-interval",
                              interval,
                              "--quiet-output",
                              "--queue-type",
                              "classic",
                              host,
                              lane_amqp_url(),
                              NULL};
        pid[i] = dfx_spawn(args, logf, NULL);
        if (pid[i] <= 0)
            return -1;
    }
    broker *w = dfx_client_open(lane_amqp_url(), queue, 0);
    int rc = -1;
    if (w == NULL)
        goto out;
    for (int i = 0; i < n; i++)
        if (dfx_wait_consuming(w, node_q[i], &pid[i], 60000, logf) != 0)
            goto out;
    int64_t up = dfx_now_ms();
    /* convergence: every view holds all n */
    int64_t conv = -1;
    while (dfx_now_ms() - up < 120000 && conv < 0) {
        int all = 1;
        for (int i = 0; i < n && all; i++) {
            json_t *r = ask(cli, node_q[i], "{\"Dockercmd\":\"nodes\"}", 10000);
            all = r && json_array_size(json_object_get(r, "result")) == (size_t)n;
            json_decref(r);
        }
        if (all)
            conv = dfx_now_ms() - up;
    }
    /* heartbeats: a watch of node.heartbeat.# for 10 s */
    broker *hw = dfx_client_open(lane_amqp_url(), queue, 0);
    long msgs = 0, bytes = 0;
    if (hw && broker_watch(hw, "node.heartbeat.#") == 0) {
        int64_t until = dfx_now_ms() + 10000;
        while (dfx_now_ms() < until) {
            broker_delivery d;
            memset(&d, 0, sizeof d);
            if (broker_poll(hw, 200, &d) == 1 && d.source == BROKER_SRC_EVENT) {
                msgs++;
                bytes += (long)d.len;
            }
            broker_delivery_cleanup(&d);
        }
    }
    broker_free(hw);
    /* spread: 5 x 1000 instances */
    int per[MAX_NODES] = {0}, made = 0;
    int64_t ts = dfx_now_ms();
    for (int k = 0; k < 5; k++) {
        json_t *r = ask(cli, queue,
                        "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
                        "\"Options\":{\"Instances\":1000,\"NetworkMode\":\"none\"}}",
                        600000);
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(json_object_get(r, "result"), "containers"), j, p)
        {
            const char *nm = json_string_value(json_object_get(p, "node"));
            if (!json_is_true(json_object_get(p, "ok")) || nm == NULL)
                continue;
            made++;
            per[strtol(nm + 1, NULL, 10) - 1]++;
        }
        json_decref(r);
        sleep(2 * INTERVAL / 1000); /* heartbeats carry the new counts */
    }
    double secs = (double)(dfx_now_ms() - ts) / 1000.0 - 5.0 * 2 * INTERVAL / 1000;
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < n; i++) {
        lo = per[i] < lo ? per[i] : lo;
        hi = per[i] > hi ? per[i] : hi;
    }
    printf("N=%-3d started %.1f s; views converged %.2f s after all consumed; heartbeats "
           "%.2f/s and %.0f B/s per node out (%.0f B each), %.0f B/s into each node; 5000 "
           "pieces: %d made in %.1f s (%.0f/s), per node min %d max %d (ideal %.1f)\n",
           n, (double)(up - t0) / 1000.0, (double)conv / 1000.0, msgs / 10.0 / n, bytes / 10.0 / n,
           msgs ? (double)bytes / msgs : 0.0, bytes / 10.0, made, secs,
           made / (secs > 0 ? secs : 1), lo, hi, 5000.0 / n);
    fflush(stdout);
    rc = 0;
out:
    for (int i = 0; i < n; i++)
        if (pid[i] > 0)
            dfx_stop(&pid[i], SIGTERM, 10000);
    for (int i = 0; i < n; i++) {
        broker_conf bc;
        broker_conf_init(&bc);
        bc.url = lane_amqp_url();
        bc.queue = queue;
        bc.node = names[i];
        bc.role = BROKER_ROLE_NODE;
        bc.queue_type = BROKER_QUEUE_CLASSIC;
        dfx_delete_topology(&bc, NULL);
    }
    broker_free(w);
    unlink(logf);
    return rc;
}

int main(int argc, char **argv)
{
    const char *list = argc > 1 ? argv[1] : "3,10,25,50";
    const char *stub = getenv("STUB_ENGINE");
    if (stub == NULL || getenv("DISPATCH_BIN") == NULL) {
        fprintf(stderr, "bench_sim: set DISPATCH_BIN and STUB_ENGINE\n");
        return 2;
    }
    char port[16];
    int p = dfx_pick_port(DD_PORTS_BENCH_STUB, 0);
    if (p == 0) {
        fprintf(stderr, "bench_sim: no free port in the stub's range (tests/ports.h)\n");
        return 2;
    }
    snprintf(port, sizeof port, "%d", p);
    const char *sargs[] = {port, NULL};
    setenv("DISPATCH_BIN_SAVED", getenv("DISPATCH_BIN"), 1);
    setenv("DISPATCH_BIN", stub, 1); /* dfx_spawn starts $DISPATCH_BIN */
    pid_t sp = dfx_spawn(sargs, "/dev/null", NULL);
    setenv("DISPATCH_BIN", getenv("DISPATCH_BIN_SAVED"), 1);
    if (sp <= 0)
        return 1;
    usleep(300 * 1000);
    broker *cli = dfx_client_open(lane_amqp_url(), "sim", 0);
    if (cli == NULL || broker_rpc_begin(cli) != 0)
        return 1;
    printf("cluster simulation: nodes against a stand-in Engine API, one RabbitMQ, heartbeat "
           "interval %d ms\n",
           INTERVAL);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", list);
    int status = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int n = (int)strtol(t, NULL, 10);
        if (n < 1 || n > MAX_NODES || round_n(n, port, cli) != 0) {
            fprintf(stderr, "bench_sim: the round of %d nodes failed\n", n);
            status = 1;
            break;
        }
    }
    broker_free(cli);
    dfx_stop(&sp, SIGTERM, 2000);
    return status;
}
