/*
 * engine_internal.h -- what the engine's files share (see engine.h for the
 * interface the daemon uses).  Nothing here is seen outside src/engine/.
 *
 * The files, in reading order:
 *   engine.c:    Start and shutdown, the workers, a delivery through the
 *                command table to its reply.  The top: no other file
 *                calls it.
 *   outcome.c:   An outcome recorded, its reply posted, logged, counted.
 *   rules.c:     The policy and templates, one reference per job.
 *   outbox.c:    The job queue and the outbox the broker thread drains.
 *   requests.c:  Idempotence by request id (and user) within the process.
 *   quota.c:     The per-user quotas: counts, the worker share, refusals.
 *   make.c:      What run and create share: labels, admission, duplicates.
 *   supervise.c: The supervisor and the event watcher: final replies,
 *                deadlines, waiters, re-adoption after a restart.
 *   answered.c:  The marks that keep an answered container from being
 *                answered again after a restart.
 *   util.c:      Allocators that abort, bounded output capture, small JSON
 *                and label helpers.
 *   commands.c:  The command table: one descriptor per command, each
 *                defined in its cmd_*.c file.
 *
 * Locking: struct engine is made of parts, each a struct with its own lock
 * and its init/cleanup in the file that owns it (jobs, outbox, requests,
 * answered, sup, quota).  The rest is set before the threads start.  Lock
 * order, outer first: a lock may be held while taking one to its right.
 *   quota.create_mu -> any other.    It orders creates across Docker calls.
 *   jobs.mu         -> quota.mu.     Picking a job counts its worker.
 *   jobs.mu         -> bulks.mu.     Stale jobs leave both lists at once.
 *   requests.mu     -> answered.mu.  A request is in flight or answered.
 * The others (outbox.mu, sup.mu, rules_mu) are taken alone.  No lock but
 * quota.create_mu is held while calling Docker, the broker or conf.notify.
 * Out of memory: the daemon aborts through src/base's x allocators rather
 * than threading ENOMEM through every path (daemon code, not library code).
 */
#ifndef DD_ENGINE_INTERNAL_H
#define DD_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base.h"
#include "dkc.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "templates.h"
#include "protocol.h"

#define LBL                 PROTO_RESERVED_LABEL_PREFIX
#define SUPERVISE_PERIOD_MS 200
/* A pass this soon after an event of ours (several events, one pass). */
#define SUPERVISE_SOON_MS 50
/* ... when the event matters to no one waiting: the counts and routing
 * keys a pass keeps may lag this much, and a busy node's events share one
 * pass (a list of all its containers) instead of making one each. */
#define SUPERVISE_LAZY_MS 1000
/* A container to look at again (Docker raced, or was away): this soon. */
#define SUPERVISE_RETRY_MS 500
/* The pass that runs even when nothing happened (engine_conf.supervise_ms). */
#define SUPERVISE_SAFETY_MS 30000
/* Answered request ids remembered per process for in-flight idempotence:
 * about 100 bytes each. */
#define ANSWERED_MAX 8192
/* Longest request id (message_id, else correlation_id) taken into labels. */
#define REQUEST_ID_MAX 200

/* ---- jobs ---- */
typedef enum job_kind { JOB_MSG, JOB_FINISH, JOB_AFTER } job_kind;

typedef struct job {
    struct job *next;
    job_kind kind;
    broker_delivery d;  /* MSG */
    char *id;           /* FINISH / AFTER: container id */
    int mark;           /* AFTER: mark answered instead of removing */
    int bulk_slot;      /* MSG: a bulk request handed a running slot (bulk.c) */
    int64_t arrived;    /* MSG: when engine_submit() took it (eng_now_ms) */
    int unrouted;       /* MSG: came back from <q>.containers (engine_submit_unrouted) */
    char *user;         /* MSG: the user it counts against ("" anonymous; quota.c) */
    int over_in_flight; /* MSG: over its user's in_flight at submit: answered quota */
    int holds_worker;   /* MSG: counted in its user's workers (quota.c) */
} job;

