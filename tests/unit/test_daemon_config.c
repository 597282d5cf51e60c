/*
 * test_dd_config.c -- the daemon's settings: defaults, the seed's command
 * line, the config file, the environment and flags in that order of
 * precedence, and the refusals (never echoing a password).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"

static char g_file[64];

/* Every variable cfg_load reads, cleared before each case. */
static const char *const env_vars[] = {
    "DISPATCH_CONFIG",         "DISPATCH_DOCKER_HOST",  "DISPATCH_AMQP_URL",  "DISPATCH_QUEUE",
    "DISPATCH_NODE",           "DISPATCH_QUEUE_TYPE",   "DISPATCH_PREFETCH",  "DISPATCH_WORKERS",
    "DISPATCH_DELIVERY_LIMIT", "DISPATCH_MAX_RUN_TIME", "DISPATCH_VERBOSE",   "DISPATCH_CLUSTER",
    "DISPATCH_QUIET_OUTPUT",   "DISPATCH_LOG_FILE",     "DISPATCH_MAX_REPLY",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    snprintf(g_file, sizeof g_file, "/tmp/dd-cfgtest-%ld.json", (long)getpid());
    return 0;
}

static int remove_file(void **state)
{
    (void)state;
    unlink(g_file);
    return 0;
}

static void write_file(const char *text)
{
    FILE *f = fopen(g_file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* cfg_load over a NULL-terminated argument list; the status. */
static int load(dd_config *cfg, char **cause, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, cause);
    argv[argc++] = "docker-dispatch";
    for (char *a; argc < 31 && (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return cfg_load(cfg, argc, argv, cause);
}

static void seed_command_line(void **state)
{
    (void)state;
    dd_config c;
    char *cause = NULL;
    /* the seed's form: docker-dispatch -q queue dockerHostAddr amqpAddr */
    assert_int_equal(
        load(&c, &cause, "-q", "jobs", "127.0.0.1:2375", "amqp://u:p@mq.example:5672/vh", NULL), 0);
    assert_string_equal(c.queue, "jobs");
    assert_string_equal(c.docker_host, "127.0.0.1:2375");
    assert_string_equal(c.amqp_url, "amqp://u:p@mq.example:5672/vh");
    cfg_cleanup(&c);

    /* only the broker: defaults for the rest */
    assert_int_equal(load(&c, &cause, "amqps://mq.example/", NULL), 0);
    assert_string_equal(c.amqp_url, "amqps://mq.example/");
    assert_null(c.docker_host);
    assert_string_equal(c.queue, "dispatch");
    assert_non_null(c.node);
    assert_int_equal(c.prefetch, 16);
    assert_int_equal(c.workers, 16); /* as many as the prefetch */
    assert_false(c.classic_queue);
    assert_null(c.policy);
    cfg_cleanup(&c);

    /* nothing: the local broker */
    assert_int_equal(load(&c, &cause, NULL), 0);
    assert_string_equal(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672/");
    cfg_cleanup(&c);
}

/* The file, then the environment, then flags. */
static void precedence(void **state)
{
    (void)state;
    write_file("{\"queue\": \"from-file\", \"node\": \"file-node\", \"prefetch\": 4,"
               " \"queue_type\": \"classic\", \"max_run_time\": 60,"
               " \"policy\": {\"max_memory\": 1024}}");
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_string_equal(c.queue, "from-file");
    assert_string_equal(c.node, "file-node");
    assert_int_equal(c.prefetch, 4);
    assert_true(c.classic_queue);
    assert_int_equal(c.max_run_seconds, 60);
    assert_int_equal(json_integer_value(json_object_get(c.policy, "max_memory")), 1024);
    assert_string_equal(c.config_file, g_file);
    cfg_cleanup(&c);

    setenv("DISPATCH_CONFIG", g_file, 1);
    setenv("DISPATCH_QUEUE", "from-env", 1);
    setenv("DISPATCH_PREFETCH", "8", 1);
    assert_int_equal(load(&c, &cause, NULL), 0);
    assert_string_equal(c.queue, "from-env");
    assert_string_equal(c.node, "file-node");
    assert_int_equal(c.prefetch, 8);
    cfg_cleanup(&c);

    assert_int_equal(load(&c, &cause, "-q", "from-flag", "--prefetch", "2", "--node", "n2",
                          "--queue-type", "quorum", NULL),
                     0);
    assert_string_equal(c.queue, "from-flag");
    assert_string_equal(c.node, "n2");
    assert_int_equal(c.prefetch, 2);
    assert_false(c.classic_queue);
    assert_int_equal(c.max_run_seconds, 60); /* still the file's */
    cfg_cleanup(&c);
}

/* What cannot be used is refused with the reason, the password never in it. */
static void refusals(void **state)
{
    (void)state;
    static const struct {
        const char *file; /* NULL: no file */
        const char *arg1, *arg2;
        const char *why;
    } cases[] = {
        {"{\"queue\": [1]}", NULL, NULL, "\"queue\" has the wrong type"},
        {"{\"queu\": \"x\"}", NULL, NULL, "unknown key \"queu\""},
        {"{\"prefetch\": 0}", NULL, NULL, "prefetch must be an integer from 1"},
        {"[1]", NULL, NULL, "must hold a JSON object"},
        {"{\"queue\": \"a\",", NULL, NULL, "line 1"},
        {NULL, "--prefetch", "lots", "prefetch must be an integer"},
        {NULL, "--queue-type", "stream", "queue type must be quorum or classic"},
        {NULL, "-q", "bad/name", "queue name may only hold"},
        {NULL, "--node", "a b", "node name may only hold"},
        {NULL, "--node",
         "n123456789n123456789n123456789n123456789n123456789n123456789n123456789n123456789n1234"
         "56789n123456789n123456789n123456789n123456789n123456789n123456789n123456789n123456789"
         "n123456789n123456789n123456789n12",
         "(1 to 200)"},
        {NULL, "--frob", NULL, "unknown or incomplete option \"--frob\""},
        {NULL, "--amqp", "http://u:secret@h/", "must start with amqp:// or amqps://"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dd_config c;
        char *cause = NULL;
        int rc;
        if (cases[i].file) {
            write_file(cases[i].file);
            rc = load(&c, &cause, "-c", g_file, NULL);
        } else {
            rc = load(&c, &cause, cases[i].arg1, cases[i].arg2, NULL);
        }
        if (rc != -1)
            fail_msg("case %zu: accepted", i);
        assert_non_null(cause);
        if (strstr(cause, cases[i].why) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, cause, cases[i].why);
        assert_null(strstr(cause, "secret"));
        free(cause);
        cfg_cleanup(&c);
    }
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, "a", "b", "amqp://x/", NULL), -1);
    assert_non_null(strstr(cause, "too many arguments"));
    free(cause);
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "-c", "/nonexistent/dd.json", NULL), -1);
    assert_non_null(strstr(cause, "/nonexistent/dd.json"));
    free(cause);
    cfg_cleanup(&c);
}

/* The cluster name defaults to the queue name, comes from any source like
 * the others and is checked like a queue name; output echo is on unless
 * turned off. */
static void cluster_and_output(void **state)
{
    (void)state;
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, "-q", "jobs", NULL), 0);
    assert_string_equal(c.cluster, "jobs");
    assert_false(c.quiet_output);
    cfg_cleanup(&c);

    write_file("{\"cluster\": \"from-file\", \"quiet_output\": true}");
    assert_int_equal(load(&c, &cause, "--config", g_file, "-q", "jobs", NULL), 0);
    assert_string_equal(c.cluster, "from-file");
    assert_true(c.quiet_output);
    cfg_cleanup(&c);

    setenv("DISPATCH_CLUSTER", "from-env", 1);
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_string_equal(c.cluster, "from-env");
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--cluster", "from-flag", "--quiet-output", NULL), 0);
    assert_string_equal(c.cluster, "from-flag");
    assert_true(c.quiet_output);
    cfg_cleanup(&c);

    assert_int_equal(load(&c, &cause, "--cluster", "a b", NULL), -1);
    assert_non_null(cause);
    assert_non_null(strstr(cause, "cluster name"));
    free(cause);
    cfg_cleanup(&c);
}

