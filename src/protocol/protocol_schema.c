/*
 * protocol_schema.c -- the protocol's schema: every field and command of
 * both dialects, in three tables.
 *
 *   - proto__field_specs: a field's spelling, place (top level or
 *     "Options"), value type and range.  A field that means the same for
 *     every command also names the proto_cmd slot it fills.
 *   - command_specs: a command's name, alias, dialect and kind, the fields
 *     it accepts (REQ when required), and its mapper.  The mapper does what
 *     the field table cannot, such as building the Docker create body.
 *   - kind_names: the canonical name of each proto_kind.
 *
 * Adding a command is a command_specs row, and a mapper when the generic
 * slots are not enough.
 */
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "protocol_internal.h"

/* ------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------ */

#define D     PROTO_DIALECT_DISPATCH
#define M     PROTO_DIALECT_DOCKERMOD
#define TOP   LOC_TOP
#define OPT   LOC_OPTIONS
#define AT(m) offsetof(proto_cmd, m)

#define MAX_ITEMS 4096
#define MAX_I64   INT64_MAX
#define YEAR_S    31536000
#define DAY_S     86400

const field_spec proto__field_specs[F__COUNT] = {
    [F_IMAGE] = {"Image", D, TOP, V_IMAGE, 1, 512, S_STR, AT(image)},
    [F_CMD] = {"Cmd", D, TOP, V_ARGV, 0, MAX_ITEMS, S_NONE, 0},
    [F_CONTAINER] = {"Container", D, TOP, V_REF, 1, 128, S_STR, AT(container)},
    [F_VOLUME] = {"Volume", D, TOP, V_REF, 1, 255, S_STR, AT(volume)},
    [F_NAME] = {"Name", D, OPT, V_NAME, 2, 128, S_STR, AT(name)},
    [F_NEWNAME] = {"NewName", D, OPT, V_NAME, 2, 128, S_STR, AT(new_name)},
    [F_ENTRYPOINT] = {"Entrypoint", D, OPT, V_ARGV_OR_STR, 0, MAX_ITEMS, S_NONE, 0},
    [F_ATTACH] = {"Attach", D, OPT, V_ATTACH, 0, 8, S_NONE, 0},
    [F_REMOVE] = {"Remove", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(remove)},
    [F_TIME] = {"Time", D, OPT, V_INT, 0, DAY_S, S_TIME, AT(time_s)},
    [F_VOLUMES] = {"Volumes", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(volumes)},
    [F_FORCE] = {"Force", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(force)},
    [F_ENV] = {"Env", D, OPT, V_ENV, 0, MAX_ITEMS, S_NONE, 0},
    [F_LABELS] = {"Labels", D, OPT, V_LABELS, 0, MAX_ITEMS, S_NONE, 0},
    [F_WORKINGDIR] = {"WorkingDir", D, OPT, V_PATH, 1, 4096, S_NONE, 0},
    [F_USER] = {"User", D, OPT, V_USER, 1, 256, S_NONE, 0},
    [F_TTY] = {"Tty", D, OPT, V_BOOL, 0, 0, S_NONE, 0},
    [F_HOSTNAME] = {"Hostname", D, OPT, V_HOST, 1, 253, S_NONE, 0},
    [F_TIMEOUT] = {"Timeout", D, OPT, V_INT, 1, YEAR_S, S_I64, AT(timeout_s)},
    [F_MEMORY] = {"Memory", D, OPT, V_INT, 0, MAX_I64, S_NONE, 0},
    [F_CPUS] = {"Cpus", D, OPT, V_CPUS, 0, 1024, S_NONE, 0},
    [F_PIDSLIMIT] = {"PidsLimit", D, OPT, V_INT, -1, MAX_I64, S_NONE, 0},
    [F_NETWORKMODE] = {"NetworkMode", D, OPT, V_NETMODE, 1, 256, S_NONE, 0},
    [F_BINDS] = {"Binds", D, OPT, V_BINDS, 0, 256, S_NONE, 0},
    [F_PORTS] = {"Ports", D, OPT, V_PORTS, 0, 256, S_NONE, 0},
    [F_RESTARTPOLICY] = {"RestartPolicy", D, OPT, V_RESTART, 1, 32, S_NONE, 0},
    [F_OUTPUTLIMIT] = {"OutputLimit", D, OPT, V_INT, 0, OUTPUT_MAX, S_I64, AT(output_limit)},
    [F_HOSTCONFIG] = {"HostConfig", D, OPT, V_RAW, 0, 0, S_NONE, 0},
    [F_SIGNAL] = {"Signal", D, OPT, V_SIGNAL, 1, 32, S_STR, AT(signal)},
    [F_ALL] = {"All", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(all)},
    [F_FILTERS] = {"Filters", D, OPT, V_FILTERS, 0, 64, S_JSON, AT(filters)},
    [F_LIMIT] = {"Limit", D, OPT, V_INT, 0, 100000, S_INT, AT(limit)},
    [F_CLUSTER] = {"Cluster", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(cluster)},
    [F_TAIL] = {"Tail", D, OPT, V_INT, 0, 1000000, S_INT, AT(logs_tail)},
    [F_SINCE] = {"Since", D, OPT, V_INT, 0, MAX_I64, S_I64, AT(logs_since)},
    [F_UNTIL] = {"Until", D, OPT, V_INT, 0, MAX_I64, S_I64, AT(logs_until)},
    [F_TIMESTAMPS] = {"Timestamps", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(logs_timestamps)},
    [F_STDOUT] = {"Stdout", D, OPT, V_BOOL, 0, 0, S_NONE, 0},
    [F_STDERR] = {"Stderr", D, OPT, V_BOOL, 0, 0, S_NONE, 0},
    [F_PSARGS] = {"PsArgs", D, OPT, V_PSARGS, 1, 256, S_STR, AT(ps_args)},
    [F_TAG] = {"Tag", D, OPT, V_TAG, 1, 128, S_STR, AT(tag)},
    [F_REPO] = {"Repo", D, OPT, V_IMAGE, 1, 512, S_STR, AT(repo)},
    [F_NOPRUNE] = {"NoPrune", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(noprune)},
    [F_DRIVER] = {"Driver", D, OPT, V_DRIVER, 1, 256, S_STR, AT(driver)},
    [F_CONDITION] = {"Condition", D, OPT, V_CONDITION, 1, 16, S_STR, AT(condition)},
    [F_NETWORK] = {"Network", D, TOP, V_REF, 1, 255, S_STR, AT(network)},
    [F_PATH] = {"Path", D, OPT, V_CPATH, 1, 4096, S_STR, AT(path)},
    /* bounded by the message size cap (proto_limits.max_body) */
    [F_ARCHIVE] = {"Archive", D, OPT, V_BASE64, 1, MAX_I64, S_NONE, 0},
    [F_PAUSE] = {"Pause", D, OPT, V_BOOL, 0, 0, S_NONE, 0},
    [F_INTERNAL] = {"Internal", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(internal)},
    [F_INSTANCES] = {"Instances", D, OPT, V_INT, 1, 1000, S_INT, AT(instances)},
    [F_PLACEMENT] = {"Placement", D, OPT, V_PLACEMENT, 1, 16, S_STR, AT(placement)},
    [F_TEMPLATE] = {"Template", D, OPT, V_REF, 1, 128, S_STR, AT(template_name)},
    [F_PARAMS] = {"Params", D, OPT, V_LABELS, 0, 256, S_JSON, AT(params)},
    [F_PROGRESS] = {"Progress", D, OPT, V_BOOL, 0, 0, S_BOOL, AT(progress)},

    [F_DM_ID] = {"id", M, TOP, V_REF, 1, 128, S_STR, AT(container)},
    [F_DM_IMAGE] = {"image", M, TOP, V_IMAGE, 1, 512, S_STR, AT(image)},
    [F_DM_TEMPLATE] = {"template", M, TOP, V_REF, 1, 128, S_STR, AT(template_name)},
    [F_DM_INSTANCES] = {"instances", M, TOP, V_INT, 1, 1000, S_INT, AT(instances)},
    [F_DM_NAME] = {"name", M, TOP, V_NAME, 2, 128, S_STR, AT(name)},
    [F_DM_CMD] = {"cmd", M, TOP, V_ARGV, 0, MAX_ITEMS, S_NONE, 0},
    [F_DM_ENV] = {"env", M, TOP, V_ENV, 0, MAX_ITEMS, S_NONE, 0},
    [F_DM_ALL] = {"all", M, TOP, V_BOOL, 0, 0, S_BOOL, AT(cluster)},
    [F_DM_BODY] = {"body", M, TOP, V_RAW, 0, 0, S_NONE, 0},
    [F_DM_HOSTNAME] = {"hostname", M, TOP, V_HOST, 1, 253, S_STR, AT(hostname)},
    [F_DM_FORCE] = {"force", M, TOP, V_BOOL, 0, 0, S_BOOL, AT(force)},
    [F_DM_VOLUMES] = {"volumes", M, TOP, V_BOOL, 0, 0, S_BOOL, AT(volumes)},
    [F_DM_TIME] = {"time", M, TOP, V_INT, 0, DAY_S, S_TIME, AT(time_s)},
    [F_DM_PLACEMENT] = {"placement", M, TOP, V_PLACEMENT, 1, 16, S_STR, AT(placement)},
    [F_DM_PARAMS] = {"params", M, TOP, V_LABELS, 0, 256, S_JSON, AT(params)},
    [F_DM_PROGRESS] = {"progress", M, TOP, V_BOOL, 0, 0, S_BOOL, AT(progress)},
};

