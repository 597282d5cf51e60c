/*
 * broker.h -- the one AMQP 0-9-1 connection of a dispatcher node or of the
 * dispatchctl client (RabbitMQ, via rabbitmq-c).
 *
 * What it does.  A broker handle owns one connection with one main channel
 * in publisher-confirm mode.  A side channel, opened lazily, carries passive
 * declares and deletes, so that a "no such queue" answer never disturbs the
 * consumers.  In the node role the handle declares the topology below on
 * every connect.  It consumes the work queue and the node's own queue with
 * manual acks.  In the client role it declares nothing and can publish and
 * use RabbitMQ's direct reply-to.
 *
 * Topology (node role; every name derives from conf.queue, written <q>):
 *   <q>.dlx          fanout exchange, durable: the dead-letter exchange.
 *   <q>.dead         durable queue of the work queue's type bound to <q>.dlx.
 *                    It holds dead letters: the broker's own (rejected,
 *                    delivery limit) and copies from broker_dead_letter().
 *                    One an earlier version declared classic is kept.
 *                    A quorum one has no delivery limit, so that looking at
 *                    a dead letter and putting it back never drops it.
 *                    RabbitMQ 4 gives quorum queues a limit of 20 unless
 *                    told, so there it gets x-delivery-limit -1 (none).
 *                    RabbitMQ 3 has no default and reads -1 as "drop at the
 *                    first return", so there it gets no argument.  One
 *                    declared without it under RabbitMQ 3 keeps RabbitMQ
 *                    4's default after an upgrade.  Its arguments cannot
 *                    change: delete it when it is empty.
 *   <q>              the shared work queue: durable, quorum (default) or
 *                    classic, x-dead-letter-exchange <q>.dlx.  Quorum queues
 *                    also get x-delivery-limit and at-least-once
 *                    dead-lettering (x-dead-letter-strategy at-least-once).
 *                    RabbitMQ only allows that with x-overflow reject-publish.
 *   <q>.node.<node>  this node's queue, the same type and arguments as <q>.
 *                    A command aimed at one node deserves the same poison
 *                    message protection (delivery limit).  In a RabbitMQ
 *                    cluster it deserves the same replication as untargeted
 *                    work.  It is durable and not exclusive.  The node name
 *                    is stable, and commands sent while the node restarts
 *                    must wait for it.
 *   <q>.events       topic exchange, durable: state-change events.
 * A queue or exchange that already exists with other arguments is refused by
 * RabbitMQ (PRECONDITION_FAILED); connecting then fails with BROKER_ETOPOLOGY
 * and a cause saying what differs and what to do.
 *
 * Threads.  A broker handle has exactly one owning thread: every function
 * here except broker_strerror() must be called from it, and handles share
 * nothing, so one handle per thread is fine.  Work crosses threads through
 * the caller's own queues.
 *
 * Heartbeats.  rabbitmq-c services heartbeats only while the owner is inside
 * one of these calls.  The owner must come back into broker_poll(), or any
 * other call that talks to the broker, at least every conf.heartbeat / 2
 * seconds (15 s with the default of 30).  Otherwise RabbitMQ declares the
 * connection dead.  broker_poll() with a timeout of at most that, in a loop,
 * is the intended shape.  A silent broker is detected after 2 * heartbeat.
 *
 * Delivery tags and connection generations.  Every delivery carries `tag`,
 * an opaque value to pass to broker_ack()/broker_nack().  It encodes the
 * generation of the main channel it arrived on; the generation changes when
 * the connection is lost, on every (re)connect, and when RabbitMQ closes the
 * main channel (which the handle reopens by itself).  At that moment every
 * unacked delivery is already back in its queue (RabbitMQ requeues it) and
 * will be delivered again, to this node or another, with redelivered set.
 * Callers must therefore assume that any work started from a delivery of an
 * older generation may be repeated, and make it idempotent.  Acking or
 * nacking a tag of an older generation, or while disconnected, is a harmless
 * no-op returning BROKER_ESTALE.
 *
 * Errors.  Every function returns 0 or a negative broker_err.  A human
 * reason for the last failure is kept on the handle (broker_error()); it
 * never contains the password (URLs appear redacted, e.g.
 * amqp://guest:***@127.0.0.1:5672/) and server-supplied text is escaped.
 * After a failure, broker_connected() says whether the connection is still
 * usable; if not, call broker_reconnect().
 *
 * Memory.  The module never aborts; allocation failure is BROKER_ENOMEM.
 * Network-fed buffers are capped.  A message body over conf.max_body is not
 * read into memory (see broker_delivery.oversize).  At most
 * BROKER_MAX_HEADERS headers of at most BROKER_MAX_HEADER_VALUE bytes each
 * are kept.  Deliveries queued inside the handle are bounded by
 * 2 * prefetch (one prefetch window per consumer) plus BROKER_REPLY_SLACK
 * replies; for replies and events that bound grows up to BROKER_MAX_QUEUED.
 */
