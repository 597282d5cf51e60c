/*
 * frames.c -- the frame pump: every frame read on the connection and what
 * it means (deliveries, confirms, returns, cancels, closes); broker_poll,
 * ack and nack.  See the DESIGN note in broker.c.
 */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "broker_internal.h"
#include "text.h"

static int wait_socket_or_wake(broker *b, int64_t deadline);

void broker_delivery_cleanup(broker_delivery *d)
{
    if (!d)
        return;
    free(d->consumer_tag);
    free(d->exchange);
    free(d->routing_key);
    free(d->content_type);
    free(d->correlation_id);
    free(d->message_id);
    free(d->reply_to);
    free(d->user_id);
    free(d->type);
    free(d->body);
    for (size_t i = 0; i < d->n_headers; i++) {
        free((void *)d->headers[i].key);
        free((void *)d->headers[i].value);
    }
    free(d->headers);
    memset(d, 0, sizeof *d);
    d->delivery_count = -1;
    d->death_count = -1;
}

const char *broker_delivery_header(const broker_delivery *d, const char *key)
{
    if (!d || !key)
        return NULL;
    for (size_t i = 0; i < d->n_headers; i++)
        if (d->headers[i].key && strcmp(d->headers[i].key, key) == 0)
            return d->headers[i].value;
    return NULL;
}

void brk_delivery_init(broker_delivery *d)
{
    memset(d, 0, sizeof *d);
    d->delivery_count = -1;
    d->death_count = -1;
}

/* The integer in an AMQP field value, if it holds one. */
static int field_int(const amqp_field_value_t *v, long long *out)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8:
        *out = v->value.i8;
        return 1;
    case AMQP_FIELD_KIND_U8:
        *out = v->value.u8;
        return 1;
    case AMQP_FIELD_KIND_I16:
        *out = v->value.i16;
        return 1;
    case AMQP_FIELD_KIND_U16:
        *out = v->value.u16;
        return 1;
    case AMQP_FIELD_KIND_I32:
        *out = v->value.i32;
        return 1;
    case AMQP_FIELD_KIND_U32:
        *out = v->value.u32;
        return 1;
    case AMQP_FIELD_KIND_I64:
        *out = v->value.i64;
        return 1;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        *out = (long long)v->value.u64;
        return 1;
    default:
        return 0;
    }
}

static int bytes_is(amqp_bytes_t b, const char *s)
{
    size_t n = strlen(s);
    return b.len == n && (n == 0 || memcmp(b.bytes, s, n) == 0);
}

/* The text of header value v, new: a string (no NUL byte inside, at most
 * BROKER_MAX_HEADER_VALUE bytes) as it is, an integer in decimal, a boolean
 * as "true"/"false", a float by %g.  NULL for a value not carried as it
 * came (a longer string, one with a NUL byte, a table, an array, a
 * decimal, void), with *oom set when memory ran out instead. */
static char *header_text(const amqp_field_value_t *v, int *oom)
{
    char num[64];
    long long iv;
    switch (v->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        if (v->value.bytes.len > BROKER_MAX_HEADER_VALUE ||
            (v->value.bytes.len && memchr(v->value.bytes.bytes, 0, v->value.bytes.len)))
            return NULL;
        return brk_dupbytes(v->value.bytes, BROKER_MAX_HEADER_VALUE, oom);
    case AMQP_FIELD_KIND_BOOLEAN:
        snprintf(num, sizeof num, "%s", v->value.boolean ? "true" : "false");
        break;
    case AMQP_FIELD_KIND_F32:
    case AMQP_FIELD_KIND_F64:
        snprintf(num, sizeof num, "%g",
                 v->kind == AMQP_FIELD_KIND_F32 ? (double)v->value.f32 : v->value.f64);
        break;
    default:
        if (!field_int(v, &iv))
            return NULL;
        snprintf(num, sizeof num, "%lld", iv);
        break;
    }
    char *s = strdup(num);
    *oom = s == NULL;
    return s;
}

/* Picks the broker's own counts out of header e: x-delivery-count and the
 * newest x-death count. */
