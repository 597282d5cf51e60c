/*
 * gateway.c -- the gateway's HTTP server on libmicrohttpd: the route
 * table, the protections every request passes, POST / and the access log.
 * The other routes' handlers live in dashboard.c and sse.c.  See gateway.h.
 *
 * DESIGN.  libmicrohttpd runs a thread per connection (thread-per-connection
 * mode, bounded by GATEWAY_MAX_CONNECTIONS), so a handler may block: POST /
 * waits in the submit function until the reply comes.
 *
 * One request is one `request` (libmicrohttpd's per-request closure).  It
 * is made at the first call of on_access(), when only the headers are
 * there.  admit() decides right then whether it goes on: rate, route,
 * token, whether what is served without a token is addressed to the
 * gateway, declared length.  The body is gathered under the cap, and the
 * route's handler answers once it is complete.  on_completed() writes the
 * access line and frees the request.
 *
 * The gateway itself keeps no state per request beyond that.  The only
 * state shared between the threads is the rate table (its own mutex), the
 * count of requests under way (gw->mu) and the quiesced flag (atomic).
 * Before it stops libmicrohttpd, gateway_free waits for the count to reach
 * 0, so that answers already made are sent.
 *
 * Routes are a table: method, path (or a path prefix followed by one more
 * segment), when they need the token (always, never, or only on a
 * listener that is not loopback), whether they read a body, and the
 * handler.  A handler fills *resp and returns the status.  The operations
 * routes (GET /metrics, /healthz, /readyz) are formatted in ops.c.  The
 * gateway reads the daemon's state only through conf->metrics and
 * conf->ready, so it depends on no engine.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <jansson.h>
#include <microhttpd.h>

#include "gateway_internal.h"
#include "log.h"
#include "protocol.h"
#include "text.h"

/* An idle connection is closed after this many seconds. */
#define IDLE_TIMEOUT_S 30
/* Largest certificate or key file read. */
#define PEM_MAX (1u << 20)
/* gateway_free waits this long for requests being answered to finish. */
#define STOP_GRACE_MS 3000

/* Codes of answers the gateway makes itself that no queue reply has
 * (docs/protocol.md, "Gateway"). */
#define CODE_UNAUTHORIZED "unauthorized"
#define CODE_METHOD       "method_not_allowed"
#define CODE_RATE         "rate_limited"
#define CODE_BAD_GATEWAY  "bad_gateway"
#define CODE_FORBIDDEN    "forbidden"
#define CODE_MEDIA_TYPE   "unsupported_media_type"

/* The routes. */
static const route routes[] = {
    {"POST", "/", AUTH_TOKEN, true, gw_route_submit, false},
    {"GET", "/", AUTH_NONE, false, gw_route_dashboard, false},
    {"GET", "/nodes", AUTH_TOKEN, false, gw_route_nodes, false},
    {"GET", "/containers", AUTH_TOKEN, false, gw_route_containers, false},
    {"GET", "/containers/", AUTH_TOKEN, false, gw_route_container, true},
    {"GET", "/images", AUTH_TOKEN, false, gw_route_images, false},
    {"GET", "/queues", AUTH_TOKEN, false, gw_route_queues, false},
    {"GET", "/events", AUTH_TOKEN, false, gw_route_events, false},
    {"GET", "/metrics", AUTH_REMOTE, false, gw_route_ops, false},
    {"GET", "/healthz", AUTH_REMOTE, false, gw_route_ops, false},
    {"GET", "/readyz", AUTH_REMOTE, false, gw_route_ops, false},
};

#define N_ROUTES (sizeof routes / sizeof routes[0])

