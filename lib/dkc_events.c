/*
 * dkc_events.c -- the daemon's event stream (GET /events).
 *
 * The response is an endless sequence of JSON objects, one per line; each is
 * decoded by the JSON-lines splitter and handed to the caller as a
 * dkc_event.  The call blocks its thread until `until` passes, the caller's
 * callback returns non-zero, or dkc_client_cancel().
 */
#include <string.h>

#include "dkc_internal.h"

typedef struct events_state {
    dkc__jsonl lines;
    dkc_event_cb cb;
    void *ud;
    int rc; /* first error found inside the stream */
} events_state;

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
    int rc;

    dkc__buf_init(&path, 0);
    dkc__jsonl_init(&st.lines);
    dkc__client_resp_init(c, &resp);
    rc = dkc__buf_printf(&path, "/events");
    if (rc == 0 && opts != NULL && opts->since > 0)
        rc = dkc__query_addf(&path, "since", "%lld", (long long)opts->since);
    if (rc == 0 && opts != NULL && opts->until > 0)
        rc = dkc__query_addf(&path, "until", "%lld", (long long)opts->until);
    if (rc == 0 && opts != NULL)
        rc = dkc__query_add_json(&path, "filters", opts->filters);
    if (rc != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the events request");
        goto out;
    }
    dkc__req req = {
        .method = "GET", .path = path.data, .sink = sink, .sink_ud = &st, .stream = true};
    rc = dkc__client_do(c, &req, &resp);
    rc = dkc__jsonl_settle(c, &st.lines, rc, &st.rc, resp.status, on_value, &st, "event stream");
out:
    dkc__resp_cleanup(&resp);
    dkc__jsonl_cleanup(&st.lines);
    dkc__buf_cleanup(&path);
    return rc;
}