/* The largest reply: by default under RabbitMQ 4's default message size
 * limit (16 MiB), from any source like the others, and checked. */
static void max_reply(void **state)
{
    (void)state;
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, NULL), 0);
    assert_int_equal(c.max_reply, 15u << 20);
    assert_true(c.max_reply < 16u << 20);
    cfg_cleanup(&c);

    write_file("{\"max_reply\": 65536}");
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_int_equal(c.max_reply, 65536);
    cfg_cleanup(&c);
    setenv("DISPATCH_MAX_REPLY", "131072", 1);
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_int_equal(c.max_reply, 131072);
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--config", g_file, "--max-reply", "262144", NULL), 0);
    assert_int_equal(c.max_reply, 262144);
    cfg_cleanup(&c);
    unsetenv("DISPATCH_MAX_REPLY");

    /* too small to hold even the too_large answer, or over 64 MiB */
    assert_int_equal(load(&c, &cause, "--max-reply", "100", NULL), -1);
    assert_non_null(cause);
    assert_non_null(strstr(cause, "max-reply"));
    free(cause);
    cause = NULL;
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--max-reply", "67108865", NULL), -1);
    free(cause);
    cfg_cleanup(&c);
}

/* The gateway's settings: off by default (the gateway's own defaults for
 * the rest), from the file, the environment and flags, and checked. */