/* A `wait` request answered when its container stops. */
typedef struct waiter {
    struct waiter *next;
    char *container;
    char *condition;
    char *finished_at; /* next-exit: State.FinishedAt when the wait began */
    char *reply_to, *correlation_id, *request_id;
    char *user; /* the verified user_id; NULL: anonymous (quotas.waits) */
    proto_dialect dialect;
    int64_t deadline_ms; /* 0: none */
    int64_t t0;
} waiter;

/* outbox.c: the job queue the workers take from.  Under mu. */
typedef struct eng_jobs {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a job was queued, or one held back may go */
    job *head, *tail;
    int busy;         /* workers carrying out a job */
    int draining;     /* engine_begin_shutdown: messages are requeued, not carried out */
    int stop_workers; /* engine_free: the workers end */
} eng_jobs;

/* outbox.c: what the broker thread is to do, in order.  Under mu. */
typedef struct eng_outbox {
    pthread_mutex_t mu;
    engine_out *head, *tail;
    size_t n_events;      /* EVENT items in the outbox */
    uint64_t events_lost; /* dropped because n_events was at its cap */
} eng_outbox;

/* supervise.c: the supervisor's and the watcher's state.  Under mu unless
 * marked; the supervisor sleeps on cv until `due`. */
typedef struct eng_sup {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the supervisor for its next pass */
    int64_t due;       /* eng_now_ms by which a pass is wanted (eng_sup_soon;
                          INT64_MAX: none asked for) */
    int64_t next;      /* the earliest run deadline or `wait` timeout the last
                          pass saw (INT64_MAX: none) */
    waiter *waiters;
    json_t *claimed; /* container id -> when claimed (ms): FINISH queued or done */
    int docker_down;
    /* this node's containers at the last pass (heartbeats) */
    int n_running, n_containers;
    /* engine_fence: no final reply is made before this (eng_now_ms) */
    int64_t finish_after;
    /* Departed nodes of this Docker host whose containers this node
     * supervises and routes (engine_adopt). */
    json_t *adopted;
    json_t *routes; /* routing keys bound for this node's containers */
    /* the routing keys taken over from departed nodes' queues, key ->
     * node (the supervisor's alone) */
    json_t *adopted_keys;
    /* the threads: started and stopped by the main thread */
    pthread_t thread;
    int started;
    _Atomic int stop; /* set by the main thread, read by the supervisor */
    dkc_client *cli;
    pthread_t watch;
    int watch_started;
    _Atomic int watch_stop; /* set by the main thread, read by the watcher */
    dkc_client *watch_cli;
    /* the engine's start (realtime ns, before any worker): the watcher
     * takes the events after it */
    int64_t watch_from;
} eng_sup;

/* quota.c: what the per-user quotas and max_containers count on this
 * node.  Under mu, except create_mu. */
typedef struct eng_quota {
    pthread_mutex_t mu;
    struct eng_rules *rules; /* the rules for picking jobs (a reference of its own) */
    json_t *user_jobs;       /* user ("" anonymous) -> its MSG jobs in the engine */
    json_t *user_workers;    /* user -> workers its MSG jobs hold */
    int creating;            /* max_containers: creates admitted, Docker not answered yet */
    uint64_t created;        /* max_containers: creates Docker has answered, ever */
    /* held from counting a user's containers to their create: the one lock
     * held across Docker calls (it orders creates, it guards no field) */
    pthread_mutex_t create_mu;
} eng_quota;

/* requests.c: the requests (by request key, eng_request_key) that workers
 * carry out now, and the copies that wait for them. */
typedef struct eng_requests {
    pthread_mutex_t mu;
    json_t *inflight; /* request key -> true while a worker handles it */
    job *parked;      /* copies of in-flight requests, waiting for the first (FIFO) */
} eng_requests;

/* answered.c: what was answered.  The marks of answered requests keep a
 * redelivered copy from being carried out again; `mine` says which
 * containers no earlier process can have answered. */
typedef struct eng_answered {
    pthread_mutex_t mu;
    json_t *marks;    /* request key -> container id ("" when none) */
    char **ring;      /* the ANSWERED_MAX newest keys, oldest first out */
    size_t pos;       /* the ring's next slot */
    json_t *mine;     /* container id -> when made (ms): made here, not answered yet */
    json_t *removals; /* ids of answered containers to remove once Docker is back */
} eng_answered;

