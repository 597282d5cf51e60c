/*
 * dkc_http.c -- the libcurl transport: one HTTP exchange with the daemon.
 *
 * One CURL easy handle per transport, kept for the life of the client so
 * that libcurl reuses the connection (unix socket or TCP/TLS) between
 * requests.  The transport knows nothing about Docker: status mapping and
 * version prefixes live in dkc_client.c.
 *
 * The handle runs in a multi handle of its own rather than through
 * curl_easy_perform().  That one wakes up every second while it waits, to
 * call the progress function.  A client following Docker's event stream
 * would wake its thread once a second for nothing.  curl_multi_poll() sleeps
 * until the socket, one of libcurl's own timers (timeouts) or
 * curl_multi_wakeup() from dkc_client_cancel() wakes it.
 *
 * Thread contract: a transport belongs to its client's owning thread.  The
 * cancel flag and the wake-up are the only things another thread touches.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "dkc_internal.h"

typedef struct http {
    CURL *curl;
    CURLM *multi;   /* runs curl, alone */
    char base[320]; /* "http://localhost", "https://127.0.0.1:2376", ... */
    dkc_addr addr;
    bool tls;
    char *ca_file, *cert_file, *key_file;
    long connect_timeout_ms;
    long request_timeout_ms;
    _Atomic int *cancel_flag;
    const int64_t *deadline;
} http;

/* Per-exchange state shared with the curl callbacks. */
typedef struct xfer {
    const dkc__req *req;
    dkc__resp *resp;
    int stop_code; /* why a callback aborted the transfer */
    _Atomic int *cancel_flag;
} xfer;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t n = size * nmemb;
    if (x->req->sink != NULL && x->resp->status >= 200 && x->resp->status < 300) {
        if (x->req->sink(x->req->sink_ud, ptr, n) != 0) {
            x->stop_code = DKC_ECANCELED;
            return 0;
        }
        return n;
    }
    /* Buffered body (and the error body of a streamed request). */
    int rc = dkc__buf_append(&x->resp->body, ptr, n);
    if (rc != 0) {
        x->stop_code = rc;
        return 0;
    }
    return n;
}

/* Copies a header value, trimmed, into dst. */
static void header_value(const char *line, size_t len, size_t name_len, char *dst, size_t cap)
{
    const char *v = line + name_len;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - v);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    size_t len = size * nmemb;
    dkc__resp *r = x->resp;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the old one. */
        const char *sp = memchr(line, ' ', len);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        r->content_type[0] = '\0';
        return len;
    }
    static const char ct[] = "Content-Type:";
    static const char av[] = "Api-Version:";
    static const char ps[] = "X-Docker-Container-Path-Stat:";
    static const char lp[] = "Libpod-Api-Version:";
    if (len > sizeof ct - 1 && strncasecmp(line, ct, sizeof ct - 1) == 0) {
        header_value(line, len, sizeof ct - 1, r->content_type, sizeof r->content_type);
    } else if (len > sizeof av - 1 && strncasecmp(line, av, sizeof av - 1) == 0) {
        header_value(line, len, sizeof av - 1, r->api_version, sizeof r->api_version);
    } else if (len > sizeof lp - 1 && strncasecmp(line, lp, sizeof lp - 1) == 0) {
        r->libpod = true;
    } else if (len > sizeof ps - 1 && strncasecmp(line, ps, sizeof ps - 1) == 0 &&
               len < 64 * 1024) {
        char *v = malloc(len);
        if (v == NULL) {
            x->stop_code = DKC_ENOMEM;
            return 0;
        }
        header_value(line, len, sizeof ps - 1, v, len);
        free(r->path_stat);
        r->path_stat = v;
    }
    return len;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    ssize_t n = x->req->reader(x->req->reader_ud, buf, size * nmemb);
    if (n < 0) {
        x->stop_code = DKC_EIO;
        return CURL_READFUNC_ABORT;
    }
    return (size_t)n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = ud;
    if (x->cancel_flag != NULL && atomic_load(x->cancel_flag)) {
        x->stop_code = DKC_ECANCELED;
        return 1;
    }
    return 0;
}

static int map_curl_error(CURLcode cc, bool tls)
{
    switch (cc) {
    case CURLE_OUT_OF_MEMORY:
        return DKC_ENOMEM;
    case CURLE_OPERATION_TIMEDOUT:
        return DKC_ETIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        /* With TLS a refused client certificate shows as a reset. */
        return tls && (cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR) ? DKC_ETLS
                                                                         : DKC_EUNAVAILABLE;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        return DKC_ETLS;
    case CURLE_ABORTED_BY_CALLBACK:
        return DKC_ECANCELED;
    case CURLE_READ_ERROR:
        return DKC_EIO;
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
        return DKC_EPROTO;
    default:
        return DKC_EUNAVAILABLE;
    }
}

