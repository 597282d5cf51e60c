/*
 * test_config.c -- the container create body (dkc_container_config_to_json)
 * and the requests the container and exec calls send, checked against a
 * fake transport: paths, query strings, bodies, timeouts, stream handling
 * and the reference checks that must stop a request before it is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkc_internal.h"

/* ---- JSON comparison ------------------------------------------------- */

/* Fails the test, printing both documents, unless actual equals the JSON
 * text expected. */
#define assert_json(actual, expected) check_json((actual), (expected), __FILE__, __LINE__)

static void check_json(json_t *actual, const char *expected, const char *file, int line)
{
    json_error_t err;
    json_t *want = json_loads(expected, JSON_DECODE_ANY, &err);
    if (want == NULL) {
        fprintf(stderr, "%s:%d: bad expected JSON: %s\n", file, line, err.text);
        _fail(file, line);
    }
    if (!json_equal(actual, want)) {
        char *a = actual ? json_dumps(actual, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
        fprintf(stderr, "%s:%d: JSON differs\n  actual:   %s\n  expected: %s\n", file, line,
                a ? a : "(null)", w ? w : "(null)");
        free(a);
        free(w);
        json_decref(want);
        _fail(file, line);
    }
    json_decref(want);
}

/* Builds cfg's JSON, asserting success. */
static json_t *build(const dkc_container_config *cfg)
{
    json_t *out = NULL;
    assert_int_equal(dkc_container_config_to_json(cfg, &out), 0);
    assert_non_null(out);
    return out;
}

/* Asserts that cfg is refused with DKC_EINVAL and *out left NULL. */
static void refused(const dkc_container_config *cfg)
{
    json_t *out = (json_t *)1;
    assert_int_equal(dkc_container_config_to_json(cfg, &out), DKC_EINVAL);
    assert_null(out);
}

/* ---- the create body ------------------------------------------------- */

static void image_only_gives_image_only(void **state)
{
    dkc_container_config cfg = {.image = "busybox:latest"};
    json_t *j = build(&cfg);
    assert_json(j, "{\"Image\":\"busybox:latest\"}");
    json_decref(j);
}

static void image_is_required(void **state)
{
    dkc_container_config cfg = {0};
    refused(&cfg);
    cfg.image = "";
    refused(&cfg);
    refused(NULL);
    cfg.image = "busybox";
    assert_int_equal(dkc_container_config_to_json(&cfg, NULL), DKC_EINVAL);
}

static void every_field_is_mapped(void **state)
{
    const char *cmd[] = {"sh", "-c", "echo hi", NULL};
    const char *entry[] = {"/bin/env", NULL};
    const char *env[] = {"A=1", "B=two words", NULL};
    const char *labels[] = {"com.example.a=x", "empty=", "eq=a=b", NULL};
    const char *volumes[] = {"/data", "/cache", NULL};
    const char *exposed[] = {"80/tcp", "53/udp", NULL};
    const char *binds[] = {"/host:/ctr:ro", "named:/vol", NULL};
    const char *cap_add[] = {"NET_ADMIN", NULL};
    const char *cap_drop[] = {"MKNOD", "CHOWN", NULL};
    const char *dns[] = {"127.0.0.53", NULL};
    const char *hosts[] = {"db:10.0.0.2", NULL};
    dkc_port_binding ports[] = {
        {.container_port = "8080/tcp", .host_ip = "127.0.0.1", .host_port = "18080"},
        {.container_port = "8080/tcp", .host_ip = NULL, .host_port = "18081"},
        {.container_port = "9000", .host_ip = NULL, .host_port = NULL},
    };
    dkc_container_config cfg = {
        .image = "busybox:latest",
        .cmd = cmd,
        .entrypoint = entry,
        .env = env,
        .labels = labels,
        .volumes = volumes,
        .exposed_ports = exposed,
        .working_dir = "/work",
        .user = "1000:1000",
        .hostname = "box",
        .stop_signal = "SIGUSR1",
        .stop_timeout = 7,
        .tty = true,
        .open_stdin = true,
        .stdin_once = true,
        .attach_stdin = true,
        .attach_stdout = true,
        .attach_stderr = true,
        .network_disabled = true,
        .binds = binds,
        .ports = ports,
        .n_ports = 3,
        .publish_all_ports = true,
        .network_mode = "none",
        .restart_policy = "on-failure",
        .restart_max_retries = 4,
        .memory = 64 * 1024 * 1024,
        .memory_swap = -1,
        .nano_cpus = 500000000,
        .cpu_shares = 512,
        .pids_limit = 100,
        .privileged = true,
        .read_only_rootfs = true,
        .auto_remove = true,
        .cap_add = cap_add,
        .cap_drop = cap_drop,
        .dns = dns,
        .extra_hosts = hosts,
    };
    json_t *j = build(&cfg);
    assert_json(j, "{"
                   "\"Image\":\"busybox:latest\","
                   "\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],"
                   "\"Entrypoint\":[\"/bin/env\"],"
                   "\"Env\":[\"A=1\",\"B=two words\"],"
                   "\"Labels\":{\"com.example.a\":\"x\",\"empty\":\"\",\"eq\":\"a=b\"},"
                   "\"Volumes\":{\"/data\":{},\"/cache\":{}},"
                   "\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{},\"8080/tcp\":{},"
                   "\"9000/tcp\":{}},"
                   "\"WorkingDir\":\"/work\",\"User\":\"1000:1000\",\"Hostname\":\"box\","
                   "\"StopSignal\":\"SIGUSR1\",\"StopTimeout\":7,"
                   "\"Tty\":true,\"OpenStdin\":true,\"StdinOnce\":true,"
                   "\"AttachStdin\":true,\"AttachStdout\":true,\"AttachStderr\":true,"
                   "\"NetworkDisabled\":true,"
                   "\"HostConfig\":{"
                   "\"Binds\":[\"/host:/ctr:ro\",\"named:/vol\"],"
                   "\"PortBindings\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\","
                   "\"HostPort\":\"18080\"},{\"HostIp\":\"\",\"HostPort\":\"18081\"}],"
                   "\"9000/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"\"}]},"
                   "\"PublishAllPorts\":true,\"NetworkMode\":\"none\","
                   "\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":4},"
                   "\"Memory\":67108864,\"MemorySwap\":-1,\"NanoCpus\":500000000,"
                   "\"CpuShares\":512,\"PidsLimit\":100,\"Privileged\":true,"
                   "\"ReadonlyRootfs\":true,\"AutoRemove\":true,"
                   "\"CapAdd\":[\"NET_ADMIN\"],\"CapDrop\":[\"MKNOD\",\"CHOWN\"],"
                   "\"Dns\":[\"127.0.0.53\"],\"ExtraHosts\":[\"db:10.0.0.2\"]}"
                   "}");
    json_decref(j);
}

