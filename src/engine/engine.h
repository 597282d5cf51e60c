/*
 * engine.h -- the dispatcher's engine: turns deliveries into Docker work.
 *
 * Threads.  The caller's thread owns the broker (main loop); the engine
 * never touches it.  Deliveries go in with engine_submit(); what must be
 * done on the broker comes back as an outbox list (engine_take_outbox()),
 * which the caller carries out in order and then frees.  Inside, worker
 * threads (each with its own dkc_client) take jobs from one queue.  A
 * supervisor thread (its own dkc_client) passes over the containers
 * labelled with this node when asked (an event, a deadline, a new `wait`),
 * and at least every conf.supervise_ms.  It looks for owed final replies,
 * run deadlines, `wait` waiters, and Docker coming back after an outage.  A
 * watcher thread (its own dkc_client) follows Docker's event stream for
 * those containers.  A `die` queues the final reply at once and wakes the
 * supervisor for waiters.  Starts, exits and removals become
 * ENGINE_OUT_EVENT items.  At most ENGINE_MAX_PENDING_EVENTS wait in the
 * outbox (while RabbitMQ is away); later ones are dropped and counted.
 * Events are a live feed, replies are the record.
 *
 * Memory.  The daemon aborts on out-of-memory (src/base's x-allocators);
 * nothing here returns ENOMEM.
 */
#ifndef DD_ENGINE_H
#define DD_ENGINE_H

#include <stdint.h>

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

#include "broker.h"
#include "dkc.h"
#include "policy.h"

#define ENGINE_MAX_PENDING_EVENTS 1024
/* The largest reply by default: under RabbitMQ 4's default largest message
 * (16 MiB), with room to spare for the properties. */
#define ENGINE_DEFAULT_MAX_REPLY (15u * 1024u * 1024u)

typedef enum engine_out_kind {
    ENGINE_OUT_ACK = 0,  /* broker_ack(tag) */
    ENGINE_OUT_NACK,     /* broker_nack(tag, requeue) */
    ENGINE_OUT_REPLY,    /* publish body to reply_to, then settle / follow up */
    ENGINE_OUT_PAUSE,    /* Docker is down: stop consuming */
    ENGINE_OUT_RESUME,   /* Docker is back: consume again */
    ENGINE_OUT_EVENT,    /* publish body on <q>.events with routing key `key` */
    ENGINE_OUT_ROUTE,    /* bind or unbind a container's key to a node queue */
    ENGINE_OUT_DRAIN,    /* broker_drain(on): DockerMod unregister (1) / register (0) */
    ENGINE_OUT_PUBLISH,  /* a part query or bulk piece to other nodes */
    ENGINE_OUT_FORWARD,  /* a delivery to the node that owns its container */
    ENGINE_OUT_PROGRESS, /* an interim message to reply_to; nothing settled */
} engine_out_kind;

typedef enum engine_dest {
    ENGINE_TO_ALL = 0,    /* <q>.all: every node queue */
    ENGINE_TO_CONTAINERS, /* <q>.containers: the node bound to `key` */
    ENGINE_TO_NODE,       /* <q>.node.<node> through the default exchange */
} engine_dest;

/* Where a PUBLISH or FORWARD goes, and the headers it adds. */
typedef struct engine_out_to {
    engine_dest dest;
    char *node; /* ENGINE_TO_NODE: the node */
    char *key;  /* ENGINE_TO_ALL, ENGINE_TO_CONTAINERS: the routing key */
    broker_header *headers;
    size_t n_headers;
} engine_out_to;

/* One thing for the broker thread to do: a kind and its fields.  Made by
 * the engine_out_<kind>() constructors below.  Every pointer is owned by
 * the item and freed by engine_out_free(). */
typedef struct engine_out {
    struct engine_out *next;
    engine_out_kind kind;
    union {
        struct {
            uint64_t tag;
        } ack;
        struct {
            uint64_t tag;
            int requeue;
        } nack;
        /* REPLY and PROGRESS (which uses reply_to, correlation_id, body) */
        struct {
            uint64_t tag;   /* the delivery to ack once the reply is out (0: none) */
            char *reply_to; /* NULL: nobody to tell */
            char *correlation_id;
            char *body; /* JSON text */
            /* dead-letter this delivery with reason instead of acking tag */
            broker_delivery *dl;
            char *reason;
            /* once the reply is out: remove this container, or mark it as
             * answered when after_mark is set (engine_after) */
            char *after_remove;
            int after_mark;
        } reply;
        struct {
            char *key;
            char *body; /* the event's JSON text */
        } event;
        /* bind (add) or unbind key to the queue of node (NULL: this
         * node's; else a departed node's, engine_adopt) */
        struct {
            char *node;
            char *key;
            int add;
        } route;
        struct {
            int on;
        } drain;
        /* body to `to` with correlation and message id, reply_to direct
         * reply-to; a failure is told to the cluster's gather */
        struct {
            engine_out_to to;
            char *correlation_id;
            char *message_id; /* NULL: the correlation id */
            char *body;
        } publish;
        /* dl to its owner at `to` (mandatory), then acked; unroutable:
         * body (a not_found reply) to its reply_to, then acked */
        struct {
            engine_out_to to;
            broker_delivery *dl;
            char *body;
        } forward;
    };
} engine_out;

