/*
 * dispatchctl.c -- the command-line client of docker-dispatch.
 *
 * Builds one JSON command from its command line (or takes one verbatim with
 * `send`), publishes it to the dispatcher's work queue <q> (or a node's
 * queue <q>.node.<name>; a command naming a container by id straight to
 * the node that owns it, through <q>.containers) with direct reply-to,
 * waits for the one final reply and
 * renders it: readable by default, the raw reply on one line with --json.
 * `pull` and `run --instances` ask for progress messages (interim messages
 * with the same correlation id, "final": false) and show them as they
 * come: bars redrawn in place on a terminal, plain lines when piped.
 *
 * Commands are rows of a table (name, usage, builder); renderers are rows
 * of a second table keyed by the canonical command name of the reply, so
 * that `send` renders the commands it knows like the built ones.
 *
 * Exit status: 0 success; 1 the reply was an error (or the local check
 * refused the request; a bulk run: a piece failed); 2 the broker cannot be
 * used (unreachable, login refused, no such queue); 3 no reply in time; 64
 * usage, and no arguments at all (the ctl_overview).  `run` that waited for its
 * container exits with the container's exit code.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "protocol.h"
#include "text.h"

#define EXIT_REFUSED 1
#define EXIT_BROKER  2
#define EXIT_NOREPLY 3
#define EXIT_USAGE   64

#define DEFAULT_URL     "amqp://guest:guest@127.0.0.1:5672/"
#define DEFAULT_QUEUE   "dispatch"
#define DEFAULT_TIMEOUT 60
#define MAX_TIMEOUT     2000000     /* seconds; keeps milliseconds in an int */
#define MAX_REPLY       (64u << 20) /* largest reply read into memory */
#define RUN_GRACE       30          /* seconds of reply wait beyond a run limit */

/* Global settings from flags and environment. */
typedef struct ctl_opts {
    const char *url;
    const char *queue;
    const char *node;
    int timeout_s;
    bool timeout_set;
    bool json;
    bool user_id; /* send the AMQP user_id property: the --amqp URL's user */
} ctl_opts;

/* What a builder tells the rest about its request. */
typedef struct ctl_req {
    json_t *msg;      /* the message (owned) */
    const char *echo; /* printed on success when the result is null */
    int min_wait_s;   /* reply wait this command needs at least; 0: none */
    bool local_check; /* run proto_parse() on it before publishing */
    const char *raw;  /* send: the body exactly as given (borrowed) */
    size_t raw_len;
    bool progress; /* the request asks for progress messages (pull, bulk) */
    time_t now;    /* the time the renderers count "ago" from */
    bool one_node; /* set before the builder: --node names one node */
} ctl_req;

/* Builds a request from argv (argv[0] is the command name).  Returns 0, or
 * -1 after printing a usage message for this command. */
typedef int (*ctl_build_fn)(int argc, char **argv, ctl_req *req);

typedef struct ctl_cmd {
    const char *name;
    const char *args;
    const char *what; /* one line for the overview */
    ctl_build_fn build;
} ctl_cmd;

/* Renders a successful reply's result on out (errors and warnings go to
 * stderr); returns the exit status.  No other I/O. */
typedef int (*ctl_render_fn)(FILE *out, const json_t *result, const ctl_req *req);

typedef struct ctl_render {
    const char *command; /* canonical name as the reply carries it */
    ctl_render_fn render;
} ctl_render;

static const ctl_cmd *ctl_find_cmd(const char *name);
static void ctl_usage(FILE *f);
static void ctl_overview(FILE *f);
static int render_bulk(FILE *out, const json_t *r, const ctl_req *req);

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* Parses a decimal integer in [lo, hi] from s.  Returns 0 or -1. */
static int ctl_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Fills buf (at least 2 * nbytes + 1 bytes) with nbytes random bytes from
 * /dev/urandom in hex.  Returns 0, or -1 when the device cannot be read. */
static int ctl_random_hex(char *buf, size_t nbytes)
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

/* Prints the usage line of one command and returns -1 (for builders). */
static int ctl_cmd_usage(const char *name)
{
    const ctl_cmd *c = ctl_find_cmd(name);
    const char *args = c ? c->args : "";
    fprintf(stderr, "usage: dispatchctl [OPTIONS] %s%s%s\n", name, args[0] ? " " : "", args);
    return -1;
}

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

/* Resets getopt for a command's own argv. */
static void ctl_getopt_reset(void)
{
    optind = 0;
    opterr = 1;
}

/* ------------------------------------------------------------------------
 * Builders, one per command
 * ------------------------------------------------------------------------ */

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

static int ctl_build_inspect(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "inspect", "Container");
}

static int ctl_build_logs(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "logs", "Container");
}

/* pull IMAGE: asks for progress messages (shown unless --json). */
static int ctl_build_pull(int argc, char **argv, ctl_req *req)
{
    if (build_simple(argc, argv, req, "pull", "Image") < 0)
        return -1;
    opt_set(req->msg, "Progress", json_true());
    req->progress = true;
    req->echo = NULL;
    return 0;
}

static int ctl_build_ping(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "ping", NULL);
}

static int ctl_build_info(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "info", NULL);
}

static int ctl_build_version(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "version", NULL);
}

static int ctl_build_nodes(int argc, char **argv, ctl_req *req)
{
    return build_simple(argc, argv, req, "nodes", NULL);
}

/* stop [-t SECONDS] CONTAINER */
static int ctl_build_stop(int argc, char **argv, ctl_req *req)
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
static int ctl_build_rm(int argc, char **argv, ctl_req *req)
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
 *   -c, --cluster  every node of the cluster (Options.Cluster)
 *   -a, --all      everything: every node (unless --node names one,
 *                  req->one_node) and, as with Docker's -a, stopped
 *                  containers / intermediate images too (Options.All,
 *                  and Options.Cluster)
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

static int ctl_build_ps(int argc, char **argv, ctl_req *req)
{
    return build_listing(argc, argv, req, "ps");
}

static int ctl_build_images(int argc, char **argv, ctl_req *req)
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
static int ctl_build_run(int argc, char **argv, ctl_req *req)
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
static int ctl_build_send(int argc, char **argv, ctl_req *req)
{
    if (argc != 2)
        return ctl_cmd_usage(argv[0]);
    req->raw = argv[1];
    req->raw_len = strlen(argv[1]);
    return 0;
}

