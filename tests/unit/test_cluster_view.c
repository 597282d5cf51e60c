/*
 * test_cluster_view.c -- the cluster module without a broker: placement (spread
 * even within one, binpack, capacity), the membership view (heartbeats,
 * other clusters, expiry, node.down, slots) and gathers (answers matched
 * by correlation id prefix, failures, waits that end on a leaving node).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

static cluster *new_cluster(const char *node)
{
    cluster_conf cc = {
        .node = node, .cluster = "jobs", .version = "t", .interval_ms = 100, .expiry = 3};
    return cluster_new(&cc);
}

/* A heartbeat of another node as it would be heard. */
static int hear(cluster *c, const char *node, const char *cl, int running, int64_t now)
{
    char body[512], key[128];
    snprintf(body, sizeof body,
             "{\"event\":\"node.heartbeat\",\"node\":\"%s\",\"cluster\":\"%s\",\"docker\":true,"
             "\"draining\":false,\"running\":%d,\"containers\":%d,\"inflight\":0,"
             "\"capacity\":0,\"interval_ms\":100,\"started\":7}",
             node, cl, running, running);
    snprintf(key, sizeof key, "node.heartbeat.%s", node);
    return cluster_heard(c, key, body, strlen(body), now, NULL, 0);
}

static void t_spread_even(void **state)
{
    (void)state;
    cluster_slot s[3] = {{"a", 0, 0}, {"b", 0, 0}, {"c", 0, 0}};
    int out[300];
    assert_int_equal(cluster_place_pieces(s, 3, 300, false, out), 300);
    int n[3] = {0};
    for (int k = 0; k < 300; k++)
        n[out[k]]++;
    assert_int_equal(n[0], 100);
    assert_int_equal(n[1], 100);
    assert_int_equal(n[2], 100);
    /* an uneven start is evened out: loads end within one */
    cluster_slot u[3] = {{"a", 40, 0}, {"b", 0, 0}, {"c", 7, 0}};
    assert_int_equal(cluster_place_pieces(u, 3, 101, false, out), 101);
    int load[3] = {40, 0, 7};
    for (int k = 0; k < 101; k++)
        load[out[k]]++;
    int lo = load[0], hi = load[0];
    for (int i = 1; i < 3; i++) {
        lo = load[i] < lo ? load[i] : lo;
        hi = load[i] > hi ? load[i] : hi;
    }
    assert_true(hi - lo <= 1);
}

static void t_binpack_capacity(void **state)
{
    (void)state;
    cluster_slot s[3] = {{"a", 1, 5}, {"b", 3, 5}, {"c", 0, 0}};
    int out[10];
    assert_int_equal(cluster_place_pieces(s, 3, 10, true, out), 10);
    /* the busiest with room first: b up to 5, then c (no limit, but a has 1 < c's growing
     * load only once c passes it) */
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 1);
    int n[3] = {0};
    for (int k = 0; k < 10; k++)
        n[out[k]]++;
    assert_int_equal(n[1], 2); /* b: 3 + 2 = its capacity 5 */
    /* capacity everywhere: what has no room is not placed */
    cluster_slot f[2] = {{"a", 4, 5}, {"b", 5, 5}};
    assert_int_equal(cluster_place_pieces(f, 2, 3, false, out), 1);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], -1);
    assert_int_equal(out[2], -1);
    /* no slots at all */
    assert_int_equal(cluster_place_pieces(NULL, 0, 2, false, out), 0);
    assert_int_equal(out[0], -1);
}

