/*
 * scope.c -- ownership: what a publisher's command may act on.
 *
 * A command's row in the command table says what it names (its target)
 * and how (its flags); this file checks each kind.  By default (policy
 * scope "cluster") a command acts only on what this dispatcher cluster
 * made: containers, volumes and networks with its cluster label.
 * Anything else is `not_found`, not `forbidden`, so that other workloads
 * do not leak.  Lists show only what is in scope.  The full id of what
 * was checked replaces the name the command gave, so that what is acted
 * on is what was checked.  An image a commit made is its cluster's and
 * user's: another's reads as no image at all.  Every other image is the
 * host's: run as the image list allows, never removed, tagged or
 * re-pointed.  Commit and image-tag write only free names (or the
 * publisher's own) under the cluster's commit prefix.  Scope "host" turns
 * this off; the image list holds under any scope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"

/* 1 if the publisher of c may act on an object of cluster made by owner
 * (NULL: an anonymous message): it is this cluster's and owner is NULL,
 * the publisher, or the publisher is an admin user.  Objects made by
 * anonymous messages are anyone's in the cluster; a message without a
 * user_id is anonymous. */
static int mine(const jctx *c, const char *cluster, const char *owner)
{
    if (cluster == NULL || strcmp(cluster, c->e->conf.cluster) != 0)
        return 0;
    const char *me = c->d->user_id;
    return owner == NULL || policy_is_admin(c->rules->policy, me) || (me && !strcmp(owner, me));
}

/* 1 if the publisher of c may act on an object with labels (its cluster
 * and user labels; see mine()). */
static int may(const jctx *c, json_t *labels)
{
    return mine(c, eng_label(labels, "cluster"), eng_label(labels, "user"));
}

/* Drops from a list result (an array of objects with Labels) what the
 * publisher of c may not see: Docker's filters cannot say "this user's or
 * nobody's". */
static void keep_visible(const jctx *c, json_t *list)
{
    for (size_t i = json_array_size(list); i-- > 0;)
        if (!may(c, json_object_get(json_array_get(list, i), "Labels")))
            json_array_remove(list, i);
}

/* Adds this cluster's label to the "label" list of *filters (made when
 * NULL). */
static void add_cluster_filter(engine *e, json_t **filters)
{
    if (*filters == NULL && (*filters = json_object()) == NULL)
        xoom();
    json_t *l = json_object_get(*filters, "label");
    if (!json_is_array(l)) {
        if ((l = json_array()) == NULL || json_object_set_new(*filters, "label", l) != 0)
            xoom();
    }
    if (json_array_append_new(l, json_string(e->cluster_label)) != 0)
        xoom();
}

/* The container c names (none: H_OK), if it is in scope: its full id
 * replaces the name.  H_OK, H_ERR (not_found), H_FORWARD or H_TRANSIENT. */
static hres resolve_container(jctx *c)
{
    if (c->cmd->container == NULL)
        return H_OK;
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, c->cmd->container, &ins);
    hres res = H_OK;
    if (eng_done_already(c, rc)) {
        c->result = json_null(); /* removed by this message's first delivery */
    } else if (rc == DKC_ENOTFOUND ||
               (rc == 0 && !may(c, json_object_get(json_object_get(ins, "Config"), "Labels")))) {
        if (eng_may_forward(c)) {
            res = eng_forward_container(c); /* another node's, perhaps */
        } else {
            c->http = 404;
            res = eng_fail(c, PROTO_ENOTFOUND, "No such container: %.200s", c->cmd->container);
        }
    } else if (rc != 0) {
        res = eng_dfail(c, rc);
    } else {
        const char *id = eng_jstr(ins, "Id");
        if (id == NULL) {
            res = eng_fail(c, PROTO_EDOCKER, "Docker's inspect gave no Id");
        } else {
            free(c->cmd->container);
            c->cmd->container = xstrdup(id);
            c->resolved = json_incref(ins); /* `inspect` answers with it: no second call */
        }
    }
    json_decref(ins);
    return res;
}

