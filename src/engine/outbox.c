/*
 * outbox.c -- the job queue the workers take from and the outbox the broker
 * thread drains (engine.h: engine_submit, engine_take_outbox...).  Each is
 * a struct with a lock of its own (eng_jobs, eng_outbox).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* Appends o to the outbox; the caller holds e->outbox.mu. */
static void append_locked(engine *e, engine_out *o)
{
    o->next = NULL;
    if (e->outbox.tail)
        e->outbox.tail->next = o;
    else
        e->outbox.head = o;
    e->outbox.tail = o;
}

/* Appends o to the outbox (takes ownership). */
void eng_post(engine *e, engine_out *o)
{
    pthread_mutex_lock(&e->outbox.mu);
    append_locked(e, o);
    pthread_mutex_unlock(&e->outbox.mu);
    if (e->conf.notify)
        e->conf.notify(e->conf.notify_ud);
}

bool eng_progress_due(const jctx *c, int64_t *last_ms, bool milestone)
{
    if (!c->cmd->progress || c->d->reply_to == NULL)
        return false;
    int64_t now = eng_now_ms();
    if (!milestone && *last_ms > 0 && now - *last_ms < 1000 / ENG_PROGRESS_PER_S)
        return false;
    *last_ms = now;
    return true;
}

void eng_post_progress(jctx *c, json_t *p)
{
    if (p == NULL)
        xoom();
    if (!c->cmd->progress || c->d->reply_to == NULL) {
        json_decref(p);
        return;
    }
    json_t *m = json_pack("{s:i, s:b, s:s, s:s, s:s?, s:o}", "schema", 1, "final", 0, "node",
                          c->e->conf.node, "command", proto_cmd_name(c->cmd), "request_id",
                          c->request_id, "progress", p);
    if (m == NULL)
        xoom();
    char *body = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    if (body == NULL)
        xoom();
    engine_out *o = engine_out_progress(c->d->reply_to, c->d->correlation_id, body);
    eng_post(c->e, o);
}

/* Queues a state-change event for the broker thread, unless
 * ENGINE_MAX_PENDING_EVENTS already wait (then it is dropped and counted).
 * Takes ownership of ev. */
void eng_post_event(engine *e, json_t *ev)
{
    char key[320];
    proto_event_key(ev, key, sizeof key);
    char *body = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ev);
    if (body == NULL)
        xoom();
    engine_out *o = engine_out_event(key, body);
    pthread_mutex_lock(&e->outbox.mu);
    uint64_t lost = 0;
    if (e->outbox.n_events >= ENGINE_MAX_PENDING_EVENTS) {
        lost = ++e->outbox.events_lost;
    } else {
        e->outbox.n_events++;
        append_locked(e, o);
        o = NULL;
    }
    pthread_mutex_unlock(&e->outbox.mu);
    if (o == NULL && e->conf.notify)
        e->conf.notify(e->conf.notify_ud);
    if (o != NULL) {
        metrics_add(e->conf.metrics ? e->conf.metrics->events_dropped : NULL, NULL, 1);
        engine_out_free(o);
        if ((lost & (lost - 1)) == 0) /* 1, 2, 4, ...: a line, not a flood */
            log_msg(LOG_LVL_WARN, "%d events wait for RabbitMQ: %llu dropped so far",
                    ENGINE_MAX_PENDING_EVENTS, (unsigned long long)lost);
    }
}

engine_out *eng_outbox_take_finals(engine *e)
{
    engine_out *finals = NULL;
    pthread_mutex_lock(&e->outbox.mu);
    engine_out **pp = &e->outbox.head;
    e->outbox.tail = NULL;
    while (*pp) {
        engine_out *o = *pp;
        if (o->kind == ENGINE_OUT_REPLY && o->reply.tag == 0 && o->reply.after_remove &&
            o->reply.dl == NULL) {
            *pp = o->next;
            o->next = finals;
            finals = o;
        } else {
            e->outbox.tail = o;
            pp = &o->next;
        }
    }
    pthread_mutex_unlock(&e->outbox.mu);
    return finals;
}

/* Number of EVENT items in list. */
static size_t count_events(const engine_out *l)
{
    size_t n = 0;
    for (; l; l = l->next)
        n += l->kind == ENGINE_OUT_EVENT;
    return n;
}

engine_out *engine_take_outbox(engine *e)
{
    pthread_mutex_lock(&e->outbox.mu);
    engine_out *l = e->outbox.head;
    e->outbox.head = e->outbox.tail = NULL;
    e->outbox.n_events = 0;
    pthread_mutex_unlock(&e->outbox.mu);
    return l;
}

void engine_requeue_outbox(engine *e, engine_out *list)
{
    if (list == NULL)
        return;
    engine_out *last = list;
    while (last->next)
        last = last->next;
    size_t n = count_events(list);
    pthread_mutex_lock(&e->outbox.mu);
    e->outbox.n_events += n;
    last->next = e->outbox.head;
    e->outbox.head = list;
    if (e->outbox.tail == NULL)
        e->outbox.tail = last;
    pthread_mutex_unlock(&e->outbox.mu);
}

