/*
 * cluster.c -- the membership view and the gathers (see cluster.h).
 *
 * DESIGN.  The view is a JSON object name -> the node's last heartbeat,
 * plus "seen" (monotonic ms) kept beside it; the gathers are a list of
 * open collections keyed by a correlation id prefix.  One mutex covers
 * both; one condition variable wakes gather waiters on every answer and
 * every change of the view.  The broker thread never blocks here beyond
 * the mutex.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base.h"
#include "cluster.h"

struct cluster_gather {
    struct cluster_gather *next;
    char id[48];
    json_t *answers; /* array */
};

struct cluster {
    char *node, *name, *version, *host;
    int interval_ms, expiry;
    int alone_ms;     /* the interval while alone in the view */
    int announced_ms; /* the interval the last heartbeat announced */
    int64_t started_ns;
    int64_t next_beat;   /* monotonic ms: when the next heartbeat is due */
    int64_t beat_sent;   /* monotonic ms: the last heartbeat the broker took (0: none yet) */
    int64_t last_tick;   /* monotonic ms: the broker thread's last cluster_ticked (0: none) */
    cluster_hooks hooks; /* set before the broker thread's loop */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    json_t *view;            /* name -> {heartbeat fields..., "seen": ms} (under mu) */
    json_t *departed;        /* name -> {"host", "since": ms}: nodes of this Docker
                                host that left the view (under mu) */
    unsigned epoch;          /* bumped when a node leaves (under mu) */
    cluster_gather *gathers; /* (under mu) */
    uint64_t seq;            /* gather ids (under mu) */
};

/* json_object_set_new that aborts when memory runs out. */
static void set(json_t *o, const char *k, json_t *v)
{
    if (v == NULL || json_object_set_new(o, k, v) != 0)
        abort();
}

int64_t cluster_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cluster *cluster_new(const cluster_conf *conf)
{
    cluster *c = xcalloc(1, sizeof *c);
    c->node = xstrdup(conf->node ? conf->node : "");
    c->name = xstrdup(conf->cluster ? conf->cluster : "");
    c->version = xstrdup(conf->version ? conf->version : "");
    c->host = xstrdup(conf->host ? conf->host : "");
    c->interval_ms = conf->interval_ms > 0 ? conf->interval_ms : 2000;
    c->expiry = conf->expiry >= 2 ? conf->expiry : 3;
    c->alone_ms = conf->alone_interval_ms > 0 ? conf->alone_interval_ms : CLUSTER_ALONE_INTERVAL_MS;
    if (c->alone_ms < c->interval_ms)
        c->alone_ms = c->interval_ms;
    c->announced_ms = c->interval_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->started_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if ((c->view = json_object()) == NULL || (c->departed = json_object()) == NULL)
        abort();
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint64_t)c->started_ns;
    c->seq = r << 16;
    return c;
}

void cluster_free(cluster *c)
{
    if (c == NULL)
        return;
    while (c->gathers) {
        cluster_gather *g = c->gathers;
        c->gathers = g->next;
        json_decref(g->answers);
        free(g);
    }
    json_decref(c->view);
    json_decref(c->departed);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c->node);
    free(c->name);
    free(c->version);
    free(c->host);
    free(c);
}

void cluster_set_hooks(cluster *c, const cluster_hooks *h)
{
    c->hooks = *h;
}

const cluster_hooks *cluster_get_hooks(const cluster *c)
{
    return &c->hooks;
}

void cluster_beat_sent(cluster *c, int64_t now_ms)
{
    c->beat_sent = now_ms;
}

int64_t cluster_last_beat_sent(const cluster *c)
{
    return c->beat_sent;
}

