/*
 * test_engine.c -- the dispatch engine's error paths, with Docker replaced by
 * a fake transport handed to the engine through its client factory.
 *
 * Each case drives the engine as the daemon's main loop does: a delivery
 * goes in with engine_submit(), the outbox is polled with
 * engine_take_outbox() until the expected items are there (bounded waits),
 * and the items are checked.  The fake is a small router: a request's
 * method and path (version prefix and query string stripped, '*' standing
 * for one path segment, optionally a substring the query must hold) pick a
 * scripted answer: a status and a body, or a transport failure.  Every
 * engine thread (workers, supervisor, watcher) calls it, so its state is
 * under one mutex.  The real daemon is exercised by tests/integration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker_internal.h"
#include "cluster.h"
#include "dkc_internal.h"
#include "engine_internal.h"

#define WAIT_MS   5000 /* the longest any expected item may take */
#define SETTLE_MS 300  /* how long "nothing else comes" is watched */

#define ID1 "c0ffee0000000000000000000000000000000000000000000000000000000001"
#define ID2 "c0ffee0000000000000000000000000000000000000000000000000000000002"

/* ------------------------------------------------------------------------
 * The fake Docker
 * ------------------------------------------------------------------------ */

typedef struct route {
    struct route *next;
    char method[8];
    char pattern[160]; /* a path; '*' stands for one segment (a container id) */
    char query[64];    /* substring the query string must hold; "" any */
    long status;
    char *body; /* malloc'd, body_len bytes (may hold NULs) */
    size_t body_len;
    int rc;       /* non-zero: fail like a broken connection with this dkc_err */
    int hits;     /* requests answered by this route */
    int delay_ms; /* the answer comes this much later (a busy Docker) */
} route;

typedef struct fake {
    pthread_mutex_t mu;
    route *routes; /* first match wins */
    int down;      /* non-zero: every request fails with this dkc_err */
    int unrouted;  /* requests no route matched (answered 404) */
    char ping[16]; /* the API version /_ping offers; "": 1.41 */
    char last_unrouted[256];
    char last_create[8192];  /* the body of the last POST /containers/create */
    long long first_made_ns; /* realtime of the engine's first client (its start) */
} fake;

/* 1 if path (no query) matches pattern, '*' being one non-empty segment. */
static int path_match(const char *pat, const char *path)
{
    while (*pat && *path) {
        if (*pat == '*') {
            if (*path == '/')
                return 0;
            while (*path && *path != '/')
                path++;
            pat++;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *pat == '\0' && *path == '\0';
}

static route *find_route(fake *f, const char *method, const char *pattern, const char *query)
{
    for (route *r = f->routes; r; r = r->next)
        if (!strcmp(r->method, method) && !strcmp(r->pattern, pattern) &&
            !strcmp(r->query, query ? query : ""))
            return r;
    return NULL;
}

/* Scripts the answer to method + pattern (+ query substring): replaces the
 * route with that key (keeping its hit count) or adds it ahead of the
 * others.  body (len bytes, or strlen when len is 0) is copied. */
static void fake_route_n(fake *f, const char *method, const char *pattern, const char *query,
                         long status, const char *body, size_t len, int rc)
{
    pthread_mutex_lock(&f->mu);
    route *r = find_route(f, method, pattern, query);
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        assert_non_null(r);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->pattern, sizeof r->pattern, "%s", pattern);
        snprintf(r->query, sizeof r->query, "%s", query ? query : "");
        r->next = f->routes;
        f->routes = r;
    }
    free(r->body);
    r->body = NULL;
    r->body_len = body ? (len ? len : strlen(body)) : 0;
    if (body) {
        r->body = malloc(r->body_len + 1);
        assert_non_null(r->body);
        memcpy(r->body, body, r->body_len);
        r->body[r->body_len] = '\0';
    }
    r->status = status;
    r->rc = rc;
    pthread_mutex_unlock(&f->mu);
}

static void fake_route(fake *f, const char *method, const char *pattern, long status,
                       const char *body)
{
    fake_route_n(f, method, pattern, NULL, status, body, 0, 0);
}

/* A route that fails like a broken connection (DKC_EUNAVAILABLE, ...). */
static void fake_fail(fake *f, const char *method, const char *pattern, int rc)
{
    fake_route_n(f, method, pattern, NULL, 0, NULL, 0, rc);
}

static int fake_hits_q(fake *f, const char *method, const char *pattern, const char *query)
{
    pthread_mutex_lock(&f->mu);
    route *r = find_route(f, method, pattern, query);
    int n = r ? r->hits : 0;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static int fake_hits(fake *f, const char *method, const char *pattern)
{
    return fake_hits_q(f, method, pattern, NULL);
}

static void fake_set_down(fake *f, int rc)
{
    pthread_mutex_lock(&f->mu);
    f->down = rc;
    pthread_mutex_unlock(&f->mu);
}

/* The transport: routes one request.  Stream bodies (logs, events) go to
 * the request's sink outside the mutex, since the sink calls back into the
 * engine, which takes its own lock. */
static int fake_perform(void *impl, const dkc__req *req, const char *vpath, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    fake *f = impl;
    char path[512];
    const char *p = vpath;
    if (!strncmp(p, "/v1.", 4)) /* the version prefix */
        p = strchr(p + 1, '/') ? strchr(p + 1, '/') : "";
    snprintf(path, sizeof path, "%s", p);
    char *q = strchr(path, '?');
    const char *query = "";
    if (q) {
        *q = '\0';
        query = q + 1;
    }

    pthread_mutex_lock(&f->mu);
    route *r = NULL;
    if (strcmp(path, "/_ping") != 0)
        for (r = f->routes; r; r = r->next)
            if (!strcmp(r->method, req->method) && path_match(r->pattern, path) &&
                (r->query[0] == '\0' || strstr(query, r->query) != NULL))
                break;
    int rc = f->down;
    if (!strcmp(req->method, "POST") && !strcmp(path, "/containers/create") && req->body)
        snprintf(f->last_create, sizeof f->last_create, "%.*s", (int)req->body_len, req->body);
    if (r)
        r->hits++;
    else if (strcmp(path, "/_ping") != 0) {
        f->unrouted++;
        snprintf(f->last_unrouted, sizeof f->last_unrouted, "%s %.200s", req->method, path);
    }
    if (rc == 0 && r)
        rc = r->rc;
    long status = r ? r->status : strcmp(path, "/_ping") ? 404 : 200;
    size_t len = r ? r->body_len : 0;
    int delay_ms = r ? r->delay_ms : 0;
    char *body = NULL;
    if (r && r->body) {
        body = malloc(len + 1);
        if (body)
            memcpy(body, r->body, len + 1);
    }
    pthread_mutex_unlock(&f->mu);
    if (delay_ms > 0) {
        struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }

    if (rc != 0) {
        snprintf(errbuf, errlen, "connection reset by fake");
        free(body);
        return rc;
    }
    resp->status = status;
    if (strcmp(path, "/_ping") == 0) {
        snprintf(resp->api_version, sizeof resp->api_version, "%s", f->ping[0] ? f->ping : "1.41");
        return dkc__buf_append(&resp->body, "OK", 2);
    }
    if (r == NULL) {
        static const char msg[] = "{\"message\":\"fake: no route\"}";
        return dkc__buf_append(&resp->body, msg, sizeof msg - 1);
    }
    if (body == NULL)
        return 0;
    if (req->sink != NULL && status < 300) {
        rc = req->sink(req->sink_ud, body, len) ? DKC_ECANCELED : 0;
    } else {
        rc = dkc__buf_append(&resp->body, body, len);
        if (rc != 0)
            snprintf(errbuf, errlen, "too big");
    }
    free(body);
    return rc;
}

/* The engine's client factory: a client for a dummy address with the fake
 * as its transport.  Called from several threads. */
static int fake_make(void *ud, dkc_client **out, char *errbuf, size_t errlen)
{
    dkc_options o;
    dkc_options_init(&o);
    o.host = "unix:///fake.sock";
    int rc = dkc_client_new(&o, out, errbuf, errlen);
    if (rc != 0)
        return rc;
    dkc__transport t = {.perform = fake_perform, .free = NULL, .impl = ud};
    dkc__client_set_transport(*out, &t);
    fake *f = ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&f->mu);
    if (f->first_made_ns == 0)
        f->first_made_ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* An image inspect of an image the host has (no labels: nobody
 * committed it). */
static const char IMAGE_OF_HOST[] = "{\"Id\":\"sha256:feed\",\"RepoTags\":[\"busybox:latest\"],"
                                    "\"Config\":{\"Labels\":null}}";

/* A healthy, empty Docker: creates answer ID1, starts work, inspected
 * containers run, nothing is listed, the event stream ends at once (the
 * watcher comes back every 200 ms), nothing carries an answered mark,
 * every image inspected is the host's. */
static void fake_defaults(fake *f)
{
    fake_route(f, "GET", "/events", 200, "");
    fake_route(f, "GET", "/containers/json", 200, "[]");
    fake_route(f, "POST", "/containers/create", 201, "{\"Id\":\"" ID1 "\",\"Warnings\":[]}");
    fake_route(f, "POST", "/containers/*/start", 204, NULL);
    fake_route(f, "GET", "/containers/*/json", 200,
               "{\"Id\":\"" ID1 "\",\"Name\":\"/fake_name\",\"State\":{\"Running\":true,"
               "\"ExitCode\":0,\"StartedAt\":\"2024-01-01T00:00:00Z\","
               "\"FinishedAt\":\"0001-01-01T00:00:00Z\"},\"Config\":{\"Tty\":false,"
               "\"Labels\":{}}}");
    fake_route(f, "POST", "/containers/*/rename", 204, NULL);
    fake_route(f, "DELETE", "/containers/*", 204, NULL);
    fake_route(f, "POST", "/containers/*/kill", 204, NULL);
    fake_route(f, "PUT", "/containers/*/archive", 200, NULL);
    fake_route(f, "GET", "/containers/*/archive", 404, "{\"message\":\"no such file\"}");
    fake_route(f, "GET", "/containers/*/logs", 200, NULL);
    /* images are the host's: busybox:latest and the like, no labels */
    fake_route(f, "GET", "/images/*/json", 200, IMAGE_OF_HOST);
}

static void fake_cleanup(fake *f)
{
    while (f->routes) {
        route *r = f->routes;
        f->routes = r->next;
        free(r->body);
        free(r);
    }
    pthread_mutex_destroy(&f->mu);
}

/* ------------------------------------------------------------------------
 * The engine under test and what came out of it
 * ------------------------------------------------------------------------ */

typedef struct fixture {
    fake f;
    dd_policy policy;
    engine *e;
    engine_out **got; /* every item taken from the outbox, in order */
    size_t n_got, cap_got;
    int supervise_ms;      /* engine_conf.supervise_ms; 0: 1000 */
    size_t max_reply;      /* engine_conf.max_reply; 0: the engine's default */
    uint32_t generation;   /* of the deliveries fx_submit_ex hands over */
    const char *amqp_user; /* engine_conf.amqp_user */
    metrics_dd *metrics;   /* engine_conf.metrics; NULL: none (freed with the fixture) */
    cluster *members;      /* engine_conf.members; NULL: none (freed with the fixture) */
} fixture;

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    pthread_mutex_init(&fx->f.mu, NULL);
    fake_defaults(&fx->f);
    policy_init(&fx->policy);
    *state = fx;
    return 0;
}

/* Stops the engine and frees everything.  A request the fake had no route
 * for fails the case: the engine asked Docker something unexpected. */
static int fx_teardown(void **state)
{
    fixture *fx = *state;
    if (fx->e) {
        engine_begin_shutdown(fx->e);
        engine_free(fx->e);
    }
    metrics_dd_free(fx->metrics);
    cluster_free(fx->members);
    int rc = 0;
    if (fx->f.unrouted > 0) {
        print_error("%d request(s) without a route, the last: %s\n", fx->f.unrouted,
                    fx->f.last_unrouted);
        rc = -1;
    }
    for (size_t i = 0; i < fx->n_got; i++)
        engine_out_free(fx->got[i]);
    free(fx->got);
    policy_cleanup(&fx->policy);
    fake_cleanup(&fx->f);
    free(fx);
    return rc;
}

static void fx_start(fixture *fx)
{
    engine_conf conf = {.node = "n1",
                        .cluster = "c1",
                        .workers = 2,
                        .max_body = 1 << 20,
                        .output_limit = 1 << 16,
                        .quiet_output = true,
                        .max_reply = fx->max_reply,
                        .amqp_user = fx->amqp_user,
                        .metrics = fx->metrics,
                        .members = fx->members,
                        .supervise_ms = fx->supervise_ms ? fx->supervise_ms : 1000};
    engine_client_factory fac = {.make = fake_make, .ud = &fx->f};
    char why[256] = "";
    fx->e = engine_start(&conf, &fx->policy, &fac, why, sizeof why);
    if (fx->e == NULL)
        print_error("engine_start: %s\n", why);
    assert_non_null(fx->e);
}

/* Hands a delivery of user (NULL: none) to the engine as the main loop
 * does (strings copied; message_id may be any bytes). */
static void fx_submit_as(fixture *fx, const char *user, uint64_t tag, const char *message_id,
                         const char *body, int redelivered)
{
    broker_delivery d;
    memset(&d, 0, sizeof d);
    d.user_id = user ? strdup(user) : NULL;
    d.tag = tag;
    d.generation = fx->generation;
    d.redelivered = redelivered;
    d.source = BROKER_SRC_WORK;
    d.delivery_count = -1;
    d.death_count = -1;
    d.message_id = message_id ? strdup(message_id) : NULL;
    d.correlation_id = strdup("corr-1");
    d.reply_to = strdup("replies");
    d.len = strlen(body);
    d.body = malloc(d.len + 1);
    assert_non_null(d.correlation_id);
    assert_non_null(d.reply_to);
    assert_non_null(d.body);
    memcpy(d.body, body, d.len + 1);
    engine_submit(fx->e, &d);
    assert_null(d.body); /* moved */
}

static void fx_submit_ex(fixture *fx, uint64_t tag, const char *message_id, const char *body,
                         int redelivered)
{
    fx_submit_as(fx, NULL, tag, message_id, body, redelivered);
}

static void fx_submit(fixture *fx, uint64_t tag, const char *message_id, const char *body)
{
    fx_submit_ex(fx, tag, message_id, body, 0);
}

/* The broker's second delivery of one message. */
static void fx_submit_again(fixture *fx, uint64_t tag, const char *message_id, const char *body)
{
    fx_submit_ex(fx, tag, message_id, body, 1);
}

/* Takes what the outbox holds now into fx->got. */
static void fx_take(fixture *fx)
{
    engine_out *l = engine_take_outbox(fx->e);
    while (l) {
        engine_out *o = l;
        l = o->next;
        o->next = NULL;
        if (fx->n_got == fx->cap_got) {
            fx->cap_got = fx->cap_got ? 2 * fx->cap_got : 16;
            fx->got = realloc(fx->got, fx->cap_got * sizeof *fx->got);
            assert_non_null(fx->got);
        }
        fx->got[fx->n_got++] = o;
    }
}

static size_t fx_count(const fixture *fx, engine_out_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n_got; i++)
        n += fx->got[i]->kind == kind;
    return n;
}

