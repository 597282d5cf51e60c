/*
 * cmd_volume.c -- `volume-create`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static hres h_volume_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    char **labels = eng_label_strings(cmd->labels);
    json_t *out = NULL;
    int rc = dkc_volume_create(c->cli, cmd->volume, cmd->driver, (const char *const *)labels, &out);
    eng_strv_free(labels);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = out ? out : json_null();
    return H_OK;
}

const engine_cmd eng_cmd_volume_create = {.kind = PROTO_CMD_VOLUME_CREATE,
                                          .handle = h_volume_create};