static void t_view(void **state)
{
    (void)state;
    cluster *c = new_cluster("a");
    int64_t t = 1000;
    cluster_load load = {.running = 2, .docker = true};
    char key[128];
    free(cluster_heartbeat(c, &load, t, key, sizeof key));
    assert_string_equal(key, "node.heartbeat.a");
    assert_int_equal(hear(c, "b", "jobs", 5, t), 1);  /* joined */
    assert_int_equal(hear(c, "b", "jobs", 6, t), 0);  /* refreshed */
    assert_int_equal(hear(c, "x", "other", 0, t), 0); /* another cluster */
    assert_int_equal(hear(c, "a", "jobs", 0, t), 0);  /* our own, heard back */
    size_t n = 0;
    char **names = cluster_names(c, &n);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    cluster_names_free(names);
    json_t *nodes = cluster_nodes_json(c, t);
    assert_int_equal(json_array_size(nodes), 2);
    assert_true(json_is_true(json_object_get(json_array_get(nodes, 0), "self")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(nodes, 1), "running")), 6);
    json_decref(nodes);
    /* slots: both; a draining node takes none */
    cluster_slot *s = NULL;
    size_t k = cluster_slots(c, NULL, &s);
    assert_int_equal(k, 2);
    cluster_slots_free(s, k);
    char *skip[] = {"b", NULL};
    k = cluster_slots(c, skip, &s);
    assert_int_equal(k, 1);
    assert_string_equal(s[0].name, "a");
    cluster_slots_free(s, k);
    /* expiry: silent for three intervals; never this node itself */
    assert_null(cluster_expire(c, t + 299));
    /* a turn of the loop that did not listen for 250 ms beyond an
     * interval: the others' silence is counted without it */
    assert_int_equal(cluster_ticked(c, t + 50), 0);
    assert_int_equal(cluster_ticked(c, t + 400), 250);
    assert_null(cluster_expire(c, t + 549));
    char **gone = cluster_expire(c, t + 550);
    assert_non_null(gone);
    assert_string_equal(gone[0], "b");
    assert_null(gone[1]);
    cluster_names_free(gone);
    assert_false(cluster_has(c, "b"));
    assert_true(cluster_has(c, "a"));
    /* node.down: gone at once */
    hear(c, "c", "jobs", 0, t + 400);
    const char *down = "{\"event\":\"node.down\",\"node\":\"c\"}";
    assert_int_equal(cluster_heard(c, "node.down.c", down, strlen(down), t + 401, NULL, 0), -1);
    assert_false(cluster_has(c, "c"));
    /* not JSON, other keys: ignored */
    assert_int_equal(cluster_heard(c, "node.heartbeat.z", "{", 1, t, NULL, 0), 0);
    assert_int_equal(cluster_heard(c, "container.started.z", "{}", 2, t, NULL, 0), 0);
    cluster_free(c);
}

/* A heartbeat of node announcing interval `every` (ms). */
static void hear_every(cluster *c, const char *node, int every, int64_t now)
{
    char body[512], key[128];
    snprintf(body, sizeof body,
             "{\"event\":\"node.heartbeat\",\"node\":\"%s\",\"cluster\":\"jobs\","
             "\"docker\":true,\"interval_ms\":%d,\"started\":7}",
             node, every);
    snprintf(key, sizeof key, "node.heartbeat.%s", node);
    cluster_heard(c, key, body, strlen(body), now, NULL, 0);
}