static const ctl_cmd ctl_commands[] = {
    {"run",
     "[--rm] [--attach] [--name NAME] [--timeout SECONDS] [--instances N [--placement "
     "spread|binpack]] IMAGE [CMD...]",
     "start a container (N of them over the cluster)", ctl_build_run},
    {"stop", "[-t SECONDS] CONTAINER", "stop a container", ctl_build_stop},
    {"rm", "[-f] [-v] CONTAINER", "remove a container", ctl_build_rm},
    {"ps", "[-a|--all] [-c|--cluster]", "list running containers (-a: all, cluster-wide)",
     ctl_build_ps},
    {"images", "[-a|--all] [-c|--cluster]", "list images (-a: all, cluster-wide)",
     ctl_build_images},
    {"pull", "IMAGE", "pull an image, with progress", ctl_build_pull},
    {"inspect", "CONTAINER", "show a container's state (--json: everything)", ctl_build_inspect},
    {"logs", "CONTAINER", "print a container's output", ctl_build_logs},
    {"nodes", "", "list the nodes of the cluster", ctl_build_nodes},
    {"events", "[-n COUNT] [-f|--filter KEY=VALUE]... [PATTERN]", "watch the cluster's events",
     NULL}, /* not a request: ctl_watch() */
    {"ping", "", "check that a node and its Docker answer", ctl_build_ping},
    {"info", "", "Docker's system information", ctl_build_info},
    {"version", "", "Docker's version", ctl_build_version},
    {"send", "JSON|-", "send a message as given", ctl_build_send},
};

/* The table row of a command name, or NULL. */
static const ctl_cmd *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

/* ------------------------------------------------------------------------
 * Renderers
 * ------------------------------------------------------------------------ */

/* Writes a JSON string's bytes (may hold anything the container wrote) to
 * f as they are. */
static void put_raw(FILE *f, const json_t *s)
{
    if (json_is_string(s))
        fwrite(json_string_value(s), 1, json_string_length(s), f);
}

/* run, exec, logs: the captured output on out and stderr; the exit code
 * of the container when it was waited for, else its id.  A bulk run (a
 * result with "requested") is a table of its pieces. */
static int render_output(FILE *out, const json_t *r, const ctl_req *req)
{
    const json_t *code = json_object_get(r, "exit_code");
    const json_t *ctr = json_object_get(r, "container");
    int status = 0;

    if (json_object_get(r, "requested"))
        return render_bulk(out, r, req);
    put_raw(out, json_object_get(r, "stdout"));
    fflush(out);
    put_raw(stderr, json_object_get(r, "stderr"));
    if (json_is_true(json_object_get(r, "truncated")))
        fprintf(stderr, "dispatchctl: output truncated at the output limit\n");
    if (json_is_true(json_object_get(r, "timed_out")))
        fprintf(stderr, "dispatchctl: killed at the run time limit\n");
    if (json_is_string(json_object_get(r, "error"))) {
        fprintf(stderr, "dispatchctl: ");
        text_put_terminal(stderr, json_string_value(json_object_get(r, "error")));
        fputc('\n', stderr);
    }
    if (json_is_integer(code)) {
        json_int_t v = json_integer_value(code);
        status = v < 0 || v > 255 ? 255 : (int)v;
    } else if (json_is_object(ctr)) {
        /* started, not waited for: say which container, like `docker run -d` */
        text_put_terminal(out, json_string_value(json_object_get(ctr, "id")));
        fputc('\n', out);
    }
    return status;
}

/* A small text table: rows of at most CTL_TABLE_COLS cells, columns padded to
 * their widest cell.  Cells are copied. */
#define CTL_TABLE_COLS 10
typedef struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols */
} ctl_table;

/* Appends a row of t->ncols (at most CTL_TABLE_COLS) cells (NULL prints as "");
 * aborts when out of memory. */
static void ctl_table_add(ctl_table *t, const char *const *row)
{
    if (t->ncols == 0 || t->ncols > CTL_TABLE_COLS)
        abort();
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **n = realloc(t->cells, cap * t->ncols * sizeof *n);
        if (n == NULL)
            abort();
        t->cells = n;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        char *s = strdup(row[i] ? row[i] : "");
        if (s == NULL)
            abort();
        for (char *p = s; *p; p++) /* keep the table on its lines */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        t->cells[t->nrows * t->ncols + i] = s;
    }
    t->nrows++;
}

/* Prints t to out and frees its cells. */
static void ctl_table_flush(ctl_table *t, FILE *out)
{
    size_t w[CTL_TABLE_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t l = strlen(t->cells[r * t->ncols + c]);
            if (l > w[c])
                w[c] = l;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                fprintf(out, "%-*s   ", (int)w[c], s);
            else
                fprintf(out, "%s\n", s);
        }
    }
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* The first 12 hex digits of a Docker id, without "sha256:". */
static void ctl_short_id(const char *id, char *buf, size_t len)
{
    if (id == NULL)
        id = "";
    if (strncmp(id, "sha256:", 7) == 0)
        id += 7;
    snprintf(buf, len, "%.12s", id);
}

/* How long ago unix time t was at now, the way Docker's CLI says it
 * ("5 seconds ago", "About an hour ago", "3 days ago"); "" when t is 0. */
static void ctl_ago(time_t now, json_int_t t, char *buf, size_t len)
{
    if (t <= 0) {
        snprintf(buf, len, "%s", "");
        return;
    }
    json_int_t s = (json_int_t)now - t;
    json_int_t m = s / 60, h = s / 3600;
    if (s < 1)
        snprintf(buf, len, "Less than a second ago");
    else if (s == 1)
        snprintf(buf, len, "1 second ago");
    else if (s < 60)
        snprintf(buf, len, "%d seconds ago", (int)s);
    else if (m == 1)
        snprintf(buf, len, "About a minute ago");
    else if (m < 60)
        snprintf(buf, len, "%d minutes ago", (int)m);
    else if (h == 1)
        snprintf(buf, len, "About an hour ago");
    else if (h < 48)
        snprintf(buf, len, "%d hours ago", (int)h);
    else if (h < 24 * 7 * 2)
        snprintf(buf, len, "%d days ago", (int)(h / 24));
    else if (h < 24 * 30 * 2)
        snprintf(buf, len, "%d weeks ago", (int)(h / 24 / 7));
    else if (h < 24 * 365 * 2)
        snprintf(buf, len, "%d months ago", (int)(h / 24 / 30));
    else
        snprintf(buf, len, "%d years ago", (int)(h / 24 / 365));
}

/* Docker's container summary Ports as `docker ps` shows them:
 * "0.0.0.0:8080->80/tcp, 443/tcp". */
