/*
 * commands.c -- dispatchctl's command line: the table of commands (name,
 * usage, builder), what `dispatchctl` alone and --help print, and the
 * global options.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "ctl.h"
#include "text.h"

/* Parses a decimal integer in [lo, hi] from s.  Returns 0 or -1. */
int ctl_parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Resets getopt for a command's own argv. */
void ctl_getopt_reset(void)
{
    optind = 0;
    opterr = 1;
}

/* Prints the usage line of one command and returns -1 (for builders). */
int ctl_cmd_usage(const char *name)
{
    const ctl_cmd *c = ctl_find_cmd(name);
    const char *args = c ? c->args : "";
    fprintf(stderr, "usage: dispatchctl [OPTIONS] %s%s%s\n", name, args[0] ? " " : "", args);
    return -1;
}

/* The commands, in the order the overview lists them.  A row without a
 * builder is not a request: main() runs the event watch for it. */
const ctl_cmd ctl_commands[] = {
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
     NULL},
    {"ping", "", "check that a node and its Docker answer", ctl_build_ping},
    {"info", "", "Docker's system information", ctl_build_info},
    {"version", "", "Docker's version", ctl_build_version},
    {"send", "JSON|-", "send a message as given", ctl_build_send},
};

const size_t ctl_ncommands = sizeof ctl_commands / sizeof ctl_commands[0];

/* The table row of a command name, or NULL. */
const ctl_cmd *ctl_find_cmd(const char *name)
{
    for (size_t i = 0; i < ctl_ncommands; i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

/* What `dispatchctl` alone prints: enough to get going. */
void ctl_overview(FILE *f)
{
    const char *url = getenv("DISPATCH_AMQP_URL");
    const char *q = getenv("DISPATCH_QUEUE");
    char *red = broker_url_redact(url && *url ? url : DEFAULT_URL);
    fprintf(f, "usage: dispatchctl [OPTIONS] COMMAND [ARGS...]\n"
               "\n"
               "Sends one command to docker-dispatch over RabbitMQ and prints the reply.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < ctl_ncommands; i++)
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

void ctl_usage(FILE *f)
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
               "  --version           the version (alone)\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < ctl_ncommands; i++)
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
int ctl_parse_globals(int argc, char **argv, ctl_opts *o, bool *help)
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
