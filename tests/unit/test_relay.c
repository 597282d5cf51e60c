/*
 * test_relay.c -- the delivery promise of the relay (src/relay), with the
 * broker replaced by a fake behind the relay's port.
 *
 * Each case hands relay_run() a list of outbox items made by the engine's
 * constructors, scripts what the fake broker answers, and checks the
 * broker calls the relay made, in order, as one line each ("publish
 * <exchange>|<key>|<flags>", "ack <tag>", ...).  On a mismatch both call
 * lists are printed.  The real broker is exercised by tests/integration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "relay.h"

#define MAX_CALLS 32
#define DIRECT    BROKER_REPLY_TO ".g1"
#define ID1       "c0ffee0000000000000000000000000000000000000000000000000000000001"

/* ------------------------------------------------------------------------
 * The fake broker
 * ------------------------------------------------------------------------ */

typedef struct fake_broker {
    char calls[MAX_CALLS][256]; /* every call of the port and the hooks */
    size_t n;
    int publish[8]; /* what publish() answers, in turn; after them 0 */
    size_t n_publish, next_publish;
    int confirm;    /* what confirm_batch() answers */
    int refused[8]; /* its out[k] */
    int gone;       /* the connection is lost: every call fails ENOTCONN */
} fake_broker;

static fake_broker fb;

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
    if (fb.n == MAX_CALLS)
        fail_msg("more than %d broker calls", MAX_CALLS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fb.calls[fb.n++], sizeof fb.calls[0], fmt, ap);
    va_end(ap);
}

/* The outcome of a call that would otherwise answer rc. */
static int outcome(int rc)
{
    if (fb.gone)
        return BROKER_ENOTCONN;
    if (rc == BROKER_ECONNLOST)
        fb.gone = 1;
    return rc;
}

static int f_publish(void *ud, const char *exchange, const char *key, const broker_props *p,
                     const void *body, size_t len, unsigned flags)
{
    (void)ud;
    (void)body;
    (void)len;
    const char *reason = p->n_headers ? p->headers[0].value : "";
    record("publish %s|%s|%u%s%s", exchange, key, flags, *reason ? "|" : "", reason);
    return outcome(fb.next_publish < fb.n_publish ? fb.publish[fb.next_publish++] : 0);
}

static int f_publish_batched(void *ud, const char *exchange, const char *key, const broker_props *p,
                             const void *body, size_t len)
{
    (void)ud;
    (void)p;
    (void)body;
    (void)len;
    record("batched %s|%s", exchange, key);
    return outcome(0);
}

static int f_confirm_batch(void *ud, int *out, size_t n)
{
    (void)ud;
    record("confirm %zu", n);
    int rc = outcome(fb.confirm);
    for (size_t k = 0; rc == 0 && k < n; k++)
        out[k] = k < 8 ? fb.refused[k] : 0;
    return rc;
}

static int f_ack(void *ud, uint64_t tag)
{
    (void)ud;
    record("ack %llu", (unsigned long long)tag);
    return outcome(0);
}

static int f_nack(void *ud, uint64_t tag, int requeue)
{
    (void)ud;
    record("nack %llu %d", (unsigned long long)tag, requeue);
    return outcome(0);
}

static int f_dead_letter(void *ud, const broker_delivery *d, const char *reason)
{
    (void)ud;
    record("dead_letter %llu %s", (unsigned long long)d->tag, reason);
    return outcome(0);
}

static int f_consume(void *ud, int on)
{
    (void)ud;
    record("consume %d", on);
    return outcome(0);
}

static int f_route(void *ud, const char *node, const char *key, int add)
{
    (void)ud;
    record("route %s|%s|%d", node ? node : "-", key, add);
    return outcome(0);
}

static int f_drain(void *ud, int on)
{
    (void)ud;
    record("drain %d", on);
    return outcome(0);
}

static const char *f_error(void *ud)
{
    (void)ud;
    return "the fake's reason";
}

static void h_after(void *ud, const char *container, int remove)
{
    (void)ud;
    record("after %.12s %d", container, remove);
}

static void h_unrouted(void *ud, broker_delivery *d)
{
    (void)ud;
    record("unrouted %llu", (unsigned long long)d->tag);
    broker_delivery_cleanup(d); /* moved to the engine */
}