const char *gateway_strerror(int err)
{
    switch (err) {
    case GATEWAY_OK:
        return "success";
    case GATEWAY_EINVAL:
        return "bad gateway setting";
    case GATEWAY_ENOMEM:
        return "out of memory";
    case GATEWAY_EADDR:
        return "bad gateway address";
    case GATEWAY_ETOKEN:
        return "gateway token missing or unusable";
    case GATEWAY_ETLS:
        return "gateway certificate or key unusable";
    case GATEWAY_ELISTEN:
        return "cannot listen on the gateway address";
    case GATEWAY_ETIMEOUT:
        return "no reply in time";
    case GATEWAY_EUNAVAILABLE:
        return "RabbitMQ unavailable";
    case GATEWAY_EBROKER:
        return "cannot connect to RabbitMQ";
    case GATEWAY_EREPLY:
        return "reply unusable";
    case GATEWAY_ESTOPPING:
        return "the gateway is stopping";
    }
    return "unknown gateway error";
}

void gateway_conf_init(gateway_conf *c)
{
    memset(c, 0, sizeof *c);
    c->rate = GATEWAY_DEFAULT_RATE;
}

/* ---- answers ----------------------------------------------------------- */

struct MHD_Response *gw_respond_text(request *rq, char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
        xoom();
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Request-Id", rq->id);
    return r;
}

struct MHD_Response *gw_respond_json(request *rq, json_t *reply)
{
    char *text = reply ? proto_reply_dumps(reply) : NULL;
    if (text == NULL)
        xoom();
    json_decref(reply);
    return gw_respond_text(rq, text);
}

/* An error the gateway answers itself: a reply-shaped object with code
 * and message, and status. */
unsigned gw_respond_error(gateway *gw, request *rq, struct MHD_Response **resp, unsigned status,
                          const char *code, const char *fmt, ...)
{
    char msg[PROTO_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *o = json_pack("{s:i, s:b, s:s?, s:n, s:s, s:{s:s, s:s, s:n, s:n}}", "schema",
                          PROTO_SCHEMA_VERSION, "ok", 0, "node", gw->node, "command", "request_id",
                          rq->id, "error", "code", code, "message", msg, "field", "http_status");
    if (o == NULL)
        xoom();
    snprintf(rq->code, sizeof rq->code, "%s", code);
    *resp = gw_respond_json(rq, o);
    return status;
}

/* Queues resp with status on conn and drops our reference. */
static enum MHD_Result answer(struct MHD_Connection *conn, request *rq, unsigned status,
                              struct MHD_Response *resp)
{
    rq->status = status;
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- POST / ------------------------------------------------------------- */

/* The status of a reply from the cluster: 200 when ok, else its error
 * code's (proto_code_http_status); 0 when reply is no reply object.  The
 * code goes to rq->code. */
static unsigned reply_status(request *rq, const char *reply)
{
    json_t *j = json_loads(reply, JSON_DISABLE_EOF_CHECK, NULL);
    unsigned status = 0;
    if (json_is_object(j)) {
        if (json_is_true(json_object_get(j, "ok"))) {
            status = 200;
        } else {
            const char *name =
                json_string_value(json_object_get(json_object_get(j, "error"), "code"));
            snprintf(rq->code, sizeof rq->code, "%s", name ? name : "internal");
            status = (unsigned)proto_code_http_status(proto_code_from_name(name));
        }
    }
    json_decref(j);
    return status;
}

/* POST /: one message of either dialect, checked here, answered by the
 * cluster. */
unsigned gw_route_submit(gateway *gw, request *rq, struct MHD_Response **resp)
{
    proto_cmd *cmd = NULL;
    proto_error perr;
    proto_limits lim;
    proto_reply_info ri;
    proto_limits_init(&lim);
    lim.max_body = gw->max_body;
    int rc = proto_parse(rq->body.data ? rq->body.data : "", rq->body.len, &lim, &cmd, &perr);
    if (rc != 0) {
        /* the answer the engine would give, without a round trip and
         * without a dead letter for what never was a message */
        proto_reply_info_init(&ri, NULL, &perr, gw->node, rq->id);
        snprintf(rq->code, sizeof rq->code, "%s", perr.code_name);
        *resp = gw_respond_json(rq, proto_reply_parse_error(&ri, &perr));
        return (unsigned)proto_code_http_status(rc);
    }
    snprintf(rq->cmd, sizeof rq->cmd, "%s", proto_cmd_name(cmd));
    proto_reply_info_init(&ri, cmd, NULL, gw->node, rq->id);

    char *reply = NULL;
    unsigned status;
    rc = gw->submit(gw->submit_ud, rq->id, rq->body.data, rq->body.len, gw->timeout_ms, &reply);
    if (rc == 0 && reply != NULL && (status = reply_status(rq, reply)) != 0) {
        *resp = gw_respond_text(rq, reply);
        reply = NULL;
    } else if (rc == 0) {
        status = gw_respond_error(gw, rq, resp, 502, CODE_BAD_GATEWAY,
                                  "the reply from the cluster is not a reply object");
    } else if (rc == GATEWAY_ETIMEOUT) {
        snprintf(rq->code, sizeof rq->code, "%s", proto_code_name(PROTO_ETIMEOUT));
        *resp = gw_respond_json(rq, proto_reply_error(&ri, PROTO_ETIMEOUT,
                                                      "no reply within the gateway's timeout; the "
                                                      "request may still be carried out",
                                                      NULL, 0));
        status = 504;
    } else if (rc == GATEWAY_EREPLY) {
        status = gw_respond_error(gw, rq, resp, 502, CODE_BAD_GATEWAY,
                                  "the reply from the cluster was over the size cap");
    } else {
        const char *why =
            rc == GATEWAY_EUNAVAILABLE
                ? "RabbitMQ is not reachable from this node, or the connection was lost before "
                  "the reply came (the request may have been carried out)"
            : rc == GATEWAY_ESTOPPING ? "the gateway is stopping; the request may have been "
                                        "carried out (a run goes on, its container stays)"
                                      : gateway_strerror(rc);
        snprintf(rq->code, sizeof rq->code, "%s", proto_code_name(PROTO_EUNAVAILABLE));
        *resp = gw_respond_json(rq, proto_reply_error(&ri, PROTO_EUNAVAILABLE, why, NULL, 0));
        status = 503;
    }
    free(reply);
    proto_cmd_free(cmd);
    return status;
}

/* ---- admission ---------------------------------------------------------- */

/* The raw address of conn's client (for the rate table) into key, and its
 * text into rq->client.  Returns the key's length (0: unknown). */
static size_t client_key(struct MHD_Connection *conn, request *rq, unsigned char key[16])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(rq->client, sizeof rq->client, "-");
    if (ci == NULL || ci->client_addr == NULL)
        return 0;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct in_addr *a = &((const struct sockaddr_in *)sa)->sin_addr;
        inet_ntop(AF_INET, a, rq->client, sizeof rq->client);
        memcpy(key, a, 4);
        return 4;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        inet_ntop(AF_INET6, a, rq->client, sizeof rq->client);
        memcpy(key, a, 16);
        return 16;
    }
    return 0;
}

