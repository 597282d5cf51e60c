/*
 * dispatch_run.c -- submits one run to docker-dispatch and waits for its
 * reply, in C with rabbitmq-c (AMQP) and jansson (JSON), Debian's
 * librabbitmq-dev and libjansson-dev.  Built as dispatch-run.
 *
 *   dispatch-run [--url URL] [-q QUEUE] [--id ID] [--timeout S] [--twice]
 *                [--linger S] [IMAGE [CMD...]]
 *
 * Publishes {"Dockercmd": "run", "Image": IMAGE, "Cmd": CMD, "Options":
 * {"Attach": ["STDOUT", "STDERR"], "Remove": true}} to the dispatcher's
 * work queue, with a request id (message_id) and a correlation id, and
 * takes its reply through RabbitMQ's direct reply-to.  Default:
 * busybox:latest echo 'hello world!'.  The URL comes from
 * DISPATCH_AMQP_URL, the queue from DISPATCH_QUEUE; an amqps:// broker is
 * verified against DISPATCH_AMQP_CACERT or the system's CA bundle.
 *
 * --twice publishes the same request id a second time, as a publisher's
 * retry would: the dispatcher runs it once and answers the copy with the
 * error "duplicate", which this client reads as "already accepted".
 * docs/protocol.md describes the messages.
 *
 * Exit status: the container's exit code once it ran; 1 on an error reply;
 * 2 when the broker or the queue cannot be used; 3 when no reply came in
 * time; 64 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#define DEFAULT_URL   "amqp://guest:guest@127.0.0.1:5672/"
#define DEFAULT_QUEUE "dispatch"
#define REPLY_TO      "amq.rabbitmq.reply-to" /* direct reply-to: no queue to declare */
#define CA_BUNDLE     "/etc/ssl/certs/ca-certificates.crt"
#define PROG          "dispatch-run"
#define CHANNEL       1

enum { EXIT_ERROR = 1, EXIT_BROKER = 2, EXIT_NOREPLY = 3, EXIT_USAGE = 64 };

typedef struct {
    const char *url, *queue, *id, *image;
    double timeout_s, linger_s;
    int twice;
    char **cmd; /* NULL: echo 'hello world!' */
    int ncmd;
} options;

/* A published copy of the request and the replies that came for it. */
typedef struct {
    char corr[33];
    int replies;
    json_t *first;
} copy;

