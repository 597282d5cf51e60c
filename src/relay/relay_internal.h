/*
 * relay_internal.h -- what the relay's files share (relay.h is the API).
 */
#ifndef DD_RELAY_INTERNAL_H
#define DD_RELAY_INTERNAL_H

#include "relay.h"

/* 1 for the errors after which the item is carried out again after the
 * reconnect. */
static inline int relay_lost(int rc)
{
    return rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN;
}

/* The port's words for the last failure. */
const char *relay_why(const relay *r);

/* ---- reply.c ---- */

/* 1 if o's reply goes to a direct reply-to address (not a queue). */
int relay_direct_reply(const engine_out *o);
/* The properties of reply o, and of an event. */
broker_props relay_reply_props(const engine_out *o);
broker_props relay_event_props(const relay *r);
/* Counts a published reply, or logs why it failed (rc: a broker error). */
void relay_reply_outcome(const relay *r, int rc);
/* Logs and counts an event that did not go out. */
void relay_event_dropped(const relay *r, const char *key, int rc);
/* Publishes reply (or progress message) o; 0 or a lost connection. */
int relay_publish_reply(const relay *r, const engine_out *o);
/* Publishes an event; 0 or a lost connection. */
int relay_publish_event(const relay *r, const char *key, const char *body);
/* Dead-letters o->reply.dl with its reason, counted by the reason. */
int relay_dead_letter(const relay *r, const engine_out *o);

/* ---- nodes.c ---- */

/* Publishes a part query or a bulk piece (PUBLISH); a failure is told to
 * the gather waiting for it (hooks.part_failed).  0 or a lost connection. */
int relay_publish_part(const relay *r, const engine_out *o);
/* Forwards o's delivery to its owner (FORWARD), then settles it.  It is
 * acked once the owner's queue has it.  When no queue took it, it is
 * handed back to the engine to ask the nodes (by container id:
 * hooks.unrouted) or answered not_found (by node).  0 or a lost
 * connection. */
int relay_forward(const relay *r, const engine_out *o);
/* rc of a ROUTE or DRAIN: other failures than a lost connection are
 * logged and become 0. */
int relay_topology_outcome(const relay *r, int rc);

#endif
