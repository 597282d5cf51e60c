/*
 * bench_cluster.c -- the cluster's figures on a real cluster on this
 * machine (tests/integration/cluster_fx.h: three dispatchers, three
 * dockerd, three RabbitMQ nodes), measured in one run:
 *
 *   placement   one create request with `instances` N (default 1000): the
 *               pieces per second from publish to reply, and how evenly
 *               they landed
 *   forwarding  the latency of `inspect` sent straight to its owner's node
 *               queue against the same command through the shared work
 *               queue while its owner drains (so another node takes each
 *               and forwards it): the latency forwarding adds
 *
 * Usage: bench_cluster [INSTANCES [ROUNDS]]   (needs root; about 2 min)
 * $DISPATCH_BIN and $DD_SCRIPTS as for the tests (bench/run.sh sets them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster_fx.h"
#include "daemon_fx.h"

static cfx *env;
static cfx_replies *rep;
static int seq;

/* Sends body to rk as user (NULL: no user_id) and waits for its reply;
 * the reply (borrowed) or NULL. */
static json_t *ask_as(const char *user, const char *rk, const char *body, int timeout_ms)
{
    char id[64];
    snprintf(id, sizeof id, "b-%ld-%d", (long)getpid(), ++seq);
    if (cfx_send_as(rep, rk, id, body, user) != 0)
        return NULL;
    const char *ids[] = {id};
    if (cfx_replies_wait(rep, ids, 1, timeout_ms, 0) != 0)
        return NULL;
    return cfx_replies_first(rep, id);
}

static json_t *ask(const char *rk, const char *body, int timeout_ms)
{
    return ask_as(NULL, rk, body, timeout_ms);
}

static int cmp_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and p90 of n samples (sorted here). */
static void stats(double *v, int n, double *med, double *p90)
{
    qsort(v, (size_t)n, sizeof *v, cmp_ms);
    *med = v[n / 2];
    *p90 = v[(n * 9) / 10];
}

int main(int argc, char **argv)
{
    int instances = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 100;
    if (instances < 1 || instances > 1000 || rounds < 1 || rounds > 10000) {
        fprintf(stderr, "usage: bench_cluster [INSTANCES (1-1000) [ROUNDS]]\n");
        return 2;
    }
    dkc_global_init();
    cfx_conf conf;
    cfx_conf_init(&conf);
    /* draining n1 below is an admin's: guest, the user it publishes as */
    const char *cfg = cfx_admin_config();
    if (cfg == NULL)
        return 1;
    const char *const extra[] = {"--quiet-output", "--config", cfg, NULL};
    conf.extra_args = extra;
    int64_t t0 = dfx_now_ms();
    env = cfx_start(&conf);
    if (env == NULL)
        return 1;
    printf("environment: 3 RabbitMQ nodes, 3 dockerd, 3 dispatchers up in %.1f s\n",
           (double)(dfx_now_ms() - t0) / 1000.0);
    char rq[200];
    snprintf(rq, sizeof rq, "%s.replies", cfx_queue(env));
    rep = cfx_replies_new(env, 1, rq);
    int status = 1;
    if (rep == NULL)
        goto out;
    sleep(3); /* every view holds every node */

    /* placement */
    char body[512];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"
             "\"Options\":{\"Instances\":%d,\"NetworkMode\":\"none\"}}",
             instances);
    t0 = dfx_now_ms();
    json_t *r = ask(cfx_queue(env), body, 900000);
    double secs = (double)(dfx_now_ms() - t0) / 1000.0;
    if (r == NULL || !json_is_true(json_object_get(r, "ok"))) {
        fprintf(stderr, "bench_cluster: the bulk request failed\n");
        goto out;
    }
    int per[4] = {0};
    size_t k;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(r, "result"), "containers"), k, p)
    {
        if (json_is_true(json_object_get(p, "ok")))
            per[cfx_node_index(env, json_string_value(json_object_get(p, "node")))]++;
    }
    printf("placement: %d instances in %.2f s = %.0f pieces/s; n1/n2/n3 %d/%d/%d\n", instances,
           secs, instances / secs, per[1], per[2], per[3]);

    /* forwarding: a container of n1 */
    char nq[200];
    snprintf(nq, sizeof nq, "%s.node.n1", cfx_queue(env));
    r = ask(nq,
            "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"600\"],"
            "\"Options\":{\"NetworkMode\":\"none\"}}",
            60000);
    const char *cid = json_string_value(
        json_object_get(json_object_get(json_object_get(r, "result"), "container"), "id"));
    if (cid == NULL)
        goto out;
    char inspect[200], id[80];
    snprintf(id, sizeof id, "%s", cid);
    snprintf(inspect, sizeof inspect, "{\"Dockercmd\":\"inspect\",\"Container\":\"%s\"}", id);
    double *direct = calloc((size_t)rounds, sizeof *direct);
    double *fwd = calloc((size_t)rounds, sizeof *fwd);
    if (!direct || !fwd)
        goto out;
    ask_as("guest", cfx_queue(env), "{\"action\":\"unregister\",\"hostname\":\"n1\"}", 30000);
    sleep(1);
    int forwarded = 0;
    for (int i = 0; i < rounds; i++) { /* alternated: the same conditions for both */
        int64_t a = dfx_now_ms();
        if (ask(nq, inspect, 30000) == NULL)
            goto out;
        direct[i] = (double)(dfx_now_ms() - a);
        a = dfx_now_ms();
        json_t *f = ask(cfx_queue(env), inspect, 30000);
        if (f == NULL)
            goto out;
        fwd[i] = (double)(dfx_now_ms() - a);
        forwarded += !strcmp(json_string_value(json_object_get(f, "node")), "n1");
    }
    ask_as("guest", cfx_queue(env), "{\"action\":\"register\",\"hostname\":\"n1\"}", 30000);
    double dm, d90, fm, f90;
    stats(direct, rounds, &dm, &d90);
    stats(fwd, rounds, &fm, &f90);
    printf("forwarding: inspect straight to its owner median %.1f ms (p90 %.1f); through the "
           "shared queue and another node median %.1f ms (p90 %.1f); forwarding adds %.1f ms "
           "(ratio %.2f); %d of %d answered by the owner\n",
           dm, d90, fm, f90, fm - dm, fm / dm, forwarded, rounds);
    free(direct);
    free(fwd);
    status = 0;
out:
    cfx_replies_free(rep);
    cfx_stop(env);
    unlink(cfg);
    dkc_global_cleanup();
    return status;
}
