/*
 * test_gateway_daemon.c -- the HTTP gateway of the real daemon, against the real
 * RabbitMQ and Docker: DockerMod's REST examples as the seed gives them
 * (curl -X POST --data '...' http://host:port/), a run answered with its
 * output, bad bodies, errors from the cluster with their statuses, many
 * requests at once each answered once with its own reply, a slow request
 * not holding up a quick one, HTTPS with a bearer token and a timeout,
 * the settings that stop a start, SIGTERM with a request in flight, and
 * RabbitMQ going away and coming back (503 meanwhile); GET /metrics read
 * with a strict reader of the text format (tests/prom_text.h) and its
 * counters moved by exactly the requests sent, /healthz, and /readyz
 * ready, then not ready while RabbitMQ is away.
 *
 * The daemons are the built program ($DISPATCH_BIN), started as children
 * on a queue and node names unique to this run, with the gateway on free
 * loopback ports; every container they make carries their node label, so
 * teardown removes exactly those, and the topology is deleted afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../prom_text.h"
#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"

#define TOKEN "gw-itest-token-0123456789abcdef"
#define PING  "{\"Dockercmd\":\"ping\"}"
/* The seed's run, attached and removed, on no network. */
#define RUN_HELLO                                                                                  \
    "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],\"Remove\":true,"      \
    "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\",\"Cmd\":[\"echo\",\"hello world!\"]}"

static char g_queue[64], g_node[64], g_log[128], g_cfg[128], g_certs[128], g_token[128];
static char g_rabbit[32]; /* the private RabbitMQ node of rabbit_restarted */
static int g_port;        /* the main daemon's gateway */
static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct res {
    long status;
    CURLcode err;
    char *body; /* malloc'd, NUL-terminated ("" when none) */
    size_t len;
    char headers[4096];
    size_t hlen;
    json_t *json; /* the body parsed, or NULL */
} res;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    res *r = ud;
    size_t k = size * n;
    char *nb = realloc(r->body, r->len + k + 1);
    if (nb == NULL)
        return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, k);
    r->len += k;
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

static void res_free(res *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* What `curl -X POST --data BODY URL` does, plus the bearer token and the
 * CA when given; on handle c when not NULL (kept alive between calls),
 * else on a handle of its own.  With a token curl's form content type is
 * kept (the gateway then reads any); without one the JSON type is sent,
 * as a gateway without a token requires (`-H 'Content-Type:
 * application/json'`). */
static void post_on(CURL *c, const char *url, const char *body, const char *token,
                    const char *cafile, long timeout_s, res *r)
{
    memset(r, 0, sizeof *r);
    CURL *own = c ? NULL : curl_easy_init();
    if (c == NULL)
        c = own;
    assert_non_null(c);
    struct curl_slist *h = NULL;
    char auth[256];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    } else {
        h = curl_slist_append(h, "Content-Type: application/json");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    if (getenv("GWTEST_VERBOSE"))
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    r->err = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    curl_easy_cleanup(own);
    if (r->body == NULL)
        r->body = strdup("");
    r->json = json_loads(r->body, 0, NULL);
}

/* POST body to the main daemon's gateway. */
static void post(const char *body, res *r)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", g_port);
    post_on(NULL, url, body, NULL, NULL, 60, r);
}

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

/* GET url (with the bearer token and CA when given) into r. */
static void get_on(const char *url, const char *token, const char *cafile, res *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = NULL;
    char auth[256];
    if (token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (cafile)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    r->err = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = strdup("");
    r->json = json_loads(r->body, 0, NULL);
}

/* GET path from the gateway on 127.0.0.1:port (plain HTTP, no token). */
static void get_local(int port, const char *path, res *r)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    get_on(url, NULL, NULL, r);
}

/* A scrape of GET /metrics on port, read strictly into d (prom_doc_free);
 * fails the case when the answer is not 200 with the format's content
 * type, or does not read. */