/* The constructors, one per kind.  Each returns a new item (abort on
 * out-of-memory) for engine_out_free().  Strings are copied, except body
 * and dl, which are moved (body: malloc'd; *dl is zeroed). */
engine_out *engine_out_ack(uint64_t tag);
engine_out *engine_out_nack(uint64_t tag, int requeue);
engine_out *engine_out_reply(uint64_t tag, const char *reply_to, const char *correlation_id,
                             char *body);
engine_out *engine_out_progress(const char *reply_to, const char *correlation_id, char *body);
engine_out *engine_out_pause(void);
engine_out *engine_out_resume(void);
engine_out *engine_out_event(const char *key, char *body);
engine_out *engine_out_route(const char *node, const char *key, int add);
engine_out *engine_out_drain(int on);
engine_out *engine_out_publish(engine_dest dest, const char *node, const char *key,
                               const char *correlation_id, const char *message_id, char *body);
engine_out *engine_out_forward(engine_dest dest, const char *node, const char *key,
                               broker_delivery *dl, char *body);

/* Adds header k: v (copied) to a PUBLISH or FORWARD item. */
void engine_out_add_header(engine_out *o, const char *k, const char *v);

typedef struct engine engine;

/* What the engine needs of the daemon's settings. */
typedef struct engine_conf {
    const char *node;    /* this node's name (container labels) */
    const char *cluster; /* the deployment's name (container labels) */
    int workers;         /* worker threads, >= 1 */
    size_t max_body;     /* largest message read */
    /* largest reply sent (bytes of JSON text; 0: ENGINE_DEFAULT_MAX_REPLY):
     * a bigger one is answered too_large instead (proto_reply_too_large) */
    size_t max_reply;
    size_t output_limit; /* default captured output per run */
    int max_run_seconds; /* upper bound on a run's time limit; 0: none */
    bool quiet_output;   /* do not copy runs' attached output to stdout */
    /* The cluster (membership, gathers); NULL: this node alone, commands are
     * never forwarded nor fanned out. */
    struct cluster *members;
    /* The RabbitMQ user this dispatcher connects as: messages it forwards
     * carry it as user_id, and only messages with it are trusted to say
     * (x-dd-user) who published them first.  NULL: trust none. */
    const char *amqp_user;
    int gather_ms; /* how long a cluster-wide query waits for other nodes */
    /* The supervision pass that runs when nothing asked for one (0:
     * SUPERVISE_SAFETY_MS, 30 s).  Passes come from Docker's events, run
     * deadlines, `wait` timeouts and retries; this only bounds how long a
     * change nobody announced (a lost event) goes unseen. */
    int supervise_ms;
    int bulk_ms; /* how long a bulk request waits for its pieces */
    /* named create bodies for `template` (read-only; NULL: none) */
    const struct dd_templates *templates;
    /* Called (from any engine thread, without engine locks held) after an
     * item is added to the outbox, so that the broker thread can sleep until
     * there is work; NULL: the broker thread polls. */
    void (*notify)(void *ud);
    void *notify_ud;
    /* Where the engine counts what it does (requests and their outcomes,
     * policy denials, run durations, the wait to start, Docker coming
     * back, dropped events); borrowed, must outlive the engine; NULL:
     * nothing is counted. */
    const struct metrics_dd *metrics;
} engine_conf;

/* Where the engine's threads get their Docker clients: make() is called
 * once per worker, supervisor and watcher, from the thread that starts the
 * engine or from the worker itself; 0 and *out, or non-zero with a reason
 * in errbuf.  The daemon uses engine_client_from_options (ud: a
 * const dkc_options *, which must outlive the engine); unit tests hand out
 * clients with a fake transport. */
