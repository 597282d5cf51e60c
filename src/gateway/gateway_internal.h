/*
 * gateway_internal.h -- what the gateway's files share (gw_ prefix): the
 * listen address, the bearer token, the rate bound, request ids and the
 * allocators (guard.c).  Not for other modules; the unit tests include it.
 */
#ifndef GATEWAY_INTERNAL_H
#define GATEWAY_INTERNAL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <microhttpd.h>

#include "base.h"
#include "gateway.h"
#include "protocol.h"

/* Monotonic milliseconds. */
int64_t gw_now_ms(void);

/* A fresh request id, "gw-" and 24 hex digits from the kernel's random
 * source, into buf (at least GW_ID_SIZE bytes).  Any thread. */
#define GW_ID_SIZE 32
void gw_request_id(char *buf, size_t len);

/* The set of a "[v]printf"-formatted reason into *cause (malloc'd; the old
 * one freed).  cause may be NULL. */
void gw_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the listen address ------------------------------------------------ */

typedef struct gw_addr {
    struct sockaddr_storage sa; /* resolved address and port */
    socklen_t len;
    int loopback;  /* 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
    char text[80]; /* "127.0.0.1:8080", "[::1]:8080" (numeric) */
    /* The host as the spec wrote it ("localhost", "127.0.0.1", "::1"; no
     * brackets) and as resolved, numeric: the names a request may give in
     * its Host (gw_authority_ok). */
    char name[256];
    char num[INET6_ADDRSTRLEN];
} gw_addr;

/* Reads spec: "PORT" (127.0.0.1:PORT), "HOST:PORT" (HOST an IPv4 address
 * or a name, resolved to its first address) or "[IPv6]:PORT"; PORT
 * 0..65535.  0, or GATEWAY_EADDR with *cause set. */
int gw_addr_parse(const char *spec, gw_addr *out, char **cause);

/* 1 if sa (AF_INET or AF_INET6) is a loopback address. */
int gw_addr_is_loopback(const struct sockaddr *sa);

/* ---- requests addressed to this gateway --------------------------------
 * Any web page the host's browser opens could ask for what a loopback
 * gateway serves without a token.  It could read the answer through DNS
 * rebinding (a name of the page's site made to resolve to 127.0.0.1).
 * Such requests must name the gateway itself in Host and come from no
 * other site's page (Origin).  A POST must be JSON: a page cannot send that
 * type elsewhere without the gateway's leave, which it never gives.  Pure:
 * no I/O, any thread. */

/* 1 if authority (len bytes: a Host header, or an origin without its
 * scheme) names this gateway: HOST[:PORT] where HOST is localhost,
 * 127.0.0.1, [::1], or a's name or numeric address (in any case; an IPv6
 * one in brackets), and PORT is port, or absent when port is the scheme's
 * default (80, or 443 with https). */
int gw_authority_ok(const gw_addr *a, int port, int https, const char *authority, size_t len);

/* 1 if origin (an Origin header) is the gateway's own:
 * "http://" (or "https://" with https) and an authority as above, nothing
 * after it.  "null" and every other site are not. */
int gw_origin_ok(const gw_addr *a, int port, int https, const char *origin);

/* 1 if content_type (a Content-Type header, NULL: none) is
 * application/json, in any case, with or without parameters. */
int gw_content_type_json(const char *content_type);

/* ---- the bearer token -------------------------------------------------- */

#define GW_DIGEST_SIZE 32 /* SHA-256 */

/* Takes the token from token or else from the first line of file (one of
 * them, not both; NULL both: no token), checks its form (GATEWAY_TOKEN_MIN
 * to GATEWAY_TOKEN_MAX characters of RFC 6750's b64token: letters, digits,
 * "-._~+/" and "=") and stores its SHA-256 in digest.  Returns 1 when a
 * token was set, 0 when none was given, or GATEWAY_ETOKEN / GATEWAY_EINVAL
 * with *cause set (never holding the token). */
int gw_token_load(const char *token, const char *file, uint8_t digest[GW_DIGEST_SIZE],
                  char **cause);

