/*
 * config.c -- settings from defaults, a JSON config file, the environment
 * and the command line.  See config.h.
 *
 * Every setting is one row of the table below: its long flag, environment
 * variable, config-file key and type.  All three sources go through the same
 * setter, so a value is validated the same way wherever it comes from.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base.h"
#include "broker.h"
#include "config.h"

typedef enum kind { K_STR, K_INT, K_SIZE, K_BOOL, K_QTYPE, K_LOGFMT, K_TRISTATE } kind;

typedef struct setting {
    const char *flag; /* long option name */
    const char *env;  /* environment variable, or NULL */
    const char *key;  /* config-file key */
    kind kind;
    size_t offset;
    long min, max; /* for K_INT / K_SIZE */
    const char *help;
} setting;

#define OFF(f) offsetof(dd_config, f)

static const setting settings[] = {
    {"docker", "DISPATCH_DOCKER_HOST", "docker_host", K_STR, OFF(docker_host), 0, 0,
     "Docker address (unix://, tcp://, ip:port, socket path)"},
    {"tls-verify", NULL, "docker_tls_verify", K_TRISTATE, OFF(docker_tls), 0, 0,
     "use TLS with client certificates for a tcp Docker address"},
    {"tls-cert-path", NULL, "docker_cert_path", K_STR, OFF(docker_cert_path), 0, 0,
     "directory holding ca.pem, cert.pem, key.pem (default $DOCKER_CERT_PATH)"},
    {"amqp", "DISPATCH_AMQP_URL", "amqp_url", K_STR, OFF(amqp_url), 0, 0,
     "RabbitMQ URL amqp[s]://user:pass@host:port/vhost, or several separated by commas (the "
     "nodes of a RabbitMQ cluster, tried in turn)"},
    {"amqp-cacert", "DISPATCH_AMQP_CACERT", "amqp_cacert", K_STR, OFF(amqp_cacert), 0, 0,
     "CA bundle for amqps://"},
    {"amqp-cert", "DISPATCH_AMQP_CERT", "amqp_cert", K_STR, OFF(amqp_cert), 0, 0,
     "client certificate for amqps://"},
    {"amqp-key", "DISPATCH_AMQP_KEY", "amqp_key", K_STR, OFF(amqp_key), 0, 0,
     "client key for amqps://"},
    {"amqp-no-verify", NULL, "amqp_no_verify", K_BOOL, OFF(amqp_noverify), 0, 0,
     "do not verify the broker's certificate (testing only)"},
    {"queue", "DISPATCH_QUEUE", "queue", K_STR, OFF(queue), 0, 0,
     "work queue name; other names derive from it (default dispatch)"},
    {"node", "DISPATCH_NODE", "node", K_STR, OFF(node), 0, 0,
     "this node's name (default: the host name)"},
    {"cluster", "DISPATCH_CLUSTER", "cluster", K_STR, OFF(cluster), 0, 0,
     "deployment name: what this dispatcher owns on its Docker host (default: the queue name)"},
    {"queue-type", "DISPATCH_QUEUE_TYPE", "queue_type", K_QTYPE, OFF(classic_queue), 0, 0,
     "quorum (default) or classic"},
    {"delivery-limit", "DISPATCH_DELIVERY_LIMIT", "delivery_limit", K_INT, OFF(delivery_limit), 1,
     1000, "deliveries of one message before it is dead-lettered (default 5)"},
    {"prefetch", "DISPATCH_PREFETCH", "prefetch", K_INT, OFF(prefetch), 1, 10000,
     "unacknowledged messages in flight (default 16)"},
    {"workers", "DISPATCH_WORKERS", "workers", K_INT, OFF(workers), 1, 1024,
     "worker threads (default: prefetch)"},
    {"heartbeat", "DISPATCH_HEARTBEAT", "heartbeat", K_INT, OFF(heartbeat), 0, 3600,
     "AMQP heartbeat in seconds (default 30)"},
    {"max-body", "DISPATCH_MAX_BODY", "max_body", K_SIZE, OFF(max_body), 64, 64 << 20,
     "largest message accepted, bytes (default 1048576)"},
    {"max-reply", "DISPATCH_MAX_REPLY", "max_reply", K_SIZE, OFF(max_reply), 4096, 64 << 20,
     "largest reply sent, bytes; a bigger one is answered too_large (default 15728640, under "
     "RabbitMQ 4's 16 MiB message limit)"},
    {"output-limit", "DISPATCH_OUTPUT_LIMIT", "output_limit", K_SIZE, OFF(output_limit), 0,
     64 << 20, "output captured per run, bytes (default 1048576)"},
    {"max-run-time", "DISPATCH_MAX_RUN_TIME", "max_run_time", K_INT, OFF(max_run_seconds), 0,
     100000000, "upper bound on any run's time limit, seconds (0: none)"},
    {"gateway", "DISPATCH_GATEWAY", "gateway", K_STR, OFF(gateway), 0, 0,
     "HTTP gateway address ADDR:PORT, or PORT for 127.0.0.1:PORT (default: off)"},
    {"gateway-token", "DISPATCH_GATEWAY_TOKEN", "gateway_token", K_STR, OFF(gateway_token), 0, 0,
     "bearer token the gateway requires (required off loopback)"},
    {"gateway-token-file", "DISPATCH_GATEWAY_TOKEN_FILE", "gateway_token_file", K_STR,
     OFF(gateway_token_file), 0, 0, "file whose first line is the gateway's bearer token"},
    {"gateway-cert", "DISPATCH_GATEWAY_CERT", "gateway_cert", K_STR, OFF(gateway_cert), 0, 0,
     "PEM certificate (chain): the gateway serves HTTPS"},
    {"gateway-key", "DISPATCH_GATEWAY_KEY", "gateway_key", K_STR, OFF(gateway_key), 0, 0,
     "PEM private key of the gateway's certificate"},
    {"gateway-max-body", "DISPATCH_GATEWAY_MAX_BODY", "gateway_max_body", K_SIZE,
     OFF(gateway_max_body), 64, 64 << 20, "largest gateway request body, bytes (default 1048576)"},
    {"gateway-rate", "DISPATCH_GATEWAY_RATE", "gateway_rate", K_INT, OFF(gateway_rate), 0, 1000000,
     "gateway requests per second per client address, bursts of twice that; 0: no bound "
     "(default 50)"},
    {"gateway-timeout", "DISPATCH_GATEWAY_TIMEOUT", "gateway_timeout", K_INT, OFF(gateway_timeout),
     1, 86400, "seconds a gateway request waits for its reply (default 60)"},
    {"log-format", "DISPATCH_LOG_FORMAT", "log_format", K_LOGFMT, OFF(json_logs), 0, 0,
     "text (default) or json"},
    {"log-file", "DISPATCH_LOG_FILE", "log_file", K_STR, OFF(log_file), 0, 0,
     "append records and diagnostics to this file instead of stdout/stderr (SIGHUP reopens "
     "it)"},
    {"verbose", "DISPATCH_VERBOSE", "verbose", K_BOOL, OFF(verbose), 0, 0,
     "debug diagnostics on stderr"},
    {"quiet-output", "DISPATCH_QUIET_OUTPUT", "quiet_output", K_BOOL, OFF(quiet_output), 0, 0,
     "do not copy the attached output of runs to stdout (it is copied by default)"},
    {"membership-interval", "DISPATCH_MEMBERSHIP_INTERVAL", "membership_interval", K_INT,
     OFF(membership_interval_ms), 100, 60000,
     "cluster heartbeat interval, milliseconds (default 2000; once a minute while "
     "the node is alone in its view)"},
    {"membership-expiry", "DISPATCH_MEMBERSHIP_EXPIRY", "membership_expiry", K_INT,
     OFF(membership_expiry), 2, 100,
     "heartbeat intervals of silence after which a node leaves the view (default 3)"},
    {"gather-timeout", "DISPATCH_GATHER_TIMEOUT", "gather_timeout", K_INT, OFF(gather_ms), 100,
     600000, "how long a cluster-wide query waits for the other nodes, ms (default 3000)"},
    {"templates", "DISPATCH_TEMPLATES", "templates", K_STR, OFF(templates_dir), 0, 0,
     "directory of container templates, <name>.json each (checked at start)"},
    {"bulk-timeout", "DISPATCH_BULK_TIMEOUT", "bulk_timeout", K_INT, OFF(bulk_seconds), 1, 86400,
     "how long a request with instances waits for its pieces, seconds (default 600)"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const setting *find_setting(const char *flag)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strcmp(settings[i].flag, flag) == 0)
            return &settings[i];
    return NULL;
}

