/*
 * fuzz_protocol.c -- libFuzzer target for the message protocol.
 *
 * Feeds arbitrary bytes to proto_parse(), then renders what the dispatcher
 * would send back and log: the reply (ok with a run result built from the
 * same bytes, or the parse error), its text, and both summary lines.  Aborts
 * on a broken invariant:
 *   - a refusal has a negative code, a message, and printable field/message;
 *   - a command has a canonical name, and a raw create body still passes
 *     proto_raw_check();
 *   - every reply renders to text that reads back as equal JSON;
 *   - summary lines are printable ASCII;
 *   - the security policy (defaults, and with maxima) answers every create
 *     body with allow, policy_denied or bad_request; a body it allows asks
 *     for nothing privileged and stays within the maxima it filled in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "protocol.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

static void check_printable(const char *s, const char *what)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        check(*p >= 0x20 && *p <= 0x7e, what);
}

/* Runs the policy over a copy of body; checks its verdict. */
static void police(const dd_policy *pol, const json_t *body, const proto_reply_info *ri)
{
    json_t *b = json_deep_copy(body);
    proto_error err;
    proto_error_clear(&err);
    int rc = policy_check_create(pol, b, &err);
    check(rc == 0 || rc == PROTO_EPOLICY || rc == PROTO_EBADREQUEST, "policy verdict");
    if (rc != 0) {
        check(err.code == rc && err.message[0] != '\0' && err.field[0] != '\0',
              "policy refusal named");
        json_t *reply = proto_reply_error(ri, rc, err.message, err.field, 0);
        check(reply != NULL, "policy reply built");
        json_decref(reply);
    } else {
        json_t *hc = proto_json_get_ci(b, "HostConfig");
        check(json_is_object(hc), "allowed body has a HostConfig");
        check(!json_is_true(proto_json_get_ci(hc, "Privileged")), "allowed body unprivileged");
        const char *net = json_string_value(proto_json_get_ci(hc, "NetworkMode"));
        check(net == NULL || strcasecmp(net, "host") != 0, "allowed body off the host network");
        if (pol->max_memory > 0) {
            json_t *m = proto_json_get_ci(hc, "Memory");
            check(json_is_integer(m) && json_integer_value(m) > 0 &&
                      json_integer_value(m) <= pol->max_memory,
                  "allowed body within max_memory");
        }
    }
    json_decref(b);
}

/* Renders a reply, reads it back, writes both summary lines. */
static void render(json_t *reply)
{
    char line[600];
    char *text, *jl;
    json_t *back, *lj;

    check(reply != NULL, "reply built");
    text = proto_reply_dumps(reply);
    check(text != NULL, "reply rendered");
    back = json_loads(text, 0, NULL);
    check(back != NULL, "reply reads back");
    check(json_equal(back, reply), "reply round-trips");
    json_decref(back);
    free(text);

    proto_summary_reply(reply, 1500, line, sizeof line);
    check_printable(line, "reply line printable");
    lj = proto_summary_reply_json(reply, 1500);
    check(lj != NULL, "reply json line built");
    jl = proto_summary_dumps(lj);
    check(jl != NULL, "reply json line rendered");
    check_printable(jl, "reply json line printable");
    free(jl);
    json_decref(lj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_cmd *cmd = NULL;
    proto_error err;
    proto_reply_info ri;
    char id[24], line[600];
    size_t idn = size < sizeof id - 1 ? size : sizeof id - 1;
    json_t *reply, *result = NULL, *lj;
    char *jl;
    int rc;

    /* The request id is untrusted too: take it from the input. */
    memcpy(id, data, idn);
    id[idn] = '\0';

    rc = proto_parse((const char *)data, size, NULL, &cmd, &err);
    proto_reply_info_init(&ri, cmd, &err, "fuzz-node", id);

    proto_summary_request(cmd, id, line, sizeof line);
    check_printable(line, "request line printable");
    lj = proto_summary_request_json(cmd, id);
    check(lj != NULL, "request json line built");
    jl = proto_summary_dumps(lj);
    check(jl != NULL && strchr(jl, '\n') == NULL, "request json line rendered");
    check_printable(jl, "request json line printable");
    free(jl);
    json_decref(lj);

    if (rc == 0) {
        proto_run_result rr;
        check(cmd != NULL, "command returned");
        check(proto_cmd_name(cmd)[0] != '\0', "command has a name");
        if (cmd->raw_body)
            check(proto_raw_check(cmd->create_body, "body", 0, NULL) == 0,
                  "raw body still passes the raw check");
        if (cmd->create_body != NULL) {
            dd_policy pol;
            policy_init(&pol);
            police(&pol, cmd->create_body, &ri);
            pol.max_memory = 1 << 30;
            pol.max_nano_cpus = 2000000000;
            pol.max_pids = 100;
            police(&pol, cmd->create_body, &ri);
        }
        memset(&rr, 0, sizeof rr);
        rr.container_id = cmd->container != NULL ? cmd->container : "0123456789ab";
        rr.container_name = cmd->name;
        rr.waited = true;
        rr.exit_code = (int64_t)size;
        rr.captured = true;
        rr.out = (const char *)data;
        rr.out_len = size;
        rr.err = (const char *)data + size / 2;
        rr.err_len = size - size / 2;
        rr.truncated = size % 2;
        result = proto_result_run(&rr);
        check(result != NULL, "run result built");
        if (cmd->create_body != NULL)
            json_object_set(result, "body", cmd->create_body);
        reply = proto_reply_ok(&ri, result);
        render(reply);
        json_decref(reply);
        /* and the same command failing on Docker's side, with a message
         * made of the input's bytes */
        char msg[200];
        size_t mn = size < sizeof msg - 1 ? size : sizeof msg - 1;
        memcpy(msg, data, mn);
        msg[mn] = '\0';
        reply = proto_reply_error(&ri, PROTO_EDOCKER, msg, cmd->image, 500);
        render(reply);
        json_decref(reply);
    } else {
        check(cmd == NULL, "no command on failure");
        check(rc < 0 && err.code == rc, "failure code");
        check(err.message[0] != '\0', "failure message");
        check_printable(err.message, "message printable");
        check_printable(err.field, "field printable");
        reply = proto_reply_parse_error(&ri, &err);
        render(reply);
        json_decref(reply);
    }
    json_decref(result);
    proto_cmd_free(cmd);
    return 0;
}