int64_t cluster_ticked(cluster *c, int64_t now_ms)
{
    int64_t gap = c->last_tick > 0 ? now_ms - c->last_tick : 0;
    c->last_tick = now_ms;
    int64_t credit = gap - c->interval_ms;
    if (credit <= 0)
        return 0;
    /* The heartbeats of that time wait unread in our own socket: nobody
     * is silent for the time we did not listen.  A node heard since the
     * last call was read.  It may be one that just joined this node,
     * which was waiting alone. */
    pthread_mutex_lock(&c->mu);
    const char *name;
    json_t *hb;
    json_object_foreach(c->view, name, hb)
    {
        json_int_t seen = json_integer_value(json_object_get(hb, "seen"));
        if (strcmp(name, c->node) != 0 && seen <= now_ms - gap)
            set(hb, "seen", json_integer(seen + credit));
    }
    pthread_mutex_unlock(&c->mu);
    return credit;
}

/* The nodes in the view other than this one (under mu). */
static size_t others_locked(const cluster *c)
{
    return json_object_size(c->view) - (json_object_get(c->view, c->node) != NULL);
}

int cluster_interval_ms(const cluster *c)
{
    return c->interval_ms;
}

int cluster_expiry(const cluster *c)
{
    return c->expiry;
}

int cluster_announced_ms(const cluster *c)
{
    return c->announced_ms;
}

const char *cluster_self(const cluster *c)
{
    return c->node;
}

int64_t cluster_incarnation(const cluster *c)
{
    return c->started_ns;
}

/* ------------------------------------------------------------------------
 * Membership
 * ------------------------------------------------------------------------ */

char *cluster_heartbeat(cluster *c, const cluster_load *l, int64_t now_ms, char *key, size_t keylen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&c->mu);
    size_t others = others_locked(c);
    int every = others == 0 ? c->alone_ms : c->interval_ms;
    pthread_mutex_unlock(&c->mu);
    json_t *hb = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:b, s:i, s:i, s:i, s:i, s:i, "
        "s:i}",
        "event", "node.heartbeat", "node", c->node, "cluster", c->name, "version", c->version,
        "host", c->host, "started", (json_int_t)c->started_ns, "time_nano",
        (json_int_t)((int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec), "docker", l->docker,
        "draining", l->draining, "running", l->running, "containers", l->containers, "inflight",
        l->inflight, "capacity", l->capacity, "interval_ms", every, "expiry", c->expiry);
    if (hb == NULL)
        abort();
    char *text = json_dumps(hb, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        abort();
    pthread_mutex_lock(&c->mu);
    set(hb, "seen", json_integer(now_ms));
    set(c->view, c->node, hb);
    c->next_beat = now_ms + every;
    c->announced_ms = every;
    pthread_mutex_unlock(&c->mu);
    snprintf(key, keylen, "node.heartbeat.%s", c->node);
    return text;
}

/* Removes name from the view (under mu); 1 if it was there.  A node of
 * this node's Docker host is remembered as departed (cluster_to_adopt). */
static int drop(cluster *c, const char *name, int64_t now_ms)
{
    json_t *hb = json_object_get(c->view, name);
    if (hb == NULL)
        return 0;
    const char *host = json_string_value(json_object_get(hb, "host"));
    if (host && *host && *c->host && strcmp(host, c->host) == 0)
        set(c->departed, name, json_pack("{s:s, s:I}", "host", host, "since", (json_int_t)now_ms));
    json_object_del(c->view, name);
    c->epoch++;
    pthread_cond_broadcast(&c->cv);
    return 1;
}

int cluster_heard(cluster *c, const char *key, const char *body, size_t len, int64_t now_ms,
                  char *joined, size_t joinedlen)
{
    if (key == NULL || strncmp(key, "node.", 5) != 0)
        return 0;
    json_t *ev = json_loadb(body, len, 0, NULL);
    const char *node = json_string_value(json_object_get(ev, "node"));
    const char *event = json_string_value(json_object_get(ev, "event"));
    int rc = 0;
    if (node == NULL || event == NULL || strcmp(node, c->node) == 0) {
        json_decref(ev);
        return 0;
    }
    pthread_mutex_lock(&c->mu);
    if (strcmp(event, "node.heartbeat") == 0) {
        const char *cl = json_string_value(json_object_get(ev, "cluster"));
        if (cl != NULL && strcmp(cl, c->name) == 0) {
            rc = json_object_get(c->view, node) == NULL;
            if (rc && c->next_beat > now_ms)
                c->next_beat = now_ms;          /* tell it we are here, at our busy interval */
            json_object_del(c->departed, node); /* back: its containers are its own again */
            set(ev, "seen", json_integer(now_ms));
            set(c->view, node, json_incref(ev));
            if (rc && joined)
                snprintf(joined, joinedlen, "%s", node);
        }
    } else if (strcmp(event, "node.down") == 0) {
        rc = drop(c, node, now_ms) ? -1 : 0;
    }
    pthread_mutex_unlock(&c->mu);
    json_decref(ev);
    return rc;
}

