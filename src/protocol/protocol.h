/*
 * protocol.h -- the dispatcher's message protocol: a queued JSON message in,
 * a validated command out; a result or an error in, a reply JSON out.
 *
 * Pure code: nothing here does I/O, talks to Docker or the broker, reads the
 * clock or logs.  Every function may be called from any thread; none keeps
 * state between calls.  Inputs are untrusted bytes and the parser is fuzzed.
 *
 * Two dialects are accepted (docs/protocol.md is the full reference):
 *   docker-dispatch  {"Dockercmd":"run","Options":{...},"Image":"...","Cmd":[...],
 *                     "Container":"...","Volume":"..."}
 *   DockerMod        {"action":"create-container","image":"...","instances":2,...}
 * Both map onto one command model, proto_cmd.  Keys of our schema match
 * case-insensitively (ASCII), as the original Go decoder did.
 *
 * Replies carry "schema": PROTO_SCHEMA_VERSION.  Within one schema version
 * fields are only ever added; error codes (proto_code) are append-only.
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_SCHEMA_VERSION 1

#define PROTO_DEFAULT_MAX_BODY     (1u * 1024u * 1024u) /* bytes of one message */
#define PROTO_DEFAULT_MAX_DEPTH    32                   /* nesting of [] and {} */
#define PROTO_DEFAULT_OUTPUT_LIMIT (1 * 1024 * 1024)    /* captured output */
#define PROTO_DEFAULT_MAX_OUTPUT   (16 * 1024 * 1024)   /* largest OutputLimit */
/* exec's Timeout: its default and its maximum, in seconds.  exec holds its
 * message unacknowledged while it runs, since it cannot be repeated the way
 * a labelled container can.  So it must end well within RabbitMQ's
 * consumer timeout (30 min by default).  Longer work belongs in a run. */
#define PROTO_EXEC_MAX_TIMEOUT 1200

/* Labels under this prefix belong to the dispatcher (request tracking,
 * ownership).  Requests may not set them, so nobody can forge the label that
 * makes a node adopt a container or answer for a request. */
#define PROTO_RESERVED_LABEL_PREFIX "io.docker-dispatch."

/* ------------------------------------------------------------------------
 * Codes.  0 is success, failures are negative.  Never renumbered, never
 * removed: new codes are appended.  Each has a stable name that appears in
 * replies ("error":{"code":"not_found"}).
 * ------------------------------------------------------------------------ */
typedef enum proto_code {
    PROTO_OK = 0,
    PROTO_EBADREQUEST = -1,        /* "bad_request": malformed or invalid message */
    PROTO_ETOOLARGE = -2,          /* "too_large": body over the size cap */
    PROTO_EUNKNOWNCMD = -3,        /* "unknown_command": Dockercmd / action not known */
    PROTO_ENOTFOUND = -4,          /* "not_found": no such container/image/volume/node */
    PROTO_ECONFLICT = -5,          /* "conflict": name in use, container running, ... */
    PROTO_ENOTMODIFIED = -6,       /* "not_modified": already started / stopped */
    PROTO_EPOLICY = -7,            /* "policy_denied": the security policy said no */
    PROTO_EDOCKERUNAVAILABLE = -8, /* "docker_unavailable": Engine unreachable */
    PROTO_EDOCKER = -9,            /* "docker_error": any other Engine failure */
    PROTO_ETIMEOUT = -10,          /* "timeout": run time limit or a deadline hit */
    PROTO_ECANCELED = -11,         /* "canceled": the node gave up (shutdown, cancel) */
    PROTO_EINTERNAL = -12,         /* "internal": a bug or out of memory on the node */
    PROTO_EUNSUPPORTED = -13,      /* "unsupported": valid, but this node cannot do it */
    PROTO_EUNAVAILABLE = -14,      /* "unavailable": no node could take the request */
    PROTO_EDUPLICATE = -15,        /* "duplicate": this request id was received before */
    PROTO_EQUOTA = -16,            /* "quota": over a per-user bound of the policy's quotas */
} proto_code;

#define PROTO_CODE_MIN PROTO_EQUOTA

/* Stable name of a code ("ok" for 0, "internal" for anything unknown). */
const char *proto_code_name(int code);

/* Inverse of proto_code_name(); returns 1 (never a valid code) when name is
 * unknown or NULL. */
int proto_code_from_name(const char *name);

