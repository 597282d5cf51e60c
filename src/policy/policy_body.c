/*
 * policy_body.c -- the closed body: every key a create body may carry.
 * Also the rules of its nested objects (Mounts, endpoints, Healthcheck),
 * and the rule a refusal is counted under.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_internal.h"

/*
 * The closed body.  Every key a create body may carry is listed here: the
 * Engine API's up to 1.56, and those of older versions.  The keys with a
 * rule are checked below; the rest are harmless as Docker reads them.  A
 * key not listed is refused.  So a field Docker adds cannot slip past the
 * policy unchecked, as 1.43's HostConfig.Annotations (handed to the OCI
 * runtime) and 1.56's HostConfig.Umask would.  No policy key allows a key
 * listed as refused.
 */
typedef enum key_rule { K_OPEN, K_CHECKED, K_REFUSED } key_rule;

typedef struct body_key {
    const char *name;
    key_rule rule;
    const char *why; /* K_REFUSED */
} body_key;

static const body_key top_keys[] = {
    {"Hostname", K_OPEN, NULL},
    {"Domainname", K_OPEN, NULL},
    {"User", K_OPEN, NULL},
    {"AttachStdin", K_OPEN, NULL},
    {"AttachStdout", K_OPEN, NULL},
    {"AttachStderr", K_OPEN, NULL},
    {"ExposedPorts", K_OPEN, NULL},
    {"Tty", K_OPEN, NULL},
    {"OpenStdin", K_OPEN, NULL},
    {"StdinOnce", K_OPEN, NULL},
    {"Env", K_OPEN, NULL},
    {"Cmd", K_OPEN, NULL},
    {"Healthcheck", K_CHECKED, NULL},
    {"ArgsEscaped", K_OPEN, NULL},
    {"Image", K_CHECKED, NULL},
    {"Volumes", K_OPEN, NULL},
    {"WorkingDir", K_CHECKED, NULL},
    {"Entrypoint", K_OPEN, NULL},
    {"NetworkDisabled", K_OPEN, NULL},
    {"MacAddress", K_CHECKED, NULL},
    {"OnBuild", K_OPEN, NULL},
    {"Labels", K_OPEN, NULL},
    {"StopSignal", K_OPEN, NULL},
    {"StopTimeout", K_OPEN, NULL},
    {"Shell", K_OPEN, NULL},
    {"HostConfig", K_CHECKED, NULL},
    {"NetworkingConfig", K_CHECKED, NULL},
};

