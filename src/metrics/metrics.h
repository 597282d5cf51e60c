/*
 * metrics.h -- the daemon's metrics: counters, gauges and histograms with
 * bounded label sets, and a renderer of the Prometheus text exposition
 * format (version 0.0.4).
 *
 * The format is written here by hand: Debian packages no C client library
 * for Prometheus, and the text format is small (one "# HELP", one "# TYPE"
 * and the samples of each family).
 *
 * Two layers.  The registry (metrics, metrics_family) is generic.  Families
 * are registered once, before the threads that update them start.  Each
 * holds at most METRICS_MAX_SERIES label sets.  An update that would make
 * one more is dropped and counted in the registry's overflow counter (a
 * family of its own, rendered like the others).  metrics_dd is the set of
 * docker_dispatch_* families the daemon keeps (README, "Metrics").
 *
 * Threads.  Registration (metrics_new, metrics_counter, ..., metrics_dd_new)
 * is for one thread before the others start.  Updates, reads and
 * metrics_render() may come from any thread at once: one mutex per registry
 * guards the values (updates are a lookup among at most METRICS_MAX_SERIES
 * label sets and an addition).  Every update function accepts a NULL
 * family and then does nothing, so code that runs without metrics (unit
 * tests) needs no checks.
 *
 * Memory.  The registry is part of the daemon: it aborts when memory runs
 * out (STYLE.md, point 7).  Bad names are refused at registration (NULL).
 */
#ifndef DD_METRICS_H
#define DD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_FAMILIES 48 /* families of one registry */
#define METRICS_MAX_LABELS   2  /* label names of one family */
#define METRICS_MAX_SERIES   64 /* label sets of one family; more are counted, not kept */
#define METRICS_MAX_BUCKETS  16 /* upper bounds of one histogram (+Inf comes on top) */
#define METRICS_VALUE_MAX    64 /* bytes of a label value kept (longer ones are cut) */

typedef enum metrics_type {
    METRICS_COUNTER = 0,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
} metrics_type;

typedef struct metrics metrics;
typedef struct metrics_family metrics_family;

/* Called by metrics_render() before it reads the values, without the
 * registry's lock held, so that gauges read from elsewhere (metrics_set)
 * are fresh at each scrape.  On the rendering thread. */
typedef void (*metrics_collect_fn)(void *ud);

/* A registry whose overflow counter is named overflow_name (a counter
 * family without labels: label sets dropped because their family was
 * full).  NULL when overflow_name is not a valid metric name.  Free with
 * metrics_free(). */
metrics *metrics_new(const char *overflow_name);
void metrics_free(metrics *m);

/* Sets the collect function (NULL: none).  Before rendering starts. */
void metrics_set_collect(metrics *m, metrics_collect_fn fn, void *ud);

/*
 * Registers a family.  name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique in m.  help:
 * one line of text, escaped when rendered.  labels: NULL or "" for none,
 * else a comma-separated list of at most METRICS_MAX_LABELS label names.
 * A label name is [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not
 * "le" for a histogram.  A histogram takes n_bounds
 * (1..METRICS_MAX_BUCKETS) finite upper bounds in increasing order.
 * Returns the family (owned by m), or NULL when a name is invalid or taken,
 * or m is full.
 */
metrics_family *metrics_counter(metrics *m, const char *name, const char *help, const char *labels);
metrics_family *metrics_gauge(metrics *m, const char *name, const char *help, const char *labels);
metrics_family *metrics_histogram(metrics *m, const char *name, const char *help,
                                  const char *labels, const double *bounds, size_t n_bounds);

/*
 * Updates.  values holds one value per label name of f, in their order.
 * It is NULL when f has none; a NULL value is taken as "".  Values are any
 * text, cut to METRICS_VALUE_MAX bytes, escaped when rendered.
 *   metrics_add      counter: adds v (>= 0; a negative v is ignored).
 *                    Gauge: adds v (any sign).
 *   metrics_set      gauge: sets v.
 *   metrics_observe  histogram: one observation of v.
 * A call that does not fit f's type is ignored.  Any thread.
 */
