/*
 * main.c -- docker-dispatch: consumes JSON commands from RabbitMQ and
 * carries them out on a Docker daemon.
 *
 * The main thread owns the broker connection: it polls for deliveries,
 * hands them to the engine, and carries out the engine's outbox (acks,
 * replies, dead letters, pause/resume).  It never calls Docker except for
 * the one ping at start-up.
 *
 * With --gateway it also serves HTTP (src/gateway/: its own threads and
 * broker connection); it starts once RabbitMQ answers and stops first.
 *
 * Under systemd (Type=notify) it says READY=1 once it consumes, STATUS=
 * lines, STOPPING=1, and pings the watchdog from the main loop
 * (service.c).  SIGHUP reopens the log file and reloads the policy and
 * the templates (reload.c).
 *
 * Exit status: 0 after SIGTERM/SIGINT (or --help), 1 when Docker or
 * RabbitMQ cannot be used at start, 2 on a usage error (a gateway setting
 * that cannot be used included).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "config.h"
#include "dkc.h"
#include "engine.h"
#include "gateway.h"
#include "log.h"
#include "node.h"
#include "policy.h"
#include "protocol.h"
#include "reload.h"
#include "service.h"
#include "status.h"
#include "templates.h"
#include "text.h"

/* The main loop sleeps until a frame, an outbox item or a signal wakes it
 * (broker_set_wake_fd); this bounds one sleep all the same. */
#define IDLE_WAIT_MS 60000
/* While stopping: how often to look whether the engine is idle. */
#define STOP_POLL_MS 100

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_reload; /* SIGHUP seen: reload at the next turn */
/* metrics and readiness (status.h); made before the gateway, freed last */
static dd_status *g_status;
static volatile sig_atomic_t g_wake_fd =
    -1; /* eventfd: the engine's outbox and signals wake the main loop */

/* Wakes the main loop (engine threads, signal handler: write() is
 * async-signal-safe). */
static void wake_main(void *ud)
{
    (void)ud;
    uint64_t one = 1;
    if (g_wake_fd >= 0 && write(g_wake_fd, &one, sizeof one) < 0) {
        /* the counter is full: the main loop is awake anyway */
    }
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        g_reload = 1;
    else
        g_stop = 1;
    wake_main(NULL);
}

/* 1 if o's reply goes to a direct reply-to address (not a queue). */
static int direct_reply(const engine_out *o)
{
    return o->reply.reply_to != NULL &&
           strncmp(o->reply.reply_to, BROKER_REPLY_TO, strlen(BROKER_REPLY_TO)) == 0;
}

/* The properties of item o's reply, and of an event (user_id: the
 * dispatchers' own, which is how other nodes tell events of the cluster
 * from anyone's).  One place for the single and the batched way. */
static broker_props reply_props(const engine_out *o)
{
    return (broker_props){.correlation_id = o->reply.correlation_id,
                          .content_type = "application/json",
                          .persistent = 1};
}

static broker_props event_props(broker *b)
{
    return (broker_props){
        .content_type = "application/json", .type = "event", .user_id = broker_user(b)};
}

/* Counts a published reply, or logs why it failed (rc: a broker error). */
static void reply_outcome(broker *b, int rc)
{
    if (rc == 0)
        metrics_add(status_metrics(g_status)->replies, NULL, 1);
    else
        log_msg(LOG_LVL_WARN, "publishing a reply: %s: %s", broker_strerror(rc), broker_error(b));
}

/* Logs and counts an event that did not go out (rc: a broker error). */
static void event_dropped(broker *b, const char *key, int rc)
{
    log_msg(LOG_LVL_WARN, "publishing event %s: %s: %s", key, broker_strerror(rc), broker_error(b));
    metrics_add(status_metrics(g_status)->events_dropped, NULL, 1);
}

/* The broker refused reply o for its size (a RabbitMQ max_message_size
 * below --max-reply): publishes the request's too_large answer in its
 * place, with the broker's limit as RabbitMQ said it.  0 or
 * BROKER_ECONNLOST/ENOTCONN, as publish_reply(). */