#ifndef BROKER_H
#define BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BROKER_ERRMAX           512   /* size of the handle's reason buffer */
#define BROKER_MAX_HEADERS      64    /* headers kept per delivery */
#define BROKER_MAX_HEADER_VALUE 4096  /* bytes kept per header value */
#define BROKER_REPLY_SLACK      64    /* queued replies beyond the prefetch windows */
#define BROKER_MAX_QUEUED       65536 /* replies and events waiting to be polled, at most */
#define BROKER_DEFAULT_PREFETCH 16    /* broker_conf.prefetch, and the daemon's --prefetch */
#define BROKER_NAME_MAX         200   /* queue, node and cluster names (broker_name_ok) */
#define BROKER_DEFAULT_MAX_BODY (16u * 1024u * 1024u)
#define BROKER_REPLY_TO         "amq.rabbitmq.reply-to"

/* Errors: stable and append-only. */
typedef enum broker_err {
    BROKER_OK = 0,
    BROKER_EINVAL = -1,       /* bad argument or configuration */
    BROKER_ENOMEM = -2,       /* out of memory */
    BROKER_EURL = -3,         /* the AMQP URL cannot be parsed */
    BROKER_EUNREACHABLE = -4, /* connection refused, name not resolved, connect timeout */
    BROKER_EAUTH = -5,        /* login refused (ACCESS_REFUSED) */
    BROKER_EVHOST = -6,       /* virtual host missing or not allowed for the user */
    BROKER_ETLS = -7,         /* TLS setup, handshake or certificate verification */
    BROKER_ETOPOLOGY = -8,    /* a queue/exchange exists with other arguments */
    BROKER_ECONNLOST = -9,    /* the connection broke or the broker closed it */
    BROKER_ENOTCONN = -10,    /* not connected: call broker_reconnect() */
    BROKER_ECHANNEL = -11,    /* the broker closed the channel (reopened already) */
    BROKER_ENOTFOUND = -12,   /* no such queue or exchange */
    BROKER_EACCESS = -13,     /* the user may not use that resource */
    BROKER_ETIMEOUT = -14,    /* no confirm / reply in time */
    BROKER_ENACKED = -15,     /* the broker refused (nacked) a publish */
    BROKER_EUNROUTABLE = -16, /* a mandatory publish reached no queue */
    BROKER_ESTALE = -17,      /* tag of an older connection generation: ignored */
    BROKER_ETOOBIG = -18,     /* a capped buffer would overflow */
    BROKER_EPROTO = -19,      /* unexpected protocol state or handshake failure */
    BROKER_ESTOPPED = -20,    /* broker_reconnect() was told to stop */
    BROKER_EINUSE = -21,      /* another connection holds this queue + node identity */
} broker_err;

/* A static description of err; never NULL.  Any thread. */
const char *broker_strerror(int err);

