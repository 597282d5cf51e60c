/*
 * cmd_system.c -- `ping`, and the answer to what this node cannot do.
 */
#include <stdlib.h>

#include "engine_internal.h"

static hres h_ping(jctx *c)
{
    int rc = dkc_ping(c->cli);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = json_pack("{s:s}", "api_version", dkc_client_api_version(c->cli));
    return H_OK;
}

hres eng_handle_unsupported(jctx *c)
{
    return eng_fail(c, PROTO_EUNSUPPORTED, "%s is not supported by this node",
                    proto_cmd_name(c->cmd));
}

const engine_cmd eng_cmd_ping = {.kind = PROTO_CMD_PING, .handle = h_ping};