/* The names cluster_expire returns at now, space-separated ("" for none). */
static const char *expired(cluster *c, int64_t now)
{
    static char out[256];
    char **gone = cluster_expire(c, now);
    out[0] = '\0';
    for (size_t i = 0; gone && gone[i]; i++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", i ? " " : "", gone[i]);
    cluster_names_free(gone);
    return out;
}

/* Each node leaves the view after `expiry` intervals of its own, the one
 * its last heartbeat announced, not this node's: a peer alone until a
 * moment ago beats seldom, one with a longer setting beats slower.  An
 * interval outside the daemon's range (100 ms to a minute) counts as
 * this node's. */
static void t_expiry_by_announced_interval(void **state)
{
    (void)state;
    cluster *c = new_cluster("a"); /* interval 100 ms, expiry 3 */
    int64_t t = 1000;
    hear_every(c, "fast", 100, t);
    hear_every(c, "odd", 5, t);
    hear_every(c, "slow", 1000, t);
    hear_every(c, "alone", CLUSTER_ALONE_INTERVAL_MS, t);
    assert_string_equal(expired(c, t + 299), "");
    assert_string_equal(expired(c, t + 300), "fast odd");
    assert_string_equal(expired(c, t + 2999), "");
    assert_string_equal(expired(c, t + 3000), "slow");
    assert_string_equal(expired(c, t + 3 * CLUSTER_ALONE_INTERVAL_MS - 1), "");
    assert_string_equal(expired(c, t + 3 * CLUSTER_ALONE_INTERVAL_MS), "alone");
    cluster_free(c);
}

/* The interval a heartbeat body announces. */
static int announced(const char *body)
{
    json_t *hb = json_loads(body, 0, NULL);
    int every = (int)json_integer_value(json_object_get(hb, "interval_ms"));
    json_decref(hb);
    return every;
}

/* A node alone in its view beats at the alone interval; one joining makes
 * it beat at once and every interval again; alone again, seldom again.  A
 * node heard during a long wait is not credited with the wait. */
static void t_alone(void **state)
{
    (void)state;
    cluster *c = new_cluster("a");
    int64_t t = 1000;
    cluster_load load = {.docker = true};
    char key[128];
    char *hb = cluster_heartbeat(c, &load, t, key, sizeof key);
    assert_int_equal(announced(hb), CLUSTER_ALONE_INTERVAL_MS);
    free(hb);
    assert_int_equal(cluster_announced_ms(c), CLUSTER_ALONE_INTERVAL_MS);
    /* alone: not woken for the beat, which waits for a turn that comes anyway */
    assert_int_equal(cluster_due_in(c, t + 1), CLUSTER_ALONE_INTERVAL_MS);
    assert_false(cluster_beat_due(c, t + CLUSTER_ALONE_INTERVAL_MS - 1));
    assert_true(cluster_beat_due(c, t + CLUSTER_ALONE_INTERVAL_MS));
    assert_int_equal(cluster_ticked(c, t), 0);
    /* b starts 30 s later: heard in the wait, it joins and a beats at once */
    int64_t j = t + 30000;
    assert_int_equal(hear(c, "b", "jobs", 0, j), 1);
    assert_int_equal(cluster_due_in(c, j), 0);
    assert_true(cluster_beat_due(c, j));
    assert_int_equal(cluster_ticked(c, j + 1), 30001 - 100); /* a long turn... */
    assert_null(cluster_expire(c, j + 299));                 /* ...not counted for b */
    hb = cluster_heartbeat(c, &load, j + 1, key, sizeof key);
    assert_int_equal(announced(hb), 100);
    free(hb);
    assert_int_equal(cluster_due_in(c, j + 1), 100);
    /* b goes silent: dropped, and a is alone again */
    char **gone = cluster_expire(c, j + 300);
    assert_non_null(gone);
    cluster_names_free(gone);
    hb = cluster_heartbeat(c, &load, j + 301, key, sizeof key);
    assert_int_equal(announced(hb), CLUSTER_ALONE_INTERVAL_MS);
    free(hb);
    cluster_free(c);
    /* an alone interval below the interval is the interval */
    cluster_conf cc = {.node = "a",
                       .cluster = "jobs",
                       .version = "t",
                       .interval_ms = 100,
                       .expiry = 3,
                       .alone_interval_ms = 50};
    c = cluster_new(&cc);
    hb = cluster_heartbeat(c, &load, t, key, sizeof key);
    assert_int_equal(announced(hb), 100);
    free(hb);
    cluster_free(c);
}

static broker_delivery reply(const char *corr, const char *body)
{
    broker_delivery d;
    memset(&d, 0, sizeof d);
    d.source = BROKER_SRC_REPLY;
    d.correlation_id = (char *)corr;
    d.body = (unsigned char *)body;
    d.len = strlen(body);
    return d;
}

typedef struct {
    cluster *c;
    char corr[128];
} late_arg;

/* A heartbeat of node on Docker host `host`. */
static void hear_on(cluster *c, const char *node, const char *host, int64_t now)
{
    char body[512], key[128];
    snprintf(body, sizeof body,
             "{\"event\":\"node.heartbeat\",\"node\":\"%s\",\"cluster\":\"jobs\",\"host\":"
             "\"%s\",\"docker\":true,\"interval_ms\":100,\"started\":7}",
             node, host);
    snprintf(key, sizeof key, "node.heartbeat.%s", node);
    cluster_heard(c, key, body, strlen(body), now, NULL, 0);
}

/* Departed nodes of this node's Docker host are adopted after the
 * hold-back by the first live node of the host by name, never those of
 * another host, and released when they come back. */
static void t_adoption(void **state)
{
    (void)state;
    cluster_conf cc = {.node = "m",
                       .cluster = "jobs",
                       .version = "t",
                       .host = "H1",
                       .interval_ms = 100,
                       .expiry = 3};
    cluster *c = cluster_new(&cc);
    int64_t t = 1000;
    hear_on(c, "d", "H1", t); /* a sibling that will die */
    hear_on(c, "x", "H2", t); /* another host's node that will die */
    hear_on(c, "z", "H1", t); /* a live sibling after us by name */
    assert_null(cluster_to_adopt(c, t, 300));
    /* d and x silent, z goes on */
    hear_on(c, "z", "H1", t + 250);
    char **gone = cluster_expire(c, t + 300);
    assert_non_null(gone);
    assert_string_equal(gone[0], "d");
    assert_string_equal(gone[1], "x");
    assert_null(gone[2]);
    cluster_names_free(gone);
    assert_null(cluster_to_adopt(c, t + 400, 300)); /* the hold-back */
    hear_on(c, "z", "H1", t + 500);
    char **a = cluster_to_adopt(c, t + 600, 300);
    assert_non_null(a);
    assert_string_equal(a[0], "d");
    assert_null(a[1]);
    cluster_names_free(a);
    assert_int_equal(cluster_holdback_ms(c), 300);
    /* alone with a departed sibling: the broker thread is due back when its
     * hold-back ends, not a (long) alone interval later */
    cluster_conf lc = cc;
    lc.node = "l";
    cluster *cl = cluster_new(&lc);
    cluster_load load = {.docker = true};
    char key[128];
    hear_on(cl, "d", "H1", t);
    free(cluster_heartbeat(cl, &load, t, key, sizeof key));
    cluster_names_free(cluster_expire(cl, t + 300)); /* d left at t + 300 */
    free(cluster_heartbeat(cl, &load, t + 350, key, sizeof key));
    assert_int_equal(cluster_announced_ms(cl), CLUSTER_ALONE_INTERVAL_MS);
    assert_int_equal(cluster_due_in(cl, t + 350), 250);
    assert_int_equal(cluster_due_in(cl, t + 599), 1);
    cluster_names_free(cluster_to_adopt(cl, t + 600, cluster_holdback_ms(cl)));
    assert_true(cluster_due_in(cl, t + 600) > 1000); /* adopted: nothing due but the beat */
    cluster_free(cl);
    /* z does not adopt while m lives: m comes first by name */
    cluster_conf zc = cc;
    zc.node = "z";
    cluster *cz = cluster_new(&zc);
    hear_on(cz, "m", "H1", t);
    hear_on(cz, "d", "H1", t);
    hear_on(cz, "m", "H1", t + 250);
    cluster_names_free(cluster_expire(cz, t + 300));
    assert_null(cluster_to_adopt(cz, t + 700, 300));
    cluster_names_free(cluster_expire(cz, t + 600)); /* m dies too: z takes both */
    char **b = cluster_to_adopt(cz, t + 1000, 300);
    assert_non_null(b);
    assert_string_equal(b[0], "d");
    assert_string_equal(b[1], "m");
    assert_null(b[2]);
    cluster_names_free(b);
    cluster_free(cz);
    /* d back: released */
    hear_on(c, "d", "H1", t + 700);
    assert_null(cluster_to_adopt(c, t + 800, 300));
    /* a node that stops cleanly is adopted as well, after the hold-back */
    const char *down = "{\"event\":\"node.down\",\"node\":\"d\"}";
    assert_int_equal(cluster_heard(c, "node.down.d", down, strlen(down), t + 900, NULL, 0), -1);
    assert_null(cluster_to_adopt(c, t + 1000, 300));
    a = cluster_to_adopt(c, t + 1200, 300);
    assert_non_null(a);
    assert_string_equal(a[0], "d");
    cluster_names_free(a);
    cluster_free(c);
}

static void *answer_later(void *p)
{
    late_arg *a = p;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    broker_delivery d = reply(a->corr, "{\"ok\":true,\"node\":\"b\"}");
    cluster_gather_offer(a->c, &d);
    return NULL;
}

static void t_gathers(void **state)
{
    (void)state;
    cluster *c = new_cluster("a");
    cluster_gather *g = cluster_gather_new(c), *h = cluster_gather_new(c);
    assert_string_not_equal(cluster_gather_id(g), cluster_gather_id(h));
    char corr[128];
    snprintf(corr, sizeof corr, "%sall", cluster_gather_id(g));
    broker_delivery d = reply(corr, "{\"ok\":true,\"node\":\"b\",\"result\":[1]}");
    assert_int_equal(cluster_gather_offer(c, &d), 1);
    d = reply("someone-else", "{}");
    assert_int_equal(cluster_gather_offer(c, &d), 0);
    cluster_gather_failed(c, corr, -3);
    json_t *a = cluster_gather_answers(c, g, 0);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "node")), "b");
    assert_true(json_is_null(json_object_get(json_array_get(a, 1), "node")));
    json_decref(a);
    a = cluster_gather_answers(c, g, 1); /* from the second on */
    assert_int_equal(json_array_size(a), 1);
    json_decref(a);
    a = cluster_gather_answers(c, h, 0);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    /* a wait returns at the deadline without answers ... */
    int64_t t0 = cluster_now_ms();
    assert_int_equal(cluster_gather_wait(c, h, 0, t0 + 80), 0);
    assert_true(cluster_now_ms() - t0 >= 70);
    /* ... and as soon as one comes from another thread */
    late_arg la = {.c = c};
    snprintf(la.corr, sizeof la.corr, "%s0.1", cluster_gather_id(h));
    pthread_t th;
    pthread_create(&th, NULL, answer_later, &la);
    t0 = cluster_now_ms();
    assert_int_equal(cluster_gather_wait(c, h, 0, t0 + 5000), 1);
    assert_true(cluster_now_ms() - t0 < 4000);
    pthread_join(th, NULL);
    cluster_gather_free(c, g);
    /* freed gathers take nothing */
    assert_int_equal(cluster_gather_offer(c, &d), 0);
    cluster_gather_free(c, h);
    cluster_gather_free(c, NULL);
    cluster_free(c);
}