void metrics_add(metrics_family *f, const char *const *values, double v);
void metrics_set(metrics_family *f, const char *const *values, double v);
void metrics_observe(metrics_family *f, const char *const *values, double v);

/* The value of one series: a counter's or gauge's value, a histogram's
 * count; 0 when the series does not exist.  Any thread (tests, mostly). */
double metrics_value(metrics_family *f, const char *const *values);

/* The number of label sets dropped because their family was full. */
uint64_t metrics_overflow(metrics *m);

/*
 * Renders every family of m in the text exposition format 0.0.4 into
 * *out (malloc'd, NUL-terminated, the caller frees it).  *len is its length
 * when len is not NULL.  Each family is "# HELP", "# TYPE", then one line
 * per sample.  Families come in the order of registration, series in the
 * order of their first update.  A histogram's buckets are cumulative,
 * ending with le="+Inf", then _sum and _count.  A family without any
 * series yet renders only its HELP and TYPE lines, except a family without
 * labels, which renders its zero.  Calls the collect function first.
 * Does no I/O.  Any thread.
 */
void metrics_render(metrics *m, char **out, size_t *len);

/* The content type of metrics_render()'s text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ------------------------------------------------------------------------
 * The daemon's families (docker_dispatch_*): who updates which is said in
 * README, "Metrics".  Made once by main() and shared, read-only, with the
 * engine and the gateway.
 * ------------------------------------------------------------------------ */
typedef struct metrics_dd {
    metrics *reg;
    metrics_family *requests;          /* counter {command, outcome} */
    metrics_family *replies;           /* counter */
    metrics_family *dead_letters;      /* counter {reason} */
    metrics_family *runs_running;      /* gauge */
    metrics_family *containers;        /* gauge */
    metrics_family *run_duration;      /* histogram, seconds */
    metrics_family *queue_to_start;    /* histogram, seconds */
    metrics_family *docker_up;         /* gauge 0/1 */
    metrics_family *broker_up;         /* gauge 0/1 */
    metrics_family *broker_reconnects; /* counter */
    metrics_family *docker_reconnects; /* counter */
    metrics_family *policy_denials;    /* counter {rule} */
    metrics_family *quota_refusals;    /* counter {rule}: quotas.h keys */
    metrics_family *cluster_nodes;     /* gauge */
    metrics_family *events_dropped;    /* counter */
    metrics_family *build_info;        /* gauge {version, node}, always 1 */
    metrics_family *start_time;        /* gauge, seconds since the epoch */
} metrics_dd;

/* Registers the docker_dispatch_* families in a new registry, with
 * build_info set for version and node and start_time set to now.  Never
 * NULL (aborts when out of memory).  Free with metrics_dd_free(). */
metrics_dd *metrics_dd_new(const char *version, const char *node);
void metrics_dd_free(metrics_dd *d);

/* Counts one reply posted by the engine: requests{command, outcome} with
 * outcome "ok" or the error code.  For policy_denied it also counts
 * policy_denials{rule} with the refused field ("" -> "unknown").  That
 * must be a rule's name from a fixed set: the engine passes
 * policy_rule_label()'s, never the publisher's text.  For quota it counts
 * quota_refusals{rule} with the bound (quotas.<key> -> <key>; one of a
 * fixed set, else "unknown").  A NULL command (a message that could not be
 * read) counts as "unknown".  d may be NULL.  Any thread. */
void metrics_dd_reply(const metrics_dd *d, const char *command, const char *code,
                      const char *field);

/* The reason label of a dead letter from its free-text reason: the error
 * code before the first ':' when it is one word of [a-z_], else "other",
 * into buf (len bytes). */
void metrics_dd_reason(const char *reason, char *buf, size_t len);

#endif
