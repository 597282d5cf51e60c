/*
 * broker.c -- the dispatcher's AMQP connection on rabbitmq-c 0.11.
 *
 * DESIGN.  One handle, one owning thread, one connection.  The main channel
 * (confirm mode) carries all consumers, publishes and acks.  A side channel,
 * opened on demand, carries passive declares, deletes and basic.get.  A 404
 * there closes only that channel, so it never costs the consumers.
 *
 * Frames are read by hand.  rabbitmq-c 0.11 has no confirm wait, and
 * amqp_consume_message() gives up with AMQP_STATUS_UNEXPECTED_STATE on every
 * frame that is not a delivery.  So every wait here goes through pump(),
 * which takes one frame and dispatches it.
 *   `basic.deliver`: read the content into an owned broker_delivery, queue it.
 *   `basic.ack`, `basic.nack`: confirms, maybe `multiple`.
 *   `basic.return`: remember it for the publish in flight.
 *   `basic.cancel`: the broker dropped a consumer; re-declare, re-subscribe.
 *   `channel.close`: answer, reopen the channel, new generation.
 *   `connection.close`: answer, report why.
 *   `connection.blocked`, `connection.unblocked`.
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
 * the main channel that the library queued meanwhile.  Those are set aside
 * (b->pend) and handed to pump() first.  A channel's pool is recycled only
 * when neither the library nor b->pend holds a frame of it.
 *
 * Synchronous methods (declare, consume, ...) go through amqp_simple_rpc,
 * which queues unrelated frames inside the library; pump() sees them later
 * in order.
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
int64_t brk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms; negative timeouts mean "never" (-1). */
int64_t brk_deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : brk_now_ms() + timeout_ms;
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A NUL-terminated malloc'd copy of an AMQP byte string, at most cap bytes;
 * NULL for an absent (NULL) string or on allocation failure (*oom set). */
