/*
 * ask.c -- asking the other nodes: the answers-and-wait loop every gather
 * runs (cluster-wide queries here, bulk pieces in pieces.c) and the
 * scatter-gather of a command to every node (see cluster.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "cluster.h"

void cluster_gather_collect(cluster *c, cluster_gather *g, int64_t until_ms,
                            void (*answer)(void *ud, json_t *a), int (*awaiting)(void *ud),
                            void *ud)
{
    size_t have = 0;
    for (;;) {
        json_t *got = cluster_gather_answers(c, g, have);
        have += json_array_size(got);
        size_t i;
        json_t *a;
        json_array_foreach(got, i, a) answer(ud, a);
        json_decref(got);
        if (!awaiting(ud) || cluster_now_ms() >= until_ms)
            break;
        cluster_gather_wait(c, g, have, until_ms);
    }
}

/* A scatter-gather: the view when it began, the answers so far. */
typedef struct ask {
    cluster *c;
    char **names; /* the view (NULL-terminated) */
    json_t *answers;
} ask;

/* Keeps the first answer of each node. */
static void take(void *ud, json_t *a)
{
    ask *k = ud;
    const char *node = json_string_value(json_object_get(a, "node"));
    if (node && json_object_get(k->answers, node) == NULL &&
        json_object_set(k->answers, node, json_object_get(a, "reply")) != 0)
        xoom();
}

/* 1 while a node of the view, other than this one, has not answered and
 * is still in the view. */
static int awaiting(void *ud)
{
    ask *k = ud;
    for (size_t i = 0; k->names[i]; i++)
        if (strcmp(k->names[i], cluster_self(k->c)) && !json_object_get(k->answers, k->names[i]) &&
            cluster_has(k->c, k->names[i]))
            return 1;
    return 0;
}

void cluster_ask_all(cluster *c, cluster_publish_fn publish, void *ud, const char *user,
                     const char *body, int wait_ms, json_t **answers, json_t **missing)
{
    ask k = {.c = c, .names = cluster_names(c, NULL), .answers = json_object()};
    cluster_gather *g = cluster_gather_new(c);
    *missing = json_array();
    if (k.answers == NULL || *missing == NULL)
        xoom();
    char corr[64];
    snprintf(corr, sizeof corr, "%sall", cluster_gather_id(g));
    broker_header h[3] = {
        {CLUSTER_H_PART, "1"}, {CLUSTER_H_FROM, cluster_self(c)}, {CLUSTER_H_USER, user}};
    cluster_msg m = {.correlation_id = corr, .body = body, .headers = h, .n_headers = user ? 3 : 2};
    publish(ud, &m);
    int64_t until = cluster_now_ms() + wait_ms;
    cluster_gather_collect(c, g, until, take, awaiting, &k);
    for (size_t i = 0; k.names[i]; i++)
        if (strcmp(k.names[i], cluster_self(c)) && !json_object_get(k.answers, k.names[i]) &&
            json_array_append_new(*missing, json_string(k.names[i])) != 0)
            xoom();
    cluster_gather_free(c, g);
    cluster_names_free(k.names);
    *answers = k.answers;
}
