/*
 * requests.c -- idempotence by request id within the process.
 *
 * Request ids are the publisher's: two users may pick the same one.  So
 * every mark kept here (in flight, answered) is keyed by the verified
 * user and the id together (eng_request_key).  The container label that
 * finds a request's container is read with the user label beside it
 * (make.c).  One user's id never matches another user's request.
 *
 * Its state is struct eng_requests, under its own lock; the answered marks
 * (answered.c) are read and written with it held.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* The key of request rid of user (NULL: anonymous, a scope of its own):
 * "<user>\x1f<rid>".  Neither may hold a control character
 * (eng_rid_ok), and a user id is never empty, so no two pairs share a
 * key.  Free with free(). */
char *eng_request_key(const char *user, const char *rid)
{
    size_t n = (user ? strlen(user) : 0) + strlen(rid) + 2;
    char *k = xmalloc(n);
    snprintf(k, n, "%s\x1f%s", user ? user : "", rid);
    return k;
}

/* The key of delivery d's request, or NULL when it has no id. */
static char *delivery_key(const broker_delivery *d)
{
    const char *rid = d->message_id ? d->message_id : d->correlation_id;
    return rid ? eng_request_key(d->user_id, rid) : NULL;
}

/* Starts handling request key rid (eng_request_key) for job j (a MSG job): REQ_FRESH (now in
 * flight: call eng_request_end() when settled), REQ_PARKED (j now belongs to
 * the parked list) or REQ_ANSWERED (*container: malloc'd id of the
 * container that answered it, "" when none). */
req_state eng_request_begin(engine *e, const char *rid, job *j, char **container)
{
    eng_requests *r = &e->requests;
    req_state st = REQ_FRESH;
    pthread_mutex_lock(&r->mu);
    if (json_object_get(r->inflight, rid) != NULL) {
        j->next = NULL;
        job **pp = &r->parked;
        while (*pp)
            pp = &(*pp)->next;
        *pp = j;
        st = REQ_PARKED;
    } else if ((*container = eng_answered_find(e, rid)) != NULL) {
        st = REQ_ANSWERED;
    } else if (json_object_set_new(r->inflight, rid, json_true()) != 0)
        xoom();
    pthread_mutex_unlock(&r->mu);
    return st;
}

/* Ends the in-flight state of request key rid (begun with REQ_FRESH): when answered,
 * remembers it (container may be NULL); then queues the copies parked
 * behind it, at the head of the job queue. */
void eng_request_end(engine *e, const char *rid, int answered, const char *container)
{
    eng_requests *r = &e->requests;
    pthread_mutex_lock(&r->mu);
    /* answered before the in-flight mark goes: a copy sees one of them */
    if (answered)
        eng_remember_answered(e, rid, container);
    json_object_del(r->inflight, rid);
    job *keep = NULL, **kt = &keep, *wake = NULL, **wt = &wake;
    for (job *j = r->parked, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        char *jk = delivery_key(&j->d);
        bool same = jk && !strcmp(jk, rid);
        free(jk);
        if (same) {
            *wt = j;
            wt = &j->next;
        } else {
            *kt = j;
            kt = &j->next;
        }
    }
    r->parked = keep;
    pthread_mutex_unlock(&r->mu);
    if (wake)
        eng_push_jobs_front(e, wake);
}

int eng_request_in_flight(engine *e, const char *key)
{
    pthread_mutex_lock(&e->requests.mu);
    int busy = json_object_get(e->requests.inflight, key) != NULL;
    pthread_mutex_unlock(&e->requests.mu);
    return busy;
}

job *eng_requests_take_stale(engine *e, uint32_t gen)
{
    pthread_mutex_lock(&e->requests.mu);
    job *stale = eng_jobs_unlink_stale(&e->requests.parked, NULL, gen);
    pthread_mutex_unlock(&e->requests.mu);
    return stale;
}

int eng_requests_parked(engine *e)
{
    pthread_mutex_lock(&e->requests.mu);
    int any = e->requests.parked != NULL;
    pthread_mutex_unlock(&e->requests.mu);
    return any;
}

void eng_requests_init(eng_requests *r)
{
    pthread_mutex_init(&r->mu, NULL);
    r->parked = NULL;
    if ((r->inflight = json_object()) == NULL)
        xoom();
}

void eng_requests_cleanup(eng_requests *r)
{
    while (r->parked) {
        job *j = r->parked;
        r->parked = j->next;
        eng_job_free(j);
    }
    json_decref(r->inflight);
    pthread_mutex_destroy(&r->mu);
}

/* 1 if a request id may become part of labels and filters: valid UTF-8
 * (jansson checks), no control characters, at most REQUEST_ID_MAX bytes. */
int eng_rid_ok(const char *rid)
{
    size_t n = strlen(rid);
    if (n == 0 || n > REQUEST_ID_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)rid; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    json_t *probe = json_string(rid);
    json_decref(probe);
    return probe != NULL;
}
