/*
 * bridge.c -- the gateway's way into the cluster: one client-role broker
 * connection, owned by one thread, that publishes the HTTP requests to the
 * work queue and matches the replies to them.  See gateway.h.
 *
 * DESIGN.  rabbitmq-c handles must never be used from two threads, so the
 * connection belongs to the bridge thread alone.  It is opened on the
 * starting thread and handed over before the bridge thread exists.
 * libmicrohttpd's connection threads call gateway_bridge_submit().  It puts
 * a `pending` on the `queued` list and wakes the bridge thread through an
 * eventfd (broker_set_wake_fd makes broker_poll return for it).  Then it
 * waits on the pending's own condition variable.  The bridge thread
 * publishes what is queued (one confirm wait each) and moves it to
 * `waiting`.  It hands each direct reply-to delivery to the pending whose
 * request id equals its correlation id.  Nothing holds the mutex across a
 * publish or a poll, so any number of requests are in flight at once and
 * replies are matched in whatever order they come.
 *
 * A pending is shared by its submitter and the bridge (refs, under mu):
 * whichever lets go last frees it.  A submitter whose time runs out takes
 * its pending off the list it is on.  If the bridge is publishing it right
 * then (P_SENDING), the submitter only marks it abandoned, and the bridge
 * lets go after the publish.
 *
 * Replies travel over direct reply-to, which belongs to one channel of one
 * connection.  When the connection or the channel is lost (the handle's
 * generation changes), the replies of everything published before can no
 * longer come.  So those requests are answered GATEWAY_EUNAVAILABLE at once
 * (they may have been carried out).  While the connection is down, every
 * new request is refused the same way.  The bridge thread reconnects with
 * broker_reconnect()'s backoff.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "gateway_internal.h"
#include "log.h"

/* How long one broker_poll may sleep: the wake fd ends it early, and the
 * broker enters the library for heartbeats on its own; this only bounds
 * how stale a missed wake-up can get. */
#define POLL_MS 1000
/* Requests the bridge holds at once: one per HTTP connection. */
#define MAX_INFLIGHT GATEWAY_MAX_CONNECTIONS
/* The reconnect backoff's cap; it also bounds how long gateway_bridge_stop
 * waits while RabbitMQ is down (the stop request is seen between
 * attempts). */
#define RECONNECT_MAX_MS 5000

typedef enum pstate {
    P_QUEUED,  /* on br->queued */
    P_SENDING, /* off every list: the bridge thread is publishing it */
    P_WAITING, /* on br->waiting: published, its reply not yet here */
    P_DONE,    /* answered (rc, reply) */
} pstate;

typedef struct pending {
    TAILQ_ENTRY(pending) link;
    char *rid;
    char *body;
    size_t len;
    int timeout_ms;
    uint32_t generation; /* the connection generation it was published on */
    pstate state;
    int abandoned; /* the submitter gave up during P_SENDING */
    int refs;      /* submitter and bridge */
    int rc;        /* P_DONE: 0 or a gateway_err */
    char *reply;   /* P_DONE with rc 0: the reply text */
    pthread_cond_t cv;
} pending;

TAILQ_HEAD(plist, pending);

struct gateway_bridge {
    broker *b; /* the bridge thread's alone once it runs */
    pthread_t thread;
    int started; /* the thread exists (controlling thread only) */
    int wake_fd;
    pthread_mutex_t mu; /* guards everything below but stop */
    struct plist queued, waiting;
    size_t inflight; /* pendings the bridge holds a reference to */
    int up;          /* the connection is usable */
    int stopping;    /* refuse new requests */
    atomic_int stop; /* ends the thread */
    /* broker_reconnect()'s stop flag.  Written by the bridge thread only
     * (from stop, between attempts; see on_retry), so that no flag is
     * shared across threads without being atomic. */
    volatile sig_atomic_t reconnect_stop;
};

static pending *pending_new(const char *rid, const char *body, size_t len, int timeout_ms)
{
    pending *p = xcalloc(1, sizeof *p);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->rid = xstrdup(rid);
    p->body = xmalloc(len + 1);
    memcpy(p->body, body, len);
    p->body[len] = '\0';
    p->len = len;
    p->timeout_ms = timeout_ms;
    p->refs = 1;
    return p;
}

/* Drops one reference to p; frees it after the last.  Under br->mu when p
 * was ever shared. */
static void pending_free(pending *p)
{
    pthread_cond_destroy(&p->cv);
    free(p->rid);
    free(p->body);
    free(p->reply);
    free(p);
}

static void pending_unref(pending *p)
{
    if (--p->refs == 0)
        pending_free(p);
}

/* The bridge lets go of p (off its lists already).  Under br->mu. */
static void drop_bridge_ref(gateway_bridge *br, pending *p)
{
    br->inflight--;
    pending_unref(p);
}

