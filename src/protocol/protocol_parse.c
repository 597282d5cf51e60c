/*
 * protocol_parse.c -- a queued JSON message in, a validated proto_cmd out.
 *
 * First the size cap, a nesting pre-scan, jansson, and the dialect and
 * command.  Then each key in document order: is it known, does the command
 * take it, is its value valid.  Last come the required fields, the generic
 * slots and the mapper.  The first problem found is reported.  Pure: no
 * I/O, no global state.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "protocol_internal.h"
#include "text.h"

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* snprintf into a fixed buffer where cutting the text short is intended
 * (error paths and messages are bounded on purpose). */
void proto__bfmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

void proto_limits_init(proto_limits *lim)
{
    if (lim == NULL)
        return;
    lim->max_body = PROTO_DEFAULT_MAX_BODY;
    lim->max_depth = PROTO_DEFAULT_MAX_DEPTH;
    lim->default_output = PROTO_DEFAULT_OUTPUT_LIMIT;
    lim->max_output = PROTO_DEFAULT_MAX_OUTPUT;
}

void proto_error_clear(proto_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof *err);
    err->code = PROTO_OK;
    err->code_name = proto_code_name(PROTO_OK);
}

void proto__strv_free(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

void proto_cmd_free(proto_cmd *cmd)
{
    if (cmd == NULL)
        return;
    free(cmd->container);
    free(cmd->image);
    free(cmd->name);
    json_decref(cmd->create_body);
    free(cmd->signal);
    free(cmd->new_name);
    json_decref(cmd->filters);
    free(cmd->ps_args);
    proto__strv_free(cmd->exec_argv);
    proto__strv_free(cmd->exec_env);
    free(cmd->exec_user);
    free(cmd->exec_workdir);
    free(cmd->condition);
    free(cmd->tag);
    free(cmd->repo);
    free(cmd->volume);
    free(cmd->driver);
    json_decref(cmd->labels);
    free(cmd->template_name);
    free(cmd->hostname);
    free(cmd->path);
    free(cmd->archive);
    free(cmd->network);
    free(cmd->placement);
    json_decref(cmd->params);
    free(cmd);
}

int proto__ascii_ieq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    }
    return *a == *b;
}

/* Quotes and escapes an untrusted string for a message (short). */
const char *proto__quote(char *buf, size_t len, const char *s)
{
    char tmp[96];
    size_t n = strlen(s);
    /* Always quoted, so the reader sees where the value starts and ends. */
    text_token(tmp, sizeof tmp, s, n, 40);
    if (tmp[0] == '"')
        proto__bfmt(buf, len, "%s", tmp);
    else
        proto__bfmt(buf, len, "\"%s\"", tmp);
    return buf;
}

/* Short description of a JSON value for messages: strings quoted and
 * escaped, numbers as written, containers by kind. */
