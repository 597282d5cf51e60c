/*
 * dkc_system.c -- ping, version, info.
 */
#include "dkc_internal.h"

int dkc_ping(dkc_client *c)
{
    if (c == NULL)
        return DKC_EINVAL;
    /* Versioned on purpose: a ping through the negotiated prefix proves the
     * version the client will use is accepted. */
    return dkc__client_json(c, "GET", "/_ping", NULL, NULL);
}

int dkc_version(dkc_client *c, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    return dkc__client_json(c, "GET", "/version", NULL, out);
}

int dkc_info(dkc_client *c, json_t **out)
{
    if (c == NULL || out == NULL)
        return DKC_EINVAL;
    return dkc__client_json(c, "GET", "/info", NULL, out);
}
