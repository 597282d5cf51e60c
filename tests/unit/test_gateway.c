/*
 * test_gateway.c -- the gateway's HTTP layer against libcurl on 127.0.0.1,
 * with a fake submit function in place of the bridge: the statuses it
 * promises (200 and the reply's own, 400, 401, 404, 405, 413, 429, 502,
 * 503, 504), the token (required off loopback, from a file, compared in
 * constant time), the body cap (declared and chunked), the rate bound, many
 * requests at once, the access line, and the settings it refuses (address,
 * token, certificate, port in use).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gateway.h"
#include "gateway_internal.h"
#include "log.h"

#define TOKEN "s3cret-token-0123456789abcdef"

/* ---- the fake cluster ---------------------------------------------------- */

typedef enum fake_mode {
    FAKE_OK,          /* an ok reply naming the request id and the body's length */
    FAKE_ERROR,       /* an error reply with code fake_code */
    FAKE_TIMEOUT,     /* GATEWAY_ETIMEOUT */
    FAKE_UNAVAILABLE, /* GATEWAY_EUNAVAILABLE */
    FAKE_GARBAGE,     /* a reply that is no JSON object */
} fake_mode;

static struct {
    fake_mode mode;
    const char *code;
    int delay_ms;
    atomic_int calls;
    atomic_int active, most_active; /* calls running at once */
    pthread_mutex_t mu;
    char last_id[64];
    char *last_body;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int fake_submit(void *ud, const char *rid, const char *body, size_t len, int timeout_ms,
                       char **reply)
{
    (void)ud;
    (void)timeout_ms;
    atomic_fetch_add(&fake.calls, 1);
    int now = atomic_fetch_add(&fake.active, 1) + 1;
    int most = atomic_load(&fake.most_active);
    while (now > most && !atomic_compare_exchange_weak(&fake.most_active, &most, now))
        ;
    pthread_mutex_lock(&fake.mu);
    snprintf(fake.last_id, sizeof fake.last_id, "%s", rid);
    free(fake.last_body);
    fake.last_body = strndup(body, len);
    pthread_mutex_unlock(&fake.mu);
    if (fake.delay_ms > 0)
        usleep((useconds_t)fake.delay_ms * 1000);
    atomic_fetch_sub(&fake.active, 1);
    *reply = NULL;
    switch (fake.mode) {
    case FAKE_OK:
        if (asprintf(reply,
                     "{\"schema\":1,\"ok\":true,\"node\":\"fake\",\"command\":\"ping\","
                     "\"request_id\":\"%s\",\"result\":{\"len\":%zu}}",
                     rid, len) < 0)
            return GATEWAY_ENOMEM;
        return 0;
    case FAKE_ERROR:
        if (asprintf(reply,
                     "{\"schema\":1,\"ok\":false,\"node\":\"fake\",\"command\":\"stop\","
                     "\"request_id\":\"%s\",\"error\":{\"code\":\"%s\",\"message\":\"m\","
                     "\"field\":null,\"http_status\":null}}",
                     rid, fake.code) < 0)
            return GATEWAY_ENOMEM;
        return 0;
    case FAKE_TIMEOUT:
        return GATEWAY_ETIMEOUT;
    case FAKE_UNAVAILABLE:
        return GATEWAY_EUNAVAILABLE;
    case FAKE_GARBAGE:
        *reply = strdup("[1,2");
        return 0;
    }
    return GATEWAY_EINVAL;
}

static void fake_reset(void)
{
    fake.mode = FAKE_OK;
    fake.code = "not_found";
    fake.delay_ms = 0;
    atomic_store(&fake.calls, 0);
    atomic_store(&fake.active, 0);
    atomic_store(&fake.most_active, 0);
    fake.last_id[0] = '\0';
}

/* ---- the gateway under test ---------------------------------------------- */

static FILE *g_log; /* the access lines */

/* Starts a gateway on 127.0.0.1 (a free port) with the fake; token, rate,
 * max_body as given (NULL / 0: none / default). */
static gateway *start(const char *token, int rate, size_t max_body)
{
    gateway_conf c;
    gateway_conf_init(&c);
    c.listen = "127.0.0.1:0";
    c.token = token;
    c.rate = rate;
    c.max_body = max_body;
    c.timeout_ms = 2000;
    c.node = "unit";
    c.submit = fake_submit;
    gateway *gw = NULL;
    char *cause = NULL;
    int rc = gateway_start(&c, &gw, &cause);
    if (rc != 0)
        fprintf(stderr, "gateway_start: %s: %s\n", gateway_strerror(rc), cause ? cause : "");
    free(cause);
    assert_int_equal(rc, 0);
    assert_true(gateway_port(gw) > 0);
    return gw;
}

/* gateway_start's result on c (the gateway is freed at once); the cause
 * into why. */
static int start_result(const gateway_conf *c, char *why, size_t len)
{
    gateway *gw = NULL;
    char *cause = NULL;
    int rc = gateway_start(c, &gw, &cause);
    snprintf(why, len, "%s", cause ? cause : "");
    free(cause);
    gateway_free(gw);
    return rc;
}

/* ---- the HTTP client ---------------------------------------------------- */

typedef struct res {
    long status;
    char body[8192];
    size_t len;
    char headers[4096];
    size_t hlen;
    CURLcode err;
} res;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    res *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->body - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    res *r = ud;
    size_t k = size * n;
    size_t room = sizeof r->headers - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, k < room ? k : room);
    r->hlen += k < room ? k : room;
    r->headers[r->hlen] = '\0';
    return k;
}

/* Chunked upload of `chunked_left` bytes of JSON-ish text. */
typedef struct upload {
    size_t left;
} upload;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = size * n < u->left ? size * n : u->left;
    memset(buf, ' ', k);
    u->left -= k;
    return k;
}

/* One request: method, path on gw, body (NULL: none; len < 0: chunked
 * upload of -len bytes), extra headers (may be NULL; several separated by
 * newlines). */