/* The HTTP status a gateway answers with for a code (200 for 0). */
int proto_code_http_status(int code);

/* ------------------------------------------------------------------------
 * Limits.  Zero fields take the defaults above.
 * ------------------------------------------------------------------------ */
typedef struct proto_limits {
    size_t max_body;        /* bodies longer than this: too_large */
    int max_depth;          /* deeper nesting: bad_request */
    int64_t default_output; /* output_limit when OutputLimit is not given */
    int64_t max_output;     /* largest OutputLimit accepted */
} proto_limits;

/* Fills *lim with the defaults. */
void proto_limits_init(proto_limits *lim);

/* ------------------------------------------------------------------------
 * The command model.
 * ------------------------------------------------------------------------ */
typedef enum proto_dialect {
    PROTO_DIALECT_NONE = 0,      /* not known (the message could not be read) */
    PROTO_DIALECT_DISPATCH = 1,  /* docker-dispatch: Dockercmd */
    PROTO_DIALECT_DOCKERMOD = 2, /* DockerMod: action */
} proto_dialect;

/* Kinds of command.  Append only (values may be logged or stored). */
typedef enum proto_kind {
    PROTO_CMD_NONE = 0,
    PROTO_CMD_RUN,
    PROTO_CMD_CREATE,
    PROTO_CMD_START,
    PROTO_CMD_STOP,
    PROTO_CMD_RESTART,
    PROTO_CMD_KILL,
    PROTO_CMD_PAUSE,
    PROTO_CMD_UNPAUSE,
    PROTO_CMD_RENAME,
    PROTO_CMD_REMOVE,
    PROTO_CMD_WAIT,
    PROTO_CMD_INSPECT,
    PROTO_CMD_LIST,
    PROTO_CMD_LOGS,
    PROTO_CMD_TOP,
    PROTO_CMD_CHANGES,
    PROTO_CMD_EXEC,
    PROTO_CMD_PULL,
    PROTO_CMD_IMAGES,
    PROTO_CMD_IMAGE_INSPECT,
    PROTO_CMD_IMAGE_TAG,
    PROTO_CMD_IMAGE_REMOVE,
    PROTO_CMD_VOLUME_CREATE,
    PROTO_CMD_VOLUME_LIST,
    PROTO_CMD_VOLUME_INSPECT,
    PROTO_CMD_VOLUME_REMOVE,
    PROTO_CMD_INFO,
    PROTO_CMD_VERSION,
    PROTO_CMD_PING,
    PROTO_CMD_NODES,
    PROTO_CMD_REGISTER,
    PROTO_CMD_UNREGISTER,
    PROTO_CMD_COMMIT,
    PROTO_CMD_ARCHIVE_GET,
    PROTO_CMD_ARCHIVE_PUT,
    PROTO_CMD_NETWORK_CREATE,
    PROTO_CMD_NETWORK_LIST,
    PROTO_CMD_NETWORK_INSPECT,
    PROTO_CMD_NETWORK_CONNECT,
    PROTO_CMD_NETWORK_DISCONNECT,
    PROTO_CMD_NETWORK_REMOVE,
    PROTO_CMD__COUNT
} proto_kind;

/*
 * One validated command.  Every pointer is owned by the struct and released
 * by proto_cmd_free(); NULL means "not given".  Strings have been checked
 * against their character sets (docs/protocol.md, "Field reference").
 */
