/*
 * quota.c -- the per-user bounds of the policy's "quotas" (policy/quotas.h),
 * counted on this node.
 *
 * One mechanism for all of them.  A message counts against its user: the
 * verified user_id, or a forwarded message's original publisher.
 * Anonymous messages are one user, "".  Each bound is read from that
 * user's row of the rules in force:
 *   in_flight:    The user's messages in the engine (queued, parked, on a
 *                 worker), counted from submit to the job's end.  A message
 *                 over it is answered `quota` at once.
 *   worker_share: The workers the user's messages hold.  A message over it
 *                 stays queued (not refused, not lost) while other users'
 *                 messages are picked before it.
 *   waits:        The user's `wait` registrations, and max_waits the node's.
 *   containers, running, memory, cpus:
 *                 Counted from Docker's list of this node's containers by
 *                 their user label.  Memory and CPUs come from the labels
 *                 each container gets when it is made, so a restarted node
 *                 counts what it made before.  Creates under these bounds
 *                 are made one at a time (create_mu), so two cannot both
 *                 take the last room.  `start` and `restart` of a stopped
 *                 container count against running, memory and cpus too.
 *   run_time:     Bounds a run's Timeout, as max_run_time does.
 * A refusal is the error `quota` with field "quotas.<key>"; metrics count
 * it by that field.
 *
 * Locking: the counts are struct eng_quota's, under its own lock.  It is a
 * leaf: the job queue's lock may be held when it is taken.  The job
 * picking reads q->rules there, everything else the job's own rules
 * (c->rules).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "engine_internal.h"

/* Records a refusal of bound key (a quotas.h row key, or max_waits). */
static hres over(jctx *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static hres over(jctx *c, const char *key, const char *fmt, ...)
{
    char why[PROTO_MESSAGE_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(c->field, sizeof c->field, "quotas.%s", key);
    return eng_fail(c, PROTO_EQUOTA, "%s (policy quotas.%s)", why, key);
}

static const dd_quota *row_of(const jctx *c)
{
    return quotas_for(&c->rules->policy->quotas, c->d->user_id);
}

/* Adds d to map[k] (an integer, absent when 0); the new value.  k is the
 * user as the message came, counted before the message is checked
 * (engine.c, refuse_unreadable).  It may hold any bytes, so it is set
 * unchecked: else a user_id that is not UTF-8 would look like running out
 * of memory. */
static json_int_t bump(json_t *map, const char *k, json_int_t d)
{
    json_int_t n = json_integer_value(json_object_get(map, k)) + d;
    if (n <= 0)
        json_object_del(map, k);
    else if (json_object_set_new_nocheck(map, k, json_integer(n)) != 0)
        xoom();
    return n;
}

void eng_quota_init(eng_quota *q, eng_rules *r)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->create_mu, NULL);
    q->rules = r;
    q->user_jobs = json_object();
    q->user_workers = json_object();
    q->creating = 0;
    q->created = 0;
    if (q->user_jobs == NULL || q->user_workers == NULL)
        xoom();
}

void eng_quota_cleanup(eng_quota *q)
{
    json_decref(q->user_jobs);
    json_decref(q->user_workers);
    pthread_mutex_destroy(&q->create_mu);
    pthread_mutex_destroy(&q->mu);
}

eng_rules *eng_quota_set_rules(engine *e, eng_rules *r)
{
    pthread_mutex_lock(&e->quota.mu);
    eng_rules *old = e->quota.rules;
    e->quota.rules = r;
    pthread_mutex_unlock(&e->quota.mu);
    return old;
}

void eng_quota_submit(engine *e, job *j)
{
    /* a forwarded message counts against its original publisher */
    const char *u = eng_original_user(e, &j->d);
    j->user = xstrdup(u ? u : "");
    pthread_mutex_lock(&e->quota.mu);
    json_int_t n = bump(e->quota.user_jobs, j->user, 1);
    int64_t max = quotas_for(&e->quota.rules->policy->quotas, u)->in_flight;
    pthread_mutex_unlock(&e->quota.mu);
    /* a piece of a bulk request (from another dispatcher: u is not the
     * message's own user_id) counts, but is never refused: its request
     * was admitted as a whole */
    bool piece = u != j->d.user_id && broker_delivery_header(&j->d, CLUSTER_H_PART) != NULL;
    j->over_in_flight = !piece && max > 0 && n > max;
}

void eng_quota_release(engine *e, job *j)
{
    pthread_mutex_lock(&e->quota.mu);
    if (j->user != NULL)
        bump(e->quota.user_jobs, j->user, -1);
    free(j->user);
    j->user = NULL;
    pthread_mutex_unlock(&e->quota.mu);
}

/* 1 when j may go to a worker now: not a message, a refusal to make, or
 * its user under the worker share.  Caller holds e->quota.mu. */
