/*
 * dashboard.c -- the dashboard page (GET /) and the read-only resource
 * routes it uses: GET /nodes, /containers, /containers/{id}, /images and
 * /queues.  See docs/protocol.md, "Gateway".
 *
 * The resource routes are messages like any client's.  Each makes the one
 * message its route stands for (nodes; list with All and Cluster; inspect;
 * images with Cluster) and hands it to POST /'s way (gw_route_submit).  So
 * the answer is the reply of whichever node took it, with the same
 * statuses, timeouts and access lines.  GET /queues is the exception: the
 * depths of <q> and <q>.dead come from the events subscriber, which reads
 * them every GW_QUEUES_EVERY_MS (events.c).
 *
 * The page (src/gateway/dashboard/index.html, with its CSS and script
 * inline) is built into the program as a byte array (scripts/embed.py);
 * nothing is fetched at run time but the API.  It is served without the
 * token (it holds no data); the API it calls needs the token, which the
 * page asks for (docs/security.md, "Gateway dashboard").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dashboard_page.h"
#include "gateway_internal.h"

/* Hands the message m (consumed) to POST /'s way. */
static unsigned submit_message(gateway *gw, request *rq, json_t *m, struct MHD_Response **resp)
{
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (text == NULL)
        xoom();
    json_decref(m);
    /* no cap: the gateway made it, and proto_parse holds it to max_body */
    xbuf_cleanup(&rq->body);
    xbuf_init(&rq->body, 0);
    xbuf_add(&rq->body, text, strlen(text));
    free(text);
    return gw_route_submit(gw, rq, resp);
}

unsigned gw_route_nodes(gateway *gw, request *rq, struct MHD_Response **resp)
{
    return submit_message(gw, rq, json_pack("{s:s}", "Dockercmd", "nodes"), resp);
}

unsigned gw_route_containers(gateway *gw, request *rq, struct MHD_Response **resp)
{
    return submit_message(
        gw, rq,
        json_pack("{s:s, s:{s:b, s:b}}", "Dockercmd", "list", "Options", "All", 1, "Cluster", 1),
        resp);
}

unsigned gw_route_container(gateway *gw, request *rq, struct MHD_Response **resp)
{
    /* the segment after "/containers/"; the parser checks it like any
     * message's Container */
    const char *id = rq->url + strlen("/containers/");
    json_t *m = json_pack("{s:s, s:s}", "Dockercmd", "inspect", "Container", id);
    if (m == NULL) /* not UTF-8 */
        return gw_respond_error(gw, rq, resp, 400, proto_code_name(PROTO_EBADREQUEST),
                                "the container reference is not UTF-8");
    return submit_message(gw, rq, m, resp);
}

unsigned gw_route_images(gateway *gw, request *rq, struct MHD_Response **resp)
{
    return submit_message(
        gw, rq, json_pack("{s:s, s:{s:b}}", "Dockercmd", "images", "Options", "Cluster", 1), resp);
}

static json_t *depth_json(const char *name, const gw_queue_depth *q)
{
    if (!q->known)
        return json_pack("{s:s, s:n, s:n}", "name", name, "messages", "consumers");
    return json_pack("{s:s, s:I, s:I}", "name", name, "messages", (json_int_t)q->messages,
                     "consumers", (json_int_t)q->consumers);
}

/* GET /queues: {"schema", "ok", "node", "command": "queues", "request_id",
 * "result": {"work": {"name", "messages", "consumers"}, "dead": {...},
 * "age_ms"}}, messages and consumers null for a queue that is not there. */
unsigned gw_route_queues(gateway *gw, request *rq, struct MHD_Response **resp)
{
    gw_queue_depth work, dead;
    char wn[BROKER_NAME_MAX + 16], dn[BROKER_NAME_MAX + 16];
    int64_t age = gw->events ? gw_events_queues(gw->events, &work, &dead, wn, dn, sizeof wn) : -1;
    if (age < 0)
        return gw_respond_error(gw, rq, resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                "the queue depths are not known yet");
    snprintf(rq->cmd, sizeof rq->cmd, "queues");
    json_t *o = json_pack("{s:i, s:b, s:s?, s:s, s:s, s:{s:o, s:o, s:I}}", "schema",
                          PROTO_SCHEMA_VERSION, "ok", 1, "node", gw->node, "command", "queues",
                          "request_id", rq->id, "result", "work", depth_json(wn, &work), "dead",
                          depth_json(dn, &dead), "age_ms", (json_int_t)age);
    *resp = gw_respond_json(rq, o);
    return 200;
}

/* GET /: the page. */
unsigned gw_route_dashboard(gateway *gw, request *rq, struct MHD_Response **resp)
{
    (void)gw;
    *resp = MHD_create_response_from_buffer(dashboard_page_len, (void *)dashboard_page,
                                            MHD_RESPMEM_PERSISTENT);
    if (*resp == NULL)
        xoom();
    MHD_add_response_header(*resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    MHD_add_response_header(*resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(*resp, "X-Request-Id", rq->id);
    MHD_add_response_header(*resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(*resp, "Referrer-Policy", "no-referrer");
    /* the script and style are inline; everything else only from here */
    MHD_add_response_header(*resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; "
                            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    return 200;
}