typedef struct proto_cmd {
    proto_dialect dialect;
    proto_kind kind;
    const char *verb; /* the command as the table names it ("rm" becomes
                         "remove", DockerMod keeps "delete-container");
                         static, never freed */

    char *container; /* container id or name the command acts on */
    char *image;     /* run/create (from the body for raw creates), pull,
                        image-inspect/-tag/-remove */
    char *name;      /* name for the new container (run/create) */

    /* run / create: the body for POST /containers/create, in Docker's key
     * case.  It is built from Image, Cmd, Entrypoint, Env, ... with
     * Options.HostConfig merged in, or is the client's body as it came
     * (raw_body).  A DockerMod create-container with a template holds only
     * the overrides, maybe without "Image": the engine lays them over the
     * template. */
    json_t *create_body;
    bool raw_body;

    /* run */
    bool attach_stdin, attach_stdout, attach_stderr;
    bool remove;          /* remove the container after it exits */
    int64_t timeout_s;    /* run/exec/wait: kill or give up after; 0 = none */
    int64_t output_limit; /* run/exec/logs: bytes of output captured */

    /* stop / restart / kill */
    bool has_time; /* false: Docker's default */
    int time_s;
    char *signal; /* kill: NULL means SIGKILL */

    /* remove, image-remove, volume-remove */
    bool force;
    bool volumes;
    bool noprune;

    char *new_name; /* rename */

    /* list / images / volume-list */
    bool all;        /* list: stopped ones too; images: intermediate too */
    bool cluster;    /* list: ask every node */
    int limit;       /* list: 0 = no limit */
    json_t *filters; /* Docker's filter object, e.g. {"label":["a=b"]} */

    /* logs */
    bool logs_stdout, logs_stderr; /* at least one is true */
    bool logs_timestamps;
    int logs_tail;                  /* lines from the end; -1 = all */
    int64_t logs_since, logs_until; /* unix seconds; 0 = none */

    char *ps_args; /* top */

    /* exec: NULL-terminated lists, ready for dkc_exec_config */
    char **exec_argv;
    char **exec_env;
    char *exec_user;
    char *exec_workdir;
    bool exec_tty;

    char *condition; /* wait: "not-running", "next-exit", "removed" or NULL */

    /* pull / image-tag / commit */
    char *tag;
    char *repo;
    bool pause; /* commit: pause the container meanwhile (default true) */

    /* archive-get / archive-put: a path in the container (absolute, no
     * "..", not under /proc, /sys or /dev) and, for put, the tar decoded
     * from the message's base64 */
    char *path;
    unsigned char *archive;
    size_t archive_len;

    /* network-* */
    char *network;
    bool internal; /* network-create */

    /* volumes */
    char *volume;
    char *driver;
    json_t *labels; /* volume-create, network-create: object of strings */

    /* DockerMod extras, carried for the engine to honour or refuse */
    int instances;       /* 0: not given; else 1..1000 (run, create, create-container) */
    char *placement;     /* instances: "spread" (NULL: the default) or "binpack" */
    char *template_name; /* create-container "template", run/create Options.Template */
    json_t *params;      /* the template's parameters: object of strings, or NULL */
    bool progress;       /* pull, bulk run/create: interim progress messages wanted */
    char *hostname;      /* register / unregister */
} proto_cmd;

/* Canonical command name of a kind ("run", "stop", "image-remove", ...);
 * "" for PROTO_CMD_NONE or an out-of-range value.  Static. */
const char *proto_kind_name(proto_kind kind);

/* Canonical name of cmd's kind; "" when cmd is NULL. */
const char *proto_cmd_name(const proto_cmd *cmd);

/* Name of a dialect: "docker-dispatch", "dockermod" or "none". */
const char *proto_dialect_name(proto_dialect d);

/* Frees a command and everything it owns.  NULL is accepted. */
void proto_cmd_free(proto_cmd *cmd);

/* ------------------------------------------------------------------------
 * Parsing.
 * ------------------------------------------------------------------------ */
#define PROTO_FIELD_MAX   128
#define PROTO_MESSAGE_MAX 320
#define PROTO_VERB_MAX    32

/* Why a message was refused.  field and message never contain raw bytes of
 * the message: offending values are quoted, escaped and truncated. */
typedef struct proto_error {
    int code;                        /* proto_code */
    const char *code_name;           /* proto_code_name(code); static */
    char field[PROTO_FIELD_MAX];     /* "Options.Time", "Cmd[2]", "" when none */
    char message[PROTO_MESSAGE_MAX]; /* for humans */
    proto_dialect dialect;           /* as far as it could be told */
    char command[PROTO_VERB_MAX];    /* canonical command name when it was
                                        recognised, else "" */
} proto_error;

/* Clears *err to "no error". */
void proto_error_clear(proto_error *err);

/*
 * Parses and validates one message body of len bytes, not necessarily
 * NUL-terminated.  lim may be NULL (defaults).  Returns 0 and a new command
 * in *out (proto_cmd_free()).  Else returns a negative proto_code, leaves
 * *out NULL and fills *err (err may be NULL).  The codes are
 * PROTO_EBADREQUEST, PROTO_ETOOLARGE, PROTO_EUNKNOWNCMD, and
 * PROTO_EINTERNAL when memory ran out.  Never reads past len, never aborts.
 */
int proto_parse(const char *body, size_t len, const proto_limits *lim, proto_cmd **out,
                proto_error *err);