static const body_key host_keys[] = {
    {"Binds", K_CHECKED, NULL},
    {"ContainerIDFile", K_REFUSED, "would have dockerd write a file on the host"},
    {"LogConfig", K_CHECKED, NULL},
    {"NetworkMode", K_CHECKED, NULL},
    {"PortBindings", K_CHECKED, NULL},
    {"RestartPolicy", K_OPEN, NULL},
    {"AutoRemove", K_REFUSED, "would remove the container before its output is read (use Remove)"},
    {"VolumeDriver", K_REFUSED, "would choose a volume plugin"},
    {"VolumesFrom", K_CHECKED, NULL},
    {"CapAdd", K_CHECKED, NULL},
    {"CapDrop", K_OPEN, NULL},
    {"CgroupnsMode", K_CHECKED, NULL},
    {"Dns", K_OPEN, NULL},
    {"DnsOptions", K_OPEN, NULL},
    {"DnsSearch", K_OPEN, NULL},
    {"ExtraHosts", K_OPEN, NULL},
    {"GroupAdd", K_OPEN, NULL},
    {"IpcMode", K_CHECKED, NULL},
    {"Cgroup", K_CHECKED, NULL},
    {"Links", K_REFUSED, "would reach other containers of the host by name"},
    {"OomScoreAdj", K_CHECKED, NULL},
    {"PidMode", K_CHECKED, NULL},
    {"Privileged", K_CHECKED, NULL},
    {"PublishAllPorts", K_CHECKED, NULL},
    {"ReadonlyRootfs", K_OPEN, NULL},
    {"SecurityOpt", K_CHECKED, NULL},
    {"StorageOpt", K_REFUSED, "would set the storage driver's options"},
    {"Tmpfs", K_OPEN, NULL},
    {"UTSMode", K_CHECKED, NULL},
    {"UsernsMode", K_CHECKED, NULL},
    {"ShmSize", K_CHECKED, NULL},
    {"Sysctls", K_CHECKED, NULL},
    {"Runtime", K_CHECKED, NULL},
    {"ConsoleSize", K_OPEN, NULL},
    {"Isolation", K_REFUSED, "chooses the isolation technology (Windows)"},
    {"CpuShares", K_OPEN, NULL},
    {"Memory", K_CHECKED, NULL},
    {"NanoCpus", K_CHECKED, NULL},
    {"CgroupParent", K_CHECKED, NULL},
    {"BlkioWeight", K_OPEN, NULL},
    {"BlkioWeightDevice", K_REFUSED, "names host devices"},
    {"BlkioDeviceReadBps", K_REFUSED, "names host devices"},
    {"BlkioDeviceWriteBps", K_REFUSED, "names host devices"},
    {"BlkioDeviceReadIOps", K_REFUSED, "names host devices"},
    {"BlkioDeviceWriteIOps", K_REFUSED, "names host devices"},
    {"CpuPeriod", K_CHECKED, NULL},
    {"CpuQuota", K_CHECKED, NULL},
    {"CpuRealtimePeriod", K_REFUSED, "would take real-time CPU time from the host"},
    {"CpuRealtimeRuntime", K_REFUSED, "would take real-time CPU time from the host"},
    {"CpusetCpus", K_OPEN, NULL},
    {"CpusetMems", K_OPEN, NULL},
    {"Devices", K_CHECKED, NULL},
    {"DeviceCgroupRules", K_CHECKED, NULL},
    {"DeviceRequests", K_CHECKED, NULL},
    {"KernelMemory", K_OPEN, NULL},
    {"KernelMemoryTCP", K_OPEN, NULL},
    {"MemoryReservation", K_OPEN, NULL},
    {"MemorySwap", K_CHECKED, NULL},
    {"MemorySwappiness", K_OPEN, NULL},
    {"OomKillDisable", K_CHECKED, NULL},
    {"PidsLimit", K_CHECKED, NULL},
    {"Ulimits", K_CHECKED, NULL},
    {"CpuCount", K_REFUSED, "is a Windows setting"},
    {"CpuPercent", K_REFUSED, "is a Windows setting"},
    {"IOMaximumIOps", K_REFUSED, "is a Windows setting"},
    {"IOMaximumBandwidth", K_REFUSED, "is a Windows setting"},
    {"Mounts", K_CHECKED, NULL},
    {"MaskedPaths", K_CHECKED, NULL},
    {"ReadonlyPaths", K_CHECKED, NULL},
    {"Init", K_OPEN, NULL},
};

static const body_key networking_keys[] = {
    {"EndpointsConfig", K_CHECKED, NULL},
};

/* One network's endpoint (EndpointSettings). */
static const body_key endpoint_keys[] = {
    {"IPAMConfig", K_CHECKED, NULL},
    {"Links", K_REFUSED, "would reach other containers of the host by name"},
    {"Aliases", K_CHECKED, NULL},
    {"MacAddress", K_CHECKED, NULL}, /* API 1.44: the container-wide one's place */
    {"DriverOpts", K_REFUSED,
     "sets the network driver's options, kernel settings of the container's interface among "
     "them"},
    /* API 1.48: which of the container's networks routes by default; it
     * has one */
    {"GwPriority", K_OPEN, NULL},
    /* Docker joins the network NetworkID names, whatever the key says */
    {"NetworkID", K_CHECKED, NULL},
    /* what inspect reports of an endpoint: Go's types write them empty */
    {"EndpointID", K_REFUSED, "is what inspect reports, not a setting"},
    {"Gateway", K_REFUSED, "is what inspect reports, not a setting"},
    {"IPAddress", K_REFUSED, "is what inspect reports, not a setting"},
    {"IPPrefixLen", K_REFUSED, "is what inspect reports, not a setting"},
    {"IPv6Gateway", K_REFUSED, "is what inspect reports, not a setting"},
    {"GlobalIPv6Address", K_REFUSED, "is what inspect reports, not a setting"},
    {"GlobalIPv6PrefixLen", K_REFUSED, "is what inspect reports, not a setting"},
    {"DNSNames", K_REFUSED, "is what inspect reports, not a setting"},
};