/* The publisher of cluster_ask_all's tests: the nodes named in `answer`
 * answer the message it publishes, at once or after late_ms from a thread;
 * `leave` sends node.down late_ms later. */
typedef struct fake_port {
    cluster *c;
    const char *answer[4]; /* NULL-terminated */
    const char *leave;     /* NULL: none */
    int late_ms;           /* 0: at once, in the publish */
    int published;
    char corr[128], headers[256];
    pthread_t th;
} fake_port;

static void answer_all(fake_port *f)
{
    for (size_t i = 0; f->answer[i]; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"ok\":true,\"node\":\"%s\",\"result\":[%zu]}", f->answer[i],
                 i);
        broker_delivery d = reply(f->corr, body);
        cluster_gather_offer(f->c, &d);
    }
    if (f->leave) {
        char down[128], key[128];
        snprintf(down, sizeof down, "{\"event\":\"node.down\",\"node\":\"%s\"}", f->leave);
        snprintf(key, sizeof key, "node.down.%s", f->leave);
        cluster_heard(f->c, key, down, strlen(down), cluster_now_ms(), NULL, 0);
    }
}

static void *answer_late_all(void *p)
{
    fake_port *f = p;
    struct timespec ts = {0, f->late_ms * 1000000L};
    nanosleep(&ts, NULL);
    answer_all(f);
    return NULL;
}

