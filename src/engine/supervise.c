/*
 * supervise.c -- supervision: the supervisor thread's passes over this node's
 * containers (final replies, deadlines, `wait` waiters, Docker coming back)
 * and the watcher thread following Docker's event stream; the routing keys
 * bound for this node's containers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "engine_internal.h"
#include "text.h"

/* An exited container of ours that never ran (see eng_finish_job) is
 * removed once it is this old and its request is not in flight here. */
#define NEVER_STARTED_GRACE_S 60

/* The watcher's place in Docker's event stream. */
typedef struct watch_state {
    engine *e;
    int64_t last; /* time_nano of the last event turned into ours */
} watch_state;

/* Copies a run's captured output (data, len bytes, already bounded by the
 * run's output limit) to stdout, one record per line.  So the dispatcher's
 * stdout shows what the original docker-dispatch showed:
 * "output id=<request> stdout| <line>", or in JSON mode
 * {"event":"output","id":..,"stream":..,"line":..}.  The id is as in every
 * log line; the line has control characters, quotes and backslashes
 * escaped. */
static void echo_output(const char *rid, const char *stream, const char *data, size_t len)
{
    char eid[128], text[4096 + 160];
    char *esc = xmalloc(4096);
    text_token(eid, sizeof eid, rid ? rid : "-", rid ? strlen(rid) : 1, 64);
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) : len - pos;
        char *one = xmalloc(n + 1);
        memcpy(one, data + pos, n);
        one[n] = '\0'; /* a NUL inside the line ends it here: fine for a log */
        pos += n + (nl ? 1 : 0);
        json_t *obj = NULL;
        if (log_is_json()) {
            json_t *lv = json_string(one);
            if (lv == NULL) { /* not UTF-8: the escaped form */
                text_line(esc, 4096, one);
                lv = json_string(esc);
            }
            obj = json_pack("{s:s, s:s?, s:s, s:o?}", "event", "output", "id", rid, "stream",
                            stream, "line", lv);
        } else {
            text_line(esc, 4096, one);
            snprintf(text, sizeof text, "output id=%s %s| %s", eid, stream, esc);
        }
        log_record(text, obj);
        json_decref(obj);
        free(one);
    }
    free(esc);
}

static void finish_never_started(engine *e, dkc_client *cli, const char *id, json_t *ins,
                                 const char *key)
{
    int64_t at = eng_rfc3339_secs(eng_jstr(ins, "Created"));
    bool busy = key && eng_request_in_flight(e, key);
    if (busy || at == 0 || (int64_t)time(NULL) - at < NEVER_STARTED_GRACE_S) {
        eng_unclaim(e, id);
        return;
    }
    log_msg(LOG_LVL_INFO, "container %.12s never ran and nothing waits for it: removing it", id);
    eng_remove_answered(e, cli, id);
}

/* Inspects id for its final reply: 1 with *ins (new reference) when it has
 * exited; 0 when there is nothing to do now (still running, gone, Docker
 * away: unclaimed where a later pass should look again). */
static int inspect_exited(engine *e, dkc_client *cli, const char *id, json_t **ins)
{
    int rc = dkc_container_inspect(cli, id, ins);
    if (rc != 0) {
        if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
            eng_docker_down(e);
        if (rc != DKC_ENOTFOUND)
            eng_unclaim(e, id); /* try again on a later pass */
        return 0;
    }
    if (json_is_true(json_object_get(json_object_get(*ins, "State"), "Running"))) {
        eng_unclaim(e, id);
        return 0;
    }
    return 1;
}

/* 1 when an earlier process answered id already (then a Remove container
 * the crash left behind is removed now).  Only a container this process
 * did not make can have been answered by an earlier one (the archive check
 * mounts its filesystem: not on every run). */
static int answered_before(engine *e, dkc_client *cli, const char *id, json_t *ins, bool remove)
{
    if (!eng_has_answered_name(eng_cname(ins), id) &&
        (eng_mine_has(e, id) || !eng_is_answered(cli, id)))
        return 0;
    int rc;
    if (remove && (rc = dkc_container_remove(cli, id, true, false)) != 0 && rc != DKC_ENOTFOUND)
        log_msg(LOG_LVL_WARN, "removing container %.12s: %s", id, dkc_strerror(rc));
    return 1;
}

/* Reads the attached streams (att: "stdout", "stderr" or both) of id
 * (ins: its inspect) into cap.  0, or -1 when no reply is to be sent now
 * (Docker away: unclaimed for a later pass; an earlier process's container
 * removed meanwhile). */