/* One entry of HostConfig.Mounts, and its option objects. */
static const body_key mount_keys[] = {
    {"Type", K_CHECKED, NULL},
    {"Source", K_CHECKED, NULL},
    {"Target", K_OPEN, NULL},
    {"ReadOnly", K_OPEN, NULL},
    {"Consistency", K_OPEN, NULL},
    {"BindOptions", K_CHECKED, NULL},
    {"VolumeOptions", K_CHECKED, NULL},
    {"TmpfsOptions", K_CHECKED, NULL},
    {"ImageOptions", K_REFUSED, "belongs to image mounts, which are not allowed"},
    {"ClusterOptions", K_REFUSED, "belongs to cluster volumes, which are not allowed"},
};

static const body_key bind_option_keys[] = {
    {"Propagation", K_OPEN, NULL},
    {"NonRecursive", K_OPEN, NULL},
    {"CreateMountpoint", K_OPEN, NULL},
    {"ReadOnlyNonRecursive", K_OPEN, NULL},
    {"ReadOnlyForceRecursive", K_OPEN, NULL},
};

static const body_key volume_option_keys[] = {
    {"NoCopy", K_OPEN, NULL},
    {"Labels", K_CHECKED, NULL},
    {"DriverConfig", K_CHECKED, NULL},
    {"Subpath", K_CHECKED, NULL},
};

static const body_key driver_config_keys[] = {
    {"Name", K_CHECKED, NULL},
    {"Options", K_CHECKED, NULL},
};

static const body_key tmpfs_option_keys[] = {
    {"SizeBytes", K_OPEN, NULL},
    {"Mode", K_OPEN, NULL},
    {"Options", K_OPEN, NULL},
};

static const body_key health_keys[] = {
    {"Test", K_CHECKED, NULL},          {"Interval", K_CHECKED, NULL},
    {"Timeout", K_CHECKED, NULL},       {"StartPeriod", K_CHECKED, NULL},
    {"StartInterval", K_CHECKED, NULL}, {"Retries", K_CHECKED, NULL},
};

#define N_KEYS(t) (sizeof(t) / sizeof((t)[0]))

/* Refuses keys of obj that the table does not know, and known ones that
 * are never allowed (null or false values of those ask for nothing). */
static int check_known(const json_t *obj, const body_key *table, size_t n, const char *where,
                       proto_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const body_key *k = NULL;
        for (size_t i = 0; i < n && k == NULL; i++)
            if (strcasecmp(table[i].name, key) == 0)
                k = &table[i];
        char field[PROTO_FIELD_MAX];
        /* an empty key is named "", as the protocol names it */
        snprintf(field, sizeof field, "%s%.80s", where, k ? k->name : *key ? key : "\"\"");
        if (k == NULL)
            return policy__deny(err, PROTO_EPOLICY, field,
                                "is not a field the policy knows, so it is not allowed");
        if (k->rule == K_REFUSED && policy__asks(v))
            return policy__deny(err, PROTO_EPOLICY, field, "is not allowed: it %s", k->why);
    }
    return 0;
}

/* check_known() on an optional object: null passes, anything else than an
 * object is a value Docker could not read either. */
static int check_object(const json_t *obj, const body_key *table, size_t n, const char *where,
                        proto_error *err)
{
    if (obj == NULL || json_is_null(obj))
        return 0;
    char field[PROTO_FIELD_MAX];
    snprintf(field, sizeof field, "%.*s", (int)strlen(where) - 1, where);
    if (!json_is_object(obj))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be an object");
    return check_known(obj, table, n, where, err);
}

/* A create body's own keys: the closed body's top level. */
int policy__check_body_keys(const json_t *body, proto_error *err)
{
    return check_known(body, top_keys, N_KEYS(top_keys), "", err);
}

