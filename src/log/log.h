/*
 * log.h -- the dispatcher's output: one line per event on stdout (requests
 * and outcomes, as the original docker-dispatch delivered its results) and
 * diagnostics on stderr.  Text by default, JSON lines on request.
 *
 * Thread contract: every function may be called from any thread; a line is
 * written whole (one mutex).
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

/* A diagnostic line on stderr: "2026-11-23T10:00:00.123Z warn  text". */
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A request/outcome line on stdout.  text is the ready human line (used in
 * text mode); obj (borrowed) is written in JSON mode with "ts" added. */
void log_record(const char *text, json_t *obj);

#endif
