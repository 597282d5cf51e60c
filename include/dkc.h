/*
 * dkc.h -- a C client library for the Docker Engine API.
 *
 * One handle (dkc_client) talks to one Docker daemon over a unix socket, TCP,
 * or TCP with TLS client certificates.  Every call is synchronous: it returns
 * 0 on success or a negative dkc_err code; details of the last failure (the
 * HTTP status and Docker's own message) are kept on the handle and read with
 * dkc_client_last_error().
 *
 * Data model.  Inputs that callers build by hand (container create config,
 * exec config, list options) are C structs.  Results are returned as jansson
 * values exactly as the Engine API sends them.  The caller owns one
 * reference of each json_t * and releases it with json_decref().  The
 * Engine's JSON grows with every API version, and a C struct would silently
 * drop fields.
 * The handful of values callers act on (container id, exit code, events,
 * pull progress, multiplexed output) are typed.
 *
 * Thread safety.  dkc_global_init() must be called once before any thread
 * starts.  A dkc_client has one owning thread: no two threads may use the
 * same handle at the same time.  The only exception is dkc_client_cancel(),
 * which any thread may call to stop a blocking stream (events, logs with
 * follow, stats stream, attach, pull) running on the owning thread.  Use one
 * handle per thread; handles share nothing.
 *
 * Memory.  The library never aborts: allocation failure is DKC_ENOMEM.
 * Every buffer fed by the network has a cap (dkc_options.max_response for
 * buffered bodies, DKC_MAX_FRAME for one multiplexed frame, DKC_MAX_LINE
 * for one line of a JSON stream); exceeding it is DKC_ETOOBIG.
 */
#ifndef DKC_H
#define DKC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DKC_VERSION_STRING "0.1.0"

/* The API versions this library speaks: 1.24 (Docker 1.12) up to the
 * newest in the Engine API's version history.  Negotiation picks the lower
 * of DKC_API_MAX and what the daemon offers; a daemon below DKC_API_MIN is
 * refused with DKC_EVERSION.  What the library does differently by version
 * is listed in docs/libdkc.md. */
#define DKC_API_MIN "1.24"
#define DKC_API_MAX "1.56"

#define DKC_MAX_FRAME (16u * 1024u * 1024u) /* one multiplexed stream frame */
#define DKC_MAX_LINE  (1u * 1024u * 1024u)  /* one line of a JSON stream */

/* ------------------------------------------------------------------------
 * Errors.  Codes are negative, stable and append-only.
 * ------------------------------------------------------------------------ */
typedef enum dkc_err {
    DKC_OK = 0,
    DKC_EINVAL = -1,        /* bad argument from the caller */
    DKC_ENOMEM = -2,        /* out of memory */
    DKC_EADDR = -3,         /* daemon address cannot be parsed */
    DKC_EUNAVAILABLE = -4,  /* daemon unreachable: no socket, refused, reset */
    DKC_ETIMEOUT = -5,      /* connect or request timeout */
    DKC_ETLS = -6,          /* TLS handshake or certificate problem */
    DKC_EPROTO = -7,        /* daemon sent something we cannot understand */
    DKC_ETOOBIG = -8,       /* a network-fed buffer hit its cap */
    DKC_EVERSION = -9,      /* daemon API older than DKC_API_MIN */
    DKC_EBADREQUEST = -10,  /* HTTP 400 */
    DKC_EAUTH = -11,        /* HTTP 401 */
    DKC_ENOTFOUND = -12,    /* HTTP 404 */
    DKC_ENOTMODIFIED = -13, /* HTTP 304: already started / already stopped */
    DKC_ECONFLICT = -14,    /* HTTP 409 */
    DKC_ESERVER = -15,      /* HTTP 5xx */
    DKC_ECANCELED = -16,    /* dkc_client_cancel() or a callback asked to stop */
    DKC_ESTREAM = -17,      /* an error reported inside a progress stream */
    DKC_EIO = -18,          /* local I/O: a read callback failed, a file */
    DKC_EHTTP = -19,        /* any other unexpected HTTP status */
    DKC_EFORBIDDEN = -20,   /* HTTP 403: not allowed in the current state
                               (e.g. a network with active endpoints) */
    DKC_EUNSUPPORTED = -21, /* the negotiated API version lacks a call or
                               option asked for (nothing was sent) */
} dkc_err;