static void ports_text(const json_t *ports, char *buf, size_t len)
{
    size_t used = 0, i;
    const json_t *p;
    buf[0] = '\0';
    json_array_foreach(ports, i, p)
    {
        const char *ip = json_string_value(json_object_get(p, "IP"));
        const char *type = json_string_value(json_object_get(p, "Type"));
        json_int_t priv = json_integer_value(json_object_get(p, "PrivatePort"));
        json_int_t pub = json_integer_value(json_object_get(p, "PublicPort"));
        int k;
        if (pub > 0)
            k = snprintf(buf + used, len - used,
                         "%s%s:%" JSON_INTEGER_FORMAT "->%" JSON_INTEGER_FORMAT "/%s",
                         used ? ", " : "", ip ? ip : "", pub, priv, type ? type : "tcp");
        else
            k = snprintf(buf + used, len - used, "%s%" JSON_INTEGER_FORMAT "/%s", used ? ", " : "",
                         priv, type ? type : "tcp");
        if (k < 0 || (size_t)k >= len - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)k;
    }
}

/* A cluster-wide answer ({"<what>": [...], "nodes", "missing"}) names the
 * nodes that did not answer: said on stderr. */
static void say_missing(const json_t *r)
{
    size_t i;
    const json_t *n;
    json_array_foreach(json_object_get(r, "missing"), i, n)
    {
        fputs("dispatchctl: no answer from node ", stderr);
        text_put_terminal(stderr, json_string_value(n));
        fputs(" (its part is missing)\n", stderr);
    }
}

/* ps: Docker's container summaries as `docker ps` shows them; a
 * cluster-wide answer adds the NODE column. */
static int render_ps(FILE *out, const json_t *r, const ctl_req *req)
{
    bool cluster = json_is_object(r);
    const json_t *list = cluster ? json_object_get(r, "containers") : r;
    ctl_table t = {.ncols = cluster ? 8 : 7};
    size_t i;
    const json_t *c;

    if (!json_is_array(list)) {
        fprintf(stderr, "dispatchctl: unexpected result for ps\n");
        return EXIT_REFUSED;
    }
    ctl_table_add(&t, (const char *const[]){"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                            "PORTS", "NAMES", "NODE"});
    json_array_foreach(list, i, c)
    {
        char id[16], cmd[40], names[256] = "", created[40], ports[256];
        const json_t *n;
        size_t j, used = 0;
        ctl_short_id(json_string_value(json_object_get(c, "Id")), id, sizeof id);
        const char *command = json_string_value(json_object_get(c, "Command"));
        if (command && strlen(command) > 22)
            snprintf(cmd, sizeof cmd, "\"%.19s...\"", command);
        else
            snprintf(cmd, sizeof cmd, "\"%s\"", command ? command : "");
        json_array_foreach(json_object_get(c, "Names"), j, n)
        {
            const char *s = json_string_value(n);
            if (s == NULL)
                continue;
            if (*s == '/')
                s++;
            int k = snprintf(names + used, sizeof names - used, "%s%s", used ? "," : "", s);
            if (k < 0 || (size_t)k >= sizeof names - used)
                break;
            used += (size_t)k;
        }
        ctl_ago(req->now, json_integer_value(json_object_get(c, "Created")), created,
                sizeof created);
        ports_text(json_object_get(c, "Ports"), ports, sizeof ports);
        ctl_table_add(
            &t, (const char *const[]){id, json_string_value(json_object_get(c, "Image")), cmd,
                                      created, json_string_value(json_object_get(c, "Status")),
                                      ports, names, json_string_value(json_object_get(c, "Node"))});
    }
    ctl_table_flush(&t, out);
    say_missing(r);
    return 0;
}

/* Docker's sizes the way `docker images` prints them (powers of 1000). */
static void ctl_human_size(json_int_t n, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000.0 && u + 1 < sizeof unit / sizeof unit[0]) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, len, u ? "%.3g%s" : "%.0f%s", v, unit[u]);
}

/* images: Docker's image summaries as `docker images` shows them, one row
 * per tag; a cluster-wide answer adds the NODE column. */
static int render_images(FILE *out, const json_t *r, const ctl_req *req)
{
    bool cluster = json_is_object(r);
    const json_t *list = cluster ? json_object_get(r, "images") : r;
    ctl_table t = {.ncols = cluster ? 6 : 5};
    size_t i, j;
    const json_t *img, *tag;

    if (!json_is_array(list)) {
        fprintf(stderr, "dispatchctl: unexpected result for images\n");
        return EXIT_REFUSED;
    }
    ctl_table_add(
        &t, (const char *const[]){"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "NODE"});
    json_array_foreach(list, i, img)
    {
        char id[16], size[32], repo[512], created[40];
        const json_t *tags = json_object_get(img, "RepoTags");
        const char *node = json_string_value(json_object_get(img, "Node"));
        ctl_short_id(json_string_value(json_object_get(img, "Id")), id, sizeof id);
        ctl_human_size(json_integer_value(json_object_get(img, "Size")), size, sizeof size);
        ctl_ago(req->now, json_integer_value(json_object_get(img, "Created")), created,
                sizeof created);
        if (json_array_size(tags) == 0) {
            ctl_table_add(&t, (const char *const[]){"<none>", "<none>", id, created, size, node});
            continue;
        }
        json_array_foreach(tags, j, tag)
        {
            const char *s = json_string_value(tag);
            const char *colon = s ? strrchr(s, ':') : NULL;
            if (colon && strchr(colon, '/'))
                colon = NULL; /* a registry port, not a tag */
            if (s == NULL)
                s = "<none>";
            size_t n = colon ? (size_t)(colon - s) : strlen(s);
            if (n >= sizeof repo)
                n = sizeof repo - 1;
            memcpy(repo, s, n);
            repo[n] = '\0';
            ctl_table_add(&t, (const char *const[]){repo, colon ? colon + 1 : "<none>", id, created,
                                                    size, node});
        }
    }
    ctl_table_flush(&t, out);
    say_missing(r);
    return 0;
}

/* pull: the last status line and the reference. */
static int render_pull(FILE *out, const json_t *r, const ctl_req *req)
{
    const char *status = json_string_value(json_object_get(r, "status"));
    const char *image = json_string_value(json_object_get(r, "image"));
    (void)req;
    if (status) {
        text_put_terminal(out, status);
        fputc('\n', out);
    }
    if (image) {
        text_put_terminal(out, image);
        fputc('\n', out);
    }
    return 0;
}

/* ping: one line. */
static int render_ping(FILE *out, const json_t *r, const ctl_req *req)
{
    const char *api = json_string_value(json_object_get(r, "api_version"));
    (void)req;
    fprintf(out, "OK");
    if (api) {
        fprintf(out, " (Docker API ");
        text_put_terminal(out, api);
        fprintf(out, ")");
    }
    fprintf(out, "\n");
    return 0;
}

/* nodes: the membership view as a table. */
static int render_nodes(FILE *out, const json_t *r, const ctl_req *req)
{
    ctl_table t = {.ncols = 7};
    size_t i;
    const json_t *n;

    (void)req;
    if (!json_is_array(r)) {
        fprintf(stderr, "dispatchctl: unexpected result for nodes\n");
        return EXIT_REFUSED;
    }
    ctl_table_add(&t, (const char *const[]){"NODE", "STATE", "DOCKER", "RUNNING", "CONTAINERS",
                                            "IN FLIGHT", "SEEN"});
    json_array_foreach(r, i, n)
    {
        char name[300], running[24], containers[24], inflight[24], seen[32];
        const char *nm = json_string_value(json_object_get(n, "name"));
        snprintf(name, sizeof name, "%s%s", nm ? nm : "?",
                 json_is_true(json_object_get(n, "self")) ? " *" : "");
        snprintf(running, sizeof running, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(n, "running")));
        snprintf(containers, sizeof containers, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(n, "containers")));
        snprintf(inflight, sizeof inflight, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(n, "inflight")));
        snprintf(seen, sizeof seen, "%.1fs ago",
                 (double)json_integer_value(json_object_get(n, "seen_ms_ago")) / 1000.0);
        ctl_table_add(&t, (const char *const[]){
                              name,
                              json_is_true(json_object_get(n, "draining")) ? "draining" : "active",
                              json_is_true(json_object_get(n, "docker")) ? "up" : "down", running,
                              containers, inflight, seen});
    }
    ctl_table_flush(&t, out);
    return 0;
}