/* Resets the handle and sets what does not depend on the request: the
 * URL, the error buffer, the protocol, no redirects, the connect timeout.
 * The handle borrows url and curl_err until the exchange ends.  Cannot
 * fail. */
static void set_transport(http *h, const char *url, char *curl_err)
{
    CURL *c = h->curl;
    /* Keeps the connection cache; forgets the previous request's options. */
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->tls ? "https" : "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
}

/* Sets the exchange's time limit: the request timeout (not for streams),
 * cut to what is left of the call's deadline.  0, or DKC_ETIMEOUT with a
 * reason in errbuf when the deadline has passed. */
static int set_time_limit(http *h, const dkc__req *req, char *errbuf, size_t errlen)
{
    long limit = !req->stream && h->request_timeout_ms > 0 ? h->request_timeout_ms : 0;
    if (h->deadline != NULL && *h->deadline != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t left = *h->deadline - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        if (left <= 0) {
            snprintf(errbuf, errlen, "the call's deadline has passed");
            return DKC_ETIMEOUT;
        }
        if (limit == 0 || left < limit)
            limit = (long)left;
    }
    if (limit > 0)
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, limit);
    return 0;
}

/* Points the handle at the daemon: the unix socket path, or TLS with peer
 * and host verification and the client's CA, certificate and key files
 * (borrowed from h).  Cannot fail. */
static void set_endpoint(http *h)
{
    CURL *c = h->curl;
    if (h->addr.kind == DKC_ADDR_UNIX)
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, h->addr.path);
    if (h->tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
        if (h->ca_file)
            curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
        if (h->cert_file)
            curl_easy_setopt(c, CURLOPT_SSLCERT, h->cert_file);
        if (h->key_file)
            curl_easy_setopt(c, CURLOPT_SSLKEY, h->key_file);
    }
}

/* Routes the body, header and progress callbacks to x (borrowed until the
 * exchange ends).  Cannot fail. */
static void set_callbacks(CURL *c, xfer *x)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
}

/* Appends line to the header list l.  Returns the list, or NULL without
 * memory, having freed l (curl_slist_append keeps l on failure). */
static struct curl_slist *slist_add(struct curl_slist *l, const char *line)
{
    struct curl_slist *n = curl_slist_append(l, line);
    if (n == NULL)
        curl_slist_free_all(l);
    return n;
}

/* Sets method m and the request body: buffered (borrowed from req) or
 * streamed through x's reader, chunked.  Returns the header list hdrs with
 * the chunked header appended when streaming (NULL without memory; the
 * caller frees the list). */
static struct curl_slist *set_method(CURL *c, const dkc__req *req, const char *m, xfer *x,
                                     struct curl_slist *hdrs)
{
    if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0) {
        if (req->reader != NULL) {
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L); /* PUT with a streamed body */
            curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(c, CURLOPT_READDATA, x);
            hdrs = slist_add(hdrs, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(c, CURLOPT_POST, 1L);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(req->body ? req->body_len : 0));
        }
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
    }
    return hdrs;
}

/* Appends the request headers (no Expect, the Content-Type of a body, the
 * request's extra header) to hdrs.  Returns the list (the caller frees
 * it), NULL without memory. */
static struct curl_slist *add_headers(const dkc__req *req, const char *m, struct curl_slist *hdrs)
{
    bool has_body = req->body != NULL || req->reader != NULL;
    /* Docker does not need 100-continue round trips. */
    if ((hdrs = slist_add(hdrs, "Expect:")) == NULL)
        return NULL;
    if (has_body || strcmp(m, "POST") == 0) {
        char ct[160];
        snprintf(ct, sizeof ct, "Content-Type: %s",
                 req->content_type ? req->content_type : "application/json");
        if ((hdrs = slist_add(hdrs, ct)) == NULL)
            return NULL;
    }
    if (req->extra_header != NULL)
        hdrs = slist_add(hdrs, req->extra_header);
    return hdrs;
}

/* Runs the exchange and records the status in resp.  0, or a DKC_ error
 * (a callback's reason first, else curl's code mapped) with the reason in
 * errbuf. */
/* curl_easy_perform() of h->curl through h->multi, which sleeps until
 * something happens (see the top of the file).  The transfer's result, or
 * CURLE_ABORTED_BY_CALLBACK with x->stop_code DKC_ECANCELED once the
 * cancel flag is seen. */
