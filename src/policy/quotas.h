/*
 * quotas.h -- per-user bounds: the policy's "quotas" object.
 *
 * One mechanism for every bound a user of the work queue is held to on a
 * node.  A row of bounds (dd_quota) holds for every user by default; named
 * users have rows of their own (absent keys: the default's).  The
 * node-wide bounds stand beside them.  The engine counts what each user
 * holds from its own state and Docker's labels, and compares it here.  A
 * refusal names the key (quotas.<key>).  Pure: no I/O.
 *
 *   "quotas": {"max_waits": 1024,
 *              "default": {"containers": 20, "running": 10, "memory": 4294967296,
 *                          "cpus": 4, "run_time": 3600, "in_flight": 16, "waits": 128,
 *                          "worker_share": 0.5},
 *              "users": {"ci": {"containers": 100, "worker_share": 0.75}}}
 */
#ifndef DD_QUOTAS_H
#define DD_QUOTAS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* `wait` registrations a node holds at once, and per user, by default. */
#define QUOTAS_DEFAULT_MAX_WAITS 1024
#define QUOTAS_DEFAULT_WAITS     128

/* One user's bounds; 0 is "no bound" for each. */
typedef struct dd_quota {
    int64_t containers;  /* the user's containers of this node, any state */
    int64_t running;     /* the user's running (or paused) containers of this node */
    int64_t memory;      /* bytes: HostConfig.Memory summed over the user's containers
                            that have not exited */
    int64_t nano_cpus;   /* CPUs (1e9 = one) summed likewise */
    int64_t run_time;    /* seconds a run may last (its Timeout at most) */
    int64_t in_flight;   /* the user's messages on this node's workers and queue */
    int64_t waits;       /* the user's `wait` registrations */
    double worker_share; /* of the node's workers, at most this part (at least one) */
} dd_quota;

typedef struct dd_quotas {
    int64_t max_waits;     /* `wait` registrations of the node; 0: no bound */
    dd_quota defaults;     /* every user's, and anonymous messages' (one user) */
    char **users;          /* names with a row of their own; NULL-terminated, NULL: none */
    dd_quota *user_quotas; /* users[i]'s row, default keys filled in */
} dd_quotas;

/* The defaults: the wait bounds above, nothing else bounded. */
void quotas_init(dd_quotas *q);

/* Reads the "quotas" object into q (initialised first).  Unknown keys,
 * wrong types and a worker_share outside (0, 1] are refused: -1 with the
 * reason in errbuf (q then at its defaults); 0 on success. */
int quotas_from_json(dd_quotas *q, const json_t *obj, char *errbuf, size_t errlen);

/* Frees what quotas_from_json() allocated; q is back at the defaults. */
void quotas_cleanup(dd_quotas *q);

/* The bounds of user (NULL: anonymous messages): its row, else the
 * default.  Borrowed from q. */
const dd_quota *quotas_for(const dd_quotas *q, const char *user);

/* The workers of n a user may hold at once under share (0: all of them;
 * else at least one). */
int quotas_workers(double share, int n);

#endif
