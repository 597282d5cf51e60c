/*
 * node.h -- the main thread's cluster duties (node.c).
 */
#ifndef DD_NODE_H
#define DD_NODE_H

#include "broker.h"
#include "cluster.h"
#include "config.h"
#include "engine.h"

/* The cluster object of this node (cluster_free) after subscribing b to
 * the membership events and to direct replies.  Never NULL. */
cluster *node_start(broker *b, const cluster_conf *cc);

/* Publishes the heartbeat when due and drops silent nodes; returns the
 * milliseconds until it should be called again. */
int node_tick(broker *b, cluster *cl);

/* After a reconnect: when no heartbeat went out for as long as the others
 * take to drop this node, a sibling may have adopted its containers: the
 * engine is fenced (cluster_hooks.fence) until the sibling has heard it
 * again. */
void node_reconnected(cluster *cl);

/* A delivery from the watch (membership) or reply consumer: taken into the
 * view (when published by the dispatchers' RabbitMQ user, the user of b)
 * or offered to the gathers; returns 1 when d was one of those (the caller
 * then only cleans it up), 0 for work.  A node joining or leaving the view
 * is told to the engine (cluster_hooks.view_changed). */
int node_heard(broker *b, cluster *cl, const broker_delivery *d);

#endif