static void unset_fields_are_left_out(void **state)
{
    /* Empty strings, zero numbers and false flags are "unset". */
    dkc_container_config cfg = {.image = "img",
                                .working_dir = "",
                                .user = "",
                                .hostname = "",
                                .stop_signal = "",
                                .network_mode = "",
                                .restart_policy = "",
                                .n_ports = 0};
    json_t *j = build(&cfg);
    assert_json(j, "{\"Image\":\"img\"}");
    assert_null(json_object_get(j, "HostConfig"));
    json_decref(j);

    /* One host field alone gives a HostConfig with that field alone. */
    dkc_container_config m = {.image = "img", .pids_limit = -1};
    j = build(&m);
    assert_json(j, "{\"Image\":\"img\",\"HostConfig\":{\"PidsLimit\":-1}}");
    json_decref(j);
}

static void empty_lists_are_sent(void **state)
{
    /* An empty list differs from no list: it overrides the image's value. */
    const char *none[] = {NULL};
    dkc_container_config cfg = {.image = "img", .cmd = none, .entrypoint = none, .labels = none};
    json_t *j = build(&cfg);
    assert_json(j, "{\"Image\":\"img\",\"Cmd\":[],\"Entrypoint\":[],\"Labels\":{}}");
    json_decref(j);
}

static void bad_labels_are_refused(void **state)
{
    const char *no_eq[] = {"a=1", "novalue", NULL};
    const char *no_key[] = {"=v", NULL};
    dkc_container_config cfg = {.image = "img", .labels = no_eq};
    refused(&cfg);
    cfg.labels = no_key;
    refused(&cfg);
}

static void port_specs_are_checked(void **state)
{
    const char *bad[] = {"", "abc", "0", "65536", "80/foo", "80/", "80tcp", "-1", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        dkc_port_binding pb = {.container_port = bad[i], .host_port = "1"};
        dkc_container_config cfg = {.image = "img", .ports = &pb, .n_ports = 1};
        refused(&cfg);
        const char *exposed[] = {bad[i], NULL};
        dkc_container_config e = {.image = "img", .exposed_ports = exposed};
        refused(&e);
    }
    /* A binding without a container port. */
    dkc_port_binding pb = {.container_port = NULL, .host_port = "8080"};
    dkc_container_config cfg = {.image = "img", .ports = &pb, .n_ports = 1};
    refused(&cfg);
    /* n_ports without the array. */
    dkc_container_config nop = {.image = "img", .ports = NULL, .n_ports = 2};
    refused(&nop);

    const char *ok[] = {"1", "65535/udp", "132/sctp", NULL};
    dkc_container_config e = {.image = "img", .exposed_ports = ok};
    json_t *j = build(&e);
    assert_json(j, "{\"Image\":\"img\",\"ExposedPorts\":{\"1/tcp\":{},\"65535/udp\":{},"
                   "\"132/sctp\":{}}}");
    json_decref(j);
}

static void restart_policies(void **state)
{
    const char *names[] = {"no", "always", "unless-stopped", "on-failure"};
    for (size_t i = 0; i < 4; i++) {
        dkc_container_config cfg = {.image = "img", .restart_policy = names[i]};
        json_t *j = build(&cfg);
        json_t *rp = json_object_get(json_object_get(j, "HostConfig"), "RestartPolicy");
        assert_string_equal(json_string_value(json_object_get(rp, "Name")), names[i]);
        assert_null(json_object_get(rp, "MaximumRetryCount"));
        json_decref(j);
    }
    dkc_container_config bad = {.image = "img", .restart_policy = "sometimes"};
    refused(&bad);
    dkc_container_config retries_always = {
        .image = "img", .restart_policy = "always", .restart_max_retries = 2};
    refused(&retries_always);
    dkc_container_config negative = {
        .image = "img", .restart_policy = "on-failure", .restart_max_retries = -1};
    refused(&negative);
    dkc_container_config retries_only = {.image = "img", .restart_max_retries = 2};
    refused(&retries_only);
}

