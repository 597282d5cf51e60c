/*
 * dkc_containers.c -- the container endpoints of the Engine API.
 *
 * Each call checks its arguments, builds "/containers/<id>/<verb>?<query>"
 * (ids and names through dkc__check_ref, query values percent-encoded by
 * dkc__query_add) and hands one request to dkc__client_do, which maps the
 * HTTP status (304 DKC_ENOTMODIFIED, 404 DKC_ENOTFOUND, 409 DKC_ECONFLICT,
 * ...) and records Docker's message.  Nothing here parses more of Docker's
 * JSON than the few values the API returns typed.
 *
 * Streams (logs, attach, stats, archives, wait, stop) run without a request
 * timeout; dkc_client_cancel() or a callback returning non-zero ends them.
 * Container output is demultiplexed with dkc_demux unless the container has
 * a TTY, in which case it is raw and reported as stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkc_internal.h"

/* Records a bad-argument failure found before any request. */
static int fail_arg(dkc_client *c, const char *what)
{
    return dkc__client_fail(c, DKC_EINVAL, 0, "invalid argument: %s", what);
}

/* Records a failure to build a request (out of memory, or a query value
 * that cannot be formatted). */
static int fail_build(dkc_client *c, int rc)
{
    return dkc__client_fail(c, rc, 0, "cannot build the request: %s", dkc_strerror(rc));
}

/* Writes "/containers/<id><suffix>" into b (initialised by the caller)
 * after checking that id is a safe reference.  Returns 0 or a recorded
 * DKC_EINVAL / DKC_ENOMEM. */
static int container_path(dkc_client *c, dkc__buf *b, const char *id, const char *suffix)
{
    if (dkc__check_ref(id, false) != 0)
        return fail_arg(c, "container id or name");
    int rc = dkc__buf_printf(b, "/containers/%s%s", id, suffix);
    return rc == 0 ? 0 : fail_build(c, rc);
}

/* Performs a request whose response (if any) is JSON, like
 * dkc__client_json, but lets the caller ask for no request timeout (stop,
 * restart and wait last as long as the daemon needs).  On success and with
 * out non-NULL, *out is a new reference (JSON null for an empty body). */
static int request_json(dkc_client *c, const char *method, const char *path, json_t *body,
                        bool stream, json_t **out)
{
    return dkc__client_json_ex(c, method, path, body, stream, out);
}

/* A request on /containers/<id><suffix>[?k1=v1] (k1 NULL: no query) with
 * no body and no decoded result: start, stop, kill, pause...  stream: no
 * request timeout. */