static void http(gateway *gw, const char *method, const char *path, const char *body, long len,
                 const char *header, res *r)
{
    char url[128];
    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", gateway_port(gw), path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = NULL;
    upload up = {0};
    bool typed = false; /* the case sends a Content-Type of its own */
    for (const char *l = header; l && *l;) {
        size_t n = strcspn(l, "\n");
        char one[512];
        snprintf(one, sizeof one, "%.*s", (int)n, l);
        h = curl_slist_append(h, one);
        typed |= strncasecmp(one, "Content-Type:", 13) == 0;
        l += n + (l[n] == '\n');
    }
    /* what a client of the gateway sends with a body (a token-less gateway
     * needs it) */
    if ((body != NULL || len < 0) && !typed)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (body != NULL && len >= 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, len);
    } else if (len < 0) {
        up.left = (size_t)-len;
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    r->err = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

/* Sends text on a plain connection to gw and reads the answer (at most
 * len - 1 bytes, within 5 s) into buf. */
static void raw_request(gateway *gw, const char *text, char *buf, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gateway_port(gw))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    size_t n = 0;
    ssize_t k;
    while (n < len - 1 && (k = read(fd, buf + n, len - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
}

static void post(gateway *gw, const char *body, const char *header, res *r)
{
    http(gw, "POST", "/", body, (long)strlen(body), header, r);
}

/* The value of header name in r (copied into buf), or NULL. */
static const char *header_of(const res *r, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *l = r->headers; *l;) {
        const char *e = strstr(l, "\r\n");
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        if (ll > nl && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, len, "%.*s", (int)(ll - (size_t)(v - l)), v);
            return buf;
        }
        if (e == NULL)
            break;
        l = e + 2;
    }
    return NULL;
}

/* The "error"."code" of r's JSON body (static buffer), or "". */
static const char *code_of(const res *r)
{
    static char code[64];
    json_t *j = json_loads(r->body, 0, NULL);
    const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    snprintf(code, sizeof code, "%s", c ? c : "");
    json_decref(j);
    return code;
}

static void expect(const res *r, long status, const char *code)
{
    if (r->status != status || strcmp(code_of(r), code) != 0)
        fprintf(stderr, "expected %ld %s, got %ld (curl: %s) body: %s\n", status, code, r->status,
                curl_easy_strerror(r->err), r->body);
    assert_int_equal(r->status, status);
    assert_string_equal(code_of(r), code);
}

/* ---- cases -------------------------------------------------------------- */

/* POST / with a message of each dialect: the fake's reply comes back as it
 * is, 200, under the request id the fake was given, with the body as sent. */
static void post_ok(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    const char *bodies[] = {"{\"Dockercmd\":\"ping\"}",
                            "{\"action\": \"list-containers\", \"all\": true}"};
    for (size_t i = 0; i < 2; i++) {
        res r;
        fake_reset();
        post(gw, bodies[i], NULL, &r);
        expect(&r, 200, "");
        assert_int_equal(atomic_load(&fake.calls), 1);
        assert_string_equal(fake.last_body, bodies[i]);
        char hdr[128];
        assert_non_null(header_of(&r, "X-Request-Id", hdr, sizeof hdr));
        assert_string_equal(hdr, fake.last_id);
        assert_int_equal(strncmp(hdr, "gw-", 3), 0);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), hdr);
        assert_non_null(header_of(&r, "Content-Type", hdr, sizeof hdr));
        assert_string_equal(hdr, "application/json");
        json_decref(j);
    }
    gateway_free(gw);
}

/* An error reply is answered with its code's status; the body is the
 * reply. */
static void reply_status_from_code(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    const struct {
        const char *code;
        long status;
    } cases[] = {{"not_found", 404},       {"conflict", 409}, {"policy_denied", 403},
                 {"bad_request", 400},     {"timeout", 504},  {"docker_unavailable", 503},
                 {"no_such_code_yet", 500}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res r;
        fake_reset();
        fake.mode = FAKE_ERROR;
        fake.code = cases[i].code;
        post(gw, "{\"Dockercmd\":\"stop\",\"Container\":\"x\"}", NULL, &r);
        expect(&r, cases[i].status, cases[i].code);
    }
    gateway_free(gw);
}

/* A body that is no message: 400 with the parse error, never submitted. */
static void bad_body_400(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    const struct {
        const char *body, *code;
    } cases[] = {{"{Dockercmd: \"run\"}", "bad_request"},
                 {"", "bad_request"},
                 {"{\"Dockercmd\":\"explode\"}", "unknown_command"},
                 {"{\"action\":\"start-container\"}", "bad_request"}};
    fake_reset();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res r;
        post(gw, cases[i].body, NULL, &r);
        expect(&r, 400, cases[i].code);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_false(json_is_true(json_object_get(j, "ok")));
        assert_int_equal(json_integer_value(json_object_get(j, "schema")), 1);
        assert_string_equal(json_string_value(json_object_get(j, "node")), "unit");
        json_decref(j);
    }
    assert_int_equal(atomic_load(&fake.calls), 0);
    gateway_free(gw);
}

/* Unknown paths are 404, other methods on a known path 405 with Allow. */
static void routes_404_405(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    fake_reset();
    res r;
    char hdr[64];
    http(gw, "POST", "/nothing/here", "{\"Dockercmd\":\"ping\"}", 20, NULL, &r);
    expect(&r, 404, "not_found");
    http(gw, "PUT", "/", NULL, 0, NULL, &r);
    expect(&r, 405, "method_not_allowed");
    assert_non_null(header_of(&r, "Allow", hdr, sizeof hdr));
    assert_string_equal(hdr, "POST, GET");
    http(gw, "DELETE", "/", NULL, 0, NULL, &r);
    expect(&r, 405, "method_not_allowed");
    http(gw, "POST", "/nodes", "{}", 2, NULL, &r);
    expect(&r, 405, "method_not_allowed");
    assert_non_null(header_of(&r, "Allow", hdr, sizeof hdr));
    assert_string_equal(hdr, "GET");
    /* /containers/{id}: one segment, not empty, not two */
    http(gw, "GET", "/containers/a/b", NULL, 0, NULL, &r);
    expect(&r, 404, "not_found");
    http(gw, "GET", "/containers/", NULL, 0, NULL, &r);
    expect(&r, 404, "not_found");
    assert_int_equal(atomic_load(&fake.calls), 0);
    gateway_free(gw);
}

