/*
 * topology.c -- what a node declares on RabbitMQ (a table: the cluster
 * work adds rows), its consumers, pausing and resuming them, and the side
 * channel's admin calls.  See the DESIGN note in broker.c.
 */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "broker_internal.h"
#include "text.h"

static int ensure_side(broker *b);

amqp_table_entry_t brk_entry_str(const char *k, const char *v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(v);
    return e;
}

static amqp_table_entry_t entry_long(const char *k, int64_t v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    return e;
}

amqp_table_entry_t brk_entry_bool(const char *k, int v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e.value.value.boolean = v;
    return e;
}

static const char *type_name(broker_queue_type t)
{
    return t == BROKER_QUEUE_CLASSIC ? "classic" : "quorum";
}

/* Fills e (room for 6) with the arguments of a queue of type t: the work
 * and node queues when typed (DLX, delivery limit), else the dead-letter
 * queue (the type; no delivery limit, which RabbitMQ 4 must be told).
 * Returns the number of entries. */
static int queue_args(const broker *b, int typed, broker_queue_type t, amqp_table_entry_t *e)
{
    int n = 0;
    if (!typed) {
        e[n++] = brk_entry_str("x-queue-type", type_name(t));
        if (t == BROKER_QUEUE_QUORUM && b->server_major >= 4)
            e[n++] = entry_long("x-delivery-limit", -1); /* none (broker.h) */
        return n;
    }
    e[n++] = brk_entry_str("x-queue-type", type_name(t));
    e[n++] = brk_entry_str("x-dead-letter-exchange", b->n_dlx);
    if (t == BROKER_QUEUE_QUORUM) {
        e[n++] = entry_long("x-delivery-limit", b->conf.delivery_limit);
        e[n++] = brk_entry_str("x-dead-letter-strategy", "at-least-once");
        e[n++] = brk_entry_str("x-overflow", "reject-publish");
    }
    return n;
}

/* After a PRECONDITION_FAILED on queue name: would the queue accept the
 * other type's arguments?  Tried on the side channel, only when a passive
 * declare says the queue exists (RabbitMQ reports the first differing
 * argument, which need not be x-queue-type, so its text alone cannot tell
 * the type).  Returns 1 if the queue is of type other. */
static int queue_is_of_type(broker *b, const char *name, broker_queue_type other)
{
    amqp_table_entry_t e[6];
    amqp_table_t args;
    if (ensure_side(b) < 0)
        return 0;
    amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table);
    if (brk_rpc_result(b, b->side, "probing") < 0 || ensure_side(b) < 0)
        return 0;
    args.num_entries = queue_args(b, 1, other, e);
    args.entries = e;
    amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    return brk_rpc_result(b, b->side, "probing") == 0;
}

/* Declares a durable queue with the arguments our role gives it: typed
 * (the work and node queues: conf type, DLX, delivery limit) or the classic
 * dead-letter queue.  On an argument mismatch returns BROKER_ETOPOLOGY with
 * advice: which type the queue has if that is the difference, else
 * RabbitMQ's own words. */
