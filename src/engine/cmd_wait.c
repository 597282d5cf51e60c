/*
 * cmd_wait.c -- `wait`: answered when the container stops (or is removed), from
 * supervision; the message is acked at once.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

/* wait: answer at once when the container is not running (condition
 * not-running), else register a waiter that the supervisor answers.
 * Condition next-exit waits for an exit after this moment: a FinishedAt
 * other than the one seen now.  The supervisor's passes are at most a
 * second apart; a container that starts and exits again within one still
 * shows a new FinishedAt. */
static hres h_wait(jctx *c)
{
    proto_cmd *cmd = c->cmd;
    json_t *ins = NULL;
    int rc = dkc_container_inspect(c->cli, cmd->container, &ins);
    if (rc == DKC_ENOTFOUND && cmd->condition && !strcmp(cmd->condition, "removed")) {
        c->result = json_pack("{s:i, s:n}", "exit_code", 0, "error");
        return H_OK;
    }
    if (rc != 0)
        return eng_dfail(c, rc);
    json_t *state = json_object_get(ins, "State");
    bool running = json_is_true(json_object_get(state, "Running"));
    bool want_removed = cmd->condition && !strcmp(cmd->condition, "removed");
    bool next_exit = cmd->condition && !strcmp(cmd->condition, "next-exit");
    if (!running && !want_removed && !next_exit) {
        c->result =
            json_pack("{s:I, s:n}", "exit_code",
                      (json_int_t)json_integer_value(json_object_get(state, "ExitCode")), "error");
        json_decref(ins);
        return H_OK;
    }
    waiter *w = xcalloc(1, sizeof *w);
    w->finished_at = xstrdup(eng_jstr(state, "FinishedAt"));
    json_decref(ins);
    w->container = xstrdup(cmd->container);
    w->condition = xstrdup(cmd->condition);
    w->reply_to = xstrdup(c->d->reply_to);
    w->correlation_id = xstrdup(c->d->correlation_id);
    w->request_id = xstrdup(c->request_id);
    w->user = xstrdup(c->d->user_id);
    w->dialect = cmd->dialect;
    w->t0 = c->t0;
    w->deadline_ms = cmd->timeout_s > 0 ? eng_now_ms() + cmd->timeout_s * 1000 : 0;
    hres q = eng_waiter_add(c, w);
    if (q != H_OK) {
        eng_waiter_free(w);
        return q;
    }
    if (w->deadline_ms) /* the pass that answers its timeout */
        eng_sup_soon(c->e, (int)(w->deadline_ms - eng_now_ms()));
    eng_post(c->e, engine_out_ack(c->d->tag));
    return H_DONE;
}

const engine_cmd eng_cmd_wait = {
    .kind = PROTO_CMD_WAIT, .target = ENG_TARGET_CONTAINER, .handle = h_wait};
