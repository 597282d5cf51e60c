/*
 * policy_create.c -- policy_check_create: the rules every create body
 * passes before it is sent.
 *
 * One function per rule, each reading the body the way Docker will.  Keys
 * match case-insensitively; a value must have the type Docker's decoder
 * expects, else it is refused rather than guessed at.  Rules are named
 * after the policy key that relaxes them, so a refusal says what to change.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "policy_internal.h"

/* True if path has a ".." component (it could climb out of where it
 * starts). */
bool policy__has_dotdot(const char *path)
{
    for (const char *s = path; (s = strstr(s, "..")) != NULL; s += 2)
        if ((s == path || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
            return true;
    return false;
}

/* 1 if path (absolute) lies in one of the allowed directories.  Paths
 * with ".." components are never allowed (they could climb out). */
bool policy__bind_allowed(const dd_policy *p, const char *path)
{
    if (p->bind_prefixes == NULL || path[0] != '/' || policy__has_dotdot(path))
        return false;
    for (size_t i = 0; p->bind_prefixes[i]; i++) {
        const char *pre = p->bind_prefixes[i];
        size_t n = strlen(pre);
        if (strcmp(pre, "/") == 0)
            return true;
        if (strncmp(path, pre, n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

/* HostConfig.Binds: "source:target[:options]"; a source starting with "/"
 * is a host path, anything else a named volume. */
static int check_binds(const dd_policy *p, const json_t *binds, proto_error *err)
{
    if (binds == NULL || json_is_null(binds))
        return 0;
    if (!json_is_array(binds))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.Binds",
                            "must be an array of strings");
    size_t i;
    json_t *b;
    json_array_foreach(binds, i, b)
    {
        char field[64];
        snprintf(field, sizeof field, "HostConfig.Binds[%zu]", i);
        const char *s = json_string_value(b);
        if (s == NULL)
            return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
        const char *colon = strchr(s, ':');
        if (colon == NULL)
            continue; /* "/data" alone is an anonymous volume at /data */
        size_t n = (size_t)(colon - s);
        char src[1024];
        if (n >= sizeof src)
            return policy__deny(err, PROTO_EBADREQUEST, field, "is too long");
        memcpy(src, s, n);
        src[n] = '\0';
        if (src[0] == '/' && !policy__bind_allowed(p, src))
            return policy__deny(err, PROTO_EPOLICY, field,
                                "host path %.200s may not be mounted (policy bind_prefixes)", src);
    }
    return 0;
}

/* A present, non-empty array or object (a value that asks for something). */
bool policy__asks(const json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_number(v))
        return json_number_value(v) != 0; /* Go's zero value: unset */
    return true;
}

static int check_caps(const dd_policy *p, const json_t *caps, proto_error *err)
{
    if (caps == NULL || json_is_null(caps))
        return 0;
    if (!json_is_array(caps))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.CapAdd",
                            "must be an array of strings");
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c)
    {
        char field[64], name[64];
        snprintf(field, sizeof field, "HostConfig.CapAdd[%zu]", i);
        const char *s = json_string_value(c);
        if (s == NULL)
            return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
        if (strlen(s) >= sizeof name)
            return policy__deny(
                err, PROTO_EPOLICY, field,
                "a capability name longer than %zu characters is not allowed (policy "
                "capabilities)",
                sizeof name - 1);
        policy__cap_norm(s, name, sizeof name);
        bool ok = false;
        for (size_t k = 0; p->capabilities && p->capabilities[k] && !ok; k++)
            ok = !strcmp(p->capabilities[k], name) || !strcmp(p->capabilities[k], "ALL");
        if (!ok)
            return policy__deny(err, PROTO_EPOLICY, field,
                                "capability %.60s is not allowed (policy capabilities)", name);
    }
    return 0;
}

static int check_security_opt(const json_t *opts, proto_error *err)
{
    if (opts == NULL || json_is_null(opts))
        return 0;
    if (!json_is_array(opts))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.SecurityOpt",
                            "must be an array of strings");
    size_t i;
    json_t *o;
    json_array_foreach(opts, i, o)
    {
        char field[64];
        snprintf(field, sizeof field, "HostConfig.SecurityOpt[%zu]", i);
        const char *s = json_string_value(o);
        if (s == NULL)
            return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
        if (strcmp(s, "no-new-privileges") && strcmp(s, "no-new-privileges:true") &&
            strcmp(s, "no-new-privileges=true"))
            return policy__deny(err, PROTO_EPOLICY, field,
                                "only no-new-privileges may be set (seccomp, AppArmor and SELinux "
                                "options could lift confinement)");
    }
    return 0;
}

/* The namespace modes that join the host's. */
static int check_namespaces(const dd_policy *p, const json_t *hc, proto_error *err)
{
    static const char *const modes[] = {"NetworkMode", "PidMode",    "IpcMode",
                                        "UTSMode",     "UsernsMode", "CgroupnsMode"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        const json_t *v = proto_json_get_ci(hc, modes[i]);
        char field[64];
        snprintf(field, sizeof field, "HostConfig.%s", modes[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_string(v))
            return policy__deny(err, PROTO_EBADREQUEST, field, "must be a string");
        /* "container:<id>" joins any container of the host, not only ours */
        const char *mode = json_string_value(v);
        if (!p->allow_host_namespaces &&
            (strcasecmp(mode, "host") == 0 || strncasecmp(mode, "container:", 10) == 0))
            return policy__deny(
                err, PROTO_EPOLICY, field,
                "the host's or another container's namespaces are not allowed (policy "
                "allow_host_namespaces)");
    }
    const json_t *cg = proto_json_get_ci(hc, "Cgroup"); /* "container:<id>" */
    if (!p->allow_host_namespaces && policy__asks(cg))
        return policy__deny(
            err, PROTO_EPOLICY, "HostConfig.Cgroup",
            "another container's cgroup is not allowed (policy allow_host_namespaces)");
    return 0;
}

/* A network a container may join: none, Docker's default bridge, or one
 * the policy lists.  Anything else could reach services on a network that
 * is not the dispatcher's to hand out (an --internal one, say). */
static bool network_allowed(const dd_policy *p, const char *name)
{
    return !strcmp(name, "none") || !strcmp(name, "bridge") || !strcmp(name, "default") ||
           policy__listed(p->networks, name);
}

/* The network a NetworkMode puts a container on, as EndpointsConfig names
 * it: "" and "default" are Docker's default bridge. */
static bool same_network(const char *mode, const char *name)
{
    bool mode_bridge =
        mode == NULL || !*mode || !strcmp(mode, "default") || !strcmp(mode, "bridge");
    bool name_bridge = !strcmp(name, "default") || !strcmp(name, "bridge");
    return mode_bridge ? name_bridge : !strcmp(mode, name);
}

/* NetworkMode and NetworkingConfig.EndpointsConfig: a container is on one
 * network, its NetworkMode's.  (check_namespaces reads the host's and
 * containers' namespaces.)  From API 1.44 on, Docker connects a container
 * to every network EndpointsConfig names.  So an entry for another network,
 * or a second entry, is refused, even for a listed network.  Each
 * endpoint's settings are checked with the closed body. */
static int check_networks(const dd_policy *p, const json_t *body, const json_t *hc,
                          proto_error *err)
{
    const char *mode = json_string_value(proto_json_get_ci(hc, "NetworkMode"));
    if (mode && *mode && strcasecmp(mode, "host") && strncasecmp(mode, "container:", 10) &&
        !network_allowed(p, mode))
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.NetworkMode",
                            "network %.100s is not allowed (policy networks)", mode);
    const json_t *nc = proto_json_get_ci(body, "NetworkingConfig");
    const json_t *eps = nc ? proto_json_get_ci(nc, "EndpointsConfig") : NULL;
    if (eps != NULL && !json_is_null(eps) && !json_is_object(eps))
        return policy__deny(err, PROTO_EBADREQUEST, "NetworkingConfig.EndpointsConfig",
                            "must be an object");
    const char *name;
    json_t *ep;
    json_object_foreach((json_t *)eps, name, ep)
    {
        if (!network_allowed(p, name))
            return policy__deny(err, PROTO_EPOLICY, "NetworkingConfig.EndpointsConfig",
                                "network %.100s is not allowed (policy networks)", name);
        if (json_object_size(eps) > 1 || !same_network(mode, name))
            return policy__deny(
                err, PROTO_EPOLICY, "NetworkingConfig.EndpointsConfig",
                "network %.100s is not the container's NetworkMode (%.100s): a container "
                "joins one network, its NetworkMode's (policy networks)",
                name, mode && *mode ? mode : "default");
    }
    return 0;
}

/* LogConfig: a log driver other than the daemon's default has dockerd
 * (root, host network) write wherever its options say.  So the type must
 * be listed, and options allowed. */
static int check_log(const dd_policy *p, const json_t *hc, proto_error *err)
{
    const json_t *lc = proto_json_get_ci(hc, "LogConfig");
    if (lc == NULL || json_is_null(lc))
        return 0;
    if (!json_is_object(lc))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.LogConfig", "must be an object");
    const json_t *type = proto_json_get_ci(lc, "Type");
    const char *t = json_string_value(type);
    if (type != NULL && !json_is_null(type) && t == NULL)
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.LogConfig.Type",
                            "must be a string");
    if (t && *t && !policy__listed(p->log_drivers, t))
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.LogConfig.Type",
                            "log driver %.60s is not allowed (policy log_drivers)", t);
    if (policy__asks(proto_json_get_ci(lc, "Config")) && !p->allow_log_options)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.LogConfig.Config",
                            "log driver options are not allowed (policy allow_log_options)");
    return 0;
}

