/*
 * answered.c -- what was answered: the marks of answered requests in this
 * process, the containers it made and has not answered yet, and the marks
 * that keep an answered container from being answered again by a restarted
 * node.  Its state is struct eng_answered, under its own lock (a leaf:
 * nothing else is taken while it is held).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

/*
 * The "answered" marker.  A run with Attach but without Remove leaves its
 * exited container behind.  Container labels cannot change after
 * creation, so the fact that its final reply went out is kept in the
 * container itself.  Once the reply is confirmed, a small file MARKER_PATH
 * is put into its filesystem (PUT /containers/{id}/archive works on stopped
 * containers).  A restarted node checks for it before answering again.  A
 * container with a read-only root filesystem cannot be marked: the warning
 * says that its reply may be sent again after a restart.  The tar is built
 * here by hand because it is one fixed 512-byte header: no tar library is
 * worth a dependency for that.
 */
#define MARKER_PATH "/.docker-dispatch-answered"

/* A Remove container is marked before its removal by a rename to
 * "answered-<its full id>".  That is a metadata call, much faster than the
 * archive marker (which mounts the container's filesystem).  No request can
 * give a container that name, since its id does not exist before it is
 * made. */
#define ANSWERED_NAME_PREFIX "answered-"

void eng_mark_answered(dkc_client *cli, const char *id)
{
    static const char content[] = "answered\n";
    char tar[2048];
    memset(tar, 0, sizeof tar);
    snprintf(tar, 100, "%s", &MARKER_PATH[1]); /* without the leading slash */
    snprintf(tar + 100, 8, "%07o", 0644u);
    snprintf(tar + 108, 8, "%07o", 0u);
    snprintf(tar + 116, 8, "%07o", 0u);
    snprintf(tar + 124, 12, "%011o", (unsigned)(sizeof content - 1));
    snprintf(tar + 136, 12, "%011o", (unsigned)time(NULL) & 07777777777u);
    tar[156] = '0';
    memcpy(tar + 257, "ustar", 6);
    memcpy(tar + 263, "00", 2);
    memset(tar + 148, ' ', 8); /* the checksum counts its own field as spaces */
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)tar[i];
    snprintf(tar + 148, 8, "%06o", sum & 0777777u);
    memcpy(tar + 512, content, sizeof content - 1);
    dkc_membuf_reader rd = {.data = tar, .len = sizeof tar, .pos = 0};
    int rc = dkc_container_archive_put(cli, id, "/", dkc_membuf_read, &rd);
    if (rc != 0)
        log_msg(LOG_LVL_WARN,
                "cannot mark container %.12s as answered (%s): a restarted node may send its "
                "final reply again",
                id, dkc_strerror(rc));
}

int eng_has_answered_name(const char *name, const char *id)
{
    size_t n = strlen(ANSWERED_NAME_PREFIX);
    return name && id && !strncmp(name, ANSWERED_NAME_PREFIX, n) && !strcmp(name + n, id);
}

/* Marks and removes an answered container.  While Docker does not answer,
 * the id waits in the removals for a supervision pass that finds Docker
 * back. */
void eng_remove_answered(engine *e, dkc_client *cli, const char *id)
{
    char name[160];
    snprintf(name, sizeof name, ANSWERED_NAME_PREFIX "%s", id);
    int rc = dkc_container_rename(cli, id, name);
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        goto later;
    if (rc != 0 && rc != DKC_ENOTFOUND && rc != DKC_ECONFLICT)
        log_msg(LOG_LVL_WARN, "marking container %.12s as answered: %s", id, dkc_strerror(rc));
    rc = dkc_container_remove(cli, id, true, false);
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        goto later;
    if (rc != 0 && rc != DKC_ENOTFOUND)
        log_msg(LOG_LVL_WARN, "removing container %.12s: %s", id, dkc_strerror(rc));
    return;
later:
    log_msg(LOG_LVL_INFO, "Docker is away: container %.12s will be removed when it is back", id);
    pthread_mutex_lock(&e->answered.mu);
    if (json_array_append_new(e->answered.removals, json_string(id)) != 0)
        xoom();
    pthread_mutex_unlock(&e->answered.mu);
    eng_sup_soon(e, SUPERVISE_RETRY_MS); /* the pass that retries it */
}

