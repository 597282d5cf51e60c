/*
 * rpc_echo.c -- the fair anchor of queued commands: a bare RPC consumer
 * on rabbitmq-c that answers every message, and does nothing else.
 *
 *   rpc_echo AMQP_URL QUEUE [--prefetch N] [--queue-type quorum|classic]
 *                           [--delivery-limit N]
 *
 * It keeps the dispatcher's guarantees on the wire: QUEUE is declared with
 * the arguments the dispatcher gives its work queue (queue_args() in
 * src/broker/topology.c), consumed with the same prefetch and manual acks
 * on a channel in confirm mode.  Each message is answered at once to its
 * reply_to with its correlation id (application/json, persistent, as the
 * dispatcher's replies), and acked only once the broker confirmed that
 * reply.  The reply is {"ok":true,"pad":"x..."} of the length the request
 * asks for in its header x-echo-bytes (a string, default 64): bench_perf
 * asks for the size of the dispatcher's own reply to the same request.
 *
 * Runs until SIGTERM or SIGINT; exit status 0 then, 1 on any failure
 * (the connection or channel closed, a reply refused), 64 on bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include "bench_args.h"

#define CH         1
#define MAX_REPLY  (4 << 20) /* the largest x-echo-bytes honoured */
#define MAX_INTAKE 65535     /* prefetch's upper bound (AMQP's) */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* A reply waiting for its confirm: publish sequence number and the
 * delivery tag of the request it answers. */
typedef struct pending {
    uint64_t seq, tag;
} pending;

typedef struct echo {
    amqp_connection_state_t conn;
    const char *queue, *type;
    int prefetch, delivery_limit;
    uint64_t seq;  /* the last reply's publish sequence number */
    pending *wait; /* replies not confirmed yet (at most prefetch) */
    int nwait;
    char *reply; /* the reply body's buffer */
    size_t reply_cap;
} echo;

/* 0 when r is a normal reply, else -1 with what and why on stderr. */
static int rpc_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        fprintf(stderr, "rpc_echo: %s: %s\n", what, amqp_error_string2(r.library_error));
    else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD ||
             r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        /* both close methods start with reply_code, reply_text */
        const amqp_channel_close_t *c = r.reply.decoded;
        fprintf(stderr, "rpc_echo: %s: %u %.*s\n", what, c->reply_code, (int)c->reply_text.len,
                (const char *)c->reply_text.bytes);
    } else
        fprintf(stderr, "rpc_echo: %s: broker answered method 0x%08x\n", what, r.reply.id);
    return -1;
}

static amqp_table_entry_t entry_str(const char *k, const char *v)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(k)};
    e.value.kind = AMQP_FIELD_KIND_UTF8;
    e.value.value.bytes = amqp_cstring_bytes(v);
    return e;
}

/* The work queue's arguments, as queue_args() in src/broker/topology.c
 * gives them for a typed queue; bench_perf has a dispatcher declare the
 * queue first, so a difference fails this program's declaration. */
static int declare(echo *e)
{
    char dlx[300];
    snprintf(dlx, sizeof dlx, "%s.dlx", e->queue);
    amqp_table_entry_t a[5];
    int n = 0;
    a[n++] = entry_str("x-queue-type", e->type);
    a[n++] = entry_str("x-dead-letter-exchange", dlx);
    if (!strcmp(e->type, "quorum")) {
        a[n] = (amqp_table_entry_t){.key = amqp_cstring_bytes("x-delivery-limit")};
        a[n].value.kind = AMQP_FIELD_KIND_I64;
        a[n++].value.value.i64 = e->delivery_limit;
        a[n++] = entry_str("x-dead-letter-strategy", "at-least-once");
        a[n++] = entry_str("x-overflow", "reject-publish");
    }
    amqp_table_t args = {.num_entries = n, .entries = a};
    amqp_queue_declare(e->conn, CH, amqp_cstring_bytes(e->queue), 0, 1, 0, 0, args);
    return rpc_ok(amqp_get_rpc_reply(e->conn), "declaring the queue");
}

/* Connects, opens the channel in confirm mode, declares the queue, sets
 * the prefetch and consumes with manual acks.  0 or -1 (said why). */
