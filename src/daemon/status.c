/*
 * status.c -- the daemon's metrics and readiness (status.h).
 *
 * Gauges that mirror state kept elsewhere (running and all containers,
 * Docker up, cluster size, broker up) are set by the collect function at
 * each scrape rather than by the code that changes the state, so they
 * cannot drift from it.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "status.h"

struct dd_status {
    metrics_dd *m;
    _Atomic(engine *) e;
    _Atomic(cluster *) cl;
    atomic_int broker_up;
    atomic_int stopping;
};

/* The collect function: the gauges read from the engine, the cluster and
 * the broker flag. */
static void collect(void *ud)
{
    dd_status *s = ud;
    engine *e = atomic_load(&s->e);
    cluster *cl = atomic_load(&s->cl);
    if (e != NULL) {
        cluster_load load;
        engine_load(e, &load);
        metrics_set(s->m->runs_running, NULL, load.running);
        metrics_set(s->m->containers, NULL, load.containers);
        metrics_set(s->m->docker_up, NULL, load.docker ? 1 : 0);
    }
    if (cl != NULL)
        metrics_set(s->m->cluster_nodes, NULL, (double)cluster_size(cl));
    metrics_set(s->m->broker_up, NULL, atomic_load(&s->broker_up) ? 1 : 0);
}

dd_status *status_new(const char *version, const char *node)
{
    dd_status *s = xcalloc(1, sizeof *s);
    s->m = metrics_dd_new(version, node);
    atomic_init(&s->e, NULL);
    atomic_init(&s->cl, NULL);
    atomic_init(&s->broker_up, 1);
    atomic_init(&s->stopping, 0);
    metrics_set(s->m->broker_up, NULL, 1);
    metrics_set_collect(s->m->reg, collect, s);
    return s;
}

void status_free(dd_status *s)
{
    if (s == NULL)
        return;
    metrics_dd_free(s->m);
    free(s);
}

metrics_dd *status_metrics(dd_status *s)
{
    return s->m;
}

void status_set_engine(dd_status *s, engine *e, cluster *cl)
{
    if (s == NULL)
        return;
    atomic_store(&s->cl, cl);
    atomic_store(&s->e, e);
}

void status_broker(dd_status *s, int up)
{
    int was = atomic_exchange(&s->broker_up, up ? 1 : 0);
    if (up && !was)
        metrics_add(s->m->broker_reconnects, NULL, 1);
}

void status_stopping(dd_status *s)
{
    atomic_store(&s->stopping, 1);
}

int status_ready(void *ud, char *why, size_t len)
{
    dd_status *s = ud;
    size_t n = 0;
    why[0] = '\0';
#define REASON(text)                                                                               \
    do {                                                                                           \
        if (n < len)                                                                               \
            n += (size_t)snprintf(why + n, len - n, "%s\n", text);                                 \
    } while (0)
    engine *e = atomic_load(&s->e);
    if (atomic_load(&s->stopping))
        REASON("daemon: stopping");
    if (e == NULL) {
        REASON("engine: not started");
    } else {
        cluster_load load;
        engine_load(e, &load);
        if (!load.docker)
            REASON("docker: unreachable (consumption paused)");
    }
    if (!atomic_load(&s->broker_up))
        REASON("rabbitmq: connection down (reconnecting)");
#undef REASON
    return n == 0;
}