static int read_output(engine *e, dkc_client *cli, const char *id, json_t *ins, const char *att,
                       capture *cap)
{
    dkc_logs_opts lo = {.stdout_ = strstr(att, "stdout") != NULL,
                        .stderr_ = strstr(att, "stderr") != NULL,
                        .tty = dkc_tty_of(ins)};
    int rc = dkc_container_logs(cli, id, &lo, eng_capture_cb, cap);
    if (rc == 0)
        return 0;
    log_msg(LOG_LVL_WARN, "logs of %.12s: %s", id, dkc_strerror(rc));
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT) {
        eng_docker_down(e);
        eng_unclaim(e, id);
        return -1;
    }
    if ((rc == DKC_ENOTFOUND || rc == DKC_ECONFLICT) && !eng_mine_has(e, id)) {
        /* An earlier process's container, removed while we read it: a
         * client removes a run's container once it has the reply, so that
         * process answered and died before its mark.  A second answer
         * without the output would not be the same answer: none is sent. */
        log_msg(LOG_LVL_WARN,
                "container %.12s of an earlier process went away before its output could be "
                "read: not answering it again",
                id);
        return -1;
    }
    return 0; /* answered with what could be read */
}

/* The final reply of an exited run container (ins: its inspect), in the
 * dialect its request came in.  New reference. */
static json_t *final_reply(engine *e, const char *id, json_t *ins, const capture *cap,
                           bool captured, bool remove)
{
    json_t *state = json_object_get(ins, "State");
    json_t *labels = json_object_get(json_object_get(ins, "Config"), "Labels");
    const char *dl = eng_label(labels, "deadline");
    const char *dialect = eng_label(labels, "dialect");
    const char *fin = eng_jstr(state, "FinishedAt");
    int64_t deadline = dl ? strtoll(dl, NULL, 10) : 0;
    proto_run_result r = {
        .container_id = id,
        .container_name = eng_cname(ins),
        .waited = true,
        .exit_code = json_integer_value(json_object_get(state, "ExitCode")),
        .captured = captured,
        .out = cap->out.data ? cap->out.data : "",
        .out_len = cap->out.len,
        .err = cap->err.data ? cap->err.data : "",
        .err_len = cap->err.len,
        .truncated = cap->truncated,
        .timed_out = deadline > 0 && eng_rfc3339_secs(fin) >= deadline,
        .removed = remove,
        .started_at = eng_jstr(state, "StartedAt"),
        .finished_at = fin,
    };
    const char *err = eng_jstr(state, "Error");
    if (err && *err)
        r.error = err;
    json_t *result = proto_result_run(&r);
    proto_reply_info ri;
    proto_reply_info_init(&ri, NULL, NULL, e->conf.node, eng_label(labels, "request"));
    ri.dialect = dialect && !strcmp(dialect, proto_dialect_name(PROTO_DIALECT_DOCKERMOD))
                     ? PROTO_DIALECT_DOCKERMOD
                     : PROTO_DIALECT_DISPATCH;
    ri.command = "run";
    json_t *reply = proto_reply_ok(&ri, result);
    json_decref(result);
    if (reply == NULL)
        xoom();
    return reply;
}

/* Observes the run's time from State.StartedAt to State.FinishedAt of its
 * inspect ins (metrics' run_duration), when both can be read.  A run that
 * ends at once may have a FinishedAt before its StartedAt (Docker records
 * the start after the process began): that counts as 0. */
static void count_duration(engine *e, json_t *ins)
{
    json_t *state = json_object_get(ins, "State");
    double t0 = eng_rfc3339_time(eng_jstr(state, "StartedAt"));
    double t1 = eng_rfc3339_time(eng_jstr(state, "FinishedAt"));
    if (e->conf.metrics != NULL && t0 > 0 && t1 > 0)
        metrics_observe(e->conf.metrics->run_duration, NULL, t1 > t0 ? t1 - t0 : 0);
}

/* FINISH: a supervised container exited and owes its final reply.  Steps:
 * is it exited; did it ever run; was it answered before a restart; its
 * output; the reply, posted with the mark or removal that follows it. */