/* Queues a job (takes ownership). */
void eng_push_job(engine *e, job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&e->jobs.mu);
    if (e->jobs.tail)
        e->jobs.tail->next = j;
    else
        e->jobs.head = j;
    e->jobs.tail = j;
    pthread_cond_signal(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

job *eng_job_next_locked(engine *e)
{
    job *prev = NULL;
    for (job *j = e->jobs.head; j; prev = j, j = j->next) {
        if (!eng_quota_take_worker(e, j))
            continue;
        if (prev)
            prev->next = j->next;
        else
            e->jobs.head = j->next;
        if (e->jobs.tail == j)
            e->jobs.tail = prev;
        j->next = NULL;
        return j;
    }
    return NULL;
}

void eng_jobs_wake(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    pthread_cond_broadcast(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

void eng_push_jobs_front(engine *e, job *list)
{
    job *last = list;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&e->jobs.mu);
    last->next = e->jobs.head;
    e->jobs.head = list;
    if (e->jobs.tail == NULL)
        e->jobs.tail = last;
    pthread_cond_broadcast(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

void eng_push_job_first(engine *e, job *j)
{
    pthread_mutex_lock(&e->jobs.mu);
    job **pp = &e->jobs.head;
    while (*pp && (*pp)->kind != JOB_MSG)
        pp = &(*pp)->next;
    j->next = *pp;
    *pp = j;
    if (j->next == NULL)
        e->jobs.tail = j;
    pthread_cond_signal(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

static void submit(engine *e, broker_delivery *d, int unrouted)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_MSG;
    j->arrived = eng_now_ms();
    j->unrouted = unrouted;
    j->d = *d;
    memset(d, 0, sizeof *d);
    eng_quota_submit(e, j);
    eng_push_job(e, j);
}

void engine_submit(engine *e, broker_delivery *d)
{
    submit(e, d, 0);
}

job *eng_jobs_unlink_stale(job **head, job **tail, uint32_t gen)
{
    job *stale = NULL, **st = &stale, *last = NULL;
    for (job **pp = head; *pp;) {
        job *j = *pp;
        if (j->kind == JOB_MSG && j->d.tag != 0 && j->d.generation != gen) {
            *pp = j->next;
            j->next = NULL;
            *st = j;
            st = &j->next;
            continue;
        }
        last = j;
        pp = &j->next;
    }
    if (tail)
        *tail = last;
    return stale;
}

void eng_job_free(job *j)
{
    broker_delivery_cleanup(&j->d);
    free(j->user);
    free(j->id);
    free(j);
}

/* Frees the jobs of list, each no longer counted against its user. */
static size_t drop_jobs(engine *e, job *list)
{
    size_t n = 0;
    for (job *j = list, *next; j; j = next, n++) {
        next = j->next;
        eng_quota_release(e, j);
        eng_job_free(j);
    }
    return n;
}

size_t engine_forget_generations(engine *e, uint32_t gen)
{
    pthread_mutex_lock(&e->jobs.mu);
    job *queued = eng_jobs_unlink_stale(&e->jobs.head, &e->jobs.tail, gen);
    job *bulk = eng_bulks_take_stale(e, gen); /* with jobs.mu: none moves to the queue meanwhile */
    pthread_mutex_unlock(&e->jobs.mu);
    size_t n = drop_jobs(e, queued);
    n += drop_jobs(e, eng_requests_take_stale(e, gen));
    return n + drop_jobs(e, bulk);
}

void engine_submit_unrouted(engine *e, broker_delivery *d)
{
    submit(e, d, 1);
}

void engine_after(engine *e, const char *container_id, int remove)
{
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_AFTER;
    j->id = xstrdup(container_id);
    j->mark = !remove;
    /* ahead of the queue: until the mark is in, a crash would make a
     * restarted node answer this container again */
    pthread_mutex_lock(&e->jobs.mu);
    j->next = e->jobs.head;
    e->jobs.head = j;
    if (e->jobs.tail == NULL)
        e->jobs.tail = j;
    pthread_cond_signal(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

/* The queue and the workers are looked at before the parked copies: a
 * copy is parked and unparked by a busy worker. */
int engine_idle(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    int idle = e->jobs.head == NULL && e->jobs.busy == 0;
    pthread_mutex_unlock(&e->jobs.mu);
    idle = idle && !eng_requests_parked(e);
    pthread_mutex_lock(&e->outbox.mu);
    idle = idle && e->outbox.head == NULL;
    pthread_mutex_unlock(&e->outbox.mu);
    return idle;
}

job *eng_jobs_take(engine *e, int *draining)
{
    pthread_mutex_lock(&e->jobs.mu);
    job *j;
    while ((j = eng_job_next_locked(e)) == NULL && !e->jobs.stop_workers)
        pthread_cond_wait(&e->jobs.cv, &e->jobs.mu);
    *draining = e->jobs.draining;
    if (j != NULL)
        e->jobs.busy++;
    pthread_mutex_unlock(&e->jobs.mu);
    return j;
}

void eng_jobs_done(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    e->jobs.busy--;
    pthread_mutex_unlock(&e->jobs.mu);
}

int eng_jobs_busy(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    int n = e->jobs.busy;
    pthread_mutex_unlock(&e->jobs.mu);
    return n;
}

void eng_jobs_drain(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    e->jobs.draining = 1;
    pthread_mutex_unlock(&e->jobs.mu);
}

void eng_jobs_stop(engine *e)
{
    pthread_mutex_lock(&e->jobs.mu);
    e->jobs.stop_workers = 1;
    pthread_cond_broadcast(&e->jobs.cv);
    pthread_mutex_unlock(&e->jobs.mu);
}

void eng_jobs_init(eng_jobs *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
}

void eng_jobs_cleanup(eng_jobs *q)
{
    while (q->head) {
        job *j = q->head;
        q->head = j->next;
        eng_job_free(j);
    }
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
}

void eng_outbox_init(eng_outbox *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
}

void eng_outbox_cleanup(eng_outbox *o)
{
    while (o->head) {
        engine_out *x = o->head;
        o->head = x->next;
        engine_out_free(x);
    }
    pthread_mutex_destroy(&o->mu);
}
