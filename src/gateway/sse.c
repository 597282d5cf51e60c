/*
 * sse.c -- GET /events: the cluster's events as server-sent events
 * (text/event-stream), fanned out from the events subscriber (events.c)
 * to every connected client.  See gateway_internal.h, "the hub".
 *
 * DESIGN.  libmicrohttpd runs a thread per connection, so a stream's
 * content reader may block.  It waits on the hub's condition variable until
 * its client's buffer holds something, the keep-alive is due or the hub
 * closes.  Every SSE_CHECK_MS it looks whether the client has hung up.
 * The subscriber's thread only appends to the buffers, never blocking on a
 * client.  An event that does not fit a client's buffer is dropped for
 * that client and counted.  The count goes out as an event `dropped`
 * before the next event that fits.  One mutex guards the client list and
 * every buffer; one condition variable wakes the readers (a handful of
 * clients at most: GW_SSE_MAX_CLIENTS).
 *
 * Wire format, one block per event:
 *     event: container.started
 *     data: {"schema":1,"event":"container.started",...}
 *     <empty line>
 * preceded by "retry: 3000" once, and ": keep-alive" comments.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "gateway_internal.h"

/* How often a waiting stream looks whether its client has gone. */
#define SSE_CHECK_MS 1000

typedef struct gw_sse sse_client;

struct gw_sse {
    LIST_ENTRY(gw_sse) link;
    gw_hub *hub;
    char type[GW_SSE_FILTER_MAX + 1]; /* "" or an event name or its first word(s) */
    char node[GW_SSE_FILTER_MAX + 1]; /* "" or a node name */
    int fd;                           /* the connection's socket, -1: unknown */
    char *buf;                        /* GW_SSE_BUFFER bytes */
    size_t len;                       /* waiting to be sent */
    uint64_t dropped;                 /* events lost since the last `dropped` event */
    int64_t last_send_ms;             /* for the keep-alive */
};

struct gw_hub {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a buffer grew, or the hub closed */
    LIST_HEAD(, gw_sse) clients;
    size_t n;
    int closed;
};

gw_hub *gw_hub_new(void)
{
    gw_hub *h = xcalloc(1, sizeof *h);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&h->mu, NULL);
    LIST_INIT(&h->clients);
    return h;
}