void eng_finish_job(engine *e, dkc_client *cli, const char *id)
{
    json_t *ins = NULL;
    char *key = NULL;
    capture cap = {0};
    pthread_mutex_lock(&e->sup.mu);
    int hold = eng_now_ms() < e->sup.finish_after;
    pthread_mutex_unlock(&e->sup.mu);
    if (hold) {
        eng_unclaim(e, id); /* a pass after the hold looks again */
        return;
    }
    if (!inspect_exited(e, cli, id, &ins))
        goto out;
    json_t *labels = json_object_get(json_object_get(ins, "Config"), "Labels");
    const char *rid = eng_label(labels, "request");
    /* the request's marks are the user's (requests.c) */
    key = rid ? eng_request_key(eng_label(labels, "user"), rid) : NULL;
    if (eng_never_started(ins)) {
        /* Nothing ran, so there is no final reply to give: its request was
         * answered with the start's error (and the container is removed
         * after that reply), or its message is still unacked and its
         * redelivery will start it.  One left behind by a crash in between
         * goes once it is old enough that no redelivery is coming. */
        finish_never_started(e, cli, id, ins, key);
        goto out;
    }
    const char *att = eng_label(labels, "attach");
    const char *ol = eng_label(labels, "output-limit");
    bool remove = eng_label(labels, "remove") != NULL;
    bool captured = att && *att;
    if (answered_before(e, cli, id, ins, remove))
        goto out; /* stays claimed: never again */
    cap.limit = ol ? (size_t)strtoull(ol, NULL, 10) : (size_t)e->conf.output_limit;
    if (captured && read_output(e, cli, id, ins, att, &cap) != 0)
        goto out;
    json_t *reply = final_reply(e, id, ins, &cap, captured, remove);
    count_duration(e, ins);
    if (captured && !e->conf.quiet_output) {
        echo_output(rid, "stdout", cap.out.data ? cap.out.data : "", cap.out.len);
        echo_output(rid, "stderr", cap.err.data ? cap.err.data : "", cap.err.len);
    }
    eng_remember_answered(e, key, id);
    eng_post_reply(e, reply, -1, eng_label(labels, "reply-to"), eng_label(labels, "correlation-id"),
                   0, NULL, NULL, id, !remove);
out:
    free(key);
    json_decref(ins);
    eng_capture_free(&cap);
}

/* Answers waiters whose container stopped (or vanished, or timed out). */
static void check_waiters(engine *e, dkc_client *cli)
{
    pthread_mutex_lock(&e->sup.mu);
    waiter *list = e->sup.waiters;
    e->sup.waiters = NULL;
    pthread_mutex_unlock(&e->sup.mu);
    waiter *keep = NULL;
    while (list) {
        waiter *w = list;
        list = w->next;
        json_t *ins = NULL;
        json_t *reply = NULL;
        proto_reply_info ri;
        proto_reply_info_init(&ri, NULL, NULL, e->conf.node, w->request_id);
        ri.dialect = w->dialect;
        ri.command = "wait";
        int rc = dkc_container_inspect(cli, w->container, &ins);
        bool want_removed = w->condition && !strcmp(w->condition, "removed");
        bool next_exit = w->condition && !strcmp(w->condition, "next-exit");
        if (rc == DKC_ENOTFOUND) {
            if (want_removed) {
                json_t *res = json_pack("{s:i, s:n}", "exit_code", 0, "error");
                reply = proto_reply_ok(&ri, res);
                json_decref(res);
            } else {
                reply = proto_reply_error(&ri, PROTO_ENOTFOUND, "container disappeared", NULL, 404);
            }
        } else if (rc == 0) {
            json_t *state = json_object_get(ins, "State");
            const char *fin = eng_jstr(state, "FinishedAt");
            bool exited_since =
                !next_exit || (fin && (w->finished_at == NULL || strcmp(fin, w->finished_at) != 0));
            if (!want_removed && exited_since && !json_is_true(json_object_get(state, "Running"))) {
                json_t *res = json_pack(
                    "{s:I, s:n}", "exit_code",
                    (json_int_t)json_integer_value(json_object_get(state, "ExitCode")), "error");
                reply = proto_reply_ok(&ri, res);
                json_decref(res);
            }
        }
        if (reply == NULL && w->deadline_ms && eng_now_ms() >= w->deadline_ms)
            reply = proto_reply_error(&ri, PROTO_ETIMEOUT, "wait timed out", NULL, 0);
        json_decref(ins);
        if (reply) {
            eng_post_reply(e, reply, w->t0, w->reply_to, w->correlation_id, 0, NULL, NULL, NULL, 0);
            eng_waiter_free(w);
        } else {
            w->next = keep;
            keep = w;
        }
    }
    pthread_mutex_lock(&e->sup.mu);
    while (keep) {
        waiter *w = keep;
        keep = w->next;
        w->next = e->sup.waiters;
        e->sup.waiters = w;
    }
    pthread_mutex_unlock(&e->sup.mu);
}

