/*
 * cmd_commit.c -- `commit`: a container this publisher may act on into an
 * image name under the cluster's commit prefix that the image list allows.
 * Both are checked in scope.c, and that the name is free or the
 * publisher's own image, so that nobody else's is re-pointed.
 *
 * Docker copies the container's labels into the image, and a container
 * made from an image inherits the image's labels.  A committed run would
 * so hand its reply address, its request id and its "final" mark to every
 * container later made from the image, which the supervisor would then
 * answer for.  The commit therefore sets each of the dispatcher's labels
 * the container carries to "".  Docker merges the labels given with the
 * container's and cannot drop one, and eng_label reads "" as absent.  It
 * also marks the image as this cluster's and this user's, under labels
 * that no container ownership check reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

hres eng_container_labels(jctx *c, json_t **labels)
{
    if (c->resolved != NULL) {
        *labels = json_incref(json_object_get(json_object_get(c->resolved, "Config"), "Labels"));
        return H_OK;
    }
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, c->cmd->container, &ins);
    if (rc != 0)
        return eng_dfail(c, rc);
    *labels = json_incref(json_object_get(json_object_get(ins, "Config"), "Labels"));
    json_decref(ins);
    return H_OK;
}

static hres h_commit(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    json_t *had = NULL;
    hres r = eng_container_labels(c, &had);
    if (r != H_OK)
        return r;
    json_t *labels = json_object();
    if (labels == NULL)
        xoom();
    const char *k;
    json_t *v;
    json_object_foreach(had, k, v)
    {
        if (strncmp(k, LBL, strlen(LBL)) == 0)
            eng_set(labels, k, json_string(""));
    }
    json_decref(had);
    eng_set(labels, LBL "image-cluster", json_string(c->e->conf.cluster));
    if (c->d->user_id)
        eng_set(labels, LBL "image-user", json_string(c->d->user_id));
    json_t *config = json_object();
    if (config == NULL)
        xoom();
    eng_set(config, "Labels", labels);

    dkc_commit_opts o = {.repo = cmd->repo,
                         .tag = cmd->tag && *cmd->tag ? cmd->tag : "latest",
                         .pause = cmd->pause,
                         .config = config};
    char *id = NULL;
    int rc = dkc_container_commit(c->cli, cmd->container, &o, &id);
    json_decref(config);
    if (rc != 0)
        return eng_dfail(c, rc);
    char ref[700];
    snprintf(ref, sizeof ref, "%s:%s", o.repo, o.tag);
    c->result = json_pack("{s:s, s:s}", "Id", id ? id : "", "Image", ref);
    free(id);
    if (c->result == NULL)
        xoom();
    return H_OK;
}

const engine_cmd eng_cmd_commit = {.kind = PROTO_CMD_COMMIT,
                                   .target = ENG_TARGET_CONTAINER,
                                   .flags = ENG_CMD_WRITES_IMAGE,
                                   .handle = h_commit};
