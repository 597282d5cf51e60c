/*
 * cmd_query.c -- the commands whose result is Docker's JSON as it comes
 * (inspect, list, top, changes, images, image-inspect, image-remove,
 * volume-list, volume-inspect, info, version): a row each, sharing one
 * handler.
 */
#include <stdlib.h>

#include "engine_internal.h"

/* Runs c->desc->query; its JSON (null when none) is the reply's result. */
hres eng_handle_query(jctx *c)
{
    json_t *out = NULL;
    int rc = c->desc->query(c->cli, c->cmd, &out);
    if (rc != 0) {
        json_decref(out);
        return eng_dfail(c, rc);
    }
    if (out != NULL && c->desc->visible != NULL)
        c->desc->visible(c, out);
    c->result = out ? out : json_null();
    return H_OK;
}

/* The containers the publisher may see, then Limit of them (Docker's
 * newest first): a Limit Docker applied before the dispatcher's filter
 * would tell how many of the newest were someone else's. */
static void visible_containers(const jctx *c, json_t *out)
{
    eng_scope_filter_list(c, out);
    while (c->cmd->limit > 0 && json_array_size(out) > (size_t)c->cmd->limit)
        json_array_remove(out, json_array_size(out) - 1);
}

static void visible_volumes(const jctx *c, json_t *out)
{
    eng_scope_filter_list(c, json_object_get(out, "Volumes"));
}

/* The labels where a run keeps its reply address for supervision (who
 * gets the final reply after a restart).  They stay in Docker, which only
 * the host's root reads, and never leave the dispatcher: another publisher
 * who learnt them could read or forge someone else's replies. */
static void hide_reply_address(json_t *labels)
{
    json_object_del(labels, LBL "reply-to");
    json_object_del(labels, LBL "correlation-id");
}

static int inspect(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    int rc = dkc_container_inspect(cli, cmd->container, out);
    if (rc == 0)
        hide_reply_address(json_object_get(json_object_get(*out, "Config"), "Labels"));
    return rc;
}

static int list(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    /* Limit is applied after the scope's filter (visible_containers); a
     * limit has Docker list stopped containers too, so all stands in */
    dkc_list_opts lo = {.all = cmd->all || cmd->limit > 0, .filters = cmd->filters};
    int rc = dkc_container_list(cli, &lo, out);
    size_t i;
    json_t *c;
    if (rc == 0)
        json_array_foreach(*out, i, c) hide_reply_address(json_object_get(c, "Labels"));
    return rc;
}

static int top(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_container_top(cli, cmd->container, cmd->ps_args, out);
}

static int changes(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_container_changes(cli, cmd->container, out);
}

static int images(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_image_list(cli, cmd->all, cmd->filters, out);
}

/* images: another cluster's or user's committed images are left out. */
static void visible_images(const jctx *c, json_t *out)
{
    for (size_t i = json_array_size(out); i-- > 0;)
        if (!eng_image_visible(c, json_object_get(json_array_get(out, i), "Labels")))
            json_array_remove(out, i);
}

/* image-inspect: one inspect, answered only when the publisher may see the
 * image; another's committed image is not_found, as if there were none. */
static hres h_image_inspect(jctx *c)
{
    json_t *out = NULL;
    int rc = dkc_image_inspect(c->cli, c->cmd->image, &out);
    if (rc != 0) {
        json_decref(out);
        return eng_dfail(c, rc);
    }
    if (!eng_image_visible(c, json_object_get(json_object_get(out, "Config"), "Labels"))) {
        json_decref(out);
        return eng_no_such_image(c, c->cmd->image);
    }
    c->result = out;
    return H_OK;
}

static int image_remove(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_image_remove(cli, cmd->image, cmd->force, cmd->noprune, out);
}

static int volume_list(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_volume_list(cli, cmd->filters, out);
}

static int volume_inspect(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    return dkc_volume_inspect(cli, cmd->volume, out);
}

static int info(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    (void)cmd;
    return dkc_info(cli, out);
}

static int version(dkc_client *cli, const proto_cmd *cmd, json_t **out)
{
    (void)cmd;
    return dkc_version(cli, out);
}

/* name, command, what it names, the call */
#define QUERY(name, k, target_, fn)                                                                \
    const engine_cmd eng_cmd_##name = {                                                            \
        .kind = (k), .target = ENG_TARGET_##target_, .handle = eng_handle_query, .query = (fn)}

/* inspect: the ownership check inspected the container already (scope.c);
 * that answer is the result, unless the scope is the host's. */
static hres h_inspect(jctx *c)
{
    if (c->resolved == NULL)
        return eng_handle_query(c);
    c->result = json_deep_copy(c->resolved);
    if (c->result == NULL)
        xoom();
    hide_reply_address(json_object_get(json_object_get(c->result, "Config"), "Labels"));
    return H_OK;
}

const engine_cmd eng_cmd_inspect = {.kind = PROTO_CMD_INSPECT,
                                    .target = ENG_TARGET_CONTAINER,
                                    .handle = h_inspect,
                                    .query = inspect};
const engine_cmd eng_cmd_list = {.kind = PROTO_CMD_LIST,
                                 .target = ENG_TARGET_CONTAINER,
                                 .flags = ENG_CMD_LIST,
                                 .handle = eng_cluster_query,
                                 .query = list,
                                 .visible = visible_containers};
QUERY(top, PROTO_CMD_TOP, CONTAINER, top);
QUERY(changes, PROTO_CMD_CHANGES, CONTAINER, changes);
const engine_cmd eng_cmd_images = {.kind = PROTO_CMD_IMAGES,
                                   .target = ENG_TARGET_IMAGE,
                                   .flags = ENG_CMD_LIST,
                                   .handle = eng_cluster_query,
                                   .query = images,
                                   .visible = visible_images};
const engine_cmd eng_cmd_image_inspect = {
    .kind = PROTO_CMD_IMAGE_INSPECT, .target = ENG_TARGET_IMAGE, .handle = h_image_inspect};
const engine_cmd eng_cmd_image_remove = {.kind = PROTO_CMD_IMAGE_REMOVE,
                                         .target = ENG_TARGET_IMAGE,
                                         .changes = "removed",
                                         .handle = eng_handle_query,
                                         .query = image_remove};
const engine_cmd eng_cmd_volume_list = {.kind = PROTO_CMD_VOLUME_LIST,
                                        .target = ENG_TARGET_VOLUME,
                                        .flags = ENG_CMD_LIST,
                                        .handle = eng_handle_query,
                                        .query = volume_list,
                                        .visible = visible_volumes};
QUERY(volume_inspect, PROTO_CMD_VOLUME_INSPECT, VOLUME, volume_inspect);
QUERY(info, PROTO_CMD_INFO, NONE, info);
QUERY(version, PROTO_CMD_VERSION, NONE, version);