/* Queues the final reply of container id unless it is claimed already. */
static void queue_finish(engine *e, const char *id)
{
    if (!eng_claim(e, id))
        return;
    job *j = xcalloc(1, sizeof *j);
    j->kind = JOB_FINISH;
    j->id = xstrdup(id);
    eng_push_job_first(e, j);
}

/* Forgets the claims on containers missing from list (the node's
 * containers as Docker listed them from listed_at on): they are gone.
 * Claims made since then stay, as their containers may be newer than the
 * list. */
static void prune_claims(engine *e, json_t *list, int64_t listed_at)
{
    json_t *present = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = eng_jstr(c, "Id");
        if (id)
            json_object_set_new(present, id, json_true());
    }
    pthread_mutex_lock(&e->sup.mu);
    eng_forget_gone(e->sup.claimed, present, listed_at);
    pthread_mutex_unlock(&e->sup.mu);
    eng_mine_forget_gone(e, present, listed_at);
    json_decref(present);
}

int engine_adopt(engine *e, char *const *names)
{
    json_t *now = json_array();
    if (now == NULL)
        xoom();
    for (size_t i = 0; names && names[i]; i++)
        if (json_array_append_new(now, json_string(names[i])) != 0)
            xoom();
    pthread_mutex_lock(&e->sup.mu);
    int changed = !json_equal(now, e->sup.adopted);
    json_decref(e->sup.adopted);
    e->sup.adopted = now;
    pthread_mutex_unlock(&e->sup.mu);
    if (changed)
        eng_sup_soon(e, 0);
    return changed;
}

void engine_fence(engine *e, int hold_ms)
{
    eng_mine_clear(e);
    pthread_mutex_lock(&e->sup.mu);
    e->sup.finish_after = eng_now_ms() + hold_ms;
    pthread_mutex_unlock(&e->sup.mu);
    /* the final replies made meanwhile: made again after the hold, if
     * still owed */
    engine_out *dropped = eng_outbox_take_finals(e);
    pthread_mutex_lock(&e->sup.mu);
    for (engine_out *o = dropped; o; o = o->next)
        json_object_del(e->sup.claimed, o->reply.after_remove);
    pthread_mutex_unlock(&e->sup.mu);
    int n = 0;
    while (dropped) {
        engine_out *o = dropped;
        dropped = o->next;
        engine_out_free(o);
        n++;
    }
    eng_sup_soon(e, hold_ms + 10); /* the pass that answers what is still owed */
    log_msg(LOG_LVL_WARN,
            "out of touch with the cluster long enough to be taken for dead: %d final repl%s "
            "made meanwhile dropped; final replies wait %d ms, then are checked against the "
            "answered marks",
            n, n == 1 ? "y" : "ies", hold_ms);
}

/* Appends to arr the containers of the adopted nodes (engine_adopt), each
 * with "Node": its node.  0, or a dkc error of a list. */
static int list_adopted(engine *e, dkc_client *cli, json_t *arr)
{
    pthread_mutex_lock(&e->sup.mu);
    json_t *names = json_deep_copy(e->sup.adopted);
    pthread_mutex_unlock(&e->sup.mu);
    if (names == NULL)
        xoom();
    int rc = 0;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        char label[sizeof e->node_label];
        snprintf(label, sizeof label, LBL "node=%s", json_string_value(n));
        dkc_list_opts lo = {.all = true, .filters = eng_label_filter(e->cluster_label, label)};
        json_t *theirs = NULL;
        rc = dkc_container_list(cli, &lo, &theirs);
        json_decref(lo.filters);
        if (rc != 0)
            break;
        size_t k;
        json_t *c;
        json_array_foreach(theirs, k, c)
        {
            eng_set(c, "Node", json_incref(n));
            if (json_array_append(arr, c) != 0)
                xoom();
        }
        json_decref(theirs);
    }
    json_decref(names);
    return rc;
}

/* The routing keys of the adopted containers in arr (those with "Node")
 * are unbound from their departed node's queue once.  This node's own
 * binding comes with eng_routes_reconcile.  Keys of released nodes are
 * forgotten, so that a node departing again is taken over again. */
static void move_adopted_routes(engine *e, json_t *arr)
{
    if (e->conf.members == NULL)
        return;
    json_t *seen = json_object();
    if (seen == NULL)
        xoom();
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *id = eng_jstr(c, "Id");
        const char *node = eng_jstr(c, "Node");
        if (id == NULL || node == NULL || strlen(id) < 12)
            continue;
        char shortid[13];
        snprintf(shortid, sizeof shortid, "%.12s", id);
        const char *keys[] = {id, shortid};
        for (size_t k = 0; k < 2; k++) {
            eng_set(seen, keys[k], json_string(node));
            if (json_object_get(e->sup.adopted_keys, keys[k]) != NULL)
                continue;
            eng_set(e->sup.adopted_keys, keys[k], json_string(node));
            eng_post(e, engine_out_route(node, keys[k], 0));
        }
    }
    json_decref(e->sup.adopted_keys);
    e->sup.adopted_keys = seen;
}

