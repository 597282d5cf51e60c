/*
 * engine.c -- the engine's lifecycle and its workers: a delivery through the
 * command table to its reply (see engine.h, engine_internal.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "engine_internal.h"

/* Posts the reply for a handled message: ok with c->result, or the error
 * recorded in c (with c->err_extra merged into the error object). */
static void post_outcome(engine *e, jctx *c, hres res)
{
    proto_reply_info ri;
    proto_reply_info_init(&ri, c->cmd, NULL, e->conf.node, c->request_id);
    if (res == H_ERR)
        ri.http_status = c->http;
    json_t *r = res == H_OK ? proto_reply_ok(&ri, c->result)
                            : proto_reply_error(&ri, c->code, c->msg, c->field[0] ? c->field : NULL,
                                                c->http);
    if (r == NULL)
        xoom();
    if (res == H_ERR && c->err_extra != NULL &&
        json_object_update(json_object_get(r, "error"), c->err_extra) != 0) {
        xoom();
    }
    eng_post_reply(e, r, c->t0, c->d->reply_to, c->d->correlation_id, c->d->tag, NULL, NULL,
                   c->discard[0] ? c->discard : NULL, 0);
}

/* Answers d with the parse error perr and dead-letters it with the reason
 * (d is moved into the outbox item). */
static void refuse(engine *e, broker_delivery *d, const proto_error *perr, const char *rid,
                   int64_t t0)
{
    char reason[PROTO_MESSAGE_MAX + 64];
    proto_reply_info ri;
    snprintf(reason, sizeof reason, "%s: %s", perr->code_name, perr->message);
    proto_reply_info_init(&ri, NULL, perr, e->conf.node, rid);
    json_t *r = proto_reply_parse_error(&ri, perr);
    eng_post_reply(e, r, t0, d->reply_to, d->correlation_id, d->tag, d, reason, NULL, 0);
}

/* Refuses d when its properties or headers fail eng_check_headers: 1
 * when d was answered here. */
static int refuse_headers(engine *e, broker_delivery *d, const char *rid, int64_t t0)
{
    proto_error perr;
    if (eng_check_headers(e, d, &perr) == 0)
        return 0;
    log_msg(LOG_LVL_WARN, "message refused: %s", perr.message);
    refuse(e, d, &perr, rid, t0);
    return 1;
}

/* Refuses what cannot be read at all: a body over the cap, a request id
 * that would reach labels and filters unchecked, or properties and headers
 * d may not have (eng_check_headers).  The broker has dead-lettered a body
 * over the cap already.  1 when d was answered here. */
static int refuse_unreadable(engine *e, broker_delivery *d, const char *rid, int64_t t0)
{
    if (d->oversize) {
        proto_reply_info ri;
        proto_reply_info_init(&ri, NULL, NULL, e->conf.node, rid);
        json_t *r =
            proto_reply_error(&ri, PROTO_ETOOLARGE, "message body over the size cap", NULL, 0);
        eng_post_reply(e, r, t0, d->reply_to, d->correlation_id, 0, NULL, NULL, NULL, 0);
        return 1;
    }
    /* every id from the wire that reaches labels must be clean text */
    if ((rid == NULL || eng_rid_ok(rid)) &&
        (d->correlation_id == NULL || eng_rid_ok(d->correlation_id)) &&
        (d->reply_to == NULL || eng_rid_ok(d->reply_to)) &&
        (d->user_id == NULL || eng_rid_ok(d->user_id)))
        return refuse_headers(e, d, rid, t0);
    proto_error perr;
    proto_error_clear(&perr);
    perr.code = PROTO_EBADREQUEST;
    perr.code_name = proto_code_name(PROTO_EBADREQUEST);
    snprintf(perr.field, sizeof perr.field, "message_id");
    snprintf(perr.message, sizeof perr.message,
             "the message id, correlation id, reply_to and user_id must be 1 to %d bytes of "
             "UTF-8 without control characters",
             REQUEST_ID_MAX);
    log_record("request id=(invalid) refused: bad message id", NULL);
    refuse(e, d, &perr, NULL, t0);
    return 1;
}

