/*
 * cmd_verbs.c -- the commands that are one Docker call with no result
 * (start, stop, restart, kill, pause, unpause, rename, remove, image-tag,
 * volume-remove): a row each, sharing one handler.
 */
#include <pthread.h>
#include <stdlib.h>

#include "engine_internal.h"

int eng_done_already(const jctx *c, int rc)
{
    return rc != 0 && c->d->redelivered && c->desc != NULL && rc == c->desc->done_already;
}

/* Runs c->desc->verb; the reply's result is null. */
hres eng_handle_verb(jctx *c)
{
    int rc = c->desc->verb(c->cli, c->cmd);
    if (eng_done_already(c, rc))
        rc = 0;
    if (rc != 0)
        return eng_dfail(c, rc);
    c->result = json_null();
    return H_OK;
}

/* start, restart: a stopped container runs again, under its user's
 * quotas (quota.c). */
static hres h_start(jctx *c)
{
    bool locked = false;
    hres res = eng_quota_start(c, &locked);
    if (res == H_OK)
        res = eng_handle_verb(c);
    if (locked)
        eng_quota_create_done(c->e);
    return res;
}

static int start(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_start(cli, cmd->container);
}

static int stop(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_stop(cli, cmd->container, cmd->has_time ? cmd->time_s : -1);
}

static int restart(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_restart(cli, cmd->container, cmd->has_time ? cmd->time_s : -1);
}

static int kill_(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_kill(cli, cmd->container, cmd->signal);
}

static int pause_(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_pause(cli, cmd->container);
}

static int unpause(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_unpause(cli, cmd->container);
}

static int rename_(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_rename(cli, cmd->container, cmd->new_name);
}

static int remove_(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_container_remove(cli, cmd->container, cmd->force, cmd->volumes);
}

static int image_tag(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_image_tag(cli, cmd->image, cmd->repo, cmd->tag);
}

static int volume_remove(dkc_client *cli, const proto_cmd *cmd)
{
    return dkc_volume_remove(cli, cmd->volume, cmd->force);
}

/* name, command, what it names, the call, and the error that means its
 * effect exists already (for redelivered messages, see engine_internal.h) */
#define VERB(name, k, target_, fn, done)                                                           \
    const engine_cmd eng_cmd_##name = {.kind = (k),                                                \
                                       .target = ENG_TARGET_##target_,                             \
                                       .handle = eng_handle_verb,                                  \
                                       .verb = (fn),                                               \
                                       .done_already = (done)}

const engine_cmd eng_cmd_start = {.kind = PROTO_CMD_START,
                                  .target = ENG_TARGET_CONTAINER,
                                  .handle = h_start,
                                  .verb = start,
                                  .done_already = DKC_ENOTMODIFIED};
VERB(stop, PROTO_CMD_STOP, CONTAINER, stop, DKC_ENOTMODIFIED);
const engine_cmd eng_cmd_restart = {
    .kind = PROTO_CMD_RESTART, .target = ENG_TARGET_CONTAINER, .handle = h_start, .verb = restart};
VERB(kill, PROTO_CMD_KILL, CONTAINER, kill_, DKC_ECONFLICT);
VERB(pause, PROTO_CMD_PAUSE, CONTAINER, pause_, DKC_ECONFLICT);
VERB(unpause, PROTO_CMD_UNPAUSE, CONTAINER, unpause, DKC_ECONFLICT);
VERB(rename, PROTO_CMD_RENAME, CONTAINER, rename_, 0);
VERB(remove, PROTO_CMD_REMOVE, CONTAINER, remove_, DKC_ENOTFOUND);
const engine_cmd eng_cmd_image_tag = {.kind = PROTO_CMD_IMAGE_TAG,
                                      .target = ENG_TARGET_IMAGE,
                                      .flags = ENG_CMD_WRITES_IMAGE,
                                      .changes = "tagged",
                                      .handle = eng_handle_verb,
                                      .verb = image_tag};
VERB(volume_remove, PROTO_CMD_VOLUME_REMOVE, VOLUME, volume_remove, DKC_ENOTFOUND);
