/*
 * broker.c -- the dispatcher's AMQP connection on rabbitmq-c 0.11.
 *
 * DESIGN.  One handle, one owning thread, one connection with a main
 * channel (confirm mode; all consumers, publishes, acks) and a side channel
 * opened on demand for passive declares, deletes and basic.get, so that a
 * 404 there (which closes the channel) never costs the consumers.
 *
 * Frames are read by hand.  rabbitmq-c 0.11 has no confirm wait, and
 * amqp_consume_message() gives up with AMQP_STATUS_UNEXPECTED_STATE on every
 * frame that is not a delivery; so every wait here goes through pump(),
 * which takes one frame and dispatches it: basic.deliver (read the content
 * into an owned broker_delivery, queue it), basic.ack / basic.nack
 * (confirms, maybe `multiple`), basic.return (remember it for the publish in
 * flight), basic.cancel (the broker dropped a consumer: re-declare and
 * re-subscribe), channel.close (answer, reopen the channel, new generation),
 * connection.close (answer, report why), connection.blocked/unblocked.
 * Heartbeat frames are answered and swallowed inside the library while it
 * waits.
 *
 * Publishes are synchronous: one publish in flight at a time.  That keeps
 * confirm bookkeeping to one sequence number and, since basic.return carries
 * no sequence number, is what lets a return be pinned to its publish
 * (RabbitMQ sends the return before the ack of the same message).
 * Deliveries that arrive while a publish waits are queued in the handle and
 * handed out by later broker_poll() calls.
 *
 * Frame memory.  Decoded frames live in the library's per-channel pools.
 * Content of a basic.get-ok on the side channel can be preceded by frames of
 * the main channel that the library queued meanwhile; those are set aside
 * (b->pend) and handed to pump() first, and a channel's pool is recycled
 * only when neither the library nor b->pend holds a frame of it.
 *
 * Synchronous methods (declare, consume, ...) go through amqp_simple_rpc,
 * which queues unrelated frames inside the library; pump() sees them later
 * in order.
 */
#include "broker.h"
#include "broker_internal.h"
#include "text.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TAG_BITS 40
#define TAG_MASK ((UINT64_C(1) << TAG_BITS) - 1)
#define GEN_MASK 0xFFFFFFu

#define CT_WORK  "dd-work"
#define CT_NODE  "dd-node"
#define CT_REPLY "dd-reply"
#define CT_WATCH "dd-watch"

#define MAX_NAME           255  /* AMQP short string */
#define MAX_PENDING_FRAMES 4096 /* frames set aside while reading side-channel content */
#define MAX_REASON         1024 /* x-dd-reason bytes kept */
#define FRAME_MAX          131072
#define SYSTEM_CA_BUNDLE   "/etc/ssl/certs/ca-certificates.crt" /* Debian's */

enum confirm_state { CONFIRM_NONE, CONFIRM_PENDING, CONFIRM_ACKED, CONFIRM_NACKED };

struct broker {
    broker_conf conf; /* string fields point at the copies below */
    char *s_url, *s_queue, *s_node, *s_conn_name, *s_ca, *s_cert, *s_key;
    char *host, *user, *pass, *vhost;
    int port, tls;
    char *redacted;
    char *n_work, *n_dead, *n_dlx, *n_node, *n_events;
    char *n_owner;  /* <q>.node.<name>.owner: the identity lock (hold_identity) */
    int wake_fd;    /* broker_set_wake_fd(), -1: none */
    int wake_armed; /* inside broker_poll: the wake fd may end a wait between frames */

    amqp_connection_state_t conn;
    int up;                 /* connection usable */
    amqp_channel_t ch;      /* main channel, 0 while closed */
    amqp_channel_t side;    /* side channel, 0 while closed */
    amqp_channel_t last_ch; /* last channel number handed out */
    int channel_max;
    uint32_t generation;
    int close_code; /* reply code of the last channel.close from the broker */

    int paused, rpc_wanted;
    int work_on, node_on, reply_on, watch_on;
    char *watch_pattern; /* broker_watch(): binding key on <q>.events; NULL: none */
    int resubscribe;     /* the broker cancelled a consumer of ours */
    int blocked;         /* connection.blocked (resource alarm) */
    int64_t last_wait;   /* when the library last waited for frames (heartbeats) */

    uint64_t pub_seq; /* sequence number of the last publish on ch */
    uint64_t wait_seq;
    int wait_state;
    int wait_returned;
    char wait_return[256];

    amqp_frame_t *pend;
    size_t pend_len, pend_cap;

    broker_delivery *dq;
    size_t dq_len, dq_cap;

    uint64_t rng;
    unsigned long corr_seq;
    char err[BROKER_ERRMAX];
};

static int ensure_side(broker *b);
static int maintain(broker *b);

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

const char *broker_strerror(int err)
{
    static const char *const text[] = {
        [0] = "success",
        [-BROKER_EINVAL] = "invalid argument",
        [-BROKER_ENOMEM] = "out of memory",
        [-BROKER_EURL] = "bad AMQP URL",
        [-BROKER_EUNREACHABLE] = "broker unreachable",
        [-BROKER_EAUTH] = "authentication refused",
        [-BROKER_EVHOST] = "virtual host not allowed",
        [-BROKER_ETLS] = "TLS failure",
        [-BROKER_ETOPOLOGY] = "queue or exchange exists with other arguments",
        [-BROKER_ECONNLOST] = "connection lost",
        [-BROKER_ENOTCONN] = "not connected",
        [-BROKER_ECHANNEL] = "channel closed by the broker",
        [-BROKER_ENOTFOUND] = "no such queue or exchange",
        [-BROKER_EACCESS] = "access refused",
        [-BROKER_ETIMEOUT] = "timed out",
        [-BROKER_ENACKED] = "publish refused by the broker",
        [-BROKER_EUNROUTABLE] = "message unroutable",
        [-BROKER_ESTALE] = "delivery tag of an older connection",
        [-BROKER_ETOOBIG] = "limit exceeded",
        [-BROKER_EPROTO] = "protocol error",
        [-BROKER_ESTOPPED] = "stopped",
        [-BROKER_EINUSE] = "node identity in use by another connection",
    };
    if (err > 0 || -err >= (int)(sizeof text / sizeof text[0]) || !text[-err])
        return "unknown error";
    return text[-err];
}

void broker_conf_init(broker_conf *c)
{
    memset(c, 0, sizeof *c);
    c->queue = "docker-dispatch";
    c->queue_type = BROKER_QUEUE_QUORUM;
    c->delivery_limit = 5;
    c->prefetch = BROKER_DEFAULT_PREFETCH;
    c->heartbeat = 30;
    c->role = BROKER_ROLE_NODE;
    c->connect_timeout_ms = 10000;
    c->rpc_timeout_ms = 30000;
    c->confirm_timeout_ms = 30000;
    c->reconnect_min_ms = 500;
    c->reconnect_max_ms = 30000;
    c->max_body = BROKER_DEFAULT_MAX_BODY;
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms; negative timeouts mean "never" (-1). */
static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A NUL-terminated malloc'd copy of an AMQP byte string, at most cap bytes;
 * NULL for an absent (NULL) string or on allocation failure (*oom set). */
static char *dupbytes(amqp_bytes_t v, size_t cap, int *oom)
{
    size_t n = v.len < cap ? v.len : cap;
    char *s = malloc(n + 1);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    if (n)
        memcpy(s, v.bytes, n);
    s[n] = '\0';
    return s;
}

/* Appends the network bytes src (len) to dst (size cap, NUL-terminated) by
 * text_line's rule (text.h); a NUL byte ends the text. */
static void append_escaped(char *dst, size_t cap, const void *src, size_t len)
{
    char tmp[512];
    size_t n = len < sizeof tmp - 1 ? len : sizeof tmp - 1;
    memcpy(tmp, src, n);
    tmp[n] = '\0';
    size_t o = strlen(dst);
    if (o + 1 < cap)
        text_line(dst + o, cap - o, tmp);
}

/* Server text (reply_text) escaped into buf, with the password, should the
 * broker ever echo it, masked. */
static const char *server_text(broker *b, amqp_bytes_t t, char *buf, size_t cap)
{
    buf[0] = '\0';
    append_escaped(buf, cap, t.bytes, t.len);
    if (b->pass && strlen(b->pass) >= 3) {
        size_t pl = strlen(b->pass);
        char *at = buf, *hit;
        while ((hit = strstr(at, b->pass)) != NULL) {
            memcpy(hit, "***", 3);
            memmove(hit + 3, hit + pl, strlen(hit + pl) + 1);
            at = hit + 3;
        }
    }
    return buf;
}

static void set_err(broker *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(broker *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
}

static uint64_t rng_next(broker *b)
{
    /* xorshift64*: jitter and correlation ids, not security */
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * UINT64_C(2685821657736338717);
}

/* Starts a new generation (skipping the one whose low bits are 0, so that
 * a tag is never 0). */
static uint32_t next_generation(broker *b)
{
    b->generation++;
    if ((b->generation & GEN_MASK) == 0)
        b->generation++;
    return b->generation;
}

/* The opaque tag for the broker's delivery tag on the current channel. */
static uint64_t tag_encode(const broker *b, uint64_t server_tag)
{
    return ((uint64_t)(b->generation & GEN_MASK) << TAG_BITS) | (server_tag & TAG_MASK);
}

/* ------------------------------------------------------------------------
 * Deliveries
 * ------------------------------------------------------------------------ */

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

static void delivery_init(broker_delivery *d)
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

/* Copies the headers of a received message into d (string, integer and
 * boolean values; at most BROKER_MAX_HEADERS), and picks out
 * x-delivery-count and the newest x-death count.  BROKER_ENOMEM on
 * allocation failure (d keeps what it has; cleanup frees it). */
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
        long long iv;
        char num[64];
        char *val = NULL;

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
        if (d->n_headers >= n)
            continue;
        switch (e->value.kind) {
        case AMQP_FIELD_KIND_UTF8:
        case AMQP_FIELD_KIND_BYTES:
            val = dupbytes(e->value.value.bytes, BROKER_MAX_HEADER_VALUE, &oom);
            break;
        case AMQP_FIELD_KIND_BOOLEAN:
            val = strdup(e->value.value.boolean ? "true" : "false");
            oom = val == NULL;
            break;
        case AMQP_FIELD_KIND_F32:
        case AMQP_FIELD_KIND_F64:
            snprintf(num, sizeof num, "%g",
                     e->value.kind == AMQP_FIELD_KIND_F32 ? (double)e->value.value.f32
                                                          : e->value.value.f64);
            val = strdup(num);
            oom = val == NULL;
            break;
        default:
            if (field_int(&e->value, &iv)) {
                snprintf(num, sizeof num, "%lld", iv);
                val = strdup(num);
                oom = val == NULL;
            }
            break;
        }
        if (oom)
            return BROKER_ENOMEM;
        if (!val)
            continue;
        char *key = dupbytes(e->key, MAX_NAME, &oom);
        if (!key) {
            free(val);
            return BROKER_ENOMEM;
        }
        d->headers[d->n_headers].key = key;
        d->headers[d->n_headers].value = val;
        d->n_headers++;
    }
    return 0;
}