static void extra_is_merged_last(void **state)
{
    const char *cmd[] = {"a", NULL};
    const char *binds[] = {"/h:/c", NULL};
    json_t *extra = json_loads("{\"Cmd\":[\"b\"],\"Domainname\":\"example.org\","
                               "\"HostConfig\":{\"NetworkMode\":\"host\",\"ShmSize\":1024}}",
                               0, NULL);
    assert_non_null(extra);
    dkc_container_config cfg = {
        .image = "img", .cmd = cmd, .binds = binds, .network_mode = "none", .extra = extra};
    json_t *j = build(&cfg);
    assert_json(j, "{\"Image\":\"img\",\"Cmd\":[\"b\"],\"Domainname\":\"example.org\","
                   "\"HostConfig\":{\"Binds\":[\"/h:/c\"],\"NetworkMode\":\"host\","
                   "\"ShmSize\":1024}}");
    json_decref(j);
    /* extra is borrowed: untouched and still ours alone. */
    assert_int_equal(extra->refcount, 1);
    assert_int_equal(json_object_size(extra), 3);
    json_decref(extra);

    /* extra.HostConfig alone creates the HostConfig. */
    extra = json_loads("{\"HostConfig\":{\"IpcMode\":\"private\"}}", 0, NULL);
    dkc_container_config only = {.image = "img", .extra = extra};
    j = build(&only);
    assert_json(j, "{\"Image\":\"img\",\"HostConfig\":{\"IpcMode\":\"private\"}}");
    json_decref(j);
    json_decref(extra);
}

static void bad_extra_is_refused(void **state)
{
    json_t *arr = json_array();
    dkc_container_config cfg = {.image = "img", .extra = arr};
    refused(&cfg);
    json_decref(arr);
    json_t *hc = json_loads("{\"HostConfig\":[1]}", 0, NULL);
    cfg.extra = hc;
    refused(&cfg);
    json_decref(hc);
}

static void bad_text_is_refused(void **state)
{
    const char *env[] = {"A=\xff\xfe", NULL};
    dkc_container_config cfg = {.image = "img", .env = env};
    refused(&cfg);
    dkc_container_config u = {.image = "img", .user = "\xc3"};
    refused(&u);
    const char *vols[] = {"", NULL};
    dkc_container_config v = {.image = "img", .volumes = vols};
    refused(&v);
}

/* ---- a fake transport ------------------------------------------------ */

#define FAKE_MAX 6

typedef struct canned {
    long status;
    const char *body; /* NULL: empty */
    size_t body_len;  /* 0: strlen(body) */
    size_t chunk;     /* deliver to a sink this many bytes at a time; 0: all */
    const char *path_stat;
} canned;

typedef struct seen {
    char method[8];
    char path[1024];
    char body[2048];
    char content_type[64];
    bool stream;
    bool had_sink;
    char upload[2048];
    size_t upload_len;
} seen;

typedef struct fake {
    canned answers[FAKE_MAX];
    seen req[FAKE_MAX];
    int calls;
} fake;

/* Answers request number `calls` with answers[calls] (the last one repeats)
 * the way the libcurl transport does: a 2xx body goes to the sink, which
 * may stop the transfer (DKC_ECANCELED); other bodies are buffered. */