static int publish_too_large(broker *b, const engine_out *o, unsigned flags)
{
    const char *at = strstr(broker_error(b), "max size ");
    size_t max = at ? (size_t)strtoull(at + strlen("max size "), NULL, 10) : 0;
    log_msg(LOG_LVL_WARN, "reply refused by the broker: %s; answering too_large", broker_error(b));
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
    broker_props p = reply_props(o);
    int rc = broker_publish(b, "", o->reply.reply_to, &p, body, strlen(body), flags);
    free(body);
    if (rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN)
        reply_outcome(b, rc);
    return rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN ? rc : 0;
}

/* Publishes the reply of item o; an unroutable reply (its queue is gone)
 * goes to <q>.dead with the reason so that nothing is dropped silently.
 * Returns 0 or BROKER_ECONNLOST/ENOTCONN (retry after reconnect). */
static int publish_reply(broker *b, const engine_out *o)
{
    if (o->reply.reply_to == NULL)
        return 0;
    broker_props p = reply_props(o);
    /* RabbitMQ 3.10 answers a mandatory publish to a direct reply-to name
     * (amq.rabbitmq.reply-to.*) with basic.return even when it delivered the
     * reply, so the mandatory check only works for real queues.  A direct
     * reply whose requester has gone is dropped by the broker. */
    unsigned flags = direct_reply(o) ? 0 : BROKER_PUBLISH_MANDATORY;
    int rc =
        broker_publish(b, "", o->reply.reply_to, &p, o->reply.body, strlen(o->reply.body), flags);
    if (rc == BROKER_ECHANNEL) {
        /* the broker closed the channel while the reply was out (for its
         * consumer timeout, say) and it was reopened: whether the reply got
         * through is unknown, and a second copy is better than none
         * (replies carry their request_id) */
        log_msg(LOG_LVL_WARN, "publishing a reply: %s; sending it again", broker_error(b));
        rc = broker_publish(b, "", o->reply.reply_to, &p, o->reply.body, strlen(o->reply.body),
                            flags);
    }
    if (rc == BROKER_ETOOBIG && o->kind == ENGINE_OUT_REPLY)
        return publish_too_large(b, o, flags);
    if (rc == BROKER_EUNROUTABLE && o->kind == ENGINE_OUT_PROGRESS)
        return 0; /* an interim message for nobody: nothing to keep */
    if (rc == BROKER_EUNROUTABLE) {
        broker_header h = {"x-dd-reason", "reply_to queue does not exist: reply not delivered"};
        broker_props dp = {.correlation_id = o->reply.correlation_id,
                           .content_type = "application/json",
                           .persistent = 1,
                           .headers = &h,
                           .n_headers = 1};
        log_msg(LOG_LVL_WARN, "reply unroutable: kept in %s", broker_name_dead(b));
        rc = broker_publish(b, "", broker_name_dead(b), &dp, o->reply.body, strlen(o->reply.body),
                            0);
        if (rc == 0)
            metrics_add(status_metrics(g_status)->dead_letters,
                        (const char *[]){"reply_unroutable"}, 1);
        else if (rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN)
            reply_outcome(b, rc);
    } else if (rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN) {
        reply_outcome(b, rc);
    }
    return rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN ? rc : 0;
}

/* Publishes a state-change event (JSON text body) on <q>.events.  Events
 * are not persistent: they are a live feed for whoever is bound at the
 * moment.  Returns 0 or BROKER_ECONNLOST/ENOTCONN (retry after reconnect);
 * other failures are logged and the event is dropped. */
static int publish_event(broker *b, const char *key, const char *body)
{
    broker_props p = event_props(b);
    int rc = broker_publish(b, broker_name_events(b), key, &p, body, strlen(body), 0);
    if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
        return rc;
    if (rc != 0)
        event_dropped(b, key, rc);
    return 0;
}

