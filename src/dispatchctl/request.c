/*
 * request.c -- dispatchctl's builders: one per command, each turns its
 * command line into the message to publish (docs/protocol.md) and says
 * what the rest needs to know (ctl_req).  Then the local checks that run
 * before anything is published, and the request's random ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "protocol.h"
#include "text.h"

/* A new message {"Dockercmd": verb}.  Never NULL (out of memory aborts: a
 * command-line tool has nothing better to do). */
static json_t *msg_new(const char *verb)
{
    json_t *m = json_pack("{s:s}", "Dockercmd", verb);
    if (m == NULL)
        abort();
    return m;
}

/* Sets msg.Options.key to v (stolen), creating Options on first use. */
static void opt_set(json_t *msg, const char *key, json_t *v)
{
    json_t *o = json_object_get(msg, "Options");
    if (o == NULL) {
        o = json_object();
        if (o == NULL || json_object_set_new(msg, "Options", o) < 0)
            abort();
    }
    if (v == NULL || json_object_set_new(o, key, v) < 0)
        abort();
}

/* Sets msg.key to the string s. */
static void top_set(json_t *msg, const char *key, const char *s)
{
    json_t *v = json_string(s);
    if (v == NULL || json_object_set_new(msg, key, v) < 0) {
        /* json_string() refuses invalid UTF-8: the local check reports it */
        json_object_set_new(msg, key, json_null());
    }
}

/* Commands that take exactly one operand (CONTAINER or IMAGE) in key, or
 * none (key NULL), and no options. */
static int build_simple(int argc, char **argv, ctl_req *req, const char *verb, const char *key)
{
    int want = key ? 2 : 1;
    if (argc != want || (argc > 1 && argv[1][0] == '-' && argv[1][1] != '\0'))
        return ctl_cmd_usage(argv[0]);
    req->msg = msg_new(verb);
    if (key) {
        top_set(req->msg, key, argv[1]);
        req->echo = argv[1];
    }
    req->local_check = true;
    return 0;
}

int ctl_build_inspect(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "inspect", "Container");
}

int ctl_build_logs(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "logs", "Container");
}

/* pull IMAGE: asks for progress messages (shown unless --json). */
int ctl_build_pull(int argc, char **argv, ctl_req *req)
{
    if (build_simple(argc, argv, req, "pull", "Image") < 0)
        return -1;
    opt_set(req->msg, "Progress", json_true());
    req->progress = true;
    req->echo = NULL;
    return 0;
}

int ctl_build_ping(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "ping", NULL);
}

int ctl_build_info(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "info", NULL);
}

int ctl_build_version(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "version", NULL);
}

int ctl_build_nodes(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "nodes", NULL);
}

/* stop [-t SECONDS] CONTAINER */
int ctl_build_stop(int argc, char **argv, ctl_req *req)
{
    static const struct option lo[] = {{"time", required_argument, NULL, 't'}, {0}};
    long t = -1;
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+t:", lo, NULL)) != -1) {
        if (c != 't' || ctl_parse_int(optarg, 0, 86400, &t) < 0) {
            if (c == 't')
                fprintf(stderr, "dispatchctl: stop: -t takes 0..86400 seconds\n");
            return ctl_cmd_usage(argv[0]);
        }
    }
    if (argc - optind != 1)
        return ctl_cmd_usage(argv[0]);
    req->msg = msg_new("stop");
    top_set(req->msg, "Container", argv[optind]);
    if (t >= 0)
        opt_set(req->msg, "Time", json_integer(t));
    req->echo = argv[optind];
    req->local_check = true;
    if (t >= 0)
        req->min_wait_s = (int)t + RUN_GRACE;
    return 0;
}

/* rm [-f] [-v] CONTAINER */
int ctl_build_rm(int argc, char **argv, ctl_req *req)
{
    static const struct option lo[] = {
        {"force", no_argument, NULL, 'f'}, {"volumes", no_argument, NULL, 'v'}, {0}};
    bool force = false, volumes = false;
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+fv", lo, NULL)) != -1) {
        if (c == 'f')
            force = true;
        else if (c == 'v')
            volumes = true;
        else
            return ctl_cmd_usage(argv[0]);
    }
    if (argc - optind != 1)
        return ctl_cmd_usage(argv[0]);
    req->msg = msg_new("rm");
    top_set(req->msg, "Container", argv[optind]);
    if (force)
        opt_set(req->msg, "Force", json_true());
    if (volumes)
        opt_set(req->msg, "Volumes", json_true());
    req->echo = argv[optind];
    req->local_check = true;
    return 0;
}