static void scrape(int port, prom_doc *d)
{
    res r;
    char err[256], ct[128];
    get_local(port, "/metrics", &r);
    if (r.status != 200)
        fail_msg("GET /metrics: %ld (curl: %s): %s", r.status, curl_easy_strerror(r.err), r.body);
    assert_non_null(header_of(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    if (prom_parse(r.body, d, err, sizeof err) != 0)
        fail_msg("the scrape does not read: %s\n%s", err, r.body);
    res_free(&r);
}

static const char *code_of(const res *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static json_t *result_of(const res *r)
{
    return json_object_get(r->json, "result");
}

/* r is status with error code (code "" for ok) and a reply for its own
 * request id; printed when not. */
static void expect(const res *r, long status, const char *code)
{
    char id[64];
    const char *rid = json_string_value(json_object_get(r->json, "request_id"));
    int own = header_of(r, "X-Request-Id", id, sizeof id) && rid && strcmp(rid, id) == 0;
    if (r->status != status || strcmp(code_of(r), code) != 0 || !own)
        fprintf(stderr, "expected %ld \"%s\", got %ld (curl: %s): %s\nheaders:\n%s\n", status, code,
                r->status, curl_easy_strerror(r->err), r->body, r->headers);
    assert_int_equal(r->status, status);
    assert_string_equal(code_of(r), code);
    assert_true(own);
    assert_int_equal(json_is_true(json_object_get(r->json, "ok")), status == 200);
}

/* ---- daemons ------------------------------------------------------------- */

/* 1 once something accepts connections on 127.0.0.1:port, within
 * timeout_ms. */
static int wait_listening(int port, int timeout_ms)
{
    for (int64_t end = dfx_now_ms() + timeout_ms; dfx_now_ms() < end; usleep(50 * 1000))
        if (!dfx_port_free(port)) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
            if (fd >= 0)
                close(fd);
            if (ok)
                return 1;
        }
    return 0;
}

/* Starts a daemon for g_queue as node with the gateway options gw (NULL
 * terminated, appended), its output to log, on amqp url; waits until its
 * node queue has a consumer and its gateway takes connections on port
 * (it consumes before the gateway starts).  Returns its pid, or -1. */
static pid_t spawn_daemon(const char *node, const char *log, const char *url, broker *cli,
                          const char *const *gw, int port)
{
    const char *args[40] = {"-q", g_queue,        "--node",  node,       "--workers",
                            "6",  "--queue-type", "classic", "--config", g_cfg};
    size_t n = 10;
    while (gw && *gw && n < 36)
        args[n++] = *gw++;
    args[n++] = lane_docker_host();
    args[n++] = url;
    args[n] = NULL;
    pid_t pid = dfx_spawn(args, log, NULL);
    if (pid < 0)
        return -1;
    char nq[160];
    snprintf(nq, sizeof nq, "%s.node.%s", g_queue, node);
    if (dfx_wait_consuming(cli, nq, &pid, 20000, log) == 0 && wait_listening(port, 10000))
        return pid;
    fprintf(stderr, "daemon %s did not come up; see %s\n", node, log);
    if (pid > 0)
        dfx_stop(&pid, SIGKILL, 0);
    return -1;
}

/* The main daemon: plain HTTP on g_port, no token. */
static int start_main(void)
{
    char port[16];
    snprintf(port, sizeof port, "%d", g_port);
    const char *gw[] = {"--gateway", port, "--gateway-rate", "200", NULL};
    g_pid = spawn_daemon(g_node, g_log, lane_amqp_url(), g_cli, gw, g_port);
    if (g_pid < 0) {
        g_pid = 0;
        return -1;
    }
    return 0;
}

/* A free loopback port from base on, within the suite's range. */
static int free_port(int base)
{
    for (int p = base; p <= DD_LAST(DD_PORTS_GATEWAY_DAEMON); p++)
        if (dfx_port_free(p))
            return p;
    return 0;
}

/* Runs the daemon with args until it exits by itself (at most 60 s);
 * its output into out.  Returns the exit status, -1 when it did not end. */
static int run_once(const char *const *gw, char *out, size_t len)
{
    char log[128];
    snprintf(log, sizeof log, "/tmp/dd-gwtest-once-%ld.log", (long)getpid());
    unlink(log);
    const char *args[24] = {"-q", g_queue, "--node", "gw-once", "--queue-type", "classic"};
    size_t n = 6;
    while (*gw && n < 20)
        args[n++] = *gw++;
    args[n++] = lane_docker_host();
    args[n++] = lane_amqp_url();
    args[n] = NULL;
    pid_t pid = dfx_spawn(args, log, NULL);
    assert_true(pid > 0);
    int st = -1;
    for (int i = 0; i < 600; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        usleep(100 * 1000);
        st = -1;
    }
    if (st == -1)
        dfx_stop(&pid, SIGKILL, 0);
    char *text = dfx_read_file(log);
    snprintf(out, len, "%s", text ? text : "");
    free(text);
    unlink(log);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Lines of file path holding text. */
static int count_lines(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, text) != NULL;
    fclose(f);
    return n;
}

/* ---- cases --------------------------------------------------------------- */

/* GET /healthz and /readyz of the main daemon, then its metrics: a
 * scrape read strictly, a few requests (two runs, a policy denial, a
 * not_found), another scrape, and every counter they touch moved by
 * exactly what they did. */
static void metrics_and_health(void **state)
{
    (void)state;
    res r;
    get_local(g_port, "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    res_free(&r);
    get_local(g_port, "/readyz", &r);
    if (r.status != 200)
        fail_msg("GET /readyz: %ld: %s", r.status, r.body);
    assert_string_equal(r.body, "ready\n");
    res_free(&r);

    prom_doc a, b;
    scrape(g_port, &a);
    post(RUN_HELLO, &r);
    expect(&r, 200, "");
    res_free(&r);
    post(RUN_HELLO, &r);
    expect(&r, 200, "");
    res_free(&r);
    post("{\"Dockercmd\":\"run\",\"Image\":\"alpine:latest\",\"Cmd\":[\"true\"]}", &r);
    expect(&r, 403, "policy_denied");
    const char *field =
        json_string_value(json_object_get(json_object_get(r.json, "error"), "field"));
    char rule[160];
    snprintf(rule, sizeof rule, "rule=%s", field && *field ? field : "unknown");
    res_free(&r);
    post("{\"action\": \"inspect-container\", \"id\": \"dd-gwtest-no-such-container\"}", &r);
    expect(&r, 404, "not_found");
    res_free(&r);
    scrape(g_port, &b);

    static const struct {
        const char *name, *labels;
        double delta;
    } want[] = {
        {"docker_dispatch_requests_total", "command=run,outcome=ok", 2},
        {"docker_dispatch_requests_total", "command=run,outcome=policy_denied", 1},
        {"docker_dispatch_requests_total", "command=inspect,outcome=not_found", 1},
        {"docker_dispatch_requests_total", "command=ping,outcome=ok", 0},
        {"docker_dispatch_replies_total", "", 4},
        {"docker_dispatch_run_duration_seconds_count", "", 2},
        {"docker_dispatch_queue_to_start_seconds_count", "", 2},
        {"docker_dispatch_queue_to_start_seconds_bucket", "le=+Inf", 2},
        {"docker_dispatch_events_dropped_total", "", 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int found;
        double before = prom_get(&a, want[i].name, want[i].labels, NULL);
        double after = prom_get(&b, want[i].name, want[i].labels, &found);
        if ((want[i].delta > 0 && !found) || after - before != want[i].delta)
            fail_msg("%s{%s}: %g -> %g, expected +%g", want[i].name, want[i].labels, before, after,
                     want[i].delta);
    }
    double d0 = prom_get(&a, "docker_dispatch_policy_denials_total", rule, NULL);
    double d1 = prom_get(&b, "docker_dispatch_policy_denials_total", rule, NULL);
    if (d1 - d0 != 1)
        fail_msg("policy_denials_total{%s}: %g -> %g", rule, d0, d1);
    assert_true(prom_get(&b, "docker_dispatch_docker_up", "", NULL) == 1);
    assert_true(prom_get(&b, "docker_dispatch_broker_up", "", NULL) == 1);
    assert_true(prom_get(&b, "docker_dispatch_cluster_nodes", "", NULL) >= 1);
    assert_true(prom_get(&b, "docker_dispatch_broker_reconnects_total", "", NULL) == 0);
    char bi[160];
    snprintf(bi, sizeof bi, "node=%s,version=", g_node);
    int seen = 0;
    for (size_t i = 0; i < b.n; i++)
        seen += !strcmp(b.s[i].name, "docker_dispatch_build_info") &&
                !strncmp(b.s[i].labels, bi, strlen(bi)) && b.s[i].value == 1;
    assert_int_equal(seen, 1);
    double start = prom_get(&b, "docker_dispatch_start_time_seconds", "", NULL);
    assert_true(start > (double)time(NULL) - 3600 && start <= (double)time(NULL));
    prom_doc_free(&a);
    prom_doc_free(&b);
}

/* The DockerMod REST examples of the seed, as written there (with busybox
 * for ubuntu and a 7-character id prefix where the seed used one): each is
 * answered with its reply and the status of its code, under its own id. */
static void seed_rest_examples(void **state)
{
    (void)state;
    res r;
    post("{\"action\": \"create-container\", \"image\": \"busybox:latest\", "
         "\"cmd\": [\"sleep\", \"60\"]}",
         &r);
    expect(&r, 200, "");
    const char *cid = json_string_value(json_object_get(result_of(&r), "id"));
    assert_non_null(cid);
    char id[80], body[512];
    snprintf(id, sizeof id, "%s", cid);
    /* DockerMod's compatibility fields */
    assert_int_equal(json_integer_value(json_object_get(r.json, "statusCode")), 201);
    res_free(&r);

    snprintf(body, sizeof body, "{\"action\": \"start-container\", \"id\": \"%.7s\"}", id);
    post(body, &r);
    expect(&r, 200, "");
    res_free(&r);

    post("{\"action\": \"list-containers\", \"all\": true}", &r);
    expect(&r, 200, "");
    /* one node's array, or the cluster's {"containers": [...], "nodes", "missing"} */
    json_t *list = result_of(&r);
    if (json_is_object(list))
        list = json_object_get(list, "containers");
    assert_true(json_is_array(list));
    int found = 0;
    json_t *c;
    size_t i;
    json_array_foreach(list, i, c)
    {
        const char *cid2 = json_string_value(json_object_get(c, "Id"));
        found += cid2 && strcmp(cid2, id) == 0;
    }
    assert_int_equal(found, 1);
    res_free(&r);

    snprintf(body, sizeof body, "{\"action\": \"inspect-container\", \"id\": \"%s\"}", id);
    post(body, &r);
    expect(&r, 200, "");
    assert_true(json_is_true(json_object_get(json_object_get(result_of(&r), "State"), "Running")));
    res_free(&r);

    post("{\"action\": \"list-images\"}", &r);
    expect(&r, 200, "");
    res_free(&r);

    snprintf(body, sizeof body, "{\"action\": \"restart-container\", \"id\": \"%s\"}", id);
    post(body, &r);
    expect(&r, 200, "");
    res_free(&r);
    snprintf(body, sizeof body, "{\"action\": \"stop-container\", \"id\": \"%s\"}", id);
    post(body, &r);
    expect(&r, 200, "");
    res_free(&r);
    snprintf(body, sizeof body, "{\"action\": \"delete-container\", \"id\": \"%s\"}", id);
    post(body, &r);
    expect(&r, 200, "");
    res_free(&r);
    json_t *ins = NULL;
    assert_int_equal(dkc_container_inspect(g_dkc, id, &ins), DKC_ENOTFOUND);

    /* the ones this node answers with an error: the status is the code's */
    const char *others[] = {
        "{\"action\": \"create-container\", \"template\": \"test\", \"instances\": 4}",
        "{\"action\": \"start-container\", \"id\": \"b276fbe\"}",
        "{\"action\": \"register\", \"hostname\": \"sthmaclt009.local\"}",
        "{\"action\": \"unregister\", \"hostname\": \"sthmaclt009.local\"}"};
    for (i = 0; i < sizeof others / sizeof others[0]; i++) {
        post(others[i], &r);
        long want = 200;
        const char *code = code_of(&r);
        if (*code) {
            const struct {
                const char *code;
                long status;
            } map[] = {{"bad_request", 400},   {"not_found", 404}, {"unsupported", 501},
                       {"policy_denied", 403}, {"conflict", 409},  {"unknown_command", 400},
                       {"unavailable", 503}};
            want = 0;
            for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
                if (strcmp(map[k].code, code) == 0)
                    want = map[k].status;
        }
        fprintf(stderr, "# %s -> %ld %s\n", others[i], r.status, *code ? code : "ok");
        expect(&r, want, code);
        res_free(&r);
    }
}

/* method path on the main daemon's gateway with exactly the headers h
 * (NULL-terminated; curl's own otherwise) and body (NULL: none). */
static void request_with(const char *method, const char *path, const char *const *h,
                         const char *body, res *r)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_port, path);
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *l = NULL;
    for (; h && *h; h++)
        l = curl_slist_append(l, *h);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, l);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    r->err = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(l);
    curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = strdup("");
    r->json = json_loads(r->body, 0, NULL);
}

/* Checks a refusal the gateway made itself: status, code, a message
 * naming what, and no request published for it (the daemon never logged
 * its id). */
static void expect_refused(res *r, long status, const char *code, const char *what)
{
    expect(r, status, code);
    const char *msg =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    if (msg == NULL || strstr(msg, what) == NULL)
        fail_msg("the refusal does not name %s: %s", what, r->body);
    char id[64], line[96];
    assert_non_null(header_of(r, "X-Request-Id", id, sizeof id));
    snprintf(line, sizeof line, "request id=%s", id);
    assert_int_equal(count_lines(g_log, line), 0);
    res_free(r);
}

/* The main daemon's gateway has no token: a web page the host's browser
 * opens may send it requests.  The seed's form-typed POST, a text/plain
 * one (what a page may send anywhere), another site's Origin and a Host
 * that is not the gateway's (DNS rebinding, reading too) are refused
 * before anything is published; its own page's requests pass. */
static void loopback_refuses_other_sites(void **state)
{
    (void)state;
    res r;
    char host[64], own[64], rebound[64];
    snprintf(host, sizeof host, "Host: rebound.example:%d", g_port);
    snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d", g_port);
    snprintf(rebound, sizeof rebound, "Origin: http://rebound.example:%d", g_port);
    request_with("POST", "/", NULL, PING, &r); /* curl --data: a form type */
    expect_refused(&r, 415, "unsupported_media_type", "application/json");
    request_with("POST", "/", (const char *[]){"Content-Type: text/plain", NULL}, PING, &r);
    expect_refused(&r, 415, "unsupported_media_type", "application/json");
    const char *json = "Content-Type: application/json";
    request_with("POST", "/", (const char *[]){json, "Origin: http://evil.example", NULL}, PING,
                 &r);
    expect_refused(&r, 403, "forbidden", "Origin");
    request_with("POST", "/", (const char *[]){json, "Origin: null", NULL}, PING, &r);
    expect_refused(&r, 403, "forbidden", "Origin");
    request_with("POST", "/", (const char *[]){json, host, rebound, NULL}, PING, &r);
    expect_refused(&r, 403, "forbidden", "Host");
    request_with("GET", "/containers", (const char *[]){host, NULL}, NULL, &r);
    expect_refused(&r, 403, "forbidden", "Host");
    request_with("GET", "/metrics", (const char *[]){host, NULL}, NULL, &r);
    expect_refused(&r, 403, "forbidden", "Host");
    /* its own page: same origin, its own host */
    request_with("POST", "/", (const char *[]){json, own, NULL}, PING, &r);
    expect(&r, 200, "");
    res_free(&r);
    snprintf(host, sizeof host, "Host: localhost:%d", g_port);
    request_with("GET", "/nodes", (const char *[]){host, NULL}, NULL, &r);
    expect(&r, 200, "");
    res_free(&r);
}

/* The seed's run through HTTP: 200 with exit code and output. */
static void run_with_output(void **state)
{
    (void)state;
    res r;
    post(RUN_HELLO, &r);
    expect(&r, 200, "");
    assert_int_equal(json_integer_value(json_object_get(result_of(&r), "exit_code")), 0);
    assert_string_equal(json_string_value(json_object_get(result_of(&r), "stdout")),
                        "hello world!\n");
    assert_true(json_is_true(json_object_get(result_of(&r), "removed")));
    res_free(&r);

    post("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\",\"STDERR\"],\"Remove\":true,"
         "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
         "\"Cmd\":[\"sh\",\"-c\",\"echo oops >&2; exit 3\"]}",
         &r);
    expect(&r, 200, "");
    assert_int_equal(json_integer_value(json_object_get(result_of(&r), "exit_code")), 3);
    assert_string_equal(json_string_value(json_object_get(result_of(&r), "stderr")), "oops\n");
    res_free(&r);

    /* a request that asks for progress messages: the answer is still the
     * final reply, not the first progress message */
    post("{\"action\": \"create-container\", \"image\": \"busybox:latest\", \"cmd\": [\"true\"], "
         "\"instances\": 2, \"progress\": true}",
         &r);
    expect(&r, 200, "");
    assert_null(json_object_get(r.json, "final"));
    assert_int_equal(json_integer_value(json_object_get(result_of(&r), "requested")), 2);
    res_free(&r);
}

/* Bodies that are no message: 400 with the error reply, and nothing
 * published (no dead letter); errors from the cluster keep their
 * status. */
static void bad_bodies_and_errors(void **state)
{
    (void)state;
    res r;
    char dead[96];
    snprintf(dead, sizeof dead, "%s.dead", g_queue);
    uint32_t before = 0, after = 0;
    assert_int_equal(broker_queue_counts(g_cli, dead, &before, NULL), 0);
    post("{Dockercmd: \"run\"}", &r);
    expect(&r, 400, "bad_request");
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
               "invalid JSON"));
    res_free(&r);
    post("{\"Dockercmd\":\"explode\"}", &r);
    expect(&r, 400, "unknown_command");
    res_free(&r);
    post("{\"Dockercmd\":\"stop\",\"Container\":\"x1\",\"Options\":{\"Time\":\"5\"}}", &r);
    expect(&r, 400, "bad_request");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.json, "error"), "field")),
        "Options.Time");
    res_free(&r);
    usleep(300 * 1000);
    assert_int_equal(broker_queue_counts(g_cli, dead, &after, NULL), 0);
    assert_int_equal(after, before);

    /* answered by the cluster */
    post("{\"Dockercmd\":\"stop\",\"Container\":\"dd-gwtest-no-such-container\"}", &r);
    expect(&r, 404, "not_found");
    res_free(&r);
    post("{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Options\":{\"NetworkMode\":"
         "\"none\",\"HostConfig\":{\"Privileged\":true}}}",
         &r);
    expect(&r, 403, "policy_denied");
    res_free(&r);
    post("{\"Dockercmd\":\"run\",\"Image\":\"alpine:latest\",\"Options\":{\"NetworkMode\":"
         "\"none\"}}",
         &r);
    expect(&r, 403, "policy_denied");
    res_free(&r);
}

