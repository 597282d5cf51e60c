/*
 * policy.c -- the security policy (see policy.h).
 *
 * One function per rule, each reading the body the way Docker will: keys
 * case-insensitively, values of the type Docker's decoder expects (anything
 * else is refused here rather than guessed at).  Rules are named after the
 * policy key that relaxes them, so a refusal says what to change.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_internal.h"

#define MAX_LIST 256 /* entries of a policy list */
/* ------------------------------------------------------------------------
 * Building and freeing
 * ------------------------------------------------------------------------ */

void policy_init(dd_policy *p)
{
    memset(p, 0, sizeof *p);
    p->max_archive = POLICY_DEFAULT_MAX_ARCHIVE;
    quotas_init(&p->quotas);
    p->min_health_interval = POLICY_DEFAULT_MIN_HEALTH_INTERVAL;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void policy_cleanup(dd_policy *p)
{
    if (p == NULL)
        return;
    strv_free(p->images);
    strv_free(p->bind_prefixes);
    strv_free(p->capabilities);
    strv_free(p->networks);
    strv_free(p->log_drivers);
    strv_free(p->admin_users);
    strv_free(p->registries);
    strv_free(p->network_drivers);
    quotas_cleanup(&p->quotas);
    free(p->commit_prefix);
    strv_free(p->volume_drivers);
    policy_init(p);
}

/* Capability name as Docker compares it: upper case, without "CAP_". */
void policy__cap_norm(const char *in, char *out, size_t len)
{
    if (strncasecmp(in, "CAP_", 4) == 0)
        in += 4;
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++)
        out[i] = (char)toupper((unsigned char)in[i]);
    out[i] = '\0';
}

/* A list of non-empty strings into a NULL-terminated array; kind says how
 * each is checked.  0 or -1 with errbuf. */
enum list_kind { L_IMAGE, L_PREFIX, L_CAP, L_NAME };

static int read_list(const json_t *v, const char *key, enum list_kind kind, char ***out,
                     char *errbuf, size_t errlen)
{
    if (!json_is_array(v) || json_array_size(v) > MAX_LIST) {
        snprintf(errbuf, errlen, "policy.%s must be an array of at most %d strings", key, MAX_LIST);
        return -1;
    }
    char **arr = calloc(json_array_size(v) + 1, sizeof *arr);
    if (arr == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *s = json_string_value(item);
        if (s == NULL || *s == '\0' || strlen(s) > 512) {
            snprintf(errbuf, errlen, "policy.%s[%zu] must be a non-empty string", key, i);
            goto fail;
        }
        char buf[520];
        snprintf(buf, sizeof buf, "%s", s);
        if (kind == L_PREFIX) {
            size_t n = strlen(buf);
            if (buf[0] != '/' || strstr(buf, "/../") || (n >= 3 && !strcmp(buf + n - 3, "/.."))) {
                snprintf(errbuf, errlen, "policy.%s[%zu] must be an absolute path without \"..\"",
                         key, i);
                goto fail;
            }
            while (n > 1 && buf[n - 1] == '/')
                buf[--n] = '\0'; /* "/srv/" and "/srv" mean the same */
        } else if (kind == L_CAP) {
            policy__cap_norm(s, buf, sizeof buf);
        }
        if ((arr[i] = strdup(buf)) == NULL) {
            snprintf(errbuf, errlen, "out of memory");
            goto fail;
        }
    }
    *out = arr;
    return 0;
fail:
    strv_free(arr);
    return -1;
}

/* A non-negative integer, or (unit: "CPUs", "seconds") a number of them
 * from 0 to 1024 in billionths, into *out. */
static int read_amount(const json_t *v, const char *key, const char *unit, int64_t *out,
                       char *errbuf, size_t errlen)
{
    if (unit && json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 1024) {
        *out = (int64_t)(json_number_value(v) * (double)NANO_PER_CPU + 0.5);
        return 0;
    }
    if (!unit && json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (unit)
        snprintf(errbuf, errlen, "policy.%s must be a number of %s from 0 to 1024", key, unit);
    else
        snprintf(errbuf, errlen, "policy.%s must be a non-negative integer", key);
    return -1;
}

/* 1 if s[0..n) is a path component of a repository name: lower-case
 * letters and digits, with '.', '_' or '-' between them. */
static bool repo_component_ok(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
            (s[i] == '\0' || strchr("._-", s[i]) == NULL))
            return false;
    return true;
}

/* A repository path prefix (commit_prefix) into *out, without a trailing
 * '/': path components, the first of which may be a registry host with a
 * port ("localhost:5000/jobs").  0 or -1 with errbuf. */