static void fake_publish(void *ud, const cluster_msg *m)
{
    fake_port *f = ud;
    f->published++;
    snprintf(f->corr, sizeof f->corr, "%s", m->correlation_id);
    assert_null(m->node); /* to every node */
    for (size_t i = 0; i < m->n_headers; i++)
        snprintf(f->headers + strlen(f->headers), sizeof f->headers - strlen(f->headers), "%s%s=%s",
                 i ? " " : "", m->headers[i].key, m->headers[i].value);
    if (f->late_ms == 0)
        answer_all(f);
    else
        pthread_create(&f->th, NULL, answer_late_all, f);
}

/* Adds name to the space-separated list in out (64 bytes). */
static void append(char *out, const char *name)
{
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%s%s", n ? " " : "", name);
}

/* Runs cluster_ask_all from node a to a view of a, b and c; returns the
 * milliseconds it took, the answering nodes in got ("b c") and the
 * missing ones in missing. */
static int64_t ask_bc(fake_port *f, int wait_ms, char *got, char *missing)
{
    cluster *c = new_cluster("a");
    f->c = c;
    hear(c, "b", "jobs", 0, 1000);
    hear(c, "c", "jobs", 0, 1000);
    json_t *answers = NULL, *miss = NULL;
    int64_t t0 = cluster_now_ms();
    cluster_ask_all(c, fake_publish, f, "u1", "{\"Dockercmd\":\"list\"}", wait_ms, &answers, &miss);
    int64_t took = cluster_now_ms() - t0;
    if (f->late_ms > 0)
        pthread_join(f->th, NULL);
    got[0] = missing[0] = '\0';
    const char *node;
    json_t *r;
    json_object_foreach(answers, node, r)
    {
        assert_true(json_is_true(json_object_get(r, "ok")));
        append(got, node);
    }
    size_t i;
    json_t *m;
    json_array_foreach(miss, i, m) append(missing, json_string_value(m));
    json_decref(answers);
    json_decref(miss);
    cluster_free(c);
    assert_int_equal(f->published, 1);
    assert_string_equal(f->headers, "x-dd-part=1 x-dd-from=a x-dd-user=u1");
    return took;
}

