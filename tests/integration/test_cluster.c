/*
 * test_cluster.c -- the cluster environment (cluster_fx.h) with today's
 * features: three dispatchers, each on its own dockerd and its own node of
 * a three-node RabbitMQ cluster, share one quorum work queue.
 *
 *   spread      60 varied runs published through RabbitMQ node 1 are each
 *               answered exactly once, and their containers are spread over
 *               the three dockerd (every dispatcher takes some)
 *   node_down   with RabbitMQ node 3 stopped, a stream of runs is still
 *               answered, each once; dispatcher 3 (it has every node's URL)
 *               reconnects to another node and serves there; node 3 comes
 *               back, rejoins, and every dispatcher serves again
 *   restarts    a dispatcher killed (SIGKILL) and one stopped (SIGTERM) are
 *               started again by the fixture and serve again
 *
 * The node stopped is node 3: node 1 carries the test's traffic (requests
 * go in there and the reply queue, a classic queue, lives there), and
 * nodes 2 and 3 are alike.  Every phase prints its figures as "# figure:"
 * lines: the environment's start-up, per-dockerd counts, how long a node
 * took to stop, rejoin and be served again.
 *
 * Needs root and the shared dockerd with busybox:latest; ports 5710-5779
 * and 25710-25799 (see cluster_fx.h).  85-95 s on 2 cores, of which the
 * environment's start is 23-27 s and its stop 7-13 s.  $DISPATCH_BIN and
 * $DD_SCRIPTS as tests/meson.build sets them; CMOCKA_TEST_FILTER and
 * CMOCKA_SKIP_FILTER pick cases (the environment starts all the same).
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

#include "cluster_fx.h"
#include "daemon_fx.h"

#define N_SPREAD  60    /* runs of the spread phase */
#define N_DOWN    30    /* runs while node 3 is down, and again after it is back */
#define N_KINDS   7     /* kinds of runs, see make_body() */
#define REPLY_MS  90000 /* longest wait for a phase's replies */
#define SETTLE_MS 1500  /* further draining, for second replies */
#define STOPPED   3     /* the RabbitMQ node stopped in node_down */
#define MAX_SHOWN 5     /* examples printed per failed check */
#define MAX_REQ   (N_SPREAD + 2 * N_DOWN + 16)

/* One request and its expectations. */
typedef struct req {
    char id[64];
    int kind;
    char token[48];
} req;

static struct {
    cfx *env;
    cfx_replies *rep;
    int64_t t0, start_ms;
    req r[MAX_REQ];
    int nr;
    int seq;
} g;

/* The body of a run of kind k printing token:
 *   0  echo, attached and removed
 *   1  echo and exit 3
 *   2  echo on stderr
 *   3  sleep 0.3, then echo
 *   4  echo, attached, kept (removed by the fixture at the end)
 *   5  true, detached: answered once started
 *   6  sleep 5 with a 1 s time limit: timed out */
static void make_body(char *buf, size_t len, int k, const char *token)
{
    static const char att[] = "\"Attach\":[\"STDOUT\",\"STDERR\"],";
    static const char pre[] = "{\"Dockercmd\":\"run\",\"Image\":\"" CFX_IMAGE "\",\"Cmd\":";
    switch (k) {
    case 0:
        snprintf(buf, len, "%s[\"echo\",\"%s\"],\"Options\":{%s\"Remove\":true,%s}}", pre, token,
                 att, "\"NetworkMode\":\"none\"");
        break;
    case 1:
        snprintf(buf, len,
                 "%s[\"sh\",\"-c\",\"echo %s; exit 3\"],\"Options\":{%s\"Remove\":true,"
                 "\"NetworkMode\":\"none\"}}",
                 pre, token, att);
        break;
    case 2:
        snprintf(buf, len,
                 "%s[\"sh\",\"-c\",\"echo %s >&2\"],\"Options\":{%s\"Remove\":true,"
                 "\"NetworkMode\":\"none\"}}",
                 pre, token, att);
        break;
    case 3:
        snprintf(buf, len,
                 "%s[\"sh\",\"-c\",\"sleep 0.3; echo %s\"],\"Options\":{%s\"Remove\":true,"
                 "\"NetworkMode\":\"none\"}}",
                 pre, token, att);
        break;
    case 4:
        snprintf(buf, len, "%s[\"echo\",\"%s\"],\"Options\":{%s\"NetworkMode\":\"none\"}}", pre,
                 token, att);
        break;
    case 5:
        snprintf(buf, len, "%s[\"true\"],\"Options\":{\"NetworkMode\":\"none\"}}", pre);
        break;
    default:
        snprintf(buf, len,
                 "%s[\"sleep\",\"5\"],\"Options\":{%s\"Remove\":true,\"Timeout\":1,"
                 "\"NetworkMode\":\"none\"}}",
                 pre, att);
        break;
    }
}

