/*
 * publish.c -- publishing with publisher confirms (one publish in flight),
 * dead-lettering a delivery with its reason, and request/reply over direct
 * reply-to.  See the DESIGN note in broker.c.
 */
#include <amqp.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "broker_internal.h"
#include "text.h"

/* Closes the main channel from our side.  Used after a confirm timeout:
 * confirms and returns carry no trace of the publish they belong to beyond
 * the channel's sequence, so a late one must not meet the next publish.
 * The channel's unacked deliveries go back to their queues (new
 * generation); brk_maintain() opens the next channel. */
static int retire_main(broker *b)
{
    amqp_channel_t old = b->ch;
    int rc;
    if (!b->up || !old)
        return 0;
    rc = brk_rpc_check(b, amqp_channel_close(b->conn, old, AMQP_REPLY_SUCCESS), old,
                       "closing the channel after a confirm timeout");
    if (rc == BROKER_ECONNLOST || rc == BROKER_EPROTO)
        return rc;
    b->ch = 0;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    brk_dq_drop_acked(b);
    return brk_maintain(b);
}

/* No confirm came within conf.confirm_timeout_ms for what (outcome: "outcome
 * unknown" or its plural): the channel is retired, as its late confirms
 * could no longer be matched, and a new one opened.  BROKER_ETIMEOUT with
 * why, or the reopen's error. */
static int confirm_timed_out(broker *b, const char *what, const char *outcome)
{
    int blocked = b->blocked;
    int rc = retire_main(b);
    if (rc < 0)
        return rc;
    brk_set_err(b, "%s: no confirm from the broker within %d ms%s (%s; the channel was reopened)",
                what, b->conf.confirm_timeout_ms,
                blocked ? "; the broker has blocked publishers (resource alarm)" : "", outcome);
    return BROKER_ETIMEOUT;
}

/* Waits for the confirm of publish b->wait_seq.  0 once acked. */
static int wait_confirm(broker *b, const char *what)
{
    int64_t deadline = brk_deadline_after(b->conf.confirm_timeout_ms);
    int rc;

    while (b->wait_state == CONFIRM_PENDING) {
        rc = brk_pump(b, deadline);
        if (rc < 0) {
            b->wait_seq = 0;
            b->wait_state = CONFIRM_NONE;
            if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN) {
                char keep[BROKER_ERRMAX];
                snprintf(keep, sizeof keep, "%s", b->err);
                brk_set_err(b, "%s: outcome unknown: %s", what, keep);
            }
            return rc;
        }
        if (rc == 0 && b->wait_state == CONFIRM_PENDING) {
            b->wait_seq = 0;
            b->wait_state = CONFIRM_NONE;
            return confirm_timed_out(b, what, "outcome unknown");
        }
    }
    rc = b->wait_state;
    b->wait_state = CONFIRM_NONE;
    b->wait_seq = 0;
    if (rc == CONFIRM_NACKED) {
        brk_set_err(b, "%s: the broker refused the message (basic.nack)", what);
        return BROKER_ENACKED;
    }
    if (b->wait_returned) {
        brk_set_err(b, "%s: unroutable, no queue took it: %s", what, b->wait_return);
        return BROKER_EUNROUTABLE;
    }
    return 0;
}

/* Copies the headers of props into a new array in *hdr and points p at it.
 * The array borrows the strings; the caller frees it after the publish.
 * Returns 0, or BROKER_ENOMEM / BROKER_EINVAL (a header without key or
 * value) with the reason in b->err and nothing to free. */
