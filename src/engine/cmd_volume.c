/*
 * cmd_volume.c -- `volume-create`.  Docker's create is idempotent: for a
 * name that exists it answers with that volume, whoever made it.  So a
 * name taken by a volume the publisher may not act on is refused
 * (conflict, telling nothing of that volume), before the create and,
 * for a volume made in between, after it.
 * The driver must be one the policy lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static hres refuse_taken(jctx *c)
{
    c->http = 409;
    snprintf(c->field, sizeof c->field, "Volume");
    return eng_fail(c, PROTO_ECONFLICT, "Volume: the name %.200s is taken", c->cmd->volume);
}

static hres h_volume_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    proto_error perr;
    proto_error_clear(&perr);
    if (policy_check_volume_driver(c->rules->policy, cmd->driver, "Options.Driver", &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, PROTO_EPOLICY, "%s", perr.message);
    }
    if (cmd->volume != NULL) {
        json_t *ins = NULL;
        int rc = dkc_volume_inspect(c->cli, cmd->volume, &ins);
        int taken = rc == 0 && !eng_scope_owns(c, json_object_get(ins, "Labels"));
        json_decref(ins);
        if (taken)
            return refuse_taken(c);
        if (rc != 0 && rc != DKC_ENOTFOUND)
            return eng_dfail(c, rc);
    }
    char **labels = eng_label_strings(cmd->labels);
    json_t *out = NULL;
    int rc = dkc_volume_create(c->cli, cmd->volume, cmd->driver, (const char *const *)labels, &out);
    eng_strv_free(labels);
    if (rc != 0)
        return eng_dfail(c, rc);
    if (out != NULL && !eng_scope_owns(c, json_object_get(out, "Labels"))) {
        json_decref(out); /* made by another between the inspect and the create */
        return refuse_taken(c);
    }
    c->result = out ? out : json_null();
    return H_OK;
}

const engine_cmd eng_cmd_volume_create = {.kind = PROTO_CMD_VOLUME_CREATE,
                                          .target = ENG_TARGET_VOLUME,
                                          .flags = ENG_CMD_LABELS_NEW,
                                          .handle = h_volume_create};
