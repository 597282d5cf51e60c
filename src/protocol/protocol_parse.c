/*
 * protocol_parse.c -- a queued JSON message in, a validated proto_cmd out.
 *
 * Parsing goes: size cap, nesting pre-scan, jansson, dialect and command
 * lookup, then every key in document order (unknown key, key the command does
 * not take, value check), required fields, generic slots, the mapper.  The
 * first problem found is reported.  Pure: no I/O, no global state.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

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
 * Mappers
 * ------------------------------------------------------------------------ */

/* The first present value among two fields (one per dialect). */
static json_t *either(parse_ctx *c, int a, int b)
{
    return c->val[a] != NULL ? c->val[a] : c->val[b];
}

/* An Env value (array or object, checked) as a new array of "K=V". */
static json_t *env_array(const json_t *v)
{
    json_t *out;

    if (json_is_array(v))
        return json_deep_copy(v);
    out = json_array();
    if (out == NULL)
        return NULL;
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)v, k, e)
    {
        size_t kn = strlen(k), vn = json_string_length(e);
        char *s = malloc(kn + vn + 2);
        if (s == NULL)
            goto fail;
        memcpy(s, k, kn);
        s[kn] = '=';
        memcpy(s + kn + 1, json_string_value(e), vn + 1);
        if (json_array_append_new(out, json_string(s)) != 0) {
            free(s);
            goto fail;
        }
        free(s);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* A checked array of strings as a NULL-terminated list (proto__strv_free()). */
static char **strv_from(const json_t *arr)
{
    size_t n = json_array_size(arr);
    char **v = calloc(n + 1, sizeof *v);

    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i] = strdup(json_string_value(json_array_get(arr, i)));
        if (v[i] == NULL) {
            proto__strv_free(v);
            return NULL;
        }
    }
    return v;
}

/* Sets key in hc unless the HostConfig passthrough already spells it (in
 * any case): then both say it, and neither silently wins.  Steals val. */
static int hc_set(parse_ctx *c, json_t *hc, const char *key, int fid, json_t *val)
{
    char p[PROTO_FIELD_MAX], fp[PROTO_FIELD_MAX];

    if (val == NULL)
        return proto__oom(c);
    if (proto_json_get_ci(hc, key) != NULL) {
        json_decref(val);
        proto__field_path(&proto__field_specs[fid], fp, sizeof fp);
        proto__bfmt(p, sizeof p, "Options.HostConfig.%s", key);
        return proto__fail(c, PROTO_EBADREQUEST, p, "also set by %s; give it once", fp);
    }
    if (json_object_set_new(hc, key, val) != 0)
        return proto__oom(c);
    return 0;
}

static int body_set(parse_ctx *c, json_t *body, const char *key, json_t *val)
{
    if (val == NULL || json_object_set_new(body, key, val) != 0)
        return proto__oom(c);
    return 0;
}

/* Sets the container config fields present (both dialects) in body:
 * image, command, entrypoint, environment, labels, working directory,
 * user, tty, host name, attach flags.  0, or the error set in c (values
 * are copied, body stays the caller's). */
static int set_config_fields(parse_ctx *c, json_t *body)
{
    json_t *v;
    int rc = 0;

    if (c->cmd->image != NULL && (rc = body_set(c, body, "Image", json_string(c->cmd->image))))
        return rc;
    if ((v = either(c, F_CMD, F_DM_CMD)) != NULL &&
        (rc = body_set(c, body, "Cmd", json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_ENTRYPOINT]) != NULL) {
        json_t *ep = json_is_string(v) ? json_pack("[O]", v) : json_deep_copy(v);
        if ((rc = body_set(c, body, "Entrypoint", ep)))
            return rc;
    }
    if ((v = either(c, F_ENV, F_DM_ENV)) != NULL && (rc = body_set(c, body, "Env", env_array(v))))
        return rc;
    if ((v = c->val[F_LABELS]) != NULL && (rc = body_set(c, body, "Labels", json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_WORKINGDIR]) != NULL &&
        (rc = body_set(c, body, "WorkingDir", json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_USER]) != NULL && (rc = body_set(c, body, "User", json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_TTY]) != NULL && (rc = body_set(c, body, "Tty", json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_HOSTNAME]) != NULL && (rc = body_set(c, body, "Hostname", json_deep_copy(v))))
        return rc;
    if (c->cmd->attach_stdin && (rc = body_set(c, body, "AttachStdin", json_true())))
        return rc;
    if (c->cmd->attach_stdout && (rc = body_set(c, body, "AttachStdout", json_true())))
        return rc;
    if (c->cmd->attach_stderr && (rc = body_set(c, body, "AttachStderr", json_true())))
        return rc;
    return 0;
}