/* Returns a static, human-readable name for a dkc_err code.  Never NULL. */
const char *dkc_strerror(int err);

/* Details of the last failure on a handle.  Valid until the next call on the
 * same handle.  message is Docker's own message when the daemon sent one,
 * otherwise the transport's reason; never NULL ("" when none). */
typedef struct dkc_error_info {
    int code;         /* dkc_err */
    long http_status; /* 0 when no HTTP response was received */
    const char *message;
} dkc_error_info;

/* ------------------------------------------------------------------------
 * Addresses.  Accepted forms:
 *   unix:///var/run/docker.sock   /var/run/docker.sock   (a socket path)
 *   tcp://host:port   host:port   http://host:port   https://host:port
 *   tcp://host (port 2375, or 2376 when TLS is on)
 * ------------------------------------------------------------------------ */
typedef enum dkc_addr_kind { DKC_ADDR_UNIX = 1, DKC_ADDR_TCP = 2 } dkc_addr_kind;

typedef struct dkc_addr {
    dkc_addr_kind kind;
    char path[108]; /* unix: socket path */
    char host[256]; /* tcp: host name or address (IPv6 without brackets) */
    int port;       /* tcp: port; 0 when not given (2375, or 2376 with TLS) */
    bool tls;       /* https:// given explicitly */
} dkc_addr;

/* Parses one address.  Pure.  Returns 0, DKC_EINVAL (NULL) or DKC_EADDR. */
int dkc_addr_parse(const char *text, dkc_addr *out);

/* ------------------------------------------------------------------------
 * Global init and the client handle.
 * ------------------------------------------------------------------------ */

/* Initialises libcurl.  Call once from main() before starting threads. */
int dkc_global_init(void);
void dkc_global_cleanup(void);

typedef struct dkc_options {
    const char *host;        /* NULL: $DOCKER_HOST, else unix:///var/run/docker.sock */
    int tls_verify;          /* -1: from $DOCKER_TLS_VERIFY (set and not "" / "0");
                                0: no TLS (unless the address says https://);
                                1: TLS with client cert, verify the server */
    const char *cert_path;   /* NULL: $DOCKER_CERT_PATH, else ~/.docker */
    const char *ca_file;     /* NULL: <cert_path>/ca.pem */
    const char *cert_file;   /* NULL: <cert_path>/cert.pem */
    const char *key_file;    /* NULL: <cert_path>/key.pem */
    long connect_timeout_ms; /* 0: 5000 */
    long request_timeout_ms; /* 0: 120000; negative: none.  Streams have none. */
    size_t max_response;     /* 0: 64 MiB, cap for any buffered response body */
    const char *api_version; /* NULL: negotiate against /_ping */
} dkc_options;

/* Fills *opts with defaults (all zero / NULL, tls_verify = -1). */
void dkc_options_init(dkc_options *opts);

typedef struct dkc_client dkc_client;

/* Creates a handle.  Does not contact the daemon: the API version is
 * negotiated on the first request (or by dkc_client_negotiate()).  Returns
 * 0 and sets *out, or DKC_EINVAL, DKC_EADDR, DKC_ETLS (missing cert files),
 * DKC_ENOMEM; then a human reason is written to errbuf (may be NULL).
 * opts may be NULL (all defaults).  *out is freed with dkc_client_free(). */
int dkc_client_new(const dkc_options *opts, dkc_client **out, char *errbuf, size_t errlen);

/* Frees a handle.  NULL is accepted. */
void dkc_client_free(dkc_client *c);

/* Pings the daemon and fixes the API version used from now on.  Called
 * implicitly by the first request.  DKC_EVERSION if the daemon is too old. */
int dkc_client_negotiate(dkc_client *c);

/* The negotiated (or forced) API version, e.g. "1.41"; "" before
 * negotiation. */
const char *dkc_client_api_version(const dkc_client *c);

/* True when the negotiation found Podman's Docker-compatible service
 * instead of Docker (its /_ping names a Libpod API version); false before
 * negotiation and with a forced version.  The library makes up for the
 * differences of Podman's answers where it knows them (docs/libdkc.md);
 * this says where a caller must too, e.g. Podman's /info has no stable
 * ID. */
bool dkc_client_is_podman(const dkc_client *c);

/* The address in use, normalised (e.g. "unix:///var/run/docker.sock"). */
const char *dkc_client_host(const dkc_client *c);

/* Last failure on this handle. */
const dkc_error_info *dkc_client_last_error(const dkc_client *c);

