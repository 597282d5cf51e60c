/*
 * dkc_client.c -- the client handle: configuration from options and the
 * environment, API version negotiation, and the request path every API call
 * goes through (version prefix, status mapping, error recording).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "dkc_internal.h"

#define DEFAULT_SOCKET       "unix:///var/run/docker.sock"
#define DEFAULT_CONNECT_MS   5000L
#define DEFAULT_REQUEST_MS   120000L
#define DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)
#define ERROR_MESSAGE_MAX    1024

struct dkc_client {
    dkc__transport tr;
    char host[400];       /* normalised address, for messages */
    char api_version[32]; /* "" until negotiated */
    bool forced_version;
    bool libpod; /* the negotiation found Podman (dkc__client_libpod) */
    size_t max_response;
    _Atomic int cancel;
    int64_t deadline; /* dkc_client_set_deadline(); monotonic ms, 0: none */
    dkc_error_info err;
    char err_message[ERROR_MESSAGE_MAX];
};

int dkc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : DKC_ENOMEM;
}

void dkc_global_cleanup(void)
{
    curl_global_cleanup();
}

void dkc_options_init(dkc_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->tls_verify = -1;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* Resolves one certificate file: explicit path, else <dir>/<name>. */
static int cert_file(const char *explicit_path, const char *dir, const char *name, bool required,
                     char **out, char *errbuf, size_t errlen)
{
    char path[4096];
    *out = NULL;
    int n;
    if (explicit_path != NULL)
        n = snprintf(path, sizeof path, "%s", explicit_path);
    else
        n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(errbuf, errlen, "TLS file path for %s is too long", name);
        return DKC_ETLS;
    }
    if (access(path, R_OK) != 0) {
        if (!required && explicit_path == NULL)
            return 0;
        snprintf(errbuf, errlen, "TLS file %s cannot be read", path);
        return DKC_ETLS;
    }
    *out = strdup(path);
    return *out ? 0 : DKC_ENOMEM;
}

/* Fills hc's address, TLS flag and default port from opts and the
 * environment (DOCKER_HOST, DOCKER_TLS_VERIFY); *verify is whether the
 * daemon's certificate must be checked. */
static int resolve_address(const dkc_options *opts, dkc__http_conf *hc, bool *verify, char *errbuf,
                           size_t errlen)
{
    const char *host = opts->host;
    if (host == NULL || host[0] == '\0')
        host = getenv("DOCKER_HOST");
    if (host == NULL || host[0] == '\0')
        host = DEFAULT_SOCKET;
    int rc = dkc_addr_parse(host, &hc->addr);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot parse Docker address \"%.200s\"", host);
        return rc;
    }
    *verify = opts->tls_verify < 0 ? env_true("DOCKER_TLS_VERIFY") : opts->tls_verify > 0;
    hc->tls = hc->addr.kind == DKC_ADDR_TCP && (*verify || hc->addr.tls);
    if (hc->addr.kind == DKC_ADDR_TCP && hc->addr.port == 0)
        hc->addr.port = hc->tls ? 2376 : 2375;
    return 0;
}

/* Finds the three TLS files (options, DOCKER_CERT_PATH, ~/.docker); the
 * caller frees them from hc also on failure. */
static int tls_files(const dkc_options *opts, bool verify, dkc__http_conf *hc, char *errbuf,
                     size_t errlen)
{
    char dir[4096];
    const char *cp = opts->cert_path;
    if (cp == NULL || cp[0] == '\0')
        cp = getenv("DOCKER_CERT_PATH");
    if (cp == NULL || cp[0] == '\0') {
        const char *home = getenv("HOME");
        snprintf(dir, sizeof dir, "%s/.docker", home ? home : "");
    } else {
        snprintf(dir, sizeof dir, "%s", cp);
    }
    /* With verification, all three files are required, as docker does. */
    int rc;
    if ((rc = cert_file(opts->ca_file, dir, "ca.pem", verify, &hc->ca_file, errbuf, errlen)) ||
        (rc =
             cert_file(opts->cert_file, dir, "cert.pem", verify, &hc->cert_file, errbuf, errlen)) ||
        (rc = cert_file(opts->key_file, dir, "key.pem", verify, &hc->key_file, errbuf, errlen)))
        return rc;
    return 0;
}

/* The normalised address of a, for messages: unix://path or tcp://host:port. */
static void host_name(char *buf, size_t len, const dkc_addr *a)
{
    if (a->kind == DKC_ADDR_UNIX) {
        snprintf(buf, len, "unix://%s", a->path);
    } else {
        bool v6 = strchr(a->host, ':') != NULL;
        snprintf(buf, len, "tcp://%s%s%s:%d", v6 ? "[" : "", a->host, v6 ? "]" : "", a->port);
    }
}

