/*
 * dkc_exec.c -- running extra processes in a container (exec).
 *
 * POST /containers/<id>/exec creates the exec, POST /exec/<id>/start runs
 * it attached (Docker takes over the connection and writes the process's
 * output until it ends, multiplexed unless the exec has a TTY), and
 * GET /exec/<id>/json reports its exit code.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkc_internal.h"

/* How long dkc_exec_run waits for Docker to record the exit code after the
 * output stream has ended (the two are reported separately). */
#define EXIT_POLL_TRIES 250
#define EXIT_POLL_NS    20000000L /* 20 ms */

/* Records a bad-argument failure found before any request. */
static int fail_arg(dkc_client *c, const char *what)
{
    return dkc__client_fail(c, DKC_EINVAL, 0, "invalid argument: %s", what);
}

/* Builds the exec create body.  Returns 0 and a new object in *out, or
 * DKC_EINVAL (no command, text that is not UTF-8) / DKC_ENOMEM. */
static int exec_body(const dkc_exec_config *cfg, json_t **out)
{
    int rc = DKC_ENOMEM;
    bool both = !cfg->attach_stdout && !cfg->attach_stderr;
    json_t *b = json_object();
    *out = NULL;
    if (b == NULL)
        return DKC_ENOMEM;
    json_t *cmd = dkc__strv_to_json(cfg->cmd);
    if (cmd == NULL || json_object_set_new(b, "Cmd", cmd) != 0) {
        rc = DKC_EINVAL;
        goto out;
    }
    if (json_object_set_new(b, "AttachStdout", json_boolean(both || cfg->attach_stdout)) != 0 ||
        json_object_set_new(b, "AttachStderr", json_boolean(both || cfg->attach_stderr)) != 0 ||
        json_object_set_new(b, "Tty", json_boolean(cfg->tty)) != 0 ||
        json_object_set_new(b, "Privileged", json_boolean(cfg->privileged)) != 0)
        goto out;
    if (cfg->env != NULL) {
        json_t *env = dkc__strv_to_json(cfg->env);
        if (env == NULL || json_object_set_new(b, "Env", env) != 0) {
            rc = DKC_EINVAL;
            goto out;
        }
    }
    if (cfg->user != NULL && cfg->user[0] != '\0') {
        json_t *u = json_string(cfg->user);
        if (u == NULL || json_object_set_new(b, "User", u) != 0) {
            rc = DKC_EINVAL;
            goto out;
        }
    }
    if (cfg->working_dir != NULL && cfg->working_dir[0] != '\0') {
        json_t *w = json_string(cfg->working_dir);
        if (w == NULL || json_object_set_new(b, "WorkingDir", w) != 0) {
            rc = DKC_EINVAL;
            goto out;
        }
    }
    *out = b;
    b = NULL;
    rc = 0;
out:
    json_decref(b);
    return rc;
}

int dkc_exec_create(dkc_client *c, const char *container, const dkc_exec_config *cfg,
                    char **exec_id)
{
    dkc__buf path;
    json_t *body = NULL;
    json_t *res = NULL;
    int rc;

    if (exec_id != NULL)
        *exec_id = NULL;
    if (c == NULL || exec_id == NULL)
        return DKC_EINVAL;
    if (cfg == NULL || cfg->cmd == NULL || cfg->cmd[0] == NULL)
        return fail_arg(c, "exec needs a command");
    if (dkc__check_ref(container, false) != 0)
        return fail_arg(c, "container id or name");
    dkc__buf_init(&path, 0);
    if ((rc = exec_body(cfg, &body)) != 0) {
        rc = dkc__client_fail(c, rc, 0, "invalid exec config: %s", dkc_strerror(rc));
        goto out;
    }
    if ((rc = dkc__buf_printf(&path, "/containers/%s/exec", container)) != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the request");
        goto out;
    }
    if ((rc = dkc__client_json(c, "POST", path.data, body, &res)) != 0)
        goto out;
    const char *id = json_string_value(json_object_get(res, "Id"));
    if (id == NULL || id[0] == '\0') {
        rc = dkc__client_fail(c, DKC_EPROTO, 0, "exec create response carries no Id");
        goto out;
    }
    *exec_id = strdup(id);
    if (*exec_id == NULL)
        rc = dkc__client_fail(c, DKC_ENOMEM, 0, "out of memory");
out:
    json_decref(res);
    json_decref(body);
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_exec_start(dkc_client *c, const char *exec_id, bool tty, dkc_output_cb cb, void *ud)
{
    dkc__buf path;
    char body[48];
    int rc;

    if (c == NULL)
        return DKC_EINVAL;
    if (dkc__check_ref(exec_id, false) != 0)
        return fail_arg(c, "exec id");
    dkc__buf_init(&path, 0);
    if ((rc = dkc__buf_printf(&path, "/exec/%s/start", exec_id)) != 0) {
        rc = dkc__client_fail(c, rc, 0, "cannot build the request");
        goto out;
    }
    int n = snprintf(body, sizeof body, "{\"Detach\":false,\"Tty\":%s}", tty ? "true" : "false");
    rc = dkc__output_request(c, "POST", path.data, body, (size_t)n, tty, cb, ud);
out:
    dkc__buf_cleanup(&path);
    return rc;
}

int dkc_exec_inspect(dkc_client *c, const char *exec_id, json_t **out)
{
    dkc__buf path;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    if (dkc__check_ref(exec_id, false) != 0)
        return fail_arg(c, "exec id");
    dkc__buf_init(&path, 0);
    if ((rc = dkc__buf_printf(&path, "/exec/%s/json", exec_id)) != 0)
        rc = dkc__client_fail(c, rc, 0, "cannot build the request");
    else
        rc = dkc__client_json(c, "GET", path.data, NULL, out);
    dkc__buf_cleanup(&path);
    return rc;
}

/* Reads the exit code of a finished exec.  The output stream can end a
 * moment before Docker records the exit, so a still-running exec is asked
 * again for a bounded time; DKC_ETIMEOUT if it never settles. */
static int exec_exit_code(dkc_client *c, const char *exec_id, int64_t *exit_code)
{
    const struct timespec pause = {.tv_sec = 0, .tv_nsec = EXIT_POLL_NS};
    for (int i = 0; i < EXIT_POLL_TRIES; i++) {
        json_t *info = NULL;
        int rc = dkc_exec_inspect(c, exec_id, &info);
        if (rc != 0)
            return rc;
        json_t *code = json_object_get(info, "ExitCode");
        bool running = json_is_true(json_object_get(info, "Running"));
        if (!running && json_is_integer(code)) {
            *exit_code = (int64_t)json_integer_value(code);
            json_decref(info);
            return 0;
        }
        json_decref(info);
        nanosleep(&pause, NULL);
    }
    return dkc__client_fail(c, DKC_ETIMEOUT, 0,
                            "exec output ended but the daemon reports no exit code");
}

int dkc_exec_run(dkc_client *c, const char *container, const dkc_exec_config *cfg, dkc_output_cb cb,
                 void *ud, int64_t *exit_code)
{
    char *id = NULL;
    int rc;

    if (c == NULL || exit_code == NULL)
        return DKC_EINVAL;
    if ((rc = dkc_exec_create(c, container, cfg, &id)) != 0)
        goto out;
    if ((rc = dkc_exec_start(c, id, cfg->tty, cb, ud)) != 0)
        goto out;
    rc = exec_exit_code(c, id, exit_code);
out:
    free(id);
    return rc;
}
