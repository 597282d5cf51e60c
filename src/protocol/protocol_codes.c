/*
 * protocol_codes.c -- the reply codes: names, gateway statuses (see
 * protocol.h, "Codes").  Apart so that the parser and the reply builder
 * both use it without depending on each other.
 */
#include <stddef.h>
#include <string.h>

#include "protocol.h"

typedef struct code_info {
    int code;
    const char *name;
    int http; /* gateway status */
} code_info;

/* Append-only, like the enum. */
static const code_info codes[] = {
    {PROTO_OK, "ok", 200},
    {PROTO_EBADREQUEST, "bad_request", 400},
    {PROTO_ETOOLARGE, "too_large", 413},
    {PROTO_EUNKNOWNCMD, "unknown_command", 400},
    {PROTO_ENOTFOUND, "not_found", 404},
    {PROTO_ECONFLICT, "conflict", 409},
    {PROTO_ENOTMODIFIED, "not_modified", 409},
    {PROTO_EPOLICY, "policy_denied", 403},
    {PROTO_EDOCKERUNAVAILABLE, "docker_unavailable", 503},
    {PROTO_EDOCKER, "docker_error", 502},
    {PROTO_ETIMEOUT, "timeout", 504},
    {PROTO_ECANCELED, "canceled", 503},
    {PROTO_EINTERNAL, "internal", 500},
    {PROTO_EUNSUPPORTED, "unsupported", 501},
    {PROTO_EUNAVAILABLE, "unavailable", 503},
    {PROTO_EDUPLICATE, "duplicate", 409},
    {PROTO_EQUOTA, "quota", 429},
};

#define N_CODES (sizeof codes / sizeof codes[0])

static const code_info *code_lookup(int code)
{
    for (size_t i = 0; i < N_CODES; i++) {
        if (codes[i].code == code)
            return &codes[i];
    }
    return NULL;
}

const char *proto_code_name(int code)
{
    const code_info *ci = code_lookup(code);
    return ci != NULL ? ci->name : "internal";
}

int proto_code_from_name(const char *name)
{
    if (name == NULL)
        return 1;
    for (size_t i = 0; i < N_CODES; i++) {
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    }
    return 1;
}

int proto_code_http_status(int code)
{
    const code_info *ci = code_lookup(code);
    return ci != NULL ? ci->http : 500;
}