/* Asks a blocking call on c to stop at its next chance; it returns
 * DKC_ECANCELED.  Safe from any thread and from signal handlers.  A cancel is
 * never lost: if no call is running, the next call on c returns
 * DKC_ECANCELED at once.  The request is consumed by the call it stops. */
void dkc_client_cancel(dkc_client *c);

/* Sets a deadline timeout_ms milliseconds from now for every call on c,
 * streams included.  A call still running then stops with DKC_ETIMEOUT;
 * what a stream delivered so far has gone to its callback.  A call started
 * after the deadline fails with DKC_ETIMEOUT at once.  timeout_ms <= 0
 * clears it.  Plain requests keep request_timeout_ms either way; the
 * earlier of the two applies.  Set it between calls, from the thread that
 * makes them. */
void dkc_client_set_deadline(dkc_client *c, long timeout_ms);

/* ------------------------------------------------------------------------
 * Callbacks shared by streaming calls.  Returning non-zero from a callback
 * stops the call, which then returns DKC_ECANCELED.
 * ------------------------------------------------------------------------ */

/* Output of a container: stream is 0 stdin, 1 stdout, 2 stderr (TTY output
 * is reported as stdout). data is not NUL-terminated and only valid during
 * the call. */
typedef int (*dkc_output_cb)(void *ud, int stream, const char *data, size_t len);

/* Raw bytes (archives, exported tars).  Same lifetime rule as above. */
typedef int (*dkc_data_cb)(void *ud, const char *data, size_t len);

/* Supplies an upload body: fill buf with up to cap bytes and return the
 * count, 0 at the end, or a negative value to abort with DKC_EIO. */
typedef ssize_t (*dkc_read_cb)(void *ud, char *buf, size_t cap);

/* One decoded JSON value of a stream (stats).  obj is borrowed. */
typedef int (*dkc_json_cb)(void *ud, json_t *obj);

/* ------------------------------------------------------------------------
 * System
 * ------------------------------------------------------------------------ */
int dkc_ping(dkc_client *c);
int dkc_version(dkc_client *c, json_t **out);
int dkc_info(dkc_client *c, json_t **out);

typedef struct dkc_event {
    const char *type;   /* "container", "image", "network", "volume", ... */
    const char *action; /* "create", "start", "die", "destroy", ... */
    const char *id;     /* Actor.ID (else the oldest form's "id"); "" when absent */
    int64_t time;       /* seconds */
    int64_t time_nano;  /* nanoseconds (time * 10^9 when the daemon sent seconds only) */
    json_t *attributes; /* Actor.Attributes (object, borrowed; may be empty) */
    json_t *raw;        /* the whole event (borrowed) */
} dkc_event;

typedef int (*dkc_event_cb)(void *ud, const dkc_event *ev);

typedef struct dkc_events_opts {
    int64_t since;   /* 0: none (unix seconds) */
    int64_t until;   /* 0: none; the stream ends when reached */
    json_t *filters; /* borrowed; e.g. {"type":["container"],"label":["a=b"]} */
} dkc_events_opts;

/* Streams events to cb until `until`, cancel, or cb returns non-zero
 * (DKC_ECANCELED).  Blocks the calling thread. */
int dkc_events(dkc_client *c, const dkc_events_opts *opts, dkc_event_cb cb, void *ud);

/* ------------------------------------------------------------------------
 * Containers
 * ------------------------------------------------------------------------ */

typedef struct dkc_port_binding {
    const char *container_port; /* "80/tcp" */
    const char *host_ip;        /* NULL: all */
    const char *host_port;      /* NULL or "": any */
} dkc_port_binding;

/* The create body.  NULL / 0 / false fields are left out of the JSON so the
 * daemon's defaults apply.  String lists are NULL-terminated arrays. */