/* The nth (from 0) item of kind taken so far, or NULL. */
static engine_out *fx_nth(const fixture *fx, engine_out_kind kind, size_t nth)
{
    for (size_t i = 0; i < fx->n_got; i++)
        if (fx->got[i]->kind == kind && nth-- == 0)
            return fx->got[i];
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls the outbox until n items of kind were taken (then returns the nth,
 * counting from 1) or WAIT_MS pass (fails the test). */
static engine_out *fx_wait(fixture *fx, engine_out_kind kind, size_t n)
{
    int64_t until = eng_now_ms() + WAIT_MS;
    for (;;) {
        fx_take(fx);
        if (fx_count(fx, kind) >= n)
            return fx_nth(fx, kind, n - 1);
        if (eng_now_ms() >= until)
            break;
        sleep_ms(5);
    }
    print_error("waited %d ms for %zu item(s) of kind %d, got %zu (%zu items in all)\n", WAIT_MS, n,
                (int)kind, fx_count(fx, kind), fx->n_got);
    fail();
    return NULL;
}

/* Polls the outbox until an EVENT item whose "event" is name was taken or
 * WAIT_MS pass (fails the test); returns it parsed (json_decref).  The
 * event may come after the reply that the same exit made. */
static json_t *fx_wait_event(fixture *fx, const char *name)
{
    int64_t until = eng_now_ms() + WAIT_MS;
    for (;;) {
        fx_take(fx);
        for (size_t k = 0; k < fx_count(fx, ENGINE_OUT_EVENT); k++) {
            json_t *pub = json_loads(fx_nth(fx, ENGINE_OUT_EVENT, k)->event.body, 0, NULL);
            if (pub != NULL &&
                !strcmp(json_string_value(json_object_get(pub, "event")) ?: "", name))
                return pub;
            json_decref(pub);
        }
        if (eng_now_ms() >= until)
            break;
        sleep_ms(5);
    }
    print_error("waited %d ms for a %s event, got %zu event(s)\n", WAIT_MS, name,
                fx_count(fx, ENGINE_OUT_EVENT));
    fail();
    return NULL;
}

/* Polls route hits until at least n or WAIT_MS pass (fails the test). */
static void wait_hits(fixture *fx, const char *method, const char *pattern, int n)
{
    int64_t until = eng_now_ms() + WAIT_MS;
    while (fake_hits(&fx->f, method, pattern) < n && eng_now_ms() < until)
        sleep_ms(5);
    int got = fake_hits(&fx->f, method, pattern);
    if (got < n)
        print_error("%s %s: waited for %d call(s), saw %d\n", method, pattern, n, got);
    assert_true(got >= n);
}

/* Keeps taking the outbox for SETTLE_MS (to show that something does not
 * come). */
static void fx_settle(fixture *fx)
{
    int64_t until = eng_now_ms() + SETTLE_MS;
    while (eng_now_ms() < until) {
        fx_take(fx);
        sleep_ms(10);
    }
    fx_take(fx);
}

/* The reply body of a REPLY item, parsed (json_decref). */
static json_t *reply_json(const engine_out *o)
{
    assert_non_null(o);
    assert_int_equal(o->kind, ENGINE_OUT_REPLY);
    assert_non_null(o->reply.body);
    json_error_t jerr;
    json_t *r = json_loads(o->reply.body, 0, &jerr);
    if (r == NULL)
        print_error("reply is not JSON (%s): %s\n", jerr.text, o->reply.body);
    assert_non_null(r);
    return r;
}

#define assert_str(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || strcmp(a_, b_) != 0)                                                     \
            print_error("expected \"%s\", got \"%s\"\n", b_, a_ ? a_ : "(null)");                  \
        assert_non_null(a_);                                                                       \
        assert_string_equal(a_, b_);                                                               \
    } while (0)

/* Checks an error reply: ok false, error.code, and error.http_status (0:
 * null, -1: not checked).  Returns the error object (borrowed from r). */
static json_t *check_error(json_t *r, const char *code, long http)
{
    assert_true(json_is_false(json_object_get(r, "ok")));
    json_t *err = json_object_get(r, "error");
    assert_true(json_is_object(err));
    assert_str(json_string_value(json_object_get(err, "code")), code);
    json_t *hs = json_object_get(err, "http_status");
    if (http == 0) {
        assert_true(json_is_null(hs));
    } else if (http > 0) {
        assert_true(json_is_integer(hs));
        assert_int_equal(json_integer_value(hs), http);
    }
    return err;
}

static const char RUN[] = "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"]}";
static const char RUN_ATTACH[] = "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\","
                                 "\"Cmd\":[\"true\"],\"Options\":{\"Attach\":[\"STDOUT\"]}}";

/* ------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* libdkc's errors map onto the reply codes a client sees (was in
 * test_protocol.c). */
static void dkc_errors_map_to_reply_codes(void **state)
{
    (void)state;
    assert_int_equal(eng_code_from_dkc(DKC_OK), 0);
    assert_int_equal(eng_code_from_dkc(DKC_ENOTFOUND), PROTO_ENOTFOUND);
    assert_int_equal(eng_code_from_dkc(DKC_ECONFLICT), PROTO_ECONFLICT);
    assert_int_equal(eng_code_from_dkc(DKC_ENOTMODIFIED), PROTO_ENOTMODIFIED);
    assert_int_equal(eng_code_from_dkc(DKC_EUNAVAILABLE), PROTO_EDOCKERUNAVAILABLE);
    assert_int_equal(eng_code_from_dkc(DKC_ETLS), PROTO_EDOCKERUNAVAILABLE);
    assert_int_equal(eng_code_from_dkc(DKC_ETIMEOUT), PROTO_ETIMEOUT);
    assert_int_equal(eng_code_from_dkc(DKC_ECANCELED), PROTO_ECANCELED);
    assert_int_equal(eng_code_from_dkc(DKC_EBADREQUEST), PROTO_EBADREQUEST);
    assert_int_equal(eng_code_from_dkc(DKC_EUNSUPPORTED), PROTO_EUNSUPPORTED);
    assert_int_equal(eng_code_from_dkc(DKC_EVERSION), PROTO_EDOCKERUNAVAILABLE);
    assert_int_equal(eng_code_from_dkc(DKC_ESERVER), PROTO_EDOCKER);
    assert_int_equal(eng_code_from_dkc(DKC_ESTREAM), PROTO_EDOCKER);
    assert_int_equal(eng_code_from_dkc(DKC_ENOMEM), PROTO_EINTERNAL);
}

/* Docker refusing a create: an error reply carrying Docker's status and
 * message, the message acked (no dead letter), nothing started. */
static void a_refused_create_is_answered_docker_error(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "POST", "/containers/create", 500,
               "{\"message\":\"the fake daemon is out of order\"}");
    fx_start(fx);
    fx_submit(fx, 11, "req-500", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 11); /* acked once published */
    assert_null(o->reply.dl);
    assert_str(o->reply.reply_to, "replies");
    assert_str(o->reply.correlation_id, "corr-1");
    assert_null(o->reply.after_remove);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "docker_error", 500);
    assert_str(json_string_value(json_object_get(err, "message")),
               "the fake daemon is out of order");
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-500");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_NACK), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_PAUSE), 0);
}

/* From API 1.44 on Docker refuses at create, all at once, what it used to
 * refuse at start one at a time (every version of this answer is
 * bad_request: a start refusal with 400 is answered so too).  The run is
 * answered bad_request with Docker's whole text on one line; nothing was
 * made, so nothing is started or removed. */
static void validation_errors_at_create_are_answered_bad_request(void **state)
{
    fixture *fx = *state;
    snprintf(fx->f.ping, sizeof fx->f.ping, "1.52");
    fake_route(&fx->f, "POST", "/containers/create", 400,
               "{\"message\":\"invalid mount config for type \\\"bind\\\": bind source path "
               "does not exist: /nope\\ninvalid port specification: \\\"99999\\\"\"}");
    fx_start(fx);
    fx_submit(fx, 12, "req-400", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 12);
    assert_null(o->reply.dl);
    assert_null(o->reply.after_remove);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "bad_request", 400);
    assert_str(json_string_value(json_object_get(err, "message")),
               "invalid mount config for type \"bind\": bind source path does not exist: /nope "
               "invalid port specification: \"99999\"");
    json_decref(r);
    fx_settle(fx);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 0);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/containers/*"), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_NACK), 0);
}

/* An image Docker does not have: not_found with Docker's 404 and message. */
static void a_missing_image_is_answered_not_found(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "POST", "/containers/create", 404,
               "{\"message\":\"No such image: busybox:latest\"}");
    fx_start(fx);
    fx_submit(fx, 12, "req-404", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 12);
    assert_null(o->reply.dl);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "not_found", 404);
    assert_str(json_string_value(json_object_get(err, "message")), "No such image: busybox:latest");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 0);
}

/* Docker unreachable: the run is requeued (NACK requeue), consumption
 * paused, nobody is answered and nothing created; once Docker answers
 * again, consumption resumes. */
static void docker_unreachable_requeues_and_pauses(void **state)
{
    fixture *fx = *state;
    fake_set_down(&fx->f, DKC_EUNAVAILABLE);
    fx_start(fx);
    fx_submit(fx, 13, "req-down", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_NACK, 1);
    assert_int_equal(o->nack.tag, 13);
    assert_int_equal(o->nack.requeue, 1);
    fx_wait(fx, ENGINE_OUT_PAUSE, 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_ACK), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_PAUSE), 1); /* said once */
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_RESUME), 0);

    fake_set_down(&fx->f, 0);
    fx_wait(fx, ENGINE_OUT_RESUME, 1);
}

/* Docker timing out on the create: like unreachable (requeue, pause, no
 * reply), nothing started. */
static void a_create_timing_out_requeues_and_pauses(void **state)
{
    fixture *fx = *state;
    fake_fail(&fx->f, "POST", "/containers/create", DKC_ETIMEOUT);
    fx_start(fx);
    fx_submit(fx, 14, "req-tmo", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_NACK, 1);
    assert_int_equal(o->nack.tag, 14);
    assert_int_equal(o->nack.requeue, 1);
    fx_wait(fx, ENGINE_OUT_PAUSE, 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 0);
}

/* Docker timing out on the start of a created container: requeued without
 * a reply, and the container is kept (neither renamed nor removed) for the
 * redelivered message to adopt. */
static void a_start_timing_out_requeues_and_keeps_the_container(void **state)
{
    fixture *fx = *state;
    fake_fail(&fx->f, "POST", "/containers/*/start", DKC_ETIMEOUT);
    fx_start(fx);
    fx_submit(fx, 15, "req-start-tmo", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_NACK, 1);
    assert_int_equal(o->nack.tag, 15);
    assert_int_equal(o->nack.requeue, 1);
    fx_wait(fx, ENGINE_OUT_PAUSE, 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/rename"), 0);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/containers/*"), 0);
}

/* Docker answering a create with 200 and a body that is not JSON: an error
 * reply (docker_error: the Engine answered, but not in its protocol), no
 * start, no crash.  (http_status is left unchecked: today it is the 200 of
 * that answer, which a DockerMod client also gets as its statusCode.) */
static void a_garbage_create_answer_is_answered_docker_error(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "POST", "/containers/create", 200, "<html>502 Bad Gateway</html>");
    fx_start(fx);
    fx_submit(fx, 16, "req-garbage", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 16);
    assert_null(o->reply.dl);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "docker_error", 0); /* a 2xx is no status of a failure */
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (msg == NULL || strstr(msg, "not JSON") == NULL)
        print_error("message: %s\n", msg ? msg : "(null)");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "not JSON"));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_NACK), 0);
}

/* A start refused after a successful create: the error is the answer, and
 * the container goes once that answer is out -- the REPLY names it in
 * after_remove (remove, not mark), nothing touches it before, and
 * engine_after() renames it "answered-<id>" and removes it. */
static void a_refused_start_is_answered_then_removed(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "POST", "/containers/*/start", 500,
               "{\"message\":\"OCI runtime create failed: no such file\"}");
    fake_route(&fx->f, "DELETE", "/containers/" ID1, 204, NULL);
    fake_route(&fx->f, "POST", "/containers/" ID1 "/rename", 204, NULL);
    fx_start(fx);
    fx_submit(fx, 17, "req-start-500", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 17);
    assert_null(o->reply.dl);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "docker_error", 500);
    assert_str(json_string_value(json_object_get(err, "message")),
               "OCI runtime create failed: no such file");
    json_decref(r);
    assert_str(o->reply.after_remove, ID1);
    assert_int_equal(o->reply.after_mark, 0);
    fx_settle(fx);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/" ID1 "/rename"), 0);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/containers/" ID1), 0);

    /* the reply is published: the main loop hands the follow-up back */
    engine_after(fx->e, o->reply.after_remove, !o->reply.after_mark);
    wait_hits(fx, "DELETE", "/containers/" ID1, 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/" ID1 "/rename"), 1);
    assert_int_equal(fake_hits(&fx->f, "PUT", "/containers/*/archive"), 0); /* not marked */
}

/* A die event at nano (realtime ns) for a run container owing its final
 * reply ("final" label). */
static void script_die_event_at(fake *f, const char *id, long long nano)
{
    char ev[1024];
    snprintf(ev, sizeof ev,
             "{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"%s\","
             "\"Attributes\":{\"" LBL "final\":\"1\",\"" LBL "node\":\"n1\"}},"
             "\"time\":%lld,\"timeNano\":%lld}\n",
             id, nano / 1000000000LL, nano);
    fake_route(f, "GET", "/events", 200, ev);
}

/* The same, its time now: after the engine's start, so the watcher takes it. */
static void script_die_event(fake *f, const char *id)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    script_die_event_at(f, id, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

/* An exited run container's inspect, with the labels a run with Attach
 * carries. */
/* Docker lists the run of request rid (ID1) as running from its creation
 * on, with this node's labels; the request's own look-up finds nothing (it
 * is new).  A list without the container would tell the supervisor it is
 * gone and no longer this process's. */
static void script_listed_running(fake *f, const char *rid)
{
    char list[1024];
    snprintf(list, sizeof list,
             "[{\"Id\":\"" ID1 "\",\"State\":\"running\",\"Labels\":{\"" LBL
             "cluster\":\"c1\",\"" LBL "node\":\"n1\",\"" LBL "final\":\"1\",\"" LBL
             "request\":\"%s\"}}]",
             rid);
    fake_route_n(f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fake_route(f, "GET", "/containers/json", 200, list);
}

static void script_exited_inspect(fake *f, const char *id, const char *rid, int exit_code)
{
    char ins[2048];
    snprintf(ins, sizeof ins,
             "{\"Id\":\"%s\",\"Name\":\"/fake_name\",\"State\":{\"Running\":false,"
             "\"ExitCode\":%d,\"StartedAt\":\"2024-01-01T00:00:00Z\","
             "\"FinishedAt\":\"2024-01-01T00:00:01Z\",\"Error\":\"\"},"
             "\"Config\":{\"Tty\":false,\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL
             "node\":\"n1\",\"" LBL "request\":\"%s\",\"" LBL "final\":\"1\",\"" LBL
             "attach\":\"stdout\",\"" LBL "reply-to\":\"replies\",\"" LBL
             "correlation-id\":\"corr-1\",\"" LBL "output-limit\":\"65536\"}}}",
             id, exit_code, rid);
    char pat[160];
    snprintf(pat, sizeof pat, "/containers/%s/json", id);
    fake_route(f, "GET", pat, 200, ins);
}

/* The supervisor's list of this node's containers: one exited run
 * container owing its final reply. */
static void script_exited_in_list(fake *f, const char *id, const char *rid)
{
    char list[1024];
    snprintf(list, sizeof list,
             "[{\"Id\":\"%s\",\"State\":\"exited\",\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL
             "node\":\"n1\",\"" LBL "final\":\"1\",\"" LBL "request\":\"%s\"}}]",
             id, rid);
    fake_route(f, "GET", "/containers/json", 200, list);
}

/* A run with Attach whose container vanishes before its final reply:
 * started and acked, then the supervisor lists it as exited but inspecting
 * it answers 404.  No reply (nothing is known to answer with), no crash, no
 * logs read, and it is not looked at again on the next pass. */
static void a_container_vanishing_before_its_final_reply_gets_none(void **state)
{
    fixture *fx = *state;
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fake_route(&fx->f, "GET", "/containers/" ID1 "/json", 404,
               "{\"message\":\"No such container: " ID1 "\"}");
    fx_start(fx);
    fx_submit(fx, 18, "req-vanish", RUN_ATTACH);
    engine_out *o = fx_wait(fx, ENGINE_OUT_ACK, 1);
    assert_int_equal(o->ack.tag, 18);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 1);
    assert_int_equal(fake_hits(&fx->f, "GET", "/containers/" ID1 "/json"), 0);

    script_exited_in_list(&fx->f, ID1, "req-vanish");
    wait_hits(fx, "GET", "/containers/" ID1 "/json", 1);
    /* one more supervision pass (at most a second away) */
    wait_hits(fx, "GET", "/containers/json", fake_hits(&fx->f, "GET", "/containers/json") + 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_int_equal(fake_hits(&fx->f, "GET", "/containers/*/logs"), 0);
    assert_int_equal(fake_hits(&fx->f, "GET", "/containers/" ID1 "/json"), 1);
}

/* A run of this process whose logs answer 404 when its final reply is
 * made (removed by someone between its exit and the read): it is still
 * answered once, from its inspect (exit code, empty output), and marked
 * afterwards since it is not a Remove run. */
static void a_run_whose_logs_vanish_is_answered_without_output(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/*/logs", 404,
               "{\"message\":\"No such container: " ID1 "\"}");
    /* (a list without the container made a pass between the start and the
     * die event take it for gone, here under load) */
    script_listed_running(&fx->f, "req-logs-gone");
    fx_start(fx);
    fx_submit(fx, 19, "req-logs-gone", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    script_exited_inspect(&fx->f, ID1, "req-logs-gone", 3);
    script_die_event(&fx->f, ID1);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 0); /* the message was acked when started */
    assert_null(o->reply.dl);
    assert_str(o->reply.reply_to, "replies");
    assert_str(o->reply.correlation_id, "corr-1");
    assert_str(o->reply.after_remove, ID1);
    assert_int_equal(o->reply.after_mark, 1);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-logs-gone");
    json_t *res = json_object_get(r, "result");
    assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 3);
    assert_str(json_string_value(json_object_get(res, "stdout")), "");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "GET", "/containers/*/logs"), 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
}

