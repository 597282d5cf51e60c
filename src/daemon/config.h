/*
 * config.h -- the dispatcher's settings, from flags, environment and a JSON
 * config file, in that order of precedence (flags win).
 */
#ifndef DD_CONFIG_H
#define DD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct dd_config {
    char *docker_host; /* NULL: $DOCKER_HOST / the default socket */
    int docker_tls;    /* -1: from $DOCKER_TLS_VERIFY */
    char *docker_cert_path;
    char *amqp_url; /* amqp://user:pass@host:port/vhost or amqps:// */
    char *amqp_cacert, *amqp_cert, *amqp_key;
    bool amqp_noverify;  /* amqps without peer verification (tests only) */
    char *queue;         /* base queue name (-q) */
    char *node;          /* node name; default: the host name */
    char *cluster;       /* deployment name in container labels; default: queue */
    bool classic_queue;  /* classic instead of quorum work queue */
    int delivery_limit;  /* quorum x-delivery-limit */
    int prefetch;        /* unacked deliveries in flight */
    int workers;         /* worker threads */
    int heartbeat;       /* AMQP heartbeat seconds */
    size_t max_body;     /* largest accepted message */
    size_t max_reply;    /* largest reply sent (engine_conf.max_reply) */
    size_t output_limit; /* default captured output per run */
    int max_run_seconds; /* upper bound on any run's time limit; 0: none */
    /* the HTTP gateway (src/gateway/); off while gateway is NULL */
    char *gateway; /* "ADDR:PORT", or "PORT" for 127.0.0.1:PORT */
    char *gateway_token, *gateway_token_file;
    char *gateway_cert, *gateway_key; /* HTTPS */
    size_t gateway_max_body;          /* largest request body; 0: the gateway's default */
    int gateway_rate;                 /* requests per second per client; 0: no bound; -1: default */
    int gateway_timeout;              /* seconds a request waits for its reply; 0: default */
    bool json_logs;
    bool verbose;
    bool quiet_output;          /* do not copy the attached output of runs to stdout */
    int membership_interval_ms; /* cluster heartbeat interval */
    int membership_expiry;      /* intervals of silence before a node leaves the view */
    int gather_ms;              /* how long cluster-wide queries wait for other nodes */
    int bulk_seconds;           /* how long a bulk request waits for its pieces */
    char *templates_dir;        /* directory of <name>.json templates; NULL: none */
    char *log_file;             /* records and diagnostics go here; NULL: stdout/stderr */
    char *config_file;
    json_t *policy; /* the config file's "policy" object (see policy.h); NULL: defaults */
} dd_config;

/* Fills defaults, then the config file ($DISPATCH_CONFIG or --config), then
 * the environment, then argv.  Returns 0, 1 when --help / --version was
 * printed (exit 0), or -1 with a message in *cause (malloc'd) for a usage
 * error (exit 2).  The password in amqp_url is never copied into *cause. */
int cfg_load(dd_config *cfg, int argc, char **argv, char **cause);
void cfg_cleanup(dd_config *cfg);

/* Reads the config file path again for its "policy" object (SIGHUP):
 * *policy is a new reference to it, NULL when the file has none.  0, or -1
 * with *cause (malloc'd) saying what is wrong with the file.  Does no
 * checks of the policy itself (policy_from_json). */
int cfg_read_policy(const char *path, json_t **policy, char **cause);

#endif
