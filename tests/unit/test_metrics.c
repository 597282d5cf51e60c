/*
 * test_metrics.c -- the metrics registry and its renderer (src/metrics/):
 * counters and gauges, histogram buckets (cumulative, +Inf, _sum and
 * _count), label escaping, the cap on label sets and its overflow count,
 * registration refusals, updates from several threads, and the daemon's
 * docker_dispatch_* set; every rendering is read back with the strict
 * reader of the text format (tests/prom_text.h), which is itself checked
 * to refuse what the format does not allow.
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

#include "../prom_text.h"
#include "metrics.h"

/* m rendered and read back strictly into d (prom_doc_free); the text is
 * printed when it does not read. */
static char *render_parse(metrics *m, prom_doc *d)
{
    char *text = NULL, err[256];
    size_t len = 0;
    metrics_render(m, &text, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    if (prom_parse(text, d, err, sizeof err) != 0)
        fail_msg("rendering does not read: %s\n%s", err, text);
    return text;
}

static void counters_and_gauges(void **state)
{
    (void)state;
    metrics *m = metrics_new("t_overflow_total");
    assert_non_null(m);
    metrics_family *c = metrics_counter(m, "t_requests_total", "Requests.", "command,outcome");
    metrics_family *g = metrics_gauge(m, "t_running", "Running.", NULL);
    metrics_family *lone = metrics_counter(m, "t_never_total", "Never counted.", "x");
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(lone);
    metrics_add(c, (const char *[]){"run", "ok"}, 1);
    metrics_add(c, (const char *[]){"run", "ok"}, 2);
    metrics_add(c, (const char *[]){"run", "policy_denied"}, 1);
    metrics_add(c, (const char *[]){"run", "ok"}, -5);  /* a counter never goes down */
    metrics_set(c, (const char *[]){"run", "ok"}, 100); /* nor is it set */
    metrics_observe(c, (const char *[]){"run", "ok"}, 1);
    metrics_set(g, NULL, 7);
    metrics_add(g, NULL, -2);
    metrics_add(NULL, NULL, 1); /* no family: nothing */
    assert_true(metrics_value(c, (const char *[]){"run", "ok"}) == 3);
    assert_true(metrics_value(c, (const char *[]){"run", "policy_denied"}) == 1);
    assert_true(metrics_value(c, (const char *[]){"ping", "ok"}) == 0);
    assert_true(metrics_value(g, NULL) == 5);

    prom_doc d;
    char *text = render_parse(m, &d);
    int found;
    assert_true(prom_get(&d, "t_requests_total", "command=run,outcome=ok", &found) == 3);
    assert_true(found);
    assert_true(prom_get(&d, "t_requests_total", "command=run,outcome=policy_denied", &found) == 1);
    assert_true(prom_get(&d, "t_running", "", &found) == 5);
    assert_true(found);
    /* a family without labels shows its zero; one with labels and no
     * series only its HELP and TYPE */
    assert_true(prom_get(&d, "t_overflow_total", "", &found) == 0);
    assert_true(found);
    assert_non_null(strstr(text, "# TYPE t_never_total counter\n"));
    assert_null(strstr(text, "t_never_total{"));
    assert_non_null(strstr(text, "# HELP t_requests_total Requests.\n"
                                 "# TYPE t_requests_total counter\n"
                                 "t_requests_total{command=\"run\",outcome=\"ok\"} 3\n"));
    assert_int_equal(d.families, 4);
    free(text);
    prom_doc_free(&d);
    metrics_free(m);
}

static void histogram_buckets(void **state)
{
    (void)state;
    metrics *m = metrics_new("t_overflow_total");
    const double bounds[] = {0.1, 1, 5};
    metrics_family *h = metrics_histogram(m, "t_seconds", "Durations.", "kind", bounds, 3);
    assert_non_null(h);
    /* an observation equal to a bound falls in that bound's bucket */
    const double obs[] = {0.05, 0.5, 1, 7, 1000};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        metrics_observe(h, (const char *[]){"a"}, obs[i]);
    metrics_observe(h, (const char *[]){"b"}, 0.25);
    metrics_add(h, (const char *[]){"a"}, 1); /* not for a histogram */
    assert_true(metrics_value(h, (const char *[]){"a"}) == 5);

    prom_doc d;
    char *text = render_parse(m, &d);
    static const struct {
        const char *labels;
        double v;
    } want[] = {
        {"kind=a,le=0.1", 1}, {"kind=a,le=1", 3}, {"kind=a,le=5", 3}, {"kind=a,le=+Inf", 5},
        {"kind=b,le=0.1", 0}, {"kind=b,le=1", 1}, {"kind=b,le=5", 1}, {"kind=b,le=+Inf", 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int found;
        double v = prom_get(&d, "t_seconds_bucket", want[i].labels, &found);
        if (!found || v != want[i].v)
            fail_msg("bucket {%s}: want %g, got %g (found %d)\n%s", want[i].labels, want[i].v, v,
                     found, text);
    }
    assert_true(prom_get(&d, "t_seconds_count", "kind=a", NULL) == 5);
    assert_true(prom_get(&d, "t_seconds_sum", "kind=a", NULL) == 1008.55);
    assert_true(prom_get(&d, "t_seconds_sum", "kind=b", NULL) == 0.25);
    /* the order the format asks: buckets, then _sum, then _count */
    const char *b = strstr(text, "t_seconds_bucket{kind=\"a\",le=\"+Inf\"} 5\n");
    const char *s = strstr(text, "t_seconds_sum{kind=\"a\"} 1008.55\n");
    const char *c = strstr(text, "t_seconds_count{kind=\"a\"} 5\n");
    assert_true(b && s && c && b < s && s < c);
    free(text);
    prom_doc_free(&d);
    metrics_free(m);
}

static void label_escaping(void **state)
{
    (void)state;
    metrics *m = metrics_new("t_overflow_total");
    metrics_family *c =
        metrics_counter(m, "t_odd_total", "Help with a \\ backslash\nand a newline.", "v");
    const char *odd = "back\\slash \"quoted\"\nnew line, {braces}=";
    metrics_add(c, (const char *[]){odd}, 1);
    prom_doc d;
    char *text = render_parse(m, &d);
    assert_non_null(
        strstr(text, "t_odd_total{v=\"back\\\\slash \\\"quoted\\\"\\nnew line, {braces}=\"} 1\n"));
    assert_non_null(
        strstr(text, "# HELP t_odd_total Help with a \\\\ backslash\\nand a newline.\n"));
    char want[128];
    snprintf(want, sizeof want, "v=%s", odd);
    assert_true(prom_get(&d, "t_odd_total", want, NULL) == 1);
    /* a long value is cut, and the cut value is one series */
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    metrics_add(c, (const char *[]){longv}, 1);
    longv[METRICS_VALUE_MAX + 10] = '\0';
    metrics_add(c, (const char *[]){longv}, 1);
    longv[METRICS_VALUE_MAX] = '\0';
    assert_true(metrics_value(c, (const char *[]){longv}) == 2);
    free(text);
    prom_doc_free(&d);
    metrics_free(m);
}

static void cardinality_cap(void **state)
{
    (void)state;
    metrics *m = metrics_new("t_overflow_total");
    metrics_family *c = metrics_counter(m, "t_many_total", "Many.", "n");
    char v[16];
    for (int i = 0; i < METRICS_MAX_SERIES + 5; i++) {
        snprintf(v, sizeof v, "%d", i);
        metrics_add(c, (const char *[]){v}, 1);
        metrics_add(c, (const char *[]){v}, 1); /* twice: the overflow counts each */
    }
    assert_int_equal(metrics_overflow(m), 10);
    snprintf(v, sizeof v, "%d", METRICS_MAX_SERIES - 1);
    assert_true(metrics_value(c, (const char *[]){v}) == 2);
    snprintf(v, sizeof v, "%d", METRICS_MAX_SERIES);
    assert_true(metrics_value(c, (const char *[]){v}) == 0);
    prom_doc d;
    char *text = render_parse(m, &d);
    size_t n = 0;
    for (size_t i = 0; i < d.n; i++)
        n += strcmp(d.s[i].name, "t_many_total") == 0;
    assert_int_equal(n, METRICS_MAX_SERIES);
    assert_true(prom_get(&d, "t_overflow_total", "", NULL) == 10);
    free(text);
    prom_doc_free(&d);
    metrics_free(m);
}

static void registration_refusals(void **state)
{
    (void)state;
    assert_null(metrics_new("1bad"));
    metrics *m = metrics_new("t_overflow_total");
    const double ok[] = {1, 2}, unsorted[] = {2, 1}, same[] = {1, 1};
    assert_null(metrics_counter(m, "t_overflow_total", "taken", NULL));
    assert_null(metrics_counter(m, "bad-name", "", NULL));
    assert_null(metrics_counter(m, "", "", NULL));
    assert_null(metrics_counter(m, NULL, "", NULL));
    assert_null(metrics_counter(m, "t_x", "", "a,b,c")); /* over METRICS_MAX_LABELS */
    assert_null(metrics_counter(m, "t_x", "", "a,a"));
    assert_null(metrics_counter(m, "t_x", "", "__reserved"));
    assert_null(metrics_counter(m, "t_x", "", "a:b"));
    assert_null(metrics_counter(m, "t_x", "", "a,"));
    assert_null(metrics_histogram(m, "t_h", "", "le", ok, 2));
    assert_null(metrics_histogram(m, "t_h", "", NULL, unsorted, 2));
    assert_null(metrics_histogram(m, "t_h", "", NULL, same, 2));
    assert_null(metrics_histogram(m, "t_h", "", NULL, ok, 0));
    assert_null(metrics_histogram(m, "t_h", "", NULL, NULL, 2));
    assert_non_null(metrics_counter(m, "t_x", "", "le")); /* le is only a histogram's */
    assert_non_null(metrics_histogram(m, "t_h", "", "a", ok, 2));
    assert_non_null(metrics_gauge(m, "ns:t_g", "", NULL));
    char name[32];
    size_t made = 4; /* with the overflow counter */
    for (int i = 0; i < METRICS_MAX_FAMILIES; i++) {
        snprintf(name, sizeof name, "t_f%d", i);
        made += metrics_gauge(m, name, "", NULL) != NULL;
    }
    assert_int_equal(made, METRICS_MAX_FAMILIES);
    metrics_free(m);
    metrics_free(NULL);
}

#define THREADS 4
#define ADDS    20000

typedef struct worker_arg {
    metrics *m;
    metrics_family *c, *h;
} worker_arg;

static void *adder(void *arg)
{
    worker_arg *a = arg;
    for (int i = 0; i < ADDS; i++) {
        metrics_add(a->c, (const char *[]){i % 2 ? "odd" : "even"}, 1);
        metrics_observe(a->h, NULL, (double)(i % 10));
        if (i % 1000 == 0) {
            char *text = NULL;
            metrics_render(a->m, &text, NULL);
            free(text);
        }
    }
    return NULL;
}

static void threads_lose_nothing(void **state)
{
    (void)state;
    metrics *m = metrics_new("t_overflow_total");
    const double bounds[] = {2.5, 7.5};
    worker_arg a = {m, metrics_counter(m, "t_total", "", "parity"),
                    metrics_histogram(m, "t_h", "", NULL, bounds, 2)};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, adder, &a), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    assert_true(metrics_value(a.c, (const char *[]){"odd"}) == THREADS * ADDS / 2);
    assert_true(metrics_value(a.c, (const char *[]){"even"}) == THREADS * ADDS / 2);
    prom_doc d;
    char *text = render_parse(m, &d);
    assert_true(prom_get(&d, "t_h_count", "", NULL) == THREADS * ADDS);
    assert_true(prom_get(&d, "t_h_bucket", "le=2.5", NULL) == THREADS * ADDS * 3 / 10);
    assert_true(prom_get(&d, "t_h_sum", "", NULL) == THREADS * ADDS / 10 * 45);
    free(text);
    prom_doc_free(&d);
    metrics_free(m);
}

static int g_collected;
static void collect(void *ud)
{
    metrics_set(ud, NULL, 42);
    g_collected++;
}

/* The daemon's set: every family there with HELP and TYPE, the build
 * info and start time set, replies counted by command and outcome, the
 * collect function run at each rendering. */
static void daemon_families(void **state)
{
    (void)state;
    metrics_dd *dd = metrics_dd_new("1.2.3", "node \"a\"");
    assert_non_null(dd);
    metrics_dd_reply(dd, "run", NULL, NULL);
    metrics_dd_reply(dd, "run", "policy_denied", "HostConfig.Privileged");
    metrics_dd_reply(dd, "run", "policy_denied", NULL);
    metrics_dd_reply(dd, NULL, "bad_request", "body");
    metrics_dd_reply(dd, "wait", "quota", "quotas.waits");
    metrics_dd_reply(dd, "run", "quota", "quotas.chosen-by-a-publisher");
    metrics_dd_reply(NULL, "run", NULL, NULL);
    metrics_set_collect(dd->reg, collect, dd->cluster_nodes);
    g_collected = 0;
    prom_doc d;
    char *text = render_parse(dd->reg, &d);
    assert_int_equal(g_collected, 1);
    static const char *const fams[][2] = {{"requests_total", "counter"},
                                          {"replies_total", "counter"},
                                          {"dead_letters_total", "counter"},
                                          {"runs_running", "gauge"},
                                          {"containers", "gauge"},
                                          {"run_duration_seconds", "histogram"},
                                          {"queue_to_start_seconds", "histogram"},
                                          {"docker_up", "gauge"},
                                          {"broker_up", "gauge"},
                                          {"broker_reconnects_total", "counter"},
                                          {"docker_reconnects_total", "counter"},
                                          {"policy_denials_total", "counter"},
                                          {"quota_refusals_total", "counter"},
                                          {"cluster_nodes", "gauge"},
                                          {"events_dropped_total", "counter"},
                                          {"build_info", "gauge"},
                                          {"start_time_seconds", "gauge"}};
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "# HELP docker_dispatch_%s ", fams[i][0]);
        snprintf(type, sizeof type, "# TYPE docker_dispatch_%s %s\n", fams[i][0], fams[i][1]);
        if (!strstr(text, help) || !strstr(text, type))
            fail_msg("%s lacks HELP or its TYPE %s:\n%s", fams[i][0], fams[i][1], text);
    }
    int found;
    assert_true(prom_get(&d, "docker_dispatch_requests_total", "command=run,outcome=ok", NULL) ==
                1);
    assert_true(prom_get(&d, "docker_dispatch_requests_total", "command=run,outcome=policy_denied",
                         NULL) == 2);
    assert_true(prom_get(&d, "docker_dispatch_requests_total",
                         "command=unknown,outcome=bad_request", NULL) == 1);
    assert_true(prom_get(&d, "docker_dispatch_policy_denials_total", "rule=HostConfig.Privileged",
                         NULL) == 1);
    assert_true(prom_get(&d, "docker_dispatch_policy_denials_total", "rule=unknown", NULL) == 1);
    /* quota refusals by bound, the label from a fixed set */
    assert_true(prom_get(&d, "docker_dispatch_quota_refusals_total", "rule=waits", NULL) == 1);
    assert_true(prom_get(&d, "docker_dispatch_quota_refusals_total", "rule=unknown", NULL) == 1);
    if (strstr(text, "chosen-by-a-publisher"))
        fail_msg("a field not in the set became a label:\n%s", text);
    assert_true(
        prom_get(&d, "docker_dispatch_build_info", "node=node \"a\",version=1.2.3", &found) == 1);
    assert_true(found);
    assert_true(prom_get(&d, "docker_dispatch_start_time_seconds", "", NULL) > 1.7e9);
    assert_true(prom_get(&d, "docker_dispatch_cluster_nodes", "", NULL) == 42);
    assert_true(prom_get(&d, "docker_dispatch_run_duration_seconds_bucket", "le=+Inf", &found) ==
                0);
    assert_true(found);

    char r[48];
    metrics_dd_reason("bad_request: the body is not JSON", r, sizeof r);
    assert_string_equal(r, "bad_request");
    metrics_dd_reason("rejected", r, sizeof r);
    assert_string_equal(r, "rejected");
    metrics_dd_reason("Some Text: x", r, sizeof r);
    assert_string_equal(r, "other");
    metrics_dd_reason("two words: x", r, sizeof r);
    assert_string_equal(r, "other");
    metrics_dd_reason(NULL, r, sizeof r);
    assert_string_equal(r, "other");
    free(text);
    prom_doc_free(&d);
    metrics_dd_free(dd);
    metrics_dd_free(NULL);
}

