/*
 * make.c -- what the commands that make containers (run, create) share:
 * the labels, admission under the policy and max_containers, finding a
 * request's container, the `duplicate` answer.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <strings.h>

#include "cluster.h"
#include "engine_internal.h"

/* A fresh copy of a request received before (its container exists, or this
 * node answered it): it is not carried out again.  The copy is answered
 * with a `duplicate` error naming the original, and acked. */
hres eng_duplicate(jctx *c, const char *container, const char *state)
{
    const char *cid = container && *container ? container : NULL;
    c->err_extra = json_pack("{s:{s:s, s:s?, s:s?}}", "original", "request_id", c->request_id,
                             "container", cid, "state", state);
    if (c->err_extra == NULL)
        xoom();
    snprintf(c->field, sizeof c->field, "message_id");
    if (cid)
        return eng_fail(c, PROTO_EDUPLICATE,
                        "request id was received before (container %.12s, %s): this copy is not "
                        "carried out again; the first copy's reply is the answer",
                        cid, state ? state : "?");
    return eng_fail(c, PROTO_EDUPLICATE,
                    "request id was received and answered before: this copy is not carried out "
                    "again; the first copy's reply is the answer");
}

int eng_same_user(json_t *labels, const char *user)
{
    const char *made_by = eng_label(labels, "user");
    return made_by == NULL ? user == NULL : user != NULL && !strcmp(made_by, user);
}

/* The containers this cluster made for c's request (by its request label)
 * and c's user, into *found (an array, possibly empty).  Request ids are
 * per user: another user's container with the same id is not this
 * request's (Docker cannot filter on a missing label, so the user is
 * compared here). */
hres eng_find_request(jctx *c, json_t **found)
{
    char l[600];
    snprintf(l, sizeof l, LBL "request=%s", c->request_id);
    dkc_list_opts lo = {.all = true, .filters = eng_label_filter(c->e->cluster_label, l)};
    if (lo.filters == NULL)
        xoom();
    int rc = dkc_container_list(c->cli, &lo, found);
    json_decref(lo.filters);
    if (rc != 0)
        return eng_dfail(c, rc);
    for (size_t i = json_array_size(*found); i-- > 0;)
        if (!eng_same_user(json_object_get(json_array_get(*found, i), "Labels"), c->d->user_id))
            json_array_remove(*found, i);
    return H_OK;
}

/* A copy of cmd's create body carrying the labels every container of this
 * node has (node, and the request when there is one); *labels is its
 * Labels object, for more.  NULL when the command has no body. */
json_t *eng_labelled_body(jctx *c, json_t **labels)
{
    json_t *body = json_deep_copy(c->cmd->create_body);
    if (body == NULL)
        return NULL;
    json_t *l = json_object_get(body, "Labels");
    if (!json_is_object(l)) {
        l = json_object();
        eng_set(body, "Labels", l);
    }
    eng_set(l, LBL "cluster", json_string(c->e->conf.cluster));
    eng_set(l, LBL "node", json_string(c->e->conf.node));
    if (c->d->user_id) /* RabbitMQ verified it: the container is that user's */
        eng_set(l, LBL "user", json_string(c->d->user_id));
    if (c->request_id)
        eng_set(l, LBL "request", json_string(c->request_id));
    /* a bulk piece: the incarnation it was placed on (bulk.c) */
    const char *inc = broker_delivery_header(c->d, CLUSTER_H_INCARNATION);
    if (inc)
        eng_set(l, LBL "piece", json_string(inc));
    *labels = l;
    return body;
}

static hres create_in_room(jctx *c, json_t *body, char **id, json_t **warnings);

/* Creates body if the policy admits it (completing it with the policy's
 * defaults) and, under max_containers, if the node has room: H_OK with
 * *id and *warnings, or the outcome recorded in c.
 *
 * Room is the node's labelled containers as Docker lists them plus the
 * creates other workers have in flight.  A create that Docker answers
 * while this one lists may be missing from the list, so those (counted
 * by `created`) count as well: near the limit a request may be refused a
 * moment early, never admitted one too many.  The user's quotas are
 * checked between the policy and that (quota.c). */