/* The volume c names, if it is in scope.  H_OK, H_ERR or H_TRANSIENT. */
static hres resolve_volume(jctx *c)
{
    json_t *ins = NULL;
    int rc = dkc_volume_inspect(c->cli, c->cmd->volume, &ins);
    hres res = H_OK;
    if (eng_done_already(c, rc)) {
        c->result = json_null(); /* removed by this message's first delivery */
    } else if (rc == DKC_ENOTFOUND || (rc == 0 && !may(c, json_object_get(ins, "Labels")))) {
        c->http = 404;
        res = eng_fail(c, PROTO_ENOTFOUND, "No such volume: %.200s", c->cmd->volume);
    } else if (rc != 0) {
        res = eng_dfail(c, rc);
    }
    json_decref(ins);
    return res;
}

/* The network c names, if it is in scope: this cluster's (and the
 * publisher's), or, for a command that joins a container to it or takes
 * one off (ENG_CMD_JOIN), one the policy lists.  Its full id replaces the
 * name.  H_OK, H_ERR (not_found) or H_TRANSIENT. */
static hres resolve_network(jctx *c)
{
    json_t *ins = NULL;
    int rc = dkc_network_inspect(c->cli, c->cmd->network, &ins);
    hres res = H_OK;
    int joinable = (c->desc->flags & ENG_CMD_JOIN) && rc == 0 &&
                   policy_network_listed(c->rules->policy, eng_jstr(ins, "Name"));
    if (eng_done_already(c, rc)) {
        c->result = json_null(); /* removed by this message's first delivery */
    } else if (rc == DKC_ENOTFOUND ||
               (rc == 0 && !joinable && !may(c, json_object_get(ins, "Labels")))) {
        c->http = 404;
        res = eng_fail(c, PROTO_ENOTFOUND, "No such network: %.200s", c->cmd->network);
    } else if (rc != 0) {
        res = eng_dfail(c, rc);
    } else if (eng_jstr(ins, "Id") != NULL) {
        free(c->cmd->network);
        c->cmd->network = xstrdup(eng_jstr(ins, "Id"));
    }
    json_decref(ins);
    return res;
}

/* An image named by an image command, held to the image list. */
static hres check_image(jctx *c, const char *image)
{
    proto_error perr;
    proto_error_clear(&perr);
    if (image == NULL || policy_check_image(c->rules->policy, image, &perr) == 0)
        return H_OK;
    snprintf(c->field, sizeof c->field, "%s", perr.field);
    return eng_fail(c, PROTO_EPOLICY, "%s", perr.message);
}

/* Image ownership.  An image a commit made carries image-cluster and
 * image-user labels (cmd_commit.c): it is its cluster's and user's, like a
 * container.  Any other image (pulled, built by the operator) belongs to
 * the host: usable as the image list allows, never removed or re-pointed.
 * IMG_ABSENT when there is no such image. */
typedef enum img_owner { IMG_ABSENT, IMG_HOST, IMG_MINE, IMG_OTHERS } img_owner;

static img_owner owner_by_labels(const jctx *c, json_t *labels)
{
    const char *cl = eng_label(labels, "image-cluster");
    if (cl == NULL)
        return IMG_HOST;
    return mine(c, cl, eng_label(labels, "image-user")) ? IMG_MINE : IMG_OTHERS;
}

int eng_image_visible(const jctx *c, json_t *labels)
{
    return c->rules->policy->scope_host || owner_by_labels(c, labels) != IMG_OTHERS;
}

/* Whose image ref is, by one inspect.  H_OK with *who, or the failure
 * (Docker unreachable, or an error other than "no such image"). */
static hres image_owner(jctx *c, const char *ref, img_owner *who)
{
    json_t *ins = NULL;
    *who = IMG_ABSENT; /* also on a failure: never left unset */
    int rc = dkc_image_inspect(c->cli, ref, &ins);
    if (rc == DKC_ENOTFOUND)
        return H_OK;
    if (rc != 0)
        return eng_dfail(c, rc);
    *who = owner_by_labels(c, json_object_get(json_object_get(ins, "Config"), "Labels"));
    json_decref(ins);
    return H_OK;
}