typedef struct engine_client_factory {
    int (*make)(void *ud, dkc_client **out, char *errbuf, size_t errlen);
    void *ud;
} engine_client_factory;

int engine_client_from_options(void *ud, dkc_client **out, char *errbuf, size_t errlen);

/* Makes an engine for conf (copied) and policy (borrowed; must outlive the
 * engine: every create body passes the policy just before it is sent) with
 * Docker clients from factory (copied).  Starts conf->workers workers, the
 * supervisor and the event watcher.  Returns NULL with a reason in errbuf
 * if a Docker client could not be made. */
engine *engine_start(const engine_conf *conf, const dd_policy *policy,
                     const engine_client_factory *factory, char *errbuf, size_t errlen);

/* Replaces the policy and the templates (SIGHUP): both are moved (policy
 * malloc'd and filled by policy_from_json; templates may be NULL for none)
 * and freed by the engine.  Jobs already running finish under the rules
 * they started with; jobs taken from now on use these.  Any thread. */
void engine_set_rules(engine *e, dd_policy *policy, struct dd_templates *templates);

/* Hands a delivery to the engine: *d is moved (zeroed here). */
void engine_submit(engine *e, broker_delivery *d);

/* The view of the cluster changed (a node joined or left): a supervision
 * pass binds or unbinds the routing keys of this node's containers now
 * (they are bound only while the view has other nodes).  Any thread. */
void engine_view_changed(engine *e);

/* Hands back a delivery this node forwarded by container id to
 * <q>.containers that no queue took (ENGINE_OUT_FORWARD, unroutable): its
 * owner is found by asking the nodes, as for a name.  *d is moved. */
void engine_submit_unrouted(engine *e, broker_delivery *d);

/* The broker's channel changed: it closed the channel (e.g. for its
 * consumer timeout), or the connection was lost.  Every delivery of an
 * earlier generation not yet acked is back in its queue and comes again,
 * marked redelivered.  Drops the queued and parked messages of
 * generations other than gen that no worker has begun, since their copies
 * are on the way.  Returns how many.  What a worker carries out already
 * goes on.  Its redelivered copy waits for it and is then acked without
 * being carried out again (requests.c).  Main thread. */
size_t engine_forget_generations(engine *e, uint32_t gen);

/* Takes the whole outbox (FIFO list, NULL if empty). */
engine_out *engine_take_outbox(engine *e);

/* Puts items back at the head of the outbox (a publish that must wait for a
 * reconnect). */
void engine_requeue_outbox(engine *e, engine_out *list);

/* A reply was published: queue the follow-up for container id: remove it
 * (remove non-zero) or mark it as answered. */
void engine_after(engine *e, const char *container_id, int remove);

/* This node's figures for its heartbeat (cluster.h); any thread. */
struct cluster_load;
void engine_load(engine *e, struct cluster_load *out);

/* The membership's hooks into e (cluster.h: engine_load, engine_adopt,
 * engine_view_changed, engine_fence) for cluster_set_hooks. */
struct cluster_hooks;
void engine_cluster_hooks(engine *e, struct cluster_hooks *out);

/* The departed nodes of this Docker host whose containers this node takes
 * care of from now on, besides its own (cluster_to_adopt).  Their exited
 * runs get their final replies from here, and their deadlines are kept.
 * Their routing keys move from their queues to this node's.  names is copied
 * (NULL-terminated; NULL: none).  A node no longer named is released: its
 * keys are unbound here at the next pass (it binds them again itself).
 * Returns 1 when the set changed.  Any thread. */
int engine_adopt(engine *e, char *const *names);

/* This node was out of touch with the cluster (no heartbeat out) long
 * enough for a sibling to take care of its containers (engine_adopt on
 * the sibling), and is back.  The final replies made meanwhile and still
 * in the outbox are dropped.  No final reply is made for hold_ms, while the
 * sibling hears this node again and lets go.  From then on every final
 * reply is first checked against the answered marks, as after a restart:
 * a run the sibling answered is not answered again.  Any thread. */
void engine_fence(engine *e, int hold_ms);

/* Frees one item (not its successors). */
void engine_out_free(engine_out *o);

/* Shutdown, step 1: stops the supervisor and hands out no more deliveries
 * (those queued are answered with NACK requeue).  Running jobs finish. */
void engine_begin_shutdown(engine *e);

/* 1 when no job is queued or running and the outbox is empty. */
int engine_idle(engine *e);

/* Shutdown, step 2: joins the workers and frees everything.  NULL is fine. */
void engine_free(engine *e);

#endif