/* The route for method and url; NULL with *path_known set when the path
 * exists under other methods (listed in allow). */
static const route *find_route(const char *method, const char *url, bool *path_known, char *allow,
                               size_t allowlen)
{
    *path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < N_ROUTES; i++) {
        size_t plen = strlen(routes[i].path);
        bool match = routes[i].prefix ? strncmp(routes[i].path, url, plen) == 0 &&
                                            url[plen] != '\0' && strchr(url + plen, '/') == NULL
                                      : strcmp(routes[i].path, url) == 0;
        if (!match)
            continue;
        if (strcmp(routes[i].method, method) == 0)
            return &routes[i];
        size_t o = strlen(allow);
        snprintf(allow + o, allowlen - o, "%s%s", *path_known ? ", " : "", routes[i].method);
        *path_known = true;
    }
    return NULL;
}

/* 1 when the request carries the token (or none is needed). */
static int authorized(gateway *gw, struct MHD_Connection *conn, bool *token_given)
{
    const char *tok;
    size_t len;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    *token_given = h != NULL;
    if (!gw->has_token)
        return 1;
    if (gw_bearer(h, &tok, &len) != 0)
        return 0;
    return gw_token_equal(gw->token_digest, tok, len);
}

/* What is served without a token on a loopback listener must be asked
 * for by a client of this host, not by a web page its browser opened
 * (guard.c, "requests addressed to this gateway"): Host names the
 * gateway, Origin (when a browser sends one) is its own, and a body is
 * JSON.  0 when rq passes, else the status of the refusal in *resp. */
