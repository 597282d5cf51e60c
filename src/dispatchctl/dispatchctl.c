/*
 * dispatchctl.c -- the command-line client of docker-dispatch: main().
 *
 * Builds one JSON command from its command line (request.c), or takes one
 * verbatim with `send`.  Publishes it with direct reply-to to the
 * dispatcher's work queue <q>, or to a node's queue <q>.node.<name>.  A
 * command naming a container by id goes straight to the node that owns it,
 * through <q>.containers.  Waits for the one final reply (call.c) and
 * renders it (render.c): readable by default, the raw reply on one line
 * with --json.
 * `pull` and `run --instances` ask for progress messages and show them as
 * they come (progress.c).  `events` watches instead (watch.c).
 *
 * Exit status:
 *   0:  Success.
 *   1:  The reply was an error, or the local check refused the request, or
 *       a piece of a bulk run failed.
 *   2:  The broker cannot be used (unreachable, login refused, no such
 *       queue).
 *   3:  No reply in time.
 *   64: Usage, and no arguments at all (the overview).
 * `run` that waited for its container exits with the container's exit code.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "client.h"
#include "ctl.h"
#include "protocol.h"
#include "text.h"

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
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("dispatchctl %s\n", DD_VERSION);
        return 0;
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