static void h_part_failed(void *ud, const char *corr, int err)
{
    (void)ud;
    record("part_failed %s %s", corr, broker_strerror(err));
}

static void h_consuming(void *ud, int on)
{
    (void)ud;
    record("consuming %d", on);
}

static metrics_dd *g_metrics;
static volatile sig_atomic_t g_stop;

static relay make_relay(void)
{
    return (relay){.port = {.publish = f_publish,
                            .publish_batched = f_publish_batched,
                            .confirm_batch = f_confirm_batch,
                            .ack = f_ack,
                            .nack = f_nack,
                            .dead_letter = f_dead_letter,
                            .consume = f_consume,
                            .route = f_route,
                            .drain = f_drain,
                            .error = f_error},
                   .names = {.work = "q",
                             .dead = "q.dead",
                             .events = "q.events",
                             .all = "q.all",
                             .containers = "q.containers",
                             .user = "dispatchers"},
                   .hooks = {.after = h_after,
                             .unrouted = h_unrouted,
                             .part_failed = h_part_failed,
                             .consuming = h_consuming},
                   .metrics = g_metrics,
                   .stop = &g_stop};
}

static int setup(void **state)
{
    (void)state;
    memset(&fb, 0, sizeof fb);
    g_stop = 0;
    g_metrics = metrics_dd_new("test", "n1");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    metrics_dd_free(g_metrics);
    g_metrics = NULL;
    return 0;
}

/* Scripts publish() to answer the given codes in turn (then 0). */
static void script_publish(size_t n, const int *rcs)
{
    memcpy(fb.publish, rcs, n * sizeof *rcs);
    fb.n_publish = n;
}

/* Checks that the calls made are exactly want (NULL-terminated), in order,
 * and forgets them. */
static void expect_calls(const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    int same = n == fb.n;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(want[i], fb.calls[i]) == 0;
    if (!same) {
        print_error("expected %zu broker call(s):\n", n);
        for (size_t i = 0; i < n; i++)
            print_error("  %s\n", want[i]);
        print_error("the relay made %zu:\n", fb.n);
        for (size_t i = 0; i < fb.n; i++)
            print_error("  %s\n", fb.calls[i]);
    }
    assert_true(same);
    fb.n = 0;
}

#define CALLS(...) expect_calls((const char *const[]){__VA_ARGS__, NULL})

/* Runs the relay on list and checks its answer. */
static void run(engine_out **list, int want)
{
    relay r = make_relay();
    int rc = relay_run(&r, list);
    if (rc != want)
        print_error("relay_run: expected %s, got %s\n", want ? broker_strerror(want) : "0",
                    rc ? broker_strerror(rc) : "0");
    assert_int_equal(rc, want);
}

static double count(metrics_family *f, const char *label)
{
    return metrics_value(f, label ? (const char *[]){label} : NULL);
}

static void free_list(engine_out *l)
{
    while (l) {
        engine_out *o = l;
        l = o->next;
        engine_out_free(o);
    }
}

static size_t length(const engine_out *l)
{
    size_t n = 0;
    for (; l; l = l->next)
        n++;
    return n;
}

/* Items of the kinds the cases use. */
static engine_out *reply(uint64_t tag, const char *to)
{
    return engine_out_reply(tag, to, "corr-1", strdup("{\"ok\":true}"));
}

static engine_out *event(const char *key)
{
    return engine_out_event(key, strdup("{\"event\":1}"));
}

/* A delivery as the broker makes them (its strings malloc'd). */
static broker_delivery delivery(uint64_t tag, const char *reply_to)
{
    broker_delivery d = {.tag = tag, .persistent = 1};
    d.reply_to = reply_to ? strdup(reply_to) : NULL;
    d.correlation_id = strdup("corr-1");
    d.body = (unsigned char *)strdup("{\"Dockercmd\":\"stop\"}");
    d.len = strlen((const char *)d.body);
    return d;
}