/* bulk.c: the bulk requests' share of the workers.  Each holds its
 * worker while its pieces run, so at most workers - 1 run at once; the
 * others wait here, first come first served. */
typedef struct eng_bulks {
    pthread_mutex_t mu;
    int running; /* bulk requests holding a worker */
    job *parked, *parked_tail;
} eng_bulks;

/* The rules a job is carried out under: the policy and the templates.
 * SIGHUP may replace them while jobs run (engine_set_rules), so each job
 * takes a reference at its start (eng_rules_take) and keeps reading the
 * same ones until it drops it (eng_rules_drop); the last drop of replaced
 * rules frees what they own. */
typedef struct eng_rules {
    int refs; /* under engine.rules_mu */
    const dd_policy *policy;
    const dd_templates *templates; /* NULL: none */
    dd_policy *own_policy;         /* freed with the rules; NULL: borrowed */
    dd_templates *own_templates;   /* freed with the rules; NULL: borrowed or none */
} eng_rules;

struct engine {
    engine_conf conf;         /* strings copied */
    pthread_mutex_t rules_mu; /* guards rules and every eng_rules.refs; taken alone */
    eng_rules *rules;         /* the current rules (one reference is the engine's) */
    engine_client_factory factory;
    pthread_t *workers;
    int n_workers;
    char node_label[320];    /* LBL "node=<node>" */
    char cluster_label[320]; /* LBL "cluster=<cluster>"; with node_label, the filter for
                                the containers this dispatcher owns */
    int64_t started_ms;      /* eng_now_ms at engine_start */
    eng_bulks bulks;         /* bulk.c */
    /* the parts, each under its own lock (the order at the top) */
    eng_jobs jobs;         /* outbox.c */
    eng_outbox outbox;     /* outbox.c */
    eng_requests requests; /* requests.c: idempotence by request id */
    eng_answered answered; /* answered.c */
    eng_sup sup;           /* supervise.c */
    eng_quota quota;       /* quota.c */
};

/* ---- per-message context and outcome ---- */
typedef enum hres {
    H_OK,        /* reply ok with c->result */
    H_ERR,       /* reply the error recorded in c */
    H_TRANSIENT, /* Docker unreachable: requeue the message, pause consuming */
    H_DONE,      /* the handler settled the delivery itself (acked; a reply follows later) */
    H_FORWARD    /* not this node's: forward the delivery (c->fwd_*) to the owner */
} hres;

struct engine_cmd;

typedef struct jctx {
    engine *e;
    eng_rules *rules; /* the job's reference: policy and templates for this job */
    dkc_client *cli;
    broker_delivery *d;
    proto_cmd *cmd;
    const struct engine_cmd *desc; /* the command's table entry */
    const char *request_id;
    int64_t t0;
    int64_t arrived; /* when the message reached the engine (eng_now_ms) */
    int unrouted;    /* no node had bound the container's id: find its owner by asking */
    /* outcome */
    json_t *result;
    int code;
    char msg[PROTO_MESSAGE_MAX];
    char field[PROTO_FIELD_MAX]; /* the refused field, "" when none */
    long http;
    json_t *err_extra;  /* members added to the reply's error object, or NULL */
    char container[80]; /* run/create: the container that answers the request */
    char discard[80];   /* a container to remove once the reply is confirmed, "" none */
    json_t *resolved;   /* the container's inspect, when scope.c resolved it (owned) */
    /* H_FORWARD: where to (routing key on <q>.containers, or a node's queue) */
    char fwd_key[300];
    char fwd_node[256];
} jctx;

/*
 * The command table.  Each command is one row, defined in the cmd_*.c file
 * that carries it out and listed in commands.c: adding a command is a file
 * (or a row in one) and a line in the table.  A row says what the command
 * names (target) and how it is treated (flags), as tmux's cmd_entry does:
 * ownership (scope.c) and idempotence (engine.c) read them, never the
 * command's kind.  A handler gets the parsed command in c->cmd and its row
 * in c->desc; simple Docker calls share one handler and differ by `verb`
 * or `query`.
 */