/* Answers p (off every list) with rc and reply (moved; may be NULL),
 * wakes its submitter and lets go of it.  Under br->mu. */
static void complete(gateway_bridge *br, pending *p, int rc, char *reply)
{
    p->rc = rc;
    p->reply = reply;
    p->state = P_DONE;
    pthread_cond_signal(&p->cv);
    drop_bridge_ref(br, p);
}

/* Answers every pending on list l with rc.  Under br->mu. */
static void fail_list(gateway_bridge *br, struct plist *l, int rc)
{
    pending *p;
    while ((p = TAILQ_FIRST(l)) != NULL) {
        TAILQ_REMOVE(l, p, link);
        complete(br, p, rc, NULL);
    }
}

/* Marks the connection down or up; going down answers everything the
 * bridge holds GATEWAY_EUNAVAILABLE. */
static void set_up(gateway_bridge *br, int up)
{
    pthread_mutex_lock(&br->mu);
    br->up = up;
    if (!up) {
        fail_list(br, &br->queued, GATEWAY_EUNAVAILABLE);
        fail_list(br, &br->waiting, GATEWAY_EUNAVAILABLE);
    }
    pthread_mutex_unlock(&br->mu);
}

/* Answers the waiting requests published on another generation than gen:
 * their replies cannot come any more.  Bridge thread. */
static void fail_other_generations(gateway_bridge *br, uint32_t gen)
{
    pthread_mutex_lock(&br->mu);
    pending *p = TAILQ_FIRST(&br->waiting), *next;
    for (; p != NULL; p = next) {
        next = TAILQ_NEXT(p, link);
        if (p->generation != gen) {
            TAILQ_REMOVE(&br->waiting, p, link);
            log_msg(LOG_LVL_WARN,
                    "gateway: request %s: the broker channel was reset before its reply came",
                    p->rid);
            complete(br, p, GATEWAY_EUNAVAILABLE, NULL);
        }
    }
    pthread_mutex_unlock(&br->mu);
}

/* Publishes everything queued, in order.  Returns 0, or a connection
 * error (the loop then reconnects). */
static int send_queued(gateway_bridge *br)
{
    for (;;) {
        pthread_mutex_lock(&br->mu);
        pending *p = TAILQ_FIRST(&br->queued);
        if (p == NULL) {
            pthread_mutex_unlock(&br->mu);
            return 0;
        }
        TAILQ_REMOVE(&br->queued, p, link);
        p->state = P_SENDING;
        pthread_mutex_unlock(&br->mu);

        /* p's strings stay valid: the bridge holds a reference */
        char expiration[24];
        snprintf(expiration, sizeof expiration, "%d", p->timeout_ms);
        broker_props props = {.content_type = "application/json",
                              .correlation_id = p->rid,
                              .message_id = p->rid,
                              .reply_to = BROKER_REPLY_TO,
                              .expiration = expiration,
                              .persistent = 1};
        int rc = broker_publish(br->b, "", broker_name_work(br->b), &props, p->body, p->len,
                                BROKER_PUBLISH_MANDATORY);
        if (rc != 0)
            log_msg(LOG_LVL_WARN, "gateway: request %s not published: %s: %s", p->rid,
                    broker_strerror(rc), broker_error(br->b));

        pthread_mutex_lock(&br->mu);
        if (p->abandoned) {
            drop_bridge_ref(br, p);
        } else if (rc == 0) {
            p->state = P_WAITING;
            p->generation = broker_generation(br->b);
            TAILQ_INSERT_TAIL(&br->waiting, p, link);
        } else {
            complete(br, p, GATEWAY_EUNAVAILABLE, NULL);
        }
        pthread_mutex_unlock(&br->mu);
        if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
            return rc;
    }
}

/* 1 if d is an interim progress message ("final": false; docs/protocol.md,
 * "Progress messages"), which comes only when the request asked for it:
 * the gateway answers with the final reply. */
static int interim(const broker_delivery *d)
{
    if (d->body == NULL || memmem(d->body, d->len, "\"final\"", 7) == NULL)
        return 0;
    json_t *m = json_loadb((const char *)d->body, d->len, 0, NULL);
    int yes = json_is_false(json_object_get(m, "final"));
    json_decref(m);
    return yes;
}

/* Hands a direct reply-to delivery to its pending; a reply nobody waits
 * for any more (its submitter timed out) is dropped, and so is a progress
 * message.  Bridge thread. */
