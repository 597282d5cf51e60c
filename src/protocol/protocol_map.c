/*
 * protocol_map.c -- the mappers: both dialects' fields onto the command
 * model.  They do what the field table's generic slots cannot: the Docker
 * create body, exec's argv, the archive's bytes.
 */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "protocol.h"
#include "protocol_internal.h"

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