/* inspect: a summary of Docker's container object, one field a line (the
 * whole object with --json). */
static int render_inspect(FILE *out, const json_t *r, const ctl_req *req)
{
    const json_t *state = json_object_get(r, "State");
    const json_t *labels = json_object_get(json_object_get(r, "Config"), "Labels");
    ctl_table t = {.ncols = 2};
    char code[24] = "";
    const char *name = json_string_value(json_object_get(r, "Name"));
    const char *key;
    const json_t *v;

    (void)req;
    if (!json_is_object(r)) {
        fprintf(stderr, "dispatchctl: unexpected result for inspect\n");
        return EXIT_REFUSED;
    }
    if (json_is_integer(json_object_get(state, "ExitCode")))
        snprintf(code, sizeof code, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(state, "ExitCode")));
    const char *finished = json_string_value(json_object_get(state, "FinishedAt"));
    if (finished && strncmp(finished, "0001-", 5) == 0)
        finished = "-"; /* Docker's zero time: not finished */
    ctl_table_add(&t, (const char *const[]){"ID:", json_string_value(json_object_get(r, "Id"))});
    ctl_table_add(&t, (const char *const[]){"Name:", name && *name == '/' ? name + 1 : name});
    ctl_table_add(&t, (const char *const[]){"Image:", json_string_value(json_object_get(
                                                          json_object_get(r, "Config"), "Image"))});
    ctl_table_add(
        &t, (const char *const[]){"State:", json_string_value(json_object_get(state, "Status"))});
    ctl_table_add(&t, (const char *const[]){"Exit code:", code});
    ctl_table_add(&t, (const char *const[]){
                          "Started:", json_string_value(json_object_get(state, "StartedAt"))});
    ctl_table_add(&t, (const char *const[]){"Finished:", finished});
    ctl_table_add(&t,
                  (const char *const[]){"Node:", json_string_value(json_object_get(
                                                     labels, PROTO_RESERVED_LABEL_PREFIX "node"))});
    json_object_foreach((json_t *)labels, key, v)
    {
        char cell[320];
        if (strncmp(key, PROTO_RESERVED_LABEL_PREFIX, strlen(PROTO_RESERVED_LABEL_PREFIX)) != 0 ||
            !json_is_string(v))
            continue;
        snprintf(cell, sizeof cell, "%s=%s", key + strlen(PROTO_RESERVED_LABEL_PREFIX),
                 json_string_value(v));
        ctl_table_add(&t, (const char *const[]){"Label:", cell});
    }
    ctl_table_flush(&t, out);
    return 0;
}

/* create or run with instances: the pieces as a table (node, container,
 * result); exit status 1 when a piece failed. */
static int render_bulk(FILE *out, const json_t *r, const ctl_req *req)
{
    ctl_table t = {.ncols = 4};
    size_t i;
    const json_t *p;
    int status = 0;

    (void)req;
    ctl_table_add(&t, (const char *const[]){"NODE", "CONTAINER ID", "NAME", "RESULT"});
    json_array_foreach(json_object_get(r, "containers"), i, p)
    {
        char id[16], result[200];
        const json_t *err = json_object_get(p, "error");
        ctl_short_id(json_string_value(json_object_get(p, "id")), id, sizeof id);
        if (json_is_true(json_object_get(p, "ok"))) {
            const json_t *code = json_object_get(json_object_get(p, "result"), "exit_code");
            if (json_is_integer(code))
                snprintf(result, sizeof result, "exited (%" JSON_INTEGER_FORMAT ")",
                         json_integer_value(code));
            else
                snprintf(result, sizeof result, "ok");
        } else {
            const char *c = json_string_value(json_object_get(err, "code"));
            const char *m = json_string_value(json_object_get(err, "message"));
            snprintf(result, sizeof result, "%s: %s", c ? c : "error", m ? m : "");
            status = EXIT_REFUSED;
        }
        ctl_table_add(&t,
                      (const char *const[]){json_string_value(json_object_get(p, "node")), id,
                                            json_string_value(json_object_get(p, "name")), result});
    }
    ctl_table_flush(&t, out);
    fprintf(out, "%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT " created\n",
            json_integer_value(json_object_get(r, "created")),
            json_integer_value(json_object_get(r, "requested")));
    return status;
}

/* create: a bulk table, else the new container's id. */
static int render_create(FILE *out, const json_t *r, const ctl_req *req)
{
    if (json_object_get(r, "requested"))
        return render_bulk(out, r, req);
    const char *id = json_string_value(json_object_get(r, "id"));
    if (id) {
        text_put_terminal(out, id);
        fputc('\n', out);
    }
    return 0;
}

