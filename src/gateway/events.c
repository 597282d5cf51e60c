/*
 * events.c -- the gateway's subscriber to the cluster's events and its
 * reader of queue depths: one client-role broker connection of its own,
 * owned by one thread.  See gateway_internal.h.
 *
 * DESIGN.  rabbitmq-c handles have one owning thread, and the bridge's
 * thread is busy with requests.  So the events have a connection and thread
 * of their own.  Like the bridge's, it is opened on the starting thread and
 * handed over before the thread exists.  broker_watch("#") binds a
 * server-named exclusive auto-delete queue to <q>.events.  The broker
 * renews it on every reconnect (events published meanwhile are missed, as
 * for `dispatchctl events`).
 *
 * The thread polls at most POLL_MS at a time, so it also reads the depths
 * of <q> and <q>.dead every GW_QUEUES_EVERY_MS (passive queue.declare:
 * message_count, consumer_count).  It keeps them under mu for GET /queues.
 * That is one small round trip per period for every client of the
 * dashboard together, instead of one per HTTP request.
 *
 * What is passed on.  Only events published by the dispatchers' own
 * RabbitMQ user: anyone else who may publish on the exchange could claim
 * to be a node.  RabbitMQ checks user_id against the connection's user, and
 * the gateway connects as that user too.  Heartbeats (node.heartbeat.*)
 * travel on the same exchange every membership interval from every node;
 * they are the membership's business and are not passed on (GET /nodes
 * has the load they carry).  Every other event -- container.started,
 * .exited, .removed, node.up, node.down and whatever schema 1 adds -- is
 * passed on as the JSON object it is, re-serialised on one line.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway_internal.h"
#include "log.h"

#define POLL_MS          500
#define RECONNECT_MAX_MS 5000

struct gw_events {
    broker *b; /* the thread's alone once it runs */
    gw_hub *hub;
    pthread_t thread;
    int started;
    atomic_int stop;
    volatile sig_atomic_t reconnect_stop; /* the thread's copy of stop */
    pthread_mutex_t mu;                   /* guards the depths below */
    gw_queue_depth work, dead;
    int64_t read_ms; /* when the depths were read; -1: never */
    char work_name[BROKER_NAME_MAX + 16], dead_name[BROKER_NAME_MAX + 16];
};

/* Hands one delivery on to the hub, when it is an event to pass on. */
static void pass_on(gw_events *ev, const broker_delivery *d)
{
    if (d->source != BROKER_SRC_EVENT || d->body == NULL || d->oversize)
        return;
    if (d->user_id == NULL || strcmp(d->user_id, broker_user(ev->b)) != 0)
        return;
    if (d->routing_key != NULL && strncmp(d->routing_key, "node.heartbeat.", 15) == 0)
        return;
    json_t *j = json_loadb((const char *)d->body, d->len, 0, NULL);
    const char *name = json_string_value(json_object_get(j, "event"));
    const char *node = json_string_value(json_object_get(j, "node"));
    if (json_is_object(j) && name != NULL && node != NULL && strcmp(name, "node.heartbeat") != 0) {
        char *line = json_dumps(j, JSON_COMPACT);
        if (line == NULL)
            xoom();
        gw_hub_publish(ev->hub, name, node, line, strlen(line));
        free(line);
    }
    json_decref(j);
}

/* One queue's depth into *q. */
static void read_depth(gw_events *ev, const char *queue, gw_queue_depth *q)
{
    uint32_t m = 0, c = 0;
    int rc = broker_queue_counts(ev->b, queue, &m, &c);
    pthread_mutex_lock(&ev->mu);
    q->known = rc == 0;
    q->messages = rc == 0 ? m : 0;
    q->consumers = rc == 0 ? c : 0;
    pthread_mutex_unlock(&ev->mu);
    if (rc != 0 && rc != BROKER_ENOTFOUND)
        log_msg(LOG_LVL_DEBUG, "gateway: depth of %s: %s: %s", queue, broker_strerror(rc),
                broker_error(ev->b));
}

static void read_depths(gw_events *ev)
{
    read_depth(ev, ev->work_name, &ev->work);
    read_depth(ev, ev->dead_name, &ev->dead);
    pthread_mutex_lock(&ev->mu);
    ev->read_ms = gw_now_ms();
    pthread_mutex_unlock(&ev->mu);
}