/* The resource routes: each is the one message it stands for, handed to
 * the submit function like POST /'s, answered with its reply; they need
 * the token, the page (GET /) does not; without a broker there are no
 * events nor queue depths (503). */
static void resource_routes(void **state)
{
    (void)state;
    gateway *gw = start(TOKEN, 0, 0);
    fake_reset();
    res r;
    char hdr[256];
    const char *auth = "Authorization: Bearer " TOKEN;
    static const struct {
        const char *path, *cmd, *opt, *container;
    } want[] = {
        {"/nodes", "nodes", NULL, NULL},
        {"/containers", "list", "Cluster", NULL},
        {"/containers/web-1", "inspect", NULL, "web-1"},
        {"/images", "images", "Cluster", NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        http(gw, "GET", want[i].path, NULL, 0, NULL, &r);
        expect(&r, 401, "unauthorized");
        http(gw, "GET", want[i].path, NULL, 0, auth, &r);
        expect(&r, 200, "");
        json_t *m = json_loads(fake.last_body, 0, NULL);
        assert_non_null(m);
        assert_string_equal(json_string_value(json_object_get(m, "Dockercmd")), want[i].cmd);
        if (want[i].opt)
            assert_true(json_is_true(json_object_get(json_object_get(m, "Options"), want[i].opt)));
        if (want[i].container)
            assert_string_equal(json_string_value(json_object_get(m, "Container")),
                                want[i].container);
        json_decref(m);
        /* the reply as the cluster gave it, under the request id given */
        json_t *j = json_loads(r.body, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), fake.last_id);
        json_decref(j);
    }
    assert_int_equal(atomic_load(&fake.calls), 4);
    /* /containers/{id} with a bad reference: the parser's 400, nothing sent */
    http(gw, "GET", "/containers/a%20b", NULL, 0, auth, &r);
    expect(&r, 400, "bad_request");
    assert_int_equal(atomic_load(&fake.calls), 4);
    /* the page: no token, HTML, a policy that allows nothing from elsewhere */
    http(gw, "GET", "/", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header_of(&r, "Content-Type", hdr, sizeof hdr));
    assert_int_equal(strncmp(hdr, "text/html", 9), 0);
    assert_non_null(header_of(&r, "Content-Security-Policy", hdr, sizeof hdr));
    assert_non_null(strstr(hdr, "default-src 'none'"));
    assert_non_null(strstr(r.body, "id=\"node-count\""));
    assert_non_null(header_of(&r, "Content-Length", hdr, sizeof hdr));
    assert_true(strtol(hdr, NULL, 10) > 1000); /* the whole page (the body kept here is cut) */
    /* no broker here: no events nor depths */
    http(gw, "GET", "/events", NULL, 0, NULL, &r);
    expect(&r, 401, "unauthorized");
    http(gw, "GET", "/events", NULL, 0, auth, &r);
    expect(&r, 503, "unavailable");
    http(gw, "GET", "/queues", NULL, 0, auth, &r);
    expect(&r, 503, "unavailable");
    gateway_free(gw);
}

/* The hub of GET /events: filters, a slow stream's bounded buffer and the
 * `dropped` notice, the cap on streams, a hung-up client, the close. */
static void sse_hub(void **state)
{
    (void)state;
    gw_hub *h = gw_hub_new();
    int err = 0;
    static char out[4 * GW_SSE_BUFFER];
    gw_sse *cont = gw_hub_join(h, "container", NULL, -1, &err);
    gw_sse *n2 = gw_hub_join(h, "", "n2", -1, &err);
    gw_sse *slow = gw_hub_join(h, NULL, NULL, -1, &err);
    assert_non_null(cont);
    assert_non_null(n2);
    assert_non_null(slow);
    assert_int_equal(gw_hub_clients(h), 3);
    const char *ev = "{\"event\":\"container.started\",\"node\":\"n1\"}";
    gw_hub_publish(h, "container.started", "n1", ev, strlen(ev));
    gw_hub_publish(h, "containerx.odd", "n1", ev, strlen(ev)); /* "container" is a word */
    ssize_t n = gw_sse_read(cont, out, sizeof out);
    assert_true(n > 0);
    out[n] = '\0';
    assert_int_equal(strncmp(out, "retry: 3000\n", 12), 0);
    assert_non_null(strstr(out, "\n\nevent: container.started\ndata: {\"event\""));
    assert_null(strstr(out, "containerx"));
    /* n2 saw none of n1's: its first event is n2's */
    gw_hub_publish(h, "node.up", "n2", "{}", 2);
    n = gw_sse_read(n2, out, sizeof out);
    out[n] = '\0';
    assert_null(strstr(out, "container"));
    assert_non_null(strstr(out, "event: node.up\ndata: {}\n\n"));

    /* slow has not read at all: 1000 events of ~300 bytes do not fit */
    char big[300];
    memset(big, 'x', sizeof big);
    big[0] = '"';
    big[sizeof big - 1] = '"';
    for (int i = 0; i < 1000; i++)
        gw_hub_publish(h, "container.exited", "n1", big, sizeof big);
    n = gw_sse_read(slow, out, sizeof out);
    assert_true(n > 0 && n <= GW_SSE_BUFFER);
    out[n] = '\0';
    int kept = 0;
    for (const char *p = out; (p = strstr(p, "event: container.exited")) != NULL; p++)
        kept++;
    assert_true(kept > 100 && kept < 1000);
    /* the reader tells of the loss as soon as there is room: at the end of
     * what was kept, or at the start of the next read */
    char want[96];
    snprintf(want, sizeof want, "event: dropped\ndata: {\"dropped\":%d}\n\n", 1000 - kept);
    int told = n > (ssize_t)strlen(want) && strcmp(out + n - strlen(want), want) == 0;
    gw_hub_publish(h, "node.down", "n1", "{}", 2);
    n = gw_sse_read(slow, out, sizeof out);
    out[n] = '\0';
    if (!told) {
        assert_int_equal(strncmp(out, want, strlen(want)), 0);
        memmove(out, out + strlen(want), strlen(out + strlen(want)) + 1);
    }
    assert_string_equal(out, "event: node.down\ndata: {}\n\n");
    assert_null(strstr(out, "dropped"));

    /* the cap */
    gw_sse *more[GW_SSE_MAX_CLIENTS];
    size_t k = 0;
    while (k < GW_SSE_MAX_CLIENTS && (more[k] = gw_hub_join(h, NULL, NULL, -1, &err)) != NULL)
        k++;
    assert_int_equal(k + 3, GW_SSE_MAX_CLIENTS);
    assert_int_equal(err, GATEWAY_EUNAVAILABLE);
    while (k > 0)
        gw_sse_leave(more[--k]);

    /* a client that hung up: its stream ends at once */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    gw_sse *gone = gw_hub_join(h, NULL, NULL, sv[0], &err);
    assert_non_null(gone);
    assert_true(gw_sse_read(gone, out, sizeof out) > 0); /* the greeting */
    close(sv[1]);
    int64_t t0 = gw_now_ms();
    assert_int_equal(gw_sse_read(gone, out, sizeof out), MHD_CONTENT_READER_END_WITH_ERROR);
    assert_true(gw_now_ms() - t0 < 3000);
    gw_sse_leave(gone);
    close(sv[0]);

    /* closing ends every stream and refuses new ones */
    gw_hub_close(h);
    assert_int_equal(gw_sse_read(cont, out, sizeof out), MHD_CONTENT_READER_END_OF_STREAM);
    assert_null(gw_hub_join(h, NULL, NULL, -1, &err));
    assert_int_equal(err, GATEWAY_ESTOPPING);
    gw_sse_leave(cont);
    gw_sse_leave(n2);
    gw_sse_leave(slow);
    assert_int_equal(gw_hub_clients(h), 0);
    gw_hub_free(h);
}

