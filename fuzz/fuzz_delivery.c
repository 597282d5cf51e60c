/*
 * fuzz_delivery.c -- a delivery from the wire through the daemon's intake:
 * the AMQP basic properties of a content header frame (decoded by
 * rabbitmq-c as the connection decodes them, copied by the frame pump's
 * brk_copy_props) and a body, handed to a running engine whose Docker is a
 * fake that answers at once, as the engine's unit tests do it.  Headers,
 * properties and bodies are all the fuzzer's: nothing may crash or abort.
 * Each input waits (boundedly) until the engine settles it.
 *
 * Input: byte 0 flags (bit 0: redelivered; bit 1: from the node queue;
 * bit 2: to the engine of a node alone, with no cluster, which does not
 * check incarnations: a seed cannot know the other's start time),
 * bytes 1-2 the length n of the properties (big-endian), n bytes of
 * properties (the flags word and the fields of AMQP 0-9-1 class 60, as a
 * header frame carries them after the body size), then the body.  The
 * dispatchers' own RabbitMQ user is "dd-nodes" (the seeds send it too).
 * fuzz/delivery_seeds.py writes the seed corpus.
 */
#include <amqp.h>
#include <amqp_framing.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker_internal.h"
#include "cluster.h"
#include "dkc_internal.h"
#include "engine_internal.h"
#include "log.h"

#define SETTLE_MS 2000 /* the longest an input is waited for */
#define FAKE_ID   "f0220000000000000000000000000000000000000000000000000000000000aa"

/* The fake Docker: creates and starts work, everything else is not
 * there. */
static int fake_perform(void *impl, const dkc__req *req, const char *vpath, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    (void)impl;
    (void)errbuf;
    (void)errlen;
    const char *p = vpath;
    if (!strncmp(p, "/v1.", 4) && strchr(p + 1, '/'))
        p = strchr(p + 1, '/');
    size_t n = strcspn(p, "?");
    const char *body = "{\"message\":\"fake: no such object\"}";
    resp->status = 404;
    if (n == 6 && !strncmp(p, "/_ping", n)) {
        snprintf(resp->api_version, sizeof resp->api_version, "1.41");
        resp->status = 200;
        body = "OK";
    } else if (n == 7 && !strncmp(p, "/events", n)) {
        resp->status = 200;
        body = "";
    } else if (n == 16 && !strncmp(p, "/containers/json", n)) {
        resp->status = 200;
        body = "[]";
    } else if (n == 18 && !strncmp(p, "/containers/create", n)) {
        resp->status = 201;
        body = "{\"Id\":\"" FAKE_ID "\",\"Warnings\":[]}";
    } else if (!strcmp(req->method, "POST") && n > 6 && !strncmp(p + n - 6, "/start", 6)) {
        resp->status = 204;
        body = "";
    }
    return dkc__buf_append(&resp->body, body, strlen(body));
}

static int fake_make(void *ud, dkc_client **out, char *errbuf, size_t errlen)
{
    dkc_options o;
    dkc_options_init(&o);
    o.host = "unix:///fake.sock";
    int rc = dkc_client_new(&o, out, errbuf, errlen);
    if (rc != 0)
        return rc;
    dkc__transport t = {.perform = fake_perform, .free = NULL, .impl = ud};
    dkc__client_set_transport(*out, &t);
    return 0;
}

static engine *g_engine, *g_alone;
static cluster *g_cluster;
static dd_policy g_policy;
static uint64_t g_tag;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (dkc_global_init() != 0)
        abort();
    log_setup(false, LOG_LVL_ERROR);
    FILE *null = fopen("/dev/null", "w");
    if (null != NULL)
        log_set_record_stream(null);
    policy_init(&g_policy);
    cluster_conf cc = {
        .node = "n1", .cluster = "c1", .version = "fuzz", .interval_ms = 1000, .expiry = 3};
    g_cluster = cluster_new(&cc);
    engine_conf conf = {.node = "n1",
                        .cluster = "c1",
                        .workers = 2,
                        .max_body = 1 << 20,
                        .output_limit = 1 << 16,
                        .quiet_output = true,
                        .members = g_cluster,
                        .amqp_user = "dd-nodes",
                        .gather_ms = 20,
                        .bulk_ms = 200,
                        .supervise_ms = 1000};
    engine_client_factory fac = {.make = fake_make, .ud = NULL};
    char why[256] = "";
    g_engine = engine_start(&conf, &g_policy, &fac, why, sizeof why);
    conf.members = NULL;
    conf.node = "n9";
    g_alone = g_engine ? engine_start(&conf, &g_policy, &fac, why, sizeof why) : NULL;
    if (g_alone == NULL) {
        fprintf(stderr, "engine_start: %s\n", why);
        abort();
    }
    return 0;
}

/* 1 if item o settles the delivery of tag. */
static int settles(const engine_out *o, uint64_t tag)
{
    switch (o->kind) {
    case ENGINE_OUT_ACK:
        return o->ack.tag == tag;
    case ENGINE_OUT_NACK:
        return o->nack.tag == tag;
    case ENGINE_OUT_REPLY:
        return o->reply.tag == tag || (o->reply.dl != NULL && o->reply.dl->tag == tag);
    case ENGINE_OUT_FORWARD:
        return o->forward.dl != NULL && o->forward.dl->tag == tag;
    default:
        return 0;
    }
}

/* Takes and frees e's outbox until an item settles tag or SETTLE_MS
 * pass. */
static void wait_settled(engine *e, uint64_t tag)
{
    struct timespec t0, now, nap = {0, 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int done = 0; !done;) {
        engine_out *l = engine_take_outbox(e);
        while (l != NULL) {
            engine_out *o = l;
            l = o->next;
            done |= settles(o, tag);
            engine_out_free(o);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > SETTLE_MS)
            return;
        if (!done)
            nanosleep(&nap, NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t n = (size_t)data[1] << 8 | data[2];
    if (n > size - 3)
        return 0;
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    amqp_bytes_t enc = {n, (void *)(data + 3)};
    amqp_basic_properties_t *props = NULL;
    if (amqp_decode_properties(AMQP_BASIC_CLASS, &pool, enc, (void **)&props) != AMQP_STATUS_OK ||
        props == NULL) {
        empty_amqp_pool(&pool);
        return 0;
    }
    broker_delivery d;
    brk_delivery_init(&d);
    int rc = brk_copy_props(&d, props);
    empty_amqp_pool(&pool);
    if (rc != 0) {
        broker_delivery_cleanup(&d);
        return 0;
    }
    d.tag = ++g_tag;
    d.redelivered = data[0] & 1;
    d.source = data[0] & 2 ? BROKER_SRC_NODE : BROKER_SRC_WORK;
    d.len = size - 3 - n;
    d.body = malloc(d.len + 1);
    if (d.body == NULL)
        abort();
    memcpy(d.body, data + 3 + n, d.len);
    d.body[d.len] = '\0';
    engine *e = data[0] & 4 ? g_alone : g_engine;
    engine_submit(e, &d);
    wait_settled(e, g_tag);
    return 0;
}
