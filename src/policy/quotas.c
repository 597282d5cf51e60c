/*
 * quotas.c -- the policy's per-user bounds (see quotas.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quotas.h"

#define NANO_PER_CPU 1000000000LL
#define MAX_USERS    256 /* rows of "users" */

void quotas_init(dd_quotas *q)
{
    memset(q, 0, sizeof *q);
    q->max_waits = QUOTAS_DEFAULT_MAX_WAITS;
    q->defaults.waits = QUOTAS_DEFAULT_WAITS;
}

void quotas_cleanup(dd_quotas *q)
{
    if (q == NULL)
        return;
    for (size_t i = 0; q->users && q->users[i]; i++)
        free(q->users[i]);
    free(q->users);
    free(q->user_quotas);
    quotas_init(q);
}

/* The keys of one user's row: what the value is and where it goes. */
typedef enum qkind { Q_COUNT, Q_CPUS, Q_SHARE } qkind;

static const struct qkey {
    const char *name;
    qkind kind;
    size_t off;
} qkeys[] = {
    {"containers", Q_COUNT, offsetof(dd_quota, containers)},
    {"running", Q_COUNT, offsetof(dd_quota, running)},
    {"memory", Q_COUNT, offsetof(dd_quota, memory)},
    {"cpus", Q_CPUS, offsetof(dd_quota, nano_cpus)},
    {"run_time", Q_COUNT, offsetof(dd_quota, run_time)},
    {"in_flight", Q_COUNT, offsetof(dd_quota, in_flight)},
    {"waits", Q_COUNT, offsetof(dd_quota, waits)},
    {"worker_share", Q_SHARE, offsetof(dd_quota, worker_share)},
};

/* Reads one value of a row.  0 or -1 with errbuf. */
static int read_qkey(dd_quota *row, const struct qkey *k, const json_t *v, const char *where,
                     char *errbuf, size_t errlen)
{
    char *at = (char *)row + k->off;
    double x = json_number_value(v);
    switch (k->kind) {
    case Q_COUNT:
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            *(int64_t *)at = json_integer_value(v);
            return 0;
        }
        snprintf(errbuf, errlen, "%s.%s must be a non-negative integer", where, k->name);
        return -1;
    case Q_CPUS:
        if (json_is_number(v) && x >= 0 && x <= 1024) {
            *(int64_t *)at = (int64_t)(x * (double)NANO_PER_CPU + 0.5);
            return 0;
        }
        snprintf(errbuf, errlen, "%s.%s must be a number of CPUs from 0 to 1024", where, k->name);
        return -1;
    case Q_SHARE:
        if (json_is_number(v) && x > 0 && x <= 1) {
            *(double *)at = x;
            return 0;
        }
        snprintf(errbuf, errlen, "%s.%s must be a number above 0 and at most 1", where, k->name);
        return -1;
    }
    return -1;
}

/* Reads a row object over *row (keys absent keep what *row holds). */
static int read_row(dd_quota *row, const json_t *obj, const char *where, char *errbuf,
                    size_t errlen)
{
    if (!json_is_object(obj)) {
        snprintf(errbuf, errlen, "%s must be an object", where);
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        const struct qkey *k = NULL;
        for (size_t i = 0; i < sizeof qkeys / sizeof qkeys[0] && k == NULL; i++)
            if (!strcmp(qkeys[i].name, name))
                k = &qkeys[i];
        if (k == NULL) {
            snprintf(errbuf, errlen, "%s: unknown key \"%.60s\"", where, name);
            return -1;
        }
        if (read_qkey(row, k, v, where, errbuf, errlen) != 0)
            return -1;
    }
    return 0;
}

/* Reads "users": a row each, over the default. */
static int read_users(dd_quotas *q, const json_t *users, char *errbuf, size_t errlen)
{
    if (!json_is_object(users) || json_object_size(users) > MAX_USERS) {
        snprintf(errbuf, errlen, "policy.quotas.users must be an object of at most %d users",
                 MAX_USERS);
        return -1;
    }
    size_t n = json_object_size(users);
    q->users = calloc(n + 1, sizeof *q->users);
    q->user_quotas = calloc(n + 1, sizeof *q->user_quotas);
    if (q->users == NULL || q->user_quotas == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    size_t i = 0;
    const char *name;
    json_t *row;
    json_object_foreach((json_t *)users, name, row)
    {
        char where[120];
        snprintf(where, sizeof where, "policy.quotas.users.%.60s", name);
        q->user_quotas[i] = q->defaults;
        if (*name == '\0' || read_row(&q->user_quotas[i], row, where, errbuf, errlen) != 0) {
            if (*name == '\0')
                snprintf(errbuf, errlen, "policy.quotas.users: a user name is empty");
            return -1;
        }
        if ((q->users[i++] = strdup(name)) == NULL) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int quotas_from_json(dd_quotas *q, const json_t *obj, char *errbuf, size_t errlen)
{
    quotas_init(q);
    if (!json_is_object(obj)) {
        snprintf(errbuf, errlen, "policy.quotas must be an object");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)obj, name, v)
    {
        if (strcmp(name, "max_waits") && strcmp(name, "default") && strcmp(name, "users")) {
            snprintf(errbuf, errlen, "policy.quotas: unknown key \"%.60s\"", name);
            return -1;
        }
    }
    json_t *mw = json_object_get(obj, "max_waits");
    json_t *def = json_object_get(obj, "default");
    json_t *users = json_object_get(obj, "users");
    if (mw != NULL && !(json_is_integer(mw) && json_integer_value(mw) >= 0)) {
        snprintf(errbuf, errlen, "policy.quotas.max_waits must be a non-negative integer");
        return -1;
    }
    if (mw != NULL)
        q->max_waits = json_integer_value(mw);
    if ((def != NULL &&
         read_row(&q->defaults, def, "policy.quotas.default", errbuf, errlen) != 0) ||
        (users != NULL && read_users(q, users, errbuf, errlen) != 0)) {
        quotas_cleanup(q);
        return -1;
    }
    return 0;
}

const dd_quota *quotas_for(const dd_quotas *q, const char *user)
{
    for (size_t i = 0; user != NULL && q->users && q->users[i]; i++)
        if (!strcmp(q->users[i], user))
            return &q->user_quotas[i];
    return &q->defaults;
}

int quotas_workers(double share, int n)
{
    if (share <= 0 || share >= 1)
        return n;
    int k = (int)(share * n);
    return k < 1 ? 1 : k;
}