/* The keys of a create body's HostConfig. */
int policy__check_host_keys(const json_t *hc, proto_error *err)
{
    return check_known(hc, host_keys, N_KEYS(host_keys), "HostConfig.", err);
}

/* A volume's labels: the ones under the dispatcher's prefix say whose the
 * volume is (volume-list and the mount check read them), so only the
 * dispatcher sets them. */
static int check_volume_labels(const json_t *labels, const char *field, proto_error *err)
{
    if (labels == NULL || json_is_null(labels))
        return 0;
    if (!json_is_object(labels))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be an object of strings");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)labels, key, v)
    {
        if (!strncasecmp(key, PROTO_RESERVED_LABEL_PREFIX, strlen(PROTO_RESERVED_LABEL_PREFIX)))
            return policy__deny(err, PROTO_EPOLICY, field,
                                "labels under \"" PROTO_RESERVED_LABEL_PREFIX
                                "\" are the dispatcher's: they say whose a volume is");
        if (!json_is_string(v))
            return policy__deny(err, PROTO_EBADREQUEST, field, "must be an object of strings");
    }
    return 0;
}

/* VolumeOptions.DriverConfig: a listed driver; its options (the local
 * driver's type, device and o) can mount a host path or an NFS share. */
static int check_driver_config(const dd_policy *p, const json_t *dc, const char *where,
                               proto_error *err)
{
    char field[PROTO_FIELD_MAX];
    int rc = check_object(dc, driver_config_keys, N_KEYS(driver_config_keys), where, err);
    if (rc != 0 || dc == NULL || json_is_null(dc))
        return rc;
    const json_t *name = proto_json_get_ci(dc, "Name");
    snprintf(field, sizeof field, "%.100sName", where);
    if (name != NULL && !json_is_null(name) && !json_is_string(name))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
    if ((rc = policy_check_volume_driver(p, json_string_value(name), field, err)) != 0)
        return rc;
    snprintf(field, sizeof field, "%.100sOptions", where);
    if (policy__asks(proto_json_get_ci(dc, "Options")) && !p->allow_volume_options)
        return policy__deny(err, PROTO_EPOLICY, field,
                            "volume driver options can mount host paths or network shares (policy "
                            "allow_volume_options)");
    return 0;
}

/* A mount's VolumeOptions (checked for every type: Docker refuses them
 * on other types, the policy need not guess). */
static int check_volume_options(const dd_policy *p, const json_t *vo, const char *where,
                                proto_error *err)
{
    char sub[PROTO_FIELD_MAX], field[PROTO_FIELD_MAX];
    snprintf(sub, sizeof sub, "%.100sVolumeOptions.", where);
    int rc = check_object(vo, volume_option_keys, N_KEYS(volume_option_keys), sub, err);
    if (rc != 0 || vo == NULL || json_is_null(vo))
        return rc;
    snprintf(field, sizeof field, "%.100sLabels", sub);
    if ((rc = check_volume_labels(proto_json_get_ci(vo, "Labels"), field, err)) != 0)
        return rc;
    snprintf(field, sizeof field, "%.100sDriverConfig.", sub);
    if ((rc = check_driver_config(p, proto_json_get_ci(vo, "DriverConfig"), field, err)) != 0)
        return rc;
    const json_t *sp = proto_json_get_ci(vo, "Subpath");
    snprintf(field, sizeof field, "%.100sSubpath", sub);
    if (sp == NULL || json_is_null(sp))
        return 0;
    const char *s = json_string_value(sp);
    if (s == NULL)
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
    if (s[0] == '/' || policy__has_dotdot(s))
        return policy__deny(err, PROTO_EPOLICY, field,
                            "must be a path inside the volume: relative, without \"..\"");
    return 0;
}

/* One entry of HostConfig.Mounts: a closed set of keys; bind sources as
 * for Binds; volumes with the options above; tmpfs. */