static void set_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_cause(char **cause, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(*cause);
    *cause = NULL;
    if (vasprintf(cause, fmt, ap) < 0)
        *cause = NULL;
    va_end(ap);
}

/* Applies one textual value to a setting.  source names where it came from,
 * for the message. */
static int apply(dd_config *cfg, const setting *s, const char *value, const char *source,
                 char **cause)
{
    char *base = (char *)cfg + s->offset;
    char *end;
    switch (s->kind) {
    case K_STR: {
        char **dst = (char **)base;
        if (value[0] == '\0') {
            set_cause(cause, "%s: %s must not be empty", source, s->flag);
            return -1;
        }
        char *copy = xstrdup(value);
        free(*dst);
        *dst = copy;
        return 0;
    }
    case K_INT:
    case K_SIZE: {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || v < s->min || v > s->max) {
            set_cause(cause, "%s: %s must be an integer from %ld to %ld, not \"%.40s\"", source,
                      s->flag, s->min, s->max, value);
            return -1;
        }
        if (s->kind == K_INT)
            *(int *)base = (int)v;
        else
            *(size_t *)base = (size_t)v;
        return 0;
    }
    case K_BOOL:
    case K_TRISTATE: {
        int v;
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes"))
            v = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no"))
            v = 0;
        else {
            set_cause(cause, "%s: %s must be true or false, not \"%.40s\"", source, s->flag, value);
            return -1;
        }
        if (s->kind == K_BOOL)
            *(bool *)base = v;
        else
            *(int *)base = v;
        return 0;
    }
    case K_QTYPE:
        if (strcmp(value, "quorum") && strcmp(value, "classic")) {
            set_cause(cause, "%s: queue type must be quorum or classic, not \"%.40s\"", source,
                      value);
            return -1;
        }
        *(bool *)base = strcmp(value, "classic") == 0;
        return 0;
    case K_LOGFMT:
        if (strcmp(value, "text") && strcmp(value, "json")) {
            set_cause(cause, "%s: log format must be text or json, not \"%.40s\"", source, value);
            return -1;
        }
        *(bool *)base = strcmp(value, "json") == 0;
        return 0;
    }
    return -1;
}