/* Fields that shape a new container (run, create). */
#define CONFIG_FIELDS                                                                              \
    F_CMD, F_NAME, F_ENTRYPOINT, F_ENV, F_LABELS, F_WORKINGDIR, F_USER, F_TTY, F_HOSTNAME,         \
        F_MEMORY, F_CPUS, F_PIDSLIMIT, F_NETWORKMODE, F_BINDS, F_PORTS, F_RESTARTPOLICY,           \
        F_HOSTCONFIG

static const command_spec command_specs[] = {
    /* docker-dispatch dialect */
    {"run",
     NULL,
     D,
     PROTO_CMD_RUN,
     proto__map_run,
     {F_IMAGE, CONFIG_FIELDS, F_ATTACH, F_REMOVE, F_TIMEOUT, F_OUTPUTLIMIT, F_INSTANCES,
      F_PLACEMENT, F_TEMPLATE, F_PARAMS, F_PROGRESS}},
    {"create",
     NULL,
     D,
     PROTO_CMD_CREATE,
     proto__map_create,
     {F_IMAGE, CONFIG_FIELDS, F_INSTANCES, F_PLACEMENT, F_TEMPLATE, F_PARAMS, F_PROGRESS}},
    {"start", NULL, D, PROTO_CMD_START, NULL, {REQ | F_CONTAINER}},
    {"stop", NULL, D, PROTO_CMD_STOP, NULL, {REQ | F_CONTAINER, F_TIME}},
    {"restart", NULL, D, PROTO_CMD_RESTART, NULL, {REQ | F_CONTAINER, F_TIME}},
    {"kill", NULL, D, PROTO_CMD_KILL, NULL, {REQ | F_CONTAINER, F_SIGNAL}},
    {"pause", NULL, D, PROTO_CMD_PAUSE, NULL, {REQ | F_CONTAINER}},
    {"unpause", NULL, D, PROTO_CMD_UNPAUSE, NULL, {REQ | F_CONTAINER}},
    {"rename",
     NULL,
     D,
     PROTO_CMD_RENAME,
     proto__map_rename,
     {REQ | F_CONTAINER, F_NAME, F_NEWNAME}},
    {"remove", "rm", D, PROTO_CMD_REMOVE, NULL, {REQ | F_CONTAINER, F_VOLUMES, F_FORCE}},
    {"wait", NULL, D, PROTO_CMD_WAIT, NULL, {REQ | F_CONTAINER, F_CONDITION, F_TIMEOUT}},
    {"inspect", NULL, D, PROTO_CMD_INSPECT, NULL, {REQ | F_CONTAINER}},
    {"list", "ps", D, PROTO_CMD_LIST, NULL, {F_ALL, F_FILTERS, F_LIMIT, F_CLUSTER}},
    {"logs",
     NULL,
     D,
     PROTO_CMD_LOGS,
     proto__map_logs,
     {REQ | F_CONTAINER, F_TAIL, F_SINCE, F_UNTIL, F_TIMESTAMPS, F_STDOUT, F_STDERR,
      F_OUTPUTLIMIT}},
    {"top", NULL, D, PROTO_CMD_TOP, NULL, {REQ | F_CONTAINER, F_PSARGS}},
    {"changes", NULL, D, PROTO_CMD_CHANGES, NULL, {REQ | F_CONTAINER}},
    {"exec",
     NULL,
     D,
     PROTO_CMD_EXEC,
     proto__map_exec,
     {REQ | F_CONTAINER, REQ | F_CMD, F_ENV, F_USER, F_WORKINGDIR, F_TTY, F_TIMEOUT,
      F_OUTPUTLIMIT}},
    {"pull", NULL, D, PROTO_CMD_PULL, proto__map_pull, {REQ | F_IMAGE, F_TAG, F_PROGRESS}},
    {"images", NULL, D, PROTO_CMD_IMAGES, NULL, {F_ALL, F_FILTERS, F_CLUSTER}},
    {"image-inspect", NULL, D, PROTO_CMD_IMAGE_INSPECT, NULL, {REQ | F_IMAGE}},
    {"image-tag", NULL, D, PROTO_CMD_IMAGE_TAG, NULL, {REQ | F_IMAGE, REQ | F_REPO, F_TAG}},
    {"image-remove", "rmi", D, PROTO_CMD_IMAGE_REMOVE, NULL, {REQ | F_IMAGE, F_FORCE, F_NOPRUNE}},
    {"volume-create",
     NULL,
     D,
     PROTO_CMD_VOLUME_CREATE,
     proto__map_volume_create,
     {F_VOLUME, F_DRIVER, F_LABELS}},
    {"volume-list", NULL, D, PROTO_CMD_VOLUME_LIST, NULL, {F_FILTERS}},
    {"volume-inspect", NULL, D, PROTO_CMD_VOLUME_INSPECT, NULL, {REQ | F_VOLUME}},
    {"volume-remove", NULL, D, PROTO_CMD_VOLUME_REMOVE, NULL, {REQ | F_VOLUME, F_FORCE}},
    {"info", NULL, D, PROTO_CMD_INFO, NULL, {0}},
    {"version", NULL, D, PROTO_CMD_VERSION, NULL, {0}},
    {"ping", NULL, D, PROTO_CMD_PING, NULL, {0}},
    {"nodes", NULL, D, PROTO_CMD_NODES, NULL, {0}},
    {"commit",
     NULL,
     D,
     PROTO_CMD_COMMIT,
     proto__map_commit,
     {REQ | F_CONTAINER, REQ | F_REPO, F_TAG, F_PAUSE}},
    {"archive-get", NULL, D, PROTO_CMD_ARCHIVE_GET, NULL, {REQ | F_CONTAINER, REQ | F_PATH}},
    {"archive-put",
     NULL,
     D,
     PROTO_CMD_ARCHIVE_PUT,
     proto__map_archive_put,
     {REQ | F_CONTAINER, REQ | F_PATH, REQ | F_ARCHIVE}},
    {"network-create",
     NULL,
     D,
     PROTO_CMD_NETWORK_CREATE,
     proto__map_volume_create,
     {REQ | F_NETWORK, F_DRIVER, F_INTERNAL, F_LABELS}},
    {"network-list", NULL, D, PROTO_CMD_NETWORK_LIST, NULL, {F_FILTERS}},
    {"network-inspect", NULL, D, PROTO_CMD_NETWORK_INSPECT, NULL, {REQ | F_NETWORK}},
    {"network-connect",
     NULL,
     D,
     PROTO_CMD_NETWORK_CONNECT,
     NULL,
     {REQ | F_NETWORK, REQ | F_CONTAINER}},
    {"network-disconnect",
     NULL,
     D,
     PROTO_CMD_NETWORK_DISCONNECT,
     NULL,
     {REQ | F_NETWORK, REQ | F_CONTAINER, F_FORCE}},
    {"network-remove", NULL, D, PROTO_CMD_NETWORK_REMOVE, NULL, {REQ | F_NETWORK}},

    /* DockerMod dialect */
    {"create-container",
     NULL,
     M,
     PROTO_CMD_CREATE,
     proto__map_dm_create,
     {F_DM_IMAGE, F_DM_TEMPLATE, F_DM_INSTANCES, F_DM_NAME, F_DM_CMD, F_DM_ENV, F_DM_PLACEMENT,
      F_DM_PARAMS, F_DM_PROGRESS}},
    {"start-container", NULL, M, PROTO_CMD_START, NULL, {REQ | F_DM_ID}},
    {"stop-container", NULL, M, PROTO_CMD_STOP, NULL, {REQ | F_DM_ID, F_DM_TIME}},
    {"restart-container", NULL, M, PROTO_CMD_RESTART, NULL, {REQ | F_DM_ID, F_DM_TIME}},
    {"delete-container",
     NULL,
     M,
     PROTO_CMD_REMOVE,
     NULL,
     {REQ | F_DM_ID, F_DM_FORCE, F_DM_VOLUMES}},
    {"inspect-container", NULL, M, PROTO_CMD_INSPECT, NULL, {REQ | F_DM_ID}},
    {"list-containers", NULL, M, PROTO_CMD_LIST, proto__map_dm_list, {F_DM_ALL}},
    {"list-images", NULL, M, PROTO_CMD_IMAGES, NULL, {F_DM_ALL}},
    {"create-raw-container",
     NULL,
     M,
     PROTO_CMD_CREATE,
     proto__map_dm_raw,
     {REQ | F_DM_BODY, F_DM_NAME, F_DM_INSTANCES, F_DM_PLACEMENT, F_DM_PROGRESS}},
    {"register", NULL, M, PROTO_CMD_REGISTER, NULL, {REQ | F_DM_HOSTNAME}},
    {"unregister", NULL, M, PROTO_CMD_UNREGISTER, NULL, {REQ | F_DM_HOSTNAME}},
};

