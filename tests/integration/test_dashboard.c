/*
 * test_dashboard.c -- the gateway's dashboard and the routes it uses,
 * against a running daemon (the real RabbitMQ and Docker) and in a real
 * browser (headless Chromium):
 *   - the resource routes and GET /queues answer from the cluster, with the
 *     token; the page is served without it;
 *   - GET /events streams a container's events as they happen, keeps to
 *     its filters, passes no heartbeats, and refuses streams beyond its cap;
 *   - the page, loaded in Chromium, shows the node, a container started
 *     after it loaded and that container's live event (read from the tab's
 *     title through Chromium's DevTools HTTP endpoint while the page runs),
 *     then the whole DOM (--dump-dom) is checked and a screenshot saved
 *     (its path is printed; into $DD_TEST_LOGS, else /tmp).
 *
 * The daemon is the built program ($DISPATCH_BIN) on a queue and node name
 * unique to this run, its gateway on a free loopback port with a bearer
 * token; Chromium is $CHROMIUM or `chromium` from PATH, and its absence is
 * a failure (scripts/install-deps.sh installs it).  Every container made
 * carries the node's label; teardown removes exactly those and deletes the
 * topology.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "broker.h"
#include "daemon_fx.h"
#include "dkc.h"

#define TOKEN       "dash-itest-token-0123456789abcdef"
#define AUTH        "Authorization: Bearer " TOKEN
#define SSE_MAX     32 /* GW_SSE_MAX_CLIENTS */
#define BROWSER_MS  30000
#define WINDOW_SIZE "1280,900"

extern char **environ;

static char g_queue[64], g_node[64], g_log[128], g_cfg[128], g_token[128], g_base[64];
static char g_chrome_log[128], g_profile[128];
static int g_port;
static pid_t g_pid;
static broker *g_cli;
static dkc_client *g_dkc;

/* ---- HTTP ---------------------------------------------------------------- */

typedef struct res {
    long status;
    CURLcode err;
    char *body; /* malloc'd, NUL-terminated */
    size_t len;
    char ctype[128];
    atomic_int stop;     /* a stream's reader gives up when set */
    const char *until;   /* a stream's reader stops once the body holds it */
    pthread_mutex_t *mu; /* a stream's: guards body and len while it runs */
} res;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    res *r = ud;
    size_t k = size * n;
    if (atomic_load(&r->stop))
        return 0;
    if (r->mu)
        pthread_mutex_lock(r->mu);
    char *nb = realloc(r->body, r->len + k + 1);
    size_t ret = 0;
    if (nb != NULL) {
        r->body = nb;
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = '\0';
        /* enough once the body holds until: 0 ends the transfer */
        ret = r->until && strstr(r->body, r->until) ? 0 : k;
    }
    if (r->mu)
        pthread_mutex_unlock(r->mu);
    return ret;
}

/* Ends a transfer whose reader was told to stop, even while no data
 * comes (curl calls this about once a second). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    res *r = ud;
    return atomic_load(&r->stop) ? 1 : 0;
}

static void res_free(res *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* One request to the gateway: method, path, body (NULL: none), with the
 * token when auth; at most timeout_s. */
static void request(const char *method, const char *path, const char *body, int auth,
                    long timeout_s, res *r)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *h = auth ? curl_slist_append(NULL, AUTH) : NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    r->err = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r->ctype, sizeof r->ctype, "%s", ct ? ct : "");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = strdup("");
}

/* GET path with the token; the reply's "result" (a new reference) after
 * checking 200 and ok. */
static json_t *get_result(const char *path)
{
    res r = {0};
    request("GET", path, NULL, 1, 30, &r);
    if (r.status != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.status, r.body);
    assert_int_equal(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_t *result = json_incref(json_object_get(j, "result"));
    json_decref(j);
    res_free(&r);
    return result;
}

/* Starts a container named name on the daemon (detached, sleeping). */
static void start_container(const char *name)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"Dockercmd\":\"run\",\"Image\":\"busybox:latest\",\"Cmd\":[\"sleep\",\"60\"],"
             "\"Options\":{\"Name\":\"%s\",\"NetworkMode\":\"none\"}}",
             name);
    res r = {0};
    request("POST", "/", body, 1, 60, &r);
    if (r.status != 200)
        fprintf(stderr, "run %s: %ld %s\n", name, r.status, r.body);
    assert_int_equal(r.status, 200);
    res_free(&r);
}

/* ---- streams --------------------------------------------------------------- */

typedef struct stream {
    pthread_t t;
    char path[128];
    long timeout_s;
    pthread_mutex_t mu;
    res r;
} stream;