/* A node that stays silent: the others' answers and its name as missing,
 * at the deadline -- a partial answer, never a hang. */
static void t_ask_all_partial(void **state)
{
    (void)state;
    fake_port f = {.answer = {"b", NULL}};
    char got[64], missing[64];
    int64_t took = ask_bc(&f, 200, got, missing);
    assert_string_equal(got, "b");
    assert_string_equal(missing, "c");
    if (took < 190)
        fail_msg("returned after %lld ms, before the deadline (200 ms), c still silent",
                 (long long)took);
}

/* Every node answers (late, from the broker's thread): every answer
 * collected, and the ask ends with the last, not at the deadline. */
static void t_ask_all_every_answer(void **state)
{
    (void)state;
    fake_port f = {.answer = {"b", "c", NULL}, .late_ms = 50};
    char got[64], missing[64];
    int64_t took = ask_bc(&f, 5000, got, missing);
    assert_string_equal(got, "b c");
    assert_string_equal(missing, "");
    if (took >= 2500)
        fail_msg("took %lld ms though every node answered after 50 ms (deadline 5000)",
                 (long long)took);
}

/* A node that leaves the view is awaited no longer: missing, at once. */
static void t_ask_all_node_leaves(void **state)
{
    (void)state;
    fake_port f = {.answer = {"b", NULL}, .leave = "c", .late_ms = 50};
    char got[64], missing[64];
    int64_t took = ask_bc(&f, 5000, got, missing);
    assert_string_equal(got, "b");
    assert_string_equal(missing, "c");
    if (took >= 2500)
        fail_msg("took %lld ms though c left the view after 50 ms (deadline 5000)",
                 (long long)took);
}

/* The publisher of the bulk tests: every piece sent is answered by its
 * node at once (made, "id-<k>"), except by `silent` (no answer) and by
 * `refuses` for the first piece it receives (unavailable). */
typedef struct fake_nodes {
    cluster *c;
    const char *silent, *refuses;
    const char *fails; /* its first send is reported failed, yet made */
    int leave_ms;      /* > 0: silent leaves the view (node.down) this late */
    int back_ms;       /* > 0: and comes back this much later, answering late */
    int refused;
    char sent[512];    /* "<message id>@<node>" of each send, space-separated */
    char held[128];    /* the correlation id of silent's first piece */
    char removed[128]; /* "<container>@<node>" of the last removal sent */
    int removals;
} fake_nodes;