hres eng_no_such_image(jctx *c, const char *ref)
{
    /* Docker's own words for a reference it lacks (a name gets its
     * implied ":latest", a 64-hex id its "sha256:"), so that another's
     * image and no image read alike */
    static const char *const hub[] = {"docker.io/", "index.docker.io/"};
    for (size_t i = 0; i < 2; i++)
        if (strncmp(ref, hub[i], strlen(hub[i])) == 0) {
            ref += strlen(hub[i]);
            if (strncmp(ref, "library/", 8) == 0 && strchr(ref + 8, '/') == NULL)
                ref += 8;
        }
    const char *last = strrchr(ref, '/');
    last = last ? last + 1 : ref;
    size_t hex = strspn(ref, "0123456789abcdef");
    const char *pre = hex == 64 && ref[64] == '\0' ? "sha256:" : "";
    const char *tag = *pre || strchr(last, ':') || strchr(ref, '@') ? "" : ":latest";
    c->http = 404;
    return eng_fail(c, PROTO_ENOTFOUND, "No such image: %s%.300s%s", pre, ref, tag);
}

/* The name an image-tag or commit writes, repo and tag.  It must be under
 * the cluster's commit prefix, allowed by the image list, and free or an
 * image this publisher committed.  Re-pointing `busybox:latest`, or a name
 * someone else committed to, would change what their runs run. */
static hres check_target(jctx *c, const char *repo, const char *tag)
{
    const dd_policy *p = c->rules->policy;
    proto_error perr;
    proto_error_clear(&perr);
    if (!p->scope_host && policy_check_commit_repo(p, c->e->conf.cluster, repo, &perr) != 0) {
        snprintf(c->field, sizeof c->field, "%s", perr.field);
        return eng_fail(c, PROTO_EPOLICY, "%s", perr.message);
    }
    char target[700];
    snprintf(target, sizeof target, "%s:%s", repo ? repo : "", tag && *tag ? tag : "latest");
    hres r = check_image(c, target);
    if (r != H_OK)
        snprintf(c->field, sizeof c->field, "Options.Repo");
    if (r != H_OK || p->scope_host)
        return r;
    img_owner who;
    if ((r = image_owner(c, target, &who)) != H_OK)
        return r;
    if (who == IMG_HOST || who == IMG_OTHERS) {
        snprintf(c->field, sizeof c->field, "Options.Repo");
        return eng_fail(c, PROTO_EPOLICY,
                        "Options.Repo: image %.300s exists and is not one this publisher "
                        "committed: it would be re-pointed (policy scope)",
                        target);
    }
    return H_OK;
}

/* An image image-remove or image-tag (what, for the message) acts on:
 * allowed by the image list and one this publisher committed.  Another's
 * (or none) is not_found; the host's is refused. */
static hres check_image_mine(jctx *c, const char *image, const char *what)
{
    hres r = check_image(c, image);
    if (r != H_OK || c->rules->policy->scope_host)
        return r;
    img_owner who;
    if ((r = image_owner(c, image, &who)) != H_OK)
        return r;
    if (who == IMG_ABSENT || who == IMG_OTHERS)
        return eng_no_such_image(c, image);
    if (who == IMG_HOST) {
        snprintf(c->field, sizeof c->field, "Image");
        return eng_fail(c, PROTO_EPOLICY,
                        "Image: image %.300s is the host's, not one this cluster committed: it "
                        "cannot be %s (policy scope)",
                        image, what);
    }
    return H_OK;
}

hres eng_scope_check_image_use(jctx *c, const char *image)
{
    if (image == NULL || c->rules->policy->scope_host)
        return H_OK;
    json_t *ins = NULL;
    int rc = dkc_image_inspect(c->cli, image, &ins);
    img_owner who =
        rc == 0 ? owner_by_labels(c, json_object_get(json_object_get(ins, "Config"), "Labels"))
                : IMG_ABSENT;
    json_decref(ins);
    if (rc != 0)
        return eng_dfail(c, rc); /* none: Docker's not_found, as a create would say */
    return who == IMG_OTHERS ? eng_no_such_image(c, image) : H_OK;
}