/* Parses d's body under the engine's limits: proto_parse's result. */
static int parse(engine *e, const broker_delivery *d, proto_cmd **cmd, proto_error *perr)
{
    proto_limits lim;
    proto_limits_init(&lim);
    lim.max_body = e->conf.max_body;
    if (e->conf.output_limit > 0)
        lim.default_output = (int64_t)e->conf.output_limit;
    return proto_parse((const char *)d->body, d->len, &lim, cmd, perr);
}

/* The request line on stdout (cmd NULL: what could not be parsed). */
static void log_request(const proto_cmd *cmd, const char *rid)
{
    char line[1024] = "";
    json_t *lj = NULL;
    if (log_is_json())
        lj = proto_summary_request_json(cmd, rid);
    else
        proto_summary_request(cmd, rid, line, sizeof line);
    log_record(line, lj);
    json_decref(lj);
}

/* Carries out c's command, or answers a copy of a request this process
 * answered already (rs, prev: from eng_request_begin). */
static hres carry_out(jctx *c, req_state rs, const char *prev)
{
    if (rs == REQ_ANSWERED && c->d->redelivered) {
        /* the same message back after its reply went out (its ack was lost
         * with a connection): that reply was the answer */
        log_msg(LOG_LVL_INFO, "request was answered before; its redelivered copy is acked");
        eng_post(c->e, engine_out_ack(c->d->tag));
        return H_DONE;
    }
    if (rs == REQ_ANSWERED && eng_cmd_has(c->cmd->kind, ENG_CMD_DEDUPE))
        return eng_duplicate(c, prev, "answered");
    hres inc = eng_check_incarnation(c);
    if (inc != H_OK)
        return inc;
    hres role = eng_check_admin(c);
    if (role != H_OK)
        return role;
    hres scope = eng_scope_check(c);
    if (scope != H_OK || c->result != NULL)
        return scope; /* refused, or answered already (a redelivered remove) */
    return c->desc ? c->desc->handle(c) : eng_handle_unsupported(c);
}

/* Settles c's delivery by the outcome: requeue (Docker away), nothing
 * (the handler did), or the reply. */
static void settle(jctx *c, hres res)
{
    switch (res) {
    case H_TRANSIENT:
        log_msg(LOG_LVL_WARN, "Docker unavailable for request %s: requeued",
                c->request_id ? "with id" : "without id");
        eng_post(c->e, engine_out_nack(c->d->tag, 1));
        eng_docker_down(c->e);
        break;
    case H_DONE:
        break;
    case H_FORWARD:
        eng_post_forward(c);
        break;
    case H_OK:
    case H_ERR:
        post_outcome(c->e, c, res);
        break;
    }
}

/* MSG: refuse what cannot be read, parse, pass the idempotence gate, log,
 * carry out, settle.  Returns 1 when the job was parked behind an
 * in-flight copy of its request (it now belongs to the parked list), else
 * 0 (the caller frees it). */