/* Publishes node.<state> for this node (up after start, down at exit). */
static void publish_node_event(broker *b, const char *node, const char *state)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *ev = proto_event_node(node, state, (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    char key[320];
    proto_event_key(ev, key, sizeof key);
    char *body = ev ? json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (body)
        publish_event(b, key, body);
    free(body);
    json_decref(ev);
}

/* Dead-letters o->dl with o->reason, counted by the reason's code. */
static int dead_letter(broker *b, const engine_out *o)
{
    const char *reason = o->reply.reason ? o->reply.reason : "rejected";
    char code[48];
    int rc = broker_dead_letter(b, o->reply.dl, reason);
    if (rc == 0) {
        metrics_dd_reason(reason, code, sizeof code);
        metrics_add(status_metrics(g_status)->dead_letters, (const char *[]){code}, 1);
    }
    return rc;
}

/* Carries out one outbox item.  Returns 0, or a connection error when the
 * item must be kept for after the reconnect. */
static int do_item(broker *b, engine *e, cluster *cl, engine_out *o)
{
    int rc = 0;
    switch (o->kind) {
    case ENGINE_OUT_ACK:
        rc = broker_ack(b, o->ack.tag);
        break;
    case ENGINE_OUT_NACK:
        rc = broker_nack(b, o->nack.tag, o->nack.requeue);
        break;
    case ENGINE_OUT_PAUSE:
        rc = broker_consume_pause(b);
        service_status("Docker away: consuming paused");
        break;
    case ENGINE_OUT_RESUME:
        if (!g_stop)
            rc = broker_consume_resume(b);
        service_status("consuming from %s", broker_name_work(b));
        break;
    case ENGINE_OUT_EVENT:
        rc = publish_event(b, o->event.key, o->event.body);
        break;
    case ENGINE_OUT_REPLY:
        rc = publish_reply(b, o);
        if (rc != 0)
            return rc;
        if (o->reply.after_remove)
            engine_after(e, o->reply.after_remove, !o->reply.after_mark);
        if (o->reply.dl)
            rc = dead_letter(b, o);
        else
            rc = broker_ack(b, o->reply.tag);
        if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
            rc = 0; /* stale now: the broker requeued the message */
        break;
    case ENGINE_OUT_PROGRESS:
        rc = publish_reply(b, o);
        break;
    case ENGINE_OUT_ROUTE:
    case ENGINE_OUT_DRAIN:
    case ENGINE_OUT_PUBLISH:
    case ENGINE_OUT_FORWARD:
        rc = node_do_item(b, cl, e, o);
        break;
    }
    if (rc == BROKER_ESTALE)
        rc = 0;
    if (rc != 0 && rc != BROKER_ECONNLOST && rc != BROKER_ENOTCONN) {
        log_msg(LOG_LVL_WARN, "broker: %s: %s", broker_strerror(rc), broker_error(b));
        rc = 0;
    }
    return rc;
}

/* 1 if o may go in a batch: a reply to a direct reply-to address (never
 * mandatory: see publish_reply), settled by an ack, or an event (never
 * mandatory either). */
static int batchable(const engine_out *o)
{
    return (o->kind == ENGINE_OUT_REPLY && o->reply.dl == NULL && direct_reply(o)) ||
           o->kind == ENGINE_OUT_EVENT;
}

/* Publishes up to n batchable items from l on as one batch, waits once
 * for all their confirms, then settles each reply as do_item() does
 * (follow-up, ack): a reply or an event costs one round trip to RabbitMQ
 * per batch instead of one each (a `run` makes three events and a reply).
 * Returns how many items it settled from l on (fewer than n when a publish
 * was refused before it went out, none when the broker closed the channel
 * over the batch: the rest take the single way, which reports it), or a
 * connection error (nothing settled: the caller puts the items back, as
 * for one). */
static int publish_batch(broker *b, engine *e, engine_out *l, size_t n)
{
    int out[BROKER_BATCH_MAX];
    engine_out *o = l;
    size_t sent = 0;
    for (; sent < n; sent++, o = o->next) {
        size_t slot;
        int ev = o->kind == ENGINE_OUT_EVENT;
        broker_props p = ev ? event_props(b) : reply_props(o);
        const char *body = ev ? o->event.body : o->reply.body;
        int rc = broker_publish_batched(b, ev ? broker_name_events(b) : "",
                                        ev ? o->event.key : o->reply.reply_to, &p, body,
                                        strlen(body), &slot);
        if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
            return rc;
        if (rc != 0)
            break;
    }
    if (sent == 0)
        return 0;
    int rc = broker_confirm_batch(b, out, sent);
    if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN)
        return rc;
    if (rc == BROKER_ECHANNEL) {
        /* the broker closed the channel over the batch (its consumer
         * timeout, a message over its size limit) and it was reopened:
         * which got through is unknown, so none is settled and each goes
         * again, the first the single way, which tells a refusal */
        log_msg(LOG_LVL_WARN, "publishing a batch: %s; sending it again", broker_error(b));
        return 0;
    }
    o = l;
    for (size_t i = 0; i < sent; i++, o = o->next) {
        int r = rc != 0 ? rc : out[i];
        if (o->kind == ENGINE_OUT_EVENT) {
            if (r != 0)
                event_dropped(b, o->event.key, r);
            continue;
        }
        reply_outcome(b, r);
        if (o->reply.after_remove)
            engine_after(e, o->reply.after_remove, !o->reply.after_mark);
        broker_ack(b, o->reply.tag); /* stale after a new channel: the broker requeued it */
    }
    return (int)sent;
}