hres eng_scope_check_pull(jctx *c, const char *ref)
{
    if (c->rules->policy->scope_host)
        return H_OK;
    img_owner who;
    hres r = image_owner(c, ref, &who);
    if (r != H_OK || who != IMG_OTHERS)
        return r;
    /* the pull would re-point another's committed image: answered as a
     * pull the registry could not serve, so that it tells nothing */
    c->http = 404;
    return eng_fail(c, PROTO_ENOTFOUND, "pulling %.200s failed", ref);
}

/* Docker reads a filters object in one form or the other, never both:
 * {"k":["v"]} or the older {"k":{"v":true}} (a mix is refused whole).
 * What the dispatcher adds (its cluster's label, resolved before and
 * since) is in the array form, so every entry given in the object form is
 * turned into the array of its keys first. */
static void filters_as_arrays(json_t *filters)
{
    const char *name;
    json_t *v;
    json_object_foreach(filters, name, v)
    {
        if (!json_is_object(v))
            continue;
        json_t *arr = json_array();
        const char *key;
        json_t *b;
        if (arr == NULL)
            xoom();
        json_object_foreach(v, key, b)
        {
            if (json_array_append_new(arr, json_string(key)) != 0)
                xoom();
        }
        if (json_object_set_new(filters, name, arr) != 0)
            xoom();
    }
}

/* 1 if label filter value s ("key" or "key=value") names a label that
 * holds a reply address. */
static int reply_label(const char *s)
{
    return s && (!strncasecmp(s, LBL "reply-to", strlen(LBL "reply-to")) ||
                 !strncasecmp(s, LBL "correlation-id", strlen(LBL "correlation-id")));
}

/* 1 if a list filter asks about the labels that hold reply addresses
 * (cmd_query.c hides them; a filter would probe them one guess at a time).
 * filters_as_arrays() has put every filter in the array form. */
static int probes_reply_address(const json_t *filters)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(filters, "label"), i, v)
    {
        if (reply_label(json_string_value(v)))
            return 1;
    }
    return 0;
}

int eng_scope_owns(const jctx *c, json_t *labels)
{
    return c->rules->policy->scope_host || may(c, labels);
}

/* The container a list filter's before or since names, resolved among
 * the publisher's own: its full id into *id (malloc'd).  Docker would
 * resolve it among every container of the host and answer an error for a
 * missing one, which would tell whether another's name exists; a missing
 * and a foreign container are answered alike, not_found.  H_OK, H_ERR or
 * H_TRANSIENT. */
static hres container_anchor(jctx *c, const char *key, const char *ref, char **id)
{
    json_t *ins = NULL;
    int rc = ref ? dkc_container_inspect(c->cli, ref, &ins) : DKC_EINVAL;
    const char *full = rc == 0 ? eng_jstr(ins, "Id") : NULL;
    hres r = H_OK;
    if (rc != 0 && rc != DKC_ENOTFOUND && rc != DKC_EINVAL) {
        r = eng_dfail(c, rc);
    } else if (full == NULL || !may(c, json_object_get(json_object_get(ins, "Config"), "Labels"))) {
        c->http = 404;
        snprintf(c->field, sizeof c->field, "Options.Filters.%s", key);
        r = eng_fail(c, PROTO_ENOTFOUND, "No such container: %.200s", ref ? ref : "");
    } else {
        *id = xstrdup(full);
    }
    json_decref(ins);
    return r;
}

/* The image an images filter's before or since names, if the publisher
 * may see it: its id into *id (malloc'd).  Another's committed image is
 * answered as a missing one is, in Docker's words (eng_no_such_image), so
 * that the filter does not tell whether it exists.  H_OK, H_ERR or
 * H_TRANSIENT. */
static hres image_anchor(jctx *c, const char *key, const char *ref, char **id)
{
    (void)key;
    json_t *ins = NULL;
    int rc = ref ? dkc_image_inspect(c->cli, ref, &ins) : DKC_EINVAL;
    const char *full = rc == 0 ? eng_jstr(ins, "Id") : NULL;
    hres r = H_OK;
    if (rc != 0 && rc != DKC_ENOTFOUND && rc != DKC_EINVAL)
        r = eng_dfail(c, rc);
    else if (full == NULL || owner_by_labels(c, json_object_get(json_object_get(ins, "Config"),
                                                                "Labels")) == IMG_OTHERS)
        r = eng_no_such_image(c, ref ? ref : "");
    else
        *id = xstrdup(full);
    json_decref(ins);
    return r;
}