/* One supervision pass: reconcile this node's labelled containers, and
 * those of the departed nodes it adopted. */
static void supervise_once(engine *e, dkc_client *cli)
{
    dkc_list_opts lo = {.all = true, .filters = eng_owner_filter(e)};
    json_t *arr = NULL;
    int64_t listed_at = eng_now_ms();
    int rc = dkc_container_list(cli, &lo, &arr);
    json_decref(lo.filters);
    if (rc == 0)
        rc = list_adopted(e, cli, arr);
    if (rc == 0)
        prune_claims(e, arr, listed_at);
    if (rc != 0) {
        json_decref(arr);
        if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
            eng_docker_down(e);
        else if (rc != DKC_ECANCELED)
            log_msg(LOG_LVL_WARN, "supervision: listing containers: %s", dkc_strerror(rc));
        return;
    }
    pthread_mutex_lock(&e->sup.mu);
    int was_down = e->sup.docker_down;
    e->sup.docker_down = 0;
    pthread_mutex_unlock(&e->sup.mu);
    if (was_down) {
        metrics_add(e->conf.metrics ? e->conf.metrics->docker_reconnects : NULL, NULL, 1);
        log_msg(LOG_LVL_INFO, "Docker answers again: resuming consumption");
        eng_post(e, engine_out_resume());
    }
    eng_retry_removals(e, cli);
    eng_routes_reconcile(e, arr, listed_at); /* bound here first, then unbound there */
    move_adopted_routes(e, arr);
    int running = 0;
    int64_t now = time(NULL);
    int64_t next = INT64_MAX; /* eng_now_ms of the earliest deadline ahead */
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *id = eng_jstr(c, "Id");
        const char *state = eng_jstr(c, "State");
        json_t *labels = json_object_get(c, "Labels");
        if (id == NULL || state == NULL)
            continue;
        const char *dl = eng_label(labels, "deadline");
        if (!strcmp(state, "running") || !strcmp(state, "paused")) {
            running++;
            if (dl && now < strtoll(dl, NULL, 10)) {
                int64_t at = eng_now_ms() + (strtoll(dl, NULL, 10) - now) * 1000;
                next = at < next ? at : next;
            }
            if (dl && now >= strtoll(dl, NULL, 10)) {
                log_msg(LOG_LVL_INFO, "container %.12s reached its deadline: killing", id);
                int krc = dkc_container_kill(cli, id, NULL);
                if (krc != 0 && krc != DKC_ECONFLICT && krc != DKC_ENOTFOUND)
                    log_msg(LOG_LVL_WARN, "killing %.12s: %s", id, dkc_strerror(krc));
            }
            continue;
        }
        if ((!strcmp(state, "exited") || !strcmp(state, "dead")) && eng_label(labels, "final"))
            queue_finish(e, id);
    }
    pthread_mutex_lock(&e->sup.mu);
    e->sup.n_running = running;
    e->sup.n_containers = (int)json_array_size(arr);
    pthread_mutex_unlock(&e->sup.mu);
    json_decref(arr);
    check_waiters(e, cli);
    pthread_mutex_lock(&e->sup.mu);
    for (waiter *w = e->sup.waiters; w; w = w->next)
        if (w->deadline_ms && w->deadline_ms < next)
            next = w->deadline_ms;
    e->sup.next = next;
    pthread_mutex_unlock(&e->sup.mu);
}

void eng_sup_soon(engine *e, int delay_ms)
{
    int64_t at = eng_now_ms() + (delay_ms > 0 ? delay_ms : 0);
    pthread_mutex_lock(&e->sup.mu);
    if (at < e->sup.due) {
        e->sup.due = at;
        pthread_cond_signal(&e->sup.cv);
    }
    pthread_mutex_unlock(&e->sup.mu);
}

/* The supervisor makes a pass over this node's containers when something
 * asks for one (eng_sup_soon: Docker's events of our containers, retries,
 * a new `wait`, adoption).  It makes one when a run's deadline or a `wait`
 * timeout comes, and every SUPERVISE_PERIOD_MS while Docker is not
 * answering (to see it come back).  Otherwise it makes one every
 * conf.supervise_ms: an idle node does not wake up for it more often.
 * Final replies do not wait for a pass: the watcher
 * queues them from the `die` event. */