typedef enum broker_queue_type {
    BROKER_QUEUE_QUORUM = 0,
    BROKER_QUEUE_CLASSIC = 1,
} broker_queue_type;

typedef enum broker_role {
    BROKER_ROLE_NODE = 0,   /* declare topology, consume work + node queue */
    BROKER_ROLE_CLIENT = 1, /* declare nothing; publish, direct reply-to */
} broker_role;

/* Connection settings.  Fill with broker_conf_init(), then override.  The
 * handle copies every string; the conf may be freed after broker_new(). */
typedef struct broker_conf {
    const char *url;              /* amqp://user:pass@host:port/vhost or amqps:// */
    const char *queue;            /* <q>; default "docker-dispatch" */
    broker_queue_type queue_type; /* default quorum */
    int delivery_limit;           /* quorum x-delivery-limit, >= 1; default 5 */
    int prefetch;                 /* basic.qos per consumer, >= 1; BROKER_DEFAULT_PREFETCH */
    const char *node;             /* node name; required in the node role */
    int heartbeat;                /* seconds; 0 disables; default 30 */
    const char *connection_name;  /* client property; default "docker-dispatch <node>" */
    broker_role role;             /* default node */
    /* amqps:// only */
    const char *tls_ca_file;   /* PEM CA bundle for verifying the broker; default:
                                  the system bundle /etc/ssl/certs/ca-certificates.crt */
    const char *tls_cert_file; /* client certificate (PEM), with tls_key_file */
    const char *tls_key_file;
    int tls_no_verify_peer;     /* 1: skip certificate verification (testing only) */
    int tls_no_verify_hostname; /* 1: skip the hostname check */
    /* limits and timing */
    int connect_timeout_ms; /* TCP+TLS connect and AMQP handshake; default 10000 */
    int rpc_timeout_ms;     /* any synchronous AMQP method; default 30000 */
    int confirm_timeout_ms; /* publisher confirm wait; default 30000 */
    int reconnect_min_ms;   /* first backoff ceiling; default 500 */
    int reconnect_max_ms;   /* backoff cap; default 30000 */
    size_t max_body;        /* largest body read into memory; default 16 MiB */
    /* Called by broker_reconnect() after each failed attempt, on the owning
     * thread, with the attempt number, its error and reason, and the delay
     * before the next attempt.  Optional. */
    void (*on_retry)(void *arg, unsigned attempt, int err, const char *cause, unsigned delay_ms);
    void *on_retry_arg;
} broker_conf;

/* Fills c with the defaults above (url NULL, node NULL).  Any thread. */
void broker_conf_init(broker_conf *c);

/* A header: key and string value.  Publishing sends string values;
 * deliveries carry them as broker_delivery says. */
typedef struct broker_header {
    const char *key;
    const char *value;
} broker_header;

/* Message properties for broker_publish(); any field may be NULL/0. */
typedef struct broker_props {
    const char *content_type;
    const char *correlation_id;
    const char *message_id;
    const char *reply_to;
    const char *expiration; /* per-message TTL in ms, as a decimal string */
    const char *type;
    const char *user_id; /* must be the connection's user: RabbitMQ checks it */
    int persistent;      /* 1: delivery_mode 2 (survives a broker restart) */
    const broker_header *headers;
    size_t n_headers;
} broker_props;

#define BROKER_PUBLISH_MANDATORY 0x1u /* unroutable -> BROKER_EUNROUTABLE */

/* Where a delivery came from. */
typedef enum broker_source {
    BROKER_SRC_WORK = 0,  /* the shared work queue <q> */
    BROKER_SRC_NODE = 1,  /* this node's queue <q>.node.<node> */
    BROKER_SRC_REPLY = 2, /* direct reply-to (no ack needed; tag is 0) */
    BROKER_SRC_GET = 3,   /* broker_get() (already removed; tag is 0) */
    BROKER_SRC_EVENT = 4, /* broker_watch() (no ack needed; tag is 0) */
} broker_source;