static void gateway_settings(void **state)
{
    (void)state;
    const char *vars[] = {"DISPATCH_GATEWAY",          "DISPATCH_GATEWAY_TOKEN",
                          "DISPATCH_GATEWAY_RATE",     "DISPATCH_GATEWAY_TOKEN_FILE",
                          "DISPATCH_GATEWAY_CERT",     "DISPATCH_GATEWAY_KEY",
                          "DISPATCH_GATEWAY_MAX_BODY", "DISPATCH_GATEWAY_TIMEOUT"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, NULL), 0);
    assert_null(c.gateway);
    assert_null(c.gateway_token);
    assert_int_equal(c.gateway_rate, -1);
    assert_int_equal(c.gateway_max_body, 0);
    assert_int_equal(c.gateway_timeout, 0);
    cfg_cleanup(&c);

    write_file("{\"gateway\": \"127.0.0.1:8080\", \"gateway_token_file\": \"/etc/t\","
               " \"gateway_cert\": \"/c.pem\", \"gateway_key\": \"/k.pem\","
               " \"gateway_max_body\": 4096, \"gateway_rate\": 0, \"gateway_timeout\": 5}");
    setenv("DISPATCH_GATEWAY", "9090", 1);
    setenv("DISPATCH_GATEWAY_RATE", "7", 1);
    assert_int_equal(load(&c, &cause, "--config", g_file, "--gateway-timeout", "9", NULL), 0);
    assert_string_equal(c.gateway, "9090");
    assert_string_equal(c.gateway_token_file, "/etc/t");
    assert_string_equal(c.gateway_cert, "/c.pem");
    assert_string_equal(c.gateway_key, "/k.pem");
    assert_int_equal(c.gateway_max_body, 4096);
    assert_int_equal(c.gateway_rate, 7);
    assert_int_equal(c.gateway_timeout, 9);
    cfg_cleanup(&c);
    unsetenv("DISPATCH_GATEWAY");
    unsetenv("DISPATCH_GATEWAY_RATE");

    assert_int_equal(
        load(&c, &cause, "--gateway", "0.0.0.0:80", "--gateway-token", "0123456789abcdef", NULL),
        0);
    assert_string_equal(c.gateway_token, "0123456789abcdef");
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--gateway-timeout", "0", NULL), -1);
    assert_non_null(strstr(cause, "gateway-timeout"));
    free(cause);
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--gateway-max-body", "1", NULL), -1);
    assert_non_null(strstr(cause, "gateway-max-body"));
    free(cause);
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--gateway", "", NULL), -1);
    free(cause);
    cfg_cleanup(&c);
}

/* Each key of the config file has one JSON type; a value of another type is
 * refused naming the key, never read as text (a queue named "5"). */