char *brk_dupbytes(amqp_bytes_t v, size_t cap, int *oom)
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
void brk_append_escaped(char *dst, size_t cap, const void *src, size_t len)
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
const char *brk_server_text(broker *b, amqp_bytes_t t, char *buf, size_t cap)
{
    buf[0] = '\0';
    brk_append_escaped(buf, cap, t.bytes, t.len);
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

void brk_set_err(broker *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
}

uint64_t brk_rng_next(broker *b)
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
uint32_t brk_next_generation(broker *b)
{
    b->generation++;
    if ((b->generation & GEN_MASK) == 0)
        b->generation++;
    return b->generation;
}

/* The opaque tag for the broker's delivery tag on the current channel. */
uint64_t brk_tag_encode(const broker *b, uint64_t server_tag)
{
    return ((uint64_t)(b->generation & GEN_MASK) << TAG_BITS) | (server_tag & TAG_MASK);
}

/* Marks the connection unusable (reason already in b->err).  The library
 * state is destroyed later by teardown(). */
void brk_conn_lost(broker *b)
{
    b->up = 0;
    b->ch = 0;
    b->side = 0;
    b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
    if (b->wait_state == CONFIRM_PENDING)
        b->wait_state = CONFIRM_NONE;
    b->wait_seq = 0;
    b->batch_n = 0; /* the batch's outcomes are unknown */
    brk_dq_drop_acked(b);
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
    brk_conn_lost(b);
}

/* teardown() that keeps the reason in b->err (the polite close in it may
 * fail and overwrite it). */
void brk_teardown_keep_reason(broker *b)
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
int brk_lib_failed(broker *b, const char *what, int status)
{
    if (status == AMQP_STATUS_HEARTBEAT_TIMEOUT)
        brk_set_err(b,
                    "%s: no traffic from the broker for two heartbeat intervals (%d s): "
                    "connection considered dead",
                    what, 2 * b->conf.heartbeat);
    else
        brk_set_err(b, "%s: %s", what, lib_error(status));
    brk_conn_lost(b);
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
int brk_on_connection_close(broker *b, const char *what, const amqp_connection_close_t *m)
{
    char txt[256];
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(b->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    brk_set_err(b, "%s: connection closed by the broker: %u %s", what, m->reply_code,
                brk_server_text(b, m->reply_text, txt, sizeof txt));
    brk_conn_lost(b);
    return BROKER_ECONNLOST;
}

/* The broker closed channel ch (channel.close m): answer it and forget the
 * channel.  A closed main channel loses its consumers and unacked
 * deliveries (requeued by the broker); brk_maintain() reopens it.  Returns the
 * mapped error (BROKER_ENOTFOUND, BROKER_EACCESS, BROKER_ECHANNEL). */
int brk_on_channel_close(broker *b, amqp_channel_t ch, const char *what,
                         const amqp_channel_close_t *m)
{
    char txt[256];
    amqp_channel_close_ok_t ok = {0};
    int rc = amqp_send_method(b->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    b->close_code = m->reply_code;
    brk_set_err(b, "%s: %s", what, brk_server_text(b, m->reply_text, txt, sizeof txt));
    if (ch == b->ch) {
        b->ch = 0;
        b->work_on = b->node_on = b->reply_on = b->watch_on = 0;
        if (b->wait_state == CONFIRM_PENDING)
            b->wait_state = CONFIRM_NONE;
        b->wait_seq = 0;
        b->batch_n = 0;
        brk_dq_drop_acked(b);
    } else if (ch == b->side) {
        b->side = 0;
    }
    if (rc != AMQP_STATUS_OK) {
        brk_conn_lost(b);
        return BROKER_ECONNLOST;
    }
    return map_close_code(m->reply_code);
}

/* Interprets reply r of a synchronous method on channel ch ("what" names
 * it in messages).  Returns 0, a mapped channel error (the
 * channel is then closed), or BROKER_ECONNLOST. */
int brk_rpc_check(broker *b, amqp_rpc_reply_t r, amqp_channel_t ch, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return brk_lib_failed(b, what, r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            return brk_on_connection_close(b, what, r.reply.decoded);
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
            return brk_on_channel_close(b, ch, what, r.reply.decoded);
        brk_set_err(b, "%s: unexpected method 0x%08x from the broker", what, r.reply.id);
        brk_conn_lost(b);
        return BROKER_EPROTO;
    default:
        brk_set_err(b, "%s: no reply", what);
        brk_conn_lost(b);
        return BROKER_EPROTO;
    }
}

/* brk_rpc_check() on the reply the library keeps for the last method. */
int brk_rpc_result(broker *b, amqp_channel_t ch, const char *what)
{
    return brk_rpc_check(b, amqp_get_rpc_reply(b->conn), ch, what);
}

/* The next free channel number for this connection. */
amqp_channel_t brk_alloc_channel(broker *b)
{
    amqp_channel_t c;
    do {
        c = (amqp_channel_t)(b->last_ch % b->channel_max + 1);
        b->last_ch = c;
    } while (c == b->ch || c == b->side);
    return c;
}

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

/* Makes endpoint i the one connections go to. */
static void use_endpoint(broker *b, size_t i)
{
    broker_url *u = &b->eps[i];
    b->cur_ep = i;
    b->host = u->host;
    b->user = u->user;
    b->pass = u->pass;
    b->vhost = u->vhost;
    b->port = u->port;
    b->tls = u->tls;
    b->redacted = u->redacted;
}

/* Parses the URL, or the comma-separated URLs (the nodes of a RabbitMQ
 * cluster, tried in turn), into b->eps (host, port, user, password,
 * vhost, TLS and the redacted form; broker_url.c) and uses the first.
 * Passwords live only there. */
static int parse_url(broker *b, char *url)
{
    size_t n = 1;
    for (const char *p = url; *p; p++)
        n += *p == ',';
    b->eps = calloc(n, sizeof *b->eps);
    if (!b->eps) {
        brk_set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    char *save = NULL;
    for (char *one = strtok_r(url, ",", &save); one; one = strtok_r(NULL, ",", &save)) {
        while (*one == ' ')
            one++;
        char err[BROKER_ERRMAX];
        int rc = broker__url_parse(one, &b->eps[b->n_eps], err, sizeof err);
        if (rc != 0) {
            brk_set_err(b, "%s", err);
            return rc;
        }
        b->n_eps++;
    }
    if (b->n_eps == 0) {
        brk_set_err(b, "the AMQP URL is empty");
        return BROKER_EURL;
    }
    use_endpoint(b, 0);
    return 0;
}

/* Checks the configuration: 0, or BROKER_EINVAL with the reason set. */
static int check_conf(broker *b, const broker_conf *conf)
{
    if (!conf->url || !conf->queue || !conf->queue[0]) {
        brk_set_err(b, "an AMQP URL and a queue name are required");
        return BROKER_EINVAL;
    }
    if (conf->role != BROKER_ROLE_NODE && conf->role != BROKER_ROLE_CLIENT) {
        brk_set_err(b, "unknown role %d", (int)conf->role);
        return BROKER_EINVAL;
    }
    if (conf->role == BROKER_ROLE_NODE && (!conf->node || !conf->node[0])) {
        brk_set_err(b, "the node role needs a node name");
        return BROKER_EINVAL;
    }
    if (conf->queue_type != BROKER_QUEUE_QUORUM && conf->queue_type != BROKER_QUEUE_CLASSIC) {
        brk_set_err(b, "unknown queue type %d", (int)conf->queue_type);
        return BROKER_EINVAL;
    }
    if (conf->queue_type == BROKER_QUEUE_QUORUM && conf->delivery_limit < 1) {
        brk_set_err(b, "a quorum queue needs a delivery limit of at least 1 (got %d)",
                    conf->delivery_limit);
        return BROKER_EINVAL;
    }
    if (conf->prefetch < 1 || conf->prefetch > 65535) {
        brk_set_err(b, "prefetch must be 1..65535 (got %d)", conf->prefetch);
        return BROKER_EINVAL;
    }
    if (conf->heartbeat < 0 || conf->heartbeat > 65535 || conf->connect_timeout_ms <= 0 ||
        conf->rpc_timeout_ms <= 0 || conf->confirm_timeout_ms <= 0 || conf->reconnect_min_ms <= 0 ||
        conf->reconnect_max_ms < conf->reconnect_min_ms || conf->max_body == 0) {
        brk_set_err(b, "heartbeat, timeouts, backoff or max_body out of range");
        return BROKER_EINVAL;
    }
    if (strlen(conf->queue) + (conf->node ? strlen(conf->node) + 12 : 6) > MAX_NAME) {
        brk_set_err(b, "queue name and node name are too long (queue names are at most %d bytes)",
                    MAX_NAME);
        return BROKER_EINVAL;
    }
    if ((conf->tls_cert_file == NULL) != (conf->tls_key_file == NULL)) {
        brk_set_err(b, "a TLS client certificate needs its key, and the other way round");
        return BROKER_EINVAL;
    }
    return 0;
}

/* Copies the strings of conf and derives the names of the topology from
 * the queue and node: 0, or BROKER_ENOMEM. */
static int copy_names(broker *b, const broker_conf *conf)
{
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
    b->n_containers = join3(conf->queue, ".containers", "");
    b->n_all = join3(conf->queue, ".all", "");
    if (conf->node)
        b->n_node = join3(conf->queue, ".node.", conf->node);
    if (b->n_node)
        b->n_owner = join3(b->n_node, ".owner", "");
    if (!b->s_url || !b->s_queue || (conf->node && (!b->s_node || !b->n_node || !b->n_owner)) ||
        (conf->tls_ca_file && !b->s_ca) || (conf->tls_cert_file && !b->s_cert) ||
        (conf->tls_key_file && !b->s_key) || !b->s_conn_name || !b->n_work || !b->n_dead ||
        !b->n_dlx || !b->n_events || !b->n_containers || !b->n_all) {
        brk_set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    return 0;
}

/* Copies and checks the configuration, derives the names. */
static int setup(broker *b, const broker_conf *conf)
{
    b->conf = *conf;
    int rc = check_conf(b, conf);
    if (rc == 0)
        rc = copy_names(b, conf);
    if (rc != 0)
        return rc;
    b->conf.url = NULL; /* only b->pass keeps the secret */
    b->conf.queue = b->s_queue;
    b->conf.node = b->s_node;
    b->conf.connection_name = b->s_conn_name;
    b->conf.tls_ca_file = b->s_ca;
    b->conf.tls_cert_file = b->s_cert;
    b->conf.tls_key_file = b->s_key;
    size_t url_len = strlen(b->s_url);
    rc = parse_url(b, b->s_url);
    /* the URL copy holds the password in clear: drop it now */
    explicit_bzero(b->s_url, url_len);
    free(b->s_url);
    b->s_url = NULL;
    if (rc < 0)
        return rc;
    b->dq_cap = 2 * (size_t)conf->prefetch + BROKER_REPLY_SLACK;
    b->dq = calloc(b->dq_cap, sizeof *b->dq);
    if (!b->dq) {
        brk_set_err(b, "out of memory");
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
    if (!b) {
        set_cause(cause, "out of memory");
        return BROKER_ENOMEM;
    }
    b->wake_fd = -1;
    if (getrandom(&b->rng, sizeof b->rng, GRND_NONBLOCK) != (ssize_t)sizeof b->rng)
        b->rng = (uint64_t)brk_now_ms() ^ ((uint64_t)getpid() << 32);
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
        brk_set_err(b, "cannot reach the broker at %s: host name '%s' does not resolve", ep,
                    b->host);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_TIMEOUT:
        brk_set_err(b, "cannot reach the broker at %s: connect timed out after %d ms", ep,
                    b->conf.connect_timeout_ms);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_SOCKET_ERROR:
    case AMQP_STATUS_TCP_ERROR:
    case AMQP_STATUS_CONNECTION_CLOSED:
    case AMQP_STATUS_SOCKET_CLOSED:
        /* the library connects non-blocking and drops SO_ERROR: no errno */
        brk_set_err(b, "cannot reach the broker at %s: connection refused or host unreachable", ep);
        return BROKER_EUNREACHABLE;
    case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        brk_set_err(b, "TLS to %s failed: the certificate does not match host name '%s'", ep,
                    b->host);
        return BROKER_ETLS;
    case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
        brk_set_err(b, "TLS to %s failed: the broker's certificate is not trusted%s", ep,
                    b->conf.tls_ca_file ? " by the given CA file" : " (no CA file given)");
        return BROKER_ETLS;
    case AMQP_STATUS_SSL_ERROR:
    case AMQP_STATUS_SSL_CONNECTION_FAILED:
    case AMQP_STATUS_SSL_SET_ENGINE_FAILED:
        brk_set_err(b, "TLS to %s failed: handshake error (%s); is that port TLS?", ep,
                    lib_error(st));
        return BROKER_ETLS;
    default:
        brk_set_err(b, "cannot connect to %s: %s", ep, lib_error(st));
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
        brk_server_text(b, m->reply_text, txt, sizeof txt);
        if (m->reply_code == AMQP_ACCESS_REFUSED) {
            brk_set_err(b,
                        "authentication refused by the broker at %s for user '%s': check the user "
                        "name and password (%s)",
                        ep, b->user, txt);
            return BROKER_EAUTH;
        }
        if (m->reply_code == AMQP_NOT_ALLOWED) {
            brk_set_err(b,
                        "virtual host '%s' at %s does not exist or user '%s' may not use it (%s)",
                        b->vhost, ep, b->user, txt);
            return BROKER_EVHOST;
        }
        brk_set_err(b, "the broker at %s refused the connection: %u %s", ep, m->reply_code, txt);
        return BROKER_EPROTO;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        int st = r.library_error;
        if (st <= AMQP_STATUS_SSL_ERROR && st > _AMQP_STATUS_SSL_NEXT_VALUE) {
            /* the usual cause: a broker that asks for a client certificate */
            brk_set_err(b, "TLS to %s failed during the AMQP handshake: %s%s", ep, lib_error(st),
                        b->conf.tls_cert_file ? ""
                                              : " (does the broker require a client certificate? "
                                                "give one with --amqp-cert and --amqp-key)");
            return BROKER_ETLS;
        }
        if (st == AMQP_STATUS_TIMEOUT) {
            brk_set_err(b, "the broker at %s did not complete the AMQP handshake within %d ms", ep,
                        b->conf.connect_timeout_ms);
            return BROKER_EPROTO;
        }
        brk_set_err(b, "the AMQP handshake with %s failed: %s (is it an AMQP port?%s)", ep,
                    lib_error(st), b->tls ? "" : " a TLS port needs amqps://");
        return BROKER_EPROTO;
    }
    brk_set_err(b, "the AMQP handshake with %s failed", ep);
    return BROKER_EPROTO;
}

/* Makes the TLS socket of b->conn in *out (owned by the connection): the CA
 * file (or the system's bundle), the client certificate and key, peer and
 * host name verification as configured.  0, or BROKER_ETLS with the reason
 * in b->err. */
static int new_tls_socket(broker *b, amqp_socket_t **out)
{
    amqp_socket_t *sock;
    int st;

    sock = amqp_ssl_socket_new(b->conn);
    if (!sock) {
        brk_set_err(b, "cannot set up TLS (OpenSSL initialisation failed)");
        return BROKER_ETLS;
    }
    /* rabbitmq-c loads no trust store by itself: without a CA file,
     * verify against the system's bundle */
    const char *ca = b->conf.tls_ca_file;
    if (!ca && !b->conf.tls_no_verify_peer && access(SYSTEM_CA_BUNDLE, R_OK) == 0)
        ca = SYSTEM_CA_BUNDLE;
    if (ca && (st = amqp_ssl_socket_set_cacert(sock, ca)) != AMQP_STATUS_OK) {
        brk_set_err(b, "cannot load TLS CA file '%s': %s", ca, lib_error(st));
        return BROKER_ETLS;
    }
    if (b->conf.tls_cert_file &&
        (st = amqp_ssl_socket_set_key(sock, b->conf.tls_cert_file, b->conf.tls_key_file)) !=
            AMQP_STATUS_OK) {
        brk_set_err(b, "cannot load TLS client certificate '%s' / key '%s': %s",
                    b->conf.tls_cert_file, b->conf.tls_key_file, lib_error(st));
        return BROKER_ETLS;
    }
    amqp_ssl_socket_set_verify_peer(sock, !b->conf.tls_no_verify_peer);
    amqp_ssl_socket_set_verify_hostname(sock, !b->conf.tls_no_verify_hostname);
    *out = sock;
    return 0;
}

/* Makes the socket of b->conn in *out (owned by the connection): TLS for
 * amqps://, else TCP.  0, or BROKER_ETLS / BROKER_ENOMEM with the reason in
 * b->err. */
static int new_socket(broker *b, amqp_socket_t **out)
{
    if (b->tls)
        return new_tls_socket(b, out);
    *out = amqp_tcp_socket_new(b->conn);
    if (!*out) {
        brk_set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    return 0;
}

/* Sets the handshake and RPC timeouts and opens sock within the connect
 * timeout.  0, or the open_failed() error with the reason in b->err. */
static int open_socket(broker *b, amqp_socket_t *sock)
{
    struct timeval ctv, rtv;
    int st;

    ctv.tv_sec = b->conf.connect_timeout_ms / 1000;
    ctv.tv_usec = (b->conf.connect_timeout_ms % 1000) * 1000;
    rtv.tv_sec = b->conf.rpc_timeout_ms / 1000;
    rtv.tv_usec = (b->conf.rpc_timeout_ms % 1000) * 1000;
    amqp_set_handshake_timeout(b->conn, &ctv);
    amqp_set_rpc_timeout(b->conn, &rtv);
    st = amqp_socket_open_noblock(sock, b->host, b->port, &ctv);
    if (st != AMQP_STATUS_OK)
        return open_failed(b, st);
    return 0;
}

/* Reads the server's "version" property (RabbitMQ: "3.10.8", "4.0.5") into
 * b->server_version and its leading number into b->server_major (0 and ""
 * when it names none).  What the topology declares depends on it. */
static void read_server_version(broker *b)
{
    const amqp_table_t *t = amqp_get_server_properties(b->conn);
    b->server_version[0] = '\0';
    b->server_major = 0;
    for (int i = 0; t != NULL && i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->value.kind != AMQP_FIELD_KIND_UTF8 || e->key.len != 7 ||
            memcmp(e->key.bytes, "version", 7) != 0)
            continue;
        size_t n = e->value.value.bytes.len;
        if (n >= sizeof b->server_version)
            n = sizeof b->server_version - 1;
        memcpy(b->server_version, e->value.value.bytes.bytes, n);
        b->server_version[n] = '\0';
        b->server_major = (int)strtol(b->server_version, NULL, 10);
    }
}

/* Logs in with our client properties: connection_name, role, and the
 * capabilities that make the broker send basic.cancel, basic.nack and
 * connection.blocked.  0, or the login_failed() error with the reason in
 * b->err. */
static int log_in(broker *b)
{
    amqp_table_entry_t caps[5], props[4];
    amqp_table_t caps_t, props_t;
    caps[0] = brk_entry_bool("consumer_cancel_notify", 1);
    caps[1] = brk_entry_bool("connection.blocked", 1);
    caps[2] = brk_entry_bool("basic.nack", 1);
    caps[3] = brk_entry_bool("publisher_confirms", 1);
    caps[4] = brk_entry_bool("authentication_failure_close", 1);
    caps_t.num_entries = 5;
    caps_t.entries = caps;
    props[0] = brk_entry_str("product", "docker-dispatch");
    props[1] = brk_entry_str("connection_name", b->conf.connection_name);
    props[2].key = amqp_cstring_bytes("capabilities");
    props[2].value.kind = AMQP_FIELD_KIND_TABLE;
    props[2].value.value.table = caps_t;
    props[3] = brk_entry_str("role", b->conf.role == BROKER_ROLE_NODE ? "node" : "client");
    props_t.num_entries = 4;
    props_t.entries = props;
    amqp_rpc_reply_t r =
        amqp_login_with_properties(b->conn, b->vhost, 0, FRAME_MAX, b->conf.heartbeat, &props_t,
                                   AMQP_SASL_METHOD_PLAIN, b->user, b->pass);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return login_failed(b, r);
    read_server_version(b);
    return 0;
}

/* Reads the channel limit the broker negotiated into b->channel_max.  0, or
 * BROKER_EPROTO when it allows fewer than the two channels we use. */
static int check_channel_max(broker *b)
{
    b->channel_max = amqp_get_channel_max(b->conn);
    if (b->channel_max <= 0 || b->channel_max > 65535)
        b->channel_max = 65535;
    if (b->channel_max < 2) {
        brk_set_err(b, "the broker allows fewer than 2 channels per connection");
        return BROKER_EPROTO;
    }
    return 0;
}

/* Connect sequence: socket (TLS), login with our client properties
 * (connection_name, capabilities so that the broker sends basic.cancel,
 * basic.nack and connection.blocked), then brk_open_main().  Any failure tears
 * the connection down and keeps the reason. */
/* One attempt at the endpoint in use (broker_connect). */
static int connect_one(broker *b)
{
    amqp_socket_t *sock;
    int rc;

    teardown(b);
    b->err[0] = '\0';

    b->conn = amqp_new_connection();
    if (!b->conn) {
        brk_set_err(b, "out of memory");
        return BROKER_ENOMEM;
    }
    if ((rc = new_socket(b, &sock)) != 0)
        goto fail;
    if ((rc = open_socket(b, sock)) != 0)
        goto fail;
    if ((rc = log_in(b)) != 0)
        goto fail;
    if ((rc = check_channel_max(b)) != 0)
        goto fail;
    b->up = 1;
    b->last_wait = brk_now_ms();
    b->last_ch = 0;
    b->blocked = 0;
    b->close_code = 0;
    rc = brk_open_main(b, 1);
    if (rc < 0)
        return rc; /* brk_open_main tore the connection down, keeping the reason */
    b->err[0] = '\0';
    return 0;
fail:
    b->up = 0;
    brk_teardown_keep_reason(b);
    return rc;
}

int broker_connect(broker *b)
{
    if (!b)
        return BROKER_EINVAL;
    if (b->up && b->ch)
        return 0;
    /* each endpoint once, from the one in use: a node of a RabbitMQ cluster
     * that went away is replaced by the next that answers */
    int rc = BROKER_EUNREACHABLE;
    size_t first = b->cur_ep;
    for (size_t k = 0; k < b->n_eps; k++) {
        use_endpoint(b, (first + k) % b->n_eps);
        rc = connect_one(b);
        if (rc == 0 || rc == BROKER_EINUSE || rc == BROKER_ETOPOLOGY)
            return rc; /* connected, or a refusal no other node would change */
    }
    if (b->n_eps > 1)
        use_endpoint(b, (first + 1) % b->n_eps); /* the next attempt starts elsewhere */
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
    for (size_t i = 0; i < b->n_eps; i++)
        broker__url_cleanup(&b->eps[i]); /* zeroes the password */
    free(b->eps);
    free(b->s_url);
    free(b->s_queue);
    free(b->s_node);
    free(b->s_conn_name);
    free(b->s_ca);
    free(b->s_cert);
    free(b->s_key);
    free(b->n_work);
    free(b->n_dead);
    free(b->n_dlx);
    free(b->n_node);
    free(b->n_owner);
    free(b->n_events);
    free(b->n_containers);
    free(b->n_all);
    free(b->watch_pattern);
    free(b);
}

const char *broker_error(const broker *b)
{
    return b ? b->err : "no broker handle";
}

const char *broker_server_version(const broker *b)
{
    return b ? b->server_version : "";
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

const char *broker_user(const broker *b)
{
    return b && b->user ? b->user : "";
}

const char *broker_name_containers(const broker *b)
{
    return b->n_containers;
}

const char *broker_name_all(const broker *b)
{
    return b->n_all;
}

/* The stop flag may be set by another thread: read it atomically. */
static int stop_requested(const volatile sig_atomic_t *stop)
{
    return stop != NULL && __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0;
}

/* Backoff: attempt n waits a uniformly random time in [0, ceiling], the
 * ceiling doubling from reconnect_min_ms up to reconnect_max_ms ("full
 * jitter": nodes that lost the broker together do not return together). */
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
            brk_set_err(b, "reconnecting to %s stopped", b->redacted);
            return BROKER_ESTOPPED;
        }
        rc = broker_connect(b);
        if (rc == 0)
            return 0;
        attempt++;
        unsigned delay = (unsigned)(brk_rng_next(b) % (uint64_t)(ceiling + 1));
        if (b->conf.on_retry)
            b->conf.on_retry(b->conf.on_retry_arg, attempt, rc, b->err, delay);
        int64_t until = brk_now_ms() + delay;
        while (!stop_requested(stop)) {
            int64_t left = until - brk_now_ms();
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