/* With a token: none, a wrong one, a prefix and an extension of it are
 * 401 with WWW-Authenticate: Bearer; the token (scheme in any case) goes
 * through. */
static void token_required(void **state)
{
    (void)state;
    gateway *gw = start(TOKEN, 0, 0);
    fake_reset();
    res r;
    char hdr[128];
    const char *body = "{\"Dockercmd\":\"ping\"}";
    post(gw, body, NULL, &r);
    expect(&r, 401, "unauthorized");
    assert_non_null(header_of(&r, "WWW-Authenticate", hdr, sizeof hdr));
    assert_int_equal(strncmp(hdr, "Bearer", 6), 0);
    const char *wrong[] = {"Authorization: Bearer s3cret-token-0123456789abcdeX",
                           "Authorization: Bearer s3cret-token-0123456789abcde",
                           "Authorization: Bearer " TOKEN "f",
                           "Authorization: Bearer ",
                           "Authorization: Basic " TOKEN,
                           "Authorization: " TOKEN};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        post(gw, body, wrong[i], &r);
        expect(&r, 401, "unauthorized");
        assert_non_null(header_of(&r, "WWW-Authenticate", hdr, sizeof hdr));
        assert_int_equal(strncmp(hdr, "Bearer", 6), 0);
    }
    assert_int_equal(atomic_load(&fake.calls), 0);
    post(gw, body, "Authorization: Bearer " TOKEN, &r);
    expect(&r, 200, "");
    post(gw, body, "Authorization: bearer " TOKEN, &r);
    expect(&r, 200, "");
    assert_int_equal(atomic_load(&fake.calls), 2);
    /* the route and the rate come first: an unknown path is 404 even without the token */
    http(gw, "GET", "/x", NULL, 0, NULL, &r);
    expect(&r, 404, "not_found");
    gateway_free(gw);
}

/* The comparison: only the token itself is equal; it goes through digests
 * of both sides compared with memeql_sec, so neither where they differ nor
 * their lengths change the work done. */
static void token_compare(void **state)
{
    (void)state;
    uint8_t d[GW_DIGEST_SIZE];
    char *cause = NULL;
    assert_int_equal(gw_token_load(TOKEN, NULL, d, &cause), 1);
    assert_true(gw_token_equal(d, TOKEN, strlen(TOKEN)));
    assert_false(gw_token_equal(d, TOKEN, strlen(TOKEN) - 1));
    assert_false(gw_token_equal(d, TOKEN "x", strlen(TOKEN) + 1));
    assert_false(gw_token_equal(d, "", 0));
    char flip[64];
    for (size_t i = 0; i < strlen(TOKEN); i++) {
        snprintf(flip, sizeof flip, "%s", TOKEN);
        flip[i] ^= 1;
        assert_false(gw_token_equal(d, flip, strlen(flip)));
    }
    const char *tok;
    size_t len;
    assert_int_equal(gw_bearer("Bearer  abc ", &tok, &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(strncmp(tok, "abc", 3), 0);
    assert_int_equal(gw_bearer("Bearerabc", &tok, &len), -1);
    assert_int_equal(gw_bearer(NULL, &tok, &len), -1);
    free(cause);
}

/* Off loopback a token is required; tokens come from a file too; bad ones
 * are refused without being echoed. */
static void token_settings(void **state)
{
    (void)state;
    gateway_conf c;
    char why[512];
    gateway_conf_init(&c);
    c.submit = fake_submit;
    c.node = "unit";
    c.listen = "0.0.0.0:0";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETOKEN);
    assert_non_null(strstr(why, "not loopback"));
    c.listen = "[::]:0";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETOKEN);

    c.listen = "127.0.0.1:0";
    c.token = "short";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETOKEN);
    assert_null(strstr(why, "short"));
    c.token = "has spaces in it, which a bearer token cannot";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETOKEN);

    char file[64];
    snprintf(file, sizeof file, "/tmp/dd-gw-token-%ld", (long)getpid());
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    c.token = TOKEN;
    c.token_file = file;
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_EINVAL);
    c.token = NULL;
    c.token_file = "/nonexistent/dd-token";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETOKEN);
    assert_non_null(strstr(why, "/nonexistent/dd-token"));

    /* the file's token (its first line) is the one asked for */
    c.token_file = file;
    gateway *gw = NULL;
    char *cause = NULL;
    assert_int_equal(gateway_start(&c, &gw, &cause), 0);
    fake_reset();
    res r;
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    expect(&r, 401, "unauthorized");
    post(gw, "{\"Dockercmd\":\"ping\"}", "Authorization: Bearer " TOKEN, &r);
    expect(&r, 200, "");
    gateway_free(gw);
    unlink(file);
}