static int msg_job(engine *e, dkc_client *cli, job *j)
{
    broker_delivery *d = &j->d;
    int64_t t0 = eng_now_ms();
    const char *rid = d->message_id ? d->message_id : d->correlation_id;
    proto_cmd *cmd = NULL;
    proto_error perr;

    if (refuse_unreadable(e, d, rid, t0))
        return 0;
    if (eng_from_cluster(e, d))
        return 0; /* this node's own part of a cluster query: answered by the asker */
    int rc = parse(e, d, &cmd, &perr);
    /* A bulk request holds its worker while its pieces run (on this node's
     * other workers too): at most workers - 1 at once. */
    bool bulk = rc == 0 && cmd->instances > 1 && eng_cmd_has(cmd->kind, ENG_CMD_BULK) &&
                broker_delivery_header(d, CLUSTER_H_PART) == NULL;
    if (bulk && !eng_bulk_begin(e, j)) {
        log_msg(LOG_LVL_DEBUG, "a bulk request waits for another to end");
        proto_cmd_free(cmd);
        return 1;
    }
    if (bulk) /* its pieces need its user's share: eng_bulk_begin bounds it */
        eng_job_leave_worker(e, j);
    /* Every request with an id is known while in flight and once answered.
     * The broker requeues a message when it closes the channel (for its
     * consumer timeout, say) or loses the connection.  The redelivered copy
     * waits for the first and is then acked, not carried out again.  A copy the
     * client sent again is refused (duplicate) by the commands that make
     * containers, and carried out again by the others, once the first is
     * done. */
    bool dedup = rc == 0 && rid != NULL;
    char *prev = NULL, *key = dedup ? eng_request_key(d->user_id, rid) : NULL;
    req_state rs = REQ_FRESH;
    if (dedup && (rs = eng_request_begin(e, key, j, &prev)) == REQ_PARKED) {
        log_msg(LOG_LVL_DEBUG, "a copy of a request in flight waits for it");
        if (bulk)
            eng_bulk_end(e); /* it will come back through the gate */
        free(key);
        proto_cmd_free(cmd);
        return 1;
    }
    log_request(cmd, rid);
    if (rc != 0) {
        refuse(e, d, &perr, rid, t0);
        return 0;
    }
    jctx c = {.e = e,
              .rules = eng_rules_take(e),
              .cli = cli,
              .d = d,
              .cmd = cmd,
              .desc = eng_cmd_find(cmd->kind),
              .request_id = rid,
              .t0 = t0,
              .arrived = j->arrived,
              .unrouted = j->unrouted};
    hres res = j->over_in_flight ? eng_quota_in_flight(&c, j) : carry_out(&c, rs, prev);
    settle(&c, res);
    if (dedup && rs == REQ_FRESH) {
        /* `unavailable` (a piece placed on an earlier process of this node)
         * and `quota` carried nothing out: a later copy is new work */
        bool answered = (res == H_OK || res == H_ERR) && c.code != PROTO_EDUPLICATE &&
                        c.code != PROTO_EUNAVAILABLE && c.code != PROTO_EQUOTA;
        eng_request_end(e, key, answered, c.container);
    }
    free(key);
    if (bulk)
        eng_bulk_end(e);
    free(prev);
    eng_rules_drop(e, c.rules);
    json_decref(c.err_extra);
    json_decref(c.resolved);
    json_decref(c.result);
    proto_cmd_free(cmd);
    return 0;
}

static void *worker_main(void *arg)
{
    engine *e = arg;
    dkc_client *cli = NULL;
    char why[256] = "";
    if (e->factory.make(e->factory.ud, &cli, why, sizeof why) != 0) {
        log_msg(LOG_LVL_ERROR, "worker: Docker client: %s", why);
        return NULL;
    }
    for (;;) {
        int draining;
        job *j = eng_jobs_take(e, &draining);
        if (j == NULL)
            break; /* stopping: what is left is freed with the engine */

        if (j->kind == JOB_MSG) {
            /* the job's diagnostics name its request */
            log_bind_request(j->d.message_id ? j->d.message_id : j->d.correlation_id);
            int parked = draining ? 0 : msg_job(e, cli, j);
            log_bind_request(NULL);
            eng_job_leave_worker(e, j);
            if (!parked)
                eng_quota_release(e, j); /* parked: still in flight */
            if (draining) {
                eng_post(e, engine_out_nack(j->d.tag, 1));
            } else if (parked) {
                eng_jobs_done(e);
                continue;
            }
            broker_delivery_cleanup(&j->d);
        } else if (j->kind == JOB_FINISH) {
            eng_finish_job(e, cli, j->id);
        } else if (j->kind == JOB_AFTER && j->mark) {
            eng_mark_answered(cli, j->id);
            eng_mine_del(e, j->id);
        } else if (j->kind == JOB_AFTER) {
            /* marked first by a fast call: that closes most of the window
             * in which a crash would make a restarted node answer again */
            eng_remove_answered(e, cli, j->id);
            eng_mine_del(e, j->id);
        }
        free(j->id);
        free(j);
        eng_jobs_done(e);
    }
    dkc_client_free(cli);
    return NULL;
}