/* Drains the outbox.  Returns 0, or a connection error (the rest of the
 * outbox was put back). */
static int drain_outbox(broker *b, engine *e, cluster *cl)
{
    engine_out *l = engine_take_outbox(e);
    while (l) {
        size_t n = 0;
        for (engine_out *o = l; o && n < BROKER_BATCH_MAX && batchable(o); o = o->next)
            n++;
        if (n > 1) {
            int done = publish_batch(b, e, l, n);
            if (done < 0) {
                engine_requeue_outbox(e, l);
                return done;
            }
            if (done > 0) {
                for (; done > 0; done--) {
                    engine_out *o = l;
                    l = o->next;
                    engine_out_free(o);
                }
                continue;
            }
            /* the first was refused before it went out: the single way says why */
        }
        engine_out *o = l;
        int rc = do_item(b, e, cl, o);
        if (rc != 0) {
            /* acks/nacks of this generation are stale after a reconnect */
            engine_requeue_outbox(e, l);
            return rc;
        }
        l = o->next;
        engine_out_free(o);
    }
    return 0;
}

static void on_retry(void *arg, unsigned attempt, int err, const char *cause, unsigned delay_ms)
{
    (void)arg;
    service_watchdog_tick(); /* the main thread, between attempts: still turning */
    log_msg(LOG_LVL_WARN, "RabbitMQ reconnect attempt %u failed: %s (%s); next in %u ms", attempt,
            broker_strerror(err), cause ? cause : "", delay_ms);
}

/* Reconnects after a lost connection; 0 or -1 when stopped meanwhile. */
static int reconnect(broker *b)
{
    log_msg(LOG_LVL_WARN, "RabbitMQ connection lost (%s): reconnecting", broker_error(b));
    status_broker(g_status, 0);
    service_status("broker reconnecting");
    int rc = broker_reconnect(b, &g_stop);
    if (rc != 0)
        return -1;
    log_msg(LOG_LVL_INFO, "RabbitMQ connection restored");
    service_status("consuming from %s", broker_name_work(b));
    status_broker(g_status, 1);
    return 0;
}

/* Checks Docker once at start: 0 or -1 with a clear message.  host gets
 * the Docker daemon's ID ("" when its /info does not say; for Podman, whose
 * ID is new at every call, "podman:" with its host name and store): the
 * nodes that share a Docker host know each other by it. */
