/*
 * ops.c -- the gateway's operations routes: GET /healthz, /readyz and
 * /metrics (gateway.h; docs/protocol.md, "Gateway"): the answers, formatted
 * without I/O (gw_ops_*), and the route handler that sends them as text.
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

#include <microhttpd.h>

#include "gateway_internal.h"

/* Room for the reasons of one /readyz answer. */
#define READY_WHY_MAX 1024

void gw_ops_healthz(gw_ops_answer *a)
{
    a->status = 200;
    a->content_type = "text/plain; charset=utf-8";
    a->body = xstrdup("ok\n");
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
        a->body = xstrdup("ready\n");
        return;
    }
    size_t len = strlen("not ready\n") + strlen(why) + 1;
    a->body = xmalloc(len);
    snprintf(a->body, len, "not ready\n%s", why);
}

void gw_ops_metrics(metrics *m, gw_ops_answer *a)
{
    a->status = 200;
    a->content_type = METRICS_CONTENT_TYPE;
    metrics_render(m, &a->body, NULL);
}

unsigned gw_route_ops(gateway *gw, request *rq, struct MHD_Response **resp)
{
    gw_ops_answer a;
    if (strcmp(rq->route->path, "/healthz") == 0) {
        gw_ops_healthz(&a);
    } else if (strcmp(rq->route->path, "/readyz") == 0) {
        gw_ops_readyz(gw->ready, gw->ready_ud, gw->bridge ? gateway_bridge_up(gw->bridge) : -1, &a);
    } else if (gw->metrics != NULL) {
        gw_ops_metrics(gw->metrics, &a);
    } else {
        return gw_respond_error(gw, rq, resp, 404, proto_code_name(PROTO_ENOTFOUND),
                                "this gateway keeps no metrics");
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(a.body), a.body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
        xoom();
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a.content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Request-Id", rq->id);
    *resp = r;
    return a.status;
}