/* 1 if reply j says what a run of kind k with token promises; why says
 * what is off otherwise. */
static int reply_ok(const json_t *j, int k, const char *token, char *why, size_t len)
{
    json_t *res = json_object_get(j, "result");
    const char *out = json_string_value(json_object_get(res, "stdout"));
    const char *err = json_string_value(json_object_get(res, "stderr"));
    json_int_t code = json_integer_value(json_object_get(res, "exit_code"));
    int removed = json_is_true(json_object_get(res, "removed"));
    const char *cid = json_string_value(json_object_get(json_object_get(res, "container"), "id"));
    if (!json_is_true(json_object_get(j, "ok"))) {
        snprintf(why, len, "not ok");
        return 0;
    }
    switch (k) {
    case 0:
    case 3:
    case 4:
    case 1:
        if (out == NULL || strstr(out, token) == NULL)
            snprintf(why, len, "stdout without the token");
        else if (code != (k == 1 ? 3 : 0))
            snprintf(why, len, "exit code %lld", (long long)code);
        else if (removed != (k != 4))
            snprintf(why, len, "removed is %d", removed);
        else
            return 1;
        return 0;
    case 2:
        if (err == NULL || strstr(err, token) == NULL) {
            snprintf(why, len, "stderr without the token");
            return 0;
        }
        return 1;
    case 5:
        if (cid == NULL || *cid == '\0') {
            snprintf(why, len, "no container id");
            return 0;
        }
        return 1;
    default:
        if (!json_is_true(json_object_get(res, "timed_out"))) {
            snprintf(why, len, "timed_out is not true");
            return 0;
        }
        return 1;
    }
}

/* Adds a request of kind k to phase tag; its index. */
static int add_req(const char *tag, int k)
{
    assert_true(g.nr < MAX_REQ);
    req *r = &g.r[g.nr];
    r->kind = k;
    snprintf(r->id, sizeof r->id, "cl%ld-%s-%d", (long)getpid(), tag, ++g.seq);
    snprintf(r->token, sizeof r->token, "tok-%s-%d", tag, g.seq);
    return g.nr++;
}

/* Publishes request idx to routing key rk through node 1. */
static void send_req(int idx, const char *rk)
{
    char body[512];
    req *r = &g.r[idx];
    make_body(body, sizeof body, r->kind, r->token);
    int rc = cfx_send(g.rep, rk, r->id, body);
    if (rc != 0)
        fail_msg("cannot publish %s through RabbitMQ node 1: %s", r->id, broker_strerror(rc));
}

/* Per-phase outcome: replies and Docker's creates per node. */
typedef struct tally {
    int replies[CFX_MAX_NODES + 1]; /* by the reply's node; [0]: unknown node */
    int creates[CFX_MAX_NODES + 1]; /* by dockerd, from the event record */
    int missing, doubles, wrong, lost_creates, extra_creates, elsewhere;
    int64_t ms;
    int slowest; /* the request answered last, its reply's arrival after the first publish */
    int64_t slowest_ms;
} tally;

/* Waits for the replies of requests [from, to) and judges them: each has
 * exactly one reply that says what its kind promises, and one container
 * on the dockerd of the node that answered.  Fails the test otherwise. */