static int build_headers(broker *b, const broker_props *props, amqp_basic_properties_t *p,
                         amqp_table_entry_t **hdr)
{
    *hdr = calloc(props->n_headers, sizeof **hdr);
    if (!*hdr) {
        brk_set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    for (size_t i = 0; i < props->n_headers; i++) {
        if (!props->headers[i].key || !props->headers[i].value) {
            free(*hdr);
            *hdr = NULL;
            brk_set_err(b, "header %zu has no key or value", i);
            return BROKER_EINVAL;
        }
        (*hdr)[i] = brk_entry_str(props->headers[i].key, props->headers[i].value);
    }
    p->_flags |= AMQP_BASIC_HEADERS_FLAG;
    p->headers.num_entries = (int)props->n_headers;
    p->headers.entries = *hdr;
    return 0;
}

/* The AMQP basic properties in p for props (NULL: none), borrowing the
 * caller's strings; the headers array goes to *hdr (NULL when there are
 * none; the caller frees it).  Fails as build_headers(). */
static int build_props(broker *b, const broker_props *props, amqp_basic_properties_t *p,
                       amqp_table_entry_t **hdr)
{
    memset(p, 0, sizeof *p);
    *hdr = NULL;
    if (!props)
        return 0;
    if (props->content_type) {
        p->_flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
        p->content_type = amqp_cstring_bytes(props->content_type);
    }
    if (props->correlation_id) {
        p->_flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p->correlation_id = amqp_cstring_bytes(props->correlation_id);
    }
    if (props->message_id) {
        p->_flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p->message_id = amqp_cstring_bytes(props->message_id);
    }
    if (props->reply_to) {
        p->_flags |= AMQP_BASIC_REPLY_TO_FLAG;
        p->reply_to = amqp_cstring_bytes(props->reply_to);
    }
    if (props->expiration) {
        p->_flags |= AMQP_BASIC_EXPIRATION_FLAG;
        p->expiration = amqp_cstring_bytes(props->expiration);
    }
    if (props->type) {
        p->_flags |= AMQP_BASIC_TYPE_FLAG;
        p->type = amqp_cstring_bytes(props->type);
    }
    if (props->user_id) {
        p->_flags |= AMQP_BASIC_USER_ID_FLAG;
        p->user_id = amqp_cstring_bytes(props->user_id);
    }
    if (props->persistent) {
        p->_flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
        p->delivery_mode = AMQP_DELIVERY_PERSISTENT;
    }
    if (props->n_headers)
        return build_headers(b, props, p, hdr);
    return 0;
}

/* Sends the publish with the next confirm sequence number, which becomes
 * the one awaited (b->wait_seq); p and body are borrowed for the call
 * only.  0, or BROKER_ECONNLOST with the reason in b->err. */
static int send_publish(broker *b, const char *exchange, const char *routing_key,
                        const amqp_basic_properties_t *p, const void *body, size_t len,
                        unsigned flags, const char *what)
{
    amqp_bytes_t bb;
    int st;

    bb.len = len;
    bb.bytes = (void *)body;
    b->wait_seq = ++b->pub_seq;
    b->wait_state = CONFIRM_PENDING;
    b->wait_returned = 0;
    st = amqp_basic_publish(b->conn, b->ch, amqp_cstring_bytes(exchange),
                            amqp_cstring_bytes(routing_key),
                            (flags & BROKER_PUBLISH_MANDATORY) != 0, 0, p, bb);
    if (st != AMQP_STATUS_OK)
        return brk_lib_failed(b, what, st);
    return 0;
}

/* wait_confirm() for the publish just sent; when the broker closed the
 * main channel over it, reopens the channel and reports the publish's
 * error (or the reopen's, should that fail). */
static int confirm_publish(broker *b, const char *what)
{
    int rc = wait_confirm(b, what);
    if (rc < 0 && b->up && !b->ch) {
        /* the broker closed the channel over this publish (e.g. no such
         * exchange): reopen it, report the publish's error */
        char keep[BROKER_ERRMAX];
        snprintf(keep, sizeof keep, "%s", b->err);
        /* RabbitMQ's words for a message over its max_message_size */
        if (b->close_code == AMQP_PRECONDITION_FAILED && strstr(keep, "is larger than") &&
            strstr(keep, "max size "))
            rc = BROKER_ETOOBIG;
        int r2 = brk_maintain(b);
        if (r2 < 0)
            rc = r2;
        else
            brk_set_err(b, "%s: %s", what, keep);
    }
    return rc;
}

/* What broker_publish() and broker_publish_batched() refuse before
 * anything goes out (b and routing_key given, exchange not NULL).
 * BROKER_EINVAL or BROKER_ENOTCONN with why, else 0. */
static int publish_refused(broker *b, const char *exchange, const char *routing_key,
                           const broker_props *props)
{
    if (strlen(exchange) > MAX_NAME || strlen(routing_key) > MAX_NAME) {
        brk_set_err(b, "exchange or routing key longer than %d bytes", MAX_NAME);
        return BROKER_EINVAL;
    }
    if (props && props->n_headers > BROKER_MAX_HEADERS) {
        brk_set_err(b, "more than %d headers", BROKER_MAX_HEADERS);
        return BROKER_EINVAL;
    }
    if (!b->up) {
        brk_set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    return 0;
}

/* Builds the properties (borrowing the caller's strings), publishes with
 * the next confirm sequence number and waits for its confirm. */
int broker_publish(broker *b, const char *exchange, const char *routing_key,
                   const broker_props *props, const void *body, size_t len, unsigned flags)
{
    amqp_basic_properties_t p;
    amqp_table_entry_t *hdr = NULL;
    char what[2 * MAX_NAME + 64];
    int rc;

    if (!b || !routing_key || (len && !body))
        return BROKER_EINVAL;
    if (!exchange)
        exchange = "";
    if ((rc = publish_refused(b, exchange, routing_key, props)) < 0)
        return rc;
    if ((rc = brk_maintain(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "publishing to exchange '%s' with routing key '%s'", exchange,
             routing_key);

    if ((rc = build_props(b, props, &p, &hdr)) < 0)
        return rc;
    rc = send_publish(b, exchange, routing_key, &p, body, len, flags, what);
    free(hdr);
    if (rc < 0)
        return rc;
    return confirm_publish(b, what);
}

int broker_publish_batched(broker *b, const char *exchange, const char *routing_key,
                           const broker_props *props, const void *body, size_t len, size_t *slot)
{
    amqp_basic_properties_t p;
    amqp_table_entry_t *hdr = NULL;
    int rc;

    if (!b || !routing_key || !slot || (len && !body))
        return BROKER_EINVAL;
    if (!exchange)
        exchange = "";
    if ((rc = publish_refused(b, exchange, routing_key, props)) < 0)
        return rc;
    if (b->batch_n == BROKER_BATCH_MAX) {
        brk_set_err(b, "a batch holds at most %d publishes", BROKER_BATCH_MAX);
        return BROKER_ETOOBIG;
    }
    if (b->batch_n == 0 && (rc = brk_maintain(b)) < 0)
        return rc;
    if ((rc = build_props(b, props, &p, &hdr)) < 0)
        return rc;
    amqp_bytes_t bb = {.len = len, .bytes = (void *)body};
    uint64_t seq = ++b->pub_seq;
    if (b->batch_n == 0)
        b->batch_first = seq;
    b->batch_state[b->batch_n] = CONFIRM_PENDING;
    int st = amqp_basic_publish(b->conn, b->ch, amqp_cstring_bytes(exchange),
                                amqp_cstring_bytes(routing_key), 0, 0, &p, bb);
    free(hdr);
    if (st != AMQP_STATUS_OK) {
        b->batch_n = 0;
        return brk_lib_failed(b, "publishing a batch", st);
    }
    *slot = b->batch_n++;
    return 0;
}

int broker_confirm_batch(broker *b, int *out, size_t n)
{
    if (!b || (n && !out))
        return BROKER_EINVAL;
    if (n != b->batch_n) {
        brk_set_err(b, "the batch holds %zu publishes, not %zu (a reconnect voided it)", b->batch_n,
                    n);
        b->batch_n = 0;
        return b->up ? BROKER_EINVAL : BROKER_ENOTCONN;
    }
    int64_t deadline = brk_deadline_after(b->conf.confirm_timeout_ms);
    for (;;) {
        size_t open = 0;
        for (size_t i = 0; i < b->batch_n; i++)
            open += b->batch_state[i] == CONFIRM_PENDING;
        if (open == 0)
            break;
        int rc = brk_pump(b, deadline);
        if (rc >= 0 && b->batch_n != n) /* the channel went away meanwhile */
            rc = b->up ? BROKER_ECHANNEL : BROKER_ECONNLOST;
        if (rc < 0) {
            b->batch_n = 0;
            if (b->up && !b->ch) {
                /* the broker closed the channel over one of them (e.g. no
                 * such exchange): a new one for what follows */
                int r2 = brk_maintain(b);
                return r2 < 0 ? r2 : BROKER_ECHANNEL;
            }
            return rc;
        }
        if (rc == 0) {
            b->batch_n = 0;
            char what[64];
            snprintf(what, sizeof what, "publishing a batch of %zu", n);
            return confirm_timed_out(b, what, "outcomes unknown");
        }
    }
    for (size_t i = 0; i < n; i++)
        out[i] = b->batch_state[i] == CONFIRM_ACKED ? 0 : BROKER_ENACKED;
    b->batch_n = 0;
    return 0;
}

/* Copy, confirm, then ack; on any failure of the copy, nack with requeue. */
int broker_dead_letter(broker *b, const broker_delivery *d, const char *reason)
{
    broker_header h[5];
    broker_props p;
    size_t n = 0;
    char rsn[MAX_REASON + 1];
    int rc;

    if (!b || !d || !reason)
        return BROKER_EINVAL;
    if ((d->source != BROKER_SRC_WORK && d->source != BROKER_SRC_NODE) || d->tag == 0) {
        brk_set_err(b,
                    "only an unsettled delivery from the work or node queue can be dead-lettered");
        return BROKER_EINVAL;
    }
    if (!b->up || !b->ch || (uint32_t)(d->tag >> TAG_BITS) != (b->generation & GEN_MASK)) {
        brk_set_err(b,
                    "delivery belongs to an earlier connection: not dead-lettered (the broker has "
                    "requeued it)");
        return BROKER_ESTALE;
    }
    snprintf(rsn, sizeof rsn, "%s", reason);
    h[n++] = (broker_header){"x-dd-reason", rsn};
    h[n++] = (broker_header){"x-dd-original-exchange", d->exchange ? d->exchange : ""};
    h[n++] = (broker_header){"x-dd-original-routing-key", d->routing_key ? d->routing_key : ""};
    if (d->reply_to)
        h[n++] = (broker_header){"x-dd-original-reply-to", d->reply_to};
    if (b->conf.node)
        h[n++] = (broker_header){"x-dd-node", b->conf.node};
    memset(&p, 0, sizeof p);
    p.content_type = d->content_type;
    p.message_id = d->message_id;
    p.correlation_id = d->correlation_id;
    p.type = d->type;
    p.persistent = 1;
    p.headers = h;
    p.n_headers = n;

    rc = broker_publish(b, "", b->n_dead, &p, d->body, d->len, BROKER_PUBLISH_MANDATORY);
    if (rc == 0)
        return broker_ack(b, d->tag);

    char keep[BROKER_ERRMAX];
    snprintf(keep, sizeof keep, "%s", b->err);
    int r2 = broker_nack(b, d->tag, 1);
    brk_set_err(b, "dead-lettering to '%s' failed, message %s: %s", b->n_dead,
                r2 == 0 ? "requeued" : "left to the broker (it requeues it)", keep);
    return rc;
}

/* Publish with direct reply-to, then brk_pump until the matching reply. */
int broker_call(broker *b, const char *exchange, const char *routing_key, const broker_props *props,
                const void *body, size_t len, int timeout_ms, broker_delivery *reply)
{
    broker_props p;
    char corr[64];
    int64_t deadline;
    int rc;

    if (!b || !reply)
        return BROKER_EINVAL;
    brk_delivery_init(reply);
    if ((rc = broker_rpc_begin(b)) < 0)
        return rc;
    if (props)
        p = *props;
    else
        memset(&p, 0, sizeof p);
    if (!p.correlation_id) {
        snprintf(corr, sizeof corr, "dd-%lx-%lu-%016" PRIx64, (unsigned long)getpid(),
                 ++b->corr_seq, brk_rng_next(b));
        p.correlation_id = corr;
    }
    p.reply_to = BROKER_REPLY_TO;
    rc = broker_publish(b, exchange, routing_key, &p, body, len, BROKER_PUBLISH_MANDATORY);
    if (rc < 0)
        return rc;
    deadline = brk_deadline_after(timeout_ms);
    for (;;) {
        for (size_t i = 0; i < b->dq_len;) {
            broker_delivery *d = &b->dq[i];
            if (d->source != BROKER_SRC_REPLY) {
                i++;
                continue;
            }
            if (d->correlation_id && strcmp(d->correlation_id, p.correlation_id) == 0) {
                brk_dq_take(b, i, reply);
                return 0;
            }
            broker_delivery late; /* answer to an earlier call that gave up */
            brk_dq_take(b, i, &late);
            broker_delivery_cleanup(&late);
        }
        if (deadline >= 0 && brk_now_ms() >= deadline) {
            brk_set_err(b, "no reply within %d ms (correlation id %s)", timeout_ms,
                        p.correlation_id);
            return BROKER_ETIMEOUT;
        }
        rc = brk_pump(b, deadline);
        if (rc < 0) {
            if (b->up && !b->ch) {
                char keep[BROKER_ERRMAX];
                snprintf(keep, sizeof keep, "%s", b->err);
                int r2 = brk_maintain(b);
                if (r2 < 0)
                    return r2;
                brk_set_err(b, "waiting for the reply: %s", keep);
                return BROKER_ECHANNEL;
            }
            return rc;
        }
        if (b->resubscribe && (rc = brk_maintain(b)) < 0)
            return rc;
    }
}