static unsigned check_addressed(gateway *gw, struct MHD_Connection *conn, request *rq,
                                struct MHD_Response **resp)
{
    char shown[128];
    const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host == NULL || !gw_authority_ok(&gw->addr, gw->port, gw->https, host, strlen(host))) {
        text_token(shown, sizeof shown, host ? host : "", host ? strlen(host) : 0, 80);
        return gw_respond_error(gw, rq, resp, 403, CODE_FORBIDDEN,
                                "Host %s does not name this gateway: without a token it answers "
                                "only requests to localhost, 127.0.0.1, [::1] or %s, port %d",
                                host ? shown : "(none)", gw->addr.name, gw->port);
    }
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN);
    if (origin != NULL && !gw_origin_ok(&gw->addr, gw->port, gw->https, origin)) {
        text_token(shown, sizeof shown, origin, strlen(origin), 80);
        return gw_respond_error(gw, rq, resp, 403, CODE_FORBIDDEN,
                                "Origin %s is not this gateway's: without a token it serves no "
                                "other site's pages",
                                shown);
    }
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (rq->route->body && !gw_content_type_json(ct))
        return gw_respond_error(gw, rq, resp, 415, CODE_MEDIA_TYPE,
                                "%s %s takes Content-Type: application/json on a gateway "
                                "without a token",
                                rq->method, rq->path);
    return 0;
}

/* Decides, on the headers alone, whether rq goes on.  Returns MHD_YES to
 * read on, or the result of queueing the refusal. */
static enum MHD_Result admit(gateway *gw, struct MHD_Connection *conn, request *rq, const char *url,
                             const char *method)
{
    struct MHD_Response *resp = NULL;
    unsigned status;
    unsigned char key[16];
    size_t keylen = client_key(conn, rq, key);
    int retry = 1;
    bool path_known, token_given;
    char allow[64], hdr[16];

    if (atomic_load(&gw->quiesced)) {
        status = gw_respond_error(gw, rq, &resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                  "the gateway is stopping");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        return answer(conn, rq, status, resp);
    }
    if (!gw_rate_take(gw->rate, key, keylen, gw_now_ms(), &retry)) {
        status = gw_respond_error(gw, rq, &resp, 429, CODE_RATE,
                                  "more than the allowed requests per second from %s", rq->client);
        snprintf(hdr, sizeof hdr, "%d", retry);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, hdr);
        return answer(conn, rq, status, resp);
    }
    rq->route = find_route(method, url, &path_known, allow, sizeof allow);
    if (rq->route == NULL && path_known) {
        status = gw_respond_error(gw, rq, &resp, 405, CODE_METHOD, "%s is not served at %s",
                                  rq->method, rq->path);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        return answer(conn, rq, status, resp);
    }
    if (rq->route == NULL) {
        status = gw_respond_error(gw, rq, &resp, 404, proto_code_name(PROTO_ENOTFOUND),
                                  "no route %s %s", rq->method, rq->path);
        return answer(conn, rq, status, resp);
    }
    bool need = rq->route->auth == AUTH_TOKEN || (rq->route->auth == AUTH_REMOTE && !gw->loopback);
    if (need && !authorized(gw, conn, &token_given)) {
        status = gw_respond_error(gw, rq, &resp, 401, CODE_UNAUTHORIZED,
                                  token_given ? "the bearer token is not the gateway's"
                                              : "this gateway needs a bearer token "
                                                "(Authorization: Bearer TOKEN)");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                token_given ? "Bearer realm=\"docker-dispatch\", "
                                              "error=\"invalid_token\""
                                            : "Bearer realm=\"docker-dispatch\"");
        return answer(conn, rq, status, resp);
    }
    /* served without a token: only to requests addressed to the gateway */
    if (gw->loopback && !(need && gw->has_token) &&
        (status = check_addressed(gw, conn, rq, &resp)) != 0)
        return answer(conn, rq, status, resp);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl != NULL && strtoull(cl, NULL, 10) > gw->max_body) {
        status =
            gw_respond_error(gw, rq, &resp, 413, proto_code_name(PROTO_ETOOLARGE),
                             "the body is over the gateway's limit of %zu bytes", gw->max_body);
        return answer(conn, rq, status, resp);
    }
    return MHD_YES;
}