typedef struct {
    amqp_connection_state_t conn;
    int logged_in;
    copy copies[2];
    int ncopies;
    int acked, returned; /* the last publish: confirmed, sent back unroutable */
    const char *extra;   /* a correlation id that had a second reply */
    char err[256];       /* why the connection failed */
} session;

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 2 * n hex digits of the kernel's randomness into out (2n + 1 bytes). */
static int random_hex(char *out, size_t n)
{
    unsigned char raw[32];
    if (n > sizeof raw || getrandom(raw, n, 0) != (ssize_t)n)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

static int usage(FILE *f, int status)
{
    fprintf(f, "usage: " PROG " [--url URL] [-q QUEUE] [--id ID] [--timeout S] [--twice] "
               "[--linger S] [IMAGE [CMD...]]\n"
               "  --url URL      broker [DISPATCH_AMQP_URL; " DEFAULT_URL "]\n"
               "  -q, --queue Q  work queue [DISPATCH_QUEUE; " DEFAULT_QUEUE "]\n"
               "  --id ID        request id (message_id); default: a fresh one\n"
               "  --timeout S    seconds to wait for the reply [60]\n"
               "  --twice        publish the request id twice, as a retry would\n"
               "  --linger S     seconds to keep listening after the reply; another one is an "
               "error [0]\n");
    return status;
}

static int parse_seconds(const char *s, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

/* Options first, then IMAGE and CMD ("+": their own options are left
 * alone).  0, or the exit status to end with. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"url", required_argument, NULL, 'u'},    {"queue", required_argument, NULL, 'q'},
        {"id", required_argument, NULL, 'i'},     {"timeout", required_argument, NULL, 't'},
        {"linger", required_argument, NULL, 'l'}, {"twice", no_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *e;
    int c;
    *o = (options){.url = (e = getenv("DISPATCH_AMQP_URL")) && *e ? e : DEFAULT_URL,
                   .queue = (e = getenv("DISPATCH_QUEUE")) && *e ? e : DEFAULT_QUEUE,
                   .image = "busybox:latest",
                   .timeout_s = 60};
    while ((c = getopt_long(argc, argv, "+q:h", longs, NULL)) != -1) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 'q':
            o->queue = optarg;
            break;
        case 'i':
            o->id = optarg;
            break;
        case 'w':
            o->twice = 1;
            break;
        case 't':
            if (parse_seconds(optarg, 0.001, &o->timeout_s) < 0)
                return fail(EXIT_USAGE, "--timeout must be above 0");
            break;
        case 'l':
            if (parse_seconds(optarg, 0, &o->linger_s) < 0)
                return fail(EXIT_USAGE, "--linger must not be below 0");
            break;
        case 'h':
            exit(usage(stdout, 0));
        default:
            return usage(stderr, EXIT_USAGE);
        }
    }
    if (optind < argc)
        o->image = argv[optind++];
    o->cmd = argv + optind;
    o->ncmd = argc - optind;
    return 0;
}

/* The request's body (malloc'd), NULL when out of memory. */
static char *request_body(const options *o)
{
    json_t *cmd = json_array();
    if (o->ncmd == 0) {
        json_array_append_new(cmd, json_string("echo"));
        json_array_append_new(cmd, json_string("hello world!"));
    }
    for (int i = 0; i < o->ncmd; i++)
        json_array_append_new(cmd, json_string(o->cmd[i]));
    json_t *req =
        json_pack("{s:s, s:s, s:o, s:{s:[s,s], s:b}}", "Dockercmd", "run", "Image", o->image, "Cmd",
                  cmd, "Options", "Attach", "STDOUT", "STDERR", "Remove", 1);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return body;
}

/* Why r failed, in words, into s->err; returns -1. */
static int rpc_failed(session *s, const char *what, amqp_rpc_reply_t r)
{
    const amqp_bytes_t *text = NULL;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
        text = &((amqp_connection_close_t *)r.reply.decoded)->reply_text;
    else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
             r.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
        text = &((amqp_channel_close_t *)r.reply.decoded)->reply_text;
    if (text)
        snprintf(s->err, sizeof s->err, "%s: %.*s", what, (int)text->len, (char *)text->bytes);
    else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        snprintf(s->err, sizeof s->err, "%s: %s", what, amqp_error_string2(r.library_error));
    else
        snprintf(s->err, sizeof s->err, "%s failed", what);
    return -1;
}

/* The socket for info's scheme: TCP, or TLS verified against
 * DISPATCH_AMQP_CACERT or the system's bundle.  NULL with s->err set. */
static amqp_socket_t *new_socket(session *s, const struct amqp_connection_info *info)
{
    if (!info->ssl) {
        amqp_socket_t *sock = amqp_tcp_socket_new(s->conn);
        if (sock == NULL)
            snprintf(s->err, sizeof s->err, "cannot make a socket");
        return sock;
    }
    amqp_socket_t *sock = amqp_ssl_socket_new(s->conn);
    const char *ca = getenv("DISPATCH_AMQP_CACERT");
    if (ca == NULL || *ca == '\0')
        ca = CA_BUNDLE;
    int st = sock ? amqp_ssl_socket_set_cacert(sock, ca) : AMQP_STATUS_SSL_ERROR;
    if (st != AMQP_STATUS_OK) {
        snprintf(s->err, sizeof s->err, "cannot set up TLS with CA file %s: %s", ca,
                 amqp_error_string2(st));
        return NULL;
    }
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 1);
    return sock;
}

/* Connects, logs in, opens the channel in confirm mode and consumes from
 * direct reply-to.  0, or -1 with s->err set; s->conn is then freed by
 * session_close(). */
static int session_open(session *s, struct amqp_connection_info *info)
{
    struct timeval tv = {.tv_sec = 10};
    s->conn = amqp_new_connection();
    amqp_socket_t *sock = s->conn ? new_socket(s, info) : NULL;
    if (sock == NULL)
        return -1;
    int st = amqp_socket_open_noblock(sock, info->host, info->port, &tv);
    if (st != AMQP_STATUS_OK) {
        snprintf(s->err, sizeof s->err, "%s", amqp_error_string2(st));
        return -1;
    }
    /* heartbeat 0: a short-lived client that reads all the time */
    amqp_rpc_reply_t r = amqp_login(s->conn, info->vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN,
                                    info->user, info->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(s, "login", r);
    s->logged_in = 1;
    amqp_channel_open(s->conn, CHANNEL);
    if ((r = amqp_get_rpc_reply(s->conn)).reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(s, "channel", r);
    amqp_confirm_select(s->conn, CHANNEL);
    if ((r = amqp_get_rpc_reply(s->conn)).reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(s, "confirm mode", r);
    amqp_basic_consume(s->conn, CHANNEL, amqp_cstring_bytes(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                       amqp_empty_table);
    if ((r = amqp_get_rpc_reply(s->conn)).reply_type != AMQP_RESPONSE_NORMAL)
        return rpc_failed(s, "consuming " REPLY_TO, r);
    return 0;
}

static void session_close(session *s)
{
    if (s->conn == NULL)
        return;
    if (s->logged_in)
        amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(s->conn);
    for (int i = 0; i < s->ncopies; i++)
        json_decref(s->copies[i].first);
}

/* One line per reply, then a run's output. */
static void print_reply(const char *corr, const json_t *reply)
{
    const json_t *err = json_object_get(reply, "error"), *res = json_object_get(reply, "result");
    const char *code = json_string_value(json_object_get(err, "code"));
    if (json_is_true(json_object_get(reply, "ok"))) {
        const char *id =
            json_string_value(json_object_get(json_object_get(res, "container"), "id"));
        const json_t *exit_code = json_object_get(res, "exit_code");
        const json_t *out = json_object_get(res, "stdout"),
                     *errout = json_object_get(res, "stderr");
        printf("reply %s: ok, container %.12s exited ", corr, id ? id : "?");
        if (json_is_integer(exit_code))
            printf("%lld", (long long)json_integer_value(exit_code));
        else
            printf("null");
        printf("%s\n", json_is_true(json_object_get(res, "timed_out")) ? ", timed out" : "");
        fwrite(json_string_value(out) ? json_string_value(out) : "", 1, json_string_length(out),
               stdout);
        fflush(stdout);
        fwrite(json_string_value(errout) ? json_string_value(errout) : "", 1,
               json_string_length(errout), stderr);
    } else if (code && strcmp(code, "duplicate") == 0) {
        const json_t *orig = json_object_get(err, "original");
        const char *rid = json_string_value(json_object_get(orig, "request_id"));
        const char *ctr = json_string_value(json_object_get(orig, "container"));
        const char *state = json_string_value(json_object_get(orig, "state"));
        printf("reply %s: duplicate of request %s (container %.12s, %s): already accepted, not "
               "run again\n",
               corr, rid ? rid : "?", ctr ? ctr : "?", state ? state : "answered");
    } else {
        printf("reply %s: error %s\n", corr, code ? code : "?");
    }
    fflush(stdout);
}

/* A message that came to direct reply-to: counted and shown. */
static void take_reply(session *s, const amqp_envelope_t *env)
{
    const amqp_basic_properties_t *p = &env->message.properties;
    char corr[64] = "";
    if (p->_flags & AMQP_BASIC_CORRELATION_ID_FLAG)
        snprintf(corr, sizeof corr, "%.*s", (int)p->correlation_id.len,
                 (char *)p->correlation_id.bytes);
    copy *c = NULL;
    for (int i = 0; i < s->ncopies; i++)
        if (strcmp(s->copies[i].corr, corr) == 0)
            c = &s->copies[i];
    if (c == NULL) {
        printf("ignored a message for correlation id %s\n", corr);
        return;
    }
    json_t *reply = json_loadb(env->message.body.bytes, env->message.body.len, 0, NULL);
    if (!json_is_object(reply)) {
        json_decref(reply);
        reply = json_pack("{s:b, s:{s:s}}", "ok", 0, "error", "code", "unreadable");
    }
    print_reply(c->corr, reply);
    if (++c->replies > 1)
        s->extra = c->corr;
    if (c->first == NULL)
        c->first = reply;
    else
        json_decref(reply);
}

/* A method frame other than a delivery: a publisher confirm, a returned
 * message, or the broker closing the channel or connection.  0 or -1. */
static int take_method(session *s, const amqp_frame_t *f)
{
    amqp_message_t m;
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD:
        s->acked = 1;
        return 0;
    case AMQP_BASIC_NACK_METHOD:
        snprintf(s->err, sizeof s->err, "RabbitMQ refused the message");
        return -1;
    case AMQP_BASIC_RETURN_METHOD:
        s->returned = 1;
        if (amqp_read_message(s->conn, f->channel, &m, 0).reply_type == AMQP_RESPONSE_NORMAL)
            amqp_destroy_message(&m);
        return 0;
    case AMQP_CHANNEL_CLOSE_METHOD:
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION,
                              .reply = f->payload.method};
        return rpc_failed(s, "closed by the broker", r);
    }
    default:
        return 0;
    }
}

/* Reads what comes on the connection until deadline (monotonic ms): one
 * delivery or method at a time.  1 after something came, 0 at the
 * deadline, -1 when the connection failed (s->err). */
static int pump(session *s, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return 0;
    struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
    amqp_envelope_t env;
    amqp_maybe_release_buffers(s->conn);
    amqp_rpc_reply_t r = amqp_consume_message(s->conn, &env, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        take_reply(s, &env);
        amqp_destroy_envelope(&env);
        return 1;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)
        return 0;
    if (r.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
        r.library_error != AMQP_STATUS_UNEXPECTED_STATE)
        return rpc_failed(s, "reading", r);
    amqp_frame_t f;
    int st = amqp_simple_wait_frame_noblock(s->conn, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    if (st != AMQP_STATUS_OK) {
        snprintf(s->err, sizeof s->err, "reading: %s", amqp_error_string2(st));
        return -1;
    }
    return f.frame_type == AMQP_FRAME_METHOD && take_method(s, &f) < 0 ? -1 : 1;
}

/* Publishes body as a new copy of request_id and waits for RabbitMQ's
 * confirm.  0, or the exit status to end with. */
static int publish(session *s, const options *o, const char *request_id, const char *body)
{
    copy *c = &s->copies[s->ncopies];
    if (random_hex(c->corr, 16) < 0)
        return fail(EXIT_ERROR, "cannot read random bytes: %s", strerror(errno));
    s->ncopies++;
    amqp_basic_properties_t p = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                  AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
                  AMQP_BASIC_REPLY_TO_FLAG,
        .content_type = amqp_cstring_bytes("application/json"),
        .delivery_mode = 2, /* persistent */
        .message_id = amqp_cstring_bytes(request_id),
        .correlation_id = amqp_cstring_bytes(c->corr),
        .reply_to = amqp_cstring_bytes(REPLY_TO),
    };
    printf("publishing request %s (correlation %s) to queue %s\n", request_id, c->corr, o->queue);
    fflush(stdout);
    s->acked = s->returned = 0;
    int st = amqp_basic_publish(s->conn, CHANNEL, amqp_empty_bytes, amqp_cstring_bytes(o->queue), 1,
                                0, &p, amqp_cstring_bytes(body));
    if (st != AMQP_STATUS_OK)
        return fail(EXIT_BROKER, "publishing failed: %s", amqp_error_string2(st));
    int64_t deadline = now_ms() + 30000;
    int rc = 1;
    while (!s->acked && (rc = pump(s, deadline)) == 1)
        ;
    if (rc < 0)
        return fail(EXIT_BROKER, "%s", s->err);
    if (!s->acked)
        return fail(EXIT_BROKER, "RabbitMQ did not confirm the message");
    if (s->returned) /* a mandatory message RabbitMQ cannot route comes back first */
        return fail(EXIT_BROKER, "queue %s does not exist: is docker-dispatch running?", o->queue);
    return 0;
}

/* 1 when every copy has its reply. */
static int answered(const session *s)
{
    for (int i = 0; i < s->ncopies; i++)
        if (s->copies[i].replies == 0)
            return 0;
    return 1;
}

/* The exit status the replies give: the answer is the reply that is not
 * "duplicate". */
static int outcome(const session *s, const char *request_id)
{
    for (int i = 0; i < s->ncopies; i++) {
        const json_t *r = s->copies[i].first, *err = json_object_get(r, "error");
        const char *code = json_string_value(json_object_get(err, "code"));
        if (code && strcmp(code, "duplicate") == 0)
            continue;
        if (json_is_true(json_object_get(r, "ok"))) {
            json_int_t exit_code =
                json_integer_value(json_object_get(json_object_get(r, "result"), "exit_code"));
            return exit_code >= 0 && exit_code <= 255 ? (int)exit_code : 0;
        }
        const char *msg = json_string_value(json_object_get(err, "message"));
        const char *field = json_string_value(json_object_get(err, "field"));
        return fail(EXIT_ERROR, "request %s failed: %s: %s%s%s%s", request_id, code ? code : "?",
                    msg ? msg : "", field ? " (field " : "", field ? field : "", field ? ")" : "");
    }
    return 0; /* only copies: the request was accepted before */
}

/* Publishes the copies and waits for their replies.  The exit status. */
static int submit(session *s, const options *o, const char *body)
{
    char fresh[3 + 32 + 1] = "c-";
    const char *request_id = o->id;
    if (request_id == NULL) {
        if (random_hex(fresh + 2, 16) < 0)
            return fail(EXIT_ERROR, "cannot read random bytes: %s", strerror(errno));
        request_id = fresh;
    }
    for (int n = o->twice ? 2 : 1; n > 0; n--) {
        int status = publish(s, o, request_id, body);
        if (status != 0)
            return status;
    }
    int64_t deadline = now_ms() + (int64_t)(o->timeout_s * 1000);
    int rc = 1;
    while (!answered(s) && (rc = pump(s, deadline)) == 1)
        ;
    if (rc < 0)
        return fail(EXIT_BROKER, "lost the broker: %s", s->err);
    if (!answered(s))
        return fail(EXIT_NOREPLY, "no reply within %g s (request %s); it may still be carried out",
                    o->timeout_s, request_id);
    deadline = now_ms() + (int64_t)(o->linger_s * 1000);
    while (s->extra == NULL && (rc = pump(s, deadline)) == 1)
        ;
    if (rc < 0)
        return fail(EXIT_BROKER, "lost the broker: %s", s->err);
    if (s->extra)
        return fail(EXIT_ERROR, "a second reply for correlation id %s", s->extra);
    return outcome(s, request_id);
}

int main(int argc, char **argv)
{
    static char default_vhost[] = "/";
    options o;
    session s = {0};
    struct amqp_connection_info info;
    char *url = NULL, *body = NULL;
    int status = parse_options(argc, argv, &o);
    if (status != 0)
        return status;
    url = strdup(o.url); /* amqp_parse_url cuts it into pieces */
    body = request_body(&o);
    if (url == NULL || body == NULL) {
        status = fail(EXIT_ERROR, "out of memory");
        goto out;
    }
    amqp_default_connection_info(&info);
    if (amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        status = fail(EXIT_USAGE, "bad broker URL: it must be amqp://user:password@host:port/vhost "
                                  "or amqps://");
        goto out;
    }
    if (info.vhost[0] == '\0') /* "amqp://host/" means the default vhost, as elsewhere */
        info.vhost = default_vhost;
    if (session_open(&s, &info) < 0) {
        status =
            fail(EXIT_BROKER, "cannot use the broker at %s:%d: %s", info.host, info.port, s.err);
        goto out;
    }
    status = submit(&s, &o, body);
out:
    session_close(&s);
    free(body);
    free(url);
    return status;
}