/* 50 pings from 10 threads at once: every one 200 with its own reply,
 * 50 distinct request ids, each answered exactly once by the daemon. */
#define THREADS    10
#define PER_THREAD 5

typedef struct worker {
    char ids[PER_THREAD][64];
    int ok;
} worker;

static void *ping_worker(void *arg)
{
    worker *w = arg;
    char url[64], hdr[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", g_port);
    CURL *c = curl_easy_init();
    for (int i = 0; c && i < PER_THREAD; i++) {
        res r;
        post_on(c, url, PING, NULL, NULL, 60, &r);
        const char *rid = json_string_value(json_object_get(r.json, "request_id"));
        if (r.status == 200 && json_is_true(json_object_get(r.json, "ok")) && rid &&
            header_of(&r, "X-Request-Id", hdr, sizeof hdr) && strcmp(rid, hdr) == 0) {
            snprintf(w->ids[i], sizeof w->ids[i], "%s", rid);
            w->ok++;
        } else {
            fprintf(stderr, "ping %d: %ld (%s) %s\n", i, r.status, curl_easy_strerror(r.err),
                    r.body);
        }
        res_free(&r);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void concurrent_pings(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    worker w[THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ping_worker, &w[i]), 0);
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    assert_int_equal(ok, THREADS * PER_THREAD);
    for (int a = 0; a < THREADS * PER_THREAD; a++)
        for (int b = a + 1; b < THREADS * PER_THREAD; b++)
            assert_string_not_equal(w[a / PER_THREAD].ids[a % PER_THREAD],
                                    w[b / PER_THREAD].ids[b % PER_THREAD]);
    usleep(200 * 1000);
    for (int a = 0; a < THREADS * PER_THREAD; a++) {
        char reply[96], http[96];
        snprintf(reply, sizeof reply, "reply id=%s ", w[a / PER_THREAD].ids[a % PER_THREAD]);
        snprintf(http, sizeof http, "http id=%s ", w[a / PER_THREAD].ids[a % PER_THREAD]);
        assert_int_equal(count_lines(g_log, reply), 1);
        assert_int_equal(count_lines(g_log, http), 1);
    }
}

/* A slow request does not hold up a quick one sent after it: replies are
 * matched as they come. */
typedef struct slow {
    res r;
} slow;

static void *slow_run(void *arg)
{
    slow *s = arg;
    post("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
         "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
         "\"Cmd\":[\"sh\",\"-c\",\"sleep 4; echo slow\"]}",
         &s->r);
    return NULL;
}

static void no_head_of_line_blocking(void **state)
{
    (void)state;
    slow s;
    pthread_t t;
    int64_t t0 = dfx_now_ms();
    assert_int_equal(pthread_create(&t, NULL, slow_run, &s), 0);
    usleep(500 * 1000);
    res r;
    post(PING, &r);
    int64_t quick = dfx_now_ms() - t0;
    pthread_join(t, NULL); /* before any assertion: the thread writes into s */
    int64_t slow_ms = dfx_now_ms() - t0;
    expect(&r, 200, "");
    res_free(&r);
    expect(&s.r, 200, "");
    assert_string_equal(json_string_value(json_object_get(result_of(&s.r), "stdout")), "slow\n");
    res_free(&s.r);
    assert_true(quick < 3500);
    assert_true(slow_ms >= 4000);
}

/* A second node whose gateway serves HTTPS (a certificate from
 * gen-certs.sh) and wants a token from a file, with a 2 s timeout: the
 * token is required, the answer comes over TLS only, and a run longer
 * than the timeout is 504. */
static void https_token_timeout(void **state)
{
    (void)state;
    int port = free_port(g_port + 1);
    assert_true(port > 0);
    char pstr[32], cert[160], key[160], ca[160], node[80], log[128], url[64];
    snprintf(pstr, sizeof pstr, "127.0.0.1:%d", port);
    snprintf(cert, sizeof cert, "%s/server-cert.pem", g_certs);
    snprintf(key, sizeof key, "%s/server-key.pem", g_certs);
    snprintf(ca, sizeof ca, "%s/ca.pem", g_certs);
    snprintf(node, sizeof node, "%s-tls", g_node);
    snprintf(log, sizeof log, "/tmp/dd-gwtest-tls-%ld.log", (long)getpid());
    const char *gw[] = {"--gateway",
                        pstr,
                        "--gateway-cert",
                        cert,
                        "--gateway-key",
                        key,
                        "--gateway-token-file",
                        g_token,
                        "--gateway-timeout",
                        "2",
                        NULL};
    pid_t pid = spawn_daemon(node, log, lane_amqp_url(), g_cli, gw, port);
    assert_true(pid > 0);

    res r;
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    post_on(NULL, url, PING, NULL, ca, 30, &r);
    expect(&r, 401, "unauthorized");
    char hdr[128];
    assert_non_null(header_of(&r, "WWW-Authenticate", hdr, sizeof hdr));
    assert_int_equal(strncmp(hdr, "Bearer", 6), 0);
    res_free(&r);
    post_on(NULL, url, PING, "not-the-token-0123456789", ca, 30, &r);
    expect(&r, 401, "unauthorized");
    res_free(&r);
    post_on(NULL, url, PING, TOKEN, ca, 30, &r);
    expect(&r, 200, "");
    res_free(&r);
    /* on a loopback listener the operations routes need no token */
    char ops[96];
    snprintf(ops, sizeof ops, "https://127.0.0.1:%d/healthz", port);
    get_on(ops, NULL, ca, &r);
    assert_int_equal(r.status, 200);
    res_free(&r);
    snprintf(ops, sizeof ops, "https://127.0.0.1:%d/metrics", port);
    get_on(ops, NULL, ca, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "# TYPE docker_dispatch_requests_total counter\n"));
    res_free(&r);
    post_on(NULL, url, RUN_HELLO, TOKEN, ca, 30, &r);
    expect(&r, 200, "");
    assert_string_equal(json_string_value(json_object_get(result_of(&r), "stdout")),
                        "hello world!\n");
    res_free(&r);
    /* without TLS there is no answer; with an unknown CA no connection */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    post_on(NULL, url, PING, TOKEN, NULL, 10, &r);
    assert_int_not_equal(r.err, CURLE_OK);
    res_free(&r);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    post_on(NULL, url, PING, TOKEN, "/etc/ssl/certs/ca-certificates.crt", 10, &r);
    assert_int_not_equal(r.err, CURLE_OK);
    res_free(&r);

    /* no reply within 2 s: 504, after about 2 s */
    int64_t t0 = dfx_now_ms();
    post_on(NULL, url,
            "{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
            "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
            "\"Cmd\":[\"sleep\",\"4\"]}",
            TOKEN, ca, 30, &r);
    int64_t ms = dfx_now_ms() - t0;
    expect(&r, 504, "timeout");
    assert_true(ms >= 1900 && ms < 4000);
    res_free(&r);
    /* the gateway goes on serving; the late reply is dropped */
    sleep(3);
    post_on(NULL, url, PING, TOKEN, ca, 30, &r);
    expect(&r, 200, "");
    res_free(&r);

    int st = dfx_stop(&pid, SIGTERM, 15000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(log);
}

/* Settings that stop the start with exit status 2 and a clear message. */
static void startup_refusals(void **state)
{
    (void)state;
    char out[8192], addr[32];
    int port = free_port(g_port + 20);
    snprintf(addr, sizeof addr, "0.0.0.0:%d", port);
    const char *no_token[] = {"--gateway", addr, NULL};
    assert_int_equal(run_once(no_token, out, sizeof out), 2);
    assert_non_null(strstr(out, "is not loopback: it needs a bearer token"));

    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    const char *no_cert[] = {"--gateway",
                             addr,
                             "--gateway-cert",
                             "/nonexistent/gw-cert.pem",
                             "--gateway-key",
                             "/nonexistent/gw-key.pem",
                             NULL};
    assert_int_equal(run_once(no_cert, out, sizeof out), 2);
    assert_non_null(strstr(out, "gateway certificate /nonexistent/gw-cert.pem"));

    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port); /* the main daemon's */
    const char *in_use[] = {"--gateway", addr, NULL};
    assert_int_equal(run_once(in_use, out, sizeof out), 2);
    assert_non_null(strstr(out, "in use"));

    const char *bad_addr[] = {"--gateway", ":8080", NULL};
    assert_int_equal(run_once(bad_addr, out, sizeof out), 2);
    assert_non_null(strstr(out, "gateway address"));
    /* and the main daemon still serves */
    res r;
    post(PING, &r);
    expect(&r, 200, "");
    res_free(&r);
}

/* SIGTERM with a run in flight through HTTP: the request is answered 503
 * at once (the run goes on; the next start adopts it), the daemon exits
 * 0 promptly and no new connection is taken. */
static void *sigterm_run(void *arg)
{
    slow *s = arg;
    post("{\"Dockercmd\":\"run\",\"Options\":{\"Attach\":[\"STDOUT\"],\"Remove\":true,"
         "\"NetworkMode\":\"none\"},\"Image\":\"busybox:latest\","
         "\"Cmd\":[\"sh\",\"-c\",\"sleep 5; echo late\"]}",
         &s->r);
    return NULL;
}

static void sigterm_in_flight(void **state)
{
    (void)state;
    slow s;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sigterm_run, &s), 0);
    /* wait until its container runs */
    char l[160];
    snprintf(l, sizeof l, "%s=%s", DFX_NODE_LABEL, g_node);
    json_t *f = json_pack("{s:[s], s:[s]}", "label", l, "status", "running");
    int running = 0;
    for (int i = 0; i < 200 && !running; i++) {
        json_t *arr = NULL;
        dkc_list_opts lo = {.all = false, .filters = f};
        if (dkc_container_list(g_dkc, &lo, &arr) == 0)
            running = json_array_size(arr) >= 1;
        json_decref(arr);
        if (!running)
            usleep(50 * 1000);
    }
    json_decref(f);
    int64_t t0 = dfx_now_ms();
    int st = dfx_stop(&g_pid, SIGTERM, 15000);
    pthread_join(t, NULL); /* before any assertion: the thread writes into s */
    int64_t ms = dfx_now_ms() - t0;
    assert_true(running);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    expect(&s.r, 503, "unavailable");
    assert_non_null(strstr(s.r.body, "stopping"));
    res_free(&s.r);
    assert_true(ms < 4000);
    res r;
    post(PING, &r);
    assert_int_not_equal(r.err, CURLE_OK);
    assert_int_equal(r.status, 0);
    res_free(&r);
    /* the next start adopts the run (its reply has nowhere to go: the
     * gateway's connection is gone) and serves again */
    assert_int_equal(start_main(), 0);
    post(PING, &r);
    expect(&r, 200, "");
    res_free(&r);
}

