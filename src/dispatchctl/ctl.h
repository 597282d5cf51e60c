/*
 * ctl.h -- what the files of dispatchctl share; nothing outside
 * src/dispatchctl/ sees it.
 *
 * The library (dd_ctl) holds the parts that do no broker I/O, so the unit
 * test links them:
 *   commands.c:  The command table, the overview and usage, the global
 *                options.
 *   request.c:   The builders: a command line into a request message; the
 *                local checks before publishing.
 *   render.c:    A reply into output and an exit status; the renderers,
 *                keyed by the command the reply names.
 *   format.c:    What the renderers share: text tables, ids, ages, sizes.
 *   progress.c:  Progress messages as lines or bars redrawn in place.
 *   events.c:    Events as lines, their filters, the arguments of `events`.
 * The program adds the broker (client.h): the round trip of a request
 * (call.c), the event watch (watch.c) and main() (dispatchctl.c).
 *
 * A new command is a row of ctl_commands with its builder, and a row of
 * the renderers when the default rendering does not fit.  Out of memory
 * aborts: a command-line tool has nothing better to do.
 */
#ifndef DD_CTL_H
#define DD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "broker.h"

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

/* A small text table: rows of at most CTL_TABLE_COLS cells, columns padded to
 * their widest cell.  Cells are copied. */
#define CTL_TABLE_COLS 10
typedef struct ctl_table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows * ncols */
} ctl_table;

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

/* What `events` watches: its filters, how many events, the pattern. */
typedef struct ctl_ev_watch {
    ctl_ev_filters fs;
    long count;          /* stop after this many; 0: never */
    const char *pattern; /* topic syntax; borrowed from argv */
} ctl_ev_watch;

/* commands.c */
extern const ctl_cmd ctl_commands[];
extern const size_t ctl_ncommands;
const ctl_cmd *ctl_find_cmd(const char *name);
int ctl_cmd_usage(const char *name);
void ctl_overview(FILE *f);
void ctl_usage(FILE *f);
int ctl_parse_globals(int argc, char **argv, ctl_opts *o, bool *help);
int ctl_parse_int(const char *s, long lo, long hi, long *out);
void ctl_getopt_reset(void);

/* request.c: the builders (the rows of ctl_commands), the local checks */
int ctl_build_run(int argc, char **argv, ctl_req *req);
int ctl_build_stop(int argc, char **argv, ctl_req *req);
int ctl_build_rm(int argc, char **argv, ctl_req *req);
int ctl_build_ps(int argc, char **argv, ctl_req *req);
int ctl_build_images(int argc, char **argv, ctl_req *req);
int ctl_build_pull(int argc, char **argv, ctl_req *req);
int ctl_build_inspect(int argc, char **argv, ctl_req *req);
int ctl_build_logs(int argc, char **argv, ctl_req *req);
int ctl_build_nodes(int argc, char **argv, ctl_req *req);
int ctl_build_ping(int argc, char **argv, ctl_req *req);
int ctl_build_info(int argc, char **argv, ctl_req *req);
int ctl_build_version(int argc, char **argv, ctl_req *req);
int ctl_build_send(int argc, char **argv, ctl_req *req);
int ctl_check_local(ctl_req *req, const char *body, size_t len);
int ctl_random_hex(char *buf, size_t nbytes);

/* render.c */
ctl_render_fn ctl_render_find(const char *command);
int ctl_handle_reply(const ctl_opts *o, const ctl_req *req, const broker_delivery *d);

/* format.c */
void ctl_table_add(ctl_table *t, const char *const *row);
void ctl_table_flush(ctl_table *t, FILE *out);
void ctl_short_id(const char *id, char *buf, size_t len);
void ctl_ago(time_t now, json_int_t t, char *buf, size_t len);
void ctl_human_size(json_int_t n, char *buf, size_t len);

/* progress.c */
void ctl_progress_line(char *buf, size_t len, const char *id, const char *status, int64_t current,
                       int64_t total, int width);
void ctl_progress_show(FILE *out, ctl_pull_view *v, const json_t *p, bool tty, int width);

/* events.c */
void ctl_print_event(FILE *f, const broker_delivery *d);
int ctl_ev_filter_add(ctl_ev_filters *fs, const char *kv);
int ctl_ev_matches(const ctl_ev_filters *fs, const void *body, size_t len);
int ctl_ev_args(int argc, char **argv, ctl_ev_watch *w);

#endif
