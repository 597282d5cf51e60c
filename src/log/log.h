/*
 * log.h -- the dispatcher's output: one line per event on stdout (requests
 * and outcomes, as the original docker-dispatch delivered its results) and
 * diagnostics on stderr.  Text by default, JSON lines on request.
 *
 * Thread contract: every function may be called from any thread; a line is
 * written whole (one mutex).
 *
 * Every line says which request it concerns, when it concerns one: the
 * request id of the line's own fields, else the one bound to the calling
 * thread (log_bind_request), and this node's name (log_set_node).
 *
 * Text lines:
 *   records      "<ts> <text>", " node=<node>" put after the text's "id=...".
 *   diagnostics  "<ts> <level> <text>", with " id=<request id> node=<node>"
 *                at the end while the thread is bound to a request.
 * JSON lines (--log-format json) are one object per line.  Every object has
 * these keys:
 *   `ts`: "2026-11-23T10:00:00.123Z" (UTC).
 *   `level`: "debug", "info", "warn" or "error" (records: "info").
 *   `msg`: the diagnostic's text; for a record its "event".
 *   `node`: this node's name (once log_set_node was called).
 *   `request_id`: the request the line concerns (only when it concerns one).
 * A record has its own fields besides (event, id, cmd, ...; see
 * docs/docker-dispatch.8).
 *
 * Where lines go: records on stdout, diagnostics on stderr, or both to the
 * file of log_open_file() (reopened by log_reopen(), e.g. after logrotate
 * renamed it).
 *
 * Memory: part of the daemon, it aborts when memory runs out (base.h).
 */
#ifndef DD_LOG_H
#define DD_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

typedef enum log_level {
    LOG_LVL_DEBUG = 0,
    LOG_LVL_INFO = 1,
    LOG_LVL_WARN = 2,
    LOG_LVL_ERROR = 3
} log_level;

/* json: JSON lines instead of text.  min: lowest level written to stderr. */
void log_setup(bool json, log_level min);
bool log_is_json(void);

/* Writes the request/outcome records (log_record) to f instead of stdout
 * (NULL: stdout again), e.g. where stdout carries something else, like a
 * test's TAP output.  f stays the caller's. */
void log_set_record_stream(FILE *f);

/* Writes diagnostics to f instead of stderr (NULL: stderr again), for
 * tests.  f stays the caller's. */
void log_set_diag_stream(FILE *f);

/* This node's name on every line (copied; NULL: none). */
void log_set_node(const char *node);

/* Binds the calling thread's lines to request id rid (borrowed: must stay
 * valid until the thread binds another or NULL). */
void log_bind_request(const char *rid);

/* Appends every line (records and diagnostics) to the file path from now
 * on, created 0640 when missing.  0, or -1 with *cause (malloc'd) set: the
 * lines keep going where they went. */
int log_open_file(const char *path, char **cause);

/* Opens the log file's path again (logrotate renamed or removed it) and
 * switches to the new file.  0 (also when there is no log file), or -1 with
 * *cause set: the old file stays in use. */
int log_reopen(char **cause);

/* Closes the log file, if any: lines go to stdout/stderr again. */
void log_close_file(void);

/* A diagnostic line on stderr: "2026-11-23T10:00:00.123Z warn  text". */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A request/outcome line on stdout.  text is the ready human line (used in
 * text mode); obj (borrowed) is written in JSON mode with "ts" added. */
void log_record(const char *text, json_t *obj);

#endif