static const ctl_render renderers[] = {
    {"run", render_output},    {"exec", render_output},   {"logs", render_output},
    {"list", render_ps},       {"images", render_images}, {"pull", render_pull},
    {"ping", render_ping},     {"nodes", render_nodes},   {"inspect", render_inspect},
    {"create", render_create},
};

/* Default rendering: the echo (container name) for a null result, else the
 * result as indented JSON. */
static int render_default(FILE *out, const json_t *r, const ctl_req *req)
{
    if (r == NULL || json_is_null(r)) {
        if (req->echo) {
            text_put_terminal(out, req->echo);
            fputc('\n', out);
        }
        return 0;
    }
    if (json_dumpf(r, out, JSON_INDENT(2)) < 0)
        return EXIT_REFUSED;
    fputc('\n', out);
    return 0;
}

/* The renderer of the replies to command (their "command" field): its
 * row's, or the default one (also for NULL). */
static ctl_render_fn ctl_render_find(const char *command)
{
    for (size_t i = 0; command && i < sizeof renderers / sizeof renderers[0]; i++)
        if (strcmp(renderers[i].command, command) == 0)
            return renderers[i].render;
    return render_default;
}

/* ------------------------------------------------------------------------
 * Progress messages (docs/protocol.md, "Progress messages")
 * ------------------------------------------------------------------------ */

/* One line of a pull's progress, the way `docker pull` draws it:
 * "<id>: <status> [=====>     ]  1.2MB/3.4MB" in at most width - 1
 * columns (the bar shrinks, and goes when it would be under 10 columns;
 * without a total there is no bar).  Pure. */
static void ctl_progress_line(char *buf, size_t len, const char *id, const char *status,
                              int64_t current, int64_t total, int width)
{
    char head[256], tail[64] = "";
    snprintf(head, sizeof head, "%s%s%s", id && *id ? id : "", id && *id ? ": " : "",
             status ? status : "");
    if (total > 0 && current >= 0) {
        char a[32], b[32];
        ctl_human_size(current, a, sizeof a);
        ctl_human_size(total, b, sizeof b);
        snprintf(tail, sizeof tail, "%s/%s", a, b);
    }
    int room = width - 1 - (int)strlen(head) - 1 - 2 - 2 - (int)strlen(tail);
    int bar = room > 50 ? 50 : room;
    if (tail[0] == '\0' || bar < 10) {
        snprintf(buf, len, "%s%s%s", head, tail[0] ? " " : "", tail);
        if (width > 1 && strlen(buf) >= (size_t)width)
            buf[width - 1] = '\0';
        return;
    }
    char b[64];
    int done = current >= total ? bar : (int)((double)current * bar / (double)total);
    for (int i = 0; i < bar; i++)
        b[i] = i < done ? '=' : i == done ? '>' : ' ';
    b[bar] = '\0';
    snprintf(buf, len, "%s [%s]  %s", head, b, tail);
}

/* What the client remembers of a pull's layers, to redraw them in place
 * on a terminal or to print a line only when a layer's status changes. */
#define CTL_VIEW_LAYERS 64
typedef struct ctl_pull_view {
    size_t n;
    struct {
        char id[80];
        char status[128];
    } l[CTL_VIEW_LAYERS];
} ctl_pull_view;

/* Renders one progress message (p: its "progress" object) on out.
 * tty: redraw each layer's line in place with a bar (width columns);
 * else one plain line each time a layer's status changes.  A bulk
 * piece is one line either way.  No other I/O. */
static void ctl_progress_show(FILE *out, ctl_pull_view *v, const json_t *p, bool tty, int width)
{
    char line[512];
    if (json_object_get(p, "piece")) {
        const json_t *id = json_object_get(p, "id");
        const char *err = json_string_value(json_object_get(p, "error"));
        const char *node = json_string_value(json_object_get(p, "node"));
        char sid[16];
        ctl_short_id(json_string_value(id), sid, sizeof sid);
        snprintf(line, sizeof line,
                 "[%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "] piece %" JSON_INTEGER_FORMAT
                 " on %s: %s%s",
                 json_integer_value(json_object_get(p, "done")),
                 json_integer_value(json_object_get(p, "of")),
                 json_integer_value(json_object_get(p, "piece")), node ? node : "?",
                 json_is_true(json_object_get(p, "ok")) ? "ok " : "failed: ",
                 json_is_true(json_object_get(p, "ok")) ? sid
                 : err                                  ? err
                                                        : "error");
        text_put_terminal(out, line);
        fputc('\n', out);
        return;
    }
    const char *id = json_string_value(json_object_get(p, "id"));
    const char *status = json_string_value(json_object_get(p, "status"));
    if (id == NULL)
        id = "";
    if (status == NULL)
        status = "";
    size_t i = 0;
    while (i < v->n && strcmp(v->l[i].id, id) != 0)
        i++;
    bool is_new = i == v->n;
    if (is_new && v->n == CTL_VIEW_LAYERS)
        return; /* more layers than lines kept: the rest is not drawn */
    if (!tty && !is_new && strcmp(v->l[i].status, status) == 0)
        return; /* piped: only changes of status */
    if (is_new) {
        snprintf(v->l[i].id, sizeof v->l[i].id, "%s", id);
        v->n++;
    }
    snprintf(v->l[i].status, sizeof v->l[i].status, "%s", status);
    ctl_progress_line(line, sizeof line, id, status,
                      tty ? json_integer_value(json_object_get(p, "current")) : 0,
                      tty ? json_integer_value(json_object_get(p, "total")) : 0, width);
    if (tty && !is_new)
        fprintf(out, "\033[%zuA\r\033[2K", v->n - i); /* up to its line */
    text_put_terminal(out, line);
    fputc('\n', out);
    if (tty && !is_new && v->n - i > 1)
        fprintf(out, "\033[%zuB", v->n - i - 1); /* back below the last */
    fflush(out);
}

/* Prints an error reply's error on stderr. */
static void print_reply_error(const json_t *reply)
{
    const json_t *e = json_object_get(reply, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));

    fputs("error: ", stderr);
    text_put_terminal(stderr, code ? code : "unknown");
    fputs(": ", stderr);
    text_put_terminal(stderr, msg ? msg : "(no message)");
    if (field && (msg == NULL || strstr(msg, field) == NULL)) {
        fputs(" (field ", stderr);
        text_put_terminal(stderr, field);
        fputc(')', stderr);
    }
    fputc('\n', stderr);
}