static int may_start(engine *e, const job *j)
{
    if (j->kind != JOB_MSG || j->user == NULL || j->over_in_flight)
        return 1;
    const char *u = *j->user ? j->user : NULL;
    double share = quotas_for(&e->quota.rules->policy->quotas, u)->worker_share;
    int max = quotas_workers(share, e->n_workers);
    return json_integer_value(json_object_get(e->quota.user_workers, j->user)) < max;
}

int eng_quota_take_worker(engine *e, job *j)
{
    pthread_mutex_lock(&e->quota.mu);
    int may = may_start(e, j);
    if (may && j->kind == JOB_MSG && j->user != NULL) {
        bump(e->quota.user_workers, j->user, 1);
        j->holds_worker = 1;
    }
    pthread_mutex_unlock(&e->quota.mu);
    return may;
}

void eng_job_leave_worker(engine *e, job *j)
{
    pthread_mutex_lock(&e->quota.mu);
    int held = j->holds_worker;
    if (held) {
        j->holds_worker = 0;
        bump(e->quota.user_workers, j->user, -1);
    }
    pthread_mutex_unlock(&e->quota.mu);
    if (held)
        eng_jobs_wake(e); /* a job its user's share held back may go now */
}

uint64_t eng_quota_created(engine *e)
{
    pthread_mutex_lock(&e->quota.mu);
    uint64_t n = e->quota.created;
    pthread_mutex_unlock(&e->quota.mu);
    return n;
}

int eng_quota_admit_create(engine *e, size_t listed, uint64_t created_before, int max,
                           size_t *pending)
{
    pthread_mutex_lock(&e->quota.mu);
    *pending = (size_t)e->quota.creating + (size_t)(e->quota.created - created_before);
    int room = listed + *pending < (size_t)max;
    if (room)
        e->quota.creating++;
    pthread_mutex_unlock(&e->quota.mu);
    return room;
}

void eng_quota_create_answered(engine *e)
{
    pthread_mutex_lock(&e->quota.mu);
    e->quota.creating--;
    e->quota.created++;
    pthread_mutex_unlock(&e->quota.mu);
}

void eng_quota_create_done(engine *e)
{
    pthread_mutex_unlock(&e->quota.create_mu);
}

int eng_quota_creating(engine *e)
{
    pthread_mutex_lock(&e->quota.mu);
    int n = e->quota.creating;
    pthread_mutex_unlock(&e->quota.mu);
    return n;
}

hres eng_quota_in_flight(jctx *c, const job *j)
{
    if (!j->over_in_flight)
        return H_OK;
    return over(c, "in_flight",
                "this user has %" PRId64 " messages on this node already, the most it may have",
                row_of(c)->in_flight);
}

hres eng_quota_wait_locked(jctx *c)
{
    int64_t total = 0, mine = 0;
    for (const waiter *w = c->e->sup.waiters; w; w = w->next) {
        total++;
        mine += (w->user == NULL) == (c->d->user_id == NULL) &&
                (w->user == NULL || !strcmp(w->user, c->d->user_id));
    }
    int64_t max_total = c->rules->policy->quotas.max_waits;
    int64_t max_mine = row_of(c)->waits;
    if (max_mine > 0 && mine >= max_mine)
        return over(c, "waits", "this user has %" PRId64 " waits registered, the most it may have",
                    mine);
    if (max_total > 0 && total >= max_total)
        return over(c, "max_waits",
                    "this node has %" PRId64 " waits registered, the most it may have", total);
    return H_OK;
}

int64_t eng_quota_run_time(const jctx *c, int64_t timeout_s)
{
    int64_t max = row_of(c)->run_time;
    return max > 0 && (timeout_s == 0 || timeout_s > max) ? max : timeout_s;
}

/* What the user holds on this node, from Docker's list. */
typedef struct held {
    int64_t containers, running, memory, nano_cpus;
} held;

static int64_t label_int(json_t *labels, const char *suffix)
{
    const char *v = eng_label(labels, suffix);
    return v ? strtoll(v, NULL, 10) : 0;
}

static hres count_held(jctx *c, held *h)
{
    json_t *arr = NULL;
    dkc_list_opts lo = {.all = true, .filters = eng_owner_filter(c->e)};
    int rc = dkc_container_list(c->cli, &lo, &arr);
    json_decref(lo.filters);
    if (rc != 0)
        return eng_dfail(c, rc);
    size_t i;
    json_t *ct;
    json_array_foreach(arr, i, ct)
    {
        json_t *labels = json_object_get(ct, "Labels");
        if (!eng_same_user(labels, c->d->user_id))
            continue;
        const char *st = eng_jstr(ct, "State");
        h->containers++;
        /* a run's container counts from its create (its output-limit
         * label says it is a run's), so that a run being started counts */
        bool run = eng_label(labels, "output-limit") != NULL;
        if (st && (!strcmp(st, "running") || !strcmp(st, "paused") || !strcmp(st, "restarting") ||
                   (run && !strcmp(st, "created"))))
            h->running++;
        if (st && (!strcmp(st, "exited") || !strcmp(st, "dead")))
            continue;
        h->memory += label_int(labels, "memory");
        h->nano_cpus += label_int(labels, "nano-cpus");
    }
    json_decref(arr);
    return H_OK;
}