/* RabbitMQ goes away under a node with a gateway (a private RabbitMQ
 * node): requests are answered 503 meanwhile, and once it is back the
 * gateway reconnects and answers 200 again. */
static void rabbit_restarted(void **state)
{
    (void)state;
    char url[96], node[80], log[128], http[64], pstr[16];
    const char *rabbit = g_rabbit;
    int rport = dfx_pick_port(DD_PORTS_GATEWAY_RABBIT, 1);
    assert_true(rport != 0);
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/", rport);
    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "start %s %d", rabbit, rport), 0);
    broker *cli = dfx_client_open(url, g_queue, 3000);
    assert_non_null(cli);
    int port = free_port(g_port + 40);
    snprintf(pstr, sizeof pstr, "%d", port);
    snprintf(node, sizeof node, "%s-mq", g_node);
    snprintf(log, sizeof log, "/tmp/dd-gwtest-mq-%ld.log", (long)getpid());
    const char *gw[] = {"--gateway", pstr, "--gateway-timeout", "20", NULL};
    pid_t pid = spawn_daemon(node, log, url, cli, gw, port);
    assert_true(pid > 0);
    fprintf(stderr, "# node %s, gateway on %d, log %s\n", node, port, log);
    snprintf(http, sizeof http, "http://127.0.0.1:%d/", port);
    res r;
    post_on(NULL, http, PING, NULL, NULL, 30, &r);
    expect(&r, 200, "");
    res_free(&r);

    broker_free(cli);
    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "stop %s", rabbit), 0);
    usleep(500 * 1000);
    int64_t t0 = dfx_now_ms();
    post_on(NULL, http, PING, NULL, NULL, 30, &r);
    expect(&r, 503, "unavailable");
    assert_true(dfx_now_ms() - t0 < 2000); /* at once, not after the timeout */
    res_free(&r);
    /* not ready, saying why: the node's connection and the gateway's */
    int why = 0;
    for (int i = 0; i < 100 && why != 2; i++) {
        get_local(port, "/readyz", &r);
        why = r.status == 503 && strncmp(r.body, "not ready\n", 10) == 0 &&
                      strstr(r.body, "rabbitmq: connection down")
                  ? 1
                  : 0;
        why += why && strstr(r.body, "gateway: RabbitMQ connection down") != NULL;
        if (why != 2) {
            if (i == 99)
                fail_msg("GET /readyz with RabbitMQ away: %ld: %s", r.status, r.body);
            usleep(100 * 1000);
        }
        res_free(&r);
    }
    get_local(port, "/healthz", &r); /* alive all the same */
    assert_int_equal(r.status, 200);
    res_free(&r);
    prom_doc pd;
    scrape(port, &pd);
    assert_true(prom_get(&pd, "docker_dispatch_broker_up", "", NULL) == 0);
    prom_doc_free(&pd);

    assert_int_equal(dfx_run_script("private-rabbitmq.sh", "start %s %d", rabbit, rport), 0);
    long status = 0;
    for (int i = 0; i < 60 && status != 200; i++) {
        post_on(NULL, http, PING, NULL, NULL, 30, &r);
        status = r.status;
        if (status != 200) {
            /* 503 while the bridge is away; 504 when the bridge is back
             * but the dispatcher, still in its reconnect backoff, did not
             * answer within the gateway's timeout (the message expires
             * unanswered, it is not run later) */
            if (r.status != 503 && r.status != 504)
                fail_msg("while RabbitMQ came back: HTTP %ld", r.status);
            sleep(1);
        } else {
            expect(&r, 200, "");
        }
        res_free(&r);
    }
    assert_int_equal(status, 200);
    assert_true(count_lines(log, "gateway: RabbitMQ connection restored") >= 1);
    /* ready again, and the reconnect counted */
    get_local(port, "/readyz", &r);
    if (r.status != 200)
        fail_msg("GET /readyz after RabbitMQ came back: %ld: %s", r.status, r.body);
    res_free(&r);
    scrape(port, &pd);
    assert_true(prom_get(&pd, "docker_dispatch_broker_up", "", NULL) == 1);
    assert_true(prom_get(&pd, "docker_dispatch_broker_reconnects_total", "", NULL) >= 1);
    prom_doc_free(&pd);

    int st = dfx_stop(&pid, SIGTERM, 15000);
    assert_true(WIFEXITED(st));
    dfx_forget_topology(url, g_queue, node);
    dfx_remove_containers(g_dkc, DFX_NODE_LABEL, node);
    unlink(log);
}

