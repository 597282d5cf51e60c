/*
 * dkc_internal.h -- what the library's files share and nothing outside sees.
 *
 * Names here carry the dkc__ prefix.  The request layer (dkc_http.c,
 * dkc_client.c) turns a dkc__req into one HTTP exchange with the daemon;
 * every API call in dkc_containers.c, dkc_images.c, ... is a thin mapping
 * onto it.
 */
#ifndef DKC_INTERNAL_H
#define DKC_INTERNAL_H

#include "dkc.h"

#include <stdarg.h>
#include <stdatomic.h>

/* ---- bounded dynamic buffer (dkc_buf.c) ------------------------------ */

/* A growable byte buffer that refuses to grow past max.  data is always
 * NUL-terminated (when non-NULL) so text bodies can be parsed in place. */
typedef struct dkc__buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* 0: no cap (only for buffers not fed by the network) */
} dkc__buf;

void dkc__buf_init(dkc__buf *b, size_t max);
void dkc__buf_cleanup(dkc__buf *b);
void dkc__buf_reset(dkc__buf *b); /* len = 0, memory kept */
/* 0, DKC_ENOMEM or DKC_ETOOBIG (nothing appended). */
int dkc__buf_append(dkc__buf *b, const void *data, size_t len);
int dkc__buf_printf(dkc__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dkc__buf_vprintf(dkc__buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes. */
void dkc__buf_consume(dkc__buf *b, size_t n);
/* Hands the data to the caller (free()) and resets b. */
char *dkc__buf_steal(dkc__buf *b);

/* ---- JSON-lines splitter (dkc_jsonl.c) --------------------------------- */

/* Splits a byte stream of JSON values separated by newlines (events, pull
 * progress, stats) into whole values.  Pure.  A single value over
 * DKC_MAX_LINE is DKC_ETOOBIG; a line that is not JSON is DKC_EPROTO. */
typedef int (*dkc__jsonl_cb)(void *ud, json_t *value); /* value borrowed */

typedef struct dkc__jsonl {
    dkc__buf line;
    int err; /* sticky: the first error returned, 0 while healthy */
} dkc__jsonl;

void dkc__jsonl_init(dkc__jsonl *j);
void dkc__jsonl_cleanup(dkc__jsonl *j);
/* Returns 0, DKC_EPROTO, DKC_ETOOBIG, DKC_ENOMEM, or DKC_ECANCELED when cb
 * returned non-zero. Blank lines are skipped. */
int dkc__jsonl_feed(dkc__jsonl *j, const char *data, size_t len, dkc__jsonl_cb cb, void *ud);
/* End of stream: a final value without a trailing newline is delivered. */
int dkc__jsonl_finish(dkc__jsonl *j, dkc__jsonl_cb cb, void *ud);

/* The end of a JSON-lines stream request that returned rc (status: the
 * response's).  When it ended normally and nothing went wrong yet
 * (*st_rc == 0), feeds the last value, which may lack its newline.  A
 * callback stopping there is DKC_ECANCELED ("stopped by the callback").  A
 * malformed stream (*st_rc set here or by the caller's callback) is
 * recorded on c as "malformed <what>: ...".  Returns the request's
 * result.  Shared by the event, stats and progress streams. */
struct dkc_client;
int dkc__jsonl_settle(struct dkc_client *c, dkc__jsonl *j, int rc, int *st_rc, long status,
                      dkc__jsonl_cb cb, void *ud, const char *what);

/* ---- references and query strings (dkc_query.c) ----------------------- */

/* Checks that a container / volume / network / exec reference is safe to put
 * in a URL path: non-empty, at most 256 bytes, only [A-Za-z0-9_.-]
 * (slash_ok: also '/', ':', '@' for image references), and no ".." segment.
 * Returns 0 or DKC_EINVAL. */
int dkc__check_ref(const char *ref, bool slash_ok);

/* Appends "?k=v" or "&k=v" to b with v percent-encoded.  v NULL: skipped. */
int dkc__query_add(dkc__buf *b, const char *key, const char *value);
int dkc__query_addf(dkc__buf *b, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends filters=<json> when filters is a non-empty object. */
int dkc__query_add_json(dkc__buf *b, const char *key, json_t *value);

/* NULL-terminated string list -> new JSON array (NULL when list is NULL). */
json_t *dkc__strv_to_json(const char *const *list);
/* "k=v" list -> new JSON object.  DKC_EINVAL (via *err) when an entry has no
 * '='.  NULL when list is NULL. */
json_t *dkc__kv_to_json(const char *const *list, int *err);

/* ---- the request layer (dkc_http.c, dkc_client.c) -------------------- */

/* Receives response body bytes as they arrive (streams).  Return non-zero
 * to stop (the request returns DKC_ECANCELED unless the sink stored another
 * code in its own state). */
typedef int (*dkc__sink_fn)(void *ud, const char *data, size_t len);

typedef struct dkc__req {
    const char *method;       /* "GET", "POST", "PUT", "DELETE", "HEAD" */
    const char *path;         /* "/containers/json?all=1": no version prefix */
    const char *content_type; /* for the body; NULL: application/json if body */
    const char *body;         /* may be NULL */
    size_t body_len;
    dkc_read_cb reader; /* streamed upload instead of body */
    void *reader_ud;
    const char *extra_header; /* one "Name: value" header line, e.g. X-Registry-Auth */
    dkc__sink_fn sink;        /* NULL: the body is buffered in resp->body */
    void *sink_ud;
    bool stream;      /* no request timeout (logs follow, events, wait) */
    bool unversioned; /* only /_ping during negotiation */
} dkc__req;

typedef struct dkc__resp {
    long status;
    dkc__buf body; /* buffered body when no sink, capped */
    char content_type[128];
    char api_version[32]; /* API-Version header */
    bool libpod;          /* a Libpod-Api-Version header: Podman's service */
    char *path_stat;      /* X-Docker-Container-Path-Stat (malloc) */
} dkc__resp;

void dkc__resp_init(dkc__resp *r, size_t max_body);
void dkc__resp_cleanup(dkc__resp *r);

/* The transport: performs one HTTP exchange.  Returns 0 when a response
 * status was received (any status), else a transport dkc_err, with a reason
 * copied into errbuf.  The default is libcurl (dkc_http.c); unit tests
 * install fakes to drive error paths. */
typedef struct dkc__transport {
    int (*perform)(void *impl, const dkc__req *req, const char *versioned_path, dkc__resp *resp,
                   char *errbuf, size_t errlen);
    void (*free)(void *impl);
    void *impl;
    /* Wakes a perform waiting on the network so that it sees the cancel
     * flag (any thread); NULL: the transport looks at the flag by itself. */
    void (*wake)(void *impl);
} dkc__transport;

/* libcurl transport for a parsed address.  *out->impl freed by out->free. */
typedef struct dkc__http_conf {
    dkc_addr addr;
    bool tls;
    char *ca_file, *cert_file, *key_file; /* borrowed for the call */
    long connect_timeout_ms;
    long request_timeout_ms;  /* < 0: none */
    _Atomic int *cancel_flag; /* polled during transfers */
    const int64_t *deadline;  /* CLOCK_MONOTONIC ms; *deadline == 0: none */
} dkc__http_conf;

int dkc__http_transport_new(const dkc__http_conf *conf, dkc__transport *out, char *errbuf,
                            size_t errlen);

/* True when the negotiation found Podman's Docker-compatible service (its
 * /_ping names a Libpod API version), whose answers differ from Docker's in
 * ways the calls that care about make up for. */
bool dkc__client_libpod(const dkc_client *c);
/* Negotiates unless done already (or the version is forced): 0 or the
 * error of dkc_client_negotiate, recorded on c. */
int dkc__client_negotiated(dkc_client *c);

/* Replaces the transport of c (tests only).  Takes ownership of t. */
void dkc__client_set_transport(dkc_client *c, const dkc__transport *t);

/* Performs req against c: negotiates the version first if needed, prefixes
 * /v<version> and clears the cancel flag.  Maps the HTTP status to a
 * dkc_err (2xx -> 0), recording Docker's {"message":...} as the last error.
 * The caller initialises resp (dkc__client_resp_init). */
int dkc__client_do(dkc_client *c, const dkc__req *req, dkc__resp *resp);
void dkc__client_resp_init(const dkc_client *c, dkc__resp *resp);

/* Convenience: method + path + optional JSON body (borrowed); on success and
 * when out is non-NULL, *out is the decoded response (new reference; JSON
 * null for an empty body).  DKC_EPROTO when the body is not JSON. */
int dkc__client_json(dkc_client *c, const char *method, const char *path, json_t *body,
                     json_t **out);
/* The same, with stream set: no request timeout (calls that last as long as
 * the daemon needs: stop, restart, wait, a forced remove). */
int dkc__client_json_ex(dkc_client *c, const char *method, const char *path, json_t *body,
                        bool stream, json_t **out);

/* Records a failure on c (for errors found before or after the transport). */
int dkc__client_fail(dkc_client *c, int code, long http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Maps an HTTP status to a dkc_err (2xx -> 0). */
int dkc__status_to_err(long status);

/* Performs a request whose 2xx body is container output (logs, attach,
 * exec start), delivering it to cb (NULL: discarded) raw when tty, else
 * demultiplexed.  body may be NULL.  A stream that ends inside a frame is
 * DKC_EPROTO; a callback that stops the stream gives DKC_ECANCELED. */
int dkc__output_request(dkc_client *c, const char *method, const char *path, const char *body,
                        size_t body_len, bool tty, dkc_output_cb cb, void *ud);

/* ---- API versions (dkc_version.c) ------------------------------------ */

/* "1.41" -> 1041 (major * 1000 + minor); -1 when malformed. */
int dkc__version_number(const char *v);
#define DKC__API(minor) (1000 + (minor))

/* The negotiated (or forced) version of c as a number, negotiating first
 * when that has not happened yet; a negative dkc_err when negotiation
 * fails (recorded on c). */
int dkc__client_api(dkc_client *c);

/* What a call or an option needs a newer API than DKC_API_MIN for. */
typedef enum dkc__feature {
    DKC__F_AUTO_REMOVE,    /* HostConfig.AutoRemove: 1.25 */
    DKC__F_WAIT_CONDITION, /* wait ?condition=: 1.30 */
    DKC__F_STOP_SIGNAL,    /* stop / restart ?signal=: 1.42 */
    DKC__F_NETWORKS,       /* several EndpointsConfig at create: 1.44 */
} dkc__feature;

/* NULL when API version has f, else the version f needs ("1.42"); *what
 * (may be NULL) gets f's name for messages.  Pure. */
const char *dkc__api_needs(int version, dkc__feature f, const char **what);

/* The create body to send at API version for the caller's body (borrowed,
 * never changed).  *send is a new reference: body itself when nothing
 * differs, else an adapted copy.  Pure.
 *
 * The adaptations: from 1.44 on, the container-wide MacAddress moves to
 * the main network's endpoint.  Before 1.44, an endpoint's moves to the
 * container, but not for Podman (flags DKC__ADAPT_PODMAN).  Podman reads
 * one on a named network's endpoint only.  From 1.53 on, a port's empty
 * binding list gets the one binding older versions filled in.
 *
 * Returns 0, or an error with *send NULL and a reason in why.
 * DKC_EUNSUPPORTED: the version cannot say what body asks for.  DKC_EINVAL:
 * body contradicts itself (or is not an object).  DKC_ENOMEM. */
#define DKC__ADAPT_PODMAN 1u /* flags: the daemon is Podman (MAC on the endpoint) */
int dkc__create_body_adapt(json_t *body, int version, unsigned flags, json_t **send, char *why,
                           size_t len);

/* dkc__api_needs for c's version (negotiating first): 0, or DKC_EUNSUPPORTED
 * recorded on c with what needs which version (or negotiation's own
 * failure). */
int dkc__api_require(dkc_client *c, dkc__feature f);

/* dkc__create_body_adapt at c's version, a failure recorded on c. */
int dkc__api_create_body(dkc_client *c, json_t *body, json_t **send);

/* True if the container was created with a TTY (inspect Config.Tty). */
int dkc__container_is_tty(dkc_client *c, const char *id, bool *tty);

#endif /* DKC_INTERNAL_H */