typedef struct dkc_container_config {
    const char *image; /* required */
    const char *const *cmd;
    const char *const *entrypoint;
    const char *const *env;           /* "KEY=value" */
    const char *const *labels;        /* "key=value" */
    const char *const *volumes;       /* container paths for anonymous volumes */
    const char *const *exposed_ports; /* "80/tcp" */
    const char *working_dir;
    const char *user;
    const char *hostname;
    const char *stop_signal;
    int stop_timeout; /* seconds; 0: daemon default */
    bool tty;
    bool open_stdin;
    bool stdin_once;
    bool attach_stdin, attach_stdout, attach_stderr;
    bool network_disabled;

    /* HostConfig */
    const char *const *binds; /* "host:container[:ro]" or "volume:container" */
    const dkc_port_binding *ports;
    size_t n_ports;
    bool publish_all_ports;
    const char *network_mode;   /* "bridge", "none", "host", a network name */
    const char *restart_policy; /* "no", "always", "unless-stopped", "on-failure" */
    int restart_max_retries;
    int64_t memory;      /* bytes */
    int64_t memory_swap; /* bytes; -1 unlimited */
    int64_t nano_cpus;   /* 1e9 = one CPU */
    int64_t cpu_shares;
    int64_t pids_limit;
    bool privileged;
    bool read_only_rootfs;
    bool auto_remove;
    const char *const *cap_add;
    const char *const *cap_drop;
    const char *const *dns;
    const char *const *extra_hosts;

    /* Merged last, key by key, into the body (and "HostConfig" into the
     * host config): anything the fields above do not cover.  Borrowed. */
    json_t *extra;
} dkc_container_config;

/* Builds the create body.  Pure.  *out is a new object (json_decref). */
int dkc_container_config_to_json(const dkc_container_config *cfg, json_t **out);

/* POST /containers/create.  name may be NULL.  On success *id is a new
 * string (free()).  warnings may be NULL; else gets the Warnings array or
 * NULL. */
int dkc_container_create(dkc_client *c, const char *name, const dkc_container_config *cfg,
                         char **id, json_t **warnings);

/* Same, with a raw create body (borrowed).  Both send the body as the
 * negotiated API version reads it: a container-wide "MacAddress" goes to
 * the endpoint of the container's network from API 1.44 on (1.52 dropped
 * the container-wide field), and an endpoint's back to the container
 * before 1.44.  What the version cannot say (several networks before
 * 1.44, AutoRemove before 1.25) is DKC_EUNSUPPORTED before any request. */
int dkc_container_create_json(dkc_client *c, const char *name, json_t *body, char **id,
                              json_t **warnings);

typedef struct dkc_list_opts {
    bool all;        /* include stopped containers */
    bool size;       /* compute SizeRw / SizeRootFs (slow) */
    int limit;       /* 0: no limit */
    json_t *filters; /* borrowed, e.g. {"label":["k=v"],"status":["exited"]} */
} dkc_list_opts;

/* opts may be NULL.  *out: the array as Docker sends it. */
int dkc_container_list(dkc_client *c, const dkc_list_opts *opts, json_t **out);
int dkc_container_inspect(dkc_client *c, const char *id, json_t **out);
int dkc_container_start(dkc_client *c, const char *id);
/* timeout < 0: daemon default. */
int dkc_container_stop(dkc_client *c, const char *id, int timeout);
int dkc_container_restart(dkc_client *c, const char *id, int timeout);
/* The same with signal (e.g. "SIGINT") sent first instead of the
 * container's StopSignal; NULL: that one, as above.  A signal needs API
 * 1.42: an older daemon gives DKC_EUNSUPPORTED before any request. */
int dkc_container_stop_signal(dkc_client *c, const char *id, int timeout, const char *signal);
int dkc_container_restart_signal(dkc_client *c, const char *id, int timeout, const char *signal);
/* signal NULL: SIGKILL. */
int dkc_container_kill(dkc_client *c, const char *id, const char *signal);
int dkc_container_pause(dkc_client *c, const char *id);
int dkc_container_unpause(dkc_client *c, const char *id);
int dkc_container_rename(dkc_client *c, const char *id, const char *new_name);
int dkc_container_remove(dkc_client *c, const char *id, bool force, bool volumes);

/* Blocks until the container stops.  condition NULL: "not-running"; also
 * "next-exit", "removed" (API 1.30, else DKC_EUNSUPPORTED).  *exit_code
 * set on success; *error_msg (may be NULL) gets a new string when Docker
 * reports one (free()).  Has no request timeout; use dkc_client_cancel()
 * to give up. */
int dkc_container_wait(dkc_client *c, const char *id, const char *condition, int64_t *exit_code,
                       char **error_msg);

/* Whether a container's output is one raw stream (it has a TTY) or
 * stdout and stderr multiplexed: the Engine's logs answer does not say. */
