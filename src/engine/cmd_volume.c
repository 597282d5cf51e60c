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
    size_t n = json_object_size(cmd->volume_labels);
    char **labels = eng_xcalloc(n + 1, sizeof *labels);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(cmd->volume_labels, k, v)
    {
        const char *s = json_string_value(v);
        size_t len = strlen(k) + (s ? strlen(s) : 0) + 2;
        labels[i] = eng_xmalloc(len);
        snprintf(labels[i], len, "%s=%s", k, s ? s : "");
        i++;
    }
    json_t *out = NULL;
    int rc = dkc_volume_create(c->cli, cmd->volume, cmd->driver,
                               n ? (const char *const *)labels : NULL, &out);
    for (i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = out ? out : json_null();
    return H_OK;
}

const engine_cmd eng_cmd_volume_create = {.kind = PROTO_CMD_VOLUME_CREATE,
                                          .handle = h_volume_create};
