/*
 * policy.c -- the security policy's keys: the defaults, reading the config
 * file's "policy" object, and freeing it (see policy.h).
 */
#include <ctype.h>
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