/* Sets the host config fields present in hc (the HostConfig being built):
 * memory, CPUs, pids limit, network mode, binds, restart policy.  0, or the
 * error set in c, also when the HostConfig passthrough spells one of them
 * (hc_set()). */
static int set_host_fields(parse_ctx *c, json_t *hc)
{
    json_t *v;
    int rc = 0;

    if ((v = c->val[F_MEMORY]) != NULL) {
        int64_t x = 0;
        proto__get_int(v, &x);
        if ((rc = hc_set(c, hc, "Memory", F_MEMORY, json_integer(x))))
            return rc;
    }
    if ((v = c->val[F_CPUS]) != NULL &&
        (rc = hc_set(c, hc, "NanoCpus", F_CPUS, json_integer(llround(json_number_value(v) * 1e9)))))
        return rc;
    if ((v = c->val[F_PIDSLIMIT]) != NULL) {
        int64_t x = 0;
        proto__get_int(v, &x);
        if ((rc = hc_set(c, hc, "PidsLimit", F_PIDSLIMIT, json_integer(x))))
            return rc;
    }
    if ((v = c->val[F_NETWORKMODE]) != NULL &&
        (rc = hc_set(c, hc, "NetworkMode", F_NETWORKMODE, json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_BINDS]) != NULL && (rc = hc_set(c, hc, "Binds", F_BINDS, json_deep_copy(v))))
        return rc;
    if ((v = c->val[F_RESTARTPOLICY]) != NULL) {
        const char *s = json_string_value(v);
        const char *colon = strchr(s, ':');
        long retries = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
        json_t *rp =
            json_pack("{s:s%,s:i}", "Name", s, colon != NULL ? (size_t)(colon - s) : strlen(s),
                      "MaximumRetryCount", (int)retries);
        if ((rc = hc_set(c, hc, "RestartPolicy", F_RESTARTPOLICY, rp)))
            return rc;
    }
    return 0;
}

/* Sets the Ports field, if present, as ExposedPorts in body and
 * PortBindings in hc.  0, or the error set in c (what was built and not
 * yet handed to body or hc is freed). */
static int set_ports(parse_ctx *c, json_t *body, json_t *hc)
{
    json_t *v = c->val[F_PORTS];
    int rc = 0;

    if (v == NULL)
        return 0;
    json_t *exposed = json_object(), *bindings = json_object(), *e;
    size_t i;
    port_spec ps;
    if (exposed == NULL || bindings == NULL) {
        json_decref(exposed);
        json_decref(bindings);
        return proto__oom(c);
    }
    json_array_foreach(v, i, e)
    {
        json_t *list, *b;
        proto__parse_port_spec(json_string_value(e), &ps); /* checked already */
        list = json_object_get(bindings, ps.container);
        if (list == NULL) {
            list = json_array();
            if (json_object_set_new(bindings, ps.container, list) != 0)
                list = NULL;
        }
        b = json_pack("{s:s,s:s}", "HostIp", ps.host_ip, "HostPort", ps.host_port);
        if (list == NULL || b == NULL || json_array_append_new(list, b) != 0 ||
            json_object_set_new(exposed, ps.container, json_object()) != 0) {
            json_decref(exposed);
            json_decref(bindings);
            return proto__oom(c);
        }
    }
    if ((rc = body_set(c, body, "ExposedPorts", exposed))) {
        json_decref(bindings);
        return rc;
    }
    return hc_set(c, hc, "PortBindings", F_PORTS, bindings);
}

/* Builds cmd->create_body from the config fields present (both dialects). */
static int build_create_body(parse_ctx *c)
{
    json_t *body = json_object(), *hc = NULL;
    int rc = 0;

    if (body == NULL)
        return proto__oom(c);
    if ((rc = set_config_fields(c, body)))
        goto out;
    hc = c->val[F_HOSTCONFIG] != NULL ? json_deep_copy(c->val[F_HOSTCONFIG]) : json_object();
    if (hc == NULL) {
        rc = proto__oom(c);
        goto out;
    }
    if ((rc = set_host_fields(c, hc)) || (rc = set_ports(c, body, hc)))
        goto out;
    if (json_object_size(hc) > 0) {
        rc = body_set(c, body, "HostConfig", hc);
        hc = NULL;
        if (rc != 0)
            goto out;
    }
    json_decref(c->cmd->create_body);
    c->cmd->create_body = body;
    body = NULL;
out:
    json_decref(hc);
    json_decref(body);
    return rc;
}