static int fake_perform(void *impl, const dkc__req *req, const char *path, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    fake *f = impl;
    int i = f->calls < FAKE_MAX ? f->calls : FAKE_MAX - 1;
    const canned *a = &f->answers[i];
    if (a->status == 0 && i > 0)
        a = &f->answers[i - 1];
    seen *s = &f->req[i];
    f->calls++;
    snprintf(s->method, sizeof s->method, "%s", req->method);
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->body, sizeof s->body, "%.*s", (int)(req->body ? req->body_len : 0),
             req->body ? req->body : "");
    snprintf(s->content_type, sizeof s->content_type, "%s",
             req->content_type ? req->content_type : "");
    s->stream = req->stream;
    s->had_sink = req->sink != NULL;
    if (req->reader != NULL) {
        ssize_t n;
        while ((n = req->reader(req->reader_ud, s->upload + s->upload_len,
                                sizeof s->upload - s->upload_len)) > 0)
            s->upload_len += (size_t)n;
        if (n < 0)
            return DKC_EIO;
    }
    resp->status = a->status ? a->status : 200;
    if (a->path_stat != NULL)
        resp->path_stat = strdup(a->path_stat);
    size_t len = a->body ? (a->body_len ? a->body_len : strlen(a->body)) : 0;
    bool ok = resp->status >= 200 && resp->status < 300;
    if (req->sink != NULL && ok) {
        size_t step = a->chunk ? a->chunk : (len ? len : 1);
        for (size_t off = 0; off < len; off += step) {
            size_t n = len - off < step ? len - off : step;
            if (req->sink(req->sink_ud, a->body + off, n) != 0) {
                snprintf(errbuf, errlen, "stopped by the sink");
                return DKC_ECANCELED;
            }
        }
    } else if (len > 0) {
        int rc = dkc__buf_append(&resp->body, a->body, len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static dkc_client *fake_client(fake *f)
{
    dkc_options o;
    dkc_client *c = NULL;
    dkc_options_init(&o);
    o.host = "unix:///nonexistent/fake.sock";
    o.api_version = "1.41"; /* no negotiation round trip */
    assert_int_equal(dkc_client_new(&o, &c, NULL, 0), 0);
    dkc__transport t = {.perform = fake_perform, .free = NULL, .impl = f};
    dkc__client_set_transport(c, &t);
    return c;
}

/* Collects container output per stream. */
typedef struct collected {
    char out[256];
    char err[256];
    size_t out_len, err_len;
    int pieces;
    int stop_after; /* return 1 after this many pieces; 0: never */
} collected;

static int collect(void *ud, int stream, const char *data, size_t len)
{
    collected *o = ud;
    char *dst = stream == 2 ? o->err : o->out;
    size_t *n = stream == 2 ? &o->err_len : &o->out_len;
    assert_true(stream == 1 || stream == 2);
    assert_true(*n + len < sizeof o->out);
    memcpy(dst + *n, data, len);
    *n += len;
    dst[*n] = '\0';
    o->pieces++;
    return o->stop_after && o->pieces >= o->stop_after;
}

/* ---- requests -------------------------------------------------------- */

static void unsafe_references_never_reach_the_daemon(void **state)
{
    fake f = {0};
    dkc_client *c = fake_client(&f);
    json_t *j = NULL;
    char *id = NULL;
    int64_t code = 0;
    const char *bad[] = {"../x", "..", "a/b", "a?b", "a b", "", "x%2F", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        assert_int_equal(dkc_container_inspect(c, bad[i], &j), DKC_EINVAL);
        assert_int_equal(dkc_client_last_error(c)->code, DKC_EINVAL);
        assert_int_equal(dkc_client_last_error(c)->http_status, 0);
        assert_int_equal(dkc_container_start(c, bad[i]), DKC_EINVAL);
        assert_int_equal(dkc_container_stop(c, bad[i], 1), DKC_EINVAL);
        assert_int_equal(dkc_container_remove(c, bad[i], true, true), DKC_EINVAL);
        assert_int_equal(dkc_container_wait(c, bad[i], NULL, &code, NULL), DKC_EINVAL);
        assert_int_equal(dkc_container_logs(c, bad[i], NULL, collect, NULL), DKC_EINVAL);
        assert_int_equal(dkc_container_attach(c, bad[i], false, collect, NULL), DKC_EINVAL);
        assert_int_equal(dkc_container_archive_get(c, bad[i], "/", NULL, NULL, NULL), DKC_EINVAL);
        assert_int_equal(dkc_container_commit(c, bad[i], NULL, &id), DKC_EINVAL);
        assert_int_equal(dkc_container_rename(c, "ok", bad[i]), DKC_EINVAL);
        assert_int_equal(dkc_exec_start(c, bad[i], false, NULL, NULL), DKC_EINVAL);
        assert_int_equal(dkc_exec_inspect(c, bad[i], &j), DKC_EINVAL);
        dkc_container_config cfg = {.image = "img"};
        assert_int_equal(dkc_container_create(c, bad[i][0] ? bad[i] : "a/b", &cfg, &id, NULL),
                         DKC_EINVAL);
    }
    assert_int_equal(dkc_container_archive_get(c, "ok", NULL, NULL, NULL, NULL), DKC_EINVAL);
    assert_int_equal(dkc_container_wait(c, "ok", "whenever", &code, NULL), DKC_EINVAL);
    dkc_exec_config none = {0};
    assert_int_equal(dkc_exec_create(c, "ok", &none, &id), DKC_EINVAL);
    assert_int_equal(f.calls, 0);
    assert_null(j);
    assert_null(id);
    dkc_client_free(c);
}

static void lifecycle_requests(void **state)
{
    fake f = {.answers = {{.status = 204},
                          {.status = 204},
                          {.status = 204},
                          {.status = 204},
                          {.status = 204},
                          {.status = 204}}};
    dkc_client *c = fake_client(&f);

    assert_int_equal(dkc_container_stop(c, "abc", 5), 0);
    assert_string_equal(f.req[0].method, "POST");
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/stop?t=5");
    assert_true(f.req[0].stream); /* Docker may take t seconds: no request timeout */

    assert_int_equal(dkc_container_restart(c, "abc", -1), 0);
    assert_string_equal(f.req[1].path, "/v1.41/containers/abc/restart");
    assert_true(f.req[1].stream);

    assert_int_equal(dkc_container_kill(c, "abc", "SIGUSR1"), 0);
    assert_string_equal(f.req[2].path, "/v1.41/containers/abc/kill?signal=SIGUSR1");
    assert_int_equal(dkc_container_kill(c, "abc", NULL), 0);
    assert_string_equal(f.req[3].path, "/v1.41/containers/abc/kill");

    assert_int_equal(dkc_container_rename(c, "abc", "new-name_1.x"), 0);
    assert_string_equal(f.req[4].path, "/v1.41/containers/abc/rename?name=new-name_1.x");

    assert_int_equal(dkc_container_remove(c, "abc", true, false), 0);
    assert_string_equal(f.req[5].method, "DELETE");
    assert_string_equal(f.req[5].path, "/v1.41/containers/abc?force=1&v=0");
    dkc_client_free(c);

    fake g = {.answers = {{.status = 204}, {.status = 204}, {.status = 204}}};
    c = fake_client(&g);
    assert_int_equal(dkc_container_start(c, "abc"), 0);
    assert_int_equal(dkc_container_pause(c, "abc"), 0);
    assert_int_equal(dkc_container_unpause(c, "abc"), 0);
    assert_string_equal(g.req[0].path, "/v1.41/containers/abc/start");
    assert_string_equal(g.req[1].path, "/v1.41/containers/abc/pause");
    assert_string_equal(g.req[2].path, "/v1.41/containers/abc/unpause");
    assert_string_equal(g.req[2].method, "POST");
    dkc_client_free(c);
}

static void statuses_pass_through(void **state)
{
    fake f = {.answers = {{.status = 304},
                          {.status = 404, .body = "{\"message\":\"No such container: abc\"}"}}};
    dkc_client *c = fake_client(&f);
    assert_int_equal(dkc_container_start(c, "abc"), DKC_ENOTMODIFIED);
    assert_int_equal(dkc_client_last_error(c)->http_status, 304);
    json_t *j = NULL;
    assert_int_equal(dkc_container_inspect(c, "abc", &j), DKC_ENOTFOUND);
    assert_null(j);
    assert_string_equal(dkc_client_last_error(c)->message, "No such container: abc");
    dkc_client_free(c);
}

static void create_sends_the_body(void **state)
{
    fake f = {
        .answers = {{.status = 201, .body = "{\"Id\":\"0123abc\",\"Warnings\":[\"careful\"]}"}}};
    dkc_client *c = fake_client(&f);
    const char *cmd[] = {"true", NULL};
    dkc_container_config cfg = {.image = "busybox", .cmd = cmd, .network_mode = "none"};
    char *id = NULL;
    json_t *warnings = NULL;
    assert_int_equal(dkc_container_create(c, "my-name", &cfg, &id, &warnings), 0);
    assert_string_equal(id, "0123abc");
    assert_int_equal(json_array_size(warnings), 1);
    assert_string_equal(f.req[0].path, "/v1.41/containers/create?name=my-name");
    json_t *sent = json_loads(f.req[0].body, 0, NULL);
    assert_json(sent, "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],"
                      "\"HostConfig\":{\"NetworkMode\":\"none\"}}");
    json_decref(sent);
    json_decref(warnings);
    free(id);

    /* No name: no query; a bad config never leaves. */
    id = NULL;
    assert_int_equal(dkc_container_create(c, NULL, &cfg, &id, NULL), 0);
    assert_string_equal(f.req[1].path, "/v1.41/containers/create");
    free(id);
    dkc_container_config bad = {.image = NULL};
    assert_int_equal(dkc_container_create(c, NULL, &bad, &id, NULL), DKC_EINVAL);
    assert_null(id);
    assert_int_equal(f.calls, 2);
    dkc_client_free(c);

    /* A 201 without an Id is a protocol error. */
    fake g = {.answers = {{.status = 201, .body = "{\"Warnings\":null}"}}};
    c = fake_client(&g);
    assert_int_equal(dkc_container_create(c, NULL, &cfg, &id, NULL), DKC_EPROTO);
    assert_null(id);
    dkc_client_free(c);
}

static void list_query(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "[]"}, {.status = 200, .body = "[]"}}};
    dkc_client *c = fake_client(&f);
    json_t *filters = json_loads("{\"label\":[\"a=b\"]}", 0, NULL);
    dkc_list_opts o = {.all = true, .size = true, .limit = 3, .filters = filters};
    json_t *out = NULL;
    assert_int_equal(dkc_container_list(c, &o, &out), 0);
    assert_true(json_is_array(out));
    json_decref(out);
    assert_string_equal(f.req[0].path, "/v1.41/containers/json?all=1&size=1&limit=3&filters="
                                       "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
    assert_int_equal(dkc_container_list(c, NULL, &out), 0);
    assert_string_equal(f.req[1].path, "/v1.41/containers/json");
    json_decref(out);
    json_decref(filters);
    dkc_client_free(c);
}