/* Turns a reply body into output and an exit status. */
static int ctl_handle_reply(const ctl_opts *o, const ctl_req *req, const broker_delivery *d)
{
    json_error_t jerr;
    json_t *reply;
    int status;

    if (d->oversize) {
        fprintf(stderr, "dispatchctl: the reply (%" PRIu64 " bytes) is over %u bytes\n",
                d->body_size, MAX_REPLY);
        return EXIT_REFUSED;
    }
    reply = json_loadb((const char *)d->body, d->len, 0, &jerr);
    if (!json_is_object(reply)) {
        fprintf(stderr, "dispatchctl: the reply is not a JSON object: ");
        text_put_terminal(stderr, reply ? "other JSON" : jerr.text);
        fputc('\n', stderr);
        json_decref(reply);
        return EXIT_REFUSED;
    }
    bool ok = json_is_true(json_object_get(reply, "ok"));
    const json_t *result = json_object_get(reply, "result");
    if (o->json) {
        if (memchr(d->body, '\n', d->len) == NULL) {
            fwrite(d->body, 1, d->len, stdout);
        } else {
            json_dumpf(reply, stdout, JSON_COMPACT);
        }
        fputc('\n', stdout);
        status = ok ? 0 : EXIT_REFUSED;
        const json_t *code = json_object_get(result, "exit_code");
        if (ok && json_is_integer(code)) {
            json_int_t v = json_integer_value(code);
            status = v < 0 || v > 255 ? 255 : (int)v;
        }
    } else if (!ok) {
        print_reply_error(reply);
        status = EXIT_REFUSED;
    } else {
        const char *command = json_string_value(json_object_get(reply, "command"));
        status = ctl_render_find(command)(stdout, result, req);
    }
    json_decref(reply);
    return status;
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */

/* Reads all of stdin, at most PROTO_DEFAULT_MAX_BODY bytes.  Returns a
 * malloc'd NUL-terminated buffer and its length, or NULL after printing why. */
static char *read_stdin(size_t *len)
{
    size_t cap = PROTO_DEFAULT_MAX_BODY + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL)
        abort();
    while (n < cap) {
        size_t r = fread(buf + n, 1, cap - n, stdin);
        if (r == 0)
            break;
        n += r;
    }
    if (ferror(stdin)) {
        fprintf(stderr, "dispatchctl: send: cannot read standard input: %s\n", strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The local checks before anything is published.  For `send`: one JSON
 * object within the size cap.  For built commands: proto_parse(), the
 * dispatcher's own validation.  Returns 0, or prints the refusal in the
 * reply's error format and returns EXIT_REFUSED. */
static int ctl_check_local(ctl_req *req, const char *body, size_t len)
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

/* What `dispatchctl` alone prints: enough to get going. */
static void ctl_overview(FILE *f)
{
    const char *url = getenv("DISPATCH_AMQP_URL");
    const char *q = getenv("DISPATCH_QUEUE");
    char *red = broker_url_redact(url && *url ? url : DEFAULT_URL);
    fprintf(f, "usage: dispatchctl [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Sends one command to docker-dispatch over RabbitMQ and prints the reply.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", ctl_commands[i].name, ctl_commands[i].what);
    fprintf(f, "\nconnects to ");
    text_put_terminal(f, red ? red : "?");
    fprintf(f, ", queue %s (--amqp, -q; DISPATCH_AMQP_URL, DISPATCH_QUEUE)\n",
            q && *q ? q : DEFAULT_QUEUE);
    fprintf(f, "try: dispatchctl ping; dispatchctl ps -a; dispatchctl run --rm --attach busybox "
               "echo hi\n"
               "'dispatchctl --help' lists every option; man dispatchctl tells more.\n");
    free(red);
}

static void ctl_usage(FILE *f)
{
    fprintf(f, "usage: dispatchctl [--amqp URL] [-q QUEUE] [--node NAME] [--timeout SECONDS]\n"
               "                   [--json] [--user-id] COMMAND [ARGS...]\n"
               "\n"
               "Publishes one command to docker-dispatch over RabbitMQ and prints the reply.\n"
               "\n"
               "options:\n"
               "  --amqp URL          broker [DISPATCH_AMQP_URL; " DEFAULT_URL "]\n"
               "  -q, --queue QUEUE   base queue name [DISPATCH_QUEUE; " DEFAULT_QUEUE "]\n"
               "  --node NAME         send to QUEUE.node.NAME instead of the work queue\n"
               "  --timeout SECONDS   wait this long for the reply [60]\n"
               "  --json              print the raw reply on one line\n"
               "  --user-id           send as the --amqp URL's user (AMQP user_id): what the\n"
               "                      command makes is that user's; admin users drain nodes\n"
               "  -h, --help          this text\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof ctl_commands / sizeof ctl_commands[0]; i++)
        fprintf(f, "  %s%s%s\n", ctl_commands[i].name, ctl_commands[i].args[0] ? " " : "",
                ctl_commands[i].args);
    fprintf(f, "\nexit status:\n"
               "  0   ok\n"
               "  1   the reply was an error (or the local check refused the request); run\n"
               "      --instances: a piece failed\n"
               "  2   the broker cannot be used (unreachable, login refused, no such queue)\n"
               "  3   no reply in time (events: fewer than COUNT events in time)\n"
               "  64  usage (also dispatchctl without arguments)\n"
               "  run that waited for its container exits with the container's exit code.\n");
}

/* Parses the global options into *o; returns the index of the command in
 * argv, or -1 (usage printed; *help set for --help). */
static int ctl_parse_globals(int argc, char **argv, ctl_opts *o, bool *help)
{
    static const struct option lo[] = {
        {"amqp", required_argument, NULL, 'A'}, {"queue", required_argument, NULL, 'q'},
        {"node", required_argument, NULL, 'N'}, {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'J'},       {"user-id", no_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},       {0}};
    long t;
    int c;

    *help = false;
    o->url = getenv("DISPATCH_AMQP_URL");
    if (o->url == NULL || o->url[0] == '\0')
        o->url = DEFAULT_URL;
    o->queue = getenv("DISPATCH_QUEUE");
    if (o->queue == NULL || o->queue[0] == '\0')
        o->queue = DEFAULT_QUEUE;
    o->timeout_s = DEFAULT_TIMEOUT;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+q:h", lo, NULL)) != -1) {
        switch (c) {
        case 'A':
            o->url = optarg;
            break;
        case 'q':
            o->queue = optarg;
            break;
        case 'N':
            o->node = optarg;
            break;
        case 'T':
            if (ctl_parse_int(optarg, 1, MAX_TIMEOUT, &t) < 0) {
                fprintf(stderr, "dispatchctl: --timeout takes 1..%d seconds\n", MAX_TIMEOUT);
                return -1;
            }
            o->timeout_s = (int)t;
            o->timeout_set = true;
            break;
        case 'J':
            o->json = true;
            break;
        case 'U':
            o->user_id = true;
            break;
        case 'h':
            *help = true;
            return -1;
        default:
            return -1;
        }
    }
    if (!broker_name_ok(o->queue)) {
        fprintf(stderr, "dispatchctl: queue name may only hold letters, digits, '-', '_' and "
                        "'.'\n");
        return -1;
    }
    if (o->node && !broker_name_ok(o->node)) {
        fprintf(stderr, "dispatchctl: node name may only hold letters, digits, '-', '_' and "
                        "'.'\n");
        return -1;
    }
    if (strncmp(o->url, "amqp://", 7) != 0 && strncmp(o->url, "amqps://", 8) != 0) {
        char *red = broker_url_redact(o->url);
        fprintf(stderr, "dispatchctl: AMQP address \"");
        text_put_terminal(stderr, red ? red : "?");
        fprintf(stderr, "\" must start with amqp:// or amqps://\n");
        free(red);
        return -1;
    }
    if (optind >= argc) {
        fprintf(stderr, "dispatchctl: no command given\n");
        return -1;
    }
    return optind;
}

/* Connects to the broker as a client of o->queue.  Sets *out and returns
 * EXIT_BROKER (the status should a later step fail), or leaves *out NULL
 * and returns the exit status after saying why. */
static int ctl_open_broker(const ctl_opts *o, broker **out)
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

/* One event as a line: "TIME EVENT node=N [container=ID name=.. image=..
 * request=.. exit=..]"; anything that is not an event object is shown
 * as it came, made safe for the terminal. */
static void ctl_print_event(FILE *f, const broker_delivery *d)
{
    json_t *ev = json_loadb((const char *)d->body, d->len, 0, NULL);
    const char *name = json_string_value(json_object_get(ev, "event"));
    if (name == NULL) {
        fputs("(not an event) ", f);
        text_put_terminal(f, (const char *)d->body);
        fputc('\n', f);
        json_decref(ev);
        return;
    }
    static const char *const top[] = {"time", "event"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = json_string_value(json_object_get(ev, top[i]));
        text_put_terminal(f, v ? v : "-");
        fputc(' ', f);
    }
    fputs("node=", f);
    text_put_terminal(f, json_string_value(json_object_get(ev, "node")));
    json_t *c = json_object_get(ev, "container");
    static const char *const ckeys[] = {"name", "image"};
    const char *id = json_string_value(json_object_get(c, "id"));
    if (id) {
        char sid[16];
        ctl_short_id(id, sid, sizeof sid);
        fputs(" container=", f);
        text_put_terminal(f, sid);
        for (size_t i = 0; i < 2; i++) {
            const char *v = json_string_value(json_object_get(c, ckeys[i]));
            if (v) {
                fprintf(f, " %s=", ckeys[i]);
                text_put_terminal(f, v);
            }
        }
    }
    const char *req = json_string_value(json_object_get(ev, "request_id"));
    if (req) {
        fputs(" request=", f);
        text_put_terminal(f, req);
    }
    json_t *code = json_object_get(ev, "exit_code");
    if (json_is_integer(code))
        fprintf(f, " exit=%" JSON_INTEGER_FORMAT, json_integer_value(code));
    fputc('\n', f);
    json_decref(ev);
}

/* events --filter KEY=VALUE, as Docker's: the same key given again is
 * an alternative (or), different keys must all match (and). */
#define CTL_EV_FILTERS 32
typedef struct ctl_ev_filters {
    size_t n;
    struct {
        char key[16];
        const char *value; /* borrowed from argv */
    } f[CTL_EV_FILTERS];
} ctl_ev_filters;

static const char *const ev_keys[] = {"type", "event", "node", "container", "image"};

/* Adds "KEY=VALUE" to fs.  Returns 0, or -1 (unknown key, no '=', too
 * many) after saying why. */
static int ctl_ev_filter_add(ctl_ev_filters *fs, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : 0;
    bool known = false;
    for (size_t i = 0; eq && i < sizeof ev_keys / sizeof ev_keys[0]; i++)
        known |= strlen(ev_keys[i]) == kl && strncmp(ev_keys[i], kv, kl) == 0;
    if (!known || eq[1] == '\0') {
        fprintf(stderr, "dispatchctl: events: a filter is KEY=VALUE with KEY one of type, event, "
                        "node, container, image\n");
        return -1;
    }
    if (fs->n == CTL_EV_FILTERS) {
        fprintf(stderr, "dispatchctl: events: at most %d filters\n", CTL_EV_FILTERS);
        return -1;
    }
    snprintf(fs->f[fs->n].key, sizeof fs->f[fs->n].key, "%.*s", (int)kl, kv);
    fs->f[fs->n].value = eq + 1;
    fs->n++;
    return 0;
}

/* Docker's event names for ours: `event=die` is container.exited. */
static const char *ev_docker_name(const char *action)
{
    static const char *const map[][2] = {
        {"started", "start"}, {"exited", "die"}, {"removed", "destroy"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i][0], action) == 0)
            return map[i][1];
    return action;
}

/* 1 if the filter key=value matches event ev. */
static int ev_filter_one(const char *key, const char *value, const json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "event"));
    const char *dot = name ? strchr(name, '.') : NULL;
    const json_t *c = json_object_get(ev, "container");
    if (name == NULL)
        return 0;
    if (strcmp(key, "type") == 0)
        return dot && strlen(value) == (size_t)(dot - name) &&
               strncmp(name, value, dot - name) == 0;
    if (strcmp(key, "event") == 0) {
        const char *action = dot ? dot + 1 : name;
        return strcmp(value, name) == 0 || strcmp(value, action) == 0 ||
               strcmp(value, ev_docker_name(action)) == 0;
    }
    if (strcmp(key, "node") == 0) {
        const char *n = json_string_value(json_object_get(ev, "node"));
        return n && strcmp(n, value) == 0;
    }
    if (strcmp(key, "container") == 0) {
        const char *id = json_string_value(json_object_get(c, "id"));
        const char *nm = json_string_value(json_object_get(c, "name"));
        return (id && strncmp(id, value, strlen(value)) == 0) || (nm && strcmp(nm, value) == 0);
    }
    if (strcmp(key, "image") == 0) {
        const char *im = json_string_value(json_object_get(c, "image"));
        return im && strcmp(im, value) == 0;
    }
    return 0;
}