/* Die events in the form of each Engine API version (built from moby's
 * api/docs): 1.52 and newer without status/id/from, 1.22 to 1.51 with
 * both forms.  Each, at the daemon's version, finishes the run that
 * died: its final reply is published once, from the watcher alone (the
 * supervisor's list still shows it running, and passes are a minute
 * apart). */
static void a_die_event_of_every_version_finishes_its_run(void **state)
{
    static const struct {
        const char *ping, *status_id_from;
    } shapes[] = {
        {"1.52", ""},
        {"1.56", ""},
        {"1.45", "\"status\":\"die\",\"id\":\"" ID1 "\",\"from\":\"busybox:latest\","},
        {"1.41", "\"status\":\"die\",\"id\":\"" ID1 "\",\"from\":\"busybox:latest\","},
    };
    fixture *fx = *state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (i > 0) {
            fx_teardown(state);
            fx_setup(state);
            fx = *state;
        }
        snprintf(fx->f.ping, sizeof fx->f.ping, "%s", shapes[i].ping);
        fx->supervise_ms = 60000;
        fake_route(&fx->f, "GET", "/containers/*/logs", 200, "");
        script_listed_running(&fx->f, "req-shape");
        fx_start(fx);
        fx_submit(fx, 30, "req-shape", RUN_ATTACH);
        fx_wait(fx, ENGINE_OUT_ACK, 1);
        script_exited_inspect(&fx->f, ID1, "req-shape", 4);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long nano = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        char ev[1024];
        snprintf(ev, sizeof ev,
                 "{%s\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" ID1 "\","
                 "\"Attributes\":{\"exitCode\":\"4\",\"image\":\"busybox:latest\",\"" LBL
                 "final\":\"1\",\"" LBL "node\":\"n1\"}},\"scope\":\"local\","
                 "\"time\":%lld,\"timeNano\":%lld}\n",
                 shapes[i].status_id_from, nano / 1000000000LL, nano);
        fake_route(&fx->f, "GET", "/events", 200, ev);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
        json_t *r = reply_json(o);
        assert_true(json_is_true(json_object_get(r, "ok")));
        assert_str(json_string_value(json_object_get(r, "request_id")), "req-shape");
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(r, "result"), "exit_code")), 4);
        json_decref(r);
        /* and the die is published as this node's event, what the
         * gateway's event stream and `dispatchctl events` pass on */
        json_t *exited = fx_wait_event(fx, "container.exited");
        json_t *ct = json_object_get(exited, "container");
        assert_str(json_string_value(json_object_get(ct, "id")), ID1);
        assert_str(json_string_value(json_object_get(ct, "image")), "busybox:latest");
        assert_int_equal(json_integer_value(json_object_get(exited, "exit_code")), 4);
        assert_str(json_string_value(json_object_get(exited, "node")), "n1");
        json_decref(exited);
        fx_settle(fx);
        assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
    }
}

/* A run that died while the engine was starting (its die dated when the
 * engine made its first Docker client, before its threads ran): the
 * watcher takes events from the engine's start on, so it finishes the run.
 * Passes are a minute apart, so no pass answers it instead. */
static void a_die_event_from_the_engines_start_finishes_its_run(void **state)
{
    fixture *fx = *state;
    fx->supervise_ms = 60000;
    fake_route(&fx->f, "GET", "/containers/*/logs", 200, "");
    script_listed_running(&fx->f, "req-early");
    fx_start(fx);
    fx_submit(fx, 32, "req-early", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    script_exited_inspect(&fx->f, ID1, "req-early", 5);
    pthread_mutex_lock(&fx->f.mu);
    long long at = fx->f.first_made_ns;
    pthread_mutex_unlock(&fx->f.mu);
    assert_true(at > 0);
    script_die_event_at(&fx->f, ID1, at);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-early");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "exit_code")),
                     5);
    json_decref(r);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
}

/* The oldest form of event (status/id/from alone, the time in seconds):
 * it does not say whose container died, so it wakes the supervisor, whose
 * pass finds the exited run and publishes its final reply. */
static void a_die_event_of_the_oldest_form_wakes_the_supervisor(void **state)
{
    fixture *fx = *state;
    fx->supervise_ms = 60000;
    fake_route(&fx->f, "GET", "/containers/*/logs", 200, "");
    script_listed_running(&fx->f, "req-old");
    fx_start(fx);
    fx_submit(fx, 31, "req-old", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    /* the passes of the start: the first, and the one once the cluster's
     * view is gathered (gather_ms, 3 s by default); none comes after them
     * for a minute */
    int64_t until = eng_now_ms() + 3000 + WAIT_MS;
    while (fake_hits(&fx->f, "GET", "/containers/json") < 2 && eng_now_ms() < until)
        sleep_ms(10);
    fx_settle(fx);
    int passes = fake_hits(&fx->f, "GET", "/containers/json");
    assert_int_equal(passes, 2);
    script_exited_inspect(&fx->f, ID1, "req-old", 0);
    script_exited_in_list(&fx->f, ID1, "req-old");
    char ev[256];
    snprintf(ev, sizeof ev,
             "{\"status\":\"die\",\"id\":\"" ID1 "\",\"from\":\"busybox\","
             "\"time\":%lld}\n",
             (long long)time(NULL) + 1);
    fake_route(&fx->f, "GET", "/events", 200, ev);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-old");
    json_decref(r);
    assert_true(fake_hits(&fx->f, "GET", "/containers/json") > passes);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
}

/* A node back after being out of touch long enough to be adopted
 * (engine_fence): the final reply it made meanwhile is dropped from the
 * outbox, none is made during the hold, and afterwards the run is answered
 * only if the answered mark says nobody did (archive 404: answered once;
 * 200: a sibling answered it, no reply). */
static void fenced_final(fixture *fx, long archive_status)
{
    fake_route(&fx->f, "GET", "/containers/*/logs", 200, "");
    script_listed_running(&fx->f, "req-fenced");
    fake_route(&fx->f, "GET", "/containers/*/archive", archive_status,
               archive_status == 200 ? "" : "{\"message\":\"no such file\"}");
    fx_start(fx);
    fx_submit(fx, 21, "req-fenced", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    script_exited_inspect(&fx->f, ID1, "req-fenced", 0);
    script_exited_in_list(&fx->f, ID1, "req-fenced"); /* a pass finds it too */
    script_die_event(&fx->f, ID1);
    /* the final reply is made (in the outbox, not taken yet) */
    int64_t until = eng_now_ms() + WAIT_MS;
    int made = 0;
    while (!made && eng_now_ms() < until) {
        pthread_mutex_lock(&fx->e->outbox.mu);
        for (engine_out *o = fx->e->outbox.head; o; o = o->next)
            made |= o->kind == ENGINE_OUT_REPLY;
        pthread_mutex_unlock(&fx->e->outbox.mu);
        sleep_ms(5);
    }
    assert_true(made);
    engine_fence(fx->e, 1500);
    int64_t fenced = eng_now_ms();
    while (eng_now_ms() - fenced < 1200) {
        fx_take(fx);
        sleep_ms(10);
    }
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_int_equal(fake_hits(&fx->f, "GET", "/containers/*/archive"), 0);
    if (archive_status != 200) {
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
        assert_str(o->reply.correlation_id, "corr-1");
        fx_settle(fx);
        assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
    } else {
        wait_hits(fx, "GET", "/containers/*/archive", 1);
        fx_settle(fx);
        assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    }
    assert_true(fake_hits(&fx->f, "GET", "/containers/*/archive") >= 1);
}

static void a_fenced_node_answers_a_run_nobody_answered_once(void **state)
{
    fenced_final(*state, 404);
}

static void a_fenced_node_leaves_a_run_its_sibling_answered(void **state)
{
    fenced_final(*state, 200);
}

/* Idle, the supervisor lists Docker's containers once at start and then
 * only when its safety period comes (30 s by default, 20 s here): no pass a
 * second.  An event of one of its containers brings a pass at once (and
 * the final reply from the event itself). */
static void an_idle_engine_does_not_poll_docker(void **state)
{
    fixture *fx = *state;
    fx->supervise_ms = 20000;
    fake_route(&fx->f, "GET", "/containers/*/logs", 200, "");
    script_listed_running(&fx->f, "req-idle");
    fx_start(fx);
    wait_hits(fx, "GET", "/containers/json", 1);
    sleep_ms(2500);
    int idle = fake_hits_q(&fx->f, "GET", "/containers/json", NULL);
    assert_int_equal(idle, 1); /* the pass at start, none since */
    fx_submit(fx, 22, "req-idle", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    int before = fake_hits(&fx->f, "GET", "/containers/json");
    script_exited_inspect(&fx->f, ID1, "req-idle", 0);
    script_die_event(&fx->f, ID1);
    fx_wait(fx, ENGINE_OUT_REPLY, 1);
    wait_hits(fx, "GET", "/containers/json", before + 1); /* the event's pass */
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
}

/* A container of an earlier process (found exited by the supervisor's
 * first pass, never made here, not marked answered) whose logs answer 404:
 * that process answered and died before marking it, so no second,
 * output-less answer is sent. */
static void an_adopted_container_whose_logs_vanish_is_not_answered_again(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/json", 200,
               "[{\"Id\":\"" ID2 "\",\"State\":\"exited\",\"Labels\":{\"" LBL
               "cluster\":\"c1\",\"" LBL "node\":\"n1\",\"" LBL "final\":\"1\",\"" LBL
               "request\":\"req-old\"}}]");
    script_exited_inspect(&fx->f, ID2, "req-old", 0);
    fake_route(&fx->f, "GET", "/containers/*/logs", 404,
               "{\"message\":\"No such container: " ID2 "\"}");
    fx_start(fx);
    wait_hits(fx, "GET", "/containers/*/logs", 1);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);
    assert_true(fake_hits(&fx->f, "GET", "/containers/*/archive") >= 1); /* mark looked for */
}

/* A body that is not JSON: bad_request, and the delivery dead-lettered
 * with the reason after the reply (REPLY with dl); Docker is not asked. */
static void a_message_that_is_not_json_is_dead_lettered(void **state)
{
    fixture *fx = *state;
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fx_start(fx);
    fx_submit(fx, 20, "req-notjson", "this is { not JSON");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_non_null(o->reply.dl);
    assert_int_equal(o->reply.dl->tag, 20);
    assert_non_null(o->reply.dl->body); /* the delivery itself, moved */
    assert_non_null(o->reply.reason);
    if (strncmp(o->reply.reason, "bad_request", 11) != 0)
        print_error("reason: %s\n", o->reply.reason);
    assert_int_equal(strncmp(o->reply.reason, "bad_request", 11), 0);
    assert_str(o->reply.reply_to, "replies");
    json_t *r = reply_json(o);
    check_error(r, "bad_request", 0);
    json_decref(r);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_ACK), 0);
    assert_int_equal(fx_count(fx, ENGINE_OUT_NACK), 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/containers/json", "dispatch.request"), 0);
}

/* A message id that is not UTF-8 would reach labels and filters: refused
 * as bad_request on field message_id, dead-lettered, Docker not asked. */
static void a_message_id_that_is_not_utf8_is_refused(void **state)
{
    fixture *fx = *state;
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fx_start(fx);
    fx_submit(fx, 21, "id-\xc3\x28-bad", RUN);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_non_null(o->reply.dl);
    assert_int_equal(o->reply.dl->tag, 21);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "bad_request", 0);
    assert_str(json_string_value(json_object_get(err, "field")), "message_id");
    assert_true(json_is_null(json_object_get(r, "request_id")));
    json_decref(r);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/containers/json", "dispatch.request"), 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
}

/* A second message with the request id of a run whose container exists
 * (Docker lists it by its request label): answered duplicate naming the
 * original, acked, and no second container made. */
static void a_copy_of_a_running_request_is_answered_duplicate(void **state)
{
    fixture *fx = *state;
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fx_start(fx);
    fx_submit(fx, 22, "req-dup", RUN_ATTACH);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);

    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200,
                 "[{\"Id\":\"" ID1 "\",\"State\":\"running\",\"Labels\":{\"" LBL
                 "request\":\"req-dup\"}}]",
                 0, 0);
    fx_submit(fx, 23, "req-dup", RUN_ATTACH);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 23);
    assert_null(o->reply.dl);
    assert_null(o->reply.after_remove);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "duplicate", 0);
    assert_str(json_string_value(json_object_get(err, "field")), "message_id");
    json_t *orig = json_object_get(err, "original");
    assert_str(json_string_value(json_object_get(orig, "request_id")), "req-dup");
    assert_str(json_string_value(json_object_get(orig, "container")), ID1);
    assert_str(json_string_value(json_object_get(orig, "state")), "running");
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-dup");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 1);
}

/* A fresh copy of an answered request that made a container (run,
 * create: ENG_CMD_DEDUPE) is refused as duplicate naming it, and no second
 * container is made.  Copies of other commands are carried out again
 * (a_redelivered_copy_of_an_answered_request_is_acked). */
static void a_copy_of_an_answered_run_or_create_is_a_duplicate(void **state)
{
    fixture *fx = *state;
    fx_start(fx);
    static const char *const bodies[] = {"{\"Dockercmd\":\"create\",\"Image\":\"busybox\"}",
                                         "{\"Dockercmd\":\"run\",\"Image\":\"busybox\"}"};
    static const char *const rids[] = {"req-made-1", "req-made-2"};
    for (size_t i = 0; i < 2; i++) {
        fx_submit(fx, 70 + 2 * i, rids[i], bodies[i]);
        json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 2 * i + 1));
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
        int made = fake_hits(&fx->f, "POST", "/containers/create");
        fx_submit(fx, 71 + 2 * i, rids[i], bodies[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 2 * i + 2);
        r = reply_json(o);
        if (!json_is_false(json_object_get(r, "ok")))
            print_error("a copy of an answered %s carried out again: %s\n", bodies[i],
                        o->reply.body);
        json_t *err = check_error(r, "duplicate", 0);
        const char *orig =
            json_string_value(json_object_get(json_object_get(err, "original"), "container"));
        assert_str(orig, ID1);
        json_decref(r);
        assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), made);
    }
}

/* A cluster-wide list names what it lists by the kind its row names:
 * containers for list, images for images (here with no other node to
 * ask, so answered at once). */
static void a_cluster_wide_list_names_its_kind(void **state)
{
    fixture *fx = *state;
    cluster_conf cc = {
        .node = "n1", .cluster = "q", .version = "t", .interval_ms = 1000, .expiry = 3};
    fx->members = cluster_new(&cc);
    fake_route(&fx->f, "GET", "/images/json", 200, "[{\"Id\":\"sha256:feed\",\"Labels\":null}]");
    fx_start(fx);
    static const char *const bodies[] = {
        "{\"Dockercmd\":\"list\",\"Options\":{\"Cluster\":true}}",
        "{\"Dockercmd\":\"images\",\"Options\":{\"Cluster\":true}}"};
    static const char *const what[] = {"containers", "images"};
    for (size_t i = 0; i < 2; i++) {
        fx_submit(fx, 80 + i, what[i], bodies[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, i + 1);
        json_t *r = reply_json(o);
        json_t *res = json_object_get(r, "result");
        if (!json_is_array(json_object_get(res, what[i])))
            print_error("%s: no %s in %s\n", bodies[i], what[i], o->reply.body);
        assert_true(json_is_array(json_object_get(res, what[i])));
        assert_int_equal(json_object_size(res), 3); /* what, nodes, missing */
        assert_str(json_string_value(json_array_get(json_object_get(res, "nodes"), 0)), "n1");
        json_decref(r);
    }
}

/* A container alice's request req-x made, not started yet. */
static void script_alices_request(fake *f)
{
    fake_route_n(f, "GET", "/containers/json", "dispatch.request", 200,
                 "[{\"Id\":\"" ID1 "\",\"State\":\"created\",\"Labels\":{\"" LBL
                 "cluster\":\"c1\",\"" LBL "request\":\"req-x\",\"" LBL "user\":\"alice\"}}]",
                 0, 0);
}

/* Request ids are per user: another user's redelivered copy of alice's
 * id makes a container of its own instead of adopting (starting) hers;
 * alice's own redelivered copy still adopts it. */
static void another_users_redelivered_id_does_not_adopt_theirs(void **state)
{
    fixture *fx = *state;
    script_alices_request(&fx->f);
    fx_start(fx);
    fx_submit_as(fx, "mallory", 80, "req-x", RUN_ATTACH, 1);
    fx_wait(fx, ENGINE_OUT_ACK, 1);
    if (fake_hits(&fx->f, "POST", "/containers/create") != 1)
        print_error("mallory's copy of alice's request id adopted her container\n");
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
    fx_submit_as(fx, "alice", 81, "req-x", RUN_ATTACH, 1);
    fx_wait(fx, ENGINE_OUT_ACK, 2);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 2);
}

/* Nor is another user's fresh copy a `duplicate` naming alice's
 * container, nor another user's id the same as an anonymous one; a copy
 * of alice's own is. */
