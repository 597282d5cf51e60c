/*
 * engine.c -- job queue, workers, supervision and the command table of the
 * dispatcher (see engine.h).
 *
 * Out of memory: the daemon aborts through the small x-allocators below
 * rather than threading ENOMEM through every path; this is daemon code, not
 * library code.
 *
 * Supervision is driven by Docker's own state: every container a run
 * creates carries labels (io.docker-dispatch.*) naming the node, the
 * request, where the final reply goes and its deadline.  The supervisor
 * lists this node's containers after every `die` event of one of them (and
 * at least once a second); an exited container
 * that still owes a final reply becomes a FINISH job, a running one past
 * its deadline is killed.  Because the state lives in Docker, a restarted
 * dispatcher re-adopts what the previous one left running.
 */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "protocol.h"

#define LBL                 PROTO_RESERVED_LABEL_PREFIX
#define SUPERVISE_PERIOD_MS 200
/* Answered request ids remembered per process for in-flight idempotence:
 * about 100 bytes each. */
#define ANSWERED_MAX 8192
/* Longest request id (message_id, else correlation_id) taken into labels. */
#define REQUEST_ID_MAX 200

/* ---- x-allocators: abort on out-of-memory (daemon only) ---- */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- jobs ---- */
typedef enum job_kind { JOB_MSG, JOB_FINISH, JOB_AFTER } job_kind;

typedef struct job {
    struct job *next;
    job_kind kind;
    broker_delivery d; /* MSG */
    char *id;          /* FINISH / AFTER: container id */
    int mark;          /* AFTER: mark answered instead of removing */
} job;

/* A `wait` request answered when its container stops. */
typedef struct waiter {
    struct waiter *next;
    char *container;
    char *condition;
    char *finished_at; /* next-exit: State.FinishedAt when the wait began */
    char *reply_to, *correlation_id, *request_id;
    proto_dialect dialect;
    int64_t deadline_ms; /* 0: none */
    int64_t t0;
} waiter;

static void waiter_free(waiter *w)
{
    free(w->container);
    free(w->condition);
    free(w->finished_at);
    free(w->reply_to);
    free(w->correlation_id);
    free(w->request_id);
    free(w);
}

struct engine {
    const dd_config *cfg;
    const dd_policy *policy;
    const dkc_options *dopt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *jhead, *jtail;
    int busy;
    int draining;
    int stop_workers;
    engine_out *ohead, *otail;
    waiter *waiters;
    json_t *claimed; /* container id -> when claimed (ms): FINISH queued or done (under mu) */
    json_t *mine;    /* container id -> when created (ms): made by this process and not yet
                        answered, so surely not answered before a restart (under mu) */
    json_t *removals; /* ids of answered containers to remove once Docker is back (under mu) */
    int docker_down;
    pthread_t *workers;
    int n_workers;
    pthread_t sup;
    int sup_started;
    _Atomic int sup_stop; /* set by the main thread, read by the supervisor */
    dkc_client *sup_cli;
    pthread_cond_t sup_cv; /* wakes the supervisor for its next pass (with mu) */
    int sup_wake;          /* a pass is wanted now (under mu) */
    char node_label[320];    /* LBL "node=<node>" */
    char cluster_label[320]; /* LBL "cluster=<cluster>"; with node_label, the filter for
                                the containers this dispatcher owns */
    /* Idempotence by request id within this process (the request label on
     * containers covers the rest; see request_begin). */
    json_t *inflight;     /* request id -> true while a worker handles its run/create */
    job *parked;          /* copies of in-flight requests, waiting for the first (FIFO) */
    json_t *answered;     /* request id -> container id ("" when none): answered runs */
    char **answered_ring; /* ANSWERED_MAX ids, oldest first out */
    size_t answered_pos;
    /* the event watcher */
    pthread_t watch;
    int watch_started;
    _Atomic int watch_stop; /* set by the main thread, read by the watcher */
    dkc_client *watch_cli;
    int creating;         /* max_containers: creates admitted, Docker not answered yet */
    uint64_t created;     /* max_containers: creates Docker has answered, ever */
    size_t n_events;      /* EVENT items in the outbox */
    uint64_t events_lost; /* dropped because n_events was at its cap */
};

/* Frees one outbox item and what it owns. */
void engine_out_free(engine_out *o)
{
    if (o == NULL)
        return;
    free(o->reply_to);
    free(o->correlation_id);
    free(o->body);
    if (o->dl) {
        broker_delivery_cleanup(o->dl);
        free(o->dl);
    }
    free(o->reason);
    free(o->after_remove);
    free(o->key);
    free(o);
}

/* Appends o to the outbox; the caller holds e->mu. */
static void append_locked(engine *e, engine_out *o)
{
    o->next = NULL;
    if (e->otail)
        e->otail->next = o;
    else
        e->ohead = o;
    e->otail = o;
}

/* Appends o to the outbox (takes ownership). */
static void post(engine *e, engine_out *o)
{
    pthread_mutex_lock(&e->mu);
    append_locked(e, o);
    pthread_mutex_unlock(&e->mu);
}

static void post_simple(engine *e, engine_out_kind k, uint64_t tag, int requeue)
{
    engine_out *o = xcalloc(1, sizeof *o);
    o->kind = k;
    o->tag = tag;
    o->requeue = requeue;
    post(e, o);
}

/* Queues a state-change event for the broker thread, unless
 * ENGINE_MAX_PENDING_EVENTS already wait (then it is dropped and counted).
 * Takes ownership of ev. */