static void wait_reports_code_and_message(void **state)
{
    fake f = {
        .answers = {{.status = 200, .body = "{\"StatusCode\":3,\"Error\":{\"Message\":\"oops\"}}"},
                    {.status = 200, .body = "{\"StatusCode\":0,\"Error\":null}"},
                    {.status = 200, .body = "{\"Error\":null}"}}};
    dkc_client *c = fake_client(&f);
    int64_t code = -1;
    char *msg = NULL;
    assert_int_equal(dkc_container_wait(c, "abc", "next-exit", &code, &msg), 0);
    assert_int_equal(code, 3);
    assert_string_equal(msg, "oops");
    free(msg);
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/wait?condition=next-exit");
    assert_true(f.req[0].stream);
    assert_int_equal(dkc_container_wait(c, "abc", NULL, &code, &msg), 0);
    assert_int_equal(code, 0);
    assert_null(msg);
    assert_string_equal(f.req[1].path, "/v1.41/containers/abc/wait");
    assert_int_equal(dkc_container_wait(c, "abc", NULL, &code, NULL), DKC_EPROTO);
    dkc_client_free(c);
}

/* Two frames: "out\n" on stdout and "err\n" on stderr. */
static const char frames[] = "\x01\x00\x00\x00\x00\x00\x00\x04out\n"
                             "\x02\x00\x00\x00\x00\x00\x00\x04"
                             "err\n";
#define FRAMES_LEN (sizeof frames - 1)

static void logs_are_demultiplexed(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":false}}"},
                          {.status = 200,
                           .body = frames,
                           .body_len = FRAMES_LEN,
                           .chunk = 1 /* byte by byte */}}};
    dkc_client *c = fake_client(&f);
    collected o = {0};
    dkc_logs_opts lo = {.timestamps = true, .since = 100, .until = 200, .tail = 5};
    assert_int_equal(dkc_container_logs(c, "abc", &lo, collect, &o), 0);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/json");
    assert_string_equal(f.req[1].path, "/v1.41/containers/abc/logs?stdout=1&stderr=1&"
                                       "timestamps=1&since=100&until=200&tail=5");
    assert_true(f.req[1].stream);
    dkc_client_free(c);

    /* Only stderr, following. */
    fake g = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":false}}"},
                          {.status = 200, .body = ""}}};
    c = fake_client(&g);
    dkc_logs_opts only_err = {.stderr_ = true, .follow = true};
    assert_int_equal(dkc_container_logs(c, "abc", &only_err, collect, &o), 0);
    assert_string_equal(g.req[1].path, "/v1.41/containers/abc/logs?stdout=0&stderr=1&follow=1");
    dkc_client_free(c);
}