/* The text of config-file value val for setting s, in text (len bytes) for
 * a number.  NULL when val is not of the setting's JSON type; *want names
 * that type. */
static const char *file_value(const setting *s, const json_t *val, char *text, size_t len,
                              const char **want)
{
    switch (s->kind) {
    case K_INT:
    case K_SIZE:
        *want = "an integer";
        if (!json_is_integer(val))
            return NULL;
        snprintf(text, len, "%" JSON_INTEGER_FORMAT, json_integer_value(val));
        return text;
    case K_BOOL:
    case K_TRISTATE:
        *want = "true or false";
        if (!json_is_boolean(val))
            return NULL;
        return json_is_true(val) ? "true" : "false";
    default:
        *want = "a string";
        return json_is_string(val) ? json_string_value(val) : NULL;
    }
}

static int load_file(dd_config *cfg, const char *path, char **cause)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = -1;
    if (root == NULL) {
        set_cause(cause, "config file %s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(root)) {
        set_cause(cause, "config file %s: must hold a JSON object", path);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "policy") == 0) {
            /* its keys are checked by policy_from_json() at start */
            if (!json_is_object(val)) {
                set_cause(cause, "config file %s: \"%s\" has the wrong type: it must be an object",
                          path, key);
                goto out;
            }
            json_decref(cfg->policy);
            cfg->policy = json_incref(val);
            continue;
        }
        const setting *s = NULL;
        for (size_t i = 0; i < N_SETTINGS; i++)
            if (strcmp(settings[i].key, key) == 0)
                s = &settings[i];
        if (s == NULL) {
            set_cause(cause, "config file %s: unknown key \"%.60s\"", path, key);
            goto out;
        }
        char text[64];
        const char *want;
        const char *v = file_value(s, val, text, sizeof text, &want);
        if (v == NULL) {
            set_cause(cause, "config file %s: \"%s\" has the wrong type: it must be %s", path, key,
                      want);
            goto out;
        }
        char source[300];
        snprintf(source, sizeof source, "config file %s", path);
        if (apply(cfg, s, v, source, cause) != 0)
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: docker-dispatch [options] [dockerHostAddr] amqpAddr\n\n"
               "Consumes JSON commands from RabbitMQ and runs them on a Docker daemon.\n"
               "dockerHostAddr: unix:///var/run/docker.sock, /path/docker.sock, ip:port, "
               "tcp://host:port\n"
               "amqpAddr: amqp://user:pass@host:port/ or amqps://...\n\n"
               "options (environment variable in brackets):\n"
               "  -q, --queue NAME        [DISPATCH_QUEUE]\n"
               "  -c, --config FILE       JSON config file [DISPATCH_CONFIG]\n"
               "  -h, --help, --version\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        if (!strcmp(s->flag, "queue"))
            continue;
        fprintf(f, "  --%-20s %s%s%s%s\n", s->flag, s->help, s->env ? " [" : "",
                s->env ? s->env : "", s->env ? "]" : "");
    }
    fprintf(f, "\nPrecedence: flags, then environment, then the config file.\n");
}

