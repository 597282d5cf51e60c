/*
 * ops.c -- the gateway's operations routes: GET /healthz, /readyz and
 * /metrics (gateway.h; docs/protocol.md, "Gateway").  They format their
 * answers here; gateway.c sends them.
 *
 * Liveness is the answer itself: a connection thread that can format
 * "ok" shows that the process runs and its gateway takes connections.
 * Readiness asks the daemon (its ready function: Docker, the node's
 * RabbitMQ connection, the engine started and not stopping) and adds the
 * gateway's own RabbitMQ connection, since POST / goes through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_internal.h"

/* Room for the reasons of one /readyz answer. */
#define READY_WHY_MAX 1024

void gw_ops_healthz(gw_ops_answer *a)
{
    a->status = 200;
    a->content_type = "text/plain; charset=utf-8";
    a->body = gw_xstrdup("ok\n");
}

void gw_ops_readyz(gateway_ready_fn ready, void *ud, int bridge_up, gw_ops_answer *a)
{
    char why[READY_WHY_MAX] = "";
    int ok = 1;
    if (ready != NULL && !ready(ud, why, sizeof why))
        ok = 0;
    why[sizeof why - 1] = '\0';
    size_t n = strlen(why);
    if (n > 0 && why[n - 1] != '\n' && n + 1 < sizeof why) {
        why[n++] = '\n';
        why[n] = '\0';
    }
    if (bridge_up == 0) {
        ok = 0;
        snprintf(why + n, sizeof why - n, "gateway: RabbitMQ connection down\n");
    }
    a->content_type = "text/plain; charset=utf-8";
    a->status = ok ? 200 : 503;
    if (ok) {
        a->body = gw_xstrdup("ready\n");
        return;
    }
    size_t len = strlen("not ready\n") + strlen(why) + 1;
    a->body = gw_xmalloc(len);
    snprintf(a->body, len, "not ready\n%s", why);
}

void gw_ops_metrics(metrics *m, gw_ops_answer *a)
{
    a->status = 200;
    a->content_type = METRICS_CONTENT_TYPE;
    metrics_render(m, &a->body, NULL);
}
