/*
 * membership.c -- the broker thread's part in the cluster: heartbeats out
 * and in, expiry of silent nodes, replies handed to the gathers (the
 * outbox items that reach other nodes are the relay's: src/relay).
 * Called only from the main thread, which owns the broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"

cluster *cluster_start(broker *b, const cluster_conf *cc)
{
    cluster *cl = cluster_new(cc);
    /* heartbeats and node.down of every node; replies of gathers */
    int rc = broker_watch(b, "node.#");
    if (rc == 0)
        rc = broker_rpc_begin(b);
    if (rc != 0)
        log_msg(LOG_LVL_WARN, "cluster: %s: %s (this node will not see the others)",
                broker_strerror(rc), broker_error(b));
    return cl;
}

/* Tells the engine that the view changed. */
static void view_changed(cluster *cl)
{
    const cluster_hooks *h = cluster_get_hooks(cl);
    if (h->view_changed)
        h->view_changed(h->ud);
}

/* Hands the engine the departed siblings to take care of: nodes of this
 * Docker host gone for one more expiry period after they left the view.
 * A restart of theirs is over by then.  This node hands them over only
 * when it is the first live one of the host by name.  Logs each change. */
static void adopt(cluster *cl, int64_t now)
{
    const cluster_hooks *h = cluster_get_hooks(cl);
    char **names = cluster_to_adopt(cl, now, cluster_holdback_ms(cl));
    if (h->adopt && h->adopt(h->ud, names)) {
        char list[512] = "";
        size_t o = 0;
        for (size_t i = 0; names && names[i] && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
        if (names)
            log_msg(LOG_LVL_WARN,
                    "taking care of the containers of departed node(s) of this Docker host: %s",
                    list);
        else
            log_msg(LOG_LVL_INFO, "no departed node's containers to take care of any more");
    }
    cluster_names_free(names);
}

/* Publishes this node's heartbeat. */
static void beat(broker *b, cluster *cl, int64_t now)
{
    const cluster_hooks *h = cluster_get_hooks(cl);
    cluster_load load = {0};
    if (h->load)
        h->load(h->ud, &load);
    load.draining = broker_draining(b) != 0;
    char key[300];
    char *body = cluster_heartbeat(cl, &load, now, key, sizeof key);
    /* with the dispatchers' user: cluster_receive believes no one else */
    broker_props p = {
        .content_type = "application/json", .type = "event", .user_id = broker_user(b)};
    int rc = broker_publish(b, broker_name_events(b), key, &p, body, strlen(body), 0);
    if (rc == 0)
        cluster_beat_sent(cl, now);
    if (rc != 0 && rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN)
        log_msg(LOG_LVL_WARN, "heartbeat: %s: %s", broker_strerror(rc), broker_error(b));
    free(body);
}

int cluster_tick(cluster *cl, broker *b)
{
    int64_t now = cluster_now_ms();
    if (cluster_beat_due(cl, now) && broker_connected(b))
        beat(b, cl, now);
    int64_t stalled = cluster_ticked(cl, now);
    if (stalled > 0)
        log_msg(LOG_LVL_DEBUG,
                "cluster: this node did not listen for %lld ms more than an "
                "interval: the others' silence is counted without it",
                (long long)stalled);
    char **gone = cluster_expire(cl, now);
    for (size_t i = 0; gone && gone[i]; i++)
        log_msg(LOG_LVL_WARN, "node %s left the view: no heartbeat for %d intervals", gone[i],
                cluster_expiry(cl));
    if (gone && gone[0])
        view_changed(cl);
    cluster_names_free(gone);
    adopt(cl, now);
    return cluster_due_in(cl, cluster_now_ms());
}

void cluster_reconnected(cluster *cl)
{
    const cluster_hooks *h = cluster_get_hooks(cl);
    int64_t last = cluster_last_beat_sent(cl);
    /* the others drop this node after the interval it last announced */
    int64_t lease = (int64_t)cluster_announced_ms(cl) * cluster_expiry(cl);
    /* the others drop a node after `lease` of silence and adopt it one more
     * `lease` later: from `lease` on, its containers may be another's */
    if (last > 0 && cluster_now_ms() - last >= lease && h->fence)
        h->fence(h->ud, (int)lease);
}

int cluster_receive(cluster *cl, broker *b, const broker_delivery *d)
{
    if (d->source == BROKER_SRC_REPLY) {
        cluster_gather_offer(cl, d); /* unknown correlation ids: late, dropped */
        return 1;
    }
    if (d->source != BROKER_SRC_EVENT)
        return 0;
    /* anyone who may publish on the events exchange could claim to be a
     * node: only the dispatchers' own RabbitMQ user is believed */
    if (d->user_id == NULL || strcmp(d->user_id, broker_user(b)) != 0)
        return 1;
    char joined[256] = "";
    int rc = cluster_heard(cl, d->routing_key, (const char *)d->body, d->len, cluster_now_ms(),
                           joined, sizeof joined);
    if (rc > 0)
        log_msg(LOG_LVL_INFO, "node %s joined the view", joined);
    else if (rc < 0)
        log_msg(LOG_LVL_INFO, "a node left the view (it stopped)");
    if (rc != 0)
        view_changed(cl);
    return 1;
}