static void tty_output_is_raw(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":true}}"},
                          {.status = 200, .body = frames, .body_len = FRAMES_LEN}}};
    dkc_client *c = fake_client(&f);
    collected o = {0};
    assert_int_equal(dkc_container_logs(c, "abc", NULL, collect, &o), 0);
    assert_int_equal(o.out_len, FRAMES_LEN); /* the bytes as they came, as stdout */
    assert_memory_equal(o.out, frames, FRAMES_LEN);
    assert_int_equal(o.err_len, 0);
    dkc_client_free(c);
}

/* A caller that knows whether the container has a TTY says so: one
 * request, no inspect, and the output read the way it said. */
static void logs_with_a_known_tty_make_one_request(void **state)
{
    (void)state;
    fake f = {.answers = {{.status = 200, .body = frames, .body_len = FRAMES_LEN}}};
    dkc_client *c = fake_client(&f);
    collected o = {0};
    dkc_logs_opts no = {.tty = DKC_TTY_NO};
    assert_int_equal(dkc_container_logs(c, "abc", &no, collect, &o), 0);
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/logs?stdout=1&stderr=1");
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");
    dkc_client_free(c);

    fake g = {.answers = {{.status = 200, .body = frames, .body_len = FRAMES_LEN}}};
    c = fake_client(&g);
    collected r = {0};
    dkc_logs_opts yes = {.tty = DKC_TTY_YES};
    assert_int_equal(dkc_container_logs(c, "abc", &yes, collect, &r), 0);
    assert_int_equal(g.calls, 1);
    assert_int_equal(r.out_len, FRAMES_LEN); /* raw: the frames as they came */
    assert_memory_equal(r.out, frames, FRAMES_LEN);
    assert_int_equal(r.err_len, 0);
    dkc_client_free(c);

    /* what a caller passes on from its own inspect */
    json_t *tty_yes = json_pack("{s:{s:b}}", "Config", "Tty", 1);
    json_t *tty_no = json_pack("{s:{s:b}}", "Config", "Tty", 0);
    json_t *odd = json_pack("{s:{s:s}}", "Config", "Tty", "yes");
    json_t *none = json_pack("{s:{}}", "Config");
    assert_int_equal(dkc_tty_of(tty_yes), DKC_TTY_YES);
    assert_int_equal(dkc_tty_of(tty_no), DKC_TTY_NO);
    assert_int_equal(dkc_tty_of(odd), DKC_TTY_ASK);
    assert_int_equal(dkc_tty_of(none), DKC_TTY_ASK);
    assert_int_equal(dkc_tty_of(NULL), DKC_TTY_ASK);
    json_decref(tty_yes);
    json_decref(tty_no);
    json_decref(odd);
    json_decref(none);
}

static void truncated_stream_is_a_protocol_error(void **state)
{
    /* The stream ends 2 bytes into the second frame's payload. */
    fake f = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":false}}"},
                          {.status = 200, .body = frames, .body_len = FRAMES_LEN - 2}}};
    dkc_client *c = fake_client(&f);
    collected o = {0};
    assert_int_equal(dkc_container_attach(c, "abc", true, collect, &o), DKC_EPROTO);
    assert_int_equal(dkc_client_last_error(c)->code, DKC_EPROTO);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(f.req[1].method, "POST");
    assert_string_equal(f.req[1].path,
                        "/v1.41/containers/abc/attach?stream=1&stdout=1&stderr=1&logs=1");
    dkc_client_free(c);

    /* A bad stream byte. */
    fake g = {
        .answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":false}}"},
                    {.status = 200, .body = "\x07\x00\x00\x00\x00\x00\x00\x01x", .body_len = 9}}};
    c = fake_client(&g);
    assert_int_equal(dkc_container_attach(c, "abc", false, collect, &o), DKC_EPROTO);
    assert_string_equal(g.req[1].path,
                        "/v1.41/containers/abc/attach?stream=1&stdout=1&stderr=1&logs=0");
    dkc_client_free(c);
}

static void callback_can_stop_output(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":false}}"},
                          {.status = 200, .body = frames, .body_len = FRAMES_LEN}}};
    dkc_client *c = fake_client(&f);
    collected o = {.stop_after = 1};
    assert_int_equal(dkc_container_logs(c, "abc", NULL, collect, &o), DKC_ECANCELED);
    assert_int_equal(o.pieces, 1);
    dkc_client_free(c);
}

typedef struct counter {
    int seen;
    int stop_after;
    int64_t last;
} counter;

static int count_stats(void *ud, json_t *obj)
{
    counter *n = ud;
    n->seen++;
    n->last = json_integer_value(json_object_get(obj, "n"));
    return n->stop_after && n->seen >= n->stop_after;
}

static void stats_requests(void **state)
{
    const char *lines = "{\"n\":1}\n{\"n\":2}\n{\"n\":3}";
    fake f = {.answers = {{.status = 200, .body = "{\"n\":0}"},
                          {.status = 200, .body = lines, .body_len = 0, .chunk = 5},
                          {.status = 200, .body = lines},
                          {.status = 200, .body = "{bad\n"}}};
    dkc_client *c = fake_client(&f);
    json_t *one = NULL;
    assert_int_equal(dkc_container_stats(c, "abc", &one), 0);
    assert_json(one, "{\"n\":0}");
    json_decref(one);
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/stats?stream=false");

    counter n = {.stop_after = 2};
    assert_int_equal(dkc_container_stats_stream(c, "abc", count_stats, &n), DKC_ECANCELED);
    assert_int_equal(n.seen, 2);
    assert_string_equal(f.req[1].path, "/v1.41/containers/abc/stats?stream=true");
    assert_true(f.req[1].stream);

    /* The stream ends with a value lacking its newline: still delivered. */
    counter all = {0};
    assert_int_equal(dkc_container_stats_stream(c, "abc", count_stats, &all), 0);
    assert_int_equal(all.seen, 3);
    assert_int_equal(all.last, 3);

    counter bad = {0};
    assert_int_equal(dkc_container_stats_stream(c, "abc", count_stats, &bad), DKC_EPROTO);
    dkc_client_free(c);
}