typedef enum dkc_tty {
    DKC_TTY_ASK = 0, /* the library inspects the container first */
    DKC_TTY_NO,      /* the caller knows (from its own inspect): no TTY */
    DKC_TTY_YES,     /* ...: a TTY */
} dkc_tty;

/* What a container's inspect (dkc_container_inspect's answer) says of its
 * TTY; DKC_TTY_ASK when it does not say (no Config.Tty boolean). */
dkc_tty dkc_tty_of(const json_t *info);

typedef struct dkc_logs_opts {
    bool stdout_; /* if neither is set, both are */
    bool stderr_;
    bool follow;
    bool timestamps;
    int64_t since; /* unix seconds, 0: none */
    int64_t until;
    int tail;    /* lines from the end; <= 0: all */
    dkc_tty tty; /* DKC_TTY_ASK costs an inspect per call */
} dkc_logs_opts;

/* Streams logs to cb, demultiplexed (raw for TTY containers).  opts may be
 * NULL.  With follow, returns when the container stops or on cancel. */
int dkc_container_logs(dkc_client *c, const char *id, const dkc_logs_opts *opts, dkc_output_cb cb,
                       void *ud);

/* Attaches to the container's output (stdout and stderr, stream=1, logs=
 * `logs`) and delivers it to cb until the container exits or cancel. */
int dkc_container_attach(dkc_client *c, const char *id, bool logs, dkc_output_cb cb, void *ud);

/* ps_args NULL: daemon default. */
int dkc_container_top(dkc_client *c, const char *id, const char *ps_args, json_t **out);
int dkc_container_changes(dkc_client *c, const char *id, json_t **out);

/* One-shot stats (stream=false). */
int dkc_container_stats(dkc_client *c, const char *id, json_t **out);
/* Streamed stats: one object per second to cb until cancel / cb stops. */
int dkc_container_stats_stream(dkc_client *c, const char *id, dkc_json_cb cb, void *ud);

/* GET /containers/{id}/archive: the tar goes to cb; *stat (may be NULL) gets
 * the decoded X-Docker-Container-Path-Stat header. */
int dkc_container_archive_get(dkc_client *c, const char *id, const char *path, dkc_data_cb cb,
                              void *ud, json_t **stat);
/* PUT /containers/{id}/archive: extracts the tar supplied by rd into path. */
int dkc_container_archive_put(dkc_client *c, const char *id, const char *path, dkc_read_cb rd,
                              void *ud);

typedef struct dkc_commit_opts {
    const char *repo; /* may be NULL */
    const char *tag;  /* may be NULL */
    const char *comment;
    const char *author;
    bool pause;     /* pause during commit (Docker's default is true) */
    json_t *config; /* borrowed container config to apply, may be NULL */
} dkc_commit_opts;

/* POST /commit.  *image_id: new string (free()). */
int dkc_container_commit(dkc_client *c, const char *id, const dkc_commit_opts *opts,
                         char **image_id);

/* ------------------------------------------------------------------------
 * Exec
 * ------------------------------------------------------------------------ */
typedef struct dkc_exec_config {
    const char *const *cmd; /* required */
    const char *const *env;
    const char *user;
    const char *working_dir;
    bool tty;
    bool privileged;
    bool attach_stdout; /* if neither is set, both are */
    bool attach_stderr;
} dkc_exec_config;

/* *exec_id: new string (free()). */
int dkc_exec_create(dkc_client *c, const char *container, const dkc_exec_config *cfg,
                    char **exec_id);
/* Starts the exec attached, delivering its output to cb (may be NULL to
 * discard) until it ends. */
int dkc_exec_start(dkc_client *c, const char *exec_id, bool tty, dkc_output_cb cb, void *ud);
int dkc_exec_inspect(dkc_client *c, const char *exec_id, json_t **out);
/* create + start + inspect: runs cmd in the container and reports its exit
 * code. */
int dkc_exec_run(dkc_client *c, const char *container, const dkc_exec_config *cfg, dkc_output_cb cb,
                 void *ud, int64_t *exit_code);

/* ------------------------------------------------------------------------
 * Images
 * ------------------------------------------------------------------------ */
typedef struct dkc_progress {
    const char *status; /* "Pulling fs layer", "Downloading", ... ("" if none) */
    const char *id;     /* layer id ("" if none) */
    int64_t current;    /* bytes, 0 if unknown */
    int64_t total;      /* bytes, 0 if unknown */
    json_t *raw;        /* the whole message (borrowed) */
} dkc_progress;