/* Published ports listen on the host's addresses: off unless allowed. */
static int check_ports(const dd_policy *p, const json_t *hc, proto_error *err)
{
    if (p->allow_ports)
        return 0;
    if (policy__asks(proto_json_get_ci(hc, "PortBindings")))
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.PortBindings",
                            "publishing ports on the host is not allowed (policy allow_ports)");
    if (json_is_true(proto_json_get_ci(hc, "PublishAllPorts")))
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.PublishAllPorts",
                            "publishing ports on the host is not allowed (policy allow_ports)");
    return 0;
}

/* An integer field of hc (absent: 0).  -1 when it is there but not one. */
int policy__get_int(const json_t *hc, const char *key, int64_t *out)
{
    const json_t *v = proto_json_get_ci(hc, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* Sets hc's key (the spelling already there, else key) to v. */
static void set_int(json_t *hc, const char *key, int64_t v)
{
    const char *k;
    json_t *val;
    json_object_foreach(hc, k, val)
    {
        if (strcasecmp(k, key) == 0) {
            json_object_set_new(hc, k, json_integer(v));
            return;
        }
    }
    json_object_set_new(hc, key, json_integer(v));
}

/* What else can take memory the host needs: swap (-1 is unlimited), the
 * /dev/shm tmpfs, and an OOM score below 0 (the kernel then kills host
 * processes first).  Swap and shm are bounded by max_memory when it is set.
 * A negative OOM score is never allowed. */
static int check_memory_extras(const dd_policy *p, const json_t *hc, int64_t mem, proto_error *err)
{
    int64_t swap, shm, oom;
    if (policy__get_int(hc, "MemorySwap", &swap) || policy__get_int(hc, "ShmSize", &shm) ||
        policy__get_int(hc, "OomScoreAdj", &oom))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig",
                            "MemorySwap, ShmSize and OomScoreAdj must be integers");
    if (oom < 0)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.OomScoreAdj",
                            "a negative OOM score would have the kernel kill host processes first");
    if (p->max_memory <= 0)
        return 0;
    if (swap < 0 || (swap > 0 && swap > 2 * (mem > 0 ? mem : p->max_memory)))
        return policy__deny(
            err, PROTO_EPOLICY, "HostConfig.MemorySwap",
            "swap beyond twice the memory limit is not allowed (policy max_memory)");
    if (shm > p->max_memory)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.ShmSize",
                            "%" PRId64 " bytes is above the maximum of %" PRId64
                            " (policy max_memory)",
                            shm, p->max_memory);
    return 0;
}

