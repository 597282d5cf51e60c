/*
 * startup.c -- docker-dispatch's start-up steps before the main loop: the
 * policy and the templates, the one Docker check, the broker connection
 * and the gateway.  Main thread, before the engine starts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "service.h"
#include "startup.h"
#include "text.h"

static void on_retry(void *arg, unsigned attempt, int err, const char *cause, unsigned delay_ms)
{
    (void)arg;
    service_watchdog_tick(); /* the main thread, between attempts: still turning */
    log_msg(LOG_LVL_WARN, "RabbitMQ reconnect attempt %u failed: %s (%s); next in %u ms", attempt,
            broker_strerror(err), cause ? cause : "", delay_ms);
}

/* Checks Docker once at start: 0 or -1 with a clear message.  host gets
 * the Docker daemon's ID, "" when its /info does not say.  For Podman,
 * whose ID is new at every call, it gets "podman:" with its host name and
 * store.  The nodes that share a Docker host know each other by it. */
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

/* Loads the config file's "policy" into policy (the caller's; freed with
 * policy_cleanup()).  0, or -1 after logging why. */
int startup_policy(const dd_config *cfg, dd_policy *policy)
{
    char perr[256] = "";
    if (policy_from_json(policy, cfg->policy, perr, sizeof perr) != 0) {
        log_msg(LOG_LVL_ERROR, "config file %s: %s", cfg->config_file ? cfg->config_file : "?",
                perr);
        return -1;
    }
    return 0;
}

/* Loads and checks the templates directory, if one is set.  0, or -1
 * after logging which file is wrong and why (the start stops). */
int startup_templates(const dd_config *cfg, const dd_policy *policy, dd_templates **out)
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

/* Initialises the HTTP library, fills dopt (borrowing cfg's strings) and
 * pings Docker once.  0, or -1 after logging why; the caller runs
 * dkc_global_cleanup() either way. */
int startup_docker(const dd_config *cfg, dkc_options *dopt, char *host, size_t hostlen)
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

/* Fills bc with what the node's and the gateway's connections share:
 * cfg's URL, queue and node names, heartbeat and TLS settings. */
static void fill_broker_conf(const dd_config *cfg, broker_conf *bc)
{
    broker_conf_init(bc);
    bc->url = cfg->amqp_url;
    bc->queue = cfg->queue;
    bc->node = cfg->node;
    if (cfg->heartbeat > 0)
        bc->heartbeat = cfg->heartbeat;
    bc->tls_ca_file = cfg->amqp_cacert;
    bc->tls_cert_file = cfg->amqp_cert;
    bc->tls_key_file = cfg->amqp_key;
    bc->tls_no_verify_peer = cfg->amqp_noverify;
    bc->tls_no_verify_hostname = cfg->amqp_noverify;
}

/* Opens the broker connection from cfg into *out (broker_free()).  0, or
 * -1 after logging a message that says whether RabbitMQ refused the
 * credentials or the virtual host, or cannot be reached. */
int startup_broker(const dd_config *cfg, broker **out)
{
    char *cause = NULL;
    broker_conf bc;
    fill_broker_conf(cfg, &bc);
    bc.queue_type = cfg->classic_queue ? BROKER_QUEUE_CLASSIC : BROKER_QUEUE_QUORUM;
    if (cfg->delivery_limit > 0)
        bc.delivery_limit = cfg->delivery_limit;
    if (cfg->prefetch > 0)
        bc.prefetch = cfg->prefetch;
    if (cfg->max_body > 0)
        bc.max_body = cfg->max_body;
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
int startup_gateway(const dd_config *cfg, dd_status *status, gateway **out)
{
    *out = NULL;
    if (cfg->gateway == NULL)
        return 0;
    broker_conf bc;
    fill_broker_conf(cfg, &bc);
    bc.role = BROKER_ROLE_CLIENT;
    char name[300];
    snprintf(name, sizeof name, "docker-dispatch gateway %s", cfg->node);
    bc.connection_name = name;
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
    gc.metrics = status_metrics(status)->reg;
    gc.ready = status_ready;
    gc.ready_ud = status;
    char *cause = NULL;
    int rc = gateway_start(&gc, out, &cause);
    if (rc != 0)
        log_msg(LOG_LVL_ERROR, "%s", cause ? cause : gateway_strerror(rc));
    free(cause);
    return rc == 0 ? 0 : rc == GATEWAY_EBROKER ? 1 : 2;
}