static void *sup_main(void *arg)
{
    engine *e = arg;
    int64_t started = eng_now_ms();
    int swept = 0;
    while (!e->sup.stop) {
        pthread_mutex_lock(&e->sup.mu);
        e->sup.due = INT64_MAX; /* asks from now on call for another pass */
        pthread_mutex_unlock(&e->sup.mu);
        int64_t last = eng_now_ms();
        supervise_once(e, e->sup.cli);
        if (!swept && eng_now_ms() - started >= e->conf.gather_ms) {
            /* the view has the other nodes by now */
            eng_sweep_pieces(e, e->sup.cli);
            swept = 1;
        }
        pthread_mutex_lock(&e->sup.mu);
        for (;;) {
            int64_t due = last + e->conf.supervise_ms;
            if (e->sup.docker_down && last + SUPERVISE_PERIOD_MS < due)
                due = last + SUPERVISE_PERIOD_MS;
            if (!swept && started + e->conf.gather_ms < due)
                due = started + e->conf.gather_ms;
            if (e->sup.next < due)
                due = e->sup.next;
            if (e->sup.due < due)
                due = e->sup.due;
            int64_t now = eng_now_ms();
            if (e->sup.stop || due <= now)
                break;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t ms = due - now;
            until.tv_sec += ms / 1000;
            until.tv_nsec += (ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&e->sup.cv, &e->sup.mu, &until);
        }
        pthread_mutex_unlock(&e->sup.mu);
    }
    return NULL;
}

/* 1 if a container of node is this node's to look after: its own or an
 * adopted node's. */
static int looked_after(engine *e, const char *node)
{
    if (node == NULL)
        return 0;
    if (strcmp(node, e->conf.node) == 0)
        return 1;
    pthread_mutex_lock(&e->sup.mu);
    int found = 0;
    size_t i;
    json_t *n;
    json_array_foreach(e->sup.adopted, i, n) found |= strcmp(json_string_value(n), node) == 0;
    pthread_mutex_unlock(&e->sup.mu);
    return found;
}

static int on_watched(void *ud, const dkc_event *ev)
{
    watch_state *ws = ud;
    /* a resumed stream replays from a whole second back */
    if (ev->time_nano <= ws->last)
        return 0;
    ws->last = ev->time_nano;
    const char *node = eng_label(ev->attributes, "node");
    if (node == NULL && json_object_get(ev->raw, "Actor") == NULL) {
        /* The oldest form (status/id/from alone) passed the cluster's
         * label filter but does not say whose container it is: the pass,
         * which lists this node's, tells. */
        eng_sup_soon(ws->e, SUPERVISE_SOON_MS);
        return 0;
    }
    if (!looked_after(ws->e, node))
        return 0; /* a neighbour's on this Docker host */
    /* a pass keeps the counts and routes; it answers `wait`s and an
     * adopted node's containers, which cannot wait */
    pthread_mutex_lock(&ws->e->sup.mu);
    int urgent = ws->e->sup.waiters != NULL || strcmp(node, ws->e->conf.node) != 0;
    pthread_mutex_unlock(&ws->e->sup.mu);
    eng_sup_soon(ws->e, urgent ? SUPERVISE_SOON_MS : SUPERVISE_LAZY_MS);
    if (strcmp(ev->action, "die") == 0 && ev->id[0] != '\0') {
        /* Docker sends `die` before its container list shows the container
         * as exited: the list is a copy brought up to date after the
         * event.  So a pass now could still see it running.  Inspect, which
         * finish_job uses, waits for the container's own state. */
        if (eng_label(ev->attributes, "final") != NULL)
            queue_finish(ws->e, ev->id);
    }
    json_t *out =
        proto_event_container(ws->e->conf.node, ev->action, ev->id, ev->time_nano, ev->attributes);
    if (out)
        eng_post_event(ws->e, out);
    return 0;
}

/* The watcher: follows Docker's event stream for this node's containers
 * (start, die, destroy) from the engine's start on, publishes each as our
 * event, and on `die` queues the final reply and wakes the supervisor.  When the stream breaks
 * (Docker restarted or away) it resumes from the second of the last event it turned, skipping those
 * it has. */
