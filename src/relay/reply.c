/*
 * reply.c -- replies, progress messages, dead letters and events on the
 * relay's port.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "protocol.h"
#include "relay_internal.h"

const char *relay_why(const relay *r)
{
    const char *s = r->port.error ? r->port.error(r->port.ud) : NULL;
    return s ? s : "";
}

int relay_direct_reply(const engine_out *o)
{
    return o->reply.reply_to != NULL &&
           strncmp(o->reply.reply_to, BROKER_REPLY_TO, strlen(BROKER_REPLY_TO)) == 0;
}

/* user_id of an event: the dispatchers' own, which is how other nodes tell
 * events of the cluster from anyone's.  One place for the single and the
 * batched way. */
broker_props relay_reply_props(const engine_out *o)
{
    return (broker_props){.correlation_id = o->reply.correlation_id,
                          .content_type = "application/json",
                          .persistent = 1};
}

broker_props relay_event_props(const relay *r)
{
    return (broker_props){
        .content_type = "application/json", .type = "event", .user_id = r->names.user};
}

void relay_reply_outcome(const relay *r, int rc)
{
    if (rc == 0)
        metrics_add(r->metrics ? r->metrics->replies : NULL, NULL, 1);
    else
        log_msg(LOG_LVL_WARN, "publishing a reply: %s: %s", broker_strerror(rc), relay_why(r));
}

void relay_event_dropped(const relay *r, const char *key, int rc)
{
    log_msg(LOG_LVL_WARN, "publishing event %s: %s: %s", key, broker_strerror(rc), relay_why(r));
    metrics_add(r->metrics ? r->metrics->events_dropped : NULL, NULL, 1);
}

/* Counts a dead letter under code. */
static void count_dead(const relay *r, const char *code)
{
    metrics_add(r->metrics ? r->metrics->dead_letters : NULL, (const char *[]){code}, 1);
}

/* The broker refused reply o for its size (a RabbitMQ max_message_size
 * below --max-reply): publishes the request's too_large answer in its
 * place, with the broker's limit as RabbitMQ said it.  0 or a lost
 * connection, as relay_publish_reply(). */
static int publish_too_large(const relay *r, const engine_out *o, unsigned flags)
{
    const char *at = strstr(relay_why(r), "max size ");
    size_t max = at ? (size_t)strtoull(at + strlen("max size "), NULL, 10) : 0;
    log_msg(LOG_LVL_WARN, "reply refused by the broker: %s; answering too_large", relay_why(r));
    json_t *reply = json_loads(o->reply.body, 0, NULL);
    json_t *small =
        proto_reply_too_large(reply, strlen(o->reply.body), max, "the broker's max_message_size");
    char *body = small ? proto_reply_dumps(small) : NULL;
    json_decref(reply);
    json_decref(small);
    if (body == NULL) {
        log_msg(LOG_LVL_ERROR, "the too_large answer could not be made");
        return 0;
    }
    broker_props p = relay_reply_props(o);
    int rc = r->port.publish(r->port.ud, "", o->reply.reply_to, &p, body, strlen(body), flags);
    free(body);
    if (!relay_lost(rc))
        relay_reply_outcome(r, rc);
    return relay_lost(rc) ? rc : 0;
}

/* Keeps reply o, whose queue is gone, in <q>.dead with the reason, so
 * that nothing is dropped silently. */
static int keep_unroutable(const relay *r, const engine_out *o)
{
    broker_header h = {"x-dd-reason", "reply_to queue does not exist: reply not delivered"};
    broker_props dp = {.correlation_id = o->reply.correlation_id,
                       .content_type = "application/json",
                       .persistent = 1,
                       .headers = &h,
                       .n_headers = 1};
    log_msg(LOG_LVL_WARN, "reply unroutable: kept in %s", r->names.dead);
    const char *body = o->reply.body;
    int rc = r->port.publish(r->port.ud, "", r->names.dead, &dp, body, strlen(body), 0);
    if (rc == 0)
        count_dead(r, "reply_unroutable");
    else if (!relay_lost(rc))
        relay_reply_outcome(r, rc);
    return rc;
}

int relay_publish_reply(const relay *r, const engine_out *o)
{
    if (o->reply.reply_to == NULL)
        return 0;
    broker_props p = relay_reply_props(o);
    /* RabbitMQ 3.10 answers a mandatory publish to a direct reply-to name
     * (amq.rabbitmq.reply-to.*) with basic.return even when it delivered the
     * reply, so the mandatory check only works for real queues.  A direct
     * reply whose requester has gone is dropped by the broker. */
    unsigned flags = relay_direct_reply(o) ? 0 : BROKER_PUBLISH_MANDATORY;
    const char *to = o->reply.reply_to, *body = o->reply.body;
    int rc = r->port.publish(r->port.ud, "", to, &p, body, strlen(body), flags);
    if (rc == BROKER_ECHANNEL) {
        /* the broker closed the channel while the reply was out (for its
         * consumer timeout, say) and it was reopened: whether the reply got
         * through is unknown, and a second copy is better than none
         * (replies carry their request_id) */
        log_msg(LOG_LVL_WARN, "publishing a reply: %s; sending it again", relay_why(r));
        rc = r->port.publish(r->port.ud, "", to, &p, body, strlen(body), flags);
    }
    if (rc == BROKER_ETOOBIG && o->kind == ENGINE_OUT_REPLY)
        return publish_too_large(r, o, flags);
    if (rc == BROKER_EUNROUTABLE && o->kind == ENGINE_OUT_PROGRESS)
        return 0; /* an interim message for nobody: nothing to keep */
    if (rc == BROKER_EUNROUTABLE)
        rc = keep_unroutable(r, o);
    else if (!relay_lost(rc))
        relay_reply_outcome(r, rc);
    return relay_lost(rc) ? rc : 0;
}

/* Events are not persistent: they are a live feed for whoever is bound
 * at the moment.  Failures other than a lost connection drop the event. */
int relay_publish_event(const relay *r, const char *key, const char *body)
{
    broker_props p = relay_event_props(r);
    int rc = r->port.publish(r->port.ud, r->names.events, key, &p, body, strlen(body), 0);
    if (relay_lost(rc))
        return rc;
    if (rc != 0)
        relay_event_dropped(r, key, rc);
    return 0;
}

void relay_node_event(const relay *r, const char *node, const char *state)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *ev = proto_event_node(node, state, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    char key[320];
    proto_event_key(ev, key, sizeof key);
    char *body = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (body)
        relay_publish_event(r, key, body);
    free(body);
    json_decref(ev);
}

int relay_dead_letter(const relay *r, const engine_out *o)
{
    const char *reason = o->reply.reason ? o->reply.reason : "rejected";
    char code[48];
    int rc = r->port.dead_letter(r->port.ud, o->reply.dl, reason);
    if (rc == 0) {
        metrics_dd_reason(reason, code, sizeof code);
        count_dead(r, code);
    }
    return rc;
}
