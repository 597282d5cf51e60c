/*
 * protocol_internal.h -- what the parser's files share; not for the
 * protocol's users (they include protocol.h).
 *
 * The parser's files, in reading order:
 *   protocol_schema.c: The field and command tables, and their lookups.
 *   protocol_parse.c:  proto_parse: a message in, a proto_cmd out; errors.
 *   protocol_keys.c:   Keys equal ignoring case; raw Docker bodies.
 *   protocol_check.c:  What each field's value must look like.
 *   protocol_map.c:    The mappers onto the command model.
 * All of it is pure and may be called from any thread.
 */
#ifndef DD_PROTOCOL_INTERNAL_H
#define DD_PROTOCOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol.h"

enum field_id {
    F_NONE = 0,
    /* docker-dispatch, top level */
    F_IMAGE,
    F_CMD,
    F_CONTAINER,
    F_VOLUME,
    /* docker-dispatch, inside Options */
    F_NAME,
    F_NEWNAME,
    F_ENTRYPOINT,
    F_ATTACH,
    F_REMOVE,
    F_TIME,
    F_VOLUMES,
    F_FORCE,
    F_ENV,
    F_LABELS,
    F_WORKINGDIR,
    F_USER,
    F_TTY,
    F_HOSTNAME,
    F_TIMEOUT,
    F_MEMORY,
    F_CPUS,
    F_PIDSLIMIT,
    F_NETWORKMODE,
    F_BINDS,
    F_PORTS,
    F_RESTARTPOLICY,
    F_OUTPUTLIMIT,
    F_HOSTCONFIG,
    F_SIGNAL,
    F_ALL,
    F_FILTERS,
    F_LIMIT,
    F_CLUSTER,
    F_TAIL,
    F_SINCE,
    F_UNTIL,
    F_TIMESTAMPS,
    F_STDOUT,
    F_STDERR,
    F_PSARGS,
    F_TAG,
    F_REPO,
    F_NOPRUNE,
    F_DRIVER,
    F_CONDITION,
    F_NETWORK,
    F_PATH,
    F_ARCHIVE,
    F_PAUSE,
    F_INTERNAL,
    F_INSTANCES,
    F_PLACEMENT,
    F_TEMPLATE,
    F_PARAMS,
    F_PROGRESS,
    /* DockerMod, all top level */
    F_DM_ID,
    F_DM_IMAGE,
    F_DM_TEMPLATE,
    F_DM_INSTANCES,
    F_DM_NAME,
    F_DM_CMD,
    F_DM_ENV,
    F_DM_ALL,
    F_DM_BODY,
    F_DM_HOSTNAME,
    F_DM_FORCE,
    F_DM_VOLUMES,
    F_DM_TIME,
    F_DM_PLACEMENT,
    F_DM_PARAMS,
    F_DM_PROGRESS,
    F__COUNT
};

typedef enum field_loc { LOC_TOP, LOC_OPTIONS } field_loc;

/* What a value must look like. */
typedef enum vtype {
    V_REF,       /* container / volume / template reference */
    V_NAME,      /* name for a new container: like V_REF, at least 2 chars */
    V_IMAGE,     /* image reference */
    V_TAG,       /* image tag */
    V_HOST,      /* host name */
    V_SIGNAL,    /* signal name or number */
    V_USER,      /* user[:group] */
    V_PATH,      /* absolute path */
    V_CPATH,     /* a path in a container for archives: absolute, no "..",
                    not under /proc, /sys or /dev */
    V_BASE64,    /* base64 text (decoded by the command's mapper) */
    V_PLACEMENT, /* "spread" or "binpack" */
    V_NETMODE,   /* bridge, none, host, container:<id>, a network name */
    V_PSARGS,    /* ps arguments */
    V_DRIVER,    /* volume driver (may be a plugin reference) */
    V_CONDITION, /* wait condition */
    V_RESTART,   /* restart policy */
    V_BOOL,
    V_INT,  /* integer in [min, max] (an integral real is accepted) */
    V_CPUS, /* number in (0, max] */
    V_ARGV, /* array of strings, at most max */
    V_ARGV_OR_STR,
    V_ENV,     /* ["K=V", ...] or {"K":"V"} */
    V_LABELS,  /* {"k":"v"} */
    V_FILTERS, /* Docker filters: {"key":["v",...]} or {"key":{"v":true}} */
    V_ATTACH,  /* ["STDIN","STDOUT","STDERR"] */
    V_BINDS,   /* ["src:dst[:opts]", ...] */
    V_PORTS,   /* ["[ip:][hostPort:]containerPort[/proto]", ...] */
    V_RAW,     /* a raw Docker object, passed through */
} vtype;

/* Where a field's value goes when its meaning is the same for every command
 * that takes it; S_NONE fields are read by the command's mapper. */
typedef enum store_kind { S_NONE, S_STR, S_BOOL, S_INT, S_I64, S_TIME, S_JSON } store_kind;

