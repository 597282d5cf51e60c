/*
 * cmd_exec.c -- `exec`: a command in a running container, its output and exit code.
 * Held unacked while it runs, so bounded below RabbitMQ's consumer timeout.
 * Its working directory is held to the policy as a create's is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "text.h"

static hres h_exec(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    proto_error perr;
    proto_error_clear(&perr);
    if (cmd->exec_workdir != NULL &&
        policy_check_workdir(cmd->exec_workdir, "Options.WorkingDir", &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, PROTO_EPOLICY, "%s", perr.message);
    }
    capture cap = {.limit = (size_t)cmd->output_limit};
    dkc_exec_config ec = {.cmd = (const char *const *)cmd->exec_argv,
                          .env = (const char *const *)cmd->exec_env,
                          .user = cmd->exec_user,
                          .working_dir = cmd->exec_workdir,
                          .tty = cmd->exec_tty};
    int64_t code = 0;
    hres res = H_OK;
    /* Docker has no call that stops an exec'd process: at the deadline the
     * dispatcher stops waiting and says so; the process runs on inside the
     * container until it ends or the container stops. */
    int64_t deadline = eng_now_ms() + cmd->timeout_s * 1000;
    dkc_client_set_deadline(c->cli, (long)(cmd->timeout_s * 1000));
    int rc = dkc_exec_run(c->cli, cmd->container, &ec, eng_capture_cb, &cap, &code);
    dkc_client_set_deadline(c->cli, 0);
    bool timed_out = rc == DKC_ETIMEOUT && eng_now_ms() >= deadline;
    if (rc != 0 && !timed_out) {
        res = eng_dfail(c, rc);
        goto out;
    }
    if (timed_out) {
        char who[160];
        text_line(who, sizeof who, cmd->container);
        log_msg(LOG_LVL_WARN, "exec in %s: no end after %lld s; stopped waiting (it may still run)",
                who, (long long)cmd->timeout_s);
    }
    proto_run_result r = {.waited = !timed_out,
                          .timed_out = timed_out,
                          .exit_code = code,
                          .captured = true,
                          .out = cap.out.data ? cap.out.data : "",
                          .out_len = cap.out.len,
                          .err = cap.err.data ? cap.err.data : "",
                          .err_len = cap.err.len,
                          .truncated = cap.truncated};
    c->result = proto_result_exec(&r);
out:
    eng_capture_free(&cap);
    return res;
}

const engine_cmd eng_cmd_exec = {
    .kind = PROTO_CMD_EXEC, .target = ENG_TARGET_CONTAINER, .handle = h_exec};