typedef struct sink_buf {
    char data[256];
    size_t len;
} sink_buf;

static int keep_bytes(void *ud, const char *data, size_t len)
{
    sink_buf *b = ud;
    assert_true(b->len + len <= sizeof b->data);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static void archive_requests(void **state)
{
    /* base64 of {"name":"a b","size":5} -- 23 bytes, so one '=' of padding;
     * "WzFd" is [1]: JSON but not an object. */
    fake f = {
        .answers = {
            {.status = 200,
             .body = "TARBYTES",
             .body_len = 0,
             .chunk = 3,
             .path_stat = "eyJuYW1lIjoiYSBiIiwic2l6ZSI6NX0="},
            {.status = 200,
             .body = "x",
             .body_len = 0,
             .chunk = 0,
             .path_stat = "eyJuYW1lIjoiYSBiIiwic2l6ZSI6NX0"},
            {.status = 200, .body = "x", .body_len = 0, .chunk = 0, .path_stat = "!!notbase64"},
            {.status = 200, .body = "x", .body_len = 0, .chunk = 0, .path_stat = "WzFd"},
            {.status = 200}}};
    dkc_client *c = fake_client(&f);
    sink_buf b = {0};
    json_t *stat = NULL;
    assert_int_equal(dkc_container_archive_get(c, "abc", "/tmp/a b", keep_bytes, &b, &stat), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "TARBYTES", 8);
    assert_json(stat, "{\"name\":\"a b\",\"size\":5}");
    json_decref(stat);
    assert_string_equal(f.req[0].method, "GET");
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/archive?path=%2Ftmp%2Fa%20b");
    assert_true(f.req[0].stream);

    /* Padding is optional. */
    assert_int_equal(dkc_container_archive_get(c, "abc", "/x", NULL, NULL, &stat), 0);
    assert_json(stat, "{\"name\":\"a b\",\"size\":5}");
    json_decref(stat);
    assert_int_equal(dkc_container_archive_get(c, "abc", "/x", NULL, NULL, &stat), DKC_EPROTO);
    assert_null(stat);
    assert_int_equal(dkc_container_archive_get(c, "abc", "/x", NULL, NULL, &stat), DKC_EPROTO);
    assert_null(stat);

    dkc_membuf_reader r = {.data = "tar-data", .len = 8, .pos = 0};
    assert_int_equal(dkc_container_archive_put(c, "abc", "/dst", dkc_membuf_read, &r), 0);
    seen *put = &f.req[4];
    assert_string_equal(put->method, "PUT");
    assert_string_equal(put->path, "/v1.41/containers/abc/archive?path=%2Fdst");
    assert_string_equal(put->content_type, "application/x-tar");
    assert_int_equal(put->upload_len, 8);
    assert_memory_equal(put->upload, "tar-data", 8);
    dkc_client_free(c);
}

static void commit_request(void **state)
{
    fake f = {.answers = {{.status = 201, .body = "{\"Id\":\"sha256:feed\"}"},
                          {.status = 201, .body = "{\"Id\":\"sha256:beef\"}"}}};
    dkc_client *c = fake_client(&f);
    json_t *cfg = json_loads("{\"Cmd\":[\"true\"]}", 0, NULL);
    dkc_commit_opts o = {.repo = "localhost:5000/x/y",
                         .tag = "v1",
                         .comment = "a & b",
                         .author = "me",
                         .pause = false,
                         .config = cfg};
    char *img = NULL;
    assert_int_equal(dkc_container_commit(c, "abc", &o, &img), 0);
    assert_string_equal(img, "sha256:feed");
    free(img);
    assert_string_equal(f.req[0].path, "/v1.41/commit?container=abc&repo=localhost%3A5000%2Fx%2Fy"
                                       "&tag=v1&comment=a%20%26%20b&author=me&pause=0");
    assert_string_equal(f.req[0].body, "{\"Cmd\":[\"true\"]}");
    assert_int_equal(dkc_container_commit(c, "abc", NULL, &img), 0);
    assert_string_equal(f.req[1].path, "/v1.41/commit?container=abc");
    assert_string_equal(f.req[1].body, "");
    free(img);
    json_decref(cfg);
    dkc_client_free(c);
}

static void exec_requests(void **state)
{
    fake f = {.answers = {{.status = 201, .body = "{\"Id\":\"e1\"}"},
                          {.status = 200, .body = frames, .body_len = FRAMES_LEN, .chunk = 2},
                          {.status = 200, .body = "{\"Running\":true,\"ExitCode\":null}"},
                          {.status = 200, .body = "{\"Running\":false,\"ExitCode\":7}"}}};
    dkc_client *c = fake_client(&f);
    const char *cmd[] = {"sh", "-c", "exit 7", NULL};
    const char *env[] = {"X=1", NULL};
    dkc_exec_config ec = {.cmd = cmd, .env = env, .user = "1000", .working_dir = "/tmp"};
    collected o = {0};
    int64_t code = -1;
    assert_int_equal(dkc_exec_run(c, "abc", &ec, collect, &o, &code), 0);
    assert_int_equal(code, 7);
    assert_string_equal(o.out, "out\n");
    assert_string_equal(o.err, "err\n");
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/exec");
    json_t *sent = json_loads(f.req[0].body, 0, NULL);
    assert_json(sent, "{\"Cmd\":[\"sh\",\"-c\",\"exit 7\"],\"Env\":[\"X=1\"],\"User\":\"1000\","
                      "\"WorkingDir\":\"/tmp\",\"AttachStdout\":true,\"AttachStderr\":true,"
                      "\"Tty\":false,\"Privileged\":false}");
    json_decref(sent);
    assert_string_equal(f.req[1].path, "/v1.41/exec/e1/start");
    assert_string_equal(f.req[1].body, "{\"Detach\":false,\"Tty\":false}");
    assert_true(f.req[1].stream);
    assert_string_equal(f.req[2].path, "/v1.41/exec/e1/json");
    assert_int_equal(f.calls, 4); /* asked again while it was still running */
    dkc_client_free(c);

    /* TTY exec: raw bytes as stdout, the start body says so. */
    fake g = {.answers = {{.status = 200, .body = "raw\r\n"}}};
    c = fake_client(&g);
    collected t = {0};
    assert_int_equal(dkc_exec_start(c, "e2", true, collect, &t), 0);
    assert_string_equal(t.out, "raw\r\n");
    assert_string_equal(g.req[0].body, "{\"Detach\":false,\"Tty\":true}");
    dkc_client_free(c);

    /* Only stderr attached. */
    fake h = {.answers = {{.status = 201, .body = "{\"Id\":\"e3\"}"}}};
    c = fake_client(&h);
    dkc_exec_config only = {.cmd = cmd, .attach_stderr = true};
    char *id = NULL;
    assert_int_equal(dkc_exec_create(c, "abc", &only, &id), 0);
    assert_string_equal(id, "e3");
    free(id);
    sent = json_loads(h.req[0].body, 0, NULL);
    assert_json(sent, "{\"Cmd\":[\"sh\",\"-c\",\"exit 7\"],\"AttachStdout\":false,"
                      "\"AttachStderr\":true,\"Tty\":false,\"Privileged\":false}");
    json_decref(sent);
    dkc_client_free(c);
}

static void tty_lookup(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "{\"Config\":{\"Tty\":true}}"},
                          {.status = 200, .body = "{\"Config\":{}}"},
                          {.status = 200, .body = "{\"Config\":{\"Tty\":\"yes\"}}"},
                          {.status = 404, .body = "{\"message\":\"No such container: abc\"}"}}};
    dkc_client *c = fake_client(&f);
    bool tty = false;
    assert_int_equal(dkc__container_is_tty(c, "abc", &tty), 0);
    assert_true(tty);
    assert_int_equal(dkc__container_is_tty(c, "abc", &tty), 0);
    assert_false(tty);
    assert_int_equal(dkc__container_is_tty(c, "abc", &tty), DKC_EPROTO);
    assert_int_equal(dkc__container_is_tty(c, "abc", &tty), DKC_ENOTFOUND);
    assert_int_equal(dkc__container_is_tty(c, "../abc", &tty), DKC_EINVAL);
    assert_int_equal(f.calls, 4);
    dkc_client_free(c);
}