static int check_mount(const dd_policy *p, const json_t *m, size_t i, proto_error *err)
{
    char field[64], where[PROTO_FIELD_MAX];
    snprintf(field, sizeof field, "HostConfig.Mounts[%zu]", i);
    snprintf(where, sizeof where, "%s.", field);
    if (!json_is_object(m))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be an object");
    int rc = check_known(m, mount_keys, N_KEYS(mount_keys), where, err);
    if (rc != 0)
        return rc;
    const char *type = json_string_value(proto_json_get_ci(m, "Type"));
    const json_t *source = proto_json_get_ci(m, "Source");
    const char *src = json_string_value(source);
    if (type == NULL)
        return policy__deny(err, PROTO_EBADREQUEST, field, "needs a Type");
    if (source != NULL && !json_is_null(source) && src == NULL)
        return policy__deny(err, PROTO_EBADREQUEST, field, "Source must be a string");
    snprintf(where, sizeof where, "%s.BindOptions.", field);
    if ((rc = check_object(proto_json_get_ci(m, "BindOptions"), bind_option_keys,
                           N_KEYS(bind_option_keys), where, err)) != 0)
        return rc;
    snprintf(where, sizeof where, "%s.TmpfsOptions.", field);
    if ((rc = check_object(proto_json_get_ci(m, "TmpfsOptions"), tmpfs_option_keys,
                           N_KEYS(tmpfs_option_keys), where, err)) != 0)
        return rc;
    snprintf(where, sizeof where, "%s.", field);
    if ((rc = check_volume_options(p, proto_json_get_ci(m, "VolumeOptions"), where, err)) != 0)
        return rc;
    if (strcmp(type, "bind") == 0) {
        if (src == NULL || !policy__bind_allowed(p, src))
            return policy__deny(err, PROTO_EPOLICY, field,
                                "host path %.200s may not be mounted (policy bind_prefixes)",
                                src ? src : "(none)");
    } else if (strcmp(type, "volume") != 0 && strcmp(type, "tmpfs") != 0) {
        return policy__deny(err, PROTO_EPOLICY, field, "mount type %.40s is not allowed", type);
    }
    return 0;
}

