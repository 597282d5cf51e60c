/*
 * dkc_events.c -- the daemon's event stream (GET /events).
 *
 * The response is an endless sequence of JSON objects, one per line; each is
 * decoded by the JSON-lines splitter and handed to the caller as a
 * dkc_event.  The call blocks its thread until `until` passes, the caller's
 * callback returns non-zero, or dkc_client_cancel().
 *
 * Podman's service (dkc__client_libpod) names two container events its own
 * way, in filters as in the stream: `died` for Docker's `die` and `remove`
 * for `destroy`.  Its `until` is the moment the stream ends, not the last
 * event time to send.  A window whose `until` has passed, or comes before
 * Podman has read its event log up to it, ends with nothing or with a
 * part.  The requests and events are translated.  A window ending less
 * than PODMAN_UNTIL_S seconds from now is asked up to then and cut at
 * `until` here.  So callers see Docker's events either way.
 */
#include <string.h>
#include <time.h>

#include "dkc_internal.h"

/* Seconds Podman is given to read its event log up to a window's end. */
#define PODMAN_UNTIL_S 2

typedef struct events_state {
    dkc__jsonl lines;
    dkc_event_cb cb;
    void *ud;
    int rc;        /* first error found inside the stream */
    bool libpod;   /* Podman's names: died, remove */
    int64_t until; /* drop events after it (a past window from Podman); 0: none */
} events_state;

/* Podman's name of a container event Docker calls action (filters), and
 * back (events): NULL when both say the same. */
static const char *const renamed[][2] = {{"die", "died"}, {"destroy", "remove"}};

static const char *podman_name(const char *docker)
{
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        if (strcmp(docker, renamed[i][0]) == 0)
            return renamed[i][1];
    return NULL;
}

static const char *docker_name(const char *podman)
{
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
        if (strcmp(podman, renamed[i][1]) == 0)
            return renamed[i][0];
    return NULL;
}

/* A copy of filters (borrowed) with the "event" values in Podman's names,
 * either form Docker takes ({"event":["die"]} or {"event":{"die":true}}).
 * New reference; NULL without memory. */
static json_t *podman_filters(json_t *filters)
{
    json_t *out = json_deep_copy(filters);
    json_t *ev = json_object_get(out, "event");
    if (out == NULL || ev == NULL)
        return out;
    json_t *names = json_array();
    size_t i;
    const char *key;
    json_t *v;
    if (json_is_array(ev))
        json_array_foreach(ev, i, v) json_array_append(names, v);
    else if (json_is_object(ev))
        json_object_foreach(ev, key, v) json_array_append_new(names, json_string(key));
    json_t *mapped = json_array();
    json_array_foreach(names, i, v)
    {
        const char *n = json_string_value(v);
        const char *p = n ? podman_name(n) : NULL;
        json_array_append_new(mapped, p ? json_string(p) : json_incref(v));
    }
    json_decref(names);
    if (mapped == NULL || json_object_set_new(out, "event", mapped) != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

static const char *str_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

/* Maps one decoded event object onto dkc_event.  API 1.52 and newer send
 * only Type/Action/Actor; 1.22 to 1.51 both those and status/id/from; the
 * oldest daemons status/id/from alone, and the time in seconds only -- all
 * are understood. */
static int on_value(void *ud, json_t *v)
{
    events_state *st = ud;
    if (!json_is_object(v)) {
        st->rc = DKC_EPROTO;
        return 1;
    }
    json_t *actor = json_object_get(v, "Actor");
    json_t *attrs = json_object_get(actor, "Attributes");
    dkc_event ev = {
        .type = str_field(v, "Type"),
        .action = str_field(v, "Action"),
        .id = str_field(actor, "ID"),
        .time = json_integer_value(json_object_get(v, "time")),
        .time_nano = json_integer_value(json_object_get(v, "timeNano")),
        .attributes = json_is_object(attrs) ? attrs : NULL,
        .raw = v,
    };
    if (ev.action[0] == '\0')
        ev.action = str_field(v, "status");
    if (ev.id[0] == '\0')
        ev.id = str_field(v, "id");
    if (ev.type[0] == '\0')
        ev.type = "container";
    /* The oldest form has the time in seconds only. */
    if (ev.time_nano == 0)
        ev.time_nano = ev.time * 1000000000LL;
    else if (ev.time == 0)
        ev.time = ev.time_nano / 1000000000LL;
    if (st->libpod && strcmp(ev.type, "container") == 0) {
        const char *d = docker_name(ev.action);
        if (d != NULL)
            ev.action = d;
    }
    if (st->until > 0 && ev.time > st->until)
        return 0;
    json_t *empty = NULL;
    if (ev.attributes == NULL)
        ev.attributes = empty = json_object();
    int stop = st->cb(st->ud, &ev);
    json_decref(empty);
    return stop;
}

static int sink(void *ud, const char *data, size_t len)
{
    events_state *st = ud;
    int rc = dkc__jsonl_feed(&st->lines, data, len, on_value, st);
    if (rc != 0 && rc != DKC_ECANCELED && st->rc == 0)
        st->rc = rc;
    return rc != 0;
}

int dkc_events(dkc_client *c, const dkc_events_opts *opts, dkc_event_cb cb, void *ud)
{
    if (c == NULL || cb == NULL)
        return DKC_EINVAL;
    dkc__buf path;
    dkc__resp resp;
    events_state st = {.cb = cb, .ud = ud, .rc = 0};
    json_t *filters = opts ? opts->filters : NULL, *own = NULL;
    int64_t until = opts ? opts->until : 0;
    int rc;

    dkc__buf_init(&path, 0);
    dkc__jsonl_init(&st.lines);
    dkc__client_resp_init(c, &resp);
    if ((rc = dkc__client_negotiated(c)) != 0)
        goto out;
    st.libpod = dkc__client_libpod(c);
    if (st.libpod && filters != NULL && (filters = own = podman_filters(filters)) == NULL) {
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "cannot build the events request");
        goto out;
    }
    if (st.libpod && until > 0 && until < (int64_t)time(NULL) + PODMAN_UNTIL_S) {
        st.until = until;
        until = (int64_t)time(NULL) + PODMAN_UNTIL_S;
    }
    rc = dkc__buf_printf(&path, "/events");
    if (rc == 0 && opts != NULL && opts->since > 0)
        rc = dkc__query_addf(&path, "since", "%lld", (long long)opts->since);
    if (rc == 0 && until > 0)
        rc = dkc__query_addf(&path, "until", "%lld", (long long)until);
    if (rc == 0 && opts != NULL)
        rc = dkc__query_add_json(&path, "filters", filters);
    if (rc != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the events request");
        goto out;
    }
    dkc__req req = {
        .method = "GET", .path = path.data, .sink = sink, .sink_ud = &st, .stream = true};
    rc = dkc__client_do(c, &req, &resp);
    rc = dkc__jsonl_settle(c, &st.lines, rc, &st.rc, resp.status, on_value, &st, "event stream");
out:
    json_decref(own);
    dkc__resp_cleanup(&resp);
    dkc__jsonl_cleanup(&st.lines);
    dkc__buf_cleanup(&path);
    return rc;
}