/* One received message.  Every pointer is owned by the delivery and freed
 * by broker_delivery_cleanup(); strings are NUL-terminated (NULL when the
 * property was absent) and body has a NUL after its len bytes. */
typedef struct broker_delivery {
    uint64_t tag;          /* opaque, for broker_ack/nack; 0: nothing to settle */
    uint64_t delivery_tag; /* the broker's tag on its channel (informational) */
    uint32_t generation;   /* connection generation it arrived on */
    broker_source source;
    int redelivered;
    int persistent;
    int oversize;       /* body over conf.max_body: not read, len 0; already
                           rejected to <q>.dead by the broker (tag is 0) */
    uint64_t body_size; /* size announced by the broker */
    char *consumer_tag;
    char *exchange;
    char *routing_key;
    char *content_type;
    char *correlation_id;
    char *message_id;
    char *reply_to;
    char *type;
    char *user_id; /* the publisher's user, as RabbitMQ verified it; NULL: none given */
    unsigned char *body;
    size_t len;
    /* Informational only; nothing in the dispatcher decides on them.
     *
     * delivery_count: the x-delivery-count header of a quorum queue's
     * redelivery, -1 if absent.  RabbitMQ 3.10 sends 0 on a first delivery,
     * 4.0 nothing.
     *
     * death_count: the count of the newest x-death entry, -1 if absent.
     * RabbitMQ sets it only when it dead-letters a message itself.  A copy
     * broker_dead_letter() publishes carries none.  RabbitMQ 3.13 and later
     * do not count on from an x-death a client published. */
    long delivery_count;
    long death_count;
    /* The first BROKER_MAX_HEADERS headers, string values as they came,
     * integers in decimal, booleans "true"/"false".  Some headers are kept
     * with their key and a NULL value: a key holding a NUL byte, or a value
     * not carried as it came.  Such values are a string over
     * BROKER_MAX_HEADER_VALUE or with a NUL byte, a table, an array, a
     * decimal, void.  A reader of headers[] sees them, and
     * broker_delivery_header() finds no value.  headers_over: how many more
     * the message had (not kept). */
    broker_header *headers;
    size_t n_headers;
    size_t headers_over;
    /* The first property holding a NUL byte ("message_id", "user_id",
     * "reply_to", "correlation_id", "content_type", "type"; its copy ends
     * there), NULL when none.  Static. */
    const char *bad_property;
} broker_delivery;

/* Frees what d owns and zeroes it.  NULL and zeroed deliveries are fine. */
void broker_delivery_cleanup(broker_delivery *d);

/* The value of header key in d, or NULL. */
const char *broker_delivery_header(const broker_delivery *d, const char *key);

typedef struct broker broker;

/* Validates conf and makes an unconnected handle in *out (free with
 * broker_free()).  On failure returns BROKER_EINVAL, BROKER_EURL or
 * BROKER_ENOMEM and, when cause is not NULL, sets *cause to a malloc'd
 * reason (caller frees) that never contains the password. */
int broker_new(const broker_conf *conf, broker **out, char **cause);

/* Connects: socket (TLS for amqps), login, channel, confirm mode, topology
 * (node role), qos and consumers (node role, unless paused).  On failure the
 * handle stays unconnected and broker_error() says why: BROKER_EUNREACHABLE,
 * BROKER_EAUTH, BROKER_EVHOST, BROKER_ETLS, BROKER_ETOPOLOGY, BROKER_EPROTO,
 * BROKER_ECONNLOST... */
int broker_connect(broker *b);

/* broker_new() + broker_connect().  On failure *out is NULL and *cause (if
 * cause is not NULL) holds the reason, malloc'd, for the caller to free. */
int broker_open(const broker_conf *conf, broker **out, char **cause);

/* Closes the connection politely (unacked deliveries go back to their
 * queues) and frees everything.  NULL is fine. */
void broker_free(broker *b);

/* The reason for the last failure on b ("" if none).  Valid until the next
 * call on b. */