/* 1 if the len bytes at given are the token whose digest is want.  The time
 * it takes does not depend on where the two differ, nor on the token's
 * length: both sides are hashed and the digests compared with nettle's
 * memeql_sec. */
int gw_token_equal(const uint8_t want[GW_DIGEST_SIZE], const char *given, size_t len);

/* The token of an "Authorization: Bearer TOKEN" header value (scheme in
 * any case, RFC 7235) into *tok and *len (pointing into header); 0, or -1
 * when header is NULL or of another scheme. */
int gw_bearer(const char *header, const char **tok, size_t *len);

/* ---- the rate bound ---------------------------------------------------- */

/* A token bucket per client address: per_second tokens a second, holding
 * at most twice that (the burst).  One request takes one.  Up to slots
 * addresses are tracked.  A new address beyond that takes the slot of the
 * one seen longest ago, whose bucket has most likely filled up again
 * anyway.  The mutex inside makes every call safe from any thread. */
typedef struct gw_rate gw_rate;

/* NULL when per_second <= 0 (no bound). */
gw_rate *gw_rate_new(int per_second, size_t slots);
void gw_rate_free(gw_rate *r);

/* Takes one token for the address key at time now_ms.  key is the raw IPv4
 * or IPv6 address (keylen <= 16 bytes).  Returns 1 if the request may go
 * on.  Returns 0 if not, with *retry_s (may be NULL) set to the whole
 * seconds until a token is there again.  A NULL r lets everything
 * through. */
int gw_rate_take(gw_rate *r, const void *key, size_t keylen, int64_t now_ms, int *retry_s);

/* ---- the operations routes (ops.c) -------------------------------------- */

/* The answer of one of the GET routes: a status, the content type (a
 * static string) and the body (malloc'd, NUL-terminated, the caller frees
 * it).  No I/O: these only format. */
typedef struct gw_ops_answer {
    unsigned status;
    const char *content_type;
    char *body;
} gw_ops_answer;

/* GET /healthz: 200, "ok\n". */
void gw_ops_healthz(gw_ops_answer *a);

/* GET /readyz: 200 "ready\n", or 503 "not ready\n" followed by the
 * reasons, one a line: those of ready(ud) (when ready is not NULL), then
 * "gateway: RabbitMQ connection down" when bridge_up is 0 (-1: no
 * bridge). */
void gw_ops_readyz(gateway_ready_fn ready, void *ud, int bridge_up, gw_ops_answer *a);

/* GET /metrics: 200 with m (not NULL; the route answers 404 itself when
 * the gateway has no metrics) rendered, METRICS_CONTENT_TYPE. */
void gw_ops_metrics(metrics *m, gw_ops_answer *a);

/* ---- files ------------------------------------------------------------- */

/* The content of path, at most max bytes, NUL-terminated (malloc'd; *len
 * its length when len is not NULL).  NULL with *cause set ("what: path:
 * reason") when it cannot be read or is larger. */
char *gw_read_file(const char *what, const char *path, size_t max, size_t *len, char **cause);

/* ---- the server's state, shared with the route files --------------------
 * gateway.c owns these; the route handlers of other files (dashboard.c,
 * sse.c) read them.  Everything here but `mu`'s fields is set before
 * libmicrohttpd starts and read-only afterwards. */

/* Escaped path and method kept for the access line. */
#define LOG_PATH_MAX 64

typedef struct gw_hub gw_hub;
typedef struct gw_events gw_events;

struct gateway {
    struct MHD_Daemon *mhd;
    gw_rate *rate; /* NULL: no bound */
    int has_token;
    uint8_t token_digest[GW_DIGEST_SIZE];
    size_t max_body;
    int timeout_ms;
    char *node;
    gateway_submit_fn submit;
    void *submit_ud;
    gateway_bridge *bridge; /* ours when made from conf->broker */
    gw_hub *hub;            /* the SSE clients of GET /events (sse.c) */
    gw_events *events;      /* the events subscriber, when made from conf->broker */
    int loopback;           /* the listener is on a loopback address */
    gw_addr addr;           /* the listen address (its names: gw_authority_ok) */
    metrics *metrics;       /* GET /metrics (borrowed), or NULL */
    gateway_ready_fn ready; /* GET /readyz, or NULL */
    void *ready_ud;
    char *cert_pem, *key_pem;
    int port;
    int https;
    atomic_int quiesced;
    pthread_mutex_t mu;  /* guards active and mhd_err */
    pthread_cond_t idle; /* active went to 0 */
    int active;          /* requests from their headers to on_completed() */
    char mhd_err[256];   /* libmicrohttpd's last message: a failed start's reason */
};