static void *stream_main(void *arg)
{
    stream *s = arg;
    request("GET", s->path, NULL, 1, s->timeout_s, &s->r);
    return NULL;
}

/* Opens GET path as a stream on a thread of its own, read until the body
 * holds until (NULL: until stopped) or timeout_s. */
static void stream_open(stream *s, const char *path, const char *until, long timeout_s)
{
    memset(s, 0, sizeof *s);
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path)
        fail_msg("path too long: %s", path);
    s->timeout_s = timeout_s;
    s->r.until = until;
    pthread_mutex_init(&s->mu, NULL);
    s->r.mu = &s->mu;
    assert_int_equal(pthread_create(&s->t, NULL, stream_main, s), 0);
}

/* Ends the stream (stop: at once; else when its reader ends it, on its
 * text or its timeout). */
static void stream_join(stream *s, int stop)
{
    if (stop)
        atomic_store(&s->r.stop, 1);
    pthread_join(s->t, NULL);
    s->r.mu = NULL;
    pthread_mutex_destroy(&s->mu);
}

/* 1 once the stream's body holds text (the retry line: it is connected),
 * within timeout_ms. */
static int stream_wait(stream *s, const char *text, int timeout_ms)
{
    for (int64_t end = dfx_now_ms() + timeout_ms; dfx_now_ms() < end; usleep(50 * 1000)) {
        pthread_mutex_lock(&s->mu);
        int found = s->r.body && memmem(s->r.body, s->r.len, text, strlen(text)) != NULL;
        pthread_mutex_unlock(&s->mu);
        if (found)
            return 1;
    }
    return 0;
}

/* A plain connection sending GET /events with the token; returns the fd
 * once the status line came (its code into *status), -1 on failure. */
static int raw_events(int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[256], buf[64];
    int n = snprintf(req, sizeof req, "GET /events HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n\r\n");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    ssize_t k = read(fd, buf, sizeof buf - 1);
    if (k < 12) {
        close(fd);
        return -1;
    }
    buf[k] = '\0';
    *status = (int)strtol(buf + 9, NULL, 10);
    return fd;
}

/* ---- the browser ------------------------------------------------------------ */

/* Chromium's path ($CHROMIUM, else chromium on PATH), or NULL. */
static const char *chromium(void)
{
    static char path[512];
    const char *env = getenv("CHROMIUM");
    if (env && *env)
        return access(env, X_OK) == 0 ? env : NULL;
    const char *p = getenv("PATH");
    char dirs[2048];
    snprintf(dirs, sizeof dirs, "%s", p ? p : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/chromium", d);
        if (access(path, X_OK) == 0)
            return path;
    }
    return NULL;
}

/* Starts Chromium, headless, with the flags given after the common ones
 * (NULL-terminated), its stdout into out (NULL: its log) and stderr into
 * its log.  Returns its pid or -1. */