static void *watch_main(void *arg)
{
    engine *e = arg;
    /* the cluster's containers on this host: this node's and, once
     * adopted, a departed neighbour's (on_watched picks them) */
    json_t *filters = json_pack("{s:[s], s:[s,s,s], s:[s]}", "type", "container", "event", "start",
                                "die", "destroy", "label", e->cluster_label);
    if (filters == NULL)
        abort(); /* out of memory at start-up */
    watch_state ws = {.e = e, .last = e->sup.watch_from};
    while (!e->sup.watch_stop) {
        dkc_events_opts o = {.since = ws.last / 1000000000LL, .filters = filters};
        int rc = dkc_events(e->sup.watch_cli, &o, on_watched, &ws);
        if (rc != 0 && rc != DKC_ECANCELED)
            log_msg(LOG_LVL_DEBUG, "Docker event stream: %s; resuming", dkc_strerror(rc));
        for (int t = 0; t < SUPERVISE_PERIOD_MS / 20 && !e->sup.watch_stop; t++)
            usleep(20 * 1000);
    }
    json_decref(filters);
    return NULL;
}

void eng_stop_watcher(engine *e)
{
    if (!e->sup.watch_started)
        return;
    e->sup.watch_stop = 1;
    dkc_client_cancel(e->sup.watch_cli);
    pthread_join(e->sup.watch, NULL);
    e->sup.watch_started = 0;
}

/* Claim set (a jansson object used as a hash set): 1 if id was newly
 * claimed, 0 if it already was.  A claim lasts while the container exists
 * (see prune_claims), so a kept, answered container is looked at once. */
int eng_claim(engine *e, const char *id)
{
    pthread_mutex_lock(&e->sup.mu);
    int fresh = json_object_get(e->sup.claimed, id) == NULL;
    if (fresh && json_object_set_new(e->sup.claimed, id, json_integer(eng_now_ms())) != 0)
        xoom();
    pthread_mutex_unlock(&e->sup.mu);
    return fresh;
}

void eng_unclaim(engine *e, const char *id)
{
    pthread_mutex_lock(&e->sup.mu);
    json_object_del(e->sup.claimed, id);
    pthread_mutex_unlock(&e->sup.mu);
    eng_sup_soon(e, SUPERVISE_RETRY_MS); /* a pass looks at it again */
}

/* Docker unreachable: say so once and stop consuming until it is back. */
void eng_docker_down(engine *e)
{
    pthread_mutex_lock(&e->sup.mu);
    int was = e->sup.docker_down;
    e->sup.docker_down = 1;
    pthread_mutex_unlock(&e->sup.mu);
    if (!was) {
        log_msg(LOG_LVL_WARN, "Docker is unreachable: pausing consumption until it answers");
        eng_post(e, engine_out_pause());
    }
}

void eng_sup_load(engine *e, struct cluster_load *out)
{
    pthread_mutex_lock(&e->sup.mu);
    out->running = e->sup.n_running;
    out->containers = e->sup.n_containers;
    out->docker = !e->sup.docker_down;
    pthread_mutex_unlock(&e->sup.mu);
}

int eng_sup_connect(engine *e, char *errbuf, size_t errlen)
{
    const engine_client_factory *f = &e->factory;
    if (f->make(f->ud, &e->sup.cli, errbuf, errlen) != 0 ||
        f->make(f->ud, &e->sup.watch_cli, errbuf, errlen) != 0)
        return -1;
    return 0;
}

void eng_sup_init(eng_sup *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->due = INT64_MAX;
    s->next = INT64_MAX;
    /* from here on: a run may die before the watcher's thread first runs */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->watch_from = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    s->claimed = json_object();
    s->adopted = json_array();
    s->adopted_keys = json_object();
    if (s->claimed == NULL || s->adopted == NULL || s->adopted_keys == NULL)
        xoom();
}

