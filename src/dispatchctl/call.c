/*
 * call.c -- a request's round trip: connect as a client, publish with
 * direct reply-to (a command naming a container id straight to its owner
 * through <q>.containers), show progress messages as they come, and hand
 * the final reply to the renderers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "client.h"
#include "ctl.h"
#include "text.h"

/* Connects to the broker as a client of o->queue.  Sets *out and returns
 * EXIT_BROKER (the status should a later step fail), or leaves *out NULL
 * and returns the exit status after saying why. */
int ctl_open_broker(const ctl_opts *o, broker **out)
{
    broker_conf conf;
    char *cause = NULL;
    broker_conf_init(&conf);
    conf.url = o->url;
    conf.queue = o->queue;
    conf.role = BROKER_ROLE_CLIENT;
    conf.connection_name = "dispatchctl";
    conf.max_body = MAX_REPLY;
    conf.tls_ca_file = getenv("DISPATCH_AMQP_CACERT");
    conf.tls_cert_file = getenv("DISPATCH_AMQP_CERT");
    conf.tls_key_file = getenv("DISPATCH_AMQP_KEY");
    *out = NULL;
    int rc = broker_open(&conf, out, &cause);
    if (rc < 0) {
        fprintf(stderr, "dispatchctl: cannot connect to the broker: ");
        text_put_terminal(stderr, cause ? cause : broker_strerror(rc));
        fputc('\n', stderr);
        free(cause);
        *out = NULL;
        return rc == BROKER_EURL || rc == BROKER_EINVAL ? EXIT_USAGE : EXIT_BROKER;
    }
    free(cause);
    return EXIT_BROKER;
}

/* The container id body names (Container, or DockerMod's id) when it is a
 * full or short id, which its owner binds on <q>.containers; into id. */
static int container_id_of(const char *body, size_t len, char *id, size_t idlen)
{
    json_t *m = json_loadb(body, len, 0, NULL);
    const char *c = json_string_value(json_object_get(m, "Container"));
    if (c == NULL)
        c = json_string_value(json_object_get(m, "id"));
    size_t n = c ? strlen(c) : 0;
    int ok = (n == 12 || n == 64) && strspn(c, "0123456789abcdef") == n;
    if (ok)
        snprintf(id, idlen, "%s", c);
    json_decref(m);
    return ok;
}

/* 1 when d is an interim progress message ("final": false), which the
 * final reply never is. */
static int is_interim(const broker_delivery *d)
{
    json_t *m = json_loadb((const char *)d->body, d->len, 0, NULL);
    const json_t *f = json_object_get(m, "final");
    int interim = json_is_false(f);
    json_decref(m);
    return interim;
}

/* While *reply is a progress message: shows it (not with --json) and waits
 * for the next message with correlation id corr, within wait_s seconds of
 * the start in all.  Returns 0 with the final reply in *reply, or a broker
 * error (BROKER_ETIMEOUT when it did not come). */
static int past_progress(const ctl_opts *o, const ctl_req *req, broker *b, const char *corr,
                         int wait_s, broker_delivery *reply)
{
    ctl_pull_view view = {0};
    bool tty = isatty(STDOUT_FILENO);
    int width = 80;
    const char *cols = getenv("COLUMNS");
    struct winsize ws;
    long w;
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        width = ws.ws_col;
    else if (cols && ctl_parse_int(cols, 20, 1000, &w) == 0)
        width = (int)w;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)wait_s * 1000;
    while (is_interim(reply)) {
        if (!o->json && req->progress) {
            json_t *m = json_loadb((const char *)reply->body, reply->len, 0, NULL);
            ctl_progress_show(stdout, &view, json_object_get(m, "progress"), tty, width);
            json_decref(m);
        }
        broker_delivery_cleanup(reply);
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t left = end - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
            if (left <= 0)
                return BROKER_ETIMEOUT;
            int rc = broker_poll(b, left > 1000 ? 1000 : (int)left, reply);
            if (rc < 0)
                return rc;
            if (rc == 1 && reply->source == BROKER_SRC_REPLY && reply->correlation_id &&
                strcmp(reply->correlation_id, corr) == 0)
                break;
            broker_delivery_cleanup(reply);
        }
    }
    return 0;
}

/* Publishes the request and handles the reply; returns the exit status.
 * A command for a container id goes straight to its owner through
 * <q>.containers; when no node has bound the id, to the work queue. */
int ctl_call(const ctl_opts *o, ctl_req *req, const char *body, size_t len)
{
    char msg_id[4 + 32 + 1] = "ctl-", corr[32 + 1], route[2 * BROKER_NAME_MAX + 8];
    broker *b = NULL;
    broker_delivery reply = {0};
    int status = EXIT_BROKER;
    int rc;

    if (ctl_random_hex(msg_id + 4, 16) < 0 || ctl_random_hex(corr, 16) < 0) {
        fprintf(stderr, "dispatchctl: cannot read /dev/urandom: %s\n", strerror(errno));
        return EXIT_REFUSED;
    }
    if (o->node)
        snprintf(route, sizeof route, "%s.node.%s", o->queue, o->node);
    else
        snprintf(route, sizeof route, "%s", o->queue);

    status = ctl_open_broker(o, &b);
    if (b == NULL)
        goto out;

    int wait_s = o->timeout_s;
    if (!o->timeout_set && req->min_wait_s > wait_s)
        wait_s = req->min_wait_s;
    if (wait_s > MAX_TIMEOUT)
        wait_s = MAX_TIMEOUT; /* a run's limit may be longer; milliseconds fit an int */
    broker_props props = {
        .content_type = "application/json",
        .correlation_id = corr,
        .message_id = msg_id,
        .user_id = o->user_id ? broker_user(b) : NULL,
        .persistent = 1,
    };
    char id[80], exchange[BROKER_NAME_MAX + 16];
    rc = BROKER_EUNROUTABLE;
    if (!o->node && container_id_of(body, len, id, sizeof id)) {
        snprintf(exchange, sizeof exchange, "%s.containers", o->queue);
        rc = broker_call(b, exchange, id, &props, body, len, wait_s * 1000, &reply);
    }
    if (rc == BROKER_EUNROUTABLE || rc == BROKER_ENOTFOUND)
        rc = broker_call(b, "", route, &props, body, len, wait_s * 1000, &reply);
    if (rc == 0)
        rc = past_progress(o, req, b, corr, wait_s, &reply);
    switch (rc) {
    case 0:
        status = ctl_handle_reply(o, req, &reply);
        break;
    case BROKER_EUNROUTABLE:
        fprintf(stderr, "dispatchctl: queue %s does not exist: is docker-dispatch running?\n",
                route);
        status = EXIT_BROKER;
        break;
    case BROKER_ETIMEOUT:
        fprintf(stderr,
                "dispatchctl: no reply from queue %s within %d s (request id %s); the command "
                "may still be carried out\n",
                route, wait_s, msg_id);
        status = EXIT_NOREPLY;
        break;
    default:
        fprintf(stderr, "dispatchctl: request to queue %s failed: ", route);
        text_put_terminal(stderr, broker_error(b)[0] ? broker_error(b) : broker_strerror(rc));
        fputc('\n', stderr);
        status = EXIT_BROKER;
        break;
    }
out:
    broker_delivery_cleanup(&reply);
    broker_free(b);
    return status;
}