static int echo_open(echo *e, const char *url)
{
    struct amqp_connection_info ci;
    char *u = strdup(url);
    if (u == NULL || amqp_parse_url(u, &ci) != AMQP_STATUS_OK) {
        fprintf(stderr, "rpc_echo: bad AMQP URL\n");
        free(u);
        return -1;
    }
    e->conn = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(e->conn);
    int st = s ? amqp_socket_open(s, ci.host, ci.port) : AMQP_STATUS_NO_MEMORY;
    if (st != AMQP_STATUS_OK) {
        fprintf(stderr, "rpc_echo: connecting: %s\n", amqp_error_string2(st));
        free(u);
        return -1;
    }
    /* amqp://host/ names the empty vhost: the default one, as the
     * dispatcher reads it.  No heartbeat: the dispatcher's (30 s) costs
     * nothing at these rates. */
    const char *vhost = ci.vhost && *ci.vhost ? ci.vhost : "/";
    amqp_rpc_reply_t r =
        amqp_login(e->conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
    free(u);
    if (rpc_ok(r, "logging in") != 0)
        return -1;
    amqp_channel_open(e->conn, CH);
    if (rpc_ok(amqp_get_rpc_reply(e->conn), "opening the channel") != 0)
        return -1;
    amqp_confirm_select(e->conn, CH);
    if (rpc_ok(amqp_get_rpc_reply(e->conn), "enabling confirms") != 0 || declare(e) != 0)
        return -1;
    amqp_basic_qos(e->conn, CH, 0, (uint16_t)e->prefetch, 0);
    if (rpc_ok(amqp_get_rpc_reply(e->conn), "setting the prefetch") != 0)
        return -1;
    amqp_basic_consume(e->conn, CH, amqp_cstring_bytes(e->queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return rpc_ok(amqp_get_rpc_reply(e->conn), "consuming");
}

/* The reply length a request asks for (header x-echo-bytes), else 64. */
static size_t asked_bytes(const amqp_basic_properties_t *p)
{
    if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
        return 64;
    for (int i = 0; i < p->headers.num_entries; i++) {
        const amqp_table_entry_t *h = &p->headers.entries[i];
        if (h->key.len != 12 || memcmp(h->key.bytes, "x-echo-bytes", 12) != 0 ||
            h->value.kind != AMQP_FIELD_KIND_UTF8)
            continue;
        char num[24];
        size_t n =
            h->value.value.bytes.len < sizeof num - 1 ? h->value.value.bytes.len : sizeof num - 1;
        memcpy(num, h->value.value.bytes.bytes, n);
        num[n] = '\0';
        long v = strtol(num, NULL, 10);
        return v < 0 ? 64 : v > MAX_REPLY ? MAX_REPLY : (size_t)v;
    }
    return 64;
}

/* Fills e->reply with {"ok":true,"pad":"x..."} of n bytes (at least the
 * frame's 20); its length, or 0 without memory. */
static size_t reply_body(echo *e, size_t n)
{
    static const char head[] = "{\"ok\":true,\"pad\":\"", tail[] = "\"}";
    size_t fixed = sizeof head - 1 + sizeof tail - 1;
    if (n < fixed)
        n = fixed;
    if (n > e->reply_cap) {
        char *r = realloc(e->reply, n);
        if (r == NULL)
            return 0;
        e->reply = r;
        e->reply_cap = n;
    }
    memcpy(e->reply, head, sizeof head - 1);
    memset(e->reply + sizeof head - 1, 'x', n - fixed);
    memcpy(e->reply + n - (sizeof tail - 1), tail, sizeof tail - 1);
    return n;
}

/* Reads the delivery whose basic.deliver is f and publishes its reply;
 * the request waits in e->wait for the reply's confirm.  0 or -1. */
static int answer(echo *e, const amqp_frame_t *f)
{
    uint64_t tag = ((amqp_basic_deliver_t *)f->payload.method.decoded)->delivery_tag;
    amqp_message_t m;
    if (rpc_ok(amqp_read_message(e->conn, f->channel, &m, 0), "reading a message") != 0)
        return -1;
    const amqp_basic_properties_t *in = &m.properties;
    int rc = -1;
    size_t len = reply_body(e, asked_bytes(in));
    const char *bad = len == 0                                   ? "out of memory"
                      : !(in->_flags & AMQP_BASIC_REPLY_TO_FLAG) ? "a message without reply_to"
                      : e->nwait >= e->prefetch ? "more unacked messages than the prefetch"
                                                : NULL;
    if (bad != NULL) {
        fprintf(stderr, "rpc_echo: %s\n", bad);
        goto out;
    }
    amqp_basic_properties_t p = {.content_type = amqp_cstring_bytes("application/json"),
                                 .delivery_mode = AMQP_DELIVERY_PERSISTENT};
    p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    if (in->_flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
        p._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        p.correlation_id = in->correlation_id;
    }
    amqp_bytes_t body = {.len = len, .bytes = e->reply};
    int st = amqp_basic_publish(e->conn, CH, amqp_empty_bytes, in->reply_to, 0, 0, &p, body);
    if (st != AMQP_STATUS_OK) {
        fprintf(stderr, "rpc_echo: publishing a reply: %s\n", amqp_error_string2(st));
        goto out;
    }
    e->wait[e->nwait++] = (pending){.seq = ++e->seq, .tag = tag};
    rc = 0;
out:
    amqp_destroy_message(&m);
    return rc;
}

/* A confirm of replies up to seq (multiple) or of seq alone: acks the
 * requests they answer.  0 or -1. */
static int confirmed(echo *e, uint64_t seq, int multiple)
{
    for (int i = 0; i < e->nwait;) {
        if (e->wait[i].seq == seq || (multiple && e->wait[i].seq < seq)) {
            if (amqp_basic_ack(e->conn, CH, e->wait[i].tag, 0) != AMQP_STATUS_OK) {
                fprintf(stderr, "rpc_echo: acking a request failed\n");
                return -1;
            }
            e->wait[i] = e->wait[--e->nwait];
        } else {
            i++;
        }
    }
    return 0;
}

/* Waits up to 100 ms for a frame and handles it.  0, or -1 when the
 * broker refused a reply or closed the channel or connection. */
static int step(echo *e)
{
    amqp_frame_t f;
    struct timeval tv = {0, 100 * 1000};
    amqp_maybe_release_buffers(e->conn);
    int st = amqp_simple_wait_frame_noblock(e->conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    if (st != AMQP_STATUS_OK) {
        fprintf(stderr, "rpc_echo: reading: %s\n", amqp_error_string2(st));
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0; /* heartbeats */
    switch (f.payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD:
        return answer(e, &f);
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f.payload.method.decoded;
        return confirmed(e, a->delivery_tag, a->multiple);
    }
    case AMQP_BASIC_NACK_METHOD:
        fprintf(stderr, "rpc_echo: the broker refused a reply (basic.nack)\n");
        return -1;
    default:
        fprintf(stderr, "rpc_echo: the broker sent method 0x%08x (channel or connection closed?)\n",
                f.payload.method.id);
        return -1;
    }
}

/* Reads the command line into e; 0, or -1 on bad usage. */
static int parse_args(int argc, char **argv, echo *e)
{
    if (argc < 3)
        return -1;
    e->queue = argv[2];
    e->type = "quorum";
    e->prefetch = 16;
    e->delivery_limit = 5; /* the dispatcher's default --delivery-limit */
    for (int i = 3; i < argc; i += 2) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = v == NULL;
        if (!bad && !strcmp(o, "--prefetch"))
            bad = int_arg(v, 1, MAX_INTAKE, &e->prefetch);
        else if (!bad && !strcmp(o, "--delivery-limit"))
            bad = int_arg(v, 1, 1000000, &e->delivery_limit);
        else if (!bad && !strcmp(o, "--queue-type") &&
                 (!strcmp(v, "quorum") || !strcmp(v, "classic")))
            e->type = v;
        else
            bad = 1;
        if (bad)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    echo e = {0};
    if (parse_args(argc, argv, &e) != 0) {
        fprintf(stderr, "usage: rpc_echo AMQP_URL QUEUE [--prefetch N] "
                        "[--queue-type quorum|classic] [--delivery-limit N]\n");
        return 64;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    e.wait = calloc((size_t)e.prefetch, sizeof *e.wait);
    int rc = e.wait != NULL && echo_open(&e, argv[1]) == 0 ? 0 : 1;
    while (rc == 0 && !g_stop)
        rc = step(&e) == 0 ? 0 : 1;
    if (e.conn != NULL) {
        amqp_connection_close(e.conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(e.conn);
    }
    free(e.wait);
    free(e.reply);
    return rc;
}