int policy__check_mounts(const dd_policy *p, const json_t *mounts, proto_error *err)
{
    if (mounts == NULL || json_is_null(mounts))
        return 0;
    if (!json_is_array(mounts))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.Mounts",
                            "must be an array of objects");
    size_t i;
    json_t *m;
    json_array_foreach(mounts, i, m)
    {
        int rc = check_mount(p, m, i, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* An endpoint's Aliases: a few host names (each resolves to this
 * container on the network). */
static int check_aliases(const json_t *al, const char *field, proto_error *err)
{
    if (al == NULL || json_is_null(al))
        return 0;
    if (!json_is_array(al))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be an array of strings");
    if (json_array_size(al) > POLICY_MAX_ALIASES)
        return policy__deny(err, PROTO_EPOLICY, field, "%zu aliases, at most %d are allowed",
                            json_array_size(al), POLICY_MAX_ALIASES);
    size_t i;
    json_t *a;
    json_array_foreach(al, i, a)
    {
        const char *s = json_string_value(a);
        size_t n = s ? strlen(s) : 0;
        bool ok = s != NULL && n >= 1 && n <= 253 && n == json_string_length(a) && isalnum(s[0]);
        for (size_t k = 0; ok && k < n; k++)
            ok = isalnum((unsigned char)s[k]) || s[k] == '.' || s[k] == '-' || s[k] == '_';
        if (!ok)
            return policy__deny(
                err, PROTO_EBADREQUEST, field,
                "each alias must be a host name of 1 to 253 characters [A-Za-z0-9._-]");
    }
    return 0;
}

/* One network's endpoint settings: a closed set of keys; the network is
 * the one the entry is for; no fixed addresses unless allowed. */
static int check_endpoint(const dd_policy *p, const char *net, const json_t *ep, proto_error *err)
{
    char where[PROTO_FIELD_MAX], field[PROTO_FIELD_MAX];
    snprintf(where, sizeof where, "NetworkingConfig.EndpointsConfig.%.40s.", net);
    int rc = check_known(ep, endpoint_keys, N_KEYS(endpoint_keys), where, err);
    if (rc != 0)
        return rc;
    const json_t *id = proto_json_get_ci(ep, "NetworkID");
    snprintf(field, sizeof field, "%.100sNetworkID", where);
    if (id != NULL && !json_is_null(id) && !json_is_string(id))
        return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
    if (policy__asks(id) && strcmp(json_string_value(id), net) != 0)
        return policy__deny(
            err, PROTO_EPOLICY, field,
            "must be empty or the entry's own network (%.40s): it names the network "
            "the container joins (policy networks)",
            net);
    snprintf(field, sizeof field, "%.100sMacAddress", where);
    if (policy__asks(proto_json_get_ci(ep, "MacAddress")) && !p->allow_mac_address)
        return policy__deny(
            err, PROTO_EPOLICY, field,
            "a fixed MAC address can take a neighbour's (policy allow_mac_address)");
    snprintf(field, sizeof field, "%.100sIPAMConfig", where);
    if (policy__asks(proto_json_get_ci(ep, "IPAMConfig")) && !p->allow_static_ip)
        return policy__deny(err, PROTO_EPOLICY, field,
                            "a fixed IP address can take a neighbour's (policy allow_static_ip)");
    snprintf(field, sizeof field, "%.100sAliases", where);
    return check_aliases(proto_json_get_ci(ep, "Aliases"), field, err);
}

/* NetworkingConfig's keys, each endpoint's settings, and the container's
 * own MAC address (an endpoint's before API 1.44). */
int policy__check_endpoints(const dd_policy *p, const json_t *body, proto_error *err)
{
    int rc;
    const json_t *ncfg = proto_json_get_ci(body, "NetworkingConfig");
    if (json_is_object(ncfg) &&
        (rc = check_known(ncfg, networking_keys, 1, "NetworkingConfig.", err)) != 0)
        return rc;
    const json_t *eps = json_is_object(ncfg) ? proto_json_get_ci(ncfg, "EndpointsConfig") : NULL;
    const char *net;
    json_t *ep;
    json_object_foreach((json_t *)(json_is_object(eps) ? eps : NULL), net, ep)
    {
        if (json_is_null(ep))
            continue;
        if (!json_is_object(ep))
            return policy__deny(err, PROTO_EBADREQUEST, "NetworkingConfig.EndpointsConfig",
                                "an endpoint must be an object");
        if ((rc = check_endpoint(p, net, ep, err)) != 0)
            return rc;
    }
    if (policy__asks(proto_json_get_ci(body, "MacAddress")) && !p->allow_mac_address)
        return policy__deny(
            err, PROTO_EPOLICY, "MacAddress",
            "a fixed MAC address can take a neighbour's (policy allow_mac_address)");
    return 0;
}

/* Healthcheck: Docker runs its probe as often as Interval says, down to
 * 1 ms.  Each duration is 0 (the image's or Docker's default) or at least
 * min_health_interval; retries are bounded. */
int policy__check_health(const dd_policy *p, const json_t *body, proto_error *err)
{
    const json_t *h = proto_json_get_ci(body, "Healthcheck");
    int rc = check_object(h, health_keys, N_KEYS(health_keys), "Healthcheck.", err);
    if (rc != 0 || h == NULL || json_is_null(h))
        return rc;
    const json_t *test = proto_json_get_ci(h, "Test");
    if (test != NULL && !json_is_null(test) && !json_is_array(test))
        return policy__deny(err, PROTO_EBADREQUEST, "Healthcheck.Test",
                            "must be an array of strings");
    static const char *const durations[] = {"Interval", "Timeout", "StartPeriod", "StartInterval"};
    for (size_t i = 0; i < N_KEYS(durations); i++) {
        char field[64];
        int64_t ns;
        snprintf(field, sizeof field, "Healthcheck.%s", durations[i]);
        if (policy__get_int(h, durations[i], &ns) != 0 || ns < 0)
            return policy__deny(err, PROTO_EBADREQUEST, field,
                                "must be a non-negative integer (nanoseconds)");
        if (ns > 0 && ns < p->min_health_interval)
            return policy__deny(
                err, PROTO_EPOLICY, field,
                "%.3f s is below the minimum of %.3f s (policy min_health_interval)",
                (double)ns / 1e9, (double)p->min_health_interval / 1e9);
    }
    int64_t retries;
    if (policy__get_int(h, "Retries", &retries) != 0 || retries < 0)
        return policy__deny(err, PROTO_EBADREQUEST, "Healthcheck.Retries",
                            "must be a non-negative integer");
    if (retries > POLICY_MAX_HEALTH_RETRIES)
        return policy__deny(err, PROTO_EPOLICY, "Healthcheck.Retries",
                            "%" PRId64 " retries, at most %d are allowed", retries,
                            POLICY_MAX_HEALTH_RETRIES);
    return 0;
}

/* ---- metric labels ---- */

/* What refusals name besides the keys of the body's tables. */
static const char *const other_rules[] = {
    "body",
    "HostConfig.LogConfig.Type",
    "HostConfig.LogConfig.Config",
    "Options.Driver",
    "Options.Repo",
    "Options.Filters",
    "user_id",
    "message_id",
};

/* 1 if name is prefix followed by one of the n keys of table. */
static int in_table(const char *name, const char *prefix, const body_key *table, size_t n)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(name + pl, table[i].name) == 0)
            return 1;
    return 0;
}