static void top_and_changes(void **state)
{
    fake f = {.answers = {{.status = 200, .body = "{\"Titles\":[],\"Processes\":[]}"},
                          {.status = 200, .body = "{}"},
                          {.status = 200, .body = "[]"}}};
    dkc_client *c = fake_client(&f);
    json_t *j = NULL;
    assert_int_equal(dkc_container_top(c, "abc", "-o pid,args", &j), 0);
    json_decref(j);
    assert_string_equal(f.req[0].path, "/v1.41/containers/abc/top?ps_args=-o%20pid%2Cargs");
    assert_int_equal(dkc_container_top(c, "abc", NULL, &j), 0);
    json_decref(j);
    assert_string_equal(f.req[1].path, "/v1.41/containers/abc/top");
    assert_int_equal(dkc_container_changes(c, "abc", &j), 0);
    assert_true(json_is_array(j));
    json_decref(j);
    assert_string_equal(f.req[2].path, "/v1.41/containers/abc/changes");
    dkc_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(image_only_gives_image_only),
        cmocka_unit_test(image_is_required),
        cmocka_unit_test(every_field_is_mapped),
        cmocka_unit_test(unset_fields_are_left_out),
        cmocka_unit_test(empty_lists_are_sent),
        cmocka_unit_test(bad_labels_are_refused),
        cmocka_unit_test(port_specs_are_checked),
        cmocka_unit_test(restart_policies),
        cmocka_unit_test(extra_is_merged_last),
        cmocka_unit_test(bad_extra_is_refused),
        cmocka_unit_test(bad_text_is_refused),
        cmocka_unit_test(unsafe_references_never_reach_the_daemon),
        cmocka_unit_test(lifecycle_requests),
        cmocka_unit_test(statuses_pass_through),
        cmocka_unit_test(create_sends_the_body),
        cmocka_unit_test(list_query),
        cmocka_unit_test(wait_reports_code_and_message),
        cmocka_unit_test(logs_are_demultiplexed),
        cmocka_unit_test(tty_output_is_raw),
        cmocka_unit_test(logs_with_a_known_tty_make_one_request),
        cmocka_unit_test(truncated_stream_is_a_protocol_error),
        cmocka_unit_test(callback_can_stop_output),
        cmocka_unit_test(stats_requests),
        cmocka_unit_test(archive_requests),
        cmocka_unit_test(commit_request),
        cmocka_unit_test(exec_requests),
        cmocka_unit_test(tty_lookup),
        cmocka_unit_test(top_and_changes),
    };
    dkc_global_init();
    int failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);
    dkc_global_cleanup();
    return failed;
}
