/*
 * bulk.c -- `instances: N`, the engine's side (DESIGN.md "Bulk").  The
 * cluster places the pieces, sends them and places again what fails
 * (src/cluster/pieces.c).  Here: the body each piece carries, the pieces
 * a redelivered request made already, progress and the reply.  A piece
 * placed on an earlier process of this node is refused, and one such a
 * process made that another node made since is removed.  Bulk requests
 * also share the workers here: at most workers - 1 run at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "engine_internal.h"

hres eng_check_incarnation(jctx *c)
{
    const char *inc = broker_delivery_header(c->d, CLUSTER_H_INCARNATION);
    cluster *cl = c->e->conf.members;
    if (inc == NULL || cl == NULL || strtoll(inc, NULL, 10) == cluster_incarnation(cl))
        return H_OK;
    return eng_fail(c, PROTO_EUNAVAILABLE,
                    "this piece was placed on an earlier process of node %s; it is placed again "
                    "elsewhere",
                    c->e->conf.node);
}

/* The message without its instance count: what each piece carries. */
static char *piece_body(const jctx *c)
{
    json_t *m = json_loadb((const char *)c->d->body, c->d->len, 0, NULL);
    if (m == NULL)
        xoom(); /* it parsed a moment ago */
    json_object_del(m, "instances");
    json_object_del(m, "placement");
    json_object_del(m, "progress");
    json_t *opt = json_object_get(m, "Options");
    json_object_del(opt, "Instances");
    json_object_del(opt, "Placement");
    json_object_del(opt, "Progress");
    char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (s == NULL)
        xoom();
    return s;
}

/* A redelivered bulk request: the pieces some node made already (by their
 * request label <rid>.<k>) are done. */
static void find_made(jctx *c, cluster_bulk *b)
{
    json_t *answers = NULL, *missing = NULL;
    eng_ask_all(c,
                "{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,\"Filters\":{\"label\":[\"" LBL
                "request\"]}}}",
                &answers, &missing);
    json_t *mine = NULL;
    dkc_list_opts lo = {.all = true, .filters = eng_owner_filter(c->e)};
    if (dkc_container_list(c->cli, &lo, &mine) == 0)
        eng_set(answers, c->e->conf.node, json_pack("{s:o}", "result", mine));
    json_decref(lo.filters);
    const char *rid = cluster_bulk_rid(b);
    size_t plen = strlen(rid);
    const char *node;
    json_t *r;
    json_object_foreach(answers, node, r)
    {
        size_t i;
        json_t *ct;
        json_array_foreach(json_object_get(r, "result"), i, ct)
        {
            json_t *labels = json_object_get(ct, "Labels");
            const char *req = eng_label(labels, "request");
            if (!req || strncmp(req, rid, plen) || req[plen] != '.' ||
                !eng_same_user(labels, c->d->user_id))
                continue; /* request ids are per user (requests.c) */
            const char *name = json_string_value(json_array_get(json_object_get(ct, "Names"), 0));
            cluster_bulk_made(b, (int)strtol(req + plen + 1, NULL, 10), node,
                              json_object_get(ct, "Id"), name && *name == '/' ? name + 1 : name);
        }
    }
    json_decref(answers);
    json_decref(missing);
}

/* With Options.Progress (cluster_bulk_conf.done): one progress message
 * per piece done, {"piece": k, "of": n, "done": pieces done, "node",
 * "ok", "id", "error": code}; each is a milestone (at most n of them). */
static void tell_done(void *ud, int k, int n, int done, const char *node, const json_t *r)
{
    jctx *c = ud;
    int64_t last = 0;
    if (!eng_progress_due(c, &last, true))
        return;
    eng_post_progress(c, json_pack("{s:i, s:i, s:i, s:s, s:b, s:O?, s:O?}", "piece", k, "of", n,
                                   "done", done, "node", node, "ok",
                                   json_is_true(json_object_get(r, "ok")), "id",
                                   json_object_get(r, "id"), "error",
                                   json_object_get(json_object_get(r, "error"), "code")));
}

/* The engine's way out for a bulk's pieces (cluster_publish_fn). */
static void publish_piece(void *ud, const cluster_msg *m)
{
    eng_cluster_publish(((jctx *)ud)->e, m);
}

hres eng_bulk(jctx *c)
{
    engine *e = c->e;
    cluster *cl = e->conf.members;
    if (cl == NULL)
        return eng_fail(c, PROTO_EUNSUPPORTED, "instances need the cluster");
    /* Just started, this node's view may have only itself: placing now
     * would put every piece here, and a redelivered request would miss the
     * pieces other nodes made.  The view has the others after gather_ms
     * (the sweep of orphan pieces waits as long). */
    cluster_wait_until(cl, e->started_ms + e->conf.gather_ms); /* eng_now_ms is its clock */
    char *body = piece_body(c);
    cluster_bulk_conf bc = {.n = c->cmd->instances,
                            .binpack = c->cmd->placement && !strcmp(c->cmd->placement, "binpack"),
                            .rid = c->request_id,
                            .body = body,
                            .user = c->d->user_id,
                            .skip_self = e->n_workers < 2, /* its only worker is this one */
                            .publish = publish_piece,
                            .ud = c,
                            .done = c->cmd->progress ? tell_done : NULL};
    cluster_bulk *b = cluster_bulk_new(cl, &bc);
    free(body);
    if (c->d->redelivered)
        find_made(c, b);
    cluster_bulk_run(b, cluster_now_ms() + e->conf.bulk_ms);
    int created = 0;
    c->result = cluster_bulk_result(b, &created);
    log_msg(LOG_LVL_INFO, "bulk %s: %d of %d pieces made", cluster_bulk_rid(b), created, bc.n);
    cluster_bulk_free(b);
    return H_OK;
}