static void take_reply(gateway_bridge *br, broker_delivery *d)
{
    if (d->source != BROKER_SRC_REPLY || d->correlation_id == NULL || interim(d))
        return;
    pthread_mutex_lock(&br->mu);
    pending *p;
    TAILQ_FOREACH(p, &br->waiting, link)
    {
        if (strcmp(p->rid, d->correlation_id) == 0)
            break;
    }
    if (p == NULL) {
        pthread_mutex_unlock(&br->mu);
        log_msg(LOG_LVL_DEBUG, "gateway: a reply for %.80s came after its request gave up",
                d->correlation_id);
        return;
    }
    TAILQ_REMOVE(&br->waiting, p, link);
    if (d->oversize || d->body == NULL) {
        log_msg(LOG_LVL_WARN, "gateway: the reply to %s is over %llu bytes: not delivered", p->rid,
                (unsigned long long)BROKER_DEFAULT_MAX_BODY);
        complete(br, p, GATEWAY_EREPLY, NULL);
    } else {
        /* the delivery's body is malloc'd and NUL-terminated: take it over */
        char *reply = (char *)d->body;
        d->body = NULL;
        d->len = 0;
        complete(br, p, 0, reply);
    }
    pthread_mutex_unlock(&br->mu);
}

/* conf.on_retry: runs on the bridge thread between reconnect attempts;
 * carries a stop request into broker_reconnect()'s flag. */
static void on_retry(void *arg, unsigned attempt, int err, const char *cause, unsigned delay_ms)
{
    gateway_bridge *br = arg;
    br->reconnect_stop = atomic_load(&br->stop);
    log_msg(LOG_LVL_DEBUG, "gateway: RabbitMQ reconnect attempt %u failed: %s (%s); next in %u ms",
            attempt, broker_strerror(err), cause ? cause : "", delay_ms);
}

/* Reconnects after the connection was lost, answering everything held
 * meanwhile.  0 once up again with direct reply-to, -1 when stopped. */
static int reconnect(gateway_bridge *br)
{
    set_up(br, 0);
    log_msg(LOG_LVL_WARN, "gateway: RabbitMQ connection lost (%s): answering 503 until it is back",
            broker_error(br->b));
    for (;;) {
        br->reconnect_stop = atomic_load(&br->stop);
        if (broker_reconnect(br->b, &br->reconnect_stop) != 0)
            return -1;
        int rc = broker_rpc_begin(br->b);
        if (rc == 0)
            break;
        log_msg(LOG_LVL_WARN, "gateway: direct reply-to: %s: %s", broker_strerror(rc),
                broker_error(br->b));
    }
    set_up(br, 1);
    log_msg(LOG_LVL_INFO, "gateway: RabbitMQ connection restored");
    return 0;
}

static void *bridge_main(void *arg)
{
    gateway_bridge *br = arg;
    while (!atomic_load(&br->stop)) {
        if (!broker_connected(br->b) && reconnect(br) != 0)
            break;
        int rc = send_queued(br);
        fail_other_generations(br, broker_generation(br->b));
        if (rc != 0)
            continue;
        broker_delivery d;
        memset(&d, 0, sizeof d);
        rc = broker_poll(br->b, POLL_MS, &d);
        if (rc == 1)
            take_reply(br, &d);
        else if (rc < 0 && rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN && rc != BROKER_ECHANNEL)
            log_msg(LOG_LVL_WARN, "gateway: broker: %s: %s", broker_strerror(rc),
                    broker_error(br->b));
        broker_delivery_cleanup(&d);
    }
    pthread_mutex_lock(&br->mu);
    br->stopping = 1;
    br->up = 0;
    fail_list(br, &br->queued, GATEWAY_ESTOPPING);
    fail_list(br, &br->waiting, GATEWAY_ESTOPPING);
    pthread_mutex_unlock(&br->mu);
    return NULL;
}

