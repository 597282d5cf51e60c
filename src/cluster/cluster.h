/*
 * cluster.h -- what a node knows of the cluster and does in it.  That is
 * the membership view built from heartbeats (cluster.c, membership.c), the
 * gathers that collect other nodes' answers and the scatter-gather of a
 * command (ask.c), and bulk pieces and their placement (pieces.c,
 * placement.c).
 *
 * Every node is equal and RabbitMQ is the only shared thing (DESIGN.md
 * "The cluster").  Each node publishes a heartbeat every interval on
 * <q>.events (routing key node.heartbeat.<name>) with its load.  Every node
 * hears all of them through its own watch queue and keeps a view.  A node
 * not heard from for `expiry` of the intervals it announced leaves the
 * view, and one that stops cleanly says so (node.down).
 *
 * Threads.  The broker thread feeds the view and publishes heartbeats
 * (membership.c) and offers replies to gathers (cluster_gather_offer).
 * Any other thread reads the view, asks the nodes and runs bulk pieces,
 * which publish through the caller's callback (cluster_publish_fn).
 * Everything is under one mutex inside.  The daemon aborts when memory
 * runs out (as the engine does).
 */
#ifndef DD_CLUSTER_H
#define DD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "broker.h"

/* Headers of messages between nodes. */
#define CLUSTER_H_PART                                                                             \
    "x-dd-part"                    /* "1": answer this node's part only: no forwarding, no         \
                                      fan-out (cluster queries, bulk pieces) */
#define CLUSTER_H_HOP  "x-dd-hop"  /* the node that forwarded the message to its owner */
#define CLUSTER_H_USER "x-dd-user" /* the original publisher's verified user_id */
#define CLUSTER_H_FROM "x-dd-from" /* the node that asked (parts: it answers its own) */
#define CLUSTER_H_INCARNATION                                                                      \
    "x-dd-incarnation" /* a bulk piece: the start time (ns) of the process it was placed on */

typedef struct cluster cluster;

typedef struct cluster_conf {
    const char *node;      /* this node's name */
    const char *cluster;   /* the deployment (base queue) name */
    const char *version;   /* this build's version */
    const char *host;      /* the Docker daemon's ID (Docker's /info "ID"): nodes with the
                              same one share a Docker host; NULL or "": unknown */
    int interval_ms;       /* heartbeat interval (> 0) */
    int expiry;            /* intervals of silence after which a node is gone (>= 2) */
    int alone_interval_ms; /* the interval while the view holds only this node
                              (0: CLUSTER_ALONE_INTERVAL_MS; at least interval_ms) */
} cluster_conf;

/* A node alone in its view beats this seldom: its heartbeats only tell
 * nodes that start later that it is there, and a node that joins makes it
 * beat at once and every interval_ms again (cluster_heard).  Each
 * heartbeat wakes the node twice (it hears its own), so an idle node
 * alone wakes about once a minute instead of once a second.  Others
 * expire a node by the interval it announced, up to a minute. */
#define CLUSTER_ALONE_INTERVAL_MS 60000

/* This node's figures for its heartbeat. */
typedef struct cluster_load {
    int running;    /* running containers of this node */
    int containers; /* containers of this node, any state */
    int inflight;   /* messages being worked on */
    int capacity;   /* containers it may hold at most (0: no limit) */
    bool docker;    /* Docker answers */
    bool draining;  /* takes no shared work */
} cluster_load;

/* A new cluster object (conf's strings copied); this node is in its own
 * view from the start.  Free with cluster_free (NULL is fine). */
cluster *cluster_new(const cluster_conf *conf);
void cluster_free(cluster *c);

/* What the membership tells this node's engine (ud: the engine).  Set
 * once, before the broker thread's loop; until then, and for a NULL
 * hook, nothing is told and the load is zero. */
typedef struct cluster_hooks {
    void (*load)(void *ud, cluster_load *out);  /* this node's figures for its heartbeat */
    int (*adopt)(void *ud, char *const *names); /* departed siblings to take care of (NULL:
                                                   none); 1 when the set changed */
    void (*view_changed)(void *ud);             /* a node joined or left the view */
    void (*fence)(void *ud, int hold_ms);       /* out of touch long enough to be adopted */
    void *ud;
} cluster_hooks;