static void header_counts(broker_delivery *d, const amqp_table_entry_t *e)
{
    long long iv;
    if (bytes_is(e->key, "x-delivery-count") && field_int(&e->value, &iv))
        d->delivery_count = (long)iv;
    if (bytes_is(e->key, "x-death") && e->value.kind == AMQP_FIELD_KIND_ARRAY &&
        e->value.value.array.num_entries > 0 &&
        e->value.value.array.entries[0].kind == AMQP_FIELD_KIND_TABLE) {
        const amqp_table_t *x = &e->value.value.array.entries[0].value.table;
        for (int j = 0; j < x->num_entries; j++)
            if (bytes_is(x->entries[j].key, "count") && field_int(&x->entries[j].value, &iv))
                d->death_count = (long)iv;
    }
}

/* Copies the headers of a received message into d: the first
 * BROKER_MAX_HEADERS; the rest are counted in d->headers_over.  Each keeps
 * its key and the text of its value (header_text).  The value is NULL when
 * the key holds a NUL byte or the value is not carried as it came.
 * BROKER_ENOMEM on allocation failure (d keeps what it has; cleanup frees
 * it). */
static int copy_headers(broker_delivery *d, const amqp_table_t *t)
{
    int oom = 0;
    if (t->num_entries <= 0)
        return 0;
    size_t n = (size_t)t->num_entries;
    if (n > BROKER_MAX_HEADERS)
        n = BROKER_MAX_HEADERS;
    d->headers = calloc(n, sizeof *d->headers);
    if (!d->headers)
        return BROKER_ENOMEM;
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        header_counts(d, e);
        if (d->n_headers >= n) {
            d->headers_over++;
            continue;
        }
        char *val = header_text(&e->value, &oom);
        char *key = oom ? NULL : brk_dupbytes(e->key, MAX_NAME, &oom);
        if (oom) {
            free(val);
            return BROKER_ENOMEM;
        }
        if (e->key.len && memchr(e->key.bytes, 0, e->key.len)) {
            free(val);
            val = NULL;
        }
        d->headers[d->n_headers].key = key;
        d->headers[d->n_headers].value = val;
        d->n_headers++;
    }
    return 0;
}

/* Copies property v into *dst; a NUL byte inside (where the copy ends)
 * makes it d->bad_property, unless an earlier one is. */
static void copy_prop(broker_delivery *d, char **dst, amqp_bytes_t v, const char *name, int *oom)
{
    *dst = brk_dupbytes(v, MAX_NAME, oom);
    if (v.len && memchr(v.bytes, 0, v.len) && d->bad_property == NULL)
        d->bad_property = name;
}

int brk_copy_props(broker_delivery *d, const amqp_basic_properties_t *p)
{
    int oom = 0;
    if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        copy_prop(d, &d->content_type, p->content_type, "content_type", &oom);
    if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        copy_prop(d, &d->correlation_id, p->correlation_id, "correlation_id", &oom);
    if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        copy_prop(d, &d->message_id, p->message_id, "message_id", &oom);
    if (p->_flags & AMQP_BASIC_REPLY_TO_FLAG)
        copy_prop(d, &d->reply_to, p->reply_to, "reply_to", &oom);
    if (p->_flags & AMQP_BASIC_TYPE_FLAG)
        copy_prop(d, &d->type, p->type, "type", &oom);
    if (p->_flags & AMQP_BASIC_USER_ID_FLAG)
        copy_prop(d, &d->user_id, p->user_id, "user_id", &oom);
    if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        d->persistent = p->delivery_mode == AMQP_DELIVERY_PERSISTENT;
    if (oom)
        return BROKER_ENOMEM;
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
        return copy_headers(d, &p->headers);
    return 0;
}

/* Removes item i from the internal delivery queue into *out (moved). */
void brk_dq_take(broker *b, size_t i, broker_delivery *out)
{
    *out = b->dq[i];
    memmove(&b->dq[i], &b->dq[i + 1], (b->dq_len - i - 1) * sizeof *b->dq);
    b->dq_len--;
}

/* Drops queued deliveries that need an ack: after a connection or channel
 * loss the broker has requeued them, and their tags are dead.  Replies
 * (no-ack, already gone from the broker) stay. */
void brk_dq_drop_acked(broker *b)
{
    size_t o = 0;
    for (size_t i = 0; i < b->dq_len; i++) {
        if (b->dq[i].tag != 0 && b->dq[i].source != BROKER_SRC_REPLY &&
            b->dq[i].source != BROKER_SRC_EVENT)
            broker_delivery_cleanup(&b->dq[i]);
        else
            b->dq[o++] = b->dq[i];
    }
    b->dq_len = o;
}

