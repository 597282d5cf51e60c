/*
 * cmd_create.c -- `create`: a container made under the policy, not started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static hres h_create(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    hres tr = eng_apply_template(c);
    if (tr != H_OK)
        return tr;
    if (cmd->instances > 1)
        return eng_bulk(c);
    if (json_object_get(cmd->create_body, "Image") == NULL &&
        proto_json_get_ci(cmd->create_body, "Image") == NULL)
        return eng_fail(c, PROTO_EUNSUPPORTED, "a create without an image needs a template");
    if (c->request_id) {
        json_t *found = NULL;
        hres fr = eng_find_request(c, &found);
        json_t *first = json_array_get(found, 0);
        const char *fid = eng_jstr(first, "Id");
        if (fr == H_OK && fid != NULL) {
            snprintf(c->container, sizeof c->container, "%s", fid);
            if (c->d->redelivered)
                c->result = json_pack("{s:s, s:s?, s:n}", "id", fid, "name", cmd->name, "warnings");
            else
                fr = eng_duplicate(c, fid, eng_jstr(first, "State"));
        }
        json_decref(found);
        if (fr != H_OK || c->container[0])
            return fr;
    }
    json_t *labels = NULL;
    json_t *body = eng_labelled_body(c, &labels);
    char *id = NULL;
    json_t *warn = NULL;
    hres res = eng_create_admitted(c, body, &id, &warn);
    json_decref(body);
    if (res != H_OK)
        return res;
    snprintf(c->container, sizeof c->container, "%s", id);
    c->result = json_pack("{s:s, s:s?, s:O?}", "id", id, "name", cmd->name, "warnings",
                          warn ? warn : json_null());
    free(id);
    json_decref(warn);
    return H_OK;
}

const engine_cmd eng_cmd_create = {
    .kind = PROTO_CMD_CREATE, .flags = ENG_CMD_DEDUPE | ENG_CMD_BULK, .handle = h_create};
