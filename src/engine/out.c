/*
 * out.c -- the outbox's items (engine.h, engine_out): one constructor per
 * kind, the headers of a PUBLISH or FORWARD, and engine_out_free().  Any
 * thread; out-of-memory aborts (xoom).
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* A new item of kind k, every field zero. */
static engine_out *out_new(engine_out_kind k)
{
    engine_out *o = xcalloc(1, sizeof *o);
    o->kind = k;
    return o;
}

/* A copy of *dl on the heap; *dl is zeroed (moved). */
static broker_delivery *move_delivery(broker_delivery *dl)
{
    broker_delivery *d = xmalloc(sizeof *d);
    *d = *dl;
    memset(dl, 0, sizeof *dl);
    return d;
}

static void to_init(engine_out_to *to, engine_dest dest, const char *node, const char *key)
{
    to->dest = dest;
    to->node = xstrdup(node);
    to->key = xstrdup(key);
}

static void to_cleanup(engine_out_to *to)
{
    free(to->node);
    free(to->key);
    for (size_t i = 0; i < to->n_headers; i++) {
        free((char *)to->headers[i].key);
        free((char *)to->headers[i].value);
    }
    free(to->headers);
}

static void delivery_free(broker_delivery *d)
{
    if (d) {
        broker_delivery_cleanup(d);
        free(d);
    }
}

engine_out *engine_out_ack(uint64_t tag)
{
    engine_out *o = out_new(ENGINE_OUT_ACK);
    o->ack.tag = tag;
    return o;
}

engine_out *engine_out_nack(uint64_t tag, int requeue)
{
    engine_out *o = out_new(ENGINE_OUT_NACK);
    o->nack.tag = tag;
    o->nack.requeue = requeue;
    return o;
}

engine_out *engine_out_reply(uint64_t tag, const char *reply_to, const char *correlation_id,
                             char *body)
{
    engine_out *o = out_new(ENGINE_OUT_REPLY);
    o->reply.tag = tag;
    o->reply.reply_to = xstrdup(reply_to);
    o->reply.correlation_id = xstrdup(correlation_id);
    o->reply.body = body;
    return o;
}

engine_out *engine_out_progress(const char *reply_to, const char *correlation_id, char *body)
{
    engine_out *o = engine_out_reply(0, reply_to, correlation_id, body);
    o->kind = ENGINE_OUT_PROGRESS;
    return o;
}

engine_out *engine_out_pause(void)
{
    return out_new(ENGINE_OUT_PAUSE);
}

engine_out *engine_out_resume(void)
{
    return out_new(ENGINE_OUT_RESUME);
}

engine_out *engine_out_event(const char *key, char *body)
{
    engine_out *o = out_new(ENGINE_OUT_EVENT);
    o->event.key = xstrdup(key);
    o->event.body = body;
    return o;
}

engine_out *engine_out_route(const char *node, const char *key, int add)
{
    engine_out *o = out_new(ENGINE_OUT_ROUTE);
    o->route.node = xstrdup(node);
    o->route.key = xstrdup(key);
    o->route.add = add;
    return o;
}

engine_out *engine_out_drain(int on)
{
    engine_out *o = out_new(ENGINE_OUT_DRAIN);
    o->drain.on = on;
    return o;
}

engine_out *engine_out_publish(engine_dest dest, const char *node, const char *key,
                               const char *correlation_id, const char *message_id, char *body)
{
    engine_out *o = out_new(ENGINE_OUT_PUBLISH);
    to_init(&o->publish.to, dest, node, key);
    o->publish.correlation_id = xstrdup(correlation_id);
    o->publish.message_id = xstrdup(message_id);
    o->publish.body = body;
    return o;
}

engine_out *engine_out_forward(engine_dest dest, const char *node, const char *key,
                               broker_delivery *dl, char *body)
{
    engine_out *o = out_new(ENGINE_OUT_FORWARD);
    to_init(&o->forward.to, dest, node, key);
    o->forward.dl = move_delivery(dl);
    o->forward.body = body;
    return o;
}

void engine_out_add_header(engine_out *o, const char *k, const char *v)
{
    engine_out_to *to = o->kind == ENGINE_OUT_FORWARD ? &o->forward.to : &o->publish.to;
    broker_header *h = realloc(to->headers, (to->n_headers + 1) * sizeof *h);
    if (h == NULL)
        xoom();
    to->headers = h;
    h[to->n_headers].key = xstrdup(k);
    h[to->n_headers].value = xstrdup(v);
    to->n_headers++;
}

void engine_out_free(engine_out *o)
{
    if (o == NULL)
        return;
    switch (o->kind) {
    case ENGINE_OUT_REPLY:
    case ENGINE_OUT_PROGRESS:
        free(o->reply.reply_to);
        free(o->reply.correlation_id);
        free(o->reply.body);
        delivery_free(o->reply.dl);
        free(o->reply.reason);
        free(o->reply.after_remove);
        break;
    case ENGINE_OUT_EVENT:
        free(o->event.key);
        free(o->event.body);
        break;
    case ENGINE_OUT_ROUTE:
        free(o->route.node);
        free(o->route.key);
        break;
    case ENGINE_OUT_PUBLISH:
        to_cleanup(&o->publish.to);
        free(o->publish.correlation_id);
        free(o->publish.message_id);
        free(o->publish.body);
        break;
    case ENGINE_OUT_FORWARD:
        to_cleanup(&o->forward.to);
        delivery_free(o->forward.dl);
        free(o->forward.body);
        break;
    case ENGINE_OUT_ACK:
    case ENGINE_OUT_NACK:
    case ENGINE_OUT_PAUSE:
    case ENGINE_OUT_RESUME:
    case ENGINE_OUT_DRAIN:
        break;
    }
    free(o);
}