/* getopt_long's table: one row per setting (val 1000 + its index), then
 * --config, --help, --version, --json and the terminator. */
#define N_LONGOPTS (N_SETTINGS + 5)

/* Clears cfg and sets the defaults that do not depend on other settings.
 * Cannot fail. */
static void set_defaults(dd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->docker_tls = -1;
    cfg->delivery_limit = 5;
    cfg->prefetch = BROKER_DEFAULT_PREFETCH;
    cfg->heartbeat = 30;
    cfg->max_body = 1u << 20;
    cfg->max_reply = 15u << 20; /* ENGINE_DEFAULT_MAX_REPLY */
    cfg->output_limit = 1u << 20;
    cfg->membership_interval_ms = 2000;
    cfg->membership_expiry = 3;
    cfg->gather_ms = 3000;
    cfg->bulk_seconds = 600;
    cfg->gateway_rate = -1; /* the gateway's defaults: this, max_body and timeout 0 */
}

/* Fills longopts (N_LONGOPTS rows, borrowing the table's names).  Cannot
 * fail. */
static void make_longopts(struct option *longopts)
{
    size_t n = 0;
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting *s = &settings[i];
        bool noarg = s->kind == K_BOOL || s->kind == K_TRISTATE;
        longopts[n++] =
            (struct option){s->flag, noarg ? no_argument : required_argument, NULL, 1000 + (int)i};
    }
    longopts[n++] = (struct option){"config", required_argument, NULL, 'c'};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n++] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[n++] = (struct option){"json", no_argument, NULL, 'j'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
}

/* First pass: only --config, --help, --version, so that the file can be
 * applied before the environment and the flags.  Sets *file (borrowed from
 * argv or the environment) to the config file named, if any.  Returns 0, 1
 * after printing the help or version, or -1 with *cause set. */
static int first_pass(int argc, char **argv, const struct option *longopts, const char **file,
                      char **cause)
{
    *file = getenv("DISPATCH_CONFIG");
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "q:c:hvV", longopts, NULL)) != -1) {
        if (ch == 'c')
            *file = optarg;
        else if (ch == 'h') {
            usage(stdout);
            return 1;
        } else if (ch == 'V') {
            printf("docker-dispatch %s\n", DD_VERSION);
            return 1;
        } else if (ch == '?') {
            set_cause(cause, "unknown or incomplete option \"%s\" (see --help)", argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

/* Applies the config file named file (borrowed; NULL or empty: none) and
 * records its name in cfg->config_file.  0, or -1 with *cause set. */
static int apply_file(dd_config *cfg, const char *file, char **cause)
{
    if (file == NULL || !*file)
        return 0;
    cfg->config_file = xstrdup(file);
    return load_file(cfg, file, cause);
}

/* Applies every setting whose environment variable is set and not empty.
 * 0, or -1 with *cause set. */
static int apply_environment(dd_config *cfg, char **cause)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = settings[i].env ? getenv(settings[i].env) : NULL;
        if (v != NULL && *v) {
            char source[80];
            snprintf(source, sizeof source, "environment %s", settings[i].env);
            if (apply(cfg, &settings[i], v, source, cause) != 0)
                return -1;
        }
    }
    return 0;
}

/* Second pass over the options: applies every flag, leaving optind at the
 * first positional argument.  0, or -1 with *cause set. */
static int apply_flags(dd_config *cfg, int argc, char **argv, const struct option *longopts,
                       char **cause)
{
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "q:c:hvV", longopts, NULL)) != -1) {
        if (ch >= 1000) {
            const setting *s = &settings[ch - 1000];
            const char *v = optarg ? optarg : "true";
            if (apply(cfg, s, v, "option", cause) != 0)
                return -1;
        } else if (ch == 'q') {
            if (apply(cfg, find_setting("queue"), optarg, "option -q", cause) != 0)
                return -1;
        } else if (ch == 'v') {
            cfg->verbose = true;
        } else if (ch == 'j') {
            cfg->json_logs = true;
        }
    }
    return 0;
}

/* Positional addresses from optind on, classified by scheme as the seed CLI
 * allowed "[dockerHostAddr] amqpAddr".  0, or -1 with *cause set. */