/* Appends n bytes of body to rq, up to the cap; beyond it the rest is
 * read and dropped, and the request answered 413 at its end. */
static void take_body(request *rq, const char *data, size_t n)
{
    if (rq->too_big || !rq->route->body)
        return;
    if (xbuf_add(&rq->body, data, n) != 0) {
        rq->too_big = true;
        xbuf_cleanup(&rq->body);
    }
}

static request *request_new(const char *url, const char *method, size_t max_body)
{
    request *rq = xcalloc(1, sizeof *rq);
    xbuf_init(&rq->body, max_body);
    rq->t0 = gw_now_ms();
    gw_request_id(rq->id, sizeof rq->id);
    text_token(rq->method, sizeof rq->method, method, strlen(method), 16);
    text_token(rq->path, sizeof rq->path, url, strlen(url), 48);
    return rq;
}

/* libmicrohttpd's access handler: called with the headers, then with each
 * piece of the body, then once more with none. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    gateway *gw = cls;
    request *rq = *con_cls;
    (void)version;
    if (rq == NULL) {
        rq = request_new(url, method, gw->max_body);
        rq->conn = conn;
        *con_cls = rq;
        pthread_mutex_lock(&gw->mu);
        gw->active++;
        pthread_mutex_unlock(&gw->mu);
        return admit(gw, conn, rq, url, method);
    }
    if (rq->status != 0) { /* answered already: drop whatever still comes */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        take_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp = NULL;
    unsigned status;
    if (rq->too_big)
        status =
            gw_respond_error(gw, rq, &resp, 413, proto_code_name(PROTO_ETOOLARGE),
                             "the body is over the gateway's limit of %zu bytes", gw->max_body);
    else if (atomic_load(&gw->quiesced))
        status = gw_respond_error(gw, rq, &resp, 503, proto_code_name(PROTO_EUNAVAILABLE),
                                  "the gateway is stopping");
    else {
        rq->url = url;
        status = rq->route->fn(gw, rq, &resp);
        rq->url = NULL;
    }
    return answer(conn, rq, status, resp);
}

/* The access line: one per request, like a queue message's lines. */
static void log_request(const request *rq, enum MHD_RequestTerminationCode toe)
{
    int64_t ms = gw_now_ms() - rq->t0;
    bool aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (log_is_json()) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "event", "http", "id", rq->id,
                              "client", rq->client, "method", rq->method, "path", rq->path,
                              "status", (int)rq->status, "duration_ms", (json_int_t)ms);
        if (o == NULL)
            xoom();
        if (rq->cmd[0])
            json_object_set_new(o, "cmd", json_string(rq->cmd));
        if (rq->code[0])
            json_object_set_new(o, "error", json_string(rq->code));
        if (aborted)
            json_object_set_new(o, "aborted", json_true());
        log_record(NULL, o);
        json_decref(o);
        return;
    }
    char line[512], code[48] = "", cmd[48] = "";
    if (rq->code[0])
        snprintf(code, sizeof code, " error=%s", rq->code);
    if (rq->cmd[0])
        snprintf(cmd, sizeof cmd, " cmd=%s", rq->cmd);
    snprintf(line, sizeof line,
             "http id=%s client=%s method=%s path=%s status=%u%s%s%s %lld.%03llds", rq->id,
             rq->client, rq->method, rq->path, rq->status, cmd, code, aborted ? " aborted" : "",
             (long long)(ms / 1000), (long long)(ms % 1000));
    log_record(line, NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    gateway *gw = cls;
    (void)conn;
    request *rq = *con_cls;
    if (rq == NULL)
        return;
    log_request(rq, toe);
    xbuf_cleanup(&rq->body);
    free(rq);
    *con_cls = NULL;
    pthread_mutex_lock(&gw->mu);
    if (--gw->active == 0)
        pthread_cond_broadcast(&gw->idle);
    pthread_mutex_unlock(&gw->mu);
}