static void another_users_id_is_no_duplicate(void **state)
{
    fixture *fx = *state;
    script_alices_request(&fx->f);
    fx_start(fx);
    fx_submit_as(fx, "mallory", 82, "req-x", RUN, 0);
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 1));
    if (!json_is_true(json_object_get(r, "ok")))
        print_error("mallory's request with alice's id: %s\n",
                    fx_nth(fx, ENGINE_OUT_REPLY, 0)->reply.body);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    fx_submit_as(fx, NULL, 83, "req-x", RUN, 0);
    r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 2));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    fx_submit_as(fx, "alice", 84, "req-x", RUN, 0);
    r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 3));
    json_t *err = check_error(r, "duplicate", 0);
    assert_str(json_string_value(json_object_get(json_object_get(err, "original"), "container")),
               ID1);
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 2);
}

/* The answered marks are per user too: alice's answered id does not
 * swallow mallory's redelivered message of the same id (acked without a
 * reply), while alice's own copy is acked without one. */
static void another_users_answered_id_is_carried_out(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    fx_start(fx);
    fx_submit_as(fx, "alice", 85, "req-i", "{\"Dockercmd\":\"info\"}", 0);
    fx_wait(fx, ENGINE_OUT_REPLY, 1);
    fx_submit_as(fx, "mallory", 86, "req-i", "{\"Dockercmd\":\"info\"}", 1);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 2);
    assert_int_equal(o->reply.tag, 86);
    fx_submit_as(fx, "alice", 87, "req-i", "{\"Dockercmd\":\"info\"}", 1);
    o = fx_wait(fx, ENGINE_OUT_ACK, 1);
    assert_int_equal(o->ack.tag, 87);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 2);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), 2);
}

/* ------------------------------------------------------------------------
 * Quotas
 * ------------------------------------------------------------------------ */

/* Loads policy text into the fixture's policy (before fx_start). */
static void fx_policy(fixture *fx, const char *text)
{
    json_error_t jerr;
    json_t *pol = json_loads(text, 0, &jerr);
    assert_non_null(pol);
    char why[256] = "";
    int rc = policy_from_json(&fx->policy, pol, why, sizeof why);
    if (rc != 0)
        print_error("policy %s: %s\n", text, why);
    json_decref(pol);
    assert_int_equal(rc, 0);
}

/* Polls the outbox until n items of kinds ACK and REPLY were taken in all
 * (fails the test after WAIT_MS). */
static void fx_wait_settled(fixture *fx, size_t n)
{
    int64_t until = eng_now_ms() + WAIT_MS;
    while (fx_count(fx, ENGINE_OUT_ACK) + fx_count(fx, ENGINE_OUT_REPLY) < n &&
           eng_now_ms() < until) {
        fx_take(fx);
        sleep_ms(5);
    }
    size_t got = fx_count(fx, ENGINE_OUT_ACK) + fx_count(fx, ENGINE_OUT_REPLY);
    if (got < n)
        print_error("waited for %zu acks and replies, got %zu\n", n, got);
    assert_true(got >= n);
}

/* The reply with delivery tag tag, parsed (json_decref); fails when none. */
static json_t *reply_of(fixture *fx, uint64_t tag)
{
    for (size_t i = 0; i < fx_count(fx, ENGINE_OUT_REPLY); i++)
        if (fx_nth(fx, ENGINE_OUT_REPLY, i)->reply.tag == tag)
            return reply_json(fx_nth(fx, ENGINE_OUT_REPLY, i));
    print_error("no reply for delivery %llu (%zu replies)\n", (unsigned long long)tag,
                fx_count(fx, ENGINE_OUT_REPLY));
    fail();
    return NULL;
}

/* Checks that r refuses with `quota` naming field. */
static void check_quota(json_t *r, const char *field)
{
    json_t *err = check_error(r, "quota", 0);
    assert_str(json_string_value(json_object_get(err, "field")), field);
    json_decref(r);
}

#define WAIT_BODY "{\"Dockercmd\":\"wait\",\"Container\":\"mine\"}"

/* `wait` registrations are bounded per user (quotas.waits) and per node
 * (quotas.max_waits): one over is answered `quota` naming the bound. */
static void waits_are_bounded_per_user_and_per_node(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"quotas\":{\"max_waits\":3,\"default\":{\"waits\":2}}}");
    fake_route(&fx->f, "GET", "/containers/*/json", 200,
               "{\"Id\":\"" ID1 "\",\"Name\":\"/mine\",\"State\":{\"Running\":true,"
               "\"FinishedAt\":\"0001-01-01T00:00:00Z\"},\"Config\":{\"Labels\":{\"" LBL
               "cluster\":\"c1\"}}}");
    fx_start(fx);
    fx_submit_as(fx, "alice", 90, "w-1", WAIT_BODY, 0);
    fx_submit_as(fx, "alice", 91, "w-2", WAIT_BODY, 0);
    fx_wait_settled(fx, 2);
    fx_submit_as(fx, "alice", 92, "w-3", WAIT_BODY, 0);
    fx_submit_as(fx, "bob", 93, "w-4", WAIT_BODY, 0);
    fx_wait_settled(fx, 4);
    fx_submit_as(fx, "carol", 94, "w-5", WAIT_BODY, 0);
    fx_wait_settled(fx, 5);
    fx_settle(fx);
    if (fx_count(fx, ENGINE_OUT_REPLY) != 2)
        print_error("5 waits, 3 may be held: %zu acked, %zu answered\n",
                    fx_count(fx, ENGINE_OUT_ACK), fx_count(fx, ENGINE_OUT_REPLY));
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 2);
    assert_int_equal(fx_count(fx, ENGINE_OUT_ACK), 3);
    check_quota(reply_of(fx, 92), "quotas.waits");
    check_quota(reply_of(fx, 94), "quotas.max_waits");
}

/* With a worker share of one half (of two workers), alice's slow
 * messages hold one worker at most: bob's message goes on the other at
 * once, and hers wait their turn, none lost. */
static void a_users_messages_over_its_worker_share_wait_for_others(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"quotas\":{\"default\":{\"worker_share\":0.5}}}");
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    pthread_mutex_lock(&fx->f.mu);
    fx->f.routes->delay_ms = 400;
    pthread_mutex_unlock(&fx->f.mu);
    fx_start(fx);
    for (uint64_t i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "slow-%d", (int)i);
        fx_submit_as(fx, "alice", 100 + i, id, "{\"Dockercmd\":\"info\"}", 0);
    }
    sleep_ms(50);
    fx_submit_as(fx, "bob", 110, "quick", "{\"Dockercmd\":\"info\"}", 0);
    fx_wait(fx, ENGINE_OUT_REPLY, 2);
    uint64_t first = fx_nth(fx, ENGINE_OUT_REPLY, 0)->reply.tag;
    uint64_t second = fx_nth(fx, ENGINE_OUT_REPLY, 1)->reply.tag;
    if (first != 110 && second != 110)
        print_error("bob's message waited behind alice's: replies %llu, %llu first\n",
                    (unsigned long long)first, (unsigned long long)second);
    assert_true(first == 110 || second == 110);
    fx_wait(fx, ENGINE_OUT_REPLY, 4);
    for (uint64_t i = 0; i < 3; i++) {
        json_t *r = reply_of(fx, 100 + i);
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
}

/* A user's messages in the engine are bounded (quotas.in_flight): one
 * more is answered `quota` at once; another user's is carried out. */
static void a_users_messages_in_flight_are_bounded(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"quotas\":{\"default\":{\"in_flight\":1}}}");
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    pthread_mutex_lock(&fx->f.mu);
    fx->f.routes->delay_ms = 300;
    pthread_mutex_unlock(&fx->f.mu);
    fx_start(fx);
    fx_submit_as(fx, "alice", 120, "f-1", "{\"Dockercmd\":\"info\"}", 0);
    fx_submit_as(fx, "alice", 121, "f-2", "{\"Dockercmd\":\"info\"}", 0);
    fx_submit_as(fx, "bob", 122, "f-3", "{\"Dockercmd\":\"info\"}", 0);
    fx_wait(fx, ENGINE_OUT_REPLY, 3);
    check_quota(reply_of(fx, 121), "quotas.in_flight");
    json_t *r = reply_of(fx, 122);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), 2);
}

#define RUN_MEM(m)                                                                                 \
    "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"                      \
    "\"Options\":{\"Memory\":" #m "}}"
#define HELD(user, mem)                                                                            \
    "{\"Id\":\"" ID2 "\",\"State\":\"running\",\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL       \
    "node\":\"n1\",\"" LBL "user\":\"" user "\",\"" LBL "memory\":\"" #mem "\"}}"

/* A user's containers and their memory are bounded (quotas.containers,
 * quotas.memory), counted from Docker's list by the user label: alice,
 * holding two, is refused a third; bob, holding 512 MiB of 1 GiB, is
 * refused 768 MiB more and given 256 MiB.  The created body carries its
 * memory as a label for the count after a restart. */
static void a_users_containers_and_memory_are_bounded(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"default_memory\":134217728,\"quotas\":{\"default\":"
                  "{\"containers\":2,\"memory\":1073741824}}}");
    fake_route(&fx->f, "GET", "/containers/json", 200,
               "[" HELD("alice", 1) "," HELD("alice", 1) "," HELD("bob", 536870912) "]");
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fx_start(fx);
    fx_submit_as(fx, "alice", 130, "q-1", RUN, 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 1)), "quotas.containers");
    fx_submit_as(fx, "bob", 131, "q-2", RUN_MEM(805306368), 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 2)), "quotas.memory");
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    fx_submit_as(fx, "bob", 132, "q-3", RUN_MEM(268435456), 0);
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 3));
    if (!json_is_true(json_object_get(r, "ok")))
        print_error("bob's 256 MiB: %s\n", fx_nth(fx, ENGINE_OUT_REPLY, 2)->reply.body);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
}

#define RUN_CPUS(cpus)                                                                             \
    "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"true\"],"                      \
    "\"Options\":{\"Cpus\":" #cpus ",\"Timeout\":600}}"

/* A user's running runs and CPUs are bounded (quotas.running,
 * quotas.cpus), and its runs' time (quotas.run_time) cuts a longer
 * Timeout: alice, running one, is refused a second run; bob is refused 2
 * CPUs of 1 and given half of one, with a deadline 30 s away, not 600. */
static void a_users_running_runs_cpus_and_run_time_are_bounded(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"quotas\":{\"default\":{\"running\":1,\"cpus\":1,\"run_time\":30}}}");
    fake_route(&fx->f, "GET", "/containers/json", 200, "[" HELD("alice", 0) "]");
    fake_route_n(&fx->f, "GET", "/containers/json", "dispatch.request", 200, "[]", 0, 0);
    fx_start(fx);
    fx_submit_as(fx, "alice", 140, "r-1", RUN_CPUS(0.5), 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 1)), "quotas.running");
    fx_submit_as(fx, "bob", 141, "r-2", RUN_CPUS(2), 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 2)), "quotas.cpus");
    fx_submit_as(fx, "bob", 142, "r-3", RUN_CPUS(0.5), 0);
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 3));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    json_t *body = json_loads(fx->f.last_create, 0, NULL);
    assert_non_null(body);
    json_t *labels = json_object_get(body, "Labels");
    const char *dl = json_string_value(json_object_get(labels, LBL "deadline"));
    assert_non_null(dl);
    long long left = strtoll(dl, NULL, 10) - (long long)time(NULL);
    if (left > 31 || left < 25)
        print_error("the run's deadline is %lld s away, not 30\n", left);
    assert_true(left <= 31 && left >= 25);
    assert_str(json_string_value(json_object_get(labels, LBL "nano-cpus")), "500000000");
    json_decref(body);
}

/* Docker's inspect of alice's container ID1 in state st, made with mem
 * bytes. */
static void script_alices_container(fake *f, const char *st, const char *mem)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"Id\":\"" ID1 "\",\"Name\":\"/mine\",\"State\":{\"Status\":\"%s\","
             "\"Running\":false,\"FinishedAt\":\"0001-01-01T00:00:00Z\"},\"Config\":{\"Labels\":"
             "{\"" LBL "cluster\":\"c1\",\"" LBL "node\":\"n1\",\"" LBL "user\":\"alice\",\"" LBL
             "memory\":\"%s\"}}}",
             st, mem);
    fake_route(f, "GET", "/containers/*/json", 200, body);
}

#define START_MINE "{\"Dockercmd\":\"start\",\"Container\":\"mine\"}"

/* A start of a stopped container counts too: an exited one's memory
 * comes back (quotas.memory), and any start is one more running
 * (quotas.running). */
static void a_start_is_held_to_the_users_quotas(void **state)
{
    fixture *fx = *state;
    fx_policy(fx, "{\"quotas\":{\"default\":{\"running\":2,\"memory\":536870912}}}");
    fake_route(&fx->f, "GET", "/containers/json", 200, "[" HELD("alice", 209715200) "]");
    script_alices_container(&fx->f, "exited", "419430400");
    fx_start(fx);
    fx_submit_as(fx, "alice", 150, "s-1", START_MINE, 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 1)), "quotas.memory");
    script_alices_container(&fx->f, "created", "419430400");
    fx_submit_as(fx, "alice", 151, "s-2", START_MINE, 0);
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 2));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    fake_route(&fx->f, "GET", "/containers/json", 200,
               "[" HELD("alice", 1) "," HELD("alice", 1) "]");
    fx_submit_as(fx, "alice", 152, "s-3", START_MINE, 0);
    check_quota(reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 3)), "quotas.running");
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/start"), 1);
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

#define OURS_RUNNING                                                                               \
    "{\"Id\":\"" ID1 "\",\"Name\":\"/fake_name\",\"State\":{\"Running\":false,\"ExitCode\":0,"     \
    "\"StartedAt\":\"2024-01-01T00:00:00Z\",\"FinishedAt\":\"2024-01-01T00:00:01Z\"},"             \
    "\"Config\":{\"Tty\":false,\"Labels\":{\"" LBL "cluster\":\"c1\"}}}"

/* A command on a container of another cluster (or none) is not_found,
 * and Docker is not asked to act. */
static void a_foreign_container_is_not_found(void **state)
{
    fixture *fx = *state;
    fx_start(fx); /* the default inspect answers a container without our labels */
    fx_submit(fx, 30, "req-foreign", "{\"Dockercmd\":\"stop\",\"Container\":\"victim\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    check_error(r, "not_found", 404);
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/stop"), 0);
}

/* Volumes: one of this cluster's (mine) and one of another's (victim). */
#define VOLUME_MINE   "{\"Name\":\"mine\",\"Labels\":{\"" LBL "cluster\":\"c1\"}}"
#define VOLUME_VICTIM "{\"Name\":\"victim\",\"Labels\":{\"" LBL "cluster\":\"c2\"}}"

static void route_volumes(fake *f)
{
    fake_route(f, "GET", "/volumes/mine", 200, VOLUME_MINE);
    fake_route(f, "GET", "/volumes/victim", 200, VOLUME_VICTIM);
}

/* A create's reply, parsed: ok (code NULL) or the error code and field. */
static void expect_create(fixture *fx, size_t nth, const char *code, const char *field,
                          const char *needle)
{
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, nth));
    if (code == NULL) {
        if (!json_is_true(json_object_get(r, "ok")))
            print_error("expected ok, got %s\n", fx_nth(fx, ENGINE_OUT_REPLY, nth - 1)->reply.body);
        assert_true(json_is_true(json_object_get(r, "ok")));
    } else {
        if (!json_is_false(json_object_get(r, "ok")))
            print_error("expected %s, got %s\n", code,
                        fx_nth(fx, ENGINE_OUT_REPLY, nth - 1)->reply.body);
        json_t *err = check_error(r, code, -1);
        assert_str(json_string_value(json_object_get(err, "field")), field);
        const char *msg = json_string_value(json_object_get(err, "message"));
        if (msg == NULL || strstr(msg, needle) == NULL)
            print_error("the message does not name %s: %s\n", needle, msg ? msg : "(null)");
        assert_non_null(msg);
        assert_non_null(strstr(msg, needle));
    }
    json_decref(r);
}

/* The named volumes a create mounts are checked however many there are: a
 * foreign volume after 600 binds of the cluster's own is refused like the
 * first (each distinct name is inspected once), and nothing is created. */