static engine_out *chain(engine_out *a, engine_out *b)
{
    a->next = b;
    return a;
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

static void a_reply_is_acked_once_confirmed(void **state)
{
    (void)state;
    engine_out *l = chain(reply(11, "replies"), reply(12, DIRECT));
    run(&l, 0);
    /* a queue's reply is mandatory, a direct reply-to's cannot be */
    CALLS("publish |replies|1", "ack 11", "publish |" DIRECT "|0", "ack 12");
    assert_null(l);
    assert_int_equal(count(g_metrics->replies, NULL), 2);
}

static void a_lost_connection_before_the_confirm_keeps_the_message(void **state)
{
    (void)state;
    engine_out *o = reply(13, "replies");
    o->reply.after_remove = strdup(ID1);
    engine_out *l = chain(o, engine_out_ack(14));
    script_publish(1, (int[]){BROKER_ECONNLOST});
    run(&l, BROKER_ECONNLOST);
    /* the reply may be lost: the message is not acked, its container
     * stays, and the item waits for the reconnect */
    CALLS("publish |replies|1");
    assert_ptr_equal(l, o);
    assert_int_equal(length(l), 2);
    fb.gone = 0; /* reconnected */
    run(&l, 0);
    CALLS("publish |replies|1", "after c0ffee000000 1", "ack 13", "ack 14");
    assert_null(l);
}

static void an_unroutable_reply_is_dead_lettered_and_acked(void **state)
{
    (void)state;
    engine_out *l = reply(15, "gone-queue");
    script_publish(1, (int[]){BROKER_EUNROUTABLE});
    run(&l, 0);
    CALLS("publish |gone-queue|1",
          "publish |q.dead|0|reply_to queue does not exist: reply not delivered", "ack 15");
    assert_int_equal(count(g_metrics->dead_letters, "reply_unroutable"), 1);
}

static void bad_input_is_dead_lettered_after_its_reply(void **state)
{
    (void)state;
    engine_out *o = reply(16, "replies");
    broker_delivery d = delivery(16, "replies");
    o->reply.dl = malloc(sizeof d);
    *o->reply.dl = d;
    o->reply.reason = strdup("bad_request: no Dockercmd");
    engine_out *l = o;
    run(&l, 0);
    CALLS("publish |replies|1", "dead_letter 16 bad_request: no Dockercmd");
    assert_int_equal(count(g_metrics->dead_letters, "bad_request"), 1);
}

static void a_removal_follows_only_a_confirmed_reply(void **state)
{
    (void)state;
    engine_out *rm = reply(0, "replies"), *mark = reply(0, "replies");
    rm->reply.after_remove = strdup(ID1);
    mark->reply.after_remove = strdup(ID1);
    mark->reply.after_mark = 1;
    engine_out *l = chain(rm, mark);
    run(&l, 0);
    CALLS("publish |replies|1", "after c0ffee000000 1", "ack 0", "publish |replies|1",
          "after c0ffee000000 0", "ack 0");
}

/* ------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------ */

static void a_confirmed_batch_acks_each_reply(void **state)
{
    (void)state;
    engine_out *o = reply(22, DIRECT);
    o->reply.after_remove = strdup(ID1);
    o->reply.after_mark = 1;
    engine_out *l = chain(reply(21, DIRECT), chain(event("container.start"), o));
    run(&l, 0);
    CALLS("batched |" DIRECT, "batched q.events|container.start", "batched |" DIRECT, "confirm 3",
          "ack 21", "after c0ffee000000 0", "ack 22");
    assert_int_equal(count(g_metrics->replies, NULL), 2);
}

static void a_batch_whose_confirm_is_lost_acks_nothing(void **state)
{
    (void)state;
    engine_out *l = chain(reply(21, DIRECT), chain(event("container.start"), reply(22, DIRECT)));
    fb.confirm = BROKER_ECONNLOST;
    run(&l, BROKER_ECONNLOST);
    CALLS("batched |" DIRECT, "batched q.events|container.start", "batched |" DIRECT, "confirm 3");
    assert_int_equal(length(l), 3); /* all of it again after the reconnect */
    free_list(l);
}

static void a_batch_over_a_closed_channel_goes_again(void **state)
{
    (void)state;
    engine_out *l = chain(reply(21, DIRECT), reply(22, DIRECT));
    fb.confirm = BROKER_ECHANNEL;
    run(&l, 0);
    /* which got through is unknown: none is acked for the batch; each
     * goes again, the first the single way */
    CALLS("batched |" DIRECT, "batched |" DIRECT, "confirm 2", "publish |" DIRECT "|0", "ack 21",
          "publish |" DIRECT "|0", "ack 22");
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static void a_refused_event_is_counted_and_the_rest_goes_on(void **state)
{
    (void)state;
    engine_out *l = chain(event("container.die"), reply(31, "replies"));
    script_publish(1, (int[]){BROKER_ENACKED});
    run(&l, 0);
    CALLS("publish q.events|container.die|0", "publish |replies|1", "ack 31");
    assert_int_equal(count(g_metrics->events_dropped, NULL), 1);
}

static void an_event_on_a_lost_connection_is_kept(void **state)
{
    (void)state;
    engine_out *l = event("container.die");
    script_publish(1, (int[]){BROKER_ECONNLOST});
    run(&l, BROKER_ECONNLOST);
    CALLS("publish q.events|container.die|0");
    assert_int_equal(length(l), 1);
    assert_int_equal(count(g_metrics->events_dropped, NULL), 0);
    free_list(l);
}

/* ------------------------------------------------------------------------
 * Other nodes, consuming
 * ------------------------------------------------------------------------ */

static void a_forward_no_queue_took_goes_back_to_the_engine(void **state)
{
    (void)state;
    broker_delivery d = delivery(41, "replies");
    engine_out *l = engine_out_forward(ENGINE_TO_CONTAINERS, NULL, ID1, &d, strdup("{}"));
    script_publish(1, (int[]){BROKER_EUNROUTABLE});
    run(&l, 0);
    /* unsettled: the engine asks the nodes who owns it */
    CALLS("publish q.containers|" ID1 "|1", "unrouted 41");
}

static void a_forward_to_a_node_no_queue_took_is_answered(void **state)
{
    (void)state;
    broker_delivery d = delivery(42, "replies");
    engine_out *l = engine_out_forward(ENGINE_TO_NODE, "n2", "", &d, strdup("{\"ok\":false}"));
    script_publish(1, (int[]){BROKER_EUNROUTABLE});
    run(&l, 0);
    CALLS("publish |q.node.n2|1", "publish |replies|0", "ack 42");
}

static void a_forward_that_failed_is_requeued(void **state)
{
    (void)state;
    broker_delivery d = delivery(43, "replies");
    engine_out *l = engine_out_forward(ENGINE_TO_NODE, "n2", "", &d, strdup("{}"));
    script_publish(1, (int[]){BROKER_ENACKED});
    run(&l, 0);
    CALLS("publish |q.node.n2|1", "nack 43 1");
}

static void a_part_that_failed_is_told_to_its_gather(void **state)
{
    (void)state;
    engine_out *l = engine_out_publish(ENGINE_TO_ALL, NULL, "", "g1all", NULL, strdup("{}"));
    l->next = engine_out_route(NULL, ID1, 1);
    script_publish(1, (int[]){BROKER_EUNROUTABLE});
    run(&l, 0);
    char failed[128];
    snprintf(failed, sizeof failed, "part_failed g1all %s", broker_strerror(BROKER_EUNROUTABLE));
    CALLS("publish q.all||1", failed, "route -|" ID1 "|1");
}

static void consuming_resumes_only_while_running(void **state)
{
    (void)state;
    engine_out *l = chain(engine_out_pause(), chain(engine_out_resume(), engine_out_drain(1)));
    run(&l, 0);
    CALLS("consume 0", "consuming 0", "consume 1", "consuming 1", "drain 1");
    g_stop = 1;
    l = engine_out_resume();
    run(&l, 0);
    CALLS("consuming 1");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_reply_is_acked_once_confirmed),
        T(a_lost_connection_before_the_confirm_keeps_the_message),
        T(an_unroutable_reply_is_dead_lettered_and_acked),
        T(bad_input_is_dead_lettered_after_its_reply),
        T(a_removal_follows_only_a_confirmed_reply),
        T(a_confirmed_batch_acks_each_reply),
        T(a_batch_whose_confirm_is_lost_acks_nothing),
        T(a_batch_over_a_closed_channel_goes_again),
        T(a_refused_event_is_counted_and_the_rest_goes_on),
        T(an_event_on_a_lost_connection_is_kept),
        T(a_forward_no_queue_took_goes_back_to_the_engine),
        T(a_forward_to_a_node_no_queue_took_is_answered),
        T(a_forward_that_failed_is_requeued),
        T(a_part_that_failed_is_told_to_its_gather),
        T(consuming_resumes_only_while_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