static int pend_has(const broker *b, amqp_channel_t ch)
{
    for (size_t i = 0; i < b->pend_len; i++)
        if (b->pend[i].channel == ch)
            return 1;
    return 0;
}

/* Recycles channel ch's frame memory unless a set-aside frame needs it. */
void brk_release_channel(broker *b, amqp_channel_t ch)
{
    if (b->conn && !pend_has(b, ch))
        amqp_maybe_release_buffers_on_channel(b->conn, ch);
}

/* Sets frame f aside for brk_pump().  BROKER_ETOOBIG (connection dropped) when
 * the cap is hit. */
static int pend_push(broker *b, const amqp_frame_t *f)
{
    if (b->pend_len == b->pend_cap) {
        size_t ncap = b->pend_cap ? b->pend_cap * 2 : 64;
        if (ncap > MAX_PENDING_FRAMES) {
            brk_set_err(b, "more than %d frames arrived while reading one message",
                        MAX_PENDING_FRAMES);
            brk_conn_lost(b);
            return BROKER_ETOOBIG;
        }
        amqp_frame_t *n = realloc(b->pend, ncap * sizeof *n);
        if (!n) {
            brk_set_err(b, "out of memory");
            brk_conn_lost(b);
            return BROKER_ENOMEM;
        }
        b->pend = n;
        b->pend_cap = ncap;
    }
    b->pend[b->pend_len++] = *f;
    return 0;
}

/* One amqp_simple_wait_frame_noblock() with timeout tvp (NULL: none).
 * Returns 1 with *f, 0 on timeout, BROKER_ECONNLOST on failure. */
static int lib_frame(broker *b, amqp_frame_t *f, struct timeval *tvp)
{
    int64_t away = brk_now_ms() - b->last_wait;
    int st = amqp_simple_wait_frame_noblock(b->conn, f, tvp);
    b->last_wait = brk_now_ms();
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    if (st != AMQP_STATUS_OK) {
        char what[384];
        if (b->conf.heartbeat > 0 && away > (int64_t)b->conf.heartbeat * 500)
            snprintf(what, sizeof what,
                     "connection to %s broke after %lld ms without a call into the broker "
                     "module (heartbeats need one every %d ms)",
                     b->redacted, (long long)away, b->conf.heartbeat * 500);
        else
            snprintf(what, sizeof what, "connection to %s broke", b->redacted);
        return brk_lib_failed(b, what, st);
    }
    return 1;
}

/* Takes the next frame: set-aside frames first, then the library's (its
 * queue, then the socket).  deadline in brk_now_ms() time, -1 for none.  With
 * wakeable, the wake fd (broker_set_wake_fd) ends the wait too.  Returns 1
 * with *f, 0 on timeout or wake-up, BROKER_ECONNLOST on failure. */
static int next_frame_ex(broker *b, amqp_frame_t *f, int64_t deadline, int wakeable)
{
    if (b->pend_len) {
        *f = b->pend[0];
        memmove(&b->pend[0], &b->pend[1], (b->pend_len - 1) * sizeof *b->pend);
        b->pend_len--;
        return 1;
    }
    struct timeval tv = {0, 0};
    if (wakeable && b->wake_fd >= 0) {
        /* The library is entered without waiting, for what poll() saw or
         * what it holds already.  Waiting inside it would be deaf to the
         * wake fd.  It also waits on after a heartbeat frame (which it takes
         * itself), so an outbox item queued meanwhile (a reply) would sit
         * there until the deadline: up to a minute in the daemon's main
         * loop.  After a heartbeat or part of a frame, back to poll() until
         * the deadline. */
        for (;;) {
            int w = 1;
            if (!amqp_frames_enqueued(b->conn) && !amqp_data_in_buffer(b->conn)) {
                w = wait_socket_or_wake(b, deadline);
                if (w < 0)
                    return 0; /* woken: the caller has other work */
            }
            /* w == 0: nothing arrived; the call sends a heartbeat that is due */
            tv.tv_sec = 0;
            tv.tv_usec = 0;
            int rc = lib_frame(b, f, &tv);
            if (rc != 0 || w == 0 || (deadline >= 0 && brk_now_ms() >= deadline))
                return rc;
        }
    }
    struct timeval *tvp = NULL;
    if (deadline >= 0) {
        int64_t left = deadline - brk_now_ms();
        if (left < 0)
            left = 0;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        tvp = &tv;
    }
    return lib_frame(b, f, tvp);
}