typedef hres (*anchor_fn)(jctx *c, const char *key, const char *ref, char **id);

/* A list's before and since filters, each value replaced by the full id
 * resolve gives it (in the array form Docker reads in every API version),
 * so that they tell nothing of what the publisher may not see. */
static hres resolve_anchors(jctx *c, anchor_fn resolve)
{
    static const char *const keys[] = {"before", "since"};
    for (size_t k = 0; k < 2; k++) {
        json_t *f = json_object_get(c->cmd->filters, keys[k]);
        if (f == NULL)
            continue;
        json_t *ids = json_array();
        if (ids == NULL)
            xoom();
        size_t i;
        const char *key;
        json_t *v;
        hres r = H_OK;
        json_array_foreach(f, i, v)
        {
            char *id = NULL;
            if ((r = resolve(c, keys[k], json_string_value(v), &id)) != H_OK)
                break;
            if (json_array_append_new(ids, json_string(id)) != 0)
                xoom();
            free(id);
        }
        json_object_foreach(json_is_object(f) ? f : NULL, key, v)
        {
            char *id = NULL;
            if (r != H_OK || (r = resolve(c, keys[k], key, &id)) != H_OK)
                break;
            if (json_array_append_new(ids, json_string(id)) != 0)
                xoom();
            free(id);
        }
        if (r != H_OK) {
            json_decref(ids);
            return r;
        }
        eng_set(c->cmd->filters, keys[k], ids);
    }
    return H_OK;
}

void eng_scope_filter_list(const jctx *c, json_t *list)
{
    if (!c->rules->policy->scope_host)
        keep_visible(c, list);
}

/* The images c's command changes or writes, under any scope: held to the
 * image list, and (scope cluster) only the publisher's changed or
 * re-pointed.  H_OK, H_ERR or H_TRANSIENT. */
static hres check_images(jctx *c, const engine_cmd *d)
{
    hres r = H_OK;
    if (d->target == ENG_TARGET_IMAGE && d->changes != NULL)
        r = check_image_mine(c, c->cmd->image, d->changes);
    if (r == H_OK && (d->flags & ENG_CMD_WRITES_IMAGE))
        r = check_target(c, c->cmd->repo, c->cmd->tag);
    return r;
}

/* The scope check of each kind of object: how one a command names is
 * resolved, how a list's before and since are, and whether Docker lists
 * only the cluster's.  Images carry no cluster label: their lists are
 * trimmed by their commit labels once listed (cmd_query.c). */
static const struct kind_scope {
    hres (*resolve)(jctx *c);
    anchor_fn anchor;
    bool cluster_filter;
} kinds[] = {
    [ENG_TARGET_NONE] = {NULL, NULL, false},
    [ENG_TARGET_CONTAINER] = {resolve_container, container_anchor, true},
    [ENG_TARGET_VOLUME] = {resolve_volume, NULL, true},
    [ENG_TARGET_NETWORK] = {resolve_network, NULL, true},
    [ENG_TARGET_IMAGE] = {NULL, image_anchor, false},
};

/* A list of kind k: its anchors resolved, the cluster's label added to
 * its filters when Docker can filter by it. */
static hres scope_list(jctx *c, const struct kind_scope *k)
{
    hres r = k->anchor ? resolve_anchors(c, k->anchor) : H_OK;
    if (r == H_OK && k->cluster_filter)
        add_cluster_filter(c->e, &c->cmd->filters);
    return r;
}

/* The labels of an object c's command makes: this cluster's, and the
 * publisher's user. */
static void label_new(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    if (cmd->labels == NULL && (cmd->labels = json_object()) == NULL)
        xoom();
    eng_set(cmd->labels, LBL "cluster", json_string(c->e->conf.cluster));
    if (c->d->user_id)
        eng_set(cmd->labels, LBL "user", json_string(c->d->user_id));
}

