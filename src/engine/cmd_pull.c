/*
 * cmd_pull.c -- `pull`: an image from a registry, with Docker's progress stream
 * (passed on as interim progress messages when the request asks for them).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "text.h"

typedef struct pull_state {
    jctx *c;
    char status[256];
    int64_t last_ms; /* when the last progress message went */
} pull_state;

/* Docker's statuses that end a layer's part in the pull. */
static bool layer_done(const char *status)
{
    return strcmp(status, "Pull complete") == 0 || strcmp(status, "Already exists") == 0 ||
           strcmp(status, "Download complete") == 0;
}

/* Keeps the last status; with Options.Progress, passes Docker's messages
 * on as progress (rate-limited; a layer's completion always). */
static int pull_cb(void *ud, const dkc_progress *p)
{
    pull_state *ps = ud;
    const char *status = p->status ? p->status : "";
    if (*status)
        snprintf(ps->status, sizeof ps->status, "%s", status);
    if (!eng_progress_due(ps->c, &ps->last_ms, layer_done(status)))
        return 0;
    char id[80], st[128];
    text_line(id, sizeof id, p->id ? p->id : "");
    text_line(st, sizeof st, status);
    eng_post_progress(ps->c, json_pack("{s:s, s:s, s:I, s:I}", "id", id, "status", st, "current",
                                       (json_int_t)p->current, "total", (json_int_t)p->total));
    return 0;
}

static hres h_pull(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    pull_state ps = {.c = c};
    char ref[700];
    snprintf(ref, sizeof ref, "%s%s%s", cmd->image, cmd->tag ? ":" : "", cmd->tag ? cmd->tag : "");
    proto_error perr;
    proto_error_clear(&perr);
    if (policy_check_image(c->rules->policy, ref, &perr) != 0 ||
        policy_check_registry(c->rules->policy, ref, &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, perr.code, "%s", perr.message);
    }
    hres sr = eng_scope_check_pull(c, ref);
    if (sr != H_OK)
        return sr;
    int rc = dkc_image_pull(c->cli, cmd->image, cmd->tag, NULL, pull_cb, &ps);
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        return eng_dfail(c, rc); /* Docker itself: transient */
    if (rc != 0) {
        /* Docker's text would tell how the registry's host and port
         * answered (refused, timed out, not HTTP): a port scanner for
         * whoever may publish.  The reply says only that it failed. */
        char why[512];
        text_line(why, sizeof why, dkc_client_last_error(c->cli)->message);
        log_msg(LOG_LVL_INFO, "pull of %.200s failed: %s", ref, why);
        c->http = dkc_client_last_error(c->cli)->http_status;
        return eng_fail(c, rc == DKC_ENOTFOUND ? PROTO_ENOTFOUND : PROTO_EDOCKER,
                        "pulling %.200s failed", ref);
    }
    c->result = json_pack("{s:s, s:s}", "image", ref, "status", ps.status);
    return H_OK;
}

const engine_cmd eng_cmd_pull = {
    .kind = PROTO_CMD_PULL, .target = ENG_TARGET_IMAGE, .handle = h_pull};