void cluster_set_hooks(cluster *c, const cluster_hooks *h);
/* The hooks set (all NULL before cluster_set_hooks). */
const cluster_hooks *cluster_get_hooks(const cluster *c);

/* The broker thread: the heartbeat went out at now_ms; and when the last
 * one did (0: none yet). */
void cluster_beat_sent(cluster *c, int64_t now_ms);
int64_t cluster_last_beat_sent(const cluster *c);

/* The heartbeat interval and the expiry (in intervals) in use. */
int cluster_interval_ms(const cluster *c);
int cluster_expiry(const cluster *c);

/* The interval the last heartbeat announced (interval_ms, or the alone
 * interval): the others drop this node after that many ms times expiry of
 * silence. */
int cluster_announced_ms(const cluster *c);

/* This node's name. */
const char *cluster_self(const cluster *c);

/* This process's start time (ns since the epoch): its incarnation. */
int64_t cluster_incarnation(const cluster *c);

/* ---- membership (the broker thread) ---- */

/* The heartbeat to publish now for load (JSON text, free()), with its
 * routing key in key; also refreshes this node's own entry. */
char *cluster_heartbeat(cluster *c, const cluster_load *load, int64_t now_ms, char *key,
                        size_t keylen);

/* An event heard on <q>.events (routing key, JSON body).  Heartbeats of
 * this cluster add or refresh a node, node.down removes one.  Returns 1
 * when a node joined (its name in joined, when not NULL), -1 when one
 * left, 0 otherwise.  A node joining makes this node's next heartbeat due
 * at once (it may have been beating at the alone interval). */
int cluster_heard(cluster *c, const char *key, const char *body, size_t len, int64_t now_ms,
                  char *joined, size_t joinedlen);

/* The broker thread calls this once per turn of its loop, before
 * cluster_expire.  When more than an interval passed since its last call
 * (the loop was busy, e.g. publishing a bulk request's pieces, or
 * reconnecting), the heartbeats of that time are still unread.  So every
 * other node's silence is shortened by the excess.  Nodes heard since the
 * last call are left alone: their heartbeats were read.  Returns the excess credited (ms),
 * 0 on a normal turn. */
int64_t cluster_ticked(cluster *c, int64_t now_ms);

/* Drops nodes silent for `expiry` intervals.  Returns their names (a
 * NULL-terminated array, free with cluster_names_free) or NULL when none. */
char **cluster_expire(cluster *c, int64_t now_ms);

/* 1 when this node's next heartbeat is due at now_ms. */
int cluster_beat_due(const cluster *c, int64_t now_ms);

/* Milliseconds from now_ms until the broker thread has something to do:
 * the next heartbeat and the others' expiry (checked every interval) while
 * there are others, the end of a departed sibling's hold-back.  A node
 * alone is not woken for its heartbeat (the alone interval is returned):
 * it beats at the first turn of its loop after it is due. */
int cluster_due_in(cluster *c, int64_t now_ms);

/* How long a departed sibling stays departed before it is adopted
 * (cluster_to_adopt): one expiry period, interval times expiry. */
int64_t cluster_holdback_ms(const cluster *c);

/* ---- reading (any thread) ---- */

/* The view: [{"name", "self", "version", "started", "docker", "draining",
 * "running", "containers", "inflight", "capacity", "seen_ms_ago"}, ...]
 * sorted by name.  New reference. */
json_t *cluster_nodes_json(cluster *c, int64_t now_ms);

/* Names of the nodes in the view (NULL-terminated, sorted; free with
 * cluster_names_free); *n gets the count. */
char **cluster_names(cluster *c, size_t *n);
void cluster_names_free(char **names);

/* The number of nodes in the view. */
size_t cluster_size(cluster *c);

/* 1 if name is in the view. */
int cluster_has(cluster *c, const char *name);

/* The incarnation name last announced (0 when unknown). */
int64_t cluster_started_of(cluster *c, const char *name);