/* What a command names: the object scope.c finds among those its
 * publisher may act on before the handler runs (policy scope "cluster"). */
typedef enum eng_target {
    ENG_TARGET_NONE,      /* nothing that exists (run, create, info, nodes) */
    ENG_TARGET_CONTAINER, /* cmd->container, replaced by its full id, or forwarded */
    ENG_TARGET_VOLUME,    /* cmd->volume */
    ENG_TARGET_NETWORK,   /* cmd->network, replaced by its full id */
    ENG_TARGET_IMAGE      /* cmd->image: the host's and the publisher's are readable */
} eng_target;

/* engine_cmd.flags */
enum {
    /* makes a container: a copy of an answered request is a duplicate */
    ENG_CMD_DEDUPE = 0x01,
    /* Instances > 1 places pieces over the cluster (bulk.c) */
    ENG_CMD_BULK = 0x02,
    /* the container it makes runs at once: the user's running bounds */
    ENG_CMD_STARTS = 0x04,
    /* makes an object of its target kind, labelled as the cluster's and
     * the publisher's */
    ENG_CMD_LABELS_NEW = 0x08,
    /* lists its target kind: only what the publisher may see */
    ENG_CMD_LIST = 0x10,
    /* names a network and cmd->container, to join or leave it: a network
     * the policy lists may be named too */
    ENG_CMD_JOIN = 0x20,
    /* writes the image name cmd->repo:tag: a free one under the cluster's
     * commit prefix, or the publisher's */
    ENG_CMD_WRITES_IMAGE = 0x40,
};

typedef struct engine_cmd {
    proto_kind kind;
    eng_target target;
    unsigned flags; /* ENG_CMD_* */
    /* what the command does to the image it names, in a refusal's words
     * ("removed"): only an image this publisher committed may be.  NULL:
     * it only reads it (the host's images may be read, never changed). */
    const char *changes;
    /* 1: the command changes a node, not a container (register,
     * unregister): only the policy's admin_users may send it
     * (eng_check_admin) */
    int admin;
    hres (*handle)(jctx *c);
    /* for eng_handle_verb: one Docker call whose result is null */
    int (*verb)(dkc_client *cli, const proto_cmd *cmd);
    /* for eng_handle_query: one Docker call whose JSON is the result */
    int (*query)(dkc_client *cli, const proto_cmd *cmd, json_t **out);
    /* for eng_handle_query: trims the result to what the publisher may see */
    void (*visible)(const jctx *c, json_t *out);
    /* the libdkc error that means "done already" (0: none): a redelivered
     * message meeting it (its first delivery did the work, then the
     * process died before the ack) is answered as the first was, ok */
    int done_already;
} engine_cmd;

/* The descriptor of kind, or NULL when the engine cannot do it. */
const engine_cmd *eng_cmd_find(proto_kind kind);
/* 1 when the row of kind has every flag of flags (ENG_CMD_*). */
int eng_cmd_has(proto_kind kind, unsigned flags);
hres eng_handle_verb(jctx *c);
hres eng_handle_query(jctx *c);
hres eng_handle_unsupported(jctx *c);
/* 1 when libdkc error rc means c's command is done already and c's
 * delivery is a redelivery (see engine_cmd.done_already): answered ok. */
int eng_done_already(const jctx *c, int rc);

/* ---- rules.c ---- */
/* A reference to e's current rules; give it back with eng_rules_drop(). */
eng_rules *eng_rules_take(engine *e);
void eng_rules_drop(engine *e, eng_rules *r);

/* ---- outcome.c ---- */
/* run: c's container started now: observes the wait since the message
 * arrived (metrics' queue_to_start). */
void eng_count_start(const jctx *c);
void eng_post_reply(engine *e, json_t *reply, int64_t t0, const char *reply_to, const char *corr,
                    uint64_t tag, broker_delivery *dl, const char *reason, const char *after_remove,
                    int after_mark);