hres eng_scope_check(jctx *c)
{
    static const engine_cmd none = {.kind = PROTO_CMD_NONE};
    const engine_cmd *d = c->desc ? c->desc : &none;
    proto_cmd *cmd = c->cmd;
    filters_as_arrays(cmd->filters);
    if ((d->flags & ENG_CMD_LIST) && d->target == ENG_TARGET_CONTAINER &&
        probes_reply_address(cmd->filters)) {
        snprintf(c->field, sizeof c->field, "Options.Filters");
        return eng_fail(c, PROTO_EPOLICY, "labels of reply addresses cannot be filtered on");
    }
    if (c->rules->policy->require_user_id && c->d->user_id == NULL) {
        snprintf(c->field, sizeof c->field, "user_id");
        return eng_fail(c, PROTO_EPOLICY,
                        "user_id: messages must carry an AMQP user_id (policy require_user_id)");
    }
    hres r = check_images(c, d);
    if (r != H_OK || c->rules->policy->scope_host)
        return r;
    const struct kind_scope *k = &kinds[d->target];
    if (d->flags & ENG_CMD_LIST)
        return scope_list(c, k);
    if (d->flags & ENG_CMD_LABELS_NEW) {
        label_new(c);
        return H_OK;
    }
    r = k->resolve ? k->resolve(c) : H_OK;
    return r == H_OK && (d->flags & ENG_CMD_JOIN) ? resolve_container(c) : r;
}

/* Checks the named volume one mount names (the first len bytes of spec):
 * H_OK when the publisher may mount it, else policy_denied naming field
 * (the same for a missing, a foreign and an invalid name), or
 * H_TRANSIENT.  seen holds the names found to be the publisher's, each
 * inspected once. */
static hres check_mounted_volume(jctx *c, const char *spec, size_t len, const char *field,
                                 json_t *seen)
{
    char name[256] = "";
    int mine = 0;
    if (len > 0 && len < sizeof name) {
        memcpy(name, spec, len);
        name[len] = '\0';
        if (json_object_get(seen, name) != NULL)
            return H_OK;
        json_t *ins = NULL;
        int rc = dkc_volume_inspect(c->cli, name, &ins);
        mine = rc == 0 && may(c, json_object_get(ins, "Labels"));
        json_decref(ins);
        if (rc != 0 && rc != DKC_ENOTFOUND && rc != DKC_EINVAL)
            return eng_dfail(c, rc);
        if (mine && json_object_set_new_nocheck(seen, name, json_true()) != 0)
            xoom();
    }
    if (mine)
        return H_OK;
    snprintf(c->field, sizeof c->field, "%s", field);
    return eng_fail(c, PROTO_EPOLICY,
                    "%s: volume %.100s is not one this cluster made (make it with "
                    "volume-create; policy scope)",
                    field, len < sizeof name ? name : spec);
}

/* The named volumes a create body mounts (Binds "name:/path", Mounts of
 * type volume with a Source), each of which must be this cluster's: a
 * volume someone else made can be a host directory in disguise (the local
 * driver's bind options).  Every entry is checked, however many there
 * are.  H_OK, or H_ERR (policy_denied, the same for a missing and a
 * foreign volume) or H_TRANSIENT. */
hres eng_scope_check_volumes(jctx *c, json_t *body)
{
    if (c->rules->policy->scope_host)
        return H_OK;
    json_t *hc = proto_json_get_ci(body, "HostConfig");
    json_t *seen = json_object();
    if (seen == NULL)
        xoom();
    hres r = H_OK;
    size_t i;
    json_t *v;
    json_array_foreach(proto_json_get_ci(hc, "Binds"), i, v)
    {
        const char *s = json_string_value(v);
        if (s && s[0] != '/' &&
            (r = check_mounted_volume(c, s, strcspn(s, ":"), "HostConfig.Binds", seen)) != H_OK)
            goto out;
    }
    json_array_foreach(proto_json_get_ci(hc, "Mounts"), i, v)
    {
        const char *type = json_string_value(proto_json_get_ci(v, "Type"));
        const char *src = json_string_value(proto_json_get_ci(v, "Source"));
        if (type && !strcmp(type, "volume") && src && *src &&
            (r = check_mounted_volume(c, src, strlen(src), "HostConfig.Mounts", seen)) != H_OK)
            goto out;
    }
out:
    json_decref(seen);
    return r;
}