/* Waits up to STOP_GRACE_MS for the requests under way to be answered
 * and sent (the bridge has answered those that waited for it). */
static void wait_idle(gateway *gw)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += STOP_GRACE_MS / 1000;
    until.tv_nsec += (long)(STOP_GRACE_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&gw->mu);
    while (gw->active > 0)
        if (pthread_cond_timedwait(&gw->idle, &gw->mu, &until) != 0)
            break;
    pthread_mutex_unlock(&gw->mu);
}

/* libmicrohttpd's diagnostics: kept as the reason of a failed start, and
 * on stderr in verbose mode. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    gateway *gw = cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
        msg[--n] = '\0';
    pthread_mutex_lock(&gw->mu);
    snprintf(gw->mhd_err, sizeof gw->mhd_err, "%s", msg);
    pthread_mutex_unlock(&gw->mu);
    log_msg(LOG_LVL_DEBUG, "gateway: libmicrohttpd: %s", msg);
}

/* ---- start and stop ----------------------------------------------------- */

/* Reads and checks the certificate and key (both or neither).  0, or
 * GATEWAY_EINVAL / GATEWAY_ETLS with *cause set. */
static int load_tls(gateway *gw, const gateway_conf *c, char **cause)
{
    if ((c->cert_file == NULL) != (c->key_file == NULL)) {
        gw_cause(cause, "the gateway's certificate and key go together: give both or neither");
        return GATEWAY_EINVAL;
    }
    if (c->cert_file == NULL)
        return 0;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
        gw_cause(cause, "this libmicrohttpd was built without TLS");
        return GATEWAY_ETLS;
    }
    size_t clen = 0, klen = 0;
    gw->cert_pem = gw_read_file("gateway certificate", c->cert_file, PEM_MAX, &clen, cause);
    if (gw->cert_pem == NULL)
        return GATEWAY_ETLS;
    gw->key_pem = gw_read_file("gateway key", c->key_file, PEM_MAX, &klen, cause);
    if (gw->key_pem == NULL)
        return GATEWAY_ETLS;
    /* The TLS library's own check, for a reason that names the problem
     * (libmicrohttpd would only fail to start). */
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0)
        xoom();
    gnutls_datum_t cd = {(unsigned char *)gw->cert_pem, (unsigned)clen};
    gnutls_datum_t kd = {(unsigned char *)gw->key_pem, (unsigned)klen};
    int rc = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        gw_cause(cause, "gateway certificate %s with key %s: %s", c->cert_file, c->key_file,
                 gnutls_strerror(rc));
        return GATEWAY_ETLS;
    }
    gw->https = 1;
    return 0;
}

/* Starts libmicrohttpd on addr.  0, or GATEWAY_ELISTEN with *cause. */
static int listen_on(gateway *gw, const gw_addr *addr, char **cause)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (addr->sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, gw->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, gw->key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };
    if (gw->https)
        flags |= MHD_USE_TLS;
    else
        tls[0].option = MHD_OPTION_END;
    gw->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, gw, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, gw,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr->sa, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)GATEWAY_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (gw->mhd == NULL) {
        pthread_mutex_lock(&gw->mu);
        gw_cause(cause, "cannot listen on %s: %s", addr->text,
                 gw->mhd_err[0] ? gw->mhd_err : "libmicrohttpd would not start");
        pthread_mutex_unlock(&gw->mu);
        return GATEWAY_ELISTEN;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(gw->mhd, MHD_DAEMON_INFO_BIND_PORT);
    gw->port = di ? di->port : 0;
    return 0;
}