static int check_docker(const dkc_options *o, char *host, size_t hostlen)
{
    dkc_client *c = NULL;
    char why[256] = "";
    int rc = dkc_client_new(o, &c, why, sizeof why);
    if (rc != 0) {
        log_msg(LOG_LVL_ERROR, "Docker address: %s: %s", dkc_strerror(rc), why);
        return -1;
    }
    rc = dkc_ping(c);
    if (rc != 0) {
        char msg[256];
        text_line(msg, sizeof msg, dkc_client_last_error(c)->message);
        log_msg(LOG_LVL_ERROR, "Docker at %s is unreachable: %s: %s", dkc_client_host(c),
                dkc_strerror(rc), msg);
        dkc_client_free(c);
        return -1;
    }
    log_msg(LOG_LVL_INFO, "Docker at %s answers (API %s)", dkc_client_host(c),
            dkc_client_api_version(c));
    json_t *info = NULL;
    host[0] = '\0';
    if (dkc_info(c, &info) == 0 && !dkc_client_is_podman(c)) {
        text_line(host, hostlen, json_string_value(json_object_get(info, "ID")) ?: "");
    } else if (info != NULL) {
        /* Podman's ID is new at every call: its machine and store instead */
        char id[512];
        snprintf(id, sizeof id, "podman:%s:%s",
                 json_string_value(json_object_get(info, "Name")) ?: "",
                 json_string_value(json_object_get(info, "DockerRootDir")) ?: "");
        text_line(host, hostlen, id);
    }
    json_decref(info);
    dkc_client_free(c);
    return 0;
}

/* Reports a cfg_load() result lr that ends the run before it starts (help,
 * version, usage error) and frees cause and cfg.  Returns the exit status:
 * 2 on a usage error, 0 otherwise. */
static int exit_early(dd_config *cfg, int lr, char *cause)
{
    if (lr < 0)
        fprintf(stderr, "docker-dispatch: %s\n", cause ? cause : "bad usage");
    free(cause);
    cfg_cleanup(cfg);
    return lr < 0 ? 2 : 0;
}

/* Sets up logging (the log file, when set) and line-buffered stdout,
 * reads the systemd watchdog setting, and installs the SIGTERM/SIGINT
 * handlers (they only set g_stop and wake the loop) and SIGHUP's (it only
 * sets g_reload and wakes the loop); SIGPIPE is ignored.  0, or -1 when
 * the log file cannot be opened (the reason on stderr). */