char **cluster_expire(cluster *c, int64_t now_ms)
{
    char **gone = NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    const char *name;
    json_t *hb, *tmp;
    json_object_foreach_safe(c->view, tmp, name, hb)
    {
        if (strcmp(name, c->node) == 0)
            continue;
        json_int_t seen = json_integer_value(json_object_get(hb, "seen"));
        json_int_t every = json_integer_value(json_object_get(hb, "interval_ms"));
        if (every < 100 || every > 60000) /* as the daemon's setting allows */
            every = c->interval_ms;
        if (now_ms - seen < (int64_t)every * c->expiry)
            continue;
        char **g = realloc(gone, (n + 2) * sizeof *g);
        if (g == NULL)
            abort();
        gone = g;
        gone[n++] = xstrdup(name);
        gone[n] = NULL;
        drop(c, name, now_ms);
    }
    pthread_mutex_unlock(&c->mu);
    return gone;
}

int64_t cluster_holdback_ms(const cluster *c)
{
    return (int64_t)c->interval_ms * c->expiry;
}

int cluster_beat_due(const cluster *c, int64_t now_ms)
{
    return c->next_beat <= now_ms;
}

int cluster_due_in(cluster *c, int64_t now_ms)
{
    pthread_mutex_lock(&c->mu);
    size_t others = others_locked(c);
    /* with others in the view: the next heartbeat, and their expiry checked
     * every interval.  Alone, the heartbeat waits for a turn of the loop
     * that comes anyway, so that it costs no wake-up of its own.  RabbitMQ's
     * heartbeat frames wake an idle connection every half AMQP heartbeat.
     * The heartbeat is late by that much at most, well inside the expiry
     * the others would give it. */
    int64_t due = c->alone_ms;
    if (others > 0) {
        due = c->next_beat - now_ms;
        if (due > c->interval_ms)
            due = c->interval_ms;
    }
    /* a departed sibling is adopted once its hold-back is over */
    const char *name;
    json_t *v;
    json_object_foreach(c->departed, name, v)
    {
        int64_t at = json_integer_value(json_object_get(v, "since")) + cluster_holdback_ms(c);
        if (at > now_ms && at - now_ms < due)
            due = at - now_ms;
    }
    pthread_mutex_unlock(&c->mu);
    return due < 0 ? 0 : (int)due;
}

