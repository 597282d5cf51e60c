/*
 * bulk.c -- `instances: N`: one request made into N pieces over the
 * cluster (DESIGN.md "Bulk").
 *
 * The node that takes the request places the pieces from its membership
 * view (spread: fewest containers and work first, so loads end even
 * within one; binpack: the busiest node with room first) and sends each
 * to its node's queue as a request of its own: the same message without
 * `instances`, request id <request id>.<k> (so that a piece is idempotent
 * like any request), answered into a gather.  A piece whose node leaves
 * the view before answering, or answers that it cannot take work
 * (unavailable, docker_unavailable, max_containers), is placed again on
 * another node; each piece carries the incarnation (start time) of the
 * process it was placed on, and a node refuses pieces placed on an
 * earlier process of its own, so a node that comes back after its pieces
 * went elsewhere does not run them too.  A redelivered bulk request first
 * asks every node for the pieces made already.  The reply lists every
 * piece, where it landed and its outcome.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "engine_internal.h"

#define PIECE_ATTEMPTS 4

typedef struct piece {
    char node[256];
    char corr[128];
    int attempts;
    int done;
    int told;       /* a progress message said it is done */
    json_t *record; /* {"node","ok","id","name","warnings","error"?,"result"?} */
} piece;

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
        eng_oom(); /* it parsed a moment ago */
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
        eng_oom();
    return s;
}

/* Sends piece k to p->node. */
static void send_piece(jctx *c, cluster_gather *g, piece *p, int k, const char *rid,
                       const char *body)
{
    cluster *cl = c->e->conf.members;
    p->attempts++;
    snprintf(p->corr, sizeof p->corr, "%s%d.%d", cluster_gather_id(g), k, p->attempts);
    char mid[300];
    snprintf(mid, sizeof mid, "%s.%d", rid, k);
    engine_out *o =
        engine_out_publish(ENGINE_TO_NODE, p->node, NULL, p->corr, mid, eng_xstrdup(body));
    char inc[32];
    snprintf(inc, sizeof inc, "%" PRId64, cluster_started_of(cl, p->node));
    engine_out_add_header(o, CLUSTER_H_PART, "1");
    engine_out_add_header(o, CLUSTER_H_INCARNATION, inc);
    if (c->d->user_id)
        engine_out_add_header(o, CLUSTER_H_USER, c->d->user_id);
    eng_post(c->e, o);
}

/* Places the pieces listed in todo (n of them) over one snapshot of the
 * view, counting the pieces placed here as they go (spread or binpack); a
 * piece never goes back to the node it failed on, and this node takes none
 * when its only worker is the one this request holds.  Pieces no node has
 * room for are done with error unavailable. */
static void place(jctx *c, cluster_gather *g, piece *ps, const int *todo, int n, bool binpack,
                  const char *rid, const char *body)
{
    char *self[2] = {c->e->n_workers < 2 ? (char *)c->e->conf.node : NULL, NULL};
    cluster_slot *slots = NULL;
    size_t ns = cluster_slots(c->e->conf.members, self[0] ? self : NULL, &slots);
    cluster_slot *open = eng_xcalloc(ns ? ns : 1, sizeof *open);
    size_t *at = eng_xcalloc(ns ? ns : 1, sizeof *at); /* open[k] is slots[at[k]] */
    for (int t = 0; t < n; t++) {
        piece *p = &ps[todo[t]];
        size_t k = 0;
        for (size_t i = 0; i < ns; i++)
            if (p->node[0] == '\0' || strcmp(slots[i].name, p->node) != 0) {
                open[k] = slots[i];
                at[k++] = i;
            }
        int where = -1;
        cluster_place_pieces(open, k, 1, binpack, &where);
        if (where < 0) {
            p->done = 1;
            p->record = json_pack("{s:n, s:b, s:{s:s, s:s}}", "node", "ok", 0, "error", "code",
                                  "unavailable", "message", "no node of the cluster has room");
            continue;
        }
        cluster_slot *s = &slots[at[where]];
        s->load++;
        snprintf(p->node, sizeof p->node, "%s", s->name);
        send_piece(c, g, p, todo[t], rid, body);
    }
    free(at);
    free(open);
    cluster_slots_free(slots, ns);
}

/* 1 if the error code of a failed piece means "try another node". */
static int retryable(const char *code, const char *msg)
{
    return code && (!strcmp(code, "unavailable") || !strcmp(code, "docker_unavailable") ||
                    !strcmp(code, "canceled") ||
                    (!strcmp(code, "policy_denied") && msg && strstr(msg, "max_containers")));
}