int dkc_client_new(const dkc_options *opts, dkc_client **out, char *errbuf, size_t errlen)
{
    char dummy[8];
    dkc_options defaults;
    dkc__http_conf hc;
    dkc_client *c = NULL;
    bool verify = false;
    int rc;

    if (errbuf == NULL || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = '\0';
    if (out == NULL)
        return DKC_EINVAL;
    *out = NULL;
    if (opts == NULL) {
        dkc_options_init(&defaults);
        opts = &defaults;
    }
    memset(&hc, 0, sizeof hc);

    rc = resolve_address(opts, &hc, &verify, errbuf, errlen);
    if (rc != 0)
        goto out;
    if (hc.tls && (rc = tls_files(opts, verify, &hc, errbuf, errlen)) != 0)
        goto out;

    c = calloc(1, sizeof *c);
    if (c == NULL) {
        rc = DKC_ENOMEM;
        goto out;
    }
    c->err.message = c->err_message;
    c->max_response = opts->max_response ? opts->max_response : DEFAULT_MAX_RESPONSE;
    atomic_init(&c->cancel, 0);
    host_name(c->host, sizeof c->host, &hc.addr);
    if (opts->api_version != NULL) {
        if (dkc__version_number(opts->api_version) < 0) {
            snprintf(errbuf, errlen, "malformed API version \"%.32s\"", opts->api_version);
            rc = DKC_EINVAL;
            goto out;
        }
        snprintf(c->api_version, sizeof c->api_version, "%s", opts->api_version);
        c->forced_version = true;
    }
    hc.connect_timeout_ms =
        opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    hc.request_timeout_ms =
        opts->request_timeout_ms == 0 ? DEFAULT_REQUEST_MS : opts->request_timeout_ms;
    hc.cancel_flag = &c->cancel;
    hc.deadline = &c->deadline;
    rc = dkc__http_transport_new(&hc, &c->tr, errbuf, errlen);
    if (rc != 0)
        goto out;
    *out = c;
    c = NULL;
out:
    free(hc.ca_file);
    free(hc.cert_file);
    free(hc.key_file);
    free(c);
    return rc;
}

void dkc_client_free(dkc_client *c)
{
    if (c == NULL)
        return;
    if (c->tr.free)
        c->tr.free(c->tr.impl);
    free(c);
}

void dkc__client_set_transport(dkc_client *c, const dkc__transport *t)
{
    if (c->tr.free)
        c->tr.free(c->tr.impl);
    c->tr = *t;
}

bool dkc__client_libpod(const dkc_client *c)
{
    return c->libpod;
}

int dkc__client_negotiated(dkc_client *c)
{
    return c->api_version[0] == '\0' ? dkc_client_negotiate(c) : 0;
}

bool dkc_client_is_podman(const dkc_client *c)
{
    return c != NULL && c->libpod;
}

const char *dkc_client_api_version(const dkc_client *c)
{
    return c->api_version;
}

const char *dkc_client_host(const dkc_client *c)
{
    return c->host;
}

const dkc_error_info *dkc_client_last_error(const dkc_client *c)
{
    return &c->err;
}

void dkc_client_cancel(dkc_client *c)
{
    if (c == NULL)
        return;
    atomic_store(&c->cancel, 1);
    if (c->tr.wake != NULL)
        c->tr.wake(c->tr.impl);
}

void dkc_client_set_deadline(dkc_client *c, long timeout_ms)
{
    if (c == NULL)
        return;
    if (timeout_ms <= 0) {
        c->deadline = 0;
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
}

int dkc__client_fail(dkc_client *c, int code, long http_status, const char *fmt, ...)
{
    c->err.code = code;
    c->err.http_status = http_status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err_message, sizeof c->err_message, fmt, ap);
    va_end(ap);
    return code;
}

static void clear_error(dkc_client *c)
{
    c->err.code = 0;
    c->err.http_status = 0;
    c->err_message[0] = '\0';
}

int dkc__status_to_err(long status)
{
    if (status >= 200 && status < 300)
        return 0;
    switch (status) {
    case 304:
        return DKC_ENOTMODIFIED;
    case 400:
        return DKC_EBADREQUEST;
    case 401:
        return DKC_EAUTH;
    case 403:
        return DKC_EFORBIDDEN;
    case 404:
        return DKC_ENOTFOUND;
    case 409:
        return DKC_ECONFLICT;
    default:
        return status >= 500 && status < 600 ? DKC_ESERVER : DKC_EHTTP;
    }
}

void dkc__resp_init(dkc__resp *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    dkc__buf_init(&r->body, max_body);
}

void dkc__resp_cleanup(dkc__resp *r)
{
    if (r == NULL)
        return;
    dkc__buf_cleanup(&r->body);
    free(r->path_stat);
    r->path_stat = NULL;
}

void dkc__client_resp_init(const dkc_client *c, dkc__resp *resp)
{
    dkc__resp_init(resp, c->max_response);
}

/* The causes of Podman's 500 answers that Docker answers with a status of
 * its own.  A container state that does not allow the call (kill, pause,
 * exec, remove without force) or a name that is taken: 409 Conflict.  A
 * bad value in a create body: 400.  A network that does not exist: 404.  A
 * container already on a network, or a network in use: 403 Forbidden. */
static const struct {
    const char *cause;
    int code;
} podman_causes[] = {
    {"container state improper", DKC_ECONFLICT}, {"that name is already in use", DKC_ECONFLICT},
    {"invalid argument", DKC_EBADREQUEST},       {"network not found", DKC_ENOTFOUND},
    {"network already exists", DKC_ECONFLICT},   {"network is already connected", DKC_EFORBIDDEN},
    {"network is being used", DKC_EFORBIDDEN},
};

/* Records Docker's message for a failed status: {"message": "..."} when the
 * body is JSON, else the (printable part of the) body text.  Returns code,
 * or for a Podman 500 whose "cause" Docker answers otherwise, the code of
 * Docker's status (podman_causes). */
static int record_status_error(dkc_client *c, int code, const dkc__resp *resp)
{
    const char *text = "";
    json_t *j = NULL;
    if (resp->body.len > 0) {
        j = json_loadb(resp->body.data, resp->body.len, 0, NULL);
        json_t *m = j ? json_object_get(j, "message") : NULL;
        text = json_is_string(m) ? json_string_value(m) : resp->body.data;
    }
    const char *cause = json_string_value(json_object_get(j, "cause"));
    for (size_t i = 0; c->libpod && resp->status == 500 && cause != NULL &&
                       i < sizeof podman_causes / sizeof podman_causes[0];
         i++)
        if (strcmp(cause, podman_causes[i].cause) == 0)
            code = podman_causes[i].code;
    char clean[ERROR_MESSAGE_MAX];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof clean; p++)
        clean[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    while (n > 0 && clean[n - 1] == ' ')
        n--;
    clean[n] = '\0';
    if (n == 0)
        snprintf(clean, sizeof clean, "HTTP status %ld", resp->status);
    dkc__client_fail(c, code, resp->status, "%s", clean);
    json_decref(j);
    return code;
}

/* Takes a pending cancel request: true if there was one. */
static bool take_cancel(dkc_client *c)
{
    return atomic_exchange(&c->cancel, 0) != 0;
}

static int perform(dkc_client *c, const dkc__req *req, dkc__resp *resp)
{
    char errbuf[CURL_ERROR_SIZE + 64] = "";
    dkc__buf path;
    int rc;

    dkc__buf_init(&path, 0);
    if (req->unversioned)
        rc = dkc__buf_printf(&path, "%s", req->path);
    else
        rc = dkc__buf_printf(&path, "/v%s%s", c->api_version, req->path);
    if (rc != 0) {
        dkc__buf_cleanup(&path);
        return dkc__client_fail(c, rc, 0, "out of memory building the request");
    }
    rc = c->tr.perform(c->tr.impl, req, path.data, resp, errbuf, sizeof errbuf);
    dkc__buf_cleanup(&path);
    if (rc == DKC_ECANCELED)
        take_cancel(c);
    if (rc != 0) {
        if (rc == DKC_ECANCELED && errbuf[0] == '\0')
            snprintf(errbuf, sizeof errbuf, "canceled");
        return dkc__client_fail(c, rc, resp->status, "%s: %s", c->host, errbuf);
    }
    rc = dkc__status_to_err(resp->status);
    if (rc != 0)
        rc = record_status_error(c, rc, resp);
    return rc;
}

int dkc_client_negotiate(dkc_client *c)
{
    if (c == NULL)
        return DKC_EINVAL;
    if (c->forced_version)
        return 0;
    dkc__req req = {.method = "GET", .path = "/_ping", .unversioned = true};
    dkc__resp resp;
    dkc__resp_init(&resp, 4096);
    int rc = perform(c, &req, &resp);
    if (rc != 0)
        goto out;
    int offered = dkc__version_number(resp.api_version);
    if (offered < 0) {
        rc = dkc__client_fail(c, DKC_EVERSION, resp.status,
                              "%s sent no usable API-Version header: daemon too old (this "
                              "client needs API %s or newer)",
                              c->host, DKC_API_MIN);
        goto out;
    }
    if (offered < dkc__version_number(DKC_API_MIN)) {
        rc = dkc__client_fail(c, DKC_EVERSION, resp.status,
                              "%s speaks Docker API %s, older than the minimum %s this client "
                              "supports",
                              c->host, resp.api_version, DKC_API_MIN);
        goto out;
    }
    snprintf(c->api_version, sizeof c->api_version, "%s",
             offered > dkc__version_number(DKC_API_MAX) ? DKC_API_MAX : resp.api_version);
    c->libpod = resp.libpod;
out:
    dkc__resp_cleanup(&resp);
    return rc;
}

int dkc__client_api(dkc_client *c)
{
    if (c->api_version[0] == '\0') {
        int rc = dkc_client_negotiate(c);
        if (rc != 0)
            return rc;
    }
    return dkc__version_number(c->api_version);
}

int dkc__api_require(dkc_client *c, dkc__feature f)
{
    const char *what;
    int v = dkc__client_api(c);
    if (v < 0)
        return v;
    const char *need = dkc__api_needs(v, f, &what);
    if (need == NULL)
        return 0;
    return dkc__client_fail(c, DKC_EUNSUPPORTED, 0, "%s needs Docker API %s; %s speaks %s", what,
                            need, c->host, c->api_version);
}

int dkc__api_create_body(dkc_client *c, json_t *body, json_t **send)
{
    char why[512];
    *send = NULL;
    int v = dkc__client_api(c);
    if (v < 0)
        return v;
    int rc =
        dkc__create_body_adapt(body, v, c->libpod ? DKC__ADAPT_PODMAN : 0, send, why, sizeof why);
    if (rc == DKC_EUNSUPPORTED)
        return dkc__client_fail(c, rc, 0, "%s; %s speaks %s", why, c->host, c->api_version);
    if (rc != 0)
        return dkc__client_fail(c, rc, 0, "invalid create body: %s", why);
    return 0;
}

int dkc__client_do(dkc_client *c, const dkc__req *req, dkc__resp *resp)
{
    clear_error(c);
    if (take_cancel(c))
        return dkc__client_fail(c, DKC_ECANCELED, 0, "canceled before the request started");
    if (!req->unversioned && c->api_version[0] == '\0') {
        int rc = dkc_client_negotiate(c);
        if (rc != 0)
            return rc;
    }
    return perform(c, req, resp);
}

int dkc__client_json(dkc_client *c, const char *method, const char *path, json_t *body,
                     json_t **out)
{
    return dkc__client_json_ex(c, method, path, body, false, out);
}

int dkc__client_json_ex(dkc_client *c, const char *method, const char *path, json_t *body,
                        bool stream, json_t **out)
{
    char *text = NULL;
    dkc__resp resp;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return dkc__client_fail(c, DKC_EINVAL, 0, "request body cannot be encoded");
    }
    dkc__req req = {.method = method,
                    .path = path,
                    .body = text,
                    .body_len = text ? strlen(text) : 0,
                    .stream = stream};
    dkc__client_resp_init(c, &resp);
    rc = dkc__client_do(c, &req, &resp);
    if (rc != 0 || out == NULL)
        goto out;
    if (resp.body.len == 0) {
        *out = json_null();
        goto out;
    }
    json_error_t jerr;
    *out = json_loadb(resp.body.data, resp.body.len, JSON_DECODE_ANY, &jerr);
    if (*out == NULL)
        rc = dkc__client_fail(c, DKC_EPROTO, resp.status, "%s %s: response is not JSON: %s", method,
                              path, jerr.text);
out:
    dkc__resp_cleanup(&resp);
    free(text);
    return rc;
}

/* Here rather than in dkc_jsonl.c, which stays free of the request layer
 * (the fuzz targets build it alone). */
int dkc__jsonl_settle(dkc_client *c, dkc__jsonl *j, int rc, int *st_rc, long status,
                      dkc__jsonl_cb cb, void *ud, const char *what)
{
    if (rc == 0 && *st_rc == 0) {
        int frc = dkc__jsonl_finish(j, cb, ud);
        if (frc == DKC_ECANCELED)
            rc = dkc__client_fail(c, DKC_ECANCELED, status, "stopped by the callback");
        else if (frc != 0)
            *st_rc = frc;
    }
    if ((rc == 0 || rc == DKC_ECANCELED) && *st_rc != 0)
        rc = dkc__client_fail(c, *st_rc, status, "malformed %s: %s", what, dkc_strerror(*st_rc));
    return rc;
}