/* Retries the removals that waited for Docker (supervisor, Docker up). */
void eng_retry_removals(engine *e, dkc_client *cli)
{
    json_t *fresh = json_array();
    if (fresh == NULL)
        xoom();
    pthread_mutex_lock(&e->answered.mu);
    json_t *list = e->answered.removals;
    e->answered.removals = fresh;
    pthread_mutex_unlock(&e->answered.mu);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) eng_remove_answered(e, cli, json_string_value(v));
    json_decref(list);
}

static int discard(void *ud, const char *data, size_t len)
{
    return 0;
}

/* 1 if the container carries the answered marker. */
int eng_is_answered(dkc_client *cli, const char *id)
{
    return dkc_container_archive_get(cli, id, MARKER_PATH, discard, NULL, NULL) == 0;
}

void eng_answered_init(eng_answered *a)
{
    pthread_mutex_init(&a->mu, NULL);
    a->marks = json_object();
    a->ring = xcalloc(ANSWERED_MAX, sizeof *a->ring);
    a->pos = 0;
    a->mine = json_object();
    a->removals = json_array();
    if (a->marks == NULL || a->mine == NULL || a->removals == NULL)
        xoom();
}

void eng_answered_cleanup(eng_answered *a)
{
    for (size_t i = 0; a->ring != NULL && i < ANSWERED_MAX; i++)
        free(a->ring[i]);
    free(a->ring);
    json_decref(a->marks);
    json_decref(a->mine);
    json_decref(a->removals);
    pthread_mutex_destroy(&a->mu);
}

void eng_remember_answered(engine *e, const char *key, const char *container)
{
    if (key == NULL)
        return;
    eng_answered *a = &e->answered;
    pthread_mutex_lock(&a->mu);
    if (json_object_get(a->marks, key) == NULL) {
        char *old = a->ring[a->pos];
        if (old != NULL) {
            json_object_del(a->marks, old);
            free(old);
        }
        a->ring[a->pos] = xstrdup(key);
        a->pos = (a->pos + 1) % ANSWERED_MAX;
    }
    if (json_object_set_new(a->marks, key, json_string(container ? container : "")) != 0)
        xoom();
    pthread_mutex_unlock(&a->mu);
}

char *eng_answered_find(engine *e, const char *key)
{
    pthread_mutex_lock(&e->answered.mu);
    json_t *ans = json_object_get(e->answered.marks, key);
    char *container = ans ? xstrdup(json_string_value(ans)) : NULL;
    pthread_mutex_unlock(&e->answered.mu);
    return container;
}

void eng_mine_add(engine *e, const char *id)
{
    pthread_mutex_lock(&e->answered.mu);
    if (json_object_set_new(e->answered.mine, id, json_integer(eng_now_ms())) != 0)
        xoom();
    pthread_mutex_unlock(&e->answered.mu);
}

void eng_mine_del(engine *e, const char *id)
{
    pthread_mutex_lock(&e->answered.mu);
    json_object_del(e->answered.mine, id);
    pthread_mutex_unlock(&e->answered.mu);
}

int eng_mine_has(engine *e, const char *id)
{
    pthread_mutex_lock(&e->answered.mu);
    int has = json_object_get(e->answered.mine, id) != NULL;
    pthread_mutex_unlock(&e->answered.mu);
    return has;
}

void eng_mine_forget_gone(engine *e, const json_t *present, int64_t listed_at)
{
    pthread_mutex_lock(&e->answered.mu);
    eng_forget_gone(e->answered.mine, present, listed_at);
    pthread_mutex_unlock(&e->answered.mu);
}

void eng_mine_clear(engine *e)
{
    pthread_mutex_lock(&e->answered.mu);
    json_object_clear(e->answered.mine);
    pthread_mutex_unlock(&e->answered.mu);
}