static CURLcode perform_quietly(http *h, xfer *x)
{
    CURLcode cc = CURLE_OK;
    if (curl_multi_add_handle(h->multi, h->curl) != CURLM_OK)
        return CURLE_OUT_OF_MEMORY;
    int running = 1;
    for (;;) {
        CURLMcode mc = curl_multi_perform(h->multi, &running);
        if (mc != CURLM_OK) {
            cc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
            break;
        }
        if (!running)
            break;
        if (x->cancel_flag != NULL && atomic_load(x->cancel_flag)) {
            if (x->stop_code == 0)
                x->stop_code = DKC_ECANCELED;
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        /* the longest sleep: libcurl wakes sooner for its own timers */
        mc = curl_multi_poll(h->multi, NULL, 0, 24 * 3600 * 1000, NULL);
        if (mc != CURLM_OK) {
            cc = CURLE_RECV_ERROR;
            break;
        }
    }
    int left = 0;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(h->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == h->curl && !running)
            cc = msg->data.result;
    curl_multi_remove_handle(h->multi, h->curl);
    return cc;
}

static int run_exchange(http *h, xfer *x, dkc__resp *resp, const char *curl_err, char *errbuf,
                        size_t errlen)
{
    CURLcode cc = perform_quietly(h, x);
    if (cc != CURLE_OK) {
        int rc = x->stop_code != 0 ? x->stop_code : map_curl_error(cc, h->tls);
        if (x->stop_code == DKC_ETOOBIG)
            snprintf(errbuf, errlen, "response body larger than %zu bytes", resp->body.max);
        else
            snprintf(errbuf, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(cc));
        return rc;
    }
    long status = 0;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    return 0;
}

/* Performs one exchange.  See dkc__transport in dkc_internal.h. */
static int http_perform(void *impl, const dkc__req *req, const char *path, dkc__resp *resp,
                        char *errbuf, size_t errlen)
{
    http *h = impl;
    CURL *c = h->curl;
    struct curl_slist *hdrs = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    dkc__buf url;
    int rc = 0;
    xfer x = {.req = req, .resp = resp, .stop_code = 0, .cancel_flag = h->cancel_flag};

    dkc__buf_init(&url, 0);
    if (dkc__buf_printf(&url, "%s%s", h->base, path) != 0) {
        rc = DKC_ENOMEM;
        goto out;
    }
    set_transport(h, url.data, curl_err);
    if ((rc = set_time_limit(h, req, errbuf, errlen)) != 0)
        goto out;
    set_endpoint(h);
    set_callbacks(c, &x);

    const char *m = req->method ? req->method : "GET";
    hdrs = set_method(c, req, m, &x, hdrs);
    bool chunked = req->reader != NULL && (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0);
    if (!(chunked && hdrs == NULL)) /* NULL after a chunked header: out of memory */
        hdrs = add_headers(req, m, hdrs);
    if (hdrs == NULL) {
        rc = DKC_ENOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    rc = run_exchange(h, &x, resp, curl_err, errbuf, errlen);
out:
    curl_slist_free_all(hdrs);
    /* The options point at this frame's buffers: drop them before leaving. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    dkc__buf_cleanup(&url);
    return rc;
}

static void http_wake(void *impl)
{
    http *h = impl;
    curl_multi_wakeup(h->multi);
}

static void http_free(void *impl)
{
    http *h = impl;
    if (h == NULL)
        return;
    curl_multi_cleanup(h->multi);
    curl_easy_cleanup(h->curl);
    free(h->ca_file);
    free(h->cert_file);
    free(h->key_file);
    free(h);
}

static char *dup_or_null(const char *s, int *rc)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *rc = DKC_ENOMEM;
    return d;
}

int dkc__http_transport_new(const dkc__http_conf *conf, dkc__transport *out, char *errbuf,
                            size_t errlen)
{
    int rc = 0;
    http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return DKC_ENOMEM;
    h->addr = conf->addr;
    h->tls = conf->tls;
    h->connect_timeout_ms = conf->connect_timeout_ms;
    h->request_timeout_ms = conf->request_timeout_ms;
    h->cancel_flag = conf->cancel_flag;
    h->deadline = conf->deadline;
    h->ca_file = dup_or_null(conf->ca_file, &rc);
    h->cert_file = dup_or_null(conf->cert_file, &rc);
    h->key_file = dup_or_null(conf->key_file, &rc);
    if (rc != 0)
        goto fail;
    if (conf->addr.kind == DKC_ADDR_UNIX) {
        snprintf(h->base, sizeof h->base, "http://localhost");
    } else {
        bool v6 = strchr(conf->addr.host, ':') != NULL;
        snprintf(h->base, sizeof h->base, "%s://%s%s%s:%d", conf->tls ? "https" : "http",
                 v6 ? "[" : "", conf->addr.host, v6 ? "]" : "", conf->addr.port);
    }
    h->curl = curl_easy_init();
    h->multi = curl_multi_init();
    if (h->curl == NULL || h->multi == NULL) {
        snprintf(errbuf, errlen, "curl_easy_init or curl_multi_init failed");
        rc = DKC_ENOMEM;
        goto fail;
    }
    out->perform = http_perform;
    out->free = http_free;
    out->wake = http_wake;
    out->impl = h;
    return 0;
fail:
    http_free(h);
    return rc;
}