json_t *cluster_nodes_json(cluster *c, int64_t now_ms)
{
    json_t *out = json_array();
    if (out == NULL)
        abort();
    pthread_mutex_lock(&c->mu);
    const char *name;
    json_t *hb;
    json_object_foreach(c->view, name, hb)
    {
        /* heartbeats are anyone's text on the events exchange: a field missing
         * or of another type is shown as it came, null when absent */
        json_t *n = json_pack(
            "{s:s, s:b, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:I}", "name", name,
            "self", strcmp(name, c->node) == 0, "version", json_object_get(hb, "version"), "host",
            json_object_get(hb, "host"), "started", json_object_get(hb, "started"), "docker",
            json_object_get(hb, "docker"), "draining", json_object_get(hb, "draining"), "running",
            json_object_get(hb, "running"), "containers", json_object_get(hb, "containers"),
            "inflight", json_object_get(hb, "inflight"), "capacity",
            json_object_get(hb, "capacity"), "seen_ms_ago",
            (json_int_t)(now_ms - json_integer_value(json_object_get(hb, "seen"))));
        if (n == NULL || json_array_append_new(out, n) != 0)
            abort();
    }
    pthread_mutex_unlock(&c->mu);
    /* object order is insertion order: sort by name */
    size_t k = json_array_size(out);
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(out, j - 1), *b = json_array_get(out, j);
            if (strcmp(json_string_value(json_object_get(a, "name")),
                       json_string_value(json_object_get(b, "name"))) <= 0)
                break;
            json_incref(a);
            json_array_set(out, j - 1, b);
            json_array_set_new(out, j, a);
        }
    return out;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **cluster_names(cluster *c, size_t *n)
{
    pthread_mutex_lock(&c->mu);
    size_t k = json_object_size(c->view);
    char **names = xcalloc(1, (k + 1) * sizeof *names);
    size_t i = 0;
    const char *name;
    json_t *hb;
    json_object_foreach(c->view, name, hb) names[i++] = xstrdup(name);
    pthread_mutex_unlock(&c->mu);
    qsort(names, i, sizeof *names, by_name);
    if (n)
        *n = i;
    return names;
}

void cluster_names_free(char **names)
{
    for (size_t i = 0; names && names[i]; i++)
        free(names[i]);
    free(names);
}

size_t cluster_size(cluster *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = json_object_size(c->view);
    pthread_mutex_unlock(&c->mu);
    return n;
}

int cluster_has(cluster *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    int has = json_object_get(c->view, name) != NULL;
    pthread_mutex_unlock(&c->mu);
    return has;
}

int64_t cluster_started_of(cluster *c, const char *name)
{
    pthread_mutex_lock(&c->mu);
    int64_t s = json_integer_value(json_object_get(json_object_get(c->view, name), "started"));
    pthread_mutex_unlock(&c->mu);
    return s;
}

char **cluster_to_adopt(cluster *c, int64_t now_ms, int64_t holdback_ms)
{
    char **out = NULL;
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    if (*c->host == '\0')
        goto out;
    /* the first live node of this host by name adopts: every sibling
     * computes the same from the same view */
    const char *name;
    json_t *v;
    json_object_foreach(c->view, name, v)
    {
        const char *host = json_string_value(json_object_get(v, "host"));
        if (strcmp(name, c->node) < 0 && host && strcmp(host, c->host) == 0)
            goto out;
    }
    json_object_foreach(c->departed, name, v)
    {
        if (now_ms - json_integer_value(json_object_get(v, "since")) < holdback_ms)
            continue;
        char **g = realloc(out, (n + 2) * sizeof *g);
        if (g == NULL)
            abort();
        out = g;
        out[n++] = xstrdup(name);
        out[n] = NULL;
    }
out:
    pthread_mutex_unlock(&c->mu);
    if (out)
        qsort(out, n, sizeof *out, by_name);
    return out;
}