static int setup_process(const dd_config *cfg)
{
    log_setup(cfg->json_logs, cfg->verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    log_set_node(cfg->node);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (cfg->log_file != NULL) {
        char *cause = NULL;
        if (log_open_file(cfg->log_file, &cause) != 0) {
            log_msg(LOG_LVL_ERROR, "%s", cause ? cause : "log file: cannot open");
            free(cause);
            return -1;
        }
    }
    service_init();

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Loads the config file's "policy" into policy (the caller's; freed with
 * policy_cleanup()).  0, or -1 after logging why. */
static int load_policy(const dd_config *cfg, dd_policy *policy)
{
    char perr[256] = "";
    if (policy_from_json(policy, cfg->policy, perr, sizeof perr) != 0) {
        log_msg(LOG_LVL_ERROR, "config file %s: %s", cfg->config_file ? cfg->config_file : "?",
                perr);
        return -1;
    }
    return 0;
}

/* Initialises the HTTP library, fills dopt (borrowing cfg's strings) and
 * pings Docker once.  0, or -1 after logging why; the caller runs
 * dkc_global_cleanup() either way. */
/* Loads and checks the templates directory, if one is set.  0, or -1
 * after logging which file is wrong and why (the start stops). */
static int load_templates(const dd_config *cfg, const dd_policy *policy, dd_templates **out)
{
    char why[600];
    *out = NULL;
    if (cfg->templates_dir == NULL)
        return 0;
    if (templates_load(cfg->templates_dir, policy, out, why, sizeof why) != 0) {
        log_msg(LOG_LVL_ERROR, "%s", why);
        return -1;
    }
    log_msg(LOG_LVL_INFO, "%zu templates from %s", templates_count(*out), cfg->templates_dir);
    return 0;
}

static int start_docker(const dd_config *cfg, dkc_options *dopt, char *host, size_t hostlen)
{
    if (dkc_global_init() != 0) {
        log_msg(LOG_LVL_ERROR, "cannot initialise the HTTP library");
        return -1;
    }
    dkc_options_init(dopt);
    dopt->host = cfg->docker_host;
    dopt->tls_verify = cfg->docker_tls;
    dopt->cert_path = cfg->docker_cert_path;
    return check_docker(dopt, host, hostlen);
}

/* Opens the broker connection from cfg into *out (broker_free()).  0, or
 * -1 after logging a message that says whether RabbitMQ refused the
 * credentials or the virtual host, or cannot be reached. */
static int open_broker(const dd_config *cfg, broker **out)
{
    char *cause = NULL;
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = cfg->amqp_url;
    bc.queue = cfg->queue;
    bc.node = cfg->node;
    bc.queue_type = cfg->classic_queue ? BROKER_QUEUE_CLASSIC : BROKER_QUEUE_QUORUM;
    if (cfg->delivery_limit > 0)
        bc.delivery_limit = cfg->delivery_limit;
    if (cfg->prefetch > 0)
        bc.prefetch = cfg->prefetch;
    if (cfg->heartbeat > 0)
        bc.heartbeat = cfg->heartbeat;
    if (cfg->max_body > 0)
        bc.max_body = cfg->max_body;
    bc.tls_ca_file = cfg->amqp_cacert;
    bc.tls_cert_file = cfg->amqp_cert;
    bc.tls_key_file = cfg->amqp_key;
    bc.tls_no_verify_peer = cfg->amqp_noverify;
    bc.tls_no_verify_hostname = cfg->amqp_noverify;
    bc.on_retry = on_retry;
    int rc = broker_open(&bc, out, &cause);
    if (rc != 0) {
        char *red = broker_url_redact(cfg->amqp_url);
        const char *what = rc == BROKER_EAUTH          ? "refused the credentials"
                           : rc == BROKER_EUNREACHABLE ? "is unreachable"
                           : rc == BROKER_EVHOST       ? "refused the virtual host"
                                                       : "cannot be used";
        log_msg(LOG_LVL_ERROR, "RabbitMQ at %s %s: %s", red ? red : "?", what,
                cause ? cause : broker_strerror(rc));
        free(red);
    }
    free(cause);
    return rc != 0 ? -1 : 0;
}

/* Starts the HTTP gateway when cfg asks for one, with a client-role broker
 * connection of its own to the same RabbitMQ as the node's.  Returns 0
 * (also when there is none; *out stays NULL), or the exit status after
 * logging why: 2 for a setting to fix (address, token, certificate, port
 * in use), 1 when RabbitMQ cannot be used. */
static int start_gateway(const dd_config *cfg, gateway **out)
{
    *out = NULL;
    if (cfg->gateway == NULL)
        return 0;
    broker_conf bc;
    broker_conf_init(&bc);
    bc.url = cfg->amqp_url;
    bc.queue = cfg->queue;
    bc.node = cfg->node;
    bc.role = BROKER_ROLE_CLIENT;
    char name[300];
    snprintf(name, sizeof name, "docker-dispatch gateway %s", cfg->node);
    bc.connection_name = name;
    if (cfg->heartbeat > 0)
        bc.heartbeat = cfg->heartbeat;
    bc.tls_ca_file = cfg->amqp_cacert;
    bc.tls_cert_file = cfg->amqp_cert;
    bc.tls_key_file = cfg->amqp_key;
    bc.tls_no_verify_peer = cfg->amqp_noverify;
    bc.tls_no_verify_hostname = cfg->amqp_noverify;
    gateway_conf gc;
    gateway_conf_init(&gc);
    gc.listen = cfg->gateway;
    gc.token = cfg->gateway_token;
    gc.token_file = cfg->gateway_token_file;
    gc.cert_file = cfg->gateway_cert;
    gc.key_file = cfg->gateway_key;
    gc.max_body = cfg->gateway_max_body;
    if (cfg->gateway_rate >= 0)
        gc.rate = cfg->gateway_rate;
    gc.timeout_ms = cfg->gateway_timeout * 1000;
    gc.node = cfg->node;
    gc.broker = &bc;
    gc.metrics = status_metrics(g_status)->reg;
    gc.ready = status_ready;
    gc.ready_ud = g_status;
    char *cause = NULL;
    int rc = gateway_start(&gc, out, &cause);
    if (rc != 0)
        log_msg(LOG_LVL_ERROR, "%s", cause ? cause : gateway_strerror(rc));
    free(cause);
    return rc == 0 ? 0 : rc == GATEWAY_EBROKER ? 1 : 2;
}

/* Makes the eventfd that wakes the main loop (g_wake_fd, closed by
 * close_wake_fd()) and hands it to b.  0, or -1 after logging why. */
static int open_wake_fd(broker *b)
{
    g_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (g_wake_fd < 0 || broker_set_wake_fd(b, g_wake_fd) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot make the main loop's eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Closes the main loop's eventfd, if open.  Call only after the engine's
 * threads are gone. */
static void close_wake_fd(void)
{
    if (g_wake_fd >= 0) {
        int fd = g_wake_fd;
        g_wake_fd = -1; /* the engine's threads are gone; a late signal writes nowhere */
        close(fd);
    }
}

/* Starts the engine's threads.  dopt must outlive the engine: its client
 * factory keeps a pointer to it.  Returns the engine (engine_free()), or
 * NULL after logging why. */
static engine *start_engine(const dd_config *cfg, const dd_policy *policy, dkc_options *dopt,
                            cluster *cl, const char *amqp_user, const dd_templates *tpl)
{
    char why[256] = "";
    engine_conf ec = {.node = cfg->node,
                      .cluster = cfg->cluster,
                      .workers = cfg->workers,
                      .max_body = cfg->max_body,
                      .max_reply = cfg->max_reply,
                      .output_limit = cfg->output_limit,
                      .max_run_seconds = cfg->max_run_seconds,
                      .quiet_output = cfg->quiet_output,
                      .members = cl,
                      .amqp_user = amqp_user,
                      .gather_ms = cfg->gather_ms,
                      .bulk_ms = cfg->bulk_seconds * 1000,
                      .templates = tpl,
                      .notify = wake_main,
                      .metrics = status_metrics(g_status)};
    engine_client_factory factory = {.make = engine_client_from_options, .ud = dopt};
    engine *e = engine_start(&ec, policy, &factory, why, sizeof why);
    if (e == NULL)
        log_msg(LOG_LVL_ERROR, "engine: %s", why);
    return e;
}

/* reconnect(), then the cluster's part (node_reconnected); 0 or -1. */
static int rejoin(broker *b, engine *e, cluster *cl)
{
    if (reconnect(b) != 0)
        return -1;
    node_reconnected(cl, e);
    return 0;
}

/* After any call on the broker: when its generation moved on from *gen
 * (it closed the channel -- RabbitMQ does when a delivery stays unacked
 * past its consumer timeout -- or the connection was lost and made
 * again), every delivery not yet acked is back in its queue and comes
 * again, so the engine drops the copies it has not begun (engine.h). */
static void follow_generation(broker *b, engine *e, uint32_t *gen)
{
    uint32_t now = broker_generation(b);
    if (now == *gen)
        return;
    *gen = now;
    size_t n = engine_forget_generations(e, now);
    if (n > 0)
        log_msg(LOG_LVL_WARN,
                "broker: %zu deliveries not begun yet were requeued with the old channel; "
                "they come again",
                n);
}

/* The main loop: hands deliveries to the engine and carries out its
 * outbox, reconnecting when the connection is lost, until SIGTERM/SIGINT
 * (or a stop during a reconnect). */
static void run_loop(const dd_config *cfg, broker *b, engine *e, cluster *cl)
{
    uint32_t gen = broker_generation(b);
    while (!g_stop) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        service_watchdog_tick();
        if (g_reload) {
            g_reload = 0;
            service_reloading();
            reload_rules(cfg, e);
            service_reloaded();
        }
        int due = node_tick(b, cl, e);
        int wait = service_watchdog_due_ms(due < IDLE_WAIT_MS ? due : IDLE_WAIT_MS);
        int pr = broker_poll(b, wait, &d);
        if (pr == 1 && node_heard(b, cl, e, &d)) {
            ; /* membership or a gather's reply: taken */
        } else if (pr == 1) {
            engine_submit(e, &d);
        } else if (pr == BROKER_ECONNLOST || pr == BROKER_ENOTCONN) {
            if (rejoin(b, e, cl) != 0)
                break;
            follow_generation(b, e, &gen);
            continue;
        } else if (pr == BROKER_ECHANNEL) {
            log_msg(LOG_LVL_WARN, "broker: %s; reopened", broker_error(b));
        } else if (pr < 0) {
            log_msg(LOG_LVL_WARN, "broker: %s: %s", broker_strerror(pr), broker_error(b));
        }
        broker_delivery_cleanup(&d);
        follow_generation(b, e, &gen);
        if (drain_outbox(b, e, cl) != 0 && rejoin(b, e, cl) != 0)
            break;
        follow_generation(b, e, &gen);
    }
}

/* Shutdown: stop taking work, hand back what has not started, let
 * running jobs finish and publish their replies.  Gives up after about a
 * minute or when the connection is lost. */
static void drain_for_shutdown(broker *b, engine *e, cluster *cl)
{
    log_msg(LOG_LVL_INFO, "stopping: no new work; finishing what is in flight");
    service_stopping();
    if (broker_connected(b))
        broker_consume_pause(b);
    engine_begin_shutdown(e);
    for (int spins = 0; spins < 60 * 1000 / STOP_POLL_MS; spins++) {
        broker_delivery d;
        memset(&d, 0, sizeof d);
        service_watchdog_tick();
        int pr = broker_poll(b, STOP_POLL_MS, &d);
        if (pr == 1 && !node_heard(b, cl, e, &d))
            broker_nack(b, d.tag, 1);
        broker_delivery_cleanup(&d);
        if (!broker_connected(b))
            break;
        drain_outbox(b, e, cl);
        if (engine_idle(e))
            break;
    }
}

int main(int argc, char **argv)
{
    dd_config cfg;
    char *cause = NULL;
    broker *b = NULL;
    engine *e = NULL;
    cluster *cl = NULL;
    dd_templates *tpl = NULL;
    gateway *gw = NULL;
    dd_policy policy;
    dkc_options dopt; /* the engine's client factory points at it */
    char docker_id[128] = "";
    policy_init(&policy);
    int status = 1;
    memset(&cfg, 0, sizeof cfg);
    int lr = cfg_load(&cfg, argc, argv, &cause);
    if (lr != 0)
        return exit_early(&cfg, lr, cause);
    if (setup_process(&cfg) != 0) {
        status = 2;
        goto out;
    }
    g_status = status_new(DD_VERSION, cfg.node);

    if (load_policy(&cfg, &policy) != 0 || load_templates(&cfg, &policy, &tpl) != 0) {
        status = 2;
        goto out;
    }
    if (start_docker(&cfg, &dopt, docker_id, sizeof docker_id) != 0)
        goto out;
    if (open_broker(&cfg, &b) != 0 || open_wake_fd(b) != 0)
        goto out;
    int gs = start_gateway(&cfg, &gw);
    if (gs != 0) {
        status = gs;
        goto out;
    }
    log_msg(LOG_LVL_INFO, "consuming %s and %s as node %s (%d workers)", broker_name_work(b),
            broker_name_node(b), cfg.node, cfg.workers);
    cl = node_start(b, &cfg, DD_VERSION, docker_id);
    e = start_engine(&cfg, &policy, &dopt, cl, broker_user(b), tpl);
    if (e == NULL)
        goto out;
    status_set_engine(g_status, e, cl);
    publish_node_event(b, cfg.node, "up");
    service_ready("consuming from %s as node %s", broker_name_work(b), cfg.node);
    run_loop(&cfg, b, e, cl);
    status_stopping(g_status);
    gateway_quiesce(gw); /* no new HTTP requests; those in flight get their replies */
    drain_for_shutdown(b, e, cl);
    if (broker_connected(b))
        publish_node_event(b, cfg.node, "down");
    status = 0;
out:
    gateway_free(gw);
    status_set_engine(g_status, NULL, NULL);
    engine_free(e);
    cluster_free(cl);
    templates_free(tpl);
    policy_cleanup(&policy);
    broker_free(b);
    close_wake_fd();
    status_free(g_status);
    free(cause);
    cfg_cleanup(&cfg);
    dkc_global_cleanup();
    log_close_file();
    return status;
}