const char *proto__describe(char *buf, size_t len, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return proto__quote(buf, len, json_string_value(v));
    case JSON_INTEGER:
        proto__bfmt(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        proto__bfmt(buf, len, "%.17g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    }
    return "a value";
}

/* Records the failure in c->err and returns code.  fmt must not contain
 * untrusted text except through proto__quote() / proto__describe(). */
int proto__fail(parse_ctx *c, int code, const char *field, const char *fmt, ...)
{
    proto_error *e = c->err;
    char reason[PROTO_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    e->code = code;
    e->code_name = proto_code_name(code);
    proto__bfmt(e->field, sizeof e->field, "%s", field != NULL ? field : "");
    if (field != NULL && field[0] != '\0')
        proto__bfmt(e->message, sizeof e->message, "%s: %s", field, reason);
    else
        proto__bfmt(e->message, sizeof e->message, "%s", reason);
    return code;
}

int proto__oom(parse_ctx *c)
{
    return proto__fail(c, PROTO_EINTERNAL, NULL, "out of memory");
}

/* The path of a field as errors name it: "Image", "Options.Time", "id". */
void proto__field_path(const field_spec *f, char *buf, size_t len)
{
    if (f->loc == LOC_OPTIONS)
        proto__bfmt(buf, len, "Options.%s", f->name);
    else
        proto__bfmt(buf, len, "%s", f->name);
}

/* parent + "." + an untrusted key, escaped and truncated. */
void proto__key_path(char *buf, size_t len, const char *parent, const char *key)
{
    char ek[64];
    text_token(ek, sizeof ek, key, strlen(key), 40);
    if (parent == NULL || parent[0] == '\0')
        proto__bfmt(buf, len, "%s", ek);
    else
        proto__bfmt(buf, len, "%s.%s", parent, ek);
}

/* ------------------------------------------------------------------------
 * Generic slots
 * ------------------------------------------------------------------------ */

/* Copies every given field with a generic slot into c->cmd (strings are
 * duplicated, JSON deep-copied: the command owns them).  Returns 0 or an
 * out-of-memory failure. */
static int store_fields(parse_ctx *c)
{
    char *base = (char *)c->cmd;

    for (int fid = 1; fid < F__COUNT; fid++) {
        const field_spec *f = &proto__field_specs[fid];
        json_t *v = c->val[fid];
        int64_t x = 0;
        if (v == NULL || f->store == S_NONE)
            continue;
        switch (f->store) {
        case S_STR: {
            char **slot = (char **)(base + f->off);
            free(*slot);
            *slot = strdup(json_string_value(v));
            if (*slot == NULL)
                return proto__oom(c);
            break;
        }
        case S_BOOL:
            *(bool *)(base + f->off) = json_is_true(v);
            break;
        case S_INT:
            proto__get_int(v, &x);
            *(int *)(base + f->off) = (int)x;
            break;
        case S_I64:
            proto__get_int(v, &x);
            *(int64_t *)(base + f->off) = x;
            break;
        case S_TIME:
            proto__get_int(v, &x);
            *(int *)(base + f->off) = (int)x;
            c->cmd->has_time = true;
            break;
        case S_JSON: {
            json_t **slot = (json_t **)(base + f->off);
            json_decref(*slot);
            *slot = json_deep_copy(v);
            if (*slot == NULL)
                return proto__oom(c);
            break;
        }
        default:
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The message
 * ------------------------------------------------------------------------ */

/* Deepest nesting of [] / {} in raw JSON text, counted outside strings;
 * stops counting past limit.  Keeps hostile nesting away from the parser. */
static int nesting_depth(const char *s, size_t n, int limit)
{
    int depth = 0, max = 0, in_str = 0;

    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return max;
            }
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return max;
}

/* Takes one key of our schema: known, accepted by the command, valid. */
static int take_key(parse_ctx *c, field_loc loc, const char *parent, const char *key, json_t *v)
{
    char p[PROTO_FIELD_MAX], name[64];
    int fid = 0;
    const field_spec *f = proto__find_field(c->spec->dialect, loc, key, &fid);

    if (f == NULL) {
        proto__key_path(p, sizeof p, parent, key);
        return proto__fail(c, PROTO_EBADREQUEST, p, "unknown field");
    }
    proto__field_path(f, p, sizeof p);
    if (!proto__spec_accepts(c->spec, fid, NULL)) {
        proto__quote(name, sizeof name, c->spec->name);
        return proto__fail(c, PROTO_EBADREQUEST, p, "not accepted by %s", name);
    }
    if (json_is_null(v))
        return 0; /* null is "not given", as with the Go decoder */
    c->val[fid] = v;
    return proto__check_value(c, fid, p, v);
}

/* Takes the keys of the docker-dispatch "Options" object. */
static int parse_options(parse_ctx *c, json_t *opts)
{
    const char *key;
    json_t *v;
    char d[96];
    int rc;

    if (json_is_null(opts))
        return 0;
    if (!json_is_object(opts))
        return proto__fail(c, PROTO_EBADREQUEST, "Options", "must be an object, got %s",
                           proto__describe(d, sizeof d, opts));
    rc = proto__check_ci_duplicates(c, opts, "Options");
    if (rc != 0)
        return rc;
    json_object_foreach(opts, key, v)
    {
        rc = take_key(c, LOC_OPTIONS, "Options", key, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The message object: dialect, command, every key in document order,
 * required fields, then a new c->cmd filled by the generic slots and the
 * command's mapper.  On failure c->cmd may hold a partial command, which
 * the caller frees. */
static int parse_root(parse_ctx *c, json_t *root)
{
    const char *key, *cmd_key = NULL, *cmd_field = NULL;
    json_t *v, *cmd_val = NULL;
    proto_dialect dialect = PROTO_DIALECT_NONE;
    char d[96];
    int rc;

    rc = proto__check_ci_duplicates(c, root, "");
    if (rc != 0)
        return rc;

    /* The dialect is told by its command key. */
    json_object_foreach(root, key, v)
    {
        proto_dialect kd = PROTO_DIALECT_NONE;
        if (proto__ascii_ieq(key, "Dockercmd"))
            kd = PROTO_DIALECT_DISPATCH;
        else if (proto__ascii_ieq(key, "action"))
            kd = PROTO_DIALECT_DOCKERMOD;
        if (kd == PROTO_DIALECT_NONE)
            continue;
        if (dialect != PROTO_DIALECT_NONE)
            return proto__fail(c, PROTO_EBADREQUEST, "action",
                               "a message has either Dockercmd (docker-dispatch) or action "
                               "(DockerMod), not both");
        dialect = kd;
        cmd_key = key;
        cmd_val = v;
    }
    if (dialect == PROTO_DIALECT_NONE)
        return proto__fail(c, PROTO_EBADREQUEST, "Dockercmd",
                           "missing: a message names its command in \"Dockercmd\" "
                           "(or \"action\" for DockerMod)");
    c->err->dialect = dialect;
    cmd_field = dialect == PROTO_DIALECT_DISPATCH ? "Dockercmd" : "action";
    if (!json_is_string(cmd_val))
        return proto__fail(c, PROTO_EBADREQUEST, cmd_field, "must be a string, got %s",
                           proto__describe(d, sizeof d, cmd_val));
    c->spec = proto__find_command(dialect, json_string_value(cmd_val));
    if (c->spec == NULL)
        return proto__fail(c, PROTO_EUNKNOWNCMD, cmd_field, "unknown command %s",
                           proto__quote(d, sizeof d, json_string_value(cmd_val)));
    proto__bfmt(c->err->command, sizeof c->err->command, "%s", proto_kind_name(c->spec->kind));

    json_object_foreach(root, key, v)
    {
        if (key == cmd_key)
            continue;
        if (dialect == PROTO_DIALECT_DISPATCH && proto__ascii_ieq(key, "Options"))
            rc = parse_options(c, v);
        else
            rc = take_key(c, LOC_TOP, "", key, v);
        if (rc != 0)
            return rc;
    }

    for (int i = 0; i < FIELD_MAX && c->spec->fields[i] != 0; i++) {
        int fid = c->spec->fields[i] & ~REQ;
        if ((c->spec->fields[i] & REQ) && c->val[fid] == NULL) {
            char p[PROTO_FIELD_MAX], name[64];
            proto__field_path(&proto__field_specs[fid], p, sizeof p);
            return proto__fail(c, PROTO_EBADREQUEST, p, "required by %s",
                               proto__quote(name, sizeof name, c->spec->name));
        }
    }

    c->cmd = calloc(1, sizeof *c->cmd);
    if (c->cmd == NULL)
        return proto__oom(c);
    c->cmd->dialect = dialect;
    c->cmd->kind = c->spec->kind;
    c->cmd->verb = c->spec->name;
    c->cmd->logs_tail = -1;
    if (proto__spec_accepts(c->spec, F_OUTPUTLIMIT, NULL))
        c->cmd->output_limit = c->lim.default_output;
    rc = store_fields(c);
    if (rc == 0 && c->spec->map != NULL)
        rc = c->spec->map(c);
    return rc;
}

int proto_parse(const char *body, size_t len, const proto_limits *lim, proto_cmd **out,
                proto_error *err)
{
    proto_error scratch;
    parse_ctx c;
    json_t *root = NULL;
    json_error_t jerr;
    char d[96];
    int rc, depth;

    memset(&c, 0, sizeof c);
    c.err = err != NULL ? err : &scratch;
    proto_error_clear(c.err);
    proto_limits_init(&c.lim);
    if (lim != NULL) {
        if (lim->max_body > 0)
            c.lim.max_body = lim->max_body;
        if (lim->max_depth > 0)
            c.lim.max_depth = lim->max_depth;
        if (lim->default_output > 0)
            c.lim.default_output = lim->default_output;
        if (lim->max_output > 0)
            c.lim.max_output = lim->max_output;
    }
    if (c.lim.max_depth > JSON_PARSER_MAX_DEPTH)
        c.lim.max_depth = JSON_PARSER_MAX_DEPTH;
    if (c.lim.default_output > c.lim.max_output)
        c.lim.default_output = c.lim.max_output;
    if (out == NULL)
        return proto__fail(&c, PROTO_EINTERNAL, NULL, "no place for the result");
    *out = NULL;
    if (body == NULL)
        len = 0;

    if (len > c.lim.max_body)
        return proto__fail(&c, PROTO_ETOOLARGE, NULL, "message is %zu bytes, the limit is %zu", len,
                           c.lim.max_body);
    if (len == 0)
        return proto__fail(&c, PROTO_EBADREQUEST, NULL, "empty message");
    depth = nesting_depth(body, len, c.lim.max_depth);
    if (depth > c.lim.max_depth)
        return proto__fail(&c, PROTO_EBADREQUEST, NULL, "JSON nested deeper than %d levels",
                           c.lim.max_depth);

    root = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return proto__fail(&c, PROTO_EINTERNAL, NULL, "out of memory");
        text_token(d, sizeof d, jerr.text, strlen(jerr.text), 80);
        return proto__fail(&c, PROTO_EBADREQUEST, NULL, "invalid JSON at line %d column %d: %s",
                           jerr.line, jerr.column, d);
    }
    if (!json_is_object(root)) {
        rc = proto__fail(&c, PROTO_EBADREQUEST, NULL, "message must be a JSON object, got %s",
                         proto__describe(d, sizeof d, root));
        goto out;
    }
    rc = parse_root(&c, root);
    if (rc == 0) {
        *out = c.cmd;
        c.cmd = NULL;
    }
out:
    proto_cmd_free(c.cmd);
    json_decref(root);
    return rc;
}