/* 1 if event body matches every key of fs (any of a key's values).  Pure. */
static int ctl_ev_matches(const ctl_ev_filters *fs, const void *body, size_t len)
{
    if (fs->n == 0)
        return 1;
    json_t *ev = json_loadb(body, len, 0, NULL);
    int all = 1;
    for (size_t k = 0; all && k < sizeof ev_keys / sizeof ev_keys[0]; k++) {
        int given = 0, any = 0;
        for (size_t i = 0; i < fs->n; i++) {
            if (strcmp(fs->f[i].key, ev_keys[k]) != 0)
                continue;
            given = 1;
            any |= ev_filter_one(fs->f[i].key, fs->f[i].value, ev);
        }
        all = !given || any;
    }
    json_decref(ev);
    return all;
}

/* What `events` watches: its filters, how many events, the pattern. */
typedef struct ctl_ev_watch {
    ctl_ev_filters fs;
    long count;          /* stop after this many; 0: never */
    const char *pattern; /* topic syntax; borrowed from argv */
} ctl_ev_watch;

/* Parses events [-n COUNT] [-f KEY=VALUE]... [PATTERN] (argv[0] is the
 * command) into *w.  Returns 0, or -1 after saying why. */
static int ctl_ev_args(int argc, char **argv, ctl_ev_watch *w)
{
    static const struct option lo[] = {{"filter", required_argument, NULL, 'f'}, {0}};
    int c;
    memset(w, 0, sizeof *w);
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "+n:f:", lo, NULL)) != -1) {
        if (c == 'f') {
            if (ctl_ev_filter_add(&w->fs, optarg) < 0)
                return ctl_cmd_usage(argv[0]);
            continue;
        }
        if (c != 'n' || ctl_parse_int(optarg, 1, 1000000000L, &w->count) < 0) {
            if (c == 'n')
                fprintf(stderr, "dispatchctl: events: -n takes a count of 1 or more\n");
            return ctl_cmd_usage(argv[0]);
        }
    }
    if (argc - optind > 1)
        return ctl_cmd_usage(argv[0]);
    w->pattern = argc - optind == 1 ? argv[optind] : "#";
    if (strlen(w->pattern) > 255) {
        fprintf(stderr, "dispatchctl: events: the pattern is longer than 255 bytes\n");
        return -1;
    }
    return 0;
}