static void a_foreign_volume_after_many_binds_is_refused(void **state)
{
    fixture *fx = *state;
    route_volumes(&fx->f);
    fx_start(fx);
    size_t cap = 64 + 601 * 24;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t n = (size_t)snprintf(body, cap,
                                "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\","
                                "\"Options\":{\"HostConfig\":{\"Binds\":[");
    for (int i = 0; i < 600; i++)
        n += (size_t)snprintf(body + n, cap - n, "\"mine:/m%d\",", i);
    snprintf(body + n, cap - n, "\"victim:/x\"]}}}");
    fx_submit(fx, 36, "req-binds", body);
    free(body);
    expect_create(fx, 1, "policy_denied", "HostConfig.Binds", "victim");
    assert_int_equal(fake_hits(&fx->f, "GET", "/volumes/mine"), 1);
    assert_int_equal(fake_hits(&fx->f, "GET", "/volumes/victim"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
}

/* A Mounts volume is the one its Source names: another cluster's is
 * refused, the cluster's own is mounted (its Target is a path, not a
 * volume). */
static void a_mounts_volume_is_read_by_its_source(void **state)
{
    fixture *fx = *state;
    route_volumes(&fx->f);
    fx_start(fx);
    fx_submit(fx, 37, "req-mount-victim",
              "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Options\":{\"HostConfig\":"
              "{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"victim\",\"Target\":\"/x\"}]}}}");
    expect_create(fx, 1, "policy_denied", "HostConfig.Mounts", "victim");
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    fx_submit(fx, 38, "req-mount-mine",
              "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\",\"Options\":{\"HostConfig\":"
              "{\"Mounts\":[{\"type\":\"volume\",\"source\":\"mine\",\"target\":\"/data\"}]}}}");
    expect_create(fx, 2, NULL, NULL, NULL);
    assert_int_equal(fake_hits(&fx->f, "GET", "/volumes/mine"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 1);
}

/* Submits volume-create of name and checks the reply: ok with the
 * volume, or conflict naming Volume and nothing of the volume found. */
static void expect_volume_create(fixture *fx, size_t nth, const char *name, int ok)
{
    char body[160];
    snprintf(body, sizeof body, "{\"Dockercmd\":\"volume-create\",\"Volume\":\"%s\"}", name);
    fx_submit(fx, 50 + nth, name, body);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, nth);
    json_t *r = reply_json(o);
    if (ok) {
        assert_true(json_is_true(json_object_get(r, "ok")));
        assert_str(json_string_value(json_object_get(json_object_get(r, "result"), "Name")), name);
    } else {
        if (!json_is_false(json_object_get(r, "ok")) || strstr(o->reply.body, "c2") != NULL)
            print_error("another's volume %s was handed out: %s\n", name, o->reply.body);
        json_t *err = check_error(r, "conflict", 409);
        assert_str(json_string_value(json_object_get(err, "field")), "Volume");
        assert_null(strstr(o->reply.body, "c2"));
    }
    json_decref(r);
}

/* volume-create of a name another cluster's volume holds is refused, not
 * answered with that volume (Docker's create is idempotent): whether the
 * volume is there before the create or appears just before it.  The
 * cluster's own volume is answered as Docker answers. */
static void a_volume_create_never_hands_out_anothers_volume(void **state)
{
    fixture *fx = *state;
    route_volumes(&fx->f);
    fake_route(&fx->f, "GET", "/volumes/late", 404, "{\"message\":\"no such volume\"}");
    fake_route(&fx->f, "POST", "/volumes/create", 201, VOLUME_VICTIM); /* Docker's answer */
    fx_start(fx);
    expect_volume_create(fx, 1, "victim", 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/volumes/create"), 0);
    fake_route(&fx->f, "POST", "/volumes/create", 201,
               "{\"Name\":\"late\",\"Labels\":{\"" LBL "cluster\":\"c2\"}}");
    expect_volume_create(fx, 2, "late", 0);
    fake_route(&fx->f, "POST", "/volumes/create", 201, VOLUME_MINE);
    expect_volume_create(fx, 3, "mine", 1);
}

/* A list with a before or since filter: the container it names is looked
 * for among the publisher's own, so that another's name is answered as a
 * missing one is (not_found, Docker not asked to list), and the publisher's
 * own is sent to Docker by its full id, in either filter form. */
static void a_list_anchor_is_no_oracle(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/nosuch/json", 404,
               "{\"message\":\"No such container\"}");
    fake_route(&fx->f, "GET", "/containers/mine/json", 200, OURS_RUNNING);
    fake_route_n(&fx->f, "GET", "/containers/json", "before", 200, "[]", 0, 0);
    fake_route_n(&fx->f, "GET", "/containers/json", "since", 200, "[]", 0, 0);
    /* the end of ID1 as the encoded filter holds it */
    fake_route_n(&fx->f, "GET", "/containers/json", "00001%22%5D", 200, "[]", 0, 0);
    fx_start(fx); /* the default inspect answers a container without our labels */
    static const char *const refs[] = {"victim", "nosuch"};
    static const char *const forms[] = {"{\"before\":[\"%s\"]}", "{\"since\":{\"%s\":true}}"};
    size_t n = 0;
    char body[256], filters[64], first[512] = "";
    for (size_t f = 0; f < 2; f++)
        for (size_t i = 0; i < 2; i++) {
            snprintf(filters, sizeof filters, forms[f], refs[i]);
            snprintf(body, sizeof body, "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":%s}}",
                     filters);
            fx_submit(fx, 60 + n, refs[i], body);
            engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, ++n);
            json_t *r = reply_json(o);
            if (!json_is_false(json_object_get(r, "ok")))
                print_error("%s answered for another's container: %s\n", filters, o->reply.body);
            json_t *err = check_error(r, "not_found", 404);
            /* the same answer for both, but for the name */
            char *text = json_dumps(err, JSON_SORT_KEYS);
            char *at = strstr(text, refs[i]);
            assert_non_null(at);
            memmove(at, at + strlen(refs[i]), strlen(at + strlen(refs[i])) + 1);
            if (i == 0)
                snprintf(first, sizeof first, "%s", text);
            else
                assert_string_equal(text, first);
            free(text);
            json_decref(r);
        }
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/containers/json", "before"), 0);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/containers/json", "since"), 0);
    fx_submit(fx, 70, "req-list-mine",
              "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"before\":{\"mine\":true}}}}");
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, ++n));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/containers/json", "00001%22%5D"), 1);
}

/* Policy refusals are counted by the rule's name as the policy knows it:
 * 80 creates each with an unknown HostConfig key of its own are 80
 * refusals of "HostConfig", not 80 label sets (the metric keeps 64, so
 * a publisher could crowd out every other rule), and no key of theirs is
 * shown. */
static void policy_denials_are_counted_under_the_policys_names(void **state)
{
    fixture *fx = *state;
    fx->metrics = metrics_dd_new("test", "n1");
    fx_start(fx);
    for (int i = 0; i < 80; i++) {
        char body[192], id[32];
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\","
                 "\"Options\":{\"HostConfig\":{\"Chosen-%d\":1}}}",
                 i);
        snprintf(id, sizeof id, "req-label-%d", i);
        fx_submit(fx, 100 + (uint64_t)i, id, body);
    }
    fx_wait(fx, ENGINE_OUT_REPLY, 80);
    char *text = NULL;
    size_t len = 0;
    metrics_render(fx->metrics->reg, &text, &len);
    assert_non_null(text);
    const char *want = "docker_dispatch_policy_denials_total{rule=\"HostConfig\"} 80\n";
    if (strstr(text, want) == NULL || strstr(text, "Chosen") != NULL)
        print_error("expected %s without the publisher's keys, got:\n%s\n", want, text);
    assert_non_null(strstr(text, want));
    assert_null(strstr(text, "Chosen"));
    free(text);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
}

/* An exec's working directory is held to the policy as a create's is: not
 * under /proc or /sys, however written (a directory under /proc/self/fd
 * is how a runtime's leaked descriptor reaches the host); Docker is not
 * asked to exec. */
static void an_exec_working_dir_in_proc_is_refused(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/*/json", 200, OURS_RUNNING);
    fake_route(&fx->f, "POST", "/containers/*/exec", 201, "{\"Id\":\"e1\"}");
    fx_start(fx);
    static const char *const dirs[] = {"/proc/self/fd/7", "//proc/self/fd/8", "/./sys/fs"};
    for (size_t i = 0; i < 3; i++) {
        char body[192];
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"exec\",\"Container\":\"mine\",\"Cmd\":[\"ls\"],"
                 "\"Options\":{\"WorkingDir\":\"%s\"}}",
                 dirs[i]);
        fx_submit(fx, 95 + i, dirs[i], body);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, i + 1);
        json_t *r = reply_json(o);
        if (!json_is_false(json_object_get(r, "ok")) ||
            fake_hits(&fx->f, "POST", "/containers/*/exec") > 0)
            print_error("an exec in %s went to Docker: %s\n", dirs[i], o->reply.body);
        json_t *err = check_error(r, "policy_denied", -1);
        assert_str(json_string_value(json_object_get(err, "field")), "Options.WorkingDir");
        json_decref(r);
    }
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/exec"), 0);
}

/* A list filter on the labels that hold a run's reply address is refused
 * in both forms Docker reads, the array and the older object: either
 * would let a publisher guess another's reply address. */