/* The reader refuses what the format does not allow (so that a scrape it
 * passes means something). */
static void reader_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a 1\n",                                        /* no HELP/TYPE */
        "# HELP a x\na 1\n",                            /* no TYPE */
        "# HELP a x\n# TYPE a counter\na 1",            /* no final newline */
        "# HELP a x\n# TYPE a counter\na -1\n",         /* a negative counter */
        "# HELP a x\n# TYPE a counter\na 1 123\n",      /* a timestamp */
        "# HELP a x\n# TYPE a summary\na 1\n",          /* a type not used here */
        "# HELP a x\n# TYPE a counter\n\na 1\n",        /* a blank line */
        "# a comment\n",                                /* another comment */
        "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n", /* a bad escape */
        "# HELP a x\n# TYPE a gauge\na{l=\"v\",l=\"w\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{1l=\"v\"} 1\n",
        "# HELP a x\n# TYPE a gauge\na{l=v} 1\n",
        "# HELP a x\n# TYPE a gauge\na one\n",
        "# HELP a x\n# TYPE a gauge\na 1\na 2\n", /* a sample twice */
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n",
        "# HELP a x\n# TYPE a gauge\n# HELP b x\n# TYPE b gauge\na{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n",
        "# HELP 9a x\n# TYPE 9a gauge\n9a 1\n",
        /* histograms: buckets going down, +Inf missing, +Inf != _count,
         * no _sum, unordered le, a bucket without le, le on a gauge */
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 2\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket 1\nh_sum 1\nh_count 1\n",
        "# HELP a x\n# TYPE a gauge\na{le=\"1\"} 1\n",
        "# HELP h x\n# TYPE h histogram\nh 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prom_doc d;
        char err[256];
        int rc = prom_parse(bad[i], &d, err, sizeof err);
        if (rc == 0)
            fail_msg("case %zu read, but should not:\n%s", i, bad[i]);
        prom_doc_free(&d);
    }
    prom_doc d;
    char err[256];
    const char *good = "# HELP h x\n# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\n"
                       "h_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 3.5\nh_count{a=\"x\"} 2\n"
                       "# HELP a x\n# TYPE a gauge\na NaN\n";
    if (prom_parse(good, &d, err, sizeof err) != 0)
        fail_msg("good text refused: %s", err);
    assert_int_equal(d.n, 5);
    prom_doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters_and_gauges),   cmocka_unit_test(histogram_buckets),
        cmocka_unit_test(label_escaping),        cmocka_unit_test(cardinality_cap),
        cmocka_unit_test(registration_refusals), cmocka_unit_test(threads_lose_nothing),
        cmocka_unit_test(daemon_families),       cmocka_unit_test(reader_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