static void file_values_of_the_wrong_type(void **state)
{
    (void)state;
    static const char *const files[] = {
        "{\"docker_host\": 5}",
        "{\"docker_tls_verify\": 1}",
        "{\"docker_cert_path\": true}",
        "{\"amqp_url\": 5}",
        "{\"amqp_cacert\": 5}",
        "{\"amqp_cert\": 5}",
        "{\"amqp_key\": 5}",
        "{\"amqp_no_verify\": \"true\"}",
        "{\"queue\": 5}",
        "{\"node\": 5}",
        "{\"cluster\": false}",
        "{\"queue_type\": 1}",
        "{\"delivery_limit\": \"5\"}",
        "{\"prefetch\": \"4\"}",
        "{\"workers\": true}",
        "{\"heartbeat\": 30.5}",
        "{\"max_body\": \"65536\"}",
        "{\"max_reply\": \"65536\"}",
        "{\"output_limit\": \"0\"}",
        "{\"max_run_time\": \"60\"}",
        "{\"gateway\": 8080}",
        "{\"gateway_token\": 5}",
        "{\"gateway_token_file\": 5}",
        "{\"gateway_cert\": 5}",
        "{\"gateway_key\": 5}",
        "{\"gateway_max_body\": \"4096\"}",
        "{\"gateway_rate\": \"7\"}",
        "{\"gateway_timeout\": \"5\"}",
        "{\"log_format\": 1}",
        "{\"log_file\": 5}",
        "{\"verbose\": 1}",
        "{\"quiet_output\": \"yes\"}",
        "{\"membership_interval\": \"100\"}",
        "{\"membership_expiry\": \"3\"}",
        "{\"gather_timeout\": \"100\"}",
        "{\"templates\": 5}",
        "{\"bulk_timeout\": \"60\"}",
        "{\"policy\": 5}",
        "{\"queue\": null}",
        "{\"prefetch\": null}",
        "{\"verbose\": null}",
        "{\"policy\": [1]}",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        dd_config c;
        char *cause = NULL;
        write_file(files[i]);
        if (load(&c, &cause, "-c", g_file, NULL) != -1)
            fail_msg("%s: accepted", files[i]);
        char key[40];
        assert_int_equal(sscanf(files[i], "{\"%39[a-z_]\"", key), 1);
        char want[64];
        snprintf(want, sizeof want, "\"%s\" has the wrong type", key);
        if (cause == NULL || strstr(cause, want) == NULL)
            fail_msg("%s: \"%s\" lacks \"%s\"", files[i], cause ? cause : "(none)", want);
        free(cause);
        cfg_cleanup(&c);
    }
}

static void redaction(void **state)
{
    (void)state;
    char *r = broker_url_redact("amqp://user:s3cret@host:5672/vh");
    assert_string_equal(r, "amqp://user:***@host:5672/vh");
    free(r);
    r = broker_url_redact("amqps://host/");
    assert_string_equal(r, "amqps://host:5671/");
    free(r);
    r = broker_url_redact("amqp://user:p@ss:w@rd@host/");
    assert_null(strstr(r, "ss:w"));
    free(r);
}

/* --log-file from the file, the environment and a flag; the policy read
 * again (SIGHUP) from the file alone. */
static void log_file_and_policy_reread(void **state)
{
    (void)state;
    dd_config c;
    char *cause = NULL;
    assert_int_equal(load(&c, &cause, NULL), 0);
    assert_null(c.log_file);
    cfg_cleanup(&c);

    write_file("{\"log_file\": \"/var/log/a.log\", \"policy\": {\"images\": [\"busybox:*\"]}}");
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_string_equal(c.log_file, "/var/log/a.log");
    cfg_cleanup(&c);
    setenv("DISPATCH_LOG_FILE", "/var/log/b.log", 1);
    assert_int_equal(load(&c, &cause, "--config", g_file, NULL), 0);
    assert_string_equal(c.log_file, "/var/log/b.log");
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--config", g_file, "--log-file", "/var/log/c.log", NULL), 0);
    assert_string_equal(c.log_file, "/var/log/c.log");
    cfg_cleanup(&c);
    assert_int_equal(load(&c, &cause, "--log-file", "", NULL), -1);
    assert_non_null(strstr(cause, "log-file"));
    cfg_cleanup(&c);
    free(cause);
    cause = NULL;

    json_t *p = NULL;
    assert_int_equal(cfg_read_policy(g_file, &p, &cause), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(p, "images"), 0)),
                        "busybox:*");
    json_decref(p);
    write_file("{\"queue\": \"q\"}");
    assert_int_equal(cfg_read_policy(g_file, &p, &cause), 0);
    assert_null(p);
    write_file("{\"policy\": ");
    assert_int_equal(cfg_read_policy(g_file, &p, &cause), -1);
    assert_null(p);
    assert_non_null(strstr(cause, g_file));
    free(cause);
    cause = NULL;
    write_file("[1]");
    assert_int_equal(cfg_read_policy(g_file, &p, &cause), -1);
    assert_non_null(strstr(cause, "JSON object"));
    free(cause);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(seed_command_line, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(precedence, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(refusals, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(file_values_of_the_wrong_type, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(redaction, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(cluster_and_output, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(gateway_settings, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(max_reply, clear_env, remove_file),
        cmocka_unit_test_setup_teardown(log_file_and_policy_reread, clear_env, remove_file),
    };
    return cmocka_run_group_tests_name("daemon settings", tests, NULL, NULL);
}