/* ps [-a] [-c] and images [-a] [-c]: what the listing covers.
 *   -c, --cluster:  Every node of the cluster (Options.Cluster).
 *   -a, --all:      Everything: every node (unless --node names one,
 *                   req->one_node) and, as with Docker's -a, stopped
 *                   containers / intermediate images too (Options.All,
 *                   and Options.Cluster).
 * Without either, the node that takes the request answers for itself. */
static int build_listing(int argc, char **argv, ctl_req *req, const char *verb)
{
    static const struct option lo[] = {
        {"all", no_argument, NULL, 'a'}, {"cluster", no_argument, NULL, 'c'}, {0}};
    bool all = false, cluster = false;
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+ac", lo, NULL)) != -1) {
        if (c == 'a')
            all = true;
        else if (c == 'c')
            cluster = true;
        else
            return ctl_cmd_usage(argv[0]);
    }
    if (argc != optind)
        return ctl_cmd_usage(argv[0]);
    if (all && !req->one_node)
        cluster = true;
    req->msg = msg_new(verb);
    if (all)
        opt_set(req->msg, "All", json_true());
    if (cluster)
        opt_set(req->msg, "Cluster", json_true());
    req->local_check = true;
    return 0;
}

int ctl_build_ps(int argc, char **argv, ctl_req *req)
{
    return build_listing(argc, argv, req, "ps");
}

int ctl_build_images(int argc, char **argv, ctl_req *req)
{
    return build_listing(argc, argv, req, "images");
}

/* What run's options ask for (the image and its command aside). */
typedef struct run_args {
    bool rm, attach;
    const char *name, *placement; /* borrowed from argv */
    long timeout, instances;      /* 0: not given */
} run_args;

static const struct option run_lo[] = {{"rm", no_argument, NULL, 'r'},
                                       {"attach", no_argument, NULL, 'a'},
                                       {"name", required_argument, NULL, 'n'},
                                       {"timeout", required_argument, NULL, 't'},
                                       {"instances", required_argument, NULL, 'i'},
                                       {"placement", required_argument, NULL, 'p'},
                                       {0}};

/* Takes run's option c (from getopt_long, its value in optarg) into *a.
 * Returns 0, or -1 (after saying why when the value is wrong). */
static int run_opt(int c, run_args *a)
{
    switch (c) {
    case 'r':
        a->rm = true;
        return 0;
    case 'a':
        a->attach = true;
        return 0;
    case 'n':
        a->name = optarg;
        return 0;
    case 't':
        if (ctl_parse_int(optarg, 1, 31536000, &a->timeout) == 0)
            return 0;
        fprintf(stderr, "dispatchctl: run: --timeout takes 1..31536000 seconds\n");
        return -1;
    case 'i':
        if (ctl_parse_int(optarg, 1, 1000, &a->instances) == 0)
            return 0;
        fprintf(stderr, "dispatchctl: run: --instances takes 1..1000\n");
        return -1;
    case 'p':
        a->placement = optarg;
        return 0;
    default:
        return -1;
    }
}

/* Sets msg.Options.key to the string s (null for invalid UTF-8, which
 * the local check refuses). */
static void opt_set_str(json_t *msg, const char *key, const char *s)
{
    json_t *v = json_string(s);
    opt_set(msg, key, v ? v : json_null());
}

