/*
 * cmd_run.c -- `run`: create with the request's labels, start; reply once started, or
 * ack and leave the final reply (exit code, output) to supervision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

static bool owes_final(const proto_cmd *cmd)
{
    return cmd->attach_stdout || cmd->attach_stderr || cmd->remove;
}

/* Replies "running" for a run without Attach/Remove, from an inspect. */
static hres run_started_reply(jctx *c, const char *id)
{
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, id, &ins);
    if (rc != 0)
        return eng_dfail(c, rc);
    proto_run_result r = {.container_id = id, .container_name = eng_cname(ins)};
    c->result = proto_result_run(&r);
    if (c->result)
        eng_set(c->result, "status", json_string("running"));
    json_decref(ins);
    return H_OK;
}

/* A redelivered run whose container exists already (found by its request
 * label): start it if it never started, then behave as if just started. */
static hres run_adopt(jctx *c, json_t *summary)
{
    const char *id = eng_jstr(summary, "Id");
    const char *state = eng_jstr(summary, "State");
    log_msg(LOG_LVL_INFO, "request already has container %.12s (%s): not creating another",
            id ? id : "?", state ? state : "?");
    if (id == NULL)
        return eng_fail(c, PROTO_EINTERNAL, "container summary without Id");
    snprintf(c->container, sizeof c->container, "%s", id);
    bool start = state && !strcmp(state, "created");
    if (state && (!strcmp(state, "exited") || !strcmp(state, "dead"))) {
        /* a Docker restart during the first start can leave it exited
         * without ever having run: start it now, it is this request's run */
        json_t *ins = NULL;
        int rc = dkc_container_inspect(c->cli, id, &ins);
        if (rc != 0)
            return eng_dfail(c, rc);
        start = eng_never_started(ins);
        json_decref(ins);
    }
    if (start) {
        int rc = dkc_container_start(c->cli, id);
        if (rc != 0 && rc != DKC_ENOTMODIFIED)
            return eng_dfail(c, rc);
        if (rc == 0)
            eng_count_start(c);
    }
    if (owes_final(c->cmd)) {
        eng_post(c->e, engine_out_ack(c->d->tag));
        return H_DONE; /* the supervisor sends the final reply */
    }
    return run_started_reply(c, id);
}

/* The labels supervision reads to finish c's run: where its final reply
 * goes, what it captures, its deadline. */
static void run_labels(jctx *c, json_t *labels)
{
    const engine *e = c->e;
    const proto_cmd *cmd = c->cmd;
    if (c->d->reply_to)
        eng_set(labels, LBL "reply-to", json_string(c->d->reply_to));
    if (c->d->correlation_id)
        eng_set(labels, LBL "correlation-id", json_string(c->d->correlation_id));
    eng_set(labels, LBL "dialect", json_string(proto_dialect_name(cmd->dialect)));
    if (owes_final(cmd)) {
        const char *att = cmd->attach_stdout && cmd->attach_stderr ? "stdout,stderr"
                          : cmd->attach_stdout                     ? "stdout"
                          : cmd->attach_stderr                     ? "stderr"
                                                                   : "";
        eng_set(labels, LBL "final", json_string("1"));
        eng_set(labels, LBL "attach", json_string(att));
        if (cmd->remove)
            eng_set(labels, LBL "remove", json_string("1"));
    }
    int64_t tmo = eng_quota_run_time(c, cmd->timeout_s);
    if (e->conf.max_run_seconds > 0 && (tmo == 0 || tmo > e->conf.max_run_seconds))
        tmo = e->conf.max_run_seconds;
    char num[32];
    if (tmo > 0) {
        snprintf(num, sizeof num, "%lld", (long long)(time(NULL) + tmo));
        eng_set(labels, LBL "deadline", json_string(num));
    }
    snprintf(num, sizeof num, "%lld", (long long)cmd->output_limit);
    eng_set(labels, LBL "output-limit", json_string(num));
}

/* run: create with our labels, start; reply now (no Attach/Remove) or ack
 * and let supervision send the final reply. */
static hres h_run(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    hres res = H_OK;
    json_t *body = NULL, *warnings = NULL, *found = NULL;
    char *id = NULL;
    int rc;

    if ((res = eng_apply_template(c)) != H_OK)
        return res;
    if (cmd->instances > 1)
        return eng_bulk(c);
    if (c->request_id) {
        if ((res = eng_find_request(c, &found)) != H_OK)
            goto out;
        json_t *first = json_array_get(found, 0);
        if (first != NULL) {
            /* redelivered: the same message coming back, so carry on with
             * what its first delivery began; otherwise a second message */
            res = c->d->redelivered
                      ? run_adopt(c, first)
                      : eng_duplicate(c, eng_jstr(first, "Id"), eng_jstr(first, "State"));
            goto out;
        }
    }

    json_t *labels = NULL;
    body = eng_labelled_body(c, &labels);
    if (body == NULL) {
        res = eng_fail(c, PROTO_EINTERNAL, "no create body");
        goto out;
    }
    run_labels(c, labels);
    if ((res = eng_create_admitted(c, body, &id, &warnings)) != H_OK)
        goto out;
    snprintf(c->container, sizeof c->container, "%s", id);
    eng_mine_add(c->e, id);
    rc = dkc_container_start(c->cli, id);
    if (rc != 0) {
        /* Transient (Docker going away): the container stays for the
         * redelivered message to adopt and start, so that one request
         * never makes two.  Refused: the error is the answer, and the
         * container goes once that answer is confirmed (marked first, like
         * a Remove run, so that nothing answers it again). */
        res = eng_dfail(c, rc);
        if (res == H_ERR)
            snprintf(c->discard, sizeof c->discard, "%s", id);
        goto out;
    }
    eng_count_start(c);
    if (owes_final(cmd)) {
        eng_post(c->e, engine_out_ack(c->d->tag));
        res = H_DONE;
        goto out;
    }
    res = run_started_reply(c, id);
out:
    json_decref(body);
    json_decref(warnings);
    json_decref(found);
    free(id);
    return res;
}

const engine_cmd eng_cmd_run = {.kind = PROTO_CMD_RUN,
                                .flags = ENG_CMD_DEDUPE | ENG_CMD_BULK | ENG_CMD_STARTS,
                                .handle = h_run};