static int next_frame(broker *b, amqp_frame_t *f, int64_t deadline)
{
    return next_frame_ex(b, f, deadline, 0);
}

/* Blocks in poll() until the AMQP socket is readable (1), the wake fd is
 * (-1; drained here), or the deadline or half the heartbeat interval has
 * passed (0): the library must be entered that often to keep heartbeats
 * going.  Why by hand: rabbitmq-c waits on its own socket only, and the
 * main loop must also wake for the engine's outbox and for signals. */
static int wait_socket_or_wake(broker *b, int64_t deadline)
{
    struct pollfd pf[2] = {{.fd = amqp_get_sockfd(b->conn), .events = POLLIN},
                           {.fd = b->wake_fd, .events = POLLIN}};
    int64_t cap = b->conf.heartbeat > 0 ? (int64_t)b->conf.heartbeat * 500 : 60000;
    int64_t left = deadline >= 0 ? deadline - brk_now_ms() : cap;
    if (left < 0)
        left = 0;
    if (left > cap)
        left = cap;
    int n = poll(pf, 2, (int)left);
    if (n > 0 && (pf[1].revents & POLLIN)) {
        char buf[64];
        while (read(b->wake_fd, buf, sizeof buf) > 0)
            ;
        return -1;
    }
    if (n < 0 && errno == EINTR)
        return -1; /* a signal: let the caller look at its flags */
    return n > 0 ? 1 : 0;
}

/* A frame on channel 0 (connection.close, blocked, unblocked). */
static int handle_ch0(broker *b, const amqp_frame_t *f)
{
    if (f->frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f->payload.method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD:
        return brk_on_connection_close(b, b->redacted, f->payload.method.decoded);
    case AMQP_CONNECTION_BLOCKED_METHOD:
        b->blocked = 1;
        return 0;
    case AMQP_CONNECTION_UNBLOCKED_METHOD:
        b->blocked = 0;
        return 0;
    default:
        return 0;
    }
}

/* The content header of a message into d: its properties, and room for
 * its body when *keep_body and it is at most conf.max_body (else
 * d->oversize and *keep_body cleared).  0 or a negative error. */
static int take_header(broker *b, const amqp_frame_t *f, broker_delivery *d, int *keep_body)
{
    if (f->frame_type != AMQP_FRAME_HEADER) {
        brk_set_err(b, "broker sent frame type %d where a content header belongs", f->frame_type);
        brk_conn_lost(b);
        return BROKER_EPROTO;
    }
    d->body_size = f->payload.properties.body_size;
    int rc = brk_copy_props(d, f->payload.properties.decoded);
    if (rc < 0) {
        brk_set_err(b, "out of memory copying message properties");
        return rc;
    }
    if (d->body_size > b->conf.max_body) {
        d->oversize = 1;
        *keep_body = 0;
    }
    if (*keep_body) {
        d->body = malloc((size_t)d->body_size + 1);
        if (!d->body) {
            brk_set_err(b, "out of memory for a %" PRIu64 "-byte message", d->body_size);
            return BROKER_ENOMEM;
        }
        d->body[0] = '\0';
    }
    return 0;
}

/* One body frame of a message into d (kept when keep_body); *got counts
 * the bytes so far.  0 or BROKER_EPROTO (connection dropped). */
static int take_body(broker *b, const amqp_frame_t *f, broker_delivery *d, int keep_body,
                     uint64_t *got)
{
    if (f->frame_type != AMQP_FRAME_BODY) {
        brk_set_err(b, "broker sent frame type %d inside a message body", f->frame_type);
        brk_conn_lost(b);
        return BROKER_EPROTO;
    }
    size_t n = f->payload.body_fragment.len;
    if (n > d->body_size - *got) {
        brk_set_err(b, "broker sent more body than announced");
        brk_conn_lost(b);
        return BROKER_EPROTO;
    }
    if (keep_body && n)
        memcpy(d->body + *got, f->payload.body_fragment.bytes, n);
    *got += n;
    return 0;
}

/* Reads the content (header + body frames) that follows a deliver, get-ok
 * or return on channel ch into d: properties always, the body only when
 * keep_body and it is at most conf.max_body (else d->oversize when over the
 * cap).  Frames of other channels met meanwhile are set aside; a
 * connection.close or channel.close aborts the read.  Returns 0 or a
 * negative error (the connection or channel state is updated). */