/*
 * Checks a raw Docker body the way proto_parse() does: create-raw-container's
 * "body", Options.HostConfig, a template file.  No object in it may hold two
 * keys equal ignoring ASCII case, or a key with a byte outside printable
 * ASCII.  Docker's Go decoder folds case, and some non-ASCII letters, when
 * it matches keys: a second spelling would slip past a policy that looks up
 * the first.  Nesting is bounded by max_depth (0: default).  "Labels" (any
 * case) may not use PROTO_RESERVED_LABEL_PREFIX.  path names the body in
 * error fields ("body").  Returns 0, or PROTO_EBADREQUEST with *err filled
 * (err may be NULL).
 */
int proto_raw_check(const json_t *body, const char *path, int max_depth, proto_error *err);

/* Looks key up in obj ignoring ASCII case.  For raw Docker bodies that have
 * passed proto_raw_check(), there is at most one such key.  Returns the
 * borrowed value or NULL. */
json_t *proto_json_get_ci(const json_t *obj, const char *key);

/* Absolute path s as Docker reads it, into out (len bytes, cut there):
 * repeated slashes made one and "." segments dropped ("/./proc//1" is
 * "/proc/1", "" is "/"); ".." segments stay, for the caller to refuse.
 * For checks of a path against a directory.  Pure. */
void proto_path_normal(const char *s, char *out, size_t len);

/* ------------------------------------------------------------------------
 * Replies.
 *
 *   {"schema":1,"ok":true,"node":"n1","command":"run","request_id":"r1",
 *    "result":{...}}
 *   {"schema":1,"ok":false,"node":"n1","command":"stop","request_id":"r1",
 *    "error":{"code":"not_found","message":"...","field":null,"http_status":404}}
 *
 * DockerMod-dialect replies also carry "statusCode", "dockerInstance" and
 * "Response":{"Body":result} (and, for a bulk create, "containers").
 * ------------------------------------------------------------------------ */
typedef struct proto_reply_info {
    proto_dialect dialect;  /* decides the DockerMod compatibility fields */
    const char *node;       /* node that did the work; NULL: null */
    const char *command;    /* canonical command name; NULL: null (unparsed) */
    const char *request_id; /* message id or correlation id; NULL: null */
    long http_status;       /* status of Docker's answer, 0 when none */
} proto_reply_info;

/* Fills *ri from cmd (may be NULL) and, when cmd is NULL, from a parse
 * error (may be NULL): dialect and command.  node and request_id are
 * copied as given (borrowed: they must outlive *ri). */
void proto_reply_info_init(proto_reply_info *ri, const proto_cmd *cmd, const proto_error *perr,
                           const char *node, const char *request_id);

/* Builds a success reply.  result is borrowed (a reference is taken); NULL
 * becomes JSON null.  Returns a new object (json_decref) or NULL when out of
 * memory. */
json_t *proto_reply_ok(const proto_reply_info *ri, json_t *result);

/* Builds an error reply.  code is a negative proto_code (anything else is
 * reported as "internal"); message and field may be NULL; http_status is
 * Docker's status (0: none, the field is null).  Returns a new object or
 * NULL when out of memory. */
json_t *proto_reply_error(const proto_reply_info *ri, int code, const char *message,
                          const char *field, long http_status);

/* The error reply for a message proto_parse() refused. */
json_t *proto_reply_parse_error(const proto_reply_info *ri, const proto_error *err);

/* Compact JSON text of a reply, keys in insertion order.  Returns a new
 * string (free()) or NULL. */
char *proto_reply_dumps(const json_t *reply);

/* The answer in place of reply (borrowed) when its text, size bytes, is over
 * a limit of max bytes (0: not known).  limit names the limit; NULL is
 * "max_reply", the node's own.  (A broker refuses messages over its own
 * limit too: RabbitMQ 4's default is 16 MiB.)  The answer is a too_large
 * error of the same request (node, command, request_id, dialect).  Its
 * error also says "size" and "max" (null: not known).  For a run it names
 * the run's "container": it ran, only its reply did not fit.  For a bulk
 * request it lists the "containers", each {"node", "ok", "id", "name"} in
 * piece order, without results.  A new object, or NULL when out of memory
 * or reply is NULL. */
json_t *proto_reply_too_large(const json_t *reply, size_t size, size_t max, const char *limit);