static tally judge(int from, int to, int64_t t_sent)
{
    tally t;
    memset(&t, 0, sizeof t);
    const char *ids[MAX_REQ] = {NULL};
    for (int i = from; i < to; i++)
        ids[i - from] = g.r[i].id;
    t.missing = cfx_replies_wait(g.rep, ids, (size_t)(to - from), REPLY_MS, SETTLE_MS);
    t.ms = dfx_now_ms() - t_sent - SETTLE_MS;
    usleep(200 * 1000); /* the last create events reach the record */
    int shown = 0, slowest = -1;
    int64_t slow_ms = -1;
    for (int i = from; i < to; i++) {
        int64_t at = cfx_replies_first_at(g.rep, g.r[i].id);
        if (at > 0 && at - t_sent > slow_ms) {
            slow_ms = at - t_sent;
            slowest = i;
        }
    }
    t.slowest = slowest;
    t.slowest_ms = slow_ms;
    for (int i = from; i < to; i++) {
        const req *r = &g.r[i];
        int n = cfx_replies_count(g.rep, r->id);
        json_t *j = cfx_replies_first(g.rep, r->id);
        int where = 0, creates = cfx_creates_of(g.env, r->id, &where);
        int by = cfx_node_index(g.env, json_string_value(json_object_get(j, "node")));
        char why[160] = "";
        if (n > 1)
            t.doubles++;
        if (j) {
            t.replies[by]++;
            if (!reply_ok(j, r->kind, r->token, why, sizeof why))
                t.wrong++;
        }
        if (creates == 0 && j)
            t.lost_creates++;
        if (creates > 1)
            t.extra_creates++;
        if (creates >= 1 && by != where)
            t.elsewhere++;
        if (creates >= 1)
            t.creates[where]++;
        if ((n != 1 || why[0] || creates != 1 || by != where) && shown++ < MAX_SHOWN) {
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            dfx_note("%s (kind %d): %d replies, %d creates (first on dockerd %d), answered by node "
                     "%d%s%s: %.300s",
                     r->id, r->kind, n, creates, where, by, why[0] ? ", " : "", why, s ? s : "-");
            free(s);
        }
    }
    return t;
}

/* Prints the per-node figures of a phase. */
static void print_tally(const char *phase, int n, const tally *t)
{
    char rep[128] = "", cre[128] = "";
    size_t a = 0, b = 0;
    for (int i = 1; i <= cfx_nodes(g.env); i++) {
        a += (size_t)snprintf(rep + a, sizeof rep - a, "%sn%d %d", i > 1 ? ", " : "", i,
                              t->replies[i]);
        b += (size_t)snprintf(cre + b, sizeof cre - b, "%sdockerd %d: %d", i > 1 ? ", " : "", i,
                              t->creates[i]);
    }
    dfx_figure("%s: %d runs answered in %.1f s; replies by node: %s; containers created: %s", phase,
               n, (double)t->ms / 1000.0, rep, cre);
    if (t->slowest >= 0)
        dfx_figure("%s: the last reply (%s, kind %d) arrived %.1f s after the first publish", phase,
                   g.r[t->slowest].id, g.r[t->slowest].kind, (double)t->slowest_ms / 1000.0);
}

/* Fails unless the phase's tally is clean. */
static void assert_clean(const char *phase, int n, const tally *t)
{
    if (t->missing || t->doubles || t->wrong || t->lost_creates || t->extra_creates ||
        t->elsewhere || t->replies[0] || cfx_replies_strays(g.rep))
        fail_msg("%s: of %d runs %d got no reply, %d more than one, %d a wrong one; %d made no "
                 "container, %d more than one, %d on another node's dockerd; %d replies from an "
                 "unknown node; %d stray replies",
                 phase, n, t->missing, t->doubles, t->wrong, t->lost_creates, t->extra_creates,
                 t->elsewhere, t->replies[0], cfx_replies_strays(g.rep));
    int misplaced = cfx_creates_misplaced(g.env);
    if (misplaced)
        fail_msg("%s: %d containers carry another node's label than their dockerd's", phase,
                 misplaced);
}

/* Sends one run to dispatcher i's own queue and waits up to timeout_ms for
 * its reply; fails unless dispatcher i answered it once, with its
 * container on dockerd i.  Returns the milliseconds it took. */
static int64_t probe(int i, int timeout_ms)
{
    char rk[200];
    snprintf(rk, sizeof rk, "%s.node.%s", cfx_queue(g.env), cfx_node_name(g.env, i));
    char tag[16];
    snprintf(tag, sizeof tag, "probe%d", i);
    int idx = add_req(tag, 0);
    int64_t t = dfx_now_ms();
    send_req(idx, rk);
    const char *ids[] = {g.r[idx].id};
    int missing = cfx_replies_wait(g.rep, ids, 1, timeout_ms, 0);
    int64_t ms = dfx_now_ms() - t;
    if (missing)
        fail_msg("dispatcher %d did not answer a run on its own queue within %d ms; see %s", i,
                 timeout_ms, cfx_log(g.env, i));
    tally tl = judge(idx, idx + 1, t);
    assert_clean(tag, 1, &tl);
    assert_int_equal(tl.replies[i], 1);
    return ms;
}