/* CPUs (1e9 = one) of NanoCpus, or of CpuQuota per CpuPeriod (checked). */
static int64_t cpus_of(int64_t nano, int64_t quota, int64_t period)
{
    if (quota <= 0)
        return nano;
    __int128 c = (__int128)quota * NANO_PER_CPU / (period > 0 ? period : 100000);
    return c > INT64_MAX ? INT64_MAX : (int64_t)c;
}

void policy_body_resources(const json_t *body, int64_t *memory, int64_t *nano_cpus)
{
    const json_t *hc = proto_json_get_ci(body, "HostConfig");
    int64_t nano, quota, period;
    *memory = *nano_cpus = 0;
    if (!json_is_object(hc) || policy__get_int(hc, "Memory", memory) ||
        policy__get_int(hc, "NanoCpus", &nano) || policy__get_int(hc, "CpuQuota", &quota) ||
        policy__get_int(hc, "CpuPeriod", &period))
        return;
    *nano_cpus = cpus_of(nano, quota, period);
}

/* Memory, CPUs and pids: a default where the body has none, and a maximum
 * that an explicit value (or "unlimited") may not pass. */
static int check_resources(const dd_policy *p, json_t *hc, proto_error *err)
{
    int64_t mem, nano, quota, period, pids;
    if (policy__get_int(hc, "Memory", &mem) || policy__get_int(hc, "NanoCpus", &nano) ||
        policy__get_int(hc, "CpuQuota", &quota) || policy__get_int(hc, "CpuPeriod", &period) ||
        policy__get_int(hc, "PidsLimit", &pids))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig",
                            "Memory, NanoCpus, CpuQuota, CpuPeriod and PidsLimit must be integers");

    if (mem <= 0 && (p->default_memory > 0 || p->max_memory > 0))
        set_int(hc, "Memory", mem = p->default_memory > 0 ? p->default_memory : p->max_memory);
    if (p->max_memory > 0 && mem > p->max_memory)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.Memory",
                            "%" PRId64 " bytes is above the maximum of %" PRId64
                            " (policy max_memory)",
                            mem, p->max_memory);

    /* CpuQuota/CpuPeriod is the other way to say NanoCpus; the ranges are
     * Docker's own (microseconds), and keep the division below sound */
    if (period != 0 && (period < 1000 || period > 1000000))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.CpuPeriod",
                            "must be from 1000 to 1000000 (microseconds)");
    if (quota > 0 && quota < 1000)
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.CpuQuota",
                            "must be at least 1000 (microseconds), or -1");
    int64_t cpus = cpus_of(nano, quota, period);
    if (cpus <= 0 && (p->default_nano_cpus > 0 || p->max_nano_cpus > 0))
        set_int(hc, "NanoCpus",
                cpus = p->default_nano_cpus > 0 ? p->default_nano_cpus : p->max_nano_cpus);
    if (p->max_nano_cpus > 0 && cpus > p->max_nano_cpus)
        return policy__deny(err, PROTO_EPOLICY,
                            quota > 0 ? "HostConfig.CpuQuota" : "HostConfig.NanoCpus",
                            "%.3f CPUs is above the maximum of %.3f (policy max_cpus)",
                            (double)cpus / NANO_PER_CPU, (double)p->max_nano_cpus / NANO_PER_CPU);

    if (pids <= 0 && proto_json_get_ci(hc, "PidsLimit") != NULL &&
        !json_is_null(proto_json_get_ci(hc, "PidsLimit")) && p->max_pids > 0)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.PidsLimit",
                            "an unlimited pids limit is not allowed (policy max_pids)");
    if (pids <= 0 && (p->default_pids > 0 || p->max_pids > 0))
        set_int(hc, "PidsLimit", pids = p->default_pids > 0 ? p->default_pids : p->max_pids);
    if (p->max_pids > 0 && pids > p->max_pids)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.PidsLimit",
                            "%" PRId64 " is above the maximum of %" PRId64 " (policy max_pids)",
                            pids, p->max_pids);
    return check_memory_extras(p, hc, mem, err);
}