/* Nodes whose containers this node should supervise and route now
 * (NULL-terminated, sorted, free with cluster_names_free; NULL when none).
 * They are the nodes of this node's Docker host that left the view (silent
 * for `expiry` intervals, or stopped) at least holdback_ms ago and have not
 * come back.  There are none unless this node is the first by name of the
 * live nodes on that host.  A
 * departed node that comes back (its heartbeat heard) is no longer
 * listed. */
char **cluster_to_adopt(cluster *c, int64_t now_ms, int64_t holdback_ms);

/* ---- placement ---- */

typedef struct cluster_slot {
    const char *name; /* borrowed */
    int load;         /* the node's containers, in any state */
    int capacity;     /* 0: no limit */
} cluster_slot;

/* Places n pieces over slots (pure).  Spread (binpack false) gives each
 * piece to the slot with the least load counting the pieces placed so far
 * (ties by order), so loads end even within one.  Binpack fills the most
 * loaded slot that has capacity left first.  A slot at its capacity takes
 * no more.  out[k] is the slot index of piece k, -1 when no slot had room.
 * Returns the number placed. */
int cluster_place_pieces(const cluster_slot *slots, size_t nslots, int n, bool binpack, int *out);

/* Slots for placement from the view: nodes that answer Docker and do not
 * drain, except those named in skip (NULL-terminated or NULL).  *slots and
 * each name are new (free with cluster_slots_free).  Returns the count. */
size_t cluster_slots(cluster *c, char *const *skip, cluster_slot **slots);
void cluster_slots_free(cluster_slot *slots, size_t n);

/* ---- gathers ---- */

/* A gather collects replies whose correlation id starts with prefix
 * (cluster_gather_new makes a unique one). */
typedef struct cluster_gather cluster_gather;

/* A new gather with a unique correlation id prefix (cluster_gather_id). */
cluster_gather *cluster_gather_new(cluster *c);
const char *cluster_gather_id(const cluster_gather *g);

/* The broker thread: a reply (source BROKER_SRC_REPLY).  Returns 1 if a
 * gather took it (its body is kept), 0 if none wanted it. */
int cluster_gather_offer(cluster *c, const broker_delivery *d);

/* The broker thread: a message of gather corr could not be sent (rc a
 * broker error, e.g. BROKER_EUNROUTABLE): recorded as a failed answer
 * {"corr", "node": null, "failed": rc}. */
void cluster_gather_failed(cluster *c, const char *corr, int rc);

/* Waits until the gather has more than `have` answers, the view changed
 * (a node left), or until_ms (monotonic); returns the answer count. */
size_t cluster_gather_wait(cluster *c, cluster_gather *g, size_t have, int64_t until_ms);

/* The answers from the from-th on: a new array (a snapshot taken under
 * the lock; the broker thread keeps adding) of {"corr", "node", "reply"}
 * (reply: the parsed reply, null when it was not JSON; failures as
 * above). */
json_t *cluster_gather_answers(cluster *c, cluster_gather *g, size_t from);

/* Unregisters and frees g (later replies are dropped).  NULL is fine. */
void cluster_gather_free(cluster *c, cluster_gather *g);

/* ---- asking other nodes (ask.c) ---- */

/* A message to other nodes whose answers a gather collects.  Everything is
 * borrowed for the call. */
typedef struct cluster_msg {
    const char *node;           /* that node's queue; NULL: every node (<q>.all) */
    const char *correlation_id; /* the gather's id and a suffix */
    const char *message_id;     /* NULL: the correlation id */
    const char *body;
    const broker_header *headers;
    size_t n_headers;
} cluster_msg;

/* How cluster functions publish: the caller queues m for the broker thread
 * (a failure to send comes back as cluster_gather_failed).  Must not block
 * on the cluster. */
typedef void (*cluster_publish_fn)(void *ud, const cluster_msg *m);

/* The answers-and-wait loop of every gather.  Hands each new answer of g
 * to answer(ud, a) (borrowed), then asks awaiting(ud): while it says 1,
 * waits for the next answer, a node leaving the view, or until_ms.
 * Returns when awaiting says 0 or at until_ms.  Any thread but the
 * broker thread. */
void cluster_gather_collect(cluster *c, cluster_gather *g, int64_t until_ms,
                            void (*answer)(void *ud, json_t *a), int (*awaiting)(void *ud),
                            void *ud);

