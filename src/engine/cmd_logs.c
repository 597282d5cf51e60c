/*
 * cmd_logs.c -- `logs`: a container's output, bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static hres h_logs(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    capture cap = {.limit = (size_t)cmd->output_limit};
    dkc_logs_opts lo = {.stdout_ = cmd->logs_stdout,
                        .stderr_ = cmd->logs_stderr,
                        .timestamps = cmd->logs_timestamps,
                        .since = cmd->logs_since,
                        .until = cmd->logs_until,
                        .tail = cmd->logs_tail < 0 ? 0 : cmd->logs_tail};
    hres res = H_OK;
    if (cmd->logs_tail == 0)
        goto build; /* Tail 0 means no lines (to dkc, tail <= 0 means all) */
    int rc = dkc_container_logs(c->cli, cmd->container, &lo, eng_capture_cb, &cap);
    if (rc != 0) {
        res = eng_dfail(c, rc);
        goto out;
    }
build:;
    proto_run_result r = {.captured = true,
                          .out = cap.out.data ? cap.out.data : "",
                          .out_len = cap.out.len,
                          .err = cap.err.data ? cap.err.data : "",
                          .err_len = cap.err.len,
                          .truncated = cap.truncated};
    c->result = proto_result_logs(&r);
out:
    eng_capture_free(&cap);
    return res;
}

const engine_cmd eng_cmd_logs = {
    .kind = PROTO_CMD_LOGS, .target = ENG_TARGET_CONTAINER, .handle = h_logs};