static int read_repo(const json_t *v, const char *key, char **out, char *errbuf, size_t errlen)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    while (n > 0 && s[n - 1] == '/')
        n--;
    bool ok = n > 0 && n <= 200;
    for (size_t at = 0; ok && at < n;) {
        size_t len = strcspn(s + at, "/");
        if (at + len > n)
            len = n - at;
        const char *colon = at == 0 ? memchr(s, ':', len) : NULL;
        size_t name = colon ? (size_t)(colon - s) : len;
        ok = repo_component_ok(s + at, name) &&
             (colon == NULL ||
              (len > name + 1 && strspn(colon + 1, "0123456789") == len - name - 1));
        at += len + 1;
    }
    if (!ok) {
        snprintf(errbuf, errlen,
                 "policy.%s must be a repository path such as \"localhost:5000/jobs\" (lower-case "
                 "letters, digits, '.', '_', '-', '/'; at most 200)",
                 key);
        return -1;
    }
    free(*out);
    if ((*out = strndup(s, n)) == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* The config keys, one row each: what the value is and where it goes.
 * Adding a key is a row here (and a field in dd_policy). */
typedef enum key_kind {
    KEY_LIST,
    KEY_BOOL,
    KEY_AMOUNT,
    KEY_CPUS,
    KEY_SECONDS,
    KEY_COUNT,
    KEY_SCOPE,
    KEY_QUOTAS,
    KEY_REPO
} key_kind;

typedef struct policy_key {
    const char *name;
    key_kind kind;
    size_t off;          /* offsetof(dd_policy, ...) */
    enum list_kind list; /* KEY_LIST */
} policy_key;

#define AT(f) offsetof(dd_policy, f)

static const policy_key keys[] = {
    {"images", KEY_LIST, AT(images), L_IMAGE},
    {"bind_prefixes", KEY_LIST, AT(bind_prefixes), L_PREFIX},
    {"capabilities", KEY_LIST, AT(capabilities), L_CAP},
    {"networks", KEY_LIST, AT(networks), L_NAME},
    {"log_drivers", KEY_LIST, AT(log_drivers), L_NAME},
    {"registries", KEY_LIST, AT(registries), L_NAME},
    {"admin_users", KEY_LIST, AT(admin_users), L_NAME},
    {"network_drivers", KEY_LIST, AT(network_drivers), L_NAME},
    {"max_archive", KEY_AMOUNT, AT(max_archive), 0},
    {"commit_prefix", KEY_REPO, AT(commit_prefix), 0},
    {"allow_privileged", KEY_BOOL, AT(allow_privileged), 0},
    {"allow_host_namespaces", KEY_BOOL, AT(allow_host_namespaces), 0},
    {"allow_devices", KEY_BOOL, AT(allow_devices), 0},
    {"allow_log_options", KEY_BOOL, AT(allow_log_options), 0},
    {"allow_ports", KEY_BOOL, AT(allow_ports), 0},
    {"require_user_id", KEY_BOOL, AT(require_user_id), 0},
    {"scope", KEY_SCOPE, AT(scope_host), 0},
    {"default_memory", KEY_AMOUNT, AT(default_memory), 0},
    {"max_memory", KEY_AMOUNT, AT(max_memory), 0},
    {"default_cpus", KEY_CPUS, AT(default_nano_cpus), 0},
    {"max_cpus", KEY_CPUS, AT(max_nano_cpus), 0},
    {"default_pids", KEY_AMOUNT, AT(default_pids), 0},
    {"max_pids", KEY_AMOUNT, AT(max_pids), 0},
    {"max_containers", KEY_COUNT, AT(max_containers), 0},
    {"quotas", KEY_QUOTAS, AT(quotas), 0},
    {"volume_drivers", KEY_LIST, AT(volume_drivers), L_NAME},
    {"allow_volume_options", KEY_BOOL, AT(allow_volume_options), 0},
    {"allow_mac_address", KEY_BOOL, AT(allow_mac_address), 0},
    {"allow_static_ip", KEY_BOOL, AT(allow_static_ip), 0},
    {"min_health_interval", KEY_SECONDS, AT(min_health_interval), 0},
};

/* Reads one key's value into p.  0 or -1 with errbuf. */
static int read_key(dd_policy *p, const policy_key *k, const json_t *v, char *errbuf, size_t errlen)
{
    char *at = (char *)p + k->off;
    switch (k->kind) {
    case KEY_LIST:
        return read_list(v, k->name, k->list, (char ***)at, errbuf, errlen);
    case KEY_BOOL:
        if (!json_is_boolean(v)) {
            snprintf(errbuf, errlen, "policy.%s must be true or false", k->name);
            return -1;
        }
        *(bool *)at = json_is_true(v);
        return 0;
    case KEY_SCOPE: {
        const char *sc = json_string_value(v);
        if (sc == NULL || (strcmp(sc, "cluster") && strcmp(sc, "host"))) {
            snprintf(errbuf, errlen, "policy.scope must be \"cluster\" or \"host\"");
            return -1;
        }
        *(bool *)at = !strcmp(sc, "host");
        return 0;
    }
    case KEY_QUOTAS:
        return quotas_from_json((dd_quotas *)at, v, errbuf, errlen);
    case KEY_REPO:
        return read_repo(v, k->name, (char **)at, errbuf, errlen);
    case KEY_AMOUNT:
        return read_amount(v, k->name, NULL, (int64_t *)at, errbuf, errlen);
    case KEY_CPUS:
    case KEY_SECONDS:
        return read_amount(v, k->name, k->kind == KEY_CPUS ? "CPUs" : "seconds", (int64_t *)at,
                           errbuf, errlen);
    case KEY_COUNT: {
        int64_t n = 0;
        if (read_amount(v, k->name, NULL, &n, errbuf, errlen) != 0)
            return -1;
        if (n > 1000000) {
            snprintf(errbuf, errlen, "policy.%s must be at most 1000000", k->name);
            return -1;
        }
        *(int *)at = (int)n;
        return 0;
    }
    }
    return -1;
}

/* Each default within its maximum.  0 or -1 with errbuf. */
static int check_pairs(const dd_policy *p, char *errbuf, size_t errlen)
{
    const struct {
        int64_t def, max;
        const char *name;
    } pairs[] = {{p->default_memory, p->max_memory, "memory"},
                 {p->default_nano_cpus, p->max_nano_cpus, "cpus"},
                 {p->default_pids, p->max_pids, "pids"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i].max > 0 && pairs[i].def > pairs[i].max) {
            snprintf(errbuf, errlen, "policy.default_%s is above policy.max_%s", pairs[i].name,
                     pairs[i].name);
            return -1;
        }
    return 0;
}

int policy_from_json(dd_policy *p, const json_t *obj, char *errbuf, size_t errlen)
{
    policy_init(p);
    if (obj == NULL)
        return 0;
    if (!json_is_object(obj)) {
        snprintf(errbuf, errlen, "policy must be a JSON object");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        const policy_key *k = NULL;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0] && k == NULL; i++)
            if (!strcmp(keys[i].name, name))
                k = &keys[i];
        if (k == NULL) {
            snprintf(errbuf, errlen, "policy: unknown key \"%.60s\"", name);
            policy_cleanup(p);
            return -1;
        }
        if (read_key(p, k, v, errbuf, errlen) != 0) {
            policy_cleanup(p);
            return -1;
        }
    }
    if (check_pairs(p, errbuf, errlen) != 0) {
        policy_cleanup(p);
        return -1;
    }
    return 0;
}

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