static void on_retry(void *arg, unsigned attempt, int err, const char *cause, unsigned delay_ms)
{
    gw_events *ev = arg;
    ev->reconnect_stop = atomic_load(&ev->stop);
    log_msg(LOG_LVL_DEBUG, "gateway: events: reconnect attempt %u failed: %s (%s); next in %u ms",
            attempt, broker_strerror(err), cause ? cause : "", delay_ms);
}

static void *events_main(void *arg)
{
    gw_events *ev = arg;
    int64_t next_depths = 0;
    while (!atomic_load(&ev->stop)) {
        if (!broker_connected(ev->b)) {
            ev->reconnect_stop = atomic_load(&ev->stop);
            if (broker_reconnect(ev->b, &ev->reconnect_stop) != 0)
                break;
            log_msg(LOG_LVL_INFO, "gateway: events: RabbitMQ connection restored");
        }
        if (gw_now_ms() >= next_depths) {
            read_depths(ev);
            next_depths = gw_now_ms() + GW_QUEUES_EVERY_MS;
        }
        broker_delivery d;
        memset(&d, 0, sizeof d);
        int rc = broker_poll(ev->b, POLL_MS, &d);
        if (rc == 1)
            pass_on(ev, &d);
        else if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
            log_msg(LOG_LVL_WARN, "gateway: events: RabbitMQ connection lost (%s)",
                    broker_error(ev->b));
        broker_delivery_cleanup(&d);
    }
    return NULL;
}

int gw_events_start(const broker_conf *bc, gw_hub *hub, gw_events **out, char **cause)
{
    *out = NULL;
    gw_events *ev = xcalloc(1, sizeof *ev);
    char *why = NULL;
    int rc = GATEWAY_EBROKER;
    pthread_mutex_init(&ev->mu, NULL);
    atomic_init(&ev->stop, 0);
    ev->hub = hub;
    ev->read_ms = -1;

    broker_conf c = *bc;
    c.role = BROKER_ROLE_CLIENT;
    c.max_body = GW_EVENT_MAX;
    c.reconnect_max_ms = RECONNECT_MAX_MS;
    c.on_retry = on_retry;
    c.on_retry_arg = ev;
    c.connection_name = "docker-dispatch gateway events";
    int brc = broker_open(&c, &ev->b, &why);
    if (brc == 0)
        brc = broker_watch(ev->b, "#");
    if (brc != 0) {
        if (ev->b != NULL) {
            free(why);
            why = xstrdup(broker_error(ev->b));
        }
        gw_cause(cause, "gateway: events: RabbitMQ: %s: %s", broker_strerror(brc),
                 why ? why : "cannot connect");
        rc = brc == BROKER_EINVAL || brc == BROKER_EURL ? GATEWAY_EINVAL : GATEWAY_EBROKER;
        goto fail;
    }
    snprintf(ev->work_name, sizeof ev->work_name, "%s", broker_name_work(ev->b));
    snprintf(ev->dead_name, sizeof ev->dead_name, "%s", broker_name_dead(ev->b));
    /* from here on the handle is the thread's */
    if (pthread_create(&ev->thread, NULL, events_main, ev) != 0) {
        gw_cause(cause, "gateway: cannot start the events thread");
        goto fail;
    }
    pthread_setname_np(ev->thread, "dd-gw-events");
    ev->started = 1;
    free(why);
    *out = ev;
    return 0;
fail:
    free(why);
    gw_events_free(ev);
    return rc;
}

int64_t gw_events_queues(gw_events *ev, gw_queue_depth *work, gw_queue_depth *dead, char *work_name,
                         char *dead_name, size_t namelen)
{
    pthread_mutex_lock(&ev->mu);
    *work = ev->work;
    *dead = ev->dead;
    int64_t age = ev->read_ms < 0 ? -1 : gw_now_ms() - ev->read_ms;
    pthread_mutex_unlock(&ev->mu);
    snprintf(work_name, namelen, "%s", ev->work_name);
    snprintf(dead_name, namelen, "%s", ev->dead_name);
    return age;
}

void gw_events_free(gw_events *ev)
{
    if (ev == NULL)
        return;
    atomic_store(&ev->stop, 1);
    if (ev->started)
        pthread_join(ev->thread, NULL); /* within POLL_MS, or a reconnect delay */
    broker_free(ev->b);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}