typedef struct request request;
typedef struct route route;

/* A route's handler: answers rq (its body complete) with *resp (made with
 * one of the gw_respond_* helpers, or its own) and returns the HTTP
 * status. */
typedef unsigned (*route_fn)(gateway *gw, request *rq, struct MHD_Response **resp);

/* When a route needs the bearer token (if one is set). */
typedef enum route_auth {
    AUTH_NONE = 0, /* never (the dashboard page) */
    AUTH_TOKEN,    /* always */
    AUTH_REMOTE,   /* only on a listener that is not loopback (ops.c's routes) */
} route_auth;

struct route {
    const char *method;
    const char *path;
    route_auth auth;
    bool body; /* reads a request body (capped by max_body) */
    route_fn fn;
    bool prefix; /* path is a prefix followed by one more non-empty segment */
};

/* One HTTP request, from its headers to the access line. */
struct request {
    char id[GW_ID_SIZE];
    char client[INET6_ADDRSTRLEN];
    char method[LOG_PATH_MAX];
    char path[LOG_PATH_MAX];
    const route *route;
    struct MHD_Connection *conn; /* for query arguments and headers */
    const char *url;             /* libmicrohttpd's, valid during the handler */
    int64_t t0;
    xbuf body;                /* gathered so far, capped at max_body (route->body only) */
    bool too_big;             /* the body went over max_body: answered 413 at its end */
    unsigned status;          /* the status answered, 0 before */
    char code[32];            /* the error code answered, "" when ok */
    char cmd[PROTO_VERB_MAX]; /* the command, once parsed */
};

/* A response owning text (malloc'd, moved), JSON, with the request id. */
struct MHD_Response *gw_respond_text(request *rq, char *text);

/* A response with reply (consumed) as its body. */
struct MHD_Response *gw_respond_json(request *rq, json_t *reply);

/* An error the gateway answers itself: a reply-shaped object with code and
 * message; returns status. */