/* (a) 60 varied runs through node 1, each answered once, spread over every
 * dockerd. */
static void test_spread(void **state)
{
    (void)state;
    int from = g.nr;
    for (int k = 0; k < N_SPREAD; k++)
        add_req("spread", k % N_KINDS);
    int64_t t = dfx_now_ms();
    for (int i = from; i < g.nr; i++)
        send_req(i, cfx_queue(g.env));
    dfx_figure("spread: %d runs published through RabbitMQ node 1 in %.2f s", N_SPREAD,
               (double)(dfx_now_ms() - t) / 1000.0);
    tally tl = judge(from, g.nr, t);
    print_tally("spread", N_SPREAD, &tl);
    assert_clean("spread", N_SPREAD, &tl);
    for (int i = 1; i <= cfx_nodes(g.env); i++)
        if (tl.creates[i] == 0)
            fail_msg("spread: dispatcher %d (dockerd %d) took none of the %d runs", i, i, N_SPREAD);
}

/* (b) RabbitMQ node 3 down: the stream goes on through nodes 1 and 2;
 * node 3 back: it rejoins and dispatcher 3 serves again. */
static void test_node_down(void **state)
{
    (void)state;
    const int s = STOPPED;
    int64_t t = dfx_now_ms();
    assert_int_equal(cfx_rabbit_stop(g.env, s), 0);
    dfx_figure("node_down: RabbitMQ node %d stopped in %.1f s", s,
               (double)(dfx_now_ms() - t) / 1000.0);
    /* its dispatcher lost its connection and retries; it must not exit */
    usleep(500 * 1000);
    int st;
    if (cfx_dispatcher_pid(g.env, s, &st) == 0)
        fail_msg("dispatcher %d exited (wait status %d) when its RabbitMQ node stopped; see %s", s,
                 st, cfx_log(g.env, s));
    char wq[160];
    snprintf(wq, sizeof wq, "%s", cfx_queue(g.env));
    if (cfx_wait_consumers(g.env, wq, (unsigned)cfx_nodes(g.env) - 1, 10000) != 0)
        dfx_note("node_down: the work queue does not show %d consumers yet", cfx_nodes(g.env) - 1);

    /* the stream, while node 3 is down */
    int from = g.nr;
    for (int k = 0; k < N_DOWN; k++)
        add_req("down", k % N_KINDS);
    t = dfx_now_ms();
    for (int i = from; i < g.nr; i++)
        send_req(i, cfx_queue(g.env));
    dfx_figure("node_down: %d runs published through RabbitMQ node 1 in %.2f s", N_DOWN,
               (double)(dfx_now_ms() - t) / 1000.0);
    tally tl = judge(from, g.nr, t);
    print_tally("node_down: with node 3 stopped", N_DOWN, &tl);
    assert_clean("node_down (node 3 stopped)", N_DOWN, &tl);
    if (cfx_dispatcher_pid(g.env, s, &st) == 0)
        fail_msg("dispatcher %d exited (wait status %d) while its RabbitMQ node was down", s, st);

    /* failover: dispatcher 3 has every node's URL; it reconnects to node 1
     * or 2 while node 3 is still down and serves its own queue there */
    int64_t fo = probe(s, 60000);
    dfx_figure("node_down: dispatcher %d served through another RabbitMQ node while node %d was "
               "down (%.1f s for the probe); it took %d of the %d runs",
               s, s, (double)fo / 1000.0, tl.creates[s], N_DOWN);
    if (cfx_wait_consumers(g.env, wq, (unsigned)cfx_nodes(g.env), 20000) != 0)
        fail_msg("with node %d down the work queue does not show %d consumers", s,
                 cfx_nodes(g.env));

    /* node 3 comes back and rejoins; dispatcher 3 reconnects (its backoff
     * is up to 30 s by now) and serves its own queue and shared work */
    t = dfx_now_ms();
    assert_int_equal(cfx_rabbit_start(g.env, s), 0);
    dfx_figure("node_down: RabbitMQ node %d started again and rejoined in %.1f s", s,
               (double)(dfx_now_ms() - t) / 1000.0);
    int64_t ms = probe(s, 60000);
    dfx_figure("node_down: dispatcher %d served again %.1f s after its node was back", s,
               (double)ms / 1000.0);
    if (cfx_wait_consumers(g.env, wq, (unsigned)cfx_nodes(g.env), 20000) != 0)
        fail_msg("the work queue does not show %d consumers again", cfx_nodes(g.env));

    from = g.nr;
    for (int k = 0; k < N_DOWN; k++)
        add_req("back", k % N_KINDS);
    t = dfx_now_ms();
    for (int i = from; i < g.nr; i++)
        send_req(i, cfx_queue(g.env));
    tl = judge(from, g.nr, t);
    print_tally("node_down: node 3 back", N_DOWN, &tl);
    assert_clean("node_down (node 3 back)", N_DOWN, &tl);
    if (tl.creates[s] == 0)
        fail_msg("dispatcher %d took none of the %d runs after its node came back", s, N_DOWN);
}

