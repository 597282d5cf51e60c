/*
 * relay.h -- the engine's outcomes (engine_out items) turned into broker
 * calls: replies published and confirmed before their message is acked,
 * batches, dead letters, events, forwards, cluster parts, routes.
 *
 * The relay holds no state.  It reaches the broker only through a port (a
 * struct of function pointers): the daemon binds it to src/broker
 * (relay_bind_broker), unit tests to a fake.  What it tells the engine and
 * the cluster goes through hooks.  Main thread only: the thread that owns
 * the broker.
 */
#ifndef DD_RELAY_H
#define DD_RELAY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "broker.h"
#include "engine.h"
#include "metrics.h"

/* The broker calls the relay makes.  Each returns 0 or a broker error
 * (broker.h) as the broker_* function of the same name does. */
typedef struct relay_port {
    void *ud;
    /* broker_publish: publish and wait for the confirm */
    int (*publish)(void *ud, const char *exchange, const char *key, const broker_props *p,
                   const void *body, size_t len, unsigned flags);
    /* broker_publish_batched, then broker_confirm_batch for all of them */
    int (*publish_batched)(void *ud, const char *exchange, const char *key, const broker_props *p,
                           const void *body, size_t len);
    int (*confirm_batch)(void *ud, int *out, size_t n);
    int (*ack)(void *ud, uint64_t tag);
    int (*nack)(void *ud, uint64_t tag, int requeue);
    int (*dead_letter)(void *ud, const broker_delivery *d, const char *reason);
    int (*consume)(void *ud, int on); /* broker_consume_resume (1) / _pause (0) */
    int (*route)(void *ud, const char *node, const char *key, int add);
    int (*drain)(void *ud, int on);
    const char *(*error)(void *ud); /* the last failure in words */
} relay_port;

/* The broker's names (borrowed: they must outlive the relay). */
typedef struct relay_names {
    const char *work;       /* <q> */
    const char *dead;       /* <q>.dead */
    const char *events;     /* <q>.events */
    const char *all;        /* <q>.all */
    const char *containers; /* <q>.containers */
    const char *user;       /* the dispatchers' RabbitMQ user */
} relay_names;

/* What the relay tells others; each may be NULL. */
typedef struct relay_hooks {
    void *ud;
    /* a reply with a follow-up is out: engine_after */
    void (*after)(void *ud, const char *container, int remove);
    /* a forward by container id no queue took: engine_submit_unrouted
     * (*d is moved) */
    void (*unrouted)(void *ud, broker_delivery *d);
    /* a PUBLISH could not be sent: cluster_gather_failed */
    void (*part_failed)(void *ud, const char *correlation_id, int err);
    /* consuming was paused (0) or resumed (1) */
    void (*consuming)(void *ud, int on);
} relay_hooks;

typedef struct relay {
    relay_port port;
    relay_names names;
    relay_hooks hooks;
    /* replies, dead letters and dropped events are counted here; NULL:
     * nothing is counted */
    const metrics_dd *metrics;
    /* non-zero once the daemon stops: a RESUME is not carried out; NULL:
     * never */
    const volatile sig_atomic_t *stop;
} relay;

/* Binds r's port and names to b (borrowed: it must outlive r). */
void relay_bind_broker(relay *r, broker *b);

/* Carries out the items of *list in order and frees them.  A reply's
 * message is acked (or dead-lettered) only after the reply is confirmed.
 * Returns 0 (*list NULL), or BROKER_ECONNLOST/ENOTCONN: *list keeps the
 * item that met the lost connection and the rest, to be carried out again
 * after the reconnect.  Other failures are logged, counted and passed. */
int relay_run(const relay *r, engine_out **list);

/* relay_run() on e's outbox; on a lost connection the rest goes back to
 * the head of the outbox.  0 or BROKER_ECONNLOST/ENOTCONN. */
int relay_drain(const relay *r, engine *e);

/* Publishes the event node.<state> of node (up after start, down at
 * exit).  A failure is logged and the event dropped. */
void relay_node_event(const relay *r, const char *node, const char *state);

#endif