const char *broker_error(const broker *b);

/* The broker's version as it said at the last login (RabbitMQ: "3.10.8",
 * "4.0.5"; "" before a login or when it said none). */
const char *broker_server_version(const broker *b);

/* The URL with the password replaced by "***". */
const char *broker_url_redacted(const broker *b);

/* 1 if the connection and main channel are up. */
int broker_connected(const broker *b);

/* 1 while the broker has blocked this connection's publishers
 * (connection.blocked: a memory or disk alarm); publishes then time out. */
int broker_blocked(const broker *b);

/* The current connection generation (see above). */
uint32_t broker_generation(const broker *b);

/* Derived names: the work queue <q>, <q>.dead, <q>.dlx, <q>.node.<node>
 * (NULL without a node name) and <q>.events.  Owned by b. */
const char *broker_name_work(const broker *b);
const char *broker_name_dead(const broker *b);
const char *broker_name_dlx(const broker *b);
const char *broker_name_node(const broker *b);
const char *broker_name_events(const broker *b);
/* The user name of the connection's URL (what RabbitMQ checks a
 * message's user_id against).  Owned by b. */
const char *broker_user(const broker *b);

/* <q>.containers (direct: each node binds its node queue with the ids and
 * names of its containers) and <q>.all (fanout to every node queue). */
const char *broker_name_containers(const broker *b);
const char *broker_name_all(const broker *b);

/* Binds (add) or unbinds (!add) this node's queue to <q>.containers with
 * routing key key (a container id, short id or name), on the main channel.
 * Bindings of the durable node queue outlive the connection.  0 or an
 * error (BROKER_EINVAL without a node queue). */
int broker_route(broker *b, const char *key, int add);

/* The same for the queue of node (<q>.node.<node>; NULL: this node's): a
 * node that adopts a departed sibling's containers moves their keys to its
 * own queue, so that commands stop waiting in the departed one's.
 * Unbinding a key that is not bound is not an error. */
int broker_route_node(broker *b, const char *node, const char *key, int add);

/* Drains (on) or resumes (!on) the node: while draining, the shared work
 * queue is not consumed, the node queue still is (commands for this node's
 * containers and cluster queries keep being answered).  Survives
 * reconnects.  0 or an error. */
int broker_drain(broker *b, int on);
int broker_draining(const broker *b);

/* Makes broker_poll() also return 0 as soon as fd is readable (fd: an
 * eventfd or the read end of a non-blocking pipe, which broker_poll
 * drains; -1: none).  With it, broker_poll waits in poll() on the AMQP
 * socket and fd together, entering the library at least every half
 * heartbeat interval, so the owner's loop wakes for its own work (an
 * outbox, a signal) and not on a timer.  Owning thread only; fd stays the
 * caller's. */
int broker_set_wake_fd(broker *b, int fd);

/* Waits up to timeout_ms (0: only what is already there; negative: forever,
 * which defeats the heartbeat rule above) for the next delivery.  Returns 1
 * and fills *out (caller cleans it up), 0 on timeout, or a negative error:
 * BROKER_ECONNLOST (call broker_reconnect()), BROKER_ECHANNEL (the broker
 * closed the channel; it was reopened and the generation changed), or
 * BROKER_ETOPOLOGY/... when re-subscribing after the broker cancelled a
 * consumer failed.  Publisher confirms, returns, cancels, blocks and closes
 * arriving meanwhile are processed here. */
int broker_poll(broker *b, int timeout_ms, broker_delivery *out);

/* Acknowledges / rejects a delivery by its tag (basic.ack / basic.nack with
 * requeue 0 or 1; without requeue the queue dead-letters it to <q>.dead).
 * Tag 0 is a no-op returning 0; a stale tag returns BROKER_ESTALE and sends
 * nothing.  Sending is asynchronous: the broker reports a bad tag by closing
 * the channel, seen by a later call as BROKER_ECHANNEL. */