/* Bodies up to max_body pass; one byte more is 413, declared or chunked. */
static void body_cap(void **state)
{
    (void)state;
    const size_t cap = 4096;
    gateway *gw = start(NULL, 0, cap);
    char *body = malloc(cap + 2);
    assert_non_null(body);
    const char *msg = "{\"Dockercmd\":\"ping\"}";
    memset(body, ' ', cap + 1);
    memcpy(body, msg, strlen(msg));
    body[cap + 1] = '\0';
    res r;
    fake_reset();
    http(gw, "POST", "/", body, (long)cap, NULL, &r);
    expect(&r, 200, "");
    assert_int_equal(strlen(fake.last_body), cap);
    http(gw, "POST", "/", body, (long)cap + 1, NULL, &r);
    expect(&r, 413, "too_large");
    /* chunked: no length to refuse on; the cap holds as the body comes */
    http(gw, "POST", "/", NULL, -(long)(cap + 1), NULL, &r);
    expect(&r, 413, "too_large");
    assert_non_null(strstr(r.body, "over the gateway's limit")); /* not held, then parsed */
    http(gw, "POST", "/", NULL, -(long)(64 * cap), NULL, &r);
    expect(&r, 413, "too_large");
    assert_non_null(strstr(r.body, "over the gateway's limit"));
    assert_int_equal(atomic_load(&fake.calls), 1);
    /* a declared length over the cap is refused on the headers, before
     * any of the body is sent */
    char reply[1024], text[256];
    snprintf(text, sizeof text,
             "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: 1000000000\r\n\r\n",
             gateway_port(gw));
    raw_request(gw, text, reply, sizeof reply);
    assert_int_equal(strncmp(reply, "HTTP/1.1 413", 12), 0);
    /* and the gateway still serves */
    post(gw, msg, NULL, &r);
    expect(&r, 200, "");
    free(body);
    gateway_free(gw);
}

/* rate 5/s: a burst of 10 passes, then 429 with Retry-After; tokens come
 * back with time. */
static void rate_bound(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 5, 0);
    fake_reset();
    res r;
    char hdr[32];
    int ok = 0, limited = 0;
    int64_t t0 = gw_now_ms();
    for (int i = 0; i < 14; i++) {
        http(gw, "GET", "/nowhere", NULL, 0, NULL, &r); /* every request counts */
        if (r.status == 429) {
            limited++;
            expect(&r, 429, "rate_limited");
            assert_non_null(header_of(&r, "Retry-After", hdr, sizeof hdr));
            assert_true(strtol(hdr, NULL, 10) >= 1);
        } else {
            ok++;
        }
    }
    /* 10 in the burst, and what was refilled while they ran (5 a second:
     * slow runs, under valgrind, get a few more) */
    int64_t ms = gw_now_ms() - t0;
    int most = 10 + (int)(ms * 5 / 1000) + 1;
    if (ok < 10 || ok > most)
        fprintf(stderr, "%d passed in %lld ms (expected 10 to %d)\n", ok, (long long)ms, most);
    assert_true(ok >= 10 && ok <= most);
    assert_true(limited >= 1 && ok + limited == 14);
    usleep(1100 * 1000);
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    expect(&r, 200, "");
    gateway_free(gw);

    /* the buckets themselves, on a clock of our own */
    gw_rate *rt = gw_rate_new(2, 2);
    unsigned char a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2}, c[4] = {10, 0, 0, 3};
    int retry = 0;
    for (int i = 0; i < 4; i++)
        assert_true(gw_rate_take(rt, a, 4, 1000, &retry));
    assert_false(gw_rate_take(rt, a, 4, 1000, &retry));
    assert_int_equal(retry, 1);
    assert_true(gw_rate_take(rt, b, 4, 1000, NULL)); /* another address has its own */
    assert_true(gw_rate_take(rt, a, 4, 1500, NULL)); /* half a second: one token */
    assert_false(gw_rate_take(rt, a, 4, 1500, NULL));
    assert_true(gw_rate_take(rt, c, 4, 1600, NULL));  /* a third takes b's slot (older) */
    assert_false(gw_rate_take(rt, a, 4, 1600, NULL)); /* a kept its (empty) bucket */
    gw_rate_free(rt);
    assert_null(gw_rate_new(0, 16));
    assert_true(gw_rate_take(NULL, a, 4, 0, NULL));
}

/* What the submit function reports becomes 504, 503 or 502, each with a
 * reply-shaped error. */
static void submit_failures(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    const struct {
        fake_mode mode;
        long status;
        const char *code;
    } cases[] = {{FAKE_TIMEOUT, 504, "timeout"},
                 {FAKE_UNAVAILABLE, 503, "unavailable"},
                 {FAKE_GARBAGE, 502, "bad_gateway"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        res r;
        fake_reset();
        fake.mode = cases[i].mode;
        post(gw, "{\"action\":\"list-images\"}", NULL, &r);
        expect(&r, cases[i].status, cases[i].code);
        json_t *j = json_loads(r.body, 0, NULL);
        char hdr[64];
        assert_non_null(header_of(&r, "X-Request-Id", hdr, sizeof hdr));
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), hdr);
        json_decref(j);
    }
    gateway_free(gw);
}

/* Many requests at once are handled at once, each answered with its own
 * reply. */
typedef struct worker {
    gateway *gw;
    int ok;
} worker;

static void *run_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 4; i++) {
        res r;
        post(w->gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
        char hdr[64];
        json_t *j = json_loads(r.body, 0, NULL);
        if (r.status == 200 && header_of(&r, "X-Request-Id", hdr, sizeof hdr) &&
            strcmp(json_string_value(json_object_get(j, "request_id")), hdr) == 0)
            w->ok++;
        json_decref(j);
    }
    return NULL;
}