static void post_event(engine *e, json_t *ev)
{
    char key[320];
    proto_event_key(ev, key, sizeof key);
    engine_out *o = xcalloc(1, sizeof *o);
    o->kind = ENGINE_OUT_EVENT;
    o->key = xstrdup(key);
    o->body = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    if (o->body == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_lock(&e->mu);
    uint64_t lost = 0;
    if (e->n_events >= ENGINE_MAX_PENDING_EVENTS) {
        lost = ++e->events_lost;
    } else {
        e->n_events++;
        append_locked(e, o);
        o = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (o != NULL) {
        engine_out_free(o);
        if ((lost & (lost - 1)) == 0) /* 1, 2, 4, ...: a line, not a flood */
            log_msg(LOG_LVL_WARN, "%d events wait for RabbitMQ: %llu dropped so far",
                    ENGINE_MAX_PENDING_EVENTS, (unsigned long long)lost);
    }
}

/* Number of EVENT items in list. */
static size_t count_events(const engine_out *l)
{
    size_t n = 0;
    for (; l; l = l->next)
        n += l->kind == ENGINE_OUT_EVENT;
    return n;
}

engine_out *engine_take_outbox(engine *e)
{
    pthread_mutex_lock(&e->mu);
    engine_out *l = e->ohead;
    e->ohead = e->otail = NULL;
    e->n_events = 0;
    pthread_mutex_unlock(&e->mu);
    return l;
}

void engine_requeue_outbox(engine *e, engine_out *list)
{
    if (list == NULL)
        return;
    engine_out *last = list;
    while (last->next)
        last = last->next;
    size_t n = count_events(list);
    pthread_mutex_lock(&e->mu);
    e->n_events += n;
    last->next = e->ohead;
    e->ohead = list;
    if (e->otail == NULL)
        e->otail = last;
    pthread_mutex_unlock(&e->mu);
}

/* Queues a job (takes ownership). */
static void push_job(engine *e, job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&e->mu);
    if (e->jtail)
        e->jtail->next = j;
    else
        e->jhead = j;
    e->jtail = j;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void engine_submit(engine *e, broker_delivery *d)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_MSG;
    j->d = *d;
    memset(d, 0, sizeof *d);
    push_job(e, j);
}

void engine_after(engine *e, const char *container_id, int remove)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_AFTER;
    j->id = xstrdup(container_id);
    j->mark = !remove;
    /* ahead of the queue: until the mark is in, a crash would make a
     * restarted node answer this container again */
    pthread_mutex_lock(&e->mu);
    j->next = e->jhead;
    e->jhead = j;
    if (e->jtail == NULL)
        e->jtail = j;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

int engine_idle(engine *e)
{
    pthread_mutex_lock(&e->mu);
    int idle = e->jhead == NULL && e->busy == 0 && e->ohead == NULL && e->parked == NULL;
    pthread_mutex_unlock(&e->mu);
    return idle;
}

/*
 * Idempotence by request id, the in-process half.  A run or create is
 * "in flight" from the moment a worker takes it until its outcome is
 * posted; a second copy taken meanwhile (a publisher's retry, or the same
 * message redelivered after a channel was lost) waits, parked, and is
 * looked at again once the first one is settled, when the request label on
 * its container (or the answered record below) tells what happened.  Ids
 * of answered runs and creates are remembered (the newest ANSWERED_MAX) so
 * that a copy arriving after a Remove container is gone still makes no
 * second container.  Both live only as long as the process; across a
 * restart the container label is what deduplicates.
 */
typedef enum req_state { REQ_FRESH, REQ_PARKED, REQ_ANSWERED } req_state;

/* Starts handling request rid for job j (a MSG job): REQ_FRESH (now in
 * flight: call request_end() when settled), REQ_PARKED (j now belongs to
 * the parked list) or REQ_ANSWERED (*container: malloc'd id of the
 * container that answered it, "" when none). */
static req_state request_begin(engine *e, const char *rid, job *j, char **container)
{
    req_state st = REQ_FRESH;
    pthread_mutex_lock(&e->mu);
    json_t *ans = json_object_get(e->answered, rid);
    if (json_object_get(e->inflight, rid) != NULL) {
        j->next = NULL;
        job **pp = &e->parked;
        while (*pp)
            pp = &(*pp)->next;
        *pp = j;
        st = REQ_PARKED;
    } else if (ans != NULL) {
        *container = xstrdup(json_string_value(ans));
        st = REQ_ANSWERED;
    } else if (json_object_set_new(e->inflight, rid, json_true()) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_unlock(&e->mu);
    return st;
}

/* Records that request rid was answered, by container (NULL or "" when it
 * made none).  Caller holds e->mu. */
static void remember_answered_locked(engine *e, const char *rid, const char *container)
{
    if (json_object_get(e->answered, rid) == NULL) {
        char *old = e->answered_ring[e->answered_pos];
        if (old != NULL) {
            json_object_del(e->answered, old);
            free(old);
        }
        e->answered_ring[e->answered_pos] = xstrdup(rid);
        e->answered_pos = (e->answered_pos + 1) % ANSWERED_MAX;
    }
    if (json_object_set_new(e->answered, rid, json_string(container ? container : "")) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
}

static void remember_answered(engine *e, const char *rid, const char *container)
{
    if (rid == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    remember_answered_locked(e, rid, container);
    pthread_mutex_unlock(&e->mu);
}

/* Ends the in-flight state of rid (begun with REQ_FRESH): when answered,
 * remembers it (container may be NULL); then queues the copies parked
 * behind it, at the head of the job queue. */
static void request_end(engine *e, const char *rid, int answered, const char *container)
{
    pthread_mutex_lock(&e->mu);
    json_object_del(e->inflight, rid);
    if (answered)
        remember_answered_locked(e, rid, container);
    job *keep = NULL, **kt = &keep, *wake = NULL, **wt = &wake;
    for (job *j = e->parked, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        const char *jr = j->d.message_id ? j->d.message_id : j->d.correlation_id;
        if (jr && !strcmp(jr, rid)) {
            *wt = j;
            wt = &j->next;
        } else {
            *kt = j;
            kt = &j->next;
        }
    }
    e->parked = keep;
    if (wake) {
        *wt = e->jhead; /* the queue goes on after them */
        e->jhead = wake;
        job *t = wake;
        while (t->next)
            t = t->next;
        e->jtail = t;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
}

/* Claim set (a jansson object used as a hash set): 1 if id was newly
 * claimed, 0 if it already was.  A claim lasts while the container exists
 * (see prune_claims), so a kept, answered container is looked at once. */
static int claim(engine *e, const char *id)
{
    pthread_mutex_lock(&e->mu);
    int fresh = json_object_get(e->claimed, id) == NULL;
    if (fresh && json_object_set_new(e->claimed, id, json_integer(now_ms())) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_unlock(&e->mu);
    return fresh;
}

static void unclaim(engine *e, const char *id)
{
    pthread_mutex_lock(&e->mu);
    json_object_del(e->claimed, id);
    pthread_mutex_unlock(&e->mu);
}

/* The `mine` set (see struct engine): add, drop, test. */
static void mine_add(engine *e, const char *id)
{
    pthread_mutex_lock(&e->mu);
    if (json_object_set_new(e->mine, id, json_integer(now_ms())) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_unlock(&e->mu);
}

static void mine_del(engine *e, const char *id)
{
    pthread_mutex_lock(&e->mu);
    json_object_del(e->mine, id);
    pthread_mutex_unlock(&e->mu);
}

static int mine_has(engine *e, const char *id)
{
    pthread_mutex_lock(&e->mu);
    int has = json_object_get(e->mine, id) != NULL;
    pthread_mutex_unlock(&e->mu);
    return has;
}

/* Docker unreachable: say so once and stop consuming until it is back. */
static void docker_down(engine *e)
{
    pthread_mutex_lock(&e->mu);
    int was = e->docker_down;
    e->docker_down = 1;
    pthread_mutex_unlock(&e->mu);
    if (!was) {
        log_msg(LOG_LVL_WARN, "Docker is unreachable: pausing consumption until it answers");
        post_simple(e, ENGINE_OUT_PAUSE, 0, 0);
    }
}

/* ---- replies ---- */

/* Logs the outcome line and posts a REPLY item.  reply is consumed.  dl
 * (moved when not NULL) is dead-lettered with reason after the reply;
 * otherwise tag is acked. */
static void post_reply(engine *e, json_t *reply, int64_t t0, const char *reply_to, const char *corr,
                       uint64_t tag, broker_delivery *dl, const char *reason,
                       const char *after_remove, int after_mark)
{
    char line[1024] = "";
    int64_t dur = t0 > 0 ? now_ms() - t0 : -1;
    json_t *lj = NULL;
    if (log_is_json())
        lj = proto_summary_reply_json(reply, dur);
    else
        proto_summary_reply(reply, dur, line, sizeof line);
    log_record(line, lj);
    json_decref(lj);

    engine_out *o = xcalloc(1, sizeof *o);
    o->kind = ENGINE_OUT_REPLY;
    o->tag = tag;
    o->reply_to = xstrdup(reply_to);
    o->correlation_id = xstrdup(corr);
    o->body = proto_reply_dumps(reply);
    if (o->body == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    if (dl) {
        o->dl = xmalloc(sizeof *o->dl);
        *o->dl = *dl;
        memset(dl, 0, sizeof *dl);
        o->reason = xstrdup(reason);
    }
    o->after_remove = xstrdup(after_remove);
    o->after_mark = after_mark;
    json_decref(reply);
    post(e, o);
}

/* ---- per-message context ---- */
typedef enum hres { H_OK, H_ERR, H_TRANSIENT, H_DONE } hres;

typedef struct jctx {
    engine *e;
    dkc_client *cli;
    broker_delivery *d;
    proto_cmd *cmd;
    const char *request_id;
    int64_t t0;
    /* outcome */
    json_t *result;
    int code;
    char msg[PROTO_MESSAGE_MAX];
    char field[PROTO_FIELD_MAX]; /* the refused field, "" when none */
    long http;
    json_t *err_extra;  /* members added to the reply's error object, or NULL */
    char container[80]; /* run/create: the container that answers the request */
    char discard[80];   /* a container to remove once the reply is confirmed, "" none */
} jctx;

static hres fail(jctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records an error outcome. */
static hres fail(jctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->code = code;
    return H_ERR;
}

/* Turns a dkc failure into an outcome: transient for an unreachable or
 * timing-out Engine, else an error with Docker's message and status. */
static hres dfail(jctx *c, int rc)
{
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        return H_TRANSIENT;
    const dkc_error_info *ei = dkc_client_last_error(c->cli);
    c->http = ei->http_status;
    return fail(c, proto_code_from_dkc(rc), "%s",
                ei->message && *ei->message ? ei->message : dkc_strerror(rc));
}

/* ---- bounded output capture ---- */
typedef struct capbuf {
    char *data;
    size_t len, cap;
} capbuf;

typedef struct capture {
    capbuf out, err;
    size_t limit; /* total bytes kept */
    bool truncated;
} capture;

static void cap_add(capbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *nd = realloc(b->data, nc);
        if (nd == NULL) {
            log_msg(LOG_LVL_ERROR, "out of memory");
            abort();
        }
        b->data = nd;
        b->cap = nc;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* dkc_output_cb: keeps at most limit bytes in total, then sets truncated
 * and keeps reading (so the call ends normally). */
static int capture_cb(void *ud, int stream, const char *data, size_t len)
{
    capture *c = ud;
    size_t used = c->out.len + c->err.len;
    size_t room = used < c->limit ? c->limit - used : 0;
    if (len > room) {
        c->truncated = true;
        len = room;
    }
    if (len > 0)
        cap_add(stream == 2 ? &c->err : &c->out, data, len);
    return 0;
}

static void capture_free(capture *c)
{
    free(c->out.data);
    free(c->err.data);
}

/* ---- small JSON helpers ---- */
static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const char *label(json_t *labels, const char *suffix)
{
    char k[128];
    snprintf(k, sizeof k, LBL "%s", suffix);
    return json_string_value(json_object_get(labels, k));
}

/* "2024-05-01T10:00:00.123Z" -> unix seconds; 0 when unparseable. */
static int64_t rfc3339_secs(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return (int64_t)timegm(&tm);
}

/* A filter object {"label":[l1, l2?]}.  New reference. */
static json_t *label_filter(const char *l1, const char *l2)
{
    json_t *arr = json_array();
    json_array_append_new(arr, json_string(l1));
    if (l2)
        json_array_append_new(arr, json_string(l2));
    json_t *f = json_object();
    json_object_set_new(f, "label", arr);
    return f;
}

/* The filter for the containers this dispatcher owns: its cluster and its
 * node (Docker ANDs label filters).  New reference. */
static json_t *owner_filter(const engine *e)
{
    return label_filter(e->cluster_label, e->node_label);
}

/* The container's name without Docker's leading '/'. */
static const char *cname(json_t *inspect)
{
    const char *n = jstr(inspect, "Name");
    if (n && n[0] == '/')
        n++;
    return n;
}

/* ---- run ---- */

/* 1 if an inspected container never ran (State.StartedAt is Docker's zero
 * time): it was created, and its start failed or never came. */
static int never_started(json_t *inspect)
{
    const char *at = jstr(json_object_get(inspect, "State"), "StartedAt");
    return at == NULL || !strncmp(at, "0001-", 5);
}

/* A fresh copy of a request received before (its container exists, or this
 * node answered it): it is not carried out again.  The copy is answered
 * with a `duplicate` error naming the original, and acked. */
static hres duplicate(jctx *c, const char *container, const char *state)
{
    const char *cid = container && *container ? container : NULL;
    c->err_extra = json_pack("{s:{s:s, s:s?, s:s?}}", "original", "request_id", c->request_id,
                             "container", cid, "state", state);
    if (c->err_extra == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    snprintf(c->field, sizeof c->field, "message_id");
    if (cid)
        return fail(c, PROTO_EDUPLICATE,
                    "request id was received before (container %.12s, %s): this copy is not "
                    "carried out again; the first copy's reply is the answer",
                    cid, state ? state : "?");
    return fail(c, PROTO_EDUPLICATE,
                "request id was received and answered before: this copy is not carried out "
                "again; the first copy's reply is the answer");
}

/* The containers this cluster made for c's request (by its request label),
 * into *found (an array, possibly empty). */
static hres find_request(jctx *c, json_t **found)
{
    char l[600];
    snprintf(l, sizeof l, LBL "request=%s", c->request_id);
    dkc_list_opts lo = {.all = true, .filters = label_filter(c->e->cluster_label, l)};
    if (lo.filters == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    int rc = dkc_container_list(c->cli, &lo, found);
    json_decref(lo.filters);
    return rc == 0 ? H_OK : dfail(c, rc);
}

static bool owes_final(const proto_cmd *cmd)
{
    return cmd->attach_stdout || cmd->attach_stderr || cmd->remove;
}

/* Replies "running" for a run without Attach/Remove, from an inspect. */
static hres run_started_reply(jctx *c, const char *id)
{
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, id, &ins);
    if (rc != 0)
        return dfail(c, rc);
    proto_run_result r = {.container_id = id, .container_name = cname(ins)};
    c->result = proto_result_run(&r);
    if (c->result)
        json_object_set_new(c->result, "status", json_string("running"));
    json_decref(ins);
    return H_OK;
}

/* A redelivered run whose container exists already (found by its request
 * label): start it if it never started, then behave as if just started. */
static hres run_adopt(jctx *c, json_t *summary)
{
    const char *id = jstr(summary, "Id");
    const char *state = jstr(summary, "State");
    log_msg(LOG_LVL_INFO, "request already has container %.12s (%s): not creating another",
            id ? id : "?", state ? state : "?");
    if (id == NULL)
        return fail(c, PROTO_EINTERNAL, "container summary without Id");
    snprintf(c->container, sizeof c->container, "%s", id);
    bool start = state && !strcmp(state, "created");
    if (state && (!strcmp(state, "exited") || !strcmp(state, "dead"))) {
        /* a Docker restart during the first start can leave it exited
         * without ever having run: start it now, it is this request's run */
        json_t *ins = NULL;
        int rc = dkc_container_inspect(c->cli, id, &ins);
        if (rc != 0)
            return dfail(c, rc);
        start = never_started(ins);
        json_decref(ins);
    }
    if (start) {
        int rc = dkc_container_start(c->cli, id);
        if (rc != 0 && rc != DKC_ENOTMODIFIED)
            return dfail(c, rc);
    }
    if (owes_final(c->cmd)) {
        post_simple(c->e, ENGINE_OUT_ACK, c->d->tag, 0);
        return H_DONE; /* the supervisor sends the final reply */
    }
    return run_started_reply(c, id);
}

/* A copy of cmd's create body carrying the labels every container of this
 * node has (node, and the request when there is one); *labels is its
 * Labels object, for more.  NULL when the command has no body. */
static json_t *labelled_body(jctx *c, json_t **labels)
{
    json_t *body = json_deep_copy(c->cmd->create_body);
    if (body == NULL)
        return NULL;
    json_t *l = json_object_get(body, "Labels");
    if (!json_is_object(l)) {
        l = json_object();
        json_object_set_new(body, "Labels", l);
    }
    json_object_set_new(l, LBL "cluster", json_string(c->e->cfg->cluster));
    json_object_set_new(l, LBL "node", json_string(c->e->cfg->node));
    if (c->request_id)
        json_object_set_new(l, LBL "request", json_string(c->request_id));
    *labels = l;
    return body;
}

/* Creates body if the policy admits it (completing it with the policy's
 * defaults) and, under max_containers, if the node has room: H_OK with
 * *id and *warnings, or the outcome recorded in c.
 *
 * Room is the node's labelled containers as Docker lists them plus the
 * creates other workers have in flight.  A create that Docker answers
 * while this one lists may be missing from the list, so those (counted
 * by `created`) count as well: near the limit a request may be refused a
 * moment early, never admitted one too many. */
static hres create_admitted(jctx *c, json_t *body, char **id, json_t **warnings)
{
    engine *e = c->e;
    proto_error perr;
    proto_error_clear(&perr);
    int rc = policy_check_create(e->policy, body, &perr);
    if (rc != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return fail(c, rc, "%s", perr.message);
    }
    int max = e->policy->max_containers;
    if (max > 0) {
        pthread_mutex_lock(&e->mu);
        uint64_t created_before = e->created;
        pthread_mutex_unlock(&e->mu);
        json_t *arr = NULL;
        dkc_list_opts lo = {.all = true, .filters = owner_filter(e)};
        rc = dkc_container_list(c->cli, &lo, &arr);
        json_decref(lo.filters);
        size_t n = json_array_size(arr);
        json_decref(arr);
        if (rc != 0)
            return dfail(c, rc);
        pthread_mutex_lock(&e->mu);
        size_t pending = (size_t)e->creating + (size_t)(e->created - created_before);
        bool room = n + pending < (size_t)max;
        if (room)
            e->creating++;
        pthread_mutex_unlock(&e->mu);
        if (!room)
            return fail(c, PROTO_EPOLICY,
                        "this node has %zu containers (%zu more being made), the most it may "
                        "have (policy max_containers)",
                        n, pending);
    }
    rc = dkc_container_create_json(c->cli, c->cmd->name, body, id, warnings);
    if (max > 0) {
        pthread_mutex_lock(&e->mu);
        e->creating--;
        e->created++;
        pthread_mutex_unlock(&e->mu);
    }
    return rc == 0 ? H_OK : dfail(c, rc);
}

/* run: create with our labels, start; reply now (no Attach/Remove) or ack
 * and let supervision send the final reply. */
static hres h_run(jctx *c)
{
    const engine *e = c->e;
    proto_cmd *cmd = c->cmd;
    hres res = H_OK;
    json_t *body = NULL, *warnings = NULL, *found = NULL;
    char *id = NULL;
    int rc;

    if (c->request_id) {
        if ((res = find_request(c, &found)) != H_OK)
            goto out;
        json_t *first = json_array_get(found, 0);
        if (first != NULL) {
            /* redelivered: the same message coming back, so carry on with
             * what its first delivery began; otherwise a second message */
            res = c->d->redelivered ? run_adopt(c, first)
                                    : duplicate(c, jstr(first, "Id"), jstr(first, "State"));
            goto out;
        }
    }

    json_t *labels = NULL;
    body = labelled_body(c, &labels);
    if (body == NULL) {
        res = fail(c, PROTO_EINTERNAL, "no create body");
        goto out;
    }
    if (c->d->reply_to)
        json_object_set_new(labels, LBL "reply-to", json_string(c->d->reply_to));
    if (c->d->correlation_id)
        json_object_set_new(labels, LBL "correlation-id", json_string(c->d->correlation_id));
    json_object_set_new(labels, LBL "dialect", json_string(proto_dialect_name(cmd->dialect)));
    if (owes_final(cmd)) {
        const char *att = cmd->attach_stdout && cmd->attach_stderr ? "stdout,stderr"
                          : cmd->attach_stdout                     ? "stdout"
                          : cmd->attach_stderr                     ? "stderr"
                                                                   : "";
        json_object_set_new(labels, LBL "final", json_string("1"));
        json_object_set_new(labels, LBL "attach", json_string(att));
        if (cmd->remove)
            json_object_set_new(labels, LBL "remove", json_string("1"));
    }
    int64_t tmo = cmd->timeout_s;
    if (e->cfg->max_run_seconds > 0 && (tmo == 0 || tmo > e->cfg->max_run_seconds))
        tmo = e->cfg->max_run_seconds;
    char num[32];
    if (tmo > 0) {
        snprintf(num, sizeof num, "%lld", (long long)(time(NULL) + tmo));
        json_object_set_new(labels, LBL "deadline", json_string(num));
    }
    snprintf(num, sizeof num, "%lld", (long long)cmd->output_limit);
    json_object_set_new(labels, LBL "output-limit", json_string(num));

    if ((res = create_admitted(c, body, &id, &warnings)) != H_OK)
        goto out;
    snprintf(c->container, sizeof c->container, "%s", id);
    mine_add(c->e, id);
    rc = dkc_container_start(c->cli, id);
    if (rc != 0) {
        /* Transient (Docker going away): the container stays for the
         * redelivered message to adopt and start, so that one request
         * never makes two.  Refused: the error is the answer, and the
         * container goes once that answer is confirmed (marked first, like
         * a Remove run, so that nothing answers it again). */
        res = dfail(c, rc);
        if (res == H_ERR)
            snprintf(c->discard, sizeof c->discard, "%s", id);
        goto out;
    }
    if (owes_final(cmd)) {
        post_simple(c->e, ENGINE_OUT_ACK, c->d->tag, 0);
        res = H_DONE;
        goto out;
    }
    res = run_started_reply(c, id);
out:
    json_decref(body);
    json_decref(warnings);
    json_decref(found);
    free(id);
    return res;
}

/*
 * The "answered" marker.  A run with Attach but without Remove leaves its
 * exited container behind, and container labels cannot change after
 * creation, so the fact that its final reply went out is kept in the
 * container itself: once the reply is confirmed, a small file MARKER_PATH
 * is put into its filesystem (PUT /containers/{id}/archive works on stopped
 * containers).  A restarted node checks for it before answering again.  A
 * container with a read-only root filesystem cannot be marked: the warning
 * says that its reply may be sent again after a restart.  The tar is built
 * here by hand because it is one fixed 512-byte header: no tar library is
 * worth a dependency for that.
 */
#define MARKER_PATH "/.docker-dispatch-answered"

static void mark_answered(dkc_client *cli, const char *id)
{
    static const char content[] = "answered\n";
    char tar[2048];
    memset(tar, 0, sizeof tar);
    snprintf(tar, 100, "%s", &MARKER_PATH[1]); /* without the leading slash */
    snprintf(tar + 100, 8, "%07o", 0644u);
    snprintf(tar + 108, 8, "%07o", 0u);
    snprintf(tar + 116, 8, "%07o", 0u);
    snprintf(tar + 124, 12, "%011o", (unsigned)(sizeof content - 1));
    snprintf(tar + 136, 12, "%011o", (unsigned)time(NULL) & 07777777777u);
    tar[156] = '0';
    memcpy(tar + 257, "ustar", 6);
    memcpy(tar + 263, "00", 2);
    memset(tar + 148, ' ', 8); /* the checksum counts its own field as spaces */
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)tar[i];
    snprintf(tar + 148, 8, "%06o", sum & 0777777u);
    memcpy(tar + 512, content, sizeof content - 1);
    dkc_membuf_reader rd = {.data = tar, .len = sizeof tar, .pos = 0};
    int rc = dkc_container_archive_put(cli, id, "/", dkc_membuf_read, &rd);
    if (rc != 0)
        log_msg(LOG_LVL_WARN,
                "cannot mark container %.12s as answered (%s): a restarted node may send its "
                "final reply again",
                id, dkc_strerror(rc));
}

/* A Remove container is marked before its removal by a rename to
 * "answered-<its full id>": a metadata call, much faster than the archive
 * marker (which mounts the container's filesystem), and a name no request
 * can give a container, since its id does not exist before it is made. */
#define ANSWERED_NAME_PREFIX "answered-"

static int has_answered_name(const char *name, const char *id)
{
    size_t n = strlen(ANSWERED_NAME_PREFIX);
    return name && id && !strncmp(name, ANSWERED_NAME_PREFIX, n) && !strcmp(name + n, id);
}

/* Marks and removes an answered container.  While Docker does not answer,
 * the id waits in e->removals for a supervision pass that finds Docker
 * back. */
static void remove_answered(engine *e, dkc_client *cli, const char *id)
{
    char name[160];
    snprintf(name, sizeof name, ANSWERED_NAME_PREFIX "%s", id);
    int rc = dkc_container_rename(cli, id, name);
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        goto later;
    if (rc != 0 && rc != DKC_ENOTFOUND && rc != DKC_ECONFLICT)
        log_msg(LOG_LVL_WARN, "marking container %.12s as answered: %s", id, dkc_strerror(rc));
    rc = dkc_container_remove(cli, id, true, false);
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        goto later;
    if (rc != 0 && rc != DKC_ENOTFOUND)
        log_msg(LOG_LVL_WARN, "removing container %.12s: %s", id, dkc_strerror(rc));
    return;
later:
    log_msg(LOG_LVL_INFO, "Docker is away: container %.12s will be removed when it is back", id);
    pthread_mutex_lock(&e->mu);
    if (json_array_append_new(e->removals, json_string(id)) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_unlock(&e->mu);
}

/* Retries the removals that waited for Docker (supervisor, Docker up). */
static void retry_removals(engine *e, dkc_client *cli)
{
    pthread_mutex_lock(&e->mu);
    json_t *list = e->removals;
    e->removals = json_array();
    if (e->removals == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_unlock(&e->mu);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) remove_answered(e, cli, json_string_value(v));
    json_decref(list);
}

static int discard(void *ud, const char *data, size_t len)
{
    return 0;
}

/* 1 if the container carries the answered marker. */
static int is_answered(dkc_client *cli, const char *id)
{
    return dkc_container_archive_get(cli, id, MARKER_PATH, discard, NULL, NULL) == 0;
}

/* Copies a run's captured output (data, len bytes, already bounded by the
 * run's output limit) to stdout, one record per line, so that the
 * dispatcher's stdout shows what the original docker-dispatch showed:
 * "output id=<request> stdout| <line>" (the id as in every log line, the
 * line with control characters, quotes and backslashes escaped),
 * or in JSON mode {"event":"output","id":..,"stream":..,"line":..}. */
static void echo_output(const char *rid, const char *stream, const char *data, size_t len)
{
    char eid[128], text[4096 + 160];
    char *esc = xmalloc(4096);
    proto_escape(eid, sizeof eid, rid ? rid : "-", rid ? strlen(rid) : 1, 64);
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        char *one = xmalloc(n + 1);
        memcpy(one, data + pos, n);
        one[n] = '\0'; /* a NUL inside the line ends it here: fine for a log */
        pos += n + (nl ? 1 : 0);
        json_t *obj = NULL;
        if (log_is_json()) {
            json_t *lv = json_string(one);
            if (lv == NULL) { /* not UTF-8: the escaped form */
                log_escape(esc, 4096, one);
                lv = json_string(esc);
            }
            obj = json_pack("{s:s, s:s?, s:s, s:o?}", "event", "output", "id", rid, "stream",
                            stream, "line", lv);
        } else {
            log_escape(esc, 4096, one);
            snprintf(text, sizeof text, "output id=%s %s| %s", eid, stream, esc);
        }
        log_record(text, obj);
        json_decref(obj);
        free(one);
    }
    free(esc);
}

/* An exited container of ours that never ran (see finish_job): removed
 * when it is older than NEVER_STARTED_GRACE_S and its request is not in
 * flight here, else looked at again on a later pass. */
#define NEVER_STARTED_GRACE_S 60

static void finish_never_started(engine *e, dkc_client *cli, const char *id, json_t *ins,
                                 const char *rid)
{
    int64_t at = rfc3339_secs(jstr(ins, "Created"));
    pthread_mutex_lock(&e->mu);
    bool busy = rid && json_object_get(e->inflight, rid) != NULL;
    pthread_mutex_unlock(&e->mu);
    if (busy || at == 0 || (int64_t)time(NULL) - at < NEVER_STARTED_GRACE_S) {
        unclaim(e, id);
        return;
    }
    log_msg(LOG_LVL_INFO, "container %.12s never ran and nothing waits for it: removing it", id);
    remove_answered(e, cli, id);
}

/* FINISH: a supervised container exited and owes its final reply. */
static void finish_job(engine *e, dkc_client *cli, const char *id)
{
    json_t *ins = NULL;
    capture cap = {0};
    int rc = dkc_container_inspect(cli, id, &ins);
    if (rc != 0) {
        if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
            docker_down(e);
        if (rc != DKC_ENOTFOUND)
            unclaim(e, id); /* try again on a later pass */
        goto out;
    }
    json_t *state = json_object_get(ins, "State");
    if (json_is_true(json_object_get(state, "Running"))) {
        unclaim(e, id);
        goto out;
    }
    json_t *labels = json_object_get(json_object_get(ins, "Config"), "Labels");
    if (never_started(ins)) {
        /* Nothing ran, so there is no final reply to give: its request was
         * answered with the start's error (and the container is removed
         * after that reply), or its message is still unacked and its
         * redelivery will start it.  One left behind by a crash in between
         * goes once it is old enough that no redelivery is coming. */
        finish_never_started(e, cli, id, ins, label(labels, "request"));
        goto out;
    }
    const char *att = label(labels, "attach");
    const char *dl = label(labels, "deadline");
    const char *ol = label(labels, "output-limit");
    const char *dialect = label(labels, "dialect");
    bool remove = label(labels, "remove") != NULL;
    bool captured = att && *att;
    /* Only a container this process did not make can have been answered
     * by an earlier one (the archive check mounts its filesystem: not on
     * every run). */
    int answered = has_answered_name(cname(ins), id) || (!mine_has(e, id) && is_answered(cli, id));
    if (answered) {
        /* answered before a restart: stays claimed, never again; a Remove
         * container the crash left behind goes now */
        if (remove && (rc = dkc_container_remove(cli, id, true, false)) != 0 &&
            rc != DKC_ENOTFOUND)
            log_msg(LOG_LVL_WARN, "removing container %.12s: %s", id, dkc_strerror(rc));
        goto out;
    }
    cap.limit = ol ? (size_t)strtoull(ol, NULL, 10) : (size_t)e->cfg->output_limit;
    if (captured) {
        dkc_logs_opts lo = {.stdout_ = strstr(att, "stdout") != NULL,
                            .stderr_ = strstr(att, "stderr") != NULL};
        rc = dkc_container_logs(cli, id, &lo, capture_cb, &cap);
        if (rc != 0) {
            log_msg(LOG_LVL_WARN, "logs of %.12s: %s", id, dkc_strerror(rc));
            if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT) {
                docker_down(e);
                unclaim(e, id);
                goto out;
            }
            if ((rc == DKC_ENOTFOUND || rc == DKC_ECONFLICT) && !mine_has(e, id)) {
                /* An earlier process's container, removed while we read
                 * it: a client removes a run's container once it has the
                 * reply, so that process answered and died before its
                 * mark.  A second answer without the output would not be
                 * the same answer: none is sent. */
                log_msg(LOG_LVL_WARN,
                        "container %.12s of an earlier process went away before its output "
                        "could be read: not answering it again",
                        id);
                goto out;
            }
        }
    }
    const char *fin = jstr(state, "FinishedAt");
    int64_t deadline = dl ? strtoll(dl, NULL, 10) : 0;
    proto_run_result r = {
        .container_id = id,
        .container_name = cname(ins),
        .waited = true,
        .exit_code = json_integer_value(json_object_get(state, "ExitCode")),
        .captured = captured,
        .out = cap.out.data ? cap.out.data : "",
        .out_len = cap.out.len,
        .err = cap.err.data ? cap.err.data : "",
        .err_len = cap.err.len,
        .truncated = cap.truncated,
        .timed_out = deadline > 0 && rfc3339_secs(fin) >= deadline,
        .removed = remove,
        .started_at = jstr(state, "StartedAt"),
        .finished_at = fin,
    };
    const char *err = jstr(state, "Error");
    if (err && *err)
        r.error = err;
    json_t *result = proto_result_run(&r);
    proto_reply_info ri;
    proto_reply_info_init(&ri, NULL, NULL, e->cfg->node, label(labels, "request"));
    ri.dialect = dialect && !strcmp(dialect, proto_dialect_name(PROTO_DIALECT_DOCKERMOD))
                     ? PROTO_DIALECT_DOCKERMOD
                     : PROTO_DIALECT_DISPATCH;
    ri.command = "run";
    json_t *reply = proto_reply_ok(&ri, result);
    json_decref(result);
    if (reply == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    if (captured && !e->cfg->quiet_output) {
        echo_output(label(labels, "request"), "stdout", r.out, r.out_len);
        echo_output(label(labels, "request"), "stderr", r.err, r.err_len);
    }
    remember_answered(e, label(labels, "request"), id);
    post_reply(e, reply, -1, label(labels, "reply-to"), label(labels, "correlation-id"), 0, NULL,
               NULL, id, !remove);
out:
    json_decref(ins);
    capture_free(&cap);
}

/* ---- the 1:1 commands ---- */

static hres h_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    if (cmd->template_name || cmd->instances > 1)
        return fail(c, PROTO_EUNSUPPORTED, "templates and instances are not supported here");
    if (json_object_get(cmd->create_body, "Image") == NULL &&
        proto_json_get_ci(cmd->create_body, "Image") == NULL)
        return fail(c, PROTO_EUNSUPPORTED, "a create without an image needs a template");
    if (c->request_id) {
        json_t *found = NULL;
        hres fr = find_request(c, &found);
        json_t *first = json_array_get(found, 0);
        const char *fid = jstr(first, "Id");
        if (fr == H_OK && fid != NULL) {
            snprintf(c->container, sizeof c->container, "%s", fid);
            if (c->d->redelivered)
                c->result = json_pack("{s:s, s:s?, s:n}", "id", fid, "name", cmd->name, "warnings");
            else
                fr = duplicate(c, fid, jstr(first, "State"));
        }
        json_decref(found);
        if (fr != H_OK || c->container[0])
            return fr;
    }
    json_t *labels = NULL;
    json_t *body = labelled_body(c, &labels);
    char *id = NULL;
    json_t *warn = NULL;
    hres res = create_admitted(c, body, &id, &warn);
    json_decref(body);
    if (res != H_OK)
        return res;
    snprintf(c->container, sizeof c->container, "%s", id);
    c->result = json_pack("{s:s, s:s?, s:O?}", "id", id, "name", cmd->name, "warnings",
                          warn ? warn : json_null());
    free(id);
    json_decref(warn);
    return H_OK;
}

/* Simple container verbs: the result is null. */
static hres h_simple(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    const char *id = cmd->container;
    int rc;
    switch (cmd->kind) {
    case PROTO_CMD_START:
        rc = dkc_container_start(c->cli, id);
        break;
    case PROTO_CMD_STOP:
        rc = dkc_container_stop(c->cli, id, cmd->has_time ? cmd->time_s : -1);
        break;
    case PROTO_CMD_RESTART:
        rc = dkc_container_restart(c->cli, id, cmd->has_time ? cmd->time_s : -1);
        break;
    case PROTO_CMD_KILL:
        rc = dkc_container_kill(c->cli, id, cmd->signal);
        break;
    case PROTO_CMD_PAUSE:
        rc = dkc_container_pause(c->cli, id);
        break;
    case PROTO_CMD_UNPAUSE:
        rc = dkc_container_unpause(c->cli, id);
        break;
    case PROTO_CMD_RENAME:
        rc = dkc_container_rename(c->cli, id, cmd->new_name);
        break;
    case PROTO_CMD_REMOVE:
        rc = dkc_container_remove(c->cli, id, cmd->force, cmd->volumes);
        break;
    case PROTO_CMD_IMAGE_TAG:
        rc = dkc_image_tag(c->cli, cmd->image, cmd->repo, cmd->tag);
        break;
    case PROTO_CMD_VOLUME_REMOVE:
        rc = dkc_volume_remove(c->cli, cmd->volume, cmd->force);
        break;
    default:
        return fail(c, PROTO_EINTERNAL, "no handler");
    }
    if (rc != 0)
        return dfail(c, rc);
    c->result = json_null();
    return H_OK;
}

/* Commands whose result is Docker's JSON as it comes. */
static hres h_json(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    json_t *out = NULL;
    int rc;
    switch (cmd->kind) {
    case PROTO_CMD_INSPECT:
        rc = dkc_container_inspect(c->cli, cmd->container, &out);
        break;
    case PROTO_CMD_LIST: {
        dkc_list_opts lo = {.all = cmd->all, .limit = cmd->limit, .filters = cmd->filters};
        rc = dkc_container_list(c->cli, &lo, &out);
        break;
    }
    case PROTO_CMD_TOP:
        rc = dkc_container_top(c->cli, cmd->container, cmd->ps_args, &out);
        break;
    case PROTO_CMD_CHANGES:
        rc = dkc_container_changes(c->cli, cmd->container, &out);
        break;
    case PROTO_CMD_IMAGES:
        rc = dkc_image_list(c->cli, cmd->all, cmd->filters, &out);
        break;
    case PROTO_CMD_IMAGE_INSPECT:
        rc = dkc_image_inspect(c->cli, cmd->image, &out);
        break;
    case PROTO_CMD_IMAGE_REMOVE:
        rc = dkc_image_remove(c->cli, cmd->image, cmd->force, cmd->noprune, &out);
        break;
    case PROTO_CMD_VOLUME_LIST:
        rc = dkc_volume_list(c->cli, cmd->filters, &out);
        break;
    case PROTO_CMD_VOLUME_INSPECT:
        rc = dkc_volume_inspect(c->cli, cmd->volume, &out);
        break;
    case PROTO_CMD_INFO:
        rc = dkc_info(c->cli, &out);
        break;
    case PROTO_CMD_VERSION:
        rc = dkc_version(c->cli, &out);
        break;
    default:
        return fail(c, PROTO_EINTERNAL, "no handler");
    }
    if (rc != 0) {
        json_decref(out);
        return dfail(c, rc);
    }
    c->result = out ? out : json_null();
    return H_OK;
}

static hres h_volume_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    size_t n = json_object_size(cmd->volume_labels);
    char **labels = xcalloc(n + 1, sizeof *labels);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(cmd->volume_labels, k, v)
    {
        const char *s = json_string_value(v);
        size_t len = strlen(k) + (s ? strlen(s) : 0) + 2;
        labels[i] = xmalloc(len);
        snprintf(labels[i], len, "%s=%s", k, s ? s : "");
        i++;
    }
    json_t *out = NULL;
    int rc = dkc_volume_create(c->cli, cmd->volume, cmd->driver,
                               n ? (const char *const *)labels : NULL, &out);
    for (i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
    if (rc != 0)
        return dfail(c, rc);
    c->result = out ? out : json_null();
    return H_OK;
}

static hres h_logs(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    capture cap = {.limit = (size_t)cmd->output_limit};
    dkc_logs_opts lo = {.stdout_ = cmd->logs_stdout,
                        .stderr_ = cmd->logs_stderr,
                        .timestamps = cmd->logs_timestamps,
                        .since = cmd->logs_since,
                        .until = cmd->logs_until,
                        .tail = cmd->logs_tail < 0 ? 0 : cmd->logs_tail};
    hres res = H_OK;
    if (cmd->logs_tail == 0)
        goto build; /* Tail 0 means no lines (to dkc, tail <= 0 means all) */
    int rc = dkc_container_logs(c->cli, cmd->container, &lo, capture_cb, &cap);
    if (rc != 0) {
        res = dfail(c, rc);
        goto out;
    }
build:;
    proto_run_result r = {.captured = true,
                          .out = cap.out.data ? cap.out.data : "",
                          .out_len = cap.out.len,
                          .err = cap.err.data ? cap.err.data : "",
                          .err_len = cap.err.len,
                          .truncated = cap.truncated};
    c->result = proto_result_logs(&r);
out:
    capture_free(&cap);
    return res;
}

static hres h_exec(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    capture cap = {.limit = (size_t)cmd->output_limit};
    dkc_exec_config ec = {.cmd = (const char *const *)cmd->exec_argv,
                          .env = (const char *const *)cmd->exec_env,
                          .user = cmd->exec_user,
                          .working_dir = cmd->exec_workdir,
                          .tty = cmd->exec_tty};
    int64_t code = 0;
    hres res = H_OK;
    /* Docker has no call that stops an exec'd process: at the deadline the
     * dispatcher stops waiting and says so; the process runs on inside the
     * container until it ends or the container stops. */
    int64_t deadline = now_ms() + cmd->timeout_s * 1000;
    dkc_client_set_deadline(c->cli, (long)(cmd->timeout_s * 1000));
    int rc = dkc_exec_run(c->cli, cmd->container, &ec, capture_cb, &cap, &code);
    dkc_client_set_deadline(c->cli, 0);
    bool timed_out = rc == DKC_ETIMEOUT && now_ms() >= deadline;
    if (rc != 0 && !timed_out) {
        res = dfail(c, rc);
        goto out;
    }
    if (timed_out) {
        char who[160];
        log_escape(who, sizeof who, cmd->container);
        log_msg(LOG_LVL_WARN, "exec in %s: no end after %lld s; stopped waiting (it may still run)",
                who, (long long)cmd->timeout_s);
    }
    proto_run_result r = {.waited = !timed_out,
                          .timed_out = timed_out,
                          .exit_code = code,
                          .captured = true,
                          .out = cap.out.data ? cap.out.data : "",
                          .out_len = cap.out.len,
                          .err = cap.err.data ? cap.err.data : "",
                          .err_len = cap.err.len,
                          .truncated = cap.truncated};
    c->result = proto_result_exec(&r);
out:
    capture_free(&cap);
    return res;
}

typedef struct pull_state {
    char status[256];
} pull_state;

static int pull_cb(void *ud, const dkc_progress *p)
{
    pull_state *ps = ud;
    if (p->status && *p->status)
        snprintf(ps->status, sizeof ps->status, "%s", p->status);
    return 0;
}

static hres h_pull(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    pull_state ps = {""};
    char ref[700];
    snprintf(ref, sizeof ref, "%s%s%s", cmd->image, cmd->tag ? ":" : "", cmd->tag ? cmd->tag : "");
    proto_error perr;
    proto_error_clear(&perr);
    if (policy_check_image(c->e->policy, ref, &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return fail(c, perr.code, "%s", perr.message);
    }
    int rc = dkc_image_pull(c->cli, cmd->image, cmd->tag, NULL, pull_cb, &ps);
    if (rc != 0)
        return dfail(c, rc);
    c->result = json_pack("{s:s, s:s}", "image", ref, "status", ps.status);
    return H_OK;
}

static hres h_ping(jctx *c)
{
    int rc = dkc_ping(c->cli);
    if (rc != 0)
        return dfail(c, rc);
    c->result = json_pack("{s:s}", "api_version", dkc_client_api_version(c->cli));
    return H_OK;
}

static hres h_nodes(jctx *c)
{
    c->result = json_pack("[{s:s, s:b}]", "name", c->e->cfg->node, "self", 1);
    return H_OK;
}

static hres h_unsupported(jctx *c)
{
    return fail(c, PROTO_EUNSUPPORTED, "%s is not supported by this node", proto_cmd_name(c->cmd));
}

/* wait: answer at once when the container is not running (condition
 * not-running), else register a waiter that the supervisor answers.
 * next-exit waits for an exit after this moment: a FinishedAt other than
 * the one seen now (the supervisor's pass is at most a second apart; a
 * container that starts and exits again within it still shows a new
 * FinishedAt). */
static hres h_wait(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, cmd->container, &ins);
    if (rc == DKC_ENOTFOUND && cmd->condition && !strcmp(cmd->condition, "removed")) {
        c->result = json_pack("{s:i, s:n}", "exit_code", 0, "error");
        return H_OK;
    }
    if (rc != 0)
        return dfail(c, rc);
    json_t *state = json_object_get(ins, "State");
    bool running = json_is_true(json_object_get(state, "Running"));
    bool want_removed = cmd->condition && !strcmp(cmd->condition, "removed");
    bool next_exit = cmd->condition && !strcmp(cmd->condition, "next-exit");
    if (!running && !want_removed && !next_exit) {
        c->result =
            json_pack("{s:I, s:n}", "exit_code",
                      (json_int_t)json_integer_value(json_object_get(state, "ExitCode")), "error");
        json_decref(ins);
        return H_OK;
    }
    waiter *w = xcalloc(1, sizeof *w);
    w->finished_at = xstrdup(jstr(state, "FinishedAt"));
    json_decref(ins);
    w->container = xstrdup(cmd->container);
    w->condition = xstrdup(cmd->condition);
    w->reply_to = xstrdup(c->d->reply_to);
    w->correlation_id = xstrdup(c->d->correlation_id);
    w->request_id = xstrdup(c->request_id);
    w->dialect = cmd->dialect;
    w->t0 = c->t0;
    w->deadline_ms = cmd->timeout_s > 0 ? now_ms() + cmd->timeout_s * 1000 : 0;
    pthread_mutex_lock(&c->e->mu);
    w->next = c->e->waiters;
    c->e->waiters = w;
    pthread_mutex_unlock(&c->e->mu);
    post_simple(c->e, ENGINE_OUT_ACK, c->d->tag, 0);
    return H_DONE;
}

typedef hres (*handler)(jctx *);

/* The command table: kind -> handler. */
static const handler handlers[PROTO_CMD__COUNT] = {
    [PROTO_CMD_RUN] = h_run,
    [PROTO_CMD_CREATE] = h_create,
    [PROTO_CMD_START] = h_simple,
    [PROTO_CMD_STOP] = h_simple,
    [PROTO_CMD_RESTART] = h_simple,
    [PROTO_CMD_KILL] = h_simple,
    [PROTO_CMD_PAUSE] = h_simple,
    [PROTO_CMD_UNPAUSE] = h_simple,
    [PROTO_CMD_RENAME] = h_simple,
    [PROTO_CMD_REMOVE] = h_simple,
    [PROTO_CMD_WAIT] = h_wait,
    [PROTO_CMD_INSPECT] = h_json,
    [PROTO_CMD_LIST] = h_json,
    [PROTO_CMD_LOGS] = h_logs,
    [PROTO_CMD_TOP] = h_json,
    [PROTO_CMD_CHANGES] = h_json,
    [PROTO_CMD_EXEC] = h_exec,
    [PROTO_CMD_PULL] = h_pull,
    [PROTO_CMD_IMAGES] = h_json,
    [PROTO_CMD_IMAGE_INSPECT] = h_json,
    [PROTO_CMD_IMAGE_TAG] = h_simple,
    [PROTO_CMD_IMAGE_REMOVE] = h_json,
    [PROTO_CMD_VOLUME_CREATE] = h_volume_create,
    [PROTO_CMD_VOLUME_LIST] = h_json,
    [PROTO_CMD_VOLUME_INSPECT] = h_json,
    [PROTO_CMD_VOLUME_REMOVE] = h_simple,
    [PROTO_CMD_INFO] = h_json,
    [PROTO_CMD_VERSION] = h_json,
    [PROTO_CMD_PING] = h_ping,
    [PROTO_CMD_NODES] = h_nodes,
    [PROTO_CMD_REGISTER] = h_unsupported,
    [PROTO_CMD_UNREGISTER] = h_unsupported,
};

/* 1 if a request id may become part of labels and filters: valid UTF-8
 * (jansson checks), no control characters, at most REQUEST_ID_MAX bytes. */
static int rid_ok(const char *rid)
{
    size_t n = strlen(rid);
    if (n == 0 || n > REQUEST_ID_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    json_t *probe = json_string(rid);
    json_decref(probe);
    return probe != NULL;
}

/* Posts the reply for a handled message: ok with c->result, or the error
 * recorded in c (with c->err_extra merged into the error object). */
static void post_outcome(engine *e, jctx *c, hres res)
{
    proto_reply_info ri;
    proto_reply_info_init(&ri, c->cmd, NULL, e->cfg->node, c->request_id);
    if (res == H_ERR)
        ri.http_status = c->http;
    json_t *r = res == H_OK ? proto_reply_ok(&ri, c->result)
                            : proto_reply_error(&ri, c->code, c->msg, c->field[0] ? c->field : NULL,
                                                c->http);
    if (r == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    if (res == H_ERR && c->err_extra != NULL &&
        json_object_update(json_object_get(r, "error"), c->err_extra) != 0) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    post_reply(e, r, c->t0, c->d->reply_to, c->d->correlation_id, c->d->tag, NULL, NULL,
               c->discard[0] ? c->discard : NULL, 0);
}

/* MSG: parse, log, run the handler, post the outcome.  Returns 1 when the
 * job was parked behind an in-flight copy of its request (it now belongs
 * to the parked list), else 0 (the caller frees it). */
static int msg_job(engine *e, dkc_client *cli, job *j)
{
    broker_delivery *d = &j->d;
    int64_t t0 = now_ms();
    const char *rid = d->message_id ? d->message_id : d->correlation_id;
    proto_cmd *cmd = NULL;
    proto_error perr;
    proto_reply_info ri;
    char line[1024];

    if (d->oversize) {
        proto_reply_info_init(&ri, NULL, NULL, e->cfg->node, rid);
        json_t *r =
            proto_reply_error(&ri, PROTO_ETOOLARGE, "message body over the size cap", NULL, 0);
        post_reply(e, r, t0, d->reply_to, d->correlation_id, 0, NULL, NULL, NULL, 0);
        return 0;
    }
    if (rid != NULL && !rid_ok(rid)) {
        /* it would reach labels and filters: refuse it, never guess */
        proto_error_clear(&perr);
        perr.code = PROTO_EBADREQUEST;
        perr.code_name = proto_code_name(PROTO_EBADREQUEST);
        snprintf(perr.field, sizeof perr.field, "message_id");
        snprintf(perr.message, sizeof perr.message,
                 "the message id (or correlation id) must be 1 to %d bytes of UTF-8 without "
                 "control characters",
                 REQUEST_ID_MAX);
        log_record("request id=(invalid) refused: bad message id", NULL);
        char reason[PROTO_MESSAGE_MAX + 64];
        snprintf(reason, sizeof reason, "%s: %s", perr.code_name, perr.message);
        proto_reply_info_init(&ri, NULL, &perr, e->cfg->node, NULL);
        json_t *r = proto_reply_parse_error(&ri, &perr);
        post_reply(e, r, t0, d->reply_to, d->correlation_id, d->tag, d, reason, NULL, 0);
        return 0;
    }
    proto_limits lim;
    proto_limits_init(&lim);
    lim.max_body = e->cfg->max_body;
    if (e->cfg->output_limit > 0)
        lim.default_output = (int64_t)e->cfg->output_limit;
    int rc = proto_parse((const char *)d->body, d->len, &lim, &cmd, &perr);

    /* Commands that make containers are deduplicated by request id. */
    bool dedup = rc == 0 && rid != NULL &&
                 (cmd->kind == PROTO_CMD_RUN || cmd->kind == PROTO_CMD_CREATE);
    char *prev = NULL;
    req_state rs = REQ_FRESH;
    if (dedup && (rs = request_begin(e, rid, j, &prev)) == REQ_PARKED) {
        log_msg(LOG_LVL_DEBUG, "a copy of a request in flight waits for it");
        proto_cmd_free(cmd);
        return 1;
    }

    json_t *lj = NULL;
    line[0] = '\0';
    if (log_is_json())
        lj = proto_summary_request_json(cmd, rid);
    else
        proto_summary_request(cmd, rid, line, sizeof line);
    log_record(line, lj);
    json_decref(lj);
    if (rc != 0) {
        char reason[PROTO_MESSAGE_MAX + 64];
        snprintf(reason, sizeof reason, "%s: %s", perr.code_name, perr.message);
        proto_reply_info_init(&ri, NULL, &perr, e->cfg->node, rid);
        json_t *r = proto_reply_parse_error(&ri, &perr);
        post_reply(e, r, t0, d->reply_to, d->correlation_id, d->tag, d, reason, NULL, 0);
        return 0;
    }
    jctx c = {.e = e, .cli = cli, .d = d, .cmd = cmd, .request_id = rid, .t0 = t0};
    hres res;
    if (rs == REQ_ANSWERED && d->redelivered) {
        /* the same message back after its reply went out (its ack was lost
         * with a connection): that reply was the answer */
        log_msg(LOG_LVL_INFO, "request was answered before; its redelivered copy is acked");
        post_simple(e, ENGINE_OUT_ACK, d->tag, 0);
        res = H_DONE;
    } else if (rs == REQ_ANSWERED) {
        res = duplicate(&c, prev, "answered");
    } else {
        handler h = handlers[cmd->kind];
        res = h ? h(&c) : h_unsupported(&c);
    }
    switch (res) {
    case H_TRANSIENT:
        log_msg(LOG_LVL_WARN, "Docker unavailable for request %s: requeued",
                rid ? "with id" : "without id");
        post_simple(e, ENGINE_OUT_NACK, d->tag, 1);
        docker_down(e);
        break;
    case H_DONE:
        break;
    case H_OK:
    case H_ERR:
        post_outcome(e, &c, res);
        break;
    }
    if (dedup && rs == REQ_FRESH) {
        bool answered = (res == H_OK || res == H_ERR) && c.code != PROTO_EDUPLICATE;
        request_end(e, rid, answered, c.container);
    }
    free(prev);
    json_decref(c.err_extra);
    json_decref(c.result);
    proto_cmd_free(cmd);
    return 0;
}

/* ---- threads ---- */

static void *worker_main(void *arg)
{
    engine *e = arg;
    dkc_client *cli = NULL;
    char why[256] = "";
    if (dkc_client_new(e->dopt, &cli, why, sizeof why) != 0) {
        log_msg(LOG_LVL_ERROR, "worker: Docker client: %s", why);
        return NULL;
    }
    pthread_mutex_lock(&e->mu);
    for (;;) {
        while (e->jhead == NULL && !e->stop_workers)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->jhead == NULL && e->stop_workers)
            break;
        job *j = e->jhead;
        e->jhead = j->next;
        if (e->jhead == NULL)
            e->jtail = NULL;
        int draining = e->draining;
        e->busy++;
        pthread_mutex_unlock(&e->mu);

        if (j->kind == JOB_MSG) {
            if (draining) {
                post_simple(e, ENGINE_OUT_NACK, j->d.tag, 1);
            } else if (msg_job(e, cli, j)) {
                pthread_mutex_lock(&e->mu);
                e->busy--;
                continue; /* parked: mu is held, as the loop expects */
            }
            broker_delivery_cleanup(&j->d);
        } else if (j->kind == JOB_FINISH) {
            finish_job(e, cli, j->id);
        } else if (j->kind == JOB_AFTER && j->mark) {
            mark_answered(cli, j->id);
            mine_del(e, j->id);
        } else if (j->kind == JOB_AFTER) {
            /* marked first by a fast call: that closes most of the window
             * in which a crash would make a restarted node answer again */
            remove_answered(e, cli, j->id);
            mine_del(e, j->id);
        }
        free(j->id);
        free(j);
        pthread_mutex_lock(&e->mu);
        e->busy--;
    }
    pthread_mutex_unlock(&e->mu);
    dkc_client_free(cli);
    return NULL;
}

/* Answers waiters whose container stopped (or vanished, or timed out). */
static void check_waiters(engine *e, dkc_client *cli)
{
    pthread_mutex_lock(&e->mu);
    waiter *list = e->waiters;
    e->waiters = NULL;
    pthread_mutex_unlock(&e->mu);
    waiter *keep = NULL;
    while (list) {
        waiter *w = list;
        list = w->next;
        json_t *ins = NULL;
        json_t *reply = NULL;
        proto_reply_info ri;
        proto_reply_info_init(&ri, NULL, NULL, e->cfg->node, w->request_id);
        ri.dialect = w->dialect;
        ri.command = "wait";
        int rc = dkc_container_inspect(cli, w->container, &ins);
        bool want_removed = w->condition && !strcmp(w->condition, "removed");
        bool next_exit = w->condition && !strcmp(w->condition, "next-exit");
        if (rc == DKC_ENOTFOUND) {
            if (want_removed) {
                json_t *res = json_pack("{s:i, s:n}", "exit_code", 0, "error");
                reply = proto_reply_ok(&ri, res);
                json_decref(res);
            } else {
                reply = proto_reply_error(&ri, PROTO_ENOTFOUND, "container disappeared", NULL, 404);
            }
        } else if (rc == 0) {
            json_t *state = json_object_get(ins, "State");
            const char *fin = jstr(state, "FinishedAt");
            bool exited_since =
                !next_exit || (fin && (w->finished_at == NULL || strcmp(fin, w->finished_at) != 0));
            if (!want_removed && exited_since && !json_is_true(json_object_get(state, "Running"))) {
                json_t *res = json_pack(
                    "{s:I, s:n}", "exit_code",
                    (json_int_t)json_integer_value(json_object_get(state, "ExitCode")), "error");
                reply = proto_reply_ok(&ri, res);
                json_decref(res);
            }
        }
        if (reply == NULL && w->deadline_ms && now_ms() >= w->deadline_ms)
            reply = proto_reply_error(&ri, PROTO_ETIMEOUT, "wait timed out", NULL, 0);
        json_decref(ins);
        if (reply) {
            post_reply(e, reply, w->t0, w->reply_to, w->correlation_id, 0, NULL, NULL, NULL, 0);
            waiter_free(w);
        } else {
            w->next = keep;
            keep = w;
        }
    }
    pthread_mutex_lock(&e->mu);
    while (keep) {
        waiter *w = keep;
        keep = w->next;
        w->next = e->waiters;
        e->waiters = w;
    }
    pthread_mutex_unlock(&e->mu);
}

/* Queues the final reply of container id unless it is claimed already. */
static void queue_finish(engine *e, const char *id)
{
    if (!claim(e, id))
        return;
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_FINISH;
    j->id = xstrdup(id);
    push_job(e, j);
}

/* Forgets the claims on containers missing from list (the node's
 * containers as Docker listed them from listed_at on): they are gone.
 * Claims made since then stay, as their containers may be newer than the
 * list. */
static void prune_claims(engine *e, json_t *list, int64_t listed_at)
{
    json_t *present = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = jstr(c, "Id");
        if (id)
            json_object_set_new(present, id, json_true());
    }
    pthread_mutex_lock(&e->mu);
    const char *id;
    json_t *when;
    void *tmp;
    json_object_foreach_safe(e->claimed, tmp, id, when)
    {
        if (json_integer_value(when) < listed_at && json_object_get(present, id) == NULL)
            json_object_del(e->claimed, id);
    }
    json_object_foreach_safe(e->mine, tmp, id, when)
    {
        if (json_integer_value(when) < listed_at && json_object_get(present, id) == NULL)
            json_object_del(e->mine, id);
    }
    pthread_mutex_unlock(&e->mu);
    json_decref(present);
}

/* One supervision pass: reconcile this node's labelled containers. */
static void supervise_once(engine *e, dkc_client *cli)
{
    dkc_list_opts lo = {.all = true, .filters = owner_filter(e)};
    json_t *arr = NULL;
    int64_t listed_at = now_ms();
    int rc = dkc_container_list(cli, &lo, &arr);
    json_decref(lo.filters);
    if (rc == 0)
        prune_claims(e, arr, listed_at);
    if (rc != 0) {
        if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
            docker_down(e);
        else if (rc != DKC_ECANCELED)
            log_msg(LOG_LVL_WARN, "supervision: listing containers: %s", dkc_strerror(rc));
        return;
    }
    pthread_mutex_lock(&e->mu);
    int was_down = e->docker_down;
    e->docker_down = 0;
    pthread_mutex_unlock(&e->mu);
    if (was_down) {
        log_msg(LOG_LVL_INFO, "Docker answers again: resuming consumption");
        post_simple(e, ENGINE_OUT_RESUME, 0, 0);
    }
    retry_removals(e, cli);
    int64_t now = time(NULL);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *id = jstr(c, "Id");
        const char *state = jstr(c, "State");
        json_t *labels = json_object_get(c, "Labels");
        if (id == NULL || state == NULL)
            continue;
        const char *dl = label(labels, "deadline");
        if (!strcmp(state, "running") || !strcmp(state, "paused")) {
            if (dl && now >= strtoll(dl, NULL, 10)) {
                log_msg(LOG_LVL_INFO, "container %.12s reached its deadline: killing", id);
                int krc = dkc_container_kill(cli, id, NULL);
                if (krc != 0 && krc != DKC_ECONFLICT && krc != DKC_ENOTFOUND)
                    log_msg(LOG_LVL_WARN, "killing %.12s: %s", id, dkc_strerror(krc));
            }
            continue;
        }
        if ((!strcmp(state, "exited") || !strcmp(state, "dead")) && label(labels, "final"))
            queue_finish(e, id);
    }
    json_decref(arr);
    check_waiters(e, cli);
}

/* Asks the supervisor for a pass now (a container of this node died and
 * `wait` requests are waiting). */
static void wake_supervisor(engine *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->waiters != NULL) {
        e->sup_wake = 1;
        pthread_cond_signal(&e->sup_cv);
    }
    pthread_mutex_unlock(&e->mu);
}

/* The supervisor: a pass over this node's containers at least once a
 * second (every SUPERVISE_PERIOD_MS while Docker is not answering, to see it
 * come back), and at once when the watcher wakes it.  Final replies do not
 * wait for a pass: the watcher queues them from the `die` event. */
static void *sup_main(void *arg)
{
    engine *e = arg;
    while (!e->sup_stop) {
        supervise_once(e, e->sup_cli);
        pthread_mutex_lock(&e->mu);
        if (!e->sup_wake && !e->sup_stop) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            long ms = e->docker_down ? SUPERVISE_PERIOD_MS : 1000;
            until.tv_sec += ms / 1000;
            until.tv_nsec += (ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&e->sup_cv, &e->mu, &until);
        }
        e->sup_wake = 0;
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

/* The watcher's place in Docker's event stream. */
typedef struct watch_state {
    engine *e;
    int64_t last; /* time_nano of the last event turned into ours */
} watch_state;

static int on_watched(void *ud, const dkc_event *ev)
{
    watch_state *ws = ud;
    /* a resumed stream replays from a whole second back */
    if (ev->time_nano <= ws->last)
        return 0;
    ws->last = ev->time_nano;
    if (strcmp(ev->action, "die") == 0 && ev->id[0] != '\0') {
        /* Docker sends `die` before its container list shows the container
         * as exited (the list is a copy brought up to date after the
         * event), so a pass now could still see it running; inspect, which
         * finish_job uses, waits for the container's own state. */
        if (json_object_get(ev->attributes, LBL "final") != NULL)
            queue_finish(ws->e, ev->id);
        wake_supervisor(ws->e);
    }
    json_t *out =
        proto_event_container(ws->e->cfg->node, ev->action, ev->id, ev->time_nano, ev->attributes);
    if (out)
        post_event(ws->e, out);
    return 0;
}

/* The watcher: follows Docker's event stream for this node's containers
 * (start, die, destroy) from the engine's start on, publishes each as our
 * event, and on `die` queues the final reply and wakes the supervisor.  When the stream breaks
 * (Docker restarted or away) it resumes from the second of the last event it turned, skipping those
 * it has. */
static void *watch_main(void *arg)
{
    engine *e = arg;
    json_t *filters = json_pack("{s:[s], s:[s,s,s], s:[s,s]}", "type", "container", "event",
                                "start", "die", "destroy", "label", e->cluster_label,
                                e->node_label);
    if (filters == NULL)
        abort(); /* out of memory at start-up */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    watch_state ws = {.e = e, .last = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec};
    while (!e->watch_stop) {
        dkc_events_opts o = {.since = ws.last / 1000000000LL, .filters = filters};
        int rc = dkc_events(e->watch_cli, &o, on_watched, &ws);
        if (rc != 0 && rc != DKC_ECANCELED)
            log_msg(LOG_LVL_DEBUG, "Docker event stream: %s; resuming", dkc_strerror(rc));
        for (int t = 0; t < SUPERVISE_PERIOD_MS / 20 && !e->watch_stop; t++)
            usleep(20 * 1000);
    }
    json_decref(filters);
    return NULL;
}

static void stop_watcher(engine *e)
{
    if (!e->watch_started)
        return;
    e->watch_stop = 1;
    dkc_client_cancel(e->watch_cli);
    pthread_join(e->watch, NULL);
    e->watch_started = 0;
}

engine *engine_start(const dd_config *cfg, const dd_policy *policy, const dkc_options *dopt,
                     char *errbuf, size_t errlen)
{
    engine *e = xcalloc(1, sizeof *e);
    e->cfg = cfg;
    e->policy = policy;
    e->dopt = dopt;
    snprintf(e->node_label, sizeof e->node_label, LBL "node=%s", cfg->node);
    snprintf(e->cluster_label, sizeof e->cluster_label, LBL "cluster=%s", cfg->cluster);
    e->claimed = json_object();
    e->mine = json_object();
    e->removals = json_array();
    e->inflight = json_object();
    e->answered = json_object();
    e->answered_ring = xcalloc(ANSWERED_MAX, sizeof *e->answered_ring);
    if (e->claimed == NULL || e->mine == NULL || e->removals == NULL || e->inflight == NULL ||
        e->answered == NULL) {
        log_msg(LOG_LVL_ERROR, "out of memory");
        abort();
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->sup_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (dkc_client_new(dopt, &e->sup_cli, errbuf, errlen) != 0 ||
        dkc_client_new(dopt, &e->watch_cli, errbuf, errlen) != 0) {
        dkc_client_free(e->sup_cli);
        json_decref(e->claimed);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        pthread_cond_destroy(&e->sup_cv);
        free(e);
        return NULL;
    }
    e->n_workers = cfg->workers > 0 ? cfg->workers : 1;
    e->workers = xcalloc((size_t)e->n_workers, sizeof *e->workers);
    for (int i = 0; i < e->n_workers; i++)
        if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0) {
            log_msg(LOG_LVL_ERROR, "cannot start worker thread: %s", strerror(errno));
            abort();
        }
    if (pthread_create(&e->sup, NULL, sup_main, e) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot start supervisor thread: %s", strerror(errno));
        abort();
    }
    e->sup_started = 1;
    if (pthread_create(&e->watch, NULL, watch_main, e) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot start event watcher thread: %s", strerror(errno));
        abort();
    }
    e->watch_started = 1;
    return e;
}

void engine_begin_shutdown(engine *e)
{
    if (e->sup_started) {
        pthread_mutex_lock(&e->mu);
        e->sup_stop = 1;
        pthread_cond_signal(&e->sup_cv);
        pthread_mutex_unlock(&e->mu);
        dkc_client_cancel(e->sup_cli); /* a pass may be waiting on Docker */
        pthread_join(e->sup, NULL);
        e->sup_started = 0;
    }
    pthread_mutex_lock(&e->mu);
    e->draining = 1;
    pthread_mutex_unlock(&e->mu);
}

void engine_free(engine *e)
{
    if (e == NULL)
        return;
    engine_begin_shutdown(e);
    stop_watcher(e);
    pthread_mutex_lock(&e->mu);
    e->stop_workers = 1;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    for (int i = 0; i < e->n_workers; i++)
        pthread_join(e->workers[i], NULL);
    free(e->workers);
    dkc_client_free(e->sup_cli);
    dkc_client_free(e->watch_cli);
    while (e->jhead) {
        job *j = e->jhead;
        e->jhead = j->next;
        broker_delivery_cleanup(&j->d);
        free(j->id);
        free(j);
    }
    while (e->ohead) {
        engine_out *o = e->ohead;
        e->ohead = o->next;
        engine_out_free(o);
    }
    while (e->waiters) {
        waiter *w = e->waiters;
        e->waiters = w->next;
        waiter_free(w);
    }
    while (e->parked) {
        job *j = e->parked;
        e->parked = j->next;
        broker_delivery_cleanup(&j->d);
        free(j);
    }
    for (size_t i = 0; i < ANSWERED_MAX; i++)
        free(e->answered_ring[i]);
    free(e->answered_ring);
    json_decref(e->answered);
    json_decref(e->inflight);
    json_decref(e->mine);
    json_decref(e->removals);
    json_decref(e->claimed);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    pthread_cond_destroy(&e->sup_cv);
    free(e);
}