static void wake(gateway_bridge *br)
{
    uint64_t one = 1;
    if (write(br->wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: the bridge is awake anyway */
    }
}

int gateway_bridge_start(const broker_conf *bc, gateway_bridge **out, char **cause)
{
    *out = NULL;
    if (bc == NULL) {
        gw_cause(cause, "no broker settings");
        return GATEWAY_EINVAL;
    }
    gateway_bridge *br = xcalloc(1, sizeof *br);
    char *why = NULL;
    int rc = GATEWAY_EBROKER;
    pthread_mutex_init(&br->mu, NULL);
    TAILQ_INIT(&br->queued);
    TAILQ_INIT(&br->waiting);
    atomic_init(&br->stop, 0);
    br->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (br->wake_fd < 0) {
        gw_cause(cause, "gateway: eventfd: %s", strerror(errno));
        goto fail;
    }

    broker_conf c = *bc;
    c.role = BROKER_ROLE_CLIENT;
    /* Replies that arrive while a publish waits for its confirm are queued
     * inside the handle.  It holds 2 * prefetch + BROKER_REPLY_SLACK of
     * them: room for one reply per request in flight.  A client consumes
     * nothing else, so prefetch sizes only that. */
    c.prefetch = MAX_INFLIGHT / 2;
    c.max_body = BROKER_DEFAULT_MAX_BODY; /* a run's reply holds its output */
    c.reconnect_max_ms = RECONNECT_MAX_MS;
    c.on_retry = on_retry;
    c.on_retry_arg = br;
    if (c.connection_name == NULL)
        c.connection_name = "docker-dispatch gateway";
    int brc = broker_open(&c, &br->b, &why);
    if (brc == 0 && (brc = broker_set_wake_fd(br->b, br->wake_fd)) == 0)
        brc = broker_rpc_begin(br->b);
    if (brc != 0) {
        if (br->b != NULL) {
            free(why);
            why = xstrdup(broker_error(br->b));
        }
        gw_cause(cause, "gateway: RabbitMQ: %s: %s", broker_strerror(brc),
                 why ? why : "cannot connect");
        rc = brc == BROKER_EINVAL || brc == BROKER_EURL ? GATEWAY_EINVAL : GATEWAY_EBROKER;
        goto fail;
    }
    br->up = 1;
    /* from here on the handle is the bridge thread's */
    if (pthread_create(&br->thread, NULL, bridge_main, br) != 0) {
        gw_cause(cause, "gateway: cannot start the bridge thread");
        goto fail;
    }
    pthread_setname_np(br->thread, "dd-gw-bridge");
    br->started = 1;
    free(why);
    *out = br;
    return 0;
fail:
    free(why);
    gateway_bridge_free(br);
    return rc;
}

int gateway_bridge_submit(void *ud, const char *request_id, const char *body, size_t len,
                          int timeout_ms, char **reply)
{
    gateway_bridge *br = ud;
    *reply = NULL;
    if (br == NULL || request_id == NULL || body == NULL || timeout_ms <= 0)
        return GATEWAY_EINVAL;
    pending *p = pending_new(request_id, body, len, timeout_ms);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&br->mu);
    if (br->stopping || !br->up || br->inflight >= MAX_INFLIGHT) {
        int rc = br->stopping ? GATEWAY_ESTOPPING : GATEWAY_EUNAVAILABLE;
        pthread_mutex_unlock(&br->mu);
        pending_free(p);
        return rc;
    }
    p->refs = 2;
    p->state = P_QUEUED;
    br->inflight++;
    TAILQ_INSERT_TAIL(&br->queued, p, link);
    pthread_mutex_unlock(&br->mu);
    wake(br);

    int rc;
    pthread_mutex_lock(&br->mu);
    while (p->state != P_DONE)
        if (pthread_cond_timedwait(&p->cv, &br->mu, &deadline) == ETIMEDOUT)
            break;
    if (p->state == P_DONE) { /* the bridge has let go */
        rc = p->rc;
        *reply = p->reply;
        p->reply = NULL;
        pending_unref(p);
    } else if (p->state == P_SENDING) { /* the bridge lets go after the publish */
        rc = GATEWAY_ETIMEOUT;
        p->abandoned = 1;
        pending_unref(p);
    } else { /* on a list: both references are ours to drop */
        rc = GATEWAY_ETIMEOUT;
        TAILQ_REMOVE(p->state == P_QUEUED ? &br->queued : &br->waiting, p, link);
        br->inflight--;
        pending_free(p);
    }
    pthread_mutex_unlock(&br->mu);
    return rc;
}

int gateway_bridge_up(gateway_bridge *br)
{
    if (br == NULL)
        return 0;
    pthread_mutex_lock(&br->mu);
    int up = br->up;
    pthread_mutex_unlock(&br->mu);
    return up;
}

void gateway_bridge_stop(gateway_bridge *br)
{
    if (br == NULL)
        return;
    pthread_mutex_lock(&br->mu);
    br->stopping = 1;
    pthread_mutex_unlock(&br->mu);
    atomic_store(&br->stop, 1);
    if (br->started) {
        wake(br);
        pthread_join(br->thread, NULL);
        br->started = 0;
    }
}

void gateway_bridge_free(gateway_bridge *br)
{
    if (br == NULL)
        return;
    gateway_bridge_stop(br);
    pthread_mutex_lock(&br->mu);
    fail_list(br, &br->queued, GATEWAY_ESTOPPING);
    fail_list(br, &br->waiting, GATEWAY_ESTOPPING);
    pthread_mutex_unlock(&br->mu);
    /* the thread is gone: the handle is ours again */
    broker_free(br->b);
    if (br->wake_fd >= 0)
        close(br->wake_fd);
    pthread_mutex_destroy(&br->mu);
    free(br);
}
