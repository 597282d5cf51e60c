/*
 * protocol_reply.c -- codes, reply JSON, result shapes and log lines.
 *
 * Everything the dispatcher says back.  The reply object is versioned, with
 * DockerMod's own fields for that dialect's requests.  Results are built
 * from the engine's raw material; one-line summaries go to stdout.  Text
 * from outside (request ids, Docker's messages, container output) is made
 * valid UTF-8 before it enters JSON, and escaped before it enters a log
 * line.  Pure: no I/O.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "text.h"

/* ------------------------------------------------------------------------
 * Codes
 * ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong */
        else if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return len;
}

json_t *proto_json_text(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    char *buf;
    size_t o = 0, i = 0;
    json_t *out;

    if (data == NULL)
        len = 0;
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    buf = malloc(len * 3 + 1);
    if (buf == NULL)
        return NULL;
    while (i < len) {
        size_t n = s[i] == '\0' ? 0 : utf8_seq(s + i, len - i);
        if (n == 0) {
            memcpy(buf + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
    }
    buf[o] = '\0';
    out = json_stringn_nocheck(buf, o);
    free(buf);
    return out;
}

/* A JSON string from a C string that may hold anything; NULL gives null. */
static json_t *text_or_null(const char *s)
{
    return s != NULL ? proto_json_text(s, strlen(s)) : json_null();
}

/* Sets key to val (stolen); on failure marks *ok false. */
static void put(json_t *obj, const char *key, json_t *val, bool *ok)
{
    if (val == NULL || json_object_set_new(obj, key, val) != 0)
        *ok = false;
}

/* ------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------ */

void proto_reply_info_init(proto_reply_info *ri, const proto_cmd *cmd, const proto_error *perr,
                           const char *node, const char *request_id)
{
    if (ri == NULL)
        return;
    memset(ri, 0, sizeof *ri);
    ri->node = node;
    ri->request_id = request_id;
    if (cmd != NULL) {
        ri->dialect = cmd->dialect;
        ri->command = proto_cmd_name(cmd);
    } else if (perr != NULL) {
        ri->dialect = perr->dialect;
        ri->command = perr->command[0] != '\0' ? perr->command : NULL;
    }
}

static json_t *reply_base(const proto_reply_info *ri, bool success)
{
    json_t *r = json_object();
    bool ok = r != NULL;

    if (!ok)
        return NULL;
    put(r, "schema", json_integer(PROTO_SCHEMA_VERSION), &ok);
    put(r, "ok", json_boolean(success), &ok);
    put(r, "node", text_or_null(ri->node), &ok);
    put(r, "command", text_or_null(ri->command), &ok);
    put(r, "request_id", text_or_null(ri->request_id), &ok);
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* DockerMod's status for a success with no Docker status given. */
static long dm_ok_status(const char *command)
{
    static const char *const no_content[] = {"start", "stop",  "restart", "remove",
                                             "kill",  "pause", "unpause", "rename"};
    if (command == NULL)
        return 200;
    if (strcmp(command, "create") == 0 || strcmp(command, "run") == 0)
        return 201;
    for (size_t i = 0; i < sizeof no_content / sizeof no_content[0]; i++) {
        if (strcmp(command, no_content[i]) == 0)
            return 204;
    }
    return 200;
}

/* {"Body":{"message":msg}} */
static json_t *dm_error_body(const char *message)
{
    json_t *m = text_or_null(message != NULL ? message : "");
    if (m == NULL)
        return NULL;
    return json_pack("{s:{s:o}}", "Body", "message", m);
}

/* One piece of a bulk create in DockerMod's shape. */
static json_t *dm_piece(const json_t *piece)
{
    json_t *out = json_object(), *err = json_object_get(piece, "error");
    const char *node = json_string_value(json_object_get(piece, "node"));
    bool ok = out != NULL;
    bool success = json_is_true(json_object_get(piece, "ok"));
    long status;

    if (!ok)
        return NULL;
    if (success) {
        json_t *id = json_object_get(piece, "id"), *warn = json_object_get(piece, "warnings");
        status = 201;
        put(out, "Response", json_pack("{s:{s:O?,s:O?}}", "Body", "Id", id, "Warnings", warn), &ok);
    } else {
        json_int_t hs = json_integer_value(json_object_get(err, "http_status"));
        status = hs > 0 ? (long)hs
                        : proto_code_http_status(proto_code_from_name(
                              json_string_value(json_object_get(err, "code"))));
        put(out, "Response", dm_error_body(json_string_value(json_object_get(err, "message"))),
            &ok);
    }
    put(out, "dockerInstance", json_string(node != NULL ? node : ""), &ok);
    put(out, "statusCode", json_integer(status), &ok);
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* DockerMod's "Response" for a success.  It is "" without a result, as
 * its 204 answers were.  A single create gives Docker's {"Id","Warnings"}
 * (ours says {"id","name","warnings"}); anything else {"Body": result}. */
static json_t *dm_response(const char *command, json_t *result)
{
    json_t *id = json_object_get(result, "id");

    if (result == NULL || json_is_null(result))
        return json_string("");
    if (command != NULL && strcmp(command, "create") == 0 && json_is_string(id))
        return json_pack("{s:{s:O,s:O?}}", "Body", "Id", id, "Warnings",
                         json_object_get(result, "warnings"));
    return json_pack("{s:O}", "Body", result);
}

/* Adds DockerMod's fields to a reply.  Returns false when out of memory. */
static bool dm_compat(json_t *r, const proto_reply_info *ri, long status, json_t *response)
{
    bool ok = true;
    json_t *node = text_or_null(ri->node != NULL ? ri->node : "");

    put(r, "statusCode", json_integer(status), &ok);
    put(r, "dockerInstance", node, &ok);
    put(r, "Response", response, &ok);
    return ok;
}

json_t *proto_reply_ok(const proto_reply_info *ri, json_t *result)
{
    json_t *r;
    bool ok = true;

    if (ri == NULL)
        return NULL;
    r = reply_base(ri, true);
    if (r == NULL)
        return NULL;
    put(r, "result", result != NULL ? json_incref(result) : json_null(), &ok);
    if (ok && ri->dialect == PROTO_DIALECT_DOCKERMOD) {
        long status = ri->http_status > 0 ? ri->http_status : dm_ok_status(ri->command);
        json_t *resp = dm_response(ri->command, result);
        json_t *pieces = json_object_get(result, "containers");
        ok = dm_compat(r, ri, status, resp);
        if (ok && json_is_array(pieces) && ri->command != NULL &&
            strcmp(ri->command, "create") == 0) {
            json_t *list = json_array(), *p;
            size_t i;
            ok = list != NULL;
            json_array_foreach(pieces, i, p)
            {
                if (ok && json_array_append_new(list, dm_piece(p)) != 0)
                    ok = false;
            }
            put(r, "containers", list, &ok);
        }
    }
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *proto_reply_error(const proto_reply_info *ri, int code, const char *message,
                          const char *field, long http_status)
{
    json_t *r, *e;
    bool ok = true;

    if (ri == NULL)
        return NULL;
    if (code >= 0 || code < PROTO_CODE_MIN)
        code = PROTO_EINTERNAL;
    r = reply_base(ri, false);
    if (r == NULL)
        return NULL;
    e = json_object();
    put(r, "error", e, &ok);
    if (ok) {
        put(e, "code", json_string(proto_code_name(code)), &ok);
        put(e, "message", text_or_null(message != NULL ? message : proto_code_name(code)), &ok);
        put(e, "field", field != NULL && field[0] != '\0' ? text_or_null(field) : json_null(), &ok);
        put(e, "http_status", http_status > 0 ? json_integer(http_status) : json_null(), &ok);
    }
    if (ok && ri->dialect == PROTO_DIALECT_DOCKERMOD) {
        long status = http_status > 0 ? http_status : proto_code_http_status(code);
        ok = dm_compat(r, ri, status, dm_error_body(message));
    }
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *proto_reply_parse_error(const proto_reply_info *ri, const proto_error *err)
{
    if (err == NULL)
        return proto_reply_error(ri, PROTO_EINTERNAL, NULL, NULL, 0);
    return proto_reply_error(ri, err->code, err->message, err->field, 0);
}

char *proto_reply_dumps(const json_t *reply)
{
    if (reply == NULL)
        return NULL;
    return json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

json_t *proto_reply_too_large(const json_t *reply, size_t size, size_t max, const char *limit)
{
    char msg[160];
    proto_reply_info ri;
    bool ok = true;

    if (reply == NULL)
        return NULL;
    memset(&ri, 0, sizeof ri);
    ri.node = json_string_value(json_object_get(reply, "node"));
    ri.command = json_string_value(json_object_get(reply, "command"));
    ri.request_id = json_string_value(json_object_get(reply, "request_id"));
    /* only replies to DockerMod's dialect carry its status field */
    ri.dialect = json_object_get(reply, "statusCode") != NULL ? PROTO_DIALECT_DOCKERMOD
                                                              : PROTO_DIALECT_DISPATCH;
    if (limit == NULL)
        limit = "max_reply";
    if (max > 0)
        snprintf(msg, sizeof msg,
                 "the reply is %zu bytes, more than %s (%zu bytes) allows: it was "
                 "not sent",
                 size, limit, max);
    else
        snprintf(msg, sizeof msg, "the reply is %zu bytes, more than %s allows: it was not sent",
                 size, limit);
    json_t *r = proto_reply_error(&ri, PROTO_ETOOLARGE, msg, NULL, 0);
    json_t *e = json_object_get(r, "error");
    if (r == NULL || e == NULL) {
        json_decref(r);
        return NULL;
    }
    put(e, "size", json_integer((json_int_t)size), &ok);
    put(e, "max", max > 0 ? json_integer((json_int_t)max) : json_null(), &ok);
    json_t *res = json_object_get(reply, "result");
    json_t *container = json_object_get(res, "container");
    json_t *pieces = json_object_get(res, "containers"), *p;
    if (ri.command != NULL && strcmp(ri.command, "run") == 0 && json_is_object(container))
        put(e, "container", json_deep_copy(container), &ok);
    if (ok && json_is_array(pieces) && json_is_integer(json_object_get(res, "requested"))) {
        /* a bulk request: its containers exist, so say which, without
         * their results */
        json_t *list = json_array();
        size_t i;
        ok = list != NULL;
        json_array_foreach(pieces, i, p)
        {
            json_t *one = json_pack("{s:O?,s:O?,s:O?,s:O?}", "node", json_object_get(p, "node"),
                                    "ok", json_object_get(p, "ok"), "id", json_object_get(p, "id"),
                                    "name", json_object_get(p, "name"));
            if (one == NULL || json_array_append_new(list, one) != 0)
                ok = false;
        }
        put(e, "containers", list, &ok);
    }
    if (!ok) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

static void put_output(json_t *o, const proto_run_result *r, bool *ok)
{
    put(o, "stdout", r->captured ? proto_json_text(r->out, r->out_len) : json_null(), ok);
    put(o, "stderr", r->captured ? proto_json_text(r->err, r->err_len) : json_null(), ok);
    put(o, "truncated", json_boolean(r->truncated), ok);
}

static json_t *finish(json_t *o, bool ok)
{
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *proto_result_run(const proto_run_result *r)
{
    json_t *o;
    bool ok = true;

    if (r == NULL || (o = json_object()) == NULL)
        return NULL;
    put(o, "container",
        json_pack("{s:o,s:o}", "id", text_or_null(r->container_id), "name",
                  text_or_null(r->container_name)),
        &ok);
    put(o, "exit_code", r->waited ? json_integer(r->exit_code) : json_null(), &ok);
    put_output(o, r, &ok);
    put(o, "timed_out", json_boolean(r->timed_out), &ok);
    put(o, "removed", json_boolean(r->removed), &ok);
    if (r->started_at != NULL)
        put(o, "started_at", text_or_null(r->started_at), &ok);
    if (r->finished_at != NULL)
        put(o, "finished_at", text_or_null(r->finished_at), &ok);
    if (r->error != NULL)
        put(o, "error", text_or_null(r->error), &ok);
    if (r->warnings != NULL)
        put(o, "warnings", json_incref(r->warnings), &ok);
    return finish(o, ok);
}

json_t *proto_result_exec(const proto_run_result *r)
{
    json_t *o;
    bool ok = true;

    if (r == NULL || (o = json_object()) == NULL)
        return NULL;
    put(o, "exit_code", r->waited ? json_integer(r->exit_code) : json_null(), &ok);
    put_output(o, r, &ok);
    put(o, "timed_out", json_boolean(r->timed_out), &ok);
    return finish(o, ok);
}

json_t *proto_result_logs(const proto_run_result *r)
{
    json_t *o;
    bool ok = true;

    if (r == NULL || (o = json_object()) == NULL)
        return NULL;
    put_output(o, r, &ok);
    return finish(o, ok);
}

/* ------------------------------------------------------------------------
 * Summaries
 * ------------------------------------------------------------------------ */

#define SUM_VALUE_MAX 64  /* source bytes of one value in a log line */
#define SUM_MSG_MAX   160 /* of a message */

typedef struct line {
    char *buf;
    size_t len, o;
} line;

static void line_add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line_add(line *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (l->o + 1 >= l->len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->o, l->len - l->o, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->o += (size_t)n;
    if (l->o >= l->len)
        l->o = l->len - 1;
}

/* Adds " key=value" with value escaped; nothing when value is NULL. */
static void line_kv(line *l, const char *key, const char *value, size_t max)
{
    char esc[4 * SUM_MSG_MAX + 16];

    if (value == NULL)
        return;
    text_token(esc, sizeof esc, value, strlen(value), max);
    line_add(l, " %s=%s", key, esc);
}

/* Docker's 64-hex ids are shown short, as docker ps does. */
static const char *short_id(const char *id, char *buf, size_t len)
{
    size_t n;
    if (id == NULL)
        return NULL;
    n = strlen(id);
    if (n != 64 || strspn(id, "0123456789abcdef") != 64)
        return id;
    snprintf(buf, len, "%.12s", id);
    return buf;
}

size_t proto_summary_request(const proto_cmd *cmd, const char *request_id, char *buf, size_t len)
{
    line l = {buf, len, 0};
    char sid[16];

    if (buf == NULL || len == 0)
        return 0;
    buf[0] = '\0';
    line_add(&l, "request");
    line_kv(&l, "id", request_id != NULL ? request_id : "-", SUM_VALUE_MAX);
    if (cmd == NULL) {
        line_add(&l, " cmd=-");
        return l.o;
    }
    line_add(&l, " dialect=%s cmd=%s", proto_dialect_name(cmd->dialect), proto_cmd_name(cmd));
    if (cmd->verb != NULL && strcmp(cmd->verb, proto_cmd_name(cmd)) != 0)
        line_kv(&l, "verb", cmd->verb, SUM_VALUE_MAX);
    line_kv(&l, "container", short_id(cmd->container, sid, sizeof sid), SUM_VALUE_MAX);
    line_kv(&l, "image", cmd->image, SUM_VALUE_MAX);
    line_kv(&l, "name", cmd->name, SUM_VALUE_MAX);
    line_kv(&l, "new_name", cmd->new_name, SUM_VALUE_MAX);
    line_kv(&l, "volume", cmd->volume, SUM_VALUE_MAX);
    line_kv(&l, "template", cmd->template_name, SUM_VALUE_MAX);
    line_kv(&l, "hostname", cmd->hostname, SUM_VALUE_MAX);
    if (cmd->instances > 0)
        line_add(&l, " instances=%d", cmd->instances);
    if (cmd->raw_body)
        line_add(&l, " raw");
    return l.o;
}

/* Adds key: the first max bytes of s as a JSON string, if s is set. */
static void put_trunc(json_t *o, const char *key, const char *s, size_t max, bool *ok)
{
    size_t n;
    if (s == NULL)
        return;
    n = strlen(s);
    put(o, key, proto_json_text(s, n < max ? n : max), ok);
}

json_t *proto_summary_request_json(const proto_cmd *cmd, const char *request_id)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!ok)
        return NULL;
    put(o, "event", json_string("request"), &ok);
    put_trunc(o, "id", request_id, SUM_VALUE_MAX, &ok);
    if (cmd != NULL) {
        put(o, "dialect", json_string(proto_dialect_name(cmd->dialect)), &ok);
        put(o, "cmd", json_string(proto_cmd_name(cmd)), &ok);
        if (cmd->verb != NULL && strcmp(cmd->verb, proto_cmd_name(cmd)) != 0)
            put(o, "verb", json_string(cmd->verb), &ok);
        put_trunc(o, "container", cmd->container, SUM_VALUE_MAX, &ok);
        put_trunc(o, "image", cmd->image, SUM_VALUE_MAX, &ok);
        put_trunc(o, "name", cmd->name, SUM_VALUE_MAX, &ok);
        put_trunc(o, "new_name", cmd->new_name, SUM_VALUE_MAX, &ok);
        put_trunc(o, "volume", cmd->volume, SUM_VALUE_MAX, &ok);
        put_trunc(o, "template", cmd->template_name, SUM_VALUE_MAX, &ok);
        put_trunc(o, "hostname", cmd->hostname, SUM_VALUE_MAX, &ok);
        if (cmd->instances > 0)
            put(o, "instances", json_integer(cmd->instances), &ok);
    } else {
        put(o, "cmd", json_null(), &ok);
    }
    return finish(o, ok);
}

/* The container a result names: result.container.id, else result.id. */
static const char *result_container(const json_t *result)
{
    const char *id = json_string_value(json_object_get(json_object_get(result, "container"), "id"));
    if (id == NULL)
        id = json_string_value(json_object_get(result, "id"));
    return id;
}

size_t proto_summary_reply(const json_t *reply, int64_t duration_ms, char *buf, size_t len)
{
    line l = {buf, len, 0};
    const json_t *result = json_object_get(reply, "result");
    const json_t *err = json_object_get(reply, "error");
    const json_t *exit_code = json_object_get(result, "exit_code");
    const char *id = json_string_value(json_object_get(reply, "request_id"));
    char sid[16];

    if (buf == NULL || len == 0)
        return 0;
    buf[0] = '\0';
    line_add(&l, "reply");
    line_kv(&l, "id", id != NULL ? id : "-", SUM_VALUE_MAX);
    line_kv(&l, "cmd", json_string_value(json_object_get(reply, "command")), SUM_VALUE_MAX);
    line_kv(&l, "node", json_string_value(json_object_get(reply, "node")), SUM_VALUE_MAX);
    if (json_is_true(json_object_get(reply, "ok"))) {
        line_add(&l, " ok");
        if (json_is_integer(exit_code))
            line_add(&l, " exit=%" JSON_INTEGER_FORMAT, json_integer_value(exit_code));
        line_kv(&l, "container", short_id(result_container(result), sid, sizeof sid),
                SUM_VALUE_MAX);
        if (json_is_true(json_object_get(result, "timed_out")))
            line_add(&l, " timed_out");
        if (json_is_true(json_object_get(result, "truncated")))
            line_add(&l, " truncated");
        if (json_is_true(json_object_get(result, "removed")))
            line_add(&l, " removed");
    } else {
        const json_t *hs = json_object_get(err, "http_status");
        const char *code = json_string_value(json_object_get(err, "code"));
        line_kv(&l, "error", code != NULL ? code : "internal", SUM_VALUE_MAX);
        if (json_is_integer(hs))
            line_add(&l, " status=%" JSON_INTEGER_FORMAT, json_integer_value(hs));
        line_kv(&l, "field", json_string_value(json_object_get(err, "field")), SUM_VALUE_MAX);
        line_kv(&l, "msg", json_string_value(json_object_get(err, "message")), SUM_MSG_MAX);
    }
    if (duration_ms >= 0)
        line_add(&l, " %" PRId64 ".%03ds", duration_ms / 1000, (int)(duration_ms % 1000));
    return l.o;
}

json_t *proto_summary_reply_json(const json_t *reply, int64_t duration_ms)
{
    const json_t *result = json_object_get(reply, "result");
    const json_t *err = json_object_get(reply, "error");
    json_t *o = json_object(), *v;
    bool ok = o != NULL, success = json_is_true(json_object_get(reply, "ok"));

    if (!ok)
        return NULL;
    put(o, "event", json_string("reply"), &ok);
    put_trunc(o, "id", json_string_value(json_object_get(reply, "request_id")), SUM_VALUE_MAX, &ok);
    put_trunc(o, "cmd", json_string_value(json_object_get(reply, "command")), SUM_VALUE_MAX, &ok);
    put_trunc(o, "node", json_string_value(json_object_get(reply, "node")), SUM_VALUE_MAX, &ok);
    put(o, "ok", json_boolean(success), &ok);
    if (success) {
        if (json_is_integer(v = json_object_get(result, "exit_code")))
            put(o, "exit_code", json_incref(v), &ok);
        put_trunc(o, "container", result_container(result), SUM_VALUE_MAX, &ok);
        if (json_is_true(json_object_get(result, "timed_out")))
            put(o, "timed_out", json_true(), &ok);
        if (json_is_true(json_object_get(result, "truncated")))
            put(o, "truncated", json_true(), &ok);
    } else {
        put_trunc(o, "error", json_string_value(json_object_get(err, "code")), SUM_VALUE_MAX, &ok);
        if (json_is_integer(v = json_object_get(err, "http_status")))
            put(o, "http_status", json_incref(v), &ok);
        put_trunc(o, "field", json_string_value(json_object_get(err, "field")), SUM_VALUE_MAX, &ok);
        put_trunc(o, "message", json_string_value(json_object_get(err, "message")), SUM_MSG_MAX,
                  &ok);
    }
    if (duration_ms >= 0)
        put(o, "duration_ms", json_integer(duration_ms), &ok);
    return finish(o, ok);
}

char *proto_summary_dumps(const json_t *line_obj)
{
    char *text, *out;
    size_t n, dels = 0, o = 0;

    if (line_obj == NULL)
        return NULL;
    text = json_dumps(line_obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return NULL;
    /* JSON lets DEL through unescaped; a log line should not.  It can only
     * sit inside a string here, where \u007f means the same. */
    n = strlen(text);
    for (size_t i = 0; i < n; i++)
        dels += text[i] == 0x7f;
    if (dels == 0)
        return text;
    out = malloc(n + dels * 5 + 1);
    if (out != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (text[i] == 0x7f) {
                memcpy(out + o, "\\u007f", 6);
                o += 6;
            } else {
                out[o++] = text[i];
            }
        }
        out[o] = '\0';
    }
    free(text);
    return out;
}