#define N_COMMANDS (sizeof command_specs / sizeof command_specs[0])

static const char *const kind_names[PROTO_CMD__COUNT] = {
    [PROTO_CMD_NONE] = "",
    [PROTO_CMD_RUN] = "run",
    [PROTO_CMD_CREATE] = "create",
    [PROTO_CMD_START] = "start",
    [PROTO_CMD_STOP] = "stop",
    [PROTO_CMD_RESTART] = "restart",
    [PROTO_CMD_KILL] = "kill",
    [PROTO_CMD_PAUSE] = "pause",
    [PROTO_CMD_UNPAUSE] = "unpause",
    [PROTO_CMD_RENAME] = "rename",
    [PROTO_CMD_REMOVE] = "remove",
    [PROTO_CMD_WAIT] = "wait",
    [PROTO_CMD_INSPECT] = "inspect",
    [PROTO_CMD_LIST] = "list",
    [PROTO_CMD_LOGS] = "logs",
    [PROTO_CMD_TOP] = "top",
    [PROTO_CMD_CHANGES] = "changes",
    [PROTO_CMD_EXEC] = "exec",
    [PROTO_CMD_PULL] = "pull",
    [PROTO_CMD_IMAGES] = "images",
    [PROTO_CMD_IMAGE_INSPECT] = "image-inspect",
    [PROTO_CMD_IMAGE_TAG] = "image-tag",
    [PROTO_CMD_IMAGE_REMOVE] = "image-remove",
    [PROTO_CMD_VOLUME_CREATE] = "volume-create",
    [PROTO_CMD_VOLUME_LIST] = "volume-list",
    [PROTO_CMD_VOLUME_INSPECT] = "volume-inspect",
    [PROTO_CMD_VOLUME_REMOVE] = "volume-remove",
    [PROTO_CMD_INFO] = "info",
    [PROTO_CMD_VERSION] = "version",
    [PROTO_CMD_PING] = "ping",
    [PROTO_CMD_NODES] = "nodes",
    [PROTO_CMD_REGISTER] = "register",
    [PROTO_CMD_UNREGISTER] = "unregister",
    [PROTO_CMD_COMMIT] = "commit",
    [PROTO_CMD_ARCHIVE_GET] = "archive-get",
    [PROTO_CMD_ARCHIVE_PUT] = "archive-put",
    [PROTO_CMD_NETWORK_CREATE] = "network-create",
    [PROTO_CMD_NETWORK_LIST] = "network-list",
    [PROTO_CMD_NETWORK_INSPECT] = "network-inspect",
    [PROTO_CMD_NETWORK_CONNECT] = "network-connect",
    [PROTO_CMD_NETWORK_DISCONNECT] = "network-disconnect",
    [PROTO_CMD_NETWORK_REMOVE] = "network-remove",
};