/* 1 if name is a rule a refusal names: a key of the body (endpoint keys
 * under "NetworkingConfig.EndpointsConfig.*.") or one of other_rules. */
static int known_rule(const char *name)
{
    for (size_t i = 0; i < N_KEYS(other_rules); i++)
        if (strcmp(name, other_rules[i]) == 0)
            return 1;
    return in_table(name, "", top_keys, N_KEYS(top_keys)) ||
           in_table(name, "HostConfig.", host_keys, N_KEYS(host_keys)) ||
           in_table(name, "NetworkingConfig.", networking_keys, N_KEYS(networking_keys)) ||
           in_table(name, "NetworkingConfig.EndpointsConfig.*.", endpoint_keys,
                    N_KEYS(endpoint_keys));
}

/* In f, a field under "NetworkingConfig.EndpointsConfig.<network>.", the
 * network's name (the publisher's choice, dots allowed) becomes "*": up
 * to the first segment that is an endpoint key. */
static void hide_network_name(char *f)
{
    static const char ep[] = "NetworkingConfig.EndpointsConfig.";
    if (strncmp(f, ep, sizeof ep - 1) != 0)
        return;
    char *net = f + sizeof ep - 1;
    for (char *dot = strchr(net, '.'); dot != NULL; dot = strchr(dot + 1, '.')) {
        size_t seg = strcspn(dot + 1, ".");
        for (size_t i = 0; i < N_KEYS(endpoint_keys); i++)
            if (strlen(endpoint_keys[i].name) == seg &&
                strncmp(dot + 1, endpoint_keys[i].name, seg) == 0) {
                net[0] = '*';
                memmove(net + 1, dot, strlen(dot) + 1);
                return;
            }
    }
    net[-1] = '\0'; /* no endpoint key: the endpoint as a whole */
}

void policy_rule_label(const char *field, char *buf, size_t len)
{
    char f[PROTO_FIELD_MAX];
    size_t n = 0;
    if (len == 0)
        return;
    for (const char *s = field ? field : ""; *s && n + 1 < sizeof f; s++) {
        size_t digits = s[0] == '[' ? strspn(s + 1, "0123456789") : 0;
        if (digits > 0 && s[1 + digits] == ']')
            s += digits + 1; /* an index, "[3]": one label for every entry */
        else
            f[n++] = *s;
    }
    f[n] = '\0';
    hide_network_name(f);
    /* the longest known rule the field is under: "HostConfig.Evil" is a
     * refusal of HostConfig, not a label of its own */
    while (!known_rule(f)) {
        char *dot = strrchr(f, '.');
        if (dot == NULL) {
            snprintf(buf, len, "%s", f[0] ? "other" : "");
            return;
        }
        *dot = '\0';
    }
    snprintf(buf, len, "%s", f);
}