typedef int (*dkc_progress_cb)(void *ud, const dkc_progress *p);

typedef struct dkc_auth {
    const char *username;
    const char *password;
    const char *server_address;
    const char *identity_token;
} dkc_auth;

int dkc_image_list(dkc_client *c, bool all, json_t *filters, json_t **out);
int dkc_image_inspect(dkc_client *c, const char *name, json_t **out);
/* Pulls image (tag NULL: "latest" unless image carries a tag or digest).
 * cb may be NULL.  An error message inside the stream is DKC_ESTREAM with
 * the message in dkc_client_last_error(). */
int dkc_image_pull(dkc_client *c, const char *image, const char *tag, const dkc_auth *auth,
                   dkc_progress_cb cb, void *ud);
int dkc_image_tag(dkc_client *c, const char *name, const char *repo, const char *tag);
/* *out (may be NULL): the array of {Untagged|Deleted} entries. */
int dkc_image_remove(dkc_client *c, const char *name, bool force, bool noprune, json_t **out);
/* Imports a root filesystem tar supplied by rd as repo:tag. */
int dkc_image_import(dkc_client *c, const char *repo, const char *tag, dkc_read_cb rd, void *ud,
                     dkc_progress_cb cb, void *cb_ud);
/* Loads images from a `docker save` tar supplied by rd. */
int dkc_image_load(dkc_client *c, dkc_read_cb rd, void *ud, dkc_progress_cb cb, void *cb_ud);

/* A dkc_read_cb over a memory buffer: set data/len/pos=0 and pass the
 * struct as ud. */
typedef struct dkc_membuf_reader {
    const char *data;
    size_t len;
    size_t pos;
} dkc_membuf_reader;
ssize_t dkc_membuf_read(void *ud, char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Volumes
 * ------------------------------------------------------------------------ */
/* name NULL: Docker picks one.  driver NULL: "local".  labels: "k=v" list.
 * *out (may be NULL): the volume object. */
int dkc_volume_create(dkc_client *c, const char *name, const char *driver,
                      const char *const *labels, json_t **out);
int dkc_volume_list(dkc_client *c, json_t *filters, json_t **out);
int dkc_volume_inspect(dkc_client *c, const char *name, json_t **out);
int dkc_volume_remove(dkc_client *c, const char *name, bool force);

/* ------------------------------------------------------------------------
 * Networks
 * ------------------------------------------------------------------------ */
/* driver NULL: "bridge".  labels: "k=v" list.  *id (may be NULL): new
 * string (free()). */
int dkc_network_create(dkc_client *c, const char *name, const char *driver, bool internal,
                       const char *const *labels, char **id);
int dkc_network_list(dkc_client *c, json_t *filters, json_t **out);
int dkc_network_inspect(dkc_client *c, const char *id, json_t **out);
int dkc_network_remove(dkc_client *c, const char *id);
int dkc_network_connect(dkc_client *c, const char *network, const char *container);
int dkc_network_disconnect(dkc_client *c, const char *network, const char *container, bool force);

/* ------------------------------------------------------------------------
 * Multiplexed stream demultiplexer (pure; used internally, exported for
 * callers that read attach/exec streams themselves).
 *
 * Non-TTY output arrives as frames: 1 byte stream, 3 zero bytes, 4 bytes
 * big-endian length, then payload.  Feed bytes as they arrive, split at any
 * point; complete payload pieces are passed to cb as soon as they are
 * available (a frame's payload may be delivered in several pieces).
 * ------------------------------------------------------------------------ */
typedef struct dkc_demux {
    unsigned char hdr[8];
    size_t hdr_len;   /* header bytes collected so far */
    size_t remaining; /* payload bytes still expected in the current frame */
    int stream;       /* stream of the current frame */
} dkc_demux;

void dkc_demux_init(dkc_demux *d);
/* Returns 0, DKC_EPROTO (bad stream byte or header), DKC_ETOOBIG (frame over
 * DKC_MAX_FRAME) or DKC_ECANCELED (cb returned non-zero).  After an error
 * the demuxer must be re-initialised. */
int dkc_demux_feed(dkc_demux *d, const char *data, size_t len, dkc_output_cb cb, void *ud);
/* True when no frame is partially read (a clean end of stream). */
bool dkc_demux_at_boundary(const dkc_demux *d);

#ifdef __cplusplus
}
#endif
#endif /* DKC_H */
