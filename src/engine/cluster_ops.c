/*
 * cluster_ops.c -- the engine's side of the cluster: forwarding a command
 * to the node that owns its container (the routes that make that work are
 * supervision's, supervise.c), cluster-wide queries, and the commands
 * about nodes.
 *
 * A command naming a container can be taken from the shared work queue by
 * any node.  The node that takes it and does not have the container
 * forwards the message, unchanged, to <q>.containers with the container's
 * id as routing key.  While the view has other nodes, each node binds its
 * queue there with the full id and the short id of each of its containers.
 * It adds them when it makes one, and reconciles them on every supervision
 * pass and when the view changes.  RabbitMQ then hands the message to the
 * owner, whose reply goes straight to the client.  A message for an id no
 * node bound comes back (mandatory publish): a container made while its
 * node was alone, before the pass that binds it.  Its owner is then found
 * by asking the nodes, as for a name, and the message is forwarded to the
 * owner's own queue.  No owner: not_found.  A
 * forwarded message carries x-dd-hop, so it is forwarded at most once.  A
 * name or another id prefix is first resolved by asking every node which
 * of its containers it names (one owner: forwarded by full id; several:
 * conflict).
 *
 * Who sent a forwarded message.  RabbitMQ lets a connection publish only
 * with its own user_id, so the forwarding node publishes as itself and
 * puts the original user_id in x-dd-user.  A receiving node believes
 * x-dd-user only from messages whose verified user_id is the dispatchers'
 * own RabbitMQ user (engine_conf.amqp_user), which publishers must not
 * share.  The same holds for every header between nodes (cluster.h): a
 * message from anyone else that carries one is refused before it is read
 * (eng_check_headers).  From the dispatchers, each value must have its
 * form.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "engine_internal.h"

static int has_header(const broker_delivery *d, const char *k)
{
    return broker_delivery_header(d, k) != NULL;
}

/* 1 if d's user_id is the dispatchers' own RabbitMQ user. */
static int from_dispatcher(const engine *e, const broker_delivery *d)
{
    return d->user_id && e->conf.amqp_user && strcmp(d->user_id, e->conf.amqp_user) == 0;
}

/* x-dd-part says "1". */
static int part_ok(const char *v)
{
    return strcmp(v, "1") == 0;
}

/* An incarnation: a start time in ns, 1 to 19 decimal digits. */
static int incarnation_ok(const char *v)
{
    size_t n = strspn(v, "0123456789");
    return n > 0 && n <= 19 && v[n] == '\0';
}

/* The headers between nodes (cluster.h) and the form of each value. */
static const struct {
    const char *key;
    int (*ok)(const char *v);
    const char *form;
} cluster_headers[] = {
    {CLUSTER_H_PART, part_ok, "\"1\""},
    {CLUSTER_H_HOP, broker_name_ok, "a node name"},
    {CLUSTER_H_USER, eng_rid_ok, "1 to 200 bytes of UTF-8 without control characters"},
    {CLUSTER_H_FROM, broker_name_ok, "a node name"},
    {CLUSTER_H_INCARNATION, incarnation_ok, "1 to 19 decimal digits"},
};
#define N_CLUSTER_HEADERS (sizeof cluster_headers / sizeof cluster_headers[0])