/* The fixture's restarts: SIGKILL of dispatcher 2, SIGTERM of dispatcher
 * 1 (which exits 0), each started again and answering on its own queue. */
static void test_restarts(void **state)
{
    (void)state;
    int64_t t = dfx_now_ms();
    assert_int_equal(cfx_dispatcher_restart(g.env, 2, SIGKILL), 0);
    dfx_figure("restarts: dispatcher 2 killed and consuming again in %.1f s",
               (double)(dfx_now_ms() - t) / 1000.0);
    probe(2, 30000);

    t = dfx_now_ms();
    int st = cfx_dispatcher_stop(g.env, 1, SIGTERM, 30000);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("dispatcher 1 did not exit 0 on SIGTERM (wait status %d); see %s", st,
                 cfx_log(g.env, 1));
    assert_int_equal(cfx_dispatcher_start(g.env, 1), 0);
    dfx_figure("restarts: dispatcher 1 stopped (exit 0) and consuming again in %.1f s",
               (double)(dfx_now_ms() - t) / 1000.0);
    probe(1, 30000);
    assert_int_equal(cfx_wait_consumers(g.env, cfx_queue(g.env), 3, 20000), 0);
}

/* Each test starts from the whole environment, even after one that
 * failed halfway (a RabbitMQ node or a dispatcher left stopped). */
static int restore(void **state)
{
    (void)state;
    return cfx_restore(g.env);
}

static int group_setup(void **state)
{
    (void)state;
    g.t0 = dfx_now_ms();
    cfx_conf c;
    cfx_conf_init(&c);
    g.env = cfx_start(&c);
    if (g.env == NULL)
        return -1;
    g.start_ms = dfx_now_ms() - g.t0;
    dfx_figure("environment: 3 RabbitMQ nodes (ports %d-%d), 3 dockerd, 3 dispatchers up in %.1f s "
               "(services %.1f s, then dispatchers %.1f s)",
               cfx_amqp_port(g.env, 1), cfx_amqp_port(g.env, 3), (double)g.start_ms / 1000.0,
               (double)cfx_services_ms(g.env) / 1000.0, (double)cfx_dispatchers_ms(g.env) / 1000.0);
    char rq[200];
    snprintf(rq, sizeof rq, "%s.replies", cfx_queue(g.env));
    g.rep = cfx_replies_new(g.env, 1, rq);
    if (g.rep == NULL) { /* no group teardown after a failed group setup */
        cfx_stop(g.env);
        g.env = NULL;
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    cfx_replies_free(g.rep);
    int64_t t = dfx_now_ms();
    cfx_stop(g.env);
    dfx_figure("environment stopped and removed in %.1f s; the program took %.1f s",
               (double)(dfx_now_ms() - t) / 1000.0, (double)(dfx_now_ms() - g.t0) / 1000.0);
    return 0;
}

int main(void)
{
    const char *only = getenv("CMOCKA_TEST_FILTER"), *skip = getenv("CMOCKA_SKIP_FILTER");
    if (only && *only) /* e.g. "test_node_down" while working on one case */
        cmocka_set_test_filter(only);
    if (skip && *skip)
        cmocka_set_skip_filter(skip);
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_spread, restore),
        cmocka_unit_test_setup(test_node_down, restore),
        cmocka_unit_test_setup(test_restarts, restore),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