static void fake_piece(void *ud, const cluster_msg *m)
{
    fake_nodes *f = ud;
    size_t n = strlen(f->sent);
    snprintf(f->sent + n, sizeof f->sent - n, "%s%s@%s", n ? " " : "", m->message_id, m->node);
    assert_string_equal(m->headers[0].key, CLUSTER_H_PART);
    assert_string_equal(m->headers[1].key, CLUSTER_H_INCARNATION);
    assert_string_equal(m->headers[1].value, "7"); /* the node's "started" */
    json_t *body_m = json_loads(m->body, 0, NULL);
    if (!strcmp(json_string_value(json_object_get(body_m, "Dockercmd")), "rm") && ++f->removals)
        snprintf(f->removed, sizeof f->removed, "%s@%s",
                 json_string_value(json_object_get(body_m, "Container")), m->node);
    json_decref(body_m);
    if (f->silent && !strcmp(m->node, f->silent)) {
        if (f->held[0] == '\0')
            snprintf(f->held, sizeof f->held, "%s", m->correlation_id);
        return;
    }
    char body[256];
    if (f->fails && !strcmp(m->node, f->fails) && !f->refused++)
        cluster_gather_failed(f->c, m->correlation_id, -1);
    if (f->refuses && !strcmp(m->node, f->refuses) && !f->refused++)
        snprintf(body, sizeof body,
                 "{\"ok\":false,\"node\":\"%s\",\"error\":{\"code\":\"unavailable\"}}", m->node);
    else
        snprintf(body, sizeof body, "{\"ok\":true,\"node\":\"%s\",\"result\":{\"id\":\"id-%s\"}}",
                 m->node, strrchr(m->message_id, '.') + 1);
    broker_delivery d = reply(m->correlation_id, body);
    cluster_gather_offer(f->c, &d);
}

/* The silent node that was only slow: it leaves the view, comes back
 * (same process) and answers its first piece, made, late. */
static void *slow_node(void *p)
{
    fake_nodes *f = p;
    struct timespec ts = {0, f->leave_ms * 1000000L};
    nanosleep(&ts, NULL);
    char down[128], key[128], body[256];
    snprintf(down, sizeof down, "{\"event\":\"node.down\",\"node\":\"%s\"}", f->silent);
    snprintf(key, sizeof key, "node.down.%s", f->silent);
    cluster_heard(f->c, key, down, strlen(down), cluster_now_ms(), NULL, 0);
    ts.tv_nsec = f->back_ms * 1000000L;
    nanosleep(&ts, NULL);
    hear(f->c, f->silent, "jobs", 0, cluster_now_ms());
    nanosleep(&ts, NULL);
    snprintf(body, sizeof body, "{\"ok\":true,\"node\":\"%s\",\"result\":{\"id\":\"late-0\"}}",
             f->silent);
    broker_delivery d = reply(f->held, body);
    cluster_gather_offer(f->c, &d);
    return NULL;
}

/* Runs a bulk of n pieces from node a (which takes none) over b and c;
 * the node of each piece in where ("b c b c"), "-" for one not made. */
static int bulk_bc(fake_nodes *f, int n, int wait_ms, char *where, size_t wlen)
{
    cluster *c = new_cluster("a");
    f->c = c;
    int64_t now = cluster_now_ms();
    hear(c, "b", "jobs", 0, now);
    hear(c, "c", "jobs", 0, now);
    fake_port leave = {.c = c, .leave = f->silent, .late_ms = f->leave_ms};
    if (f->leave_ms > 0)
        pthread_create(&leave.th, NULL, f->back_ms > 0 ? slow_node : answer_late_all,
                       f->back_ms > 0 ? (void *)f : (void *)&leave);
    cluster_bulk_conf bc = {.n = n,
                            .rid = "r1",
                            .body = "{\"Dockercmd\":\"run\"}",
                            .skip_self = true,
                            .publish = fake_piece,
                            .ud = f};
    cluster_bulk *b = cluster_bulk_new(c, &bc);
    cluster_bulk_run(b, cluster_now_ms() + wait_ms);
    int created = 0;
    json_t *r = cluster_bulk_result(b, &created);
    where[0] = '\0';
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(r, "containers"), i, p)
    {
        const char *node = json_string_value(json_object_get(p, "node"));
        bool ok = json_is_true(json_object_get(p, "ok"));
        size_t len = strlen(where);
        snprintf(where + len, wlen - len, "%s%s", i ? " " : "", ok && node ? node : "-");
    }
    json_decref(r);
    cluster_bulk_free(b);
    if (f->leave_ms > 0)
        pthread_join(leave.th, NULL);
    cluster_free(c);
    return created;
}