/* Copies the basic properties p into d.  BROKER_ENOMEM on failure. */
static int copy_props(broker_delivery *d, const amqp_basic_properties_t *p)
{
    int oom = 0;
    if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
        d->content_type = dupbytes(p->content_type, MAX_NAME, &oom);
    if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        d->correlation_id = dupbytes(p->correlation_id, MAX_NAME, &oom);
    if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
        d->message_id = dupbytes(p->message_id, MAX_NAME, &oom);
    if (p->_flags & AMQP_BASIC_REPLY_TO_FLAG)
        d->reply_to = dupbytes(p->reply_to, MAX_NAME, &oom);
    if (p->_flags & AMQP_BASIC_TYPE_FLAG)
        d->type = dupbytes(p->type, MAX_NAME, &oom);
    if (p->_flags & AMQP_BASIC_DELIVERY_MODE_FLAG)
        d->persistent = p->delivery_mode == AMQP_DELIVERY_PERSISTENT;
    if (oom)
        return BROKER_ENOMEM;
    if (p->_flags & AMQP_BASIC_HEADERS_FLAG)
        return copy_headers(d, &p->headers);
    return 0;
}

/* Removes item i from the internal delivery queue into *out (moved). */
static void dq_take(broker *b, size_t i, broker_delivery *out)
{
    *out = b->dq[i];
    memmove(&b->dq[i], &b->dq[i + 1], (b->dq_len - i - 1) * sizeof *b->dq);
    b->dq_len--;
}

/* Drops queued deliveries that need an ack: after a connection or channel
 * loss the broker has requeued them, and their tags are dead.  Replies
 * (no-ack, already gone from the broker) stay. */
static void dq_drop_acked(broker *b)
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

/* ------------------------------------------------------------------------
 * Connection state
 * ------------------------------------------------------------------------ */

/* Marks the connection unusable (reason already in b->err).  The library
 * state is destroyed later by teardown(). */
static void conn_lost(broker *b)
{
    b->up = 0;
    b->ch = 0;
    b->side = 0;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    if (b->wait_state == CONFIRM_PENDING)
        b->wait_state = CONFIRM_NONE;
    b->wait_seq = 0;
    dq_drop_acked(b);
}

/* Destroys the library connection, politely closing it first if it is
 * still up.  Safe to call in any state. */
static void teardown(broker *b)
{
    if (b->conn) {
        if (b->up) {
            struct timeval tv = {2, 0};
            amqp_set_rpc_timeout(b->conn, &tv);
            amqp_connection_close(b->conn, AMQP_REPLY_SUCCESS);
        }
        amqp_destroy_connection(b->conn);
        b->conn = NULL;
    }
    b->pend_len = 0;
    conn_lost(b);
}

/* teardown() that keeps the reason in b->err (the polite close in it may
 * fail and overwrite it). */
static void teardown_keep_reason(broker *b)
{
    char keep[BROKER_ERRMAX];
    snprintf(keep, sizeof keep, "%s", b->err);
    teardown(b);
    snprintf(b->err, sizeof b->err, "%s", keep);
}

/* rabbitmq-c's text for a status code (static). */
static const char *lib_error(int status)
{
    return amqp_error_string2(status);
}

/* A library failure on the connection: records what failed and marks it
 * lost.  Returns BROKER_ECONNLOST. */
static int lib_failed(broker *b, const char *what, int status)
{
    if (status == AMQP_STATUS_HEARTBEAT_TIMEOUT)
        set_err(b,
                "%s: no traffic from the broker for two heartbeat intervals (%d s): "
                "connection considered dead",
                what, 2 * b->conf.heartbeat);
    else
        set_err(b, "%s: %s", what, lib_error(status));
    conn_lost(b);
    return BROKER_ECONNLOST;
}

/* Our error for the reply code of a channel.close. */
static int map_close_code(int code)
{
    switch (code) {
    case AMQP_NOT_FOUND:
        return BROKER_ENOTFOUND;
    case AMQP_ACCESS_REFUSED:
        return BROKER_EACCESS;
    default:
        return BROKER_ECHANNEL;
    }
}

/* The broker closed the connection (connection.close m): answer it, record
 * why, mark lost.  Returns BROKER_ECONNLOST. */
static int on_connection_close(broker *b, const char *what, const amqp_connection_close_t *m)
{
    char txt[256];
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    set_err(b, "%s: connection closed by the broker: %u %s", what, m->reply_code,
            server_text(b, m->reply_text, txt, sizeof txt));
    conn_lost(b);
    return BROKER_ECONNLOST;
}

/* The broker closed channel ch (channel.close m): answer it and forget the
 * channel.  A closed main channel loses its consumers and unacked
 * deliveries (requeued by the broker); maintain() reopens it.  Returns the
 * mapped error (BROKER_ENOTFOUND, BROKER_EACCESS, BROKER_ECHANNEL). */
static int on_channel_close(broker *b, amqp_channel_t ch, const char *what,
                            const amqp_channel_close_t *m)
{
    char txt[256];
    amqp_channel_close_ok_t ok = {0};
    int rc = amqp_send_method(b->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    b->close_code = m->reply_code;
    set_err(b, "%s: %s", what, server_text(b, m->reply_text, txt, sizeof txt));
    if (ch == b->ch) {
        b->ch = 0;
        b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
        if (b->wait_state == CONFIRM_PENDING)
            b->wait_state = CONFIRM_NONE;
        b->wait_seq = 0;
        dq_drop_acked(b);
    } else if (ch == b->side) {
        b->side = 0;
    }
    if (rc != AMQP_STATUS_OK) {
        conn_lost(b);
        return BROKER_ECONNLOST;
    }
    return map_close_code(m->reply_code);
}

/* Interprets reply r of a synchronous method on channel ch ("what" names
 * it in messages).  Returns 0, a mapped channel error (the
 * channel is then closed), or BROKER_ECONNLOST. */
static int rpc_check(broker *b, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return lib_failed(b, what, r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            return on_connection_close(b, what, r.reply.decoded);
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
            return on_channel_close(b, ch, what, r.reply.decoded);
        set_err(b, "%s: unexpected method 0x%08x from the broker", what, r.reply.id);
        conn_lost(b);
        return BROKER_EPROTO;
    default:
        set_err(b, "%s: no reply", what);
        conn_lost(b);
        return BROKER_EPROTO;
    }
}

/* rpc_check() on the reply the library keeps for the last method. */
static int rpc_result(broker *b, amqp_channel_t ch, const char *what)
{
    return rpc_check(b, amqp_get_rpc_reply(b->conn), ch, what);
}

/* The next free channel number for this connection. */
static amqp_channel_t alloc_channel(broker *b)
{
    amqp_channel_t c;
    do {
        c = (amqp_channel_t)(b->last_ch % b->channel_max + 1);
        b->last_ch = c;
    } while (c == b->ch || c == b->side);
    return c;
}

/* ------------------------------------------------------------------------
 * Frames
 * ------------------------------------------------------------------------ */

static int pend_has(const broker *b, amqp_channel_t ch)
{
    for (size_t i = 0; i < b->pend_len; i++)
        if (b->pend[i].channel == ch)
            return 1;
    return 0;
}

/* Recycles channel ch's frame memory unless a set-aside frame needs it. */
static void release_channel(broker *b, amqp_channel_t ch)
{
    if (b->conn && !pend_has(b, ch))
        amqp_maybe_release_buffers_on_channel(b->conn, ch);
}

/* Sets frame f aside for pump().  BROKER_ETOOBIG (connection dropped) when
 * the cap is hit. */
static int pend_push(broker *b, const amqp_frame_t *f)
{
    if (b->pend_len == b->pend_cap) {
        size_t ncap = b->pend_cap ? b->pend_cap * 2 : 64;
        if (ncap > MAX_PENDING_FRAMES) {
            set_err(b, "more than %d frames arrived while reading one message", MAX_PENDING_FRAMES);
            conn_lost(b);
            return BROKER_ETOOBIG;
        }
        amqp_frame_t *n = realloc(b->pend, ncap * sizeof *n);
        if (!n) {
            set_err(b, "out of memory");
            conn_lost(b);
            return BROKER_ENOMEM;
        }
        b->pend = n;
        b->pend_cap = ncap;
    }
    b->pend[b->pend_len++] = *f;
    return 0;
}

static int wait_socket_or_wake(broker *b, int64_t deadline);

/* Takes the next frame: set-aside frames first, then the library's (its
 * queue, then the socket).  deadline in now_ms() time, -1 for none.  With
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
    struct timeval tv, *tvp = NULL;
    if (deadline >= 0) {
        int64_t left = deadline - now_ms();
        if (left < 0)
            left = 0;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
        tvp = &tv;
    }
    if (wakeable && b->wake_fd >= 0 && !amqp_frames_enqueued(b->conn) &&
        !amqp_data_in_buffer(b->conn)) {
        int w = wait_socket_or_wake(b, deadline);
        if (w < 0)
            return 0; /* woken: the caller has other work */
        if (w == 0) {
            /* nothing arrived: enter the library without waiting, so that
             * it sends a heartbeat that is due */
            tv.tv_sec = 0;
            tv.tv_usec = 0;
            tvp = &tv;
        }
    }
    int64_t away = now_ms() - b->last_wait;
    int st = amqp_simple_wait_frame_noblock(b->conn, f, tvp);
    b->last_wait = now_ms();
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
        return lib_failed(b, what, st);
    }
    return 1;
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
    int64_t left = deadline >= 0 ? deadline - now_ms() : cap;
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
        return on_connection_close(b, b->redacted, f->payload.method.decoded);
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

