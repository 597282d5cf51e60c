/*
 * protocol_internal.h -- what the parser's files share; not for the
 * protocol's users (they include protocol.h).
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

struct parse_ctx {
    proto_limits lim;
    proto_error *err;
    proto_cmd *cmd;
    const command_spec *spec;
    json_t *val[F__COUNT]; /* borrowed from the parsed message; validated */
};

typedef struct port_spec {
    char host_ip[48];
    char host_port[8];  /* "" : any */
    char container[16]; /* "80/tcp" */
} port_spec;

#endif