/* The piece containers of other nodes, as user_id sees them: a set of
 * their request ids. */
static json_t *pieces_elsewhere(engine *e, dkc_client *cli, const char *user_id)
{
    broker_delivery d;
    memset(&d, 0, sizeof d);
    d.user_id = (char *)user_id; /* borrowed: d is never cleaned up */
    jctx c = {.e = e, .rules = eng_rules_take(e), .cli = cli, .d = &d};
    json_t *answers = NULL, *missing = NULL;
    eng_ask_all(&c,
                "{\"Dockercmd\":\"list\",\"Options\":{\"All\":true,\"Filters\":{\"label\":[\"" LBL
                "piece\"]}}}",
                &answers, &missing);
    json_t *set = json_object();
    if (set == NULL)
        xoom();
    const char *node;
    json_t *r;
    json_object_foreach(answers, node, r)
    {
        size_t i;
        json_t *ct;
        json_array_foreach(json_object_get(r, "result"), i, ct)
        {
            const char *req = eng_label(json_object_get(ct, "Labels"), "request");
            if (req)
                eng_set(set, req, json_string(node));
        }
    }
    json_decref(answers);
    json_decref(missing);
    eng_rules_drop(e, c.rules);
    return set;
}

void eng_sweep_pieces(engine *e, dkc_client *cli)
{
    cluster *cl = e->conf.members;
    if (cl == NULL)
        return;
    char inc[32];
    snprintf(inc, sizeof inc, "%" PRId64, cluster_incarnation(cl));
    dkc_list_opts lo = {.all = true, .filters = eng_owner_filter(e)};
    json_t *arr = NULL;
    int rc = dkc_container_list(cli, &lo, &arr);
    json_decref(lo.filters);
    if (rc != 0)
        return;
    json_t *users = json_object(); /* user ("" anonymous) -> their pieces elsewhere */
    if (users == NULL)
        xoom();
    size_t i;
    json_t *ct;
    json_array_foreach(arr, i, ct)
    {
        json_t *labels = json_object_get(ct, "Labels");
        const char *made_by = eng_label(labels, "piece");
        const char *req = eng_label(labels, "request");
        const char *id = eng_jstr(ct, "Id");
        if (!made_by || !req || !id || !strcmp(made_by, inc))
            continue;
        const char *user = eng_label(labels, "user");
        json_t *elsewhere = json_object_get(users, user ? user : "");
        if (elsewhere == NULL) {
            elsewhere = pieces_elsewhere(e, cli, user);
            eng_set(users, user ? user : "", elsewhere);
        }
        const char *other = json_string_value(json_object_get(elsewhere, req));
        if (other == NULL)
            continue;
        log_msg(LOG_LVL_WARN,
                "container %.12s of piece %s was made by an earlier process of this node that "
                "went away before answering; node %s made the piece since: removed here",
                id, req, other);
        rc = dkc_container_remove(cli, id, true, true);
        if (rc != 0 && rc != DKC_ENOTFOUND)
            log_msg(LOG_LVL_WARN, "removing %.12s: %s", id, dkc_strerror(rc));
    }
    json_decref(users);
    json_decref(arr);
}

void eng_bulks_init(eng_bulks *b)
{
    pthread_mutex_init(&b->mu, NULL);
    b->running = 0;
    b->parked = b->parked_tail = NULL;
}

void eng_bulks_cleanup(eng_bulks *b)
{
    while (b->parked) {
        job *j = b->parked;
        b->parked = j->next;
        eng_job_free(j);
    }
    pthread_mutex_destroy(&b->mu);
}

job *eng_bulks_take_stale(engine *e, uint32_t gen)
{
    pthread_mutex_lock(&e->bulks.mu);
    job *stale = eng_jobs_unlink_stale(&e->bulks.parked, &e->bulks.parked_tail, gen);
    pthread_mutex_unlock(&e->bulks.mu);
    return stale;
}

int eng_bulk_begin(engine *e, job *j)
{
    eng_bulks *b = &e->bulks;
    int limit = e->n_workers > 1 ? e->n_workers - 1 : 1;
    pthread_mutex_lock(&b->mu);
    int run = j->bulk_slot || b->running < limit;
    if (run && !j->bulk_slot)
        b->running++;
    j->bulk_slot = 0;
    if (!run) {
        j->next = NULL;
        if (b->parked_tail)
            b->parked_tail->next = j;
        else
            b->parked = j;
        b->parked_tail = j;
    }
    pthread_mutex_unlock(&b->mu);
    return run;
}

void eng_bulk_end(engine *e)
{
    eng_bulks *b = &e->bulks;
    pthread_mutex_lock(&b->mu);
    job *next = b->parked;
    if (next) { /* the slot passes to it */
        b->parked = next->next;
        if (b->parked == NULL)
            b->parked_tail = NULL;
        next->bulk_slot = 1;
    } else {
        b->running--;
    }
    pthread_mutex_unlock(&b->mu);
    if (next)
        eng_push_job(e, next);
}
