/*
 * outcome.c -- what a job's outcome becomes: an error recorded in its
 * context (eng_fail, eng_dfail), the reply code of a libdkc error, and the
 * reply posted to the outbox with its log line and metrics
 * (eng_post_reply).  Any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

void eng_count_start(const jctx *c)
{
    if (c->e->conf.metrics != NULL && c->arrived > 0)
        metrics_observe(c->e->conf.metrics->queue_to_start, NULL,
                        (double)(eng_now_ms() - c->arrived) / 1000.0);
}

/* Counts a reply in the node's metrics (when it has them).  A policy
 * refusal is counted under the rule's name as the policy knows it, never
 * a name the publisher chose (an index, a network, an unknown key). */
static void count_reply(engine *e, json_t *reply)
{
    if (e->conf.metrics == NULL)
        return;
    json_t *err = json_object_get(reply, "error");
    const char *code = json_is_true(json_object_get(reply, "ok"))
                           ? NULL
                           : json_string_value(json_object_get(err, "code"));
    const char *field = json_string_value(json_object_get(err, "field"));
    char rule[PROTO_FIELD_MAX];
    if (code && strcmp(code, "policy_denied") == 0) {
        policy_rule_label(field, rule, sizeof rule);
        field = rule;
    }
    metrics_dd_reply(e->conf.metrics, json_string_value(json_object_get(reply, "command")), code,
                     field);
}

/* Logs the outcome line, counts the outcome (metrics' requests and
 * policy denials) and posts a REPLY item.  reply is consumed.  A reply
 * over conf.max_reply is replaced by its too_large answer, since the
 * broker would refuse it and the request would get none.  That answer is
 * what is logged, counted and sent, and it is settled the same way.  dl (moved when not
 * NULL) is dead-lettered with reason after the reply; otherwise tag is
 * acked. */
void eng_post_reply(engine *e, json_t *reply, int64_t t0, const char *reply_to, const char *corr,
                    uint64_t tag, broker_delivery *dl, const char *reason, const char *after_remove,
                    int after_mark)
{
    char *body = proto_reply_dumps(reply);
    if (body == NULL)
        xoom();
    size_t size = strlen(body);
    if (size > e->conf.max_reply) {
        json_t *small = proto_reply_too_large(reply, size, e->conf.max_reply, NULL);
        if (small == NULL)
            xoom();
        log_msg(LOG_LVL_WARN, "a reply of %zu bytes is over max_reply (%zu): answered too_large",
                size, e->conf.max_reply);
        json_decref(reply);
        reply = small;
        free(body);
        if ((body = proto_reply_dumps(reply)) == NULL)
            xoom();
        if (strlen(body) > e->conf.max_reply) {
            /* even the list of a bulk request's containers is too long */
            json_object_del(json_object_get(reply, "error"), "containers");
            free(body);
            if ((body = proto_reply_dumps(reply)) == NULL)
                xoom();
        }
    }
    char line[1024] = "";
    int64_t dur = t0 > 0 ? eng_now_ms() - t0 : -1;
    json_t *lj = NULL;
    if (log_is_json())
        lj = proto_summary_reply_json(reply, dur);
    else
        proto_summary_reply(reply, dur, line, sizeof line);
    log_record(line, lj);
    json_decref(lj);
    count_reply(e, reply);

    engine_out *o = engine_out_reply(tag, reply_to, corr, body);
    if (dl) {
        o->reply.dl = xmalloc(sizeof *o->reply.dl);
        *o->reply.dl = *dl;
        memset(dl, 0, sizeof *dl);
        o->reply.reason = xstrdup(reason);
    }
    o->reply.after_remove = xstrdup(after_remove);
    o->reply.after_mark = after_mark;
    json_decref(reply);
    eng_post(e, o);
}

/* Records an error outcome. */
hres eng_fail(jctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    c->code = code;
    return H_ERR;
}

/* Maps a dkc_err (libdkc) to the reply code a client should see. */
int eng_code_from_dkc(int err)
{
    switch (err) {
    case DKC_OK:
        return PROTO_OK;
    case DKC_EADDR:
    case DKC_EUNAVAILABLE:
    case DKC_ETLS:
    case DKC_EVERSION:
        return PROTO_EDOCKERUNAVAILABLE;
    case DKC_ETIMEOUT:
        return PROTO_ETIMEOUT;
    case DKC_EBADREQUEST:
        return PROTO_EBADREQUEST;
    case DKC_EUNSUPPORTED: /* what the host's Docker cannot do */
        return PROTO_EUNSUPPORTED;
    case DKC_ENOTFOUND:
        return PROTO_ENOTFOUND;
    case DKC_ENOTMODIFIED:
        return PROTO_ENOTMODIFIED;
    case DKC_ECONFLICT:
    case DKC_EFORBIDDEN: /* 403: not allowed in the current state */
        return PROTO_ECONFLICT;
    case DKC_ECANCELED:
        return PROTO_ECANCELED;
    case DKC_EPROTO:
    case DKC_ETOOBIG:
    case DKC_EAUTH:
    case DKC_ESERVER:
    case DKC_ESTREAM:
    case DKC_EHTTP:
        return PROTO_EDOCKER;
    default: /* DKC_EINVAL, DKC_ENOMEM, DKC_EIO: our side */
        return PROTO_EINTERNAL;
    }
}

/* Turns a dkc failure into an outcome: transient for an unreachable or
 * timing-out Engine, else an error with Docker's message and status. */
hres eng_dfail(jctx *c, int rc)
{
    if (rc == DKC_EUNAVAILABLE || rc == DKC_ETIMEOUT)
        return H_TRANSIENT;
    const dkc_error_info *ei = dkc_client_last_error(c->cli);
    /* a 2xx whose body was unusable is no status of a failure */
    c->http = ei->http_status >= 300 ? ei->http_status : 0;
    return eng_fail(c, eng_code_from_dkc(rc), "%s",
                    ei->message && *ei->message ? ei->message : dkc_strerror(rc));
}