/* events: prints the events published on <q>.events that match the
 * pattern (default every one) and the filters as they come.  Stops after
 * COUNT events, or after --timeout seconds when it was given (exit 3 if
 * COUNT events did not come by then).  Returns the exit status. */
static int ctl_watch(const ctl_opts *o, int argc, char **argv)
{
    ctl_ev_watch w;
    if (ctl_ev_args(argc, argv, &w) < 0)
        return EXIT_USAGE;
    broker *b = NULL;
    int status = ctl_open_broker(o, &b);
    if (b == NULL)
        return status;
    int rc = broker_watch(b, w.pattern);
    if (rc < 0) {
        fprintf(stderr, "dispatchctl: cannot watch %s.events: ", o->queue);
        text_put_terminal(stderr, broker_error(b)[0] ? broker_error(b) : broker_strerror(rc));
        fprintf(stderr, "%s\n",
                rc == BROKER_ENOTFOUND ? " (is docker-dispatch running on that queue?)" : "");
        broker_free(b);
        return EXIT_BROKER;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    long seen = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end_ms =
        (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t)o->timeout_s * 1000;
    status = 0;
    while (w.count == 0 || seen < w.count) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (o->timeout_set && (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= end_ms) {
            status = w.count ? EXIT_NOREPLY : 0;
            break;
        }
        broker_delivery d = {0};
        rc = broker_poll(b, 200, &d);
        if (rc == 1 && d.source == BROKER_SRC_EVENT && ctl_ev_matches(&w.fs, d.body, d.len)) {
            if (o->json) {
                text_put_terminal(stdout, (const char *)d.body);
                fputc('\n', stdout);
            } else {
                ctl_print_event(stdout, &d);
            }
            seen++;
        } else if (rc == BROKER_ECONNLOST || rc == BROKER_ENOTCONN) {
            static const volatile sig_atomic_t no_stop;
            fprintf(stderr, "dispatchctl: connection lost; reconnecting (events meanwhile are "
                            "missed)\n");
            if (broker_reconnect(b, &no_stop) != 0) {
                status = EXIT_BROKER;
                broker_delivery_cleanup(&d);
                break;
            }
        }
        broker_delivery_cleanup(&d);
    }
    broker_free(b);
    return status;
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
static int ctl_call(const ctl_opts *o, ctl_req *req, const char *body, size_t len)
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

#ifndef DISPATCHCTL_NO_MAIN
int main(int argc, char **argv)
{
    ctl_opts o = {0};
    ctl_req req = {0};
    const ctl_cmd *cmd;
    char *body = NULL, *in = NULL;
    size_t len = 0;
    bool help;
    int status = EXIT_USAGE;
    int at;

    if (argc < 2) {
        ctl_overview(stderr);
        return EXIT_USAGE;
    }
    at = ctl_parse_globals(argc, argv, &o, &help);
    if (at < 0) {
        ctl_usage(help ? stdout : stderr);
        return help ? 0 : EXIT_USAGE;
    }
    req.one_node = o.node != NULL;
    req.now = time(NULL);
    cmd = ctl_find_cmd(argv[at]);
    if (cmd && cmd->build == NULL)
        return ctl_watch(&o, argc - at, argv + at);
    if (cmd == NULL) {
        fprintf(stderr, "dispatchctl: unknown command \"");
        text_put_terminal(stderr, argv[at]);
        fprintf(stderr, "\"\n");
        ctl_usage(stderr);
        return EXIT_USAGE;
    }
    if (cmd->build(argc - at, argv + at, &req) < 0)
        goto out;
    if (o.json && req.progress) {
        /* --json prints the final reply alone: no progress asked for */
        json_object_del(json_object_get(req.msg, "Options"), "Progress");
        req.progress = false;
    }

    if (req.raw) {
        if (strcmp(req.raw, "-") == 0) {
            in = read_stdin(&len);
            if (in == NULL) {
                status = EXIT_REFUSED;
                goto out;
            }
            req.raw = in;
            req.raw_len = len;
        }
        body = NULL;
        len = req.raw_len;
    } else {
        body = json_dumps(req.msg, JSON_COMPACT);
        if (body == NULL)
            abort();
        len = strlen(body);
    }
    const char *text = body ? body : req.raw;
    status = ctl_check_local(&req, text, len);
    if (status == 0)
        status = ctl_call(&o, &req, text, len);
out:
    free(body);
    free(in);
    json_decref(req.msg);
    return status;
}
#endif