static pid_t chrome_spawn(const char *out, const char *const *flags)
{
    const char *bin = chromium();
    if (bin == NULL)
        return -1;
    char profile[160];
    snprintf(profile, sizeof profile, "--user-data-dir=%s", g_profile);
    const char *argv[24] = {bin,
                            "--headless=new",
                            "--no-sandbox", /* as root */
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-extensions",
                            "--hide-scrollbars",
                            profile};
    size_t n = 10;
    while (*flags && n < 23)
        argv[n++] = *flags++;
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : g_chrome_log,
                                     O_WRONLY | O_CREAT | (out ? O_TRUNC : O_APPEND), 0644);
    posix_spawn_file_actions_addopen(&fa, 2, g_chrome_log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* Waits up to timeout_ms for pid to exit by itself (else kills it).
 * Returns its wait status, or -1 when it had to be killed. */
static int chrome_wait(pid_t pid, int timeout_ms)
{
    int st;
    for (int64_t end = dfx_now_ms() + timeout_ms; dfx_now_ms() < end; usleep(50 * 1000))
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
    dfx_stop(&pid, SIGKILL, 0);
    return -1;
}

/* The title of the tab showing our gateway, through the DevTools HTTP
 * endpoint on port dport, into buf ("" when there is none yet). */
static void tab_title(int dport, char *buf, size_t len)
{
    char url[64];
    buf[0] = '\0';
    snprintf(url, sizeof url, "http://127.0.0.1:%d/json/list", dport);
    CURL *c = curl_easy_init();
    res r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
    size_t i;
    json_t *tab;
    json_array_foreach(j, i, tab)
    {
        const char *type = json_string_value(json_object_get(tab, "type"));
        const char *u = json_string_value(json_object_get(tab, "url"));
        const char *t = json_string_value(json_object_get(tab, "title"));
        if (type && strcmp(type, "page") == 0 && u && strncmp(u, g_base, strlen(g_base)) == 0 && t)
            snprintf(buf, len, "%s", t);
    }
    json_decref(j);
    res_free(&r);
}

/* Polls the tab's title until it holds every string of want (NULL-ended),
 * within timeout_ms.  1 if it did; the last title stays in buf. */
static int title_holds(int dport, const char *const *want, int timeout_ms, char *buf, size_t len)
{
    for (int64_t end = dfx_now_ms() + timeout_ms; dfx_now_ms() < end; usleep(200 * 1000)) {
        tab_title(dport, buf, len);
        int all = 1;
        for (const char *const *w = want; *w; w++)
            all = all && strstr(buf, *w) != NULL;
        if (all)
            return 1;
    }
    return 0;
}

/* The value of attribute attr of the element with id in html, or NULL
 * (static buffer). */
static const char *attr_of(const char *html, const char *id, const char *attr)
{
    static char val[256];
    char key[96];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *at = strstr(html, key);
    if (at == NULL)
        return NULL;
    const char *open = at;
    while (open > html && *open != '<')
        open--;
    const char *close = strchr(at, '>');
    snprintf(key, sizeof key, " %s=\"", attr);
    const char *a = strstr(open, key);
    if (a == NULL || close == NULL || a > close)
        return NULL;
    a += strlen(key);
    const char *e = strchr(a, '"');
    snprintf(val, sizeof val, "%.*s", (int)(e - a), a);
    return val;
}

/* The text right after the element with id's opening tag, up to '<'. */
static const char *text_of(const char *html, const char *id)
{
    static char val[256];
    char key[96];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *at = strstr(html, key);
    const char *gt = at ? strchr(at, '>') : NULL;
    if (gt == NULL)
        return NULL;
    const char *lt = strchr(gt, '<');
    snprintf(val, sizeof val, "%.*s", (int)(lt ? lt - gt - 1 : 0), gt + 1);
    return val;
}

/* ---- cases -------------------------------------------------------------- */

/* The resource routes answer from the cluster with the token, 401
 * without; the page needs none. */
static void resource_routes(void **state)
{
    (void)state;
    res r = {0};
    request("GET", "/nodes", NULL, 0, 10, &r);
    assert_int_equal(r.status, 401);
    res_free(&r);
    request("GET", "/", NULL, 0, 10, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(strncmp(r.ctype, "text/html", 9), 0);
    assert_non_null(strstr(r.body, "id=\"events\""));
    res_free(&r);

    json_t *nodes = get_result("/nodes");
    assert_int_equal(json_array_size(nodes), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(nodes, 0), "name")),
                        g_node);
    json_decref(nodes);

    json_t *q = get_result("/queues");
    json_t *work = json_object_get(q, "work"), *dead = json_object_get(q, "dead");
    assert_string_equal(json_string_value(json_object_get(work, "name")), g_queue);
    assert_true(json_integer_value(json_object_get(work, "consumers")) >= 1);
    char dead_name[96];
    snprintf(dead_name, sizeof dead_name, "%s.dead", g_queue);
    assert_string_equal(json_string_value(json_object_get(dead, "name")), dead_name);
    assert_true(json_is_integer(json_object_get(dead, "messages")));
    json_decref(q);

    json_t *c = get_result("/containers");
    assert_true(json_is_array(json_object_get(c, "containers")));
    json_decref(c);
    json_t *im = get_result("/images");
    assert_non_null(im);
    json_decref(im);
    request("GET", "/containers/no-such-container-here", NULL, 1, 30, &r);
    assert_int_equal(r.status, 404);
    res_free(&r);
}

/* GET /events: a container's events come as they happen, to the streams
 * whose filters match; no heartbeats; at most SSE_MAX streams. */