/* run, create: an image, or a template to take it from. */
static int need_image(parse_ctx *c)
{
    if (c->cmd->image == NULL && c->cmd->template_name == NULL)
        return proto__fail(c, PROTO_EBADREQUEST, "Image",
                           "required by \"%s\" unless Options.Template names a template",
                           c->spec->name);
    if (c->cmd->params != NULL && c->cmd->template_name == NULL)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Params", "only with Options.Template");
    return 0;
}

/* create: the create body. */
int proto__map_create(parse_ctx *c)
{
    int rc = need_image(c);
    if (rc != 0)
        return rc;
    if (c->cmd->name != NULL && c->cmd->instances > 1)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Name",
                           "cannot name more than one instance");
    return build_create_body(c);
}

/* run: attach flags, the Remove/RestartPolicy conflict, the create body. */
int proto__map_run(parse_ctx *c)
{
    json_t *v = c->val[F_ATTACH];

    if (v != NULL) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            const char *s = json_string_value(e);
            if (proto__ascii_ieq(s, "STDIN"))
                c->cmd->attach_stdin = true;
            else if (proto__ascii_ieq(s, "STDOUT"))
                c->cmd->attach_stdout = true;
            else
                c->cmd->attach_stderr = true;
        }
    }
    int rc = need_image(c);
    if (rc != 0)
        return rc;
    if (c->cmd->name != NULL && c->cmd->instances > 1)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Name",
                           "cannot name more than one instance");
    v = c->val[F_RESTARTPOLICY];
    if (c->cmd->remove && v != NULL && strcmp(json_string_value(v), "no") != 0)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.RestartPolicy",
                           "a restart policy cannot be combined with Remove");
    return build_create_body(c);
}

/* rename: the new name comes as NewName or Name, exactly once. */
int proto__map_rename(parse_ctx *c)
{
    if (c->cmd->name != NULL && c->cmd->new_name != NULL)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Name",
                           "give the new name once, as NewName or as Name");
    if (c->cmd->new_name == NULL) {
        if (c->cmd->name == NULL)
            return proto__fail(c, PROTO_EBADREQUEST, "Options.NewName", "required by \"rename\"");
        c->cmd->new_name = c->cmd->name;
        c->cmd->name = NULL;
    }
    return 0;
}

/* logs: both streams unless told otherwise, never neither; Until >= Since. */
int proto__map_logs(parse_ctx *c)
{
    c->cmd->logs_stdout = c->val[F_STDOUT] == NULL || json_is_true(c->val[F_STDOUT]);
    c->cmd->logs_stderr = c->val[F_STDERR] == NULL || json_is_true(c->val[F_STDERR]);
    if (!c->cmd->logs_stdout && !c->cmd->logs_stderr)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Stdout",
                           "Stdout and Stderr cannot both be false");
    if (c->cmd->logs_until != 0 && c->cmd->logs_until < c->cmd->logs_since)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Until", "is before Since");
    return 0;
}

/* exec: argv, env, user, working dir and tty as NULL-terminated lists and
 * strings owned by the command. */
int proto__map_exec(parse_ctx *c)
{
    json_t *argv = c->val[F_CMD], *v;
    proto_cmd *cmd = c->cmd;

    if (json_array_size(argv) == 0 || json_string_length(json_array_get(argv, 0)) == 0)
        return proto__fail(c, PROTO_EBADREQUEST, "Cmd", "must name a program to run");
    cmd->exec_argv = strv_from(argv);
    if (cmd->exec_argv == NULL)
        return proto__oom(c);
    if ((v = c->val[F_ENV]) != NULL) {
        json_t *arr = env_array(v);
        if (arr == NULL)
            return proto__oom(c);
        cmd->exec_env = strv_from(arr);
        json_decref(arr);
        if (cmd->exec_env == NULL)
            return proto__oom(c);
    }
    if ((v = c->val[F_USER]) != NULL && (cmd->exec_user = strdup(json_string_value(v))) == NULL)
        return proto__oom(c);
    if ((v = c->val[F_WORKINGDIR]) != NULL &&
        (cmd->exec_workdir = strdup(json_string_value(v))) == NULL)
        return proto__oom(c);
    cmd->exec_tty = json_is_true(c->val[F_TTY]);
    if (cmd->timeout_s > PROTO_EXEC_MAX_TIMEOUT)
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Timeout",
                           "exec may take at most %d s (got %" PRId64
                           "); longer work belongs in a run",
                           PROTO_EXEC_MAX_TIMEOUT, cmd->timeout_s);
    if (cmd->timeout_s == 0)
        cmd->timeout_s = PROTO_EXEC_MAX_TIMEOUT;
    return 0;
}

