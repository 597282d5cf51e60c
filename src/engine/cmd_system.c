/*
 * cmd_system.c -- `ping`, `nodes`, and the cluster commands this node cannot do yet.
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

static hres h_nodes(jctx *c)
{
    c->result = json_pack("[{s:s, s:b}]", "name", c->e->conf.node, "self", 1);
    return H_OK;
}

hres eng_handle_unsupported(jctx *c)
{
    return eng_fail(c, PROTO_EUNSUPPORTED, "%s is not supported by this node",
                    proto_cmd_name(c->cmd));
}

const engine_cmd eng_cmd_ping = {.kind = PROTO_CMD_PING, .handle = h_ping};
const engine_cmd eng_cmd_nodes = {.kind = PROTO_CMD_NODES, .handle = h_nodes};
const engine_cmd eng_cmd_register = {.kind = PROTO_CMD_REGISTER, .handle = eng_handle_unsupported};
const engine_cmd eng_cmd_unregister = {.kind = PROTO_CMD_UNREGISTER,
                                       .handle = eng_handle_unsupported};