/* WorkingDir: absolute, no "..", not under /proc or /sys. */
int policy_check_workdir(const char *w, const char *field, proto_error *err)
{
    char n[4100]; /* "/./proc" and "//proc" are /proc too */
    proto_path_normal(w, n, sizeof n);
    if (w[0] != '/' || policy__has_dotdot(w) || !strncmp(n, "/proc", 5) || !strncmp(n, "/sys", 4))
        return policy__deny(err, PROTO_EPOLICY, field,
                            "must be an absolute path without \"..\", outside /proc and /sys");
    return 0;
}

static int check_workdir(const json_t *body, proto_error *err)
{
    const json_t *v = proto_json_get_ci(body, "WorkingDir");
    if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return 0;
    const char *w = json_string_value(v);
    if (w == NULL)
        return policy__deny(err, PROTO_EBADREQUEST, "WorkingDir", "must be a string");
    return policy_check_workdir(w, "WorkingDir", err);
}

/* The HostConfig keys that lift isolation in a way no other rule covers;
 * none has a policy key to allow it. */
static int check_never(const json_t *hc, proto_error *err)
{
    static const struct {
        const char *key, *why;
    } never[] = {
        {"VolumesFrom", "would inherit another container's mounts"},
        {"Sysctls", "would change kernel settings"},
        {"CgroupParent", "would move the container out of Docker's cgroup"},
        {"OomKillDisable", "would let the container hold memory the host needs"},
        {"Runtime", "would choose another container runtime"},
        {"Ulimits", "would raise the container's limits past the daemon's defaults"},
    };
    /* Even empty lists count here: [] unmasks /proc and /sys (what
     * systempaths=unconfined does), e.g. a writable /proc/sys. */
    static const char *const paths[] = {"MaskedPaths", "ReadonlyPaths"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *v = proto_json_get_ci(hc, paths[i]);
        if (v != NULL && !json_is_null(v)) {
            char field[64];
            snprintf(field, sizeof field, "HostConfig.%s", paths[i]);
            return policy__deny(err, PROTO_EPOLICY, field,
                                "is not allowed: it changes which host paths the container sees");
        }
    }
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        const json_t *v = proto_json_get_ci(hc, never[i].key);
        if (policy__asks(v) && !(json_is_string(v) && !strcmp(never[i].key, "Runtime") &&
                                 !strcmp(json_string_value(v), "runc"))) {
            char field[64];
            snprintf(field, sizeof field, "HostConfig.%s", never[i].key);
            return policy__deny(err, PROTO_EPOLICY, field, "is not allowed: it %s", never[i].why);
        }
    }
    return 0;
}