static int apply_positional(dd_config *cfg, int argc, char **argv, char **cause)
{
    if (argc - optind > 2) {
        set_cause(cause, "too many arguments: expected [dockerHostAddr] amqpAddr");
        return -1;
    }
    for (int i = optind; i < argc; i++) {
        const char *a = argv[i];
        bool amqp = !strncmp(a, "amqp://", 7) || !strncmp(a, "amqps://", 8);
        if (apply(cfg, find_setting(amqp ? "amqp" : "docker"), a, "argument", cause) != 0)
            return -1;
    }
    return 0;
}

/* Fills in the defaults that depend on other settings (AMQP URL, queue,
 * node, cluster) and checks the AMQP scheme.  0, or -1 with *cause set. */
static int derive_defaults(dd_config *cfg, char **cause)
{
    if (cfg->amqp_url == NULL)
        cfg->amqp_url = xstrdup("amqp://guest:guest@127.0.0.1:5672/");
    if (strncmp(cfg->amqp_url, "amqp://", 7) && strncmp(cfg->amqp_url, "amqps://", 8)) {
        char *red = broker_url_redact(cfg->amqp_url);
        set_cause(cause, "AMQP address \"%s\" must start with amqp:// or amqps://",
                  red ? red : "?");
        free(red);
        return -1;
    }
    if (cfg->queue == NULL)
        cfg->queue = xstrdup("dispatch");
    if (cfg->node == NULL) {
        char host[256] = "node";
        gethostname(host, sizeof host - 1);
        cfg->node = xstrdup(host);
    }
    if (cfg->cluster == NULL)
        cfg->cluster = xstrdup(cfg->queue);
    return 0;
}

/* Checks the queue, node and cluster names against the broker's rule.
 * 0, or -1 with *cause set. */
static int check_names(const dd_config *cfg, char **cause)
{
    const struct {
        const char *what, *name;
    } names[] = {{"queue", cfg->queue}, {"node", cfg->node}, {"cluster", cfg->cluster}};
    for (size_t i = 0; i < 3; i++)
        if (!broker_name_ok(names[i].name)) {
            set_cause(cause, "%s name may only hold letters, digits, '-', '_' and '.' (1 to %d)",
                      names[i].what, BROKER_NAME_MAX);
            return -1;
        }
    return 0;
}

int cfg_load(dd_config *cfg, int argc, char **argv, char **cause)
{
    struct option longopts[N_LONGOPTS];
    const char *file;
    *cause = NULL;

    set_defaults(cfg);
    make_longopts(longopts);
    int rc = first_pass(argc, argv, longopts, &file, cause);
    if (rc != 0)
        return rc;
    /* Precedence: each source overrides the ones applied before it. */
    if (apply_file(cfg, file, cause) != 0)
        return -1;
    if (apply_environment(cfg, cause) != 0)
        return -1;
    if (apply_flags(cfg, argc, argv, longopts, cause) != 0)
        return -1;
    if (apply_positional(cfg, argc, argv, cause) != 0)
        return -1;
    if (derive_defaults(cfg, cause) != 0 || check_names(cfg, cause) != 0)
        return -1;
    if (cfg->workers == 0)
        cfg->workers = cfg->prefetch;
    return 0;
}

int cfg_read_policy(const char *path, json_t **policy, char **cause)
{
    json_error_t jerr;
    *policy = NULL;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        set_cause(cause, "config file %s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    if (!json_is_object(root)) {
        set_cause(cause, "config file %s: must hold a JSON object", path);
        json_decref(root);
        return -1;
    }
    *policy = json_incref(json_object_get(root, "policy"));
    json_decref(root);
    return 0;
}

void cfg_cleanup(dd_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->docker_host);
    free(cfg->docker_cert_path);
    free(cfg->amqp_url);
    free(cfg->amqp_cacert);
    free(cfg->amqp_cert);
    free(cfg->amqp_key);
    free(cfg->queue);
    free(cfg->node);
    free(cfg->cluster);
    free(cfg->gateway);
    if (cfg->gateway_token != NULL)
        explicit_bzero(cfg->gateway_token, strlen(cfg->gateway_token));
    free(cfg->gateway_token);
    free(cfg->gateway_token_file);
    free(cfg->gateway_cert);
    free(cfg->gateway_key);
    free(cfg->config_file);
    free(cfg->templates_dir);
    free(cfg->log_file);
    json_decref(cfg->policy);
    memset(cfg, 0, sizeof *cfg);
}