static void a_reply_address_filter_is_refused_in_either_form(void **state)
{
    fixture *fx = *state;
    fx_start(fx);
    static const char *const bodies[] = {
        "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"label\":"
        "[\"io.docker-dispatch.reply-to=amq.gen-x\"]}}}",
        "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"label\":"
        "{\"io.docker-dispatch.reply-to=amq.gen-x\":true}}}}",
        "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"label\":"
        "{\"IO.docker-dispatch.correlation-id\":true}}}}",
    };
    for (size_t i = 0; i < 3; i++) {
        fx_submit(fx, 110 + i, "req-probe", bodies[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, i + 1);
        json_t *r = reply_json(o);
        if (!json_is_false(json_object_get(r, "ok")))
            print_error("a reply address could be probed: %s -> %s\n", bodies[i], o->reply.body);
        json_t *err = check_error(r, "policy_denied", -1);
        assert_str(json_string_value(json_object_get(err, "field")), "Options.Filters");
        json_decref(r);
    }
}

/* A list filter in Docker's older object form still filters: it reaches
 * Docker in the array form of the cluster's own label filter (Docker
 * refuses a filters object that mixes the two forms). */
static void a_list_filter_in_the_object_form_is_kept(void **state)
{
    fixture *fx = *state;
    /* "status":["exited"] and "label":["team=ops", <the cluster's>] */
    fake_route_n(&fx->f, "GET", "/containers/json", "%22status%22%3A%5B%22exited%22%5D", 200, "[]",
                 0, 0);
    fx_start(fx);
    fx_submit(fx, 120, "req-object-form",
              "{\"Dockercmd\":\"list\",\"Options\":{\"Filters\":{\"status\":{\"exited\":true},"
              "\"label\":{\"team=ops\":true}}}}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    if (!json_is_true(json_object_get(r, "ok")) ||
        fake_hits_q(&fx->f, "GET", "/containers/json", "%22status%22%3A%5B%22exited%22%5D") != 1)
        print_error("the object form did not reach Docker as arrays: %s\n", o->reply.body);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(
        fake_hits_q(&fx->f, "GET", "/containers/json", "%22status%22%3A%5B%22exited%22%5D"), 1);
}

/* list with Limit: Docker is asked for every container of the cluster
 * (stopped ones too, as a limit implies) and the limit is applied to what
 * the publisher may see, so that it does not tell how many of the newest
 * are another user's. */
static void a_list_limit_counts_only_what_one_may_see(void **state)
{
    fixture *fx = *state;
    fake_route_n(
        &fx->f, "GET", "/containers/json", "all=1&filters", 200,
        "[{\"Id\":\"" ID2 "\",\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL "user\":\"bob\"}},"
        "{\"Id\":\"" ID1 "\",\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL "user\":\"alice\"}},"
        "{\"Id\":\"c0ffee03\",\"Labels\":{\"" LBL "cluster\":\"c1\"}}]",
        0, 0);
    fx_start(fx);
    fx_submit_as(fx, "alice", 130, "req-limit",
                 "{\"Dockercmd\":\"list\",\"Options\":{\"Limit\":1}}", 0);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    json_t *res = json_object_get(r, "result");
    if (json_array_size(res) != 1 || fake_hits_q(&fx->f, "GET", "/containers/json", "limit") > 0)
        print_error("Limit 1 for alice, whose is the second newest: %s\n", o->reply.body);
    assert_int_equal(json_array_size(res), 1);
    assert_str(json_string_value(json_object_get(json_array_get(res, 0), "Id")), ID1);
    json_decref(r);
}

/* A network the policy lists for containers to join (made by someone
 * else): a container of the cluster may be connected to it, but it is not
 * the cluster's, so inspect and remove are not_found and Docker is not
 * asked to remove it. */
static void a_listed_network_is_joinable_only(void **state)
{
    fixture *fx = *state;
    char why[256] = "";
    json_t *pol = json_pack("{s:[s]}", "networks", "shared");
    assert_int_equal(policy_from_json(&fx->policy, pol, why, sizeof why), 0);
    json_decref(pol);
    fake_route(&fx->f, "GET", "/networks/shared", 200,
               "{\"Id\":\"" ID2 "\",\"Name\":\"shared\",\"Labels\":{}}");
    fake_route(&fx->f, "DELETE", "/networks/*", 204, NULL);
    fake_route(&fx->f, "POST", "/networks/*/connect", 200, NULL);
    fake_route(&fx->f, "GET", "/containers/*/json", 200, OURS_RUNNING);
    fx_start(fx);
    static const char *const refused[] = {
        "{\"Dockercmd\":\"network-inspect\",\"Network\":\"shared\"}",
        "{\"Dockercmd\":\"network-remove\",\"Network\":\"shared\"}",
    };
    for (size_t i = 0; i < 2; i++) {
        fx_submit(fx, 40 + i, i ? "req-net-rm" : "req-net-inspect", refused[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, i + 1);
        json_t *r = reply_json(o);
        if (!json_is_false(json_object_get(r, "ok")))
            print_error("a listed network reached: %s -> %s\n", refused[i], o->reply.body);
        check_error(r, "not_found", 404);
        json_decref(r);
    }
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/networks/*"), 0);
    fx_submit(fx, 42, "req-net-connect",
              "{\"Dockercmd\":\"network-connect\",\"Network\":\"shared\",\"Container\":\"mine\"}");
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 3));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/networks/*/connect"), 1);
}

/* A stop or remove whose first delivery did the work (then the process
 * died before the ack) is answered ok again, as the first time, not with
 * Docker's "already stopped" / "no such container". */
static void a_redelivered_stop_or_remove_is_answered_as_before(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/*/json", 200, OURS_RUNNING);
    fake_route(&fx->f, "POST", "/containers/*/stop", 304, NULL);
    fx_start(fx);
    fx_submit_again(fx, 31, "req-stop", "{\"Dockercmd\":\"stop\",\"Container\":\"mine\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    /* a fresh message meeting the same answer hears it */
    fx_submit(fx, 32, "req-stop-2", "{\"Dockercmd\":\"stop\",\"Container\":\"mine\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 2);
    r = reply_json(o);
    check_error(r, "not_modified", 304);
    json_decref(r);
    /* kill: no longer running (409) */
    fake_route(&fx->f, "POST", "/containers/*/kill", 409,
               "{\"message\":\"Container is not running\"}");
    fx_submit_again(fx, 35, "req-kill", "{\"Dockercmd\":\"kill\",\"Container\":\"mine\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 3);
    r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    /* remove: the container is gone */
    fake_route(&fx->f, "GET", "/containers/*/json", 404, "{\"message\":\"No such container\"}");
    fx_submit_again(fx, 33, "req-rm", "{\"Dockercmd\":\"remove\",\"Container\":\"mine\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 4);
    r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    fx_submit(fx, 34, "req-rm-2", "{\"Dockercmd\":\"remove\",\"Container\":\"mine\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 5);
    r = reply_json(o);
    check_error(r, "not_found", 404);
    json_decref(r);
}

/* Docker's pull stream for two layers: progress messages go to the
 * request's reply_to with its correlation id, before the final reply and
 * marked "final": false, at most ENG_PROGRESS_PER_S a second but every
 * layer's completion; only when Options.Progress asks for them. */
static const char PULL_STREAM[] =
    "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\r\n"
    "{\"status\":\"Pulling fs layer\",\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":10},\"id\":\"aaa\"}"
    "\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":2,\"total\":10},\"id\":\"aaa\"}"
    "\r\n"
    "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":3,\"total\":10},\"id\":\"aaa\"}"
    "\r\n"
    "{\"status\":\"Pull complete\",\"id\":\"aaa\"}\r\n"
    "{\"status\":\"Already exists\",\"id\":\"bbb\"}\r\n"
    "{\"status\":\"Status: Downloaded newer image for busybox:latest\"}\r\n";

/* The policy with registry localhost:5000 allowed; the image the pulls
 * write, localhost:5000/busybox:latest, is there already (the host's). */
static void allow_local_registry(fixture *fx)
{
    char why[256] = "";
    json_t *pol = json_pack("{s:[s]}", "registries", "localhost:5000");
    assert_int_equal(policy_from_json(&fx->policy, pol, why, sizeof why), 0);
    json_decref(pol);
    fake_route(&fx->f, "GET", "/images/localhost:5000/busybox:latest/json", 200, IMAGE_OF_HOST);
}

static void a_pull_asked_for_progress_tells_it_before_the_reply(void **state)
{
    fixture *fx = *state;
    allow_local_registry(fx);
    fake_route(&fx->f, "POST", "/images/create", 200, PULL_STREAM);
    fx_start(fx);
    fx_submit(fx, 21, "req-pull",
              "{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/"
              "busybox:latest\",\"Options\":{\"Progress\":true}}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    /* the first message, then within the rate limit only the milestones */
    size_t n = fx_count(fx, ENGINE_OUT_PROGRESS);
    assert_in_range(n, 3, 8);
    int complete = 0, exists = 0;
    for (size_t i = 0; i < fx->n_got; i++) {
        engine_out *p = fx->got[i];
        if (p->kind == ENGINE_OUT_REPLY)
            assert_int_equal(i, fx->n_got - 1); /* the final reply comes last */
        if (p->kind != ENGINE_OUT_PROGRESS)
            continue;
        assert_int_equal(p->reply.tag, 0); /* settles nothing */
        assert_str(p->reply.reply_to, "replies");
        assert_str(p->reply.correlation_id, "corr-1");
        json_error_t jerr;
        json_t *m = json_loads(p->reply.body, 0, &jerr);
        assert_non_null(m);
        assert_true(json_is_false(json_object_get(m, "final")));
        assert_str(json_string_value(json_object_get(m, "command")), "pull");
        assert_str(json_string_value(json_object_get(m, "request_id")), "req-pull");
        const char *st =
            json_string_value(json_object_get(json_object_get(m, "progress"), "status"));
        assert_non_null(st);
        complete += strcmp(st, "Pull complete") == 0;
        exists += strcmp(st, "Already exists") == 0;
        json_decref(m);
    }
    assert_int_equal(complete, 1);
    assert_int_equal(exists, 1);
}

static void a_pull_not_asking_gets_no_progress(void **state)
{
    fixture *fx = *state;
    allow_local_registry(fx);
    fake_route(&fx->f, "POST", "/images/create", 200, PULL_STREAM);
    fx_start(fx);
    fx_submit(fx, 22, "req-pull2",
              "{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/busybox:latest\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    assert_str(json_string_value(json_object_get(json_object_get(r, "result"), "status")),
               "Status: Downloaded newer image for busybox:latest");
    json_decref(r);
    assert_int_equal(fx_count(fx, ENGINE_OUT_PROGRESS), 0);
}

/* An image inspect of API 1.52 and newer: no Container, ContainerConfig
 * (gone in 1.45) or VirtualSize (1.44), empty Config fields (Labels among
 * them) and Parent, Comment, DockerVersion, Author omitted. */
static const char IMAGE_1_52[] =
    "{\"Id\":\"sha256:0123\",\"RepoTags\":[\"busybox:latest\"],\"RepoDigests\":[],"
    "\"Created\":\"2026-01-01T00:00:00Z\",\"Config\":{\"Env\":[\"PATH=/bin\"],"
    "\"Cmd\":[\"sh\"]},\"Architecture\":\"amd64\",\"Os\":\"linux\",\"Size\":1234,"
    "\"RootFS\":{\"Type\":\"layers\",\"Layers\":[\"sha256:aa\"]},"
    "\"Metadata\":{\"LastTagTime\":\"2026-01-01T00:00:00Z\"},"
    "\"Descriptor\":{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"digest\":\"sha256:bb\",\"size\":1}}";

/* The error message of reply r ("" when none). */
static const char *err_message(json_t *r)
{
    const char *m = json_string_value(json_object_get(json_object_get(r, "error"), "message"));
    return m ? m : "";
}

/* Checks that reply r refuses with code, field (NULL: not checked) and a
 * message holding words; prints the reply when it does not. */
static void check_refusal(json_t *r, const char *code, const char *field, const char *words)
{
    json_t *err = json_object_get(r, "error");
    const char *got = json_string_value(json_object_get(err, "code"));
    const char *f = json_string_value(json_object_get(err, "field"));
    if (got == NULL || strcmp(got, code) != 0 || (field && (f == NULL || strcmp(f, field))) ||
        strstr(err_message(r), words) == NULL) {
        char *t = json_dumps(r, 0);
        print_error("expected %s (field %s, \"%s\"), got %s\n", code, field ? field : "-", words,
                    t ? t : "?");
        free(t);
        fail();
    }
}

/* Submits body of user (NULL: none) as the nth delivery (tag and request
 * id "call-<n>") and returns its reply, the nth. */
static json_t *fx_call_as(fixture *fx, const char *user, uint64_t n, const char *body)
{
    char id[32];
    snprintf(id, sizeof id, "call-%llu", (unsigned long long)n);
    fx_submit_as(fx, user, n, id, body, 0);
    return reply_json(fx_wait(fx, ENGINE_OUT_REPLY, n));
}

static json_t *fx_call(fixture *fx, uint64_t n, const char *body)
{
    return fx_call_as(fx, NULL, n, body);
}

/* Image ownership read from 1.52-shaped inspects: an image without labels
 * (Config.Labels omitted) is the host's, so it is neither tagged nor
 * removed, and its name is not re-pointed; image-inspect answers Docker's
 * object as it is. */
static void image_commands_read_image_inspects_of_1_52(void **state)
{
    fixture *fx = *state;
    snprintf(fx->f.ping, sizeof fx->f.ping, "1.52");
    fake_route(&fx->f, "GET", "/images/*/json", 200, IMAGE_1_52);
    fake_route(&fx->f, "POST", "/images/*/tag", 201, NULL);
    fake_route(&fx->f, "DELETE", "/images/*", 200, "[]");
    fx_start(fx);
    json_t *r = fx_call(fx, 1,
                        "{\"Dockercmd\":\"image-tag\",\"Image\":\"busybox:latest\",\"Options\":"
                        "{\"Repo\":\"docker-dispatch/c1/bb\",\"Tag\":\"stable\"}}");
    check_refusal(r, "policy_denied", "Image", "is the host's, not one this cluster committed");
    json_decref(r);
    r = fx_call(fx, 2,
                "{\"Dockercmd\":\"image-remove\",\"Image\":\"busybox:latest\","
                "\"Options\":{\"Force\":true}}");
    check_refusal(r, "policy_denied", "Image", "it cannot be removed (policy scope)");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/images/*/tag"), 0);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/images/*"), 0);

    r = fx_call(fx, 3, "{\"Dockercmd\":\"image-inspect\",\"Image\":\"busybox:latest\"}");
    json_t *res = json_object_get(r, "result");
    assert_str(json_string_value(json_object_get(res, "Id")), "sha256:0123");
    assert_null(json_object_get(res, "ContainerConfig"));
    assert_null(json_object_get(json_object_get(res, "Config"), "Labels"));
    json_decref(r);
}

/* Inspects of images a commit made: this cluster's without a user (anyone's
 * in the cluster), this cluster's by user bob, another cluster's. */
static const char IMAGE_OURS[] =
    "{\"Id\":\"sha256:0001\",\"Config\":{\"Labels\":{\"io.docker-dispatch.image-cluster\":"
    "\"c1\"}}}";
static const char IMAGE_OF_BOB[] =
    "{\"Id\":\"sha256:0002\",\"Config\":{\"Labels\":{\"io.docker-dispatch.image-cluster\":"
    "\"c1\",\"io.docker-dispatch.image-user\":\"bob\"}}}";
static const char IMAGE_OF_C2[] =
    "{\"Id\":\"sha256:0003\",\"Config\":{\"Env\":[\"TOKEN=secret\"],\"Labels\":"
    "{\"io.docker-dispatch.image-cluster\":\"c2\"}}}";
static const char NO_SUCH_IMAGE[] = "{\"message\":\"No such image: docker-dispatch/c1/new:v1\"}";
#define COMMIT_ID "{\"Id\":\"sha256:0004\"}"

/* commit writes only under the cluster's commit prefix (policy
 * commit_prefix; docker-dispatch/c1 by default), to a free name or an
 * image of the publisher's own: never over the host's images or another
 * user's, which would re-point what their runs run. */
static void commit_targets_are_free_names_under_the_commit_prefix(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/*/json", 200,
               "{\"Id\":\"" ID1 "\",\"Name\":\"/mine\",\"State\":{\"Running\":true},"
               "\"Config\":{\"Labels\":{\"io.docker-dispatch.cluster\":\"c1\"}}}");
    fake_route(&fx->f, "POST", "/commit", 201, COMMIT_ID);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/new:v1/json", 404, NO_SUCH_IMAGE);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/ours:latest/json", 200, IMAGE_OURS);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/bobs:latest/json", 200, IMAGE_OF_BOB);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/host:latest/json", 200, IMAGE_OF_HOST);
    fx_start(fx);
    static const struct {
        const char *repo, *tag, *words;
    } refused[] = {
        {"busybox", "v1", "not a repository under docker-dispatch/c1/"},
        {"docker-dispatch/c2/x", "v1", "(policy commit_prefix)"},
        {"docker-dispatch/c1x/y", "v1", "(policy commit_prefix)"},
        {"docker-dispatch/c1/bobs", "latest", "exists and is not one this publisher committed"},
        {"docker-dispatch/c1/host", "latest", "it would be re-pointed (policy scope)"},
    };
    uint64_t n = 0;
    char body[256];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"commit\",\"Container\":\"mine\","
                 "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"%s\"}}",
                 refused[i].repo, refused[i].tag);
        json_t *r = fx_call(fx, ++n, body);
        check_refusal(r, "policy_denied", "Options.Repo", refused[i].words);
        json_decref(r);
    }
    assert_int_equal(fake_hits(&fx->f, "POST", "/commit"), 0);
    /* a free name, and the cluster's own image (re-pointed: it is its own) */
    static const char *const granted[][2] = {{"docker-dispatch/c1/new", "v1"},
                                             {"docker-dispatch/c1/ours", "latest"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(body, sizeof body,
                 "{\"Dockercmd\":\"commit\",\"Container\":\"mine\","
                 "\"Options\":{\"Repo\":\"%s\",\"Tag\":\"%s\"}}",
                 granted[i][0], granted[i][1]);
        json_t *r = fx_call(fx, ++n, body);
        if (!json_is_true(json_object_get(r, "ok")))
            print_error("commit to %s refused: %s\n", granted[i][0], err_message(r));
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
    assert_int_equal(fake_hits(&fx->f, "POST", "/commit"), 2);
    /* bob may write over his own */
    json_t *r = fx_call_as(fx, "bob", ++n,
                           "{\"Dockercmd\":\"commit\",\"Container\":\"mine\","
                           "\"Options\":{\"Repo\":\"docker-dispatch/c1/bobs\"}}");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* Another cluster's committed image is not there for this one: not
 * listed, not inspected (its Env stays unread), not run, removed, tagged
 * or pulled over, each answered as for an image Docker lacks.  The
 * host's images are listed and run but not removed; the cluster's own
 * are removed. */
static void images_of_another_cluster_are_out_of_reach(void **state)
{
    fixture *fx = *state;
    static const char *const other = "docker-dispatch/c2/secret";
    fake_route(&fx->f, "GET", "/images/json", 200,
               "[{\"Id\":\"sha256:feed\",\"RepoTags\":[\"busybox:latest\"],\"Labels\":null},"
               "{\"Id\":\"sha256:0001\",\"RepoTags\":[\"docker-dispatch/c1/ours:latest\"],"
               "\"Labels\":{\"io.docker-dispatch.image-cluster\":\"c1\"}},"
               "{\"Id\":\"sha256:0003\",\"RepoTags\":[\"docker-dispatch/c2/secret:latest\"],"
               "\"Labels\":{\"io.docker-dispatch.image-cluster\":\"c2\"}}]");
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c2/secret/json", 200, IMAGE_OF_C2);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c2/secret:latest/json", 200, IMAGE_OF_C2);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/ours/json", 200, IMAGE_OURS);
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/gone/json", 404,
               "{\"message\":\"No such image: docker-dispatch/c1/gone:latest\"}");
    fake_route(&fx->f, "DELETE", "/images/docker-dispatch/c1/ours", 200, "[]");
    fake_route(&fx->f, "POST", "/images/create", 200, PULL_STREAM);
    char why[256] = "";
    json_t *pol = json_pack("{s:[s]}", "registries", "docker.io");
    assert_int_equal(policy_from_json(&fx->policy, pol, why, sizeof why), 0);
    json_decref(pol);
    fx_start(fx);

    json_t *r = fx_call(fx, 1, "{\"Dockercmd\":\"images\"}");
    char *text = json_dumps(json_object_get(r, "result"), 0);
    if (strstr(text, "c2/secret") != NULL || strstr(text, "c1/ours") == NULL ||
        strstr(text, "busybox") == NULL)
        print_error("images: %s\n", text);
    assert_null(strstr(text, "c2/secret"));
    assert_non_null(strstr(text, "c1/ours"));
    assert_non_null(strstr(text, "busybox"));
    free(text);
    json_decref(r);

    static const char *const bodies[] = {
        "{\"Dockercmd\":\"image-inspect\",\"Image\":\"%s\"}",
        "{\"Dockercmd\":\"run\",\"Image\":\"%s\",\"Cmd\":[\"env\"]}",
        "{\"Dockercmd\":\"create\",\"Image\":\"%s\"}",
        "{\"Dockercmd\":\"image-remove\",\"Image\":\"%s\",\"Options\":{\"Force\":true}}",
        "{\"Dockercmd\":\"image-tag\",\"Image\":\"%s\",\"Options\":"
        "{\"Repo\":\"docker-dispatch/c1/stolen\"}}",
    };
    uint64_t n = 1;
    char body[256];
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        snprintf(body, sizeof body, bodies[i], other);
        r = fx_call(fx, ++n, body);
        /* word for word what Docker says of an image it lacks */
        check_refusal(r, "not_found", NULL, "No such image: docker-dispatch/c2/secret:latest");
        text = json_dumps(r, 0);
        assert_null(strstr(text, "TOKEN"));
        free(text);
        json_decref(r);
    }
    r = fx_call(fx, ++n, "{\"Dockercmd\":\"pull\",\"Image\":\"docker-dispatch/c2/secret\"}");
    check_refusal(r, "not_found", NULL, "pulling docker-dispatch/c2/secret failed");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/images/*"), 0);
    assert_int_equal(fake_hits(&fx->f, "POST", "/images/create"), 0);
    /* an image that is not there: not run, not removed */
    r = fx_call(fx, ++n,
                "{\"Dockercmd\":\"run\",\"Image\":\"docker-dispatch/c1/gone\",\"Cmd\":[\"true\"]}");
    check_refusal(r, "not_found", NULL, "No such image: docker-dispatch/c1/gone:latest");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
    /* the cluster's own is removed */
    r = fx_call(fx, ++n, "{\"Dockercmd\":\"image-remove\",\"Image\":\"docker-dispatch/c1/ours\"}");
    if (!json_is_true(json_object_get(r, "ok")))
        print_error("image-remove of our own: %s\n", err_message(r));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/images/docker-dispatch/c1/ours"), 1);
}

/* Users: bob's committed image is bob's; alice neither sees, runs nor
 * removes it; an admin user does. */
static void a_users_committed_image_is_theirs(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/images/docker-dispatch/c1/bobs/json", 200, IMAGE_OF_BOB);
    fake_route(&fx->f, "DELETE", "/images/docker-dispatch/c1/bobs", 200, "[]");
    char why[256] = "";
    json_t *pol = json_pack("{s:[s]}", "admin_users", "ops");
    assert_int_equal(policy_from_json(&fx->policy, pol, why, sizeof why), 0);
    json_decref(pol);
    fx_start(fx);
    static const char inspect[] =
        "{\"Dockercmd\":\"image-inspect\",\"Image\":\"docker-dispatch/c1/bobs\"}";
    static const char rm[] =
        "{\"Dockercmd\":\"image-remove\",\"Image\":\"docker-dispatch/c1/bobs\"}";
    json_t *r = fx_call_as(fx, "alice", 1, inspect);
    check_refusal(r, "not_found", NULL, "No such image: docker-dispatch/c1/bobs:latest");
    json_decref(r);
    r = fx_call_as(fx, "alice", 2, rm);
    check_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    r = fx_call(fx, 3, inspect); /* anonymous: no user's */
    check_refusal(r, "not_found", NULL, "No such image");
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/images/*/*/*"), 0);
    r = fx_call_as(fx, "bob", 4, inspect);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    r = fx_call_as(fx, "ops", 5, rm);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "DELETE", "/images/docker-dispatch/c1/bobs"), 1);
}

/* A pull failing half-way in the form of API 1.48 and newer (errorDetail
 * alone, no "error" string) is answered as a failure, never a success. */
static void a_pull_failing_with_only_error_detail_is_a_failure(void **state)
{
    fixture *fx = *state;
    snprintf(fx->f.ping, sizeof fx->f.ping, "1.56");
    allow_local_registry(fx);
    fake_route(&fx->f, "POST", "/images/create", 200,
               "{\"status\":\"Pulling from busybox\",\"id\":\"latest\"}\n"
               "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":9},"
               "\"id\":\"aaa\"}\n"
               "{\"errorDetail\":{\"message\":\"read tcp 127.0.0.1:5000: connection reset\"}}\n");
    fx_start(fx);
    fx_submit(fx, 54, "req-pull-fail",
              "{\"Dockercmd\":\"pull\",\"Image\":\"localhost:5000/busybox:latest\"}");
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 1));
    assert_true(json_is_false(json_object_get(r, "ok")));
    check_error(r, "docker_error", -1);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
               "pulling localhost:5000/busybox:latest failed"));
    json_decref(r);
}

/* A reply over max_reply is not sent: its request is answered too_large,
 * with both sizes and in the request's dialect, and its delivery is settled
 * as usual (acked: one final reply, nothing requeued to come back as big). */
static void a_reply_over_max_reply_is_answered_too_large(void **state)
{
    fixture *fx = *state;
    fx->max_reply = 4096;
    size_t big = 3 * fx->max_reply;
    char *name = malloc(big + 1), *text = malloc(big + 32);
    assert_non_null(name);
    assert_non_null(text);
    memset(name, 'a', big);
    name[big] = '\0';
    snprintf(text, big + 32, "{\"Name\":\"%s\"}", name);
    fake_route(&fx->f, "GET", "/info", 200, text);
    snprintf(text, big + 32, "[{\"Id\":\"%s\"}]", name);
    fake_route(&fx->f, "GET", "/images/json", 200, text);
    free(name);
    free(text);
    fx_start(fx);
    fx_submit(fx, 41, "req-big", "{\"Dockercmd\":\"info\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    if (strlen(o->reply.body) > fx->max_reply)
        print_error("reply of %zu bytes went out: %.200s...\n", strlen(o->reply.body),
                    o->reply.body);
    assert_true(strlen(o->reply.body) <= fx->max_reply);
    assert_int_equal(o->reply.tag, 41);
    assert_null(o->reply.dl);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "too_large", 0);
    assert_str(json_string_value(json_object_get(r, "command")), "info");
    assert_str(json_string_value(json_object_get(r, "request_id")), "req-big");
    assert_true(json_integer_value(json_object_get(err, "size")) > (json_int_t)big);
    assert_int_equal(json_integer_value(json_object_get(err, "max")), fx->max_reply);
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "4096"));
    json_decref(r);

    /* DockerMod's dialect gets DockerMod's fields, 413 */
    fx_submit(fx, 42, "req-big-dm", "{\"action\":\"list-images\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 2);
    assert_true(strlen(o->reply.body) <= fx->max_reply);
    r = reply_json(o);
    check_error(r, "too_large", 0);
    assert_int_equal(json_integer_value(json_object_get(r, "statusCode")), 413);
    json_decref(r);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 2);
}

