/*
 * pieces.c -- the pieces of a bulk request (`instances: N`) over the
 * cluster: placed from the view, sent to their nodes' queues, placed again
 * when their node leaves or refuses, collected by the answers-and-wait
 * loop (ask.c).  The engine makes the request's body and reply; this file
 * says where each piece went and how it ended (see cluster.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "cluster.h"
#include "log.h"

#define PIECE_ATTEMPTS 4

typedef struct piece {
    char node[256];
    char corr[128];
    int attempts;
    int done;
    int told;       /* cluster_bulk_conf.done was called for it */
    json_t *record; /* {"node","ok","id","name","warnings","error"?,"result"?} */
} piece;

struct cluster_bulk {
    cluster *c;
    cluster_bulk_conf conf;
    char rid[256];
    char *body;
    cluster_gather *g;
    piece *ps;
    int *todo; /* pieces to place (again) this turn */
    int nt;
};

cluster_bulk *cluster_bulk_new(cluster *c, const cluster_bulk_conf *conf)
{
    cluster_bulk *b = xcalloc(1, sizeof *b);
    b->c = c;
    b->conf = *conf;
    b->g = cluster_gather_new(c);
    snprintf(b->rid, sizeof b->rid, "%s", conf->rid ? conf->rid : cluster_gather_id(b->g));
    b->conf.rid = b->rid;
    b->body = xstrdup(conf->body);
    b->conf.body = b->body;
    b->ps = xcalloc((size_t)conf->n, sizeof *b->ps);
    b->todo = xcalloc((size_t)conf->n, sizeof *b->todo);
    return b;
}

const char *cluster_bulk_rid(const cluster_bulk *b)
{
    return b->rid;
}

void cluster_bulk_made(cluster_bulk *b, int k, const char *node, json_t *id, const char *name)
{
    if (k < 0 || k >= b->conf.n || b->ps[k].done)
        return;
    piece *p = &b->ps[k];
    p->done = 1;
    snprintf(p->node, sizeof p->node, "%s", node);
    p->record = json_pack("{s:s, s:b, s:O?, s:s?, s:n}", "node", node, "ok", 1, "id", id, "name",
                          name, "warnings");
}

/* Sends piece k to its node. */
static void send_piece(cluster_bulk *b, int k)
{
    piece *p = &b->ps[k];
    p->attempts++;
    snprintf(p->corr, sizeof p->corr, "%s%d.%d", cluster_gather_id(b->g), k, p->attempts);
    char mid[300], inc[32];
    snprintf(mid, sizeof mid, "%s.%d", b->rid, k);
    snprintf(inc, sizeof inc, "%" PRId64, cluster_started_of(b->c, p->node));
    broker_header h[3] = {
        {CLUSTER_H_PART, "1"}, {CLUSTER_H_INCARNATION, inc}, {CLUSTER_H_USER, b->conf.user}};
    cluster_msg m = {.node = p->node,
                     .correlation_id = p->corr,
                     .message_id = mid,
                     .body = b->body,
                     .headers = h,
                     .n_headers = b->conf.user ? 3 : 2};
    b->conf.publish(b->conf.ud, &m);
}

/* Places the pieces listed in todo over one snapshot of the view,
 * counting the pieces placed here as they go (spread or binpack).  A piece
 * never goes back to the node it failed on, and this node takes none
 * with skip_self.  Pieces no node has room for are done with error
 * unavailable. */
