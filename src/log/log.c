/*
 * log.c -- line-at-a-time output for the dispatcher.  See log.h.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool json_mode;
static log_level min_level = LOG_LVL_INFO;
static FILE *record_out; /* NULL: stdout */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(bool json, log_level min)
{
    json_mode = json;
    min_level = min;
}

void log_set_record_stream(FILE *f)
{
    pthread_mutex_lock(&lock);
    record_out = f;
    pthread_mutex_unlock(&lock);
}

bool log_is_json(void)
{
    return json_mode;
}

static void timestamp(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    char text[2048];
    char ts[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    timestamp(ts, sizeof ts);
    pthread_mutex_lock(&lock);
    if (json_mode) {
        json_t *o =
            json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg", text);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (line != NULL)
            fprintf(stderr, "%s\n", line);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %-5s %s\n", ts, level_names[level], text);
    }
    fflush(stderr);
    pthread_mutex_unlock(&lock);
}

void log_record(const char *text, json_t *obj)
{
    char ts[40];
    timestamp(ts, sizeof ts);
    pthread_mutex_lock(&lock);
    if (json_mode && obj != NULL) {
        json_t *copy = json_copy(obj);
        if (copy != NULL)
            json_object_set_new(copy, "ts", json_string(ts));
        char *line = copy ? json_dumps(copy, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (line != NULL)
            fprintf(record_out ? record_out : stdout, "%s\n", line);
        free(line);
        json_decref(copy);
    } else {
        fprintf(record_out ? record_out : stdout, "%s %s\n", ts, text ? text : "");
    }
    fflush(record_out ? record_out : stdout);
    pthread_mutex_unlock(&lock);
}