unsigned gw_respond_error(gateway *gw, request *rq, struct MHD_Response **resp, unsigned status,
                          const char *code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* POST /'s way: rq->body is checked as a message, handed to
 * the submit function and answered with the reply.  The resource routes
 * put the message they make into rq->body and call it. */
unsigned gw_route_submit(gateway *gw, request *rq, struct MHD_Response **resp);

/* The routes of the other files. */
unsigned gw_route_dashboard(gateway *gw, request *rq, struct MHD_Response **resp); /* GET / */
unsigned gw_route_nodes(gateway *gw, request *rq, struct MHD_Response **resp);
unsigned gw_route_containers(gateway *gw, request *rq, struct MHD_Response **resp);
unsigned gw_route_container(gateway *gw, request *rq, struct MHD_Response **resp);
unsigned gw_route_images(gateway *gw, request *rq, struct MHD_Response **resp);
unsigned gw_route_queues(gateway *gw, request *rq, struct MHD_Response **resp);
unsigned gw_route_events(gateway *gw, request *rq, struct MHD_Response **resp);
/* GET /metrics, /healthz, /readyz (ops.c): text answers, not JSON; 404
 * for /metrics when the gateway has no metrics. */
unsigned gw_route_ops(gateway *gw, request *rq, struct MHD_Response **resp);

/* ---- GET /events: the hub of SSE clients (sse.c) -------------------------
 * The hub keeps the connected clients of GET /events.  Each has a buffer of
 * at most GW_SSE_BUFFER bytes of events not yet sent.  The events
 * subscriber's thread calls gw_hub_publish().  Each client's connection
 * thread waits in libmicrohttpd's content reader for its buffer, sending a
 * keep-alive comment every GW_SSE_KEEPALIVE_MS.  A client whose buffer is
 * full loses the event and is told how many it lost (an event `dropped`)
 * once there is room again.  All of it under the hub's one mutex. */
#define GW_SSE_MAX_CLIENTS  32          /* GET /events streams at once; more: 503 */
#define GW_SSE_BUFFER       (64 * 1024) /* bytes waiting to be sent, per client */
#define GW_SSE_KEEPALIVE_MS 15000
#define GW_SSE_FILTER_MAX   200 /* bytes of a type or node filter */

gw_hub *gw_hub_new(void);
/* Ends every stream (their readers return end of stream at once) and
 * refuses new ones.  Idempotent; NULL is fine. */
void gw_hub_close(gw_hub *h);
/* gw_hub_close(); frees h once no stream refers to it any more (the last
 * stream's end frees it otherwise).  NULL is fine. */
void gw_hub_free(gw_hub *h);
/* Hands one event to every client whose filters match: event is its name
 * ("container.started"), node the node it is about, json the event as one
 * line of JSON (len bytes, no newline).  Any thread. */
void gw_hub_publish(gw_hub *h, const char *event, const char *node, const char *json, size_t len);
/* Streams open now.  Any thread. */
size_t gw_hub_clients(gw_hub *h);

/* One stream (GET /events makes them; the unit tests use them directly). */
typedef struct gw_sse gw_sse;

/* A new stream with the filters type and node ("" or NULL: any; each at
 * most GW_SSE_FILTER_MAX bytes, longer ones are cut), on the connection's
 * socket fd (-1: unknown; it is looked at for a hang-up, never read).
 * NULL with *err GATEWAY_EUNAVAILABLE when GW_SSE_MAX_CLIENTS are open,
 * GATEWAY_ESTOPPING once the hub is closed. */
gw_sse *gw_hub_join(gw_hub *h, const char *type, const char *node, int fd, int *err);

/* libmicrohttpd's content reader of the stream.  Blocks until there is
 * something to send (events, a `dropped` notice, a keep-alive).  Copies at
 * most max bytes of it to out and returns their count.  Returns
 * MHD_CONTENT_READER_END_OF_STREAM once the hub is closed,
 * MHD_CONTENT_READER_END_WITH_ERROR once the client hung up. */
ssize_t gw_sse_read(gw_sse *c, char *out, size_t max);

/* The stream leaves the hub and is freed (libmicrohttpd's free callback). */
void gw_sse_leave(gw_sse *c);

/* ---- the events subscriber and queue depths (events.c) -------------------
 * One client-role broker connection of its own, owned by one thread.  It
 * watches <q>.events with a server-named exclusive auto-delete queue bound
 * with "#", and hands the events it passes on to the hub.  It reads the
 * depths of <q> and <q>.dead every GW_QUEUES_EVERY_MS with passive
 * declares (on the handle's side channel). */
#define GW_QUEUES_EVERY_MS 2000
#define GW_EVENT_MAX       (64 * 1024) /* bytes of one event; larger ones are dropped */

typedef struct gw_queue_depth {
    bool known;         /* false: not read yet, or the queue is missing */
    uint32_t messages;  /* ready messages */
    uint32_t consumers; /* consumers */
} gw_queue_depth;

/* Opens the connection from bc (copied, role forced to client), starts
 * watching and the thread.  0, or GATEWAY_EBROKER / GATEWAY_EINVAL with
 * *cause. */
int gw_events_start(const broker_conf *bc, gw_hub *hub, gw_events **out, char **cause);
/* The last depths read of the work and dead-letter queues, their names
 * (copied into work_name/dead_name, each of size namelen) and how long ago
 * they were read (-1: never).  Any thread. */
int64_t gw_events_queues(gw_events *ev, gw_queue_depth *work, gw_queue_depth *dead, char *work_name,
                         char *dead_name, size_t namelen);
/* Ends the thread and closes the connection.  NULL is fine. */
void gw_events_free(gw_events *ev);

#endif