static void events_stream(void **state)
{
    (void)state;
    char name[96], want[160];
    snprintf(name, sizeof name, "%s-sse", g_node);
    snprintf(want, sizeof want, "\"name\":\"%s\"", name);
    stream all, mine, other;
    char p_mine[160], p_other[160];
    snprintf(p_mine, sizeof p_mine, "/events?type=container&node=%s", g_node);
    snprintf(p_other, sizeof p_other, "/events?node=%s-elsewhere", g_node);
    stream_open(&all, "/events", NULL, 40);
    stream_open(&mine, p_mine, want, 40);
    stream_open(&other, p_other, NULL, 40);
    assert_true(stream_wait(&all, "retry: 3000", 10000));
    assert_true(stream_wait(&mine, "retry: 3000", 10000));
    assert_true(stream_wait(&other, "retry: 3000", 10000));
    start_container(name);
    stream_join(&mine, 0); /* ended once the event came (or after its timeout) */
    assert_non_null(strstr(mine.r.body, "event: container.started\ndata: {"));
    assert_non_null(strstr(mine.r.body, want));
    assert_int_equal(strncmp(mine.r.ctype, "text/event-stream", 17), 0);
    /* the heartbeats (every membership interval) are not passed on */
    assert_true(stream_wait(&all, want, 5000));
    sleep(3);
    stream_join(&all, 1);
    stream_join(&other, 1);
    assert_null(strstr(all.r.body, "heartbeat"));
    assert_null(strstr(other.r.body, "event: container"));
    res_free(&all.r);
    res_free(&mine.r);
    res_free(&other.r);

    /* the cap: SSE_MAX streams, then 503.  The streams above have hung up;
     * the gateway notices within a second or so. */
    int fds[SSE_MAX + 1], st = 0, opened = 0;
    for (int64_t end = dfx_now_ms() + 10000; opened < SSE_MAX && dfx_now_ms() < end;) {
        for (opened = 0; opened < SSE_MAX; opened++) {
            fds[opened] = raw_events(&st);
            assert_true(fds[opened] >= 0);
            if (st != 200) {
                fprintf(stderr, "stream %d: %d\n", opened, st);
                close(fds[opened]);
                break;
            }
        }
        if (opened < SSE_MAX) {
            for (int i = 0; i < opened; i++)
                close(fds[i]);
            usleep(1500 * 1000); /* a hung-up stream is seen within SSE_CHECK_MS */
        }
    }
    assert_int_equal(opened, SSE_MAX);
    fds[SSE_MAX] = raw_events(&st);
    assert_true(fds[SSE_MAX] >= 0);
    assert_int_equal(st, 503);
    for (int i = 0; i <= SSE_MAX; i++)
        close(fds[i]);
}

/* The page in Chromium: the node, a container started after the page
 * loaded and its event, live; then the DOM and a screenshot. */
static void browser_shows_cluster(void **state)
{
    (void)state;
    const char *bin = chromium();
    if (bin == NULL)
        fail_msg("no chromium (set CHROMIUM, or run scripts/install-deps.sh)");
    char url[160], name[96], dport_s[48], title[512];
    snprintf(url, sizeof url, "%s/#token=%s", g_base, TOKEN);
    snprintf(name, sizeof name, "%s-web", g_node);
    int dport = dfx_pick_port(DD_PORTS_DASHBOARD_CDP, 0);
    assert_true(dport > 0);
    snprintf(dport_s, sizeof dport_s, "--remote-debugging-port=%d", dport);

    /* 1. live: the page loads, then a container starts */
    const char *live[] = {dport_s, "--window-size=" WINDOW_SIZE, url, NULL};
    pid_t pid = chrome_spawn(NULL, live);
    assert_true(pid > 0);
    char nodes[128];
    snprintf(nodes, sizeof nodes, "docker-dispatch %s: 1 nodes", g_node);
    const char *loaded[] = {nodes, "(live)", NULL};
    int ok = title_holds(dport, loaded, BROWSER_MS, title, sizeof title);
    if (!ok)
        fprintf(stderr, "the page did not come up: title \"%s\"; see %s\n", title, g_chrome_log);
    if (ok) {
        start_container(name);
        char ev[160], count[64];
        snprintf(ev, sizeof ev, "last: container.started %s", name);
        const char *seen_ev[] = {ev, NULL};
        ok = title_holds(dport, seen_ev, BROWSER_MS, title, sizeof title);
        /* and the list it shows is the cluster's */
        json_t *c = get_result("/containers");
        snprintf(count, sizeof count, " %zu containers",
                 json_array_size(json_object_get(c, "containers")));
        json_decref(c);
        const char *seen[] = {ev, count, NULL};
        ok = ok && title_holds(dport, seen, BROWSER_MS, title, sizeof title);
        if (!ok)
            fprintf(stderr, "the page did not show the container and its event: title \"%s\"\n",
                    title);
    }
    printf("# the live page's title: %s\n", title);
    dfx_stop(&pid, SIGTERM, 5000);
    assert_true(ok);

    /* 2. the DOM, once its scripts ran */
    char dom_path[160];
    snprintf(dom_path, sizeof dom_path, "/tmp/dd-dash-dom-%ld.html", (long)getpid());
    const char *dump[] = {"--dump-dom", "--virtual-time-budget=5000", url, NULL};
    pid = chrome_spawn(dom_path, dump);
    assert_true(pid > 0);
    assert_int_not_equal(chrome_wait(pid, BROWSER_MS), -1);
    char *dom = dfx_read_file(dom_path);
    assert_non_null(dom);
    const char *v = attr_of(dom, "node-count", "data-count");
    if (v == NULL || strcmp(v, "1") != 0)
        fprintf(stderr, "DOM (%s): node-count %s\n", dom_path, v ? v : "missing");
    assert_non_null(v);
    assert_string_equal(v, "1");
    assert_string_equal(text_of(dom, "gw-node"), g_node);
    char row[400];
    snprintf(row, sizeof row, "data-container=\"%s\" data-node=\"%s\" data-state=\"running\"", name,
             g_node);
    assert_non_null(strstr(dom, row));
    snprintf(row, sizeof row, "data-node=\"%s\" data-draining=\"false\"", g_node);
    assert_non_null(strstr(dom, row));
    v = attr_of(dom, "q-work", "data-messages");
    assert_non_null(v);
    assert_string_equal(v, "0");
    free(dom);
    unlink(dom_path);

    /* 3. a screenshot, as an artefact of the run */
    const char *dir = getenv("DD_TEST_LOGS");
    char shot[256], shot_flag[300];
    snprintf(shot, sizeof shot, "%s/dashboard-%s.png", dir && *dir ? dir : "/tmp", g_node);
    snprintf(shot_flag, sizeof shot_flag, "--screenshot=%s", shot);
    unlink(shot);
    const char *snap[] = {shot_flag, "--window-size=" WINDOW_SIZE, "--virtual-time-budget=5000",
                          url, NULL};
    pid = chrome_spawn(NULL, snap);
    assert_true(pid > 0);
    assert_int_not_equal(chrome_wait(pid, BROWSER_MS), -1);
    struct stat sb;
    assert_int_equal(stat(shot, &sb), 0);
    assert_true(sb.st_size > 1000);
    printf("# dashboard screenshot: %s\n", shot);
}