/* ------------------------------------------------------------------------
 * Result builders (the engine fills the struct; the shapes are documented
 * per command in docs/protocol.md).
 * ------------------------------------------------------------------------ */
typedef struct proto_run_result {
    const char *container_id;   /* run only */
    const char *container_name; /* run only; NULL: null */
    bool waited;                /* the command ran to its end: exit_code is valid */
    int64_t exit_code;
    bool captured;   /* output was captured (stdout/stderr present) */
    const char *out; /* stdout bytes (any bytes; made valid UTF-8) */
    size_t out_len;
    const char *err; /* stderr bytes */
    size_t err_len;
    bool truncated;          /* output hit output_limit */
    bool timed_out;          /* killed at the run time limit */
    bool removed;            /* run only: container removed afterwards */
    const char *started_at;  /* RFC 3339, NULL: left out */
    const char *finished_at; /* RFC 3339, NULL: left out */
    const char *error;       /* Docker's wait error message, NULL: left out */
    json_t *warnings;        /* borrowed; create warnings, NULL: left out */
} proto_run_result;

/* {"container":{"id","name"},"exit_code","stdout","stderr","truncated",
 *  "timed_out","removed",...}.  New object or NULL when out of memory. */
json_t *proto_result_run(const proto_run_result *r);

/* {"exit_code","stdout","stderr","truncated","timed_out"}. */
json_t *proto_result_exec(const proto_run_result *r);

/* {"stdout","stderr","truncated"}. */
json_t *proto_result_logs(const proto_run_result *r);

/* A JSON string from arbitrary bytes: invalid UTF-8 sequences and NUL
 * bytes become U+FFFD (many JSON readers, jansson's default included, refuse
 * \u0000).  NULL when out of memory. */
json_t *proto_json_text(const char *data, size_t len);

/* ------------------------------------------------------------------------
 * State-change events (published on <q>.events; docs/protocol.md "Events").
 * ------------------------------------------------------------------------ */

/* Our state for a Docker container event action: "start" -> "started",
 * "die" -> "exited", "destroy" -> "removed"; NULL for any other action. */
const char *proto_event_container_state(const char *docker_action);

/* {"schema","event":"container.<state>","node","time","time_nano",
 *  "container":{"id","name","image"},"request_id"[,"exit_code"]} from one
 * Docker container event (attributes borrowed: name, image, exitCode and
 * the container's labels).  NULL for an action without a state (see above),
 * a NULL id, or out of memory. */
json_t *proto_event_container(const char *node, const char *docker_action, const char *id,
                              int64_t time_nano, const json_t *attributes);

/* {"schema","event":"node.<state>","node","time","time_nano"}; state is
 * "up" or "down" (anything else: NULL). */
json_t *proto_event_node(const char *node, const char *state, int64_t time_nano);

/* The routing key of an event built above, "<event>.<node>" (e.g.
 * "container.exited.node1"), into buf (always NUL-terminated when len > 0).
 * Returns strlen(buf). */
size_t proto_event_key(const json_t *event, char *buf, size_t len);

/* ------------------------------------------------------------------------
 * One-line summaries for stdout.
 * ------------------------------------------------------------------------ */

/* "request id=r1 dialect=docker-dispatch cmd=run image=busybox name=x"
 * into buf (always NUL-terminated).  cmd may be NULL ("cmd=-").  Returns
 * strlen(buf). */
size_t proto_summary_request(const proto_cmd *cmd, const char *request_id, char *buf, size_t len);

/* The same as an object: {"event":"request","id":...,"cmd":...,...}.  New
 * object or NULL. */
json_t *proto_summary_request_json(const proto_cmd *cmd, const char *request_id);

/* "reply id=r1 cmd=run ok exit=0 container=abc123 1.2s" or
 * "reply id=r1 cmd=stop error=not_found status=404 field=... msg=\"...\" 0.0s"
 * from a reply built above.  duration_ms < 0 leaves the time out. */
size_t proto_summary_reply(const json_t *reply, int64_t duration_ms, char *buf, size_t len);

/* The same as an object: {"event":"reply","id":...,"ok":...,...}. */
json_t *proto_summary_reply_json(const json_t *reply, int64_t duration_ms);

/* JSON text for a log line: compact, ASCII only (everything else escaped).
 * New string (free()) or NULL. */
char *proto_summary_dumps(const json_t *line);

#ifdef __cplusplus
}
#endif
#endif /* PROTOCOL_H */
