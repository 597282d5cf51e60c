/*
 * cmd_pull.c -- `pull`: an image from a registry, with Docker's progress stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

typedef struct pull_state {
    char status[256];
} pull_state;

static int pull_cb(void *ud, const dkc_progress *p)
{
    pull_state *ps = ud;
    if (p->status && *p->status)
        snprintf(ps->status, sizeof ps->status, "%s", p->status);
    return 0;
}

static hres h_pull(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    pull_state ps = {""};
    char ref[700];
    snprintf(ref, sizeof ref, "%s%s%s", cmd->image, cmd->tag ? ":" : "", cmd->tag ? cmd->tag : "");
    proto_error perr;
    proto_error_clear(&perr);
    if (policy_check_image(c->e->policy, ref, &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, perr.code, "%s", perr.message);
    }
    int rc = dkc_image_pull(c->cli, cmd->image, cmd->tag, NULL, pull_cb, &ps);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = json_pack("{s:s, s:s}", "image", ref, "status", ps.status);
    return H_OK;
}

const engine_cmd eng_cmd_pull = {.kind = PROTO_CMD_PULL, .handle = h_pull};
