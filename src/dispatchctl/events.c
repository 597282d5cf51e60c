/*
 * events.c -- the events of <q>.events as dispatchctl shows them: one line
 * each, the --filter KEY=VALUE rules that pick them, and the arguments of
 * `events`.  Pure; the watch itself is watch.c.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "text.h"

/* One event as a line: "TIME EVENT node=N [container=ID name=.. image=..
 * request=.. exit=..]"; anything that is not an event object is shown
 * as it came, made safe for the terminal. */
void ctl_print_event(FILE *f, const broker_delivery *d)
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

static const char *const ev_keys[] = {"type", "event", "node", "container", "image"};

/* Adds "KEY=VALUE" to fs.  Returns 0, or -1 (unknown key, no '=', too
 * many) after saying why. */
int ctl_ev_filter_add(ctl_ev_filters *fs, const char *kv)
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
int ctl_ev_matches(const ctl_ev_filters *fs, const void *body, size_t len)
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

/* Parses events [-n COUNT] [-f KEY=VALUE]... [PATTERN] (argv[0] is the
 * command) into *w.  Returns 0, or -1 after saying why. */
int ctl_ev_args(int argc, char **argv, ctl_ev_watch *w)
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