static void place(cluster_bulk *b)
{
    char *self[2] = {b->conf.skip_self ? (char *)cluster_self(b->c) : NULL, NULL};
    cluster_slot *slots = NULL;
    size_t ns = cluster_slots(b->c, self[0] ? self : NULL, &slots);
    cluster_slot *open = xcalloc(ns, sizeof *open);
    size_t *at = xcalloc(ns, sizeof *at); /* open[k] is slots[at[k]] */
    for (int t = 0; t < b->nt; t++) {
        piece *p = &b->ps[b->todo[t]];
        size_t k = 0;
        for (size_t i = 0; i < ns; i++)
            if (p->node[0] == '\0' || strcmp(slots[i].name, p->node) != 0) {
                open[k] = slots[i];
                at[k++] = i;
            }
        int where = -1;
        cluster_place_pieces(open, k, 1, b->conf.binpack, &where);
        if (where < 0) {
            p->done = 1;
            p->record = json_pack("{s:n, s:b, s:{s:s, s:s}}", "node", "ok", 0, "error", "code",
                                  "unavailable", "message", "no node of the cluster has room");
            continue;
        }
        cluster_slot *s = &slots[at[where]];
        s->load++;
        snprintf(p->node, sizeof p->node, "%s", s->name);
        send_piece(b, b->todo[t]);
    }
    b->nt = 0;
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

/* An answer (cluster_gather_collect): its piece is done, or placed again
 * when its node refused or could not be reached. */
static void answered(void *ud, json_t *a)
{
    cluster_bulk *b = ud;
    const char *corr = json_string_value(json_object_get(a, "corr"));
    for (int k = 0; k < b->conf.n; k++) {
        piece *p = &b->ps[k];
        if (p->done || strcmp(p->corr, corr ? corr : ""))
            continue;
        json_t *r = json_object_get(a, "reply");
        json_t *err = json_object_get(r, "error");
        const char *code = json_string_value(json_object_get(err, "code"));
        int failed_send = json_object_get(a, "failed") != NULL;
        if ((failed_send || retryable(code, json_string_value(json_object_get(err, "message")))) &&
            p->attempts < PIECE_ATTEMPTS) {
            b->todo[b->nt++] = k; /* again, elsewhere */
        } else {
            p->done = 1;
            p->record = failed_send ? json_pack("{s:s, s:b, s:{s:s, s:s}}", "node", p->node, "ok",
                                                0, "error", "code", "unavailable", "message",
                                                "the node's queue could not be reached")
                                    : record_of(p->node, r);
        }
    }
}

/* Tells conf.done of each piece done since the last turn. */
static void tell_done(cluster_bulk *b)
{
    if (b->conf.done == NULL)
        return;
    int done = 0;
    for (int k = 0; k < b->conf.n; k++)
        done += b->ps[k].done;
    for (int k = 0; k < b->conf.n; k++) {
        piece *p = &b->ps[k];
        if (p->done && !p->told) {
            p->told = 1;
            b->conf.done(b->conf.ud, k, b->conf.n, done, p->node, p->record);
        }
    }
}

/* After the answers of a turn (cluster_gather_collect): pieces whose node
 * left the view are placed again with those refused; 1 while a piece is
 * open. */
static int open_pieces(void *ud)
{
    cluster_bulk *b = ud;
    for (int k = 0; k < b->conf.n; k++) {
        piece *p = &b->ps[k];
        int queued = 0;
        for (int t = 0; t < b->nt; t++)
            queued |= b->todo[t] == k;
        if (!p->done && !queued && !cluster_has(b->c, p->node)) {
            log_msg(LOG_LVL_WARN, "bulk %s: node %s left the view: piece %d placed again", b->rid,
                    p->node, k);
            b->todo[b->nt++] = k;
        }
    }
    if (b->nt > 0)
        place(b);
    tell_done(b);
    int open = 0;
    for (int k = 0; k < b->conf.n; k++)
        open += !b->ps[k].done;
    return open > 0;
}

void cluster_bulk_run(cluster_bulk *b, int64_t until_ms)
{
    for (int k = 0; k < b->conf.n; k++)
        if (!b->ps[k].done)
            b->todo[b->nt++] = k;
    place(b);
    cluster_gather_collect(b->c, b->g, until_ms, answered, open_pieces, b);
}

json_t *cluster_bulk_result(cluster_bulk *b, int *created)
{
    json_t *list = json_array();
    if (list == NULL)
        xoom();
    *created = 0;
    for (int k = 0; k < b->conf.n; k++) {
        piece *p = &b->ps[k];
        if (!p->done)
            p->record = json_pack("{s:s, s:b, s:{s:s, s:s}}", "node", p->node, "ok", 0, "error",
                                  "code", "timeout", "message", "no answer before the deadline");
        if (p->record == NULL)
            xoom();
        *created += json_is_true(json_object_get(p->record, "ok"));
        json_array_append(list, p->record);
    }
    json_t *r = json_pack("{s:i, s:i, s:s, s:o}", "requested", b->conf.n, "created", *created,
                          "placement", b->conf.binpack ? "binpack" : "spread", "containers", list);
    if (r == NULL)
        xoom();
    return r;
}

void cluster_bulk_free(cluster_bulk *b)
{
    if (b == NULL)
        return;
    cluster_gather_free(b->c, b->g);
    for (int k = 0; k < b->conf.n; k++)
        json_decref(b->ps[k].record);
    free(b->todo);
    free(b->ps);
    free(b->body);
    free(b);
}