int broker_ack(broker *b, uint64_t tag);
int broker_nack(broker *b, uint64_t tag, int requeue);

/* Publishes without waiting, for a batch whose confirms are awaited
 * together by broker_confirm_batch(): one round trip to the broker for up
 * to BROKER_BATCH_MAX messages instead of one each.  Not mandatory (a
 * return could not be told apart within a batch: publish to real queues
 * with broker_publish()).  *slot gets the message's place in the batch.
 * 0; BROKER_EINVAL, BROKER_ENOMEM; BROKER_ETOOBIG when the batch holds
 * BROKER_BATCH_MAX already; BROKER_ECONNLOST/ENOTCONN: the batch is void
 * (outcomes unknown). */
#define BROKER_BATCH_MAX 256
int broker_publish_batched(broker *b, const char *exchange, const char *routing_key,
                           const broker_props *props, const void *body, size_t len, size_t *slot);

/* Waits for the confirms of the batch (broker_publish_batched) and ends
 * it: out[k] (n entries, the batch's size) is 0 when message k was acked,
 * BROKER_ENACKED when refused.  Returns 0; or BROKER_ETIMEOUT after
 * conf.confirm_timeout_ms (outcomes unknown; the channel is reopened as
 * for broker_publish()), BROKER_ECONNLOST/ENOTCONN: out is not set. */
int broker_confirm_batch(broker *b, int *out, size_t n);

/* Publishes body (len bytes, copied) to exchange ("" = default exchange)
 * with routing_key and props, flags BROKER_PUBLISH_*, and waits for the
 * broker's confirm.  Returns 0 once acked.  Errors: BROKER_ENACKED;
 * BROKER_EUNROUTABLE (mandatory and no queue took it); BROKER_ENOTFOUND (no
 * such exchange; the channel is reopened); BROKER_ECONNLOST...
 *
 * BROKER_ETIMEOUT after conf.confirm_timeout_ms: the outcome is unknown.
 * The handle then reopens its channel, so that a late confirm or return
 * cannot be taken for the next publish's.  Unacked deliveries are requeued
 * (new generation).
 *
 * BROKER_ETOOBIG: the broker refused the message for its size (RabbitMQ's
 * max_message_size, 16 MiB by default since 4.0).  Its words, with both
 * sizes, are in broker_error().
 *
 * When the broker closed the channel over the publish, the channel is
 * reopened (new generation).  That is BROKER_ETOOBIG, BROKER_ENOTFOUND or
 * BROKER_ECHANNEL; the last may have another reason, such as its consumer
 * timeout, with the outcome unknown.  Deliveries arriving while waiting are
 * kept for later broker_poll() calls. */
int broker_publish(broker *b, const char *exchange, const char *routing_key,
                   const broker_props *props, const void *body, size_t len, unsigned flags);

/* Moves d (from the work or node queue) to <q>.dead.  It publishes a
 * persistent copy of its body through the default exchange, with its
 * content type, message id and correlation id.  The copy gets the headers
 * x-dd-reason (reason), x-dd-original-exchange, x-dd-original-routing-key,
 * x-dd-original-reply-to and x-dd-node.  It waits for the confirm, then
 * acks d.  If the copy fails, d is nacked with requeue and the copy's
 * error is returned.  Nothing is lost: a quorum queue's delivery limit
 * ends a loop.  If the ack after a good copy fails, the message can show
 * up twice in <q>.dead.  BROKER_ESTALE if d's generation is gone (then
 * nothing is published). */
int broker_dead_letter(broker *b, const broker_delivery *d, const char *reason);

/* Stops / restarts taking work (basic.cancel / basic.consume on the work
 * and node queues).  Deliveries already sent before the pause may still
 * come out of broker_poll(); settle them as usual.  The state survives
 * reconnects.  Node role only. */
int broker_consume_pause(broker *b);
int broker_consume_resume(broker *b);
int broker_consume_paused(const broker *b);

