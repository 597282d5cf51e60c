/*
 * nodes.c -- the outbox items that reach other nodes: forwards, parts of
 * cluster queries and bulk pieces.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "relay_internal.h"

/* The exchange and routing key of destination to (node queues are
 * reached through the default exchange by their name). */
static void destination(const relay *r, const engine_out_to *to, const char **exchange, char *key,
                        size_t keylen)
{
    *exchange = ""; /* the default exchange, should dest be out of range */
    switch (to->dest) {
    case ENGINE_TO_ALL:
        *exchange = r->names.all;
        snprintf(key, keylen, "%s", to->key ? to->key : "");
        break;
    case ENGINE_TO_CONTAINERS:
        *exchange = r->names.containers;
        snprintf(key, keylen, "%s", to->key ? to->key : "");
        break;
    case ENGINE_TO_NODE:
        *exchange = "";
        snprintf(key, keylen, "%s.node.%s", r->names.work, to->node ? to->node : "");
        break;
    }
}

int relay_publish_part(const relay *r, const engine_out *o)
{
    const char *exchange;
    char key[600];
    destination(r, &o->publish.to, &exchange, key, sizeof key);
    const char *corr = o->publish.correlation_id;
    broker_props p = {.content_type = "application/json",
                      .correlation_id = corr,
                      .message_id = o->publish.message_id ? o->publish.message_id : corr,
                      .reply_to = BROKER_REPLY_TO,
                      .user_id = r->names.user,
                      .persistent = 1,
                      .headers = o->publish.to.headers,
                      .n_headers = o->publish.to.n_headers};
    const char *body = o->publish.body;
    int rc = r->port.publish(r->port.ud, exchange, key, &p, body, strlen(body),
                             BROKER_PUBLISH_MANDATORY);
    if (relay_lost(rc))
        return rc;
    if (rc != 0 && r->hooks.part_failed)
        r->hooks.part_failed(r->hooks.ud, corr, rc);
    return 0;
}

/* Answers forward o's sender not_found (o's body): no queue took it. */
static int answer_unrouted(const relay *r, const engine_out *o)
{
    const broker_delivery *d = o->forward.dl;
    broker_props rp = {
        .correlation_id = d->correlation_id, .content_type = "application/json", .persistent = 1};
    const char *body = o->forward.body;
    return r->port.publish(r->port.ud, "", d->reply_to, &rp, body, strlen(body), 0);
}

/* The copy carries the engine's headers only (x-dd-hop, x-dd-user): the
 * publisher's mean nothing to the owner, and with them a message of
 * BROKER_MAX_HEADERS headers could not be forwarded at all. */
int relay_forward(const relay *r, const engine_out *o)
{
    const broker_delivery *d = o->forward.dl;
    const char *exchange;
    char key[600];
    destination(r, &o->forward.to, &exchange, key, sizeof key);
    broker_props p = {.content_type = d->content_type,
                      .correlation_id = d->correlation_id,
                      .message_id = d->message_id,
                      .reply_to = d->reply_to,
                      .type = d->type,
                      .user_id = r->names.user,
                      .persistent = d->persistent,
                      .headers = o->forward.to.headers,
                      .n_headers = o->forward.to.n_headers};
    int rc =
        r->port.publish(r->port.ud, exchange, key, &p, d->body, d->len, BROKER_PUBLISH_MANDATORY);
    if (relay_lost(rc))
        return rc;
    if (rc == BROKER_EUNROUTABLE && o->forward.to.dest == ENGINE_TO_CONTAINERS &&
        r->hooks.unrouted) {
        /* No node has bound the id: its container may be one made while
         * its node was alone, whose key the node binds at its next pass
         * (cluster_ops.c, routes).  The engine finds the owner by asking
         * the nodes; the delivery stays unsettled meanwhile. */
        r->hooks.unrouted(r->hooks.ud, o->forward.dl);
        return 0;
    }
    uint64_t tag = d->tag;
    if (rc == BROKER_EUNROUTABLE && d->reply_to) {
        rc = answer_unrouted(r, o);
    } else if (rc != 0) {
        log_msg(LOG_LVL_WARN, "forwarding: %s: %s: the message is requeued", broker_strerror(rc),
                relay_why(r));
        rc = r->port.nack(r->port.ud, tag, 1);
        return relay_lost(rc) ? rc : 0;
    }
    if (relay_lost(rc))
        return rc;
    r->port.ack(r->port.ud, tag); /* when the connection is gone, the broker requeued it */
    return 0;
}

int relay_topology_outcome(const relay *r, int rc)
{
    if (rc != 0 && !relay_lost(rc)) {
        log_msg(LOG_LVL_WARN, "cluster: %s: %s", broker_strerror(rc), relay_why(r));
        rc = 0;
    }
    return rc;
}
