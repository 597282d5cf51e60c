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

/* One sending of a piece: attempt a is in sent[(a - 1) % PIECE_ATTEMPTS]. */
typedef struct sent_to {
    char node[256];
    int64_t inc; /* the node's "started" when sent */
    int open;    /* not answered yet */
    int failed;  /* reported failed: may have reached its node, not awaited */
} sent_to;

typedef struct piece {
    char node[256];
    int attempts;
    int done;
    int told;       /* cluster_bulk_conf.done was called for it */
    json_t *record; /* {"node","ok","id","name","warnings","error"?,"result"?} */
    sent_to sent[PIECE_ATTEMPTS];
} piece;
/* a node name is copied whole between the two */
_Static_assert(sizeof((piece *)0)->node == sizeof((sent_to *)0)->node, "node names differ");

struct cluster_bulk {
    cluster *c;
    cluster_bulk_conf conf;
    char rid[256];
    char *body;
    cluster_gather *g;
    piece *ps;
    int *todo; /* pieces to place (again) this turn */
    int nt;
    int late; /* every piece settled: awaiting late answers only */
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

/* Sends body to the node of s, as the process s was sent to. */
static void send_to(cluster_bulk *b, const sent_to *s, const char *corr, const char *mid,
                    const char *body)
{
    char inc[32];
    snprintf(inc, sizeof inc, "%" PRId64, s->inc);
    broker_header h[3] = {
        {CLUSTER_H_PART, "1"}, {CLUSTER_H_INCARNATION, inc}, {CLUSTER_H_USER, b->conf.user}};
    cluster_msg m = {.node = s->node,
                     .correlation_id = corr,
                     .message_id = mid,
                     .body = body,
                     .headers = h,
                     .n_headers = b->conf.user ? 3 : 2};
    b->conf.publish(b->conf.ud, &m);
}

/* Sends piece k to its node, correlation id <gather id><k>.<attempt>. */
static void send_piece(cluster_bulk *b, int k)
{
    piece *p = &b->ps[k];
    sent_to *s = &p->sent[p->attempts++ % PIECE_ATTEMPTS];
    memcpy(s->node, p->node, sizeof s->node);
    s->inc = cluster_started_of(b->c, p->node);
    s->open = 1;
    s->failed = 0;
    char corr[160], mid[300];
    snprintf(corr, sizeof corr, "%s%d.%d", cluster_gather_id(b->g), k, p->attempts);
    snprintf(mid, sizeof mid, "%s.%d", b->rid, k);
    send_to(b, s, corr, mid, b->body);
}

/* Removes container id, a second copy of piece k made by attempt at. */
static void remove_copy(cluster_bulk *b, int k, int at, const char *id)
{
    const sent_to *s = &b->ps[k].sent[(at - 1) % PIECE_ATTEMPTS];
    log_msg(LOG_LVL_WARN, "bulk %s: piece %d made twice: its copy %.12s on %s removed", b->rid, k,
            id, s->node);
    json_t *m =
        json_pack("{s:s, s:s, s:{s:b}}", "Dockercmd", "rm", "Container", id, "Options", "Force", 1);
    char *body = m ? json_dumps(m, JSON_COMPACT) : NULL;
    if (body == NULL)
        xoom();
    char corr[160], mid[300]; /* a corr answered() ignores */
    snprintf(corr, sizeof corr, "%sx%d.%d", cluster_gather_id(b->g), k, at);
    snprintf(mid, sizeof mid, "%s.%d.removed.%d", b->rid, k, at);
    send_to(b, s, corr, mid, body);
    free(body);
    json_decref(m);
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
        if (p->done) /* a late answer made it meanwhile */
            continue;
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

/* Piece k made by attempt at (answer r): its record, unless a copy made
 * elsewhere is; then this copy is removed.  A node that left the view
 * only for being slow makes its piece late, placed again meanwhile. */
static void made(cluster_bulk *b, int k, int at, json_t *r)
{
    piece *p = &b->ps[k];
    const char *node = p->sent[(at - 1) % PIECE_ATTEMPTS].node;
    json_t *rec = record_of(node, r);
    if (!p->done || !json_is_true(json_object_get(p->record, "ok"))) {
        json_decref(p->record);
        p->record = rec;
        p->done = 1;
        memcpy(p->node, node, sizeof p->node);
        return;
    }
    json_t *id = json_object_get(rec, "id");
    if (json_is_string(id) && !json_equal(id, json_object_get(p->record, "id")))
        remove_copy(b, k, at, json_string_value(id));
    json_decref(rec);
}

/* The piece and attempt of correlation id corr; 0 if not a piece's. */
static int attempt_of(cluster_bulk *b, const char *corr, int *k, int *at)
{
    size_t len = strlen(cluster_gather_id(b->g));
    if (corr == NULL || strncmp(corr, cluster_gather_id(b->g), len) ||
        sscanf(corr + len, "%d.%d", k, at) != 2 || *k < 0 || *k >= b->conf.n)
        return 0;
    int last = b->ps[*k].attempts;
    return *at <= last && *at > last - PIECE_ATTEMPTS && *at > 0;
}

/* An answer (cluster_gather_collect): its piece is done, or placed again
 * when its node refused or could not be reached.  An earlier attempt's
 * failure is the past: its piece went elsewhere. */
static void answered(void *ud, json_t *a)
{
    cluster_bulk *b = ud;
    int k, at;
    if (!attempt_of(b, json_string_value(json_object_get(a, "corr")), &k, &at))
        return;
    piece *p = &b->ps[k];
    sent_to *s = &p->sent[(at - 1) % PIECE_ATTEMPTS];
    int failed_send = json_object_get(a, "failed") != NULL;
    if (!s->open || (failed_send && s->failed)) /* each collect hands every answer so far */
        return;
    s->open = failed_send; /* a failed send may have reached its node */
    s->failed = failed_send;
    json_t *r = json_object_get(a, "reply");
    json_t *err = json_object_get(r, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    if (!failed_send &&
        (json_is_true(json_object_get(r, "ok")) || (code && !strcmp(code, "duplicate")))) {
        made(b, k, at, r);
    } else if (p->done || at != p->attempts) {
        return;
    } else if ((failed_send ||
                retryable(code, json_string_value(json_object_get(err, "message")))) &&
               p->attempts < PIECE_ATTEMPTS) {
        b->todo[b->nt++] = k; /* again, elsewhere */
    } else {
        p->done = 1;
        p->record = failed_send ? json_pack("{s:s, s:b, s:{s:s, s:s}}", "node", p->node, "ok", 0,
                                            "error", "code", "unavailable", "message",
                                            "the node's queue could not be reached")
                                : record_of(p->node, r);
    }
}

/* 1 while an attempt of piece p may still answer: not answered, sent to
 * the process its node runs now, or (late) to a node that left the view,
 * maybe only slow. */
static int awaited(cluster_bulk *b, const piece *p)
{
    for (int a = p->attempts > PIECE_ATTEMPTS ? p->attempts - PIECE_ATTEMPTS : 0; a < p->attempts;
         a++) {
        const sent_to *s = &p->sent[a % PIECE_ATTEMPTS];
        int in_view = cluster_has(b->c, s->node);
        if (s->open && !s->failed &&
            (in_view ? cluster_started_of(b->c, s->node) == s->inc : b->late))
            return 1;
    }
    return 0;
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
 * open or an attempt awaited (a late copy is removed). */
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
        open += !b->ps[k].done || awaited(b, &b->ps[k]);
    return open > 0;
}

void cluster_bulk_run(cluster_bulk *b, int64_t until_ms)
{
    for (int k = 0; k < b->conf.n; k++)
        if (!b->ps[k].done)
            b->todo[b->nt++] = k;
    place(b);
    cluster_gather_collect(b->c, b->g, until_ms, answered, open_pieces, b);
    /* A node that left the view may be only slow: its answers are awaited
     * as long as it took to drop it, and its late copies removed. */
    int64_t now = cluster_now_ms();
    int64_t grace = now + (int64_t)cluster_expiry(b->c) * cluster_interval_ms(b->c);
    b->late = 1;
    if (now < until_ms)
        cluster_gather_collect(b->c, b->g, grace < until_ms ? grace : until_ms, answered,
                               open_pieces, b);
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