/* The record of a piece answered by node with reply r. */
static json_t *record_of(const char *node, json_t *r)
{
    json_t *res = json_object_get(r, "result");
    json_t *err = json_object_get(r, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    if (json_is_true(json_object_get(r, "ok"))) {
        json_t *ct = json_object_get(res, "container"); /* run */
        json_t *src = ct ? ct : res;
        return json_pack("{s:s, s:b, s:O?, s:O?, s:O?, s:O?}", "node", node, "ok", 1, "id",
                         json_object_get(src, "id"), "name", json_object_get(src, "name"),
                         "warnings", json_object_get(res, "warnings"), "result", ct ? res : NULL);
    }
    if (code && !strcmp(code, "duplicate")) { /* made by an earlier delivery: it exists */
        json_t *orig = json_object_get(err, "original");
        return json_pack("{s:s, s:b, s:O?, s:n, s:n}", "node", node, "ok", 1, "id",
                         json_object_get(orig, "container"), "name", "warnings");
    }
    return json_pack("{s:s, s:b, s:O?}", "node", node, "ok", 0, "error", err);
}

/* A redelivered bulk request: the pieces some node made already (by their
 * request label <rid>.<k>) are done. */
static void find_made(jctx *c, piece *ps, int n, const char *rid)
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
            int k = (int)strtol(req + plen + 1, NULL, 10);
            if (k < 0 || k >= n || ps[k].done)
                continue;
            const char *name = json_string_value(json_array_get(json_object_get(ct, "Names"), 0));
            ps[k].done = 1;
            snprintf(ps[k].node, sizeof ps[k].node, "%s", node);
            ps[k].record = json_pack("{s:s, s:b, s:O?, s:s?, s:n}", "node", node, "ok", 1, "id",
                                     json_object_get(ct, "Id"), "name",
                                     name && *name == '/' ? name + 1 : name, "warnings");
        }
    }
    json_decref(answers);
    json_decref(missing);
}

/* With Options.Progress: one progress message per piece that is done and
 * not told yet, {"piece": k, "of": n, "done": pieces done, "node", "ok",
 * "id", "error": code}; each is a milestone (at most n of them). */
static void tell_done(jctx *c, piece *ps, int n)
{
    if (!c->cmd->progress)
        return;
    int done = 0;
    for (int k = 0; k < n; k++)
        done += ps[k].done;
    for (int k = 0; k < n; k++) {
        piece *p = &ps[k];
        int64_t last = 0;
        if (!p->done || p->told || !eng_progress_due(c, &last, true))
            continue;
        p->told = 1;
        const json_t *r = p->record;
        eng_post_progress(c, json_pack("{s:i, s:i, s:i, s:s, s:b, s:O?, s:O?}", "piece", k, "of", n,
                                       "done", done, "node", p->node, "ok",
                                       json_is_true(json_object_get(r, "ok")), "id",
                                       json_object_get(r, "id"), "error",
                                       json_object_get(json_object_get(r, "error"), "code")));
    }
}

