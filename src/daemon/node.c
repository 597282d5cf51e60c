/*
 * node.c -- the broker thread's part in the cluster: heartbeats out and in,
 * expiry of silent nodes, replies handed to the engine's gathers, and the
 * outbox items that publish to other nodes (forwards, parts of cluster
 * queries), bind routes and drain this node.  Called only from the main
 * thread, which owns the broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "log.h"
#include "node.h"

cluster *node_start(broker *b, const dd_config *cfg, const char *version, const char *host)
{
    cluster_conf cc = {.node = cfg->node,
                       .cluster = cfg->cluster,
                       .version = version,
                       .host = host,
                       .interval_ms = cfg->membership_interval_ms,
                       .expiry = cfg->membership_expiry};
    cluster *cl = cluster_new(&cc);
    /* heartbeats and node.down of every node; replies of gathers */
    int rc = broker_watch(b, "node.#");
    if (rc == 0)
        rc = broker_rpc_begin(b);
    if (rc != 0)
        log_msg(LOG_LVL_WARN, "cluster: %s: %s (this node will not see the others)",
                broker_strerror(rc), broker_error(b));
    return cl;
}

/* Hands the engine the departed siblings to take care of: nodes of this
 * Docker host gone for one more expiry period after they left the view
 * (a restart of theirs is over by then), when this node is the first live
 * one of the host by name.  Logs each change. */