hres eng_fail(jctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
hres eng_dfail(jctx *c, int rc);
int eng_code_from_dkc(int dkc_err);

/* ---- outbox.c ---- */
void eng_post(engine *e, engine_out *o);
void eng_post_event(engine *e, json_t *ev);

/* Interim progress messages (docs/protocol.md, "Progress messages").  Only
 * a request that asked with Options.Progress / DockerMod "progress" and has
 * a reply_to gets them.  eng_progress_due() says whether one may go now: at
 * most ENG_PROGRESS_PER_S a second per request, and a milestone always
 * may.  When it may, it records the time in *last_ms.  eng_post_progress()
 * posts {"schema", "final": false, "node", "command", "request_id",
 * "progress": p} to the request's reply_to.  p is consumed; strings in it
 * must be bounded by the caller.  Worker threads. */
#define ENG_PROGRESS_PER_S 5
bool eng_progress_due(const jctx *c, int64_t *last_ms, bool milestone);
void eng_post_progress(jctx *c, json_t *p);
/* Takes the final replies (REPLY items of a finished run, tag 0 and an
 * after_remove) off the outbox: the list of them (engine_fence). */
engine_out *eng_outbox_take_finals(engine *e);
void eng_jobs_init(eng_jobs *q);
/* A worker's next job, counted busy until eng_jobs_done (*draining: the
 * engine drains, the job is not to be carried out); NULL when the
 * workers stop.  Waits for one. */
job *eng_jobs_take(engine *e, int *draining);
void eng_jobs_done(engine *e);
/* The workers carrying out a job now. */
int eng_jobs_busy(engine *e);
/* engine_begin_shutdown: messages taken from now on are requeued. */
void eng_jobs_drain(engine *e);
/* engine_free: the workers end once their job is done. */
void eng_jobs_stop(engine *e);
/* Frees the queued jobs (unacked: the broker hands them out again). */
void eng_jobs_cleanup(eng_jobs *q);
void eng_outbox_init(eng_outbox *o);
void eng_outbox_cleanup(eng_outbox *o);
void eng_push_job(engine *e, job *j);
/* The first queued job that may go to a worker (eng_quota_take_worker),
 * taken off the queue; NULL: none may.  The caller holds e->jobs.mu. */
job *eng_job_next_locked(engine *e);
/* Wakes the workers: a job held back may go now. */
void eng_jobs_wake(engine *e);
/* Queues the jobs of list (linked by next) ahead of every job, waking the
 * workers. */
void eng_push_jobs_front(engine *e, job *list);
/* Takes off list *head (tail *tail, may be NULL) the message jobs of
 * deliveries to settle that arrived before generation gen: the list of
 * them, in order.  The caller holds the list's lock. */
job *eng_jobs_unlink_stale(job **head, job **tail, uint32_t gen);
/* Frees a job that is in no list, and what it owns. */
void eng_job_free(job *j);
/* Queues j ahead of every message, after the FINISH and AFTER jobs already
 * ahead.  What a started container owes (its final reply, its removal)
 * goes before work that would start more.  So a backlog does not pile up
 * exited containers while new ones start. */
void eng_push_job_first(engine *e, job *j);

/* ---- requests.c ---- */
typedef enum req_state { REQ_FRESH, REQ_PARKED, REQ_ANSWERED } req_state;
/* The key the marks below use for request rid of user (NULL: anonymous):
 * malloc'd, never the same for two users. */
char *eng_request_key(const char *user, const char *rid);
void eng_requests_init(eng_requests *r);
/* Frees the parked copies (unacked: the broker hands them out again). */
void eng_requests_cleanup(eng_requests *r);
req_state eng_request_begin(engine *e, const char *rid, job *j, char **container);
void eng_request_end(engine *e, const char *rid, int answered, const char *container);
/* 1 while request key is carried out by a worker. */
int eng_request_in_flight(engine *e, const char *key);
/* The parked copies of deliveries before generation gen, taken off the
 * parked list (eng_jobs_unlink_stale). */
job *eng_requests_take_stale(engine *e, uint32_t gen);
/* 1 when a copy is parked. */
int eng_requests_parked(engine *e);
int eng_rid_ok(const char *rid);

/* ---- quota.c ---- */
/* The counts, under rules r (a reference taken for them). */
void eng_quota_init(eng_quota *q, eng_rules *r);
/* Frees the counts; the caller drops q->rules. */
void eng_quota_cleanup(eng_quota *q);
/* The rules for picking jobs become r (a reference taken for them): the
 * old ones, for the caller to drop. */
eng_rules *eng_quota_set_rules(engine *e, eng_rules *r);
/* A MSG job submitted: counts it against its user's in_flight (j->user). */
void eng_quota_submit(engine *e, job *j);
/* A MSG job ends (answered, dropped): its count goes. */
void eng_quota_release(engine *e, job *j);
/* 1 when queued job j may go to a worker now (a MSG job then counts in
 * its user's workers), 0 when its user's worker share is full. */
int eng_quota_take_worker(engine *e, job *j);
/* j no longer holds a worker: its user's share has room again (the
 * workers are woken). */
void eng_job_leave_worker(engine *e, job *j);
/* max_containers: creates answered so far (eng_quota_admit_create). */
uint64_t eng_quota_created(engine *e);
/* max_containers: 1 when a create may go (counted until
 * eng_quota_create_answered), listed containers being on the node and
 * created_before (eng_quota_created) read before the list; else 0 with
 * *pending the creates not in the list. */
int eng_quota_admit_create(engine *e, size_t listed, uint64_t created_before, int max,
                           size_t *pending);
void eng_quota_create_answered(engine *e);
/* Ends the hold of e->quota.create_mu that eng_quota_create or
 * eng_quota_start gave (*locked). */
void eng_quota_create_done(engine *e);
/* The node's creates that Docker has not answered yet. */
int eng_quota_creating(engine *e);
/* H_ERR (quota) when j was over its user's in_flight. */
hres eng_quota_in_flight(jctx *c, const job *j);
/* H_ERR when one more `wait` is over the user's or the node's bound (the
 * caller holds e->sup.mu: the waiters). */
hres eng_quota_wait_locked(jctx *c);
/* A run's Timeout (0: none) bounded by the user's run_time. */
int64_t eng_quota_run_time(const jctx *c, int64_t timeout_s);
/* Labels body with its memory and CPUs and checks the user's container
 * bounds (run: it will run).  H_OK with *locked when e->quota.create_mu is held
 * (the caller unlocks it once the container is made), or the refusal. */
hres eng_quota_create(jctx *c, json_t *body, bool run, bool *locked);
/* The same for a start or restart of c's container: H_OK with *locked
 * when e->quota.create_mu is held (unlocked by the caller once it started). */
hres eng_quota_start(jctx *c, bool *locked);

/* ---- make.c ---- */
hres eng_duplicate(jctx *c, const char *container, const char *state);
hres eng_find_request(jctx *c, json_t **found);
/* 1 when a container's labels name user as its maker (NULL: anonymous,
 * which only a container without a user label matches). */
int eng_same_user(json_t *labels, const char *user);
json_t *eng_labelled_body(jctx *c, json_t **labels);
hres eng_create_admitted(jctx *c, json_t *body, char **id, json_t **warnings);
/* A run or create naming a template: its create body becomes the template
 * filled with the request's params, with the request's own fields laid
 * over it.  H_OK (also without a template) or H_ERR. */
hres eng_apply_template(jctx *c);

/* ---- supervise.c ---- */
void eng_waiter_free(waiter *w);
/* Asks the supervisor for a pass within delay_ms (any thread). */
void eng_sup_soon(engine *e, int delay_ms);
void eng_sup_init(eng_sup *s);
/* Makes the supervisor's and the watcher's Docker clients (e->factory):
 * 0, or -1 with the reason in errbuf. */
int eng_sup_connect(engine *e, char *errbuf, size_t errlen);
/* The counts of the last pass and Docker's state (engine_load). */
void eng_sup_load(engine *e, struct cluster_load *out);
/* Queues the routes of container id (full id, short id) for binding. */
void eng_routes_add(engine *e, const char *id);
/* Brings the bound routes in line with the containers listed at
 * listed_at (a supervision pass). */
void eng_routes_reconcile(engine *e, json_t *containers, int64_t listed_at);
/* Frees the waiters, the sets and the clients (the threads are stopped). */
void eng_sup_cleanup(eng_sup *s);
/* Starts the supervisor and the watcher (their clients made); aborts
 * when a thread cannot start. */
void eng_sup_start(engine *e);
/* Stops the supervisor (eng_stop_watcher: the watcher); main thread. */
void eng_sup_stop(engine *e);
void eng_finish_job(engine *e, dkc_client *cli, const char *id);
void eng_stop_watcher(engine *e);
/* Registers w for c's `wait` unless over the user's or the node's bound
 * (eng_quota_wait_locked): H_OK (w is the supervisor's), or the refusal
 * (w is still the caller's). */
hres eng_waiter_add(jctx *c, waiter *w);
int eng_claim(engine *e, const char *id);
void eng_unclaim(engine *e, const char *id);
void eng_docker_down(engine *e);

/* ---- answered.c ---- */
void eng_mark_answered(dkc_client *cli, const char *id);
int eng_has_answered_name(const char *name, const char *id);
void eng_remove_answered(engine *e, dkc_client *cli, const char *id);
void eng_retry_removals(engine *e, dkc_client *cli);
int eng_is_answered(dkc_client *cli, const char *id);
void eng_answered_init(eng_answered *a);
void eng_answered_cleanup(eng_answered *a);
/* Marks request key as answered by container (NULL or "": none).  The
 * ANSWERED_MAX newest marks are kept.  key NULL: nothing. */
void eng_remember_answered(engine *e, const char *key, const char *container);
/* The container that answered request key (malloc'd, "" when none), or
 * NULL when key is not marked answered. */
char *eng_answered_find(engine *e, const char *key);
/* The `mine` set: add, drop, test; forget what Docker no longer lists
 * (eng_forget_gone); forget all (engine_fence). */
void eng_mine_add(engine *e, const char *id);
void eng_mine_del(engine *e, const char *id);
int eng_mine_has(engine *e, const char *id);
void eng_mine_forget_gone(engine *e, const json_t *present, int64_t listed_at);
void eng_mine_clear(engine *e);

/* ---- scope.c ---- */
hres eng_scope_check(jctx *c);
hres eng_scope_check_volumes(jctx *c, json_t *body);
/* The Config.Labels of c's container: the ownership check's inspect, or a
 * new one (scope host).  New reference in *labels.  H_OK or a failure. */
hres eng_container_labels(jctx *c, json_t **labels);
/* Drops from a container or volume list what c's publisher may not see. */
void eng_scope_filter_list(const jctx *c, json_t *list);
/* 1 if c's publisher may act on an object with these Labels (always under
 * scope host). */
int eng_scope_owns(const jctx *c, json_t *labels);
/* 1 if c's publisher may see an image with labels (its Config.Labels, or
 * a list entry's Labels): not one another cluster or user committed. */
int eng_image_visible(const jctx *c, json_t *labels);
/* Answers not_found for image ref in Docker's words for an image it lacks
 * (H_ERR), so that another's image reads as none. */
hres eng_no_such_image(jctx *c, const char *ref);
/* The image a run or create names (NULL: none): one that exists and is not
 * another cluster's or user's commit.  H_OK, H_ERR (not_found) or
 * H_TRANSIENT. */
hres eng_scope_check_image_use(jctx *c, const char *image);
/* The reference a pull writes: not another's committed image, which the
 * pull would re-point (not_found, as a failed pull).  H_OK, H_ERR or
 * H_TRANSIENT. */
hres eng_scope_check_pull(jctx *c, const char *ref);

/* ---- cluster_ops.c ---- */
/* 1 when c's command may go to another node: a cluster of more than this
 * node, and a delivery that is neither a part of a cluster query nor
 * forwarded already. */
int eng_may_forward(const jctx *c);
/* The container reference c names is not here: forward it to its owner
 * (H_FORWARD), resolve a short prefix across the cluster first, or answer
 * not_found (H_ERR) when no node can have it. */
hres eng_forward_container(jctx *c);
void eng_post_forward(jctx *c);
/* The user d acts for: the original publisher (x-dd-user, possibly NULL)
 * of a message another node forwarded as the dispatchers' own user, else
 * d->user_id.  Points into d. */
const char *eng_original_user(const engine *e, const broker_delivery *d);
/* 1 when d was this node's own part of a query it asked (acked here).
 * Only after eng_check_headers admitted d. */
int eng_from_cluster(engine *e, broker_delivery *d);
/* What a delivery's properties and headers may say before anything reads
 * them (docs/protocol.md, "Headers").  No property may hold a NUL byte;
 * content type and type must be text; at most BROKER_MAX_HEADERS headers.
 * The headers between nodes (cluster.h) come only from the dispatchers'
 * own RabbitMQ user (engine_conf.amqp_user), once each, each in its form.
 * 0, or -1 with perr a bad_request naming the property or header
 * ("headers.x-dd-part").  Pure. */
int eng_check_headers(const engine *e, const broker_delivery *d, proto_error *perr);
/* A cluster-wide list or images: the merged answer of every node. */
hres eng_cluster_query(jctx *c);
/* Refuses a command that changes a node (engine_cmd.admin) unless the
 * message's verified user_id is one of the policy's admin_users:
 * policy_denied naming user_id (H_ERR), else H_OK. */
hres eng_check_admin(jctx *c);
/* The cluster's way out (cluster_publish_fn; ud: the engine): m as a
 * PUBLISH item of the outbox. */
struct cluster_msg;
void eng_cluster_publish(void *ud, const struct cluster_msg *m);
/* cluster_ask_all as c's publisher through the outbox, for gather_ms:
 * *answers {node: reply}, *missing [nodes] (both new). */
void eng_ask_all(jctx *c, const char *body, json_t **answers, json_t **missing);

/* ---- bulk.c ---- */
/* instances > 1: the pieces placed over the cluster, the reply listing
 * each (always H_OK, or unsupported without a cluster). */
hres eng_bulk(jctx *c);
void eng_bulks_init(eng_bulks *b);
/* Frees the parked requests (unacked: the broker hands them out again). */
void eng_bulks_cleanup(eng_bulks *b);
/* The parked bulk requests of deliveries before generation gen, taken
 * off the parked list (eng_jobs_unlink_stale). */
job *eng_bulks_take_stale(engine *e, uint32_t gen);
/* Admits bulk request job j to run (1), or parks it until one ends (0;
 * j then belongs to the parked list). */
int eng_bulk_begin(engine *e, job *j);
/* A bulk request ended: hands its slot to a parked one, if any. */
void eng_bulk_end(engine *e);
/* A bulk piece placed on an earlier process of this node: unavailable. */
hres eng_check_incarnation(jctx *c);
/* Once after a start: removes this node's piece containers made by an
 * earlier process whose piece another node has too (placed again there
 * when this node went away before answering). */
void eng_sweep_pieces(engine *e, dkc_client *cli);

/* ---- util.c ---- */
/* json_object_set_new that aborts when memory runs out (v NULL counts: a
 * string jansson refused, which validated input never is). */
void eng_set(json_t *obj, const char *key, json_t *v);
int64_t eng_now_ms(void);
/* Output captured up to `limit` bytes in all (the rest counted in
 * truncated); fed by eng_capture_cb, freed by eng_capture_free. */
typedef struct capture {
    xbuf out, err;
    size_t limit;
    bool truncated;
} capture;

int eng_capture_cb(void *ud, int stream, const char *data, size_t len);
void eng_capture_free(capture *c);
const char *eng_jstr(json_t *o, const char *k);
const char *eng_label(json_t *labels, const char *suffix);
int64_t eng_rfc3339_secs(const char *s);
/* The same with the fraction of a second ("2024-01-02T03:04:05.123Z" ->
 * seconds since the epoch); 0 when s is NULL or not such a time.  Read as
 * UTC, as Docker writes them. */
double eng_rfc3339_time(const char *s);
json_t *eng_label_filter(const char *l1, const char *l2);
json_t *eng_owner_filter(const engine *e);
const char *eng_cname(json_t *inspect);
/* "k=v" strings of a labels object (NULL: none), NULL-terminated; free
 * with eng_strv_free. */
char **eng_label_strings(json_t *labels);
void eng_strv_free(char **v);
/* Drops from set (id -> when added, ms) the ids added before listed_at
 * that present (a set of the ids Docker listed then) lacks. */
void eng_forget_gone(json_t *set, const json_t *present, int64_t listed_at);
int eng_never_started(json_t *inspect);

#endif