/* Asks every other node of the view for its part of body (a command) as
 * user (NULL: none), published through publish.  It waits until each
 * answered, left the view, or wait_ms passed.  Then *answers gets
 * {node: reply} (new), *missing the nodes that did not answer (new array): a partial
 * answer, never a hang. */
void cluster_ask_all(cluster *c, cluster_publish_fn publish, void *ud, const char *user,
                     const char *body, int wait_ms, json_t **answers, json_t **missing);

/* ---- bulk pieces (pieces.c) ---- */

/* One bulk request's pieces: each a request of its own (message id
 * <rid>.<k>) sent to its node's queue with the incarnation of the process
 * it was placed on, answered into a gather.  A piece whose node leaves the
 * view, refuses (unavailable, docker_unavailable, canceled,
 * max_containers) or cannot be reached is placed again on another node,
 * up to 4 attempts.  Used by one thread. */
typedef struct cluster_bulk cluster_bulk;

typedef struct cluster_bulk_conf {
    int n;            /* pieces (> 0) */
    bool binpack;     /* else spread */
    const char *rid;  /* the request id; NULL: the gather's id */
    const char *body; /* what every piece carries (copied) */
    const char *user; /* the publisher (x-dd-user); NULL: none */
    bool skip_self;   /* this node takes no piece */
    cluster_publish_fn publish;
    void *ud;
    /* called once for each piece as it is done: piece k of n, done of
     * them so far, where, its record (borrowed); NULL: not told */
    void (*done)(void *ud, int k, int n, int done, const char *node, const json_t *record);
} cluster_bulk_conf;

/* A new bulk (conf copied); free with cluster_bulk_free (NULL is fine). */
cluster_bulk *cluster_bulk_new(cluster *c, const cluster_bulk_conf *conf);
void cluster_bulk_free(cluster_bulk *b);

/* The request id its pieces' ids start with. */
const char *cluster_bulk_rid(const cluster_bulk *b);

/* Piece k exists already on node (a redelivered request), as container
 * id (borrowed) named name: done, not placed.  Out of range or done:
 * nothing. */
void cluster_bulk_made(cluster_bulk *b, int k, const char *node, json_t *id, const char *name);

/* Places and sends the open pieces and collects their answers, placing
 * again what failed, until every piece is done or until_ms. */
void cluster_bulk_run(cluster_bulk *b, int64_t until_ms);

/* The reply's result: {"requested", "created", "placement", "containers":
 * [{"node", "ok", "id", "name", "warnings", "error"?, "result"?}]} (new),
 * a piece still open a timeout; *created the pieces made. */
json_t *cluster_bulk_result(cluster_bulk *b, int *created);

/* Waits until until_ms on the view's condition variable: the time a
 * node gives its view to fill in after it starts.  Changes of the view
 * wake it; it returns at until_ms. */
void cluster_wait_until(cluster *c, int64_t until_ms);

/* ---- membership on the broker (membership.c): the broker thread ---- */

/* The cluster object of this node (cluster_free) after subscribing b to
 * the membership events and to direct replies.  Never NULL. */
cluster *cluster_start(broker *b, const cluster_conf *cc);

/* Publishes the heartbeat when due and drops silent nodes; returns the
 * milliseconds until it should be called again. */
int cluster_tick(cluster *cl, broker *b);

/* After a reconnect: when no heartbeat went out for as long as the others
 * take to drop this node, a sibling may have adopted its containers: the
 * engine is fenced (cluster_hooks.fence) until the sibling has heard it
 * again. */
void cluster_reconnected(cluster *cl);

/* A delivery from the watch (membership) or reply consumer is taken into
 * the view (when published by the dispatchers' RabbitMQ user, the user of
 * b) or offered to the gathers.  Returns 1 when d was one of those (the
 * caller then only cleans it up), 0 for work.  A node joining or leaving the view
 * is told to the engine (cluster_hooks.view_changed). */
int cluster_receive(cluster *cl, broker *b, const broker_delivery *d);

/* Monotonic milliseconds (the clock all _ms arguments above use). */
int64_t cluster_now_ms(void);

#endif