/* Compares what the user holds plus the new container (mem, cpus; run:
 * it will run) with row q. */
static hres check_held(jctx *c, const dd_quota *q, const held *h, int64_t mem, int64_t cpus,
                       bool run)
{
    if (q->containers > 0 && h->containers >= q->containers)
        return over(c, "containers",
                    "this user has %" PRId64 " containers on this node, the most it may have",
                    h->containers);
    if (run && q->running > 0 && h->running >= q->running)
        return over(c, "running",
                    "this user has %" PRId64 " running containers on this node, "
                    "the most it may have",
                    h->running);
    if (q->memory > 0 && h->memory + mem > q->memory)
        return over(c, "memory",
                    "%" PRId64 " bytes more would take this user's containers on this node to "
                    "%" PRId64 ", above its %" PRId64,
                    mem, h->memory + mem, q->memory);
    if (q->nano_cpus > 0 && h->nano_cpus + cpus > q->nano_cpus)
        return over(c, "cpus",
                    "%.3f CPUs more would take this user's containers on this node to %.3f, "
                    "above its %.3f",
                    (double)cpus / 1e9, (double)(h->nano_cpus + cpus) / 1e9,
                    (double)q->nano_cpus / 1e9);
    return H_OK;
}

hres eng_quota_create(jctx *c, json_t *body, bool run, bool *locked)
{
    const dd_quota *q = row_of(c);
    int64_t mem = 0, cpus = 0;
    policy_body_resources(body, &mem, &cpus);
    json_t *labels = json_object_get(body, "Labels"); /* eng_labelled_body's */
    if (!json_is_object(labels)) {
        labels = json_object();
        eng_set(body, "Labels", labels);
    }
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, mem);
    eng_set(labels, LBL "memory", json_string(num));
    snprintf(num, sizeof num, "%" PRId64, cpus);
    eng_set(labels, LBL "nano-cpus", json_string(num));
    *locked = false;
    if (q->containers <= 0 && (q->running <= 0 || !run) && q->memory <= 0 && q->nano_cpus <= 0)
        return H_OK;
    if (q->memory > 0 && mem <= 0)
        return over(c, "memory",
                    "a container without a memory limit cannot be counted against "
                    "this user's memory; give HostConfig.Memory or set policy default_memory");
    if (q->nano_cpus > 0 && cpus <= 0)
        return over(c, "cpus",
                    "a container without a CPU limit cannot be counted against this "
                    "user's CPUs; give HostConfig.NanoCpus or set policy default_cpus");
    pthread_mutex_lock(&c->e->quota.create_mu);
    held h = {0};
    hres res = count_held(c, &h);
    if (res == H_OK)
        res = check_held(c, q, &h, mem, cpus, run);
    if (res != H_OK)
        pthread_mutex_unlock(&c->e->quota.create_mu);
    else
        *locked = true;
    return res;
}

/* The bounds a start of the container in ins would pass: it is this
 * user's and stopped (created: its memory and CPUs count already; exited:
 * they count again). */
static hres start_admitted(jctx *c, const dd_quota *q, json_t *ins, bool *locked)
{
    json_t *labels = json_object_get(json_object_get(ins, "Config"), "Labels");
    const char *st = eng_jstr(json_object_get(ins, "State"), "Status");
    if (!eng_same_user(labels, c->d->user_id) || st == NULL ||
        (strcmp(st, "created") && strcmp(st, "exited") && strcmp(st, "dead")))
        return H_OK; /* running already, or another user's (an admin acts) */
    bool back = strcmp(st, "created") != 0;
    pthread_mutex_lock(&c->e->quota.create_mu);
    held h = {0};
    hres res = count_held(c, &h);
    if (res == H_OK && q->running > 0 && h.running >= q->running)
        res = over(c, "running",
                   "this user has %" PRId64 " running containers on this node, the most it may "
                   "have",
                   h.running);
    if (res == H_OK && back)
        res = check_held(c, q, &(held){.memory = h.memory, .nano_cpus = h.nano_cpus},
                         label_int(labels, "memory"), label_int(labels, "nano-cpus"), false);
    if (res != H_OK)
        pthread_mutex_unlock(&c->e->quota.create_mu);
    else
        *locked = true;
    return res;
}

hres eng_quota_start(jctx *c, bool *locked)
{
    const dd_quota *q = row_of(c);
    *locked = false;
    if (q->running <= 0 && q->memory <= 0 && q->nano_cpus <= 0)
        return H_OK;
    json_t *ins = json_incref(c->resolved);
    int rc = ins ? 0 : dkc_container_inspect(c->cli, c->cmd->container, &ins);
    hres res = rc == 0 ? start_admitted(c, q, ins, locked) : eng_dfail(c, rc);
    json_decref(ins);
    return res;
}