static int listed(char *const *names, const char *name)
{
    for (size_t i = 0; names && names[i]; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

size_t cluster_slots(cluster *c, char *const *skip, cluster_slot **slots)
{
    size_t n = 0;
    char **names = cluster_names(c, &n);
    cluster_slot *s = xcalloc(1, (n ? n : 1) * sizeof *s);
    size_t k = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        json_t *hb = json_object_get(c->view, names[i]);
        if (hb == NULL || listed(skip, names[i]) || !json_is_true(json_object_get(hb, "docker")) ||
            json_is_true(json_object_get(hb, "draining")))
            continue;
        s[k].name = xstrdup(names[i]);
        /* the node's containers in any state: what max_containers counts,
         * and what a spread of created (not started) pieces evens out */
        s[k].load = (int)json_integer_value(json_object_get(hb, "containers"));
        s[k].capacity = (int)json_integer_value(json_object_get(hb, "capacity"));
        k++;
    }
    pthread_mutex_unlock(&c->mu);
    cluster_names_free(names);
    *slots = s;
    return k;
}

void cluster_slots_free(cluster_slot *slots, size_t n)
{
    for (size_t i = 0; slots && i < n; i++)
        free((char *)slots[i].name);
    free(slots);
}

/* ------------------------------------------------------------------------
 * Gathers
 * ------------------------------------------------------------------------ */

cluster_gather *cluster_gather_new(cluster *c)
{
    cluster_gather *g = xcalloc(1, sizeof *g);
    if ((g->answers = json_array()) == NULL)
        abort();
    pthread_mutex_lock(&c->mu);
    snprintf(g->id, sizeof g->id, "g.%s.%" PRIx64 ".", c->node, ++c->seq);
    g->next = c->gathers;
    c->gathers = g;
    pthread_mutex_unlock(&c->mu);
    return g;
}

const char *cluster_gather_id(const cluster_gather *g)
{
    return g->id;
}

/* The open gather whose id prefixes corr (under mu), or NULL. */
static cluster_gather *find(cluster *c, const char *corr)
{
    for (cluster_gather *g = c->gathers; g && corr; g = g->next)
        if (strncmp(corr, g->id, strlen(g->id)) == 0)
            return g;
    return NULL;
}

static void add_answer(cluster *c, cluster_gather *g, json_t *a)
{
    if (json_array_append_new(g->answers, a) != 0)
        abort();
    pthread_cond_broadcast(&c->cv);
}

int cluster_gather_offer(cluster *c, const broker_delivery *d)
{
    pthread_mutex_lock(&c->mu);
    cluster_gather *g = find(c, d->correlation_id);
    if (g != NULL) {
        json_t *reply = json_loadb((const char *)d->body, d->len, 0, NULL);
        json_t *node = json_object_get(reply, "node");
        json_t *a = json_pack("{s:s, s:O, s:o}", "corr", d->correlation_id, "node",
                              json_is_string(node) ? node : json_null(), "reply",
                              reply ? reply : json_null());
        if (a == NULL)
            abort();
        add_answer(c, g, a);
    }
    pthread_mutex_unlock(&c->mu);
    return g != NULL;
}

void cluster_gather_failed(cluster *c, const char *corr, int rc)
{
    pthread_mutex_lock(&c->mu);
    cluster_gather *g = find(c, corr);
    if (g != NULL) {
        json_t *a = json_pack("{s:s, s:n, s:i}", "corr", corr, "node", "failed", rc);
        if (a == NULL)
            abort();
        add_answer(c, g, a);
    }
    pthread_mutex_unlock(&c->mu);
}

size_t cluster_gather_wait(cluster *c, cluster_gather *g, size_t have, int64_t until_ms)
{
    struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&c->mu);
    unsigned epoch = c->epoch;
    while (json_array_size(g->answers) <= have && c->epoch == epoch && cluster_now_ms() < until_ms)
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    size_t n = json_array_size(g->answers);
    pthread_mutex_unlock(&c->mu);
    return n;
}

void cluster_wait_until(cluster *c, int64_t until_ms)
{
    struct timespec ts = {.tv_sec = until_ms / 1000, .tv_nsec = (until_ms % 1000) * 1000000L};
    pthread_mutex_lock(&c->mu);
    while (cluster_now_ms() < until_ms)
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    pthread_mutex_unlock(&c->mu);
}

json_t *cluster_gather_answers(cluster *c, cluster_gather *g, size_t from)
{
    json_t *out = json_array();
    if (out == NULL)
        abort();
    pthread_mutex_lock(&c->mu);
    for (size_t i = from; i < json_array_size(g->answers); i++)
        if (json_array_append(out, json_array_get(g->answers, i)) != 0)
            abort();
    pthread_mutex_unlock(&c->mu);
    return out;
}

void cluster_gather_free(cluster *c, cluster_gather *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    for (cluster_gather **p = &c->gathers; *p; p = &(*p)->next)
        if (*p == g) {
            *p = g->next;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    json_decref(g->answers);
    free(g);
}