/* max == OUTPUT_MAX: the limit comes from proto_limits.max_output. */
#define OUTPUT_MAX (-2)

typedef struct field_spec {
    const char *name; /* canonical spelling, used in error paths */
    proto_dialect dialect;
    field_loc loc;
    vtype type;
    int64_t min, max; /* V_INT range; strings: length; arrays: max items */
    store_kind store;
    size_t off; /* offset in proto_cmd for store != S_NONE */
} field_spec;

#define MAX_ARG 65536 /* one argv / env / label value */

typedef struct parse_ctx parse_ctx;
typedef int (*mapper_fn)(parse_ctx *c);

#define REQ       0x1000 /* or-ed into a field id: the command requires it */
#define FIELD_MAX 32

typedef struct command_spec {
    const char *name;
    const char *alias; /* NULL: none */
    proto_dialect dialect;
    proto_kind kind;
    mapper_fn map;           /* NULL: the generic slots say it all */
    short fields[FIELD_MAX]; /* accepted fields, REQ when required; 0 ends */
} command_spec;

/* One parse: its limits, where the error goes, the command being built. */
struct parse_ctx {
    proto_limits lim;
    proto_error *err;
    proto_cmd *cmd;
    const command_spec *spec;
    json_t *val[F__COUNT]; /* borrowed from the parsed message; validated */
};

/* One Ports entry, read (proto__parse_port_spec). */
typedef struct port_spec {
    char host_ip[48];
    char host_port[8];  /* "" : any */
    char container[16]; /* "80/tcp" */
} port_spec;

/* The field table, indexed by enum field_id (protocol_schema.c). */
extern const field_spec proto__field_specs[F__COUNT];

/* The field of dialect d at loc spelled key (ignoring case), or NULL. */
const field_spec *proto__find_field(proto_dialect d, field_loc loc, const char *key, int *fid);
/* The command of dialect d named name or its alias (ignoring case). */
const command_spec *proto__find_command(proto_dialect d, const char *name);
/* 1 if command s takes field fid; *required (when not NULL) says if it must. */
int proto__spec_accepts(const command_spec *s, int fid, int *required);

/* The mappers: what the field table cannot say about a command.  0, or the
 * failure recorded in c->err. */
int proto__map_run(parse_ctx *c);
int proto__map_create(parse_ctx *c);
int proto__map_rename(parse_ctx *c);
int proto__map_logs(parse_ctx *c);
int proto__map_exec(parse_ctx *c);
int proto__map_pull(parse_ctx *c);
int proto__map_volume_create(parse_ctx *c);
int proto__map_commit(parse_ctx *c);
int proto__map_archive_put(parse_ctx *c);
int proto__map_dm_create(parse_ctx *c);
int proto__map_dm_raw(parse_ctx *c);
int proto__map_dm_list(parse_ctx *c);

/* snprintf into a fixed buffer, cut short on purpose (bounded texts). */
void proto__bfmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records the failure in c->err and returns code.  Untrusted text goes in
 * only through proto__quote() or proto__describe(). */
int proto__fail(parse_ctx *c, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* proto__fail() with "out of memory". */
int proto__oom(parse_ctx *c);
/* An untrusted string, quoted and escaped into buf (short). */
const char *proto__quote(char *buf, size_t len, const char *s);
/* A JSON value for a message: strings quoted, numbers as written,
 * containers by kind. */
const char *proto__describe(char *buf, size_t len, const json_t *v);
/* The path of a field as errors name it: "Image", "Options.Time", "id". */
void proto__field_path(const field_spec *f, char *buf, size_t len);
/* parent + "." + an untrusted key, escaped and cut short. */
void proto__key_path(char *buf, size_t len, const char *parent, const char *key);
/* 1 if a and b are equal ignoring ASCII case. */
int proto__ascii_ieq(const char *a, const char *b);
/* Frees a NULL-terminated list of strings; NULL is fine. */
void proto__strv_free(char **v);

/* Fails with bad_request when obj holds keys equal ignoring case. */
int proto__check_ci_duplicates(parse_ctx *c, const json_t *obj, const char *path);
/* 1 if a label key is under the dispatcher's reserved prefix. */
int proto__reserved_label(const char *key);
/* Checks a raw Docker object: see proto_raw_check(). */
int proto__raw_check(parse_ctx *c, const json_t *body, const char *path, int max_depth);

/* Validates one field value.  0, or the failure recorded in c->err. */
int proto__check_value(parse_ctx *c, int fid, const char *path, json_t *v);
/* Checks a string field of type f->type.  0, or a bad_request. */
int proto__check_string(parse_ctx *c, const field_spec *f, const char *path, const json_t *v);
/* Reads an integer (or an integral real) into *out: 1, or 0 if v is none. */
int proto__get_int(const json_t *v, int64_t *out);
/* Parses "[ip:][hostPort:]containerPort[/proto]" into *ps: 1, or 0. */
int proto__parse_port_spec(const char *s, port_spec *ps);

#endif