int brk_read_content(broker *b, amqp_channel_t ch, broker_delivery *d, int keep_body)
{
    int64_t deadline = brk_deadline_after(b->conf.rpc_timeout_ms);
    amqp_frame_t f;
    uint64_t got = 0;
    int have_header = 0, rc;

    for (;;) {
        rc = next_frame(b, &f, deadline);
        if (rc == 0) {
            brk_set_err(b, "timed out reading a message's content from the broker");
            brk_conn_lost(b);
            return BROKER_ECONNLOST;
        }
        if (rc < 0)
            return rc;
        if (f.channel == 0) {
            rc = handle_ch0(b, &f);
            if (rc < 0)
                return rc;
            continue;
        }
        if (f.channel != ch) {
            rc = pend_push(b, &f);
            if (rc < 0)
                return rc;
            continue;
        }
        if (f.frame_type == AMQP_FRAME_METHOD) {
            if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)
                return brk_on_channel_close(b, ch, "reading a message", f.payload.method.decoded);
            brk_set_err(b, "broker sent method 0x%08x in the middle of a message",
                        f.payload.method.id);
            brk_conn_lost(b);
            return BROKER_EPROTO;
        }
        if (!have_header) {
            rc = take_header(b, &f, d, &keep_body);
            have_header = 1;
        } else {
            rc = take_body(b, &f, d, keep_body, &got);
        }
        if (rc < 0)
            return rc;
        if (have_header && got == d->body_size)
            break;
    }
    if (d->body) {
        d->len = (size_t)got;
        d->body[d->len] = '\0';
    }
    return 0;
}

/* Queues a received delivery (moved from *d) for broker_poll().  Replies
 * and events (no-ack) are not bounded by the prefetch window.  A node that
 * asked many questions at once (a bulk request's pieces) gets as many
 * answers while it is still publishing.  So for them the queue grows, up
 * to BROKER_MAX_QUEUED.  When the queue is at its cap, an acked delivery
 * goes back to the broker (nack + requeue), and a reply or event is
 * dropped (and said so).  For acked deliveries the cap is only reached if
 * the broker ignored the prefetch window. */
static int dq_push(broker *b, broker_delivery *d)
{
    if (b->dq_len == b->dq_cap && d->tag == 0 && b->dq_cap < BROKER_MAX_QUEUED) {
        size_t cap = b->dq_cap * 2 < BROKER_MAX_QUEUED ? b->dq_cap * 2 : BROKER_MAX_QUEUED;
        broker_delivery *q = realloc(b->dq, cap * sizeof *q);
        if (q != NULL) {
            b->dq = q;
            b->dq_cap = cap;
        }
    }
    if (b->dq_len == b->dq_cap) {
        if (d->tag != 0 && b->ch)
            amqp_basic_nack(b->conn, b->ch, d->tag & TAG_MASK, 0, 1);
        else
            fprintf(stderr,
                    "broker: %zu deliveries wait to be polled: a reply or event is dropped\n",
                    b->dq_len);
        broker_delivery_cleanup(d);
        return 0;
    }
    b->dq[b->dq_len++] = *d;
    brk_delivery_init(d);
    return 0;
}

/* Which of our consumers a consumer tag names. */
static broker_source source_of(amqp_bytes_t consumer_tag)
{
    if (bytes_is(consumer_tag, CT_NODE))
        return BROKER_SRC_NODE;
    if (bytes_is(consumer_tag, CT_REPLY))
        return BROKER_SRC_REPLY;
    if (bytes_is(consumer_tag, CT_WATCH))
        return BROKER_SRC_EVENT;
    return BROKER_SRC_WORK;
}

/* basic.deliver on the main channel: read it and queue it. */
static int on_deliver(broker *b, const amqp_basic_deliver_t *m)
{
    broker_delivery d;
    int oom = 0, rc;

    brk_delivery_init(&d);
    d.consumer_tag = brk_dupbytes(m->consumer_tag, MAX_NAME, &oom);
    d.exchange = brk_dupbytes(m->exchange, MAX_NAME, &oom);
    d.routing_key = brk_dupbytes(m->routing_key, MAX_NAME, &oom);
    d.delivery_tag = m->delivery_tag;
    d.redelivered = m->redelivered != 0;
    d.source = source_of(m->consumer_tag);
    d.generation = b->generation;
    if (oom) {
        /* still read the content, so that the stream stays in step */
        brk_read_content(b, b->ch, &d, 0);
        broker_delivery_cleanup(&d);
        brk_set_err(b, "out of memory receiving a message");
        return BROKER_ENOMEM;
    }
    rc = brk_read_content(b, b->ch, &d, 1);
    if (rc < 0) {
        broker_delivery_cleanup(&d);
        return rc;
    }
    if (d.source != BROKER_SRC_REPLY && d.source != BROKER_SRC_EVENT) {
        d.tag = brk_tag_encode(b, d.delivery_tag);
        if (d.oversize) {
            /* not read into memory: the queue dead-letters it as it is */
            amqp_basic_nack(b->conn, b->ch, d.delivery_tag, 0, 0);
            d.tag = 0;
        }
    }
    return dq_push(b, &d);
}

