/*
 * util.c -- bounded output capture and small JSON and label helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

/* dkc_output_cb: keeps at most limit bytes in total, then sets truncated
 * and keeps reading (so the call ends normally). */
int eng_capture_cb(void *ud, int stream, const char *data, size_t len)
{
    capture *c = ud;
    size_t used = c->out.len + c->err.len;
    size_t room = used < c->limit ? c->limit - used : 0;
    if (len > room) {
        c->truncated = true;
        len = room;
    }
    if (len > 0)
        xbuf_add(stream == 2 ? &c->err : &c->out, data, len);
    return 0;
}

void eng_capture_free(capture *c)
{
    free(c->out.data);
    free(c->err.data);
}

const char *eng_jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

const char *eng_label(json_t *labels, const char *suffix)
{
    char k[128];
    snprintf(k, sizeof k, LBL "%s", suffix);
    const char *v = json_string_value(json_object_get(labels, k));
    /* empty is absent: an image committed from a run carries the run's
     * labels emptied (cmd_commit.c), and so do containers made from it */
    return v && *v ? v : NULL;
}

/* "2024-05-01T10:00:00.123Z" -> unix seconds; 0 when unparseable. */
int64_t eng_rfc3339_secs(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return (int64_t)timegm(&tm);
}

double eng_rfc3339_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (p == NULL)
        return 0;
    double frac = 0, scale = 0.1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
            frac += (*p - '0') * scale;
    return (double)timegm(&tm) + frac;
}

/* A filter object {"label":[l1, l2?]}.  New reference. */
json_t *eng_label_filter(const char *l1, const char *l2)
{
    json_t *arr = json_array();
    if (arr == NULL || json_array_append_new(arr, json_string(l1)) != 0)
        xoom();
    if (l2)
        if (json_array_append_new(arr, json_string(l2)) != 0)
            xoom();
    json_t *f = json_object();
    if (f == NULL)
        xoom();
    eng_set(f, "label", arr);
    return f;
}

/* The filter for the containers this dispatcher owns: its cluster and its
 * node (Docker ANDs label filters).  New reference. */
json_t *eng_owner_filter(const engine *e)
{
    return eng_label_filter(e->cluster_label, e->node_label);
}

/* The container's name without Docker's leading '/'. */
const char *eng_cname(json_t *inspect)
{
    const char *n = eng_jstr(inspect, "Name");
    if (n && n[0] == '/')
        n++;
    return n;
}

/* 1 if an inspected container never ran (State.StartedAt is Docker's zero
 * time): it was created, and its start failed or never came. */
int eng_never_started(json_t *inspect)
{
    const char *at = eng_jstr(json_object_get(inspect, "State"), "StartedAt");
    return at == NULL || !strncmp(at, "0001-", 5);
}

char **eng_label_strings(json_t *labels)
{
    char **out = xcalloc(json_object_size(labels) + 1, sizeof *out);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        const char *s = json_string_value(v);
        size_t len = strlen(k) + (s ? strlen(s) : 0) + 2;
        out[i] = xmalloc(len);
        snprintf(out[i], len, "%s=%s", k, s ? s : "");
        i++;
    }
    return out;
}

void eng_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void eng_forget_gone(json_t *set, const json_t *present, int64_t listed_at)
{
    const char *id;
    json_t *when;
    void *tmp;
    json_object_foreach_safe(set, tmp, id, when)
    {
        if (json_integer_value(when) < listed_at && json_object_get(present, id) == NULL)
            json_object_del(set, id);
    }
}

void eng_set(json_t *obj, const char *key, json_t *v)
{
    if (v == NULL || json_object_set_new(obj, key, v) != 0)
        xoom();
}

int64_t eng_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