void gw_hub_close(gw_hub *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    h->closed = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

void gw_hub_free(gw_hub *h)
{
    if (h == NULL)
        return;
    /* libmicrohttpd has stopped: every stream's response, and so every
     * client, is gone */
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

size_t gw_hub_clients(gw_hub *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->n;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* 1 when the event name matches the type filter: equal, or the filter is
 * its leading word(s) ("container" matches "container.started"). */
static int type_matches(const char *filter, const char *event)
{
    size_t n = strlen(filter);
    if (n == 0)
        return 1;
    return strncmp(filter, event, n) == 0 && (event[n] == '\0' || event[n] == '.');
}

/* Appends n bytes to c's buffer if they fit.  1 if they did.  Under mu. */
static int put(sse_client *c, const char *s, size_t n)
{
    if (n > GW_SSE_BUFFER - c->len)
        return 0;
    memcpy(c->buf + c->len, s, n);
    c->len += n;
    return 1;
}

/* The `dropped` notice of c into line (size >= 96); its length, 0 when
 * there is nothing to tell. */
static size_t dropped_notice(const sse_client *c, char *line, size_t size)
{
    if (c->dropped == 0)
        return 0;
    int n = snprintf(line, size, "event: dropped\ndata: {\"dropped\":%llu}\n\n",
                     (unsigned long long)c->dropped);
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* The `dropped` notice, when there is one to give and room for it.  Under
 * mu. */
static void put_dropped(sse_client *c)
{
    char line[96];
    size_t n = dropped_notice(c, line, sizeof line);
    if (n > 0 && put(c, line, n))
        c->dropped = 0;
}

void gw_hub_publish(gw_hub *h, const char *event, const char *node, const char *json, size_t len)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->mu);
    sse_client *c;
    int woke = 0;
    LIST_FOREACH(c, &h->clients, link)
    {
        if (!type_matches(c->type, event) || (c->node[0] && strcmp(c->node, node) != 0))
            continue;
        /* the notice of what was lost before it, then "event: " name
         * "\ndata: " json "\n\n": all or nothing */
        char notice[96];
        size_t nlen = dropped_notice(c, notice, sizeof notice);
        size_t need = nlen + 7 + strlen(event) + 7 + len + 2;
        if (need > GW_SSE_BUFFER - c->len) {
            c->dropped++;
            continue;
        }
        put(c, notice, nlen);
        c->dropped = 0;
        put(c, "event: ", 7);
        put(c, event, strlen(event));
        put(c, "\ndata: ", 7);
        put(c, json, len);
        put(c, "\n\n", 2);
        woke = 1;
    }
    if (woke)
        pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* 1 when the client has closed its side of the connection.  A stream's
 * client sends nothing after its request, so without this a closed one
 * would keep its place (and its slot under GW_SSE_MAX_CLIENTS) until the
 * next write failed, up to a keep-alive period later. */
static int peer_gone(const sse_client *c)
{
    if (c->fd < 0)
        return 0;
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* libmicrohttpd's content reader: blocks (its connection's own thread)
 * until there is something to send. */
static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    sse_client *c = cls;
    gw_hub *h = c->hub;
    (void)pos;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        if (h->closed) {
            pthread_mutex_unlock(&h->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        put_dropped(c);
        if (c->len > 0)
            break;
        int64_t now = gw_now_ms();
        if (now - c->last_send_ms >= GW_SSE_KEEPALIVE_MS) {
            put(c, ": keep-alive\n\n", 14);
            break;
        }
        if (peer_gone(c)) {
            pthread_mutex_unlock(&h->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        int64_t until = c->last_send_ms + GW_SSE_KEEPALIVE_MS;
        if (until > now + SSE_CHECK_MS)
            until = now + SSE_CHECK_MS;
        struct timespec ts = {.tv_sec = (time_t)(until / 1000),
                              .tv_nsec = (long)(until % 1000) * 1000000L};
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    size_t n = c->len < max ? c->len : max;
    memcpy(out, c->buf, n);
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->last_send_ms = gw_now_ms();
    pthread_mutex_unlock(&h->mu);
    return (ssize_t)n;
}

/* libmicrohttpd lets go of the stream: the client leaves the hub. */
static void sse_free(void *cls)
{
    sse_client *c = cls;
    gw_hub *h = c->hub;
    pthread_mutex_lock(&h->mu);
    LIST_REMOVE(c, link);
    h->n--;
    pthread_mutex_unlock(&h->mu);
    free(c->buf);
    free(c);
}

/* Copies the query argument key into out (size GW_SSE_FILTER_MAX + 1).
 * 0, or -1 when it is longer. */
static int filter_arg(request *rq, const char *key, char *out)
{
    const char *v = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
    out[0] = '\0';
    if (v == NULL)
        return 0;
    if (strlen(v) > GW_SSE_FILTER_MAX)
        return -1;
    snprintf(out, GW_SSE_FILTER_MAX + 1, "%s", v);
    return 0;
}

/* GET /events[?type=T][&node=N] */
gw_sse *gw_hub_join(gw_hub *h, const char *type, const char *node, int fd, int *err)
{
    pthread_mutex_lock(&h->mu);
    if (h->closed || h->n >= GW_SSE_MAX_CLIENTS) {
        *err = h->closed ? GATEWAY_ESTOPPING : GATEWAY_EUNAVAILABLE;
        pthread_mutex_unlock(&h->mu);
        return NULL;
    }
    sse_client *c = xcalloc(1, sizeof *c);
    snprintf(c->type, sizeof c->type, "%s", type ? type : "");
    snprintf(c->node, sizeof c->node, "%s", node ? node : "");
    c->hub = h;
    c->fd = fd;
    c->buf = xmalloc(GW_SSE_BUFFER);
    c->last_send_ms = gw_now_ms();
    static const char hello[] = "retry: 3000\n: docker-dispatch events\n\n";
    put(c, hello, sizeof hello - 1);
    LIST_INSERT_HEAD(&h->clients, c, link);
    h->n++;
    pthread_mutex_unlock(&h->mu);
    *err = 0;
    return c;
}

ssize_t gw_sse_read(gw_sse *c, char *out, size_t max)
{
    return sse_read(c, 0, out, max);
}

void gw_sse_leave(gw_sse *c)
{
    sse_free(c);
}

/* GET /events[?type=T][&node=N] */
unsigned gw_route_events(gateway *gw, request *rq, struct MHD_Response **resp)
{
    if (gw->events == NULL)
        return gw_respond_error(gw, rq, resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                "this gateway has no connection to the events exchange");
    char type[GW_SSE_FILTER_MAX + 1], node[GW_SSE_FILTER_MAX + 1];
    if (filter_arg(rq, "type", type) != 0 || filter_arg(rq, "node", node) != 0)
        return gw_respond_error(gw, rq, resp, 400, proto_code_name(PROTO_EBADREQUEST),
                                "a filter is longer than %d bytes", GW_SSE_FILTER_MAX);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int err;
    sse_client *c = gw_hub_join(gw->hub, type, node, ci ? ci->connect_fd : -1, &err);
    if (c == NULL)
        return err == GATEWAY_ESTOPPING
                   ? gw_respond_error(gw, rq, resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                      "the gateway is stopping")
                   : gw_respond_error(gw, rq, resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                      "already %d event streams open on this gateway",
                                      GW_SSE_MAX_CLIENTS);
    *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, c, sse_free);
    if (*resp == NULL)
        xoom();
    MHD_add_response_header(*resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(*resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(*resp, "X-Request-Id", rq->id);
    MHD_add_response_header(*resp, "X-Accel-Buffering", "no");
    return 200;
}