int gateway_start(const gateway_conf *c, gateway **out, char **cause)
{
    gw_addr addr;
    int rc;
    *out = NULL;
    if (c == NULL || (c->broker == NULL && c->submit == NULL)) {
        gw_cause(cause, "the gateway needs a broker or a submit function");
        return GATEWAY_EINVAL;
    }
    if ((rc = gw_addr_parse(c->listen, &addr, cause)) != 0)
        return rc;
    gateway *gw = xcalloc(1, sizeof *gw);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&gw->idle, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&gw->mu, NULL);
    atomic_init(&gw->quiesced, 0);
    gw->max_body = c->max_body ? c->max_body : GATEWAY_DEFAULT_MAX_BODY;
    gw->timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : GATEWAY_DEFAULT_TIMEOUT_MS;
    gw->node = xstrdup(c->node);
    gw->rate = gw_rate_new(c->rate, GATEWAY_RATE_SLOTS);
    gw->loopback = addr.loopback;
    gw->addr = addr;
    gw->metrics = c->metrics;
    gw->ready = c->ready;
    gw->ready_ud = c->ready_ud;

    rc = gw_token_load(c->token, c->token_file, gw->token_digest, cause);
    if (rc < 0)
        goto fail;
    gw->has_token = rc == 1;
    if (!gw->has_token && !addr.loopback) {
        gw_cause(cause,
                 "the gateway address %s is not loopback: it needs a bearer token "
                 "(gateway_token or gateway_token_file)",
                 addr.text);
        rc = GATEWAY_ETOKEN;
        goto fail;
    }
    if ((rc = load_tls(gw, c, cause)) != 0)
        goto fail;
    gw->hub = gw_hub_new();
    if (c->broker != NULL) {
        gw->submit = gateway_bridge_submit;
        if ((rc = gateway_bridge_start(c->broker, &gw->bridge, cause)) != 0)
            goto fail;
        gw->submit_ud = gw->bridge;
        if ((rc = gw_events_start(c->broker, gw->hub, &gw->events, cause)) != 0)
            goto fail;
    } else {
        gw->submit = c->submit;
        gw->submit_ud = c->submit_ud;
    }
    if ((rc = listen_on(gw, &addr, cause)) != 0)
        goto fail;
    char where[96];
    snprintf(where, sizeof where, "%s", addr.text);
    char *colon = strrchr(where, ':');
    if (colon != NULL)
        snprintf(colon + 1, sizeof where - (size_t)(colon + 1 - where), "%d", gw->port);
    log_msg(LOG_LVL_INFO, "gateway listening on %s://%s/ (%s, body up to %zu bytes, %s)",
            gw->https ? "https" : "http", where,
            gw->has_token ? "bearer token required" : "no token", gw->max_body,
            gw->rate ? "rate bound per client" : "no rate bound");
    *out = gw;
    return 0;
fail:
    gateway_free(gw);
    return rc;
}

int gateway_port(const gateway *gw)
{
    return gw ? gw->port : 0;
}

void gateway_quiesce(gateway *gw)
{
    if (gw == NULL || atomic_exchange(&gw->quiesced, 1))
        return;
    if (gw->mhd != NULL) {
        MHD_socket s = MHD_quiesce_daemon(gw->mhd);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

void gateway_free(gateway *gw)
{
    if (gw == NULL)
        return;
    atomic_store(&gw->quiesced, 1);
    /* first the bridge, so that requests waiting for replies are answered;
     * then, once those answers are sent, the connection threads */
    gateway_bridge_stop(gw->bridge);
    gw_hub_close(gw->hub); /* the event streams end */
    if (gw->mhd != NULL) {
        wait_idle(gw);
        MHD_stop_daemon(gw->mhd);
    }
    gateway_bridge_free(gw->bridge);
    gw_events_free(gw->events);
    gw_hub_free(gw->hub);
    gw_rate_free(gw->rate);
    if (gw->key_pem != NULL) {
        explicit_bzero(gw->key_pem, strlen(gw->key_pem));
        free(gw->key_pem);
    }
    free(gw->cert_pem);
    free(gw->node);
    explicit_bzero(gw->token_digest, sizeof gw->token_digest);
    pthread_cond_destroy(&gw->idle);
    pthread_mutex_destroy(&gw->mu);
    free(gw);
}