int policy_check_create(const dd_policy *p, json_t *body, proto_error *err)
{
    int rc;
    if (!json_is_object(body))
        return policy__deny(err, PROTO_EBADREQUEST, "body", "must be an object");
    if ((rc = policy__check_body_keys(body, err)) != 0 || (rc = check_workdir(body, err)) != 0)
        return rc;
    if ((rc = policy__check_endpoints(p, body, err)) != 0 ||
        (rc = policy__check_health(p, body, err)) != 0)
        return rc;
    const json_t *img = proto_json_get_ci(body, "Image");
    if (img != NULL && !json_is_string(img))
        return policy__deny(err, PROTO_EBADREQUEST, "Image", "must be a string");
    if ((rc = policy_check_image(p, json_string_value(img), err)) != 0)
        return rc;

    json_t *hc = proto_json_get_ci(body, "HostConfig");
    if (hc == NULL || json_is_null(hc)) {
        hc = json_object();
        if (hc == NULL || json_object_set_new(body, "HostConfig", hc) != 0)
            return policy__deny(err, PROTO_EINTERNAL, "HostConfig", "out of memory");
    }
    if (!json_is_object(hc))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig", "must be an object");
    if ((rc = policy__check_host_keys(hc, err)) != 0)
        return rc;

    const json_t *priv = proto_json_get_ci(hc, "Privileged");
    if (priv != NULL && !json_is_boolean(priv) && !json_is_null(priv))
        return policy__deny(err, PROTO_EBADREQUEST, "HostConfig.Privileged",
                            "must be true or false");
    if (json_is_true(priv) && !p->allow_privileged)
        return policy__deny(err, PROTO_EPOLICY, "HostConfig.Privileged",
                            "privileged containers are not allowed (policy allow_privileged)");
    if ((rc = check_namespaces(p, hc, err)) != 0)
        return rc;
    static const char *const devices[] = {"Devices", "DeviceRequests", "DeviceCgroupRules"};
    for (size_t i = 0; i < 3; i++)
        if (!p->allow_devices && policy__asks(proto_json_get_ci(hc, devices[i]))) {
            char field[64];
            snprintf(field, sizeof field, "HostConfig.%s", devices[i]);
            return policy__deny(err, PROTO_EPOLICY, field,
                                "host devices are not allowed (policy allow_devices)");
        }
    if ((rc = check_binds(p, proto_json_get_ci(hc, "Binds"), err)) != 0 ||
        (rc = policy__check_mounts(p, proto_json_get_ci(hc, "Mounts"), err)) != 0 ||
        (rc = check_caps(p, proto_json_get_ci(hc, "CapAdd"), err)) != 0 ||
        (rc = check_security_opt(proto_json_get_ci(hc, "SecurityOpt"), err)) != 0 ||
        (rc = check_networks(p, body, hc, err)) != 0 || (rc = check_log(p, hc, err)) != 0 ||
        (rc = check_ports(p, hc, err)) != 0)
        return rc;
    if ((rc = check_never(hc, err)) != 0)
        return rc;
    return check_resources(p, hc, err);
}