/* True when an image reference already names a tag or a digest. */
static int image_has_tag(const char *ref)
{
    const char *slash = strrchr(ref, '/');
    return strchr(ref, '@') != NULL || strchr(slash != NULL ? slash : ref, ':') != NULL;
}

/* pull: a tag may come in Image or in Tag, not both. */
int proto__map_pull(parse_ctx *c)
{
    if (c->cmd->tag != NULL && image_has_tag(c->cmd->image))
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Tag",
                           "Image already names a tag or digest");
    return 0;
}

/* commit: Docker pauses the container by default. */
int proto__map_commit(parse_ctx *c)
{
    json_t *p = c->val[F_PAUSE];
    c->cmd->pause = p == NULL || json_is_true(p);
    return 0;
}

/* archive-put: the tar, decoded from base64 (RFC 4648, padded; nettle's
 * decoder, which also skips white space). */
int proto__map_archive_put(parse_ctx *c)
{
    const char *text = json_string_value(c->val[F_ARCHIVE]);
    size_t n = json_string_length(c->val[F_ARCHIVE]);
    struct base64_decode_ctx b64;
    size_t out_len = BASE64_DECODE_LENGTH(n);
    unsigned char *out = malloc(out_len ? out_len : 1);
    if (out == NULL)
        return proto__oom(c);
    base64_decode_init(&b64);
    if (!base64_decode_update(&b64, &out_len, out, n, text) || !base64_decode_final(&b64)) {
        free(out);
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Archive", "is not valid base64");
    }
    if (out_len == 0) {
        free(out);
        return proto__fail(c, PROTO_EBADREQUEST, "Options.Archive", "must not be empty");
    }
    c->cmd->archive = out;
    c->cmd->archive_len = out_len;
    return 0;
}

/* volume-create, network-create: labels (owned copy). */
int proto__map_volume_create(parse_ctx *c)
{
    if (c->val[F_LABELS] != NULL) {
        c->cmd->labels = json_deep_copy(c->val[F_LABELS]);
        if (c->cmd->labels == NULL)
            return proto__oom(c);
    }
    return 0;
}

/* DockerMod create-container: image or template, a name only for one
 * instance, and the create body (only the overrides when templated). */
int proto__map_dm_create(parse_ctx *c)
{
    if (c->cmd->image == NULL && c->cmd->template_name == NULL)
        return proto__fail(c, PROTO_EBADREQUEST, "image", "\"image\" or \"template\" is required");
    if (c->cmd->name != NULL && c->cmd->instances > 1)
        return proto__fail(c, PROTO_EBADREQUEST, "name", "cannot name more than one instance");
    return build_create_body(c);
}

/* DockerMod create-raw-container: the body (already raw-checked) is the
 * create body as it is; its Image must be a valid reference. */
int proto__map_dm_raw(parse_ctx *c)
{
    json_t *body = c->val[F_DM_BODY];
    json_t *image = proto_json_get_ci(body, "Image");
    parse_ctx sub = *c;
    int rc;

    if (image == NULL || json_is_null(image))
        return proto__fail(c, PROTO_EBADREQUEST, "body.Image", "required in a raw create body");
    rc = proto__check_string(&sub, &proto__field_specs[F_DM_IMAGE], "body.Image", image);
    if (rc != 0)
        return rc;
    if (c->cmd->name != NULL && c->cmd->instances > 1)
        return proto__fail(c, PROTO_EBADREQUEST, "name", "cannot name more than one instance");
    c->cmd->image = strdup(json_string_value(image));
    c->cmd->create_body = json_deep_copy(body);
    if (c->cmd->image == NULL || c->cmd->create_body == NULL)
        return proto__oom(c);
    c->cmd->raw_body = true;
    return 0;
}

int proto__map_dm_list(parse_ctx *c)
{
    /* DockerMod lists running and stopped containers; "all" widens the
     * query to the whole cluster. */
    c->cmd->all = true;
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