const char *proto_kind_name(proto_kind kind)
{
    if ((int)kind < 0 || kind >= PROTO_CMD__COUNT || kind_names[kind] == NULL)
        return "";
    return kind_names[kind];
}

const char *proto_cmd_name(const proto_cmd *cmd)
{
    return cmd == NULL ? "" : proto_kind_name(cmd->kind);
}

const char *proto_dialect_name(proto_dialect d)
{
    switch (d) {
    case PROTO_DIALECT_DISPATCH:
        return "docker-dispatch";
    case PROTO_DIALECT_DOCKERMOD:
        return "dockermod";
    default:
        return "none";
    }
}

int proto__spec_accepts(const command_spec *s, int fid, int *required)
{
    for (int i = 0; i < FIELD_MAX && s->fields[i] != 0; i++) {
        if ((s->fields[i] & ~REQ) == fid) {
            if (required != NULL)
                *required = (s->fields[i] & REQ) != 0;
            return 1;
        }
    }
    return 0;
}

/* The field of dialect d at loc spelled key (ignoring case), or NULL. */
const field_spec *proto__find_field(proto_dialect d, field_loc loc, const char *key, int *fid)
{
    for (int i = 1; i < F__COUNT; i++) {
        const field_spec *f = &proto__field_specs[i];
        if (f->dialect == d && f->loc == loc && proto__ascii_ieq(f->name, key)) {
            *fid = i;
            return f;
        }
    }
    return NULL;
}

/* The command of dialect d named name or its alias (ignoring case). */
const command_spec *proto__find_command(proto_dialect d, const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const command_spec *s = &command_specs[i];
        if (s->dialect != d)
            continue;
        if (proto__ascii_ieq(s->name, name) ||
            (s->alias != NULL && proto__ascii_ieq(s->alias, name)))
            return s;
    }
    return NULL;
}