/* A request the broker hands out again (it requeued the first copy with a
 * closed channel: its consumer timeout, a lost connection) is not carried
 * out again, whatever the command: the redelivered copy is acked without a
 * second reply.  A copy the client sent again is carried out again (only
 * the commands that make containers refuse those, as duplicate). */
static void a_redelivered_copy_of_an_answered_request_is_acked(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    fx_start(fx);
    fx_submit(fx, 51, "req-info", "{\"Dockercmd\":\"info\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 51);
    fx_submit_again(fx, 52, "req-info", "{\"Dockercmd\":\"info\"}");
    o = fx_wait(fx, ENGINE_OUT_ACK, 1);
    assert_int_equal(o->ack.tag, 52);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 1);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), 1);
    int calls = fake_hits(&fx->f, "GET", "/info");
    fx_submit(fx, 53, "req-info", "{\"Dockercmd\":\"info\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 2);
    assert_int_equal(o->reply.tag, 53);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), calls + 1);
}

/* An answered request that made no container (stop, volume-create) is
 * remembered all the same: its redelivered copy is acked without a second
 * reply, and Docker is not asked again. */
static void a_redelivered_stop_or_volume_create_is_not_run_again(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/containers/*/json", 200, OURS_RUNNING);
    fake_route(&fx->f, "POST", "/containers/*/stop", 204, NULL);
    fake_route(&fx->f, "GET", "/volumes/mine", 404, "{\"message\":\"no such volume\"}");
    fake_route(&fx->f, "POST", "/volumes/create", 201, VOLUME_MINE);
    fx_start(fx);
    static const char *const bodies[] = {"{\"Dockercmd\":\"stop\",\"Container\":\"mine\"}",
                                         "{\"Dockercmd\":\"volume-create\",\"Volume\":\"mine\"}"};
    static const char *const rids[] = {"req-stop", "req-vol"};
    for (size_t i = 0; i < 2; i++) {
        fx_submit(fx, 90 + 2 * i, rids[i], bodies[i]);
        json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, i + 1));
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
        fx_submit_again(fx, 91 + 2 * i, rids[i], bodies[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_ACK, i + 1);
        if (o->ack.tag != 91 + 2 * i)
            print_error("%s: the redelivered copy was carried out again\n", bodies[i]);
        assert_int_equal(o->ack.tag, 91 + 2 * i);
    }
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 2);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/*/stop"), 1);
    assert_int_equal(fake_hits(&fx->f, "POST", "/volumes/create"), 1);
}

/* The answered marks match a request id whole: "req-a" answered does not
 * make a redelivered "req-ab" a copy of it, nor "req-ab" answered a
 * redelivered "req-a" (each is carried out and answered). */
static void an_answered_id_is_not_matched_by_its_prefix(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    fx_start(fx);
    fx_submit(fx, 95, "req-a", "{\"Dockercmd\":\"info\"}");
    fx_wait(fx, ENGINE_OUT_REPLY, 1);
    fx_submit_again(fx, 96, "req-ab", "{\"Dockercmd\":\"info\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 2);
    if (o->reply.tag != 96)
        print_error("req-a answered made a redelivered req-ab its copy\n");
    assert_int_equal(o->reply.tag, 96);
    fx_submit(fx, 97, "req-bc", "{\"Dockercmd\":\"info\"}");
    fx_wait(fx, ENGINE_OUT_REPLY, 3);
    fx_submit_again(fx, 98, "req-b", "{\"Dockercmd\":\"info\"}");
    o = fx_wait(fx, ENGINE_OUT_REPLY, 4);
    if (o->reply.tag != 98)
        print_error("req-bc answered made a redelivered req-b its copy\n");
    assert_int_equal(o->reply.tag, 98);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_ACK), 0);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), 4);
}

/* The supervisor's list: ID1 of request req-p in state, its run's
 * deadline at epoch second deadline. */
static void script_listed_with_deadline(fake *f, const char *state, long long deadline)
{
    char list[1024];
    snprintf(list, sizeof list,
             "[{\"Id\":\"" ID1 "\",\"State\":\"%s\",\"Labels\":{\"" LBL "cluster\":\"c1\",\"" LBL
             "node\":\"n1\",\"" LBL "final\":\"1\",\"" LBL "request\":\"req-p\",\"" LBL
             "deadline\":\"%lld\"}}]",
             state, deadline);
    fake_route(f, "GET", "/containers/json", 200, list);
}

/* A run paused past its Timeout is stopped as a running one is: the pass
 * that lists it paused after its deadline kills it, and once it has
 * exited it is answered timed_out. */
static void a_run_paused_past_its_timeout_is_stopped_and_answered_timed_out(void **state)
{
    fixture *fx = *state;
    long long deadline = (long long)time(NULL) - 1;
    script_listed_with_deadline(&fx->f, "paused", deadline);
    fx_start(fx);
    wait_hits(fx, "POST", "/containers/*/kill", 1);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 0);

    /* killed: Docker lists it exited, finished after its deadline */
    char ins[2048], fin[32];
    time_t now = time(NULL);
    strftime(fin, sizeof fin, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(ins, sizeof ins,
             "{\"Id\":\"" ID1 "\",\"Name\":\"/fake_name\",\"State\":{\"Running\":false,"
             "\"ExitCode\":137,\"StartedAt\":\"2024-01-01T00:00:00Z\",\"FinishedAt\":\"%s\","
             "\"Error\":\"\"},\"Config\":{\"Tty\":false,\"Labels\":{\"" LBL
             "cluster\":\"c1\",\"" LBL "node\":\"n1\",\"" LBL "request\":\"req-p\",\"" LBL
             "final\":\"1\",\"" LBL "deadline\":\"%lld\",\"" LBL "reply-to\":\"replies\"}}}",
             fin, deadline);
    fake_route(&fx->f, "GET", "/containers/" ID1 "/json", 200, ins);
    script_listed_with_deadline(&fx->f, "exited", deadline);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    json_t *r = reply_json(o);
    json_t *res = json_object_get(r, "result");
    if (!json_is_true(json_object_get(res, "timed_out")))
        print_error("a run killed at its deadline answered: %s\n", o->reply.body);
    assert_true(json_is_true(json_object_get(res, "timed_out")));
    assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 137);
    json_decref(r);
}

/* The broker closed the channel (its consumer timeout, a lost
 * connection): the messages of the old generation that no worker has
 * begun are dropped, since the broker hands them out again; those being
 * carried out go on and are answered. */
static void messages_of_a_closed_channel_not_begun_are_dropped(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    pthread_mutex_lock(&fx->f.mu);
    fx->f.routes->delay_ms = 600; /* both workers busy a while */
    pthread_mutex_unlock(&fx->f.mu);
    fx_start(fx);
    fx->generation = 1;
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "req-old-%d", i);
        fx_submit(fx, 60 + (uint64_t)i, id, "{\"Dockercmd\":\"info\"}");
    }
    wait_hits(fx, "GET", "/info", 2);
    assert_int_equal(engine_forget_generations(fx->e, 2), 3);
    assert_int_equal(engine_forget_generations(fx->e, 2), 0);
    fx->generation = 2;
    fx_submit(fx, 70, "req-new", "{\"Dockercmd\":\"info\"}");
    fx_wait(fx, ENGINE_OUT_REPLY, 3);
    fx_settle(fx);
    assert_int_equal(fx_count(fx, ENGINE_OUT_REPLY), 3);
    assert_int_equal(fake_hits(&fx->f, "GET", "/info"), 3);
    assert_int_equal(fx_nth(fx, ENGINE_OUT_REPLY, 2)->reply.tag, 70);
}

/* ------------------------------------------------------------------------
 * Properties and headers from the wire
 * ------------------------------------------------------------------------ */

#define DISPATCHERS "dd-nodes" /* the dispatchers' own RabbitMQ user here */
static const char CREATE[] = "{\"Dockercmd\":\"create\",\"Image\":\"busybox:latest\"}";

/* A header of a message as it arrives: key, and a value of len bytes (0:
 * strlen) of kind (0: a long string). */
typedef struct wire_header {
    const char *key;
    const char *value;
    size_t len;
    uint8_t kind;
} wire_header;
#define WH(k, v)                                                                                   \
    {                                                                                              \
        (k), (v), 0, 0                                                                             \
    }

/* Hands the engine a delivery made from AMQP properties the way the frame
 * pump makes it (brk_copy_props): message id mid, user_id user (NULL:
 * none), the n headers h, and body. */
static void fx_submit_wire(fixture *fx, uint64_t tag, const char *mid, const char *user,
                           const wire_header *h, size_t n, const char *body)
{
    amqp_table_entry_t *ents = calloc(n ? n : 1, sizeof *ents);
    assert_non_null(ents);
    for (size_t i = 0; i < n; i++) {
        ents[i].key = amqp_cstring_bytes(h[i].key);
        ents[i].value.kind = h[i].kind ? h[i].kind : AMQP_FIELD_KIND_UTF8;
        if (ents[i].value.kind == AMQP_FIELD_KIND_ARRAY)
            continue; /* an empty array */
        ents[i].value.value.bytes.bytes = (void *)h[i].value;
        ents[i].value.value.bytes.len = h[i].len ? h[i].len : strlen(h[i].value);
    }
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    p._flags = AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
               AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_HEADERS_FLAG;
    p.message_id = amqp_cstring_bytes(mid);
    p.correlation_id = amqp_cstring_bytes("corr-1");
    p.reply_to = amqp_cstring_bytes("replies");
    if (user) {
        p._flags |= AMQP_BASIC_USER_ID_FLAG;
        p.user_id = amqp_cstring_bytes(user);
    }
    p.headers.num_entries = (int)n;
    p.headers.entries = ents;
    broker_delivery d;
    brk_delivery_init(&d);
    assert_int_equal(brk_copy_props(&d, &p), 0);
    free(ents);
    d.tag = tag;
    d.generation = fx->generation;
    d.source = BROKER_SRC_WORK;
    d.len = strlen(body);
    d.body = (unsigned char *)strdup(body);
    assert_non_null(d.body);
    engine_submit(fx->e, &d);
}

/* Waits for the reply to tag: a bad_request naming field, dead-lettered,
 * nothing made. */
static void expect_refused(fixture *fx, uint64_t tag, size_t nth, const char *field)
{
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, nth);
    if (o->reply.dl == NULL)
        print_error("the reply to %llu was not dead-lettered: %s\n", (unsigned long long)tag,
                    o->reply.body);
    assert_non_null(o->reply.dl);
    assert_int_equal(o->reply.dl->tag, tag);
    json_t *r = reply_json(o);
    json_t *err = check_error(r, "bad_request", 0);
    assert_str(json_string_value(json_object_get(err, "field")), field);
    json_decref(r);
    assert_int_equal(fake_hits(&fx->f, "POST", "/containers/create"), 0);
}

/* The attack that crashed a node: a create whose x-dd-incarnation is a
 * number followed by a byte that is not UTF-8.  The number parsed, the
 * raw value went into a container label and the node aborted.  Now the
 * value is refused for its form, and from any other user for being a
 * dispatchers' header; the node answers the next request. */
static void an_incarnation_that_is_not_utf8_is_refused_not_fatal(void **state)
{
    fixture *fx = *state;
    fx->amqp_user = DISPATCHERS;
    fx_start(fx);
    wire_header h = WH(CLUSTER_H_INCARNATION, "1765000000000000000\xff");
    fx_submit_wire(fx, 31, "crash-1", DISPATCHERS, &h, 1, CREATE);
    expect_refused(fx, 31, 1, "headers." CLUSTER_H_INCARNATION);
    fx_submit_wire(fx, 32, "crash-2", NULL, &h, 1, CREATE);
    expect_refused(fx, 32, 2, "headers." CLUSTER_H_INCARNATION);
    fx_submit_wire(fx, 33, "crash-3", "mallory", &h, 1, CREATE);
    expect_refused(fx, 33, 3, "headers." CLUSTER_H_INCARNATION);

    fx_submit_wire(fx, 34, "after", NULL, NULL, 0, CREATE);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 4);
    assert_int_equal(o->reply.tag, 34);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* The user a message counts against (quotas) is counted when it is
 * handed over, before anything checks it: a user_id that is not UTF-8
 * aborted the node there.  It is refused as every bad id is, and the node
 * answers the next message.  Found by fuzz_delivery. */
static void a_user_id_that_is_not_utf8_is_refused_not_fatal(void **state)
{
    fixture *fx = *state;
    fx->amqp_user = DISPATCHERS;
    fx_start(fx);
    fx_submit_wire(fx, 35, "bad-user", "mal\x90lory", NULL, 0, CREATE);
    expect_refused(fx, 35, 1, "message_id");
    /* a forwarded message counts against its x-dd-user */
    wire_header h[] = {WH(CLUSTER_H_HOP, "n2"), WH(CLUSTER_H_USER, "al\xc3\x28ice")};
    fx_submit_wire(fx, 36, "bad-fwd", DISPATCHERS, h, 2, CREATE);
    expect_refused(fx, 36, 2, "headers." CLUSTER_H_USER);
    fx_submit_wire(fx, 37, "after", NULL, NULL, 0, CREATE);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 3);
    assert_int_equal(o->reply.tag, 37);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* Each header between dispatchers, sent by another user (or none), is
 * refused naming it, answered and dead-lettered: an x-dd-part naming this
 * node as the asker used to be acked with no reply, no dead letter and no
 * log line. */
static void dispatchers_headers_from_a_publisher_are_refused(void **state)
{
    fixture *fx = *state;
    fx->amqp_user = DISPATCHERS;
    fx_start(fx);
    static const wire_header hs[] = {WH(CLUSTER_H_PART, "1"), WH(CLUSTER_H_HOP, "n2"),
                                     WH(CLUSTER_H_USER, "alice"), WH(CLUSTER_H_FROM, "n1"),
                                     WH(CLUSTER_H_INCARNATION, "1")};
    uint64_t tag = 40;
    size_t nth = 0;
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        char field[64];
        snprintf(field, sizeof field, "headers.%s", hs[i].key);
        wire_header two[2] = {WH(CLUSTER_H_PART, "1"), hs[i]};
        fx_submit_wire(fx, ++tag, "spoof", "mallory", &hs[i], 1, CREATE);
        expect_refused(fx, tag, ++nth, field);
        fx_submit_wire(fx, ++tag, "spoof", NULL, &hs[i], 1, CREATE);
        expect_refused(fx, tag, ++nth, field);
        /* the part query this node asked itself, as a publisher sends it */
        fx_submit_wire(fx, ++tag, "spoof", "mallory", two, i == 3 ? 2 : 1, CREATE);
        expect_refused(fx, tag, ++nth, "headers." CLUSTER_H_PART);
    }
    assert_int_equal(fx_count(fx, ENGINE_OUT_ACK), 0);
}