/* ---- setup --------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long me = (long)getpid();
    snprintf(g_queue, sizeof g_queue, "dd-gwtest-%ld", me);
    snprintf(g_node, sizeof g_node, "gwtest-node-%ld", me);
    snprintf(g_log, sizeof g_log, "/tmp/dd-gwtest-%ld.log", me);
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-gwtest-%ld.json", me);
    snprintf(g_certs, sizeof g_certs, "/tmp/dd-gwtest-certs-%ld", me);
    snprintf(g_token, sizeof g_token, "/tmp/dd-gwtest-token-%ld", me);
    snprintf(g_rabbit, sizeof g_rabbit, "gw%ld", me);
    FILE *f = fopen(g_cfg, "w");
    if (f == NULL)
        return -1;
    fputs("{\"policy\": {\"images\": [\"busybox:*\"], \"max_memory\": 268435456,"
          " \"default_pids\": 256, \"max_pids\": 512, \"admin_users\": [\"guest\"]}}\n",
          f);
    fclose(f);
    f = fopen(g_token, "w");
    if (f == NULL)
        return -1;
    fputs(TOKEN "\n", f);
    fclose(f);
    chmod(g_token, 0600);
    if (dfx_run_script("gen-certs.sh", "%s", g_certs) != 0)
        return -1;
    /* the cases take ports up to g_port + 40 and on from there */
    g_port =
        dfx_pick_port(DD_FIRST(DD_PORTS_GATEWAY_DAEMON), DD_LAST(DD_PORTS_GATEWAY_DAEMON) - 300, 0);
    if (g_port == 0)
        return -1;
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    g_dkc = dfx_docker_client(lane_docker_host());
    if (g_cli == NULL || g_dkc == NULL)
        return -1;
    return start_main();
}