/* The run message for a on image argv[0] with the command argv[1..]. */
static void run_message(ctl_req *req, const run_args *a, int argc, char **argv)
{
    req->msg = msg_new("run");
    top_set(req->msg, "Image", argv[0]);
    if (argc > 1) {
        json_t *cmd = json_array();
        if (cmd == NULL || json_object_set_new(req->msg, "Cmd", cmd) < 0)
            abort();
        for (int i = 1; i < argc; i++) {
            json_t *s = json_string(argv[i]);
            json_array_append_new(cmd, s ? s : json_null());
        }
    }
    if (a->name)
        opt_set_str(req->msg, "Name", a->name);
    if (a->attach)
        opt_set(req->msg, "Attach", json_pack("[ss]", "STDOUT", "STDERR"));
    if (a->rm)
        opt_set(req->msg, "Remove", json_true());
    if (a->timeout > 0) {
        opt_set(req->msg, "Timeout", json_integer(a->timeout));
        req->min_wait_s = (int)a->timeout + RUN_GRACE;
    }
    if (a->instances > 0) {
        opt_set(req->msg, "Instances", json_integer(a->instances));
        if (a->placement)
            opt_set_str(req->msg, "Placement", a->placement);
        opt_set(req->msg, "Progress", json_true());
        req->progress = true;
    }
}

/* run [--rm] [--attach] [--name N] [--timeout S] [--instances N
 * [--placement P]] IMAGE [CMD...] */
int ctl_build_run(int argc, char **argv, ctl_req *req)
{
    run_args a = {0};
    int c;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+a", run_lo, NULL)) != -1)
        if (run_opt(c, &a) < 0)
            return ctl_cmd_usage(argv[0]);
    if (argc - optind < 1)
        return ctl_cmd_usage(argv[0]);
    if (a.placement && a.instances == 0) {
        fprintf(stderr, "dispatchctl: run: --placement goes with --instances\n");
        return ctl_cmd_usage(argv[0]);
    }
    run_message(req, &a, argc - optind, argv + optind);
    req->local_check = true;
    return 0;
}

/* send JSON | send - : the body exactly as given, checked locally for being
 * one JSON object within the size cap. */
int ctl_build_send(int argc, char **argv, ctl_req *req)
{
    if (argc != 2)
        return ctl_cmd_usage(argv[0]);
    req->raw = argv[1];
    req->raw_len = strlen(argv[1]);
    return 0;
}

/* The local checks before anything is published.  For `send`: one JSON
 * object within the size cap.  For built commands: proto_parse(), the
 * dispatcher's own validation.  Returns 0, or prints the refusal in the
 * reply's error format and returns EXIT_REFUSED. */
int ctl_check_local(ctl_req *req, const char *body, size_t len)
{
    if (req->raw) {
        json_error_t jerr;
        json_t *v;
        if (len > PROTO_DEFAULT_MAX_BODY) {
            fprintf(stderr, "error: too_large: the message is %zu bytes, over %u (not sent)\n", len,
                    PROTO_DEFAULT_MAX_BODY);
            return EXIT_REFUSED;
        }
        v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (v == NULL) {
            fprintf(stderr, "error: bad_request: invalid JSON at line %d column %d: ", jerr.line,
                    jerr.column);
            text_put_terminal(stderr, jerr.text);
            fprintf(stderr, " (not sent)\n");
            return EXIT_REFUSED;
        }
        int is_obj = json_is_object(v);
        json_decref(v);
        if (!is_obj) {
            fprintf(stderr, "error: bad_request: the message must be a JSON object (not sent)\n");
            return EXIT_REFUSED;
        }
        return 0;
    }
    if (req->local_check) {
        proto_cmd *cmd = NULL;
        proto_error perr;
        if (proto_parse(body, len, NULL, &cmd, &perr) < 0) {
            fprintf(stderr, "error: %s: ", perr.code_name);
            text_put_terminal(stderr, perr.message);
            if (perr.field[0] && strstr(perr.message, perr.field) == NULL) {
                fputs(" (field ", stderr);
                text_put_terminal(stderr, perr.field);
                fputc(')', stderr);
            }
            fprintf(stderr, " (not sent)\n");
            return EXIT_REFUSED;
        }
        proto_cmd_free(cmd);
    }
    return 0;
}

/* Fills buf (at least 2 * nbytes + 1 bytes) with nbytes random bytes from
 * /dev/urandom in hex.  Returns 0, or -1 when the device cannot be read. */
int ctl_random_hex(char *buf, size_t nbytes)
{
    unsigned char raw[32];
    size_t got = 0;
    int rc = -1;
    int fd;

    if (nbytes > sizeof raw)
        return -1;
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < nbytes) {
        ssize_t r = read(fd, raw + got, nbytes - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(buf + 2 * i, 3, "%02x", raw[i]);
    rc = 0;
out:
    close(fd);
    return rc;
}