/* Fills perr as a bad_request naming field; returns -1. */
static int refused(proto_error *perr, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refused(proto_error *perr, const char *field, const char *fmt, ...)
{
    proto_error_clear(perr);
    perr->code = PROTO_EBADREQUEST;
    perr->code_name = proto_code_name(PROTO_EBADREQUEST);
    snprintf(perr->field, sizeof perr->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(perr->message, sizeof perr->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* 1 if the property s is absent, empty, or text as a request id is. */
static int prop_text_ok(const char *s)
{
    return s == NULL || *s == '\0' || eng_rid_ok(s);
}

int eng_check_headers(const engine *e, const broker_delivery *d, proto_error *perr)
{
    if (d->bad_property != NULL)
        return refused(perr, d->bad_property, "the %s property holds a NUL byte", d->bad_property);
    if (!prop_text_ok(d->content_type) || !prop_text_ok(d->type))
        return refused(perr, prop_text_ok(d->type) ? "content_type" : "type",
                       "content_type and type must be at most 200 bytes of UTF-8 without "
                       "control characters");
    if (d->headers_over > 0)
        return refused(perr, "headers", "more than %d headers (%zu more), counting RabbitMQ's own",
                       BROKER_MAX_HEADERS, d->headers_over);
    unsigned seen = 0;
    for (size_t i = 0; i < d->n_headers; i++) {
        size_t k = 0;
        while (k < N_CLUSTER_HEADERS && strcmp(d->headers[i].key, cluster_headers[k].key) != 0)
            k++;
        if (k == N_CLUSTER_HEADERS)
            continue; /* not read */
        char field[64];
        snprintf(field, sizeof field, "headers.%s", cluster_headers[k].key);
        if (!from_dispatcher(e, d))
            return refused(perr, field,
                           "%s is a header between dispatchers: only their own RabbitMQ user "
                           "may send it",
                           cluster_headers[k].key);
        const char *v = d->headers[i].value;
        if (v == NULL || !cluster_headers[k].ok(v))
            return refused(perr, field, "%s must be %s", cluster_headers[k].key,
                           cluster_headers[k].form);
        if (seen & (1u << k))
            return refused(perr, field, "%s is given twice", cluster_headers[k].key);
        seen |= 1u << k;
    }
    return 0;
}

const char *eng_original_user(const engine *e, const broker_delivery *d)
{
    int forwarded = has_header(d, CLUSTER_H_HOP) || has_header(d, CLUSTER_H_PART);
    if (forwarded && from_dispatcher(e, d))
        return broker_delivery_header(d, CLUSTER_H_USER);
    return d->user_id;
}

int eng_from_cluster(engine *e, broker_delivery *d)
{
    const char *u = eng_original_user(e, d);
    if (u != d->user_id) {
        char *own = u ? xstrdup(u) : NULL;
        free(d->user_id);
        d->user_id = own;
    }
    const char *from = broker_delivery_header(d, CLUSTER_H_FROM);
    if (has_header(d, CLUSTER_H_PART) && from && !strcmp(from, e->conf.node)) {
        eng_post(e, engine_out_ack(d->tag));
        return 1;
    }
    return 0;
}

int eng_may_forward(const jctx *c)
{
    cluster *cl = c->e->conf.members;
    if (cl == NULL || c->d->source != BROKER_SRC_WORK || has_header(c->d, CLUSTER_H_HOP) ||
        has_header(c->d, CLUSTER_H_PART))
        return 0;
    return cluster_size(cl) > 1;
}

/* 1 if s is all lower-case hex. */
static int is_hex(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return 0;
    return 1;
}

void eng_cluster_publish(void *ud, const cluster_msg *m)
{
    engine_out *o =
        engine_out_publish(m->node ? ENGINE_TO_NODE : ENGINE_TO_ALL, m->node, m->node ? NULL : "",
                           m->correlation_id, m->message_id, xstrdup(m->body));
    for (size_t i = 0; i < m->n_headers; i++)
        engine_out_add_header(o, m->headers[i].key, m->headers[i].value);
    eng_post(ud, o);
}

void eng_ask_all(jctx *c, const char *body, json_t **answers, json_t **missing)
{
    cluster_ask_all(c->e->conf.members, eng_cluster_publish, c->e, c->d->user_id, body,
                    c->e->conf.gather_ms, answers, missing);
}

/* The message c carries, as text (NUL-terminated, free()). */
static char *part_body(const jctx *c)
{
    char *b = xmalloc(c->d->len + 1);
    memcpy(b, c->d->body, c->d->len);
    b[c->d->len] = '\0';
    return b;
}

/* Asks every other node for the containers (in the publisher's scope)
 * that ref names by id prefix (by_id) or by exact name, and puts their
 * full ids and owners into found ({id: node}). */
static void ask_owners(jctx *c, const char *ref, int by_id, json_t *found)
{
    char body[512];
    snprintf(
        body, sizeof body,
        "{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,\"Filters\":{\"%s\":[\"%s%s%s\"]}}}",
        by_id ? "id" : "name", by_id ? "" : "^/", ref, by_id ? "" : "$");
    json_t *answers, *missing;
    eng_ask_all(c, body, &answers, &missing);
    char want[300];
    snprintf(want, sizeof want, "/%s", ref);
    const char *node;
    json_t *r;
    json_object_foreach(answers, node, r)
    {
        size_t i, j;
        json_t *ct, *nm;
        json_array_foreach(json_object_get(r, "result"), i, ct)
        {
            const char *id = eng_jstr(ct, "Id");
            int match = 0;
            if (id && by_id)
                match = strncmp(id, ref, strlen(ref)) == 0;
            json_array_foreach(json_object_get(ct, "Names"), j, nm)
            {
                const char *name = json_string_value(nm);
                if (!by_id && name && strcmp(name, want) == 0)
                    match = 1;
            }
            if (id && match)
                eng_set(found, id, json_string(node));
        }
    }
    json_decref(answers);
    json_decref(missing);
}

/* Finds the node that has the container c names, among the others: by
 * id prefix when the reference is hex, else (or when no id matched) by
 * name.  H_FORWARD to it by full id; not_found for none; conflict when
 * several containers answer to it (names are unique per Docker host, not
 * per cluster). */
static hres resolve_owner(jctx *c)
{
    const char *ref = c->cmd->container;
    json_t *found = json_object();
    if (found == NULL)
        xoom();
    if (is_hex(ref))
        ask_owners(c, ref, 1, found);
    if (json_object_size(found) == 0)
        ask_owners(c, ref, 0, found);
    size_t n = json_object_size(found);
    const char *id = NULL;
    json_t *v;
    json_object_foreach(found, id, v)
    {
        snprintf(c->fwd_key, sizeof c->fwd_key, "%s", id);
        /* its id is not bound (or was not a moment ago): to the node's own
         * queue */
        if (c->unrouted)
            snprintf(c->fwd_node, sizeof c->fwd_node, "%s", json_string_value(v));
        break;
    }
    json_decref(found);
    if (n == 1)
        return H_FORWARD;
    if (n > 1) {
        c->http = 409;
        return eng_fail(c, PROTO_ECONFLICT, "%.100s names %zu containers of the cluster", ref, n);
    }
    c->http = 404;
    return eng_fail(c, PROTO_ENOTFOUND, "No such container: %.200s", ref);
}

hres eng_forward_container(jctx *c)
{
    const char *ref = c->cmd->container;
    size_t len = strlen(ref);
    if (is_hex(ref) && (len == 12 || len == 64) && !c->unrouted) {
        /* ids are bound on <q>.containers by their owner: one hop */
        snprintf(c->fwd_key, sizeof c->fwd_key, "%s", ref);
        return H_FORWARD;
    }
    return resolve_owner(c);
}

void eng_post_forward(jctx *c)
{
    engine *e = c->e;
    /* the answer when no node has it */
    proto_reply_info ri;
    proto_reply_info_init(&ri, c->cmd, NULL, e->conf.node, c->request_id);
    char msg[400];
    int about_node = c->fwd_node[0] && !c->unrouted; /* a command about a node */
    snprintf(msg, sizeof msg, "No such %s: %.300s", about_node ? "node" : "container",
             about_node ? c->fwd_node : c->fwd_key);
    json_t *r = proto_reply_error(&ri, PROTO_ENOTFOUND, msg, NULL, 404);
    char *body = r ? json_dumps(r, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(r);
    if (body == NULL)
        xoom();
    uint64_t tag = c->d->tag;
    /* the delivery is moved: the worker's copy is zeroed but for its tag */
    engine_out *o = c->fwd_node[0]
                        ? engine_out_forward(ENGINE_TO_NODE, c->fwd_node, "", c->d, body)
                        : engine_out_forward(ENGINE_TO_CONTAINERS, NULL, c->fwd_key, c->d, body);
    c->d->tag = tag;
    engine_out_add_header(o, CLUSTER_H_HOP, e->conf.node);
    if (o->forward.dl->user_id)
        engine_out_add_header(o, CLUSTER_H_USER, o->forward.dl->user_id);
    log_msg(LOG_LVL_INFO, "forwarded to %s %.100s", c->fwd_node[0] ? "node" : "the owner of",
            c->fwd_node[0] ? c->fwd_node : c->fwd_key);
    eng_post(e, o);
}

/* ---- the view ---- */

void engine_view_changed(engine *e)
{
    eng_sup_soon(e, 0);
}

/* ---- cluster-wide queries ---- */

/* Adds "Node": node to every object of array items. */
static void tag_node(json_t *items, const char *node)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (json_is_object(it))
            eng_set(it, "Node", json_string(node));
    }
}

hres eng_cluster_query(jctx *c)
{
    hres r = eng_handle_query(c);
    if (r != H_OK || !c->cmd->cluster || has_header(c->d, CLUSTER_H_PART) ||
        c->e->conf.members == NULL)
        return r;
    const char *what = c->desc->target == ENG_TARGET_IMAGE ? "images" : "containers";
    json_t *items = c->result;
    c->result = NULL;
    tag_node(items, c->e->conf.node);
    json_t *nodes = json_pack("[s]", c->e->conf.node);
    json_t *answers, *missing;
    char *body = part_body(c);
    eng_ask_all(c, body, &answers, &missing);
    free(body);
    const char *node;
    json_t *reply;
    json_object_foreach(answers, node, reply)
    {
        json_t *part = json_object_get(reply, "result");
        if (!json_is_true(json_object_get(reply, "ok")) || !json_is_array(part)) {
            json_array_append_new(missing, json_string(node));
            continue;
        }
        tag_node(part, node);
        json_array_extend(items, part);
        json_array_append_new(nodes, json_string(node));
    }
    json_decref(answers);
    c->result = json_pack("{s:o, s:o, s:o}", what, items, "nodes", nodes, "missing", missing);
    if (c->result == NULL)
        xoom();
    return H_OK;
}

/* ---- nodes, register, unregister ---- */

static hres h_nodes(jctx *c)
{
    if (c->e->conf.members == NULL) {
        c->result = json_pack("[{s:s, s:b}]", "name", c->e->conf.node, "self", 1);
        if (c->result == NULL)
            xoom();
        return H_OK;
    }
    c->result = cluster_nodes_json(c->e->conf.members, cluster_now_ms());
    if (c->result == NULL)
        xoom();
    /* this node's own row with its figures now, not as of its last
     * heartbeat (up to a minute old when it is alone: cluster.h) */
    cluster_load l;
    engine_load(c->e, &l);
    size_t i;
    json_t *n;
    json_array_foreach(c->result, i, n)
    {
        if (!json_is_true(json_object_get(n, "self")))
            continue;
        eng_set(n, "running", json_integer(l.running));
        eng_set(n, "containers", json_integer(l.containers));
        eng_set(n, "inflight", json_integer(l.inflight));
        eng_set(n, "docker", json_boolean(l.docker));
        eng_set(n, "seen_ms_ago", json_integer(0));
    }
    return H_OK;
}

hres eng_check_admin(jctx *c)
{
    const char *user = c->d->user_id;
    if (c->desc == NULL || !c->desc->admin || policy_is_admin(c->rules->policy, user))
        return H_OK;
    snprintf(c->field, sizeof c->field, "user_id");
    return eng_fail(c, PROTO_EPOLICY,
                    "%s changes a node: only the policy's admin_users may send it (%s%.100s%s)",
                    proto_cmd_name(c->cmd), user ? "user " : "the message has no user_id",
                    user ? user : "", user ? " is not one" : "");
}

/* register (drain 0) / unregister (drain 1) of node hostname: this node
 * acts, another node is sent the message, an unknown one is not_found.
 * Only admin users get here (eng_check_admin). */
static hres drain_node(jctx *c, int drain)
{
    engine *e = c->e;
    const char *host = c->cmd->hostname;
    if (strcmp(host, e->conf.node) == 0) {
        eng_post(e, engine_out_drain(drain));
        log_msg(LOG_LVL_INFO, "%s: %s", drain ? "unregister" : "register",
                drain ? "draining: no more shared work" : "taking shared work again");
        c->result = json_null();
        return H_OK;
    }
    if (e->conf.members && cluster_has(e->conf.members, host) && c->d->source == BROKER_SRC_WORK &&
        !has_header(c->d, CLUSTER_H_HOP)) {
        snprintf(c->fwd_node, sizeof c->fwd_node, "%s", host);
        return H_FORWARD;
    }
    c->http = 404;
    return eng_fail(c, PROTO_ENOTFOUND, "No such node: %.200s", host);
}

static hres h_register(jctx *c)
{
    return drain_node(c, 0);
}

static hres h_unregister(jctx *c)
{
    return drain_node(c, 1);
}

const engine_cmd eng_cmd_nodes = {.kind = PROTO_CMD_NODES, .handle = h_nodes};
const engine_cmd eng_cmd_register = {.kind = PROTO_CMD_REGISTER, .handle = h_register, .admin = 1};
const engine_cmd eng_cmd_unregister = {
    .kind = PROTO_CMD_UNREGISTER, .handle = h_unregister, .admin = 1};

void engine_load(engine *e, cluster_load *out)
{
    memset(out, 0, sizeof *out);
    eng_sup_load(e, out);
    out->containers += eng_quota_creating(e);
    out->inflight = eng_jobs_busy(e);
    eng_rules *r = eng_rules_take(e);
    out->capacity = r->policy->max_containers;
    eng_rules_drop(e, r);
}

static void hook_load(void *ud, cluster_load *out)
{
    engine_load(ud, out);
}

static int hook_adopt(void *ud, char *const *names)
{
    return engine_adopt(ud, names);
}

static void hook_view_changed(void *ud)
{
    engine_view_changed(ud);
}

static void hook_fence(void *ud, int hold_ms)
{
    engine_fence(ud, hold_ms);
}

void engine_cluster_hooks(engine *e, cluster_hooks *out)
{
    *out = (cluster_hooks){.load = hook_load,
                           .adopt = hook_adopt,
                           .view_changed = hook_view_changed,
                           .fence = hook_fence,
                           .ud = e};
}