/* From the dispatchers' own user the headers are believed when each has
 * its form and comes once; a value of another form, one carrying a NUL
 * byte or over the header cap is refused naming the header. */
static void dispatchers_headers_must_have_their_form(void **state)
{
    fixture *fx = *state;
    fx->amqp_user = DISPATCHERS;
    fx_start(fx);
    static const wire_header bad[] = {
        WH(CLUSTER_H_PART, "2"),
        {CLUSTER_H_PART, "1\0junk", 6, 0},
        WH(CLUSTER_H_HOP, "n 2"),
        WH(CLUSTER_H_USER, "al\x01ice"),
        WH(CLUSTER_H_USER, "\xc3\x28"),
        {CLUSTER_H_FROM, "", 0, AMQP_FIELD_KIND_BYTES},
        WH(CLUSTER_H_INCARNATION, "12x"),
        WH(CLUSTER_H_INCARNATION, "-5"),
        WH(CLUSTER_H_INCARNATION, "12345678901234567890"),
        {CLUSTER_H_HOP, "", 0, AMQP_FIELD_KIND_ARRAY}, /* not text */
    };
    uint64_t tag = 60;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char field[64];
        snprintf(field, sizeof field, "headers.%s", bad[i].key);
        fx_submit_wire(fx, ++tag, "form", DISPATCHERS, &bad[i], 1, CREATE);
        expect_refused(fx, tag, i + 1, field);
    }
    wire_header twice[] = {WH(CLUSTER_H_HOP, "n2"), WH(CLUSTER_H_HOP, "n3")};
    fx_submit_wire(fx, 80, "form", DISPATCHERS, twice, 2, CREATE);
    expect_refused(fx, 80, sizeof bad / sizeof bad[0] + 1, "headers." CLUSTER_H_HOP);

    /* every header in its form: a forwarded create of alice's is made */
    wire_header good[] = {WH(CLUSTER_H_HOP, "n2"), WH(CLUSTER_H_USER, "alice")};
    fx_submit_wire(fx, 81, "good", DISPATCHERS, good, 2, CREATE);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, sizeof bad / sizeof bad[0] + 2);
    assert_int_equal(o->reply.tag, 81);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* A message with more headers than the copy keeps is refused whole (a
 * header between dispatchers could hide past the cap); one at the cap is
 * carried out, its headers unread.  A property holding a NUL byte is
 * refused naming it (its copy would end there: "a\0b" would be "a"). */
static void too_many_headers_or_a_nul_in_a_property_are_refused(void **state)
{
    fixture *fx = *state;
    fx_start(fx);
    wire_header h[BROKER_MAX_HEADERS + 1];
    char keys[BROKER_MAX_HEADERS + 1][16];
    for (size_t i = 0; i < BROKER_MAX_HEADERS + 1; i++) {
        snprintf(keys[i], sizeof keys[i], "x-app-%zu", i);
        h[i] = (wire_header)WH(keys[i], "v");
    }
    fx_submit_wire(fx, 90, "many", NULL, h, BROKER_MAX_HEADERS + 1, CREATE);
    expect_refused(fx, 90, 1, "headers");
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof p);
    p._flags = AMQP_BASIC_MESSAGE_ID_FLAG;
    p.message_id = (amqp_bytes_t){3, "a\0b"};
    broker_delivery d;
    brk_delivery_init(&d);
    assert_int_equal(brk_copy_props(&d, &p), 0);
    d.tag = 92;
    d.source = BROKER_SRC_WORK;
    d.body = (unsigned char *)strdup(CREATE);
    d.len = strlen(CREATE);
    engine_submit(fx->e, &d);
    expect_refused(fx, 92, 2, "message_id");
    fx_submit_wire(fx, 93, "at-cap", NULL, h, BROKER_MAX_HEADERS, CREATE);
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 3);
    assert_int_equal(o->reply.tag, 93);
    json_t *r = reply_json(o);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* Hands the engine a delivery from source src as user (NULL: none). */
static void fx_submit_src(fixture *fx, uint64_t tag, const char *id, const char *body,
                          const char *user, broker_source src)
{
    broker_delivery d;
    memset(&d, 0, sizeof d);
    d.tag = tag;
    d.generation = fx->generation;
    d.source = src;
    d.delivery_count = -1;
    d.death_count = -1;
    d.message_id = strdup(id);
    d.correlation_id = strdup(id);
    d.reply_to = strdup("replies");
    d.user_id = user ? strdup(user) : NULL;
    d.len = strlen(body);
    d.body = (unsigned char *)strdup(body);
    assert_non_null(d.body);
    engine_submit(fx->e, &d);
}

/* register and unregister change a node: a user not in the policy's
 * admin_users, and a message without user_id, are refused (policy_denied
 * naming user_id, counted in the metrics) and nothing is drained; an
 * admin user drains the node and resumes it, from its node queue too. */
static void only_admin_users_drain_or_resume_a_node(void **state)
{
    fixture *fx = *state;
    json_t *pol = json_pack("{s:[s]}", "admin_users", "ops");
    char why[200] = "";
    assert_int_equal(policy_from_json(&fx->policy, pol, why, sizeof why), 0);
    json_decref(pol);
    metrics_dd *m = metrics_dd_new("test", "n1");
    fx->metrics = m;
    fx_start(fx);
    const char *unreg = "{\"action\":\"unregister\",\"hostname\":\"n1\"}";
    const char *reg = "{\"action\":\"register\",\"hostname\":\"n1\"}";
    const char *who[] = {"mallory", NULL, "Ops", "ops "};
    for (size_t i = 0; i < sizeof who / sizeof who[0]; i++) {
        char id[32];
        snprintf(id, sizeof id, "req-deny-%zu", i);
        fx_submit_src(fx, 80 + i, id, i % 2 ? reg : unreg, who[i], BROKER_SRC_WORK);
        json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, i + 1));
        if (json_is_true(json_object_get(r, "ok")))
            print_error("%s by %s was carried out, not refused\n",
                        i % 2 ? "register" : "unregister",
                        who[i] ? who[i] : "a message without user_id");
        json_t *err = check_error(r, "policy_denied", 0);
        assert_str(json_string_value(json_object_get(err, "field")), "user_id");
        const char *msg = json_string_value(json_object_get(err, "message"));
        if (msg == NULL || strstr(msg, "admin_users") == NULL)
            print_error("the refusal does not name admin_users: %s\n", msg ? msg : "(none)");
        assert_non_null(msg && strstr(msg, "admin_users") ? msg : NULL);
        json_decref(r);
    }
    fx_settle(fx);
    if (fx_count(fx, ENGINE_OUT_DRAIN) != 0)
        print_error("a refused register/unregister drained or resumed the node\n");
    assert_int_equal(fx_count(fx, ENGINE_OUT_DRAIN), 0);
    char *text = NULL;
    size_t len = 0;
    metrics_render(m->reg, &text, &len);
    const char *want = "docker_dispatch_policy_denials_total{rule=\"user_id\"} 4";
    if (strstr(text, want) == NULL)
        print_error("metrics lack %s:\n%s\n", want, text);
    assert_non_null(strstr(text, want));
    free(text);
    /* the admin: drained from the work queue, resumed from its node queue */
    fx_submit_src(fx, 90, "req-admin-1", unreg, "ops", BROKER_SRC_WORK);
    engine_out *o = fx_wait(fx, ENGINE_OUT_DRAIN, 1);
    assert_int_equal(o->drain.on, 1);
    fx_submit_src(fx, 91, "req-admin-2", reg, "ops", BROKER_SRC_NODE);
    o = fx_wait(fx, ENGINE_OUT_DRAIN, 2);
    assert_int_equal(o->drain.on, 0);
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 6));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
}

/* images with a before or since filter: another cluster's committed image
 * is answered as a missing one, word for word (Docker would list for the
 * one and refuse the other), and an image the publisher may see is sent
 * to Docker by its id. */
static void an_images_anchor_is_no_oracle(void **state)
{
    fixture *fx = *state;
    fake_route(&fx->f, "GET", "/images/theirs/json", 200, IMAGE_OF_C2);
    fake_route(&fx->f, "GET", "/images/nosuch/json", 404,
               "{\"message\":\"No such image: nosuch:latest\"}");
    fake_route_n(&fx->f, "GET", "/images/json", "before", 200, "[]", 0, 0);
    fake_route_n(&fx->f, "GET", "/images/json", "since", 200, "[]", 0, 0);
    fake_route_n(&fx->f, "GET", "/images/json", "sha256%3Afeed", 200, "[]", 0, 0);
    fx_start(fx);
    static const char *const bodies[] = {
        "{\"Dockercmd\":\"images\",\"Options\":{\"Filters\":{\"before\":[\"theirs\"]}}}",
        "{\"Dockercmd\":\"images\",\"Options\":{\"Filters\":{\"before\":[\"nosuch\"]}}}",
        "{\"Dockercmd\":\"images\",\"Options\":{\"Filters\":{\"since\":{\"theirs\":true}}}}",
    };
    static const char *const names[] = {"theirs", "nosuch", "theirs"};
    char first[512] = "";
    for (size_t i = 0; i < 3; i++) {
        fx_submit(fx, 80 + i, names[i], bodies[i]);
        engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, i + 1);
        json_t *r = reply_json(o);
        if (!json_is_false(json_object_get(r, "ok")))
            print_error("%s told another's image apart: %s\n", bodies[i], o->reply.body);
        json_t *err = check_error(r, "not_found", 404);
        char *text = json_dumps(err, JSON_SORT_KEYS);
        char *at = strstr(text, names[i]);
        assert_non_null(at);
        memmove(at, at + strlen(names[i]), strlen(at + strlen(names[i])) + 1);
        if (i == 0)
            snprintf(first, sizeof first, "%s", text);
        else if (strcmp(text, first) != 0)
            print_error("another's image and none read differently:\n%s\n%s\n", first, text);
        assert_string_equal(text, first);
        free(text);
        json_decref(r);
    }
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/images/json", "before"), 0);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/images/json", "since"), 0);
    fx_submit(fx, 90, "req-images-host",
              "{\"Dockercmd\":\"images\",\"Options\":{\"Filters\":{\"since\":[\"busybox\"]}}}");
    json_t *r = reply_json(fx_wait(fx, ENGINE_OUT_REPLY, 4));
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    assert_int_equal(fake_hits_q(&fx->f, "GET", "/images/json", "sha256%3Afeed"), 1);
}

/* While RabbitMQ is away the outbox keeps at most ENGINE_MAX_PENDING_EVENTS
 * events: later ones are dropped and counted, and the rest of the work
 * goes on (events are a live feed, replies the record). */
static void events_past_the_bound_are_dropped_and_counted(void **state)
{
    fixture *fx = *state;
    fx->metrics = metrics_dd_new("test", "n1");
    fake_route(&fx->f, "GET", "/info", 200, "{}");
    fx_start(fx);
    for (int i = 0; i < ENGINE_MAX_PENDING_EVENTS + 2; i++)
        eng_post_event(fx->e, json_pack("{s:s, s:s}", "type", "container", "action", "start"));
    double dropped = metrics_value(fx->metrics->events_dropped, NULL);
    if (dropped != 2)
        print_error("%d events past the bound of %d: %.0f counted as dropped\n",
                    ENGINE_MAX_PENDING_EVENTS + 2, ENGINE_MAX_PENDING_EVENTS, dropped);
    assert_true(dropped == 2);
    fx_submit(fx, 61, "req-ev", "{\"Dockercmd\":\"info\"}");
    engine_out *o = fx_wait(fx, ENGINE_OUT_REPLY, 1);
    assert_int_equal(o->reply.tag, 61);
    assert_int_equal(fx_count(fx, ENGINE_OUT_EVENT), ENGINE_MAX_PENDING_EVENTS);
}

int main(void)
{
    /* curl's global state before any thread (the clients are made with the
     * libcurl transport, then given the fake) */
    if (dkc_global_init() != 0)
        return 1;
    log_setup(false, LOG_LVL_ERROR);
    log_set_record_stream(stderr); /* stdout carries the TAP */
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dkc_errors_map_to_reply_codes),
        T(a_refused_create_is_answered_docker_error),
        T(validation_errors_at_create_are_answered_bad_request),
        T(a_missing_image_is_answered_not_found),
        T(docker_unreachable_requeues_and_pauses),
        T(a_create_timing_out_requeues_and_pauses),
        T(a_start_timing_out_requeues_and_keeps_the_container),
        T(a_garbage_create_answer_is_answered_docker_error),
        T(a_refused_start_is_answered_then_removed),
        T(a_container_vanishing_before_its_final_reply_gets_none),
        T(a_run_whose_logs_vanish_is_answered_without_output),
        T(a_die_event_of_every_version_finishes_its_run),
        T(a_die_event_from_the_engines_start_finishes_its_run),
        T(a_die_event_of_the_oldest_form_wakes_the_supervisor),
        T(image_commands_read_image_inspects_of_1_52),
        T(commit_targets_are_free_names_under_the_commit_prefix),
        T(images_of_another_cluster_are_out_of_reach),
        T(a_users_committed_image_is_theirs),
        T(a_pull_failing_with_only_error_detail_is_a_failure),
        T(a_fenced_node_answers_a_run_nobody_answered_once),
        T(an_idle_engine_does_not_poll_docker),
        T(a_fenced_node_leaves_a_run_its_sibling_answered),
        T(an_adopted_container_whose_logs_vanish_is_not_answered_again),
        T(a_message_that_is_not_json_is_dead_lettered),
        T(a_message_id_that_is_not_utf8_is_refused),
        T(a_copy_of_a_running_request_is_answered_duplicate),
        T(a_copy_of_an_answered_run_or_create_is_a_duplicate),
        T(a_cluster_wide_list_names_its_kind),
        T(a_foreign_container_is_not_found),
        T(a_foreign_volume_after_many_binds_is_refused),
        T(a_mounts_volume_is_read_by_its_source),
        T(a_listed_network_is_joinable_only),
        T(a_volume_create_never_hands_out_anothers_volume),
        T(a_list_anchor_is_no_oracle),
        T(a_reply_address_filter_is_refused_in_either_form),
        T(a_list_filter_in_the_object_form_is_kept),
        T(a_list_limit_counts_only_what_one_may_see),
        T(an_exec_working_dir_in_proc_is_refused),
        T(an_images_anchor_is_no_oracle),
        T(policy_denials_are_counted_under_the_policys_names),
        T(a_redelivered_stop_or_remove_is_answered_as_before),
        T(a_pull_asked_for_progress_tells_it_before_the_reply),
        T(a_pull_not_asking_gets_no_progress),
        T(a_reply_over_max_reply_is_answered_too_large),
        T(a_redelivered_copy_of_an_answered_request_is_acked),
        T(a_redelivered_stop_or_volume_create_is_not_run_again),
        T(an_answered_id_is_not_matched_by_its_prefix),
        T(a_run_paused_past_its_timeout_is_stopped_and_answered_timed_out),
        T(messages_of_a_closed_channel_not_begun_are_dropped),
        T(an_incarnation_that_is_not_utf8_is_refused_not_fatal),
        T(a_user_id_that_is_not_utf8_is_refused_not_fatal),
        T(dispatchers_headers_from_a_publisher_are_refused),
        T(dispatchers_headers_must_have_their_form),
        T(too_many_headers_or_a_nul_in_a_property_are_refused),
        T(another_users_redelivered_id_does_not_adopt_theirs),
        T(another_users_id_is_no_duplicate),
        T(another_users_answered_id_is_carried_out),
        T(waits_are_bounded_per_user_and_per_node),
        T(a_users_messages_over_its_worker_share_wait_for_others),
        T(a_users_messages_in_flight_are_bounded),
        T(a_users_containers_and_memory_are_bounded),
        T(a_users_running_runs_cpus_and_run_time_are_bounded),
        T(a_start_is_held_to_the_users_quotas),
        T(only_admin_users_drain_or_resume_a_node),
        T(events_past_the_bound_are_dropped_and_counted),
    };
#undef T
    /* one case by name (scripts/mutants.sh's filter=): seconds, not the
     * whole program's half minute */
    if (getenv("CMOCKA_TEST_FILTER"))
        cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
    int failed = cmocka_run_group_tests_name("engine", tests, NULL, NULL);
    dkc_global_cleanup();
    return failed;
}