static void concurrent_requests(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    fake_reset();
    fake.delay_ms = 200;
    enum { N = 10 };
    pthread_t t[N];
    worker w[N];
    int64_t t0 = gw_now_ms();
    for (int i = 0; i < N; i++) {
        w[i] = (worker){gw, 0};
        assert_int_equal(pthread_create(&t[i], NULL, run_worker, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    int64_t ms = gw_now_ms() - t0;
    assert_int_equal(ok, 4 * N);
    assert_int_equal(atomic_load(&fake.calls), 4 * N);
    /* 40 calls of 200 ms overlapped: several were under way at once, and
     * together they took well under the 8 s of one after the other */
    assert_true(atomic_load(&fake.most_active) >= N / 2);
    assert_true(ms < 6000);
    gateway_free(gw);
}

/* One access line per request: id, client, method, path, status, command,
 * error code, duration. */
static void access_line(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    fake_reset();
    res r;
    fflush(g_log);
    long at = ftell(g_log);
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    expect(&r, 200, "");
    http(gw, "GET", "/a\"b", NULL, 0, NULL, &r);
    gateway_free(gw); /* the lines are written when the requests complete */
    fflush(g_log);
    char text[2048] = "";
    fseek(g_log, at, SEEK_SET);
    size_t n = fread(text, 1, sizeof text - 1, g_log);
    text[n] = '\0';
    fseek(g_log, 0, SEEK_END);
    char want[128];
    snprintf(want, sizeof want,
             "http id=%s client=127.0.0.1 method=POST path=/ status=200 cmd=ping", fake.last_id);
    if (strstr(text, want) == NULL)
        fprintf(stderr, "access lines:\n%s", text);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "status=404 error=not_found"));
    assert_non_null(strstr(text, "path=\"/a\\\"b\"")); /* escaped */
}

/* The listen address forms. */
static void listen_addresses(void **state)
{
    (void)state;
    gw_addr a;
    char *cause = NULL;
    assert_int_equal(gw_addr_parse("8080", &a, &cause), 0);
    assert_string_equal(a.text, "127.0.0.1:8080");
    assert_true(a.loopback);
    assert_int_equal(gw_addr_parse("127.0.0.2:1", &a, &cause), 0);
    assert_true(a.loopback);
    assert_int_equal(gw_addr_parse("0.0.0.0:80", &a, &cause), 0);
    assert_false(a.loopback);
    assert_int_equal(gw_addr_parse("192.0.2.7:80", &a, &cause), 0);
    assert_false(a.loopback);
    assert_int_equal(gw_addr_parse("localhost:81", &a, &cause), 0);
    assert_true(a.loopback);
    if (gw_addr_parse("[::1]:82", &a, &cause) == 0) { /* when the host has IPv6 */
        assert_string_equal(a.text, "[::1]:82");
        assert_true(a.loopback);
    }
    const char *bad[] = {"",        ":80",   "1.2.3.4",    "host:99999",
                         "[::1]80", "a:b:c", "1.2.3.4:-1", "1.2.3.4:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(gw_addr_parse(bad[i], &a, &cause), GATEWAY_EADDR);
        assert_non_null(cause);
    }
    free(cause);
}

/* Peers and listeners: 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8 are
 * loopback; other IPv4-mapped addresses are not. */
static void mapped_ipv4_is_loopback_only_in_127(void **state)
{
    (void)state;
    const struct {
        const char *addr;
        int loopback;
    } cases[] = {{"::1", 1},
                 {"::ffff:127.0.0.1", 1},
                 {"::ffff:127.9.8.7", 1},
                 {"::ffff:10.0.0.1", 0},
                 {"::ffff:192.0.2.7", 0},
                 {"::ffff:0.0.0.0", 0},
                 {"::", 0},
                 {"2001:db8::1", 0},
                 {"::2", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
        assert_int_equal(inet_pton(AF_INET6, cases[i].addr, &s6.sin6_addr), 1);
        int got = gw_addr_is_loopback((const struct sockaddr *)&s6);
        if (got != cases[i].loopback)
            fail_msg("%s counted as %s", cases[i].addr, got ? "loopback" : "not loopback");
    }
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    inet_pton(AF_INET, "128.0.0.1", &s4.sin_addr);
    assert_false(gw_addr_is_loopback((const struct sockaddr *)&s4));
    inet_pton(AF_INET, "127.255.0.1", &s4.sin_addr);
    assert_true(gw_addr_is_loopback((const struct sockaddr *)&s4));
}

/* The names a token-less gateway answers to, as Host and Origin give
 * them, and the JSON content type. */
static void requests_addressed_to_the_gateway(void **state)
{
    (void)state;
    gw_addr a;
    char *cause = NULL;
    assert_int_equal(gw_addr_parse("localhost:8080", &a, &cause), 0);
    const struct {
        const char *host;
        int port, https, ok;
    } hosts[] = {
        {"127.0.0.1:8080", 8080, 0, 1},
        {"localhost:8080", 8080, 0, 1},
        {"LocalHost:8080", 8080, 0, 1},
        {"[::1]:8080", 8080, 0, 1},
        {"127.0.0.1", 80, 0, 1},
        {"localhost", 443, 1, 1},
        {"127.0.0.1", 8080, 0, 0},
        {"127.0.0.1:8081", 8080, 0, 0},
        {"127.0.0.1:80800", 8080, 0, 0},
        {"127.0.0.1:", 8080, 0, 0},
        {"127.0.0.1:80x", 8080, 0, 0},
        {"evil.example:8080", 8080, 0, 0},
        {"localhost.evil.example:8080", 8080, 0, 0},
        {"127.0.0.2:8080", 8080, 0, 0},
        {"[::2]:8080", 8080, 0, 0},
        {"[localhost]:8080", 8080, 0, 0},
        {"::1:8080", 8080, 0, 0},
        {"", 8080, 0, 0},
        {"[::1]x:8080", 8080, 0, 0},
        {"localhost:8080 ", 8080, 0, 0},
        {"localhost:8080/x", 8080, 0, 0},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        int got = gw_authority_ok(&a, hosts[i].port, hosts[i].https, hosts[i].host,
                                  strlen(hosts[i].host));
        if (got != hosts[i].ok)
            fail_msg("Host \"%s\" (port %d%s) %s", hosts[i].host, hosts[i].port,
                     hosts[i].https ? ", https" : "", got ? "taken" : "refused");
    }
    /* the configured name and its address */
    assert_int_equal(gw_addr_parse("127.0.0.3:9", &a, &cause), 0);
    assert_true(gw_authority_ok(&a, 9, 0, "127.0.0.3:9", 11));
    const struct {
        const char *origin;
        int https, ok;
    } origins[] = {
        {"http://127.0.0.1:9", 0, 1},    {"http://localhost:9", 0, 1},
        {"HTTP://[::1]:9", 0, 1},        {"https://127.0.0.1:9", 1, 1},
        {"https://127.0.0.1:9", 0, 0},   {"http://127.0.0.1:9", 1, 0},
        {"http://evil.example:9", 0, 0}, {"null", 0, 0},
        {"http://127.0.0.1:9/", 0, 0},   {"http://127.0.0.1", 0, 0},
        {"127.0.0.1:9", 0, 0},           {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++) {
        int got = gw_origin_ok(&a, 9, origins[i].https, origins[i].origin);
        if (got != origins[i].ok)
            fail_msg("Origin \"%s\"%s %s", origins[i].origin, origins[i].https ? " (https)" : "",
                     got ? "taken" : "refused");
    }
    const struct {
        const char *type;
        int ok;
    } types[] = {
        {"application/json", 1},
        {"Application/JSON", 1},
        {"application/json; charset=utf-8", 1},
        {" application/json", 1},
        {"text/plain", 0},
        {"application/x-www-form-urlencoded", 0},
        {"multipart/form-data", 0},
        {"application/jsonp", 0},
        {"application/json-seq", 0},
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        int got = gw_content_type_json(types[i].type);
        if (got != types[i].ok)
            fail_msg("Content-Type \"%s\" %s", types[i].type ? types[i].type : "(none)",
                     got ? "taken as JSON" : "refused");
    }
    free(cause);
}

/* A token-less gateway on loopback (and what one with a token serves
 * without it) answers only requests addressed to it: a web page the
 * host's browser opens can neither post to it (no JSON type, another
 * Origin) nor read it through DNS rebinding (another Host). */
static void loopback_refuses_other_sites(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    int port = gateway_port(gw);
    char hdr[256];
    res r;
    const char *msg = "{\"Dockercmd\":\"ping\"}";
    const char *types[] = {"Content-Type: text/plain",
                           "Content-Type: application/x-www-form-urlencoded",
                           "Content-Type: multipart/form-data; boundary=x", "Content-Type:"};
    fake_reset();
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        post(gw, msg, types[i], &r);
        expect(&r, 415, "unsupported_media_type");
        assert_non_null(strstr(r.body, "application/json"));
    }
    const char *hosts[] = {"Host: evil.example:%d", "Host: 127.0.0.1:%d1", "Host: 127.0.0.1",
                           "Host: 127.0.0.2:%d"};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        snprintf(hdr, sizeof hdr, hosts[i], port);
        post(gw, msg, hdr, &r);
        expect(&r, 403, "forbidden");
        assert_non_null(strstr(r.body, "Host"));
        http(gw, "GET", "/nodes", NULL, 0, hdr, &r); /* DNS rebinding reads */
        expect(&r, 403, "forbidden");
    }
    const char *origins[] = {"Origin: http://evil.example", "Origin: null",
                             "Origin: https://127.0.0.1:%d", "Origin: http://127.0.0.1:%d1"};
    for (size_t i = 0; i < sizeof origins / sizeof origins[0]; i++) {
        snprintf(hdr, sizeof hdr, origins[i], port);
        post(gw, msg, hdr, &r);
        expect(&r, 403, "forbidden");
        assert_non_null(strstr(r.body, "Origin"));
    }
    assert_int_equal(atomic_load(&fake.calls), 0);
    /* its own names and pages pass */
    const char *own[] = {"Host: localhost:%d", "Host: [::1]:%d", "Origin: http://127.0.0.1:%d",
                         "Origin: http://localhost:%d\nHost: localhost:%d",
                         "Content-Type: application/json; charset=utf-8"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        snprintf(hdr, sizeof hdr, own[i], port, port);
        post(gw, msg, hdr, &r);
        expect(&r, 200, "");
    }
    assert_int_equal(atomic_load(&fake.calls), 5);
    gateway_free(gw);

    /* with a token: what needs it is not held to this, what does not is */
    gw = start(TOKEN, 0, 0);
    snprintf(hdr, sizeof hdr,
             "Authorization: Bearer " TOKEN "\nHost: evil.example:%d\n"
             "Content-Type: text/plain\nOrigin: http://evil.example",
             gateway_port(gw));
    post(gw, msg, hdr, &r);
    expect(&r, 200, "");
    snprintf(hdr, sizeof hdr, "Host: evil.example:%d", gateway_port(gw));
    http(gw, "GET", "/healthz", NULL, 0, hdr, &r);
    expect(&r, 403, "forbidden");
    gateway_free(gw);
}

/* The daemon's readiness as the ops case sets it. */
static atomic_int g_ready = 1;
static int fake_ready(void *ud, char *why, size_t len)
{
    (void)ud;
    if (atomic_load(&g_ready))
        return 1;
    snprintf(why, len, "docker: unreachable\nrabbitmq: connection down"); /* no final \n */
    return 0;
}

/* A gateway on listen with the fake, token, metrics m and the ready
 * function. */
static gateway *start_ops(const char *listen, const char *token, metrics *m)
{
    gateway_conf c;
    gateway_conf_init(&c);
    c.listen = listen;
    c.token = token;
    c.rate = 0;
    c.node = "unit";
    c.submit = fake_submit;
    c.metrics = m;
    c.ready = fake_ready;
    gateway *gw = NULL;
    char *cause = NULL;
    int rc = gateway_start(&c, &gw, &cause);
    if (rc != 0)
        fprintf(stderr, "gateway_start: %s: %s\n", gateway_strerror(rc), cause ? cause : "");
    free(cause);
    assert_int_equal(rc, 0);
    return gw;
}

/* GET /healthz, /readyz and /metrics: text answers, open on a loopback
 * listener even with a token set, 503 with the reasons when not ready,
 * 405 for other methods, 404 for metrics when the gateway has none; on a
 * listener that is not loopback they need the token. */
static void ops_routes(void **state)
{
    (void)state;
    metrics *m = metrics_new("unit_overflow_total");
    metrics_family *c = metrics_counter(m, "unit_things_total", "Things.", "kind");
    metrics_add(c, (const char *[]){"a \"b\""}, 3);
    gateway *gw = start_ops("127.0.0.1:0", TOKEN, m);
    fake_reset();
    res r;
    char hdr[128];
    http(gw, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    assert_non_null(header_of(&r, "X-Request-Id", hdr, sizeof hdr));
    atomic_store(&g_ready, 1);
    http(gw, "GET", "/readyz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    atomic_store(&g_ready, 0);
    http(gw, "GET", "/readyz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready\ndocker: unreachable\nrabbitmq: connection down\n");
    assert_non_null(header_of(&r, "Content-Type", hdr, sizeof hdr));
    assert_int_equal(strncmp(hdr, "text/plain", 10), 0);
    atomic_store(&g_ready, 1);
    http(gw, "GET", "/metrics", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(header_of(&r, "Content-Type", hdr, sizeof hdr));
    assert_string_equal(hdr, METRICS_CONTENT_TYPE);
    assert_non_null(strstr(r.body, "# TYPE unit_things_total counter\n"
                                   "unit_things_total{kind=\"a \\\"b\\\"\"} 3\n"));
    http(gw, "POST", "/healthz", "{}", 2, NULL, &r);
    expect(&r, 405, "method_not_allowed");
    assert_non_null(header_of(&r, "Allow", hdr, sizeof hdr));
    assert_string_equal(hdr, "GET");
    /* POST / still needs the token */
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    expect(&r, 401, "unauthorized");
    assert_int_equal(atomic_load(&fake.calls), 0);
    gateway_free(gw);

    gw = start_ops("127.0.0.1:0", NULL, NULL);
    http(gw, "GET", "/metrics", NULL, 0, NULL, &r);
    expect(&r, 404, "not_found");
    http(gw, "GET", "/healthz", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    gateway_free(gw);

    /* every address, so not loopback: the token is needed (reached here
     * over 127.0.0.1, which the listener's address decides, not the
     * client's) */
    gw = start_ops("0.0.0.0:0", TOKEN, m);
    const char *paths[] = {"/healthz", "/readyz", "/metrics"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        http(gw, "GET", paths[i], NULL, 0, NULL, &r);
        expect(&r, 401, "unauthorized");
        http(gw, "GET", paths[i], NULL, 0, "Authorization: Bearer " TOKEN, &r);
        assert_int_equal(r.status, 200);
    }
    gateway_free(gw);
    metrics_free(m);
}

/* A port in use, an unreadable certificate, half a TLS pair: each refused
 * with its reason. */
static void start_refusals(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    gateway_conf c;
    char why[512], addr[64];
    gateway_conf_init(&c);
    c.submit = fake_submit;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", gateway_port(gw));
    c.listen = addr;
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ELISTEN);
    assert_non_null(strstr(why, addr));
    assert_non_null(strstr(why, "in use"));
    gateway_free(gw);

    c.listen = "127.0.0.1:0";
    c.cert_file = "/nonexistent/cert.pem";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_EINVAL);
    c.key_file = "/nonexistent/key.pem";
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETLS);
    assert_non_null(strstr(why, "/nonexistent/cert.pem"));
    char file[64];
    snprintf(file, sizeof file, "/tmp/dd-gw-notpem-%ld", (long)getpid());
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    c.cert_file = c.key_file = file;
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_ETLS);
    unlink(file);
    c.cert_file = c.key_file = NULL;
    c.submit = NULL;
    assert_int_equal(start_result(&c, why, sizeof why), GATEWAY_EINVAL);
}

/* After gateway_quiesce no new connection is taken. */
static void quiesce(void **state)
{
    (void)state;
    gateway *gw = start(NULL, 0, 0);
    fake_reset();
    res r;
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    expect(&r, 200, "");
    gateway_quiesce(gw);
    gateway_quiesce(gw);
    /* refused, or reset when the connection raced libmicrohttpd leaving
     * its last poll on the listening socket: either way, not served */
    post(gw, "{\"Dockercmd\":\"ping\"}", NULL, &r);
    assert_int_equal(r.status, 0);
    assert_int_not_equal(r.err, CURLE_OK);
    assert_int_equal(atomic_load(&fake.calls), 1);
    gateway_free(gw);
    gateway_free(NULL);
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_log = tmpfile();
    if (g_log == NULL)
        return -1;
    log_set_record_stream(g_log); /* stdout carries TAP */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    log_set_record_stream(NULL);
    fclose(g_log);
    free(fake.last_body);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(post_ok),
        cmocka_unit_test(reply_status_from_code),
        cmocka_unit_test(bad_body_400),
        cmocka_unit_test(routes_404_405),
        cmocka_unit_test(resource_routes),
        cmocka_unit_test(sse_hub),
        cmocka_unit_test(token_required),
        cmocka_unit_test(token_compare),
        cmocka_unit_test(token_settings),
        cmocka_unit_test(body_cap),
        cmocka_unit_test(rate_bound),
        cmocka_unit_test(submit_failures),
        cmocka_unit_test(concurrent_requests),
        cmocka_unit_test(access_line),
        cmocka_unit_test(listen_addresses),
        cmocka_unit_test(mapped_ipv4_is_loopback_only_in_127),
        cmocka_unit_test(requests_addressed_to_the_gateway),
        cmocka_unit_test(loopback_refuses_other_sites),
        cmocka_unit_test(start_refusals),
        cmocka_unit_test(quiesce),
        cmocka_unit_test(ops_routes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
