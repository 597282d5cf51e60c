/*
 * dd.c -- the docker_dispatch_* families (metrics.h, metrics_dd; README,
 * "Metrics").
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base.h"
#include "metrics.h"

/* Seconds from a run's start to its exit: short jobs to an hour. */
static const double run_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600};
/* Seconds from a message's arrival to its container's start. */
static const double start_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define P "docker_dispatch_"

/* One family of the set: where it goes in metrics_dd, its type, name,
 * help and labels, and a histogram's bounds. */
typedef struct family_row {
    size_t field; /* offsetof(metrics_dd, ...) */
    metrics_type type;
    const char *name, *help, *labels;
    const double *bounds;
    size_t n_bounds;
} family_row;

/* clang-format off */
#define ROW(f, t, n, h, l) {offsetof(metrics_dd, f), METRICS_##t, P n, h, l, NULL, 0}
#define HIST(f, n, h, b)   {offsetof(metrics_dd, f), METRICS_HISTOGRAM, P n, h, NULL, b, N_OF(b)}
/* clang-format on */

/* The families in the order they are rendered. */
static const family_row families[] = {
    ROW(requests, COUNTER, "requests_total",
        "Requests answered by this node's engine, by command and outcome (ok or the reply's "
        "error code).",
        "command,outcome"),
    ROW(replies, COUNTER, "replies_total", "Replies published to RabbitMQ by this node.", NULL),
    ROW(dead_letters, COUNTER, "dead_letters_total",
        "Messages this node dead-lettered to <q>.dead, by reason.", "reason"),
    ROW(runs_running, GAUGE, "runs_running",
        "Running containers of this node (supervision's last pass).", NULL),
    ROW(containers, GAUGE, "containers",
        "Containers of this node in any state, with the creates under way.", NULL),
    HIST(run_duration, "run_duration_seconds",
         "Supervised runs (Attach or Remove): the container's start to its exit, as Docker "
         "recorded them.",
         run_bounds),
    HIST(queue_to_start, "queue_to_start_seconds",
         "Runs: the message's arrival at this node to its container's start.", start_bounds),
    ROW(docker_up, GAUGE, "docker_up", "1 while Docker answers, else 0.", NULL),
    ROW(broker_up, GAUGE, "broker_up", "1 while the node's RabbitMQ connection is up, else 0.",
        NULL),
    ROW(broker_reconnects, COUNTER, "broker_reconnects_total",
        "Times the RabbitMQ connection was lost and reopened.", NULL),
    ROW(docker_reconnects, COUNTER, "docker_reconnects_total",
        "Times Docker answered again after being unreachable.", NULL),
    ROW(policy_denials, COUNTER, "policy_denials_total",
        "Requests refused by the policy, by the refused field (rule).", "rule"),
    ROW(quota_refusals, COUNTER, "quota_refusals_total",
        "Requests refused by a per-user bound of the policy's quotas, by the bound (rule).",
        "rule"),
    ROW(cluster_nodes, GAUGE, "cluster_nodes", "Nodes in this node's view of the cluster.", NULL),
    ROW(events_dropped, COUNTER, "events_dropped_total",
        "State-change events not published: over the outbox's cap while RabbitMQ was away, or "
        "refused by RabbitMQ.",
        NULL),
    ROW(build_info, GAUGE, "build_info", "Always 1; the labels say the version and the node.",
        "version,node"),
    ROW(start_time, GAUGE, "start_time_seconds",
        "When this process started, in seconds since the epoch.", NULL),
};

/* Registers row r in m.  The names are constants, so a failure is a bug
 * and aborts. */
static metrics_family *add_family(metrics *m, const family_row *r)
{
    metrics_family *f = NULL;
    if (r->type == METRICS_COUNTER)
        f = metrics_counter(m, r->name, r->help, r->labels);
    else if (r->type == METRICS_GAUGE)
        f = metrics_gauge(m, r->name, r->help, r->labels);
    else
        f = metrics_histogram(m, r->name, r->help, r->labels, r->bounds, r->n_bounds);
    if (f == NULL) {
        fprintf(stderr, "docker-dispatch: metric %s cannot be registered\n", r->name);
        abort();
    }
    return f;
}

metrics_dd *metrics_dd_new(const char *version, const char *node)
{
    metrics_dd *d = xcalloc(1, sizeof *d);
    d->reg = metrics_new(P "metric_label_sets_dropped_total");
    if (d->reg == NULL)
        abort();
    for (size_t i = 0; i < N_OF(families); i++)
        *(metrics_family **)((char *)d + families[i].field) = add_family(d->reg, &families[i]);
    metrics_set(d->build_info, (const char *[]){version, node}, 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    metrics_set(d->start_time, NULL, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return d;
}

void metrics_dd_free(metrics_dd *d)
{
    if (d == NULL)
        return;
    metrics_free(d->reg);
    free(d);
}

/* The rule label of a quota refusal: its field's key, from a fixed set. */
static const char *quota_rule(const char *field)
{
    static const char *const rules[] = {"containers", "running",   "memory",
                                        "cpus",       "run_time",  "in_flight",
                                        "waits",      "max_waits", "worker_share"};
    const char *k = field && !strncmp(field, "quotas.", 7) ? field + 7 : "";
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strcmp(rules[i], k))
            return rules[i];
    return "unknown";
}

void metrics_dd_reply(const metrics_dd *d, const char *command, const char *code, const char *field)
{
    if (d == NULL)
        return;
    const char *cmd = command && *command ? command : "unknown";
    metrics_add(d->requests, (const char *[]){cmd, code && *code ? code : "ok"}, 1);
    if (code && strcmp(code, "policy_denied") == 0)
        metrics_add(d->policy_denials, (const char *[]){field && *field ? field : "unknown"}, 1);
    if (code && strcmp(code, "quota") == 0)
        metrics_add(d->quota_refusals, (const char *[]){quota_rule(field)}, 1);
}

void metrics_dd_reason(const char *reason, char *buf, size_t len)
{
    size_t n = 0;
    if (reason != NULL)
        while (reason[n] && ((reason[n] >= 'a' && reason[n] <= 'z') || reason[n] == '_'))
            n++;
    if (n == 0 || n >= len || (reason[n] != ':' && reason[n] != '\0'))
        snprintf(buf, len, "other");
    else
        snprintf(buf, len, "%.*s", (int)n, reason);
}