static int container_simple(dkc_client *c, const char *id, const char *method, const char *suffix,
                            const char *k1, const char *v1, bool stream)
{
    dkc__buf path;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, suffix)) != 0)
        goto out;
    if (k1 != NULL && (rc = dkc__query_add(&path, k1, v1)) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    rc = request_json(c, method, path.data, NULL, stream, NULL);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

/* GET /containers/<id><suffix>[?k1=v1] decoded into *out. */
static int container_get(dkc_client *c, const char *id, const char *suffix, const char *k1,
                         const char *v1, json_t **out)
{
    dkc__buf path;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, suffix)) != 0)
        goto out;
    if (k1 != NULL && (rc = dkc__query_add(&path, k1, v1)) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    rc = dkc__client_json(c, "GET", path.data, NULL, out);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

/* ---- create, list, inspect ------------------------------------------- */

int dkc_container_create_json(dkc_client *c, const char *name, json_t *body, char **id,
                              json_t **warnings)
{
    dkc__buf path;
    json_t *send = NULL;
    json_t *res = NULL;
    int rc;

    if (id != NULL)
        *id = NULL;
    if (warnings != NULL)
        *warnings = NULL;
    if (c == NULL || id == NULL)
        return DKC_EINVAL;
    if (!json_is_object(body))
        return fail_arg(c, "create body must be a JSON object");
    if (name != NULL && dkc__check_ref(name, false) != 0)
        return fail_arg(c, "container name");
    dkc__buf_init(&path, 0);
    if ((rc = dkc__buf_printf(&path, "/containers/create")) != 0 ||
        (rc = dkc__query_add(&path, "name", name)) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    if ((rc = dkc__api_create_body(c, body, &send)) != 0 ||
        (rc = dkc__client_json(c, "POST", path.data, send, &res)) != 0)
        goto out;
    const char *new_id = json_string_value(json_object_get(res, "Id"));
    if (new_id == NULL || new_id[0] == '\0') {
        rc = dkc__client_fail(c, DKC_EPROTO, 0, "create response carries no Id");
        goto out;
    }
    *id = strdup(new_id);
    if (*id == NULL) {
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
        goto out;
    }
    json_t *w = json_object_get(res, "Warnings");
    if (warnings != NULL && json_is_array(w))
        *warnings = json_incref(w);
out:
    json_decref(send);
    json_decref(res);
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_container_create(dkc_client *c, const char *name, const dkc_container_config *cfg,
                         char **id, json_t **warnings)
{
    json_t *body = NULL;

    if (id != NULL)
        *id = NULL;
    if (warnings != NULL)
        *warnings = NULL;
    if (c == NULL || id == NULL)
        return DKC_EINVAL;
    int rc = dkc_container_config_to_json(cfg, &body);
    if (rc != 0)
        return dkc__client_fail(c, rc, 0, "invalid container config: %s", dkc_strerror(rc));
    rc = dkc_container_create_json(c, name, body, id, warnings);
    json_decref(body);
    return rc;
}

int dkc_container_list(dkc_client *c, const dkc_list_opts *opts, json_t **out)
{
    dkc__buf path;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    if (opts != NULL && opts->limit < 0)
        return fail_arg(c, "negative limit");
    dkc__buf_init(&path, 0);
    rc = dkc__buf_printf(&path, "/containers/json");
    if (rc == 0 && opts != NULL && opts->all)
        rc = dkc__query_add(&path, "all", "1");
    if (rc == 0 && opts != NULL && opts->size)
        rc = dkc__query_add(&path, "size", "1");
    if (rc == 0 && opts != NULL && opts->limit > 0)
        rc = dkc__query_addf(&path, "limit", "%d", opts->limit);
    if (rc == 0 && opts != NULL)
        rc = dkc__query_add_json(&path, "filters", opts->filters);
    if (rc != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    rc = dkc__client_json(c, "GET", path.data, NULL, out);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_container_inspect(dkc_client *c, const char *id, json_t **out)
{
    return container_get(c, id, "/json", NULL, NULL, out);
}

int dkc__container_is_tty(dkc_client *c, const char *id, bool *tty)
{
    json_t *info = NULL;
    if (tty == NULL)
        return DKC_EINVAL;
    *tty = false;
    int rc = dkc_container_inspect(c, id, &info);
    if (rc != 0)
        return rc;
    dkc_tty t = dkc_tty_of(info);
    if (t == DKC_TTY_ASK && json_object_get(json_object_get(info, "Config"), "Tty") != NULL)
        rc = dkc__client_fail(c, DKC_EPROTO, 0, "inspect: Config.Tty is not a boolean");
    else
        *tty = t == DKC_TTY_YES;
    json_decref(info);
    return rc;
}

dkc_tty dkc_tty_of(const json_t *info)
{
    json_t *v = json_object_get(json_object_get(info, "Config"), "Tty");
    return !json_is_boolean(v) ? DKC_TTY_ASK : json_is_true(v) ? DKC_TTY_YES : DKC_TTY_NO;
}

/* ---- lifecycle ------------------------------------------------------- */

int dkc_container_start(dkc_client *c, const char *id)
{
    return container_simple(c, id, "POST", "/start", NULL, NULL, false);
}

/* stop and restart: ?t=N when timeout >= 0, ?signal=S when signal is set
 * (API 1.42).  Docker may wait that long (or the container's own
 * StopTimeout) before killing, so the request has no timeout of its own. */
static int stop_like(dkc_client *c, const char *id, const char *verb, int timeout,
                     const char *signal)
{
    dkc__buf path;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    if (signal != NULL && signal[0] == '\0')
        return fail_arg(c, "empty signal");
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, verb)) != 0)
        goto out;
    if (signal != NULL && (rc = dkc__api_require(c, DKC__F_STOP_SIGNAL)) != 0)
        goto out;
    if ((timeout >= 0 && (rc = dkc__query_addf(&path, "t", "%d", timeout)) != 0) ||
        (rc = dkc__query_add(&path, "signal", signal)) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    rc = request_json(c, "POST", path.data, NULL, true, NULL);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_container_stop(dkc_client *c, const char *id, int timeout)
{
    return stop_like(c, id, "/stop", timeout, NULL);
}

int dkc_container_restart(dkc_client *c, const char *id, int timeout)
{
    return stop_like(c, id, "/restart", timeout, NULL);
}

int dkc_container_stop_signal(dkc_client *c, const char *id, int timeout, const char *signal)
{
    return stop_like(c, id, "/stop", timeout, signal);
}

int dkc_container_restart_signal(dkc_client *c, const char *id, int timeout, const char *signal)
{
    return stop_like(c, id, "/restart", timeout, signal);
}

int dkc_container_kill(dkc_client *c, const char *id, const char *signal)
{
    if (c != NULL && signal != NULL && signal[0] == '\0')
        return fail_arg(c, "empty signal");
    return container_simple(c, id, "POST", "/kill", signal ? "signal" : NULL, signal, false);
}

int dkc_container_pause(dkc_client *c, const char *id)
{
    return container_simple(c, id, "POST", "/pause", NULL, NULL, false);
}

int dkc_container_unpause(dkc_client *c, const char *id)
{
    return container_simple(c, id, "POST", "/unpause", NULL, NULL, false);
}

int dkc_container_rename(dkc_client *c, const char *id, const char *new_name)
{
    if (c != NULL && dkc__check_ref(new_name, false) != 0)
        return fail_arg(c, "new container name");
    return container_simple(c, id, "POST", "/rename", "name", new_name, false);
}

int dkc_container_remove(dkc_client *c, const char *id, bool force, bool volumes)
{
    dkc__buf path;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, "")) != 0)
        goto out;
    rc = dkc__query_add(&path, "force", force ? "1" : "0");
    if (rc == 0)
        rc = dkc__query_add(&path, "v", volumes ? "1" : "0");
    if (rc != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    /* Removing with force kills first: no request timeout either. */
    rc = request_json(c, "DELETE", path.data, NULL, true, NULL);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_container_wait(dkc_client *c, const char *id, const char *condition, int64_t *exit_code,
                       char **error_msg)
{
    dkc__buf path;
    json_t *res = NULL;
    int rc;

    if (error_msg != NULL)
        *error_msg = NULL;
    if (c == NULL || exit_code == NULL)
        return DKC_EINVAL;
    if (condition != NULL && strcmp(condition, "not-running") != 0 &&
        strcmp(condition, "next-exit") != 0 && strcmp(condition, "removed") != 0)
        return fail_arg(c, "wait condition");
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, "/wait")) != 0)
        goto out;
    if (condition != NULL && strcmp(condition, "not-running") != 0 &&
        (rc = dkc__api_require(c, DKC__F_WAIT_CONDITION)) != 0)
        goto out;
    if ((rc = dkc__query_add(&path, "condition", condition)) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    if ((rc = request_json(c, "POST", path.data, NULL, true, &res)) != 0)
        goto out;
    json_t *code = json_object_get(res, "StatusCode");
    if (!json_is_integer(code)) {
        rc = dkc__client_fail(c, DKC_EPROTO, 0, "wait response carries no StatusCode");
        goto out;
    }
    *exit_code = (int64_t)json_integer_value(code);
    const char *msg = json_string_value(json_object_get(json_object_get(res, "Error"), "Message"));
    if (error_msg != NULL && msg != NULL && msg[0] != '\0') {
        *error_msg = strdup(msg);
        if (*error_msg == NULL)
            rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
    }
out:
    json_decref(res);
    dkc__buf_cleanup(&path);
    return rc;
}

/* ---- output streams: logs and attach ---------------------------------- */

/* Where the body of an output stream goes: raw to cb (TTY) or through the
 * demultiplexer.  rc keeps an error found in the stream itself. */
typedef struct output_state {
    dkc_demux demux;
    bool tty;
    dkc_output_cb cb;
    void *ud;
    int rc;
} output_state;

/* The output callback used when the caller passes none. */
static int discard_output(void *ud, int stream, const char *data, size_t len)
{
    return 0;
}

/* Request sink for output streams: non-zero stops the transfer (the
 * caller's callback asked to, or st->rc holds a stream error). */
static int output_sink(void *ud, const char *data, size_t len)
{
    output_state *st = ud;
    if (st->tty)
        return st->cb(st->ud, 1, data, len) != 0;
    int rc = dkc_demux_feed(&st->demux, data, len, st->cb, st->ud);
    if (rc != 0 && rc != DKC_ECANCELED)
        st->rc = rc;
    return rc != 0;
}

/* See dkc_internal.h.  Shared by logs, attach and exec start. */
int dkc__output_request(dkc_client *c, const char *method, const char *path, const char *body,
                        size_t body_len, bool tty, dkc_output_cb cb, void *ud)
{
    output_state st = {.tty = tty, .cb = cb ? cb : discard_output, .ud = ud, .rc = 0};
    dkc__resp resp;
    dkc_demux_init(&st.demux);
    dkc__client_resp_init(c, &resp);
    dkc__req req = {.method = method,
                    .path = path,
                    .body = body,
                    .body_len = body_len,
                    .sink = output_sink,
                    .sink_ud = &st,
                    .stream = true};
    int rc = dkc__client_do(c, &req, &resp);
    if (rc == DKC_ECANCELED && st.rc != 0)
        rc = dkc__client_fail(c, st.rc, resp.status, "malformed output stream: %s",
                              dkc_strerror(st.rc));
    else if (rc == 0 && !tty && !dkc_demux_at_boundary(&st.demux))
        rc = dkc__client_fail(c, DKC_EPROTO, resp.status, "output stream ended inside a frame");
    dkc__resp_cleanup(&resp);
    return rc;
}

int dkc_container_logs(dkc_client *c, const char *id, const dkc_logs_opts *opts, dkc_output_cb cb,
                       void *ud)
{
    dkc_logs_opts none = {0};
    dkc__buf path;
    bool tty = false;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    if (opts == NULL)
        opts = &none;
    bool both = !opts->stdout_ && !opts->stderr_;
    dkc__buf_init(&path, 0);
    if ((rc = container_path(c, &path, id, "/logs")) != 0)
        goto out;
    rc = dkc__query_add(&path, "stdout", both || opts->stdout_ ? "1" : "0");
    if (rc == 0)
        rc = dkc__query_add(&path, "stderr", both || opts->stderr_ ? "1" : "0");
    if (rc == 0 && opts->follow)
        rc = dkc__query_add(&path, "follow", "1");
    if (rc == 0 && opts->timestamps)
        rc = dkc__query_add(&path, "timestamps", "1");
    if (rc == 0 && opts->since > 0)
        rc = dkc__query_addf(&path, "since", "%lld", (long long)opts->since);
    if (rc == 0 && opts->until > 0)
        rc = dkc__query_addf(&path, "until", "%lld", (long long)opts->until);
    if (rc == 0 && opts->tail > 0)
        rc = dkc__query_addf(&path, "tail", "%d", opts->tail);
    if (rc != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    if (opts->tty != DKC_TTY_ASK)
        tty = opts->tty == DKC_TTY_YES;
    else if ((rc = dkc__container_is_tty(c, id, &tty)) != 0)
        goto out;
    rc = dkc__output_request(c, "GET", path.data, NULL, 0, tty, cb, ud);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_container_attach(dkc_client *c, const char *id, bool logs, dkc_output_cb cb, void *ud)
{
    dkc__buf path;
    bool tty = false;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&path, 0);
    if ((rc = dkc__client_negotiated(c)) != 0)
        goto out;
    if (logs && dkc__client_libpod(c)) {
        /* Podman 4's attach sends what was printed before it in frames one
         * byte short (the line's newline is not counted); its followed logs
         * are the same output, framed right, also up to the exit */
        dkc_logs_opts lo = {.follow = true, .tty = DKC_TTY_ASK};
        rc = dkc_container_logs(c, id, &lo, cb, ud);
        goto out;
    }
    if ((rc = container_path(c, &path, id, "/attach")) != 0)
        goto out;
    rc = dkc__query_add(&path, "stream", "1");
    if (rc == 0)
        rc = dkc__query_add(&path, "stdout", "1");
    if (rc == 0)
        rc = dkc__query_add(&path, "stderr", "1");
    if (rc == 0)
        rc = dkc__query_add(&path, "logs", logs ? "1" : "0");
    if (rc != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    if ((rc = dkc__container_is_tty(c, id, &tty)) != 0)
        goto out;
    /* Docker answers attach by taking over the connection and writing the
     * output until the container exits, then closing it: to libcurl that is
     * an ordinary response body read to the end. */
    rc = dkc__output_request(c, "POST", path.data, NULL, 0, tty, cb, ud);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

/* ---- top, changes, stats --------------------------------------------- */

/* Appends to arr the whitespace-separated fields of s, at most n, the last
 * one taking the rest of the line (as Docker splits ps output).  0 or
 * DKC_ENOMEM. */
static int split_fields(json_t *arr, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        s += strspn(s, " \t");
        if (*s == '\0')
            break;
        size_t len = i + 1 < n ? strcspn(s, " \t") : strlen(s);
        while (i + 1 == n && len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (json_array_append_new(arr, json_stringn(s, len)) != 0)
            return DKC_ENOMEM;
        s += len;
    }
    return 0;
}

/* Podman passes ps options that are not its own descriptors to ps and
 * answers its lines whole: one title "PID   COMMAND" and rows of one
 * string.  Splits them into columns the way Docker does.  0 or
 * DKC_ENOMEM. */
static int top_columns(json_t *top)
{
    json_t *titles = json_object_get(top, "Titles");
    const char *head = json_string_value(json_array_get(titles, 0));
    if (json_array_size(titles) != 1 || head == NULL || strpbrk(head, " \t") == NULL)
        return 0;
    json_t *cols = json_array(), *rows = json_array();
    int rc = cols && rows ? split_fields(cols, head, SIZE_MAX) : DKC_ENOMEM;
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(top, "Processes"), i, row)
    {
        json_t *r = json_array();
        const char *line = json_string_value(json_array_get(row, 0));
        if (rc == 0)
            rc = r ? split_fields(r, line ? line : "", json_array_size(cols)) : DKC_ENOMEM;
        if (rc == 0 && json_array_append_new(rows, r) != 0)
            rc = DKC_ENOMEM;
        else if (rc != 0)
            json_decref(r);
    }
    if (rc == 0 &&
        (json_object_set(top, "Titles", cols) != 0 || json_object_set(top, "Processes", rows) != 0))
        rc = DKC_ENOMEM;
    json_decref(cols);
    json_decref(rows);
    return rc;
}

int dkc_container_top(dkc_client *c, const char *id, const char *ps_args, json_t **out)
{
    int rc = container_get(c, id, "/top", ps_args ? "ps_args" : NULL, ps_args, out);
    if (rc == 0 && dkc__client_libpod(c) && top_columns(*out) != 0) {
        json_decref(*out);
        *out = NULL;
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
    }
    return rc;
}

int dkc_container_changes(dkc_client *c, const char *id, json_t **out)
{
    return container_get(c, id, "/changes", NULL, NULL, out);
}

int dkc_container_stats(dkc_client *c, const char *id, json_t **out)
{
    return container_get(c, id, "/stats", "stream", "false", out);
}

typedef struct stats_state {
    dkc__jsonl lines;
    dkc_json_cb cb;
    void *ud;
    int rc; /* error found in the stream itself */
} stats_state;

/* Hands one decoded stats object (borrowed) to the caller. */
static int stats_value(void *ud, json_t *v)
{
    stats_state *st = ud;
    return st->cb(st->ud, v) != 0;
}

/* Request sink for the stats stream: splits it into JSON values. */
static int stats_sink(void *ud, const char *data, size_t len)
{
    stats_state *st = ud;
    int rc = dkc__jsonl_feed(&st->lines, data, len, stats_value, st);
    if (rc != 0 && rc != DKC_ECANCELED)
        st->rc = rc;
    return rc != 0;
}

int dkc_container_stats_stream(dkc_client *c, const char *id, dkc_json_cb cb, void *ud)
{
    stats_state st = {.cb = cb, .ud = ud, .rc = 0};
    dkc__buf path;
    dkc__resp resp;
    int rc;

    if (c == NULL || cb == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&path, 0);
    dkc__jsonl_init(&st.lines);
    dkc__client_resp_init(c, &resp);
    if ((rc = container_path(c, &path, id, "/stats")) != 0)
        goto out;
    if ((rc = dkc__query_add(&path, "stream", "true")) != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    dkc__req req = {
        .method = "GET", .path = path.data, .sink = stats_sink, .sink_ud = &st, .stream = true};
    rc = dkc__client_do(c, &req, &resp);
    /* the stream ends when the container stops */
    rc = dkc__jsonl_settle(c, &st.lines, rc, &st.rc, resp.status, stats_value, &st, "stats stream");
out:
    dkc__resp_cleanup(&resp);
    dkc__jsonl_cleanup(&st.lines);
    dkc__buf_cleanup(&path);
    return rc;
}

/* ---- archives -------------------------------------------------------- */

/* Decodes standard base64 (padding optional, no whitespace) into a new
 * buffer of *n bytes.  Hand-written because none of our dependencies offers
 * one: libcurl keeps its decoder private, jansson has none, and glibc's
 * b64_pton lives in libresolv, an extra link dependency for the one header
 * that needs it.  Returns NULL on malformed input or out of memory. */
static unsigned char *base64_decode(const char *in, size_t *n)
{
    size_t len = strlen(in);
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (out == NULL)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        int v;
        if (ch >= 'A' && ch <= 'Z')
            v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z')
            v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9')
            v = ch - '0' + 52;
        else if (ch == '+')
            v = 62;
        else if (ch == '/')
            v = 63;
        else {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *n = o;
    return out;
}

/* Decodes the X-Docker-Container-Path-Stat header (base64 of a JSON
 * object) into a new reference in *out.  DKC_EPROTO when malformed. */
static int decode_path_stat(dkc_client *c, const char *header, json_t **out)
{
    size_t n = 0;
    unsigned char *raw = base64_decode(header, &n);
    if (raw == NULL)
        return dkc__client_fail(c, DKC_EPROTO, 0, "path stat header is not base64");
    *out = json_loadb((const char *)raw, n, 0, NULL);
    free(raw);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return dkc__client_fail(c, DKC_EPROTO, 0, "path stat header is not a JSON object");
    }
    return 0;
}

/* Builds "/containers/<id>/archive?path=<path>". */
static int archive_path(dkc_client *c, dkc__buf *b, const char *id, const char *path)
{
    int rc;
    if (path == NULL || path[0] == '\0')
        return fail_arg(c, "archive path");
    if ((rc = container_path(c, b, id, "/archive")) != 0)
        return rc;
    if ((rc = dkc__query_add(b, "path", path)) != 0)
        return fail_build(c, rc);
    return 0;
}

typedef struct data_state {
    dkc_data_cb cb;
    void *ud;
} data_state;

/* Request sink for archive bytes: straight to the caller's callback. */
static int data_sink(void *ud, const char *data, size_t len)
{
    data_state *st = ud;
    return st->cb != NULL && st->cb(st->ud, data, len) != 0;
}

int dkc_container_archive_get(dkc_client *c, const char *id, const char *path, dkc_data_cb cb,
                              void *ud, json_t **stat)
{
    data_state st = {.cb = cb, .ud = ud};
    dkc__buf url;
    dkc__resp resp;
    int rc;

    if (stat != NULL)
        *stat = NULL;
    if (c == NULL)
        return DKC_EINVAL;
    dkc__buf_init(&url, 0);
    dkc__client_resp_init(c, &resp);
    if ((rc = archive_path(c, &url, id, path)) != 0)
        goto out;
    dkc__req req = {
        .method = "GET", .path = url.data, .sink = data_sink, .sink_ud = &st, .stream = true};
    if ((rc = dkc__client_do(c, &req, &resp)) != 0)
        goto out;
    if (stat != NULL && resp.path_stat != NULL)
        rc = decode_path_stat(c, resp.path_stat, stat);
out:
    dkc__resp_cleanup(&resp);
    dkc__buf_cleanup(&url);
    return rc;
}

int dkc_container_archive_put(dkc_client *c, const char *id, const char *path, dkc_read_cb rd,
                              void *ud)
{
    dkc__buf url;
    dkc__resp resp;
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    if (rd == NULL)
        return fail_arg(c, "archive reader");
    dkc__buf_init(&url, 0);
    dkc__client_resp_init(c, &resp);
    if ((rc = archive_path(c, &url, id, path)) != 0)
        goto out;
    dkc__req req = {.method = "PUT",
                    .path = url.data,
                    .content_type = "application/x-tar",
                    .reader = rd,
                    .reader_ud = ud,
                    .stream = true};
    rc = dkc__client_do(c, &req, &resp);
out:
    dkc__resp_cleanup(&resp);
    dkc__buf_cleanup(&url);
    return rc;
}

/* ---- commit ---------------------------------------------------------- */

/* Podman's commit reads no config body, only Dockerfile instructions in
 * `changes`.  Appends one per setting of config (borrowed) to path.
 * Returns 0, or DKC_EINVAL (why says which key or value) for what they
 * cannot carry.  They cannot carry keys other than Labels, Env, Cmd,
 * Entrypoint, WorkingDir and User, nor text with a line break, an '=' in a
 * label's name or quotes around a value. */
static int podman_changes(json_t *config, dkc__buf *path, const char **why)
{
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(config, key, v)
    {
        if (json_is_null(v))
            continue;
        const char *k, *x;
        json_t *e;
        size_t i;
        if (strcmp(key, "Labels") == 0) {
            if (!json_is_object(v)) {
                *why = "Labels must be an object of strings";
                return DKC_EINVAL;
            }
            json_object_foreach(v, k, e)
            {
                x = json_string_value(e);
                if (x == NULL || strpbrk(x, "\r\n") || x[0] == '"' || strpbrk(k, "=\r\n \"")) {
                    *why = "a label Podman's commit cannot carry (a line break, quotes or '=' "
                           "in its name)";
                    return DKC_EINVAL;
                }
                if ((rc = dkc__query_addf(path, "changes", "LABEL %s=%s", k, x)) != 0)
                    return rc;
            }
        } else if (strcmp(key, "Env") == 0) {
            if (!json_is_array(v)) {
                *why = "Env must be an array of strings";
                return DKC_EINVAL;
            }
            json_array_foreach(v, i, e)
            {
                x = json_string_value(e);
                if (x == NULL || strpbrk(x, "\r\n") || strchr(x, '=') == NULL) {
                    *why = "an Env entry Podman's commit cannot carry (not NAME=value, or a "
                           "line break)";
                    return DKC_EINVAL;
                }
                if ((rc = dkc__query_addf(path, "changes", "ENV %s", x)) != 0)
                    return rc;
            }
        } else if (strcmp(key, "Cmd") == 0 || strcmp(key, "Entrypoint") == 0) {
            char *list = json_is_array(v) ? json_dumps(v, JSON_COMPACT) : NULL;
            if (list == NULL || strpbrk(list, "\r\n") != NULL) {
                free(list);
                *why = "Cmd and Entrypoint must be arrays of strings";
                return DKC_EINVAL;
            }
            rc = dkc__query_addf(path, "changes", "%s %s", key[0] == 'C' ? "CMD" : "ENTRYPOINT",
                                 list);
            free(list);
        } else if (strcmp(key, "WorkingDir") == 0 || strcmp(key, "User") == 0) {
            const char *s = json_string_value(v);
            if (s == NULL || strpbrk(s, "\r\n") != NULL) {
                *why = "WorkingDir and User must be strings of one line";
                return DKC_EINVAL;
            }
            if (s[0] != '\0')
                rc = dkc__query_addf(path, "changes", "%s %s", key[0] == 'W' ? "WORKDIR" : "USER",
                                     s);
        } else {
            *why = "a commit config key Podman's commit cannot set (it takes Labels, Env, Cmd, "
                   "Entrypoint, WorkingDir and User)";
            return DKC_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int dkc_container_commit(dkc_client *c, const char *id, const dkc_commit_opts *opts,
                         char **image_id)
{
    dkc__buf path;
    json_t *res = NULL;
    int rc;

    if (image_id != NULL)
        *image_id = NULL;
    if (c == NULL || image_id == NULL)
        return DKC_EINVAL;
    if (dkc__check_ref(id, false) != 0)
        return fail_arg(c, "container id or name");
    if (opts != NULL && opts->config != NULL && !json_is_object(opts->config))
        return fail_arg(c, "commit config must be a JSON object");
    if ((rc = dkc__client_negotiated(c)) != 0)
        return rc;
    bool libpod = dkc__client_libpod(c);
    dkc__buf_init(&path, 0);
    rc = dkc__buf_printf(&path, "/commit");
    if (rc == 0)
        rc = dkc__query_add(&path, "container", id);
    if (rc == 0 && opts != NULL) {
        rc = dkc__query_add(&path, "repo", opts->repo);
        if (rc == 0)
            rc = dkc__query_add(&path, "tag", opts->tag);
        if (rc == 0)
            rc = dkc__query_add(&path, "comment", opts->comment);
        if (rc == 0)
            rc = dkc__query_add(&path, "author", opts->author);
        if (rc == 0)
            rc = dkc__query_add(&path, "pause", opts->pause ? "1" : "0");
    }
    if (rc == 0 && libpod && opts != NULL && opts->config != NULL) {
        const char *why = NULL;
        rc = podman_changes(opts->config, &path, &why);
        if (why != NULL) {
            rc = dkc__client_fail(c, rc, 0, "commit config: %s", why);
            goto out;
        }
    }
    if (rc != 0) {
        rc = fail_build(c, rc);
        goto out;
    }
    /* Podman reads a JSON body even when it uses none */
    json_t *empty = libpod ? json_object() : NULL;
    rc = dkc__client_json(c, "POST", path.data, libpod ? empty : opts ? opts->config : NULL, &res);
    json_decref(empty);
    if (rc != 0)
        goto out;
    const char *img = json_string_value(json_object_get(res, "Id"));
    if (img == NULL || img[0] == '\0') {
        rc = dkc__client_fail(c, DKC_EPROTO, 0, "commit response carries no Id");
        goto out;
    }
    /* Podman answers the bare hex digits of what Docker calls sha256:... */
    if (strchr(img, ':') == NULL && strlen(img) == 64) {
        char full[80];
        snprintf(full, sizeof full, "sha256:%s", img);
        *image_id = strdup(full);
    } else {
        *image_id = strdup(img);
    }
    if (*image_id == NULL)
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
out:
    json_decref(res);
    dkc__buf_cleanup(&path);
    return rc;
}