static void adopt(cluster *cl, engine *e, int64_t now)
{
    char **names = cluster_to_adopt(cl, now, cluster_holdback_ms(cl));
    if (engine_adopt(e, names)) {
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

int node_tick(broker *b, cluster *cl, engine *e)
{
    int64_t now = cluster_now_ms();
    if (cluster_beat_due(cl, now) && broker_connected(b)) {
        cluster_load load;
        engine_load(e, &load);
        load.draining = broker_draining(b) != 0;
        char key[300];
        char *body = cluster_heartbeat(cl, &load, now, key, sizeof key);
        /* with the dispatchers' user: node_heard believes no one else */
        broker_props p = {
            .content_type = "application/json", .type = "event", .user_id = broker_user(b)};
        int rc = broker_publish(b, broker_name_events(b), key, &p, body, strlen(body), 0);
        if (rc == 0)
            cluster_beat_sent(cl, now);
        if (rc != 0 && rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN)
            log_msg(LOG_LVL_WARN, "heartbeat: %s: %s", broker_strerror(rc), broker_error(b));
        free(body);
    }
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
        engine_view_changed(e);
    cluster_names_free(gone);
    adopt(cl, e, now);
    return cluster_due_in(cl, cluster_now_ms());
}

void node_reconnected(cluster *cl, engine *e)
{
    int64_t last = cluster_last_beat_sent(cl);
    /* the others drop this node after the interval it last announced */
    int64_t lease = (int64_t)cluster_announced_ms(cl) * cluster_expiry(cl);
    /* the others drop a node after `lease` of silence and adopt it one more
     * `lease` later: from `lease` on, its containers may be another's */
    if (last > 0 && cluster_now_ms() - last >= lease)
        engine_fence(e, (int)lease);
}

int node_heard(broker *b, cluster *cl, engine *e, const broker_delivery *d)
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
    if (rc != 0 && e != NULL)
        engine_view_changed(e);
    return 1;
}

/* The exchange and routing key of destination to (node queues are
 * reached through the default exchange by their name). */
static void destination(broker *b, const engine_out_to *to, const char **exchange, char *key,
                        size_t keylen)
{
    *exchange = ""; /* the default exchange, should dest be out of range */
    switch (to->dest) {
    case ENGINE_TO_ALL:
        *exchange = broker_name_all(b);
        snprintf(key, keylen, "%s", to->key ? to->key : "");
        break;
    case ENGINE_TO_CONTAINERS:
        *exchange = broker_name_containers(b);
        snprintf(key, keylen, "%s", to->key ? to->key : "");
        break;
    case ENGINE_TO_NODE:
        *exchange = "";
        snprintf(key, keylen, "%s.node.%s", broker_name_work(b), to->node ? to->node : "");
        break;
    }
}

/* Publishes a part query or a bulk piece (PUBLISH).  A failure is
 * told to the gather waiting for it. */
static int publish_part(broker *b, cluster *cl, const engine_out *o)
{
    const char *exchange;
    char key[600];
    destination(b, &o->publish.to, &exchange, key, sizeof key);
    const char *corr = o->publish.correlation_id;
    broker_props p = {.content_type = "application/json",
                      .correlation_id = corr,
                      .message_id = o->publish.message_id ? o->publish.message_id : corr,
                      .reply_to = BROKER_REPLY_TO,
                      .user_id = broker_user(b),
                      .persistent = 1,
                      .headers = o->publish.to.headers,
                      .n_headers = o->publish.to.n_headers};
    const char *body = o->publish.body;
    int rc = broker_publish(b, exchange, key, &p, body, strlen(body), BROKER_PUBLISH_MANDATORY);
    if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
        return rc;
    if (rc != 0)
        cluster_gather_failed(cl, corr, rc);
    return 0;
}

/* Forwards delivery o->dl to its owner (FORWARD), then settles it: acked
 * once the owner's queue has it; when no queue took it, handed back to e
 * to ask the nodes (by container id) or answered not_found (by node).
 * The copy carries the engine's headers only (x-dd-hop, x-dd-user): the
 * publisher's mean nothing to the owner, and with them a message of
 * BROKER_MAX_HEADERS headers could not be forwarded at all. */
static int forward(broker *b, engine *e, const engine_out *o)
{
    const broker_delivery *d = o->forward.dl;
    const char *exchange;
    char key[600];
    destination(b, &o->forward.to, &exchange, key, sizeof key);
    broker_props p = {.content_type = d->content_type,
                      .correlation_id = d->correlation_id,
                      .message_id = d->message_id,
                      .reply_to = d->reply_to,
                      .type = d->type,
                      .user_id = broker_user(b),
                      .persistent = d->persistent,
                      .headers = o->forward.to.headers,
                      .n_headers = o->forward.to.n_headers};
    int rc = broker_publish(b, exchange, key, &p, d->body, d->len, BROKER_PUBLISH_MANDATORY);
    if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
        return rc;
    if (rc == BROKER_EUNROUTABLE && o->forward.to.dest == ENGINE_TO_CONTAINERS && e != NULL) {
        /* No node has bound the id: its container may be one made while
         * its node was alone, whose key the node binds at its next pass
         * (cluster_ops.c, routes).  The engine finds the owner by asking
         * the nodes; the delivery stays unsettled meanwhile. */
        engine_submit_unrouted(e, o->forward.dl);
        return 0;
    }
    if (rc == BROKER_EUNROUTABLE && d->reply_to) {
        broker_props rp = {.correlation_id = d->correlation_id,
                           .content_type = "application/json",
                           .persistent = 1};
        rc = broker_publish(b, "", d->reply_to, &rp, o->forward.body, strlen(o->forward.body), 0);
    } else if (rc != 0) {
        log_msg(LOG_LVL_WARN, "forwarding: %s: %s: the message is requeued", broker_strerror(rc),
                broker_error(b));
        rc = broker_nack(b, d->tag, 1);
        return rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN ? rc : 0;
    }
    if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
        return rc;
    broker_ack(b, d->tag); /* when the connection is gone, the broker requeued it */
    return 0;
}

int node_do_item(broker *b, cluster *cl, engine *e, engine_out *o)
{
    int rc = 0;
    switch (o->kind) {
    case ENGINE_OUT_ROUTE:
        rc = broker_route_node(b, o->route.node, o->route.key, o->route.add);
        break;
    case ENGINE_OUT_DRAIN:
        rc = broker_drain(b, o->drain.on);
        break;
    case ENGINE_OUT_PUBLISH:
        return publish_part(b, cl, o);
    case ENGINE_OUT_FORWARD:
        return forward(b, e, o);
    default:
        return 0;
    }
    if (rc != 0 && rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN) {
        log_msg(LOG_LVL_WARN, "cluster: %s: %s", broker_strerror(rc), broker_error(b));
        rc = 0;
    }
    return rc;
}