hres eng_bulk(jctx *c)
{
    engine *e = c->e;
    cluster *cl = e->conf.members;
    if (cl == NULL)
        return eng_fail(c, PROTO_EUNSUPPORTED, "instances need the cluster");
    int n = c->cmd->instances;
    bool binpack = c->cmd->placement && !strcmp(c->cmd->placement, "binpack");
    /* Just started, this node's view may have only itself: placing now
     * would put every piece here, and a redelivered request would miss the
     * pieces other nodes made.  The view has the others after gather_ms
     * (the sweep of orphan pieces waits as long). */
    int64_t wait = e->started_ms + e->conf.gather_ms - eng_now_ms();
    if (wait > 0)
        usleep((useconds_t)wait * 1000);
    char rid[256];
    cluster_gather *g = cluster_gather_new(cl);
    snprintf(rid, sizeof rid, "%s", c->request_id ? c->request_id : cluster_gather_id(g));
    char *body = piece_body(c);
    piece *ps = eng_xcalloc((size_t)n, sizeof *ps);
    int *todo = eng_xcalloc((size_t)n, sizeof *todo);
    if (c->d->redelivered)
        find_made(c, ps, n, rid);
    int nt = 0;
    for (int k = 0; k < n; k++)
        if (!ps[k].done)
            todo[nt++] = k;
    place(c, g, ps, todo, nt, binpack, rid, body);
    int64_t until = cluster_now_ms() + e->conf.bulk_ms;
    size_t seen = 0;
    for (;;) {
        /* answers */
        json_t *got = cluster_gather_answers(cl, g, seen);
        seen += json_array_size(got);
        nt = 0;
        for (size_t i = 0; i < json_array_size(got); i++) {
            json_t *a = json_array_get(got, i);
            const char *corr = json_string_value(json_object_get(a, "corr"));
            for (int k = 0; k < n; k++) {
                piece *p = &ps[k];
                if (p->done || strcmp(p->corr, corr ? corr : ""))
                    continue;
                json_t *r = json_object_get(a, "reply");
                json_t *err = json_object_get(r, "error");
                const char *code = json_string_value(json_object_get(err, "code"));
                int failed_send = json_object_get(a, "failed") != NULL;
                if ((failed_send ||
                     retryable(code, json_string_value(json_object_get(err, "message")))) &&
                    p->attempts < PIECE_ATTEMPTS) {
                    todo[nt++] = k; /* again, elsewhere */
                } else {
                    p->done = 1;
                    p->record = failed_send
                                    ? json_pack("{s:s, s:b, s:{s:s, s:s}}", "node", p->node, "ok",
                                                0, "error", "code", "unavailable", "message",
                                                "the node's queue could not be reached")
                                    : record_of(p->node, r);
                }
            }
        }
        json_decref(got);
        /* pieces whose node left the view */
        for (int k = 0; k < n; k++) {
            piece *p = &ps[k];
            int queued = 0;
            for (int t = 0; t < nt; t++)
                queued |= todo[t] == k;
            if (!p->done && !queued && !cluster_has(cl, p->node)) {
                log_msg(LOG_LVL_WARN, "bulk %s: node %s left the view: piece %d placed again", rid,
                        p->node, k);
                todo[nt++] = k;
            }
        }
        if (nt > 0)
            place(c, g, ps, todo, nt, binpack, rid, body);
        tell_done(c, ps, n);
        int open = 0;
        for (int k = 0; k < n; k++)
            open += !ps[k].done;
        if (open == 0 || cluster_now_ms() >= until)
            break;
        cluster_gather_wait(cl, g, seen, until);
    }
    int created = 0;
    json_t *list = json_array();
    if (list == NULL)
        eng_oom();
    for (int k = 0; k < n; k++) {
        piece *p = &ps[k];
        if (!p->done)
            p->record = json_pack("{s:s, s:b, s:{s:s, s:s}}", "node", p->node, "ok", 0, "error",
                                  "code", "timeout", "message", "no answer before the deadline");
        if (p->record == NULL)
            eng_oom();
        created += json_is_true(json_object_get(p->record, "ok"));
        json_array_append_new(list, p->record);
    }
    c->result = json_pack("{s:i, s:i, s:s, s:o}", "requested", n, "created", created, "placement",
                          binpack ? "binpack" : "spread", "containers", list);
    if (c->result == NULL)
        eng_oom();
    log_msg(LOG_LVL_INFO, "bulk %s: %d of %d pieces made", rid, created, n);
    cluster_gather_free(cl, g);
    free(todo);
    free(ps);
    free(body);
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
        eng_oom();
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
        eng_oom();
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

int eng_bulk_begin(engine *e, job *j)
{
    int limit = e->n_workers > 1 ? e->n_workers - 1 : 1;
    pthread_mutex_lock(&e->jobs.mu);
    int run = j->bulk_slot || e->bulk_running < limit;
    if (run && !j->bulk_slot)
        e->bulk_running++;
    j->bulk_slot = 0;
    if (!run) {
        j->next = NULL;
        if (e->bulk_parked_tail)
            e->bulk_parked_tail->next = j;
        else
            e->bulk_parked = j;
        e->bulk_parked_tail = j;
    }
    pthread_mutex_unlock(&e->jobs.mu);
    return run;
}

void eng_bulk_end(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    job *next = e->bulk_parked;
    if (next) { /* the slot passes to it */
        e->bulk_parked = next->next;
        if (e->bulk_parked == NULL)
            e->bulk_parked_tail = NULL;
        next->bulk_slot = 1;
    } else {
        e->bulk_running--;
    }
    pthread_mutex_unlock(&e->jobs.mu);
    if (next)
        eng_push_job(e, next);
}