/* Starts consuming amq.rabbitmq.reply-to (no-ack, as RabbitMQ requires) on
 * the main channel, so that publishes with reply_to BROKER_REPLY_TO get
 * their replies through broker_poll() with source BROKER_SRC_REPLY.
 * Idempotent; renewed on reconnect (replies to requests sent on an older
 * connection are lost). */
int broker_rpc_begin(broker *b);

/* Watches <q>.events: binds a queue of this connection's own (exclusive,
 * server-named, deleted with the connection) with binding key pattern
 * (topic syntax, e.g. "#" or "container.exited.*") and consumes it without
 * acks; events arrive through broker_poll() with source BROKER_SRC_EVENT.
 * Renewed on reconnect (events published meanwhile are missed).  One
 * pattern per handle: another one while watching is BROKER_EINVAL. */
int broker_watch(broker *b, const char *pattern);

/* Request/reply for dispatchctl.  Begins direct reply-to if needed, then
 * publishes (mandatory, confirmed) with reply_to BROKER_REPLY_TO and the
 * correlation id from props (one is generated when absent).  Waits up to
 * timeout_ms for the reply with that correlation id, and moves it into
 * *reply.  Replies with other correlation ids (late answers to earlier
 * calls) are dropped; other deliveries stay queued for broker_poll().
 * BROKER_ETIMEOUT when no reply came; BROKER_EUNROUTABLE when no queue took
 * the request. */
int broker_call(broker *b, const char *exchange, const char *routing_key, const broker_props *props,
                const void *body, size_t len, int timeout_ms, broker_delivery *reply);

/* Closes what is left of the connection and connects again (topology,
 * consumers, direct reply-to as before).  The backoff is exponential, from
 * conf.reconnect_min_ms doubling to conf.reconnect_max_ms, with full jitter.
 * It tries until it succeeds (0) or *stop becomes non-zero (BROKER_ESTOPPED;
 * stop may be NULL).  conf.on_retry hears about every failed attempt.
 * Deliveries queued inside the handle are dropped (they are requeued by the
 * broker). */
int broker_reconnect(broker *b, const volatile sig_atomic_t *stop);

/* Passive declare of queue on the side channel: *messages (ready, not
 * unacked) and *consumers, either may be NULL.  BROKER_ENOTFOUND if there is
 * no such queue; the connection is unaffected. */
int broker_queue_counts(broker *b, const char *queue, uint32_t *messages, uint32_t *consumers);

/* Deletes a queue / an exchange (unconditionally; absent is fine). */
int broker_queue_delete(broker *b, const char *queue);
int broker_exchange_delete(broker *b, const char *exchange);

/* Deletes everything broker_connect() declares for this handle's <q> and
 * node: tests and uninstall.  A node-role handle pauses its consumers first
 * (so that it does not re-declare what it deletes) and stays paused. */
int broker_topology_delete(broker *b);

/* Takes one message from queue (basic.get on the side channel, acked
 * there once copied: it is removed).  Returns 1 with *out (source
 * BROKER_SRC_GET, tag 0), 0 if the queue is empty, or a negative error; a
 * message over conf.max_body is left in the queue (BROKER_ETOOBIG).  For
 * inspection tools and tests. */
int broker_get(broker *b, const char *queue, broker_delivery *out);

/* Queue, node and cluster names: 1..BROKER_NAME_MAX of [A-Za-z0-9_.-]
 * (they end up in AMQP names of at most 255 bytes and in container
 * labels).  1 or 0.  Any thread. */
int broker_name_ok(const char *s);

/* The one form of an AMQP URL fit for logs and messages (malloc'd; NULL
 * without memory): scheme://user:***@host:port/vhost as the broker reads
 * it, or, for text that is no URL, the text with everything between the
 * first ':' after the scheme and the last '@' replaced by "***".  Any
 * thread. */
char *broker_url_redact(const char *url);

#ifdef __cplusplus
}
#endif

#endif
