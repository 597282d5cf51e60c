/*
 * render.c -- a reply into output and an exit status.  A successful
 * reply's result goes to the renderer of the command the reply names, in
 * the table `renderers`, so that `send` renders what it knows like the
 * built commands.  An error reply prints its error; --json prints the
 * reply as it came.  No I/O beyond the streams written to.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "protocol.h"
#include "text.h"

static int render_bulk(FILE *out, const json_t *r, const ctl_req *req);

typedef struct ctl_render {
    const char *command; /* canonical name as the reply carries it */
    ctl_render_fn render;
} ctl_render;

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
ctl_render_fn ctl_render_find(const char *command)
{
    for (size_t i = 0; command && i < sizeof renderers / sizeof renderers[0]; i++)
        if (strcmp(renderers[i].command, command) == 0)
            return renderers[i].render;
    return render_default;
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
int ctl_handle_reply(const ctl_opts *o, const ctl_req *req, const broker_delivery *d)
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