/* NetworkMode (namespaces aside: check_namespaces) and
 * NetworkingConfig.EndpointsConfig: a container is on one network, its
 * NetworkMode's.  From API 1.44 on Docker connects a container to every
 * network EndpointsConfig names, so an entry for another network (or a
 * second entry) would join one the container's NetworkMode does not
 * name: refused like any other network, even a listed one.  (Each
 * endpoint's settings are checked with the closed body.) */
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

/* LogConfig: a log driver other than the daemon's default makes dockerd
 * (root, host network) write to wherever its options say, so the type
 * must be listed and options allowed. */
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

/* Memory, CPUs and pids: a default where the body has none, a maximum
 * that an explicit value (or "unlimited") may not pass. */
/* What else can take memory the host needs: swap (-1 is unlimited), the
 * /dev/shm tmpfs, and an OOM score below 0 (the kernel then kills host
 * processes first).  Bounded by max_memory when it is set; a negative OOM
 * score is never allowed. */
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

/*
 * The closed body.  Every key a create body may carry is listed here (the
 * Engine API create body up to 1.56; keys of older versions stay known):
 * the ones with a rule are checked further down, the rest are harmless as
 * Docker reads them.  A key not listed is refused, so a field Docker adds
 * (1.43's HostConfig.Annotations, handed to the OCI runtime, and 1.56's
 * HostConfig.Umask among them) cannot slip past the policy unchecked; one
 * listed as refused has no policy key that allows it.
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
        snprintf(field, sizeof field, "%s%.80s", where, k ? k->name : key);
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

/* Healthcheck: Docker runs its probe as often as Interval says (down to
 * 1 ms); each duration other than 0 (the image's or Docker's default) is
 * at least min_health_interval, retries are bounded. */
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