static int group_teardown(void **state)
{
    (void)state;
    dfx_stop(&g_pid, SIGTERM, 15000);
    char tls_node[80];
    snprintf(tls_node, sizeof tls_node, "%s-tls", g_node);
    const char *nodes[] = {g_node, tls_node, "gw-once"};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        dfx_forget_node(g_dkc, g_queue, nodes[i]);
    }
    /* the private RabbitMQ node, if a case left it running (a no-op if not) */
    dfx_run_script("private-rabbitmq.sh", "stop %s", g_rabbit);
    dfx_remove_private_state(g_rabbit, "gw-none");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_certs);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_certs);
    unlink(g_cfg);
    unlink(g_token);
    dkc_client_free(g_dkc);
    broker_free(g_cli);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    dkc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_rest_examples),       cmocka_unit_test(loopback_refuses_other_sites),
        cmocka_unit_test(metrics_and_health),       cmocka_unit_test(run_with_output),
        cmocka_unit_test(bad_bodies_and_errors),    cmocka_unit_test(concurrent_pings),
        cmocka_unit_test(no_head_of_line_blocking), cmocka_unit_test(https_token_timeout),
        cmocka_unit_test(startup_refusals),         cmocka_unit_test(sigterm_in_flight),
        cmocka_unit_test(rabbit_restarted),
    };
    const char *only = getenv("GWTEST_ONLY"); /* one case by name, when looking into it */
    if (only != NULL && *only != '\0')
        cmocka_set_test_filter(only);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