/* ---- setup ---------------------------------------------------------------- */

static int wait_listening(int port, int timeout_ms)
{
    for (int64_t end = dfx_now_ms() + timeout_ms; dfx_now_ms() < end; usleep(50 * 1000))
        if (!dfx_port_free(port))
            return 1;
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    long me = (long)getpid();
    snprintf(g_queue, sizeof g_queue, "dd-dash-%ld", me);
    snprintf(g_node, sizeof g_node, "dash-%ld", me);
    snprintf(g_log, sizeof g_log, "/tmp/dd-dash-%ld.log", me);
    snprintf(g_chrome_log, sizeof g_chrome_log, "/tmp/dd-dash-chromium-%ld.log", me);
    snprintf(g_profile, sizeof g_profile, "/tmp/dd-dash-profile-%ld", me);
    snprintf(g_cfg, sizeof g_cfg, "/tmp/dd-dash-%ld.json", me);
    snprintf(g_token, sizeof g_token, "/tmp/dd-dash-token-%ld", me);
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
    g_port = dfx_pick_port(DD_PORTS_DASHBOARD, 0);
    if (g_port == 0)
        return -1;
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    g_cli = dfx_client_open(lane_amqp_url(), g_queue, 0);
    g_dkc = dfx_docker_client(lane_docker_host());
    if (g_cli == NULL || g_dkc == NULL)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", g_port);
    const char *args[] = {"-q",
                          g_queue,
                          "--node",
                          g_node,
                          "--workers",
                          "4",
                          "--queue-type",
                          "classic",
                          "--config",
                          g_cfg,
                          "--gateway",
                          port,
                          "--gateway-token-file",
                          g_token,
                          "--membership-interval",
                          "1000",
                          lane_docker_host(),
                          lane_amqp_url(),
                          NULL};
    g_pid = dfx_spawn(args, g_log, NULL);
    if (g_pid < 0)
        return -1;
    char nq[160];
    snprintf(nq, sizeof nq, "%s.node.%s", g_queue, g_node);
    if (dfx_wait_consuming(g_cli, nq, &g_pid, 20000, g_log) != 0 ||
        !wait_listening(g_port, 10000)) {
        fprintf(stderr, "the daemon did not come up; see %s\n", g_log);
        dfx_stop(&g_pid, SIGKILL, 0);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    dfx_stop(&g_pid, SIGTERM, 15000);
    dfx_forget_node(g_dkc, g_queue, g_node);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_profile);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_profile);
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
        cmocka_unit_test(resource_routes),
        cmocka_unit_test(events_stream),
        cmocka_unit_test(browser_shows_cluster),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    dkc_global_cleanup();
    return rc;
}
