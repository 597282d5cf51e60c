/*
 * relay.c -- carries out the engine's outbox on the relay's port: the one
 * switch over the kind of an item (do_item), and batches of replies and
 * events that share one wait for their confirms.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay_internal.h"

/* Reply o is out: its container is removed or marked answered. */
static void follow_up(const relay *r, const engine_out *o)
{
    if (o->reply.after_remove && r->hooks.after)
        r->hooks.after(r->hooks.ud, o->reply.after_remove, !o->reply.after_mark);
}

/* Reply o is confirmed: its follow-up, then its message acked, or
 * dead-lettered when it was bad input.  A lost connection now is no
 * failure: the broker requeued the message. */
static int settle_reply(const relay *r, const engine_out *o)
{
    follow_up(r, o);
    int rc;
    if (o->reply.dl)
        rc = relay_dead_letter(r, o);
    else
        rc = r->port.ack(r->port.ud, o->reply.tag);
    return relay_lost(rc) ? 0 : rc;
}

/* Pauses (on 0) or resumes consuming; a resume is not carried out once
 * the daemon stops. */
static int consume(const relay *r, int on)
{
    int rc = 0;
    if (!on || r->stop == NULL || !*r->stop)
        rc = r->port.consume(r->port.ud, on);
    if (r->hooks.consuming)
        r->hooks.consuming(r->hooks.ud, on);
    return rc;
}

/* Carries out one item.  Returns 0, or a lost connection when the item
 * must be kept for after the reconnect. */
static int do_item(const relay *r, engine_out *o)
{
    void *ud = r->port.ud;
    int rc = 0;
    switch (o->kind) {
    case ENGINE_OUT_ACK:
        rc = r->port.ack(ud, o->ack.tag);
        break;
    case ENGINE_OUT_NACK:
        rc = r->port.nack(ud, o->nack.tag, o->nack.requeue);
        break;
    case ENGINE_OUT_PAUSE:
        rc = consume(r, 0);
        break;
    case ENGINE_OUT_RESUME:
        rc = consume(r, 1);
        break;
    case ENGINE_OUT_EVENT:
        rc = relay_publish_event(r, o->event.key, o->event.body);
        break;
    case ENGINE_OUT_REPLY:
        /* settled only once the reply is confirmed */
        rc = relay_publish_reply(r, o);
        if (rc == 0)
            rc = settle_reply(r, o);
        break;
    case ENGINE_OUT_PROGRESS:
        rc = relay_publish_reply(r, o);
        break;
    case ENGINE_OUT_ROUTE:
        rc = r->port.route(ud, o->route.node, o->route.key, o->route.add);
        rc = relay_topology_outcome(r, rc);
        break;
    case ENGINE_OUT_DRAIN:
        rc = relay_topology_outcome(r, r->port.drain(ud, o->drain.on));
        break;
    case ENGINE_OUT_PUBLISH:
        return relay_publish_part(r, o);
    case ENGINE_OUT_FORWARD:
        return relay_forward(r, o);
    }
    if (rc == BROKER_ESTALE)
        rc = 0;
    if (rc != 0 && !relay_lost(rc)) {
        log_msg(LOG_LVL_WARN, "broker: %s: %s", broker_strerror(rc), relay_why(r));
        rc = 0;
    }
    return rc;
}

/* 1 if o may go in a batch: a reply to a direct reply-to address (never
 * mandatory: see relay_publish_reply), settled by an ack, or an event
 * (never mandatory either). */
static int batchable(const engine_out *o)
{
    return (o->kind == ENGINE_OUT_REPLY && o->reply.dl == NULL && relay_direct_reply(o)) ||
           o->kind == ENGINE_OUT_EVENT;
}

/* Settles the n items from l on of a confirmed batch (out: each one's
 * outcome; rc: the batch's, which overrides them when not 0). */
static void settle_batch(const relay *r, const engine_out *l, size_t n, const int *out, int rc)
{
    const engine_out *o = l;
    for (size_t i = 0; i < n; i++, o = o->next) {
        int ri = rc != 0 ? rc : out[i];
        if (o->kind == ENGINE_OUT_EVENT) {
            if (ri != 0)
                relay_event_dropped(r, o->event.key, ri);
            continue;
        }
        relay_reply_outcome(r, ri);
        follow_up(r, o);
        r->port.ack(r->port.ud, o->reply.tag); /* stale after a new channel: requeued */
    }
}

/* Publishes up to n batchable items from l on as one batch, waits once
 * for all their confirms, then settles each as do_item() does.  So a reply
 * or an event costs one round trip to RabbitMQ per batch instead of one
 * each (a `run` makes three events and a reply).  Returns how many items
 * it settled from l on, or a lost connection (nothing settled: the caller
 * keeps the items, as for one).  It settles fewer than n when a publish was
 * refused before it went out, and none when the broker closed the channel
 * over the batch.  The rest take the single way, which reports it. */
static int publish_batch(const relay *r, const engine_out *l, size_t n)
{
    int out[BROKER_BATCH_MAX];
    const engine_out *o = l;
    size_t sent = 0;
    for (; sent < n; sent++, o = o->next) {
        int ev = o->kind == ENGINE_OUT_EVENT;
        broker_props p = ev ? relay_event_props(r) : relay_reply_props(o);
        const char *body = ev ? o->event.body : o->reply.body;
        int rc =
            r->port.publish_batched(r->port.ud, ev ? r->names.events : "",
                                    ev ? o->event.key : o->reply.reply_to, &p, body, strlen(body));
        if (relay_lost(rc))
            return rc;
        if (rc != 0)
            break;
    }
    if (sent == 0)
        return 0;
    int confirm = r->port.confirm_batch(r->port.ud, out, sent);
    if (relay_lost(confirm))
        return confirm;
    if (confirm == BROKER_ECHANNEL) {
        /* The broker closed the channel over the batch (its consumer
         * timeout, a message over its size limit) and it was reopened.
         * Which got through is unknown, so none is settled and each goes
         * again: the first the single way, which tells a refusal. */
        log_msg(LOG_LVL_WARN, "publishing a batch: %s; sending it again", relay_why(r));
        return 0;
    }
    settle_batch(r, l, sent, out, confirm);
    return (int)sent;
}

/* Frees the first n items of *list. */
static void drop(engine_out **list, size_t n)
{
    for (; n > 0; n--) {
        engine_out *o = *list;
        *list = o->next;
        engine_out_free(o);
    }
}

int relay_run(const relay *r, engine_out **list)
{
    while (*list) {
        size_t n = 0;
        for (engine_out *o = *list; o && n < BROKER_BATCH_MAX && batchable(o); o = o->next)
            n++;
        if (n > 1) {
            int done = publish_batch(r, *list, n);
            if (done < 0)
                return done;
            if (done > 0) {
                drop(list, (size_t)done);
                continue;
            }
            /* the first was refused before it went out: the single way says why */
        }
        int rc = do_item(r, *list);
        if (rc != 0)
            return rc; /* acks and nacks of this generation are stale after a reconnect */
        drop(list, 1);
    }
    return 0;
}

int relay_drain(const relay *r, engine *e)
{
    engine_out *l = engine_take_outbox(e);
    int rc = relay_run(r, &l);
    if (rc != 0)
        engine_requeue_outbox(e, l);
    return rc;
}