/* basic.ack / basic.nack for our publishes (confirm mode). */
static void on_confirm(broker *b, uint64_t tag, int multiple, int acked)
{
    for (size_t i = 0; i < b->batch_n; i++) {
        uint64_t seq = b->batch_first + i;
        if (b->batch_state[i] == CONFIRM_PENDING && (seq == tag || (multiple && seq <= tag)))
            b->batch_state[i] = acked ? CONFIRM_ACKED : CONFIRM_NACKED;
    }
    if (b->wait_state != CONFIRM_PENDING || b->wait_seq == 0)
        return;
    if (tag == b->wait_seq || (multiple && tag >= b->wait_seq))
        b->wait_state = acked ? CONFIRM_ACKED : CONFIRM_NACKED;
}

/* basic.return: a mandatory publish reached no queue.  The content follows
 * and is discarded. */
static int on_return(broker *b, const amqp_basic_return_t *m)
{
    broker_delivery d;
    char txt[128];
    int rc;
    brk_delivery_init(&d);
    rc = brk_read_content(b, b->ch, &d, 0);
    broker_delivery_cleanup(&d);
    if (rc < 0)
        return rc;
    if (b->wait_state == CONFIRM_PENDING) {
        b->wait_returned = 1;
        b->wait_return[0] = '\0';
        snprintf(b->wait_return, sizeof b->wait_return, "%u %s (exchange '", m->reply_code,
                 brk_server_text(b, m->reply_text, txt, sizeof txt));
        brk_append_escaped(b->wait_return, sizeof b->wait_return, m->exchange.bytes,
                           m->exchange.len);
        size_t o = strlen(b->wait_return);
        snprintf(b->wait_return + o, sizeof b->wait_return - o, "', routing key '");
        brk_append_escaped(b->wait_return, sizeof b->wait_return, m->routing_key.bytes,
                           m->routing_key.len);
        o = strlen(b->wait_return);
        snprintf(b->wait_return + o, sizeof b->wait_return - o, "')");
    }
    return 0;
}

/* basic.cancel from the broker (queue deleted, ...): the consumer is gone;
 * brk_maintain() subscribes again. */
static int on_cancel(broker *b, const amqp_basic_cancel_t *m)
{
    if (bytes_is(m->consumer_tag, CT_WORK))
        b->work_on = 0;
    else if (bytes_is(m->consumer_tag, CT_NODE))
        b->node_on = 0;
    else if (bytes_is(m->consumer_tag, CT_REPLY))
        b->reply_on = 0;
    else if (bytes_is(m->consumer_tag, CT_WATCH))
        b->watch_on = 0;
    else
        return 0;
    b->resubscribe = 1;
    if (!m->nowait) {
        amqp_basic_cancel_ok_t ok;
        ok.consumer_tag = m->consumer_tag;
        if (amqp_send_method(b->conn, b->ch, AMQP_BASIC_CANCEL_OK_METHOD, &ok) != AMQP_STATUS_OK)
            return brk_lib_failed(b, "answering basic.cancel", AMQP_STATUS_SOCKET_ERROR);
    }
    return 0;
}