/* Spread over two nodes; a refused piece goes to the other node, never
 * back to the one that refused it, and keeps its id. */
static void t_bulk_refused_piece_placed_again(void **state)
{
    (void)state;
    fake_nodes f = {.refuses = "b"};
    char where[64];
    assert_int_equal(bulk_bc(&f, 4, 5000, where, sizeof where), 4);
    assert_string_equal(where, "c c b c");
    assert_string_equal(f.sent, "r1.0@b r1.1@c r1.2@b r1.3@c r1.0@c");
}

/* A node that leaves the view before answering: its pieces go to the
 * other node.  One that stays silent: its pieces time out. */
static void t_bulk_piece_of_a_departed_node_placed_again(void **state)
{
    (void)state;
    fake_nodes f = {.silent = "b", .leave_ms = 50};
    char where[64];
    int64_t t0 = cluster_now_ms();
    assert_int_equal(bulk_bc(&f, 2, 5000, where, sizeof where), 2);
    assert_string_equal(where, "c c");
    assert_string_equal(f.sent, "r1.0@b r1.1@c r1.0@c");
    if (cluster_now_ms() - t0 >= 2500)
        fail_msg("took %lld ms though b left after 50 ms (deadline 5000)",
                 (long long)(cluster_now_ms() - t0));
    fake_nodes g = {.silent = "b"};
    assert_int_equal(bulk_bc(&g, 2, 200, where, sizeof where), 1);
    assert_string_equal(where, "- c");
}

/* A node that left the view only for being slow: it made its piece,
 * which was placed again meanwhile.  Its late answer is awaited once it
 * is back, and its copy removed: the piece exists once, where the reply
 * says. */
static void t_bulk_late_copy_of_a_slow_node_removed(void **state)
{
    (void)state;
    fake_nodes f = {.silent = "b", .leave_ms = 50, .back_ms = 50};
    char where[64];
    assert_int_equal(bulk_bc(&f, 2, 5000, where, sizeof where), 2);
    assert_string_equal(where, "c c");
    if (strcmp(f.removed, "late-0@b") != 0)
        fail_msg("piece 0 made on b (late) and on c: b's copy not removed (sent: %s)", f.sent);
    if (f.removals != 1)
        fail_msg("b's late copy removed %d times, not once", f.removals);
}

/* A send reported failed that reached its node anyway: the piece made
 * there is the piece, not made again elsewhere. */
static void t_bulk_failed_send_made_anyway(void **state)
{
    (void)state;
    fake_nodes f = {.fails = "b"};
    char where[64];
    assert_int_equal(bulk_bc(&f, 2, 5000, where, sizeof where), 2);
    if (strcmp(f.sent, "r1.0@b r1.1@c") != 0 && f.removals != 1)
        fail_msg("piece 0 made on b though its send failed, and made again: %s", f.sent);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_spread_even),
        cmocka_unit_test(t_binpack_capacity),
        cmocka_unit_test(t_view),
        cmocka_unit_test(t_alone),
        cmocka_unit_test(t_adoption),
        cmocka_unit_test(t_gathers),
        cmocka_unit_test(t_expiry_by_announced_interval),
        cmocka_unit_test(t_ask_all_partial),
        cmocka_unit_test(t_ask_all_every_answer),
        cmocka_unit_test(t_ask_all_node_leaves),
        cmocka_unit_test(t_bulk_refused_piece_placed_again),
        cmocka_unit_test(t_bulk_piece_of_a_departed_node_placed_again),
        cmocka_unit_test(t_bulk_late_copy_of_a_slow_node_removed),
        cmocka_unit_test(t_bulk_failed_send_made_anyway),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