int engine_client_from_options(void *ud, dkc_client **out, char *errbuf, size_t errlen)
{
    return dkc_client_new((const dkc_options *)ud, out, errbuf, errlen);
}

engine *engine_start(const engine_conf *conf, const dd_policy *policy,
                     const engine_client_factory *factory, char *errbuf, size_t errlen)
{
    if (conf->node == NULL || conf->cluster == NULL || factory == NULL || factory->make == NULL) {
        snprintf(errbuf, errlen, "engine_start: node, cluster and a client factory are needed");
        return NULL;
    }
    engine *e = xcalloc(1, sizeof *e);
    e->conf = *conf;
    e->conf.node = xstrdup(conf->node);
    e->conf.cluster = xstrdup(conf->cluster);
    e->conf.amqp_user = conf->amqp_user ? xstrdup(conf->amqp_user) : NULL;
    if (e->conf.gather_ms <= 0)
        e->conf.gather_ms = 3000;
    if (e->conf.bulk_ms <= 0)
        e->conf.bulk_ms = 600000;
    if (e->conf.supervise_ms <= 0)
        e->conf.supervise_ms = SUPERVISE_SAFETY_MS;
    if (e->conf.max_reply == 0)
        e->conf.max_reply = ENGINE_DEFAULT_MAX_REPLY;
    pthread_mutex_init(&e->rules_mu, NULL);
    e->rules = xcalloc(1, sizeof *e->rules);
    e->rules->refs = 1;
    e->rules->policy = policy;
    e->rules->templates = conf->templates;
    e->rules->refs++;
    eng_quota_init(&e->quota, e->rules);
    e->factory = *factory;
    snprintf(e->node_label, sizeof e->node_label, LBL "node=%s", conf->node);
    snprintf(e->cluster_label, sizeof e->cluster_label, LBL "cluster=%s", conf->cluster);
    eng_jobs_init(&e->jobs);
    eng_outbox_init(&e->outbox);
    eng_sup_init(&e->sup);
    eng_requests_init(&e->requests);
    eng_answered_init(&e->answered);
    eng_bulks_init(&e->bulks);
    e->started_ms = eng_now_ms();
    if (eng_sup_connect(e, errbuf, errlen) != 0) {
        engine_free(e);
        return NULL;
    }
    e->n_workers = conf->workers > 0 ? conf->workers : 1;
    e->workers = xcalloc((size_t)e->n_workers, sizeof *e->workers);
    for (int i = 0; i < e->n_workers; i++)
        if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0) {
            log_msg(LOG_LVL_ERROR, "cannot start worker thread: %s", strerror(errno));
            abort();
        } else
            pthread_setname_np(e->workers[i], "dd-worker"); /* for top -H, perf, bench */
    eng_sup_start(e);
    return e;
}

void engine_begin_shutdown(engine *e)
{
    eng_sup_stop(e);
    eng_jobs_drain(e);
}

void engine_free(engine *e)
{
    if (e == NULL)
        return;
    engine_begin_shutdown(e);
    eng_stop_watcher(e);
    eng_jobs_stop(e);
    for (int i = 0; i < e->n_workers; i++)
        pthread_join(e->workers[i], NULL);
    free(e->workers);
    eng_jobs_cleanup(&e->jobs);
    eng_outbox_cleanup(&e->outbox);
    eng_requests_cleanup(&e->requests);
    eng_bulks_cleanup(&e->bulks);
    eng_answered_cleanup(&e->answered);
    free((char *)e->conf.amqp_user);
    free((char *)e->conf.node);
    free((char *)e->conf.cluster);
    eng_sup_cleanup(&e->sup);
    if (e->rules != NULL)
        eng_rules_drop(e, e->rules);
    eng_rules_drop(e, e->quota.rules);
    eng_quota_cleanup(&e->quota);
    pthread_mutex_destroy(&e->rules_mu);
    free(e);
}