void eng_sup_cleanup(eng_sup *s)
{
    while (s->waiters) {
        waiter *w = s->waiters;
        s->waiters = w->next;
        eng_waiter_free(w);
    }
    json_decref(s->claimed);
    json_decref(s->adopted);
    json_decref(s->adopted_keys);
    json_decref(s->routes);
    dkc_client_free(s->cli);
    dkc_client_free(s->watch_cli);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void eng_sup_start(engine *e)
{
    if (pthread_create(&e->sup.thread, NULL, sup_main, e) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot start supervisor thread: %s", strerror(errno));
        abort();
    }
    pthread_setname_np(e->sup.thread, "dd-supervise");
    e->sup.started = 1;
    if (pthread_create(&e->sup.watch, NULL, watch_main, e) != 0) {
        log_msg(LOG_LVL_ERROR, "cannot start event watcher thread: %s", strerror(errno));
        abort();
    }
    pthread_setname_np(e->sup.watch, "dd-watch");
    e->sup.watch_started = 1;
}

void eng_sup_stop(engine *e)
{
    if (!e->sup.started)
        return;
    pthread_mutex_lock(&e->sup.mu);
    e->sup.stop = 1;
    pthread_cond_signal(&e->sup.cv);
    pthread_mutex_unlock(&e->sup.mu);
    dkc_client_cancel(e->sup.cli); /* a pass may be waiting on Docker */
    pthread_join(e->sup.thread, NULL);
    e->sup.started = 0;
}

hres eng_waiter_add(jctx *c, waiter *w)
{
    pthread_mutex_lock(&c->e->sup.mu);
    hres q = eng_quota_wait_locked(c); /* bounded per user and per node */
    if (q == H_OK) {
        w->next = c->e->sup.waiters;
        c->e->sup.waiters = w;
    }
    pthread_mutex_unlock(&c->e->sup.mu);
    return q;
}

void eng_waiter_free(waiter *w)
{
    free(w->container);
    free(w->condition);
    free(w->finished_at);
    free(w->reply_to);
    free(w->correlation_id);
    free(w->request_id);
    free(w->user);
    free(w);
}

/* ---- routes ---- */

/* The routing keys of a container: its full id and short id.  Not its
 * name: names are unique per Docker host only, and a direct exchange
 * would hand a command to every node bound with the name; names are
 * resolved by asking the nodes (resolve_owner). */
static void keys_of(const char *id, json_t *into)
{
    if (id == NULL || strlen(id) < 12)
        return;
    char shortid[13];
    snprintf(shortid, sizeof shortid, "%.12s", id);
    eng_set(into, id, json_true());
    eng_set(into, shortid, json_true());
}

static void post_route(engine *e, const char *key, int add)
{
    eng_post(e, engine_out_route(NULL, key, add));
}

/* Adds want's keys to e->sup.routes.  When listed_at > 0, also drops the
 * keys not in want that were bound before listed_at; a key bound since is
 * of a container the list could not show yet.  Posts the binds and unbinds
 * that takes, after releasing e->sup.mu (eng_post takes it). */
static void routes_update(engine *e, json_t *want, int64_t listed_at)
{
    json_t *add = json_array(), *del = json_array();
    if (add == NULL || del == NULL)
        xoom();
    const char *k;
    json_t *v, *tmp;
    pthread_mutex_lock(&e->sup.mu);
    if (e->sup.routes == NULL && (e->sup.routes = json_object()) == NULL)
        xoom();
    json_object_foreach(want, k, v)
    {
        if (json_object_get(e->sup.routes, k) == NULL) {
            eng_set(e->sup.routes, k, json_integer(eng_now_ms()));
            json_array_append_new(add, json_string(k));
        }
    }
    if (listed_at > 0)
        json_object_foreach_safe(e->sup.routes, tmp, k, v)
        {
            if (json_object_get(want, k) == NULL && json_integer_value(v) < listed_at) {
                json_array_append_new(del, json_string(k));
                json_object_del(e->sup.routes, k);
            }
        }
    pthread_mutex_unlock(&e->sup.mu);
    size_t i;
    json_array_foreach(add, i, v) post_route(e, json_string_value(v), 1);
    json_array_foreach(del, i, v) post_route(e, json_string_value(v), 0);
    json_decref(add);
    json_decref(del);
}

/* 1 while the view has other nodes.  Only they forward to <q>.containers
 * (eng_may_forward), so a node alone binds nothing and saves RabbitMQ a
 * bind and an unbind per container.  A node joining asks for a pass
 * (engine_view_changed), which binds them all.  A forward by an id not
 * bound yet comes back and finds its owner by asking the nodes
 * (engine_submit_unrouted). */
static int routes_wanted(const engine *e)
{
    return e->conf.members != NULL && cluster_size(e->conf.members) > 1;
}

void eng_routes_add(engine *e, const char *id)
{
    if (!routes_wanted(e))
        return;
    json_t *keys = json_object();
    if (keys == NULL)
        xoom();
    keys_of(id, keys);
    routes_update(e, keys, 0);
    json_decref(keys);
}

void eng_routes_reconcile(engine *e, json_t *containers, int64_t listed_at)
{
    if (e->conf.members == NULL)
        return;
    json_t *want = json_object();
    if (want == NULL)
        xoom();
    size_t i;
    json_t *ct;
    if (routes_wanted(e))
        json_array_foreach(containers, i, ct)
        {
            keys_of(eng_jstr(ct, "Id"), want);
        }
    routes_update(e, want, listed_at);
    json_decref(want);
}