hres eng_create_admitted(jctx *c, json_t *body, char **id, json_t **warnings)
{
    engine *e = c->e;
    proto_error perr;
    proto_error_clear(&perr);
    int rc = policy_check_create(c->rules->policy, body, &perr);
    if (rc != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, rc, "%s", perr.message);
    }
    hres vr = eng_scope_check_image_use(c, json_string_value(proto_json_get_ci(body, "Image")));
    if (vr == H_OK)
        vr = eng_scope_check_volumes(c, body);
    if (vr != H_OK)
        return vr;
    bool qlocked = false;
    bool starts = eng_cmd_has(c->cmd->kind, ENG_CMD_STARTS);
    if ((vr = eng_quota_create(c, body, starts, &qlocked)) != H_OK)
        return vr;
    vr = create_in_room(c, body, id, warnings);
    if (qlocked)
        eng_quota_create_done(e);
    return vr;
}

/* The rest of eng_create_admitted: max_containers, then the create. */
static hres create_in_room(jctx *c, json_t *body, char **id, json_t **warnings)
{
    engine *e = c->e;
    int rc;
    int max = c->rules->policy->max_containers;
    if (max > 0) {
        uint64_t created_before = eng_quota_created(e);
        json_t *arr = NULL;
        dkc_list_opts lo = {.all = true, .filters = eng_owner_filter(e)};
        rc = dkc_container_list(c->cli, &lo, &arr);
        json_decref(lo.filters);
        size_t n = json_array_size(arr);
        json_decref(arr);
        if (rc != 0)
            return eng_dfail(c, rc);
        size_t pending = 0;
        if (!eng_quota_admit_create(e, n, created_before, max, &pending))
            return eng_fail(c, PROTO_EPOLICY,
                            "this node has %zu containers (%zu more being made), the most it may "
                            "have (policy max_containers)",
                            n, pending);
    }
    rc = dkc_container_create_json(c->cli, c->cmd->name, body, id, warnings);
    if (max > 0)
        eng_quota_create_answered(e);
    if (rc != 0)
        return eng_dfail(c, rc);
    /* bound before the reply goes out (the outbox is in order), so that a
     * command naming the new container finds it from any node */
    eng_routes_add(e, *id);
    return H_OK;
}

/* Sets key of obj to v (a new reference taken), replacing any key that
 * differs only in case: Docker reads keys case-insensitively. */
static void set_ci(json_t *obj, const char *key, json_t *v)
{
    const char *k;
    json_t *x, *tmp;
    json_object_foreach_safe(obj, tmp, k, x)
    {
        if (strcasecmp(k, key) == 0)
            json_object_del(obj, k);
    }
    eng_set(obj, key, v);
}

hres eng_apply_template(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    if (cmd->template_name == NULL)
        return H_OK;
    int code = 0;
    char why[PROTO_MESSAGE_MAX];
    json_t *base = templates_render(c->rules->templates, cmd->template_name, cmd->params, &code,
                                    why, sizeof why, c->field, sizeof c->field);
    if (base == NULL) {
        if (code == PROTO_ENOTFOUND)
            c->http = 404;
        return eng_fail(c, code, "%s", why);
    }
    /* what the request gives lays over the template: top-level keys
     * replaced, HostConfig and Labels merged key by key */
    const char *k;
    json_t *v;
    json_object_foreach(cmd->create_body, k, v)
    {
        json_t *mine = proto_json_get_ci(base, k);
        if ((!strcasecmp(k, "HostConfig") || !strcasecmp(k, "Labels")) && json_is_object(mine) &&
            json_is_object(v)) {
            const char *hk;
            json_t *hv;
            json_object_foreach(v, hk, hv) set_ci(mine, hk, json_incref(hv));
        } else {
            set_ci(base, k, json_incref(v));
        }
    }
    const char *image = json_string_value(proto_json_get_ci(base, "Image"));
    if (image == NULL) {
        json_decref(base);
        return eng_fail(c, PROTO_EBADREQUEST, "template %.200s gives no Image and the request none",
                        cmd->template_name);
    }
    json_decref(cmd->create_body);
    cmd->create_body = base;
    if (cmd->image == NULL)
        cmd->image = xstrdup(image);
    return H_OK;
}