static int declare_queue(broker *b, const char *name, int typed)
{
    amqp_table_entry_t e[6];
    amqp_table_t args;
    int rc;
    char what[MAX_NAME + 32], server[BROKER_ERRMAX];

    if (!typed) {
        /* The dead-letter queue, of the work queue's type.  A quorum one is
         * replicated over a RabbitMQ cluster.  A classic one lives on the
         * node that declared it first; while that node is down, no
         * dispatcher can declare it and connect.  One an earlier version
         * made classic is used as it is.  It is declared on the side
         * channel, whose refusal (the arguments differ) leaves the main one
         * open. */
        args.num_entries = queue_args(b, 0, b->conf.queue_type, e);
        args.entries = e;
        snprintf(what, sizeof what, "declaring queue '%s'", name);
        if ((rc = ensure_side(b)) < 0)
            return rc;
        amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
        rc = brk_rpc_result(b, b->side, what);
        if (rc < 0 && b->up && b->close_code == AMQP_PRECONDITION_FAILED)
            return 0;
        return rc;
    }

    args.num_entries = queue_args(b, typed, b->conf.queue_type, e);
    args.entries = e;
    snprintf(what, sizeof what, "declaring queue '%s'", name);
    amqp_queue_declare(b->conn, b->ch, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    rc = brk_rpc_result(b, b->ch, what);
    if (rc >= 0 || !b->up || b->close_code != AMQP_PRECONDITION_FAILED)
        return rc;
    snprintf(server, sizeof server, "%s", b->err);
    broker_queue_type want = b->conf.queue_type;
    broker_queue_type other =
        want == BROKER_QUEUE_QUORUM ? BROKER_QUEUE_CLASSIC : BROKER_QUEUE_QUORUM;
    if (typed && queue_is_of_type(b, name, other))
        brk_set_err(b,
                    "queue '%s' exists as %s but %s was asked for: delete it (its messages go "
                    "with it) or use --queue-type %s",
                    name, type_name(other), type_name(want), type_name(other));
    else
        brk_set_err(b,
                    "queue '%s' exists with different arguments (%s): delete it or use the "
                    "settings it was declared with",
                    name, server);
    return BROKER_ETOPOLOGY;
}

/* Declares a durable exchange of type on the main channel;
 * BROKER_ETOPOLOGY with advice if it exists with another type. */
static int declare_exchange(broker *b, const char *name, const char *type)
{
    char what[MAX_NAME + 32];
    int rc;
    snprintf(what, sizeof what, "declaring exchange '%s'", name);
    amqp_exchange_declare(b->conn, b->ch, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1,
                          0, 0, amqp_empty_table);
    rc = brk_rpc_result(b, b->ch, what);
    if (rc < 0 && b->up && b->close_code == AMQP_PRECONDITION_FAILED) {
        char server[BROKER_ERRMAX];
        snprintf(server, sizeof server, "%s", b->err);
        brk_set_err(b,
                    "exchange '%s' exists with a different type or arguments (%s): delete it so "
                    "that it can be declared as a durable %s exchange",
                    name, server, type);
        return BROKER_ETOPOLOGY;
    }
    return rc;
}

/* Holds this node's identity (queue + node name) for the connection's
 * lifetime: an exclusive, auto-delete queue <q>.node.<name>.owner, which
 * RabbitMQ lets only one connection own.  A second dispatcher with the same
 * identity gets RESOURCE_LOCKED and BROKER_EINUSE, instead of both
 * consuming the node queue and answering each other's containers.  The
 * connection going away (clean close, crash, missed heartbeats) frees it.
 * Declaring it again on the owning connection is a no-op. */
static int hold_identity(broker *b)
{
    char what[MAX_NAME + 32];
    snprintf(what, sizeof what, "declaring queue '%s'", b->n_owner);
    amqp_queue_declare(b->conn, b->ch, amqp_cstring_bytes(b->n_owner), 0, 0, 1, 1,
                       amqp_empty_table);
    int rc = brk_rpc_result(b, b->ch, what);
    if (rc < 0 && b->up && b->close_code == AMQP_RESOURCE_LOCKED) {
        brk_set_err(b,
                    "another dispatcher is connected as node '%s' of queue '%s' (it holds '%s'): "
                    "two dispatchers with one queue and node name would answer for each other's "
                    "containers; stop the other one or give this one another --node",
                    b->s_node, b->n_work, b->n_owner);
        return BROKER_EINUSE;
    }
    return rc;
}

/*
 * The node role's topology, as data: what a node declares, in order, on
 * its main channel at every (re)connect and after a consumer was
 * cancelled.  Names are the handle's derived ones (offsets of its n_*
 * fields).  broker_topology_delete() takes the queues and exchanges of
 * this table away again.  A new part of the design (the cluster's
 * exchanges and bindings) is a new row.
 */
typedef enum topo_kind {
    TOPO_EXCHANGE, /* durable exchange of `type` */
    TOPO_QUEUE,    /* durable queue; `typed`: of the configured type, with the
                      dead-letter exchange and delivery limit */
    TOPO_BIND,     /* queue `name` bound to exchange `source` with an empty key */
    TOPO_LOCK      /* the identity lock (hold_identity) */
} topo_kind;

typedef struct topo_row {
    topo_kind kind;
    size_t name;   /* offsetof(broker, n_...) */
    size_t source; /* TOPO_BIND: the exchange */
    const char *type;
    int typed;
} topo_row;

#define NAME(f) offsetof(broker, f)

static const topo_row node_topology[] = {
    {TOPO_EXCHANGE, NAME(n_dlx), 0, "fanout", 0},
    {TOPO_QUEUE, NAME(n_dead), 0, NULL, 0},
    {TOPO_BIND, NAME(n_dead), NAME(n_dlx), NULL, 0},
    {TOPO_QUEUE, NAME(n_work), 0, NULL, 1},
    {TOPO_QUEUE, NAME(n_node), 0, NULL, 1},
    {TOPO_LOCK, NAME(n_owner), 0, NULL, 0},
    {TOPO_EXCHANGE, NAME(n_events), 0, "topic", 0},
    {TOPO_EXCHANGE, NAME(n_containers), 0, "direct", 0},
    {TOPO_EXCHANGE, NAME(n_all), 0, "fanout", 0},
    {TOPO_BIND, NAME(n_node), NAME(n_all), NULL, 0},
};

#define N_TOPOLOGY (sizeof node_topology / sizeof node_topology[0])

static const char *row_name(const broker *b, size_t off)
{
    return *(char *const *)((const char *)b + off);
}

/* Binds queue to exchange with an empty key on the main channel. */
static int bind_queue(broker *b, const char *queue, const char *exchange)
{
    char what[2 * MAX_NAME + 32];
    snprintf(what, sizeof what, "binding '%s' to '%s'", queue, exchange);
    amqp_queue_bind(b->conn, b->ch, amqp_cstring_bytes(queue), amqp_cstring_bytes(exchange),
                    amqp_empty_bytes, amqp_empty_table);
    return brk_rpc_result(b, b->ch, what);
}

/* Declares the node role's topology (the table above) on the main channel. */
static int declare_topology(broker *b)
{
    for (size_t i = 0; i < N_TOPOLOGY; i++) {
        const topo_row *r = &node_topology[i];
        const char *name = row_name(b, r->name);
        int rc = 0;
        switch (r->kind) {
        case TOPO_EXCHANGE:
            rc = declare_exchange(b, name, r->type);
            break;
        case TOPO_QUEUE:
            rc = declare_queue(b, name, r->typed);
            break;
        case TOPO_BIND:
            rc = bind_queue(b, name, row_name(b, r->source));
            break;
        case TOPO_LOCK:
            rc = hold_identity(b);
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* basic.consume on the main channel with our consumer tag. */
static int consume(broker *b, const char *queue, const char *tag, int no_ack)
{
    char what[MAX_NAME + 32];
    snprintf(what, sizeof what, "consuming from '%s'", queue);
    amqp_basic_consume(b->conn, b->ch, amqp_cstring_bytes(queue), amqp_cstring_bytes(tag), 0,
                       no_ack, 0, amqp_empty_table);
    return brk_rpc_result(b, b->ch, what);
}

/* basic.cancel of one of our consumers on the main channel. */
static int cancel(broker *b, const char *tag)
{
    char what[64];
    snprintf(what, sizeof what, "cancelling consumer %s", tag);
    amqp_basic_cancel(b->conn, b->ch, amqp_cstring_bytes(tag));
    return brk_rpc_result(b, b->ch, what);
}

/* The watch consumer: a server-named, exclusive, auto-delete queue bound
 * to <q>.events with the watch pattern, consumed without acks.  A new queue
 * each time (the old one went with its channel or connection). */
static int watch_subscribe(broker *b)
{
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(b->conn, b->ch, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    int rc = brk_rpc_result(b, b->ch, "declaring the watch queue");
    if (rc < 0)
        return rc;
    if (ok == NULL || ok->queue.len == 0 || ok->queue.len > MAX_NAME) {
        brk_set_err(b, "the broker named no watch queue");
        return BROKER_EPROTO;
    }
    char name[MAX_NAME + 1];
    memcpy(name, ok->queue.bytes, ok->queue.len);
    name[ok->queue.len] = '\0';
    amqp_queue_bind(b->conn, b->ch, amqp_cstring_bytes(name), amqp_cstring_bytes(b->n_events),
                    amqp_cstring_bytes(b->watch_pattern), amqp_empty_table);
    char what[MAX_NAME + 64];
    snprintf(what, sizeof what, "binding the watch queue to '%s'", b->n_events);
    if ((rc = brk_rpc_result(b, b->ch, what)) < 0)
        return rc;
    return consume(b, name, CT_WATCH, 1);
}

/* Starts whichever consumers should run and do not. */
static int subscribe(broker *b)
{
    int rc;
    if (b->conf.role == BROKER_ROLE_NODE && !b->paused) {
        if (!b->work_on && !b->draining) {
            if ((rc = consume(b, b->n_work, CT_WORK, 0)) < 0)
                return rc;
            b->work_on = 1;
        }
        if (!b->node_on) {
            if ((rc = consume(b, b->n_node, CT_NODE, 0)) < 0)
                return rc;
            b->node_on = 1;
        }
    }
    if (b->rpc_wanted && !b->reply_on) {
        if ((rc = consume(b, BROKER_REPLY_TO, CT_REPLY, 1)) < 0)
            return rc;
        b->reply_on = 1;
    }
    if (b->watch_pattern && !b->watch_on) {
        if ((rc = watch_subscribe(b)) < 0)
            return rc;
        b->watch_on = 1;
    }
    return 0;
}

/* Opens a new main channel: confirm mode, qos, consumers.  A new
 * generation starts.  On failure the connection is dropped (an error here
 * leaves nothing sensible to keep). */
int brk_open_main(broker *b, int with_topology)
{
    int rc;
    amqp_channel_t ch = brk_alloc_channel(b);

    amqp_channel_open(b->conn, ch);
    if ((rc = brk_rpc_result(b, ch, "opening a channel")) < 0)
        goto fail;
    b->ch = ch;
    brk_next_generation(b);
    b->pub_seq = 0;
    b->wait_seq = 0;
    b->wait_state = CONFIRM_NONE;
    b->batch_n = 0;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    amqp_confirm_select(b->conn, ch);
    if ((rc = brk_rpc_result(b, ch, "enabling publisher confirms")) < 0)
        goto fail;
    if (with_topology && b->conf.role == BROKER_ROLE_NODE) {
        if ((rc = declare_topology(b)) < 0)
            goto fail;
    }
    amqp_basic_qos(b->conn, ch, 0, (uint16_t)b->conf.prefetch, 0);
    if ((rc = brk_rpc_result(b, ch, "setting the prefetch window")) < 0)
        goto fail;
    b->resubscribe = 0;
    if ((rc = subscribe(b)) < 0)
        goto fail;
    return 0;
fail:
    brk_teardown_keep_reason(b);
    return rc;
}

/* Repairs what the last frames broke while the connection is up: reopens a
 * main channel the broker closed, re-subscribes consumers the broker
 * cancelled (re-declaring the topology first, since a deleted queue is the
 * usual cause).  Returns 0 or the error that made it drop the connection. */
int brk_maintain(broker *b)
{
    int rc;
    if (!b->up)
        return BROKER_ENOTCONN;
    if (!b->ch) {
        char keep[BROKER_ERRMAX];
        snprintf(keep, sizeof keep, "%s", b->err);
        rc = brk_open_main(b, 0);
        if (rc < 0)
            return rc;
        snprintf(b->err, sizeof b->err, "%s", keep);
    }
    if (b->resubscribe) {
        b->resubscribe = 0;
        if (b->conf.role == BROKER_ROLE_NODE && !b->paused && (!b->work_on || !b->node_on)) {
            rc = declare_topology(b);
            if (rc < 0)
                goto fail;
        }
        if ((rc = subscribe(b)) < 0)
            goto fail;
    }
    return 0;
fail:
    brk_teardown_keep_reason(b);
    return rc;
}

/* Opens the side channel if it is closed. */
static int ensure_side(broker *b)
{
    if (!b->up)
        return BROKER_ENOTCONN;
    if (b->side)
        return 0;
    amqp_channel_t ch = brk_alloc_channel(b);
    amqp_channel_open(b->conn, ch);
    int rc = brk_rpc_result(b, ch, "opening the side channel");
    if (rc < 0)
        return rc;
    b->side = ch;
    return 0;
}

int broker_consume_pause(broker *b)
{
    int rc;
    if (!b || b->conf.role != BROKER_ROLE_NODE)
        return BROKER_EINVAL;
    b->paused = 1;
    if (!b->up || !b->ch)
        return 0;
    if (b->work_on) {
        if ((rc = cancel(b, CT_WORK)) < 0)
            return rc;
        b->work_on = 0;
    }
    if (b->node_on) {
        if ((rc = cancel(b, CT_NODE)) < 0)
            return rc;
        b->node_on = 0;
    }
    return 0;
}

int broker_consume_resume(broker *b)
{
    int rc;
    if (!b || b->conf.role != BROKER_ROLE_NODE)
        return BROKER_EINVAL;
    b->paused = 0;
    if (!b->up)
        return 0;
    if ((rc = brk_maintain(b)) < 0)
        return rc;
    return subscribe(b);
}

int broker_consume_paused(const broker *b)
{
    return b ? b->paused : 0;
}

int broker_route(broker *b, const char *key, int add)
{
    return broker_route_node(b, NULL, key, add);
}

int broker_route_node(broker *b, const char *node, const char *key, int add)
{
    if (!b || !b->n_node || !key || !*key || strlen(key) > MAX_NAME)
        return BROKER_EINVAL;
    char other[2 * MAX_NAME + 16];
    const char *queue = b->n_node;
    if (node != NULL) {
        if (!*node || strlen(node) > MAX_NAME)
            return BROKER_EINVAL;
        snprintf(other, sizeof other, "%s.node.%s", b->n_work, node);
        queue = other;
    }
    if (!b->up || !b->ch) {
        brk_set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    char what[2 * MAX_NAME + 48];
    snprintf(what, sizeof what, "%s route '%s'", add ? "binding" : "unbinding", key);
    if (add)
        amqp_queue_bind(b->conn, b->ch, amqp_cstring_bytes(queue),
                        amqp_cstring_bytes(b->n_containers), amqp_cstring_bytes(key),
                        amqp_empty_table);
    else
        amqp_queue_unbind(b->conn, b->ch, amqp_cstring_bytes(queue),
                          amqp_cstring_bytes(b->n_containers), amqp_cstring_bytes(key),
                          amqp_empty_table);
    return brk_rpc_result(b, b->ch, what);
}

int broker_drain(broker *b, int on)
{
    int rc;
    if (!b || b->conf.role != BROKER_ROLE_NODE)
        return BROKER_EINVAL;
    b->draining = on != 0;
    if (!b->up || !b->ch)
        return 0;
    if (on && b->work_on) {
        if ((rc = cancel(b, CT_WORK)) < 0)
            return rc;
        b->work_on = 0;
        return 0;
    }
    return on ? 0 : subscribe(b);
}

int broker_draining(const broker *b)
{
    return b ? b->draining : 0;
}

/* Starts the consumers just asked for now, if connected (else on the
 * next connect). */
static int subscribe_now(broker *b)
{
    int rc;
    if (!b->up) {
        brk_set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    if ((rc = brk_maintain(b)) < 0)
        return rc;
    return subscribe(b);
}

int broker_rpc_begin(broker *b)
{
    if (!b)
        return BROKER_EINVAL;
    b->rpc_wanted = 1;
    return subscribe_now(b);
}

int broker_watch(broker *b, const char *pattern)
{
    if (!b || !pattern || strlen(pattern) > MAX_NAME)
        return BROKER_EINVAL;
    if (b->watch_pattern == NULL || strcmp(b->watch_pattern, pattern) != 0) {
        if (b->watch_on) {
            brk_set_err(b, "already watching '%s'", b->watch_pattern);
            return BROKER_EINVAL;
        }
        char *p = strdup(pattern);
        if (p == NULL) {
            brk_set_err(b, "out of memory");
            return BROKER_ENOMEM;
        }
        free(b->watch_pattern);
        b->watch_pattern = p;
    }
    return subscribe_now(b);
}

int broker_queue_counts(broker *b, const char *queue, uint32_t *messages, uint32_t *consumers)
{
    char what[MAX_NAME + 48];
    amqp_queue_declare_ok_t *ok;
    int rc;

    if (!b || !queue || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "inspecting queue '%s'", queue);
    ok = amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                            amqp_empty_table);
    rc = brk_rpc_result(b, b->side, what);
    if (rc < 0)
        return rc;
    if (messages)
        *messages = ok->message_count;
    if (consumers)
        *consumers = ok->consumer_count;
    brk_release_channel(b, b->side);
    return 0;
}

int broker_queue_delete(broker *b, const char *queue)
{
    char what[MAX_NAME + 48];
    int rc;
    if (!b || !queue || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "deleting queue '%s'", queue);
    amqp_queue_delete(b->conn, b->side, amqp_cstring_bytes(queue), 0, 0);
    rc = brk_rpc_result(b, b->side, what);
    if (rc == 0)
        brk_release_channel(b, b->side);
    return rc == BROKER_ENOTFOUND ? 0 : rc;
}

int broker_exchange_delete(broker *b, const char *exchange)
{
    char what[MAX_NAME + 48];
    int rc;
    if (!b || !exchange || strlen(exchange) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "deleting exchange '%s'", exchange);
    amqp_exchange_delete(b->conn, b->side, amqp_cstring_bytes(exchange), 0);
    rc = brk_rpc_result(b, b->side, what);
    if (rc == 0)
        brk_release_channel(b, b->side);
    return rc == BROKER_ENOTFOUND ? 0 : rc;
}

int broker_topology_delete(broker *b)
{
    int rc = 0, r;
    if (!b)
        return BROKER_EINVAL;
    /* our own consumers first, so that the broker's cancels do not make
     * this handle re-declare what is being deleted */
    if (b->conf.role == BROKER_ROLE_NODE && (r = broker_consume_pause(b)) < 0)
        return r;
    for (size_t i = 0; i < N_TOPOLOGY; i++) {
        const topo_row *t = &node_topology[i];
        const char *name = row_name(b, t->name);
        if (name == NULL) /* a client handle has no node queue */
            continue;
        if (t->kind == TOPO_QUEUE)
            r = broker_queue_delete(b, name);
        else if (t->kind == TOPO_EXCHANGE)
            r = broker_exchange_delete(b, name);
        else
            continue; /* bindings go with their queues, the lock with its connection */
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

/* basic.get on the side channel; the content is read with frames of the
 * main channel set aside; ack (or reject with requeue when over the cap). */
int broker_get(broker *b, const char *queue, broker_delivery *out)
{
    char what[MAX_NAME + 48];
    amqp_rpc_reply_t r;
    int rc, oom = 0, st;

    if (!b || !queue || !out || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    brk_delivery_init(out);
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "getting a message from '%s'", queue);
    amqp_basic_get(b->conn, b->side, amqp_cstring_bytes(queue), 0);
    if ((rc = brk_rpc_result(b, b->side, what)) < 0)
        return rc;
    r = amqp_get_rpc_reply(b->conn);
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
        brk_release_channel(b, b->side);
        return 0;
    }
    const amqp_basic_get_ok_t *g = r.reply.decoded;
    amqp_channel_t side = b->side;
    out->source = BROKER_SRC_GET;
    out->exchange = brk_dupbytes(g->exchange, MAX_NAME, &oom);
    out->routing_key = brk_dupbytes(g->routing_key, MAX_NAME, &oom);
    out->delivery_tag = g->delivery_tag;
    out->redelivered = g->redelivered != 0;
    out->generation = b->generation;
    rc = brk_read_content(b, side, out, !oom);
    if (rc < 0)
        goto fail;
    if (oom || out->oversize) {
        /* leave it in the queue: nothing is lost by looking */
        st = amqp_basic_reject(b->conn, side, out->delivery_tag, 1);
        if (st != AMQP_STATUS_OK) {
            rc = brk_lib_failed(b, what, st);
            goto fail;
        }
        if (oom) {
            brk_set_err(b, "%s: out of memory", what);
            rc = BROKER_ENOMEM;
            goto fail;
        }
        brk_set_err(
            b, "%s: message of %" PRIu64 " bytes is over the %zu-byte limit; left in the queue",
            what, out->body_size, b->conf.max_body);
        rc = BROKER_ETOOBIG;
        goto fail;
    }
    st = amqp_basic_ack(b->conn, side, out->delivery_tag, 0);
    if (st != AMQP_STATUS_OK) {
        rc = brk_lib_failed(b, what, st);
        goto fail;
    }
    brk_release_channel(b, side);
    return 1;
fail:
    broker_delivery_cleanup(out);
    return rc;
}
