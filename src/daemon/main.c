/*
 * main.c -- docker-dispatch: consumes JSON commands from RabbitMQ and
 * carries them out on a Docker daemon.
 *
 * The main thread owns the broker connection: it polls for deliveries,
 * hands them to the engine, and has the relay carry out the engine's
 * outbox (src/relay).  Start-up steps are in startup.c.  It never calls
 * Docker except for the one ping at start-up.
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
#include <unistd.h>

#include "broker.h"
#include "cluster.h"
#include "engine.h"
#include "log.h"
#include "relay.h"
#include "reload.h"
#include "service.h"
#include "startup.h"
#include "status.h"

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

/* What the relay tells the engine and the cluster (relay_hooks). */
typedef struct relay_ctx {
    broker *b;
    engine *e;
    cluster *cl;
} relay_ctx;

static void relay_after(void *ud, const char *container, int remove)
{
    engine_after(((relay_ctx *)ud)->e, container, remove);
}

static void relay_unrouted(void *ud, broker_delivery *d)
{
    engine_submit_unrouted(((relay_ctx *)ud)->e, d);
}

static void relay_part_failed(void *ud, const char *correlation_id, int err)
{
    cluster_gather_failed(((relay_ctx *)ud)->cl, correlation_id, err);
}

static void relay_consuming(void *ud, int on)
{
    if (on)
        service_status("consuming from %s", broker_name_work(((relay_ctx *)ud)->b));
    else
        service_status("Docker away: consuming paused");
}

/* The relay of b for e and cl; ctx (the caller's) must outlive it. */
static relay make_relay(relay_ctx *ctx)
{
    relay r = {.hooks = {.ud = ctx,
                         .after = relay_after,
                         .unrouted = relay_unrouted,
                         .part_failed = relay_part_failed,
                         .consuming = relay_consuming},
               .metrics = status_metrics(g_status),
               .stop = &g_stop};
    relay_bind_broker(&r, ctx->b);
    return r;
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

/* reconnect(), then the cluster's part (cluster_reconnected); 0 or -1. */
static int rejoin(broker *b, engine *e, cluster *cl)
{
    if (reconnect(b) != 0)
        return -1;
    cluster_reconnected(cl);
    return 0;
}

/* Runs after any call on the broker.  When its generation moved on from
 * *gen, every delivery not yet acked is back in its queue and comes again.
 * That happens when the broker closed the channel (RabbitMQ does when a
 * delivery stays unacked past its consumer timeout) or the connection was
 * lost and made again.  So the engine drops the copies it has not begun
 * (engine.h). */
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
static void run_loop(const dd_config *cfg, const relay *r, broker *b, engine *e, cluster *cl)
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
        int due = cluster_tick(cl, b);
        int wait = service_watchdog_due_ms(due < IDLE_WAIT_MS ? due : IDLE_WAIT_MS);
        int pr = broker_poll(b, wait, &d);
        if (pr == 1 && cluster_receive(cl, b, &d)) {
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
        if (relay_drain(r, e) != 0 && rejoin(b, e, cl) != 0)
            break;
        follow_generation(b, e, &gen);
    }
}

/* Shutdown: stop taking work, hand back what has not started, let
 * running jobs finish and publish their replies.  Gives up after about a
 * minute or when the connection is lost. */
static void drain_for_shutdown(const relay *r, broker *b, engine *e, cluster *cl)
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
        if (pr == 1 && !cluster_receive(cl, b, &d))
            broker_nack(b, d.tag, 1);
        broker_delivery_cleanup(&d);
        if (!broker_connected(b))
            break;
        relay_drain(r, e);
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

    if (startup_policy(&cfg, &policy) != 0 || startup_templates(&cfg, &policy, &tpl) != 0) {
        status = 2;
        goto out;
    }
    if (startup_docker(&cfg, &dopt, docker_id, sizeof docker_id) != 0)
        goto out;
    if (startup_broker(&cfg, &b) != 0 || open_wake_fd(b) != 0)
        goto out;
    int gs = startup_gateway(&cfg, g_status, &gw);
    if (gs != 0) {
        status = gs;
        goto out;
    }
    log_msg(LOG_LVL_INFO, "consuming %s and %s as node %s (%d workers)", broker_name_work(b),
            broker_name_node(b), cfg.node, cfg.workers);
    cluster_conf cc = {.node = cfg.node,
                       .cluster = cfg.cluster,
                       .version = DD_VERSION,
                       .host = docker_id,
                       .interval_ms = cfg.membership_interval_ms,
                       .expiry = cfg.membership_expiry};
    cl = cluster_start(b, &cc);
    e = start_engine(&cfg, &policy, &dopt, cl, broker_user(b), tpl);
    if (e == NULL)
        goto out;
    cluster_hooks hooks;
    engine_cluster_hooks(e, &hooks);
    cluster_set_hooks(cl, &hooks);
    status_set_engine(g_status, e, cl);
    relay_ctx ctx = {.b = b, .e = e, .cl = cl};
    relay r = make_relay(&ctx);
    relay_node_event(&r, cfg.node, "up");
    service_ready("consuming from %s as node %s", broker_name_work(b), cfg.node);
    run_loop(&cfg, &r, b, e, cl);
    status_stopping(g_status);
    gateway_quiesce(gw); /* no new HTTP requests; those in flight get their replies */
    drain_for_shutdown(&r, b, e, cl);
    if (broker_connected(b))
        relay_node_event(&r, cfg.node, "down");
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