/* Reads the content (header + body frames) that follows a deliver, get-ok
 * or return on channel ch into d: properties always, the body only when
 * keep_body and it is at most conf.max_body (else d->oversize when over the
 * cap).  Frames of other channels met meanwhile are set aside; a
 * connection.close or channel.close aborts the read.  Returns 0 or a
 * negative error (the connection or channel state is updated). */
static int read_content(broker *b, amqp_channel_t ch, broker_delivery *d, int keep_body)
{
    int64_t deadline = deadline_after(b->conf.rpc_timeout_ms);
    amqp_frame_t f;
    uint64_t got = 0;
    int have_header = 0, rc;

    for (;;) {
        rc = next_frame(b, &f, deadline);
        if (rc == 0) {
            set_err(b, "timed out reading a message's content from the broker");
            conn_lost(b);
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
                return on_channel_close(b, ch, "reading a message", f.payload.method.decoded);
            set_err(b, "broker sent method 0x%08x in the middle of a message", f.payload.method.id);
            conn_lost(b);
            return BROKER_EPROTO;
        }
        if (!have_header) {
            if (f.frame_type != AMQP_FRAME_HEADER) {
                set_err(b, "broker sent frame type %d where a content header belongs",
                        f.frame_type);
                conn_lost(b);
                return BROKER_EPROTO;
            }
            have_header = 1;
            d->body_size = f.payload.properties.body_size;
            rc = copy_props(d, f.payload.properties.decoded);
            if (rc < 0) {
                set_err(b, "out of memory copying message properties");
                return rc;
            }
            if (d->body_size > b->conf.max_body) {
                d->oversize = 1;
                keep_body = 0;
            }
            if (keep_body) {
                d->body = malloc((size_t)d->body_size + 1);
                if (!d->body) {
                    set_err(b, "out of memory for a %" PRIu64 "-byte message", d->body_size);
                    return BROKER_ENOMEM;
                }
                d->body[0] = '\0';
            }
        } else {
            if (f.frame_type != AMQP_FRAME_BODY) {
                set_err(b, "broker sent frame type %d inside a message body", f.frame_type);
                conn_lost(b);
                return BROKER_EPROTO;
            }
            size_t n = f.payload.body_fragment.len;
            if (n > d->body_size - got) {
                set_err(b, "broker sent more body than announced");
                conn_lost(b);
                return BROKER_EPROTO;
            }
            if (keep_body && n)
                memcpy(d->body + got, f.payload.body_fragment.bytes, n);
            got += n;
        }
        if (have_header && got == d->body_size)
            break;
    }
    if (d->body) {
        d->len = (size_t)got;
        d->body[d->len] = '\0';
    }
    return 0;
}

/* Queues a received delivery (moved from *d) for broker_poll().  When the
 * queue is at its cap -- for acked deliveries only possible if the broker
 * ignored the prefetch window; replies and events (no-ack) are not bounded
 * by it -- an acked delivery goes back to the broker (nack + requeue) and a
 * reply or event is dropped. */
static int dq_push(broker *b, broker_delivery *d)
{
    if (b->dq_len == b->dq_cap) {
        if (d->tag != 0 && b->ch)
            amqp_basic_nack(b->conn, b->ch, d->tag & TAG_MASK, 0, 1);
        broker_delivery_cleanup(d);
        return 0;
    }
    b->dq[b->dq_len++] = *d;
    delivery_init(d);
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

    delivery_init(&d);
    d.consumer_tag = dupbytes(m->consumer_tag, MAX_NAME, &oom);
    d.exchange = dupbytes(m->exchange, MAX_NAME, &oom);
    d.routing_key = dupbytes(m->routing_key, MAX_NAME, &oom);
    d.delivery_tag = m->delivery_tag;
    d.redelivered = m->redelivered != 0;
    d.source = source_of(m->consumer_tag);
    d.generation = b->generation;
    if (oom) {
        /* still read the content, so that the stream stays in step */
        read_content(b, b->ch, &d, 0);
        broker_delivery_cleanup(&d);
        set_err(b, "out of memory receiving a message");
        return BROKER_ENOMEM;
    }
    rc = read_content(b, b->ch, &d, 1);
    if (rc < 0) {
        broker_delivery_cleanup(&d);
        return rc;
    }
    if (d.source != BROKER_SRC_REPLY && d.source != BROKER_SRC_EVENT) {
        d.tag = tag_encode(b, d.delivery_tag);
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
    delivery_init(&d);
    rc = read_content(b, b->ch, &d, 0);
    broker_delivery_cleanup(&d);
    if (rc < 0)
        return rc;
    if (b->wait_state == CONFIRM_PENDING) {
        b->wait_returned = 1;
        b->wait_return[0] = '\0';
        snprintf(b->wait_return, sizeof b->wait_return, "%u %s (exchange '", m->reply_code,
                 server_text(b, m->reply_text, txt, sizeof txt));
        append_escaped(b->wait_return, sizeof b->wait_return, m->exchange.bytes, m->exchange.len);
        size_t o = strlen(b->wait_return);
        snprintf(b->wait_return + o, sizeof b->wait_return - o, "', routing key '");
        append_escaped(b->wait_return, sizeof b->wait_return, m->routing_key.bytes,
                       m->routing_key.len);
        o = strlen(b->wait_return);
        snprintf(b->wait_return + o, sizeof b->wait_return - o, "')");
    }
    return 0;
}

/* basic.cancel from the broker (queue deleted, ...): the consumer is gone;
 * maintain() subscribes again. */
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
            return lib_failed(b, "answering basic.cancel", AMQP_STATUS_SOCKET_ERROR);
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
        return on_channel_close(b, f->channel, "channel closed by the broker", m);
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
static int pump(broker *b, int64_t deadline)
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
        rc = on_channel_close(b, ch, "side channel closed by the broker", f.payload.method.decoded);
    else
        rc = 0; /* a channel we no longer use */
    if (b->up)
        release_channel(b, ch);
    return rc < 0 ? rc : 1;
}

/* ------------------------------------------------------------------------
 * Topology and consumers
 * ------------------------------------------------------------------------ */

static amqp_table_entry_t entry_str(const char *k, const char *v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(v);
    return e;
}

static amqp_table_entry_t entry_long(const char *k, int64_t v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_I64;
    e.value.value.i64 = v;
    return e;
}

static amqp_table_entry_t entry_bool(const char *k, int v)
{
    amqp_table_entry_t e;
    e.key = amqp_cstring_bytes(k);
    e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    e.value.value.boolean = v;
    return e;
}

static const char *type_name(broker_queue_type t)
{
    return t == BROKER_QUEUE_CLASSIC ? "classic" : "quorum";
}

/* Fills e (room for 6) with the arguments of a queue of type t: the work
 * and node queues when typed, else the classic dead-letter queue.  Returns
 * the number of entries. */
static int queue_args(const broker *b, int typed, broker_queue_type t, amqp_table_entry_t *e)
{
    int n = 0;
    if (!typed) {
        e[n++] = entry_str("x-queue-type", "classic");
        return n;
    }
    e[n++] = entry_str("x-queue-type", type_name(t));
    e[n++] = entry_str("x-dead-letter-exchange", b->n_dlx);
    if (t == BROKER_QUEUE_QUORUM) {
        e[n++] = entry_long("x-delivery-limit", b->conf.delivery_limit);
        e[n++] = entry_str("x-dead-letter-strategy", "at-least-once");
        e[n++] = entry_str("x-overflow", "reject-publish");
    }
    return n;
}