/* A method frame on the main channel. */
static int handle_main(broker *b, const amqp_frame_t *f)
{
    void *m = f->payload.method.decoded;
    switch (f->payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD:
        return on_deliver(b, m);
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = m;
        on_confirm(b, a->delivery_tag, a->multiple, 1);
        return 0;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *n = m;
        on_confirm(b, n->delivery_tag, n->multiple, 0);
        return 0;
    }
    case AMQP_BASIC_RETURN_METHOD:
        return on_return(b, m);
    case AMQP_BASIC_CANCEL_METHOD:
        return on_cancel(b, m);
    case AMQP_CHANNEL_CLOSE_METHOD:
        return brk_on_channel_close(b, f->channel, "channel closed by the broker", m);
    case AMQP_CHANNEL_FLOW_METHOD: {
        amqp_channel_flow_ok_t ok;
        ok.active = ((const amqp_channel_flow_t *)m)->active;
        amqp_send_method(b->conn, f->channel, AMQP_CHANNEL_FLOW_OK_METHOD, &ok);
        return 0;
    }
    default:
        return 0;
    }
}

/* Takes one frame (waiting until deadline) and dispatches it.  Returns 1
 * when a frame was handled, 0 on timeout, or a negative error. */
int brk_pump(broker *b, int64_t deadline)
{
    amqp_frame_t f;
    int rc;

    if (!b->up)
        return BROKER_ENOTCONN;
    /* only here, between frames, may the wake fd end the wait */
    rc = next_frame_ex(b, &f, deadline, b->wake_armed);
    if (rc <= 0)
        return rc;
    amqp_channel_t ch = f.channel;
    if (ch == 0)
        rc = handle_ch0(b, &f);
    else if (f.frame_type != AMQP_FRAME_METHOD)
        rc = 0; /* content of something already abandoned */
    else if (ch == b->ch)
        rc = handle_main(b, &f);
    else if (ch == b->side && f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD)
        rc = brk_on_channel_close(b, ch, "side channel closed by the broker",
                                  f.payload.method.decoded);
    else
        rc = 0; /* a channel we no longer use */
    if (b->up)
        brk_release_channel(b, ch);
    return rc < 0 ? rc : 1;
}

/* Queued deliveries first; then frames until a delivery is queued or the
 * deadline passes.  Channel losses are repaired before returning. */
/* broker_poll() without the argument check; wake_armed is set. */
static int poll_once(broker *b, int timeout_ms, broker_delivery *out)
{
    int64_t deadline;
    int rc;

    brk_delivery_init(out);
    if (b->dq_len) {
        brk_dq_take(b, 0, out);
        return 1;
    }
    if (!b->up) {
        brk_set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    if ((rc = brk_maintain(b)) < 0)
        return rc;
    deadline = brk_deadline_after(timeout_ms);
    for (;;) {
        rc = brk_pump(b, deadline);
        if (rc < 0) {
            if (b->up && !b->ch) {
                int r2 = brk_maintain(b);
                if (r2 < 0)
                    return r2;
                return BROKER_ECHANNEL;
            }
            return rc;
        }
        if (b->resubscribe && (rc = brk_maintain(b)) < 0)
            return rc;
        if (b->dq_len) {
            brk_dq_take(b, 0, out);
            return 1;
        }
        if (rc == 0)
            return 0;
    }
}

int broker_set_wake_fd(broker *b, int fd)
{
    if (b == NULL || fd < -1)
        return BROKER_EINVAL;
    b->wake_fd = fd;
    return 0;
}

int broker_poll(broker *b, int timeout_ms, broker_delivery *out)
{
    if (!b || !out)
        return BROKER_EINVAL;
    b->wake_armed = 1;
    int rc = poll_once(b, timeout_ms, out);
    b->wake_armed = 0;
    return rc;
}

/* Shared body of ack and nack. */
static int settle(broker *b, uint64_t tag, int ack, int requeue)
{
    int st;
    if (!b)
        return BROKER_EINVAL;
    if (tag == 0)
        return 0;
    if (!b->up || !b->ch || (uint32_t)(tag >> TAG_BITS) != (b->generation & GEN_MASK)) {
        brk_set_err(b, "delivery tag belongs to an earlier connection or channel: ignored (the "
                       "broker has requeued that message)");
        return BROKER_ESTALE;
    }
    if (ack)
        st = amqp_basic_ack(b->conn, b->ch, tag & TAG_MASK, 0);
    else
        st = amqp_basic_nack(b->conn, b->ch, tag & TAG_MASK, 0, requeue != 0);
    if (st != AMQP_STATUS_OK)
        return brk_lib_failed(b, ack ? "acknowledging a message" : "rejecting a message", st);
    return 0;
}

int broker_ack(broker *b, uint64_t tag)
{
    return settle(b, tag, 1, 0);
}

int broker_nack(broker *b, uint64_t tag, int requeue)
{
    return settle(b, tag, 0, requeue);
}
