/*
 * cmd_network.c -- the network commands: create (labelled as this
 * cluster's, the publisher's user with it), list and inspect, connect,
 * disconnect and remove.  Which networks a command may name is scope.c's
 * business; what a driver may be is the policy's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static hres h_network_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    proto_error perr;
    proto_error_clear(&perr);
    if (policy_check_network_driver(c->rules->policy, cmd->driver, &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, PROTO_EPOLICY, "%s", perr.message);
    }
    char **labels = eng_label_strings(cmd->labels);
    char *id = NULL;
    int rc = dkc_network_create(c->cli, cmd->network, cmd->driver, cmd->internal,
                                (const char *const *)labels, &id);
    eng_strv_free(labels);
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = json_pack("{s:s, s:s}", "Id", id ? id : "", "Name", cmd->network);
    free(id);
    if (c->result == NULL)
        xoom();
    return H_OK;
}

const engine_cmd eng_cmd_network_create = {.kind = PROTO_CMD_NETWORK_CREATE,
                                           .target = ENG_TARGET_NETWORK,
                                           .flags = ENG_CMD_LABELS_NEW,
                                           .handle = h_network_create};

static int network_list(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_network_list(cli, cmd->filters, out);
}

static void visible_networks(const jctx *c, json_t *out)
{
    eng_scope_filter_list(c, out);
}

static int network_inspect(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_network_inspect(cli, cmd->network, out);
}

static int network_connect(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_network_connect(cli, cmd->network, cmd->container);
}

static int network_disconnect(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_network_disconnect(cli, cmd->network, cmd->container, cmd->force);
}

static int network_remove(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_network_remove(cli, cmd->network);
}

const engine_cmd eng_cmd_network_list = {.kind = PROTO_CMD_NETWORK_LIST,
                                         .target = ENG_TARGET_NETWORK,
                                         .flags = ENG_CMD_LIST,
                                         .handle = eng_handle_query,
                                         .query = network_list,
                                         .visible = visible_networks};
const engine_cmd eng_cmd_network_inspect = {.kind = PROTO_CMD_NETWORK_INSPECT,
                                            .target = ENG_TARGET_NETWORK,
                                            .handle = eng_handle_query,
                                            .query = network_inspect};
/* Docker answers a second connect with 403 "already exists in network"
 * (DKC_EFORBIDDEN) and a second disconnect with 404 or 403, so only the
 * remove has a "done already" error that cannot mean anything else. */
const engine_cmd eng_cmd_network_connect = {.kind = PROTO_CMD_NETWORK_CONNECT,
                                            .target = ENG_TARGET_NETWORK,
                                            .flags = ENG_CMD_JOIN,
                                            .handle = eng_handle_verb,
                                            .verb = network_connect};
const engine_cmd eng_cmd_network_disconnect = {.kind = PROTO_CMD_NETWORK_DISCONNECT,
                                               .target = ENG_TARGET_NETWORK,
                                               .flags = ENG_CMD_JOIN,
                                               .handle = eng_handle_verb,
                                               .verb = network_disconnect};
const engine_cmd eng_cmd_network_remove = {.kind = PROTO_CMD_NETWORK_REMOVE,
                                           .target = ENG_TARGET_NETWORK,
                                           .handle = eng_handle_verb,
                                           .verb = network_remove,
                                           .done_already = DKC_ENOTFOUND};