/* After a PRECONDITION_FAILED on queue name: would the queue accept the
 * other type's arguments?  Tried on the side channel, only when a passive
 * declare says the queue exists (RabbitMQ reports the first differing
 * argument, which need not be x-queue-type, so its text alone cannot tell
 * the type).  Returns 1 if the queue is of type other. */
static int queue_is_of_type(broker *b, const char *name, broker_queue_type other)
{
    amqp_table_entry_t e[6];
    amqp_table_t args;
    if (ensure_side(b) < 0)
        return 0;
    amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(name), 1, 0, 0, 0, amqp_empty_table);
    if (rpc_result(b, b->side, "probing") < 0 || ensure_side(b) < 0)
        return 0;
    args.num_entries = queue_args(b, 1, other, e);
    args.entries = e;
    amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    return rpc_result(b, b->side, "probing") == 0;
}

/* Declares a durable queue with the arguments our role gives it: typed
 * (the work and node queues: conf type, DLX, delivery limit) or the classic
 * dead-letter queue.  On an argument mismatch returns BROKER_ETOPOLOGY with
 * advice: which type the queue has if that is the difference, else
 * RabbitMQ's own words. */
static int declare_queue(broker *b, const char *name, int typed)
{
    amqp_table_entry_t e[6];
    amqp_table_t args;
    int rc;
    char what[MAX_NAME + 32], server[BROKER_ERRMAX];

    args.num_entries = queue_args(b, typed, b->conf.queue_type, e);
    args.entries = e;
    snprintf(what, sizeof what, "declaring queue '%s'", name);
    amqp_queue_declare(b->conn, b->ch, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    rc = rpc_result(b, b->ch, what);
    if (rc >= 0 || !b->up || b->close_code != AMQP_PRECONDITION_FAILED)
        return rc;
    snprintf(server, sizeof server, "%s", b->err);
    broker_queue_type want = b->conf.queue_type;
    broker_queue_type other =
        want == BROKER_QUEUE_QUORUM ? BROKER_QUEUE_CLASSIC : BROKER_QUEUE_QUORUM;
    if (typed && queue_is_of_type(b, name, other))
        set_err(b,
                "queue '%s' exists as %s but %s was asked for: delete it (its messages go "
                "with it) or use --queue-type %s",
                name, type_name(other), type_name(want), type_name(other));
    else
        set_err(b,
                "queue '%s' exists with different arguments (%s): delete it or use the "
                "settings it was declared with",
                name, server);
    return BROKER_ETOPOLOGY;
}

/* Declares a durable exchange of type on the main channel;
 * BROKER_ETOPOLOGY with advice if it exists with another type. */
static int declare_exchange(broker *b, const char *name, const char *type)
{
    char what[MAX_NAME + 32];
    int rc;
    snprintf(what, sizeof what, "declaring exchange '%s'", name);
    amqp_exchange_declare(b->conn, b->ch, amqp_cstring_bytes(name), amqp_cstring_bytes(type), 0, 1,
                          0, 0, amqp_empty_table);
    rc = rpc_result(b, b->ch, what);
    if (rc < 0 && b->up && b->close_code == AMQP_PRECONDITION_FAILED) {
        char server[BROKER_ERRMAX];
        snprintf(server, sizeof server, "%s", b->err);
        set_err(b,
                "exchange '%s' exists with a different type or arguments (%s): delete it so "
                "that it can be declared as a durable %s exchange",
                name, server, type);
        return BROKER_ETOPOLOGY;
    }
    return rc;
}

/* Holds this node's identity (queue + node name) for the connection's
 * lifetime: an exclusive, auto-delete queue <q>.node.<name>.owner, which
 * RabbitMQ lets only one connection own.  A second dispatcher with the same
 * identity gets RESOURCE_LOCKED and BROKER_EINUSE, instead of both
 * consuming the node queue and answering each other's containers.  The
 * connection going away (clean close, crash, missed heartbeats) frees it.
 * Declaring it again on the owning connection is a no-op. */
static int hold_identity(broker *b)
{
    char what[MAX_NAME + 32];
    snprintf(what, sizeof what, "declaring queue '%s'", b->n_owner);
    amqp_queue_declare(b->conn, b->ch, amqp_cstring_bytes(b->n_owner), 0, 0, 1, 1,
                       amqp_empty_table);
    int rc = rpc_result(b, b->ch, what);
    if (rc < 0 && b->up && b->close_code == AMQP_RESOURCE_LOCKED) {
        set_err(b,
                "another dispatcher is connected as node '%s' of queue '%s' (it holds '%s'): "
                "two dispatchers with one queue and node name would answer for each other's "
                "containers; stop the other one or give this one another --node",
                b->s_node, b->n_work, b->n_owner);
        return BROKER_EINUSE;
    }
    return rc;
}

/* Declares the node role's topology on the main channel (see broker.h). */
static int declare_topology(broker *b)
{
    int rc;
    char what[2 * MAX_NAME + 32];

    if ((rc = declare_exchange(b, b->n_dlx, "fanout")) < 0)
        return rc;
    if ((rc = declare_queue(b, b->n_dead, 0)) < 0)
        return rc;
    snprintf(what, sizeof what, "binding '%s' to '%s'", b->n_dead, b->n_dlx);
    amqp_queue_bind(b->conn, b->ch, amqp_cstring_bytes(b->n_dead), amqp_cstring_bytes(b->n_dlx),
                    amqp_empty_bytes, amqp_empty_table);
    if ((rc = rpc_result(b, b->ch, what)) < 0)
        return rc;
    if ((rc = declare_queue(b, b->n_work, 1)) < 0)
        return rc;
    if ((rc = declare_queue(b, b->n_node, 1)) < 0)
        return rc;
    if ((rc = hold_identity(b)) < 0)
        return rc;
    return declare_exchange(b, b->n_events, "topic");
}

/* basic.consume on the main channel with our consumer tag. */
static int consume(broker *b, const char *queue, const char *tag, int no_ack)
{
    char what[MAX_NAME + 32];
    snprintf(what, sizeof what, "consuming from '%s'", queue);
    amqp_basic_consume(b->conn, b->ch, amqp_cstring_bytes(queue), amqp_cstring_bytes(tag), 0,
                       no_ack, 0, amqp_empty_table);
    return rpc_result(b, b->ch, what);
}

/* basic.cancel of one of our consumers on the main channel. */
static int cancel(broker *b, const char *tag)
{
    char what[64];
    snprintf(what, sizeof what, "cancelling consumer %s", tag);
    amqp_basic_cancel(b->conn, b->ch, amqp_cstring_bytes(tag));
    return rpc_result(b, b->ch, what);
}

/* The watch consumer: a server-named, exclusive, auto-delete queue bound
 * to <q>.events with the watch pattern, consumed without acks.  A new queue
 * each time (the old one went with its channel or connection). */
static int watch_subscribe(broker *b)
{
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(b->conn, b->ch, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
    int rc = rpc_result(b, b->ch, "declaring the watch queue");
    if (rc < 0)
        return rc;
    if (ok == NULL || ok->queue.len == 0 || ok->queue.len > MAX_NAME) {
        set_err(b, "the broker named no watch queue");
        return BROKER_EPROTO;
    }
    char name[MAX_NAME + 1];
    memcpy(name, ok->queue.bytes, ok->queue.len);
    name[ok->queue.len] = '\0';
    amqp_queue_bind(b->conn, b->ch, amqp_cstring_bytes(name), amqp_cstring_bytes(b->n_events),
                    amqp_cstring_bytes(b->watch_pattern), amqp_empty_table);
    char what[MAX_NAME + 64];
    snprintf(what, sizeof what, "binding the watch queue to '%s'", b->n_events);
    if ((rc = rpc_result(b, b->ch, what)) < 0)
        return rc;
    return consume(b, name, CT_WATCH, 1);
}

/* Starts whichever consumers should run and do not. */
static int subscribe(broker *b)
{
    int rc;
    if (b->conf.role == BROKER_ROLE_NODE && !b->paused) {
        if (!b->work_on) {
            if ((rc = consume(b, b->n_work, CT_WORK, 0)) < 0)
                return rc;
            b->work_on = 1;
        }
        if (!b->node_on) {
            if ((rc = consume(b, b->n_node, CT_NODE, 0)) < 0)
                return rc;
            b->node_on = 1;
        }
    }
    if (b->rpc_wanted && !b->reply_on) {
        if ((rc = consume(b, BROKER_REPLY_TO, CT_REPLY, 1)) < 0)
            return rc;
        b->reply_on = 1;
    }
    if (b->watch_pattern && !b->watch_on) {
        if ((rc = watch_subscribe(b)) < 0)
            return rc;
        b->watch_on = 1;
    }
    return 0;
}

/* Opens a new main channel: confirm mode, qos, consumers.  A new
 * generation starts.  On failure the connection is dropped (an error here
 * leaves nothing sensible to keep). */
static int open_main(broker *b, int with_topology)
{
    int rc;
    amqp_channel_t ch = alloc_channel(b);

    amqp_channel_open(b->conn, ch);
    if ((rc = rpc_result(b, ch, "opening a channel")) < 0)
        goto fail;
    b->ch = ch;
    next_generation(b);
    b->pub_seq = 0;
    b->wait_seq = 0;
    b->wait_state = CONFIRM_NONE;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    amqp_confirm_select(b->conn, ch);
    if ((rc = rpc_result(b, ch, "enabling publisher confirms")) < 0)
        goto fail;
    if (with_topology && b->conf.role == BROKER_ROLE_NODE) {
        if ((rc = declare_topology(b)) < 0)
            goto fail;
    }
    amqp_basic_qos(b->conn, ch, 0, (uint16_t)b->conf.prefetch, 0);
    if ((rc = rpc_result(b, ch, "setting the prefetch window")) < 0)
        goto fail;
    b->resubscribe = 0;
    if ((rc = subscribe(b)) < 0)
        goto fail;
    return 0;
fail:
    teardown_keep_reason(b);
    return rc;
}

/* Repairs what the last frames broke while the connection is up: reopens a
 * main channel the broker closed, re-subscribes consumers the broker
 * cancelled (re-declaring the topology first, since a deleted queue is the
 * usual cause).  Returns 0 or the error that made it drop the connection. */
static int maintain(broker *b)
{
    int rc;
    if (!b->up)
        return BROKER_ENOTCONN;
    if (!b->ch) {
        char keep[BROKER_ERRMAX];
        snprintf(keep, sizeof keep, "%s", b->err);
        rc = open_main(b, 0);
        if (rc < 0)
            return rc;
        snprintf(b->err, sizeof b->err, "%s", keep);
    }
    if (b->resubscribe) {
        b->resubscribe = 0;
        if (b->conf.role == BROKER_ROLE_NODE && !b->paused && (!b->work_on || !b->node_on)) {
            rc = declare_topology(b);
            if (rc < 0)
                goto fail;
        }
        if ((rc = subscribe(b)) < 0)
            goto fail;
    }
    return 0;
fail:
    teardown_keep_reason(b);
    return rc;
}

/* Opens the side channel if it is closed. */
static int ensure_side(broker *b)
{
    if (!b->up)
        return BROKER_ENOTCONN;
    if (b->side)
        return 0;
    amqp_channel_t ch = alloc_channel(b);
    amqp_channel_open(b->conn, ch);
    int rc = rpc_result(b, ch, "opening the side channel");
    if (rc < 0)
        return rc;
    b->side = ch;
    return 0;
}

/* ------------------------------------------------------------------------
 * Handle lifecycle and connecting
 * ------------------------------------------------------------------------ */

/* a, b and c concatenated, malloc'd (caller frees); NULL without memory. */
static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

static void set_cause(char **cause, const char *msg)
{
    if (cause)
        *cause = strdup(msg);
}

/* Parses the URL into b (host, port, user, password, vhost, TLS and the
 * redacted form; broker_url.c).  The password lives only in b->pass. */
static int parse_url(broker *b, const char *url)
{
    broker_url u;
    char err[BROKER_ERRMAX];
    int rc = broker__url_parse(url, &u, err, sizeof err);
    if (rc != 0) {
        set_err(b, "%s", err);
        return rc;
    }
    b->host = u.host;
    b->user = u.user;
    b->pass = u.pass;
    b->vhost = u.vhost;
    b->port = u.port;
    b->tls = u.tls;
    b->redacted = u.redacted;
    return 0;
}

/* Copies and checks the configuration, derives the names. */
static int setup(broker *b, const broker_conf *conf)
{
    int rc;
    b->conf = *conf;
    if (!conf->url || !conf->queue || !conf->queue[0]) {
        set_err(b, "an AMQP URL and a queue name are required");
        return BROKER_EINVAL;
    }
    if (conf->role != BROKER_ROLE_NODE && conf->role != BROKER_ROLE_CLIENT) {
        set_err(b, "unknown role %d", (int)conf->role);
        return BROKER_EINVAL;
    }
    if (conf->role == BROKER_ROLE_NODE && (!conf->node || !conf->node[0])) {
        set_err(b, "the node role needs a node name");
        return BROKER_EINVAL;
    }
    if (conf->queue_type != BROKER_QUEUE_QUORUM && conf->queue_type != BROKER_QUEUE_CLASSIC) {
        set_err(b, "unknown queue type %d", (int)conf->queue_type);
        return BROKER_EINVAL;
    }
    if (conf->queue_type == BROKER_QUEUE_QUORUM && conf->delivery_limit < 1) {
        set_err(b, "a quorum queue needs a delivery limit of at least 1 (got %d)",
                conf->delivery_limit);
        return BROKER_EINVAL;
    }
    if (conf->prefetch < 1 || conf->prefetch > 65535) {
        set_err(b, "prefetch must be 1..65535 (got %d)", conf->prefetch);
        return BROKER_EINVAL;
    }
    if (conf->heartbeat < 0 || conf->heartbeat > 65535 || conf->connect_timeout_ms <= 0 ||
        conf->rpc_timeout_ms <= 0 || conf->confirm_timeout_ms <= 0 || conf->reconnect_min_ms <= 0 ||
        conf->reconnect_max_ms < conf->reconnect_min_ms || conf->max_body == 0) {
        set_err(b, "heartbeat, timeouts, backoff or max_body out of range");
        return BROKER_EINVAL;
    }
    if (strlen(conf->queue) + (conf->node ? strlen(conf->node) + 12 : 6) > MAX_NAME) {
        set_err(b, "queue name and node name are too long (queue names are at most %d bytes)",
                MAX_NAME);
        return BROKER_EINVAL;
    }
    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        set_err(b, "a TLS client certificate needs its key, and the other way round");
        return BROKER_EINVAL;
    }
    b->s_url = dupstr(conf->url);
    b->s_queue = dupstr(conf->queue);
    b->s_node = dupstr(conf->node);
    b->s_ca = dupstr(conf->tls_ca_file);
    b->s_cert = dupstr(conf->tls_cert_file);
    b->s_key = dupstr(conf->tls_key_file);
    if (conf->connection_name)
        b->s_conn_name = strdup(conf->connection_name);
    else
        b->s_conn_name =
            join3("docker-dispatch", conf->node ? " " : "", conf->node ? conf->node : "");
    b->n_work = dupstr(conf->queue);
    b->n_dead = join3(conf->queue, ".dead", "");
    b->n_dlx = join3(conf->queue, ".dlx", "");
    b->n_events = join3(conf->queue, ".events", "");
    if (conf->node)
        b->n_node = join3(conf->queue, ".node.", conf->node);
    if (b->n_node)
        b->n_owner = join3(b->n_node, ".owner", "");
    if (!b->s_url || !b->s_queue || (conf->node && (!b->s_node || !b->n_node || !b->n_owner)) ||
        (conf->tls_ca_file && !b->s_ca) || (conf->tls_cert_file && !b->s_cert) ||
        (conf->tls_key_file && !b->s_key) || !b->s_conn_name || !b->n_work || !b->n_dead ||
        !b->n_dlx || !b->n_events) {
        set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    b->conf.url = NULL; /* only b->pass keeps the secret */
    b->conf.queue = b->s_queue;
    b->conf.node = b->s_node;
    b->conf.connection_name = b->s_conn_name;
    b->conf.tls_ca_file = b->s_ca;
    b->conf.tls_cert_file = b->s_cert;
    b->conf.tls_key_file = b->s_key;
    rc = parse_url(b, b->s_url);
    /* the URL copy holds the password in clear: drop it now */
    explicit_bzero(b->s_url, strlen(b->s_url));
    free(b->s_url);
    b->s_url = NULL;
    if (rc < 0)
        return rc;
    b->dq_cap = 2 * (size_t)conf->prefetch + BROKER_REPLY_SLACK;
    b->dq = calloc(b->dq_cap, sizeof *b->dq);
    if (!b->dq) {
        set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    return 0;
}

int broker_new(const broker_conf *conf, broker **out, char **cause)
{
    broker *b;
    int rc;

    if (cause)
        *cause = NULL;
    if (!out || !conf) {
        set_cause(cause, "broker_new: missing argument");
        return BROKER_EINVAL;
    }
    *out = NULL;
    b = calloc(1, sizeof *b);
    if (b != NULL)
        b->wake_fd = -1;
    if (!b) {
        set_cause(cause, "out of memory");
        return BROKER_ENOMEM;
    }
    if (getrandom(&b->rng, sizeof b->rng, GRND_NONBLOCK) != (ssize_t)sizeof b->rng)
        b->rng = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32);
    b->rng |= 1;
    rc = setup(b, conf);
    if (rc < 0) {
        set_cause(cause, b->err);
        broker_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Reason text for a socket open failure (st from the library). */
static int open_failed(broker *b, int st)
{
    const char *ep = b->redacted;
    switch (st) {
    case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
        set_err(b, "cannot reach the broker at %s: host name '%s' does not resolve", ep, b->host);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_TIMEOUT:
        set_err(b, "cannot reach the broker at %s: connect timed out after %d ms", ep,
                b->conf.connect_timeout_ms);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_SOCKET_ERROR:
    case AMQP_STATUS_TCP_ERROR:
    case AMQP_STATUS_CONNECTION_CLOSED:
    case AMQP_STATUS_SOCKET_CLOSED:
        /* the library connects non-blocking and drops SO_ERROR: no errno */
        set_err(b, "cannot reach the broker at %s: connection refused or host unreachable", ep);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        set_err(b, "TLS to %s failed: the certificate does not match host name '%s'", ep, b->host);
        return BROKER_ETLS;
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
        set_err(b, "TLS to %s failed: the broker's certificate is not trusted%s", ep,
                b->conf.tls_ca_file ? " by the given CA file" : " (no CA file given)");
        return BROKER_ETLS;
    case AMQP_STATUS_SSL_ERROR:
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
    case AMQP_STATUS_SSL_SET_ENGINE_FAILED:
        set_err(b, "TLS to %s failed: handshake error (%s); is that port TLS?", ep, lib_error(st));
        return BROKER_ETLS;
    default:
        set_err(b, "cannot connect to %s: %s", ep, lib_error(st));
        return BROKER_EUNREACHABLE;
    }
}

/* Reason text for a failed login (connection.start .. connection.open). */
static int login_failed(broker *b, amqp_rpc_reply_t r)
{
    const char *ep = b->redacted;
    char txt[256];
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        server_text(b, m->reply_text, txt, sizeof txt);
        if (m->reply_code == AMQP_ACCESS_REFUSED) {
            set_err(b,
                    "authentication refused by the broker at %s for user '%s': check the user "
                    "name and password (%s)",
                    ep, b->user, txt);
            return BROKER_EAUTH;
        }
        if (m->reply_code == AMQP_NOT_ALLOWED) {
            set_err(b, "virtual host '%s' at %s does not exist or user '%s' may not use it (%s)",
                    b->vhost, ep, b->user, txt);
            return BROKER_EVHOST;
        }
        set_err(b, "the broker at %s refused the connection: %u %s", ep, m->reply_code, txt);
        return BROKER_EPROTO;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        int st = r.library_error;
        if (st <= AMQP_STATUS_SSL_ERROR && st > _AMQP_STATUS_SSL_NEXT_VALUE) {
            set_err(b, "TLS to %s failed during the AMQP handshake: %s", ep, lib_error(st));
            return BROKER_ETLS;
        }
        if (st == AMQP_STATUS_TIMEOUT) {
            set_err(b, "the broker at %s did not complete the AMQP handshake within %d ms", ep,
                    b->conf.connect_timeout_ms);
            return BROKER_EPROTO;
        }
        set_err(b, "the AMQP handshake with %s failed: %s (is it an AMQP port?%s)", ep,
                lib_error(st), b->tls ? "" : " a TLS port needs amqps://");
        return BROKER_EPROTO;
    }
    set_err(b, "the AMQP handshake with %s failed", ep);
    return BROKER_EPROTO;
}

/* Connect sequence: socket (TLS), login with our client properties
 * (connection_name, capabilities so that the broker sends basic.cancel,
 * basic.nack and connection.blocked), then open_main().  Any failure tears
 * the connection down and keeps the reason. */
int broker_connect(broker *b)
{
    amqp_socket_t *sock;
    struct timeval ctv, rtv;
    int st, rc;

    if (!b)
        return BROKER_EINVAL;
    if (b->up && b->ch)
        return 0;
    teardown(b);
    b->err[0] = '\0';
    ctv.tv_sec = b->conf.connect_timeout_ms / 1000;
    ctv.tv_usec = (b->conf.connect_timeout_ms % 1000) * 1000;
    rtv.tv_sec = b->conf.rpc_timeout_ms / 1000;
    rtv.tv_usec = (b->conf.rpc_timeout_ms % 1000) * 1000;

    b->conn = amqp_new_connection();
    if (!b->conn) {
        set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    if (b->tls) {
        sock = amqp_ssl_socket_new(b->conn);
        if (!sock) {
            set_err(b, "cannot set up TLS (OpenSSL initialisation failed)");
            rc = BROKER_ETLS;
            goto fail;
        }
        /* rabbitmq-c loads no trust store by itself: without a CA file,
         * verify against the system's bundle */
        const char *ca = b->conf.tls_ca_file;
        if (!ca && !b->conf.tls_no_verify_peer && access(SYSTEM_CA_BUNDLE, R_OK) == 0)
            ca = SYSTEM_CA_BUNDLE;
        if (ca && (st = amqp_ssl_socket_set_cacert(sock, ca)) != AMQP_STATUS_OK) {
            set_err(b, "cannot load TLS CA file '%s': %s", ca, lib_error(st));
            rc = BROKER_ETLS;
            goto fail;
        }
        if (b->conf.tls_cert_file &&
            (st = amqp_ssl_socket_set_key(sock, b->conf.tls_cert_file, b->conf.tls_key_file)) !=
                AMQP_STATUS_OK) {
            set_err(b, "cannot load TLS client certificate '%s' / key '%s': %s",
                    b->conf.tls_cert_file, b->conf.tls_key_file, lib_error(st));
            rc = BROKER_ETLS;
            goto fail;
        }
        amqp_ssl_socket_set_verify_peer(sock, !b->conf.tls_no_verify_peer);
        amqp_ssl_socket_set_verify_hostname(sock, !b->conf.tls_no_verify_hostname);
    } else {
        sock = amqp_tcp_socket_new(b->conn);
        if (!sock) {
            set_err(b, "out of memory");
            rc = BROKER_ENOMEM;
            goto fail;
        }
    }
    amqp_set_handshake_timeout(b->conn, &ctv);
    amqp_set_rpc_timeout(b->conn, &rtv);
    st = amqp_socket_open_noblock(sock, b->host, b->port, &ctv);
    if (st != AMQP_STATUS_OK) {
        rc = open_failed(b, st);
        goto fail;
    }

    {
        amqp_table_entry_t caps[5], props[4];
        amqp_table_t caps_t, props_t;
        caps[0] = entry_bool("consumer_cancel_notify", 1);
        caps[1] = entry_bool("connection.blocked", 1);
        caps[2] = entry_bool("basic.nack", 1);
        caps[3] = entry_bool("publisher_confirms", 1);
        caps[4] = entry_bool("authentication_failure_close", 1);
        caps_t.num_entries = 5;
        caps_t.entries = caps;
        props[0] = entry_str("product", "docker-dispatch");
        props[1] = entry_str("connection_name", b->conf.connection_name);
        props[2].key = amqp_cstring_bytes("capabilities");
        props[2].value.kind = AMQP_FIELD_KIND_TABLE;
        props[2].value.value.table = caps_t;
        props[3] = entry_str("role", b->conf.role == BROKER_ROLE_NODE ? "node" : "client");
        props_t.num_entries = 4;
        props_t.entries = props;
        amqp_rpc_reply_t r =
            amqp_login_with_properties(b->conn, b->vhost, 0, FRAME_MAX, b->conf.heartbeat, &props_t,
                                       AMQP_SASL_METHOD_PLAIN, b->user, b->pass);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            rc = login_failed(b, r);
            goto fail;
        }
    }
    b->channel_max = amqp_get_channel_max(b->conn);
    if (b->channel_max <= 0 || b->channel_max > 65535)
        b->channel_max = 65535;
    if (b->channel_max < 2) {
        set_err(b, "the broker allows fewer than 2 channels per connection");
        rc = BROKER_EPROTO;
        goto fail;
    }
    b->up = 1;
    b->last_wait = now_ms();
    b->last_ch = 0;
    b->blocked = 0;
    b->close_code = 0;
    rc = open_main(b, 1);
    if (rc < 0)
        return rc; /* open_main tore the connection down, keeping the reason */
    b->err[0] = '\0';
    return 0;
fail:
    b->up = 0;
    teardown_keep_reason(b);
    return rc;
}

int broker_open(const broker_conf *conf, broker **out, char **cause)
{
    broker *b = NULL;
    int rc;
    if (out)
        *out = NULL;
    rc = broker_new(conf, &b, cause);
    if (rc < 0)
        return rc;
    rc = broker_connect(b);
    if (rc < 0) {
        set_cause(cause, b->err);
        broker_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void broker_free(broker *b)
{
    if (!b)
        return;
    teardown(b);
    for (size_t i = 0; i < b->dq_len; i++)
        broker_delivery_cleanup(&b->dq[i]);
    free(b->dq);
    free(b->pend);
    if (b->pass)
        explicit_bzero(b->pass, strlen(b->pass));
    free(b->pass);
    free(b->s_url);
    free(b->s_queue);
    free(b->s_node);
    free(b->s_conn_name);
    free(b->s_ca);
    free(b->s_cert);
    free(b->s_key);
    free(b->host);
    free(b->user);
    free(b->vhost);
    free(b->redacted);
    free(b->n_work);
    free(b->n_dead);
    free(b->n_dlx);
    free(b->n_node);
    free(b->n_owner);
    free(b->n_events);
    free(b->watch_pattern);
    free(b);
}

const char *broker_error(const broker *b)
{
    return b ? b->err : "no broker handle";
}

const char *broker_url_redacted(const broker *b)
{
    return b && b->redacted ? b->redacted : "";
}

int broker_connected(const broker *b)
{
    return b && b->up && b->ch;
}

int broker_blocked(const broker *b)
{
    return b ? b->blocked : 0;
}

uint32_t broker_generation(const broker *b)
{
    return b ? b->generation : 0;
}

const char *broker_name_work(const broker *b)
{
    return b->n_work;
}

const char *broker_name_dead(const broker *b)
{
    return b->n_dead;
}

const char *broker_name_dlx(const broker *b)
{
    return b->n_dlx;
}

const char *broker_name_node(const broker *b)
{
    return b->n_node;
}

const char *broker_name_events(const broker *b)
{
    return b->n_events;
}

/* ------------------------------------------------------------------------
 * Consuming
 * ------------------------------------------------------------------------ */

/* Queued deliveries first; then frames until a delivery is queued or the
 * deadline passes.  Channel losses are repaired before returning. */
/* broker_poll() without the argument check; wake_armed is set. */
static int poll_once(broker *b, int timeout_ms, broker_delivery *out)
{
    int64_t deadline;
    int rc;

    delivery_init(out);
    if (b->dq_len) {
        dq_take(b, 0, out);
        return 1;
    }
    if (!b->up) {
        set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    if ((rc = maintain(b)) < 0)
        return rc;
    deadline = deadline_after(timeout_ms);
    for (;;) {
        rc = pump(b, deadline);
        if (rc < 0) {
            if (b->up && !b->ch) {
                int r2 = maintain(b);
                if (r2 < 0)
                    return r2;
                return BROKER_ECHANNEL;
            }
            return rc;
        }
        if (b->resubscribe && (rc = maintain(b)) < 0)
            return rc;
        if (b->dq_len) {
            dq_take(b, 0, out);
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
        set_err(b, "delivery tag belongs to an earlier connection or channel: ignored (the "
                   "broker has requeued that message)");
        return BROKER_ESTALE;
    }
    if (ack)
        st = amqp_basic_ack(b->conn, b->ch, tag & TAG_MASK, 0);
    else
        st = amqp_basic_nack(b->conn, b->ch, tag & TAG_MASK, 0, requeue != 0);
    if (st != AMQP_STATUS_OK)
        return lib_failed(b, ack ? "acknowledging a message" : "rejecting a message", st);
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

int broker_consume_pause(broker *b)
{
    int rc;
    if (!b || b->conf.role != BROKER_ROLE_NODE)
        return BROKER_EINVAL;
    b->paused = 1;
    if (!b->up || !b->ch)
        return 0;
    if (b->work_on) {
        if ((rc = cancel(b, CT_WORK)) < 0)
            return rc;
        b->work_on = 0;
    }
    if (b->node_on) {
        if ((rc = cancel(b, CT_NODE)) < 0)
            return rc;
        b->node_on = 0;
    }
    return 0;
}

int broker_consume_resume(broker *b)
{
    int rc;
    if (!b || b->conf.role != BROKER_ROLE_NODE)
        return BROKER_EINVAL;
    b->paused = 0;
    if (!b->up)
        return 0;
    if ((rc = maintain(b)) < 0)
        return rc;
    return subscribe(b);
}

int broker_consume_paused(const broker *b)
{
    return b ? b->paused : 0;
}

/* Starts the consumers just asked for now, if connected (else on the
 * next connect). */
static int subscribe_now(broker *b)
{
    int rc;
    if (!b->up) {
        set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    if ((rc = maintain(b)) < 0)
        return rc;
    return subscribe(b);
}

int broker_rpc_begin(broker *b)
{
    if (!b)
        return BROKER_EINVAL;
    b->rpc_wanted = 1;
    return subscribe_now(b);
}

int broker_watch(broker *b, const char *pattern)
{
    if (!b || !pattern || strlen(pattern) > MAX_NAME)
        return BROKER_EINVAL;
    if (b->watch_pattern == NULL || strcmp(b->watch_pattern, pattern) != 0) {
        if (b->watch_on) {
            set_err(b, "already watching '%s'", b->watch_pattern);
            return BROKER_EINVAL;
        }
        char *p = strdup(pattern);
        if (p == NULL) {
            set_err(b, "out of memory");
            return BROKER_ENOMEM;
        }
        free(b->watch_pattern);
        b->watch_pattern = p;
    }
    return subscribe_now(b);
}

/* ------------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------------ */

/* Closes the main channel from our side.  Used after a confirm timeout:
 * confirms and returns carry no trace of the publish they belong to beyond
 * the channel's sequence, so a late one must not meet the next publish.
 * The channel's unacked deliveries go back to their queues (new
 * generation); maintain() opens the next channel. */
static int retire_main(broker *b)
{
    amqp_channel_t old = b->ch;
    int rc;
    if (!b->up || !old)
        return 0;
    rc = rpc_check(b, amqp_channel_close(b->conn, old, AMQP_REPLY_SUCCESS), old,
                   "closing the channel after a confirm timeout");
    if (rc == BROKER_ECONNLOST || rc == BROKER_EPROTO)
        return rc;
    b->ch = 0;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    dq_drop_acked(b);
    return maintain(b);
}

/* Waits for the confirm of publish b->wait_seq.  0 once acked. */
static int wait_confirm(broker *b, const char *what)
{
    int64_t deadline = deadline_after(b->conf.confirm_timeout_ms);
    int rc;

    while (b->wait_state == CONFIRM_PENDING) {
        rc = pump(b, deadline);
        if (rc < 0) {
            b->wait_seq = 0;
            b->wait_state = CONFIRM_NONE;
            if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN) {
                char keep[BROKER_ERRMAX];
                snprintf(keep, sizeof keep, "%s", b->err);
                set_err(b, "%s: outcome unknown: %s", what, keep);
            }
            return rc;
        }
        if (rc == 0 && b->wait_state == CONFIRM_PENDING) {
            int blocked = b->blocked;
            b->wait_seq = 0;
            b->wait_state = CONFIRM_NONE;
            if ((rc = retire_main(b)) < 0)
                return rc;
            set_err(b,
                    "%s: no confirm from the broker within %d ms%s (outcome unknown; the "
                    "channel was reopened)",
                    what, b->conf.confirm_timeout_ms,
                    blocked ? "; the broker has blocked publishers (resource alarm)" : "");
            return BROKER_ETIMEOUT;
        }
    }
    rc = b->wait_state;
    b->wait_state = CONFIRM_NONE;
    b->wait_seq = 0;
    if (rc == CONFIRM_NACKED) {
        set_err(b, "%s: the broker refused the message (basic.nack)", what);
        return BROKER_ENACKED;
    }
    if (b->wait_returned) {
        set_err(b, "%s: unroutable, no queue took it: %s", what, b->wait_return);
        return BROKER_EUNROUTABLE;
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
    amqp_bytes_t bb;
    char what[2 * MAX_NAME + 64];
    int rc, st;

    if (!b || !routing_key || (len && !body))
        return BROKER_EINVAL;
    if (!exchange)
        exchange = "";
    if (strlen(exchange) > MAX_NAME || strlen(routing_key) > MAX_NAME) {
        set_err(b, "exchange or routing key longer than %d bytes", MAX_NAME);
        return BROKER_EINVAL;
    }
    if (props && props->n_headers > BROKER_MAX_HEADERS) {
        set_err(b, "more than %d headers", BROKER_MAX_HEADERS);
        return BROKER_EINVAL;
    }
    if (!b->up) {
        set_err(b, "not connected to %s", b->redacted);
        return BROKER_ENOTCONN;
    }
    if ((rc = maintain(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "publishing to exchange '%s' with routing key '%s'", exchange,
             routing_key);

    memset(&p, 0, sizeof p);
    if (props) {
        if (props->content_type) {
            p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
            p.content_type = amqp_cstring_bytes(props->content_type);
        }
        if (props->correlation_id) {
            p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
            p.correlation_id = amqp_cstring_bytes(props->correlation_id);
        }
        if (props->message_id) {
            p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
            p.message_id = amqp_cstring_bytes(props->message_id);
        }
        if (props->reply_to) {
            p._flags |= AMQP_BASIC_REPLY_TO_FLAG;
            p.reply_to = amqp_cstring_bytes(props->reply_to);
        }
        if (props->expiration) {
            p._flags |= AMQP_BASIC_EXPIRATION_FLAG;
            p.expiration = amqp_cstring_bytes(props->expiration);
        }
        if (props->type) {
            p._flags |= AMQP_BASIC_TYPE_FLAG;
            p.type = amqp_cstring_bytes(props->type);
        }
        if (props->persistent) {
            p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
            p.delivery_mode = AMQP_DELIVERY_PERSISTENT;
        }
        if (props->n_headers) {
            hdr = calloc(props->n_headers, sizeof *hdr);
            if (!hdr) {
                set_err(b, "out of memory");
                return BROKER_ENOMEM;
            }
            for (size_t i = 0; i < props->n_headers; i++) {
                if (!props->headers[i].key || !props->headers[i].value) {
                    free(hdr);
                    set_err(b, "header %zu has no key or value", i);
                    return BROKER_EINVAL;
                }
                hdr[i] = entry_str(props->headers[i].key, props->headers[i].value);
            }
            p._flags |= AMQP_BASIC_HEADERS_FLAG;
            p.headers.num_entries = (int)props->n_headers;
            p.headers.entries = hdr;
        }
    }
    bb.len = len;
    bb.bytes = (void *)body;

    b->wait_seq = ++b->pub_seq;
    b->wait_state = CONFIRM_PENDING;
    b->wait_returned = 0;
    st = amqp_basic_publish(b->conn, b->ch, amqp_cstring_bytes(exchange),
                            amqp_cstring_bytes(routing_key),
                            (flags & BROKER_PUBLISH_MANDATORY) != 0, 0, &p, bb);
    free(hdr);
    if (st != AMQP_STATUS_OK) {
        rc = lib_failed(b, what, st);
        goto out;
    }
    rc = wait_confirm(b, what);
    if (rc < 0 && b->up && !b->ch) {
        /* the broker closed the channel over this publish (e.g. no such
         * exchange): reopen it, report the publish's error */
        char keep[BROKER_ERRMAX];
        snprintf(keep, sizeof keep, "%s", b->err);
        int r2 = maintain(b);
        if (r2 < 0)
            rc = r2;
        else
            set_err(b, "%s: %s", what, keep);
    }
out:
    return rc;
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
        set_err(b, "only an unsettled delivery from the work or node queue can be dead-lettered");
        return BROKER_EINVAL;
    }
    if (!b->up || !b->ch || (uint32_t)(d->tag >> TAG_BITS) != (b->generation & GEN_MASK)) {
        set_err(b, "delivery belongs to an earlier connection: not dead-lettered (the broker has "
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
    set_err(b, "dead-lettering to '%s' failed, message %s: %s", b->n_dead,
            r2 == 0 ? "requeued" : "left to the broker (it requeues it)", keep);
    return rc;
}

/* Publish with direct reply-to, then pump until the matching reply. */
int broker_call(broker *b, const char *exchange, const char *routing_key, const broker_props *props,
                const void *body, size_t len, int timeout_ms, broker_delivery *reply)
{
    broker_props p;
    char corr[64];
    int64_t deadline;
    int rc;

    if (!b || !reply)
        return BROKER_EINVAL;
    delivery_init(reply);
    if ((rc = broker_rpc_begin(b)) < 0)
        return rc;
    if (props)
        p = *props;
    else
        memset(&p, 0, sizeof p);
    if (!p.correlation_id) {
        snprintf(corr, sizeof corr, "dd-%lx-%lu-%016" PRIx64, (unsigned long)getpid(),
                 ++b->corr_seq, rng_next(b));
        p.correlation_id = corr;
    }
    p.reply_to = BROKER_REPLY_TO;
    rc = broker_publish(b, exchange, routing_key, &p, body, len, BROKER_PUBLISH_MANDATORY);
    if (rc < 0)
        return rc;
    deadline = deadline_after(timeout_ms);
    for (;;) {
        for (size_t i = 0; i < b->dq_len;) {
            broker_delivery *d = &b->dq[i];
            if (d->source != BROKER_SRC_REPLY) {
                i++;
                continue;
            }
            if (d->correlation_id && strcmp(d->correlation_id, p.correlation_id) == 0) {
                dq_take(b, i, reply);
                return 0;
            }
            broker_delivery late; /* answer to an earlier call that gave up */
            dq_take(b, i, &late);
            broker_delivery_cleanup(&late);
        }
        if (deadline >= 0 && now_ms() >= deadline) {
            set_err(b, "no reply within %d ms (correlation id %s)", timeout_ms, p.correlation_id);
            return BROKER_ETIMEOUT;
        }
        rc = pump(b, deadline);
        if (rc < 0) {
            if (b->up && !b->ch) {
                char keep[BROKER_ERRMAX];
                snprintf(keep, sizeof keep, "%s", b->err);
                int r2 = maintain(b);
                if (r2 < 0)
                    return r2;
                set_err(b, "waiting for the reply: %s", keep);
                return BROKER_ECHANNEL;
            }
            return rc;
        }
        if (b->resubscribe && (rc = maintain(b)) < 0)
            return rc;
    }
}

/* ------------------------------------------------------------------------
 * Reconnecting
 * ------------------------------------------------------------------------ */

/* Backoff: attempt n waits a uniformly random time in [0, ceiling], the
 * ceiling doubling from reconnect_min_ms up to reconnect_max_ms ("full
 * jitter": nodes that lost the broker together do not return together). */
/* The stop flag may be set by another thread: read it atomically. */
static int stop_requested(const volatile sig_atomic_t *stop)
{
    return stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0;
}

int broker_reconnect(broker *b, const volatile sig_atomic_t *stop)
{
    unsigned attempt = 0;
    int64_t ceiling;
    int rc;

    if (!b)
        return BROKER_EINVAL;
    teardown(b);
    ceiling = b->conf.reconnect_min_ms;
    for (;;) {
        if (stop_requested(stop)) {
            set_err(b, "reconnecting to %s stopped", b->redacted);
            return BROKER_ESTOPPED;
        }
        rc = broker_connect(b);
        if (rc == 0)
            return 0;
        attempt++;
        unsigned delay = (unsigned)(rng_next(b) % (uint64_t)(ceiling + 1));
        if (b->conf.on_retry)
            b->conf.on_retry(b->conf.on_retry_arg, attempt, rc, b->err, delay);
        int64_t until = now_ms() + delay;
        while (!stop_requested(stop)) {
            int64_t left = until - now_ms();
            if (left <= 0)
                break;
            struct timespec ts = {0, (long)(left < 50 ? left : 50) * 1000000L};
            nanosleep(&ts, NULL);
        }
        ceiling *= 2;
        if (ceiling > b->conf.reconnect_max_ms)
            ceiling = b->conf.reconnect_max_ms;
    }
}

/* ------------------------------------------------------------------------
 * Side-channel operations
 * ------------------------------------------------------------------------ */

int broker_queue_counts(broker *b, const char *queue, uint32_t *messages, uint32_t *consumers)
{
    char what[MAX_NAME + 48];
    amqp_queue_declare_ok_t *ok;
    int rc;

    if (!b || !queue || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "inspecting queue '%s'", queue);
    ok = amqp_queue_declare(b->conn, b->side, amqp_cstring_bytes(queue), 1, 0, 0, 0,
                            amqp_empty_table);
    rc = rpc_result(b, b->side, what);
    if (rc < 0)
        return rc;
    if (messages)
        *messages = ok->message_count;
    if (consumers)
        *consumers = ok->consumer_count;
    release_channel(b, b->side);
    return 0;
}

int broker_queue_delete(broker *b, const char *queue)
{
    char what[MAX_NAME + 48];
    int rc;
    if (!b || !queue || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "deleting queue '%s'", queue);
    amqp_queue_delete(b->conn, b->side, amqp_cstring_bytes(queue), 0, 0);
    rc = rpc_result(b, b->side, what);
    if (rc == 0)
        release_channel(b, b->side);
    return rc == BROKER_ENOTFOUND ? 0 : rc;
}

int broker_exchange_delete(broker *b, const char *exchange)
{
    char what[MAX_NAME + 48];
    int rc;
    if (!b || !exchange || strlen(exchange) > MAX_NAME)
        return BROKER_EINVAL;
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "deleting exchange '%s'", exchange);
    amqp_exchange_delete(b->conn, b->side, amqp_cstring_bytes(exchange), 0);
    rc = rpc_result(b, b->side, what);
    if (rc == 0)
        release_channel(b, b->side);
    return rc == BROKER_ENOTFOUND ? 0 : rc;
}

int broker_topology_delete(broker *b)
{
    int rc = 0, r;
    if (!b)
        return BROKER_EINVAL;
    /* our own consumers first, so that the broker's cancels do not make
     * this handle re-declare what is being deleted */
    if (b->conf.role == BROKER_ROLE_NODE && (r = broker_consume_pause(b)) < 0)
        return r;
    const char *queues[] = {b->n_work, b->n_node, b->n_dead};
    for (size_t i = 0; i < 3; i++)
        if (queues[i] && (r = broker_queue_delete(b, queues[i])) < 0 && rc == 0)
            rc = r;
    if ((r = broker_exchange_delete(b, b->n_dlx)) < 0 && rc == 0)
        rc = r;
    if ((r = broker_exchange_delete(b, b->n_events)) < 0 && rc == 0)
        rc = r;
    return rc;
}

/* basic.get on the side channel; the content is read with frames of the
 * main channel set aside; ack (or reject with requeue when over the cap). */
int broker_get(broker *b, const char *queue, broker_delivery *out)
{
    char what[MAX_NAME + 48];
    amqp_rpc_reply_t r;
    int rc, oom = 0, st;

    if (!b || !queue || !out || strlen(queue) > MAX_NAME)
        return BROKER_EINVAL;
    delivery_init(out);
    if ((rc = ensure_side(b)) < 0)
        return rc;
    snprintf(what, sizeof what, "getting a message from '%s'", queue);
    amqp_basic_get(b->conn, b->side, amqp_cstring_bytes(queue), 0);
    if ((rc = rpc_result(b, b->side, what)) < 0)
        return rc;
    r = amqp_get_rpc_reply(b->conn);
    if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
        release_channel(b, b->side);
        return 0;
    }
    const amqp_basic_get_ok_t *g = r.reply.decoded;
    amqp_channel_t side = b->side;
    out->source = BROKER_SRC_GET;
    out->exchange = dupbytes(g->exchange, MAX_NAME, &oom);
    out->routing_key = dupbytes(g->routing_key, MAX_NAME, &oom);
    out->delivery_tag = g->delivery_tag;
    out->redelivered = g->redelivered != 0;
    out->generation = b->generation;
    rc = read_content(b, side, out, !oom);
    if (rc < 0)
        goto fail;
    if (oom || out->oversize) {
        /* leave it in the queue: nothing is lost by looking */
        st = amqp_basic_reject(b->conn, side, out->delivery_tag, 1);
        if (st != AMQP_STATUS_OK) {
            rc = lib_failed(b, what, st);
            goto fail;
        }
        if (oom) {
            set_err(b, "%s: out of memory", what);
            rc = BROKER_ENOMEM;
            goto fail;
        }
        set_err(b, "%s: message of %" PRIu64 " bytes is over the %zu-byte limit; left in the queue",
                what, out->body_size, b->conf.max_body);
        rc = BROKER_ETOOBIG;
        goto fail;
    }
    st = amqp_basic_ack(b->conn, side, out->delivery_tag, 0);
    if (st != AMQP_STATUS_OK) {
        rc = lib_failed(b, what, st);
        goto fail;
    }
    release_channel(b, side);
    return 1;
fail:
    broker_delivery_cleanup(out);
    return rc;
}
