/*
 * log.c -- line-at-a-time output for the dispatcher.  See log.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base.h"
#include "log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool json_mode;
static log_level min_level = LOG_LVL_INFO;
static FILE *record_out; /* NULL: the log file, else stdout */
static FILE *diag_out;   /* NULL: the log file, else stderr */
static FILE *file_out;   /* the log file (ours), or NULL */
static char *file_path;  /* its path (ours), or NULL */
static char *node_name;  /* (ours), or NULL */
static __thread const char *bound_rid;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Longest request id and node name written on a line. */
#define ID_MAX 256

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

void log_set_diag_stream(FILE *f)
{
    pthread_mutex_lock(&lock);
    diag_out = f;
    pthread_mutex_unlock(&lock);
}

void log_set_node(const char *node)
{
    char *copy = xstrdup(node);
    pthread_mutex_lock(&lock);
    free(node_name);
    node_name = copy;
    pthread_mutex_unlock(&lock);
}

void log_bind_request(const char *rid)
{
    bound_rid = rid;
}

bool log_is_json(void)
{
    return json_mode;
}

static void set_cause(char **cause, const char *what, const char *path, int err)
{
    if (cause == NULL)
        return;
    free(*cause);
    if (asprintf(cause, "log file %s: %s: %s", path, what, strerror(err)) < 0)
        *cause = NULL;
}

/* Opens path for appending, line-buffered: the stream, or NULL with errno. */
static FILE *open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "a");
    if (f == NULL) {
        int err = errno;
        close(fd);
        errno = err;
        return NULL;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

int log_open_file(const char *path, char **cause)
{
    FILE *f = open_append(path);
    if (f == NULL) {
        set_cause(cause, "cannot open", path, errno);
        return -1;
    }
    char *copy = xstrdup(path);
    pthread_mutex_lock(&lock);
    FILE *old = file_out;
    free(file_path);
    file_out = f;
    file_path = copy;
    pthread_mutex_unlock(&lock);
    if (old != NULL)
        fclose(old);
    return 0;
}

int log_reopen(char **cause)
{
    pthread_mutex_lock(&lock);
    if (file_path == NULL) {
        pthread_mutex_unlock(&lock);
        return 0;
    }
    /* under the lock: no line is half in the old file, none is lost */
    FILE *f = open_append(file_path);
    if (f == NULL) {
        int err = errno;
        set_cause(cause, "cannot open again (keeping the old one)", file_path, err);
        pthread_mutex_unlock(&lock);
        return -1;
    }
    FILE *old = file_out;
    file_out = f;
    pthread_mutex_unlock(&lock);
    if (old != NULL)
        fclose(old);
    return 0;
}

void log_close_file(void)
{
    pthread_mutex_lock(&lock);
    FILE *old = file_out;
    file_out = NULL;
    free(file_path);
    file_path = NULL;
    pthread_mutex_unlock(&lock);
    if (old != NULL)
        fclose(old);
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

/* Where a line goes (under lock). */
static FILE *diag_stream(void)
{
    return diag_out ? diag_out : file_out ? file_out : stderr;
}

static FILE *record_stream(void)
{
    return record_out ? record_out : file_out ? file_out : stdout;
}

/* Writes JSON object o as one line to f (under lock). */
static void put_json(FILE *f, json_t *o)
{
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
    if (line != NULL)
        fprintf(f, "%s\n", line);
    free(line);
}

/* Sets key to a string of at most ID_MAX bytes of s, unless o has it
 * already or s is NULL. */
static void put_id(json_t *o, const char *key, const char *s)
{
    if (s == NULL || json_object_get(o, key) != NULL)
        return;
    size_t n = strnlen(s, ID_MAX);
    json_t *v = json_stringn(s, n);
    if (v == NULL) /* not UTF-8 */
        v = json_string("?");
    json_object_set_new(o, key, v);
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
    const char *rid = bound_rid;
    pthread_mutex_lock(&lock);
    FILE *f = diag_stream();
    if (json_mode) {
        json_t *o = json_pack("{s:s, s:s, s:s%}", "ts", ts, "level", level_names[level], "msg",
                              text, strlen(text));
        if (o == NULL) /* text is not UTF-8 */
            o = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_names[level], "msg",
                          "(not UTF-8)");
        put_id(o, "node", node_name);
        put_id(o, "request_id", rid);
        put_json(f, o);
        json_decref(o);
    } else if (rid != NULL) {
        fprintf(f, "%s %-5s %s id=%.*s node=%.*s\n", ts, level_names[level], text, ID_MAX, rid,
                ID_MAX, node_name ? node_name : "-");
    } else {
        fprintf(f, "%s %-5s %s\n", ts, level_names[level], text);
    }
    fflush(f);
    pthread_mutex_unlock(&lock);
}

/* Writes text record line to f with " node=<node>" after its "id=" token
 * (at the end when it has none) (under lock). */
static void put_text_record(FILE *f, const char *ts, const char *text)
{
    /* the key=value part: up to a quoted value or an output line's "| " */
    size_t head = strcspn(text, "\"|");
    size_t cut = strlen(text);
    const char *id = strncmp(text, "id=", 3) == 0 ? text : strstr(text, " id=");
    if (id != NULL && (size_t)(id - text) < head) {
        const char *end = strchr(id + 1, ' ');
        cut = end ? (size_t)(end - text) : cut;
    }
    const char *own = strncmp(text, "node=", 5) == 0 ? text : strstr(text, " node=");
    if (node_name == NULL || (own != NULL && (size_t)(own - text) < head)) {
        fprintf(f, "%s %s\n", ts, text);
        return;
    }
    fprintf(f, "%s %.*s node=%.*s%s\n", ts, (int)cut, text, ID_MAX, node_name, text + cut);
}

void log_record(const char *text, json_t *obj)
{
    char ts[40];
    timestamp(ts, sizeof ts);
    const char *rid = bound_rid;
    pthread_mutex_lock(&lock);
    FILE *f = record_stream();
    if (json_mode && obj != NULL) {
        const char *event = json_string_value(json_object_get(obj, "event"));
        json_t *o = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", "info", "msg",
                              event ? event : "record");
        if (o != NULL) {
            /* the stable keys first, then the record's own */
            const char *node = json_string_value(json_object_get(obj, "node"));
            const char *id = json_string_value(json_object_get(obj, "request_id"));
            if (id == NULL)
                id = json_string_value(json_object_get(obj, "id"));
            put_id(o, "node", node ? node : node_name);
            put_id(o, "request_id", id ? id : rid);
            json_object_update_missing(o, obj);
        }
        put_json(f, o);
        json_decref(o);
    } else {
        put_text_record(f, ts, text ? text : "");
    }
    fflush(f);
    pthread_mutex_unlock(&lock);
}
