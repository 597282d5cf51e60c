/*
 * port.c -- the relay's port bound to a src/broker connection.
 */
#include "relay.h"

static int b_publish(void *ud, const char *exchange, const char *key, const broker_props *p,
                     const void *body, size_t len, unsigned flags)
{
    return broker_publish(ud, exchange, key, p, body, len, flags);
}

static int b_publish_batched(void *ud, const char *exchange, const char *key, const broker_props *p,
                             const void *body, size_t len)
{
    size_t slot;
    return broker_publish_batched(ud, exchange, key, p, body, len, &slot);
}

static int b_confirm_batch(void *ud, int *out, size_t n)
{
    return broker_confirm_batch(ud, out, n);
}

static int b_ack(void *ud, uint64_t tag)
{
    return broker_ack(ud, tag);
}

static int b_nack(void *ud, uint64_t tag, int requeue)
{
    return broker_nack(ud, tag, requeue);
}

static int b_dead_letter(void *ud, const broker_delivery *d, const char *reason)
{
    return broker_dead_letter(ud, d, reason);
}

static int b_consume(void *ud, int on)
{
    return on ? broker_consume_resume(ud) : broker_consume_pause(ud);
}

static int b_route(void *ud, const char *node, const char *key, int add)
{
    return broker_route_node(ud, node, key, add);
}

static int b_drain(void *ud, int on)
{
    return broker_drain(ud, on);
}

static const char *b_error(void *ud)
{
    return broker_error(ud);
}

void relay_bind_broker(relay *r, broker *b)
{
    r->port = (relay_port){.ud = b,
                           .publish = b_publish,
                           .publish_batched = b_publish_batched,
                           .confirm_batch = b_confirm_batch,
                           .ack = b_ack,
                           .nack = b_nack,
                           .dead_letter = b_dead_letter,
                           .consume = b_consume,
                           .route = b_route,
                           .drain = b_drain,
                           .error = b_error};
    r->names = (relay_names){.work = broker_name_work(b),
                             .dead = broker_name_dead(b),
                             .events = broker_name_events(b),
                             .all = broker_name_all(b),
                             .containers = broker_name_containers(b),
                             .user = broker_user(b)};
}
