/*
 * dd.c -- the docker_dispatch_* families (metrics.h, metrics_dd; README,
 * "Metrics").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

/* Seconds from a run's start to its exit: short jobs to an hour. */
static const double run_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600};
/* Seconds from a message's arrival to its container's start. */
static const double start_bounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A family that must register: the names here are constants, so a
 * failure is a bug. */
static metrics_family *must(metrics_family *f, const char *name)
{
    if (f == NULL) {
        fprintf(stderr, "docker-dispatch: metric %s cannot be registered\n", name);
        abort();
    }
    return f;
}

#define P "docker_dispatch_"

metrics_dd *metrics_dd_new(const char *version, const char *node)
{
    metrics_dd *d = calloc(1, sizeof *d);
    if (d == NULL)
        abort();
    metrics *m = d->reg = metrics_new(P "metric_label_sets_dropped_total");
    if (m == NULL)
        abort();
    d->requests =
        must(metrics_counter(m, P "requests_total",
                             "Requests answered by this node's engine, by command and outcome "
                             "(ok or the reply's error code).",
                             "command,outcome"),
             "requests_total");
    d->replies = must(
        metrics_counter(m, P "replies_total", "Replies published to RabbitMQ by this node.", NULL),
        "replies_total");
    d->dead_letters =
        must(metrics_counter(m, P "dead_letters_total",
                             "Messages this node dead-lettered to <q>.dead, by reason.", "reason"),
             "dead_letters_total");
    d->runs_running = must(metrics_gauge(m, P "runs_running",
                                         "Running containers of this node (supervision's last "
                                         "pass).",
                                         NULL),
                           "runs_running");
    d->containers = must(metrics_gauge(m, P "containers",
                                       "Containers of this node in any state, with the creates "
                                       "under way.",
                                       NULL),
                         "containers");
    d->run_duration =
        must(metrics_histogram(m, P "run_duration_seconds",
                               "Supervised runs (Attach or Remove): the container's start to its "
                               "exit, as Docker recorded them.",
                               NULL, run_bounds, N_OF(run_bounds)),
             "run_duration_seconds");
    d->queue_to_start =
        must(metrics_histogram(m, P "queue_to_start_seconds",
                               "Runs: the message's arrival at this node to its container's "
                               "start.",
                               NULL, start_bounds, N_OF(start_bounds)),
             "queue_to_start_seconds");
    d->docker_up =
        must(metrics_gauge(m, P "docker_up", "1 while Docker answers, else 0.", NULL), "docker_up");
    d->broker_up =
        must(metrics_gauge(m, P "broker_up",
                           "1 while the node's RabbitMQ connection is up, else 0.", NULL),
             "broker_up");
    d->broker_reconnects =
        must(metrics_counter(m, P "broker_reconnects_total",
                             "Times the RabbitMQ connection was lost and reopened.", NULL),
             "broker_reconnects_total");
    d->docker_reconnects =
        must(metrics_counter(m, P "docker_reconnects_total",
                             "Times Docker answered again after being unreachable.", NULL),
             "docker_reconnects_total");
    d->policy_denials = must(
        metrics_counter(m, P "policy_denials_total",
                        "Requests refused by the policy, by the refused field (rule).", "rule"),
        "policy_denials_total");
    d->quota_refusals =
        must(metrics_counter(m, P "quota_refusals_total",
                             "Requests refused by a per-user bound of the policy's quotas, by "
                             "the bound (rule).",
                             "rule"),
             "quota_refusals_total");
    d->cluster_nodes =
        must(metrics_gauge(m, P "cluster_nodes", "Nodes in this node's view of the cluster.", NULL),
             "cluster_nodes");
    d->events_dropped =
        must(metrics_counter(m, P "events_dropped_total",
                             "State-change events not published: over the outbox's cap while "
                             "RabbitMQ was away, or refused by RabbitMQ.",
                             NULL),
             "events_dropped_total");
    d->build_info =
        must(metrics_gauge(m, P "build_info", "Always 1; the labels say the version and the node.",
                           "version,node"),
             "build_info");
    d->start_time =
        must(metrics_gauge(m, P "start_time_seconds",
                           "When this process started, in seconds since the epoch.", NULL),
             "start_time_seconds");
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
